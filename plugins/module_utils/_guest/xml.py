# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest's XML side: libvirt domain XML <-> the normalised shape of the option table.

``read_domain`` turns a domain's XML into the same shape the table validates user input into, so the
two can be compared field by field. Each ``write_*`` sets exactly one option's part of a domain tree:
a new guest is a skeleton plus every writer; an update patches the guest's own persistent XML, so
whatever libvirt filled in (MAC and PCI addresses, controllers, seclabel, UUID) is kept.

Standard library only (xml.etree): nothing to install on the hypervisor but the libvirt binding.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._units import to_kib

NS = "urn:kvmfleet:guest:1"
NS_PREFIX = "kvmfleet"
ET.register_namespace(NS_PREFIX, NS)
AGENT_CHANNEL = "org.qemu.guest_agent.0"

_UNIT_BYTES = {
    "b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
    "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4, "tib": 1024**4, "tb": 1000**4,
}  # fmt: skip


def scaled(element: Optional[ET.Element], default_unit: str = "KiB") -> Optional[int]:
    """Bytes of a libvirt scaled integer such as <memory unit='KiB'>524288</memory>."""
    if element is None or element.text is None:
        return None
    unit = element.get("unit", default_unit).lower()
    return int(element.text.strip()) * _UNIT_BYTES[unit]


def child(parent: ET.Element, tag: str, attrib: Optional[dict[str, str]] = None) -> ET.Element:
    """The first ``tag`` child of ``parent``, created when missing."""
    found = parent.find(tag)
    if found is None:
        found = ET.SubElement(parent, tag)
    for key, value in (attrib or {}).items():
        found.set(key, value)
    return found


def drop(parent: ET.Element, path: str) -> None:
    """Remove every element matching ``path`` (relative to ``parent``)."""
    if "/" in path:
        head, tail = path.rsplit("/", 1)
        parents = parent.findall(head)
    else:
        tail, parents = path, [parent]
    for holder in parents:
        for element in holder.findall(tail):
            holder.remove(element)


def set_text(parent: ET.Element, tag: str, value: Optional[str]) -> None:
    if value is None or value == "":
        drop(parent, tag)
    else:
        child(parent, tag).text = value


def devices(root: ET.Element) -> ET.Element:
    return child(root, "devices")


# ---------------------------------------------------------------------------------------------- metadata


def _meta(root: ET.Element) -> Optional[ET.Element]:
    """The collection's own metadata element, if the domain has one."""
    holder = root.find("metadata")
    return holder.find(f"{{{NS}}}guest") if holder is not None else None


def _meta_for_writing(root: ET.Element) -> ET.Element:
    found = _meta(root)
    return found if found is not None else ET.SubElement(child(root, "metadata"), f"{{{NS}}}guest")


def read_meta(root: ET.Element, key: str) -> Optional[str]:
    meta = _meta(root)
    return meta.get(key) if meta is not None else None


def write_meta(root: ET.Element, key: str, value: Optional[str]) -> None:
    if value is not None:
        _meta_for_writing(root).set(key, value)
        return
    meta = _meta(root)
    if meta is not None:
        meta.attrib.pop(key, None)


def read_tags(root: ET.Element) -> list[str]:
    meta = _meta(root)
    return sorted(tag.text or "" for tag in meta.findall(f"{{{NS}}}tag")) if meta is not None else []


def write_tags(root: ET.Element, tags: list[str]) -> None:
    meta = _meta_for_writing(root)
    for tag in meta.findall(f"{{{NS}}}tag"):
        meta.remove(tag)
    for value in sorted(set(tags)):
        ET.SubElement(meta, f"{{{NS}}}tag").text = value


def metadata_xml(domain_xml: str, change: Callable[[ET.Element], None]) -> str:
    """The collection's metadata element of ``domain_xml`` after ``change``, for virDomain.setMetadata.

    libvirt adds the namespace itself, so the element is given without it.
    """
    root = ET.fromstring(domain_xml)
    change(root)
    return ET.tostring(_strip_namespace(_meta_for_writing(root)), encoding="unicode")


