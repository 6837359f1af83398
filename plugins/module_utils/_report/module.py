# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet_report entry: read every hypervisor once, judge the fleet, write report.json and report.html.

In order:

1. every hypervisor is read at the same time, each over one connection (``read.read``); one that does not
   answer within ``connect_timeout`` (or fails) is reported as unreachable, the others still are;
2. the fleet's declared guests are placed as the guests role would (``fleet.placement``);
3. every declared guest is planned in check mode on its hypervisor (``read.drift``), hypervisors at the
   same time;
4. every guest is checked against every other hypervisor (``fleet.migrations``; libvirt compares a
   running guest's CPU with each destination's, once per CPU definition), and each hypervisor's drain is
   simulated (``fleet.headroom``);
5. the report is assembled, stripped of every secret the task was given, and written (``dest``), unless in
   check mode. ``changed`` says whether its findings differ from the report already in ``dest``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from ansible.module_utils.common.parameters import remove_values

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _progress
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet import placement as pl
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import is_local_uri
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import preflight as pf
from ansible_collections.kvmfleet.kvm.plugins.module_utils._report import fleet
from ansible_collections.kvmfleet.kvm.plugins.module_utils._report.html import render
from ansible_collections.kvmfleet.kvm.plugins.module_utils._report.options import (
    REPORT_MODULE,
    all_default_secrets,
    merge_all_defaults,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._report.read import Scan, drift, read
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import Entry, run_entry

SCHEMA_VERSION = 1
# what the report keeps of host_info's facts of a hypervisor
HOST_KEYS = (
    "hostname", "libvirt_version", "hypervisor_version", "arch", "cpu_model", "cpus", "memory_mib", "labels",
    "maintenance", "capacity",
)  # fmt: skip
MiB = 1024 * 1024


def collection_version(here: Path = Path(__file__)) -> str:
    """This collection's version: an installed collection's MANIFEST.json, a checkout's galaxy.yml."""
    root = here.resolve().parents[3]
    try:
        return str(json.loads((root / "MANIFEST.json").read_text())["collection_info"]["version"])
    except (OSError, ValueError, KeyError):
        pass
    try:
        for line in (root / "galaxy.yml").read_text().splitlines():
            if line.startswith("version:"):
                return line.split(":", 1)[1].strip().strip("'\"")
    except OSError:
        pass
    return "unknown"


def _each(scans: list[Scan], work: Callable[[Scan], Any]) -> list[Any]:
    """``work`` on every scan at the same time."""
    if not scans:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(scans))) as pool:
        return list(pool.map(work, scans))


def _cpu_check(cache: dict[tuple[Any, ...], Optional[str]]) -> fleet.CpuCheck:
    """libvirt's verdict on a destination for a running guest's CPU, asked once per CPU definition."""

    def verdict(guest: pf.Guest, dest: Scan) -> Optional[str]:
        key = (dest.name, guest.cpu_xml, guest.cpu_mode, guest.arch, guest.machine, guest.virt_type, guest.emulator)
        if key not in cache and dest.host is not None:
            cache[key] = pf.cpu_verdict(dest.conn, guest, dest.host)
        return cache.get(key)

    return verdict


