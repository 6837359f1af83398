"""The bridges role's safe apply, on a "host" that is a network namespace of the test's own.

The host namespace H has one uplink (a veth) whose other end sits in a gateway namespace G. The
role runs inside H (``ip netns exec``: H sees /etc/netns/H/network as /etc/network), with ifupdown.
A bridge that takes the uplink with a wrong address cuts H off the gateway: the armed rollback must
bring the previous configuration back by itself. A correct change must stay after the rollback
deadline has passed. Nothing here touches the machine's own interfaces or /etc/network.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kvmtest
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._bridges import agent, render


def ns(name: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", "netns", "exec", name, *cmd], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{name}: {' '.join(cmd)} failed: {proc.stderr.strip()}")
    return proc


def reaches(host: str, address: str) -> bool:
    return ns(host, "ping", "-c", "1", "-W", "1", address, check=False).returncode == 0


def _forget_ifstate(tag: str) -> None:
    """ifupdown keeps its state in /run/network, which namespaces share: drop this test's entries."""
    run = Path("/run/network")
    for path in run.glob(f"ifstate.kvt{tag}*"):
        path.unlink()
    state = run / "ifstate"
    if state.exists():
        state.write_text(
            "".join(line for line in state.read_text().splitlines(True) if not line.startswith(f"kvt{tag}"))
        )


@pytest.fixture
def nshost() -> Iterator[dict[str, Any]]:
    tag = secrets.token_hex(3)
    host, gateway = f"kvt{tag}h", f"kvt{tag}g"
    uplink, peer = f"kvt{tag}u", f"kvt{tag}w"  # 10 characters: within Linux's 15
    third = int(tag[:2], 16)
    net = f"198.18.{third}"
    etc = Path(f"/etc/netns/{host}/network")
    state = Path(tempfile.mkdtemp(prefix=f"kvt{tag}-"))
    try:
        for name in (host, gateway):
            kvmtest.run_cmd(["ip", "netns", "add", name])
            ns(name, "ip", "link", "set", "lo", "up")
        kvmtest.run_cmd(
            ["ip", "link", "add", uplink, "netns", host, "type", "veth", "peer", "name", peer, "netns", gateway]
        )
        ns(gateway, "ip", "addr", "add", f"{net}.1/24", "dev", peer)
        ns(gateway, "ip", "link", "set", peer, "up")
        etc.parent.mkdir(parents=True)
        shutil.copytree("/etc/network", etc, symlinks=True)  # the ifupdown hooks (bridge-utils) come along
        for old in etc.glob("interfaces.d/*"):
            old.unlink()
        etc.joinpath("interfaces.d").mkdir(exist_ok=True)
        main = (
            f"source /etc/network/interfaces.d/*\n\nauto {uplink}\niface {uplink} inet static\n    address {net}.2/24\n"
        )
        etc.joinpath("interfaces").write_text(main)
        ns(host, "ifup", uplink)
        assert kvmtest.wait_until(lambda: reaches(host, f"{net}.1"), 10)
        yield {"host": host, "uplink": uplink, "net": net, "etc": etc, "main": main, "state": state, "tag": tag}
    finally:
        pid_file = state / "rollback.pid"
        if pid_file.exists():  # a rollback this test armed and that is still waiting
            pid = int(pid_file.read_text())
            subprocess.run(["pkill", "-P", str(pid)], check=False)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for name in (host, gateway):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        shutil.rmtree(etc.parent, ignore_errors=True)
        _forget_ifstate(tag)
        shutil.rmtree(state, ignore_errors=True)


