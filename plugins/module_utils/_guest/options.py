# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest's option table: every user-facing option of a guest, its type, normaliser, comparison
and how a change reaches the guest (live, next boot, impossible in place).

Definition options have no Ansible default: an unset option is not managed, so an existing guest is
compared only on what the user set. ``create_default`` values apply only when a guest is created.
"""

from __future__ import annotations

import json
import re
import uuid as uuidlib
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._address import SOURCES as ADDRESS_SOURCES
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    IMPOSSIBLE,
    LIVE,
    UNORDERED,
    Option,
    OptionError,
    OptionTable,
    Problem,
    absolute_path,
    duplicates,
    join_path,
    labels,
    mac_address,
    volume_name,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import connection_options
from ansible_collections.kvmfleet.kvm.plugins.module_utils._units import format_size

MiB = 1024 * 1024

# ---------------------------------------------------------------------------------------------- normalisers

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$")
_PCI = re.compile(r"^(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$")
_CPUSET = re.compile(r"^\^?\d+(-\d+)?(,\^?\d+(-\d+)?)*$")
_TARGET = re.compile(r"^(vd|sd|hd)[a-z]{1,2}$")


def whole_mib(value: int) -> int:
    if value % MiB:
        raise OptionError("must be a whole number of MiB")
    return value


def guest_name(value: str) -> str:
    if not _NAME.match(value):
        raise OptionError(
            f"{value!r} is not a usable guest name: 1 to 63 letters, digits, '.', '_', '+' or '-', "
            "starting with a letter or digit"
        )
    return value


def guest_uuid(value: str) -> str:
    try:
        return str(uuidlib.UUID(value))
    except ValueError:
        raise OptionError(f"{value!r} is not a UUID") from None


def pci_address(value: str) -> str:
    match = _PCI.match(value.strip().lower())
    if not match:
        raise OptionError(f"{value!r} is not a PCI address such as 0000:03:00.0")
    domain, bus, slot, function = match.groups()
    return f"{domain or '0000'}:{bus}:{slot}.{function}"


def cpu_ids(text: str) -> list[int]:
    """The CPU numbers of a CPU set (``0-3,^2,6``), sorted."""
    chosen: set[int] = set()
    excluded: set[int] = set()
    for part in text.split(","):
        first, _dash, last = part.lstrip("^").partition("-")
        low, high = int(first), int(last or first)
        if low > high:
            raise OptionError(f"{part!r} is a range that ends before it starts")
        (excluded if part.startswith("^") else chosen).update(range(low, high + 1))
    return sorted(chosen - excluded)


def cpuset(value: str) -> str:
    """A CPU set in libvirt's own form (sorted runs: ``0,1,3`` is ``0-1,3``), so what is read back matches."""
    text = value.replace(" ", "")
    if not _CPUSET.match(text):
        raise OptionError(f"{value!r} is not a CPU set such as 0-3,6 or 2")
    ids = cpu_ids(text)
    if not ids:
        raise OptionError(f"{value!r} leaves no CPU")
    runs: list[list[int]] = []
    for cpu in ids:
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(f"{low}-{high}" if high > low else str(low) for low, high in runs)


def disk_target(value: str) -> str:
    if not _TARGET.match(value):
        raise OptionError(f"{value!r} is not a disk target such as vda, vdb or sda")
    return value


def user_data(value: Any) -> str:
    """cloud-init user data: a string as given, or a dict written as #cloud-config (JSON is YAML)."""
    if isinstance(value, dict):
        return "#cloud-config\n" + json.dumps(value, indent=2, sort_keys=True) + "\n"
    if isinstance(value, str):
        return value
    raise OptionError(f"expected a string or a dictionary, got {type(value).__name__}")


def yaml_or_dict(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value, indent=2, sort_keys=True) + "\n"
    if isinstance(value, str):
        return value
    raise OptionError(f"expected a string or a dictionary, got {type(value).__name__}")


# ---------------------------------------------------------------------------------------------- sub-tables