def _strip_namespace(element: ET.Element) -> ET.Element:
    plain = ET.Element(element.tag.split("}", 1)[-1], dict(element.attrib))
    plain.text = element.text
    for sub in element:
        plain.append(_strip_namespace(sub))
    return plain


# ---------------------------------------------------------------------------------------------- scalar options


def read_scalars(root: ET.Element) -> dict[str, Any]:
    """Every non-device option in the table's shape."""
    os_el = root.find("os")
    os_type = os_el.find("type") if os_el is not None else None
    vcpu = root.find("vcpu")
    current_memory = scaled(root.find("currentMemory"))
    memory = scaled(root.find("memory"))
    loader = os_el.find("loader") if os_el is not None else None
    efi = os_el is not None and (
        os_el.get("firmware") == "efi" or (loader is not None and loader.get("type") == "pflash")
    )
    secure = False
    if os_el is not None:
        secure = any(
            feature.get("name") == "secure-boot" and feature.get("enabled") == "yes"
            for feature in os_el.findall("firmware/feature")
        ) or (loader is not None and loader.get("secure") == "yes")
    balloon = root.find("devices/memballoon")
    tb_cache = root.find("features/tcg/tb-cache")
    return {
        "name": root.findtext("name"),
        "uuid": root.findtext("uuid"),
        "title": root.findtext("title"),
        "description": root.findtext("description"),
        "tags": read_tags(root),
        "virt_type": root.get("type"),
        "arch": os_type.get("arch") if os_type is not None else None,
        "machine": os_type.get("machine") if os_type is not None else None,
        "emulator": root.findtext("devices/emulator"),
        "firmware": "uefi" if efi else "bios",
        "secure_boot": secure,
        "kernel": os_el.findtext("kernel") if os_el is not None else None,
        "initrd": os_el.findtext("initrd") if os_el is not None else None,
        "cmdline": os_el.findtext("cmdline") if os_el is not None else None,
        "boot": [boot.get("dev", "") for boot in os_el.findall("boot")] if os_el is not None else [],
        "vcpus": int(vcpu.get("current", vcpu.text or "1")) if vcpu is not None else None,
        "max_vcpus": int(vcpu.text or "1") if vcpu is not None else None,
        "memory": current_memory if current_memory is not None else memory,
        "max_memory": memory,
        "hugepages": root.find("memoryBacking/hugepages") is not None,
        "balloon": balloon is not None and balloon.get("model") != "none",
        "tb_cache": scaled(tb_cache, "MiB"),
        "on_poweroff": root.findtext("on_poweroff"),
        "on_reboot": root.findtext("on_reboot"),
        "on_crash": root.findtext("on_crash"),
    }


def write_name(root: ET.Element, value: str) -> None:
    set_text(root, "name", value)


def write_uuid(root: ET.Element, value: str) -> None:
    set_text(root, "uuid", value)


def write_title(root: ET.Element, value: str) -> None:
    set_text(root, "title", value)


def write_description(root: ET.Element, value: str) -> None:
    set_text(root, "description", value)


def write_virt_type(root: ET.Element, value: str) -> None:
    root.set("type", value)


def _os_type(root: ET.Element) -> ET.Element:
    os_el = child(root, "os")
    os_type = os_el.find("type")
    if os_type is None:
        os_type = ET.Element("type")
        os_type.text = "hvm"
        os_el.insert(0, os_type)
    return os_type


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
        devs = devices(root)
        for controller in devs.findall("controller"):
            devs.remove(controller)
        for device in devs:
            for address in device.findall("address"):
                device.remove(address)
    os_type.set("machine", value)


def write_emulator(root: ET.Element, value: str) -> None:
    set_text(devices(root), "emulator", value)


def write_firmware(root: ET.Element, value: str) -> None:
    os_el = child(root, "os")
    if value == "uefi":
        os_el.set("firmware", "efi")
    else:
        os_el.attrib.pop("firmware", None)
        drop(os_el, "loader")
        drop(os_el, "nvram")
        drop(os_el, "firmware")


