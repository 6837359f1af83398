# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Move one guest between two hypervisors: locate it, check, plan, migrate, read both ends back.

``plan_move`` decides from one read of each end what a move would do (also in check mode, where
nothing else runs): nothing when the guest already runs on the destination; a clear error when it is
on neither end or defined on both; every pre-flight reason at once when it cannot move. Its
``Move`` lists the actions; ``execute_move`` runs them: volumes for copied disks are created on the
destination first, then the migration runs under its convergence policy, and after the call both
ends are read again, so the result says where the guest really is (a migration reported failed
while the guest runs on the destination is a success with a warning). A failed or aborted migration
leaves the guest running on its source and removes what it created on the destination.
"""

from __future__ import annotations

import contextlib
import os
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _faults, _progress
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import ChangedUnderRun, KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import find, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import carry, job
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import preflight as pf
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.options import SHARED
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import ops

ORIGIN = "origin"  # metadata key: the hypervisor a drain moved the guest from
SETTLE_POLL = 0.5
SETTLE_TIMEOUT = 300.0  # the longest wait for a job (a migration an interrupted run left in flight) to end


class MigrationRefused(KvmFleetError):
    """The guest cannot move: every blocking reason, each with its code and fix."""

    def __init__(self, name: str, source: str, dest: str, reasons: list[pf.Reason]) -> None:
        lines = "; ".join(reason.line() for reason in reasons if reason.blocking)
        super().__init__(
            f"{name} cannot move from {source} to {dest}: {lines}",
            reasons=[reason.as_dict() for reason in reasons],
            guest=name,
        )
        self.reasons = reasons


@dataclass
class Copy:
    """A disk the move puts on the destination: mirrored by QEMU (writable) or sent ahead (read-only)."""

    disk: pf.Disk
    pool: pf.Pool
    name: str
    path: str  # on the destination
    ahead: bool  # read-only: its content is copied before the migration starts


@dataclass
class Move:
    """What moving one guest does."""

    name: str
    source: pf.Host
    dest: pf.Host
    values: dict[str, Any]
    peer_uri: str
    migrate_uri: Optional[str]
    guest: Optional[pf.Guest] = None  # None: nothing to do (it is on the destination already)
    reasons: list[pf.Reason] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    origin: Optional[str] = None  # recorded in the guest's metadata on the destination ('' clears it)
    budget: float = 0.0
    snapshots: list[str] = field(default_factory=list)  # the snapshots the move carries (carry.py)
    saved: list[carry.Saved] = field(default_factory=list)  # their definitions, read when the move runs

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    @property
    def moving(self) -> pf.Guest:
        """The guest that moves (a move with nothing to do has none)."""
        if self.guest is None:
            raise KvmFleetError(f"{self.name}: there is nothing to move")
        return self.guest


# ---------------------------------------------------------------------------------------------- locating


def find_guest(conn: Any, name: str) -> Optional[Any]:
    return find(conn.lookupByName, name)


def where(dom: Optional[Any]) -> str:
    """A domain's state in a word: absent, running, paused, stopped."""
    if dom is None:
        return "absent"
    lv = require_libvirt()
    try:
        state = dom.state()[0]
    except lv.libvirtError:
        return "absent"
    if state in (lv.VIR_DOMAIN_RUNNING, lv.VIR_DOMAIN_BLOCKED, lv.VIR_DOMAIN_SHUTDOWN):
        return "running"
    if state in (lv.VIR_DOMAIN_PAUSED, lv.VIR_DOMAIN_PMSUSPENDED):
        return "paused"
    return "stopped"


def settle(dom: Any, timeout: float) -> None:
    """Wait (at most ``timeout`` s) while the guest has a job running, such as a migration an earlier,
    interrupted run started: it is never acted on as if it were settled."""
    lv = require_libvirt()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not dom.isActive() or dom.jobInfo()[0] == lv.VIR_DOMAIN_JOB_NONE:
                return
        except lv.libvirtError:
            return  # gone meanwhile: the caller looks again
        time.sleep(SETTLE_POLL)
    raise KvmFleetError(
        f"{dom.name()} still has a job running after {timeout:.0f} s (virsh domjobinfo {dom.name()}); "
        "wait for it to end or abort it (virsh domjobabort), then run again",
        guest=dom.name(),
    )


