"""`timeout client-fin` and `timeout server-fin` (2.6), against pyhaproxy and
/usr/sbin/haproxy: once the proxy has passed one side's end (FIN) on to the other, that other
side is given the -fin timeout instead of its usual one (and instead of `timeout tunnel`). The
usual timeouts here are 30 s and the -fin ones 1 s: a session that ends within the socket's
15 s shows the -fin timeout at work; the log names the side (sD, cD)."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports

pytestmark = pytest.mark.timeout(90)

CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    {extra}
listen l
    bind 127.0.0.1:{port}
    server s 127.0.0.1:{sport}
"""


def _server(srv: socket.socket, hold: threading.Event, client_ends: bool) -> None:
    c, _ = srv.accept()
    with c:
        c.recv(10)
        if not client_ends:
            c.sendall(b"bye")
            c.shutdown(socket.SHUT_WR)      # the server ends; it stays open to read
        hold.wait(40)


FIN = "timeout client-fin 1s\n    timeout server-fin 1s"


@pytest.mark.parametrize("extra", [FIN, FIN + "\n    timeout tunnel 30s"])
@pytest.mark.parametrize("client_ends", [True, False])
def test_fin_timeouts(proxy: Any, binary: str, syslog: Any, extra: str, client_ends: bool) -> None:  # noqa: F811
    log, logport = syslog
    port, _ = free_ports(2)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    hold = threading.Event()
    t = threading.Thread(target=_server, args=(srv, hold, client_ends), daemon=True)
    t.start()
    proxy.start(CFG, logport=logport, port=port, sport=srv.getsockname()[1], extra=extra)
    with socket.create_connection(("127.0.0.1", port), timeout=15) as c:
        c.sendall(b"hi")
        if client_ends:
            c.shutdown(socket.SHUT_WR)      # the client ends; the server stays silent
        got = b""
        while chunk := c.recv(10):       # (a socket timeout here: the -fin timeout did not act)
            got += chunk
        assert got == (b"" if client_ends else b"bye")
        # (the client stays open and silent: only the proxy's timeout can end the session)
        line = log.wait_for(" l l/s ", timeout=15)
    flags = line.split(" l l/s ", 1)[1].split()[2]
    assert flags == ("sD" if client_ends else "cD"), line
    hold.set()
    srv.close()
