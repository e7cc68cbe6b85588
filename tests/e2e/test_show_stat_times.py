"""`show stat`'s time averages (qtime, ctime, rtime, ttime, in ms over the last 512 streams that
reached a server) and their maxima, on a server and its backend, and 2.6's exporter families for
them (in seconds), on one configuration run through both binaries. The test server answers after
DELAY; its `maxconn 1` queues concurrent requests (qtime). A TCP `listen` in front of the same
server has no response time (rtime 0). Ranges are wide: only the order of magnitude is checked."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.test_show_stat_columns import metrics, request
from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers.net import LOCALHOST, free_ports, show_stat, wait_until
from tests.helpers.servers import HttpResponse

DELAY_MS = 300
NREQ = 3

CFG = """
global
    nbthread 1
    stats socket {sock} level admin
defaults
    mode http
    timeout client 10s
    timeout connect 2s
    timeout server 10s
    timeout queue 10s
frontend fe
    bind 127.0.0.1:{port}
    http-request use-service prometheus-exporter if { path /metrics }
    default_backend slow
backend slow
    server s1 127.0.0.1:{bport} maxconn 1
listen tl
    mode tcp
    bind 127.0.0.1:{tport}
    server s2 127.0.0.1:{bport}
"""

AVERAGES = ("qtime", "ctime", "rtime", "ttime")
MAXIMA = ("qtime_max", "ctime_max", "rtime_max", "ttime_max")
# 2.6's exporter: the column -> the family suffix (haproxy_backend_..., haproxy_server_...)
FAMILIES = {
    "qtime": "queue_time_average_seconds", "ctime": "connect_time_average_seconds",
    "rtime": "response_time_average_seconds", "ttime": "total_time_average_seconds",
    "qtime_max": "max_queue_time_seconds", "ctime_max": "max_connect_time_seconds",
    "rtime_max": "max_response_time_seconds", "ttime_max": "max_total_time_seconds",
}  # fmt: skip


def _tcp_request(port: int) -> bytes:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.split(b"\r\n", 1)[0]


def test_time_averages(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                       http_backend: Callable[..., Any]) -> None:
    be = http_backend(response=HttpResponse(body=b"ok\n", delay=DELAY_MS / 1000))
    port, tport = free_ports(2)
    sock = tmp_path / "stats.sock"
    proxy.start(CFG, sock=sock, port=port, tport=tport, bport=be.port)

    rows = show_stat(sock)
    for key in (("slow", "s1"), ("slow", "BACKEND"), ("tl", "s2"), ("tl", "BACKEND")):
        assert {rows[key][c] for c in AVERAGES + MAXIMA} == {"0"}, (key, rows[key])
    assert rows[("fe", "FRONTEND")]["qtime"] == ""          # (servers and backends only)

    got: list[bytes] = []
    threads = [threading.Thread(target=lambda: got.append(request(port, "/"))) for _ in range(NREQ)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert got == [b"HTTP/1.1 200 OK"] * NREQ
    assert _tcp_request(tport) == b"HTTP/1.1 200 OK"

    def settled() -> dict[tuple[str, str], dict[str, str]] | None:
        r = show_stat(sock)
        done = r[("slow", "BACKEND")]["ttime_max"] != "0" and r[("tl", "BACKEND")]["ttime_max"] != "0"
        return r if done else None

    rows = wait_until(settled, timeout=10)
    for key in (("slow", "s1"), ("slow", "BACKEND"), ("tl", "s2"), ("tl", "BACKEND")):
        v = {c: int(rows[key][c]) for c in AVERAGES + MAXIMA}
        for c in AVERAGES:
            assert v[c] <= v[f"{c}_max"], (key, v)
        assert v["ctime"] < 200 and v["ctime_max"] < 500, (key, v)
        assert 250 <= v["ttime"] <= 2000 + NREQ * DELAY_MS, (key, v)
        if key[0] == "slow":
            assert 250 <= v["rtime"] <= 2000, (key, v)
            # three requests through one slot: the second and third waited, ~300 and ~600 ms
            assert v["qtime"] > 0 and v["qtime_max"] >= 250, (key, v)
            assert v["ttime_max"] >= 2 * 250, (key, v)
        else:
            assert v["rtime"] == 0 and v["rtime_max"] == 0, (key, v)     # (TCP: no response time)
            assert v["qtime"] == 0, (key, v)

    m = metrics(port)
    rows = show_stat(sock)
    for kind, labels, key in (("backend", '{proxy="slow"}', ("slow", "BACKEND")),
                              ("server", '{proxy="slow",server="s1"}', ("slow", "s1"))):
        n = int(rows[key]["req_tot"])
        print(key, {c: rows[key][c] for c in AVERAGES + MAXIMA + ("req_tot",)},
              {fam: m.get(f"haproxy_{kind}_{fam}{labels}") for fam in FAMILIES.values()})
        for col, fam in FAMILIES.items():
            name = f"haproxy_{kind}_{fam}{labels}"
            assert name in m, name
            ms = int(rows[key][col])
            if col in MAXIMA:
                assert float(m[name]) == ms / 1000, (name, m[name], ms)
            else:
                # 2.6's exporter divides the window's sum by 512 however few samples it holds
                # (show stat divides by the requests): ceil(avg * n / 512), give or take the
                # rounding up of the average
                lo, hi = (max(0, ms - 1) * n + 511) // 512, (ms * n + 511) // 512
                assert lo / 1000 <= float(m[name]) <= hi / 1000, (name, m[name], ms, n)


KA_CFG = """
global
    nbthread 1
    stats socket {sock} level admin
defaults
    mode http
    timeout client 10s
    timeout connect 2s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    default_backend app
backend app
    server s1 127.0.0.1:{bport}
"""
PAUSE_MS = 400


def test_a_kept_alive_requests_total_time_counts_its_wait(proxy: Any, binary: str,  # noqa: F811
                                                           tmp_path: Path,
                                                           http_backend: Callable[..., Any]) -> None:
    """Two requests on one connection, PAUSE apart: the second one's total time (ttime_max)
    counts the wait since the first ended, as 2.6's does; its response time does not."""
    be = http_backend(response=HttpResponse(body=b"ok\n", delay=DELAY_MS / 1000))
    (port,) = free_ports(1)
    sock = tmp_path / "stats.sock"
    proxy.start(KA_CFG, sock=sock, port=port, bport=be.port)
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        for i in range(2):
            if i:
                time.sleep(PAUSE_MS / 1000)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            for _ in range(100):
                if data.endswith(b"ok\n"):
                    break
                data += s.recv(65536)
            assert data.startswith(b"HTTP/1.1 200"), data

    def settled() -> dict[str, str] | None:
        r = show_stat(sock)[("app", "BACKEND")]
        return r if r["req_tot"] == "2" and r["ttime_max"] != "0" else None

    row = wait_until(settled, timeout=10)
    v = {c: int(row[c]) for c in AVERAGES + MAXIMA}
    assert 250 <= v["rtime"] <= 2000 and v["rtime_max"] <= 2000, v
    # the second request: its wait (~PAUSE) and its response (>= ~DELAY); without the wait it
    # would be ~DELAY (ranges kept loose for a loaded machine)
    assert v["ttime_max"] >= PAUSE_MS + 250 - 50, v
    assert v["ttime"] >= v["rtime"] + PAUSE_MS // 4, v
