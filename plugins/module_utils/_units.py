# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground layer: sizes with units ("2GiB", "512M", 1024) to bytes, and back for display."""

from __future__ import annotations

import re
from typing import Any

_FACTORS = {
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: Any, default_unit: str = "MiB") -> int:
    """Bytes for ``value``: an int (in ``default_unit``) or a string with a unit.

    Units: B, K/KiB, M/MiB, G/GiB, T/TiB (powers of 1024) and KB, MB, GB, TB (powers of 1000),
    case-insensitive. Raises ValueError with a message fit for the user.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 512M or 2GiB, got {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), default_unit
    elif isinstance(value, str):
        match = _SIZE.match(value)
        if not match:
            raise ValueError(f"expected a size such as 512M or 2GiB, got {value!r}")
        number, unit = float(match.group(1)), match.group(2) or default_unit
    else:
        raise ValueError(f"expected a size such as 512M or 2GiB, got {type(value).__name__}")
    factor = _FACTORS.get(unit.lower())
    if factor is None:
        raise ValueError(
            f"unknown unit {unit!r} in {value!r}; use B, KiB, MiB, GiB, TiB (or K, M, G, T; KB, MB, GB, TB)"
        )
    if number < 0:
        raise ValueError(f"a size cannot be negative, got {value!r}")
    size = number * factor
    if size != int(size):
        raise ValueError(f"{value!r} is not a whole number of bytes")
    return int(size)


def format_size(size: int) -> str:
    """The largest binary unit that shows ``size`` exactly: 2147483648 -> '2GiB', 1610612736 -> '1536MiB'."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


def to_kib(size: int) -> int:
    """libvirt's memory unit; rounds up to whole KiB."""
    return -(-size // 1024)
