# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pool module's entry: the option table in, converge, the pool's result out."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.options import POOL_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.plan import converge
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_entry


def _pool(conn: Any, invocation: Any) -> dict[str, Any]:
    values = {key: value for key, value in invocation.values.items() if key != "uri"}
    return converge(conn, invocation.params["uri"], values, invocation.check_mode)


POOL_ENTRY = Entry(POOL_MODULE, _pool)


def run_pool_module() -> None:
    run_entry(POOL_ENTRY)
