# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt network's option table: every user-facing option, its type, normaliser, comparison and
how a change reaches a running network (live through the network update API, or only by a restart).

Definition options have no Ansible default: an unset option is not managed, so an existing network is
compared only on what the user set. ``create_default`` values apply only when a network is created.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Optional, Union

from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    IMPOSSIBLE,
    LIVE,
    UNORDERED,
    Option,
    OptionError,
    OptionTable,
    Problem,
    connection_options,
    join_path,
    mac_address,
    object_name,
)

# A change to a running network that only a restart (destroy + start) applies.
RESTART = "restart"

FORWARD_MODES = ("nat", "route", "open", "isolated", "bridge", "macvtap", "hostdev")
ROUTED = ("nat", "route", "open", "isolated")  # libvirt creates the bridge, runs dnsmasq
MACVTAP_MODES = ("bridge", "vepa", "private", "passthrough")

_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,14}$")
_DNS = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)

IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# ---------------------------------------------------------------------------------------------- normalisers


network_name = object_name("network")


def interface_name(value: str) -> str:
    if not _IFNAME.match(value) or value in (".", ".."):
        raise OptionError(f"{value!r} is not a Linux interface name (1 to 15 characters, no '/' or spaces)")
    return value


def dns_name(value: str) -> str:
    if not _DNS.match(value):
        raise OptionError(f"{value!r} is not a DNS name (letters, digits and '-', labels joined by '.')")
    return value.lower()


def ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise OptionError(f"{value!r} is not an IP address") from None


def interface_address(value: str) -> str:
    """``192.168.50.1/24`` (the network's own address and prefix) in its canonical spelling."""
    if "/" not in value:
        raise OptionError(f"{value!r} needs a prefix length, such as 192.168.50.1/24 or fd00:50::1/64")
    try:
        iface = ipaddress.ip_interface(value.strip())
    except ValueError:
        raise OptionError(f"{value!r} is not an address with a prefix length such as 192.168.50.1/24") from None
    net = iface.network
    own = net.network_address if iface.version == 6 else (net.network_address, net.broadcast_address)
    if net.num_addresses > 2 and iface.ip in (own if isinstance(own, tuple) else (own,)):
        raise OptionError(f"{value!r} is the network's own (or broadcast) address, not a host address in it")
    return str(iface)


# ---------------------------------------------------------------------------------------------- sub-tables

DHCP_RANGE = OptionTable(
    [
        Option("start", required=True, normalize=ip_address),
        Option("end", required=True, normalize=ip_address),
    ]
)


def _dhcp_host_checks(host: dict[str, Any], path: str) -> list[Problem]:
    if host["mac"] is None and host["name"] is None and host["id"] is None:
        return [(path, "give mac (IPv4), id (IPv6 DUID) or name to say which client gets the address")]
    return []


DHCP_HOST = OptionTable(
    [
        Option("mac", normalize=mac_address),
        Option("id"),
        Option("name", normalize=dns_name),
        Option("ip", required=True, normalize=ip_address),
    ],
    checks=[_dhcp_host_checks],
)

IP = OptionTable(
    [
        Option("address", required=True, normalize=interface_address, update=RESTART),
        Option("dhcp_ranges", type="list", elements="dict", options=DHCP_RANGE, update=RESTART),
        Option("dhcp_hosts", type="list", elements="dict", options=DHCP_HOST, compare=UNORDERED, update=LIVE),
    ]
)


def _dns_host_normalize(host: dict[str, Any]) -> dict[str, Any]:
    return {"ip": host["ip"], "hostnames": sorted(set(host["hostnames"]))}


DNS_HOST = OptionTable(
    [
        Option("ip", required=True, normalize=ip_address),
        Option(
            "hostnames",
            type="list",
            elements="str",
            required=True,
            normalize=lambda names: [dns_name(name) for name in names],
        ),
    ]
)

# ---------------------------------------------------------------------------------------------- checks


