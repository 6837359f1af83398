"""The fleet report: its judgements (pure: what was read of each hypervisor in, rows, headroom and summary
out), its page, and the whole module on hypervisors of libvirt's test driver (node files of its own)."""

from __future__ import annotations

import copy
import json
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ansible_collections.kvmfleet.kvm.plugins.filter.fleet_hypervisors import fleet_hypervisors
from ansible_collections.kvmfleet.kvm.plugins.module_utils._fleet import placement as pl
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.record import Record
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import preflight as pf
from ansible_collections.kvmfleet.kvm.plugins.module_utils._report import fleet
from ansible_collections.kvmfleet.kvm.plugins.module_utils._report.html import render, size
from ansible_collections.kvmfleet.kvm.plugins.module_utils._report.module import (
    REPORT_ENTRY,
    collection_version,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._report.read import Scan, Seen
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct

ROOT = Path(__file__).resolve().parents[4]
SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text())
ARCHES = {"x86_64": {"domain_types": ["qemu"], "emulator": "/usr/bin/qemu-system-x86_64", "machines": ["pc", "q35"]}}


# ---------------------------------------------------------------------------------------------- pure parts


def capacity(available_mib: int = 8192, vcpus: int = 16) -> dict[str, Any]:
    return {
        "memory_mib": 16384,
        "free_memory_mib": 12000,
        "reserved_memory_mib": 0,
        "memory_overcommit": 1.0,
        "allocatable_memory_mib": 16384,
        "committed_memory_mib": 16384 - available_mib,
        "available_memory_mib": available_mib,
        "cpus": 8,
        "vcpu_overcommit": 2.0,
        "allocatable_vcpus": 16,
        "committed_vcpus": 16 - vcpus,
        "available_vcpus": vcpus,
        "guests": 0,
        "running_guests": 0,
    }


def guest(name: str, running: bool = True, memory: int = 1024, **changes: Any) -> pf.Guest:
    facts = pf.Guest(
        name=name, uuid=f"u-{name}", running=running, paused=False, persistent=True, memory_mib=memory, vcpus=1,
        virt_type="qemu", arch="x86_64", machine="q35", emulator=None, cpu_mode=None, cpu_xml=None, invtsc=False,
        tsc_frequency=False, nvram=None, files=[],
        interfaces=[{"type": "network", "source": "default", "mac": "52:54:00:00:00:01", "vdpa": False,
                     "passthrough": False}],
    )  # fmt: skip
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def facts_of(g: pf.Guest) -> dict[str, Any]:
    """What guest_info would say of ``g``."""
    state = "running" if g.running else "stopped"
    return {"name": g.name, "uuid": g.uuid, "state": state, "vcpus": g.vcpus, "memory_mib": g.memory_mib, "tags": []}


def scan(name: str, guests: list[pf.Guest], available_mib: int = 8192, **host: Any) -> Scan:
    """A hypervisor that answered, with ``guests`` on it."""
    facts = pf.Host(
        name=name, uri=f"qemu+tcp://{name}/system", uuid=f"uuid-{name}", cpu_xml="<cpu/>",
        caps={"arch": "x86_64", "cpu_model": "", "uuid": f"uuid-{name}", "guests": copy.deepcopy(ARCHES)},
        networks=host.pop("networks", {"default"}), interfaces=set(), pools={}, capacity=capacity(available_mib),
        record=host.pop("record", Record()), domains={g.name: (g.uuid, g.running) for g in guests},
        guests=[{"name": g.name, "vcpus": g.vcpus, "memory_mib": g.memory_mib, "running": g.running} for g in guests],
    )  # fmt: skip
    seen = {g.name: Seen(facts_of(g), g) for g in guests}
    return Scan(name, facts.uri, facts={"memory_mib": 16384}, host=facts, guests=seen)


def declared(name: str, **options: Any) -> dict[str, Any]:
    values, problems = GUEST.validate({"name": name, **options})
    assert not problems
    return values


def unreachable(name: str) -> Scan:
    return Scan(name, f"qemu+tcp://{name}/system", error=f"cannot connect to libvirt at qemu+tcp://{name}/system")


def never_incompatible(_guest: pf.Guest, _dest: Scan) -> None:
    return None


