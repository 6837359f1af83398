# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report's judgements, from what was read of every hypervisor (pure: no libvirt call).

- **placement** of the fleet's declared guests (``placement``), as the guests role would place them:
  a guest that exists stays where it is, a new one goes where ``_fleet.placement`` puts it;
- **migratability** (``migrations``): every guest of a hypervisor checked against every other one by the
  migration's own pre-flight check (``_migrate.preflight.check``: its stable codes, messages and fixes);
  a running guest as a live migration on shared storage, as a drain moves it, a stopped one as a move of
  its definition;
- **headroom** (``headroom``): for each hypervisor, whether the others could take its running guests if
  it were drained - placement's rules (labels, anti-affinity, capacity, maintenance) with the pre-flight
  check's refusals, as the drain decides - and which guests would not fit; the largest hypervisor's is
  the fleet's N+1 verdict;
- **the guests' rows** (``rows``): each guest with where it is declared, its drift (the check-mode plan
  of its declaration), its migratability and one status; the guests declared nowhere, the declared ones
  that do not exist, those defined on two hypervisors;
- **the summary** (``summarise``): counts, the worst items first, and the findings a later report is
  compared with.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet import placement as pl
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.drain import place_moves, requirements, space_of
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.module import demand_of
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import preflight as pf
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.options import SHARED
from ansible_collections.kvmfleet.kvm.plugins.module_utils._report.read import Scan

# a guest's status, worst first (the order of the summary and of the page's default sort)
STATUSES = ("duplicate", "error", "missing", "unknown", "elsewhere", "drifted", "undeclared", "in_sync")
CpuCheck = Callable[[pf.Guest, Scan], Optional[str]]
Declared = tuple[str, dict[str, Any]]  # (field path, validated values)


@dataclass
class Placed:
    """Where the fleet's declared guests are or would go."""

    hosts: dict[str, str] = field(default_factory=dict)  # guest -> hypervisor (where it is, or would be made)
    new: set[str] = field(default_factory=set)  # guests placement would create
    refused: dict[str, dict[str, str]] = field(default_factory=dict)  # guest -> hypervisor -> why not
    warnings: list[str] = field(default_factory=list)


def placement(scans: list[Scan], fleet: list[Declared], groups: list[pl.Group], strategy: str) -> Placed:
    """The guests role's placement of the fleet's guests over the hypervisors that answered."""
    reachable = [scan for scan in scans if scan.reachable]
    spaces = [space_of(scan.name, scan.host) for scan in reachable if scan.host is not None]
    result, refused, _doubles = pl.arrange(spaces, [demand_of(values) for _path, values in fleet], groups, strategy)
    placed = Placed(refused=refused, warnings=list(result.warnings))
    for decision in result.decisions:
        placed.hosts[decision.guest] = decision.hypervisor
        if not decision.existing:
            placed.new.add(decision.guest)
    return placed


@dataclass
class Movable:
    """Where one guest could move: the destinations that pass the pre-flight check, and why the others do not."""

    live: bool
    destinations: list[str] = field(default_factory=list)
    refusals: dict[str, list[pf.Reason]] = field(default_factory=dict)  # destination -> blocking reasons
    warnings: list[pf.Reason] = field(default_factory=list)
    checked: dict[str, list[pf.Reason]] = field(default_factory=dict)  # destination -> every reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "live": self.live,
            "movable": bool(self.destinations),
            "destinations": self.destinations,
            "codes": sorted({reason.code for reasons in self.refusals.values() for reason in reasons}),
            "refusals": {
                host: [reason.as_dict() for reason in reasons] for host, reasons in sorted(self.refusals.items())
            },
            "warnings": _unique([reason.as_dict() for reason in self.warnings]),
        }


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def migrations(scans: list[Scan], cpu: CpuCheck) -> dict[tuple[str, str], Movable]:
    """(hypervisor, guest) -> where the guest could move, for every guest of every hypervisor that answered."""
    reachable = [scan for scan in scans if scan.reachable]
    found: dict[tuple[str, str], Movable] = {}
    for source in reachable:
        for name, seen in source.guests.items():
            guest = seen.guest
            movable = Movable(live=guest.running)
            for dest in reachable:
                if dest is source or source.host is None or dest.host is None:
                    continue
                reasons = pf.check(
                    guest,
                    source.host,
                    dest.host,
                    storage=SHARED,
                    offline=not guest.running,
                    cpu_incompatible=cpu(guest, dest) if guest.running else None,
                )
                movable.checked[dest.name] = reasons
                blocking = [reason for reason in reasons if reason.blocking]
                movable.warnings.extend(reason for reason in reasons if not reason.blocking)
                if blocking:
                    movable.refusals[dest.name] = blocking
                else:
                    movable.destinations.append(dest.name)
            found[(source.name, name)] = movable
    return found


