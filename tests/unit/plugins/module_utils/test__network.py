"""The network's option table and XML reader/writers (the planner needs XMLDesc(INACTIVE) and
virNetworkUpdate, which libvirt's test driver lacks: tests/integration/test_network.py covers it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._network import xml as nx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._network.options import NETWORK_MODULE

NET = "10.77.0.1/24"


def ip4(**extra: Any) -> dict[str, Any]:
    return {"address": NET, **extra}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"forward": "tunnel"},
            [("forward", "must be one of nat, route, open, isolated, bridge, macvtap, hostdev; got 'tunnel'")],
        ),
        (
            {"ipv4": ip4(dhcp_ranges=[{"start": "10.77.0.10", "end": "10.78.0.9"}])},
            [("ipv4.dhcp_ranges[0].end", "10.78.0.9 is outside the network 10.77.0.0/24")],
        ),
        (
            {
                "ipv4": ip4(
                    dhcp_ranges=[
                        {"start": "10.77.0.10", "end": "10.77.0.50"},
                        {"start": "10.77.0.40", "end": "10.77.0.60"},
                    ]
                )
            },
            [("ipv4.dhcp_ranges[1]", "10.77.0.40-10.77.0.60 overlaps ipv4.dhcp_ranges[0]")],
        ),
        (
            {"ipv4": ip4(dhcp_ranges=[{"start": "10.77.0.50", "end": "10.77.0.10"}])},
            [("ipv4.dhcp_ranges[0]", "start 10.77.0.50 is after end 10.77.0.10")],
        ),
        (
            {"ipv4": ip4(dhcp_ranges=[{"start": "10.77.0.1", "end": "10.77.0.10"}])},
            [("ipv4.dhcp_ranges[0]", "the range holds the network's own address 10.77.0.1")],
        ),
        (
            {"ipv4": {"address": "10.77.0.0/24"}},
            [("ipv4.address", "'10.77.0.0/24' is the network's own (or broadcast) address, not a host address in it")],
        ),
        (
            {"ipv4": {"address": "10.77.0.1"}},
            [("ipv4.address", "'10.77.0.1' needs a prefix length, such as 192.168.50.1/24 or fd00:50::1/64")],
        ),
        (
            {"ipv4": ip4(dhcp_hosts=[{"mac": "01:00:5e:00:00:01", "ip": "10.77.0.5"}])},
            [
                (
                    "ipv4.dhcp_hosts[0].mac",
                    "'01:00:5e:00:00:01' is a multicast address; a NIC needs a unicast MAC (even first octet)",
                )
            ],
        ),
        (
            {
                "ipv4": ip4(
                    dhcp_hosts=[
                        {"mac": "52:54:00:00:00:01", "ip": "10.77.0.5"},
                        {"mac": "52:54:00:00:00:02", "ip": "10.77.0.5"},
                    ]
                )
            },
            [("ipv4.dhcp_hosts[1].ip", "10.77.0.5 is also the ip of ipv4.dhcp_hosts[0]")],
        ),
        (
            {"ipv4": ip4(dhcp_hosts=[{"ip": "10.77.0.5"}])},
            [("ipv4.dhcp_hosts[0]", "give mac (IPv4), id (IPv6 DUID) or name to say which client gets the address")],
        ),
        (
            {"ipv6": {"address": "fd00::1/64", "dhcp_hosts": [{"mac": "52:54:00:00:00:01", "ip": "fd00::5"}]}},
            [("ipv6.dhcp_hosts[0].mac", "libvirt matches IPv6 clients by id (DUID) or name, not by MAC")],
        ),
        ({"ipv6": {"address": NET}}, [("ipv6.address", "10.77.0.1/24 is not an IPv6 address")]),
        ({"forward": "bridge"}, [("bridge", "forward bridge needs the name of an existing host bridge")]),
        (
            {"forward": "bridge", "bridge": "br0", "ipv4": ip4()},
            [
                (
                    "ipv4",
                    "forward bridge connects guests to the host's network directly: "
                    "libvirt runs no DHCP/DNS and sets no ipv4 for it",
                )
            ],
        ),
        ({"forward": "macvtap"}, [("interfaces", "forward macvtap needs one or more host interfaces")]),
        ({"forward": "nat", "pf": "eth1"}, [("pf", "pf applies to forward hostdev only")]),
        (
            {"bridge": "a-bridge-name-too-long"},
            [
                (
                    "bridge",
                    "'a-bridge-name-too-long' is not a Linux interface name (1 to 15 characters, no '/' or spaces)",
                )
            ],
        ),
        (
            {"dns_hosts": [{"ip": "10.77.0.9", "hostnames": ["bad name"]}]},
            [
                (
                    "dns_hosts[0].hostnames",
                    "'bad name' is not a DNS name (letters, digits and '-', labels joined by '.')",
                )
            ],
        ),
    ],
)
def test_validation_names_the_field(raw: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    _values, problems = NETWORK_MODULE.validate({"name": "lab", **raw})
    assert problems == expected


def test_normalises_macs_names_and_addresses() -> None:
    values, problems = NETWORK_MODULE.validate(
        {
            "name": "lab",
            "ipv4": ip4(dhcp_hosts=[{"mac": "52-54-00-AA-BB-CC", "ip": "10.77.0.5", "name": "Web1"}]),
            "dns_hosts": [{"ip": "10.77.0.9", "hostnames": ["b", "a", "b"]}],
        }
    )
    assert problems == []
    assert values["ipv4"]["dhcp_hosts"] == [{"mac": "52:54:00:aa:bb:cc", "id": None, "name": "web1", "ip": "10.77.0.5"}]
    assert values["dns_hosts"] == [{"ip": "10.77.0.9", "hostnames": ["a", "b"]}]


LIBVIRT_XML = """<network>
  <name>lab</name>
  <uuid>8c1e0b9e-0000-4000-8000-000000000001</uuid>
  <forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>
  <bridge name='virbr7' stp='on' delay='0'/>
  <mac address='52:54:00:11:22:33'/>
  <mtu size='1400'/>
  <domain name='Lab.Test'/>
  <dns><host ip='10.77.0.9'><hostname>b</hostname><hostname>a</hostname></host></dns>
  <ip address='10.77.0.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.77.0.100' end='10.77.0.200'/>
      <host mac='52:54:00:AA:BB:CC' name='web1' ip='10.77.0.5'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fd00::1' prefix='64'/>
