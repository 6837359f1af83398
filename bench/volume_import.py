# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: import a 1 GiB image served over HTTP from 127.0.0.1 into a dir pool, in the same run:

  plain        curl -o FILE URL; virsh vol-create-as; virsh vol-upload FILE   (no checksum)
  plain+sum    the same with sha256sum FILE checked before the upload           (what a careful script does)
  plain+sum+sync  and the volume file flushed to disk at the end (sync FILE): the same guarantees as
               ours, which fsyncs an image before it appears under its name
  ours         the kvmfleet.kvm.volume module through ansible-playbook, transfer auto (local dir pool:
               streamed into a hidden file in the pool directory, sha256 verified, linked): by default
               (in Ansible's worker, as every task whose host is the controller) and with
               kvmfleet_in_process=false (in a module process)
  ours-stream  transfer: stream (staged in a temporary file, verified, libvirt stream upload: the way
               every remote hypervisor is served), as a module process

The image is 1 GiB of random data (cached in .cache/bench/, not in git). Every way runs ``--rounds``
times, interleaved, in a rotated order each round, after a sync; the table has the best and the
median of each, the ratio of the plain tools' time to ours (the speed of ours relative to plain;
the target is >= 0.8x), and the peak
resident memory (VmHWM) of the process that imports, sampled from /proc while it runs: the module
process, or by default the ansible-playbook processes (the worker is a fork of ansible-playbook, so
its figure includes Ansible's own memory). Our times include
ansible-playbook's own start (an empty play is measured and shown).

Usage: bench/run.sh volume_import [--rounds 3] [--size-mib 1024]   (results in bench/results/)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import kvmtest  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MiB = 1024 * 1024


def make_image(size_mib: int) -> tuple[Path, str]:
    """A file of random data (cached) and its sha256."""
    folder = kvmtest.CACHE / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    image = folder / f"random-{size_mib}MiB.img"
    if not image.exists() or image.stat().st_size != size_mib * MiB:
        partial = image.with_suffix(".part")
        with open(partial, "wb") as handle:
            for _chunk in range(size_mib):
                handle.write(os.urandom(MiB))
        partial.rename(image)
    digest = hashlib.sha256()
    with open(image, "rb") as handle:
        while chunk := handle.read(4 * MiB):
            digest.update(chunk)
    return image, digest.hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Peak:
    """Samples VmHWM (peak RSS) of processes whose command line contains ``marker`` while it runs."""

    def __init__(self, marker: str) -> None:
        self.marker = marker.encode()
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    if self.marker not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                except OSError:
                    continue
            time.sleep(0.05)


class Bench:
    def __init__(self, url: str, checksum: str, size: int, workdir: Path) -> None:
        self.url = url
        self.checksum = checksum
        self.size = size
        self.workdir = workdir
        self.prefix = f"kvb-{secrets.token_hex(2)}-"
        self.pool = f"{self.prefix}pool"
        self.path = Path(f"/var/lib/libvirt/images/{self.pool}")
        kvmtest.virsh("pool-define-as", self.pool, "dir", "--target", str(self.path))
        kvmtest.virsh("pool-build", self.pool)
        kvmtest.virsh("pool-start", self.pool)

    def clean_volumes(self) -> None:
        kvmtest.virsh("pool-refresh", self.pool)
        for line in kvmtest.virsh("vol-list", self.pool).splitlines():
            if line.strip():
                kvmtest.virsh("vol-delete", "--pool", self.pool, line.split()[0])

    def close(self) -> None:
        self.clean_volumes()
        kvmtest.virsh("pool-destroy", self.pool)
        kvmtest.virsh("pool-delete", self.pool)
        kvmtest.virsh("pool-undefine", self.pool)

    def verify(self, name: str) -> None:
        digest = hashlib.sha256()
        with open(self.path / name, "rb") as handle:
            while chunk := handle.read(4 * MiB):
                digest.update(chunk)
        if digest.hexdigest() != self.checksum:
            raise AssertionError(f"{name}: wrong content after the import")

    def plain(self, with_sum: bool, with_sync: bool = False) -> dict[str, float]:
        name = f"{self.prefix}plain.img"
        staged = self.workdir / "staged.img"
        start = time.perf_counter()
        kvmtest.run_cmd(["curl", "-fsS", "-o", str(staged), self.url])
        if with_sum:
            out = kvmtest.run_cmd(["sha256sum", str(staged)])
            if out.split()[0] != self.checksum:
                raise AssertionError("plain: checksum mismatch")
        kvmtest.virsh("vol-create-as", self.pool, name, str(self.size), "--format", "raw", "--allocation", "0")
        kvmtest.virsh("vol-upload", "--pool", self.pool, name, str(staged))
        if with_sync:
            kvmtest.run_cmd(["sync", str(self.path / name)])
        elapsed = time.perf_counter() - start
        staged.unlink()
        self.verify(name)
        return {"seconds": elapsed}

    def ours(self, transfer: str, in_process: bool) -> dict[str, float]:
        name = f"{self.prefix}ours-{transfer}-{int(in_process)}.img"
        task = {
            "name": "import",
            "kvmfleet.kvm.volume": {
                "pool": self.pool,
                "name": name,
                "url": self.url,
                "checksum": f"sha256:{self.checksum}",
                "transfer": transfer,
                "tmp_dir": str(self.workdir),
            },
        }
        with Peak("ansible-playbook" if in_process else "AnsiballZ_volume") as peak:
            start = time.perf_counter()
            play_vars = {"kvmfleet_in_process": in_process}
            result = kvmtest.run_playbook([task], play_vars=play_vars).result("import")
            elapsed = time.perf_counter() - start
        if result.get("failed") or not result.get("changed"):
            raise AssertionError(f"ours ({transfer}): {result.get('msg')}")
        self.verify(name)
        return {"seconds": elapsed, "peak_rss_mib": round(peak.peak_kib / 1024, 1)}


def empty_play() -> float:
    start = time.perf_counter()
    kvmtest.run_playbook([{"name": "noop", "ansible.builtin.meta": "noop"}])
    return time.perf_counter() - start


def table(results: dict[str, Any]) -> str:
    ways = results["ways"]
    plain = min(ways["plain"]["seconds"])
    size_mib = results["size_mib"]
    lines = [
        f"image: {size_mib} MiB of random data over HTTP from 127.0.0.1; {results['rounds']} rounds each, "
        f"interleaved; empty play: {results['empty_play']:.2f} s",
        "",
        "| way | best (s) | median (s) | MiB/s (best) | speed vs plain (best) "
        "| the same without the empty play | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for way, data in ways.items():
        best, median = min(data["seconds"]), statistics.median(data["seconds"])
        ours = way.startswith("ours")
        rss = f"{max(data['peak_rss_mib']):.1f}" if ours else "-"
        net = f"{plain / max(best - results['empty_play'], 0.01):.2f}x" if ours else "-"
        lines.append(
            f"| {way} | {best:.2f} | {median:.2f} | {size_mib / best:.0f} | {plain / best:.2f}x | {net} | {rss} |"
        )
    lines += [
        "",
        "Peak RSS: of the module process; for the default way (the import in Ansible's worker), of the",
        "ansible-playbook processes, the worker being a fork of ansible-playbook (Ansible's own memory included).",
    ]
    return "\n".join(lines)


def rewrite(path: Path) -> None:
    """Rewrite volume-import-latest.md from a stored JSON result (after a change of the table)."""
    results = json.loads(path.read_text())
    header = f"# volume import benchmark, {results['when']}"
    (RESULTS / "volume-import-latest.md").write_text(f"{header}\n\n{table(results)}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--table-from", type=Path, help="only rewrite the table from this stored JSON result")
    args = parser.parse_args()
    if args.table_from:
        rewrite(args.table_from)
        return

    image, checksum = make_image(args.size_mib)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(image.parent), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/{image.name}"
    for _attempt in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    workdir = Path(tempfile.mkdtemp(prefix="kvb-import-", dir="/var/tmp"))
    bench = Bench(url, checksum, args.size_mib * MiB, workdir)
    ways: dict[str, dict[str, list[float]]] = {}
    runs = {
        "plain": lambda: bench.plain(with_sum=False),
        "plain+sha256sum": lambda: bench.plain(with_sum=True),
        "plain+sha256sum+sync": lambda: bench.plain(with_sum=True, with_sync=True),
        "ours, direct, default": lambda: bench.ours("auto", in_process=True),
        "ours, direct, module process": lambda: bench.ours("auto", in_process=False),
        "ours, stream upload, module process": lambda: bench.ours("stream", in_process=False),
    }
    results: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "size_mib": args.size_mib,
        "rounds": args.rounds,
        "ways": ways,
    }
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(1))  # run the cleanup below when stopped
    try:
        results["empty_play"] = min(empty_play() for _attempt in range(2))
        names = list(runs)
        for round_no in range(args.rounds):
            # a different order each round, and the previous way's dirty pages written out first,
            # so that no way pays for the writeback of another
            for way in names[round_no % len(names) :] + names[: round_no % len(names)]:
                os.sync()
                measured = runs[way]()
                for key, value in measured.items():
                    ways.setdefault(way, {}).setdefault(key, []).append(value)
                print(f"round {round_no + 1} {way}: {measured}", flush=True)
                bench.clean_volumes()
    finally:
        bench.close()
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"volume-import-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    report = table(results)
    (RESULTS / "volume-import-latest.md").write_text(f"# volume import benchmark, {results['when']}\n\n{report}\n")
    print(report)


if __name__ == "__main__":
    main()
