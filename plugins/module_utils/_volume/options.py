# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The volume's option table: create, grow, clone, overlay, import (URL or file) with a checksum."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    IMPOSSIBLE,
    LIVE,
    Option,
    OptionError,
    OptionTable,
    Problem,
    absolute_path,
    connection_options,
    join_path,
    volume_name,
)

MiB = 1024 * 1024
ALGORITHMS = {"sha256": 64, "sha512": 128}


def checksum(value: str) -> str:
    """``sha256:<64 hex>`` or ``sha512:<128 hex>``; the algorithm is never guessed."""
    algorithm, sep, digest = value.strip().partition(":")
    if not sep:
        raise OptionError("give the algorithm and the digest, such as sha256:<64 hex digits> (sha256 or sha512)")
    algorithm = algorithm.lower()
    if algorithm not in ALGORITHMS:
        raise OptionError(f"unsupported algorithm {algorithm!r}; use sha256 or sha512")
    digest = digest.strip().lower()
    if len(digest) != ALGORITHMS[algorithm] or not re.fullmatch(r"[0-9a-f]+", digest):
        raise OptionError(f"a {algorithm} digest is {ALGORITHMS[algorithm]} hex digits")
    return f"{algorithm}:{digest}"


def source_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https", "ftp", "file") or not (parts.netloc or parts.scheme == "file"):
        raise OptionError(f"{value!r} is not an http, https, ftp or file URL")
    return value


def _volume_checks(volume: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []

    def at(name: str) -> str:
        return join_path(path, name)

    sources = [key for key in ("url", "src", "clone_from", "backing_image") if volume[key] is not None]
    if len(sources) > 1:
        problems.append((at(sources[1]), f"excludes {sources[0]}: a volume has one source"))
    importing = volume["url"] is not None or volume["src"] is not None
    if importing and volume["checksum"] is None:
        problems.append((at("checksum"), "an import needs a checksum (sha256:<hex> or sha512:<hex>)"))
    if volume["checksum"] is not None and not importing:
        problems.append((at("checksum"), "applies to imports (url or src) only"))
    if volume["name"] is None and not importing:
        problems.append((at("name"), "is required unless the volume is imported (url or src)"))
    if importing and volume["capacity"] is not None:
        problems.append(
            (
                at("capacity"),
                "an import takes the image's own size; grow the volume in a later task (name and capacity)",
            )
        )
    if volume["backing_image"] is not None and volume["format"] == "raw":
        problems.append((at("format"), "an overlay on a backing image must be qcow2"))
    if volume["src"] is not None and volume["remote_src"] and not volume["src"].startswith("/"):
        problems.append((at("src"), f"{volume['src']!r} is not an absolute path"))
    if volume["wipe"] and volume["state"] != "absent":
        problems.append((at("wipe"), "applies to state: absent (wipe the data, then delete)"))
    return problems


def volume_options() -> list[Option]:
    return [
        Option("name", normalize=volume_name, update=IMPOSSIBLE),
        Option("pool", default="default", update=CONTROL),
        Option("capacity", type="size", minimum=MiB, size_unit="GiB", update=LIVE),
        Option("format", choices=("qcow2", "raw"), update=IMPOSSIBLE),
        Option("backing_image", update=IMPOSSIBLE),
        Option("clone_from", normalize=volume_name, update=CONTROL),
        Option("url", normalize=source_url, update=CONTROL),
        Option("src", update=CONTROL),
        Option("remote_src", type="bool", default=False, update=CONTROL),
        Option("checksum", normalize=checksum, update=CONTROL),
        Option("url_headers", type="dict", no_log=True, update=CONTROL),
        Option("validate_certs", type="bool", default=True, update=CONTROL),
        Option("timeout", type="int", default=60, minimum=1, update=CONTROL),
        Option("transfer", choices=("auto", "stream"), default="auto", update=CONTROL),
        Option("tmp_dir", normalize=absolute_path, update=CONTROL),
        Option("state", choices=("present", "absent"), default="present", update=CONTROL),
        Option("wipe", type="bool", default=False, update=CONTROL),
    ]


VOLUME_MODULE = OptionTable([*connection_options(), *volume_options()], checks=[_volume_checks])
