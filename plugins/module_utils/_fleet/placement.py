# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Placement: which hypervisor each guest of the fleet goes to. Pure - fed host figures, it calls nothing.

Rules, in the order a host is judged for a guest:

1. a guest that already exists stays where it is (placement never moves a guest; a host that no
   longer suits it gives a warning that names the reason - moving it is the drain's or migrate's job);
2. a guest pinned to a hypervisor goes there or nowhere;
3. a hypervisor in maintenance takes no new guest;
4. a guest that requires labels goes only to a hypervisor that has all of them;
5. a hard anti-affinity group never has two members on one hypervisor; a soft one avoids it;
6. the guest must fit: its memory and vCPUs within what the hypervisor has available (allocatable
   minus committed, minus what this placement already put there).

New guests are placed most constrained first (pinned, then those requiring labels), then largest first
(memory, then vCPUs), then by name. Among the hosts that pass, the
one with the fewest members of the guest's soft groups wins, then (``spread``, the default) the one
left with the largest share of its allocatable memory free, or (``pack``) the one left with the
least memory free; ties go to the host whose name sorts first. The same input always gives the same
placement, and a rerun over the hosts' new figures moves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError

SPREAD, PACK = "spread", "pack"


@dataclass
class Space:
    """One hypervisor as placement sees it."""

    name: str
    allocatable_memory: int  # MiB
    memory: int  # MiB available now
    vcpus: int  # available now
    labels: frozenset[str] = frozenset()
    maintenance: bool = False
    guests: frozenset[str] = frozenset()  # names of the guests defined there

    @classmethod
    def from_host(cls, name: str, host: dict[str, Any]) -> Space:
        """From ``host_info``'s ``host`` (capacity, labels, maintenance, guests)."""
        capacity = host["capacity"]
        return cls(
            name=name,
            allocatable_memory=capacity["allocatable_memory_mib"],
            memory=capacity["available_memory_mib"],
            vcpus=capacity["available_vcpus"],
            labels=frozenset(host.get("labels") or ()),
            maintenance=bool(host.get("maintenance")),
            guests=frozenset(guest["name"] for guest in host.get("guests") or ()),
        )


@dataclass
class Demand:
    """One guest to place."""

    name: str
    memory: int  # MiB
    vcpus: int
    requires: frozenset[str] = frozenset()
    pin: Optional[str] = None


@dataclass
class Group:
    """An anti-affinity group: its members never (hard) or preferably not (soft) share a hypervisor."""

    name: str
    members: tuple[str, ...]
    hard: bool = True


def groups_from(anti_affinity: list[dict[str, Any]]) -> list[Group]:
    """The groups of the ``anti_affinity`` option (name, guests, mode hard or soft)."""
    return [Group(group["name"], tuple(group["guests"]), group["mode"] == "hard") for group in anti_affinity]


@dataclass
class Decision:
    guest: str
    hypervisor: str
    existing: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"guest": self.guest, "hypervisor": self.hypervisor, "existing": self.existing, "reason": self.reason}


@dataclass
class Placement:
    decisions: list[Decision] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def by_host(self) -> dict[str, list[str]]:
        hosts: dict[str, list[str]] = {}
        for decision in self.decisions:
            hosts.setdefault(decision.hypervisor, []).append(decision.guest)
        return hosts


class PlacementFailed(KvmFleetError):
    """Some guests fit nowhere: for each, why every hypervisor refused it."""

    def __init__(self, refusals: dict[str, dict[str, str]]) -> None:
        lines = [
            f"{guest} fits on no hypervisor: " + "; ".join(f"{host}: {why}" for host, why in sorted(hosts.items()))
            if hosts
            else f"{guest} fits on no hypervisor: there is none to place it on"
            for guest, hosts in refusals.items()
        ]
        super().__init__("; ".join(lines), refused=refusals, errors=lines)
        self.refusals = refusals


