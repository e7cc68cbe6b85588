"""HTTP mode's byte counts as haproxy 2.6 makes them: `%U` (bytes_uploaded), `%B` (bytes_read)
and the stats' bin/bout count each message's size in 2.6's internal HTX form, not its bytes
on the wire:

    20 (the start line's block) + its three words (method, URI, version / version, status, reason)
    + each header's name and value (OWS trimmed; Connection's close/keep-alive tokens dropped)
    + 1 (end of headers) + the body's bytes without chunked framing
    + for a chunked body: each trailer's name and value, and 1 (end of trailers)

counted as the message is received (rules that rewrite it change nothing), 1xx answers
included; haproxy's own answers count the same way, but those to a request that could not be
parsed (2.6's H1 multiplexer writes them itself) count nothing. `option logasap` logs `%U` 0
and `%B` with a `+`: the response's head and the body read with it.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations (the numbers were measured with the latter).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary, certs  # noqa: F401  (fixtures)
from tests.helpers import HttpResponse
from tests.helpers.htx import htx_size
from tests.helpers.net import LOCALHOST, free_ports, recv_until_closed, show_stat, wait_until

pytestmark = pytest.mark.timeout(120)

CFG = """
global
    log 127.0.0.1:{logport} local0
    stats socket {sock} level admin
defaults
    mode http
    log global
    log-format "%U %B %ST %{+Q}r"
    retries 0
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
{extra}
    http-request set-var(txn.p) path
    http-response deny if { var(txn.p) -m str /rdeny }
    http-request auth if { path /auth }
    http-request deny if { path_beg /deny }
    http-request redirect location /x if { path /redir }
    http-request return status 200 content-type text/plain string hello if { path /ret }
    http-request return status 404 if { path /ret2 }
    use_backend nosrv if { path /nosrv }
    default_backend web
backend web
    server s 127.0.0.1:{pw}
backend nosrv
    server n 127.0.0.1:{pclosed}
