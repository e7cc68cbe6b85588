"""End-to-end: frontend/backend sections, named ACLs and use_backend/default_backend.

A frontend routes by Host and path to three backends through ACLs (implicit AND, `||`, `!`,
`-i`, an anonymous `{ }` condition, src and dst_port); a TCP frontend routes on the port the
client connected to. The differential test runs the very same configuration file under Debian's
haproxy (/usr/sbin/haproxy, by full path) and under pyhaproxy and checks that every request
reaches the same backend under both.

These tests also pass against Debian's haproxy 2.6: PYHAPROXY_CMD=/usr/sbin/haproxy.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import free_ports
from tests.helpers.net import wait_listening
from tests.helpers.servers import HttpServer
from tests.helpers.syslog import Syslog

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"
HAPROXY = Path("/usr/sbin/haproxy")

ROUTING = """
global
    maxconn 200
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend www
    bind {host}:{port}
    bind {host}:{alt}
    acl host_static hdr_dom(host) -i static.example
    acl host_api    hdr(host) -i api.example api.example:{port}
    acl is_api      path_beg /api/ /v2/
    acl is_img      path_end .png .jpg
    acl is_head     method HEAD
    acl local       src 127.0.0.0/8
    acl on_alt      dst_port {alt}
    acl admin       path_reg ^/adm(in)?/
    use_backend static if host_static || is_img
    use_backend api if is_api !is_head || host_api
    use_backend api if { hdr_beg(x-route) -i api }
    use_backend static if on_alt local admin
    default_backend web
backend static
    server st 127.0.0.1:{static}
backend api
    server ap 127.0.0.1:{api}
backend web
    server wb 127.0.0.1:{web}
"""

# (method, path, headers, port key) -> the backend that must answer
CASES: list[tuple[str, str, dict[str, str], str, str]] = [
    ("GET", "/", {"Host": "www.example"}, "port", "web"),
    ("GET", "/index.html", {"Host": "static.example"}, "port", "static"),
    ("GET", "/x", {"Host": "img.STATIC.example:8080"}, "port", "static"),
    ("GET", "/x", {"Host": "notstatic.example"}, "port", "web"),
    ("GET", "/logo.png", {"Host": "www.example"}, "port", "static"),
    ("GET", "/logo.png?v=1", {"Host": "www.example"}, "port", "static"),
    ("GET", "/api/users", {"Host": "www.example"}, "port", "api"),
    ("GET", "/api/users?q=1", {"Host": "www.example"}, "port", "api"),
    ("HEAD", "/api/users", {"Host": "www.example"}, "port", "web"),
    ("GET", "/v2/items", {"Host": "www.example"}, "port", "api"),
    ("GET", "/apix", {"Host": "www.example"}, "port", "web"),
    ("GET", "/", {"Host": "API.example"}, "port", "api"),
    ("GET", "/", {"Host": "www.example", "X-Route": "Api-v1"}, "port", "api"),
    ("GET", "/", {"Host": "www.example", "X-Route": "web"}, "port", "web"),
    ("GET", "/admin/", {"Host": "www.example"}, "alt", "static"),
    ("GET", "/adm/x", {"Host": "www.example"}, "alt", "static"),
    ("GET", "/admin/", {"Host": "www.example"}, "port", "web"),
    ("GET", "/other", {"Host": "www.example"}, "alt", "web"),
    ("GET", "http://www.example/api/abs", {"Host": "www.example"}, "port", "api"),
]


def request(port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a new connection (closed after it): status and X-Server value."""
    hdrs = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    raw = f"{method} {path} HTTP/1.1\r\n{hdrs}Connection: close\r\n\r\n".encode()
    with socket.create_connection((HOST, port), timeout=15) as s:
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    server = b""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"x-server":
            server = value.strip()
    return status, server


def keepalive_requests(port: int, paths: list[tuple[str, dict[str, str]]]) -> list[bytes]:
    """Several GETs on one kept-alive connection; the X-Server of each answer."""
    out = []
    with socket.create_connection((HOST, port), timeout=15) as s:
        f = s.makefile("rb")
        for path, headers in paths:
            hdrs = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            s.sendall(f"GET {path} HTTP/1.1\r\n{hdrs}\r\n".encode())
            length = 0
            server = b""
            f.readline()
            while True:
                line = f.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                if name.lower() == b"x-server":
                    server = value.strip()
            f.read(length)
            out.append(server)
    return out


@pytest.fixture
def farm(http_backend: Callable[..., HttpServer]) -> dict[str, HttpServer]:
    return {name: http_backend(name=name) for name in ("static", "api", "web")}


def routing_values(farm: dict[str, HttpServer]) -> dict[str, object]:
    port, alt = free_ports(2)
    return {"host": HOST, "port": port, "alt": alt, "static": farm["static"].port,
            "api": farm["api"].port, "web": farm["web"].port}


def run_cases(values: dict[str, object]) -> list[str]:
    got = []
    for method, path, headers, which, _want in CASES:
        status, server = request(int(str(values[which])), method, path, headers)
        assert status == 200, (method, path, headers, status)
        got.append(server.decode())
    return got


