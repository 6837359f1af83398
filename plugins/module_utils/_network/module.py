# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network module's main(): the option table in, plan, execute unless check mode, the result out."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import is_local_uri, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._network import xml as nx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._network.options import NETWORK_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._network.plan import (
    ABSENT,
    NetworkPlan,
    NetworkPlanner,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._plan import run_actions
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import TableModule, run_module


def execute(plan: NetworkPlan) -> None:
    run_actions(plan.actions, f"network {plan.name}")


def result(conn: Any, plan: NetworkPlan, check_mode: bool) -> dict[str, Any]:
    lv = require_libvirt()
    state = plan.after_state()
    xml = plan.definition
    if not check_mode and state != ABSENT:
        net = conn.networkLookupByName(plan.name)
        xml = net.XMLDesc(0 if net.isActive() else lv.VIR_NETWORK_XML_INACTIVE)
    diff = plan.diff.diff()
    return {
        "changed": plan.changed,
        "name": plan.name,
        "state": state,
        "bridge": nx.read(xml)["bridge"] if xml and state != ABSENT else None,
        "actions": [action.description for action in plan.actions],
        "restarted": plan.restarted,
        "diff": {**diff, "before_header": plan.name, "after_header": plan.name},
        "xml": xml if state != ABSENT else None,
    }


def _network(conn: Any, module: Any) -> dict[str, Any]:
    values = {key: value for key, value in module.values.items() if key != "uri"}
    plan = NetworkPlanner(conn, values, is_local_uri(module.params["uri"])).plan()
    if not module.check_mode:
        execute(plan)
    return result(conn, plan, module.check_mode)


def run_network_module() -> None:
    module = TableModule(NETWORK_MODULE, supports_check_mode=True)
    run_module(module, _network)
