"""A proxy's TCP-level tuning, against pyhaproxy and /usr/sbin/haproxy (2.6): what each keyword
sets on the sockets is read from the running proxy's own sockets (tests/helpers/sockopts.py).

- `clitcpka-cnt|idle|intvl` and `srvtcpka-...`: the keep-alive probes of each side's sockets,
  with `option clitcpka|srvtcpka`;
- `option tcp-smart-accept` (2.6's default for HTTP listeners, `no option` undoes it) and
  `option tcp-smart-connect`: no quick ACK on the listener, on a server socket with a request;
- global `nosplice` and `maxpipes N` (2.6 lets at most N - 1 pipes exist): the pipes a proxy
  holds while three spliced transfers wait for their readers, and every byte arrives;
- global `maxsessrate N` and a frontend's `rate-limit sessions N`: a burst is spread over
  seconds (a lower bound only: a slow machine makes it truer) and fully served.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports
from tests.helpers.sockopts import int_option, int_options, pipe_fds, proxy_socket

pytestmark = pytest.mark.timeout(90)
HOST = "127.0.0.1"
KA = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE), (socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
      (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)]


def _listener() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind((HOST, 0))
    srv.listen(16)
    srv.settimeout(10)
    return srv, srv.getsockname()[1]


KA_CFG = """
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    option clitcpka
    clitcpka-cnt 7
    clitcpka-idle 2m
    clitcpka-intvl 11
    default_backend be
frontend plain
    bind 127.0.0.1:{port2}
    default_backend be2
backend be
    option srvtcpka
    srvtcpka-cnt 0x5
    srvtcpka-idle 44
    srvtcpka-intvl 9s
    server s 127.0.0.1:{sport}
backend be2
    server s 127.0.0.1:{sport}
"""


def test_keepalive_probes_both_sides(proxy: Any, binary: str) -> None:  # noqa: F811
    srv, sport = _listener()
    port, port2 = free_ports(2)
    px = proxy.start(KA_CFG, port=port, port2=port2, sport=sport)
    for front, want_cli, want_srv in ((port, [1, 7, 120, 11], [1, 5, 44, 9]), (port2, None, None)):
        with socket.create_connection((HOST, front), timeout=10) as c:
            c.sendall(b"hello")
            conn, (_, proxy_port) = srv.accept()
            with conn:
                assert conn.recv(10) == b"hello"
                cli_side = proxy_socket(px.pid, front, c.getsockname()[1])
                srv_side = proxy_socket(px.pid, proxy_port, sport)
                with cli_side, srv_side:
                    got_cli, got_srv = int_options(cli_side, KA), int_options(srv_side, KA)
        if want_cli is None:
            # without the options: no keep-alive, the kernel's probe settings
            assert got_cli[0] == 0 and got_srv[0] == 0
            assert got_cli[1:] == got_srv[1:]
        else:
            assert got_cli == want_cli
            assert got_srv == want_srv
    srv.close()


SMART_CFG = """
defaults
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend http_default
    mode http
    bind 127.0.0.1:{p1}
    default_backend b_smart
frontend http_no
    mode http
    no option tcp-smart-accept
    bind 127.0.0.1:{p2}
    default_backend b
frontend tcp_default
    mode tcp
    bind 127.0.0.1:{p3}
    default_backend t_pp
frontend tcp_smart
    mode tcp
    option tcp-smart-accept
    bind 127.0.0.1:{p4}
    default_backend t
backend b
    mode http
    server s 127.0.0.1:{sport}
backend b_smart
    mode http
    option tcp-smart-connect
    server s 127.0.0.1:{sport}
backend t_pp
    mode tcp
    option tcp-smart-connect
    server s 127.0.0.1:{sport} send-proxy
backend t
    mode tcp
    server s 127.0.0.1:{sport}
"""


def test_tcp_smart_accept_and_connect(proxy: Any, binary: str) -> None:  # noqa: F811
    srv, sport = _listener()
    p1, p2, p3, p4 = free_ports(4)
    px = proxy.start(SMART_CFG, p1=p1, p2=p2, p3=p3, p4=p4, sport=sport)
    quick = {}
    for port in (p1, p2, p3, p4):
        with proxy_socket(px.pid, port) as lsock:
            quick[port] = int_option(lsock, socket.IPPROTO_TCP, socket.TCP_QUICKACK)
    # 0: no quick ACK (smart accept): HTTP listeners unless `no option`, TCP ones with the option
    assert quick == {p1: 0, p2: 1, p3: 1, p4: 0}
    # tcp-smart-connect: quick ACKs off on a server socket that sent a PROXY header (the
    # server answers nothing, so no delayed ACK has turned them on again). Not for a request
    # alone: 2.6 looks for data in the response channel at connect time (a 2.6 quirk, kept)
    for front, want, prefix in ((p1, 1, b"GET / HTTP/1.1\r\n"), (p3, 0, b"PROXY TCP4 ")):
        with socket.create_connection((HOST, front), timeout=10) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            conn, (_, proxy_port) = srv.accept()
            with conn:
                assert conn.recv(100).startswith(prefix)
                with proxy_socket(px.pid, proxy_port, sport) as s:
                    assert int_option(s, socket.IPPROTO_TCP, socket.TCP_QUICKACK) == want, front
    srv.close()


SPLICE_CFG = """
global
    {global_line}
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
listen l
    bind 127.0.0.1:{port}
    option splice-request
    option splice-response
    server s 127.0.0.1:{sport}
