# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One live migration as it runs: libvirt's flags and parameters, the time budget, the convergence
policy, progress, and the abort that leaves the guest running on its source.

The migration call blocks, so it runs in a thread of its own while this module watches libvirt's job
statistics (memory remaining, dirty rate, iteration) twice a second and acts on the policy:

- ``fail``: nothing until the budget is spent, then the job is aborted;
- ``auto_converge``: QEMU throttles the guest's vCPUs itself when it dirties memory faster than it
  is sent (libvirt's AUTO_CONVERGE flag, set at the start: it does nothing to a migration that
  converges);
- ``raise_downtime``: once the migration stalls (a pass leaves about as much to send as the one
  before) or half the budget is gone, the allowed downtime is doubled at each new pass up to
  ``max_downtime_limit``;
- ``postcopy``: at that point the guest switches to post-copy (it runs on the destination and
  fetches the rest of its memory on demand: it always completes, but a network loss during post-copy
  loses the guest, so it is never the default) and is never aborted after.

Whatever the policy, a pre-copy migration still running when the budget ends is aborted; QEMU then
keeps running the guest on its source, untouched.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.options import (
    COPY,
    COPY_INCREMENTAL,
    DEFAULT_MAX_DOWNTIME_MS,
    MIN_TIMEOUT,
)

MiB = 1024 * 1024
GiB = 1024 * MiB
POLL = 1.0  # seconds between two reads of the job's statistics (each is a call into QEMU)
STALL_RATIO = 0.9  # a pass that leaves more than this share of the previous pass's remainder has stalled
MAX_SAMPLES = 120  # progress samples kept in the result (thinned out evenly beyond that)


def budget(values: dict[str, Any], memory_mib: int, copied_bytes: int) -> float:
    """Seconds the migration may take: ``timeout``, else ``timeout_per_gib`` per GiB moved (memory and
    the disks copied), never less than MIN_TIMEOUT."""
    if values.get("timeout"):
        return float(values["timeout"])
    gib = memory_mib * MiB / GiB + copied_bytes / GiB
    return max(float(MIN_TIMEOUT), values["timeout_per_gib"] * gib)


def migration_flags(values: dict[str, Any], live: bool, copy_disks: bool) -> int:
    """libvirt's migration flags for these options. The definition always moves with the guest."""
    lv = require_libvirt()
    flags = lv.VIR_MIGRATE_PERSIST_DEST | lv.VIR_MIGRATE_UNDEFINE_SOURCE
    if not live:
        return flags | lv.VIR_MIGRATE_OFFLINE
    flags |= lv.VIR_MIGRATE_LIVE | lv.VIR_MIGRATE_ABORT_ON_ERROR
    chosen = (
        (values["p2p"], lv.VIR_MIGRATE_PEER2PEER),
        (values["tunnelled"], lv.VIR_MIGRATE_TUNNELLED),
        (values["tls"], lv.VIR_MIGRATE_TLS),
        (values["parallel_connections"] is not None, lv.VIR_MIGRATE_PARALLEL),
        (values["allow_unsafe"], lv.VIR_MIGRATE_UNSAFE),
        (values["converge"] == "auto_converge", lv.VIR_MIGRATE_AUTO_CONVERGE),
        (values["converge"] == "postcopy", lv.VIR_MIGRATE_POSTCOPY),
        (copy_disks and values["storage"] == COPY, lv.VIR_MIGRATE_NON_SHARED_DISK),
        (copy_disks and values["storage"] == COPY_INCREMENTAL, lv.VIR_MIGRATE_NON_SHARED_INC),
    )
    for wanted, flag in chosen:
        if wanted:
            flags |= flag
    return flags


def migration_params(
    values: dict[str, Any],
    migrate_uri: Optional[str],
    dest_xml: str,
    persist_xml: Optional[str],
    copied_targets: list[str],
) -> dict[str, Any]:
    """libvirt's typed migration parameters."""
    lv = require_libvirt()
    params: dict[str, Any] = {lv.VIR_MIGRATE_PARAM_DEST_XML: dest_xml}
    if persist_xml:
        params[lv.VIR_MIGRATE_PARAM_PERSIST_XML] = persist_xml
    if migrate_uri and not values["tunnelled"]:
        params[lv.VIR_MIGRATE_PARAM_URI] = migrate_uri
    if values["bandwidth"]:
        params[lv.VIR_MIGRATE_PARAM_BANDWIDTH] = values["bandwidth"]  # MiB/s
    if values["parallel_connections"] is not None:
        params[lv.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS] = values["parallel_connections"]
    if copied_targets:
        params[lv.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = copied_targets
    return params


@dataclass
class Sample:
    """The job's statistics at one moment."""

    elapsed: float
    remaining: int  # bytes of memory (and disk) still to send
    processed: int
    dirty_rate: int  # pages per second
    iteration: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "elapsed_s": round(self.elapsed, 1),
            "remaining_mib": round(self.remaining / MiB, 1),
            "processed_mib": round(self.processed / MiB, 1),
            "dirty_pages_per_s": self.dirty_rate,
            "iteration": self.iteration,
        }


def sample(stats: dict[str, Any], elapsed: float) -> Sample:
    return Sample(
        elapsed=elapsed,
        remaining=int(stats.get("memory_remaining", 0)) + int(stats.get("disk_remaining", 0)),
        processed=int(stats.get("memory_processed", 0)) + int(stats.get("disk_processed", 0)),
        dirty_rate=int(stats.get("memory_dirty_rate", 0)),
        iteration=int(stats.get("memory_iteration", 0)),
    )