def run_role(
    h: dict[str, Any], role_vars: dict[str, Any], check: bool = False, tags: str | None = None
) -> dict[str, Any]:
    """Run the bridges role inside the host namespace; return the apply task's result and the stats."""
    play = {
        "name": "bridges",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {
            "bridges_state_dir": str(h["state"]),
            "bridges_install_packages": False,
            "bridges_backend": "ifupdown",
            **role_vars,
        },
        "roles": [{"role": "kvmfleet.kvm.bridges"}],
    }
    with tempfile.TemporaryDirectory(prefix="kvt-play-") as tmp:
        path = Path(tmp) / "play.yml"
        path.write_text(json.dumps([play]))
        cmd = [
            "ip",
            "netns",
            "exec",
            h["host"],
            str(kvmtest.VENV_BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            str(path),
        ]
        if check:
            cmd.append("--check")
        if tags:
            cmd += ["--tags", tags]
        env = kvmtest.ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    data = json.loads(proc.stdout)
    tasks = {t["task"]["name"]: t["hosts"]["localhost"] for p in data["plays"] for t in p["tasks"]}
    failed = {name: res.get("msg") for name, res in tasks.items() if res.get("failed")}
    return {
        "apply": tasks.get("kvmfleet.kvm.bridges : Apply with automatic rollback", {"not run": failed}),
        "stats": data["stats"]["localhost"],
        "tasks": tasks,
    }


def bridge_vars(h: dict[str, Any], address: str) -> dict[str, Any]:
    return {
        "bridges_list": [{"name": f"kvt{h['tag']}b", "ports": [h["uplink"]], "addresses": [address], "mtu": 1400}],
        "bridges_check_targets": [f"{h['net']}.1"],
        "bridges_check_timeout": 4,
        "bridges_rollback_timeout": 10,
    }


def test_wrong_address_on_the_uplink_bridge_rolls_back_by_itself(nshost: dict[str, Any]) -> None:
    h = nshost
    bridge = f"kvt{h['tag']}b"
    wrong = bridge_vars(h, "198.51.100.2/24")  # not the gateway's subnet: H loses the gateway

    result = run_role(h, wrong)
    assert result["apply"].get("failed") is True, result["apply"]
    assert f"no answer from {h['net']}.1" in result["apply"]["msg"]
    # the rollback is armed in a process of its own; nobody calls it: it fires at its deadline
    assert kvmtest.wait_until((h["state"] / "rolled-back").exists, 30), (h["state"] / "rollback.log").read_text()
    assert kvmtest.wait_until(lambda: reaches(h["host"], f"{h['net']}.1"), 10)
    links = ns(h["host"], "ip", "-br", "link").stdout
    assert bridge not in links
    assert f"{h['net']}.2/24" in ns(h["host"], "ip", "-br", "addr", "show", h["uplink"]).stdout
    assert h["etc"].joinpath("interfaces").read_text() == h["main"]
    assert not h["etc"].joinpath("interfaces.d/kvmfleet-bridges").exists()
    assert "rollback: done" in (h["state"] / "rollback.log").read_text()


def snapshot(h: dict[str, Any]) -> dict[str, Any]:
    """What a run that must change nothing could change: links, addresses, configuration, state."""
    etc = [h["etc"] / "interfaces", *sorted(h["etc"].glob("interfaces.d/*"))]
    return {
        "links": sorted(
            (link["ifname"], link.get("master"), link["mtu"])
            for link in json.loads(ns(h["host"], "ip", "-j", "link").stdout)
        ),
        "addresses": sorted(
            (link["ifname"], a["local"], a["prefixlen"])
            for link in json.loads(ns(h["host"], "ip", "-j", "addr", "show", "scope", "global").stdout)
            for a in link["addr_info"]
            if "local" in a
        ),
        "etc": {str(path): path.read_text() for path in etc},
        "state": sorted(path.name for path in h["state"].iterdir()),
        "tmp": sorted(Path(tempfile.gettempdir()).glob("kvmfleet-bridges-*")),
    }


def test_check_apply_check_apply_and_the_change_stays(nshost: dict[str, Any]) -> None:
    """The triad: changed, changed, not changed, not changed. Check mode writes nothing to the host
    (the state directory is not even created) and predicts what the real run does."""
    h = nshost
    bridge = f"kvt{h['tag']}b"
    state = h["state"] / "state"
    good = {**bridge_vars(h, f"{h['net']}.2/24"), "bridges_state_dir": str(state)}
    before = snapshot(h)

    results = [run_role(h, good, check=check) for check in (True, False, True, False)]
    assert [r["stats"]["changed"] for r in results] == [1, 1, 0, 0], [r["apply"] for r in results]
    assert [r["stats"]["failures"] for r in results] == [0, 0, 0, 0]
    assert [r["apply"]["changed"] for r in results] == [True, True, False, False]
    assert [d["after_header"] for d in results[0]["apply"]["diff"]] == [  # the namespace's /etc/network
        "/etc/network/interfaces",
        "/etc/network/interfaces.d/kvmfleet-bridges",
    ]
    assert results[1]["apply"]["output"][-1] == "changed" and results[3]["apply"]["diff"] == []
    assert snapshot(h)["tmp"] == before["tmp"]  # check mode removed its temporary directory

    time.sleep(12)  # past the rollback deadline: the confirmed change stays
    assert not (state / "rolled-back").exists() and not (state / "armed").exists()
    assert reaches(h["host"], f"{h['net']}.1")
    assert f"master {bridge}" in ns(h["host"], "ip", "link", "show", h["uplink"]).stdout
    assert f"{h['net']}.2/24" in ns(h["host"], "ip", "-br", "addr", "show", bridge).stdout
    assert "mtu 1400" in ns(h["host"], "ip", "link", "show", bridge).stdout
    assert "mtu 1400" in ns(h["host"], "ip", "link", "show", h["uplink"]).stdout
    assert ns(h["host"], "cat", f"/sys/class/net/{bridge}/bridge/stp_state").stdout.strip() == "0"
    ours = h["etc"].joinpath("interfaces.d/kvmfleet-bridges").read_text()
    assert f"bridge_ports {h['uplink']}" in ours and f"address {h['net']}.2/24" in ours
    main = h["etc"].joinpath("interfaces").read_text()
    assert f"# kvmfleet.kvm.bridges took over: iface {h['uplink']} inet static" in main
    assert (state / "backup" / "interfaces").read_text() == h["main"]


def test_check_mode_writes_nothing_on_the_host(nshost: dict[str, Any]) -> None:
    h = nshost
    bridge = f"kvt{h['tag']}b"
    state = h["state"] / "state"
    before = snapshot(h)
    checked = run_role(h, {**bridge_vars(h, f"{h['net']}.2/24"), "bridges_state_dir": str(state)}, check=True)
    assert checked["apply"]["changed"] is True and checked["apply"]["diff"]
    assert f"{bridge}: no such interface" in checked["apply"]["drift"]
    assert not state.exists()
    assert snapshot(h) == before


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        pytest.param(("ip", "addr", "del", "ADDRESS", "dev", "BRIDGE"), "BRIDGE: no address ADDRESS",
                     id="address-removed"),
        pytest.param(("ip", "link", "set", "UPLINK", "nomaster"), "UPLINK: not a port of BRIDGE (master: none)",
                     id="port-removed"),
    ],
)  # fmt: skip
def test_a_change_by_hand_is_seen_and_undone(nshost: dict[str, Any], drift: tuple[str, ...], expected: str) -> None:
    h = nshost
    bridge = f"kvt{h['tag']}b"
    good = bridge_vars(h, f"{h['net']}.2/24")
    assert run_role(h, good)["apply"]["changed"] is True
    cmd = [part.replace("ADDRESS", f"{h['net']}.2/24").replace("BRIDGE", bridge).replace("UPLINK", h["uplink"])
           for part in drift]  # fmt: skip
    ns(h["host"], *cmd)

    checked = run_role(h, good, check=True)
    assert checked["apply"]["changed"] is True and checked["apply"]["diff"] == []  # the files are in place
    assert checked["apply"]["drift"] == [expected.replace("BRIDGE", bridge).replace("UPLINK", h["uplink"])
                                         .replace("ADDRESS", f"{h['net']}.2/24")]  # fmt: skip
    applied = run_role(h, good)
    assert applied["apply"]["changed"] is True and applied["stats"]["failures"] == 0, applied["apply"]
    assert f"master {bridge}" in ns(h["host"], "ip", "link", "show", h["uplink"]).stdout
    assert f"{h['net']}.2/24" in ns(h["host"], "ip", "-br", "addr", "show", bridge).stdout
    assert run_role(h, good)["stats"]["changed"] == 0


