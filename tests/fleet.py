"""A fleet of hypervisors for the tests, the molecule fleet scenario and the benchmarks.

Three (or more) privileged podman containers with systemd as PID 1, from the image that
scripts/images/build-hypervisor-container.sh builds (the host role's Debian 12 packages baked in, and
sshd), on a podman network of their own. Each is reached over SSH like a real hypervisor, and the
collection's own playbooks/hypervisors.yml makes it a hypervisor: the host role (libvirt over TCP
without authentication - test hosts only -, a host UUID of its own, the migration address) and the
storage role (a pool ``shared`` on a directory every hypervisor mounts at the same path, and a pool
``local`` of its own).

    python tests/fleet.py up [N]     # start (or reuse) the fleet, print its inventory path
    python tests/fleet.py down       # remove the containers and the network

Nothing here is a mock: real containers, real libvirtd, real QEMU (TCG) guests.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import kvmtest  # the tests directory, as in conftest.py

sys.path.insert(0, str(kvmtest.COLLECTIONS))

from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor import record

PREFIX = "kvt-fleet-"
NETWORK = f"{PREFIX}net"
IMAGE = "localhost/kvmfleet-hypervisor:latest"
BUILD = kvmtest.ROOT / "scripts/images/build-hypervisor-container.sh"
STATE = kvmtest.CACHE / "fleet"
SHARED_IN_HOSTS = "/var/lib/kvmfleet-shared"  # the same path on every hypervisor
SSH_OPTIONS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5"


@dataclass
class Hypervisor:
    name: str
    address: str

    @property
    def uri(self) -> str:
        """libvirt over TCP, as the controller and the other hypervisors reach it."""
        return f"qemu+tcp://{self.address}/system"


@dataclass
class Fleet:
    hosts: list[Hypervisor]
    inventory: Path
    shared: Path  # the shared directory, as this machine sees it
    key: Path

    def host(self, name: str) -> Hypervisor:
        return next(host for host in self.hosts if host.name == name)

    def ssh(self, host: Hypervisor, command: str) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on ``host`` as root over SSH."""
        return subprocess.run(
            ["ssh", *SSH_OPTIONS.split(), "-i", str(self.key), f"root@{host.address}", command],
            capture_output=True,
            text=True,
            check=False,
        )


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _subnet() -> ipaddress.IPv4Network:
    """The fleet network's subnet: the existing one, or a free /24 in 10.89.0.0/16."""
    found = _podman("network", "inspect", NETWORK, check=False)
    if found.returncode == 0:
        return ipaddress.ip_network(json.loads(found.stdout)[0]["subnets"][0]["subnet"])
    routes = kvmtest.run_cmd(["ip", "-4", "route", "show", "table", "all"])
    taken = [
        ipaddress.ip_network(word, strict=False)
        for line in routes.splitlines()
        for word in line.split()[:1]
        if "/" in word
    ]
    for third in range(100, 250):
        subnet = ipaddress.ip_network(f"10.89.{third}.0/24")
        if not any(subnet.overlaps(other) for other in taken):
            _podman("network", "create", "--subnet", str(subnet), NETWORK)
            return subnet
    raise AssertionError("no free /24 in 10.89.0.0/16 for the fleet's network")


def _inventory(fleet_hosts: list[Hypervisor], key: Path) -> dict[str, Any]:
    return {
        "hypervisors": {
            "hosts": {host.name: {"ansible_host": host.address, "hypervisor_uri": host.uri} for host in fleet_hosts},
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key),
                "ansible_ssh_common_args": SSH_OPTIONS,
                "ansible_ssh_pipelining": True,
                "ansible_python_interpreter": "/usr/bin/python3",
                # containers on one machine: no VT-x, and one SMBIOS UUID and machine-id for all of them
                "host_allow_emulation": True,
                "host_libvirtd_settings": {
                    "listen_tcp": True,
                    "auth_tcp": "none",  # test hosts only
                    "host_uuid": "{{ inventory_hostname | to_uuid }}",
                },
                "host_qemu_settings": {"migration_host": "{{ ansible_host }}"},
                "storage_pools": [
                    {"name": "shared", "type": "dir", "target": SHARED_IN_HOSTS, "autostart": True},
                    {"name": "local", "type": "dir", "target": "/var/lib/libvirt/images/local", "autostart": True},
                ],
            },
        }
    }


