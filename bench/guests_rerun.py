# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: a no-op rerun of the ``guests`` role against an empty play, measured in interleaved pairs.

The main guests benchmark (bench/guests.py) takes one rerun per size against the median of a few
empty plays taken at other times; on a machine whose speed drifts, that ratio moves by +-30%. Here
N guests are defined once, then an empty play and a no-op rerun of the role alternate ``--pairs``
times, so both see the same machine; the ratio of the medians and of the minimums is reported.

Usage: bench/run.sh guests_rerun [--guests 20] [--pairs 9]   (results in bench/results/)
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
from datetime import datetime, timezone

import libvirt
from guests import RESULTS, Bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guests", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=9)
    args = parser.parse_args()
    conn = libvirt.open("qemu:///system")
    network = f"kvbr-{secrets.token_hex(2)}"
    conn.networkCreateXML(f"<network><name>{network}</name><bridge name='kvb{secrets.token_hex(3)}'/></network>")
    bench = Bench(conn, network, 1)
    try:
        bench.ours(args.guests, 128, "present")  # defined once; every play below changes nothing
        empty, rerun = [], []
        for _pair in range(args.pairs):
            empty.append(bench.empty_play())
            rerun.append(bench.ours(args.guests, 128, "present"))
    finally:
        bench.clean()
        conn.networkLookupByName(network).destroy()
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    median, best = statistics.median(rerun) / statistics.median(empty), min(rerun) / min(empty)
    data = {"when": when, "guests": args.guests, "empty_play": empty, "rerun": rerun}
    (RESULTS / f"guests-rerun-{when[:19].replace(':', '').replace('-', '')}.json").write_text(json.dumps(data))
    table = "\n".join(
        [
            f"# no-op rerun of the guests role vs an empty play, {when}",
            "",
            f"{args.guests} defined guests, {args.pairs} interleaved pairs (empty play, rerun)",
            "",
            "| | empty play (s) | rerun (s) | rerun / empty play |",
            "|---|---|---|---|",
            f"| median | {statistics.median(empty):.2f} | {statistics.median(rerun):.2f} | {median:.2f}x |",
            f"| min | {min(empty):.2f} | {min(rerun):.2f} | {best:.2f}x |",
            "",
            "target: <= 1.5x",
            "",
        ]
    )
    (RESULTS / "guests-rerun-latest.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