def test_a_rerun_while_a_rollback_is_pending_waits_for_it(nshost: dict[str, Any]) -> None:
    """A rollback armed by a failed apply has not fired yet when the role runs again. The rerun must
    neither report "unchanged" (the rollback would undo it later) nor save the broken configuration as
    the one to come back to: it waits for the rollback, then applies from the known-good state."""
    h = nshost
    bridge = f"kvt{h['tag']}b"
    wrong = bridge_vars(h, "198.51.100.2/24")
    good = bridge_vars(h, f"{h['net']}.2/24")
    log = h["state"] / "rollback.log"

    first = run_role(h, {**wrong, "bridges_rollback_timeout": 60})  # time for the check run below
    assert first["apply"].get("failed") is True, first["apply"]
    assert (h["state"] / "armed").exists()  # pending
    assert "rollback: done" not in (log.read_text() if log.exists() else "")

    checked = run_role(h, good, check=True)  # check mode says so, and waits for nothing
    assert checked["apply"]["changed"] is True
    assert "is pending" in checked["apply"]["output"][0] and "is pending" in checked["apply"]["warnings"][0]

    again = run_role(h, wrong)  # the same broken change: the rollback fires first, then it fails again
    assert again["apply"].get("failed") is True, again["apply"]
    assert "is pending: waiting" in again["apply"]["output"][0]
    assert log.read_text().count("rollback: done") == 1
    assert (h["state"] / "backup" / "interfaces").read_text() == h["main"]  # still the known-good one

    fixed = run_role(h, good)  # after the second rollback (waited for if still pending): the change stays
    assert fixed["apply"]["changed"] is True and fixed["stats"]["failures"] == 0, fixed["apply"]
    assert log.read_text().count("rollback: done") == 2
    time.sleep(12)  # past every deadline
    assert log.read_text().count("rollback: done") == 2
    assert reaches(h["host"], f"{h['net']}.1")
    assert f"master {bridge}" in ns(h["host"], "ip", "link", "show", h["uplink"]).stdout
    assert f"{h['net']}.2/24" in ns(h["host"], "ip", "-br", "addr", "show", bridge).stdout
    assert (h["state"] / "backup" / "interfaces").read_text() == h["main"]
    assert run_role(h, good)["stats"]["changed"] == 0


