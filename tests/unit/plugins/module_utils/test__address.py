"""Addresses from libvirt's answers, the best address, and waiting (on the test driver)."""

from __future__ import annotations

import socket
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
