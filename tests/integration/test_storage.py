"""kvmfleet.kvm.pool and kvmfleet.kvm.volume on the real libvirtd: triads, then the host itself.

Pools: dir, fs on a loop device over an image file, logical (LVM) on a loop device. Imports come
from an HTTP server on 127.0.0.1 started by a fixture, which also serves a broken download.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kvmtest
import pytest

MiB = 1024 * 1024


# ---------------------------------------------------------------------------------------------- fixtures


class ImageServer:
    """Serves files from a directory on 127.0.0.1; ``/broken/NAME`` sends half the body and closes;
    ``/stalled/NAME`` sends half, sets ``halfway`` and waits for ``release`` before it closes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        self.authorization: list[str] = []
        self.halfway = threading.Event()
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                server.authorization.append(self.headers.get("Authorization", ""))
                broken = self.path.startswith(("/broken/", "/stalled/"))
                path = server.root / self.path.rsplit("/", 1)[-1]
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if broken else data)
                if broken:
                    self.wfile.flush()
                    self.close_connection = True
                if self.path.startswith("/stalled/"):
                    server.halfway.set()
                    server.release.wait(120)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def gets(self, name: str) -> int:
        return sum(1 for path in self.requests if path.endswith("/" + name))

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def images(tmp_path: Path) -> Iterator[tuple[ImageServer, dict[str, str]]]:
    """A qcow2 and a raw image (random data, not zeros) served over HTTP; their sha256 checksums."""
    root = tmp_path / "served"
    root.mkdir()
    raw = root / "data.img"
    raw.write_bytes(os.urandom(9 * MiB + 12345))  # half of it (/stalled/) is more than one 4 MiB transfer chunk
    kvmtest.run_cmd(["qemu-img", "create", "-q", "-f", "qcow2", str(root / "base.qcow2"), "64M"])
    kvmtest.run_cmd(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", str(root / "base.qcow2")])
    sums = {p.name: "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}
    server = ImageServer(root)
    yield server, sums
    server.close()


@pytest.fixture
def dir_pool(conn: Any, prefix: str, tmp_path: Path) -> dict[str, str]:
    """A dir pool made with virsh (not with the module under test)."""
    name, path = f"{prefix}dir", tmp_path / "dirpool"
    kvmtest.virsh("pool-define-as", name, "dir", "--target", str(path))
    kvmtest.virsh("pool-build", name)
    kvmtest.virsh("pool-start", name)
    return {"name": name, "path": str(path)}


@pytest.fixture
def loop_device(conn: Any, prefix: str, tmp_path: Path) -> Iterator[str]:
    """A loop device over a 96 MiB image file; the test's pools go first, then the device is detached."""
    image = tmp_path / "disk.img"
    with open(image, "wb") as handle:
        handle.truncate(96 * MiB)
    device = kvmtest.run_cmd(["losetup", "--find", "--show", str(image)]).strip()
    yield device
    for pool in conn.listAllStoragePools():
        if pool.name().startswith(prefix):
            if pool.isActive():
                pool.destroy()
            if "type='logical'" in pool.XMLDesc(0):
                subprocess.run(["vgremove", "-f", pool.name().replace(prefix, "kvt")], capture_output=True, check=False)
            pool.undefine()
    subprocess.run(["losetup", "-d", device], capture_output=True, check=False)


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, its children's children and so on (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def task(module: str, **options: Any) -> dict[str, Any]:
    return {f"kvmfleet.kvm.{module}": options}


def run_one(module: str, play_vars: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    return kvmtest.run_playbook([{"name": "t", **task(module, **options)}], play_vars=play_vars).result("t")


def pools(prefix: str) -> str:
    """``virsh pool-list --all`` without the pools of other tests (the daemon is shared)."""
    lines = kvmtest.virsh("pool-list", "--all").splitlines()
    return "\n".join(line for line in lines if line.split() and line.split()[0].startswith(prefix))


def definition(pool: str) -> str:
    """The persistent definition without the usage numbers that move with every write to the disk."""
    text = kvmtest.virsh("pool-dumpxml", "--inactive", pool)
    return "\n".join(
        line for line in text.splitlines() if not line.strip().startswith(("<capacity", "<allocation", "<available"))
    )


def volumes(pool: str) -> list[str]:
    kvmtest.virsh("pool-refresh", pool)
    return sorted(line.split()[0] for line in kvmtest.virsh("vol-list", pool).splitlines() if line.strip())


def qemu_info(path: str) -> dict[str, Any]:
    return json.loads(kvmtest.run_cmd(["qemu-img", "info", "-U", "--output=json", path]))


# ---------------------------------------------------------------------------------------------- pools


@kvmtest.BOTH_WAYS
def test_dir_pool_triads_create_permissions_autostart_absent(
    triad, prefix: str, tmp_path: Path, play_vars: dict[str, Any]
) -> None:
    name, target = f"{prefix}p", tmp_path / "pool"
    options = {"name": name, "type": "dir", "target": str(target), "target_mode": "0750", "autostart": True}

    _check, apply, _recheck, _reapply = triad(task("pool", **options))

    assert apply["actions"] == [
        f"define dir pool {name}",
        f"create directory {target}",
        f"start pool {name}",
        f"set pool {name} to start with libvirtd",
    ]
    assert apply["diff"]["before"] == {"state": "absent"} and apply["state"] == "active"
    info = kvmtest.virsh("pool-info", name)
    assert "State:          running" in info and "Autostart:      yes" in info and "Persistent:     yes" in info
    assert oct(target.stat().st_mode & 0o777) == "0o750"

    # owner, group and mode change in place, the pool keeps running
    changed = {**options, "target_mode": "0711", "target_group": "kvm", "autostart": False}
    _check, apply, _recheck, _reapply = triad(task("pool", **changed))
    assert apply["diff"]["before"]["target_mode"] == "0750" and apply["diff"]["after"]["target_mode"] == "0711"
    assert oct(target.stat().st_mode & 0o777) == "0o711"
    assert target.stat().st_gid == int(kvmtest.run_cmd(["getent", "group", "kvm"]).split(":")[2])
    assert "Autostart:      no" in kvmtest.virsh("pool-info", name)
    assert "<mode>0711</mode>" in kvmtest.virsh("pool-dumpxml", "--inactive", name)

    # stopped, started, removed
    _check, apply, _recheck, _reapply = triad(task("pool", name=name, state="inactive"))
    assert apply["actions"] == [f"stop pool {name}"] and "State:          inactive" in kvmtest.virsh("pool-info", name)
    # an inactive dir pool's directory still gets its permissions
    _check, apply, _recheck, _reapply = triad(task("pool", **{**changed, "target_mode": "0700", "state": "inactive"}))
    assert apply["actions"] == [f"set {target} mode 0700"] and oct(target.stat().st_mode & 0o777) == "0o700"
    _check, apply, _recheck, _reapply = triad(task("pool", name=name, state="absent"))
    assert apply["actions"] == ["remove the pool's directory", f"remove the definition of pool {name}"]
    assert name not in pools(prefix) and not target.exists()


def test_pool_with_volumes_is_removed_only_with_remove_volumes(triad, prefix: str, dir_pool: dict[str, str]) -> None:
    name = dir_pool["name"]
    kvmtest.virsh("vol-create-as", name, f"{prefix}v.qcow2", "16M", "--format", "qcow2")
    before = pools(prefix)

    failed = run_one("pool", name=name, state="absent")

    assert failed["failed"] and "set remove_volumes: true to allow it" in failed["msg"]
    assert f"{prefix}v.qcow2" in failed["msg"] and failed["needs_option"] == "remove_volumes"
    assert pools(prefix) == before and volumes(name) == [f"{prefix}v.qcow2"]

    _check, apply, _recheck, _reapply = triad(task("pool", name=name, state="absent", remove_volumes=True))
    assert apply["actions"][0] == f"delete the volumes of pool {name}"
    assert name not in pools(prefix) and not Path(dir_pool["path"]).exists()


def test_changes_libvirt_cannot_make_to_an_active_pool_need_recreate(prefix: str, dir_pool: dict[str, str]) -> None:
    name = dir_pool["name"]
    before = definition(name)

    moved = run_one("pool", name=name, type="dir", target=dir_pool["path"] + "-moved")
    assert moved["failed"] and moved["needs_option"] == "recreate"
    assert "changing target needs it stopped, redefined and started again" in moved["msg"]
    retyped = run_one("pool", name=name, type="netfs", target="/mnt", source={"hosts": ["nfs.example"], "dir": "/x"})
    assert retyped["failed"] and "is a dir pool; making it a netfs pool" in retyped["msg"]
    assert definition(name) == before

    allowed = run_one("pool", name=name, type="dir", target=dir_pool["path"] + "-moved", recreate=True)
    assert allowed["changed"] and allowed["actions"][:2] == [f"stop pool {name}", f"redefine pool {name}: target"]
    assert f"<path>{dir_pool['path']}-moved</path>" in kvmtest.virsh("pool-dumpxml", name)
    assert "State:          running" in kvmtest.virsh("pool-info", name)
    kvmtest.virsh("pool-destroy", name)
    shutil.rmtree(dir_pool["path"] + "-moved")


def test_fs_pool_on_a_loop_device_is_formatted_only_when_blank(
    triad, prefix: str, loop_device: str, tmp_path: Path
) -> None:
    name, target = f"{prefix}fs", tmp_path / "mnt"
    options = {
        "name": name,
        "type": "fs",
        "source": {"devices": [loop_device], "format": "ext4"},
        "target": str(target),
        "target_mode": "0755",
    }

    _check, apply, _recheck, _reapply = triad(task("pool", **options))

    assert apply["actions"][:3] == [
        f"define fs pool {name}",
        f"format {loop_device} as ext4 and create directory {target}",
        f"start pool {name}",
    ]
    assert kvmtest.run_cmd(["blkid", "-p", "-o", "value", "-s", "TYPE", loop_device]).strip() == "ext4"
    mounts = Path("/proc/mounts").read_text()
    assert f"{loop_device} {target} ext4" in mounts
    assert oct(target.stat().st_mode & 0o777) == "0o755"

    # a volume in it, then the pool is redeclared after an undefine: the filesystem is kept
    kvmtest.virsh("vol-create-as", name, f"{prefix}keep.raw", "1M")
    kvmtest.virsh("pool-destroy", name)
    kvmtest.virsh("pool-undefine", name)
    again = run_one("pool", **options)
    assert again["actions"][1] == f"create directory {target} ({loop_device} already holds ext4)"
    assert volumes(name) == [f"{prefix}keep.raw", "lost+found"]

    # started again with other permissions: they apply to the mounted filesystem's root
    kvmtest.virsh("pool-destroy", name)
    _check, apply, _recheck, _reapply = triad(task("pool", **{**options, "target_mode": "0750"}))
    assert apply["actions"] == [f"start pool {name}", f"set {target} mode 0750"]
    assert (
        oct(target.stat().st_mode & 0o777) == "0o750" and f"{loop_device} {target}" in Path("/proc/mounts").read_text()
    )

    # lost+found is the filesystem's, not a volume that blocks removal; the device is not wiped
    _check, apply, _recheck, _reapply = triad(task("pool", name=name, state="absent", remove_volumes=True))
    assert apply["actions"][0] == f"delete the volumes of pool {name}"
    assert f"{loop_device} {target}" not in Path("/proc/mounts").read_text() and name not in pools(prefix)
    assert kvmtest.run_cmd(["blkid", "-p", "-o", "value", "-s", "TYPE", loop_device]).strip() == "ext4"


def test_fs_pool_never_formats_a_device_holding_another_filesystem(
    prefix: str, loop_device: str, tmp_path: Path
) -> None:
    kvmtest.run_cmd(["mkfs.ext2", "-q", "-F", loop_device])
    before = pools(prefix)
    options = {"name": f"{prefix}fs", "type": "fs", "source": {"devices": [loop_device], "format": "ext4"}}

    for check in (True, False):
        outcome = kvmtest.run_playbook(
            [{"name": "t", **task("pool", **options, target=str(tmp_path / "m"))}], check=check
        )
        failed = outcome.result("t")
        assert failed["failed"] and failed["needs_option"] == "overwrite"
        assert f"{loop_device} holds a ext2 filesystem; formatting it as ext4 would destroy its data" in failed["msg"]
    assert pools(prefix) == before
    assert kvmtest.run_cmd(["blkid", "-p", "-o", "value", "-s", "TYPE", loop_device]).strip() == "ext2"

    used = run_one(
        "pool", **{**options, "source": {"devices": [loop_device], "format": "auto"}}, target=str(tmp_path / "m")
    )
    assert not used.get("failed"), used.get("msg")
    assert kvmtest.run_cmd(["blkid", "-p", "-o", "value", "-s", "TYPE", loop_device]).strip() == "ext2"

    kvmtest.virsh("pool-destroy", options["name"])
    kvmtest.virsh("pool-undefine", options["name"])
    overwritten = run_one("pool", **options, target=str(tmp_path / "m"), overwrite=True)
    assert overwritten["actions"][1] == f"format {loop_device} as ext4, destroying its ext2 filesystem"
    assert kvmtest.run_cmd(["blkid", "-p", "-o", "value", "-s", "TYPE", loop_device]).strip() == "ext4"


def test_logical_pool_define_build_start_on_a_loop_device(triad, prefix: str, loop_device: str) -> None:
    name, vg = f"{prefix}lvm", f"kvt{prefix[len('kvt-') : -1]}"
    options = {"name": name, "type": "logical", "source": {"name": vg, "devices": [loop_device]}}

    _check, apply, _recheck, _reapply = triad(task("pool", **options))

    assert apply["actions"] == [
        f"define logical pool {name}",
        f"create volume group {vg} on {loop_device}",
        f"start pool {name}",
    ]
    assert vg in kvmtest.run_cmd(["vgs", "--noheadings", "-o", "vg_name"]).split()
    assert kvmtest.run_cmd(["blkid", "-p", "-o", "value", "-s", "TYPE", loop_device]).strip() == "LVM2_member"
    assert f"<path>/dev/{vg}</path>" in kvmtest.virsh("pool-dumpxml", name)

    # declared again after an undefine: the existing volume group is used, nothing is rebuilt
    kvmtest.virsh("pool-destroy", name)
    kvmtest.virsh("pool-undefine", name)
    again = run_one("pool", **options)
    assert again["actions"] == [f"define logical pool {name}", f"start pool {name}"]


def test_logical_pool_never_takes_a_device_holding_data_without_overwrite(prefix: str, loop_device: str) -> None:
    kvmtest.run_cmd(["mkfs.ext2", "-q", "-F", loop_device])
    name, vg = f"{prefix}lvm", f"kvt{prefix[len('kvt-') : -1]}"
    before = pools(prefix)

    failed = run_one("pool", name=name, type="logical", source={"name": vg, "devices": [loop_device]})

    assert failed["failed"] and failed["needs_option"] == "overwrite"
    assert f"{loop_device} holds ext2; making them LVM physical volumes of {vg} would destroy that" in failed["msg"]
    assert pools(prefix) == before
    assert kvmtest.run_cmd(["blkid", "-p", "-o", "value", "-s", "TYPE", loop_device]).strip() == "ext2"


def test_logical_pool_volume_needs_device_mapper(prefix: str, loop_device: str) -> None:
    if not Path("/dev/mapper/control").exists():
        pytest.skip("LVM logical volumes need device-mapper, which this kernel lacks (no /dev/mapper/control)")
    name, vg = f"{prefix}lvm", f"kvt{prefix[len('kvt-') : -1]}"
    run_one("pool", name=name, type="logical", source={"name": vg, "devices": [loop_device]})
    created = run_one("volume", pool=name, name=f"{prefix}lv", capacity="16MiB", format="raw")
    assert created["changed"] and f"{prefix}lv" in volumes(name)


def test_pool_types_this_host_cannot_run_are_refused_by_libvirt_not_by_validation(prefix: str) -> None:
    """iscsi/rbd/zfs are rendered to XML (tests/unit); here only that the module gets as far as libvirt."""
    caps = kvmtest.virsh("pool-capabilities")
    assert "<pool type='rbd' supported='no'>" in caps
    failed = run_one(
        "pool",
        name=f"{prefix}rbd",
        type="rbd",
        source={"name": "rbd", "hosts": ["127.0.0.1:6789"], "auth": {"type": "ceph", "username": "u"}},
    )
    assert failed["failed"] and "define rbd pool" in failed["msg"]
    assert f"{prefix}rbd" not in pools(prefix)


def test_pools_batch_triad_and_a_bad_item_touches_nothing(triad, prefix: str, tmp_path: Path) -> None:
    first, second = f"{prefix}a", f"{prefix}b"
    items = [
        {"name": first, "type": "dir", "target": str(tmp_path / "a"), "autostart": True},
        {"name": second, "type": "dir", "target": str(tmp_path / "b"), "state": "inactive"},
    ]
    before = pools(prefix)
    bad = run_one("pools", pools=[items[0], {**items[1], "target": "b"}])
    assert bad["failed"] and bad["msg"] == "pools[1].target: 'b' is not an absolute path"
    twice = run_one("pools", pools=[*items, {"name": first}])
    assert twice["failed"] and twice["msg"] == f"pools[2].name: {first} is also the name of pools[0]"
    needs = run_one("pools", pools=[items[0], {"name": f"{prefix}c", "state": "absent"}, {"name": f"{prefix}d"}])
    assert needs["failed"] and needs["msg"] == f"pools[2].type: is required to create storage pool {prefix}d"
    assert pools(prefix) == before and not (tmp_path / "a").exists()

    _check, apply, _recheck, _reapply = triad(task("pools", pools=items))

    assert apply["actions"] == [
        f"{first}: define dir pool {first}",
        f"{first}: create directory {tmp_path / 'a'}",
        f"{first}: start pool {first}",
        f"{first}: set pool {first} to start with libvirtd",
        f"{second}: define dir pool {second}",
        f"{second}: create directory {tmp_path / 'b'}",
    ]
    assert [result["state"] for result in apply["pools"]] == ["active", "inactive"]
    assert "State:          running" in kvmtest.virsh("pool-info", first)
    assert "State:          inactive" in kvmtest.virsh("pool-info", second)


@kvmtest.BOTH_WAYS
def test_bad_pool_inputs_name_their_field_and_change_nothing(prefix: str, play_vars: dict[str, Any]) -> None:
    before = pools(prefix)
    cases = [
        ({"type": "lvm2", "target": "/x"}, "type: must be one of dir, fs, netfs"),
        ({"type": "dir", "target": "relative/dir"}, "target: 'relative/dir' is not an absolute path"),
        (
            {"type": "fs", "target": "/mnt/x", "source": {"devices": ["loop0"]}},
            "source.devices: 'loop0' is not an absolute path",
        ),
        ({"type": "fs", "target": "/mnt/x"}, "source.devices: a fs pool needs source.devices"),
        ({"type": "dir", "target": "/x", "target_mode": "rwx"}, "target_mode: 'rwx' is not an octal mode"),
        ({"type": "dir", "target": "/x", "source": {"name": "vg"}}, "source.name: a dir pool takes no source.name"),
    ]
    for options, message in cases:
        failed = run_one("pool", play_vars, name=f"{prefix}bad", **options)
        assert failed["failed"] and message in failed["msg"], (message, failed["msg"])
    assert pools(prefix) == before


# ---------------------------------------------------------------------------------------------- volumes


def test_volume_create_grow_clone_overlay_delete(triad, prefix: str, dir_pool: dict[str, str]) -> None:
    pool, path = dir_pool["name"], Path(dir_pool["path"])
    vol = f"{prefix}disk.qcow2"

    _check, apply, _recheck, _reapply = triad(task("volume", pool=pool, name=vol, capacity="1GiB"))
    assert apply["actions"] == [f"create volume {vol} (1GiB qcow2)"]
    info = qemu_info(str(path / vol))
    assert info["format"] == "qcow2" and info["virtual-size"] == 1024**3
    assert apply["path"] == str(path / vol)

    _check, apply, _recheck, _reapply = triad(task("volume", pool=pool, name=vol, capacity="1536MiB"))
    assert apply["actions"] == [f"grow volume {vol} from 1GiB to 1536MiB"]
    assert apply["diff"] == {**apply["diff"], "before": {"capacity": "1GiB"}, "after": {"capacity": "1536MiB"}}
    assert qemu_info(str(path / vol))["virtual-size"] == 1536 * MiB

    shrink = run_one("volume", pool=pool, name=vol, capacity="1GiB")
    assert shrink["failed"] and shrink["msg"].startswith(f"capacity: shrinking {vol} from 1536MiB to 1GiB is refused")
    assert qemu_info(str(path / vol))["virtual-size"] == 1536 * MiB
    other_format = run_one("volume", pool=pool, name=vol, format="raw")
    assert other_format["failed"] and "format: volume" in other_format["msg"] and "state: absent" in other_format["msg"]

    clone = f"{prefix}clone.raw"
    _check, apply, _recheck, _reapply = triad(task("volume", pool=pool, name=clone, clone_from=vol, format="raw"))
    assert apply["actions"] == [f"clone volume {vol} to {clone} (1536MiB raw)"]
    assert qemu_info(str(path / clone))["format"] == "raw"

    overlay = f"{prefix}overlay.qcow2"
    _check, apply, _recheck, _reapply = triad(
        task("volume", pool=pool, name=overlay, backing_image=vol, capacity="2GiB")
    )
    info = qemu_info(str(path / overlay))
    assert info["backing-filename"] == str(path / vol) and info["virtual-size"] == 2 * 1024**3

    _check, apply, _recheck, _reapply = triad(task("volume", pool=pool, name=clone, state="absent", wipe=True))
    assert apply["actions"] == [f"wipe volume {clone} (1536MiB)", f"delete volume {clone} ({path / clone})"]
    assert clone not in volumes(pool) and not (path / clone).exists()


@kvmtest.BOTH_WAYS
def test_import_from_url_is_fetched_once_per_pool(
    triad, images, dir_pool: dict[str, str], play_vars: dict[str, Any]
) -> None:
    server, sums = images
    pool, path = dir_pool["name"], Path(dir_pool["path"])
    options = {"pool": pool, "url": f"{server.url}/base.qcow2", "checksum": sums["base.qcow2"]}
    cached = f"base-sha256-{sums['base.qcow2'][7:23]}.qcow2"

    _check, apply, _recheck, _reapply = triad(task("volume", **options))

    assert apply["name"] == cached and apply["format"] == "qcow2"
    assert apply["actions"] == [
        f"import {server.url}/base.qcow2 as volume {cached} (sha256 verified, written into {path})"
    ]
    assert server.gets("base.qcow2") == 1, "fetched once; the reruns found the volume by its name"
    assert "sha256:" + hashlib.sha256((path / cached).read_bytes()).hexdigest() == sums["base.qcow2"]
    assert qemu_info(str(path / cached))["format"] == "qcow2"
    assert "<format type='qcow2'/>" in kvmtest.virsh("vol-dumpxml", "--pool", pool, cached)
    assert [p.name for p in path.iterdir() if p.name.startswith(".")] == []


@kvmtest.BOTH_WAYS
def test_import_by_stream_upload(
    triad, images, prefix: str, dir_pool: dict[str, str], tmp_path: Path, play_vars: dict[str, Any]
) -> None:
    server, sums = images
    pool, path = dir_pool["name"], Path(dir_pool["path"])
    staging = tmp_path / "staging"
    staging.mkdir()
    name = f"{prefix}data.img"
    options = {
        "pool": pool,
        "name": name,
        "url": f"{server.url}/data.img",
        "checksum": sums["data.img"],
        "transfer": "stream",
        "tmp_dir": str(staging),
    }

    _check, apply, _recheck, _reapply = triad(task("volume", **options))

    assert apply["actions"] == [
        f"import {server.url}/data.img as volume {name} (sha256 verified, uploaded over libvirt's stream)"
    ]
    assert "sha256:" + hashlib.sha256((path / name).read_bytes()).hexdigest() == sums["data.img"]
    assert list(staging.iterdir()) == []


def test_stream_import_on_a_reflink_filesystem_shares_the_verified_blocks(
    images, prefix: str, conn: Any, tmp_path: Path
) -> None:
    """On XFS with reflinks the verified staging volume becomes the final volume without a second copy:
    an image larger than half the free space is imported (a byte copy would run out of space)."""
    server, _sums = images
    image = tmp_path / "xfs.img"
    with open(image, "wb") as handle:
        handle.truncate(512 * MiB)
    kvmtest.run_cmd(["mkfs.xfs", "-q", "-m", "reflink=1", str(image)])
    device = kvmtest.run_cmd(["losetup", "--find", "--show", str(image)]).strip()
    mount = tmp_path / "xfs"
    mount.mkdir()
    pool = f"{prefix}xfs"
    try:
        kvmtest.run_cmd(["mount", device, str(mount)])
        kvmtest.virsh("pool-define-as", pool, "dir", "--target", str(mount))
        kvmtest.virsh("pool-start", pool)
        free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        data = os.urandom(free * 3 // 5 // MiB * MiB)  # more than half the free space, less than all of it
        (server.root / "big.img").write_bytes(data)
        checksum = "sha256:" + hashlib.sha256(data).hexdigest()
        name = f"{prefix}big.img"
        options = {"pool": pool, "name": name, "url": f"{server.url}/big.img", "checksum": checksum}
        result = run_one("volume", **options, transfer="stream")
        assert result["changed"] and not result.get("failed"), result.get("msg")
        assert volumes(pool) == [name]  # the staging volume is gone
        assert "sha256:" + hashlib.sha256((mount / name).read_bytes()).hexdigest() == checksum
    finally:
        subprocess.run(["virsh", "-c", kvmtest.SYSTEM_URI, "pool-destroy", pool], capture_output=True, check=False)
        subprocess.run(["virsh", "-c", kvmtest.SYSTEM_URI, "pool-undefine", pool], capture_output=True, check=False)
        subprocess.run(["umount", str(mount)], capture_output=True, check=False)
        subprocess.run(["losetup", "-d", device], capture_output=True, check=False)


@kvmtest.BOTH_WAYS
def test_import_of_a_controller_file_goes_through_the_action_plugin(
    triad, images, prefix: str, dir_pool: dict[str, str], play_vars: dict[str, Any]
) -> None:
    server, sums = images
    pool, path = dir_pool["name"], Path(dir_pool["path"])
    name = f"{prefix}from-controller.img"
    options = {"pool": pool, "name": name, "src": str(server.root / "data.img"), "checksum": sums["data.img"]}

    _check, apply, _recheck, _reapply = triad(task("volume", **options))

    assert apply["actions"] == [f"import file data.img as volume {name} (sha256 verified, written into {path})"]
    assert apply["src"] == options["src"]
    assert (path / name).read_bytes() == (server.root / "data.img").read_bytes()
    assert server.requests == []


@kvmtest.BOTH_WAYS
def test_url_headers_are_sent_and_never_shown(
    images, prefix: str, dir_pool: dict[str, str], play_vars: dict[str, Any]
) -> None:
    server, sums = images
    token = f"Bearer {prefix}secret-token"
    outcome = kvmtest.run_playbook(
        [
            {
                "name": "t",
                **task(
                    "volume",
                    pool=dir_pool["name"],
                    name=f"{prefix}auth.img",
                    url=f"{server.url}/data.img",
                    checksum=sums["data.img"],
                    url_headers={"Authorization": token},
                ),
            }
        ],
        diff=True,
        play_vars=play_vars,
    )
    assert outcome.result("t")["changed"]
    assert server.authorization == [token]
    assert "secret-token" not in json.dumps(outcome.data) and "secret-token" not in outcome.stderr


@kvmtest.BOTH_WAYS
@pytest.mark.parametrize("transfer", ["auto", "stream"])
def test_bad_checksum_and_broken_download_leave_nothing(
    images, prefix: str, dir_pool: dict[str, str], tmp_path: Path, transfer: str, play_vars: dict[str, Any]
) -> None:
    server, sums = images
    pool, path = dir_pool["name"], Path(dir_pool["path"])
    staging = tmp_path / "staging"
    staging.mkdir()
    before = volumes(pool)
    common = {"pool": pool, "name": f"{prefix}x.img", "transfer": transfer, "tmp_dir": str(staging)}

    wrong = run_one("volume", play_vars, **common, url=f"{server.url}/data.img", checksum="sha256:" + "0" * 64)
    assert wrong["failed"] and wrong["msg"].startswith("checksum: ") and "nothing was kept" in wrong["msg"]
    assert wrong["actual_checksum"] == sums["data.img"]

    broken = run_one("volume", play_vars, **common, url=f"{server.url}/broken/data.img", checksum=sums["data.img"])
    assert broken["failed"] and ("broke off" in broken["msg"] or "ended after" in broken["msg"]), broken["msg"]

    assert volumes(pool) == before
    assert list(path.iterdir()) == [] and list(staging.iterdir()) == []


def test_a_killed_stream_import_leaves_no_volume_under_its_name(
    images, prefix: str, dir_pool: dict[str, str], tmp_path: Path
) -> None:
    """The run is killed (SIGKILL) in the middle of the upload; the next run removes its staging volume."""
    server, sums = images
    pool, path = dir_pool["name"], Path(dir_pool["path"])
    name = f"{prefix}killed.img"
    options = {"pool": pool, "name": name, "checksum": sums["data.img"], "transfer": "stream"}
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [{"name": "t", **task("volume", **options, url=f"{server.url}/stalled/data.img")}],
        }
    ]
    playbook = tmp_path / "killed.yml"
    playbook.write_text(json.dumps(play))
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            [str(kvmtest.VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)],
            env=kvmtest.ansible_env(),
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        try:
            assert server.halfway.wait(120), "the import never started"
            deadline = time.monotonic() + 60
            while not [p for p in path.iterdir() if p.name.startswith(f".{name}.kvmfleet-part-")]:
                assert time.monotonic() < deadline and proc.poll() is None, "no staging volume appeared"
                time.sleep(0.2)
        finally:
            for pid in [*descendants(proc.pid), proc.pid]:  # Ansible's workers leave the process group
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait()
            server.release.set()

    leftovers = [p for p in path.iterdir() if p.name.startswith(f".{name}.kvmfleet-part-")]
    assert len(leftovers) == 1 and name not in volumes(pool), "only the hidden staging volume is left"

    # another machine's staging volume of that name, written to just now: its upload may be under way
    foreign = path / f".{name}.kvmfleet-part-{int(time.time())}-0badcafe-1-feed"
    foreign.write_bytes(b"partial")
    # the killed run's names this machine and a process that is gone: the next run removes it at once
    fresh = run_one("volume", **options, url=f"{server.url}/data.img")
    assert fresh["changed"] and not leftovers[0].exists() and foreign.exists()
    kvmtest.virsh("vol-delete", "--pool", pool, name)
    old = time.time() - 3600  # once the other machine's has had no write for long, it goes
    os.utime(foreign, (old, old))
    again = run_one("volume", **options, url=f"{server.url}/data.img")
    assert again["changed"] and not foreign.exists()
    assert "sha256:" + hashlib.sha256((path / name).read_bytes()).hexdigest() == sums["data.img"]
    assert volumes(pool) == [name]


@kvmtest.BOTH_WAYS
def test_bad_volume_inputs_name_their_field_and_change_nothing(
    prefix: str, dir_pool: dict[str, str], play_vars: dict[str, Any]
) -> None:
    pool = dir_pool["name"]
    kvmtest.virsh("vol-create-as", pool, f"{prefix}v.qcow2", "64M", "--format", "qcow2")
    before = volumes(pool)
    digest = "a" * 64
    cases = [
        ({"name": f"{prefix}n", "capacity": "-1GiB"}, "capacity: "),
        ({"name": f"{prefix}v.qcow2", "capacity": "32MiB"}, "capacity: shrinking"),
        ({"name": f"{prefix}n", "url": "http://127.0.0.1:9/x.img", "checksum": digest}, "checksum: give the algorithm"),
        (
            {"name": f"{prefix}n", "url": "http://127.0.0.1:9/x.img", "checksum": "md5:" + digest[:32]},
            "checksum: unsupported algorithm 'md5'",
        ),
        ({"name": f"{prefix}n", "url": "http://127.0.0.1:9/x.img"}, "checksum: an import needs a checksum"),
        (
            {"name": f"{prefix}n", "src": "rel/x.img", "remote_src": True, "checksum": "sha256:" + digest},
            "src: 'rel/x.img' is not an absolute path",
        ),
        ({"name": f"{prefix}n", "capacity": "1GiB", "tmp_dir": "tmp"}, "tmp_dir: 'tmp' is not an absolute path"),
        ({"name": f"{prefix}n"}, f"capacity: is required to create volume {prefix}n"),
        ({"name": "a/b", "capacity": "1GiB"}, "name: 'a/b' is not a volume name"),
    ]
    for options, message in cases:
        failed = run_one("volume", play_vars, pool=pool, **options)
        assert failed["failed"] and message in failed["msg"], (message, failed["msg"])
    missing_pool = run_one("volume", play_vars, pool=f"{prefix}nope", name=f"{prefix}n", capacity="1GiB")
    assert missing_pool["failed"] and f"pool: no storage pool {prefix}nope" in missing_pool["msg"]
    assert volumes(pool) == before


# ---------------------------------------------------------------------------------------------- the storage role


def test_storage_role_in_check_mode_on_a_fresh_host_then_applied(images, prefix: str, tmp_path: Path) -> None:
    """Check mode first: the pool is only predicted, the imports into it are predicted too."""
    server, sums = images
    pool, target = f"{prefix}role", tmp_path / "rolepool"
    token = f"Bearer {prefix}role-secret"
    role = {
        "role": "kvmfleet.kvm.storage",
        "vars": {
            "storage_pools": [{"name": pool, "type": "dir", "target": str(target)}],
            "storage_images": [
                {"pool": pool, "url": f"{server.url}/base.qcow2", "checksum": sums["base.qcow2"]},
                {
                    "pool": pool,
                    "url": f"{server.url}/data.img",
                    "checksum": sums["data.img"],
                    "url_headers": {"Authorization": token},
                },
            ],
        },
    }
    images_task = (
        "kvmfleet.kvm.storage : Fetch the base images (once per pool; the checksum is verified before a volume appears)"
    )
    cached = [f"base-sha256-{sums['base.qcow2'][7:23]}.qcow2", f"data-sha256-{sums['data.img'][7:23]}.img"]

    check = kvmtest.run_playbook([], check=True, roles=[role])
    assert check.rc == 0, check.stderr
    predicted = check.result(images_task)["results"]
    assert predicted[0]["changed"] and predicted[0]["actions"] == [
        f"import {server.url}/base.qcow2 as volume {cached[0]} "
        f"(sha256 verified, into pool {pool}, which does not exist yet)"
    ]
    assert predicted[1]["changed"] and "censored" in predicted[1]
    assert pool not in pools(prefix) and not target.exists() and server.requests == []

    applied = kvmtest.run_playbook([], roles=[role])
    assert applied.rc == 0 and [item["changed"] for item in applied.result(images_task)["results"]] == [True, True]
    assert volumes(pool) == cached and server.authorization == ["", token]
    assert "role-secret" not in json.dumps(applied.data) + json.dumps(check.data) + applied.stderr + check.stderr

    again = kvmtest.run_playbook([], check=True, roles=[role])
    assert again.rc == 0 and not again.result(images_task)["changed"]
