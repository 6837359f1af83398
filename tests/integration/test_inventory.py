"""guest_info and the kvmfleet.kvm.libvirt inventory on the real libvirtd (plus test:///default and an
unreachable URI), checked against what virsh says about the same guests."""

from __future__ import annotations

import json
import socket
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kvmtest
import pytest
import yaml

UNREACHABLE = "qemu+unix:///system?socket=/nonexistent/kvmfleet-inventory.sock"


@pytest.fixture(scope="module")
def fleet(conn: Any, tiny_image: Path, test_network: dict[str, str], tmp_path_factory: Any) -> Iterator[dict]:
    """A running tagged guest with a DHCP lease and a stopped one, on the real libvirtd."""
    prefix = kvmtest.random_prefix()
    log = tmp_path_factory.mktemp("fleet") / "web.log"
    web, db = f"{prefix}web", f"{prefix}db"
    tiny = {
        "memory": "128MiB",
        "kernel": str(tiny_image / "vmlinuz"),
        "initrd": str(tiny_image / "initrd.img"),
        "cmdline": "console=ttyS0 panic=-1 quiet",
    }
    try:
        result = kvmtest.run_playbook(
            [
                {
                    "name": "fleet",
                    "kvmfleet.kvm.guests": {
                        "defaults": tiny,
                        "guests": [
                            {
                                "name": web,
                                "tags": ["web", "tiny"],
                                "interfaces": [{"source": test_network["name"]}],
                                "console": {"log": str(log)},
                                "state": "running",
                            },
                            {"name": db, "tags": ["db"], "vcpus": 2, "state": "present"},
                        ],
                    },
                }
            ]
        ).result("fleet")
        assert not result.get("failed"), result.get("msg")
        kvmtest.wait_for_serial(log, "KVMFLEET-TINY-READY", timeout=180)
        mac = ET.fromstring(kvmtest.virsh("dumpxml", web)).find("devices/interface/mac").get("address")
        yield {"prefix": prefix, "web": web, "db": db, "mac": mac, "ip": kvmtest.dhcp_leases(test_network["name"])[mac]}
    finally:
        kvmtest.remove_prefixed(conn, prefix)


# ---------------------------------------------------------------------------------------------- guest_info


def test_guest_info_matches_virsh(play, fleet: dict[str, Any]) -> None:
    task = {"name": "info", "kvmfleet.kvm.guest_info": {"name": [fleet["web"], fleet["db"], "kvt-no-such-guest"]}}
    real = play([task]).result("info")
    checked = play([task], check=True).result("info")
    assert real["changed"] is False and checked["guests"] == real["guests"]

    web, db = sorted(real["guests"], key=lambda guest: guest["name"] != fleet["web"])
    assert [web["name"], db["name"]] == [fleet["web"], fleet["db"]]  # the missing name is just not listed
    assert web["state"] == kvmtest.virsh("domstate", fleet["web"]).strip() == "running"
    assert db["state"] == "stopped" and kvmtest.virsh("domstate", fleet["db"]).strip() == "shut off"
    assert web["tags"] == ["tiny", "web"] and db["tags"] == ["db"]
    assert web["memory_mib"] == 128 and db["vcpus"] == int(
        kvmtest.virsh("vcpucount", "--config", "--current", fleet["db"])
    )
    assert web["interfaces"][0]["mac"] == fleet["mac"]
    assert web["address"] == fleet["ip"]
    assert web["addresses"][0]["source"] == "lease" and web["addresses"][0]["mac"] == fleet["mac"]
    assert db["addresses"] == [] and db["address"] is None
    assert [disk["target"] for disk in web["disks"]] == []  # direct kernel boot, no disk

    tagged = play([{"name": "tagged", "kvmfleet.kvm.guest_info": {"tags": ["web", "tiny"]}}]).result("tagged")
    assert [guest["name"] for guest in tagged["guests"]] == [fleet["web"]]


# ---------------------------------------------------------------------------------------------- inventory


def write_inventory(path: Path, **extra: Any) -> Path:
    config = {
        "plugin": "kvmfleet.kvm.libvirt",
        "uris": [kvmtest.SYSTEM_URI, {"uri": "test:///default", "name": "testhv"}, UNREACHABLE],
        "keyed_groups": [{"key": "libvirt_arch", "prefix": "arch"}],
        "groups": {"small": "libvirt_memory_mib <= 128"},
        "compose": {"guest_uuid": "libvirt_uuid"},
        **extra,
    }
    inventory = path / "kvm.libvirt.yml"
    inventory.write_text(yaml.safe_dump(config))
    return inventory