"""

OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
# path -> the server's raw answer
ANSWERS = {
    "/": OK,
    "/abc": "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\n\r\nok",
    "/hdr": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: bb\r\n\r\nok",
    "/post": "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + "x" * 1000,
    "/chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "/trailers": ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: zz\r\n\r\n"),
    "/old": "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "/head": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
    "/eof": "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nokok",
    "/continue": "HTTP/1.1 100 Continue\r\n\r\n" + OK,
    "/rdeny": OK,
    "/ka": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
}

CLOSE = "Connection: close\r\n"      # (dropped from the count: close/keep-alive tokens)
# (request, %U, %B) measured with haproxy 2.6
PROXIED = [
    ("GET / HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 38, 51),
    ("GET /abc HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 41, 53),
    ("GET /hdr HTTP/1.1\r\nHost: x\r\nX-B: cc\r\n" + CLOSE + "\r\n", 46, 56),
    ("POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n" + CLOSE + "\r\nhello", 63, 1052),
    ("GET /chunked HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 45, 62),
    ("GET /trailers HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 46, 69),
    ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + CLOSE +
     "\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: yy\r\n\r\n", 77, 51),
    ("GET /old HTTP/1.0\r\n\r\n", 36, 51),
    ("HEAD /head HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 43, 49),
    ("GET /eof HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 41, 38),
    ("GET /continue HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 46, 91),
    ("GET /ka HTTP/1.1\r\nHost:   x  \r\nConnection: keep-alive, close\r\n\r\n", 40, 51),
    ("GET http://x/abc HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 49, 53),
]
# haproxy's own answers: (request, %U, %B, status)
OWN = [
    ("GET /deny HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 42, 192, 403),
    ("GET /redir HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 43, 83, 302),
    ("GET /ret HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 41, 76, 200),
    ("GET /ret2 HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 42, 56, 404),
    ("GET /nosrv HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 43, 217, 503),
    ("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 0, 0, 400),
    # the body read with the head counts, though never forwarded
    ("POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n" + CLOSE + "\r\nhello", 63, 192, 403),
    ("POST /deny2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + CLOSE +
     "\r\n5\r\nhello\r\n0\r\n\r\n", 74, 192, 403),
    ("POST /auth HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n" + CLOSE + "\r\nhel", 61, 247, 401),
    # a response refused by a rule counts as received, then the 502 that replaces it
    ("GET /rdeny HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n", 43, 260, 502),
]


def _responder(req: Any) -> HttpResponse:
    path = req.target.split("://x", 1)[-1]
    raw = ANSWERS[path]
    return HttpResponse(raw=raw.encode(), close="Connection: close" in raw)


def _start(proxy: Any, http_backend: Any, syslog: Any, extra: str = "") -> tuple[int, str]:
    web = http_backend(responder=_responder)
    port, pclosed = free_ports(2)
    sock = str(proxy.tmp_path / "stats.sock")
    proxy.start(CFG, port=port, logport=syslog[1], pw=web.port, pclosed=pclosed, extra=extra, sock=sock)
    return port, sock


def _exchange(port: int, request: str) -> bytes:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(request.encode())
        return recv_until_closed(s)


def _counts(lines: list[str]) -> dict[str, tuple[str, str, int]]:
    out = {}
    for ln in lines:
        msg = ln.split("]: ", 1)[1].strip()
        up, down, status, request = msg.split(" ", 3)
        out[request.strip('"')] = (up, down, int(status))
    return out


def _stat(sock: str, name: str, svname: str) -> tuple[int, int]:
    rows = show_stat(sock)
    assert (name, svname) in rows, f"{name}/{svname} not in {sorted(rows)}"
    return int(rows[name, svname]["bin"]), int(rows[name, svname]["bout"])


def _settled_stat(sock: str, name: str, svname: str, want: tuple[int, int]) -> tuple[int, int]:
    """bin/bout of a row once they equal `want`, or as last read after 5 s.

    A session's line is logged before its counters are added, so under load the stats may
    be read in between: read them again until they settle.
    """
    seen: list[tuple[int, int]] = []
    with contextlib.suppress(AssertionError):
        wait_until(lambda: seen.append(_stat(sock, name, svname)) or seen[-1] == want, 5)
    return seen[-1]


def test_proxied_messages_count_their_htx_size(proxy: Any, binary: str,  # noqa: F811
                                               http_backend: Any, syslog: Any) -> None:
    port, sock = _start(proxy, http_backend, syslog)
    for request, _, _ in PROXIED:
        assert _exchange(port, request).startswith(b"HTTP/1.")
    got = _counts(syslog[0].lines(len(PROXIED)))
    want = {r.split("\r\n", 1)[0]: (str(up), str(down), 200) for r, up, down in PROXIED}
    assert got == want
    # the stats count the same bytes, for the frontend, the backend and the server
    total = (sum(up for _, up, _ in PROXIED), sum(down for _, _, down in PROXIED))
    for name, svname in (("fe", "FRONTEND"), ("web", "BACKEND"), ("web", "s")):
        assert _settled_stat(sock, name, svname, total) == total, (name, svname)


def test_own_answers_count_their_htx_size(proxy: Any, binary: str,  # noqa: F811
                                          http_backend: Any, syslog: Any) -> None:
    port, sock = _start(proxy, http_backend, syslog)
    for request, _, _, _ in OWN:
        _exchange(port, request)
    got = _counts(syslog[0].lines(len(OWN)))
    want = {r.split("\r\n", 1)[0]: (str(up), str(down), st) for r, up, down, st in OWN}
    want["<BADREQ>"] = want.pop("GET / HTTP/1.1")
    assert got == want
    # (the answer to a request that could not be parsed is not counted in the stats either)
    total = (sum(o[1] for o in OWN), sum(o[2] for o in OWN))
    assert _settled_stat(sock, "fe", "FRONTEND", total) == total


def test_rewrites_do_not_change_the_counts(proxy: Any, binary: str,  # noqa: F811
                                           http_backend: Any, syslog: Any) -> None:
    """2.6 counts a message as it was received, before the rules change it."""
    extra = ("    option forwardfor\n    http-request set-header X-Foo barbarbar\n"
             "    http-request del-header Host\n    http-response set-header X-R 1\n"
             "    http-after-response set-header X-After 2")
    port, _ = _start(proxy, http_backend, syslog, extra)
    _exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n")
    assert _counts(syslog[0].lines(1)) == {"GET / HTTP/1.1": ("38", "51", 200)}


def test_each_kept_alive_request_counts_its_own(proxy: Any, binary: str,  # noqa: F811
                                                http_backend: Any, syslog: Any) -> None:
    port, _ = _start(proxy, http_backend, syslog)
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b"ok"):
            got += s.recv(4096)
        s.sendall(b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b"0\r\n\r\n"):
            got += s.recv(4096)
        s.sendall(b"POST /abc HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n" + CLOSE.encode() + b"\r\nabc")
        recv_until_closed(s)
    assert _counts(syslog[0].lines(3)) == {
        "GET / HTTP/1.1": ("38", "51", 200),
        "GET /chunked HTTP/1.1": ("45", "62", 200),
        "POST /abc HTTP/1.1": ("60", "53", 200),
    }


def test_logasap(proxy: Any, binary: str, http_backend: Any, syslog: Any) -> None:  # noqa: F811
    """`option logasap`: %U is 0 (2.6 counts it at the end), %B the response's head and the body
    read with it, after a '+'."""
    port, _ = _start(proxy, http_backend, syslog, "    option logasap")
    _exchange(port, "GET /chunked HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n")
    time.sleep(0.2)
    _exchange(port, "HEAD /head HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n")
    assert _counts(syslog[0].lines(2)) == {
        "GET /chunked HTTP/1.1": ("0", "+62", 200),
        "HEAD /head HTTP/1.1": ("0", "+49", 200),
    }



def test_http2_requests_count_their_absolute_uri(proxy: Any, binary: str,  # noqa: F811
                                                 http_backend: Any, syslog: Any) -> None:
    """An HTTP/2 request's HTX form has its URI in absolute form (scheme://authority/path) and
    version HTTP/2.0; its host header comes from :authority. The answers count as over HTTP/1.1."""
    from tests.e2e.test_http2 import h2_exchange
    port, _ = _start(proxy, http_backend, syslog)
    base = [(":scheme", "http"), (":authority", "x")]
    h2_exchange(port, [[(":method", "GET"), (":path", "/"), *base],
                       [(":method", "GET"), (":path", "/chunked"), *base, ("x-b", "cc")]])
    assert _counts(syslog[0].lines(2)) == {
        "GET http://x/ HTTP/2.0": ("46", "51", 200),
        "GET http://x/chunked HTTP/2.0": ("58", "62", 200),
    }




def test_http2_request_bodies(proxy: Any, binary: str, http_backend: Any, syslog: Any) -> None:  # noqa: F811
    """An HTTP/2 request body counts its DATA bytes, with or without content-length (no chunked
    framing: pyhaproxy's HTTP/1.1 reading of a body without a length is not counted)."""
    import h2.config
    import h2.connection
    import h2.events
    port, _ = _start(proxy, http_backend, syslog)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    hd = [(":method", "POST"), (":path", "/abc"), (":scheme", "http"), (":authority", "x")]
    conn.send_headers(1, hd)
    conn.send_data(1, b"hello", end_stream=True)
    conn.send_headers(3, [*hd[:1], (":path", "/post"), *hd[2:], ("content-length", "5")])
    conn.send_data(3, b"hello", end_stream=True)
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(conn.data_to_send())
        ended = 0
        while ended < 2:
            data = s.recv(65536)
            assert data
            ended += sum(isinstance(ev, h2.events.StreamEnded) for ev in conn.receive_data(data))
            s.sendall(conn.data_to_send())
    assert _counts(syslog[0].lines(2)) == {
        "POST http://x/abc HTTP/2.0": ("55", "53", 200),
        "POST http://x/post HTTP/2.0": ("71", "1052", 200),
    }


def test_tls_counts_as_plain(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
                             http_backend: Any, syslog: Any) -> None:
    (ptls,) = free_ports(1)
    port, _ = _start(proxy, http_backend, syslog, f"    bind 127.0.0.1:{ptls} ssl crt {certs['a']}")
    ctx = ssl.create_default_context(cafile=str(certs["ca"]))
    ctx.check_hostname = False
    with socket.create_connection((LOCALHOST, ptls), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="a.example") as s:
        s.sendall(("GET /chunked HTTP/1.1\r\nHost: x\r\n" + CLOSE + "\r\n").encode())
        got = b""
        while not got.endswith(b"0\r\n\r\n"):
            got += s.recv(4096)
    assert _counts(syslog[0].lines(1)) == {"GET /chunked HTTP/1.1": ("45", "62", 200)}


def test_the_tests_model_gives_the_measured_numbers() -> None:
    """tests/helpers/htx.py (what the other tests compute their expectations with) against the
    numbers measured above."""
    for request, up, down in PROXIED:
        path = request.split(" ", 2)[1].split("://x", 1)[-1]
        assert htx_size(request.encode()) == up, request
        assert htx_size(ANSWERS[path].encode(), no_body=request.startswith("HEAD")) == down, request
