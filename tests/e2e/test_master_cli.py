"""The master CLI (`-W -S SOCKET`): `show proc`, `@N`/`@!PID` prefixes, `reload`, errors.
Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too, except where noted."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests.helpers import free_ports, wait_until

pytestmark = pytest.mark.timeout(60)

CONFIG = """
    global
        maxconn 100
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


def cli(path: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(command.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode()


def workers(text: str) -> list[int]:
    section = text.split("# workers", 1)[1].split("#", 1)[0]
    return [int(m) for m in re.findall(r"(?m)^(\d+)\s+worker", section)]


@pytest.fixture
def started(proxy, http_backend, tmp_path):
    backend = http_backend(name="b")
    (port,) = free_ports(1)
    sock = tmp_path / "master.sock"
    px = proxy.start(CONFIG, extra_args=["-W", "-S", f"{sock},mode,600"], port=port, bport=backend.port)
    return px, sock


def test_show_proc_lists_master_and_workers(started) -> None:
    px, sock = started
    text = cli(sock, "show proc")
    assert text.startswith("#<PID>")
    assert re.search(rf"(?m)^{px.master_pid}\s+master\s", text), text
    assert workers(text) == px.worker_pids()


def test_prefixes_reach_a_worker(started) -> None:
    px, sock = started
    pid = px.worker_pids()[0]
    for prefix in ("@1", f"@!{pid}"):
        out = cli(sock, f"{prefix} show stat")
        assert out.startswith("# pxname,svname,"), out
        assert "\nbe,s1," in out
    assert "Can't find the target" in cli(sock, "@9 show stat")


def test_reload_command_starts_new_workers(started) -> None:
    px, sock = started
    before = px.worker_pids()
    cli(sock, "reload")
    wait_until(lambda: set(workers(cli(sock, "show proc"))) - set(before), 20, message="new workers")


def test_unknown_command(started) -> None:
    _px, sock = started
    assert "Unknown command" in cli(sock, "frobnicate")
