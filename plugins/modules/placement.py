#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: placement
short_description: Decide which hypervisor each guest of the fleet runs on
version_added: 0.1.0
description:
  - Places the guests of O(guests), declared once for the whole fleet, on the hypervisors of
    O(hypervisors) - from one read of each (M(kvmfleet.kvm.host_info)), on the controller, without
    contacting any host. The guests role does this for its C(guests_fleet).
  - A guest that already exists on a hypervisor stays there (a warning says so when that hypervisor
    no longer suits it - in maintenance, lacking a label, a hard anti-affinity conflict); placement
    never moves a guest, so a rerun over the hypervisors' new figures moves nothing.
  - A new guest goes to a hypervisor that is not in maintenance, has every label the guest's
    C(placement.requires) names, keeps its hard anti-affinity groups (never two members on one
    hypervisor) and has room for its memory and vCPUs (allocatable minus committed, from the
    hypervisor's fleet record - see M(kvmfleet.kvm.hypervisor) - minus what this placement already
    put there). C(placement.hypervisor) pins it to one. Among those, the fewest members of its soft
    groups wins, then (O(strategy=spread)) the most memory left free, or (O(strategy=pack)) the
    least; ties go to the name that sorts first. Largest guests are placed first. The same input
    always gives the same placement.
  - A guest that fits nowhere fails the task before anything is created, naming the guest and why
    each hypervisor refused it. Bad input fails naming the field, such as
    C(anti_affinity[0].guests[2]) for a group member that is not a guest of O(guests).
  - Runs on the controller, whatever host the task is for (an action plugin); it needs no libvirt.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.attributes.info
options:
  hypervisors:
    description:
      - Each hypervisor's inventory name and what M(kvmfleet.kvm.host_info) returned for it as C(host)
        (its C(capacity), C(labels), C(maintenance) and C(guests) are used).
    type: dict
    required: true
  guests:
    description:
      - The fleet's guests. Each item takes the options of M(kvmfleet.kvm.guest) (checked as that module
        checks them; C(memory) and C(vcpus) as the guest would be created), with O(defaults) beneath it.
      - C(placement.hypervisor) pins a guest to a hypervisor; C(placement.requires) lists labels its
        hypervisor must have.
    type: list
    elements: dict
    required: true
  defaults:
    description: Options every guest gets unless it sets them (item keys win; dictionaries are replaced, not merged).
    type: dict
    default: {}
  anti_affinity:
    description: Anti-affinity groups.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The group's name.
        type: str
        required: true
      guests:
        description: Its members (names of O(guests)).
        type: list
        elements: str
        required: true
      mode:
        description: V(hard) - never two members on one hypervisor; V(soft) - avoid it.
        type: str
        choices: [hard, soft]
        default: hard
  strategy:
    description: V(spread) - the most memory left free; V(pack) - the tightest fit.
    type: str
    choices: [spread, pack]
    default: spread
attributes:
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
  action:
    support: full
    description: An action plugin does the work on the controller; no module is sent to a host.
  async:
    support: none
    description: It returns at once.
seealso:
  - module: kvmfleet.kvm.host_info
  - module: kvmfleet.kvm.guests
"""

EXAMPLES = r"""
- name: Read every hypervisor
  kvmfleet.kvm.host_info:
  register: hv

- name: Place the fleet's guests
  kvmfleet.kvm.placement:
    hypervisors: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, ['hv', 'host']))) }}"
    guests:
      - {name: db1, memory: 8GiB, vcpus: 4, placement: {requires: [ssd]}}
      - {name: web1, memory: 2GiB}
      - {name: web2, memory: 2GiB}
    anti_affinity:
      - {name: web, guests: [web1, web2]}
  run_once: true
  register: placed

- name: Each hypervisor's share
  ansible.builtin.debug:
    msg: "{{ placed.hypervisors[inventory_hostname] }}"
"""

RETURN = r"""
placement:
  description: The hypervisor of each guest.
  returned: success
  type: dict
  sample: {"db1": "hv1", "web1": "hv2", "web2": "hv3"}
hypervisors:
  description: The guests of each hypervisor (every hypervisor of O(hypervisors), possibly with none), in the order of O(guests).
  returned: success
  type: dict
  sample: {"hv1": ["db1"], "hv2": ["web1"], "hv3": ["web2"]}
decisions:
  description: For each guest, in the order of O(guests) - C(guest), C(hypervisor), C(existing) (it was there already) and C(reason).
  returned: success
  type: list
  elements: dict
  sample: [{"guest": "web1", "hypervisor": "hv2", "existing": false, "reason": "most free memory: 20480 MiB and 30 vCPUs left"}]
new:
  description: How many guests are new (not on any hypervisor yet).
  returned: success
  type: int
  sample: 2
refused:
  description: When some guests fit nowhere - for each, each hypervisor's reason.
  returned: failure
  type: dict
  sample: {"db2": {"hv1": "needs 8192 MiB, 4096 MiB available", "hv2": "lacks the label ssd"}}
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["guests[0].memory: unknown unit 'x' in '1x'; use B, KiB, MiB, GiB, TiB (or K, M, G, T; KB, MB, GB, TB)"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.module import run_placement_module


def main() -> None:
    run_placement_module()


if __name__ == "__main__":
    main()
