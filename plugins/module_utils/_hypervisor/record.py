# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hypervisor's fleet record: its labels, the memory kept for itself, its overcommit ratios and
its maintenance mark, kept inside libvirt on the hypervisor itself.

libvirt has no place for host properties, and the record must be readable over every URI (the
inventory plugin, ``host_info`` and the drain read remote hypervisors, also over read-only
connections), survive daemon restarts and reboots, and be visible with plain ``virsh``. It is kept as
a value-less libvirt secret (usage ``tls``, name ``kvmfleet-hypervisor``) whose description holds the
record as JSON: ``virsh secret-list`` shows it, and no other tool uses such a secret.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any, Optional
from xml.sax.saxutils import escape

from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt

USAGE_NAME = "kvmfleet-hypervisor"
PREFIX = "kvmfleet hypervisor record: "
# the same UUID on every hypervisor, so a record is found by UUID as well as by usage
SECRET_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:kvmfleet:hypervisor-record:1"))

DEFAULT_RESERVED_MIB = 1024
DEFAULT_MEMORY_OVERCOMMIT = 1.0
DEFAULT_VCPU_OVERCOMMIT = 4.0


@dataclass
class Record:
    """What the fleet knows about one hypervisor beyond what libvirt reports."""

    labels: list[str] = field(default_factory=list)
    reserved_memory_mib: int = DEFAULT_RESERVED_MIB
    memory_overcommit: float = DEFAULT_MEMORY_OVERCOMMIT
    vcpu_overcommit: float = DEFAULT_VCPU_OVERCOMMIT
    maintenance: Optional[dict[str, str]] = None  # {"since": ISO time, "reason": text} while in maintenance

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """A record from stored JSON; unknown keys are ignored and missing ones take their defaults."""
        record = cls()
        labels = data.get("labels")
        if isinstance(labels, list):
            record.labels = sorted({str(label) for label in labels})
        for key, kind in (("reserved_memory_mib", int), ("memory_overcommit", float), ("vcpu_overcommit", float)):
            value = data.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                setattr(record, key, kind(value))
        maintenance = data.get("maintenance")
        if isinstance(maintenance, dict):
            record.maintenance = {key: str(maintenance.get(key) or "") for key in ("since", "reason")}
        return record


def _secret(conn: Any) -> Any:
    lv = require_libvirt()
    try:
        return conn.secretLookupByUsage(lv.VIR_SECRET_USAGE_TYPE_TLS, USAGE_NAME)
    except lv.libvirtError as exc:
        if exc.get_error_code() in (lv.VIR_ERR_NO_SECRET, lv.VIR_ERR_NO_SUPPORT):
            return None  # no record stored, or a driver without secrets (the test driver): the defaults
        raise


def parse(xml: str) -> Record:
    """The record held by a secret's XML (an unreadable description gives the defaults)."""
    text = ET.fromstring(xml).findtext("description") or ""
    if not text.startswith(PREFIX):
        return Record()
    try:
        data = json.loads(text[len(PREFIX) :])
    except ValueError:
        return Record()
    return Record.from_dict(data) if isinstance(data, dict) else Record()


def read(conn: Any) -> tuple[Record, bool]:
    """The hypervisor's record and whether one is stored (without one, every field has its default)."""
    secret = _secret(conn)
    if secret is None:
        return Record(), False
    return parse(secret.XMLDesc(0)), True


def secret_xml(record: Record) -> str:
    payload = json.dumps(record.as_dict(), sort_keys=True)
    return (
        "<secret ephemeral='no' private='yes'>"
        f"<uuid>{SECRET_UUID}</uuid>"
        f"<description>{escape(PREFIX + payload)}</description>"
        f"<usage type='tls'><name>{USAGE_NAME}</name></usage>"
        "</secret>"
    )


def write(conn: Any, record: Record) -> None:
    """Store ``record`` (defining the secret replaces the description of an existing one)."""
    conn.secretDefineXML(secret_xml(record), 0)
