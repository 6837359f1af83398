# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: draining a hypervisor, and placing 500 guests on 50 hypervisors.

Drain, side by side in one run, on the container fleet (tests/fleet.py: three hypervisors, each its own
libvirtd in a systemd container on this machine):
  ours     playbooks/drain.yml -e drain_host=hv1 (kvmfleet.kvm.drain on hv1 over SSH: read the fleet,
           check and place every guest, migrate two at a time, verify), the default concurrency
  virsh    the floor of doing it by hand: a loop of `virsh migrate --live --p2p --persistent
           --undefinesource` from this machine, one guest after the other, alternating destinations
  c.l      community.libvirt (from the `ansible` package): its modules are searched for migration
           support in the same run; it has none, which is recorded
Each round starts from the same state: N tiny guests (128 MiB, direct kernel boot, running) on hv1,
created by the guests module and left to boot; the ways alternate order between rounds. Reported: wall
time (best and median), each guest's downtime as libvirt measured it, and ratios.

Placement: 500 guests (mixed sizes, labels, anti-affinity groups) on 50 hypervisors whose figures are
recorded (host_info of a real fleet hypervisor, varied), through the placement module's own path
(input checked with the guest table, then placed); then the placement is applied to the figures and
run again: the number of guests it would move (must be 0).

Usage: bench/run.sh drain [--guests 6] [--rounds 3]   (results in bench/results/drain-*.json, drain-latest.md)
Targets: drain <= 0.7x the sequential loop; every guest's downtime reported; placement of 500 on 50 < 1 s; 0 moves.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import fleet as fleet_helpers  # noqa: E402
import kvmtest  # noqa: E402
import libvirt  # noqa: E402

sys.path.insert(0, str(kvmtest.COLLECTIONS))
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors arrive as exceptions

from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet import placement as pl  # noqa: E402
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.module import PLACEMENT_ENTRY, place_fleet  # noqa: E402
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import read_input  # noqa: E402

RESULTS = ROOT / "bench/results"
PREFIX = "kvb-drain-"
FIXED: list[float] = []  # drain.yml on an empty hypervisor, after each drain
CL_MODULES = "lib/python3*/site-packages/ansible_collections/community/libvirt/plugins/modules/*.py"


def guests_on(fleet: Any, conns: dict[str, Any], count: int) -> list[str]:
    """N running tiny guests on the first hypervisor (created with the guests module, not timed)."""
    first = fleet.hosts[0]
    names = [f"{PREFIX}{index}" for index in range(count)]
    items = []
    for name in names:
        spec = kvmtest.fleet_guest(name, first.uri)
        spec.pop("uri")
        items.append(spec)
    result = kvmtest.run_playbook([{"name": "guests", "kvmfleet.kvm.guests": {"uri": first.uri, "guests": items}}])
    assert not result.result("guests").get("failed"), result.result("guests").get("msg")
    # booted and idle (counting): a booting TCG guest takes a core, which a drain of idle guests does not see
    logs = " ".join(kvmtest.serial_log(name) for name in names)
    ready = f"grep -l KVMFLEET-TICK {logs} 2>/dev/null | wc -l"
    assert kvmtest.wait_until(lambda: fleet.ssh(first, ready).stdout.strip() == str(len(names)), 120)
    assert all(conns[first.name].lookupByName(name).isActive() for name in names)
    return names


def clean(_fleet: Any, conns: dict[str, Any]) -> None:
    fleet_helpers.clean(conns, PREFIX)


def downtimes(conns: dict[str, Any], names: list[str]) -> dict[str, int]:
    """Each guest's downtime, from the completed-job statistics of its new hypervisor."""
    found = {}
    for name in names:
        for conn in conns.values():
            try:
                stats = conn.lookupByName(name).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
            except libvirt.libvirtError:
                continue
            found[name] = stats.get("downtime", -1)
    return found


def ours(fleet: Any, names: list[str]) -> float:
    extra = {"drain_host": fleet.hosts[0].name}
    begun = time.monotonic()
    run = kvmtest.ansible_playbook(ROOT / "playbooks/drain.yml", fleet.inventory, extra_vars=extra)
    elapsed = time.monotonic() - begun
    assert run.rc == 0, run.stdout[-3000:]
    moved = run.results("Move every guest off the hypervisor and mark it in maintenance")[fleet.hosts[0].name]["moved"]
    assert sorted(entry["name"] for entry in moved) == sorted(names)
    # the fixed cost: the same playbook on the now empty hypervisor (Ansible, SSH, the module, reading the fleet)
    begun = time.monotonic()
    again = kvmtest.ansible_playbook(ROOT / "playbooks/drain.yml", fleet.inventory, extra_vars=extra)
    FIXED.append(time.monotonic() - begun)
    assert again.rc == 0 and again.changed()[fleet.hosts[0].name] == 0
    return elapsed


