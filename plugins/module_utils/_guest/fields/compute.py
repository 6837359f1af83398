# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bindings of the guest's vCPUs, CPU model and topology, memory and the TCG translation cache."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.field import Field, LiveMeta
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._units import to_kib

# ---------------------------------------------------------------------------------------------- vCPUs


def _vcpu(root: ET.Element) -> ET.Element:
    return gx.child(root, "vcpu", {"placement": "static"})


def read_vcpus(root: ET.Element) -> Optional[int]:
    vcpu = root.find("vcpu")
    return int(vcpu.get("current", vcpu.text or "1")) if vcpu is not None else None


def read_max_vcpus(root: ET.Element) -> Optional[int]:
    vcpu = root.find("vcpu")
    return int(vcpu.text or "1") if vcpu is not None else None


def write_max_vcpus(root: ET.Element, value: int) -> None:
    vcpu = _vcpu(root)
    current = int(vcpu.get("current", vcpu.text or value))
    vcpu.text = str(value)
    if current < value:
        vcpu.set("current", str(current))
    else:
        vcpu.attrib.pop("current", None)


def write_vcpus(root: ET.Element, value: int) -> None:
    vcpu = _vcpu(root)
    maximum = int(vcpu.text) if vcpu.text else value
    if value >= maximum:
        vcpu.text = str(value)
        vcpu.attrib.pop("current", None)
    else:
        vcpu.set("current", str(value))


def _live_vcpus(dom: Any, value: int, _meta: LiveMeta) -> None:
    dom.setVcpusFlags(value, require_libvirt().VIR_DOMAIN_AFFECT_LIVE)


# ---------------------------------------------------------------------------------------------- cpu


def read_cpu(root: ET.Element) -> dict[str, Any]:
    cpu = root.find("cpu")
    topology = cpu.find("topology") if cpu is not None else None
    pins = [
        {"vcpu": int(pin.get("vcpu", "0")), "cpuset": pin.get("cpuset", "")} for pin in root.findall("cputune/vcpupin")
    ]
    cells = [
        {"cpus": cell.get("cpus", ""), "memory": gx.scaled_text(cell.get("memory", "0"), cell.get("unit", "KiB"))}
        for cell in (cpu.findall("numa/cell") if cpu is not None else [])
    ]
    return {
        "mode": cpu.get("mode", "custom") if cpu is not None else None,
        "model": cpu.findtext("model") if cpu is not None else None,
        "sockets": int(topology.get("sockets", "1")) if topology is not None else None,
        "cores": int(topology.get("cores", "1")) if topology is not None else None,
        "threads": int(topology.get("threads", "1")) if topology is not None else None,
        "pinning": sorted(pins, key=lambda pin: pin["vcpu"]),
        "numa": cells,
    }


def write_cpu(root: ET.Element, value: dict[str, Any]) -> None:
    cpu = gx.child(root, "cpu")
    if value.get("mode") is not None:
        cpu.set("mode", value["mode"])
        if value["mode"] != "custom":
            gx.drop(cpu, "model")
    if value.get("model") is not None:
        cpu.set("mode", "custom")
        cpu.set("match", "exact")
        gx.set_text(cpu, "model", value["model"])
    if value.get("sockets") is not None:
        topology = {"sockets": str(value["sockets"]), "dies": "1", "cores": str(value["cores"])}
        gx.child(cpu, "topology", {**topology, "threads": str(value["threads"])})
    if value.get("numa") is not None:
        gx.drop(cpu, "numa")
        if value["numa"]:
            numa = ET.SubElement(cpu, "numa")
            for index, cell in enumerate(value["numa"]):
                memory = str(to_kib(cell["memory"]))
                ET.SubElement(numa, "cell", {"id": str(index), "cpus": cell["cpus"], "memory": memory, "unit": "KiB"})
    if value.get("pinning") is not None:
        gx.drop(root, "cputune/vcpupin")
        if value["pinning"]:
            tune = gx.child(root, "cputune")
            for pin in value["pinning"]:
                ET.SubElement(tune, "vcpupin", {"vcpu": str(pin["vcpu"]), "cpuset": pin["cpuset"]})
        tune = root.find("cputune")
        if tune is not None and len(tune) == 0:
            root.remove(tune)


