# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read one hypervisor for the fleet report: everything once, over one connection.

What is read, for a hypervisor with N guests:

- the host: capabilities, fleet record, capacity (one ``getAllDomainStats``), interfaces, networks,
  pools with their volumes and sizes (``_migrate.facts.read_host``: what the migration check needs),
  its versions (``_host_info.host_facts``);
- its guests: one more ``getAllDomainStats`` for their states, one ``XMLDesc`` each (the live definition
  of a running guest, with its secrets: they stay in this module), their snapshots and checkpoints
  counted (two calls each), block jobs only on the disks of running guests that can have one, addresses
  from the DHCP leases of each network and the neighbour table (batched, ``_guest.info``);
- the drift (``drift``): every guest declared for the hypervisor planned in check mode by the guest
  module's own planner, so the report shows exactly what a run of the guests role would change.

The guests are read a few at a time (the binding releases the GIL during a call), so a remote
hypervisor's round trips overlap.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, NeedsOption, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import info as guest_info
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.plan import GuestPlanner, HostContext
from ansible_collections.kvmfleet.kvm.plugins.module_utils._host_info import host_facts
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect_within, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import preflight as pf

THREADS = 8
MiB = 1024 * 1024
# libvirt's domain states in which a guest has a QEMU process (running, blocked, paused, shutting
# down, suspended by the guest): what a drain moves live
ACTIVE_STATES = (1, 2, 3, 4, 7)


@dataclass
class Seen:
    """One guest as the report saw it."""

    info: dict[str, Any]  # guest_info's facts of it
    guest: pf.Guest  # what the migration check needs
    read: Optional[Known] = None  # what was read of it, which its drift plan starts from


class Known:
    """A guest as the report read it, in the shape of a libvirt domain: its state and the definitions read
    are answered from that read, every other call is passed on to libvirt. The drift plan of a guest
    starts from the same read as the rest of the report, and makes no call to learn it again."""

    def __init__(self, dom: Any, state: int, reason: int, xml: str) -> None:
        lv = require_libvirt()
        self._dom = dom
        self._state = [state, reason]
        self._xml = {lv.VIR_DOMAIN_XML_SECURE: xml}
        self._roots = {lv.VIR_DOMAIN_XML_SECURE: ET.fromstring(xml)}
        if state not in ACTIVE_STATES:  # the definition of a guest that is off is its persistent one
            self._xml[lv.VIR_DOMAIN_XML_SECURE | lv.VIR_DOMAIN_XML_INACTIVE] = xml
            self._roots[lv.VIR_DOMAIN_XML_SECURE | lv.VIR_DOMAIN_XML_INACTIVE] = self._roots[lv.VIR_DOMAIN_XML_SECURE]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dom, name)

    def isActive(self) -> int:  # noqa: N802 - libvirt's name
        return int(self._state[0] in ACTIVE_STATES)

    def state(self, _flags: int = 0) -> list[int]:
        return list(self._state)

    def XMLDesc(self, flags: int = 0) -> str:  # noqa: N802 - libvirt's name
        if flags not in self._xml:
            self._xml[flags] = self._dom.XMLDesc(flags)
        return self._xml[flags]

    def parsed(self, flags: int) -> ET.Element:
        """The definition read with ``flags``, parsed once (``_guest.read.parsed``): nothing changes it."""
        if flags not in self._roots:
            self._roots[flags] = ET.fromstring(self.XMLDesc(flags))
        return self._roots[flags]


class KnownConnection:
    """A connection whose guests, when looked up by name, are those the report read (``Known``)."""

    def __init__(self, conn: Any, guests: dict[str, Known]) -> None:
        self._conn = conn
        self._guests = guests

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def lookupByName(self, name: str) -> Any:  # noqa: N802 - libvirt's name
        known = self._guests.get(name)
        return known if known is not None else self._conn.lookupByName(name)


@dataclass
class Scan:
    """One hypervisor as the report read it; ``error`` when it could not be read."""

    name: str  # its inventory name
    uri: str
    local: bool = False
    conn: Any = None
    error: Optional[str] = None
    facts: dict[str, Any] = field(default_factory=dict)
    host: Optional[pf.Host] = None
    guests: dict[str, Seen] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def reachable(self) -> bool:
        return self.error is None and self.host is not None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except require_libvirt().libvirtError:  # a connection that died may not close cleanly
                pass
            self.conn = None


