"""host_info end to end on the test driver, and the one failure path of the runner."""

from __future__ import annotations

import json
from typing import Any

import kvmtest
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _runner
from ansible_collections.kvmfleet.kvm.plugins.module_utils._host_info import version_string
from ansible_collections.kvmfleet.kvm.plugins.modules import host_info


def run_module(args: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    with kvmtest.module_args(args), pytest.raises(SystemExit):
        host_info.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("number", "text"), [(9000000, "9.0.0"), (7002022, "7.2.22"), (10010001, "10.10.1"), (0, "0.0.0")]
)
def test_version_string(number: int, text: str) -> None:
    assert version_string(number) == text


def test_host_info_on_the_test_driver(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module({"uri": "test:///default"}, capsys)
    assert result["changed"] is False
    host = result["host"]
    assert host["uri"] == "test:///default"
    assert host["hypervisor"] == "TEST"
    assert host["cpus"] == 16
    assert host["memory_mib"] == 3 * 1024 * 1024 // 1024
    assert host["kvm"] == {
        "usable": False,
        "reason": host["kvm"]["reason"],
        "checked_locally": False,
    }
    assert host["default_virt_type"] == "qemu"
    assert "i686" in host["guest_arches"]


def test_unreachable_uri_fails_with_the_uri(capsys: pytest.CaptureFixture[str]) -> None:
    uri = "qemu+unix:///system?socket=/nonexistent/kvmfleet.sock"
    result = run_module({"uri": uri}, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith(f"cannot connect to libvirt at {uri}")
    assert result["uri"] == uri


def test_missing_binding_fails_with_missing_required_lib(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_runner, "LIBVIRT_IMPORT_ERROR", "Traceback: No module named 'libvirt'")
    result = run_module({"uri": "test:///default"}, capsys)
    assert result["failed"] is True
    assert "Failed to import the required Python library (libvirt-python)" in result["msg"]
    assert "python3-libvirt" in result["msg"]


def test_unknown_option_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module({"uri": "test:///default", "bogus": 1}, capsys)
    assert result["failed"] is True
    assert "bogus" in result["msg"]
