"""The host role on this machine: every refusal happens before anything is touched, and its tags.

The converging runs of the role (packages, settings, daemons, a guest started on the result) are the
molecule scenarios host-container and host-localhost (test_molecule.py).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROLE = [{"role": "kvmfleet.kvm.host"}]
LIBVIRTD_CONF = Path("/etc/libvirt/libvirtd.conf")


def failed_message(result: Any) -> str:
    failures = [task[1] for task in result.tasks if task[1].get("failed")]
    assert result.rc != 0 and failures, f"the role did not fail: rc={result.rc}"
    return failures[0]["msg"]


def test_unsupported_os_fails_naming_it(play, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # facts from a cache: the role uses known facts as they are (it gathers only when none are known);
    # the cache is written by a real fact gathering, then only the distribution is changed in it
    cache = tmp_path / "facts"
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN", "ansible.builtin.jsonfile")
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(cache))
    assert play([{"name": "facts", "ansible.builtin.setup": {"gather_subset": ["min"]}}]).rc == 0
    (cached,) = cache.iterdir()
    wrapper = json.loads(cached.read_text())
    facts = json.loads(wrapper["__payload__"]) if "__payload__" in wrapper else wrapper
    facts.update(
        ansible_distribution="Gentoo",
        ansible_distribution_version="2.17",
        ansible_distribution_major_version="2",
        ansible_os_family="Gentoo",
    )
    if "__payload__" in wrapper:
        wrapper["__payload__"] = json.dumps(facts)
    cached.write_text(json.dumps(wrapper))
    result = play([], roles=ROLE)
    assert failed_message(result) == (
        "Gentoo 2.17 (Gentoo family) is not supported by kvmfleet.kvm.host; supported: Debian 12/13, "
        "Ubuntu 22.04/24.04, RHEL/Rocky/AlmaLinux 9, Fedora"
    )


def test_without_kvm_and_without_emulation_it_says_what_is_missing(play) -> None:
    result = play([], roles=ROLE, play_vars={"host_allow_emulation": False})
    msg = failed_message(result)
    # these machines: a /dev/kvm that libvirt offers but cannot run guests with (no vmx/svm flag, only
    # the software kvm_pvm module): the role fails in its preflight, before anything is changed
    assert msg.startswith("KVM is not usable on localhost: the CPU shows no hardware virtualisation (no vmx/svm flag)")
    assert "enable VT-x/AMD-V" in msg
    assert "neither kvm_intel nor kvm_amd is loaded (only the software kvm_pvm module is" in msg
    assert msg.endswith(
        "Set host_allow_emulation: true to run guests under TCG emulation instead (slow; for nested CI)"
    )
    assert [name for name, res in result.tasks if res.get("changed")] == []
    assert not [name for name, _status in result.tasks if "Install QEMU" in name]


@pytest.mark.parametrize(
    ("play_vars", "message"),
    [
        (
            {"host_daemon_manager": "systemd"},
            "host_daemon_manager is systemd, but systemd does not run on this host (no /run/systemd/system)",
        ),
        ({"host_transparent_hugepages": "sometimes"}, "host_transparent_hugepages must be always, madvise or never"),
        ({"host_hugepages": -1}, "host_hugepages must be 0 or more, not -1"),
        (
            {"host_libvirtd_settings": {"listen_tcp": True}},
            "host_libvirtd_settings.listen_tcp: libvirtd started directly listens with --listen, which opens TLS too",
        ),
        (
            {"host_libvirtd_settings": {"listen_tls": True, "ca_file": "/nonexistent/ca.pem"}},
            "host_libvirtd_settings.listen_tls: libvirtd does not start without its TLS files, missing: "
            "/etc/pki/libvirt/private/serverkey.pem, /etc/pki/libvirt/servercert.pem, /nonexistent/ca.pem",
        ),
    ],
)
def test_rules_across_variables(play, play_vars: dict[str, Any], message: str) -> None:
    result = play([], roles=ROLE, play_vars={"host_allow_emulation": True, **play_vars})
    assert message in failed_message(result)


def test_argument_spec_names_the_variable(play) -> None:
    result = play([], roles=ROLE, play_vars={"host_users": "alice", "host_daemon_manager": "openrc"})
    msg = failed_message(result)
    assert "host_daemon_manager must be one of: auto, systemd, direct, got: openrc" in msg


def live_max_workers() -> int:
    out = subprocess.run(["virt-admin", "srv-threadpool-info", "libvirtd"], capture_output=True, text=True, check=True)
    match = re.search(r"maxWorkers\s*:\s*(\d+)", out.stdout)
    assert match, out.stdout
    return int(match.group(1))


def libvirtd_pid() -> str:
    return subprocess.run(["pidof", "libvirtd"], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("tags", [{"ANSIBLE_RUN_TAGS": "host_configure"}, {"ANSIBLE_SKIP_TAGS": "host_run"}])
def test_configure_without_run_applies_a_changed_setting(
    play, monkeypatch: pytest.MonkeyPatch, tags: dict[str, str]
) -> None:
    # the handlers notified by host_configure run whatever tags were selected; max_workers is a setting
    # libvirtd takes live (virt-admin), so the shared libvirtd of this machine is not restarted
    for name, value in tags.items():
        monkeypatch.setenv(name, value)
    conf_before = LIBVIRTD_CONF.read_text()
    workers = live_max_workers()
    pid = libvirtd_pid()
    try:
        result = play(
            [],
            roles=ROLE,
            play_vars={"host_allow_emulation": True, "host_libvirtd_settings": {"max_workers": workers + 1}},
        )
        assert result.rc == 0, [task for task in result.tasks if task[1].get("failed")] or result.stderr[-3000:]
        names = [name.removeprefix("kvmfleet.kvm.host : ") for name, _status in result.tasks]
        assert "Set libvirt daemon settings (/etc/libvirt/libvirtd.conf)" in names
        assert "Read the hypervisor through libvirt" not in names  # host_run did not run
        assert result.result("kvmfleet.kvm.host : Apply daemon worker pool settings live (virt-admin)").get("changed")
        assert re.search(rf"^max_workers = {workers + 1}$", LIBVIRTD_CONF.read_text(), re.M)
        assert live_max_workers() == workers + 1
        assert libvirtd_pid() == pid
    finally:
        LIBVIRTD_CONF.write_text(conf_before)
        subprocess.run(["virt-admin", "srv-threadpool-set", "libvirtd", "--max-workers", str(workers)], check=True)
    assert live_max_workers() == workers
