"""2.6's HTTP check keywords: `http-check send`, `http-check expect [!] string|rstring`,
`http-check disable-on-404` (NOLB: out of load balancing, persistent requests still served) and
`option log-health-checks`. Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too."""

from __future__ import annotations

import re
import socket

import pytest

from tests.helpers import free_ports, wait_until
from tests.helpers.servers import HttpResponse, HttpServer

pytestmark = pytest.mark.timeout(60)

HEAD = """
    defaults
        mode http
        timeout connect 2s
        timeout client 10s
        timeout server 10s
        timeout check 2s
    frontend fe
        bind 127.0.0.1:{port}
        default_backend be
    """


def get(port: int, cookie: str | None = None) -> tuple[int, bytes]:
    extra = f"Cookie: SRV={cookie}\r\n" if cookie else ""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET /app HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ")[1]), data.partition(b"\r\n\r\n")[2]


def checks(backend: HttpServer) -> list:
    return [r for r in backend.requests if r.target.startswith("/health")]


def test_send_builds_the_request_as_26_does(proxy, http_backend) -> None:
    backend: HttpServer = http_backend(name="b")
    (port,) = free_ports(1)
    proxy.start(HEAD + """
    backend be
        option httpchk HEAD /ignored HTTP/1.1
        http-check send meth POST uri /health ver HTTP/1.1 hdr Host example.com hdr X-Check yes body ping
        server s1 127.0.0.1:{bport} check inter 200 rise 1 fall 1
    """, port=port, bport=backend.port)
    wait_until(lambda: len(checks(backend)) >= 1, 15, message="a check")
    req = checks(backend)[0]
    assert req.head.split(b"\r\n")[0] == b"POST /health HTTP/1.1"
    names = [(n.lower(), v) for n, v in req.headers]
    assert names == [("host", "example.com"), ("x-check", "yes"), ("content-length", "4"),
                     ("connection", "close")]
    assert req.body == b"ping"


def test_send_keeps_option_httpchk_for_what_it_does_not_name(proxy, http_backend) -> None:
    backend: HttpServer = http_backend(name="b")
    (port,) = free_ports(1)
    proxy.start(HEAD + """
    backend be
        option httpchk GET /health-x
        http-check send hdr Host h
        server s1 127.0.0.1:{bport} check inter 200 rise 1 fall 1
    """, port=port, bport=backend.port)
    wait_until(lambda: len(checks(backend)) >= 1, 15, message="a check")
    req = checks(backend)[0]
    assert req.head.split(b"\r\n")[0] == b"GET /health-x HTTP/1.0"
    assert [(n.lower(), v) for n, v in req.headers] == [("host", "h")]


@pytest.mark.parametrize(("expect", "served"), [
    ("http-check expect string all-good", True),
    ("http-check expect string not-there", False),
    ("http-check expect ! string not-there", True),
    ("http-check expect ! string all-good", False),
    ("http-check expect rstring ^status:.all-[a-z]+", True),
    ("http-check expect rstring ^bad", False),
])
def test_expect_string_matches_the_body(proxy, http_backend, expect: str, served: bool) -> None:
    backend: HttpServer = http_backend(name="b")
    backend.responder = lambda req: HttpResponse(status=200, body=b"status: all-good\n")
    (port,) = free_ports(1)
    proxy.start(HEAD + """
    backend be
        option httpchk GET /health
        {expect}
        server s1 127.0.0.1:{bport} check inter 100 rise 1 fall 1
    """, port=port, bport=backend.port, expect=expect)
    wait_until(lambda: len(checks(backend)) >= 3, 15, message="three checks")
    assert get(port)[0] == (200 if served else 503)


def stat_status(sock: str, px: str, sv: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sock)
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    cols = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(cols, line.split(","), strict=False))
        if row.get("pxname") == px and row.get("svname") == sv:
            return row["status"]
    raise AssertionError(f"{px}/{sv} not in show stat")


