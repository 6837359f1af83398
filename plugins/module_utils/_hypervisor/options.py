# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hypervisor module's option table: the fleet record's fields. An unset option is not managed."""

from __future__ import annotations

from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    LIVE,
    UNORDERED,
    Option,
    OptionError,
    OptionTable,
    connection_options,
    labels,
)


def ratio(value: float) -> float:
    if value <= 0:
        raise OptionError(f"must be more than 0, got {value}")
    return value


def record_options() -> list[Option]:
    """The record's fields as options (the hypervisor module; the host role passes them on)."""
    return [
        Option("labels", type="list", elements="str", normalize=labels, compare=UNORDERED, update=LIVE),
        Option("reserved_memory", type="size", minimum=0, update=LIVE),
        Option("memory_overcommit", type="float", normalize=ratio, update=LIVE),
        Option("vcpu_overcommit", type="float", normalize=ratio, update=LIVE),
        Option("maintenance", type="bool", update=LIVE),
        Option("maintenance_reason", update=CONTROL),
    ]


HYPERVISOR_MODULE = OptionTable([*connection_options(), *record_options()])
