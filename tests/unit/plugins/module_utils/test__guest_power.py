"""Transient states and power calls judged by their end state, on small stand-ins for a libvirt domain.

libvirt's test driver has no starting-up guests, jobs or block jobs, so these read the decisions off
domains that report what a real libvirtd reports in those states (seen on libvirt 9.0: a guest being
started is ``paused`` with reason ``starting up`` and no job).
"""

from __future__ import annotations

from typing import Optional

import libvirt
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import power

PLAIN_DISK = "<disk type='file' device='disk'><source file='/p/a.qcow2'/><target dev='vda'/></disk>"
OVERLAY_DISK = (
    "<disk type='file' device='disk'><source file='/p/b.qcow2'/>"
    "<backingStore type='file'><source file='/p/base.qcow2'/></backingStore><target dev='vdb'/></disk>"
)
MIRRORED_DISK = (
    "<disk type='file' device='disk'><source file='/p/c.qcow2'/><mirror type='file' job='copy'>"
    "<source file='/p/copy.qcow2'/></mirror><target dev='vdc'/></disk>"
)


def error(code: int, message: str = "refused") -> libvirt.libvirtError:
    exc = libvirt.libvirtError(message)
    exc.err = (code, 0, message, 0, "", None, None, 0, 0)
    return exc


class Dom:
    """A domain that goes through ``states`` (state, reason) one read at a time, then stays at the last."""

    def __init__(
        self,
        *states: tuple[int, int],
        job: Optional[dict[str, int]] = None,
        disks: str = PLAIN_DISK,
        block_jobs: Optional[dict[str, dict[str, int]]] = None,
    ) -> None:
        self.states = list(states)
        self.job = job or {"type": libvirt.VIR_DOMAIN_JOB_NONE}
        self.disks = disks
        self.block_jobs = block_jobs or {}
        self.asked: list[str] = []
        self.calls: list[str] = []
        self.gone = False

    def name(self) -> str:
        return "g1"

    def state(self) -> list[int]:
        if self.gone:
            raise error(libvirt.VIR_ERR_NO_DOMAIN, "no domain")
        current = self.states[0] if len(self.states) == 1 else self.states.pop(0)
        return list(current)

    def jobStats(self) -> dict[str, int]:  # noqa: N802 - libvirt's name
        return self.job

    def XMLDesc(self, _flags: int) -> str:  # noqa: N802 - libvirt's name
        return f"<domain><name>g1</name><devices>{self.disks}</devices></domain>"

    def blockJobInfo(self, target: str, _flags: int) -> dict[str, int]:  # noqa: N802 - libvirt's name
        self.asked.append(target)
        return self.block_jobs.get(target, {})


RUNNING = (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED)
STARTING = (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_STARTING_UP)
PAUSED_BY_USER = (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER)
SHUTTING_DOWN = (libvirt.VIR_DOMAIN_SHUTDOWN, 0)
OFF = (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN)


def settle(dom: Dom, timeout: float = 10) -> tuple[Optional[str], list[float]]:
    sleeps: list[float] = []
    return power.settle(dom, timeout, sleep=sleeps.append), sleeps


@pytest.mark.parametrize("state", [RUNNING, PAUSED_BY_USER, OFF], ids=["running", "paused by a user", "off"])
def test_a_settled_guest_is_planned_at_once(state: tuple[int, int]) -> None:
    assert settle(Dom(state)) == (None, [])


def test_a_guest_libvirt_is_still_starting_is_waited_for_and_then_planned_as_running() -> None:
    dom = Dom(STARTING, STARTING, STARTING, RUNNING)
    note, sleeps = settle(dom)
    assert note == "waited for g1 to settle: libvirt is starting it"
    assert sleeps == [0.25, 0.25, 0.25]
    assert power.power_state(dom) == power.RUNNING


def test_a_guest_shutting_down_is_waited_for() -> None:
    note, _sleeps = settle(Dom(SHUTTING_DOWN, OFF))
    assert note == "waited for g1 to settle: it is shutting down"


def test_the_wait_is_bounded_and_the_error_names_the_state_and_the_option() -> None:
    with pytest.raises(KvmFleetError) as caught:
        settle(Dom(STARTING), timeout=0)
    assert caught.value.msg == (
        "guest g1 is still in a transient state after 0 s: libvirt is starting it; "
        "run again when it has ended (shutdown_timeout sets how long to wait)"
    )
    assert caught.value.details["transient_state"] == "libvirt is starting it"


