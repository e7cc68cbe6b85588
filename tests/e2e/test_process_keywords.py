"""Process keywords of 2.6's `global` and proxies, against pyhaproxy and /usr/sbin/haproxy (2.6):
`setenv`/`presetenv`/`unsetenv`/`resetenv` (later `"${VAR}"` words see them), `node` and
`description` in `show info`, a proxy's `id` (and 2.6's numbering of the others: the `GLOBAL`
proxy of a `stats socket` is #1, each proxy advances the counter), and `cpu-map` (pyhaproxy's
workers stand for 2.6's threads: the set of CPU affinities is compared).
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports, wait_until
from tests.helpers.net import LOCALHOST, stats_command

CFG = """
global
    stats socket {sock} level admin
    setenv GREETING hello
    presetenv GREETING ignored
    presetenv OTHER world
    setenv GONE x
    unsetenv GONE
    node edge-7
    description the edge, rack 7
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    id 7
    description front door
    http-request return status 200 content-type text/plain lf-string "${GREETING} ${OTHER} [${GONE}]"
backend b1
    server s1 127.0.0.1:{dead}
backend b2
    id 4
    server s1 127.0.0.1:{dead}
backend b3
    server s1 127.0.0.1:{dead}
"""


def _body(port: int) -> bytes:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1]


def test_env_node_description_ids(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREETING", raising=False)
    monkeypatch.delenv("OTHER", raising=False)
    port, dead = free_ports(2)
    sock = tmp_path / "admin.sock"
    proxy.start(CFG, sock=sock, port=port, dead=dead)
    wait_until(lambda: sock.exists(), 10, message="the stats socket")
    assert _body(port) == b"hello world []"
    info = dict(line.split(": ", 1) for line in stats_command(sock, "show info").splitlines() if ": " in line)
    assert info["node"] == "edge-7"
    assert info["description"] == '"the edge, rack 7"'      # (CSV-quoted for its comma)
    rows = [r.split(",") for r in stats_command(sock, "show stat").splitlines()[1:] if r]
    iids = {(r[0], r[1]): r[27] for r in rows}
    # fe has id 7; b1 is #3 (GLOBAL #1, fe advanced the counter to 3), b2 has id 4, b3 #5
    assert iids == {("fe", "FRONTEND"): "7", ("b1", "s1"): "3", ("b1", "BACKEND"): "3",
                    ("b2", "s1"): "4", ("b2", "BACKEND"): "4", ("b3", "s1"): "5", ("b3", "BACKEND"): "5"}
    assert stats_command(sock, "show stat 4 -1 -1").count("\nb2,") == 2


def test_id_refusals(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    head = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
    cases = {
        "frontend fe\n    bind 127.0.0.1:80\n    id 3\nbackend b\n    id 3\n":
            "parsing [{cfg}:10]: backend b reuses same custom id as frontend fe (declared at {cfg}:6).",
        "frontend fe\n    bind 127.0.0.1:80\n    id 0\n": "custom id has to be > 0.",
    }
    cfg = tmp_path / "i.cfg"
    for body, message in cases.items():
        out = proxy.refuses(cfg, head + body)
        # (pyhaproxy's prefix is "parsing [FILE:LINE] : ", 2.6's for this one "parsing [FILE:LINE]: ")
        assert message.format(cfg=cfg).split("]: ")[-1] in out, (body, out)


CPU_CFG = """
global
    nbthread 2
    cpu-map auto:1/1-2 0-1
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200
"""


def _affinities(px: Any, which: str) -> list[set[int]]:
    """pyhaproxy: each worker process's; haproxy: each thread of its one process."""
    if which == "pyhaproxy":
        return [os.sched_getaffinity(pid) for pid in px.worker_pids()]
    return [os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{px.pid}/task")]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="cpu-map needs two CPUs to show a difference")
def test_cpu_map(proxy: Any, binary: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    px = proxy.start(CPU_CFG, port=port)
    if binary == "pyhaproxy":
        px.wait_workers(2)
    # (a worker binds itself once forked: wait for two, each bound to one CPU)
    found = wait_until(lambda: (a if len(a := _affinities(px, binary)) == 2 and all(len(c) == 1 for c in a)
                                else None), 10, message="two workers or threads, each on one CPU")
    assert sorted(sorted(a) for a in found) == [[0], [1]]


BACKLOG_CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
    maxconn 500
frontend fe
    bind 127.0.0.1:{p1}
    bind 127.0.0.1:{p2} backlog 33
    backlog 77
    http-request return status 200
frontend fe2
    bind 127.0.0.1:{p3}
    http-request return status 200
"""


def _listen_backlog(port: int) -> int:
    """The Send-Q `ss` shows for a listening socket: its listen() backlog."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                         timeout=10).stdout.split()
    return int(out[2])


def test_backlog(proxy: Any, binary: str) -> None:  # noqa: F811
    """`backlog N`: a bind line's own backlog first, then the proxy's, then its maxconn."""
    p1, p2, p3 = free_ports(3)
    proxy.start(BACKLOG_CFG, p1=p1, p2=p2, p3=p3)
    assert [_listen_backlog(p) for p in (p1, p2, p3)] == [77, 33, 500]


def test_bind_process(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    """2.6 runs one process: `bind-process` has no effect (a deprecation warning), and a
    process number above 1 is refused."""
    head = ("defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
            "listen l\n    bind 127.0.0.1:1\n    http-request return status 200\n")
    cfg = tmp_path / "b.cfg"
    for words in ("all", "odd even", "1", "1-1"):
        cfg.write_text(head + f"    bind-process {words}\n")
        out = proxy.run(["-c", "-f", str(cfg)])
        assert out.returncode in (0, 2), out
        assert "'bind-process' has no effect, is deprecated, and will be removed in version 2.7." in (
            out.stdout + out.stderr), out
    for words in ("2", "1-4"):
        out = proxy.refuses(cfg, head + f"    bind-process {words}\n")
        assert f"bind-process : '{words}' is not a valid number/range. It supports numbers from 1 to 1." \
            in out
