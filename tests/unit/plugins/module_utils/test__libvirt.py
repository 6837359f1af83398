"""The connection code: URIs, error messages, the import guard."""

from __future__ import annotations

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import ConnectionFailed, LibvirtMissing


def test_connect_opens_the_test_driver() -> None:
    conn = _libvirt.connect("test:///default")
    try:
        assert conn.getURI() == "test:///default"
        assert "test" in [dom.name() for dom in conn.listAllDomains()]
    finally:
        conn.close()


def test_connect_read_only() -> None:
    conn = _libvirt.connect("test:///default", readonly=True)
    try:
        assert conn.isAlive()
    finally:
        conn.close()


def test_unreachable_daemon_names_the_uri_and_what_to_check() -> None:
    uri = "qemu+unix:///system?socket=/nonexistent/kvmfleet.sock"
    with pytest.raises(ConnectionFailed) as info:
        _libvirt.connect(uri)
    assert info.value.msg.startswith(f"cannot connect to libvirt at {uri}: ")
    assert "libvirtd" in info.value.msg and "libvirt group" in info.value.msg
    assert info.value.details == {"uri": uri}


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("qemu:///system", "virtqemud"),
        ("qemu+unix:///system", "libvirt group"),
        ("qemu+ssh://root@hv1/system", "SSH to hv1"),
        ("qemu+libssh://hv2/system", "SSH to hv2"),
        ("qemu+tcp://hv3/system", "16509"),
        ("qemu+tls://hv4/system", "16514"),
        ("qemu://hv5/system", "TLS"),
        ("test:///default", "test driver"),
    ],
)
def test_connection_hint_by_transport(uri: str, expected: str) -> None:
    assert expected in _libvirt.connection_hint(uri)


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("qemu:///system", True),
        ("qemu:///session", True),
        ("qemu+unix:///system", True),
        ("qemu+ssh://root@hv1/system", False),
        ("qemu+tcp://10.0.0.1/system", False),
        ("test:///default", False),
    ],
)
def test_is_local_uri(uri: str, local: bool) -> None:
    assert _libvirt.is_local_uri(uri) is local


def test_missing_binding_says_which_package_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_libvirt, "libvirt", None)
    with pytest.raises(LibvirtMissing) as info:
        _libvirt.connect("qemu:///system")
    assert "python3-libvirt" in info.value.msg
    assert "libvirt-python" in info.value.msg


def test_find_is_none_only_for_a_missing_object() -> None:
    conn = _libvirt.connect("test:///default")
    try:
        assert _libvirt.find(conn.lookupByName, "test").name() == "test"
        assert _libvirt.find(conn.lookupByName, "kvmfleet-missing") is None
        assert _libvirt.find(conn.networkLookupByName, "kvmfleet-missing") is None
        assert _libvirt.find(conn.storagePoolLookupByName, "kvmfleet-missing") is None
        pool = conn.storagePoolLookupByName("default-pool")
        assert _libvirt.find(pool.storageVolLookupByName, "kvmfleet-missing") is None
        dead = _libvirt.connect("test:///default")
        dead.close()
        with pytest.raises(_libvirt.libvirt.libvirtError):  # a closed connection is an error, never "absent"
            _libvirt.find(dead.lookupByName, "test")
    finally:
        conn.close()
