"""`dispatch` with cookie servers and no `balance` (HAProxy 1.2 manual 2.7, 2.10, 3.2): every new
client goes to the dispatch address; the servers only serve the clients whose cookie names them.
Before issue 15 new clients were round-robined over the servers.

Not differential: haproxy 2.6 balances round-robin by default even without a `balance` line and
keeps `dispatch` for when no server can take the connection; this is the 1.x behaviour, which a
1.x configuration written this way relies on (an auxiliary load balancer behind `dispatch`)."""

from __future__ import annotations

import socket

import pytest

from tests.helpers import free_ports
from tests.helpers.servers import HttpServer

pytestmark = pytest.mark.timeout(60)

CONFIG = """
    listen app 127.0.0.1:{port}
        mode http
        contimeout 5000
        clitimeout 30000
        srvtimeout 30000
        dispatch 127.0.0.1:{dport}
        cookie SERVERID insert indirect
        server a 127.0.0.1:{aport} cookie a
        server b 127.0.0.1:{bport} cookie b
    """


def served_by(port: int, cookie: str | None = None) -> str:
    hdr = f"Cookie: SERVERID={cookie}\r\n" if cookie else ""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET / HTTP/1.0\r\nHost: x\r\n{hdr}\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"x-server:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError(data)


def test_new_clients_go_to_dispatch_and_cookies_to_their_server(proxy, http_backend) -> None:
    d: HttpServer = http_backend(name="dispatch")
    a: HttpServer = http_backend(name="a")
    b: HttpServer = http_backend(name="b")
    (port,) = free_ports(1)
    proxy.start(CONFIG, port=port, dport=d.port, aport=a.port, bport=b.port)
    assert [served_by(port) for _ in range(4)] == ["dispatch"] * 4
    assert served_by(port, "b") == "b"
    assert served_by(port, "a") == "a"
    assert served_by(port, "zzz") == "dispatch"  # an unknown cookie is a new client
