"""`monitor-uri /path` also answers an absolute-form request (`GET http://host/path`): HAProxy 2.x
compares the path when the monitor-uri starts with `/` (configuration manual, monitor-uri).
Differential: the same test passes with PYHAPROXY_CMD=/usr/sbin/haproxy."""

from __future__ import annotations

import socket

import pytest

from tests.helpers import free_ports

pytestmark = pytest.mark.timeout(60)

CONFIG = """
    defaults
        mode http
        timeout connect 5s
        timeout client 10s
        timeout server 10s
    frontend fe
        bind 127.0.0.1:{port}
        monitor-uri /health
        default_backend be
    backend be
        server b 127.0.0.1:{bport}
    """


def first_line(port: int, target: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(("target", "intercepted"), [
    ("/health", True),
    ("http://example/health", True),
    ("http://example/health?x=1", False),  # the path with its query is compared, as 2.6 does
    ("/healthz", False),
    ("http://example/other", False),
])
def test_monitor_uri_matches_the_path_of_an_absolute_target(proxy, http_backend, target: str,
                                                            intercepted: bool) -> None:
    backend = http_backend(name="b")
    (port,) = free_ports(1)
    proxy.start(CONFIG, port=port, bport=backend.port)
    line = first_line(port, target)
    assert line.split(b" ")[1] == b"200", line
    assert (backend.request_count() == 0) is intercepted