def headroom(
    scans: list[Scan],
    moves: dict[tuple[str, str], Movable],
    fleet: list[Declared],
    groups: list[pl.Group],
    strategy: str,
) -> dict[str, dict[str, Any]]:
    """For each hypervisor that answered: could the others take its running guests if it were drained?"""
    reachable = [scan for scan in scans if scan.reachable]
    requires = requirements([values for _path, values in fleet])
    verdicts: dict[str, dict[str, Any]] = {}
    for source in reachable:
        if source.host is None:
            continue
        vcpus = {figure["name"]: figure["vcpus"] for figure in source.host.guests}
        demands = [
            pl.Demand(name, seen.guest.memory_mib, vcpus.get(name, seen.guest.vcpus), requires.get(name, frozenset()))
            for name, seen in sorted(source.guests.items())
            if seen.guest.running
        ]
        targets = [scan for scan in reachable if scan is not source and scan.host is not None]
        checked = {
            (name, dest): reasons
            for (host, name), movable in moves.items()
            if host == source.name
            for dest, reasons in movable.checked.items()
        }
        placed, refused = place_moves(
            demands, [space_of(dest.name, dest.host) for dest in targets if dest.host], groups, strategy, checked
        )
        verdicts[source.name] = {
            "guests_to_move": len(demands),
            "memory_to_move_mib": sum(demand.memory for demand in demands),
            "fits": not refused,
            "placed": {demand.name: dest for demand, dest, _why in placed},
            "unplaced": [
                {"name": name, "refusals": dict(sorted(why.items()))} for name, why in sorted(refused.items())
            ],
            "destinations": [dest.name for dest in targets],
        }
    return verdicts


def largest(scans: list[Scan]) -> Optional[Scan]:
    """The hypervisor whose loss weighs most: the most memory, then the most committed to guests."""
    reachable = [scan for scan in scans if scan.reachable and scan.host is not None]
    if not reachable:
        return None
    return max(
        reachable,
        key=lambda scan: (
            scan.facts.get("memory_mib", 0),
            scan.host.capacity.get("committed_memory_mib", 0) if scan.host else 0,
            scan.name,
        ),
    )


# ---------------------------------------------------------------------------------------------- the rows


@dataclass
class Declaration:
    """Where a guest is declared: a hypervisor's own list, or the fleet's list (``hypervisor`` None)."""

    path: str
    values: dict[str, Any]
    hypervisor: Optional[str]

    @property
    def by(self) -> str:
        return "fleet" if self.hypervisor is None else "hypervisor"


def _row(name: str, hypervisor: Optional[str], facts: Optional[dict[str, Any]]) -> dict[str, Any]:
    facts = facts or {}
    return {
        "name": name,
        "hypervisor": hypervisor,
        "uuid": facts.get("uuid"),
        "state": facts.get("state", "absent"),
        "vcpus": facts.get("vcpus"),
        "memory_mib": facts.get("memory_mib"),
        "tags": facts.get("tags") or [],
        "address": facts.get("address"),
        "declared": None,
        "status": "in_sync",
        "drift": None,
        "migration": None,
        "notes": [],
    }


def _declared(row: dict[str, Any], declaration: Declaration, drift: Optional[dict[str, Any]]) -> None:
    row["declared"] = {"by": declaration.by, "hypervisor": declaration.hypervisor, "path": declaration.path}
    row["drift"] = drift
    if drift is None:
        return
    if drift.get("error"):
        row["status"] = "error"
    elif drift.get("changed"):
        row["status"] = "drifted"