"""
SIZE = 64 << 20


@pytest.mark.parametrize("global_line, pipes", [("", 3), ("nosplice", 0), ("maxpipes 1", 0),
                                                ("maxpipes 2", 1), ("maxpipes 3", 2)])
def test_nosplice_and_maxpipes(proxy: Any, binary: str, global_line: str, pipes: int) -> None:  # noqa: F811
    """Three transfers of 64 MiB each, their clients not reading yet: the proxy holds what it
    cannot pass on; spliced, in a pipe per transfer (pipes counted as fds, two a pipe)."""
    srv, sport = _listener()
    (port,) = free_ports(1)
    px = proxy.start(SPLICE_CFG, port=port, sport=sport, global_line=global_line)
    # pyhaproxy's workers hold no pipe of their own once they serve (their start-up pipe is
    # closed by then): counted from 0; haproxy's own pipes (thread wake-ups) from its start
    before = 0 if binary == "pyhaproxy" else pipe_fds(px.pid)
    pairs = []
    payload = bytes(range(256)) * (SIZE // 256)
    for _ in range(3):
        c = socket.create_connection((HOST, port), timeout=20)
        c.sendall(b"go")
        conn, _ = srv.accept()
        conn.settimeout(20)
        assert conn.recv(2) == b"go"
        conn.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 10
        # fill the path until the server's socket refuses more (the proxy holds its share)
        while time.monotonic() < deadline and sent < len(payload):
            try:
                sent += conn.send(payload[sent:sent + (1 << 20)])
            except BlockingIOError:
                time.sleep(0.2)
                try:
                    sent += conn.send(payload[sent:sent + (1 << 20)])
                except BlockingIOError:
                    break
        pairs.append((c, conn, sent))
    held = pipe_fds(px.pid) - before
    if pipes == 3:
        assert held >= 2, held      # at least one pipe (2.6 and pyhaproxy splice here)
    else:
        assert held == 2 * pipes, held
    for c, conn, sent in pairs:
        conn.setblocking(True)

        def rest(conn: socket.socket = conn, sent: int = sent) -> None:
            conn.sendall(payload[sent:])
            conn.shutdown(socket.SHUT_WR)

        writer = threading.Thread(target=rest, daemon=True)
        writer.start()
        got = hashlib.sha256()
        n = 0
        while chunk := c.recv(1 << 20):
            got.update(chunk)
            n += len(chunk)
        writer.join(10)
        assert n == len(payload) and got.digest() == hashlib.sha256(payload).digest()
        c.close()
        conn.close()
    srv.close()


RATE_CFG = """
global
    {global_line}
defaults
    mode http
    timeout connect 2s
    timeout client 20s
    timeout server 20s
frontend fe
    bind 127.0.0.1:{port}
    {frontend_line}
    http-request return status 200
"""


@pytest.mark.parametrize("global_line, frontend_line", [("maxsessrate 4", ""), ("", "rate-limit sessions 4")])
def test_session_rates(proxy: Any, binary: str, global_line: str, frontend_line: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    proxy.start(RATE_CFG, port=port, global_line=global_line, frontend_line=frontend_line)
    burst = 16
    t0 = time.monotonic()
    socks = [socket.create_connection((HOST, port), timeout=30) for _ in range(burst)]
    for s in socks:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    answers = []
    for s in socks:
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        s.close()
        answers.append(data.split(b"\r\n")[0].split(b" ", 1)[1])
    assert answers == [b"200 OK"] * burst
    # 16 at 4 a second: about 4, then 4 more each second (a lower bound only)
    assert time.monotonic() - t0 >= 1.5


FE = "frontend fe\n    bind 127.0.0.1:1\n    "
ERRORS = {
    FE + "rate-limit connections 3\n": "'rate-limit' only supports 'sessions' (got 'connections')",
    FE + "rate-limit sessions\n": "'rate-limit sessions' expects expects an integer value",
    FE + "rate-limit sessions 3x\n": "unexpected character 'x' in integer value '3x'",
    FE + "clitcpka-cnt\n": "'clitcpka-cnt' expects an integer value",
    FE + "clitcpka-idle 5q\n": "unexpected character 'q' in argument to <clitcpka-idle>.",
    "backend be\n    srvtcpka-intvl 99999999999\n":
        "timer overflow in argument '99999999999' to 'srvtcpka-intvl'",
}


def test_parse_errors(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    head = "defaults\n    mode tcp\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
    for body, message in ERRORS.items():
        out = proxy.refuses(tmp_path / "t.cfg", head + body)
        assert message in out, (body, out)
