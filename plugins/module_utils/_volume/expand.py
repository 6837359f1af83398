# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compressed images: which format a source is in, and its decompressed bytes as a stream.

The format comes from the source's file name (``.xz``, ``.gz``, ``.bz2``, ``.zst``) or is forced by the
``decompress`` option. xz, gzip and bzip2 are decompressed with the standard library; zstd with the
``zstd`` tool, where the host that runs the module has it. The checksum applies to the file as fetched
(the compressed bytes, as with get_url): ``Expanded`` hashes those as it reads them, every one of them
(also what follows the compressed data), and hands out the decompressed bytes, whose length is known
only at the end.

Three stages overlap, as in an import of an uncompressed image: the compressed bytes are read ahead
(``ops.ReadAhead``, a thread), hashed and decompressed by the thread that reads from ``Expanded``, and
written behind; the decompressors release the GIL, as the hash does.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import shutil
import subprocess
import tempfile
import threading
import zlib
from typing import Any, BinaryIO, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _progress
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import ops

SUFFIXES = {".xz": "xz", ".gz": "gz", ".bz2": "bz2", ".zst": "zst"}
NAMES = {"xz": "xz", "gz": "gzip", "bz2": "bzip2", "zst": "zstd"}
# formats the standard library has no decompressor for: the tool that decompresses them to stdout
TOOLS = {"zst": ("zstd", "--decompress", "--stdout", "--quiet")}


class DecompressFailed(KvmFleetError):
    """The fetched file is not valid data of its compression format."""


def detect(file_name: str, decompress: str) -> Optional[str]:
    """The compression format of a source called ``file_name`` under the ``decompress`` option, or None.

    ``auto`` goes by the suffix, ``none`` never decompresses, any other value is the format.
    """
    if decompress == "none":
        return None
    if decompress != "auto":
        return decompress
    return SUFFIXES.get(os.path.splitext(file_name)[1].lower())


def strip_suffix(file_name: str, fmt: Optional[str]) -> str:
    """The file name of the decompressed image: ``disk.qcow2.xz`` -> ``disk.qcow2`` when decompressing xz."""
    stem, ext = os.path.splitext(file_name)
    return stem if fmt is not None and SUFFIXES.get(ext.lower()) == fmt else file_name


def missing_tool(fmt: Optional[str]) -> Optional[str]:
    """Why this host cannot decompress ``fmt`` (what to install), or None when it can."""
    if fmt not in TOOLS or shutil.which(TOOLS[fmt][0]) is not None:
        return None
    tool = TOOLS[fmt][0]
    return (
        f"{NAMES[fmt]} images are decompressed with the {tool} tool, which the host that runs the module "
        f"lacks: install the {tool} package (apt-get install {tool}, dnf install {tool}), or set decompress: none "
        "to import the file as it is"
    )


