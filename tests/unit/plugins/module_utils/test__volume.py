"""Volumes: the table, XML writer and reader, cache names, streaming copy with hashing, and the
planner on libvirt's test:///default driver."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import os
import secrets
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _progress
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import leftovers, ops, transfer
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.options import VOLUME_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.plan import VolumePlanner, cache_name, converge
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.xml import read_volume

URI = "test:///default"
SHA = "sha256:" + "ab" * 32


@pytest.fixture
def conn() -> Iterator[Any]:
    connection = connect(URI)
    yield connection
    connection.close()


def values(**options: Any) -> dict[str, Any]:
    validated, problems = VOLUME_MODULE.validate(options)
    assert problems == []
    validated["tmp_dir"] = validated["tmp_dir"] or "/tmp"
    return validated


# ---------------------------------------------------------------------------------------------- table


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"name": "v", "capacity": "-1G"}, ("capacity", "a size cannot be negative")),
        ({"name": "v", "capacity": "1XB"}, ("capacity", "unknown unit 'XB'")),
        ({"name": "v", "capacity": "512K"}, ("capacity", "must be at least 1MiB")),
        ({"url": "http://h/x.img", "checksum": "ab" * 32}, ("checksum", "give the algorithm and the digest")),
        ({"url": "http://h/x.img", "checksum": "sha1:" + "a" * 40}, ("checksum", "unsupported algorithm 'sha1'")),
        ({"url": "http://h/x.img", "checksum": "sha512:" + "a" * 64}, ("checksum", "a sha512 digest is 128 hex")),
        ({"url": "http://h/x.img"}, ("checksum", "an import needs a checksum")),
        ({"url": "h/x.img", "checksum": SHA}, ("url", "is not an http, https, ftp or file URL")),
        ({"url": "http://h/x", "src": "/x", "checksum": SHA}, ("src", "excludes url")),
        (
            {"url": "http://h/x", "checksum": SHA, "capacity": "1G"},
            ("capacity", "an import takes the image's own size"),
        ),
        ({"name": "v", "capacity": 1, "checksum": SHA}, ("checksum", "applies to imports")),
        ({"capacity": 1}, ("name", "is required unless the volume is imported")),
        ({"name": "v", "src": "x.img", "remote_src": True, "checksum": SHA}, ("src", "is not an absolute path")),
        (
            {"name": "v", "backing_image": "b", "format": "raw"},
            ("format", "an overlay on a backing image must be qcow2"),
        ),
        ({"name": "v", "wipe": True}, ("wipe", "applies to state: absent")),
        ({"name": "a/b", "capacity": 1}, ("name", "is not a volume name")),
        ({"name": "v", "capacity": 1, "tmp_dir": "rel"}, ("tmp_dir", "is not an absolute path")),
    ],
)
def test_table_names_the_field(options: dict[str, Any], problem: tuple[str, str]) -> None:
    _values, problems = VOLUME_MODULE.validate(options)
    assert any(path == problem[0] and problem[1] in message for path, message in problems), problems


def test_checksum_is_normalised() -> None:
    assert values(url="http://h/x", checksum="SHA256: " + "AB" * 32)["checksum"] == SHA


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ({"url": "https://h/images/debian-12.qcow2?x=1"}, "debian-12-sha256-abababababababab.qcow2"),
        ({"url": "https://h/dl/cloud%20image.img"}, "cloud-image-sha256-abababababababab.img"),
        ({"url": "https://h/download"}, "download-sha256-abababababababab"),
        ({"url": "https://h/"}, "image-sha256-abababababababab"),
        ({"src": "/srv/base.raw", "url": None}, "base-sha256-abababababababab.raw"),
    ],
)
def test_cache_name_carries_the_checksum(source: dict[str, Any], name: str) -> None:
    assert cache_name({"url": None, "src": None, "checksum": SHA, **source}) == name


# ---------------------------------------------------------------------------------------------- XML


@pytest.mark.parametrize(
    ("volume_format", "driver"),
    [("qcow2", "qcow2"), ("raw", "raw"), ("iso", "raw"), ("dir", "raw"), (None, "raw"), ("vmdk", "vmdk")],
)
def test_driver_type(volume_format: str | None, driver: str) -> None:
    assert ops.driver_type(volume_format) == driver


def test_overlay_volume_xml_round_trip() -> None:
    xml = ops.volume_xml("web-vda.qcow2", 2 * 1024**3, "qcow2", ("/pool/base.qcow2", "qcow2"))
    root = ET.fromstring(xml)
    assert root.find("capacity").get("unit") == "bytes" and root.findtext("allocation") == "0"
    assert root.findtext("target/compat") == "1.1"  # qcow2 version 3: dirty bitmaps, zero clusters
    assert read_volume(xml) == {
        "name": "web-vda.qcow2",
        "capacity": 2 * 1024**3,
        "allocation": 0,
        "format": "qcow2",
        "path": None,
        "backing": "/pool/base.qcow2",
        "backing_format": "qcow2",
    }


def test_raw_volume_is_preallocated_unless_sparse_is_asked() -> None:
    assert ET.fromstring(ops.volume_xml("seed.iso", 4096, "raw")).find("allocation") is None
    assert ET.fromstring(ops.volume_xml("i.img", 4096, "raw", allocation=0)).findtext("allocation") == "0"


@pytest.mark.parametrize(
    ("kind", "fmt", "allocation", "expected"),
    [
        # pools of files: qcow2 starts sparse, raw is allocated in full (no element) unless sparse is asked
        ("dir", "qcow2", None, ("qcow2", "0")),
        ("fs", "raw", None, ("raw", None)),
        ("netfs", "raw", 0, ("raw", "0")),
        # block pools: raw, allocation = capacity whatever is asked (an LVM snapshot LV otherwise)
        ("logical", "raw", None, ("raw", "8388608")),
        ("logical", "raw", 0, ("raw", "8388608")),
        ("zfs", "raw", 0, ("raw", "8388608")),
        ("rbd", "raw", None, ("raw", "8388608")),
        ("iscsi", "raw", None, ("raw", "8388608")),
    ],
)
def test_new_volume_xml_per_pool_type(kind: str, fmt: str, allocation: int | None, expected: tuple) -> None:
    root = ET.fromstring(ops.new_volume_xml(kind, "v", 8 * 1024**2, fmt, allocation=allocation))
    assert (root.find("target/format").get("type"), root.findtext("allocation")) == expected
    assert root.findtext("capacity") == str(8 * 1024**2)


@pytest.mark.parametrize("kind", ["logical", "zfs", "rbd"])
def test_block_pools_refuse_qcow2_and_overlays(kind: str) -> None:
    with pytest.raises(KvmFleetError, match=f"volume v: a {kind} pool holds raw volumes only"):
        ops.new_volume_xml(kind, "v", 8 * 1024**2, "qcow2")
    with pytest.raises(KvmFleetError, match="qcow2 images and overlays need a dir, fs or netfs pool"):
        ops.new_volume_xml(kind, "v", 8 * 1024**2, "raw", ("/pool/base.qcow2", "qcow2"))


def test_reader_honours_units() -> None:
    xml = "<volume><name>v</name><capacity unit='GiB'>2</capacity><target><format type='raw'/></target></volume>"
    assert read_volume(xml)["capacity"] == 2 * 1024**3


# ---------------------------------------------------------------------------------------------- transfer


class Broken(io.BytesIO):
    """A source that breaks off after its first read."""

    def readinto(self, buffer: Any) -> int:
        if self.tell() > 0:
            raise ConnectionResetError("peer closed")
        return super().readinto(buffer)


class NoReadinto:
    """A source with ``read`` only (an unusual URL handler), handing out a few bytes per call."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def read(self, size: int) -> bytes:
        return self.data.read(min(size, 1000))


