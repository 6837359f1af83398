# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground layer: import guard for the libvirt binding and the connection by URI.

Nothing here knows about Ansible; errors are raised as ``_errors`` types.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import (
    ChangedUnderRun,
    ConnectionFailed,
    LibvirtMissing,
)

try:
    import libvirt
except ImportError:
    libvirt = None
    LIBVIRT_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    LIBVIRT_IMPORT_ERROR = None

DEFAULT_URI = "qemu:///system"

LIBVIRT_LIBRARY = "libvirt-python"
LIBVIRT_INSTALL_HINT = (
    "install the libvirt Python binding for the interpreter that runs the module: "
    "python3-libvirt (apt on Debian/Ubuntu, dnf on Fedora/RHEL) or libvirt-python (pip; needs libvirt-dev "
    "or libvirt-devel and pkg-config to build)"
)


def require_libvirt() -> Any:
    """Return the libvirt module, or raise LibvirtMissing with the package that installs it."""
    if libvirt is None:
        raise LibvirtMissing(
            f"the libvirt Python binding cannot be imported: {LIBVIRT_INSTALL_HINT}",
            exception=LIBVIRT_IMPORT_ERROR,
        )
    return libvirt


NOT_FOUND = ("VIR_ERR_NO_DOMAIN", "VIR_ERR_NO_NETWORK", "VIR_ERR_NO_STORAGE_POOL", "VIR_ERR_NO_STORAGE_VOL")


def find(lookup: Callable[[str], Any], name: str) -> Optional[Any]:
    """``lookup(name)`` (``conn.lookupByName``, ``pool.storageVolLookupByName``...), or None when libvirt
    says there is no such object. Every other error is raised: a lost connection never reads as absent."""
    lv = require_libvirt()
    for attempt in (1, 2):
        try:
            return lookup(name)
        except lv.libvirtError as exc:
            code = exc.get_error_code()
            if code is None and attempt == 1:
                # the thread's error was reset before the binding read it (a finalizer freeing a libvirt
                # object ran in the error handler's Python call): ask once more, to learn what it was
                continue
            if code in {getattr(lv, code_name) for code_name in NOT_FOUND}:
                return None
            raise
    return None  # not reached: the second attempt returns or raises


def define_new(define: Callable[[str], Any], lookup: Callable[[str], Any], name: str, xml: str, what: str) -> None:
    """``define(xml)`` of an object (``what`` ``name``) this run planned to create.

    When it fails because an object of that name exists now (another run defined it between this
    run's plan and this call: libvirt refuses a second definition with another UUID),
    ChangedUnderRun: the plan is stale.
    """
    lv = require_libvirt()
    try:
        define(xml)
    except lv.libvirtError as exc:
        if find(lookup, name) is None:
            raise
        raise ChangedUnderRun(
            f"{what} {name} was defined meanwhile (by another run or by hand) after this run planned to create it"
        ) from exc


# libvirt's schema check on define (the VALIDATE flags), by kind: (the flag's name, the first libvirt version
# whose daemon takes it; a daemon that does not know a flag refuses the call)
VALIDATING = {
    "domain": ("VIR_DOMAIN_DEFINE_VALIDATE", 1_003_003),
    "network": ("VIR_NETWORK_DEFINE_VALIDATE", 7_007_000),
    "pool": ("VIR_STORAGE_POOL_DEFINE_VALIDATE", 7_008_000),
    "secret": ("VIR_SECRET_DEFINE_VALIDATE", 7_007_000),
}


def validate_flag(conn: Any, kind: str) -> int:
    """The flag that makes libvirt check a ``kind`` definition against its schema on define (refusing one
    that does not pass with its own words), or 0 where the binding or the daemon has none."""
    lv = require_libvirt()
    name, since = VALIDATING[kind]
    flag = getattr(lv, name, 0)
    if not flag:
        return 0
    try:
        return flag if conn.getLibVersion() >= since else 0
    except lv.libvirtError:
        return 0


