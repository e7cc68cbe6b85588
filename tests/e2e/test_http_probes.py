"""HTTP connections that end before a request, against pyhaproxy and /usr/sbin/haproxy (2.6):
what 2.6's H1 multiplexer does with them, with `option dontlognull`, `option http-ignore-probes`
or neither. A connection closed (or half-closed) before a complete request is a 400 (its page
when the client still reads), logged `CR--` with the status; one that times out is a 408,
`cR--`. Both count as requests (`req_tot`) and failed requests (`ereq`) of the frontend.
`dontlognull` only keeps the empty ones out of the log; `http-ignore-probes` treats an empty
one as nothing at all: no answer, no log, no counter (a browser's pre-connection)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports, wait_until
from tests.helpers.net import stats_command

pytestmark = pytest.mark.timeout(60)
HOST = "127.0.0.1"

CFG = """
global
    log 127.0.0.1:{logport} local0
    stats socket {sock} level admin
defaults
    mode http
    log global
    option httplog
    {option}
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout http-request 1s
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200
"""

PARTIAL = b"GET / HTTP/1.1\r\nHost"


def _scenario(port: int, name: str) -> tuple[int, bytes]:
    """Run one client; its local port and the status line it read (b"" when none)."""
    c = socket.create_connection((HOST, port), timeout=10)
    cport = c.getsockname()[1]
    with c:
        if name.startswith("partial"):
            c.sendall(PARTIAL)
        if name == "empty-close":
            return cport, b""
        if name.endswith("half-close"):
            c.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := c.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
    return cport, data.split(b"\r\n", 1)[0]


SCENARIOS = ("empty-close", "empty-half-close", "empty-timeout", "partial-half-close", "partial-timeout")
STATUS = {"empty-close": "400", "empty-half-close": "400", "empty-timeout": "408",
          "partial-half-close": "400", "partial-timeout": "408"}
PAGE = {"400": b"HTTP/1.1 400 Bad request", "408": b"HTTP/1.1 408 Request Time-out"}


@pytest.mark.parametrize("option", ["", "option dontlognull", "option http-ignore-probes"])
def test_connections_without_a_request(proxy: Any, binary: str, syslog: Any, tmp_path: Path,  # noqa: F811
                                       option: str) -> None:
    log, logport = syslog
    (port,) = free_ports(1)
    sock = tmp_path / "admin.sock"
    proxy.start(CFG, port=port, logport=logport, sock=sock, option=option)
    ignored = {"empty-half-close", "empty-timeout", "empty-close"} if "ignore" in option else set()
    unlogged = ignored | ({"empty-half-close", "empty-timeout", "empty-close"} if "dontlognull" in option
                          else set())
    ports = {}
    for name in SCENARIOS:
        cport, status_line = _scenario(port, name)
        ports[cport] = name
        if name == "empty-close":
            continue        # (nothing read: the page, if any, meets a closed socket)
        assert status_line == (b"" if name in ignored else PAGE[STATUS[name]]), (name, status_line)
    # a last, complete request: its line comes after every line of the connections above
    _, ok = _scenario_ok(port)
    assert ok == b"HTTP/1.1 200 OK"
    lines = log.lines_with("fe/<NOSRV>", len(SCENARIOS) - len(unlogged) + 1)
    seen = {}
    for line in lines:
        fields = line.split("]: ", 1)[1].split()
        cport = int(fields[0].rsplit(":", 1)[1])
        seen[ports.get(cport, "complete")] = (fields[5], fields[9])
    want = {name: (STATUS[name], "CR--" if STATUS[name] == "400" else "cR--")
            for name in SCENARIOS if name not in unlogged}
    want["complete"] = ("200", "LR--")
    assert seen == want
    failed = len(SCENARIOS) - len(ignored)

    def counters() -> tuple[str, ...] | None:
        rows = [r.split(",") for r in stats_command(sock, "show stat").splitlines()]
        head = [rows[0][0].lstrip("# "), *rows[0][1:]]
        fe = next(r for r in rows[1:] if len(r) > 2 and r[1] == "FRONTEND")
        got = tuple(fe[head.index(k)] for k in ("ereq", "req_tot", "hrsp_4xx"))
        return got if got == (str(failed), str(failed + 1), str(failed)) else None

    wait_until(counters, 10, message=f"ereq, req_tot, hrsp_4xx = {failed}, {failed + 1}, {failed}")


def _scenario_ok(port: int) -> tuple[int, bytes]:
    with socket.create_connection((HOST, port), timeout=10) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := c.recv(4096):
            data += chunk
        return c.getsockname()[1], data.split(b"\r\n", 1)[0]
