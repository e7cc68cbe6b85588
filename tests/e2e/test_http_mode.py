"""End-to-end tests of pyhaproxy's HTTP mode: keep-alive with per-request analysis, pipelining,
request and response bodies (Content-Length, chunked, close-delimited, none), HAProxy's error
pages byte for byte, monitor-uri, `mode health` and round-robin spread.

Everything runs over real sockets against a real `python -m pyhaproxy -f CFG -db`; backends are
the shared recording HttpServer or the small canned-bytes server defined here.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import (
    HttpResponse,
    RecordedRequest,
    TcpServer,
    deterministic_bytes,
    free_port,
    free_ports,
    recv_until_closed,
    wait_until,
)
from tests.helpers.pages import builtin_page

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"
TIMEOUTS = """
        contimeout 5000
        clitimeout 30000
        srvtimeout 30000"""

# HAProxy 2.6's built-in error pages (tests/helpers/pages.py).
error_page = builtin_page


# ---------------------------------------------------------------------------------------------
# Client side


@dataclass
class Resp:
    """One response as the client received it, framing included."""

    raw: bytes
    status_line: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status(self) -> int:
        return int(self.status_line.split()[1])

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class Client:
    """A blocking HTTP/1.x client on one connection, reading responses with their exact bytes."""

    def __init__(self, port: int, host: str = HOST, timeout: float = 20.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed by the proxy; unparsed bytes: {self.buf[:200]!r}")
        self.buf += chunk

    def _take_until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, method: str = "GET") -> Resp:
        head = self._take_until(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        headers = [(k, v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:])]
        status = int(lines[0].split()[1])
        te = ",".join(v for k, v in headers if k.lower() == "transfer-encoding").lower()
        cl = [v for k, v in headers if k.lower() == "content-length"]
        raw_body = body = b""
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            pass
        elif "chunked" in te:
            parts, raws = [], []
            while True:
                size_line = self._take_until(b"\r\n")
                raws.append(size_line)
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while True:
                        trailer = self._take_until(b"\r\n")
                        raws.append(trailer)
                        if trailer == b"\r\n":
                            break
                    break
                data = self._take(size + 2)
                raws.append(data)
                parts.append(data[:-2])
            raw_body, body = b"".join(raws), b"".join(parts)
        elif cl:
            raw_body = body = self._take(int(cl[0]))
        else:
            rest = recv_until_closed(self.sock, timeout=20)
            raw_body = body = self.buf + rest
            self.buf = b""
        return Resp(head + raw_body, lines[0], headers, body)

    def closed_by_peer(self, timeout: float = 10.0) -> bool:
        """True if the proxy closes the connection (no further bytes) within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            extra = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        assert not extra and not self.buf, f"unexpected bytes after the response: {self.buf + extra!r}"
        return True


def get(path: str, version: str = "1.1", extra: str = "") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: test\r\n{extra}\r\n".encode()


