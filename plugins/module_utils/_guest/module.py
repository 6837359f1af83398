# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest module's main(): the option table in, converge, one guest's result out."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import (
    GUEST_MODULE,
    GUESTS_MODULE,
    merge_defaults,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.runner import converge
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import TableModule, run_module


def _warn_reboots(module: Any, results: list[dict[str, Any]]) -> None:
    for result in results:
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


def run_guest_module() -> None:
    module = TableModule(GUEST_MODULE, supports_check_mode=True)
    run_module(module, _guest)


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


def run_guests_module() -> None:
    module = TableModule(GUESTS_MODULE, prepare=merge_defaults, supports_check_mode=True)
    run_module(module, _guests)