def test_statuses_drift_undeclared_missing_elsewhere_and_duplicates() -> None:
    hv1 = scan("hv1", [guest("web1"), guest("stray"), guest("twin"), guest("moved")])
    hv2 = scan("hv2", [guest("db1", running=False), guest("twin", uuid="u-twin-2")])
    declarations = {
        "web1": fleet.Declaration("hypervisors[0].guests[0]", declared("web1", memory="2GiB"), "hv1"),
        "db1": fleet.Declaration("hypervisors[1].guests[0]", declared("db1"), "hv2"),
        "moved": fleet.Declaration("hypervisors[1].guests[1]", declared("moved"), "hv2"),
        "gone": fleet.Declaration("hypervisors[1].guests[2]", declared("gone"), "hv2"),
        "twin": fleet.Declaration("guests[0]", declared("twin"), None),
    }
    drifts = {
        ("hv1", "web1"): {"changed": True, "actions": ["set memory"], "diff": {"before": {"memory": "1GiB"},
                                                                               "after": {"memory": "2GiB"}}},
        ("hv2", "db1"): {"changed": False, "actions": [], "diff": {"before": {}, "after": {}}},
        ("hv2", "moved"): {"changed": True, "actions": ["define guest moved"], "diff": {"before": {}, "after": {}}},
        ("hv2", "gone"): {"changed": True, "actions": ["define guest gone"], "diff": {"before": {}, "after": {}}},
        ("hv1", "twin"): {"changed": False, "actions": [], "diff": {"before": {}, "after": {}}},
    }  # fmt: skip
    placed = fleet.Placed(hosts={"twin": "hv1"})
    scans = [hv1, hv2]
    rows = fleet.rows(scans, declarations, drifts, placed, fleet.migrations(scans, never_incompatible))
    status = {(row["name"], row["hypervisor"]): row["status"] for row in rows}
    assert status == {
        ("web1", "hv1"): "drifted",
        ("stray", "hv1"): "undeclared",
        ("twin", "hv1"): "duplicate",
        ("twin", "hv2"): "duplicate",
        ("moved", "hv1"): "elsewhere",
        ("db1", "hv2"): "in_sync",
        ("gone", "hv2"): "missing",
    }
    gone = next(row for row in rows if row["name"] == "gone")
    assert gone["notes"] == ["the guests role would create it on hv2"]
    lines = fleet.summarise([], rows, None)["lines"]
    assert "MISSING: 1 declared guests do not exist: gone (the guests role would create it on hv2)" in lines
    moved = next(row for row in rows if row["name"] == "moved")
    assert "declared for hv2, defined on hv1" in moved["notes"][0]
    assert fleet.duplicates(scans) == [{"name": "twin", "hypervisors": ["hv1", "hv2"], "by": "name"}]


def test_a_declared_guest_absent_while_a_hypervisor_did_not_answer_is_not_found_not_missing() -> None:
    declarations = {"gone": fleet.Declaration("guests[0]", declared("gone"), None)}
    drifts = {("hv1", "gone"): {"changed": True, "actions": ["define guest gone"], "diff": {"before": {}, "after": {}}}}
    scans = [scan("hv1", []), unreachable("hv2")]
    (row,) = fleet.rows(scans, declarations, drifts, fleet.Placed(hosts={"gone": "hv1"}, new={"gone"}), {})
    assert row["status"] == "unknown"
    assert "not read: hv2" in row["notes"][0]
    assert row["notes"][1] == "the guests role would create it on hv1"


def test_a_guest_declared_absent_and_absent_has_no_row() -> None:
    declarations = {"old": fleet.Declaration("guests[0]", declared("old", state="absent"), None)}
    drifts = {("hv1", "old"): {"changed": False, "actions": [], "diff": {"before": {}, "after": {}}}}
    assert fleet.rows([scan("hv1", [])], declarations, drifts, fleet.Placed(hosts={"old": "hv1"}), {}) == []


