# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_hypervisors
short_description: The hypervisors of the inventory with their libvirt URIs and declared guests, for the fleet report
version_added: 0.1.0
author:
  - kvmfleet maintainers (@kvmfleet)
description:
  - Turns inventory names of hypervisors into the O(kvmfleet.kvm.fleet_report#module:hypervisors) of
    M(kvmfleet.kvm.fleet_report) - each with its name, the libvirt URI the controller reaches it at, and the
    guests the guests role declares for it.
  - The URI is the host's variable C(hypervisor_uri); else, for a host reached with the local connection
    (the controller itself), its C(guests_uri) or V(qemu:///system); else V(qemu+ssh://root@ADDRESS/system)
    with its C(ansible_host) (or its inventory name), as P(kvmfleet.kvm.fleet_destinations#filter) says it.
  - The guests are the host's C(guests_list) with its C(guests_defaults) (the guests role's variables).
positional: hostvars
options:
  _input:
    description: Inventory names of hypervisors, such as C(groups['hypervisors']).
    type: list
    elements: str
    required: true
  hostvars:
    description: Ansible's C(hostvars).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Report on every hypervisor of the group
  kvmfleet.kvm.fleet_report:
    hypervisors: "{{ groups['hypervisors'] | kvmfleet.kvm.fleet_hypervisors(hostvars) }}"
    dest: report
  run_once: true
"""

RETURN = r"""
_value:
  description: One dictionary per hypervisor with C(name), C(uri), C(guests) and C(defaults).
  type: list
  elements: dict
"""

from typing import Any, Callable

from ansible_collections.kvmfleet.kvm.plugins.filter.fleet_destinations import destination

LOCAL_CONNECTIONS = ("local", "ansible.builtin.local", "ansible.legacy.local")


def hypervisor(name: str, hostvars: Any) -> dict[str, Any]:
    """One hypervisor's name, URI and declared guests from its host variables."""
    host = hostvars[name]
    uri = host.get("hypervisor_uri")
    if not uri and host.get("ansible_connection") in LOCAL_CONNECTIONS:
        uri = host.get("guests_uri") or "qemu:///system"
    return {
        "name": name,
        "uri": uri or destination(name, hostvars)["uri"],
        "guests": host.get("guests_list") or [],
        "defaults": host.get("guests_defaults") or {},
    }


def fleet_hypervisors(names: list[str], hostvars: Any) -> list[dict[str, Any]]:
    return [hypervisor(name, hostvars) for name in names]


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"fleet_hypervisors": fleet_hypervisors}
