# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt connection options shared by every module of kvmfleet.kvm."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  uri:
    description:
      - The libvirt connection URI of the hypervisor, for example V(qemu:///system) (local),
        V(qemu+ssh://root@hv1.example.com/system) or V(qemu+tls://hv1.example.com/system).
      - The module runs on the target host and opens this URI from there.
      - Set it once for every module of the collection with C(module_defaults) and the
        C(group/kvmfleet.kvm.kvm) action group.
    type: str
    default: qemu:///system
  reconnect_timeout:
    description:
      - How long, in seconds, to wait for the libvirt daemon at O(uri) to take connections again when
        the connection to it is lost during the run (libvirtd restarted or upgraded; running guests keep
        running through that).
      - The module then runs once more from the top on a new connection. It plans again from what the
        host holds, so a step the first attempt finished is not done twice; it warns that this happened,
        and reports C(changed) if either attempt may have changed the host.
      - V(0) fails at once instead, with the error the lost connection gave.
    type: int
    default: 30
requirements:
  - The libvirt Python binding on the host that runs the module (C(python3-libvirt) from the
    distribution, or C(libvirt-python) from PyPI).
"""
