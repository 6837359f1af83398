# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: the fleet report of N declared guests against reading the same guests, in the same run.

  empty     an empty play on the hypervisors group: what any play costs (the floor of the plays below)
  read      plain `kvmfleet.kvm.guest_info` on every hypervisor of the group: reading the fleet
  report    playbooks/report.yml: every hypervisor read once, each declared guest planned in check
            mode, every guest checked for migration, the N+1 headroom, report.json and report.html
  check     the guests role in check mode (--check --diff) on every hypervisor: the drift alone, as a run of
            the declared state would show it
  c.l       community.libvirt's `virt: command=info` on every hypervisor: what its users have to read
            their guests (it has no report)
  raw       the libvirt calls reading the guests needs, in this process: getAllDomainStats and one
            XMLDesc per guest (the floor of `read`, without Ansible)

The N guests (tiny definitions with a qcow2 disk each in a pool of the benchmark's own and a NIC on a
network of its own; never started) are defined by the guests module from the same declarations the
report is given, so all but a few are as declared: every tenth is then changed behind the declaration
(its memory), so the report has drift to show. The runs are interleaved (each round runs every way
once) and the median of --repeat rounds is reported, with the ratio report / read (target <= 1.5x).

The page: report.html of the N guests opened in Debian's chromium (no network), its size, how long it
takes to load, and how long sorting the guests' table by a column and filtering it take (in the page,
``performance.now()`` around the page's own sort and filter functions; median of 5 each).

Usage: bench/run.sh report [--guests 500] [--repeat 5]   (results in bench/results/)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import kvmtest  # noqa: E402
import libvirt  # noqa: E402
import yaml  # noqa: E402

sys.path.insert(0, str(kvmtest.COLLECTIONS))
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.module import GUESTS_ENTRY  # noqa: E402
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct  # noqa: E402

RESULTS = ROOT / "bench" / "results"
REPORT = ROOT / "playbooks" / "report.yml"


def declarations(prefix: str, count: int, pool: str, network: str) -> list[dict[str, Any]]:
    tags = ("web", "db", "cache", "batch")
    return [
        {
            "name": f"{prefix}{index:04d}",
            "memory": "128MiB",
            "vcpus": 1,
            "virt_type": "qemu",
            "tags": [tags[index % len(tags)]],
            "disks": [{"pool": pool, "size": "1MiB"}],
            "interfaces": [{"source": network}],
        }
        for index in range(count)
    ]


def playbook(path: Path, tasks: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump([{"name": "bench", "hosts": "hypervisors", "gather_facts": False, "tasks": tasks}]))
    return path


def role(path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            [{"name": "check", "hosts": "hypervisors", "gather_facts": False, "roles": ["kvmfleet.kvm.guests"]}]
        )
    )
    return path


def run(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=kvmtest.ansible_env(), check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def raw_read(uri: str, prefix: str) -> float:
    """What guest_info asks libvirt for, in this process: the states, then each guest's definition."""
    start = time.perf_counter()
    conn = libvirt.open(uri)
    for dom, _stats in conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE, 0):
        if dom.name().startswith(prefix):
            dom.XMLDesc(0)
    conn.close()
    return time.perf_counter() - start