</network>"""


def test_read_libvirt_xml() -> None:
    values = nx.read(LIBVIRT_XML)
    assert values == {
        "name": "lab",
        "forward": "nat",
        "bridge": "virbr7",
        "forward_dev": None,
        "interfaces": None,
        "macvtap_mode": None,
        "pf": None,
        "mtu": 1400,
        "domain": "lab.test",
        "ipv4": {
            "address": "10.77.0.1/24",
            "dhcp_ranges": [{"start": "10.77.0.100", "end": "10.77.0.200"}],
            "dhcp_hosts": [{"mac": "52:54:00:aa:bb:cc", "id": None, "name": "web1", "ip": "10.77.0.5"}],
        },
        "ipv6": {"address": "fd00::1/64", "dhcp_ranges": [], "dhcp_hosts": []},
        "dns_hosts": [{"ip": "10.77.0.9", "hostnames": ["a", "b"]}],
    }


@pytest.mark.parametrize(
    ("want", "mode", "children"),
    [
        ({"forward": "route", "forward_dev": "eth1", "bridge": None}, "route", []),
        (
            {"forward": "macvtap", "interfaces": ["eth1", "eth2"], "macvtap_mode": "vepa", "bridge": None},
            "vepa",
            ["interface", "interface"],
        ),
        ({"forward": "hostdev", "pf": "enp1s0", "bridge": None}, "hostdev", ["pf"]),
        ({"forward": "bridge", "bridge": "br0"}, "bridge", []),
    ],
)
def test_write_forward_round_trips(want: dict[str, Any], mode: str, children: list[str]) -> None:
    full = {"forward_dev": None, "interfaces": None, "macvtap_mode": None, "pf": None, **want}
    root = ET.fromstring(LIBVIRT_XML)
    nx.write_forward(root, full)
    fwd = root.find("forward")
    assert fwd.get("mode") == mode and [child.tag for child in fwd] == children
    back = nx.read(nx.tostring(root))
    for key, value in full.items():
        if value is not None:
            assert back[key] == value, key
    assert root.find("uuid") is not None  # what libvirt filled in stays
    if mode in ("bridge", "vepa", "hostdev"):
        assert root.find("ip") is None and root.find("mac") is None


def test_write_ip_keeps_the_rest_and_uses_prefix() -> None:
    root = ET.fromstring(LIBVIRT_XML)
    nx.write_ip(root, "ipv4", {"address": "10.77.0.1/23", "dhcp_ranges": [], "dhcp_hosts": []})
    ip = root.find("ip")
    assert ip.attrib == {"address": "10.77.0.1", "prefix": "23"} and ip.find("dhcp") is None
    assert root.findall("ip")[1].get("family") == "ipv6"