def ansible_inventory(inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(kvmtest.VENV_BIN / "ansible-inventory"), "-i", str(inventory), *args],
        capture_output=True,
        text=True,
        env=kvmtest.ansible_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def graph(text: str) -> dict[str, set[str]]:
    """``ansible-inventory --graph`` output as group -> the hosts directly in it."""
    groups: dict[str, set[str]] = {}
    stack: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        depth = line.count("|")
        name = (line.split("--", 1)[-1] if depth else line).strip().rstrip(":")
        del stack[depth:]
        if name.startswith("@"):
            stack.append(name[1:])
            groups.setdefault(name[1:], set())
        else:
            groups[stack[-1]].add(name)
    return groups


def plain(value: Any) -> Any:
    """``--list`` output without the markers of untrusted strings (guest data is never templated)."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def every_host(groups: dict[str, set[str]]) -> set[str]:
    return set().union(*groups.values())


def test_inventory_lists_two_hypervisors_and_warns_about_the_unreachable_one(
    fleet: dict[str, Any], tmp_path: Path
) -> None:
    inventory = write_inventory(tmp_path)
    proc = ansible_inventory(inventory, "--graph")
    groups = graph(proc.stdout)
    web, db = fleet["web"], fleet["db"]
    hypervisor = f"hypervisor_{kvmtest.virsh('hostname').strip()}"

    assert {web, db} <= groups[hypervisor]
    assert groups["hypervisor_testhv"] == {"test"}
    assert {web, "test"} <= groups["state_running"] and db not in groups["state_running"]
    assert db in groups["state_stopped"]
    assert web in groups["tag_web"] and web in groups["tag_tiny"] and db in groups["tag_db"]
    assert web not in groups["tag_db"]
    assert {web, db} <= groups["arch_x86_64"] and "test" in groups["arch_i686"]  # keyed_groups
    assert {web, db} <= groups["small"] and "test" not in groups["small"]  # groups
    assert "skipping qemu+unix:///system?socket=/nonexistent/kvmfleet-inventory.sock" in " ".join(proc.stderr.split())

    listing = json.loads(ansible_inventory(inventory, "--list").stdout)
    assert listing["_meta"]["hostvars"][web]["ansible_host"] == {"__ansible_unsafe": fleet["ip"]}  # never templated
    hostvars = plain(listing["_meta"]["hostvars"])
    assert hostvars[web]["ansible_host"] == fleet["ip"]
    assert hostvars[web]["libvirt_state"] == "running"
    assert hostvars[web]["libvirt_uri"] == kvmtest.SYSTEM_URI
    assert hostvars[web]["guest_uuid"] == kvmtest.virsh("domuuid", web).strip()  # compose
    assert hostvars[db]["libvirt_state"] == "stopped" and "ansible_host" not in hostvars[db]
    assert hostvars[db]["libvirt_tags"] == ["db"]
    assert hostvars["test"]["libvirt_hypervisor"] == "testhv"


def test_inventory_cache_serves_the_last_listing_until_flushed(
    conn: Any, fleet: dict[str, Any], tmp_path: Path
) -> None:
    inventory = write_inventory(
        tmp_path,
        uris=[kvmtest.SYSTEM_URI],
        cache=True,
        cache_plugin="ansible.builtin.jsonfile",
        cache_connection=str(tmp_path / "cache"),
        cache_timeout=3600,
    )
    first = graph(ansible_inventory(inventory, "--graph").stdout)
    late = f"{fleet['prefix']}late"
    conn.defineXML(kvmtest.tiny_domain_xml(late, None, tmp_path / "late.log"))

    cached = graph(ansible_inventory(inventory, "--graph").stdout)
    assert late not in every_host(cached)  # served from the cache
    assert cached == first
    flushed = graph(ansible_inventory(inventory, "--graph", "--flush-cache").stdout)
    assert late in flushed["state_stopped"]
    assert list((tmp_path / "cache").iterdir())


def test_a_hypervisor_that_never_answers_is_left_out_after_the_timeout(tmp_path: Path) -> None:
    socket_path = tmp_path / "silent.sock"
    with socket.socket(socket.AF_UNIX) as silent:  # accepts connections, never says a word
        silent.bind(str(socket_path))
        silent.listen(5)
        uri = f"qemu+unix:///system?socket={socket_path}"
        inventory = write_inventory(tmp_path, uris=[{"uri": "test:///default", "name": "testhv"}, uri], timeout=2)
        proc = ansible_inventory(inventory, "--graph")
    assert graph(proc.stdout)["hypervisor_testhv"] == {"test"}
    assert f"skipping {uri}: no answer within 2 s" in " ".join(proc.stderr.split())
