# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes shared by the modules of kvmfleet.kvm."""

from __future__ import annotations


class ModuleDocFragment:
    # every module
    DOCUMENTATION = r"""
attributes:
  platform:
    support: full
    platforms: posix
    description: Runs where the libvirt Python binding is installed, usually the hypervisor itself.
"""

    # modules that change libvirt objects
    CONVERGE = r"""
attributes:
  check_mode:
    support: full
    description:
      - The same plan as a real run is made; only the calls that change the host are skipped.
      - V(changed), the diff and the actions are the same as in a real run.
  diff_mode:
    support: full
    description: The diff holds only the options that differ.
  idempotent:
    support: full
    description: A second run with the same options changes nothing.
"""

    # modules that only read
    INFO = r"""
attributes:
  check_mode:
    support: full
    description: Reads only; behaves the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  idempotent:
    support: full
    description: Reads only.
"""
