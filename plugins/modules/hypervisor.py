#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: hypervisor
short_description: A hypervisor's place in the fleet - labels, reserved memory, overcommit, maintenance
version_added: 0.1.0
description:
  - Sets what the fleet knows about a hypervisor beyond what libvirt reports - its labels (which
    guests may run on it), the memory kept for the host itself, its overcommit ratios, and the
    maintenance mark (no new guests are placed on it; the drain sets it).
  - These settings are the hypervisor's fleet record, kept inside libvirt on the hypervisor (a
    value-less secret named C(kvmfleet-hypervisor) whose description holds them), so
    M(kvmfleet.kvm.host_info), the inventory plugin, placement, M(kvmfleet.kvm.migrate) and
    M(kvmfleet.kvm.drain) read the same figures over any libvirt URI, also read-only.
  - An option that is not set is not managed.
  - Capacity is then - allocatable memory = total memory x O(memory_overcommit) - O(reserved_memory);
    allocatable vCPUs = logical CPUs x O(vcpu_overcommit); what the guests defined on the host hold is
    subtracted from both (see RV(record) and M(kvmfleet.kvm.host_info)'s C(capacity)).
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
  - kvmfleet.kvm.attributes.converge
options:
  labels:
    description:
      - The hypervisor's labels, such as V(ssd), V(gpu) or V(rack-a1). A guest that requires a label is
        placed only on hypervisors that have it. The whole list is set (order does not matter).
    type: list
    elements: str
  reserved_memory:
    description: Memory kept for the host itself, not for guests, such as V(2GiB) (a bare number is MiB). Default 1 GiB.
    type: raw
  memory_overcommit:
    description: How much guest memory per MiB of host memory may be committed. Default 1.0 (none).
    type: float
  vcpu_overcommit:
    description: How many guest vCPUs per logical CPU of the host may be committed. Default 4.0.
    type: float
  maintenance:
    description:
      - V(true) marks the hypervisor in maintenance - placement puts no guest on it and the migrate
        module refuses it as a destination; V(false) lifts the mark. Marking records the time; a
        hypervisor already marked keeps its time.
      - Marking moves no guest - that is M(kvmfleet.kvm.drain)'s job (C(playbooks/drain.yml)).
    type: bool
  maintenance_reason:
    description: Why the hypervisor is in maintenance (shown by host_info, the inventory and the report).
    type: str
seealso:
  - module: kvmfleet.kvm.host_info
  - module: kvmfleet.kvm.drain
"""

EXAMPLES = r"""
- name: Label the hypervisor and keep 4 GiB for the host
  kvmfleet.kvm.hypervisor:
    labels: [ssd, rack-a1]
    reserved_memory: 4GiB
    vcpu_overcommit: 8

- name: Keep new guests off it while its disks are replaced (its guests stay)
  kvmfleet.kvm.hypervisor:
    maintenance: true
    maintenance_reason: disk replacement, ticket 4711
"""

RETURN = r"""
record:
  description: The hypervisor's fleet record after the task (in check mode - as it would be).
  returned: always
  type: dict
  contains:
    labels:
      description: The labels.
      type: list
      elements: str
      sample: [rack-a1, ssd]
    reserved_memory_mib:
      description: Memory kept for the host, in MiB.
      type: int
      sample: 1024
    memory_overcommit:
      description: Memory overcommit ratio.
      type: float
      sample: 1.0
    vcpu_overcommit:
      description: vCPU overcommit ratio.
      type: float
      sample: 4.0
    maintenance:
      description: The maintenance mark (C(since) - UTC time it was set, C(reason)), or V(null).
      type: dict
      sample: {"since": "2026-12-02T16:00:00Z", "reason": "disk replacement"}
actions:
  description: What the module did (in check mode - would do).
  returned: always
  type: list
  elements: str
  sample: ["write the hypervisor's fleet record (labels, maintenance)"]
diff:
  description: The fields that differ, before and after.
  returned: always
  type: dict
  sample: {"before": {"maintenance": false}, "after": {"maintenance": true}}
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["memory_overcommit: expected a number, got 'lots'"]
done:
  description: When the task failed while its actions ran, the actions that completed before the failure (in check mode none run).
  returned: when an action failed
  type: list
  elements: str
  sample: ["write the hypervisor's fleet record (labels)"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.module import run_hypervisor_module


def main() -> None:
    run_hypervisor_module()


if __name__ == "__main__":
    main()