def copied(tmp_path: Path, source: Any, length: int | None, algorithm: str = "sha256", **kw: Any) -> tuple[Any, bytes]:
    target = tmp_path / "target"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        result = transfer.copy_hashed(source, fd, algorithm, length, "x", **kw)
    finally:
        os.close(fd)
    return result, target.read_bytes()


@pytest.mark.parametrize("durable", [True, False])
@pytest.mark.parametrize("size", [3 * ops.CHUNK + 17, 2 * ops.CHUNK, 5, 0])
def test_copy_hashed_streams_and_hashes(tmp_path: Path, size: int, durable: bool) -> None:
    """Aligned and unaligned sizes (an O_DIRECT writer switches to the page cache for the tail)."""
    data = secrets.token_bytes(size)
    (total, digest), written = copied(tmp_path, io.BytesIO(data), size, "sha512", durable=durable)
    assert total == size and digest == hashlib.sha512(data).hexdigest() and written == data


def test_copy_hashed_reports_its_stage_and_how_far_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "INTERVAL", 0.0)  # every chunk
    seen: list[tuple[str, bool]] = []
    data = secrets.token_bytes(3 * ops.CHUNK)
    with _progress.reporting(lambda message, stage: seen.append((message, stage))):
        (total, _digest), _written = copied(tmp_path, io.BytesIO(data), len(data))
    assert total == len(data) and seen[0] == ("importing x", True)
    assert seen[-1][0].startswith(f"importing x: {len(data) / 2**20:.0f} of {len(data) / 2**20:.0f} MiB (100%), ")
    assert not any(stage for _message, stage in seen[1:])


