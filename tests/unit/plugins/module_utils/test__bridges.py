"""host_bridges: the checks with their fields, each backend's files, the ifupdown take-over, what runs
against what is declared, and check mode (all without touching this host's network)."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._bridges import host, module, options, render
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct

LINKS = {"eno1": "", "eno2": "", "enp0s31f6abc": "", "veth0": "veth", "br9": "bridge"}


def values(**changes: Any) -> dict[str, Any]:
    raw = {
        "bridges": [{"name": "br0", "ports": ["eno1"], "addresses": ["192.0.2.10/24"]}],
        "check_targets": ["192.0.2.1"],
    }
    raw.update(changes)
    out, problems = options.HOST_BRIDGES_MODULE.validate(raw)
    assert not problems, problems
    out["backend"] = "ifupdown" if out["backend"] == "auto" else out["backend"]
    return out


def found(**changes: Any) -> list[str]:
    return [f"{path}: {message}" for path, message in options.problems(values(**changes), LINKS)]


def test_good_values_have_no_problem() -> None:
    assert found() == []
    assert found(vlans=[{"device": "eno2", "id": 10, "name": "kvtvlanname0123"}]) == []  # 15 characters


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"check_targets": []}, "check_targets: give the addresses the host must still reach"),
        ({"check_targets": ["gw.example"]}, "check_targets[0]: 'gw.example' is not an IPv4 or IPv6 address"),
        ({"bridges": [{"name": "b" * 16}]}, "bridges[0].name: 'bbbbbbbbbbbbbbbb' is not an interface name"),
        ({"bridges": [{"name": "veth0"}]}, "bridges[0].name: veth0 exists on the host and is a veth interface"),
        ({"bridges": [{"name": "eno2"}]}, "bridges[0].name: eno2 exists on the host and is a physical interface"),
        ({"bridges": [{"name": "b1", "ports": ["eno1"]}, {"name": "b2", "ports": ["eno1"]}]},
         "bridges[1].ports[0]: eno1 is already a port of bridges[0]"),
        ({"bridges": [{"name": "b1", "ports": ["b2"]}, {"name": "b2"}]}, "bridges[0].ports[0]: b2 is a bridge"),
        ({"bridges": [{"name": "b1", "ports": ["eno1", "eno9"]}]},
         "bridges[0].ports[1]: no interface eno9 on the host, and no VLAN of vlans has that name"),
        ({"vlans": [{"device": "eno9", "id": 10}]}, "vlans[0].device: no interface eno9 on the host"),
        ({"vlans": [{"device": "eno1", "id": 4095}]}, "vlans[0].id: 4095 is not a VLAN id (1 to 4094)"),
        ({"vlans": [{"device": "eno1", "id": 0}]}, "vlans[0].id: 0 is not a VLAN id"),
        ({"vlans": [{"device": "eno1", "id": 10, "name": "kvtvlanname01234"}]},
         "vlans[0].name: 'kvtvlanname01234' is not an interface name (at most 15"),
        ({"vlans": [{"device": "enp0s31f6abc", "id": 1000}]},
         "vlans[0].name: 'enp0s31f6abc.1000' (the default <device>.<id>) is not an interface name"),
        ({"vlans": [{"device": "eno1", "id": 10}, {"device": "eno1", "id": 10}]},
         "vlans[1].name: eno1.10 is also vlans[0].name"),
        ({"bridges": [{"name": "b1", "addresses": ["198.18.0.300/24"]}]},
         "bridges[0].addresses[0]: '198.18.0.300' is not an IPv4 or IPv6 address"),
        ({"bridges": [{"name": "b1", "addresses": ["198.18.0.3"]}]},
         "bridges[0].addresses[0]: '198.18.0.3' is not an address with a prefix length"),
        ({"bridges": [{"name": "b1", "addresses": ["fd00::1/129"]}]},
         "bridges[0].addresses[0]: 'fd00::1/129': an IPv6 prefix length is 1 to 128"),
        ({"bridges": [{"name": "b1", "addresses": ["198.18.0.3/33"]}]},
         "bridges[0].addresses[0]: '198.18.0.3/33': an IPv4 prefix length is 1 to 32"),
        ({"bridges": [{"name": "b1", "addresses": ["198.18.0.3/24"], "gateway": "198.18.1.1"}]},
         "bridges[0].gateway: 198.18.1.1 is not in the subnet of any IPv4 address of bridges[0].addresses"),
        ({"bridges": [{"name": "b1", "addresses": ["198.18.0.3/24"], "gateway": "fd00::1"}]},
         "bridges[0].gateway: 'fd00::1' is not an IPv4 address"),
        ({"bridges": [{"name": "b1", "dhcp": True, "gateway": "198.18.1.1"}]},
         "bridges[0].gateway: with dhcp the gateway comes from DHCP; leave it out"),
        ({"bridges": [{"name": "b1", "mtu": 70000}]}, "bridges[0].mtu: 70000 is not between 68 and 65535"),
        ({"bridges": [{"name": "b1", "mtu": 1000, "addresses": ["fd00::1/64"]}]}, "bridges[0].mtu: 1000 is below 1280"),
        ({"vlans": [{"device": "eno1", "id": 10, "mtu": 20}]}, "vlans[0].mtu: 20 is not between 68 and 65535"),
        ({"bridges": [{"name": "b1", "dhcp": True, "addresses": ["10.0.0.1/24"]}]},
         "bridges[0].dhcp: DHCP and the static IPv4 addresses of bridges[0].addresses exclude each other"),
        ({"bridges": [{"name": "b1", "forward_delay": 31}]}, "bridges[0].forward_delay: 31 is not between 0 and 30"),
        ({"backend": "networkmanager", "bridges": [{"name": "b1", "stp": True}]},
         "bridges[0].forward_delay: NetworkManager takes 2 to 30 seconds with STP on"),
        ({"rollback_timeout": 30}, "rollback_timeout: 30 must be more than check_timeout (30)"),
        ({"check_timeout": 0}, "check_timeout: 0 is less than 1 second"),
        ({"bridges": [{"name": "b1", "ports": ["eno1.100"]}], "vlans": [{"device": "eno1", "id": 100}]}, None),
        ({"bridges": [{"name": "br9"}]}, None),  # an existing bridge is taken over
    ],
)  # fmt: skip
def test_each_problem_names_its_field(changes: dict[str, Any], expected: str | None) -> None:
    problems = found(**changes)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_every_problem_at_once() -> None:
    problems = found(
        bridges=[{"name": "b1", "ports": ["eno1", "eno9"], "mtu": 10}], vlans=[{"device": "eno1", "id": 5000}]
    )
    assert [p.split(":")[0] for p in problems] == ["bridges[0].ports[1]", "bridges[0].mtu", "vlans[0].id"]


VLAN_BRIDGE = {
    "vlans": [{"device": "eno1", "id": 100}],
    "bridges": [{"name": "br100", "ports": ["eno1.100"], "stp": True, "forward_delay": 4, "mtu": 9000, "dhcp": True}],
}


def test_ifupdown_files() -> None:
    files = render.render(values(**VLAN_BRIDGE), "ifupdown")
    assert list(files) == ["kvmfleet-bridges"]  # no /etc/network/interfaces on this host
    text = files["kvmfleet-bridges"]
    assert text.startswith(render.HEADER)
    assert "\n# VLAN 100 on eno1\niface eno1.100 inet manual\n    vlan-raw-device eno1\n" in text
    assert (
        "\nauto br100\niface br100 inet dhcp\n    bridge_ports eno1.100\n    bridge_stp on\n"
        "    bridge_fd 4\n    mtu 9000\n" in text
    )
    static = render.render(
        values(bridges=[{"name": "br0", "ports": ["eno1"], "addresses": ["192.0.2.10/24", "fd00::10/64"],
                         "gateway": "192.0.2.1", "mtu": 1400}]), "ifupdown", main="")  # fmt: skip
    assert static["kvmfleet-bridges"].endswith(
        "\niface eno1 inet manual\n    mtu 1400\n\nauto br0\niface br0 inet static\n    address 192.0.2.10/24\n"
        "    gateway 192.0.2.1\n    bridge_ports eno1\n    bridge_stp off\n    bridge_fd 0\n    mtu 1400\n"
        "iface br0 inet6 static\n    address fd00::10/64\n"
    )
    assert static["interfaces"] == ""


def test_networkd_files() -> None:
    files = render.render(values(**VLAN_BRIDGE), "systemd_networkd")
    assert sorted(files) == [
        "10-kvmfleet-port-eno1.100.network", "10-kvmfleet-port-eno1.network", "60-kvmfleet-br100.netdev",
        "60-kvmfleet-br100.network", "60-kvmfleet-eno1.100.netdev",
    ]  # fmt: skip
    assert (
        files["60-kvmfleet-eno1.100.netdev"] == render.HEADER + "[NetDev]\nName=eno1.100\nKind=vlan\n\n[VLAN]\nId=100\n"
    )
    assert files["10-kvmfleet-port-eno1.network"].endswith(
        "[Network]\nVLAN=eno1.100\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n"
    )
    assert "Bridge=br100\n" in files["10-kvmfleet-port-eno1.100.network"]
    assert files["10-kvmfleet-port-eno1.100.network"].endswith("\n\n[Link]\nMTUBytes=9000\n")
    assert "Kind=bridge\nMTUBytes=9000\n\n[Bridge]\nSTP=yes\nForwardDelaySec=4\n" in files["60-kvmfleet-br100.netdev"]
    assert "DHCP=ipv4\n" in files["60-kvmfleet-br100.network"]


def test_networkmanager_files() -> None:
    files = render.render(values(**VLAN_BRIDGE), "networkmanager")
    assert sorted(files) == ["kvmfleet-bridge-br100.nmconnection", "kvmfleet-vlan-eno1.100.nmconnection"]
    vlan = files["kvmfleet-vlan-eno1.100.nmconnection"]
    assert "type=vlan\ninterface-name=eno1.100\nautoconnect=true\nmaster=br100\nslave-type=bridge\n" in vlan
    assert vlan.endswith("[vlan]\nparent=eno1\nid=100\n\n[ethernet]\nmtu=9000\n")
    bridge = files["kvmfleet-bridge-br100.nmconnection"]
    assert (
        "[bridge]\nstp=true\nforward-delay=4\n\n[ethernet]\nmtu=9000\n\n[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=disabled\n"
        in bridge
    )
    plain = render.render(values(), "networkmanager")
    assert plain["kvmfleet-port-eno1.nmconnection"].endswith(
        "master=br0\nslave-type=bridge\nautoconnect=true\nautoconnect-priority=100\n"
    )
    assert "[ipv4]\nmethod=manual\naddress1=192.0.2.10/24\n" in plain["kvmfleet-bridge-br0.nmconnection"]


def test_the_ports_stanzas_are_taken_over_and_stay_so() -> None:
    main = (
        "source /etc/network/interfaces.d/*\n\nauto lo eno1\niface lo inet loopback\n\nallow-hotplug eno1\n"
        "iface eno1 inet static\n    address 192.0.2.10/24\n\niface eno2 inet dhcp\n"
    )
    out = render.taken_over(main, ["eno1"])
    assert out == (
        "source /etc/network/interfaces.d/*\n\n# kvmfleet.kvm.bridges took over: auto lo eno1\nauto lo\n"
        "iface lo inet loopback\n\n# kvmfleet.kvm.bridges took over: allow-hotplug eno1\n"
        "# kvmfleet.kvm.bridges took over: iface eno1 inet static\n"
        "# kvmfleet.kvm.bridges took over:     address 192.0.2.10/24\n# kvmfleet.kvm.bridges took over: \n"
        "iface eno2 inet dhcp\n"
    )
    assert render.taken_over(out, ["eno1"]) == out  # a rerun changes nothing


class FakeLinks(host.Links):
    def __init__(self, links: dict[str, dict[str, Any]], addresses: dict[str, set[str]]) -> None:
        self.links = {name: {"ifname": name, "flags": ["UP"], **link} for name, link in links.items()}
        self.addresses = addresses


def test_drift_is_what_runs_against_what_is_declared() -> None:
    declared = values()
    good = FakeLinks({"eno1": {"master": "br0"}, "br0": {}}, {"br0": {"192.0.2.10/24"}})
    assert good.drift(declared, "ifupdown") == []
    bad = FakeLinks({"eno1": {"flags": []}}, {})
    assert bad.drift(declared, "ifupdown") == [
        "eno1: down", "br0: no such interface", "eno1: not a port of br0 (master: none)",
        "br0: no address 192.0.2.10/24",
    ]  # fmt: skip
    assert bad.drift(declared, "systemd_networkd")[0] == "br0: no such interface"  # networkd declares no ports


def test_check_mode_writes_nothing_and_says_what_differs(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(module, "Links", lambda: FakeLinks({"eno1": {}}, {}))
    monkeypatch.setattr(module, "installed", lambda backend: {})
    monkeypatch.setattr(module, "main_interfaces", lambda: None)
    state = tmp_path / "state"
    args = {"bridges": [{"name": "br0", "ports": ["eno1"]}], "check_targets": ["192.0.2.1"], "backend": "ifupdown",
            "state_dir": str(state)}  # fmt: skip
    result = run_direct(module.HOST_BRIDGES_ENTRY, args, check_mode=True)
    assert result["changed"] is True and result["backend"] == "ifupdown"
    assert [d["after_header"] for d in result["diff"]] == ["/etc/network/interfaces.d/kvmfleet-bridges"]
    assert "br0: no such interface" in result["drift"]
    assert not state.exists()


def test_bad_input_fails_before_the_host_is_read_further(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "Links", lambda: FakeLinks({"eno1": {}}, {}))
    monkeypatch.setattr(module, "installed", lambda backend: pytest.fail("read the installed files"))
    args = {"bridges": [{"name": "br0", "ports": ["eno9"], "mtu": 10}], "backend": "ifupdown"}
    result = run_direct(module.HOST_BRIDGES_ENTRY, args, check_mode=True)
    assert result["failed"] is True
    assert [e.split(":")[0] for e in result["errors"]] == ["bridges[0].ports[0]", "bridges[0].mtu", "check_targets"]


def test_a_changed_managed_header_is_no_change() -> None:
    ours = render.HEADER + "auto br0\n"
    assert (
        module._diff("ifupdown", {"kvmfleet-bridges": "# Ansible managed\nauto br0\n"}, {"kvmfleet-bridges": ours})
        == []
    )
    assert module._diff("ifupdown", {"kvmfleet-bridges": "# Ansible managed\nauto br1\n"}, {"kvmfleet-bridges": ours})