def test_disable_on_404_takes_the_server_out_of_load_balancing(proxy, http_backend, tmp_path) -> None:
    a: HttpServer = http_backend(name="a")
    b: HttpServer = http_backend(name="b")
    b.responder = lambda req: HttpResponse(status=200, body=b"b")
    health = {"a": 200}
    a.responder = lambda req: HttpResponse(status=health["a"] if req.target == "/health" else 200,
                                           body=b"a")
    (port,) = free_ports(1)
    sock = str(tmp_path / "stats.sock")
    p = proxy.start("""
    global
        stats socket {sock} level admin
    """ + HEAD + """
    backend be
        option httpchk GET /health
        http-check disable-on-404
        cookie SRV insert indirect nocache
        server a 127.0.0.1:{aport} check inter 100 rise 1 fall 1 cookie a
        server b 127.0.0.1:{bport} check inter 100 rise 1 fall 1 cookie b
    """, port=port, aport=a.port, bport=b.port, sock=sock)
    wait_until(lambda: len(checks(a)) >= 2, 15, message="checks of a")
    assert stat_status(sock, "be", "a") == "UP"
    assert {get(port)[1] for _ in range(4)} == {b"a", b"b"}
    health["a"] = 404
    wait_until(lambda: "Server be/a is stopping" in p.stderr_text(), 15, message="a stopping")
    # NOLB: no new traffic, but the request that names it by its cookie still reaches it
    assert {get(port)[1] for _ in range(6)} == {b"b"}
    assert get(port, cookie="a") == (200, b"a")
    assert stat_status(sock, "be", "a") == "NOLB"
    health["a"] = 200
    wait_until(lambda: "Server be/a is UP" in p.stderr_text(), 15, message="a back up")
    assert {get(port)[1] for _ in range(4)} == {b"a", b"b"}


def test_a_404_does_not_bring_a_down_server_up(proxy, http_backend) -> None:
    a: HttpServer = http_backend(name="a")
    a.responder = lambda req: HttpResponse(status=404 if req.target == "/health" else 200, body=b"a")
    (port,) = free_ports(1)
    p = proxy.start(HEAD + """
    backend be
        option httpchk GET /health
        http-check disable-on-404
        server a 127.0.0.1:{aport} check inter 100 rise 1 fall 1
    """, port=port, aport=a.port)
    # it starts UP: the first 404 makes it NOLB; nothing else is there, so a 503
    wait_until(lambda: "Server be/a is stopping" in p.stderr_text(), 15, message="a stopping")
    assert get(port)[0] == 503


def test_log_health_checks_reports_each_change(proxy, http_backend) -> None:
    a: HttpServer = http_backend(name="a")
    health = {"code": 200}
    a.responder = lambda req: HttpResponse(status=health["code"], body=b"a")
    (port, dead) = free_ports(2)
    p = proxy.start(HEAD + """
    backend be
        option httpchk GET /health
        option log-health-checks
        server a 127.0.0.1:{aport} check inter 100 rise 2 fall 2
        server z 127.0.0.1:{dead} check inter 100 rise 2 fall 2
    """, port=port, aport=a.port, dead=dead)
    wait_until(lambda: "server be/z failed" in p.stderr_text(), 15, message="z's failure")
    text = p.stderr_text()
    assert re.search(r'Health check for server be/z failed, reason: Layer4 connection problem, '
                     r'info: "Connection refused", check duration: \d+ms, status: 0/2 DOWN\.', text)
    health["code"] = 503
    wait_until(lambda: "Server be/a is DOWN" in p.stderr_text(), 15, message="a down")
    text = p.stderr_text()
    assert re.search(r'Health check for server be/a failed, reason: Layer7 wrong status, code: 503, '
                     r'info: "Service Unavailable", check duration: \d+ms, status: 1/2 UP\.', text)
    assert re.search(r'Health check for server be/a failed, reason: Layer7 wrong status, code: 503, '
                     r'info: "Service Unavailable", check duration: \d+ms, status: 0/2 DOWN\.', text)
    health["code"] = 200
    wait_until(lambda: "Server be/a is UP" in p.stderr_text(), 15, message="a up")
    text = p.stderr_text()
    assert re.search(r'Health check for server be/a succeeded, reason: Layer7 check passed, code: 200, '
                     r'check duration: \d+ms, status: 1/2 DOWN\.', text)
    assert re.search(r'Health check for server be/a succeeded, reason: Layer7 check passed, code: 200, '
                     r'check duration: \d+ms, status: 2/2 UP\.', text)
    # a check that changes nothing is not logged: z's repeated failures are one line
    assert text.count("server be/z failed") == 1
