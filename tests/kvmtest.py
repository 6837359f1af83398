"""Helpers shared by the integration tests and the benchmarks: paths, virsh, playbook runs, tiny guests.

Nothing here is a mock: every helper drives the real libvirtd, the real ansible-playbook and real QEMU.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("KVMFLEET_CACHE", ROOT / ".cache"))
COLLECTIONS = CACHE / "collections"
VENV_BIN = Path(sys.executable).parent
TINY_IMAGE = CACHE / "images" / "tiny"
SYSTEM_URI = "qemu:///system"
TEST_PREFIX = "kvt-"

# The collection's modules run inside Ansible's worker when the host is the controller (as in these
# tests); tests marked with this run once that way and once as a module process.
BOTH_WAYS = pytest.mark.parametrize(
    "play_vars", [{}, {"kvmfleet_in_process": False}], ids=["in-process", "module-process"]
)


def random_prefix() -> str:
    """A fresh name prefix for one test's libvirt objects: ``kvt-<8 hex>-``."""
    return f"{TEST_PREFIX}{secrets.token_hex(4)}-"


def virsh(*args: str, uri: str = SYSTEM_URI, check: bool = True) -> str:
    """Run virsh against ``uri`` and return its standard output."""
    proc = subprocess.run(["virsh", "-q", "-c", uri, *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"virsh {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.5) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def run_cmd(cmd: list[str]) -> str:
    """Run a command, fail with its output if it fails, return its standard output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def domain_names(uri: str = SYSTEM_URI) -> list[str]:
    """All defined or running domains, as ``virsh list --all --name`` shows them."""
    return sorted(line for line in virsh("list", "--all", "--name", uri=uri).splitlines() if line.strip())


def dhcp_leases(network: str, uri: str = SYSTEM_URI, expect: Iterable[str] = ()) -> dict[str, str]:
    """MAC -> IPv4 address that libvirt's DHCP server leased on ``network``, as virsh shows it.

    libvirt learns of a lease from dnsmasq's lease script, which runs after the guest already has its
    address: a guest found through ARP can be ahead of the list. ``expect`` names MACs to wait (up to
    15 s) for.
    """

    def read() -> dict[str, str]:
        found = {}
        for line in virsh("net-dhcp-leases", network, uri=uri).splitlines():
            words = line.split()  # expiry date, expiry time, MAC, protocol, address/prefix, host name, client id
            if len(words) >= 5 and words[3] == "ipv4":
                found[words[2]] = words[4].split("/")[0]
        return found

    wanted = set(expect)
    if wanted:
        wait_until(lambda: wanted <= read().keys(), timeout=15)
    return read()


def image_of(path: Path, mib: int) -> dict[str, Any]:
    """A local image of ``mib`` MiB of random data at ``path``, as kvmfleet.kvm.volume import options."""
    path.write_bytes(os.urandom(mib << 20))
    return {"src": str(path), "remote_src": True, "checksum": f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"}


def free_subnet(conn: Any) -> ipaddress.IPv4Network:
    """A /24 in 10.254.0.0/16 that no route and no libvirt network of this host uses."""
    used = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True, check=True
    ).stdout
    taken = {
        ipaddress.ip_network(word, strict=False)
        for line in used.splitlines()
        for word in line.split()[:1]
        if "/" in word
    }
    for net in conn.listAllNetworks():
        taken.update(ipaddress.ip_network(f"{ip}/24", strict=False) for ip in network_addresses(net.XMLDesc()))
    candidates = list(range(10, 250))
    random.shuffle(candidates)
    for third in candidates:
        subnet = ipaddress.ip_network(f"10.254.{third}.0/24")
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise AssertionError("no free /24 in 10.254.0.0/16 for the test network")


def network_addresses(xml: str) -> list[str]:
    return [ip.get("address", "") for ip in ET.fromstring(xml).findall("ip") if ip.get("family", "ipv4") == "ipv4"]


def ansible_env(**extra: str) -> dict[str, str]:
    """Environment for ansible-* commands that use this checkout as kvmfleet.kvm."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
    )
    path = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), *[p for p in path if p != str(VENV_BIN)]])
    env.update(extra)
    return env


@dataclass
class PlayResult:
    """A finished ansible-playbook run, parsed from the ansible.posix.json callback."""

    rc: int
    data: dict[str, Any]
    stderr: str
    tasks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def result(self, name: str | None = None) -> dict[str, Any]:
        """The localhost result of the task called ``name`` (or of the only task)."""
        names = [task[0] for task in self.tasks]
        if name is None:
            if len(self.tasks) != 1:
                raise AssertionError(f"play ran {len(self.tasks)} tasks; name one: {names}")
            return self.tasks[0][1]
        for task_name, res in self.tasks:
            if task_name == name:
                return res
        raise AssertionError(f"no task {name!r} in {names}")

    @property
    def stats(self) -> dict[str, Any]:
        return self.data.get("stats", {}).get("localhost", {})


