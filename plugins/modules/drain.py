#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: drain
short_description: Empty a hypervisor by live migration, or bring it back into the fleet
version_added: 0.1.0
description:
  - With O(state=drained), moves every running guest of the hypervisor at O(uri) to the other
    hypervisors of O(destinations) while they run, and marks it in maintenance, so placement puts
    nothing new on it. No guest is stopped.
  - Before anything moves, every destination is read once, every guest is checked against every
    destination (the pre-flight check of M(kvmfleet.kvm.migrate), each reason with its code) and
    placed with the fleet's rules - labels its declaration in O(guests) requires, the anti-affinity
    groups of O(anti_affinity), capacity from each destination's fleet record; destinations in
    maintenance take nothing - largest guests first. If any guest can go nowhere, the task fails
    before anything moves (and before the mark), listing each such guest and why each destination
    refused it, unless O(leave_unmovable).
  - Then the hypervisor is marked in maintenance and the guests move with bounded concurrency
    (O(concurrency)). Before each move its destination is read again; a guest that no longer fits
    there is placed again. Finally the hypervisor is read again - a guest still running there (other
    than those left on purpose) fails the task, which says what moved, what did not and why; the
    mark stays, and a rerun finishes the job.
  - Migrations are peer-to-peer by default, so a drain whose controller dies leaves every guest
    running on exactly one hypervisor; a rerun waits for migrations still in flight and moves the
    rest. A drain of an empty hypervisor in maintenance changes nothing.
  - With O(state=undrained), lifts the mark and, with O(return_guests), moves back the guests a drain
    moved away from this hypervisor (a drain records where each guest came from in its definition).
  - C(playbooks/drain.yml) and C(playbooks/undrain.yml) run it for one hypervisor of the inventory.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
