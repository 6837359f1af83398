"""Every molecule scenario, run as `molecule test` from the same test command as everything else."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import kvmtest
import pytest

SCENARIOS = sorted(p.parent.name for p in (kvmtest.ROOT / "molecule").glob("*/molecule.yml"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, conn: Any, prefix: str, request: pytest.FixtureRequest) -> None:
    if scenario == "fleet":  # on the session's container fleet; its guests are removed like every test's
        request.getfixturevalue("fleet")
        prefix = request.getfixturevalue("fleet_prefix")
    env = kvmtest.ansible_env(
        GUESTS_PREFIX=prefix,
        KVMFLEET_CACHE=str(kvmtest.CACHE),
        KVMFLEET_VENV=str(kvmtest.VENV_BIN.parent),
        NO_COLOR="1",
    )
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run(
        [str(kvmtest.VENV_BIN / "molecule"), "test", "-s", scenario],
        cwd=kvmtest.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    recap = re.search(
        rf"{scenario}\s*: actions=(\d+)\s+successful=(\d+).*failed=(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", output)
    )
    assert recap, output[-3000:]
    actions, successful, failed = map(int, recap.groups())
    assert failed == 0 and successful == actions
    assert "idempotence: Executed: Successful" in re.sub(r"\x1b\[[0-9;]*m", "", output).replace("➜ ", "")