def test_the_same_uuid_under_two_names_is_a_duplicate() -> None:
    scans = [scan("hv1", [guest("a", uuid="same")]), scan("hv2", [guest("b", uuid="same")])]
    assert fleet.duplicates(scans) == [{"name": "a, b", "hypervisors": ["hv1", "hv2"], "by": "uuid"}]
    rows = fleet.rows(scans, {}, {}, fleet.Placed(), {})
    assert {row["status"] for row in rows} == {"duplicate"}


def test_migrations_name_every_destination_and_every_reason() -> None:
    web = guest("web1")
    off = guest("db1", running=False)
    scans = [
        scan("hv1", [web, off]),
        scan("hv2", []),
        scan("hv3", [], networks=set()),
        scan("hv4", [], record=Record(maintenance={"since": "2026-12-01T00:00:00Z"})),
        unreachable("hv5"),
    ]
    asked = []

    def cpu(checked: pf.Guest, dest: Scan) -> str | None:
        asked.append((checked.name, dest.name))
        return None

    moves = fleet.migrations(scans, cpu)
    movable = moves[("hv1", "web1")].as_dict()
    assert movable["live"] and movable["movable"]
    assert movable["destinations"] == ["hv2"]
    assert movable["codes"] == ["dest_in_maintenance", "network_missing"]
    assert [reason["code"] for reason in movable["refusals"]["hv3"]] == ["network_missing"]
    assert "hv5" not in movable["refusals"]  # a hypervisor that did not answer is no destination
    stopped = moves[("hv1", "db1")].as_dict()
    assert stopped["live"] is False and stopped["destinations"] == ["hv2"]
    assert ("db1", "hv2") not in asked  # CPUs are compared for running guests only
    assert ("web1", "hv2") in asked


def test_headroom_places_the_running_guests_elsewhere_as_a_drain_would() -> None:
    hv1 = scan("hv1", [guest("web1", memory=4096), guest("web2", memory=4096), guest("db1", running=False)])
    hv2 = scan("hv2", [], available_mib=5000)
    hv3 = scan("hv3", [], available_mib=5000)
    scans = [hv1, hv2, hv3]
    moves = fleet.migrations(scans, never_incompatible)
    rooms = fleet.headroom(scans, moves, [], [], pl.SPREAD)
    assert rooms["hv1"]["fits"] and rooms["hv1"]["guests_to_move"] == 2  # the stopped guest stays
    assert sorted(rooms["hv1"]["placed"].values()) == ["hv2", "hv3"]
    # a hard anti-affinity group with a guest already on hv3 leaves only hv2, which takes one of them
    hv3.host.domains["web3"] = ("u-web3", True)
    groups = [pl.Group("web", ("web1", "web2", "web3"))]
    rooms = fleet.headroom(scans, moves, [], groups, pl.SPREAD)
    assert not rooms["hv1"]["fits"]
    (left,) = rooms["hv1"]["unplaced"]
    assert left["refusals"]["hv3"] == "anti-affinity group web: web3 is there"
    assert fleet.largest(scans) is hv3  # the same memory everywhere: then the most committed
    hv2.facts["memory_mib"] = 32768
    assert fleet.largest([*scans, unreachable("hv4")]) is hv2


def test_headroom_takes_the_pre_flight_checks_refusals() -> None:
    scans = [scan("hv1", [guest("web1")]), scan("hv2", [], networks=set())]
    rooms = fleet.headroom(scans, fleet.migrations(scans, never_incompatible), [], [], pl.SPREAD)
    assert not rooms["hv1"]["fits"]
    assert "[network_missing]" in rooms["hv1"]["unplaced"][0]["refusals"]["hv2"]
    assert rooms["hv2"] == {
        "guests_to_move": 0, "memory_to_move_mib": 0, "fits": True, "placed": {}, "unplaced": [],
        "destinations": ["hv1"],
    }  # fmt: skip


def test_placement_keeps_existing_guests_and_places_new_ones_or_says_why_not() -> None:
    scans = [scan("hv1", [guest("web1")], available_mib=1000), scan("hv2", [], available_mib=3000), unreachable("x")]
    wanted = [
        ("guests[0]", declared("web1")),
        ("guests[1]", declared("web2", memory="2GiB")),
        ("guests[2]", declared("big", memory="8GiB")),
    ]
    placed = fleet.placement(scans, wanted, [], pl.SPREAD)
    assert placed.hosts == {"web1": "hv1", "web2": "hv2"}
    assert placed.new == {"web2"}
    assert placed.refused["big"] == {
        "hv1": "needs 8192 MiB, 1000 MiB available",
        "hv2": "needs 8192 MiB, 3000 MiB available",
    }


