"""The fleet report (playbooks/report.yml, kvmfleet.kvm.fleet_report) of a real two-hypervisor fleet: this
machine's libvirtd and a container hypervisor of the test fleet (tests/fleet.py), with a drifted guest, an
undeclared one, a missing one and one defined on both; then a third hypervisor that does not answer. The
page is opened in Debian's chromium with the network refused."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kvmtest
import pytest
import yaml

pytestmark = pytest.mark.integration

REPORT = kvmtest.ROOT / "playbooks/report.yml"
TASK = "Read every hypervisor once and write report.html and report.json"
SCHEMA = json.loads((kvmtest.ROOT / "docs/report.schema.json").read_text())
VNC_PASSWORD = "Vnc0pen8"  # test values that must appear in no output
USER_DATA_SECRET = "user-data-s3cret-value"


@pytest.fixture
def names(conn: Any, fleet_conns: dict[str, Any]) -> Iterator[str]:
    """A random name prefix; afterwards everything named with it is gone from this machine and the fleet."""
    import fleet as fleet_helpers

    name_prefix = kvmtest.random_prefix()
    yield name_prefix
    kvmtest.remove_prefixed(conn, name_prefix)
    fleet_helpers.clean(fleet_conns, name_prefix)


def define(play: Callable[..., kvmtest.PlayResult], uri: str, guests: list[dict[str, Any]]) -> None:
    result = play([{"name": "guests", "kvmfleet.kvm.guests": {"uri": uri, "guests": guests}}]).result("guests")
    assert not result.get("failed"), result.get("msg")


def inventory(path: Path, fleet: Any, local: dict[str, Any], hv1: dict[str, Any], **extra: Any) -> Path:
    """The report's inventory: this machine (local connection) and the fleet's first hypervisor."""
    hosts = {
        "local": {
            "ansible_connection": "local",
            "ansible_python_interpreter": str(kvmtest.VENV_BIN / "python"),
            "hypervisor_uri": kvmtest.SYSTEM_URI,
            **local,
        },
        fleet.hosts[0].name: {"ansible_host": fleet.hosts[0].address, "hypervisor_uri": fleet.hosts[0].uri, **hv1},
        **extra.pop("hosts", {}),
    }
    path.write_text(yaml.safe_dump({"hypervisors": {"hosts": hosts, "vars": extra}}))
    return path


def mine(report: dict[str, Any], names: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The report's rows of this test's guests, by (name without the prefix, hypervisor)."""
    return {
        (row["name"][len(names) :], row["hypervisor"]): row for row in report["guests"] if row["name"].startswith(names)
    }


def report_of(run: kvmtest.Run) -> dict[str, Any]:
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    (result,) = run.results(TASK).values()
    return result


