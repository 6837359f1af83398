# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guest table's rules: the normalisers of its values and the checks that span several options
(a disk's path or volume, a topology that adds up, NUMA cells libvirt accepts, unique targets and MACs,
one boot order per device). Each problem is a (field path, message) pair, as the table reports it.
"""

from __future__ import annotations

import json
import re
import uuid as uuidlib
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    OptionError,
    Problem,
    duplicates,
    join_path,
    object_name,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._units import format_size

MiB = 1024 * 1024

# ---------------------------------------------------------------------------------------------- normalisers

_PCI = re.compile(r"^(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$")
_CPUSET = re.compile(r"^\^?\d+(-\d+)?(,\^?\d+(-\d+)?)*$")
_TARGET = re.compile(r"^(vd|sd|hd)[a-z]{1,2}$")


def whole_mib(value: int) -> int:
    if value % MiB:
        raise OptionError("must be a whole number of MiB")
    return value


guest_name = object_name("guest")


def guest_uuid(value: str) -> str:
    try:
        return str(uuidlib.UUID(value))
    except ValueError:
        raise OptionError(f"{value!r} is not a UUID") from None


def pci_address(value: str) -> str:
    match = _PCI.match(value.strip().lower())
    if not match:
        raise OptionError(f"{value!r} is not a PCI address such as 0000:03:00.0")
    domain, bus, slot, function = match.groups()
    return f"{domain or '0000'}:{bus}:{slot}.{function}"


def cpu_ids(text: str) -> list[int]:
    """The CPU numbers of a CPU set (``0-3,^2,6``), sorted."""
    chosen: set[int] = set()
    excluded: set[int] = set()
    for part in text.split(","):
        first, _dash, last = part.lstrip("^").partition("-")
        low, high = int(first), int(last or first)
        if low > high:
            raise OptionError(f"{part!r} is a range that ends before it starts")
        (excluded if part.startswith("^") else chosen).update(range(low, high + 1))
    return sorted(chosen - excluded)


def cpuset(value: str) -> str:
    """A CPU set in libvirt's own form (sorted runs: ``0,1,3`` is ``0-1,3``), so what is read back matches."""
    text = value.replace(" ", "")
    if not _CPUSET.match(text):
        raise OptionError(f"{value!r} is not a CPU set such as 0-3,6 or 2")
    ids = cpu_ids(text)
    if not ids:
        raise OptionError(f"{value!r} leaves no CPU")
    runs: list[list[int]] = []
    for cpu in ids:
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(f"{low}-{high}" if high > low else str(low) for low, high in runs)


def disk_target(value: str) -> str:
    if not _TARGET.match(value):
        raise OptionError(f"{value!r} is not a disk target such as vda, vdb or sda")
    return value


def user_data(value: Any) -> str:
    """cloud-init user data: a string as given, or a dict written as #cloud-config (JSON is YAML)."""
    if isinstance(value, dict):
        return "#cloud-config\n" + json.dumps(value, indent=2, sort_keys=True) + "\n"
    if isinstance(value, str):
        return value
    raise OptionError(f"expected a string or a dictionary, got {type(value).__name__}")


def yaml_or_dict(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value, indent=2, sort_keys=True) + "\n"
    if isinstance(value, str):
        return value
    raise OptionError(f"expected a string or a dictionary, got {type(value).__name__}")


# ---------------------------------------------------------------------------------------------- checks of one table


