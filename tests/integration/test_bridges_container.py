"""The bridges role with systemd-networkd and NetworkManager, on a podman systemd host with an
uplink of the test's own.

The host is a privileged systemd container without podman's network (``--network none``); its
uplink is a veth whose other end sits in a gateway namespace of the test. The role runs through
Ansible's podman connection. The image comes from scripts/images/build-bridges-host.sh (cached).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kvmtest
import pytest

BUILD = kvmtest.ROOT / "scripts/images/build-bridges-host.sh"


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def inside(container: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return podman("exec", container, *cmd, check=check)


@pytest.fixture(scope="module")
def image() -> str:
    proc = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


NM_CONF = "[main]\\nno-auto-default=*\\n"
NM_UPLINK = (
    "[connection]\\nid=uplink\\ntype=ethernet\\ninterface-name={uplink}\\n\\n"
    "[ipv4]\\nmethod=manual\\naddress1={net}.2/24\\n\\n[ipv6]\\nmethod=disabled\\n"
)


def start_stack(name: str, backend: str, uplink: str, net: str) -> None:
    """The host's previous configuration: its network stack gives the uplink its address."""
    # systemd-networkd and NetworkManager wait for udev unless /sys is read-only (systemd's container
    # interface); udev must never run here, so the container's own /sys mount is made read-only
    inside(name, "mount", "-o", "remount,ro,bind", "/sys")
    if backend == "systemd_networkd":
        network = f"[Match]\\nName={uplink}\\n\\n[Network]\\nAddress={net}.2/24\\n"
        inside(name, "sh", "-c", f"printf '{network}' > /etc/systemd/network/20-uplink.network")
        inside(name, "systemctl", "start", "systemd-networkd")
    else:
        profile = NM_UPLINK.format(uplink=uplink, net=net)
        inside(name, "sh", "-c", f"printf '{NM_CONF}' > /etc/NetworkManager/conf.d/kvt.conf")
        inside(name, "sh", "-c", f"printf '{profile}' > /etc/NetworkManager/system-connections/uplink.nmconnection")
        inside(name, "chmod", "600", "/etc/NetworkManager/system-connections/uplink.nmconnection")
        inside(name, "systemctl", "start", "NetworkManager")


@pytest.fixture(params=["systemd_networkd", "networkmanager"])
def chost(request: pytest.FixtureRequest, image: str) -> Iterator[dict[str, Any]]:
    backend = request.param
    tag = secrets.token_hex(3)
    name, gateway = f"kvt{tag}c", f"kvt{tag}g"
    uplink, peer = f"kvt{tag}u", f"kvt{tag}w"
    net = f"198.18.{int(tag[:2], 16)}"
    try:
        podman(
            "run", "-d", "--name", name, "--privileged", "--systemd=always", "--network", "none",
            "--stop-signal=SIGRTMIN+3", image, "/sbin/init",
        )  # fmt: skip
        pid = podman("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
        kvmtest.run_cmd(["ip", "netns", "add", gateway])
        kvmtest.run_cmd(
            ["ip", "link", "add", uplink, "netns", pid, "type", "veth", "peer", "name", peer, "netns", gateway]
        )
        kvmtest.run_cmd(["ip", "netns", "exec", gateway, "ip", "addr", "add", f"{net}.1/24", "dev", peer])
        kvmtest.run_cmd(["ip", "netns", "exec", gateway, "ip", "link", "set", peer, "up"])
        assert kvmtest.wait_until(lambda: booted(name), 60)
        start_stack(name, backend, uplink, net)
        assert kvmtest.wait_until(lambda: reaches(name, f"{net}.1"), 30), inside(name, "ip", "addr", check=False).stdout
        yield {"name": name, "uplink": uplink, "net": net, "tag": tag, "backend": backend}
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)
        subprocess.run(["ip", "netns", "del", gateway], capture_output=True, check=False)


def booted(container: str) -> bool:
    state = inside(container, "systemctl", "is-system-running", check=False).stdout.strip()
    return state in ("running", "degraded")


def reaches(container: str, address: str) -> bool:
    return inside(container, "ping", "-c", "1", "-W", "1", address, check=False).returncode == 0


