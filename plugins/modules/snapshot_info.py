#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot_info
short_description: The snapshots of a libvirt guest
version_added: 0.1.0
description:
  - Lists a guest's snapshots, oldest first, with their type, time, state, parent, disks, files and size,
    and which one is current.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
  - kvmfleet.kvm.attributes.info
options:
  guest:
    description: The guest's name.
    type: str
    required: true
seealso:
  - module: kvmfleet.kvm.snapshot
"""

EXAMPLES = r"""
- name: The snapshots of web1
  kvmfleet.kvm.snapshot_info:
    guest: web1
  register: web1_snapshots

- name: Say which one is current
  ansible.builtin.debug:
    msg: "{{ web1_snapshots.current }}"
"""

RETURN = r"""
guest:
  description: The guest's name.
  returned: success
  type: str
  sample: web1
current:
  description: The name of libvirt's current snapshot (the one the guest was last taken or reverted at); V(null) without one.
  returned: success
  type: str
  sample: before-upgrade
snapshots:
  description: The snapshots, oldest first.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The snapshot's name.
      type: str
      sample: before-upgrade
    type:
      description: V(internal) (inside the qcow2 images) or V(external) (overlay files beside them).
      type: str
      sample: internal
    memory:
      description: Whether the running state was saved (a revert resumes the guest).
      type: bool
      sample: true
    state:
      description: The guest's state when it was taken (V(running), V(shutoff), V(paused), V(disk-snapshot)).
      type: str
      sample: running
    current:
      description: Whether it is libvirt's current snapshot.
      type: bool
      sample: true
    parent:
      description: The snapshot it was taken after; V(null) for the first.
      type: str
      sample: null
    created:
      description: When it was taken (seconds since the epoch).
      type: int
      sample: 1764806400
    description:
      description: Its description.
      type: str
      sample: before the 2.4 upgrade
    disks:
      description: The disks in it, by target.
      type: list
      elements: str
      sample: [vda]
    files:
      description: The files an external snapshot wrote (overlays, memory); empty for an internal one.
      type: list
      elements: str
      sample: []
    size:
      description:
        - The bytes an external snapshot's files take. V(null) for an internal snapshot, whose data lives
          inside the images and is not reported by libvirt.
      type: int
      sample: null
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["guest: no guest web9 on this hypervisor"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_entry
from ansible_collections.kvmfleet.kvm.plugins.module_utils._snapshot.module import SNAPSHOT_INFO_ENTRY


def main() -> None:
    run_entry(SNAPSHOT_INFO_ENTRY)


if __name__ == "__main__":
    main()
