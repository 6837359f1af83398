# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pool module's entry: the option table in, converge, the pool's result out."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import join_path
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.options import POOL_MODULE, POOLS_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.plan import PoolPlanner, converge
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_entry


def _pool(conn: Any, invocation: Any) -> dict[str, Any]:
    values = {key: value for key, value in invocation.values.items() if key != "uri"}
    return converge(conn, invocation.params["uri"], values, invocation.check_mode)


POOL_ENTRY = Entry(POOL_MODULE, _pool)


def run_pool_module() -> None:
    run_entry(POOL_ENTRY)


def _pools(conn: Any, invocation: Any) -> dict[str, Any]:
    """Plan every pool first (any problem: nothing is touched), then apply the plans in list order."""
    planners: list[PoolPlanner] = []
    problems: list[tuple[str, str]] = []
    for index, values in enumerate(invocation.values["pools"]):
        planner = PoolPlanner(conn, invocation.params["uri"], values)
        try:
            planner.make()
        except ValidationError as exc:
            problems.extend((join_path(f"pools[{index}]", path), message) for path, message in exc.problems)
        planners.append(planner)
    if problems:
        raise ValidationError(problems)
    if not invocation.check_mode:
        for planner in planners:
            planner.plan.execute()
    results = [planner.plan.result(state=planner.after_state) for planner in planners]
    return {
        "changed": any(result["changed"] for result in results),
        "pools": results,
        "actions": [f"{result['name']}: {action}" for result in results for action in result["actions"]],
        "diff": [result["diff"] for result in results if result["changed"]],
    }


POOLS_ENTRY = Entry(POOLS_MODULE, _pools)


def run_pools_module() -> None:
    run_entry(POOLS_ENTRY)
