"""End-to-end tests of the statistics: real `python -m pyhaproxy` processes, real backends.

- counters summed over two workers (nbproc 2, daemon mode) equal what the clients sent and
  received and what each backend counted
- the stats page through the proxy (the worker relays it to the master): Basic auth refused and
  accepted, HTML, `;csv`, `;prometheus` (parsed with prometheus_client)
- the master's internal stats server reached directly on its abstract unix socket
- every stats-socket command through a real unix socket; a server disabled there gets no new
  sessions and gets them again once enabled; level user may not change state
"""

from __future__ import annotations

import base64
import re
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import HttpServer, free_port, wait_until
from tests.helpers.htx import htx_size

pytestmark = pytest.mark.timeout(120)

HOST = "127.0.0.1"
NREQ = 40

CONFIG = r"""
global
    nbproc 2
    stats socket {sock} mode 600 level {level}
listen web {host}:{port}
    mode http
    balance roundrobin
    contimeout 5000
    clitimeout 30000
    srvtimeout 30000
    option httpclose
    server s1 {host}:{b1}
    server s2 {host}:{b2}
    stats enable
    stats uri /haproxy?stats
    stats realm Test\ Realm
    stats auth admin:secret
    stats refresh 10s
"""


def http_exchange(
    port: int, path: str, auth: str | None = None, extra: str = ""
) -> tuple[int, dict[str, str], bytes, int, int]:
    """One HTTP/1.0 request on a new connection: (status, headers, body, bytes sent, bytes received),
    the byte counts as haproxy 2.6 counts them in HTTP mode (HTX sizes, tests/helpers/htx.py)."""
    lines = [f"GET {path} HTTP/1.0", f"Host: {HOST}:{port}"]
    if auth:
        lines.append("Authorization: Basic " + base64.b64encode(auth.encode()).decode())
    data = ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(data)
        resp = b""
        while True:
            got = s.recv(65536)
            if not got:
                break
            resp += got
    head, _, body = resp.partition(b"\r\n\r\n")
    hl = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in hl[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(hl[0].split()[1]), headers, body, htx_size(data), htx_size(resp)


def cli(sock: Path | str | bytes, command: str, timeout: float = 10) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock) if isinstance(sock, Path) else sock)
        s.sendall(command.encode() + b"\n")
        out = b""
        while True:
            got = s.recv(65536)
            if not got:
                return out.decode()
            out += got


