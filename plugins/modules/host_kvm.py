#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: host_kvm
short_description: Load the KVM kernel module and judge whether a host can run KVM guests
version_added: 0.1.0
description:
  - Reads the CPU's hardware virtualisation flag (C(vmx) or C(svm)), the loaded KVM kernel modules and
    C(/dev/kvm) of the host it runs on, loads C(kvm_intel) or C(kvm_amd) when the CPU has the flag and
    neither is loaded, and says whether KVM guests can run, listing every problem when they cannot.
  - Needs no libvirt, so the P(kvmfleet.kvm.host#role) role runs it before it installs anything. It is the
    same judgement as P(kvmfleet.kvm.host_info#module)'s RV(kvmfleet.kvm.host_info#module:host.kvm.usable)
    and the guest modules' C(virt_type=auto). A software KVM (C(kvm_pvm)) that opens C(/dev/kvm) without
    VT-x/AMD-V does not count.
author:
  - kvmfleet maintainers (@kvmfleet)
options:
  load:
    description:
      - Load the CPU's KVM module (C(modprobe kvm_intel) or C(kvm_amd)) when it is not loaded. Loading needs root.
      - V(false) only reads and judges.
    type: bool
    default: true
extends_documentation_fragment:
  - kvmfleet.kvm.attributes.action
attributes:
  check_mode:
    support: full
    description:
      - Nothing is loaded. A module the real run would load is reported as RV(actions) with V(changed=true),
        and the judgement assumes it loads.
  diff_mode:
    support: none
    description: Loading a kernel module has no diff.
  idempotent:
    support: full
    description: Once the module is loaded, a rerun changes nothing.
  platform:
    support: full
    platforms: posix
    description: Linux hosts; Python's standard library only.
"""

EXAMPLES = r"""
- name: Load KVM and tell whether guests will run with it
  kvmfleet.kvm.host_kvm:
  register: kvm

- name: Stop here when KVM guests cannot run
  ansible.builtin.assert:
    that: kvm.kvm.usable
    fail_msg: "KVM is not usable: {{ kvm.kvm.problems | join('; ') }}"

- name: Only judge, load nothing
  kvmfleet.kvm.host_kvm:
    load: false
  register: kvm
"""

RETURN = r"""
actions:
  description: What was (in check mode, would be) done.
  returned: always
  type: list
  elements: str
  sample: ["load kvm_intel"]
kvm:
  description: The host's KVM.
  returned: always
  type: dict
  contains:
    usable:
      description: Whether KVM guests can run on the host.
      type: bool
      sample: true
    problems:
      description: Every reason they cannot, each with its fix; empty when they can.
      type: list
      elements: str
      sample:
        - >-
          the CPU shows no hardware virtualisation (no vmx/svm flag): enable VT-x/AMD-V (Intel VT, SVM) in the
          firmware setup, or nested virtualisation on the outer hypervisor
    cpu_flags:
      description: The CPU's hardware virtualisation flags (C(vmx), C(svm)).
      type: list
      elements: str
      sample: [vmx]
    module:
      description: The kernel module of this CPU's KVM (C(kvm_intel), C(kvm_amd)); V(null) without the flag.
      type: str
      sample: kvm_intel
    modules:
      description: The KVM kernel modules loaded (C(kvm), C(kvm_intel), C(kvm_amd), C(kvm_pvm)).
      type: list
      elements: str
      sample: [kvm, kvm_intel]
    dev_kvm:
      description: Whether C(/dev/kvm) exists.
      type: bool
      sample: true
root:
  description: Whether the module ran as root (loading a module, and the P(kvmfleet.kvm.host#role) role, need it).
  returned: always
  type: bool
  sample: true
systemd:
  description: Whether systemd runs on the host (C(/run/systemd/system) exists).
  returned: always
  type: bool
  sample: true
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["load: expected true or false, got 'maybe'"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._host_kvm import HOST_KVM_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_entry


def main() -> None:
    run_entry(HOST_KVM_ENTRY)


if __name__ == "__main__":
    main()