def kept_answers(port: int, request: bytes, expected: bytes, timeout: float = 20.0) -> None:
    """Send `request` twice on one connection: haproxy's own answer each time, the client kept
    (2.6 keeps an HTTP/1.1 client after its error pages and monitor-uri's answer)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        for turn in range(2):
            s.sendall(request)
            got = b""
            while len(got) < len(expected):
                chunk = s.recv(65536)
                assert chunk, f"closed after {len(got)} bytes of answer {turn + 1}"
                got += chunk
            assert got == expected


def one_shot(port: int, request: bytes, timeout: float = 20.0) -> bytes:
    """Send `request` on a new connection, return everything until the proxy closes."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(request)
        return recv_until_closed(s, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# A backend that answers canned bytes


@dataclass
class CannedReply:
    data: bytes
    after: str = "keep"        # keep: read the next request | hold: stay open, read nothing | close


class CannedServer(TcpServer):
    """Reads a request head (and its Content-Length body), answers `reply(n)` for the n-th request
    over all connections. Records the raw requests in `received`."""

    def __init__(self, replies: Callable[[int], CannedReply], host: str = HOST, port: int = 0) -> None:
        super().__init__(host, port, "canned")
        self.replies = replies
        self.received: list[bytes] = []
        self.peer_closed = 0       # connections the proxy closed after our own close

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        buf = b""
        conn.settimeout(60)
        while not self._stop.is_set():
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            i = buf.index(b"\r\n\r\n") + 4
            head, buf = buf[:i], buf[i:]
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
                    while len(buf) < n:
                        buf += conn.recv(65536)
                    head, buf = head + buf[:n], buf[n:]
            with self.lock:
                self.received.append(head)
                n_req = len(self.received) - 1
            reply = self.replies(n_req)
            if reply.after == "close":
                # data and FIN in one segment, as a fast server closing right away does
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            conn.sendall(reply.data)
            if reply.after == "close":
                conn.shutdown(socket.SHUT_WR)
                with contextlib.suppress(OSError):
                    recv_until_closed(conn, timeout=60)
                    with self.lock:
                        self.peer_closed += 1
                return
            if reply.after == "hold":
                with contextlib.suppress(OSError):
                    recv_until_closed(conn, timeout=60)
                return


@pytest.fixture
def canned() -> Iterator[Callable[..., CannedServer]]:
    servers: list[CannedServer] = []

    def make(replies: Callable[[int], CannedReply] | list[CannedReply] | CannedReply,
             host: str = HOST) -> CannedServer:
        if isinstance(replies, CannedReply):
            fixed = replies
            fn: Callable[[int], CannedReply] = lambda _n: fixed  # noqa: E731
        elif isinstance(replies, list):
            seq = replies
            fn = lambda n: seq[min(n, len(seq) - 1)]  # noqa: E731
        else:
            fn = replies
        s = CannedServer(fn, host)
        servers.append(s)
        s.start()
        return s

    yield make
    for s in servers:
        s.stop()


def simple_proxy(proxy, bport: int, extra: str = "", servers: int = 1) -> int:
    """`listen` in mode http on a free port in front of `servers` copies of 127.0.0.1:bport."""
    port = free_port()
    lines = "\n".join(f"        server s{i} {HOST}:{bport}" for i in range(servers))
    proxy.start(f"""
    listen web {HOST}:{port}
        mode http
        balance roundrobin
{lines}{extra}""" + TIMEOUTS)
    return port


# ---------------------------------------------------------------------------------------------
# Keep-alive and pipelining


def test_keepalive_100_requests_each_analysed(proxy, http_backend):
    """No httpclose: every request of a keep-alive connection gets X-Forwarded-For and loses the
    persistence cookie (counted on the backends)."""
    a = http_backend(name="A")
    b = http_backend(name="B")
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        balance roundrobin
        cookie SERVERID insert indirect
        option forwardfor
        server A {host}:{pa} cookie A
        server B {host}:{pb} cookie B
    """ + TIMEOUTS, host=HOST, port=port, pa=a.port, pb=b.port)
    with Client(port) as c:
        c.send(get("/r0"))
        first = c.read_response()
        assert first.status == 200 and first.body == b"A\n"
        assert first.values("Set-Cookie") == ["SERVERID=A; path=/"]
        for i in range(1, 100):
            c.send(get(f"/r{i}", extra="Cookie: SERVERID=A; keep=1\r\n"))
            r = c.read_response()
            assert r.status == 200 and r.body == b"A\n", f"request {i}: {r.raw!r}"
            assert r.values("Set-Cookie") == [], f"request {i}: cookie re-sent"
    reqs = a.wait_requests(100)
    assert b.request_count() == 0
    assert [r.target for r in reqs] == [f"/r{i}" for i in range(100)]
    assert len({r.conn_id for r in reqs}) == 1, "one server connection was enough"
    for r in reqs:
        assert r.header_values("X-Forwarded-For") == ["127.0.0.1"], f"{r.target}: {r.head!r}"
    assert reqs[0].header_values("Cookie") == []
    for r in reqs[1:]:
        assert r.header_values("Cookie") == ["keep=1"], f"{r.target}: {r.head!r}"


def test_keepalive_cookie_switches_server_per_request(proxy, http_backend):
    a = http_backend(name="A")
    b = http_backend(name="B")
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        balance roundrobin
        cookie SERVERID insert indirect
        server A {host}:{pa} cookie A
        server B {host}:{pb} cookie B
    """ + TIMEOUTS, host=HOST, port=port, pa=a.port, pb=b.port)
    names = ["A", "B", "B", "A", "B", "A", "A", "B", "A", "B"]
    with Client(port) as c:
        for i, n in enumerate(names):
            c.send(get(f"/s{i}", extra=f"Cookie: SERVERID={n}\r\n"))
            r = c.read_response()
            assert r.body == f"{n}\n".encode(), f"request {i} with SERVERID={n}: {r.raw!r}"
            assert r.values("Set-Cookie") == []
    assert [r.target for r in a.requests] == [f"/s{i}" for i, n in enumerate(names) if n == "A"]
    assert [r.target for r in b.requests] == [f"/s{i}" for i, n in enumerate(names) if n == "B"]
    assert all(r.header_values("Cookie") == [] for r in a.requests + b.requests)


