"""End-to-end tests of HAProxy 1.x header rules in pyhaproxy's worker (ext/rules.pxi).

reqadd / reqdel / reqidel / reqrep / reqirep / reqdeny / reqideny / reqallow / reqpass and
rspadd / rspdel / rspidel / rsprep / rspirep / rspdeny, checked through a real
`python -m pyhaproxy -f CFG -db` between a raw-socket client and the recording HttpServer.
Semantics (HAProxy 1.2, manual section 4.3): each line of the header block, the request or status
line first, is matched as "Name: value" against the rules in declaration order; the first
matching rule acts on it; rep replaces the whole line with \\1..\\9 back-references.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from tests.helpers import HttpResponse, HttpServer, free_port, recv_until_closed
from tests.helpers.pages import builtin_page

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
TIMEOUTS = """
        contimeout 5000
        clitimeout 30000
        srvtimeout 30000"""

ERR_403 = builtin_page(403)
ERR_502 = builtin_page(502)


class Client:
    """One keep-alive connection; responses framed by Content-Length (what HttpServer sends)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=20)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"closed by the proxy; unparsed: {self.buf[:200]!r}")
        self.buf += chunk

    def request(self, data: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
        """Send one request; return (status line, headers, body) of its response."""
        self.sock.sendall(data)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = [(k, v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:])]
        n = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return lines[0], headers, body


def one_shot(port: int, data: bytes) -> bytes:
    """Send a request on a new connection; everything the proxy sends until it closes."""
    with socket.create_connection((HOST, port), timeout=20) as s:
        s.sendall(data)
        return recv_until_closed(s, timeout=20)


