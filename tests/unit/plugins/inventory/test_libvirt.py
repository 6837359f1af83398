"""The kvmfleet.kvm.libvirt inventory plugin on libvirt's test driver (test:///default and node files of
its own), loaded by Ansible's plugin loader and parsed as ansible-inventory would."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kvmtest
import libvirt
import pytest
import yaml
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, inventory_loader

NODE = """<node>
  <network>
    <name>default</name><bridge name='virbr0'/><forward/>
    <ip address='192.168.122.1' netmask='255.255.255.0'>
      <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>
    </ip>
  </network>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>{web}</name>
    <metadata><kvmfleet:guest xmlns:kvmfleet='urn:kvmfleet:guest:1'>
      <kvmfleet:tag>web</kvmfleet:tag><kvmfleet:tag>prod-eu</kvmfleet:tag></kvmfleet:guest></metadata>
    <memory unit='MiB'>512</memory><vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/></interface>
      <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    </devices>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>{db}</name>
    <metadata><kvmfleet:guest xmlns:kvmfleet='urn:kvmfleet:guest:1'>
      <kvmfleet:tag>db</kvmfleet:tag></kvmfleet:guest></metadata>
    <memory unit='MiB'>2048</memory><vcpu>2</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <test:runstate>5</test:runstate>
  </domain>
