"""The test ground itself: the tiny guest boots on the real libvirtd and gets a DHCP lease."""

from __future__ import annotations

import ipaddress
import re
import time
from pathlib import Path
from typing import Any

import kvmtest
import libvirt


def test_tiny_guest_boots_and_gets_a_dhcp_lease(
    conn: Any, prefix: str, tiny_image: Path, test_network: dict[str, str], tmp_path: Path
) -> None:
    name = f"{prefix}tiny"
    serial_log = tmp_path / "serial.log"
    dom = conn.defineXML(kvmtest.tiny_domain_xml(name, test_network["name"], serial_log, image=tiny_image))
    dom.create()

    assert kvmtest.virsh("domstate", name).strip() == "running"
    line = kvmtest.wait_for_serial(serial_log, "KVMFLEET-TINY-READY", timeout=120)
    match = re.search(r"mac=(\S+) ip=(\S+)", line)
    assert match, line
    mac, address = match.groups()
    assert address != "none", f"no DHCP lease: {line}"
    assert ipaddress.ip_interface(address).ip in ipaddress.ip_network(test_network["subnet"])

    # the lease is in libvirt's own table too, for the MAC libvirt gave the NIC
    leases = {lease["mac"]: lease["ipaddr"] for lease in conn.networkLookupByName(test_network["name"]).DHCPLeases()}
    assert leases.get(mac) == str(ipaddress.ip_interface(address).ip)
    assert kvmtest.virsh("domiflist", name).split()[-1] == mac


def test_tiny_guest_powers_off_on_acpi_shutdown(conn: Any, prefix: str, tiny_image: Path, tmp_path: Path) -> None:
    name = f"{prefix}acpi"
    serial_log = tmp_path / "serial.log"
    dom = conn.defineXML(kvmtest.tiny_domain_xml(name, None, serial_log, image=tiny_image))
    dom.create()
    kvmtest.wait_for_serial(serial_log, "KVMFLEET-TINY-READY", timeout=120)

    dom.shutdown()  # ACPI power button, answered by busybox acpid in the guest
    kvmtest.wait_for_serial(serial_log, "KVMFLEET-TINY-POWEROFF", timeout=60)
    deadline = time.monotonic() + 30
    while dom.state()[0] != libvirt.VIR_DOMAIN_SHUTOFF and time.monotonic() < deadline:
        time.sleep(0.2)
    assert kvmtest.virsh("domstate", name).strip() == "shut off"


def test_cleanup_removes_everything_under_a_prefix(conn: Any, tiny_image: Path, tmp_path: Path) -> None:
    prefix = kvmtest.random_prefix()
    conn.defineXML(kvmtest.tiny_domain_xml(f"{prefix}a", None, tmp_path / "a.log", image=tiny_image))
    conn.defineXML(kvmtest.tiny_domain_xml(f"{prefix}b", None, tmp_path / "b.log", image=tiny_image)).create()
    assert {f"{prefix}a", f"{prefix}b"} <= set(kvmtest.domain_names())

    removed = kvmtest.remove_prefixed(conn, prefix)

    assert sorted(removed) == [f"domain {prefix}a", f"domain {prefix}b"]
    assert not [n for n in kvmtest.domain_names() if n.startswith(prefix)]