def run_playbook(
    tasks: list[dict[str, Any]],
    *,
    check: bool = False,
    diff: bool = False,
    extra_vars: dict[str, Any] | None = None,
    play_vars: dict[str, Any] | None = None,
    roles: Iterable[dict[str, Any]] = (),
    env: dict[str, str] | None = None,
) -> PlayResult:
    """Run one play of ``tasks`` against localhost and return its parsed result."""
    play: dict[str, Any] = {
        "name": "kvmfleet test",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": play_vars or {},
        "tasks": tasks,
    }
    if roles:
        play["roles"] = list(roles)
    with tempfile.TemporaryDirectory(prefix="kvmfleet-play-") as tmp:
        playbook = Path(tmp) / "play.yml"
        playbook.write_text(json.dumps([play]))  # JSON is YAML
        run = ansible_playbook(playbook, "localhost,", extra_vars=extra_vars, check=check, diff=diff, env=env)
    data = run.data
    results = [
        (task["task"]["name"], task["hosts"].get("localhost", {}))
        for play_data in data.get("plays", [])
        for task in play_data.get("tasks", [])
    ]
    return PlayResult(rc=run.rc, data=data, stderr=run.stderr, tasks=results)


def tiny_domain_xml(
    name: str,
    network: str | None,
    serial_log: str | Path,
    *,
    image: Path = TINY_IMAGE,
    memory_mib: int = 128,
    cmdline_extra: str = "",
) -> str:
    """Domain XML of a tiny direct-boot guest (TCG) with its serial console copied to ``serial_log``."""
    image = image.resolve()
    nic = (
        f"<interface type='network'><source network='{escape(network)}'/><model type='virtio'/></interface>"
        if network
        else ""
    )
    return f"""<domain type='qemu'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{escape(str(image / "vmlinuz"))}</kernel>
    <initrd>{escape(str(image / "initrd.img"))}</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet {escape(cmdline_extra)}</cmdline>
  </os>
  <features><acpi/><tcg><tb-cache unit='MiB'>32</tb-cache></tcg></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    {nic}
    <serial type='pty'><log file='{escape(str(serial_log))}' append='off'/></serial>
    <console type='pty'/>
  </devices>
</domain>"""


def wait_for_serial(path: str | Path, marker: str, timeout: float = 90.0) -> str:
    """Wait until ``marker`` appears in the serial log ``path``; return the line that holds it."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            text = ""
        for line in text.splitlines():
            if marker in line:
                return line.strip()
        time.sleep(0.5)
    raise AssertionError(f"{marker!r} did not appear in {path} within {timeout:.0f} s; log so far:\n{text[-2000:]}")


def remove_prefixed(conn: Any, prefix: str) -> list[str]:
    """Destroy and undefine every domain, network, pool, volume and secret whose name starts with ``prefix``."""
    import libvirt

    removed: list[str] = []
    undefine_flags = 0
    for flag in (
        "VIR_DOMAIN_UNDEFINE_NVRAM",
        "VIR_DOMAIN_UNDEFINE_MANAGED_SAVE",
        "VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA",
        "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA",
        "VIR_DOMAIN_UNDEFINE_TPM",
    ):
        undefine_flags |= getattr(libvirt, flag, 0)

    def remove(dom: Any) -> None:
        if dom.isActive():
            dom.destroy()  # ~1.5 s each for libvirt to stop a QEMU: the guests of a test go at the same time
        if dom.isPersistent():
            dom.undefineFlags(undefine_flags)

    doomed = [dom for dom in conn.listAllDomains() if dom.name().startswith(prefix)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(remove, doomed))
    removed.extend(f"domain {dom.name()}" for dom in doomed)
    gone = {libvirt.VIR_ERR_NO_STORAGE_POOL, libvirt.VIR_ERR_NO_STORAGE_VOL}
    for pool in conn.listAllStoragePools():
        try:  # pools of other tests may vanish meanwhile
            if pool.isActive():
                pool.refresh()
                for vol in pool.listAllVolumes():
                    if vol.name().startswith(prefix):
                        vol.delete()
                        removed.append(f"volume {vol.name()}")
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in gone or pool.name().startswith(prefix):
                raise
    for kind, objects in (("pool", conn.listAllStoragePools()), ("network", conn.listAllNetworks())):
        for obj in objects:
            if obj.name().startswith(prefix):
                persistent = obj.isPersistent()  # a transient object is gone once destroyed
                if obj.isActive():
                    obj.destroy()
                if persistent:
                    obj.undefine()
                removed.append(f"{kind} {obj.name()}")
    for secret in conn.listAllSecrets():  # by usage id: a volume's secret is named by its path
        usage_id = secret.usageID() or ""
        if usage_id.startswith(prefix) or f"/{prefix}" in usage_id:
            secret.undefine()
            removed.append(f"secret {usage_id}")
    return removed


# ---------------------------------------------------------------------------------------------- the fleet

FLEET_SHARED = "/var/lib/kvmfleet-shared"  # tests/fleet.py mounts the shared directory there on every hypervisor


def tiny_guest(name: str, image: Path, serial_log: Path, **extra: Any) -> dict[str, Any]:
    """kvmfleet.kvm.guest options of a tiny direct-boot guest on this machine's libvirtd (no NIC unless given)."""
    return {
        "name": name,
        "memory": "128MiB",
        "kernel": str(image / "vmlinuz"),
        "initrd": str(image / "initrd.img"),
        "cmdline": "console=ttyS0 panic=-1 quiet",
        "console": {"log": str(serial_log)},
        **extra,
    }


