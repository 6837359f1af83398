# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of kvmfleet.kvm.placement: placement is pure computation over what the task is given,
so it always runs here, on the controller, whatever host the task is for."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.module import PLACEMENT_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        return merge_hash(result, run_direct(PLACEMENT_ENTRY, dict(self._task.args), bool(self._task.check_mode)))
