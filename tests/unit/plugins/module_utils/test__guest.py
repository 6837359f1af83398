"""The guest's table, XML side and planner, on libvirt's in-process test:///default driver."""

from __future__ import annotations

import json
import secrets
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, NeedsOption, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields import compute, system
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields import devices as fdevices
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.bindings import BINDINGS
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.module import GUESTS_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST, merge_defaults
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.plan import (
    GuestPlanner,
    HostContext,
    derived_mac,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.read import read_domain
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.rules import assign_targets
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.runner import converge, execute
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct

URI = "test:///default"


@pytest.fixture
def name(conn: Any) -> Iterator[str]:
    guest = f"unit-{secrets.token_hex(3)}"
    yield guest
    try:
        dom = conn.lookupByName(guest)
    except libvirt.libvirtError:
        return
    if dom.isActive():
        dom.destroy()
    dom.undefine()


def values(**options: Any) -> dict[str, Any]:
    validated, problems = GUEST.validate(options)
    assert problems == []
    return validated


def plan(conn: Any, **options: Any):
    return GuestPlanner(HostContext(conn, URI), values(**options)).plan()


# ---------------------------------------------------------------------------------------------- table


NUMA = [{"cpus": "0-1", "memory": "512MiB"}, {"cpus": "2,3", "memory": "512MiB"}]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"name": "a b"}, ("name", "'a b' is not a usable guest name")),
        ({"name": "g", "memory": "2G", "max_memory": "1G"}, ("memory", "is more than max_memory")),
        (
            {"name": "g", "interfaces": [{"source": "n", "mac": "01:00:5e:00:00:01"}]},
            ("interfaces[0].mac", "'01:00:5e:00:00:01' is a multicast address"),
        ),
        (
            {"name": "g", "interfaces": [{"source": "n", "mode": "vepa"}]},
            ("interfaces[0].mode", "mode applies to type direct"),
        ),
        (
            {"name": "g", "boot": ["hd"], "disks": [{"size": 1, "boot_order": 1}]},
            ("disks[0].boot_order", "per-device boot_order"),
        ),
        (
            {"name": "g", "disks": [{"size": 1, "boot_order": 1}, {"size": 1, "boot_order": 1}]},
            ("disks[1].boot_order", "1 is also the boot order of disks[0]"),
        ),
        (
            {"name": "g", "disks": [{"size": 1, "bus": "sata", "target": "vdb"}]},
            ("disks[0].target", "bus sata takes targets named sd*"),
        ),
        (
            {"name": "g", "disks": [{"backing_image": "b", "format": "raw"}]},
            ("disks[0].format", "an overlay on a backing image must be qcow2"),
        ),
        ({"name": "g", "disks": [{"device": "cdrom", "size": 1}]}, ("disks[0].size", "a cdrom has no size")),
        (
            {"name": "g", "disks": [{"volume": "a", "pool": "p"}, {"volume": "a", "pool": "p"}]},
            ("disks[1].volume", "a in pool p is also disks[0]"),
        ),
        ({"name": "g", "graphics": {"type": "none", "port": 5900}}, ("graphics", "graphics type none takes no")),
        ({"name": "g", "cpu": {"sockets": 1}}, ("cpu", "a topology needs sockets, cores and threads together")),
        (
            {"name": "g", "cpu": {"mode": "host-model", "model": "EPYC"}},
            ("cpu.model", "a model applies to mode custom"),
        ),
        (
            {"name": "g", "vcpus": 2, "cpu": {"pinning": [{"vcpu": 2, "cpuset": "0"}]}},
            ("cpu.pinning[0].vcpu", "vCPU 2 does not exist"),
        ),
        (
            {"name": "g", "cpu": {"pinning": [{"vcpu": 0, "cpuset": "a-b"}]}},
            ("cpu.pinning[0].cpuset", "'a-b' is not a CPU set"),
        ),
        ({"name": "g", "cloud_init": {"user_data": 5}}, ("cloud_init.user_data", "expected a string or a dictionary")),
        ({"name": "g", "disks": [{"target": "xda", "size": 1}]}, ("disks[0].target", "'xda' is not a disk target")),
        ({"name": "g", "disks": [{"volume": "a/b"}]}, ("disks[0].volume", "'a/b' is not a volume name")),
        (
            {"name": "g", "vcpus": 2, "cpu": {"pinning": [{"vcpu": 0, "cpuset": "0"}, {"vcpu": 0, "cpuset": "1"}]}},
            ("cpu.pinning[1].vcpu", "0 is also pinned by pinning[0]"),
        ),
        ({"name": "g", "cpu": {"pinning": [{"vcpu": 0, "cpuset": "3-1"}]}}, ("cpu.pinning[0].cpuset", "ends before")),
        ({"name": "g", "cpu": {"pinning": [{"vcpu": 0, "cpuset": "0,^0"}]}}, ("cpu.pinning[0].cpuset", "leaves no")),
        (
            {"name": "g", "max_memory": "2GiB", "cpu": {"numa": NUMA}},
            ("cpu.numa", "the cells' memory adds up to 1GiB, but max_memory is 2GiB"),
        ),
        (
            {"name": "g", "memory": "2GiB", "cpu": {"numa": NUMA}},
            ("memory", "2GiB is more than the NUMA cells' memory (1GiB)"),
        ),
        ({"name": "g", "vcpus": 2, "cpu": {"numa": NUMA}}, ("cpu.numa[1].cpus", "vCPU 3 does not exist")),
        (
            {"name": "g", "vcpus": 4, "cpu": {"numa": [NUMA[0], {**NUMA[1], "cpus": "1-3"}]}},
            ("cpu.numa[1].cpus", "shares vCPUs with numa[0]"),
        ),
    ],
)
def test_guest_table_problems(options: dict[str, Any], problem: tuple[str, str]) -> None:
    problems = GUEST.validate(options)[1]
    assert any(path == problem[0] and problem[1] in message for path, message in problems), problems


