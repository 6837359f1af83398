"""Faults on the real libvirtd: guests in transient states, and actions whose precondition vanished.

The guest module runs in this process (``run_direct``, as in Ansible's worker) so that a test can put
the guest into a transient state at a known moment: a start libvirt has not finished, a block job, a
change made by someone else between the plan and the action.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kvmtest
import libvirt
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.module import GUEST_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.plan import GuestPlanner, HostContext
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.runner import execute
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import ops as _storage
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.module import VOLUME_ENTRY


def guest(options: dict[str, Any], check: bool = False) -> dict[str, Any]:
    """One kvmfleet.kvm.guest task run in this process."""
    return run_direct(GUEST_ENTRY, options, check)


def domstate(name: str) -> str:
    return kvmtest.virsh("domstate", name).strip()


def test_a_guest_libvirt_is_still_starting_is_waited_for_not_resumed(
    conn: Any, prefix: str, tiny_image: Path, tmp_path: Path
) -> None:
    """The reported failure: a rerun found guests `paused (starting up)` and planned a resume."""
    name = f"{prefix}starting"
    options = kvmtest.tiny_guest(name, tiny_image, tmp_path / "serial.log")
    assert guest({**options, "state": "stopped"})["changed"]
    dom = conn.lookupByName(name)
    starter = threading.Thread(target=lambda: libvirt.open(kvmtest.SYSTEM_URI).lookupByName(name).create())
    starter.start()
    assert kvmtest.wait_until(
        lambda: dom.state() == [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_STARTING_UP], 20, step=0.005
    ), dom.state()

    result = guest({**options, "state": "running"})

    starter.join()
    assert not result.get("failed"), result.get("msg")
    assert result["settled"] == f"waited for {name} to settle: libvirt is starting it"
    assert result["changed"] is False and result["actions"] == []  # the start was libvirt's, not ours
    assert domstate(name) == "running"


def test_actions_whose_precondition_vanished_are_judged_by_the_end_state(
    conn: Any, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}raced"
    disk = {"pool": test_pool["name"], "size": "16MiB"}
    options = kvmtest.tiny_guest(name, tiny_image, tmp_path / "serial.log", disks=[disk])
    assert guest({**options, "state": "paused"})["state"] == "paused"
    host = HostContext(conn, kvmtest.SYSTEM_URI)

    def planned(**change: Any) -> Any:
        values, problems = GUEST.validate({**options, **change})
        assert problems == []
        return GuestPlanner(host, values).plan()

    resume = planned(state="running")
    assert [a.description for a in resume.actions] == ["resume the guest"]
    kvmtest.virsh("resume", name)  # someone else got there first
    execute(resume)
    assert domstate(name) == "running"

    stop = planned(state="stopped", force=True, shutdown_timeout=1)
    kvmtest.virsh("destroy", name)
    execute(stop)
    assert domstate(name) == "shut off"

    remove = planned(state="absent", remove_volumes=True)
    assert [a.description for a in remove.actions] == [
        f"delete volume {name}-vda.qcow2 from pool {test_pool['name']}",
        "undefine the guest (with its UEFI nvram and snapshot metadata)",
    ]
    kvmtest.virsh("vol-delete", f"{name}-vda.qcow2", "--pool", test_pool["name"])
    kvmtest.virsh("undefine", name)
    execute(remove)
    assert name not in kvmtest.domain_names()
    assert not os.path.exists(f"{test_pool['path']}/{name}-vda.qcow2")


def test_a_block_pull_is_waited_for_and_a_block_copy_fails_naming_the_job(
    conn: Any, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    base = f"{prefix}base.raw"
    with open(f"{test_pool['path']}/{base}", "wb") as data:
        data.write(os.urandom(3 * 1024 * 1024))  # a pull at 1 MiB/s takes about 3 s
    conn.storagePoolLookupByName(test_pool["name"]).refresh(0)
    name = f"{prefix}blockjob"
    disk = {"pool": test_pool["name"], "backing_image": base}
    options = kvmtest.tiny_guest(name, tiny_image, tmp_path / "serial.log", disks=[disk], state="running")
    assert guest(options)["state"] == "running"

    kvmtest.virsh("blockpull", name, "vda", "--bandwidth", "1")
    dom = conn.lookupByName(name)
    assert dom.blockJobInfo("vda", 0)["type"] == libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_PULL
    pulled = guest({**options, "state": "paused"})

    assert not pulled.get("failed"), pulled.get("msg")
    assert pulled["settled"] == f"waited for {name} to settle: a block pull of its disk vda is running"
    assert pulled["actions"] == ["pause the guest"] and domstate(name) == "paused"
    assert dom.blockJobInfo("vda", 0) == {}
    assert "<backingStore/>" in kvmtest.virsh("dumpxml", name)  # pulled: the overlay stands alone

    copy = f"{test_pool['path']}/{prefix}copy.qcow2"
    kvmtest.virsh("blockcopy", name, "vda", copy, "--format", "qcow2", "--transient-job", "--shallow")
    try:
        for check in (True, False):
            refused = guest({**options, "state": "running"}, check=check)
            assert refused.get("failed"), refused
            assert refused["msg"] == (
                f"guest {name} is not in a state to act on: a block copy of its disk vda is running; "
                f"end the job first: virsh blockjob {name} vda --pivot (to switch to the copy) or --abort"
            )
        assert domstate(name) == "paused"  # untouched
    finally:
        kvmtest.virsh("blockjob", name, "vda", "--abort")
        if os.path.exists(copy):
            os.unlink(copy)


# ---------------------------------------------------------------------------------------------- other runs


def test_a_guest_another_run_defines_between_plan_and_define_is_planned_again(
    conn: Any, prefix: str, tiny_image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run on another machine (no shared lock) defines the same guest a moment before this one does."""
    name = f"{prefix}twice"
    options = {**kvmtest.tiny_guest(name, tiny_image, tmp_path / "serial.log"), "state": "running"}
    other = tmp_path / "other.xml"
    other.write_text(kvmtest.tiny_domain_xml(name, None, tmp_path / "other.log", image=tiny_image))
    monkeypatch.setenv("KVMFLEET_FAULT_AT", "before:define guest")
    monkeypatch.setenv("KVMFLEET_FAULT_DO", f"virsh -q -c {kvmtest.SYSTEM_URI} define {other}")

    result = guest(options)

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and domstate(name) == "running"
    (warning,) = result["warnings"]
    assert warning == (
        f"guest {name} was defined meanwhile (by another run or by hand) after this run planned to create it: "
        "the run planned again from what the host holds"
    )
    # the second plan updated the other run's definition to what this task declares
    assert f"<log file='{tmp_path / 'serial.log'}'" in kvmtest.virsh("dumpxml", "--inactive", name)
    assert guest(options)["changed"] is False


