# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: 500 defined guests as Ansible inventory, in the same run.

  floor    `ansible-inventory --list` with a one-host inventory: what any inventory costs
  ours     kvmfleet.kvm.libvirt: every URI in one source, read concurrently; addresses, tags, groups;
           cold (cache flushed: read libvirt and write the cache) and warm (cache served)
  c.l      community.libvirt's libvirt plugin (from the `ansible` package): one source per URI, as its
           users do; it has no cache

On one URI (qemu:///system) and on five (five qemu+ssh URIs to this machine, through an sshd of the
benchmark's own on 127.0.0.1-5, started and stopped by PID, with a key of its own). The guests are
never started (tiny direct-boot definitions, named with a random prefix, removed afterwards).
Median of --repeat runs of the real `ansible-inventory --graph` (the inventory loaded and its groups
printed; --list would add the JSON dump of every host variable, which measures the CLI, not the source).

Usage: .cache/venv/bin/python bench/inventory.py [--guests 500] [--repeat 5]   (results in bench/results/)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import socket
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

RESULTS = ROOT / "bench" / "results"
HYPERVISORS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sshd:
    """An sshd of the benchmark's own: its own config, host key and client key; root by key only."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "sshd"
        self.dir.mkdir()
        self.port = free_port()
        self.key = self.dir / "client"
        for key in (self.dir / "host", self.key):
            kvmtest.run_cmd(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
        (self.dir / "authorized_keys").write_text((self.dir / "client.pub").read_text())
        listen = "".join(f"ListenAddress 127.0.0.{i}:{self.port}\n" for i in range(1, HYPERVISORS + 1))
        config = self.dir / "sshd_config"
        config.write_text(
            f"{listen}HostKey {self.dir / 'host'}\nAuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            f"PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\nStrictModes no\n"
            f"PidFile {self.dir / 'sshd.pid'}\nMaxStartups 50\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
        for _attempt in range(50):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)

    def uri(self, index: int) -> str:
        return f"qemu+ssh://root@127.0.0.{index}:{self.port}/system?keyfile={self.key}&no_verify=1"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def define_guests(conn: Any, prefix: str, count: int, workdir: Path) -> None:
    tags = ("web", "db", "cache", "batch")
    for index in range(count):
        xml = kvmtest.tiny_domain_xml(f"{prefix}{index:03d}", None, workdir / "never.log")
        meta = (
            "<metadata><kvmfleet:guest xmlns:kvmfleet='urn:kvmfleet:guest:1'>"
            f"<kvmfleet:tag>{tags[index % len(tags)]}</kvmfleet:tag></kvmfleet:guest></metadata>"
        )
        conn.defineXML(xml.replace("<memory", meta + "\n  <memory", 1))


def ansible_inventory(sources: list[Path], *args: str) -> tuple[float, str]:
    cmd = [str(kvmtest.VENV_BIN / "ansible-inventory")]
    for source in sources:
        cmd += ["-i", str(source)]
    env = kvmtest.ansible_env(ANSIBLE_DEPRECATION_WARNINGS="false")
    start = time.perf_counter()
    proc = subprocess.run([*cmd, "--graph", *args], capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def hosts_with(graph: str, prefix: str) -> int:
    """Distinct guests of the benchmark in ``ansible-inventory --graph`` output."""
    return len({line.split("--", 1)[-1].strip() for line in graph.splitlines() if f"--{prefix}" in line})


def measure(label: str, sources: list[Path], repeat: int, prefix: str, *args: str, prime: bool = False) -> dict:
    times = []
    listed = 0
    if prime:
        ansible_inventory(sources, "--flush-cache")
    for _run in range(repeat):
        elapsed, listing = ansible_inventory(sources, *args)
        times.append(elapsed)
        listed = hosts_with(listing, prefix)
    result = {"label": label, "median": statistics.median(times), "min": min(times), "runs": times, "listed": listed}
    print(f"  {label:34s} {result['median']:.3f} s (min {result['min']:.3f}), {listed} guests", flush=True)
    return result


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guests", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    conn = libvirt.open(kvmtest.SYSTEM_URI)
    prefix = f"kvb-inv-{secrets.token_hex(2)}-"
    work = Path(tempfile.mkdtemp(prefix="kvmfleet-bench-inventory-"))
    sshd = None
    results: dict[str, Any] = {}
    try:
        define_guests(conn, prefix, args.guests, work)
        sshd = Sshd(work)
        start = time.perf_counter()
        conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE, 0)
        results["raw_getAllDomainStats"] = time.perf_counter() - start
        total = len(conn.listAllDomains())
        print(f"{args.guests} guests defined ({total} domains on the host); sshd pid {sshd.proc.pid}", flush=True)

        floor = work / "trivial.ini"
        floor.write_text("h1 ansible_connection=local\n")
        local = kvmtest.SYSTEM_URI
        ssh_uris = [sshd.uri(i) for i in range(1, HYPERVISORS + 1)]
        cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_timeout": 3600}

        def ours(name: str, uris: list[str]) -> Path:
            return write(
                work / f"{name}.libvirt.yml",
                {"plugin": "kvmfleet.kvm.libvirt", "uris": uris, **cache, "cache_connection": str(work / name)},
            )

        def cl(name: str, uri: str) -> Path:
            directory = work / name
            directory.mkdir()
            return write(directory / "cl.libvirt.yml", {"plugin": "community.libvirt.libvirt", "uri": uri})

        n, flush = args.repeat, "--flush-cache"
        five = f"{HYPERVISORS} qemu+ssh"
        rows = [
            measure("floor (one-host inventory)", [floor], n, prefix),
            measure("c.l, qemu:///system", [cl("cl-local", local)], n, prefix),
            measure("ours, qemu:///system, cold", [ours("ours-local", [local])], n, prefix, flush),
            measure("ours, qemu:///system, warm", [ours("ours-local", [local])], n, prefix, prime=True),
            measure("c.l, one qemu+ssh", [cl("cl-ssh1", ssh_uris[0])], n, prefix),
            measure("ours, one qemu+ssh, cold", [ours("ours-ssh1", ssh_uris[:1])], n, prefix, flush),
            measure(f"c.l, {five} (one source each)", [cl(f"cl-{i}", u) for i, u in enumerate(ssh_uris)], n, prefix),
            measure(f"ours, {five}, cold", [ours("ours-ssh5", ssh_uris)], n, prefix, flush),
            measure(f"ours, {five}, warm", [ours("ours-ssh5", ssh_uris)], n, prefix, prime=True),
        ]
        results.update(
            guests=args.guests, domains_on_host=total, repeat=args.repeat, rows=rows, host=platform.node(),
            python=platform.python_version(), date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )  # fmt: skip
    finally:
        if sshd is not None:
            sshd.stop()
        kvmtest.remove_prefixed(conn, prefix)
        conn.close()
        shutil.rmtree(work, ignore_errors=True)
    report(results)


def report(results: dict[str, Any]) -> None:
    rows = {row["label"]: row for row in results["rows"]}
    floor = rows["floor (one-host inventory)"]["median"]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"inventory-{stamp}.json").write_text(json.dumps(results, indent=1))
    lines = [
        f"# Inventory benchmark ({results['date']}, {results['guests']} defined guests of the benchmark, "
        f"{results['domains_on_host']} domains on the host)",
        "",
        "`ansible-inventory --graph`, median of "
        f"{results['repeat']} runs; libvirt's getAllDomainStats alone: {results['raw_getAllDomainStats']:.3f} s.",
        "",
        "| run | median s | x floor | guests listed |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in results["rows"]:
        lines.append(f"| {row['label']} | {row['median']:.3f} | {row['median'] / floor:.2f} | {row['listed']} |")
    ssh1 = rows["ours, one qemu+ssh, cold"]["median"]
    ssh5 = rows[f"ours, {HYPERVISORS} qemu+ssh, cold"]["median"]
    cl_local = rows["c.l, qemu:///system"]["median"]
    ours_local = rows["ours, qemu:///system, cold"]["median"]
    warm = rows["ours, qemu:///system, warm"]["median"]
    cl_ssh1 = rows["c.l, one qemu+ssh"]["median"]
    cl_ssh5 = rows[f"c.l, {HYPERVISORS} qemu+ssh (one source each)"]["median"]
    lines += [
        "",
        f"- one URI: ours {ours_local / floor:.2f}x the floor (target <= 1.3x); community.libvirt "
        f"{cl_local / floor:.2f}x; ours / c.l = {ours_local / cl_local:.2f}",
        f"- five URIs: ours {ssh5 / ssh1:.2f}x its one-URI time (target <= 1.5x); c.l {cl_ssh5 / cl_ssh1:.2f}x",
        f"- warm cache: {warm - floor:+.3f} s from the floor (target within 0.1 s)",
    ]
    text = "\n".join(lines) + "\n"
    (RESULTS / "inventory-latest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    os.umask(0o022)
    main()
