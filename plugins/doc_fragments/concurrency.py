# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the guest modules do when several runs change the same guests at once."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
notes:
  - Runs on one machine that change the same guest take turns - a guest's lock (a file in C(/run/lock))
    is held from its plan to its last action - so a second run plans from what the first left and
    changes nothing twice. Runs from different machines against the same remote O(uri) do not share
    the lock; a guest one of them defined after the other planned to create it makes the other plan
    again (with a warning), and a volume libvirt is still creating for one is waited for by the other.
"""
