# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of kvmfleet.kvm.fleet_report: the report reads every hypervisor over its URI and writes its
files on the controller, so it always runs here, whatever host the task is for."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import LIBVIRT_IMPORT_ERROR, LIBVIRT_INSTALL_HINT
from ansible_collections.kvmfleet.kvm.plugins.module_utils._report.module import REPORT_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct
from ansible_collections.kvmfleet.kvm.plugins.plugin_utils._inprocess import shown


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        if LIBVIRT_IMPORT_ERROR is not None:
            result.update(
                failed=True,
                msg="the fleet report reads the hypervisors from the controller, which needs the libvirt Python "
                f"binding: {LIBVIRT_INSTALL_HINT}",
            )
            return result
        host = (task_vars or {}).get("inventory_hostname", "localhost")
        return merge_hash(
            result, run_direct(REPORT_ENTRY, dict(self._task.args), bool(self._task.check_mode), shown(host))
        )
