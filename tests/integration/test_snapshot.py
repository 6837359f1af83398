"""snapshot and snapshot_info on the real libvirtd, with tiny guests that have a qcow2 disk.

A running guest's internal snapshot is proven by its serial console: the guest counts every second
(kvmfleet.tick), and after a revert it counts on from where the snapshot was taken. A disk's content
is proven with qemu-io markers written into the image while the guest is off.
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

import kvmtest

TICKS = "console=ttyS0 panic=-1 quiet kvmfleet.nonet kvmfleet.tick"


def guest(name: str, image: Path, log: Path, pool: str, **extra: Any) -> dict[str, Any]:
    return kvmtest.tiny_guest(
        name, image, log, cmdline=TICKS, disks=[{"pool": pool, "size": "16MiB", "format": "qcow2"}], **extra
    )


def ticks(log: Path) -> list[int]:
    return [int(n) for n in re.findall(r"KVMFLEET-TICK (\d+)", log.read_text(errors="replace"))] if log.exists() else []


def resumed_from(counted: list[int]) -> int:
    """The first count after the counter went back (the log holds the revert's count only when QEMU
    reopened the file), or the first count of the log."""
    drops = [i for i in range(1, len(counted)) if counted[i] < counted[i - 1]]
    return counted[drops[-1]] if drops else counted[0]


def snapshot_names(name: str) -> list[str]:
    return kvmtest.virsh("snapshot-list", name, "--name").split()


def image_snapshots(path: str) -> str:
    """What qemu-img sees inside the image (``-U``: also while QEMU has it open)."""
    return kvmtest.run_cmd(["qemu-img", "snapshot", "-l", "-U", path])


def qemu_io(path: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, path], capture_output=True, text=True, check=False)


def make(play: Callable[..., kvmtest.PlayResult], options: dict[str, Any]) -> None:
    result = play([{"name": "g", "kvmfleet.kvm.guest": options}]).result("g")
    assert not result.get("failed"), result.get("msg")


def test_internal_snapshot_of_a_running_guest_and_the_revert_to_its_running_state(
    triad, play, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    name, log = f"{prefix}snap", tmp_path / "serial.log"
    make(play, guest(name, tiny_image, log, test_pool["name"], state="running"))
    assert kvmtest.wait_until(lambda: len(ticks(log)) >= 3, 120), log.read_text(errors="replace")
    path = f"{test_pool['path']}/{name}-vda.qcow2"

    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.snapshot": {"guest": name, "name": "s1"}})
    assert apply["actions"] == [f"take internal snapshot s1 of guest {name} (vda) with its memory"]
    at_snapshot = max(ticks(log))
    assert snapshot_names(name) == ["s1"]
    assert re.search(r"\bs1\b", image_snapshots(path))  # the disk's state and the memory inside the image
    dumped = ET.fromstring(kvmtest.virsh("snapshot-dumpxml", name, "s1"))
    assert dumped.find("memory").get("snapshot") == "internal" and dumped.findtext("state") == "running"

    assert kvmtest.wait_until(lambda: max(ticks(log)) >= at_snapshot + 4, 60)
    before = max(ticks(log))
    revert = {"guest": name, "name": "s1", "state": "reverted", "discard_changes": True}
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.snapshot": revert})
    assert apply["actions"] == [f"revert guest {name} to snapshot s1"] and apply["reverted"] is True
    assert kvmtest.virsh("domstate", name).strip() == "running"
    assert kvmtest.wait_until(lambda: len(ticks(log)) > 2 and resumed_from(ticks(log)) < before, 60), ticks(log)
    assert resumed_from(ticks(log)) <= at_snapshot + 2 < before, (at_snapshot, ticks(log))  # it counts on from s1

    info = play([{"name": "i", "kvmfleet.kvm.snapshot_info": {"guest": name}}]).result("i")
    assert info["current"] == "s1" and [s["name"] for s in info["snapshots"]] == ["s1"]
    assert info["snapshots"][0]["type"] == "internal" and info["snapshots"][0]["memory"] is True

    _check, apply, _recheck, _reapply = triad(
        {"kvmfleet.kvm.snapshot": {"guest": name, "name": "s1", "state": "absent"}}
    )
    assert apply["deleted"] == ["s1"] and snapshot_names(name) == []
    assert not re.search(r"\bs1\b", image_snapshots(path))
    assert kvmtest.virsh("domstate", name).strip() == "running"


def test_the_disk_of_a_stopped_guest_comes_back_with_its_marker(
    triad, play, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}disk"
    make(play, guest(name, tiny_image, tmp_path / "serial.log", test_pool["name"], state="stopped"))
    path = f"{test_pool['path']}/{name}-vda.qcow2"
    assert qemu_io(path, "write -P 0x41 0 64k").returncode == 0

    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.snapshot": {"guest": name, "name": "before"}})
    assert apply["snapshot"]["memory"] is False and apply["snapshot"]["state"] == "shutoff"
    assert qemu_io(path, "write -P 0x42 0 64k").returncode == 0  # the change a revert discards
    revert = {"guest": name, "name": "before", "state": "reverted", "discard_changes": True}
    triad({"kvmfleet.kvm.snapshot": revert})
    assert qemu_io(path, "read -P 0x41 0 64k").returncode == 0, qemu_io(path, "read -v 0 16").stdout
    assert kvmtest.virsh("domstate", name).strip() == "shut off"
    assert qemu_io(path, "write -P 0x43 0 64k").returncode == 0  # written since the revert: reverted again
    again = play([{"name": "r", "kvmfleet.kvm.snapshot": revert}]).result("r")
    assert again["changed"] is True and qemu_io(path, "read -P 0x41 0 64k").returncode == 0


def test_external_disk_only_snapshot_of_a_running_guest(
    triad, play, conn: Any, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    name, log = f"{prefix}ext", tmp_path / "serial.log"
    options = guest(name, tiny_image, log, test_pool["name"], state="running")
    make(play, options)
    assert kvmtest.wait_until(lambda: len(ticks(log)) >= 1, 120)
    task = {"guest": name, "name": "e1", "type": "external"}
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.snapshot": task})
    overlay = f"{test_pool['path']}/{name}-vda.qcow2.e1"
    assert apply["actions"] == [f"take external snapshot e1 of guest {name} (vda)"]
    assert apply["snapshot"]["files"] == [overlay] and apply["snapshot"]["memory"] is False
    assert Path(overlay).exists() and overlay in kvmtest.virsh("domblklist", name)  # the guest writes there now
    rerun = play([{"name": "g", "kvmfleet.kvm.guest": options}], check=True).result("g")
    assert rerun["changed"] is False, rerun["actions"]  # the overlay is not taken for a disk to point back
    info = play([{"name": "i", "kvmfleet.kvm.snapshot_info": {"guest": name}}]).result("i")
    assert info["snapshots"][0]["type"] == "external" and info["snapshots"][0]["size"] > 0
    assert kvmtest.virsh("domstate", name).strip() == "running"

    back = {"guest": name, "name": "e1", "state": "reverted", "discard_changes": True}
    revert = play([{"name": "r", "kvmfleet.kvm.snapshot": back}]).result("r")
    if conn.getLibVersion() < 9_007_000:  # this machine's libvirt 9.0: says so, changes nothing
        assert revert["failed"] is True and "reverting to it needs libvirt 9.7.0 or later" in revert["msg"]
        assert overlay in kvmtest.virsh("domblklist", name) and snapshot_names(name) == ["e1"]
    else:
        assert revert["changed"] is True and revert["reverted"] is True, revert.get("msg")

    # deleting it commits the overlay back into the image the guest then writes to again (libvirt 9.0 can)
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.snapshot": {**task, "state": "absent"}})
    assert apply["actions"] == [f"delete snapshot e1 of guest {name}, merging its overlays back"]
    blocks = kvmtest.virsh("domblklist", name)
    assert f"{name}-vda.qcow2" in blocks and overlay not in blocks and not Path(overlay).exists()
    assert snapshot_names(name) == [] and kvmtest.virsh("domstate", name).strip() == "running"


def test_internal_and_external_snapshots_of_one_chain_are_not_deleted_across_types(
    play, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    """libvirt deletes no external snapshot whose parent is internal, and no internal one below which an
    external one moved the disk to an overlay: the module says so before calling it."""
    name = f"{prefix}mix"
    make(play, guest(name, tiny_image, tmp_path / "serial.log", test_pool["name"], state="stopped"))
    for snap, kind in (("i1", "internal"), ("e1", "external")):
        taken = play([{"name": "s", "kvmfleet.kvm.snapshot": {"guest": name, "name": snap, "type": kind}}]).result("s")
        assert taken["changed"], taken.get("msg")
    for snap, message in (("e1", "is external and its parent i1 is internal"),
                          ("i1", "is internal and its descendant e1 is external")):  # fmt: skip
        for check in (True, False):
            task = {"guest": name, "name": snap, "state": "absent"}
            result = play([{"name": "d", "kvmfleet.kvm.snapshot": task}], check=check).result("d")
            assert result["failed"] and message in result["msg"], result["msg"]
    assert sorted(snapshot_names(name)) == ["e1", "i1"]
    assert f"{test_pool['path']}/{name}-vda.qcow2.e1" in kvmtest.virsh("domblklist", name)


def test_auto_takes_an_external_snapshot_of_a_raw_disk(
    play, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}raw"
    options = kvmtest.tiny_guest(name, tiny_image, tmp_path / "serial.log",
                                 disks=[{"pool": test_pool["name"], "size": "16MiB", "format": "raw"}])  # fmt: skip
    make(play, options)
    checked = play([{"name": "s", "kvmfleet.kvm.snapshot": {"guest": name, "name": "s1"}}], check=True).result("s")
    assert checked["changed"] is True and checked["snapshot"]["type"] == "external"
    refused = play([{"name": "s", "kvmfleet.kvm.snapshot": {"guest": name, "name": "s1", "type": "internal"}}])
    assert "type: libvirt cannot take an internal snapshot" in refused.result("s")["msg"]
    assert snapshot_names(name) == []


def test_retention_keeps_exactly_n(
    play, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}ret"
    make(play, guest(name, tiny_image, tmp_path / "serial.log", test_pool["name"], state="stopped"))
    series = {"guest": name, "name_prefix": "nightly-", "keep": 2}
    tasks = [{"name": f"n{day}", "kvmfleet.kvm.snapshot": {**series, "name": f"nightly-{day}"}} for day in range(1, 5)]
    run = play(tasks)
    assert [run.result(f"n{day}")["deleted"] for day in range(1, 5)] == [[], [], ["nightly-1"], ["nightly-2"]]
    assert sorted(snapshot_names(name)) == ["nightly-3", "nightly-4"]
    assert play(tasks[-1:]).result("n4")["changed"] is False


def test_bad_input_fails_before_anything_changes(
    play, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}bad"
    make(play, guest(name, tiny_image, tmp_path / "serial.log", test_pool["name"], state="running", guest_agent=True))
    cases = [
        ({"guest": f"{prefix}nosuch", "name": "s1"}, f"guest: no guest {prefix}nosuch on this hypervisor"),
        ({"guest": name, "name": "s1", "keep": 0, "name_prefix": "s"}, "keep: must be at least 1"),
        ({"guest": name, "name": "s1", "quiesce": True, "type": "external"}, "quiesce: guest"),
        ({"guest": name, "name": "s1", "state": "reverted"}, "name: guest"),
    ]
    for task, message in cases:
        result = play([{"name": "s", "kvmfleet.kvm.snapshot": task}]).result("s")
        assert result["failed"] is True and message in result["msg"], (task, result["msg"])
    assert (
        "no connected QEMU guest agent"
        in play([{"name": "s", "kvmfleet.kvm.snapshot": cases[2][0]}]).result("s")["msg"]
    )
    stop = {"name": name, "state": "stopped", "force": True, "shutdown_timeout": 5}  # the guest need not be up
    stopped = play([{"name": "g", "kvmfleet.kvm.guest": stop}])
    assert not stopped.result("g").get("failed")
    memory = play([{"name": "s", "kvmfleet.kvm.snapshot": {"guest": name, "name": "s1", "memory": True}}]).result("s")
    assert memory["failed"] is True and memory["msg"].startswith("memory: ")
    assert snapshot_names(name) == []


def test_a_guest_with_snapshots_goes_only_with_remove_snapshots(
    play, conn: Any, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}gone"
    make(play, guest(name, tiny_image, tmp_path / "serial.log", test_pool["name"], state="stopped"))
    assert not play([{"name": "s", "kvmfleet.kvm.snapshot": {"guest": name, "name": "s1"}}]).result("s").get("failed")
    absent = {"name": name, "state": "absent", "remove_volumes": True}
    refused = play([{"name": "g", "kvmfleet.kvm.guest": absent}]).result("g")
    assert refused["failed"] is True and refused["needs_option"] == "remove_snapshots"
    assert name in kvmtest.domain_names()
    removed = play([{"name": "g", "kvmfleet.kvm.guest": {**absent, "remove_snapshots": True}}]).result("g")
    assert removed["changed"] is True, removed.get("msg")
    assert name not in kvmtest.domain_names()
    assert not Path(f"{test_pool['path']}/{name}-vda.qcow2").exists()


def test_auto_takes_an_external_snapshot_of_a_running_uefi_guest(
    play, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    """libvirt refuses internal snapshots of a running guest with pflash firmware: auto does not try."""
    name = f"{prefix}uefi"
    make(play, guest(name, tiny_image, tmp_path / "serial.log", test_pool["name"], state="running", firmware="uefi"))
    assert "pflash" in kvmtest.virsh("dumpxml", name)
    task = {"guest": name, "name": "s1"}
    checked, taken = (
        play([{"name": "s", "kvmfleet.kvm.snapshot": task}], check=check).result("s") for check in (True, False)
    )
    assert checked["actions"] == taken["actions"] == [f"take external snapshot s1 of guest {name} (vda)"], taken.get(
        "msg"
    )
    assert taken["snapshot"]["type"] == "external" and snapshot_names(name) == ["s1"]
    refused = play([{"name": "s", "kvmfleet.kvm.snapshot": {**task, "name": "s2", "type": "internal"}}]).result("s")
    assert "UEFI firmware on a running guest" in refused["msg"] and snapshot_names(name) == ["s1"]
