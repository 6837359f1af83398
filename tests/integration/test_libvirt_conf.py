"""libvirt_conf through ansible-playbook on scratch copies of this host's real libvirtd.conf and qemu.conf."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A directory with copies of the installed libvirtd.conf and qemu.conf (same names: same lenses)."""
    for name in ("libvirtd.conf", "qemu.conf"):
        shutil.copy2(f"/etc/libvirt/{name}", tmp_path / name)
    (tmp_path / "qemu.conf").chmod(0o600)
    return tmp_path


def active_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_qemu_conf_triad_then_the_file(triad, scratch: Path) -> None:
    conf = scratch / "qemu.conf"
    original = conf.read_text()
    settings = {
        "set_process_name": True,
        "max_files": 32768,
        "cgroup_device_acl": ["/dev/null", "/dev/full", "/dev/kvm"],
        "max_core": "unlimited",
        "vnc_listen": None,  # not set: nothing to remove
    }
    results = triad({"kvmfleet.kvm.libvirt_conf": {"path": str(conf), "settings": settings}})
    assert results[1]["actions"] == [
        "set set_process_name = 1",
        "set max_files = 32768",
        'set cgroup_device_acl = ["/dev/null", "/dev/full", "/dev/kvm"]',
        'set max_core = "unlimited"',
    ]
    assert results[1]["diff"]["after"] == {
        "set_process_name": 1,
        "max_files": 32768,
        "cgroup_device_acl": ["/dev/null", "/dev/full", "/dev/kvm"],
        "max_core": "unlimited",
    }
    assert results[3]["settings"]["vnc_listen"] is None

    # the file itself: exactly those lines added, each under its commented example; mode kept
    text = conf.read_text()
    added = [line for line in text.splitlines() if line not in original.splitlines()]
    assert sorted(added) == sorted(
        [
            "set_process_name = 1",
            "max_files = 32768",
            'cgroup_device_acl = ["/dev/null", "/dev/full", "/dev/kvm"]',
            'max_core = "unlimited"',
        ]
    )
    lines = text.splitlines()
    assert lines[lines.index("set_process_name = 1") - 1].lstrip("#").split("=")[0].strip() == "set_process_name"
    assert oct(os.stat(conf).st_mode & 0o777) == "0o600"


def test_libvirtd_conf_update_and_remove(play, scratch: Path) -> None:
    conf = scratch / "libvirtd.conf"
    conf.write_text("\n".join(line for line in conf.read_text().splitlines() if line.lstrip().startswith("#")) + "\n")
    task = {"name": "conf", "kvmfleet.kvm.libvirt_conf": {"path": str(conf), "settings": {"max_clients": 10}}}
    assert play([task]).result("conf")["changed"] is True
    assert "max_clients = 10" in active_lines(conf)

    task["kvmfleet.kvm.libvirt_conf"]["settings"] = {"max_clients": 20, "listen_tls": False}
    task["kvmfleet.kvm.libvirt_conf"]["backup"] = True
    changed = play([task], diff=True).result("conf")
    assert changed["diff"]["before"] == {"max_clients": 10}
    assert changed["diff"]["after"] == {"max_clients": 20, "listen_tls": 0}
    assert "max_clients = 10" in Path(changed["backup_file"]).read_text()
    assert sorted(active_lines(conf)) == ["listen_tls = 0", "max_clients = 20"]

    task["kvmfleet.kvm.libvirt_conf"]["settings"] = {"max_clients": None}
    removed = play([task], check=True, diff=True).result("conf")
    assert removed["changed"] is True and removed["actions"] == ["remove max_clients"]
    assert "max_clients = 20" in active_lines(conf)  # check mode touched nothing
    assert play([task]).result("conf")["changed"] is True
    assert active_lines(conf) == ["listen_tls = 0"]


def test_bad_settings_fail_naming_each_field_and_touch_nothing(play, scratch: Path) -> None:
    conf = scratch / "libvirtd.conf"
    before = conf.read_text()
    task = {
        "name": "conf",
        "kvmfleet.kvm.libvirt_conf": {
            "path": str(conf),
            "settings": {"max_client": 5, "listen_tcp": "maybe", "unix_sock_group": ["libvirt"], "max_workers": 4},
        },
    }
    failed = play([task]).result("conf")
    assert failed["failed"] is True
    assert failed["errors"] == [
        "settings.max_client: not a setting of libvirtd.conf (per /usr/share/augeas/lenses/libvirtd.aug); "
        "did you mean max_clients?",
        "settings.listen_tcp: expects a boolean (true/false or 1/0), got 'maybe'",
        "settings.unix_sock_group: expects a string, got ['libvirt']",
    ]
    assert conf.read_text() == before


def test_passwords_stay_out_of_the_output(play, scratch: Path) -> None:
    conf = scratch / "qemu.conf"
    task = {"name": "conf", "kvmfleet.kvm.libvirt_conf": {"path": str(conf), "settings": {"vnc_password": "s3cr3t-pw"}}}
    result = play([task], diff=True)
    assert result.result("conf")["changed"] is True
    assert "s3cr3t-pw" not in str(result.data) + result.stderr
    assert 'vnc_password = "s3cr3t-pw"' in active_lines(conf)


def test_unreadable_schema_and_missing_file(play, scratch: Path) -> None:
    odd = scratch / "odd.conf"
    odd.write_text("a = 1\n")
    failed = play([{"name": "conf", "kvmfleet.kvm.libvirt_conf": {"path": str(odd), "settings": {"a": 2}}}])
    assert "cannot read the Augeas lens /usr/share/augeas/lenses/odd.aug" in failed.result("conf")["msg"]
    ok = play(
        [{"name": "conf", "kvmfleet.kvm.libvirt_conf": {"path": str(odd), "settings": {"a": 2}, "schema": "none"}}]
    )
    assert ok.result("conf")["changed"] is True and odd.read_text() == "a = 2\n"
    missing = play(
        [
            {
                "name": "conf",
                "kvmfleet.kvm.libvirt_conf": {
                    "path": str(scratch / "libvirtd.conf.nope"),
                    "settings": {},
                    "schema": "none",
                },
            }
        ]
    )
    assert "cannot read" in missing.result("conf")["msg"]
