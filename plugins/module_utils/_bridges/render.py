# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What each backend's configuration files say for the bridges and VLANs, and where they are installed.

``render`` returns the complete configuration of the collection's files by name (for ifupdown also the
host's ``/etc/network/interfaces`` with the stanzas of the ports the bridges take over commented out, so
the address of an uplink can move onto a bridge). Standard library only.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._bridges.options import ipv4, ipv6, vlan_name

HEADER = "# Managed by kvmfleet.kvm.host_bridges: a change by hand is undone by the next run\n"
TAKEN_OVER = "# kvmfleet.kvm.bridges took over: "

ETC = "/etc/network"
MAIN = f"{ETC}/interfaces"
NETD = "/etc/systemd/network"
NMDIR = "/etc/NetworkManager/system-connections"


def install_path(backend: str, name: str) -> str:
    """Where the file ``name`` of a configuration is installed."""
    if backend == "ifupdown":
        return MAIN if name == "interfaces" else f"{ETC}/interfaces.d/{name}"
    return f"{NETD if backend == 'systemd_networkd' else NMDIR}/{name}"


def _lines(*lines: str) -> str:
    return "".join(f"{line}\n" for line in lines)


def _port_maps(values: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    bridge_of: dict[str, str] = {}
    mtu_of: dict[str, Any] = {}
    for bridge in values["bridges"]:
        for port in bridge["ports"]:
            bridge_of[port] = bridge["name"]
            mtu_of[port] = bridge["mtu"]
    return bridge_of, mtu_of


def ports(values: dict[str, Any]) -> list[str]:
    """Every interface the bridges take over, each once, in order."""
    return list(dict.fromkeys(port for bridge in values["bridges"] for port in bridge["ports"]))


def plain_ports(values: dict[str, Any]) -> list[str]:
    """The ports that are not VLAN sub-interfaces of ``vlans``, each once, in order."""
    vlans = {vlan_name(v) for v in values["vlans"]}
    ports = [port for bridge in values["bridges"] for port in bridge["ports"] if port not in vlans]
    return list(dict.fromkeys(ports))


def interfaces(values: dict[str, Any], backend: str) -> list[str]:
    """The interfaces the configuration declares (and the switch takes down and brings up)."""
    vlans = [vlan_name(v) for v in values["vlans"]]
    bridges = [b["name"] for b in values["bridges"]]
    if backend == "ifupdown":
        return list(dict.fromkeys([*vlans, *plain_ports(values), *bridges]))
    return [*bridges, *vlans] if backend == "networkmanager" else [*vlans, *bridges]


def _mtu(key: str, mtu: Any, section: str = "", sep: str = "=") -> list[str]:
    """The MTU line (after a blank line and ``section`` when given), or nothing when it is not set."""
    if mtu is None:
        return []
    return [*(["", section] if section else []), f"{key}{sep}{mtu}"]


def _networkd(values: dict[str, Any]) -> dict[str, str]:
    files: dict[str, str] = {}
    bridge_of, mtu_of = _port_maps(values)
    vlans_of: dict[str, list[str]] = {}
    for vlan in values["vlans"]:
        vlans_of.setdefault(vlan["device"], []).append(vlan_name(vlan))
        files[f"60-kvmfleet-{vlan_name(vlan)}.netdev"] = HEADER + _lines(
            "[NetDev]", f"Name={vlan_name(vlan)}", "Kind=vlan", *_mtu("MTUBytes", vlan["mtu"]),
            "", "[VLAN]", f"Id={vlan['id']}",
        )  # fmt: skip
    for device in sorted(set(bridge_of) | set(vlans_of)):
        files[f"10-kvmfleet-port-{device}.network"] = HEADER + _lines(
            "[Match]", f"Name={device}", "", "[Network]",
            *([f"Bridge={bridge_of[device]}"] if device in bridge_of else []),
            *[f"VLAN={vlan}" for vlan in vlans_of.get(device, [])],
            "LinkLocalAddressing=no", "ConfigureWithoutCarrier=yes",
            *_mtu("MTUBytes", mtu_of.get(device), "[Link]"),
        )  # fmt: skip
    for bridge in values["bridges"]:
        name = bridge["name"]
        files[f"60-kvmfleet-{name}.netdev"] = HEADER + _lines(
            "[NetDev]", f"Name={name}", "Kind=bridge", *_mtu("MTUBytes", bridge["mtu"]),
            "", "[Bridge]", f"STP={'yes' if bridge['stp'] else 'no'}", f"ForwardDelaySec={bridge['forward_delay']}",
        )  # fmt: skip
        files[f"60-kvmfleet-{name}.network"] = HEADER + _lines(
            "[Match]", f"Name={name}", "", "[Network]", f"DHCP={'ipv4' if bridge['dhcp'] else 'no'}",
            "ConfigureWithoutCarrier=yes", *[f"Address={a}" for a in ipv4(bridge) + ipv6(bridge)],
            *([f"Gateway={bridge['gateway']}"] if bridge["gateway"] is not None else []),
            *_mtu("MTUBytes", bridge["mtu"], "[Link]"),
        )  # fmt: skip
    return files


def _ifupdown_stanzas(values: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for vlan in values["vlans"]:
        name = vlan_name(vlan)
        lines += ["", f"# VLAN {vlan['id']} on {vlan['device']}", f"iface {name} inet manual",
                  f"    vlan-raw-device {vlan['device']}", *_mtu("    mtu", vlan["mtu"], sep=" ")]  # fmt: skip
    plain = plain_ports(values)
    for bridge in values["bridges"]:
        for port in bridge["ports"]:
            if port in plain:
                lines += ["", f"iface {port} inet manual", *_mtu("    mtu", bridge["mtu"], sep=" ")]
    for bridge in values["bridges"]:
        name, v6 = bridge["name"], ipv6(bridge)
        method = "dhcp" if bridge["dhcp"] else ("static" if ipv4(bridge) else "manual")
        lines += [
            "", f"auto {name}", f"iface {name} inet {method}", *[f"    address {a}" for a in ipv4(bridge)],
            *([f"    gateway {bridge['gateway']}"] if bridge["gateway"] is not None and not bridge["dhcp"] else []),
            f"    bridge_ports {' '.join(bridge['ports']) if bridge['ports'] else 'none'}",
            f"    bridge_stp {'on' if bridge['stp'] else 'off'}", f"    bridge_fd {bridge['forward_delay']}",
            *_mtu("    mtu", bridge["mtu"], sep=" "),
            *([f"iface {name} inet6 static"] if v6 else []), *[f"    address {a}" for a in v6],
        ]  # fmt: skip
    return lines


def taken_over(main: str, ports: list[str]) -> str:
    """``/etc/network/interfaces`` with the stanzas (and ``auto``/``allow-*`` words) of ``ports`` commented out."""
    out: list[str] = []
    skipping = False
    for line in main.splitlines():
        words = line.split()
        if re.match(r"^[ \t]*(auto|allow-[a-z]+)[ \t]", line):
            keep = [word for word in words[1:] if word not in ports]
            if len(keep) == len(words) - 1:
                out.append(line)
                continue
            out.append(TAKEN_OVER + line)
            if keep:
                out.append(" ".join([words[0], *keep]))
            continue
        if re.match(r"^[ \t]*iface[ \t]", line):
            skipping = words[1] in ports
        if re.match(r"^[ \t]*(source|source-directory|mapping|auto|allow-)", line):
            skipping = False
        out.append(TAKEN_OVER + line if skipping else line)
    return _lines(*out)


def _networkmanager(values: dict[str, Any]) -> dict[str, str]:
    files: dict[str, str] = {}
    bridge_of, mtu_of = _port_maps(values)
    for bridge in values["bridges"]:
        name, v4, v6 = bridge["name"], ipv4(bridge), ipv6(bridge)
        if bridge["dhcp"]:
            ipv4_lines = ["method=auto"]
        elif v4:
            ipv4_lines = ["method=manual", *[f"address{i}={a}" for i, a in enumerate(v4, 1)],
                          *([f"gateway={bridge['gateway']}"] if bridge["gateway"] is not None else [])]  # fmt: skip
        else:
            ipv4_lines = ["method=disabled"]
        ipv6_lines = ["method=manual", *[f"address{i}={a}" for i, a in enumerate(v6, 1)]] if v6 else ["method=disabled"]
        files[f"kvmfleet-bridge-{name}.nmconnection"] = HEADER + _lines(
            "[connection]", f"id=kvmfleet-bridge-{name}", "type=bridge", f"interface-name={name}", "autoconnect=true",
            "", "[bridge]", f"stp={'true' if bridge['stp'] else 'false'}",
            *([f"forward-delay={bridge['forward_delay']}"] if bridge["stp"] else []),
            *_mtu("mtu", bridge["mtu"], "[ethernet]"), "", "[ipv4]", *ipv4_lines, "", "[ipv6]", *ipv6_lines,
        )  # fmt: skip
    for vlan in values["vlans"]:
        name = vlan_name(vlan)
        master = bridge_of.get(name)
        mtu = vlan["mtu"] or mtu_of.get(name)
        files[f"kvmfleet-vlan-{name}.nmconnection"] = HEADER + _lines(
            "[connection]", f"id=kvmfleet-vlan-{name}", "type=vlan", f"interface-name={name}", "autoconnect=true",
            *([f"master={master}", "slave-type=bridge"] if master else []),
            "", "[vlan]", f"parent={vlan['device']}", f"id={vlan['id']}", *_mtu("mtu", mtu, "[ethernet]"),
            *([] if master else ["", "[ipv4]", "method=disabled", "", "[ipv6]", "method=disabled"]),
        )  # fmt: skip
    for port in plain_ports(values):
        files[f"kvmfleet-port-{port}.nmconnection"] = HEADER + _lines(
            "[connection]", f"id=kvmfleet-port-{port}", "type=ethernet", f"interface-name={port}",
            f"master={bridge_of[port]}", "slave-type=bridge", "autoconnect=true", "autoconnect-priority=100",
            *_mtu("mtu", mtu_of.get(port), "[ethernet]"),
        )  # fmt: skip
    return files


def render(values: dict[str, Any], backend: str, main: Optional[str] = None) -> dict[str, str]:
    """The configuration files by name. ``main``: the text of ``/etc/network/interfaces`` (ifupdown; None
    when the host has none)."""
    if backend == "systemd_networkd":
        return _networkd(values)
    if backend == "networkmanager":
        return _networkmanager(values)
    header = "# kvmfleet.kvm.bridges - host bridges for libvirt guests (ifupdown); applied with an automatic rollback"
    files = {"kvmfleet-bridges": HEADER + _lines(header, *_ifupdown_stanzas(values))}
    if main is not None:
        files["interfaces"] = taken_over(main, ports(values))
    return files
