"""End-to-end: `http-request` rules, `option http-server-close` / `http-keep-alive`, and
`option forwardfor except NET header NAME` in frontend/backend configurations.

These tests also pass against Debian's haproxy 2.6: PYHAPROXY_CMD=/usr/sbin/haproxy."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports
from tests.helpers.servers import HttpResponse, HttpServer

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
RULES = """
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend f
    bind 127.0.0.1:{port}
    acl admin path_beg /admin
    acl trusted src 10.0.0.0/8
    http-request deny if admin !trusted
    http-request deny deny_status 429 if { path /busy }
    http-request redirect location /new code 301 if { path /old }
    http-request redirect prefix https://www.example drop-query if { hdr(host) -i example.com }
    http-request set-header X-Set one
    http-request add-header X-Add two
    http-request del-header X-Secret
    default_backend b
backend b
    http-request add-header X-Backend b
    http-request deny if { path_end .bak }
    server s1 127.0.0.1:{s1}
"""


def status(data: bytes) -> int:
    """The status code of an answer (our error pages say HTTP/1.0 as HAProxy 1.x did, 2.x's 1.1)."""
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=15) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def get(port: int, path: str, extra: str = "", host: str = "www") -> bytes:
    return exchange(port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode())


@pytest.fixture
def started(proxy, http_backend: Callable[..., HttpServer]) -> tuple[int, HttpServer]:
    srv = http_backend(name="s1")
    (port,) = free_ports(1)
    proxy.start(RULES, port=port, s1=srv.port)
    return port, srv


def test_deny_and_deny_status(started: tuple[int, HttpServer]) -> None:
    port, srv = started
    assert status(get(port, "/admin/x")) == 403
    assert status(get(port, "/busy")) == 429
    assert status(get(port, "/file.bak")) == 403   # the backend's rule
    assert srv.requests == []


def test_redirects(started: tuple[int, HttpServer]) -> None:
    port, srv = started
    a = get(port, "/old")
    assert a.startswith(b"HTTP/1.1 301 Moved Permanently\r\n") and b"\r\nlocation: /new\r\n" in a.lower()
    b = get(port, "/some/page?x=1", host="Example.COM")
    assert b.startswith(b"HTTP/1.1 302 Found\r\n")
    assert b"\r\nlocation: https://www.example/some/page\r\n" in b.lower()
    assert srv.requests == []


def test_header_edits(started: tuple[int, HttpServer]) -> None:
    port, srv = started
    assert get(port, "/h", "X-Set: zero\r\nX-Set: again\r\nX-Secret: s3cr3t\r\n").startswith(b"HTTP/1.1 200")
    (req,) = srv.wait_requests(1)
    assert req.header_values("X-Set") == ["one"]
    assert req.header_values("X-Add") == ["two"]
    assert req.header_values("X-Backend") == ["b"]
    assert req.header("X-Secret") is None


