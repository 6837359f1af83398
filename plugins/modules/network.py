#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: network
short_description: Declare a libvirt network; DHCP and DNS hosts change live, the rest only with a restart allowed
version_added: 0.1.0
description:
  - Makes one libvirt virtual network match the options given. A network that does not exist is
    defined (and started for O(state=active)); a network that exists is updated, comparing only the
    options that are set with what libvirt reports. Values libvirt fills in (UUID, bridge name, MAC,
    NAT port range) never count as a change.
  - Changes to O(ipv4.dhcp_hosts), O(ipv6.dhcp_hosts) and O(dns_hosts) reach an active network live
    through the network update API (C(virNetworkUpdate), live and persistent in one call); dnsmasq
    learns them, and guests keep their connection.
  - Every other change to an active network takes a restart of the network (destroy and start),
    which cuts its guests off their network. It happens only with O(restart=true); without it the
    module fails, naming the option, and changes nothing.
  - All options are validated together before anything is changed; every error names its field,
    such as C(ipv4.dhcp_ranges[1]). DHCP ranges and fixed hosts must lie in the subnet, ranges must
    not overlap, MAC addresses must be unicast, and on a local URI the host bridge or interfaces a
    network names must exist. A subnet another libvirt network uses is refused.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
  - kvmfleet.kvm.attributes.converge
options:
  name:
    description: Name of the network.
    type: str
    required: true
  forward:
    description:
      - How guests reach the outside. V(nat) (masquerade through the host), V(route) (routed, no NAT),
        V(open) (no firewall rules at all), V(isolated) (guests and host only); for these libvirt creates a
        bridge and runs dnsmasq.
      - V(bridge) puts guests on an existing host bridge O(bridge); V(macvtap) attaches them directly
        to host O(interfaces) (mode O(macvtap_mode)); V(hostdev) gives them virtual functions of the
        SR-IOV physical function O(pf).
      - Default when created - V(nat).
    type: str
    choices: [nat, route, open, isolated, bridge, macvtap, hostdev]
  bridge:
    description:
      - For V(nat), V(route), V(open), V(isolated) - the name of the bridge libvirt creates (default
        chosen by libvirt, such as C(virbr3)).
      - For O(forward=bridge) - the existing host bridge, required.
    type: str
  forward_dev:
    description: For V(nat) and V(route) - the host interface traffic leaves through (default any).
    type: str
  interfaces:
    description: For O(forward=macvtap) - the host interfaces guests attach to.
    type: list
    elements: str
  macvtap_mode:
    description: For O(forward=macvtap) - the macvtap mode. Default V(bridge).
    type: str
    choices: [bridge, vepa, private, passthrough]
  pf:
    description: For O(forward=hostdev) - the SR-IOV physical function whose virtual functions guests get.
    type: str
  mtu:
    description: MTU of the network's bridge and of guest interfaces on it.
    type: int
  domain:
    description: DNS domain of the network; dnsmasq answers for names in it.
    type: str
  ipv4:
    description: The network's IPv4 address and DHCP. Not with O(forward=bridge), V(macvtap) or V(hostdev).
    type: dict
    suboptions:
      address:
        description: The host's address on the network with its prefix length, such as C(192.168.50.1/24).
        type: str
        required: true
      dhcp_ranges:
        description: Address ranges handed out by DHCP; inside the subnet, not overlapping, not holding O(ipv4.address).
        type: list
        elements: dict
        suboptions:
          start:
            description: First address of the range.
            type: str
            required: true
          end:
            description: Last address of the range.
            type: str
            required: true
      dhcp_hosts:
        description:
          - Fixed addresses (MAC or DUID -> IP -> name). Order does not matter. Changed live on an
            active network.
        type: list
        elements: dict
        suboptions:
          mac:
            description: The client's MAC address (IPv4 only).
            type: str
          id:
            description: The client's DUID (IPv6 only).
            type: str
          name:
            description: Host name given to the client; also resolves through the network's DNS.
            type: str
          ip:
            description: The fixed address, inside the subnet.
            type: str
            required: true
  ipv6:
    description: The network's IPv6 address and DHCPv6, with the same suboptions as O(ipv4).
    type: dict
    suboptions:
      address:
        description: The host's address on the network with its prefix length, such as C(fd00:50::1/64).
        type: str
        required: true
      dhcp_ranges:
        description: Address ranges handed out by DHCP; inside the subnet, not overlapping, not holding O(ipv6.address).
        type: list
        elements: dict
        suboptions:
          start:
            description: First address of the range.
            type: str
            required: true
          end:
            description: Last address of the range.
            type: str
            required: true
      dhcp_hosts:
        description:
          - Fixed addresses (MAC or DUID -> IP -> name). Order does not matter. Changed live on an
            active network.
        type: list
        elements: dict
        suboptions:
          mac:
            description: The client's MAC address (IPv4 only).
            type: str
          id:
            description: The client's DUID (IPv6 only).
            type: str
          name:
            description: Host name given to the client; also resolves through the network's DNS.
            type: str
          ip:
            description: The fixed address, inside the subnet.
            type: str
            required: true
  dns_hosts:
    description: Extra DNS records served by the network's dnsmasq. Order does not matter. Changed live.
    type: list
    elements: dict
    suboptions:
      ip:
        description: The address the names resolve to.
        type: str
        required: true
      hostnames:
        description: The names.
        type: list
        elements: str
        required: true
  autostart:
    description: Start the network when libvirtd starts. Changed without a restart.
    type: bool
  state:
    description:
      - V(active) - defined and running. V(inactive) - defined and stopped (guests on it lose their
        network). V(present) - defined; a new network is not started, an existing one keeps its state.
        V(absent) - stopped and undefined.
    type: str
    choices: [present, active, inactive, absent]
    default: active
  restart:
    description:
      - Allow restarting an active network (destroy and start) to apply a change that libvirt cannot
        make live. Guests on the network lose connectivity during the restart; libvirt reconnects
        their interfaces when it starts the network again.
    type: bool
    default: false
