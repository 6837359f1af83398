# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hypervisor module's entry: plan the fleet record's changes, write them, report the record."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor import record as rec
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.options import HYPERVISOR_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import differs
from ansible_collections.kvmfleet.kvm.plugins.module_utils._plan import Plan
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_entry

MiB = 1024 * 1024


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def plan_record(conn: Any, values: dict[str, Any]) -> tuple[Plan, rec.Record]:
    """The plan that makes the record match ``values`` (unset values are kept) and the record after it.

    The diff names each field that changes; the maintenance mark shows as true/false and its reason
    (its start time is kept while the mark stays, so a rerun changes nothing).
    """
    before, _stored = rec.read(conn)
    after = copy.deepcopy(before)
    plan = Plan("hypervisor", conn.getHostname())
    wanted = {
        "labels": values.get("labels"),
        "reserved_memory_mib": None if values.get("reserved_memory") is None else values["reserved_memory"] // MiB,
        "memory_overcommit": values.get("memory_overcommit"),
        "vcpu_overcommit": values.get("vcpu_overcommit"),
    }
    for key, value in wanted.items():
        if differs(value, getattr(before, key)):
            plan.diff.add(key, getattr(before, key), value)
            setattr(after, key, value)
    maintenance: Optional[bool] = values.get("maintenance")
    if maintenance is True:
        current = before.maintenance["reason"] if before.maintenance else None
        reason = values["maintenance_reason"] if values.get("maintenance_reason") is not None else current or ""
        if before.maintenance is None:
            after.maintenance = {"since": now(), "reason": reason}
            plan.diff.add("maintenance", False, True)
            if reason:
                plan.diff.add("maintenance_reason", None, reason)
        elif reason != current:
            after.maintenance = {"since": before.maintenance["since"], "reason": reason}
            plan.diff.add("maintenance_reason", current or None, reason or None)
    elif maintenance is False and before.maintenance is not None:
        after.maintenance = None
        plan.diff.add("maintenance", True, False)
    if plan.diff:
        changed = ", ".join(change.path for change in plan.diff.changes)
        plan.add(f"write the hypervisor's fleet record ({changed})", lambda: rec.write(conn, after))
    return plan, after


def _hypervisor(conn: Any, invocation: Any) -> dict[str, Any]:
    plan, after = plan_record(conn, invocation.values)
    if not invocation.check_mode:
        plan.execute()
    return plan.result(record=after.as_dict())


HYPERVISOR_ENTRY = Entry(HYPERVISOR_MODULE, _hypervisor)


def run_hypervisor_module() -> None:
    run_entry(HYPERVISOR_ENTRY)
