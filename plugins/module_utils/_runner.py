# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Engine layer: the shared connection options and the one place typed errors become ``fail_json``."""

from __future__ import annotations

import copy
from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import (
    DEFAULT_URI,
    LIBVIRT_IMPORT_ERROR,
    LIBVIRT_INSTALL_HINT,
    LIBVIRT_LIBRARY,
    connect,
    libvirt,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import CONTROL, Option, OptionTable


def connection_options() -> list[Option]:
    """The options every module of the collection shares; documented by the kvmfleet.kvm.connection fragment."""
    return [Option("uri", default=DEFAULT_URI, update=CONTROL)]


def connection_argument_spec(**extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A fresh argument spec: the connection options plus ``extra``."""
    spec = OptionTable(connection_options()).argument_spec()
    spec.update(copy.deepcopy(extra))
    return spec


class TableModule(AnsibleModule):
    """An AnsibleModule whose input is first validated by an option table.

    Every problem is reported at once with its field path (``disks[1].size: ...``), also where
    Ansible's own argument checks would have stopped at the first one. The values of no_log options
    (also inside lists of dicts that Ansible cannot see into) are hidden from output and logs.
    """

    def __init__(
        self,
        table: OptionTable,
        prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.table = table
        self._prepare = prepare
        self.problems: list[tuple[str, str]] = []
        self.values: dict[str, Any] = {}
        super().__init__(argument_spec=table.argument_spec(), **kwargs)
        if self.problems:
            self.fail_json(msg="invalid input")

    def _load_params(self) -> None:
        super()._load_params()
        self.no_log_values.update(self.table.secrets(self.params))
        raw = self._prepare(dict(self.params)) if self._prepare else self.params
        self.no_log_values.update(self.table.secrets(raw))
        self.values, self.problems = self.table.validate(raw)

    def fail_json(self, msg: str, **kwargs: Any) -> None:  # type: ignore[override]
        if self.problems:  # the table's report, which covers Ansible's own argument errors
            error = ValidationError(self.problems)
            msg = error.msg
            kwargs.update(error.details)
        super().fail_json(msg=msg, **kwargs)


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
    except KvmFleetError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    except libvirt.libvirtError as exc:
        module.fail_json(msg=f"libvirt error: {exc.get_error_message()}", libvirt_error_code=exc.get_error_code())
    module.exit_json(**result)
