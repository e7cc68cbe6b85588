"""End-to-end tests of the close after an answer the proxy makes itself (error page, monitor).

When the proxy answers and closes while the client's request is still unread in the socket, a
plain close() makes the kernel reset the connection, and the reset can destroy the answer before
the client has read it. The proxy shuts its write side and drains the client's input first, so
the client reads the whole answer and then a clean end of stream, never ECONNRESET.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.helpers import free_port
from tests.helpers.pages import builtin_page

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"


def answer_then_eof(port: int, request: bytes, pause: float = 0.3) -> bytes:
    """Send the request, wait for the proxy's close, then read: answer bytes up to a clean EOF.

    A reset instead of the EOF raises ConnectionResetError and fails the test.
    """
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(request)
        time.sleep(pause)   # the proxy has answered and closed (or reset) by now
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def test_monitor_net_answer_survives_an_unread_request(proxy, http_backend) -> None:
    be = http_backend(name="A")
    port = free_port()
    h = proxy.start("""
    listen web {host}:{port}
        mode http
        monitor-net 127.0.0.0/8
        contimeout 2000
        clitimeout 30000
        srvtimeout 30000
        server A {host}:{pa}
    """, host=HOST, port=port, pa=be.port)
    for _ in range(5):
        got = answer_then_eof(port, b"GET /health HTTP/1.0\r\nUser-Agent: probe\r\n\r\n")
        assert got == b"HTTP/1.0 200 OK\r\n\r\n"
    assert be.request_count() == 0
    assert h.alive()


def test_400_page_survives_an_unread_body(proxy, http_backend) -> None:
    be = http_backend(name="A")
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        contimeout 2000
        clitimeout 30000
        srvtimeout 30000
        server A {host}:{pa}
    """, host=HOST, port=port, pa=be.port)
    # Two Content-Length values that differ: refused with 400 before the body is read.
    bad = (b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\nContent-Length: 3\r\n\r\n"
           + b"x" * 20000)
    got = answer_then_eof(port, bad)
    assert got.startswith(b"HTTP/1.1 400 Bad request\r\n"), got[:80]
    assert got.endswith(b"</html>\n")
    assert be.request_count() == 0
    # The worker carries on.
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.")


def test_monitor_uri_answer_survives_pipelined_bytes(proxy, http_backend) -> None:
    be = http_backend(name="A")
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        monitor-uri /haproxy_up
        contimeout 2000
        clitimeout 30000
        srvtimeout 30000
        server A {host}:{pa}
    """, host=HOST, port=port, pa=be.port)
    # (the client asks to close: the requests behind it are never read, and must not turn the
    # close into a reset that eats the answer)
    got = answer_then_eof(port, b"GET /haproxy_up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
    assert got == builtin_page(200)   # 2.6's monitor page; closed after it
    assert be.request_count() == 0


def test_mode_health_says_ok_and_closes_cleanly(proxy) -> None:
    port = free_port()
    proxy.start("""
    listen health {host}:{port}
        mode health
    """, host=HOST, port=port)
    assert answer_then_eof(port, b"are you there?\r\n") == b"OK\n"