def keepalive(port: int, n: int) -> list[bytes]:
    out = []
    with socket.create_connection((HOST, port), timeout=15) as s:
        f = s.makefile("rb")
        for i in range(n):
            s.sendall(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status = f.readline()
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                assert not line.lower().startswith(b"connection: close"), line
            f.read(length)
            out.append(status)
    return out


@pytest.mark.parametrize("option", ["http-server-close", "http-keep-alive"])
def test_server_close_and_keep_alive(proxy, http_backend: Callable[..., HttpServer], option: str) -> None:
    srv = http_backend(name="s1")
    (port,) = free_ports(1)
    proxy.start("""
        defaults
            mode http
            timeout connect 5s
            timeout client 30s
            timeout server 30s
        frontend f
            bind 127.0.0.1:{port}
            option httpclose
            option {option}
            default_backend b
        backend b
            server s1 127.0.0.1:{s1}
        """, port=port, s1=srv.port, option=option)
    # (the last of httpclose / http-server-close / http-keep-alive in a section wins; across the
    # frontend and the backend the most closing one does, as in HAProxy)
    # the client keeps one connection for three requests in both modes
    assert keepalive(port, 3) == [b"HTTP/1.1 200 OK\r\n"] * 3
    reqs = srv.wait_requests(3)
    if option == "http-server-close":
        # one server connection per request, each asked to close
        assert [r.index_in_conn for r in reqs] == [0, 0, 0]
        assert all(r.header("Connection") == "close" for r in reqs)
    else:
        assert [r.index_in_conn for r in reqs] == [0, 1, 2]


def test_forwardfor_header_and_except(proxy, http_backend: Callable[..., HttpServer]) -> None:
    srv = http_backend(name="s1")
    p1, p2 = free_ports(2)
    proxy.start("""
        defaults
            mode http
            timeout connect 5s
            timeout client 30s
            timeout server 30s
        frontend named
            bind 127.0.0.1:{p1}
            option forwardfor header X-Real-Client
            default_backend b
        frontend excepted
            bind 127.0.0.1:{p2}
            option forwardfor except 127.0.0.0/8
            default_backend b
        backend b
            server s1 127.0.0.1:{s1}
        """, p1=p1, p2=p2, s1=srv.port)
    get(p1, "/a")
    get(p2, "/b")
    a, b = srv.wait_requests(2)
    assert a.header("X-Real-Client") == "127.0.0.1" and a.header("X-Forwarded-For") is None
    assert b.header("X-Forwarded-For") is None


DEL_HEADER_CFG = """
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend f
    bind 127.0.0.1:{port}
    http-request del-header x-str1
    http-request del-header X-Str2 -m str
    http-request del-header x-beg -m beg
    http-request del-header end1 -m end
    http-request del-header sub -m sub
    http-request del-header ^x.reg.$ -m reg
    http-response del-header x-str1
    http-response del-header x-beg -m beg
    http-response del-header ^x.reg.$ -m reg
    http-after-response del-header sub -m sub
    default_backend b
backend b
    server s1 127.0.0.1:{s1}
"""
DEL_HEADER_NAMES = ["X-Keep", "x-str1", "x-STR2", "x-beg1", "X-Beg2", "x-end1", "x-end2", "x-sub1",
                    "x-reg1", "X-Reg2", "x-reg10"]


def test_del_header_match_methods(proxy, binary: str,  # noqa: F811
                                  http_backend: Callable[..., HttpServer]) -> None:
    """`del-header NAME -m str|beg|end|sub|reg` (2.6) on requests, responses and haproxy's
    after-response rules: the same headers removed by both binaries (str, beg, end and sub
    ignore case; reg runs on the name in lower case, as 2.6 holds header names)."""
    srv = http_backend(name="s1", response=HttpResponse(headers=[(n, "v") for n in DEL_HEADER_NAMES]))
    (port,) = free_ports(1)
    proxy.start(DEL_HEADER_CFG, port=port, s1=srv.port)
    answer = get(port, "/", "".join(f"{n}: v\r\n" for n in DEL_HEADER_NAMES))
    (req,) = srv.wait_requests(1)
    kept = [n for n in DEL_HEADER_NAMES if req.header(n) is not None]
    assert kept == ["X-Keep", "x-end2", "x-reg10"], binary
    head = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
    kept = [n for n in DEL_HEADER_NAMES if f"\r\n{n.lower()}: v" in head]
    assert kept == ["X-Keep", "x-STR2", "x-end1", "x-end2", "x-reg10"], (binary, head)


@pytest.mark.parametrize("words", ["x -m foo", "x -m", "x -m str extra"])
def test_del_header_bad_match_method(proxy, binary: str, words: str, tmp_path) -> None:  # noqa: F811
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(f"defaults\n    mode http\nfrontend f\n    bind 127.0.0.1:1\n"
                   f"    http-request del-header {words}\n")
    done = proxy.run(["-c", "-f", str(cfg)])
    assert done.returncode == 1, (binary, done.stdout, done.stderr)
    assert "[ALERT]" in done.stdout + done.stderr and ":5]" in done.stdout + done.stderr
