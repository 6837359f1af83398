"""The two ways an entry runs: as a module process and in the calling process give the same results."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import kvmtest
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _libvirt, _runner
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import ChangedUnderRun, KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.module import GUEST_ENTRY, GUESTS_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._host_info import HOST_INFO_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import OptionTable
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import (
    Entry,
    connection_options,
    run_direct,
    run_entry,
)
from ansible_collections.kvmfleet.kvm.plugins.plugin_utils._inprocess import same_python

TEST_URI = "test:///default"


def as_module(entry: Entry, args: dict[str, Any], capsys: pytest.CaptureFixture[str], check: bool) -> dict[str, Any]:
    with kvmtest.module_args({**args, "_ansible_check_mode": check}), pytest.raises(SystemExit):
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


# ---------------------------------------------------------------------------------------------- lost connections


def flaky(first: Any, then: dict[str, Any]) -> tuple[Any, list[int]]:
    """A work whose first run closes its connection (as a libvirtd restart does) and then raises or returns
    ``first``; the next runs return ``then``. Also the list of runs."""
    runs: list[int] = []

    def work(conn: Any, _invocation: Any) -> dict[str, Any]:
        runs.append(1)
        if len(runs) > 1:
            return dict(then)
        conn.close()
        if isinstance(first, BaseException):
            raise first
        return dict(first)

    return work, runs


def entry_of(work: Any) -> Entry:
    return Entry(OptionTable(connection_options()), work)


def executed(msg: str) -> KvmFleetError:
    error = KvmFleetError(msg, done=["define guest g"])
    error.executed = True
    return error


@pytest.mark.parametrize(
    ("first", "check_mode", "changed"),
    [
        pytest.param(executed("g: start the guest failed: End of file"), False, True, id="lost-in-an-action"),
        pytest.param(KvmFleetError("g: reading failed"), False, False, id="lost-while-planning"),
        pytest.param({"changed": True}, False, True, id="lost-after-a-change"),
        pytest.param({"changed": False}, False, False, id="lost-after-nothing"),
        pytest.param(executed("lost"), True, False, id="check-mode-changes-nothing"),
    ],
)
def test_a_lost_connection_is_opened_again_and_the_work_runs_once_more(
    first: Any, check_mode: bool, changed: bool
) -> None:
    work, runs = flaky(first, then={"changed": False, "state": "running"})
    result = run_direct(entry_of(work), {"uri": TEST_URI}, check_mode=check_mode)
    assert len(runs) == 2
    assert result["state"] == "running" and result["changed"] is changed
    (warning,) = result["warnings"]
    assert warning.startswith(f"the connection to {TEST_URI} was lost during the run (")
    assert warning.endswith("it was opened again and the run planned again from what the host holds")


def test_the_second_run_decides_what_it_changed() -> None:
    work, _runs = flaky(KvmFleetError("lost while planning"), then={"changed": True})
    assert run_direct(entry_of(work), {"uri": TEST_URI}, check_mode=False)["changed"] is True


def test_reconnect_timeout_0_fails_with_the_first_error() -> None:
    work, runs = flaky(executed("g: start the guest failed: End of file"), then={"changed": False})
    result = run_direct(entry_of(work), {"uri": TEST_URI, "reconnect_timeout": 0}, check_mode=False)
    assert len(runs) == 1
    assert result["failed"] is True and result["msg"] == "g: start the guest failed: End of file"
    assert result["done"] == ["define guest g"]


def test_an_error_on_a_live_connection_is_not_retried() -> None:
    runs: list[int] = []

    def work(_conn: Any, _invocation: Any) -> dict[str, Any]:
        runs.append(1)
        raise KvmFleetError("g: memory: too much")

    result = run_direct(entry_of(work), {"uri": TEST_URI}, check_mode=False)
    assert len(runs) == 1 and result["msg"] == "g: memory: too much" and "warnings" not in result


def test_a_second_loss_is_not_retried() -> None:
    runs: list[int] = []

    def work(conn: Any, _invocation: Any) -> dict[str, Any]:
        runs.append(1)
        conn.close()
        raise KvmFleetError(f"lost {len(runs)}")

    result = run_direct(entry_of(work), {"uri": TEST_URI}, check_mode=False)
    assert len(runs) == 2 and result["msg"] == "lost 2"


def test_a_daemon_that_stays_away_is_named_with_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    uri = "qemu+unix:///system?socket=/nonexistent/kf.sock"
    opened: list[str] = []

    def connect_once(target: str, readonly: bool = False) -> Any:  # the first open works, the daemon then goes
        if opened:
            return _libvirt.connect(target, readonly)
        opened.append(target)
        return _libvirt.connect(TEST_URI, readonly)

    monkeypatch.setattr(_runner, "connect", connect_once)
    monkeypatch.setattr(_runner, "RECONNECT_POLL", 0.01)
    work, _runs = flaky(executed("g: start the guest failed: End of file"), then={"changed": False})
    result = run_direct(entry_of(work), {"uri": uri, "reconnect_timeout": 1}, check_mode=False)
    assert result["failed"] is True
    assert result["msg"].startswith(
        f"the connection to {uri} was lost during the run and could not be opened again within 1 s "
        f"(reconnect_timeout): cannot connect to libvirt at {uri}"
    )
    # what the lost attempt had done and where it stopped
    assert result["msg"].endswith("; when it was lost: g: start the guest failed: End of file")
    assert result["done"] == ["define guest g"] and result["uri"] == uri


def test_an_object_made_meanwhile_by_another_run_is_planned_again() -> None:
    runs: list[int] = []

    def work(_conn: Any, _invocation: Any) -> dict[str, Any]:
        runs.append(1)
        if len(runs) == 1:
            raise ChangedUnderRun("guest g was defined meanwhile (by another run or by hand)")
        return {"changed": False}

    result = run_direct(entry_of(work), {"uri": TEST_URI}, check_mode=False)
    assert len(runs) == 2 and result["changed"] is False  # the define that found it did nothing
    assert result["warnings"] == [
        "guest g was defined meanwhile (by another run or by hand): the run planned again from what the host holds"
    ]


def test_a_reconnect_to_a_host_that_does_not_answer_is_given_up_on_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TCP connect to a host that is gone blocks for a minute; the timeout still holds."""
    release = threading.Event()
    real = _libvirt.connect

    def hangs(_target: str, readonly: bool = False) -> Any:
        release.wait(10)
        return real(TEST_URI, readonly)

    monkeypatch.setattr(_libvirt, "connect", hangs)
    start = time.monotonic()
    error = _runner._opens("qemu+tcp://gone/system", False, 0.2)
    assert 0.2 <= time.monotonic() - start < 2
    assert error is not None and error.msg == "no answer from qemu+tcp://gone/system within 0.2 s"
    release.set()
