"""What a hypervisor offers, and whether KVM guests really run there."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _host, _libvirt

CAPS = """<capabilities>
  <host><cpu><arch>x86_64</arch><model>Skylake-Client</model></cpu></host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <machine maxCpus='255'>pc-i440fx-7.2</machine>
      <machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine>
      <machine maxCpus='288'>pc-q35-7.2</machine>
      <domain type='qemu'/>
      <domain type='kvm'/>
    </arch>
  </guest>
  <guest>
    <os_type>hvm</os_type>
    <arch name='i686'><emulator>/usr/bin/qemu-system-i386</emulator><domain type='qemu'/></arch>
  </guest>
  <guest><os_type>xen</os_type><arch name='x86_64'><domain type='xen'/></arch></guest>
</capabilities>"""

LOCAL_OK = {"cpu_flags": ["vmx"], "modules": ["kvm", "kvm_intel"], "dev_kvm": True}


def test_parse_capabilities() -> None:
    caps = _host.parse_capabilities(CAPS)
    assert caps["arch"] == "x86_64"
    assert caps["cpu_model"] == "Skylake-Client"
    assert caps["guests"]["x86_64"] == {
        "domain_types": ["qemu", "kvm"],
        "emulator": "/usr/bin/qemu-system-x86_64",
        "machines": ["pc-i440fx-7.2", "q35", "pc-q35-7.2"],
    }
    assert caps["guests"]["i686"]["domain_types"] == ["qemu"]


def test_parse_capabilities_of_the_test_driver() -> None:
    conn = _libvirt.connect("test:///default")
    try:
        caps = _host.parse_capabilities(conn.getCapabilities())
    finally:
        conn.close()
    assert caps["guests"]["i686"]["domain_types"] == ["test"]


@pytest.mark.parametrize(
    ("domain_types", "local", "usable", "reason_part"),
    [
        (["qemu", "kvm"], LOCAL_OK, True, "available"),
        (["qemu", "kvm"], None, True, "available"),  # remote: libvirt is trusted
        (["qemu"], None, False, "no kvm domain type"),
        (["qemu"], LOCAL_OK, False, "/dev/kvm"),
        (["qemu", "kvm"], {**LOCAL_OK, "cpu_flags": []}, False, "VT-x/AMD-V"),
        (["qemu", "kvm"], {**LOCAL_OK, "modules": ["kvm", "kvm_pvm"]}, False, "only the software kvm_pvm"),
        (["qemu", "kvm"], {**LOCAL_OK, "modules": ["kvm"]}, False, "modprobe kvm_intel"),
        (["qemu", "kvm"], {"cpu_flags": ["svm"], "modules": ["kvm", "kvm_amd"], "dev_kvm": True}, True, "available"),
        (["qemu", "kvm"], {**LOCAL_OK, "dev_kvm": False}, False, "/dev/kvm does not exist"),
    ],
)
def test_judge_kvm(domain_types: list[str], local: dict | None, usable: bool, reason_part: str) -> None:
    got_usable, reason = _host.judge_kvm(domain_types, local)
    assert got_usable is usable
    assert reason_part in reason


def _fake_root(tmp_path: Path, flags: str, modules: list[str], dev_kvm: bool) -> str:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(
        f"processor\t: 0\nflags\t\t: fpu sse2 {flags} hypervisor\n\nprocessor\t: 1\n"
    )
    for module in modules:
        (tmp_path / "sys/module" / module).mkdir(parents=True)
    (tmp_path / "dev").mkdir()
    if dev_kvm:
        (tmp_path / "dev/kvm").write_text("")
    return str(tmp_path)


def test_local_kvm_facts_on_a_real_kvm_host(tmp_path: Path) -> None:
    root = _fake_root(tmp_path, "vmx ept", ["kvm", "kvm_intel"], True)
    assert _host.local_kvm_facts(root) == {"cpu_flags": ["vmx"], "modules": ["kvm", "kvm_intel"], "dev_kvm": True}


def test_local_kvm_facts_on_a_software_kvm(tmp_path: Path) -> None:
    root = _fake_root(tmp_path, "", ["kvm", "kvm_pvm"], True)
    facts = _host.local_kvm_facts(root)
    assert facts == {"cpu_flags": [], "modules": ["kvm", "kvm_pvm"], "dev_kvm": True}
    assert _host.judge_kvm(["qemu", "kvm"], facts)[0] is False


def test_local_kvm_facts_without_proc(tmp_path: Path) -> None:
    assert _host.local_kvm_facts(str(tmp_path)) == {"cpu_flags": [], "modules": [], "dev_kvm": False}
