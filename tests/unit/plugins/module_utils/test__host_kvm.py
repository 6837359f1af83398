"""host_kvm: which module a CPU needs, loading it, and the judgement after (without touching this host)."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _host_kvm
from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_direct

INTEL = {"cpu_flags": ["vmx"], "modules": ["kvm"], "dev_kvm": False}
LOADED = {"cpu_flags": ["vmx"], "modules": ["kvm", "kvm_intel"], "dev_kvm": True}
SOFTWARE = {"cpu_flags": [], "modules": ["kvm", "kvm_pvm"], "dev_kvm": True}


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A host whose facts the test sets (``facts``: read in turn) and whose modprobe it answers."""
    state: dict[str, Any] = {"facts": [], "loads": [], "error": None}
    monkeypatch.setattr(_host_kvm, "local_kvm_facts", lambda: state["facts"].pop(0))

    def modprobe(module: str) -> Any:
        state["loads"].append(module)
        return state["error"]

    monkeypatch.setattr(_host_kvm, "modprobe", modprobe)
    return state


@pytest.mark.parametrize(("facts", "module"), [(INTEL, "kvm_intel"), ({**INTEL, "cpu_flags": ["svm"]}, "kvm_amd"),
                                               (LOADED, None), (SOFTWARE, None)])  # fmt: skip
def test_to_load_is_the_cpus_module_when_it_is_missing(facts: dict[str, Any], module: Any) -> None:
    assert _host_kvm.to_load(facts) == module


def test_the_module_is_loaded_and_the_host_judged_after(host: dict[str, Any]) -> None:
    host["facts"] = [INTEL, LOADED]
    result = run_direct(_host_kvm.HOST_KVM_ENTRY, {}, check_mode=False)
    assert host["loads"] == ["kvm_intel"]
    assert (result["changed"], result["actions"]) == (True, ["load kvm_intel"])
    assert result["kvm"] == {**LOADED, "usable": True, "problems": [], "module": "kvm_intel"}


def test_check_mode_loads_nothing_and_predicts_the_load(host: dict[str, Any]) -> None:
    host["facts"] = [INTEL]
    result = run_direct(_host_kvm.HOST_KVM_ENTRY, {}, check_mode=True)
    assert host["loads"] == []
    assert (result["changed"], result["actions"], result["kvm"]["usable"]) == (True, ["load kvm_intel"], True)


def test_a_failed_load_is_a_problem_naming_modprobes_words(host: dict[str, Any]) -> None:
    host["facts"] = [INTEL]
    host["error"] = "modprobe: ERROR: could not insert 'kvm_intel': Operation not supported"
    result = run_direct(_host_kvm.HOST_KVM_ENTRY, {}, check_mode=False)
    assert result["changed"] is False and result["kvm"]["usable"] is False
    assert result["kvm"]["problems"] == [
        "neither kvm_intel nor kvm_amd is loaded: modprobe kvm_intel failed (modprobe: ERROR: could not insert "
        "'kvm_intel': Operation not supported); a firmware setting may disable it",
        "/dev/kvm does not exist: load the kvm module",
    ]


def test_a_software_kvm_is_not_kvm_and_load_false_loads_nothing(host: dict[str, Any]) -> None:
    host["facts"] = [INTEL]
    result = run_direct(_host_kvm.HOST_KVM_ENTRY, {"load": False}, check_mode=False)
    assert host["loads"] == [] and result["changed"] is False
    host["facts"] = [SOFTWARE]
    problems = run_direct(_host_kvm.HOST_KVM_ENTRY, {}, check_mode=False)["kvm"]["problems"]
    assert problems[0].startswith("the CPU shows no hardware virtualisation")
    assert "only the software kvm_pvm module is" in problems[1]
