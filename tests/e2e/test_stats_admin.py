"""`stats admin if|unless COND` (2.6, 4.2): the stats page's POST form, against pyhaproxy and
/usr/sbin/haproxy (2.6). A POST is answered with 2.6's redirection (303, `Location: URI;st=CODE`)
whatever it did: DONE, PART, NONE, ERRP, or DENY where the rules do not allow the request; the
server states it sets are those `show stat` then reports. pyhaproxy carries out READY/MAINT (and
2.6's older enable/disable); the other actions of 2.6's form are answered ERRP (not done).
"""

from __future__ import annotations

import socket
from typing import Any

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports, wait_until
from tests.helpers.net import LOCALHOST, stats_command

CFG = """
global
    stats socket {sock} level admin
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
listen stats
    bind 127.0.0.1:{port}
    bind 127.0.0.1:{port2}
    stats enable
    stats uri /stats
    stats admin if { dst_port {port} }
backend be
    server s1 127.0.0.1:{b1}
    server s2 127.0.0.1:{b2}
"""


def _post(port: int, body: str, uri: str = "/stats") -> bytes:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"POST {uri} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def _location(answer: bytes) -> str:
    head = answer.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.1 303 See Other\r\n"), head
    return next(ln.split(":", 1)[1].strip() for ln in head.split("\r\n")
                if ln.lower().startswith("location:"))


def _status(sock: Any, srv: str) -> str:
    rows = stats_command(sock, "show stat").splitlines()
    return next(r for r in rows if r.startswith(f"be,{srv},")).split(",")[17]


def test_stats_admin_form(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    port, port2, b1, b2 = free_ports(4)
    sock = tmp_path / "admin.sock"
    proxy.start(CFG, sock=sock, port=port, port2=port2, b1=b1, b2=b2)
    wait_until(lambda: sock.exists(), 10, message="the stats socket")
    assert _location(_post(port, "s=s1&action=maint&b=be")) == "/stats;st=DONE"
    assert _status(sock, "s1") == "MAINT"
    assert _status(sock, "s2") != "MAINT"
    assert _location(_post(port, "s=s1&s=s2&action=ready&b=be")) == "/stats;st=DONE"
    assert _status(sock, "s1") != "MAINT"
    # the old names, the #id form of the backend (the page's own), a server that is not there
    rows = stats_command(sock, "show stat").splitlines()
    iid = next(r for r in rows if r.startswith("be,BACKEND,")).split(",")[27]
    assert _location(_post(port, f"s=s2&action=disable&b=%23{iid}")) == "/stats;st=DONE"
    assert _status(sock, "s2") == "MAINT"
    assert _location(_post(port, "s=s2&s=nosuch&action=enable&b=be")) == "/stats;st=PART"
    assert _status(sock, "s2") != "MAINT"
    assert _location(_post(port, "s=nosuch&action=maint&b=be")) == "/stats;st=ERRP"
    assert _location(_post(port, "action=maint&b=be")) == "/stats;st=NONE"
    assert _location(_post(port, "s=s1&action=maint&b=nosuch")) == "/stats;st=ERRP"
    assert _location(_post(port, "s=s1&action=sideways&b=be")) == "/stats;st=ERRP"
    # (;norefresh is kept only with a `stats refresh`: none here)
    assert _location(_post(port, "s=s1&action=maint&b=be", "/stats;up;norefresh")) == "/stats;st=DONE;up"
    # not allowed by the rules: denied, nothing changes
    assert _location(_post(port2, "s=s2&action=maint&b=be")) == "/stats;st=DENY"
    assert _status(sock, "s2") != "MAINT"
    # a client's own copy of the worker's header grants nothing
    with socket.create_connection((LOCALHOST, port2), timeout=10) as s:
        body = "s=s2&action=maint&b=be"
        s.sendall(f"POST /stats HTTP/1.1\r\nHost: x\r\nX-Pyhaproxy-Stats-Admin: 0\r\n"
                  f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert _location(data) == "/stats;st=DENY"
    assert _status(sock, "s2") != "MAINT"


def test_stats_admin_refusals(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    head = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
    cases = {
        "listen st\n    bind 127.0.0.1:80\n    stats enable\n    stats admin\n":
            "'stats admin' requires either 'if' or 'unless' followed by a condition.",
        "    stats admin if TRUE\n": "'stats admin' not allowed in 'defaults' section.",
    }
    for body, message in cases.items():
        out = proxy.refuses(tmp_path / "s.cfg", head + body)
        assert message in out, (body, out)


BACKEND_CFG = """
global
    stats socket {sock} level admin
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    use_backend st if { path_beg /stats }
    default_backend be
backend st
    stats enable
    stats uri /stats
    stats admin if TRUE
backend be
    server s1 127.0.0.1:{b1}
"""


def test_stats_of_a_backend_behind_a_frontend(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    """A backend's stats page reached through use_backend (2.6 looks at the frontend's and at the
    backend's `stats uri`); not counted as intercepted by the frontend."""
    port, b1 = free_ports(2)
    sock = tmp_path / "admin.sock"
    proxy.start(BACKEND_CFG, sock=sock, port=port, b1=b1)
    wait_until(lambda: sock.exists(), 10, message="the stats socket")
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    # (pyhaproxy's stats page answers as HTTP/1.0 with Connection: close; 2.6 as HTTP/1.1)
    assert data.split(b"\r\n")[0] in (b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK"), data[:200]
    assert _location(_post(port, "s=s1&action=maint&b=be")) == "/stats;st=DONE"
    assert _status(sock, "s1") == "MAINT"
    rows = stats_command(sock, "show stat").splitlines()
    header = rows[0].lstrip("# ").split(",")
    fe = next(r for r in rows if r.startswith("fe,FRONTEND,")).split(",")
    assert fe[header.index("intercepted")] == "0"
