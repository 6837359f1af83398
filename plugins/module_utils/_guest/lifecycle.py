# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A guest's life: its power state, a restart for changes that wait for one, recreation and removal.

Every step that stops a guest is planned only when an option allows it (``restart: if_needed``,
``recreate: true``, ``state: stopped``, ``absent`` or ``restarted``); ``force`` turns a graceful shutdown
that does not end in time into a power-off, and allows ``state: reset`` (at once, no shutdown).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, NeedsOption, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import power
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.draft import GuestPlan
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.read import SEED_META, GuestRef
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import CONTROL
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import ops as _storage

RESTARTED, RESET = "restarted", "reset"  # commands rather than states: the guest runs afterwards


def _shutdown_words(timeout: int, force: bool) -> str:
    return f"wait up to {timeout} s" + (", then power off" if force else "")


def plan_power(plan: GuestPlan, ref: GuestRef, want: dict[str, Any]) -> None:
    """The power step after every change: a restart for what waits for one (when allowed), else the
    start, resume, pause or shutdown that takes the guest to its state."""
    wanted = want["state"]
    before = plan.power_from or plan.before_state
    timeout, force = want["shutdown_timeout"], want["force"]
    restart = bool(plan.reboot_required) and before in (power.RUNNING, power.PAUSED) and want["restart"] == "if_needed"
    if restart and wanted in ("present", power.RUNNING, power.PAUSED):
        fields = ", ".join(sorted(set(plan.reboot_required)))
        paused = wanted == power.PAUSED or (wanted == "present" and before == power.PAUSED)
        plan.add(
            f"restart the guest (graceful shutdown, then start{' paused' if paused else ''}) for: {fields}",
            lambda: power.restart(ref.dom(), timeout, force, "restart: if_needed", paused=paused),
        )
        plan.diff.add("restarted", False, True, CONTROL)
        if wanted not in ("present", plan.before_state):
            plan.diff.add("state", plan.before_state, wanted, CONTROL)
        plan.reboot_required = []
        return
    if wanted in (RESTARTED, RESET):
        _plan_restart(plan, ref, want, before)
    elif wanted == power.RUNNING and before != power.RUNNING:
        if before == power.PAUSED:
            plan.add("resume the guest", lambda: power.resume(ref.dom()))
        else:
            plan.add("start the guest", lambda: power.start(ref.dom()))
    elif wanted == power.PAUSED and before != power.PAUSED:
        if before == power.RUNNING:
            plan.add("pause the guest", lambda: power.suspend(ref.dom()))
        else:
            plan.add("start the guest paused", lambda: power.start(ref.dom(), paused=True))
    elif wanted == power.STOPPED and before in (power.RUNNING, power.PAUSED):
        plan.add(
            f"shut the guest down ({_shutdown_words(timeout, force)})",
            lambda: power.shutdown(ref.dom(), timeout, force, "state: stopped"),
        )
        plan.reboot_required = []
    if plan.before_state == power.ABSENT:
        for change in plan.diff.changes:
            if change.path == "state" and wanted != "present":
                change.after = power.RUNNING if wanted in (RESTARTED, RESET) else wanted
    elif wanted in (RESTARTED, RESET):
        after = power.PAUSED if plan.before_state == power.PAUSED else power.RUNNING
        if plan.before_state != after:
            plan.diff.add("state", plan.before_state, after, CONTROL)
    elif wanted not in ("present", plan.before_state):
        plan.diff.add("state", plan.before_state, wanted, CONTROL)


def _plan_restart(plan: GuestPlan, ref: GuestRef, want: dict[str, Any], before: str) -> None:
    """``state: restarted`` (graceful shutdown, then start) or ``reset`` (at once, needs ``force``): a command
    done on every run; a guest that is off is started."""
    wanted, timeout, force = want["state"], want["shutdown_timeout"], want["force"]
    if before not in (power.RUNNING, power.PAUSED):  # off, new, or torn down to be recreated
        paused = plan.before_state == power.PAUSED
        plan.add(
            "start the guest paused" if paused else "start the guest", lambda: power.start(ref.dom(), paused=paused)
        )
        return
    if wanted == RESTARTED and not ref.dom().isPersistent():
        raise ValidationError(
            [(ref.at("state"), f"guest {ref.name} is transient: shut down, it would be gone; state: reset restarts it")]
        )
    if wanted == RESTARTED:
        plan.add(
            f"restart the guest (graceful shutdown, {_shutdown_words(timeout, force)}, then start)",
            lambda: power.restart(ref.dom(), timeout, force, "state: restarted"),
        )
        plan.reboot_required = []
        plan.diff.add("restarted", False, True, CONTROL)
        return
    if not force:
        raise NeedsOption(
            f"{plan.path + '.' if plan.path else ''}state: reset cuts the power of guest {ref.name} at once (what it "
            "has not written to its disks is lost)",
            "force",
        )
    plan.add("reset the guest (at once, as its reset button does: no shutdown)", lambda: power.reset(ref.dom()))
    plan.diff.add("reset", False, True, CONTROL)


