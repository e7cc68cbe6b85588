"""Stick tables (HAProxy 1.5+, 2.6's semantics): rate limiting with `http-request track-sc0` and
`sc_http_req_rate`, the counters 2.6 keeps (conn_cur, http_req_cnt, http_err_cnt, gpc0), the
`src_*` and `table_*` fetches. Differential: each test runs against pyhaproxy and
/usr/sbin/haproxy (the `binary` fixture) with the same expectations. `nbthread 2` is two
worker processes in pyhaproxy, so every new connection may reach either one: the table is the
same for both. Waits are bounded and only ever checked from below.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture: pyhaproxy, then haproxy)
from tests.helpers.net import LOCALHOST, free_ports, wait_until

pytestmark = pytest.mark.timeout(90)

LIMIT_CFG = """
global
    nbthread 2
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    log-format "pid=%pid status=%ST"
    timeout client 5s
    timeout connect 5s
    timeout server 5s
backend per_ip
    stick-table type ip size 1k expire 10s store http_req_rate(2s)
frontend fe
    bind 127.0.0.1:{port}
    http-request track-sc0 src table per_ip
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 4 }
    http-request return status 200 content-type text/plain lf-string "rate=%[sc_http_req_rate(0)]\\n"
"""

COUNTERS_CFG = """
global
    nbthread 2
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 100 expire 30s {store}
    http-request track-sc1 src
    http-request sc-inc-gpc0(1) if { path /bump }
    http-request return status 200 content-type text/plain string ok if { path /bump }
    http-request return status 200 content-type text/plain lf-string "{body}\\n" if { path /show }
    default_backend app
backend app
    server web1 127.0.0.1:{pb}