def volume_xml(name: str, size: int, fmt: str) -> str:
    return f"<volume><name>{name}</name><capacity>{size}</capacity><target><format type='{fmt}'/></target></volume>"


def test_a_volume_libvirt_is_still_creating_is_waited_for(conn: Any, prefix: str, test_pool: dict[str, str]) -> None:
    """Another run's copy into a volume of that name is under way: its size and data are not final yet."""
    pool = conn.storagePoolLookupByName(test_pool["name"])
    size = 512 * 1024 * 1024
    source = pool.createXML(volume_xml(f"{prefix}src.raw", size, "raw"), 0)
    with open(source.path(), "r+b") as data:  # written data, so that the copy takes a while
        for _block in range(size // (4 << 20)):
            data.write(os.urandom(4 << 20))
    target = volume_xml(f"{prefix}dst.qcow2", size, "qcow2")
    other = libvirt.open(kvmtest.SYSTEM_URI).storagePoolLookupByName(test_pool["name"])
    copier = threading.Thread(target=lambda: other.createXMLFrom(target, source, 0))
    copier.start()
    assert kvmtest.wait_until(lambda: _storage.find_volume(pool, f"{prefix}dst.qcow2") is not None, 10, step=0.01)
    assert _storage.being_built(_storage.find_volume(pool, f"{prefix}dst.qcow2")) is True

    taken = _storage.create_volume(pool, f"{prefix}dst.qcow2", size, "qcow2")  # what this run would make

    assert _storage.being_built(taken) is False  # returned once the copy was done, and took its volume
    copier.join()
    assert _storage.volume_facts(taken)["capacity"] == size


# ---------------------------------------------------------------------------------------------- a full disk


@pytest.fixture
def small_pool(conn: Any, prefix: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A dir pool in a directory of a 24 MiB tmpfs of its own (the mount's root is outside the pool)."""
    mount = tmp_path / "small"
    mount.mkdir()
    kvmtest.run_cmd(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)])
    name = f"{prefix}small"
    path = mount / "pool"
    path.mkdir()
    pool = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>", 0
    )
    try:
        yield {"name": name, "path": str(path), "mount": str(mount)}
    finally:
        pool.destroy()
        kvmtest.run_cmd(["umount", str(mount)])


def test_an_image_larger_than_the_pools_free_space_fails_before_anything_is_written(
    small_pool: dict[str, str], prefix: str, tmp_path: Path
) -> None:
    image = kvmtest.image_of(tmp_path / "big.raw", 32)
    result = run_direct(VOLUME_ENTRY, {"pool": small_pool["name"], "name": f"{prefix}big.raw", **image}, False)

    assert result["failed"] is True
    assert result["msg"] == (f"pool {small_pool['name']}: 24MiB free, {image['src']} is 32MiB; nothing was written")
    assert result["done"] == []
    assert result["needed"] == 32 << 20 and result["available"] == 24 << 20
    assert os.listdir(small_pool["path"]) == []


def test_a_disk_that_fills_during_an_import_is_named_and_leaves_nothing(
    small_pool: dict[str, str], prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone else takes 12 MiB of the 24 after the free space was read: the 16 MiB write hits ENOSPC."""
    name = f"{prefix}data.raw"
    task = {"pool": small_pool["name"], "name": name, **kvmtest.image_of(tmp_path / "data.raw", 16)}
    filler = Path(small_pool["mount"], "filler")
    monkeypatch.setenv("KVMFLEET_FAULT_AT", f"before:write {name}")
    monkeypatch.setenv("KVMFLEET_FAULT_DO", f"fallocate -l 12M {filler}")

    result = run_direct(VOLUME_ENTRY, task, False)

    assert filler.exists()  # the fault fired
    assert result["failed"] is True
    assert result["msg"].startswith(f"pool {small_pool['name']}: no space left on {small_pool['path']} while ")
    assert "No space left on device" in result["msg"]
    assert result["msg"].endswith("the partial file was removed and nothing is under the volume's name")
    assert os.listdir(small_pool["path"]) == []  # no partial file, nothing under the name
    filler.unlink()
    rerun = run_direct(VOLUME_ENTRY, task, False)
    assert rerun["changed"] is True and Path(small_pool["path"], name).stat().st_size == 16 << 20
