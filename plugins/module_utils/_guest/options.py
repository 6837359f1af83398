# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guest's option table: every user-facing option of a guest, its type, normaliser, comparison
and how a change reaches the guest (live, next boot, impossible in place).

Definition options have no Ansible default: an unset option is not managed, so an existing guest is
compared only on what the user set. ``create_default`` values apply only when a guest is created.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._address import SOURCES as ADDRESS_SOURCES
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import patches
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.rules import (
    MiB,
    cpu_checks,
    cpuset,
    disk_checks,
    disk_target,
    graphics_checks,
    guest_checks,
    guest_name,
    guest_uuid,
    interface_checks,
    pci_address,
    user_data,
    whole_mib,
    yaml_or_dict,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    IMPOSSIBLE,
    LIVE,
    UNORDERED,
    Option,
    OptionTable,
    absolute_path,
    connection_options,
    labels,
    mac_address,
    volume_name,
)

# ---------------------------------------------------------------------------------------------- sub-tables


DISK = OptionTable(
    [
        Option("device", choices=("disk", "cdrom"), default="disk"),
        Option(
            "bus",
            choices=("virtio", "scsi", "sata"),
        ),
        Option(
            "target",
            normalize=disk_target,
        ),
        Option("pool"),
        Option("volume", normalize=volume_name),
        Option(
            "size",
            type="size",
            minimum=MiB,
            size_unit="GiB",
            update=LIVE,
        ),
        Option("format", choices=("qcow2", "raw")),
        Option("backing_image"),
        Option("path", normalize=absolute_path),
        Option("cache", choices=("default", "none", "writeback", "writethrough", "directsync", "unsafe")),
        Option("io", choices=("native", "threads", "io_uring")),
        Option("discard", choices=("unmap", "ignore")),
        Option("readonly", type="bool"),
        Option("boot_order", type="int", minimum=1),
    ],
    checks=[disk_checks],
)


INTERFACE = OptionTable(
    [
        Option("type", choices=("network", "bridge", "direct"), default="network"),
        Option("source", required=True),
        Option("model", choices=("virtio", "e1000", "e1000e", "rtl8139", "vmxnet3")),
        Option("mac", normalize=mac_address),
        Option("vlan", type="int", minimum=1, maximum=4094),
        Option("link_state", choices=("up", "down"), update=LIVE),
        Option("mode", choices=("bridge", "vepa", "private", "passthrough")),
        Option("boot_order", type="int", minimum=1),
    ],
    checks=[interface_checks],
)

CLOUD_INIT = OptionTable(
    [
        Option("user_data", type="raw", no_log=True, normalize=user_data),
        Option("meta_data", type="raw", normalize=yaml_or_dict),
        Option("network_config", type="raw", normalize=yaml_or_dict),
        Option("pool"),
    ]
)

CONSOLE = OptionTable(
    [
        Option("type", choices=("pty", "file"), default="pty"),
        Option("log", normalize=absolute_path),
    ]
)


GRAPHICS = OptionTable(
    [
        Option("type", choices=("none", "vnc", "spice"), required=True),
        Option("listen"),
        Option("port", type="int", minimum=-1, maximum=65535),
        Option("password", no_log=True),
    ],
    checks=[graphics_checks],
)

CPU_PIN = OptionTable(
    [Option("vcpu", type="int", required=True, minimum=0), Option("cpuset", required=True, normalize=cpuset)]
)
NUMA_CELL = OptionTable(
    [Option("cpus", required=True, normalize=cpuset), Option("memory", type="size", required=True, minimum=MiB)]
)


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
    checks=[cpu_checks],
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
        Option("hypervisor"),
        Option("requires", type="list", elements="str", normalize=labels),
    ]
)

XML_PATCH = OptionTable(
    [
        Option("xpath", required=True, normalize=patches.normalize_xpath),
        Option("state", choices=("present", "absent"), default="present"),
        Option("element", normalize=patches.fragment),
        Option("attribute"),
        Option("value"),
    ],
    checks=[patches.patch_checks],
)
EVENT_ACTIONS = ("destroy", "restart", "preserve", "rename-restart")
CRASH_ACTIONS = (*EVENT_ACTIONS, "coredump-destroy", "coredump-restart")

# ---------------------------------------------------------------------------------------------- the guest


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
        Option("console", type="dict", options=CONSOLE, create_default={"type": "pty", "log": None}),
        Option("graphics", type="dict", options=GRAPHICS),
        Option("video", choices=("none", "virtio", "vga", "qxl", "bochs", "cirrus", "ramfb")),
        Option("rng", type="bool"),
        Option("guest_agent", type="bool", create_default=True),
        Option("tpm", type="bool"),
        Option("hostdevs", type="list", elements="str", normalize=lambda items: [pci_address(item) for item in items]),
        Option("watchdog", type="dict", options=WATCHDOG),
        # applied after every typed option, persistent only (_guest/patches.py)
        Option("xml_patches", type="list", elements="dict", options=XML_PATCH),
        Option("on_poweroff", choices=EVENT_ACTIONS),
        Option("on_reboot", choices=EVENT_ACTIONS),
        Option("on_crash", choices=CRASH_ACTIONS),
        Option("autostart", type="bool", update=LIVE),
        Option(
            "state",
            choices=("present", "running", "stopped", "paused", "absent", "restarted", "reset"),
            default="present",
            update=CONTROL,
        ),
        Option("restart", choices=("never", "if_needed"), default="never", update=CONTROL),
        Option("force", type="bool", default=False, update=CONTROL),
        Option("recreate", type="bool", default=False, update=CONTROL),
        Option("remove_volumes", type="bool", default=False, update=CONTROL),
        Option("remove_snapshots", type="bool", default=False, update=CONTROL),
        Option("shutdown_timeout", type="int", default=120, minimum=0, update=CONTROL),
        Option("return_xml", type="bool", default=False, update=CONTROL),
        Option("wait", type="dict", options=WAIT, update=CONTROL),
        # where the fleet places the guest: the guests role's placement and the drain read it (not the definition)
        Option("placement", type="dict", options=PLACEMENT, update=CONTROL),
    ]


GUEST = OptionTable(guest_options(), checks=[guest_checks])

# The guest module: one guest, plus the connection.
GUEST_MODULE = OptionTable([*connection_options(), *guest_options()], checks=[guest_checks])


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