def default_migrate_uri(peer_uri: str) -> Optional[str]:
    """tcp://HOST of the destination as the source's libvirtd reaches it (None for a local URI)."""
    host = urlsplit(peer_uri).hostname
    if not host:
        return None
    return f"tcp://[{host}]" if ":" in host else f"tcp://{host}"


# ---------------------------------------------------------------------------------------------- planning


def plan_move(
    src_conn: Any,
    dst_conn: Any,
    source: pf.Host,
    dest: pf.Host,
    *,
    name: str,
    values: dict[str, Any],
    peer_uri: Optional[str] = None,
    migrate_uri: Optional[str] = None,
    origin: Optional[str] = None,
    facts: Optional[pf.Guest] = None,
) -> Move:
    """What moving ``name`` from ``source`` to ``dest`` does; raises when it cannot move.

    ``facts`` are the guest's facts when the caller read them moments ago (the drain, which read every
    guest to place it, once no job of an interrupted run was left on it); otherwise they are read here,
    after waiting for such a job to end.
    """
    peer = peer_uri or dest.uri
    move = Move(name, source, dest, values, peer, migrate_uri or default_migrate_uri(peer), origin=origin)
    lv = require_libvirt()
    try:
        return _plan_located(move, src_conn, dst_conn, facts)
    except lv.libvirtError as exc:
        if exc.get_error_code() != lv.VIR_ERR_NO_DOMAIN:
            raise
        raise ChangedUnderRun(  # a migration ending (an interrupted run's) took it while it was read
            f"{name} left {source.name} while this run read it"
        ) from exc


def _plan_located(move: Move, src_conn: Any, dst_conn: Any, facts: Optional[Any]) -> Move:
    name, source, dest, values = move.name, move.source, move.dest, move.values
    src_dom = find_guest(src_conn, name)
    if src_dom is not None and facts is None and src_dom.isActive():
        settle(src_dom, SETTLE_TIMEOUT)  # a migration an interrupted run left in flight ends first
        src_dom = find_guest(src_conn, name)
    dst_dom = find_guest(dst_conn, name)
    if src_dom is not None and dst_dom is not None:
        raise KvmFleetError(
            f"{name} is defined on both {source.name} ({source.uri}: {where(src_dom)}) and {dest.name} "
            f"({dest.uri}: {where(dst_dom)}): decide which one is the guest and undefine the other",
            guest=name,
        )
    if src_dom is None:
        if dst_dom is not None and (where(dst_dom) in ("running", "paused") or values["offline"]):
            _plan_finish(move, dst_dom)  # already there (with the snapshots an interrupted move carried?)
            return move
        if dst_dom is not None:
            raise KvmFleetError(
                f"{name} is defined on the destination {dest.name} but not running there, and not on the source "
                f"{source.name}; start it there (or set offline: true if its definition alone was to move)",
                guest=name,
            )
        raise KvmFleetError(
            f"{name} is on neither {source.name} ({source.uri}) nor {dest.name} ({dest.uri})", guest=name
        )
    guest = facts if facts is not None else pf.read_guest(src_dom, src_conn)
    move.guest = guest
    migration_host = urlsplit(move.migrate_uri).hostname if move.migrate_uri and not values["tunnelled"] else None
    resolved = pf.resolve(migration_host) if migration_host and source.local else None
    reasons = pf.check(
        guest,
        source,
        dest,
        storage=values["storage"] if guest.running else SHARED,
        dest_pool=values["dest_pool"],
        allow_unsafe=values["allow_unsafe"],
        offline=values["offline"],
        cpu_incompatible=pf.cpu_verdict(dst_conn, guest, dest) if guest.running else None,
        migration_host=migration_host if guest.running else None,
        resolved=resolved,
    )
    if not guest.running and values["storage"] != SHARED:
        reasons.append(
            pf.Reason(
                "offline_copy",
                f"{name} is stopped: libvirt moves a stopped guest's definition only and cannot copy its disks",
                "use storage: shared for a stopped guest, or start it first",
            )
        )
    move.reasons = reasons
    if any(reason.blocking for reason in reasons):
        raise MigrationRefused(name, source.name, dest.name, reasons)
    _plan_copies(move)
    if guest.carried or guest.snapshots:
        move.snapshots = guest.carried or [saved.name for saved in carry.defined(src_dom)]
    if move.snapshots:
        move.actions.append(
            f"carry the snapshots {', '.join(move.snapshots)} of {name} to {dest.name} (defined there again)"
        )
    copied_bytes = sum(copy.disk.allocation or copy.disk.capacity for copy in move.copies if not copy.ahead)
    move.budget = job.budget(values, guest.memory_mib, copied_bytes)
    how = "live-migrate" if guest.running else "move the definition of"
    mode = "peer-to-peer" if values["p2p"] else "through this module"
    storage = values["storage"] if move.copies else SHARED
    move.actions.append(f"{how} {name} from {source.name} to {dest.name} ({mode}, storage {storage})")
    return move


