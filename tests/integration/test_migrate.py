"""kvmfleet.kvm.migrate and kvmfleet.kvm.hypervisor on the container fleet (tests/fleet.py): real libvirtd
in each container, real TCG guests, real live migrations between them."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

import kvmtest
import pytest

pytestmark = pytest.mark.integration


def ticks(fleet: Any, host: str, name: str) -> list[int]:
    """The counter the tiny guest prints every second, as its serial log on ``host`` has it."""
    text = fleet.ssh(fleet.host(host), f"cat {kvmtest.serial_log(name)} 2>/dev/null").stdout
    return [int(number) for number in re.findall(r"KVMFLEET-TICK (\d+)", text)]


def booted(fleet: Any, host: str, name: str) -> bool:
    text = fleet.ssh(fleet.host(host), f"cat {kvmtest.serial_log(name)} 2>/dev/null").stdout
    return "KVMFLEET-TINY-BOOTED" in text


def names(fleet: Any, host: str) -> list[str]:
    return kvmtest.domain_names(fleet.host(host).uri)


def start_guest(play: Callable[..., kvmtest.PlayResult], options: dict[str, Any]) -> None:
    result = play([{"name": "guest", "kvmfleet.kvm.guest": options}]).result("guest")
    assert not result.get("failed"), result.get("msg")


def counting(fleet: Any, host: str, name: str, at_least: int = 2) -> None:
    log = kvmtest.serial_log(name)
    assert kvmtest.wait_until(lambda: len(ticks(fleet, host, name)) >= at_least, 90), (
        f"{name} on {host} never counted: {fleet.ssh(fleet.host(host), f'cat {log}').stdout[-500:]}"
    )


def test_the_fleet_is_three_distinct_hypervisors_sharing_one_directory(
    fleet: Any, play: Callable[..., kvmtest.PlayResult]
) -> None:
    tasks = [{"name": host.name, "kvmfleet.kvm.host_info": {"uri": host.uri}} for host in fleet.hosts]
    outcome = play(tasks)
    infos = {host.name: outcome.result(host.name)["host"] for host in fleet.hosts}
    assert {info["hostname"] for info in infos.values()} == set(infos)
    assert len({info["uuid"] for info in infos.values()}) == 3  # each its own host_uuid (the host role set it)
    assert all(info["maintenance"] is None and info["capacity"]["available_memory_mib"] > 0 for info in infos.values())
    for host in fleet.hosts:  # the shared pool is one directory for all: the tiny guest's kernel is in each
        assert "tiny-vmlinuz" in kvmtest.virsh("vol-list", "shared", uri=host.uri)


def test_a_running_guest_moves_live_on_shared_storage_and_keeps_running(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult], triad: Callable[..., list[dict[str, Any]]]
) -> None:
    hv1, hv2 = fleet.hosts[0], fleet.hosts[1]
    name = f"{fleet_prefix}live"
    disk = {"pool": "shared", "volume": f"{name}.qcow2", "size": "64MiB", "cache": "none"}
    start_guest(play, kvmtest.fleet_guest(name, hv1.uri, disks=[disk]))
    counting(fleet, hv1.name, name)

    # the shared directory is one filesystem bind-mounted into every container: shared, though libvirt
    # cannot tell (it is ext4, not NFS), so the test says so
    task = {"uri": hv1.uri, "name": name, "dest_uri": hv2.uri, "allow_unsafe": True}
    results = triad({"kvmfleet.kvm.migrate": task})

    check, moved, _again, _rerun = results
    assert check["actions"] == [f"live-migrate {name} from {hv1.name} to {hv2.name} (peer-to-peer, storage shared)"]
    assert moved["hypervisor"] == hv2.name and moved["diff"]["after"] == {"hypervisor": hv2.name}
    assert moved["downtime_ms"] > 0 and moved["duration_ms"] > 0 and moved["iterations"] >= 1
    assert moved["transferred_mib"] > 0 and moved["budget_s"] == 30
    # the host itself: running and persistent on hv2, gone from hv1, the same disk
    assert kvmtest.virsh("domstate", name, uri=hv2.uri).strip() == "running"
    assert "Persistent:     yes" in kvmtest.virsh("dominfo", name, uri=hv2.uri)
    assert name not in names(fleet, hv1.name)
    assert f"{name}.qcow2" in kvmtest.virsh("domblklist", name, uri=hv2.uri)
    # it kept running: on hv2 it counts on from where it was and never booted again
    counting(fleet, hv2.name, name, at_least=2)
    after = ticks(fleet, hv2.name, name)
    assert after[0] > 1 and after == list(range(after[0], after[0] + len(after))), after
    assert not booted(fleet, hv2.name, name)


def test_local_disks_are_copied_to_the_destination_pool(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult], triad: Callable[..., list[dict[str, Any]]]
) -> None:
    hv2, hv3 = fleet.hosts[1], fleet.hosts[2]
    name = f"{fleet_prefix}copy"
    volume = f"{name}.raw"
    marker = f"kvmfleet-disk-{secrets.token_hex(4)}".encode()
    kvmtest.virsh("vol-create-as", "local", volume, "16M", "--format", "raw", uri=hv2.uri)
    upload = kvmtest.CACHE / f"{name}.marker"
    upload.write_bytes(marker)
    try:
        kvmtest.virsh("vol-upload", "--pool", "local", volume, str(upload), uri=hv2.uri)
    finally:
        upload.unlink()
    disk = {"pool": "local", "volume": volume, "format": "raw", "cache": "none"}
    start_guest(play, kvmtest.fleet_guest(name, hv2.uri, disks=[disk]))
    counting(fleet, hv2.name, name)

    task = {"kvmfleet.kvm.migrate": {"uri": hv2.uri, "name": name, "dest_uri": hv3.uri, "storage": "copy"}}
    check, moved, _again, _rerun = triad(task)

    assert check["actions"] == [
        f"create the volume {volume} (vda) in pool local on {hv3.name}",
        f"live-migrate {name} from {hv2.name} to {hv3.name} (peer-to-peer, storage copy)",
    ]
    assert moved["disk_mib"] >= 0 and moved["hypervisor"] == hv3.name
    assert kvmtest.virsh("domstate", name, uri=hv3.uri).strip() == "running"
    assert name not in names(fleet, hv2.name)
    # the destination's copy holds what the source's disk held; the source's copy stays (no remove_source_volumes)
    download = kvmtest.CACHE / f"{name}.download"
    try:
        kvmtest.virsh(
            "vol-download", "--pool", "local", volume, str(download), "--length", str(len(marker)), uri=hv3.uri
        )
        assert download.read_bytes() == marker
    finally:
        download.unlink(missing_ok=True)
    assert volume in kvmtest.virsh("vol-list", "local", uri=hv2.uri)
    counting(fleet, hv3.name, name)
    assert not booted(fleet, hv3.name, name)


def test_an_incremental_copy_sends_the_overlay_and_keeps_the_shared_base_image(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult]
) -> None:
    hv3, hv1 = fleet.hosts[2], fleet.hosts[0]
    name = f"{fleet_prefix}inc"
    base = f"{kvmtest.FLEET_SHARED}/{name}-base.raw"
    kvmtest.virsh("vol-create-as", "shared", f"{name}-base.raw", "32M", "--format", "raw", uri=hv3.uri)
    disk = {"pool": "local", "volume": f"{name}.qcow2", "backing_image": base, "cache": "none"}
    start_guest(play, kvmtest.fleet_guest(name, hv3.uri, disks=[disk]))
    counting(fleet, hv3.name, name)
    task = {"uri": hv3.uri, "name": name, "dest_uri": hv1.uri, "storage": "copy_incremental"}
    moved = play([{"name": "migrate", "kvmfleet.kvm.migrate": task}]).result("migrate")

    assert not moved.get("failed"), moved.get("msg")
    assert moved["actions"][0] == f"create the volume {name}.qcow2 (vda) in pool local on {hv1.name}"
    assert kvmtest.virsh("domstate", name, uri=hv1.uri).strip() == "running"
    # the destination's overlay sits on the same shared base image; only the top layer travelled
    info = fleet.ssh(hv1, f"qemu-img info -U --output=json /var/lib/libvirt/images/local/{name}.qcow2").stdout
    assert json.loads(info)["backing-filename"] == base, info
    counting(fleet, hv1.name, name)
    assert not booted(fleet, hv1.name, name)


def test_a_migration_that_does_not_converge_is_aborted_and_the_guest_stays_on_its_source(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult]
) -> None:
    hv3, hv1 = fleet.hosts[2], fleet.hosts[0]
    name = f"{fleet_prefix}dirty"
    start_guest(play, kvmtest.fleet_guest(name, hv3.uri, cmdline="kvmfleet.dirty"))
    counting(fleet, hv3.name, name)
    task = {
        "name": "migrate",
        "kvmfleet.kvm.migrate": {"uri": hv3.uri, "name": name, "dest_uri": hv1.uri, "bandwidth": 1, "timeout": 6},
    }
    result = play([task]).result("migrate")

    assert result.get("failed"), result
    assert "did not converge within its budget of 6 s and was aborted" in result["msg"], result["msg"]
    assert f"the guest is running on {hv3.name}, untouched" in result["msg"]
    assert result["migration"]["progress"], result["migration"]
    assert kvmtest.virsh("domstate", name, uri=hv3.uri).strip() == "running"
    assert name not in names(fleet, hv1.name)
    before = max(ticks(fleet, hv3.name, name))
    assert kvmtest.wait_until(lambda: max(ticks(fleet, hv3.name, name)) > before, 30)


def snapshot_tree(uri: str, name: str) -> dict[str, str]:
    """Each snapshot of the guest with its parent ('-' for none), as virsh lists them."""
    listed = [line.split() for line in kvmtest.virsh("snapshot-list", name, "--parent", uri=uri).splitlines()]
    # name, creation time (date, time, zone), state, parent (empty for a root)
    return {fields[0]: fields[5] if len(fields) > 5 else "-" for fields in listed if fields}


def resumed_from(counted: list[int]) -> int:
    """The count the guest went back to at its last revert (the first count after the last drop), or the
    log's first count."""
    drops = [i for i in range(1, len(counted)) if counted[i] < counted[i - 1]]
    return counted[drops[-1]] if drops else counted[0]


