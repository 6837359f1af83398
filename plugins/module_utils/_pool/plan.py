# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plan a storage pool: desired shape vs. libvirt's definition and the storage itself -> actions.

Nothing destructive happens without its option: formatting a device that holds a filesystem or an
existing volume group needs ``overwrite``; a change libvirt cannot make to an active pool (type,
source, target) needs ``recreate``; removing a pool that holds volumes needs ``remove_volumes``.
Building the storage (directory, filesystem, volume group) is planned by ``build.py``.
"""

from __future__ import annotations

import grp
import os
import pwd
import xml.etree.ElementTree as ET
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import NeedsOption, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import (
    define_checked,
    define_new,
    find,
    is_local_uri,
    require_libvirt,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import CONTROL, IMPOSSIBLE, LIVE, NEXT_BOOT
from ansible_collections.kvmfleet.kvm.plugins.module_utils._plan import Plan
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.build import BuildPlanner
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.xml import (
    default_target,
    pool_xml,
    read_pool,
    write_permissions,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool_facts import DIRECTORY_TYPES

PERMISSIONS = ("target_owner", "target_group", "target_mode")
FILESYSTEM_OWN = "lost+found"  # listed by libvirt as a volume of fs pools; it belongs to the filesystem


def resolve_id(value: Optional[str], local: bool, field: str, kind: str) -> str | None:
    """A user or group name or number -> the number libvirt stores, as a string."""
    if value is None or value.lstrip("-").isdigit():
        return value
    if not local:
        raise ValidationError([(field, f"give the numeric {kind} id: names are resolved on local hypervisors only")])
    try:
        return str(pwd.getpwnam(value).pw_uid if kind == "user" else grp.getgrnam(value).gr_gid)
    except KeyError:
        raise ValidationError([(field, f"no {kind} {value!r} on this host")]) from None


class PoolPlanner:
    """Plans one pool from the pool table's validated values."""

    def __init__(self, conn: Any, uri: str, values: dict[str, Any]) -> None:
        self.conn = conn
        self.lv = require_libvirt()
        self.local = is_local_uri(uri)
        self.want = values
        self.name: str = values["name"]
        self.plan = Plan("pool", self.name)
        self.builds = BuildPlanner(self.plan, self.name, self.local, bool(values["overwrite"]), self._pool)
        self.after_state = "absent"

    # ------------------------------------------------------------------ entry

    def make(self) -> Plan:
        pool = find(self.conn.storagePoolLookupByName, self.name)
        state = self.want["state"]
        if state == "absent":
            if pool is not None:
                self._remove(pool)
            return self.plan
        self.want["target_owner"] = resolve_id(self.want["target_owner"], self.local, "target_owner", "user")
        self.want["target_group"] = resolve_id(self.want["target_group"], self.local, "target_group", "group")
        self._check_remote_permissions(self.want["type"])
        if pool is None:
            self._create()
        else:
            self._update(pool)
        return self.plan

    def _state_of(self, pool: Any) -> str:
        return "active" if pool.isActive() else "inactive"

    # ------------------------------------------------------------------ create

    def _desired_shape(self, base: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """The full shape to define: ``base`` (the current definition) with every set option on top."""
        shape: dict[str, Any] = dict(base or {"type": None, "target": None, "source": {}})
        shape["source"] = dict(shape.get("source") or {})
        for key, value in (self.want["source"] or {}).items():
            if value is not None:
                shape["source"][key] = value
        for key in ("type", "target", *PERMISSIONS):
            if self.want[key] is not None:
                shape[key] = self.want[key]
        return shape

    def _create(self, uuid: Optional[str] = None) -> None:
        if self.want["type"] is None:
            raise ValidationError([("type", f"is required to create storage pool {self.name}")])
        shape = self._desired_shape()
        xml = pool_xml(self.name, shape, uuid)
        self.plan.diff.add("state", "absent", self.want["state"], CONTROL)
        for key in ("type", "target", *PERMISSIONS):
            if shape.get(key) is not None:
                self.plan.diff.add(key, None, shape[key], NEXT_BOOT)
        for key, value in shape["source"].items():
            if value is not None:
                self.plan.diff.add(f"source.{key}", None, value, NEXT_BOOT)
        self.plan.add(
            f"define {shape['type']} pool {self.name}",
            lambda: define_new(
                lambda text: define_checked(self.conn, "pool", text),
                self.conn.storagePoolLookupByName,
                self.name,
                xml,
                "pool",
            ),
        )
        if self.want["build"]:
            self.builds.steps(shape, new=True)
        if self.want["state"] == "active":
            self.plan.add(f"start pool {self.name}", lambda: self._pool().create(0))
            if shape["type"] in ("fs", "netfs") and any(self.want[key] is not None for key in PERMISSIONS):
                self._plan_permissions(shape, active=True)
        if self.want["autostart"]:
            self.plan.diff.add("autostart", None, True, LIVE)
            self.plan.add(f"set pool {self.name} to start with libvirtd", lambda: self._pool().setAutostart(1))
        self.after_state = "inactive" if self.want["state"] in ("present", "inactive") else "active"

    def _pool(self) -> Any:
        return self.conn.storagePoolLookupByName(self.name)

    def _persistent_xml(self, pool: Any) -> str:
        """The persistent definition (drivers without the inactive flag have only one)."""
        try:
            return pool.XMLDesc(self.lv.VIR_STORAGE_XML_INACTIVE)
        except self.lv.libvirtError:
            return pool.XMLDesc(0)

    def _persistent(self, pool: Any) -> dict[str, Any]:
        return read_pool(self._persistent_xml(pool))

    # ------------------------------------------------------------------ update

    def _update(self, pool: Any) -> None:
        persistent = self._persistent(pool)
        active = bool(pool.isActive())
        kind = persistent["type"]
        if self.want["type"] is not None and self.want["type"] != kind:
            self._recreate(pool, persistent, active)
            return
        changed = self._definition_changes(persistent)
        if changed:
            shape = self._desired_shape(persistent)
            xml = pool_xml(self.name, shape, persistent["uuid"])
            fields = ", ".join(changed)
            if active:
                if not self.want["recreate"]:
                    raise NeedsOption(
                        f"pool {self.name} is active; changing {fields} needs it stopped, redefined and started "
                        "again (guests using its volumes lose them meanwhile)",
                        "recreate",
                    )
                self.plan.add(f"stop pool {self.name}", lambda: self._pool().destroy())
                active = False
            self.plan.add(f"redefine pool {self.name}: {fields}", lambda: define_checked(self.conn, "pool", xml))
            if self.want["build"]:
                self.builds.steps(shape, new=False)
        else:
            shape = self._desired_shape(persistent)
        mounts = shape["type"] in ("fs", "netfs")
        if not (mounts and not active and self.want["state"] == "active"):
            self._permissions_update(pool, shape, active)
        self._state_update(shape, active)
        self._autostart_update(pool)

    def _definition_changes(self, persistent: dict[str, Any]) -> list[str]:
        changed = []
        if self.want["target"] is not None and self.want["target"] != persistent["target"]:
            self.plan.diff.add("target", persistent["target"], self.want["target"], NEXT_BOOT)
            changed.append("target")
        for key, value in (self.want["source"] or {}).items():
            actual = persistent["source"].get(key)
            if value is not None and value != actual:
                self.plan.diff.add(f"source.{key}", actual, value, NEXT_BOOT)
                changed.append(f"source.{key}")
        return changed

    def _recreate(self, pool: Any, persistent: dict[str, Any], active: bool) -> None:
        if not self.want["recreate"]:
            raise NeedsOption(
                f"pool {self.name} is a {persistent['type']} pool; making it a {self.want['type']} pool means "
                "stopping it, removing its definition and defining it again (its volumes stay where they are, "
                "outside the new pool)",
                "recreate",
            )
        self.plan.diff.add("type", persistent["type"], self.want["type"], IMPOSSIBLE)
        if active:
            self.plan.add(f"stop pool {self.name}", lambda: self._pool().destroy())
        self.plan.add(f"remove the definition of pool {self.name}", lambda: self._pool().undefine())
        self._create(persistent["uuid"])

    def _check_remote_permissions(self, kind: Optional[str]) -> None:
        """The root of a mounted filesystem can be chowned only where it is mounted."""
        given = [key for key in PERMISSIONS if self.want[key] is not None]
        if given and not self.local and kind in ("fs", "netfs"):
            raise ValidationError(
                [
                    (
                        given[0],
                        f"the permissions of a {kind} pool's mounted directory are set on local hypervisors "
                        "only (set them on the remote host itself)",
                    )
                ]
            )

    def _actual_permissions(self, pool: Any, shape: dict[str, Any], active: bool) -> dict[str, Optional[str]]:
        target = shape.get("target")
        # the directory itself: a dir pool's always, a mounted pool's while it is mounted (active)
        if (active or shape["type"] == "dir") and self.local and target and os.path.isdir(target):
            info = os.stat(target)
            return {
                "target_owner": str(info.st_uid),
                "target_group": str(info.st_gid),
                "target_mode": f"{info.st_mode & 0o7777:04o}",
            }
        current = read_pool(pool.XMLDesc(0)) if active else self._persistent(pool)
        return {key: current[key] for key in PERMISSIONS}

    def _permissions_update(self, pool: Any, shape: dict[str, Any], active: bool) -> None:
        if shape["type"] not in DIRECTORY_TYPES or not any(self.want[key] is not None for key in PERMISSIONS):
            return
        self._check_remote_permissions(shape["type"])
        actual = self._actual_permissions(pool, shape, active)
        differing = [key for key in PERMISSIONS if self.want[key] is not None and self.want[key] != actual[key]]
        if not differing:
            return
        for key in differing:
            self.plan.diff.add(key, actual[key], self.want[key], LIVE)
        self._plan_permissions(shape, active, differing)

    def _plan_permissions(
        self, shape: dict[str, Any], active: bool, keys: tuple[str, ...] | list[str] = PERMISSIONS
    ) -> None:
        target = shape["target"]
        wanted = {key: self.want[key] for key in PERMISSIONS}

        def apply() -> None:
            pool = self._pool()
            root = ET.fromstring(self._persistent_xml(pool))
            current = read_pool(ET.tostring(root, encoding="unicode"))
            merged = {key: wanted[key] if wanted[key] is not None else current[key] for key in PERMISSIONS}
            write_permissions(root.find("target"), merged)
            define_checked(self.conn, "pool", ET.tostring(root, encoding="unicode"))
            on_disk = active or shape["type"] == "dir"  # a mounted pool's root exists while it is mounted
            if on_disk and self.local and os.path.isdir(target):
                if wanted["target_owner"] is not None or wanted["target_group"] is not None:
                    os.chown(target, int(wanted["target_owner"] or -1), int(wanted["target_group"] or -1))
                if wanted["target_mode"] is not None:
                    os.chmod(target, int(wanted["target_mode"], 8))
            elif on_disk and shape["type"] == "dir":
                pool.build(0)  # a remote dir pool: libvirt applies the definition's permissions
            if active:
                pool.refresh(0)

        shown = ", ".join(f"{key[len('target_') :]} {wanted[key]}" for key in keys if wanted[key] is not None)
        self.plan.add(f"set {shape.get('target') or default_target(shape['type'], shape['source'])} {shown}", apply)

    def _state_update(self, shape: dict[str, Any], active: bool) -> None:
        state = self.want["state"]
        if state == "active" and not active:
            self.plan.diff.add("state", "inactive", "active", CONTROL)
            if self.want["build"] and shape["type"] in ("dir", "netfs"):
                self.builds.steps(shape, new=False)
            self.plan.add(f"start pool {self.name}", lambda: self._pool().create(0))
            if shape["type"] in ("fs", "netfs") and any(self.want[key] is not None for key in PERMISSIONS):
                # what the mounted filesystem's root has is known only once it is mounted
                self._plan_permissions(shape, active=True)
        elif state == "inactive" and active:
            self.plan.diff.add("state", "active", "inactive", CONTROL)
            self.plan.add(f"stop pool {self.name}", lambda: self._pool().destroy())
        after_active = state == "active" or (state == "present" and active)
        self.after_state = "active" if after_active else "inactive"

    def _autostart_update(self, pool: Any) -> None:
        wanted = self.want["autostart"]
        if wanted is None or bool(pool.autostart()) == wanted:
            return
        self.plan.diff.add("autostart", not wanted, wanted, LIVE)
        verb = "start" if wanted else "not start"
        self.plan.add(f"set pool {self.name} to {verb} with libvirtd", lambda: self._pool().setAutostart(int(wanted)))

    # ------------------------------------------------------------------ removal

    def _volumes(self, pool: Any, active: bool) -> Optional[list[str]]:
        """Names of the pool's volumes; None when they cannot be listed (an inactive non-directory pool)."""
        if active:
            pool.refresh(0)
            return sorted(vol.name() for vol in pool.listAllVolumes() if vol.name() != FILESYSTEM_OWN)
        current = self._persistent(pool)
        if self.local and current["type"] == "dir" and current["target"]:
            if not os.path.isdir(current["target"]):
                return []
            return sorted(name for name in os.listdir(current["target"]) if name != FILESYSTEM_OWN)
        return None

    def _remove(self, pool: Any) -> None:
        active = bool(pool.isActive())
        persistent = self._persistent(pool)
        kind = persistent["type"]
        volumes = self._volumes(pool, active)
        self.plan.diff.add("state", "active" if active else "inactive", "absent", CONTROL)
        if volumes is None or volumes:
            if not self.want["remove_volumes"]:
                held = (
                    "may hold volumes (it is inactive, so they cannot be listed)"
                    if volumes is None
                    else f"holds {len(volumes)} volume(s): {', '.join(volumes[:5])}{' ...' if len(volumes) > 5 else ''}"
                )
                raise NeedsOption(f"pool {self.name} {held}; removing it would delete them", "remove_volumes")
            if not active:
                self.plan.add(f"start pool {self.name} to list its volumes", lambda: self._pool().create(0))
                active = True
            self.plan.add(f"delete the volumes of pool {self.name}", self._delete_volumes)
        if active:
            self.plan.add(f"stop pool {self.name}", lambda: self._pool().destroy())
        # a directory an earlier run removed (it was killed before the undefine) is not removed again
        gone = self.local and kind in DIRECTORY_TYPES and bool(persistent["target"])
        gone = gone and not active and not os.path.isdir(persistent["target"])
        if kind in ("dir", "fs", "netfs", "logical") and not gone:
            what = "volume group" if kind == "logical" else "directory"
            self.plan.add(f"remove the pool's {what}", self._delete_storage)
        self.plan.add(f"remove the definition of pool {self.name}", lambda: self._pool().undefine())

    def _delete_volumes(self) -> None:
        pool = self._pool()
        pool.refresh(0)
        for vol in pool.listAllVolumes():
            if vol.name() != FILESYSTEM_OWN:
                vol.delete(0)

    def _delete_storage(self) -> None:
        try:
            self._pool().delete(0)
        except self.lv.libvirtError as exc:
            if exc.get_error_code() == self.lv.VIR_ERR_NO_SUPPORT:
                return
            if "No such file or directory" in str(exc.get_error_message()):  # removed already (a remote host)
                return
            raise


def converge(conn: Any, uri: str, values: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    planner = PoolPlanner(conn, uri, values)
    plan = planner.make()
    if not check_mode:
        plan.execute()
    return plan.result(state=planner.after_state)
