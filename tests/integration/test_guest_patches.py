"""XML patches (the guest's xml_patches) on the real libvirtd: what no typed option covers, applied after the
typed options, compared and shown like them, validated by libvirt's schema, refused where a typed option
writes the same element, and said when libvirt does not keep them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kvmtest
import pytest

pytestmark = pytest.mark.integration

SOUND = {"xpath": "devices/sound[@model='ich9']", "element": "<sound model='ich9'><codec type='micro'/></sound>"}
PMU = {"xpath": "features/pmu", "attribute": "state", "value": "off"}
IOTHREADS = {"xpath": "iothreads", "value": "2"}
QEMU = "http://libvirt.org/schemas/domain/qemu/1.0"
ARGS = {
    "xpath": f"{{{QEMU}}}commandline",
    "element": f"<qemu:commandline xmlns:qemu='{QEMU}'><qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>"
    "</qemu:commandline>",
}


def domxml(name: str, inactive: bool = True) -> ET.Element:
    return ET.fromstring(kvmtest.virsh("dumpxml", *(["--inactive"] if inactive else []), name))


def test_patches_are_applied_after_the_typed_options_and_compared_like_them(
    triad: Callable[..., list[dict[str, Any]]], prefix: str, tiny_image: Path, tmp_path: Path
) -> None:
    name = f"{prefix}patched"
    options = kvmtest.tiny_guest(
        name, tiny_image, tmp_path / "serial.log", virt_type="qemu", state="running",
        xml_patches=[SOUND, PMU, IOTHREADS, ARGS],
    )  # fmt: skip
    check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": options})
    assert check["actions"] == [f"define guest {name}", "start the guest"]
    assert apply["diff"]["after"]["xml_patches"][0]["xpath"] == SOUND["xpath"]
    root = domxml(name)
    assert root.find("devices/sound").get("model") == "ich9" and root.find("devices/sound/codec").get("type") == "micro"
    assert root.find("devices/sound/address") is not None  # libvirt's own addition: not a change on the reruns
    assert root.find("features/pmu").get("state") == "off" and root.findtext("iothreads") == "2"
    assert [arg.get("value") for arg in root.iter(f"{{{QEMU}}}arg")] == ["-msg", "timestamp=on"]
    assert "-msg timestamp=on" in Path(f"/proc/{int(Path(f'/run/libvirt/qemu/{name}.pid').read_text())}/cmdline") \
        .read_text().replace("\0", " ")  # fmt: skip
    assert kvmtest.virsh("domstate", name).strip() == "running"

    # a change of the running guest: persistent only, it takes it at its next boot
    changed = {**options, "xml_patches": [{**SOUND, "element": "<sound model='ich9'><codec type='duplex'/></sound>"},
                                          PMU, {"xpath": "iothreads", "state": "absent"}, ARGS]}  # fmt: skip
    check, apply, _recheck, _reapply = triad({"kvmfleet.kvm.guest": changed})
    assert apply["actions"] == ["update the persistent definition: xml_patches"]
    assert set(apply["diff"]["after"]) == {"xml_patches[0]", "xml_patches[2]"}
    assert apply["diff"]["after"]["xml_patches[2]"] == "(removed)"
    assert apply["reboot_required"] and apply["reboot_required_fields"] == ["xml_patches"]
    root = domxml(name)
    assert root.find("devices/sound/codec").get("type") == "duplex" and root.find("iothreads") is None
    assert domxml(name, inactive=False).find("devices/sound/codec").get("type") == "micro"  # the running guest


def test_patches_libvirt_refuses_or_does_not_keep_are_said_so(
    play: Callable[..., kvmtest.PlayResult], prefix: str, tiny_image: Path, tmp_path: Path
) -> None:
    name = f"{prefix}refused"
    base = kvmtest.tiny_guest(name, tiny_image, tmp_path / "serial.log", virt_type="qemu")
    bogus = play([{"name": "t", "kvmfleet.kvm.guest": {**base, "xml_patches": [
        {"xpath": "devices/bogus", "element": "<bogus/>"}]}}]).result("t")  # fmt: skip
    assert bogus["failed"] and "failed to validate against schema" in bogus["msg"], bogus["msg"]
    assert name not in kvmtest.domain_names()  # libvirt's schema check refused the definition

    typed = play([{"name": "t", "kvmfleet.kvm.guest": {**base, "vcpus": 2, "xml_patches": [
        {"xpath": "vcpu", "value": "4"}]}}]).result("t")  # fmt: skip
    assert typed["failed"] and typed["errors"] == [
        "xml_patches[0].xpath: vcpu is <vcpu>, which the option vcpus writes: set it through vcpus, or leave vcpus "
        "unset and patch it here"
    ]

    balloon = {**base, "xml_patches": [{"xpath": "devices/memballoon", "state": "absent"}]}
    first = play([{"name": "t", "kvmfleet.kvm.guest": balloon}]).result("t")
    assert first["changed"] and not first.get("failed")
    assert any("libvirt did not keep xml_patches[0] (devices/memballoon)" in w for w in first["warnings"])
    assert domxml(name).find("devices/memballoon") is not None  # libvirt's default, put back
