"""`stick store-response KEY` with `res.cook(NAME)`: the session cookie a server sets is stored
with that server, and `stick match req.cook(NAME)` sends the client's later requests back to it
(2.6's usual persistence on an application's own cookie); `res.cook` also in a header.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(60)

CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend web
backend web
    balance roundrobin
    stick-table type string len 32 size 1k expire 30s
    stick store-response res.cook(SID)
    stick match req.cook(SID)
    http-response set-header X-Sid %[res.cook(SID)]
    http-response set-header X-Sids %[res.cook_cnt]
    server a 127.0.0.1:{pa}
    server b 127.0.0.1:{pb}
"""


def _get(port: int, cookie: str | None) -> dict[str, str]:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        extra = f"Cookie: SID={cookie}\r\n" if cookie else ""
        s.sendall(f"GET / HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (ln.partition(":") for ln in head.decode().split("\r\n")[1:])}
    headers["body"] = body.decode()
    return headers


def test_store_response_then_match(proxy: Any, binary: str,  # noqa: F811
                                   http_backend: Callable[..., Any]) -> None:
    (port,) = free_ports(1)
    a, b = http_backend(name="A"), http_backend(name="B")
    a.set_response(headers=[("Set-Cookie", "SID=alpha; Path=/; HttpOnly"),
                            ("Set-Cookie", "theme=dark")], body=b"A")
    b.set_response(headers=[("Set-Cookie", "SID=beta; Path=/")], body=b"B")
    proxy.start(CFG, port=port, pa=a.port, pb=b.port)
    first = _get(port, None)
    second = _get(port, None)
    assert {first["body"], second["body"]} == {"A", "B"}       # round robin without a cookie
    assert first["x-sid"] == ("alpha" if first["body"] == "A" else "beta")
    # (every NAME=VALUE pair of the Set-Cookie lines counts, attributes included, as 2.6 counts)
    assert first["x-sids"] == ("3" if first["body"] == "A" else "2")
    for sid, server in (("alpha", "A"), ("beta", "B")):
        assert [_get(port, sid)["body"] for _ in range(4)] == [server] * 4
    assert {_get(port, "unknown")["body"] for _ in range(4)} == {"A", "B"}


TCP_CFG = """
defaults
    mode tcp
    timeout client 5s
    timeout connect 2s
    timeout server 5s
listen tok
    bind 127.0.0.1:{port}
    balance roundrobin
    tcp-request inspect-delay 2s
    tcp-request content accept if { req.len gt 0 }
    tcp-response inspect-delay 2s
    tcp-response content accept if { res.len ge 4 }
    stick-table type binary len 4 size 1k expire 30s
    stick store-response res.payload(0,4)
    stick match req.payload(0,4)
    server a 127.0.0.1:{pa}
    server b 127.0.0.1:{pb}
"""


def _tok(port: int, first: bytes) -> bytes:
    """Connect, send `first`, read the server's 4-byte token and the echo."""
    with socket.create_connection((LOCALHOST, port), timeout=5) as s:
        s.sendall(first)
        data = b""
        while len(data) < 4 + len(first):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data[4:] == first, data
    return data[:4]


def test_tcp_store_response_of_a_server_token(proxy: Any, binary: str,  # noqa: F811
                                              tcp_echo_backend: Callable[..., Any]) -> None:
    """TCP mode (2.6's SSL-session-id pattern, with a plain token): each server opens with its
    token, the first 4 bytes of the response are stored with that server, and a client that
    starts with a token is sent to the server that gave it, against the round robin. The
    content rules wait for the client's first bytes (`req.len` may still grow: 2.6 waits; it
    once accepted at once, before any byte, and the match saw nothing)."""
    port, = free_ports(1)
    a = tcp_echo_backend(banner=b"TOKA", name="A")
    b = tcp_echo_backend(banner=b"TOKB", name="B")
    proxy.start(TCP_CFG, port=port, pa=a.port, pb=b.port)
    first = [_tok(port, b"hello") for _ in range(2)]
    assert sorted(first) == [b"TOKA", b"TOKB"], first
    # four times each token: the stored server every time (round robin would alternate)
    for tok in (b"TOKA", b"TOKB"):
        assert [_tok(port, tok + b"-again") for _ in range(4)] == [tok] * 4
    # an unknown token: the round robin again
    assert {_tok(port, b"TOKZ-new") for _ in range(2)} == {b"TOKA", b"TOKB"}
