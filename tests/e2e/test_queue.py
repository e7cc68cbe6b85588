"""End-to-end: server `maxconn` with the backend queue and `timeout queue`.

With `maxconn 1` a server never sees two requests at once; the others wait in the backend's
queue and are served first come, first served. A request that waits longer than `timeout queue`
gets a 503 (HAProxy logs it `sQ`).

These tests also pass against Debian's haproxy 2.6: PYHAPROXY_CMD=/usr/sbin/haproxy.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.helpers import free_ports
from tests.helpers.servers import HttpResponse, HttpServer, RecordedRequest
from tests.helpers.syslog import Syslog

pytestmark = pytest.mark.timeout(120)

HOST = "127.0.0.1"


def status(data: bytes) -> int:
    """The status code of an answer (our error pages say HTTP/1.0 as HAProxy 1.x did, 2.x's 1.1)."""
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def send(port: int, path: str) -> socket.socket:
    s = socket.create_connection((HOST, port), timeout=30)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    return s


def read_all(s: socket.socket) -> bytes:
    data = b""
    with s:
        while chunk := s.recv(65536):
            data += chunk
    return data


class Gate:
    """A responder that works `hold` seconds per request and records the most it saw at once."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0
        self.order: list[str] = []

    def __call__(self, req: RecordedRequest) -> HttpResponse:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
            self.order.append(req.target)
        time.sleep(self.hold if not req.target.startswith("/slow") else 3.0)
        with self.lock:
            self.active -= 1
        return HttpResponse(headers=[("X-Server", "s1")], body=req.target.encode())


CONFIG = """
global
    maxconn 200
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    {extra}
frontend f
    bind 127.0.0.1:{port}
    maxconn 100
    log 127.0.0.1:{log} local0
    option httplog
    default_backend b
backend b
    {bextra}
    server s1 127.0.0.1:{s1} maxconn 1
"""


def http_log_lines(log: Syslog, n: int) -> list[str]:
    """The next n request log lines (the master's "Proxy started" lines are skipped)."""
    return log.lines_with('"GET ', n, timeout=30)


@pytest.fixture
def syslog() -> Iterator[Syslog]:
    with Syslog(host=HOST) as log:
        yield log


def test_maxconn_1_serves_20_concurrent_requests_in_order(
        proxy, http_backend: Callable[..., HttpServer], syslog: Syslog) -> None:
    gate = Gate(0.05)
    srv = http_backend(name="s1", responder=gate)
    (port,) = free_ports(1)
    proxy.start(CONFIG, port=port, s1=srv.port, log=syslog.port, extra="", bextra="")
    socks = []
    for i in range(20):
        socks.append(send(port, f"/r{i:02d}"))
        time.sleep(0.02)   # so that the proxy receives them in this order (only the order matters)
    answers = [read_all(s) for s in socks]
    for i, a in enumerate(answers):
        assert a.startswith(b"HTTP/1.1 200"), a[:80]
        assert a.endswith(f"/r{i:02d}".encode())
    assert gate.order == [f"/r{i:02d}" for i in range(20)]
    assert gate.most == 1
    # the queued ones say how many were ahead of them in the backend queue
    lines = http_log_lines(syslog, 20)
    assert any(" 0/0 " not in line for line in lines), lines


def test_timeout_queue_answers_503(proxy, http_backend: Callable[..., HttpServer],
                                   syslog: Syslog) -> None:
    gate = Gate(0.0)
    srv = http_backend(name="s1", responder=gate)
    (port,) = free_ports(1)
    proxy.start(CONFIG, port=port, s1=srv.port, log=syslog.port, extra="",
                bextra="timeout queue 400ms")
    slow = send(port, "/slow")
    deadline = time.monotonic() + 10
    while not gate.order:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    t0 = time.monotonic()
    queued = read_all(send(port, "/queued"))
    waited = time.monotonic() - t0
    assert status(queued) == 503, queued[:80]
    assert waited < 2.9          # answered by the queue timeout, not after the slow request
    assert read_all(slow).startswith(b"HTTP/1.1 200")
    assert gate.order == ["/slow"]
    line = http_log_lines(syslog, 1)[0]
    assert " f b/<NOSRV> " in line and " 503 " in line and " sQ-- " in line, line


def test_timeout_connect_bounds_the_queue_without_timeout_queue(
        proxy, http_backend: Callable[..., HttpServer], syslog: Syslog) -> None:
    gate = Gate(0.0)
    srv = http_backend(name="s1", responder=gate)
    (port,) = free_ports(1)
    proxy.start(CONFIG.replace("timeout connect 5s", "timeout connect 300ms"), port=port, s1=srv.port,
                log=syslog.port, extra="", bextra="")
    slow = send(port, "/slow")
    deadline = time.monotonic() + 10
    while not gate.order:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert status(read_all(send(port, "/queued"))) == 503
    assert read_all(slow).startswith(b"HTTP/1.1 200")
