# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Snapshot XML both ways, and what the guest's disks allow (standard library only).

A snapshot is ``internal`` when its disks (and memory) are kept inside the qcow2 images, ``external``
when libvirt wrote overlay files (and a memory file) beside them. ``memory`` says whether the running
state was saved, so that a revert resumes the guest where it was.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.system import read_firmware


@dataclass
class Disk:
    """One disk of the guest, as a snapshot sees it."""

    target: str
    kind: str  # file, block, volume, network
    format: str
    path: Optional[str]  # a file's or a block device's path; for a volume, once resolved
    snapshotable: bool  # a writable disk (not a cdrom, not read-only)
    pool: Optional[str] = None  # a volume's pool and name
    volume: Optional[str] = None


def guest_disks(domain_xml: str) -> list[Disk]:
    root = ET.fromstring(domain_xml)
    disks = []
    for disk in root.findall("devices/disk"):
        target = disk.find("target")
        if target is None or not target.get("dev"):
            continue
        source = disk.find("source")
        driver = disk.find("driver")
        disks.append(
            Disk(
                target=str(target.get("dev")),
                kind=disk.get("type", "file"),
                format=(driver.get("type") if driver is not None else None) or "raw",
                path=(source.get("file") or source.get("dev")) if source is not None else None,
                snapshotable=disk.get("device", "disk") == "disk" and disk.find("readonly") is None,
                pool=source.get("pool") if source is not None else None,
                volume=source.get("volume") if source is not None else None,
            )
        )
    return disks


def uses_uefi(domain_xml: str) -> bool:
    return read_firmware(ET.fromstring(domain_xml)) == "uefi"


def overlay_path(path: str, name: str) -> str:
    """Where an external snapshot's overlay of the image ``path`` goes: beside it, its name the image's and
    the snapshot's (never the name of another disk's image or overlay)."""
    return f"{path}.{name}"


def snapshot_xml(
    name: str,
    description: Optional[str],
    kind: str,
    memory: Optional[str],
    disks: dict[str, str],
    *,
    overlays: Optional[dict[str, str]] = None,
) -> str:
    """The XML to take a snapshot: ``memory`` is None (not saved), ``""`` (saved inside the images, internal)
    or the file it goes to (external); ``disks`` maps each target to ``internal``, ``external`` or ``no``;
    ``overlays`` the file of each external disk's overlay."""
    root = ET.Element("domainsnapshot")
    ET.SubElement(root, "name").text = name
    if description is not None:
        ET.SubElement(root, "description").text = description
    if memory is None:
        ET.SubElement(root, "memory", {"snapshot": "no"})
    elif kind == "internal":
        ET.SubElement(root, "memory", {"snapshot": "internal"})
    else:
        ET.SubElement(root, "memory", {"snapshot": "external", "file": memory})
    element = ET.SubElement(root, "disks")
    for target, how in disks.items():
        disk = ET.SubElement(element, "disk", {"name": target, "snapshot": how})
        if how == "external" and overlays and target in overlays:
            disk.set("type", "file")
            ET.SubElement(disk, "source", {"file": overlays[target]})
    return ET.tostring(root, encoding="unicode")


def memory_file(disks: list[Disk], guest: str, name: str) -> str:
    """Where an external snapshot's memory goes: beside the guest's first file disk."""
    first = next((d.path for d in disks if d.snapshotable and d.kind == "file" and d.path), None)
    directory = os.path.dirname(first) if first else "/var/lib/libvirt/qemu/snapshot"
    return os.path.join(directory, f"{guest}.{name}.memory")


def read_snapshot(xml: str) -> dict[str, Any]:
    """A snapshot's facts: name, type, memory, state, parent, time, description, the disks it covers and
    the files it wrote (external overlays and memory)."""
    root = ET.fromstring(xml)
    memory = root.find("memory")
    memory_how = memory.get("snapshot", "no") if memory is not None else "no"
    disks = {d.get("name", ""): d.get("snapshot", "no") for d in root.findall("disks/disk")}
    external = memory_how == "external" or "external" in disks.values()
    files = gx.overlay_files(root)
    if memory_how == "external" and memory is not None and memory.get("file"):
        files.append(str(memory.get("file")))
    time = root.findtext("creationTime")
    return {
        "name": root.findtext("name"),
        "type": "external" if external else "internal",
        "memory": memory_how != "no",
        "state": root.findtext("state"),
        "parent": root.findtext("parent/name"),
        "created": int(time) if time and time.isdigit() else None,
        "description": root.findtext("description"),
        "disks": sorted(target for target, how in disks.items() if how != "no"),
        "files": files,
    }
