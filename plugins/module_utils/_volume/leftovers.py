# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a killed import leaves, and how the next import of the same name knows it and removes it.

An import writes its unverified data under a hidden name (``partial_name``: when, which machine, which
process, a random part) and holds a lock on a partial file while it writes. A run that is killed (not
failed: a failure removes its own data) cannot clean up; the next import of the same name removes the
partial files nobody holds (``remove_stale_partials``) and the staging volumes whose process is gone or
that nobody wrote to for long (``remove_stale_staging``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import socket
import time
import xml.etree.ElementTree as ET
from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import ops

STALE_PARTIAL = 600  # seconds without a write after which a hidden partial file is left over from a killed run
# a staging volume whose pool reports no modification time (LVM, ZFS, RBD): left over after this long
STALE_UNTIMED = 24 * 3600


def partial_prefix(name: str) -> str:
    """The start of the hidden names an import of ``name`` writes into before the data is verified."""
    return f".{name}.kvmfleet-part-"


def machine_tag() -> str:
    """A short tag of the machine that runs the import (its machine id, else its host name)."""
    try:
        with open("/etc/machine-id", encoding="ascii") as handle:
            identity = handle.read().strip()
    except OSError:
        identity = ""
    return hashlib.sha256((identity or socket.gethostname()).encode()).hexdigest()[:8]


def partial_name(name: str) -> str:
    """A hidden name for the unverified data of ``name``: when it was started, by which machine and
    process, and a random part."""
    return f"{partial_prefix(name)}{int(time.time())}-{machine_tag()}-{os.getpid()}-{secrets.token_hex(4)}"


def _process_alive(pid: str) -> bool:
    """Whether process ``pid`` of this machine runs (a zombie - killed, not yet reaped - does not)."""
    if not pid.isdigit():
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc here
        pass
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def hold(fd: int) -> None:
    """Lock a partial file this run writes (the lock goes with the process, also when it is killed)."""
    with contextlib.suppress(OSError):  # a filesystem without locks: the age rule below still applies
        fcntl.flock(fd, fcntl.LOCK_EX)


def _nobody_holds(path: str) -> bool:
    """Whether no process holds the lock of a partial file: its run ended (a killed run's lock is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # no locks on this filesystem
        return False
    finally:
        os.close(fd)
    return True


def remove_stale_partials(directory: str, name: str) -> None:
    """Remove hidden partial files of ``name`` that a killed run left.

    A run that is killed (not failed: a failure removes its own file) cannot clean up. A transfer in
    progress holds a lock on its file, which dies with its process: a file nobody holds is a killed
    run's. Where the filesystem has no locks, a file without a write for STALE_PARTIAL seconds is.
    """
    cutoff = time.time() - STALE_PARTIAL
    for entry in os.scandir(directory):
        if entry.name.startswith(partial_prefix(name)) and (
            _nobody_holds(entry.path) or entry.stat().st_mtime < cutoff
        ):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def remove_stale_staging(pool: Any, name: str) -> None:
    """Delete the hidden staging volumes of ``name`` that a killed stream import left in ``pool``.

    One this machine started is stale once the process that started it is gone (a killed run's: the
    next run deletes it at once). One of another machine is stale after no write for
    STALE_PARTIAL seconds where the pool reports a modification time (pools of files), else when it
    was started more than STALE_UNTIMED seconds ago (the time in the name); a staging volume of an
    import in progress elsewhere is left alone.
    """
    lv = ops.require_libvirt()
    prefix, now, mine = partial_prefix(name), time.time(), machine_tag()
    with contextlib.suppress(lv.libvirtError):
        pool.refresh(0)
    for vol in pool.listAllVolumes(0):
        if not vol.name().startswith(prefix):
            continue
        started, _sep, rest = vol.name()[len(prefix) :].partition("-")
        with contextlib.suppress(lv.libvirtError):
            mtime = ET.fromstring(vol.XMLDesc(0)).findtext("target/timestamps/mtime")
            tag, _sep, rest = rest.partition("-")
            if tag == mine:
                stale = not _process_alive(rest.split("-", 1)[0])
            elif mtime:
                stale = now - float(mtime) > STALE_PARTIAL
            else:
                stale = not started.isdigit() or now - int(started) > STALE_UNTIMED
            if stale:
                vol.delete(0)