def test_normalisers() -> None:
    got = values(
        name="g",
        uuid="6695EB01-F6A4-8304-79AA-97F2502E193F",
        hostdevs=["03:00.1", "0001:0a:1f.7"],
        interfaces=[{"source": "n", "mac": "52-54-00-AB-CD-EF"}],
        cloud_init={"user_data": {"users": ["a"]}, "meta_data": {"instance-id": "i"}},
    )
    assert got["uuid"] == "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert got["hostdevs"] == ["0000:03:00.1", "0001:0a:1f.7"]
    assert got["interfaces"][0]["mac"] == "52:54:00:ab:cd:ef"
    assert got["cloud_init"]["user_data"].startswith("#cloud-config\n{")
    assert got["cloud_init"]["meta_data"] == '{\n  "instance-id": "i"\n}\n'


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("2", "2"), ("0,1,3", "0-1,3"), ("0-3,^2", "0-1,3"), ("3, 1 ,2", "1-3"), ("0-1,1-2", "0-2"), ("4,0", "0,4")],
)
def test_cpu_sets_take_libvirts_form(given: str, canonical: str) -> None:
    assert values(name="g", cpu={"pinning": [{"vcpu": 0, "cpuset": given}]})["cpu"]["pinning"][0]["cpuset"] == canonical


def test_pins_and_numa_cells_given_out_of_order_do_not_churn(conn: Any, name: str) -> None:
    cpu = {
        "pinning": [{"vcpu": 2, "cpuset": "1"}, {"vcpu": 0, "cpuset": "0,1"}, {"vcpu": 1, "cpuset": "0-3,^1"}],
        "numa": [{"cpus": "0,1", "memory": "256MiB"}, {"cpus": "2-3", "memory": "256MiB"}],
    }
    assert [pin["vcpu"] for pin in values(name="g", cpu=cpu)["cpu"]["pinning"]] == [0, 1, 2]
    execute(plan(conn, name=name, vcpus=4, max_memory="512MiB", cpu=cpu))
    root = ET.fromstring(conn.lookupByName(name).XMLDesc(0))
    assert [(pin.get("vcpu"), pin.get("cpuset")) for pin in root.findall("cputune/vcpupin")] == [
        ("0", "0-1"),
        ("1", "0,2-3"),
        ("2", "1"),
    ]
    again = plan(conn, name=name, vcpus=4, max_memory="512MiB", cpu=cpu)
    assert again.actions == [], [a.description for a in again.actions]


