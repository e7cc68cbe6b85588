"""`bind unix@/path`, `bind /path` and `bind abns@NAME` for proxies: HTTP over a UNIX stream
socket, the socket file's `mode`, a stale file replaced, 2.6's log of such a client
(`unix:<listener id>`) and no X-Forwarded-For (there is no client IP to tell).
Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too."""

from __future__ import annotations

import os
import re
import socket
import stat

import pytest

from tests.helpers import free_ports, wait_until
from tests.helpers.servers import HttpServer

pytestmark = pytest.mark.timeout(60)


def get(addr: str | bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(addr)
        s.sendall(b"GET /u HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_unix_and_abstract_binds(proxy, http_backend, tmp_path, syslog) -> None:
    logs, lport = syslog
    backend: HttpServer = http_backend(name="b")
    (port,) = free_ports(1)
    path_a = tmp_path / "a.sock"
    path_b = tmp_path / "b.sock"
    # a socket file left behind by an earlier instance is replaced
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(path_b))
    abns = f"pyhaproxy-test-bind-{os.getpid()}-{port}"
    proxy.start("""
    global
        log 127.0.0.1:{lport} local0
    defaults
        mode http
        log global
        option httplog
        option forwardfor
        timeout connect 2s
        timeout client 10s
        timeout server 10s
    frontend fe
        bind 127.0.0.1:{port}
        bind unix@{path_a} mode 600
        bind {path_b}
        bind abns@{abns}
        default_backend be
    backend be
        server s1 127.0.0.1:{bport}
    """, port=port, path_a=path_a, path_b=path_b, abns=abns, bport=backend.port, lport=lport,
        wait=[("127.0.0.1", port)])
    wait_until(lambda: path_a.exists() and path_b.exists(), 10, message="socket files")
    assert stat.S_ISSOCK(path_a.stat().st_mode) and stat.S_IMODE(path_a.stat().st_mode) == 0o600
    padded = (b"\0" + abns.encode()).ljust(108, b"\0")  # 2.6's abns@ address: the whole sun_path
    for addr in (str(path_a), str(path_b), padded):
        assert get(addr).split(b" ", 2)[1] == b"200"
    wait_until(lambda: len(backend.requests) >= 3, 10, message="three requests")
    assert all(not any(n.lower() == "x-forwarded-for" for n, _ in r.headers) for r in backend.requests)
    # 2.6 logs a UNIX client as unix:<the listener's id in its frontend> (bind order: 2, 3, 4)
    ids = [re.search(r"\]: unix:(\d+) \[.* fe be/s1 ", line) for line in logs.lines(3)]
    assert [m.group(1) if m else None for m in ids] == ["2", "3", "4"]
