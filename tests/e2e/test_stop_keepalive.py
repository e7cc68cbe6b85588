"""Keep-alive clients through a soft stop and a master-worker reload lose no request.

Once a worker is stopping, the response in flight on each kept-alive connection carries
`Connection: close` (the client opens its next connection to whoever listens now) and an idle
connection is closed only after a short grace (a request already on its way is still served).
Before, the old worker answered with the server's keep-alive and then closed: each connection's
next request met an EOF (20 connections x 30 reloads = 600 lost in bench/reload.py).
"""

from __future__ import annotations

import signal
import socket
import threading
import time

import pytest

from tests.helpers import free_port, wait_until
from tests.helpers.proxy import base_command

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"
OURS = base_command()[0] != "/usr/sbin/haproxy"

CONFIG = """
    global
        maxconn 200
    defaults
        mode http
        timeout connect 5s
        timeout client 30s
        timeout server 30s
        timeout http-keep-alive 10s
    frontend fe
        bind {host}:{port}
        default_backend be
    backend be
        server s1 127.0.0.1:{bport}
    """


class KeepAliveClient(threading.Thread):
    """Requests back to back on one kept-alive connection; a new connection only after the
    server said `Connection: close`. A request whose connection ends before its answer is a
    failure (what a browser would have to retry)."""

    def __init__(self, port: int, reconnect: bool, deadline: float) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.reconnect = reconnect
        self.deadline = deadline
        self.stop_event = threading.Event()
        self.ok = 0
        self.closes = 0  # answers that carried Connection: close
        self.failures: list[str] = []

    def run(self) -> None:
        sock: socket.socket | None = None
        while not self.stop_event.is_set() and time.monotonic() < self.deadline:
            try:
                if sock is None:
                    sock = socket.create_connection((HOST, self.port), timeout=10)
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                close = self._read_response(sock)
            except ConnectionRefusedError:
                if not self.reconnect:
                    break
                self.failures.append("refused")
                sock = None
                continue
            except (OSError, ValueError) as e:
                self.failures.append(repr(e))
                if sock is not None:
                    sock.close()
                sock = None
                continue
            self.ok += 1
            if close:
                self.closes += 1
                sock.close()
                sock = None
                if not self.reconnect:
                    break
        if sock is not None:
            sock.close()

    @staticmethod
    def _read_response(sock: socket.socket) -> bool:
        """Reads one response; True when it says `Connection: close`."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ValueError(f"connection closed before the answer ({len(data)} bytes)")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"HTTP/1.1 200"):
            raise ValueError(f"status line {lines[0]!r}")
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            if name.strip().lower() == b"connection" and b"close" in value.lower():
                close = True
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ValueError("connection closed in the body")
            body += chunk
        return close


def start_clients(port: int, n: int, reconnect: bool) -> list[KeepAliveClient]:
    deadline = time.monotonic() + 60
    clients = [KeepAliveClient(port, reconnect, deadline) for _ in range(n)]
    for c in clients:
        c.start()
    wait_until(lambda: all(c.ok > 5 for c in clients), 20, message="every client served")
    return clients


@pytest.mark.skipif(not OURS, reason="haproxy 2.6 closes kept-alive connections on soft stop: run "
                                      "against it, each of the 8 clients lost its request in flight")
def test_soft_stop_tells_every_kept_alive_client_to_close(proxy, http_backend) -> None:
    backend = http_backend(name="b")
    port = free_port()
    px = proxy.start(CONFIG, host=HOST, port=port, bport=backend.port)
    clients = start_clients(port, 8, reconnect=False)
    px.signal(signal.SIGUSR1)
    for c in clients:
        c.join(30)
    assert not [c.failures for c in clients if c.failures]
    # each connection's last answer said close: the client knew not to send on it again
    assert [c.closes for c in clients] == [1] * len(clients)
    px.wait_exit(20)


def test_idle_kept_alive_connection_ends_soon_after_soft_stop(proxy, http_backend) -> None:
    backend = http_backend(name="b")
    port = free_port()
    px = proxy.start(CONFIG, host=HOST, port=port, bport=backend.port)
    idle = socket.create_connection((HOST, port), timeout=15)
    idle.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert KeepAliveClient._read_response(idle) is False
    px.signal(signal.SIGUSR1)
    t0 = time.monotonic()
    assert idle.recv(10) == b""  # closed by the proxy, well before `timeout http-keep-alive`
    assert time.monotonic() - t0 < 8
    idle.close()
    px.wait_exit(20)


@pytest.mark.skipif(not OURS, reason="haproxy 2.6 closes idle connections at once on reload and "
                                      "loses about one request per reload this way (bench/reload.py)")
def test_master_worker_reloads_lose_no_kept_alive_request(proxy, http_backend) -> None:
    backend = http_backend(name="b")
    port = free_port()
    px = proxy.start(CONFIG, extra_args=["-W"], host=HOST, port=port, bport=backend.port)
    clients = start_clients(port, 8, reconnect=True)
    try:
        for _ in range(4):
            before = set(px.worker_pids())
            px.signal(signal.SIGUSR2)
            wait_until(lambda before=before: set(px.worker_pids()) - before, 15, message="new workers")
            time.sleep(1.0)
            served = [c.ok for c in clients]
            wait_until(lambda served=served: all(c.ok > n for c, n in zip(clients, served, strict=True)), 15,
                       message="every client served after the reload")
    finally:
        for c in clients:
            c.stop_event.set()
        for c in clients:
            c.join(15)
    failures = [f for c in clients for f in c.failures]
    assert not failures, f"{len(failures)} lost requests: {failures[:5]}"
    assert sum(c.closes for c in clients) >= 8  # every reload moved the connections over