def test_pipelined_requests_answered_in_order(proxy, http_backend):
    def echo_path(req: RecordedRequest) -> HttpResponse:
        return HttpResponse(headers=[("X-Path", req.target)], body=f"body of {req.target}\n".encode())

    be = http_backend(responder=echo_path)
    port = simple_proxy(proxy, be.port)
    paths = [f"/p{i}?q={'x' * i * 37}" for i in range(5)]
    with Client(port) as c:
        c.send(b"".join(get(p) for p in paths))
        for p in paths:
            r = c.read_response()
            assert r.values("X-Path") == [p]
            assert r.body == f"body of {p}\n".encode()
    assert [r.target for r in be.wait_requests(5)] == paths


# ---------------------------------------------------------------------------------------------
# Bodies


def test_post_1mib_content_length(proxy, http_backend):
    be = http_backend(responder=lambda req: HttpResponse(
        body=hashlib.sha256(req.body).hexdigest().encode()))
    port = simple_proxy(proxy, be.port)
    body = deterministic_bytes(1 << 20, 11)
    head = f"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with Client(port, timeout=60) as c:
        c.send(head + body)
        r = c.read_response()
        assert r.status == 200
        assert r.body == hashlib.sha256(body).hexdigest().encode()
        # the connection still works after a large body
        c.send(get("/after"))
        assert c.read_response().status == 200
    req = be.wait_requests(2)[0]
    assert req.raw == head + body


def test_post_chunked_exact_bytes(proxy, http_backend):
    be = http_backend()
    port = simple_proxy(proxy, be.port)
    pieces = [b"a" * 16, b"B", deterministic_bytes(0x400, 3), b"\r\n0\r\n\r\n", deterministic_bytes(4095, 4)]
    sizes = ["10", "1", "400", "7", "FFF"]
    chunked = b"".join(f"{s}\r\n".encode() + p + b"\r\n" for s, p in zip(sizes, pieces, strict=True))
    chunked += b"0\r\n\r\n"
    head = b"POST /chunked HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
    with Client(port) as c:
        # sent in several writes, split inside sizes and data, as a slow client would
        msg = head + chunked
        for cut in range(0, len(msg), 1500):
            c.send(msg[cut:cut + 1500])
        r = c.read_response()
        assert r.status == 200
        c.send(get("/next"))
        assert c.read_response().status == 200
    req, nxt = be.wait_requests(2)[:2]
    assert req.raw == msg
    assert req.body == b"".join(pieces)
    assert nxt.target == "/next"


def test_chunked_response_relayed_intact(proxy, canned):
    chunks = [b"hello ", deterministic_bytes(3000, 9), b"", b"x" * 255]
    body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in chunks if p)
    body += b"0\r\nX-Trailer: t\r\n\r\n"
    rsp = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n" + body)
    second = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"
    be = canned([CannedReply(rsp), CannedReply(second)])
    port = simple_proxy(proxy, be.port)
    with Client(port) as c:
        c.send(get("/chunks"))
        r = c.read_response()
        assert r.raw == rsp
        c.send(get("/second"))
        assert c.read_response().raw == second