def test_a_guest_with_two_snapshots_moves_with_them_and_reverts_to_each_on_the_destination(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult], triad: Callable[..., list[dict[str, Any]]]
) -> None:
    """Internal snapshots with the running state, in the qcow2 image on the shared pool: the move takes
    their metadata across (libvirt refuses to migrate a guest that has any); the graphics password of
    the guest and of its snapshots' definitions goes along."""
    hv1, hv2 = fleet.hosts[0], fleet.hosts[1]
    name = f"{fleet_prefix}snaps"
    disk = {"pool": "shared", "volume": f"{name}.qcow2", "size": "32MiB", "cache": "none"}
    graphics = {"type": "vnc", "listen": "127.0.0.1", "password": "kvtsec9x"}
    start_guest(play, kvmtest.fleet_guest(name, hv1.uri, disks=[disk], graphics=graphics))
    counting(fleet, hv1.name, name, at_least=3)
    taken: dict[str, tuple[int, int]] = {}  # the count before and after each snapshot was taken
    for snap in ("one", "two"):
        before = max(ticks(fleet, hv1.name, name))
        result = play([{"name": "s", "kvmfleet.kvm.snapshot": {"uri": hv1.uri, "guest": name, "name": snap}}])
        assert result.result("s")["changed"], result.result("s")
        taken[snap] = (before, max(ticks(fleet, hv1.name, name)))
        counting(fleet, hv1.name, name, at_least=len(ticks(fleet, hv1.name, name)) + 3)
    assert snapshot_tree(hv1.uri, name) == {"one": "-", "two": "one"}

    task = {"uri": hv1.uri, "name": name, "dest_uri": hv2.uri, "allow_unsafe": True}
    check, moved, _again, _rerun = triad({"kvmfleet.kvm.migrate": task})

    assert check["actions"] == [
        f"carry the snapshots one, two of {name} to {hv2.name} (defined there again)",
        f"live-migrate {name} from {hv1.name} to {hv2.name} (peer-to-peer, storage shared)",
    ]
    assert moved["snapshots"] == ["one", "two"] and moved["hypervisor"] == hv2.name
    # the host itself: on hv2 with both snapshots, two the current one; nothing left on hv1
    assert kvmtest.virsh("domstate", name, uri=hv2.uri).strip() == "running"
    assert name not in names(fleet, hv1.name)
    assert snapshot_tree(hv2.uri, name) == {"one": "-", "two": "one"}
    assert kvmtest.virsh("snapshot-current", name, "--name", uri=hv2.uri).strip() == "two"
    for dumped in (
        kvmtest.virsh("dumpxml", name, "--security-info", uri=hv2.uri),
        kvmtest.virsh("dumpxml", name, "--inactive", "--security-info", uri=hv2.uri),
    ):
        assert "passwd='kvtsec9x'" in dumped  # the password went along
        assert "kvmfleet:snapshot" not in dumped  # the record is cleared
    assert "passwd='kvtsec9x'" in kvmtest.virsh("snapshot-dumpxml", name, "one", "--security-info", uri=hv2.uri)
    info = play([{"name": "i", "kvmfleet.kvm.snapshot_info": {"uri": hv2.uri, "guest": name}}]).result("i")
    listed = {snap["name"]: snap for snap in info["snapshots"]}
    assert listed["two"]["parent"] == "one" and listed["two"]["current"] and listed["one"]["type"] == "internal"
    assert "kvtsec9x" not in json.dumps(moved) + json.dumps(info)

    # each reverts on the destination to its own running state: the counter goes back to where it was
    # (two first: the counter is past it, and then back to one, before it)
    for snap in ("two", "one"):
        low, high = taken[snap]
        assert kvmtest.wait_until(lambda: max(ticks(fleet, hv2.name, name)) > high + 4, 60)  # noqa: B023
        assert resumed_from(ticks(fleet, hv2.name, name)) > high + 2
        revert = {"uri": hv2.uri, "guest": name, "name": snap, "state": "reverted", "discard_changes": True}
        result = play([{"name": "r", "kvmfleet.kvm.snapshot": revert}]).result("r")
        assert result["changed"] and result["reverted"] is True, result
        # the count drops back (or, when QEMU reopened its log, the log begins again at the snapshot's count)
        assert kvmtest.wait_until(
            lambda: len(ticks(fleet, hv2.name, name)) > 0 and resumed_from(ticks(fleet, hv2.name, name)) <= high + 2,  # noqa: B023
            60,
        ), (snap, taken, ticks(fleet, hv2.name, name)[-10:])
        assert resumed_from(ticks(fleet, hv2.name, name)) >= low - 1, (snap, taken, ticks(fleet, hv2.name, name))
        assert kvmtest.virsh("snapshot-current", name, "--name", uri=hv2.uri).strip() == snap
    assert kvmtest.virsh("domstate", name, uri=hv2.uri).strip() == "running"
    assert snapshot_tree(hv2.uri, name) == {"one": "-", "two": "one"}


