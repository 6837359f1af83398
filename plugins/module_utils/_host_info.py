# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resource layer for ``host_info``: read a hypervisor's facts over an open connection."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._host import judge_kvm, local_kvm_facts, parse_capabilities
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor import record as rec
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.capacity import read_capacity
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import is_local_uri
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import OptionTable, connection_options
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry


def version_string(number: int) -> str:
    """libvirt encodes versions as major * 1,000,000 + minor * 1,000 + release."""
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"


def describe_host(conn: Any, check_locally: bool) -> dict[str, Any]:
    """The facts of the hypervisor behind ``conn``."""
    caps = parse_capabilities(conn.getCapabilities())
    record, _stored = rec.read(conn)
    capacity, guests = read_capacity(conn, record)
    return host_facts(conn, caps, record=record, capacity=capacity, guests=guests, check_locally=check_locally)


def host_facts(
    conn: Any,
    caps: dict[str, Any],
    *,
    record: rec.Record,
    capacity: dict[str, Any],
    guests: list[dict[str, Any]],
    check_locally: bool,
) -> dict[str, Any]:
    """The facts of the hypervisor behind ``conn`` from its capabilities, fleet record and capacity as read
    (the fleet report reads them once for its other uses too)."""
    info = conn.getInfo()  # [model, memory MiB, cpus, mhz, nodes, sockets, cores, threads]
    arch_caps = caps["guests"].get(caps["arch"], {"domain_types": []})
    local = local_kvm_facts() if check_locally else None
    usable, reason = judge_kvm(arch_caps["domain_types"], local)
    return {
        "uri": conn.getURI(),
        "hostname": conn.getHostname(),
        "libvirt_version": version_string(conn.getLibVersion()),
        "hypervisor": conn.getType(),
        "hypervisor_version": version_string(conn.getVersion()),
        "arch": caps["arch"],
        "cpu_model": caps["cpu_model"],
        "cpus": info[2],
        "memory_mib": info[1],
        "numa_nodes": info[4],
        "guest_arches": caps["guests"],
        "kvm": {"usable": usable, "reason": reason, "checked_locally": check_locally},
        "default_virt_type": "kvm" if usable else "qemu",
        "uuid": caps["uuid"],
        "labels": record.labels,
        "maintenance": record.maintenance,
        "capacity": capacity,
        "guests": guests,
    }


def _host_info(conn: Any, invocation: Any) -> dict[str, Any]:
    return {"changed": False, "host": describe_host(conn, is_local_uri(invocation.params["uri"]))}


HOST_INFO_ENTRY = Entry(OptionTable(connection_options()), _host_info, readonly=True)
"""Module entry for ``kvmfleet.kvm.host_info``."""
