"""The last second's rates in `show info` (ConnRate, SessRate, SslRate... and their maxima) and
in `show stat` (rate, rate_max, req_rate, req_rate_max, conn_rate, conn_rate_max), the fields
dashboards graph. pyhaproxy's master samples the workers' totals once a second
(pyhaproxy/stats/rates.py); 2.6 keeps frequency counters. A rate depends on when it is read,
so the test asserts what holds whenever it is read: the maxima saw the burst, no rate exceeds
the burst, an idle proxy shows 0.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations.
"""

from __future__ import annotations

import csv
import io
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(60)

CFG = """
global
    stats socket {sock} level admin
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
listen web
    bind 127.0.0.1:{port}
    server s 127.0.0.1:{pw}
listen idle
    bind 127.0.0.1:{port2}
    server s 127.0.0.1:{pw}
frontend metrics
    bind 127.0.0.1:{port3}
    http-request use-service prometheus-exporter
"""
BURST = 12


def _cli(sock: Path, command: str) -> str:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(sock))
    s.sendall(command.encode() + b"\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data.decode()


def test_rates_after_a_burst(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                             http_backend: Callable[..., Any]) -> None:
    port, port2, port3 = free_ports(3)
    web = http_backend(name="W")
    sock = tmp_path / "stats.sock"
    proxy.start(CFG, port=port, port2=port2, port3=port3, pw=web.port, sock=sock)
    for _ in range(BURST):
        with socket.create_connection((LOCALHOST, port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(65536):
                pass
    time.sleep(2.5)     # (at least two samples after the burst: its second is complete)
    info = dict(line.split(": ", 1) for line in _cli(sock, "show info").splitlines() if ": " in line)
    for field in ("ConnRate", "SessRate", "SslRate", "MaxConnRate", "MaxSessRate", "MaxSslRate",
                  "SslFrontendKeyRate", "SslFrontendMaxKeyRate", "ConnRateLimit", "SessRateLimit"):
        assert info[field].isdigit(), (field, info.get(field))
    assert 1 <= int(info["MaxConnRate"]) <= BURST and 1 <= int(info["MaxSessRate"]) <= BURST, info
    assert int(info["ConnRate"]) <= BURST and int(info["SslRate"]) == 0, info
    stat = _cli(sock, "show stat")
    rows = {(r["# pxname"], r["svname"]): r for r in csv.DictReader(io.StringIO(stat))}
    fe, be = rows[("web", "FRONTEND")], rows[("web", "BACKEND")]
    assert 1 <= int(fe["rate_max"]) <= BURST and 1 <= int(fe["req_rate_max"]) <= BURST, fe
    assert 1 <= int(fe["conn_rate_max"]) <= BURST and 1 <= int(be["rate_max"]) <= BURST, (fe, be)
    assert int(fe["rate"]) <= BURST and int(fe["req_rate"]) <= BURST, fe
    idle = rows[("idle", "FRONTEND")]
    assert (idle["rate"], idle["rate_max"], idle["req_rate_max"]) == ("0", "0", "0"), idle
    # the same figures in the exporter, under 2.6's names
    with socket.create_connection((LOCALHOST, port3), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        metrics = b""
        while chunk := s.recv(65536):
            metrics += chunk
    values = {}
    for line in metrics.partition(b"\r\n\r\n")[2].decode().splitlines():
        if line and not line.startswith("#") and " " in line:
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    assert 1 <= values["haproxy_process_max_connection_rate"] <= BURST + 1, values
    assert values["haproxy_process_current_ssl_rate"] == 0
    assert 1 <= values['haproxy_frontend_max_session_rate{proxy="web"}'] <= BURST, values
    assert 1 <= values['haproxy_frontend_http_requests_rate_max{proxy="web"}'] <= BURST, values
    assert 1 <= values['haproxy_backend_max_session_rate{proxy="web"}'] <= BURST, values
    assert values['haproxy_frontend_max_session_rate{proxy="idle"}'] == 0
