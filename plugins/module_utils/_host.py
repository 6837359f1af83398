# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground layer: what a hypervisor offers (libvirt capabilities) and whether it can really run KVM guests.

libvirt advertises the ``kvm`` domain type whenever /dev/kvm opens. That is not enough: a nested or
software KVM (kvm_pvm) without VT-x/AMD-V opens /dev/kvm yet hangs stock guest kernels. ``judge_kvm``
combines libvirt's view with what the local CPU and kernel modules say when the hypervisor is this host.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Any, Optional

HW_FLAGS = ("vmx", "svm")
HW_MODULES = ("kvm_intel", "kvm_amd")


def parse_capabilities(xml: str) -> dict[str, Any]:
    """The parts of ``virConnect.getCapabilities()`` the collection uses, as plain data."""
    root = ET.fromstring(xml)
    host = root.find("host")
    arch = host.findtext("cpu/arch", default="") if host is not None else ""
    cpu_model = host.findtext("cpu/model", default="") if host is not None else ""
    host_uuid = host.findtext("uuid", default="") if host is not None else ""
    guests: dict[str, dict[str, Any]] = {}
    for guest in root.findall("guest"):
        if guest.findtext("os_type") != "hvm":
            continue
        arch_el = guest.find("arch")
        if arch_el is None:
            continue
        name = arch_el.get("name", "")
        entry = guests.setdefault(
            name, {"domain_types": [], "emulator": arch_el.findtext("emulator", ""), "machines": []}
        )
        for machine in arch_el.findall("machine"):
            if machine.text and machine.text not in entry["machines"]:
                entry["machines"].append(machine.text)
        for domain in arch_el.findall("domain"):
            dtype = domain.get("type", "")
            if dtype and dtype not in entry["domain_types"]:
                entry["domain_types"].append(dtype)
    return {"arch": arch, "cpu_model": cpu_model, "uuid": host_uuid, "guests": guests}


def local_kvm_facts(root: str = "/") -> dict[str, Any]:
    """CPU virtualisation flags, loaded KVM modules and /dev/kvm of the host this code runs on."""
    flags: set[str] = set()
    try:
        with open(os.path.join(root, "proc/cpuinfo"), encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags.update(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    module_dir = os.path.join(root, "sys/module")
    modules = {name for name in ("kvm", "kvm_pvm", *HW_MODULES) if os.path.isdir(os.path.join(module_dir, name))}
    return {
        "cpu_flags": sorted(flag for flag in flags if flag in HW_FLAGS),
        "modules": sorted(modules),
        "dev_kvm": os.path.exists(os.path.join(root, "dev/kvm")),
    }


NO_FLAG = (
    "the CPU shows no hardware virtualisation (no vmx/svm flag): enable VT-x/AMD-V (Intel VT, SVM) in the "
    "firmware setup, or nested virtualisation on the outer hypervisor"
)
MODULE_OF_FLAG = {"vmx": "kvm_intel", "svm": "kvm_amd"}


def kvm_problems(local: dict[str, Any], modprobe_error: Optional[str] = None) -> list[str]:
    """Everything that keeps this host from running KVM guests (``local_kvm_facts()``); none: it can.

    ``modprobe_error``: how loading the CPU's KVM module failed, when it was tried.
    """
    problems = []
    if not local["cpu_flags"]:
        problems.append(NO_FLAG)
    if not set(local["modules"]) & set(HW_MODULES):
        extra = (
            " (only the software kvm_pvm module is: it opens /dev/kvm, but QEMU cannot run guests with it)"
            if "kvm_pvm" in local["modules"]
            else ""
        )
        flag = next(iter(local["cpu_flags"]), None)
        if modprobe_error is not None and flag:
            fix = f"modprobe {MODULE_OF_FLAG[flag]} failed ({modprobe_error}); a firmware setting may disable it"
        else:
            fix = "run 'modprobe kvm_intel' or 'modprobe kvm_amd'"
        problems.append(f"neither kvm_intel nor kvm_amd is loaded{extra}: {fix}")
    if not local["dev_kvm"]:
        problems.append("/dev/kvm does not exist: load the kvm module")
    return problems


def judge_kvm(domain_types: list[str], local: Optional[dict[str, Any]]) -> tuple[bool, str]:
    """Whether KVM guests really run, and why not. ``local`` is ``local_kvm_facts()`` or None (remote)."""
    problems = kvm_problems(local) if local is not None else []
    if problems:
        return False, problems[0]
    if "kvm" not in domain_types:
        return (
            False,
            "libvirt offers no kvm domain type: QEMU cannot open /dev/kvm (check its permissions and the kvm group)",
        )
    return True, "hardware virtualisation is available and libvirt offers the kvm domain type"


def boot_id() -> str:
    """This host's boot id (a new one at every boot); empty where the kernel has none."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""
