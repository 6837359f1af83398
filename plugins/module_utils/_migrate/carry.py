# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Snapshots that move with their guest.

libvirt refuses to migrate a guest that has snapshot metadata ("cannot migrate domain with N
snapshots"), although what a snapshot holds is in the disks: inside the qcow2 files (internal) or in
the overlay files (external), which shared storage shows the destination as they are. A move takes
the metadata across itself:

1. ``stash``: every snapshot's definition (with its secrets, parents first) and which one is current
   are recorded in the guest's collection metadata, live and persistent (the definitions the
   migration sends carry the record too); then the metadata (only) of each snapshot is deleted on the
   source, children first;
2. the guest migrates;
3. ``restore``: where the guest is then (the destination, or the source after a failed migration)
   each snapshot is redefined, parents first, the current one as current, and the record is cleared.

A run killed at any moment leaves the record on the guest, wherever it is, and the snapshots still
defined: the next run takes the record as the list (not libvirt's, which a killed ``stash`` left
partial) and finishes from there. A snapshot already defined is not redefined.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Callable

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _faults
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt

SNAPSHOT = gx.CARRIED_SNAPSHOT  # the record's elements in the collection's metadata: <kvmfleet:snapshot name= current=>


@dataclass(frozen=True)
class Saved:
    """One snapshot as the record keeps it."""

    name: str
    xml: str  # its definition (virDomainSnapshotGetXMLDesc with SECURE)
    current: bool


def read_record(root: ET.Element) -> list[Saved]:
    """The snapshots recorded in a domain tree's metadata, parents first ([] when there is no record)."""
    return [
        Saved(element.get("name", ""), element.text or "", element.get("current") == "yes")
        for element in gx.meta_children(root, SNAPSHOT)
    ]


def write_record(root: ET.Element, saved: list[Saved]) -> None:
    """Set (or, with [], clear) the record in a domain tree's metadata."""
    elements = []
    for snap in saved:
        element = ET.Element(f"{{{gx.NS}}}{SNAPSHOT}", {"name": snap.name, "current": "yes" if snap.current else "no"})
        element.text = snap.xml
        elements.append(element)
    gx.replace_meta_children(root, SNAPSHOT, elements)


def defined(dom: Any) -> list[Saved]:
    """The guest's snapshots as libvirt has them, parents first."""
    lv = require_libvirt()
    return [
        Saved(snap.getName(), snap.getXMLDesc(lv.VIR_DOMAIN_SNAPSHOT_XML_SECURE), bool(snap.isCurrent(0)))
        for snap in dom.listAllSnapshots(lv.VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL)
    ]


def to_carry(recorded: list[Saved], dom: Any) -> list[Saved]:
    """What a move carries: the record an interrupted run left, then what libvirt has besides (a snapshot
    taken since), parents first."""
    names = {snap.name for snap in recorded}
    return recorded + [snap for snap in defined(dom) if snap.name not in names]


def recorded_on(dom: Any) -> list[Saved]:
    """The record on a guest (its live definition when it runs)."""
    return read_record(ET.fromstring(dom.XMLDesc(0)))


def pending(conn: Any) -> list[tuple[Any, list[Saved]]]:
    """The guests of a hypervisor whose snapshots an interrupted move left recorded, not defined."""
    lv = require_libvirt()
    found = []
    for dom in conn.listAllDomains(0):
        try:
            saved = recorded_on(dom)
        except lv.libvirtError:  # gone while listed
            continue
        if saved:
            found.append((dom, saved))
    return found


def update_metadata(dom: Any, change: Callable[[ET.Element], None]) -> None:
    """Apply ``change`` to the collection's metadata of a guest, in its persistent definition and, when it
    runs, its live one; a definition the change leaves as it was is not written."""
    lv = require_libvirt()
    ends = [(lv.VIR_DOMAIN_AFFECT_CONFIG, lv.VIR_DOMAIN_XML_INACTIVE)] if dom.isPersistent() else []
    if dom.isActive():
        ends.append((lv.VIR_DOMAIN_AFFECT_LIVE, 0))
    for flag, read in ends:
        root = ET.fromstring(dom.XMLDesc(read | lv.VIR_DOMAIN_XML_SECURE))
        before = gx.meta_element_xml(root)
        change(root)
        after = gx.meta_element_xml(root)
        if after != before:
            dom.setMetadata(lv.VIR_DOMAIN_METADATA_ELEMENT, after, gx.NS_PREFIX, gx.NS, flag)


def stash(dom: Any, saved: list[Saved]) -> None:
    """Record the snapshots on the guest, then delete their metadata (only) from its hypervisor."""
    lv = require_libvirt()
    update_metadata(dom, lambda root: write_record(root, saved))
    for snap in reversed(saved):  # children first
        found = _lookup(dom, snap.name)
        if found is not None:
            _faults.point(f"forget the snapshot {snap.name}")
            found.delete(lv.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)


def restore(dom: Any, saved: list[Saved]) -> list[str]:
    """Redefine the recorded snapshots on the guest's hypervisor (parents first) and clear the record;
    the names redefined."""
    lv = require_libvirt()
    redefined = []
    for snap in saved:
        if _lookup(dom, snap.name) is not None:
            continue  # a killed run redefined it already
        flags = lv.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | (lv.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT if snap.current else 0)
        _faults.point(f"redefine the snapshot {snap.name}")
        dom.snapshotCreateXML(snap.xml, flags)
        redefined.append(snap.name)
    update_metadata(dom, lambda root: write_record(root, []))
    return redefined


def _lookup(dom: Any, name: str) -> Any:
    lv = require_libvirt()
    try:
        return dom.snapshotLookupByName(name, 0)
    except lv.libvirtError as exc:
        if exc.get_error_code() == lv.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            return None
        raise