def _plan_finish(move: Move, dst_dom: Any) -> None:
    """A guest on the destination whose move was interrupted before its snapshots were defined there."""
    move.snapshots = [saved.name for saved in carry.recorded_on(dst_dom)]
    if move.snapshots:
        move.actions.append(
            f"define the snapshots {', '.join(move.snapshots)} of {move.name} on {move.dest.name}, where an "
            "interrupted move left them recorded"
        )


def _plan_copies(move: Move) -> None:
    guest = move.moving
    if not guest.running:
        return
    for disk in guest.disks:
        if not pf.copied_disk(disk, move.dest, move.values["storage"]):
            continue
        pool = pf.copy_pool(move.dest, disk, move.values["dest_pool"])
        if pool is None:  # the pre-flight check refused the move already
            raise KvmFleetError(f"{move.name}: no pool on {move.dest.name} for disk {disk.target}")
        name = disk.volume or os.path.basename(disk.path or "")
        path = os.path.join(pool.path, name) if pool.path else name
        copy = Copy(disk, pool, name, path, ahead=disk.readonly)
        move.copies.append(copy)
        what = "copy the read-only volume" if copy.ahead else "create the volume"
        move.actions.append(f"{what} {name} ({disk.target}) in pool {pool.name} on {move.dest.name}")


# ---------------------------------------------------------------------------------------------- definitions


def definitions(move: Move) -> tuple[str, Optional[str]]:
    """The guest's live and persistent definitions for the destination: copied disks pointed at their
    new pool or path, and the drain's origin mark set or cleared."""
    guest = move.moving
    by_path = move.values["storage"] == "copy_incremental"
    return _edit(guest.xml, move, by_path), (_edit(guest.config_xml, move) if guest.config_xml else None)


def _edit(xml: str, move: Move, by_path: bool = False) -> str:
    """``by_path``: copied volumes named by their file in the (live) definition. An incremental copy needs
    it: libvirt (9.0) looks for the pre-created target by path only and refuses ("pre-creation of storage
    targets for incremental storage migration is not supported") when a volume disk has none; the
    persistent definition keeps the pool and volume."""
    root = ET.fromstring(xml)
    for copy in move.copies:
        element = gx.find_disk(root, copy.disk.target)
        source = element.find("source") if element is not None else None
        if source is None or element is None:
            continue
        if copy.disk.kind == "volume" and by_path and copy.pool.path:
            element.set("type", "file")
            for attribute in ("pool", "volume"):
                source.attrib.pop(attribute, None)
            source.set("file", copy.path)
        elif copy.disk.kind == "volume":
            source.set("pool", copy.pool.name)
            source.set("volume", copy.name)
        elif source.get("file") is not None:
            source.set("file", copy.path)
    gx.write_meta(root, pf.COPYING, None)
    carry.write_record(root, move.saved)
    if move.origin is not None:
        gx.write_meta(root, ORIGIN, move.origin or None)
    return gx.to_string(root)


