"""snapshot and snapshot_info on libvirt's test driver: the triad per state, the type chosen, the checks
that fail before anything is done, retention, and the revert that happens once."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.module import GUEST_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct
from ansible_collections.kvmfleet.kvm.plugins.module_utils._snapshot import plan
from ansible_collections.kvmfleet.kvm.plugins.module_utils._snapshot import xml as sx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._snapshot.module import SNAPSHOT_ENTRY, SNAPSHOT_INFO_ENTRY

URI = "test:///default"


def domain_xml(name: str, fmt: str = "qcow2", uefi: bool = False, agent: bool = False, images: str = "/images") -> str:
    loader = "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>" if uefi else ""
    channel = (
        "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='disconnected'/></channel>"
        if agent
        else ""
    )
    return (
        f"<domain type='test'><name>{name}</name><memory>65536</memory><os><type>hvm</type>{loader}</os>"
        f"<devices><disk type='file' device='disk'><driver name='qemu' type='{fmt}'/>"
        f"<source file='{images}/{name}.{fmt}'/><target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/images/seed.iso'/>"
        f"<target dev='sda' bus='sata'/><readonly/></disk>{channel}</devices></domain>"
    )


@pytest.fixture
def guest(conn: Any, tmp_path: Any) -> Iterator[dict[str, Any]]:
    """A guest of its own, defined and running, removed with its snapshots afterwards. Its disk is a file
    (the test driver writes nothing to it) whose modification time tells a revert's mark."""
    lv = require_libvirt()
    name = f"snap-{secrets.token_hex(3)}"
    made: list[Any] = []
    files: list[Any] = []

    def make(**kw: Any) -> Any:
        for old in made:  # the guest again, otherwise made
            if old.isActive():
                old.destroy()
            old.undefineFlags(lv.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        made.clear()
        for fmt in ("qcow2", "raw"):
            tmp_path.joinpath(f"{name}.{fmt}").write_bytes(b"")
        files[:] = [tmp_path / f"{name}.{kw.get('fmt', 'qcow2')}"]
        dom = conn.defineXML(domain_xml(name, images=str(tmp_path), **kw))
        made.append(dom)
        return dom

    dom = make()
    dom.create()
    yield {"name": name, "dom": dom, "conn": conn, "make": make, "files": files}
    for dom in made:
        if guest_gone(conn, name):
            break
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(lv.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)


def guest_gone(conn: Any, name: str) -> bool:
    return name not in [dom.name() for dom in conn.listAllDomains(0)]


def run(check: bool = False, **args: Any) -> dict[str, Any]:
    return run_direct(SNAPSHOT_ENTRY, {"uri": URI, **args}, check_mode=check)


def triad(**args: Any) -> list[dict[str, Any]]:
    return [run(check, **args) for check in (True, False, True, False)]


def test_present_triad_takes_an_internal_snapshot_with_the_memory_once(guest: dict[str, Any]) -> None:
    results = triad(guest=guest["name"], name="s1", description="before")
    assert [r["changed"] for r in results] == [True, True, False, False], results
    assert results[0]["actions"] == [f"take internal snapshot s1 of guest {guest['name']} (vda) with its memory"]
    taken = {"name": "s1", "type": "internal", "memory": True, "disks": ["vda"], "description": "before"}
    assert results[0]["diff"]["before"] == {} and results[0]["diff"]["after"] == {"snapshots.s1": taken}
    snap = results[1]["snapshot"]
    assert snap["type"] == "internal" and snap["memory"] is True and snap["state"] == "running"
    assert snap["disks"] == ["vda"] and snap["current"] is True  # the cdrom is never in a snapshot
    xml = guest["dom"].snapshotLookupByName("s1").getXMLDesc(0)
    assert "<disk name='sda' snapshot='no'/>" in xml and "<description>before</description>" in xml


def test_an_existing_snapshot_that_differs_is_reported_not_taken_again(guest: dict[str, Any]) -> None:
    assert run(guest=guest["name"], name="s1")["changed"] is True
    result = run(guest=guest["name"], name="s1", description="other", type="external")
    assert result["changed"] is False and result["actions"] == []
    assert result["differences"] == ["type: 'internal', not 'external'", "description: None, not 'other'"]
    assert "exists and differs from the task" in result["warnings"][0]


@pytest.mark.parametrize(
    ("kw", "why"),
    [({"fmt": "raw"}, "vda not qcow2"), ({"uefi": True}, "UEFI firmware on a running guest")],
)
def test_auto_takes_external_where_internal_cannot_be(guest: dict[str, Any], kw: dict[str, Any], why: str) -> None:
    guest["dom"].destroy()
    dom = guest["make"](**kw)
    dom.create()
    checked = run(True, guest=guest["name"], name="s1")
    assert checked["changed"] is True and checked["snapshot"]["type"] == "external"
    assert checked["snapshot"]["memory"] is False  # disk-only by default
    refused = run(True, guest=guest["name"], name="s1", type="internal")
    assert refused["failed"] is True and refused["errors"][0].startswith("type: libvirt cannot take an internal")
    assert why in refused["errors"][0]


def test_external_snapshot_xml_names_its_overlays_and_memory_file() -> None:
    xml = sx.snapshot_xml("s1", None, "external", "/images/g.s1.memory", {"vda": "external", "sda": "no"},
                          overlays={"vda": "/images/g.s1"})  # fmt: skip
    assert '<memory snapshot="external" file="/images/g.s1.memory" />' in xml
    assert '<disk name="vda" snapshot="external" type="file"><source file="/images/g.s1" /></disk>' in xml
    assert sx.overlay_path("/images/g.qcow2", "s1") == "/images/g.qcow2.s1"
    facts = sx.read_snapshot(
        "<domainsnapshot><name>s1</name><state>disk-snapshot</state><creationTime>5</creationTime>"
        "<memory snapshot='no'/><disks><disk name='vda' snapshot='external' type='file'>"
        "<source file='/images/g.s1'/></disk><disk name='sda' snapshot='no'/></disks></domainsnapshot>"
    )
    assert facts == {"name": "s1", "type": "external", "memory": False, "state": "disk-snapshot", "parent": None,
                     "created": 5, "description": None, "disks": ["vda"], "files": ["/images/g.s1"]}  # fmt: skip


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"guest": "nosuch", "name": "s1"}, "guest: no guest nosuch on this hypervisor"),
        ({"name": "s1", "keep": 2}, "keep: needs name_prefix"),
        ({"name": "s1", "keep": 0, "name_prefix": "s"}, "keep: must be at least 1"),
        ({"name": "s1", "name_prefix": "nightly-"}, "name_prefix: 's1' does not start with 'nightly-'"),
        ({"name": "s1", "quiesce": True}, "quiesce: guest GUEST has no connected QEMU guest agent"),
        ({"name": "s1", "quiesce": True, "type": "internal"}, "quiesce: an internal snapshot cannot freeze"),
        (
            {"name": "s1", "memory": False, "type": "internal"},
            "memory: libvirt takes an internal snapshot of a running",
        ),
        ({"name": "s1", "disks": ["vdz"]}, "disks[0]: guest GUEST has no disk vdz (its disks: sda, vda)"),
        ({"name": "s1", "disks": ["sda"]}, "disks[0]: sda is a cdrom or read-only"),
        ({"name": "s1", "state": "reverted"}, "name: guest GUEST has no snapshot s1 (its snapshots: none)"),
        ({"name": "s1", "state": "absent", "memory": True}, "memory: describes a snapshot to take"),
        ({"name": "s1", "delete_children": True}, "delete_children: deletes the children of a snapshot deleted"),
        ({"name": "s1", "state": "reverted", "keep": 2, "name_prefix": "s"}, "keep: prunes a series"),
    ],
)
def test_bad_input_fails_naming_the_option_before_anything(
    guest: dict[str, Any], args: dict[str, Any], error: str
) -> None:
    result = run(**{"guest": guest["name"], **args})
    assert result["failed"] is True, result
    assert any(e.startswith(error.replace("GUEST", guest["name"])) for e in result.get("errors", [result["msg"]])), (
        result
    )
    assert guest["dom"].snapshotNum(0) == 0


