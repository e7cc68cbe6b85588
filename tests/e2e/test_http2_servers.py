"""HTTP/2 towards the servers: `server ... proto h2` (h2c, prior knowledge) and `server ... ssl
alpn h2` (TLS, h2 chosen by ALPN), with an HTTP/2 server the test starts (Python's `h2`,
tests/helpers/h2server.py) that records every stream it receives.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy) with
the same configuration and the same expectations: the pseudo-header and header fields the server
receives, the status, fields and body the client gets (HTTP/1.1 and HTTP/2 clients), 1 MiB
bodies both ways, trailers (gRPC's `grpc-status`), a server's RST_STREAM / GOAWAY / close /
silence (502 SH, SD, 504 sH), and the log line.
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary, certs  # noqa: F401  (fixtures: both binaries; test certificates)
from tests.helpers.h2server import H2Server
from tests.helpers.net import free_ports
from tests.helpers.servers import deterministic_bytes

pytestmark = pytest.mark.timeout(120)

CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 10s
    timeout server {tsrv}
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    bind 127.0.0.1:{ph2} proto h2
    use_backend btls if { path_beg /tls }
    use_backend bh1 if { path_beg /h1 }
    default_backend bh2c
backend bh2c
    server s1 127.0.0.1:{ps} proto h2
backend btls
    server t1 127.0.0.1:{pt} ssl verify none alpn h2
backend bh1
    retries 1
    server h1 127.0.0.1:{ph1} proto h2
"""


def curl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", "--max-time", "30", *args], capture_output=True,
                          timeout=timeout, check=False)


def dechunk(body: bytes) -> tuple[bytes, bytes]:
    """A chunked body: its data, its trailer section."""
    data = b""
    while True:
        size, _, body = body.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            return data, body
        data += body[:n]
        body = body[n + 2:]


def head_and_body(out: bytes) -> tuple[list[str], bytes]:
    """curl -i's output: the header lines (status line first, CRs dropped), the body."""
    head, _, body = out.partition(b"\r\n\r\n")
    return head.decode().split("\r\n"), body


@pytest.fixture
def servers(certs: dict[str, Path]) -> Iterator[dict[str, H2Server]]:  # noqa: F811
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs["a"])
    ctx.set_alpn_protocols(["h2"])
    plain = H2Server(name="H2C").start()
    tls = H2Server(name="H2TLS", tls=ctx).start()
    assert isinstance(plain, H2Server) and isinstance(tls, H2Server)
    yield {"plain": plain, "tls": tls}
    plain.stop()
    tls.stop()


