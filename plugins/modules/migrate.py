#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: migrate
short_description: Live-migrate a libvirt guest to another hypervisor
version_added: 0.1.0
description:
  - Moves the guest O(name) from the hypervisor at O(uri) to the one at O(dest_uri) while it runs. Its
    definition moves with it (persistent on the destination, undefined on the source).
  - Idempotent - a guest that already runs on the destination (and is not on the source) is
    V(changed=false). A guest defined on both hypervisors, or on neither, is an error naming both.
  - Before anything moves, a pre-flight check finds every reason the guest cannot move to that
    destination, each with a stable code, the message (libvirt's own words where it has them) and the
    fix - host-passthrough CPUs between different hosts or a CPU the destination cannot run
    (C(cpu_host_passthrough), C(cpu_incompatible)), passed-through devices (C(hostdev)), snapshots
    with a copy of the disks (C(snapshots)), checkpoints, block jobs, local disks without a copy choice (C(local_disk)), disks on a filesystem
    libvirt does not count as shared (C(disk_not_shared); a warning when the module does not run on
    the source and cannot see it), a missing network, bridge or pool on the destination
    (C(network_missing), C(bridge_missing), C(dest_pool_missing)), not enough memory or vCPUs there
    (C(insufficient_memory), C(insufficient_vcpus), from the destination's fleet record - see
    M(kvmfleet.kvm.hypervisor)), a destination in maintenance, a KVM guest to a TCG-only host
    (C(virt_type_unavailable)), a machine type or emulator the destination lacks, two hosts with the
    same host UUID (C(same_host)), a migration address that does not resolve on the source
    (C(dest_name_unresolvable), checked when the module runs on the source). Check mode runs the same
    check and returns the same V(changed) and reasons as a real run; nothing else happens in check mode.
  - By default the migration is peer-to-peer - the source's libvirtd drives it and needs its own
    access to O(peer_uri) (or O(dest_uri)) - so a controller or module that dies mid-run does not kill
    it; run again and the module waits for it and reports where the guest is.
  - The convergence policy bounds the time - O(timeout_per_gib) seconds per GiB moved (memory plus
    copied disks, at least 30 s) or O(timeout) - and says what happens to a migration that does not
    converge (O(converge)). A migration that runs out of time is aborted and the guest keeps running
    on its source, untouched; volumes the module created on the destination are removed.
  - Snapshots move with the guest when its disks stay where they are (O(storage=shared)). libvirt
    refuses to migrate a guest that has snapshot metadata, so the module records every snapshot's
    definition and which one is current in the guest's metadata, removes the snapshots' metadata (only
    the metadata - the snapshots stay in the disks and overlay files) from the source, migrates, and
    defines them again on the destination, parents first. A failed migration defines them again on the
    source. A run interrupted in between leaves the record on the guest, and the next run finishes the
    job wherever the guest is. The record holds the snapshots' definitions as libvirt keeps them, with
    their graphics passwords; it is in the guest's definition only while the guest moves.
  - A copy of the disks (O(storage=copy) or V(copy_incremental)) takes what the disks hold now, not their
    internal snapshots nor the images external snapshots point back at; a guest with snapshots is
    refused then (C(snapshots)).
  - The guest is never stopped, paused, destroyed or cold-migrated unless an option says so
    (O(offline) moves the definition of a guest that is already stopped).
  - After the call both hypervisors are read again, so the result says where the guest really is; a
    migration libvirt reported as failed while the guest runs on the destination is reported as done,
    with a warning.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
options:
  uri:
    description:
      - The libvirt URI of the source hypervisor, as the module reaches it.
  name:
    description: The guest to move.
    type: str
    required: true
  dest_uri:
    description:
      - The libvirt URI of the destination hypervisor, as the module reaches it (to check it, and to
        read the result back). With O(p2p), also the URI the source's libvirtd connects to, unless
        O(peer_uri) is set.
      - A URI that cannot be reached fails the task before anything moves, naming this option.
    type: str
    required: true
  peer_uri:
    description:
      - The destination as the source's libvirtd reaches it (peer-to-peer), when that differs from
        O(dest_uri) - for example V(qemu+tcp://10.0.0.12/system) on a storage network. Default O(dest_uri).
    type: str
  migrate_uri:
    description:
      - Where QEMU sends the guest's memory and disks, such as V(tcp://10.10.0.12) on a migration
        network.
      - Default V(tcp://HOST) with the host of O(peer_uri) (or O(dest_uri)), the address the source's
        libvirtd reaches the destination at. Without it, libvirt would use the destination's host name,
        which often does not resolve on the source ("Unable to resolve address").
      - Not used for a tunnelled migration, which goes through the libvirt connection.
    type: str
  p2p:
    description:
      - Peer-to-peer - the source's libvirtd connects to the destination and runs the whole migration,
        so it survives the death of the controller. The source's libvirtd needs its own credentials for
        O(peer_uri) (SSH keys of root on the source for V(qemu+ssh://), certificates for V(qemu+tls://)).
      - V(false) runs it through this module's two connections; it is cancelled if the module dies.
    type: bool
    default: true
  tunnelled:
    description: Send the migration data through the libvirt connection (one port, 16509 or SSH); needs O(p2p).
    type: bool
    default: false
  tls:
    description: Encrypt the migration data with TLS (libvirt's migrate TLS; needs certificates on both ends).
    type: bool
    default: false
  bandwidth:
    description: Bandwidth limit in MiB/s (default - none).
    type: int
  parallel_connections:
    description: Send memory over this many connections at once (2 to 255); not with O(tunnelled).
    type: int
  storage:
    description:
      - V(shared) - every disk is on storage both hosts reach at the same place (a pool of the same name
        holding the same volume, or a pool of the same directory); a disk the destination cannot see
        fails the check with C(local_disk).
      - V(copy) - every writable disk is mirrored to the destination while the guest runs. The module
        creates each volume first (same name, capacity and format) in O(dest_pool), else the
        destination's pool of the same name, else the pool of the same directory; the copy there has
        no backing image (the chain is flattened).
      - V(copy_incremental) - as V(copy), but only the top layer of each qcow2 overlay is sent; its
        base image must be on the destination at the same path.
      - With a copy choice, read-only disks the destination does not see (a cloud-init seed) are
        copied ahead of the migration. The source's copies stay unless O(remove_source_volumes).
      - Before it creates the destination's volumes the module marks the source guest's metadata with
        the destination's host UUID. A run interrupted after that leaves the mark, and the rerun copies
        into those volumes instead of refusing them with C(dest_volume_exists); a failed migration
        removes them and the mark. The destination's definitions never carry it.
    type: str
    choices: [shared, copy, copy_incremental]
    default: shared
  dest_pool:
    description: The destination pool copied disks go to (see O(storage)).
    type: str
  allow_unsafe:
    description:
      - Migrate writable disks whose filesystem libvirt does not count as shared storage (it knows NFS,
        CephFS, GlusterFS, GFS2, OCFS2, SMB and a few more; not a local filesystem both hosts mount, nor a
        cluster filesystem it does not know) - libvirt's VIR_MIGRATE_UNSAFE. Only for storage that
        really is shared and coherent between the hosts.
    type: bool
    default: false
  max_downtime:
    description: The longest pause of the guest allowed at the switch-over, in milliseconds (QEMU's default).
    type: int
    default: 300
  max_downtime_limit:
    description: How far O(converge=raise_downtime) may raise O(max_downtime), in milliseconds.
    type: int
    default: 2000
  timeout_per_gib:
    description: Seconds the migration may take per GiB moved (the guest's memory plus copied disks); at least 30 s in all.
    type: int
    default: 150
  timeout:
    description: Seconds the migration may take, instead of O(timeout_per_gib).
    type: int
  converge:
    description:
      - What to do when the migration does not converge - a pass leaves about as much to send as the
        one before, or half the time is gone.
      - V(fail) - nothing; when the time is up the migration is aborted and the guest keeps running on
        the source.
      - V(auto_converge) - let QEMU slow the guest's vCPUs down while it dirties memory faster than it
        is sent (set from the start; no effect on a migration that converges).
      - V(raise_downtime) - double the allowed downtime at each new pass, up to O(max_downtime_limit).
      - V(postcopy) - switch to post-copy - the guest runs on the destination at once and fetches the
        rest of its memory on demand. It always completes, but a network failure during post-copy
        loses the guest; opt-in only, and never with a copy O(storage).
      - Whatever the choice, a pre-copy migration still running when the time is up is aborted.
    type: str
    choices: [fail, auto_converge, raise_downtime, postcopy]
    default: fail
  offline:
    description:
      - Move a guest that is stopped - its definition only, with O(storage=shared). Without it a stopped
        guest fails the check with C(not_running); a running guest always moves live.
    type: bool
    default: false
  remove_source_volumes:
    description: After a successful move with a copy O(storage), delete the source's copies of the copied disks.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description:
      - The pre-flight check runs as in a real run and fails the same way; V(changed), the actions and
        the diff are the same as in a real run. Nothing moves.
  diff_mode:
    support: full
    description: The diff shows the guest's hypervisor before and after.
  idempotent:
    support: full
    description: A guest that runs on the destination already is left alone (V(changed=false)).
notes:
  - Hypervisors cloned from one image share their host UUID, and libvirt then refuses to migrate
    between them (C(same_host)); give each its own C(host_uuid) in libvirtd.conf
    (M(kvmfleet.kvm.libvirt_conf) or the host role's C(host_libvirtd_settings)).
  - Each migration takes a port in 49152-49215 on the destination; copied disks one more each.
seealso:
  - module: kvmfleet.kvm.drain
  - module: kvmfleet.kvm.hypervisor
"""

EXAMPLES = r"""
- name: Move web1 from hv1 to hv2 while it runs (the task runs on hv1)
  kvmfleet.kvm.migrate:
    name: web1
    dest_uri: qemu+ssh://root@hv2.example.com/system

- name: Move a guest with local disks over the migration network, limited to 500 MiB/s
  kvmfleet.kvm.migrate:
    uri: qemu+ssh://root@hv1.example.com/system
    name: db1
    dest_uri: qemu+ssh://root@hv3.example.com/system
    migrate_uri: tcp://10.10.0.13
    storage: copy
    dest_pool: local
    bandwidth: 500
    converge: auto_converge
  delegate_to: localhost
  register: moved

- name: Show how long the guest was paused
  ansible.builtin.debug:
    msg: "{{ moved.name }} moved to {{ moved.hypervisor }} in {{ moved.elapsed_s }} s, downtime {{ moved.downtime_ms }} ms"
"""

RETURN = r"""
name:
  description: The guest.
  returned: always
  type: str
  sample: web1
source:
  description: The source hypervisor's host name.
  returned: always
  type: str
  sample: hv1
destination:
  description: The destination hypervisor's host name.
  returned: always
  type: str
  sample: hv2
hypervisor:
  description: Where the guest is after the task (in check mode - where it would be).
  returned: always
  type: str
  sample: hv2
actions:
  description: What the module did (in check mode - would do), in order.
  returned: always
  type: list
  elements: str
  sample: ["live-migrate web1 from hv1 to hv2 (peer-to-peer, storage shared)"]
reasons:
  description:
    - The pre-flight check's findings that did not stop the move (warnings), or - when the task fails
      on them - every reason, blocking ones included.
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description: Stable code of the reason, such as C(snapshots) or C(local_disk).
      type: str
    message:
      description: What is wrong, in libvirt's words where it has them.
      type: str
    fix:
      description: How to fix it.
      type: str
    blocking:
      description: V(true) when it stops the move.
      type: bool
  sample: [{"code": "nvram_local", "message": "...", "fix": "...", "blocking": false}]
snapshots:
  description: The snapshots defined on the destination, parents first (they moved with the guest).
  returned: when snapshots moved with the guest (not in check mode; RV(actions) names them then)
  type: list
  elements: str
  sample: [before-upgrade, nightly-2026-12-01]
budget_s:
  description: Seconds the migration may take (see O(timeout_per_gib)).
  returned: when the guest moves
  type: int
  sample: 30
elapsed_s:
  description: Seconds the migration call took, as this module measured it.
  returned: when the guest moved
  type: float
  sample: 2.41
duration_ms:
  description: Duration of the migration as the destination measured it.
  returned: when the guest moved live
  type: int
  sample: 1020
downtime_ms:
  description: How long the guest was paused at the switch-over, as libvirt measured it.
  returned: when the guest moved live
  type: int
  sample: 117
transferred_mib:
  description: MiB sent (memory, and the disks copied).
  returned: when the guest moved live
  type: float
  sample: 71.5
disk_mib:
  description: MiB of disk content copied.
  returned: when the guest moved live
  type: float
  sample: 0.0
iterations:
  description: Passes over the guest's memory.
  returned: when the guest moved live
  type: int
  sample: 3
progress:
  description: The job's statistics about once a second while it ran.
  returned: when the guest moved
  type: list
  elements: dict
  sample: [{"elapsed_s": 0.5, "remaining_mib": 96.0, "processed_mib": 32.1, "dirty_pages_per_s": 0, "iteration": 1}]
events:
  description: What the convergence policy did (downtime raised, post-copy, abort).
  returned: when the guest moved
  type: list
  elements: str
  sample: ["allowed downtime raised to 600 ms at pass 4"]
removed_source_volumes:
  description: Paths of the source's disk copies deleted (O(remove_source_volumes)).
  returned: when the guest moved with remove_source_volumes
  type: list
  elements: str
migration:
  description: On a failed or aborted migration, the same facts as a successful one (progress, events).
  returned: on failure after the migration started
  type: dict
diff:
  description: The guest's hypervisor before and after.
  returned: always
  type: dict
  sample: {"before": {"hypervisor": "hv1"}, "after": {"hypervisor": "hv2"}}
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["dest_uri: 'hv2' is not a libvirt URI such as qemu+ssh://root@hv2/system"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.module import run_migrate_module


def main() -> None:
    run_migrate_module()


if __name__ == "__main__":
    main()