def disk_checks(disk: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []
    has_path = disk["path"] is not None
    managed = [key for key in ("volume", "size", "backing_image") if disk[key] is not None]
    if disk["device"] == "cdrom":
        for key in ("size", "backing_image"):
            if disk[key] is not None:
                problems.append((join_path(path, key), "a cdrom has no size or backing image; give path or volume"))
    elif not has_path and not managed:
        problems.append((path, "give one of path (an existing file or device), volume, size or backing_image"))
    if has_path and managed:
        problems.append(
            (join_path(path, "path"), f"path excludes {', '.join(managed)}: the disk is either a path or a volume")
        )
    if disk["backing_image"] is not None and disk["format"] == "raw":
        problems.append((join_path(path, "format"), "an overlay on a backing image must be qcow2"))
    if disk["bus"] == "virtio" and disk["device"] == "cdrom":
        problems.append((join_path(path, "bus"), "a cdrom needs bus sata or scsi"))
    if disk["target"] is not None and disk["bus"] is not None:
        expected = "vd" if disk["bus"] == "virtio" else "sd"
        if not disk["target"].startswith(expected):
            problems.append(
                (
                    join_path(path, "target"),
                    f"bus {disk['bus']} takes targets named {expected}*, got {disk['target']!r}",
                )
            )
    return problems


def interface_checks(nic: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []
    if nic["mode"] is not None and nic["type"] != "direct":
        problems.append((join_path(path, "mode"), "mode applies to type direct (macvtap) only"))
    return problems


def graphics_checks(graphics: dict[str, Any], path: str) -> list[Problem]:
    if graphics["type"] == "none" and any(graphics[key] is not None for key in ("listen", "port", "password")):
        return [(path, "graphics type none takes no listen, port or password")]
    if graphics["type"] == "vnc" and graphics["password"] is not None and len(graphics["password"]) > 8:
        return [(join_path(path, "password"), "a VNC password has at most 8 characters (spice allows longer ones)")]
    return []


def cpu_checks(cpu: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []
    if cpu["model"] is not None and cpu["mode"] not in ("custom", None):
        problems.append((join_path(path, "model"), f"a model applies to mode custom, not {cpu['mode']}"))
    if cpu["mode"] == "custom" and cpu["model"] is None:
        problems.append((join_path(path, "model"), "mode custom needs a model"))
    topology = [cpu[key] for key in ("sockets", "cores", "threads")]
    if any(value is not None for value in topology) and not all(value is not None for value in topology):
        problems.append((path, "a topology needs sockets, cores and threads together"))
    pins = cpu["pinning"] or []
    problems.extend(
        duplicates(pins, lambda pin: pin["vcpu"], join_path(path, "pinning"), "vcpu", "is also pinned by pinning")
    )
    return problems


# ---------------------------------------------------------------------------------------------- checks of the guest


def _next_target(prefix: str, used: set[str]) -> str:
    for index in range(26 * 27):
        name = prefix + (chr(97 + index) if index < 26 else chr(96 + index // 26) + chr(97 + index % 26))
        if name not in used:
            return name
    raise OptionError("no free disk target")  # pragma: no cover - 700 disks


def assign_targets(disks: list[dict[str, Any]]) -> None:
    """Fill in each disk's bus and target (in place): vda, vdb... for virtio; sda, sdb... for sata/scsi."""
    used = {disk["target"] for disk in disks if disk["target"]}
    for disk in disks:
        if disk["bus"] is None:
            disk["bus"] = (
                "sata"
                if disk["device"] == "cdrom"
                else ("virtio" if not disk["target"] or disk["target"].startswith("vd") else "sata")
            )
        if disk["target"] is None:
            disk["target"] = _next_target("vd" if disk["bus"] == "virtio" else "sd", used)
            used.add(disk["target"])


def _no_such_vcpu(vcpu: int, maximum: int) -> str:
    return f"vCPU {vcpu} does not exist (the guest has {maximum})"


def numa_checks(guest: dict[str, Any], path: str, maximum: Optional[int]) -> list[Problem]:
    """What libvirt requires of NUMA cells: the guest's memory is their sum, their vCPUs exist and are disjoint."""
    cells = (guest["cpu"] or {}).get("numa") or []
    if not cells:
        return []
    problems: list[Problem] = []
    where = join_path(path, "cpu.numa")
    total = sum(cell["memory"] for cell in cells)
    if guest["max_memory"] is not None and guest["max_memory"] != total:
        problems.append(
            (
                where,
                f"the cells' memory adds up to {format_size(total)}, but max_memory is "
                f"{format_size(guest['max_memory'])}: libvirt makes the cells' sum the guest's maximum memory",
            )
        )
    elif guest["max_memory"] is None and guest["memory"] is not None and guest["memory"] > total:
        problems.append(
            (
                join_path(path, "memory"),
                f"{format_size(guest['memory'])} is more than the NUMA cells' memory ({format_size(total)}), "
                "which libvirt makes the guest's maximum",
            )
        )
    owner: dict[int, int] = {}
    for index, cell in enumerate(cells):
        ids = cpu_ids(cell["cpus"])
        if maximum is not None and ids[-1] >= maximum:
            problems.append((f"{where}[{index}].cpus", _no_such_vcpu(ids[-1], maximum)))
        shared = sorted({owner[cpu] for cpu in ids if cpu in owner})
        if shared:
            problems.append((f"{where}[{index}].cpus", f"shares vCPUs with numa[{shared[0]}]"))
        owner.update((cpu, index) for cpu in ids if cpu not in owner)
    return problems


def guest_checks(guest: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []

    def at(name: str) -> str:
        return join_path(path, name)

    if guest["max_vcpus"] is not None and guest["vcpus"] is not None and guest["vcpus"] > guest["max_vcpus"]:
        problems.append((at("vcpus"), f"{guest['vcpus']} is more than max_vcpus {guest['max_vcpus']}"))
    if guest["max_memory"] is not None and guest["memory"] is not None and guest["memory"] > guest["max_memory"]:
        problems.append((at("memory"), "is more than max_memory"))
    if guest["secure_boot"] and guest["firmware"] != "uefi":
        problems.append((at("secure_boot"), "needs firmware: uefi"))
    if guest["kernel"] is None and (guest["initrd"] is not None or guest["cmdline"] is not None):
        problems.append((at("kernel"), "initrd and cmdline need a kernel (direct kernel boot)"))
    cpu = guest["cpu"] or {}
    maximum = guest["max_vcpus"] or guest["vcpus"]  # the vCPUs the guest can ever have
    if cpu.get("sockets") and maximum:
        total = cpu["sockets"] * cpu["cores"] * cpu["threads"]
        if total != maximum:
            problems.append(
                (at("cpu"), f"sockets x cores x threads = {total}, but the guest has {maximum} vCPUs at most")
            )
    for index, pin in enumerate(cpu.get("pinning") or []):
        if maximum is not None and pin["vcpu"] >= maximum:
            problems.append((f"{at('cpu')}.pinning[{index}].vcpu", _no_such_vcpu(pin["vcpu"], maximum)))
    problems.extend(numa_checks(guest, path, maximum))

    disks = guest["disks"] or []
    problems.extend(duplicates(disks, lambda d: d["target"], at("disks"), "target", "is also the target of disks"))
    if not problems:
        assign_targets(disks)
    problems.extend(
        duplicates(
            disks,
            lambda d: (d["pool"] or "default", d["volume"]) if d["volume"] else None,
            at("disks"),
            "volume",
            "is also disks",
        )
    )
    problems.extend(
        duplicates(
            guest["interfaces"] or [], lambda n: n["mac"], at("interfaces"), "mac", "is also the MAC of interfaces"
        )
    )

    boot_orders: dict[int, str] = {}
    for kind in ("disks", "interfaces"):
        for index, item in enumerate(guest[kind] or []):
            order = item["boot_order"]
            if order is None:
                continue
            where = f"{at(kind)}[{index}].boot_order"
            if guest["boot"]:
                problems.append((where, "per-device boot_order and the guest's boot list exclude each other"))
            elif order in boot_orders:
                problems.append((where, f"{order} is also the boot order of {boot_orders[order]}"))
            boot_orders.setdefault(order, f"{kind}[{index}]")
    return problems
