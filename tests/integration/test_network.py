"""kvmfleet.kvm.network on the real libvirtd: triads, then virsh net-dumpxml and the running dnsmasq.

Subnets come from kvmtest.free_subnet (no route and no libvirt network of this host uses them); host
bridges and dummy interfaces are the test's own, named with its prefix, and removed afterwards.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kvmtest
import pytest

DNSMASQ = Path("/var/lib/libvirt/dnsmasq")


def netxml(name: str, inactive: bool = False) -> ET.Element:
    return ET.fromstring(kvmtest.virsh("net-dumpxml", *(["--inactive"] if inactive else []), name))


def dnsmasq_pid(name: str) -> int:
    return int(Path(f"/run/libvirt/network/{name}.pid").read_text())


def net_exists(name: str) -> bool:
    return name in kvmtest.virsh("net-list", "--all", "--name").split()


@pytest.fixture
def subnet(conn: Any) -> dict[str, str]:
    net = kvmtest.free_subnet(conn)
    hosts = list(net.hosts())
    return {
        "cidr": f"{hosts[0]}/{net.prefixlen}",
        "gw": str(hosts[0]),
        "net": str(net),
        "v6": f"fd{secrets.token_hex(1)}:{secrets.token_hex(2)}::1/64",
        **{f"h{i}": str(hosts[i - 1]) for i in (5, 6, 7, 100, 150, 200, 240)},
    }


@pytest.fixture
def links() -> Iterator[list[str]]:
    """Host interfaces (bridges, dummies) a test creates; deleted afterwards."""
    created: list[str] = []
    yield created
    for name in created:
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def add_link(links: list[str], kind: str) -> str:
    name = f"kvt{secrets.token_hex(4)}"  # 11 characters: within Linux's 15
    peer = ["peer", "name", f"{name}p"] if kind == "veth" else []
    kvmtest.run_cmd(["ip", "link", "add", name, "type", kind, *peer])
    links.append(name)
    return name


def nat_options(name: str, sub: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "forward": "nat",
        "domain": "lab.test",
        "mtu": 1400,
        "autostart": True,
        "ipv4": {
            "address": sub["cidr"],
            "dhcp_ranges": [{"start": sub["h100"], "end": sub["h200"]}],
            "dhcp_hosts": [{"mac": "52:54:00:AA:00:05", "ip": sub["h5"], "name": "web1"}],
        },
        "ipv6": {"address": sub["v6"]},
        "dns_hosts": [{"ip": sub["h6"], "hostnames": ["registry", "cache"]}],
        **extra,
    }


def test_create_nat_network_then_rerun_unchanged(triad, prefix: str, subnet: dict[str, str]) -> None:
    name = f"{prefix}nat"
    options = nat_options(name, subnet)
    check, apply, recheck, _reapply = triad({"kvmfleet.kvm.network": options})

    assert check["actions"] == [f"define network {name}", "enable autostart", "start the network"]
    assert apply["state"] == "active" and check["state"] == "active"
    assert apply["diff"]["before"] == {"state": "absent"}
    assert apply["diff"]["after"]["forward"] == "nat"
    assert recheck["actions"] == []
    assert apply["bridge"].startswith("virbr")

    for inactive in (False, True):
        root = netxml(name, inactive)
        assert root.find("forward").get("mode") == "nat"
        assert root.find("mtu").get("size") == "1400"
        assert root.find("domain").get("name") == "lab.test"
        ip4 = next(ip for ip in root.findall("ip") if ip.get("family") != "ipv6")
        assert ip4.get("address") == subnet["gw"]
        assert ip4.find("dhcp/range").attrib == {"start": subnet["h100"], "end": subnet["h200"]}
        assert ip4.find("dhcp/host").attrib == {"mac": "52:54:00:aa:00:05", "name": "web1", "ip": subnet["h5"]}
        assert sorted(h.text for h in root.findall("dns/host/hostname")) == ["cache", "registry"]
        assert any(ip.get("family") == "ipv6" for ip in root.findall("ip"))
    assert "Autostart:      yes" in kvmtest.virsh("net-info", name)
    # the running dnsmasq serves it
    conf = (DNSMASQ / f"{name}.conf").read_text()
    assert f"dhcp-range={subnet['h100']},{subnet['h200']}" in conf
    assert "domain=lab.test" in conf
    assert f"52:54:00:aa:00:05,{subnet['h5']},web1" in (DNSMASQ / f"{name}.hostsfile").read_text()
    addn = (DNSMASQ / f"{name}.addnhosts").read_text()
    assert subnet["h6"] in addn and "registry" in addn
    bridge = apply["bridge"]
    link = kvmtest.run_cmd(["ip", "-d", "link", "show", bridge])
    assert "mtu 1400" in link and "bridge" in link
    assert f"{subnet['gw']}/" in kvmtest.run_cmd(["ip", "-4", "addr", "show", bridge])


def test_dhcp_and_dns_hosts_change_live_without_restart(triad, prefix: str, subnet: dict[str, str]) -> None:
    name = f"{prefix}live"
    base = nat_options(name, subnet)
    kvmtest.run_playbook([{"kvmfleet.kvm.network": base}])
    pid = dnsmasq_pid(name)

    changed = nat_options(name, subnet)
    changed["ipv4"] = {
        "address": subnet["cidr"],
        "dhcp_hosts": [
            {"mac": "52:54:00:aa:00:05", "ip": subnet["h7"], "name": "web1"},  # moved
            {"mac": "52:54:00:aa:00:06", "ip": subnet["h150"], "name": "db1"},  # added
        ],
    }
    changed["dns_hosts"] = [{"ip": subnet["h240"], "hostnames": ["registry"]}]
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.network": changed})

    assert apply["restarted"] is False
    assert apply["actions"] == [
        f"remove DNS host {subnet['h6']} (cache registry) (live and persistent)",
        f"change DHCP host 52:54:00:aa:00:05 -> {subnet['h7']} (live and persistent)",
        f"add DHCP host 52:54:00:aa:00:06 -> {subnet['h150']} (live and persistent)",
        f"add DNS host {subnet['h240']} (registry) (live and persistent)",
    ]
    assert set(apply["diff"]["after"]) == {"ipv4.dhcp_hosts", "dns_hosts"}
    assert dnsmasq_pid(name) == pid  # the same dnsmasq: no restart, guests kept their link
    hosts = (DNSMASQ / f"{name}.hostsfile").read_text()
    assert f"52:54:00:aa:00:05,{subnet['h7']},web1" in hosts and f"52:54:00:aa:00:06,{subnet['h150']},db1" in hosts
    addn = (DNSMASQ / f"{name}.addnhosts").read_text()
    assert subnet["h240"] in addn and subnet["h6"] not in addn
    for inactive in (False, True):
        root = netxml(name, inactive)
        assert sorted((h.get("mac"), h.get("ip")) for h in root.iter("host") if h.get("mac")) == [
            ("52:54:00:aa:00:05", subnet["h7"]),
            ("52:54:00:aa:00:06", subnet["h150"]),
        ]
        assert [h.get("ip") for h in root.findall("dns/host")] == [subnet["h240"]]


def test_change_needing_restart_fails_without_the_option_and_restarts_with_it(
    triad, play, prefix: str, subnet: dict[str, str]
) -> None:
    name = f"{prefix}rst"
    base = nat_options(name, subnet)
    kvmtest.run_playbook([{"kvmfleet.kvm.network": base}])
    pid = dnsmasq_pid(name)
    before = kvmtest.virsh("net-dumpxml", name)
    wider = {
        **base,
        "ipv4": {"address": subnet["cidr"], "dhcp_ranges": [{"start": subnet["h100"], "end": subnet["h240"]}]},
    }

    refused = play([{"name": "task", "kvmfleet.kvm.network": wider}]).result("task")
    assert refused["failed"] is True
    assert "set restart: true to allow it" in refused["msg"] and "ipv4.dhcp_ranges" in refused["msg"]
    assert refused["needs_option"] == "restart"
    assert kvmtest.virsh("net-dumpxml", name) == before and dnsmasq_pid(name) == pid  # nothing changed

    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.network": {**wider, "restart": True}})
    assert apply["restarted"] is True
    assert apply["actions"][-1].startswith("restart the network")
    assert dnsmasq_pid(name) != pid
    conf = (DNSMASQ / f"{name}.conf").read_text()
    assert f"dhcp-range={subnet['h100']},{subnet['h240']}" in conf
    for inactive in (False, True):
        assert netxml(name, inactive).find("ip/dhcp/range").get("end") == subnet["h240"]
    # fixed hosts the user did not mention are kept
    assert netxml(name).find("ip/dhcp/host").get("mac") == "52:54:00:aa:00:05"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (
            {"ipv4": {"address": "CIDR", "dhcp_ranges": [{"start": "H100", "end": "10.253.0.9"}]}},
            "ipv4.dhcp_ranges[0].end",
        ),
        (
            {
                "ipv4": {
                    "address": "CIDR",
                    "dhcp_ranges": [{"start": "H100", "end": "H200"}, {"start": "H150", "end": "H240"}],
                }
            },
            "ipv4.dhcp_ranges[1]: ",
        ),
        (
            {"ipv4": {"address": "CIDR", "dhcp_hosts": [{"mac": "52:54:00:zz:00:01", "ip": "H5"}]}},
            "ipv4.dhcp_hosts[0].mac",
        ),
        ({"forward": "tunnel"}, "forward: must be one of"),
        ({"forward": "bridge", "bridge": "kvtnosuchbr0"}, "bridge: host bridge kvtnosuchbr0 does not exist"),
        (
            {"forward": "macvtap", "interfaces": ["kvtnosuch0"]},
            "interfaces[0]: host interface kvtnosuch0 does not exist",
        ),
    ],
)
def test_bad_input_names_the_field_and_creates_nothing(
    play, prefix: str, subnet: dict[str, str], options: dict[str, Any], field: str
) -> None:
    name = f"{prefix}bad"
    text = json.dumps(options).replace("CIDR", subnet["cidr"])
    for key in ("H100", "H150", "H200", "H240", "H5"):
        text = text.replace(f'"{key}"', json.dumps(subnet[key.lower()]))
    result = play([{"name": "task", "kvmfleet.kvm.network": {"name": name, **json.loads(text)}}]).result("task")
    assert result["failed"] is True
    assert field in result["msg"], result["msg"]
    assert not net_exists(name)


def test_forward_bridge_macvtap_and_hostdev(triad, prefix: str, links: list[str]) -> None:
    bridge = add_link(links, "bridge")
    dummy = add_link(links, "veth")  # no dummy module in this kernel; a veth end stands in for a NIC
    kvmtest.run_cmd(["ip", "link", "set", bridge, "up"])

    triad({"kvmfleet.kvm.network": {"name": f"{prefix}br", "forward": "bridge", "bridge": bridge}})
    root = netxml(f"{prefix}br")
    assert root.find("forward").get("mode") == "bridge" and root.find("bridge").get("name") == bridge
    assert "Active:         yes" in kvmtest.virsh("net-info", f"{prefix}br")

    triad(
        {
            "kvmfleet.kvm.network": {
                "name": f"{prefix}mv",
                "forward": "macvtap",
                "interfaces": [dummy],
                "macvtap_mode": "vepa",
            }
        }
    )
    fwd = netxml(f"{prefix}mv").find("forward")
    assert fwd.get("mode") == "vepa" and [i.get("dev") for i in fwd.findall("interface")] == [dummy]

    # SR-IOV: these machines have no such NIC, so the network is defined (not started) on a stand-in PF
    triad({"kvmfleet.kvm.network": {"name": f"{prefix}vf", "forward": "hostdev", "pf": dummy, "state": "present"}})
    fwd = netxml(f"{prefix}vf", inactive=True).find("forward")
    assert fwd.get("mode") == "hostdev" and fwd.find("pf").get("dev") == dummy
    assert "Active:         no" in kvmtest.virsh("net-info", f"{prefix}vf")


def test_route_isolated_then_inactive_then_absent(triad, prefix: str, subnet: dict[str, str]) -> None:
    name = f"{prefix}iso"
    options = {"name": name, "forward": "isolated", "ipv4": {"address": subnet["cidr"]}}
    triad({"kvmfleet.kvm.network": options})
    assert netxml(name).find("forward") is None

    _c, apply, _rc, _ra = triad({"kvmfleet.kvm.network": {**options, "forward": "route", "restart": True}})
    assert apply["restarted"] is True and netxml(name).find("forward").get("mode") == "route"

    triad({"kvmfleet.kvm.network": {"name": name, "state": "inactive"}})
    assert "Active:         no" in kvmtest.virsh("net-info", name)

    triad({"kvmfleet.kvm.network": {"name": name, "state": "absent"}})
    assert not net_exists(name)


def test_subnet_of_another_libvirt_network_is_refused(play, prefix: str, test_network: dict[str, str]) -> None:
    taken = ipaddress.ip_network(test_network["subnet"])
    cidr = f"{next(taken.hosts()) + 1}/{taken.prefixlen}"
    result = play(
        [{"name": "task", "kvmfleet.kvm.network": {"name": f"{prefix}dup", "ipv4": {"address": cidr}}}]
    ).result("task")
    assert result["failed"] is True
    assert f"ipv4.address: {taken} overlaps" in result["msg"] and test_network["name"] in result["msg"]
    assert not net_exists(f"{prefix}dup")


def test_forward_open(triad, prefix: str, subnet: dict[str, str]) -> None:
    """open: libvirt routes like `route` but adds no firewall rules of its own."""
    name = f"{prefix}open"
    options = {"name": name, "forward": "open", "ipv4": {"address": subnet["cidr"]}}
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.network": options})
    assert apply["state"] == "active"
    for inactive in (False, True):
        root = netxml(name, inactive)
        assert root.find("forward").get("mode") == "open"
        assert next(ip for ip in root.findall("ip")).get("address") == subnet["gw"]
    assert f"{subnet['gw']}/" in kvmtest.run_cmd(["ip", "-4", "addr", "show", apply["bridge"]])


def test_ipv6_dhcp_range_and_fixed_host_live_then_autostart_off(triad, prefix: str, subnet: dict[str, str]) -> None:
    """IPv6 with a DHCP range and a fixed host (matched by DUID): dnsmasq serves both; moving the
    host is a live update (same dnsmasq); then autostart is turned off."""
    name = f"{prefix}v6"
    v6 = ipaddress.ip_interface(subnet["v6"])
    at = {n: str(v6.network.network_address + n) for n in (5, 7, 0x100, 0x1FF)}
    duid = "00:03:00:01:52:54:00:aa:00:07"
    ipv6 = {
        "address": subnet["v6"],
        "dhcp_ranges": [{"start": at[0x100], "end": at[0x1FF]}],
        "dhcp_hosts": [{"id": duid, "name": "web6", "ip": at[5]}],
    }
    options = {"name": name, "forward": "nat", "autostart": True, "ipv4": {"address": subnet["cidr"]}, "ipv6": ipv6}
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.network": options})
    assert apply["state"] == "active"
    root = netxml(name)
    ip6 = next(ip for ip in root.findall("ip") if ip.get("family") == "ipv6")
    assert ip6.find("dhcp/range").attrib == {"start": at[0x100], "end": at[0x1FF]}
    assert ip6.find("dhcp/host").attrib == {"id": duid, "name": "web6", "ip": at[5]}
    conf = (DNSMASQ / f"{name}.conf").read_text()
    assert f"dhcp-range={at[0x100]},{at[0x1FF]},64" in conf
    assert f"id:{duid},web6,[{at[5]}]" in (DNSMASQ / f"{name}.hostsfile").read_text()
    pid = dnsmasq_pid(name)

    moved = {**options, "ipv6": {**ipv6, "dhcp_hosts": [{"id": duid, "name": "web6", "ip": at[7]}]}}
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.network": moved})
    assert apply["restarted"] is False
    assert apply["actions"] == [f"change DHCP host {duid} -> {at[7]} (live and persistent)"]
    assert set(apply["diff"]["after"]) == {"ipv6.dhcp_hosts"}
    assert dnsmasq_pid(name) == pid  # no restart
    hosts = (DNSMASQ / f"{name}.hostsfile").read_text()
    assert f"id:{duid},web6,[{at[7]}]" in hosts and at[5] not in hosts
    for inactive in (False, True):
        ip6 = next(ip for ip in netxml(name, inactive).findall("ip") if ip.get("family") == "ipv6")
        assert ip6.find("dhcp/host").get("ip") == at[7]

    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.network": {**moved, "autostart": False}})
    assert apply["actions"] == ["disable autostart"] and apply["restarted"] is False
    assert "Autostart:      no" in kvmtest.virsh("net-info", name)
    assert "Active:         yes" in kvmtest.virsh("net-info", name) and dnsmasq_pid(name) == pid
