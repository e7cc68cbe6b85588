"""End-to-end tests of `appsession NAME len N timeout T` (HAProxy 1.2): stickiness on the
application's own session cookie, learnt from the servers' Set-Cookie headers.

Three real backends hand out `JSESSIONID=<server>-<n>` to requests that carry none; the proxy
balances round robin, so only the learnt table can bring a client back to its server.
"""

from __future__ import annotations

import itertools
import socket
import time

import pytest

from tests.helpers import HttpResponse, free_port, recv_until_closed
from tests.helpers.servers import RecordedRequest

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
NAMES = ("s1", "s2", "s3")


def session_backend(http_backend, name: str, prefix: str = ""):
    counter = itertools.count(1)

    def respond(req: RecordedRequest) -> HttpResponse:
        has = any(k.lower() == "cookie" and "JSESSIONID=" in v for k, v in req.headers)
        headers = [] if has else [("Set-Cookie", f"JSESSIONID={prefix}{name}-{next(counter)}; path=/")]
        return HttpResponse(status=200, headers=headers, body=f"{name}\n".encode())

    return http_backend(name=name, responder=respond)


def request(port: int, target: str = "/", cookie: str | None = None) -> tuple[str, str | None]:
    """One request on a new connection: (server that answered, JSESSIONID it set or None)."""
    head = f"GET {target} HTTP/1.0\r\nHost: t\r\n"
    if cookie:
        head += f"Cookie: theme=dark; JSESSIONID={cookie}; lang=en\r\n"
    with socket.create_connection((HOST, port), timeout=15) as c:
        c.sendall((head + "\r\n").encode())
        answer = recv_until_closed(c, timeout=15).decode("latin-1")
    assert answer.startswith("HTTP/1.1 200"), answer[:200]
    body = answer.split("\r\n\r\n", 1)[1].strip()
    set_cookie = None
    for line in answer.split("\r\n\r\n", 1)[0].split("\r\n"):
        if line.lower().startswith("set-cookie: jsessionid="):
            set_cookie = line.split("=", 1)[1].split(";", 1)[0]
    return body, set_cookie


APPSESSION = "appsession JSESSIONID len 52 timeout 3h"


def start(proxy, backends, appsession: str = APPSESSION, extra: str = "") -> int:
    port = free_port()
    servers = "\n".join(f"        server {b.name} {HOST}:{b.port}" for b in backends)
    proxy.start(f"""
    listen web {HOST}:{port}
        mode http
        balance roundrobin
        {appsession}
        {extra}
        contimeout 2000
        clitimeout 30000
        srvtimeout 30000
{servers}
    """)
    return port


def test_requests_follow_the_learnt_session(proxy, http_backend) -> None:
    backends = [session_backend(http_backend, n) for n in NAMES]
    port = start(proxy, backends)
    sessions = {}
    for _ in range(3):                       # round robin: one new session per server
        srv, sid = request(port)
        assert sid is not None and sid.startswith(srv)
        sessions[srv] = sid
    assert set(sessions) == set(NAMES)
    for _ in range(4):
        for srv, sid in sessions.items():
            assert request(port, cookie=sid) == (srv, None)
        request(port)                       # a cookie-less client moves round robin along


def test_session_id_in_the_uri(proxy, http_backend) -> None:
    backends = [session_backend(http_backend, n) for n in NAMES]
    port = start(proxy, backends)
    learnt = dict(request(port) for _ in range(3))
    for srv, sid in learnt.items():
        for _ in range(3):
            assert request(port, target=f"/app/cart;jsessionid={sid}?item=4")[0] == srv


def test_only_len_characters_are_compared(proxy, http_backend) -> None:
    backends = [session_backend(http_backend, n, prefix="abcdefgh") for n in NAMES]
    port = start(proxy, backends, "appsession JSESSIONID len 9 timeout 3h")
    srv, sid = request(port)                 # e.g. abcdefghs1-1: the first 9 are "abcdefghs"
    assert sid is not None
    assert request(port, cookie=sid[:9] + "-other")[0] == srv
    assert request(port, cookie=sid[:9] + "-other")[0] == srv


def test_an_unused_session_is_forgotten_after_timeout(proxy, http_backend) -> None:
    backends = [session_backend(http_backend, n) for n in NAMES]
    port = start(proxy, backends, "appsession JSESSIONID len 52 timeout 300")
    srv, sid = request(port)
    assert srv == "s1" and sid
    assert request(port, cookie=sid)[0] == "s1"
    time.sleep(1.2)                          # four times the 300 ms hold time
    # Forgotten: round robin decides again, and it is s2's turn.
    assert request(port, cookie=sid)[0] == "s2"


def test_a_dead_server_session_is_redispatched(proxy, http_backend) -> None:
    backends = [session_backend(http_backend, n) for n in NAMES]
    port = start(proxy, backends, extra="retries 1\n        option redispatch")
    learnt = dict(request(port) for _ in range(3))
    backends[0].stop()
    for _ in range(3):
        assert request(port, cookie=learnt["s1"])[0] in ("s2", "s3")
    assert request(port, cookie=learnt["s2"])[0] == "s2"


def test_without_appsession_the_cookie_is_not_followed(proxy, http_backend) -> None:
    backends = [session_backend(http_backend, n) for n in NAMES]
    port = start(proxy, backends, appsession="")
    srv, sid = request(port)
    assert [request(port, cookie=sid)[0] for _ in range(3)] == ["s2", "s3", "s1"]
