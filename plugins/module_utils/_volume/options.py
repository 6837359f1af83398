# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The volume's option table: create, grow, clone, overlay, import (URL or file) with a checksum.

An import's URL options are get_url's (``ansible.module_utils.urls.url_argument_spec``, less ``force``,
which has no meaning here: the volume's name is its cache) plus its ``headers`` and ``use_netrc``, and a
passphrase for an encrypted client key; they apply to ``url`` and to a checksum given as a URL.
"""

from __future__ import annotations

import os
import re
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

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


URL_SCHEMES = ("http", "https", "ftp", "file")
DECOMPRESS = ("auto", "none", "xz", "gz", "bz2", "zst")


def source_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in URL_SCHEMES or not (parts.netloc or parts.scheme == "file"):
        raise OptionError(f"{value!r} is not an http, https, ftp or file URL")
    return value


def checksum(value: str) -> str:
    """``sha256:<64 hex>``, ``sha512:<128 hex>``, or the algorithm and the URL of a checksum file
    (``sha256:https://host/SHA256SUMS``, get_url's form); the algorithm is never guessed."""
    algorithm, sep, rest = value.strip().partition(":")
    if not sep:
        raise OptionError(
            "give the algorithm and the digest (or the URL of a checksum file), such as sha256:<64 hex digits> "
            "or sha256:https://host/SHA256SUMS (sha256 or sha512)"
        )
    algorithm = algorithm.lower()
    if algorithm not in ALGORITHMS:
        raise OptionError(f"unsupported algorithm {algorithm!r}; use sha256 or sha512")
    rest = rest.strip()
    if urlsplit(rest).scheme.lower() in URL_SCHEMES:
        return f"{algorithm}:{source_url(rest)}"
    digest = rest.lower()
    if len(digest) != ALGORITHMS[algorithm] or not re.fullmatch(r"[0-9a-f]+", digest):
        raise OptionError(
            f"a {algorithm} digest is {ALGORITHMS[algorithm]} hex digits (or give the URL of a checksum file)"
        )
    return f"{algorithm}:{digest}"


def checksum_url(value: Optional[str]) -> Optional[str]:
    """The URL of the checksum file of a normalised checksum; None for ``algorithm:digest`` (or no checksum)."""
    if value is None:
        return None
    rest = value.split(":", 1)[1]
    return rest if ":" in rest else None


def source_file_name(values: dict[str, Any]) -> str:
    """The file name of an import's source: the last part of the URL's path, or of ``src``; '' for none."""
    source = unquote(urlsplit(values["url"]).path) if values.get("url") else values.get("src") or ""
    return os.path.basename(source.rstrip("/"))


def local_file(value: str) -> str:
    """An absolute path on the host that runs the module (``~`` expanded), like get_url's ``path`` options."""
    return absolute_path(os.path.expanduser(value))


def _volume_checks(volume: dict[str, Any], path: str) -> list[Problem]:
    problems: list[Problem] = []

    def at(name: str) -> str:
        return join_path(path, name)

    sources = [key for key in ("url", "src", "clone_from", "backing_image") if volume[key] is not None]
    if len(sources) > 1:
        problems.append((at(sources[1]), f"excludes {sources[0]}: a volume has one source"))
    importing = volume["url"] is not None or volume["src"] is not None
    if importing and volume["checksum"] is None:
        problems.append(
            (
                at("checksum"),
                "an import needs a checksum (sha256:<hex>, sha512:<hex>, or sha256:<URL of a checksum file>)",
            )
        )
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
    if checksum_url(volume["checksum"]) and importing and not source_file_name(volume):
        problems.append(
            (at("checksum"), "a checksum file is searched for the image's file name, and the source names no file")
        )
    if volume["url_password"] is not None and volume["url_username"] is None:
        problems.append((at("url_password"), "needs url_username"))
    for needing in ("client_key", "client_key_passphrase"):
        if volume[needing] is not None and volume["client_cert"] is None:
            problems.append((at(needing), "needs client_cert (the client certificate)"))
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
        Option("decompress", choices=DECOMPRESS, default="auto", update=CONTROL),
        # the URL options (get_url's), for url and for a checksum file's URL
        Option("url_username", update=CONTROL),
        Option("url_password", no_log=True, update=CONTROL),
        Option("force_basic_auth", type="bool", default=False, update=CONTROL),
        Option("url_headers", type="dict", no_log=True, aliases=("headers",), update=CONTROL),
        Option("validate_certs", type="bool", default=True, update=CONTROL),
        Option("ca_path", normalize=local_file, update=CONTROL),
        Option("client_cert", normalize=local_file, update=CONTROL),
        Option("client_key", normalize=local_file, update=CONTROL),
        Option("client_key_passphrase", no_log=True, update=CONTROL),
        Option("use_proxy", type="bool", default=True, update=CONTROL),
        Option("use_netrc", type="bool", default=True, update=CONTROL),
        Option("use_gssapi", type="bool", default=False, update=CONTROL),
        Option("http_agent", default="ansible-httpget", update=CONTROL),
        Option("timeout", type="int", default=60, minimum=1, update=CONTROL),
        Option("transfer", choices=("auto", "stream"), default="auto", update=CONTROL),
        Option("tmp_dir", normalize=absolute_path, update=CONTROL),
        Option("state", choices=("present", "absent"), default="present", update=CONTROL),
        Option("wipe", type="bool", default=False, update=CONTROL),
    ]


VOLUME_MODULE = OptionTable([*connection_options(), *volume_options()], checks=[_volume_checks])
