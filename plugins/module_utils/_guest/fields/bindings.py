# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guest's field bindings: for each option of the guest table, where it lives in libvirt.

``BINDINGS`` is in writing order (a new definition is a skeleton plus every binding's ``write``; an update
applies the changed ones in the same order). The device lists (``COLLECTIONS``) are planned by
``_guest/devices.py`` and ``_guest/storage.py``, the XML patches by ``_guest/patches.py``; every other option
that is not ``control`` has a binding here, and a unit test holds the table and this mapping to each other.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields import compute, devices, system
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.field import Field

BINDINGS: dict[str, Field] = {**system.FIELDS, **compute.FIELDS, **devices.FIELDS, **system.EVENTS, **system.STATE}
COLLECTIONS = ("disks", "interfaces", "cloud_init", "xml_patches")

__all__ = ["BINDINGS", "COLLECTIONS", "read_values"]


def read_values(root: ET.Element, names: Optional[Iterable[str]] = None) -> dict[str, Any]:
    """The options kept in a definition (all, or ``names``), in the option table's shape."""
    wanted = BINDINGS if names is None else {name: BINDINGS[name] for name in names}
    return {name: field.read(root) for name, field in wanted.items() if field.read is not None}
