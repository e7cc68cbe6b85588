"""The pid in a log line is the started process's (the pidfile's with -D -p), as HAProxy logs
it; it was the worker's. Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too."""

from __future__ import annotations

import re
import socket

import pytest

from tests.helpers import free_ports, read_pidfile

pytestmark = pytest.mark.timeout(60)

CONFIG = """
    defaults
        mode http
        log 127.0.0.1:{logport} local0
        option httplog
        timeout connect 5s
        timeout client 10s
        timeout server 10s
    frontend fe
        bind 127.0.0.1:{port}
        default_backend be
    backend be
        server b 127.0.0.1:{bport}
    """


def test_daemon_logs_the_pidfile_pid(proxy, http_backend, syslog, tmp_path) -> None:
    backend = http_backend(name="b")
    (port,) = free_ports(1)
    pidfile = tmp_path / "p.pid"
    proxy.start(CONFIG, daemon=True, pidfile=pidfile, port=port, bport=backend.port, logport=syslog[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(4096):
            pass
    line = syslog[0].line()
    m = re.search(r" \S+\[(\d+)\]: ", line)
    assert m, line
    assert int(m[1]) == read_pidfile(pidfile), line
