"""The NoCloud seed and the pure-Python ISO 9660 writer, read back by isoinfo and blkid."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _cloudinit
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError

# isoinfo comes with genisoimage, blkid with util-linux: scripts/setup.sh installs both (for the tests
# only: the module itself needs neither), so they are required here, not optional

USER_DATA = "#cloud-config\nusers:\n  - name: admin\n" + "# padding\n" * 400  # more than one sector


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def seed_iso(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    files = _cloudinit.seed_files("guest-1", USER_DATA, None, "version: 2\nethernets: {}\n")
    path = tmp_path / "seed.iso"
    path.write_bytes(_cloudinit.build_iso(files))
    return path, files


def test_the_seed_has_the_nocloud_files() -> None:
    files = _cloudinit.seed_files("g", None, None, None)
    assert files == {
        "user-data": b"#cloud-config\n{}\n",
        "meta-data": b"instance-id: g\nlocal-hostname: g\n",
    }


def test_the_image_depends_only_on_the_files(seed_iso: tuple[Path, dict[str, bytes]]) -> None:
    path, files = seed_iso
    data = path.read_bytes()
    assert _cloudinit.build_iso(dict(reversed(list(files.items())))) == data
    assert len(data) % 2048 == 0
    other = _cloudinit.build_iso({**files, "user-data": b"#cloud-config\n{}\n"})
    assert other != data


def test_isoinfo_reads_label_and_exact_joliet_names(seed_iso: tuple[Path, dict[str, bytes]]) -> None:
    path, files = seed_iso
    info = run("isoinfo", "-d", "-i", str(path))
    assert "CD-ROM is in ISO 9660 format" in info
    assert "Volume id: cidata\n" in info
    assert "Joliet with UCS level 3 found" in info
    assert run("isoinfo", "-J", "-f", "-i", str(path)).split() == ["/meta-data", "/network-config", "/user-data"]
    for name, content in files.items():
        assert run("isoinfo", "-J", "-x", f"/{name}", "-i", str(path)).encode() == content
    # the plain ISO 9660 tree (what a reader without Joliet sees) points at the same data
    assert run("isoinfo", "-f", "-i", str(path)).split() == ["/META_DAT.;1", "/NETWORK_.;1", "/USER_DAT.;1"]
    assert run("isoinfo", "-x", "/USER_DAT.;1", "-i", str(path)) == USER_DATA


def test_blkid_sees_an_iso9660_filesystem_labelled_cidata(seed_iso: tuple[Path, dict[str, bytes]]) -> None:
    path, _files = seed_iso
    probe = run("blkid", "-p", "-o", "export", str(path))
    assert "TYPE=iso9660" in probe.splitlines()
    assert "LABEL=cidata" in probe.splitlines()


def test_empty_and_clashing_names(tmp_path: Path) -> None:
    files = {"user-data": b"", "user_data": b"x", "meta-data": b"y"}
    path = tmp_path / "seed.iso"
    path.write_bytes(_cloudinit.build_iso(files))
    assert run("isoinfo", "-J", "-f", "-i", str(path)).split() == ["/meta-data", "/user-data", "/user_data"]
    assert run("isoinfo", "-J", "-x", "/user-data", "-i", str(path)) == ""
    assert run("isoinfo", "-J", "-x", "/user_data", "-i", str(path)) == "x"
    assert len(set(run("isoinfo", "-f", "-i", str(path)).split())) == 3


def test_names_joliet_cannot_hold_are_refused() -> None:
    with pytest.raises(KvmFleetError, match="cannot be a file name"):
        _cloudinit.build_iso({"a/b": b""})
