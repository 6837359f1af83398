#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pool
short_description: Declare a libvirt storage pool; build it safely, update it where libvirt allows
version_added: 0.1.0
description:
  - Makes one libvirt storage pool match the options given - C(dir), C(fs) (a block device or an
    image attached to a loop device, mounted by libvirt), C(netfs) (NFS, GlusterFS, CIFS),
    C(logical) (an LVM volume group), C(iscsi), C(rbd) (Ceph) and C(zfs).
  - A new pool is defined, built and started. Building never destroys data without O(overwrite) -
    on a local hypervisor the devices are probed first (C(blkid), C(vgs)), so a device that already
    holds the wanted filesystem or an existing volume group is used as it is, a blank one is
    formatted, and one holding something else makes the module fail naming O(overwrite). Check mode
    predicts exactly that. On a remote hypervisor libvirt's own no-overwrite build guard applies.
  - An existing pool is compared on the options that are set. The target's owner, group and mode
    and O(autostart) change in place. A new O(source) or O(target) is written to an inactive pool's
    definition; an active pool has to be stopped, redefined and started for it, which needs
    O(recreate). A different O(type) means a new definition, which also needs O(recreate).
  - O(state=absent) stops the pool, removes its directory (or volume group) and its definition.
    A pool that holds volumes is removed only with O(remove_volumes), which deletes them first.
  - All options are validated before anything is changed; every error names its field, such as
    C(source.devices[0]).
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
  - kvmfleet.kvm.attributes.converge
