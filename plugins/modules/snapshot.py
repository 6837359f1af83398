#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot
short_description: Named snapshots of a libvirt guest, declared - taken, kept in a series, deleted, reverted to
version_added: 0.1.0
description:
  - Takes a named snapshot of a guest (O(state=present)), deletes one (O(state=absent)), or reverts the
    guest to one (O(state=reverted)). With O(name_prefix) and O(keep), the oldest snapshots of a series
    beyond O(keep) are deleted, for scheduled snapshots.
  - An existing snapshot of that name is never taken again. Its type, memory, disks and description are
    compared with the task, and a difference is reported (RV(differences) and a warning) with V(changed=false).
  - Every problem is found before anything is done, each naming its option. A guest that does not exist,
    a disk it does not have, O(memory) of a guest that is off, O(quiesce) without a connected guest agent,
    an internal snapshot libvirt cannot take, and a revert without O(discard_changes) all fail first.
  - A revert discards what changed in the guest since the snapshot, so it needs O(discard_changes).
    V(reverted) changes nothing when the guest is already at the snapshot. That means the snapshot is
    libvirt's current one, this module reverted the guest to it, and since then the guest has kept the same
    QEMU process (when it runs) or its disk files have not been written (when it is off). Writes inside a
    guest that has run on since the revert cannot be seen by libvirt, and a rerun does not revert again.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