options:
  uri:
    description:
      - The libvirt URI of the hypervisor to drain, as the module reaches it (usually V(qemu:///system) on
        the hypervisor itself, where the pre-flight check also sees its filesystems and name resolution).
  name:
    description: The hypervisor's name in the fleet (its inventory name), recorded with the guests it moves away.
    type: str
    required: true
  state:
    description: V(drained) empties it and marks it in maintenance; V(undrained) lifts the mark.
    type: str
    choices: [drained, undrained]
    default: drained
  destinations:
    description:
      - The other hypervisors of the fleet. C(playbooks/drain.yml) builds the list with the
        P(kvmfleet.kvm.fleet_destinations#filter) filter from the C(hypervisors) group.
      - One that cannot be reached is left out with a warning; the rest are used.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Its inventory name.
        type: str
        required: true
      uri:
        description: Its libvirt URI, as the drained hypervisor reaches it (and, peer-to-peer, its libvirtd).
        type: str
        required: true
      peer_uri:
        description: Its URI as the drained hypervisor's libvirtd reaches it, when that differs from C(uri).
        type: str
      migrate_uri:
        description: Where QEMU sends the guests' memory (default V(tcp://HOST) of its URI; see M(kvmfleet.kvm.migrate)).
        type: str
  peer_uri:
    description:
      - This hypervisor's URI as the other hypervisors' libvirtd reach it; needed by O(return_guests).
    type: str
  migrate_uri:
    description: Where QEMU sends returning guests' memory (O(return_guests)); default V(tcp://HOST) of O(peer_uri).
    type: str
  guests:
    description:
      - The fleet's guest declarations (the guests role's C(guests_fleet)); only their C(name) and
        C(placement) (C(requires) - labels their hypervisor must have) are used, to keep the rules
        placement followed. Guests not declared here move anywhere they fit.
    type: list
    elements: dict
    default: []
  defaults:
    description: Options every item of O(guests) gets unless it sets them (the guests role's C(guests_defaults)).
    type: dict
    default: {}
  anti_affinity:
    description: Anti-affinity groups, as the guests role takes them (C(guests_anti_affinity)).
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
    description: V(spread) - a guest goes where the most memory stays free; V(pack) - where it fits tightest.
    type: str
    choices: [spread, pack]
    default: spread
  migration:
    description:
      - "How guests move - every option of M(kvmfleet.kvm.migrate) that says how (not where), such as
        V({storage: copy, bandwidth: 100, converge: auto_converge})."
    type: dict
    default: {}
  concurrency:
    description: How many migrations run at once.
    type: dict
    default: {}
    suboptions:
      total:
        description: In all. The defaults suit a 1 GbE migration network.
        type: int
        default: 2
      per_source:
        description: From one hypervisor.
        type: int
        default: 2
      per_destination:
        description: Into one hypervisor.
        type: int
        default: 1
  leave_unmovable:
    description: Move the guests that can move and leave the others where they are (listed in RV(left)) instead of failing first.
    type: bool
    default: false
  stopped_guests:
    description:
      - V(leave) - stopped guests stay (their definitions survive maintenance); V(move) - their
        definitions move too (offline, shared storage only).
    type: str
    choices: [leave, move]
    default: leave
  return_guests:
    description: With O(state=undrained), move back the guests a drain moved away from this hypervisor.
    type: bool
    default: false
  reason:
    description: Why the hypervisor goes into maintenance (shown by host_info and the inventory).
    type: str
attributes:
  check_mode:
    support: full
    description:
      - Every destination is read, every guest checked and placed as in a real run; the task fails the
        same way. V(changed), the actions and RV(plan) are the same as a real run's; nothing is marked or moved.
  diff_mode:
    support: full
    description: The diff shows the maintenance mark before and after.
  idempotent:
    support: full
    description: A drained hypervisor in maintenance with no running guest is left alone.
notes:
  - A guest is never stopped, paused or destroyed by a drain.
  - The drained hypervisor's libvirtd needs access to every destination's URI (peer-to-peer migration) -
    SSH keys of its root for V(qemu+ssh://) URIs, or TCP/TLS listeners.
seealso:
  - module: kvmfleet.kvm.migrate
  - module: kvmfleet.kvm.hypervisor
  - module: kvmfleet.kvm.placement
"""

EXAMPLES = r"""
- name: Drain hv2 onto the other hypervisors (this task runs on hv2)
  kvmfleet.kvm.drain:
    name: "{{ inventory_hostname }}"
    reason: kernel update
    destinations: "{{ groups['hypervisors'] | kvmfleet.kvm.fleet_destinations(hostvars, exclude=inventory_hostname) }}"
    anti_affinity: "{{ guests_anti_affinity | default([]) }}"
    migration:
      bandwidth: 500
      converge: auto_converge
  register: drained

- name: Bring hv2 back and return its guests
  kvmfleet.kvm.drain:
    name: "{{ inventory_hostname }}"
    state: undrained
    return_guests: true
    peer_uri: qemu+ssh://root@hv2.example.com/system
    destinations: "{{ groups['hypervisors'] | kvmfleet.kvm.fleet_destinations(hostvars, exclude=inventory_hostname) }}"
"""

RETURN = r"""
hypervisor:
  description: The hypervisor's name (O(name)).
  returned: always
  type: str
  sample: hv2
state:
  description: O(state).
  returned: always
  type: str
  sample: drained
actions:
  description: What the module did (in check mode - would do), in order.
  returned: always
  type: list
  elements: str
  sample: ["write the hypervisor's fleet record (maintenance)", "move web1 from hv2 to hv3 (most free memory: 20480 MiB and 30 vCPUs left)"]
plan:
  description: Where each guest goes, and why there.
  returned: always
  type: list
  elements: dict
  sample: [{"guest": "web1", "from": "hv2", "to": "hv3", "reason": "most free memory: 20480 MiB and 30 vCPUs left"}]
moved:
  description:
    - Each guest moved - C(name), C(from), C(to), C(status) (V(moved), or V(there already) when an
      interrupted run had moved it), C(elapsed_s), C(duration_ms), C(downtime_ms) and C(transferred_mib).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "web1", "from": "hv2", "to": "hv3", "status": "moved", "elapsed_s": 2.4, "downtime_ms": 88}]
failures:
  description: Each guest whose move failed, with C(error) (and C(reasons) when the check refused it); it still runs on its source.
  returned: always
  type: list
  elements: dict
left:
  description:
    - Guests left where they are on purpose - stopped ones (O(stopped_guests)) and, with
      O(leave_unmovable), those that could move nowhere (C(refusals) - each destination's reason).
  returned: always
  type: list
  elements: dict
running_left:
  description: Guests still running on the drained hypervisor other than those in RV(left) (empty on success).
  returned: after a real drain
  type: list
  elements: str
elapsed_s:
  description: Seconds the marking and the moves took.
  returned: after a real run
  type: float
refused:
  description: On failure before anything moved - for each guest that fits nowhere, each destination's reason.
  returned: on failure
  type: dict
diff:
  description: The maintenance mark before and after.
  returned: always
  type: dict
  sample: {"before": {"maintenance": false}, "after": {"maintenance": true}}
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["concurrency.total: must be at least 1"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.module import run_drain_module


def main() -> None:
    run_drain_module()


if __name__ == "__main__":
    main()