def test_memory_of_a_guest_that_is_off_is_refused(guest: dict[str, Any]) -> None:
    guest["dom"].destroy()
    result = run(guest=guest["name"], name="s1", memory=True)
    assert result["errors"] == [f"memory: guest {guest['name']} is not running: there is no running state to save"]
    off = run(guest=guest["name"], name="s1")
    assert off["changed"] is True and off["snapshot"]["memory"] is False and off["snapshot"]["state"] == "shutoff"


def test_retention_keeps_the_newest_of_the_series(guest: dict[str, Any]) -> None:
    series = {"guest": guest["name"], "name_prefix": "nightly-", "keep": 2}
    run(guest=guest["name"], name="other")  # not of the series: never counted
    for day in ("nightly-1", "nightly-2"):
        assert run(name=day, **series)["deleted"] == []
    checked = run(True, name="nightly-3", **series)
    assert checked["deleted"] == ["nightly-1"]
    assert checked["actions"][1] == (
        f"delete snapshot nightly-1 of guest {guest['name']} (its 1 child snapshot(s) kept)"
        " (series nightly-: the oldest beyond keep 2)"
    )
    assert run(name="nightly-3", **series)["deleted"] == ["nightly-1"]
    names = [s.getName() for s in guest["dom"].listAllSnapshots(0)]
    assert sorted(names) == ["nightly-2", "nightly-3", "other"]
    assert run(name="nightly-3", **series)["changed"] is False


