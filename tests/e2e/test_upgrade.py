"""WebSocket and every `Upgrade` in HTTP mode, and CONNECT: after a 101 that answers a request
asking for an upgrade (or a 2xx to CONNECT) the session is a byte tunnel both ways, under
`timeout tunnel`. Differential: each test passes with PYHAPROXY_CMD=/usr/sbin/haproxy too.

Before issue 15 the 101 reached the client and nothing more went through (`SH--` after the server
timeout), and a frame the server sent right after its 101 ended the session (`PH`)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.helpers import free_ports

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"

CONFIG = """
    global
        maxconn 100
    defaults
        mode http
        log 127.0.0.1:{logport} local0
        option httplog
        timeout connect 5s
        timeout client 30s
        timeout server 30s
        {tunnel}
    frontend fe
        bind 127.0.0.1:{port}
        default_backend be
    backend be
        server ws 127.0.0.1:{bport}
    """

SWITCH = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


class UpgradeServer:
    """Answers any request with `answer` (a 101 by default), optionally followed at once by
    `greeting`, then echoes every byte back with `echo:` in front of each read."""

    def __init__(self, answer: bytes = SWITCH, greeting: bytes = b"") -> None:
        self.answer = answer
        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            head, _, early = data.partition(b"\r\n\r\n")
            self.requests.append(head)
            conn.sendall(self.answer + self.greeting)
            if early:
                conn.sendall(b"echo:" + early)
            try:
                while chunk := conn.recv(4096):
                    conn.sendall(b"echo:" + chunk)
            except OSError:
                pass
            self.closed.set()

    def stop(self) -> None:
        self.sock.close()


def recv_until(sock: socket.socket, marker: bytes, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"closed before {marker!r}: {data!r}")
        data += chunk
    return data


UPGRADE_REQUEST = (b"GET /ws HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


@pytest.fixture
def start(proxy, syslog):
    servers: list[UpgradeServer] = []

    def _start(tunnel: str = "", **kw: bytes) -> tuple[int, UpgradeServer]:
        server = UpgradeServer(**kw)
        servers.append(server)
        (port,) = free_ports(1)
        proxy.start(CONFIG, port=port, bport=server.port, logport=syslog[1], tunnel=tunnel)
        return port, server

    yield _start
    for s in servers:
        s.stop()


def test_websocket_tunnels_both_ways(start, syslog) -> None:
    port, server = start()
    with socket.create_connection((HOST, port), timeout=10) as c:
        c.sendall(UPGRADE_REQUEST)
        head = recv_until(c, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        for i in range(3):
            c.sendall(b"frame%d" % i)
            assert recv_until(c, b"frame%d" % i).endswith(b"echo:frame%d" % i)
    assert server.closed.wait(10)
    assert b"upgrade" in server.requests[0].lower()
    line = syslog[0].line()
    assert " 101 " in line and '"GET /ws HTTP/1.1"' in line, line


def test_server_frame_right_after_101_reaches_the_client(start) -> None:
    port, _server = start(greeting=b"hello-from-server")
    with socket.create_connection((HOST, port), timeout=10) as c:
        c.sendall(UPGRADE_REQUEST)
        data = recv_until(c, b"hello-from-server")
        assert data.startswith(b"HTTP/1.1 101")
        c.sendall(b"ping")
        recv_until(c, b"echo:ping")


def test_client_bytes_sent_with_the_upgrade_request_are_forwarded(start) -> None:
    port, _server = start()
    with socket.create_connection((HOST, port), timeout=10) as c:
        c.sendall(UPGRADE_REQUEST + b"early")
        data = recv_until(c, b"echo:early")
        assert data.startswith(b"HTTP/1.1 101")


def test_timeout_tunnel_ends_an_idle_tunnel(start, syslog) -> None:
    port, _server = start(tunnel="timeout tunnel 1s")
    with socket.create_connection((HOST, port), timeout=15) as c:
        c.sendall(UPGRADE_REQUEST)
        recv_until(c, b"\r\n\r\n")
        t0 = time.monotonic()
        c.settimeout(15)
        rest = b""
        while chunk := c.recv(4096):
            rest += chunk
        # closed by the tunnel timeout (1 s), long before timeout client/server (30 s)
        assert time.monotonic() - t0 < 10
    line = syslog[0].line()
    assert " 101 " in line, line


def test_a_101_to_a_request_without_upgrade_is_a_bad_response(start) -> None:
    """A switch nobody asked for is a broken server: the 502 page, no tunnel."""
    port, _server = start(answer=SWITCH + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    with socket.create_connection((HOST, port), timeout=40) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
        data = recv_until(c, b"</html>", timeout=40)
        assert data.split(b"\r\n", 1)[0].split(b" ")[1] == b"502"


def test_connect_tunnels_after_a_2xx(start) -> None:
    port, _server = start(answer=b"HTTP/1.1 200 Connection established\r\n\r\n")
    with socket.create_connection((HOST, port), timeout=10) as c:
        c.sendall(b"CONNECT upstream.example:443 HTTP/1.1\r\nHost: upstream.example:443\r\n\r\n")
        assert recv_until(c, b"\r\n\r\n").startswith(b"HTTP/1.1 200")
        c.sendall(b"\x16\x03\x01 opaque bytes")
        recv_until(c, b"echo:\x16\x03\x01 opaque bytes")
