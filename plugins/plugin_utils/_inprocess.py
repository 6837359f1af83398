# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side: run a module's entry inside Ansible's worker when the managed host is the controller.

A module task normally costs a payload build, a new Python process and its imports: about 0.3 s here,
whatever the module does. When the task's host is the controller itself (local connection, no become,
no async, no task environment, the controller's own Python as the interpreter, the libvirt binding
importable), the same entry runs in the worker process instead: the same checks, plan, result and
hidden secrets (``_runner.run_direct``). In every other case the module runs as usual, and the
variable ``kvmfleet_in_process: false`` asks for that always.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, ClassVar

from ansible import constants
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import LIBVIRT_IMPORT_ERROR
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_direct

display = Display()
IN_PROCESS_VAR = "kvmfleet_in_process"
LOCAL_CONNECTIONS = frozenset(("local", "ansible.builtin.local", "ansible.legacy.local"))


def shown(host: str) -> Callable[[str, bool], None]:
    """Where a task's reports of long operations go, on standard error (standard output stays the
    callback's: a json callback's output is still JSON): a stage (an import, a wait, a shutdown, a
    migration starting) always; how far it is, every few seconds, on a terminal or with -v (so a log gets
    a line per stage)."""

    def show(message: str, stage: bool) -> None:
        if stage or sys.stderr.isatty() or display.verbosity >= 1:
            display.display(f"{host}: {message}", stderr=True)

    return show


class InProcessAction(ActionBase):
    """Action plugin of a module whose ``Entry`` can run in the worker process."""

    ENTRY: ClassVar[Entry]
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        if self.runs_here(task_vars):
            host = task_vars.get("inventory_hostname", "localhost")

            return merge_hash(
                result, run_direct(self.ENTRY, dict(self._task.args), bool(self._task.check_mode), shown(host))
            )
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def runs_here(self, task_vars: dict[str, Any]) -> bool:
        """Whether the module process would be this controller's Python, as this user, in this environment."""
        return (
            boolean(self._templar.template(task_vars.get(IN_PROCESS_VAR, True)), strict=False)
            and LIBVIRT_IMPORT_ERROR is None
            and getattr(self._connection, "transport", "") in LOCAL_CONNECTIONS
            and not self._play_context.become
            and not self._task.async_val
            and not self.task_environment()
            and same_python(self.interpreter(task_vars), sys.executable)
        )

    def task_environment(self) -> bool:
        """Whether the task sets environment variables for the module (``environment:``)."""
        environment = self._task.environment
        entries = environment if isinstance(environment, list) else [environment]
        return any(entries)

    def interpreter(self, task_vars: dict[str, Any]) -> str:
        """The Python the module would run under, as far as it is known without discovery ('' if not)."""
        configured = constants.config.get_config_value("INTERPRETER_PYTHON", variables=task_vars)
        value = self._templar.template(configured) if isinstance(configured, str) else ""
        if not value or value.startswith("auto"):
            value = task_vars.get("ansible_facts", {}).get("discovered_interpreter_python", "")
        return value if isinstance(value, str) else ""


def same_python(path: str, executable: str) -> bool:
    """Whether ``path`` starts the same Python with the same packages as ``executable``.

    The same binary (python and python3 of a venv are links to one) in the same directory: a virtual
    environment is found from the directory the interpreter was started from.
    """
    try:
        return os.path.dirname(os.path.abspath(path)) == os.path.dirname(os.path.abspath(executable)) and (
            os.path.samefile(path, executable)
        )
    except OSError:
        return False