def _carried(dom: Any) -> int:
    """How many snapshots an interrupted move left recorded on the guest (not defined in libvirt yet)."""
    return len(gx.meta_children(ET.fromstring(dom.XMLDesc(0)), gx.CARRIED_SNAPSHOT))


def plan_recreate_teardown(plan: GuestPlan, ref: GuestRef, dom: Any, want: dict[str, Any]) -> bool:
    """Shut down (gracefully; ``force`` allows a power-off) and undefine, keeping the volumes; whether the
    guest was running (the definition that follows is then started again)."""
    timeout, force = want["shutdown_timeout"], want["force"]
    if _carried(dom):
        raise KvmFleetError(
            f"guest {ref.name} holds {_carried(dom)} snapshot(s) an interrupted move recorded but did not define "
            "again; recreating it would lose them: run that move again (kvmfleet.kvm.migrate) first",
            guest=ref.name,
        )
    was_active = bool(dom.isActive())
    if was_active:
        plan.add(
            f"shut the guest down to recreate it (wait up to {timeout} s)",
            lambda: power.shutdown(ref.dom(), timeout, force, "recreate: true"),
        )
    plan.add("undefine the guest to recreate it (its volumes are kept)", lambda: power.undefine(ref.dom()))
    return was_active


def plan_removal(plan: GuestPlan, ref: GuestRef, dom: Any, want: dict[str, Any]) -> None:
    timeout, force = want["shutdown_timeout"], want["force"]
    snapshots = int(dom.snapshotNum(0)) + _carried(dom)  # also those a move recorded and did not define yet
    if snapshots and not want["remove_snapshots"]:
        raise NeedsOption(
            f"guest {ref.name} has {snapshots} snapshot(s); removing it deletes them (their metadata, and with "
            "remove_volumes the images that hold them)",
            "remove_snapshots",
        )
    plan.diff.add("state", plan.before_state, power.ABSENT, CONTROL)
    if dom.isActive():
        plan.add(
            f"shut the guest down ({_shutdown_words(timeout, force)})",
            lambda: ref.if_defined(lambda dom: power.shutdown(dom, timeout, force, "state: absent")),
        )
    persistent = dom.isPersistent()
    volumes = guest_volumes(ref, dom) if want["remove_volumes"] and persistent else []
    # the volumes go before the definition that names them: a run killed in between leaves a guest
    # the rerun removes with whatever volumes are left, never a volume of no guest
    for pool_name, vol_name in volumes:
        plan.add(
            f"delete volume {vol_name} from pool {pool_name}",
            lambda p=pool_name, v=vol_name: _delete_volume(ref, p, v),
        )
    if persistent:
        plan.add(
            "undefine the guest (with its UEFI nvram and snapshot metadata)", lambda: ref.if_defined(power.undefine)
        )
    if volumes:
        plan.diff.add("volumes", [f"{p}/{v}" for p, v in volumes], None, CONTROL)


def _delete_volume(ref: GuestRef, pool_name: str, vol_name: str) -> None:
    """Delete a volume of the guest; one that is gone by now is done."""
    pool = _storage.find_pool(ref.conn, pool_name)
    vol = _storage.find_volume(pool, vol_name) if pool is not None else None
    if vol is not None:
        vol.delete(0)


def guest_volumes(ref: GuestRef, dom: Any) -> list[tuple[str, str]]:
    """The pool volumes a guest writes to (and its cloud-init seed); shared read-only media are kept."""
    lv = require_libvirt()
    root = ET.fromstring(dom.XMLDesc(lv.VIR_DOMAIN_XML_INACTIVE))
    seed_target = gx.read_meta(root, SEED_META)
    found: list[tuple[str, str]] = []
    for disk in gx.read_disks(root):
        if disk["target"] != seed_target and (disk["readonly"] or disk["device"] == "cdrom"):
            continue
        if disk["volume"]:
            found.append((disk["pool"], disk["volume"]))
        elif disk["path"]:
            try:
                vol = ref.conn.storageVolLookupByPath(disk["path"])
            except lv.libvirtError:
                continue
            found.append((vol.storagePoolLookupByVolume().name(), vol.name()))
    return found
