"""The hypervisor's fleet record (kept in a libvirt secret's description), its planning, and the capacity
figures computed from it."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor import record as rec
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.capacity import figures
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.module import plan_record
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.options import HYPERVISOR_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt

GiB = 1024**3


class Secret:
    def __init__(self, xml: str) -> None:
        self.xml = xml

    def XMLDesc(self, _flags: int) -> str:  # noqa: N802 (libvirt's name)
        return self.xml


class Conn:
    """The two secret calls the record makes, on a connection of its own."""

    def __init__(self, stored: Optional[str] = None) -> None:
        self.stored = stored
        self.writes = 0

    def getHostname(self) -> str:  # noqa: N802
        return "hv1"

    def secretLookupByUsage(self, usage: int, name: str) -> Secret:  # noqa: N802
        lv = require_libvirt()
        assert (usage, name) == (lv.VIR_SECRET_USAGE_TYPE_TLS, rec.USAGE_NAME)
        if self.stored is None:
            error = lv.libvirtError("no secret")
            error.err = (lv.VIR_ERR_NO_SECRET, 0, "no secret", 0, "", None, None, 0, 0)
            raise error
        return Secret(self.stored)

    def secretDefineXML(self, xml: str, _flags: int) -> None:  # noqa: N802
        self.stored = xml
        self.writes += 1


def values(**options: Any) -> dict[str, Any]:
    validated, problems = HYPERVISOR_MODULE.validate(options)
    assert problems == []
    return validated


def test_a_hypervisor_without_a_record_has_the_defaults() -> None:
    record, stored = rec.read(Conn())
    assert not stored and record == rec.Record() and record.reserved_memory_mib == 1024


def test_the_record_round_trips_through_the_secret_and_escapes_its_text() -> None:
    record = rec.Record(labels=["ssd"], maintenance={"since": "2026-12-02T16:00:00Z", "reason": "<disk> & 'fan'"})
    assert rec.parse(rec.secret_xml(record)) == record


@pytest.mark.parametrize(
    "description",
    ["someone else's secret", rec.PREFIX + "{not json", rec.PREFIX + "[1, 2]"],
)
def test_a_description_that_is_not_a_record_reads_as_the_defaults(description: str) -> None:
    xml = f"<secret><description>{description}</description></secret>"
    assert rec.parse(xml) == rec.Record()


def test_stored_values_of_the_wrong_type_are_ignored() -> None:
    record = rec.Record.from_dict(
        {"labels": ["b", "a", "a"], "reserved_memory_mib": "lots", "vcpu_overcommit": 8, "x": 1}
    )
    assert record == rec.Record(labels=["a", "b"], vcpu_overcommit=8.0)


def test_planning_changes_only_what_is_set_and_a_rerun_changes_nothing() -> None:
    conn = Conn()
    plan, after = plan_record(
        conn, values(labels=["ssd", "gpu"], reserved_memory="2GiB", maintenance=True, maintenance_reason="fans")
    )
    assert plan.actions[0].description == (
        "write the hypervisor's fleet record (labels, reserved_memory_mib, maintenance, maintenance_reason)"
    )
    assert plan.diff.diff() == {
        "before": {"labels": [], "reserved_memory_mib": 1024, "maintenance": False},
        "after": {
            "labels": ["gpu", "ssd"],
            "reserved_memory_mib": 2048,
            "maintenance": True,
            "maintenance_reason": "fans",
        },
    }
    plan.execute()
    since = after.maintenance["since"]  # type: ignore[index]
    again, same = plan_record(conn, values(labels=["gpu", "ssd"], maintenance=True))
    assert not again.actions and same.maintenance == {"since": since, "reason": "fans"}
    reason, _record = plan_record(conn, values(maintenance=True, maintenance_reason="fans and disks"))
    assert reason.diff.diff() == {
        "before": {"maintenance_reason": "fans"},
        "after": {"maintenance_reason": "fans and disks"},
    }
    lifted, cleared = plan_record(conn, values(maintenance=False))
    assert lifted.diff.diff() == {"before": {"maintenance": True}, "after": {"maintenance": False}}
    lifted.execute()
    assert cleared.maintenance is None and rec.read(conn)[0].labels == ["gpu", "ssd"] and conn.writes == 2


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"labels": ["ok", "not ok"]}, ("labels", "'not ok' is not a label")),
        ({"memory_overcommit": 0}, ("memory_overcommit", "must be more than 0")),
        ({"vcpu_overcommit": "many"}, ("vcpu_overcommit", "expected a number")),
        ({"reserved_memory": "1XB"}, ("reserved_memory", "unknown unit")),
    ],
)
def test_bad_input_names_the_field(options: dict[str, Any], problem: tuple[str, str]) -> None:
    _values, problems = HYPERVISOR_MODULE.validate(options)
    assert len(problems) == 1 and problems[0][0] == problem[0] and problem[1] in problems[0][1]


def test_capacity_figures_allow_for_reserved_memory_overcommit_and_every_defined_guest() -> None:
    guests = [
        {"name": "a", "memory_mib": 2048, "vcpus": 2, "running": True},
        {"name": "b", "memory_mib": 1024, "vcpus": 1, "running": False},
    ]
    record = rec.Record(reserved_memory_mib=2048, memory_overcommit=1.5, vcpu_overcommit=2.0)
    capacity = figures(16384, 9000, 8, record, guests)
    assert capacity == {
        "memory_mib": 16384,
        "free_memory_mib": 9000,
        "reserved_memory_mib": 2048,
        "memory_overcommit": 1.5,
        "allocatable_memory_mib": 16384 * 3 // 2 - 2048,
        "committed_memory_mib": 3072,
        "available_memory_mib": 16384 * 3 // 2 - 2048 - 3072,
        "cpus": 8,
        "vcpu_overcommit": 2.0,
        "allocatable_vcpus": 16,
        "committed_vcpus": 3,
        "available_vcpus": 13,
        "guests": 2,
        "running_guests": 1,
    }
