"""Keep-alive after haproxy's own answers: 2.6 keeps an HTTP/1.1 client (or an HTTP/1.0 one that
asked for keep-alive) after a deny, a `return`, a redirect, a 401, a tarpit, `monitor-uri` and a
502/503/504 page, when the request was read whole. It writes `connection: close` only when it
closes (the client asked for it, the body was not read, HTTP/1.0 without keep-alive) and
`connection: keep-alive` to a 1.0 client it keeps; a request it cannot parse (400) closes.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(90)

CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    retries 0
    timeout connect 2s
    timeout client 5s
    timeout server 1s
    timeout tarpit 100ms
frontend fe
    bind 127.0.0.1:{port}
    monitor-uri /health
    http-request deny if { path /deny }
    http-request deny deny_status 429 if { path /slow-down }
    http-request return status 200 content-type text/plain string made if { path /made }
    http-request redirect location /elsewhere if { path /moved }
    http-request auth realm fe if { path /private }
    http-request tarpit if { path /tarpit }
    use_backend empty if { path /none }
    use_backend garbage if { path /garbage }
    use_backend mute if { path /mute }
    default_backend web
backend web
    server s 127.0.0.1:{pw}
backend empty
backend garbage
    server s 127.0.0.1:{pgarbage}
backend mute
    server s 127.0.0.1:{pmute}
"""

# (path, status, extra header the answer must carry)
OWN_ANSWERS = [
    ("/deny", 403, None),
    ("/slow-down", 429, None),
    ("/made", 200, ("content-type", "text/plain")),
    ("/moved", 302, ("location", "/elsewhere")),
    ("/private", 401, ("www-authenticate", 'Basic realm="fe"')),
    ("/tarpit", 500, None),
    ("/none", 503, None),
    ("/garbage", 502, None),
    ("/mute", 504, None),
    ("/health", 200, None),
]


def _read_answer(s: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes] | None:
    """One answer from s (content-length delimited), buf keeping what follows; None at EOF."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    buf[:] = rest[length:]
    return int(lines[0].split(" ", 2)[1]), headers, rest[:length]


def _closed(s: socket.socket, buf: bytearray) -> bool:
    """The proxy closes s (EOF or reset), nothing more than what buf holds coming."""
    try:
        return not buf and s.recv(65536) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def farm(http_backend: Callable[..., Any]) -> Iterator[dict[str, int]]:
    """A web server, one that answers garbage and one that never answers."""
    web = http_backend(name="W")
    web.set_response(body=b"fine\n")
    listeners = [socket.create_server((LOCALHOST, 0)) for _ in range(2)]
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve(ls: socket.socket, garbage: bool) -> None:
        ls.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = ls.accept()
            except OSError:
                continue
            held.append(c)
            if garbage:
                c.recv(65536)
                c.sendall(b"this is no HTTP\r\n\r\n")
                c.close()

    threads = [threading.Thread(target=serve, args=(ls, i == 0), daemon=True)
               for i, ls in enumerate(listeners)]
    for t in threads:
        t.start()
    yield {"pw": web.port, "pgarbage": listeners[0].getsockname()[1], "pmute": listeners[1].getsockname()[1]}
    stop.set()
    for t in threads:
        t.join(5)
    for c in held + listeners:
        c.close()


def test_own_answers_keep_the_client(proxy: Any, binary: str, farm: dict[str, int],  # noqa: F811
                                     syslog: Any) -> None:
    (port,) = free_ports(1)
    proxy.start(CFG, port=port, logport=syslog[1], **farm)
    with socket.create_connection((LOCALHOST, port), timeout=15) as s:
        buf = bytearray()
        for path, status, extra in OWN_ANSWERS:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = _read_answer(s, buf)
            assert answer is not None, f"{path}: the connection was closed"
            st, headers, _ = answer
            assert st == status, (path, headers)
            assert "connection" not in headers, (path, headers)
            if extra:
                assert headers[extra[0]] == extra[1], (path, headers)
            # the same connection serves a proxied request after each answer
            s.sendall(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = _read_answer(s, buf)
            assert answer is not None and answer[0] == 200 and answer[2] == b"fine\n", path
    # each request has its own log line: the answer's termination state does not stick to the
    # next request on the connection (monitor-uri is not logged)
    lines = syslog[0].lines(2 * len(OWN_ANSWERS) - 1)
    after = [ln for ln in lines if "GET /after " in ln]
    assert len(after) == len(OWN_ANSWERS) and all(" 200 " in ln and " ---- " in ln for ln in after), after
    deny = [ln for ln in lines if "GET /deny " in ln]
    assert len(deny) == 1 and " 403 " in deny[0] and " PR-- " in deny[0], deny


@pytest.mark.parametrize("request_bytes, header", [
    (b"GET /deny HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "keep-alive"),
    (b"POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", None),
    (b"POST /deny HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", None),
    (b"GET /none HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "keep-alive"),
], ids=["http10-keep-alive", "body-read", "chunked-body-read", "503-http10"])
def test_kept_after_a_whole_request(proxy: Any, binary: str, farm: dict[str, int],  # noqa: F811
                                    syslog: Any, request_bytes: bytes, header: str | None) -> None:
    (port,) = free_ports(1)
    proxy.start(CFG, port=port, logport=syslog[1], **farm)
    with socket.create_connection((LOCALHOST, port), timeout=15) as s:
        buf = bytearray()
        s.sendall(request_bytes)
        answer = _read_answer(s, buf)
        assert answer is not None and answer[1].get("connection") == header, answer
        s.sendall(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_answer(s, buf)
        assert answer is not None and answer[0] == 200, answer


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /deny HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 403),
    (b"GET /deny HTTP/1.0\r\n\r\n", 403),
    (b"POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\nhel", 403),
    (b"POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 403),
], ids=["connection-close", "http10", "body-not-read", "expect-100"])
def test_closed_with_connection_close(proxy: Any, binary: str, farm: dict[str, int],  # noqa: F811
                                      syslog: Any, request_bytes: bytes, status: int) -> None:
    (port,) = free_ports(1)
    proxy.start(CFG, port=port, logport=syslog[1], **farm)
    with socket.create_connection((LOCALHOST, port), timeout=15) as s:
        buf = bytearray()
        s.sendall(request_bytes)
        answer = _read_answer(s, buf)
        assert answer is not None and answer[0] == status and answer[1].get("connection") == "close", answer
        assert _closed(s, buf)


def test_bad_request_closes(proxy: Any, binary: str, farm: dict[str, int],  # noqa: F811
                            syslog: Any) -> None:
    (port,) = free_ports(1)
    proxy.start(CFG, port=port, logport=syslog[1], **farm)
    with socket.create_connection((LOCALHOST, port), timeout=15) as s:
        buf = bytearray()
        s.sendall(b"GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_answer(s, buf)
        assert answer is not None and answer[0] == 400 and answer[1].get("connection") == "close", answer
        assert _closed(s, buf)


def test_pipelined_request_after_a_deny(proxy: Any, binary: str, farm: dict[str, int],  # noqa: F811
                                        syslog: Any) -> None:
    (port,) = free_ports(1)
    proxy.start(CFG, port=port, logport=syslog[1], **farm)
    with socket.create_connection((LOCALHOST, port), timeout=15) as s:
        buf = bytearray()
        s.sendall(b"POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbodyGET /made HTTP/1.1\r\n"
                  b"Host: x\r\n\r\nGET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        statuses = []
        while (answer := _read_answer(s, buf)) is not None:
            statuses.append((answer[0], answer[2]))
        assert statuses == [(403, statuses[0][1]), (200, b"made"), (200, b"fine\n")], statuses
