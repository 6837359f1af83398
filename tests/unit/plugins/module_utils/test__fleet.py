"""The fleet: placement (pure: host figures in, decisions out), the placement module's input checks,
the drain's scheduling within its concurrency limits, and the fleet_destinations filter."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from ansible_collections.kvmfleet.kvm.plugins.filter.fleet_destinations import fleet_destinations
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet import placement as pl
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.drain import Drain
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.module import PLACEMENT_ENTRY, place_fleet
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.options import DRAIN_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet.peers import Item, Outcome, Peer
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import read_input


def space(name: str, memory: int = 8192, vcpus: int = 16, **extra: Any) -> pl.Space:
    return pl.Space(name, allocatable_memory=extra.pop("allocatable", memory), memory=memory, vcpus=vcpus, **extra)


def demand(name: str, memory: int = 1024, vcpus: int = 1, **extra: Any) -> pl.Demand:
    return pl.Demand(name, memory, vcpus, **extra)


def placed(result: pl.Placement) -> dict[str, str]:
    return {decision.guest: decision.hypervisor for decision in result.decisions}


@pytest.mark.parametrize(
    ("spaces", "demands", "groups", "strategy", "expected"),
    [
        pytest.param(
            [space("a", 4096), space("b", 8192), space("c", 6144)],
            [demand("g")],
            [],
            pl.SPREAD,
            {"g": "b"},
            id="spread: most memory left free",
        ),
        pytest.param(
            [space("a", 8192, allocatable=16384), space("b", 6144, allocatable=6144)],
            [demand("g")],
            [],
            pl.SPREAD,
            {"g": "b"},
            id="spread: by the share of the host's own memory",
        ),
        pytest.param(
            [space("a", 4096), space("b", 8192), space("c", 1500)],
            [demand("g")],
            [],
            pl.PACK,
            {"g": "c"},
            id="pack: tightest fit",
        ),
        pytest.param(
            [space("b"), space("a"), space("c")],
            [demand("g")],
            [],
            pl.SPREAD,
            {"g": "a"},
            id="a tie goes to the first name",
        ),
        pytest.param(
            [space("a"), space("b")],
            [demand("small", 512), demand("big", 4096)],
            [],
            pl.SPREAD,
            {"big": "a", "small": "b"},
            id="largest first, whatever the order of the list",
        ),
        pytest.param(
            [space("a"), space("b", labels=frozenset({"ssd"}))],
            [demand("db", requires=frozenset({"ssd"}))],
            [],
            pl.SPREAD,
            {"db": "b"},
            id="labels",
        ),
        pytest.param(
            [space("a", maintenance=True), space("b", 1024)],
            [demand("g")],
            [],
            pl.SPREAD,
            {"g": "b"},
            id="no new guest on a host in maintenance",
        ),
        pytest.param(
            [space("a"), space("b")],
            [demand("g", pin="b")],
            [],
            pl.SPREAD,
            {"g": "b"},
            id="pinned",
        ),
        pytest.param(
            [space("a"), space("b"), space("c")],
            [demand(f"w{i}") for i in range(3)],
            [pl.Group("web", ("w0", "w1", "w2"))],
            pl.PACK,
            {"w0": "a", "w1": "b", "w2": "c"},
            id="hard anti-affinity spreads even when packing",
        ),
        pytest.param(
            [space("a"), space("b")],
            [demand(f"w{i}") for i in range(3)],
            [pl.Group("web", ("w0", "w1", "w2"), hard=False)],
            pl.SPREAD,
            {"w0": "a", "w1": "b", "w2": "a"},
            id="soft anti-affinity is kept where it can be",
        ),
        pytest.param(
            [space("a", guests=frozenset({"w0"})), space("b")],
            [demand("w0"), demand("w1")],
            [pl.Group("web", ("w0", "w1"))],
            pl.PACK,
            {"w0": "a", "w1": "b"},
            id="an existing member counts where it is",
        ),
        pytest.param(
            [space("a", 16, 0, guests=frozenset({"old"})), space("b")],
            [demand("old")],
            [],
            pl.SPREAD,
            {"old": "a"},
            id="an existing guest stays, even where it would not fit now",
        ),
    ],
)
def test_placement(
    spaces: list[pl.Space], demands: list[pl.Demand], groups: list[pl.Group], strategy: str, expected: dict[str, str]
) -> None:
    assert placed(pl.place(spaces, demands, groups, strategy)) == expected


def test_the_decisions_come_in_the_order_of_the_list_and_say_why() -> None:
    result = pl.place([space("a"), space("b")], [demand("small", 512), demand("big", 4096)], [])
    assert [decision.guest for decision in result.decisions] == ["small", "big"]
    assert result.decisions[1].reason == "most free memory: 4096 MiB and 15 vCPUs left"
    assert not any(decision.existing for decision in result.decisions)


@pytest.mark.parametrize(
    ("spaces", "demands", "groups", "refusals"),
    [
        pytest.param(
            [space("a", 1024), space("b", 2048, vcpus=1)],
            [demand("g", 2048, 2)],
            [],
            {"g": {"a": "needs 2048 MiB, 1024 MiB available", "b": "needs 2 vCPUs, 1 available"}},
            id="capacity",
        ),
        pytest.param(
            [space("a"), space("b", maintenance=True)],
            [demand("g", requires=frozenset({"gpu", "ssd"}))],
            [],
            {"g": {"a": "lacks the labels gpu, ssd", "b": "in maintenance"}},
            id="labels and maintenance",
        ),
        pytest.param(
            [space("a"), space("b")],
            [demand(f"w{i}") for i in range(3)],
            [pl.Group("web", ("w0", "w1", "w2"))],
            {"w2": {"a": "anti-affinity group web: w0 is there", "b": "anti-affinity group web: w1 is there"}},
            id="hard anti-affinity",
        ),
        pytest.param(
            [space("a"), space("b", 512)],
            [demand("g", pin="b")],
            [],
            {"g": {"a": "g is pinned to b", "b": "needs 1024 MiB, 512 MiB available"}},
            id="pinned where it does not fit",
        ),
        pytest.param([], [demand("g")], [], {"g": {}}, id="no hypervisor at all"),
    ],
)
def test_a_guest_that_fits_nowhere_fails_with_every_hosts_reason(
    spaces: list[pl.Space], demands: list[pl.Demand], groups: list[pl.Group], refusals: dict[str, dict[str, str]]
) -> None:
    with pytest.raises(pl.PlacementFailed) as failed:
        pl.place(spaces, demands, groups)
    assert failed.value.refusals == refusals
    assert failed.value.msg.startswith(f"{next(iter(refusals))} fits on no hypervisor")


def test_every_guest_that_fits_nowhere_is_reported_at_once() -> None:
    with pytest.raises(pl.PlacementFailed) as failed:
        pl.place([space("a", 1024)], [demand("x", 4096), demand("y", 2048), demand("z", 512)], [])
    assert sorted(failed.value.refusals) == ["x", "y"]
    assert len(failed.value.details["errors"]) == 2


def test_an_existing_guest_on_a_host_that_no_longer_suits_it_stays_with_a_warning() -> None:
    result = pl.place([space("a", maintenance=True, guests=frozenset({"g"})), space("b")], [demand("g")], [])
    assert placed(result) == {"g": "a"} and result.decisions[0].existing
    assert result.warnings == [
        "g stays on a, which no longer suits it (in maintenance); move it with kvmfleet.kvm.migrate or drain that "
        "hypervisor"
    ]


def test_a_guest_defined_on_two_hypervisors_is_an_error() -> None:
    with pytest.raises(KvmFleetError, match="g is defined on a and b: undefine one"):
        pl.place([space("a", guests=frozenset({"g"})), space("b", guests=frozenset({"g"}))], [demand("g")], [])


def apply(spaces: list[pl.Space], result: pl.Placement, demands: list[pl.Demand]) -> list[pl.Space]:
    """The hosts' figures after the placement's guests were created (as host_info would read them)."""
    size = {item.name: item for item in demands}
    after = []
    for host in spaces:
        mine = [d.guest for d in result.decisions if d.hypervisor == host.name and not d.existing]
        after.append(
            pl.Space(
                host.name,
                host.allocatable_memory,
                host.memory - sum(size[name].memory for name in mine),
                host.vcpus - sum(size[name].vcpus for name in mine),
                host.labels,
                host.maintenance,
                host.guests | frozenset(mine),
            )
        )
    return after


def test_500_guests_on_50_hypervisors_and_a_rerun_moves_none() -> None:
    spaces = [
        space(f"hv{i:02d}", 65536 + 1024 * (i % 7), 64, labels=frozenset({"ssd"} if i % 5 == 0 else ()))
        for i in range(50)
    ]
    demands = [
        demand(f"g{i:03d}", 512 * (1 + i % 8), 1 + i % 4, requires=frozenset({"ssd"}) if i % 10 == 0 else frozenset())
        for i in range(500)
    ]
    groups = [pl.Group(f"grp{k}", tuple(f"g{i:03d}" for i in range(k, 500, 100))) for k in range(100)]
    first = pl.place(spaces, demands, groups)
    assert len(first.decisions) == 500 and not first.warnings
    where = placed(first)
    for group in groups:
        hosts = [where[member] for member in group.members]
        assert len(hosts) == len(set(hosts))  # hard anti-affinity held
    assert all(where[f"g{i:03d}"] in {f"hv{j:02d}" for j in range(0, 50, 5)} for i in range(0, 500, 10))
    again = pl.place(apply(spaces, first, demands), demands, groups)
    assert placed(again) == where and all(decision.existing for decision in again.decisions)


# ------------------------------------------------------------------------------------------ the placement module


def host_info(memory: int = 8192, guests: tuple[str, ...] = (), labels: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "capacity": {"allocatable_memory_mib": memory, "available_memory_mib": memory, "available_vcpus": 16},
        "labels": list(labels),
        "maintenance": None,
        "guests": [{"name": name, "memory_mib": 512, "vcpus": 1, "running": True} for name in guests],
    }


def placement_values(**args: Any) -> dict[str, Any]:
    values, problems, _secrets = read_input(PLACEMENT_ENTRY.table, PLACEMENT_ENTRY.prepare, args)
    assert problems == []
    return values


def test_place_fleet_uses_the_guest_module_defaults_and_returns_each_hypervisors_share() -> None:
    values = placement_values(
        hypervisors={"hv1": host_info(guests=("old",)), "hv2": host_info(4096)},
        guests=[{"name": "old"}, {"name": "new", "memory": "2GiB"}, {"name": "tiny"}],
        defaults={"vcpus": 2},
    )
    result = place_fleet(values)
    assert result["placement"] == {"old": "hv1", "new": "hv1", "tiny": "hv2"}
    assert result["hypervisors"] == {"hv1": ["old", "new"], "hv2": ["tiny"]}
    assert result["new"] == 2 and result["decisions"][0]["existing"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (
            {"guests": [{"name": "a"}], "anti_affinity": [{"name": "g", "guests": ["a", "zz"]}]},
            ("anti_affinity[0].guests[1]", "zz is not a guest of the fleet (guests)"),
        ),
        (
            {"guests": [{"name": "a", "placement": {"hypervisor": "hv9"}}]},
            ("guests[0].placement.hypervisor", "hv9 is not a hypervisor of the play (hv1)"),
        ),
        ({"guests": [{"name": "a"}, {"name": "a"}]}, ("guests[1].name", "a is also the name of guests[0]")),
        ({"guests": [{"name": "a", "memory": "lots"}]}, ("guests[0].memory", "expected a size such as 512M or 2GiB")),
        (
            {"guests": [{"name": "a", "placement": {"requires": ["s sd"]}}]},
            ("guests[0].placement.requires", "is not a label"),
        ),
        (
            {"guests": [{"name": "a"}], "anti_affinity": [{"name": "g", "guests": ["a"]}, {"name": "g", "guests": []}]},
            ("anti_affinity[1].name", "g is also the name of anti_affinity[0]"),
        ),
    ],
)
def test_placement_input_is_checked_naming_the_field(args: dict[str, Any], problem: tuple[str, str]) -> None:
    _values, problems, _secrets = read_input(
        PLACEMENT_ENTRY.table, PLACEMENT_ENTRY.prepare, {"hypervisors": {"hv1": host_info()}, **args}
    )
    assert any(path == problem[0] and problem[1] in message for path, message in problems), problems


def test_placement_hides_the_guests_secrets() -> None:
    _values, _problems, secrets = read_input(
        PLACEMENT_ENTRY.table,
        PLACEMENT_ENTRY.prepare,
        {
            "hypervisors": {},
            "guests": [{"name": "a"}],
            "defaults": {"cloud_init": {"user_data": "#cloud-config\npw: x"}},
        },
        PLACEMENT_ENTRY.hidden,
    )
    assert "#cloud-config\npw: x" in secrets


# ---------------------------------------------------------------------------------------------- the drain


def drain_values(**args: Any) -> dict[str, Any]:
    values, problems, _secrets = read_input(DRAIN_MODULE, None, {"name": "hv1", **args})
    assert problems == [], problems
    return values


def test_the_drain_takes_the_migration_defaults_and_checks_its_destinations() -> None:
    values = drain_values(destinations=[{"name": "hv2", "uri": "qemu+tcp://10.0.0.2/system"}])
    assert values["migration"]["p2p"] is True and values["migration"]["max_downtime"] == 300
    assert values["concurrency"] == {"total": 2, "per_source": 2, "per_destination": 1}
    _values, problems, _secrets = read_input(
        DRAIN_MODULE, None, {"name": "hv1", "destinations": [{"name": "hv1", "uri": "qemu:///system"}]}
    )
    assert problems == [("destinations[0].name", "hv1 is the hypervisor being drained")]


@pytest.mark.parametrize(
    ("limits", "most_at_once", "most_per_destination"),
    [
        ({"total": 2, "per_destination": 1}, 2, 1),
        ({"total": 1}, 1, 1),
        ({"total": 4, "per_source": 4, "per_destination": 2}, 4, 2),
        ({"total": 4}, 2, 1),
    ],
)
def test_the_drain_moves_within_its_concurrency_limits(
    monkeypatch: pytest.MonkeyPatch, limits: dict[str, int], most_at_once: int, most_per_destination: int
) -> None:
    drain = object.__new__(Drain)
    drain.values = drain_values(concurrency=limits)
    drain.say = lambda _message: None
    drain.outcome = Outcome()
    home = Peer("hv1", "qemu:///system", None, None, None, None)  # type: ignore[arg-type]
    dests = [Peer(f"hv{i}", f"qemu+tcp://10.0.0.{i}/system", None, None, None, None) for i in (2, 3)]  # type: ignore[arg-type]
    items = [Item(None, pl.Demand(f"g{i}", 128, 1), home, dests[i % 2], "") for i in range(8)]  # type: ignore[arg-type]
    running: dict[str, int] = {}
    seen = {"total": 0, "per_destination": 0}
    lock = threading.Lock()

    def move(item: Item, _origin: str) -> None:
        with lock:
            running[item.dest.name] = running.get(item.dest.name, 0) + 1
            seen["total"] = max(seen["total"], sum(running.values()))
            seen["per_destination"] = max(seen["per_destination"], running[item.dest.name])
        time.sleep(0.05)
        with lock:
            running[item.dest.name] -= 1

    monkeypatch.setattr(Item, "name", property(lambda item: item.demand.name))
    monkeypatch.setattr(drain, "move", move, raising=False)
    drain.run(items, "hv1")
    assert seen == {"total": most_at_once, "per_destination": most_per_destination}


def test_fleet_destinations_reads_each_hosts_uri_from_its_variables() -> None:
    hostvars = {
        "hv1": {"ansible_host": "10.0.0.1"},
        "hv2": {"hypervisor_uri": "qemu+tls://hv2.example.com/system", "hypervisor_migrate_uri": "tcp://10.9.0.2"},
        "hv3": {},
    }
    assert fleet_destinations(["hv1", "hv2", "hv3"], hostvars, exclude="hv3") == [
        {"name": "hv1", "uri": "qemu+ssh://root@10.0.0.1/system", "peer_uri": None, "migrate_uri": None},
        {"name": "hv2", "uri": "qemu+tls://hv2.example.com/system", "peer_uri": None, "migrate_uri": "tcp://10.9.0.2"},
    ]