def test_an_external_snapshot_moves_with_its_overlay_and_is_merged_back_on_the_destination(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult], triad: Callable[..., list[dict[str, Any]]]
) -> None:
    hv1, hv2 = fleet.hosts[0], fleet.hosts[1]
    name = f"{fleet_prefix}ext"
    disk = {"pool": "shared", "volume": f"{name}.qcow2", "size": "16MiB", "cache": "none"}
    start_guest(play, kvmtest.fleet_guest(name, hv1.uri, disks=[disk]))
    counting(fleet, hv1.name, name)
    snapshot = {"uri": hv1.uri, "guest": name, "name": "ext", "type": "external"}
    assert play([{"name": "s", "kvmfleet.kvm.snapshot": snapshot}]).result("s")["changed"]
    overlay = f"{kvmtest.FLEET_SHARED}/{name}.qcow2.ext"
    assert overlay in kvmtest.virsh("domblklist", name, uri=hv1.uri)  # the guest writes into the overlay

    task = {"uri": hv1.uri, "name": name, "dest_uri": hv2.uri, "allow_unsafe": True}
    moved = play([{"name": "m", "kvmfleet.kvm.migrate": task}]).result("m")
    assert moved["changed"] and moved["snapshots"] == ["ext"], moved.get("msg")
    assert snapshot_tree(hv2.uri, name) == {"ext": "-"} and overlay in kvmtest.virsh("domblklist", name, uri=hv2.uri)

    # deleted on the destination: libvirt there merges the overlay back into the image, the guest runs on
    _check, deleted, _again, _rerun = triad({"kvmfleet.kvm.snapshot": {**snapshot, "uri": hv2.uri, "state": "absent"}})
    assert deleted["deleted"] == ["ext"]
    blocks = kvmtest.virsh("domblklist", name, uri=hv2.uri)
    assert overlay not in blocks and f"{name}.qcow2" in blocks and snapshot_tree(hv2.uri, name) == {}
    assert fleet.ssh(hv2, f"test -e {overlay}").returncode == 1
    assert kvmtest.virsh("domstate", name, uri=hv2.uri).strip() == "running"


