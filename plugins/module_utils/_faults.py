# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground layer: fault points, where the fault-injection tests kill a run at one of a module's own steps.

Off unless the environment variable ``KVMFLEET_FAULT_AT`` is set (it is for tests only, never for use).
``before:<step>`` kills the run as the first action whose description starts with ``<step>`` is about
to run, or at a ``point`` of that name inside an action; ``during:<step>`` kills it a moment
(``KVMFLEET_FAULT_DELAY`` seconds, 0.1 by default) after that action started. The kill is SIGKILL of
the whole process group, as when ansible-playbook itself is killed: the module process (or Ansible's
worker) and ansible-playbook die at once, and nothing gets to clean up.

With ``KVMFLEET_FAULT_DO`` set to a command, the fault is that command instead of the kill (run once,
to its end: ``podman exec hv1 systemctl restart libvirtd`` restarts the daemon under the run).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from typing import Callable, TypeVar

ENV = "KVMFLEET_FAULT_AT"
T = TypeVar("T")
DO = "KVMFLEET_FAULT_DO"


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _is_playbook(pid: int) -> bool:
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return b"ansible-playbook" in cmdline.read()


def _kill() -> None:
    """SIGKILL the process groups from this one up to ansible-playbook's (Ansible's workers, forks of it
    with the same command line, are sessions of their own); none above it."""
    groups, pid, seen = [os.getpgrp()], os.getpid(), False
    while pid > 1:
        playbook = _is_playbook(pid)
        if seen and not playbook:
            break
        seen = seen or playbook
        groups.append(os.getpgid(pid))
        pid = _parent(pid)
    if not seen:  # not under ansible-playbook: this process group only
        groups = groups[:1]
    for group in reversed(dict.fromkeys(groups)):
        os.killpg(group, signal.SIGKILL)


def _fault() -> None:
    command = os.environ.pop(DO, None)
    if command is None:
        _kill()
        return
    os.environ.pop(ENV, None)  # once: a run that goes on past the fault does not meet it again
    subprocess.run(shlex.split(command), check=False, timeout=120)


def point(step: str) -> None:
    """A moment inside an action (``before:<step>`` faults the run here), e.g. between writing a file and linking it."""
    wanted = os.environ.get(ENV)
    if wanted and wanted.startswith("before:") and step.startswith(wanted[len("before:") :]):
        _fault()


def run(description: str, action: Callable[[], T]) -> T:
    """Run one action of a plan, through the fault point set for it if any; its result."""
    wanted = os.environ.get(ENV)
    if wanted:
        point(description)
        when, _sep, step = wanted.partition(":")
        if when == "during" and description.startswith(step):
            threading.Timer(float(os.environ.get("KVMFLEET_FAULT_DELAY", "0.1")), _fault).start()
    return action()
