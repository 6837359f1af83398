# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report's option table: every hypervisor with the guests declared for it, the fleet's guests.

The declarations are read with the guest module's own table (``_guest.options.GUEST``: every field
checked, secrets found and hidden), the anti-affinity groups with the placement's; each hypervisor's
``defaults`` go under its own guests, the top-level ``defaults`` under the fleet's, as the guests role
merges them.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.options import ANTI_AFFINITY, group_checks, pin_checks
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST, default_secrets, merge_defaults
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.options import libvirt_uri
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    Option,
    OptionTable,
    Problem,
    duplicates,
    join_path,
)

HYPERVISOR = OptionTable(
    [
        Option("name", required=True),
        Option("uri", required=True, normalize=libvirt_uri),
        Option("guests", type="list", elements="dict", options=GUEST, in_spec=False, default=[]),
        Option("defaults", type="dict", default={}),
    ]
)


def _checks(values: dict[str, Any], path: str) -> list[Problem]:
    """Hypervisor names are unique; a guest is declared once in the whole fleet; groups name declared
    guests; a pinned guest is pinned to a hypervisor of the report."""
    hypervisors = values.get("hypervisors") or []
    problems = duplicates(hypervisors, lambda host: host["name"], "hypervisors", "name", "is also hypervisors")
    first: dict[str, str] = {}
    places = [
        (join_path(path, f"hypervisors[{index}].guests[{position}]"), guest)
        for index, host in enumerate(hypervisors)
        for position, guest in enumerate(host.get("guests") or [])
    ]
    places += [(join_path(path, f"guests[{index}]"), guest) for index, guest in enumerate(values.get("guests") or [])]
    for where, guest in places:
        if guest["name"] in first:
            problems.append((f"{where}.name", f"{guest['name']} is also declared at {first[guest['name']]}"))
        first.setdefault(guest["name"], where)
    problems.extend(group_checks(values, path, set(first)))
    return problems + pin_checks(values.get("guests") or [], [host["name"] for host in hypervisors], "of the report")


REPORT_MODULE = OptionTable(
    [
        Option("hypervisors", type="list", elements="dict", options=HYPERVISOR, required=True, update=CONTROL),
        Option("guests", type="list", elements="dict", options=GUEST, in_spec=False, default=[], update=CONTROL),
        Option("defaults", type="dict", default={}, update=CONTROL),
        Option("anti_affinity", type="list", elements="dict", options=ANTI_AFFINITY, default=[], update=CONTROL),
        Option("strategy", choices=("spread", "pack"), default="spread", update=CONTROL),
        Option("dest", type="str", required=True, update=CONTROL),
        Option("title", default="kvmfleet report", update=CONTROL),
        Option("inventory", type="list", elements="str", default=[], update=CONTROL),
        Option("connect_timeout", type="int", default=10, minimum=1, update=CONTROL),
    ],
    checks=[_checks],
)


def merge_all_defaults(params: dict[str, Any]) -> dict[str, Any]:
    """Each hypervisor's guests on top of its ``defaults``, the fleet's guests on top of ``defaults``
    (item keys win; dictionaries are not merged), as the guests role does."""
    params = dict(params)
    hypervisors = params.get("hypervisors")
    if isinstance(hypervisors, list):
        params["hypervisors"] = [merge_defaults(host) if isinstance(host, dict) else host for host in hypervisors]
    return merge_defaults(params)


def all_default_secrets(params: dict[str, Any]) -> set[str]:
    """Secrets in the ``defaults`` dictionaries (plain dictionaries to Ansible), also those no guest uses."""
    holders = [params, *(host for host in params.get("hypervisors") or [] if isinstance(host, dict))]
    return {secret for holder in holders for secret in default_secrets(holder)}