def test_disk_targets_are_assigned_per_bus() -> None:
    disks = [
        {"target": None, "bus": None, "device": "disk"},
        {"target": "vda", "bus": None, "device": "disk"},
        {"target": None, "bus": None, "device": "cdrom"},
        {"target": None, "bus": "scsi", "device": "disk"},
    ]
    assign_targets(disks)
    assert [(d["bus"], d["target"]) for d in disks] == [
        ("virtio", "vdb"),
        ("virtio", "vda"),
        ("sata", "sda"),
        ("scsi", "sdb"),
    ]


def test_merge_defaults_lets_items_win() -> None:
    merged = merge_defaults(
        {"defaults": {"memory": "1G", "state": "running"}, "guests": [{"name": "a"}, {"name": "b", "memory": "2G"}]}
    )
    assert merged["guests"] == [
        {"memory": "1G", "state": "running", "name": "a"},
        {"memory": "2G", "state": "running", "name": "b"},
    ]


def test_derived_macs_are_stable_and_local() -> None:
    assert derived_mac("web1", 0) == derived_mac("web1", 0)
    assert derived_mac("web1", 0) != derived_mac("web1", 1) != derived_mac("web2", 1)
    assert derived_mac("web1", 0).startswith("52:54:00:")


# ---------------------------------------------------------------------------------------------- XML side

ROUND_TRIP = [
    ("memory", 256 * 1024**2),
    ("max_memory", 1024**3),
    ("vcpus", 2),
    ("max_vcpus", 4),
    ("title", "A title"),
    ("description", "Words"),
    ("tags", ["a", "b"]),
    ("virt_type", "kvm"),
    ("machine", "pc-q35-7.2"),
    ("arch", "x86_64"),
    ("emulator", "/usr/bin/qemu-system-x86_64"),
    ("firmware", "uefi"),
    ("kernel", "/k"),
    ("initrd", "/i"),
    ("cmdline", "console=ttyS0"),
    ("boot", ["network", "hd"]),
    ("hugepages", True),
    ("balloon", False),
    ("tb_cache", 32 * 1024**2),
    ("video", "virtio"),
    ("rng", True),
    ("guest_agent", True),
    ("tpm", True),
    ("hostdevs", ["0000:03:00.0"]),
    ("on_crash", "restart"),
]


@pytest.mark.parametrize(("option", "value"), ROUND_TRIP)
def test_each_writer_is_read_back_as_written(option: str, value: Any) -> None:
    root = gx.skeleton("g")
    BINDINGS[option].write(root, value)
    assert read_domain(ET.fromstring(gx.to_string(root)))[option] == value


def test_vcpus_and_memory_below_their_maximum() -> None:
    root = gx.skeleton("g")
    compute.write_max_vcpus(root, 4)
    compute.write_vcpus(root, 2)
    compute.write_max_memory(root, 1024**3)
    compute.write_memory(root, 512 * 1024**2)
    state = read_domain(ET.fromstring(gx.to_string(root)))
    assert (state["vcpus"], state["max_vcpus"]) == (2, 4)
    assert (state["memory"], state["max_memory"], compute.read_memory_target(root)) == (
        512 * 1024**2,
        1024**3,
        512 * 1024**2,
    )


def test_cpu_console_graphics_watchdog_round_trip() -> None:
    root = gx.skeleton("g")
    cpu = {"mode": "custom", "model": "EPYC", "sockets": 1, "cores": 2, "threads": 1,
           "pinning": [{"vcpu": 0, "cpuset": "1"}], "numa": [{"cpus": "0-1", "memory": 512 * 1024**2}]}  # fmt: skip
    compute.write_cpu(root, cpu)
    fdevices.write_console(root, {"type": "pty", "log": "/var/log/g.log"})
    fdevices.write_graphics(root, {"type": "vnc", "listen": None, "port": None, "password": "pw"})
    fdevices.write_watchdog(root, {"model": "i6300esb", "action": "poweroff"})
    state = read_domain(ET.fromstring(gx.to_string(root)))
    assert state["cpu"] == cpu
    assert state["console"] == {"type": "pty", "log": "/var/log/g.log"}
    assert state["graphics"] == {"type": "vnc", "listen": "127.0.0.1", "port": -1, "password": "pw"}
    assert state["watchdog"] == {"model": "i6300esb", "action": "poweroff"}


