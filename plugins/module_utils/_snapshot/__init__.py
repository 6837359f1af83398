# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resource layer for ``snapshot`` and ``snapshot_info``: named snapshots of a guest, declared.

``options.py`` is the table, ``xml.py`` the snapshot XML both ways and what a guest's disks allow,
``plan.py`` the plan (take, compare, delete with retention, revert) and ``module.py`` the entries.
"""
