"""The HTTP examples of the architecture guide
(https://github.com/haproxy/haproxy/blob/v1.2.14/doc/architecture.txt), one test per flow
diagram, checked byte for byte on what the client and the servers see.

Addresses move to 127.0.0.0/8: the proxy on 127.0.0.1, servers webA..webD on 127.0.1.11-14
(one port, free on all four addresses; 127/8 is all loopback on Linux).

- 1  cookie SERVERID insert indirect: the cookie is added on the first response, removed from the
     requests (other cookies of the same header kept intact), not re-sent when the client has it,
     and reassigned when webA is gone (4.1's `redispatch` + `retries` move it);
- 2  cookie JSESSIONID prefix + httpclose + forwardfor: `JSESSIONID=123` <-> `JSESSIONID=A~123`;
- 3  insert indirect nocache: `Cache-control: private` comes with the inserted cookie.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest

from tests.configs.guide import template
from tests.helpers import HttpResponse, RecordedRequest, free_port, recv_until_closed

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"
SERVER_ADDRS = {"A": "127.0.1.11", "B": "127.0.1.12", "C": "127.0.1.13", "D": "127.0.1.14"}
TIMEOUTS = """
       contimeout 5000
       clitimeout 30000
       srvtimeout 30000"""


# ---------------------------------------------------------------------------------------------
# A tiny HTTP client that keeps the exact bytes it received.


@dataclass
class Resp:
    """One response as the client received it."""

    raw: bytes
    status_line: str
    headers: list[tuple[str, str]]
    body: bytes

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def parse_response(raw: bytes) -> Resp:
    """Split a close-delimited response (the guide's flows are HTTP/1.0) into its parts."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete header block in {raw!r}"
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        assert colon, f"bad header line {line!r} in {raw!r}"
        headers.append((name, value.strip()))
    return Resp(raw, lines[0], headers, body)


def http10(path: str, extra: list[tuple[str, str]] = ()) -> bytes:  # type: ignore[assignment]
    """The request bytes the guide's client sends: HTTP/1.0, a Host, then `extra` headers."""
    lines = [f"GET {path} HTTP/1.0", "Host: www.example.com", "User-Agent: guide-test"]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(port: int, request: bytes, timeout: float = 20.0) -> Resp:
    """Send one request on a new connection and read the response until the proxy closes."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(request)
        return parse_response(recv_until_closed(s, timeout=timeout))


def backend_response(name: str, req: RecordedRequest, set_cookie: str | None = None) -> bytes:
    """The exact bytes server `name` answers (what HttpServer sends for HttpResponse below)."""
    body = f"page {req.target} from {name}\n".encode()
    lines = ["HTTP/1.0 200 OK"] + [f"{k}: {v}" for k, v in server_headers(name, set_cookie)]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def server_headers(name: str, set_cookie: str | None) -> list[tuple[str, str]]:
    hdrs = [("Content-Type", "text/html"), ("X-Server", name)]
    if set_cookie:
        hdrs.append(("Set-Cookie", set_cookie))
    return hdrs


def assert_same_plus(got: list[tuple[str, str]], original: list[tuple[str, str]],
                     added: list[tuple[str, str]], what: str) -> None:
    """`got` is `original` (same order, same bytes) plus exactly the `added` headers anywhere."""
    rest = list(got)
    for hdr in added:
        matches = [i for i, (k, v) in enumerate(rest) if k.lower() == hdr[0].lower() and v == hdr[1]]
        assert len(matches) == 1, f"{what}: want exactly one {hdr}, got headers {got}"
        del rest[matches[0]]
    assert rest == original, f"{what}: headers {got}\n want {original} plus {added}"


def parse_request_headers(raw: bytes) -> list[tuple[str, str]]:
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    return [(k, v.strip()) for k, _, v in (line.partition(":") for line in head.split("\r\n")[1:])]


# ---------------------------------------------------------------------------------------------
# Farm: four HTTP servers A..D on 127.0.1.11-14, same port.


@pytest.fixture
def farm(http_backend):
    """Servers A..D; each answers HTTP/1.0, `Set-Cookie` per `farm_cookies[name]` if set."""
    port = free_port(SERVER_ADDRS["A"], also_free_on=list(SERVER_ADDRS.values())[1:])
    cookies: dict[str, str | None] = {}
    servers = {}
    for name, addr in SERVER_ADDRS.items():
        def responder(req: RecordedRequest, name: str = name) -> HttpResponse:
            ck = cookies.get(name) if req.target == "/URI2" else None
            return HttpResponse(version="HTTP/1.0", headers=server_headers(name, ck),
                                body=f"page {req.target} from {name}\n".encode())
        servers[name] = http_backend(host=addr, port=port, name=name, responder=responder)
    return servers, port, cookies


def app_requests(server) -> list[RecordedRequest]:
    """Requests a server received, without the proxy's health checks (HEAD /index.html)."""
    with server.lock:
        return [r for r in server.requests if not (r.method == "HEAD" and r.target == "/index.html")]


def who_got(servers, path: str) -> tuple[str, RecordedRequest]:
    found = [(n, r) for n, s in servers.items() for r in app_requests(s) if r.target == path]
    assert len(found) == 1, f"{path} reached {[n for n, _ in found]} (want exactly one server)"
    return found[0]


# ---------------------------------------------------------------------------------------------
# 1. Simple HTTP load-balancing with cookie insertion

GUIDE_1 = template(53) + TIMEOUTS


def start_farm_proxy(proxy, cfg: str, bport: int, extra: str = "") -> int:
    port = free_port(HOST)
    proxy.start(cfg + extra, host=HOST, port=port, bport=bport, a=SERVER_ADDRS["A"],
                b=SERVER_ADDRS["B"], c=SERVER_ADDRS["C"], d=SERVER_ADDRS["D"])
    return port


def test_1_cookie_insert_flow(proxy, farm):
    servers, bport, _ = farm
    port = start_farm_proxy(proxy, GUIDE_1, bport)

    # >-- GET /URI1 HTTP/1.0, no cookie: load-balanced (roundrobin starts with webA)
    req1 = http10("/URI1")
    resp1 = exchange(port, req1)
    name, seen1 = who_got(servers, "/URI1")
    assert name == "A"
    assert seen1.raw == req1, "the server must see the client's request unchanged"
    # <-- HTTP/1.0 200 OK + Set-Cookie: SERVERID=A
    original = parse_response(backend_response("A", seen1))
    assert resp1.status_line == "HTTP/1.0 200 OK"
    assert_same_plus(resp1.headers, original.headers, [("Set-Cookie", "SERVERID=A; path=/")], "URI1")
    assert resp1.body == original.body

    # >-- GET /URI2 + Cookie: SERVERID=A: forwarded to A, cookie deleted
    resp2 = exchange(port, http10("/URI2", [("Cookie", "SERVERID=A")]))
    name, seen2 = who_got(servers, "/URI2")
    assert name == "A"
    assert seen2.raw == http10("/URI2"), "the Cookie header must be gone entirely"
    # <-- the cookie is not added again: the response is exactly the server's
    assert resp2.raw == backend_response("A", seen2)

    # >-- GET /URI3 + Cookie: SERVERID=A ... same again
    resp3 = exchange(port, http10("/URI3", [("Cookie", "SERVERID=A")]))
    name, seen3 = who_got(servers, "/URI3")
    assert name == "A"
    assert seen3.raw == http10("/URI3")
    assert resp3.raw == backend_response("A", seen3)


def test_1_cookie_names_server_and_other_cookies_survive(proxy, farm):
    servers, bport, _ = farm
    port = start_farm_proxy(proxy, GUIDE_1, bport)
    cases = [
        ("/b1", "SERVERID=B", None),
        ("/b2", "a=1; SERVERID=B; b=2", "a=1; b=2"),
        ("/c1", "SERVERID=C; x=y", "x=y"),
        ("/d1", "session=42; SERVERID=D", "session=42"),
    ]
    for path, sent, left in cases:
        resp = exchange(port, http10(path, [("Cookie", sent)]))
        name, seen = who_got(servers, path)
        want_server = sent.split("SERVERID=")[1][0]
        assert name == want_server, f"Cookie {sent!r} went to {name}"
        expected = http10(path, [("Cookie", left)] if left else [])
        assert seen.raw == expected, f"Cookie {sent!r}: server saw {seen.raw!r}"
        assert resp.raw == backend_response(name, seen), "client already has the right cookie"
    # a cookie naming no server: load-balanced, and a valid cookie is set in return
    resp = exchange(port, http10("/unknown", [("Cookie", "SERVERID=Z")]))
    name, seen = who_got(servers, "/unknown")
    assert resp.values("Set-Cookie") == [f"SERVERID={name}; path=/"]


def test_1_dead_server_redispatches_and_reassigns_cookie(proxy, farm):
    """`webA` stopped: SERVERID=A users go elsewhere and get a new cookie (guide 1 + 4.1's
    `redispatch` / `retries`; no health checks, so the connection failure moves them)."""
    servers, bport, _ = farm
    cfg = """
    listen webfarm {host}:{port}
       mode http
       balance roundrobin
       cookie SERVERID insert indirect
       server webA {a}:{bport} cookie A
       server webB {b}:{bport} cookie B
       server webC {c}:{bport} cookie C
       server webD {d}:{bport} cookie D
       redispatch
       retries 3
    """ + TIMEOUTS
    port = start_farm_proxy(proxy, cfg, bport)
    resp = exchange(port, http10("/before", [("Cookie", "SERVERID=A")]))
    assert who_got(servers, "/before")[0] == "A"
    assert resp.values("Set-Cookie") == []

    servers["A"].stop()
    for i in range(3):
        path = f"/after{i}"
        resp = exchange(port, http10(path, [("Cookie", "a=1; SERVERID=A")]))
        assert resp.status_line == "HTTP/1.0 200 OK", f"{path} with SERVERID=A: {resp.raw!r}"
        name, seen = who_got(servers, path)
        assert name != "A"
        assert seen.raw == http10(path, [("Cookie", "a=1")])
        assert resp.values("Set-Cookie") == [f"SERVERID={name}; path=/"]
        original = parse_response(backend_response(name, seen))
        assert_same_plus(resp.headers, original.headers, [("Set-Cookie", f"SERVERID={name}; path=/")],
                         path)
        assert resp.body == original.body


# ---------------------------------------------------------------------------------------------
# 2. HTTP load-balancing with cookie prefixing and high availability

GUIDE_2 = template(174) + TIMEOUTS

PROXY_ADDS = [("Connection", "close"), ("X-Forwarded-For", "127.0.0.1")]


def check_prefix_exchange(resp: Resp, seen: RecordedRequest, sent: bytes, name: str,
                          sent_cookie_to_server: str | None, server_cookie: str | None,
                          client_cookie: str | None) -> None:
    """Server side: the client's headers (cookie edited) + Connection: close + X-Forwarded-For.
    Client side: the server's response (Set-Cookie prefixed) with its Connection replaced."""
    assert seen.request_line == sent.split(b"\r\n")[0].decode()
    want = [(k, v) for k, v in parse_request_headers(sent) if k.lower() != "connection"]
    if sent_cookie_to_server is not None:
        want = [(k, sent_cookie_to_server if k.lower() == "cookie" else v) for k, v in want]
    assert_same_plus(seen.headers, want, PROXY_ADDS, f"server {name} request")
    assert seen.raw.endswith(b"\r\n\r\n")
    original = parse_response(backend_response(name, seen, server_cookie))
    want_rsp = [(k, v) for k, v in original.headers if k.lower() != "connection"]
    if client_cookie is not None:
        want_rsp = [(k, client_cookie if k.lower() == "set-cookie" else v) for k, v in want_rsp]
    assert resp.status_line == "HTTP/1.0 200 OK"
    assert_same_plus(resp.headers, want_rsp, [("Connection", "close")], f"response from {name}")
    assert resp.body == original.body


def test_2_cookie_prefix_flow(proxy, farm):
    servers, bport, cookies = farm
    for n in servers:
        cookies[n] = "JSESSIONID=123; path=/app"   # only on /URI2, as in the guide's flow
    port = start_farm_proxy(proxy, GUIDE_2, bport)

    # >-- GET /URI1: no cookie, forwarded with X-Forwarded-For, response unchanged but Connection
    req1 = http10("/URI1")
    resp1 = exchange(port, req1)
    name1, seen1 = who_got(servers, "/URI1")
    check_prefix_exchange(resp1, seen1, req1, name1, None, None, None)

    # >-- GET /URI2: the server sets JSESSIONID=123, the client gets JSESSIONID=<srv>~123
    req2 = http10("/URI2")
    resp2 = exchange(port, req2)
    name2, seen2 = who_got(servers, "/URI2")
    check_prefix_exchange(resp2, seen2, req2, name2, None, "JSESSIONID=123; path=/app",
                          f"JSESSIONID={name2}~123; path=/app")

    # >-- GET /URI3 + Cookie: JSESSIONID=<srv>~123: to that server, which sees JSESSIONID=123
    for i, cookie_hdr, to_server in [
        (3, f"JSESSIONID={name2}~123", "JSESSIONID=123"),
        (4, f"lang=fr; JSESSIONID={name2}~123; theme=dark", "lang=fr; JSESSIONID=123; theme=dark"),
    ]:
        req = http10(f"/URI{i}", [("Cookie", cookie_hdr)])
        resp = exchange(port, req)
        name, seen = who_got(servers, f"/URI{i}")
        assert name == name2, f"JSESSIONID={name2}~123 went to {name}"
        check_prefix_exchange(resp, seen, req, name, to_server, None, None)


def test_2_httpclose_closes_a_keepalive_client(proxy, farm):
    """With httpclose an HTTP/1.1 keep-alive client still gets `Connection: close` and a close,
    and the server sees `Connection: close` instead of the client's keep-alive."""
    servers, bport, _ = farm
    port = start_farm_proxy(proxy, GUIDE_2, bport)
    req = (b"GET /ka HTTP/1.1\r\nHost: www.example.com\r\nConnection: keep-alive\r\n"
           b"Cookie: JSESSIONID=B~77\r\n\r\n")
    with socket.create_connection((HOST, port), timeout=20) as s:
        s.sendall(req)
        raw = recv_until_closed(s, timeout=20)   # the proxy must close after the response
    resp = parse_response(raw)
    name, seen = who_got(servers, "/ka")
    assert name == "B"
    assert seen.header_values("Connection") == ["close"]
    assert seen.header_values("Cookie") == ["JSESSIONID=77"]
    assert seen.header_values("X-Forwarded-For") == ["127.0.0.1"]
    assert resp.values("Connection") == ["close"]
    assert resp.body == b"page /ka from B\n"


# ---------------------------------------------------------------------------------------------
# 3. Simple HTTP/HTTPS load-balancing with cookie insertion (nocache)

GUIDE_3 = template(438) + TIMEOUTS


def test_3_insert_nocache_flow(proxy, farm):
    servers, bport, _ = farm
    port = start_farm_proxy(proxy, GUIDE_3, bport)

    req1 = http10("/URI1")
    resp1 = exchange(port, req1)
    name, seen1 = who_got(servers, "/URI1")
    assert name == "A"
    assert seen1.raw == req1
    original = parse_response(backend_response("A", seen1))
    assert resp1.status_line == "HTTP/1.0 200 OK"
    # header names compare case-insensitively: the guide writes both Cache-control and Cache-Control
    assert_same_plus(resp1.headers, original.headers,
                     [("Set-Cookie", "SERVERID=A; path=/"), ("Cache-control", "private")], "URI1")
    assert resp1.body == original.body

    for path in ("/URI2", "/URI3"):
        resp = exchange(port, http10(path, [("Cookie", "SERVERID=A")]))
        name, seen = who_got(servers, path)
        assert name == "A"
        assert seen.raw == http10(path)
        assert resp.raw == backend_response("A", seen), "no cookie, no Cache-control added"