def test_patching_a_disk_keeps_its_pci_address() -> None:
    root = ET.fromstring(
        "<domain><devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/a'/>"
        "<target dev='vda' bus='virtio'/><address type='pci' bus='0x04'/></disk></devices></domain>"
    )
    element = gx.find_disk(root, "vda")
    gx.patch_disk(element, {**gx.read_disk(element), "cache": "none"})
    assert element.find("driver").get("cache") == "none"
    assert element.find("address").get("bus") == "0x04"


def test_another_chipset_drops_addresses_and_controllers() -> None:
    root = ET.fromstring(
        "<domain><os><type machine='pc-q35-7.2'>hvm</type></os><devices><controller type='pci' model='pcie-root'/>"
        "<disk><target dev='vda'/><address type='pci'/></disk></devices></domain>"
    )
    system.write_machine(root, "pc-q35-8.0")
    assert root.find("devices/controller") is not None, "same chipset: the layout is kept"
    system.write_machine(root, "pc")
    assert root.find("devices/controller") is None and root.find("devices/disk/address") is None


def test_metadata_for_set_metadata_has_no_namespace() -> None:
    root = gx.skeleton("g")
    gx.write_tags(root, ["x"])
    xml = gx.metadata_xml(gx.to_string(root), lambda r: gx.write_meta(r, "memory", "1"))
    assert xml == '<guest memory="1"><tag>x</tag></guest>'


# ---------------------------------------------------------------------------------------------- planner


def test_raising_memory_within_the_maximum_is_live(conn: Any) -> None:
    result = plan(conn, name="test", memory="4GiB")
    assert [a.description for a in result.actions] == [
        "set memory to 4GiB on the running guest",
        "update the persistent definition: memory",
    ]
    assert result.diff.diff() == {"before": {"memory": "2GiB"}, "after": {"memory": "4GiB"}}
    assert result.reboot_required == []


def test_memory_above_the_maximum_waits_for_the_next_boot(conn: Any) -> None:
    result = plan(conn, name="test", memory="16GiB", max_memory="16GiB")
    assert [a.description for a in result.actions] == ["update the persistent definition: max_memory, memory"]
    assert sorted(result.reboot_required) == ["max_memory", "memory"]


def test_restart_if_needed_plans_a_restart(conn: Any) -> None:
    result = plan(conn, name="test", vcpus=4, max_vcpus=4, restart="if_needed")
    assert result.actions[-1].description == "restart the guest (graceful shutdown, then start) for: max_vcpus, vcpus"
    assert result.reboot_required == []


def test_values_libvirt_filled_in_are_not_changes(conn: Any) -> None:
    result = plan(
        conn, name="test", interfaces=[{"source": "default"}], disks=[{"path": "/guest/diskimage1", "format": "raw"}]
    )
    assert result.actions == [] and not result.diff


def test_link_state_is_live_and_removed_devices_are_detached(conn: Any) -> None:
    result = plan(conn, name="test", interfaces=[{"source": "default", "link_state": "down"}], disks=[])
    assert [a.description for a in result.actions] == [
        "detach disk vda from the running guest",
        "set link down on interface aa:bb:cc:dd:ee:ff",
    ]


def test_an_interface_named_by_mac_is_not_also_matched_by_position(conn: Any) -> None:
    result = plan(
        conn, name="test", interfaces=[{"source": "default"}, {"source": "default", "mac": "aa:bb:cc:dd:ee:ff"}]
    )
    assert [a.description for a in result.actions] == [
        f"attach interface {derived_mac('test', 0)} (network default) to the running guest"
    ]


def test_a_uuid_change_needs_recreate(conn: Any) -> None:
    with pytest.raises(NeedsOption) as info:
        plan(conn, name="test", uuid="11111111-2222-3333-4444-555555555555")
    assert info.value.option == "recreate"
    assert info.value.msg.startswith("uuid: changing '6695eb01-")


def test_planning_problems_name_the_field(conn: Any, name: str) -> None:
    with pytest.raises(ValidationError) as info:
        plan(conn, name=name, disks=[{"size": "1G", "pool": "nope"}, {"volume": "missing", "pool": "default-pool"}],
             interfaces=[{"source": "nonet"}])  # fmt: skip
    assert info.value.problems == [
        ("disks[0].pool", "no storage pool nope on this hypervisor"),
        ("disks[1].volume", "no volume missing in pool default-pool; give size or backing_image to create it"),
        ("interfaces[0].source", "no libvirt network nonet"),
    ]


