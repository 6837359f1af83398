# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Engine layer: a plan for one object - ordered actions (a description and a closure) and a diff.

The same plan is made in check mode and in a real run; only ``execute`` is skipped in check mode,
so ``changed``, the diff and the actions are the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _faults
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import ChangedUnderRun, KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import DiffTracker


@dataclass
class Action:
    description: str
    run: Callable[[], None]


def run_actions(actions: list[Action], label: str, **details: Any) -> None:
    """Run ``actions`` in order, each through its fault point.

    A failure is a KvmFleetError marked ``executed`` whose message names the object (``label``) and
    the action, with ``done``: the actions that completed before it (and ``details``).
    """
    lv = require_libvirt()
    for index, action in enumerate(actions):
        done = [a.description for a in actions[:index]]
        try:
            _faults.run(action.description, action.run)
        except KvmFleetError as exc:
            exc.details.setdefault("done", done)
            exc.executed = bool(done) or not isinstance(exc, ChangedUnderRun)  # that one did nothing
            raise
        except (lv.libvirtError, OSError) as exc:  # OSError: files an action writes itself (an import)
            words = exc.get_error_message() if isinstance(exc, lv.libvirtError) else str(exc)
            error = KvmFleetError(f"{label}: {action.description} failed: {words}", done=done, **details)
            error.executed = True
            raise error from exc


@dataclass
class Plan:
    """What one module run does to one object (a guest, a network, a pool, a volume)."""

    kind: str  # "guest", "pool", "volume": used in messages
    name: str
    diff: DiffTracker = field(default_factory=DiffTracker)
    actions: list[Action] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    @property
    def header(self) -> str:
        """How messages and the diff name the object."""
        return f"{self.kind} {self.name}"

    @property
    def details(self) -> dict[str, Any]:
        """What a failure returns besides its message."""
        return {}

    def add(self, description: str, run: Callable[[], None]) -> None:
        self.actions.append(Action(description, run))

    def execute(self) -> None:
        """Run the actions in order; a failure names the action and what was done before it."""
        run_actions(self.actions, self.header, **self.details)

    def result(self, **facts: Any) -> dict[str, Any]:
        diff = self.diff.diff()
        return {
            "name": self.name,
            "changed": self.changed,
            "actions": [action.description for action in self.actions],
            "diff": {
                "before": diff["before"],
                "after": diff["after"],
                "before_header": self.header,
                "after_header": self.header,
            },
            **facts,
        }
