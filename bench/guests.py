# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: N tiny guests, three ways in the same run, on the real libvirtd.

  ours     the kvmfleet.kvm.guests role: one module call for all N guests, run inside Ansible's
           worker as it is whenever the hypervisor is the controller (local connection)
  ours-mp  the same role forced to a module process (kvmfleet_in_process=false), as on a remote host
  c.l      community.libvirt (from the `ansible` package): `virt` define with an XML template, then
           `virt` state running, looped over the guests, as its users do
  raw      libvirt-python calls in this process: the floor

Measured separately for each N: define only; a no-op rerun; one field (memory) changed on all N
guests; define + start. Starting guests is measured with guests that do not load the CPU once up:
no kernel and no disk, so SeaBIOS finds nothing to boot and halts the vCPU - every way starts the
same guests, and 2 cores are not shared by N booting kernels.

Every measure is repeated (--repeat, default 3) and the median is reported. Python may cache compiled
bytecode, as on any controller (PYTHONDONTWRITEBYTECODE is dropped for the plays).

Usage: bench/run.sh [--sizes 1,10,20,50] [--repeat 3]   (results in bench/results/)
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import kvmtest  # noqa: E402
import libvirt  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TEMPLATE = ROOT / "bench" / "templates" / "guest.xml.j2"


def guest_xml(name: str, memory_mib: int, network: str) -> str:
    """The XML community.libvirt and the raw calls define: the template, rendered here without Jinja."""
    text = TEMPLATE.read_text()
    return (
        text.replace("{{ item }}", name).replace("{{ memory_mib }}", str(memory_mib)).replace("{{ network }}", network)
    )


def ours_options(memory_mib: int, network: str, state: str) -> dict[str, Any]:
    return {
        "memory": f"{memory_mib}MiB",
        "vcpus": 1,
        "boot": ["hd"],
        "interfaces": [{"source": network}],
        "guest_agent": False,
        "state": state,
    }


WAYS = ("ours", "ours-mp", "c.l", "raw")
MEASURES = ("define", "rerun", "update", "define_start")