def test_block_pools_take_raw_volumes_only_and_say_so_at_planning(conn: Any, name: str) -> None:
    pool_name = f"{name}-vg"
    pool = conn.storagePoolCreateXML(
        f"<pool type='logical'><name>{pool_name}</name><target><path>/dev/{pool_name}</path></target></pool>", 0
    )
    try:
        with pytest.raises(ValidationError) as info:
            plan(conn, name=name, disks=[{"size": "1G", "pool": pool_name},
                                         {"size": "1G", "pool": pool_name, "format": "raw"}])  # fmt: skip
        assert [path for path, _problem in info.value.problems] == ["disks[0].format"]
        assert "logical pool holds raw volumes only" in info.value.problems[0][1]
        # raw is accepted, and the new volume is planned before anything is touched
        actions = plan(conn, name=name, disks=[{"size": "1G", "pool": pool_name, "format": "raw"}]).actions
        assert any(action.description.startswith(f"create volume {name}-vda.raw") for action in actions)
    finally:
        pool.destroy()


FULL = {
    "memory": "256MiB",
    "max_memory": "512MiB",
    "vcpus": 1,
    "max_vcpus": 2,
    "tags": ["unit"],
    "title": "t",
    "kernel": "/boot/vmlinuz",
    "cmdline": "console=ttyS0",
    "cpu": {"mode": "host-model", "sockets": 1, "cores": 2, "threads": 1},
    "disks": [{"size": "1GiB", "pool": "default-pool", "cache": "none"}, {"device": "cdrom", "path": "/tmp/x.iso"}],
    "interfaces": [{"source": "default"}, {"source": "default", "model": "e1000"}],
    "console": {"log": "/tmp/serial.log"},
    "graphics": {"type": "vnc"},
    "video": "virtio",
    "rng": True,
    "tpm": True,
    "watchdog": {"action": "poweroff"},
    "on_crash": "destroy",
}


# the other half of the options: firmware, NUMA, pinning, direct NIC with a VLAN, PCI passthrough
FULL_MORE = {
    "memory": "512MiB",
    "max_memory": "512MiB",
    "vcpus": 4,
    "max_vcpus": 4,
    "firmware": "uefi",
    "secure_boot": True,
    "machine": "q35",
    "cpu": {
        "mode": "host-passthrough",
        "sockets": 1,
        "cores": 2,
        "threads": 2,
        "pinning": [{"vcpu": 1, "cpuset": "1"}, {"vcpu": 0, "cpuset": "0,2"}],
        "numa": [{"cpus": "0-1", "memory": "256MiB"}, {"cpus": "2-3", "memory": "256MiB"}],
    },
    "hugepages": True,
    "balloon": False,
    "interfaces": [{"type": "direct", "source": "eth9", "mode": "bridge", "vlan": 42, "model": "virtio"}],
    "hostdevs": ["03:00.0"],
    "graphics": {"type": "spice", "password": "pw"},
    "on_reboot": "restart",
    "autostart": True,
}


def assert_valid_domain_xml(xml: str, tmp_path: Path) -> None:
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    proc = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr + xml


def test_created_xml_passes_libvirts_schema(conn: Any, name: str, tmp_path: Path) -> None:
    result = plan(conn, name=name, **FULL)
    assert [a.description for a in result.actions] == [
        f"define guest {name}",
        f"create volume {name}-vda.qcow2 (1GiB qcow2)",
    ]
    assert_valid_domain_xml(result.definition, tmp_path)
    more = plan(conn, name=name, **FULL_MORE)
    root = ET.fromstring(more.definition)
    assert root.find("os/firmware/feature[@name='secure-boot']").get("enabled") == "yes"
    assert root.find("cpu/numa") is not None
    assert root.find("devices/interface/vlan/tag").get("id") == "42"
    assert_valid_domain_xml(more.definition, tmp_path)


def test_updated_xml_passes_libvirts_schema(conn: Any, name: str, tmp_path: Path) -> None:
    """A definition patched by every writer still passes: the patches keep what libvirt filled in."""
    execute(plan(conn, name=name, **{**FULL, "disks": [{"path": "/guest/a.img", "format": "raw"}]}))
    result = plan(conn, name=name, **{**FULL, **FULL_MORE, "disks": [{"path": "/guest/b.img", "bus": "sata"}]})
    patched = next(a.description for a in result.actions if a.description.startswith("update the persistent"))
    for part in ("cpu", "firmware", "graphics", "hostdevs", "interfaces[", "memory", "secure_boot", "vcpus"):
        assert part in patched
    assert_valid_domain_xml(result.definition, tmp_path)


