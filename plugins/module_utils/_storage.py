# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ground layer: storage volumes through libvirt (works the same on local and remote hypervisors)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import LibvirtCallFailed
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt


def _or_none(lookup: Any, name: str) -> Optional[Any]:
    lv = require_libvirt()
    try:
        return lookup(name)
    except lv.libvirtError:
        return None


def find_pool(conn: Any, name: str) -> Optional[Any]:
    return _or_none(conn.storagePoolLookupByName, name)


def find_volume(pool: Any, name: str) -> Optional[Any]:
    return _or_none(pool.storageVolLookupByName, name)


def volume_facts(vol: Any) -> dict[str, Any]:
    """Capacity, format, path and backing file of a volume."""
    root = ET.fromstring(vol.XMLDesc(0))
    capacity = root.find("capacity")
    fmt = root.find("target/format")
    return {
        "capacity": int(capacity.text or "0") if capacity is not None else 0,  # libvirt reports bytes
        "format": fmt.get("type") if fmt is not None else None,
        "path": vol.path(),
        "backing": root.findtext("backingStore/path"),
    }


# volume formats QEMU opens by that name; anything else (iso, dir, none...) is read as raw
QEMU_FORMATS = ("raw", "qcow2", "qed", "vmdk", "vdi", "vpc", "vhdx", "luks")


def driver_type(volume_format: Optional[str]) -> str:
    """The <driver type> for a volume of ``volume_format``."""
    return volume_format if volume_format in QEMU_FORMATS else "raw"


def volume_xml(name: str, capacity: int, fmt: str, backing: Optional[tuple[str, str]] = None) -> str:
    """XML of a new volume; ``backing`` = (path, format) makes it a copy-on-write overlay."""
    volume = ET.Element("volume")
    ET.SubElement(volume, "name").text = name
    ET.SubElement(volume, "capacity", {"unit": "bytes"}).text = str(capacity)
    if fmt == "qcow2":
        ET.SubElement(volume, "allocation", {"unit": "bytes"}).text = "0"
    target = ET.SubElement(volume, "target")
    ET.SubElement(target, "format", {"type": fmt})
    if backing is not None:
        store = ET.SubElement(volume, "backingStore")
        ET.SubElement(store, "path").text = backing[0]
        ET.SubElement(store, "format", {"type": backing[1]})
    return ET.tostring(volume, encoding="unicode")


def create_volume(pool: Any, name: str, capacity: int, fmt: str, backing: Optional[tuple[str, str]] = None) -> Any:
    """Create a volume; an overlay costs the same whatever the size of its backing image."""
    lv = require_libvirt()
    try:
        return pool.createXML(volume_xml(name, capacity, fmt, backing), 0)
    except lv.libvirtError as exc:
        raise LibvirtCallFailed(
            f"cannot create volume {name} in pool {pool.name()}: {exc.get_error_message()}"
        ) from exc


def upload(conn: Any, vol: Any, data: bytes) -> None:
    """Write ``data`` at the start of ``vol`` over libvirt's stream (local or remote hypervisor)."""
    stream = conn.newStream(0)
    vol.upload(stream, 0, len(data), 0)
    view = memoryview(data)
    offset = 0
    while offset < len(data):
        sent = stream.send(bytes(view[offset : offset + 262144]))
        if sent < 0:
            stream.abort()
            raise LibvirtCallFailed(f"upload to volume {vol.name()} failed")
        offset += sent
    stream.finish()
