# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bindings of the guest's single devices: serial console, graphics, video, RNG, guest agent channel,
TPM, PCI passthrough and watchdog. (Disks and NICs are lists with planners of their own: ``devices.py``.)"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.field import Field


def _device(root: ET.Element, tag: str) -> Optional[ET.Element]:
    return root.find(f"devices/{tag}")


def read_console(root: ET.Element) -> Optional[dict[str, Any]]:
    serial = _device(root, "serial")
    if serial is None:
        return None
    if serial.get("type") == "file":
        source = serial.find("source")
        return {"type": "file", "log": source.get("path") if source is not None else None}
    log = serial.find("log")
    return {"type": serial.get("type", "pty"), "log": log.get("file") if log is not None else None}


def write_console(root: ET.Element, value: dict[str, Any]) -> None:
    devs = gx.devices(root)
    gx.drop(devs, "serial")
    gx.drop(devs, "console")
    if value["type"] == "file":
        serial = ET.SubElement(devs, "serial", {"type": "file"})
        path = value["log"] or f"/var/log/libvirt/qemu/{root.findtext('name')}-serial.log"
        ET.SubElement(serial, "source", {"path": path})
    else:
        serial = ET.SubElement(devs, "serial", {"type": "pty"})
        if value.get("log"):
            ET.SubElement(serial, "log", {"file": value["log"], "append": "off"})
    ET.SubElement(serial, "target", {"port": "0"})
    console = ET.SubElement(devs, "console", {"type": serial.get("type", "pty")})
    if value["type"] == "file":
        ET.SubElement(console, "source", {"path": path})
    ET.SubElement(console, "target", {"type": "serial", "port": "0"})


def read_graphics(root: ET.Element) -> dict[str, Any]:
    graphics = _device(root, "graphics")
    if graphics is None:
        return {"type": "none", "listen": None, "port": None, "password": None}
    listen = graphics.find("listen")
    return {
        "type": graphics.get("type"),
        "listen": graphics.get("listen") or (listen.get("address") if listen is not None else None),
        "port": -1 if graphics.get("autoport") == "yes" else int(graphics.get("port", "-1")),
        "password": graphics.get("passwd"),
    }


def write_graphics(root: ET.Element, value: dict[str, Any]) -> None:
    devs = gx.devices(root)
    gx.drop(devs, "graphics")
    if value["type"] == "none":
        return
    attrib = {"type": value["type"]}
    port = value.get("port")
    if port is None or port == -1:
        attrib["autoport"] = "yes"
    else:
        attrib.update(port=str(port), autoport="no")
    if value.get("password"):
        attrib["passwd"] = value["password"]
    graphics = ET.SubElement(devs, "graphics", attrib)
    ET.SubElement(graphics, "listen", {"type": "address", "address": value.get("listen") or "127.0.0.1"})
    graphics.set("listen", value.get("listen") or "127.0.0.1")


def read_video(root: ET.Element) -> str:
    model = _device(root, "video/model")
    return model.get("type") if model is not None else "none"


def write_video(root: ET.Element, value: str) -> None:
    devs = gx.devices(root)
    gx.drop(devs, "video")
    ET.SubElement(ET.SubElement(devs, "video"), "model", {"type": value})


def write_rng(root: ET.Element, value: bool) -> None:
    devs = gx.devices(root)
    gx.drop(devs, "rng")
    if value:
        rng = ET.SubElement(devs, "rng", {"model": "virtio"})
        ET.SubElement(rng, "backend", {"model": "random"}).text = "/dev/urandom"


def _agent_channels(devs: Optional[ET.Element]) -> list[ET.Element]:
    if devs is None:
        return []
    return [ch for ch in devs.findall("channel") if ch.find(f"target[@name='{gx.AGENT_CHANNEL}']") is not None]


def write_guest_agent(root: ET.Element, value: bool) -> None:
    devs = gx.devices(root)
    for channel in _agent_channels(devs):
        devs.remove(channel)
    if value:
        channel = ET.SubElement(devs, "channel", {"type": "unix"})
        ET.SubElement(channel, "target", {"type": "virtio", "name": gx.AGENT_CHANNEL})


def write_tpm(root: ET.Element, value: bool) -> None:
    devs = gx.devices(root)
    gx.drop(devs, "tpm")
    if value:
        tpm = ET.SubElement(devs, "tpm", {"model": "tpm-crb"})
        ET.SubElement(tpm, "backend", {"type": "emulator", "version": "2.0"})


def _hostdev_address(hostdev: ET.Element) -> str:
    address = hostdev.find("source/address")
    if address is None:
        return ""
    parts = [int(address.get(key, "0"), 0) for key in ("domain", "bus", "slot", "function")]
    return f"{parts[0]:04x}:{parts[1]:02x}:{parts[2]:02x}.{parts[3]:x}"


def read_hostdevs(root: ET.Element) -> list[str]:
    return sorted(_hostdev_address(h) for h in root.findall("devices/hostdev") if h.get("type") == "pci")


def write_hostdevs(root: ET.Element, value: list[str]) -> None:
    devs = gx.devices(root)
    for hostdev in devs.findall("hostdev"):
        if hostdev.get("type") == "pci":
            devs.remove(hostdev)
    for address in value:
        domain, bus, rest = address.split(":")
        slot, function = rest.split(".")
        hostdev = ET.SubElement(devs, "hostdev", {"mode": "subsystem", "type": "pci", "managed": "yes"})
        pci = {"domain": f"0x{domain}", "bus": f"0x{bus}", "slot": f"0x{slot}", "function": f"0x{function}"}
        ET.SubElement(ET.SubElement(hostdev, "source"), "address", pci)


def read_watchdog(root: ET.Element) -> Optional[dict[str, Any]]:
    watchdog = _device(root, "watchdog")
    if watchdog is None:
        return None
    return {"model": watchdog.get("model"), "action": watchdog.get("action", "reset")}


def write_watchdog(root: ET.Element, value: dict[str, Any]) -> None:
    devs = gx.devices(root)
    gx.drop(devs, "watchdog")
    ET.SubElement(devs, "watchdog", {"model": value["model"], "action": value["action"]})


def _present(tag: str) -> Any:
    return lambda root: _device(root, tag) is not None


FIELDS: dict[str, Field] = {
    "console": Field(read=read_console, write=write_console),
    "graphics": Field(read=read_graphics, write=write_graphics),
    "video": Field(read=read_video, write=write_video),
    "rng": Field(read=_present("rng"), write=write_rng),
    "guest_agent": Field(read=lambda root: bool(_agent_channels(root.find("devices"))), write=write_guest_agent),
    "tpm": Field(read=_present("tpm"), write=write_tpm),
    "hostdevs": Field(read=read_hostdevs, write=write_hostdevs),
    "watchdog": Field(read=read_watchdog, write=write_watchdog),
}
