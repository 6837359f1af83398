# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Engine layer: the shared connection options and the one place typed errors become ``fail_json``."""

from __future__ import annotations

import copy
from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, LibvirtMissing
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import (
    DEFAULT_URI,
    LIBVIRT_IMPORT_ERROR,
    LIBVIRT_INSTALL_HINT,
    LIBVIRT_LIBRARY,
    connect,
    libvirt,
)

# The options every module of the collection shares; documented by the kvmfleet.kvm.connection fragment.
_CONNECTION_ARGSPEC: dict[str, dict[str, Any]] = {
    "uri": {"type": "str", "default": DEFAULT_URI},
}


def connection_argument_spec(**extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A fresh argument spec: the connection options plus ``extra``."""
    spec = copy.deepcopy(_CONNECTION_ARGSPEC)
    spec.update(extra)
    return spec


Work = Callable[[Any, AnsibleModule], "dict[str, Any]"]


def run_module(module: AnsibleModule, work: Work, readonly: bool = False) -> None:
    """Connect to ``module.params['uri']``, run ``work(conn, module)`` and exit with its result.

    Every KvmFleetError and libvirt error ends here as ``fail_json`` with a message; nothing else
    in the collection calls ``fail_json``.
    """
    if LIBVIRT_IMPORT_ERROR is not None:
        module.fail_json(
            msg=missing_required_lib(LIBVIRT_LIBRARY, reason=LIBVIRT_INSTALL_HINT),
            exception=LIBVIRT_IMPORT_ERROR,
        )
    try:
        conn = connect(module.params["uri"], readonly=readonly)
        try:
            result = work(conn, module)
        finally:
            conn.close()
    except LibvirtMissing as exc:  # pragma: no cover - guarded above
        module.fail_json(msg=exc.msg, **exc.details)
    except KvmFleetError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    except libvirt.libvirtError as exc:
        module.fail_json(msg=f"libvirt error: {exc.get_error_message()}", libvirt_error_code=exc.get_error_code())
    module.exit_json(**result)
