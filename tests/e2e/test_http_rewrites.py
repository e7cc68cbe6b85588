"""2.x rewrite actions: `http-request set-method`, `set-src`, `replace-header`, `replace-value`,
`replace-path`, `replace-pathq`, `replace-uri`; `http-response set-status [reason]`,
`replace-header`. What the server receives and what the client gets are compared with
haproxy 2.6 on the same configuration (the `binary` fixture). Header names are compared
case-insensitively (2.6 sends them in lower case).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture: pyhaproxy, then haproxy)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(60)

CFG = r"""
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-method POST if { path /m }
    http-request replace-path /old/(.*) /new/\1
    http-request replace-pathq ^/q/([a-z]+)\?id=([0-9]+)$ /items/\2/\1
    http-request replace-uri ^/u/([a-z]+)\?x=(.*)$ /v/\2/\1
    http-request replace-header X-Fwd ^(.*)$ got-\1
    http-request replace-value X-List ^a(.*)$ A\1
    http-request set-src req.hdr(x-real-ip) if { req.hdr(x-real-ip) -m found }
    http-request set-header X-Src %[src]
    http-response replace-header X-Kind ^(.*)$ kind-\1
    http-response set-status 299 reason "Very Fine" if { res.hdr(x-kind) -m found }
    http-response set-status 404 if { status 201 }
    default_backend be
backend be
    server s1 127.0.0.1:{pb}
"""


def exchange(port: int, head: str) -> tuple[bytes, dict[str, str]]:
    """One request (the head, without the final blank line): the status line and the headers."""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(head.encode() + b"\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    lines = data.partition(b"\r\n\r\n")[0].split(b"\r\n")
    hdrs = {k.decode().lower(): v.decode().strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
    return lines[0], hdrs


def seen(app: Any) -> tuple[str, str, dict[str, str]]:
    r = app.requests[-1]
    return r.method, r.target, {k.lower(): v for k, v in r.headers}


def test_request_rewrites(proxy: Any, binary: str, http_backend: Callable[..., Any]) -> None:  # noqa: F811
    (port,) = free_ports(1)
    app = http_backend(name="APP")
    proxy.start(CFG, port=port, pb=app.port)
    exchange(port, "GET /m HTTP/1.1\r\nHost: x")
    assert seen(app)[:2] == ("POST", "/m")
    exchange(port, "GET /old/abc?k=1 HTTP/1.1\r\nHost: x")
    assert seen(app)[1] == "/new/abc?k=1"           # (the query is not part of the path)
    exchange(port, "GET /q/shoe?id=42 HTTP/1.1\r\nHost: x")
    assert seen(app)[1] == "/items/42/shoe"
    exchange(port, "GET /u/abc?x=42 HTTP/1.1\r\nHost: x")
    assert seen(app)[1] == "/v/42/abc"
    exchange(port, "GET /h HTTP/1.1\r\nHost: x\r\nX-Fwd: one\r\nX-List: ab, cd ,aa\r\nX-Real-IP: 10.9.8.7")
    _m, _t, h = seen(app)
    assert (h["x-fwd"], h["x-list"], h["x-src"]) == ("got-one", "Ab, cd ,Aa", "10.9.8.7")
    exchange(port, "GET /h HTTP/1.1\r\nHost: x")
    assert seen(app)[2]["x-src"] == "127.0.0.1"


def test_response_rewrites(proxy: Any, binary: str, http_backend: Callable[..., Any]) -> None:  # noqa: F811
    (port,) = free_ports(1)
    app = http_backend(name="APP")
    proxy.start(CFG, port=port, pb=app.port)
    app.set_response(200, headers=[("X-Kind", "plain")])
    status, h = exchange(port, "GET / HTTP/1.1\r\nHost: x")
    assert status == b"HTTP/1.1 299 Very Fine" and h["x-kind"] == "kind-plain"
    app.set_response(201)
    status, _h = exchange(port, "GET / HTTP/1.1\r\nHost: x")
    assert status == b"HTTP/1.1 404 Not Found"