def define_domain(conn: Any, xml: str, validate: bool = False) -> Any:
    """Define a guest; ``validate``: checked against libvirt's schema first (a definition that holds XML the
    collection did not write itself)."""
    flag = validate_flag(conn, "domain") if validate else 0
    return conn.defineXMLFlags(xml, flag) if flag else conn.defineXML(xml)


def define_checked(conn: Any, kind: str, xml: str) -> Any:
    """Define a ``network``, ``pool`` or ``secret``, checked against libvirt's schema where the daemon can."""
    flag = validate_flag(conn, kind)
    if kind == "network":
        return conn.networkDefineXMLFlags(xml, flag) if flag else conn.networkDefineXML(xml)
    if kind == "pool":
        return conn.storagePoolDefineXML(xml, flag)
    return conn.secretDefineXML(xml, flag)


def _silence(_ctx: Any, _err: Any) -> None:
    """libvirt prints every error to stderr by default; errors are reported through exceptions instead."""


def connection_hint(uri: str) -> str:
    """What to check when ``uri`` cannot be reached, by transport."""
    parts = urlsplit(uri)
    scheme = parts.scheme
    transport = scheme.split("+", 1)[1] if "+" in scheme else ("unix" if not parts.netloc else "tls")
    driver = scheme.split("+", 1)[0]
    if driver == "test":
        return "check the test driver URI (test:///default)"
    if transport == "unix":
        return (
            "check that libvirtd (or the modular virtqemud) runs on this host, that its socket exists "
            "(/run/libvirt/libvirt-sock or /run/libvirt/virtqemud-sock), and that this user may open it "
            "(root, or a member of the libvirt group)"
        )
    if transport in {"ssh", "libssh"}:
        return (
            f"check that this host can SSH to {parts.hostname} non-interactively (key-based login), and that "
            "libvirtd runs there and its socket is accessible to the SSH user"
        )
    if transport == "tcp":
        return (
            f"check that libvirtd on {parts.hostname} listens on TCP (libvirtd-tcp.socket, port 16509), "
            "that a firewall does not block it, and the auth_tcp setting"
        )
    return (
        f"check that libvirtd on {parts.hostname} listens for TLS (libvirtd-tls.socket, port 16514), "
        "that a firewall does not block it, and the client certificates"
    )


def connect(uri: str = DEFAULT_URI, readonly: bool = False) -> Any:
    """Open a libvirt connection to ``uri``; raise ConnectionFailed naming the URI and what to check."""
    lv = require_libvirt()
    lv.registerErrorHandler(_silence, None)
    try:
        conn = lv.openReadOnly(uri) if readonly else lv.open(uri)
    except lv.libvirtError as exc:
        raise ConnectionFailed(
            f"cannot connect to libvirt at {uri}: {exc.get_error_message()}; {connection_hint(uri)}",
            uri=uri,
        ) from exc
    if conn is None:  # very old bindings returned None instead of raising
        raise ConnectionFailed(f"cannot connect to libvirt at {uri}; {connection_hint(uri)}", uri=uri)
    return conn


def connect_within(uri: str, seconds: float, readonly: bool = False) -> Any:
    """``connect(uri)`` that gives up after ``seconds``: ConnectionFailed, as when it fails.

    The attempt runs in a thread of its own: a TCP connect to a host that is gone (no ARP answer) blocks
    for a minute or more before the kernel gives up. An attempt given up on closes what it opens later.
    """
    box: dict[str, Any] = {}
    lock = threading.Lock()

    def attempt() -> None:
        try:
            conn = connect(uri, readonly=readonly)
        except ConnectionFailed as exc:
            box["error"] = exc
            return
        with lock:
            if box.get("abandoned"):
                conn.close()
                return
            box["conn"] = conn

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(max(seconds, 0.0))
    with lock:
        if "conn" in box:
            return box["conn"]
        box["abandoned"] = True
    raise box.get("error") or ConnectionFailed(f"no answer from {uri} within {seconds:.1f} s", uri=uri)


def is_local_uri(uri: str) -> bool:
    """True when ``uri`` names a hypervisor on the host that runs this code (no remote host part)."""
    parts = urlsplit(uri)
    return not parts.netloc and not parts.scheme.startswith("test")
