"""guest_info's reader on the test driver, and the module's filters."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest_info import describe, read_guests
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect
from ansible_collections.kvmfleet.kvm.plugins.modules import guest_info

TAGGED = """<domain type='qemu'>
  <name>tagged</name>
  <uuid>0b0e5c3e-2f7e-4a5e-9d8b-1f1f1f1f1f1f</uuid>
  <metadata><kvmfleet:guest xmlns:kvmfleet='urn:kvmfleet:guest:1'>
    <kvmfleet:tag>web</kvmfleet:tag><kvmfleet:tag>db</kvmfleet:tag></kvmfleet:guest></metadata>
  <memory unit='MiB'>1024</memory><currentMemory unit='MiB'>512</currentMemory>
  <vcpu current='1'>4</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>
      <source pool='default' volume='tagged.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><source file='/tmp/seed.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
    <interface type='bridge'><mac address='52:54:00:AA:00:01'/><source bridge='br0'/><model type='virtio'/></interface>
  </devices>
</domain>"""


def test_describe_reads_with_the_guest_modules_reader() -> None:
    guest = describe(TAGGED, "stopped")
    assert guest["name"] == "tagged" and guest["state"] == "stopped"
    assert guest["tags"] == ["db", "web"]
    assert (guest["vcpus"], guest["max_vcpus"]) == (1, 4)
    assert (guest["memory_mib"], guest["max_memory_mib"]) == (512, 1024)
    assert [(d["device"], d["target"], d["volume"], d["path"]) for d in guest["disks"]] == [
        ("disk", "vda", "tagged.qcow2", None),
        ("cdrom", "sda", None, "/tmp/seed.iso"),
    ]
    assert guest["interfaces"] == [
        {"type": "bridge", "source": "br0", "mac": "52:54:00:aa:00:01", "model": "virtio", "link_state": "up"}
    ]
    assert guest["addresses"] == [] and guest["address"] is None


@pytest.fixture
def test_conn() -> Any:
    conn = connect("test:///default")  # a private copy of the test driver's state per connection
    conn.defineXML(TAGGED)
    yield conn
    conn.close()


def test_read_guests_filters_and_gives_addresses_only_to_running_guests(test_conn: Any) -> None:
    guests = read_guests(test_conn)
    assert [(g["name"], g["state"]) for g in guests] == [("tagged", "stopped"), ("test", "running")]
    assert guests[0]["addresses"] == []
    assert guests[1]["address"] == "192.168.122.3"  # the test driver's made-up lease
    assert [g["name"] for g in read_guests(test_conn, tags=["web"])] == ["tagged"]
    assert [g["name"] for g in read_guests(test_conn, tags=["web", "nope"])] == []
    assert [g["name"] for g in read_guests(test_conn, names=["test", "absent"])] == ["test"]
    assert read_guests(test_conn, names=["test"], sources=[])[0]["addresses"] == []


def test_read_guests_asks_libvirt_once_for_all_states(test_conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = test_conn.getAllDomainStats

    def counting(*args: Any) -> Any:
        calls.append("getAllDomainStats")
        return original(*args)

    monkeypatch.setattr(test_conn, "getAllDomainStats", counting)
    read_guests(test_conn)
    assert calls == ["getAllDomainStats"]


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    with patch_module_args(args), pytest.raises(SystemExit):
        guest_info.main()
    return json.loads(capsys.readouterr().out)


def test_module_on_the_test_driver(capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"uri": "test:///default", "names": ["test"]}, capsys)
    assert result["changed"] is False
    (guest,) = result["guests"]
    assert guest["name"] == "test" and guest["state"] == "running" and guest["vcpus"] == 2


def test_module_rejects_an_unknown_source_naming_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"uri": "test:///default", "address_sources": ["lease", "dns"]}, capsys)
    assert result["failed"] is True
    assert "address_sources[1]: must be one of lease, agent, arp; got 'dns'" in result["msg"]
