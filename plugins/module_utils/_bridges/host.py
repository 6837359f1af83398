# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the host has: its interfaces and addresses, its network stack, the collection's installed files,
and a rollback an earlier apply armed that has not fired yet. Reads only."""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import subprocess
import time
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._bridges.options import ipv4
from ansible_collections.kvmfleet.kvm.plugins.module_utils._bridges.render import (
    ETC,
    MAIN,
    NETD,
    NMDIR,
    interfaces,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._host import boot_id

NM_BUS = ["org.freedesktop.NetworkManager", "/org/freedesktop/NetworkManager", "org.freedesktop.NetworkManager"]


def _ip_json(*args: str) -> list[dict[str, Any]]:
    try:
        proc = subprocess.run(["ip", "-json", *args], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        raise KvmFleetError(f"ip -json {' '.join(args)}: {exc} (the iproute2 package provides ip)") from exc
    if proc.returncode != 0:
        raise KvmFleetError(f"ip -json {' '.join(args)} failed: {proc.stderr.strip()}")
    return list(json.loads(proc.stdout or "[]"))


class Links:
    """The host's interfaces as ``ip -json -details`` shows them, read once."""

    def __init__(self) -> None:
        self.links = {link["ifname"]: link for link in _ip_json("-details", "link", "show")}
        self.addresses = {
            link["ifname"]: {
                str(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}"))
                for a in link.get("addr_info", [])
                if "local" in a
            }
            for link in _ip_json("addr", "show")
        }

    def kinds(self) -> dict[str, str]:
        """Interface name -> its kind (``bridge``, ``veth``, ``vlan``...; ``""`` for a NIC)."""
        return {name: link.get("linkinfo", {}).get("info_kind", "") for name, link in self.links.items()}

    def drift(self, values: dict[str, Any], backend: str) -> list[str]:
        """What runs differs from the configuration: an interface missing or down, a port out of its
        bridge, a static IPv4 address not on its bridge."""
        out: list[str] = []
        for name in interfaces(values, backend):
            link = self.links.get(name)
            if link is None:
                out.append(f"{name}: no such interface")
            elif "UP" not in link.get("flags", []):
                out.append(f"{name}: down")
        for bridge in values["bridges"]:
            for port in bridge["ports"]:
                master = self.links.get(port, {}).get("master")
                if master != bridge["name"]:
                    out.append(f"{port}: not a port of {bridge['name']} (master: {master or 'none'})")
            for address in ipv4(bridge):
                if str(ipaddress.ip_interface(address)) not in self.addresses.get(bridge["name"], set()):
                    out.append(f"{bridge['name']}: no address {address}")
        return out


def detect_backend() -> str:
    """NetworkManager when it runs, then systemd-networkd when it runs, else ifupdown."""
    if os.path.exists("/run/NetworkManager"):
        return "networkmanager"
    if os.path.exists("/run/systemd/netif/state"):
        return "systemd_networkd"
    return "ifupdown"


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return handle.read()


def read_dir(path: str) -> dict[str, str]:
    """The files of a directory by name (a state directory's backup); empty when it does not exist."""
    if not os.path.isdir(path):
        return {}
    return {name: _read(os.path.join(path, name)) for name in sorted(os.listdir(path))}


def main_interfaces() -> Optional[str]:
    """The text of /etc/network/interfaces, or None when the host has none."""
    return _read(MAIN) if os.path.isfile(MAIN) else None


def installed(backend: str) -> dict[str, str]:
    """The collection's files the backend has installed now, by name."""
    if backend == "ifupdown":
        paths = [f"{ETC}/interfaces.d/kvmfleet-bridges", MAIN]
        names = {MAIN: "interfaces"}
    else:
        paths = sorted(
            glob.glob(f"{NETD}/*-kvmfleet-*" if backend == "systemd_networkd" else f"{NMDIR}/kvmfleet-*.nmconnection")
        )
        names = {}
    return {names.get(path, os.path.basename(path)): _read(path) for path in paths if os.path.isfile(path)}


def _at(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class Armed:
    """The rollback an earlier apply armed (``STATE_DIR/armed``), as the agent recorded it."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        path = os.path.join(state_dir, "armed")
        text = _read(path) if os.path.isfile(path) else ""
        self.fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    @property
    def armed_at(self) -> str:
        return _at(int(self.fields.get("ARMED_AT") or 0))

    @property
    def deadline(self) -> int:
        return int(self.fields.get("DEADLINE") or 0)

    def pending(self) -> bool:
        """Whether the rollback still waits to fire (or is firing), in this boot."""
        if not self.fields or self.fields.get("BOOT_ID") != boot_id():
            return False  # none, or a reboot ended it (its pid may be another process's now)
        if self.fields.get("ARMED_BACKEND") == "networkmanager":
            proc = subprocess.run(
                ["busctl", "get-property", *NM_BUS, "Checkpoints"], capture_output=True, text=True, check=False
            )
            return proc.returncode == 0 and f'"{self.fields.get("CHECKPOINT", "")}"' in proc.stdout
        try:
            pid = int(_read(os.path.join(self.state_dir, "rollback.pid")).strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return False
        return True

    def note(self) -> str:
        return (
            f"a rollback armed at {self.armed_at} is pending; it restores the previous configuration at "
            f"{_at(self.deadline)}, and an apply waits for it"
        )

    def wait(self, log: list[str]) -> None:
        """Wait until the pending rollback has restored the previous configuration (at most a minute past
        its deadline)."""
        log.append(
            f"a rollback armed at {self.armed_at} is pending: waiting until it restores the previous "
            f"configuration at {_at(self.deadline)}"
        )
        while self.pending():
            if time.time() > self.deadline + 60:
                raise KvmFleetError(
                    f"the rollback armed at {self.armed_at} should have restored the previous configuration at "
                    f"{_at(self.deadline)} and is still pending; nothing was changed "
                    f"(log: {self.state_dir}/rollback.log)",
                    output=log,
                )
            time.sleep(1)
