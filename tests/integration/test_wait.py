"""wait: tiny guests take a DHCP lease on the session network; the guest modules wait for it (all at
once in the guests module), return it, and say what each source said when nothing comes."""

from __future__ import annotations

import json
import socket
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import kvmtest


def tiny(name: str, image: Path, network: str | None, log: Path, cmdline: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "memory": "128MiB",
        "kernel": str(image / "vmlinuz"),
        "initrd": str(image / "initrd.img"),
        "cmdline": f"console=ttyS0 panic=-1 quiet {cmdline}".strip(),
        "console": {"log": str(log)},
        "interfaces": [{"source": network}] if network else [],
        "state": "running",
        **extra,
    }


def mac_of(name: str) -> str:
    return ET.fromstring(kvmtest.virsh("dumpxml", name)).find("devices/interface/mac").get("address")


def console_address(log: Path) -> str:
    """The IPv4 address the tiny guest's console says it took (``ip=<address>/<prefix>``)."""
    line = kvmtest.wait_for_serial(log, "KVMFLEET-TINY-READY", timeout=60)
    return line.split("ip=", 1)[1].split("/", 1)[0]


def test_guest_waits_for_its_dhcp_lease(triad, prefix: str, tiny_image: Path, test_network, tmp_path: Path) -> None:
    name = f"{prefix}lease"
    options = tiny(name, tiny_image, test_network["name"], tmp_path / "serial.log", wait={"sources": ["lease"]})
    check, apply, _recheck, reapply = triad({"kvmfleet.kvm.guest": options})

    assert "address" not in check  # check mode predicts; it does not wait
    lease = kvmtest.dhcp_leases(test_network["name"])[mac_of(name)]
    assert apply["address"] == lease == reapply["address"]
    assert apply["addresses"] == [
        {
            "address": lease,
            "prefix": 24,
            "family": "ipv4",
            "mac": mac_of(name),
            "interface": apply["addresses"][0]["interface"],
            "source": "lease",
        }
    ]
    assert reapply["changed"] is False  # waiting is not a change
    # the guest's own console says the same address
    assert f"ip={lease}/" in kvmtest.wait_for_serial(tmp_path / "serial.log", "KVMFLEET-TINY-READY", timeout=10)


def test_guests_wait_for_every_guest_at_once(play, prefix: str, tiny_image: Path, test_network, tmp_path: Path) -> None:
    names = [f"{prefix}{index}" for index in range(3)]
    task = {
        "name": "batch",
        "kvmfleet.kvm.guests": {
            "defaults": {"wait": {"sources": ["lease", "arp"], "timeout": 300}},
            "guests": [tiny(name, tiny_image, test_network["name"], tmp_path / f"{name}.log") for name in names],
        },
    }
    outcome = play([task])
    result = outcome.result("batch")
    assert not result.get("failed"), result.get("msg")
    # a person watching sees what is waited for: one line for the stage (no terminal, no -v), on stderr
    # so the json callback's output stays JSON
    waiting = [line for line in outcome.stderr.splitlines() if "waiting for" in line]
    assert waiting == [f"localhost: waiting for {', '.join(names)} (0 of 300 s)"], outcome.stderr[-2000:]
    found = [guest["address"] for guest in result["guests"]]
    # the guests' own word: each console prints the address its DHCP client took
    said = [console_address(tmp_path / f"{name}.log") for name in names]
    assert found == said, f"module: {found}, consoles: {said}; sources: {[g['addresses'] for g in result['guests']]}"
    assert len(set(found)) == 3
    macs = [mac_of(name) for name in names]
    by_mac = kvmtest.dhcp_leases(test_network["name"], expect=macs)
    assert [by_mac.get(mac) for mac in macs] == found, f"leases: {by_mac}"