def write_secure_boot(root: ET.Element, value: bool) -> None:
    os_el = child(root, "os")
    firmware = child(os_el, "firmware")
    for feature in firmware.findall("feature"):
        firmware.remove(feature)
    state = "yes" if value else "no"
    ET.SubElement(firmware, "feature", {"enabled": state, "name": "enrolled-keys"})
    ET.SubElement(firmware, "feature", {"enabled": state, "name": "secure-boot"})
    loader = os_el.find("loader")
    if loader is not None:
        loader.set("secure", state)
    if value:
        child(child(root, "features"), "smm", {"state": "on"})


def write_kernel(root: ET.Element, value: str) -> None:
    set_text(child(root, "os"), "kernel", value)


def write_initrd(root: ET.Element, value: str) -> None:
    set_text(child(root, "os"), "initrd", value)


def write_cmdline(root: ET.Element, value: str) -> None:
    set_text(child(root, "os"), "cmdline", value)


def write_boot(root: ET.Element, value: list[str]) -> None:
    os_el = child(root, "os")
    drop(os_el, "boot")
    for dev in value:
        ET.SubElement(os_el, "boot", {"dev": dev})


def _vcpu(root: ET.Element) -> ET.Element:
    return child(root, "vcpu", {"placement": "static"})


def write_max_vcpus(root: ET.Element, value: int) -> None:
    vcpu = _vcpu(root)
    current = int(vcpu.get("current", vcpu.text or value))
    vcpu.text = str(value)
    if current < value:
        vcpu.set("current", str(current))
    else:
        vcpu.attrib.pop("current", None)


def write_vcpus(root: ET.Element, value: int) -> None:
    vcpu = _vcpu(root)
    maximum = int(vcpu.text) if vcpu.text else value
    if value >= maximum:
        vcpu.text = str(value)
        vcpu.attrib.pop("current", None)
    else:
        vcpu.set("current", str(value))


def write_max_memory(root: ET.Element, value: int) -> None:
    current = scaled(root.find("currentMemory"))
    child(root, "memory", {"unit": "KiB"}).text = str(to_kib(value))
    if current is not None and current > value:
        child(root, "currentMemory", {"unit": "KiB"}).text = str(to_kib(value))


def write_memory(root: ET.Element, value: int) -> None:
    maximum = scaled(root.find("memory"))
    if maximum is None or maximum < value:
        child(root, "memory", {"unit": "KiB"}).text = str(to_kib(value))
    child(root, "currentMemory", {"unit": "KiB"}).text = str(to_kib(value))
    # the balloon target: libvirt's live currentMemory follows the guest's actual balloon size,
    # which lags (a guest that is still booting shows its maximum)
    write_meta(root, "memory", str(value))


def write_hugepages(root: ET.Element, value: bool) -> None:
    if value:
        child(child(root, "memoryBacking"), "hugepages")
    else:
        drop(root, "memoryBacking/hugepages")
        backing = root.find("memoryBacking")
        if backing is not None and len(backing) == 0:
            root.remove(backing)


def write_balloon(root: ET.Element, value: bool) -> None:
    balloon = child(devices(root), "memballoon")
    balloon.set("model", "virtio" if value else "none")
    if not value:
        for sub in list(balloon):
            balloon.remove(sub)


def write_tb_cache(root: ET.Element, value: int) -> None:
    if root.get("type") == "kvm":
        drop(root, "features/tcg")
        return
    tb_cache = child(child(child(root, "features"), "tcg"), "tb-cache", {"unit": "KiB"})
    tb_cache.text = str(to_kib(value))


def _event_writer(tag: str) -> Callable[[ET.Element, str], None]:
    def write(root: ET.Element, value: str) -> None:
        set_text(root, tag, value)

    return write


# ---------------------------------------------------------------------------------------------- cpu