def page_timings(html: Path) -> dict[str, Any]:
    with kvmtest.offline_browser() as browser:
        start = time.perf_counter()
        browser.get(html.as_uri())
        loaded = time.perf_counter() - start
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        rows = browser.execute_script("return document.querySelectorAll('#guests > tbody > tr').length")
        timings: dict[str, list[float]] = {"sort by name": [], "sort by memory": [], "sort by status": []}
        filtering: list[float] = []
        for _round in range(5):
            for label, column in (("sort by name", 0), ("sort by memory", 5), ("sort by status", 3)):
                timings[label].append(
                    browser.execute_script(
                        f"var t = performance.now(); window.kvmfleetReport.sortBy({column}); "
                        "document.body.offsetHeight; return performance.now() - t"
                    )
                )
            filtering.append(
                browser.execute_script(
                    "var input = document.getElementById('filter-text'); var t = performance.now();"
                    "input.value = 'db'; window.kvmfleetReport.filter(); document.body.offsetHeight;"
                    "var spent = performance.now() - t; input.value = ''; window.kvmfleetReport.filter(); return spent"
                )
            )
    return {
        "rows": rows,
        "bytes": html.stat().st_size,
        "load_s": loaded,
        "console_errors": len(errors),
        "ms": {label: statistics.median(values) for label, values in timings.items()}
        | {"filter by a word": statistics.median(filtering)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guests", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    conn = libvirt.open(kvmtest.SYSTEM_URI)
    prefix = f"kvb-rep-{secrets.token_hex(2)}-"
    work = Path(tempfile.mkdtemp(prefix="kvmfleet-bench-report-"))
    os.chmod(work, 0o755)
    pool_dir = work / "pool"
    pool_dir.mkdir()
    pool_name, net_name = f"{prefix}pool", f"{prefix}net"
    conn.storagePoolCreateXML(
        f"<pool type='dir'><name>{pool_name}</name><target><path>{pool_dir}</path></target></pool>", 0
    )
    conn.networkCreateXML(f"<network><name>{net_name}</name><bridge name='kvb{secrets.token_hex(3)}'/></network>")
    results: dict[str, Any] = {}
    try:
        guests = declarations(prefix, args.guests, pool_name, net_name)
        start = time.perf_counter()
        made = run_direct(GUESTS_ENTRY, {"guests": guests}, False)
        assert not made.get("failed"), made.get("msg")
        print(f"{args.guests} guests defined in {time.perf_counter() - start:.1f} s", flush=True)
        for guest in guests[::10]:  # drift: changed behind the declaration
            conn.lookupByName(guest["name"]).setMemoryFlags(96 * 1024, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        inventory = work / "inventory.yml"
        host = {
            "ansible_connection": "local",
            "ansible_python_interpreter": str(kvmtest.VENV_BIN / "python"),
            "hypervisor_uri": kvmtest.SYSTEM_URI,
            "guests_list": guests,
        }
        inventory.write_text(yaml.safe_dump({"hypervisors": {"hosts": {"localhost": host}}}))
        dest = work / "report"
        play = [str(kvmtest.VENV_BIN / "ansible-playbook"), "-i", str(inventory)]
        ways = {
            "empty": [*play, str(playbook(work / "empty.yml", []))],
            "read": [
                *play,
                str(playbook(work / "read.yml", [{"name": "read", "kvmfleet.kvm.guest_info": {}, "register": "x"}])),
            ],
            "report": [*play, str(REPORT), "-e", f"report_dest={dest}"],
            "check": [*play, str(role(work / "check.yml")), "--check", "--diff"],
            "c.l": [
                *play,
                str(playbook(work / "cl.yml", [{"name": "c.l", "community.libvirt.virt": {"command": "info"}}])),
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in [*ways, "raw"]}
        module: list[float] = []
        for round_ in range(args.repeat + 1):  # the first round warms the caches and is not counted
            for name, cmd in ways.items():
                elapsed = run(cmd)
                if round_:
                    times[name].append(elapsed)
            raw = raw_read(kvmtest.SYSTEM_URI, prefix)
            if round_:
                times["raw"].append(raw)
                module.append(json.loads((dest / "report.json").read_text())["seconds"])
            print(f"round {round_}: " + ", ".join(f"{n} {v[-1]:.2f}" for n, v in times.items() if v), flush=True)
        report = json.loads((dest / "report.json").read_text())
        counts = report["summary"]["counts"]
        results.update(
            guests=args.guests,
            domains_on_host=len(conn.listAllDomains()),
            repeat=args.repeat,
            median={name: statistics.median(values) for name, values in times.items()},
            runs=times,
            module_seconds=statistics.median(module),
            counts={key: counts[key] for key in ("guests", "drifted", "in_sync", "undeclared")},
            page=page_timings(dest / "report.html"),
            host=platform.node(),
            python=platform.python_version(),
            date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
    finally:
        kvmtest.remove_prefixed(conn, prefix)
        for lookup, name in ((conn.storagePoolLookupByName, pool_name), (conn.networkLookupByName, net_name)):
            with contextlib.suppress(libvirt.libvirtError):
                lookup(name).destroy()
        conn.close()
        shutil.rmtree(work, ignore_errors=True)
    write(results)


def write(results: dict[str, Any]) -> None:
    median = results["median"]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"report-{stamp}.json").write_text(json.dumps(results, indent=1))
    page = results["page"]
    empty = median["empty"]
    lines = [
        f"# Fleet report benchmark ({results['date']}, {results['guests']} declared guests on one hypervisor, "
        f"{results['domains_on_host']} domains on it)",
        "",
        f"Median of {results['repeat']} interleaved rounds (wall time of the whole command). The report found "
        f"{results['counts']['guests']} guests: {results['counts']['in_sync']} as declared, "
        f"{results['counts']['drifted']} drifted, {results['counts']['undeclared']} undeclared.",
        "",
        "| way | median s | x read | above the empty play, s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, label in (
        ("empty", "empty play (the floor of every play)"),
        ("read", "read: kvmfleet.kvm.guest_info"),
        ("report", "report: playbooks/report.yml"),
        ("check", "the guests role in check mode (the drift alone)"),
        ("c.l", "community.libvirt virt command=info"),
        ("raw", "raw libvirt reads (no Ansible)"),
    ):
        above = f"{median[name] - empty:.3f}" if name != "raw" else "-"
        lines.append(f"| {label} | {median[name]:.3f} | {median[name] / median['read']:.2f} | {above} |")
    lines += [
        "",
        f"- report / read: **{median['report'] / median['read']:.2f}x** (target <= 1.5x); the module's own time "
        f"(reading, planning {results['guests']} guests, checking, writing): {results['module_seconds']:.3f} s",
        f"- report / community.libvirt's reading: {median['report'] / median['c.l']:.2f}x; report / (read + the guests "
        f"role's check above the empty play): {median['report'] / (median['read'] + median['check'] - empty):.2f}x",
        f"- the page: {page['rows']} rows, {page['bytes'] / 1024:.0f} KiB, loaded in {page['load_s']:.2f} s, "
        f"{page['console_errors']} console errors; "
        + ", ".join(f"{label} {value:.1f} ms" for label, value in page["ms"].items()),
    ]
    text = "\n".join(lines) + "\n"
    (RESULTS / "report-latest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    os.umask(0o022)
    main()
