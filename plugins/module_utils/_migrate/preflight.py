# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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

import contextlib
import ipaddress
import os
import socket
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._host import parse_capabilities
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor import record as rec
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.capacity import read_capacity
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.options import COPY_INCREMENTAL, SHARED
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.xml import read_pool

KiB = 1024
MiB = 1024 * 1024
# pool types whose storage libvirt treats as shared between hosts (network storage and netfs mounts)
COPYING = "copying"  # the guest's metadata: the host UUID a move is copying its disks to (see move.mark_copying)
SHARED_POOL_TYPES = ("netfs", "rbd", "gluster", "iscsi-direct", "sheepdog", "vstorage")
# filesystems libvirt's virFileIsSharedFS counts as shared, by their mount type
SHARED_FS_TYPES = (
    "nfs", "nfs4", "gfs2", "ocfs2", "afs", "smb3", "smbfs", "cifs", "ceph", "gpfs", "fuse.quobyte", "acfs", "lustre",
    "beegfs", "fuse.glusterfs", "glusterfs",
)  # fmt: skip


@dataclass(frozen=True)
class Reason:
    """One reason a guest cannot (``blocking``) or should not silently (a warning) move."""

    code: str
    message: str
    fix: str
    blocking: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return f"[{self.code}] {self.message}; fix: {self.fix}"


@dataclass
class Disk:
    """A disk as the migration sees it."""

    target: str
    device: str
    kind: str  # file, block, volume, network
    path: Optional[str]  # file or device path (resolved from the pool for a volume disk)
    pool: Optional[str]  # the source pool that holds it (named, or found by its directory)
    volume: Optional[str]
    format: str
    cache: Optional[str]
    readonly: bool
    shareable: bool
    capacity: int = 0
    allocation: int = 0
    backing: Optional[str] = None  # path of the backing file of a qcow2 overlay
    backing_format: Optional[str] = None


@dataclass
class Guest:
    """What the check needs to know about the guest, from its live definition on the source."""

    name: str
    uuid: str
    running: bool
    paused: bool
    persistent: bool
    memory_mib: int
    vcpus: int
    virt_type: str
    arch: str
    machine: str
    emulator: Optional[str]
    cpu_mode: Optional[str]
    cpu_xml: Optional[str]
    invtsc: bool
    tsc_frequency: bool
    nvram: Optional[str]
    files: list[str]  # kernel, initrd, dtb: files QEMU opens on the destination too
    disks: list[Disk] = field(default_factory=list)
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    hostdevs: list[str] = field(default_factory=list)
    snapshots: int = 0
    checkpoints: int = 0
    block_jobs: list[str] = field(default_factory=list)
    xml: str = ""  # the live definition, for the destination's copy
    config_xml: str = ""  # the persistent definition ('' for a transient guest)
    copying_to: Optional[str] = None  # the host UUID an interrupted move was copying the disks to (COPYING)


@dataclass
class Pool:
    name: str
    type: str
    path: Optional[str]
    active: bool
    volumes: dict[str, str] = field(default_factory=dict)  # name -> path (active pools only)


@dataclass
class Host:
    """What the check needs to know about a hypervisor (the source or a destination)."""

    name: str
    uri: str
    uuid: str
    cpu_xml: str
    caps: dict[str, Any]
    networks: set[str]
    interfaces: Optional[set[str]]  # None: libvirt could not list them here
    pools: dict[str, Pool]
    capacity: dict[str, Any]
    record: rec.Record
    domains: dict[str, tuple[str, bool]]  # name -> (uuid, running)
    local: bool = False  # the module runs on this host

    def pool_of_path(self, path: str) -> Optional[Pool]:
        """The active pool whose directory holds ``path`` (pools of files)."""
        folder = os.path.dirname(path)
        for pool in self.pools.values():
            if pool.active and pool.path and pool.path.rstrip("/") == folder:
                return pool
        return None

    def has_file(self, path: str) -> Optional[bool]:
        """Whether ``path`` is a volume of one of this host's pools; None when no pool covers its directory."""
        pool = self.pool_of_path(path)
        if pool is None:
            return None
        return path in pool.volumes.values()


# ---------------------------------------------------------------------------------------------- reading


