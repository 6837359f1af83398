"""Pools: the table's checks, XML for every type (validated against libvirt's schema) and read back
into the same shape, and the planner on libvirt's test:///default driver."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, NeedsOption, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.options import POOL_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.plan import PoolPlanner, converge
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.xml import pool_xml, read_pool

URI = "test:///default"
UUID = "2ec115d7-3a88-3ceb-bc12-0ac909a6fd87"


def values(**options: Any) -> dict[str, Any]:
    validated, problems = POOL_MODULE.validate(options)
    assert problems == []
    return validated


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"type": "lvm"}, ("type", "must be one of dir, fs, netfs, logical, iscsi, rbd, zfs")),
        ({"type": "dir", "target": "images"}, ("target", "'images' is not an absolute path")),
        ({"type": "dir"}, ("target", "a dir pool needs a target directory")),
        (
            {"type": "fs", "target": "/m", "source": {"devices": ["sdb"]}},
            ("source.devices", "'sdb' is not an absolute"),
        ),
        ({"type": "fs", "target": "/m", "source": {"devices": ["/a", "/b"]}}, ("source.devices", "exactly one device")),
        (
            {"type": "fs", "target": "/m", "source": {"devices": ["/a"], "format": "nfs"}},
            ("source.format", "takes format"),
        ),
        ({"type": "netfs", "target": "/m", "source": {"dir": "/x"}}, ("source.hosts", "needs source.hosts")),
        ({"type": "netfs", "target": "/m", "source": {"hosts": ["a b"], "dir": "/x"}}, ("source.hosts", "not a host")),
        ({"type": "logical", "source": {"devices": ["/dev/sdb"]}}, ("source.name", "needs source.name")),
        ({"type": "iscsi", "source": {"hosts": ["h"]}}, ("source.iqn", "needs source.iqn")),
        ({"type": "rbd", "target": "/x", "source": {"name": "p", "hosts": ["m"]}}, ("target", "no target path")),
        (
            {"type": "rbd", "source": {"name": "p", "hosts": ["m"], "auth": {"type": "ceph"}}},
            ("source.auth.username", "is required"),
        ),
        ({"type": "rbd", "source": {"name": "p", "hosts": ["m"], "dir": "/x"}}, ("source.dir", "takes no source.dir")),
        ({"type": "dir", "target": "/x", "target_mode": "999"}, ("target_mode", "is not an octal mode")),
        (
            {"type": "logical", "source": {"name": "vg"}, "target_mode": "0755"},
            ("target_mode", "applies to dir, fs and netfs"),
        ),
        ({"state": "active", "remove_volumes": True}, ("remove_volumes", "applies to state: absent")),
        ({"name": "a/b"}, ("name", "is not a pool name")),
    ],
)
def test_table_names_the_field(options: dict[str, Any], problem: tuple[str, str]) -> None:
    _values, problems = POOL_MODULE.validate({"name": "p", **options})
    assert any(path == problem[0] and problem[1] in message for path, message in problems), problems


def test_mode_is_normalised_to_four_digits() -> None:
    assert values(name="p", type="dir", target="/x/", target_mode="755")["target_mode"] == "0755"
    assert values(name="p", type="dir", target="/x/")["target"] == "/x"


SHAPES = {
    "dir": {"target": "/srv/pool", "target_owner": "0", "target_group": "107", "target_mode": "0711"},
    "fs": {"target": "/srv/fs", "source": {"devices": ["/dev/loop7"], "format": "ext4"}},
    "netfs": {"target": "/srv/nfs", "source": {"hosts": ["nfs.example.com"], "dir": "/export", "format": "nfs"}},
    "logical": {"source": {"name": "vg0", "devices": ["/dev/sdb", "/dev/sdc"], "format": "lvm2"}},
    "iscsi": {
        "source": {
            "hosts": ["192.0.2.10:3260"],
            "iqn": "iqn.2013-06.com.example:pool",
            "initiator": "iqn.2013-06.com.example:client",
            "auth": {"type": "chap", "username": "u", "secret_uuid": UUID},
        }
    },
    "rbd": {
        "source": {
            "name": "libvirt-pool",
            "hosts": ["mon1.example.com:6789", "[2001:db8::1]:6789"],
            "auth": {"type": "ceph", "username": "libvirt", "secret_usage": "client.libvirt"},
        }
    },
    "zfs": {"source": {"name": "tank", "devices": ["/dev/sdd"]}},
}


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_every_type_renders_schema_valid_xml_that_reads_back(kind: str, tmp_path: Path) -> None:
    options = values(name="p", type=kind, **SHAPES[kind])
    xml = pool_xml("p", options, UUID)
    path = tmp_path / "pool.xml"
    path.write_text(xml)
    proc = subprocess.run(["virt-xml-validate", str(path), "storagepool"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr + xml
    shape = read_pool(xml)
    assert shape["type"] == kind and shape["uuid"] == UUID
    for key, value in (options["source"] or {}).items():
        assert value is None or shape["source"][key] == value, key
    for key in ("target", "target_owner", "target_group", "target_mode"):
        assert options[key] is None or shape[key] == options[key], key
    if kind == "logical":
        assert shape["target"] == "/dev/vg0"
    if kind == "iscsi":
        assert shape["target"] == "/dev/disk/by-path"


@pytest.fixture
def conn() -> Iterator[Any]:
    connection = connect(URI)
    yield connection
    connection.close()


def test_planner_on_the_test_driver(conn: Any, tmp_path: Path) -> None:
    name = f"unit-{secrets.token_hex(3)}"
    target = str(tmp_path / "p")
    want = {"name": name, "type": "dir", "target": target, "autostart": True}
    check = converge(conn, URI, values(**want), check_mode=True)
    assert check["actions"] == [
        f"define dir pool {name}",
        f"create directory {target}",
        f"start pool {name}",
        f"set pool {name} to start with libvirtd",
    ]
    with pytest.raises(Exception, match="not found"):
        conn.storagePoolLookupByName(name)
    applied = converge(conn, URI, values(**want), check_mode=False)
    try:
        assert applied["actions"] == check["actions"] and applied["diff"] == check["diff"]
        assert converge(conn, URI, values(**want), check_mode=False)["changed"] is False
        with pytest.raises(NeedsOption, match="set recreate: true to allow it"):
            PoolPlanner(conn, URI, values(**{**want, "target": target + "2"})).make()
        with pytest.raises(ValidationError, match=f"type: is required to create storage pool {name}x"):
            PoolPlanner(conn, URI, values(name=name + "x")).make()
        stop = converge(conn, URI, values(name=name, state="inactive"), check_mode=False)
        assert stop["actions"] == [f"stop pool {name}"] and stop["state"] == "inactive"
        moved = converge(conn, URI, values(**{**want, "target": target + "2", "state": "inactive"}), check_mode=False)
        assert moved["actions"][0] == f"redefine pool {name}: target"
        assert read_pool(conn.storagePoolLookupByName(name).XMLDesc(0))["target"] == target + "2"
    finally:
        pool = conn.storagePoolLookupByName(name)
        if pool.isActive():
            pool.destroy()
        pool.undefine()


def test_mounted_pool_permissions_are_refused_on_remote_hypervisors(conn: Any) -> None:
    want = values(name="p", type="fs", target="/m", source={"devices": ["/dev/sdb"]}, target_mode="0755")
    with pytest.raises(ValidationError, match=r"^target_mode: the permissions of a fs pool's mounted directory"):
        PoolPlanner(conn, "qemu+ssh://hv1/system", want).make()


def test_a_refused_remote_build_points_to_build_false(conn: Any) -> None:
    """libvirt refuses to build over data on a remote hypervisor (never probed): the message says what to do."""
    lv = require_libvirt()
    want = values(name="p", type="logical", source={"name": "vg", "devices": ["/dev/sdb"]})
    planner = PoolPlanner(conn, "qemu+ssh://hv1/system", want)
    plan = planner.make()
    assert [action.description for action in plan.actions] == [
        "define logical pool p",
        "create volume group vg on /dev/sdb only if they hold no data",
        "start pool p",
    ]

    def refuse() -> None:
        lv.virResetLastError()  # a libvirtError made here takes the thread's last error, if any
        raise lv.libvirtError("Device '/dev/sdb' already formatted using 'LVM2_member'")

    with pytest.raises(KvmFleetError, match=r"^build: libvirt did not build pool p \(Device '/dev/sdb' already") as exc:
        planner.builds._remote(refuse, "volume group vg already exists or /dev/sdb hold data")
    assert "declare the pool with build: false to use what is there" in str(exc.value)