@pytest.fixture
def h2s(proxy: Any, binary: str, syslog: Any, servers: dict[str, H2Server],  # noqa: F811
        http_backend: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    h1 = http_backend(name="H1")

    def start(tsrv: str = "10s") -> dict[str, Any]:
        port, ph2 = free_ports(2)
        proxy.start(CFG, port=port, ph2=ph2, ps=servers["plain"].port, pt=servers["tls"].port,
                    ph1=h1.port, logport=syslog[1], tsrv=tsrv)
        return {"port": port, "ph2": ph2, "log": syslog[0], **servers}
    return start


def test_request_as_one_stream_with_2_6s_pseudo_headers(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    r = curl("-i", "-H", "X-Custom: v", "-H", "Connection: keep-alive", "-H", "TE: trailers, deflate",
             f"http://127.0.0.1:{px['port']}/cl/a?q=1")
    assert r.returncode == 0, r.stderr
    head, body = head_and_body(r.stdout)
    # (HTTP/2 has no reason phrase; 2.6 writes none either)
    assert head[0] == "HTTP/1.1 200 "
    assert "x-server: H2C" in head and "content-length: 12" in head
    assert body == b"cl from H2C\n"
    req = px["plain"].requests[-1]
    # an origin-form HTTP/1.1 request: `:scheme https` and the Host field, no :authority (2.6)
    assert req.headers[:3] == [(":method", "GET"), (":scheme", "https"), (":path", "/cl/a?q=1")]
    assert req.header("host") == f"127.0.0.1:{px['port']}"
    assert req.header("x-custom") == "v"
    assert req.header("te") == "trailers"           # te: only its `trailers`
    assert req.header("connection") is None          # connection-specific fields dropped
    assert req.pseudo().get(":authority") is None
    line = px["log"].wait_for("/cl/a?q=1")
    assert " fe bh2c/s1 " in line and " 200 " in line and " ---- " in line
    assert '"GET /cl/a?q=1 HTTP/1.1"' in line


def test_answer_without_length_is_chunked_and_204_is_bodyless(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    r = curl("-i", "--raw", f"http://127.0.0.1:{px['port']}/chunk/x")
    head, body = head_and_body(r.stdout)
    assert "transfer-encoding: chunked" in head
    # (where the chunks split is not said: 2.6 joins DATA frames that came together)
    assert dechunk(body) == (b"one,two,three\n", b"\r\n")
    r = curl("-i", f"http://127.0.0.1:{px['port']}/empty/x")
    head, body = head_and_body(r.stdout)
    assert head[0] == "HTTP/1.1 204 " and body == b""
    assert not any(h.startswith(("transfer-encoding", "content-length")) for h in head)


def test_http2_client_to_http2_server(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    r = curl("-i", "--http2-prior-knowledge", f"http://127.0.0.1:{px['ph2']}/chunk/h2")
    head, body = head_and_body(r.stdout)
    assert head[0] == "HTTP/2 200 " and body == b"one,two,three\n"
    req = px["plain"].requests[-1]
    # 2.6 holds an HTTP/2 request in absolute form: the client's scheme, :authority, no Host
    assert req.headers[:4] == [(":method", "GET"), (":scheme", "http"),
                               (":authority", f"127.0.0.1:{px['ph2']}"), (":path", "/chunk/h2")]
    assert req.header("host") is None
    assert px["log"].wait_for("/chunk/h2 HTTP/2.0")


def test_absolute_form_request(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    r = curl("-x", f"http://127.0.0.1:{px['port']}", "http://example.test/cl/abs")
    assert r.stdout == b"cl from H2C\n"
    req = px["plain"].requests[-1]
    assert req.headers[:4] == [(":method", "GET"), (":scheme", "http"), (":authority", "example.test"),
                               (":path", "/cl/abs")]
    assert req.header("host") is None


@pytest.mark.parametrize("chunked", [False, True])
def test_one_mib_both_ways(h2s: Callable[..., dict[str, Any]], tmp_path: Path, chunked: bool) -> None:
    px = h2s()
    up = deterministic_bytes(1 << 20, 3)
    f = tmp_path / "up"
    f.write_bytes(up)
    extra = ["-H", "Transfer-Encoding: chunked"] if chunked else []
    r = curl(*extra, "--data-binary", f"@{f}", f"http://127.0.0.1:{px['port']}/echo/up")
    assert r.returncode == 0, r.stderr
    assert r.stdout == up                            # through the server's flow control both ways
    req = px["plain"].requests[-1]
    assert req.body == up
    assert req.header("content-length") == (None if chunked else str(1 << 20))
    assert req.header("transfer-encoding") is None
    r = curl(f"http://127.0.0.1:{px['port']}/big/1048576")
    assert r.stdout == deterministic_bytes(1 << 20, 7)


def test_one_mib_from_an_http2_client(h2s: Callable[..., dict[str, Any]], tmp_path: Path) -> None:
    px = h2s()
    up = deterministic_bytes(1 << 20, 5)
    f = tmp_path / "up"
    f.write_bytes(up)
    r = curl("--http2-prior-knowledge", "--data-binary", f"@{f}", f"http://127.0.0.1:{px['ph2']}/echo/h2up")
    assert r.returncode == 0, r.stderr
    assert r.stdout == up


def test_trailers_to_http11_and_http2_clients(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    r = curl("-i", "--raw", f"http://127.0.0.1:{px['port']}/grpc/one")
    head, body = head_and_body(r.stdout)
    assert "content-type: application/grpc" in head and "transfer-encoding: chunked" in head
    # the trailing HEADERS: the chunked body's trailer fields
    assert body == b"A\r\n\x00\x00\x00\x00\x05hello\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n"
    # and towards an HTTP/2 client, a trailing HEADERS frame again (nghttp shows it)
    r = subprocess.run(["nghttp", "-v", f"http://127.0.0.1:{px['ph2']}/grpc/two"], capture_output=True,
                       timeout=30, check=False)
    out = r.stdout.decode(errors="replace")
    # (nghttp prints a HEADERS frame's fields before its frame line)
    data_at = out.index("recv DATA frame")
    trailers = out[data_at:]
    assert re.search(r"recv \(stream_id=\d+\) grpc-status: 0", trailers), out
    assert re.search(r"recv \(stream_id=\d+\) grpc-message: ok", trailers), out
    assert re.search(r"recv HEADERS frame <[^>]*>\s*; END_STREAM", trailers), out


def test_requests_share_server_connections(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    # one HTTP/1.1 client with three requests on its connection: one server connection, three streams
    r = curl(*[f"http://127.0.0.1:{px['port']}/cl/{i}" for i in range(3)])
    assert r.stdout == b"cl from H2C\n" * 3
    reqs = px["plain"].requests[-3:]
    assert len({q.conn_id for q in reqs}) == 1
    assert [q.stream_id for q in reqs] == [1, 3, 5] or reqs[0].stream_id > 1
    # 200 streams of one HTTP/2 client, 20 at a time: far fewer server connections than streams
    px["plain"].reset()
    r2 = subprocess.run(["h2load", "-c", "1", "-m", "20", "-n", "200", f"http://127.0.0.1:{px['ph2']}/cl/load"],
                        capture_output=True, text=True, timeout=60, check=False)
    assert "200 succeeded" in r2.stdout, r2.stdout
    assert len(px["plain"].requests) == 200
    assert px["plain"].accepted <= 20


def test_tls_alpn_h2(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    r = curl("-i", f"http://127.0.0.1:{px['port']}/tls/grpc/x", "--raw")
    # (the TLS server answers its unknown paths with 404; /tls/... reaches it as it is)
    head, _ = head_and_body(r.stdout)
    assert head[0] == "HTTP/1.1 404 "
    req = px["tls"].requests[-1]
    assert req.pseudo()[":path"] == "/tls/grpc/x"
    assert px["tls"].tls_info[-1]["alpn"] == "h2"
    line = px["log"].wait_for("/tls/grpc/x")
    assert " btls/t1 " in line and " 404 " in line


@pytest.mark.parametrize(("path", "status", "flags"), [
    ("/rst/x", "502", "SH--"),        # RST_STREAM before the answer
    ("/goaway/x", "502", "SH--"),     # GOAWAY refusing the stream
    ("/close/x", "200", "SD--"),      # the connection closed in the middle of the body
    ("/hang/x", "504", "sH--"),       # `timeout server` for the stream
])
def test_server_errors(h2s: Callable[..., dict[str, Any]], path: str, status: str, flags: str) -> None:
    px = h2s(tsrv="1s")
    r = curl("-i", f"http://127.0.0.1:{px['port']}{path}")
    head, _ = head_and_body(r.stdout)
    assert head[0].startswith(f"HTTP/1.1 {status}")
    line = px["log"].wait_for(f'"GET {path} HTTP/1.1"')
    assert f" {status} " in line and f" {flags} " in line
    # the next request gets a fresh stream (or connection) and its answer
    r = curl(f"http://127.0.0.1:{px['port']}/cl/after")
    assert r.stdout == b"cl from H2C\n"


def test_head_and_pipelined_requests(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    # HEAD: the answer's fields, no body and no chunked framing, whatever the server's length
    r = curl("-i", "-I", f"http://127.0.0.1:{px['port']}/chunk/head")
    head, body = head_and_body(r.stdout)
    assert head[0] == "HTTP/1.1 200 " and body == b""
    assert not any(h.startswith("transfer-encoding") for h in head)
    # two pipelined requests on one client connection: two streams, two answers in order
    with socket.create_connection(("127.0.0.1", px["port"]), timeout=10) as s:
        s.sendall(b"GET /cl/p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /chunk/p2 HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b"0\r\n\r\n"):
            data = s.recv(65536)
            if not data:
                break
            got += data
    first, _, second = got.partition(b"cl from H2C\n")
    assert first.startswith(b"HTTP/1.1 200 ") and second.startswith(b"HTTP/1.1 200 ")
    assert dechunk(second.partition(b"\r\n\r\n")[2]) == (b"one,two,three\n", b"\r\n")
    assert [q.pseudo()[":path"] for q in px["plain"].requests[-2:]] == ["/cl/p1", "/chunk/p2"]


def test_client_leaving_mid_body(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    with socket.create_connection(("127.0.0.1", px["port"]), timeout=10) as s:
        s.sendall(b"GET /big/8000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(65536)
    line = px["log"].wait_for('"GET /big/8000000 HTTP/1.1"')
    assert " 200 " in line and " CD-- " in line
    r = curl(f"http://127.0.0.1:{px['port']}/cl/after")      # the worker serves on
    assert r.stdout == b"cl from H2C\n"


def test_graceful_goaway_then_next_request(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    # the server answers, then says GOAWAY with that stream as the last and closes: the kept-alive
    # client's next requests go on a new server connection
    r = curl(f"http://127.0.0.1:{px['port']}/bye/1", f"http://127.0.0.1:{px['port']}/cl/2",
             f"http://127.0.0.1:{px['port']}/cl/3")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"bye from H2C\ncl from H2C\ncl from H2C\n"
    reqs = px["plain"].requests[-3:]
    assert reqs[0].conn_id != reqs[1].conn_id == reqs[2].conn_id


def test_request_trailers_go_as_a_trailing_headers(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    with socket.create_connection(("127.0.0.1", px["port"]), timeout=10) as s:
        s.sendall(b"POST /echo/trl HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\nGrpc-Status: 0\r\n\r\n")
        got = b""
        while not got.endswith(b"0\r\n\r\n"):
            data = s.recv(65536)
            if not data:
                break
            got += data
    assert dechunk(got.partition(b"\r\n\r\n")[2])[0] == b"hello world"
    req = px["plain"].requests[-1]
    assert req.body == b"hello world"
    assert req.trailers == [("x-checksum", "abc"), ("grpc-status", "0")]


def test_proto_h2_towards_an_http11_server(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    # the server answers the preface as HTTP/1.1 would: a failed connection for 2.6 (retried
    # once here, `retries 1`), then 503 SC with Tc -1 and the retry counted
    r = curl("-i", f"http://127.0.0.1:{px['port']}/h1/x")
    head, _ = head_and_body(r.stdout)
    assert head[0] == "HTTP/1.1 503 Service Unavailable"
    line = px["log"].wait_for('"GET /h1/x HTTP/1.1"')
    assert " bh1/h1 " in line and " 503 " in line and " SC-- " in line
    # (Tc and Tr -1: never connected, no answer; the other timers are not looked at)
    assert re.search(r" \d+/\d+/-1/-1/\d+ 503 ", line) and re.search(r" \d+/\d+/\d+/\d+/1 0/0 ", line), line


def test_interim_answer(h2s: Callable[..., dict[str, Any]]) -> None:
    px = h2s()
    r = curl("-i", f"http://127.0.0.1:{px['port']}/early/x")
    assert r.returncode == 0, r.stderr
    interim, _, rest = r.stdout.partition(b"\r\n\r\n")
    assert interim.split(b"\r\n")[0] == b"HTTP/1.1 103 "
    assert b"link: </s.css>; rel=preload" in interim
    head, body = head_and_body(rest)
    assert head[0] == "HTTP/1.1 200 " and body == b"early from H2C\n"
    line = px["log"].wait_for('"GET /early/x HTTP/1.1"')
    assert " 200 " in line
