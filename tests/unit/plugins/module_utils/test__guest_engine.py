"""The guest engine's shape: every option of the table has one binding, and a plan reads a guest once."""

from __future__ import annotations

import secrets
from collections import Counter
from typing import Any

import libvirt
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.bindings import BINDINGS, COLLECTIONS
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.plan import GuestPlanner, HostContext
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.runner import converge, execute
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import CONTROL, LIVE

URI = "test:///default"
SECURE = libvirt.VIR_DOMAIN_XML_SECURE
INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE


def test_every_table_row_has_one_binding_and_every_binding_a_row() -> None:
    rows = {opt.name for opt in GUEST.options if opt.update != CONTROL}
    assert rows == set(BINDINGS) | set(COLLECTIONS)
    assert not set(BINDINGS) & set(COLLECTIONS)
    for name, field in BINDINGS.items():
        opt = GUEST[name]
        assert (field.read is None) != (field.from_domain is None), f"{name}: read from the XML or the domain"
        assert (field.write is None) != (field.to_domain is None), f"{name}: written to the XML or the domain"
        if field.live is not None:
            assert opt.update == LIVE, f"{name} has a live call but its row says {opt.update}"
        if opt.update == LIVE:
            assert field.live is not None or field.to_domain is not None, f"{name}: live in its row, no live call"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Every virDomain.XMLDesc call, counted by its flags."""
    counted: Counter = Counter()
    original = libvirt.virDomain.XMLDesc

    def xml_desc(self: Any, flags: int = 0) -> str:
        counted[flags] += 1
        return original(self, flags)

    monkeypatch.setattr(libvirt.virDomain, "XMLDesc", xml_desc)
    return counted


def _guest(conn: Any, state: str) -> dict[str, Any]:
    options = {
        "name": f"unit-{secrets.token_hex(3)}",
        "memory": "128MiB",
        "vcpus": 1,
        "max_vcpus": 2,
        "tags": ["web"],
        "balloon": True,
        "autostart": False,
        "graphics": {"type": "vnc", "password": "pw"},
        "cpu": {"mode": "host-model"},
        "disks": [{"path": "/var/lib/unit.img"}],
        "interfaces": [{"source": "default"}],
        "state": state,
    }
    values, problems = GUEST.validate(options)
    assert problems == []
    converge(conn, URI, [("", values)], check_mode=False)
    return values


@pytest.mark.parametrize(
    ("state", "expected"), [("running", {INACTIVE | SECURE: 1, SECURE: 1}), ("stopped", {INACTIVE | SECURE: 1})]
)
def test_planning_a_rerun_reads_each_definition_once(conn: Any, calls: Counter, state: str, expected: dict) -> None:
    values = _guest(conn, state)
    calls.clear()
    try:
        plan = GuestPlanner(HostContext(conn, URI), values).plan()
        assert plan.actions == []
        assert dict(calls) == expected
    finally:
        dom = conn.lookupByName(values["name"])
        if dom.isActive():
            dom.destroy()
        dom.undefine()


def test_a_live_memory_change_reads_the_definition_only_to_persist_it(conn: Any, calls: Counter) -> None:
    values = _guest(conn, "running")
    try:
        plan = GuestPlanner(HostContext(conn, URI), {**values, "memory": 96 * 1024**2, "tags": ["db"]}).plan()
        assert [action.description for action in plan.actions] == [
            "set tags to ['db'] on the running guest",
            "set memory to 96MiB on the running guest",
            "update the persistent definition: memory, tags",
        ]
        calls.clear()
        execute(plan)
        assert dict(calls) == {INACTIVE | SECURE: 1}  # the redefine; the live calls use what the plan read
        live = conn.lookupByName(values["name"]).XMLDesc(0)
        assert 'memory="100663296"' in live and "<kvmfleet:tag>db</kvmfleet:tag>" in live  # both live changes kept
    finally:
        dom = conn.lookupByName(values["name"])
        dom.destroy()
        dom.undefine()
