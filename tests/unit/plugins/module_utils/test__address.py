"""Addresses from libvirt's answers, the best address, and waiting (on the test driver)."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import subprocess
import threading
from typing import Any

import libvirt
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _address
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.168.122.5", True),
        ("10.0.0.1", True),
        ("2001:db8::5", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("fe80::5054:ff:fe12:3456", False),
        ("fe80::1%eth0", False),
        ("169.254.3.4", False),
        ("0.0.0.0", False),
        ("not-an-ip", False),
    ],
)
def test_usable(address: str, expected: bool) -> None:
    assert _address.usable(address) is expected


def test_from_interfaces_drops_loopback_and_link_local() -> None:
    answer = {
        "lo": {"hwaddr": "00:00:00:00:00:00", "addrs": [{"addr": "127.0.0.1", "prefix": 8, "type": 0}]},
        "eth0": {
            "hwaddr": "52:54:00:AA:BB:CC",
            "addrs": [
                {"addr": "10.1.2.3", "prefix": 24, "type": 0},
                {"addr": "fe80::5054:ff:feaa:bbcc", "prefix": 64, "type": 1},
                {"addr": "2001:db8::3", "prefix": 64, "type": 1},
            ],
        },
    }
    assert _address.from_interfaces(answer, "agent") == [
        {"address": "10.1.2.3", "prefix": 24, "family": "ipv4", "mac": "52:54:00:aa:bb:cc", "interface": "eth0",
         "source": "agent"},
        {"address": "2001:db8::3", "prefix": 64, "family": "ipv6", "mac": "52:54:00:aa:bb:cc", "interface": "eth0",
         "source": "agent"},
    ]  # fmt: skip


def _rec(address: str, family: str = "ipv4", source: str = "lease") -> dict[str, Any]:
    return {"address": address, "prefix": 24, "family": family, "mac": None, "interface": None, "source": source}


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        ([], None),
        ([_rec("2001:db8::1", "ipv6"), _rec("10.0.0.2")], "10.0.0.2"),  # IPv4 first, whatever the order
        ([_rec("10.0.0.2", source="agent"), _rec("10.0.0.3")], "10.0.0.2"),  # else in source order
        ([_rec("2001:db8::1", "ipv6")], "2001:db8::1"),
    ],
)
def test_best(addresses: list[dict[str, Any]], expected: str | None) -> None:
    assert _address.best(addresses) == expected


def test_merge_keeps_each_address_once_from_the_first_source() -> None:
    merged = _address.merge([_rec("10.0.0.2", source="agent")], [_rec("10.0.0.2"), _rec("10.0.0.3")])
    assert [(item["address"], item["source"]) for item in merged] == [("10.0.0.2", "agent"), ("10.0.0.3", "lease")]


def test_ssh_answers_wants_an_ssh_banner() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(2)
        port = server.getsockname()[1]

        def serve(banner: bytes) -> None:
            peer, _addr = server.accept()
            peer.sendall(banner)
            peer.close()

        for banner, ready in ((b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", True), (b"HTTP/1.1 400 Bad\r\n", False)):
            thread = threading.Thread(target=serve, args=(banner,))
            thread.start()
            ok, note = _address.ssh_answers("127.0.0.1", port, timeout=2)
            thread.join()
            assert ok is ready, note
        assert note == f"127.0.0.1:{port} answers, but not as SSH ('HTTP/1.1 400 Bad')"
    ok, note = _address.ssh_answers("127.0.0.1", port, timeout=0.5)  # closed now
    assert not ok and "refused" in note.lower()


def test_wait_returns_the_test_drivers_lease() -> None:
    conn = connect("test:///default")
    results, failures = _address.wait_all(conn, {"test": {"sources": ["lease"], "timeout": 5}})
    assert failures == {}
    assert results["test"]["address"] == "192.168.122.3"
    assert results["test"]["addresses"][0]["source"] == "lease"


def test_wait_times_out_listing_every_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_address, "POLL_SECONDS", 0.01)
    conn = connect("test:///default", readonly=True)  # the agent answers only read-write
    waiter = _address.Waiter(conn.lookupByName("test"), {"sources": ["agent"], "timeout": 0.1})
    with pytest.raises(KvmFleetError) as caught:
        waiter.run()
    assert caught.value.msg == (
        "test: no address within 0.1 s "
        "(tried agent: operation forbidden: read only access prevents virDomainInterfaceAddresses)"
    )
    assert caught.value.details["guest"] == "test"


def test_lease_table_is_none_where_the_driver_has_no_lease_call() -> None:
    assert _address.lease_table(connect("test:///default")) is None
    assert libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE == 0


# ---------------------------------------------------------------------------------------------- arp

PROC_ARP = """IP address       HW type     Flags       HW address            Mask     Device
10.254.7.23      0x1         0x2         52:54:00:AB:CD:01     *        virbr7
10.254.7.24      0x1         0x0         00:00:00:00:00:00     *        virbr7
10.254.7.25      0x1         0x0         52:54:00:ab:cd:03     *        virbr7
169.254.1.1      0x1         0x2         52:54:00:ab:cd:01     *        virbr7
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
10.254.8.9       0x1         0x6         52:54:00:ab:cd:01     *        br0
garbage line
"""


def _arp(address: str, mac: str, device: str, family: str = "ipv4") -> dict[str, Any]:
    return {"address": address, "prefix": None, "family": family, "mac": mac, "interface": device, "source": "arp"}


def test_parse_proc_arp_keeps_complete_usable_entries_by_mac() -> None:
    assert _address.parse_proc_arp(PROC_ARP) == {
        "52:54:00:ab:cd:01": [_arp("10.254.7.23", "52:54:00:ab:cd:01", "virbr7"),
                              _arp("10.254.8.9", "52:54:00:ab:cd:01", "br0")],
        "02:fc:00:00:00:05": [_arp("192.0.2.1", "02:fc:00:00:00:05", "eth0")],
    }  # fmt: skip


def test_parse_ip_neigh_keeps_both_families_and_drops_failed_entries() -> None:
    entries = [
        {"dst": "10.254.7.23", "dev": "virbr7", "lladdr": "52:54:00:AB:CD:01", "state": ["STALE"]},
        {"dst": "2001:db8::23", "dev": "virbr7", "lladdr": "52:54:00:ab:cd:01", "state": ["REACHABLE"]},
        {"dst": "fe80::5054:ff:feab:cd01", "dev": "virbr7", "lladdr": "52:54:00:ab:cd:01", "state": ["STALE"]},
        {"dst": "10.254.7.30", "dev": "virbr7", "state": ["INCOMPLETE"]},
        {"dst": "10.254.7.31", "dev": "virbr7", "lladdr": "52:54:00:ab:cd:09", "state": ["FAILED"]},
        {"dst": "fd00::1", "dev": "eth0", "state": ["FAILED"]},
    ]
    assert _address.parse_ip_neigh(entries) == {
        "52:54:00:ab:cd:01": [_arp("10.254.7.23", "52:54:00:ab:cd:01", "virbr7"),
                              _arp("2001:db8::23", "52:54:00:ab:cd:01", "virbr7", "ipv6")],
    }  # fmt: skip


def test_neighbour_table_falls_back_to_proc_net_arp(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "arp").write_text(PROC_ARP)
    monkeypatch.setattr(_address, "PROC_ARP", str(tmp_path / "arp"))
    monkeypatch.setattr(_address.shutil, "which", lambda *_args, **_kwargs: None)  # no `ip` on this host
    assert sorted(_address.neighbour_table()) == ["02:fc:00:00:00:05", "52:54:00:ab:cd:01"]


def test_neighbour_table_reads_this_hosts_table() -> None:
    """A neighbour entry of the test's own (on a veth pair of its own with a permanent entry; never the uplink)."""
    link = f"kvtu{secrets.token_hex(3)}"
    mac = "52:54:00:" + ":".join(secrets.token_hex(1) for _octet in range(3))

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    ip("link", "add", link, "type", "veth", "peer", "name", f"{link}p")  # no dummy driver here
    try:
        ip("addr", "add", "192.0.2.1/24", "dev", link)
        ip("link", "set", link, "up")
        ip("neigh", "replace", "192.0.2.77", "lladdr", mac, "dev", link, "nud", "permanent")
        with open("/proc/net/arp", encoding="ascii") as handle:
            proc = _address.parse_proc_arp(handle.read())
        table = _address.neighbour_table()  # through `ip -j neigh` here
        assert [item["address"] for item in proc[mac]] == ["192.0.2.77"]
        assert [item["address"] for item in table[mac]] == ["192.0.2.77"]
    finally:
        ip("link", "del", link)


