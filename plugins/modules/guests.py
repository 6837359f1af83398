#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: guests
short_description: Converge many libvirt guests in one task
version_added: 0.1.0
description:
  - Makes every guest in O(guests) match its options, exactly as M(kvmfleet.kvm.guest) does for one,
    in a single module call - N guests cost one Ansible task, not N.
  - Every guest is validated and planned before anything is changed; if any guest's options are
    invalid, or any guest would need an option it does not have (such as O(kvmfleet.kvm.guest#module:recreate)),
    nothing on the host changes and every problem is reported with its field path, such as
    C(guests[3].disks[1].size).
  - Guests are then converged concurrently (a few at a time), so starting many guests costs little
    more than starting the slowest. Guests with O(kvmfleet.kvm.guest#module:wait) are waited for at the
    same time too.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.concurrency
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
  - kvmfleet.kvm.attributes.converge
  - kvmfleet.kvm.items.guests
options:
  defaults:
    description:
      - Options applied to every guest that does not set them itself. Item keys win; dictionary
        values are replaced, not merged.
    type: dict
    default: {}
attributes:
  idempotent:
    support: partial
    description:
      - A second run with the same options changes nothing, except with O(kvmfleet.kvm.guest#module:state=restarted)
        or O(kvmfleet.kvm.guest#module:state=reset), which are commands done on every run.
seealso:
  - module: kvmfleet.kvm.guest
"""

EXAMPLES = r"""
- name: A rack of guests from one base image, in one task
  kvmfleet.kvm.guests:
    defaults:
      memory: 1GiB
      vcpus: 2
      interfaces:
        - source: default
      state: running
    guests: "{{ range(1, 21) | map('string') | map('regex_replace', '^', 'node') | map('community.general.dict_kv', 'name') | list }}"

- name: Two different guests
  kvmfleet.kvm.guests:
    guests:
      - name: db1
        memory: 8GiB
        disks:
          - backing_image: debian-12.qcow2
            size: 100GiB
      - name: web1
        memory: 2GiB
        disks:
          - backing_image: debian-12.qcow2
"""

RETURN = r"""
guests:
  description: One result per guest, in the order given, as M(kvmfleet.kvm.guest) returns it.
  returned: always (also with RV(failed_guests))
  type: list
  elements: dict
  contains:
    name:
      description: The guest's name.
      type: str
    changed:
      description: Whether this guest changed.
      type: bool
    state:
      description: Its power state after the run (predicted in check mode).
      type: str
    actions:
      description: What was done to it, in order.
      type: list
      elements: str
    reboot_required:
      description: Changes were persisted that the running guest gets only at its next boot.
      type: bool
    reboot_required_fields:
      description: The options behind RV(guests[].reboot_required).
      type: list
      elements: str
    settled:
      description: What the module waited for before planning this guest (a transient state libvirt was in).
      type: str
      returned: when the guest was in a transient state
    diff:
      description: Its options that differ, before and after.
      type: dict
    addresses:
      description: Its IP addresses, when it has O(kvmfleet.kvm.guest#module:wait) and runs (see M(kvmfleet.kvm.guest)).
      type: list
      elements: dict
    address:
      description: The address to reach it at, when it has O(kvmfleet.kvm.guest#module:wait) and runs.
      type: str
    xml:
      description: Its persistent XML definition, when it has O(kvmfleet.kvm.guest#module:return_xml=true) (see M(kvmfleet.kvm.guest)).
      type: str
  sample: [{"name": "web1", "changed": true, "state": "running", "actions": ["define guest web1", "start the guest"],
            "reboot_required": false, "reboot_required_fields": [], "diff": {"before": {"state": "absent"}, "after": {"state": "running"}}}]
reboot_required:
  description: V(true) when any guest has changes waiting for its next boot.
  returned: always
  type: bool
diff:
  description: The RV(guests[].diff) of each guest that changed, in the order given (what C(--diff) shows).
  returned: always
  type: list
  elements: dict
  sample: [{"before": {"state": "absent"}, "after": {"state": "running"}, "before_header": "web1", "after_header": "web1"}]
failed_guests:
  description:
    - The names of the guests whose plan failed while it ran, or that did not become reachable within
      their O(kvmfleet.kvm.guest#module:wait) timeout; the other guests were converged, and RV(guests)
      has every guest's result.
  returned: when the task failed after planning
  type: list
  elements: str
  sample: [web2]
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["guests[2].memory: unknown unit 'x' in '1x'; use B, KiB, MiB, GiB, TiB (or K, M, G, T; KB, MB, GB, TB)"]
needs_option:
  description:
    - The options that would allow what the task needs (V(recreate), V(force), V(remove_snapshots)),
      for every guest that needs one. Nothing was done, unless a shutdown the run had begun did not end in time (V(force)).
  returned: when the task failed because an action needs an option
  type: str
  sample: force, recreate
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.module import run_guests_module


def main() -> None:
    run_guests_module()


if __name__ == "__main__":
    main()