def test_copy_hashed_reads_sources_without_readinto(tmp_path: Path) -> None:
    data = secrets.token_bytes(ops.CHUNK + 4321)
    (total, digest), written = copied(tmp_path, NoReadinto(data), None)
    assert total == len(data) and digest == hashlib.sha256(data).hexdigest() and written == data


def test_copy_hashed_without_o_direct_writes_back_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A filesystem that refuses O_DIRECT: page-cache writes, write-back started behind the writer."""
    advised: list[tuple[int, int]] = []
    monkeypatch.setattr(transfer, "_direct_io", lambda fd, on: False)
    monkeypatch.setattr(transfer.os, "posix_fadvise", lambda fd, offset, size, advice: advised.append((offset, size)))
    data = secrets.token_bytes(8 * ops.CHUNK + 1)
    (total, _digest), written = copied(tmp_path, io.BytesIO(data), len(data))
    assert total == len(data) and written == data
    lag = transfer.WRITEBACK_LAG
    assert advised[0] == (0, ops.CHUNK) and advised[-1][0] + advised[-1][1] == len(data) - lag
    assert all(a[0] + a[1] == b[0] for a, b in zip(advised, advised[1:]))  # each byte advised once


def test_copy_hashed_falls_back_when_an_o_direct_write_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem that takes the O_DIRECT flag but refuses the writes (EINVAL): page-cache writes."""
    real_write, refused = os.write, []

    def write(fd: int, data: Any) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(transfer.os, "write", write)
    data = secrets.token_bytes(2 * ops.CHUNK + 3)
    (total, _digest), written = copied(tmp_path, io.BytesIO(data), len(data))
    assert refused == [ops.CHUNK] and total == len(data) and written == data


@pytest.mark.parametrize(
    ("source", "length", "message"),
    [
        (Broken(b"x" * (2 * ops.CHUNK)), None, f"broke off after {ops.CHUNK} bytes"),
        (io.BytesIO(b"abc"), 10, "after 3 of 10"),
    ],
)
def test_copy_hashed_reports_short_transfers(tmp_path: Path, source: Any, length: int | None, message: str) -> None:
    with pytest.raises(transfer.TransferFailed, match=message):
        copied(tmp_path, source, length)


def test_copy_hashed_reports_a_failed_write(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "target", os.O_RDONLY | os.O_CREAT, 0o600)  # not writable: EBADF
    try:
        with pytest.raises(transfer.TransferFailed, match=r"broke off after .* Bad file descriptor"):
            transfer.copy_hashed(io.BytesIO(b"x" * (3 * ops.CHUNK)), fd, "sha256", None, "x")
    finally:
        os.close(fd)


def test_read_ahead_hands_out_each_chunk_in_order() -> None:
    data = secrets.token_bytes(5 * ops.CHUNK + 1)
    chunks = [bytes(view) for view in ops.read_ahead(io.BytesIO(data))]
    assert [len(c) for c in chunks] == [ops.CHUNK] * 5 + [1] and b"".join(chunks) == data