def test_a_switch_that_fails_is_rolled_back_at_once(nshost: dict[str, Any]) -> None:
    """The on-host agent alone (the module's checks would refuse this input): a port that does not
    exist when the switch happens fails the switch, and the previous configuration comes back at
    once, without waiting for the deadline."""
    h = nshost
    bridge, state = f"kvt{h['tag']}b", h["state"]
    state.joinpath(agent.NAME).write_text(agent.SCRIPT)
    state.joinpath("stage").mkdir()
    state.joinpath("stage/kvmfleet-bridges").write_text(
        f"iface kvt{h['tag']}x inet manual\n\nauto {bridge}\n"
        f"iface {bridge} inet static\n    address {h['net']}.2/24\n    bridge_ports {h['uplink']} kvt{h['tag']}x\n"
    )
    state.joinpath("stage/interfaces").write_text(render.taken_over(h["main"], [h["uplink"], f"kvt{h['tag']}x"]))
    state.joinpath("current").mkdir()
    state.joinpath("current/interfaces").write_text(h["main"])
    state.joinpath("ports").write_text(f"{h['uplink']}\nkvt{h['tag']}x\n")
    state.joinpath("targets").write_text(f"{h['net']}.1\n")
    state.joinpath("settings").write_text("BACKEND=ifupdown\nCHECK_TIMEOUT=2\nROLLBACK_TIMEOUT=600\n")
    proc = ns(h["host"], "bash", str(state / "kvmfleet-netapply"), str(state), check=False)
    last = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 3 and last.startswith("failed: the new configuration did not come up"), proc.stdout
    assert f"no interface kvt{h['tag']}x after the switch" in last and "previous configuration was restored" in last
    assert (state / "rolled-back").exists() and not (state / "armed").exists()
    assert not (state / "rollback.pid").exists()  # the armed rollback was disarmed: it restored already
    assert bridge not in ns(h["host"], "ip", "-br", "link").stdout
    assert f"{h['net']}.2/24" in ns(h["host"], "ip", "-br", "addr", "show", h["uplink"]).stdout
    assert h["etc"].joinpath("interfaces").read_text() == h["main"]
    assert not h["etc"].joinpath("interfaces.d/kvmfleet-bridges").exists()
    assert kvmtest.wait_until(lambda: reaches(h["host"], f"{h['net']}.1"), 10)