def test_apply_then_replan_changes_nothing(conn: Any, name: str) -> None:
    first = plan(conn, name=name, state="running", **FULL)
    execute(first)
    again = plan(conn, name=name, state="running", **FULL)
    assert again.actions == [], [a.description for a in again.actions]
    assert not again.diff and again.reboot_required == []
    conn.storagePoolLookupByName("default-pool").storageVolLookupByName(f"{name}-vda.qcow2").delete(0)


# ---------------------------------------------------------------------------------------------- classification

NEXT = " {} the persistent definition (the running guest follows at its next boot)"
CLASSIFY_BASE: dict[str, Any] = {
    "memory": "256MiB",
    "max_memory": "512MiB",
    "vcpus": 1,
    "max_vcpus": 2,
    "balloon": True,  # libvirt's QEMU driver adds one by default; the test driver does not
    "disks": [{"path": "/guest/a.img", "format": "raw"}, {"path": "/guest/b.img", "format": "raw", "bus": "sata"}],
}
VDA = {"path": "/guest/a.img", "format": "raw"}
SDA = {"path": "/guest/b.img", "format": "raw", "bus": "sata"}


@pytest.mark.parametrize(
    ("state", "base", "change", "actions", "reboot"),
    [
        # disks: virtio and scsi hot-plug; sata does not (QEMU cannot): persistent definition only
        ("running", {}, {"disks": [VDA, SDA, {"path": "/guest/c.img"}]}, ["attach disk vdb to the running guest"], []),
        (
            "running",
            {},
            {"disks": [VDA, SDA, {"path": "/guest/c.img", "bus": "scsi"}]},
            ["attach disk sdb to the running guest"],
            [],
        ),
        (
            "running",
            {},
            {"disks": [VDA, SDA, {"path": "/guest/c.img", "bus": "sata"}]},
            ["attach disk sdb" + NEXT.format("to")],
            ["disks[sdb]"],
        ),
        ("running", {}, {"disks": [SDA]}, ["detach disk vda from the running guest"], []),
        ("running", {}, {"disks": [VDA]}, ["detach disk sda" + NEXT.format("from")], ["disks[sda]"]),
        ("stopped", {}, {"disks": [VDA, SDA, {"path": "/guest/c.img", "bus": "sata"}]}, ["attach disk sdb"], []),
        ("stopped", {}, {"disks": [VDA]}, ["detach disk sda (the volume is kept)"], []),
        # memory: live through the balloon up to the maximum; without a balloon, at the next boot
        (
            "running",
            {},
            {"memory": "384MiB"},
            ["set memory to 384MiB on the running guest", "update the persistent definition: memory"],
            [],
        ),
        (
            "running",
            {"balloon": False},
            {"memory": "384MiB"},
            ["update the persistent definition: memory"],
            ["memory"],
        ),
        (
            "running",
            {},
            {"memory": "1GiB", "max_memory": "1GiB"},
            ["update the persistent definition: max_memory, memory"],
            ["max_memory", "memory"],
        ),
        ("stopped", {"balloon": False}, {"memory": "384MiB"}, ["update the persistent definition: memory"], []),
        # vCPUs up to the maximum, metadata: live; the rest: next boot
        (
            "running",
            {},
            {"vcpus": 2},
            ["set vcpus to 2 on the running guest", "update the persistent definition: vcpus"],
            [],
        ),
        (
            "running",
            {},
            {"title": "t"},
            ["set title to t on the running guest", "update the persistent definition: title"],
            [],
        ),
        ("running", {}, {"on_crash": "preserve"}, ["update the persistent definition: on_crash"], ["on_crash"]),
        ("running", {}, {"balloon": False}, ["update the persistent definition: balloon"], ["balloon"]),
        (
            "running",
            {},
            {"graphics": {"type": "vnc", "password": "pw"}},
            ["update the persistent definition: graphics"],
            ["graphics"],
        ),
    ],
)
def test_each_change_is_classified_live_or_next_boot(
    conn: Any,
    name: str,
    state: str,
    base: dict[str, Any],
    change: dict[str, Any],
    actions: list[str],
    reboot: list[str],
) -> None:
    execute(plan(conn, name=name, state=state, **{**CLASSIFY_BASE, **base}))
    options = {**CLASSIFY_BASE, **base, **change}
    result = plan(conn, name=name, state=state, **options)
    assert [a.description for a in result.actions] == actions
    assert sorted(result.reboot_required) == reboot


