# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Volume operations through libvirt (the same on local and remote hypervisors): lookup, creation,
facts, and upload over libvirt's stream.

Used by the volume module and by the guest module for its disks and cloud-init seeds.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import LibvirtCallFailed
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import xml as vxml

# the XML side, re-exported: the guest planner uses this module as its one door to volumes
QEMU_FORMATS = vxml.QEMU_FORMATS
driver_type = vxml.driver_type
read_volume = vxml.read_volume
volume_xml = vxml.volume_xml

CHUNK = 1024 * 1024  # bytes per read: large enough for speed, small in memory
# bytes per stream send: libvirt carries a stream in messages of at most 256 KiB; larger sends are
# split by the client and measured ~2x slower here
STREAM_PIECE = 256 * 1024


def read_ahead(source: BinaryIO, depth: int = 8) -> Iterator[bytes]:
    """The chunks of ``source``, read by a second thread up to ``depth`` chunks ahead.

    Reading (the network) overlaps with hashing and writing (both release the GIL), so an import
    runs at the speed of its slowest stage instead of the sum of all. Memory: ``depth`` chunks.
    """
    chunks: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            while True:
                chunk = source.read(CHUNK)
                if not put(chunk) or not chunk:
                    return
        except Exception as exc:  # handed to the consumer, which raises it
            put(exc)

    thread = threading.Thread(target=reader, name="kvmfleet-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = chunks.get()
            if isinstance(item, Exception):
                raise item
            if not item:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _or_none(lookup: Any, name: str) -> Optional[Any]:
    lv = require_libvirt()
    try:
        return lookup(name)
    except lv.libvirtError:
        return None


def find_pool(conn: Any, name: str) -> Optional[Any]:
    return _or_none(conn.storagePoolLookupByName, name)


def find_volume(pool: Any, name: str) -> Optional[Any]:
    return _or_none(pool.storageVolLookupByName, name)


def volume_facts(vol: Any) -> dict[str, Any]:
    """Capacity (bytes), allocation, format, path and backing file of a volume."""
    facts = read_volume(vol.XMLDesc(0))
    facts["path"] = vol.path()
    return facts


def create_volume(
    pool: Any,
    name: str,
    capacity: int,
    fmt: str,
    backing: Optional[tuple[str, str]] = None,
    *,
    allocation: Optional[int] = None,
) -> Any:
    """Create a volume; an overlay costs the same whatever the size of its backing image."""
    lv = require_libvirt()
    try:
        return pool.createXML(volume_xml(name, capacity, fmt, backing, allocation), 0)
    except lv.libvirtError as exc:
        raise LibvirtCallFailed(
            f"cannot create volume {name} in pool {pool.name()}: {exc.get_error_message()}"
        ) from exc


def upload_file(conn: Any, vol: Any, source: BinaryIO, length: int) -> None:
    """Write ``length`` bytes read from ``source`` at the start of ``vol`` over libvirt's stream.

    Works for local and remote hypervisors; reads one chunk at a time, so memory use stays flat.
    """
    lv = require_libvirt()
    stream = conn.newStream(0)
    try:
        vol.upload(stream, 0, length, 0)
        sent_total = 0
        for data in read_ahead(source):
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
