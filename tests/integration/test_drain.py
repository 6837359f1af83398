"""Draining and undraining a hypervisor, and placing the fleet's guests, on the container fleet
(tests/fleet.py): playbooks/drain.yml and undrain.yml over SSH on a real hypervisor, the guests role
with guests_fleet on all three, real live migrations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kvmtest
import pytest

pytestmark = pytest.mark.integration

DRAIN = kvmtest.ROOT / "playbooks/drain.yml"
UNDRAIN = kvmtest.ROOT / "playbooks/undrain.yml"


def where(fleet: Any, name: str) -> dict[str, str]:
    """On which hypervisors ``name`` is defined, and its state there."""
    found = {}
    for host in fleet.hosts:
        state = kvmtest.virsh("domstate", name, uri=host.uri, check=False).strip()
        if state:
            found[host.name] = state
    return found


def create(play: Callable[..., kvmtest.PlayResult], uri: str, guests: list[dict[str, Any]]) -> None:
    options = []
    for guest in guests:
        spec = kvmtest.fleet_guest(guest["name"], uri, **{k: v for k, v in guest.items() if k != "name"})
        spec.pop("uri")
        options.append(spec)
    result = play([{"name": "guests", "kvmfleet.kvm.guests": {"uri": uri, "guests": options}}]).result("guests")
    assert not result.get("failed"), result.get("msg")


def ticks(fleet: Any, host: str, name: str) -> list[int]:
    text = fleet.ssh(fleet.host(host), f"cat {kvmtest.serial_log(name)} 2>/dev/null").stdout
    return [int(line.split()[-1]) for line in text.splitlines() if line.startswith("KVMFLEET-TICK ")]


def maintenance(play: Callable[..., kvmtest.PlayResult], uri: str) -> Any:
    return play([{"name": "info", "kvmfleet.kvm.host_info": {"uri": uri}}]).result("info")["host"]["maintenance"]


@pytest.fixture
def fleet_vars(fleet_prefix: str) -> dict[str, Any]:
    """The variables a drain of the test guests takes (the shared directory needs allow_unsafe: it is one
    filesystem bind-mounted into every container, shared though libvirt cannot tell)."""
    return {"drain_migration": {"allow_unsafe": True}, "drain_reason": f"test {fleet_prefix}"}


def test_drain_moves_every_guest_live_keeps_anti_affinity_and_undrain_brings_them_back(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult], fleet_vars: dict[str, Any]
) -> None:
    hv1 = fleet.hosts[0]
    names = [f"{fleet_prefix}{suffix}" for suffix in ("w1", "w2", "a", "b")]
    snapped = names[2]  # has a disk on the shared pool and a snapshot, which moves with it both ways
    disk = {"pool": "shared", "volume": f"{snapped}.qcow2", "size": "16MiB", "cache": "none"}
    create(play, hv1.uri, [{"name": name, **({"disks": [disk]} if name == snapped else {})} for name in names])
    anti = [{"name": "web", "guests": names[:2], "mode": "hard"}]
    extra = {**fleet_vars, "drain_host": hv1.name, "guests_anti_affinity": anti}
    assert kvmtest.wait_until(lambda: all(ticks(fleet, hv1.name, name) for name in names), 90)
    taken = play([{"name": "s", "kvmfleet.kvm.snapshot": {"uri": hv1.uri, "guest": snapped, "name": "before-drain"}}])
    assert taken.result("s")["changed"], taken.result("s")

    check = kvmtest.ansible_playbook(DRAIN, fleet.inventory, extra_vars=extra, check=True)
    assert check.rc == 0, check.stdout[-3000:]
    planned = check.results("Move every guest off the hypervisor and mark it in maintenance")[hv1.name]
    assert planned["changed"] and {entry["guest"] for entry in planned["plan"]} == set(names)
    assert all(where(fleet, name) == {hv1.name: "running"} for name in names)  # check mode moved nothing
    assert maintenance(play, hv1.uri) is None

    run = kvmtest.ansible_playbook(DRAIN, fleet.inventory, extra_vars=extra)
    assert run.rc == 0, run.stdout[-3000:]
    result = run.results("Move every guest off the hypervisor and mark it in maintenance")[hv1.name]
    assert result["changed"] and result["running_left"] == [] and result["failures"] == []
    assert [entry["guest"] for entry in planned["plan"]] == [entry["guest"] for entry in result["plan"]]
    assert {entry["to"] for entry in planned["plan"]} == {entry["to"] for entry in result["plan"]}
    moved = {entry["name"]: entry for entry in result["moved"]}
    assert set(moved) == set(names) and all(entry["status"] == "moved" for entry in moved.values())
    assert all(entry["downtime_ms"] is not None and entry["downtime_ms"] > 0 for entry in moved.values()), moved
    # the host itself: every guest runs on exactly one other hypervisor, never stopped (it counts on there)
    for name in names:
        assert where(fleet, name) == {moved[name]["to"]: "running"}, (name, where(fleet, name))
        assert kvmtest.wait_until(lambda name=name: len(ticks(fleet, moved[name]["to"], name)) >= 2, 30)
        assert ticks(fleet, moved[name]["to"], name)[0] > 1
    assert moved[names[0]]["to"] != moved[names[1]]["to"]  # the hard anti-affinity group held
    assert kvmtest.virsh("snapshot-list", snapped, "--name", uri=fleet.host(moved[snapped]["to"]).uri).split() == [
        "before-drain"
    ]
    assert kvmtest.virsh("list", "--name", uri=hv1.uri).strip() == ""
    mark = maintenance(play, hv1.uri)
    assert mark["reason"] == f"test {fleet_prefix}" and mark["since"]

    again = kvmtest.ansible_playbook(DRAIN, fleet.inventory, extra_vars=extra)
    assert again.rc == 0 and again.changed()[hv1.name] == 0, again.stdout[-3000:]

    back = {**extra, "undrain_return_guests": True}
    returned = kvmtest.ansible_playbook(UNDRAIN, fleet.inventory, extra_vars={**back, "drain_leave_unmovable": True})
    assert returned.rc == 0, returned.stdout[-3000:]
    result = returned.results("Lift the maintenance mark (and bring its guests back)")[hv1.name]
    came_back = {entry["name"] for entry in result["moved"]}
    # w1 and w2 may not share hv1 (the hard group): one of them stays away, the rest come back
    assert came_back | {entry["name"] for entry in result["left"]} == set(names)
    assert {entry["name"] for entry in result["left"]} & set(names[:2]) and len(came_back) == 3
    for name in came_back:
        assert where(fleet, name) == {hv1.name: "running"}
    assert snapped in came_back and kvmtest.virsh("snapshot-list", snapped, "--name", uri=hv1.uri).split() == [
        "before-drain"
    ]
    assert maintenance(play, hv1.uri) is None
    rerun = kvmtest.ansible_playbook(UNDRAIN, fleet.inventory, extra_vars={**back, "drain_leave_unmovable": True})
    assert rerun.rc == 0 and rerun.changed()[hv1.name] == 0, rerun.stdout[-3000:]


def test_a_guest_that_cannot_migrate_stops_the_drain_before_anything_moves(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult], fleet_vars: dict[str, Any]
) -> None:
    hv2 = fleet.hosts[1]
    snap, other = f"{fleet_prefix}ckpt", f"{fleet_prefix}other"
    disk = {"pool": "shared", "volume": f"{snap}.qcow2", "size": "64MiB", "cache": "none"}
    create(play, hv2.uri, [{"name": snap, "disks": [disk]}, {"name": other}])
    kvmtest.virsh("checkpoint-create-as", snap, "before", uri=hv2.uri)  # libvirt migrates no checkpoints

    run = kvmtest.ansible_playbook(DRAIN, fleet.inventory, extra_vars={**fleet_vars, "drain_host": hv2.name})

    assert run.rc != 0
    result = run.results("Move every guest off the hypervisor and mark it in maintenance")[hv2.name]
    assert result["msg"].startswith("nothing was moved: "), result["msg"]
    refusals = result["refused"][snap]
    assert set(refusals) == {host.name for host in fleet.hosts if host is not hv2}
    assert all("[checkpoints]" in why for why in refusals.values()), refusals
    assert other not in result["refused"]
    assert where(fleet, snap) == {hv2.name: "running"} and where(fleet, other) == {hv2.name: "running"}
    assert maintenance(play, hv2.uri) is None  # not even marked


def test_a_killed_drain_is_finished_by_the_next_run(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult], fleet_vars: dict[str, Any]
) -> None:
    hv3 = fleet.hosts[2]
    names = [f"{fleet_prefix}k{index}" for index in range(3)]
    create(play, hv3.uri, [{"name": name} for name in names])
    extra = {**fleet_vars, "drain_host": hv3.name, "drain_concurrency": {"total": 1}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(extra, handle)
    cmd = [str(kvmtest.VENV_BIN / "ansible-playbook"), "-i", str(fleet.inventory), str(DRAIN), "-e", f"@{handle.name}"]
    proc = subprocess.Popen(
        cmd, env=kvmtest.ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        # kill the controller (its whole process group, SSH included) once the first guest has left
        assert kvmtest.wait_until(lambda: any(hv3.name not in where(fleet, name) for name in names), 120, step=0.2)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        os.unlink(handle.name)
    killed_at = {name: where(fleet, name) for name in names}

    rerun = kvmtest.ansible_playbook(DRAIN, fleet.inventory, extra_vars=extra)
    assert rerun.rc == 0, (killed_at, rerun.stdout[-3000:])
    for name in names:
        placed = where(fleet, name)
        assert len(placed) == 1 and hv3.name not in placed and set(placed.values()) == {"running"}, (name, placed)
    third = kvmtest.ansible_playbook(DRAIN, fleet.inventory, extra_vars=extra)
    assert third.rc == 0 and third.changed()[hv3.name] == 0


def test_a_drain_finishes_the_snapshots_a_killed_move_left_only_recorded(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult], fleet_vars: dict[str, Any]
) -> None:
    """A move killed after the guest left hv3 but before its snapshot was defined on hv1: the drain of hv3
    (now empty) defines it where the guest is."""
    hv1, hv3 = fleet.hosts[0], fleet.hosts[2]
    name = f"{fleet_prefix}rec"
    disk = {"pool": "shared", "volume": f"{name}.qcow2", "size": "16MiB", "cache": "none"}
    create(play, hv3.uri, [{"name": name, "disks": [disk]}])
    taken = play([{"name": "s", "kvmfleet.kvm.snapshot": {"uri": hv3.uri, "guest": name, "name": "one"}}])
    assert taken.result("s")["changed"], taken.result("s")
    task = {"uri": hv3.uri, "name": name, "dest_uri": hv1.uri, "allow_unsafe": True}
    killed = kvmtest.run_playbook(
        [{"name": "migrate", "kvmfleet.kvm.migrate": task}],
        env={"KVMFLEET_FAULT_AT": "before:redefine the snapshot one"},
    )
    assert killed.rc == -9 and where(fleet, name) == {hv1.name: "running"}
    assert kvmtest.virsh("snapshot-list", name, "--name", uri=hv1.uri).split() == []  # only recorded

    run = kvmtest.ansible_playbook(DRAIN, fleet.inventory, extra_vars={**fleet_vars, "drain_host": hv3.name})
    assert run.rc == 0, run.stdout[-3000:]
    result = run.results("Move every guest off the hypervisor and mark it in maintenance")[hv3.name]
    assert (
        f"define the snapshots one of {name} on {hv1.name}, where an interrupted move left them recorded"
        in (result["actions"])
    )
    assert kvmtest.virsh("snapshot-list", name, "--name", uri=hv1.uri).split() == ["one"]
    assert "kvmfleet:snapshot" not in kvmtest.virsh("dumpxml", "--inactive", name, uri=hv1.uri)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"concurrency": {"total": 0}}, "concurrency.total: must be at least 1"),
        (
            {"anti_affinity": [{"name": "web", "guests": ["kvt-g1", "kvt-nobody"]}], "guests": [{"name": "kvt-g1"}]},
            "anti_affinity[0].guests[1]: kvt-nobody is not a guest of the fleet",
        ),
        ({"migration": {"converge": "sometimes"}}, "migration.converge: must be one of fail"),
        ({"destinations": [{"name": "hv9", "uri": "nowhere"}]}, "destinations[0].uri: 'nowhere' is not a libvirt URI"),
    ],
    ids=["concurrency 0", "unknown group member", "unknown policy", "bad destination"],
)
def test_bad_input_fails_naming_the_field_before_anything_moves(
    fleet: Any, play: Callable[..., kvmtest.PlayResult], change: dict[str, Any], message: str
) -> None:
    hv1 = fleet.hosts[0]
    task = {"name": "drain", "kvmfleet.kvm.drain": {"uri": hv1.uri, "name": hv1.name, **change}}
    result = play([task]).result("drain")
    assert result.get("failed") and message in result["msg"], result.get("msg")
    assert maintenance(play, hv1.uri) is None


# ---------------------------------------------------------------------------------------------- placement


@pytest.fixture
def placement_play() -> Iterator[Callable[[dict[str, Any]], Path]]:
    """A playbook file that runs the guests role on every hypervisor with the given variables."""
    files: list[Path] = []

    def write(variables: dict[str, Any]) -> Path:
        play = [{"name": "fleet guests", "hosts": "hypervisors", "gather_facts": False, "vars": variables,
                 "roles": [{"role": "kvmfleet.kvm.guests"}]}]  # fmt: skip
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
            json.dump(play, handle)
        files.append(Path(handle.name))
        return files[-1]

    yield write
    for path in files:
        path.unlink()


def test_the_guests_role_places_the_fleet_and_a_rerun_moves_nothing(
    fleet: Any, fleet_prefix: str, play: Callable[..., kvmtest.PlayResult], placement_play: Callable[..., Path]
) -> None:
    hv1, _hv2, hv3 = fleet.hosts
    labelled = {"uri": hv3.uri, "labels": ["ssd"]}
    assert not play([{"name": "label", "kvmfleet.kvm.hypervisor": labelled}]).result("label").get("failed")
    defaults = kvmtest.fleet_guest("unused", "qemu:///system")
    for key in ("uri", "name"):
        defaults.pop(key)
    web = [f"{fleet_prefix}web{index}" for index in range(3)]
    fleet_guests = [
        *({"name": name} for name in web),
        {"name": f"{fleet_prefix}db", "placement": {"requires": ["ssd"]}},
        {"name": f"{fleet_prefix}pinned", "placement": {"hypervisor": hv1.name}},
    ]
    variables = {
        "guests_fleet": fleet_guests,
        "guests_defaults": defaults,
        "guests_anti_affinity": [{"name": "web", "guests": web, "mode": "hard"}],
    }
    try:
        first = kvmtest.ansible_playbook(placement_play(variables), fleet.inventory)
        assert first.rc == 0, first.stdout[-3000:]
        placed = next(iter(first.results("Place the fleet's guests on the hypervisors of the play").values()))
        where_first = placed["placement"]
        assert len({where_first[name] for name in web}) == 3  # one web guest per hypervisor
        assert where_first[f"{fleet_prefix}db"] == hv3.name and where_first[f"{fleet_prefix}pinned"] == hv1.name
        for name, host in where_first.items():
            assert where(fleet, name) == {host: "running"}
        assert sum(first.changed().values()) == 3

        second = kvmtest.ansible_playbook(placement_play(variables), fleet.inventory)
        assert second.rc == 0 and sum(second.changed().values()) == 0, second.stdout[-3000:]
        again = next(iter(second.results("Place the fleet's guests on the hypervisors of the play").values()))
        assert again["placement"] == where_first and again["new"] == 0

        nowhere = {
            **variables,
            "guests_fleet": [*fleet_guests, {"name": f"{fleet_prefix}gpu", "placement": {"requires": ["gpu"]}}],
        }
        refused = kvmtest.ansible_playbook(placement_play(nowhere), fleet.inventory)
        assert refused.rc != 0
        failure = next(iter(refused.results("Place the fleet's guests on the hypervisors of the play").values()))
        assert failure["refused"][f"{fleet_prefix}gpu"] == {host.name: "lacks the label gpu" for host in fleet.hosts}
        assert where(fleet, f"{fleet_prefix}gpu") == {}
    finally:
        play([{"name": "unlabel", "kvmfleet.kvm.hypervisor": {"uri": hv3.uri, "labels": []}}])
