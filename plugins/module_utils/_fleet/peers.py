# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a drain works with: the hypervisors it connected (``Peer``), one guest's move (``Item``), what
happened (``Outcome``), and where a guest a drain moved came from (``origin_of``)."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet import placement as pl
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import preflight as pf
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.move import ORIGIN


@dataclass
class Peer:
    """A hypervisor of the drain, connected: the drained one or another of the fleet."""

    name: str
    uri: str  # as this module reaches it
    peer_uri: Optional[str]  # as the other hypervisors' libvirtd reach it
    migrate_uri: Optional[str]
    conn: Any
    host: pf.Host

    def refresh(self) -> None:
        """Its capacity, record and guests again (what a move changes)."""
        pf.refresh(self.conn, self.host)


@dataclass
class Item:
    """One guest to move, from where, to where, and why there."""

    guest: pf.Guest
    demand: pl.Demand
    source: Peer
    dest: Peer
    reason: str

    @property
    def name(self) -> str:
        return self.guest.name


@dataclass
class Outcome:
    moved: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    left: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def origin_of(dom: Any) -> Optional[str]:
    """The hypervisor a drain moved ``dom`` from (the collection's metadata), if any."""
    lv = require_libvirt()
    try:
        text = dom.metadata(lv.VIR_DOMAIN_METADATA_ELEMENT, gx.NS, 0)
    except lv.libvirtError:
        return None
    return ET.fromstring(text).get(ORIGIN)