def test_the_preflight_check_refuses_before_anything_moves(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult]
) -> None:
    hv1, hv2 = fleet.hosts[0], fleet.hosts[1]
    name = f"{fleet_prefix}ckpt"
    disk = {"pool": "shared", "volume": f"{name}.qcow2", "size": "64MiB", "cache": "none"}
    start_guest(play, kvmtest.fleet_guest(name, hv1.uri, disks=[disk]))
    kvmtest.virsh("checkpoint-create-as", name, "before", uri=hv1.uri)  # libvirt migrates no checkpoints
    task = {"name": "migrate", "kvmfleet.kvm.migrate": {"uri": hv1.uri, "name": name, "dest_uri": hv2.uri}}

    for check in (True, False):
        result = play([task], check=check).result("migrate")
        assert result.get("failed"), result
        codes = {reason["code"] for reason in result["reasons"] if reason["blocking"]}
        assert codes == {"checkpoints"}, result["reasons"]
        assert "[checkpoints]" in result["msg"] and f"{name} has 1 checkpoint(s)" in result["msg"]
    assert kvmtest.virsh("domstate", name, uri=hv1.uri).strip() == "running"
    assert name not in names(fleet, hv2.name)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"dest_uri": "qemu+tcp://10.89.254.254/system"},
            "dest_uri: cannot connect to libvirt at qemu+tcp://10.89.254.254",
        ),
        ({"name": "kvt-nowhere"}, "kvt-nowhere is on neither"),
        ({"dest_uri": "hv2"}, "dest_uri: 'hv2' is not a libvirt URI"),
        (
            {"converge": "postcopy", "storage": "copy"},
            "converge: libvirt cannot switch to post-copy while it copies disks",
        ),
        ({"tunnelled": True, "p2p": False}, "tunnelled: a tunnelled migration is peer-to-peer"),
    ],
    ids=["unreachable destination", "guest on neither", "not a URI", "postcopy with copy", "tunnelled without p2p"],
)
def test_bad_input_fails_naming_the_field(
    fleet: Any, play: Callable[..., kvmtest.PlayResult], change: dict[str, Any], message: str
) -> None:
    hv1, hv2 = fleet.hosts[0], fleet.hosts[1]
    task = {
        "name": "migrate",
        "kvmfleet.kvm.migrate": {"uri": hv1.uri, "name": "kvt-nowhere", "dest_uri": hv2.uri, **change},
    }
    result = play([task], check=True).result("migrate")
    assert result.get("failed") and message in result["msg"], result.get("msg")


