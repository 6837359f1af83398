"""End to end with the full cloud image (Debian 12, cloud-init, qemu-guest-agent, sshd): playbooks/guests.yml
creates a guest through the guests role, waits for its DHCP lease and SSH, asks its guest agent (also through
guest_info and the inventory plugin), and then Ansible logs in over SSH and configures it; then Ansible runs
tasks in the same guest through the guest agent alone (the connection plugin kvmfleet.kvm.guest_agent). The
guest boots once for the module (minutes under TCG): its tests are marked slow. Guests without an agent (tiny
ones, seconds) give the connection's errors."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import string
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import kvmtest
import pytest
import yaml

CLOUD_IMAGE = kvmtest.CACHE / "images" / "cloud"
USER = "kvmfleet"  # the cloud-init user playbooks/guests.yml makes (NOPASSWD sudo, the SSH key)


@pytest.fixture(scope="session")
def cloud_image() -> Path:
    """The cloud image (scripts/images/build-cloud.sh; setup builds it, this builds it where setup did not)."""
    if not (CLOUD_IMAGE / ".complete").exists():
        subprocess.run(["bash", str(kvmtest.ROOT / "scripts/images/build-cloud.sh")], check=True, capture_output=True)
    assert (CLOUD_IMAGE / "disk.qcow2").stat().st_size > 100_000_000
    return CLOUD_IMAGE.resolve()


@dataclass
class CloudGuest:
    """The module's booted cloud guest, as playbooks/guests.yml left it."""

    name: str
    ssh_key: Path
    data: dict[str, Any]  # the playbook's result (ansible.posix.json)

    @property
    def address(self) -> str:
        (provisioned,) = hosts_of(self.data, 0, "Converge all guests in one module call")["localhost"]["guests"]
        return provisioned["address"]

    def ssh(self, command: str) -> str:
        """``command`` run in the guest over SSH as the cloud-init user: the check that does not go through
        the guest agent."""
        return kvmtest.run_cmd(
            [
                "ssh",
                "-i",
                str(self.ssh_key),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                f"{USER}@{self.address}",
                command,
            ]
        )


@pytest.fixture(scope="module")
def cloud_guest(
    conn: Any,
    cloud_image: Path,
    test_pool: dict[str, str],
    test_network: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CloudGuest]:
    """One cloud guest for the module's tests, provisioned and configured over SSH by playbooks/guests.yml;
    removed (with everything under its prefix) after the module."""
    prefix = kvmtest.random_prefix()
    tmp = tmp_path_factory.mktemp("cloud")
    key = tmp / "id_ed25519"
    kvmtest.run_cmd(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kvmfleet-e2e", "-f", str(key)])
    name = f"{prefix}cloud"
    # base images are volumes: the image directory as a transient pool of the test's own
    images = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>kvt-img-{prefix[4:-1]}</name><target><path>{cloud_image}</path></target></pool>", 0
    )
    try:
        try:
            data = provision(name, cloud_image, test_pool, test_network, key)
        finally:
            images.destroy()
        yield CloudGuest(name, key, data)
    finally:
        kvmtest.remove_prefixed(conn, prefix)


def hosts_of(data: dict[str, Any], play: int, task: str) -> dict[str, Any]:
    for item in data["plays"][play]["tasks"]:
        if item["task"]["name"].split(" : ")[-1] == task:  # role tasks are named "role : task"
            return item["hosts"]
    raise AssertionError(f"no task {task!r} in play {play}")


