"""HTTP timeouts beyond 1.x's three: `timeout http-request` and `timeout http-keep-alive`."""

from __future__ import annotations

import socket
import time

import pytest


def _recv_until_close(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    start = time.monotonic()
    sock.settimeout(limit)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data, time.monotonic() - start
        data += chunk


@pytest.mark.timeout(60)
def test_http_request_timeout_answers_408_before_clitimeout(proxy, http_backend, free_port):
    backend = http_backend()
    port = free_port()
    proxy.start(f"""
    listen web 127.0.0.1:{port}
        mode http
        contimeout 2000
        clitimeout 30000
        srvtimeout 30000
        timeout http-request 1000
        server s1 127.0.0.1:{backend.port}
    """)
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
    data, took = _recv_until_close(c, 20)
    assert data.startswith(b"HTTP/1.1 408 Request Time-out\r\n")
    assert took < 15  # well before clitimeout (30 s)
    assert backend.requests == []


@pytest.mark.timeout(60)
def test_keep_alive_timeout_closes_an_idle_connection(proxy, http_backend, free_port):
    backend = http_backend()
    port = free_port()
    proxy.start(f"""
    listen web 127.0.0.1:{port}
        mode http
        contimeout 2000
        clitimeout 30000
        srvtimeout 30000
        timeout http-keep-alive 1000
        server s1 127.0.0.1:{backend.port}
    """)
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
    c.settimeout(10)
    first = c.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    # Idle after the response: closed by the keep-alive timeout, silently (no 408).
    rest, took = _recv_until_close(c, 20)
    assert rest == b""
    assert took < 15