def read_guest(dom: Any, conn: Any) -> Guest:
    """The guest's facts from its live (or, when stopped, persistent) definition on the source."""
    lv = require_libvirt()
    running = bool(dom.isActive())
    xml = dom.XMLDesc(lv.VIR_DOMAIN_XML_MIGRATABLE)
    persistent = bool(dom.isPersistent())
    config_xml = dom.XMLDesc(lv.VIR_DOMAIN_XML_MIGRATABLE | lv.VIR_DOMAIN_XML_INACTIVE) if persistent else ""
    root = ET.fromstring(xml)
    scalars = gx.read_scalars(root)
    cpu = root.find("cpu")
    features = {
        feature.get("name"): feature.get("policy") for feature in (cpu.findall("feature") if cpu is not None else [])
    }
    tsc = root.find("clock/timer[@name='tsc']")
    os_el = root.find("os")
    state = dom.state()[0]
    guest = Guest(
        name=dom.name(),
        uuid=dom.UUIDString(),
        running=running,
        paused=state == lv.VIR_DOMAIN_PAUSED,
        persistent=persistent,
        memory_mib=(scalars["memory"] or 0) // MiB,
        vcpus=scalars["vcpus"] or 1,
        virt_type=scalars["virt_type"] or "qemu",
        arch=scalars["arch"] or "x86_64",
        machine=scalars["machine"] or "",
        emulator=scalars["emulator"],
        cpu_mode=(cpu.get("mode", "custom") if cpu is not None else None),
        cpu_xml=ET.tostring(cpu, encoding="unicode") if cpu is not None else None,
        invtsc=features.get("invtsc") in ("require", "force"),
        tsc_frequency=tsc is not None and bool(tsc.get("frequency")),
        nvram=os_el.findtext("nvram") if os_el is not None else None,
        files=[
            text
            for text in (os_el.findtext(tag) if os_el is not None else None for tag in ("kernel", "initrd", "dtb"))
            if text
        ],
        xml=xml,
        config_xml=config_xml,
        copying_to=gx.read_meta(root, COPYING),
    )
    guest.disks = [_read_disk(element, dom, conn) for element in root.findall("devices/disk")]
    guest.interfaces = [
        {**gx.read_interface(nic), "vdpa": nic.get("type") == "vdpa", "passthrough": nic.get("type") == "hostdev"}
        for nic in root.findall("devices/interface")
    ]
    guest.hostdevs = [
        f"{hostdev.get('type', 'pci')} {_hostdev_name(hostdev)}"
        for hostdev in root.findall("devices/hostdev")
        if hostdev.get("type") != "usb"
    ]
    guest.snapshots = dom.snapshotNum(0)
    try:
        guest.checkpoints = len(dom.listAllCheckpoints(0))
    except (AttributeError, lv.libvirtError):
        guest.checkpoints = 0
    if running:
        for disk in guest.disks:
            try:
                if dom.blockJobInfo(disk.target, 0):
                    guest.block_jobs.append(disk.target)
            except lv.libvirtError:
                continue
    return guest


def _hostdev_name(hostdev: ET.Element) -> str:
    address = hostdev.find("source/address")
    if hostdev.get("type") == "pci" and address is not None:
        parts = [int(address.get(key, "0"), 0) for key in ("domain", "bus", "slot", "function")]
        return f"{parts[0]:04x}:{parts[1]:02x}:{parts[2]:02x}.{parts[3]:x}"
    if address is not None:
        return address.get("uuid") or ",".join(f"{k}={v}" for k, v in sorted(address.attrib.items()))
    return "?"


def _read_disk(element: ET.Element, dom: Any, conn: Any) -> Disk:
    lv = require_libvirt()
    source = element.find("source")
    target = element.find("target")
    driver = element.find("driver")
    kind = element.get("type", "file")
    disk = Disk(
        target=target.get("dev", "") if target is not None else "",
        device=element.get("device", "disk"),
        kind=kind,
        path=(source.get("file") or source.get("dev")) if source is not None and kind in ("file", "block") else None,
        pool=source.get("pool") if source is not None and kind == "volume" else None,
        volume=source.get("volume") if source is not None and kind == "volume" else None,
        format=(driver.get("type") if driver is not None else None) or "raw",
        cache=driver.get("cache") if driver is not None else None,
        readonly=element.find("readonly") is not None,
        shareable=element.find("shareable") is not None,
    )
    if source is None:  # an empty cdrom drive
        return disk
    vol = None
    try:
        if kind == "volume" and disk.pool and disk.volume:
            vol = conn.storagePoolLookupByName(disk.pool).storageVolLookupByName(disk.volume)
            disk.path = vol.path()
        elif disk.path:
            vol = conn.storageVolLookupByPath(disk.path)
            disk.pool = vol.storagePoolLookupByVolume().name()
            disk.volume = vol.name()
    except lv.libvirtError:
        vol = None
    if vol is not None:
        facts = ET.fromstring(vol.XMLDesc(0))
        disk.capacity = int(facts.findtext("capacity") or 0)
        disk.allocation = int(facts.findtext("allocation") or 0)
        backing = facts.find("backingStore")
        if backing is not None and backing.findtext("path"):
            disk.backing = backing.findtext("path")
            fmt = backing.find("format")
            disk.backing_format = fmt.get("type") if fmt is not None else None
    elif dom.isActive() and disk.target:
        with contextlib.suppress(lv.libvirtError):
            disk.capacity, disk.allocation, _physical = dom.blockInfo(disk.target, 0)
    return disk


