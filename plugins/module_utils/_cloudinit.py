# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground layer: cloud-init NoCloud seed content and the ISO image that carries it (volume label cidata).

The image is written here, in pure Python (ECMA-119 with a Joliet supplementary descriptor), so the
module needs no ISO tool on the hypervisor. One directory (the root) holding a few small files is all
a seed needs; the output depends only on the files, so rebuilding the same seed gives the same bytes.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError

SEED_LABEL = "cidata"


def seed_files(
    name: str, user_data: Optional[str], meta_data: Optional[str], network_config: Optional[str]
) -> dict[str, bytes]:
    """The files of a NoCloud seed; meta-data defaults to the guest's name as instance-id and host name."""
    files = {
        "user-data": (user_data if user_data is not None else "#cloud-config\n{}\n").encode(),
        "meta-data": (
            meta_data if meta_data is not None else f"instance-id: {name}\nlocal-hostname: {name}\n"
        ).encode(),
    }
    if network_config is not None:
        files["network-config"] = network_config.encode()
    return files


def seed_hash(files: dict[str, bytes]) -> str:
    """A digest of the seed content; stored in the guest's metadata so the ISO is rebuilt only on change."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    return digest.hexdigest()[:32]


# ---------------------------------------------------------------------------------------------- ISO 9660

SECTOR = 2048
_FIRST_DESCRIPTOR = 16  # sectors 0-15 are the system area
# a fixed time for every timestamp: the image is a function of its files only (2000-01-01 00:00:00 UTC)
_VOLUME_TIME = b"2000010100000000\0"
_UNSET_TIME = b"0000000000000000\0"
_RECORD_TIME = bytes((100, 1, 1, 0, 0, 0, 0))
_JOLIET_LEVEL3 = b"%/E"
_JOLIET_FORBIDDEN = set("*/:;?\\")
_D_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _both16(value: int) -> bytes:
    return struct.pack("<H", value) + struct.pack(">H", value)


def _both32(value: int) -> bytes:
    return struct.pack("<I", value) + struct.pack(">I", value)


def _sectors(size: int) -> int:
    return -(-size // SECTOR)


def _text(value: str, length: int, joliet: bool) -> bytes:
    """A space-padded identifier field: ASCII, or UCS-2 big-endian in the Joliet descriptor."""
    if joliet:
        data = value.encode("utf-16-be")[: length - length % 2]
        data += " ".encode("utf-16-be") * ((length - len(data)) // 2)
        return data + b"\0" * (length - len(data))
    data = value.encode("ascii")[:length]
    return data + b" " * (length - len(data))


def _primary_name(name: str, taken: set[bytes]) -> bytes:
    """An ISO 9660 level 1 identifier (8.3 d-characters, version 1) for ``name``, unique among ``taken``."""
    stem, _dot, ext = name.upper().partition(".")
    stem = "".join(c if c in _D_CHARS else "_" for c in stem) or "_"
    ext = "".join(c if c in _D_CHARS else "_" for c in ext)[:3]
    for counter in range(1000):
        suffix = str(counter) if counter else ""
        candidate = f"{stem[: 8 - len(suffix)]}{suffix}.{ext};1".encode("ascii")
        if candidate not in taken:
            return candidate
    raise KvmFleetError(f"no ISO 9660 name left for {name}")  # pragma: no cover - 1000 clashing names


def _joliet_name(name: str) -> bytes:
    if not name or len(name) > 64 or any(c in _JOLIET_FORBIDDEN or ord(c) < 32 for c in name):
        raise KvmFleetError(f"{name!r} cannot be a file name on the seed ISO")
    return name.encode("utf-16-be")


def _record(identifier: bytes, extent: int, size: int, directory: bool) -> bytes:
    """A directory record (ECMA-119 9.1); records have an even length."""
    length = 33 + len(identifier) + (1 - len(identifier) % 2)
    return (
        bytes((length, 0))
        + _both32(extent)
        + _both32(size)
        + _RECORD_TIME
        + bytes((2 if directory else 0, 0, 0))
        + _both16(1)
        + bytes((len(identifier),))
        + identifier
        + b"\0" * (1 - len(identifier) % 2)
    )


def _path_table(root_extent: int, big_endian: bool) -> bytes:
    """The path table of a volume whose only directory is the root (ECMA-119 9.4)."""
    order = ">" if big_endian else "<"
    return bytes((1, 0)) + struct.pack(order + "IH", root_extent, 1) + b"\0\0"


def _descriptor(joliet: bool, label: str, total: int, tables: tuple[int, int], root: tuple[int, int]) -> bytes:
    """The primary (type 1) or Joliet supplementary (type 2) volume descriptor (ECMA-119 8.4, 8.5)."""
    body = bytearray(SECTOR)
    body[0:7] = bytes((2 if joliet else 1,)) + b"CD001\1"
    body[8:40] = _text("LINUX", 32, joliet)
    body[40:72] = _text(label, 32, joliet)
    body[80:88] = _both32(total)
    if joliet:
        body[88:91] = _JOLIET_LEVEL3
    body[120:124] = _both16(1)  # volume set size
    body[124:128] = _both16(1)  # volume sequence number
    body[128:132] = _both16(SECTOR)
    body[132:140] = _both32(len(_path_table(0, False)))
    body[140:144] = struct.pack("<I", tables[0])
    body[148:152] = struct.pack(">I", tables[1])
    body[156:190] = _record(b"\0", root[0], root[1], directory=True)
    offset = 190
    for length in (128, 128, 128, 128, 37, 37, 37):  # volume set, publisher, preparer, application, files
        body[offset : offset + length] = _text("", length, joliet)
        offset += length
    body[813:881] = _VOLUME_TIME + _VOLUME_TIME + _UNSET_TIME + _UNSET_TIME
    body[881] = 1  # file structure version
    return bytes(body)


def _directory(root_extent: int, entries: list[tuple[bytes, int, int]]) -> bytes:
    """The root directory: itself, its parent (itself again) and the files, sorted by identifier."""
    records = [_record(b"\0", root_extent, SECTOR, True), _record(b"\1", root_extent, SECTOR, True)]
    records += [_record(identifier, extent, size, False) for identifier, extent, size in sorted(entries)]
    data = b"".join(records)
    if len(data) > SECTOR:
        raise KvmFleetError("the seed ISO holds a few files only: their directory outgrew one sector")
    return data + b"\0" * (SECTOR - len(data))


def build_iso(files: dict[str, bytes], label: str = SEED_LABEL) -> bytes:
    """An ISO 9660 image with a Joliet tree (exact, case-kept names) holding ``files`` in its root.

    Layout: system area, primary and Joliet descriptors, terminator, the four path tables (L and M of
    each tree), the two root directories, then each file's data from a sector boundary. Both trees
    point at the same file data. No timestamps vary: the same files give the same image.
    """
    names = sorted(files)
    ptl, ptm, jptl, jptm, root, jroot = range(_FIRST_DESCRIPTOR + 3, _FIRST_DESCRIPTOR + 9)
    extents: dict[str, int] = {}
    next_free = jroot + 1
    for name in names:
        extents[name] = next_free
        next_free += _sectors(len(files[name]))
    total = next_free

    taken: set[bytes] = set()
    primary: list[tuple[bytes, int, int]] = []
    joliet: list[tuple[bytes, int, int]] = []
    for name in names:
        identifier = _primary_name(name, taken)
        taken.add(identifier)
        primary.append((identifier, extents[name], len(files[name])))
        joliet.append((_joliet_name(name), extents[name], len(files[name])))

    def padded(data: bytes) -> bytes:
        return data + b"\0" * (_sectors(len(data)) * SECTOR - len(data))

    image = [
        b"\0" * (SECTOR * _FIRST_DESCRIPTOR),
        _descriptor(False, label, total, (ptl, ptm), (root, SECTOR)),
        _descriptor(True, label, total, (jptl, jptm), (jroot, SECTOR)),
        padded(b"\xffCD001\1"),  # volume descriptor set terminator
        padded(_path_table(root, False)),
        padded(_path_table(root, True)),
        padded(_path_table(jroot, False)),
        padded(_path_table(jroot, True)),
        _directory(root, primary),
        _directory(jroot, joliet),
        *(padded(files[name]) for name in names),
    ]
    data = b"".join(image)
    if len(data) != total * SECTOR:  # the layout above is computed once; a mismatch is a bug here
        raise KvmFleetError(f"cloud-init seed: laid out {total} sectors but wrote {len(data)} bytes")
    return data