class Placer:
    """Places demands on spaces; keeps the running totals while it goes."""

    def __init__(self, spaces: list[Space], groups: list[Group], strategy: str = SPREAD) -> None:
        self.spaces = sorted(spaces, key=lambda space: space.name)
        self.by_name = {space.name: space for space in self.spaces}
        self.groups = groups
        self.strategy = strategy
        self.memory = {space.name: space.memory for space in self.spaces}
        self.vcpus = {space.name: space.vcpus for space in self.spaces}
        self.location: dict[str, str] = {}
        for space in self.spaces:
            for guest in space.guests:
                self.location.setdefault(guest, space.name)
        # a caller's own reason a host cannot take a guest (the drain: a pre-flight check that failed)
        self.veto: Optional[Callable[[Demand, Space], Optional[str]]] = None
        self.groups_of: dict[str, list[Group]] = {}
        for group in groups:
            for member in group.members:
                self.groups_of.setdefault(member, []).append(group)

    def _neighbours(self, guest: str, host: str, hard: bool) -> list[tuple[str, str]]:
        """(group, member) pairs of ``guest``'s hard (or soft) groups whose member is on ``host``."""
        found = []
        for group in self.groups_of.get(guest, []):
            if group.hard != hard:
                continue
            found.extend(
                (group.name, member)
                for member in group.members
                if member != guest and self.location.get(member) == host
            )
        return found

    def refusal(self, demand: Demand, space: Space) -> Optional[str]:
        """Why ``space`` cannot take ``demand`` (None: it can)."""
        if demand.pin is not None and demand.pin != space.name:
            return f"{demand.name} is pinned to {demand.pin}"
        if space.maintenance:
            return "in maintenance"
        missing = sorted(demand.requires - space.labels)
        if missing:
            return f"lacks the label{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        clash = self._neighbours(demand.name, space.name, hard=True)
        if clash:
            group, member = clash[0]
            return f"anti-affinity group {group}: {member} is there"
        vetoed = self.veto(demand, space) if self.veto is not None else None
        if vetoed:
            return vetoed
        if demand.memory > self.memory[space.name]:
            return f"needs {demand.memory} MiB, {self.memory[space.name]} MiB available"
        if demand.vcpus > self.vcpus[space.name]:
            return f"needs {demand.vcpus} vCPUs, {self.vcpus[space.name]} available"
        return None

    def _score(self, demand: Demand, space: Space) -> tuple[Any, ...]:
        soft = len(self._neighbours(demand.name, space.name, hard=False))
        left = self.memory[space.name] - demand.memory
        if self.strategy == PACK:
            return (soft, left, space.name)
        share = left / space.allocatable_memory if space.allocatable_memory > 0 else 0.0
        return (soft, -share, -(self.vcpus[space.name] - demand.vcpus), space.name)

    def take(self, demand: Demand, host: str) -> None:
        self.memory[host] -= demand.memory
        self.vcpus[host] -= demand.vcpus
        self.location[demand.name] = host

    def release(self, demand: Demand, host: str) -> None:
        """``demand`` left ``host`` (a drain moved it)."""
        self.memory[host] = self.memory.get(host, 0) + demand.memory
        self.vcpus[host] = self.vcpus.get(host, 0) + demand.vcpus

    def choose(self, demand: Demand) -> tuple[Optional[str], dict[str, str]]:
        """The best host for a new ``demand`` and, when there is none, why each host refused it."""
        refusals: dict[str, str] = {}
        best: Optional[tuple[tuple[Any, ...], str]] = None
        for space in self.spaces:
            why = self.refusal(demand, space)
            if why is not None:
                refusals[space.name] = why
                continue
            score = self._score(demand, space)
            if best is None or score < best[0]:
                best = (score, space.name)
        return (best[1] if best else None), refusals

    def explain(self, demand: Demand, host: str) -> str:
        soft = self._neighbours(demand.name, host, hard=False)
        why = "pinned" if demand.pin else ("most free memory" if self.strategy == SPREAD else "tightest fit")
        if soft:
            why += f" (soft anti-affinity {soft[0][0]} could not be kept)"
        return f"{why}: {self.memory[host]} MiB and {self.vcpus[host]} vCPUs left"


def order(demands: list[Demand]) -> list[Demand]:
    """The most constrained first (pinned, then by how many labels they require), then the largest
    (memory, then vCPUs), then by name: a guest that can go to few hosts gets one before others fill them."""
    return sorted(
        demands,
        key=lambda demand: (demand.pin is None, -len(demand.requires), -demand.memory, -demand.vcpus, demand.name),
    )


def assign(placer: Placer, demands: list[Demand]) -> tuple[list[tuple[Demand, str, str]], dict[str, dict[str, str]]]:
    """Hosts for ``demands`` in ``order``, each taken as it is placed: ((demand, host, why there) for each
    placed, and for each demand that fits nowhere why every host refused it)."""
    placed: list[tuple[Demand, str, str]] = []
    refused: dict[str, dict[str, str]] = {}
    for demand in order(demands):
        host, refusals = placer.choose(demand)
        if host is None:
            refused[demand.name] = refusals
            continue
        placer.take(demand, host)
        placed.append((demand, host, placer.explain(demand, host)))
    return placed, refused


def arrange(
    spaces: list[Space], demands: list[Demand], groups: list[Group], strategy: str = SPREAD
) -> tuple[Placement, dict[str, dict[str, str]], dict[str, list[str]]]:
    """Where every demand goes, raising nothing: (the placement of those that have a host, why each host
    refused each of the others, the guests defined on several hosts - counted on the first)."""
    placer = Placer(spaces, groups, strategy)
    result = Placement()
    where: dict[str, list[str]] = {}
    for space in placer.spaces:
        for guest in space.guests:
            where.setdefault(guest, []).append(space.name)
    doubles = {demand.name: where[demand.name] for demand in demands if len(where.get(demand.name, ())) > 1}
    new = []
    for demand in demands:
        hosts = where.get(demand.name)
        if not hosts:
            new.append(demand)
            continue
        host = hosts[0]
        result.decisions.append(Decision(demand.name, host, True, "exists there"))
        space = placer.by_name[host]
        saved = placer.location.pop(demand.name)
        why = placer.refusal(Demand(demand.name, 0, 0, demand.requires, demand.pin), space)
        placer.location[demand.name] = saved
        if why is not None:
            result.warnings.append(
                f"{demand.name} stays on {host}, which no longer suits it ({why}); move it with kvmfleet.kvm.migrate "
                "or drain that hypervisor"
            )
    placed, refused = assign(placer, new)
    for demand, host, why in placed:
        result.decisions.append(Decision(demand.name, host, False, why))
    position = {demand.name: index for index, demand in enumerate(demands)}
    result.decisions.sort(key=lambda decision: position[decision.guest])
    return result, refused, doubles


def place(spaces: list[Space], demands: list[Demand], groups: list[Group], strategy: str = SPREAD) -> Placement:
    """Where every demand goes; raises PlacementFailed (every refused guest at once) before deciding any."""
    result, refused, doubles = arrange(spaces, demands, groups, strategy)
    if doubles:
        raise KvmFleetError(
            "; ".join(f"{guest} is defined on {' and '.join(hosts)}: undefine one" for guest, hosts in doubles.items()),
            defined_twice=doubles,
        )
    if refused:
        raise PlacementFailed(refused)
    return result