def read_host(conn: Any, uri: str, local: bool = False) -> Host:
    """A hypervisor's facts for the check: capabilities, networks, interfaces, pools, capacity, record."""
    lv = require_libvirt()
    caps_xml = conn.getCapabilities()
    root = ET.fromstring(caps_xml)
    cpu = root.find("host/cpu")
    record, _stored = rec.read(conn)
    capacity, figures = read_capacity(conn, record)
    try:
        interfaces: Optional[set[str]] = {iface.name() for iface in conn.listAllInterfaces(0)}
    except lv.libvirtError:
        interfaces = None
    pools: dict[str, Pool] = {}
    for pool in conn.listAllStoragePools(0):
        shape = read_pool(pool.XMLDesc(0))
        active = bool(pool.isActive())
        entry = Pool(pool.name(), shape.get("type") or "dir", shape.get("target"), active)
        if active:
            try:
                pool.refresh(0)
                entry.volumes = {vol.name(): vol.path() for vol in pool.listAllVolumes(0)}
            except lv.libvirtError:
                entry.volumes = {}
        pools[entry.name] = entry
    return Host(
        name=conn.getHostname(),
        uri=uri,
        uuid=root.findtext("host/uuid") or "",
        cpu_xml=ET.tostring(cpu, encoding="unicode") if cpu is not None else "",
        caps=parse_capabilities(caps_xml),
        networks={net.name() for net in conn.listAllNetworks(lv.VIR_CONNECT_LIST_NETWORKS_ACTIVE)},
        interfaces=interfaces,
        pools=pools,
        capacity=capacity,
        record=record,
        domains=domains_of(figures),
        local=local,
    )


def domains_of(figures: list[dict[str, Any]]) -> dict[str, tuple[str, bool]]:
    return {guest["name"]: (guest["uuid"], guest["running"]) for guest in figures}


def refresh(conn: Any, host: Host) -> None:
    """Read again what moves change on a host: its record, capacity and guests (three calls)."""
    host.record, _stored = rec.read(conn)
    host.capacity, figures = read_capacity(conn, host.record)
    host.domains = domains_of(figures)


def cpu_verdict(dest_conn: Any, guest: Guest, dest: Host) -> Optional[str]:
    """libvirt's words when the destination cannot run the guest's CPU (None: it can, or nothing to compare)."""
    lv = require_libvirt()
    if not guest.cpu_xml or guest.cpu_mode in ("host-passthrough", "maximum"):
        return None
    emulator = guest.emulator or dest.caps["guests"].get(guest.arch, {}).get("emulator") or None
    try:
        dest_conn.compareHypervisorCPU(
            emulator,
            guest.arch,
            guest.machine or None,
            guest.virt_type,
            guest.cpu_xml,
            lv.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE,
        )
    except lv.libvirtError as exc:
        if exc.get_error_code() == lv.VIR_ERR_CPU_INCOMPATIBLE:
            return exc.get_error_message()
        return None  # the comparison itself is not possible here (old libvirt): libvirt decides at migration
    return None


def _mount_type(path: str) -> Optional[str]:
    """The filesystem type of the mount that holds ``path`` on this machine (/proc/self/mountinfo)."""
    best, kind = "", None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            for line in handle:
                left, _sep, right = line.partition(" - ")
                mount_point = left.split()[4]
                if (path == mount_point or path.startswith(mount_point.rstrip("/") + "/")) and len(mount_point) >= len(
                    best
                ):
                    best, kind = mount_point, right.split()[0]
    except (OSError, IndexError):
        return None
    return kind


def resolve(host: str) -> Optional[list[str]]:
    """The addresses ``host`` resolves to here (None: it does not resolve)."""
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
    except (socket.gaierror, UnicodeError):
        return None


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
    kind = _mount_type(disk.path)
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
    if guest.snapshots:
        add(
            Reason(
                "snapshots",
                f"{guest.name} has {guest.snapshots} snapshot(s): libvirt refuses ('cannot migrate domain with "
                f"{guest.snapshots} snapshots')",
                "delete the snapshots, or move them with the snapshot module once it carries them across",
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
