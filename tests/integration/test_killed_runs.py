"""Runs killed at each of a module's steps converge on the first rerun, with nothing orphaned.

Each case runs ansible-playbook with ``KVMFLEET_FAULT_AT`` (plugins/module_utils/_faults.py): SIGKILL of
the whole run at one step boundary (before an action, or a moment into it). Then the first rerun must
succeed, a third run must change nothing, and the host must hold exactly what was declared: the domains
and their power state, the volumes libvirt lists, the files in the pool directory (no hidden partial
file), the networks and their dnsmasq. The reruns run in this process (as in Ansible's worker) where
the module has that path, else through ansible-playbook.

The figures (faults injected, converged on the first rerun, orphans) are counted in FIGURES and
printed at the end of the session; README's reliability section states them.
"""

from __future__ import annotations

import os
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kvmtest
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.module import GUESTS_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.module import POOL_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.module import VOLUME_ENTRY

FIGURES = {"faults": 0, "converged": 0, "orphans": 0}


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    print(
        f"\nkilled runs: {FIGURES['faults']} faults injected, {FIGURES['converged']} converged on the first "
        f"rerun, {FIGURES['orphans']} objects orphaned"
    )


def killed(task: dict[str, Any], fault: str, delay: str = "0.1") -> None:
    """Run one task in ansible-playbook, killed at ``fault``; assert it was killed there."""
    FIGURES["faults"] += 1
    run = kvmtest.run_playbook(
        [{"name": "task", **task}], env={"KVMFLEET_FAULT_AT": fault, "KVMFLEET_FAULT_DELAY": delay}
    )
    assert run.rc == -9, f"the run was not killed at {fault} (rc={run.rc}): {run.tasks}"
    # ansible-playbook is dead; the module process that killed it (a session of its own) may take a moment
    # longer to go, and with it its file locks: the rerun starts when no process of the killed run is left.
    for _attempt in range(200):
        if not any(_of_the_killed_run(pid) for pid in os.listdir("/proc") if pid.isdigit()):
            return
        time.sleep(0.025)
    raise AssertionError(f"a process of the run killed at {fault} is still alive after 5 s")


def _of_the_killed_run(pid: str) -> bool:
    try:
        return b"KVMFLEET_FAULT_AT=" in Path("/proc", pid, "environ").read_bytes()
    except OSError:  # gone, or a zombie
        return False


