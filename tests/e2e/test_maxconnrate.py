"""Global `maxconnrate N`: a process accepts at most N connections per second; past it the
listeners are paused (still bound: the kernel queues the connections) and resumed when the rate
allows, so every client of a burst is served, just not in the same second.
Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too.

The only time assertion is a lower bound (a burst of 16 at 4 per second cannot all be accepted
in less than about two seconds): a slow machine only makes it truer."""

from __future__ import annotations

import socket
import time

import pytest

from tests.helpers import free_ports

pytestmark = pytest.mark.timeout(60)

CONFIG = """
    global
        maxconnrate {rate}
    defaults
        mode http
        timeout connect 2s
        timeout client 20s
        timeout server 20s
    frontend fe
        bind 127.0.0.1:{port}
        monitor-uri /ping
    """


def test_a_burst_is_spread_and_fully_served(proxy) -> None:
    (port,) = free_ports(1)
    proxy.start(CONFIG, port=port, rate=4)
    burst = 16
    t0 = time.monotonic()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(burst)]
    for s in socks:
        s.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
    answers = []
    for s in socks:
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        s.close()
        answers.append(data.split(b"\r\n")[0])
    elapsed = time.monotonic() - t0
    # every connection of the burst was served: the listener was paused, not closed
    assert [a.split(b" ", 1)[1] for a in answers] == [b"200 OK"] * burst
    # 16 at 4/s: a sliding one-second window lets 4, then about 4 more per second through
    assert elapsed >= 1.5


def test_without_a_limit_the_same_burst_is_not_held(proxy) -> None:
    """The same check without `maxconnrate` (0: no limit) serves everything, quickly or not."""
    (port,) = free_ports(1)
    proxy.start(CONFIG, port=port, rate=0)
    for _ in range(16):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
            assert s.recv(4096).split(b" ")[1] == b"200"
