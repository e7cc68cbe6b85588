"""`http-after-response` (2.2+): rules on every response sent, the server's after `http-response`
and haproxy's own (an error page, `http-request return`, a redirect, a `deny` page), the
backend's rules then the frontend's.

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
from tests.helpers.servers import HttpResponse

pytestmark = pytest.mark.timeout(60)

CFG = """
defaults
    mode http
    retries 0
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.p) path
    http-request return status 200 content-type text/plain string made if { path /made }
    http-request redirect location /elsewhere code 302 if { path /moved }
    http-request deny if { path /denied }
    http-response set-header X-Stage response
    http-after-response set-header Strict-Transport-Security "max-age=31536000"
    http-after-response set-header X-Stage after
    http-after-response del-header X-Internal
    http-after-response add-header X-Path %[var(txn.p)] if { var(txn.p) -m beg /made }
    use_backend dead if { path /dead }
    default_backend web
backend web
    http-after-response add-header X-Order backend
    http-after-response set-status 203 if { status 200 } { var(txn.p) -m str /status }
    server s 127.0.0.1:{pw}
backend dead
    server s 127.0.0.1:{pdead}
"""


def _head(port: int, path: str) -> tuple[int, dict[str, list[str]]]:
    """One request; the answer's status and headers (names lower-cased, every value kept; the
    status line's reason as the "reason" entry)."""
    with socket.create_connection((LOCALHOST, port), timeout=15) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    headers["reason"] = [head[0].split(" ", 2)[2]]
    return int(head[0].split(" ", 2)[1]), headers


def test_after_response_on_server_and_own_answers(
        proxy: Any, binary: str,  # noqa: F811
        http_backend: Callable[..., Any]) -> None:
    port, dead = free_ports(2)
    web = http_backend(name="W")
    web.set_response(headers=[("X-Internal", "secret"), ("X-Stage", "server")], body=b"hi\n")
    proxy.start(CFG, port=port, pw=web.port, pdead=dead)
    hsts = ["max-age=31536000"]
    st, h = _head(port, "/page")
    assert st == 200 and h["strict-transport-security"] == hsts
    assert h["x-stage"] == ["after"] and "x-internal" not in h and h["x-order"] == ["backend"]
    st, h = _head(port, "/status")
    assert st == 203 and h["x-order"] == ["backend"]
    # haproxy's own answers get them too (the frontend's rules; no backend was chosen)
    st, h = _head(port, "/made")
    assert (st, h["strict-transport-security"], h["x-stage"]) == (200, hsts, ["after"])
    assert h["x-path"] == ["/made"]
    assert "x-order" not in h
    for path, code in (("/moved", 302), ("/denied", 403), ("/dead", 503)):
        st, h = _head(port, path)
        assert (st, h.get("strict-transport-security"), h.get("x-stage")) == (code, hsts, ["after"]), path


RETURN_CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    retries 0
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-response return status 299 content-type text/plain string replaced if { status 404 }
    http-response redirect location /moved code 301 if { status 201 }
    default_backend web
backend web
    server s 127.0.0.1:{pw}
"""


def test_http_response_return_and_redirect(
        proxy: Any, binary: str,  # noqa: F811
        http_backend: Callable[..., Any], syslog: Any) -> None:
    """`http-response return|redirect`: the server's answer replaced by one haproxy makes,
    logged `LH--` with no response time, as 2.6 logs it."""
    (port,) = free_ports(1)
    codes = {"/nope": 404, "/made": 201}
    web = http_backend(name="W", responder=lambda req: HttpResponse(status=codes.get(req.target, 200),
                                                                   body=b"server\n"))
    proxy.start(RETURN_CFG, port=port, pw=web.port, logport=syslog[1])
    log = syslog[0]
    st, h = _head(port, "/nope")
    assert (st, h["reason"], h["content-type"]) == (299, ["Success"], ["text/plain"])
    (line,) = log.lines(1)
    assert " 299 " in line and " LH-- " in line and "/-1/" in line.split(" 299 ")[0], line
    st, h = _head(port, "/made")
    assert (st, h["location"]) == (301, ["/moved"])
    (line,) = log.lines(1)
    assert " 301 " in line and " LH-- " in line, line
    st, _h = _head(port, "/ok")
    assert st == 200
