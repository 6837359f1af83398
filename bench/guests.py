"""Benchmark: N tiny guests, three ways in the same run, on the real libvirtd.

  ours     the kvmfleet.kvm.guests role: one module call for all N guests
  c.l      community.libvirt (from the `ansible` package): `virt` define with an XML template, then
           `virt` state running, looped over the guests, as its users do
  raw      libvirt-python calls in this process: the floor

Measured separately for each N: define only; a no-op rerun; one field (memory) changed on all N
guests; define + start. Starting guests is measured with guests that do not load the CPU once up:
no kernel and no disk, so SeaBIOS finds nothing to boot and halts the vCPU - every way starts the
same guests, and 2 cores are not shared by N booting kernels.

Usage: bench/run.sh [--sizes 1,10,20,50]   (results in bench/results/)
"""

from __future__ import annotations

import argparse
import json
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

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


class Bench:
    def __init__(self, conn: Any, network: str) -> None:
        self.conn = conn
        self.network = network
        self.prefix = f"kvb-{secrets.token_hex(2)}-"

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
            start = time.perf_counter()
            proc = subprocess.run(
                [str(kvmtest.VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(path)],
                capture_output=True, text=True, env=env, check=False,
            )  # fmt: skip
            elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"playbook failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
        return elapsed

    def ours(self, n: int, memory_mib: int, state: str) -> float:
        guests = [{"name": name} for name in self.names(n)]
        role = {
            "role": "kvmfleet.kvm.guests",
            "vars": {"guests_list": guests, "guests_defaults": ours_options(memory_mib, self.network, state)},
        }
        return self.play({"roles": [role]})

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
        for name in self.names(n):
            xml = self.conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            kib = memory_mib * 1024
            xml = xml.replace(
                "<currentMemory unit='KiB'>131072</currentMemory>", f"<currentMemory unit='KiB'>{kib}</currentMemory>"
            )
            xml = xml.replace("<memory unit='KiB'>131072</memory>", f"<memory unit='KiB'>{kib}</memory>")
            self.conn.defineXML(xml)
        return time.perf_counter() - begin

    def empty_play(self) -> float:
        return self.play({"tasks": []})

    # ------------------------------------------------------------------ one size

    def measure(self, n: int, say: Callable[[str], None]) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {"define": {}, "rerun": {}, "update": {}, "define_start": {}}
        for way, define, rerun, update in (
            (
                "ours",
                lambda: self.ours(n, 128, "present"),
                lambda: self.ours(n, 128, "present"),
                lambda: self.ours(n, 160, "present"),
            ),
            (
                "c.l",
                lambda: self.community(n, 128, False),
                lambda: self.community(n, 128, False),
                lambda: self.community(n, 160, False),
            ),
            ("raw", lambda: self.raw_define(n, 128, False), lambda: self.raw_rerun(n), lambda: self.raw_update(n, 160)),
        ):
            self.clean()
            out["define"][way] = define()
            self.check_defined(n, 128)
            out["rerun"][way] = rerun()
            out["update"][way] = update()
            self.check_defined(n, 160)
            times = "  ".join(f"{measure} {out[measure][way]:7.2f} s" for measure in ("define", "rerun", "update"))
            say(f"  N={n:<3} {way:<5} {times}")
        for way, run in (
            ("ours", lambda: self.ours(n, 128, "running")),
            ("c.l", lambda: self.community(n, 128, True)),
            ("raw", lambda: self.raw_define(n, 128, True)),
        ):
            self.clean()
            out["define_start"][way] = run()
            running = sum(1 for name in self.names(n) if self.conn.lookupByName(name).isActive())
            if running != n:
                raise RuntimeError(f"{way}: {running} of {n} guests run")
            say(f"  N={n:<3} {way:<5} define+start {out['define_start'][way]:7.2f} s")
        self.clean()
        return out

    def check_defined(self, n: int, memory_mib: int) -> None:
        for name in self.names(n):
            xml = self.conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            if f"<currentMemory unit='KiB'>{memory_mib * 1024}</currentMemory>" not in xml:
                raise RuntimeError(f"{name} does not have {memory_mib} MiB")


def table(results: dict[str, Any]) -> str:
    lines = [
        f"empty play on localhost: {results['empty_play']:.2f} s",
        "",
        "| N | measure | ours (s) | c.l (s) | raw (s) | c.l / ours | ours / raw | ours / empty play |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, measures in results["sizes"].items():
        for measure, ways in measures.items():
            ours, cl, raw = ways["ours"], ways["c.l"], ways["raw"]
            ratios = f"{cl / ours:.1f}x | {ours / raw:.1f}x | {ours / results['empty_play']:.2f}x"
            lines.append(f"| {n} | {measure} | {ours:.2f} | {cl:.2f} | {raw:.3f} | {ratios} |")
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
        for way, style in (("ours", "o-"), ("c.l", "s--"), ("raw", "^:")):
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
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    conn = libvirt.open(kvmtest.SYSTEM_URI)
    net_name = f"kvb-net-{secrets.token_hex(2)}"
    conn.networkCreateXML(f"<network><name>{net_name}</name><bridge name='kvb{secrets.token_hex(3)}'/></network>")
    bench = Bench(conn, net_name)
    results: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": conn.getInfo()[2], "libvirt": conn.getLibVersion(), "python": platform.python_version()},
        "method": (
            "guests without kernel or disk (SeaBIOS halts), 128 MiB, 1 vCPU, one virtio NIC on an isolated "
            "network; one run each"
        ),
        "sizes": {},
    }
    try:
        results["empty_play"] = min(bench.empty_play() for _attempt in range(3))
        print(f"empty play: {results['empty_play']:.2f} s", flush=True)
        for n in sizes:
            results["sizes"][str(n)] = bench.measure(n, lambda line: print(line, flush=True))
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