def test_head_response_has_no_body(proxy, http_backend):
    be = http_backend(response=HttpResponse(headers=[("X-Kind", "head")], body=b"x" * 1234))
    port = simple_proxy(proxy, be.port)
    with Client(port) as c:
        c.send(b"HEAD /h HTTP/1.1\r\nHost: test\r\n\r\n")
        r = c.read_response("HEAD")
        assert r.status == 200 and r.values("Content-Length") == ["1234"]
        c.send(get("/g"))
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"x" * 1234, "bytes after the HEAD response?"
    # HTTP/1.0: the connection closes right after the headers, nothing else is sent
    raw = one_shot(port, b"HEAD /h10 HTTP/1.0\r\nHost: test\r\n\r\n")
    assert raw.endswith(b"\r\n\r\n") and raw.count(b"\r\n\r\n") == 1, raw
    assert b"Content-Length: 1234\r\n" in raw


@pytest.mark.parametrize("status_line", ["HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified"])
def test_204_304_have_no_body(proxy, canned, status_line):
    # a 304 may carry the Content-Length of the resource; neither has a body
    empty = f"{status_line}\r\nETag: \"abc\"\r\nContent-Length: 10\r\n\r\n".encode()
    if "204" in status_line:
        empty = f"{status_line}\r\nETag: \"abc\"\r\n\r\n".encode()
    follow = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter"
    be = canned([CannedReply(empty), CannedReply(follow)])
    port = simple_proxy(proxy, be.port)
    with Client(port) as c:
        c.send(get("/empty"))
        r = c.read_response()
        assert r.raw == empty
        c.send(get("/follow"))
        assert c.read_response().raw == follow


def test_http10_client_without_keepalive_is_closed_after_response(proxy, canned):
    """The server keeps its connection open (HTTP/1.1 keep-alive answer), but an HTTP/1.0 client
    without keep-alive must see the close right after its response."""
    rsp = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"
    be = canned(CannedReply(rsp, after="hold"))
    port = simple_proxy(proxy, be.port)
    with Client(port) as c:
        c.send(b"GET /old HTTP/1.0\r\nHost: test\r\n\r\n")
        r = c.read_response()
        assert r.body == b"hello world"
        assert c.closed_by_peer(timeout=10), "HTTP/1.0 client connection left open"


def test_close_delimited_response_relayed_fully(proxy, canned):
    payload = deterministic_bytes(300_000, 5)
    rsp = b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + payload
    be = canned(CannedReply(rsp, after="close"))
    port = simple_proxy(proxy, be.port)
    with Client(port, timeout=30) as c:
        c.send(get("/stream"))
        r = c.read_response()   # no length: read until the proxy closes
        assert r.raw == rsp


# ---------------------------------------------------------------------------------------------
# Error pages


def test_503_when_all_servers_are_down(proxy):
    dead1, dead2 = free_ports(2)
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        balance roundrobin
        retries 1
        redispatch
        server s1 {host}:{d1}
        server s2 {host}:{d2}
    """ + TIMEOUTS, host=HOST, port=port, d1=dead1, d2=dead2)
    assert one_shot(port, get("/", "1.0")) == error_page(503)
    kept_answers(port, get("/", "1.1"), error_page(503, closing=False))


def test_503_when_checks_mark_all_servers_down(proxy):
    dead1, dead2 = free_ports(2)
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        balance roundrobin
        option httpchk HEAD / HTTP/1.0
        server s1 {host}:{d1} check inter 200 fall 1 rise 1
        server s2 {host}:{d2} check inter 200 fall 1 rise 1
    """ + TIMEOUTS, host=HOST, port=port, d1=dead1, d2=dead2)
    wait_until(lambda: one_shot(port, get("/", "1.0")) == error_page(503), 15, 0.3,
               message="503 page")
    kept_answers(port, get("/again"), error_page(503, closing=False))


