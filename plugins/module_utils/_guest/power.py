# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Power state of a guest: read it, wait for a transient one to settle, change it with calls that block.

A guest libvirt is still starting, saving, shutting down or copying is not in a state a plan can be made
from: ``settle`` waits (bounded) until it is, or fails naming the state when waiting makes no sense (a
migration, a disk mirror that waits for someone to end it). The power calls judge by the end state: a
resume of a guest that is running by now, a shutdown of a guest that went off meanwhile, the undefine of
a guest that is gone are done, not errors (another run, a person or the guest itself got there first).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _progress
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, NeedsOption
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt

RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"
ABSENT = "absent"


def power_state(dom: Any) -> str:
    """running, paused or stopped (libvirt's crashed/shutoff both count as stopped)."""
    lv = require_libvirt()
    state = dom.state()[0]
    if state in (lv.VIR_DOMAIN_RUNNING, lv.VIR_DOMAIN_BLOCKED, lv.VIR_DOMAIN_SHUTDOWN):
        return RUNNING
    if state in (lv.VIR_DOMAIN_PAUSED, lv.VIR_DOMAIN_PMSUSPENDED):
        return PAUSED
    return STOPPED


@dataclass(frozen=True)
class Busy:
    """A transient state of a guest: what it is, and whether to wait for it to end (else ``fix`` says what to do)."""

    what: str
    waits: bool
    fix: str = ""


# libvirt's paused reasons that are a step of something libvirt is doing, not a pause someone asked for
_PAUSED_BUSY = {
    "VIR_DOMAIN_PAUSED_STARTING_UP": Busy("libvirt is starting it", True),
    "VIR_DOMAIN_PAUSED_SAVE": Busy("libvirt is saving it", True),
    "VIR_DOMAIN_PAUSED_DUMP": Busy("libvirt is dumping its memory", True),
    "VIR_DOMAIN_PAUSED_SNAPSHOT": Busy("libvirt is taking a snapshot of it", True),
    "VIR_DOMAIN_PAUSED_SHUTTING_DOWN": Busy("it is shutting down", True),
    "VIR_DOMAIN_PAUSED_MIGRATION": Busy(
        "it is being migrated", False, "run again when the migration has ended (virsh domjobinfo NAME)"
    ),
    "VIR_DOMAIN_PAUSED_POSTCOPY": Busy(
        "it is in the post-copy phase of a migration", False, "run again when the migration has ended"
    ),
    "VIR_DOMAIN_PAUSED_POSTCOPY_FAILED": Busy(
        "its post-copy migration failed",
        False,
        "the guest's memory is split between two hosts: recover the migration (virsh migrate --postcopy-resume) "
        "or destroy the guest",
    ),
}
# the operation of a running job (virDomainGetJobStats); the ones not listed here end by themselves soon
_JOB_FAILS = {
    "VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN": Busy(
        "it is being migrated to this host", False, "run again when the migration has ended (virsh domjobinfo NAME)"
    ),
    "VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT": Busy(
        "it is being migrated to another host",
        False,
        "run again when the migration has ended (virsh domjobinfo NAME; virsh domjobabort NAME stops it)",
    ),
    "VIR_DOMAIN_JOB_OPERATION_BACKUP": Busy(
        "a backup of it is running", False, "run again when the backup has ended (virsh domjobinfo NAME)"
    ),
}
_JOB_WAITS = {
    "VIR_DOMAIN_JOB_OPERATION_START": "libvirt is starting it",
    "VIR_DOMAIN_JOB_OPERATION_SAVE": "libvirt is saving it",
    "VIR_DOMAIN_JOB_OPERATION_RESTORE": "libvirt is restoring it",
    "VIR_DOMAIN_JOB_OPERATION_SNAPSHOT": "libvirt is taking a snapshot of it",
    "VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_REVERT": "libvirt is reverting it to a snapshot",
    "VIR_DOMAIN_JOB_OPERATION_DUMP": "libvirt is dumping its memory",
}
# block jobs: a pull or a commit of an inactive layer ends by itself; a copy or an active commit waits for
# someone to pivot or abort it
_BLOCK_WAITS = ("VIR_DOMAIN_BLOCK_JOB_TYPE_PULL", "VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT")
_BLOCK_NAMES = {
    "VIR_DOMAIN_BLOCK_JOB_TYPE_PULL": "a block pull",
    "VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT": "a block commit",
    "VIR_DOMAIN_BLOCK_JOB_TYPE_COPY": "a block copy",
    "VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT": "an active block commit",
    "VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP": "a backup",
}