class _SourceBroke(Exception):
    """An error of the source (the network), carried through the decompressor unchanged."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Compressed(io.RawIOBase):
    """The bytes of ``source``, read ahead by a thread and hashed into ``digest`` as they are handed on."""

    def __init__(self, source: BinaryIO, digest: Any) -> None:
        super().__init__()
        self.chunks = ops.ReadAhead(source)
        self._iter = iter(self.chunks)
        self.digest = digest
        self.fetched = 0
        self.view: Optional[memoryview] = None
        self.offset = 0

    def readable(self) -> bool:
        return True

    def next_view(self) -> Optional[memoryview]:
        """The next chunk, hashed (None at the end); the previous one goes back to the reader."""
        if self.view is not None:
            self.chunks.release(self.view)
            self.view = None
        try:
            view = next(self._iter, None)
        except Exception as exc:  # the source broke off: a reset connection, a timeout
            raise _SourceBroke(exc) from exc
        if view is not None:
            self.digest.update(view)
            self.fetched += len(view)
            self.view, self.offset = view, 0
        return view

    def readinto(self, buffer: Any) -> int:
        view = self.view
        if view is None or self.offset >= len(view):
            view = self.next_view()
            if view is None:
                return 0
        target = memoryview(buffer).cast("B")
        count = min(len(target), len(view) - self.offset)
        target[:count] = view[self.offset : self.offset + count]
        self.offset += count
        return count

    def drain(self) -> None:
        """Hash the rest: the checksum covers the whole file, also bytes after the compressed data."""
        while self.next_view() is not None:
            pass

    def close(self) -> None:
        if self.view is not None:
            self.chunks.release(self.view)
            self.view = None
        self.chunks.close()
        super().close()


class _Tool(io.RawIOBase):
    """What a decompressing tool writes to its stdout, fed the compressed bytes by a thread of its own."""

    def __init__(self, compressed: _Compressed, argv: tuple[str, ...]) -> None:
        super().__init__()
        self.compressed = compressed
        self.stderr = tempfile.TemporaryFile(prefix="kvmfleet-decompress-")  # noqa: SIM115  (closed in close)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, bufsize=0)
        self.error: Optional[BaseException] = None
        self.feeder = threading.Thread(target=self._feed, name="kvmfleet-decompress-feed", daemon=True)
        self.feeder.start()

    def _feed(self) -> None:
        stdin: Any = self.proc.stdin  # a pipe: Popen made it
        try:
            while (view := self.compressed.next_view()) is not None:
                written = 0
                while written < len(view):
                    written += stdin.write(view[written:]) or 0
        except BrokenPipeError:  # the tool stopped early: its exit status and message say why
            pass
        except BaseException as exc:  # handed to the reader
            self.error = exc
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        stdout: Any = self.proc.stdout  # a pipe: Popen made it
        count = stdout.readinto(buffer)
        if count:
            return count
        self.feeder.join()
        if self.error is not None:
            raise self.error
        if self.proc.wait() != 0:
            self.stderr.seek(0)
            said = self.stderr.read(2000).decode("utf-8", "replace").strip()
            raise OSError(f"{self.proc.args[0]} exited with status {self.proc.returncode}: {said or 'no message'}")
        return 0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stdin, self.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        super().close()


def _decompressor(fmt: str, compressed: _Compressed) -> Any:
    if fmt in TOOLS:
        return _Tool(compressed, TOOLS[fmt])
    if fmt == "xz":
        return lzma.LZMAFile(compressed)  # also .lzma; concatenated streams and their padding
    if fmt == "gz":
        return gzip.GzipFile(fileobj=compressed, mode="rb")  # every member, trailing zeros
    if fmt == "bz2":
        return bz2.BZ2File(compressed)  # every stream (pbzip2 writes several)
    raise ValueError(f"unknown compression format {fmt!r}")


class Expanded:
    """The decompressed bytes of ``source`` (a ``readinto`` stream), in format ``fmt``.

    The compressed bytes are hashed into ``digest`` as they are read; ``fetched`` counts them. Data
    that is not valid ``fmt`` raises DecompressFailed naming the ``decompress`` option; an error of the
    source itself is raised as it is.
    """

    def __init__(self, source: BinaryIO, fmt: str, digest: Any, what: str) -> None:
        self.fmt = fmt
        self.what = _progress.shown_source(what)
        self.compressed = _Compressed(source, digest)
        try:
            self.reader = _decompressor(fmt, self.compressed)
        except BaseException:
            self.compressed.close()
            raise

    @property
    def fetched(self) -> int:
        return self.compressed.fetched

    def readinto(self, buffer: Any) -> int:
        try:
            count = self.reader.readinto(buffer)
            if not count:
                self.compressed.drain()
            return count
        except _SourceBroke as exc:
            raise exc.cause from None
        except EOFError as exc:  # the data ended inside the compressed stream
            raise DecompressFailed(
                f"decompress: {self.what} ended inside its {NAMES[self.fmt]} data (after {self.fetched} bytes): "
                "the file is cut short"
            ) from exc
        except (OSError, lzma.LZMAError, zlib.error) as exc:  # gzip's BadGzipFile and bz2's errors are OSErrors
            raise DecompressFailed(
                f"decompress: {self.what} is not valid {NAMES[self.fmt]} data ({exc}); set decompress to its "
                "format, or none to import the file as it is"
            ) from exc

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.compressed.close()
