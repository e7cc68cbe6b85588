"""`hard-stop-after`: a soft stop that still has sessions after the delay becomes a hard stop.
Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too."""

from __future__ import annotations

import signal
import socket

import pytest

from tests.helpers import free_ports

pytestmark = pytest.mark.timeout(60)

CONFIG = """
    global
        hard-stop-after 1s
    defaults
        mode tcp
        timeout connect 5s
        timeout client 60s
        timeout server 60s
    listen tcp
        bind 127.0.0.1:{port}
        server echo 127.0.0.1:{bport}
    """


def test_soft_stop_with_a_session_open_ends_after_hard_stop_after(proxy, tcp_echo_backend) -> None:
    backend = tcp_echo_backend()
    (port,) = free_ports(1)
    px = proxy.start(CONFIG, port=port, bport=backend.port)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
        held.sendall(b"ping\n")
        assert held.recv(16) == b"ping\n"
        px.signal(signal.SIGUSR1)
        # the open session would keep a soft-stopping proxy alive for `timeout client` (60 s)
        px.wait_exit(20)
        held.settimeout(10)
        assert held.recv(16) == b""  # cut by the hard stop