# ---------------------------------------------------------------------------------------------- memory

MEMORY_TARGET = "memory"  # metadata key: the balloon target the guest was given


def read_memory(root: ET.Element) -> Optional[int]:
    current = gx.scaled(root.find("currentMemory"))
    return current if current is not None else gx.scaled(root.find("memory"))


def read_memory_target(root: ET.Element) -> Optional[int]:
    """The running guest's memory as it was set: libvirt's live currentMemory follows the guest's actual
    balloon size, which lags (a guest that is still booting shows its maximum)."""
    target = gx.read_meta(root, MEMORY_TARGET)
    return int(target) if target else read_memory(root)


def write_max_memory(root: ET.Element, value: int) -> None:
    current = gx.scaled(root.find("currentMemory"))
    gx.child(root, "memory", {"unit": "KiB"}).text = str(to_kib(value))
    if current is not None and current > value:
        gx.child(root, "currentMemory", {"unit": "KiB"}).text = str(to_kib(value))


def write_memory(root: ET.Element, value: int) -> None:
    maximum = gx.scaled(root.find("memory"))
    if maximum is None or maximum < value:
        gx.child(root, "memory", {"unit": "KiB"}).text = str(to_kib(value))
    gx.child(root, "currentMemory", {"unit": "KiB"}).text = str(to_kib(value))
    gx.write_meta(root, MEMORY_TARGET, str(value))


def _live_memory(dom: Any, value: int, meta: LiveMeta) -> None:
    dom.setMemoryFlags(value // 1024, require_libvirt().VIR_DOMAIN_AFFECT_LIVE)
    meta.change(dom, lambda root: gx.write_meta(root, MEMORY_TARGET, str(value)))


def write_hugepages(root: ET.Element, value: bool) -> None:
    if value:
        gx.child(gx.child(root, "memoryBacking"), "hugepages")
    else:
        gx.drop(root, "memoryBacking/hugepages")
        backing = root.find("memoryBacking")
        if backing is not None and len(backing) == 0:
            root.remove(backing)


def read_balloon(root: ET.Element) -> bool:
    balloon = root.find("devices/memballoon")
    return balloon is not None and balloon.get("model") != "none"


def write_balloon(root: ET.Element, value: bool) -> None:
    balloon = gx.child(gx.devices(root), "memballoon")
    balloon.set("model", "virtio" if value else "none")
    if not value:
        for sub in list(balloon):
            balloon.remove(sub)


def write_tb_cache(root: ET.Element, value: int) -> None:
    if root.get("type") == "kvm":
        gx.drop(root, "features/tcg")
        return
    tb_cache = gx.child(gx.child(gx.child(root, "features"), "tcg"), "tb-cache", {"unit": "KiB"})
    tb_cache.text = str(to_kib(value))


FIELDS: dict[str, Field] = {  # in writing order: a maximum before the value it bounds
    "max_vcpus": Field(read=read_max_vcpus, write=write_max_vcpus),
    "vcpus": Field(
        read=read_vcpus,
        write=write_vcpus,
        live=_live_vcpus,
        live_possible=lambda running, wanted: wanted <= running["max_vcpus"],
    ),
    "cpu": Field(read=read_cpu, write=write_cpu),
    "max_memory": Field(read=lambda root: gx.scaled(root.find("memory")), write=write_max_memory),
    "memory": Field(
        read=read_memory,
        write=write_memory,
        live=_live_memory,
        # through the balloon, up to the maximum: without a balloon device the running guest's memory is fixed
        live_possible=lambda running, wanted: running["balloon"] and wanted <= running["max_memory"],
        live_read=read_memory_target,
    ),
    "hugepages": Field(read=lambda root: root.find("memoryBacking/hugepages") is not None, write=write_hugepages),
    "balloon": Field(read=read_balloon, write=write_balloon),
    "tb_cache": Field(  # a TCG setting: compared only on a guest that runs under TCG
        read=lambda root: gx.scaled(root.find("features/tcg/tb-cache"), "MiB"),
        write=write_tb_cache,
        applies=lambda config: config["virt_type"] == "qemu",
    ),
}
