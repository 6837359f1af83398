# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Engine layer: the shared connection options, input checking, and the one place typed errors become failures.

A module's behaviour is an ``Entry``: its option table and its work. ``run_entry`` runs it as a module
process (``AnsibleModule``); ``run_direct`` runs the same entry inside the calling Python process (the
collection's action plugins use it when the managed host is the controller itself). Both check the
input the same way, report the same failures and hide the same secrets.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _progress
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import (
    ChangedUnderRun,
    ConnectionFailed,
    KvmFleetError,
    ValidationError,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import (
    LIBVIRT_IMPORT_ERROR,
    LIBVIRT_INSTALL_HINT,
    LIBVIRT_LIBRARY,
    connect,
    connect_within,
    libvirt,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import OptionTable, connection_options

RECONNECT_POLL = 0.5


def connection_argument_spec(**extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A fresh argument spec: the connection options plus ``extra``."""
    spec = OptionTable(connection_options()).argument_spec()
    spec.update(copy.deepcopy(extra))
    return spec


Prepare = Callable[["dict[str, Any]"], "dict[str, Any]"]
Hidden = Callable[["dict[str, Any]"], "set[str]"]
"""``hidden(params)``: secrets in raw task arguments that the option table cannot see (such as the
``defaults`` of a list module, a plain dictionary until ``prepare`` merges it into the items)."""


def read_input(
    table: OptionTable, prepare: Optional[Prepare], params: dict[str, Any], hidden: Optional[Hidden] = None
) -> tuple[dict[str, Any], list[tuple[str, str]], set[str]]:
    """Check raw task arguments with the option table: (values, problems, secrets to hide)."""
    secrets = table.secrets(params)
    if hidden is not None:
        secrets |= hidden(params)
    raw = prepare(dict(params)) if prepare else params
    secrets |= table.secrets(raw)
    values, problems = table.validate(raw)
    return values, problems, secrets


class TableModule(AnsibleModule):
    """An AnsibleModule whose input is first validated by an option table.

    Every problem is reported at once with its field path (``disks[1].size: ...``), also where
    Ansible's own argument checks would have stopped at the first one. The values of no_log options
    (also inside lists of dicts that Ansible cannot see into) are hidden from output and logs.
    """

    def __init__(
        self, table: OptionTable, prepare: Optional[Prepare] = None, hidden: Optional[Hidden] = None, **kwargs: Any
    ) -> None:
        self.table = table
        self._prepare = prepare
        self._hidden = hidden
        self.problems: list[tuple[str, str]] = []
        self.values: dict[str, Any] = {}
        super().__init__(argument_spec=table.argument_spec(), **kwargs)
        if self.problems:
            self.fail_json(msg="invalid input")

    def _load_params(self) -> None:
        super()._load_params()
        self.values, self.problems, secrets = read_input(self.table, self._prepare, self.params, self._hidden)
        self.no_log_values.update(secrets)

    def fail_json(self, msg: str, **kwargs: Any) -> None:  # type: ignore[override]
        if self.problems:  # the table's report, which covers Ansible's own argument errors
            error = ValidationError(self.problems)
            msg = error.msg
            kwargs.update(error.details)
        super().fail_json(msg=msg, **kwargs)


Work = Callable[[Any, Any], "dict[str, Any]"]
"""``work(conn, invocation)``: the invocation has ``params``, ``values``, ``check_mode`` and ``warn()``."""


@dataclass(frozen=True)
class Entry:
    """What a module does, however it is run: its option table, how raw input is prepared, its work."""

    table: OptionTable
    work: Work
    prepare: Optional[Prepare] = None
    readonly: bool = False
    hidden: Optional[Hidden] = None
    connects: bool = True  # False: the work needs no libvirt connection (``conn`` is None)


def _alive(conn: Any) -> bool:
    try:
        return bool(conn.isAlive())
    except libvirt.libvirtError:
        return False


def _attempt(work: Work, invocation: Any, readonly: bool) -> tuple[Any, bool]:
    """One connection, one run of ``work``: (its result or the error it raised, whether the connection
    was lost on the way)."""
    conn = connect(invocation.params["uri"], readonly=readonly)
    outcome: Any
    try:
        try:
            outcome = work(conn, invocation)
        except (KvmFleetError, libvirt.libvirtError) as exc:
            outcome = exc
        lost = not _alive(conn)
    finally:
        with contextlib.suppress(libvirt.libvirtError):  # a lost connection may not close cleanly
            conn.close()
    return outcome, lost


def _opens(uri: str, readonly: bool, seconds: float) -> Optional[ConnectionFailed]:
    """Whether ``uri`` opens within ``seconds``: None if it does, else why not."""
    try:
        conn = connect_within(uri, seconds, readonly=readonly)
    except ConnectionFailed as exc:
        return exc
    conn.close()
    return None


def _reconnected(uri: str, readonly: bool, timeout: int) -> None:
    """Wait until ``uri`` takes connections again (libvirtd restarting), up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        error = _opens(uri, readonly, max(deadline - time.monotonic(), RECONNECT_POLL))
        if error is None:
            return
        if time.monotonic() + RECONNECT_POLL >= deadline:
            raise ConnectionFailed(
                f"the connection to {uri} was lost during the run and could not be opened again within "
                f"{timeout} s (reconnect_timeout): {error.msg}",
                uri=uri,
            ) from error
        time.sleep(RECONNECT_POLL)


def _may_have_changed(outcome: Any, check_mode: bool) -> bool:
    """Whether a first attempt that lost its connection may have changed the host."""
    if check_mode:
        return False
    if isinstance(outcome, dict):
        return bool(outcome.get("changed"))
    if isinstance(outcome, KvmFleetError):
        return outcome.executed
    return True  # a libvirt call failed outside a plan's actions: it may have been one that changes


def connected(work: Work, invocation: Any, readonly: bool) -> dict[str, Any]:
    """Run ``work`` on a connection to ``invocation.params['uri']``.

    ``work`` runs once more from the top when the first attempt lost its connection (libvirtd restarted:
    running guests keep running, their QEMU processes are not children of the daemon; the URI is
    opened again within ``reconnect_timeout``) or found an object made meanwhile that it had planned to
    create (another run at the same time: ChangedUnderRun). It plans again from what the host holds,
    so what the first attempt finished is not done twice and what it left is done now. The result is
    ``changed`` if either attempt may have changed the host.
    """
    outcome, lost = _attempt(work, invocation, readonly)
    uri, timeout = invocation.params["uri"], invocation.params.get("reconnect_timeout") or 0
    why = None
    if lost and timeout:
        try:
            _reconnected(uri, readonly, timeout)
        except ConnectionFailed as exc:  # the host is gone: say also what the lost attempt had done
            details = outcome.details if isinstance(outcome, KvmFleetError) else {}
            raise ConnectionFailed(
                f"{exc.msg}; when it was lost: {_words(outcome)}", **{**details, **exc.details}
            ) from exc
        why = f"the connection to {uri} was lost during the run ({_words(outcome)}); it was opened again and"
    elif isinstance(outcome, ChangedUnderRun):
        why = f"{outcome.msg}:"
    if why:
        first_changed = _may_have_changed(outcome, invocation.check_mode)
        invocation.warn(f"{why} the run planned again from what the host holds")
        outcome, _lost = _attempt(work, invocation, readonly)
        if isinstance(outcome, dict) and first_changed:
            outcome["changed"] = True
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _words(outcome: Any) -> str:
    if isinstance(outcome, KvmFleetError):
        return outcome.msg
    if isinstance(outcome, libvirt.libvirtError):
        return str(outcome.get_error_message())
    return "noticed after the work had finished"


def perform(work: Work, invocation: Any, readonly: bool, connects: bool = True) -> dict[str, Any]:
    """Run ``work`` (on a connection to ``invocation.params['uri']`` unless it ``connects`` to none);
    typed and libvirt errors become a failed result."""
    try:
        if not connects:
            return work(None, invocation)
        return connected(work, invocation, readonly)
    except KvmFleetError as exc:
        return {"failed": True, "msg": exc.msg, **exc.details}
    except libvirt.libvirtError as exc:
        return {
            "failed": True,
            "msg": f"libvirt error: {exc.get_error_message()}",
            "libvirt_error_code": exc.get_error_code(),
        }


def run_module(module: AnsibleModule, work: Work, readonly: bool = False, connects: bool = True) -> None:
    """Run ``work`` for a module process and exit with its result (or its failure)."""
    if connects and LIBVIRT_IMPORT_ERROR is not None:
        module.fail_json(
            msg=missing_required_lib(LIBVIRT_LIBRARY, reason=LIBVIRT_INSTALL_HINT),
            exception=LIBVIRT_IMPORT_ERROR,
        )
    result = perform(work, module, readonly, connects)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


def run_entry(entry: Entry) -> None:
    """A module's ``main()``: read the task arguments with the entry's table, run, exit."""
    module = TableModule(entry.table, prepare=entry.prepare, hidden=entry.hidden, supports_check_mode=True)
    run_module(module, entry.work, entry.readonly, entry.connects)


@dataclass
class DirectInvocation:
    """What ``work`` sees when it runs in the calling process instead of a module process."""

    params: dict[str, Any]
    values: dict[str, Any]
    check_mode: bool
    warnings: list[str] = field(default_factory=list)
    # where long operations (a migration, a drain) report how far they are; a module process has none
    progress: Optional[Callable[[str], None]] = None

    def warn(self, warning: str) -> None:
        self.warnings.append(warning)


def _hiding(sink: Optional[_progress.Sink], secrets: set[str]) -> Optional[_progress.Sink]:
    """``sink`` with the task's secrets masked in every message, as in its result."""
    if sink is None:
        return None
    target = sink

    def masked(message: str, stage: bool) -> None:
        target(str(remove_values(message, secrets)), stage)

    return masked


def plain(args: dict[str, Any]) -> dict[str, Any]:
    """Task arguments in plain JSON types, as a module process receives them. The controller hands an action
    plugin its own types (strings, lists and dicts that carry where each value came from), which the
    argument checks copy about fifty times more slowly: 0.6 s for 500 guests, against 10 ms for this."""
    try:
        return json.loads(json.dumps(args))
    except (TypeError, ValueError):  # not JSON (a module could not be sent it either): Ansible's checks say so
        return args


def run_direct(
    entry: Entry, args: dict[str, Any], check_mode: bool, sink: Optional[_progress.Sink] = None
) -> dict[str, Any]:
    """Run ``entry`` in this process with the task arguments ``args``; return the task result.

    The same checks, result and hiding of secrets as ``run_entry`` in a module process. The libvirt
    binding must be importable (callers fall back to a module process when it is not). ``sink`` gets
    the reports of long operations (``_progress``), with the task's secrets hidden.
    """
    args = plain(args)
    values, problems, secrets = read_input(entry.table, entry.prepare, args, entry.hidden)
    checked = ArgumentSpecValidator(entry.table.argument_spec()).validate(args)
    secrets |= checked._no_log_values  # the validator records them here
    if problems:
        error = ValidationError(problems)
        result: dict[str, Any] = {"failed": True, "msg": error.msg, **error.details}
    elif checked.error_messages:
        result = {"failed": True, "msg": checked.errors.msg}
    else:
        hidden = _hiding(sink, secrets)
        progress = (lambda message: hidden(message, False)) if hidden is not None else None
        invocation = DirectInvocation(checked.validated_parameters, values, check_mode, progress=progress)
        with _progress.reporting(hidden):
            result = perform(entry.work, invocation, entry.readonly, entry.connects)
        if invocation.warnings:
            result["warnings"] = invocation.warnings
        result["invocation"] = {"module_args": invocation.params}
    return remove_values(result, secrets) if secrets else result  # nothing to hide: no copy to walk
