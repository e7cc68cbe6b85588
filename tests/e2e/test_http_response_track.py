"""`http-response track-scN KEY [table T]` and `http-response sc-inc-gpc0(N)`: a counter tracked
on a key only the response knows (a header the server sets), counted per request as 2.6 counts
it (the track counts the request and ends with it, on a kept-alive connection too).

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
backend st
    stick-table type string len 32 size 1k expire 30s store http_req_cnt,gpc0
frontend fe
    bind 127.0.0.1:{port}
    http-response track-sc1 res.hdr(x-user) table st
    http-response sc-inc-gpc0(1) if { status 200 }
    http-response set-header X-Seen %[sc_http_req_cnt(1)]/%[sc_get_gpc0(1)]/\
%[str(alice),table_http_req_cnt(st)]
    default_backend web
backend web
    server s 127.0.0.1:{pw}
"""


def test_tracked_on_a_response_header(proxy: Any, binary: str,  # noqa: F811
                                      http_backend: Callable[..., Any]) -> None:
    (port,) = free_ports(1)
    web = http_backend(name="W")
    web.set_response(headers=[("X-User", "alice")], body=b"ok")
    proxy.start(CFG, port=port, pw=web.port)
    seen = []
    for _conn in range(2):
        with socket.create_connection((LOCALHOST, port), timeout=10) as s:
            for _req in range(2):
                s.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while not data.endswith(b"\r\n\r\nok"):
                    chunk = s.recv(65536)
                    assert chunk, data
                    data += chunk
                head = data.partition(b"\r\n\r\n")[0].decode().split("\r\n")
                seen += [ln.split(":", 1)[1].strip() for ln in head if ln.lower().startswith("x-seen:")]
    assert seen == ["1/1/1", "2/2/2", "3/3/3", "4/4/4"]
