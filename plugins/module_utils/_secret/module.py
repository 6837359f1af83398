# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt secrets (the ``secret`` module): ``options.py`` the table, ``plan.py`` the plan, ``module.py`` the entry.

The ``secret`` module's entry: plan the task, run it unless in check mode, the secret's facts out.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry
from ansible_collections.kvmfleet.kvm.plugins.module_utils._secret.options import SECRET_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._secret.plan import UNKNOWN, SecretPlanner


def _secret(conn: Any, invocation: Any) -> dict[str, Any]:
    planner = SecretPlanner(conn, dict(invocation.values))
    plan = planner.make()
    if not invocation.check_mode:
        plan.execute()
    values = planner.want
    result = plan.result(usage=values["usage"], usage_id=values["usage_id"], state=values["state"])
    if planner.facts is not None:
        uuid = planner.facts.get("uuid") if invocation.check_mode else planner.uuid_after()
        result.update(
            uuid=uuid,
            description=planner.facts["description"],
            private=planner.facts["private"],
            ephemeral=planner.facts["ephemeral"],
            has_value=None if planner.has_value is UNKNOWN else planner.has_value,
        )
    return result


SECRET_ENTRY = Entry(SECRET_MODULE, _secret)
"""Module entry for ``kvmfleet.kvm.secret``."""