VLAN_VARS = {
    "bridges_vlans": [{"device": "UPLINK", "id": 100}],
    "bridges_list": [
        {"name": "BRIDGE", "ports": ["UPLINK.100"], "stp": True, "forward_delay": 4, "mtu": 9000, "dhcp": True}
    ],
}


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("ifupdown", ["iface UPLINK.100 inet manual", "vlan-raw-device UPLINK", "iface BRIDGE inet dhcp",
                      "bridge_ports UPLINK.100", "bridge_stp on", "bridge_fd 4", "mtu 9000"]),
        ("systemd_networkd", ["### FILE 60-kvmfleet-UPLINK.100.netdev", "Kind=vlan", "Id=100",
                              "### FILE 10-kvmfleet-port-UPLINK.100.network", "Bridge=BRIDGE",
                              "### FILE 10-kvmfleet-port-UPLINK.network", "VLAN=UPLINK.100", "Kind=bridge",
                              "STP=yes", "ForwardDelaySec=4", "DHCP=ipv4", "MTUBytes=9000"]),
        ("networkmanager", ["### FILE kvmfleet-vlan-UPLINK.100.nmconnection", "type=vlan", "parent=UPLINK",
                            "id=100", "master=BRIDGE", "slave-type=bridge",
                            "### FILE kvmfleet-bridge-BRIDGE.nmconnection", "stp=true", "forward-delay=4",
                            "mtu=9000", "method=auto"]),
    ],
)  # fmt: skip
def test_vlan_bridge_configuration_per_backend(nshost: dict[str, Any], backend: str, expected: list[str]) -> None:
    """What each backend gets for a VLAN bridge. These machines' kernel has no 8021q module (`ip link
    add ... type vlan`: "Unknown device type"), so VLAN interfaces cannot be created here: check mode
    predicts a change and returns the configuration; `--tags bridges_configure` checks and changes nothing."""
    h = nshost
    bridge, uplink = f"kvt{h['tag']}b", h["uplink"]
    role_vars = json.loads(json.dumps(VLAN_VARS).replace("UPLINK", uplink).replace("BRIDGE", bridge))
    role_vars = {**role_vars, "bridges_check_targets": [f"{h['net']}.1"], "bridges_backend": backend}
    before = snapshot(h)
    result = run_role(h, role_vars, check=True)
    assert result["apply"]["changed"] is True and result["apply"]["backend"] == backend
    assert snapshot(h) == before
    bundle = "".join(f"### FILE {Path(path).name}\n{text}" for path, text in result["apply"]["files"].items())
    for line in expected:
        assert line.replace("UPLINK", uplink).replace("BRIDGE", bridge) in bundle, bundle

    checked = run_role(h, role_vars, tags="bridges_configure")
    assert checked["stats"]["failures"] == 0 and "not run" in checked["apply"]
    assert snapshot(h) == before


def test_install_tag_alone(nshost: dict[str, Any]) -> None:
    """`--tags bridges_install` runs the checks it needs (the backend) and installs the packages
    (here already installed: apt reports no change); nothing else runs."""
    h = nshost
    before = snapshot(h)
    result = run_role(
        h, {**bridge_vars(h, f"{h['net']}.2/24"), "bridges_install_packages": True}, tags="bridges_install"
    )
    assert result["stats"]["failures"] == 0 and result["stats"]["changed"] == 0, result["tasks"]
    assert "kvmfleet.kvm.bridges : Install the backend's packages" in result["tasks"]
    assert "not run" in result["apply"]
    assert snapshot(h) == before


