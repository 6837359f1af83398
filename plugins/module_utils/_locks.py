# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground layer: locks that make runs on one machine that change the same object take turns.

A lock is ``flock`` on a small file per (libvirt URI, kind, name) in ``/run/lock`` (or the temporary
directory where that is not writable): the second run waits until the first has planned and acted, then
plans from what the first left. The kernel drops the lock of a killed run with the run. The files stay
(they are empty; removing a lock file races with the next run opening it) and go with ``/run`` at boot.
Runs on different machines against the same remote URI do not see each other's locks; what they race
on is judged by the end state and planned again (see ``_runner.connected``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import IO, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError

WAIT = 600.0  # seconds another run's turn is waited for
POLL = 0.05


def lock_dir() -> str:
    return "/run/lock" if os.access("/run/lock", os.W_OK) else tempfile.gettempdir()


def lock_path(uri: str, kind: str, name: str) -> str:
    digest = hashlib.sha256(f"{uri}\0{kind}\0{name}".encode()).hexdigest()[:16]
    return os.path.join(lock_dir(), f"kvmfleet-{kind}-{digest}.lock")


def _take(handle: IO[str], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise KvmFleetError(
                    f"{what} is being changed by another run on this machine (lock {handle.name}) "
                    f"for more than {timeout:g} s"
                ) from None
            time.sleep(POLL)


def _open(path: str) -> Optional[IO[str]]:
    """The lock file, opened for reading (flock needs no more; a file another user made in the sticky
    lock directory can still be opened so, where fs.protected_regular refuses to write it); None where it
    cannot be opened at all: then this run does not take turns."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
    return os.fdopen(fd, "r", encoding="utf-8")


@contextlib.contextmanager
def turns(uri: str, kind: str, names: Iterable[str], timeout: float = WAIT) -> Iterator[None]:
    """Hold the locks of ``names`` (``kind`` objects of ``uri``), taken in name order so two runs
    that want several at once cannot each wait for the other."""
    with contextlib.ExitStack() as stack:
        for name in sorted(set(names)):
            handle = _open(lock_path(uri, kind, name))
            if handle is None:
                continue
            stack.enter_context(handle)
            _take(handle, f"{kind} {name}", timeout)
        yield
