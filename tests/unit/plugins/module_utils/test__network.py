"""The network's option table, XML reader/writers and planner (on a fake connection: libvirt's test
driver lacks XMLDesc(INACTIVE) and virNetworkUpdate; tests/integration/test_network.py runs the real daemon)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import libvirt
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import NeedsOption
from ansible_collections.kvmfleet.kvm.plugins.module_utils._network import xml as nx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._network.options import NETWORK_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._network.plan import NetworkPlan, NetworkPlanner

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


# ---------------------------------------------------------------------------------------------- planner
# The planner on a small fake connection: libvirt's test driver has no XMLDesc(INACTIVE) for networks
# and no virNetworkUpdate, so the classification (live vs. restart) is checked here, the effect on the
# real daemon in tests/integration/test_network.py.


class FakeNetwork:
    def __init__(self, xml: str, active: bool = True, autostart: bool = True, live_xml: str | None = None) -> None:
        self.config_xml = xml
        self.live_xml = live_xml or xml
        self.active = active
        self.auto = autostart
        self.calls: list[tuple[Any, ...]] = []

    def name(self) -> str:
        return nx.read(self.config_xml)["name"]

    def isActive(self) -> int:  # noqa: N802 - libvirt's name
        return int(self.active)

    def isPersistent(self) -> int:  # noqa: N802 - libvirt's name
        return 1

    def autostart(self) -> int:
        return int(self.auto)

    def XMLDesc(self, flags: int = 0) -> str:  # noqa: N802 - libvirt's name
        return self.config_xml if flags or not self.active else self.live_xml

    def update(self, *args: Any) -> None:
        self.calls.append(("update", *args))

    def destroy(self) -> None:
        self.calls.append(("destroy",))

    def create(self) -> None:
        self.calls.append(("create",))

    def setAutostart(self, value: int) -> None:  # noqa: N802 - libvirt's name
        self.calls.append(("setAutostart", value))


class FakeConn:
    def __init__(self, *nets: FakeNetwork) -> None:
        self.nets = {net.name(): net for net in nets}
        self.defined: list[str] = []

    def networkLookupByName(self, name: str) -> FakeNetwork:  # noqa: N802 - libvirt's name
        if name not in self.nets:
            raise libvirt.libvirtError(f"no network {name}")
        return self.nets[name]

    def listAllNetworks(self) -> list[FakeNetwork]:  # noqa: N802 - libvirt's name
        return list(self.nets.values())

    def networkDefineXML(self, xml: str) -> None:  # noqa: N802 - libvirt's name
        self.defined.append(xml)

    def networkDefineXMLFlags(self, xml: str, _flags: int) -> None:  # noqa: N802 - libvirt's name
        self.networkDefineXML(xml)

    def getLibVersion(self) -> int:  # noqa: N802 - libvirt's name
        return 9_000_000  # the libvirtd this fake answers like


def plan_for(net: FakeNetwork, **raw: Any) -> tuple[NetworkPlan, FakeConn]:
    values, problems = NETWORK_MODULE.validate({"name": "lab", **raw})
    assert problems == []
    values.pop("uri")
    conn = FakeConn(net)
    return NetworkPlanner(conn, values, local=False).plan(), conn


HOST5 = {"mac": "52:54:00:aa:bb:cc", "name": "web1", "ip": "10.77.0.5"}
RANGE = [{"start": "10.77.0.100", "end": "10.77.0.200"}]


@pytest.mark.parametrize(
    ("raw", "actions", "diff_keys"),
    [
        (  # a fixed host moves: one live update, live and persistent in one call
            {"ipv4": ip4(dhcp_hosts=[{**HOST5, "ip": "10.77.0.6"}])},
            ["change DHCP host 52:54:00:aa:bb:cc -> 10.77.0.6 (live and persistent)"],
            {"ipv4.dhcp_hosts"},
        ),
        (  # a host added next to the one there: add only
            {"ipv4": ip4(dhcp_hosts=[HOST5, {"mac": "52:54:00:aa:bb:cd", "ip": "10.77.0.7"}])},
            ["add DHCP host 52:54:00:aa:bb:cd -> 10.77.0.7 (live and persistent)"],
            {"ipv4.dhcp_hosts"},
        ),
        (  # DNS hosts: the changed entry is removed and added again
            {"dns_hosts": [{"ip": "10.77.0.9", "hostnames": ["a"]}]},
            [
                "remove DNS host 10.77.0.9 (a b) (live and persistent)",
                "add DNS host 10.77.0.9 (a) (live and persistent)",
            ],
            {"dns_hosts"},
        ),
        ({"autostart": False}, ["disable autostart"], {"autostart"}),
        ({"ipv4": ip4(dhcp_ranges=RANGE, dhcp_hosts=[HOST5]), "mtu": 1400}, [], set()),
    ],
)
def test_planner_applies_dhcp_dns_and_autostart_live(
    raw: dict[str, Any], actions: list[str], diff_keys: set[str]
) -> None:
    net = FakeNetwork(LIBVIRT_XML)
    plan, conn = plan_for(net, **raw)
    assert [action.description for action in plan.actions] == actions
    assert (
        set(plan.diff.diff()["after"]) == diff_keys
        if diff_keys
        else plan.diff.diff() in ({}, {"before": {}, "after": {}})
    )
    assert plan.restarted is False and plan.restart_fields == []
    for action in plan.actions:
        action.run()
    updates = [call for call in net.calls if call[0] == "update"]
    assert len(updates) == sum("(live and persistent)" in a for a in actions)
    both = libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    assert all(call[-1] == both for call in updates)
    assert ("destroy",) not in net.calls and conn.defined == []


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ({"mtu": 9000}, ["mtu"]),
        ({"ipv4": ip4(dhcp_ranges=[{"start": "10.77.0.100", "end": "10.77.0.250"}])}, ["ipv4.dhcp_ranges"]),
        ({"domain": "other.test"}, ["domain"]),
        ({"forward": "route"}, ["forward"]),
        ({"ipv6": {"address": "fd00:1::1/64"}}, ["ipv6.address"]),
    ],
)
def test_planner_other_changes_of_an_active_network_need_restart(raw: dict[str, Any], fields: list[str]) -> None:
    net = FakeNetwork(LIBVIRT_XML)
    with pytest.raises(NeedsOption) as refused:
        plan_for(net, **raw)
    assert refused.value.option == "restart"
    assert all(field in str(refused.value) for field in fields)
    assert net.calls == []

    plan, conn = plan_for(net, restart=True, **raw)
    assert plan.restarted is True and plan.restart_fields == sorted(fields)
    assert [action.description for action in plan.actions] == [
        "update the persistent definition: " + ", ".join(fields),
        f"restart the network (destroy and start) to apply {', '.join(sorted(fields))}",
    ]
    for action in plan.actions:
        action.run()
    assert len(conn.defined) == 1 and net.calls == [("destroy",), ("create",)]


def test_planner_fixed_hosts_of_a_new_family_need_restart() -> None:
    """DHCP hosts of a family the network has no <ip> for yet: the new <ip> needs a restart."""
    net = FakeNetwork(LIBVIRT_XML.replace("<ip family='ipv6' address='fd00::1' prefix='64'/>", ""))
    raw = {"ipv6": {"address": "fd00::1/64", "dhcp_hosts": [{"name": "web6", "ip": "fd00::5"}]}}
    with pytest.raises(NeedsOption) as refused:
        plan_for(net, **raw)
    assert refused.value.details["restart_fields"] == ["ipv6.address", "ipv6.dhcp_hosts"]
    plan, _conn = plan_for(net, restart=True, **raw)
    assert plan.restarted is True and not any("DHCP host" in action.description for action in plan.actions)


def test_planner_inactive_network_is_only_redefined() -> None:
    net = FakeNetwork(LIBVIRT_XML, active=False)
    plan, conn = plan_for(net, mtu=9000, state="present")
    assert [action.description for action in plan.actions] == ["update the persistent definition: mtu"]
    assert plan.restarted is False
    plan.actions[0].run()
    assert nx.read(conn.defined[0])["mtu"] == 9000 and net.calls == []


def test_planner_live_definition_behind_the_persistent_one() -> None:
    """The persistent definition already has the host, the running one not (an earlier config-only
    change): the host is added live only, and nothing is defined again."""
    live = LIBVIRT_XML.replace("<host mac='52:54:00:AA:BB:CC' name='web1' ip='10.77.0.5'/>", "")
    net = FakeNetwork(LIBVIRT_XML, live_xml=live)
    plan, conn = plan_for(net, ipv4=ip4(dhcp_hosts=[HOST5]))
    assert [action.description for action in plan.actions] == ["add DHCP host 52:54:00:aa:bb:cc -> 10.77.0.5 (live)"]
    plan.actions[0].run()
    assert net.calls[0][-1] == libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE and conn.defined == []
