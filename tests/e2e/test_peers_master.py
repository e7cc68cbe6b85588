"""A `peers` section with a `table` in the proxy under test (pyhaproxy's master runs the link),
between two real haproxy 2.6: A tracks `src` into the table and pushes to us; B, started later,
asks us for a resync and must be taught A's entry. So the master learns from haproxy and
teaches haproxy; its `show peers` has 2.6's header and peer lines. Differential: under
`PYHAPROXY_CMD=/usr/sbin/haproxy` the middle peer is a haproxy and the test passes the same
(2.6 teaches on resync what it learnt from other peers)."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.net import free_ports, wait_listening, wait_not_listening
from tests.helpers.proxy import ProxyLauncher

HAPROXY = "/usr/sbin/haproxy"
pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not shutil.which(HAPROXY), reason="haproxy 2.6 not installed")]

TABLE = "table t type ip size 1k expire 1m store conn_cnt,http_req_cnt,http_req_rate(10s),gpc0"

MIDDLE = """
global
    stats socket {sock} level admin
peers mesh
    peer py 127.0.0.1:{py}
    peer hapA 127.0.0.1:{a}
    peer hapB 127.0.0.1:{b}
    {table}
defaults
    timeout client 5s
    timeout server 5s
    timeout connect 1s
listen idle
    bind 127.0.0.1:{idle}
    server s 127.0.0.1:9
"""

SIDE = """
global
    stats socket {sock} level admin
peers mesh
    peer {me} 127.0.0.1:{port}
    peer py 127.0.0.1:{py}
    {table}
frontend fe
    mode http
    timeout client 5s
    bind 127.0.0.1:{http}
    http-request track-sc0 src table mesh/t
    http-request return status 200
"""


def _cli(sock: Path, cmd: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        s.sendall(cmd.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


def _show_table(sock: Path) -> dict[str, dict[str, str]]:
    rows = {}
    for line in _cli(sock, "show table mesh/t").splitlines():
        m = re.match(r"0x[0-9a-f]+: key=(\S+) (.*)", line)
        if m:
            rows[m.group(1)] = dict(kv.split("=", 1) for kv in m.group(2).split())
    return rows


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.terminate()
        p.wait(5)


def _start_side(tmp_path: Path, procs: list[subprocess.Popen[bytes]], me: str, port: int, py: int,
                http: int) -> Path:
    sock = tmp_path / f"{me}.sock"
    cfg = tmp_path / f"{me}.cfg"
    cfg.write_text(SIDE.format(sock=sock, me=me, port=port, py=py, http=http, table=TABLE))
    procs.append(subprocess.Popen([HAPROXY, "-db", "-f", str(cfg), "-L", me],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_listening("127.0.0.1", http)
    return sock


def test_master_learns_from_haproxy_and_teaches_haproxy(proxy: ProxyLauncher, tmp_path: Path,
                                                        sides: list[subprocess.Popen[bytes]]) -> None:
    py, a, b, idle, http_a, http_b = free_ports(6)
    mid_sock = tmp_path / "middle.sock"
    middle = MIDDLE.format(py=py, a=a, b=b, idle=idle, table=TABLE, sock=mid_sock)
    proxy.start(middle, extra_args=["-L", "py"])
    wait_listening("127.0.0.1", py)  # the master's peers listener
    sock_a = _start_side(tmp_path, sides, "hapA", a, py, http_a)
    for _ in range(3):
        with urllib.request.urlopen(f"http://127.0.0.1:{http_a}/", timeout=5) as r:
            assert r.status == 200
    assert _show_table(sock_a)["127.0.0.1"]["http_req_cnt"] == "3"
    time.sleep(0.5)  # A pushes at once once connected; leave it the time to connect and push
    sock_b = _start_side(tmp_path, sides, "hapB", b, py, http_b)
    end = time.monotonic() + 3.0
    while time.monotonic() < end and "127.0.0.1" not in _show_table(sock_b):
        time.sleep(0.05)
    row = _show_table(sock_b).get("127.0.0.1")
    assert row is not None, "B was not taught A's entry by the middle peer"
    assert row["http_req_cnt"] == "3" and row["conn_cnt"] == "3" and row["gpc0"] == "0"

    # `show peers` on the middle peer: 2.6's header and peer lines (fields we share with it)
    out = _cli(mid_sock, "show peers")
    lines = out.splitlines()
    assert re.match(r"0x[0-9a-f]+: \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\] id=mesh disabled=0 flags=0x[0-9a-f]+ "
                    r"resync_timeout=\S+ task_calls=\d+$", lines[0]), out
    assert re.search(rf"^  0x[0-9a-f]+: id=hapB\(remote,active\) addr=127\.0\.0\.1:{b} last_status=ESTA "
                     r"last_hdshk=\d+s$", out, re.M), out
    assert re.search(rf"^  0x[0-9a-f]+: id=py\(local,inactive\) addr=127\.0\.0\.1:{py} last_status=NONE "
                     r"last_hdshk=<NEVER>$", out, re.M), out
    assert re.search(r"^        reconnect=\S+ heartbeat=\S+ confirm=\d+ tx_hbt=\d+ rx_hbt=\d+ no_hbt=\d+ "
                     r"new_conn=\d+ proto_err=0 coll=\d+$", out, re.M), out
    assert "No such peers" in _cli(mid_sock, "show peers nosuch")


def test_reload_moves_the_peers_listener(proxy: ProxyLauncher, tmp_path: Path) -> None:
    """-W and SIGUSR2 with a peer address changed: the new address listens, the old one stops."""
    old, new, a, b, idle = free_ports(5)
    sock = tmp_path / "middle.sock"
    cfg = tmp_path / "middle.cfg"
    cfg.write_text(MIDDLE.format(py=old, a=a, b=b, idle=idle, table=TABLE, sock=sock))
    p = proxy.start(cfg, extra_args=["-W", "-L", "py"])
    wait_listening("127.0.0.1", old)
    cfg.write_text(MIDDLE.format(py=new, a=a, b=b, idle=idle, table=TABLE, sock=sock))
    p.signal(signal.SIGUSR2)
    wait_listening("127.0.0.1", new, timeout=10)
    wait_not_listening("127.0.0.1", old, timeout=10)