def test_the_report_of_a_real_fleet_names_each_drifted_undeclared_missing_and_twice_defined_guest(
    fleet: Any, names: str, play: Callable[..., kvmtest.PlayResult], tiny_image: Path, tmp_path: Path
) -> None:
    hv1 = fleet.hosts[0]
    web = kvmtest.tiny_guest(
        f"{names}web",
        tiny_image,
        tmp_path / "web.log",
        virt_type="qemu",
        state="running",
        graphics={"type": "vnc", "password": VNC_PASSWORD},
    )
    drifted = kvmtest.tiny_guest(f"{names}drift", tiny_image, tmp_path / "drift.log", virt_type="qemu")
    stray = kvmtest.tiny_guest(f"{names}stray", tiny_image, tmp_path / "stray.log", virt_type="qemu")
    twin = kvmtest.tiny_guest(f"{names}twin", tiny_image, tmp_path / "twin.log", virt_type="qemu")
    define(play, kvmtest.SYSTEM_URI, [web, drifted, stray, twin])
    fleet1 = kvmtest.fleet_guest(f"{names}fleet1", hv1.uri)
    fleet1.pop("uri")
    twin_there = kvmtest.fleet_guest(f"{names}twin", hv1.uri, state="present")
    twin_there.pop("uri")
    define(play, hv1.uri, [fleet1, twin_there])
    missing = {
        "name": f"{names}missing",
        "memory": "128MiB",
        "virt_type": "qemu",
        "cloud_init": {
            "pool": "local",
            "user_data": {"write_files": [{"path": "/etc/kvmfleet-test", "content": USER_DATA_SECRET}]},
        },
    }
    declared = {"local": {"guests_list": [web, {**drifted, "memory": "192MiB"}]}, "hv1": {"guests_list": [missing]}}
    path = inventory(tmp_path / "inventory.yml", fleet, declared["local"], declared["hv1"], guests_fleet=[fleet1])
    dest = tmp_path / "report"
    extra = {"report_dest": str(dest), "report_title": f"fleet {names}"}

    # check -> apply -> check -> apply: changed, changed, not changed, not changed
    first = report_of(kvmtest.ansible_playbook(REPORT, path, extra_vars=extra, check=True))
    assert first["changed"] and not dest.exists()
    second = report_of(kvmtest.ansible_playbook(REPORT, path, extra_vars=extra))
    assert second["changed"] and second["summary"] == first["summary"]
    third = report_of(kvmtest.ansible_playbook(REPORT, path, extra_vars=extra, check=True))
    fourth = report_of(kvmtest.ansible_playbook(REPORT, path, extra_vars=extra))
    assert (third["changed"], fourth["changed"]) == (False, False), fourth.get("diff")

    report = json.loads((dest / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["title"] == f"fleet {names}" and report["inventory"] == [str(path)]
    hosts = {host["name"]: host for host in report["hypervisors"]}
    assert set(hosts) == {"local", hv1.name} and all(host["reachable"] for host in hosts.values())
    assert {pool["name"] for pool in hosts[hv1.name]["pools"]} >= {"shared", "local"}
    rows = {
        (row["name"][len(names) :], row["hypervisor"]): row for row in report["guests"] if row["name"].startswith(names)
    }
    assert {key: row["status"] for key, row in rows.items()} == {
        ("web", "local"): "in_sync",
        ("drift", "local"): "drifted",
        ("stray", "local"): "undeclared",
        ("twin", "local"): "duplicate",
        ("twin", hv1.name): "duplicate",
        ("fleet1", hv1.name): "in_sync",
        ("missing", hv1.name): "missing",
    }
    assert rows[("drift", "local")]["drift"]["diff"] == {"before": {"memory": "128MiB"}, "after": {"memory": "192MiB"}}
    assert rows[("drift", "local")]["drift"]["actions"] == ["update the persistent definition: memory"]
    assert rows[("missing", hv1.name)]["state"] == "absent"
    assert rows[("missing", hv1.name)]["drift"]["actions"][0] == f"define guest {names}missing"
    assert rows[("web", "local")]["state"] == "running" and rows[("web", "local")]["migration"]["live"]
    assert rows[("fleet1", hv1.name)]["declared"] == {"by": "fleet", "hypervisor": None, "path": "guests[0]"}
    (twice,) = [entry for entry in report["duplicates"] if entry["name"] == f"{names}twin"]
    assert sorted(twice["hypervisors"]) == sorted(["local", hv1.name]) and twice["by"] == "name"
    assert report["n_plus_1"]["hypervisor"] in hosts
    assert f"guest {names}drift@local: differs in memory" in report["summary"]["findings"]
    # nothing was changed on the hypervisors
    assert "<currentMemory unit='KiB'>131072</currentMemory>" in kvmtest.virsh("dumpxml", f"{names}drift")
    assert kvmtest.virsh("domstate", f"{names}stray").strip() == "shut off"
    assert kvmtest.virsh("domstate", f"{names}web").strip() == "running"
    assert f"{names}missing" not in kvmtest.virsh("list", "--all", "--name", uri=hv1.uri).split()
    for text in ((dest / "report.json").read_text(), (dest / "report.html").read_text(), json.dumps(fourth)):
        assert VNC_PASSWORD not in text and USER_DATA_SECRET not in text

    the_page_works_offline(dest / "report.html", f"{names}drift", len(report["guests"]))

    # a third hypervisor that does not answer: reported as unreachable, the others still are
    gone = str(ipaddress.ip_address(hv1.address) + 200)
    ghost = {"ghost": {"ansible_host": gone, "hypervisor_uri": f"qemu+tcp://{gone}/system"}}
    path = inventory(
        tmp_path / "inventory.yml", fleet, declared["local"], declared["hv1"], guests_fleet=[fleet1],
        report_connect_timeout=2, hosts=ghost,
    )  # fmt: skip
    fifth = report_of(kvmtest.ansible_playbook(REPORT, path, extra_vars=extra))
    assert fifth["changed"] and fifth["unreachable_hypervisors"] == ["ghost"]
    report = json.loads((dest / "report.json").read_text())
    ghost = next(host for host in report["hypervisors"] if host["name"] == "ghost")
    assert not ghost["reachable"] and gone in ghost["error"]
    rows = {
        (row["name"][len(names) :], row["hypervisor"]): row for row in report["guests"] if row["name"].startswith(names)
    }
    assert rows[("drift", "local")]["status"] == "drifted" and rows[("stray", "local")]["status"] == "undeclared"
    assert rows[("missing", hv1.name)]["status"] == "unknown"
    assert any(line.startswith("UNREACHABLE ghost: ") for line in fifth["summary"])


def the_page_works_offline(page: Path, drifted: str, rows: int) -> None:
    """The page in a real browser with no network: no console error, nothing fetched, charts drawn, the
    drifted guest's row found, sorting and filtering work."""
    with kvmtest.offline_browser() as browser:
        browser.get(page.as_uri())
        assert [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")] == []
        assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
        charts = browser.find_elements("css selector", "svg.chart")
        assert len(charts) >= 2
        for chart in charts:
            assert kvmtest.drawn_pixels(chart.screenshot_as_png) > 500, chart.get_attribute("aria-label")
        for rect in browser.find_elements("css selector", "svg.chart rect.committed, svg.chart rect.allocatable"):
            assert rect.size["height"] > 0
        row = browser.find_element("css selector", f'tr[data-guest="{drifted}"][data-status="drifted"]')
        assert "memory" in row.text and "drifted" in row.text
        browser.execute_script("window.kvmfleetReport.sortBy(5)")  # memory, ascending
        memory = browser.execute_script(
            "return Array.from(document.querySelectorAll('#guests > tbody > tr'))"
            ".map(r => parseFloat(r.cells[5].getAttribute('data-value')) || -1)"
        )
        assert len(memory) == rows and memory == sorted(memory)
        select = browser.find_element("id", "filter-status")
        browser.execute_script("arguments[0].value = 'drifted'; arguments[0].dispatchEvent(new Event('input'))", select)
        shown = browser.find_elements("css selector", "#guests > tbody > tr:not([hidden])")
        assert shown and all(row.get_attribute("data-status") == "drifted" for row in shown)
        assert browser.find_element("id", "shown").text == str(len(shown))
        assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
