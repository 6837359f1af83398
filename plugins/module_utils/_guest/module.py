# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guest and guests modules' entries: the option table in, converge, the guests' results out."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import (
    GUEST_MODULE,
    GUESTS_MODULE,
    default_secrets,
    merge_defaults,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.runner import converge
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_entry


def _warn_reboots(module: Any, results: list[dict[str, Any]]) -> None:
    for result in results:
        for warning in result.pop("warnings", []):
            module.warn(f"{result['name']}: {warning}")
        if result["reboot_required"]:
            fields = ", ".join(result["reboot_required_fields"])
            module.warn(
                f"{result['name']} runs with an older definition until it restarts ({fields}); "
                "restart: if_needed allows it"
            )


def _guest(conn: Any, module: Any) -> dict[str, Any]:
    values = {key: value for key, value in module.values.items() if key != "uri"}
    (result,) = converge(conn, module.params["uri"], [("", values)], module.check_mode)
    _warn_reboots(module, [result])
    return result


GUEST_ENTRY = Entry(GUEST_MODULE, _guest)


def run_guest_module() -> None:
    run_entry(GUEST_ENTRY)


def _guests(conn: Any, module: Any) -> dict[str, Any]:
    items = [(f"guests[{index}]", values) for index, values in enumerate(module.values["guests"])]
    results = converge(conn, module.params["uri"], items, module.check_mode)
    _warn_reboots(module, results)
    return {
        "changed": any(result["changed"] for result in results),
        "guests": results,
        "reboot_required": any(result["reboot_required"] for result in results),
        "diff": [result["diff"] for result in results if result["changed"]],
    }


GUESTS_ENTRY = Entry(GUESTS_MODULE, _guests, prepare=merge_defaults, hidden=default_secrets)


def run_guests_module() -> None:
    run_entry(GUESTS_ENTRY)
