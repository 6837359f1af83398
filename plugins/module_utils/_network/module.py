# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The network module's entry: the option table in, plan, execute unless check mode, the result out."""

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
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_entry


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


def _network(conn: Any, invocation: Any) -> dict[str, Any]:
    values = {key: value for key, value in invocation.values.items() if key != "uri"}
    plan = NetworkPlanner(conn, values, is_local_uri(invocation.params["uri"])).plan()
    if not invocation.check_mode:
        plan.execute()
    return result(conn, plan, invocation.check_mode)


NETWORK_ENTRY = Entry(NETWORK_MODULE, _network)


def run_network_module() -> None:
    run_entry(NETWORK_ENTRY)
