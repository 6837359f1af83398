# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A defined guest's disks and NICs: matched to the listed ones, attached, detached, updated or patched.

A disk is its target (vda); a NIC its MAC, or, listed without one, the NIC at its position. What the
table marks ``update: live`` changes on the running guest (a NIC's link state; a disk's size grows with
``blockResize``; a cdrom's media is swapped); a disk on a bus that cannot hot-plug reaches a running guest
at its next boot. Everything else is a patch of the persistent definition.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.draft import Draft
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import DISK, GUEST, INTERFACE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.read import GuestRef, HostContext, external_overlays
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.storage import Storage
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import LIVE, NEXT_BOOT, Problem, differs
from ansible_collections.kvmfleet.kvm.plugins.module_utils._units import format_size

# what the definition says of a disk or NIC (the rest of a table row is how the volume is made)
DISK_KEYS = ("device", "bus", "pool", "volume", "path", "format", "cache", "io", "discard", "readonly", "boot_order")
NIC_KEYS = ("type", "source", "model", "vlan", "link_state", "mode", "boot_order")
MEDIA_KEYS = {"pool", "volume", "path"}  # a cdrom's media: swapped on the running guest
LOCATION = {"pool", "volume", "path", "format"}  # where a disk's data is


def derived_mac(name: str, index: int) -> str:
    """A stable MAC for a guest's NIC: reruns and recreations never churn it."""
    digest = hashlib.sha256(f"{name}/{index}".encode()).digest()
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in digest[:3])


def check_networks(ref: GuestRef, host: HostContext, interfaces: list[dict[str, Any]], problems: list[Problem]) -> None:
    """Every libvirt network the NICs name exists."""
    for index, nic in enumerate(interfaces):
        if nic["type"] == "network" and not host.has_network(nic["source"]):
            problems.append((ref.at(f"interfaces[{index}].source"), f"no libvirt network {nic['source']}"))


def disk_values(disk: dict[str, Any], storage: Storage) -> dict[str, Any]:
    """A listed disk as its element is written: its image format known."""
    return {**disk, "format": disk["format"] or storage.formats.get(disk["target"]) or "raw"}


def nic_values(name: str, index: int, nic: dict[str, Any]) -> dict[str, Any]:
    """A listed NIC as its element is written: its MAC known."""
    return {**nic, "mac": nic["mac"] or derived_mac(name, index)}


def _shown(disk: dict[str, Any]) -> dict[str, Any]:
    return GUEST["disks"].show([disk])[0]


# ---------------------------------------------------------------------------------------------- disks


def compare_disks(draft: Draft, disks: list[dict[str, Any]], storage: Storage) -> None:
    config, live = draft.read.config, draft.read.live
    seed_target = config["seed_target"]
    actual = {disk["target"]: disk for disk in config["disks"] if disk["target"] != seed_target}
    live_disks = {disk["target"]: disk for disk in (live or {}).get("disks", [])}
    wanted = {disk["target"] for disk in disks}
    for disk in disks:
        have = actual.get(disk["target"])
        if have is None:
            _attach_disk(draft, disk, storage)
        else:
            _update_disk(draft, disk, have, live_disks.get(disk["target"]), storage)
    for target, have in actual.items():
        if target not in wanted:
            _detach_disk(draft, have)
    # detached from the persistent definition only, before this run: still there until the next boot
    for target in live_disks:
        if target not in actual and target != seed_target and target not in wanted:
            draft.reboot(f"disks[{target}]")


def _attach_disk(draft: Draft, disk: dict[str, Any], storage: Storage) -> None:
    target = disk["target"]
    hotplug = draft.hotplug(disk["bus"])
    draft.plan.diff.add(f"disks[{target}]", None, _shown(disk), LIVE if hotplug else NEXT_BOOT)
    where = " to the running guest" if hotplug and draft.running else draft.next_boot_note()
    xml = gx.to_string(gx.disk_element(disk_values(disk, storage)))
    draft.plan.add(f"attach disk {target}{where}", draft.device_call("attach", xml, hotplug))
    if draft.running and not hotplug:
        draft.reboot(f"disks[{target}]")


