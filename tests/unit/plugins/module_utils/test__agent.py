"""The guest agent protocol (module_utils/_agent.py): its pure pieces as tables, and whole sessions against
``agentfake.FakeAgent`` - qemu-ga in miniature, which runs the real wrapper script with this machine's /bin/sh
and reads and writes this machine's files."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import stat
import time
from pathlib import Path
from typing import Any, Optional

import agentfake
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _agent
from ansible_collections.kvmfleet.kvm.plugins.module_utils._agent import (
    AgentError,
    AgentUnavailable,
    CommandTimeout,
    GuestAgent,
    SendFailed,
)

# ---------------------------------------------------------------------------------------------- pure pieces


@pytest.mark.parametrize(
    ("code", "message", "kind", "words"),
    [
        (
            "VIR_ERR_AGENT_UNRESPONSIVE",
            "Guest agent is not responding: QEMU guest agent is not connected",
            AgentUnavailable,
            ["is not connected", "qemu-guest-agent does not run", "systemctl enable --now qemu-guest-agent"],
        ),
        (
            "VIR_ERR_ARGUMENT_UNSUPPORTED",
            "argument unsupported: QEMU guest agent is not configured",
            AgentUnavailable,
            ["has no QEMU guest agent channel", "guest_agent: true", "next boot"],
        ),
        (
            "VIR_ERR_AGENT_UNRESPONSIVE",
            "Guest agent is not responding: Guest agent not available for now",
            AgentUnavailable,
            ["did not answer within 30 s (agent_timeout)"],
        ),
        ("VIR_ERR_AGENT_UNSYNCED", "guest agent reply is not synchronized", AgentUnavailable, ["out of step"]),
        (
            "VIR_ERR_OPERATION_INVALID",
            "Requested operation is not valid: domain is not running",
            AgentUnavailable,
            ["is not running", "state: running"],
        ),
        ("VIR_ERR_NO_DOMAIN", "Domain not found: no domain with matching uuid", AgentUnavailable, ["is gone"]),
        (
            "VIR_ERR_INTERNAL_ERROR",
            "internal error: unable to execute QEMU agent command 'guest-exec': The command guest-exec has been "
            "disabled for this instance",
            AgentError,
            ["refuses guest-exec", "has been disabled", "--block-rpcs", "/etc/sysconfig/qemu-ga"],
        ),
        (
            "VIR_ERR_INTERNAL_ERROR",
            "internal error: unable to execute QEMU agent command 'guest-file-open': failed to open file '/x' "
            "(mode: 'r'): No such file or directory",
            AgentError,
            ["guest-file-open in guest web1 at qemu:///system: failed to open file '/x'", "No such file"],
        ),
        (None, "something else", AgentError, ["guest web1 at qemu:///system: something else"]),
    ],
)
def test_libvirts_agent_errors_become_messages_that_say_what_to_do(
    code: Optional[str], message: str, kind: type, words: list[str]
) -> None:
    error = _agent.explain(code, message, "web1", "qemu:///system", 30)
    assert error.__class__ is kind
    assert "web1" in error.msg
    for word in words:
        assert word in error.msg


@pytest.mark.parametrize(
    ("commands", "missing"),
    [
        ([{"name": name, "enabled": True} for name in _agent.REQUIRED], []),
        (
            [{"name": name, "enabled": name != "guest-exec"} for name in _agent.REQUIRED],
            ["guest-exec"],
        ),
        ([{"name": "guest-ping", "enabled": True}], list(_agent.REQUIRED)),
        ([{"name": name} for name in _agent.REQUIRED], []),  # old agents do not say "enabled"
    ],
)
def test_the_commands_the_connection_needs_are_checked(commands: list[dict[str, Any]], missing: list[str]) -> None:
    assert _agent.disabled({"supported_commands": commands}) == missing


def test_logs_show_sizes_instead_of_contents_and_the_wrapper_by_name() -> None:
    secret = base64.b64encode(b"s3cret-password\nmodule").decode()
    text = _agent.request(
        "guest-exec", path="/bin/sh", arg=["-c", _agent.WRAPPER, "x"], **{"input-data": secret, "capture-output": True}
    )
    shown = _agent.shown(text)
    assert secret not in shown and _agent.WRAPPER not in shown
    assert json.loads(shown)["arguments"] == {
        "path": "/bin/sh",
        "arg": ["-c", "<the wrapper>", "x"],
        "input-data": f"<{len(secret)} base64 characters>",
        "capture-output": True,
    }
    reply = json.dumps({"return": {"exited": True, "out-data": secret, "err-data": secret}})
    assert secret not in _agent.shown(reply)
    assert _agent.shown('{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":"QUJD"}}') == (
        '{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":"<4 base64 characters>"}}'
    )


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ({"exited": False}, None),
        (
            {"exited": True, "exitcode": 3, "out-data": "b3V0", "err-data": "ZXJy"},
            _agent.Status(3, b"out", b"err", False),
        ),
        ({"exited": True, "exitcode": 0}, _agent.Status(0, b"", b"", False)),
        ({"exited": True, "signal": 9}, _agent.Status(-9, b"", b"", False)),
        ({"exited": True, "exitcode": 0, "out-truncated": True}, _agent.Status(0, b"", b"", True)),
    ],
)
def test_exec_status_answers_decode(reply: dict[str, Any], status: Optional[_agent.Status]) -> None:
    assert _agent.decode_status(reply) == status


@pytest.mark.parametrize(
    ("stdout", "token", "found"),
    [
        (b"KVMFLEET-GA-SPOOLED-abc 10\n", "abc", (True, False)),
        (b"KVMFLEET-GA-SPOOLED-abc 01\n", "abc", (False, True)),
        (b"partial output\nKVMFLEET-GA-SPOOLED-abc 11\n", "abc", (True, True)),
        (b"KVMFLEET-GA-SPOOLED-abc 10\n", "abd", None),  # another run's marker: the command printed it
        (b"KVMFLEET-GA-SPOOLED-abc 10\nmore\n", "abc", None),
        (b"plain output\n", "abc", None),
    ],
)
def test_the_wrappers_marker_is_recognised_only_for_its_own_run(
    stdout: bytes, token: str, found: Optional[tuple[bool, bool]]
) -> None:
    assert _agent.spooled(stdout, token) == found


def test_polls_start_fast_and_slow_down_to_the_interval() -> None:
    delays = _agent.poll_delays(0.2)
    assert [round(delay, 3) for delay in itertools.islice(delays, 8)] == [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.2, 0.2]
    assert next(_agent.poll_delays(0.001)) == 0.001


@pytest.mark.parametrize(
    ("password", "data", "stdin"),
    [
        (None, None, None),
        (None, b"module", b"module"),
        ("pw", None, b"pw\n"),
        ("pw", b"module", b"pw\nmodule"),
        ("pässwörd", b"", "pässwörd\n".encode()),
    ],
)
def test_a_password_is_the_first_line_of_the_input(password: Optional[str], data: Optional[bytes], stdin: Any) -> None:
    assert _agent.command_stdin(password, data) == stdin


@pytest.mark.parametrize(
    ("output", "prompt", "left"),
    [
        (
            b"[sudo via ansible, key=abc] password: real error\n",
            "[sudo via ansible, key=abc] password:",
            b"real error\n",
        ),
        (b"lecture\n[sudo via ansible, key=abc] password:", "[sudo via ansible, key=abc] password:", b""),
        (b"no prompt here\n", "[sudo via ansible, key=abc] password:", b"no prompt here\n"),
        (b"anything\n", "", b"anything\n"),
    ],
)
def test_the_become_prompt_is_taken_out_of_the_output(output: bytes, prompt: str, left: bytes) -> None:
    assert _agent.strip_prompt(output, prompt) == left


@pytest.mark.parametrize(
    ("output", "needs"),
    [
        (b"su: must be run from a terminal\n", True),
        (b"sudo: a terminal is required to read the password; either use the -S option\n", True),
        (b"sudo: no tty present and no askpass program specified\n", True),
        (b"sudo: a password is required\n", False),
    ],
)
def test_become_methods_that_want_a_terminal_are_recognised(output: bytes, needs: bool) -> None:
    assert _agent.needs_terminal(output) is needs


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/root/.ansible/tmp/x/AnsiballZ_setup.py", "/root/.ansible/tmp/x/.AnsiballZ_setup.py.kvmfleet-t0k"),
        ("/etc/motd", "/etc/.motd.kvmfleet-t0k"),
        ("relative", "./.relative.kvmfleet-t0k"),
    ],
)
def test_files_are_written_under_a_hidden_name_beside_them(path: str, name: str) -> None:
    assert _agent.temp_name(path, "t0k") == name


def test_exec_arguments_carry_the_command_its_input_and_the_spool() -> None:
    args = _agent.exec_arguments(
        "echo hi", "tok", exec_timeout=-1, user="root", spool="/tmp/.kvmfleet-ga.x", mode="new", stdin=b"in"
    )
    assert args["path"] == "/bin/sh" and args["capture-output"] is True
    assert args["arg"] == [
        "-c",
        _agent.WRAPPER,
        "kvmfleet-ga",
        "echo hi",
        "tok",
        "0",
        "root",
        "/tmp/.kvmfleet-ga.x",
        "new",
        "",
    ]
    assert base64.b64decode(args["input-data"]) == b"in"
    from_file = _agent.exec_arguments("cat", "tok", exec_timeout=5, user="u", spool="/s", mode="reuse", stdin_file=True)
    assert "input-data" not in from_file and from_file["arg"][-1] == "file" and from_file["arg"][5] == "5"


# ---------------------------------------------------------------------------------------------- sessions


@pytest.fixture
def fake() -> agentfake.FakeAgent:
    return agentfake.FakeAgent()


@pytest.fixture
def agent(fake: agentfake.FakeAgent, tmp_path: Path) -> GuestAgent:
    spool = tmp_path / "spool"
    spool.mkdir()
    return GuestAgent(fake, "web1", "qemu:///system", user="root", spool_dir=str(spool))


def spool_files(agent: GuestAgent) -> list[str]:
    return sorted(path.name for path in Path(agent.spool).parent.iterdir())


def test_a_command_gives_its_exit_code_and_both_outputs(agent: GuestAgent, fake: agentfake.FakeAgent) -> None:
    status = agent.run("echo out; echo err >&2; exit 3")
    assert (status.rc, status.stdout, status.stderr) == (3, b"out\n", b"err\n")
    assert agent.spool_state == "reuse"
    # the spool files: private, made once, kept for the next command
    assert [stat.S_IMODE(os.stat(f"{agent.spool}.{kind}").st_mode) for kind in ("out", "err", "in")] == [0o600] * 3
    assert agent.run("printf second").stdout == b"second"
    assert agent.run("true").stdout == b""
    # empty outputs are not read at all
    assert [request["arguments"]["path"] for request in fake.executed("guest-file-open")] == [
        f"{agent.spool}.out",
        f"{agent.spool}.err",
        f"{agent.spool}.out",
    ]
    agent.close()
    assert spool_files(agent) == []


def test_a_command_runs_in_the_agent_users_home_with_the_agents_umask(agent: GuestAgent) -> None:
    """qemu-ga's service environment has no HOME: the wrapper sets the agent user's (the spool files' umask
    077 stays the wrapper's own)."""
    umask = os.umask(0o022)
    os.umask(umask)
    home = os.path.expanduser("~root")
    status = agent.run('pwd; echo "$HOME"; umask')
    assert status.stdout.decode().split() == [home, home, f"{umask:04o}"]


def test_a_large_output_arrives_whole_in_requests_the_agent_takes(agent: GuestAgent, fake: agentfake.FakeAgent) -> None:
    status = agent.run("seq 1 700000; seq 1 300000 >&2")
    assert len(status.stdout) > 4 * 1024 * 1024  # more than libvirt passes in one answer
    assert status.stdout.splitlines()[-1] == b"700000" and status.stderr.splitlines()[-1] == b"300000"
    assert max(fake.sizes) < agentfake.REQUEST_LIMIT
    assert len(fake.executed("guest-file-read")) >= 3  # 2 MiB at a time


@pytest.mark.parametrize("size", [10, 64 * 1024, 64 * 1024 + 1, 700_000])
def test_a_commands_input_goes_with_it_or_through_the_spool(
    agent: GuestAgent, fake: agentfake.FakeAgent, size: int
) -> None:
    data = os.urandom(size)
    status = agent.run("sha256sum", stdin=data)
    assert status.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    inline = [request for request in fake.executed("guest-exec") if "input-data" in request["arguments"]]
    assert bool(inline) is (size <= _agent.INLINE_INPUT)
    assert max(fake.sizes) < agentfake.REQUEST_LIMIT


def test_the_wrapper_ending_by_a_signal_gives_a_negative_code(agent: GuestAgent) -> None:
    status = agent.run("kill -9 $PPID")  # the command's parent: the wrapper itself
    assert status.rc == -9


def test_without_a_spool_the_agent_captures_the_output(fake: agentfake.FakeAgent, tmp_path: Path) -> None:
    agent = GuestAgent(fake, "web1", "qemu:///system", spool_dir=str(tmp_path / "missing"))
    assert agent.run("echo out; echo err >&2; exit 2") == _agent.Status(2, b"out\n", b"err\n")
    assert agent.spool_state == "none"
    assert agent.run("echo again").stdout == b"again\n"
    with pytest.raises(AgentError, match="set ansible_pipelining: false"):
        agent.run("cat", stdin=b"x" * (_agent.INLINE_INPUT + 1))
    agent.close()


def test_a_command_longer_than_exec_timeout_is_stopped(agent: GuestAgent) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"stopped after 1 s \(exec_timeout\)"):
        agent.run("sleep 30", exec_timeout=1, poll=0.05)
    assert time.monotonic() - started < 10


