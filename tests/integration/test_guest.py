"""kvmfleet.kvm.guest on the real libvirtd with tiny TCG guests: triads, then the host itself."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import kvmtest
import pytest

tiny = kvmtest.tiny_guest


def domxml(name: str, inactive: bool = False) -> ET.Element:
    return ET.fromstring(kvmtest.virsh("dumpxml", *(["--inactive"] if inactive else []), name))


def qemu_pid(name: str) -> int:
    return int(Path(f"/run/libvirt/qemu/{name}.pid").read_text())


@kvmtest.BOTH_WAYS
def test_create_running_guest_then_rerun_unchanged(
    triad, prefix: str, tiny_image: Path, test_network: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}web"
    log = tmp_path / "serial.log"
    options = tiny(
        name, tiny_image, log, interfaces=[{"source": test_network["name"]}], tags=["web", "tiny"], state="running"
    )
    check, apply, recheck, reapply = triad({"kvmfleet.kvm.guest": options})

    assert check["actions"] == [f"define guest {name}", "start the guest"]
    assert apply["state"] == "running" and check["state"] == "running"
    assert apply["diff"]["before"] == {"state": "absent"}
    assert apply["diff"]["after"]["memory"] == "128MiB"
    assert recheck["actions"] == [] and reapply["diff"] == {
        "before": {},
        "after": {},
        "before_header": name,
        "after_header": name,
    }

    assert kvmtest.virsh("domstate", name).strip() == "running"
    root = domxml(name, inactive=True)
    assert root.get("type") == "qemu"  # virt_type auto: no usable KVM on these machines
    assert root.find("os/type").get("machine").startswith("pc-q35-")
    assert int(root.findtext("currentMemory")) == 128 * 1024
    assert root.findtext("features/tcg/tb-cache") == str(32 * 1024)
    assert root.find("devices/channel/target").get("name") == "org.qemu.guest_agent.0"
    tags = sorted(tag.text for tag in root.iter("{urn:kvmfleet:guest:1}tag"))
    assert tags == ["tiny", "web"]
    mac = root.find("devices/interface/mac").get("address")
    line = kvmtest.wait_for_serial(log, "KVMFLEET-TINY-READY", timeout=120)
    assert f"mac={mac}" in line and "ip=10.254." in line


def test_raise_memory_while_running_is_applied_live(triad, prefix: str, tiny_image: Path, tmp_path: Path) -> None:
    name = f"{prefix}mem"
    base = tiny(name, tiny_image, tmp_path / "serial.log", max_memory="256MiB", state="running")
    kvmtest.run_playbook([{"kvmfleet.kvm.guest": base}])
    pid = qemu_pid(name)

    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": {**base, "memory": "192MiB"}})

    assert apply["diff"]["before"] == {"memory": "128MiB"} and apply["diff"]["after"] == {"memory": "192MiB"}
    assert apply["actions"] == ["set memory to 192MiB on the running guest", "update the persistent definition: memory"]
    assert apply["reboot_required"] is False
    assert qemu_pid(name) == pid, "the guest was not restarted"
    assert int(domxml(name, inactive=True).findtext("currentMemory")) == 192 * 1024
    balloon = kvmtest.virsh("dommemstat", name)
    assert "actual" in balloon


@kvmtest.BOTH_WAYS
def test_machine_change_needs_a_reboot_and_restarts_only_when_allowed(
    triad, prefix: str, tiny_image: Path, tmp_path: Path
) -> None:
    name = f"{prefix}mach"
    base = tiny(name, tiny_image, tmp_path / "serial.log", state="running")
    kvmtest.run_playbook([{"kvmfleet.kvm.guest": base}])
    kvmtest.wait_for_serial(tmp_path / "serial.log", "KVMFLEET-TINY-READY")
    pid = qemu_pid(name)

    _check, apply, recheck, _reapply = triad({"kvmfleet.kvm.guest": {**base, "machine": "pc"}})

    assert apply["reboot_required"] is True and apply["reboot_required_fields"] == ["machine"]
    assert "restart: if_needed allows it" in json_dump(apply["warnings"])
    assert recheck["reboot_required"] is True, "the running guest still lags its definition"
    assert qemu_pid(name) == pid, "restart: never leaves the guest running"
    assert domxml(name, inactive=True).find("os/type").get("machine").startswith("pc-i440fx-")
    assert domxml(name).find("os/type").get("machine").startswith("pc-q35-")

    restart = {"kvmfleet.kvm.guest": {**base, "machine": "pc", "restart": "if_needed"}}
    _check, apply, recheck, _reapply = triad(restart)
    assert apply["actions"] == ["restart the guest (graceful shutdown, then start) for: machine"]
    assert apply["reboot_required"] is False and recheck["reboot_required"] is False
    assert kvmtest.virsh("domstate", name).strip() == "running"
    assert qemu_pid(name) != pid
    assert domxml(name).find("os/type").get("machine").startswith("pc-i440fx-")


def test_disks_blank_and_overlay_volumes(
    triad, conn: Any, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    pool = conn.storagePoolLookupByName(test_pool["name"])
    base_name = f"{prefix}base.qcow2"
    pool.createXML(
        f"<volume><name>{base_name}</name><capacity unit='GiB'>2</capacity>"
        "<target><format type='qcow2'/></target></volume>",
        0,
    )
    name = f"{prefix}disk"
    options = tiny(
        name,
        tiny_image,
        tmp_path / "serial.log",
        disks=[
            {"pool": test_pool["name"], "backing_image": base_name},
            {"pool": test_pool["name"], "size": "1GiB", "cache": "none"},
        ],
    )
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": options})

    assert apply["actions"][:3] == [  # defined first: a killed run leaves no volume without its guest
        f"define guest {name}",
        f"create volume {name}-vda.qcow2 (2GiB qcow2, overlay on {test_pool['path']}/{base_name})",
        f"create volume {name}-vdb.qcow2 (1GiB qcow2)",
    ]
    info = kvmtest.run_cmd(["qemu-img", "info", "--output=json", f"{test_pool['path']}/{name}-vda.qcow2"])
    assert f'"backing-filename": "{test_pool["path"]}/{base_name}"' in info
    assert os.path.getsize(f"{test_pool['path']}/{name}-vda.qcow2") < 1024 * 1024  # an overlay, not a copy
    disks = {d.find("target").get("dev"): d for d in domxml(name, inactive=True).findall("devices/disk")}
    assert disks["vda"].find("source").get("volume") == f"{name}-vda.qcow2"
    assert disks["vdb"].find("driver").get("cache") == "none"

    # grow the blank disk; never shrink it
    grown = {**options, "disks": [options["disks"][0], {**options["disks"][1], "size": "2GiB"}]}
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": grown})
    assert apply["actions"] == [f"grow volume {name}-vdb.qcow2 to 2GiB"]
    assert "Capacity:       2.00 GiB" in kvmtest.virsh("vol-info", "--pool", test_pool["name"], f"{name}-vdb.qcow2")
    shrunk = {**options, "disks": [options["disks"][0], {**options["disks"][1], "size": "1GiB"}]}
    failed = kvmtest.run_playbook([{"name": "t", "kvmfleet.kvm.guest": shrunk}]).result("t")
    assert failed["failed"] and "disks[1].size: shrinking" in failed["msg"]


def test_attach_interface_live(
    triad, prefix: str, tiny_image: Path, test_network: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}nic"
    base = tiny(
        name, tiny_image, tmp_path / "serial.log", interfaces=[{"source": test_network["name"]}], state="running"
    )
    kvmtest.run_playbook([{"kvmfleet.kvm.guest": base}])
    kvmtest.wait_for_serial(tmp_path / "serial.log", "KVMFLEET-TINY-READY")
    pid = qemu_pid(name)
    two = {**base, "interfaces": [*base["interfaces"], {"source": test_network["name"], "link_state": "down"}]}

    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": two})

    assert len(apply["actions"]) == 1 and apply["actions"][0].startswith("attach interface 52:54:00:")
    assert apply["actions"][0].endswith("to the running guest")
    assert apply["reboot_required"] is False and qemu_pid(name) == pid
    assert len(domxml(name).findall("devices/interface")) == 2
    assert len(domxml(name, inactive=True).findall("devices/interface")) == 2
    assert kvmtest.virsh("domiflist", name).count(test_network["name"]) == 2

    # the link goes up live
    up = {**two, "interfaces": [two["interfaces"][0], {**two["interfaces"][1], "link_state": "up"}]}
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": up})
    assert apply["actions"][0].startswith("set link up on interface")
    links = [nic.find("link") for nic in domxml(name).findall("devices/interface")]
    assert [link.get("state") if link is not None else "up" for link in links] == ["up", "up"]


def test_sata_disk_on_a_running_guest_waits_for_the_next_boot(
    triad, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    """QEMU cannot hot-plug sata: the disk goes into the persistent definition only, reported, no restart."""
    name = f"{prefix}sata"
    base = tiny(name, tiny_image, tmp_path / "serial.log", disks=[{"pool": test_pool["name"], "size": "16MiB"}],
                state="running")  # fmt: skip
    kvmtest.run_playbook([{"kvmfleet.kvm.guest": base}])
    pid = qemu_pid(name)
    sata = {"pool": test_pool["name"], "size": "16MiB", "bus": "sata"}

    check, apply, recheck, reapply = triad({"kvmfleet.kvm.guest": {**base, "disks": [*base["disks"], sata]}})

    assert apply["actions"] == [
        f"create volume {name}-sda.qcow2 (16MiB qcow2)",
        "attach disk sda to the persistent definition (the running guest follows at its next boot)",
    ]
    for result in (check, apply, recheck, reapply):
        assert result["reboot_required"] is True and result["reboot_required_fields"] == ["disks[sda]"]
    assert recheck["actions"] == [] and reapply["actions"] == []
    assert qemu_pid(name) == pid
    assert "sda" in [d.find("target").get("dev") for d in domxml(name, inactive=True).findall("devices/disk")]
    assert "sda" not in [d.find("target").get("dev") for d in domxml(name).findall("devices/disk")]


def test_stopped_then_absent_keeps_volumes_unless_asked(
    triad, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}gone"
    disk = [{"pool": test_pool["name"], "size": "64MiB"}]
    base = tiny(name, tiny_image, tmp_path / "serial.log", disks=disk, state="running")
    kvmtest.run_playbook([{"kvmfleet.kvm.guest": base}])
    kvmtest.wait_for_serial(tmp_path / "serial.log", "KVMFLEET-TINY-READY")

    _check, apply, _recheck, _reapply = triad(
        {"kvmfleet.kvm.guest": {**base, "state": "stopped", "shutdown_timeout": 60}}
    )
    assert apply["actions"] == ["shut the guest down (wait up to 60 s)"]
    assert kvmtest.virsh("domstate", name).strip() == "shut off"

    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": {"name": name, "state": "absent"}})
    assert apply["diff"]["before"] == {"state": "stopped"} and apply["diff"]["after"] == {"state": "absent"}
    assert name not in kvmtest.domain_names()
    volumes = kvmtest.virsh("vol-list", "--pool", test_pool["name"])
    assert f"{name}-vda.qcow2" in volumes, "volumes are kept without remove_volumes"

    kvmtest.run_playbook([{"kvmfleet.kvm.guest": {**base, "state": "present"}}])  # the kept volume is reused
    _check, apply, _recheck, _reapply = triad(
        {"kvmfleet.kvm.guest": {"name": name, "state": "absent", "remove_volumes": True}}
    )
    assert f"delete volume {name}-vda.qcow2 from pool {test_pool['name']}" in apply["actions"]
    assert f"{name}-vda.qcow2" not in kvmtest.virsh("vol-list", "--pool", test_pool["name"])


def test_a_uuid_change_needs_recreate_which_keeps_volumes_and_power(
    triad, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}again"
    base = tiny(
        name, tiny_image, tmp_path / "serial.log", disks=[{"pool": test_pool["name"], "size": "32MiB"}], state="running"
    )
    base["uuid"] = "0b8a3f2e-1111-4a2b-9c3d-000000000001"
    kvmtest.run_playbook([{"kvmfleet.kvm.guest": base}])
    kvmtest.wait_for_serial(tmp_path / "serial.log", "KVMFLEET-TINY-READY")
    new_uuid = "0b8a3f2e-1111-4a2b-9c3d-000000000002"

    refused = kvmtest.run_playbook([{"name": "t", "kvmfleet.kvm.guest": {**base, "uuid": new_uuid}}]).result("t")
    assert refused["failed"] and refused["msg"].startswith("uuid: changing '0b8a3f2e-1111-4a2b-9c3d-000000000001'")
    assert refused["msg"].endswith("set recreate: true to allow it")
    assert kvmtest.virsh("domuuid", name).strip() == base["uuid"]

    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": {**base, "uuid": new_uuid, "recreate": True}})
    assert apply["actions"] == [
        "shut the guest down to recreate it (wait up to 120 s)",
        "undefine the guest to recreate it (its volumes are kept)",
        f"define guest {name}",
        "start the guest",
    ]
    assert apply["diff"]["after"] == {"uuid": new_uuid, "recreated": True}
    assert kvmtest.virsh("domuuid", name).strip() == new_uuid
    assert kvmtest.virsh("domstate", name).strip() == "running"
    assert f"{name}-vda.qcow2" in kvmtest.virsh("vol-list", "--pool", test_pool["name"])


def test_running_guest_is_not_powered_off_without_force(prefix: str, tiny_image: Path, tmp_path: Path) -> None:
    name = f"{prefix}stubborn"
    # a guest that ignores the ACPI power button, as a hung one would
    base = tiny(
        name,
        tiny_image,
        tmp_path / "serial.log",
        cmdline="console=ttyS0 panic=-1 quiet kvmfleet.noacpi",
        state="running",
    )
    kvmtest.run_playbook([{"kvmfleet.kvm.guest": base}])
    kvmtest.wait_for_serial(tmp_path / "serial.log", "KVMFLEET-TINY-READY")

    result = kvmtest.run_playbook(
        [{"name": "t", "kvmfleet.kvm.guest": {"name": name, "state": "absent", "shutdown_timeout": 3}}]
    ).result("t")
    assert result["failed"] and "set force: true to allow it" in result["msg"]
    assert kvmtest.virsh("domstate", name).strip() == "running"

    result = kvmtest.run_playbook(
        [{"name": "t", "kvmfleet.kvm.guest": {"name": name, "state": "absent", "shutdown_timeout": 3, "force": True}}]
    ).result("t")
    assert result["changed"] and name not in kvmtest.domain_names()


def test_uefi_guest_removal_deletes_its_nvram(triad, prefix: str, tmp_path: Path) -> None:
    name = f"{prefix}uefi"
    options = {"name": name, "memory": "128MiB", "firmware": "uefi", "state": "paused"}
    kvmtest.run_playbook([{"kvmfleet.kvm.guest": options}])
    nvram = domxml(name).findtext("os/nvram")  # libvirt resolves the firmware when the guest starts
    assert nvram and Path(nvram).exists(), "starting a UEFI guest creates its nvram"

    _check, apply, _recheck, _reapply = triad(
        {"kvmfleet.kvm.guest": {"name": name, "state": "absent", "force": True, "shutdown_timeout": 1}}
    )
    assert "undefine the guest (with its UEFI nvram and snapshot metadata)" in apply["actions"]
    assert name not in kvmtest.domain_names()
    assert not Path(nvram).exists()


BAD_INPUTS: list[tuple[dict[str, Any], str]] = [
    ({"memory": "lots"}, "memory: expected a size"),
    ({"memory": "-1G"}, "memory: a size cannot be negative"),
    ({"memory": "4XB"}, "memory: unknown unit"),
    ({"memory": "8MiB"}, "memory: must be at least 16MiB"),
    ({"memory": "1GiB", "max_memory": "512MiB"}, "memory: is more than max_memory"),
    ({"vcpus": 0}, "vcpus: must be at least 1"),
    ({"vcpus": "two"}, "vcpus: expected a whole number"),
    ({"vcpus": 4, "max_vcpus": 2}, "vcpus: 4 is more than max_vcpus 2"),
    ({"virt_type": "xen"}, "virt_type: must be one of auto, kvm, qemu"),
    ({"state": "on"}, "state: must be one of"),
    ({"uuid": "not-a-uuid"}, "uuid: 'not-a-uuid' is not a UUID"),
    ({"kernel": "vmlinuz"}, "kernel: 'vmlinuz' is not an absolute path"),
    ({"cmdline": "quiet"}, "kernel: initrd and cmdline need a kernel"),
    ({"secure_boot": True}, "secure_boot: needs firmware: uefi"),
    ({"disks": [{"size": "1G"}, {"size": "2 parsecs"}]}, "disks[1].size: unknown unit"),
    ({"disks": [{"bus": "ide", "size": "1G"}]}, "disks[0].bus: must be one of virtio, scsi, sata"),
    (
        {"disks": [{"size": "1G", "target": "vda"}, {"size": "1G", "target": "vda"}]},
        "disks[1].target: vda is also the target of disks[0]",
    ),
    ({"disks": [{"path": "/tmp/x.img", "size": "1G"}]}, "disks[0].path: path excludes size"),
    (
        {"disks": [{"device": "cdrom", "bus": "virtio", "path": "/tmp/x.iso"}]},
        "disks[0].bus: a cdrom needs bus sata or scsi",
    ),
    ({"disks": [{}]}, "disks[0]: give one of path"),
    ({"disks": [{"size": "1G", "speed": 9}]}, "disks[0].speed: unknown option"),
    ({"disks": [{"size": "1G", "pool": "no-such-pool"}]}, "disks[0].pool: no storage pool no-such-pool"),
    ({"disks": [{"volume": "missing.qcow2", "pool": "@POOL@"}]}, "disks[0].volume: no volume missing.qcow2 in pool"),
    (
        {"interfaces": [{"source": "default", "mac": "52:54:00:zz:00:01"}]},
        "interfaces[0].mac: '52:54:00:zz:00:01' is not a MAC",
    ),
    (
        {"interfaces": [{"source": "x", "mac": "52:54:00:00:00:01"}, {"source": "x", "mac": "52:54:00:00:00:01"}]},
        "interfaces[1].mac: 52:54:00:00:00:01 is also",
    ),
    ({"interfaces": [{"mac": "52:54:00:00:00:01"}]}, "interfaces[0].source: is required"),
    ({"interfaces": [{"source": "no-such-net"}]}, "interfaces[0].source: no libvirt network no-such-net"),
    ({"interfaces": [{"source": "x", "vlan": 5000}]}, "interfaces[0].vlan: must be at most 4094"),
    ({"cpu": {"mode": "custom"}}, "cpu.model: mode custom needs a model"),
    ({"cpu": {"sockets": 2, "cores": 2, "threads": 1}, "vcpus": 2}, "cpu: sockets x cores x threads = 4"),
    ({"graphics": {"type": "vnc", "password": "s3cret-pw", "port": 70000}}, "graphics.port: must be at most 65535"),
    ({"hostdevs": ["03:00"]}, "hostdevs: '03:00' is not a PCI address"),
    ({"name": "bad name!"}, "name: 'bad name!' is not a usable guest name"),
    ({"tb_cache": "1.5"}, "tb_cache: must be a whole number of MiB"),
    (
        {"graphics": {"type": "vnc", "password": "nine-char"}},
        "graphics.password: a VNC password has at most 8 characters",
    ),
    ({"memory": "1.0000001K"}, "memory: '1.0000001K' is not a whole number of bytes"),
]


@kvmtest.BOTH_WAYS
def test_bad_inputs_fail_with_their_field_path_and_change_nothing(
    play, conn: Any, prefix: str, test_pool: dict[str, str]
) -> None:
    assert len(BAD_INPUTS) >= 25
    assert not [name for name in kvmtest.domain_names() if name.startswith(prefix)]
    before_volumes = kvmtest.virsh("vol-list", "--pool", test_pool["name"])
    tasks = []
    for index, (extra, _expected) in enumerate(BAD_INPUTS):
        options = {"name": f"{prefix}bad{index}", "memory": "128MiB", "state": "running", **extra}
        for disk in options.get("disks", []):
            if disk.get("pool") == "@POOL@":
                disk["pool"] = test_pool["name"]
        tasks.append({"name": f"bad {index}", "kvmfleet.kvm.guest": options, "ignore_errors": True})
    result = play(tasks)

    for index, (_extra, expected) in enumerate(BAD_INPUTS):
        outcome = result.result(f"bad {index}")
        assert outcome.get("failed"), f"input {index} did not fail: {outcome}"
        assert expected in outcome["msg"], f"input {index}: {outcome['msg']!r} does not say {expected!r}"
    assert "s3cret-pw" not in json_dump(result.data), "a password leaked into the output"
    # every bad input names a guest under this test's prefix: none of them may exist now (other
    # domains of the shared daemon may come and go meanwhile)
    assert not [name for name in kvmtest.domain_names() if name.startswith(prefix)]
    assert kvmtest.virsh("vol-list", "--pool", test_pool["name"]) == before_volumes

    # bad changes to a guest that exists (the update path): refused, its definition stays as it was
    name = f"{prefix}exists"
    play([{"name": "t", "kvmfleet.kvm.guest": {"name": name, "memory": "128MiB"}}])
    before_xml = kvmtest.virsh("dumpxml", "--inactive", name)
    tasks = [
        {"name": f"bad update {index}", "kvmfleet.kvm.guest": {"name": name, **extra}, "ignore_errors": True}
        for index, (extra, _expected) in enumerate(BAD_UPDATES)
    ]
    for task in tasks:
        for disk in task["kvmfleet.kvm.guest"].get("disks", []):
            disk["pool"] = test_pool["name"]
    result = play(tasks)
    for index, (_extra, expected) in enumerate(BAD_UPDATES):
        outcome = result.result(f"bad update {index}")
        assert outcome.get("failed"), f"update {index} did not fail: {outcome}"
        assert expected in outcome["msg"], f"update {index}: {outcome['msg']!r} does not say {expected!r}"
    assert kvmtest.virsh("dumpxml", "--inactive", name) == before_xml
    assert [n for n in kvmtest.domain_names() if n.startswith(prefix)] == [name]
    assert kvmtest.virsh("vol-list", "--pool", test_pool["name"]) == before_volumes


BAD_UPDATES = [
    ({"uuid": "11111111-2222-3333-4444-555555555555"}, "uuid: changing"),
    ({"memory": "256MiB", "max_memory": "192MiB"}, "memory: is more than max_memory"),
    ({"interfaces": [{"source": "no-such-network"}]}, "interfaces[0].source: no libvirt network no-such-network"),
    (
        {"max_memory": "128MiB", "cpu": {"numa": [{"cpus": "0", "memory": "64MiB"}]}},
        "cpu.numa: the cells' memory adds up to 64MiB, but max_memory is 128MiB",
    ),
    ({"disks": [{"volume": "no-such-volume.qcow2"}]}, "disks[0].volume: no volume no-such-volume.qcow2 in pool"),
    (
        {"disks": [{"size": "16MiB", "target": "vdb"}, {"size": "16MiB", "target": "vdb"}]},
        "disks[1].target: vdb is also",
    ),
]


def json_dump(data: Any) -> str:
    import json

    return json.dumps(data)


@kvmtest.BOTH_WAYS
@pytest.mark.parametrize("secret_place", ["user_data", "password"])
def test_secrets_never_appear_in_output(play, prefix: str, test_pool: dict[str, str], secret_place: str) -> None:
    secret = f"kvmfleet-secret-{secret_place}"
    options: dict[str, Any] = {
        "name": f"{prefix}sec",
        "memory": "128MiB",
        "disks": [{"pool": test_pool["name"], "size": "16MiB"}],
    }
    if secret_place == "user_data":
        options["cloud_init"] = {"user_data": f"#cloud-config\npassword: {secret}\n"}
    else:
        secret = "kf-s3crt"  # VNC takes 8 characters at most
        options["graphics"] = {"type": "vnc", "password": secret}
    result = play([{"name": "t", "kvmfleet.kvm.guest": options}], diff=True)
    assert result.result("t")["changed"]
    assert secret not in json_dump(result.data) and secret not in result.stderr
    batch = play([{"name": "t", "kvmfleet.kvm.guests": {"guests": [{**options, "memory": "160MiB"}]}}], diff=True)
    assert batch.result("t")["changed"]
    assert secret not in json_dump(batch.data)
    # a secret in the defaults is hidden too, also where every item overrides it
    place, key = ("cloud_init", "user_data") if secret_place == "user_data" else ("graphics", "password")
    defaults = {k: v for k, v in options.items() if k != "name"}
    for item in ({"memory": "176MiB"}, {"memory": "192MiB", place: {**options[place], key: "other"}}):
        task = {"defaults": defaults, "guests": [{"name": options["name"], **item}]}
        batch = play([{"name": "t", "kvmfleet.kvm.guests": task}], diff=True)
        assert batch.result("t")["changed"], batch.result("t").get("msg")
        assert secret not in json_dump(batch.data) and secret not in batch.stderr


def test_vcpus_are_hotplugged_live(triad, prefix: str, tiny_image: Path, tmp_path: Path) -> None:
    name = f"{prefix}cpu"
    base = tiny(name, tiny_image, tmp_path / "serial.log", vcpus=1, max_vcpus=2, state="running")
    kvmtest.run_playbook([{"kvmfleet.kvm.guest": base}])
    kvmtest.wait_for_serial(tmp_path / "serial.log", "KVMFLEET-TINY-READY")
    pid = qemu_pid(name)

    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": {**base, "vcpus": 2}})

    assert apply["actions"] == ["set vcpus to 2 on the running guest", "update the persistent definition: vcpus"]
    assert apply["reboot_required"] is False and qemu_pid(name) == pid
    counts = dict(line.rsplit(None, 1) for line in kvmtest.virsh("vcpucount", name).splitlines() if line.strip())
    assert counts["current      live"] == "2" and counts["current      config"] == "2"


def make_iso(pool_path: str, name: str, label: str) -> None:
    kvmtest.run_cmd(["genisoimage", "-quiet", "-o", f"{pool_path}/{name}", "-V", label, "/etc/hostname"])


def test_cdrom_media_change_is_live(
    triad, conn: Any, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    first, second = f"{prefix}a.iso", f"{prefix}b.iso"
    make_iso(test_pool["path"], first, "FIRST")
    make_iso(test_pool["path"], second, "SECOND")
    conn.storagePoolLookupByName(test_pool["name"]).refresh(0)
    name = f"{prefix}cd"
    cdrom = {"device": "cdrom", "pool": test_pool["name"], "volume": first}
    base = tiny(name, tiny_image, tmp_path / "serial.log", disks=[cdrom], state="running")
    kvmtest.run_playbook([{"kvmfleet.kvm.guest": base}])
    pid = qemu_pid(name)

    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": {**base, "disks": [{**cdrom, "volume": second}]}})

    assert apply["actions"] == ["change the media in sda"]
    assert apply["diff"] == {"before": {"disks[sda].volume": first}, "after": {"disks[sda].volume": second},
                             "before_header": name, "after_header": name}  # fmt: skip
    assert qemu_pid(name) == pid
    for inactive in (False, True):
        assert domxml(name, inactive=inactive).find("devices/disk/source").get("volume") == second


def test_cloud_init_seed_is_built_and_rebuilt_only_on_change(
    triad, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}ci"
    seed = {"user_data": {"users": [{"name": "admin"}]}, "network_config": {"version": 2}}
    base = tiny(
        name, tiny_image, tmp_path / "serial.log", disks=[{"pool": test_pool["name"], "size": "16MiB"}], cloud_init=seed
    )
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": base})
    iso = f"{test_pool['path']}/{name}-cidata.iso"
    assert f"write cloud-init seed {name}-cidata.iso in pool {test_pool['name']}" in apply["actions"]
    assert "CD-ROM is in ISO 9660 format" in kvmtest.run_cmd(["isoinfo", "-d", "-i", iso])
    assert "Volume id: cidata" in kvmtest.run_cmd(["isoinfo", "-d", "-i", iso])
    user_data = kvmtest.run_cmd(["isoinfo", "-J", "-x", "/user-data", "-i", iso])
    assert user_data.startswith("#cloud-config\n") and '"name": "admin"' in user_data
    assert (
        kvmtest.run_cmd(["isoinfo", "-J", "-x", "/meta-data", "-i", iso])
        == f"instance-id: {name}\nlocal-hostname: {name}\n"
    )
    seed_disk = [d for d in domxml(name, inactive=True).findall("devices/disk") if d.get("device") == "cdrom"]
    assert len(seed_disk) == 1 and seed_disk[0].find("source").get("volume") == f"{name}-cidata.iso"

    changed = {**base, "cloud_init": {**seed, "user_data": {"users": [{"name": "operator"}]}}}
    _check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": changed})
    assert apply["actions"] == [
        f"write cloud-init seed {name}-cidata.iso in pool {test_pool['name']}",
        "update the persistent definition: cloud_init",
    ]
    assert '"name": "operator"' in kvmtest.run_cmd(["isoinfo", "-J", "-x", "/user-data", "-i", iso])


def test_guests_batch_touches_nothing_when_one_guest_is_invalid(play, prefix: str, test_pool: dict[str, str]) -> None:
    before = kvmtest.domain_names()
    guests = [
        {"name": f"{prefix}ok", "memory": "128MiB"},
        {"name": f"{prefix}bad", "disks": [{"pool": "no-such-pool", "size": "1G"}]},
        {"name": f"{prefix}ok", "memory": "1XB"},
    ]
    failed = play([{"name": "t", "kvmfleet.kvm.guests": {"guests": guests}}]).result("t")
    assert failed["failed"]
    assert failed["errors"] == [
        "guests[2].memory: unknown unit 'XB' in '1XB'; use B, KiB, MiB, GiB, TiB (or K, M, G, T; KB, MB, GB, TB)"
    ]
    guests[2]["memory"] = "128MiB"
    failed = play([{"name": "t", "kvmfleet.kvm.guests": {"guests": guests}}]).result("t")
    assert failed["errors"] == [
        "guests[1].disks[0].pool: no storage pool no-such-pool on this hypervisor",
        f"guests[2].name: {prefix}ok is also the name of guests[0]",
    ]
    assert kvmtest.domain_names() == before, "nothing was defined"

    # a change that needs an option does not stop the planning of the other guests either
    play([{"name": "t", "kvmfleet.kvm.guest": {"name": f"{prefix}old", "memory": "128MiB"}}])
    old_xml = kvmtest.virsh("dumpxml", "--inactive", f"{prefix}old")
    guests = [
        {"name": f"{prefix}new", "memory": "128MiB"},
        {"name": f"{prefix}old", "uuid": "11111111-2222-3333-4444-555555555555", "memory": "160MiB"},
        {"name": f"{prefix}bad", "disks": [{"pool": "no-such-pool", "size": "1G"}]},
    ]
    failed = play([{"name": "t", "kvmfleet.kvm.guests": {"guests": guests}}]).result("t")
    assert failed["failed"] and failed["needs_option"] == "recreate"
    assert [error.split(":")[0] for error in failed["errors"]] == ["guests[1].uuid", "guests[2].disks[0].pool"]
    assert f"{prefix}new" not in kvmtest.domain_names()
    assert kvmtest.virsh("dumpxml", "--inactive", f"{prefix}old") == old_xml


@kvmtest.BOTH_WAYS
def test_guests_batch_triad(triad, prefix: str, tiny_image: Path, tmp_path: Path) -> None:
    defaults = tiny("unused", tiny_image, tmp_path / "serial.log")
    defaults.pop("name")
    defaults.pop("console")
    task = {
        "kvmfleet.kvm.guests": {
            "defaults": {**defaults, "state": "paused"},
            "guests": [{"name": f"{prefix}{i}"} for i in range(3)],
        }
    }
    _check, apply, _recheck, _reapply = triad(task)
    assert [g["state"] for g in apply["guests"]] == ["paused"] * 3
    assert [g["actions"] for g in apply["guests"]] == [
        [f"define guest {prefix}{i}", "start the guest paused"] for i in range(3)
    ]
    assert len(apply["diff"]) == 3
    assert [kvmtest.virsh("domstate", f"{prefix}{i}").strip() for i in range(3)] == ["paused"] * 3


def test_secure_boot_guest_gets_smm_and_secure_firmware(prefix: str) -> None:
    name = f"{prefix}sb"
    result = kvmtest.run_playbook(
        [
            {
                "name": "t",
                "kvmfleet.kvm.guest": {
                    "name": name,
                    "memory": "256MiB",
                    "firmware": "uefi",
                    "secure_boot": True,
                    "state": "paused",
                },
            }
        ]
    ).result("t")
    assert result["changed"] and not result.get("failed"), result.get("msg")
    live = domxml(name)
    assert live.find("os/loader").get("secure") == "yes"
    assert live.find("features/smm").get("state") == "on"
    # libvirt picked the firmware descriptor with secure boot and enrolled keys
    features = {f.get("name"): f.get("enabled") for f in domxml(name, inactive=True).findall("os/firmware/feature")}
    assert features == {"enrolled-keys": "yes", "secure-boot": "yes"}
    assert Path(live.findtext("os/nvram")).exists()
    rerun = kvmtest.run_playbook(
        [{"name": "t", "kvmfleet.kvm.guest": {"name": name, "firmware": "uefi", "secure_boot": True}}]
    ).result("t")
    assert rerun["changed"] is False


def test_restarted_restarts_on_every_run_and_reset_needs_force(prefix: str, tiny_image: Path, tmp_path: Path) -> None:
    """restarted: a graceful shutdown (the tiny guest powers off on the ACPI button; without force a guest
    that did not would fail the task) and a new QEMU process. reset: the same process boots again."""
    name, log = f"{prefix}rst", tmp_path / "serial.log"
    base = tiny(name, tiny_image, log, cmdline="console=ttyS0 panic=-1 quiet kvmfleet.nonet", state="running")
    kvmtest.run_playbook([{"kvmfleet.kvm.guest": base}])
    kvmtest.wait_for_serial(log, "KVMFLEET-TINY-READY")
    restart = {"name": name, "state": "restarted", "shutdown_timeout": 60}

    checked = kvmtest.run_playbook([{"name": "t", "kvmfleet.kvm.guest": restart}], check=True, diff=True).result("t")
    pid = qemu_pid(name)
    assert checked["changed"] and checked["state"] == "running"
    assert checked["actions"] == ["restart the guest (graceful shutdown, wait up to 60 s, then start)"]
    for _run in range(2):  # a command: every run restarts it
        pid = qemu_pid(name)
        done = kvmtest.run_playbook([{"name": "t", "kvmfleet.kvm.guest": restart}], diff=True).result("t")
        assert done["changed"] and not done.get("failed"), done.get("msg")
        assert done["actions"] == checked["actions"] and done["diff"] == checked["diff"]
        assert kvmtest.virsh("domstate", name).strip() == "running" and qemu_pid(name) != pid
        kvmtest.wait_for_serial(log, "KVMFLEET-TINY-READY")  # booted again (the new process began a new log)

    pid, boots = qemu_pid(name), log.read_text(errors="replace").count("KVMFLEET-TINY-BOOTED")
    refused = kvmtest.run_playbook([{"name": "t", "kvmfleet.kvm.guest": {"name": name, "state": "reset"}}]).result("t")
    assert refused["failed"] and refused["needs_option"] == "force" and "state: reset cuts the power" in refused["msg"]
    reset = {"name": name, "state": "reset", "force": True}
    done = kvmtest.run_playbook([{"name": "t", "kvmfleet.kvm.guest": reset}]).result("t")
    assert done["changed"] and done["actions"] == ["reset the guest (at once, as its reset button does: no shutdown)"]
    assert qemu_pid(name) == pid and kvmtest.virsh("domstate", name).strip() == "running"
    assert kvmtest.wait_until(lambda: log.read_text(errors="replace").count("KVMFLEET-TINY-BOOTED") > boots, 60)
