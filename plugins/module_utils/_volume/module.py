# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The volume module's entry: the option table in, converge, the volume's result out."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_entry
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.options import VOLUME_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.plan import converge


def _volume(conn: Any, invocation: Any) -> dict[str, Any]:
    values = {key: value for key, value in invocation.values.items() if key != "uri"}
    if values["tmp_dir"] is None:
        # a module process stages in Ansible's remote tmp; in the worker process: the system's tmp
        values["tmp_dir"] = getattr(invocation, "tmpdir", None)
    return converge(conn, invocation.params["uri"], values, invocation.check_mode)


VOLUME_ENTRY = Entry(VOLUME_MODULE, _volume)


def run_volume_module() -> None:
    run_entry(VOLUME_ENTRY)
