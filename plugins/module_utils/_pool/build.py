# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plan building a pool's storage: the directory, the filesystem on a device, the LVM volume group.

Nothing that holds data is overwritten without ``overwrite``. On a local hypervisor devices are probed
with ``blkid`` and volume groups with ``vgs`` so that check mode predicts the build exactly; on a remote
one libvirt's own no-overwrite build guard decides.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, NeedsOption, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._plan import Plan


def probe_fs(device: str) -> Optional[str]:
    """The filesystem or signature type on ``device`` (ext4, LVM2_member...), None when blank."""
    blkid = shutil.which("blkid") or "/usr/sbin/blkid"
    proc = subprocess.run(
        [blkid, "-p", "-o", "value", "-s", "TYPE", device], capture_output=True, text=True, check=False
    )
    if proc.returncode == 2:  # nothing found
        return None
    if proc.returncode != 0:
        raise KvmFleetError(f"cannot probe {device} with blkid: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout.strip() or None


def volume_group_exists(name: str) -> bool:
    vgs = shutil.which("vgs") or "/usr/sbin/vgs"
    if not os.path.exists(vgs):
        return False
    proc = subprocess.run([vgs, "--noheadings", "-o", "vg_name"], capture_output=True, text=True, check=False)
    return name in proc.stdout.split()


class BuildPlanner:
    """Adds the build steps of one pool to its plan."""

    def __init__(self, plan: Plan, name: str, local: bool, overwrite: bool, pool: Callable[[], Any]) -> None:
        self.plan = plan
        self.name = name
        self.local = local
        self.overwrite = overwrite
        self._pool = pool  # the pool's libvirt object, looked up when an action runs
        self.lv = require_libvirt()

    def steps(self, shape: dict[str, Any], new: bool) -> None:
        """The build steps of ``shape``: a new pool (``new``) or one being redefined or started."""
        kind, target, source = shape["type"], shape.get("target"), shape.get("source") or {}
        flags = self.lv.VIR_STORAGE_POOL_BUILD_NO_OVERWRITE

        def build(flags: int = flags) -> None:
            self._pool().build(flags)

        if kind in ("dir", "netfs"):  # building is creating the directory (no device flags apply)
            if new or (self.local and target and not os.path.isdir(target)):
                self.plan.add(f"create directory {target}", lambda: self._pool().build(0))
            return
        if kind == "fs":
            self._fs(target, source, build)
        elif kind == "logical":
            self._logical(source, build)
        # iscsi, rbd, zfs: their storage exists on its own backend; libvirt only attaches to it

    def _remote(self, build: Any, held: str) -> None:
        """Build on a remote hypervisor (its devices are not probed): libvirt's no-overwrite guard decides."""
        try:
            build()
        except self.lv.libvirtError as exc:
            raise KvmFleetError(
                f"build: libvirt did not build pool {self.name} ({exc}). The devices of a "
                "remote hypervisor are not probed, so its build never overwrites anything: if "
                f"{held}, declare the pool with build: false to use what is there"
            ) from exc

    def _mkdir(self, target: str) -> None:
        os.makedirs(target, exist_ok=True)

    def _fs(self, target: str, source: dict[str, Any], build: Any) -> None:
        device = source["devices"][0]
        fmt = source.get("format") or "auto"
        if not self.local:
            held = f"{device} already holds a filesystem"
            self.plan.add(
                f"build pool {self.name}: format {device} as {fmt} only if it holds no filesystem",
                lambda: self._remote(build, held),
            )
            return
        if not os.path.exists(device):
            raise ValidationError([("source.devices[0]", f"{device} does not exist on this host")])
        found = probe_fs(device)
        if found is None:
            if fmt == "auto":
                raise ValidationError(
                    [("source.format", f"{device} holds no filesystem; name one (such as ext4) to format it")]
                )
            self.plan.add(f"format {device} as {fmt} and create directory {target}", build)
        elif fmt in ("auto", found):
            self.plan.add(f"create directory {target} ({device} already holds {found})", lambda: self._mkdir(target))
        elif self.overwrite:
            self.plan.add(
                f"format {device} as {fmt}, destroying its {found} filesystem",
                lambda: self._pool().build(self.lv.VIR_STORAGE_POOL_BUILD_OVERWRITE),
            )
        else:
            raise NeedsOption(
                f"pool {self.name}: {device} holds a {found} filesystem; formatting it as {fmt} would destroy its data",
                "overwrite",
            )

    def _logical(self, source: dict[str, Any], build: Any) -> None:
        vg, devices = source["name"], source.get("devices") or []
        if self.local and volume_group_exists(vg):
            return
        if not devices:
            raise ValidationError([("source.devices", f"volume group {vg} does not exist; give devices to create it")])
        if not self.local:
            held = f"volume group {vg} already exists or {', '.join(devices)} hold data"
            self.plan.add(
                f"create volume group {vg} on {', '.join(devices)} only if they hold no data",
                lambda: self._remote(build, held),
            )
            return
        used = [(dev, probe_fs(dev)) for dev in devices]
        used = [(dev, found) for dev, found in used if found]
        if used and not self.overwrite:
            held = ", ".join(f"{dev} holds {found}" for dev, found in used)
            raise NeedsOption(
                f"pool {self.name}: {held}; making them LVM physical volumes of {vg} would destroy that", "overwrite"
            )
        flags = self.lv.VIR_STORAGE_POOL_BUILD_OVERWRITE if used else self.lv.VIR_STORAGE_POOL_BUILD_NO_OVERWRITE
        self.plan.add(
            f"create volume group {vg} on {', '.join(devices)}" + (" (overwriting them)" if used else ""),
            lambda: self._pool().build(flags),
        )