def _ranges_and_hosts(family: str, ip: dict[str, Any], path: str) -> list[Problem]:
    """Ranges inside the subnet, in order, not overlapping, not holding the network's own address;
    fixed hosts inside the subnet, with the identity their family needs, no duplicates."""
    problems: list[Problem] = []
    iface = ipaddress.ip_interface(ip["address"])
    version = 4 if family == "ipv4" else 6
    if iface.version != version:
        problems.append((join_path(path, "address"), f"{ip['address']} is not an IPv{version} address"))
        return problems
    subnet = iface.network
    spans: list[tuple[int, int]] = []
    for index, span in enumerate(ip["dhcp_ranges"] or []):
        where = f"{join_path(path, 'dhcp_ranges')}[{index}]"
        start, end = ipaddress.ip_address(span["start"]), ipaddress.ip_address(span["end"])
        bad = False
        for key, addr in (("start", start), ("end", end)):
            if addr.version != version or addr not in subnet:
                problems.append((f"{where}.{key}", f"{addr} is outside the network {subnet}"))
                bad = True
        if bad:
            continue
        if int(start) > int(end):
            problems.append((where, f"start {start} is after end {end}"))
            continue
        if int(start) <= int(iface.ip) <= int(end):
            problems.append((where, f"the range holds the network's own address {iface.ip}"))
        for other_index, (other_start, other_end) in enumerate(spans):
            if int(start) <= other_end and other_start <= int(end):
                problems.append((where, f"{start}-{end} overlaps {join_path(path, 'dhcp_ranges')}[{other_index}]"))
        spans.append((int(start), int(end)))
    seen: dict[tuple[str, str], int] = {}
    for index, host in enumerate(ip["dhcp_hosts"] or []):
        where = f"{join_path(path, 'dhcp_hosts')}[{index}]"
        addr = ipaddress.ip_address(host["ip"])
        if addr.version != version or addr not in subnet:
            problems.append((f"{where}.ip", f"{addr} is outside the network {subnet}"))
        elif addr == iface.ip:
            problems.append((f"{where}.ip", f"{addr} is the network's own address"))
        if version == 4 and host["id"] is not None:
            problems.append((f"{where}.id", "a DUID identifies IPv6 clients; IPv4 hosts are matched by mac or name"))
        if version == 6 and host["mac"] is not None:
            problems.append((f"{where}.mac", "libvirt matches IPv6 clients by id (DUID) or name, not by MAC"))
        for key in ("mac", "id", "name", "ip"):
            value = host[key]
            if value is None:
                continue
            if (key, value) in seen:
                problems.append(
                    (
                        f"{where}.{key}",
                        f"{value} is also the {key} of {join_path(path, 'dhcp_hosts')}[{seen[key, value]}]",
                    )
                )
            else:
                seen[key, value] = index
    return problems


def _network_checks(net: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []

    def at(name: str) -> str:
        return join_path(path, name)

    forward = net["forward"]
    for family in ("ipv4", "ipv6"):
        if net[family] is not None:
            problems.extend(_ranges_and_hosts(family, net[family], at(family)))
    if forward in ("bridge", "macvtap", "hostdev"):
        for key in ("ipv4", "ipv6", "domain", "dns_hosts", "mtu", "forward_dev"):
            if net[key] is not None:
                problems.append(
                    (
                        at(key),
                        f"forward {forward} connects guests to the host's network directly: "
                        f"libvirt runs no DHCP/DNS and sets no {key} for it",
                    )
                )
    if forward == "bridge" and net["bridge"] is None:
        problems.append((at("bridge"), "forward bridge needs the name of an existing host bridge"))
    if forward == "macvtap" and not net["interfaces"]:
        problems.append((at("interfaces"), "forward macvtap needs one or more host interfaces"))
    if forward == "hostdev" and net["pf"] is None:
        problems.append((at("pf"), "forward hostdev needs the SR-IOV physical function (pf)"))
    if net["interfaces"] is not None and forward not in ("macvtap", None):
        problems.append((at("interfaces"), "interfaces apply to forward macvtap only"))
    if net["macvtap_mode"] is not None and forward not in ("macvtap", None):
        problems.append((at("macvtap_mode"), "macvtap_mode applies to forward macvtap only"))
    if net["pf"] is not None and forward not in ("hostdev", None):
        problems.append((at("pf"), "pf applies to forward hostdev only"))
    if net["forward_dev"] is not None and forward in ("isolated", "open"):
        problems.append((at("forward_dev"), f"forward {forward} sends no traffic out of an interface"))
    if forward in ("macvtap", "hostdev") and net["bridge"] is not None:
        problems.append((at("bridge"), f"forward {forward} uses no bridge"))
    return problems


def network_options() -> list[Option]:
    return [
        Option("name", required=True, normalize=network_name, update=IMPOSSIBLE),
        Option("forward", choices=FORWARD_MODES, update=RESTART, create_default="nat"),
        Option("bridge", normalize=interface_name, update=RESTART),
        Option("forward_dev", normalize=interface_name, update=RESTART),
        Option(
            "interfaces",
            type="list",
            elements="str",
            normalize=lambda names: [interface_name(name) for name in names],
            update=RESTART,
        ),
        Option("macvtap_mode", choices=MACVTAP_MODES, update=RESTART),
        Option("pf", normalize=interface_name, update=RESTART),
        Option("mtu", type="int", minimum=68, maximum=65535, update=RESTART),
        Option("domain", normalize=dns_name, update=RESTART),
        Option("ipv4", type="dict", options=IP, update=RESTART),
        Option("ipv6", type="dict", options=IP, update=RESTART),
        Option(
            "dns_hosts",
            type="list",
            elements="dict",
            options=DNS_HOST,
            compare=UNORDERED,
            update=LIVE,
            normalize=lambda hosts: [_dns_host_normalize(host) for host in hosts],
        ),
        Option("autostart", type="bool", update=LIVE),
        Option("state", choices=("present", "active", "inactive", "absent"), default="active", update=CONTROL),
        Option("restart", type="bool", default=False, update=CONTROL),
    ]


NETWORK_MODULE = OptionTable([*connection_options(), *network_options()], checks=[_network_checks])


def subnet_of(ip: Optional[dict[str, Any]]) -> Optional[IPNetwork]:
    return ipaddress.ip_interface(ip["address"]).network if ip else None
