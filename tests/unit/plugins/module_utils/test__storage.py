"""Volumes: driver types, volume XML, and creation on the test driver."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _storage
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect


@pytest.mark.parametrize(
    ("volume_format", "driver"),
    [("qcow2", "qcow2"), ("raw", "raw"), ("iso", "raw"), ("dir", "raw"), (None, "raw"), ("vmdk", "vmdk")],
)
def test_driver_type(volume_format: str | None, driver: str) -> None:
    assert _storage.driver_type(volume_format) == driver


def test_overlay_volume_xml() -> None:
    root = ET.fromstring(_storage.volume_xml("web-vda.qcow2", 2 * 1024**3, "qcow2", ("/pool/base.qcow2", "qcow2")))
    assert root.findtext("name") == "web-vda.qcow2"
    assert root.find("capacity").get("unit") == "bytes" and root.findtext("capacity") == str(2 * 1024**3)
    assert root.findtext("allocation") == "0"
    assert root.find("target/format").get("type") == "qcow2"
    assert root.findtext("backingStore/path") == "/pool/base.qcow2"
    assert root.find("backingStore/format").get("type") == "qcow2"


def test_raw_volume_has_no_backing_store() -> None:
    root = ET.fromstring(_storage.volume_xml("seed.iso", 4096, "raw"))
    assert root.find("backingStore") is None and root.find("allocation") is None


def test_create_find_and_describe_on_the_test_driver() -> None:
    conn = connect("test:///default")
    try:
        pool = _storage.find_pool(conn, "default-pool")
        assert pool is not None and _storage.find_pool(conn, "nope") is None
        name = f"unit-{secrets.token_hex(3)}.img"
        _storage.create_volume(pool, name, 1024**2, "raw")
        vol = _storage.find_volume(pool, name)
        assert vol is not None and _storage.find_volume(pool, "missing") is None
        assert _storage.volume_facts(vol)["capacity"] == 1024**2
        vol.delete(0)
    finally:
        conn.close()
