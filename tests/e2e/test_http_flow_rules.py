"""The rule-flow actions of `http-request`/`http-response`: `allow` (the section's remaining
rules of that direction are skipped), `http-request reject` (closed with no answer, logged `PR`),
`set-log-level LEVEL|silent` (the transaction's log line at that level, or none), and
`http-request set-pathq` (the path and the query rewritten).

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(60)

CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.p) path
    http-request allow if { path_beg /open }
    http-request deny if { path_beg /open } || { path_beg /closed }
    http-request reject if { path /drop }
    http-request set-log-level silent if { path /quiet }
    http-request set-log-level err if { path /loud }
    http-request set-pathq /rewritten?x=1 if { path /pq }
    http-response allow if { var(txn.p) -m str /open/skip }
    http-response set-header X-Seen yes
    default_backend web
backend web
    server s 127.0.0.1:{pw}
"""


def _get(port: int, path: str) -> tuple[int, dict[str, str]] | None:
    """One request (the connection closed after it): status and headers, None with no answer."""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    if not data:
        return None
    lines = data.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split(" ", 2)[1]), headers


@pytest.fixture
def started(proxy: Any, binary: str, syslog: Any,  # noqa: F811
            http_backend: Callable[..., Any]) -> tuple[int, Any, Any]:
    (port,) = free_ports(1)
    web = http_backend(name="W")
    proxy.start(CFG, port=port, pw=web.port, logport=syslog[1])
    return port, web, syslog[0]


def test_allow_skips_the_rest_of_the_section(started: tuple[int, Any, Any]) -> None:
    port, _, _ = started
    answer = _get(port, "/open/page")
    assert answer is not None and answer[0] == 200 and answer[1].get("x-seen") == "yes"
    answer = _get(port, "/closed")
    assert answer is not None and answer[0] == 403
    answer = _get(port, "/open/skip")      # http-response allow: set-header skipped
    assert answer is not None and answer[0] == 200 and "x-seen" not in answer[1]


def test_reject_closes_without_an_answer(started: tuple[int, Any, Any]) -> None:
    port, web, log = started
    assert _get(port, "/drop") is None
    line = log.line()
    assert ' PR-- ' in line and '"GET /drop HTTP/1.1"' in line, line
    assert web.request_count() == 0


def test_set_log_level(started: tuple[int, Any, Any]) -> None:
    port, _, log = started
    assert _get(port, "/quiet") is not None
    assert _get(port, "/loud") is not None
    assert _get(port, "/plain") is not None
    plain = log.wait_for('"GET /plain ')        # (the lines before it are kept in log.seen)
    assert plain.startswith("<134>"), plain                                 # local0.info
    loud = [ln for ln in log.seen if '"GET /loud ' in ln]
    assert len(loud) == 1 and loud[0].startswith("<131>"), log.seen         # local0.err
    assert not [ln for ln in log.seen if "/quiet" in ln], log.seen         # silent


def test_set_pathq(started: tuple[int, Any, Any]) -> None:
    port, web, _ = started
    answer = _get(port, "/pq?old=1")
    assert answer is not None and answer[0] == 200
    (req,) = web.wait_requests(1)
    assert req.target == "/rewritten?x=1"