def test_a_disk_only_in_the_persistent_definition_still_needs_the_reboot(conn: Any, name: str) -> None:
    """After a sata disk was attached (or detached) for the next boot, a rerun changes nothing but says so."""
    execute(plan(conn, name=name, state="running", **CLASSIFY_BASE))
    dom = conn.lookupByName(name)
    root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    gx.devices(root).remove(gx.find_disk(root, "sda"))
    gx.devices(root).append(gx.disk_element({**SDA, "device": "disk", "target": "sdb", "path": "/guest/c.img"}))
    conn.defineXML(gx.to_string(root))
    assert dom.isActive()
    again = plan(
        conn,
        name=name,
        state="running",
        **{**CLASSIFY_BASE, "disks": [VDA, {**SDA, "path": "/guest/c.img", "target": "sdb"}]},
    )
    assert again.actions == [], [a.description for a in again.actions]
    assert sorted(again.reboot_required) == ["disks[sda]", "disks[sdb]"]


def test_every_guest_is_planned_and_every_problem_reported_before_anything_is_touched(conn: Any, name: str) -> None:
    guests = [
        ("guests[0]", values(name="test", uuid="11111111-2222-3333-4444-555555555555")),
        ("guests[1]", values(name=name, memory="128MiB")),  # fine: would be defined
        ("guests[2]", values(name=f"{name}-b", disks=[{"size": "1G", "pool": "nope"}])),
        ("guests[3]", values(name="test", vcpus=1)),
    ]
    with pytest.raises(KvmFleetError) as info:
        converge(conn, URI, guests, check_mode=False)
    errors = info.value.details["errors"]
    assert [error.split(":")[0] for error in errors] == ["guests[0].uuid", "guests[2].disks[0].pool", "guests[3].name"]
    assert errors[0].endswith("the guest would have to be recreated; set recreate: true to allow it")
    assert info.value.details["needs_option"] == "recreate"
    assert name not in conn.listDefinedDomains()


def test_one_guest_that_needs_an_option_fails_with_that_option(conn: Any) -> None:
    with pytest.raises(NeedsOption) as info:
        converge(conn, URI, [("guests[0]", values(name="test", uuid="11111111-2222-3333-4444-555555555555"))], False)
    assert info.value.option == "recreate"
    assert info.value.msg.startswith("guests[0].uuid: changing")


@pytest.mark.parametrize("valid", [True, False])
def test_secrets_in_the_guests_defaults_are_hidden(name: str, valid: bool) -> None:
    """Also the defaults' secrets that every item overrides, and also when the input is refused."""
    args = {
        "uri": URI,
        "defaults": {
            "memory": "128MiB",
            "cloud_init": {"pool": "default-pool", "user_data": "#cloud-config\npassword: ud-secret-1\n"},
            "graphics": {"type": "vnc", "password": "pw-def-1"},
        },
        "guests": [
            {"name": name, "graphics": {"type": "none"}, "cloud_init": {"pool": "default-pool"}},
            {
                "name": f"{name}-b",
                "graphics": {"type": "spice", "password": "pw-item-1"},
                "cloud_init": {"pool": "default-pool", "user_data": "#cloud-config\nruncmd: [true]\n"},
                **({} if valid else {"memory": "1XB"}),
            },
        ],
    }
    result = run_direct(GUESTS_ENTRY, args, check_mode=True)
    assert bool(result.get("failed")) is not valid, result.get("msg")
    text = json.dumps(result)
    for secret in ("ud-secret-1", "pw-def-1", "pw-item-1"):
        assert secret not in text
    if valid:
        assert [guest["changed"] for guest in result["guests"]] == [True, True]
        assert "defaults" in result["invocation"]["module_args"]