"""
BODY = ("cur=%[sc1_conn_cur] cnt=%[sc1_conn_cnt] req=%[sc1_http_req_cnt] err=%[sc1_http_err_cnt] "
        "gpc0=%[sc1_get_gpc0] gpc0r=%[sc_gpc0_rate(1)] src_req=%[src_http_req_cnt] "
        "tracked=%[sc1_tracked] t0=%[sc0_tracked] n=%[table_cnt] avl=%[table_avl]")


def get(port: int, path: str = "/") -> tuple[int, bytes]:
    """One request on its own connection: (status, body)."""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def keepalive(port: int, paths: list[str]) -> list[tuple[int, bytes]]:
    """Several requests on one connection (each answer read by its Content-Length)."""
    out = []
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        f = s.makefile("rb")
        for path in paths:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status = int(f.readline().split(b" ")[1])
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            out.append((status, f.read(length)))
        # the proxy sees the end and closes too before the next request looks at conn_cur (a
        # close without waiting raced with it: haproxy counted this connection still open)
        s.shutdown(socket.SHUT_WR)
        while f.read(65536):
            pass
    return out


def fields(body: bytes) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", body.decode()))


def test_rate_limit_answers_429_at_haproxys_count_from_every_worker(proxy: Any, binary: str,  # noqa: F811
                                                                    syslog: Any) -> None:
    (port,) = free_ports(1)
    _log, logport = syslog
    proxy.start(LIMIT_CFG, port=port, logport=logport)
    answers = [get(port) for _ in range(12)]
    statuses = [a[0] for a in answers]
    # tracked before the deny: every request counts, the 5th is the 5th in 2 s
    assert statuses == [200] * 4 + [429] * 8, statuses
    assert [fields(b)["rate"] for _s, b in answers[:4]] == ["1", "2", "3", "4"]
    if binary == "pyhaproxy":
        # (haproxy's threads share one pid; pyhaproxy's two workers are processes, and the
        # kernel spreads new connections over both: the count above is the shared one)
        more = [get(port) for _ in range(20)]
        assert all(s == 429 for s, _b in more)
    # two periods later the rate has decayed to 0: served again
    time.sleep(4.5)
    status, body = get(port)
    assert status == 200 and fields(body)["rate"] == "1", body


def test_both_workers_share_the_count(proxy: Any, binary: str, syslog: Any) -> None:  # noqa: F811
    """The requests of one client are served by both worker processes (their log lines say
    which) and the rate they show goes 1, 2, 3... across them. pyhaproxy's workers share the
    listening socket and an idle one may take every connection, so each is paused (SIGSTOP)
    in turn to make the other serve; haproxy is one process (two threads): nothing to pause."""
    (port,) = free_ports(1)
    log, logport = syslog
    px = proxy.start(LIMIT_CFG.replace("gt 4", "gt 100"), port=port, logport=logport)
    workers = px.wait_workers(2) if binary == "pyhaproxy" else []
    rates = []
    for paused in (workers or [None, None]):
        if paused is not None:
            os.kill(paused, signal.SIGSTOP)
        try:
            rates += [int(fields(get(port)[1])["rate"]) for _ in range(3)]
        finally:
            if paused is not None:
                os.kill(paused, signal.SIGCONT)
    assert rates == [1, 2, 3, 4, 5, 6]
    pids = {fields(line.encode())["pid"] for line in log.lines(6)}
    assert len(pids) == (2 if binary == "pyhaproxy" else 1), pids


def test_counters_are_haproxys(proxy: Any, binary: str, http_backend: Callable[..., Any]) -> None:  # noqa: F811
    (port,) = free_ports(1)
    app = http_backend(name="APP")
    app.set_response(404)           # what reaches the server is /missing-404
    store = "store conn_cur,conn_cnt,http_req_cnt store http_err_cnt,gpc0,gpc0_rate(10s)"
    proxy.start(COUNTERS_CFG.replace("{body}", BODY).replace("{store}", store), port=port, pb=app.port)
    _s, body = get(port, "/show")
    assert fields(body) == {"cur": "1", "cnt": "1", "req": "1", "err": "0", "gpc0": "0", "gpc0r": "0",
                            "src_req": "1", "tracked": "1", "t0": "0", "n": "1", "avl": "99"}
    get(port, "/bump")
    get(port, "/bump")
    # two requests on one connection: each is tracked (and released) on its own, as 2.6's
    # streams are, so conn_cnt counts requests; each 404 from the server is an HTTP error
    ka = keepalive(port, ["/missing-404", "/missing-404"])
    assert [s for s, _b in ka] == [404, 404]
    _s, body = get(port, "/show")
    f = fields(body)
    assert f == {"cur": "1", "cnt": "6", "req": "6", "err": "2", "gpc0": "2", "gpc0r": "2",
                 "src_req": "6", "tracked": "1", "t0": "0", "n": "1", "avl": "99"}, f


RELOAD_CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 10 expire 60s store http_req_cnt
    http-request track-sc0 src
    http-request return status 200 content-type text/plain lf-string "req=%[sc0_http_req_cnt] {tag}\\n"
"""


def test_a_reload_keeps_a_table_of_the_same_shape(proxy: Any) -> None:
    """pyhaproxy only: its master maps the tables and outlives reloads, so a table whose name
    and shape are unchanged keeps its entries (haproxy 2.6 hands them over only through a
    `peers` section naming the local peer); a table whose shape changed starts empty."""
    (port,) = free_ports(1)
    px = proxy.start(RELOAD_CFG.replace("{tag}", "one"), port=port, extra_args=["-W"])
    for _ in range(3):
        get(port)

    def reload_to(old: str, new: str, change: Callable[[str], str] = lambda t: t) -> int:
        """Reload with tag `new`: the request count the first answer of the new workers shows."""
        px.cfg.write_text(change(px.cfg.read_text()).replace(old, new))
        px.signal(signal.SIGUSR2)
        seen: list[bytes] = []

        def served_by_new() -> bool:
            seen.append(get(port)[1])
            return new.encode() in seen[-1]
        wait_until(served_by_new, timeout=15, message="the reloaded config")
        return int(fields(seen[-1])["req"])

    kept = reload_to("one", "two")
    assert kept >= 4, kept                  # the 3 requests before the reload are still counted
    fresh = reload_to("two", "three", lambda t: t.replace("size 10", "size 20"))
    assert fresh == 1, fresh