def _constant(lv: Any, table: dict[str, Any], value: int) -> Optional[Any]:
    """The entry of ``table`` whose libvirt constant (by name; older bindings lack some) equals ``value``."""
    for name, entry in table.items():
        if getattr(lv, name, None) == value:
            return entry
    return None


def busy(dom: Any, xml: Optional[str] = None) -> Optional[Busy]:
    """The transient state ``dom`` is in, or None when it is settled (running, paused by someone, off).

    ``xml``: its live definition, when the caller has just read it (the disks with a block job are found in it).
    """
    lv = require_libvirt()
    state, reason = dom.state()
    if state == lv.VIR_DOMAIN_SHUTDOWN:
        return Busy("it is shutting down", True)
    if state == lv.VIR_DOMAIN_PAUSED:
        found = _constant(lv, _PAUSED_BUSY, reason)
        if found is not None:
            return found
    if state in (lv.VIR_DOMAIN_SHUTOFF, lv.VIR_DOMAIN_CRASHED):
        return None  # libvirt keeps no job for a guest that is off (a start shows as paused, starting up)
    try:
        job = dom.jobStats()
    except lv.libvirtError:  # it went off meanwhile
        job = {}
    if job.get("type", lv.VIR_DOMAIN_JOB_NONE) != lv.VIR_DOMAIN_JOB_NONE and "operation" in job:
        found = _constant(lv, _JOB_FAILS, job["operation"])
        if found is not None:
            return found
        what = _constant(lv, _JOB_WAITS, job["operation"])
        if what is not None:
            return Busy(what, True)
    return _block_job(lv, dom, xml)


def _block_job(lv: Any, dom: Any, xml: Optional[str]) -> Optional[Busy]:
    for disk in ET.fromstring(xml or dom.XMLDesc(0)).iter("disk"):
        target = disk.find("target")
        if target is None or not target.get("dev"):
            continue
        backing = disk.find("backingStore")
        if disk.find("mirror") is None and (backing is None or backing.find("source") is None):
            continue  # a job needs a mirror (copy, active commit) or a backing chain (pull, commit)
        try:
            info = dom.blockJobInfo(target.get("dev"), 0)
        except lv.libvirtError:
            continue
        if not info:
            continue
        kind = info.get("type")
        what = f"{_constant(lv, _BLOCK_NAMES, kind) or 'a block job'} of its disk {target.get('dev')} is running"
        if _constant(lv, dict.fromkeys(_BLOCK_WAITS, True), kind):
            return Busy(what, True)
        return Busy(
            what,
            False,
            f"end the job first: virsh blockjob NAME {target.get('dev')} --pivot (to switch to the copy) or --abort",
        )
    return None


def settle(
    dom: Any,
    timeout: float,
    xml: Optional[str] = None,
    step: float = 0.25,
    sleep: Callable[[float], None] = time.sleep,
) -> Optional[str]:
    """Wait up to ``timeout`` seconds for ``dom`` to leave a transient state; a note of what was waited for.

    Fails (``KvmFleetError`` naming the state and what to do) for a state that waiting does not end, and
    when the wait runs out. ``xml``: the live definition just read, for the first look.
    """
    lv = require_libvirt()
    deadline = time.monotonic() + timeout
    first: Optional[Busy] = None
    while True:
        try:
            state = busy(dom, xml)
            xml = None  # a second look reads the definition again
        except lv.libvirtError as exc:
            if exc.get_error_code() == lv.VIR_ERR_NO_DOMAIN:
                return f"{dom.name()} went away while {first.what if first else 'it was read'}"
            raise
        if state is None:
            return None if first is None else f"waited for {dom.name()} to settle: {first.what}"
        first = first or state
        name = dom.name()
        if not state.waits:
            raise KvmFleetError(
                f"guest {name} is not in a state to act on: {state.what}; {state.fix.replace('NAME', name)}",
                guest=name,
                transient_state=state.what,
            )
        if time.monotonic() >= deadline:
            raise KvmFleetError(
                f"guest {name} is still in a transient state after {timeout:g} s: {state.what}; "
                "run again when it has ended (shutdown_timeout sets how long to wait)",
                guest=name,
                transient_state=state.what,
            )
        sleep(step)


