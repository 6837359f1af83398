#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pools
short_description: Converge many libvirt storage pools in one task
version_added: 0.1.0
description:
  - Makes every pool in O(pools) match its options, exactly as M(kvmfleet.kvm.pool) does for one,
    in a single module call.
  - Every pool is validated and planned before anything is changed; if any pool's options are
    invalid, nothing on the host changes and every problem is reported with its field path, such as
    C(pools[1].source.devices[0]). A pool that would need an option it does not have (such as
    O(kvmfleet.kvm.pool#module:overwrite)) also stops the run before anything is changed.
  - The plans are then applied one pool after the other, in list order.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
  - kvmfleet.kvm.attributes.converge
  - kvmfleet.kvm.items.pools
seealso:
  - module: kvmfleet.kvm.pool
"""

EXAMPLES = r"""
- name: The hypervisor's pools in one task
  kvmfleet.kvm.pools:
    pools:
      - name: images
        type: dir
        target: /srv/libvirt/images
        autostart: true
      - name: fast
        type: fs
        source:
          devices: [/dev/nvme1n1]
          format: ext4
        target: /srv/libvirt/fast
        autostart: true
"""

RETURN = r"""
pools:
  description: One result per pool, in list order, as M(kvmfleet.kvm.pool) returns it.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "images", "state": "active", "changed": true, "actions": ["define dir pool images"]}]
actions:
  description: What was done (in check mode - what would be done), in order, each prefixed with its pool's name.
  returned: always
  type: list
  elements: str
  sample: ["images: define dir pool images", "images: start pool images"]
diff:
  description: The diffs of the pools that changed.
  returned: always
  type: list
  elements: dict
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["pools[1].target: 'rel' is not an absolute path"]
needs_option:
  description: The option that would allow what the task needs (V(recreate), V(remove_volumes) or V(overwrite)); nothing was done.
  returned: when the task failed because an action needs an option
  type: str
  sample: remove_volumes
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.module import run_pools_module


def main() -> None:
    run_pools_module()


if __name__ == "__main__":
    main()
