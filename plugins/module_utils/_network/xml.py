# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt network XML <-> the option table's normalised shape. Standard library only.

``read`` turns a network definition into the table's shape. Each writer patches only its part of a
definition tree, so an update keeps what libvirt filled in (UUID, bridge name, MAC, NAT port range).
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._network.options import MACVTAP_MODES

DHCP_HOST_KEYS = ("mac", "id", "name", "ip")


def _address(ip: ET.Element) -> Optional[str]:
    address = ip.get("address")
    if address is None:
        return None
    if ip.get("prefix") is not None:
        return str(ipaddress.ip_interface(f"{address}/{ip.get('prefix')}"))
    if ip.get("netmask") is not None:
        return str(ipaddress.ip_interface(f"{address}/{ip.get('netmask')}"))
    return str(ipaddress.ip_interface(f"{address}/{24 if ':' not in address else 64}"))


def _family(ip: ET.Element) -> str:
    return "ipv6" if ip.get("family") == "ipv6" or ":" in (ip.get("address") or "") else "ipv4"


def dhcp_host(host: ET.Element) -> dict[str, Any]:
    values = {key: host.get(key) for key in DHCP_HOST_KEYS}
    if values["mac"]:
        values["mac"] = values["mac"].lower()
    if values["ip"]:
        values["ip"] = str(ipaddress.ip_address(values["ip"]))
    if values["name"]:
        values["name"] = values["name"].lower()
    return values


def read_ip(ip: ET.Element) -> dict[str, Any]:
    return {
        "address": _address(ip),
        "dhcp_ranges": [
            {"start": str(ipaddress.ip_address(r.get("start", ""))), "end": str(ipaddress.ip_address(r.get("end", "")))}
            for r in ip.findall("dhcp/range")
        ],
        "dhcp_hosts": [dhcp_host(host) for host in ip.findall("dhcp/host")],
    }


def read_forward(root: ET.Element) -> dict[str, Any]:
    fwd = root.find("forward")
    bridge = root.find("bridge")
    out: dict[str, Any] = {
        "forward": "isolated",
        "bridge": bridge.get("name") if bridge is not None else None,
        "forward_dev": None,
        "interfaces": None,
        "macvtap_mode": None,
        "pf": None,
    }
    if fwd is None:
        return out
    mode = fwd.get("mode", "nat")
    if mode in ("nat", "route", "open"):
        out["forward"] = mode
        out["forward_dev"] = fwd.get("dev")
    elif mode == "hostdev":
        out["forward"] = "hostdev"
        pf = fwd.find("pf")
        out["pf"] = pf.get("dev") if pf is not None else None
    elif mode == "bridge" and bridge is not None:
        out["forward"] = "bridge"
    elif mode in MACVTAP_MODES:
        out["forward"] = "macvtap"
        out["macvtap_mode"] = mode
        out["interfaces"] = [iface.get("dev", "") for iface in fwd.findall("interface")]
        if not out["interfaces"] and fwd.get("dev"):
            out["interfaces"] = [fwd.get("dev")]
    else:
        out["forward"] = mode
    return out


def read(xml: str) -> dict[str, Any]:
    """A network definition in the table's shape (every managed option, None when absent)."""
    root = ET.fromstring(xml)
    values: dict[str, Any] = {"name": root.findtext("name")}
    values.update(read_forward(root))
    mtu = root.find("mtu")
    values["mtu"] = int(mtu.get("size", "0")) if mtu is not None else None
    domain = root.find("domain")
    values["domain"] = domain.get("name", "").lower() if domain is not None else None
    values["ipv4"] = values["ipv6"] = None
    for ip in root.findall("ip"):
        family = _family(ip)
        if values[family] is None:  # the module manages the first address of each family
            values[family] = read_ip(ip)
    values["dns_hosts"] = [
        {
            "ip": str(ipaddress.ip_address(host.get("ip", ""))),
            "hostnames": sorted({n.text.lower() for n in host.findall("hostname") if n.text}),
        }
        for host in root.findall("dns/host")
    ]
    return values


# ---------------------------------------------------------------------------------------------- writers


def skeleton(name: str) -> ET.Element:
    root = ET.Element("network")
    ET.SubElement(root, "name").text = name
    return root


def _place(root: ET.Element, element: ET.Element, after: tuple[str, ...]) -> None:
    """Insert ``element`` after the last child named in ``after`` (libvirt does not mind, humans read it)."""
    index = 0
    for position, child in enumerate(list(root)):
        if child.tag in after:
            index = position + 1
    root.insert(index, element)


def _drop(root: ET.Element, *tags: str) -> None:
    for tag in tags:
        for child in root.findall(tag):
            root.remove(child)


