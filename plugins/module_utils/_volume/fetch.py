# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fetching an import's source and its checksum file with Ansible's URL options.

HTTP(S), FTP and file URLs go through ``ansible.module_utils.urls.Request`` (authentication, proxies,
netrc, redirects, GSSAPI) with a TLS context from its ``make_context``; the one thing added is the
passphrase of an encrypted client key, which Ansible's helpers cannot pass. A failure names the option
it is about (``url_password: ...``, ``ca_path: ...``, ``client_cert: ...``, ``checksum: ...``) and never
shows a secret: URLs are shown without their credentials.

A checksum given as a URL (``sha256:https://host/SHA256SUMS``) is resolved to the digest on the line
for the image's file name (``find_digest``: GNU ``HASH  name`` and ``HASH *name``, BSD ``SHA256 (name) =
HASH``, or a file holding one digest only).
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import urllib.error
from typing import Any, BinaryIO, Optional
from urllib.parse import urlsplit

from ansible.module_utils.urls import MissingModuleError, Request, make_context

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._progress import shown_source
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.options import ALGORITHMS, checksum_url

MAX_CHECKSUM_FILE = 4 * 1024 * 1024  # bytes: far above any SHA256SUMS, far below any image

# OpenSSL's words for a server that wants (another) client certificate
_CLIENT_CERT_ALERTS = (
    "CERTIFICATE_REQUIRED",
    "HANDSHAKE_FAILURE",
    "UNKNOWN_CA",
    "BAD_CERTIFICATE",
    "CERTIFICATE_UNKNOWN",
)


class FetchFailed(KvmFleetError):
    """A URL could not be fetched; the message starts with the option it is about."""


class _NoPassphrase(Exception):
    """The client key is encrypted and no passphrase was given."""


# ---------------------------------------------------------------------------------------------- checksum files

_GNU = re.compile(r"^\\?(?P<digest>[0-9A-Fa-f]+)[ \t]+\*?(?P<name>.+)$")
_BSD = re.compile(r"^(?P<tag>[A-Za-z0-9-]+) ?\((?P<name>.+)\) ?= ?(?P<digest>[0-9A-Fa-f]+)$")


def _entries(text: str) -> list[tuple[Optional[str], str, str]]:
    """The (algorithm tag or None, file name, digest) of each line of a checksum file that has one."""
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        bsd = _BSD.match(line)
        gnu = None if bsd else _GNU.match(line)
        match = bsd or gnu
        if match is None:
            continue  # comments, PGP armour, blank lines
        name = match.group("name").strip()
        while name.startswith("./"):
            name = name[2:]
        found.append((bsd.group("tag").lower().replace("-", "") if bsd else None, name, match.group("digest").lower()))
    return found


def find_digest(text: str, file_name: str, algorithm: str, where: str) -> str:
    """The ``algorithm`` digest of ``file_name`` in the checksum file ``text`` (fetched from ``where``).

    Its line is found by the exact name, else by the last part of a name with a directory when only
    one line has it. A file that holds one digest and nothing else is the digest (as get_url reads it).
    Raises ValueError with what is wrong: no line, a digest of another algorithm, two that differ.
    """
    words = text.split()
    if len(words) == 1 and re.fullmatch(r"[0-9A-Fa-f]+", words[0]):
        lines = [(None, file_name, words[0].lower())]
    else:
        entries = _entries(text)
        lines = [entry for entry in entries if entry[1] == file_name]
        if not lines:
            lines = [entry for entry in entries if entry[1].rsplit("/", 1)[-1] == file_name]
            if len({entry[1] for entry in lines}) > 1:
                names = ", ".join(sorted({entry[1] for entry in lines}))
                raise ValueError(f"{where} has several files called {file_name} ({names}); name the file in url")
    if not lines:
        raise ValueError(f"no line for {file_name} in {where}")
    digests = {digest for _tag, _name, digest in lines}
    if len(digests) > 1:
        raise ValueError(f"{where} has {len(digests)} different digests for {file_name}")
    tag, _name, digest = lines[0]
    if tag is not None and tag != algorithm:
        raise ValueError(f"the line for {file_name} in {where} is a {tag} digest, not {algorithm}")
    if len(digest) != ALGORITHMS[algorithm]:
        raise ValueError(
            f"the line for {file_name} in {where} holds {len(digest)} hex digits, not a {algorithm} digest "
            f"({ALGORITHMS[algorithm]})"
        )
    return digest


