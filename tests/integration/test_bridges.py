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


def run_role(h: dict[str, Any], role_vars: dict[str, Any], check: bool = False) -> dict[str, Any]:
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
    assert f"no answer from {h['net']}.1" in result["apply"]["stdout"]
    # the rollback is armed in a process of its own; nobody calls it: it fires at its deadline
    assert kvmtest.wait_until((h["state"] / "rolled-back").exists, 30), (h["state"] / "rollback.log").read_text()
    assert kvmtest.wait_until(lambda: reaches(h["host"], f"{h['net']}.1"), 10)
    links = ns(h["host"], "ip", "-br", "link").stdout
    assert bridge not in links
    assert f"{h['net']}.2/24" in ns(h["host"], "ip", "-br", "addr", "show", h["uplink"]).stdout
    assert h["etc"].joinpath("interfaces").read_text() == h["main"]
    assert not h["etc"].joinpath("interfaces.d/kvmfleet-bridges").exists()
    assert "rollback: done" in (h["state"] / "rollback.log").read_text()


def test_correct_change_stays_and_reruns_unchanged(nshost: dict[str, Any]) -> None:
    h = nshost
    bridge = f"kvt{h['tag']}b"
    good = bridge_vars(h, f"{h['net']}.2/24")  # the uplink's address moves onto the bridge

    checked = run_role(h, good, check=True)
    assert checked["apply"]["changed"] is True and checked["apply"]["stdout_lines"][-1] == "would change"
    assert bridge not in ns(h["host"], "ip", "-br", "link").stdout  # check mode changed nothing

    applied = run_role(h, good)
    assert applied["apply"]["changed"] is True, applied["apply"]
    assert applied["stats"]["failures"] == 0
    again = run_role(h, good)
    assert again["stats"]["changed"] == 0 and again["stats"]["failures"] == 0

    time.sleep(12)  # past the rollback deadline: the confirmed change stays
    assert not (h["state"] / "rolled-back").exists()
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
def test_vlan_bridge_configuration_per_backend_in_check_mode(
    nshost: dict[str, Any], backend: str, expected: list[str]
) -> None:
    """What each backend gets for a VLAN bridge. These machines' kernel has no 8021q module (`ip link
    add ... type vlan`: "Unknown device type"), so VLAN interfaces cannot be created here: the
    rendered configuration is checked, in check mode, which changes nothing on the host."""
    h = nshost
    bridge, uplink = f"kvt{h['tag']}b", h["uplink"]
    role_vars = json.loads(json.dumps(VLAN_VARS).replace("UPLINK", uplink).replace("BRIDGE", bridge))
    role_vars["bridges_check_targets"] = [f"{h['net']}.1"]
    result = run_role(h, {**role_vars, "bridges_backend": backend}, check=True)
    assert result["apply"]["changed"] is True and result["apply"]["stdout_lines"][-1] == "would change"
    bundle = (h["state"] / "bundle").read_text()
    for line in expected:
        assert line.replace("UPLINK", uplink).replace("BRIDGE", bridge) in bundle, bundle
    assert f"BACKEND={backend}" in (h["state"] / "settings").read_text()
    assert bridge not in ns(h["host"], "ip", "-br", "link").stdout
    assert h["etc"].joinpath("interfaces").read_text() == h["main"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bridges_check_targets": []}, "bridges_check_targets"),
        ({"bridges_list": [{"name": "b" * 16, "ports": []}]}, "bridges_list[0]"),
        (
            {"bridges_list": [{"name": "kvtb1", "ports": ["p"]}, {"name": "kvtb2", "ports": ["p"]}]},
            "bridges_list[].ports",
        ),
        ({"bridges_list": [{"name": "kvtb1", "dhcp": True, "addresses": ["10.0.0.1/24"]}]}, "bridges_list[0]"),
        ({"bridges_rollback_timeout": 3}, "bridges_rollback_timeout"),
        (
            {"bridges_backend": "networkmanager", "bridges_list": [{"name": "kvtb1", "stp": True}]},
            "bridges_list[0].forward_delay",
        ),
    ],
)
def test_bad_variables_fail_before_anything_changes(nshost: dict[str, Any], change: dict[str, Any], field: str) -> None:
    h = nshost
    bad = {**bridge_vars(h, f"{h['net']}.2/24"), **change}
    result = run_role(h, bad)
    failed = [task for task in result["tasks"].values() if task.get("failed")]
    assert failed, result["tasks"]
    message = failed[0].get("msg", "") + json.dumps(failed[0].get("results", ""))
    assert field in message, message
    assert "not run" in result["apply"]  # the apply task never ran
    assert not h["etc"].joinpath("interfaces.d/kvmfleet-bridges").exists()
    assert h["etc"].joinpath("interfaces").read_text() == h["main"]
    assert kvmtest.wait_until(lambda: reaches(h["host"], f"{h['net']}.1"), 5)
