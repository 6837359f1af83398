"""Volume imports: the URL options, checksum files, compressed images - the table's checks, the checksum
file parser, suffix -> decompressor, the decompressing copy, failures naming their option, and the
planner on libvirt's test:///default driver with file:// URLs."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import re
import secrets
import shutil
import ssl
import subprocess
import urllib.error
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.urls import MissingModuleError, url_argument_spec

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _progress
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import expand, ops, transfer
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.fetch import Fetcher, FetchFailed, find_digest
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.options import VOLUME_MODULE, checksum_url
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.plan import cache_name, converge

URI = "test:///default"
DIGEST = "ab" * 32
SHA = "sha256:" + DIGEST
OTHER = "cd" * 32


def values(**options: Any) -> dict[str, Any]:
    validated, problems = VOLUME_MODULE.validate(options)
    assert problems == []
    validated["tmp_dir"] = validated["tmp_dir"] or "/tmp"
    return validated


# ---------------------------------------------------------------------------------------------- the table


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"url": "http://h/x.img", "checksum": "sha256:h/SUMS"}, ("checksum", "a sha256 digest is 64 hex digits")),
        ({"url": "http://h/x.img", "checksum": "sha256:https:/SUMS"}, ("checksum", "is not an http, https, ftp")),
        ({"url": "http://h/", "checksum": "sha256:http://h/SUMS"}, ("checksum", "the source names no file")),
        ({"url": "http://h/x.img", "checksum": SHA, "url_password": "p"}, ("url_password", "needs url_username")),
        ({"url": "http://h/x.img", "checksum": SHA, "client_key": "/k.pem"}, ("client_key", "needs client_cert")),
        (
            {"url": "http://h/x.img", "checksum": SHA, "client_key_passphrase": "p"},
            ("client_key_passphrase", "needs client_cert"),
        ),
        ({"url": "http://h/x.img", "checksum": SHA, "ca_path": "ca.pem"}, ("ca_path", "is not an absolute path")),
        ({"url": "http://h/x.img", "checksum": SHA, "client_cert": "c.pem"}, ("client_cert", "is not an absolute")),
        ({"url": "http://h/x.img", "checksum": SHA, "decompress": "lz4"}, ("decompress", "must be one of auto, none")),
        ({"url": "http://h/x.img", "checksum": SHA, "timeout": 0}, ("timeout", "must be at least 1")),
        ({"url": "http://h/x.img", "checksum": SHA, "use_proxy": "maybe"}, ("use_proxy", "expected true or false")),
    ],
)
def test_url_options_are_checked_naming_the_field(options: dict[str, Any], problem: tuple[str, str]) -> None:
    _values, problems = VOLUME_MODULE.validate(options)
    assert any(path == problem[0] and problem[1] in message for path, message in problems), problems


@pytest.mark.parametrize(
    ("given", "normalised", "url"),
    [
        (SHA, SHA, None),
        ("SHA512:https://h/a/SHA512SUMS", "sha512:https://h/a/SHA512SUMS", "https://h/a/SHA512SUMS"),
        ("sha256: ftp://h/SUMS ", "sha256:ftp://h/SUMS", "ftp://h/SUMS"),
        ("sha256:file:///srv/SHA256SUMS", "sha256:file:///srv/SHA256SUMS", "file:///srv/SHA256SUMS"),
    ],
)
def test_checksum_is_a_digest_or_the_url_of_a_checksum_file(given: str, normalised: str, url: str | None) -> None:
    checked = values(url="http://h/x.img", checksum=given)["checksum"]
    assert checked == normalised and checksum_url(checked) == url


def test_url_options_match_ansibles_url_argument_spec() -> None:
    """get_url's options (ansible.module_utils.urls.url_argument_spec) with the same type, default and
    secrecy; ``force`` means nothing here (the volume's name is its cache); client files are checked paths."""
    ours = VOLUME_MODULE.argument_spec()
    for name, spec in url_argument_spec().items():
        if name in ("url", "force"):
            continue
        assert name in ours, name
        expected = {**spec, "type": "str"} if spec["type"] == "path" else spec
        assert {key: ours[name].get(key) for key in expected} == expected, name
    assert ours["url_headers"]["aliases"] == ["headers"] and ours["url_headers"]["no_log"] is True
    assert ours["client_key_passphrase"]["no_log"] is True
    assert VOLUME_MODULE.secrets({"url_password": "pw", "client_key_passphrase": "kp"}) == {"pw", "kp"}


# ---------------------------------------------------------------------------------------------- checksum files

FEDORA = f"""-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

# Fedora-Cloud-Base-40.x86_64.qcow2: 397475840 bytes
SHA256 (Fedora-Cloud-Base-40.x86_64.qcow2) = {DIGEST}
SHA256 (Fedora-Cloud-Base-40.x86_64.raw.xz) = {OTHER}
-----BEGIN PGP SIGNATURE-----
iQIzBAEBCAAdFiEE
-----END PGP SIGNATURE-----
"""


@pytest.mark.parametrize(
    ("text", "name", "algorithm", "digest"),
    [
        (f"{OTHER}  other.img\n{DIGEST}  disk.qcow2\n", "disk.qcow2", "sha256", DIGEST),  # GNU text mode
        (f"{DIGEST} *disk.qcow2\n", "disk.qcow2", "sha256", DIGEST),  # GNU binary mode
        (f"{DIGEST.upper()}  ./disk.qcow2\r\n", "disk.qcow2", "sha256", DIGEST),  # ./, upper case, CRLF
        (f"{DIGEST} disk.qcow2", "disk.qcow2", "sha256", DIGEST),  # one space, as get_url reads it
        (f"{DIGEST}  images/disk.qcow2\n", "disk.qcow2", "sha256", DIGEST),  # one line with a directory
        (f"{DIGEST}  my disk.qcow2\n", "my disk.qcow2", "sha256", DIGEST),  # a space in the name
        (FEDORA, "Fedora-Cloud-Base-40.x86_64.raw.xz", "sha256", OTHER),  # BSD, signed, comments
        (f"SHA512 (disk.img) = {'ef' * 64}\n", "disk.img", "sha512", "ef" * 64),
        (f"{DIGEST}\n", "anything.img", "sha256", DIGEST),  # a file holding the digest only
    ],
)
def test_checksum_file_lines(text: str, name: str, algorithm: str, digest: str) -> None:
    assert find_digest(text, name, algorithm, "https://h/SUMS") == digest


@pytest.mark.parametrize(
    ("text", "name", "algorithm", "message"),
    [
        (f"{DIGEST}  other.qcow2\n", "disk.qcow2", "sha256", "no line for disk.qcow2 in https://h/SUMS"),
        ("", "disk.qcow2", "sha256", "no line for disk.qcow2 in https://h/SUMS"),
        (f"{DIGEST}  disk.qcow2.xz\n", "disk.qcow2", "sha256", "no line for disk.qcow2"),
        (f"{'ef' * 64}  disk.qcow2\n", "disk.qcow2", "sha256", "holds 128 hex digits, not a sha256 digest (64)"),
        (f"SHA512 (disk.qcow2) = {DIGEST}\n", "disk.qcow2", "sha256", "is a sha512 digest, not sha256"),
        (f"{DIGEST}  disk.qcow2\n{OTHER}  disk.qcow2\n", "disk.qcow2", "sha256", "has 2 different digests"),
        (f"{DIGEST}  a/disk.qcow2\n{OTHER}  b/disk.qcow2\n", "disk.qcow2", "sha256", "several files called"),
    ],
)
def test_checksum_file_without_a_usable_line_says_why(text: str, name: str, algorithm: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        find_digest(text, name, algorithm, "https://h/SUMS")


def test_a_checksum_file_url_resolves_to_the_digest_and_names_the_field(tmp_path: Path) -> None:
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{DIGEST}  disk.qcow2.xz\n")
    fetcher = Fetcher(values(url="http://h/disk.qcow2.xz", checksum=f"sha256:file://{sums}"))
    assert fetcher.resolve_checksum(f"sha256:file://{sums}", "disk.qcow2.xz") == SHA
    assert fetcher.resolve_checksum(SHA, "disk.qcow2.xz") == SHA  # a digest stays as it is
    with pytest.raises(FetchFailed, match=rf"^checksum: no line for disk.raw in file://{sums}$"):
        fetcher.resolve_checksum(f"sha256:file://{sums}", "disk.raw")
    with pytest.raises(FetchFailed, match=r"^checksum: cannot fetch file:///nonexistent/SUMS: "):
        fetcher.resolve_checksum("sha256:file:///nonexistent/SUMS", "disk.raw")
    big = tmp_path / "big"
    big.write_bytes(b"0" * (4 * 1024 * 1024 + 1))
    with pytest.raises(FetchFailed, match="is larger than 4 MiB: not a checksum file"):
        fetcher.resolve_checksum(f"sha256:file://{big}", "disk.raw")


# ---------------------------------------------------------------------------------------------- failures


def http_error(code: int, reason: str) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("https://h/x", code, reason, Message(), None)


def verify_error() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate in certificate chain"
    return error


def alert(name: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {name}] alert")
    error.reason = name
    return error


@pytest.mark.parametrize(
    ("options", "error", "field", "message"),
    [
        ({"url_username": "u", "url_password": "pw"}, http_error(401, "Unauthorized"), "url_password", "user u"),
        ({}, http_error(401, "Unauthorized"), "url_username", "asks for credentials (HTTP 401 Unauthorized)"),
        ({}, http_error(407, "Proxy Authentication Required"), "use_proxy", "the proxy asks for credentials"),
        ({}, http_error(404, "Not Found"), "url", "cannot fetch https://h/x: HTTP 404 Not Found"),
        ({}, urllib.error.URLError(verify_error()), "validate_certs", "self-signed certificate in certificate"),
        ({"ca_path": "/ca.pem"}, urllib.error.URLError(verify_error()), "ca_path", "with the CA certificates of /ca"),
        ({}, alert("TLSV13_ALERT_CERTIFICATE_REQUIRED"), "client_cert", "asks for a TLS client certificate"),
        (
            {"client_cert": "/c.pem"},
            alert("TLSV1_ALERT_UNKNOWN_CA"),
            "client_cert",
            "the client certificate /c.pem was refused by h",
        ),
        (
            {"client_cert": "/c.pem"},
            ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
            "client_cert",
            "the client certificate /c.pem was not accepted: h closed the TLS connection",
        ),
        ({}, ConnectionResetError(104, "reset"), "client_cert", "closed the TLS connection ([Errno 104] reset), as a"),
        ({}, urllib.error.URLError(TimeoutError("timed out")), "timeout", "did not answer within 60 s"),
        ({}, MissingModuleError("Failed to import gssapi", None), "use_gssapi", "gssapi"),
        ({}, urllib.error.URLError(ConnectionRefusedError(111, "refused")), "url", "cannot fetch https://h/x"),
    ],
)
def test_fetch_failures_name_the_option(options: dict[str, Any], error: Exception, field: str, message: str) -> None:
    fetcher = Fetcher(values(url="https://h/x", checksum=SHA, **options))
    failure = fetcher._failure(error, "https://h/x", "url")
    assert failure.msg.startswith(f"{field}: ") and message in failure.msg, failure.msg
    assert "pw" not in failure.msg


def test_credentials_in_a_url_are_never_shown(tmp_path: Path) -> None:
    fetcher = Fetcher(values(url="https://user:s3cret@h/x.img", checksum=SHA))
    failure = fetcher._failure(http_error(401, "Unauthorized"), "https://user:s3cret@h/x.img", "url")
    assert failure.msg == "url_password: https://h/x.img refused the credentials of user user (HTTP 401 Unauthorized)"
    missing = fetcher._failure(http_error(404, "Not Found"), "https://user:s3cret@h/x.img", "url")
    assert "s3cret" not in missing.msg


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"ca_path": "/nonexistent/ca.pem"}, "ca_path", "is not a file on the host that runs the module"),
        ({"client_cert": "/nonexistent/c.pem"}, "client_cert", "is not a file"),
        ({"client_cert": "{garbage}", "client_key": "/nonexistent/k.pem"}, "client_key", "is not a file"),
        ({"ca_path": "{garbage}"}, "ca_path", "holds no usable CA certificate"),
        ({"client_cert": "{garbage}"}, "client_cert", "holds no PEM certificate and key"),
    ],
)
def test_tls_files_that_cannot_be_used_name_their_option(
    tmp_path: Path, options: dict[str, Any], field: str, message: str
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    given = {key: value.format(garbage=garbage) for key, value in options.items()}
    with pytest.raises(ValidationError, match=rf"^{field}: .*{message}"):
        Fetcher(values(url="https://h/x.img", checksum=SHA, **given)).context()


# ---------------------------------------------------------------------------------------------- decompression


@pytest.mark.parametrize(
    ("file_name", "decompress", "fmt", "stripped"),
    [
        ("disk.qcow2.xz", "auto", "xz", "disk.qcow2"),
        ("disk.img.GZ", "auto", "gz", "disk.img"),
        ("disk.raw.bz2", "auto", "bz2", "disk.raw"),
        ("disk.qcow2.zst", "auto", "zst", "disk.qcow2"),
        ("disk.qcow2", "auto", None, "disk.qcow2"),
        ("disk.qcow2.xz", "none", None, "disk.qcow2.xz"),
        ("download", "xz", "xz", "download"),
        ("disk.img.gz", "xz", "xz", "disk.img.gz"),  # forced: a suffix of another format stays
    ],
)
def test_suffix_or_option_chooses_the_decompressor(file_name: str, decompress: str, fmt: str, stripped: str) -> None:
    assert expand.detect(file_name, decompress) == fmt
    assert expand.strip_suffix(file_name, fmt) == stripped


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ({"url": "https://h/images/debian-12.qcow2.xz"}, "debian-12-sha256-abababababababab.qcow2"),
        ({"url": "https://h/disk.img.gz?x=1"}, "disk-sha256-abababababababab.img"),
        ({"url": "https://h/disk.qcow2.xz", "decompress": "none"}, "disk.qcow2.xz-sha256-abababababababab"),
        ({"src": "/srv/base.raw.zst", "url": None}, "base-sha256-abababababababab.raw"),
    ],
)
def test_cache_name_drops_the_compression_suffix(source: dict[str, Any], name: str) -> None:
    assert cache_name({"url": None, "src": None, "checksum": SHA, **source}) == name


