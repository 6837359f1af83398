# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The migrate module's option table, and the table of how a guest moves (shared with the drain).

``MIGRATION`` says how a migration runs (transport, storage, convergence policy): the migrate module
takes its options at the top level, the drain module as its ``migration`` dictionary. The
destination (``dest_uri``, ``peer_uri``, ``migrate_uri``) is the migrate module's own; the drain
takes one per destination.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    Option,
    OptionError,
    OptionTable,
    Problem,
    connection_options,
    join_path,
)

DEFAULT_MAX_DOWNTIME_MS = 300  # QEMU's own default
DEFAULT_TIMEOUT_PER_GIB = 150  # seconds per GiB moved (memory, plus the disks copied)
MIN_TIMEOUT = 30  # no budget is shorter: a connection and its first iteration take seconds
SHARED, COPY, COPY_INCREMENTAL = "shared", "copy", "copy_incremental"
CONVERGE = ("fail", "auto_converge", "raise_downtime", "postcopy")

_URI = re.compile(r"^[a-z][a-z0-9+]*:")


def libvirt_uri(value: str) -> str:
    """A libvirt URI such as qemu+ssh://root@hv2/system."""
    if not _URI.match(value):
        raise OptionError(f"{value!r} is not a libvirt URI such as qemu+ssh://root@hv2/system")
    return value


def migrate_uri(value: str) -> str:
    """The address QEMU sends the guest's memory to: tcp://ADDRESS[:PORT] (or rdma://, unix://)."""
    parts = urlsplit(value)
    if parts.scheme not in ("tcp", "rdma", "unix") or not (parts.hostname or parts.path):
        raise OptionError(f"{value!r} is not a migration URI such as tcp://10.0.0.12 or tcp://10.0.0.12:49152")
    return value


def _migration_checks(values: dict[str, object], path: str) -> list[Problem]:
    problems: list[Problem] = []
    if values["tunnelled"] and not values["p2p"]:
        problems.append((join_path(path, "tunnelled"), "a tunnelled migration is peer-to-peer: needs p2p: true"))
    if values["tunnelled"] and values["parallel_connections"] is not None:
        problems.append(
            (
                join_path(path, "parallel_connections"),
                "libvirt cannot run a tunnelled migration over parallel connections",
            )
        )
    if values["converge"] == "postcopy" and values["storage"] != SHARED:
        problems.append(
            (
                join_path(path, "converge"),
                f"libvirt cannot switch to post-copy while it copies disks (storage: {values['storage']})",
            )
        )
    if values["max_downtime_limit"] < values["max_downtime"]:  # type: ignore[operator]
        problems.append((join_path(path, "max_downtime_limit"), "is less than max_downtime"))
    return problems


def migration_options() -> list[Option]:
    """How a guest moves; every option has a default."""
    return [
        Option("p2p", type="bool", default=True, update=CONTROL),
        Option("tunnelled", type="bool", default=False, update=CONTROL),
        Option("tls", type="bool", default=False, update=CONTROL),
        Option("bandwidth", type="int", minimum=1, update=CONTROL),
        Option("parallel_connections", type="int", minimum=2, maximum=255, update=CONTROL),
        Option("storage", choices=(SHARED, COPY, COPY_INCREMENTAL), default=SHARED, update=CONTROL),
        Option("dest_pool", update=CONTROL),
        Option("allow_unsafe", type="bool", default=False, update=CONTROL),
        Option("max_downtime", type="int", minimum=1, default=DEFAULT_MAX_DOWNTIME_MS, update=CONTROL),
        Option("max_downtime_limit", type="int", minimum=1, default=2000, update=CONTROL),
        Option("timeout_per_gib", type="int", minimum=1, default=DEFAULT_TIMEOUT_PER_GIB, update=CONTROL),
        Option("timeout", type="int", minimum=1, update=CONTROL),
        Option("converge", choices=CONVERGE, default="fail", update=CONTROL),
        Option("offline", type="bool", default=False, update=CONTROL),
        Option("remove_source_volumes", type="bool", default=False, update=CONTROL),
    ]


MIGRATION = OptionTable(migration_options(), checks=[_migration_checks])


def destination_options() -> list[Option]:
    """Where a guest goes: the destination's libvirt, as this module and the source's libvirtd reach it."""
    return [
        Option("dest_uri", required=True, normalize=libvirt_uri, update=CONTROL),
        Option("peer_uri", normalize=libvirt_uri, update=CONTROL),
        Option("migrate_uri", normalize=migrate_uri, update=CONTROL),
    ]


MIGRATE_MODULE = OptionTable(
    [
        *connection_options(),
        Option("name", required=True, update=CONTROL),
        *destination_options(),
        *migration_options(),
    ],
    checks=[_migration_checks],
)
