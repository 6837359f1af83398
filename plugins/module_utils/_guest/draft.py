# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What planning one guest builds: the plan, and for a defined guest the draft of its update.

``GuestPlan`` is the engine's plan (``_plan.Plan``: actions, diff, run through one loop) with what a guest
adds: its power states, the fields that wait for a reboot, the definition that would be written. A ``Draft``
is an update in the making: the plan, the guest as read, and the patches of its persistent definition, which
become one redefine at the end (``finish``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.field import LiveMeta
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.power import ABSENT
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.read import GuestRead, GuestRef
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import define_domain, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._plan import Plan

# buses QEMU can hot-plug a disk on; a disk on any other bus (sata, ide, fdc) is added or removed in the
# persistent definition only and reaches a running guest at its next boot
HOTPLUG_BUSES = ("virtio", "scsi", "usb")


@dataclass
class GuestPlan(Plan):
    path: str = ""
    desired_state: str = "present"
    before_state: str = ABSENT
    reboot_required: list[str] = field(default_factory=list)
    definition: Optional[str] = None  # the persistent definition a real run writes (shown in check mode)
    power_from: Optional[str] = None  # the power state when the power step runs, if not before_state
    settled: Optional[str] = None  # what the plan waited for before reading the guest (a transient state)

    @property
    def header(self) -> str:
        return self.name

    @property
    def details(self) -> dict[str, Any]:
        return {"guest": self.name}

    def outcome(self, after_state: str, xml: Optional[str] = None) -> dict[str, Any]:
        """The guest's result: the plan's, with its state and what waits for a reboot."""
        result = self.result(
            state=after_state,
            reboot_required=bool(self.reboot_required),
            reboot_required_fields=sorted(set(self.reboot_required)),
        )
        if xml is not None:
            result["xml"] = xml
        if self.settled is not None:
            result["settled"] = self.settled
        if self.warnings:
            result["warnings"] = list(self.warnings)
        return result


Patch = Callable[[ET.Element], None]


@dataclass
class Draft:
    """An update of one defined guest being planned."""

    plan: GuestPlan
    ref: GuestRef
    read: GuestRead
    patches: list[tuple[str, Patch]] = field(default_factory=list)
    validate: bool = False  # define with libvirt's schema check (a patch of XML the typed options did not make)
    kept: Callable[[str], list[str]] = lambda _xml: []  # what the definition written did not keep (warnings)

    def __post_init__(self) -> None:
        self.live_meta = LiveMeta(self.read.live_root)

    @property
    def running(self) -> bool:
        return self.read.running

    def patch(self, name: str, change: Patch) -> None:
        """Change ``name`` in the persistent definition (with the other patches, in one redefine)."""
        self.patches.append((name, change))

    def reboot(self, name: str) -> None:
        self.plan.reboot_required.append(name)

    def hotplug(self, bus: Optional[str]) -> bool:
        """Whether a disk on ``bus`` is attached and detached live (True also for a guest that is off)."""
        return not self.running or bus in HOTPLUG_BUSES

    def device_call(self, kind: str, xml: str, hotplug: bool = True) -> Callable[[], None]:
        """An attach/detach/update of a device: the persistent definition, and the running guest where the
        device hot-plugs."""
        lv = require_libvirt()
        flags = lv.VIR_DOMAIN_AFFECT_CONFIG | (lv.VIR_DOMAIN_AFFECT_LIVE if self.running and hotplug else 0)

        def call() -> None:
            dom = self.ref.dom()
            method = {"attach": dom.attachDeviceFlags, "detach": dom.detachDeviceFlags, "update": dom.updateDeviceFlags}
            method[kind](xml, flags)

        return call

    def next_boot_note(self, to: str = "to") -> str:
        return f" {to} the persistent definition (the running guest follows at its next boot)" if self.running else ""

    def finish(self) -> None:
        """One redefine with every patch, on the definition as libvirt has it when the action runs (after
        the device calls before it); the definition shown is the planned one after the patches."""
        if not self.patches:
            return
        patches = [change for _name, change in self.patches]
        names = ", ".join(sorted({name for name, _change in self.patches}))
        ref, validate, kept, plan = self.ref, self.validate, self.kept, self.plan

        def redefine() -> None:
            lv = require_libvirt()
            root = ET.fromstring(ref.dom().XMLDesc(lv.VIR_DOMAIN_XML_INACTIVE | lv.VIR_DOMAIN_XML_SECURE))
            for change in patches:
                change(root)
            define_domain(ref.conn, gx.to_string(root), validate)
            if validate:  # XML patches: whether libvirt kept them (a default it puts back makes one never settle)
                plan.warnings.extend(kept(ref.dom().XMLDesc(lv.VIR_DOMAIN_XML_INACTIVE)))

        self.plan.add(f"update the persistent definition: {names}", redefine)
        self.plan.definition = self.read.shown(patches)
