# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A guest's storage: the volumes its disks need (checked, created, grown) and its cloud-init seed.

``plan_volumes`` and ``plan_seed`` run before the definition is compared, for new and defined guests
alike: they report what cannot be (no pool, a shrink, a raw-only pool asked for an overlay) and say what
to create and grow (``Storage``) and which seed the guest gets. The seed is a small ISO volume whose hash is kept
in the guest's metadata: a changed seed is rewritten, and a new guest records the hash only once the seed
is whole (a killed run leaves a guest whose rerun writes it again).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _cloudinit, _faults
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.draft import Draft, GuestPlan
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.read import (
    SEED_HASH,
    SEED_META,
    GuestRef,
    HostContext,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import NEXT_BOOT, Problem
from ansible_collections.kvmfleet.kvm.plugins.module_utils._units import format_size
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import ops as _storage


@dataclass
class Storage:
    """What a guest's disks and seed need, by disk target."""

    formats: dict[str, str] = field(default_factory=dict)  # the image format of each pool disk
    sizes: dict[str, int] = field(default_factory=dict)  # the capacity of each existing volume
    grow: dict[str, tuple[Any, int]] = field(default_factory=dict)  # (volume, new capacity)
    seed: Optional[dict[str, Any]] = None


def complete(name: str, disks: list[dict[str, Any]]) -> None:
    """The volume of each pool disk, named after the guest and target when the user gave none (in place)."""
    for disk in disks:
        if disk["path"] is None:
            disk["pool"] = disk["pool"] or "default"
            if disk["volume"] is None and (disk["size"] is not None or disk["backing_image"] is not None):
                disk["format"] = disk["format"] or "qcow2"
                disk["volume"] = f"{name}-{disk['target']}.{disk['format']}"


def plan_volumes(
    plan: GuestPlan, ref: GuestRef, host: HostContext, disks: list[dict[str, Any]], problems: list[Problem]
) -> Storage:
    """Check pools, volumes and backing images and plan the volumes to create (what cannot be: ``problems``)."""
    storage = Storage()
    for index, disk in enumerate(disks):
        if disk["path"] is None:
            _plan_volume(plan, ref, host, disk, where=f"disks[{index}]", storage=storage, problems=problems)
    return storage


def _plan_volume(
    plan: GuestPlan,
    ref: GuestRef,
    host: HostContext,
    disk: dict[str, Any],
    *,
    where: str,
    storage: Storage,
    problems: list[Problem],
) -> None:
    pool, active = host.pool(disk["pool"])
    if pool is None:
        problems.append((ref.at(f"{where}.pool"), f"no storage pool {disk['pool']} on this hypervisor"))
        return
    if not active:
        problems.append((ref.at(f"{where}.pool"), f"storage pool {disk['pool']} is not active"))
        return
    vol = host.volume(disk["pool"], disk["volume"]) if disk["volume"] else None
    if vol is not None:
        facts = _storage.volume_facts(vol)
        storage.formats[disk["target"]] = _storage.driver_type(facts["format"])
        storage.sizes[disk["target"]] = facts["capacity"]
        if disk["size"] is not None and disk["size"] < facts["capacity"]:
            problems.append(
                (
                    ref.at(f"{where}.size"),
                    f"shrinking {disk['volume']} from {format_size(facts['capacity'])} "
                    f"to {format_size(disk['size'])} is refused",
                )
            )
        elif disk["size"] is not None and disk["size"] > facts["capacity"]:
            storage.grow[disk["target"]] = (vol, disk["size"])
        return
    if disk["size"] is None and disk["backing_image"] is None:
        problems.append(
            (
                ref.at(f"{where}.volume"),
                f"no volume {disk['volume']} in pool {disk['pool']}; give size or backing_image to create it",
            )
        )
        return
    refused = _storage.raw_only(_storage.pool_type(pool))
    # a new volume named by the user: qcow2 unless its pool holds raw volumes only
    disk["format"] = disk["format"] or ("raw" if refused is not None else "qcow2")
    if refused is not None and (disk["backing_image"] is not None or disk["format"] != "raw"):
        key = "backing_image" if disk["backing_image"] is not None else "format"
        problems.append((ref.at(f"{where}.{key}"), f"pool {disk['pool']}: {refused}"))
        return
    backing = None
    capacity = disk["size"] or 0
    if disk["backing_image"] is not None:
        base = _backing(ref, pool, disk, where, problems)
        if base is None:
            return
        backing = (base["path"], base["format"] or "raw")
        if disk["size"] is not None and disk["size"] < base["capacity"]:
            problems.append(
                (
                    ref.at(f"{where}.size"),
                    f"{format_size(disk['size'])} is smaller than its backing image ({format_size(base['capacity'])})",
                )
            )
            return
        capacity = max(capacity, base["capacity"])
    storage.formats[disk["target"]] = disk["format"]
    pool_name, vol_name, fmt = disk["pool"], disk["volume"], disk["format"]

    def create() -> None:
        _storage.create_volume(ref.conn.storagePoolLookupByName(pool_name), vol_name, capacity, fmt, backing)

    overlay = f", overlay on {backing[0]})" if backing else ")"
    plan.add(f"create volume {vol_name} ({format_size(capacity)} {fmt}" + overlay, create)


def _backing(
    ref: GuestRef, pool: Any, disk: dict[str, Any], where: str, problems: list[Problem]
) -> Optional[dict[str, Any]]:
    lv = require_libvirt()
    image = disk["backing_image"]
    if image.startswith("/"):
        try:
            vol = ref.conn.storageVolLookupByPath(image)
        except lv.libvirtError:
            problems.append((ref.at(f"{where}.backing_image"), f"{image} is not a volume of any storage pool"))
            return None
    else:
        vol = _storage.find_volume(pool, image)
        if vol is None:
            problems.append((ref.at(f"{where}.backing_image"), f"no volume {image} in pool {disk['pool']}"))
            return None
    return _storage.volume_facts(vol)


# ---------------------------------------------------------------------------------------------- cloud-init


def plan_seed(
    ref: GuestRef, host: HostContext, seed: dict[str, Any], disks: list[dict[str, Any]], problems: list[Problem]
) -> Optional[dict[str, Any]]:
    """The seed the guest gets: its files, their hash, its volume and cdrom target."""
    pool_name = seed["pool"] or next((d["pool"] for d in disks if d["pool"]), "default")
    if host.pool(pool_name)[0] is None:
        problems.append((ref.at("cloud_init.pool"), f"no storage pool {pool_name} on this hypervisor"))
        return None
    files = _cloudinit.seed_files(ref.name, seed["user_data"], seed["meta_data"], seed["network_config"])
    used = {d["target"] for d in disks}
    return {
        "pool": pool_name,
        "volume": f"{ref.name}-cidata.iso",
        "files": files,
        "hash": _cloudinit.seed_hash(files),
        "target": next(f"sd{c}" for c in "abcdefghijklmnopqrstuvwxyz" if f"sd{c}" not in used),
    }


def seed_disk(seed: dict[str, Any]) -> dict[str, Any]:
    """The seed's cdrom, in the disk table's shape."""
    return {
        "device": "cdrom",
        "bus": "sata",
        "target": seed["target"],
        "pool": seed["pool"],
        "volume": seed["volume"],
        "format": "raw",
        "readonly": True,
    }


def add_seed_action(plan: GuestPlan, ref: GuestRef, seed: dict[str, Any]) -> None:
    def write_seed() -> None:
        data = _cloudinit.build_iso(seed["files"])
        pool = ref.conn.storagePoolLookupByName(seed["pool"])
        vol = _storage.find_volume(pool, seed["volume"])
        if vol is not None:
            vol.delete(0)
        vol = _storage.create_volume(pool, seed["volume"], len(data), "raw")
        _faults.point(f"upload cloud-init seed {seed['volume']}")
        _storage.upload(ref.conn, vol, data)

    plan.add(f"write cloud-init seed {seed['volume']} in pool {seed['pool']}", write_seed)


def record_seed(ref: GuestRef, seed: dict[str, Any]) -> None:
    """Write the seed's hash into the guest's definition (as libvirt has it: its uuid, its addresses)."""
    lv = require_libvirt()
    root = ET.fromstring(ref.dom().XMLDesc(lv.VIR_DOMAIN_XML_INACTIVE | lv.VIR_DOMAIN_XML_SECURE))
    gx.write_meta(root, SEED_HASH, seed["hash"])
    ref.conn.defineXML(gx.to_string(root))


def compare_seed(draft: Draft, seed: dict[str, Any]) -> None:
    """Rewrite the seed when its content changed or it is gone; give the guest its cdrom if it has none."""
    config = draft.read.config
    target = config["seed_target"]
    pool = _storage.find_pool(draft.ref.conn, seed["pool"])
    exists = pool is not None and _storage.find_volume(pool, seed["volume"]) is not None
    if config["cloud_init_hash"] == seed["hash"] and exists and target:
        return
    before = "(seed " + (config["cloud_init_hash"] or "none") + ")"
    draft.plan.diff.add("cloud_init", before, "(seed " + seed["hash"] + ")", NEXT_BOOT)
    add_seed_action(draft.plan, draft.ref, seed)
    if target is None:
        cdrom = seed_disk(seed)

        def add_cdrom(root: ET.Element) -> None:
            gx.devices(root).append(gx.disk_element(cdrom))
            gx.write_meta(root, SEED_META, seed["target"])

        draft.patch("cloud_init", add_cdrom)
    draft.patch("cloud_init", lambda root: gx.write_meta(root, SEED_HASH, seed["hash"]))
    if draft.running:
        draft.reboot("cloud_init")
