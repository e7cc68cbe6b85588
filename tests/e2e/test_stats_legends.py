"""Who sees a server's address and cookie and a backend's cookie name and algorithm in the CSV
statistics, against pyhaproxy and /usr/sbin/haproxy (2.6): a stats page only with `stats
show-legends`, a stats socket only at level operator or admin."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports, wait_until
from tests.helpers.net import stats_command

CFG = """
global
    stats socket {sock} level {level}
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen stats
    bind 127.0.0.1:{port}
    stats enable
    stats uri /stats
    {legends}
    cookie SRV insert
    server s1 127.0.0.1:{dead} cookie a1
"""


def _cols(csv: str) -> dict[str, tuple[str, str, str]]:
    lines = csv.splitlines()
    head = lines[0].lstrip("# ").split(",")
    out = {}
    for line in lines[1:]:
        f = line.split(",")
        if len(f) > 3:
            out[f[1]] = tuple(f[head.index(k)] for k in ("addr", "cookie", "algo"))
    return out  # type: ignore[return-value]


@pytest.mark.parametrize("level, legends", [("user", ""), ("operator", "stats show-legends"),
                                            ("admin", "")])
def test_legend_fields(proxy: Any, binary: str, tmp_path: Path, level: str, legends: str) -> None:  # noqa: F811
    port, dead = free_ports(2)
    sock = tmp_path / "s.sock"
    proxy.start(CFG, sock=sock, level=level, port=port, dead=dead, legends=legends)
    wait_until(sock.exists, 10, message="the stats socket")
    shown = {"s1": (f"127.0.0.1:{dead}", "a1", ""), "BACKEND": ("", "SRV", "roundrobin")}
    hidden = {"s1": ("", "", ""), "BACKEND": ("", "", "")}
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/stats;csv", timeout=10).read().decode()
    got = _cols(page)
    assert {k: got[k] for k in shown} == (shown if legends else hidden)
    got = _cols(stats_command(sock, "show stat"))
    assert {k: got[k] for k in shown} == (hidden if level == "user" else shown)
