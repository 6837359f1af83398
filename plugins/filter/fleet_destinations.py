# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_destinations
short_description: The libvirt URIs of hypervisors of the inventory, as the drain module takes them
version_added: 0.1.0
author:
  - kvmfleet maintainers (@kvmfleet)
description:
  - Turns inventory names of hypervisors into the O(kvmfleet.kvm.drain#module:destinations) of
    M(kvmfleet.kvm.drain) - each with its name and the libvirt URI the other hypervisors reach it at.
  - The URI is the host's variable C(hypervisor_uri), else V(qemu+ssh://root@ADDRESS/system) with its
    C(ansible_host) (or its inventory name). C(hypervisor_peer_uri) and C(hypervisor_migrate_uri)
    become C(peer_uri) and C(migrate_uri) when set.
positional: hostvars, exclude
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
  exclude:
    description: An inventory name to leave out (the hypervisor being drained).
    type: str
"""

EXAMPLES = r"""
- name: Drain hv2 onto every other hypervisor of the group
  kvmfleet.kvm.drain:
    name: "{{ inventory_hostname }}"
    destinations: "{{ groups['hypervisors'] | kvmfleet.kvm.fleet_destinations(hostvars, exclude=inventory_hostname) }}"
"""

RETURN = r"""
_value:
  description: One dictionary per hypervisor with C(name), C(uri), C(peer_uri) and C(migrate_uri).
  type: list
  elements: dict
"""

from typing import Any, Callable, Optional


def destination(name: str, hostvars: Any) -> dict[str, Any]:
    """One hypervisor's name and libvirt URIs from its host variables."""
    host = hostvars[name]
    address = host.get("ansible_host") or name
    return {
        "name": name,
        "uri": host.get("hypervisor_uri") or f"qemu+ssh://root@{address}/system",
        "peer_uri": host.get("hypervisor_peer_uri"),
        "migrate_uri": host.get("hypervisor_migrate_uri"),
    }


def fleet_destinations(names: list[str], hostvars: Any, exclude: Optional[str] = None) -> list[dict[str, Any]]:
    return [destination(name, hostvars) for name in names if name != exclude]


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"fleet_destinations": fleet_destinations}