def test_verify_mismatch_names_checksum() -> None:
    with pytest.raises(transfer.ChecksumMismatch, match=r"^checksum: x has sha256 00"):
        transfer.verify(SHA, "00" * 32, "x")


def test_direct_import_of_a_bad_file_leaves_nothing(conn: Any, tmp_path: Path) -> None:
    image = tmp_path / "img.raw"
    image.write_bytes(b"data" * 1000)
    pool_dir = tmp_path / "pool"
    pool_dir.mkdir()
    want = {"url": None, "src": str(image), "checksum": SHA, "format": None}
    with pytest.raises(transfer.ChecksumMismatch):
        transfer.import_direct(want, conn.storagePoolLookupByName("default-pool"), str(pool_dir), "v.img")
    assert list(pool_dir.iterdir()) == []


def test_partials_of_killed_runs_are_removed_and_one_being_written_is_kept(tmp_path: Path) -> None:
    names = (".v.img.kvmfleet-part-1", ".v.img.kvmfleet-part-2", ".v.img.kvmfleet-part-3", "w.img")
    stale, killed, written, other = (tmp_path / name for name in names)
    for path in (stale, killed, written, other):
        path.write_bytes(b"x")
    old = time.time() - leftovers.STALE_PARTIAL - 5
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    fd = os.open(written, os.O_WRONLY)
    try:
        leftovers.hold(fd)  # an import in progress (in another process: flock locks are per open file)
        leftovers.remove_stale_partials(str(tmp_path), "v.img")
    finally:
        os.close(fd)
    # the killed run's lock died with it: fresh or old, a partial file nobody holds goes
    assert sorted(p.name for p in tmp_path.iterdir()) == [".v.img.kvmfleet-part-3", "w.img"]


class FakePool:
    """Records createXMLFrom calls; refuses reflinks like libvirt on a filesystem without them."""

    def __init__(self, reflinks: bool) -> None:
        self.reflinks = reflinks
        self.calls: list[int] = []

    def createXMLFrom(self, xml: str, source: Any, flags: int) -> None:  # noqa: N802 (libvirt's name)
        self.calls.append(flags)
        if flags and not self.reflinks:
            raise libvirt.libvirtError("reflink is not supported on this filesystem")


@pytest.mark.parametrize(
    ("reflink", "reflinks", "calls"),
    [
        (True, True, [libvirt.VIR_STORAGE_VOL_CREATE_REFLINK]),
        (True, False, [libvirt.VIR_STORAGE_VOL_CREATE_REFLINK, 0]),
        (False, True, [0]),
    ],
)
def test_verified_copy_is_a_reflink_where_the_filesystem_has_them(
    reflink: bool, reflinks: bool, calls: list[int]
) -> None:
    pool = FakePool(reflinks)
    transfer._copy_volume(pool, "<volume/>", object(), reflink=reflink)
    assert pool.calls == calls


def test_direct_import_refuses_a_format_mismatch(conn: Any, tmp_path: Path) -> None:
    image = tmp_path / "img.raw"
    image.write_bytes(b"raw data")
    pool_dir = tmp_path / "pool"
    pool_dir.mkdir()
    want = {"url": None, "src": str(image), "checksum": "sha256:" + hashlib.sha256(b"raw data").hexdigest()}
    with pytest.raises(Exception, match=r"format: .* is a raw image, not qcow2"):
        pool = conn.storagePoolLookupByName("default-pool")
        transfer.import_direct({**want, "format": "qcow2"}, pool, str(pool_dir), "v.img")
    assert list(pool_dir.iterdir()) == []


def test_an_image_larger_than_the_free_space_is_refused_before_a_file_is_made(conn: Any, tmp_path: Path) -> None:
    pool = conn.storagePoolLookupByName("default-pool")
    free = pool.info()[3]
    with pytest.raises(transfer.NoSpace) as caught:
        transfer.check_room(pool, free + 1, "big.img")
    assert caught.value.msg.startswith("pool default-pool: ") and "free, big.img is " in caught.value.msg
    assert caught.value.details == {"pool": "default-pool", "available": free, "needed": free + 1}
    transfer.check_room(pool, free, "fits.img")
    transfer.check_room(pool, None, "unknown length")  # learnt on the way: a full disk is reported then