options:
  guest:
    description: The guest's name.
    type: str
    required: true
  name:
    description: The snapshot's name.
    type: str
    required: true
  state:
    description:
      - V(present) takes the snapshot when the guest has none of that name.
      - V(absent) deletes it. The files of an external snapshot are merged back into the images (block
        commit), so nothing written since is lost. Its children are kept (re-parented) unless
        O(delete_children).
      - libvirt deletes no external snapshot whose parent is internal or with internal ones below it, and
        no internal one with an external snapshot below it; the module refuses those before anything is done.
      - V(reverted) reverts the guest to it (needs O(discard_changes)).
    type: str
    choices: [present, absent, reverted]
    default: present
  type:
    description:
      - V(internal) keeps the disks' state (and the memory) inside the qcow2 images. V(external) writes an
        overlay file beside each image (the image's file name followed by C(.<name>)) and, with O(memory), a
        memory file beside the first disk (C(<guest>.<name>.memory)); the guest then writes into the
        overlays. Disks on block storage have no file beside them and cannot be in an external snapshot.
      - V(auto) takes an internal snapshot where libvirt can. It picks external for UEFI guests (libvirt
        refuses internal snapshots of a running guest with pflash firmware, and from libvirt 9.2 also of
        one that is off), for disks that are not qcow2, and with O(quiesce). Disks on block storage are
        refused (leave them out with O(disks)).
      - Deleting an external snapshot needs libvirt 9.0 or later and reverting to one libvirt 9.7 or later.
        On an older libvirt the module says so instead of half-doing it.
    type: str
    choices: [auto, internal, external]
    default: auto
  memory:
    description:
      - Save the running state too, so that a revert resumes the guest where it was. Only for a running guest.
      - By default a running guest's internal snapshot has its memory (libvirt takes no disk-only internal
        snapshot of a running guest) and an external snapshot is disk-only.
    type: bool
  quiesce:
    description:
      - Freeze the guest's filesystems through the QEMU guest agent while the disks are snapshotted, so
        they are consistent. Needs a running guest with a connected agent (C(qemu-guest-agent) in the guest
        and O(kvmfleet.kvm.guest#module:guest_agent) on its definition), and an external disk-only snapshot
        (what O(type=auto) takes with it).
    type: bool
    default: false
  disks:
    description:
      - The disks in the snapshot, by target (V(vda)). By default every writable disk. Cdroms and read-only
        disks are never in a snapshot.
      - The snapshot is atomic. Either every disk named is snapshotted or none is.
    type: list
    elements: str
  description:
    description: A description kept with the snapshot.
    type: str
  discard_changes:
    description: Allow O(state=reverted) to revert, discarding what changed in the guest since the snapshot.
    type: bool
    default: false
  after_revert:
    description:
      - The guest's state after a revert. V(snapshot) is the state it had when the snapshot was taken
        (running with its memory, or off).
      - V(running), V(paused), or V(stopped) (the guest is powered off after the revert; nothing is lost,
        its state is the snapshot's). A transient guest is never stopped (it would be gone).
    type: str
    choices: [snapshot, running, paused, stopped]
    default: snapshot
  delete_children:
    description: With O(state=absent), delete the snapshot's children too. By default they are kept and re-parented.
    type: bool
    default: false
  name_prefix:
    description: The series O(name) belongs to (every snapshot whose name starts with it); O(name) must start with it.
    type: str
  keep:
    description:
      - How many snapshots of the series O(name_prefix) to keep, counting the one this task takes. The
        oldest beyond it are deleted (never the one named by O(name)); their children are kept.
      - Not with O(state=reverted).
    type: int
notes:
  - Snapshots move with their guest in M(kvmfleet.kvm.migrate) and the drain when its disks are on shared
    storage (their metadata is defined again on the destination). A move that copies the disks is refused
    while the guest has snapshots.
  - M(kvmfleet.kvm.guest) removes a guest with snapshots only with its O(kvmfleet.kvm.guest#module:remove_snapshots).
attributes:
  check_mode:
    support: full
    description:
      - The same plan as a real run is made, and every check is done; only the snapshot calls are skipped.
      - V(changed), the diff and the actions are the same as in a real run.
  diff_mode:
    support: full
    description: The diff shows the snapshots taken or deleted, and the current snapshot a revert changes.
  idempotent:
    support: full
    description: A snapshot that exists is not taken again, and a guest already at the snapshot is not reverted again.
seealso:
  - module: kvmfleet.kvm.snapshot_info
  - module: kvmfleet.kvm.guest
"""

EXAMPLES = r"""
- name: A snapshot before the upgrade, with the running state
  kvmfleet.kvm.snapshot:
    guest: web1
    name: before-upgrade
    description: before the 2.4 upgrade

- name: The upgrade went wrong - back to the snapshot, running again
  kvmfleet.kvm.snapshot:
    guest: web1
    name: before-upgrade
    state: reverted
    discard_changes: true
    after_revert: running

- name: A nightly disk-only snapshot with frozen filesystems, seven kept
  kvmfleet.kvm.snapshot:
    guest: db1
    name: "nightly-{{ now(utc=true, fmt='%Y%m%d') }}"
    name_prefix: nightly-
    keep: 7
    type: external
    quiesce: true

- name: Delete the snapshot once the upgrade is good
  kvmfleet.kvm.snapshot:
    guest: web1
    name: before-upgrade
    state: absent
"""

RETURN = r"""
guest:
  description: The guest's name.
  returned: always
  type: str
  sample: web1
name:
  description: The snapshot's name.
  returned: always
  type: str
  sample: before-upgrade
snapshot:
  description:
    - The snapshot as libvirt lists it after the run (in check mode, what would be taken); V(null) when it does not exist.
    - Its keys are those of RV(kvmfleet.kvm.snapshot_info#module:snapshots).
  returned: success
  type: dict
  sample: {"name": "before-upgrade", "type": "internal", "memory": true, "state": "running", "current": true,
           "disks": ["vda"], "parent": null, "created": 1764806400, "description": null, "files": [], "size": null}
actions:
  description: What was (in check mode, would be) done, in order.
  returned: success
  type: list
  elements: str
  sample: ["take internal snapshot before-upgrade of guest web1 (vda) with its memory"]
deleted:
  description: The snapshots deleted (the one named, and those of the series beyond O(keep)).
  returned: success
  type: list
  elements: str
  sample: ["nightly-20261125"]
reverted:
  description: Whether the guest was (would be) reverted.
  returned: success
  type: bool
  sample: false
differences:
  description: How an existing snapshot of that name differs from the task (it is not taken again).
  returned: success
  type: list
  elements: str
  sample: ["memory: False, not True"]
needs_option:
  description: The option that would allow what the task needs (V(discard_changes)).
  returned: when a revert needs it
  type: str
  sample: discard_changes
errors:
  description: Every problem of the input, each starting with its option.
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["memory: guest web1 is not running: there is no running state to save"]
done:
  description: When the task failed while its actions ran, the actions that completed before the failure (in check mode none run).
  returned: when an action failed
  type: list
  elements: str
  sample: ["take internal snapshot s1 of guest web1 (vda) with its memory"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_entry
from ansible_collections.kvmfleet.kvm.plugins.module_utils._snapshot.module import SNAPSHOT_ENTRY


def main() -> None:
    run_entry(SNAPSHOT_ENTRY)


if __name__ == "__main__":
    main()