def provision(
    name: str, cloud_image: Path, test_pool: dict[str, str], test_network: dict[str, str], ssh_key: Path
) -> dict[str, Any]:
    """Runs playbooks/guests.yml for the guest ``name``; its result."""
    extra = {
        "fleet_image": str(cloud_image),
        "fleet_pool": test_pool["name"],
        "fleet_network": test_network["name"],
        "fleet_guests": [{"name": name, "console": {"log": str(ssh_key.parent / "serial.log")}}],
        "fleet_user": USER,
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
    return data


@pytest.mark.slow
def test_cloud_guest_provisioned_waited_for_and_configured_over_ssh(
    cloud_guest: CloudGuest, test_network: dict[str, str]
) -> None:
    name, data = cloud_guest.name, cloud_guest.data
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
    check_agent_path_of_guest_info_and_inventory(name, provisioned["address"], cloud_guest.ssh_key.parent)

    # Ansible reached the guest over SSH at that address and ran tasks in it
    os_release = hosts_of(data, 1, "Read the guest's operating system")[name]
    assert os_release["stdout"].startswith("12.")
    written = hosts_of(data, 1, "Write a file as root")[name]
    assert written["changed"] is True and written["dest"] == "/etc/kvmfleet-configured"
    check = cloud_guest.ssh("cat /etc/kvmfleet-configured; stat -c %U /etc/kvmfleet-configured")
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


# ---------------------------------------------------------------------------------------------- the guest agent

BECOME_PASSWORD = "Agent-T3st-pw"  # pwuser's: sudo asks for it
# its crypt(3) hash, which goes into the guest: openssl passwd -6 -salt kvmfleet Agent-T3st-pw
BECOME_PASSWORD_HASH = (
    "$6$kvmfleet$4.UxOXgbFSynRGAYSQg0ECoR1FZslgtIQWTgHth9bSSwdOBbNsWVqajaNAFPrHNAHnzDed0RnsKYPSAFXalbi0"
)
WRONG_PASSWORD = "Wr0ng-T3st-pw"

# Tasks run in the guest through kvmfleet.kvm.guest_agent (the inventory's compose picks it). The last ones
# simulate an agent that is not root: its commands go through sudo to pwuser first, whose own sudo asks for
# a password (the passwords come as extra variables; only the hash is in the play).
AGENT_PLAY = string.Template("""
- name: Through the guest agent
  hosts: $name
  gather_facts: false
  vars:
    ansible_python_interpreter: /usr/bin/python3
  tasks:
    - {name: facts, ansible.builtin.setup: {gather_subset: [min]}}
    - {name: copy, ansible.builtin.copy: {src: "$blob", dest: /var/tmp/kvmfleet-blob, mode: "0644"}}
    - {name: fetch, ansible.builtin.fetch: {src: /var/tmp/kvmfleet-blob, dest: "$back", flat: true}}
    - name: fails
      ansible.builtin.command: sh -c 'echo out; echo err >&2; exit 3'
      ignore_errors: true
    - {name: become, ansible.builtin.command: id -un, become: true, become_user: $user}
    - name: become copy
      ansible.builtin.copy: {content: "through the agent\\n", dest: /home/$user/agent-note, mode: "0640"}
      become: true
      become_user: $user
    - name: pipelined
      ansible.builtin.command: id -un
      become: true
      become_user: $user
      vars: {ansible_pipelining: true}
    - {name: large output, ansible.builtin.command: seq 1 600000}
    - name: password user
      ansible.builtin.raw: >-
        id pwuser >/dev/null 2>&1 || useradd -m -s /bin/sh pwuser;
        echo 'pwuser:$pwhash' | chpasswd -e &&
        echo 'pwuser ALL=(ALL) ALL' >/etc/sudoers.d/pwuser && chmod 0440 /etc/sudoers.d/pwuser
    - name: answered
      ansible.builtin.raw: id -un
      become: true
      vars:
        ansible_guest_agent_user: pwuser
        ansible_become_exe: sudo -u pwuser sudo
        ansible_become_password: "{{ become_pw }}"
    - name: refused
      ansible.builtin.raw: id -un
      become: true
      ignore_errors: true
      vars:
        ansible_guest_agent_user: pwuser
        ansible_become_exe: sudo -u pwuser sudo
        ansible_become_password: "{{ wrong_pw }}"
""")


@pytest.mark.slow
def test_tasks_run_in_the_guest_through_its_guest_agent(cloud_guest: CloudGuest, tmp_path: Path) -> None:
    """The inventory plugin's documented compose sends the guest's tasks through kvmfleet.kvm.guest_agent;
    its ansible_host is an address nothing answers at, so nothing can go over the network. What the tasks
    did is checked over SSH."""
    name = cloud_guest.name
    inventory = tmp_path / "agent.libvirt.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "plugin": "kvmfleet.kvm.libvirt",
                "uris": [kvmtest.SYSTEM_URI],
                "compose": {
                    "ansible_connection": "'kvmfleet.kvm.guest_agent' if libvirt_guest_agent else 'ssh'",
                    "ansible_host": "'192.0.2.1'",  # TEST-NET-1: never reached
                },
            }
        )
    )
    blob, back = tmp_path / "blob", tmp_path / "back"
    blob.write_bytes(os.urandom(20 * 1024 * 1024))
    playbook = tmp_path / "agent.yml"
    playbook.write_text(AGENT_PLAY.substitute(name=name, user=USER, blob=blob, back=back, pwhash=BECOME_PASSWORD_HASH))
    env = kvmtest.ansible_env(
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_VERBOSE_TO_STDERR="1", ANSIBLE_FORCE_COLOR="0"
    )
    proc = run_agent_play(inventory, playbook, name, env)
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}") from exc

    def result(task: str) -> dict[str, Any]:
        return hosts_of(data, 0, task)[name]

    assert data["stats"][name]["unreachable"] == 0, proc.stderr[-5000:]

    # setup: the guest's own facts, as root, and not over SSH
    facts = result("facts")["ansible_facts"]
    assert facts["ansible_distribution"] == "Debian" and facts["ansible_user_id"] == "root"
    assert facts["ansible_hostname"] == cloud_guest.ssh("hostname").strip()
    assert "SSH_CONNECTION" not in facts["ansible_env"]

    # 20 MiB in and back out, the same bytes on both ends
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    assert result("copy")["changed"] is True and result("fetch")["changed"] is True
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest
    in_guest = cloud_guest.ssh("sha256sum /var/tmp/kvmfleet-blob; stat -c '%U %a %s' /var/tmp/kvmfleet-blob").split(
        "\n"
    )
    assert in_guest[0].split()[0] == digest
    assert in_guest[1] == f"root 644 {20 * 1024 * 1024}"

    # a command that fails: its exit code and both outputs
    failed = result("fails")
    assert failed["failed"] is True and failed["rc"] == 3
    assert (failed["stdout"], failed["stderr"]) == ("out", "err")

    # become: NOPASSWD sudo to another user, with and without pipelining
    assert result("become")["stdout"] == USER and result("pipelined")["stdout"] == USER
    assert cloud_guest.ssh("stat -c '%U %a' ~/agent-note; cat ~/agent-note").split("\n")[:2] == [
        f"{USER} 640",
        "through the agent",
    ]

    # an output one agent answer could not carry through libvirt (3.9 MiB, 5.2 MiB in base64; 4 MiB pass) arrives whole
    lines = result("large output")["stdout_lines"]
    assert len(lines) == 600000 and lines[-1] == "600000"

    # a sudo that asks for a password: answered, or refused with a message that says so
    assert result("answered")["stdout"].strip() == "root"
    refused = result("refused")
    assert refused["failed"] is True and "Incorrect sudo password" in refused["msg"], refused
    assert name in refused["msg"]

    # nothing of the connection is left in the guest, and no password in any output (-vvvvv)
    left = cloud_guest.ssh("ls -a /tmp /var/tmp")
    assert "kvmfleet-ga" not in left and ".kvmfleet-blob" not in left, left
    everything = proc.stdout + proc.stderr
    for secret in (BECOME_PASSWORD, WRONG_PASSWORD):
        assert secret not in everything
        assert base64.b64encode(f"{secret}\n".encode()).decode()[:12] not in everything
    assert "guest-exec" in proc.stderr  # the agent's requests were logged, without their contents


