"""The host role's preflight on this machine: every refusal happens before anything is touched.

The converging runs of the role (packages, settings, daemons, a guest started on the result) are the
molecule scenarios host-container and host-localhost (test_molecule.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROLE = [{"role": "kvmfleet.kvm.host"}]


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
    msg = failed_message(play([], roles=ROLE))
    # these machines: no vmx/svm flag, only the software kvm_pvm module
    assert msg.startswith("KVM is not usable on localhost: the CPU shows no hardware virtualisation (no vmx/svm flag)")
    assert "enable VT-x/AMD-V" in msg
    assert "neither kvm_intel nor kvm_amd is loaded" in msg
    assert msg.endswith(
        "Set host_allow_emulation: true to run guests under TCG emulation instead (slow; for nested CI)"
    )


@pytest.mark.parametrize(
    ("play_vars", "message"),
    [
        (
            {"host_daemon_manager": "systemd"},
            "host_daemon_manager is systemd, but systemd does not run on this host (no /run/systemd/system)",
        ),
        ({"host_transparent_hugepages": "sometimes"}, "host_transparent_hugepages must be always, madvise or never"),
        ({"host_hugepages": -1}, "host_hugepages must be 0 or more, not -1"),
    ],
)
def test_rules_across_variables(play, play_vars: dict[str, Any], message: str) -> None:
    result = play([], roles=ROLE, play_vars={"host_allow_emulation": True, **play_vars})
    assert message in failed_message(result)


def test_argument_spec_names_the_variable(play) -> None:
    result = play([], roles=ROLE, play_vars={"host_users": "alice", "host_daemon_manager": "openrc"})
    msg = failed_message(result)
    assert "host_daemon_manager must be one of: auto, systemd, direct, got: openrc" in msg