def read_cpu(root: ET.Element) -> dict[str, Any]:
    cpu = root.find("cpu")
    topology = cpu.find("topology") if cpu is not None else None
    pins = [
        {"vcpu": int(pin.get("vcpu", "0")), "cpuset": pin.get("cpuset", "")} for pin in root.findall("cputune/vcpupin")
    ]
    cells = [
        {
            "cpus": cell.get("cpus", ""),
            "memory": int(cell.get("memory", "0")) * _UNIT_BYTES[cell.get("unit", "KiB").lower()],
        }
        for cell in (cpu.findall("numa/cell") if cpu is not None else [])
    ]
    return {
        "mode": cpu.get("mode", "custom") if cpu is not None else None,
        "model": cpu.findtext("model") if cpu is not None else None,
        "sockets": int(topology.get("sockets", "1")) if topology is not None else None,
        "cores": int(topology.get("cores", "1")) if topology is not None else None,
        "threads": int(topology.get("threads", "1")) if topology is not None else None,
        "pinning": sorted(pins, key=lambda pin: pin["vcpu"]),
        "numa": cells,
    }


def write_cpu(root: ET.Element, value: dict[str, Any]) -> None:
    cpu = child(root, "cpu")
    if value.get("mode") is not None:
        cpu.set("mode", value["mode"])
        if value["mode"] != "custom":
            drop(cpu, "model")
    if value.get("model") is not None:
        cpu.set("mode", "custom")
        cpu.set("match", "exact")
        set_text(cpu, "model", value["model"])
    if value.get("sockets") is not None:
        child(
            cpu,
            "topology",
            {
                "sockets": str(value["sockets"]),
                "dies": "1",
                "cores": str(value["cores"]),
                "threads": str(value["threads"]),
            },
        )
    if value.get("numa") is not None:
        drop(cpu, "numa")
        if value["numa"]:
            numa = ET.SubElement(cpu, "numa")
            for index, cell in enumerate(value["numa"]):
                ET.SubElement(
                    numa,
                    "cell",
                    {"id": str(index), "cpus": cell["cpus"], "memory": str(to_kib(cell["memory"])), "unit": "KiB"},
                )
    if value.get("pinning") is not None:
        drop(root, "cputune/vcpupin")
        if value["pinning"]:
            tune = child(root, "cputune")
            for pin in value["pinning"]:
                ET.SubElement(tune, "vcpupin", {"vcpu": str(pin["vcpu"]), "cpuset": pin["cpuset"]})
        tune = root.find("cputune")
        if tune is not None and len(tune) == 0:
            root.remove(tune)


# ---------------------------------------------------------------------------------------------- simple devices


def read_devices(root: ET.Element) -> dict[str, Any]:
    devs = root.find("devices")
    if devs is None:
        devs = ET.Element("devices")
    serial = devs.find("serial")
    console: Optional[dict[str, Any]] = None
    if serial is not None:
        log = serial.find("log")
        if serial.get("type") == "file":
            source = serial.find("source")
            console = {"type": "file", "log": source.get("path") if source is not None else None}
        else:
            console = {"type": serial.get("type", "pty"), "log": log.get("file") if log is not None else None}
    graphics_el = devs.find("graphics")
    graphics: dict[str, Any] = {"type": "none", "listen": None, "port": None, "password": None}
    if graphics_el is not None:
        graphics = {
            "type": graphics_el.get("type"),
            "listen": graphics_el.get("listen")
            or (graphics_el.find("listen").get("address") if graphics_el.find("listen") is not None else None),
            "port": -1 if graphics_el.get("autoport") == "yes" else int(graphics_el.get("port", "-1")),
            "password": graphics_el.get("passwd"),
        }
    video = devs.find("video/model")
    watchdog_el = devs.find("watchdog")
    return {
        "console": console,
        "graphics": graphics,
        "video": video.get("type") if video is not None else "none",
        "rng": devs.find("rng") is not None,
        "guest_agent": any(ch.find(f"target[@name='{AGENT_CHANNEL}']") is not None for ch in devs.findall("channel")),
        "tpm": devs.find("tpm") is not None,
        "hostdevs": sorted(_hostdev_address(h) for h in devs.findall("hostdev") if h.get("type") == "pci"),
        "watchdog": {"model": watchdog_el.get("model"), "action": watchdog_el.get("action", "reset")}
        if watchdog_el is not None
        else None,
    }