def parse_csv(text: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = [x for x in text.splitlines() if x]
    names = lines[0][2:].rstrip(",").split(",")
    rows = {}
    for line in lines[1:]:
        row = dict(zip(names, line[:-1].split(","), strict=True))
        rows[row["pxname"], row["svname"]] = row
    return rows


@pytest.fixture
def farm(proxy, http_backend: Callable[..., HttpServer], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Two backends and pyhaproxy with nbproc 2 (daemon mode) and an admin stats socket."""

    def start(level: str = "admin"):  # type: ignore[no-untyped-def]
        b1 = http_backend(name="s1", keepalive=False)
        b2 = http_backend(name="s2", keepalive=False)
        sock = tmp_path / f"stats-{level}.sock"
        port = free_port()
        px = proxy.start(
            CONFIG, daemon=True, sock=sock, level=level, host=HOST, port=port, b1=b1.port, b2=b2.port
        )
        return px, port, sock, b1, b2

    return start


def test_counters_summed_over_two_workers(farm) -> None:  # type: ignore[no-untyped-def]
    px, port, sock, b1, b2 = farm()
    wait_until(lambda: len(px.worker_pids()) == 2, 10, message="two workers")
    sent = received = 0
    for i in range(NREQ):
        status, _, body, s, r = http_exchange(port, f"/page{i}")
        assert status == 200 and body in (b"s1\n", b"s2\n")
        sent += s
        received += r
    n1, n2 = b1.request_count(), b2.request_count()
    assert n1 + n2 == NREQ and n1 > 0 and n2 > 0

    def settled() -> bool:
        fe = parse_csv(cli(sock, "show stat"))["web", "FRONTEND"]
        return fe["stot"] == str(NREQ) and fe["scur"] == "0" and fe["bout"] == str(received)

    wait_until(settled, 10, message="counters to settle")
    rows = parse_csv(cli(sock, "show stat"))
    fe, be = rows["web", "FRONTEND"], rows["web", "BACKEND"]
    # bin and bout count the messages in their HTX form (as 2.6): the requests as received (the
    # Connection header httpclose adds is not counted), the answers as the clients got them
    got_by_backends = sum(htx_size(r.raw) for r in b1.requests + b2.requests)
    assert got_by_backends == sent
    assert int(fe["bin"]) == got_by_backends and int(fe["bout"]) == received
    assert int(fe["hrsp_2xx"]) == NREQ and int(fe["req_tot"]) == NREQ
    assert int(rows["web", "s1"]["stot"]) == n1 and int(rows["web", "s2"]["stot"]) == n2
    assert int(rows["web", "s1"]["bin"]) == sum(htx_size(r.raw) for r in b1.requests)
    assert int(rows["web", "s2"]["bin"]) == sum(htx_size(r.raw) for r in b2.requests)
    assert int(rows["web", "s1"]["bout"]) + int(rows["web", "s2"]["bout"]) == received
    assert int(be["lbtot"]) == NREQ and be["status"] == "UP" and be["act"] == "2"

    info = dict(line.split(": ", 1) for line in cli(sock, "show info").splitlines() if ": " in line)
    assert info["Nbproc"] == "2" and info["Pid"] == str(px.master_pid)
    assert sorted(int(info[f"Worker{i}_Pid"]) for i in (1, 2)) == px.worker_pids()
    assert int(info["Worker1_RSS_bytes"]) > 1 << 20 and int(info["CumConns"]) == NREQ


def test_stats_page_through_the_proxy(farm) -> None:  # type: ignore[no-untyped-def]
    parser = pytest.importorskip("prometheus_client.parser")
    px, port, sock, b1, b2 = farm()
    for i in range(6):
        assert http_exchange(port, f"/x{i}")[0] == 200

    status, headers, body, _, _ = http_exchange(port, "/haproxy?stats")
    assert status == 401, body
    assert headers["www-authenticate"] == 'Basic realm="Test Realm"'
    assert http_exchange(port, "/haproxy?stats", auth="admin:wrong")[0] == 401

    status, headers, body, _, _ = http_exchange(port, "/haproxy?stats", auth="admin:secret")
    assert status == 200 and headers["content-type"].startswith("text/html")
    page = body.decode()
    assert '<meta http-equiv="refresh" content="10">' in page
    assert ">web</th>" in page and '<tr class="active_nocheck">' in page
    assert b1.request_count() + b2.request_count() == 6  # the stats requests never reached a backend

    status, headers, body, _, _ = http_exchange(port, "/haproxy?stats;csv", auth="admin:secret")
    assert status == 200 and headers["content-type"] == "text/plain"
    rows = parse_csv(body.decode())
    assert set(rows) == {("web", "FRONTEND"), ("web", "s1"), ("web", "s2"), ("web", "BACKEND")}

    status, headers, body, _, _ = http_exchange(port, "/haproxy?stats;prometheus", auth="admin:secret")
    assert status == 200 and "version=0.0.4" in headers["content-type"]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in parser.text_string_to_metric_families(body.decode())
        for s in fam.samples
    }
    assert samples["haproxy_server_status", (("proxy", "web"), ("server", "s1"), ("state", "UP"))] == 1
    assert samples["haproxy_server_status", (("proxy", "web"), ("server", "s1"), ("state", "MAINT"))] == 0
    assert samples["haproxy_frontend_bytes_in_total", (("proxy", "web"),)] > 0
    got = sum(
        samples["haproxy_server_sessions_total", (("proxy", "web"), ("server", s))] for s in ("s1", "s2")
    )
    assert got == 6
    assert samples["haproxy_process_nbproc", ()] == 2


def _internal_address(master_pid: int) -> bytes:
    """The master's abstract stats socket, found in /proc/net/unix (NULs show there as '@')."""
    text = Path("/proc/net/unix").read_text()
    m = re.search(rf"@pyhaproxy-stats-{master_pid}-([0-9a-f]+)", text)
    assert m, "internal stats socket not found"
    name = f"\0pyhaproxy-stats-{master_pid}-{m.group(1)}".encode()
    return name.ljust(108, b"\0")


def test_internal_server_directly(farm) -> None:  # type: ignore[no-untyped-def]
    px, port, sock, _, _ = farm()
    addr = _internal_address(px.master_pid)
    auth = base64.b64encode(b"admin:secret").decode()
    req = f"GET /haproxy?stats;csv HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Basic {auth}\r\n\r\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(addr)
        for i in range(0, len(req), 7):  # a slow client: the master must not wait for it
            s.sendall(req[i : i + 7].encode())
            if i == 7:
                # meanwhile the stats socket still answers
                assert cli(sock, "show info").startswith("Name: pyhaproxy")
        resp = b""
        while chunk := s.recv(65536):
            resp += chunk
    assert resp.startswith(b"HTTP/1.0 200 OK\r\n") and b"\r\n\r\n# pxname,svname," in resp
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(addr)
        s.sendall(b"GET /haproxy?stats HTTP/1.0\r\n\r\n")
        resp = s.recv(65536)
    assert resp.startswith(b"HTTP/1.0 401 Unauthorized\r\n")


def test_socket_commands_and_disable(farm) -> None:  # type: ignore[no-untyped-def]
    px, port, sock, b1, b2 = farm()
    assert oct(sock.stat().st_mode & 0o777) == "0o600"
    assert "show stat" in cli(sock, "help")
    assert cli(sock, "show stat").startswith("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,")
    assert cli(sock, "show stat -1 4 -1").count("\nweb,") == 2
    unknown = cli(sock, "make coffee")
    assert unknown.startswith("Unknown command") and unknown.count("\n") == 2  # one line + the empty one
    assert cli(sock, "disable server web") == "Require 'backend/server'.\n\n"
    assert cli(sock, "disable server nope/s1") == "No such backend.\n\n"
    assert cli(sock, "disable server web/nope") == "No such server.\n\n"
    assert (
        cli(sock, "set weight web/s1 300") == "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    )
    assert cli(sock, "set weight web/s1 5; get weight web/s1") == "\n5 (initial 1)\n\n"
    assert cli(sock, "set weight web/s1 1") == "\n"

    assert cli(sock, "disable server web/s1") == "\n"
    assert parse_csv(cli(sock, "show stat"))["web", "s1"]["status"] == "MAINT"
    before = b1.request_count()
    for i in range(10):
        status, _, body, _, _ = http_exchange(port, f"/d{i}")
        assert status == 200 and body == b"s2\n"
    assert b1.request_count() == before

    assert cli(sock, "enable server web/s1") == "\n"
    assert parse_csv(cli(sock, "show stat"))["web", "s1"]["status"] == "no check"
    for i in range(6):
        assert http_exchange(port, f"/e{i}")[0] == 200
    assert b1.request_count() > before


def test_level_user_cannot_change_state(farm) -> None:  # type: ignore[no-untyped-def]
    px, port, sock, b1, _ = farm(level="user")
    assert cli(sock, "disable server web/s1") == "Permission denied\n\n"
    assert cli(sock, "set weight web/s1 0") == "Permission denied\n\n"
    assert parse_csv(cli(sock, "show stat"))["web", "s1"]["status"] == "no check"
    for i in range(4):
        assert http_exchange(port, f"/u{i}")[0] == 200
    assert b1.request_count() >= 1  # each worker has its own round-robin position


def test_stats_socket_removed_at_exit(farm) -> None:  # type: ignore[no-untyped-def]
    px, port, sock, _, _ = farm()
    assert sock.exists()
    px.signal(signal.SIGUSR1)
    px.wait_exit(20)
    wait_until(lambda: not sock.exists(), 5, message="stats socket removed")
