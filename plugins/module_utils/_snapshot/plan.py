# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plan one named snapshot of a guest: take it, compare it, delete it (with a series' retention), revert to it.

Every problem is found before anything is done: the guest and its disks are read once, the type is
chosen (``auto``: external for UEFI guests, raw disks and block storage, else internal), and what
libvirt would refuse (memory of a guest that is off, quiesce without a connected agent, a revert of an
external snapshot on a libvirt that cannot) is refused naming the option. A revert discards what
changed in the guest since the snapshot: it needs ``discard_changes``.

A guest is "at" a snapshot, and ``reverted`` changes nothing, when the snapshot is libvirt's current
one and this module reverted the guest to it, and since then the guest has kept the same QEMU process
(when it runs) or its disk files have not been written (when it is off). Writes inside a guest that has
run on since the revert are not seen: libvirt cannot tell them.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, NeedsOption, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import power
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._host import boot_id
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import find, is_local_uri, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import CONTROL, NEXT_BOOT
from ansible_collections.kvmfleet.kvm.plugins.module_utils._plan import Plan
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool_facts import DIRECTORY_TYPES, pool_facts
from ansible_collections.kvmfleet.kvm.plugins.module_utils._snapshot import xml as sx

SETTLE_TIMEOUT = 60.0  # seconds a guest libvirt is still starting, saving or shutting down is waited for
UEFI_INTERNAL_REFUSED = 9_002_000  # libvirt 9.2 refuses internal snapshots of UEFI guests also when they are off
EXTERNAL_REVERT = 9_007_000  # libvirt 9.7 reverts to external snapshots
EXTERNAL_DELETE = 9_000_000  # libvirt 9.0 deletes external snapshots (merging their overlays)
REVERTED_TO, REVERTED_MARK = "reverted_to", "reverted_mark"  # the collection's metadata of a revert


def version_text(version: int) -> str:
    return f"{version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}"


def guest_of(conn: Any, name: str) -> Any:
    """The guest a task names; one that does not exist fails naming ``guest``."""
    dom = find(conn.lookupByName, name)
    if dom is None:
        raise ValidationError([("guest", f"no guest {name} on this hypervisor")])
    return dom


def _running(dom: Any) -> bool:
    return bool(dom.isActive())


