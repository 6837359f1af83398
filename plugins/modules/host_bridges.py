#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: host_bridges
short_description: Linux bridges and VLANs of a hypervisor, persisted with its network stack and applied with a rollback
version_added: 0.1.0
description:
  - Persists the host's Linux bridges (uplink ports, VLAN sub-interfaces and VLAN bridges, STP, forward
    delay, MTU, static or DHCP addresses) with its own network stack (ifupdown, systemd-networkd or
    NetworkManager) and applies a change safely. O(bridges) and O(vlans) are the complete set the module
    manages; bridges it made that are no longer listed are removed.
  - Every value is checked against the others and against the host's interfaces before anything is
    touched, and every problem is reported at once with its field (C(bridges[0].ports[1]) ...), in
    RV(errors). Ports and VLAN parents must exist on the host unless a port is a VLAN of O(vlans); a bridge
    name must not be an existing interface that is not a bridge; addresses are CIDR; the gateway is an IPv4
    address inside the subnet of one of the bridge's IPv4 addresses; VLAN ids are 1 to 4094, interface
    names at most 15 characters, MTUs 68 to 65535 (at least 1280 with IPv6 addresses).
  - The configuration is compared with the installed files and with what runs. A port taken out of its
    bridge, an interface down or a static IPv4 address removed by hand is a change (RV(drift)), and the
    next run puts it back.
  - Safe apply. Before a change, a rollback is armed (a detached process, or a NetworkManager checkpoint).
    After the switch the host must reach every address of O(check_targets) within O(check_timeout)
    seconds, otherwise the previous configuration comes back by itself O(rollback_timeout) seconds after it
    was armed, also when the controller's connection was cut by the change. A switch that fails is rolled
    back at once. A run while the rollback of an earlier apply is still pending waits for it, then starts
    from the restored configuration; the saved configuration to come back to is never replaced by one
    that was not confirmed.
  - The switch and the rollback are done by a script the module writes into O(state_dir) (C(kvmfleet-netapply)),
    because they must outlive the module and the connection. The lock C(state_dir/lock) makes two runs on
    one host take turns.
  - The P(kvmfleet.kvm.bridges#role) role installs the backend's packages and runs this module.
author:
  - kvmfleet maintainers (@kvmfleet)
options:
  bridges:
    description: The bridges.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The bridge's interface name (at most 15 characters).
        type: str
        required: true
      ports:
        description:
          - Interfaces enslaved to the bridge, an uplink that exists on the host or a VLAN of O(vlans).
          - For ifupdown their stanzas in C(/etc/network/interfaces) are commented out in the same change,
            so the address of an uplink can move onto the bridge.
        type: list
        elements: str
        default: []
      stp:
        description: Spanning tree protocol.
        type: bool
        default: false
      forward_delay:
        description: Forward delay in seconds (0 to 30; NetworkManager takes 2 to 30 with STP on).
        type: int
        default: 0
      mtu:
        description: MTU of the bridge and its ports (68 to 65535; at least 1280 with IPv6 addresses).
        type: int
      addresses:
        description: Static addresses with their prefix length, IPv4 and IPv6 (C(192.0.2.10/24), C(2001:db8::10/64)).
        type: list
        elements: str
        default: []
      gateway:
        description: The IPv4 default gateway through the bridge, inside the subnet of one of its IPv4 addresses; not with O(bridges[].dhcp).
        type: str
      dhcp:
        description: Take the IPv4 address by DHCP (excludes IPv4 O(bridges[].addresses)).
        type: bool
        default: false
  vlans:
    description: VLAN sub-interfaces; their names are the ports of VLAN bridges.
    type: list
    elements: dict
    default: []
    suboptions:
      device:
        description: The parent interface; it must exist on the host.
        type: str
        required: true
      id:
        description: The VLAN id (1 to 4094).
        type: int
        required: true
      name:
        description: The interface name (at most 15 characters). Default C(<device>.<id>).
        type: str
      mtu:
        description: MTU of the sub-interface (68 to 65535).
        type: int
  backend:
    description:
      - The network stack that persists the configuration.
      - V(ifupdown) (with bridge-utils) writes C(/etc/network/interfaces.d/kvmfleet-bridges).
      - V(systemd_networkd) writes C(10-kvmfleet-port-*.network) and C(60-kvmfleet-*) in C(/etc/systemd/network);
        the port files sort first, so they win over other files matching the port.
      - V(networkmanager) writes keyfiles C(kvmfleet-*.nmconnection); the port profiles have autoconnect
        priority 100, and the rollback is a NetworkManager checkpoint.
      - V(auto) picks NetworkManager when it runs, then systemd-networkd when it runs, else ifupdown.
    type: str
    choices: [auto, ifupdown, systemd_networkd, networkmanager]
    default: auto
  check_targets:
    description: Addresses the host must reach (ping) after a change, such as the gateway and the controller. Required with O(bridges).
    type: list
    elements: str
    default: []
  check_timeout:
    description: Seconds the check targets get to answer after a change.
    type: int
    default: 30
  rollback_timeout:
    description: Seconds after the change when the previous configuration comes back unless confirmed; more than O(check_timeout).
    type: int
    default: 90
  state_dir:
    description: Where the module keeps the configuration it applies, the backup, the rollback's state and log.
    type: str
    default: /var/lib/kvmfleet/bridges
notes:
  - Needs root, C(ip) (iproute2) and C(ping); ifupdown needs C(ifup) and bridge-utils, NetworkManager C(nmcli) and C(busctl).
extends_documentation_fragment:
  - kvmfleet.kvm.attributes.action
attributes:
  check_mode:
    support: full
    description:
      - Renders and compares in memory and writes nothing, not even O(state_dir); V(changed) and the diff are
        the real run's. While a rollback is pending it says so and compares with the configuration the
        rollback restores.
  diff_mode:
    support: full
    description: One diff per configuration file that differs, with its installed path.
  idempotent:
    support: full
    description: A configuration in place (same files, interfaces up, ports in their bridges) changes nothing.
  platform:
    support: full
    platforms: posix
    description: Linux hosts with iproute2; Python's standard library only, no libvirt.
"""

EXAMPLES = r"""
- name: A management bridge that takes the uplink's address, and a VLAN bridge for guests
  kvmfleet.kvm.host_bridges:
    vlans:
      - device: eno2
        id: 100
    bridges:
      - name: br0
        ports: [eno1]
        addresses: [192.0.2.10/24, "2001:db8::10/64"]
        gateway: 192.0.2.1
      - name: br100
        ports: [eno2.100]
        stp: true
        forward_delay: 4
        mtu: 9000
    check_targets: [192.0.2.1]

- name: What would change, without changing anything
  kvmfleet.kvm.host_bridges:
    bridges:
      - name: br0
        ports: [eno1]
        dhcp: true
    check_targets: [192.0.2.1]
  check_mode: true
  diff: true
  register: bridges
"""

RETURN = r"""
backend:
  description: The backend used (after V(auto) was resolved).
  returned: always
  type: str
  sample: ifupdown
files:
  description: The complete configuration, by the path each file is installed at.
  returned: success
  type: dict
  sample: {"/etc/network/interfaces.d/kvmfleet-bridges": "auto br0\niface br0 inet dhcp\n    bridge_ports eno1\n"}
drift:
  description: What runs differs from the configuration (an interface missing or down, a port out of its bridge, an address missing).
  returned: success
  type: list
  elements: str
  sample: ["eno1: not a port of br0 (master: none)"]
output:
  description: What the agent and the wait for a pending rollback said, line by line.
  returned: always
  type: list
  elements: str
  sample: ["changed"]
errors:
  description: Every problem of the input, each starting with its field.
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["bridges[0].ports[1]: no interface eno9 on the host, and no VLAN of vlans has that name"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._bridges.module import HOST_BRIDGES_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_entry


def main() -> None:
    run_entry(HOST_BRIDGES_ENTRY)


if __name__ == "__main__":
    main()