def test_progress_of_a_decompressing_copy_shows_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "INTERVAL", 0.0)  # every chunk
    seen: list[str] = []
    packed = lzma.compress(secrets.token_bytes(ops.CHUNK) + bytes(2 * ops.CHUNK), preset=0)
    target = os.open(tmp_path / "t", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with _progress.reporting(lambda message, stage: seen.append(message)):
            transfer.copy_hashed(
                io.BytesIO(packed), target, "sha256", len(packed), "https://u:s3cret@h/x.xz", expand="xz"
            )
    finally:
        os.close(target)
    assert seen[0] == "importing https://h/x.xz" and len(seen) > 2
    assert seen[-1].startswith(f"importing https://h/x.xz: {len(packed) / 2**20:.0f} of ") and "s3cret" not in "".join(
        seen
    )


def test_a_missing_tool_names_the_option_and_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expand.shutil, "which", lambda tool: None)
    assert expand.missing_tool("xz") is None  # the standard library's
    why = expand.missing_tool("zst")
    assert why is not None and "install the zstd package" in why and "decompress: none" in why


def compressed(fmt: str, data: bytes) -> bytes:
    """``data`` compressed as ``fmt``, at the fastest level."""
    if fmt == "xz":
        return lzma.compress(data, preset=0)
    if fmt == "gz":
        return gzip.compress(data, compresslevel=1)
    if fmt == "bz2":
        return bz2.compress(data, compresslevel=1)
    return subprocess.run(["zstd", "-q", "-1", "-c"], input=data, capture_output=True, check=True).stdout


