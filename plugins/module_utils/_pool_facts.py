# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground layer: what everything kept in a storage pool needs to know of the pool (its type, whether it
holds files, its directory), for the pool, volume and guest packages alike."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Optional

DIRECTORY_TYPES = ("dir", "fs", "netfs")  # pools whose volumes are files in a directory


def pool_facts(pool: Any) -> dict[str, Optional[str]]:
    """A pool's ``type`` (dir, fs, logical...) and ``target`` (its directory or device path), in one read."""
    root = ET.fromstring(pool.XMLDesc(0))
    return {"type": root.get("type") or "dir", "target": root.findtext("target/path")}
