"""`track [PROXY/]SERVER` (2.6), against pyhaproxy and /usr/sbin/haproxy: a server without
checks of its own takes the state of the server it tracks (chains too), with 2.6's "via"
messages; the operator's maintenance of the tracked server shows as `MAINT (via ...)` and keeps
the trackers out of load balancing; 2.6's configuration errors."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports, wait_until
from tests.helpers.net import stats_command

pytestmark = pytest.mark.timeout(60)

CFG = """
global
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    use_backend b3 if { path_beg /b3 }
    default_backend b2
backend b1
    server s1 127.0.0.1:{sport} check inter 200 fall 1 rise 1
backend b2
    server s1 127.0.0.1:{sport} track b1/s1
backend b3
    server t 127.0.0.1:{sport} track b2/s1
"""


def _status(sock: Path) -> dict[str, str]:
    out = {}
    for row in stats_command(sock, "show stat").splitlines():
        f = row.split(",")
        if len(f) > 17 and f[1] not in ("FRONTEND", "BACKEND") and not row.startswith("#"):
            out[f"{f[0]}/{f[1]}"] = f[17]
    return out


class Web:
    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                try:
                    if c.recv(65536):
                        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def _code(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := c.recv(4096):
            data += chunk
    return data.split(b" ")[1]


def test_trackers_follow(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    port, sport = free_ports(2)
    sock = tmp_path / "admin.sock"
    px = proxy.start(CFG, sock=sock, port=port, sport=sport)
    wait_until(sock.exists, 10, message="the stats socket")
    down = {"b1/s1": "DOWN", "b2/s1": "DOWN", "b3/t": "DOWN"}
    wait_until(lambda: _status(sock) == down, 10, message=f"all DOWN: {down}")
    assert _code(port, "/") == b"503" and _code(port, "/b3") == b"503"
    web = Web(sport)
    up = {"b1/s1": "UP", "b2/s1": "UP", "b3/t": "UP"}
    wait_until(lambda: _status(sock) == up, 10, message=f"all UP: {up}")
    assert _code(port, "/") == b"200" and _code(port, "/b3") == b"200"
    assert stats_command(sock, "disable server b1/s1").strip() == ""
    maint = {"b1/s1": "MAINT", "b2/s1": "MAINT (via b1/s1)", "b3/t": "MAINT (via b2/s1)"}
    assert _status(sock) == maint
    wait_until(lambda: _code(port, "/b3") == b"503", 10, message="the tracker out of load balancing")
    assert stats_command(sock, "enable server b1/s1").strip() == ""
    wait_until(lambda: _status(sock) == up, 10, message=f"all UP again: {up}")
    wait_until(lambda: _code(port, "/b3") == b"200", 10, message="the tracker serving again")
    web.close()
    wait_until(lambda: _status(sock) == down, 10, message=f"all DOWN again: {down}")
    out = px.output_text()
    for line in ("Server b2/s1 is DOWN via b1/s1. 0 active and 0 backup servers left.",
                 "Server b3/t is UP via b2/s1. 1 active and 0 backup servers online."):
        assert line in out, out


HEAD = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
ERRORS = {
    "b1/s9": "'server b2/s1' : unable to find required server 's9' for tracking.",
    "b9/s1": "'server b2/s1' : unable to find required proxy 'b9' for tracking.",
    "b2/s1": "'server b2/s1' : unable to track b2/s1 as it belongs to a tracking chain looping back to "
             "b2/s1.",
    "b1/s2": "'server b2/s1' : unable to use b1/s2 for tracking as it does not have any check nor agent "
             "enabled.",
}


def test_refusals(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    for target, message in ERRORS.items():
        text = (HEAD + "backend b1\n    server s1 127.0.0.1:80 check\n    server s2 127.0.0.1:80\n"
                f"backend b2\n    server s1 127.0.0.1:80 track {target}\n")
        out = proxy.refuses(tmp_path / "t.cfg", text)
        assert message in out, (target, out)
    both = "backend b1\n    server s1 127.0.0.1:80 check track b1/s2\n    server s2 127.0.0.1:80 check\n"
    out = proxy.refuses(tmp_path / "t.cfg", HEAD + both)
    assert "'server b1/s1' : unable to enable checks and tracking at the same time!" in out, out
