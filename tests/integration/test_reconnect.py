"""libvirtd restarted under a run, on a fleet hypervisor (a systemd container): the module opens the URI
again, plans again from what the host holds and converges; a running guest's QEMU lives through it.

The restart is the fault (``KVMFLEET_FAULT_DO``, plugins/module_utils/_faults.py) at a known step of the
run: the module's connection dies between its plan and that step. The guest module runs in this
process (``run_direct``, as in Ansible's worker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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
def targets(fleet: Any) -> Iterator[list[Target]]:
    """The fleet hypervisors with a fresh name prefix; afterwards each runs (a stopped container is started
    again) with its daemon, and the test's guests are removed, over new connections (the test's restarts
    kill older ones)."""
    prefix = kvmtest.random_prefix()
    found = [Target(host.name, host.uri, prefix) for host in fleet.hosts]
    yield found
    for target in found:
        if kvmtest.run_cmd(["podman", "inspect", "--format", "{{.State.Running}}", target.name]).strip() != "true":
            started_again(target)
        subprocess.run(["podman", "exec", target.name, *START.split()], check=True)
        conn = connect(target.uri)
        try:
            fleet_helpers.clean({target.name: conn}, prefix)
        finally:
            conn.close()


def started_again(target: Target) -> None:
    """Start a stopped container and wait until its libvirtd takes connections (asked from inside first:
    a connect to its address before its network is up waits a minute for the kernel to give up)."""
    kvmtest.run_cmd(["podman", "start", target.name])
    listening = ["podman", "exec", target.name, "systemctl", "is-active", "--quiet", "libvirtd-tcp.socket"]
    assert kvmtest.wait_until(lambda: subprocess.run(listening, check=False).returncode == 0, 60), target.name
    connect(target.uri).close()


@pytest.fixture
def hv1(targets: list[Target]) -> Target:
    return targets[0]


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
    later = f"systemd-run --on-active=3 --timer-property=AccuracySec=100ms {START}"
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
    assert result["done"] == [f"define guest {hv1.prefix}gone"]  # what the lost attempt had done


def test_a_hypervisor_lost_mid_run_fails_alone_says_what_was_done_and_the_rerun_converges(
    fleet: Any, targets: list[Target], tmp_path: Path
) -> None:
    """A play on two hypervisors; one's container is stopped as its guest is about to start."""
    hv1, hv2 = targets[:2]
    options = {
        **kvmtest.fleet_guest("{{ prefix }}{{ inventory_hostname }}", "{{ hypervisor_uri }}"),
        "reconnect_timeout": 3,
    }
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        json.dumps(
            [
                {
                    "name": "two hypervisors",
                    "hosts": f"{hv1.name},{hv2.name}",
                    "connection": "local",
                    "gather_facts": False,
                    "vars": {"prefix": hv1.prefix, "ansible_python_interpreter": sys.executable},
                    "tasks": [{"name": "guest", "kvmfleet.kvm.guest": options}],
                }
            ]
        )
    )
    env = {"KVMFLEET_FAULT_AT": "before:start the guest", "KVMFLEET_FAULT_DO": f"podman stop -t 0 {hv2.name}"}

    run = kvmtest.ansible_playbook(playbook, fleet.inventory, env=env)

    results = run.data["plays"][0]["tasks"][0]["hosts"]
    assert not results[hv1.name].get("failed"), results[hv1.name].get("msg")
    assert results[hv1.name]["changed"] is True and domstate(hv1, f"{hv1.prefix}{hv1.name}") == "running"
    lost = results[hv2.name]
    assert lost["failed"] is True
    assert lost["msg"].startswith(f"the connection to {hv2.uri} was lost during the run and could not be opened")
    assert lost["done"] == [f"define guest {hv2.prefix}{hv2.name}"]  # what was done before the loss

    started_again(hv2)
    rerun = kvmtest.ansible_playbook(playbook, fleet.inventory)
    again = kvmtest.ansible_playbook(playbook, fleet.inventory)

    assert rerun.rc == 0 and again.rc == 0, rerun.stdout[-2000:]
    changed = {host: result["changed"] for host, result in rerun.data["plays"][0]["tasks"][0]["hosts"].items()}
    assert changed == {hv1.name: False, hv2.name: True}  # hv2's guest, defined before the loss, is started
    assert not any(result["changed"] for result in again.data["plays"][0]["tasks"][0]["hosts"].values())
    assert domstate(hv2, f"{hv2.prefix}{hv2.name}") == "running"
