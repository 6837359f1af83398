# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Volume operations through libvirt (the same on local and remote hypervisors): lookup, creation,
facts, and upload over libvirt's stream.

Used by the volume module and by the guest module for its disks and cloud-init seeds.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import queue
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, LibvirtCallFailed
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import find, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool_facts import DIRECTORY_TYPES, pool_facts
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import xml as vxml

# the XML side, re-exported: the guest planner uses this module as its one door to volumes
QEMU_FORMATS = vxml.QEMU_FORMATS
driver_type = vxml.driver_type
read_volume = vxml.read_volume
volume_xml = vxml.volume_xml

CHUNK = 4 * 1024 * 1024  # bytes per read and write: large enough for speed, small in memory
BUFFERS = 6  # chunks in flight between the stages of a transfer (reading, hashing, writing)
# bytes per stream send: libvirt carries a stream in messages of at most 256 KiB; larger sends are
# split by the client and measured ~2x slower here
STREAM_PIECE = 256 * 1024


def fill(source: BinaryIO, buffer: Any) -> int:
    """Read from ``source`` into ``buffer`` until it is full or the source ends; the bytes read.

    ``readinto`` puts the bytes straight into the buffer (no object per chunk); a source without it
    (an unusual URL handler) is read and copied.
    """
    view, filled = memoryview(buffer), 0
    readinto = getattr(source, "readinto", None)
    while filled < len(view):
        if readinto is not None:
            count = readinto(view[filled:])
        else:
            data = source.read(len(view) - filled)
            count = len(data)
            view[filled : filled + count] = data
        if not count:
            break
        filled += count
    return filled


