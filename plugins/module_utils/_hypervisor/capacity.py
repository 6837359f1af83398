# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A hypervisor's capacity from one read: memory and CPUs, what its guests hold, what is left.

The figures ``host_info`` returns, the inventory plugin shows, and placement, ``migrate`` and the
drain decide with, so that users and the code read the same numbers:

- allocatable memory = total memory x memory overcommit - reserved memory (the record's settings);
- allocatable vCPUs = logical CPUs x vCPU overcommit;
- committed = what every guest defined or running here holds (memory: its current balloon target;
  vCPUs: its current count), stopped guests included: they keep their claim on the host;
- available = allocatable - committed.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.record import Record
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt

KiB_PER_MiB = 1024
# libvirt's domain states that count as running for capacity (running, blocked, paused, shutting down,
# suspended by the guest): the QEMU process holds its memory
_ACTIVE_STATES = (1, 2, 3, 4, 7)


def host_memory_mib(conn: Any) -> tuple[int, int]:
    """(total, free) memory of the host in MiB, all NUMA cells together; free counts buffers and page cache."""
    lv = require_libvirt()
    try:
        stats = conn.getMemoryStats(lv.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
    except lv.libvirtError:  # drivers without node memory stats (the test driver)
        memory = conn.getInfo()[1]
        return memory, memory
    free = stats.get("free", 0) + stats.get("buffers", 0) + stats.get("cached", 0)
    return stats.get("total", 0) // KiB_PER_MiB, free // KiB_PER_MiB


def guest_figures(conn: Any) -> list[dict[str, Any]]:
    """Every guest's name, UUID, memory, vCPUs and whether it runs: one ``getAllDomainStats`` call."""
    lv = require_libvirt()
    wanted = lv.VIR_DOMAIN_STATS_STATE | lv.VIR_DOMAIN_STATS_BALLOON | lv.VIR_DOMAIN_STATS_VCPU
    guests = []
    for dom, stats in conn.getAllDomainStats(wanted, 0):
        guests.append(
            {
                "name": dom.name(),
                "uuid": dom.UUIDString(),
                "memory_mib": int(stats.get("balloon.current", stats.get("balloon.maximum", 0))) // KiB_PER_MiB,
                "vcpus": int(stats.get("vcpu.current", stats.get("vcpu.maximum", 0))),
                "running": stats.get("state.state") in _ACTIVE_STATES,
            }
        )
    return sorted(guests, key=lambda guest: guest["name"])


def figures(total_mib: int, free_mib: int, cpus: int, record: Record, guests: list[dict[str, Any]]) -> dict[str, Any]:
    """The capacity figures of a host from what was read (pure: the placement benchmark feeds it recorded values)."""
    allocatable_memory = int(total_mib * record.memory_overcommit) - record.reserved_memory_mib
    allocatable_vcpus = int(cpus * record.vcpu_overcommit)
    committed_memory = sum(guest["memory_mib"] for guest in guests)
    committed_vcpus = sum(guest["vcpus"] for guest in guests)
    return {
        "memory_mib": total_mib,
        "free_memory_mib": free_mib,
        "reserved_memory_mib": record.reserved_memory_mib,
        "memory_overcommit": record.memory_overcommit,
        "allocatable_memory_mib": allocatable_memory,
        "committed_memory_mib": committed_memory,
        "available_memory_mib": allocatable_memory - committed_memory,
        "cpus": cpus,
        "vcpu_overcommit": record.vcpu_overcommit,
        "allocatable_vcpus": allocatable_vcpus,
        "committed_vcpus": committed_vcpus,
        "available_vcpus": allocatable_vcpus - committed_vcpus,
        "guests": len(guests),
        "running_guests": sum(1 for guest in guests if guest["running"]),
    }


def read_capacity(conn: Any, record: Record) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(capacity figures, per-guest figures) of the hypervisor behind ``conn``."""
    total, free = host_memory_mib(conn)
    guests = guest_figures(conn)
    return figures(total, free, conn.getInfo()[2], record, guests), guests
