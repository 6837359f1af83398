# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pre-flight check of a live migration: every reason a guest cannot move to a destination, found
before anything moves.

Each reason has a stable ``code`` (what tools and tests match on), a message (libvirt's own words
where it has them) and the fix. ``read_guest`` and ``read_host`` read what the check needs, once;
``check`` is a pure function of them, so the drain can check every guest against every candidate
destination from one read of each host, and the unit tests feed it plain data.

Codes: not_running, same_host, dest_in_maintenance, dest_has_other_guest, arch_unavailable,
virt_type_unavailable, machine_unavailable, emulator_missing, cpu_host_passthrough,
cpu_incompatible, invtsc, hostdev, snapshots, checkpoints, block_job, local_disk, disk_not_shared,
dest_pool_missing, dest_volume_exists, backing_missing, file_missing, network_missing,
bridge_missing, direct_missing, insufficient_memory, insufficient_vcpus, dest_name_unresolvable,
dest_name_loopback, offline_copy; warnings: nvram_local, disk_not_shared (when the source's filesystems
cannot be seen).
"""

from __future__ import annotations

import ipaddress
import os
from typing import Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.facts import (
    COPYING,
    SHARED_FS_TYPES,
    SHARED_POOL_TYPES,
    Disk,
    Guest,
    Host,
    Pool,
    Reason,
    counts,
    cpu_verdict,
    domains_of,
    guest_of,
    locate,
    mount_type,
    read_guest,
    read_host,
    refresh,
    resolve,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.options import COPY_INCREMENTAL, SHARED

# the records the check works on are read in facts.py; callers take both from here
__all__ = [
    "COPYING", "Disk", "Guest", "Host", "Pool", "Reason", "check", "copied_disk", "copy_pool", "counts", "cpu_verdict",
    "dest_sees", "domains_of", "guest_of", "locate", "read_guest", "read_host", "refresh", "resolve",
]  # fmt: skip

# ---------------------------------------------------------------------------------------------- the check


def _storage_reasons(
    guest: Guest, source: Host, dest: Host, *, storage: str, dest_pool: Optional[str], allow_unsafe: bool
) -> list[Reason]:
    reasons: list[Reason] = []
    for disk in guest.disks:
        if disk.kind == "network" or disk.path is None:
            continue  # network storage (rbd, iscsi, gluster...) is reached from every host; an empty cdrom drive
        where = f"disk {disk.target} ({disk.path})"
        source_pool = source.pools.get(disk.pool or "")
        shared_pool = source_pool is not None and source_pool.type in SHARED_POOL_TYPES
        if not copied_disk(disk, dest, storage):
            if not dest_sees(dest, disk):
                reasons.append(
                    Reason(
                        "local_disk",
                        f"{where} is not on storage the destination {dest.name} can reach"
                        + (f" (no active pool there holds {disk.path})" if disk.path else ""),
                        "define the shared pool on the destination too, or move the disk with storage: copy",
                    )
                )
            elif not disk.readonly and not disk.shareable and not allow_unsafe and not shared_pool:
                reason = _unshared(disk, where, source)
                if reason is not None:
                    reasons.append(reason)
            continue
        pool = copy_pool(dest, disk, dest_pool)
        if pool is None:
            wanted = dest_pool or disk.pool or (os.path.dirname(disk.path) if disk.path else "?")
            reasons.append(
                Reason(
                    "dest_pool_missing",
                    f"{where}: the destination {dest.name} has no active pool {wanted} to copy it into",
                    "define and start the pool on the destination, or set dest_pool",
                )
            )
            continue
        name = disk.volume or os.path.basename(disk.path or "")
        if name in pool.volumes and guest.copying_to != dest.uuid:  # not the copy an interrupted move made
            reasons.append(
                Reason(
                    "dest_volume_exists",
                    f"{where}: the destination's pool {pool.name} already has a volume {name}; copying would "
                    "overwrite it",
                    f"delete the destination's {name} if it is a stale copy, or copy into another pool (dest_pool)",
                )
            )
        if (
            storage == COPY_INCREMENTAL
            and not disk.readonly
            and disk.backing
            and dest.has_file(disk.backing) is not True
        ):
            reasons.append(
                Reason(
                    "backing_missing",
                    f"{where}: its base image {disk.backing} is not in a pool of the destination {dest.name}; an "
                    "incremental copy sends only the overlay",
                    "put the base image on the destination at the same path, or use storage: copy (full)",
                )
            )
    return reasons


def _unshared(disk: Disk, where: str, source: Host) -> Optional[Reason]:
    """libvirt refuses to migrate a writable file disk that is not on a shared filesystem ('Migration
    without shared storage is unsafe'), however the file got there. Checked where the module runs on the
    source; from elsewhere the filesystem cannot be seen, which is said as a warning."""
    if disk.kind not in ("file", "volume") or not disk.path or disk.path.startswith("/dev/"):
        return None
    fix = (
        "put the disk on a shared filesystem (NFS, CephFS, GlusterFS, GFS2, OCFS2; a netfs pool), move it with "
        "storage: copy, or set allow_unsafe: true if both hosts really share this filesystem"
    )
    if not source.local:
        return Reason(
            "disk_not_shared",
            f"{where}: whether its filesystem counts as shared for libvirt cannot be seen from here (the module "
            "does not run on the source); libvirt refuses the migration if it does not",
            fix,
            blocking=False,
        )
    kind = mount_type(disk.path)
    if kind in SHARED_FS_TYPES:
        return None
    return Reason(
        "disk_not_shared",
        f"{where} is on a {kind or 'local'} filesystem, which libvirt does not count as shared storage "
        "('Migration without shared storage is unsafe')",
        fix,
    )


def copied_disk(disk: Disk, dest: Host, storage: str) -> bool:
    """Whether the migration copies ``disk``: with a copy storage choice, every writable disk (QEMU mirrors
    it while the guest runs) and every read-only one the destination does not already see (a cloud-init
    seed: copied ahead of the migration)."""
    if storage == SHARED or disk.shareable or disk.kind == "network" or disk.path is None:
        return False
    return not disk.readonly or not dest_sees(dest, disk)


def dest_sees(dest: Host, disk: Disk) -> bool:
    """Whether the destination reaches the disk's image at the same place (a shared pool)."""
    if disk.kind == "volume" and disk.pool:
        pool = dest.pools.get(disk.pool)
        return pool is not None and pool.active and pool.volumes.get(disk.volume or "") == disk.path
    return bool(disk.path) and dest.has_file(disk.path or "") is True


def copy_pool(dest: Host, disk: Disk, dest_pool: Optional[str]) -> Optional[Pool]:
    """The destination pool a copied disk goes to: ``dest_pool``, else the pool of the same name, else the
    pool of the same directory."""
    for name in (dest_pool, disk.pool):
        if name:
            pool = dest.pools.get(name)
            if pool is not None and pool.active:
                return pool
            if name == dest_pool:
                return None
    return dest.pool_of_path(disk.path) if disk.path else None


def check(
    guest: Guest,
    source: Host,
    dest: Host,
    *,
    storage: str = SHARED,
    dest_pool: Optional[str] = None,
    allow_unsafe: bool = False,
    offline: bool = False,
    cpu_incompatible: Optional[str] = None,
    migration_host: Optional[str] = None,
    resolved: Optional[list[str]] = None,
) -> list[Reason]:
    """Every reason ``guest`` cannot move from ``source`` to ``dest`` (and warnings), in a fixed order.

    ``cpu_incompatible`` is libvirt's verdict on the destination (``cpu_verdict``); ``migration_host``
    the host QEMU sends the memory to and ``resolved`` what it resolved to on the source (None: not
    checked, as when the module does not run on the source).
    """
    reasons: list[Reason] = []
    add = reasons.append
    if not guest.running and not offline:
        add(
            Reason(
                "not_running",
                f"{guest.name} is not running: there is nothing to migrate live",
                "start it, or set offline: true to move its definition only",
            )
        )
    if source.uuid and source.uuid == dest.uuid:
        add(
            Reason(
                "same_host",
                f"the source {source.name} and the destination {dest.name} have the same host UUID {dest.uuid}; "
                "libvirt refuses ('Attempt to migrate guest to the same host')",
                "give each hypervisor its own host_uuid in libvirtd.conf (or a unique /etc/machine-id with "
                "host_uuid_source = machine-id); machines cloned from one image share it",
            )
        )
    if dest.record.maintenance is not None:
        add(
            Reason(
                "dest_in_maintenance",
                f"the destination {dest.name} is in maintenance since {dest.record.maintenance.get('since')}"
                + (f" ({dest.record.maintenance['reason']})" if dest.record.maintenance.get("reason") else ""),
                "choose another destination, or lift the mark (playbooks/undrain.yml, kvmfleet.kvm.hypervisor)",
            )
        )
    other = dest.domains.get(guest.name)
    if other is not None and other[0] != guest.uuid:
        add(
            Reason(
                "dest_has_other_guest",
                f"the destination {dest.name} already has another guest named {guest.name} (UUID {other[0]})",
                f"rename or remove the destination's {guest.name}",
            )
        )
    arch = dest.caps["guests"].get(guest.arch)
    if arch is None:
        add(
            Reason(
                "arch_unavailable",
                f"the destination {dest.name} runs no {guest.arch} guests",
                "choose a destination with the guest's architecture",
            )
        )
    else:
        if guest.virt_type not in arch["domain_types"]:
            add(
                Reason(
                    "virt_type_unavailable",
                    f"{guest.name} runs as a {guest.virt_type} guest and the destination {dest.name} offers only "
                    f"{', '.join(arch['domain_types']) or 'no domain type'} "
                    f"({'KVM' if guest.virt_type == 'kvm' else 'TCG'} on one end only)",
                    "migrate between hosts of the same kind (all KVM or all TCG); a KVM guest cannot continue "
                    "under TCG",
                )
            )
        if guest.machine and guest.machine not in arch["machines"]:
            add(
                Reason(
                    "machine_unavailable",
                    f"the destination {dest.name} has no machine type {guest.machine} (its QEMU is older or "
                    "built without it)",
                    "upgrade QEMU on the destination, or give the guest a machine type every host has",
                )
            )
        if guest.emulator and arch.get("emulator") and guest.emulator != arch["emulator"]:
            add(
                Reason(
                    "emulator_missing",
                    f"{guest.name} uses the emulator {guest.emulator}; the destination {dest.name} has "
                    f"{arch['emulator']}",
                    "install the same QEMU path on the destination, or drop the guest's emulator setting",
                )
            )
    if guest.cpu_mode == "host-passthrough" and source.cpu_xml != dest.cpu_xml:
        add(
            Reason(
                "cpu_host_passthrough",
                f"{guest.name} has a host-passthrough CPU and the CPUs of {source.name} and {dest.name} differ: the "
                "guest would see its CPU change under it",
                "give the guest cpu mode host-model or a named model every host can run",
            )
        )
    if cpu_incompatible:
        add(
            Reason(
                "cpu_incompatible",
                f"the destination {dest.name} cannot run the guest's CPU: {cpu_incompatible}",
                "give the guest a CPU model every host can run (kvmfleet.kvm.guest cpu.model), or choose "
                "another destination",
            )
        )
    if guest.invtsc and not guest.tsc_frequency:
        add(
            Reason(
                "invtsc",
                f"{guest.name} requires the invtsc CPU feature without a fixed TSC frequency: libvirt refuses "
                "to migrate it",
                "set the TSC frequency in the guest's clock (<timer name='tsc' frequency=...>), or drop invtsc",
            )
        )
    devices = guest.hostdevs + [
        f"interface {nic['mac']} ({'vDPA' if nic['vdpa'] else 'hostdev'})"
        for nic in guest.interfaces
        if nic["vdpa"] or nic["passthrough"]
    ]
    if devices:
        add(
            Reason(
                "hostdev",
                f"{guest.name} has host devices passed through ({', '.join(devices)}); libvirt cannot migrate them",
                "detach them before the migration (and attach the destination's own after), or leave the "
                "guest where it is",
            )
        )
    snapshots = guest.snapshots or len(guest.carried)
    copied = [disk.target for disk in guest.disks if copied_disk(disk, dest, storage)]
    if snapshots and copied:
        add(
            Reason(
                "snapshots",
                f"{guest.name} has {snapshots} snapshot(s) and its disk(s) {', '.join(copied)} would be copied: "
                "a copy takes what a disk holds now, not its snapshots",
                "move it with storage: shared (its snapshots move with it), or delete the snapshots first "
                "(kvmfleet.kvm.snapshot with state: absent)",
            )
        )
    if guest.checkpoints:
        add(
            Reason(
                "checkpoints",
                f"{guest.name} has {guest.checkpoints} checkpoint(s): libvirt refuses to migrate it",
                "delete the checkpoints (virsh checkpoint-delete)",
            )
        )
    for target in guest.block_jobs:
        add(
            Reason(
                "block_job",
                f"{guest.name} has a block job running on disk {target}: libvirt refuses to migrate it until it ends",
                "wait for the job to finish, or abort it (virsh blockjob --abort)",
            )
        )
    reasons.extend(
        _storage_reasons(guest, source, dest, storage=storage, dest_pool=dest_pool, allow_unsafe=allow_unsafe)
    )
    for path in guest.files:
        if dest.has_file(path) is False:
            add(
                Reason(
                    "file_missing",
                    f"{path}, which {guest.name} boots from, is not on the destination {dest.name}",
                    "put the file on the destination at the same path (a shared pool)",
                )
            )
    reasons.extend(_network_reasons(guest, dest))
    reasons.extend(_capacity_reasons(guest, dest))
    if migration_host is not None and source.local:
        if resolved is None:
            add(
                Reason(
                    "dest_name_unresolvable",
                    f"{migration_host}, where QEMU would send the guest's memory, does not resolve on the source "
                    f"{source.name} ('Unable to resolve address')",
                    "set migrate_uri to tcp://ADDRESS, or make the name resolvable on the source (DNS, /etc/hosts)",
                )
            )
        elif resolved and all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in resolved):
            add(
                Reason(
                    "dest_name_loopback",
                    f"{migration_host} resolves to a loopback address on the source {source.name}",
                    "set migrate_uri to tcp://ADDRESS of the destination, or fix the name in /etc/hosts",
                )
            )
    if guest.nvram and dest.has_file(guest.nvram) is not True and storage == SHARED:
        add(
            Reason(
                "nvram_local",
                f"{guest.name}'s UEFI variables ({guest.nvram}) are not on storage the destination sees; libvirt "
                "does not copy them, so the destination starts it with a fresh copy of the template",
                "keep nvram on shared storage if the guest's UEFI variables matter",
                blocking=False,
            )
        )
    return reasons


