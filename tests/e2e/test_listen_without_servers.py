"""A 2.x `listen` (its address on a `bind` line) with no server: 2.6 accepts it, its rules answer
what they answer and the rest gets a 503. HAProxy 1.2 refused such a proxy ("has no dispatch
address..."), which pyhaproxy still does for a 1.x `listen NAME ADDR` (tests/unit/test_parser.py).
Both binaries."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports
from tests.helpers.net import LOCALHOST, recv_until_closed

pytestmark = pytest.mark.timeout(60)


def http_request(port: int, raw: bytes) -> bytes:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(raw)
        return recv_until_closed(s)

CFG = """
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
listen answers
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string ok if { path /ok }
"""


def test_listen_without_servers_answers_with_its_rules_and_503(proxy: Any, binary: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    proxy.start(CFG, port=port)
    ok = http_request(port, b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200") and ok.endswith(b"ok"), (binary, ok)
    other = http_request(port, b"GET /else HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert other.startswith(b"HTTP/1.1 503"), (binary, other)