def _hostdev_address(hostdev: ET.Element) -> str:
    address = hostdev.find("source/address")
    if address is None:
        return ""
    parts = [int(address.get(key, "0"), 0) for key in ("domain", "bus", "slot", "function")]
    return f"{parts[0]:04x}:{parts[1]:02x}:{parts[2]:02x}.{parts[3]:x}"


def write_console(root: ET.Element, value: dict[str, Any]) -> None:
    devs = devices(root)
    drop(devs, "serial")
    drop(devs, "console")
    if value["type"] == "file":
        serial = ET.SubElement(devs, "serial", {"type": "file"})
        ET.SubElement(
            serial, "source", {"path": value["log"] or f"/var/log/libvirt/qemu/{root.findtext('name')}-serial.log"}
        )
    else:
        serial = ET.SubElement(devs, "serial", {"type": "pty"})
        if value.get("log"):
            ET.SubElement(serial, "log", {"file": value["log"], "append": "off"})
    ET.SubElement(serial, "target", {"port": "0"})
    console = ET.SubElement(devs, "console", {"type": serial.get("type", "pty")})
    if value["type"] == "file":
        ET.SubElement(console, "source", {"path": serial.find("source").get("path", "")})  # type: ignore[union-attr]
    ET.SubElement(console, "target", {"type": "serial", "port": "0"})


def write_graphics(root: ET.Element, value: dict[str, Any]) -> None:
    devs = devices(root)
    drop(devs, "graphics")
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


def write_video(root: ET.Element, value: str) -> None:
    devs = devices(root)
    drop(devs, "video")
    video = ET.SubElement(devs, "video")
    ET.SubElement(video, "model", {"type": value})


def write_rng(root: ET.Element, value: bool) -> None:
    devs = devices(root)
    drop(devs, "rng")
    if value:
        rng = ET.SubElement(devs, "rng", {"model": "virtio"})
        ET.SubElement(rng, "backend", {"model": "random"}).text = "/dev/urandom"


def write_guest_agent(root: ET.Element, value: bool) -> None:
    devs = devices(root)
    for channel in devs.findall("channel"):
        if channel.find(f"target[@name='{AGENT_CHANNEL}']") is not None:
            devs.remove(channel)
    if value:
        channel = ET.SubElement(devs, "channel", {"type": "unix"})
        ET.SubElement(channel, "target", {"type": "virtio", "name": AGENT_CHANNEL})


def write_tpm(root: ET.Element, value: bool) -> None:
    devs = devices(root)
    drop(devs, "tpm")
    if value:
        tpm = ET.SubElement(devs, "tpm", {"model": "tpm-crb"})
        ET.SubElement(tpm, "backend", {"type": "emulator", "version": "2.0"})


def write_hostdevs(root: ET.Element, value: list[str]) -> None:
    devs = devices(root)
    for hostdev in devs.findall("hostdev"):
        if hostdev.get("type") == "pci":
            devs.remove(hostdev)
    for address in value:
        domain, bus, rest = address.split(":")
        slot, function = rest.split(".")
        hostdev = ET.SubElement(devs, "hostdev", {"mode": "subsystem", "type": "pci", "managed": "yes"})
        source = ET.SubElement(hostdev, "source")
        ET.SubElement(
            source,
            "address",
            {"domain": f"0x{domain}", "bus": f"0x{bus}", "slot": f"0x{slot}", "function": f"0x{function}"},
        )


def write_watchdog(root: ET.Element, value: dict[str, Any]) -> None:
    devs = devices(root)
    drop(devs, "watchdog")
    ET.SubElement(devs, "watchdog", {"model": value["model"], "action": value["action"]})


# ---------------------------------------------------------------------------------------------- disks and NICs