def _update_disk(draft: Draft, disk: dict[str, Any], have: dict[str, Any], live_have: Any, storage: Storage) -> None:
    target = disk["target"]
    keys = [key for key in DISK_KEYS if disk.get(key) is not None]
    changed = {key: disk[key] for key in keys if differs(disk[key], have[key], DISK[key].compare)}
    if set(changed) & LOCATION and have["path"] and have["path"] in external_overlays(draft.ref.dom()):
        # the guest writes into an external snapshot's overlay of the image the task names: pointing the
        # disk back at the image would drop what was written since the snapshot
        keys = [key for key in keys if key not in LOCATION]
        changed = {key: value for key, value in changed.items() if key not in LOCATION}
    if disk["device"] == "cdrom" and changed and set(changed) <= MEDIA_KEYS:
        new = {**have, **{key: value for key, value in disk.items() if value is not None}}
        xml = gx.to_string(gx.disk_element({**new, "format": disk_values(disk, storage)["format"]}))
        for key, value in changed.items():
            draft.plan.diff.add(f"disks[{target}].{key}", have[key], value, LIVE)
        draft.plan.add(f"change the media in {target}", draft.device_call("update", xml))
        return
    if changed:
        for key, value in changed.items():
            draft.plan.diff.add(f"disks[{target}].{key}", have[key], value, NEXT_BOOT)
        merged = {**have, **{key: disk[key] for key in keys}, "format": disk["format"] or have["format"]}
        draft.patch(f"disks[{target}]", lambda root: gx.patch_disk(gx.find_disk(root, target), merged))
    if draft.running and (
        changed
        or live_have is None  # attached to the persistent definition only, before this run
        or any(differs(disk[key], live_have[key]) for key in keys)
    ):
        draft.reboot(f"disks[{target}]")
    grow = storage.grow.get(target)
    if grow is None:
        return
    vol, size = grow
    draft.plan.diff.add(f"disks[{target}].size", format_size(storage.sizes[target]), format_size(size), LIVE)
    if draft.running:
        lv = require_libvirt()
        draft.plan.add(
            f"grow disk {target} to {format_size(size)} on the running guest",
            lambda: draft.ref.dom().blockResize(target, size, lv.VIR_DOMAIN_BLOCK_RESIZE_BYTES) and None,
        )
    else:
        draft.plan.add(f"grow volume {vol.name()} to {format_size(size)}", lambda: vol.resize(size, 0) and None)


def _detach_disk(draft: Draft, have: dict[str, Any]) -> None:
    target = have["target"]
    hotplug = draft.hotplug(have["bus"])
    shown = {key: value for key, value in have.items() if value is not None and key not in ("size", "backing_image")}
    draft.plan.diff.add(f"disks[{target}]", shown, None, LIVE if hotplug else NEXT_BOOT)
    if hotplug and draft.running:
        where = " from the running guest"
    else:
        where = draft.next_boot_note("from") or " (the volume is kept)"
    xml = gx.to_string(gx.disk_element({**have, "format": have["format"] or "raw"}))
    draft.plan.add(f"detach disk {target}{where}", draft.device_call("detach", xml, hotplug))
    if draft.running and not hotplug:
        draft.reboot(f"disks[{target}]")


# ---------------------------------------------------------------------------------------------- interfaces


def compare_interfaces(draft: Draft, interfaces: list[dict[str, Any]]) -> None:
    actual = list(draft.read.config["interfaces"])
    by_mac = {nic["mac"]: nic for nic in actual}
    live_by_mac = {nic["mac"]: nic for nic in (draft.read.live or {}).get("interfaces", [])}
    # an interface listed with its MAC is that interface; one without is the one at its position,
    # unless another listed interface names that one's MAC
    matched: set[str] = set()
    named = {nic["mac"] for nic in interfaces if nic["mac"]}
    for index, nic in enumerate(interfaces):
        have = by_mac.get(nic["mac"]) if nic["mac"] else None
        if have is None and nic["mac"] is None and index < len(actual) and actual[index]["mac"] not in matched | named:
            have = actual[index]
        if have is None:
            _attach_interface(draft, nic_values(draft.ref.name, index, nic))
            continue
        matched.add(have["mac"])
        _update_interface(draft, nic, have, live_by_mac.get(have["mac"]))
    for have in actual:  # every interface the user listed was matched above; the rest go
        if have["mac"] not in matched:
            draft.plan.diff.add(
                f"interfaces[{have['mac']}]", {k: v for k, v in have.items() if v is not None}, None, LIVE
            )
            running = " from the running guest" if draft.running else ""
            xml = gx.to_string(gx.interface_element(have))
            draft.plan.add(f"detach interface {have['mac']}{running}", draft.device_call("detach", xml))


def _attach_interface(draft: Draft, nic: dict[str, Any]) -> None:
    mac = nic["mac"]
    draft.plan.diff.add(f"interfaces[{mac}]", None, GUEST["interfaces"].show([nic])[0], LIVE)
    running = " to the running guest" if draft.running else ""
    xml = gx.to_string(gx.interface_element(nic))
    draft.plan.add(f"attach interface {mac} ({nic['type']} {nic['source']}){running}", draft.device_call("attach", xml))


def _update_interface(draft: Draft, nic: dict[str, Any], have: dict[str, Any], live_have: Any) -> None:
    mac = have["mac"]
    keys = [key for key in NIC_KEYS if nic.get(key) is not None]
    changed = {key: nic[key] for key in keys if differs(nic[key], have[key], INTERFACE[key].compare)}
    merged = {**have, **{key: nic[key] for key in keys}}
    if changed and all(INTERFACE[key].update == LIVE for key in changed):  # the device updated in place
        for key, value in changed.items():
            draft.plan.diff.add(f"interfaces[{mac}].{key}", have[key], value, LIVE)
        words = ", ".join(
            f"link {value}" if key == "link_state" else f"{key} {value}" for key, value in changed.items()
        )
        xml = gx.to_string(gx.interface_element(merged))
        draft.plan.add(f"set {words} on interface {mac}", draft.device_call("update", xml))
        return
    if changed:
        for key, value in changed.items():
            draft.plan.diff.add(f"interfaces[{mac}].{key}", have[key], value, NEXT_BOOT)
        draft.patch(f"interfaces[{mac}]", lambda root: gx.patch_interface(gx.find_interface(root, mac), merged))
    if live_have is not None and any(differs(nic[key], live_have[key]) for key in keys):
        draft.reboot(f"interfaces[{mac}]")
