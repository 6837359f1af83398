"""End to end with the full cloud image (Debian 12, cloud-init, qemu-guest-agent, sshd): playbooks/guests.yml
creates a guest through the guests role, waits for its DHCP lease and SSH, asks its guest agent (also through
guest_info and the inventory plugin), and then Ansible logs in over SSH and configures it. Minutes under TCG:
one test, marked slow."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kvmtest
import pytest
import yaml

CLOUD_IMAGE = kvmtest.CACHE / "images" / "cloud"


@pytest.fixture(scope="session")
def cloud_image() -> Path:
    """The cloud image (scripts/images/build-cloud.sh; setup builds it, this builds it where setup did not)."""
    if not (CLOUD_IMAGE / ".complete").exists():
        subprocess.run(["bash", str(kvmtest.ROOT / "scripts/images/build-cloud.sh")], check=True, capture_output=True)
    assert (CLOUD_IMAGE / "disk.qcow2").stat().st_size > 100_000_000
    return CLOUD_IMAGE.resolve()


@pytest.fixture
def ssh_key(tmp_path: Path) -> Path:
    key = tmp_path / "id_ed25519"
    kvmtest.run_cmd(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kvmfleet-e2e", "-f", str(key)])
    return key


def hosts_of(data: dict[str, Any], play: int, task: str) -> dict[str, Any]:
    for item in data["plays"][play]["tasks"]:
        if item["task"]["name"].split(" : ")[-1] == task:  # role tasks are named "role : task"
            return item["hosts"]
    raise AssertionError(f"no task {task!r} in play {play}")


@pytest.mark.slow
def test_cloud_guest_provisioned_waited_for_and_configured_over_ssh(
    conn: Any,
    prefix: str,
    cloud_image: Path,
    test_pool: dict[str, str],
    test_network: dict[str, str],
    ssh_key: Path,
) -> None:
    name = f"{prefix}cloud"
    # base images are volumes: the image directory as a transient pool of the test's own
    images = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>kvt-img-{prefix[4:-1]}</name><target><path>{cloud_image}</path></target></pool>", 0
    )
    try:
        run_playbook_and_check(name, cloud_image, test_pool, test_network, ssh_key)
    finally:
        images.destroy()


def run_playbook_and_check(
    name: str, cloud_image: Path, test_pool: dict[str, str], test_network: dict[str, str], ssh_key: Path
) -> None:
    extra = {
        "fleet_image": str(cloud_image),
        "fleet_pool": test_pool["name"],
        "fleet_network": test_network["name"],
        "fleet_guests": [{"name": name, "console": {"log": str(ssh_key.parent / "serial.log")}}],
        "fleet_user": "kvmfleet",
        "fleet_ssh_public_key": f"{ssh_key}.pub",
        "fleet_wait_timeout": 900,
    }
    env = kvmtest.ansible_env(
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_PRIVATE_KEY_FILE=str(ssh_key),
        ANSIBLE_HOST_KEY_CHECKING="false",
        ANSIBLE_SSH_ARGS="-o UserKnownHostsFile=/dev/null -o ControlMaster=auto -o ControlPersist=60s",
    )
    proc = subprocess.run(
        [
            str(kvmtest.VENV_BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-e",
            json.dumps(extra),
            str(kvmtest.ROOT / "playbooks/guests.yml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=1800,
    )
    serial = (
        (ssh_key.parent / "serial.log").read_text(errors="replace") if (ssh_key.parent / "serial.log").exists() else ""
    )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}\n{serial[-3000:]}") from exc
    assert proc.returncode == 0, json.dumps(data["stats"]) + "\n" + proc.stdout[-6000:] + serial[-3000:]

    # the lease the role waited for is the address the host's DHCP server handed out...
    (provisioned,) = hosts_of(data, 0, "Converge all guests in one module call")["localhost"]["guests"]
    mac = kvmtest.virsh("domiflist", name).split()[4]
    assert provisioned["address"] == kvmtest.dhcp_leases(test_network["name"])[mac]
    assert provisioned["addresses"][0]["source"] == "lease"
    # ...and the one the guest agent reports from inside the guest (virsh asks the agent itself, too)
    (agent,) = hosts_of(data, 0, "Ask the guest agents for the same addresses, from inside the guests")["localhost"][
        "guests"
    ]
    assert agent["address"] == provisioned["address"]
    assert {item["source"] for item in agent["addresses"]} == {"agent"}
    assert provisioned["address"] in kvmtest.virsh("domifaddr", "--source", "agent", name)
    check_agent_path_of_guest_info_and_inventory(name, provisioned["address"], ssh_key.parent)

    # Ansible reached the guest over SSH at that address and ran tasks in it
    os_release = hosts_of(data, 1, "Read the guest's operating system")[name]
    assert os_release["stdout"].startswith("12.")
    written = hosts_of(data, 1, "Write a file as root")[name]
    assert written["changed"] is True and written["dest"] == "/etc/kvmfleet-configured"
    check = kvmtest.run_cmd(
        [
            "ssh",
            "-i",
            str(ssh_key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            f"kvmfleet@{provisioned['address']}",
            "cat /etc/kvmfleet-configured; stat -c %U /etc/kvmfleet-configured",
        ]
    )
    assert check.split("\n")[:2] == ["configured by kvmfleet.kvm over SSH", "root"]


def check_agent_path_of_guest_info_and_inventory(name: str, address: str, tmp_path: Path) -> None:
    """guest_info and the inventory with the guest agent as the only source (their read-write connection)."""
    info = kvmtest.run_playbook(
        [{"name": "info", "kvmfleet.kvm.guest_info": {"name": [name], "address_sources": ["agent"]}}]
    ).result("info")
    assert not info.get("failed"), info.get("msg")
    (guest,) = info["guests"]
    assert guest["address"] == address
    assert {item["source"] for item in guest["addresses"]} == {"agent"}

    inventory = tmp_path / "agent.libvirt.yml"
    inventory.write_text(
        yaml.safe_dump({"plugin": "kvmfleet.kvm.libvirt", "uris": [kvmtest.SYSTEM_URI], "address_sources": ["agent"]})
    )
    proc = subprocess.run(
        [str(kvmtest.VENV_BIN / "ansible-inventory"), "-i", str(inventory), "--host", name],
        capture_output=True,
        text=True,
        env=kvmtest.ansible_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    hostvars = json.loads(proc.stdout)
    assert hostvars["ansible_host"] == address
    assert hostvars["libvirt_state"] == "running" and hostvars["libvirt_uri"] == kvmtest.SYSTEM_URI
    assert {item["source"] for item in hostvars["libvirt_addresses"]} == {"agent"}
    assert address in [item["address"] for item in hostvars["libvirt_addresses"]]
