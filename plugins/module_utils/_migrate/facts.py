# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a migration's pre-flight check is a function of: the guest and the two hosts, each read once.

``read_guest`` reads a guest's live definition (what moves) and its persistent one; ``read_host`` a host's
capabilities, capacity, pools, networks and interfaces. The check (``preflight.check``) and the drain work
on these records only, so every guest can be checked against every candidate from one read of each host.
"""

from __future__ import annotations

import contextlib
import os
import socket
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.bindings import read_values
from ansible_collections.kvmfleet.kvm.plugins.module_utils._host import parse_capabilities
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor import record as rec
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.capacity import read_capacity
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import carry
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.xml import read_pool
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool_facts import DIRECTORY_TYPES

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
    carried: list[str] = field(default_factory=list)  # snapshots an interrupted move recorded (carry.read_record)
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
    capacity: int = 0  # bytes, as libvirt counts them for an active pool (0 when inactive)
    allocation: int = 0
    available: int = 0


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
    guests: list[dict[str, Any]] = field(default_factory=list)  # capacity.guest_figures, of which ``domains``
    _by_path: Optional[dict[str, tuple[str, str]]] = field(default=None, repr=False, compare=False)

    def pool_of_path(self, path: str) -> Optional[Pool]:
        """The active pool whose directory holds ``path`` (pools of files)."""
        folder = os.path.dirname(path)
        for pool in self.pools.values():
            if pool.active and pool.path and pool.path.rstrip("/") == folder:
                return pool
        return None

    def volume_at(self, path: str) -> Optional[tuple[str, str]]:
        """(pool, volume) of the volume at ``path`` in one of the active pools, if any."""
        if self._by_path is None:
            self._by_path = {
                vol_path: (pool.name, name) for pool in self.pools.values() for name, vol_path in pool.volumes.items()
            }
        return self._by_path.get(path)

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
    # with its secrets (graphics passwords): the destination's definitions are made from these
    xml = dom.XMLDesc(lv.VIR_DOMAIN_XML_MIGRATABLE | lv.VIR_DOMAIN_XML_SECURE)
    persistent = bool(dom.isPersistent())
    flags = lv.VIR_DOMAIN_XML_MIGRATABLE | lv.VIR_DOMAIN_XML_SECURE | lv.VIR_DOMAIN_XML_INACTIVE
    config_xml = dom.XMLDesc(flags) if persistent else ""
    root = ET.fromstring(xml)
    guest = guest_of(
        root, xml, config_xml, running=running, paused=dom.state()[0] == lv.VIR_DOMAIN_PAUSED, persistent=persistent
    )
    guest.disks = [
        _resolved(disk_of(element), dom, conn) if element.find("source") is not None else disk_of(element)
        for element in root.findall("devices/disk")
    ]
    guest.snapshots, guest.checkpoints = counts(dom)
    if running:
        for disk in guest.disks:
            try:
                if dom.blockJobInfo(disk.target, 0):
                    guest.block_jobs.append(disk.target)
            except lv.libvirtError:
                continue
    return guest


def guest_of(root: ET.Element, xml: str, config_xml: str, *, running: bool, paused: bool, persistent: bool) -> Guest:
    """What a definition (the live one of a running guest) says of a guest, without its disks' volumes,
    snapshots and block jobs, which take calls (``read_guest``)."""
    scalars = read_values(root, ("name", "uuid", "memory", "vcpus", "virt_type", "arch", "machine", "emulator"))
    cpu = root.find("cpu")
    features = {
        feature.get("name"): feature.get("policy") for feature in (cpu.findall("feature") if cpu is not None else [])
    }
    tsc = root.find("clock/timer[@name='tsc']")
    os_el = root.find("os")
    guest = Guest(
        name=scalars["name"] or "",
        uuid=scalars["uuid"] or "",
        running=running,
        paused=paused,
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
        carried=[saved.name for saved in carry.read_record(root)],
    )
    guest.disks = [disk_of(element) for element in root.findall("devices/disk")]
    guest.interfaces = [
        {**gx.read_interface(nic), "vdpa": nic.get("type") == "vdpa", "passthrough": nic.get("type") == "hostdev"}
        for nic in root.findall("devices/interface")
    ]
    guest.hostdevs = [
        f"{hostdev.get('type', 'pci')} {_hostdev_name(hostdev)}"
        for hostdev in root.findall("devices/hostdev")
        if hostdev.get("type") != "usb"
    ]
    return guest


def counts(dom: Any) -> tuple[int, int]:
    """(snapshots, checkpoints) of a guest: two calls."""
    lv = require_libvirt()
    snapshots = dom.snapshotNum(0)
    try:
        return snapshots, len(dom.listAllCheckpoints(0))
    except (AttributeError, lv.libvirtError):
        return snapshots, 0


def _hostdev_name(hostdev: ET.Element) -> str:
    address = hostdev.find("source/address")
    if hostdev.get("type") == "pci" and address is not None:
        parts = [int(address.get(key, "0"), 0) for key in ("domain", "bus", "slot", "function")]
        return f"{parts[0]:04x}:{parts[1]:02x}:{parts[2]:02x}.{parts[3]:x}"
    if address is not None:
        return address.get("uuid") or ",".join(f"{k}={v}" for k, v in sorted(address.attrib.items()))
    return "?"


def disk_of(element: ET.Element) -> Disk:
    """A disk element as the migration sees it, its volume not yet looked up."""
    source = element.find("source")
    target = element.find("target")
    driver = element.find("driver")
    kind = element.get("type", "file")
    return Disk(
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


def _resolved(disk: Disk, dom: Any, conn: Any) -> Disk:
    """``disk`` with its volume's pool, path, size and backing file, looked up on the source."""
    lv = require_libvirt()
    vol = None
    try:
        if disk.kind == "volume" and disk.pool and disk.volume:
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


def locate(disk: Disk, host: Host) -> Disk:
    """``disk`` with its pool, volume and path found among ``host``'s pools as read (no call): what the
    check of a move on shared storage needs; sizes and backing files are left unread."""
    if disk.kind == "volume" and disk.pool and disk.volume:
        pool = host.pools.get(disk.pool)
        disk.path = pool.volumes.get(disk.volume) if pool is not None else None
    elif disk.path:
        found = host.volume_at(disk.path)
        if found is not None:
            disk.pool, disk.volume = found
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
                # a volume's key is its path in a pool of files (libvirt keeps it with the object: no call)
                path_of = (lambda vol: vol.key()) if entry.type in DIRECTORY_TYPES else (lambda vol: vol.path())
                entry.volumes = {vol.name(): path_of(vol) for vol in pool.listAllVolumes(0)}
                _state, entry.capacity, entry.allocation, entry.available = pool.info()
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
        guests=figures,
    )


def domains_of(figures: list[dict[str, Any]]) -> dict[str, tuple[str, bool]]:
    return {guest["name"]: (guest["uuid"], guest["running"]) for guest in figures}


def refresh(conn: Any, host: Host) -> None:
    """Read again what moves change on a host: its record, capacity and guests (three calls)."""
    host.record, _stored = rec.read(conn)
    host.capacity, figures = read_capacity(conn, host.record)
    host.domains = domains_of(figures)
    host.guests = figures


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


def mount_type(path: str) -> Optional[str]:
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
