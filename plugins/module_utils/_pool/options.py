# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The storage pool's option table: type, source, target and its permissions, state, autostart,
and the options that allow what is destructive or interrupting (overwrite, recreate, remove_volumes).
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    IMPOSSIBLE,
    LIVE,
    NEXT_BOOT,
    Option,
    OptionError,
    OptionTable,
    Problem,
    absolute_path,
    connection_options,
    join_path,
    secret_uuid,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool_facts import DIRECTORY_TYPES

# Pools whose storage is a directory on the hypervisor (volumes are files in it).
POOL_TYPES = ("dir", "fs", "netfs", "logical", "iscsi", "rbd", "zfs")
FORMATS = {
    "fs": ("auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2", "vfat", "hfs+", "xfs", "ocfs2"),
    "netfs": ("auto", "nfs", "glusterfs", "cifs"),
    "logical": ("lvm2",),
}
# what each type needs in ``source``, and what it cannot take
NEEDS = {
    "dir": (),
    "fs": ("devices",),
    "netfs": ("hosts", "dir"),
    "logical": ("name",),
    "iscsi": ("hosts", "iqn"),
    "rbd": ("name", "hosts"),
    "zfs": ("name",),
}
TAKES = {
    "dir": (),
    "fs": ("devices", "format"),
    "netfs": ("hosts", "dir", "format"),
    "logical": ("devices", "name", "format"),
    "iscsi": ("hosts", "iqn", "initiator", "auth"),
    "rbd": ("name", "hosts", "auth"),
    "zfs": ("name", "devices"),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_HOST = re.compile(r"^[A-Za-z0-9._-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$")


def pool_name(value: str) -> str:
    if not _NAME.match(value):
        raise OptionError(f"{value!r} is not a pool name (letters, digits, '.', '_', '+', '-')")
    return value


def absolute_paths(values: list[str]) -> list[str]:
    return [absolute_path(value) for value in values]


def host_names(values: list[str]) -> list[str]:
    for value in values:
        if not _HOST.match(value):
            raise OptionError(f"{value!r} is not a host name or address (with an optional :port)")
    return values


def file_mode(value: str) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"0?[0-7]{3,4}", text):
        raise OptionError(f"{value!r} is not an octal mode such as '0755' (quote it in YAML)")
    return f"{int(text, 8):04o}"


def _auth_checks(auth: dict[str, Any], path: str) -> list[Problem]:
    if auth["secret_uuid"] is not None and auth["secret_usage"] is not None:
        return [
            (join_path(path, "secret_usage"), "name the secret that holds the key once: secret_uuid or secret_usage")
        ]
    return []


AUTH = OptionTable(
    [
        Option("type", choices=("chap", "ceph"), required=True),
        Option("username", required=True),
        Option("secret_uuid", normalize=secret_uuid),
        Option("secret_usage"),
    ],
    checks=[_auth_checks],
)

SOURCE = OptionTable(
    [
        Option("devices", type="list", elements="str", normalize=absolute_paths),
        Option("hosts", type="list", elements="str", normalize=host_names),
        Option("dir", normalize=absolute_path),
        Option("name"),
        Option("format"),
        Option("iqn"),
        Option("initiator"),
        Option("auth", type="dict", options=AUTH),
    ]
)


def _pool_checks(pool: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []

    def at(name: str) -> str:
        return join_path(path, name)

    kind = pool["type"]
    source = pool["source"] or {}
    if kind is not None:
        for key in NEEDS[kind]:
            if not source.get(key):
                problems.append((at(f"source.{key}"), f"a {kind} pool needs source.{key}"))
        for key, value in source.items():
            if value is not None and key not in TAKES[kind]:
                problems.append((at(f"source.{key}"), f"a {kind} pool takes no source.{key}"))
        if kind in DIRECTORY_TYPES and pool["target"] is None and pool["state"] != "absent":
            problems.append((at("target"), f"a {kind} pool needs a target directory"))
        if kind == "rbd" and pool["target"] is not None:
            problems.append((at("target"), "an rbd pool has no target path"))
        fmt = source.get("format")
        if fmt is not None and kind in FORMATS and fmt not in FORMATS[kind]:
            problems.append(
                (at("source.format"), f"a {kind} pool takes format {', '.join(FORMATS[kind])}; got {fmt!r}")
            )
        if kind == "fs" and len(source.get("devices") or []) > 1:
            problems.append((at("source.devices"), "an fs pool has exactly one device"))
        permissions = [key for key in ("target_owner", "target_group", "target_mode") if pool[key] is not None]
        if permissions and kind not in DIRECTORY_TYPES:
            problems.append((at(permissions[0]), f"applies to dir, fs and netfs pools, not {kind}"))
    if pool["remove_volumes"] and pool["state"] != "absent":
        problems.append((at("remove_volumes"), "applies to state: absent"))
    return problems


def pool_options() -> list[Option]:
    return [
        Option("name", required=True, normalize=pool_name, update=IMPOSSIBLE),
        Option("type", choices=POOL_TYPES, update=IMPOSSIBLE),
        Option("source", type="dict", options=SOURCE, update=NEXT_BOOT),
        Option("target", normalize=absolute_path, update=NEXT_BOOT),
        Option("target_owner", update=LIVE),
        Option("target_group", update=LIVE),
        Option("target_mode", normalize=file_mode, update=LIVE),
        Option("autostart", type="bool", update=LIVE),
        Option("state", choices=("present", "active", "inactive", "absent"), default="active", update=CONTROL),
        Option("build", type="bool", default=True, update=CONTROL),
        Option("overwrite", type="bool", default=False, update=CONTROL),
        Option("recreate", type="bool", default=False, update=CONTROL),
        Option("remove_volumes", type="bool", default=False, update=CONTROL),
    ]


POOL_MODULE = OptionTable([*connection_options(), *pool_options()], checks=[_pool_checks])

# One pool of the pools module (no uri: the module has one).
POOL = OptionTable(pool_options(), checks=[_pool_checks])


def _unique_names(values: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for index, pool in enumerate(values["pools"] or []):
        if pool["name"] in first:
            problems.append(
                (f"pools[{index}].name", f"{pool['name']} is also the name of pools[{first[pool['name']]}]")
            )
        first.setdefault(pool["name"], index)
    return problems


# The pools module: many pools in one call.
POOLS_MODULE = OptionTable(
    [
        *connection_options(),
        Option("pools", type="list", elements="dict", required=True, options=POOL, in_spec=False, update=CONTROL),
    ],
    checks=[_unique_names],
)