notes:
  - The module manages the first address of each family; further C(<ip>) elements are kept as they are.
  - A transient network that is changed is defined, so it becomes persistent.
"""

EXAMPLES = r"""
- name: A NAT network with DHCP, fixed hosts and DNS names
  kvmfleet.kvm.network:
    name: lab
    forward: nat
    domain: lab.example
    ipv4:
      address: 192.168.50.1/24
      dhcp_ranges:
        - {start: 192.168.50.100, end: 192.168.50.199}
      dhcp_hosts:
        - {mac: "52:54:00:00:50:10", ip: 192.168.50.10, name: web1}
    ipv6:
      address: fd00:50::1/64
    dns_hosts:
      - {ip: 192.168.50.5, hostnames: [registry]}
    autostart: true

- name: Guests on the host bridge br0
  kvmfleet.kvm.network:
    name: lan
    forward: bridge
    bridge: br0

- name: Change the DHCP range of the running network - restarts it
  kvmfleet.kvm.network:
    name: lab
    ipv4:
      address: 192.168.50.1/24
      dhcp_ranges:
        - {start: 192.168.50.50, end: 192.168.50.199}
    restart: true

- name: Remove it
  kvmfleet.kvm.network:
    name: lab
    state: absent
"""

RETURN = r"""
name:
  description: The network's name.
  returned: always
  type: str
  sample: lab
state:
  description: The network's state after the run (predicted in check mode).
  returned: always
  type: str
  sample: active
  choices: [active, inactive, absent]
bridge:
  description: The network's bridge (chosen by libvirt when not set; unknown in check mode for a new network).
  returned: when the network exists
  type: str
  sample: virbr3
actions:
  description: What was done (in check mode - what would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["add DHCP host 52:54:00:00:50:11 -> 192.168.50.11 (live and persistent)"]
restarted:
  description: Whether the network was (or in check mode would be) restarted.
  returned: always
  type: bool
  sample: false
diff:
  description: The options that differ, before and after.
  returned: always
  type: dict
  sample: {"before": {"ipv4.dhcp_hosts": []}, "after": {"ipv4.dhcp_hosts": [{"mac": "52:54:00:00:50:11", "ip": "192.168.50.11", "name": null, "id": null}]}}
xml:
  description: The network's XML after the run (live when active; in check mode the definition that would be written).
  returned: when the network exists
  type: str
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["ipv4.dhcp_hosts[0].mac: '52:54:00' is not a MAC address (six hex pairs such as 52:54:00:12:34:56)"]
needs_option:
  description: The option that would allow what the task needs (V(restart), for a change that takes a restart of the active network); nothing was done.
  returned: when the task failed because an action needs an option
  type: str
  sample: restart
done:
  description: When the task failed while its actions ran, the actions that completed before the failure (in check mode none run).
  returned: when an action failed
  type: list
  elements: str
  sample: ["define network lab"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._network.module import run_network_module


def main() -> None:
    run_network_module()


if __name__ == "__main__":
    main()