def read_disk(disk: ET.Element) -> dict[str, Any]:
    source = disk.find("source")
    target = disk.find("target")
    driver = disk.find("driver")
    boot = disk.find("boot")
    kind = disk.get("type", "file")
    return {
        "device": "cdrom" if disk.get("device") == "cdrom" else "disk",
        "bus": target.get("bus") if target is not None else None,
        "target": target.get("dev") if target is not None else None,
        "pool": source.get("pool") if source is not None and kind == "volume" else None,
        "volume": source.get("volume") if source is not None and kind == "volume" else None,
        "path": (source.get("file") or source.get("dev")) if source is not None and kind in ("file", "block") else None,
        "format": (driver.get("type") if driver is not None else None) or "raw",  # QEMU does not probe: no type is raw
        "cache": driver.get("cache") if driver is not None else None,
        "io": driver.get("io") if driver is not None else None,
        "discard": driver.get("discard") if driver is not None else None,
        "readonly": disk.find("readonly") is not None,
        "boot_order": int(boot.get("order", "0")) if boot is not None else None,
        "size": None,  # from the volume, when the planner needs it
        "backing_image": None,
    }


def read_disks(root: ET.Element) -> list[dict[str, Any]]:
    return [read_disk(disk) for disk in root.findall("devices/disk") if disk.get("device") in ("disk", "cdrom", None)]


def disk_element(disk: dict[str, Any]) -> ET.Element:
    """A <disk> for ``disk`` (its pool/volume or path already resolved)."""
    if disk.get("volume"):
        kind = "volume"
    elif disk.get("path") and disk["path"].startswith("/dev/"):
        kind = "block"
    else:
        kind = "file"
    element = ET.Element("disk", {"type": kind, "device": disk["device"]})
    driver = {"name": "qemu", "type": disk.get("format") or "raw"}
    for key in ("cache", "io", "discard"):
        if disk.get(key):
            driver[key] = disk[key]
    ET.SubElement(element, "driver", driver)
    if kind == "volume":
        ET.SubElement(element, "source", {"pool": disk.get("pool") or "default", "volume": disk["volume"]})
    elif disk.get("path"):
        ET.SubElement(element, "source", {"dev" if kind == "block" else "file": disk["path"]})
    ET.SubElement(element, "target", {"dev": disk["target"], "bus": disk["bus"]})
    if disk.get("readonly") or disk["device"] == "cdrom":
        ET.SubElement(element, "readonly")
    _boot_order(element, disk.get("boot_order"))
    return element


def _find_device(root: ET.Element, tag: str, child_tag: str, attribute: str, value: str) -> Optional[ET.Element]:
    for device in root.findall(f"devices/{tag}"):
        found = device.find(child_tag)
        if found is not None and found.get(attribute, "").lower() == value:
            return device
    return None


def find_disk(root: ET.Element, target: str) -> Optional[ET.Element]:
    return _find_device(root, "disk", "target", "dev", target)


def _replace_device(element: ET.Element, fresh: ET.Element, keep: tuple[str, ...]) -> None:
    """Make ``element`` ``fresh`` in place, keeping the children libvirt filled in (``keep`` tags)."""
    kept = [sub for sub in element if sub.tag in keep]
    element.attrib.clear()
    element.attrib.update(fresh.attrib)
    for sub in list(element):
        element.remove(sub)
    for sub in [*fresh, *kept]:
        element.append(sub)


def _boot_order(element: ET.Element, order: Optional[int]) -> None:
    if order:
        ET.SubElement(element, "boot", {"order": str(order)})


def patch_disk(element: ET.Element, disk: dict[str, Any]) -> None:
    """Set the user-set attributes of ``disk`` on an existing <disk>, keeping its <address>."""
    _replace_device(element, disk_element(disk), ("address", "alias"))


def read_interface(nic: ET.Element) -> dict[str, Any]:
    kind = nic.get("type", "network")
    source = nic.find("source")
    model = nic.find("model")
    mac = nic.find("mac")
    vlan = nic.find("vlan/tag")
    link = nic.find("link")
    boot = nic.find("boot")
    source_value = None
    if source is not None:
        source_value = source.get({"network": "network", "bridge": "bridge", "direct": "dev"}.get(kind, "network"))
    return {
        "type": kind,
        "source": source_value,
        "model": model.get("type") if model is not None else None,
        "mac": mac.get("address", "").lower() if mac is not None else None,
        "vlan": int(vlan.get("id", "0")) if vlan is not None else None,
        "link_state": link.get("state", "up") if link is not None else "up",
        "mode": source.get("mode") if source is not None and kind == "direct" else None,
        "boot_order": int(boot.get("order", "0")) if boot is not None else None,
    }


