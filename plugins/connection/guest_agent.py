# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: guest_agent
short_description: Run tasks inside a libvirt guest through its QEMU guest agent
version_added: 0.1.0
description:
  - Runs Ansible's commands and moves its files inside a guest through the QEMU guest agent (qemu-ga), over
    the libvirt connection to the guest's hypervisor (a local or a remote URI). The guest needs neither a
    network nor SSH, only qemu-guest-agent running and the agent's virtio channel
    (O(kvmfleet.kvm.guest#module:guest_agent), true by default for new guests).
  - Commands run through the guest's C(/bin/sh) as the user qemu-ga runs as (O(agent_user), root with the
    distributions' packages), starting in that user's home directory as over SSH. Become (sudo, su) changes
    the user as it does over SSH.
  - A command's output goes to private spool files in the guest's C(/tmp) (mode 0600, removed when the
    connection closes) and is read back like a file, so output of any size arrives whole. The guest agent's
    own capture of output would lose a command's result once its answer outgrew what libvirt passes (4 MiB).
  - Files are moved in base64 chunks of the agent's JSON (96 KiB into the guest - QEMU 7.2's agent did not
    get requests above about 250 KB whole - and 2 MiB out of it), binary-safe and of any size. A file put
    into the guest is written into a new private file (mode 0600) beside its destination, its size checked,
    and renamed into place; a fetched file likewise on the controller.
  - A guest that is not there or not running, without the agent's channel, or whose agent does not run or
    answer, makes the host unreachable with a message that names the guest and what to do.
author:
  - kvmfleet maintainers (@kvmfleet)
requirements:
  - The libvirt Python binding on the controller (C(python3-libvirt) or C(libvirt-python)), with its
    C(libvirt_qemu) module.
  - In the guest, qemu-guest-agent running and allowing C(guest-info), C(guest-exec), C(guest-exec-status)
    and the C(guest-file-*) commands (some distributions block the last ones by default, for example in
    C(/etc/sysconfig/qemu-ga)); a POSIX C(/bin/sh) (Linux and other Unix-like guests, not Windows).
extends_documentation_fragment:
  - ansible.builtin.connection_pipelining
options:
  uri:
    description:
      - The libvirt URI of the hypervisor that runs the guest, for example V(qemu:///system) or
        V(qemu+ssh://root@hv1.example.com/system). It is opened read-write (libvirt passes agent commands
        only on such a connection).
      - The inventory plugin P(kvmfleet.kvm.libvirt#inventory) sets C(libvirt_uri) on every guest it lists.
    type: str
    default: qemu:///system
    vars:
      - name: libvirt_uri
      - name: ansible_libvirt_uri
  domain:
    description:
      - The guest's libvirt name; by default the inventory host's name.
    type: str
    vars:
      - name: inventory_hostname
      - name: ansible_libvirt_domain
  domain_uuid:
    description:
      - The guest's libvirt UUID. When it is set and a guest has it, that guest is used (whatever its name);
        otherwise the guest called O(domain).
      - The inventory plugin P(kvmfleet.kvm.libvirt#inventory) sets C(libvirt_uuid) on every guest it lists.
    type: str
    vars:
      - name: libvirt_uuid
      - name: ansible_libvirt_domain_uuid
  agent_user:
    description:
      - The user the guest agent runs commands as. Ansible treats it as the remote user - becoming the same
        user does nothing, C(~) is its home directory - and it decides whether a become password is sent
        (see the notes).
    type: str
    default: root
    vars:
      - name: ansible_guest_agent_user
  agent_timeout:
    description:
      - Seconds one request to the guest agent may take (libvirt's agent command timeout). An agent that does
        not answer in time makes the host unreachable.
    type: int
    default: 30
    vars:
      - name: ansible_guest_agent_timeout
  exec_timeout:
    description:
      - Seconds a command may run in the guest; V(0) lets it run as long as it takes.
      - Where the guest has coreutils' C(timeout) it ends the command (and what the command started) then,
        and the task fails saying so; otherwise the connection stops waiting after 15 s more and the command
        may still run.
    type: int
    default: 0
    vars:
      - name: ansible_guest_agent_exec_timeout
  exec_poll_interval:
    description:
      - The longest pause, in seconds, between two queries whether a command ended. The first queries come
        sooner (after 5 ms, doubling each time), since most commands Ansible runs end within a fraction of a second.
    type: float
    default: 0.2
    vars:
      - name: ansible_guest_agent_poll_interval
notes:
  - Anyone who may open the hypervisor's libvirt read-write may run commands as root in its guests this way;
    the guest agent is that powerful.
  - "Become: qemu-ga runs commands as root, and no become method asks root for a password, so with the
    default O(agent_user) a become password is never sent anywhere - becoming another user (sudo or su
    from root) just works, and becoming root is left out (Ansible skips becoming the same user). When
    O(agent_user) is another user and C(ansible_become_password) is set, the password is the first line of
    the command's standard input, where sudo reads it with C(-S) (in Ansible's default sudo flags); a wrong
    password, a missing one, or a become method that wants a terminal for it (su) fails the task with a
    message saying so. The password is never logged: the connection logs the agent's requests (with -vvvvv)
    with a command's input and output, and file contents, replaced by their sizes."
  - With O(pipelining), a module travels with the command itself when it is small (up to 64 KiB) and through
    the connection's spool file otherwise - one command per module instead of four.
seealso:
  - plugin: kvmfleet.kvm.libvirt
    plugin_type: inventory
"""

EXAMPLES = r"""
# inventory/kvm.libvirt.yml - the guests of two hypervisors, reached through their guest agents where they
# have the agent's channel (libvirt_guest_agent) and over SSH otherwise
plugin: kvmfleet.kvm.libvirt
uris: [qemu+ssh://root@hv1.example.com/system, qemu:///system]
compose:
  ansible_connection: "'kvmfleet.kvm.guest_agent' if libvirt_guest_agent else 'ssh'"

# A play on such guests: libvirt_uri and libvirt_uuid, which the inventory sets, say where each guest is
# - hosts: state_running
#   gather_facts: true
#   tasks:
#     - name: A package, as root (the agent's user)
#       ansible.builtin.package:
#         name: chrony
#     - name: A file of another user
#       ansible.builtin.copy:
#         dest: /home/app/.profile
#         src: profile
#         mode: "0644"
#       become: true
#       become_user: app

# Without the inventory plugin: one guest of this machine's libvirt
# [guests]
# web1 ansible_connection=kvmfleet.kvm.guest_agent ansible_libvirt_uri=qemu:///system
"""

import os
from typing import Any, Optional

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _agent
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError

display = Display()


class Connection(ConnectionBase):
    """Tasks in a libvirt guest through its QEMU guest agent (the protocol: module_utils/_agent.py)."""

    transport = "kvmfleet.kvm.guest_agent"
    has_pipelining = True
    has_tty = False  # Ansible refuses become methods that need one (require_tty)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._agent: Optional[_agent.GuestAgent] = None

    @property
    def default_user(self) -> str:  # type: ignore[override]  # Ansible's remote user when the plugin has none
        try:
            return self.get_option("agent_user") or "root"
        except KeyError:
            return "root"

    def _guest(self) -> str:
        guest = self.get_option("domain")
        if not guest:
            raise AnsibleConnectionFailure(
                "kvmfleet.kvm.guest_agent needs the guest's name: set ansible_libvirt_domain"
            )
        return guest

    def _connect(self) -> Connection:
        if self._connected:
            return self
        uri, guest = self.get_option("uri"), self._guest()
        display.vvv(f"GUEST AGENT: ESTABLISH CONNECTION TO {guest} AT {uri}", host=guest)
        try:
            self._agent = _agent.open_session(
                uri,
                guest,
                uuid=self.get_option("domain_uuid"),
                timeout=self.get_option("agent_timeout"),
                user=self.get_option("agent_user"),
                log=lambda text: display.vvvvv(text, host=guest),
            )
        except KvmFleetError as exc:  # no agent to talk to: the host is unreachable
            raise AnsibleConnectionFailure(exc.msg) from None
        self._connected = True
        return self

    def _session(self) -> _agent.GuestAgent:
        if self._agent is None:
            raise AnsibleConnectionFailure("the guest agent connection is closed")
        return self._agent

    def exec_command(
        self, cmd: str, in_data: Optional[bytes] = None, sudoable: bool = True
    ) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        agent = self._session()
        display.vvv(f"GUEST AGENT: EXEC {cmd}", host=agent.guest)
        becoming = bool(sudoable and self.become is not None and self.become.success and self.become.success in cmd)
        password = self._password_to_send() if becoming else None
        try:
            status = agent.run(
                cmd,
                stdin=_agent.command_stdin(password, in_data),
                exec_timeout=self.get_option("exec_timeout"),
                poll=self.get_option("exec_poll_interval"),
            )
        except _agent.AgentUnavailable as exc:
            raise AnsibleConnectionFailure(exc.msg) from None
        except KvmFleetError as exc:
            raise AnsibleError(exc.msg) from None
        stdout, stderr = status.stdout, status.stderr
        if becoming and self.become is not None:
            stderr = self._check_become(self.become, stdout, stderr, sent=password is not None, piped=bool(in_data))
        return status.rc, stdout, stderr

    def _password_to_send(self) -> Optional[str]:
        """The become password, when the become method will ask for it: never of root, the agent's user by
        default (no become method asks root)."""
        become = self.become
        if become is None or not become.expect_prompt() or self.get_option("agent_user") == "root":
            return None
        return become.get_option("become_pass")

    def _check_become(self, become: Any, stdout: bytes, stderr: bytes, sent: bool, piped: bool) -> bytes:
        """stderr without the become prompt; a clear error when becoming failed for want of a password."""
        name, where = become.name, self._session().where()
        prompted = become.check_password_prompt(stderr) or become.check_password_prompt(stdout)
        if prompted and isinstance(become.prompt, str):
            stderr = _agent.strip_prompt(stderr, become.prompt)
        if become.check_success(stdout):
            if sent and piped and not prompted:
                raise AnsibleError(
                    f"{name} in {where} did not ask for the become password that was sent, so the pipelined "
                    "module got it as its input: do not set ansible_become_password for this host, or set "
                    "ansible_pipelining: false"
                )
            return stderr
        output = stdout + stderr
        if become.check_incorrect_password(output):
            raise AnsibleError(f"Incorrect {name} password: {name} in {where} refused the become password")
        if become.check_missing_password(output) or (prompted and not sent):
            if self.get_option("agent_user") == "root":
                advice = (
                    "the agent runs commands as root (agent_user), whom no become method asks; if qemu-ga runs as "
                    "another user there, set ansible_guest_agent_user to it"
                )
            else:
                advice = "set ansible_become_password, or allow the user without one (NOPASSWD)"
            raise AnsibleError(f"Missing {name} password: {name} in {where} asked for a password; {advice}")
        if _agent.needs_terminal(output):
            raise AnsibleError(
                f"{name} in {where} wants a terminal to ask for the become password, and the guest agent has none: "
                f"allow {self.get_option('agent_user')} to become the user without a password (NOPASSWD), or use "
                "sudo with -S (Ansible's default become_flags)"
            )
        return stderr  # another failure: the command's own output says what it was

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        agent = self._session()
        display.vvv(f"GUEST AGENT: PUT {in_path} TO {out_path}", host=agent.guest)
        if not os.path.exists(to_bytes(in_path, errors="surrogate_or_strict")):
            raise AnsibleFileNotFound(f"file or module does not exist: {in_path}")
        try:
            agent.put(in_path, out_path, poll=self.get_option("exec_poll_interval"))
        except _agent.AgentUnavailable as exc:
            raise AnsibleConnectionFailure(exc.msg) from None
        except KvmFleetError as exc:
            raise AnsibleError(f"failed to put {in_path} at {out_path}: {exc.msg}") from None

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        agent = self._session()
        display.vvv(f"GUEST AGENT: FETCH {in_path} TO {out_path}", host=agent.guest)
        try:
            agent.fetch(in_path, out_path)
        except _agent.AgentUnavailable as exc:
            raise AnsibleConnectionFailure(exc.msg) from None
        except KvmFleetError as exc:
            if "No such file" in exc.msg:
                raise AnsibleFileNotFound(exc.msg) from None
            raise AnsibleError(f"failed to fetch {in_path} to {out_path}: {exc.msg}") from None

    def close(self) -> None:
        """Removes the connection's spool files in the guest and closes the libvirt connection."""
        if self._agent is not None:
            agent, self._agent = self._agent, None
            agent.close()
        self._connected = False

    def reset(self) -> None:
        self.close()
