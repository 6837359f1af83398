# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guest's XML side: tree helpers, the collection's metadata, and the disk and NIC elements.

The options' own parts of a domain tree are their bindings (``_guest/fields``); disks and NICs are read
and written here in the option table's shape, so the planner compares them field by field. An update
patches the guest's own persistent XML, so whatever libvirt filled in (MAC and PCI addresses,
controllers, seclabel, UUID) is kept.

Standard library only (xml.etree): nothing to install on the hypervisor but the libvirt binding.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Callable, Optional

NS = "urn:kvmfleet:guest:1"
NS_PREFIX = "kvmfleet"
ET.register_namespace(NS_PREFIX, NS)
AGENT_CHANNEL = "org.qemu.guest_agent.0"
CARRIED_SNAPSHOT = "snapshot"  # <kvmfleet:snapshot>: a snapshot a move carries (_migrate/carry.py)

_UNIT_BYTES = {
    "b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
    "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4, "tib": 1024**4, "tb": 1000**4,
}  # fmt: skip


def scaled(element: Optional[ET.Element], default_unit: str = "KiB") -> Optional[int]:
    """Bytes of a libvirt scaled integer such as <memory unit='KiB'>524288</memory>."""
    if element is None or element.text is None:
        return None
    return scaled_text(element.text, element.get("unit", default_unit))


def scaled_text(text: str, unit: str) -> int:
    """Bytes of a number in a libvirt unit (KiB, MiB, bytes...)."""
    return int(text.strip()) * _UNIT_BYTES[unit.lower()]


def child(parent: ET.Element, tag: str, attrib: Optional[dict[str, str]] = None) -> ET.Element:
    """The first ``tag`` child of ``parent``, created when missing."""
    found = parent.find(tag)
    if found is None:
        found = ET.SubElement(parent, tag)
    for key, value in (attrib or {}).items():
        found.set(key, value)
    return found


def drop(parent: ET.Element, path: str) -> None:
    """Remove every element matching ``path`` (relative to ``parent``)."""
    if "/" in path:
        head, tail = path.rsplit("/", 1)
        parents = parent.findall(head)
    else:
        tail, parents = path, [parent]
    for holder in parents:
        for element in holder.findall(tail):
            holder.remove(element)


def set_text(parent: ET.Element, tag: str, value: Optional[str]) -> None:
    if value is None or value == "":
        drop(parent, tag)
    else:
        child(parent, tag).text = value


def devices(root: ET.Element) -> ET.Element:
    return child(root, "devices")


# ---------------------------------------------------------------------------------------------- metadata


def _meta(root: ET.Element) -> Optional[ET.Element]:
    """The collection's own metadata element, if the domain has one."""
    holder = root.find("metadata")
    return holder.find(f"{{{NS}}}guest") if holder is not None else None


def _meta_for_writing(root: ET.Element) -> ET.Element:
    found = _meta(root)
    return found if found is not None else ET.SubElement(child(root, "metadata"), f"{{{NS}}}guest")


def read_meta(root: ET.Element, key: str) -> Optional[str]:
    meta = _meta(root)
    return meta.get(key) if meta is not None else None


def write_meta(root: ET.Element, key: str, value: Optional[str]) -> None:
    if value is not None:
        _meta_for_writing(root).set(key, value)
        return
    meta = _meta(root)
    if meta is not None:
        meta.attrib.pop(key, None)


def meta_children(root: ET.Element, tag: str) -> list[ET.Element]:
    """The collection metadata's ``<kvmfleet:TAG>`` elements, in their order."""
    meta = _meta(root)
    return meta.findall(f"{{{NS}}}{tag}") if meta is not None else []


def replace_meta_children(root: ET.Element, tag: str, elements: list[ET.Element]) -> None:
    """Replace the collection metadata's ``<kvmfleet:TAG>`` elements by ``elements`` ([]: remove them)."""
    if not elements and _meta(root) is None:
        return
    meta = _meta_for_writing(root)
    for old in meta.findall(f"{{{NS}}}{tag}"):
        meta.remove(old)
    meta.extend(elements)