class SnapshotPlanner:
    """Plans one ``snapshot`` task from the table's values."""

    def __init__(self, conn: Any, values: dict[str, Any]) -> None:
        self.lv = require_libvirt()
        self.conn = conn
        self.want = values
        self.guest: str = values["guest"]
        self.name: str = values["name"]
        self.plan = Plan("snapshot", f"{self.guest}/{self.name}")
        self.version = int(conn.getLibVersion())
        self.local = is_local_uri(conn.getURI())
        self.taken: Optional[dict[str, Any]] = None  # what a new snapshot will be
        self.deleted: list[str] = []
        self.reverted = False
        self.differences: list[str] = []  # how an existing snapshot differs from the task

    # ------------------------------------------------------------------ entry

    def make(self) -> Plan:
        dom = guest_of(self.conn, self.guest)
        note = power.settle(dom, SETTLE_TIMEOUT)
        if note:
            self.plan.warnings.append(note)
        self.dom = dom
        self.snaps = {snap.getName(): snap for snap in dom.listAllSnapshots(0)}
        self.facts = {name: sx.read_snapshot(snap.getXMLDesc(0)) for name, snap in self.snaps.items()}
        state = self.want["state"]
        if state == "reverted":
            self._revert()
            return self.plan
        if state == "present" and self.name not in self.snaps:
            self._take()
        elif state == "present":
            self._compare(self.facts[self.name])
        elif self.name in self.snaps:
            self._delete(self.name, why="", with_children=self.want["delete_children"])
        if self.want["keep"] is not None:
            self._retention()
        return self.plan

    # ------------------------------------------------------------------ take

    def _take(self) -> None:
        domain_xml = self.dom.XMLDesc(0)
        disks = sx.guest_disks(domain_xml)
        self._resolve(disks)
        chosen = self._chosen(disks)
        running = _running(self.dom)
        kind = self._kind(chosen, domain_xml, running)
        memory = self.want["memory"]
        if memory is None:
            memory = running and kind == "internal"
        problems: list[tuple[str, str]] = []
        if memory and not running:
            problems.append(("memory", f"guest {self.guest} is not running: there is no running state to save"))
        if kind == "internal" and running and not memory:
            problems.append(
                (
                    "memory",
                    "libvirt takes an internal snapshot of a running guest with its memory; for a disk-only "
                    "snapshot of a running guest use type external",
                )
            )
        if self.want["quiesce"]:
            problems.extend(self._quiesce_problems(domain_xml, running))
        if problems:
            raise ValidationError(problems)
        how = {d.target: (kind if d in chosen else "no") for d in disks}
        saved: Optional[str] = None  # where the memory goes: nowhere, inside the images (""), a file
        if memory:
            saved = sx.memory_file(disks, self.guest, self.name) if kind == "external" else ""
        overlays = self._overlays(chosen) if kind == "external" else {}
        xml = sx.snapshot_xml(self.name, self.want["description"], kind, saved, how, overlays=overlays)
        flags = self.lv.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
        if kind == "external" and not memory:
            flags |= self.lv.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
        if self.want["quiesce"]:
            flags |= self.lv.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
        self.taken = {
            "name": self.name,
            "type": kind,
            "memory": bool(memory),
            "disks": sorted(d.target for d in chosen),
            "description": self.want["description"],
        }
        self.plan.diff.add(f"snapshots.{self.name}", None, self.taken, NEXT_BOOT)
        with_memory = " with its memory" if memory else (", its filesystems frozen" if self.want["quiesce"] else "")
        self.plan.add(
            f"take {kind} snapshot {self.name} of guest {self.guest} ({', '.join(self.taken['disks'])}){with_memory}",
            lambda: self.dom.snapshotCreateXML(xml, flags),
        )

    def _overlays(self, chosen: list[sx.Disk]) -> dict[str, str]:
        """Each disk's overlay file; refused where there is no file beside the image, or one is there already."""
        block = [d.target for d in chosen if d.kind != "file" or not d.path]
        if block:
            raise ValidationError(
                [
                    (
                        "disks",
                        f"{', '.join(block)} of guest {self.guest} on block storage: an external snapshot has no "
                        "file beside the image for its overlay; leave them out with disks",
                    )
                ]
            )
        overlays = {d.target: sx.overlay_path(str(d.path), self.name) for d in chosen}
        taken = [path for path in overlays.values() if self._exists(path)]
        if taken:
            raise ValidationError([("name", f"{', '.join(taken)} exists already; give the snapshot another name")])
        return overlays

    def _exists(self, path: str) -> bool:
        if self.local:
            return os.path.exists(path)
        try:
            self.conn.storageVolLookupByPath(path)
        except self.lv.libvirtError:
            return False
        return True

    def _chosen(self, disks: list[sx.Disk]) -> list[sx.Disk]:
        by_target = {d.target: d for d in disks}
        if self.want["disks"] is None:
            chosen = [d for d in disks if d.snapshotable]
            if not chosen:
                raise ValidationError([("guest", f"guest {self.guest} has no writable disk to snapshot")])
            return chosen
        problems, chosen = [], []
        for index, target in enumerate(self.want["disks"]):
            disk = by_target.get(target)
            if disk is None:
                known = ", ".join(sorted(by_target)) or "none"
                problems.append((f"disks[{index}]", f"guest {self.guest} has no disk {target} (its disks: {known})"))
            elif not disk.snapshotable:
                problems.append((f"disks[{index}]", f"{target} is a cdrom or read-only: nothing to snapshot"))
            else:
                chosen.append(disk)
        if problems:
            raise ValidationError(problems)
        return chosen

    def _resolve(self, disks: list[sx.Disk]) -> None:
        """Each volume disk's path, and whether its pool keeps files (block storage otherwise)."""
        for disk in disks:
            if disk.kind != "volume" or not disk.pool or not disk.volume:
                continue
            try:
                pool = self.conn.storagePoolLookupByName(disk.pool)
                disk.path = pool.storageVolLookupByName(disk.volume).path()
                disk.kind = "file" if pool_facts(pool)["type"] in DIRECTORY_TYPES else "block"
            except self.lv.libvirtError:
                disk.kind = "block"  # nothing is known of it: not a file libvirt can snapshot internally

    def _block_storage(self, disk: sx.Disk) -> bool:
        return disk.kind in ("block", "network", "volume")

    def _kind(self, chosen: list[sx.Disk], domain_xml: str, running: bool) -> str:
        """internal or external: what was asked, or (auto) what libvirt can do for these disks."""
        uefi = sx.uses_uefi(domain_xml) and (running or self.version >= UEFI_INTERNAL_REFUSED)
        raw = [d.target for d in chosen if d.format != "qcow2"]
        block = [d.target for d in chosen if self._block_storage(d)]
        why = (
            ([f"UEFI firmware{' on a running guest' if running else ''}"] if uefi else [])
            + ([f"{', '.join(raw)} not qcow2"] if raw else [])
            + ([f"{', '.join(block)} on block storage"] if block else [])
        )
        asked = self.want["type"]
        if asked == "auto":  # libvirt quiesces only disk-only (external) snapshots
            return "external" if why or self.want["quiesce"] else "internal"
        if asked == "internal" and why:
            raise ValidationError(
                [
                    (
                        "type",
                        f"libvirt cannot take an internal snapshot of guest {self.guest} ({'; '.join(why)}); "
                        "use type external or auto",
                    )
                ]
            )
        return str(asked)

    def _quiesce_problems(self, domain_xml: str, running: bool) -> list[tuple[str, str]]:
        if not running:
            return [("quiesce", f"guest {self.guest} is not running: there are no filesystems to freeze")]
        for channel in ET.fromstring(domain_xml).findall("devices/channel"):
            target = channel.find("target")
            if target is not None and target.get("name") == gx.AGENT_CHANNEL:
                if target.get("state") == "connected":
                    return []
                break
        return [
            (
                "quiesce",
                f"guest {self.guest} has no connected QEMU guest agent ({gx.AGENT_CHANNEL}): install and start "
                "qemu-guest-agent in the guest (and give the guest its channel, guest_agent: true), "
                "or leave quiesce out",
            )
        ]

    # ------------------------------------------------------------------ compare

    def _compare(self, facts: dict[str, Any]) -> None:
        wanted = {
            "type": None if self.want["type"] == "auto" else self.want["type"],
            "memory": self.want["memory"],
            "description": self.want["description"],
            "disks": sorted(self.want["disks"]) if self.want["disks"] is not None else None,
        }
        differs = [
            f"{key}: {facts[key]!r}, not {value!r}"
            for key, value in wanted.items()
            if value is not None and facts[key] != value
        ]
        if differs:
            self.plan.warnings.append(
                f"snapshot {self.name} of guest {self.guest} exists and differs from the task ({'; '.join(differs)}); "
                "it is not taken again: delete it (state: absent) to take it anew"
            )
        self.differences = differs

    # ------------------------------------------------------------------ delete and retention

    def _delete(self, name: str, why: str, with_children: bool = False) -> None:
        facts = self.facts[name]
        if facts["type"] == "external" and self.version < EXTERNAL_DELETE:
            raise KvmFleetError(
                f"snapshot {name} of guest {self.guest} is external: deleting it (merging its overlays back) needs "
                f"libvirt {version_text(EXTERNAL_DELETE)} or later; this hypervisor runs libvirt "
                f"{version_text(self.version)}"
            )
        self._refuse_mixed(name)
        snap = self.snaps[name]
        children = int(snap.numChildren(0))
        flags = self.lv.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN if with_children else 0
        kept = ""
        if children:
            kept = f" and its {children} child snapshot(s)" if flags else f" (its {children} child snapshot(s) kept)"
        merged = ", merging its overlays back" if facts["type"] == "external" else ""
        self.plan.diff.add(f"snapshots.{name}", {k: facts[k] for k in ("type", "memory", "disks")}, None, CONTROL)
        self.deleted.append(name)
        self.plan.add(f"delete snapshot {name} of guest {self.guest}{kept}{merged}{why}", lambda: snap.delete(flags))

    def _refuse_mixed(self, name: str) -> None:
        """libvirt deletes no external snapshot whose parent is internal, no internal one once an external one
        below it moved the disks to overlays ("... is not the same as disk image currently used by VM"), and
        no external one with internal ones below it (they are inside its overlays)."""
        kind = self.facts[name]["type"]
        parent = self.facts[name]["parent"]
        below = [child for child in self._descendants(name) if self.facts[child]["type"] != kind]
        if kind == "external" and parent in self.facts and self.facts[parent]["type"] == "internal":
            other = f"its parent {parent} is internal"
        elif below:
            other = f"its descendant {below[0]} is {self.facts[below[0]]['type']}"
        else:
            return
        raise KvmFleetError(
            f"snapshot {name} of guest {self.guest} is {kind} and {other}: libvirt cannot delete a snapshot across "
            "internal and external ones; keep it, or take the series of one type"
        )

    def _descendants(self, name: str) -> list[str]:
        children = [child for child, facts in self.facts.items() if facts["parent"] == name]
        return children + [below for child in children for below in self._descendants(child)]

    def _retention(self) -> None:
        prefix, keep = self.want["name_prefix"], self.want["keep"]
        series = sorted(
            (facts["created"] or 0, name)
            for name, facts in self.facts.items()
            if name.startswith(prefix) and name not in self.deleted and name != self.name
        )
        total = len(series) + (1 if self.want["state"] == "present" else 0)
        for _created, name in series[: max(0, total - keep)]:
            self._delete(name, f" (series {prefix}: the oldest beyond keep {keep})")

    # ------------------------------------------------------------------ revert

    def _mark(self) -> str:
        """What tells a later run that nothing changed since a revert: the QEMU process of a running guest,
        the disks' modification times of a guest that is off."""
        dom = self.conn.lookupByName(self.guest)  # a handle keeps the id it was looked up with
        if _running(dom):  # a domain id starts again after a reboot of the host: with the boot's id where known
            return f"run {dom.ID()} {boot_id() if self.local else ''}".rstrip()
        disks = sx.guest_disks(dom.XMLDesc(self.lv.VIR_DOMAIN_XML_INACTIVE if dom.isPersistent() else 0))
        self._resolve(disks)
        times = [self._mtime(disk.path) if disk.path else "?" for disk in disks if disk.snapshotable]
        return "off " + " ".join(times)

    def _mtime(self, path: str) -> str:
        """When the disk file was last written: on this host from the file, else from its pool refreshed
        (libvirt keeps the times it read at the pool's last refresh); ``?`` when neither can tell."""
        if self.local and os.path.exists(path):
            return f"{os.stat(path).st_mtime_ns}"
        try:
            vol = self.conn.storageVolLookupByPath(path)
            vol.storagePoolLookupByVolume().refresh(0)
            mtime = ET.fromstring(vol.XMLDesc(0)).findtext("target/timestamps/mtime")
        except self.lv.libvirtError:
            mtime = None
        return mtime or "?"

    def _at(self, snap: Any) -> bool:
        if not snap.isCurrent(0) or not self._in_state(self.want["after_revert"]):
            return False
        root = ET.fromstring(self.dom.XMLDesc(self.lv.VIR_DOMAIN_XML_INACTIVE if self.dom.isPersistent() else 0))
        mark = gx.read_meta(root, REVERTED_MARK)
        return (
            gx.read_meta(root, REVERTED_TO) == self.name
            and mark is not None
            and "?" not in mark
            and mark == self._mark()
        )

    def _in_state(self, after: str) -> bool:
        """Whether the guest is in the state ``after_revert`` asks for (``snapshot``: any)."""
        state = self.dom.state()[0]
        wanted = {
            "running": (self.lv.VIR_DOMAIN_RUNNING,),
            "paused": (self.lv.VIR_DOMAIN_PAUSED,),
            "stopped": (self.lv.VIR_DOMAIN_SHUTOFF,),
        }.get(after)
        return wanted is None or state in wanted

    def _revert(self) -> None:
        snap = self.snaps.get(self.name)
        if snap is None:
            known = ", ".join(sorted(self.snaps)) or "none"
            raise ValidationError(
                [("name", f"guest {self.guest} has no snapshot {self.name} (its snapshots: {known})")]
            )
        facts = self.facts[self.name]
        if facts["type"] == "external" and self.version < EXTERNAL_REVERT:
            raise KvmFleetError(
                f"snapshot {self.name} of guest {self.guest} is external: reverting to it needs libvirt "
                f"{version_text(EXTERNAL_REVERT)} or later; this hypervisor runs libvirt {version_text(self.version)}"
            )
        if self._at(snap):
            return
        if not self.want["discard_changes"]:
            raise NeedsOption(
                f"reverting guest {self.guest} to snapshot {self.name} discards what changed in it since",
                "discard_changes",
            )
        after = self.want["after_revert"]
        persistent = bool(self.dom.isPersistent())
        if not persistent and after == "stopped":
            raise ValidationError(
                [("after_revert", f"guest {self.guest} is transient: stopping it would remove it with its snapshots")]
            )
        flags = {
            "running": self.lv.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING,
            "paused": self.lv.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED,
        }
        flag = flags.get(
            after, self.lv.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED if after == "stopped" and facts["memory"] else 0
        )
        if not persistent and not flag:  # libvirt wants a transient guest told whether to run
            flag = self.lv.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING
        flag |= self.lv.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE  # discard_changes: also where QEMU must start again
        current = next((name for name, s in self.snaps.items() if s.isCurrent(0)), None)
        self.plan.diff.add("current", current, self.name, CONTROL)
        then = {"running": ", running", "paused": ", paused", "stopped": ", stopped"}.get(after, "")
        self.plan.add(
            f"revert guest {self.guest} to snapshot {self.name}{then}", lambda: self._do_revert(snap, flag, after)
        )
        self.reverted = True

    def _do_revert(self, snap: Any, flag: int, after: str) -> None:
        self.dom.revertToSnapshot(snap, flag)
        if after == "stopped" and _running(self.dom):
            self.dom.destroy()
        persistent = bool(self.dom.isPersistent())
        root = ET.fromstring(self.dom.XMLDesc(self.lv.VIR_DOMAIN_XML_INACTIVE if persistent else 0))
        gx.write_meta(root, REVERTED_TO, self.name)
        gx.write_meta(root, REVERTED_MARK, self._mark())
        affect = (self.lv.VIR_DOMAIN_AFFECT_CONFIG if persistent else 0) | (
            self.lv.VIR_DOMAIN_AFFECT_LIVE if _running(self.dom) else 0
        )
        self.dom.setMetadata(
            self.lv.VIR_DOMAIN_METADATA_ELEMENT, gx.meta_element_xml(root), gx.NS_PREFIX, gx.NS, affect
        )
