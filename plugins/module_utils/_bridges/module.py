# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resource layer for ``host_bridges``: the host's Linux bridges and VLANs, persisted with its network stack.

``options.py`` is the table and the checks, ``render.py`` what each backend's files say, ``host.py`` what
is installed and running, ``agent.py`` the on-host script that switches with an armed rollback, and
``module.py`` the module's work. No libvirt is needed.

The work of ``kvmfleet.kvm.host_bridges``: check, compare, and apply through the agent.

Every value is checked against the others and the host's interfaces before anything is touched. The
configuration is rendered in memory and compared with the installed files and with what runs (ports in
their bridges, interfaces up, static IPv4 addresses on their bridges); while a rollback of an earlier
apply is pending, with the configuration that rollback restores. Check mode stops there and writes
nothing. A real run holds the state directory's lock, waits for a pending rollback first, then writes
the configuration and the agent into the state directory and runs the agent, which switches with an
armed rollback (``agent.py``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._bridges import agent
from ansible_collections.kvmfleet.kvm.plugins.module_utils._bridges.host import (
    Armed,
    Links,
    detect_backend,
    installed,
    main_interfaces,
    read_dir,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._bridges.options import HOST_BRIDGES_MODULE, problems
from ansible_collections.kvmfleet.kvm.plugins.module_utils._bridges.render import install_path, ports, render
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry


@contextlib.contextmanager
def _locked(state_dir: str) -> Iterator[int]:
    """Hold ``state_dir/lock`` (another run, and the rollback while it restores, take it too)."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(state_dir, "lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _body(text: Optional[str]) -> Optional[str]:
    """A file without its "managed" header line: a header that changed (the role's ``ansible_managed``
    before the module) is no change of the configuration."""
    if text is None:
        return None
    first, _sep, rest = text.partition("\n")
    return rest if first.startswith("#") and "managed" in first.lower() else text


def _diff(backend: str, before: dict[str, str], after: dict[str, str]) -> list[dict[str, str]]:
    return [
        {
            "before_header": install_path(backend, name),
            "after_header": install_path(backend, name),
            "before": before.get(name, ""),
            "after": after.get(name, ""),
        }
        for name in sorted(set(before) | set(after))
        if _body(before.get(name)) != _body(after.get(name))
    ]


class Comparison:
    """What the host holds against the rendered configuration ``files``."""

    def __init__(self, values: dict[str, Any], backend: str, files: dict[str, str], armed: Armed) -> None:
        self.pending = armed.pending()
        if self.pending:  # an apply starts from what the pending rollback restores
            self.before = read_dir(os.path.join(values["state_dir"], "backup"))
            self.drift: list[str] = []
        else:
            self.before = installed(backend)
            self.drift = Links().drift(values, backend)
        self.diff = _diff(backend, self.before, files)
        self.changed = bool(self.diff or self.drift)


def _write_state(values: dict[str, Any], backend: str, files: dict[str, str], current: dict[str, str]) -> None:
    state = values["state_dir"]
    for name, content in (("stage", files), ("current", current)):
        path = os.path.join(state, name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, mode=0o700)
        for file, text in content.items():
            with open(os.path.join(path, file), "w", encoding="utf-8", errors="surrogateescape") as handle:
                handle.write(text)
    settings = (
        f"BACKEND={backend}\nCHECK_TIMEOUT={values['check_timeout']}\nROLLBACK_TIMEOUT={values['rollback_timeout']}\n"
    )
    for name, text in (
        ("ports", "".join(f"{p}\n" for p in ports(values))),
        ("targets", "".join(f"{t}\n" for t in values["check_targets"])),
        ("settings", settings),
        (agent.NAME, agent.SCRIPT),
    ):
        with open(os.path.join(state, name), "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(os.path.join(state, name), 0o700 if name == agent.NAME else 0o600)


def _apply(values: dict[str, Any], output: list[str]) -> None:
    state = values["state_dir"]
    proc = subprocess.run(["bash", os.path.join(state, agent.NAME), state], capture_output=True, text=True, check=False)
    output.extend(proc.stdout.splitlines())
    last = output[-1] if output else ""
    if proc.returncode != 0 or last != "changed":
        why = (
            last
            if last.startswith("failed: ")
            else f"failed: the agent exited {proc.returncode}: {proc.stderr.strip()}"
        )
        raise KvmFleetError(why[len("failed: ") :], output=output)


def _result(backend: str, files: dict[str, str], comparison: Comparison, changed: bool, **more: Any) -> dict[str, Any]:
    return {
        "changed": changed,
        "backend": backend,
        "files": {install_path(backend, name): text for name, text in files.items()},
        "drift": comparison.drift,
        "diff": comparison.diff,
        **more,
    }


def _render(values: dict[str, Any]) -> dict[str, str]:
    backend = values["backend"]
    return render(values, backend, main_interfaces() if backend == "ifupdown" else None)


def _host_bridges(_conn: Any, invocation: Any) -> dict[str, Any]:
    values = dict(invocation.values)
    values["backend"] = backend = detect_backend() if values["backend"] == "auto" else values["backend"]
    found = problems(values, Links().kinds())
    if found:
        raise ValidationError(found)
    if invocation.check_mode:
        files, armed = _render(values), Armed(values["state_dir"])
        comparison = Comparison(values, backend, files, armed)
        notes = [armed.note()] if comparison.pending else []
        for note in notes:
            invocation.warn(note)
        return _result(backend, files, comparison, comparison.changed, output=notes)
    output: list[str] = []
    while True:
        with _locked(values["state_dir"]):
            armed = Armed(values["state_dir"])
            if not armed.pending():  # rendered from what is installed now, under the lock
                files = _render(values)
                comparison = Comparison(values, backend, files, armed)
                if not comparison.changed:
                    return _result(backend, files, comparison, False, output=output)
                _write_state(values, backend, files, installed(backend))
                _apply(values, output)
                break
        armed.wait(output)  # without the lock: the rollback takes it to restore
    for line in output:
        if line.startswith("note: "):
            invocation.warn(line[len("note: ") :])
    return _result(backend, files, comparison, True, output=output)


HOST_BRIDGES_ENTRY = Entry(HOST_BRIDGES_MODULE, _host_bridges, connects=False)
"""Module entry for ``kvmfleet.kvm.host_bridges``."""