def test_return_xml_in_check_mode_also_when_nothing_changes(conn: Any, name: str) -> None:
    execute(plan(conn, name=name, memory="128MiB", graphics={"type": "vnc", "password": "pw-1"}))
    for options, changed in (({}, False), ({"title": "t"}, True)):
        (result,) = converge(conn, URI, [("", values(name=name, return_xml=True, **options))], check_mode=True)
        assert result["changed"] is changed
        root = ET.fromstring(result["xml"])
        assert root.findtext("name") == name and root.findtext("title") == options.get("title")
        assert root.find("devices/graphics").get("passwd") is None  # the password libvirt keeps is not shown
    (gone,) = converge(conn, URI, [("", values(name=name, return_xml=True, state="absent"))], check_mode=True)
    assert "xml" not in gone


# ---------------------------------------------------------------------------------------------- restarted, reset


def running(conn: Any, name: str) -> Any:
    execute(plan(conn, name=name, memory="128MiB", state="running"))
    return conn.lookupByName(name)


def test_restarted_shuts_down_and_starts_the_guest_again_on_every_run(conn: Any, name: str) -> None:
    running(conn, name)
    for _run in range(2):  # a command: planned again on the next run
        before = conn.lookupByName(name).ID()  # (a handle keeps the ID it was looked up with)
        restart = plan(conn, name=name, memory="128MiB", state="restarted", shutdown_timeout=5, force=True)
        assert [a.description for a in restart.actions] == [
            "restart the guest (graceful shutdown, wait up to 5 s, then power off, then start)"
        ]
        assert [(c.path, c.before, c.after) for c in restart.diff.changes] == [("restarted", False, True)]
        execute(restart)
        after = conn.lookupByName(name)
        assert after.isActive() and after.ID() != before  # a new QEMU process (here: a new domain ID)


def test_restarted_applies_what_waits_for_the_next_boot_and_starts_a_stopped_guest(conn: Any, name: str) -> None:
    pending = plan(conn, name="test", vcpus=4, max_vcpus=4, state="restarted")
    assert pending.reboot_required == [] and pending.actions[-1].description.startswith("restart the guest")
    created = plan(conn, name=name, memory="128MiB", state="restarted")
    assert [a.description for a in created.actions] == [f"define guest {name}", "start the guest"]
    assert ("state", "absent", "running") in [(c.path, c.before, c.after) for c in created.diff.changes]
    results = converge(conn, URI, [("", values(name=name, memory="128MiB", state="restarted"))], check_mode=True)
    assert results[0]["state"] == "running" and results[0]["changed"]


def test_reset_needs_force_and_resets_the_running_guest_in_place(conn: Any, name: str) -> None:
    running(conn, name)
    with pytest.raises(NeedsOption) as refused:
        plan(conn, name=name, state="reset")
    assert refused.value.option == "force"
    assert refused.value.msg == (
        f"state: reset cuts the power of guest {name} at once (what it has not written to its disks is lost); "
        "set force: true to allow it"
    )
    with pytest.raises(KvmFleetError) as in_list:
        converge(conn, URI, [("guests[1]", values(name=name, state="reset"))], check_mode=True)
    assert in_list.value.msg.startswith("guests[1].state: reset cuts the power")
    reset = plan(conn, name=name, state="reset", force=True)
    assert [a.description for a in reset.actions] == [
        "reset the guest (at once, as its reset button does: no shutdown)"
    ]
    before = conn.lookupByName(name).ID()
    execute(reset)
    assert conn.lookupByName(name).isActive() and conn.lookupByName(name).ID() == before  # the same process


def test_restart_if_needed_ends_in_the_state_asked_for(conn: Any) -> None:
    paused = plan(conn, name="test", vcpus=4, max_vcpus=4, restart="if_needed", state="paused")
    assert (
        paused.actions[-1].description
        == "restart the guest (graceful shutdown, then start paused) for: max_vcpus, vcpus"
    )
    assert ("state", "running", "paused") in [(c.path, c.before, c.after) for c in paused.diff.changes]


def test_a_transient_guest_is_not_restarted(conn: Any) -> None:
    name = f"unit-transient-{secrets.token_hex(3)}"
    dom = conn.createXML(
        f"<domain type='test'><name>{name}</name><memory>131072</memory><os><type>hvm</type></os></domain>"
    )
    try:
        with pytest.raises(ValidationError) as refused:
            plan(conn, name=name, state="restarted")
    finally:
        dom.destroy()  # a transient guest is gone with it
    assert refused.value.problems == [
        ("state", f"guest {name} is transient: shut down, it would be gone; state: reset restarts it")
    ]