# ---------------------------------------------------------------------------------------------- fetching


class Fetcher:
    """Opens URLs with the volume task's URL options; one TLS context and cookie jar for the run."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self._context: Optional[ssl.SSLContext] = None
        self._request: Optional[Request] = None

    def _get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def context(self) -> ssl.SSLContext:
        """The TLS context (Ansible's make_context with ca_path and validate_certs, plus the client
        certificate); raises ValidationError naming the option whose file cannot be used."""
        if self._context is None:
            self._context = self._make_context()
        return self._context

    def _make_context(self) -> ssl.SSLContext:
        ca_path, cert, key = self._get("ca_path"), self._get("client_cert"), self._get("client_key")
        for field, path in (("ca_path", ca_path), ("client_cert", cert), ("client_key", key)):
            if path is not None and not os.path.isfile(path):
                raise ValidationError([(field, f"{path} is not a file on the host that runs the module")])
        try:
            context = make_context(cafile=ca_path, validate_certs=self._get("validate_certs", True))
        except (ssl.SSLError, OSError) as exc:
            raise ValidationError([("ca_path", f"{ca_path} holds no usable CA certificate: {exc}")]) from exc
        if cert is None:
            return context
        asked: list[bool] = []

        def passphrase() -> str:
            asked.append(True)
            if self._get("client_key_passphrase") is None:
                raise _NoPassphrase()
            return str(self._get("client_key_passphrase"))

        if hasattr(context, "post_handshake_auth"):  # TLS 1.3 servers that ask after the handshake
            context.post_handshake_auth = True
        try:
            context.load_cert_chain(cert, key, password=passphrase)
        except _NoPassphrase:
            raise ValidationError(
                [("client_key_passphrase", f"the client key {key or cert} is encrypted: give its passphrase")]
            ) from None
        except (ssl.SSLError, OSError) as exc:
            if asked:
                problem = ("client_key_passphrase", f"does not decrypt the client key {key or cert}")
            elif "KEY_VALUES_MISMATCH" in str(exc):
                problem = ("client_key", f"{key} is not the key of client_cert {cert}")
            elif key is None:
                problem = ("client_cert", f"{cert} holds no PEM certificate and key ({exc}); or give client_key")
            else:
                problem = ("client_cert", f"{cert} and {key} are no PEM certificate and key ({exc})")
            raise ValidationError([problem]) from exc
        return context

    def request(self) -> Request:
        if self._request is None:
            values = self.values
            self._request = Request(
                headers=dict(self._get("url_headers", {})),
                use_proxy=self._get("use_proxy", True),
                timeout=self._get("timeout", 60),
                validate_certs=self._get("validate_certs", True),
                url_username=values.get("url_username"),
                url_password=values.get("url_password"),
                http_agent=self._get("http_agent"),
                force_basic_auth=self._get("force_basic_auth", False),
                use_netrc=self._get("use_netrc", True),
            )
        return self._request

    def open(self, url: str, field: str) -> tuple[BinaryIO, Optional[int]]:
        """``url`` opened for reading and its length when known; FetchFailed names ``field`` (the
        option the URL came from) or the URL option that is wrong."""
        try:
            response = self.request().open(
                "GET", url, context=self.context(), use_gssapi=self._get("use_gssapi", False)
            )
        except KvmFleetError:
            raise
        except Exception as exc:  # urllib's HTTPError and URLError, socket and TLS errors, missing gssapi
            raise self._failure(exc, url, field) from exc
        headers = response.headers
        length = headers.get("Content-Length")
        if headers.get("Content-Encoding", "").lower() == "gzip":  # decoded by Request: another length
            length = None
        return response, int(length) if length and length.isdigit() else None

    def _failure(self, exc: Exception, url: str, field: str) -> FetchFailed:
        """The option to blame for a failed fetch, and why, without secrets."""
        shown = shown_source(url)
        host = urlsplit(url).hostname or shown
        reason = (
            exc.reason
            if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError)
            else exc
        )
        if isinstance(exc, urllib.error.HTTPError):
            if exc.code == 401:
                user = self.values.get("url_username") or urlsplit(url).username
                if user:
                    return FetchFailed(
                        f"url_password: {shown} refused the credentials of user {user} (HTTP 401 {exc.reason})",
                        status=401,
                    )
                return FetchFailed(
                    f"url_username: {shown} asks for credentials (HTTP 401 {exc.reason}); set url_username "
                    "and url_password",
                    status=401,
                )
            if exc.code == 407:
                return FetchFailed(
                    f"use_proxy: the proxy asks for credentials (HTTP 407) for {shown}; give them in the proxy "
                    "variable (https_proxy=http://user:password@proxy:port) or set use_proxy: false",
                    status=407,
                )
            return FetchFailed(f"{field}: cannot fetch {shown}: HTTP {exc.code} {exc.reason}", status=exc.code)
        if isinstance(reason, ssl.SSLCertVerificationError):
            if self.values.get("ca_path"):
                return FetchFailed(
                    f"ca_path: the TLS certificate of {host} was not verified ({reason.verify_message}) with the CA "
                    f"certificates of {self.values['ca_path']}; give the CA that signed it, or set validate_certs: "
                    "false"
                )
            return FetchFailed(
                f"validate_certs: the TLS certificate of {host} was not verified ({reason.verify_message}); give the "
                "CA that signed it with ca_path, or set validate_certs: false"
            )
        if isinstance(reason, ssl.SSLError) and any(alert in str(reason) for alert in _CLIENT_CERT_ALERTS):
            cert = self.values.get("client_cert")
            if cert is None:
                return FetchFailed(
                    f"client_cert: {host} asks for a TLS client certificate ({reason.reason}); set client_cert "
                    "and client_key"
                )
            return FetchFailed(f"client_cert: the client certificate {cert} was refused by {host} ({reason.reason})")
        if isinstance(reason, (ssl.SSLEOFError, ConnectionResetError)) and urlsplit(url).scheme == "https":
            # a TLS 1.3 server checks the client's certificate after the handshake, and may just hang up
            cert = self.values.get("client_cert")
            if cert is None:
                return FetchFailed(
                    f"client_cert: {host} closed the TLS connection ({reason}), as a server that wants a TLS client "
                    "certificate does; set client_cert and client_key"
                )
            return FetchFailed(
                f"client_cert: the client certificate {cert} was not accepted: {host} closed the TLS connection "
                f"({reason})"
            )
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return FetchFailed(f"timeout: {shown} did not answer within {self._get('timeout', 60)} s")
        if isinstance(exc, MissingModuleError):
            return FetchFailed(f"use_gssapi: {exc}")
        return FetchFailed(f"{field}: cannot fetch {shown}: {reason}")

    def resolve_checksum(self, checksum: str, file_name: str) -> str:
        """``algorithm:digest`` for a checksum given as ``algorithm:URL`` (unchanged otherwise): the digest
        on the line for ``file_name`` in the checksum file."""
        url = checksum_url(checksum)
        if url is None:
            return checksum
        algorithm = checksum.split(":", 1)[0]
        response, _length = self.open(url, "checksum")
        try:
            data = response.read(MAX_CHECKSUM_FILE + 1)
        except Exception as exc:  # a reset connection, a timeout
            raise FetchFailed(f"checksum: cannot read {shown_source(url)}: {exc}") from exc
        finally:
            response.close()
        if len(data) > MAX_CHECKSUM_FILE:
            raise FetchFailed(f"checksum: {shown_source(url)} is larger than 4 MiB: not a checksum file")
        try:
            digest = find_digest(data.decode("utf-8", "replace"), file_name, algorithm, shown_source(url))
        except ValueError as exc:
            raise FetchFailed(f"checksum: {exc}") from None
        return f"{algorithm}:{digest}"
