"""`show stat` columns that Debian's haproxy 2.6 fills with numbers, on one configuration run
through both binaries: scripts parse them with int(), so an empty field where 2.6 prints `0`
breaks them. The events are made on purpose: a `tcp-request connection` and a `tcp-request
session` reject (dcon, dses), answers of haproxy's own in the frontend (intercepted: a redirect,
`http-request return`, monitor-uri, the stats page; not a deny nor a backend's redirect), a
header rewrite that does not fit (wrew, and the internal error it ends in, eint), and two
sessions to a server (its rate_max)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers.net import LOCALHOST, free_ports, show_stat, wait_until
from tests.helpers.servers import HttpResponse, RecordedRequest

CFG = """
global
    nbthread 1
    stats socket {sock} level admin
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request connection reject if { src 127.0.0.2 }
    tcp-request session reject if { src 127.0.0.3 }
    http-request redirect location /x if { path /redir }
    http-request return status 200 content-type text/plain string hi if { path /ret }
    http-request deny if { path /deny }
    http-request set-header X-C1 %[req.hdr(x-big)] if { path /big }
    http-request set-header X-C2 %[req.hdr(x-big)] if { path /big }
    monitor-uri /mon
    stats enable
    stats uri /stats
    default_backend web
backend web
    http-request redirect location /y if { path /beredir }
    server s1 127.0.0.1:{bport} weight 3
listen li
    bind 127.0.0.1:{lport}
    http-request redirect location /x if { path /redir }
    server s2 127.0.0.1:{bport}
"""

# the columns of this change, by row type, all numbers on both binaries
FRONTEND_NUMBERS = ("comp_in", "comp_out", "comp_byp", "comp_rsp", "intercepted", "dcon", "dses", "wrew",
                    "cache_lookups", "cache_hits", "eint")
SERVER_NUMBERS = ("rate", "rate_max", "wrew", "eint", "uweight")
BACKEND_NUMBERS = ("comp_in", "comp_out", "comp_byp", "comp_rsp", "wrew", "cache_lookups", "cache_hits",
                   "eint", "uweight", "agg_server_status", "agg_server_check_status", "agg_check_status")


def request(port: int, path: str, src: str = LOCALHOST, headers: str = "") -> bytes:
    """One request on its own connection; the answer's status line (b"" when the connection was
    closed or reset without one)."""
    with socket.socket() as s:
        s.settimeout(10)
        s.bind((src, 0))
        data = b""
        try:
            s.connect((LOCALHOST, port))
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode())
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        return data.split(b"\r\n", 1)[0]


def test_show_stat_columns_2_6_fills(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                     http_backend: Callable[..., Any]) -> None:
    be = http_backend()
    port, lport = free_ports(2)
    sock = tmp_path / "stats.sock"
    proxy.start(CFG, sock=sock, port=port, lport=lport, bport=be.port)
    statuses = {path: request(port, path) for path in ("/", "/", "/redir", "/ret", "/deny", "/mon",
                                                        "/stats", "/beredir")}
    assert statuses["/"].endswith(b"200 OK") and statuses["/redir"].endswith(b"302 Found"), statuses
    big = request(port, "/big", headers=f"X-Big: {'b' * 7000}\r\n")
    assert big.startswith(b"HTTP/1.1 500"), big
    assert request(port, "/", src="127.0.0.2") == b""      # (tcp-request connection reject)
    assert request(port, "/", src="127.0.0.3") == b""      # (tcp-request session reject)
    assert request(lport, "/redir").endswith(b"302 Found")

    want = {
        ("fe", "FRONTEND"): {"intercepted": "4", "dcon": "1", "dses": "1", "wrew": "1", "eint": "1",
                             "stot": "9", "conn_tot": "11"},     # (the refused two: connections only)
        ("li", "FRONTEND"): {"intercepted": "1", "dcon": "0", "dses": "0", "wrew": "0", "eint": "0"},
        ("web", "s1"): {"stot": "2", "wrew": "0", "eint": "0", "uweight": "3"},
        ("web", "BACKEND"): {"wrew": "0", "eint": "0", "uweight": "3"},
        ("li", "BACKEND"): {"uweight": "1"},
    }

    def got() -> dict[tuple[str, str], dict[str, str]]:
        rows = show_stat(sock)
        return {k: {c: rows[k][c] for c in cols} for k, cols in want.items()}

    # (a session's counters land after its client saw the close: poll)
    seen: list[dict[tuple[str, str], dict[str, str]]] = []
    with contextlib.suppress(AssertionError):
        wait_until(lambda: seen.append(got()) or seen[-1] == want, timeout=5)
    assert seen[-1] == want, seen[-1]

    # the server's sessions per second: two sessions in the same second or two
    # seconds, as the sampling fell (2.6 counts over a sliding second)
    def srv_rate_max() -> int:
        return int(show_stat(sock)[("web", "s1")]["rate_max"])

    assert 1 <= wait_until(srv_rate_max, timeout=5) <= 2

    rows = show_stat(sock)
    for k, row in rows.items():
        cols = {"FRONTEND": FRONTEND_NUMBERS, "BACKEND": BACKEND_NUMBERS}.get(k[1], SERVER_NUMBERS)
        assert all(row[c].isdigit() for c in cols), (k, {c: row[c] for c in cols})
        if k[1] != "s1" and k[1] != "s2":
            # nothing compresses nor caches; the aggregates 2.6's CSV prints as 0
            assert {row[c] for c in cols if c.startswith(("comp_", "cache_", "agg_"))} == {"0"}, (k, row)


PROMEX_CFG = """
global
    nbthread 1
    stats socket {sock} level admin
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request connection reject if { src 127.0.0.2 }
    http-request redirect location /x if { path /redir }
    http-request use-service prometheus-exporter if { path /metrics }
    default_backend app