class ReadAhead:
    """The chunks of ``source`` as memoryviews, read by a second thread up to ``buffers`` chunks ahead.

    Reading (the network) overlaps with hashing and writing (both release the GIL), so a transfer
    runs at the speed of its slowest stage instead of the sum of all. The chunks are a few reused,
    page-aligned buffers (memory: ``buffers`` x CHUNK, whatever the size of the image; aligned, so a
    writer can use O_DIRECT): a consumer hands each view back with ``release`` once done with it.
    """

    def __init__(self, source: BinaryIO, buffers: int = BUFFERS, size: int = CHUNK) -> None:
        self.source = source
        self.free: queue.Queue[mmap.mmap] = queue.Queue()
        for _buffer in range(buffers):
            self.free.put(mmap.mmap(-1, size))
        self.full: queue.Queue[Any] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="kvmfleet-read-ahead", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    buffer = self.free.get(timeout=0.2)
                except queue.Empty:
                    continue
                count = fill(self.source, buffer)
                self.full.put((buffer, count))
                if count < len(buffer):
                    return
        except Exception as exc:  # handed to the consumer, which raises it
            self.full.put(exc)

    def __iter__(self) -> Iterator[memoryview]:
        while True:
            item = self.full.get()
            if isinstance(item, Exception):
                raise item
            buffer, count = item
            if count:
                yield memoryview(buffer)[:count]
            if count < len(buffer):
                return

    def release(self, view: memoryview) -> None:
        """Hand a chunk's buffer back for reading."""
        buffer = view.obj
        view.release()
        self.free.put(buffer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def read_ahead(source: BinaryIO) -> Iterator[memoryview]:
    """The chunks of ``source`` (see ReadAhead); each one is valid until the next is asked for."""
    chunks = ReadAhead(source)
    try:
        for view in chunks:
            yield view
            chunks.release(view)
    finally:
        chunks.close()


def find_pool(conn: Any, name: str) -> Optional[Any]:
    return find(conn.storagePoolLookupByName, name)


def find_volume(pool: Any, name: str) -> Optional[Any]:
    return find(pool.storageVolLookupByName, name)


BUILD_WAIT = 120.0  # seconds another run's volume creation is waited for
BUILD_POLL = 0.25


def being_built(vol: Any) -> bool:
    """Whether libvirt is still creating ``vol`` (another run's create or copy is under way).

    libvirt keeps no such flag in a volume's XML; it refuses a download of a volume it is still
    building, so a one-byte download, aborted at once, tells.
    """
    lv = require_libvirt()
    stream = vol.connect().newStream(0)
    try:
        vol.download(stream, 0, 1, 0)
    except lv.libvirtError as exc:
        return exc.get_error_code() == lv.VIR_ERR_OPERATION_INVALID and "being allocated" in str(
            exc.get_error_message()
        )
    with contextlib.suppress(lv.libvirtError):
        stream.abort()
    return False


def wait_built(vol: Any, timeout: float = BUILD_WAIT) -> None:
    """Return once libvirt has finished creating ``vol``; fail naming it after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while being_built(vol):
        if time.monotonic() >= deadline:
            raise KvmFleetError(f"volume {vol.name()} is still being created (by another run) after {timeout:g} s")
        time.sleep(BUILD_POLL)


def volume_facts(vol: Any) -> dict[str, Any]:
    """Capacity (bytes), allocation, format, path and backing file of a volume.

    A volume of no bytes may be one another run has just begun to create (its file is there, its header
    not yet): it is waited for, so that its size and format are not read from a file half made.
    """
    facts = read_volume(vol.XMLDesc(0))
    if facts["capacity"] == 0:
        wait_built(vol)
        facts = read_volume(vol.XMLDesc(0))  # also when the build ended between the two reads
    if not facts["path"]:  # the definition's target path is the volume's path
        facts["path"] = vol.path()
    return facts


def pool_type(pool: Any) -> str:
    """The type of a storage pool (dir, fs, logical...)."""
    return pool_facts(pool)["type"] or "dir"


def raw_only(kind: str) -> Optional[str]:
    """Why a pool of type ``kind`` takes raw volumes only; None for a pool of files (dir, fs, netfs)."""
    if kind in DIRECTORY_TYPES:
        return None
    return (
        f"a {kind} pool holds raw volumes only (its volumes are block devices, allocated in full); "
        "qcow2 images and overlays need a dir, fs or netfs pool"
    )


def new_volume_xml(
    kind: str,
    name: str,
    capacity: int,
    fmt: str,
    backing: Optional[tuple[str, str]] = None,
    *,
    allocation: Optional[int] = None,
) -> str:
    """XML of a new volume in a pool of type ``kind``.

    A pool of files takes what it is given (qcow2 starts sparse; raw is allocated in full unless
    ``allocation`` is 0). Any other pool (logical, zfs, rbd, iscsi) gets a raw volume allocated in
    full: libvirt's logical backend makes a volume whose allocation is below its capacity a sparse
    snapshot LV (``lvcreate --type snapshot --virtualsize``), which breaks once more is written to it
    than was allocated. A qcow2 format or a backing image there raises.
    """
    refused = raw_only(kind)
    if refused is None:
        return volume_xml(name, capacity, fmt, backing, allocation)
    if fmt != "raw" or backing is not None:
        raise KvmFleetError(f"volume {name}: {refused}")
    return volume_xml(name, capacity, "raw", allocation=capacity)


def create_volume(
    pool: Any,
    name: str,
    capacity: int,
    fmt: str,
    backing: Optional[tuple[str, str]] = None,
    *,
    allocation: Optional[int] = None,
) -> Any:
    """Create a volume; an overlay costs the same whatever the size of its backing image.

    ``allocation`` applies to pools of files only; other pools get raw volumes allocated in full
    (see ``new_volume_xml``).
    A volume of that name that exists by the time libvirt creates it (another run made it meanwhile) is
    taken when it is what this call would have made (capacity, format, backing file), else refused.
    """
    lv = require_libvirt()
    xml = new_volume_xml(pool_type(pool), name, capacity, fmt, backing, allocation=allocation)
    try:
        return pool.createXML(xml, 0)
    except lv.libvirtError as exc:
        if exc.get_error_code() == lv.VIR_ERR_STORAGE_VOL_EXIST:
            vol = find_volume(pool, name)
            if vol is not None:
                wait_built(vol)  # another run's, maybe still under way
                facts = volume_facts(vol)
                if (
                    facts["capacity"] == capacity
                    and driver_type(facts["format"]) == fmt
                    and facts["backing"] == (backing[0] if backing else None)
                ):
                    return vol
        raise LibvirtCallFailed(
            f"cannot create volume {name} in pool {pool.name()}: {exc.get_error_message()}"
        ) from exc


def upload_file(conn: Any, vol: Any, source: BinaryIO, length: int) -> None:
    """Write ``length`` bytes read from ``source`` at the start of ``vol`` over libvirt's stream.

    Works for local and remote hypervisors; reads one chunk at a time, so memory use stays flat.
    """
    upload_chunks(conn, vol, read_ahead(source), length)


def upload_chunks(conn: Any, vol: Any, chunks: Iterable[bytes], length: int) -> None:
    """Write the first ``length`` bytes of ``chunks`` at the start of ``vol`` over libvirt's stream.

    An error raised by ``chunks`` (the source broke off) aborts the stream and is raised as it is.
    """
    lv = require_libvirt()
    stream = conn.newStream(0)
    try:
        vol.upload(stream, 0, length, 0)
        sent_total = 0
        for data in chunks:
            view = memoryview(data)[: length - sent_total]
            for offset in range(0, len(view), STREAM_PIECE):
                piece = view[offset : offset + STREAM_PIECE].tobytes()
                while piece:
                    sent = stream.send(piece)
                    if sent < 0:
                        raise LibvirtCallFailed(f"upload to volume {vol.name()} failed after {sent_total} bytes")
                    piece = piece[sent:]
                    sent_total += sent
            if sent_total >= length:
                break
        if sent_total < length:
            raise LibvirtCallFailed(f"upload to volume {vol.name()}: the source ended after {sent_total} bytes")
        stream.finish()
    except BaseException as exc:
        with contextlib.suppress(lv.libvirtError):
            stream.abort()
        if isinstance(exc, lv.libvirtError):
            raise LibvirtCallFailed(f"upload to volume {vol.name()} failed: {exc.get_error_message()}") from exc
        raise


def upload(conn: Any, vol: Any, data: bytes) -> None:
    """Write ``data`` (small: a cloud-init seed) at the start of ``vol`` over libvirt's stream."""
    upload_file(conn, vol, io.BytesIO(data), len(data))


def file_size(vol: Any) -> int:
    """The bytes a download of ``vol`` gives: its file's size (``physical``), else its capacity."""
    root = ET.fromstring(vol.XMLDesc(0))
    physical = root.findtext("physical")
    return int(physical) if physical else int(root.findtext("capacity") or 0)


def copy_between(src_conn: Any, src_vol: Any, dst_conn: Any, dst_vol: Any) -> None:
    """Copy a volume's bytes from one hypervisor to another over libvirt's streams, a piece at a time
    (for small read-only volumes such as cloud-init seeds, which QEMU does not mirror)."""
    length = file_size(src_vol)
    down = src_conn.newStream(0)
    src_vol.download(down, 0, length, 0)

    def pieces() -> Iterator[bytes]:
        received = 0
        try:
            while received < length:
                data = down.recv(STREAM_PIECE)
                if isinstance(data, int) or not data:
                    raise LibvirtCallFailed(f"download of volume {src_vol.name()} ended after {received} bytes")
                received += len(data)
                yield data
        finally:
            with contextlib.suppress(require_libvirt().libvirtError):
                down.finish() if received >= length else down.abort()

    upload_chunks(dst_conn, dst_vol, pieces(), length)
