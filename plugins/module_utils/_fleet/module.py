# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet's module entries: placement (controller side, no libvirt) and the drain."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet import placement as pl
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.drain import Drain
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.options import DRAIN_MODULE, PLACEMENT_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST, default_secrets, merge_defaults
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_entry

MiB = 1024 * 1024


def demand_of(guest: dict[str, Any]) -> pl.Demand:
    """What a declared guest needs: its memory and vCPUs as it would be created, its labels and pin."""
    placement = guest.get("placement") or {}
    memory = guest["memory"] if guest["memory"] is not None else GUEST["memory"].create_default
    vcpus = guest["vcpus"] if guest["vcpus"] is not None else GUEST["vcpus"].create_default
    return pl.Demand(
        guest["name"], memory // MiB, vcpus, frozenset(placement.get("requires") or ()), placement.get("hypervisor")
    )


def place_fleet(values: dict[str, Any]) -> dict[str, Any]:
    """Place the declared guests on the hypervisors whose ``host_info`` is given; the decision and why."""
    spaces = [pl.Space.from_host(name, host) for name, host in values["hypervisors"].items()]
    groups = pl.groups_from(values["anti_affinity"])
    result = pl.place(spaces, [demand_of(guest) for guest in values["guests"]], groups, values["strategy"])
    hosts = {name: [] for name in sorted(values["hypervisors"])}
    for decision in result.decisions:
        hosts[decision.hypervisor].append(decision.guest)
    return {
        "changed": False,
        "placement": {decision.guest: decision.hypervisor for decision in result.decisions},
        "hypervisors": hosts,
        "decisions": [decision.as_dict() for decision in result.decisions],
        "new": sum(1 for decision in result.decisions if not decision.existing),
        "warnings": result.warnings,
    }


def _placement(_conn: Any, invocation: Any) -> dict[str, Any]:
    result = place_fleet(invocation.values)
    for warning in result.pop("warnings"):
        invocation.warn(warning)
    return result


PLACEMENT_ENTRY = Entry(PLACEMENT_MODULE, _placement, prepare=merge_defaults, hidden=default_secrets, connects=False)


def run_placement_module() -> None:
    run_entry(PLACEMENT_ENTRY)


def _drain(conn: Any, invocation: Any) -> dict[str, Any]:
    values = invocation.values
    drain = Drain(conn, invocation.params["uri"], values, invocation.check_mode, getattr(invocation, "progress", None))
    try:
        result = drain.drain() if values["state"] == "drained" else drain.undrain()
    finally:
        drain.close()
    for warning in result.pop("warnings"):
        invocation.warn(warning)
    return result


DRAIN_ENTRY = Entry(DRAIN_MODULE, _drain, prepare=merge_defaults, hidden=default_secrets)


def run_drain_module() -> None:
    run_entry(DRAIN_ENTRY)
