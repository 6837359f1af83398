# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground layer: how far a long operation is, for a person watching the play.

``report(key, message)`` may be called from anywhere in a module's work (any thread). The first report
of a ``key`` is a stage: "importing web1.qcow2", "waiting for the address of web1". Later ones are
progress, passed on at most every ``INTERVAL`` seconds per key. Where they go is set by the run
(``reporting``): the in-process action plugin shows stages with Ansible's display, and progress too when
its output is a terminal (otherwise with ``-v``). A module process has no channel to the controller
while it runs, so there reports go nowhere. Messages never hold secrets (a URL's credentials, values).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable, Optional
from urllib.parse import urlsplit, urlunsplit

Sink = Callable[[str, bool], None]  # (message, whether it is a stage)
INTERVAL = 5.0


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sink: Optional[Sink] = None
        self.seen: dict[str, float] = {}


_STATE = _State()


@contextmanager
def reporting(sink: Optional[Sink]) -> Iterator[None]:
    """Send the reports of the work inside to ``sink`` (None: nowhere)."""
    with _STATE.lock:
        previous, _STATE.sink = _STATE.sink, sink
        _STATE.seen.clear()
    try:
        yield
    finally:
        with _STATE.lock:
            _STATE.sink = previous
            _STATE.seen.clear()


def shown_source(text: str) -> str:
    """A source as a report names it: a URL without its user name and password."""
    parts = urlsplit(text)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return text


def amount(done: int, total: Optional[int], began: float, now: Optional[float] = None) -> str:
    """How far a transfer is: MiB done (of the total), and the rate since it began."""
    seconds = max((time.monotonic() if now is None else now) - began, 1e-6)
    mib = done / 2**20
    part = f"{mib:.0f} of {total / 2**20:.0f} MiB ({100 * done / total:.0f}%)" if total else f"{mib:.0f} MiB"
    return f"{part}, {mib / seconds:.1f} MiB/s"


def report(key: str, message: str, now: Optional[float] = None) -> None:
    """Report ``message`` for the operation ``key`` (the first is its stage; then at most every INTERVAL s)."""
    moment = time.monotonic() if now is None else now
    with _STATE.lock:
        sink = _STATE.sink
        if sink is None:
            return
        last = _STATE.seen.get(key)
        if last is not None and moment - last < INTERVAL:
            return
        _STATE.seen[key] = moment
    sink(message, last is None)
