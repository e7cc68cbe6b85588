"""Two server flags of 2.6, against pyhaproxy and /usr/sbin/haproxy: `enabled` (a server taken
out of a `default-server disabled`) and `non-stick` (stick rules never store it: the table stays
empty for requests it serves)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports, wait_until
from tests.helpers.net import stats_command

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
    use_backend b_plain if { path_beg /plain }
    default_backend b_nonstick
backend b_nonstick
    stick-table type ip size 10
    stick on src
    server s1 127.0.0.1:{sport} non-stick
backend b_plain
    stick-table type ip size 10
    stick on src
    server s1 127.0.0.1:{sport}
backend b_flags
    default-server disabled
    server off 127.0.0.1:{sport}
    server on 127.0.0.1:{sport} enabled
"""


def _serve_once(srv: socket.socket) -> None:
    c, _ = srv.accept()
    with c:
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def _get(port: int, path: str, srv: socket.socket) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        _serve_once(srv)
        data = b""
        while chunk := c.recv(4096):
            data += chunk
    return data.split(b"\r\n", 1)[0]


def _entries(sock: Path, table: str) -> int:
    head = stats_command(sock, f"show table {table}").splitlines()[0]
    return int(head.split("used:")[1].split()[0])


def test_enabled_and_non_stick(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    port, _ = free_ports(2)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(10)
    sock = tmp_path / "admin.sock"
    proxy.start(CFG, sock=sock, port=port, sport=srv.getsockname()[1])
    wait_until(sock.exists, 10, message="the stats socket")
    assert _get(port, "/x", srv) == b"HTTP/1.1 200 OK"
    assert _get(port, "/plain", srv) == b"HTTP/1.1 200 OK"
    assert _entries(sock, "b_nonstick") == 0
    assert _entries(sock, "b_plain") == 1
    status = {r.split(",")[1]: r.split(",")[17] for r in stats_command(sock, "show stat").splitlines()
              if r.startswith("b_flags,")}
    assert status["off"] == "MAINT" and status["on"] == "no check"
    srv.close()