@dataclass
class Policy:
    """What to do as the migration runs: a pure function of time and the job's statistics."""

    converge: str
    budget: float
    downtime: int  # ms allowed now
    downtime_limit: int
    postcopy: bool = False
    passes: dict[int, int] = field(default_factory=dict)  # iteration -> remainder when it started
    raised_at: int = 0  # the iteration of the last downtime raise

    def stalled(self, now: Sample) -> bool:
        """A pass leaves about as much to send as the pass before it (the guest dirties memory as fast as it goes)."""
        self.passes.setdefault(now.iteration, now.remaining)
        before, current = self.passes.get(now.iteration - 1), self.passes.get(now.iteration)
        return now.iteration >= 3 and before is not None and current is not None and current > STALL_RATIO * before

    def step(self, now: Sample) -> Optional[str]:
        """``abort``, ``raise_downtime``, ``postcopy`` or None (carry on)."""
        if self.postcopy:
            return None  # a post-copy migration cannot be aborted without losing the guest
        if now.elapsed >= self.budget:
            return "abort"
        struggling = self.stalled(now) or now.elapsed >= self.budget / 2
        if not struggling:
            return None
        if self.converge == "postcopy":
            self.postcopy = True
            return "postcopy"
        if self.converge == "raise_downtime" and self.downtime < self.downtime_limit and now.iteration > self.raised_at:
            self.downtime = min(self.downtime_limit, self.downtime * 2)
            self.raised_at = now.iteration
            return "raise_downtime"
        return None


@dataclass
class Outcome:
    """How a migration call ended, and what was seen on the way."""

    completed: bool
    aborted: bool
    error: Optional[str]
    error_code: Optional[int]
    elapsed: float
    samples: list[Sample]
    events: list[str]

    def progress(self) -> list[dict[str, Any]]:
        step = max(1, len(self.samples) // MAX_SAMPLES + (1 if len(self.samples) % MAX_SAMPLES else 0))
        return [item.as_dict() for item in self.samples[::step]]


def run(
    dom: Any,
    start: Callable[[], Any],
    policy: Policy,
    report: Optional[Callable[[str], None]] = None,
) -> Outcome:
    """Run ``start`` (the blocking migration call) in a thread; watch and steer the job until it ends."""
    lv = require_libvirt()
    failure: list[Any] = []

    def call() -> None:
        try:
            start()
        except lv.libvirtError as exc:
            failure.append(exc)

    if policy.downtime != DEFAULT_MAX_DOWNTIME_MS:  # before the start: the first pass may be the last
        dom.migrateSetMaxDowntime(policy.downtime, 0)
    begun = time.monotonic()
    worker = threading.Thread(target=call, name=f"kvmfleet-migrate-{dom.name()}", daemon=True)
    worker.start()
    samples: list[Sample] = []
    events: list[str] = []
    aborted = False
    while worker.is_alive():
        worker.join(POLL)
        if not worker.is_alive():
            break
        try:
            stats = dom.jobStats(0)
        except lv.libvirtError:
            continue  # the job is ending
        if stats.get("type", 0) == lv.VIR_DOMAIN_JOB_NONE or not stats.get("memory_total"):
            continue  # not started yet, or ending
        now = sample(stats, time.monotonic() - begun)
        if not samples and policy.downtime == DEFAULT_MAX_DOWNTIME_MS:
            # QEMU's default; a value an earlier run left in this QEMU process is put back, off the critical path
            with contextlib.suppress(lv.libvirtError):
                if dom.migrateGetMaxDowntime(0) != policy.downtime:
                    dom.migrateSetMaxDowntime(policy.downtime, 0)
        if not samples or now.elapsed - samples[-1].elapsed >= 1.0:
            samples.append(now)
            if report is not None:
                report(
                    f"{dom.name()}: {now.elapsed:.0f} s, {now.remaining / MiB:.0f} MiB to send, pass {now.iteration}, "
                    f"{now.dirty_rate} pages/s dirtied"
                )
        action = policy.step(now)
        try:
            if action == "abort" and not aborted:
                dom.abortJob()
                aborted = True
                events.append(f"aborted after {now.elapsed:.0f} s (budget {policy.budget:.0f} s)")
            elif action == "raise_downtime":
                dom.migrateSetMaxDowntime(policy.downtime, 0)
                events.append(f"allowed downtime raised to {policy.downtime} ms at pass {now.iteration}")
            elif action == "postcopy":
                dom.migrateStartPostCopy(0)
                events.append(f"switched to post-copy after {now.elapsed:.0f} s at pass {now.iteration}")
        except lv.libvirtError as exc:  # the job ended meanwhile
            events.append(f"{action} not applied: {exc.get_error_message()}")
    worker.join()
    error = failure[0] if failure else None
    return Outcome(
        completed=error is None,
        aborted=aborted,
        error=error.get_error_message() if error is not None else None,
        error_code=error.get_error_code() if error is not None else None,
        elapsed=time.monotonic() - begun,
        samples=samples,
        events=events,
    )


def completed_stats(dest_dom: Any) -> dict[str, Any]:
    """Duration, downtime, bytes sent and passes of the finished migration, as the destination measured them."""
    lv = require_libvirt()
    try:
        # kept for others to read too (libvirt forgets them once read, without KEEP_COMPLETED)
        stats = dest_dom.jobStats(lv.VIR_DOMAIN_JOB_STATS_COMPLETED | lv.VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED)
    except lv.libvirtError:
        return {}
    return {
        "duration_ms": stats.get("time_elapsed"),
        "downtime_ms": stats.get("downtime"),
        "transferred_mib": round((stats.get("data_processed") or stats.get("memory_processed") or 0) / MiB, 1),
        "iterations": stats.get("memory_iteration"),
        "disk_mib": round((stats.get("disk_processed") or 0) / MiB, 1),
    }
