"""The shell helpers of scripts/lib.sh that the image builds use: which Debian mirror debootstrap takes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "scripts/lib.sh"

DEB822 = """Types: deb
URIs: http://mirror.example.net/debian-security
Suites: bookworm-security
Components: main

Types: deb
Suites: bookworm bookworm-updates
URIs: http://mirror.example.net/debian
Components: main
"""
LEGACY = """# a comment
deb http://security.debian.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian.gpg] http://legacy.example.net/debian bookworm main
"""


def mirror(etc: Path, **env: str) -> str:
    command = f'. "{LIB}"; debian_mirror'
    done = subprocess.run(
        ["bash", "-c", command], env={"PATH": "/usr/bin:/bin", "KVMFLEET_APT_ETC": str(etc), **env},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("files", "env", "expected"),
    [
        ({"sources.list.d/debian.sources": DEB822}, {}, "http://mirror.example.net/debian"),
        ({"sources.list": LEGACY}, {}, "http://legacy.example.net/debian"),
        ({"sources.list.d/debian.sources": DEB822}, {"KVMFLEET_DEBIAN_MIRROR": "http://o/debian"}, "http://o/debian"),
        ({}, {}, "http://deb.debian.org/debian"),
    ],
    ids=["deb822, the security stanza first", "sources.list with options", "the override", "nothing configured"],
)
def test_debootstrap_takes_the_mirror_apt_uses(
    tmp_path: Path, files: dict[str, str], env: dict[str, str], expected: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert mirror(tmp_path, **env) == expected
