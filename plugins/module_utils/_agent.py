# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground layer: commands and files inside a guest through its QEMU guest agent, over libvirt.

For the ``guest_agent`` connection plugin. Every request is one ``qemuAgentCommand``: libvirt hands the
JSON to qemu-ga in the guest over the guest's virtio channel and its answer back. Nothing needs a network
or SSH in the guest.

- Commands: ``guest-exec`` of ``/bin/sh`` running ``WRAPPER`` (the command, its input with the request),
  then ``guest-exec-status`` polled until it exited. The command's output goes to two spool files of the
  connection in the guest and is read like a file: an answer of the agent must fit one libvirt RPC
  string (4 MiB, ``REMOTE_STRING_MAX``) and libvirt's limit on one agent answer (10 MiB, beyond which
  the agent channel stays broken until the guest restarts); qemu-ga's own capture of a command's output
  (up to 16 MiB) would break both, and by then the agent has forgotten the command's result.
- Files: ``guest-file-open``/``-write``/``-read``/``-seek``/``-close`` in base64. Reads take
  ``READ_CHUNK`` (2 MiB: 2.7 MiB of base64, two thirds of the RPC limit). Writes take ``WRITE_CHUNK``
  (96 KiB: 128 KiB of base64): a request travels to the guest differently, and QEMU 7.2's qemu-ga never
  got one above about 250 KB whole (it answered a parse error, or nothing for a minute) - half of that
  leaves room. A command's input up to ``INLINE_INPUT`` goes with the request, a larger one (a pipelined
  module) through the spool's third file. A file put into the guest is written under a private temporary
  name beside its destination and renamed into place once its size is verified; a fetched one likewise
  on the controller.

Errors are ``AgentError`` (the agent or libvirt refused a request) and ``AgentUnavailable`` (no agent to
ask: no channel, agent not running, guest not running or not there), each naming the guest and what to
do. Nothing here knows about Ansible.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect, find, require_libvirt

try:
    import libvirt_qemu
except ImportError:  # the libvirt binding is missing as a whole: require_libvirt says so
    libvirt_qemu = None

MiB = 1024 * 1024
READ_CHUNK = 2 * MiB
WRITE_CHUNK = 96 * 1024
INLINE_INPUT = 64 * 1024
GRACE = 15  # seconds coreutils' timeout (-k 5) may take beyond exec_timeout to end a command
SHELL = "/bin/sh"
SPOOL_DIR = "/tmp"
REQUIRED = (
    "guest-exec",
    "guest-exec-status",
    "guest-file-open",
    "guest-file-close",
    "guest-file-read",
    "guest-file-write",
    "guest-file-seek",
)
UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
AGENT_COMMAND = re.compile(r"unable to execute QEMU agent command '([^']*)': (.*)$", re.DOTALL)
# what become methods print when they cannot ask for a password without a terminal
NEEDS_TERMINAL = (b"must be run from a terminal", b"a terminal is required", b"no tty present")

# The command runner, run by the guest's /bin/sh with only the shell's builtins (every program started
# costs tens of milliseconds in an emulated guest). $1 the command, $2 this run's token, $3 exec_timeout
# (0: none), $4 the agent's user, $5 the connection's spool prefix, $6 what to do with the spool files
# (new: create them, reuse, none), $7 "file" when the input is in the spool's .in file.
# - HOME, which qemu-ga's service environment lacks, becomes the agent user's home; like an SSH session,
#   the command starts there.
# - The output goes to the spool files PREFIX.out and PREFIX.err: created once per connection with
#   noclobber (O_EXCL) and umask 077 (so nobody else can have made or opened them), truncated by each
#   later command, removed when the connection closes. The runner then prints only a marker with the
#   token and which of them are not empty, and those are read like files. Without a spool (no writable
#   /tmp) qemu-ga captures the output.
# - With exec_timeout, coreutils' timeout (where the guest has it) ends the command and its children.
WRAPPER = r"""c=$1 t=$2 s=$3 u=$4 p=$5 m=$6 i=$7
if [ -z "${HOME:-}" ]; then
  case $u in *[!A-Za-z0-9._-]* | "" | -*) ;; *) eval "HOME=~$u" ;; esac
  case $HOME in /*) ;; *) HOME=/ ;; esac
  export HOME
fi
cd "$HOME" 2>/dev/null || cd /
if [ "$s" -gt 0 ] && command -v timeout >/dev/null 2>&1; then
  set -- timeout -k 5 "$s" /bin/sh -c "$c"
else
  set -- /bin/sh -c "$c"
fi
if [ "$m" = new ]; then
  k=$(umask)
  umask 077
  set -C
  if true >"$p.out" && true >"$p.err" && true >"$p.in"; then m=reuse; else m=none; fi 2>/dev/null
  set +C
  umask "$k"
fi
if [ "$m" = reuse ] && [ -f "$p.out" ] && [ -f "$p.err" ]; then
  if [ "$i" = file ]; then exec <"$p.in"; fi
  "$@" >|"$p.out" 2>|"$p.err"
  r=$? o=0 e=0
  if [ -s "$p.out" ]; then o=1; fi
  if [ -s "$p.err" ]; then e=1; fi
  printf 'KVMFLEET-GA-SPOOLED-%s %s%s\n' "$t" "$o" "$e"
  exit "$r"
fi
exec "$@"
"""