def test_a_guest_defined_on_both_hypervisors_is_an_error_naming_both(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult]
) -> None:
    hv1, hv3 = fleet.hosts[0], fleet.hosts[2]
    name = f"{fleet_prefix}twice"
    start_guest(play, kvmtest.fleet_guest(name, hv1.uri))
    start_guest(play, kvmtest.fleet_guest(name, hv3.uri, state="stopped"))
    result = play(
        [{"name": "migrate", "kvmfleet.kvm.migrate": {"uri": hv1.uri, "name": name, "dest_uri": hv3.uri}}]
    ).result("migrate")
    assert result.get("failed")
    assert f"{name} is defined on both {hv1.name}" in result["msg"] and f"and {hv3.name}" in result["msg"], result[
        "msg"
    ]
    assert kvmtest.virsh("domstate", name, uri=hv1.uri).strip() == "running"
    assert kvmtest.virsh("domstate", name, uri=hv3.uri).strip() == "shut off"


def test_the_hypervisor_record_labels_and_maintenance(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult], triad: Callable[..., list[dict[str, Any]]]
) -> None:
    hv3 = fleet.hosts[2]
    assert fleet_prefix
    try:
        results = triad(
            {
                "kvmfleet.kvm.hypervisor": {
                    "uri": hv3.uri,
                    "labels": ["ssd", "gpu", "ssd"],
                    "reserved_memory": "2GiB",
                    "maintenance": True,
                    "maintenance_reason": "disk swap",
                }
            }
        )
        assert results[1]["diff"]["after"] == {
            "labels": ["gpu", "ssd"],
            "reserved_memory_mib": 2048,
            "maintenance": True,
            "maintenance_reason": "disk swap",
        }
        assert "kvmfleet-hypervisor" in kvmtest.virsh("secret-list", uri=hv3.uri)
        info = play([{"name": "info", "kvmfleet.kvm.host_info": {"uri": hv3.uri}}]).result("info")["host"]
        assert info["labels"] == ["gpu", "ssd"] and info["maintenance"]["reason"] == "disk swap"
        assert info["capacity"]["reserved_memory_mib"] == 2048
        assert info["capacity"]["allocatable_memory_mib"] == info["capacity"]["memory_mib"] - 2048
    finally:
        reset = {"uri": hv3.uri, "labels": [], "reserved_memory": "1GiB", "maintenance": False}
        assert not play([{"name": "reset", "kvmfleet.kvm.hypervisor": reset}]).result("reset").get("failed")


