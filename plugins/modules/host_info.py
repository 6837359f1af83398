#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: host_info
short_description: Facts about a libvirt hypervisor
version_added: 0.1.0
description:
  - Reports the libvirt and hypervisor versions, CPUs and memory of a hypervisor, the guest
    architectures and domain types it offers, and whether it can really run KVM guests.
  - On a host whose libvirt offers the C(kvm) domain type but whose CPU lacks VT-x/AMD-V, or whose KVM
    comes from a software module, RV(host.kvm.usable) is V(false) and RV(host.default_virt_type) is
    V(qemu) (TCG emulation). The guest module's C(virt_type=auto) uses the same judgement.
  - The CPU and kernel-module checks are done only when O(uri) names the host the module runs on; for a
    remote URI, libvirt's capabilities are trusted.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
  - kvmfleet.kvm.attributes.info
"""

EXAMPLES = r"""
- name: Read what the hypervisor offers
  kvmfleet.kvm.host_info:
  register: hv

- name: Tell whether guests will run with KVM or under emulation
  ansible.builtin.debug:
    msg: "{{ hv.host.hostname }} runs guests as {{ hv.host.default_virt_type }}: {{ hv.host.kvm.reason }}"

- name: Query a remote hypervisor over SSH from the controller
  kvmfleet.kvm.host_info:
    uri: qemu+ssh://root@hv1.example.com/system
  delegate_to: localhost
"""

RETURN = r"""
host:
  description: The hypervisor.
  returned: success
  type: dict
  contains:
    uri:
      description: The connection URI as libvirt reports it.
      type: str
      sample: qemu:///system
    hostname:
      description: The hypervisor's host name.
      type: str
      sample: hv1
    libvirt_version:
      description: Version of the libvirt daemon.
      type: str
      sample: 9.0.0
    hypervisor:
      description: The hypervisor driver's name.
      type: str
      sample: QEMU
    hypervisor_version:
      description: Version of the hypervisor (QEMU).
      type: str
      sample: 7.2.22
    arch:
      description: The host CPU architecture.
      type: str
      sample: x86_64
    cpu_model:
      description: The host CPU model as libvirt names it.
      type: str
      sample: Skylake-Client-IBRS
    cpus:
      description: Number of active logical CPUs.
      type: int
      sample: 8
    memory_mib:
      description: Memory of the host in MiB.
      type: int
      sample: 32768
    numa_nodes:
      description: Number of NUMA nodes.
      type: int
      sample: 1
    guest_arches:
      description: Guest architectures the hypervisor offers, with their domain types, emulator and machine types.
      type: dict
      sample: {"x86_64": {"domain_types": ["qemu", "kvm"], "emulator": "/usr/bin/qemu-system-x86_64", "machines": ["pc-q35-7.2", "q35"]}}
    kvm:
      description: Whether KVM guests can really run here.
      type: dict
      contains:
        usable:
          description: V(true) when guests can be accelerated by KVM.
          type: bool
          sample: false
        reason:
          description: Why KVM is usable or, when not, what is missing and how to fix it.
          type: str
          sample: "the CPU shows no hardware virtualisation (no vmx/svm flag): enable VT-x/AMD-V in the firmware setup"
        checked_locally:
          description: V(true) when the CPU flags and kernel modules of the host were inspected (local URI).
          type: bool
          sample: true
    default_virt_type:
      description: The domain type that the guest module's C(virt_type=auto) picks on this host.
      type: str
      sample: qemu
      choices: [kvm, qemu]
    uuid:
      description: The host UUID libvirt reports (two hypervisors with the same one cannot migrate between them).
      type: str
      sample: 4b5e2a8c-0d1f-5e6a-9b7c-3d2e1f0a9b8c
    labels:
      description: The hypervisor's labels (its fleet record; see M(kvmfleet.kvm.hypervisor)).
      type: list
      elements: str
      sample: [ssd]
    maintenance:
      description: The maintenance mark (C(since), C(reason)), or V(null) when the hypervisor takes guests.
      type: dict
      sample: {"since": "2026-12-02T16:00:00Z", "reason": "kernel update"}
    capacity:
      description:
        - What the hypervisor has for guests, in the figures placement, M(kvmfleet.kvm.migrate) and
          M(kvmfleet.kvm.drain) decide with. Memory in MiB.
        - Allocatable = total x overcommit (- reserved memory); committed = what every guest defined
          here holds (its current memory and vCPUs, stopped guests included); available = allocatable
          - committed.
      type: dict
      contains:
        memory_mib:
          description: Total memory of all NUMA cells.
          type: int
        free_memory_mib:
          description: Memory free now (the kernel's free memory, buffers and page cache).
          type: int
        reserved_memory_mib:
          description: Memory kept for the host.
          type: int
        memory_overcommit:
          description: Memory overcommit ratio.
          type: float
        allocatable_memory_mib:
          description: Memory guests may commit in all.
          type: int
        committed_memory_mib:
          description: Memory the guests hold.
          type: int
        available_memory_mib:
          description: Memory left for more guests.
          type: int
        cpus:
          description: Logical CPUs.
          type: int
        vcpu_overcommit:
          description: vCPU overcommit ratio.
          type: float
        allocatable_vcpus:
          description: vCPUs guests may commit in all.
          type: int
        committed_vcpus:
          description: vCPUs the guests hold.
          type: int
        available_vcpus:
          description: vCPUs left for more guests.
          type: int
        guests:
          description: Guests defined or running here.
          type: int
        running_guests:
          description: Guests running here.
          type: int
      sample: {"memory_mib": 64000, "available_memory_mib": 40000, "available_vcpus": 50, "guests": 12, "running_guests": 10}
    guests:
      description: Each guest's claim on the host - C(name), C(uuid), C(memory_mib), C(vcpus), C(running).
      type: list
      elements: dict
      sample: [{"name": "web1", "uuid": "7c1f2a3b-8d9e-4f50-a1b2-c3d4e5f60718", "memory_mib": 2048, "vcpus": 2, "running": true}]
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["reconnect_timeout: expected a whole number, got 'soon'"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._host_info import HOST_INFO_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_entry


def main() -> None:
    run_entry(HOST_INFO_ENTRY)


if __name__ == "__main__":
    main()