def _disk_checks(disk: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []
    has_path = disk["path"] is not None
    managed = [key for key in ("volume", "size", "backing_image") if disk[key] is not None]
    if disk["device"] == "cdrom":
        for key in ("size", "backing_image"):
            if disk[key] is not None:
                problems.append((join_path(path, key), "a cdrom has no size or backing image; give path or volume"))
    elif not has_path and not managed:
        problems.append((path, "give one of path (an existing file or device), volume, size or backing_image"))
    if has_path and managed:
        problems.append(
            (join_path(path, "path"), f"path excludes {', '.join(managed)}: the disk is either a path or a volume")
        )
    if disk["backing_image"] is not None and disk["format"] == "raw":
        problems.append((join_path(path, "format"), "an overlay on a backing image must be qcow2"))
    if disk["bus"] == "virtio" and disk["device"] == "cdrom":
        problems.append((join_path(path, "bus"), "a cdrom needs bus sata or scsi"))
    if disk["target"] is not None and disk["bus"] is not None:
        expected = "vd" if disk["bus"] == "virtio" else "sd"
        if not disk["target"].startswith(expected):
            problems.append(
                (
                    join_path(path, "target"),
                    f"bus {disk['bus']} takes targets named {expected}*, got {disk['target']!r}",
                )
            )
    return problems


DISK = OptionTable(
    [
        Option("device", choices=("disk", "cdrom"), default="disk", description="disk or cdrom"),
        Option(
            "bus",
            choices=("virtio", "scsi", "sata"),
            description="virtio (default for disks), scsi or sata (default for cdroms)",
        ),
        Option(
            "target",
            normalize=disk_target,
            description="device name in the guest: vda, sdb (default: next free on the bus)",
        ),
        Option("pool", description="storage pool of the volume (default: default)"),
        Option("volume", normalize=volume_name, description="volume name in the pool"),
        Option(
            "size",
            type="size",
            minimum=MiB,
            size_unit="GiB",
            update=LIVE,
            description="capacity; grown live, never shrunk",
        ),
        Option("format", choices=("qcow2", "raw"), description="image format (default qcow2 for new volumes)"),
        Option(
            "backing_image", description="base image (volume name in the pool, or absolute path) of a qcow2 overlay"
        ),
        Option("path", normalize=absolute_path, description="an existing file or block device"),
        Option("cache", choices=("default", "none", "writeback", "writethrough", "directsync", "unsafe")),
        Option("io", choices=("native", "threads", "io_uring")),
        Option("discard", choices=("unmap", "ignore")),
        Option("readonly", type="bool"),
        Option("boot_order", type="int", minimum=1),
    ],
    checks=[_disk_checks],
)


def _interface_checks(nic: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []
    if nic["mode"] is not None and nic["type"] != "direct":
        problems.append((join_path(path, "mode"), "mode applies to type direct (macvtap) only"))
    return problems


INTERFACE = OptionTable(
    [
        Option("type", choices=("network", "bridge", "direct"), default="network"),
        Option("source", required=True, description="network name, host bridge, or host interface (direct)"),
        Option("model", choices=("virtio", "e1000", "e1000e", "rtl8139", "vmxnet3")),
        Option("mac", normalize=mac_address, description="default: derived from the guest name and position"),
        Option("vlan", type="int", minimum=1, maximum=4094),
        Option("link_state", choices=("up", "down"), update=LIVE),
        Option("mode", choices=("bridge", "vepa", "private", "passthrough")),
        Option("boot_order", type="int", minimum=1),
    ],
    checks=[_interface_checks],
)

CLOUD_INIT = OptionTable(
    [
        Option("user_data", type="raw", no_log=True, normalize=user_data),
        Option("meta_data", type="raw", normalize=yaml_or_dict),
        Option("network_config", type="raw", normalize=yaml_or_dict),
        Option("pool", description="pool that holds the seed ISO volume (default: the first disk's pool)"),
    ]
)

CONSOLE = OptionTable(
    [
        Option("type", choices=("pty", "file"), default="pty"),
        Option("log", normalize=absolute_path, description="file that receives the serial output"),
    ]
)


def _graphics_checks(graphics: dict[str, Any], path: str) -> list[Problem]:
    if graphics["type"] == "none" and any(graphics[key] is not None for key in ("listen", "port", "password")):
        return [(path, "graphics type none takes no listen, port or password")]
    if graphics["type"] == "vnc" and graphics["password"] is not None and len(graphics["password"]) > 8:
        return [(join_path(path, "password"), "a VNC password has at most 8 characters (spice allows longer ones)")]
    return []


GRAPHICS = OptionTable(
    [
        Option("type", choices=("none", "vnc", "spice"), required=True),
        Option("listen", description="address to listen on (default 127.0.0.1)"),
        Option("port", type="int", minimum=-1, maximum=65535, description="-1 (default): chosen when the guest starts"),
        Option("password", no_log=True, description="persisted; the running guest gets it at its next boot"),
    ],
    checks=[_graphics_checks],
)

CPU_PIN = OptionTable(
    [Option("vcpu", type="int", required=True, minimum=0), Option("cpuset", required=True, normalize=cpuset)]
)
NUMA_CELL = OptionTable(
    [Option("cpus", required=True, normalize=cpuset), Option("memory", type="size", required=True, minimum=MiB)]
)


def _cpu_checks(cpu: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []
    if cpu["model"] is not None and cpu["mode"] not in ("custom", None):
        problems.append((join_path(path, "model"), f"a model applies to mode custom, not {cpu['mode']}"))
    if cpu["mode"] == "custom" and cpu["model"] is None:
        problems.append((join_path(path, "model"), "mode custom needs a model"))
    topology = [cpu[key] for key in ("sockets", "cores", "threads")]
    if any(value is not None for value in topology) and not all(value is not None for value in topology):
        problems.append((path, "a topology needs sockets, cores and threads together"))
    pins = cpu["pinning"] or []
    problems.extend(
        duplicates(pins, lambda pin: pin["vcpu"], join_path(path, "pinning"), "vcpu", "is also pinned by pinning")
    )
    return problems


CPU = OptionTable(
    [
        Option("mode", choices=("host-passthrough", "host-model", "custom", "maximum")),
        Option("model"),
        Option("sockets", type="int", minimum=1),
        Option("cores", type="int", minimum=1),
        Option("threads", type="int", minimum=1),
        Option(
            "pinning",
            type="list",
            elements="dict",
            options=CPU_PIN,
            normalize=lambda pins: sorted(pins, key=lambda pin: pin["vcpu"]),  # libvirt keeps them in vCPU order
        ),
        Option("numa", type="list", elements="dict", options=NUMA_CELL),
    ],
    checks=[_cpu_checks],
)

WATCHDOG = OptionTable(
    [
        Option("model", choices=("i6300esb", "itco", "ib700"), default="i6300esb"),
        Option(
            "action", choices=("reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi"), default="reset"
        ),
    ]
)

WAIT = OptionTable(
    [
        Option("sources", type="list", elements="str", choices=ADDRESS_SOURCES, default=list(ADDRESS_SOURCES)),
        Option("ssh", type="bool", default=False),
        Option("port", type="int", default=22, minimum=1, maximum=65535),
        Option("timeout", type="int", default=300, minimum=1),
    ]
)

PLACEMENT = OptionTable(
    [
        Option("hypervisor", description="the hypervisor (inventory name) the guest must run on"),
        Option(
            "requires", type="list", elements="str", normalize=labels, description="labels its hypervisor must have"
        ),
    ]
)

EVENT_ACTIONS = ("destroy", "restart", "preserve", "rename-restart")
CRASH_ACTIONS = (*EVENT_ACTIONS, "coredump-destroy", "coredump-restart")

# ---------------------------------------------------------------------------------------------- the guest


def _next_target(prefix: str, used: set[str]) -> str:
    for index in range(26 * 27):
        name = prefix + (chr(97 + index) if index < 26 else chr(96 + index // 26) + chr(97 + index % 26))
        if name not in used:
            return name
    raise OptionError("no free disk target")  # pragma: no cover - 700 disks


def assign_targets(disks: list[dict[str, Any]]) -> None:
    """Fill in each disk's bus and target (in place): vda, vdb... for virtio; sda, sdb... for sata/scsi."""
    used = {disk["target"] for disk in disks if disk["target"]}
    for disk in disks:
        if disk["bus"] is None:
            disk["bus"] = (
                "sata"
                if disk["device"] == "cdrom"
                else ("virtio" if not disk["target"] or disk["target"].startswith("vd") else "sata")
            )
        if disk["target"] is None:
            disk["target"] = _next_target("vd" if disk["bus"] == "virtio" else "sd", used)
            used.add(disk["target"])


def _no_such_vcpu(vcpu: int, maximum: int) -> str:
    return f"vCPU {vcpu} does not exist (the guest has {maximum})"


def _numa_checks(guest: dict[str, Any], path: str, maximum: Optional[int]) -> list[Problem]:
    """What libvirt requires of NUMA cells: the guest's memory is their sum, their vCPUs exist and are disjoint."""
    cells = (guest["cpu"] or {}).get("numa") or []
    if not cells:
        return []
    problems: list[Problem] = []
    where = join_path(path, "cpu.numa")
    total = sum(cell["memory"] for cell in cells)
    if guest["max_memory"] is not None and guest["max_memory"] != total:
        problems.append(
            (
                where,
                f"the cells' memory adds up to {format_size(total)}, but max_memory is "
                f"{format_size(guest['max_memory'])}: libvirt makes the cells' sum the guest's maximum memory",
            )
        )
    elif guest["max_memory"] is None and guest["memory"] is not None and guest["memory"] > total:
        problems.append(
            (
                join_path(path, "memory"),
                f"{format_size(guest['memory'])} is more than the NUMA cells' memory ({format_size(total)}), "
                "which libvirt makes the guest's maximum",
            )
        )
    owner: dict[int, int] = {}
    for index, cell in enumerate(cells):
        ids = cpu_ids(cell["cpus"])
        if maximum is not None and ids[-1] >= maximum:
            problems.append((f"{where}[{index}].cpus", _no_such_vcpu(ids[-1], maximum)))
        shared = sorted({owner[cpu] for cpu in ids if cpu in owner})
        if shared:
            problems.append((f"{where}[{index}].cpus", f"shares vCPUs with numa[{shared[0]}]"))
        owner.update((cpu, index) for cpu in ids if cpu not in owner)
    return problems


def _guest_checks(guest: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []

    def at(name: str) -> str:
        return join_path(path, name)

    if guest["max_vcpus"] is not None and guest["vcpus"] is not None and guest["vcpus"] > guest["max_vcpus"]:
        problems.append((at("vcpus"), f"{guest['vcpus']} is more than max_vcpus {guest['max_vcpus']}"))
    if guest["max_memory"] is not None and guest["memory"] is not None and guest["memory"] > guest["max_memory"]:
        problems.append((at("memory"), "is more than max_memory"))
    if guest["secure_boot"] and guest["firmware"] != "uefi":
        problems.append((at("secure_boot"), "needs firmware: uefi"))
    if guest["kernel"] is None and (guest["initrd"] is not None or guest["cmdline"] is not None):
        problems.append((at("kernel"), "initrd and cmdline need a kernel (direct kernel boot)"))
    cpu = guest["cpu"] or {}
    maximum = guest["max_vcpus"] or guest["vcpus"]  # the vCPUs the guest can ever have
    if cpu.get("sockets") and maximum:
        total = cpu["sockets"] * cpu["cores"] * cpu["threads"]
        if total != maximum:
            problems.append(
                (at("cpu"), f"sockets x cores x threads = {total}, but the guest has {maximum} vCPUs at most")
            )
    for index, pin in enumerate(cpu.get("pinning") or []):
        if maximum is not None and pin["vcpu"] >= maximum:
            problems.append((f"{at('cpu')}.pinning[{index}].vcpu", _no_such_vcpu(pin["vcpu"], maximum)))
    problems.extend(_numa_checks(guest, path, maximum))

    disks = guest["disks"] or []
    problems.extend(duplicates(disks, lambda d: d["target"], at("disks"), "target", "is also the target of disks"))
    if not problems:
        assign_targets(disks)
    problems.extend(
        duplicates(
            disks,
            lambda d: (d["pool"] or "default", d["volume"]) if d["volume"] else None,
            at("disks"),
            "volume",
            "is also disks",
        )
    )
    problems.extend(
        duplicates(
            guest["interfaces"] or [], lambda n: n["mac"], at("interfaces"), "mac", "is also the MAC of interfaces"
        )
    )

    boot_orders: dict[int, str] = {}
    for kind in ("disks", "interfaces"):
        for index, item in enumerate(guest[kind] or []):
            order = item["boot_order"]
            if order is None:
                continue
            where = f"{at(kind)}[{index}].boot_order"
            if guest["boot"]:
                problems.append((where, "per-device boot_order and the guest's boot list exclude each other"))
            elif order in boot_orders:
                problems.append((where, f"{order} is also the boot order of {boot_orders[order]}"))
            boot_orders.setdefault(order, f"{kind}[{index}]")
    return problems


def guest_options() -> list[Option]:
    """Every option of one guest (the guest module's options; each item of the guests module)."""
    return [
        Option("name", required=True, normalize=guest_name, update=IMPOSSIBLE),
        Option("uuid", normalize=guest_uuid, update=IMPOSSIBLE),
        Option("title", update=LIVE),
        Option("description", update=LIVE),
        Option("tags", type="list", elements="str", compare=UNORDERED, update=LIVE),
        Option("virt_type", choices=("auto", "kvm", "qemu"), create_default="auto"),
        Option("arch", update=IMPOSSIBLE, create_default="x86_64"),
        Option("machine", create_default="q35"),
        Option("emulator", normalize=absolute_path),
        Option("firmware", choices=("bios", "uefi")),
        Option("secure_boot", type="bool"),
        Option("kernel", normalize=absolute_path),
        Option("initrd", normalize=absolute_path),
        Option("cmdline"),
        Option("boot", type="list", elements="str", choices=("hd", "cdrom", "network")),
        Option("vcpus", type="int", minimum=1, update=LIVE, create_default=1),
        Option("max_vcpus", type="int", minimum=1),
        Option("cpu", type="dict", options=CPU),
        Option("memory", type="size", minimum=16 * MiB, update=LIVE, create_default=512 * MiB),
        Option("max_memory", type="size", minimum=16 * MiB),
        Option("hugepages", type="bool"),
        Option("balloon", type="bool"),
        Option("tb_cache", type="size", minimum=MiB, normalize=whole_mib, create_default=32 * MiB),
        Option("disks", type="list", elements="dict", options=DISK),
        Option("interfaces", type="list", elements="dict", options=INTERFACE),
        Option("cloud_init", type="dict", options=CLOUD_INIT),
        Option("console", type="dict", options=CONSOLE),
        Option("graphics", type="dict", options=GRAPHICS),
        Option("video", choices=("none", "virtio", "vga", "qxl", "bochs", "cirrus", "ramfb")),
        Option("rng", type="bool"),
        Option("guest_agent", type="bool", create_default=True),
        Option("tpm", type="bool"),
        Option("hostdevs", type="list", elements="str", normalize=lambda items: [pci_address(item) for item in items]),
        Option("watchdog", type="dict", options=WATCHDOG),
        Option("on_poweroff", choices=EVENT_ACTIONS),
        Option("on_reboot", choices=EVENT_ACTIONS),
        Option("on_crash", choices=CRASH_ACTIONS),
        Option("autostart", type="bool", update=LIVE),
        Option(
            "state", choices=("present", "running", "stopped", "paused", "absent"), default="present", update=CONTROL
        ),
        Option("restart", choices=("never", "if_needed"), default="never", update=CONTROL),
        Option("force", type="bool", default=False, update=CONTROL),
        Option("recreate", type="bool", default=False, update=CONTROL),
        Option("remove_volumes", type="bool", default=False, update=CONTROL),
        Option("shutdown_timeout", type="int", default=120, minimum=0, update=CONTROL),
        Option("return_xml", type="bool", default=False, update=CONTROL),
        Option("wait", type="dict", options=WAIT, update=CONTROL),
        # where the fleet places the guest: the guests role's placement and the drain read it (not the definition)
        Option("placement", type="dict", options=PLACEMENT, update=CONTROL),
    ]


GUEST = OptionTable(guest_options(), checks=[_guest_checks])

# The guest module: one guest, plus the connection.
GUEST_MODULE = OptionTable([*connection_options(), *guest_options()], checks=[_guest_checks])


def merge_defaults(params: dict[str, Any]) -> dict[str, Any]:
    """The guests module: each item of ``guests`` on top of ``defaults`` (item keys win; dicts are not merged)."""
    defaults = params.get("defaults") or {}
    guests = params.get("guests")
    if isinstance(defaults, dict) and isinstance(guests, list):
        params = dict(params)
        params["guests"] = [{**defaults, **item} if isinstance(item, dict) else item for item in guests]
    return params


def default_secrets(params: dict[str, Any]) -> set[str]:
    """The guests module: secrets in ``defaults`` (a plain dictionary to Ansible), also those no item uses."""
    defaults = params.get("defaults")
    return GUEST.secrets(defaults) if isinstance(defaults, dict) else set()


# The guests module: many guests in one call.
GUESTS_MODULE = OptionTable(
    [
        *connection_options(),
        Option("guests", type="list", elements="dict", required=True, options=GUEST, in_spec=False, update=CONTROL),
        Option("defaults", type="dict", default={}, update=CONTROL),
    ]
)
