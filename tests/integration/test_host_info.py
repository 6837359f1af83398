"""host_info through ansible-playbook on the real libvirtd, compared with what virsh says."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import kvmtest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._host import judge_kvm, kvm_problems, local_kvm_facts


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


def test_host_kvm_judges_this_host_like_host_info_and_loads_nothing_here(play) -> None:
    task = {"name": "kvm", "kvmfleet.kvm.host_kvm": {}}
    results = [play([task], check=check).result("kvm") for check in (True, False, True, False)]
    # these machines have no vmx/svm flag: there is no kvm_intel/kvm_amd to load, in check mode or not
    assert [result["changed"] for result in results] == [False] * 4
    assert all(result["actions"] == [] for result in results)
    assert all(result["kvm"] == results[1]["kvm"] for result in results)
    local = local_kvm_facts()
    kvm = results[1]["kvm"]
    assert kvm["problems"] == kvm_problems(local)
    assert kvm["usable"] is (not kvm["problems"])
    assert kvm["problems"][0].startswith("the CPU shows no hardware virtualisation (no vmx/svm flag)")
    assert (kvm["cpu_flags"], kvm["modules"], kvm["dev_kvm"]) == (
        local["cpu_flags"],
        local["modules"],
        local["dev_kvm"],
    )
    assert kvm["dev_kvm"] is os.path.exists("/dev/kvm")
    assert sorted(kvm["modules"]) == sorted(
        m for m in ("kvm", "kvm_amd", "kvm_intel", "kvm_pvm") if os.path.isdir(f"/sys/module/{m}")
    )
    assert results[1]["root"] is (os.geteuid() == 0)
    assert results[1]["systemd"] is os.path.isdir("/run/systemd/system")
    # the same verdict as host_info's (its first problem is host_info's reason)
    info = play([{"name": "info", "kvmfleet.kvm.host_info": {}}]).result("info")
    assert info["host"]["kvm"]["reason"] == kvm["problems"][0]