# ---------------------------------------------------------------------------------------------- running


def _create_copies(move: Move, src_conn: Any, dst_conn: Any) -> list[Any]:
    """The destination's volumes for the copied disks; the read-only ones get their content now."""
    created = []
    incremental = move.values["storage"] == "copy_incremental"
    for copy in move.copies:
        pool = dst_conn.storagePoolLookupByName(copy.pool.name)
        disk = copy.disk
        backing = (
            (disk.backing, disk.backing_format or "qcow2") if incremental and disk.backing and not copy.ahead else None
        )
        fmt = disk.format if disk.format in ("qcow2", "raw") else "raw"
        _faults.point(f"create the volume {copy.name}")
        vol = ops.create_volume(pool, copy.name, disk.capacity, fmt, backing)
        created.append(vol)
        if copy.ahead:
            ops.copy_between(src_conn, src_conn.storageVolLookupByPath(disk.path), dst_conn, vol)
    return created


def _start(move: Move, src_dom: Any, dst_conn: Any) -> Callable[[], Any]:
    guest = move.moving
    values = move.values
    copied = [copy.disk.target for copy in move.copies if not copy.ahead]
    flags = job.migration_flags(values, guest.running, bool(copied))
    dest_xml, persist_xml = definitions(move)
    params = job.migration_params(values, move.migrate_uri if guest.running else None, dest_xml, persist_xml, copied)
    step = f"{'live-' if guest.running else ''}migrate {move.name}"
    if values["p2p"]:
        return lambda: _faults.run(step, lambda: src_dom.migrateToURI3(move.peer_uri, params, flags))
    return lambda: _faults.run(step, lambda: src_dom.migrate3(dst_conn, params, flags))


def mark_copying(dom: Any, host_uuid: Optional[str]) -> None:
    """Record on the source guest (live and persistent) that a move copies its disks to ``host_uuid``
    (None: clear it). A run killed after making the destination's volumes leaves the mark: the rerun
    knows those volumes for its own and copies into them instead of refusing them as someone's data.
    The destination's definitions never carry it (``_edit``)."""
    carry.update_metadata(dom, lambda root: gx.write_meta(root, pf.COPYING, host_uuid))


