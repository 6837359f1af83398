# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: the guests role as it is now against the same role at an earlier revision, side by side.

For a change of the engine (how a plan reads and compares a guest) that must not cost time: N tiny
guests (default 50, as bench/guests.py makes them), define, no-op rerun and update (memory changed on
all N), each measured for

  base   kvmfleet.kvm at --baseline (a git revision, exported to a temporary collections tree)
  ours   this checkout
  c.l    community.libvirt (`virt` define looped over the guests), as in bench/guests.py
  raw    libvirt-python calls in this process: the floor

base and ours alternate in every round, so a drift of the machine touches both. The median of --repeat
rounds is reported with the ratios; results in bench/results/engine-*.json and engine-latest.md.

Usage: bench/run.sh engine [--baseline REV] [--n 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import guests
import libvirt

MEASURES = ("define", "rerun", "update")
WAYS = ("base", "ours", "c.l", "raw")


def export(rev: str, into: Path) -> Path:
    """The collection at ``rev`` as a collections tree (``ansible_collections/kvmfleet/kvm``)."""
    target = into / "ansible_collections" / "kvmfleet" / "kvm"
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(guests.ROOT), "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return into


def rounds(bench: guests.Bench, n: int, base: Path, repeat: int, say: Callable[[str], None]) -> dict[str, Any]:
    times: dict[str, dict[str, list[float]]] = {m: {w: [] for w in WAYS} for m in MEASURES}

    def ours(collections: Any) -> Callable[[int], float]:
        def run(mib: int) -> float:
            bench.collections = collections
            try:
                return bench.ours(n, mib, "present")
            finally:
                bench.collections = None

        return run

    ways: dict[str, dict[str, Callable[[int], float]]] = {
        "base": dict.fromkeys(MEASURES, ours(base)),
        "ours": dict.fromkeys(MEASURES, ours(None)),
        "c.l": dict.fromkeys(MEASURES, lambda mib: bench.community(n, mib, False)),
        "raw": {
            "define": lambda mib: bench.raw_define(n, mib, False),
            "rerun": lambda _mib: bench.raw_rerun(n),
            "update": lambda mib: bench.raw_update(n, mib),
        },
    }
    for attempt in range(repeat):
        order = WAYS if attempt % 2 == 0 else ("ours", "base", "c.l", "raw")
        for way in order:
            run = ways[way]
            bench.clean()
            times["define"][way].append(run["define"](128))
            bench.check_defined(n, 128)
            times["rerun"][way].append(run["rerun"](128))
            times["update"][way].append(run["update"](160 + 16 * attempt))
            bench.check_defined(n, 160 + 16 * attempt)
        say(
            f"  round {attempt + 1}: "
            + "  ".join(f"{w} " + "/".join(f"{times[m][w][-1]:.2f}" for m in MEASURES) for w in WAYS)
        )
    bench.clean()
    return {m: {w: statistics.median(times[m][w]) for w in WAYS} for m in MEASURES} | {"all": times}


def table(result: dict[str, Any]) -> str:
    lines = [
        "| measure | base (s) | ours (s) | c.l (s) | raw (s) | ours / base | c.l / ours | ours / raw |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for measure in MEASURES:
        base, ours, cl, raw = (result[measure][way] for way in WAYS)
        lines.append(
            f"| {measure} | {base:.2f} | {ours:.2f} | {cl:.2f} | {raw:.3f} | {ours / base:.2f}x | {cl / ours:.1f}x"
            f" | {ours / raw:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="HEAD~1", help="git revision of the 'base' collection")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rev = subprocess.run(
        ["git", "-C", str(guests.ROOT), "rev-parse", "--short", args.baseline],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    conn = libvirt.open(guests.kvmtest.SYSTEM_URI)
    net_name = f"kvb-net-{secrets.token_hex(2)}"
    conn.networkCreateXML(f"<network><name>{net_name}</name><bridge name='kvb{secrets.token_hex(3)}'/></network>")
    bench = guests.Bench(conn, net_name, args.repeat)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = rounds(bench, args.n, export(rev, Path(tmp)), args.repeat, lambda line: print(line, flush=True))
    finally:
        bench.clean()
        conn.networkLookupByName(net_name).destroy()
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": conn.getInfo()[2], "libvirt": conn.getLibVersion(), "python": platform.python_version()},
        "baseline": rev,
        "n": args.n,
        "method": (
            f"{args.n} guests without kernel or disk, 128 MiB, one NIC on an isolated network; the guests role in "
            f"Ansible's worker (local connection); base = kvmfleet.kvm at {rev}; median of {args.repeat} rounds, "
            "base and ours alternating"
        ),
        **result,
    }
    guests.RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    (guests.RESULTS / f"engine-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    report = table(result)
    (guests.RESULTS / "engine-latest.md").write_text(
        f"# engine benchmark, {results['when']}\n\n{results['method']}\n\n{report}\n"
    )
    print(report)


if __name__ == "__main__":
    main()
