# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kvmfleet.kvm.volume: a controller-side ``src`` reaches the managed host first.

The module runs as given. Only when it reports that it needs the file (the volume does not exist
yet, and this is not check mode) is the file copied into the task's remote temporary directory
(the connection's put_file, which streams it) and the module run again with ``remote_src: true``;
the temporary directory is removed afterwards. An existing volume costs no transfer.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

MODULE = "kvmfleet.kvm.volume"


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        src = args.get("src")
        if src is None or boolean(args.get("remote_src", False), strict=False):
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result
        try:
            local = self._find_needle("files", src)
        except AnsibleError as exc:
            result.update(failed=True, msg=f"src: {exc.message}")
            return result
        try:
            first = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
            if not first.get("needs_src"):
                result.update(first)
                return result
            if self._connection._shell.tmpdir is None:
                self._make_tmp_path()
            # the file keeps its name: an import without ``name`` is named after it
            remote = self._connection._shell.join_path(self._connection._shell.tmpdir, os.path.basename(local))
            self._transfer_file(local, remote)
            self._fixup_perms2((self._connection._shell.tmpdir, remote))
            args.update(src=remote, remote_src=True)
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            result["src"] = src
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