def _network_reasons(guest: Guest, dest: Host) -> list[Reason]:
    reasons = []
    for nic in guest.interfaces:
        kind, source = nic["type"], nic["source"]
        if kind == "network" and source and source not in dest.networks:
            reasons.append(
                Reason(
                    "network_missing",
                    f"interface {nic['mac']}: the destination {dest.name} has no active libvirt network {source}",
                    f"define and start the network {source} on the destination (kvmfleet.kvm.network)",
                )
            )
        elif kind in ("bridge", "direct") and source and dest.interfaces is not None and source not in dest.interfaces:
            code = "bridge_missing" if kind == "bridge" else "direct_missing"
            reasons.append(
                Reason(
                    code,
                    f"interface {nic['mac']}: the destination {dest.name} has no host interface {source}",
                    f"create {source} on the destination (the kvmfleet.kvm.bridges role)",
                )
            )
    return reasons


def _capacity_reasons(guest: Guest, dest: Host) -> list[Reason]:
    reasons = []
    capacity = dest.capacity
    if guest.name in dest.domains:
        return reasons  # its definition is already counted there
    if guest.memory_mib > capacity["available_memory_mib"] or guest.memory_mib > capacity["free_memory_mib"]:
        reasons.append(
            Reason(
                "insufficient_memory",
                f"{guest.name} needs {guest.memory_mib} MiB; the destination {dest.name} has "
                f"{capacity['available_memory_mib']} MiB available to guests (of {capacity['allocatable_memory_mib']} "
                f"allocatable) and {capacity['free_memory_mib']} MiB free",
                "choose a destination with more memory, or make room there",
            )
        )
    if guest.vcpus > capacity["available_vcpus"]:
        reasons.append(
            Reason(
                "insufficient_vcpus",
                f"{guest.name} needs {guest.vcpus} vCPUs; the destination {dest.name} has "
                f"{capacity['available_vcpus']} available (of {capacity['allocatable_vcpus']} allocatable)",
                "choose another destination, or raise its vcpu_overcommit (kvmfleet.kvm.hypervisor)",
            )
        )
    return reasons
