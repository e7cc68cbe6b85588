"""`nbthread N` (HAProxy 1.8+) starts N worker processes: pyhaproxy's unit of parallelism is the
process, so a 2.x configuration keeps its parallelism, with a warning naming the difference.
Not differential: haproxy 2.6 starts threads in one process, which this test could not count the
same way; `nbproc` above the bound is refused by `-c` in both (tests/unit/test_parser.py)."""

from __future__ import annotations

import socket

import pytest

from tests.helpers import free_ports
from tests.helpers.net import wait_until
from tests.helpers.servers import HttpServer

pytestmark = pytest.mark.timeout(60)


def test_nbthread_starts_that_many_workers(proxy, http_backend) -> None:
    backend: HttpServer = http_backend(name="b")
    (port,) = free_ports(1)
    px = proxy.start("""
        global
            nbthread 3
        defaults
            mode http
            timeout connect 5s
            timeout client 10s
            timeout server 10s
        listen web
            bind 127.0.0.1:{port}
            server b 127.0.0.1:{bport}
        """, port=port, bport=backend.port)
    wait_until(lambda: len(px.worker_pids()) == 3, 15, message="3 workers")
    assert "starts 3 worker processes instead of threads" in px.stderr_text()
    for _ in range(6):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")
