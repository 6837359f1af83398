"""Every ansible-core version the collection claims (meta/runtime.yml: requires_ansible), each in its own
virtual environment (tests/matrix.txt, made by scripts/setup.sh): the unit tests, and ansible-test sanity's
tests that depend on the ansible-core version (module documentation against the argument specs, imports,
compiling, the runtime metadata). The pinned version (requirements-dev.txt) runs everything else."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kvmtest
import pytest
import yaml

VERSIONS = [
    line.split()
    for line in (kvmtest.ROOT / "tests/matrix.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
# the sanity tests whose verdict depends on the ansible-core version (style tests run with the pinned one)
SANITY = ("validate-modules", "ansible-doc", "import", "compile", "empty-init", "runtime-metadata",
          "action-plugin-docs", "yamllint")  # fmt: skip


def venv(core: str) -> Path:
    path = kvmtest.CACHE / "matrix" / core
    assert (path / "bin/ansible-test").exists(), f"{path} is missing: run scripts/setup.sh"
    return path


def test_the_matrix_covers_every_claimed_version() -> None:
    runtime = yaml.safe_load((kvmtest.ROOT / "meta/runtime.yml").read_text())
    oldest = runtime["requires_ansible"].removeprefix(">=")
    minors = {tuple(map(int, core.split(".")[:2])) for core, _python in VERSIONS}
    pinned = next(line for line in (kvmtest.ROOT / "requirements-dev.txt").read_text().splitlines() if
                  line.startswith("ansible-core=="))  # fmt: skip
    minors.add(tuple(map(int, pinned.split("==")[1].split(".")[:2])))
    first = tuple(map(int, oldest.split(".")[:2]))
    assert min(minors) == first
    assert sorted(minors) == [(2, minor) for minor in range(first[1], max(minors)[1] + 1)]  # no version left out


@pytest.mark.parametrize(("core", "python"), VERSIONS, ids=[core for core, _python in VERSIONS])
def test_unit_tests_and_sanity_on_each_ansible_core(core: str, python: str) -> None:
    env = venv(core)
    version = subprocess.run([str(env / "bin/ansible"), "--version"], capture_output=True, text=True, check=True)
    assert f"core {core}]" in version.stdout.splitlines()[0]
    units = subprocess.run(
        [str(env / "bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"],
        cwd=kvmtest.ROOT, capture_output=True, text=True, timeout=900, env=kvmtest.ansible_env(), check=False,
    )  # fmt: skip
    assert units.returncode == 0, units.stdout[-5000:] + units.stderr[-2000:]
    collection = kvmtest.COLLECTIONS / "ansible_collections/kvmfleet/kvm"
    cmd = [str(env / "bin/ansible-test"), "sanity", "--local", "--python", python, "--color", "no"]
    for test in SANITY:
        cmd += ["--test", test]
    sanity = subprocess.run(
        cmd, cwd=collection, capture_output=True, text=True, timeout=1800,
        env=kvmtest.ansible_env(ANSIBLE_TEST_CONTENT_ROOT=str(collection)), check=False,
    )  # fmt: skip
    assert sanity.returncode == 0, sanity.stdout[-5000:] + sanity.stderr[-3000:]