def test_routing_by_host_and_path_to_three_backends(proxy, farm: dict[str, HttpServer]) -> None:
    values = routing_values(farm)
    proxy.start(ROUTING, **values)
    got = run_cases(values)
    assert got == [want for *_x, want in CASES]
    # each request is routed anew on a kept-alive connection
    seq = keepalive_requests(int(str(values["port"])), [
        ("/api/a", {"Host": "w"}), ("/b", {"Host": "w"}), ("/c.png", {"Host": "w"}),
        ("/api/d", {"Host": "w"}),
    ])
    assert seq == [b"api", b"web", b"static", b"api"]


def test_frontend_log_line_names_frontend_and_backend(proxy, farm: dict[str, HttpServer]) -> None:
    """httplog: `frontend backend/server` (HAProxy 1.3.15+); a listen keeps `name name/server`."""
    # Wait for the request's own line: the master's "Proxy ... started" notice may come first.
    with Syslog(host=HOST) as log:
        values = routing_values(farm)
        values["log"] = log.port
        cfg = ROUTING.replace("defaults\n", "defaults\n    log 127.0.0.1:{log} local0\n"
                              "    option httplog\n", 1)
        proxy.start(cfg, **values)
        request(int(str(values["port"])), "GET", "/api/x", {"Host": "w"})
        line = log.wait_for('"GET /api/x HTTP/1.1"')
        assert " www api/ap " in line, line


def test_tcp_frontend_routes_on_dst_port(proxy, tcp_echo_backend) -> None:
    a = tcp_echo_backend(banner=b"A\n")
    b = tcp_echo_backend(banner=b"B\n")
    p1, p2 = free_ports(2)
    proxy.start("""
        defaults
            mode tcp
            timeout connect 5s
            timeout client 30s
            timeout server 30s
        frontend f
            bind 127.0.0.1:{p1},127.0.0.1:{p2}
            acl second dst_port {p2}
            acl lan src 127.0.0.0/8 ::1
            use_backend bb if second lan
            default_backend ba
        backend ba
            server a 127.0.0.1:{a}
        backend bb
            server b 127.0.0.1:{b}
        """, p1=p1, p2=p2, a=a.port, b=b.port)
    for port, want in ((p1, b"A\n"), (p2, b"B\n"), (p1, b"A\n")):
        with socket.create_connection((HOST, port), timeout=10) as s:
            assert s.recv(2) == want


def test_no_matching_backend_is_503(proxy) -> None:
    (port,) = free_ports(1)
    proxy.start("""
        defaults
            mode http
            timeout connect 5s
            timeout client 30s
            timeout server 30s
        frontend f
            bind 127.0.0.1:{port}
            acl never path /never
            use_backend b if never
        backend b
            server s 127.0.0.1:1
        """, port=port)
    assert request(port, "GET", "/", {"Host": "x"})[0] == 503


@pytest.mark.skipif(not HAPROXY.exists(), reason="Debian's haproxy is not installed")
def test_same_backends_as_haproxy(proxy, farm: dict[str, HttpServer], tmp_path: Path) -> None:
    """Differential: the same file under /usr/sbin/haproxy and pyhaproxy routes alike."""
    values = routing_values(farm)
    cfg = proxy.write_config(ROUTING, name="routing.cfg", **values)
    check = subprocess.run([str(HAPROXY), "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    log = open(tmp_path / "haproxy.log", "wb")
    hap = subprocess.Popen([str(HAPROXY), "-f", str(cfg), "-db"], stdin=subprocess.DEVNULL,
                           stdout=log, stderr=log, start_new_session=True)
    try:
        wait_listening(HOST, int(str(values["port"])))
        wait_listening(HOST, int(str(values["alt"])))
        theirs = run_cases(values)
    finally:
        if hap.poll() is None:
            os.kill(hap.pid, signal.SIGTERM)
            try:
                hap.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(hap.pid, signal.SIGKILL)
                hap.wait(10)
        log.close()
    proxy.start(cfg)
    ours = run_cases(values)
    assert ours == theirs
    assert theirs == [want for *_x, want in CASES]


def test_stats_rows_follow_the_sections(proxy, farm: dict[str, HttpServer]) -> None:
    """A frontend has a FRONTEND row only, a backend a BACKEND row only, a listen both; a listen
    serving only the stats page needs no server (HAProxy 1.3+)."""
    values = routing_values(farm)
    (stats,) = free_ports(1)
    cfg = ROUTING + "listen stats\n    bind 127.0.0.1:{stats}\n    stats enable\n    stats uri /st\n"
    proxy.start(cfg, stats=stats, **values)
    request(int(str(values["port"])), "GET", "/api/x", {"Host": "w"})
    with socket.create_connection((HOST, stats), timeout=10) as s:
        s.sendall(b"GET /st;csv HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    body = data.split(b"\r\n\r\n", 1)[1].decode()
    lines = [line for line in body.splitlines() if "," in line and not line.startswith("#")]
    rows = [tuple(line.split(",")[:2]) for line in lines]
    assert rows == [("www", "FRONTEND"), ("static", "st"), ("static", "BACKEND"), ("api", "ap"),
                    ("api", "BACKEND"), ("web", "wb"), ("web", "BACKEND"), ("stats", "FRONTEND"),
                    ("stats", "BACKEND")]
    api = next(line.split(",") for line in body.splitlines() if line.startswith("api,BACKEND"))
    assert api[7] == "1"     # stot: the session routed to it
