# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The volume module's entry: the option table in, converge, the volume's result out."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_entry
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.options import VOLUME_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.plan import converge


def _volume(conn: Any, invocation: Any) -> dict[str, Any]:
    values = {key: value for key, value in invocation.values.items() if key != "uri"}
    if values["tmp_dir"] is None:
        # a module process stages in Ansible's remote tmp; in the worker process: the system's tmp
        values["tmp_dir"] = getattr(invocation, "tmpdir", None)
    return converge(conn, invocation.params["uri"], values, invocation.check_mode)


def _url_passwords(params: dict[str, Any]) -> set[str]:
    """Passwords inside the URLs of an import (``https://user:password@host/...``), as given and decoded:
    hidden in the result like the values of no_log options."""
    found: set[str] = set()
    for url in (params.get("url"), str(params.get("checksum") or "").partition(":")[2]):
        if not isinstance(url, str) or "@" not in url:
            continue
        try:
            password = urlsplit(url.strip()).password
        except ValueError:  # not a URL: the table says so
            continue
        if password:
            found.update({password, unquote(password)})
    return found


VOLUME_ENTRY = Entry(VOLUME_MODULE, _volume, hidden=_url_passwords)


def run_volume_module() -> None:
    run_entry(VOLUME_ENTRY)
