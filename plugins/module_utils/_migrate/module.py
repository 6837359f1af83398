# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The migrate module's entry: connect to the destination, plan the move, run it unless in check mode."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import ConnectionFailed, KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect, is_local_uri
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import preflight as pf
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.move import execute_move, plan_move
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.options import MIGRATE_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_entry


def result_of(move: Any, check_mode: bool, outcome: dict[str, Any] | None) -> dict[str, Any]:
    """The task result of one move (also each guest's entry in the drain's result)."""
    where = move.dest.name if move.changed or move.guest is None else move.source.name
    result: dict[str, Any] = {
        "changed": move.changed,
        "name": move.name,
        "source": move.source.name,
        "destination": move.dest.name,
        "hypervisor": where,
        "actions": move.actions,
        "reasons": [reason.as_dict() for reason in move.reasons],
        "diff": {
            "before": {"hypervisor": move.source.name} if move.changed else {},
            "after": {"hypervisor": move.dest.name} if move.changed else {},
            "before_header": f"guest {move.name}",
            "after_header": f"guest {move.name}",
        },
    }
    if move.changed and move.guest is None:  # on the destination already: only its snapshots are defined there
        result["diff"].update(before={"snapshots": []}, after={"snapshots": move.snapshots})
    if move.changed and move.guest is not None:
        result["budget_s"] = round(move.budget)
    if outcome is not None and not check_mode:
        result.update(outcome)
    return result


def connect_destination(uri: str, field: str) -> Any:
    """A connection to a destination; one that cannot be reached fails naming the field that gave it."""
    try:
        return connect(uri)
    except ConnectionFailed as exc:
        raise KvmFleetError(f"{field}: {exc.msg}", uri=uri) from exc


def _migrate(conn: Any, invocation: Any) -> dict[str, Any]:
    values = invocation.values
    uri = invocation.params["uri"]
    dest_conn = connect_destination(values["dest_uri"], "dest_uri")
    try:
        source = pf.read_host(conn, uri, local=is_local_uri(uri))
        dest = pf.read_host(dest_conn, values["dest_uri"], local=is_local_uri(values["dest_uri"]))
        move = plan_move(
            conn,
            dest_conn,
            source,
            dest,
            name=values["name"],
            values=values,
            peer_uri=values["peer_uri"],
            migrate_uri=values["migrate_uri"],
        )
        outcome = None
        if move.changed and not invocation.check_mode:
            outcome = execute_move(move, conn, dest_conn, getattr(invocation, "progress", None))
        result = result_of(move, invocation.check_mode, outcome)
        for warning in result.pop("warnings", None) or [r.line() for r in move.reasons if not r.blocking]:
            invocation.warn(warning)
        return result
    finally:
        dest_conn.close()


MIGRATE_ENTRY = Entry(MIGRATE_MODULE, _migrate)


def run_migrate_module() -> None:
    run_entry(MIGRATE_ENTRY)
