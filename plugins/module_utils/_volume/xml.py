# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Volume XML: the writer for new volumes and the reader into the volume table's normalised shape.

Standard library only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Optional

# volume formats QEMU opens by that name; anything else (iso, dir, none...) is read as raw
QEMU_FORMATS = ("raw", "qcow2", "qed", "vmdk", "vdi", "vpc", "vhdx", "luks")


def driver_type(volume_format: Optional[str]) -> str:
    """The <driver type> for a volume of ``volume_format``."""
    return volume_format if volume_format in QEMU_FORMATS else "raw"


def volume_xml(
    name: str, capacity: int, fmt: str, backing: Optional[tuple[str, str]] = None, allocation: Optional[int] = None
) -> str:
    """XML of a new volume; ``backing`` = (path, format) makes it a copy-on-write overlay.

    ``allocation`` 0 asks for a sparse volume (qcow2 volumes always start sparse). A qcow2 volume is
    version 3 (compat 1.1), as qemu-img makes them.
    """
    volume = ET.Element("volume")
    ET.SubElement(volume, "name").text = name
    ET.SubElement(volume, "capacity", {"unit": "bytes"}).text = str(capacity)
    if fmt == "qcow2" or allocation is not None:
        ET.SubElement(volume, "allocation", {"unit": "bytes"}).text = str(allocation or 0)
    target = ET.SubElement(volume, "target")
    ET.SubElement(target, "format", {"type": fmt})
    if fmt == "qcow2":  # libvirt makes version 2 images unless told: no dirty bitmaps (checkpoints), no zero clusters
        ET.SubElement(target, "compat").text = "1.1"
    if backing is not None:
        store = ET.SubElement(volume, "backingStore")
        ET.SubElement(store, "path").text = backing[0]
        ET.SubElement(store, "format", {"type": backing[1]})
    return ET.tostring(volume, encoding="unicode")


def _bytes(element: Optional[ET.Element]) -> int:
    """A size element in bytes (libvirt reports bytes, but honour a unit if one is given)."""
    if element is None or not (element.text or "").strip():
        return 0
    factors = {"bytes": 1, "b": 1, "kib": 1024, "k": 1024, "mib": 1024**2, "m": 1024**2, "gib": 1024**3, "g": 1024**3}
    return int(element.text.strip()) * factors.get((element.get("unit") or "bytes").lower(), 1)


def read_volume(xml: str) -> dict[str, Any]:
    """A volume's XML in the normalised shape: capacity and allocation in bytes, format, path, backing."""
    root = ET.fromstring(xml)
    fmt = root.find("target/format")
    backing_fmt = root.find("backingStore/format")
    return {
        "name": root.findtext("name"),
        "capacity": _bytes(root.find("capacity")),
        "allocation": _bytes(root.find("allocation")),
        "format": fmt.get("type") if fmt is not None else None,
        "path": root.findtext("target/path"),
        "backing": root.findtext("backingStore/path"),
        "backing_format": backing_fmt.get("type") if backing_fmt is not None else None,
    }
