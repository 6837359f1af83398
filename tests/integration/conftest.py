"""Fixtures for tests against the real libvirtd at qemu:///system.

The daemon must run (scripts/setup.sh starts it): a test that cannot reach it fails, it never skips.
Every test gets a random name prefix; whatever it created under that prefix is removed afterwards,
also when the test failed.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kvmtest
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect


@pytest.fixture(scope="session")
def conn() -> Iterator[Any]:
    """A connection to the real libvirtd, through the collection's own connection code."""
    try:
        connection = connect(kvmtest.SYSTEM_URI)
    except KvmFleetError as exc:
        pytest.fail(f"integration tests need libvirtd (run scripts/setup.sh): {exc.msg}", pytrace=False)
    yield connection
    connection.close()


@pytest.fixture
def prefix(conn: Any) -> Iterator[str]:
    """A random name prefix; every libvirt object named with it is removed after the test."""
    name_prefix = kvmtest.random_prefix()
    yield name_prefix
    kvmtest.remove_prefixed(conn, name_prefix)


@pytest.fixture(scope="session")
def tiny_image() -> Path:
    """The tiny guest's kernel and initramfs (built by scripts/images/build-tiny.sh)."""
    image = kvmtest.TINY_IMAGE
    if not (image / ".complete").exists():
        subprocess.run(["bash", str(kvmtest.ROOT / "scripts/images/build-tiny.sh")], check=True, capture_output=True)
    assert (image / "vmlinuz").stat().st_size > 1_000_000
    assert (image / "initrd.img").stat().st_size > 100_000
    return image.resolve()


@pytest.fixture(scope="session")
def test_network(conn: Any) -> Iterator[dict[str, str]]:
    """An isolated libvirt network with DHCP on its own bridge, for the whole session."""
    name = f"{kvmtest.TEST_PREFIX}net-{secrets.token_hex(3)}"
    bridge = f"kvt{secrets.token_hex(3)}"
    subnet = kvmtest.free_subnet(conn)
    hosts = list(subnet.hosts())
    xml = f"""<network>
  <name>{name}</name>
  <bridge name='{bridge}' stp='off'/>
  <ip address='{hosts[0]}' netmask='{subnet.netmask}'>
    <dhcp><range start='{hosts[99]}' end='{hosts[199]}'/></dhcp>
  </ip>
</network>"""
    net = conn.networkCreateXML(xml)
    yield {"name": name, "bridge": bridge, "subnet": str(subnet), "gateway": str(hosts[0])}
    net.destroy()


@pytest.fixture
def play_vars() -> dict[str, Any]:
    """Variables of every play a test runs; tests parametrize it (see ``BOTH_WAYS`` in kvmtest)."""
    return {}


@pytest.fixture
def play(play_vars: dict[str, Any]) -> Callable[..., kvmtest.PlayResult]:
    """Run a play of tasks against localhost: ``play(tasks, check=..., diff=...)``."""

    def run(tasks: list[dict[str, Any]], **kwargs: Any) -> kvmtest.PlayResult:
        kwargs["play_vars"] = {**play_vars, **(kwargs.get("play_vars") or {})}
        return kvmtest.run_playbook(tasks, **kwargs)

    return run


@pytest.fixture(scope="session")
def test_pool(conn: Any) -> Iterator[dict[str, str]]:
    """A dir storage pool of the session's own, under /var/lib/libvirt/images."""
    name = f"{kvmtest.TEST_PREFIX}pool-{secrets.token_hex(3)}"
    path = f"/var/lib/libvirt/images/{name}"
    xml = f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>"
    pool = conn.storagePoolDefineXML(xml, 0)
    pool.build(0)
    pool.create(0)
    yield {"name": name, "path": path}
    pool.refresh(0)
    for vol in pool.listAllVolumes():
        vol.delete(0)
    pool.destroy()
    pool.delete(0)
    pool.undefine()


@pytest.fixture
def triad(play: Callable[..., kvmtest.PlayResult]) -> Callable[..., list[dict[str, Any]]]:
    """Run one task check -> apply -> check -> apply; assert changed, changed, not changed, not changed."""

    def run(task: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        for check in (True, False, True, False):
            outcome = play([{"name": "task", **task}], check=check, diff=True)
            result = outcome.result("task")
            assert not result.get("failed"), f"{'check' if check else 'apply'} failed: {result.get('msg')}"
            results.append(result)
        plans = [r["actions"] if "actions" in r else [g["actions"] for g in r["guests"]] for r in results]
        assert [r["changed"] for r in results] == [True, True, False, False], plans
        # check mode predicts exactly what the real run does
        assert plans[0] == plans[1]
        assert results[0]["diff"] == results[1]["diff"]
        return results

    return run


# ---------------------------------------------------------------------------------------------- the fleet


@pytest.fixture(scope="session")
def fleet(tiny_image: Path) -> Iterator[Any]:
    """Three container hypervisors (tests/fleet.py), set up by the collection's own hypervisors.yml,
    once for the whole session (KVMFLEET_KEEP_FLEET=1 keeps them for the next session)."""
    import fleet as fleet_helpers

    assert tiny_image.exists()
    hypervisors = fleet_helpers.up(3)
    yield hypervisors
    if os.environ.get("KVMFLEET_KEEP_FLEET") != "1":
        fleet_helpers.down()


@pytest.fixture
def fleet_conns(fleet: Any) -> Iterator[dict[str, Any]]:
    """A libvirt connection to each fleet hypervisor, by name (through the collection's connection code)."""
    conns = {host.name: connect(host.uri) for host in fleet.hosts}
    yield conns
    for conn in conns.values():
        conn.close()


@pytest.fixture
def fleet_prefix(fleet_conns: dict[str, Any]) -> Iterator[str]:
    """A random name prefix; afterwards every guest and volume named with it is removed from every
    hypervisor of the fleet, and every maintenance mark is lifted (also when the test failed)."""
    import fleet as fleet_helpers

    name_prefix = kvmtest.random_prefix()
    yield name_prefix
    fleet_helpers.clean(fleet_conns, name_prefix)
