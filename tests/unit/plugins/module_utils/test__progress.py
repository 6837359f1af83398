"""Reports of long operations: a stage first, then at most every few seconds; nowhere without a sink;
secrets masked; where the in-process action plugin shows them."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _progress
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import Option, OptionTable
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_direct
from ansible_collections.kvmfleet.kvm.plugins.plugin_utils import _inprocess


def test_a_stage_then_progress_at_most_every_interval_per_operation() -> None:
    seen: list[tuple[str, bool]] = []
    with _progress.reporting(lambda message, stage: seen.append((message, stage))):
        for second, key in ((0.0, "a"), (1.0, "a"), (1.5, "b"), (5.0, "a"), (9.0, "a"), (10.1, "a")):
            _progress.report(key, f"{key} at {second}", now=100 + second)
    assert seen == [("a at 0.0", True), ("b at 1.5", True), ("a at 5.0", False), ("a at 10.1", False)]
    _progress.report("a", "after the run")  # no sink: nowhere
    assert len(seen) == 4


def test_amounts_and_sources_as_reports_show_them() -> None:
    assert _progress.amount(512 * 2**20, 2**30, began=0.0, now=4.0) == "512 of 1024 MiB (50%), 128.0 MiB/s"
    assert _progress.amount(3 * 2**20, None, began=0.0, now=2.0) == "3 MiB, 1.5 MiB/s"
    assert _progress.shown_source("https://user:pw@images.example.com/d.qcow2") == "https://images.example.com/d.qcow2"
    assert _progress.shown_source("/srv/images/d.qcow2") == "/srv/images/d.qcow2"


def test_a_task_run_in_process_reports_with_its_secrets_masked() -> None:
    table = OptionTable([Option("token", no_log=True), Option("uri", default="test:///default")])

    def work(_conn: Any, invocation: Any) -> dict[str, Any]:
        _progress.report("op", f"using {invocation.values['token']}")
        invocation.progress("a step")
        return {"changed": False}

    seen: list[tuple[str, bool]] = []
    result = run_direct(
        Entry(table, work, connects=False), {"token": "s3cr3t-t0ken"}, False, lambda m, s: seen.append((m, s))
    )
    assert result["changed"] is False
    assert seen == [("using ********", True), ("a step", False)]


@pytest.mark.parametrize(("tty", "verbosity"), [(True, 0), (False, 0), (False, 1)])
def test_stages_are_always_shown_on_stderr_and_progress_on_a_terminal_or_with_v(
    monkeypatch: pytest.MonkeyPatch, tty: bool, verbosity: int
) -> None:
    shown: list[tuple[str, bool]] = []
    monkeypatch.setattr(_inprocess.display, "display", lambda line, stderr=False, **kw: shown.append((line, stderr)))
    monkeypatch.setattr(_inprocess.display, "verbosity", verbosity)
    monkeypatch.setattr(_inprocess.sys.stderr, "isatty", lambda: tty)
    show = _inprocess.shown("hv1")
    show("importing d.qcow2", True)
    show("importing d.qcow2: 5 MiB", False)
    later = [("hv1: importing d.qcow2: 5 MiB", True)] if tty or verbosity else []
    assert shown == [("hv1: importing d.qcow2", True), *later]
