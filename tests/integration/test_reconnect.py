"""libvirtd restarted under a run, on a fleet hypervisor (a systemd container): the module opens the URI
again, plans again from what the host holds and converges; a running guest's QEMU lives through it.

The restart is the fault (``KVMFLEET_FAULT_DO``, plugins/module_utils/_faults.py) at a known step of the
run: the module's connection dies between its plan and that step. The guest module runs in this
process (``run_direct``, as in Ansible's worker).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fleet as fleet_helpers
import kvmtest
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.module import GUEST_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct

LOST = "was lost during the run"
SOCKETS = "libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket libvirtd-tcp.socket"
STOP = f"systemctl stop libvirtd.service {SOCKETS}"  # nothing takes connections
START = f"systemctl start {SOCKETS}"  # the first connection starts the daemon


@dataclass(frozen=True)
class Target:
    name: str  # the hypervisor's container
    uri: str
    prefix: str  # of the test's guests


@pytest.fixture
def hv1(fleet: Any) -> Iterator[Target]:
    """The first fleet hypervisor and a fresh name prefix; afterwards its daemon runs and the guests are
    removed, over a new connection (the test's restarts kill older ones)."""
    host = fleet.hosts[0]
    target = Target(host.name, host.uri, kvmtest.random_prefix())
    yield target
    subprocess.run(["podman", "exec", host.name, *START.split()], check=True)
    conn = connect(host.uri)
    try:
        fleet_helpers.clean({host.name: conn}, target.prefix)
    finally:
        conn.close()


def guest(options: dict[str, Any]) -> dict[str, Any]:
    return run_direct(GUEST_ENTRY, options, check_mode=False)


def on(host: Target, *command: str) -> str:
    return kvmtest.run_cmd(["podman", "exec", host.name, *command]).strip()


def daemon_pid(host: Target) -> str:
    return on(host, "systemctl", "show", "--property", "MainPID", "--value", "libvirtd")


def qemu_pid(host: Target, name: str) -> str:
    return on(host, "pgrep", "-f", f"guest={name},")


def fault(monkeypatch: pytest.MonkeyPatch, at: str, command: str) -> None:
    monkeypatch.setenv("KVMFLEET_FAULT_AT", at)
    monkeypatch.setenv("KVMFLEET_FAULT_DO", command)


def new_guest_faulted(
    hv1: Target, monkeypatch: pytest.MonkeyPatch, name: str, command: str, **extra: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new guest's run with ``command`` run on the way, just before the guest's start: (options, result)."""
    options = {**kvmtest.fleet_guest(f"{hv1.prefix}{name}", hv1.uri), **extra}
    fault(monkeypatch, "before:start the guest", command)
    result = guest(options)
    assert "KVMFLEET_FAULT_AT" not in os.environ  # the fault fired
    return options, result


def restart(host: Target) -> str:
    return f"podman exec {host.name} systemctl restart libvirtd"


def domstate(host: Target, name: str) -> str:
    return kvmtest.virsh("domstate", name, uri=host.uri).strip()


def test_a_restart_before_the_start_reconnects_plans_again_and_starts_once(
    hv1: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = daemon_pid(hv1)
    options, result = new_guest_faulted(hv1, monkeypatch, "restart", restart(hv1))

    assert daemon_pid(hv1) != before  # the daemon did restart under the run
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert result["state"] == "running"
    (warning,) = result["warnings"]
    assert f"the connection to {hv1.uri} {LOST}" in warning
    assert "planned again" in warning
    # the second attempt had only the start left: the guest was defined by the first
    assert domstate(hv1, options["name"]) == "running"
    again = guest(options)
    assert again["changed"] is False and "warnings" not in again


def test_a_running_guest_keeps_its_qemu_through_a_restart_during_an_update(
    hv1: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"{hv1.prefix}keeps"
    options = kvmtest.fleet_guest(name, hv1.uri)
    assert guest(options)["changed"] is True
    pid = qemu_pid(hv1, name)
    fault(monkeypatch, "before:enable autostart", restart(hv1))

    result = guest({**options, "autostart": True})

    assert "KVMFLEET_FAULT_AT" not in os.environ
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and LOST in result["warnings"][0]
    assert qemu_pid(hv1, name) == pid  # the same QEMU process: never stopped
    assert domstate(hv1, name) == "running"
    assert "Autostart:      enable" in kvmtest.virsh("dominfo", name, uri=hv1.uri)
    assert guest({**options, "autostart": True})["changed"] is False


def test_a_daemon_down_for_a_while_is_waited_for(hv1: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped with its sockets (nothing takes connections), started again 3 s later."""
    later = f"systemd-run --on-active=3 {START}"
    options, result = new_guest_faulted(hv1, monkeypatch, "down", f"podman exec {hv1.name} sh -c '{STOP} && {later}'")

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and LOST in result["warnings"][0]
    assert domstate(hv1, options["name"]) == "running"


def test_without_reconnect_the_lost_connection_fails_and_a_rerun_converges(
    hv1: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    options, result = new_guest_faulted(hv1, monkeypatch, "noretry", restart(hv1), reconnect_timeout=0)
    name = options["name"]

    assert result["failed"] is True
    assert result["msg"].startswith(f"{name}: start the guest failed: End of file while reading data"), result["msg"]
    assert result["done"] == [f"define guest {name}"]
    assert domstate(hv1, name) == "shut off"
    rerun = guest(options)
    assert rerun["changed"] is True and "warnings" not in rerun
    assert domstate(hv1, name) == "running"


def test_a_daemon_that_does_not_come_back_in_time_is_a_clear_failure(
    hv1: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    _options, result = new_guest_faulted(
        hv1, monkeypatch, "gone", f"podman exec {hv1.name} {STOP}", reconnect_timeout=2
    )

    assert result["failed"] is True
    assert result["msg"].startswith(
        f"the connection to {hv1.uri} was lost during the run and could not be opened again within 2 s "
        "(reconnect_timeout): cannot connect to libvirt"
    ), result["msg"]