def test_timeout_says_what_each_source_said(play, prefix: str, tiny_image: Path, test_network, tmp_path: Path) -> None:
    quiet, no_ssh = f"{prefix}quiet", f"{prefix}nossh"
    task = {
        "name": "wait",
        "kvmfleet.kvm.guests": {
            "guests": [
                # no DHCP client runs: no lease, no ARP entry; the tiny image has no guest agent
                tiny(
                    quiet,
                    tiny_image,
                    test_network["name"],
                    tmp_path / "quiet.log",
                    cmdline="kvmfleet.nonet",
                    wait={"timeout": 20},
                ),
                # a lease, but nothing listens on port 22
                tiny(
                    no_ssh,
                    tiny_image,
                    test_network["name"],
                    tmp_path / "nossh.log",
                    wait={"sources": ["lease"], "ssh": True, "timeout": 35},  # a lease comes in ~10 s
                ),
            ]
        },
    }
    result = play([task]).result("wait")
    assert result["failed"] is True
    msg = result["msg"]
    assert f"{quiet}: no address within 20 s (tried lease: no address; agent: " in msg
    # arp: this host's own neighbour table (libvirt 9.0's ARP reader fails here with "wrong nlmsg len")
    assert "agent: Guest agent is not responding: QEMU guest agent is not connected; arp: no address)" in msg, msg
    lease = kvmtest.dhcp_leases(test_network["name"])[mac_of(no_ssh)]
    assert f"{no_ssh}: no address answering on port 22 within 35 s (tried lease: {lease}; ssh: {lease}:22 " in msg
    assert "Connection refused" in msg
    assert sorted(result["failed_guests"]) == sorted([quiet, no_ssh])
    # both guests were still created and run: the task failed only on waiting
    assert [kvmtest.virsh("domstate", name).strip() for name in (quiet, no_ssh)] == ["running", "running"]


def test_arp_finds_a_guest_the_host_has_talked_to(
    play, prefix: str, tiny_image: Path, test_network, tmp_path: Path
) -> None:
    name = f"{prefix}arp"
    options = tiny(name, tiny_image, test_network["name"], tmp_path / "serial.log", wait={"sources": ["lease"]})
    up = play([{"name": "up", "kvmfleet.kvm.guest": options}]).result("up")
    assert not up.get("failed"), up.get("msg")
    lease = up["address"]
    assert lease == kvmtest.dhcp_leases(test_network["name"])[mac_of(name)]
    # a datagram to the guest makes the host resolve its MAC: the kernel's neighbour table now has it
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"kvmfleet", (lease, 9))

    arp_only = {**options, "wait": {"sources": ["arp"], "timeout": 60}}
    result = play(
        [
            {"name": "wait", "kvmfleet.kvm.guest": arp_only},
            {"name": "info", "kvmfleet.kvm.guest_info": {"name": [name], "address_sources": ["arp"]}},
        ]
    )
    waited, info = result.result("wait"), result.result("info")
    assert not waited.get("failed"), waited.get("msg")
    expected = {
        "address": lease,
        "prefix": None,
        "family": "ipv4",
        "mac": mac_of(name),
        "interface": test_network["bridge"],
        "source": "arp",
    }
    assert waited["address"] == lease and waited["addresses"] == [expected]
    (guest,) = info["guests"]
    assert guest["address"] == lease and guest["addresses"] == [expected]
    assert f"{lease} dev {test_network['bridge']} lladdr {mac_of(name)}" in kvmtest.run_cmd(
        ["ip", "neigh", "show", lease]
    )


def test_role_hands_every_hypervisors_guests_to_the_next_play(
    prefix: str, tiny_image: Path, test_network, tmp_path: Path
) -> None:
    # two inventory hosts as two hypervisors (both local), each converging a guest of its own in one play:
    # add_host runs once per play, so the role must hand over the guests of both, each with its hypervisor
    names = {"hv-a": f"{prefix}a-handed", "hv-b": f"{prefix}b-handed"}
    inventory = {
        "hypervisors": {
            "hosts": {
                host: {
                    "ansible_connection": "local",
                    "own_guests": [tiny(name, tiny_image, test_network["name"], tmp_path / f"{host}.log")],
                }
                for host, name in names.items()
            }
        }
    }
    playbook = [
        {
            "name": "provision",
            "hosts": "hypervisors",
            "gather_facts": False,
            "roles": [
                {
                    "role": "kvmfleet.kvm.guests",
                    "vars": {
                        "guests_list": "{{ own_guests }}",
                        "guests_defaults": {"wait": {"sources": ["lease"]}},
                        "guests_add_hosts": True,
                        "guests_add_hosts_groups": ["fresh"],
                    },
                }
            ],
        },
        {
            "name": "configure",
            "hosts": "fresh",
            "connection": "local",  # the tiny guest has no SSH: this play only shows what it was handed
            "gather_facts": False,
            "tasks": [
                {"name": "handed", "ansible.builtin.debug": {"msg": "{{ ansible_host }} {{ guests_hypervisor }}"}}
            ],
        },
    ]
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(json.dumps(playbook))
    proc = subprocess.run(
        [str(kvmtest.VENV_BIN / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
        capture_output=True,
        text=True,
        env=kvmtest.ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"),
        check=False,
    )
    data = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:]
    handed = data["plays"][1]["tasks"][0]["hosts"]
    leases = kvmtest.dhcp_leases(test_network["name"])
    assert {guest: result["msg"] for guest, result in handed.items()} == {
        name: f"{leases[mac_of(name)]} {host}" for host, name in names.items()
    }