def read_tags(root: ET.Element) -> list[str]:
    return sorted(tag.text or "" for tag in meta_children(root, "tag"))


def write_tags(root: ET.Element, tags: list[str]) -> None:
    _meta_for_writing(root)  # a guest with no tags still has the element
    elements = []
    for value in sorted(set(tags)):
        element = ET.Element(f"{{{NS}}}tag")
        element.text = value
        elements.append(element)
    replace_meta_children(root, "tag", elements)


def metadata_xml(domain_xml: str, change: Callable[[ET.Element], None]) -> str:
    """The collection's metadata element of ``domain_xml`` after ``change``, for virDomain.setMetadata.

    libvirt adds the namespace itself, so the element is given without it.
    """
    root = ET.fromstring(domain_xml)
    change(root)
    return meta_element_xml(root)


def meta_element_xml(root: ET.Element) -> str:
    """The collection's metadata element of a domain tree, as virDomain.setMetadata takes it."""
    return ET.tostring(_strip_namespace(_meta_for_writing(root)), encoding="unicode")


def _strip_namespace(element: ET.Element) -> ET.Element:
    plain = ET.Element(element.tag.split("}", 1)[-1], dict(element.attrib))
    plain.text = element.text
    for sub in element:
        plain.append(_strip_namespace(sub))
    return plain


def overlay_files(snapshot: ET.Element) -> list[str]:
    """The overlay files a snapshot's external disks write into (from its ``<domainsnapshot>`` tree)."""
    return [
        str(source.get("file"))
        for disk in snapshot.findall("disks/disk")
        if disk.get("snapshot") == "external"
        for source in [disk.find("source")]
        if source is not None and source.get("file")
    ]


# ---------------------------------------------------------------------------------------------- disks and NICs


def read_disk(disk: ET.Element) -> dict[str, Any]:
    source = disk.find("source")
    target = disk.find("target")
    driver = disk.find("driver")
    boot = disk.find("boot")
    kind = disk.get("type", "file")
    return {
        "device": "cdrom" if disk.get("device") == "cdrom" else "disk",
        "bus": target.get("bus") if target is not None else None,
        "target": target.get("dev") if target is not None else None,
        "pool": source.get("pool") if source is not None and kind == "volume" else None,
        "volume": source.get("volume") if source is not None and kind == "volume" else None,
        "path": (source.get("file") or source.get("dev")) if source is not None and kind in ("file", "block") else None,
        "format": (driver.get("type") if driver is not None else None) or "raw",  # QEMU does not probe: no type is raw
        "cache": driver.get("cache") if driver is not None else None,
        "io": driver.get("io") if driver is not None else None,
        "discard": driver.get("discard") if driver is not None else None,
        "readonly": disk.find("readonly") is not None,
        "boot_order": int(boot.get("order", "0")) if boot is not None else None,
        "size": None,  # from the volume, when the planner needs it
        "backing_image": None,
    }


def read_disks(root: ET.Element) -> list[dict[str, Any]]:
    return [read_disk(disk) for disk in root.findall("devices/disk") if disk.get("device") in ("disk", "cdrom", None)]


def disk_element(disk: dict[str, Any]) -> ET.Element:
    """A <disk> for ``disk`` (its pool/volume or path already resolved)."""
    if disk.get("volume"):
        kind = "volume"
    elif disk.get("path") and disk["path"].startswith("/dev/"):
        kind = "block"
    else:
        kind = "file"
    element = ET.Element("disk", {"type": kind, "device": disk["device"]})
    driver = {"name": "qemu", "type": disk.get("format") or "raw"}
    for key in ("cache", "io", "discard"):
        if disk.get(key):
            driver[key] = disk[key]
    ET.SubElement(element, "driver", driver)
    if kind == "volume":
        ET.SubElement(element, "source", {"pool": disk.get("pool") or "default", "volume": disk["volume"]})
    elif disk.get("path"):
        ET.SubElement(element, "source", {"dev" if kind == "block" else "file": disk["path"]})
    ET.SubElement(element, "target", {"dev": disk["target"], "bus": disk["bus"]})
    if disk.get("readonly") or disk["device"] == "cdrom":
        ET.SubElement(element, "readonly")
    _boot_order(element, disk.get("boot_order"))
    return element


