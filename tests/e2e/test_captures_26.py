"""2.x captures: `declare capture`, `http-request capture SAMPLE len|id`, `http-response capture
SAMPLE id`, beside 1.x's `capture request|response header`: every slot in configuration order
in the log's `{...}` blocks, each value cut at its slot's length.

Differential: the test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy) with
the same configuration, and compares the captures of the log line exactly.
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
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    capture request header User-Agent len 10
    declare capture request len 20
    declare capture response len 8
    http-request capture req.hdr(host),lower len 6
    http-request capture path id 1
    http-response capture res.hdr(x-kind) id 0
    capture response header Content-Length len 5
    default_backend web
backend web
    server s 127.0.0.1:{pw}
"""


def test_captures_in_the_log(proxy: Any, binary: str, http_backend: Callable[..., Any],  # noqa: F811
                             syslog: Any) -> None:
    (port,) = free_ports(1)
    web = http_backend(name="W")
    web.set_response(headers=[("X-Kind", "application/x-long-kind")], body=b"0123456789" * 20)
    proxy.start(CFG, port=port, pw=web.port, logport=syslog[1])
    with socket.create_connection((LOCALHOST, port), timeout=15) as s:
        s.sendall(b"GET /a/very/long/path/to/test HTTP/1.1\r\nHost: EXAMPLE.COM:80\r\n"
                  b"User-Agent: agent-long-name\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
    (line,) = syslog[0].lines(1)
    assert " {agent-long|/a/very/long/path/to|exampl} {applicat|200} " in line, line
