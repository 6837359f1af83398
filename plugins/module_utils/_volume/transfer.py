# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Imports: stream an image from a URL or a file, hash it on the way, and let it appear under its
final volume name only once the checksum matched.

Two ways, both reading one chunk at a time (memory use stays flat whatever the image size):

- ``direct``: the pool is a directory on this host (dir, fs, netfs pools of a local libvirt). The
  image is written to a hidden temporary file in the pool's directory, verified, flushed, then
  linked under its final name (atomic; never replaces an existing file) and the pool refreshed.
- ``stream``: any pool, any hypervisor (also remote URIs). The image is written to a temporary
  file on the host that runs the module, verified, then a volume is created under its final name
  and filled over libvirt's stream upload. If the upload fails the new volume is deleted.

On a bad checksum or an interrupted transfer the temporary file is removed and no volume is left.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import secrets
import tempfile
import threading
import time
from typing import Any, BinaryIO, Optional

from ansible.module_utils.urls import open_url

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import ops

QCOW2_MAGIC = b"QFI\xfb"
STALE_PARTIAL = 600  # seconds without a write after which a hidden partial file is left over from a killed run


class ChecksumMismatch(KvmFleetError):
    """The transferred image does not have the declared checksum."""


class TransferFailed(KvmFleetError):
    """The source could not be read to its end."""


def open_source(values: dict[str, Any]) -> tuple[BinaryIO, Optional[int]]:
    """The image as a readable stream and its length when known (Content-Length or file size)."""
    if values["url"] is None:
        try:
            handle = open(values["src"], "rb")  # noqa: SIM115  (closed by the caller)
        except OSError as exc:
            raise TransferFailed(f"src: cannot read {values['src']}: {exc.strerror}") from exc
        return handle, os.fstat(handle.fileno()).st_size
    try:
        response = open_url(
            values["url"],
            headers=values["url_headers"] or {},
            validate_certs=values["validate_certs"],
            timeout=values["timeout"],
        )
    except Exception as exc:  # urllib's HTTPError, URLError, socket and SSL errors
        raise TransferFailed(f"url: cannot fetch {values['url']}: {exc}") from exc
    length = response.headers.get("Content-Length")
    return response, int(length) if length and length.isdigit() else None