</node>
"""


def node(path: Path, web: str = "web1", db: str = "db1") -> str:
    """A test-driver URI whose hypervisor has a running tagged guest ``web`` and a stopped guest ``db``."""
    path.write_text(NODE.format(web=web, db=db))
    return f"test://{path}"


def hostname_of_the_test_driver() -> str:
    """The host name the test driver reports (a local URI's hypervisor name), as a group name."""
    conn = libvirt.openReadOnly("test:///default")
    try:
        return re.sub(r"[^A-Za-z0-9_]", "_", conn.getHostname())
    finally:
        conn.close()


class Parsed:
    """One parse of an inventory file, with the inventory it filled and the warnings it gave."""

    def __init__(self, inventory: InventoryData, warnings: list[str]) -> None:
        self.inventory = inventory
        self.warnings = warnings

    def members(self, group: str) -> set[str]:
        return {host.name for host in self.inventory.groups[group].get_hosts()}

    def hostvars(self, host: str) -> dict[str, Any]:
        return self.inventory.get_host(host).get_vars()

    @property
    def groups(self) -> set[str]:
        return set(self.inventory.groups) - {"all", "ungrouped"}


@pytest.fixture(scope="module", autouse=True)
def plugin_loader() -> Iterator[None]:
    """Ansible's collection loader, as ansible-inventory sets it up. Other test modules may have imported the
    collection as a plain package already: its package modules are imported again through the loader (which
    reads the collection's metadata), the modules below them are shared."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("ansible_collections", "ansible_collections.kvmfleet", "ansible_collections.kvmfleet.kvm"):
            if name in sys.modules:
                patch.delitem(sys.modules, name)
        init_plugin_loader([str(kvmtest.COLLECTIONS)])
        yield


@pytest.fixture
def parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    def run(config: dict[str, Any], cache: bool = True) -> Parsed:
        path = tmp_path / "kvm.libvirt.yml"
        path.write_text(yaml.safe_dump({"plugin": "kvmfleet.kvm.libvirt", **config}))
        plugin = inventory_loader.get("kvmfleet.kvm.libvirt")
        warnings: list[str] = []
        monkeypatch.setattr(plugin.display, "warning", lambda msg, *_args, **_kwargs: warnings.append(msg))
        inventory = InventoryData()
        plugin.parse(inventory, DataLoader(), str(path), cache=cache)
        if config.get("cache"):
            plugin.update_cache_if_changed()  # as Ansible's InventoryManager does after parsing a source
        inventory.reconcile_inventory()
        return Parsed(inventory, warnings)

    return run


@pytest.mark.parametrize(
    ("uris", "message"),
    [
        ([5], "uris[0]: expected a URI or a dictionary with uri (and name)"),
        (["test:///default", {"name": "x"}], "uris[1]: expected a URI or a dictionary with uri (and name)"),
        (["test:///default", {"uri": ["test:///default"]}], "uris[1]: expected a URI"),
    ],
)
def test_bad_targets_name_the_item(parse: Any, uris: list[Any], message: str) -> None:
    with pytest.raises(AnsibleParserError, match=re.escape(message)):
        parse({"uris": uris})


def test_verify_file_wants_the_libvirt_suffix(tmp_path: Path) -> None:
    plugin = inventory_loader.get("kvmfleet.kvm.libvirt")
    for name, ok in (("kvm.libvirt.yml", True), ("libvirt.yaml", True), ("kvm.yml", False)):
        (tmp_path / name).write_text("plugin: kvmfleet.kvm.libvirt\n")
        assert plugin.verify_file(str(tmp_path / name)) is ok, name


def test_groups_by_hypervisor_state_and_tag_with_constructed_groups(parse: Any, tmp_path: Path) -> None:
    uri = node(tmp_path / "hv1.xml")
    parsed = parse(
        {
            "uris": [{"uri": uri, "name": "hv-1"}, "test:///default"],
            "keyed_groups": [{"key": "libvirt_arch", "prefix": "arch"}, {"key": "libvirt_tags", "prefix": "role"}],
            "groups": {"big": "libvirt_memory_mib >= 2048"},
            "compose": {
                "ansible_user": "'debian'",
                "guest_id": "libvirt_uuid",
                # the documented opt-in: guests with the agent's channel through kvmfleet.kvm.guest_agent
                "ansible_connection": "'kvmfleet.kvm.guest_agent' if libvirt_guest_agent else 'ssh'",
            },
        }
    )
    assert parsed.warnings == []
    assert parsed.members("hypervisor_hv_1") == {"web1", "db1"}  # group names: non-word characters become _
    assert parsed.members(f"hypervisor_{hostname_of_the_test_driver()}") == {
        "test"
    }  # no host in the URI: libvirt's host name
    assert parsed.members("state_running") == {"web1", "test"}
    assert parsed.members("state_stopped") == {"db1"}
    assert parsed.members("tag_web") == parsed.members("tag_prod_eu") == {"web1"}
    assert parsed.members("tag_db") == {"db1"}
    assert parsed.members("arch_x86_64") == {"web1", "db1"} and parsed.members("arch_i686") == {"test"}
    assert parsed.members("role_web") == {"web1"} and parsed.members("role_db") == {"db1"}
    assert parsed.members("big") == {"db1", "test"}

    web, db = parsed.hostvars("web1"), parsed.hostvars("db1")
    assert web["libvirt_state"] == "running" and db["libvirt_state"] == "stopped"
    assert web["libvirt_tags"] == ["prod-eu", "web"] and web["libvirt_memory_mib"] == 512
    assert web["ansible_host"] == "192.168.122.3"  # the test driver's made-up address
    assert web["libvirt_addresses"][0]["mac"] == "52:54:00:00:00:01"
    assert "ansible_host" not in db and db["libvirt_addresses"] == []
    assert web["ansible_user"] == "debian" and web["guest_id"] == web["libvirt_uuid"]  # compose
    assert (web["libvirt_guest_agent"], db["libvirt_guest_agent"]) == (True, False)
    assert (web["ansible_connection"], db["ansible_connection"]) == ("kvmfleet.kvm.guest_agent", "ssh")
    # the hypervisor's variables live on its group, once
    group_vars = parsed.inventory.groups["hypervisor_hv_1"].get_vars()
    assert group_vars == {
        "libvirt_uri": uri,
        "libvirt_hypervisor": "hv-1",
        "libvirt_hypervisor_labels": [],
        "libvirt_hypervisor_maintenance": None,
    }
    assert "libvirt_uri" not in web
    assert "maintenance" not in parsed.inventory.groups


def test_a_hypervisor_in_maintenance_shows_in_its_guests_variables_and_group(
    parse: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor import record

    uri = node(tmp_path / "hv1.xml")
    mark = {"since": "2026-12-02T16:00:00Z", "reason": "kernel update"}

    def read(conn: Any) -> tuple[record.Record, bool]:
        if conn.getURI() == uri:
            return record.Record(labels=["ssd"], maintenance=mark), True
        return record.Record(), False

    monkeypatch.setattr(record, "read", read)
    parsed = parse({"uris": [{"uri": uri, "name": "hv-1"}, "test:///default"]})
    assert parsed.members("maintenance") == {"web1", "db1"}
    group_vars = parsed.inventory.groups["hypervisor_hv_1"].get_vars()
    assert group_vars["libvirt_hypervisor_maintenance"] == mark and group_vars["libvirt_hypervisor_labels"] == ["ssd"]


def test_group_prefix_and_no_addresses(parse: Any, tmp_path: Path) -> None:
    parsed = parse(
        {"uris": [{"uri": node(tmp_path / "hv.xml"), "name": "a"}], "group_prefix": "kvm_", "address_sources": []}
    )
    assert parsed.groups == {
        "kvm_hypervisor_a",
        "kvm_state_running",
        "kvm_state_stopped",
        "kvm_tag_web",
        "kvm_tag_prod_eu",
        "kvm_tag_db",
    }
    assert "ansible_host" not in parsed.hostvars("web1")


def test_a_name_on_two_hypervisors_is_listed_once_with_a_warning(parse: Any, tmp_path: Path) -> None:
    first = node(tmp_path / "one.xml", web="web1", db="db1")
    second = node(tmp_path / "two.xml", web="web1", db="db2")  # web1 again, db2 of its own
    parsed = parse({"uris": [{"uri": first, "name": "one"}, {"uri": second, "name": "two"}]})
    assert parsed.members("hypervisor_one") == {"web1", "db1"}
    assert parsed.members("hypervisor_two") == {"db2"}
    assert parsed.hostvars("web1")["libvirt_memory_mib"] == 512
    assert [group.name for group in parsed.inventory.get_host("web1").get_groups()].count("hypervisor_two") == 0
    assert parsed.warnings == [
        f"kvmfleet.kvm.libvirt: 1 guests of {second} are left out: a guest of an earlier hypervisor has the same "
        f"name: web1 (also on {first})"
    ]


def test_an_unreachable_hypervisor_warns_and_the_others_are_listed(parse: Any, tmp_path: Path) -> None:
    bad = f"qemu+unix:///system?socket={tmp_path}/none.sock"
    parsed = parse({"uris": [bad, {"uri": node(tmp_path / "hv.xml"), "name": "ok"}]})
    assert parsed.members("hypervisor_ok") == {"web1", "db1"}
    (warning,) = parsed.warnings
    assert warning.startswith(f"kvmfleet.kvm.libvirt: skipping {bad}: cannot connect to libvirt at {bad}")


def cache_options(tmp_path: Path) -> dict[str, Any]:
    return {
        "cache": True,
        "cache_plugin": "ansible.builtin.jsonfile",
        "cache_connection": str(tmp_path / "cache"),
        "cache_timeout": 3600,
    }


def test_a_listing_with_a_failed_hypervisor_is_not_cached(parse: Any, tmp_path: Path) -> None:
    source = tmp_path / "hv.xml"
    uris = [{"uri": node(source), "name": "ok"}, f"qemu+unix:///system?socket={tmp_path}/none.sock"]
    parse({"uris": uris, **cache_options(tmp_path)})
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())

    node(source, web="web2")  # the hypervisor changes: a listing that was not cached is read again
    again = parse({"uris": uris, **cache_options(tmp_path)})
    assert again.members("hypervisor_ok") == {"web2", "db1"}


def test_a_complete_listing_is_cached_until_flushed(parse: Any, tmp_path: Path) -> None:
    source = tmp_path / "hv.xml"
    config = {"uris": [{"uri": node(source), "name": "ok"}], **cache_options(tmp_path)}
    assert parse(config).members("hypervisor_ok") == {"web1", "db1"}
    assert list((tmp_path / "cache").iterdir())

    node(source, web="web2")
    assert parse(config).members("hypervisor_ok") == {"web1", "db1"}  # served from the cache
    assert parse(config, cache=False).members("hypervisor_ok") == {"web2", "db1"}  # --flush-cache
    assert parse(config).members("hypervisor_ok") == {"web2", "db1"}  # ...and cached anew