def test_absent_triad_keeps_the_children(guest: dict[str, Any]) -> None:
    run(guest=guest["name"], name="s1")
    run(guest=guest["name"], name="s2")
    results = triad(guest=guest["name"], name="s1", state="absent")
    assert [r["changed"] for r in results] == [True, True, False, False]
    assert results[0]["actions"] == [f"delete snapshot s1 of guest {guest['name']} (its 1 child snapshot(s) kept)"]
    assert [s.getName() for s in guest["dom"].listAllSnapshots(0)] == ["s2"]
    assert results[1]["snapshot"] is None and results[1]["deleted"] == ["s1"]


def test_revert_needs_its_option_then_happens_once(guest: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Reverted once, then at the snapshot: running, the same QEMU process; off, its disk file unwritten
    (read on the host, as for a local URI: the test driver is not one)."""
    monkeypatch.setattr(plan, "is_local_uri", lambda uri: True)
    name = guest["name"]
    run(guest=name, name="s1")
    run(guest=name, name="s2")
    refused = run(guest=name, name="s1", state="reverted")
    assert refused["failed"] is True and refused["needs_option"] == "discard_changes"
    results = triad(guest=name, name="s1", state="reverted", discard_changes=True)
    assert [r["changed"] for r in results] == [True, True, False, False], results
    assert results[0]["actions"] == [f"revert guest {name} to snapshot s1"]
    assert results[0]["diff"]["before"] == {"current": "s2"} and results[0]["diff"]["after"] == {"current": "s1"}
    assert guest["dom"].snapshotLookupByName("s1").isCurrent(0)
    stopped = run(guest=name, name="s1", state="reverted", discard_changes=True, after_revert="stopped")
    assert stopped["changed"] is True and not guest["dom"].isActive()  # another state: reverted again
    assert (
        run(guest=name, name="s1", state="reverted", discard_changes=True, after_revert="stopped")["changed"] is False
    )


def test_snapshot_info_lists_oldest_first_with_the_current(guest: dict[str, Any]) -> None:
    run(guest=guest["name"], name="b")
    run(guest=guest["name"], name="a")
    info = run_direct(SNAPSHOT_INFO_ENTRY, {"uri": URI, "guest": guest["name"]}, check_mode=False)
    assert [s["name"] for s in info["snapshots"]] == ["a", "b"]  # taken in the same second: by name
    assert info["current"] == "a" and info["snapshots"][0]["parent"] == "b" and info["snapshots"][1]["parent"] is None
    assert info["snapshots"][0]["size"] is None  # internal: inside the images


def test_a_guest_with_snapshots_is_removed_only_with_remove_snapshots(guest: dict[str, Any]) -> None:
    run(guest=guest["name"], name="s1")
    absent = {"uri": URI, "name": guest["name"], "state": "absent", "force": True}
    refused = run_direct(GUEST_ENTRY, absent, check_mode=False)
    assert refused["failed"] is True and refused["needs_option"] == "remove_snapshots", refused
    assert "has 1 snapshot(s)" in refused["msg"] and guest["dom"].isActive()
    removed = run_direct(GUEST_ENTRY, {**absent, "remove_snapshots": True}, check_mode=True)  # (the test driver
    assert removed["changed"] is True, removed  # cannot undefine with the flags a real libvirt takes)
    assert removed["actions"][-1] == "undefine the guest (with its UEFI nvram and snapshot metadata)"


def test_an_external_snapshot_needs_a_file_beside_each_image(conn: Any) -> None:
    lv = require_libvirt()
    name = f"snap-{secrets.token_hex(3)}"
    xml = domain_xml(name).replace(
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/{name}.qcow2'/>",
        "<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/kvtnosuch'/>",
    )
    dom = conn.defineXML(xml)
    try:
        result = run(guest=name, name="s1")  # auto: external for block storage, which has no file for the overlay
        assert result["errors"] == [
            f"disks: vda of guest {name} on block storage: an external snapshot has no file beside the image "
            "for its overlay; leave them out with disks"
        ]
    finally:
        dom.undefineFlags(lv.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)


def test_a_transient_guest_is_not_stopped_by_a_revert(conn: Any) -> None:
    name = f"snap-{secrets.token_hex(3)}"
    dom = conn.createXML(domain_xml(name), 0)  # transient: stopping it removes it
    try:
        assert run(guest=name, name="s1")["changed"] is True
        refused = run(guest=name, name="s1", state="reverted", discard_changes=True, after_revert="stopped")
        assert refused["errors"][0].startswith(f"after_revert: guest {name} is transient")
        reverted = run(guest=name, name="s1", state="reverted", discard_changes=True)
        assert reverted["changed"] is True and dom.isActive(), reverted
    finally:
        dom.destroy()
