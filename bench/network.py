# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: one libvirt NAT network with DHCP, three ways in the same run, on the real libvirtd.

  ours     kvmfleet.kvm.network: one task declares the network, its DHCP hosts, autostart and state
  c.l      community.libvirt.virt_net (from the `ansible` package) as its users drive it: define with
           an XML blob, then state active, then autostart (three tasks); a DHCP host is added with
           `command: modify`
  raw      libvirt-python calls in this process: the floor

Measured, each REPEAT times on fresh networks: create (define + start + autostart); a no-op rerun;
one DHCP host added live. Isolated networks on free subnets, removed afterwards.

Usage: bench/run-network.sh [--repeat 5]   (results in bench/results/)
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import platform
import secrets
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import kvmtest  # noqa: E402
import libvirt  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def free_subnets(conn: Any, count: int) -> list[ipaddress.IPv4Network]:
    used = kvmtest.run_cmd(["ip", "-4", "route", "show", "table", "all"])
    taken = [ipaddress.ip_network(w, strict=False) for line in used.splitlines() for w in line.split()[:1] if "/" in w]
    for net in conn.listAllNetworks():
        for ip in ET.fromstring(net.XMLDesc()).findall("ip"):
            if ip.get("family", "ipv4") == "ipv4":
                taken.append(ipaddress.ip_network(f"{ip.get('address')}/24", strict=False))
    out = []
    for third in range(10, 250):
        subnet = ipaddress.ip_network(f"10.253.{third}.0/24")
        if not any(subnet.overlaps(other) for other in taken):
            out.append(subnet)
        if len(out) == count:
            return out
    raise SystemExit("not enough free /24 in 10.253.0.0/16")


def xml(name: str, subnet: ipaddress.IPv4Network) -> str:
    hosts = list(subnet.hosts())
    return (
        f"<network><name>{name}</name><forward mode='nat'/>"
        f"<ip address='{hosts[0]}' netmask='{subnet.netmask}'><dhcp>"
        f"<range start='{hosts[99]}' end='{hosts[199]}'/>"
        f"<host mac='52:54:00:00:00:05' name='web1' ip='{hosts[4]}'/></dhcp></ip></network>"
    )


def ours_task(name: str, subnet: ipaddress.IPv4Network, extra_host: bool) -> dict[str, Any]:
    hosts = list(subnet.hosts())
    dhcp_hosts = [{"mac": "52:54:00:00:00:05", "name": "web1", "ip": str(hosts[4])}]
    if extra_host:
        dhcp_hosts.append({"mac": "52:54:00:00:00:06", "name": "web2", "ip": str(hosts[5])})
    return {
        "name": "net",
        "kvmfleet.kvm.network": {
            "name": name,
            "forward": "nat",
            "ipv4": {
                "address": f"{hosts[0]}/{subnet.prefixlen}",
                "dhcp_ranges": [{"start": str(hosts[99]), "end": str(hosts[199])}],
                "dhcp_hosts": dhcp_hosts,
            },
            "autostart": True,
        },
    }


def cl_tasks(name: str, subnet: ipaddress.IPv4Network) -> list[dict[str, Any]]:
    return [
        {"name": "define", "community.libvirt.virt_net": {"name": name, "command": "define", "xml": xml(name, subnet)}},
        {"name": "active", "community.libvirt.virt_net": {"name": name, "state": "active"}},
        {"name": "autostart", "community.libvirt.virt_net": {"name": name, "autostart": True}},
    ]


def cl_modify(name: str, subnet: ipaddress.IPv4Network) -> list[dict[str, Any]]:
    host = list(subnet.hosts())[5]
    return [
        {
            "name": "modify",
            "community.libvirt.virt_net": {
                "name": name,
                "command": "modify",
                "xml": f"<host mac='52:54:00:00:00:06' name='web2' ip='{host}'/>",
            },
        }
    ]


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def play(tasks: list[dict[str, Any]]) -> None:
    result = kvmtest.run_playbook(tasks)
    failed = [r for _n, r in result.tasks if r.get("failed")]
    if result.rc != 0 or failed:
        raise SystemExit(f"play failed: {failed or result.stderr[-2000:]}")


def raw_ops(conn: Any, name: str, subnet: ipaddress.IPv4Network) -> dict[str, Callable[[], Any]]:
    def create() -> None:
        net = conn.networkDefineXML(xml(name, subnet))
        net.create()
        net.setAutostart(1)

    def rerun() -> None:
        net = conn.networkLookupByName(name)
        net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
        net.isActive()
        net.autostart()

    def add_host() -> None:
        conn.networkLookupByName(name).update(
            libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
            libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST,
            -1,
            f"<host mac='52:54:00:00:00:06' name='web2' ip='{list(subnet.hosts())[5]}'/>",
            libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG,
        )

    return {"create": create, "rerun": rerun, "dhcp_host": add_host}


def operations(conn: Any, way: str, name: str, subnet: ipaddress.IPv4Network) -> dict[str, Callable[[], Any]]:
    """The three measured steps of one way, in order, on one fresh network."""
    if way == "ours":
        return {
            "create": lambda: play([ours_task(name, subnet, False)]),
            "rerun": lambda: play([ours_task(name, subnet, False)]),
            "dhcp_host": lambda: play([ours_task(name, subnet, True)]),
        }
    if way == "c.l":
        return {
            "create": lambda: play(cl_tasks(name, subnet)),
            "rerun": lambda: play(cl_tasks(name, subnet)),
            "dhcp_host": lambda: play(cl_modify(name, subnet)),
        }
    return raw_ops(conn, name, subnet)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    conn = libvirt.open(kvmtest.SYSTEM_URI)
    prefix = f"{kvmtest.TEST_PREFIX}bench-{secrets.token_hex(3)}-"
    times: dict[str, dict[str, list[float]]] = {}
    noop = [{"name": "nothing", "ansible.builtin.meta": "noop"}]
    empty = statistics.median(timed(lambda: play(noop)) for _attempt in range(3))
    try:
        for index in range(args.repeat):
            for way, subnet in zip(("ours", "c.l", "raw"), free_subnets(conn, 3)):
                name = f"{prefix}{way.replace('.', '')}{index}"
                for measure, run in operations(conn, way, name, subnet).items():
                    times.setdefault(measure, {}).setdefault(way, []).append(timed(run))
            kvmtest.remove_prefixed(conn, prefix)
    finally:
        kvmtest.remove_prefixed(conn, prefix)
    stamp = datetime.now(timezone.utc)
    rows = []
    for measure, ways in times.items():
        med = {way: statistics.median(values) for way, values in ways.items()}
        rows.append(
            f"| {measure} | {med['ours']:.2f} | {med['c.l']:.2f} | {med['raw']:.3f} | "
            f"{med['c.l'] / med['ours']:.1f}x | {med['ours'] / empty:.2f}x |"
        )
    table = "\n".join(
        [
            f"# network benchmark, {stamp.isoformat(timespec='seconds')}",
            "",
            f"one NAT network with a DHCP range and a fixed host; median of {args.repeat} runs on fresh networks; "
            f"{platform.node()}",
            "",
            f"empty play on localhost: {empty:.2f} s",
            "",
            "| measure | ours (s) | c.l (s) | raw (s) | c.l / ours | ours / empty play |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "create: define + start + autostart (c.l: three tasks, as its docs show); rerun: the same again, "
            "no change; dhcp_host: one fixed DHCP host added to the running network, live and persistent.",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"network-{stamp:%Y%m%d-%H%M%S}.json").write_text(json.dumps(times, indent=2))
    (RESULTS / "network-latest.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