def virsh_loop(fleet: Any, names: list[str]) -> float:
    source, dests = fleet.hosts[0], fleet.hosts[1:]
    begun = time.monotonic()
    for index, name in enumerate(names):
        dest = dests[index % len(dests)]
        cmd = [
            "virsh",
            "-c",
            source.uri,
            "migrate",
            "--live",
            "--p2p",
            "--persistent",
            "--undefinesource",
            name,
            dest.uri,
        ]
        subprocess.run([*cmd, "--migrateuri", f"tcp://{dest.address}"], check=True, capture_output=True)
    return time.monotonic() - begun


def virsh_pairs(fleet: Any, names: list[str]) -> float:
    """The parallel floor: the same virsh migrations, two at a time (one per destination), as the drain runs them."""
    source, dests = fleet.hosts[0], fleet.hosts[1:]
    begun = time.monotonic()
    for start in range(0, len(names), len(dests)):
        running = []
        for dest, name in zip(dests, names[start : start + len(dests)]):
            cmd = ["virsh", "-c", source.uri, "migrate", "--live", "--p2p", "--persistent", "--undefinesource", name]
            running.append(subprocess.Popen([*cmd, dest.uri, "--migrateuri", f"tcp://{dest.address}"]))
        for proc in running:
            assert proc.wait() == 0
    return time.monotonic() - begun


def community_libvirt() -> str:
    modules = sorted(Path(kvmtest.VENV_BIN.parent).glob(CL_MODULES))
    migrating = [path.stem for path in modules if "migrate" in path.read_text().replace("migratable", "")]
    if migrating:
        return f"modules mentioning migration: {', '.join(migrating)}"
    return (
        f"no migration: none of its {len(modules)} modules ({', '.join(p.stem for p in modules)}) can migrate a guest"
    )


