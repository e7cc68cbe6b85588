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