def fleet_guest(name: str, uri: str, *, cmdline: str = "", **options: Any) -> dict[str, Any]:
    """kvmfleet.kvm.guest options of a tiny guest on a fleet hypervisor: booted from the shared directory,
    its serial console in a file on its hypervisor, counting every second (kvmfleet.tick)."""
    return {
        "uri": uri,
        "name": name,
        "virt_type": "qemu",
        "memory": "128MiB",
        "vcpus": 1,
        "tb_cache": "32MiB",
        "kernel": f"{FLEET_SHARED}/tiny-vmlinuz",
        "initrd": f"{FLEET_SHARED}/tiny-initrd.img",
        "cmdline": f"console=ttyS0 panic=-1 quiet kvmfleet.nonet kvmfleet.tick {cmdline}".strip(),
        "console": {"type": "file"},
        "guest_agent": False,
        "state": "running",
        **options,
    }


def serial_log(name: str) -> str:
    """Where a fleet guest's serial console writes, on its hypervisor."""
    return f"/var/log/libvirt/qemu/{name}-serial.log"


@dataclass
class Run:
    """A finished ansible-playbook run of a playbook file, parsed from the ansible.posix.json callback."""

    rc: int
    data: dict[str, Any]
    stdout: str
    stderr: str

    def results(self, task: str) -> dict[str, dict[str, Any]]:
        """Each host's result of the task called ``task`` (the last one of that name; a role's task
        is named ``ROLE : task``)."""
        found: dict[str, dict[str, Any]] = {}
        for play in self.data.get("plays", []):
            for item in play.get("tasks", []):
                if item["task"]["name"] == task or item["task"]["name"].endswith(f" : {task}"):
                    found = item["hosts"]
        return found

    def changed(self) -> dict[str, int]:
        return {host: stats.get("changed", 0) for host, stats in self.data.get("stats", {}).items()}

    def failed(self) -> dict[str, int]:
        return {
            host: stats.get("failures", 0) + stats.get("unreachable", 0)
            for host, stats in self.data.get("stats", {}).items()
        }


def ansible_playbook(
    playbook: Path,
    inventory: Path | str,
    *,
    extra_vars: dict[str, Any] | None = None,
    check: bool = False,
    diff: bool = False,
    env: dict[str, str] | None = None,
) -> Run:
    """Run a playbook file against an inventory; its JSON result.

    ``env`` is added to its environment (``KVMFLEET_FAULT_AT`` kills the run at a step: then it has no
    result and ``rc`` is -9). It runs in a session of its own, so that a fault kills it and not pytest.
    """
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", **(env or {})),
        check=False,
        start_new_session=True,
    )
    if proc.returncode == -signal.SIGKILL:
        return Run(proc.returncode, {}, proc.stdout, proc.stderr)
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"{playbook.name} printed no JSON (rc={proc.returncode}): {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        ) from exc
    return Run(proc.returncode, data, proc.stdout, proc.stderr)


# ---------------------------------------------------------------------------------------------- a browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@contextlib.contextmanager
def offline_browser(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """Debian's chromium, headless, driven by Selenium through Debian's chromedriver, with every network
    request refused (no proxy answers, no name resolves): what a page shows here it shows in an air-gapped
    site. Its console messages are kept (``get_log("browser")``)."""
    from selenium import webdriver  # imported here: only the report's tests and benchmark need it
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--proxy-server=http://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def drawn_pixels(png: bytes) -> int:
    """How many pixels of a screenshot are not background (white or nearly)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return sum(image.convert("L").histogram()[:235])


# ---------------------------------------------------------------------------------------------- module arguments


@contextlib.contextmanager
def module_args(args: dict[str, Any]) -> Iterator[None]:
    """A module's arguments for a test that runs its main() in this process: ansible-core's own helper where
    it has one (2.19 and later), else the arguments where AnsibleModule reads them (2.17, 2.18)."""
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:
        from ansible.module_utils import basic

        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved
        return
    with patch_module_args(args):
        yield