def test_504_when_the_server_never_answers(proxy, tcp_backend):
    silent = tcp_backend("silent")
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        server s1 {host}:{bport}
        contimeout 5000
        clitimeout 30000
        srvtimeout 1000
    """, host=HOST, port=port, bport=silent.port)
    assert one_shot(port, get("/slow", "1.0")) == error_page(504)
    wait_until(lambda: silent.received > 0, 5, message="the request to reach the silent server")


def test_502_when_the_server_sends_garbage(proxy, canned):
    be = canned(CannedReply(b"THIS IS NOT HTTP\r\n\r\n", after="close"))
    port = simple_proxy(proxy, be.port)
    assert one_shot(port, get("/g", "1.0")) == error_page(502)
    be2 = canned(CannedReply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", after="close"))
    port2 = simple_proxy(proxy, be2.port)
    kept_answers(port2, get("/truncated", "1.1"), error_page(502, closing=False))


def test_400_on_a_bad_request(proxy, http_backend):
    be = http_backend()
    port = simple_proxy(proxy, be.port)
    assert one_shot(port, b"THIS IS NOT HTTP\r\n\r\n") == error_page(400)
    assert one_shot(port, b"GET / HTTP/1.1\r\nHost test\r\n\r\n") == error_page(400)
    assert be.request_count() == 0 and be.accepted == 0


def test_408_when_the_client_stops_mid_request(proxy, http_backend):
    be = http_backend()
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        server s1 {host}:{bport}
        contimeout 5000
        clitimeout 1000
        srvtimeout 30000
    """, host=HOST, port=port, bport=be.port)
    with socket.create_connection((HOST, port), timeout=20) as s:
        s.sendall(b"GET /half HTTP/1.1\r\nHost: test\r\nX-Partial: ")
        assert recv_until_closed(s, timeout=15) == error_page(408)
    assert be.request_count() == 0


# ---------------------------------------------------------------------------------------------
# monitor-uri, mode health, roundrobin


def test_monitor_uri(proxy, http_backend):
    be = http_backend()
    port = simple_proxy(proxy, be.port, extra="\n        monitor-uri /haproxy_test")
    # 2.6's answer (its HTTP_ERR_200 page), closed after it
    assert one_shot(port, get("/haproxy_test", "1.0")) == builtin_page(200)
    kept_answers(port, get("/haproxy_test", "1.1"), builtin_page(200, closing=False))
    assert be.accepted == 0, "monitor requests must not reach a server"
    # other URIs are forwarded as usual
    with Client(port) as c:
        c.send(get("/haproxy_test/not"))
        assert c.read_response().status == 200
    assert be.request_count() == 1


@pytest.mark.parametrize(("httpchk", "answer"), [(True, b"HTTP/1.0 200 OK\r\n\r\n"), (False, b"OK\n")])
def test_mode_health(proxy, httpchk, answer):
    port = free_port()
    proxy.start("""
    listen health {host}:{port}
        mode health
        {chk}
    """ + TIMEOUTS, host=HOST, port=port, chk="option httpchk" if httpchk else "")
    assert one_shot(port, b"") == answer
    assert one_shot(port, get("/", "1.0")) == answer


def test_roundrobin_spreads_new_connections_evenly(proxy, http_backend):
    backends = [http_backend(name=f"S{i}") for i in range(4)]
    port = free_port()
    servers = "\n".join(f"        server S{i} {HOST}:{b.port}" for i, b in enumerate(backends))
    proxy.start(f"""
    listen web {HOST}:{port}
        mode http
        balance roundrobin
{servers}""" + TIMEOUTS)
    seen = []
    for i in range(100):
        raw = one_shot(port, get(f"/rr{i}", "1.0"))
        assert raw.startswith(b"HTTP/1.1 200 "), raw[:100]
        seen.append(raw.rsplit(b"\n", 2)[-2].decode())
    assert [b.request_count() for b in backends] == [25, 25, 25, 25]
    # strict rotation: the same server order repeats
    assert seen[:4] * 25 == seen
    assert sorted(seen[:4]) == ["S0", "S1", "S2", "S3"]