backend app
    server s1 127.0.0.1:{bport} weight 3
"""


def metrics(port: int) -> dict[str, str]:
    """The exporter's samples, `name{labels}` -> value (its body read whole, chunked or not)."""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    out = {}
    for line in data.decode("latin-1").splitlines():
        if line.startswith("haproxy_"):
            key, _, value = line.rpartition(" ")
            out[key] = value
    return out


def test_the_same_counts_in_the_exporter(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                         http_backend: Callable[..., Any]) -> None:
    """2.6's exporter names for these counts: the frontend's intercepted requests (the redirect
    and the exporter's own request), denied connections and sessions, rewrites and internal
    errors; compression and cache at 0; the user weights; the server's session rate maximum."""
    be = http_backend()
    (port,) = free_ports(1)
    sock = tmp_path / "stats.sock"
    proxy.start(PROMEX_CFG, sock=sock, port=port, bport=be.port)
    assert request(port, "/").endswith(b"200 OK")
    assert request(port, "/redir").endswith(b"302 Found")
    assert request(port, "/", src="127.0.0.2") == b""

    def settled() -> bool:
        rows = show_stat(sock)
        fe, s1 = rows[("fe", "FRONTEND")], rows[("app", "s1")]
        return (fe["intercepted"], fe["dcon"], s1["stot"]) == ("1", "1", "1")

    wait_until(settled, timeout=5)
    m = metrics(port)
    fe, app, s1 = '{proxy="fe"}', '{proxy="app"}', '{proxy="app",server="s1"}'
    want = {
        f"haproxy_frontend_intercepted_requests_total{fe}": "2",
        f"haproxy_frontend_denied_connections_total{fe}": "1",
        f"haproxy_frontend_denied_sessions_total{fe}": "0",
        f"haproxy_backend_uweight{app}": "3",
        f"haproxy_server_uweight{s1}": "3",
    }
    assert m[f"haproxy_server_last_session_seconds{s1}"].isdigit()       # (one session, just now)
    assert m[f"haproxy_backend_last_session_seconds{app}"].isdigit()
    for labels, kind in ((fe, "frontend"), (app, "backend"), (s1, "server")):
        want[f"haproxy_{kind}_failed_header_rewriting_total{labels}"] = "0"
        want[f"haproxy_{kind}_internal_errors_total{labels}"] = "0"
    for labels, kind in ((fe, "frontend"), (app, "backend")):
        for name in ("http_comp_bytes_in_total", "http_comp_bytes_out_total",
                     "http_comp_bytes_bypassed_total", "http_comp_responses_total",
                     "http_cache_lookups_total", "http_cache_hits_total"):
            want[f"haproxy_{kind}_{name}{labels}"] = "0"
    assert {k: m.get(k) for k in want} == want
    assert m[f"haproxy_server_max_session_rate{s1}"] in ("0", "1")


USED_CFG = """
global
    nbthread 1
    stats socket {sock} level admin
defaults
    mode http
    timeout client 10s
    timeout connect 2s
    timeout server 10s
listen li
    bind 127.0.0.1:{port}
    server s1 127.0.0.1:{bport}
"""


def test_a_servers_connection_in_use(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                     http_backend: Callable[..., Any]) -> None:
    """used_conn_cur: 1 while the server holds the request, 0 once it answered and the client
    left (2.6 then keeps the connection idle, pyhaproxy closes it: their idle counts differ, so
    only the one in use is compared). lastsess: -1 before any session, then seconds since."""
    release = threading.Event()

    def responder(req: RecordedRequest) -> HttpResponse:
        release.wait(10)
        return HttpResponse(200, body=b"ok")

    be = http_backend(responder=responder)
    (port,) = free_ports(1)
    sock = tmp_path / "stats.sock"
    proxy.start(USED_CFG, sock=sock, port=port, bport=be.port)

    def used() -> str:
        return show_stat(sock)[("li", "s1")]["used_conn_cur"]

    def lastsess() -> tuple[str, str]:
        rows = show_stat(sock)
        return rows[("li", "s1")]["lastsess"], rows[("li", "BACKEND")]["lastsess"]

    assert used() == "0"
    assert lastsess() == ("-1", "-1")
    try:
        with socket.create_connection((LOCALHOST, port), timeout=10) as s:
            s.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            wait_until(lambda: used() == "1", timeout=5)
            release.set()
            while s.recv(65536):
                pass
    finally:
        release.set()
    wait_until(lambda: used() == "0", timeout=5)
    assert all(v.isdigit() for v in lastsess()), lastsess()


def test_idle_connections_after_http2_streams(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                              http_backend: Callable[..., Any]) -> None:
    """Three streams one after the other on one HTTP/2 client connection, then the client
    leaves: the server connection they shared stays idle, counted as safe (it carried more than
    one request), none in use."""
    be = http_backend()
    (port,) = free_ports(1)
    sock = tmp_path / "stats.sock"
    proxy.start(USED_CFG, sock=sock, port=port, bport=be.port)
    r = subprocess.run(["h2load", "-c", "1", "-m", "1", "-n", "3", f"http://{LOCALHOST}:{port}/"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert "3 succeeded" in r.stdout, r.stdout
    cols = ("used_conn_cur", "srv_icur", "idle_conn_cur", "safe_conn_cur")

    def conns() -> tuple[str, ...]:
        row = show_stat(sock)[("li", "s1")]
        return tuple(row[c] for c in cols)

    seen: list[tuple[str, ...]] = []
    with contextlib.suppress(AssertionError):
        wait_until(lambda: seen.append(conns()) or seen[-1] == ("0", "1", "0", "1"), timeout=5)
    assert seen[-1] == ("0", "1", "0", "1"), (be.accepted, seen[-1])