def report_of(scans: list[Scan], rows: list[dict[str, Any]]) -> dict[str, Any]:
    hypervisors = [
        {"name": s.name, "uri": s.uri, "reachable": s.reachable, "error": s.error, "maintenance": None} for s in scans
    ]
    n_plus_1 = {"hypervisor": "hv1", "guests_to_move": 2, "memory_to_move_mib": 2048, "fits": False,
                "unplaced": [{"name": "web1", "refusals": {}}], "destinations": ["hv2"], "placed": {}}  # fmt: skip
    return fleet.summarise(hypervisors, rows, n_plus_1)


def test_the_summary_puts_the_worst_first_and_its_findings_are_sorted() -> None:
    scans = [scan("hv1", [guest("web1"), guest("stray")]), unreachable("hv2")]
    declarations = {"web1": fleet.Declaration("guests[0]", declared("web1", vcpus=2), "hv1")}
    diff = {"before": {"vcpus": 1}, "after": {"vcpus": 2}}
    drifts = {("hv1", "web1"): {"changed": True, "actions": ["x"], "diff": diff}}
    rows = fleet.rows(scans, declarations, drifts, fleet.Placed(), fleet.migrations(scans, never_incompatible))
    summary = report_of(scans, rows)
    lines = summary["lines"]
    assert lines[0].startswith("2 hypervisors (1 answered), 2 guests (2 running): 0 as declared, 1 drifted")
    assert lines[1].startswith("UNREACHABLE hv2: cannot connect")
    assert lines[2].startswith("N+1 FAILS: if hv1, the largest hypervisor, were drained, 1 of its 2 running guests")
    assert "DRIFT: 1 guests differ from their declaration: web1@hv1 (vcpus)" in lines
    assert "UNDECLARED: 1 guests are in no guest list: stray@hv1" in lines
    assert "CANNOT MOVE: 2 running guests could not be live-migrated anywhere: stray@hv1 [no other hypervisor], " \
        "web1@hv1 [no other hypervisor]" in lines  # fmt: skip
    assert summary["findings"] == sorted(summary["findings"])
    assert "guest web1@hv1: differs in vcpus" in summary["findings"]
    assert "hypervisor hv2: unreachable" in summary["findings"]
    assert summary["counts"]["unmovable"] == 2 and summary["counts"]["n_plus_1"] is False


def test_sizes_read_as_people_read_them() -> None:
    assert [size(None), size(512), size(1536), size(-40919)] == ["-", "512 MiB", "1.5 GiB", "-40.0 GiB"]


# ---------------------------------------------------------------------------------------------- the page


class Page(HTMLParser):
    """What a browser would fetch (none may be), the elements by id, the text."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.ids: dict[str, dict[str, str | None]] = {}
        self.rows: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in ("src", "href", "action", "data", "poster"):
            if attributes.get(name):
                self.fetched.append(str(attributes[name]))
        if tag == "link" or (tag == "script" and attributes.get("src")):
            self.fetched.append(f"<{tag}>")
        if attributes.get("id"):
            self.ids[str(attributes["id"])] = attributes
        if tag == "tr" and attributes.get("data-guest"):
            self.rows.append(attributes)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_page_holds_everything_and_fetches_nothing(tmp_path: Path) -> None:
    report = whole_report(tmp_path)
    page = Page()
    page.feed(render(report))
    assert page.fetched == []
    assert {"guests", "hypervisors", "filter-text", "filter-status", "filter-hypervisor", "summary"} <= set(page.ids)
    assert {(row["data-guest"], row["data-status"]) for row in page.rows} >= {("web1", "drifted"), ("db1", "duplicate")}
    html = render(report)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert html.count("<svg") >= 2


def test_names_are_escaped_on_the_page(tmp_path: Path) -> None:
    report = whole_report(tmp_path)
    report["guests"][0]["name"] = "<script>alert(1)</script>"
    report["title"] = 'a "title" & <b>'
    html = render(report)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<title>a &quot;title&quot; &amp; &lt;b&gt;</title>" in html


# ---------------------------------------------------------------------------------------------- the module

NODE = """<node>
  <network><name>default</name><bridge name='virbr0'/><forward/>
    <ip address='192.168.122.1' netmask='255.255.255.0'/></network>
  <pool type='dir'><name>default</name><uuid>{uuid}</uuid><target><path>/default-pool</path></target></pool>
  {domains}