def rows(
    scans: list[Scan],
    declarations: dict[str, Declaration],
    drifts: dict[tuple[str, str], dict[str, Any]],
    placed: Placed,
    moves: dict[tuple[str, str], Movable],
) -> list[dict[str, Any]]:
    """One row per guest defined on a hypervisor that answered, and one per declared guest that is not."""
    unreachable = [scan.name for scan in scans if not scan.reachable]
    where: dict[str, list[str]] = {}
    uuids: dict[str, list[str]] = {}
    for scan in scans:
        for name, seen in scan.guests.items():
            where.setdefault(name, []).append(scan.name)
            uuids.setdefault(seen.guest.uuid, []).append(scan.name)
    found: list[dict[str, Any]] = []
    for scan in scans:
        if not scan.reachable:
            continue
        for name, seen in sorted(scan.guests.items()):
            row = _row(name, scan.name, seen.info)
            movable = moves.get((scan.name, name))
            row["migration"] = movable.as_dict() if movable is not None else None
            declaration = declarations.get(name)
            if declaration is not None:
                home = declaration.hypervisor or placed.hosts.get(name)
                _declared(row, declaration, drifts.get((home or "", name)))
                if home != scan.name:
                    row["status"] = "elsewhere"
                    row["notes"].append(
                        f"declared for {home}, defined on {scan.name}: a run of the guests role on {home} would "
                        "define a second guest of this name there; move it back (kvmfleet.kvm.migrate, "
                        "playbooks/undrain.yml) or declare it where it is"
                    )
            else:
                row["status"] = "undeclared"
                row["notes"].append("declared in no guest list of the fleet")
            if len(where[name]) > 1:
                row["status"] = "duplicate"
                twice = " and ".join(where[name])
                row["notes"].append(f"defined on {twice}: undefine all but one")
            elif len(uuids.get(seen.guest.uuid, [])) > 1:
                row["status"] = "duplicate"
                row["notes"].append(f"its UUID {seen.guest.uuid} is also a guest's on another hypervisor")
            found.append(row)
    for name, declaration in sorted(declarations.items()):
        if name in where:
            continue
        home = declaration.hypervisor or placed.hosts.get(name)
        drift = drifts.get((home or "", name))
        if drift is not None and not drift.get("changed") and not drift.get("error"):
            continue  # declared absent, and absent
        row = _row(name, home, None)
        _declared(row, declaration, drift)
        if row["status"] != "error":
            row["status"] = "unknown" if unreachable else "missing"
        if unreachable:
            row["notes"].append(f"not found on the hypervisors that answered; not read: {', '.join(unreachable)}")
        if home is None:
            refusals = placed.refused.get(name, {})
            row["notes"].append(
                "fits on no hypervisor: " + "; ".join(f"{host}: {why}" for host, why in sorted(refusals.items()))
                if refusals
                else "no hypervisor answered to place it on"
            )
        else:
            row["notes"].append(f"the guests role would create it on {home}")
        found.append(row)
    return found


def duplicates(scans: list[Scan]) -> list[dict[str, Any]]:
    """Guests defined on more than one hypervisor, by name or by UUID."""
    by_name: dict[str, list[str]] = {}
    by_uuid: dict[str, list[tuple[str, str]]] = {}
    for scan in scans:
        for name, seen in scan.guests.items():
            by_name.setdefault(name, []).append(scan.name)
            by_uuid.setdefault(seen.guest.uuid, []).append((scan.name, name))
    found = [
        {"name": name, "hypervisors": hosts, "by": "name"} for name, hosts in sorted(by_name.items()) if len(hosts) > 1
    ]
    for _uuid, places in sorted(by_uuid.items()):
        names = sorted({name for _host, name in places})
        if len(places) > 1 and len(names) > 1:  # the same UUID under other names (the same name: listed above)
            found.append({"name": ", ".join(names), "hypervisors": [host for host, _name in places], "by": "uuid"})
    return found


# ---------------------------------------------------------------------------------------------- the summary


def _at(row: dict[str, Any]) -> str:
    return f"{row['name']}@{row['hypervisor']}" if row["hypervisor"] else row["name"]


def _listed(items: list[str], most: int = 8) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def _what_differs(row: dict[str, Any]) -> str:
    diff = (row.get("drift") or {}).get("diff") or {}
    return ", ".join(sorted(set(diff.get("before", {})) | set(diff.get("after", {})))) or "power state"


def _why_stuck(row: dict[str, Any]) -> str:
    return ", ".join(row["migration"]["codes"]) or "no other hypervisor"


