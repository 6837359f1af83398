# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The volume module's main(): the option table in, converge, the volume's result out."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import TableModule, run_module
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.options import VOLUME_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.plan import converge


def _volume(conn: Any, module: Any) -> dict[str, Any]:
    values = {key: value for key, value in module.values.items() if key != "uri"}
    if values["tmp_dir"] is None:
        values["tmp_dir"] = module.tmpdir
    return converge(conn, module.params["uri"], values, module.check_mode)


def run_volume_module() -> None:
    module = TableModule(VOLUME_MODULE, supports_check_mode=True)
    run_module(module, _volume)