def read_interfaces(root: ET.Element) -> list[dict[str, Any]]:
    return [read_interface(nic) for nic in root.findall("devices/interface")]


def interface_element(nic: dict[str, Any]) -> ET.Element:
    element = ET.Element("interface", {"type": nic["type"]})
    if nic.get("mac"):
        ET.SubElement(element, "mac", {"address": nic["mac"]})
    source = {"network": {"network": nic["source"]}, "bridge": {"bridge": nic["source"]}}.get(
        nic["type"], {"dev": nic["source"], "mode": nic.get("mode") or "bridge"}
    )
    ET.SubElement(element, "source", source)
    if nic.get("vlan"):
        ET.SubElement(ET.SubElement(element, "vlan"), "tag", {"id": str(nic["vlan"])})
    ET.SubElement(element, "model", {"type": nic.get("model") or "virtio"})
    if nic.get("link_state"):
        ET.SubElement(element, "link", {"state": nic["link_state"]})
    _boot_order(element, nic.get("boot_order"))
    return element


def find_interface(root: ET.Element, mac: str) -> Optional[ET.Element]:
    return _find_device(root, "interface", "mac", "address", mac)


def patch_interface(element: ET.Element, nic: dict[str, Any]) -> None:
    _replace_device(element, interface_element(nic), ("address", "alias", "target", "rom", "driver"))


# ---------------------------------------------------------------------------------------------- whole domain

WRITERS: dict[str, Callable[[ET.Element, Any], None]] = {
    "name": write_name,
    "uuid": write_uuid,
    "title": write_title,
    "description": write_description,
    "tags": write_tags,
    "virt_type": write_virt_type,
    "arch": write_arch,
    "machine": write_machine,
    "emulator": write_emulator,
    "firmware": write_firmware,
    "secure_boot": write_secure_boot,
    "kernel": write_kernel,
    "initrd": write_initrd,
    "cmdline": write_cmdline,
    "boot": write_boot,
    "max_vcpus": write_max_vcpus,
    "vcpus": write_vcpus,
    "cpu": write_cpu,
    "max_memory": write_max_memory,
    "memory": write_memory,
    "hugepages": write_hugepages,
    "balloon": write_balloon,
    "tb_cache": write_tb_cache,
    "console": write_console,
    "graphics": write_graphics,
    "video": write_video,
    "rng": write_rng,
    "guest_agent": write_guest_agent,
    "tpm": write_tpm,
    "hostdevs": write_hostdevs,
    "watchdog": write_watchdog,
    "on_poweroff": _event_writer("on_poweroff"),
    "on_reboot": _event_writer("on_reboot"),
    "on_crash": _event_writer("on_crash"),
}


def skeleton(name: str) -> ET.Element:
    """The smallest domain the writers complete: ACPI/APIC on, as every x86 guest wants."""
    root = ET.Element("domain", {"type": "qemu"})
    ET.SubElement(root, "name").text = name
    os_el = ET.SubElement(root, "os")
    ET.SubElement(os_el, "type").text = "hvm"
    features = ET.SubElement(root, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    ET.SubElement(root, "devices")
    return root


def read_domain(xml: str) -> dict[str, Any]:
    """A domain's XML in the option table's shape."""
    root = ET.fromstring(xml)
    state = read_scalars(root)
    state["cpu"] = read_cpu(root)
    state.update(read_devices(root))
    state["disks"] = read_disks(root)
    state["interfaces"] = read_interfaces(root)
    state["cloud_init_hash"] = read_meta(root, "cloud-init")
    target = read_meta(root, "memory")
    state["memory_target"] = int(target) if target else None
    return state


def to_string(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")
