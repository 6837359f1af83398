# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The option tables of ``snapshot`` and ``snapshot_info``, and the checks that span options."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    Option,
    OptionTable,
    Problem,
    connection_options,
    object_name,
)

TYPES = ("auto", "internal", "external")
AFTER_REVERT = ("snapshot", "running", "paused", "stopped")


def _checks(values: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []
    prefix, keep = values["name_prefix"], values["keep"]
    if keep is not None and prefix is None:
        problems.append(("keep", "needs name_prefix: the series whose oldest snapshots beyond keep are deleted"))
    if prefix is not None and not values["name"].startswith(prefix):
        problems.append(
            ("name_prefix", f"{values['name']!r} does not start with {prefix!r}: it would not count in its series")
        )
    if values["quiesce"] and values["type"] == "internal":
        problems.append(("quiesce", "an internal snapshot cannot freeze the guest's filesystems; use type external"))
    if values["quiesce"] and values["memory"]:
        problems.append(("quiesce", "a snapshot with the guest's memory needs no frozen filesystems; give one of them"))
    if values["delete_children"] and values["state"] != "absent":
        problems.append(("delete_children", "deletes the children of a snapshot deleted with state absent"))
    if keep is not None and values["state"] == "reverted":
        problems.append(
            ("keep", "prunes a series when a snapshot is taken or deleted; leave it out with state reverted")
        )
    if values["state"] != "present":
        for key in ("memory", "disks", "description"):
            if values[key] is not None:
                problems.append((key, f"describes a snapshot to take; leave it out with state {values['state']}"))
    return problems


SNAPSHOT_MODULE = OptionTable(
    [
        *connection_options(),
        Option("guest", required=True, normalize=object_name("guest")),
        Option("name", required=True, normalize=object_name("snapshot")),
        Option("state", choices=("present", "absent", "reverted"), default="present", update=CONTROL),
        Option("type", choices=TYPES, default="auto"),
        Option("memory", type="bool"),
        Option("quiesce", type="bool", default=False, update=CONTROL),
        Option("disks", type="list", elements="str"),
        Option("description"),
        Option("discard_changes", type="bool", default=False, update=CONTROL),
        Option("after_revert", choices=AFTER_REVERT, default="snapshot", update=CONTROL),
        Option("delete_children", type="bool", default=False, update=CONTROL),
        Option("name_prefix", update=CONTROL),
        Option("keep", type="int", minimum=1, update=CONTROL),
    ],
    checks=[_checks],
)

SNAPSHOT_INFO_MODULE = OptionTable(
    [*connection_options(), Option("guest", required=True, normalize=object_name("guest"))]
)
