"""Debian's packaged systemd unit starts, reloads and stops the proxy with the notify protocol.

The `ExecStart`/`ExecReload` lines are read from the installed `haproxy.service` and run verbatim
(`$CONFIG`, `$PIDFILE`, `$EXTRAOPTS`, `$MAINPID` filled in as systemd would, `/usr/sbin/haproxy`
replaced by the command under test) under a `NOTIFY_SOCKET` receiver playing systemd's part:
`READY=1` once serving, `RELOADING=1` then `READY=1` around a reload, `STOPPING=1` on SIGTERM.
The `-S` master CLI of the unit's `EXTRAOPTS` answers `show proc` and `@1` commands.
Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import free_ports, wait_until
from tests.helpers.proxy import base_command

pytestmark = pytest.mark.timeout(90)

UNIT = Path("/lib/systemd/system/haproxy.service")

CONFIG = """\
global
    maxconn 100
    stats socket {stats} mode 600 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{bport}
"""


def unit_lines() -> tuple[dict[str, str], str, list[str]]:
    """Environment, ExecStart and the ExecReload lines of Debian's haproxy.service."""
    text = UNIT.read_text()
    env: dict[str, str] = {}
    for m in re.finditer(r"(?m)^Environment=(.*)$", text):
        for item in shlex.split(m[1]):
            k, _, v = item.partition("=")
            env[k] = v
    start = re.search(r"(?m)^ExecStart=(.*)$", text)
    assert start is not None
    reloads = re.findall(r"(?m)^ExecReload=(.*)$", text)
    return env, start[1], reloads


def expand(line: str, env: dict[str, str]) -> list[str]:
    """systemd's `$VAR` expansion (an unquoted `$VAR` splits into words), then our command."""
    words: list[str] = []
    for w in line.split():
        if w.startswith("$"):
            words += env.get(w[1:], "").split()
        else:
            words.append(w)
    if words[0] == "/usr/sbin/haproxy":
        words = [*base_command(), *words[1:]]
    return words


class NotifyReceiver:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.path = path
        self.got: list[str] = []

    def wait_for(self, state: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(state in m.split("\n") for m in self.got):
                return
            try:
                self.got.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        raise AssertionError(f"no {state} in {self.got}")

    def clear(self) -> None:
        self.got.clear()


def cli(path: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(command.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)  # as `socat ... -` does: haproxy's master CLI waits for it
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode()


def get(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return int(s.recv(100).split(b" ")[1])


def test_debian_unit_starts_reloads_and_stops_with_notify(proxy, http_backend, tmp_path) -> None:
    if not UNIT.exists():
        pytest.fail(f"{UNIT} is missing: install Debian's haproxy package (.ci/run does)")
    backend = http_backend(name="b")
    (port,) = free_ports(1)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(CONFIG.format(stats=tmp_path / "admin.sock", port=port, bport=backend.port))
    env, start, reloads = unit_lines()
    master_sock = tmp_path / "master.sock"
    env.update(CONFIG=str(cfg), PIDFILE=str(tmp_path / "haproxy.pid"),
               EXTRAOPTS=env.get("EXTRAOPTS", "").replace("/run/haproxy-master.sock", str(master_sock)))
    assert str(master_sock) in env["EXTRAOPTS"], "the unit's EXTRAOPTS should name the master socket"
    notify = NotifyReceiver(tmp_path / "notify.sock")
    penv = proxy.env({"NOTIFY_SOCKET": str(notify.path)})
    out = open(tmp_path / "main.log", "wb")  # noqa: SIM115 (closed at the end)
    main = subprocess.Popen(expand(start, env), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                            env=penv, cwd=tmp_path, start_new_session=True)
    proxy.tracked_pids.add(main.pid)
    try:
        notify.wait_for("READY=1")
        assert get(port) == 200
        # show proc: the master and one worker
        procs = cli(master_sock, "show proc")
        assert re.search(rf"(?m)^{main.pid}\s+master\s", procs), procs
        workers = re.findall(r"(?m)^(\d+)\s+worker\s", procs)
        assert len(workers) >= 1, procs
        # @1: a command for the first worker
        info = cli(master_sock, "@1 show info")
        assert "Pid:" in info or "Name:" in info, info
        # ExecReload: a check with the same options, then SIGUSR2 to the main pid
        env["MAINPID"] = str(main.pid)
        notify.clear()
        for line in reloads:
            words = expand(line, env)
            if words[0] in ("/bin/kill", "kill"):
                os.kill(main.pid, signal.SIGUSR2)
            else:
                done = subprocess.run(words, env=penv, cwd=tmp_path, capture_output=True, timeout=60)
                assert done.returncode == 0, done.stderr
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        wait_until(lambda: get(port) == 200, 15, message="served after the reload")
        # systemctl stop: SIGTERM to the main process (KillMode=mixed)
        notify.clear()
        main.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1")
        rc = main.wait(30)
        assert rc in (0, 143), rc  # SuccessExitStatus=143
    finally:
        if main.poll() is None:
            main.kill()
            main.wait(10)
        out.close()
        notify.sock.close()
