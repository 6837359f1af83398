# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
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
  action_group:
    support: full
    membership:
      - kvmfleet.kvm.kvm
    description: Set O(uri) once for every module of the collection with C(module_defaults) and C(group/kvmfleet.kvm.kvm).
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

    # modules with the in-process action plugin (plugins/plugin_utils/_inprocess.py)
    ACTION = r"""
attributes:
  action:
    support: full
    description:
      - When the managed host is the controller itself (a local connection without become, async or
        C(environment), and the controller's own Python as the interpreter), an action plugin runs the
        module's code inside Ansible's worker process instead of starting a module process. Input
        checks, behaviour and result are the same; a task costs a fraction of the time.
      - Set the variable C(kvmfleet_in_process=false) to always run a module process.
  async:
    support: full
    description: With C(async) the module always runs as a module process.
"""
