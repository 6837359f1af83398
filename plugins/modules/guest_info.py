#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: guest_info
short_description: Facts about the guests of a libvirt hypervisor
version_added: 0.1.0
description:
  - Lists the guests of a hypervisor (or those named, or those carrying tags) with their state, vCPUs,
    memory, disks, interfaces, IP addresses and the tags set by M(kvmfleet.kvm.guest).
  - Batched, so it stays fast on large hosts - all domains and their states come from one
    C(getAllDomainStats) call, each guest's definition from one C(XMLDesc) call, and DHCP leases from
    one call per libvirt network. Only running guests are asked for addresses, and only the sources
    without a batched form (C(agent), and C(arp) on a remote hypervisor) cost one call per running guest.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
  - kvmfleet.kvm.attributes.info
options:
  name:
    description:
      - Only the guests with these names. Names that do not exist are left out of the result (no error).
    type: list
    elements: str
    aliases: [names]
  tags:
    description:
      - Only the guests that carry every one of these tags (O(kvmfleet.kvm.guest#module:tags)).
    type: list
    elements: str
  address_sources:
    description:
      - Where running guests' addresses come from, in order of preference; an empty list skips addresses.
      - V(lease) - the DHCP leases of libvirt's own networks (read once per network).
      - V(arp) - the hypervisor's neighbour (ARP) table, for guests on host bridges. When the hypervisor is
        the host the module runs on (a URI without a host part), the kernel's table is read once for all
        guests (C(ip -j neigh), IPv4 and IPv6; else C(/proc/net/arp), IPv4); for a remote hypervisor,
        libvirt's ARP source, one call per running guest. A guest appears there only once the host has
        exchanged packets with it.
      - V(agent) - the QEMU guest agent inside the guest (every interface, also static addresses); one
        call per running guest, and it needs a read-write connection (the module opens one only then).
    type: list
    elements: str
    choices: [lease, agent, arp]
    default: [lease, arp]
seealso:
  - module: kvmfleet.kvm.guest
  - plugin: kvmfleet.kvm.libvirt
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Every guest of the hypervisor
  kvmfleet.kvm.guest_info:
  register: info

- name: Print each guest's state and address
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.state }} {{ item.address | default('-', true) }}"
  loop: "{{ info.guests }}"
  loop_control:
    label: "{{ item.name }}"

- name: The web guests, with addresses from the guest agent first
  kvmfleet.kvm.guest_info:
    tags: [web]
    address_sources: [agent, lease]
  register: web
"""

RETURN = r"""
guests:
  description: The guests, sorted by name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The guest's name.
      type: str
      sample: web1
    uuid:
      description: The guest's UUID.
      type: str
    state:
      description: Its power state.
      type: str
      choices: [running, paused, stopped, crashed, unknown]
      sample: running
    title:
      description: The guest's title, if any.
      type: str
    description:
      description: The guest's description, if any.
      type: str
    tags:
      description: Its tags (sorted).
      type: list
      elements: str
      sample: [db, web]
    virt_type:
      description: The domain type, V(kvm) or V(qemu) (TCG emulation).
      type: str
    arch:
      description: Its CPU architecture.
      type: str
      sample: x86_64
    vcpus:
      description: Current vCPUs (live when running).
      type: int
      sample: 2
    max_vcpus:
      description: vCPUs it can have at most.
      type: int
    memory_mib:
      description: Its current memory in MiB (live when running).
      type: int
      sample: 2048
    max_memory_mib:
      description: The memory it can have at most, in MiB.
      type: int
    guest_agent:
      description:
        - Whether it has the QEMU guest agent's channel (O(kvmfleet.kvm.guest#module:guest_agent)) - what the
          connection plugin P(kvmfleet.kvm.guest_agent#connection) and the V(agent) address source need, with
          qemu-guest-agent running in the guest.
      type: bool
      sample: true
    disks:
      description: Its disks and cdroms, in the shape of M(kvmfleet.kvm.guest)'s O(kvmfleet.kvm.guest#module:disks).
      type: list
      elements: dict
      sample: [{"device": "disk", "bus": "virtio", "target": "vda", "pool": "default", "volume": "web1-vda.qcow2",
                "path": null, "format": "qcow2", "cache": null, "io": null, "discard": null, "readonly": false}]
    interfaces:
      description: Its network interfaces.
      type: list
      elements: dict
      sample: [{"type": "network", "source": "default", "mac": "52:54:00:12:34:56", "model": "virtio", "link_state": "up"}]
    addresses:
      description:
        - Its usable IP addresses (no loopback or link-local), from the sources in O(address_sources) order,
          each address once. Empty for guests that do not run.
      type: list
      elements: dict
      sample: [{"address": "192.168.122.10", "prefix": 24, "family": "ipv4", "mac": "52:54:00:12:34:56",
                "interface": "virbr0", "source": "lease"}]
    address:
      description: The address to reach it at - the first IPv4 address, else the first IPv6 address, else V(null).
      type: str
      sample: 192.168.122.10
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["reconnect_timeout: expected a whole number, got 'soon'"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.info import GUEST_INFO_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_entry


def main() -> None:
    run_entry(GUEST_INFO_ENTRY)


if __name__ == "__main__":
    main()