def test_worker_survives_a_burst_of_concurrent_clients(proxy, http_backend):
    """Bounded concurrency sanity check: 8 threads x 25 keep-alive requests, all answered."""
    be = http_backend()
    port = simple_proxy(proxy, be.port)
    errors: list[str] = []

    def run(t: int) -> None:
        try:
            with Client(port) as c:
                for i in range(25):
                    c.send(get(f"/t{t}/{i}"))
                    if c.read_response().status != 200:
                        errors.append(f"t{t} req {i}")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    assert be.request_count() == 200


# ---------------------------------------------------------------------------------------------
# More framing on kept connections


def test_post_body_then_pipelined_get_in_one_packet(proxy, http_backend):
    be = http_backend(responder=lambda req: HttpResponse(body=req.target.encode() + b":" + req.body))
    port = simple_proxy(proxy, be.port)
    body = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"     # data, not a request
    msg = (f"POST /form HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
           + get("/second"))
    with Client(port) as c:
        c.send(msg)
        assert c.read_response().body == b"/form:" + body
        assert c.read_response().body == b"/second:"
    assert [r.target for r in be.wait_requests(2)] == ["/form", "/second"]
    assert be.request_count() == 2


def test_large_response_on_keepalive_then_next_request(proxy, http_backend):
    payload = deterministic_bytes(2 << 20, 21)
    be = http_backend(responder=lambda req: HttpResponse(
        body=payload if req.target == "/big" else b"small"))
    port = simple_proxy(proxy, be.port)
    with Client(port, timeout=60) as c:
        for _ in range(2):
            c.send(get("/big"))
            r = c.read_response()
            assert len(r.body) == len(payload) and r.body == payload
            c.send(get("/small"))
            assert c.read_response().body == b"small"


def test_expect_100_continue(proxy, canned):
    rsp = (b"HTTP/1.1 100 Continue\r\n\r\n"
           b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
    be = canned(CannedReply(rsp))
    port = simple_proxy(proxy, be.port)
    with Client(port) as c:
        c.send(b"POST /e HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
        interim = c.read_response()
        assert interim.raw == b"HTTP/1.1 100 Continue\r\n\r\n"
        final = c.read_response()
        assert final.raw == b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"
    assert be.received[0].endswith(b"\r\n\r\nhello")


def test_response_with_content_length_and_chunked_is_read_chunked(proxy, canned):
    """As haproxy 2.6 (RFC 9112 6.3): chunked wins, the Content-Length is removed (a client must
    never see both); refusing it would only break the server's answers."""
    bad = (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n0\r\n\r\n")
    be = canned(CannedReply(bad, after="close"))
    port = simple_proxy(proxy, be.port)
    raw = one_shot(port, get("/x", "1.0"))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"content-length" not in head.lower() and b"transfer-encoding: chunked" in head.lower()
    assert body == b"5\r\nhello\r\n0\r\n\r\n"


def test_server_closing_a_kept_connection_between_requests(proxy, canned):
    """The server answers keep-alive, then closes its side; the client's next request on its
    still-open connection is served on a new server connection."""
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    be = canned(CannedReply(ok, after="close"))
    port = simple_proxy(proxy, be.port)
    with Client(port) as c:
        for i in range(5):
            c.send(get(f"/k{i}"))
            assert c.read_response().raw == ok, f"request {i}"
            time.sleep(0.2)    # let the server's FIN reach the proxy before the next request
    assert be.accepted == 5


def test_idle_server_connection_closed_by_server_is_released(proxy, canned):
    """When a kept-alive server connection is closed by the server while the client is idle, the
    proxy closes its side too (no socket left in CLOSE_WAIT until the client's next request)."""
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    be = canned(CannedReply(ok, after="close"))
    port = simple_proxy(proxy, be.port)
    with Client(port) as c:
        c.send(get("/idle"))
        assert c.read_response().raw == ok
        wait_until(lambda: be.peer_closed == 1, 10,
                   message="the proxy to close its side of the server connection")
        c.send(get("/again"))
        assert c.read_response().raw == ok