def summarise(
    hypervisors: list[dict[str, Any]], guests: list[dict[str, Any]], n_plus_1: Optional[dict[str, Any]]
) -> dict[str, Any]:
    """Counts, the lines a person reads first (worst first) and the findings a later report compares."""
    statuses = Counter(row["status"] for row in guests)
    existing = [row for row in guests if row["state"] != "absent"]
    active = [row for row in existing if (row["migration"] or {}).get("live")]
    stuck = [row for row in active if not row["migration"]["movable"]]
    unreachable = [host for host in hypervisors if not host["reachable"]]
    counts = {
        "hypervisors": len(hypervisors),
        "reachable": len(hypervisors) - len(unreachable),
        "unreachable": len(unreachable),
        "in_maintenance": sum(1 for host in hypervisors if host.get("maintenance")),
        "guests": len(existing),
        "running": sum(1 for row in existing if row["state"] == "running"),
        "declared": sum(1 for row in guests if row["declared"]),
        **{status: statuses.get(status, 0) for status in STATUSES},
        "movable": len(active) - len(stuck),
        "unmovable": len(stuck),
        "n_plus_1": n_plus_1["fits"] if n_plus_1 else None,
    }
    lines = [
        f"{counts['hypervisors']} hypervisors ({counts['reachable']} answered), {counts['guests']} guests "
        f"({counts['running']} running): {counts['in_sync']} as declared, {counts['drifted']} drifted, "
        f"{counts['missing'] + counts['unknown']} missing, {counts['undeclared']} undeclared, "
        f"{counts['duplicate']} defined twice, {counts['error']} in error"
    ]
    for host in unreachable:
        lines.append(f"UNREACHABLE {host['name']}: {host['error']}")
    by_status: dict[str, list[dict[str, Any]]] = {}
    for row in guests:
        by_status.setdefault(row["status"], []).append(row)
    if by_status.get("duplicate"):
        twice = sorted({f"{row['name']} ({row['notes'][-1]})" for row in by_status["duplicate"]})
        lines.append("DEFINED TWICE: " + _listed(twice))
    if n_plus_1 is not None:
        if not n_plus_1["guests_to_move"]:
            lines.append(f"N+1: {n_plus_1['hypervisor']}, the largest hypervisor, runs no guest")
        elif not n_plus_1["destinations"]:
            lines.append(
                f"N+1: no other hypervisor answered to take the {n_plus_1['guests_to_move']} running guests of "
                f"{n_plus_1['hypervisor']}"
            )
        elif n_plus_1["fits"]:
            lines.append(
                f"N+1: the others can take every running guest of {n_plus_1['hypervisor']}, the largest hypervisor "
                f"({n_plus_1['guests_to_move']} guests, {n_plus_1['memory_to_move_mib']} MiB)"
            )
        else:
            names = [item["name"] for item in n_plus_1["unplaced"]]
            lines.append(
                f"N+1 FAILS: if {n_plus_1['hypervisor']}, the largest hypervisor, were drained, {len(names)} of its "
                f"{n_plus_1['guests_to_move']} running guests would fit nowhere: {_listed(names)}"
            )
    if by_status.get("error"):
        lines.append(
            "ERRORS: " + _listed([f"{_at(row)}: {(row['drift'] or {}).get('error')}" for row in by_status["error"]], 4)
        )
    missing = by_status.get("missing", []) + by_status.get("unknown", [])
    if missing:
        lines.append(
            f"MISSING: {len(missing)} declared guests do not exist: "
            + _listed([f"{row['name']} ({row['notes'][-1]})" for row in missing], 5)
        )
    if by_status.get("elsewhere"):
        lines.append("ELSEWHERE: " + _listed([f"{_at(row)} ({row['notes'][0]})" for row in by_status["elsewhere"]], 3))
    if by_status.get("drifted"):
        lines.append(
            f"DRIFT: {len(by_status['drifted'])} guests differ from their declaration: "
            + _listed([f"{_at(row)} ({_what_differs(row)})" for row in by_status["drifted"]])
        )
    if by_status.get("undeclared"):
        lines.append(
            f"UNDECLARED: {len(by_status['undeclared'])} guests are in no guest list: "
            + _listed([_at(row) for row in by_status["undeclared"]])
        )
    if stuck:
        lines.append(
            f"CANNOT MOVE: {len(stuck)} running guests could not be live-migrated anywhere: "
            + _listed([f"{_at(row)} [{_why_stuck(row)}]" for row in stuck])
        )
    return {"counts": counts, "lines": lines, "findings": findings(hypervisors, guests, n_plus_1)}


def findings(
    hypervisors: list[dict[str, Any]], guests: list[dict[str, Any]], n_plus_1: Optional[dict[str, Any]]
) -> list[str]:
    """What a later report is compared with (``changed``): one line per fact that matters, sorted - which
    hypervisors answered and are in maintenance, where each guest is and in which state, each finding."""
    lines = []
    for host in hypervisors:
        lines.append(f"hypervisor {host['name']}: " + ("answers" if host["reachable"] else "unreachable"))
        if host.get("maintenance"):
            lines.append(f"hypervisor {host['name']}: in maintenance")
    for row in guests:
        lines.append(f"guest {_at(row)}: {row['state']}, {row['status'].replace('_', ' ')}")
        if row["status"] in ("drifted", "elsewhere"):
            lines.append(f"guest {_at(row)}: differs in {_what_differs(row)}")
        movable = row.get("migration")
        if movable and movable["live"] and not movable["movable"]:
            lines.append(f"guest {_at(row)}: cannot move ({_why_stuck(row)})")
    if n_plus_1 is not None:
        lines.append(f"n+1 {n_plus_1['hypervisor']}: " + ("fits" if n_plus_1["fits"] else "does not fit"))
    return sorted(lines)