# ---------------------------------------------------------------------------------------------- planner


def test_planner_create_grow_and_refusals_on_the_test_driver(conn: Any) -> None:
    name = f"unit-{secrets.token_hex(3)}.img"
    common = {"pool": "default-pool", "name": name, "format": "raw"}
    created = converge(conn, URI, values(**common, capacity="2MiB"), check_mode=False)
    try:
        assert created["actions"] == [f"create volume {name} (2MiB raw)"] and created["capacity"] == 2 * 1024**2
        assert converge(conn, URI, values(**common, capacity="2MiB"), check_mode=False)["changed"] is False
        check = converge(conn, URI, values(**common, capacity="3MiB"), check_mode=True)
        assert check["actions"] == [f"grow volume {name} from 2MiB to 3MiB"]
        assert check["diff"]["before"] == {"capacity": "2MiB"} and check["diff"]["after"] == {"capacity": "3MiB"}
        vol = ops.find_volume(ops.find_pool(conn, "default-pool"), name)
        assert ops.volume_facts(vol)["capacity"] == 2 * 1024**2  # check mode changed nothing
        with pytest.raises(ValidationError, match="capacity: shrinking"):
            VolumePlanner(conn, URI, values(**common, capacity="1MiB")).make()
    finally:
        ops.find_volume(ops.find_pool(conn, "default-pool"), name).delete(0)


def test_absent_in_a_missing_pool_is_no_change(conn: Any) -> None:
    assert converge(conn, URI, values(pool="nope", name="v", state="absent"), check_mode=False)["changed"] is False


def test_planner_names_a_missing_pool_and_source(conn: Any) -> None:
    with pytest.raises(ValidationError, match=r"^pool: no storage pool nope"):
        VolumePlanner(conn, URI, values(pool="nope", name="v", capacity=1)).make()
    with pytest.raises(ValidationError, match=r"^clone_from: no volume missing in pool default-pool"):
        VolumePlanner(conn, URI, values(pool="default-pool", name="v", clone_from="missing")).make()


@pytest.fixture
def lvm_pool(conn: Any) -> Iterator[Any]:
    """A logical pool on the test driver (no LVM is touched: the driver keeps everything in memory)."""
    name = f"unit-vg-{secrets.token_hex(3)}"
    pool = conn.storagePoolCreateXML(
        f"<pool type='logical'><name>{name}</name><source><name>{name}</name></source>"
        f"<target><path>/dev/{name}</path></target></pool>",
        0,
    )
    yield pool
    for vol in pool.listAllVolumes(0):
        vol.delete(0)
    pool.destroy()


def test_blank_volume_in_a_logical_pool_is_raw_and_fully_allocated(conn: Any, lvm_pool: Any) -> None:
    common = {"pool": lvm_pool.name(), "name": "lv0"}
    check = converge(conn, URI, values(**common, capacity="16MiB"), check_mode=True)
    assert check["actions"] == ["create volume lv0 (16MiB raw)"] and check["format"] == "raw"
    created = converge(conn, URI, values(**common, capacity="16MiB"), check_mode=False)
    assert created["actions"] == check["actions"]
    facts = read_volume(lvm_pool.storageVolLookupByName("lv0").XMLDesc(0))
    assert facts["capacity"] == facts["allocation"] == 16 * 1024**2


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"name": "lv1", "capacity": "16MiB", "format": "qcow2"}, "format"),
        ({"name": "lv1", "backing_image": "lv0"}, "backing_image"),
        ({"url": "http://h/x.qcow2", "checksum": SHA, "format": "qcow2"}, "format"),
    ],
)
def test_logical_pool_refuses_qcow2_naming_the_field(
    conn: Any, lvm_pool: Any, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=rf"^{field}: pool {lvm_pool.name()}: a logical pool holds raw volumes"):
        VolumePlanner(conn, URI, values(pool=lvm_pool.name(), **options)).make()
    assert lvm_pool.listAllVolumes(0) == []