def test_a_file_goes_in_and_comes_back_whole(agent: GuestAgent, fake: agentfake.FakeAgent, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(5 * 1024 * 1024 + 7))
    dest = tmp_path / "guest" / "dest.bin"
    dest.parent.mkdir()
    assert agent.put(str(source), str(dest)) == source.stat().st_size
    assert dest.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert sorted(os.listdir(dest.parent)) == ["dest.bin"]  # the temporary name is gone
    assert max(fake.sizes) < agentfake.REQUEST_LIMIT
    back = tmp_path / "back.bin"
    assert agent.fetch(str(dest), str(back)) == source.stat().st_size
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    assert sorted(os.listdir(tmp_path)) == ["back.bin", "guest", "source.bin", "spool"]


def test_a_file_replaces_the_old_one_in_one_step(agent: GuestAgent, tmp_path: Path) -> None:
    source, dest = tmp_path / "new", tmp_path / "old"
    source.write_bytes(b"new content")
    dest.write_bytes(b"old content that is longer")
    agent.put(str(source), str(dest))
    assert dest.read_bytes() == b"new content"


def test_a_short_write_fails_and_leaves_no_file(agent: GuestAgent, fake: agentfake.FakeAgent, tmp_path: Path) -> None:
    source, folder = tmp_path / "source", tmp_path / "guest"
    source.write_bytes(b"content")
    folder.mkdir()
    fake.short_write = True
    with pytest.raises(AgentError, match="the agent wrote 6 of 7 bytes"):
        agent.put(str(source), str(folder / "dest"))
    assert os.listdir(folder) == []


