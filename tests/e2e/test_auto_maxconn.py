"""A configuration without `maxconn`: 2.6 computes the global one from the fd limit (two fds per
connection once its reserve and three per thread are set aside), and a frontend without its own
takes the global value. Differential: the same configuration through pyhaproxy and
/usr/sbin/haproxy gives the same `show info` Maxconn and the same frontend session limit in
`show stat`, under the limit this test process passes on and under `fd-hard-limit`, and the
backend's default fullconn (its slim) derived from it."""

from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers.net import free_ports, show_info, show_stat

CFG = """
global
    nbthread 1
    {hard}
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
    server s1 127.0.0.1:{bport} check inter 10s
"""


def slim(sock: Path, px: str, sv: str) -> int:
    return int(show_stat(sock)[(px, sv)]["slim"])


@pytest.mark.parametrize("hard", [0, 3000])
def test_maxconn_from_the_fd_limit(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                   http_backend: Callable[..., Any], hard: int) -> None:
    soft_lim, hard_lim = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = min(max(soft_lim, hard_lim), hard or 1 << 62)
    # the reserve: 10, one listener, one checked server, the stats socket and its maxconn (10)
    want = max(100, (limit - (10 + 1 + 1 + 1 + 10) - 3) // 2)
    sock = tmp_path / "stats.sock"
    (port,) = free_ports(1)
    be = http_backend()
    proxy.start(CFG, sock=sock, port=port, bport=be.port, hard=f"fd-hard-limit {hard}" if hard else "")
    assert int(show_info(sock)["Maxconn"]) == want
    assert slim(sock, "fe", "FRONTEND") == want
    # the backend's: its fullconn, 10% of the maxconn of the frontends that reach it
    assert slim(sock, "be", "BACKEND") == (want + 9) // 10
