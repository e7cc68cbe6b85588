"""End-to-end: the balance algorithms of HAProxy 1.3+/2.x (leastconn, first, uri, hdr(NAME), static-rr).

Every test runs a frontend and a backend in HTTP mode against real threaded HTTP servers; a slow
path (`/long`) keeps a connection busy on whichever server took it.

These tests also pass against Debian's haproxy 2.6: PYHAPROXY_CMD=/usr/sbin/haproxy.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

from tests.helpers import free_ports
from tests.helpers.servers import HttpResponse, HttpServer, RecordedRequest

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"
CONFIG = """
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend f
    bind 127.0.0.1:{port}
    default_backend b
backend b
    balance {balance}
    server s1 127.0.0.1:{p1}{opts1}
    server s2 127.0.0.1:{p2}
    server s3 127.0.0.1:{p3}
"""


def get(port: int, path: str, headers: dict[str, str] | None = None) -> str:
    """GET on a new connection (closed after it): the X-Server of the answer."""
    hdrs = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    with socket.create_connection((HOST, port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{hdrs}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 200"), head
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "x-server":
            return value.strip()
    return ""


def responder(name: str, long_delay: float) -> Callable[[RecordedRequest], HttpResponse]:
    def answer(req: RecordedRequest) -> HttpResponse:
        delay = long_delay if req.target.startswith("/long") else 0.0
        return HttpResponse(headers=[("X-Server", name)], body=name.encode(), delay=delay)
    return answer


@pytest.fixture
def three(http_backend: Callable[..., HttpServer]) -> list[HttpServer]:
    return [http_backend(name=f"s{i}", responder=responder(f"s{i}", 4.0)) for i in (1, 2, 3)]


def start(proxy, three: list[HttpServer], balance: str, opts1: str = "") -> int:
    (port,) = free_ports(1)
    proxy.start(CONFIG, port=port, balance=balance, opts1=opts1,
                p1=three[0].port, p2=three[1].port, p3=three[2].port)
    return port


def background_get(port: int, path: str, out: list[str]) -> threading.Thread:
    t = threading.Thread(target=lambda: out.append(get(port, path)), daemon=True)
    t.start()
    return t


def wait_busy(servers: list[HttpServer], n: int) -> None:
    """Until n requests arrived in all (the long ones are then being served)."""
    deadline = time.monotonic() + 15
    while sum(s.request_count() for s in servers) < n:
        assert time.monotonic() < deadline, "the long requests never reached a server"
        time.sleep(0.02)


def test_leastconn_sends_short_requests_away_from_busy_servers(proxy, three: list[HttpServer]) -> None:
    port = start(proxy, three, "leastconn")
    longs: list[str] = []
    threads = [background_get(port, "/long/1", longs)]
    wait_busy(three, 1)
    threads.append(background_get(port, "/long/2", longs))
    wait_busy(three, 2)
    busy = {s.name for s in three if any(r.target.startswith("/long") for r in s.requests)}
    assert len(busy) == 2          # the second long request avoided the first one's server
    free = ({"s1", "s2", "s3"} - busy).pop()
    # while two servers hold a long request each, every short request goes to the third
    shorts = [get(port, f"/short/{i}") for i in range(8)]
    assert shorts == [free] * 8
    for t in threads:
        t.join(20)
    assert sorted(longs) == sorted(busy)
    # once idle again, leastconn spreads requests over every server (ties take turns)
    assert {get(port, f"/again/{i}") for i in range(6)} == {"s1", "s2", "s3"}


def test_roundrobin_does_not_avoid_the_busy_server(proxy, three: list[HttpServer]) -> None:
    """The contrast that shows leastconn works: roundrobin keeps sending to the busy server."""
    port = start(proxy, three, "roundrobin")
    assert get(port, "/warm") == "s1"
    longs: list[str] = []
    t = background_get(port, "/long/1", longs)
    wait_busy(three, 2)
    shorts = [get(port, f"/short/{i}") for i in range(6)]
    t.join(20)
    assert longs[0] in shorts


def test_first_fills_servers_in_order(proxy, three: list[HttpServer]) -> None:
    port = start(proxy, three, "first", " maxconn 1")
    assert [get(port, f"/a/{i}") for i in range(4)] == ["s1"] * 4
    longs: list[str] = []
    t = background_get(port, "/long/1", longs)
    wait_busy(three, 5)
    assert [get(port, f"/b/{i}") for i in range(3)] == ["s2"] * 3
    t.join(20)
    assert longs == ["s1"]
    assert get(port, "/c") == "s1"


def test_uri_hash_is_stable_per_path(proxy, three: list[HttpServer]) -> None:
    port = start(proxy, three, "uri")
    first = {f"/p/{i}": get(port, f"/p/{i}") for i in range(24)}
    assert len(set(first.values())) >= 2
    for path, server in first.items():
        assert get(port, path + "?q=1") == server     # the query string is not hashed


def test_hdr_hash_is_stable_per_value_and_round_robin_without_it(proxy, three: list[HttpServer]) -> None:
    port = start(proxy, three, "hdr(X-User)")
    by_user = {u: get(port, "/", {"X-User": u}) for u in ("ann", "bob", "cid", "dan", "eve", "fay")}
    assert len(set(by_user.values())) >= 2
    for u, server in by_user.items():
        assert get(port, f"/other/{u}", {"X-User": u}) == server
    assert {get(port, f"/n/{i}") for i in range(6)} == {"s1", "s2", "s3"}


def test_static_rr_rotates(proxy, three: list[HttpServer]) -> None:
    port = start(proxy, three, "static-rr")
    got = [get(port, f"/{i}") for i in range(6)]
    assert sorted(got[:3]) == ["s1", "s2", "s3"] and got[3:] == got[:3]


def test_slowstart_ramps_a_server_back_in(proxy, http_backend: Callable[..., HttpServer]) -> None:
    """`slowstart 20s`: a server that comes back UP gets a small share of requests at first."""
    s1 = http_backend(name="s1")
    s2 = http_backend(name="s2")
    (port,) = free_ports(1)
    px = proxy.start("""
        defaults
            mode http
            timeout connect 2s
            timeout client 30s
            timeout server 30s
        frontend f
            bind 127.0.0.1:{port}
            default_backend b
        backend b
            server s1 127.0.0.1:{p1} check inter 200ms fall 1 rise 1
            server s2 127.0.0.1:{p2} check inter 200ms fall 1 rise 1 slowstart 20s
        """, port=port, p1=s1.port, p2=s2.port)
    # at start-up there is no slowstart: both share the load
    assert sorted(get(port, f"/a/{i}") for i in range(4)) == ["s1", "s1", "s2", "s2"]
    s2.stop()
    deadline = time.monotonic() + 15
    while "Server b/s2 is DOWN" not in px.stderr_text():
        assert time.monotonic() < deadline, px.stderr_text()
        time.sleep(0.05)
    s2.start()
    while "Server b/s2 is UP" not in px.stderr_text():
        assert time.monotonic() < deadline, px.stderr_text()
        time.sleep(0.05)
    time.sleep(2.0)                          # ~10% of its weight by now, growing
    got = [get(port, f"/b/{i}") for i in range(60)]
    assert 0 < got.count("s2") < 20, got     # round robin alone would give it 30
