"""kvmfleet.kvm.volume imports with get_url's URL options, checksum files and compressed images, on the
real libvirtd: triads, then the volume's bytes.

Every server is local (127.0.0.1): HTTPS servers with certificates of a CA made for the module (openssl),
one that wants basic authentication and one that wants a TLS client certificate, and a plain HTTP
server that plays a proxy. They serve a qcow2 image compressed with xz, a raw image compressed with
gzip, and the SHA256SUMS of both.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import lzma
import os
import secrets
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

import kvmtest
import pytest

MiB = 1024 * 1024
USER = "deploy"


# ---------------------------------------------------------------------------------------------- fixtures


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def certificate(folder: Path, name: str, ca: Optional[str], subject: str, extension: str = "") -> None:
    """``name.key`` (EC P-256) and ``name.pem``, signed by ``ca`` (its ``.pem``/``.key``), self-signed when None."""
    key, pem = folder / f"{name}.key", folder / f"{name}.pem"
    if ca is None:
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
                "-out", str(pem), "-days", "2", "-subj", subject)  # fmt: skip
        return
    csr = folder / f"{name}.csr"
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
            "-out", str(csr), "-subj", subject)  # fmt: skip
    ext = folder / f"{name}.ext"
    ext.write_text(extension + "\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(folder / f"{ca}.pem"), "-CAkey", str(folder / f"{ca}.key"),
            "-CAcreateserial", "-out", str(pem), "-days", "2", "-extfile", str(ext))  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A CA, the servers' certificate for 127.0.0.1, a client certificate (with its key also encrypted),
    and a client certificate of another CA."""
    folder = tmp_path_factory.mktemp("pki")
    certificate(folder, "ca", None, "/CN=kvmfleet test CA")
    certificate(folder, "server", "ca", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1")
    certificate(folder, "client", "ca", "/CN=kvmfleet client", "extendedKeyUsage=clientAuth")
    certificate(folder, "rogue-ca", None, "/CN=another CA")
    certificate(folder, "rogue", "rogue-ca", "/CN=rogue client", "extendedKeyUsage=clientAuth")
    passphrase = f"kp-{secrets.token_hex(8)}"
    openssl("pkey", "-in", str(folder / "client.key"), "-aes256", "-passout", f"pass:{passphrase}",
            "-out", str(folder / "client-encrypted.key"))  # fmt: skip
    return {
        "dir": folder,
        "passphrase": passphrase,
        "ca": str(folder / "ca.pem"),
        "client": str(folder / "client.pem"),
        "rogue": str(folder / "rogue.pem"),
    }


class Server:
    """Serves the files of ``root`` on 127.0.0.1: over HTTPS with ``tls`` (a server context), asking for
    basic authentication with ``password``. ``/stalled/NAME`` sends half of NAME and waits. Every request
    is recorded (path and headers); so is a request with an absolute URI, as a proxy gets it."""

    def __init__(self, root: Path, tls: Optional[ssl.SSLContext] = None, password: Optional[str] = None) -> None:
        self.root = root
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.served: list[str] = []  # the paths answered with the file
        self.halfway = threading.Event()
        self.release = threading.Event()
        server = self
        expected = "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode() if password else None

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers)))
                if expected and self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="images"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = server.root / self.path.rsplit("/", 1)[-1]
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                stalled = "/stalled/" in self.path
                server.served.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if stalled else data)
                if stalled:
                    self.wfile.flush()
                    server.halfway.set()
                    server.release.wait(120)
                    self.close_connection = True

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client refused in the TLS handshake: the test reads the module's side

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def gets(self, name: str) -> int:
        """How often ``name`` was served (a request answered with 401 first is not counted)."""
        return sum(1 for path in self.served if path.endswith("/" + name))

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """disk.qcow2.xz (a qcow2 image) and data.img.gz (a raw image of random and zero parts) with their
    SHA256SUMS; the digests of the compressed files and of the images inside."""
    root = tmp_path_factory.mktemp("served")
    image = root / "disk.qcow2"
    kvmtest.run_cmd(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"])
    kvmtest.run_cmd(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", str(image)])
    qcow2 = image.read_bytes()
    image.unlink()
    raw = os.urandom(5 * MiB + 4321) + bytes(3 * MiB)  # more than one 4 MiB chunk, compressed too
    (root / "disk.qcow2.xz").write_bytes(lzma.compress(qcow2, preset=1))
    (root / "data.img.gz").write_bytes(gzip.compress(raw, compresslevel=1))
    packed = {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in ("disk.qcow2.xz", "data.img.gz")}
    (root / "SHA256SUMS").write_text("".join(f"{digest}  {name}\n" for name, digest in packed.items()))
    return {
        "root": root,
        "packed": packed,
        "image": {"disk.qcow2.xz": hashlib.sha256(qcow2).hexdigest(), "data.img.gz": hashlib.sha256(raw).hexdigest()},
    }


@pytest.fixture(scope="module")
def servers(pki: dict[str, Any], files: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``auth``: HTTPS with basic authentication (its ``password``); ``mtls``: HTTPS that wants a client
    certificate of the CA; ``plain`` and ``proxy``: HTTP."""
    folder = pki["dir"]
    password = f"pw-{secrets.token_hex(8)}"
    auth_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    auth_tls.load_cert_chain(folder / "server.pem", folder / "server.key")
    mtls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    mtls.load_cert_chain(folder / "server.pem", folder / "server.key")
    mtls.verify_mode = ssl.CERT_REQUIRED
    mtls.load_verify_locations(folder / "ca.pem")
    running = {
        "auth": Server(files["root"], auth_tls, password),
        "mtls": Server(files["root"], mtls),
        "plain": Server(files["root"]),
        "proxy": Server(files["root"]),
    }
    yield {**running, "password": password}
    for server in running.values():
        server.close()


@pytest.fixture
def fresh(servers: dict[str, Any]) -> dict[str, Any]:
    """The servers with their request records emptied."""
    for name in ("auth", "mtls", "plain", "proxy"):
        servers[name].requests.clear()
        servers[name].served.clear()
        servers[name].halfway.clear()
        servers[name].release.clear()
    return servers


@pytest.fixture
def dir_pool(conn: Any, prefix: str, tmp_path: Path) -> dict[str, str]:
    name, path = f"{prefix}dir", tmp_path / "dirpool"
    kvmtest.virsh("pool-define-as", name, "dir", "--target", str(path))
    kvmtest.virsh("pool-build", name)
    kvmtest.virsh("pool-start", name)
    return {"name": name, "path": str(path)}


def task(**options: Any) -> dict[str, Any]:
    return {"kvmfleet.kvm.volume": options}


def run_one(play_vars: Optional[dict[str, Any]] = None, check: bool = False, **options: Any) -> kvmtest.PlayResult:
    return kvmtest.run_playbook([{"name": "t", **task(**options)}], play_vars=play_vars, check=check, diff=True)


def volumes(pool: str) -> list[str]:
    kvmtest.virsh("pool-refresh", pool)
    return sorted(line.split()[0] for line in kvmtest.virsh("vol-list", pool).splitlines() if line.strip())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def output(*runs: kvmtest.PlayResult) -> str:
    return "".join(json.dumps(run.data) + run.stderr for run in runs)


# ---------------------------------------------------------------------------------------------- imports


@kvmtest.BOTH_WAYS
def test_xz_image_over_https_with_basic_auth_ca_path_and_a_checksum_file(
    triad, fresh: dict[str, Any], files: dict[str, Any], pki: dict[str, Any], dir_pool: dict[str, str],
    play_vars: dict[str, Any],
) -> None:  # fmt: skip
    server, path = fresh["auth"], Path(dir_pool["path"])
    options = {
        "pool": dir_pool["name"],
        "url": f"{server.url}/disk.qcow2.xz",
        "checksum": f"sha256:{server.url}/SHA256SUMS",
        "url_username": USER,
        "url_password": fresh["password"],
        "ca_path": pki["ca"],
    }
    name = f"disk-sha256-{files['packed']['disk.qcow2.xz'][:16]}.qcow2"

    check, apply, _recheck, _reapply = triad(task(**options))

    assert apply["name"] == name and apply["format"] == "qcow2"
    assert apply["checksum"] == f"sha256:{files['packed']['disk.qcow2.xz']}"
    assert apply["actions"] == [
        f"import {server.url}/disk.qcow2.xz as volume {name} (sha256 verified, decompressed from xz, written "
        f"into {path})"
    ]
    assert apply["diff"]["after"]["decompress"] == "xz"
    # the volume holds the decompressed image; the checksum was the compressed file's
    assert sha256_of(path / name) == files["image"]["disk.qcow2.xz"]
    info = json.loads(kvmtest.run_cmd(["qemu-img", "info", "-U", "--output=json", str(path / name)]))
    assert info["format"] == "qcow2" and info["virtual-size"] == 64 * MiB
    assert volumes(dir_pool["name"]) == [name] and [p.name for p in path.iterdir()] == [name]
    # the image once; the checksum file on every run (the name carries its digest)
    assert server.gets("disk.qcow2.xz") == 1 and server.gets("SHA256SUMS") == 4
    assert fresh["password"] not in json.dumps([check, apply])


def test_gz_image_over_https_with_a_client_certificate_and_validate_certs_false(
    triad, fresh: dict[str, Any], files: dict[str, Any], pki: dict[str, Any], dir_pool: dict[str, str],
    prefix: str, tmp_path: Path,
) -> None:  # fmt: skip
    """The server wants a client certificate; its own is not verified (validate_certs: false); the key is
    encrypted; the image goes over libvirt's stream (staged decompressed in tmp_dir, which is left empty)."""
    server, path = fresh["mtls"], Path(dir_pool["path"])
    staging = tmp_path / "staging"
    staging.mkdir()
    token = f"token-{secrets.token_hex(8)}"
    name = f"{prefix}data.img"
    options = {
        "pool": dir_pool["name"],
        "name": name,
        "url": f"{server.url}/data.img.gz",
        "checksum": f"sha256:{files['packed']['data.img.gz']}",
        "validate_certs": False,
        "client_cert": pki["client"],
        "client_key": str(pki["dir"] / "client-encrypted.key"),
        "client_key_passphrase": pki["passphrase"],
        "headers": {"X-Image-Token": token},
        "transfer": "stream",
        "tmp_dir": str(staging),
    }

    _check, apply, _recheck, _reapply = triad(task(**options))

    assert apply["actions"] == [
        f"import {server.url}/data.img.gz as volume {name} (sha256 verified, decompressed from gzip, uploaded "
        "over libvirt's stream)"
    ]
    assert sha256_of(path / name) == files["image"]["data.img.gz"]
    assert apply["capacity"] == 8 * MiB + 4321
    assert volumes(dir_pool["name"]) == [name] and list(staging.iterdir()) == []
    assert [headers.get("X-Image-Token") for _path, headers in server.requests] == [token]

    # a fresh import: neither the passphrase nor the header in the result or the progress lines (stderr)
    kvmtest.virsh("vol-delete", "--pool", dir_pool["name"], name)
    again = run_one(**options)
    assert again.result("t")["changed"]
    assert pki["passphrase"] not in output(again) and token not in output(again)


def test_a_compressed_controller_file_with_a_checksum_file_url(
    triad, files: dict[str, Any], dir_pool: dict[str, str]
) -> None:
    """src on the controller (through the action plugin), gzip, the checksum from a file:// SHA256SUMS."""
    root, path = files["root"], Path(dir_pool["path"])
    options = {
        "pool": dir_pool["name"],
        "src": str(root / "data.img.gz"),
        "checksum": f"sha256:file://{root}/SHA256SUMS",
    }
    name = f"data-sha256-{files['packed']['data.img.gz'][:16]}.img"

    _check, apply, _recheck, _reapply = triad(task(**options))

    assert apply["name"] == name and apply["src"] == options["src"]
    assert apply["actions"] == [
        f"import file data.img.gz as volume {name} (sha256 verified, decompressed from gzip, written into {path})"
    ]
    assert [p.name for p in path.iterdir()] == [name] and sha256_of(path / name) == files["image"]["data.img.gz"]


def test_use_proxy_sends_the_request_through_the_proxy_of_the_environment_or_not(
    fresh: dict[str, Any], files: dict[str, Any], dir_pool: dict[str, str], prefix: str
) -> None:
    plain, proxy = fresh["plain"], fresh["proxy"]
    env = {"http_proxy": proxy.url, "no_proxy": ""}
    common = {"pool": dir_pool["name"], "url": f"{plain.url}/disk.qcow2.xz", "http_agent": f"{prefix}agent"}
    checksum = f"sha256:{files['packed']['disk.qcow2.xz']}"

    through = kvmtest.run_playbook(
        [{"name": "t", **task(**common, name=f"{prefix}a.qcow2", checksum=checksum)}], env=env
    )
    direct = kvmtest.run_playbook(
        [{"name": "t", **task(**common, name=f"{prefix}b.qcow2", checksum=checksum, use_proxy=False)}], env=env
    )

    assert through.result("t")["changed"] and direct.result("t")["changed"]
    assert [path for path, _headers in proxy.requests] == [f"{plain.url}/disk.qcow2.xz"]  # an absolute URI
    assert [path for path, _headers in plain.requests] == ["/disk.qcow2.xz"]
    assert {headers["User-Agent"] for _path, headers in proxy.requests + plain.requests} == {f"{prefix}agent"}
    for name in (f"{prefix}a.qcow2", f"{prefix}b.qcow2"):
        assert sha256_of(Path(dir_pool["path"]) / name) == files["image"]["disk.qcow2.xz"]


# ---------------------------------------------------------------------------------------------- failures


@kvmtest.BOTH_WAYS
def test_a_wrong_password_fails_naming_it_and_leaves_no_volume(
    fresh: dict[str, Any], files: dict[str, Any], pki: dict[str, Any], dir_pool: dict[str, str],
    play_vars: dict[str, Any],
) -> None:  # fmt: skip
    server = fresh["auth"]
    wrong = f"wrong-{secrets.token_hex(8)}"
    common = {"pool": dir_pool["name"], "url_username": USER, "url_password": wrong, "ca_path": pki["ca"]}
    image = {"url": f"{server.url}/disk.qcow2.xz"}

    # a digest: the plan is made, the import fails on the server's answer
    by_digest = run_one(play_vars, **common, **image, checksum=f"sha256:{files['packed']['disk.qcow2.xz']}")
    # a checksum file: the plan already fails, also in check mode
    by_file = [
        run_one(play_vars, check, **common, **image, checksum=f"sha256:{server.url}/SHA256SUMS")
        for check in (True, False)
    ]

    # the credentials in the URL: shown without them, the password hidden where the URL itself is shown
    in_url = server.url.replace("https://", f"https://{USER}:{wrong}@")
    by_url = run_one(play_vars, url=f"{in_url}/disk.qcow2.xz", checksum=f"sha256:{files['packed']['disk.qcow2.xz']}",
                     pool=dir_pool["name"], ca_path=pki["ca"])  # fmt: skip

    message = f"url_password: {server.url}/disk.qcow2.xz refused the credentials of user {USER} (HTTP 401 Unauthorized)"
    assert by_url.result("t")["failed"] and by_url.result("t")["msg"] == message
    assert by_digest.result("t")["failed"] and by_digest.result("t")["msg"] == message
    for run in by_file:
        assert run.result("t")["failed"] and run.result("t")["msg"] == message.replace("disk.qcow2.xz", "SHA256SUMS")
    assert volumes(dir_pool["name"]) == [] and list(Path(dir_pool["path"]).iterdir()) == []
    assert wrong not in output(by_digest, by_url, *by_file)


def test_bad_url_inputs_name_their_field_and_change_nothing(
    fresh: dict[str, Any], files: dict[str, Any], pki: dict[str, Any], dir_pool: dict[str, str], prefix: str
) -> None:
    auth, mtls = fresh["auth"], fresh["mtls"]
    digest = f"sha256:{files['packed']['disk.qcow2.xz']}"
    sums = f"sha256:{auth.url}/SHA256SUMS"
    logged_in = {"url_username": USER, "url_password": fresh["password"], "ca_path": pki["ca"]}
    client = {"client_cert": pki["client"], "client_key": str(pki["dir"] / "client-encrypted.key")}
    cases = [
        # (options, whether check mode finds it too, the message's start)
        ({"url": f"{auth.url}/disk.qcow2.xz", "checksum": digest, **logged_in, "ca_path": None}, False,
         "validate_certs: the TLS certificate of 127.0.0.1 was not verified (unable to get local issuer"),
        ({"url": f"{auth.url}/disk.qcow2.xz", "checksum": digest, "ca_path": pki["ca"]}, False,
         f"url_username: {auth.url}/disk.qcow2.xz asks for credentials (HTTP 401 Unauthorized)"),
        ({"url": f"{auth.url}/other.qcow2.xz", "checksum": sums, **logged_in}, True,
         f"checksum: no line for other.qcow2.xz in {auth.url}/SHA256SUMS"),
        ({"url": f"{auth.url}/disk.qcow2.xz", "checksum": f"sha256:{auth.url}/MISSING", **logged_in}, True,
         f"checksum: cannot fetch {auth.url}/MISSING: HTTP 404"),
        ({"url": f"{mtls.url}/disk.qcow2.xz", "checksum": digest, "ca_path": pki["ca"]}, False,
         "client_cert: 127.0.0.1 "),  # asks for a TLS client certificate (an alert), or hangs up (TLS 1.3)
        ({"url": f"{mtls.url}/disk.qcow2.xz", "checksum": digest, "ca_path": pki["ca"],
          "client_cert": pki["rogue"], "client_key": pki["rogue"].replace(".pem", ".key")}, False,
         f"client_cert: the client certificate {pki['rogue']} was "),
        ({"url": f"{mtls.url}/disk.qcow2.xz", "checksum": digest, **client}, True,
         f"client_key_passphrase: the client key {client['client_key']} is encrypted: give its passphrase"),
        ({"url": f"{mtls.url}/disk.qcow2.xz", "checksum": digest, **client, "client_key_passphrase": "not it"}, True,
         f"client_key_passphrase: does not decrypt the client key {client['client_key']}"),
        ({"url": f"{mtls.url}/disk.qcow2.xz", "checksum": digest, "client_cert": pki["client"],
          "client_key": pki["rogue"].replace(".pem", ".key")}, True,
         f"client_key: {pki['rogue'].replace('.pem', '.key')} is not the key of client_cert {pki['client']}"),
        ({"url": f"{auth.url}/disk.qcow2.xz", "checksum": digest, **logged_in, "decompress": "gz"}, False,
         f"decompress: {auth.url}/disk.qcow2.xz is not valid gzip data"),
        ({"url": f"{auth.url}/disk.qcow2.xz", "checksum": digest, "url_password": "x"}, True,
         "url_password: needs url_username"),
    ]  # fmt: skip
    for check in (True, False):  # every case a task of one play (each fails on its own)
        tasks = [
            {
                "name": f"case {index}",
                "ignore_errors": True,
                **task(pool=dir_pool["name"], name=f"{prefix}x.qcow2", **{k: v for k, v in options.items() if v}),
            }
            for index, (options, _in_check_mode, _message) in enumerate(cases)
        ]
        outcome = kvmtest.run_playbook(tasks, check=check)
        for index, (_options, in_check_mode, message) in enumerate(cases):
            result = outcome.result(f"case {index}")
            if check and not in_check_mode:  # found only by fetching the image: check mode predicts the import
                assert result.get("changed") and not result.get("failed"), (index, result.get("msg"))
                continue
            assert result.get("failed") and result["msg"].startswith(message), (message, result.get("msg"), check)
    assert volumes(dir_pool["name"]) == [] and list(Path(dir_pool["path"]).iterdir()) == []


def test_a_missing_zstd_tool_fails_in_check_mode_naming_decompress(
    fresh: dict[str, Any], dir_pool: dict[str, str], tmp_path: Path
) -> None:
    """The host that runs the module has no zstd (a PATH without it): the plan says what to install."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in Path("/usr/bin").iterdir():
        if not tool.name.startswith(("zstd", "unzstd", "zstdcat")):
            (bin_dir / tool.name).symlink_to(tool)
    options = {
        "pool": dir_pool["name"],
        "url": f"{fresh['plain'].url}/disk.qcow2.zst",
        "checksum": "sha256:" + "0" * 64,
    }
    env = {"PATH": f"{kvmtest.VENV_BIN}:{bin_dir}:/usr/sbin:/sbin"}
    outcome = kvmtest.run_playbook([{"name": "t", **task(**options)}], check=True, env=env)
    result = outcome.result("t")
    assert result["failed"] and result["msg"].startswith("decompress: zstd images are decompressed with the zstd tool")
    assert "install the zstd package" in result["msg"] and fresh["plain"].requests == []


def test_a_decompressing_import_killed_before_its_link_converges(
    fresh: dict[str, Any], files: dict[str, Any], dir_pool: dict[str, str], prefix: str
) -> None:
    """Killed (SIGKILL of the whole run) once the decompressed image is written and verified, before it is
    linked under its name: only the hidden partial file is left, and the rerun removes it."""
    path, name = Path(dir_pool["path"]), f"{prefix}killed.qcow2"
    options = {
        "pool": dir_pool["name"],
        "name": name,
        "url": f"{fresh['plain'].url}/disk.qcow2.xz",
        "checksum": f"sha256:{files['packed']['disk.qcow2.xz']}",
    }
    killed = kvmtest.run_playbook([{"name": "t", **task(**options)}], env={"KVMFLEET_FAULT_AT": f"before:link {name}"})
    assert killed.rc == -9
    deadline = time.monotonic() + 5  # the killed run's processes, and with them the partial file's lock, go
    while any(b"KVMFLEET_FAULT_AT=" in environ(pid) for pid in os.listdir("/proc") if pid.isdigit()):
        assert time.monotonic() < deadline, "a process of the killed run is still alive"
        time.sleep(0.025)
    leftovers = [p.name for p in path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".{name}.kvmfleet-part-")
    assert name not in volumes(dir_pool["name"])

    first = run_one(**options).result("t")
    again = run_one(**options).result("t")

    assert first["changed"] and not again["changed"] and not again.get("failed")
    assert [p.name for p in path.iterdir()] == [name] and sha256_of(path / name) == files["image"]["disk.qcow2.xz"]


def environ(pid: str) -> bytes:
    try:
        return Path("/proc", pid, "environ").read_bytes()
    except OSError:
        return b""