class WriteBehind:
    """Writes chunks to ``target`` in a second thread, up to ``depth`` chunks behind the caller.

    Writing into the page cache costs the kernel as much CPU as hashing costs Python; both release
    the GIL, so they overlap. An error of the writer is raised by the next ``write`` or ``finish``.
    """

    def __init__(self, target: BinaryIO, depth: int = 8) -> None:
        self.target = target
        self.chunks: queue.Queue[Optional[bytes]] = queue.Queue(maxsize=depth)
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, name="kvmfleet-write-behind", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            chunk = self.chunks.get()
            if chunk is None:
                return
            if self.error is None:
                try:
                    self.target.write(chunk)
                except BaseException as exc:  # handed to the caller
                    self.error = exc

    def write(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.chunks.put(chunk)

    def finish(self) -> None:
        """Wait until everything is written; raise the writer's error, if any."""
        self.chunks.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def copy_hashed(
    source: BinaryIO, target: BinaryIO, algorithm: str, length: Optional[int], what: str
) -> tuple[int, str]:
    """Copy ``source`` to ``target`` chunk by chunk; return (bytes, hex digest).

    Three stages run at once: reading (a read-ahead thread), hashing (this thread), writing (a
    write-behind thread); memory stays at a few chunks per stage.
    """
    digest = hashlib.new(algorithm)
    total = 0
    writer = WriteBehind(target)
    try:
        try:
            for chunk in ops.read_ahead(source):
                digest.update(chunk)
                writer.write(chunk)
                total += len(chunk)
        finally:
            writer.finish()
    except Exception as exc:  # IncompleteRead, a reset connection, a timeout, a full disk
        raise TransferFailed(f"the transfer of {what} broke off after {total} bytes: {exc}") from exc
    if length is not None and total != length:
        raise TransferFailed(f"the transfer of {what} ended after {total} of {length} bytes")
    return total, digest.hexdigest()


def verify(checksum: str, digest: str, what: str) -> None:
    algorithm, expected = checksum.split(":", 1)
    if digest != expected:
        raise ChecksumMismatch(
            f"checksum: {what} has {algorithm} {digest}, not the declared {expected}; nothing was kept",
            actual_checksum=f"{algorithm}:{digest}",
        )


def image_format(path_or_handle: Any) -> str:
    """qcow2 when the file starts with QEMU's qcow2 magic, raw otherwise."""
    if isinstance(path_or_handle, str):
        with open(path_or_handle, "rb") as handle:
            head = handle.read(4)
    else:
        path_or_handle.seek(0)
        head = path_or_handle.read(4)
    return "qcow2" if head == QCOW2_MAGIC else "raw"


def _check_format(values: dict[str, Any], found: str, what: str) -> None:
    if values["format"] is not None and values["format"] != found:
        raise KvmFleetError(f"format: {what} is a {found} image, not {values['format']}; nothing was kept")


def import_direct(values: dict[str, Any], pool: Any, directory: str, name: str) -> None:
    """Write, verify and link the image into a local pool directory; refresh the pool."""
    what = values["url"] or values["src"]
    algorithm = values["checksum"].split(":", 1)[0]
    final = os.path.join(directory, name)
    remove_stale_partials(directory, name)
    partial = os.path.join(directory, f".{name}.kvmfleet-part-{secrets.token_hex(4)}")
    source, length = open_source(values)
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as target:
            _size, digest = copy_hashed(source, target, algorithm, length, what)
            verify(values["checksum"], digest, what)
            target.flush()
            os.fsync(target.fileno())
        _check_format(values, image_format(partial), what)
        try:
            os.link(partial, final)  # fails if the name exists: never replaces a file
        except FileExistsError:
            raise KvmFleetError(f"name: {final} appeared while {what} was transferred; nothing was replaced") from None
    finally:
        source.close()
        if os.path.exists(partial):
            os.unlink(partial)
    pool.refresh(0)


def remove_stale_partials(directory: str, name: str) -> None:
    """Remove hidden partial files of ``name`` that a killed run left (no write for STALE_PARTIAL s).

    A run that is killed (not failed: a failure removes its own file) cannot clean up; a transfer in
    progress writes continuously, so an old partial file is nobody's.
    """
    cutoff = time.time() - STALE_PARTIAL
    for entry in os.scandir(directory):
        if entry.name.startswith(f".{name}.kvmfleet-part-") and entry.stat().st_mtime < cutoff:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def import_stream(conn: Any, values: dict[str, Any], pool: Any, name: str) -> None:
    """Stage the image in a temporary file, verify it, then create the volume and upload it over libvirt."""
    what = values["url"] or values["src"]
    algorithm = values["checksum"].split(":", 1)[0]
    lv = ops.require_libvirt()
    with contextlib.ExitStack() as stack:
        source, length = open_source(values)
        stack.callback(source.close)
        if values["url"] is None:
            staged: BinaryIO = source  # a local file needs no staging: hash it, then upload it
            size, digest = copy_hashed(source, _Discard(), algorithm, length, what)
        else:
            staged = stack.enter_context(tempfile.TemporaryFile(prefix="kvmfleet-import-", dir=values["tmp_dir"]))
            size, digest = copy_hashed(source, staged, algorithm, length, what)
        verify(values["checksum"], digest, what)
        _check_format(values, image_format(staged), what)
        staged.seek(0)
        vol = ops.create_volume(pool, name, size, "raw", allocation=0)
        try:
            ops.upload_file(conn, vol, staged, size)
        except BaseException:
            with contextlib.suppress(lv.libvirtError):
                vol.delete(0)
            raise
    pool.refresh(0)


class _Discard:
    """A write target that keeps nothing (hashing a local file before its upload)."""

    def write(self, data: bytes) -> int:
        return len(data)