def placement_bench(host: dict[str, Any], repeat: int = 5) -> dict[str, Any]:
    """500 guests on 50 hypervisors built from one real host_info, through the placement module's path."""
    hosts = {}
    for index in range(50):
        figures = copy.deepcopy(host)
        figures["guests"] = []
        figures["labels"] = ["ssd"] if index % 5 == 0 else []
        capacity = figures["capacity"]
        capacity["allocatable_memory_mib"] = capacity["available_memory_mib"] = 65536 + 2048 * (index % 7)
        capacity["available_vcpus"] = 128
        hosts[f"hv{index:02d}"] = figures
    guests = [
        {"name": f"g{index:03d}", "memory": f"{512 * (1 + index % 8)}MiB", "vcpus": 1 + index % 4}
        | ({"placement": {"requires": ["ssd"]}} if index % 10 == 0 else {})
        for index in range(500)
    ]
    groups = [{"name": f"grp{k}", "guests": [f"g{i:03d}" for i in range(k, 500, 100)]} for k in range(100)]
    args = {"hypervisors": hosts, "guests": guests, "anti_affinity": groups}
    times, checks = [], []
    result: dict[str, Any] = {}
    for _round in range(repeat):
        begun = time.perf_counter()
        values, problems, _secrets = read_input(PLACEMENT_ENTRY.table, PLACEMENT_ENTRY.prepare, args)
        checked = time.perf_counter()
        assert problems == []
        result = place_fleet(values)
        times.append(time.perf_counter() - begun)
        checks.append(checked - begun)
    # apply: every guest now exists where it was placed, its memory and vCPUs committed there
    after = copy.deepcopy(hosts)
    for guest in guests:
        where = result["placement"][guest["name"]]
        capacity = after[where]["capacity"]
        capacity["available_memory_mib"] -= int(guest["memory"][:-3])
        capacity["available_vcpus"] -= guest["vcpus"]
        after[where]["guests"].append({"name": guest["name"]})
    values, _problems, _secrets = read_input(
        PLACEMENT_ENTRY.table, PLACEMENT_ENTRY.prepare, {**args, "hypervisors": after}
    )
    again = place_fleet(values)
    moved = sum(1 for name, where in again["placement"].items() if where != result["placement"][name])
    spaces = [pl.Space.from_host(name, figures) for name, figures in hosts.items()]
    demands = [pl.Demand(g["name"], int(g["memory"][:-3]), g["vcpus"]) for g in guests]
    begun = time.perf_counter()
    pl.place(spaces, demands, [])
    bare = time.perf_counter() - begun
    return {
        "guests": 500,
        "hypervisors": 50,
        "seconds": times,
        "checking_seconds": checks,
        "placing_only_seconds": bare,
        "moved_by_rerun": moved,
        "new_on_rerun": again["new"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guests", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    fleet = fleet_helpers.up(3)
    conns = {host.name: libvirt.open(host.uri) for host in fleet.hosts}
    ways = {"ours": ours, "virsh": virsh_loop, "pairs": virsh_pairs}
    times: dict[str, list[float]] = {way: [] for way in ways}
    downtime: dict[str, list[int]] = {way: [] for way in ways}
    clean(fleet, conns)
    try:
        for round_index in range(args.rounds):
            order = list(ways)[round_index % len(ways) :] + list(ways)[: round_index % len(ways)]
            for way in order:
                names = guests_on(fleet, conns, args.guests)
                times[way].append(ways[way](fleet, names))
                downs = downtimes(conns, names)
                assert sorted(downs) == sorted(names), downs
                downtime[way].extend(downs.values())
                clean(fleet, conns)
        host = kvmtest.run_playbook([{"name": "info", "kvmfleet.kvm.host_info": {"uri": fleet.hosts[1].uri}}])
        placement = placement_bench(host.result("info")["host"])
    finally:
        clean(fleet, conns)
    peer = community_libvirt()
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    data = {"when": when, "guests": args.guests, "rounds": args.rounds, "times": times, "downtime_ms": downtime,
            "community_libvirt": peer, "placement": placement, "drain_noop": FIXED}  # fmt: skip
    stamp = when[:19].replace(":", "").replace("-", "")
    (RESULTS / f"drain-{stamp}.json").write_text(json.dumps(data, indent=1))
    whole, checks = placement["seconds"], placement["checking_seconds"]
    best = {way: min(values) for way, values in times.items()}
    median = {way: statistics.median(values) for way, values in times.items()}
    lines = [
        f"# drain of a hypervisor with {args.guests} tiny guests, {when}",
        "",
        f"{args.rounds} rounds, the ways alternating; 3 container hypervisors on this machine (2 cores, TCG guests)",
        "",
        "| way | best (s) | median (s) | downtime per guest (ms): median / max | vs the sequential loop (best, median)"
        " |",
        "|---|---|---|---|---|",
    ]
    labels = {
        "ours": "drain.yml (kvmfleet.kvm.drain), 2 at a time",
        "virsh": "virsh migrate loop (sequential)",
        "pairs": "virsh migrate, 2 at a time (the parallel floor)",
    }
    for way, label in labels.items():
        ratio = f"{best[way] / best['virsh']:.2f}x, {median[way] / median['virsh']:.2f}x"
        downs = downtime[way]
        lines.append(
            f"| {label} | {best[way]:.2f} | {median[way]:.2f} | {statistics.median(downs):.0f} / {max(downs)} "
            f"| {ratio} |"
        )
    fixed = min(FIXED)
    work = best["ours"] - fixed
    lines += [
        f"| community.libvirt | - | - | - | {peer} |",
        "",
        f"drain.yml's fixed cost (the same run on the emptied hypervisor: ansible-playbook, SSH, the module, reading "
        f"the fleet): {fixed:.2f} s best; the moves themselves: {work:.2f} s = {work / best['virsh']:.2f}x the "
        f"sequential loop, {work / best['pairs']:.2f}x the parallel floor",
        "",
        "target: drain <= 0.7x the sequential loop",
        "",
        "# placement of 500 guests on 50 hypervisors (recorded figures)",
        "",
        "| | best (s) | median (s) |",
        "|---|---|---|",
        f"| whole module path (input checked, placed) | {min(whole):.3f} | {statistics.median(whole):.3f} |",
        f"| checking the 500 guests' options | {min(checks):.3f} | {statistics.median(checks):.3f} |",
        f"| placing only | {placement['placing_only_seconds']:.3f} | |",
        "",
        f"guests moved by a rerun over the new figures: {placement['moved_by_rerun']} "
        f"(new on rerun: {placement['new_on_rerun']})",
        "",
        "targets: < 1 s; 0 moves",
        "",
    ]
    table = "\n".join(lines)
    (RESULTS / "drain-latest.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
