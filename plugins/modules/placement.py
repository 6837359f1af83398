#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: placement
short_description: TODO
"""

EXAMPLES = r"""
"""

RETURN = r"""
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.module import run_placement_module


def main() -> None:
    run_placement_module()


if __name__ == "__main__":
    main()
