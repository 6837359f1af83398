# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resource layer for ``host_bridges``: the host's Linux bridges and VLANs, persisted with its network stack.

``options.py`` is the table and the checks, ``render.py`` what each backend's files say, ``host.py`` what
is installed and running, ``agent.py`` the on-host script that switches with an armed rollback, and
``module.py`` the module's work. No libvirt is needed.
"""
