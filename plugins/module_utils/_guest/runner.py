# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Converge guests: plan every guest first (nothing is touched if any plan fails), then execute."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._address import wait_all
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import (
    ChangedUnderRun,
    KvmFleetError,
    NeedsOption,
    ValidationError,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import lifecycle, power
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.plan import GuestPlan, GuestPlanner, HostContext
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import find, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._locks import turns

MAX_PARALLEL = 4


def plan_all(conn: Any, uri: str, guests: list[tuple[str, dict[str, Any]]]) -> list[GuestPlan]:
    """Plans for ``(field path, validated values)`` pairs; all problems of all guests at once.

    Every guest is planned, also after one failed: invalid values and changes that need an option
    (``recreate``, ``force``) are reported together, each with its guest's field path, before
    anything is touched.
    """
    host = HostContext(conn, uri)
    plans: list[GuestPlan] = []
    problems: list[tuple[str, str]] = []
    needs: list[NeedsOption] = []
    names: dict[str, str] = {}
    for path, values in guests:
        if values["name"] in names:
            problems.append(
                (f"{path}.name" if path else "name", f"{values['name']} is also the name of {names[values['name']]}")
            )
            continue
        names[values["name"]] = path or "the guest"
        try:
            plans.append(GuestPlanner(host, values, path).plan())
        except ValidationError as exc:
            problems.extend(exc.problems)
        except NeedsOption as exc:  # its message starts with the field path
            problems.append(("", exc.msg))
            needs.append(exc)
    if len(problems) == 1 and len(needs) == 1:
        raise needs[0]
    if needs:
        error = ValidationError(problems)
        raise KvmFleetError(
            error.msg, errors=error.details["errors"], needs_option=", ".join(sorted({n.option for n in needs}))
        )
    if problems:
        raise ValidationError(problems)
    return plans


def execute(plan: GuestPlan) -> None:
    plan.execute()


def final_state(conn: Any, plan: GuestPlan, check_mode: bool) -> str:
    if check_mode:
        if plan.desired_state == "present":
            return power.STOPPED if plan.before_state == power.ABSENT else plan.before_state
        if plan.desired_state in (lifecycle.RESTARTED, lifecycle.RESET):
            return power.PAUSED if plan.before_state == power.PAUSED else power.RUNNING
        return plan.desired_state
    dom = find(conn.lookupByName, plan.name)
    return power.ABSENT if dom is None else power.power_state(dom)


def converge(conn: Any, uri: str, guests: list[tuple[str, dict[str, Any]]], check_mode: bool) -> list[dict[str, Any]]:
    """Plan all guests, execute the plans (unless check mode) and return one result per guest.

    Plans run concurrently, a few at a time: each touches only its own guest and volumes, libvirt
    connections are thread-safe and the binding releases the GIL during calls, so N guest starts cost
    little more than the slowest one. A real run holds each guest's lock (``_locks``) from its plan to
    its last action: another run on this machine that changes the same guest waits its turn, then plans
    from what this one left.
    """
    lv = require_libvirt()
    failures: dict[str, KvmFleetError] = {}
    names = [values["name"] for _path, values in guests]
    with contextlib.nullcontext() if check_mode else turns(uri, "guest", names):
        plans = plan_all(conn, uri, guests)
        busy = [] if check_mode else [plan for plan in plans if plan.actions]
        if len(busy) == 1:
            execute(busy[0])
        elif busy:
            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(busy))) as pool:
                futures = {pool.submit(execute, plan): plan for plan in busy}
                for future, plan in futures.items():
                    error = future.exception()
                    if isinstance(error, KvmFleetError):
                        failures[plan.name] = error
                    elif error is not None:
                        raise error
    results = []
    for (_path, values), plan in zip(guests, plans):
        xml = None
        if values.get("return_xml") and plan.name not in failures and plan.desired_state != power.ABSENT:
            if check_mode and plan.definition is not None:  # what would be written
                xml = plan.definition
            else:  # what is defined (in check mode: unchanged)
                xml = conn.lookupByName(plan.name).XMLDesc(lv.VIR_DOMAIN_XML_INACTIVE)
        results.append(plan.outcome(final_state(conn, plan, check_mode), xml))
    if not check_mode:  # every guest with ``wait`` that runs now, all at the same time
        waits = {
            result["name"]: values["wait"]
            for (_path, values), result in zip(guests, results)
            if values.get("wait") is not None and result["state"] == power.RUNNING and result["name"] not in failures
        }
        found, timeouts = wait_all(conn, waits)
        for result in results:
            result.update(found.get(result["name"], {}))
        failures.update(timeouts)
    if failures:
        # only guests another run made meanwhile: the whole task plans again (see _runner.connected)
        stale = all(isinstance(error, ChangedUnderRun) for error in failures.values())
        failure = (ChangedUnderRun if stale else KvmFleetError)(
            "; ".join(error.msg for error in failures.values()), guests=results, failed_guests=sorted(failures)
        )
        failure.executed = bool(busy)  # every busy plan was executed (a wait that timed out came after)
        raise failure
    return results
