"""The kvmfleet.kvm.guest_agent connection plugin, loaded by Ansible's plugin loader, over
``agentfake.FakeAgent`` (qemu-ga in miniature on this machine): commands, files, and become with Ansible's
own sudo plugin driving a stand-in sudo that asks for its password as sudo -S does."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import agentfake
import kvmtest
import pytest
from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import become_loader, connection_loader, init_plugin_loader
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
from ansible.utils.display import Display

PASSWORD = "s3cret-Become-pw"

# sudo -S as far as the connection sees it: the prompt of -p on stderr, the password read from stdin
FAKE_SUDO = r"""#!/bin/sh
prompt= nonint=
while [ $# -gt 0 ]; do
  case $1 in
    -p | -u) [ "$1" = -p ] && prompt=$2; shift 2 ;;
    -n) nonint=1; shift ;;
    -*) shift ;;
    *) break ;;
  esac
done
if [ -e "$0.nopasswd" ]; then exec "$@"; fi
if [ -n "$nonint" ]; then echo "sudo: a password is required" >&2; exit 1; fi
printf '%s' "$prompt" >&2
IFS= read -r line || { echo "sudo: no password was provided" >&2; exit 1; }
if [ "$line" = "PASSWORD" ]; then exec "$@"; fi
printf 'Sorry, try again.\nsudo: 1 incorrect password attempt\n' >&2
exit 1
""".replace("PASSWORD", PASSWORD)

FAKE_SU = "#!/bin/sh\necho 'su: must be run from a terminal' >&2\nexit 1\n"


@pytest.fixture(scope="module", autouse=True)
def plugin_loader() -> Iterator[None]:
    """Ansible's collection loader, as ansible-playbook sets it up (see the inventory plugin's tests)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("ansible_collections", "ansible_collections.kvmfleet", "ansible_collections.kvmfleet.kvm"):
            if name in sys.modules:
                patch.delitem(sys.modules, name)
        init_plugin_loader([str(kvmtest.COLLECTIONS)])
        yield
        _AnsibleCollectionFinder._remove()  # so that the next module sets up its own without a warning


