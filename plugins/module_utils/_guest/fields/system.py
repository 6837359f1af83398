# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bindings of the guest's identity, machine and boot options, its event actions and autostart."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.field import Field, LiveMeta, os_text, text
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt


def _set_live_text(kind: str) -> Any:
    def call(dom: Any, value: str, _meta: LiveMeta) -> None:
        lv = require_libvirt()
        dom.setMetadata(getattr(lv, kind), value, None, None, lv.VIR_DOMAIN_AFFECT_LIVE)

    return call


def _live_tags(dom: Any, value: list[str], meta: LiveMeta) -> None:
    meta.change(dom, lambda root: gx.write_tags(root, value))


def _os_type(root: ET.Element) -> ET.Element:
    os_el = gx.child(root, "os")
    os_type = os_el.find("type")
    if os_type is None:
        os_type = ET.Element("type")
        os_type.text = "hvm"
        os_el.insert(0, os_type)
    return os_type


def _os_type_get(attribute: str) -> Any:
    def read(root: ET.Element) -> Optional[str]:
        os_type = root.find("os/type")
        return os_type.get(attribute) if os_type is not None else None

    return read


def write_arch(root: ET.Element, value: str) -> None:
    _os_type(root).set("arch", value)


def machine_family(machine: Optional[str]) -> str:
    """q35, i440fx, or the name itself (virt, pseries...)."""
    if not machine:
        return ""
    if "q35" in machine:
        return "q35"
    if machine == "pc" or "i440fx" in machine:
        return "i440fx"
    return machine


def write_machine(root: ET.Element, value: str) -> None:
    os_type = _os_type(root)
    if machine_family(os_type.get("machine")) not in ("", machine_family(value)):
        # another chipset: its PCI(e) topology differs, so libvirt lays the devices out again
        devs = gx.devices(root)
        for controller in devs.findall("controller"):
            devs.remove(controller)
        for device in devs:
            for address in device.findall("address"):
                device.remove(address)
    os_type.set("machine", value)


def read_firmware(root: ET.Element) -> str:
    os_el = root.find("os")
    loader = os_el.find("loader") if os_el is not None else None
    efi = os_el is not None and (
        os_el.get("firmware") == "efi" or (loader is not None and loader.get("type") == "pflash")
    )
    return "uefi" if efi else "bios"


def write_firmware(root: ET.Element, value: str) -> None:
    os_el = gx.child(root, "os")
    if value == "uefi":
        os_el.set("firmware", "efi")
    else:
        os_el.attrib.pop("firmware", None)
        gx.drop(os_el, "loader")
        gx.drop(os_el, "nvram")
        gx.drop(os_el, "firmware")


def read_secure_boot(root: ET.Element) -> bool:
    os_el = root.find("os")
    if os_el is None:
        return False
    loader = os_el.find("loader")
    return any(
        feature.get("name") == "secure-boot" and feature.get("enabled") == "yes"
        for feature in os_el.findall("firmware/feature")
    ) or (loader is not None and loader.get("secure") == "yes")


def write_secure_boot(root: ET.Element, value: bool) -> None:
    os_el = gx.child(root, "os")
    firmware = gx.child(os_el, "firmware")
    for feature in firmware.findall("feature"):
        firmware.remove(feature)
    state = "yes" if value else "no"
    ET.SubElement(firmware, "feature", {"enabled": state, "name": "enrolled-keys"})
    ET.SubElement(firmware, "feature", {"enabled": state, "name": "secure-boot"})
    loader = os_el.find("loader")
    if loader is not None:
        loader.set("secure", state)
    if value:
        gx.child(gx.child(root, "features"), "smm", {"state": "on"})


def write_boot(root: ET.Element, value: list[str]) -> None:
    os_el = gx.child(root, "os")
    gx.drop(os_el, "boot")
    for dev in value:
        ET.SubElement(os_el, "boot", {"dev": dev})


def _set_autostart(dom: Any, value: bool) -> None:
    dom.setAutostart(int(value))


FIELDS: dict[str, Field] = {
    "name": text("name"),
    "uuid": text("uuid"),
    "title": replace(text("title"), live=_set_live_text("VIR_DOMAIN_METADATA_TITLE")),
    "description": replace(text("description"), live=_set_live_text("VIR_DOMAIN_METADATA_DESCRIPTION")),
    "tags": Field(read=gx.read_tags, write=gx.write_tags, live=_live_tags),
    "virt_type": Field(
        read=lambda root: root.get("type"),
        write=lambda root, value: root.set("type", value),
        resolve=lambda host, wanted: host.virt_type(wanted),
    ),
    "arch": Field(read=_os_type_get("arch"), write=write_arch),
    "machine": Field(
        read=_os_type_get("machine"),
        write=write_machine,
        same=lambda host, wanted, actual: host.machine_matches(wanted, actual),
    ),
    "emulator": Field(
        read=lambda root: root.findtext("devices/emulator"),
        write=lambda root, value: gx.set_text(gx.devices(root), "emulator", value),
    ),
    "firmware": Field(read=read_firmware, write=write_firmware),
    "secure_boot": Field(read=read_secure_boot, write=write_secure_boot),
    "kernel": os_text("kernel"),
    "initrd": os_text("initrd"),
    "cmdline": os_text("cmdline"),
    "boot": Field(read=lambda root: [boot.get("dev", "") for boot in root.findall("os/boot")], write=write_boot),
}

# written last, as libvirt orders them
EVENTS: dict[str, Field] = {name: text(name) for name in ("on_poweroff", "on_reboot", "on_crash")}

# not in the definition: libvirt keeps it beside it, for the persistent and the running guest alike
STATE: dict[str, Field] = {
    "autostart": Field(from_domain=lambda dom: bool(dom.autostart()), to_domain=_set_autostart),
}