BAD_INPUTS = [
    ({"bridges_check_targets": []}, ["check_targets: give the addresses"]),
    ({"bridges_check_targets": ["gateway.example"]}, ["check_targets[0]: 'gateway.example' is not an IPv4"]),
    ({"bridges_list": [{"name": "b" * 16, "ports": []}]}, ["bridges[0].name: 'bbbbbbbbbbbbbbbb' is not an"]),
    (
        {"bridges_list": [{"name": "UPLINK", "ports": []}]},
        ["bridges[0].name: UPLINK exists on the host and is a veth"],
    ),
    (
        {"bridges_list": [{"name": "kvtb1", "ports": ["UPLINK"]}, {"name": "kvtb2", "ports": ["UPLINK"]}]},
        ["bridges[1].ports[0]: UPLINK is already a port of bridges[0]"],
    ),
    (
        {"bridges_list": [{"name": "kvtb1", "ports": ["UPLINK", "kvtnosuch0"]}]},
        ["bridges[0].ports[1]: no interface kvtnosuch0 on the host"],
    ),
    ({"bridges_vlans": [{"device": "kvtnosuch1", "id": 10}]}, ["vlans[0].device: no interface kvtnosuch1"]),
    ({"bridges_vlans": [{"device": "UPLINK", "id": 4095}]}, ["vlans[0].id: 4095 is not a VLAN id (1 to 4094)"]),
    ({"bridges_vlans": [{"device": "UPLINK", "id": 0}]}, ["vlans[0].id: 0 is not a VLAN id"]),
    (
        {"bridges_vlans": [{"device": "UPLINK", "id": 10, "name": "kvtvlanname0123"}]},  # 15: fine
        [],
    ),
    (
        {"bridges_vlans": [{"device": "UPLINK", "id": 10, "name": "kvtvlanname01234"}]},
        ["vlans[0].name: 'kvtvlanname01234' is not an interface name (at most 15"],
    ),
    (
        {"bridges_list": [{"name": "kvtb1", "addresses": ["198.18.0.300/24", "198.18.0.3", "fd00::1/129"]}]},
        [
            "bridges[0].addresses[0]: '198.18.0.300' is not an IPv4 or IPv6 address",
            "bridges[0].addresses[1]: '198.18.0.3' is not an address with a prefix length",
            "bridges[0].addresses[2]: 'fd00::1/129': an IPv6 prefix length is 1 to 128",
        ],
    ),
    (
        {"bridges_list": [{"name": "kvtb1", "addresses": ["198.18.0.3/24"], "gateway": "198.18.1.1"}]},
        ["bridges[0].gateway: 198.18.1.1 is not in the subnet of any IPv4 address of bridges[0].addresses"],
    ),
    (
        {"bridges_list": [{"name": "kvtb1", "addresses": ["198.18.0.3/24"], "gateway": "fd00::1"}]},
        ["bridges[0].gateway: 'fd00::1' is not an IPv4 address"],
    ),
    ({"bridges_list": [{"name": "kvtb1", "mtu": 70000}]}, ["bridges[0].mtu: 70000 is not between 68 and 65535"]),
    (
        {"bridges_list": [{"name": "kvtb1", "mtu": 1000, "addresses": ["fd00::1/64"]}]},
        ["bridges[0].mtu: 1000 is below 1280"],
    ),
    ({"bridges_vlans": [{"device": "UPLINK", "id": 10, "mtu": 20}]}, ["vlans[0].mtu: 20 is not between"]),
    (
        {"bridges_list": [{"name": "kvtb1", "dhcp": True, "addresses": ["10.0.0.1/24"]}]},
        ["bridges[0].dhcp: DHCP and the static IPv4 addresses"],
    ),
    ({"bridges_rollback_timeout": 3}, ["rollback_timeout: 3 must be more than check_timeout (4)"]),
    (
        {"bridges_backend": "networkmanager", "bridges_list": [{"name": "kvtb1", "stp": True}]},
        ["bridges[0].forward_delay: NetworkManager takes 2 to 30 seconds"],
    ),
    (  # every problem at once, each with its own field
        {
            "bridges_list": [{"name": "kvtb1", "ports": ["UPLINK", "kvtnosuch2"], "mtu": 10}],
            "bridges_vlans": [{"device": "UPLINK", "id": 5000}],
        },
        ["bridges[0].ports[1]: no interface", "bridges[0].mtu: 10", "vlans[0].id: 5000"],
    ),
]


@pytest.mark.parametrize(("change", "messages"), BAD_INPUTS)
def test_bad_variables_fail_before_anything_changes(
    nshost: dict[str, Any], change: dict[str, Any], messages: list[str]
) -> None:
    h = nshost
    change = json.loads(json.dumps(change).replace("UPLINK", h["uplink"]))
    messages = [m.replace("UPLINK", h["uplink"]) for m in messages]
    bad = {**bridge_vars(h, f"{h['net']}.2/24"), **change}
    before = snapshot(h)
    result = run_role(h, bad, check=not messages)  # a good one: checked only
    failed = [task for task in result["tasks"].values() if task.get("failed")]
    if not messages:
        assert not failed, failed
        return
    assert len(failed) == 1, failed
    reported = failed[0]["errors"]
    assert len(reported) == len(messages), reported
    for message in messages:
        assert any(line.startswith(message) for line in reported), (message, reported)
    assert "not run" in result["apply"]  # the apply task never ran
    assert snapshot(h) == before
    assert kvmtest.wait_until(lambda: reaches(h["host"], f"{h['net']}.1"), 5)