</node>"""
DOMAIN = """<domain type='test'><name>{name}</name>{uuid}<memory unit='MiB'>{memory}</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os><test:runstate xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>{state}</test:runstate>
  <devices><interface type='network'><source network='default'/></interface></devices></domain>"""


def node(path: Path, *domains: tuple[str, int, bool]) -> str:
    """A hypervisor of the test driver with ``domains`` ((name, MiB, running)): its URI."""
    path.write_text(
        NODE.format(
            uuid=uuid.uuid4(),
            domains="".join(
                DOMAIN.format(name=name, memory=memory, state=1 if running else 5, uuid="")
                for name, memory, running in domains
            ),
        )
    )
    return f"test://{path}"


def fleet_args(tmp_path: Path) -> dict[str, Any]:
    hv1 = node(tmp_path / "hv1.xml", ("web1", 512, True), ("db1", 1024, False), ("stray", 256, False))
    hv2 = node(tmp_path / "hv2.xml", ("web2", 512, True), ("db1", 1024, False))
    return {
        "hypervisors": [
            {
                "name": "hv1",
                "uri": hv1,
                "guests": [{"name": "web1", "memory": "1GiB"}, {"name": "db1"}],
                "defaults": {"graphics": {"type": "vnc", "password": "s3cretVN"}},
            },
            {"name": "hv2", "uri": hv2, "guests": [{"name": "web2", "memory": "512MiB"}]},
            {"name": "hv3", "uri": "qemu+tcp://127.0.0.1:9/system"},
        ],
        "guests": [{"name": "new1", "memory": "256MiB", "cloud_init": {"user_data": {"password": "s3cret-user"}}}],
        "dest": str(tmp_path / "out"),
        "title": "test fleet",
        "inventory": ["inventory.yml"],
        "connect_timeout": 2,
    }


def whole_report(tmp_path: Path) -> dict[str, Any]:
    result = run_direct(REPORT_ENTRY, fleet_args(tmp_path), False)
    assert not result.get("failed"), result
    return json.loads(Path(result["json"]).read_text())


def test_the_module_reports_a_fleet_of_test_hypervisors(tmp_path: Path) -> None:
    result = run_direct(REPORT_ENTRY, fleet_args(tmp_path), False)
    assert result["changed"] and not result.get("failed"), result
    report = json.loads(Path(result["json"]).read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["title"] == "test fleet" and report["inventory"] == ["inventory.yml"]
    assert report["collection"] == {"name": "kvmfleet.kvm", "version": collection_version()}
    hosts = {host["name"]: host for host in report["hypervisors"]}
    assert hosts["hv1"]["reachable"] and hosts["hv2"]["reachable"] and not hosts["hv3"]["reachable"]
    assert "Connection refused" in hosts["hv3"]["error"]
    rows = {(row["name"], row["hypervisor"]): row for row in report["guests"]}
    assert rows[("web1", "hv1")]["status"] == "drifted"
    assert rows[("web1", "hv1")]["drift"]["diff"] == {
        "before": {"graphics.type": "none", "memory": "512MiB"},
        "after": {"graphics.password": "(hidden)", "graphics.type": "vnc", "memory": "1GiB"},
    }
    assert rows[("web2", "hv2")]["status"] == "in_sync"
    assert rows[("stray", "hv1")]["status"] == "undeclared"
    assert rows[("db1", "hv1")]["status"] == rows[("db1", "hv2")]["status"] == "duplicate"
    new = next(row for row in report["guests"] if row["name"] == "new1")
    assert new["status"] == "unknown" and new["state"] == "absent" and new["hypervisor"] in ("hv1", "hv2")
    assert report["duplicates"] == [{"name": "db1", "hypervisors": ["hv1", "hv2"], "by": "name"}]
    assert result["unreachable_hypervisors"] == ["hv3"]
    assert result["summary"] == report["summary"]["lines"]
    html = Path(result["html"]).read_text()
    for text in (Path(result["json"]).read_text(), html, json.dumps(result)):
        assert "s3cretVN" not in text and "s3cret-user" not in text


def test_a_second_report_of_the_same_fleet_is_not_a_change_and_check_mode_writes_nothing(tmp_path: Path) -> None:
    args = fleet_args(tmp_path)
    first = run_direct(REPORT_ENTRY, args, True)
    assert first["changed"] and "diff" in first
    assert not Path(first["json"]).exists() and not Path(first["html"]).exists()
    assert run_direct(REPORT_ENTRY, args, False)["changed"]
    written = Path(first["json"]).stat().st_mtime_ns
    again = run_direct(REPORT_ENTRY, args, True)
    assert not again["changed"] and "diff" not in again
    assert Path(first["json"]).stat().st_mtime_ns == written
    assert not run_direct(REPORT_ENTRY, args, False)["changed"]
    # the fleet changes: the diff holds only the findings that differ
    args["hypervisors"][1]["guests"][0]["memory"] = "768MiB"
    changed = run_direct(REPORT_ENTRY, args, True)
    assert changed["changed"]
    assert changed["diff"]["before"] == "guest web2@hv2: running, as declared\n".replace("as declared", "in sync")
    assert changed["diff"]["after"] == "guest web2@hv2: differs in memory\nguest web2@hv2: running, drifted\n"


def test_bad_declarations_are_refused_naming_the_field_before_anything_is_read(tmp_path: Path) -> None:
    args = fleet_args(tmp_path)
    args["guests"].append({"name": "web1"})
    result = run_direct(REPORT_ENTRY, args, False)
    assert result["failed"]
    assert result["errors"] == ["guests[1].name: web1 is also declared at hypervisors[0].guests[0]"]
    args = fleet_args(tmp_path)
    args["hypervisors"][0]["guests"][1]["memory"] = "lots"
    args["hypervisors"][2]["uri"] = "hv3"
    result = run_direct(REPORT_ENTRY, args, False)
    assert result["errors"] == [
        "hypervisors[0].guests[1].memory: expected a size such as 512M or 2GiB, got 'lots'",
        "hypervisors[2].uri: 'hv3' is not a libvirt URI such as qemu+ssh://root@hv2/system",
    ]
    assert not (tmp_path / "out").exists()


def test_fleet_hypervisors_takes_the_uri_and_the_declarations_from_the_inventory() -> None:
    hostvars = {
        "hv1": {"ansible_host": "10.0.0.1", "guests_list": [{"name": "a"}], "guests_defaults": {"vcpus": 2}},
        "hv2": {"hypervisor_uri": "qemu+tls://hv2/system"},
        "me": {"ansible_connection": "local"},
        "me2": {"ansible_connection": "ansible.builtin.local", "guests_uri": "qemu:///session"},
    }
    assert fleet_hypervisors(["hv1", "hv2", "me", "me2"], hostvars) == [
        {"name": "hv1", "uri": "qemu+ssh://root@10.0.0.1/system", "guests": [{"name": "a"}], "defaults": {"vcpus": 2}},
        {"name": "hv2", "uri": "qemu+tls://hv2/system", "guests": [], "defaults": {}},
        {"name": "me", "uri": "qemu:///system", "guests": [], "defaults": {}},
        {"name": "me2", "uri": "qemu:///session", "guests": [], "defaults": {}},
    ]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"MANIFEST.json": json.dumps({"collection_info": {"version": "1.2.3"}})}, "1.2.3"),
        ({"galaxy.yml": "namespace: kvmfleet\nversion: 0.4.0\n"}, "0.4.0"),
        ({}, "unknown"),
    ],
)
def test_the_collection_version_comes_from_the_manifest_or_galaxy_yml(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    here = tmp_path / "plugins" / "module_utils" / "_report" / "module.py"
    here.parent.mkdir(parents=True)
    here.write_text("")
    assert collection_version(here) == expected