def _find_device(root: ET.Element, tag: str, child_tag: str, attribute: str, value: str) -> Optional[ET.Element]:
    for device in root.findall(f"devices/{tag}"):
        found = device.find(child_tag)
        if found is not None and found.get(attribute, "").lower() == value:
            return device
    return None


def find_disk(root: ET.Element, target: str) -> Optional[ET.Element]:
    return _find_device(root, "disk", "target", "dev", target)


def _replace_device(element: ET.Element, fresh: ET.Element, keep: tuple[str, ...]) -> None:
    """Make ``element`` ``fresh`` in place, keeping the children libvirt filled in (``keep`` tags)."""
    kept = [sub for sub in element if sub.tag in keep]
    element.attrib.clear()
    element.attrib.update(fresh.attrib)
    for sub in list(element):
        element.remove(sub)
    for sub in [*fresh, *kept]:
        element.append(sub)


def _boot_order(element: ET.Element, order: Optional[int]) -> None:
    if order:
        ET.SubElement(element, "boot", {"order": str(order)})


def patch_disk(element: ET.Element, disk: dict[str, Any]) -> None:
    """Set the user-set attributes of ``disk`` on an existing <disk>, keeping its <address>."""
    _replace_device(element, disk_element(disk), ("address", "alias"))


def read_interface(nic: ET.Element) -> dict[str, Any]:
    kind = nic.get("type", "network")
    source = nic.find("source")
    model = nic.find("model")
    mac = nic.find("mac")
    vlan = nic.find("vlan/tag")
    link = nic.find("link")
    boot = nic.find("boot")
    source_value = None
    if source is not None:
        source_value = source.get({"network": "network", "bridge": "bridge", "direct": "dev"}.get(kind, "network"))
    return {
        "type": kind,
        "source": source_value,
        "model": model.get("type") if model is not None else None,
        "mac": mac.get("address", "").lower() if mac is not None else None,
        "vlan": int(vlan.get("id", "0")) if vlan is not None else None,
        "link_state": link.get("state", "up") if link is not None else "up",
        "mode": source.get("mode") if source is not None and kind == "direct" else None,
        "boot_order": int(boot.get("order", "0")) if boot is not None else None,
    }


def read_interfaces(root: ET.Element) -> list[dict[str, Any]]:
    return [read_interface(nic) for nic in root.findall("devices/interface")]


def interface_element(nic: dict[str, Any]) -> ET.Element:
    element = ET.Element("interface", {"type": nic["type"]})
    if nic.get("mac"):
        ET.SubElement(element, "mac", {"address": nic["mac"]})
    source = {"network": {"network": nic["source"]}, "bridge": {"bridge": nic["source"]}}.get(
        nic["type"], {"dev": nic["source"], "mode": nic.get("mode") or "bridge"}
    )
    ET.SubElement(element, "source", source)
    if nic.get("vlan"):
        ET.SubElement(ET.SubElement(element, "vlan"), "tag", {"id": str(nic["vlan"])})
    ET.SubElement(element, "model", {"type": nic.get("model") or "virtio"})
    if nic.get("link_state"):
        ET.SubElement(element, "link", {"state": nic["link_state"]})
    _boot_order(element, nic.get("boot_order"))
    return element


def find_interface(root: ET.Element, mac: str) -> Optional[ET.Element]:
    return _find_device(root, "interface", "mac", "address", mac)


def patch_interface(element: ET.Element, nic: dict[str, Any]) -> None:
    _replace_device(element, interface_element(nic), ("address", "alias", "target", "rom", "driver"))


# ---------------------------------------------------------------------------------------------- whole domain


def skeleton(name: str) -> ET.Element:
    """The smallest domain the writers complete: ACPI/APIC on, as every x86 guest wants."""
    root = ET.Element("domain", {"type": "qemu"})
    ET.SubElement(root, "name").text = name
    os_el = ET.SubElement(root, "os")
    ET.SubElement(os_el, "type").text = "hvm"
    features = ET.SubElement(root, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    ET.SubElement(root, "devices")
    return root


def to_string(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")
