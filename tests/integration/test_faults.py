"""Faults on the real libvirtd: guests in transient states, and actions whose precondition vanished.

The guest module runs in this process (``run_direct``, as in Ansible's worker) so that a test can put
the guest into a transient state at a known moment: a start libvirt has not finished, a block job, a
change made by someone else between the plan and the action.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import kvmtest
import libvirt

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.module import GUEST_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.plan import GuestPlanner, HostContext
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.runner import execute
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct


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