def test_qcow2_image_into_a_logical_pool_is_refused_before_any_volume(conn: Any, lvm_pool: Any, tmp_path: Path) -> None:
    image = tmp_path / "img.qcow2"
    image.write_bytes(transfer.QCOW2_MAGIC + b"\0" * 4096)
    digest = "sha256:" + hashlib.sha256(image.read_bytes()).hexdigest()
    want = values(pool=lvm_pool.name(), name="lv2", src=str(image), remote_src=True, checksum=digest)
    with pytest.raises(KvmFleetError, match=r"^format: .* is a qcow2 image; a logical pool holds raw volumes only"):
        converge(conn, URI, want, check_mode=False)
    assert lvm_pool.listAllVolumes(0) == []


def test_stale_staging_volumes_of_killed_runs_are_deleted(lvm_pool: Any) -> None:
    """The test driver reports no modification time (as LVM): for another machine's staging volumes the
    start time in the name decides; this machine's are stale once the process that made them is gone."""
    old, now, mine = int(time.time() - leftovers.STALE_UNTIMED - 5), int(time.time()), leftovers.machine_tag()
    deleted = [f".v.img.kvmfleet-part-{old}-0badcafe-1-dead", f".v.img.kvmfleet-part-{now}-{mine}-999999999-gone"]
    kept = [
        f".v.img.kvmfleet-part-{now}-0badcafe-1-busy",
        leftovers.partial_name("v.img"),  # this process's: an import under way
        ".w.img.kvmfleet-part-1-x",
        "v.img",
    ]
    assert leftovers.partial_name("v.img").split("-")[-3:-1] == [mine, str(os.getpid())]
    for name in deleted + kept:
        ops.create_volume(lvm_pool, name, 1024**2, "raw")
    leftovers.remove_stale_staging(lvm_pool, "v.img")
    assert sorted(vol.name() for vol in lvm_pool.listAllVolumes(0)) == sorted(kept)


# ---------------------------------------------------------------------------------------------- check mode


@pytest.mark.parametrize(
    ("options", "action"),
    [
        (
            {"name": "v", "capacity": "1GiB"},
            "create volume v (1GiB qcow2, or raw in a block pool) in pool {pool}, {new}",
        ),
        ({"name": "v", "capacity": "1GiB", "format": "raw"}, "create volume v (1GiB raw) in pool {pool}, {new}"),
        (
            {"url": "http://h/base.qcow2", "checksum": SHA},
            "import http://h/base.qcow2 as volume base-sha256-abababababababab.qcow2 "
            "(sha256 verified, into pool {pool}, {new})",
        ),
    ],
)
def test_check_mode_predicts_a_volume_in_a_pool_that_does_not_exist_yet(
    conn: Any, options: dict[str, Any], action: str
) -> None:
    pool = f"unit-missing-{secrets.token_hex(3)}"
    check = converge(conn, URI, values(pool=pool, **options), check_mode=True)
    assert check["changed"] and check["actions"] == [action.format(pool=pool, new="which does not exist yet")]
    assert check["diff"]["before"] == {"state": "absent"} and "path" not in check
    with pytest.raises(ValidationError, match=rf"^pool: no storage pool {pool} on this hypervisor"):
        converge(conn, URI, values(pool=pool, **options), check_mode=False)


def test_check_mode_cannot_clone_from_a_pool_that_does_not_exist_yet(conn: Any) -> None:
    with pytest.raises(ValidationError, match=r"^clone_from: no volume base in pool nope, which does not exist yet"):
        converge(conn, URI, values(pool="nope", name="v", clone_from="base"), check_mode=True)


def test_a_process_that_ended_is_not_alive_also_before_it_is_reaped() -> None:
    child = subprocess.Popen(["true"])
    assert eventually(lambda: not leftovers._process_alive(str(child.pid)))  # a zombie until waited for
    child.wait()
    assert leftovers._process_alive(str(os.getpid()))
    assert not leftovers._process_alive("999999999") and not leftovers._process_alive("x")


def eventually(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False