def write_forward(root: ET.Element, want: dict[str, Any]) -> None:
    """The forward mode and what belongs to it: the bridge, the outgoing device, interfaces, pf."""
    mode = want["forward"]
    old = root.find("forward")
    old_nat = old.find("nat") if old is not None and old.get("mode", "nat") == "nat" else None
    _drop(root, "forward")
    if mode in ("bridge", "macvtap", "hostdev"):
        # guests join the host's network directly: libvirt refuses addresses, DNS and a MAC here
        _drop(root, "ip", "dns", "domain", "mac", "mtu")
        if mode != "bridge":
            _drop(root, "bridge")
    if mode == "isolated":
        pass
    else:
        fwd = ET.Element("forward")
        if mode in ("nat", "route", "open"):
            fwd.set("mode", mode)
            if want["forward_dev"]:
                fwd.set("dev", want["forward_dev"])
            if mode == "nat" and old_nat is not None:
                fwd.append(old_nat)
        elif mode == "bridge":
            fwd.set("mode", "bridge")
        elif mode == "macvtap":
            fwd.set("mode", want["macvtap_mode"] or "bridge")
            for dev in want["interfaces"] or []:
                ET.SubElement(fwd, "interface", dev=dev)
        elif mode == "hostdev":
            fwd.set("mode", "hostdev")
            fwd.set("managed", "yes")
            ET.SubElement(fwd, "pf", dev=want["pf"])
        _place(root, fwd, ("name", "uuid", "metadata"))
    if mode in ("nat", "route", "open", "isolated", "bridge"):
        bridge = root.find("bridge")
        if want["bridge"]:
            if bridge is None:
                bridge = ET.Element("bridge")
                _place(root, bridge, ("name", "uuid", "metadata", "forward"))
            bridge.set("name", want["bridge"])
            if mode == "bridge":
                for attr in ("stp", "delay"):
                    bridge.attrib.pop(attr, None)
        elif bridge is not None and mode in ("nat", "route", "open", "isolated") and bridge.get("name") is None:
            root.remove(bridge)


def write_mtu(root: ET.Element, mtu: int) -> None:
    element = root.find("mtu")
    if element is None:
        element = ET.Element("mtu")
        _place(root, element, ("name", "uuid", "metadata", "forward", "bridge", "mac"))
    element.set("size", str(mtu))


def write_domain(root: ET.Element, domain: str) -> None:
    element = root.find("domain")
    if element is None:
        element = ET.Element("domain")
        _place(root, element, ("name", "uuid", "metadata", "forward", "bridge", "mac", "mtu"))
    element.set("name", domain)


def dhcp_host_xml(host: dict[str, Any]) -> ET.Element:
    element = ET.Element("host")
    for key in DHCP_HOST_KEYS:
        if host.get(key) is not None:
            element.set(key, host[key])
    return element


def dns_host_xml(host: dict[str, Any]) -> ET.Element:
    element = ET.Element("host", ip=host["ip"])
    for name in host["hostnames"]:
        ET.SubElement(element, "hostname").text = name
    return element


def write_ip(root: ET.Element, family: str, ip: dict[str, Any]) -> None:
    """The first <ip> of ``family`` with its address, DHCP ranges and fixed hosts (created if missing)."""
    element = next((e for e in root.findall("ip") if _family(e) == family), None)
    if element is None:
        element = ET.Element("ip")
        _place(root, element, ("name", "uuid", "metadata", "forward", "bridge", "mac", "mtu", "domain", "dns", "ip"))
    iface = ipaddress.ip_interface(ip["address"])
    for attr in ("netmask", "prefix", "family"):
        element.attrib.pop(attr, None)
    element.set("address", str(iface.ip))
    if family == "ipv6":
        element.set("family", "ipv6")
    element.set("prefix", str(iface.network.prefixlen))
    dhcp = element.find("dhcp")
    if not ip["dhcp_ranges"] and not ip["dhcp_hosts"]:
        if dhcp is not None:
            element.remove(dhcp)
        return
    if dhcp is None:
        dhcp = ET.SubElement(element, "dhcp")
    _drop(dhcp, "range", "host")
    for position, span in enumerate(ip["dhcp_ranges"]):
        dhcp.insert(position, ET.Element("range", start=span["start"], end=span["end"]))
    for host in ip["dhcp_hosts"]:
        dhcp.append(dhcp_host_xml(host))


def write_dns_hosts(root: ET.Element, hosts: list[dict[str, Any]]) -> None:
    dns = root.find("dns")
    if dns is None:
        if not hosts:
            return
        dns = ET.Element("dns")
        _place(root, dns, ("name", "uuid", "metadata", "forward", "bridge", "mac", "mtu", "domain"))
    _drop(dns, "host")
    for host in hosts:
        dns.append(dns_host_xml(host))


def tostring(element: ET.Element) -> str:
    return ET.tostring(element, encoding="unicode")
