"""Transfer-Encoding and Content-Length as haproxy 2.6 handles them (what its regression test
http-messaging/http_transfer_encoding.vtc checks, with real sockets and a recording server):

- a request with `Transfer-Encoding: chunked` and `Content-Length` is accepted, forwarded chunked
  without the Content-Length; its answer says `Connection: close` and the connection closes, so
  a request smuggled behind the chunked body is never read;
- an HTTP/1.0 request with `Transfer-Encoding: chunked` is accepted, the connection closes;
- a response with both is read as chunked (the Content-Length dropped, bytes after the last chunk
  ignored); a chunked HTTP/1.0 response is forwarded chunked and the client connection closes;
- the TE request header keeps `trailers` only;
- `chunked, chunked`, `chunked, gzip, chunked`, `chunked, gzip`, `gzip` in a request: 400;
  `gzip, chunked`: 422 (2.6's page, then the close); a bad coding in a response: 502.

Differential: every test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(90)

CFG = """
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{port}
    server s 127.0.0.1:{sport}
"""

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

# what the server answers, by request path (the special ones close after answering)
RESPONSES = {
    b"/rsp10": b"HTTP/1.0 200 Ok\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"/rsp10ka": b"HTTP/1.0 200 Ok\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"3\r\nabc\r\n0\r\n\r\n",
    b"/rsptecl": b"HTTP/1.1 200 Ok\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n"
                 b"0\r\n\r\nResponse splitting attach",
    b"/bad-cc": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    b"/bad-cgc": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip, chunked\r\n\r\n0\r\n\r\n",
    b"/bad-cg": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    b"/bad-g": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
    b"/bad-gc": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
}


class Recorder:
    """A server that records each request (head and body, as received) and answers by path."""

    def __init__(self) -> None:
        self.ls = socket.create_server((LOCALHOST, 0))
        self.ls.settimeout(0.2)
        self.port = self.ls.getsockname()[1]
        self.requests: list[tuple[bytes, dict[str, list[str]], bytes]] = []
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                c, _ = self.ls.accept()
            except OSError:
                continue
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        c.settimeout(5)
        buf = b""
        try:
            for _ in range(20):
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                hdrs: dict[str, list[str]] = {}
                for ln in lines[1:]:
                    n, _, v = ln.partition(b":")
                    hdrs.setdefault(n.decode().strip().lower(), []).append(v.decode().strip())
                body = b""
                if "chunked" in ",".join(hdrs.get("transfer-encoding", [])):
                    while b"0\r\n\r\n" not in buf:
                        d = c.recv(65536)
                        if not d:
                            return
                        buf += d
                    end = buf.index(b"0\r\n\r\n") + 5
                    body, buf = buf[:end], buf[end:]
                elif "content-length" in hdrs:
                    n = int(hdrs["content-length"][0])
                    while len(buf) < n:
                        d = c.recv(65536)
                        if not d:
                            return
                        buf += d
                    body, buf = buf[:n], buf[n:]
                self.requests.append((lines[0], hdrs, body))
                path = lines[0].split(b" ")[1]
                if path in RESPONSES:
                    c.sendall(RESPONSES[path])
                    return
                c.sendall(OK)
        except OSError:
            return
        finally:
            c.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.ls.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def server() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.close()


def start(proxy: Any, server: Recorder) -> int:
    (port,) = free_ports(1)
    proxy.start(CFG, port=port, sport=server.port)
    return port


def exchange(port: int, data: bytes, wait_close: float = 3.0) -> tuple[bytes, bool]:
    """Send data, read until the proxy closes (True) or wait_close seconds pass (False)."""
    with socket.create_connection((LOCALHOST, port), timeout=wait_close) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    return out, True
                out += d
        except ConnectionResetError:
            return out, True
        except TimeoutError:
            return out, False


def head_of(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        n, _, v = ln.partition(":")
        hdrs[n.strip().lower()] = v.strip()
    return int(lines[0].split(" ")[1]), hdrs, body


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("order", ["te-cl", "cl-te"])
def test_request_te_and_cl(proxy: Any, binary: str, server: Recorder, order: str) -> None:  # noqa: F811
    port = start(proxy, server)
    body = b"0\r\n\r\n" + SMUGGLED
    te, cl = b"Transfer-Encoding: chunked\r\n", b"Content-Length: %d\r\n" % len(body)
    hdrs = te + cl if order == "te-cl" else cl + te
    answer, closed = exchange(port, b"POST /p HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n" + body)
    status, rh, rbody = head_of(answer)
    assert status == 200 and rbody == b"ok" and rh.get("connection") == "close", answer
    assert closed, "the client connection must close after the answer"
    assert answer.count(b"HTTP/1.1") == 1, answer
    assert len(server.requests) == 1, server.requests        # /smuggled never reached it
    line, h, b = server.requests[0]
    assert line == b"POST /p HTTP/1.1"
    assert "content-length" not in h and h["transfer-encoding"] == ["chunked"], h
    assert b == b"0\r\n\r\n"


def test_request_te_in_http10(proxy: Any, binary: str, server: Recorder) -> None:  # noqa: F811
    port = start(proxy, server)
    answer, closed = exchange(port, b"POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    b"3\r\nabc\r\n0\r\n\r\n")
    status, rh, _ = head_of(answer)
    assert status == 200 and closed, answer
    assert rh.get("connection") == "close", answer
    line, h, b = server.requests[0]
    assert line == b"POST /p HTTP/1.0" and h["transfer-encoding"] == ["chunked"], h
    assert b == b"3\r\nabc\r\n0\r\n\r\n"


def test_response_te_and_cl(proxy: Any, binary: str, server: Recorder) -> None:  # noqa: F811
    port = start(proxy, server)
    answer, closed = exchange(port, b"GET /rsptecl HTTP/1.1\r\nHost: x\r\n\r\n", wait_close=1.5)
    status, rh, body = head_of(answer)
    assert status == 200 and "content-length" not in rh and rh["transfer-encoding"] == "chunked", answer
    assert body == b"0\r\n\r\n", body          # what follows the last chunk is dropped
    assert not closed, "an HTTP/1.1 client stays"


@pytest.mark.parametrize("path", ["/rsp10", "/rsp10ka"])
def test_response_te_in_http10(proxy: Any, binary: str, server: Recorder, path: str) -> None:  # noqa: F811
    port = start(proxy, server)
    answer, closed = exchange(port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status, rh, body = head_of(answer)
    assert answer.startswith(b"HTTP/1.0 200") and rh["transfer-encoding"] == "chunked", answer
    assert "connection" not in rh, answer       # (its keep-alive is void: 2.6 drops it)
    assert body == b"3\r\nabc\r\n0\r\n\r\n" and closed, answer


@pytest.mark.parametrize("te, kept", [
    (b"trailers, gzip", ["trailers"]),
    (b"gzip", None),
    (b"trailers;q=0.5", None),
    (b"gzip, trailers", ["trailers"]),
    (b"Trailers", None),
    (b"deflate, trailers , x", None),
])
def test_te_request_header(proxy: Any, binary: str, server: Recorder, te: bytes,  # noqa: F811
                           kept: list[str] | None) -> None:
    port = start(proxy, server)
    answer, _ = exchange(port, b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTE: " + te
                         + b"\r\n\r\n0\r\n\r\n", wait_close=1.0)
    assert head_of(answer)[0] == 200, answer
    _, h, _ = server.requests[0]
    assert h.get("te") == kept, h


@pytest.mark.parametrize("te, status", [
    (b"chunked, chunked", 400),
    (b"chunked, gzip, chunked", 400),
    (b"chunked, gzip", 400),
    (b"gzip", 400),
    (b"gzip, chunked", 422),
])
def test_bad_request_coding(proxy: Any, binary: str, server: Recorder, te: bytes,  # noqa: F811
                            status: int) -> None:
    port = start(proxy, server)
    answer, closed = exchange(port, b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te
                              + b"\r\n\r\n0\r\n\r\n")
    assert head_of(answer)[0] == status and closed, answer
    assert server.requests == []
    if status == 422:
        # 2.6's H1 multiplexer writes this page: no connection header, then the close
        assert answer == (b"HTTP/1.1 422 Unprocessable Content\r\nContent-length: 116\r\n"
                          b"Cache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n"
                          b"<html><body><h1>422 Unprocessable Content</h1>\n"
                          b"The server cannot process the contained instructions.\n</body></html>\n")


PAGE_413 = (b"HTTP/1.1 413 Payload Too Large\r\nContent-length: 106\r\nCache-Control: no-cache\r\n"
            b"Content-Type: text/html\r\n\r\n<html><body><h1>413 Payload Too Large</h1>\n"
            b"The request entity exceeds the maximum allowed.\n</body></html>\n")


@pytest.mark.parametrize("data", [
    b"GET /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HEAD /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /p HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
], ids=["get-chunked", "head-chunked", "get-cl"])
@pytest.mark.parametrize("any_method", [False, True], ids=["default", "h1-accept-payload-with-any-method"])
def test_http10_get_with_a_body(proxy: Any, binary: str, server: Recorder, data: bytes,  # noqa: F811
                                any_method: bool) -> None:
    """2.6 answers 413 to an HTTP/1.0 GET/HEAD/DELETE with a body (chunked now included), unless
    `h1-accept-payload-with-any-method`."""
    (port,) = free_ports(1)
    glob = "global\n    h1-accept-payload-with-any-method\n" if any_method else ""
    proxy.start(glob + CFG, port=port, sport=server.port)
    answer, closed = exchange(port, data)
    assert closed
    if any_method:
        assert head_of(answer)[0] == 200 and len(server.requests) == 1, answer
    else:
        assert answer == PAGE_413 and server.requests == []


@pytest.mark.parametrize("path", ["/bad-cc", "/bad-cgc", "/bad-cg", "/bad-g", "/bad-gc"])
def test_bad_response_coding(proxy: Any, binary: str, server: Recorder, path: str) -> None:  # noqa: F811
    port = start(proxy, server)
    answer, _ = exchange(port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n", wait_close=1.0)
    assert head_of(answer)[0] == 502, answer
