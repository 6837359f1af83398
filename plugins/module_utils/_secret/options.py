# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The option table of ``secret`` and the checks that span options."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    Option,
    OptionTable,
    Problem,
    connection_options,
    secret_uuid,
)

# usage type -> the element of <usage> that names what the secret is for (libvirt's usage id)
USAGE_ELEMENT = {"ceph": "name", "iscsi": "target", "tls": "name", "volume": "volume", "vtpm": "name"}
RECORD_NAME = "kvmfleet-hypervisor"  # the tls secret that holds the hypervisor's fleet record (_hypervisor.record)


def value_bytes(values: dict[str, Any]) -> bytes | None:
    """The secret's value as libvirt stores it (None: the task sets none)."""
    if values["value"] is not None:
        return str(values["value"]).encode("utf-8")
    if values["value_base64"] is not None:
        return base64.b64decode(str(values["value_base64"]), validate=True)
    return None


def _checks(values: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []
    usage, usage_id = values["usage"], values["usage_id"]
    if usage == "volume" and not usage_id.startswith("/"):
        problems.append(("usage_id", f"{usage_id!r}: the secret of a volume is named by the volume's absolute path"))
    if usage == "tls" and usage_id == RECORD_NAME:
        problems.append(
            ("usage_id", f"{RECORD_NAME} holds the hypervisor's fleet record: kvmfleet.kvm.hypervisor manages it")
        )
    if not usage_id.strip():
        problems.append(("usage_id", "must not be empty"))
    if values["value"] is not None and values["value_base64"] is not None:
        problems.append(("value_base64", "give the value once: value or value_base64"))
    if values["value_base64"] is not None:
        try:
            base64.b64decode(str(values["value_base64"]), validate=True)
        except (binascii.Error, ValueError):
            problems.append(("value_base64", "is not base64 text"))
    if values["state"] == "absent":
        for key in ("value", "value_base64", "description", "uuid"):
            if values[key] is not None:
                problems.append((key, "describes a secret to keep; leave it out with state absent"))
    return problems


SECRET_MODULE = OptionTable(
    [
        *connection_options(),
        Option("usage", choices=tuple(USAGE_ELEMENT), required=True),
        Option("usage_id", required=True),
        Option("state", choices=("present", "absent"), default="present", update=CONTROL),
        Option("uuid", normalize=secret_uuid),
        Option("description"),
        Option("private", type="bool", default=False),
        Option("ephemeral", type="bool", default=False),
        Option("value", no_log=True, update=CONTROL),
        Option("value_base64", no_log=True, update=CONTROL),
        Option("update_value", choices=("always", "on_create"), default="always", update=CONTROL),
        Option("recreate", type="bool", default=False, update=CONTROL),
    ],
    checks=[_checks],
)
