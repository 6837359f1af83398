"""Static checks of the collection, run by the same test command as everything else.

ruff, ansible-lint (profile production, no skip list), ansible-test sanity (no ignore file), the
built collection tarball and an Execution Environment's build context from it, ansible-doc for every
module, and the action group in meta/runtime.yml.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import kvmtest
import pytest
import yaml

ROOT = kvmtest.ROOT
MODULES = sorted(p.stem for p in (ROOT / "plugins/modules").glob("*.py") if p.stem != "__init__")
# modules that talk to libvirt: they take the shared `uri` option and belong to the action group
LIBVIRT_MODULES = [m for m in MODULES if "kvmfleet.kvm.connection" in (ROOT / f"plugins/modules/{m}.py").read_text()]


def run(cmd: list[str], cwd: Path = ROOT, timeout: int = 1800, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=kvmtest.ansible_env(**env), check=False
    )


def assert_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, (
        f"{' '.join(proc.args)} exited {proc.returncode}:\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"
    )


def test_ruff() -> None:
    assert_ok(run([str(kvmtest.VENV_BIN / "ruff"), "check", "."]))


def test_ansible_lint_production() -> None:
    config = yaml.safe_load((ROOT / ".ansible-lint").read_text())
    assert config["profile"] == "production"
    assert "skip_list" not in config and "warn_list" not in config
    # ansible-lint installs the checkout as a collection under ANSIBLE_HOME: one per checkout, so that
    # worktrees linted at the same time do not overwrite each other's copy in ~/.ansible
    assert_ok(
        run([str(kvmtest.VENV_BIN / "ansible-lint"), "--strict"], ANSIBLE_HOME=str(kvmtest.CACHE / "ansible-home"))
    )


def test_ansible_test_sanity() -> None:
    assert not (ROOT / "tests/sanity").exists(), "no sanity ignore files"
    collection = kvmtest.COLLECTIONS / "ansible_collections/kvmfleet/kvm"
    assert collection.resolve() == ROOT
    proc = run(
        [str(kvmtest.VENV_BIN / "ansible-test"), "sanity", "--local", "--python", "3.11", "--color", "no"],
        cwd=collection,
        ANSIBLE_TEST_CONTENT_ROOT=str(collection),
    )
    assert_ok(proc)
    assert "sanity test(s) listed below" not in proc.stdout


def test_galaxy_build_leaves_out_tests_and_caches(tmp_path: Path) -> None:
    assert_ok(run([str(kvmtest.VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path)]))
    (tarball,) = tmp_path.glob("kvmfleet-kvm-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    top = {name.split("/", 1)[0] for name in names}
    assert {"MANIFEST.json", "FILES.json", "README.md", "meta", "plugins"} <= top
    assert not top & {"tests", "molecule", "bench", "scripts", ".cache", ".ci", ".git", "ansible.cfg"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "plugins/modules/host_info.py" in names
    assert {"meta/execution-environment.yml", "requirements.txt", "bindep.txt", "COPYING"} <= set(names)


def test_an_execution_environment_gets_the_collections_dependencies(tmp_path: Path) -> None:
    """ansible-builder reads what the installed collection needs (introspect, as a build does inside the
    image) and makes a build context from docs/ee (the image itself needs an RPM-based base image and a
    registry, neither of which this machine has)."""
    bin_dir = kvmtest.VENV_BIN
    assert_ok(run([str(bin_dir / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path)]))
    (tarball,) = tmp_path.glob("kvmfleet-kvm-*.tar.gz")
    installed = tmp_path / "collections"
    assert_ok(
        run([str(bin_dir / "ansible-galaxy"), "collection", "install", "--force", "-p", str(installed), str(tarball)])
    )
    found = run([str(bin_dir / "ansible-builder"), "introspect", "--sanitize", str(installed)])
    assert_ok(found)
    data = yaml.safe_load(found.stdout.split("---", 1)[1])
    assert data["python"] == ["libvirt-python>=8.0.0  # from collection kvmfleet.kvm"]
    assert "libvirt0 [platform:dpkg]  # from collection kvmfleet.kvm" in data["system"]
    assert "libvirt-libs [platform:rpm]  # from collection kvmfleet.kvm" in data["system"]

    context = tmp_path / "context"
    made = run(
        [str(bin_dir / "ansible-builder"), "create", "-f", "docs/ee/execution-environment.yml", "-c", str(context)]
    )
    assert_ok(made)
    containerfile = (context / "Containerfile").read_text()
    assert "quay.io/fedora/fedora:41" in containerfile and "ansible-galaxy" in containerfile
    assert "introspect" in containerfile  # the collection's requirements are read inside the build
    assert yaml.safe_load((context / "_build/requirements.yml").read_text()) == {
        "collections": [{"name": "kvmfleet.kvm"}]
    }


def test_action_group_lists_every_module() -> None:
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
    assert runtime["requires_ansible"] == ">=2.17.0"
    assert sorted(runtime["action_groups"]["kvm"]) == LIBVIRT_MODULES


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc(module: str) -> None:
    proc = run([str(kvmtest.VENV_BIN / "ansible-doc"), "-t", "module", "--json", f"kvmfleet.kvm.{module}"])
    assert_ok(proc)
    doc = json.loads(proc.stdout)[f"kvmfleet.kvm.{module}"]
    if module in LIBVIRT_MODULES:
        assert doc["doc"]["options"]["uri"]["default"] == "qemu:///system"  # the connection fragment
    assert doc["examples"].strip() and doc["return"]
    assert {"check_mode", "diff_mode", "idempotent"} <= set(doc["doc"]["attributes"])


@pytest.mark.parametrize(("kind", "name"), [("connection", "guest_agent"), ("inventory", "libvirt")])
def test_ansible_doc_of_other_plugins(kind: str, name: str) -> None:
    proc = run([str(kvmtest.VENV_BIN / "ansible-doc"), "-t", kind, "--json", f"kvmfleet.kvm.{name}"])
    assert_ok(proc)
    doc = json.loads(proc.stdout)[f"kvmfleet.kvm.{name}"]
    assert doc["examples"].strip() and doc["doc"]["options"]
    if kind == "connection":  # its options come from the inventory plugin's variables
        options = doc["doc"]["options"]
        assert {"libvirt_uri"} <= {var["name"] for var in options["uri"]["vars"]}
        assert {"libvirt_uuid"} <= {var["name"] for var in options["domain_uuid"]["vars"]}
        assert {"inventory_hostname"} <= {var["name"] for var in options["domain"]["vars"]}


def test_changelog_lint() -> None:
    assert_ok(run([str(kvmtest.VENV_BIN / "antsibull-changelog"), "lint"]))


def test_every_source_file_names_its_licence() -> None:
    """GPL-3.0-or-later (COPYING), by an SPDX line in each file of code (empty __init__.py files aside)."""
    tracked = subprocess.run(
        ["git", "ls-files", "plugins", "roles", "scripts", "bench", "docs/site"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.split()  # fmt: skip
    code = [ROOT / path for path in tracked if path.endswith((".py", ".sh")) or path.startswith("scripts/")]
    missing = [
        str(path.relative_to(ROOT))
        for path in code
        if path.is_file()
        and path.stat().st_size
        and "SPDX-License-Identifier: GPL-3.0-or-later" not in path.read_text()
    ]
    assert missing == []