def get(path: str, extra: str = "", method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: www.example.com\r\n{extra}\r\n".encode()



@pytest.fixture
def start(proxy, http_backend) -> Callable[[str, HttpServer | None], int]:  # noqa: ANN001
    """start(rules, backend=None): a `mode http` listen with these rule lines; returns its port."""

    def run(rules: str, backend: HttpServer | None = None) -> int:
        port = free_port()
        be = backend or http_backend(name="A")
        body = "\n".join("    " + ln.lstrip() for ln in rules.splitlines() if ln.strip())
        proxy.start("listen web {host}:{port}\n    mode http\n    balance roundrobin\n"
                    "    server A {host}:{pa}\n" + body + TIMEOUTS,
                    host=HOST, port=port, pa=be.port)
        return port

    return run


def test_reqadd_adds_headers_after_the_last_one(start, http_backend) -> None:
    be = http_backend(name="A")
    port = start(r"""
        reqadd X-Added:\ yes
        reqadd X-Second:two
    """, be)
    c = Client(port)
    try:
        status, _, _ = c.request(get("/", "X-Client: 1\r\n"))
    finally:
        c.close()
    assert status.split()[1] == "200"
    req = be.wait_requests(1)[0]
    assert req.head.endswith(b"X-Client: 1\r\nX-Added: yes\r\nX-Second:two"), req.head
    assert req.header("X-Added") == "yes"


def test_reqdel_is_case_sensitive_reqidel_is_not(start, http_backend) -> None:
    be = http_backend(name="A")
    port = start(r"""
        reqdel ^X-Secret:
        reqidel ^x-trace:
    """, be)
    extra = "X-Secret: 1\r\nx-secret: 2\r\nX-Trace: a\r\nx-TRACE: b\r\nX-Keep: k\r\n"
    c = Client(port)
    try:
        c.request(get("/", extra))
    finally:
        c.close()
    req = be.wait_requests(1)[0]
    names = [k for k, _ in req.headers]
    assert names == ["Host", "x-secret", "X-Keep"], req.head
    assert req.header("x-secret") == "2"


def test_reqrep_rewrites_request_line_and_headers(start, http_backend) -> None:
    be = http_backend(name="A")
    port = start(r"""
        reqrep ^GET\ /old(.*) GET\ /new\1
        reqirep ^host:\ ([a-z]*)\.example\.com Host:\ \1.internal
        reqrep ^(X-Pair):\ ([^,]*),(.*) \1:\ \3,\2
    """, be)
    c = Client(port)
    try:
        c.request(get("/old/page?q=1", "X-Pair: left,right\r\n"))
        c.request(b"POST /old/form HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 5\r\n\r\nhello")
    finally:
        c.close()
    first, second = be.wait_requests(2)
    assert first.request_line == "GET /new/page?q=1 HTTP/1.1"
    assert first.header("Host") == "www.internal"
    assert first.header("X-Pair") == "right,left"
    # Only GET lines match the first rule; the body is untouched.
    assert second.request_line == "POST /old/form HTTP/1.1"
    assert second.header("Host") == "api.internal"
    assert second.body == b"hello"


def test_reqdeny_answers_403_and_nothing_reaches_the_server(start, http_backend) -> None:
    be = http_backend(name="A")
    port = start(r"""
        reqdeny ^User-Agent:\ evil
        reqideny ^GET\ /admin
    """, be)
    assert one_shot(port, get("/", "User-Agent: evil\r\n")) == ERR_403
    assert one_shot(port, get("/ADMIN/x")) == ERR_403
    # reqdeny is case-sensitive: this one goes through.
    c = Client(port)
    try:
        status, _, body = c.request(get("/ok", "user-agent: evil\r\n"))
    finally:
        c.close()
    assert status.split()[1] == "200" and body == b"A\n"
    reqs = be.wait_requests(1)
    assert [r.target for r in reqs] == ["/ok"]


def test_denied_request_on_a_kept_connection_closes_it(start, http_backend) -> None:
    be = http_backend(name="A")
    port = start(r"reqdeny ^GET\ /forbidden", be)
    with socket.create_connection((HOST, port), timeout=20) as s:
        s.sendall(get("/fine"))
        data = b""
        while not data.endswith(b"A\n"):
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        s.sendall(get("/forbidden"))
        assert recv_until_closed(s, timeout=20) == ERR_403
    assert [r.target for r in be.wait_requests(1)] == ["/fine"]


def test_reqallow_before_reqdeny_lets_the_request_through(start, http_backend) -> None:
    be = http_backend(name="A")
    port = start(r"""
        reqallow ^GET\ /public/
        reqallow ^Host:\ trusted
        reqdeny ^GET\ /
        reqdeny ^X-Bad:
    """, be)
    c = Client(port)
    try:
        # Same line: the allow rule comes first and wins.
        assert c.request(get("/public/a"))[0].split()[1] == "200"
    finally:
        c.close()
    # Allowed by the Host line: the later X-Bad line cannot deny it any more.
    raw = b"POST /x HTTP/1.1\r\nHost: trusted\r\nX-Bad: 1\r\nContent-Length: 0\r\n\r\n"
    c = Client(port)
    try:
        assert c.request(raw)[0].split()[1] == "200"
    finally:
        c.close()
    assert one_shot(port, get("/private")) == ERR_403
    assert [r.target for r in be.wait_requests(2)] == ["/public/a", "/x"]


def test_reqpass_shields_a_line_from_later_deny_rules(start, http_backend) -> None:
    """The manual's production example: let valid methods pass, deny any other request line."""
    be = http_backend(name="A")
    port = start(r"""
        reqipass ^(GET|POST|HEAD|OPTIONS)\ /.*\ HTTP/1\.[01]$
        reqideny ^[^:\ ]*[\ ]
    """, be)
    c = Client(port)
    try:
        assert c.request(get("/fine"))[0].split()[1] == "200"
    finally:
        c.close()
    assert one_shot(port, get("/x", method="DELETE")) == ERR_403
    assert [r.target for r in be.wait_requests(1)] == ["/fine"]


def test_response_rules(start, http_backend) -> None:
    be = http_backend(name="A", response=HttpResponse(
        status=201, reason="Created",
        headers=[("Server", "Apache/2.4"), ("server", "lower"), ("X-Powered-By", "PHP"),
                 ("x-powered-by", "php"), ("Location", "http://internal:8080/next"),
                 ("set-cookie", "a=1")],
        body=b"made\n"))
    port = start(r"""
        rspdel ^Server:
        rspidel ^X-Powered-By:
        rsprep ^Location:\ http://internal:8080(.*) Location:\ http://public\1
        rspirep ^Set-Cookie:\ (.*) Set-Cookie:\ \1;\ Secure
        rsprep ^HTTP/1\.1\ 201\ (.*) HTTP/1.1\ 202\ \1
        rspadd X-Via:\ pyhaproxy
    """, be)
    c = Client(port)
    try:
        status, headers, body = c.request(get("/"))
    finally:
        c.close()
    assert status == "HTTP/1.1 202 Created"
    assert body == b"made\n"
    names = [k for k, _ in headers]
    assert "Server" not in names and "server" in names
    assert not [k for k in names if k.lower() == "x-powered-by"]
    assert ("Location", "http://public/next") in headers
    assert ("Set-Cookie", "a=1; Secure") in headers
    assert headers[-1] == ("X-Via", "pyhaproxy")


def test_rspdeny_answers_502(start, http_backend) -> None:
    be = http_backend(name="A", response=HttpResponse(
        headers=[("X-Leak", "internal-secret")], body=b"secret\n"))
    port = start(r"rspideny ^x-leak:\ internal", be)
    assert one_shot(port, get("/")) == ERR_502
    assert [r.target for r in be.wait_requests(1)] == ["/"]


def test_rules_apply_to_every_request_of_a_keepalive_connection(start, http_backend) -> None:
    be = http_backend(name="A")
    port = start(r"""
        reqrep ^GET\ /v1/(.*) GET\ /v2/\1
        reqidel ^X-Drop:
        reqadd X-Req:\ added
        rspadd X-Rsp:\ added
    """, be)
    c = Client(port)
    try:
        for i in range(3):
            status, headers, _ = c.request(get(f"/v1/item{i}", "X-Drop: x\r\n"))
            assert status.split()[1] == "200"
            assert ("X-Rsp", "added") in headers, f"response {i}: {headers}"
    finally:
        c.close()
    reqs = be.wait_requests(3)
    assert len({r.conn_id for r in reqs}) == 1, "one connection on each side"
    for i, r in enumerate(reqs):
        assert r.target == f"/v2/item{i}"
        assert r.header("X-Drop") is None and r.header("X-Req") == "added", r.head


def test_rewrite_that_breaks_the_request_gets_400(start, http_backend) -> None:
    be = http_backend(name="A")
    port = start(r"reqrep ^GET\ (.*) GET", be)
    answer = one_shot(port, get("/x"))
    assert answer.startswith(b"HTTP/1.1 400 Bad request\r\n")
    assert be.request_count() == 0


def test_reqtarpit_holds_the_request_then_answers_500(proxy, http_backend) -> None:
    be = http_backend(name="A")
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        server A {host}:{pa}
        reqitarpit ^GET\\ /login
        contimeout 1500
        clitimeout 30000
        srvtimeout 30000
    """, host=HOST, port=port, pa=be.port)
    t0 = time.monotonic()
    answer = one_shot(port, get("/LOGIN?user=x"))
    held = time.monotonic() - t0
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), answer
    assert 1.3 <= held < 10, f"held {held:.2f}s, contimeout is 1.5s"
    c = Client(port)
    try:
        assert c.request(get("/other"))[0].split()[1] == "200"
    finally:
        c.close()
    assert [r.target for r in be.wait_requests(1)] == ["/other"]


def test_timeout_tarpit_replaces_the_connect_timeout_for_the_hold(proxy, http_backend) -> None:
    """`timeout tarpit` (2.x): the hold lasts it, not `timeout connect` (30 s here)."""
    be = http_backend(name="A")
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        server A {host}:{pa}
        reqitarpit ^GET\\ /login
        timeout connect 30s
        timeout tarpit 1500ms
        timeout client 30s
        timeout server 30s
    """, host=HOST, port=port, pa=be.port)
    t0 = time.monotonic()
    answer = one_shot(port, get("/LOGIN?user=x"))
    held = time.monotonic() - t0
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), answer
    assert 1.3 <= held < 20, f"held {held:.2f}s, timeout tarpit is 1.5s and timeout connect 30s"
    assert be.request_count() == 0