# ---------------------------------------------------------------------------------------------- killed runs


def killed_and_run_again(
    fleet: Any, play: Callable[..., kvmtest.PlayResult], task: dict[str, Any], fault: str, step: str
) -> dict[str, Any]:
    """Run the migrate ``task`` killed at ``step`` (``fault`` is its kind: before/during), then twice more;
    the first rerun's result, once the second changed nothing and the guest runs on the destination only."""
    source, dest = (host for uri in (task["uri"], task["dest_uri"]) for host in fleet.hosts if host.uri == uri)
    name = task["name"]
    killed = kvmtest.run_playbook(
        [{"name": "migrate", "kvmfleet.kvm.migrate": task}],
        env={"KVMFLEET_FAULT_AT": step, "KVMFLEET_FAULT_DELAY": "0.05"},
    )
    assert killed.rc == -9, f"the run was not killed at {fault}: {killed.tasks}"
    if fault.startswith("during:"):  # peer-to-peer: the source's libvirtd finishes the move without the run
        moved = kvmtest.wait_until(
            lambda: name in names(fleet, dest.name) and name not in names(fleet, source.name), 30
        )
        assert moved, "the migration the killed run started did not complete on its own"

    first = play([{"name": "migrate", "kvmfleet.kvm.migrate": task}]).result("migrate")
    again = play([{"name": "migrate", "kvmfleet.kvm.migrate": task}]).result("migrate")

    assert not first.get("failed"), first.get("msg")
    assert again["changed"] is False and not again.get("failed"), again
    assert kvmtest.virsh("domstate", name, uri=dest.uri).strip() == "running"
    assert name not in names(fleet, source.name)
    return first


