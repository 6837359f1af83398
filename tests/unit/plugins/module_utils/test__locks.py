"""Locks that make runs changing the same object take turns."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _locks
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError


@pytest.fixture(autouse=True)
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(_locks, "lock_dir", lambda: str(tmp_path))
    monkeypatch.setattr(_locks, "POLL", 0.005)
    return tmp_path


def test_a_second_run_waits_for_the_first_and_other_names_do_not() -> None:
    order: list[str] = []
    first_holds, release = threading.Event(), threading.Event()

    def first() -> None:
        with _locks.turns("qemu:///system", "guest", ["b", "a"]):
            order.append("first in")
            first_holds.set()
            release.wait(5)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    first_holds.wait(5)
    with _locks.turns("qemu:///system", "guest", ["c"]):  # another guest: no wait
        order.append("other guest")
    threading.Timer(0.1, release.set).start()
    with _locks.turns("qemu:///system", "guest", ["a"]):
        order.append("second in")
    thread.join()
    assert order == ["first in", "other guest", "first out", "second in"]


def test_the_same_name_on_another_uri_or_of_another_kind_is_another_lock() -> None:
    paths = {
        _locks.lock_path("qemu:///system", "guest", "a"),
        _locks.lock_path("qemu+tcp://hv1/system", "guest", "a"),
        _locks.lock_path("qemu:///system", "network", "a"),
    }
    assert len(paths) == 3


def test_a_turn_not_given_in_time_names_the_object_and_the_lock() -> None:
    with _locks.turns("qemu:///system", "guest", ["web1"]):
        start = time.monotonic()
        with pytest.raises(KvmFleetError) as caught, _locks.turns("qemu:///system", "guest", ["web1"], timeout=0.1):
            pass
    assert time.monotonic() - start >= 0.1
    assert caught.value.msg.startswith("guest web1 is being changed by another run on this machine (lock ")
    assert caught.value.msg.endswith("for more than 0.1 s")


def test_a_lock_file_that_cannot_be_created_is_opened_as_it_is_or_skipped(
    lock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fs.protected_regular refuses O_CREAT on another user's file in a sticky directory: read it as it is."""
    path = _locks.lock_path("qemu:///system", "guest", "web1")
    Path(path).touch()
    real_open = _locks.os.open

    def refuse_create(target: str, flags: int, *mode: int) -> int:
        if flags & _locks.os.O_CREAT:
            raise PermissionError(13, "Permission denied", target)
        return real_open(target, flags, *mode)

    monkeypatch.setattr(_locks.os, "open", refuse_create)
    handle = _locks._open(path)
    assert handle is not None
    handle.close()
    Path(path).unlink()  # neither way: the run goes on without taking turns
    assert _locks._open(path) is None
    with _locks.turns("qemu:///system", "guest", ["web1"]):
        pass
