# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read every guest of a hypervisor in a few calls: for ``guest_info`` and the inventory plugin.

One ``getAllDomainStats`` for all domains and their states, one ``XMLDesc`` per guest (disks,
interfaces, tags: read with the guest module's own XML reader), the DHCP leases of each libvirt
network once, the host's neighbour table once (ARP, when the hypervisor is this host), and per-guest
address queries only for running guests that a batched source did not cover (the guest agent; ARP on
a remote hypervisor). Never one call per guest per field.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _address
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.bindings import read_values
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    Option,
    OptionTable,
    connection_options,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry

MiB = 1024 * 1024
STATES = {
    0: "unknown",  # VIR_DOMAIN_NOSTATE
    1: "running",
    2: "running",  # blocked on I/O: running as far as a user is concerned
    3: "paused",
    4: "stopped",  # shutting down
    5: "stopped",  # shut off
    6: "crashed",
    7: "paused",  # suspended by guest power management
}
DEFAULT_SOURCES = ("lease", "arp")
XML_THREADS = 8


def _domains(conn: Any) -> list[tuple[Any, str]]:
    """Every domain with its state, in one call."""
    lv = require_libvirt()
    return [
        (dom, STATES.get(stats.get("state.state", 0), "unknown"))
        for dom, stats in conn.getAllDomainStats(lv.VIR_DOMAIN_STATS_STATE, 0)
    ]


def _xml(dom: Any) -> Optional[str]:
    lv = require_libvirt()
    try:
        return dom.XMLDesc(0)
    except lv.libvirtError:
        return None  # undefined meanwhile


_FACTS = (
    "name",
    "uuid",
    "title",
    "description",
    "tags",
    "virt_type",
    "arch",
    "vcpus",
    "max_vcpus",
    "memory",
    "max_memory",
    "guest_agent",
)


def describe(xml: str, state: str) -> dict[str, Any]:
    """One guest's facts from its XML (the live XML when it runs)."""
    return describe_root(ET.fromstring(xml), state)


def describe_root(root: ET.Element, state: str) -> dict[str, Any]:
    """One guest's facts from its parsed definition."""
    scalars = read_values(root, _FACTS)
    disks = [
        {key: value for key, value in disk.items() if key not in ("size", "backing_image", "boot_order")}
        for disk in gx.read_disks(root)
    ]
    interfaces = [
        {key: nic[key] for key in ("type", "source", "mac", "model", "link_state")} for nic in gx.read_interfaces(root)
    ]
    return {
        "name": scalars["name"],
        "uuid": scalars["uuid"],
        "state": state,
        "title": scalars["title"],
        "description": scalars["description"],
        "tags": scalars["tags"],
        "virt_type": scalars["virt_type"],
        "arch": scalars["arch"],
        "vcpus": scalars["vcpus"],
        "max_vcpus": scalars["max_vcpus"],
        "memory_mib": (scalars["memory"] or 0) // MiB,
        "max_memory_mib": (scalars["max_memory"] or 0) // MiB,
        "guest_agent": bool(scalars["guest_agent"]),
        "disks": disks,
        "interfaces": interfaces,
        "addresses": [],
        "address": None,
    }


def _matches(guest: dict[str, Any], names: Optional[list[str]], tags: Optional[list[str]]) -> bool:
    if names and guest["name"] not in names:
        return False
    return not tags or set(tags) <= set(guest["tags"])


def _per_guest_addresses(dom: Any, sources: list[str]) -> list[dict[str, Any]]:
    """Addresses of one running guest from the sources asked per guest; a source that cannot answer
    (no guest agent, read-only connection) gives none."""
    lv = require_libvirt()
    found = []
    for source in sources:
        try:
            found.extend(_address.query(dom, source))
        except lv.libvirtError:
            continue
    return found


def read_guests(
    conn: Any,
    names: Optional[list[str]] = None,
    tags: Optional[list[str]] = None,
    sources: Optional[list[str]] = None,
) -> list[dict[str, Any]]:
    """Facts of every guest (or those named / carrying all ``tags``), sorted by name."""
    sources = list(DEFAULT_SOURCES if sources is None else sources)
    domains = [(dom, state) for dom, state in _domains(conn) if not names or dom.name() in names]
    guests = []
    running = []
    # the XML of later guests is fetched (the binding releases the GIL per call) while earlier ones are parsed
    with ThreadPoolExecutor(max_workers=XML_THREADS) as pool:
        for (dom, state), xml in zip(domains, pool.map(lambda item: _xml(item[0]), domains)):
            if xml is None:
                continue
            guest = describe(xml, state)
            if not _matches(guest, names, tags):
                continue
            guests.append(guest)
            if state == "running":
                running.append((dom, guest))
    if running and sources:
        add_addresses(conn, running, sources)
    return sorted(guests, key=lambda guest: guest["name"])


def add_addresses(conn: Any, running: list[tuple[Any, dict[str, Any]]], sources: list[str]) -> None:
    tables = _address.batched_tables(conn, sources)  # lease per network, arp once on a local hypervisor
    per_guest = [source for source in sources if source not in tables]
    for dom, guest in running:
        macs = [nic["mac"] for nic in guest["interfaces"]]
        groups = {source: _address.by_macs(table, macs) for source, table in tables.items()}
        if per_guest:
            for item in _per_guest_addresses(dom, per_guest):
                groups.setdefault(item["source"], []).append(item)
        guest["addresses"] = _address.merge(*(groups.get(source, []) for source in sources))
        guest["address"] = _address.best(guest["addresses"])


# ---------------------------------------------------------------------------------------------- the module


def _guest_info(conn: Any, invocation: Any) -> dict[str, Any]:
    values = invocation.values
    sources = values["address_sources"]
    if "agent" not in sources:
        return {"changed": False, "guests": read_guests(conn, values["name"], values["tags"], sources)}
    # the guest agent answers only on a read-write connection; the other sources read only
    agent_conn = connect(invocation.params["uri"])
    try:
        return {"changed": False, "guests": read_guests(agent_conn, values["name"], values["tags"], sources)}
    finally:
        agent_conn.close()


GUEST_INFO_ENTRY = Entry(
    OptionTable(
        [
            *connection_options(),
            Option("name", type="list", elements="str", aliases=("names",), update=CONTROL),
            Option("tags", type="list", elements="str", update=CONTROL),
            Option(
                "address_sources",
                type="list",
                elements="str",
                choices=_address.SOURCES,
                default=list(DEFAULT_SOURCES),
                update=CONTROL,
            ),
        ]
    ),
    _guest_info,
    readonly=True,
)
"""Module entry for ``kvmfleet.kvm.guest_info``."""
