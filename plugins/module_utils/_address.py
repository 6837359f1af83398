# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground layer: a guest's IP addresses from libvirt, and waiting until a guest has one.

Three sources, as libvirt names them: ``lease`` (the DHCP leases of libvirt's own networks),
``agent`` (the QEMU guest agent inside the guest: every interface, also static addresses and host
bridges) and ``arp`` (the host's neighbour table, for guests on host bridges). Every address comes back
in one shape: ``{address, prefix, family, mac, interface, source}``. Loopback and link-local addresses
are left out: they never reach a guest from outside.

``lease`` and ``arp`` have batched forms, read once for many guests and matched by MAC: the leases of
each network (``lease_table``) and, when the hypervisor is this host, the kernel's neighbour table
(``neighbour_table``: ``ip -j neigh``, else /proc/net/arp). libvirt's own ARP source (one call per
guest, and on libvirt 9.0 it can fail with "wrong nlmsg len") is asked only for remote hypervisors.

An ``arp`` record is not always an address the guest has: dnsmasq answers a client that has no address yet
by unicast and, to do so, writes the address it *offers* into the host's neighbour table. A guest whose DHCP
exchange then fails (a slow guest's client gives up) would be reported at an address it never took. So an
``arp`` address that one of libvirt's DHCP servers hands out (``DhcpPools``: the networks' ranges and host
entries) counts only once the guest holds a lease of it; addresses outside them (static ones, host bridges)
count as they are.

Shared by the guest modules (``wait``), ``guest_info`` and the inventory plugin.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _progress
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import is_local_uri, require_libvirt

SOURCES = ("lease", "agent", "arp")
_SOURCE_FLAGS = {
    "lease": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE",
    "agent": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT",
    "arp": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP",
}
POLL_SECONDS = 1.0
MAX_WAITERS = 16
PROC_ARP = "/proc/net/arp"
ATF_COM = 0x2  # /proc/net/arp flag of a complete entry (the MAC is known)
NEIGH_UNUSABLE = {"FAILED", "INCOMPLETE", "NOARP"}  # `ip neigh` states without a MAC worth trusting


def usable(address: str) -> bool:
    """False for addresses that never reach a guest from outside (loopback, link-local, unspecified)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified)


def record(source: str, interface: Optional[str], mac: Optional[str], addr: dict[str, Any]) -> dict[str, Any]:
    """One address in the shape every source returns; ``addr`` as libvirt gives it (addr/ipaddr, prefix, type)."""
    prefix = addr.get("prefix")
    return {
        "address": addr.get("addr") or addr.get("ipaddr"),
        "prefix": int(prefix) if prefix not in (None, "") else None,
        "family": "ipv6" if addr.get("type", 0) == 1 else "ipv4",
        "mac": (mac or "").lower() or None,
        "interface": interface,
        "source": source,
    }


def from_interfaces(interfaces: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """The records of a ``virDomainInterfaceAddresses`` answer, without unusable addresses."""
    found = []
    for name, info in sorted((interfaces or {}).items()):
        for addr in info.get("addrs") or []:
            if usable(addr.get("addr", "")):
                found.append(record(source, name, info.get("hwaddr"), addr))
    return found


def query(dom: Any, source: str) -> list[dict[str, Any]]:
    """A running domain's addresses from one source (raises libvirtError when the source cannot answer)."""
    lv = require_libvirt()
    return from_interfaces(dom.interfaceAddresses(getattr(lv, _SOURCE_FLAGS[source])), source)


def lease_table(conn: Any) -> Optional[dict[str, list[dict[str, Any]]]]:
    """Every active libvirt network's DHCP leases by MAC, one call per network (None: not supported).

    Cheaper than asking per guest: a fleet's guests share a few networks.
    """
    lv = require_libvirt()
    table: dict[str, list[dict[str, Any]]] = {}
    for net in conn.listAllNetworks(lv.VIR_CONNECT_LIST_NETWORKS_ACTIVE):
        try:
            leases = net.DHCPLeases()
        except lv.libvirtError as exc:
            if exc.get_error_code() == lv.VIR_ERR_NO_SUPPORT:
                return None
            continue  # a network that vanished meanwhile
        for lease in leases:
            mac = (lease.get("mac") or "").lower()
            if mac and usable(lease.get("ipaddr", "")):
                table.setdefault(mac, []).append(record("lease", lease.get("iface"), mac, lease))
    return table


class DhcpPools:
    """The addresses libvirt's DHCP servers hand out on one hypervisor: every active network's ranges and
    host entries, read once (one XMLDesc per network)."""

    def __init__(self, spans: list[tuple[Any, Any]]) -> None:
        self.spans = spans  # (first, last) address pairs; a host entry is a span of one

    @classmethod
    def read(cls, conn: Any) -> DhcpPools:
        lv = require_libvirt()
        spans: list[tuple[Any, Any]] = []
        for net in conn.listAllNetworks(lv.VIR_CONNECT_LIST_NETWORKS_ACTIVE):
            try:
                root = ET.fromstring(net.XMLDesc(0))
            except lv.libvirtError:
                continue  # a network that vanished meanwhile
            for dhcp in root.findall("ip/dhcp"):
                for item in dhcp:
                    first, last = (item.get("start"), item.get("end")) if item.tag == "range" else (item.get("ip"),) * 2
                    try:
                        spans.append((ipaddress.ip_address(first or ""), ipaddress.ip_address(last or "")))
                    except ValueError:
                        continue
        return cls(spans)

    def covers(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return any(first.version == ip.version and first <= ip <= last for first, last in self.spans)

    def taken(self, arp: list[dict[str, Any]], leases: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        """``arp`` records of one guest less those of handed-out addresses it holds no lease of (only offered,
        or its lease not written yet), and the addresses left out."""
        leased = {item["address"] for item in leases}
        kept = [item for item in arp if item["address"] in leased or not self.covers(item["address"])]
        return kept, [item["address"] for item in arp if item not in kept]


def parse_proc_arp(text: str) -> dict[str, list[dict[str, Any]]]:
    """/proc/net/arp (IPv4 only) as MAC -> ``arp`` records; incomplete entries and unusable addresses left out."""
    table: dict[str, list[dict[str, Any]]] = {}
    for line in text.splitlines()[1:]:  # the first line names the columns
        fields = line.split()
        if len(fields) < 6:
            continue
        address, _hw_type, flags, mac, _mask, device = fields[:6]
        try:
            complete = int(flags, 16) & ATF_COM
        except ValueError:
            continue
        mac = mac.lower()
        if complete and mac != "00:00:00:00:00:00" and usable(address):
            table.setdefault(mac, []).append(record("arp", device, mac, {"addr": address, "type": 0}))
    return table


def parse_ip_neigh(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """``ip -j neigh show`` (both families) as MAC -> ``arp`` records; failed/incomplete entries left out."""
    table: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        address, mac = entry.get("dst") or "", (entry.get("lladdr") or "").lower()
        if not mac or NEIGH_UNUSABLE & set(entry.get("state") or []) or not usable(address):
            continue
        family = 1 if ":" in address else 0
        table.setdefault(mac, []).append(record("arp", entry.get("dev"), mac, {"addr": address, "type": family}))
    return table


def neighbour_table() -> dict[str, list[dict[str, Any]]]:
    """This host's neighbour table by MAC, in one read: ``ip -j neigh show`` (IPv4 and IPv6), or
    /proc/net/arp (IPv4) where ``ip`` is missing or too old for JSON. Raises OSError when neither works."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
    ip = shutil.which("ip", path=search)
    if ip:
        try:
            proc = subprocess.run([ip, "-j", "neigh", "show"], capture_output=True, text=True, timeout=10, check=False)
            if proc.returncode == 0:
                return parse_ip_neigh(json.loads(proc.stdout or "[]"))
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass  # /proc/net/arp below
    with open(PROC_ARP, encoding="ascii", errors="replace") as handle:
        return parse_proc_arp(handle.read())


def arp_table(conn: Any) -> Optional[dict[str, list[dict[str, Any]]]]:
    """The kernel's neighbour table by MAC when ``conn``'s hypervisor is this host; None (ask libvirt's
    ARP source per guest) for a remote hypervisor, the test driver, or a table that cannot be read."""
    if not is_local_uri(conn.getURI()):
        return None
    try:
        return neighbour_table()
    except OSError:
        return None


def batched_tables(conn: Any, sources: list[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """source -> (MAC -> records) for the sources of ``sources`` that can be read once for all guests here.

    The ``arp`` table comes without the records of addresses only offered by DHCP (see ``DhcpPools``).
    """
    tables = {}
    for source, read in (("lease", lease_table), ("arp", arp_table)):
        if source in sources:
            table = read(conn)
            if table is not None:
                tables[source] = table
    if "arp" in tables:
        pools = DhcpPools.read(conn)
        leases = tables.get("lease")
        if leases is None and pools.spans:
            leases = lease_table(conn) or {}
        arp: dict[str, list[dict[str, Any]]] = {}
        for mac, records in tables["arp"].items():
            kept = pools.taken(records, (leases or {}).get(mac, []))[0]
            if kept:
                arp[mac] = kept
        tables["arp"] = arp
    return tables


def by_macs(table: dict[str, list[dict[str, Any]]], macs: list[str]) -> list[dict[str, Any]]:
    """The records of a batched table for a guest's MACs (in the guest's interface order)."""
    return [item for mac in macs for item in table.get((mac or "").lower(), [])]


def domain_macs(dom: Any) -> list[str]:
    """The MAC addresses of a domain's interfaces, from its live definition."""
    root = ET.fromstring(dom.XMLDesc(0))
    return [mac.get("address", "").lower() for mac in root.findall("devices/interface/mac")]


class NeighbourSnapshot:
    """The neighbour table shared by many waiters: read at most once per ``max_age`` seconds, whoever asks."""

    def __init__(
        self,
        max_age: float = POLL_SECONDS / 2,
        reader: Callable[[], dict[str, list[dict[str, Any]]]] = neighbour_table,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self.reader = reader
        self.clock = clock
        self._lock = threading.Lock()
        self._read_at: Optional[float] = None
        self._table: dict[str, list[dict[str, Any]]] = {}
        self.reads = 0

    def table(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.max_age:
                self._table = self.reader()
                self._read_at = now
                self.reads += 1
            return self._table


def best(addresses: list[dict[str, Any]]) -> Optional[str]:
    """The address to reach a guest at: the first IPv4 address (sources in the order given), else IPv6."""
    for family in ("ipv4", "ipv6"):
        for item in addresses:
            if item["family"] == family:
                return item["address"]
    return None


def merge(*groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records of several sources in order, each address once (the first source that saw it wins)."""
    seen: set[str] = set()
    merged = []
    for group in groups:
        for item in group:
            if item["address"] not in seen:
                seen.add(item["address"])
                merged.append(item)
    return merged


def ssh_answers(address: str, port: int, timeout: float = 2.0) -> tuple[bool, str]:
    """Whether an SSH server answers at ``address:port`` (its banner, not just an open port), and what happened."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            try:
                banner = sock.recv(256).decode("ascii", "replace").strip()
            except OSError as exc:
                return False, f"{address}:{port} accepts connections but sent no SSH banner ({exc})"
    except OSError as exc:
        return False, f"{address}:{port} {exc.strerror or exc}"
    if not banner.startswith("SSH-"):
        return False, f"{address}:{port} answers, but not as SSH ({banner[:40]!r})"
    return True, f"{address}:{port} answers ({banner.splitlines()[0]})"


# ---------------------------------------------------------------------------------------------- waiting


def _error_text(exc: Exception) -> str:
    getter = getattr(exc, "get_error_message", None)
    return (getter() if getter else str(exc)) or str(exc)


class Waiter:
    """Polls one running guest until it has an address (and, if asked, its SSH port answers)."""

    def __init__(
        self,
        dom: Any,
        spec: dict[str, Any],
        clock: Callable[[], float] = time.monotonic,
        neighbours: Optional[NeighbourSnapshot] = None,
        pools: Optional[DhcpPools] = None,
    ) -> None:
        self.dom = dom
        self.pools = pools  # set when ``arp`` is asked: addresses only offered by DHCP do not count
        self.neighbours = neighbours  # set for a local hypervisor: ``arp`` from the kernel's table
        self._macs: Optional[list[str]] = None
        self.name = dom.name()
        self.sources = list(spec.get("sources") or SOURCES)
        self.ssh = bool(spec.get("ssh"))
        self.port = int(spec.get("port") or 22)
        self.timeout = float(spec.get("timeout") if spec.get("timeout") is not None else 300)
        self.clock = clock
        self.said: dict[str, str] = {source: "not asked yet" for source in self.sources}
        if self.ssh:
            self.said["ssh"] = "no address to try yet"
        self.addresses: list[dict[str, Any]] = []

    def poll(self) -> bool:
        """One round over every source; True when the guest is ready."""
        lv = require_libvirt()
        found_by: dict[str, list[dict[str, Any]]] = {}
        for source in self.sources:
            try:
                found_by[source] = self._ask(source)
            except lv.libvirtError as exc:
                self.said[source] = _error_text(exc)
        offered: list[str] = []
        if found_by.get("arp") and self.pools is not None:
            found_by["arp"], offered = self.pools.taken(found_by["arp"], self._leases(found_by))
        for source, found in found_by.items():
            self.said[source] = ", ".join(item["address"] for item in found) if found else "no address"
        if offered:
            self.said["arp"] += f" ({', '.join(offered)} offered by DHCP, not leased yet)"
        self.addresses = merge(*found_by.values())
        if not self.addresses:
            return False
        if not self.ssh:
            return True
        notes = []
        for item in self.addresses:
            ok, note = ssh_answers(item["address"], self.port)
            notes.append(note)
            if ok:
                self.said["ssh"] = note
                return True
        self.said["ssh"] = "; ".join(notes)
        return False

    def _leases(self, found_by: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """This guest's leases: as the ``lease`` source answered this round, else asked now."""
        if "lease" in found_by:
            return found_by["lease"]
        try:
            return query(self.dom, "lease")
        except require_libvirt().libvirtError:
            return []

    def _ask(self, source: str) -> list[dict[str, Any]]:
        if source != "arp" or self.neighbours is None:
            return query(self.dom, source)
        try:
            table = self.neighbours.table()
        except OSError:  # as arp_table: libvirt's own ARP source when this host's table cannot be read
            return query(self.dom, source)
        if self._macs is None:
            self._macs = domain_macs(self.dom)
        return by_macs(table, self._macs)

    def run(self) -> dict[str, Any]:
        started = self.clock()
        while True:
            if self.poll():
                return {
                    "addresses": self.addresses,
                    "address": best(self.addresses),
                    "waited": round(self.clock() - started, 1),
                }
            if self.clock() - started >= self.timeout:
                raise KvmFleetError(self.failure(), guest=self.name, tried=dict(self.said))
            time.sleep(POLL_SECONDS)

    def failure(self) -> str:
        what = "address" + (f" answering on port {self.port}" if self.ssh else "")
        tried = "; ".join(f"{source}: {said}" for source, said in self.said.items())
        return f"{self.name}: no {what} within {self.timeout:g} s (tried {tried})"


def _watch(futures: dict[Future[Any], Waiter], timeout: float) -> None:
    """Report which guests are still waited for, until every waiter has ended."""
    began = time.monotonic()
    pending = set(futures)
    while pending:
        names = sorted(futures[future].name for future in pending)
        _progress.report("wait", f"waiting for {', '.join(names)} ({time.monotonic() - began:.0f} of {timeout:.0f} s)")
        _done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)


def wait_all(conn: Any, specs: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, KvmFleetError]]:
    """Wait for every guest of ``specs`` (name -> wait options) at the same time.

    Returns (name -> ``{addresses, address, waited}``, name -> the error of each guest that timed out).
    """
    results: dict[str, dict[str, Any]] = {}
    failures: dict[str, KvmFleetError] = {}
    if not specs:
        return results, failures
    arp = any("arp" in (spec.get("sources") or SOURCES) for spec in specs.values())
    neighbours = NeighbourSnapshot() if arp and is_local_uri(conn.getURI()) else None  # one read per round
    pools = DhcpPools.read(conn) if arp else None
    waiters = [
        Waiter(conn.lookupByName(name), spec, neighbours=neighbours, pools=pools) for name, spec in specs.items()
    ]
    with ThreadPoolExecutor(max_workers=min(MAX_WAITERS, len(waiters))) as pool:
        futures = {pool.submit(waiter.run): waiter for waiter in waiters}
        _watch(futures, max(waiter.timeout for waiter in waiters))
        for future, waiter in futures.items():
            error = future.exception()
            if error is None:
                results[waiter.name] = future.result()
            elif isinstance(error, KvmFleetError):
                failures[waiter.name] = error
            else:
                raise error
    return results, failures