options:
  name:
    description: Name of the pool.
    type: str
    required: true
  type:
    description:
      - Pool type. Required to create a pool; an existing pool may be named alone (for example to
        start, stop or remove it).
      - V(iscsi), V(rbd) and V(zfs) need their libvirt storage backends on the hypervisor
        (C(virsh pool-capabilities)); their storage is not built by the module.
    type: str
    choices: [dir, fs, netfs, logical, iscsi, rbd, zfs]
  source:
    description: Where the pool's storage comes from. Which keys a type needs and takes is checked.
    type: dict
    suboptions:
      devices:
        description:
          - Absolute device paths - the one device of an V(fs) pool (a block device or loop device),
            the physical volumes of a V(logical) pool, the vdevs of a V(zfs) pool.
        type: list
        elements: str
      hosts:
        description: Servers as C(name) or C(name:port) - the NFS server, the iSCSI portal, the Ceph monitors.
        type: list
        elements: str
      dir:
        description: The exported directory of a V(netfs) pool.
        type: str
      name:
        description: The volume group (V(logical)), Ceph pool (V(rbd)) or ZFS pool (V(zfs)).
        type: str
      format:
        description:
          - V(fs) - the filesystem (V(ext4), V(xfs)... or V(auto) to use what the device holds);
            V(netfs) - V(nfs) (default), V(glusterfs), V(cifs), V(auto); V(logical) - V(lvm2).
        type: str
      iqn:
        description: The iSCSI target's IQN.
        type: str
      initiator:
        description: The iSCSI initiator IQN to log in as.
        type: str
      auth:
        description: Authentication for V(iscsi) (CHAP) and V(rbd) (cephx); the key stays in a libvirt secret.
        type: dict
        suboptions:
          type:
            description: V(chap) for iSCSI, V(ceph) for RBD.
            type: str
            choices: [chap, ceph]
            required: true
          username:
            description: The user name.
            type: str
            required: true
          secret_uuid:
            description: UUID of the libvirt secret that holds the password or key. Not with O(source.auth.secret_usage).
            type: str
          secret_usage:
            description:
              - The usage id of the libvirt secret that holds the password or key (for V(ceph) its name, for V(chap) its
                iSCSI target), as M(kvmfleet.kvm.secret) defines it with O(kvmfleet.kvm.secret#module:usage_id).
              - Not with O(source.auth.secret_uuid).
            type: str
  target:
    description:
      - Absolute path of the pool's directory (V(dir), V(fs) mount point, V(netfs) mount point).
        Required for those types. Default for V(logical) - C(/dev/VG); for V(iscsi) - C(/dev/disk/by-path).
    type: str
  target_owner:
    description:
      - Owner of the target directory, a user name or a numeric id. Names are resolved on the host
        that runs the module; give numbers for a remote hypervisor. Changed in place.
    type: str
  target_group:
    description: Group of the target directory, a group name or a numeric id. Changed in place.
    type: str
  target_mode:
    description: Mode of the target directory, octal as a quoted string such as V('0755'). Changed in place.
    type: str
  autostart:
    description: Whether libvirtd starts the pool when it starts. Changed in place.
    type: bool
  state:
    description:
      - V(active) - defined, built and started. V(inactive) - defined and built, stopped.
        V(present) - defined and built; an existing pool is left running or stopped as it is.
        V(absent) - stopped, its directory or volume group removed, undefined.
    type: str
    choices: [present, active, inactive, absent]
    default: active
  build:
    description:
      - Build the pool's storage when it is created or its directory is missing - create the
        directory, format a blank device (V(fs)), create the volume group on blank devices
        (V(logical)). V(false) expects the storage to be ready.
      - On a remote hypervisor the devices are not probed and libvirt builds only over blank
        devices, so re-declaring a pool whose filesystem or volume group already exists fails with a
        message saying so; declare such a pool with V(false).
    type: bool
    default: true
  overwrite:
    description:
      - Allow formatting a device that already holds a filesystem or other data, and making LVM
        physical volumes of devices that hold something. Destroys what is there.
    type: bool
    default: false
  recreate:
    description:
      - Allow changes that libvirt cannot make to an active pool - O(type), O(source), O(target) -
        by stopping the pool, redefining it and starting it again. Guests that use its volumes
        lose access to them meanwhile.
    type: bool
    default: false
  remove_volumes:
    description: With O(state=absent), delete the pool's volumes too; without it a pool that holds volumes is not removed.
    type: bool
    default: false
notes:
  - libvirt reads the permissions of an active pool's directory from the directory itself; on a
    local hypervisor the module compares with and sets the directory directly.
seealso:
  - module: kvmfleet.kvm.volume
  - name: libvirt storage pool XML format
    description: The XML the module writes.
    link: https://libvirt.org/formatstorage.html
"""

EXAMPLES = r"""
- name: A directory pool for guest disks, started with libvirtd
  kvmfleet.kvm.pool:
    name: guests
    type: dir
    target: /srv/libvirt/guests
    target_mode: "0711"
    autostart: true

- name: A pool on a block device, formatted as ext4 only if it holds no filesystem yet
  kvmfleet.kvm.pool:
    name: fast
    type: fs
    source:
      devices: [/dev/nvme1n1]
      format: ext4
    target: /srv/libvirt/fast

- name: An LVM pool; the volume group is created on blank disks, or used if it exists
  kvmfleet.kvm.pool:
    name: lvm
    type: logical
    source:
      name: vg_guests
      devices: [/dev/sdb, /dev/sdc]

- name: Images on NFS
  kvmfleet.kvm.pool:
    name: images
    type: netfs
    source:
      hosts: [nfs.example.com]
      dir: /export/images
    target: /srv/libvirt/images

- name: A Ceph RBD pool (needs the rbd backend on the hypervisor)
  kvmfleet.kvm.pool:
    name: ceph
    type: rbd
    source:
      name: libvirt-pool
      hosts: [mon1.example.com:6789, mon2.example.com:6789]
      auth:
        type: ceph
        username: libvirt
        secret_usage: client.libvirt  # the secret kvmfleet.kvm.secret defined with usage ceph

- name: Remove a pool and the volumes it still holds
  kvmfleet.kvm.pool:
    name: scratch
    state: absent
    remove_volumes: true
"""

RETURN = r"""
name:
  description: The pool's name.
  returned: always
  type: str
  sample: guests
state:
  description: The pool's state after the run (predicted in check mode).
  returned: always
  type: str
  choices: [active, inactive, absent]
  sample: active
actions:
  description: What was done (in check mode - what would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["define dir pool guests", "create directory /srv/libvirt/guests", "start pool guests"]
diff:
  description: The options that differ, before and after.
  returned: always
  type: dict
  sample: {"before": {"target_mode": "0755"}, "after": {"target_mode": "0711"}}
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["type: must be one of dir, fs, netfs, logical, iscsi, rbd, zfs; got 'nope'"]
needs_option:
  description: The option that would allow what the task needs (V(recreate), V(remove_volumes) or V(overwrite)); nothing was done.
  returned: when the task failed because an action needs an option
  type: str
  sample: remove_volumes
done:
  description: When the task failed while its actions ran, the actions that completed before the failure (in check mode none run).
  returned: when an action failed
  type: list
  elements: str
  sample: ["create directory /srv/images", "define dir pool images"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.module import run_pool_module


def main() -> None:
    run_pool_module()


if __name__ == "__main__":
    main()
