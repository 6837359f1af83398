#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_report
short_description: Report the drift, capacity and migratability of every hypervisor of the fleet
version_added: 0.1.0
description:
  - Reads every hypervisor of O(hypervisors) once, all at the same time, over the libvirt URI the
    controller reaches it at, and writes C(report.json) (for machines; its schema is in the collection's
    C(docs/report.schema.json)) and C(report.html) (for people - one self-contained page, no network
    access, that works from a C(file://) URL) into O(dest) on the controller. C(playbooks/report.yml)
    calls it for the C(hypervisors) group.
  - B(Capacity) of each hypervisor as its fleet record counts it (see M(kvmfleet.kvm.hypervisor)) - memory
    and vCPUs physical, allocatable (overcommit, reserved memory), committed by guests, free - its storage
    pools' capacity and allocation, its maintenance mark and labels.
  - B(Drift) of every guest - what a run of the declared state would change, the plan of
    M(kvmfleet.kvm.guests) in check mode for the guests declared for each hypervisor (O(hypervisors[].guests),
    the guests role's C(guests_list)) and for the fleet's guests (O(guests), the role's C(guests_fleet),
    placed as the role places them - a guest that exists stays where it is). Also the guests defined on a
    hypervisor that no declaration names, the declared guests that exist nowhere (and where placement would
    create them), a guest defined on two hypervisors (by name or UUID), and a guest declared for one
    hypervisor that runs on another (drained away). A change that would need an option such as C(recreate)
    shows as an error with that option.
  - B(Migratability) of every guest - where it could be live-migrated (a stopped guest - its definition
    moved) among the other hypervisors that answered, else every reason, with the stable codes, messages and
    fixes of the pre-flight check of M(kvmfleet.kvm.migrate) (libvirt compares a running guest's CPU with
    each destination's). Disks on shared storage are assumed, as a drain moves guests by default.
  - B(N+1 headroom) - for each hypervisor, whether the others could take its running guests if it were
    drained (placement's labels, anti-affinity and capacity, and the pre-flight check, as
    M(kvmfleet.kvm.drain) would place them), and which guests would fit nowhere; the largest hypervisor's
    verdict is the fleet's N+1.
  - A hypervisor that cannot be reached within O(connect_timeout) (or fails while read) is reported as
    unreachable with the reason; the others are still reported, and declared guests not found on them
    are reported as not found rather than missing.
  - Nothing in the fleet is changed and nothing is waited for; a guest in a transient state (starting,
    shutting down) shows as an error saying so. Secrets - passwords, cloud-init user data, any value given
    to the task as a secret - never appear in the files or the result.
  - Runs on the controller, whatever host the task is for (an action plugin), and needs the libvirt Python
    binding there, as the inventory plugin does.
author:
  - kvmfleet maintainers (@kvmfleet)
options:
  hypervisors:
    description:
      - The hypervisors to report on, each with the libvirt URI the controller reaches it at and the guests
        declared for it. The filter P(kvmfleet.kvm.fleet_hypervisors#filter) builds this list from the
        inventory.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Its inventory name.
        type: str
        required: true
      uri:
        description: Its libvirt URI as the controller reaches it, such as V(qemu+ssh://root@hv1/system) or, for the controller itself, V(qemu:///system).
        type: str
        required: true
      guests:
        description:
          - The guests declared for this hypervisor (the guests role's C(guests_list)). Each item takes the
            options of M(kvmfleet.kvm.guest), with O(hypervisors[].defaults) beneath it.
        type: list
        elements: dict
        default: []
      defaults:
        description: Options every guest of O(hypervisors[].guests) gets unless it sets them (the role's C(guests_defaults)).
        type: dict
        default: {}
  guests:
    description:
      - The fleet's guests, declared once for all hypervisors (the guests role's C(guests_fleet)). Each item
        takes the options of M(kvmfleet.kvm.guest) and C(placement), with O(defaults) beneath it.
      - A guest may be declared only once in the whole fleet (here or for one hypervisor).
    type: list
    elements: dict
    default: []
  defaults:
    description: Options every guest of O(guests) gets unless it sets them (item keys win; dictionaries are replaced, not merged).
    type: dict
    default: {}
  anti_affinity:
    description: Anti-affinity groups of the fleet's guests (the role's C(guests_anti_affinity)), for placement and headroom.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The group's name.
        type: str
        required: true
      guests:
        description: Its members (declared guests).
        type: list
        elements: str
        required: true
      mode:
        description: V(hard) - never two members on one hypervisor; V(soft) - avoid it.
        type: str
        choices: [hard, soft]
        default: hard
  strategy:
    description: The placement strategy of the fleet's new guests (the role's C(guests_placement_strategy)).
    type: str
    choices: [spread, pack]
    default: spread
  dest:
    description:
      - The directory on the controller that C(report.json) and C(report.html) are written to (made if
        missing; each file is replaced whole). A relative path is relative to where C(ansible-playbook) runs;
        C(~) is expanded.
    type: str
    required: true
  title:
    description: The report's title.
    type: str
    default: kvmfleet report
  inventory:
    description: The inventory sources, shown in the report's header (C(ansible_inventory_sources)).
    type: list
    elements: str
    default: []
  connect_timeout:
    description: Seconds to wait for each hypervisor's libvirt to answer before it is reported as unreachable.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    description: Reads the fleet as in a real run and returns the same result; the files are not written.
  diff_mode:
    support: full
    description: The findings of the report in O(dest) before, and now, when they differ.
  idempotent:
    support: full
    description: Changes nothing in the fleet; V(changed) only when the findings differ from the report already in O(dest).
  platform:
    support: full
    platforms: posix
    description: Runs on the controller, which needs the libvirt Python binding.
  action:
    support: full
    description: An action plugin does the work on the controller; no module is sent to a host.
  async:
    support: none
    description: It returns when the report is written.
notes:
  - V(changed) means the fleet is not as the previous report in O(dest) saw it - a hypervisor that answers
    or not, a guest created, removed, started, stopped, drifted or no longer movable, the N+1 verdict; a
    scheduled report can alert on it. The files are written on every run (with the time of this one).
  - When read over a remote URI, C(virt_type=auto) is judged from the hypervisor's capabilities (is the
    kvm domain type offered), not from its kernel modules as the guest module does on the host itself.
seealso:
  - module: kvmfleet.kvm.guests
  - module: kvmfleet.kvm.host_info
  - module: kvmfleet.kvm.migrate
  - module: kvmfleet.kvm.drain
"""

EXAMPLES = r"""
- name: Report on every hypervisor of the inventory (what playbooks/report.yml does)
  kvmfleet.kvm.fleet_report:
    hypervisors: "{{ groups['hypervisors'] | kvmfleet.kvm.fleet_hypervisors(hostvars) }}"
    guests: "{{ guests_fleet | default([]) }}"
    defaults: "{{ guests_defaults | default({}) }}"
    anti_affinity: "{{ guests_anti_affinity | default([]) }}"
    inventory: "{{ ansible_inventory_sources }}"
    dest: /srv/www/fleet
  run_once: true
  register: report

- name: Two hypervisors given by hand
  kvmfleet.kvm.fleet_report:
    hypervisors:
      - name: hv1
        uri: qemu+ssh://root@hv1.example.com/system
        guests:
          - {name: web1, memory: 2GiB, vcpus: 2}
      - name: hv2
        uri: qemu+tls://hv2.example.com/system
    dest: report

- name: Print the summary
  ansible.builtin.debug:
    msg: "{{ report.summary }}"
"""

RETURN = r"""
json:
  description: The path of C(report.json) (not written in check mode).
  returned: success
  type: str
  sample: /srv/www/fleet/report.json
html:
  description: The path of C(report.html) (not written in check mode).
  returned: success
  type: str
  sample: /srv/www/fleet/report.html
summary:
  description: The report's summary, worst first - what a person reads at the end of the play.
  returned: success
  type: list
  elements: str
  sample:
    - "3 hypervisors (2 answered), 14 guests (9 running): 10 as declared, 1 drifted, 1 missing, 1 undeclared, 0 defined twice, 0 in error"
    - "UNREACHABLE hv3: cannot connect to libvirt at qemu+ssh://root@hv3/system: ..."
    - "N+1: the others can take every running guest of hv1, the largest hypervisor (6 guests, 12288 MiB)"
    - "DRIFT: 1 guests differ from their declaration: web1@hv1 (memory, vcpus)"
counts:
  description:
    - Counts of the report - C(hypervisors), C(reachable), C(unreachable), C(in_maintenance), C(guests)
      (defined), C(running), C(declared), one per guest status (C(in_sync), C(drifted), C(missing),
      C(unknown), C(undeclared), C(duplicate), C(elsewhere), C(error)), C(movable) and C(unmovable)
      (running guests), C(n_plus_1) (V(true), V(false), or V(null) without hypervisors).
  returned: success
  type: dict
  sample: {"hypervisors": 3, "reachable": 2, "guests": 14, "drifted": 1, "missing": 1, "n_plus_1": true}
unreachable_hypervisors:
  description: The hypervisors that could not be read.
  returned: success
  type: list
  elements: str
  sample: ["hv3"]
errors:
  description: "Every problem of the input, each starting with the option it is about (V(hypervisors[0].guests[1].memory: ...)); nothing was read."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["hypervisors[0].guests[1].name: web1 is also declared at guests[0]"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._report.module import run_report_module


def main() -> None:
    run_report_module()


if __name__ == "__main__":
    main()
