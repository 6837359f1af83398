"""A stand-in for qemu-ga behind libvirt, for unit tests of the guest agent code: ``FakeAgent`` answers the
agent's JSON requests as qemu-ga does, running commands with this machine's /bin/sh (so the real wrapper
script runs) and reading and writing this machine's files. Not a mock of libvirt: ``GuestAgent`` takes any
``send`` function, and this is one."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _agent

# the largest request QEMU 7.2's qemu-ga received whole was about 250 KB: every request must stay below
REQUEST_LIMIT = 200_000


class Process:
    """A command qemu-ga started: its output is collected in a thread, as qemu-ga's main loop does."""

    def __init__(self, argv: list[str], stdin: Optional[bytes], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.output: tuple[bytes, bytes] = (b"", b"")
        self.thread = threading.Thread(target=self._collect, args=(stdin,), daemon=True)
        self.thread.start()

    def _collect(self, stdin: Optional[bytes]) -> None:
        self.output = self.proc.communicate(stdin)


class FakeAgent:
    """``send`` for ``GuestAgent``: answers requests (JSON text) like qemu-ga; records each request.

    ``fail`` maps a command name to the SendFailed it raises; ``short_write`` makes guest-file-write report
    one byte less than it was given; ``disabled`` lists commands guest-info reports as disabled; ``env`` is
    the environment commands get (qemu-ga's service environment has no HOME).
    """

    def __init__(self, env: Optional[dict[str, str]] = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.sizes: list[int] = []
        self.processes: dict[int, Process] = {}
        self.files: dict[int, Any] = {}
        self.next_id = 1000
        self.fail: dict[str, _agent.SendFailed] = {}
        self.short_write = False
        self.disabled: list[str] = []
        self.env = env if env is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def __call__(self, text: str, timeout: int) -> str:
        assert timeout > 0
        request = json.loads(text)
        self.requests.append(request)
        self.sizes.append(len(text))
        assert len(text) < REQUEST_LIMIT, f"{request['execute']} request of {len(text)} characters"
        name = request["execute"]
        if name in self.fail:
            raise self.fail[name]
        handler = getattr(self, name.replace("-", "_"))
        try:
            result = handler(**request.get("arguments", {}))
        except OSError as exc:  # as libvirt reports an error the agent answered
            raise _agent.SendFailed(
                "VIR_ERR_INTERNAL_ERROR",
                f"internal error: unable to execute QEMU agent command '{name}': {exc.strerror}",
            ) from None
        return json.dumps({"return": result})

    def executed(self, name: str) -> list[dict[str, Any]]:
        return [request for request in self.requests if request["execute"] == name]

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def guest_info(self) -> dict[str, Any]:
        return {
            "version": "7.2.fake",
            "supported_commands": [
                {"name": name, "enabled": name not in self.disabled, "success-response": True}
                for name in (*_agent.REQUIRED, "guest-ping")
            ],
        }

    def guest_ping(self) -> dict[str, Any]:
        return {}

    def guest_exec(self, path: str, arg: list[str], **options: Any) -> dict[str, Any]:
        assert options.get("capture-output") is True
        data = options.get("input-data")
        pid = self._id()
        self.processes[pid] = Process([path, *arg], base64.b64decode(data) if data else None, self.env)
        return {"pid": pid}

    def guest_exec_status(self, pid: int) -> dict[str, Any]:
        process = self.processes[pid]
        if process.thread.is_alive():
            return {"exited": False}
        del self.processes[pid]  # qemu-ga forgets a command once it told that it ended
        out, err = process.output
        code = process.proc.returncode
        answer: dict[str, Any] = {"exited": True}
        if code < 0:
            answer["signal"] = -code
        else:
            answer["exitcode"] = code
        if out:
            answer["out-data"] = base64.b64encode(out).decode()
        if err:
            answer["err-data"] = base64.b64encode(err).decode()
        return answer

    def guest_file_open(self, path: str, mode: str = "r") -> int:
        handle = self._id()
        self.files[handle] = open(path, mode.replace("b", "") + "b")  # noqa: SIM115 - closed by guest-file-close
        return handle

    def guest_file_close(self, handle: int) -> dict[str, Any]:
        self.files.pop(handle).close()
        return {}

    def guest_file_write(self, handle: int, **options: Any) -> dict[str, Any]:
        data = base64.b64decode(options["buf-b64"])
        if self.short_write:
            data = data[:-1]
        self.files[handle].write(data)
        return {"count": len(data), "eof": False}

    def guest_file_read(self, handle: int, count: int = 4096) -> dict[str, Any]:
        data = self.files[handle].read(count)
        return {"count": len(data), "buf-b64": base64.b64encode(data).decode(), "eof": len(data) < count}

    def guest_file_seek(self, handle: int, offset: int, whence: Any) -> dict[str, Any]:
        where = {"set": os.SEEK_SET, "cur": os.SEEK_CUR, "end": os.SEEK_END}.get(whence, whence)
        position = self.files[handle].seek(offset, where)
        return {"position": position, "eof": False}
