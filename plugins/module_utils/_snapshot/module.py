# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resource layer for ``snapshot`` and ``snapshot_info``: named snapshots of a guest, declared.

``options.py`` is the table, ``xml.py`` the snapshot XML both ways and what a guest's disks allow,
``plan.py`` the plan (take, compare, delete with retention, revert) and ``module.py`` the entries.

The entries of ``snapshot`` (plan, execute unless check mode, the result) and ``snapshot_info``.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import is_local_uri, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry
from ansible_collections.kvmfleet.kvm.plugins.module_utils._snapshot import xml as sx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._snapshot.options import (
    SNAPSHOT_INFO_MODULE,
    SNAPSHOT_MODULE,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._snapshot.plan import SnapshotPlanner, guest_of


def _size(conn: Any, path: str, local: bool) -> Optional[int]:
    """The bytes a file of an external snapshot takes (its allocation), when it can be read."""
    lv = require_libvirt()
    try:
        return int(conn.storageVolLookupByPath(path).info()[2])
    except lv.libvirtError:
        pass
    if local and os.path.exists(path):
        return os.stat(path).st_blocks * 512
    return None


def snapshots_of(conn: Any, dom: Any) -> list[dict[str, Any]]:
    """Every snapshot of ``dom``, oldest first: its facts, whether it is current, its size where libvirt
    can tell (external files; the data of an internal snapshot lives inside the images)."""
    local = is_local_uri(conn.getURI())
    out = []
    for snap in dom.listAllSnapshots(0):
        facts = sx.read_snapshot(snap.getXMLDesc(0))
        sizes = [_size(conn, path, local) for path in facts["files"]]
        facts["current"] = bool(snap.isCurrent(0))
        known = [size for size in sizes if size is not None]
        facts["size"] = sum(known) if facts["type"] == "external" and known else None
        out.append(facts)
    return sorted(out, key=lambda facts: (facts["created"] or 0, facts["name"]))


def _snapshot(conn: Any, invocation: Any) -> dict[str, Any]:
    planner = SnapshotPlanner(conn, dict(invocation.values))
    plan = planner.make()
    for warning in plan.warnings:
        invocation.warn(warning)
    if not invocation.check_mode:
        plan.execute()
    facts: Optional[dict[str, Any]] = None
    if invocation.check_mode and planner.taken is not None:  # what would be taken
        facts = {
            **planner.taken,
            "current": True,
            "state": None,
            "parent": None,
            "created": None,
            "files": [],
            "size": None,
        }
    elif planner.name not in planner.deleted:  # in check mode too: what would be deleted is shown gone
        facts = {f["name"]: f for f in snapshots_of(conn, planner.dom)}.get(planner.name)
    result = plan.result(
        guest=planner.guest,
        snapshot=facts,
        deleted=planner.deleted,
        reverted=planner.reverted,
        differences=planner.differences,
    )
    result["name"] = planner.name
    return result


def _snapshot_info(conn: Any, invocation: Any) -> dict[str, Any]:
    guest = invocation.values["guest"]
    dom = guest_of(conn, guest)
    listed = snapshots_of(conn, dom)
    return {
        "changed": False,
        "guest": guest,
        "snapshots": listed,
        "current": next((facts["name"] for facts in listed if facts["current"]), None),
    }


SNAPSHOT_ENTRY = Entry(SNAPSHOT_MODULE, _snapshot)
"""Module entry for ``kvmfleet.kvm.snapshot``."""

SNAPSHOT_INFO_ENTRY = Entry(SNAPSHOT_INFO_MODULE, _snapshot_info, readonly=True)
"""Module entry for ``kvmfleet.kvm.snapshot_info``."""
