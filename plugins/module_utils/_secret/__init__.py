# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt secrets (the ``secret`` module): ``options.py`` the table, ``plan.py`` the plan, ``module.py`` the entry."""
