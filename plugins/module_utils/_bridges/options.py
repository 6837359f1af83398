# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The option table of ``host_bridges`` and every check of its values, against each other and the host.

The table converts types; ``problems`` judges the values (interface names, CIDR addresses, the
gateway's subnet, VLAN ids, MTUs, timeouts) and the host's interfaces, and returns every problem at once,
each with its field (``bridges[0].ports[1]: ...``), before anything on the host is touched.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import CONTROL, Option, OptionTable, Problem

BACKENDS = ("ifupdown", "systemd_networkd", "networkmanager")
STATE_DIR = "/var/lib/kvmfleet/bridges"

_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_IFNAME_RULE = "is not an interface name (at most 15 letters, digits, '_', '.', '-')"

BRIDGE = OptionTable(
    [
        Option("name", required=True),
        Option("ports", type="list", elements="str", default=[]),
        Option("stp", type="bool", default=False),
        Option("forward_delay", type="int", default=0),
        Option("mtu", type="int"),
        Option("addresses", type="list", elements="str", default=[]),
        Option("gateway"),
        Option("dhcp", type="bool", default=False),
    ]
)

VLAN = OptionTable(
    [
        Option("device", required=True),
        Option("id", type="int", required=True),
        Option("name"),
        Option("mtu", type="int"),
    ]
)

HOST_BRIDGES_MODULE = OptionTable(
    [
        Option("bridges", type="list", elements="dict", options=BRIDGE, default=[]),
        Option("vlans", type="list", elements="dict", options=VLAN, default=[]),
        Option("backend", choices=("auto", *BACKENDS), default="auto", update=CONTROL),
        Option("check_targets", type="list", elements="str", default=[], update=CONTROL),
        Option("check_timeout", type="int", default=30, update=CONTROL),
        Option("rollback_timeout", type="int", default=90, update=CONTROL),
        Option("state_dir", default=STATE_DIR, update=CONTROL),
    ]
)


def vlan_name(vlan: dict[str, Any]) -> str:
    """A VLAN's interface name: its own, or ``<device>.<id>``."""
    return str(vlan["name"] or f"{vlan['device']}.{vlan['id']}")


def ipv4(bridge: dict[str, Any]) -> list[str]:
    return [address for address in bridge["addresses"] if ":" not in address]


def ipv6(bridge: dict[str, Any]) -> list[str]:
    return [address for address in bridge["addresses"] if ":" in address]


def _ifname_ok(name: str) -> bool:
    return len(name) <= 15 and bool(_IFNAME.match(name))


def _cidr_problem(text: str) -> Optional[str]:
    address, _sep, prefix = text.partition("/")
    if not prefix or not re.fullmatch(r"[0-9]{1,3}", prefix):
        return f"{text!r} is not an address with a prefix length (192.0.2.10/24, 2001:db8::10/64)"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{address!r} is not an IPv4 or IPv6 address"
    if ip.version == 4 and not 1 <= int(prefix) <= 32:
        return f"{text!r}: an IPv4 prefix length is 1 to 32"
    if ip.version == 6 and not 1 <= int(prefix) <= 128:
        return f"{text!r}: an IPv6 prefix length is 1 to 128"
    return None


def _is_ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def _kind(kind: str) -> str:
    return f"a {kind} interface" if kind else "a physical interface"


def _bridge_problems(
    index: int, bridge: dict[str, Any], values: dict[str, Any], links: dict[str, str], owner: dict[str, str]
) -> list[Problem]:
    f = f"bridges[{index}]"
    names = [b["name"] for b in values["bridges"]]
    vlan_names = [vlan_name(v) for v in values["vlans"]]
    out: list[Problem] = []
    name = bridge["name"]
    if not _ifname_ok(name):
        out.append((f"{f}.name", f"{name!r} {_IFNAME_RULE}"))
    elif name in names[:index]:
        out.append((f"{f}.name", f"{name} is also bridges[{names.index(name)}].name"))
    elif name in vlan_names:
        out.append((f"{f}.name", f"{name} is also the name of vlans[{vlan_names.index(name)}]"))
    elif name in links and links[name] != "bridge":
        out.append((f"{f}.name", f"{name} exists on the host and is {_kind(links[name])}, not a bridge"))
    for i, port in enumerate(bridge["ports"]):
        where = f"{f}.ports[{i}]"
        if port in owner:
            out.append((where, f"{port} is already a port of {owner[port]}"))
        elif port in names:
            out.append((where, f"{port} is a bridge of bridges, not a port"))
        elif port not in links and port not in vlan_names:
            out.append((where, f"no interface {port} on the host, and no VLAN of vlans has that name"))
        owner[port] = f
    for i, address in enumerate(bridge["addresses"]):
        problem = _cidr_problem(address)
        if problem:
            out.append((f"{f}.addresses[{i}]", problem))
    if bridge["dhcp"] and ipv4(bridge):
        out.append((f"{f}.dhcp", f"DHCP and the static IPv4 addresses of {f}.addresses exclude each other"))
    out.extend(_gateway_problems(f, bridge))
    delay = bridge["forward_delay"]
    if not 0 <= delay <= 30:
        out.append((f"{f}.forward_delay", f"{delay} is not between 0 and 30 seconds"))
    elif values["backend"] == "networkmanager" and bridge["stp"] and delay < 2:
        out.append(
            (
                f"{f}.forward_delay",
                "NetworkManager takes 2 to 30 seconds with STP on (with STP off the forward delay is not used)",
            )
        )
    mtu = bridge["mtu"]
    if mtu is not None and not 68 <= mtu <= 65535:
        out.append((f"{f}.mtu", f"{mtu} is not between 68 and 65535"))
    elif mtu is not None and ipv6(bridge) and mtu < 1280:
        out.append((f"{f}.mtu", f"{mtu} is below 1280, the least IPv6 takes, and {f}.addresses has IPv6 addresses"))
    return out


def _gateway_problems(f: str, bridge: dict[str, Any]) -> list[Problem]:
    gateway = bridge["gateway"]
    if gateway is None:
        return []
    if not _is_ipv4(gateway):
        return [(f"{f}.gateway", f"{gateway!r} is not an IPv4 address")]
    if bridge["dhcp"]:
        return [(f"{f}.gateway", "with dhcp the gateway comes from DHCP; leave it out")]
    ip = ipaddress.IPv4Address(gateway)
    inside = [
        address
        for address in ipv4(bridge)
        if not _cidr_problem(address) and ip in ipaddress.ip_interface(address).network
    ]
    if inside:
        return []
    return [(f"{f}.gateway", f"{gateway} is not in the subnet of any IPv4 address of {f}.addresses")]


def _vlan_problems(index: int, vlan: dict[str, Any], values: dict[str, Any], links: dict[str, str]) -> list[Problem]:
    f = f"vlans[{index}]"
    names = [vlan_name(v) for v in values["vlans"]]
    out: list[Problem] = []
    if not 1 <= vlan["id"] <= 4094:
        out.append((f"{f}.id", f"{vlan['id']} is not a VLAN id (1 to 4094)"))
    name = vlan_name(vlan)
    if not _ifname_ok(name):
        default = "" if vlan["name"] else " (the default <device>.<id>)"
        out.append((f"{f}.name", f"{name!r}{default} {_IFNAME_RULE}; give a shorter name"))
    elif name in names[:index]:
        out.append((f"{f}.name", f"{name} is also vlans[{names.index(name)}].name"))
    if vlan["device"] not in links:
        out.append((f"{f}.device", f"no interface {vlan['device']} on the host"))
    if vlan["mtu"] is not None and not 68 <= vlan["mtu"] <= 65535:
        out.append((f"{f}.mtu", f"{vlan['mtu']} is not between 68 and 65535"))
    return out


def problems(values: dict[str, Any], links: dict[str, str]) -> list[Problem]:
    """Every problem of ``values`` (the table's output, ``backend`` resolved), against each other and the
    host's interfaces ``links`` (name -> kind: ``bridge``, ``veth``, ``vlan``... or ``""`` for a NIC)."""
    out: list[Problem] = []
    owner: dict[str, str] = {}
    for index, bridge in enumerate(values["bridges"]):
        out.extend(_bridge_problems(index, bridge, values, links, owner))
    for index, vlan in enumerate(values["vlans"]):
        out.extend(_vlan_problems(index, vlan, values, links))
    if values["bridges"] and not values["check_targets"]:
        out.append(
            ("check_targets", "give the addresses the host must still reach after a change (gateway, controller)")
        )
    for index, target in enumerate(values["check_targets"]):
        try:
            ipaddress.ip_address(target)
        except ValueError:
            out.append((f"check_targets[{index}]", f"{target!r} is not an IPv4 or IPv6 address"))
    if values["check_timeout"] < 1:
        out.append(("check_timeout", f"{values['check_timeout']} is less than 1 second"))
    if values["rollback_timeout"] <= values["check_timeout"]:
        out.append(
            (
                "rollback_timeout",
                f"{values['rollback_timeout']} must be more than check_timeout ({values['check_timeout']})",
            )
        )
    return out
