# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resource layer for ``host_kvm``: load the CPU's KVM module and judge whether KVM guests can run here.

No libvirt is needed (the host role runs it before libvirt is installed): the facts are the CPU's flags,
the kernel's modules and /dev/kvm (``_host.local_kvm_facts``), judged by ``_host.kvm_problems``, the same
judgement ``host_info`` and the guest modules' ``virt_type: auto`` use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._host import (
    HW_MODULES,
    MODULE_OF_FLAG,
    kvm_problems,
    local_kvm_facts,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import CONTROL, Option, OptionTable
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry

SYSTEMD_RUN = "/run/systemd/system"

HOST_KVM_MODULE = OptionTable([Option("load", type="bool", default=True, update=CONTROL)])


def to_load(local: dict[str, Any]) -> Optional[str]:
    """The kernel module this CPU's KVM needs when it is not loaded yet (kvm_intel, kvm_amd), else None."""
    if set(local["modules"]) & set(HW_MODULES):
        return None
    flag = next(iter(local["cpu_flags"]), None)
    return MODULE_OF_FLAG.get(flag) if flag else None


def modprobe(module: str) -> Optional[str]:
    """Load ``module``; None when it loaded, else what modprobe said."""
    tool = shutil.which("modprobe") or "/sbin/modprobe"
    try:
        proc = subprocess.run([tool, module], capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        return str(exc)
    return None if proc.returncode == 0 else (proc.stderr.strip() or f"exit code {proc.returncode}")


def _host_kvm(_conn: Any, invocation: Any) -> dict[str, Any]:
    local = local_kvm_facts()
    module = to_load(local) if invocation.values["load"] else None
    error = None
    if module is not None and not invocation.check_mode:
        error = modprobe(module)
        if error is None:
            local = local_kvm_facts()
    # check mode predicts the module loads (it brings /dev/kvm with it); a real run judges what it got
    problems = [] if module is not None and invocation.check_mode else kvm_problems(local, error)
    return {
        "changed": module is not None and error is None,
        "actions": [f"load {module}"] if module is not None and error is None else [],
        "kvm": {
            "usable": not problems,
            "problems": problems,
            "cpu_flags": local["cpu_flags"],
            "module": next((MODULE_OF_FLAG[flag] for flag in local["cpu_flags"]), None),
            "modules": local["modules"],
            "dev_kvm": local["dev_kvm"],
        },
        "root": os.geteuid() == 0,
        "systemd": os.path.isdir(SYSTEMD_RUN),
    }


HOST_KVM_ENTRY = Entry(HOST_KVM_MODULE, _host_kvm, connects=False)
"""Module entry for ``kvmfleet.kvm.host_kvm``."""
