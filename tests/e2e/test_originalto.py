"""`option originalto [except NET] [header NAME]` (2.6, 4.2), against pyhaproxy and
/usr/sbin/haproxy (2.6): the address the client connected to, appended after X-Forwarded-For
(a client's own copy is kept before it); the backend's settings win when it asks for the header;
`except` names destination networks.
"""

from __future__ import annotations

import socket
from typing import Any

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports

CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{p1}
    bind 127.0.0.2:{p2}
    option forwardfor
    option originalto
    use_backend named if { dst_port {p2} }
    default_backend plain
backend plain
    server s1 127.0.0.1:{b1}
backend named
    option originalto except 127.0.0.3/32 header X-Dst
    server s2 127.0.0.1:{b2}
frontend fe2
    bind 127.0.0.3:{p3}
    bind 127.0.0.4:{p3}
    option originalto except 127.0.0.3
    default_backend plain
"""


def _get(host: str, port: int, extra: str = "") -> None:
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode())
        while s.recv(65536):
            pass


def test_originalto(proxy: Any, binary: str, http_backend: Any) -> None:  # noqa: F811
    p1, p2, p3 = free_ports(3)
    b1, b2 = http_backend(name="s1"), http_backend(name="s2")
    proxy.start(CFG, p1=p1, p2=p2, p3=p3, b1=b1.port, b2=b2.port)
    _get("127.0.0.1", p1, "X-Original-To: 10.9.9.9\r\n")
    r = b1.requests[-1]
    assert [n.lower() for n, _ in r.headers][-2:] == ["x-forwarded-for", "x-original-to"]
    assert r.header_values("x-original-to") == ["10.9.9.9", "127.0.0.1"]
    # the backend's own settings: its header name
    _get("127.0.0.2", p2)
    r = b2.requests[-1]
    assert r.header_values("x-dst") == ["127.0.0.2"]
    assert r.header_values("x-original-to") == []
    # `except` is about the destination
    _get("127.0.0.3", p3)
    assert b1.requests[-1].header_values("x-original-to") == []
    _get("127.0.0.4", p3)
    assert b1.requests[-1].header_values("x-original-to") == ["127.0.0.4"]


def test_originalto_refusals(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    head = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
    out = proxy.refuses(tmp_path / "o.cfg",
                        head + "frontend fe\n    bind 127.0.0.1:80\n    option originalto if-none\n")
    assert "'option originalto' only supports optional values: 'except' and 'header'." in out
