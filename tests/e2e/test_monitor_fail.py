"""`monitor fail if|unless COND` (2.6, 4.2), against pyhaproxy and /usr/sbin/haproxy (2.6): the
monitor-uri answer is the proxy's 503 page while the condition holds (an `nbsrv` of a backend whose
server is down, the classic use), 200 once it no longer does; neither answer is logged; the
request is counted as intercepted; 2.6's refusals of the keyword's bad forms.
"""

from __future__ import annotations

import socket
from typing import Any

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports, wait_until
from tests.helpers.net import LOCALHOST, stats_command

CFG = """
global
    log 127.0.0.1:{logport} local0
    stats socket {sock} level admin
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    monitor-uri /alive
    acl site_dead nbsrv(be) lt 1
    monitor fail if site_dead
    acl probe hdr(x-probe) -m found
    monitor fail unless !probe
    default_backend be
backend be
    server s1 127.0.0.1:{bport}
"""

PAGE_503 = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\n"
            b"content-type: text/html\r\nconnection: close\r\n\r\n"
            b"<html><body><h1>503 Service Unavailable</h1>\n"
            b"No server is available to handle this request.\n</body></html>\n")


def _answer(port: int, extra: str = "") -> bytes:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET /alive HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_monitor_fail(proxy: Any, binary: str, syslog: Any, http_backend: Any,  # noqa: F811
                      tmp_path: Any) -> None:
    log, logport = syslog
    (port,) = free_ports(1)
    sock = tmp_path / "admin.sock"
    be = http_backend()
    proxy.start(CFG, logport=logport, port=port, bport=be.port, sock=sock)
    wait_until(lambda: sock.exists(), 10, message="the stats socket")
    assert _answer(port).startswith(b"HTTP/1.1 200 OK\r\n")
    assert _answer(port, "X-Probe: 1\r\n") == PAGE_503            # the `unless !probe` rule
    assert stats_command(sock, "disable server be/s1") == "\n"
    assert _answer(port) == PAGE_503                               # nbsrv(be) is 0
    assert stats_command(sock, "enable server be/s1") == "\n"
    assert _answer(port).startswith(b"HTTP/1.1 200 OK\r\n")
    # a request that is not a monitor one is logged, and none of the four before it was
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(b"GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
    line = log.line()
    assert "GET /other" in line, line

    def fe_row() -> list[str]:
        rows = stats_command(sock, "show stat").splitlines()
        return next(r for r in rows if r.startswith("fe,FRONTEND,")).split(",")
    header = stats_command(sock, "show stat").splitlines()[0].lstrip("# ").split(",")
    row = wait_until(lambda: (r if (r := fe_row())[header.index("req_tot")] == "5" else None), 10,
                     message="the five requests counted")
    assert row[header.index("intercepted")] == "4"


def test_monitor_fail_refusals(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    head = ("defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n")
    cases = {
        "frontend fe\n    bind 127.0.0.1:80\n    monitor-uri /m\n    monitor foo\n":
            "parsing [{cfg}:9] : 'monitor' only supports 'fail'.",
        "frontend fe\n    bind 127.0.0.1:80\n    monitor-uri /m\n    monitor fail\n":
            "parsing [{cfg}:9] : 'monitor fail' requires either 'if' or 'unless' followed by a condition.",
        "    monitor fail if TRUE\n":
            "parsing [{cfg}:6] : 'monitor' not allowed in 'defaults' section.",
    }
    cfg = tmp_path / "m.cfg"
    for body, message in cases.items():
        out = proxy.refuses(cfg, head + body)
        assert message.format(cfg=cfg) in out, (body, out)
