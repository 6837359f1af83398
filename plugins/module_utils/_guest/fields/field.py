# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a field binding is: how one option of the guest table meets the domain.

The table row says the option's type, comparison, secrecy and how a change reaches the guest (``update``);
the binding says only what the table cannot: where the value lives in the domain XML (``read``/``write``)
or on the domain object (``from_domain``/``to_domain``), and, for ``update: live`` options, the call that
applies it to the running guest (``live``) and when that call can (``live_possible``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt


def _always(*_args: Any) -> bool:
    return True


class LiveMeta:
    """The running guest's collection metadata as planned from, changed and sent whole by each live call.

    Changes accumulate (tags, then the memory target), so a call never reads the definition again.
    """

    def __init__(self, live_root: Optional[ET.Element]) -> None:
        self.root = live_root if live_root is not None else gx.skeleton("")

    def change(self, dom: Any, edit: Callable[[ET.Element], None]) -> None:
        lv = require_libvirt()
        edit(self.root)
        xml = gx.meta_element_xml(self.root)
        dom.setMetadata(lv.VIR_DOMAIN_METADATA_ELEMENT, xml, gx.NS_PREFIX, gx.NS, lv.VIR_DOMAIN_AFFECT_LIVE)


@dataclass(frozen=True)
class Field:
    """One option's binding. Every option of the guest table that is neither ``control`` nor a device list
    (disks, interfaces, cloud_init: their own planners) has exactly one."""

    read: Optional[Callable[[ET.Element], Any]] = None  # its value in a domain definition
    write: Optional[Callable[[ET.Element, Any], None]] = None  # sets it in a definition (a new one or a copy)
    # state kept outside the XML: read from / set on the domain, for the persistent and the running guest at once
    from_domain: Optional[Callable[[Any], Any]] = None
    to_domain: Optional[Callable[[Any, Any], None]] = None
    # ``update: live`` options: the call that gives the running guest the value, and whether it can now
    live: Optional[Callable[[Any, Any, LiveMeta], None]] = None
    live_possible: Callable[[dict[str, Any], Any], bool] = _always  # (the running guest's values, wanted)
    live_read: Optional[Callable[[ET.Element], Any]] = None  # the running value, where it is not ``read``
    # comparison beyond the table's: the value meant on this host, equality, and when it is compared at all
    resolve: Optional[Callable[[Any, Any], Any]] = None  # (host, wanted) -> value
    same: Optional[Callable[[Any, Any, Any], bool]] = None  # (host, wanted, actual) -> equal
    applies: Callable[[dict[str, Any]], bool] = _always  # (the persistent definition's values)


def text(tag: str) -> Field:
    """An option that is the text of one element of <domain> (title, on_crash...)."""
    return Field(read=lambda root: root.findtext(tag), write=lambda root, value: gx.set_text(root, tag, value))


def os_text(tag: str) -> Field:
    """An option that is the text of one element of <os> (kernel, initrd, cmdline)."""

    def read(root: ET.Element) -> Optional[str]:
        os_el = root.find("os")
        return os_el.findtext(tag) if os_el is not None else None

    return Field(read=read, write=lambda root, value: gx.set_text(gx.child(root, "os"), tag, value))
