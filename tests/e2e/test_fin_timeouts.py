"""`timeout client-fin` and `timeout server-fin` (2.6), against pyhaproxy and
/usr/sbin/haproxy: once the proxy has passed one side's end (FIN) on to the other, that other
side is given the -fin timeout instead of its usual one (and instead of `timeout tunnel`). The
usual timeouts here are 30 s and the -fin ones 1 s: a session that ends within the socket's
15 s shows the -fin timeout at work; the log names the side (sD, cD)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
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


def _backend(serve: Callable[..., None], arg: Any) -> tuple[socket.socket, threading.Event]:
    """A listening socket whose one connection `serve(srv, hold, arg)` handles in a thread;
    the test sets `hold` to let it end."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    hold = threading.Event()
    threading.Thread(target=serve, args=(srv, hold, arg), daemon=True).start()
    return srv, hold


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
    srv, hold = _backend(_server, client_ends)
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


HTTP_CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 30s
    timeout server {server}
    timeout http-keep-alive 30s
    timeout client-fin 1s
    timeout server-fin 1s
listen l
    bind 127.0.0.1:{port}
    server s 127.0.0.1:{sport}
"""

UPGRADE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\n"


def _http_server(srv: socket.socket, hold: threading.Event, mode: str) -> None:
    c, _ = srv.accept()
    with c:
        c.recv(1000)
        if mode != "req_shut":
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\n")
        if mode == "tunnel_srv_ends":
            c.recv(10)                      # (the client's word in the tunnel)
            c.sendall(b"bye")
            c.shutdown(socket.SHUT_WR)
        hold.wait(40)


@pytest.mark.parametrize("mode", ["tunnel_cli_ends", "tunnel_srv_ends", "req_shut"])
def test_fin_timeouts_http(proxy: Any, binary: str, syslog: Any, mode: str) -> None:  # noqa: F811
    """In a tunnel after a 101, a client that ends is given server-fin on the server side (sD),
    as in TCP; a server that ends the tunnel ends the stream at once (2.6's H1 side closes the
    client's connection: no client-fin, no termination flag). Before a response, a client's end
    is not passed on to the server: `timeout server` acts, not server-fin (504, sH)."""
    log, logport = syslog
    port, _ = free_ports(2)
    srv, hold = _backend(_http_server, mode)
    proxy.start(HTTP_CFG, logport=logport, port=port, sport=srv.getsockname()[1],
                server="3s" if mode == "req_shut" else "30s")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as c:
        if mode == "req_shut":
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            c.shutdown(socket.SHUT_WR)
        else:
            c.sendall(UPGRADE)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = c.recv(1000)
                assert chunk, head
                head += chunk
            assert head.startswith(b"HTTP/1.1 101"), head
            if mode == "tunnel_cli_ends":
                c.shutdown(socket.SHUT_WR)
            else:
                c.sendall(b"hi")
        got = b""
        while chunk := c.recv(1000):
            got += chunk
        line = log.wait_for(" l l/s ", timeout=15)
    fields = line.split(" l l/s ", 1)[1].split()
    status, flags = fields[1], fields[5]
    if mode == "tunnel_cli_ends":
        assert (status, flags) == ("101", "sD--"), line
    elif mode == "tunnel_srv_ends":
        assert got == b"bye"
        assert (status, flags) == ("101", "----"), line
    else:
        assert got.startswith(b"HTTP/1.1 504"), got
        assert (status, flags) == ("504", "sH--"), line
    hold.set()
    srv.close()


@pytest.mark.parametrize(("value", "message"), [
    ("client-fin 1x", "unexpected character 'x' in 'timeout client-fin'"),
    ("server-fin -1", "unexpected character '-' in 'timeout server-fin'"),
    ("client-fin", "'timeout client-fin' expects an integer value (in milliseconds)"),
    ("server-fin 1s 2s", "'timeout server-fin' : unexpected extra argument '2s' after value '1s'."),
    ("client-fin 3000000000", "timer overflow in argument '3000000000' to 'timeout client-fin'"),
])
def test_fin_timeout_refused(proxy: Any, binary: str, tmp_path: Any, value: str, message: str) -> None:  # noqa: F811
    cfg = ("defaults\n    mode tcp\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
           f"listen l\n    bind 127.0.0.1:9\n    timeout {value}\n    server s 127.0.0.1:1\n")
    out = proxy.refuses(tmp_path / "f.cfg", cfg)
    assert f"parsing [{tmp_path / 'f.cfg'}:8] : {message}" in out, out
