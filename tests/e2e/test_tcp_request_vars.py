"""`tcp-request connection|content set-var|set-var-fmt|unset-var|capture` in TCP mode: values
taken from the connection and from the client's first bytes (`inspect-delay`), shown by a
`log-format` line.

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
global
    log 127.0.0.1:{logport} local0
defaults
    mode tcp
    log global
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    log-format "port=%[var(sess.port)] first=%[var(sess.first)] both=%[var(txn.both)] \
cap=%[capture.req.hdr(0)] end"
    tcp-request inspect-delay 2s
    tcp-request connection set-var(sess.port) dst_port
    tcp-request content accept if { req.len lt 4 } WAIT_END
    tcp-request content set-var(sess.first) req.payload(0,4)
    tcp-request content set-var-fmt(txn.both) "%[var(sess.first)]@%[var(sess.port)]"
    tcp-request content capture req.payload(0,3) len 2
    tcp-request content unset-var(sess.port) if { req.payload(0,4) -m str QUIT }
    default_backend be
backend be
    server s 127.0.0.1:{pe}
"""


@pytest.mark.parametrize("data, logged", [
    (b"HELO there", "first=HELO both=HELO@{port} cap=HE end"),
    (b"QUIT now", "first=QUIT both=QUIT@{port} cap=QU end"),
], ids=["kept", "unset"])
def test_variables_and_capture_from_tcp_rules(proxy: Any, binary: str, syslog: Any,  # noqa: F811
                                              tcp_backend: Callable[..., Any], data: bytes,
                                              logged: str) -> None:
    (port,) = free_ports(1)
    echo = tcp_backend()
    proxy.start(CFG, port=port, pe=echo.port, logport=syslog[1])
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(data)
        assert s.recv(64) == data
    line = syslog[0].line()
    # (an unset variable is "-" in a log-format line, as any sample that gives nothing)
    want = ("port=" + ("-" if data.startswith(b"QUIT") else str(port)) + " "
            + logged.format(port=port))
    assert line.rstrip("\n").endswith(want), line
