# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Power state of a guest: read it, and change it with calls that block until done."""

from __future__ import annotations

import time
from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import NeedsOption
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


def shutdown(dom: Any, timeout: int, force: bool, why: str) -> None:
    """Shut ``dom`` down gracefully (ACPI, then guest agent) and wait until it is off.

    After ``timeout`` seconds, power it off if ``force``; otherwise fail saying which option allows it.
    """
    lv = require_libvirt()
    deadline = time.monotonic() + timeout
    if dom.isActive():
        if power_state(dom) == PAUSED:
            dom.resume()
        try:
            dom.shutdownFlags(lv.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN | lv.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT)
        except lv.libvirtError:
            dom.shutdown()
    while dom.isActive() and time.monotonic() < deadline:
        time.sleep(0.2)
    if not dom.isActive():
        return
    if not force:
        raise NeedsOption(
            f"guest {dom.name()} did not shut down within {timeout} s ({why}); a forced power-off would be needed",
            "force: true",
        )
    dom.destroy()


def start(dom: Any, paused: bool = False) -> None:
    lv = require_libvirt()
    dom.createWithFlags(lv.VIR_DOMAIN_START_PAUSED if paused else 0)


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