class Guest:
    """The plugin connected to a fake agent; ``logs`` holds what it displayed (at -vvvvv)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **variables: Any) -> None:
        self.fake = agentfake.FakeAgent()
        self.tmp_path = tmp_path
        self.spool = tmp_path / "spool"
        self.spool.mkdir()
        self.conn = connection_loader.get("kvmfleet.kvm.guest_agent", PlayContext())
        self.agent_module = sys.modules[type(self.conn).__module__]._agent
        self.opened: list[dict[str, Any]] = []
        monkeypatch.setattr(self.agent_module, "open_session", self.open_session)
        self.logs: list[str] = []
        display = Display()
        monkeypatch.setattr(display, "verbosity", 5)
        monkeypatch.setattr(display, "display", lambda msg, *_args, **_kwargs: self.logs.append(msg))
        self.conn.set_options(
            var_options={"inventory_hostname": "web1", "libvirt_uri": "qemu+ssh://hv1/system", **variables}
        )

    def open_session(self, uri: str, domain: str, **options: Any) -> Any:
        self.opened.append({"uri": uri, "domain": domain, **options})
        agent = self.agent_module.GuestAgent(
            self.fake, domain, uri, user=options["user"], log=options["log"], spool_dir=str(self.spool)
        )
        agent.check()
        return agent

    def become(self, password: Optional[str] = None, exe: str = FAKE_SUDO) -> Any:
        script = self.tmp_path / "become-exe"
        script.write_text(exe)
        script.chmod(0o755)
        plugin = become_loader.get("ansible.builtin.sudo")
        plugin.set_options(direct={"become_user": "app", "become_pass": password, "become_exe": str(script)})
        self.conn.set_become_plugin(plugin)
        return plugin

    def run(self, command: str, in_data: Optional[bytes] = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        become = self.conn.become
        if sudoable and become is not None:
            command = become.build_become_command(command, self.conn._shell)
        return self.conn.exec_command(f"/bin/sh -c {command!r}" if become is None else command, in_data, sudoable)

    def log(self) -> str:
        return "\n".join(self.logs)


@pytest.fixture
def guest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Guest:
    return Guest(tmp_path, monkeypatch)


def test_options_come_from_the_inventorys_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guest = Guest(
        tmp_path,
        monkeypatch,
        libvirt_uuid="0b0e5c3e-2f7e-4a5e-9d8b-1f1f1f1f1f1f",
        ansible_guest_agent_timeout=7,
        ansible_guest_agent_user="qemu-ga",
    )
    assert guest.run("echo hi") == (0, b"hi\n", b"")
    (opened,) = guest.opened
    assert opened["uri"] == "qemu+ssh://hv1/system" and opened["domain"] == "web1"
    assert opened["uuid"] == "0b0e5c3e-2f7e-4a5e-9d8b-1f1f1f1f1f1f"
    assert (opened["timeout"], opened["user"]) == (7, "qemu-ga")
    assert guest.conn.default_user == "qemu-ga"  # Ansible's remote user
    (tmp_path / "other").mkdir()
    explicit = Guest(
        tmp_path / "other", monkeypatch, ansible_libvirt_uri="qemu:///system", ansible_libvirt_domain="db1"
    )
    explicit.run("true")
    assert (explicit.opened[0]["uri"], explicit.opened[0]["domain"]) == ("qemu:///system", "db1")


def test_commands_files_and_close(guest: Guest) -> None:
    assert guest.run("echo out; echo err >&2; exit 4") == (4, b"out\n", b"err\n")
    source, dest, back = guest.tmp_path / "src", guest.tmp_path / "guest" / "dest", guest.tmp_path / "back"
    dest.parent.mkdir()
    source.write_bytes(bytes(range(256)) * 4000)
    guest.conn.put_file(str(source), str(dest))
    guest.conn.fetch_file(str(dest), str(back))
    assert back.read_bytes() == source.read_bytes()
    with pytest.raises(AnsibleFileNotFound):
        guest.conn.put_file(str(guest.tmp_path / "missing"), str(dest))
    with pytest.raises(AnsibleFileNotFound):
        guest.conn.fetch_file(str(guest.tmp_path / "missing"), str(back))
    assert list(guest.spool.iterdir())
    guest.conn.close()
    assert not list(guest.spool.iterdir()) and not guest.conn.connected


def test_a_guest_without_a_running_agent_is_unreachable(guest: Guest) -> None:
    guest.fake.fail["guest-info"] = guest.agent_module.SendFailed(
        "VIR_ERR_AGENT_UNRESPONSIVE", "Guest agent is not responding: QEMU guest agent is not connected"
    )
    with pytest.raises(AnsibleConnectionFailure, match="guest web1 at qemu\\+ssh://hv1/system is not connected"):
        guest.run("true")


def test_becoming_another_user_sends_no_password_from_root(guest: Guest) -> None:
    """qemu-ga runs as root, whom sudo never asks: the password stays on the controller."""
    (guest.tmp_path / "become-exe.nopasswd").touch()
    guest.become(PASSWORD)
    rc, stdout, stderr = guest.run("id -un", in_data=b"")
    assert rc == 0 and guest.conn.become.check_success(stdout) and stderr == b""
    assert all("input-data" not in request["arguments"] for request in guest.fake.executed("guest-exec"))


def test_a_password_is_sent_when_the_agent_is_not_root_and_its_prompt_taken_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guest = Guest(tmp_path, monkeypatch, ansible_guest_agent_user="qemu-ga")
    guest.become(PASSWORD)
    rc, stdout, stderr = guest.run("echo become; echo warning >&2")
    assert rc == 0 and stdout.endswith(b"become\n") and stderr == b"warning\n"
    module = b"print('a pipelined module')\n" * 5000  # more than goes with the command: through the spool
    rc, stdout, _stderr = guest.run("cat", in_data=module)
    assert rc == 0 and stdout.endswith(module) and PASSWORD.encode() not in stdout
    log = guest.log()
    assert "guest-exec" in log and PASSWORD not in log
    assert base64.b64encode(f"{PASSWORD}\n".encode()).decode()[:20] not in log


@pytest.mark.parametrize(
    ("variables", "password", "message"),
    [
        ({"ansible_guest_agent_user": "qemu-ga"}, "wrong", "Incorrect sudo password: sudo in guest web1"),
        ({"ansible_guest_agent_user": "qemu-ga"}, None, "Missing sudo password: .* set ansible_become_password"),
        ({}, PASSWORD, "Missing sudo password: .*as root \\(agent_user\\).* set ansible_guest_agent_user"),
    ],
)
def test_a_become_password_problem_fails_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, Any], password: Optional[str], message: str
) -> None:
    guest = Guest(tmp_path, monkeypatch, **variables)
    guest.become(password)
    with pytest.raises(AnsibleError, match=message):
        guest.run("id -un")
    assert "wrong" not in guest.log() and PASSWORD not in guest.log()


def test_a_password_that_nobody_asks_for_does_not_reach_a_pipelined_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guest = Guest(tmp_path, monkeypatch, ansible_guest_agent_user="qemu-ga")
    (tmp_path / "become-exe.nopasswd").touch()
    guest.become(PASSWORD)
    with pytest.raises(AnsibleError, match=r"did not ask for the become password .* ansible_pipelining: false"):
        guest.run("cat", in_data=b"module")


def test_a_become_method_that_wants_a_terminal_fails_saying_so(guest: Guest) -> None:
    guest.become(PASSWORD, exe=FAKE_SU)
    with pytest.raises(AnsibleError, match=r"wants a terminal .*\(NOPASSWD\)"):
        guest.run("id -un")


def test_commands_without_become_are_left_alone(guest: Guest) -> None:
    guest.become(PASSWORD)
    assert guest.run("echo plain", sudoable=False) == (0, b"plain\n", b"")