class AgentError(KvmFleetError):
    """The guest agent (or libvirt on its way) refused or failed a request; ``msg`` names the guest."""


class AgentUnavailable(AgentError):
    """There is no agent to ask: the guest is not there or not running, has no agent channel, or its agent
    does not run or answer. For Ansible the host is unreachable."""


class CommandTimeout(AgentError):
    """A command ran longer than ``exec_timeout``."""


class SendFailed(Exception):
    """One request that libvirt failed: its error code's name (``VIR_ERR_...``) and message."""

    def __init__(self, code: Optional[str], message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Send = Callable[[str, int], str]
"""Sends one request (JSON text) with a timeout in seconds and returns the answer (JSON text); raises
SendFailed."""


# ---------------------------------------------------------------------------------------------- requests


def request(execute: str, **arguments: Any) -> str:
    """One agent request as JSON text; arguments use the agent's names (``capture-output``, ``buf-b64``)."""
    body: dict[str, Any] = {"execute": execute}
    if arguments:
        body["arguments"] = arguments
    return json.dumps(body, separators=(",", ":"))


HIDDEN = ("buf-b64", "input-data", "out-data", "err-data")


def shown(text: str) -> str:
    """A request or an answer as a log may show it: file contents, a command's input and output replaced by
    their sizes (they can hold secrets: a become password, a module's arguments), the wrapper by its name."""
    try:
        body = json.loads(text)
    except ValueError:
        return f"<{len(text)} characters>"

    def hide(node: Any) -> Any:
        if node == WRAPPER:
            return "<the wrapper>"
        if isinstance(node, dict):
            return {
                key: f"<{len(value)} base64 characters>" if key in HIDDEN and isinstance(value, str) else hide(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [hide(item) for item in node]
        return node

    return json.dumps(hide(body), separators=(",", ":"))


def answer(text: str) -> Any:
    """The ``return`` of an agent's answer."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise AgentError(f"the guest agent answered something that is not JSON: {text[:200]!r}") from exc
    if isinstance(body, dict) and "error" in body:
        error = body["error"] or {}
        raise AgentError(f"the guest agent failed the request: {error.get('desc') or error}")
    if not isinstance(body, dict) or "return" not in body:
        raise AgentError(f"the guest agent answered without a result: {text[:200]!r}")
    return body["return"]


BLOCKED_HINT = (
    "allow {commands} in the agent's configuration (qemu-ga's --block-rpcs/--allow-rpcs; some distributions "
    "block guest-exec and the guest-file commands by default, for example in /etc/sysconfig/qemu-ga)"
)


def explain(code: Optional[str], message: str, guest: str, uri: str, timeout: int) -> AgentError:
    """The error to raise for a request libvirt failed with ``code`` (``VIR_ERR_...``) and ``message``: what
    it means for this guest and what to do."""
    words = message.lower()
    where = f"guest {guest} at {uri}"
    if "not configured" in words:
        return AgentUnavailable(
            f"{where} has no QEMU guest agent channel: add it (kvmfleet.kvm.guest with guest_agent: true, which "
            "takes effect at the guest's next boot) and run qemu-guest-agent in the guest"
        )
    if "not connected" in words:
        return AgentUnavailable(
            f"the QEMU guest agent of {where} is not connected: qemu-guest-agent does not run in the guest "
            "(install and start it there: apt-get install qemu-guest-agent or dnf install qemu-guest-agent, then "
            "systemctl enable --now qemu-guest-agent), or the guest is still booting"
        )
    if code == "VIR_ERR_AGENT_UNRESPONSIVE" or "agent is not responding" in words:
        return AgentUnavailable(
            f"the QEMU guest agent of {where} did not answer within {timeout} s (agent_timeout): it is busy, "
            f"hung or still starting ({message})"
        )
    if code == "VIR_ERR_AGENT_UNSYNCED":
        return AgentUnavailable(f"the QEMU guest agent of {where} is out of step with libvirt ({message}): try again")
    if code == "VIR_ERR_OPERATION_INVALID" and "not running" in words:
        return AgentUnavailable(f"{where} is not running: start it first (kvmfleet.kvm.guest with state: running)")
    if code == "VIR_ERR_NO_DOMAIN":
        return AgentUnavailable(f"{where} is gone ({message})")
    found = AGENT_COMMAND.search(message)
    if found:
        command, reason = found.group(1), found.group(2).strip()
        if "has been disabled" in reason or "command not found" in reason.lower():
            return AgentError(
                f"the QEMU guest agent of {where} refuses {command} ({reason}): "
                + BLOCKED_HINT.format(commands=", ".join(REQUIRED))
            )
        return AgentError(f"{command} in {where}: {reason}")
    return AgentError(f"{where}: {message}")


def disabled(info: dict[str, Any]) -> list[str]:
    """Which of the commands this module needs ``guest-info``'s answer lists as missing or disabled."""
    enabled = {item.get("name") for item in info.get("supported_commands") or [] if item.get("enabled", True)}
    return [name for name in REQUIRED if name not in enabled]


# ---------------------------------------------------------------------------------------------- commands


def exec_arguments(
    command: str,
    token: str,
    *,
    exec_timeout: int,
    user: str,
    spool: str,
    mode: str,
    stdin: Optional[bytes] = None,
    stdin_file: bool = False,
) -> dict[str, Any]:
    """``guest-exec``'s arguments: the wrapper run by the guest's shell, with the command's input."""
    arguments: dict[str, Any] = {
        "path": SHELL,
        "arg": [
            "-c",
            WRAPPER,
            "kvmfleet-ga",
            command,
            token,
            str(max(exec_timeout, 0)),
            user,
            spool,
            mode,
            "file" if stdin_file else "",
        ],
        "capture-output": True,
    }
    if stdin:
        arguments["input-data"] = base64.b64encode(stdin).decode("ascii")
    return arguments


def spooled(stdout: bytes, token: str) -> Optional[tuple[bool, bool]]:
    """Whether the wrapper of the run ``token`` put the output in the spool files, as (stdout, stderr) not
    empty; None when it did not (qemu-ga captured the output)."""
    found = re.search(rb"KVMFLEET-GA-SPOOLED-" + re.escape(token.encode()) + rb" ([01])([01])\n\Z", stdout)
    if not found:
        return None
    return found.group(1) == b"1", found.group(2) == b"1"


@dataclass
class Status:
    """A finished command: its exit code (-N when a signal N ended the agent's process itself), its output,
    and whether the agent cut the output at its own limit (16 MiB; only without a spool)."""

    rc: int
    stdout: bytes
    stderr: bytes
    truncated: bool = False


def decode_status(ret: dict[str, Any]) -> Optional[Status]:
    """``guest-exec-status``'s answer as a Status, or None while the command runs."""
    if not ret.get("exited"):
        return None
    if "exitcode" in ret:
        rc = int(ret["exitcode"])
    elif "signal" in ret:
        rc = -int(ret["signal"])
    else:
        rc = -1
    return Status(
        rc=rc,
        stdout=base64.b64decode(ret.get("out-data") or ""),
        stderr=base64.b64decode(ret.get("err-data") or ""),
        truncated=bool(ret.get("out-truncated") or ret.get("err-truncated")),
    )


def poll_delays(longest: float, first: float = 0.005) -> Iterator[float]:
    """Pauses between status queries: short at first (most commands Ansible runs end within a fraction of a
    second), doubling up to ``longest``."""
    delay = min(first, longest)
    while True:
        yield delay
        delay = min(delay * 2, longest)


def command_stdin(password: Optional[str], data: Optional[bytes]) -> Optional[bytes]:
    """A command's standard input: the become password as its first line when it is to be sent (sudo -S
    reads it there), then the pipelined module."""
    if password is None:
        return data
    return password.encode("utf-8") + b"\n" + (data or b"")


def strip_prompt(output: bytes, prompt: str) -> bytes:
    """``output`` without the first become prompt (and anything before it on the way)."""
    if not prompt:
        return output
    return re.sub(rb"^.*?" + re.escape(prompt.encode("utf-8")) + rb"[ \t]*", b"", output, count=1, flags=re.DOTALL)


def needs_terminal(output: bytes) -> bool:
    """True when a become method says it needs a terminal (to ask for its password)."""
    return any(words in output for words in NEEDS_TERMINAL)


# ---------------------------------------------------------------------------------------------- files


def temp_name(path: str, token: str) -> str:
    """A hidden name beside ``path`` for writing it: ``DIR/.NAME.kvmfleet-TOKEN``."""
    head, tail = os.path.split(path)
    return os.path.join(head or ".", f".{tail}.kvmfleet-{token}")


# ---------------------------------------------------------------------------------------------- the session


class GuestAgent:
    """One guest's agent, spoken to through ``send`` (``libvirt_sender``; the unit tests pass a stand-in).

    ``spool`` is the prefix of the connection's spool files in the guest (``.out``, ``.err``, ``.in``);
    ``spool_state`` says whether the next command creates them (``new``), uses them (``reuse``) or goes
    without (``none``: they could not be made).
    """

    def __init__(
        self,
        send: Send,
        guest: str,
        uri: str,
        *,
        timeout: int = 30,
        user: str = "root",
        log: Optional[Callable[[str], None]] = None,
        close: Optional[Callable[[], None]] = None,
        spool_dir: str = SPOOL_DIR,
    ) -> None:
        self.send = send
        self.guest = guest
        self.uri = uri
        self.timeout = timeout
        self.user = user
        self.log = log or (lambda _text: None)
        self._close = close
        self.spool = f"{spool_dir}/.kvmfleet-ga.{secrets.token_hex(8)}"
        self.spool_state = "new"

    def where(self) -> str:
        return f"guest {self.guest} at {self.uri}"

    def call(self, execute: str, **arguments: Any) -> Any:
        """One request; its ``return``."""
        text = request(execute, **arguments)
        self.log(f"agent <- {shown(text)}")
        try:
            reply = self.send(text, self.timeout)
        except SendFailed as exc:
            raise explain(exc.code, exc.message, self.guest, self.uri, self.timeout) from None
        self.log(f"agent -> {shown(reply)}")
        try:
            return answer(reply)
        except AgentError as exc:
            raise AgentError(f"{execute} in {self.where()}: {exc.msg}") from None

    def check(self) -> str:
        """The agent answers and allows every command this module uses; its version."""
        info = self.call("guest-info")
        missing = disabled(info)
        if missing:
            raise AgentError(
                f"the QEMU guest agent of {self.where()} does not allow {', '.join(missing)}: "
                + BLOCKED_HINT.format(commands="them")
            )
        return str(info.get("version", ""))

    def close(self) -> None:
        """Removes the spool files and closes the libvirt connection."""
        try:
            if self.spool_state != "new":
                self.spool_state = "new"
                self.shell('rm -f -- "$1.out" "$1.err" "$1.in"', self.spool)
        except AgentError as exc:
            self.log(f"could not remove the spool files {self.spool}.*: {exc.msg}")
        finally:
            if self._close is not None:
                self._close()
                self._close = None

    # ---- commands

    def start(self, arguments: dict[str, Any]) -> int:
        return int(self.call("guest-exec", **arguments)["pid"])

    def wait(self, pid: int, poll: float, deadline: Optional[float] = None) -> Status:
        """Polls ``guest-exec-status`` until the process ``pid`` exited (the agent forgets it then)."""
        for delay in poll_delays(poll):
            status = decode_status(self.call("guest-exec-status", pid=pid))
            if status is not None:
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise CommandTimeout(
                    f"a command in {self.where()} did not end in time (exec_timeout); it may still run there "
                    f"(the agent's process {pid})"
                )
            time.sleep(delay)
        raise AssertionError("not reached")  # poll_delays never ends

    def shell(self, script: str, *args: str, poll: float = 0.2) -> Status:
        """A short helper script run directly by the guest's shell (no spool: its output must be small)."""
        return self.wait(
            self.start({"path": SHELL, "arg": ["-c", script, "kvmfleet-ga", *args], "capture-output": True}), poll
        )

    def run(self, command: str, stdin: Optional[bytes] = None, exec_timeout: int = 0, poll: float = 0.2) -> Status:
        """``command`` run by the guest's shell through the wrapper: its exit code and whole output."""
        stdin_file = bool(stdin) and len(stdin or b"") > INLINE_INPUT
        if stdin_file:
            if self.spool_state == "new":
                self.run("true", poll=poll)  # makes the spool files
            if self.spool_state != "reuse":
                raise AgentError(
                    f"the input of a command in {self.where()} is {len(stdin or b'')} bytes, more than the "
                    f"{INLINE_INPUT} sent with the command, and {SPOOL_DIR} in the guest takes no file for it: "
                    "set ansible_pipelining: false"
                )
            self._write(f"{self.spool}.in", stdin or b"")
        mode = self.spool_state
        token = secrets.token_hex(8)
        started = time.monotonic()
        deadline = started + exec_timeout + GRACE if exec_timeout > 0 else None
        arguments = exec_arguments(
            command,
            token,
            exec_timeout=exec_timeout,
            user=self.user,
            spool=self.spool,
            mode=mode,
            stdin=None if stdin_file else stdin,
            stdin_file=stdin_file,
        )
        status = self.wait(self.start(arguments), poll, deadline)
        if exec_timeout > 0 and status.rc in (124, 137) and time.monotonic() - started >= exec_timeout:
            raise CommandTimeout(f"a command in {self.where()} was stopped after {exec_timeout} s (exec_timeout)")
        spool = spooled(status.stdout, token)
        if spool is not None:
            self.spool_state = "reuse"
            status.stdout = self.read(f"{self.spool}.out", verify=False) if spool[0] else b""
            if spool[1]:
                status.stderr += self.read(f"{self.spool}.err", verify=False)
        elif mode == "new":
            self.spool_state = "none"
            self.log(f"no spool files in {SPOOL_DIR} of {self.where()}: the agent captures the output")
        if status.truncated:
            raise AgentError(
                f"the output of a command in {self.where()} was cut at the guest agent's limit (16 MiB): the guest "
                f"takes no spool file in {SPOOL_DIR} for the whole output"
            )
        return status

    # ---- files

    def read(self, path: str, into: Optional[Any] = None, verify: bool = True) -> bytes:
        """A guest file's content: returned, or written into the binary file ``into`` (returning b"").

        With ``verify`` the number of bytes read is checked against the file's size when it was opened.
        """
        handle = self.call("guest-file-open", path=path, mode="r")
        got = 0
        size = None
        parts: list[bytes] = []
        try:
            if verify:
                size = int(self.call("guest-file-seek", handle=handle, offset=0, whence="end")["position"])
                self.call("guest-file-seek", handle=handle, offset=0, whence="set")
            while True:
                ret = self.call("guest-file-read", handle=handle, count=READ_CHUNK)
                block = base64.b64decode(ret.get("buf-b64") or "")
                if len(block) != int(ret.get("count", len(block))):
                    raise AgentError(
                        f"reading {path} in {self.where()}: the agent sent {len(block)} of {ret['count']} bytes"
                    )
                got += len(block)
                if into is not None:
                    into.write(block)
                else:
                    parts.append(block)
                if ret.get("eof") or not block:
                    break
        finally:
            self.call("guest-file-close", handle=handle)
        if size is not None and got != size:
            raise AgentError(
                f"reading {path} in {self.where()}: got {got} bytes of its {size} (it changed while it was read)"
            )
        return b"".join(parts)

    def fetch(self, path: str, dest: str) -> int:
        """The guest file ``path`` into the local file ``dest``, written under a temporary name beside it and
        renamed when whole; its size."""
        folder = os.path.dirname(os.path.abspath(dest))
        fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".kvmfleet-part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as target:
                self.read(path, into=target)
                size = target.tell()
            os.replace(temp, dest)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise
        return size

    def put(self, src: str, dest: str, poll: float = 0.2) -> int:
        """The local file ``src`` into the guest at ``dest``: written into a new private file beside it (made
        with noclobber and umask 077: mode 0600, nobody else's), its size checked, then renamed over ``dest``;
        its size."""
        size = os.path.getsize(src)
        temp = temp_name(dest, secrets.token_hex(6))
        made = self.shell('umask 077 && set -C && true >"$1"', temp, poll=poll)
        if made.rc != 0:
            raise AgentError(
                f"cannot create a file beside {dest} in {self.where()}: {made.stderr.decode(errors='replace').strip()}"
            )
        try:
            with open(src, "rb") as source:
                self._write(temp, source, size)
            moved = self.shell('mv -f -- "$1" "$2"', temp, dest, poll=poll)
            if moved.rc != 0:
                raise AgentError(
                    f"cannot put {dest} in place in {self.where()}: {moved.stderr.decode(errors='replace').strip()}"
                )
        except BaseException:
            with contextlib.suppress(AgentError):  # the first error is the one to report
                self.shell('rm -f -- "$1"', temp, poll=poll)
            raise
        return size

    def _write(self, path: str, source: Any, size: Optional[int] = None) -> None:
        """Writes ``source`` (bytes, or a binary file read ``WRITE_CHUNK`` at a time) over the guest file
        ``path``, which exists (opening creates a missing file with mode 0666); checks its size after."""
        if isinstance(source, bytes):
            size = len(source)
            blocks: Iterator[bytes] = (source[at : at + WRITE_CHUNK] for at in range(0, len(source), WRITE_CHUNK))
        else:
            blocks = iter(lambda: source.read(WRITE_CHUNK), b"")
        handle = self.call("guest-file-open", path=path, mode="w")
        try:
            for block in blocks:
                ret = self.call("guest-file-write", handle=handle, **{"buf-b64": base64.b64encode(block).decode()})
                if int(ret.get("count", -1)) != len(block):
                    raise AgentError(
                        f"writing {path} in {self.where()}: the agent wrote {ret.get('count')} of {len(block)} bytes"
                    )
            written = int(self.call("guest-file-seek", handle=handle, offset=0, whence="end")["position"])
        finally:
            self.call("guest-file-close", handle=handle)
        if written != size:
            raise AgentError(f"writing {path} in {self.where()}: it has {written} bytes, the source {size}")


# ---------------------------------------------------------------------------------------------- libvirt


def libvirt_sender(dom: Any) -> Send:
    """``Send`` over libvirt's ``qemuAgentCommand`` for the domain ``dom``."""
    lv = require_libvirt()
    if libvirt_qemu is None:
        raise AgentError("the libvirt Python binding has no libvirt_qemu module; install the whole binding")
    names = {getattr(lv, name): name for name in dir(lv) if name.startswith("VIR_ERR_")}

    def send(text: str, timeout: int) -> str:
        try:
            return libvirt_qemu.qemuAgentCommand(dom, text, timeout, 0)
        except lv.libvirtError as exc:
            raise SendFailed(names.get(exc.get_error_code()), exc.get_error_message() or str(exc)) from None

    return send


def lookup(conn: Any, name: str, uuid: Optional[str], uri: str) -> Any:
    """The guest with the UUID ``uuid`` (the inventory's ``libvirt_uuid``), else the one called ``name``: a
    guest removed and made again under its name since the inventory was read is found by its name."""
    dom = find(conn.lookupByUUIDString, uuid) if uuid and UUID.match(uuid) else None
    if dom is None:
        dom = find(conn.lookupByName, name)
    if dom is None:
        raise AgentUnavailable(f"there is no guest {name} at {uri}")
    return dom


def open_session(
    uri: str,
    domain: str,
    *,
    uuid: Optional[str] = None,
    timeout: int = 30,
    user: str = "root",
    log: Optional[Callable[[str], None]] = None,
) -> GuestAgent:
    """The agent of the running guest ``domain`` (or ``uuid``) at ``uri``, checked to answer and to allow what it needs.

    Raises ConnectionFailed (``uri`` not reachable), AgentUnavailable or AgentError.
    """
    conn = connect(uri)  # read-write: libvirt passes agent commands only on such a connection
    try:
        dom = lookup(conn, domain, uuid, uri)
        name = dom.name()
        if not dom.isActive():
            raise AgentUnavailable(
                f"guest {name} at {uri} is not running: start it first (kvmfleet.kvm.guest with state: running)"
            )
        agent = GuestAgent(libvirt_sender(dom), name, uri, timeout=timeout, user=user, log=log, close=conn.close)
        agent.check()
    except BaseException:
        conn.close()
        raise
    return agent
