"""`http-check expect [!] status|rstatus`: what a check reply's status must be. A server that
answers its checks with 404 is DOWN by default (2xx/3xx expected) and UP with `expect status 404`.
Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too."""

from __future__ import annotations

import socket

import pytest

from tests.helpers import free_ports, wait_until
from tests.helpers.servers import HttpResponse, HttpServer

pytestmark = pytest.mark.timeout(60)

CONFIG = """
    defaults
        mode http
        timeout connect 2s
        timeout client 10s
        timeout server 10s
        timeout check 2s
    frontend fe
        bind 127.0.0.1:{port}
        default_backend be
    backend be
        option httpchk GET /health
        {expect}
        server s1 127.0.0.1:{bport} check inter 100 rise 1 fall 1
    """


def status(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /app HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return int(s.recv(64).split(b" ")[1])


def start(proxy, http_backend, expect: str) -> tuple[int, HttpServer]:
    backend: HttpServer = http_backend(name="b")
    backend.responder = lambda req: HttpResponse(status=404 if req.target == "/health" else 200,
                                                 body=b"x")
    (port,) = free_ports(1)
    proxy.start(CONFIG, port=port, bport=backend.port, expect=expect)
    wait_until(lambda: sum(r.target == "/health" for r in backend.requests) >= 3, 15,
               message="three checks")
    return port, backend


@pytest.mark.parametrize(("expect", "served"), [
    ("", False),                                   # 404 is not 2xx/3xx
    ("http-check expect status 404", True),
    ("http-check expect status 200-399,404", True),
    ("http-check expect ! status 200", True),
    ("http-check expect rstatus ^4", True),
    ("http-check expect status 200", False),
])
def test_expected_status_decides_the_server_state(proxy, http_backend, expect: str, served: bool) -> None:
    port, _backend = start(proxy, http_backend, expect)
    assert status(port) == (200 if served else 503)