FORMATS = ["xz", "gz", "bz2", pytest.param("zst", marks=pytest.mark.skipif(not shutil.which("zstd"), reason="zstd"))]


def expand_copy(tmp_path: Path, packed: bytes, fmt: str, length: int | None = None) -> tuple[int, str, bytes]:
    target = tmp_path / "target"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written, digest = transfer.copy_hashed(io.BytesIO(packed), fd, "sha256", length, "x.img", expand=fmt)
    finally:
        os.close(fd)
    return written, digest, target.read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("size", [3 * ops.CHUNK + 17, 0])
def test_decompressing_copy_writes_the_image_and_hashes_the_file_as_fetched(
    tmp_path: Path, fmt: str, size: int
) -> None:
    data = secrets.token_bytes(size // 3) + bytes(size - size // 3)  # compressed: more than one chunk too
    packed = compressed(fmt, data)
    written, digest, target = expand_copy(tmp_path, packed, fmt, len(packed))
    assert written == size and target == data and digest == hashlib.sha256(packed).hexdigest()


@pytest.mark.parametrize("fmt", FORMATS)
def test_concatenated_streams_are_one_image(tmp_path: Path, fmt: str) -> None:
    """pbzip2, pigz -i and xz --block-list write several streams or members: all of them are the image."""
    parts = [secrets.token_bytes(ops.CHUNK + 5), secrets.token_bytes(1000)]
    packed = b"".join(compressed(fmt, part) for part in parts)
    written, digest, target = expand_copy(tmp_path, packed, fmt)
    assert target == b"".join(parts) and written == len(target) and digest == hashlib.sha256(packed).hexdigest()


def test_bytes_after_the_compressed_data_are_hashed_too(tmp_path: Path) -> None:
    """xz ignores what follows its streams; the checksum is still the whole file's, as fetched."""
    packed = lzma.compress(b"image") + b"a signature, or anything else" * 1000
    _written, digest, target = expand_copy(tmp_path, packed, "xz")
    assert target == b"image" and digest == hashlib.sha256(packed).hexdigest()


@pytest.mark.parametrize("fmt", FORMATS)
def test_data_of_another_format_fails_naming_decompress(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(expand.DecompressFailed, match=r"^decompress: x.img is not valid .* data"):
        expand_copy(tmp_path, b"QFI\xfb" + secrets.token_bytes(70000), fmt)


@pytest.mark.parametrize("fmt", ["xz", "gz", "bz2"])
def test_a_file_cut_short_fails_naming_decompress(tmp_path: Path, fmt: str) -> None:
    packed = compressed(fmt, secrets.token_bytes(300000))
    with pytest.raises(expand.DecompressFailed, match=r"^decompress: x.img ended inside its .* data"):
        expand_copy(tmp_path, packed[: len(packed) // 2], fmt)


class Broken(io.BytesIO):
    """A source that breaks off after its first read."""

    def readinto(self, buffer: Any) -> int:
        if self.tell() > 0:
            raise ConnectionResetError("peer closed")
        return super().readinto(buffer)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_source_that_breaks_off_is_a_broken_transfer_not_bad_data(tmp_path: Path, fmt: str) -> None:
    packed = compressed(fmt, secrets.token_bytes(ops.CHUNK) + bytes(2 * ops.CHUNK))
    target = os.open(tmp_path / "t", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(transfer.TransferFailed, match=r"broke off after \d+ bytes: peer closed"):
            transfer.copy_hashed(Broken(packed), target, "sha256", None, "x.img", expand=fmt)
    finally:
        os.close(target)


# ---------------------------------------------------------------------------------------------- the planner


@pytest.fixture
def conn() -> Iterator[Any]:
    connection = connect(URI)
    yield connection
    connection.close()


@pytest.fixture
def served(tmp_path: Path) -> dict[str, Any]:
    """An xz image and its SHA256SUMS as file:// URLs."""
    image = secrets.token_bytes(5000)
    packed = lzma.compress(image)
    (tmp_path / "disk.img.xz").write_bytes(packed)
    digest = hashlib.sha256(packed).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{OTHER}  other.img\n{digest} *disk.img.xz\n")
    return {"url": f"file://{tmp_path}/disk.img.xz", "sums": f"sha256:file://{tmp_path}/SHA256SUMS", "digest": digest}


def test_check_mode_names_the_volume_after_the_digest_in_the_checksum_file(conn: Any, served: dict[str, Any]) -> None:
    pool = f"unit-missing-{secrets.token_hex(3)}"
    check = converge(conn, URI, values(pool=pool, url=served["url"], checksum=served["sums"]), check_mode=True)
    name = f"disk-sha256-{served['digest'][:16]}.img"
    assert check["name"] == name and check["checksum"] == f"sha256:{served['digest']}"
    assert check["actions"] == [
        f"import {served['url']} as volume {name} (sha256 verified, decompressed from xz, into pool {pool}, "
        "which does not exist yet)"
    ]
    assert check["diff"]["after"]["decompress"] == "xz"


def test_a_missing_line_fails_before_anything_is_planned(conn: Any, served: dict[str, Any]) -> None:
    url = served["url"].replace("disk.img.xz", "disk.img")
    with pytest.raises(FetchFailed, match=r"^checksum: no line for disk.img in file://"):
        converge(conn, URI, values(pool="default-pool", name="v.img", url=url, checksum=served["sums"]), True)


def test_a_decompressed_src_import_holds_the_image(conn: Any, tmp_path: Path) -> None:
    image = secrets.token_bytes(3 * ops.CHUNK + 1)
    source = tmp_path / "disk.img.gz"
    source.write_bytes(gzip.compress(image))
    pool_dir = tmp_path / "pool"
    pool_dir.mkdir()
    want = values(
        src=str(source), remote_src=True, checksum="sha256:" + hashlib.sha256(source.read_bytes()).hexdigest()
    )
    pool = conn.storagePoolLookupByName("default-pool")
    transfer.import_direct(want, pool, str(pool_dir), "v.img", expand="gz")
    assert [p.name for p in pool_dir.iterdir()] == ["v.img"] and (pool_dir / "v.img").read_bytes() == image
