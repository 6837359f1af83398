# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a plan knows before it compares: the hypervisor (read once per run) and one guest (read once per plan).

``GuestRead`` is the only place a planned guest's definitions are fetched: the persistent one (with its
secrets, to compare passwords) and, when it runs, the live one, each once, parsed once and handed to every
part of the planner. ``read_domain`` turns a definition into the option table's shape.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.bindings import read_values
from ansible_collections.kvmfleet.kvm.plugins.module_utils._host import judge_kvm, local_kvm_facts, parse_capabilities
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import find, is_local_uri, require_libvirt

SEED_META = "cloud-init-target"  # metadata key: the target of the cloud-init seed's cdrom
SEED_HASH = "cloud-init"  # metadata key: the hash of the seed written


class HostContext:
    """What the planner needs to know about the hypervisor, read once per module run."""

    def __init__(self, conn: Any, uri: str) -> None:
        self.conn = conn
        caps_xml = conn.getCapabilities()
        self.caps = parse_capabilities(caps_xml)
        arch_caps = self.caps["guests"].get(self.caps["arch"], {"domain_types": []})
        self.kvm_usable, self.kvm_reason = judge_kvm(
            arch_caps["domain_types"], local_kvm_facts() if is_local_uri(uri) else None
        )
        self.aliases: dict[str, str] = {}
        self._pools: dict[str, tuple[Optional[Any], bool]] = {}
        self._volumes: dict[str, dict[str, Any]] = {}
        self._networks: dict[str, bool] = {}
        root = ET.fromstring(caps_xml)
        for machine in root.iter("machine"):
            if machine.get("canonical") and machine.text:
                self.aliases[machine.text] = machine.get("canonical", "")

    def pool(self, name: str) -> tuple[Optional[Any], bool]:
        """The storage pool ``name`` (None: there is none) and whether it is active: asked once per run,
        however many guests have disks in it."""
        if name not in self._pools:
            pool = find(self.conn.storagePoolLookupByName, name)
            self._pools[name] = (pool, bool(pool.isActive()) if pool is not None else False)
        return self._pools[name]

    def volume(self, pool_name: str, name: str) -> Optional[Any]:
        """The volume ``name`` of the active pool ``pool_name`` (None: there is none): the pool's volumes are
        listed once per run, however many of its volumes the guests name."""
        if pool_name not in self._volumes:
            pool, _active = self.pool(pool_name)
            self._volumes[pool_name] = {vol.name(): vol for vol in pool.listAllVolumes(0)} if pool is not None else {}
        return self._volumes[pool_name].get(name)

    def has_network(self, name: str) -> bool:
        """Whether the libvirt network ``name`` exists: asked once per run."""
        if name not in self._networks:
            self._networks[name] = find(self.conn.networkLookupByName, name) is not None
        return self._networks[name]

    def virt_type(self, wanted: str) -> str:
        if wanted == "auto":
            return "kvm" if self.kvm_usable else "qemu"
        return wanted

    def machine_matches(self, wanted: str, actual: Optional[str]) -> bool:
        """'q35' matches any pc-q35-* (no churn when QEMU is upgraded); a versioned name must match exactly."""
        if actual is None or wanted == actual:
            return True
        canonical = self.aliases.get(wanted)
        if canonical is None:
            return False
        family = canonical.rsplit("-", 1)[0]
        return actual == canonical or actual.startswith(family + "-")


@dataclass(frozen=True)
class GuestRef:
    """One guest on one connection, as actions find it when they run; ``path`` prefixes its error paths."""

    conn: Any
    name: str
    path: str = ""

    def at(self, field: str) -> str:
        return f"{self.path}.{field}" if self.path else field

    def dom(self) -> Any:
        return self.conn.lookupByName(self.name)

    def lookup(self) -> Optional[Any]:
        return find(self.conn.lookupByName, self.name)

    def if_defined(self, call: Callable[[Any], None]) -> None:
        """``call`` on the guest, unless it is gone by now (the end state a removal wants)."""
        dom = self.lookup()
        if dom is not None:
            call(dom)


def read_domain(root: ET.Element) -> dict[str, Any]:
    """A definition in the option table's shape (the options kept in it), with the seed's metadata."""
    values = read_values(root)
    values["disks"] = gx.read_disks(root)
    values["interfaces"] = gx.read_interfaces(root)
    values["cloud_init_hash"] = gx.read_meta(root, SEED_HASH)
    values["seed_target"] = gx.read_meta(root, SEED_META)
    return values


def parsed(dom: Any, flags: int, xml: Optional[str] = None) -> ET.Element:
    """The definition of ``dom`` read with ``flags`` (``xml``: that definition, just read), parsed. A domain
    whose definitions its caller has already read and parsed (the fleet report's) hands over that parse:
    planning never changes it."""
    reader = getattr(dom, "parsed", None)
    if reader is not None:
        return reader(flags)
    return ET.fromstring(xml or dom.XMLDesc(flags))


class GuestRead:
    """One defined guest as planned from: its definitions fetched once each, parsed once."""

    def __init__(self, dom: Any, live_xml: Optional[str] = None) -> None:
        lv = require_libvirt()
        self.dom = dom
        self.running = bool(dom.isActive())
        self.config_root = parsed(dom, lv.VIR_DOMAIN_XML_INACTIVE | lv.VIR_DOMAIN_XML_SECURE)
        self.config = read_domain(self.config_root)
        self.live_root: Optional[ET.Element] = None
        self.live: Optional[dict[str, Any]] = None
        if self.running:
            self.live_root = parsed(dom, lv.VIR_DOMAIN_XML_SECURE, live_xml)
            self.live = read_domain(self.live_root)

    def shown(self, patches: list[Callable[[ET.Element], None]]) -> str:
        """The persistent definition after ``patches``, as shown to the user: read without
        VIR_DOMAIN_XML_SECURE, so without the passwords it holds."""
        root = ET.fromstring(self.dom.XMLDesc(require_libvirt().VIR_DOMAIN_XML_INACTIVE))
        for patch in patches:
            patch(root)
        return gx.to_string(root)


def live_xml(dom: Any) -> Optional[str]:
    """A running guest's live definition with its secrets (None when it is off), for ``GuestRead`` and
    the check for block jobs that comes before it."""
    lv = require_libvirt()
    try:
        return dom.XMLDesc(lv.VIR_DOMAIN_XML_SECURE) if dom.isActive() else None
    except lv.libvirtError:
        return None


def external_overlays(dom: Any) -> set[str]:
    """The overlay files the guest's external snapshots made: after one, the guest writes into an overlay
    whose backing file is the image its disk names."""
    return {path for snap in dom.listAllSnapshots(0) for path in gx.overlay_files(ET.fromstring(snap.getXMLDesc(0)))}