def execute_move(
    move: Move, src_conn: Any, dst_conn: Any, report: Optional[Callable[[str], None]] = None
) -> dict[str, Any]:
    """Run the move's actions; the result says where the guest is afterwards (read from both ends)."""
    lv = require_libvirt()
    if move.guest is None:
        return _finish(move, dst_conn)
    guest = move.moving
    src_dom = src_conn.lookupByName(move.name)
    created: list[Any] = []
    try:
        if move.copies:
            mark_copying(src_dom, move.dest.uuid)
        created = _create_copies(move, src_conn, dst_conn)
        if move.snapshots:
            move.saved = carry.to_carry(carry.recorded_on(src_dom), src_dom)
            carry.stash(src_dom, move.saved)
    except (lv.libvirtError, KvmFleetError) as exc:
        _remove(created)
        with contextlib.suppress(lv.libvirtError):
            mark_copying(src_dom, None)
        if move.saved:
            with contextlib.suppress(lv.libvirtError):  # else the record stays, and a rerun carries them on
                carry.restore(src_dom, move.saved)
        message = exc.get_error_message() if isinstance(exc, lv.libvirtError) else exc.msg
        raise KvmFleetError(
            f"{move.name}: preparing its move to {move.dest.name} failed: {message}", guest=move.name
        ) from exc
    start = _start(move, src_dom, dst_conn)
    _progress.report(f"move {move.name}", f"moving {move.name} from {move.source.name} to {move.dest.name}")
    if guest.running:
        policy = job.Policy(
            move.values["converge"], move.budget, move.values["max_downtime"], move.values["max_downtime_limit"]
        )
        outcome = job.run(src_dom, start, policy, report)
    else:
        begun = time.monotonic()
        try:
            start()
            outcome = job.Outcome(True, False, None, None, time.monotonic() - begun, [], [])
        except lv.libvirtError as exc:
            outcome = job.Outcome(
                False, False, exc.get_error_message(), exc.get_error_code(), time.monotonic() - begun, [], []
            )
    src_after, dst_after = where(find_guest(src_conn, move.name)), where(find_guest(dst_conn, move.name))
    result = {
        "name": move.name,
        "source": move.source.name,
        "destination": move.dest.name,
        "elapsed_s": round(outcome.elapsed, 2),
        "progress": outcome.progress(),
        "events": outcome.events,
        "warnings": [reason.line() for reason in move.reasons if not reason.blocking],
    }
    arrived = dst_after in ("running", "paused") or (not guest.running and dst_after == "stopped")
    if arrived and src_after == "absent":
        dst_dom = dst_conn.lookupByName(move.name)
        result.update(job.completed_stats(dst_dom) if guest.running else {})
        if move.saved:
            result["snapshots"] = _restore(move, dst_dom, move.dest.name, result)
        if not outcome.completed:
            result["warnings"].append(
                f"libvirt reported '{outcome.error}', yet {move.name} runs on {move.dest.name} and is gone from "
                f"{move.source.name}: the migration completed"
            )
        if move.values["remove_source_volumes"]:
            result["removed_source_volumes"] = _remove_sources(move, src_conn)
        return result
    if src_after in ("running", "paused", "stopped") and dst_after == "absent":
        _remove(created)
        if move.copies:
            with contextlib.suppress(lv.libvirtError):
                mark_copying(src_dom, None)
        restored = ""
        if move.saved:
            try:
                _restore(move, src_dom, move.source.name, result)
            except KvmFleetError as exc:
                restored = f"; {exc.msg}"
        if outcome.aborted:
            why = (
                f"did not converge within its budget of {move.budget:.0f} s and was aborted "
                f"({'; '.join(outcome.events)})"
            )
        else:
            why = f"failed: {outcome.error}"
        raise KvmFleetError(
            f"{move.name}: the migration from {move.source.name} to {move.dest.name} {why}; the guest is "
            f"{src_after} on {move.source.name}, untouched{restored}",
            guest=move.name,
            migration=result,
            libvirt_error_code=outcome.error_code,
        )
    raise KvmFleetError(
        f"{move.name}: after the migration the guest is {src_after} on {move.source.name} and {dst_after} on "
        f"{move.dest.name} ({outcome.error or 'libvirt reported success'}); check both before running again",
        guest=move.name,
        migration=result,
    )


def _restore(move: Move, dom: Any, host: str, result: dict[str, Any]) -> list[str]:
    """Define the carried snapshots where the guest is; a failure says the record stays for a rerun."""
    lv = require_libvirt()
    try:
        carry.restore(dom, move.saved)
    except lv.libvirtError as exc:
        raise KvmFleetError(
            f"{move.name}: defining its snapshots on {host} failed: {exc.get_error_message()}; they stay recorded "
            "in the guest's metadata, and the next run defines them",
            guest=move.name,
            migration=result,
        ) from exc
    return [saved.name for saved in move.saved]


def _finish(move: Move, dst_conn: Any) -> dict[str, Any]:
    """The end of an interrupted move: the guest is on the destination, its snapshots only recorded."""
    dst_dom = dst_conn.lookupByName(move.name)
    move.saved = carry.recorded_on(dst_dom)
    result: dict[str, Any] = {"name": move.name, "source": move.source.name, "destination": move.dest.name}
    result["snapshots"] = _restore(move, dst_dom, move.dest.name, result)
    return result


def _remove(volumes: list[Any]) -> None:
    lv = require_libvirt()
    for vol in volumes:
        with contextlib.suppress(lv.libvirtError):
            vol.delete(0)


def _remove_sources(move: Move, src_conn: Any) -> list[str]:
    """Delete the source's copies of the disks the move copied (only with remove_source_volumes)."""
    lv = require_libvirt()
    removed = []
    for copy in move.copies:
        try:
            src_conn.storageVolLookupByPath(copy.disk.path).delete(0)
            removed.append(copy.disk.path or copy.name)
        except lv.libvirtError:
            continue
    return removed
