"""`show info` beside Debian's haproxy 2.6 on one configuration: the fields pyhaproxy prints are
2.6's names in 2.6's order (plus its own per-process lines, Master_* and WorkerN_*, at the end),
and the ones that follow from the configuration and the fd limit have 2.6's values. Fields of
2.6 with no counterpart here (memory pools, tasks, peers, resolvers) are left out, not faked."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import HAPROXY, binary  # noqa: F401  (binary: the fixture, both binaries)
from tests.helpers.net import LOCALHOST, free_ports, show_info, show_stat, wait_until
from tests.helpers.proxy import CMD_VAR

CFG = """
global
    nbthread 1
    stats socket {sock} level admin
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{bport}
"""

# (not Ulimit-n: 2.6 lowers its soft limit to Maxsock when it is higher; pyhaproxy only raises it,
# as its Python master keeps descriptors 2.6's count does not know of)
SAME_VALUES = ("Nbthread", "Process_num", "Maxsock", "Maxconn", "Hard_maxconn", "Listeners",
               "CompressBpsIn", "CompressBpsOut", "CompressBpsRateLim", "Stopping")
OURS_ONLY = ("Master_", "Worker")


def test_show_info_names_order_and_values(proxy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         http_backend: Callable[..., Any]) -> None:
    if not HAPROXY.exists():
        pytest.skip("Debian's haproxy is not installed")
    be = http_backend()
    infos = []
    for cmd in (None, str(HAPROXY)):
        if cmd is None:
            monkeypatch.delenv(CMD_VAR, raising=False)
        else:
            monkeypatch.setenv(CMD_VAR, cmd)
        sock = tmp_path / f"{len(infos)}.sock"
        (port,) = free_ports(1)
        proxy.start(CFG, sock=sock, port=port, bport=be.port, name=f"p{len(infos)}")
        for _ in range(2):
            with socket.create_connection((LOCALHOST, port), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while s.recv(65536):
                    pass
        time.sleep(2.2)     # (two samples of pyhaproxy's once-a-second rates after them)
        infos.append(show_info(sock))
    ours, theirs = infos
    # two sessions in the last seconds: both saw a rate (pyhaproxy's master used to sample every
    # 5 s when idle, which averaged such a burst down to 0); our CumConns counts the frontend's
    # sessions once (2.6 adds its CLI connections)
    assert int(ours["MaxConnRate"]) >= 1 and int(theirs["MaxConnRate"]) >= 1, (ours, theirs)
    assert ours["CumConns"] == "2" and ours["CumReq"] == "2", ours
    names = [k for k in ours if not k.startswith(OURS_ONLY)]
    assert set(names) <= set(theirs), set(names) - set(theirs)
    order = list(theirs)
    assert names == sorted(names, key=order.index), "not in 2.6's order"
    assert {k: ours[k] for k in SAME_VALUES} == {k: theirs[k] for k in SAME_VALUES}


COUNTS_CFG = """
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
    http-request deny if { path /deny }
    use_backend dead if { path /dead }
    default_backend be
backend be
    server s1 127.0.0.1:{bport}
backend dead
    retries 1
    server s1 127.0.0.1:{dport}
"""


def test_haproxys_own_answers_count_in_hrsp(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                           http_backend: Callable[..., Any]) -> None:
    """`show stat` after a 200 from a server, a 403 from `http-request deny` and a 503 for a
    server that refuses: the frontend counts all three in hrsp_*, each backend its own (the 503
    too, with its request), the server only the response it gave, as 2.6 counts at a stream's end;
    the refused connection is one error (econ) after one retry (wretr), not one per attempt; the
    connection attempts (connect) and the kept connection's second use (reuse) are counted."""
    be = http_backend()
    port, dport = free_ports(2)
    sock = tmp_path / "stats.sock"
    proxy.start(COUNTS_CFG, sock=sock, port=port, bport=be.port, dport=dport)
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        # two requests on one connection: the second goes on the kept server connection (reuse)
        f = s.makefile("rb")
        for close in ("", "Connection: close\r\n"):
            s.sendall(f"GET / HTTP/1.1\r\nHost: x\r\n{close}\r\n".encode())
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            f.read(length)
    for path in ("/deny", "/dead"):
        with socket.create_connection((LOCALHOST, port), timeout=10) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            while s.recv(65536):
                pass
    want = {("fe", "FRONTEND"): ("2", "1", "1", "4"), ("be", "BACKEND"): ("2", "0", "0", "2"),
            ("be", "s1"): ("2", "0", "0", "2"), ("dead", "BACKEND"): ("0", "0", "1", "1")}
    # (econ, wretr, connect, reuse): the refused server had two attempts, one retry and one
    # connection error (not two); the other server one connection, used twice
    want_conn = {("dead", "s1"): ("1", "1", "2", "0"), ("dead", "BACKEND"): ("1", "1", "2", "0"),
                 ("be", "s1"): ("0", "0", "1", "1"), ("be", "BACKEND"): ("0", "0", "1", "1")}

    def counts() -> dict[tuple[str, str], tuple[str, ...]]:
        rows = show_stat(sock)
        return {k: (rows[k]["hrsp_2xx"], rows[k]["hrsp_4xx"], rows[k]["hrsp_5xx"], rows[k]["req_tot"])
                for k in want}

    # (a session's counters may land just after its client saw the close)
    got: list[dict[tuple[str, str], tuple[str, ...]]] = []
    with contextlib.suppress(AssertionError):
        wait_until(lambda: got.append(counts()) or got[-1] == want, timeout=5)
    assert got[-1] == want, got[-1]
    rows = show_stat(sock)
    fields = ("econ", "wretr", "connect", "reuse")
    assert {k: tuple(rows[k][f] for f in fields) for k in want_conn} == want_conn
