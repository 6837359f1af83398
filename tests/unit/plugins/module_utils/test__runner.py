"""The two ways an entry runs: as a module process and in the calling process give the same results."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.module import GUEST_ENTRY, GUESTS_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._host_info import HOST_INFO_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_direct, run_entry
from ansible_collections.kvmfleet.kvm.plugins.plugin_utils._inprocess import same_python

TEST_URI = "test:///default"


def as_module(entry: Entry, args: dict[str, Any], capsys: pytest.CaptureFixture[str], check: bool) -> dict[str, Any]:
    with patch_module_args({**args, "_ansible_check_mode": check}), pytest.raises(SystemExit):
        run_entry(entry)
    return json.loads(capsys.readouterr().out)


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """A result without what only one way adds (module processes report their invocation differently)."""
    return {key: value for key, value in result.items() if key not in ("invocation", "warnings")}


@pytest.mark.parametrize(
    ("entry", "args"),
    [
        pytest.param(HOST_INFO_ENTRY, {"uri": TEST_URI}, id="host_info"),
        pytest.param(GUEST_ENTRY, {"uri": TEST_URI, "name": "kvmfleet-direct", "memory": "64MiB"}, id="guest"),
        pytest.param(
            GUESTS_ENTRY,
            {"uri": TEST_URI, "guests": [{"name": "kvmfleet-a"}, {"name": "kvmfleet-b"}], "defaults": {"vcpus": 2}},
            id="guests",
        ),
        pytest.param(GUEST_ENTRY, {"uri": TEST_URI, "name": "bad name/", "memory": "lots"}, id="invalid"),
        pytest.param(GUEST_ENTRY, {"uri": TEST_URI, "name": "x", "bogus": 1}, id="unknown-option"),
        pytest.param(HOST_INFO_ENTRY, {"uri": "qemu+unix:///system?socket=/nonexistent/kf.sock"}, id="unreachable"),
    ],
)
def test_direct_and_module_process_agree(
    entry: Entry, args: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # check mode: the test driver's state is per connection, so nothing persists between the two runs
    module = as_module(entry, args, capsys, check=True)
    direct = run_direct(entry, args, check_mode=True)
    assert comparable(direct) == comparable(json.loads(json.dumps(module)))


def test_invalid_input_names_every_field() -> None:
    result = run_direct(GUEST_ENTRY, {"name": "bad name/", "memory": "lots", "vcpus": 0}, check_mode=True)
    assert result["failed"] is True
    assert sorted(error.split(":")[0] for error in result["errors"]) == ["memory", "name", "vcpus"]


def test_secrets_are_hidden_in_the_direct_result() -> None:
    args = {"uri": TEST_URI, "name": "kvmfleet-vnc", "graphics": {"type": "vnc", "password": "s3cr3tpw"}}
    result = run_direct(GUEST_ENTRY, args, check_mode=True)
    assert result["changed"] is True
    assert "s3cr3tpw" not in json.dumps(result)
    assert result["invocation"]["module_args"]["graphics"]["password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_same_python(tmp_path: Any) -> None:
    binary = tmp_path / "python3.11"
    binary.write_text("")
    (tmp_path / "python3").symlink_to(binary)
    other = tmp_path / "venv"
    other.mkdir()
    (other / "python3").symlink_to(binary)
    assert same_python(str(tmp_path / "python3"), str(binary))
    assert not same_python(str(other / "python3"), str(binary)), "another directory: another environment"
    assert not same_python(str(tmp_path / "missing"), str(binary))
    assert not same_python("", str(binary))