def run_agent_play(inventory: Path, playbook: Path, name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """ansible-playbook at -vvvvv (the agent's requests logged) with the passwords as extra variables."""
    extra = {"become_pw": BECOME_PASSWORD, "wrong_pw": WRONG_PASSWORD}
    return subprocess.run(
        [
            str(kvmtest.VENV_BIN / "ansible-playbook"),
            "-vvvvv",
            "-i",
            str(inventory),
            "--limit",
            name,
            "-e",
            json.dumps(extra),
            str(playbook),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=1800,
    )


def test_guests_without_a_working_agent_are_unreachable_saying_why(
    play: Callable[..., kvmtest.PlayResult], prefix: str, tiny_image: Path, tmp_path: Path
) -> None:
    """Tiny guests (no agent in them; they boot in seconds): the agent's channel but no agent, no channel, not
    running, not there. Each host is unreachable with a message that names the guest and what to do."""
    names = {kind: f"{prefix}{kind}" for kind in ("noagent", "nochannel", "stopped", "missing")}
    cmdline = "console=ttyS0 panic=-1 quiet kvmfleet.nonet"
    guests = [
        kvmtest.tiny_guest(names["noagent"], tiny_image, tmp_path / "a.log", cmdline=cmdline, state="running"),
        kvmtest.tiny_guest(
            names["nochannel"], tiny_image, tmp_path / "n.log", cmdline=cmdline, guest_agent=False, state="running"
        ),
        kvmtest.tiny_guest(names["stopped"], tiny_image, tmp_path / "s.log", state="stopped"),
    ]
    made = play([{"name": "guests", "kvmfleet.kvm.guests": {"guests": guests}}]).result("guests")
    assert not made.get("failed"), made.get("msg")

    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {"ansible_connection": "kvmfleet.kvm.guest_agent", "libvirt_uri": kvmtest.SYSTEM_URI},
                    "hosts": {name: {} for name in names.values()},
                }
            }
        )
    )
    playbook = tmp_path / "ping.yml"
    playbook.write_text(
        json.dumps([{"hosts": "all", "gather_facts": False, "tasks": [{"name": "ping", "ansible.builtin.ping": {}}]}])
    )
    run = kvmtest.ansible_playbook(playbook, inventory)
    results = run.results("ping")
    where = f"at {kvmtest.SYSTEM_URI}"
    expected = {
        "noagent": [f"the QEMU guest agent of guest {names['noagent']} {where} is not connected", "qemu-guest-agent"],
        "nochannel": [f"guest {names['nochannel']} {where} has no QEMU guest agent channel", "guest_agent: true"],
        "stopped": [f"guest {names['stopped']} {where} is not running", "state: running"],
        "missing": [f"there is no guest {names['missing']} {where}"],
    }
    for kind, words in expected.items():
        outcome = results[names[kind]]
        assert outcome.get("unreachable") is True, outcome
        for word in words:
            assert word in outcome["msg"], outcome["msg"]
