#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_conf
short_description: Settings in a libvirt configuration file (libvirtd.conf, qemu.conf, ...)
version_added: 0.1.0
description:
  - Sets or removes settings in a file of libvirt's configuration syntax (C(name = value) lines, values
    are quoted strings, integers, 0/1 booleans or lists of strings) and leaves everything else in the
    file as it is, comments included.
  - Every name and value type is checked before the file is touched, against the Augeas lens libvirt
    installs for the file (C(/usr/share/augeas/lenses/libvirtd.aug) for C(libvirtd.conf),
    C(libvirtd_qemu.aug) for C(qemu.conf), and so on); every problem is reported at once with its field
    path, for example C(settings.max_clients - expects an integer).
  - A new setting is written under its commented-out example when the file has one, otherwise at the
    end of the file. A setting that appears more than once is reduced to one line.
  - The module only edits the file. The daemon that reads it picks the change up when it is restarted;
    the P(kvmfleet.kvm.host#role) role does that in a handler (and applies the settings libvirt can
    change at run time without a restart).
  - Values of settings whose names end in C(_password) are hidden from the output.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.attributes.converge
options:
  path:
    description: The configuration file, for example C(/etc/libvirt/qemu.conf). It must exist.
    type: path
    required: true
  settings:
    description:
      - Setting name -> value. A boolean becomes V(1)/V(0); a list must hold strings.
      - V(null) removes the setting from the file (libvirt then uses its built-in default).
      - Settings not named here are left alone.
    type: dict
    required: true
  schema:
    description:
      - Where the names and types of the file's settings come from.
      - V(auto) reads the Augeas lens libvirt installs for a file of that name under
        C(/usr/share/augeas/lenses); a path names a lens file; V(none) checks only the syntax of names
        and values (for files libvirt ships no lens for).
    type: str
    default: auto
  backup:
    description: Keep a copy of the file, with a timestamp in its name, before changing it.
    type: bool
    default: false
attributes:
  platform:
    support: full
    platforms: posix
    description: Needs only Python's standard library on the host that holds the file.
seealso:
  - name: libvirtd.conf and qemu.conf settings
    description: The example files libvirt ships document every setting.
    link: https://libvirt.org/daemons.html
"""

EXAMPLES = r"""
- name: Let members of the libvirt group manage the daemon and listen for TLS migrations
  kvmfleet.kvm.libvirt_conf:
    path: /etc/libvirt/libvirtd.conf
    settings:
      unix_sock_group: libvirt
      listen_tls: true
      max_clients: 200
  register: libvirtd_conf

- name: QEMU settings; remove a setting by giving it null
  kvmfleet.kvm.libvirt_conf:
    path: /etc/libvirt/qemu.conf
    settings:
      set_process_name: true
      cgroup_device_acl: [/dev/null, /dev/full, /dev/zero, /dev/random, /dev/urandom, /dev/kvm]
      max_files: 32768
      vnc_listen: null
    backup: true

- name: A file libvirt ships no Augeas lens for
  kvmfleet.kvm.libvirt_conf:
    path: /etc/libvirt/virtproxyd.conf
    settings:
      max_clients: 100
    schema: none
"""

RETURN = r"""
actions:
  description: What was (in check mode, would be) changed, in order.
  returned: always
  type: list
  elements: str
  sample: ["set max_clients = 200", "remove vnc_listen"]
changed_settings:
  description: Names of the settings the run changed.
  returned: always
  type: list
  elements: str
  sample: [max_clients, vnc_listen]
settings:
  description: The value of every setting named in O(settings) as the file holds it after the run (V(null) when it is not set); booleans as 0/1.
  returned: always
  type: dict
  sample: {"max_clients": 200, "listen_tls": 1, "vnc_listen": null}
diff:
  description:
    - The settings that differ, with their values before and after the run (also in check mode); a setting
      the run removes is only in C(before), one it adds only in C(after).
  returned: always
  type: dict
  sample:
    before: {"max_clients": 20}
    after: {"max_clients": 200, "listen_tls": 0}
    before_header: /etc/libvirt/libvirtd.conf
    after_header: /etc/libvirt/libvirtd.conf
backup_file:
  description: The copy made before the change.
  returned: when O(backup=true) and the file changed
  type: str
  sample: /etc/libvirt/qemu.conf.12345.2026-11-23@21:30:00~
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt_conf import run_conf_module


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "settings": {"type": "dict", "required": True},
            "schema": {"type": "str", "default": "auto"},
            "backup": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    run_conf_module(module)


if __name__ == "__main__":
    main()
