"""`option redispatch [N]` (2.6, 4.2), against pyhaproxy and /usr/sbin/haproxy (2.6): a request
whose cookie names a server that refuses connections is retried there, and redispatched to
another server on every Nth retry (N < 0: the -Nth retry before the last; the default -1: the
last one; 0: never); force-persist keeps it from being redispatched at all. The log line's
retries field (`+` once redispatched), status and server are compared.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports
from tests.helpers.net import LOCALHOST
from tests.helpers.syslog import SYSLOG_RE

CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    timeout client 5s
    timeout connect 100ms
    timeout server 5s
    retries 3
listen li
    bind 127.0.0.1:{port}
    log-format "RC=%rc ST=%ST S=%s"
    cookie SRV
    {option}
    force-persist if { path /forced }
    server a 127.0.0.1:{dead} cookie a
    server b 127.0.0.1:{live} cookie b
"""


@pytest.mark.parametrize(("option", "expected"), [
    ("option redispatch", "RC=+3 ST=200 S=b"),
    ("option redispatch 1", "RC=+1 ST=200 S=b"),
    ("option redispatch 2", "RC=+2 ST=200 S=b"),
    ("option redispatch -2", "RC=+2 ST=200 S=b"),
    ("option redispatch 0", "RC=3 ST=503 S=a"),
    ("no option redispatch", "RC=3 ST=503 S=a"),
])
def test_redispatch_interval(proxy: Any, binary: str, syslog: Any, http_backend: Any,  # noqa: F811
                             option: str, expected: str) -> None:
    log, logport = syslog
    port, dead = free_ports(2)
    live = http_backend(name="b")
    proxy.start(CFG, logport=logport, port=port, dead=dead, live=live.port, option=option)
    for path, want in (("/x", expected), ("/forced", "RC=3 ST=503 S=a")):
        with socket.create_connection((LOCALHOST, port), timeout=10) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nCookie: SRV=a\r\n"
                      "Connection: close\r\n\r\n".encode())
            while s.recv(65536):
                pass
        m = SYSLOG_RE.match(log.line())
        assert m and m["msg"] == want, m
