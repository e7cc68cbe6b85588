"""Each request of a kept-alive client connection is balanced again, as haproxy 2.6 does (its
streams are per request; the idle server connection is only reused when the balancing picks its
server again): one client with four requests on one connection through `balance roundrobin` over
two servers reaches both, alternately. `option prefer-last-server` does not change that for a
connection 2.6 shares in the server's idle pool (it keeps the client on a connection private to
it: under `http-reuse never`, tested, and `send-proxy`'s, not tested, the test servers do not
read PROXY headers). Differential: both binaries."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers.net import LOCALHOST, free_ports

CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
    {option}
listen l
    bind 127.0.0.1:{port}
    balance roundrobin
    server a 127.0.0.1:{pa}
    server b 127.0.0.1:{pb}
"""


def servers_seen(port: int, n: int) -> str:
    seen = ""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        f = s.makefile("rb")
        for _ in range(n):
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            length = 0
            server = ""
            while (line := f.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "x-server":
                    server = value.strip()
            f.read(length)
            seen += server
    return seen


@pytest.mark.parametrize("option", ["", "option prefer-last-server", "http-reuse never",
                                    "http-reuse always\n    option prefer-last-server"])
def test_each_request_is_balanced(proxy: Any, binary: str, http_backend: Callable[..., Any],  # noqa: F811
                                  option: str) -> None:
    a, b = http_backend(name="A"), http_backend(name="B")
    (port,) = free_ports(1)
    proxy.start(CFG, port=port, pa=a.port, pb=b.port, option=option)
    assert servers_seen(port, 4) == "ABAB"


def test_prefer_last_server_keeps_a_private_connection(proxy: Any, binary: str,  # noqa: F811
                                                       http_backend: Callable[..., Any]) -> None:
    """Under `http-reuse never` the server connection is private to the client: with `option
    prefer-last-server` its requests stay on that server (2.6: AAAA)."""
    a, b = http_backend(name="A"), http_backend(name="B")
    (port,) = free_ports(1)
    proxy.start(CFG, port=port, pa=a.port, pb=b.port,
                option="http-reuse never\n    option prefer-last-server")
    assert servers_seen(port, 4) == "AAAA"


@pytest.mark.parametrize("option", ["", "http-reuse never", "http-reuse always"])
def test_idle_server_connections_are_reused_across_servers(
        proxy: Any, binary: str, http_backend: Callable[..., Any], option: str) -> None:  # noqa: F811
    """A kept-alive client balanced ABAB...: the connection to the server it leaves waits idle
    (2.6: in the server's idle pool, or in the session's own list under `never`) and serves the
    client's next request to that server: each server sees one connection for eight requests."""
    a, b = http_backend(name="A"), http_backend(name="B")
    (port,) = free_ports(1)
    proxy.start(CFG, port=port, pa=a.port, pb=b.port, option=option)
    assert servers_seen(port, 8) == "ABABABAB"
    assert (a.request_count(), b.request_count()) == (4, 4)
    assert (len(a.peers), len(b.peers)) == (1, 1)
    # the client gone: a private connection goes with its session; a shared one stays idle in its
    # server's pool (the one the session held last included)
    if "never" in option:
        a.wait_idle(5)
        b.wait_idle(5)
    else:
        time.sleep(0.5)
        assert (a.active, b.active) == (1, 1)