def run_role(h: dict[str, Any], role_vars: dict[str, Any], check: bool = False) -> dict[str, Any]:
    play = {
        "name": "bridges",
        "hosts": "all",
        "gather_facts": False,
        "vars": {"bridges_install_packages": False, **role_vars},
        "roles": [{"role": "kvmfleet.kvm.bridges"}],
    }
    with tempfile.TemporaryDirectory(prefix="kvt-play-") as tmp:
        path = Path(tmp) / "play.yml"
        path.write_text(json.dumps([play]))
        inventory = Path(tmp) / "inventory.ini"
        inventory.write_text(
            f"{h['name']} ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n"
        )
        cmd = [
            str(kvmtest.VENV_BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            str(path),
            *(["--check"] if check else []),
        ]
        env = kvmtest.ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    data = json.loads(proc.stdout)
    tasks = {t["task"]["name"]: t["hosts"][h["name"]] for p in data["plays"] for t in p["tasks"]}
    failed = {name: res.get("msg") for name, res in tasks.items() if res.get("failed")}
    return {
        "apply": tasks.get("kvmfleet.kvm.bridges : Apply with automatic rollback", {"not run": failed}),
        "stats": data["stats"][h["name"]],
        "tasks": tasks,
    }


def bridge_vars(h: dict[str, Any], address: str) -> dict[str, Any]:
    return {
        "bridges_list": [
            {
                "name": f"kvt{h['tag']}b",
                "ports": [h["uplink"]],
                "addresses": [address],
                "mtu": 1400,
                "stp": True,
                "forward_delay": 2,
            }
        ],
        "bridges_check_targets": [f"{h['net']}.1"],
        "bridges_check_timeout": 15,  # STP on: ports forward after 2 x forward_delay, plus activation
        "bridges_rollback_timeout": 25,
    }


def config_files(h: dict[str, Any]) -> list[str]:
    where = "/etc/systemd/network/" if h["backend"] == "systemd_networkd" else "/etc/NetworkManager/system-connections/"
    return inside(h["name"], "ls", where).stdout.split()


def test_backend_is_detected_and_a_wrong_address_rolls_back_by_itself(chost: dict[str, Any]) -> None:
    h = chost
    result = run_role(h, bridge_vars(h, "198.51.100.2/24"))
    assert result["apply"].get("failed") is True, result["apply"]
    assert f"no answer from {h['net']}.1" in result["apply"]["msg"]
    settings = inside(h["name"], "cat", "/var/lib/kvmfleet/bridges/settings").stdout
    assert f"BACKEND={h['backend']}" in settings  # detected from what runs on the host
    assert not reaches(h["name"], f"{h['net']}.1")  # cut off, as the wrong address does

    # nobody calls the rollback: networkd's is a detached process, NetworkManager's its checkpoint
    assert kvmtest.wait_until(lambda: reaches(h["name"], f"{h['net']}.1"), 40)
    assert kvmtest.wait_until(lambda: "master" not in inside(h["name"], "ip", "link", "show", h["uplink"]).stdout, 10)
    assert f"{h['net']}.2/24" in inside(h["name"], "ip", "-br", "addr", "show", h["uplink"]).stdout
    before = "20-uplink.network" if h["backend"] == "systemd_networkd" else "uplink.nmconnection"
    assert kvmtest.wait_until(lambda: config_files(h) == [before], 10), config_files(h)
    assert inside(h["name"], "ip", "-br", "addr").stdout.count(f"{h['net']}.2/24") == 1  # on the uplink only


def test_correct_change_stays_and_reruns_unchanged(chost: dict[str, Any]) -> None:
    h = chost
    bridge = f"kvt{h['tag']}b"
    good = bridge_vars(h, f"{h['net']}.2/24")
    checked = run_role(h, good, check=True)
    assert checked["apply"]["changed"] is True
    assert bridge not in inside(h["name"], "ip", "-br", "link").stdout

    applied = run_role(h, good)
    assert applied["apply"]["changed"] is True and applied["stats"]["failures"] == 0, applied["apply"]
    again = run_role(h, good)
    assert again["stats"]["changed"] == 0 and again["stats"]["failures"] == 0, again["apply"]

    time.sleep(26)  # past the rollback deadline: the confirmed change stays
    assert reaches(h["name"], f"{h['net']}.1")
    assert f"master {bridge}" in inside(h["name"], "ip", "link", "show", h["uplink"]).stdout
    assert f"{h['net']}.2/24" in inside(h["name"], "ip", "-br", "addr", "show", bridge).stdout
    assert "mtu 1400" in inside(h["name"], "ip", "link", "show", bridge).stdout
    assert "mtu 1400" in inside(h["name"], "ip", "link", "show", h["uplink"]).stdout
    assert inside(h["name"], "cat", f"/sys/class/net/{bridge}/bridge/stp_state").stdout.strip() != "0"
    if h["backend"] == "systemd_networkd":
        assert config_files(h) == [
            f"10-kvmfleet-port-{h['uplink']}.network",
            "20-uplink.network",
            f"60-kvmfleet-{bridge}.netdev",
            f"60-kvmfleet-{bridge}.network",
        ]
    else:
        assert config_files(h) == [
            f"kvmfleet-bridge-{bridge}.nmconnection",
            f"kvmfleet-port-{h['uplink']}.nmconnection",
            "uplink.nmconnection",
        ]
        active = inside(h["name"], "nmcli", "-t", "-f", "NAME,DEVICE", "connection", "show", "--active").stdout
        assert f"kvmfleet-port-{h['uplink']}:{h['uplink']}" in active and f"kvmfleet-bridge-{bridge}:{bridge}" in active


def test_dhcp_on_the_bridge(chost: dict[str, Any], tmp_path: Path) -> None:
    """The bridge takes its address from a DHCP server (dnsmasq of the test's own in the gateway
    namespace); networkd and NetworkManager bring their own DHCP clients."""
    h = chost
    bridge = f"kvt{h['tag']}b"
    dnsmasq = subprocess.Popen(
        [
            "ip", "netns", "exec", f"kvt{h['tag']}g", "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
            "--port=0", f"--interface=kvt{h['tag']}w", "--bind-interfaces",
            f"--dhcp-range={h['net']}.100,{h['net']}.150,1h", f"--dhcp-leasefile={tmp_path}/leases",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        dhcp = bridge_vars(h, "unused/24")
        dhcp["bridges_list"] = [{"name": bridge, "ports": [h["uplink"]], "dhcp": True}]
        dhcp["bridges_check_timeout"] = 20  # a lease takes a few seconds
        applied = run_role(h, dhcp)
        assert applied["apply"]["changed"] is True and applied["stats"]["failures"] == 0, applied["apply"]
        addresses = inside(h["name"], "ip", "-4", "-br", "addr", "show", bridge).stdout
        assert f"{h['net']}.1" in addresses  # 198.18.x.100-150, from our dnsmasq
        lease = (tmp_path / "leases").read_text()
        assert addresses.split()[2].split("/")[0] in lease
        assert reaches(h["name"], f"{h['net']}.1")
        again = run_role(h, dhcp)
        assert again["stats"]["changed"] == 0 and again["stats"]["failures"] == 0
    finally:
        dnsmasq.terminate()
        dnsmasq.wait(timeout=10)
