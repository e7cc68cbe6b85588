"""2.6's stick-table converters: `in_table(T)` and `table_NAME(T)` (http_req_rate, gpc0,
trackers, conn_cnt...) read a table for any key, here the client's address and one never seen;
a key with no entry gives 0 (false for in_table).

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(60)

CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
backend st
    stick-table type ip size 1k expire 30s store http_req_rate(10s),gpc0,http_req_cnt
frontend fe
    bind 127.0.0.1:{port}
    http-request track-sc0 src table st
    http-request sc-inc-gpc0(0) if { path /inc }
    http-request return status 200 content-type text/plain lf-string "\
rate=%[src,table_http_req_rate(st)] cnt=%[src,table_http_req_cnt(st)] in=%[src,in_table(st)] \
other=%[str(10.9.9.9),in_table(st)] gpc0=%[src,table_gpc0(st)] trackers=%[src,table_trackers(st)] \
none=%[str(10.9.9.9),table_http_req_rate(st)] missing=%[src,table_conn_cur(st)] end"
"""


def _body(port: int, path: str) -> str:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.partition(b"\r\n\r\n")[2].decode()


def test_table_converters(proxy: Any, binary: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    proxy.start(CFG, port=port)
    # trackers: the one session tracking the key. 2.6.0 counts its own lookup's reference too
    # (ref_cnt read while the converter holds the entry): 2 there; the documented count here.
    # Under load 2.6 may not have released the previous request's session yet when the next
    # one reads the table (its client closed; 2.6 frees the stream afterwards): one more.
    tr = {"2", "3"} if binary == "haproxy" else {"1"}
    for path, want in (("/", "rate=1 cnt=1 in=1 other=0 gpc0=0 trackers={} none=0 missing= end"),
                       ("/inc", "rate=2 cnt=2 in=1 other=0 gpc0=1 trackers={} none=0 missing= end"),
                       ("/", "rate=3 cnt=3 in=1 other=0 gpc0=1 trackers={} none=0 missing= end")):
        body = _body(port, path)
        got = body.split("trackers=", 1)[1].split()[0] if "trackers=" in body else ""
        assert got in tr and body == want.format(got), (body, tr)


def test_unknown_table_is_refused(proxy: Any, binary: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    cfg = proxy.write_config(f"""
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-header X-R %[src,table_http_req_rate(nowhere)]
    default_backend be
backend be
    server s 127.0.0.1:1
""")
    result = proxy.run(["-c", "-f", str(cfg)])
    assert result.returncode == 1
    assert "unable to find table 'nowhere'" in result.stderr + result.stdout