def read(scan: Scan, connect_timeout: float) -> None:
    """Connect to the hypervisor and read it and its guests into ``scan`` (its ``error`` when it fails)."""
    lv = require_libvirt()
    started = time.monotonic()
    try:
        scan.conn = connect_within(scan.uri, connect_timeout)
        host = pf.read_host(scan.conn, scan.uri, scan.local)
        host.name = scan.name  # the inventory's name, as the report and its messages say it
        scan.facts = host_facts(
            scan.conn,
            host.caps,
            record=host.record,
            capacity=host.capacity,
            guests=host.guests,
            check_locally=scan.local,
        )
        scan.guests = read_guests(scan.conn, host)
        scan.host = host
    except KvmFleetError as exc:
        scan.error = exc.msg
    except lv.libvirtError as exc:
        scan.error = f"{scan.uri}: {exc.get_error_message()}"
    except OSError as exc:
        scan.error = f"{scan.uri}: {exc}"
    scan.seconds = time.monotonic() - started


def read_guests(conn: Any, host: pf.Host) -> dict[str, Seen]:
    """Every guest of ``host``: its facts and what the migration check needs, read a few at a time."""
    lv = require_libvirt()
    transient = {dom.name() for dom in conn.listAllDomains(lv.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)}

    def one(item: tuple[Any, dict[str, Any]]) -> Optional[tuple[Any, dict[str, Any], str, int, int]]:
        dom, stats = item
        try:
            xml = dom.XMLDesc(lv.VIR_DOMAIN_XML_SECURE)
            snapshots, checkpoints = pf.counts(dom)
        except lv.libvirtError as exc:
            if exc.get_error_code() == lv.VIR_ERR_NO_DOMAIN:
                return None  # undefined while read
            raise
        return dom, stats, xml, snapshots, checkpoints

    seen: dict[str, Seen] = {}
    running = []
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        # the calls overlap in the pool's threads; the parsing (which holds the GIL) is done here
        for found in pool.map(one, conn.getAllDomainStats(lv.VIR_DOMAIN_STATS_STATE, 0)):
            if found is None:
                continue
            dom, stats, xml, snapshots, checkpoints = found
            known = Known(dom, stats.get("state.state", 0), stats.get("state.reason", 0), xml)
            state = known.state()[0]
            root = known.parsed(lv.VIR_DOMAIN_XML_SECURE)
            active = state in ACTIVE_STATES
            facts = guest_info.describe_root(root, guest_info.STATES.get(state, "unknown"))
            guest = pf.guest_of(
                root, "", "", running=active, paused=state in (3, 7), persistent=facts["name"] not in transient
            )
            guest.disks = [pf.locate(disk, host) for disk in guest.disks]
            guest.snapshots, guest.checkpoints = snapshots, checkpoints
            if active:
                guest.block_jobs = block_jobs(known, root)
            seen[guest.name] = Seen(facts, guest, known)
            if facts["state"] == "running":
                running.append((known, facts))
    if running:
        guest_info.add_addresses(conn, running, list(guest_info.DEFAULT_SOURCES))
    return seen


def block_jobs(dom: Any, root: ET.Element) -> list[str]:
    """The disks of a running guest with a block job: asked only of disks that can have one (a mirror, or a
    backing chain to pull or commit)."""
    lv = require_libvirt()
    busy = []
    for disk in root.iter("disk"):
        target = disk.find("target")
        backing = disk.find("backingStore")
        if target is None or (disk.find("mirror") is None and (backing is None or backing.find("source") is None)):
            continue
        try:
            if dom.blockJobInfo(target.get("dev"), 0):
                busy.append(target.get("dev", ""))
        except lv.libvirtError:
            continue
    return busy


def drift(scan: Scan, declared: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """What a run of the guests module with ``declared`` ((field path, validated values) pairs) would do to
    each guest on this hypervisor: its check-mode plan, or why it would fail. Nothing is changed and
    nothing is waited for (a guest in a transient state says so)."""
    lv = require_libvirt()
    known = {name: seen.read for name, seen in scan.guests.items() if seen.read is not None}
    context = HostContext(KnownConnection(scan.conn, known), scan.uri)

    def one(item: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        path, values = item
        values = {**values, "shutdown_timeout": 0, "wait": None}
        try:
            plan = GuestPlanner(context, values, path).plan()
        except NeedsOption as exc:
            return {"error": exc.msg, "needs_option": exc.option}
        except ValidationError as exc:
            return {"error": exc.msg, "errors": exc.details["errors"]}
        except KvmFleetError as exc:
            return {"error": exc.msg}
        except lv.libvirtError as exc:
            return {"error": f"libvirt error: {exc.get_error_message()}"}
        result = plan.result()
        return {
            "changed": result["changed"],
            "actions": result["actions"],
            "diff": {"before": result["diff"]["before"], "after": result["diff"]["after"]},
            "reboot_required": sorted(set(plan.reboot_required)),
            "before_state": plan.before_state,
            "desired_state": plan.desired_state,
        }

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return {values["name"]: result for (_path, values), result in zip(declared, pool.map(one, declared))}
