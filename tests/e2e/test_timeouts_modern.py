"""Every `timeout` keyword of HAProxy 2.x, provoked once, in frontend/backend configurations.

connect (a server whose accept queue is full: SYNs go unanswered), client (an idle client),
server (a slow server), http-request (an unfinished request), http-keep-alive (an idle kept
connection), check (a health check answered too late), tunnel (an idle connected TCP session).
`timeout queue` is provoked in tests/e2e/test_queue.py. Each expiry is set short and the others
long, so what ends the session can only be the one under test; no elapsed time is asserted
tightly, only that the end came well before the long timeouts.

These tests also pass against Debian's haproxy 2.6: PYHAPROXY_CMD=/usr/sbin/haproxy.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from tests.helpers import free_ports
from tests.helpers.servers import HttpResponse, HttpServer, RecordedRequest

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"


def status(data: bytes) -> int:
    """The status code of an answer (our error pages say HTTP/1.0 as HAProxy 1.x did, 2.x's 1.1)."""
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
LONG = "30s"


def config(mode: str, fe: str = "", be: str = "", **timeouts: str) -> str:
    t = {"connect": LONG, "client": LONG, "server": LONG}
    t.update({k.replace("_", "-"): v for k, v in timeouts.items()})
    lines = "\n".join(f"    timeout {k} {v}" for k, v in t.items())
    return (f"defaults\n    mode {mode}\n    retries 0\n{lines}\n"
            f"frontend f\n    bind 127.0.0.1:{{port}}\n{fe}    default_backend b\n"
            f"backend b\n{be}    server s1 127.0.0.1:{{s1}}{{srvopts}}\n")


def read_until_closed(s: socket.socket, limit: float = 20.0) -> tuple[bytes, float]:
    start = time.monotonic()
    s.settimeout(limit)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return data, time.monotonic() - start
        data += chunk


@pytest.fixture
def full_server() -> Iterator[int]:
    """A listener whose accept queue is full: connecting to it hangs (no SYN-ACK)."""
    lst = socket.socket()
    lst.bind((HOST, 0))
    lst.listen(0)
    fill = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(lst.getsockname())
        except BlockingIOError:
            pass
        fill.append(c)
    time.sleep(0.2)
    yield lst.getsockname()[1]
    for c in fill:
        c.close()
    lst.close()


def test_timeout_connect(proxy, full_server: int) -> None:
    (port,) = free_ports(1)
    proxy.start(config("http", connect="300ms"), port=port, s1=full_server, srvopts="")
    with socket.create_connection((HOST, port)) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, took = read_until_closed(c)
    assert status(data) == 503, data[:60]
    assert took < 15


def test_timeout_client(proxy, tcp_echo_backend) -> None:
    echo = tcp_echo_backend()
    (port,) = free_ports(1)
    proxy.start(config("tcp", client="300ms"), port=port, s1=echo.port, srvopts="")
    with socket.create_connection((HOST, port)) as c:
        data, took = read_until_closed(c)    # the client never sends anything
    assert data == b"" and took < 15


def test_timeout_server(proxy, http_backend: Callable[..., HttpServer]) -> None:
    slow = http_backend(response=HttpResponse(body=b"late", delay=5.0))
    (port,) = free_ports(1)
    proxy.start(config("http", server="300ms"), port=port, s1=slow.port, srvopts="")
    with socket.create_connection((HOST, port)) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, took = read_until_closed(c)
    assert status(data) == 504
    assert took < 4.5


def test_timeout_http_request(proxy, http_backend: Callable[..., HttpServer]) -> None:
    srv = http_backend()
    (port,) = free_ports(1)
    proxy.start(config("http", http_request="300ms"), port=port, s1=srv.port, srvopts="")
    with socket.create_connection((HOST, port)) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")    # never finished
        data, took = read_until_closed(c)
    assert status(data) == 408
    assert took < 15 and srv.requests == []


def test_timeout_http_keep_alive(proxy, http_backend: Callable[..., HttpServer]) -> None:
    srv = http_backend()
    (port,) = free_ports(1)
    proxy.start(config("http", http_keep_alive="300ms"), port=port, s1=srv.port, srvopts="")
    with socket.create_connection((HOST, port)) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        c.settimeout(10)
        first = c.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        rest, took = read_until_closed(c)        # idle after the answer: closed by the proxy
    assert rest == b"" and took < 15


def test_timeout_check(proxy, http_backend: Callable[..., HttpServer]) -> None:
    """The check answer comes after 1 s: within `inter` (2 s) but after `timeout check` (200 ms)."""
    def answer(req: RecordedRequest) -> HttpResponse:
        return HttpResponse(body=b"ok", delay=1.0 if req.method == "OPTIONS" else 0.0)

    srv = http_backend(responder=answer)
    (port,) = free_ports(1)
    opts = " check inter 2s fall 1 rise 1"
    # (haproxy 2.6 applies the reply timeout only once min(timeout connect, inter) has passed,
    # so timeout connect is short too: the check then fails under both)
    cfg = config("http", be="    option httpchk\n", check="200ms", connect="300ms")
    proxy.start(cfg, port=port, s1=srv.port, srvopts=opts)
    deadline = time.monotonic() + 20
    while True:
        with socket.create_connection((HOST, port)) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data, _ = read_until_closed(c)
        if status(data) == 503:
            break                                  # the server was marked DOWN by the check
        assert data.startswith(b"HTTP/1.1 200")
        assert time.monotonic() < deadline, "the slow check never failed"
        time.sleep(0.2)


def test_slow_check_passes_without_timeout_check(proxy, http_backend: Callable[..., HttpServer]) -> None:
    """The contrast: the same slow check within `inter` keeps the server UP."""
    def answer(req: RecordedRequest) -> HttpResponse:
        return HttpResponse(body=b"ok", delay=1.0 if req.method == "OPTIONS" else 0.0)

    srv = http_backend(responder=answer)
    (port,) = free_ports(1)
    cfg = config("http", be="    option httpchk\n", connect="300ms")
    proxy.start(cfg, port=port, s1=srv.port, srvopts=" check inter 2s fall 1 rise 1")
    deadline = time.monotonic() + 7
    while time.monotonic() < deadline:
        with socket.create_connection((HOST, port)) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data, _ = read_until_closed(c)
        assert data.startswith(b"HTTP/1.1 200")
        time.sleep(0.3)
    assert sum(1 for r in srv.requests if r.method == "OPTIONS") >= 2


def test_timeout_tunnel(proxy, tcp_echo_backend) -> None:
    echo = tcp_echo_backend()
    (port,) = free_ports(1)
    proxy.start(config("tcp", tunnel="300ms"), port=port, s1=echo.port, srvopts="")
    with socket.create_connection((HOST, port)) as c:
        c.sendall(b"ping\n")
        c.settimeout(10)
        assert c.recv(5) == b"ping\n"
        data, took = read_until_closed(c)        # connected, then idle both ways
    assert data == b"" and took < 15