TCP_RULES_CFG = """
global
    nbthread 2
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 1k expire 10s store conn_rate(3s),conn_cur,http_req_cnt,gpc0
    tcp-request connection track-sc0 src
    tcp-request connection reject if { sc0_conn_rate gt 3 }
    tcp-request session sc-inc-gpc0(0)
    http-request return status 200 content-type text/plain lf-string "{body}\\n"
"""
TCP_BODY = "rate=%[sc0_conn_rate] cur=%[sc0_conn_cur] req=%[sc0_http_req_cnt] gpc0=%[sc0_get_gpc0]"


def try_get(port: int) -> tuple[int, bytes] | None:
    """A request whose connection may be refused: None when no answer came."""
    try:
        return get(port)
    except (OSError, IndexError, ValueError):
        return None


def test_tcp_request_connection_and_session_rules(proxy: Any, binary: str, syslog: Any) -> None:  # noqa: F811
    """`tcp-request connection track-sc0 src` counts connections (and the requests they carry),
    `reject` closes the 4th one in the period unanswered and unlogged, `tcp-request session
    sc-inc-gpc0` runs once per accepted connection."""
    (port,) = free_ports(1)
    log, logport = syslog
    proxy.start(TCP_RULES_CFG.replace("{body}", TCP_BODY), port=port, logport=logport)
    answers = [try_get(port) for _ in range(5)]
    assert [a is not None for a in answers] == [True, True, True, False, False], answers
    got = [fields(a[1]) for a in answers[:3] if a]
    # (conn_cur may still count the previous connection: the proxy sees its close a moment
    # after the client has read the answer, as it is a different worker)
    assert all(int(f.pop("cur")) >= 1 for f in got), got
    assert got == [{"rate": str(n), "req": str(n), "gpc0": str(n)} for n in (1, 2, 3)]
    assert len(log.lines(3)) == 3
    with pytest.raises(AssertionError):
        log.lines(1, timeout=1.0)        # the rejected connections are not logged


STICK_CFG = """
global
    nbthread 2
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    stick-table type ip size 1k expire 60s
    stick on src
    server s1 127.0.0.1:{p1}
    server s2 127.0.0.1:{p2}
    server s3 127.0.0.1:{p3}
"""


