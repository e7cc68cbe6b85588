"""The connection counts of a log line (actconn/feconn/beconn/srv_conn/retries), as 2.6 logs
them: a session's final line is written after it has left its server and its backend, so those
two counts are the other sessions' only, while actconn and feconn still count it. Differential:
each test runs against pyhaproxy and /usr/sbin/haproxy."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from typing import Any

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers.net import LOCALHOST, free_ports

TCP_CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode tcp
    log global
    option tcplog
    timeout client 10s
    timeout connect 5s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{bport}
listen li
    bind 127.0.0.1:{lport}
    server s1 127.0.0.1:{bport}
"""

HTTP_CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 10s
    timeout connect 5s
    timeout server 10s
listen li
    bind 127.0.0.1:{port}
    server s1 127.0.0.1:{bport}
"""


def counts(line: str) -> str:
    m = re.search(r" (\d+/\d+/\d+/\d+/\d+) \d+/\d+", line)
    assert m, line
    return m.group(1)


def echo_once(s: socket.socket) -> None:
    s.sendall(b"ping")
    got = b""
    while len(got) < 4:
        d = s.recv(4 - len(got))
        assert d
        got += d


def test_tcp_line_counts_exclude_the_ended_session(proxy: Any, binary: str, syslog: Any,  # noqa: F811
                                                   tcp_echo_backend: Callable[..., Any]) -> None:
    """Two sessions through a frontend/backend pair and two through a `listen`, the first of
    each closed while the other is open: 2/2/1/1/0 for both kinds of proxy (the other one is
    still in the backend and on the server), and the last one alone 1/1/0/0/0."""
    log, logport = syslog
    port, lport = free_ports(2)
    be = tcp_echo_backend()
    proxy.start(TCP_CFG, logport=logport, port=port, lport=lport, bport=be.port)
    for p, name in ((port, "fe be/s1"), (lport, "li li/s1")):
        a = socket.create_connection((LOCALHOST, p))
        b = socket.create_connection((LOCALHOST, p))
        try:
            echo_once(a)
            echo_once(b)
            a.close()
            first = log.lines_with(name, 1)[0]
            assert counts(first) == "2/2/1/1/0", first
            # (2.6 logs a session before its thread has freed it: on a loaded machine the
            # other one could end before, and still count it. Let it settle first.)
            time.sleep(0.3)
        finally:
            b.close()
        last = log.lines_with(name, 1)[0]
        assert counts(last) == "1/1/0/0/0", last


def test_http_keepalive_lines_exclude_the_server(proxy: Any, binary: str, syslog: Any,  # noqa: F811
                                                 http_backend: Callable[..., Any]) -> None:
    """Each request of a kept-alive connection is logged with its server slot given back:
    1/1/0/0/0, the connection itself still open."""
    log, logport = syslog
    (port,) = free_ports(1)
    be = http_backend()
    proxy.start(HTTP_CFG, logport=logport, port=port, bport=be.port)
    with socket.create_connection((LOCALHOST, port)) as s:
        s.settimeout(10)
        for _ in range(2):
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            deadline = time.monotonic() + 10
            while b"\r\n\r\n" not in data and time.monotonic() < deadline:
                data += s.recv(65536)
            line = log.lines_with("GET / HTTP/1.1", 1)[0]
            assert counts(line) == "1/1/0/0/0", line
