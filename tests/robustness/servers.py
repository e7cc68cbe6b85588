"""Backends for the robustness tests (threads in the test process, on 127.0.0.0/8).

- `StreamServer`  answers every request with a `size`-byte body streamed in 64 KiB writes, and
                  records the largest number of connections it had open at once.
- `run_killable_backend` starts a backend in its own process, which sends a response head and part
                  of the body and then waits to be killed (SIGKILL by PID from the test).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import textwrap
import threading
import time

from tests.helpers import TcpServer
from tests.helpers.net import recv_until_closed


class StreamServer(TcpServer):
    """HTTP/1.1 server: reads a request head, sends a `size`-byte body (Connection: close).

    A request for a path starting with /small gets 100 bytes instead.
    `delay` waits before answering; `max_active` is the peak number of connections accepted and
    not yet answered.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, size: int = 1024, delay: float = 0.0,
                 backlog: int = 4096) -> None:
        super().__init__(host, port, None, backlog=backlog)
        self.size = size
        self.delay = delay
        self.max_active = 0
        self.served = 0
        self.in_flight = 0
        self._gauge = threading.Lock()

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        self._gauge_add(1)
        counted = True
        try:
            conn.settimeout(60)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            if self.delay:
                time.sleep(self.delay)
            size = 100 if head.split(b" ", 2)[1].startswith(b"/small") else self.size
            # Uncounted before the first byte goes out: until then the proxy's session is surely
            # open, so the count never overstates the proxy's concurrency (no thread-timing race).
            self._gauge_add(-1)
            counted = False
            self._send(conn, size)
        finally:
            if counted:
                self._gauge_add(-1)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
            recv_until_closed(conn, timeout=10)

    def _gauge_add(self, n: int) -> None:
        with self._gauge:
            self.in_flight += n
            self.max_active = max(self.max_active, self.in_flight)

    def _send(self, conn: socket.socket, size: int) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n" % size)
        block = b"x" * 65536
        left = size
        while left > 0 and not self._stop.is_set():
            n = min(left, len(block))
            conn.sendall(block[:n])
            left -= n
        with self._gauge:
            self.served += 1


KILLABLE = textwrap.dedent("""
    import socket, sys
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    print(s.getsockname()[1], flush=True)
    conns = []
    while True:
        c, _ = s.accept()
        head = b""
        while b"\\r\\n\\r\\n" not in head:
            head += c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 1000000\\r\\n\\r\\n" + b"y" * 100000)
        print("SENT", flush=True)
        conns.append(c)
""")


def run_killable_backend() -> tuple[subprocess.Popen[str], int]:
    """Start the killable backend process; return it and its port. The caller kills it by PID."""
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, port
