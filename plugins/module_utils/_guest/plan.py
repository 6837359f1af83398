# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plan a guest: desired state vs. what libvirt has, classified differences, ordered actions.

A plan is made the same way in check mode and in a real run; only ``execute`` is skipped in check
mode, so ``changed``, the diff and the actions are the same in both.

For a defined guest, the desired values are compared with its persistent definition (what the next
boot uses) and, when it runs, with its live definition, both read once (``GuestRead``):
- a live-capable difference on a running guest becomes a live call *and* is persisted;
- any other difference is persisted; if the guest runs, it is reported in ``reboot_required`` and the
  guest is restarted only with ``restart: if_needed``;
- a difference that cannot be made in place fails, naming the option that allows recreating.

The parts: ``storage`` (volumes, seed), ``definition`` (every bound option, a new definition),
``devices`` (disks, NICs), ``lifecycle`` (power, recreation, removal).
"""

from __future__ import annotations

import copy
from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import (
    definition,
    devices,
    lifecycle,
    patches,
    power,
    storage,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.devices import derived_mac
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.draft import Draft, GuestPlan
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.bindings import BINDINGS
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.read import GuestRead, GuestRef, HostContext, live_xml
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import CONTROL, Problem

__all__ = ["GuestPlan", "GuestPlanner", "HostContext", "derived_mac"]


class GuestPlanner:
    """Plans one guest. ``desired`` is the guest table's validated output (left as it is); ``path``
    prefixes error paths."""

    def __init__(self, host: HostContext, desired: dict[str, Any], path: str = "") -> None:
        self.host = host
        self.want = copy.deepcopy(desired)
        self.ref = GuestRef(host.conn, desired["name"], path)

    def plan(self) -> GuestPlan:
        want, ref = self.want, self.ref
        dom = ref.lookup()
        settled = None
        xml = None
        if dom is not None:  # a guest libvirt is still starting, saving, shutting down: plan from where it ends
            xml = live_xml(dom)
            settled = power.settle(dom, want["shutdown_timeout"], xml)
            if settled:
                dom, xml = ref.lookup(), None
        before = power.power_state(dom) if dom is not None else power.ABSENT
        plan = GuestPlan("guest", ref.name, path=ref.path, desired_state=want["state"], before_state=before)
        plan.settled = settled
        if want["state"] == power.ABSENT:
            if dom is not None:
                lifecycle.plan_removal(plan, ref, dom, want)
            return plan
        problems: list[Problem] = []
        storage.complete(ref.name, want["disks"] or [])
        store = storage.plan_volumes(plan, ref, self.host, want["disks"] or [], problems)
        devices.check_networks(ref, self.host, want["interfaces"] or [], problems)
        if want["cloud_init"] is not None:
            store.seed = storage.plan_seed(ref, self.host, want["cloud_init"], want["disks"] or [], problems)
        if want["xml_patches"]:
            typed = patches.typed_paths(want, ref.name, BINDINGS, self._resolved)
            problems.extend(patches.conflicts(want["xml_patches"], typed, ref.at))
        if problems:
            raise ValidationError(problems)
        if dom is None:
            definition.plan_create(plan, ref, self.host, want, store)
        else:
            read = GuestRead(dom, xml)
            if definition.impossible_changes(plan, ref, want, read):
                self._recreate(plan, dom, store)
            else:
                self._update(plan, read, store)
        lifecycle.plan_power(plan, ref, want)
        return plan

    def _update(self, plan: GuestPlan, read: GuestRead, store: storage.Storage) -> None:
        want = self.want
        draft = Draft(plan, self.ref, read)
        definition.compare_fields(draft, want, self.host)
        if want["disks"] is not None:
            devices.compare_disks(draft, want["disks"], store)
        if want["interfaces"] is not None:
            devices.compare_interfaces(draft, want["interfaces"])
        if store.seed is not None:
            storage.compare_seed(draft, store.seed)
        if want["xml_patches"]:
            patches.compare(draft, want["xml_patches"])
        draft.finish()

    def _resolved(self, name: str, value: Any) -> Any:
        """An option's value as meant on this hypervisor (``virt_type: auto``...)."""
        field = BINDINGS[name]
        return field.resolve(self.host, value) if field.resolve is not None else value

    def _recreate(self, plan: GuestPlan, dom: Any, store: storage.Storage) -> None:
        """Tear down keeping the volumes, define anew, restore power."""
        ref, want = self.ref, self.want
        was_active = lifecycle.plan_recreate_teardown(plan, ref, dom, want)
        kept = list(plan.diff.changes)
        definition.plan_create(plan, ref, self.host, want, store)
        plan.diff.changes = [*kept, *[c for c in plan.diff.changes if c.path == "recreated"]]
        plan.diff.add("recreated", False, True, CONTROL)
        if was_active and want["state"] == "present":
            paused = plan.before_state == power.PAUSED
            plan.add("start the guest again", lambda: power.start(ref.dom(), paused=paused))
        plan.power_from = power.STOPPED