def _hypervisor(scan: Scan, room: Optional[dict[str, Any]], drifted: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": scan.name, "uri": scan.uri, "reachable": scan.reachable, "error": scan.error}
    entry["read_seconds"] = round(scan.seconds, 3)
    if not scan.reachable or scan.host is None:
        return entry
    facts = scan.facts
    entry.update({key: facts[key] for key in HOST_KEYS})
    entry["kvm"] = {"usable": facts["kvm"]["usable"], "reason": facts["kvm"]["reason"]}
    entry["pools"] = [
        {
            "name": pool.name,
            "type": pool.type,
            "path": pool.path,
            "active": pool.active,
            "capacity_mib": pool.capacity // MiB,
            "allocation_mib": pool.allocation // MiB,
            "available_mib": pool.available // MiB,
            "volumes": len(pool.volumes),
        }
        for pool in sorted(scan.host.pools.values(), key=lambda pool: pool.name)
    ]
    entry["networks"] = sorted(scan.host.networks)
    entry["drifted"] = drifted
    entry["headroom"] = room
    return entry


def build(values: dict[str, Any], say: Callable[[str], None] = lambda _message: None) -> dict[str, Any]:
    """The report's data (without its time and version), from reading every hypervisor of ``values``."""
    scans = [Scan(host["name"], host["uri"], is_local_uri(host["uri"])) for host in values["hypervisors"]]
    say(f"reading {len(scans)} hypervisors")
    _each(scans, lambda scan: read(scan, values["connect_timeout"]))
    try:
        return _judge(values, scans, say)
    finally:
        for scan in scans:
            scan.close()


def _judge(values: dict[str, Any], scans: list[Scan], say: Callable[[str], None]) -> dict[str, Any]:
    fleet_guests = [(f"guests[{index}]", guest) for index, guest in enumerate(values["guests"])]
    groups = pl.groups_from(values["anti_affinity"])
    placed = fleet.placement(scans, fleet_guests, groups, values["strategy"])
    declarations: dict[str, fleet.Declaration] = {}
    per_host: dict[str, list[fleet.Declared]] = {scan.name: [] for scan in scans}
    for index, host in enumerate(values["hypervisors"]):
        for position, guest in enumerate(host["guests"]):
            path = f"hypervisors[{index}].guests[{position}]"
            declarations[guest["name"]] = fleet.Declaration(path, guest, host["name"])
            per_host[host["name"]].append((path, guest))
    for path, guest in fleet_guests:
        declarations[guest["name"]] = fleet.Declaration(path, guest, None)
        home = placed.hosts.get(guest["name"])
        if home is not None:
            per_host[home].append((path, guest))
    reachable = [scan for scan in scans if scan.reachable]
    say(f"planning {sum(len(per_host[scan.name]) for scan in reachable)} declared guests in check mode")
    drifts: dict[tuple[str, str], dict[str, Any]] = {}
    for scan, found in zip(reachable, _each(reachable, lambda scan: drift(scan, per_host[scan.name]))):
        drifts.update({(scan.name, name): result for name, result in found.items()})
    say("checking where every guest could move")
    moves = fleet.migrations(scans, _cpu_check({}))
    rooms = fleet.headroom(scans, moves, fleet_guests, groups, values["strategy"])
    biggest = fleet.largest(scans)
    n_plus_1 = {"hypervisor": biggest.name, **rooms[biggest.name]} if biggest is not None else None
    guests = fleet.rows(scans, declarations, drifts, placed, moves)
    hypervisors = [
        _hypervisor(
            scan,
            rooms.get(scan.name),
            sum(1 for row in guests if row["hypervisor"] == scan.name and row["status"] in ("drifted", "error")),
        )
        for scan in scans
    ]
    order = {status: index for index, status in enumerate(fleet.STATUSES)}
    guests.sort(key=lambda row: (order[row["status"]], row["name"], row["hypervisor"] or ""))
    return {
        "hypervisors": hypervisors,
        "guests": guests,
        "duplicates": fleet.duplicates(scans),
        "n_plus_1": n_plus_1,
        "placement_warnings": placed.warnings,
        "summary": fleet.summarise(hypervisors, guests, n_plus_1),
    }


def _previous(path: Path) -> Optional[list[str]]:
    """The findings of the report already at ``path`` (None: none, or not one of this schema)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema_version") == SCHEMA_VERSION:
            return list(data["summary"]["findings"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a reader never sees half a report)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _report(_conn: Any, invocation: Any) -> dict[str, Any]:
    values = invocation.values
    started = time.monotonic()

    def say(message: str) -> None:
        _progress.report(f"report: {message}", message)

    secrets = REPORT_MODULE.secrets(invocation.params) | all_default_secrets(invocation.params)
    data = build(values, say)
    report = {
        "schema_version": SCHEMA_VERSION,
        "title": values["title"],
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "collection": {"name": "kvmfleet.kvm", "version": collection_version()},
        "inventory": values["inventory"],
        "seconds": 0.0,
        **data,
    }
    if secrets:  # nothing the task was given as a secret reaches the files
        report = remove_values(report, secrets)
    dest = Path(values["dest"]).expanduser().resolve()
    json_path, html_path = dest / "report.json", dest / "report.html"
    before = _previous(json_path)
    after = report["summary"]["findings"]
    changed = before != after
    if not invocation.check_mode:
        dest.mkdir(parents=True, exist_ok=True)
        report["seconds"] = round(time.monotonic() - started, 3)
        say(f"writing {html_path}")
        _write(json_path, json.dumps(report, indent=1, sort_keys=True) + "\n")
        _write(html_path, render(report))
    result: dict[str, Any] = {
        "changed": changed,
        "json": str(json_path),
        "html": str(html_path),
        "summary": report["summary"]["lines"],
        "counts": report["summary"]["counts"],
        # not "unreachable": Ansible would take this host for unreachable
        "unreachable_hypervisors": [host["name"] for host in report["hypervisors"] if not host["reachable"]],
    }
    if changed:
        gone, new = sorted(set(before or []) - set(after)), sorted(set(after) - set(before or []))
        result["diff"] = {  # only the findings that differ: a fleet of thousands of guests has as many lines
            "before": "".join(f"{line}\n" for line in gone),
            "after": "".join(f"{line}\n" for line in new),
            "before_header": f"{json_path} (findings)" if before is not None else "(no earlier report)",
            "after_header": "the fleet now",
        }
    return result


REPORT_ENTRY = Entry(
    REPORT_MODULE, _report, prepare=merge_all_defaults, hidden=all_default_secrets, readonly=True, connects=False
)
"""Module entry for ``kvmfleet.kvm.fleet_report`` (its action plugin runs it on the controller)."""


def run_report_module() -> None:
    run_entry(REPORT_ENTRY)
