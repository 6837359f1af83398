# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pool module's main(): the option table in, converge, the pool's result out."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.options import POOL_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.plan import converge
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import TableModule, run_module


def _pool(conn: Any, module: Any) -> dict[str, Any]:
    values = {key: value for key, value in module.values.items() if key != "uri"}
    return converge(conn, module.params["uri"], values, module.check_mode)


def run_pool_module() -> None:
    module = TableModule(POOL_MODULE, supports_check_mode=True)
    run_module(module, _pool)