class Bench:
    def __init__(self, conn: Any, network: str, repeat: int) -> None:
        self.conn = conn
        self.network = network
        self.repeat = repeat
        self.prefix = f"kvb-{secrets.token_hex(2)}-"
        self.collections: Optional[Path] = None  # another kvmfleet.kvm to run as "ours" (bench/engine.py)

    def names(self, n: int) -> list[str]:
        return [f"{self.prefix}{i:03d}" for i in range(n)]

    def clean(self) -> None:
        kvmtest.remove_prefixed(self.conn, self.prefix)

    # ------------------------------------------------------------------ the three ways

    def play(self, play: dict[str, Any]) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "play.yml"
            path.write_text(json.dumps([{"hosts": "localhost", "connection": "local", "gather_facts": False, **play}]))
            env = kvmtest.ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
            if self.collections is not None:
                env["ANSIBLE_COLLECTIONS_PATH"] = str(self.collections)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            start = time.perf_counter()
            proc = subprocess.run(
                [str(kvmtest.VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(path)],
                capture_output=True, text=True, env=env, check=False,
            )  # fmt: skip
            elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"playbook failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
        return elapsed

    def ours(self, n: int, memory_mib: int, state: str, in_process: bool = True) -> float:
        guests = [{"name": name} for name in self.names(n)]
        role = {
            "role": "kvmfleet.kvm.guests",
            "vars": {"guests_list": guests, "guests_defaults": ours_options(memory_mib, self.network, state)},
        }
        return self.play({"vars": {"kvmfleet_in_process": in_process}, "roles": [role]})

    def community(self, n: int, memory_mib: int, start: bool) -> float:
        tasks: list[dict[str, Any]] = [
            {
                "name": "define",
                "community.libvirt.virt": {
                    "command": "define",
                    "xml": f"{{{{ lookup('ansible.builtin.template', '{TEMPLATE}') }}}}",
                },
                "loop": self.names(n),
            }
        ]
        if start:
            tasks.append(
                {
                    "name": "start",
                    "community.libvirt.virt": {"name": "{{ item }}", "state": "running"},
                    "loop": self.names(n),
                }
            )
        return self.play({"vars": {"memory_mib": memory_mib, "network": self.network}, "tasks": tasks})

    def raw_define(self, n: int, memory_mib: int, start: bool) -> float:
        begin = time.perf_counter()
        for name in self.names(n):
            dom = self.conn.defineXML(guest_xml(name, memory_mib, self.network))
            if start:
                dom.create()
        return time.perf_counter() - begin

    def raw_rerun(self, n: int) -> float:
        """The floor of a no-op rerun: read every guest's definition and state."""
        begin = time.perf_counter()
        for name in self.names(n):
            dom = self.conn.lookupByName(name)
            dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            dom.state()
        return time.perf_counter() - begin

    def raw_update(self, n: int, memory_mib: int) -> float:
        begin = time.perf_counter()
        kib = memory_mib * 1024
        for name in self.names(n):
            xml = self.conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            for tag in ("memory", "currentMemory"):
                xml = re.sub(rf"<{tag} unit='KiB'>\d+</{tag}>", f"<{tag} unit='KiB'>{kib}</{tag}>", xml)
            self.conn.defineXML(xml)
        return time.perf_counter() - begin

    def empty_play(self) -> float:
        return self.play({"tasks": []})

    # ------------------------------------------------------------------ one size

    def ways(self, n: int) -> dict[str, dict[str, Callable[[int], float]]]:
        """For each way: define (128 MiB), rerun, update (to the memory given), define + start."""
        return {
            "ours": {
                "define": lambda mib: self.ours(n, mib, "present"),
                "update": lambda mib: self.ours(n, mib, "present"),
                "define_start": lambda mib: self.ours(n, mib, "running"),
            },
            "ours-mp": {
                "define": lambda mib: self.ours(n, mib, "present", in_process=False),
                "update": lambda mib: self.ours(n, mib, "present", in_process=False),
                "define_start": lambda mib: self.ours(n, mib, "running", in_process=False),
            },
            "c.l": {
                "define": lambda mib: self.community(n, mib, False),
                "update": lambda mib: self.community(n, mib, False),
                "define_start": lambda mib: self.community(n, mib, True),
            },
            "raw": {
                "define": lambda mib: self.raw_define(n, mib, False),
                "rerun": lambda _mib: self.raw_rerun(n),
                "update": lambda mib: self.raw_update(n, mib),
                "define_start": lambda mib: self.raw_define(n, mib, True),
            },
        }

    def measure(self, n: int, say: Callable[[str], None]) -> dict[str, dict[str, float]]:
        """Median seconds per measure and way; every way's end state is checked on the host."""
        out: dict[str, dict[str, float]] = {measure: {} for measure in MEASURES}
        for way, run in self.ways(n).items():
            define, update, define_start = run["define"], run["update"], run["define_start"]
            rerun = run.get("rerun", define)
            times: dict[str, list[float]] = {measure: [] for measure in MEASURES}
            for _attempt in range(self.repeat):
                self.clean()
                times["define"].append(define(128))
                self.check_defined(n, 128)
            for _attempt in range(self.repeat):
                times["rerun"].append(rerun(128))
            for attempt in range(self.repeat):
                times["update"].append(update(160 + 16 * attempt))
                self.check_defined(n, 160 + 16 * attempt)
            for _attempt in range(self.repeat):
                self.clean()
                times["define_start"].append(define_start(128))
                running = sum(1 for name in self.names(n) if self.conn.lookupByName(name).isActive())
                if running != n:
                    raise RuntimeError(f"{way}: {running} of {n} guests run")
            for measure in MEASURES:
                out[measure][way] = statistics.median(times[measure])
            say(f"  N={n:<3} {way:<7} " + "  ".join(f"{m} {out[m][way]:7.2f} s" for m in MEASURES))
        self.clean()
        return out

    def check_defined(self, n: int, memory_mib: int) -> None:
        for name in self.names(n):
            xml = self.conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            if f"<currentMemory unit='KiB'>{memory_mib * 1024}</currentMemory>" not in xml:
                raise RuntimeError(f"{name} does not have {memory_mib} MiB")


def table(results: dict[str, Any]) -> str:
    empty = results["empty_play"]
    lines = [
        f"empty play on localhost: {empty:.2f} s (median)",
        "",
        "| N | measure | ours (s) | ours-mp (s) | c.l (s) | raw (s) | c.l / ours | c.l / ours-mp | ours / raw |"
        " ours / empty play | ours-mp / empty play |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, measures in results["sizes"].items():
        for measure, ways in measures.items():
            ours, mp, cl, raw = (ways[way] for way in WAYS)
            lines.append(
                f"| {n} | {measure} | {ours:.2f} | {mp:.2f} | {cl:.2f} | {raw:.3f} | {cl / ours:.1f}x | {cl / mp:.1f}x"
                f" | {ours / raw:.2f}x | {ours / empty:.2f}x | {mp / empty:.2f}x |"
            )
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib  # noqa: PLC0415  (optional: only for the plot)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return False
    sizes = [int(n) for n in results["sizes"]]
    measures = ["define", "rerun", "update", "define_start"]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.5))
    for ax, measure in zip(axes, measures):
        for way, style in (("ours", "o-"), ("ours-mp", "d-."), ("c.l", "s--"), ("raw", "^:")):
            ax.plot(sizes, [results["sizes"][str(n)][measure][way] for n in sizes], style, label=way)
        ax.axhline(results["empty_play"], color="grey", linewidth=0.8, label="empty play")
        ax.set_title(measure.replace("_", " + "))
        ax.set_xlabel("guests (N)")
        ax.set_ylabel("seconds")
        ax.legend()
    fig.suptitle("kvmfleet.kvm guests role vs community.libvirt vs raw libvirt-python (TCG host, 2 cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,20,50")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    conn = libvirt.open(kvmtest.SYSTEM_URI)
    net_name = f"kvb-net-{secrets.token_hex(2)}"
    conn.networkCreateXML(f"<network><name>{net_name}</name><bridge name='kvb{secrets.token_hex(3)}'/></network>")
    bench = Bench(conn, net_name, args.repeat)
    results: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": conn.getInfo()[2], "libvirt": conn.getLibVersion(), "python": platform.python_version()},
        "method": (
            "guests without kernel or disk (SeaBIOS halts), 128 MiB, 1 vCPU, one virtio NIC on an isolated "
            f"network; median of {args.repeat} runs each; empty play: median of {2 * args.repeat + 1} runs, "
            "taken before and after"
        ),
        "sizes": {},
    }
    try:
        empty = [bench.empty_play() for _attempt in range(args.repeat + 1)]
        print(f"empty play: {statistics.median(empty):.2f} s", flush=True)
        for n in sizes:
            results["sizes"][str(n)] = bench.measure(n, lambda line: print(line, flush=True))
        empty += [bench.empty_play() for _attempt in range(args.repeat)]
        results["empty_play"] = statistics.median(empty)
        results["empty_plays"] = empty
    finally:
        bench.clean()
        conn.networkLookupByName(net_name).destroy()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"guests-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    report = table(results)
    (RESULTS / "guests-latest.md").write_text(
        f"# guests benchmark, {results['when']}\n\n{results['method']}\n\n{report}\n"
    )
    if plot(results, RESULTS / "guests-latest.png"):
        print(f"plot: {RESULTS / 'guests-latest.png'}")
    print(report)


if __name__ == "__main__":
    main()
