"""guest_info's reader on the test driver, and the module's filters."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import kvmtest
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _address
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.info import describe, read_guests
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
    assert guest["guest_agent"] is False


def test_describe_says_whether_the_guest_has_the_agent_channel() -> None:
    channel = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>"
    assert describe(TAGGED.replace("</devices>", channel + "</devices>"), "running")["guest_agent"] is True
    other = "<channel type='pty'><target type='virtio' name='org.example.other'/></channel>"
    assert describe(TAGGED.replace("</devices>", other + "</devices>"), "running")["guest_agent"] is False


def reset(conn: Any) -> None:
    """Back to the test driver's initial state: its one running guest ``test``.

    test:///default keeps one state for as long as any connection to it is open in the process (a
    connection another test has not closed yet, until the garbage collector does), so a test cannot
    count on a fresh one.
    """
    for dom in conn.listAllDomains():
        if dom.name() == "test":
            if not dom.isActive():
                dom.create()
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefine()


@pytest.fixture
def test_conn() -> Any:
    conn = connect("test:///default")
    reset(conn)
    conn.defineXML(TAGGED)
    yield conn
    reset(conn)
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


class Counting:
    """A libvirt connection or domain that counts every call made on it (domains it hands out count too)."""

    def __init__(self, target: Any, calls: Counter[str], owner: str = "conn", uri: str | None = None) -> None:
        self._target, self._calls, self._owner, self._uri = target, calls, owner, uri

    def __getattr__(self, attr: str) -> Any:
        method = getattr(self._target, attr)

        def call(*args: Any) -> Any:
            self._calls[f"{self._owner}.{attr}"] += 1
            if attr == "getURI" and self._uri:
                return self._uri
            answer = method(*args)
            if attr == "getAllDomainStats":
                return [(Counting(dom, self._calls, dom.name()), stats) for dom, stats in answer]
            return answer

        return call


RUNNING = """<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><interface type='bridge'><mac address='{mac}'/><source bridge='br0'/></interface></devices>
</domain>"""


def running_guests(conn: Any, count: int) -> list[str]:
    """``count`` more running guests on the test driver, ``run<N>`` with MAC 52:54:00:bb:00:<N>."""
    names = [f"run{index}" for index in range(count)]
    for index, name in enumerate(names):
        conn.defineXML(RUNNING.format(name=name, mac=f"52:54:00:bb:00:{index:02x}")).create()
    return names


def test_read_guests_makes_no_call_per_guest_per_field(test_conn: Any) -> None:
    names = running_guests(test_conn, 4)
    calls: Counter[str] = Counter()
    guests = read_guests(Counting(test_conn, calls), sources=["lease", "arp"])
    assert [guest["name"] for guest in guests] == sorted([*names, "tagged", "test"])
    # test:///default has no batched lease call and is no local hypervisor: both sources are asked per
    # running guest; the stopped guest costs its definition only
    per_running = {"XMLDesc": 1, "interfaceAddresses": 2}
    expected = Counter({"conn.getAllDomainStats": 1, "conn.listAllNetworks": 1, "conn.getURI": 1, "tagged.XMLDesc": 1})
    for name in [*names, "test"]:
        expected.update({f"{name}.{attr}": count for attr, count in per_running.items()})
    assert calls == expected


def test_arp_on_a_local_hypervisor_is_one_read_for_every_guest(test_conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    names = running_guests(test_conn, 4)
    reads: list[int] = []
    table = _address.parse_proc_arp(
        "IP address HW type Flags HW address Mask Device\n"
        + "".join(f"10.9.0.{i} 0x1 0x2 52:54:00:bb:00:{i:02x} * br0\n" for i in range(len(names)))
    )
    monkeypatch.setattr(_address, "neighbour_table", lambda: reads.append(1) or table)
    calls: Counter[str] = Counter()
    # the test driver's guests, as if this host were the hypervisor (qemu:///system)
    guests = read_guests(Counting(test_conn, calls, uri="qemu:///system"), names=names, sources=["arp"])
    assert [(guest["address"], guest["addresses"][0]["source"]) for guest in guests] == [
        (f"10.9.0.{i}", "arp") for i in range(len(names))
    ]
    assert reads == [1]
    assert not [call for call in calls if call.endswith("interfaceAddresses")]


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    with kvmtest.module_args(args), pytest.raises(SystemExit):
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