@pytest.mark.parametrize(
    ("operation", "fix"),
    [
        ("VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT", "virsh domjobabort g1 stops it"),
        ("VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN", "virsh domjobinfo g1"),
        ("VIR_DOMAIN_JOB_OPERATION_BACKUP", "the backup has ended"),
    ],
    ids=["migrating out", "migrating in", "backup"],
)
def test_a_job_that_waiting_does_not_end_fails_at_once_naming_what_to_do(operation: str, fix: str) -> None:
    job = {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED, "operation": getattr(libvirt, operation)}
    with pytest.raises(KvmFleetError) as caught:
        settle(Dom(RUNNING, job=job))
    assert caught.value.msg.startswith("guest g1 is not in a state to act on: ")
    assert fix in caught.value.msg


def test_a_save_job_is_waited_for() -> None:
    dom = Dom(
        RUNNING, job={"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED, "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_SAVE}
    )
    with pytest.raises(KvmFleetError, match="still in a transient state after 0 s: libvirt is saving it"):
        settle(dom, timeout=0)


def test_a_block_pull_is_waited_for_and_only_disks_with_a_chain_or_a_mirror_are_asked() -> None:
    dom = Dom(
        RUNNING,
        disks=PLAIN_DISK + OVERLAY_DISK,
        block_jobs={"vdb": {"type": libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_PULL, "cur": 1, "end": 4}},
    )
    with pytest.raises(KvmFleetError, match="a block pull of its disk vdb is running"):
        settle(dom, timeout=0)
    assert dom.asked == ["vdb"]
    dom.block_jobs = {}
    assert settle(dom) == (None, [])


def test_a_block_copy_fails_naming_the_pivot_and_the_abort() -> None:
    dom = Dom(
        RUNNING,
        disks=MIRRORED_DISK,
        block_jobs={"vdc": {"type": libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY, "cur": 4, "end": 4}},
    )
    with pytest.raises(KvmFleetError) as caught:
        settle(dom)
    assert caught.value.msg == (
        "guest g1 is not in a state to act on: a block copy of its disk vdc is running; "
        "end the job first: virsh blockjob g1 vdc --pivot (to switch to the copy) or --abort"
    )


def test_a_guest_that_goes_away_while_waited_for_is_a_note_not_an_error() -> None:
    dom = Dom(STARTING)

    def sleep(_seconds: float) -> None:
        dom.gone = True

    assert power.settle(dom, 10, sleep=sleep) == "g1 went away while libvirt is starting it"


class Calls(Dom):
    """A domain whose power calls are refused as libvirt refuses them when the state moved on."""

    def __init__(self, *states: tuple[int, int], active: bool = True, persistent: bool = True) -> None:
        super().__init__(*states)
        self.active = active
        self.persistent = persistent

    def refuse(self, call: str) -> None:
        self.calls.append(call)
        raise error(libvirt.VIR_ERR_OPERATION_INVALID, f"Requested operation is not valid ({call})")

    def resume(self) -> None:
        self.refuse("resume")

    def suspend(self) -> None:
        self.refuse("suspend")

    def createWithFlags(self, _flags: int) -> None:  # noqa: N802 - libvirt's name
        self.refuse("start")

    def shutdownFlags(self, _flags: int) -> None:  # noqa: N802 - libvirt's name
        self.refuse("shutdownFlags")

    def shutdown(self) -> None:
        self.refuse("shutdown")

    def destroy(self) -> None:
        self.refuse("destroy")

    def isActive(self) -> bool:  # noqa: N802 - libvirt's name
        active, self.active = self.active, False  # it went off as the call reached it
        return active

    def isPersistent(self) -> bool:  # noqa: N802 - libvirt's name
        return self.persistent

    def undefineFlags(self, _flags: int) -> None:  # noqa: N802 - libvirt's name
        raise error(libvirt.VIR_ERR_NO_DOMAIN, "no domain")


def test_a_resume_of_a_guest_that_runs_by_now_is_done() -> None:
    power.resume(Calls(RUNNING))
    with pytest.raises(libvirt.libvirtError):
        power.resume(Calls(PAUSED_BY_USER))  # still paused: the refusal was real


def test_a_pause_or_start_that_finds_the_guest_there_already_is_done() -> None:
    power.suspend(Calls(PAUSED_BY_USER))
    power.start(Calls(RUNNING))
    power.start(Calls(PAUSED_BY_USER), paused=True)
    with pytest.raises(libvirt.libvirtError):
        power.start(Calls(OFF))


def test_a_shutdown_of_a_guest_that_went_off_meanwhile_is_done() -> None:
    dom = Calls(RUNNING)
    power.shutdown(dom, 5, False, "state: stopped")
    assert dom.calls == ["shutdownFlags", "shutdown"]


def test_the_undefine_of_a_guest_that_is_gone_is_done() -> None:
    power.undefine(Calls(OFF))