def _already(dom: Any, exc: Any, goal: Callable[[Any], bool]) -> bool:
    """Whether a refused power call (``exc``) found ``dom`` already where it was going."""
    lv = require_libvirt()
    if exc.get_error_code() == lv.VIR_ERR_NO_DOMAIN:
        return False
    if exc.get_error_code() != lv.VIR_ERR_OPERATION_INVALID:
        return False
    try:
        return goal(dom)
    except lv.libvirtError:
        return False


def _toward(dom: Any, call: Callable[[], Any], goal: str) -> None:
    """A power call taking ``dom`` to the power state ``goal``; refused because it is there by now: done."""
    lv = require_libvirt()
    try:
        call()
    except lv.libvirtError as exc:
        if not _already(dom, exc, lambda d: power_state(d) == goal):
            raise


def resume(dom: Any) -> None:
    """Resume a paused guest; one that runs by now is done."""
    _toward(dom, dom.resume, RUNNING)


def restart(dom: Any, timeout: int, force: bool, why: str, paused: Optional[bool] = None) -> None:
    """Shut ``dom`` down (as ``shutdown`` does) and start it again: a new QEMU process, so what waits for
    the next boot applies. It comes back paused if ``paused`` (None: if it was paused)."""
    if paused is None:
        paused = power_state(dom) == PAUSED
    shutdown(dom, timeout, force, why)
    start(dom, paused=paused)


def reset(dom: Any) -> None:
    """Reset ``dom`` at once, as its reset button does (the same QEMU process boots again, no shutdown); a
    guest that is off by the time the call reaches it is started instead."""
    lv = require_libvirt()
    try:
        dom.reset(0)
    except lv.libvirtError as exc:
        if not _already(dom, exc, lambda d: not d.isActive()):
            raise
        start(dom)


def suspend(dom: Any) -> None:
    """Pause a running guest; one that is paused by now is done."""
    _toward(dom, dom.suspend, PAUSED)


def undefine(dom: Any) -> None:
    """Undefine with its UEFI nvram and snapshot metadata; a guest that is gone (or transient) by now is done."""
    lv = require_libvirt()
    try:
        dom.undefineFlags(undefine_flags())
    except lv.libvirtError as exc:
        if exc.get_error_code() == lv.VIR_ERR_NO_DOMAIN:
            return
        if not _already(dom, exc, lambda d: not d.isPersistent()):
            raise


def shutdown(dom: Any, timeout: int, force: bool, why: str) -> None:
    """Shut ``dom`` down gracefully (ACPI, then guest agent) and wait until it is off.

    After ``timeout`` seconds, power it off if ``force``; otherwise fail saying which option allows it.
    A guest that is off by the time a call reaches it (it shut itself down, another run stopped it) is done.
    """
    lv = require_libvirt()
    deadline = time.monotonic() + timeout
    try:
        if dom.isActive():
            if power_state(dom) == PAUSED:
                resume(dom)
            try:
                dom.shutdownFlags(lv.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN | lv.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT)
            except lv.libvirtError:
                dom.shutdown()
    except lv.libvirtError as exc:
        if not _already(dom, exc, lambda d: not d.isActive()):
            raise
    began = time.monotonic()
    while dom.isActive() and time.monotonic() < deadline:
        waited = time.monotonic() - began
        _progress.report(
            f"shutdown {dom.name()}", f"waiting for {dom.name()} to shut down ({waited:.0f} of {timeout} s)"
        )
        time.sleep(0.2)
    if not dom.isActive():
        return
    if not force:
        raise NeedsOption(
            f"guest {dom.name()} did not shut down within {timeout} s ({why}); a forced power-off would be needed",
            "force",
        )
    try:
        dom.destroy()
    except lv.libvirtError as exc:
        if not _already(dom, exc, lambda d: not d.isActive()):
            raise


def start(dom: Any, paused: bool = False) -> None:
    """Start a defined guest (paused if asked); one already in that state by now is done."""
    lv = require_libvirt()
    flags = lv.VIR_DOMAIN_START_PAUSED if paused else 0
    _toward(dom, lambda: dom.createWithFlags(flags), PAUSED if paused else RUNNING)


def undefine_flags() -> int:
    """Undefine with UEFI nvram, managed save, snapshot and checkpoint metadata (all that exist here)."""
    lv = require_libvirt()
    flags = 0
    for name in (
        "VIR_DOMAIN_UNDEFINE_NVRAM",
        "VIR_DOMAIN_UNDEFINE_MANAGED_SAVE",
        "VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA",
        "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA",
    ):
        flags |= getattr(lv, name, 0)
    return flags