def test_a_file_into_a_missing_directory_fails_naming_it(agent: GuestAgent, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.write_bytes(b"content")
    with pytest.raises(AgentError, match=f"cannot create a file beside {tmp_path}/missing/dest in guest web1"):
        agent.put(str(source), str(tmp_path / "missing" / "dest"))


def test_fetching_a_missing_file_fails_and_leaves_nothing(agent: GuestAgent, tmp_path: Path) -> None:
    with pytest.raises(AgentError, match=r"guest-file-open in guest web1 at qemu:///system: .*No such file"):
        agent.fetch(str(tmp_path / "missing"), str(tmp_path / "back"))
    assert sorted(os.listdir(tmp_path)) == ["spool"]


def test_an_agent_that_is_not_connected_is_unavailable(agent: GuestAgent, fake: agentfake.FakeAgent) -> None:
    fake.fail["guest-info"] = SendFailed(
        "VIR_ERR_AGENT_UNRESPONSIVE", "Guest agent is not responding: QEMU guest agent is not connected"
    )
    with pytest.raises(AgentUnavailable, match="the QEMU guest agent of guest web1 at qemu:///system is not connected"):
        agent.check()


def test_an_agent_that_blocks_commands_the_connection_needs_is_refused(
    agent: GuestAgent, fake: agentfake.FakeAgent
) -> None:
    fake.disabled = ["guest-exec", "guest-file-write"]
    with pytest.raises(AgentError, match="does not allow guest-exec, guest-file-write: allow them"):
        agent.check()
    fake.disabled = []
    assert agent.check() == "7.2.fake"


def test_the_log_never_shows_a_commands_input(fake: agentfake.FakeAgent, tmp_path: Path) -> None:
    lines: list[str] = []
    agent = GuestAgent(fake, "web1", "qemu:///system", spool_dir=str(tmp_path), log=lines.append)
    secret = b"s3cret-become-password"
    agent.run("cat >/dev/null; echo done", stdin=_agent.command_stdin(secret.decode(), b"module"))
    agent.close()
    text = "\n".join(lines)
    assert "guest-exec" in text and "input-data" in text
    assert secret.decode() not in text and base64.b64encode(secret + b"\nmodule").decode()[:16] not in text
