"""`option dontlog-normal` (2.6, 4.2), against pyhaproxy and /usr/sbin/haproxy (2.6): only the
sessions 2.6 calls errors are logged (a 5xx, a retry or a redispatch, an end other than a normal
or locally answered one); a plain 200 and an `http-request return` are not.
"""

from __future__ import annotations

import socket
from typing import Any

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
    option httplog
    option dontlog-normal
    timeout client 5s
    timeout connect 1s
    timeout server 5s
    retries 0
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200 if { path /local }
    http-request deny if { path /denied }
    use_backend dead if { path /dead }
    default_backend live
backend live
    server s1 127.0.0.1:{live}
backend dead
    server s1 127.0.0.1:{dead}
"""


def test_dontlog_normal(proxy: Any, binary: str, syslog: Any, http_backend: Any) -> None:  # noqa: F811
    log, logport = syslog
    port, dead = free_ports(2)
    live = http_backend()
    proxy.start(CFG, logport=logport, port=port, live=live.port, dead=dead)
    for path in ("/ok", "/local", "/denied", "/ok", "/dead", "/last"):
        with socket.create_connection((LOCALHOST, port), timeout=10) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            while s.recv(65536):
                pass
    lines = []
    for line in log.lines(2):
        m = SYSLOG_RE.match(line)
        assert m, line
        lines.append(m["msg"].split('"')[1])
    # (in any order: 2.6 may log a stream after the client has seen its connection close, so
    # the next request, on another thread, can be logged first: seen once in a loaded CI run)
    assert sorted(lines) == ["GET /dead HTTP/1.1", "GET /denied HTTP/1.1"]
    assert log.quiet_for(0.5) == []     # (nor /last, sent after /dead)