def converges(rerun: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    """The first rerun succeeds, the next changes nothing."""
    first = rerun()
    assert not first.get("failed"), f"the first rerun failed: {first.get('msg')}"
    again = rerun()
    assert not again.get("failed") and again["changed"] is False, again
    FIGURES["converged"] += 1
    return [first, again]


def holds(found: set[str], declared: set[str], what: str) -> None:
    FIGURES["orphans"] += len(found - declared)
    assert found == declared, f"{what}: orphaned {sorted(found - declared)}, missing {sorted(declared - found)}"


# ---------------------------------------------------------------------------------------------- guests

GUEST_STEPS = [
    "before:define guest",
    "before:create volume",
    "before:write cloud-init seed",
    "before:upload cloud-init seed",  # the seed volume exists, empty
    "before:record cloud-init seed",
    "before:start the guest",
    "during:start the guest",  # libvirtd goes on starting it after the run died
]


def declared_guests(names: list[str], image: Path, pool: dict[str, str], logs: Path) -> list[dict[str, Any]]:
    """Running guests with a disk and a cloud-init seed each: every step a new guest has."""
    return [
        kvmtest.tiny_guest(
            name,
            image,
            logs / f"{name}.log",
            disks=[{"pool": pool["name"], "size": "16MiB"}],
            cloud_init={"user_data": {"users": [{"name": "admin"}]}, "pool": pool["name"]},
            state="running",
        )
        for name in names
    ]


def holds_the_declared_guests(conn: Any, prefix: str, names: list[str], pool_of: dict[str, str]) -> None:
    """Exactly the guests, running, their disk (a qcow2 image, so defined) and a whole seed each: nothing more."""
    domains = {name for name in kvmtest.domain_names() if name.startswith(prefix)}
    holds(domains, set(names), "domains")
    assert {kvmtest.virsh("domstate", name).strip() for name in names} == {"running"}
    declared = {f"{name}-vda.qcow2" for name in names} | {f"{name}-cidata.iso" for name in names}
    pool = conn.storagePoolLookupByName(pool_of["name"])
    pool.refresh(0)
    holds({vol.name() for vol in pool.listAllVolumes() if vol.name().startswith(prefix)}, declared, "volumes")
    files = {entry for entry in os.listdir(pool_of["path"]) if prefix in entry}
    holds(files, declared, f"files in {pool_of['path']}")
    for name in names:
        disk = ET.fromstring(kvmtest.virsh("dumpxml", "--inactive", name)).find("devices/disk[@device='disk']")
        assert disk.find("driver").get("type") == "qcow2", ET.tostring(disk)
        # the seed is whole: a killed upload left no empty ISO the guest would boot with
        listing = subprocess.run(
            ["isoinfo", "-J", "-f", "-i", f"{pool_of['path']}/{name}-cidata.iso"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert "/user-data" in listing and "/meta-data" in listing, listing


@pytest.mark.parametrize("fault", GUEST_STEPS)
def test_a_guests_run_killed_at_each_step_converges_on_the_first_rerun(
    fault: str, conn: Any, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    names = [f"{prefix}k{index}" for index in range(2)]
    guests = declared_guests(names, tiny_image, test_pool, tmp_path)
    killed({"kvmfleet.kvm.guests": {"guests": guests}}, fault)

    converges(lambda: run_direct(GUESTS_ENTRY, {"guests": guests}, False))

    holds_the_declared_guests(conn, prefix, names, test_pool)


# ---------------------------------------------------------------------------------------------- volume


def test_an_import_killed_before_its_link_leaves_no_partial_file_after_the_rerun(
    conn: Any, prefix: str, test_pool: dict[str, str], tmp_path: Path
) -> None:
    image = tmp_path / "image.raw"
    name = f"{prefix}imported.raw"
    task = {"pool": test_pool["name"], "name": name, **kvmtest.image_of(image, 4)}
    killed({"kvmfleet.kvm.volume": task}, f"before:link {name}")
    assert any(entry.startswith(f".{name}") for entry in os.listdir(test_pool["path"]))  # the killed run's

    converges(lambda: run_direct(VOLUME_ENTRY, task, False))

    holds({entry for entry in os.listdir(test_pool["path"]) if prefix in entry}, {name}, "files")
    assert Path(test_pool["path"], name).read_bytes() == image.read_bytes()


def test_a_stream_import_killed_during_its_upload_leaves_no_staging_volume_after_the_rerun(
    conn: Any, prefix: str, test_pool: dict[str, str], tmp_path: Path
) -> None:
    """The staging volume a killed stream import left names a process of this machine that is gone: the
    rerun deletes it at once."""
    image = tmp_path / "image.raw"
    name = f"{prefix}streamed.raw"
    task = {"pool": test_pool["name"], "name": name, "transfer": "stream", **kvmtest.image_of(image, 4)}
    killed({"kvmfleet.kvm.volume": task}, f"before:upload {name}")
    pool = conn.storagePoolLookupByName(test_pool["name"])
    pool.refresh(0)
    assert any(vol.name().startswith(f".{name}") for vol in pool.listAllVolumes())  # the killed run's

    converges(lambda: run_direct(VOLUME_ENTRY, task, False))

    pool.refresh(0)
    holds({vol.name() for vol in pool.listAllVolumes() if prefix in vol.name()}, {name}, "volumes")
    assert Path(test_pool["path"], name).read_bytes() == image.read_bytes()


# ---------------------------------------------------------------------------------------------- pool

POOL_STEPS = ["before:define dir pool", "before:create directory", "before:start pool", "before:set pool"]


@pytest.mark.parametrize("fault", POOL_STEPS)
def test_a_pool_run_killed_at_each_step_converges_on_the_first_rerun(
    fault: str, conn: Any, prefix: str, tmp_path: Path
) -> None:
    name, target = f"{prefix}pool", tmp_path / "pool"
    options = {"name": name, "type": "dir", "target": str(target), "state": "active", "autostart": True}
    try:
        killed({"kvmfleet.kvm.pool": options}, fault)

        converges(lambda: run_direct(POOL_ENTRY, options, False))

        pools = {p.name() for p in conn.listAllStoragePools() if p.name().startswith(prefix)}
        holds(pools, {name}, "pools")
        pool = conn.storagePoolLookupByName(name)
        assert pool.isActive() and pool.autostart() and target.is_dir()
    finally:
        run_direct(POOL_ENTRY, {"name": name, "state": "absent"}, False)


def test_a_pool_removal_killed_after_the_stop_is_finished_by_the_rerun(conn: Any, prefix: str, tmp_path: Path) -> None:
    name = f"{prefix}gone"
    created = run_direct(
        POOL_ENTRY, {"name": name, "type": "dir", "target": str(tmp_path / "p"), "state": "active"}, False
    )
    assert created["changed"] is True
    options = {"name": name, "state": "absent"}
    killed({"kvmfleet.kvm.pool": options}, "before:remove the definition")
    assert not conn.storagePoolLookupByName(name).isActive()  # stopped, still defined

    converges(lambda: run_direct(POOL_ENTRY, options, False))

    holds({p.name() for p in conn.listAllStoragePools() if p.name().startswith(prefix)}, set(), "pools")


# ---------------------------------------------------------------------------------------------- network


def test_a_network_run_killed_before_its_start_is_started_by_the_rerun(
    conn: Any, prefix: str, play: Callable[..., kvmtest.PlayResult]
) -> None:
    subnet = kvmtest.free_subnet(conn)
    hosts = list(subnet.hosts())
    name = f"{prefix}net"
    options = {
        "name": name,
        "forward": "isolated",
        "ipv4": {
            "address": f"{hosts[0]}/{subnet.prefixlen}",
            "dhcp_ranges": [{"start": str(hosts[99]), "end": str(hosts[199])}],
        },
        "autostart": True,
        "state": "active",
    }
    killed({"kvmfleet.kvm.network": options}, "before:start the network")

    converges(lambda: play([{"name": "net", "kvmfleet.kvm.network": options}]).result("net"))

    holds({n for n in kvmtest.virsh("net-list", "--all", "--name").split() if n.startswith(prefix)}, {name}, "networks")
    assert kvmtest.virsh("net-info", name).count("yes") >= 2  # active and autostart
    pid = int(Path(f"/run/libvirt/network/{name}.pid").read_text())
    assert f"/var/lib/libvirt/dnsmasq/{name}.conf" in Path(f"/proc/{pid}/cmdline").read_text()


# ---------------------------------------------------------------------------------------------- races


def test_two_runs_at_once_on_the_same_new_guests_both_succeed_and_leave_what_was_declared(
    conn: Any, prefix: str, tiny_image: Path, test_pool: dict[str, str], tmp_path: Path
) -> None:
    """Two ansible-playbook runs started together on this machine: the guests' locks make them take
    turns, so the second plans from what the first finished and changes nothing."""
    names = [f"{prefix}r{index}" for index in range(2)]
    task = {"kvmfleet.kvm.guests": {"guests": declared_guests(names, tiny_image, test_pool, tmp_path)}}
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _index: kvmtest.run_playbook([{"name": "task", **task}]), range(2)))

    assert [run.rc for run in runs] == [0, 0], [run.result("task").get("msg") for run in runs]
    assert sorted(run.result("task")["changed"] for run in runs) == [False, True]
    holds_the_declared_guests(conn, prefix, names, test_pool)
    third = kvmtest.run_playbook([{"name": "task", **task}]).result("task")
    assert third["changed"] is False, third