class _Conn:
    def __init__(self, uri: str) -> None:
        self.uri = uri

    def getURI(self) -> str:  # noqa: N802 - libvirt's name
        return self.uri


@pytest.mark.parametrize(
    ("uri", "local"),
    [("qemu:///system", True), ("qemu+unix:///system?socket=/x.sock", True), ("qemu+ssh://root@hv1/system", False),
     ("test:///default", False)],
)  # fmt: skip
def test_arp_table_only_for_a_local_hypervisor(uri: str, local: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    monkeypatch.setattr(_address, "neighbour_table", lambda: reads.append(1) or {"52:54:00:ab:cd:01": []})
    assert (_address.arp_table(_Conn(uri)) is not None) is local
    assert len(reads) == int(local)


def test_neighbour_snapshot_is_read_once_per_round() -> None:
    now = [0.0]
    snapshot = _address.NeighbourSnapshot(max_age=0.5, reader=lambda: {"m": []}, clock=lambda: now[0])
    for _guest in range(20):
        snapshot.table()
    assert snapshot.reads == 1
    now[0] = 0.6
    snapshot.table()
    assert snapshot.reads == 2


def test_by_macs_in_interface_order() -> None:
    table = _address.parse_proc_arp(PROC_ARP)
    found = _address.by_macs(table, ["02:FC:00:00:00:05", None, "52:54:00:ab:cd:01"])
    assert [item["address"] for item in found] == ["192.0.2.1", "10.254.7.23", "10.254.8.9"]


# ---------------------------------------------------------------------------------------------- DHCP offers


def test_dhcp_pools_cover_the_ranges_and_host_entries_of_active_networks() -> None:
    conn = connect("test:///default")  # its network "default" hands out 192.168.122.2-254
    name = f"offers-{secrets.token_hex(3)}"
    conn.networkCreateXML(
        f"""<network><name>{name}</name><bridge name='{name[:15]}'/>
  <ip address='10.77.0.1' netmask='255.255.255.0'><dhcp>
    <range start='10.77.0.100' end='10.77.0.150'/><host mac='52:54:00:00:00:09' ip='10.77.0.9'/>
  </dhcp></ip>
  <ip family='ipv6' address='fd00:77::1' prefix='64'><dhcp><range start='fd00:77::100' end='fd00:77::1ff'/></dhcp></ip>
</network>"""
    )
    pools = _address.DhcpPools.read(conn)
    assert [pools.covers(a) for a in ("192.168.122.2", "192.168.122.254", "192.168.122.1")] == [True, True, False]
    assert [pools.covers(a) for a in ("10.77.0.100", "10.77.0.150", "10.77.0.151", "10.77.0.9", "10.77.0.10")] == [
        True, True, False, True, False
    ]  # fmt: skip
    assert [pools.covers(a) for a in ("fd00:77::1ff", "fd00:77::200", "not-an-ip")] == [True, False, False]


def test_an_arp_address_dhcp_only_offered_is_not_the_guests_until_leased() -> None:
    pools = _address.DhcpPools([(ipaddress.ip_address("10.0.0.100"), ipaddress.ip_address("10.0.0.200"))])
    arp = [_arp("10.0.0.150", "m", "br0"), _arp("10.0.0.160", "m", "br0"), _arp("10.0.0.5", "m", "br0")]
    kept, offered = pools.taken(arp, [_rec("10.0.0.160")])
    assert [item["address"] for item in kept] == ["10.0.0.160", "10.0.0.5"]  # leased; outside the range (static)
    assert offered == ["10.0.0.150"]


def test_waiter_leaves_out_an_address_only_offered_and_says_so() -> None:
    conn = connect("test:///default")
    dom = conn.lookupByName("test")
    mac = _address.domain_macs(dom)[0]
    table = {mac: [_arp("192.168.122.77", mac, "virbr0"), _arp("192.168.122.3", mac, "virbr0")]}
    waiter = _address.Waiter(
        dom,
        {"sources": ["arp"], "timeout": 1},
        neighbours=_address.NeighbourSnapshot(reader=lambda: table),
        pools=_address.DhcpPools.read(conn),
    )
    assert waiter.poll() is True
    assert [item["address"] for item in waiter.addresses] == ["192.168.122.3"]  # the test driver's lease
    assert waiter.said["arp"] == "192.168.122.3 (192.168.122.77 offered by DHCP, not leased yet)"
    table[mac] = [_arp("192.168.122.77", mac, "virbr0")]
    assert waiter.poll() is False  # only offered: the guest has no address yet