@pytest.mark.parametrize("fault", ["before:create the volume", "before:live-migrate", "during:live-migrate"])
def test_a_migration_killed_at_each_step_converges_on_the_first_rerun(
    fault: str, fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult]
) -> None:
    """A copy of a local disk: killed before the destination's volume is made, before the migration
    starts, and a moment into it (the source's libvirtd drives a peer-to-peer migration on its own)."""
    hv2, hv3 = fleet.hosts[1], fleet.hosts[2]
    name = f"{fleet_prefix}kill"
    disk = {"pool": "local", "volume": f"{name}.qcow2", "size": "16MiB", "cache": "none"}
    start_guest(play, kvmtest.fleet_guest(name, hv2.uri, disks=[disk]))
    counting(fleet, hv2.name, name)
    task = {"uri": hv2.uri, "name": name, "dest_uri": hv3.uri, "storage": "copy"}
    killed_and_run_again(
        fleet, play, task, fault, f"{fault} {name}" if "volume" not in fault else f"{fault} {name}.qcow2"
    )
    listed = [line.split()[0] for line in kvmtest.virsh("vol-list", "local", uri=hv3.uri).splitlines() if name in line]
    assert listed == [f"{name}.qcow2"]  # the killed run's copy was taken, not doubled
    # the destination's definition does not carry the mark of the copy
    assert "copying=" not in kvmtest.virsh("dumpxml", name, uri=hv3.uri)
    assert "copying=" not in kvmtest.virsh("dumpxml", "--inactive", name, uri=hv3.uri)
    counting(fleet, hv3.name, name)
    assert not booted(fleet, hv3.name, name)  # it kept running through all of it


@pytest.mark.parametrize(
    "fault",
    [
        "before:forget the snapshot one",
        "before:live-migrate",
        "during:live-migrate",
        "before:redefine the snapshot two",
    ],
)
def test_a_move_with_snapshots_killed_at_each_step_ends_with_them_on_the_destination_after_the_rerun(
    fault: str, fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult]
) -> None:
    """Killed half-way through forgetting the snapshots on the source (two forgotten, one not), before
    the migration, during it, and half-way through defining them on the destination (one defined)."""
    hv1, hv3 = fleet.hosts[0], fleet.hosts[2]
    name = f"{fleet_prefix}ksnap"
    disk = {"pool": "shared", "volume": f"{name}.qcow2", "size": "16MiB", "cache": "none"}
    start_guest(play, kvmtest.fleet_guest(name, hv1.uri, disks=[disk]))
    counting(fleet, hv1.name, name)
    for snap in ("one", "two"):
        taken = play([{"name": "s", "kvmfleet.kvm.snapshot": {"uri": hv1.uri, "guest": name, "name": snap}}])
        assert taken.result("s")["changed"], taken.result("s")
    task = {"uri": hv1.uri, "name": name, "dest_uri": hv3.uri, "allow_unsafe": True}
    first = killed_and_run_again(fleet, play, task, fault, fault if "snapshot" in fault else f"{fault} {name}")
    assert first["changed"] and first["snapshots"] == ["one", "two"], first
    assert snapshot_tree(hv3.uri, name) == {"one": "-", "two": "one"}
    assert kvmtest.virsh("snapshot-current", name, "--name", uri=hv3.uri).strip() == "two"
    for flags in ((), ("--inactive",)):
        assert "kvmfleet:snapshot" not in kvmtest.virsh("dumpxml", *flags, name, uri=hv3.uri)  # the record is gone
