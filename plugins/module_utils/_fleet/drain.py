# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drain a hypervisor by live migration, and undrain it.

A drain, in order - the same plan in check mode, where only the marking and the moves are skipped:

1. every destination is read once (capacity, record, networks, pools, its guests); one that cannot
   be reached is left out with a warning;
2. every guest to move is checked against every destination (``_migrate.preflight``) and placed with
   the fleet's rules (``placement``: labels, anti-affinity, capacity; destinations in maintenance take
   nothing), largest first. A guest that fits nowhere stops the drain before anything moves, listing
   why each destination refused it (unless ``leave_unmovable``);
3. the hypervisor is marked in maintenance (its fleet record), so placement puts nothing new on it;
4. the guests move with bounded concurrency (in total, per source, per destination); before each move
   its destination is read again, and a guest that no longer fits there is placed again;
5. the hypervisor is read again: a guest still running on it (other than those left on purpose) fails
   the task, which says what moved, what did not, and why.

Every migration is peer-to-peer by default, so a drain whose controller dies leaves each guest running
on exactly one host; run it again and it waits for migrations in flight and moves the rest. A drain of
an empty hypervisor in maintenance changes nothing.

An undrain lifts the mark and, with ``return_guests``, moves back the guests a drain moved away (their
definitions carry the hypervisor they came from in the collection's metadata).
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet import placement as pl
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.peers import Item, Outcome, Peer, origin_of
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.capacity import guest_figures
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.module import plan_record
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect, is_local_uri, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import carry
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import preflight as pf
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.move import (
    SETTLE_TIMEOUT,
    MigrationRefused,
    default_migrate_uri,
    execute_move,
    find_guest,
    plan_move,
    settle,
    where,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.options import SHARED
from ansible_collections.kvmfleet.kvm.plugins.module_utils._plan import Plan

# reasons placement itself judges, from figures it keeps up to date while it places
PLACEMENT_CODES = ("insufficient_memory", "insufficient_vcpus", "dest_in_maintenance")


def space_of(name: str, host: pf.Host) -> pl.Space:
    """A hypervisor as placement sees it, from what the pre-flight check read of it."""
    capacity = host.capacity
    return pl.Space(
        name=name,
        allocatable_memory=capacity["allocatable_memory_mib"],
        memory=capacity["available_memory_mib"],
        vcpus=capacity["available_vcpus"],
        labels=frozenset(host.record.labels),
        maintenance=host.record.maintenance is not None,
        guests=frozenset(host.domains),
    )


def requirements(guests: list[dict[str, Any]]) -> dict[str, frozenset[str]]:
    """The labels each declared guest of the fleet requires of its hypervisor (``placement.requires``)."""
    return {guest["name"]: frozenset((guest.get("placement") or {}).get("requires") or ()) for guest in guests}


def place_moves(
    demands: list[pl.Demand],
    spaces: list[pl.Space],
    groups: list[pl.Group],
    strategy: str,
    checked: dict[tuple[str, str], list[pf.Reason]],
) -> tuple[list[tuple[pl.Demand, str, str]], dict[str, dict[str, str]]]:
    """Destinations for guests leaving their hypervisor: placement's rules, where a destination the
    pre-flight check refused (``checked``: the reasons per (guest, destination); none for the guest's own
    hypervisor) takes nothing. ((demand, destination, why) for each placed, why each refused the others)."""

    def veto(demand: pl.Demand, space: pl.Space) -> Optional[str]:
        reasons = checked.get((demand.name, space.name))
        if reasons is None:
            return "it is the guest's own hypervisor"
        blocking = [reason.line() for reason in reasons if reason.blocking and reason.code not in PLACEMENT_CODES]
        return "; ".join(blocking) or None

    placer = pl.Placer(spaces, groups, strategy)
    placer.veto = veto
    return pl.assign(placer, demands)


class Drain:
    """One run of the drain module: drain the hypervisor behind ``conn``, or undrain it."""

    def __init__(
        self, conn: Any, uri: str, values: dict[str, Any], check_mode: bool, say: Optional[Callable[[str], None]] = None
    ) -> None:
        self.values = values
        self.check_mode = check_mode
        self.say: Callable[[str], None] = say or (lambda _message: None)
        self.migration = values["migration"]
        self.outcome = Outcome()
        home_peer_uri = values["peer_uri"]
        self.home = Peer(
            values["name"],
            uri,
            home_peer_uri,
            values["migrate_uri"] or (default_migrate_uri(home_peer_uri) if home_peer_uri else None),
            conn,
            pf.read_host(conn, uri, is_local_uri(uri)),
        )
        self.peers = self._connect(values["destinations"])

    def check_groups(self) -> None:
        """Every anti-affinity member is declared in ``guests`` or defined on one of the hypervisors."""
        known = {guest["name"] for guest in self.values["guests"]} | set(self.home.host.domains)
        for peer in self.peers:
            known |= set(peer.host.domains)
        problems = [
            (
                f"anti_affinity[{index}].guests[{position}]",
                f"{member} is not a guest of the fleet (guests) nor on any hypervisor",
            )
            for index, group in enumerate(self.values["anti_affinity"])
            for position, member in enumerate(group["guests"])
            if member not in known
        ]
        if problems:
            raise ValidationError(problems)

    def close(self) -> None:
        for peer in self.peers:
            peer.conn.close()

    def _connect(self, destinations: list[dict[str, Any]]) -> list[Peer]:
        """Every destination, connected and read; one that cannot be reached is left out with a warning."""
        lv = require_libvirt()
        peers = []
        for index, dest in enumerate(destinations):
            try:
                conn = connect(dest["uri"])
                host = pf.read_host(conn, dest["uri"], is_local_uri(dest["uri"]))
            except (KvmFleetError, lv.libvirtError) as exc:
                message = exc.msg if isinstance(exc, KvmFleetError) else exc.get_error_message()
                self.outcome.warnings.append(f"destinations[{index}] ({dest['name']}) is left out: {message}")
                continue
            peer_uri = dest["peer_uri"] or dest["uri"]
            migrate_uri = dest["migrate_uri"] or default_migrate_uri(peer_uri)
            peers.append(Peer(dest["name"], dest["uri"], peer_uri, migrate_uri, conn, host))
        return peers

    # ------------------------------------------------------------------------------------------ planning

    def _reasons(self, guest: pf.Guest, source: Peer, dest: Peer) -> list[pf.Reason]:
        """The pre-flight check of ``guest`` from ``source`` to ``dest``."""
        values = self.migration
        live = guest.running
        host = urlsplit(dest.migrate_uri).hostname if dest.migrate_uri and not values["tunnelled"] and live else None
        return pf.check(
            guest,
            source.host,
            dest.host,
            storage=values["storage"] if live else SHARED,
            dest_pool=values["dest_pool"],
            allow_unsafe=values["allow_unsafe"],
            offline=not live,
            cpu_incompatible=pf.cpu_verdict(dest.conn, guest, dest.host) if live else None,
            migration_host=host,
            resolved=pf.resolve(host) if host and source.host.local else None,
        )

    def place(
        self, moving: list[tuple[pf.Guest, Peer, int]], targets: list[Peer]
    ) -> tuple[list[Item], dict[str, dict[str, str]]]:
        """Destinations for ``moving`` ((guest, its host, its vCPUs)), largest first: (items, refusals)."""
        requires = requirements(self.values["guests"])
        checked: dict[tuple[str, str], list[pf.Reason]] = {}
        demands: dict[str, tuple[pl.Demand, pf.Guest, Peer]] = {}
        for guest, source, vcpus in moving:
            demand = pl.Demand(guest.name, guest.memory_mib, vcpus, requires.get(guest.name, frozenset()))
            demands[guest.name] = (demand, guest, source)
            for dest in targets:
                if dest is not source:
                    checked[(guest.name, dest.name)] = self._reasons(guest, source, dest)
        by_name = {dest.name: dest for dest in targets}
        placed, refused = place_moves(
            [entry[0] for entry in demands.values()],
            [space_of(dest.name, dest.host) for dest in targets],
            pl.groups_from(self.values["anti_affinity"]),
            self.values["strategy"],
            checked,
        )
        items = [
            Item(demands[demand.name][1], demand, demands[demand.name][2], by_name[chosen], why)
            for demand, chosen, why in placed
        ]
        return items, refused

    def _guests_of(self, peer: Peer, wanted: Callable[[Any], bool]) -> list[tuple[pf.Guest, Peer, int]]:
        """The guests of ``peer`` that ``wanted`` picks, once no job an interrupted run left is running on them."""
        lv = require_libvirt()
        vcpus = {figure["name"]: figure["vcpus"] for figure in guest_figures(peer.conn)}
        found = []
        for listed in sorted(peer.conn.listAllDomains(0), key=lambda d: d.name()):
            dom = listed
            try:
                if dom.isActive() and dom.jobInfo()[0] != lv.VIR_DOMAIN_JOB_NONE:
                    self.say(f"{dom.name()}: waiting for the job an earlier run left running")
                    settle(dom, SETTLE_TIMEOUT)
                    dom = find_guest(peer.conn, listed.name())
                    if dom is None:
                        continue  # it moved meanwhile
                if wanted(dom):
                    found.append((pf.read_guest(dom, peer.conn), peer, vcpus.get(dom.name(), 1)))
            except lv.libvirtError as exc:  # gone while read: an earlier run's migration ended just now
                if exc.get_error_code() != lv.VIR_ERR_NO_DOMAIN:
                    raise
        return found

    def refuse(self, refused: dict[str, dict[str, str]]) -> None:
        """Guests that fit nowhere: stop before anything moves, unless leave_unmovable."""
        if not refused:
            return
        if not self.values["leave_unmovable"]:
            error = pl.PlacementFailed(refused)
            raise KvmFleetError(
                f"nothing was moved: {error.msg}; fix those guests, or set leave_unmovable: true to move the others",
                refused=refused,
                errors=error.details["errors"],
            )
        for name, hosts in sorted(refused.items()):
            self.outcome.left.append({"name": name, "state": "running", "reason": "cannot move", "refusals": hosts})

    # ------------------------------------------------------------------------------------------ the two states

    def drain(self) -> dict[str, Any]:
        self.check_groups()
        mark, _record = plan_record(self.home.conn, {"maintenance": True, "maintenance_reason": self.values["reason"]})
        targets = [peer for peer in self.peers if peer.host.record.maintenance is None]
        for peer in self.peers:
            if peer.host.record.maintenance is not None:
                self.outcome.warnings.append(f"{peer.name} is in maintenance: no guest goes there")
        move_stopped = self.values["stopped_guests"] == "move"
        for dom in self.home.conn.listAllDomains(0):
            if where(dom) == "stopped" and not move_stopped:
                self.outcome.left.append({"name": dom.name(), "state": "stopped", "reason": "stopped_guests: leave"})
        self.outcome.left.sort(key=lambda entry: entry["name"])
        moving = self._guests_of(self.home, lambda dom: move_stopped or where(dom) != "stopped")
        items, refused = self.place(moving, targets)
        self.refuse(refused)
        return self.apply(mark, items, origin=self.values["name"])

    def undrain(self) -> dict[str, Any]:
        self.check_groups()
        mark, _record = plan_record(self.home.conn, {"maintenance": False})
        items: list[Item] = []
        if self.values["return_guests"]:
            coming = [
                entry
                for peer in self.peers
                for entry in self._guests_of(peer, lambda dom: dom.isActive() and origin_of(dom) == self.values["name"])
            ]
            if coming and not self.home.peer_uri:
                raise KvmFleetError(
                    "peer_uri: return_guests needs the URI the other hypervisors' libvirtd reach this one at "
                    "(such as qemu+ssh://root@hv1/system)"
                )
            self.home.host.record.maintenance = None  # the mark is lifted before anything comes back
            items, refused = self.place(coming, [self.home])
            self.refuse(refused)
        return self.apply(mark, items, origin="")

    # ------------------------------------------------------------------------------------------ moving

    def apply(self, mark: Plan, items: list[Item], origin: str) -> dict[str, Any]:
        """Mark (or unmark), finish the moves a killed run left half-done (snapshots only recorded on a guest
        that moved), then move; the result, or a failure saying what did not move."""
        finishing = [(peer, dom, saved) for peer in (self.home, *self.peers) for dom, saved in carry.pending(peer.conn)]
        actions = [
            *(action.description for action in mark.actions),
            *(
                f"define the snapshots {', '.join(snap.name for snap in saved)} of {dom.name()} on {peer.name}, "
                "where an interrupted move left them recorded"
                for peer, dom, saved in finishing
            ),
            *(f"move {i.name} from {i.source.name} to {i.dest.name} ({i.reason})" for i in items),
        ]
        result: dict[str, Any] = {
            "changed": bool(actions),
            "hypervisor": self.values["name"],
            "state": self.values["state"],
            "actions": actions,
            "plan": [{"guest": i.name, "from": i.source.name, "to": i.dest.name, "reason": i.reason} for i in items],
            "diff": {
                "before": {"maintenance": self.values["state"] == "undrained"} if mark.actions else {},
                "after": {"maintenance": self.values["state"] == "drained"} if mark.actions else {},
                "before_header": f"hypervisor {self.values['name']}",
                "after_header": f"hypervisor {self.values['name']}",
            },
        }
        if not self.check_mode:
            begun = time.monotonic()
            mark.execute()
            for peer, dom, saved in finishing:
                carry.restore(dom, saved)
                self.say(f"{dom.name()}: its snapshots are defined on {peer.name} again")
            self.run(items, origin)
            result["elapsed_s"] = round(time.monotonic() - begun, 2)
        result.update(
            moved=sorted(self.outcome.moved, key=lambda entry: entry["name"]),
            failures=sorted(self.outcome.failed, key=lambda entry: entry["name"]),
            left=self.outcome.left,
            warnings=self.outcome.warnings,
        )
        if self.check_mode:
            return result
        if self.values["state"] == "drained":
            kept = {entry["name"] for entry in self.outcome.left}
            running = sorted(
                dom.name() for dom in self.home.conn.listAllDomains(0) if dom.isActive() and dom.name() not in kept
            )
            result["running_left"] = running
            if running or self.outcome.failed:
                raise KvmFleetError(
                    f"the drain of {self.values['name']} is not complete: "
                    f"{', '.join(running) or 'no guest'} still runs there{self._why()}; it stays in maintenance - "
                    "run the drain again once that is fixed",
                    **{key: value for key, value in result.items() if key not in ("changed", "warnings")},
                )
        elif self.outcome.failed:
            raise KvmFleetError(
                f"some guests did not return to {self.values['name']}{self._why()}",
                **{key: value for key, value in result.items() if key not in ("changed", "warnings")},
            )
        return result

    def _why(self) -> str:
        failed = "; ".join(f"{entry['name']}: {entry['error']}" for entry in self.outcome.failed)
        return f" ({failed})" if failed else ""

    def run(self, items: list[Item], origin: str) -> None:
        """Move every item within the concurrency limits (in total, per source, per destination)."""
        limits = self.values["concurrency"]
        pending = list(items)
        active: dict[Future[Optional[Item]], Item] = {}
        busy: dict[str, int] = {}  # "from:NAME" / "to:NAME" -> moves running

        def fits(item: Item) -> bool:
            return (
                busy.get(f"from:{item.source.name}", 0) < limits["per_source"]
                and busy.get(f"to:{item.dest.name}", 0) < limits["per_destination"]
            )

        def count(item: Item, step: int) -> None:
            for key in (f"from:{item.source.name}", f"to:{item.dest.name}"):
                busy[key] = busy.get(key, 0) + step

        with ThreadPoolExecutor(max_workers=limits["total"]) as pool:
            while pending or active:
                for item in list(pending):
                    if len(active) < limits["total"] and fits(item):
                        pending.remove(item)
                        count(item, 1)
                        self.say(f"{item.name}: moving from {item.source.name} to {item.dest.name}")
                        active[pool.submit(self.move, item, origin)] = item
                done, _running = wait(list(active), return_when=FIRST_COMPLETED)
                for future in done:
                    count(active.pop(future), -1)
                    again = future.result()
                    if again is not None:
                        pending.insert(0, again)

    def move(self, item: Item, origin: str) -> Optional[Item]:
        """Move one guest; returns the item placed again when its destination no longer had room."""
        lv = require_libvirt()
        entry: dict[str, Any] = {
            "name": item.name,
            "from": item.source.name,
            "to": item.dest.name,
            "reason": item.reason,
        }
        try:
            item.dest.refresh()
            values = {**self.migration, "offline": not item.guest.running}
            try:
                move = plan_move(
                    item.source.conn,
                    item.dest.conn,
                    item.source.host,
                    item.dest.host,
                    name=item.name,
                    values=values,
                    peer_uri=item.dest.peer_uri,
                    migrate_uri=item.dest.migrate_uri,
                    origin=origin,
                    facts=item.guest,
                )
            except MigrationRefused as exc:
                if all(reason.code in PLACEMENT_CODES for reason in exc.reasons if reason.blocking):
                    again = self._place_again(item)
                    if again is not None:
                        return again
                raise
            outcome = execute_move(move, item.source.conn, item.dest.conn, self.say) if move.changed else {}
            entry.update(
                status="moved" if move.changed else "there already",
                elapsed_s=outcome.get("elapsed_s"),
                duration_ms=outcome.get("duration_ms"),
                downtime_ms=outcome.get("downtime_ms"),
                transferred_mib=outcome.get("transferred_mib"),
            )
            with self.outcome.lock:
                self.outcome.warnings.extend(outcome.get("warnings", []))
                self.outcome.moved.append(entry)
            self.say(
                f"{item.name}: on {item.dest.name} after {entry['elapsed_s']} s, downtime {entry['downtime_ms']} ms"
            )
        except (KvmFleetError, lv.libvirtError) as exc:
            entry.update(status="failed", error=exc.msg if isinstance(exc, KvmFleetError) else exc.get_error_message())
            if isinstance(exc, MigrationRefused):
                entry["reasons"] = [reason.as_dict() for reason in exc.reasons if reason.blocking]
            with self.outcome.lock:
                self.outcome.failed.append(entry)
        return None

    def _place_again(self, item: Item) -> Optional[Item]:
        """``item`` over every destination's current figures (its planned one filled up meanwhile)."""
        targets = (
            [self.home]
            if item.dest is self.home
            else [peer for peer in self.peers if peer.host.record.maintenance is None]
        )
        for peer in targets:
            if peer is not item.dest:
                peer.refresh()
        items, _refused = self.place([(item.guest, item.source, item.demand.vcpus)], targets)
        if not items or items[0].dest is item.dest:
            return None
        items[0].reason = f"placed again, {item.dest.name} no longer had room: {items[0].reason}"
        return items[0]
