# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Typed errors raised inside the collection; one place (``_runner``) turns them into ``fail_json``.

Private to the collection: no compatibility promise outside kvmfleet.kvm.
"""

from __future__ import annotations

from typing import Any


class KvmFleetError(Exception):
    """Base of every error the collection raises on purpose.

    ``details`` are extra keys returned next to ``msg`` in the failed result. ``executed`` is set
    where a plan's actions had started when the error came: the host may have changed.
    """

    executed = False

    def __init__(self, msg: str, **details: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.details = details


class LibvirtMissing(KvmFleetError):
    """The libvirt Python binding cannot be imported by the interpreter that runs the module."""


class ConnectionFailed(KvmFleetError):
    """The libvirt daemon at a URI cannot be reached."""


class ValidationError(KvmFleetError):
    """User input is invalid. Each problem is a (field path, message) pair; all are reported at once."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = list(problems)
        lines = [f"{path}: {message}" if path else message for path, message in self.problems]
        super().__init__("; ".join(lines), errors=lines)


class NeedsOption(KvmFleetError):
    """A destructive or interrupting action is needed and the option that allows it (a boolean, by its
    name: ``needs_option``) is not set."""

    def __init__(self, action: str, option: str, **details: Any) -> None:
        super().__init__(f"{action}; set {option}: true to allow it", needs_option=option, **details)
        self.option = option


class ChangedUnderRun(KvmFleetError):
    """What a plan was made from changed before its action ran (another run, or a change by hand, made
    the object meanwhile); the action did nothing. The run plans again from what the host holds."""


class LibvirtCallFailed(KvmFleetError):
    """A libvirt call failed; ``msg`` says which operation on which object."""