def _running(name: str) -> bool:
    proc = _podman("inspect", "-f", "{{.State.Running}}", name, check=False)
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def up(size: int = 3) -> Fleet:
    """Start the fleet (reusing containers that run already) and make each container a hypervisor (every time)."""
    STATE.mkdir(parents=True, exist_ok=True)
    key = STATE / "id_ed25519"
    if not key.exists():
        kvmtest.run_cmd(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    shared = STATE / "shared"
    shared.mkdir(exist_ok=True)
    for part in ("vmlinuz", "initrd.img"):  # the tiny guest, where every hypervisor finds it
        target = shared / f"tiny-{part}"
        source = kvmtest.TINY_IMAGE / part
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, target)
    if _podman("image", "exists", IMAGE, check=False).returncode != 0:
        kvmtest.run_cmd(["bash", str(BUILD)])
    subnet = _subnet()
    hosts = [Hypervisor(f"{PREFIX}hv{index}", str(subnet.network_address + 10 + index)) for index in range(1, size + 1)]
    fresh = []
    for host in hosts:
        if _running(host.name):
            continue
        _podman("rm", "-f", "-t", "0", host.name, check=False)
        _podman(
            "run",
            "-d",
            "--name",
            host.name,
            "--hostname",
            host.name,
            "--network",
            NETWORK,
            "--ip",
            host.address,
            "--mac-address",  # as a real host's, the same after a restart (neighbour caches stay right)
            "02:00:" + ":".join(f"{int(part):02x}" for part in host.address.split(".")),
            "--privileged",
            "--systemd=always",
            "-v",
            f"{shared}:{SHARED_IN_HOSTS}",
            IMAGE,
            "/sbin/init",
        )
        fresh.append(host)
    public = key.with_suffix(".pub").read_text()
    for host in fresh:
        subprocess.run(
            [
                "podman",
                "exec",
                "-i",
                host.name,
                "sh",
                "-c",
                "mkdir -p -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys",
            ],
            input=public,
            text=True,
            check=True,
            capture_output=True,
        )
    inventory = STATE / "inventory.json"
    inventory.write_text(json.dumps(_inventory(hosts, key), indent=2))
    fleet = Fleet(hosts, inventory, shared, key)
    for host in fresh:
        if not kvmtest.wait_until(lambda host=host: fleet.ssh(host, "true").returncode == 0, 60):
            raise AssertionError(
                f"{host.name} ({host.address}) does not answer over SSH: {fleet.ssh(host, 'true').stderr}"
            )
    # always (it is idempotent): a fleet whose first setup was interrupted converges on the next `up`
    proc = subprocess.run(
        [
            str(kvmtest.VENV_BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            str(kvmtest.ROOT / "playbooks/hypervisors.yml"),
        ],
        capture_output=True,
        text=True,
        env=kvmtest.ansible_env(),
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"hypervisors.yml on the fleet failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")
    return fleet


def clean(conns: dict[str, Any], prefix: str) -> None:
    """Remove every guest and volume named with ``prefix`` from each hypervisor, and lift every maintenance mark."""
    for conn in conns.values():
        kvmtest.remove_prefixed(conn, prefix)
        stored, _found = record.read(conn)
        if stored.maintenance is not None:
            stored.maintenance = None
            record.write(conn, stored)


def down() -> None:
    """Remove the fleet's containers and network (the shared directory and the key stay in the cache)."""
    names = _podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
    for name in names:
        if name.startswith(PREFIX):
            _podman("rm", "-f", "-t", "0", name, check=False)
    _podman("network", "rm", "-f", NETWORK, check=False)


def main(argv: list[str]) -> int:
    if argv[:1] == ["up"]:
        fleet = up(int(argv[1]) if len(argv) > 1 else 3)
        print(fleet.inventory)
        return 0
    if argv[:1] == ["down"]:
        down()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
