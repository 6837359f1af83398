"""host_info through ansible-playbook on the real libvirtd, compared with what virsh says."""

from __future__ import annotations

import re
import subprocess
import sys

import kvmtest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._host import judge_kvm, local_kvm_facts


def test_host_info_matches_virsh_and_is_the_same_in_check_mode(play) -> None:
    task = {"name": "info", "kvmfleet.kvm.host_info": {}}
    real = play([task]).result("info")
    checked = play([task], check=True, diff=True).result("info")

    assert real["changed"] is False and checked["changed"] is False
    # free memory is a live reading of the kernel's, the one figure that moves between two calls
    free = [result["host"]["capacity"].pop("free_memory_mib") for result in (real, checked)]
    assert all(0 < mib <= real["host"]["capacity"]["memory_mib"] for mib in free)
    assert real["host"] == checked["host"]
    host = real["host"]
    assert host["capacity"]["guests"] == len(host["guests"]) == len(kvmtest.domain_names())
    version = kvmtest.virsh("version")
    assert f"Using library: libvirt {host['libvirt_version']}" in version
    assert f"Running hypervisor: {host['hypervisor']} {host['hypervisor_version']}" in version
    assert host["uri"] == "qemu:///system"
    nodeinfo = dict(re.findall(r"^([^:]+):\s+(.*)$", kvmtest.virsh("nodeinfo"), re.MULTILINE))
    assert host["cpus"] == int(nodeinfo["CPU(s)"])
    assert host["memory_mib"] == int(nodeinfo["Memory size"].split()[0]) // 1024
    assert host["arch"] == nodeinfo["CPU model"]
    assert "qemu" in host["guest_arches"]["x86_64"]["domain_types"]

    # the verdict is the host's own: on these machines (no vmx/svm, kvm_pvm) that means TCG
    usable, reason = judge_kvm(host["guest_arches"]["x86_64"]["domain_types"], local_kvm_facts())
    assert host["kvm"] == {"usable": usable, "reason": reason, "checked_locally": True}
    assert host["default_virt_type"] == ("kvm" if usable else "qemu")


def test_module_defaults_group_sets_the_uri_once(play) -> None:
    result = play(
        [
            {
                "name": "grouped",
                "module_defaults": {"group/kvmfleet.kvm.kvm": {"uri": "test:///default"}},
                "block": [{"name": "info", "kvmfleet.kvm.host_info": {}}],
            }
        ]
    )
    host = result.result("info")["host"]
    assert host["uri"] == "test:///default"
    assert host["hypervisor"] == "TEST"
    assert host["kvm"]["checked_locally"] is False


def test_unreachable_daemon_fails_naming_the_uri(play) -> None:
    uri = "qemu+unix:///system?socket=/nonexistent/kvmfleet.sock"
    result = play([{"name": "info", "kvmfleet.kvm.host_info": {"uri": uri}}])
    assert result.rc == 2
    failed = result.result("info")
    assert failed["failed"] is True
    assert f"cannot connect to libvirt at {uri}" in failed["msg"]
    assert "libvirtd" in failed["msg"]


def test_missing_binding_fails_saying_which_package(play, tmp_path) -> None:
    bare = tmp_path / "bare"  # an interpreter with the standard library only
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    result = play(
        [
            {
                "name": "info",
                "kvmfleet.kvm.host_info": {},
                "vars": {"ansible_python_interpreter": str(bare / "bin/python")},
            }
        ]
    )
    failed = result.result("info")
    assert failed["failed"] is True
    assert "libvirt-python" in failed["msg"]
    assert "python3-libvirt" in failed["msg"]
