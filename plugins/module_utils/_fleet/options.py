# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Option tables of the fleet: the placement module (controller side) and the drain module.

Both read the fleet's guest declarations with the guest module's own table (``_guest.options``:
every field checked, secrets hidden) and its anti-affinity groups with ``ANTI_AFFINITY``; the checks
that span them (a group naming an unknown guest, a pin to an unknown hypervisor) report every problem
with its field path.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.options import MIGRATION, libvirt_uri
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    Option,
    OptionTable,
    Problem,
    connection_options,
    duplicates,
    join_path,
)

ANTI_AFFINITY = OptionTable(
    [
        Option("name", required=True),
        Option("guests", type="list", elements="str", required=True),
        Option("mode", choices=("hard", "soft"), default="hard"),
    ]
)

DESTINATION = OptionTable(
    [
        Option("name", required=True),
        Option("uri", required=True, normalize=libvirt_uri),
        Option("peer_uri", normalize=libvirt_uri),
        Option("migrate_uri"),
    ]
)

CONCURRENCY = OptionTable(
    [
        Option("total", type="int", minimum=1, default=2),
        Option("per_source", type="int", minimum=1, default=2),
        Option("per_destination", type="int", minimum=1, default=1),
    ]
)


def group_checks(values: dict[str, Any], path: str, known: set[str]) -> list[Problem]:
    """Each group's members are guests of the fleet; group names are unique."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, group in enumerate(values.get("anti_affinity") or []):
        where = join_path(path, f"anti_affinity[{index}]")
        if group["name"] in seen:
            problems.append(
                (f"{where}.name", f"{group['name']} is also the name of anti_affinity[{seen[group['name']]}]")
            )
        seen.setdefault(group["name"], index)
        for position, member in enumerate(group["guests"]):
            if member not in known:
                problems.append((f"{where}.guests[{position}]", f"{member} is not a guest of the fleet (guests)"))
    return problems


def _guest_names(values: dict[str, Any]) -> set[str]:
    return {guest["name"] for guest in values.get("guests") or [] if guest and guest.get("name")}


def _placement_checks(values: dict[str, Any], path: str) -> list[Problem]:
    problems = group_checks(values, path, _guest_names(values))
    hosts = sorted(values.get("hypervisors") or {})
    guests = values.get("guests") or []
    problems.extend(duplicates(guests, lambda guest: guest["name"], "guests", "name", "is also the name of guests"))
    return problems + pin_checks(guests, hosts, "of the play")


def pin_checks(guests: list[dict[str, Any]], hosts: list[str], which: str) -> list[Problem]:
    """A guest pinned (``placement.hypervisor``) to a hypervisor that is not one of ``hosts``."""
    problems: list[Problem] = []
    for index, guest in enumerate(guests):
        pin = (guest.get("placement") or {}).get("hypervisor")
        if pin is not None and pin not in hosts:
            problems.append(
                (f"guests[{index}].placement.hypervisor", f"{pin} is not a hypervisor {which} ({', '.join(hosts)})")
            )
    return problems


# The placement module: the fleet's guests, and every hypervisor's host_info, in; a hypervisor for each guest out.
PLACEMENT_MODULE = OptionTable(
    [
        Option("hypervisors", type="dict", required=True, update=CONTROL),
        Option("guests", type="list", elements="dict", required=True, options=GUEST, in_spec=False, update=CONTROL),
        Option("defaults", type="dict", default={}, update=CONTROL),
        Option("anti_affinity", type="list", elements="dict", options=ANTI_AFFINITY, default=[], update=CONTROL),
        Option("strategy", choices=("spread", "pack"), default="spread", update=CONTROL),
    ],
    checks=[_placement_checks],
)


def _drain_checks(values: dict[str, Any], path: str) -> list[Problem]:
    # without declarations, group members are looked for on the hypervisors themselves (Drain.check_groups)
    problems = group_checks(values, path, _guest_names(values)) if values.get("guests") else []
    destinations = values.get("destinations") or []
    problems.extend(duplicates(destinations, lambda dest: dest["name"], "destinations", "name", "is also destinations"))
    problems.extend(
        (f"destinations[{index}].name", f"{dest['name']} is the hypervisor being drained")
        for index, dest in enumerate(destinations)
        if dest["name"] == values.get("name")
    )
    return problems


DRAIN_MODULE = OptionTable(
    [
        *connection_options(),
        Option("name", required=True, update=CONTROL),
        Option("peer_uri", normalize=libvirt_uri, update=CONTROL),
        Option("migrate_uri", update=CONTROL),
        Option("state", choices=("drained", "undrained"), default="drained", update=CONTROL),
        Option("destinations", type="list", elements="dict", options=DESTINATION, default=[], update=CONTROL),
        Option("guests", type="list", elements="dict", options=GUEST, in_spec=False, default=[], update=CONTROL),
        Option("defaults", type="dict", default={}, update=CONTROL),
        Option("anti_affinity", type="list", elements="dict", options=ANTI_AFFINITY, default=[], update=CONTROL),
        Option("strategy", choices=("spread", "pack"), default="spread", update=CONTROL),
        Option("migration", type="dict", options=MIGRATION, default={}, in_spec=False, update=CONTROL),
        Option("concurrency", type="dict", options=CONCURRENCY, default={}, update=CONTROL),
        Option("leave_unmovable", type="bool", default=False, update=CONTROL),
        Option("stopped_guests", choices=("leave", "move"), default="leave", update=CONTROL),
        Option("return_guests", type="bool", default=False, update=CONTROL),
        Option("reason", update=CONTROL),
    ],
    checks=[_drain_checks],
)