def served_by(port: int, source: str) -> bytes:
    """The body (the server's name) of one request from the client address `source`."""
    with socket.socket() as s:
        s.settimeout(10)
        s.bind((source, 0))
        s.connect((LOCALHOST, port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.partition(b"\r\n\r\n")[2].strip()


def test_stick_on_src_keeps_each_client_on_its_server(proxy: Any, binary: str,  # noqa: F811
                                                       http_backend: Callable[..., Any]) -> None:
    """Round robin spreads three clients; `stick on src` keeps each on its first server
    afterwards (where round robin alone would move it), from whichever worker (pyhaproxy's are
    paused in turn, as above)."""
    (port,) = free_ports(1)
    apps = [http_backend(name=f"s{i}") for i in (1, 2, 3)]
    px = proxy.start(STICK_CFG, port=port, p1=apps[0].port, p2=apps[1].port, p3=apps[2].port)
    clients = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    first = {c: served_by(port, c) for c in clients}
    # (round robin goes on from client to client; pyhaproxy's workers each keep their own
    # round-robin place, so two of the three may start on the same server)
    assert len(set(first.values())) >= 2, first
    workers = px.worker_pids() if binary == "pyhaproxy" else []
    for paused in (workers or [None]):
        if paused is not None:
            os.kill(paused, signal.SIGSTOP)
        try:
            for c in clients * 2:
                assert served_by(port, c) == first[c], c
        finally:
            if paused is not None:
                os.kill(paused, signal.SIGCONT)


def test_stick_on_a_server_gone_down_goes_elsewhere_and_sticks_there(
        proxy: Any, binary: str, http_backend: Callable[..., Any]) -> None:  # noqa: F811
    """A remembered server that is in maintenance is not used (no `option persist`): the
    request is balanced, and the new server is remembered."""
    (port,) = free_ports(1)
    apps = [http_backend(name=f"s{i}") for i in (1, 2, 3)]
    cfg = STICK_CFG.replace("global\n", "global\n    stats socket {sock} level admin\n")
    sock = proxy.tmp_path / "admin.sock"
    proxy.start(cfg, port=port, p1=apps[0].port, p2=apps[1].port, p3=apps[2].port, sock=sock)
    home = served_by(port, "127.0.0.5")
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        s.sendall(f"disable server be/{home.decode()}\n".encode())
        s.recv(4096)
    moved = served_by(port, "127.0.0.5")
    assert moved != home
    assert [served_by(port, "127.0.0.5") for _ in range(3)] == [moved] * 3


CONTENT_CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 1k expire 10s store http_req_cnt,http_req_rate(10s),conn_cur,conn_cnt
    tcp-request inspect-delay 5s
    tcp-request content track-sc0 src
    tcp-request content reject if { sc0_http_req_rate gt 3 }
    http-request return status 200 content-type text/plain lf-string "{body}\\n"
"""
CONTENT_BODY = "req=%[sc0_http_req_cnt] rate=%[sc0_http_req_rate] cnt=%[sc0_conn_cnt]"


def test_tcp_request_content_rules_run_before_the_request_is_counted(
        proxy: Any, binary: str, syslog: Any) -> None:  # noqa: F811
    """`tcp-request content track-sc0` in an HTTP frontend tracks each request, which is counted
    after the content rules ran (2.6's analyser order): the reject sees the 4 earlier requests
    only at the 5th; the rejected one is closed unanswered and logged `PR--` `<BADREQ>`."""
    (port,) = free_ports(1)
    log, logport = syslog
    proxy.start(CONTENT_CFG.replace("{body}", CONTENT_BODY), port=port, logport=logport)
    answers = [try_get(port) for _ in range(5)]
    assert [fields(a[1]) if a else None for a in answers] == [
        {"req": str(n), "rate": str(n), "cnt": str(n)} for n in (1, 2, 3, 4)] + [None]
    lines = log.lines(5)
    assert all(" LR-- " in line for line in lines[:4]), lines
    assert " -1/-1/-1/-1/" in lines[4] and " PR-- " in lines[4] and '"<BADREQ>"' in lines[4], lines[4]


def test_stick_on_src_survives_a_reload(proxy: Any, http_backend: Callable[..., Any]) -> None:
    """pyhaproxy only (its master keeps a table of the same shape across `-W` reloads; 2.6
    needs a peers section naming the local peer): after a reload each client still goes to
    the server it had, where round robin alone would move it."""
    (port,) = free_ports(1)
    apps = [http_backend(name=f"s{i}") for i in (1, 2, 3)]
    px = proxy.start(STICK_CFG.replace("    nbthread 2\n", ""), port=port, p1=apps[0].port,
                     p2=apps[1].port, p3=apps[2].port, extra_args=["-W"])
    clients = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    first = {c: served_by(port, c) for c in clients}
    assert sorted(first.values()) == [b"s1", b"s2", b"s3"], first    # one worker: one round robin
    workers = set(px.worker_pids())
    px.signal(signal.SIGUSR2)
    wait_until(lambda: set(px.worker_pids()) and not (set(px.worker_pids()) & workers), timeout=15,
               message="the new workers alone")
    # (in another order than round robin's, which starts again at s1 in the new worker)
    for c in list(reversed(clients)) * 2:
        assert served_by(port, c) == first[c], c
