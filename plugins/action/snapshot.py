# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of kvmfleet.kvm.snapshot: runs the module in Ansible's worker when the host is the controller."""

from __future__ import annotations

from ansible_collections.kvmfleet.kvm.plugins.module_utils._snapshot.module import SNAPSHOT_ENTRY as ENTRY
from ansible_collections.kvmfleet.kvm.plugins.plugin_utils._inprocess import InProcessAction


class ActionModule(InProcessAction):
    ENTRY = ENTRY
