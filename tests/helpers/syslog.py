"""A syslog receiver for the tests: a datagram socket (UDP on 127.0.0.1, or a UNIX path) that
collects the session log lines (level info) a pyhaproxy worker sends."""

from __future__ import annotations

import re
import socket
import time

LEVEL_INFO = 6


class Syslog:
    """A datagram socket collecting syslog lines (UDP on 127.0.0.1 or a UNIX path)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(0.2)

    def lines(self, n: int, timeout: float = 10.0) -> list[str]:
        """The next `n` datagrams as text; AssertionError if they do not all come in time."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} log lines, got {got!r}")
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if self.is_session_log(data):
                got.append(data.decode("latin-1"))
        return got

    @staticmethod
    def is_session_log(data: bytes) -> bool:
        """Connection logs are at level info; the master's own messages (proxy started, server
        up/down...) at notice and above are not what these tests look at."""
        m = re.match(rb"<(\d+)>", data)
        return m is None or int(m[1]) & 7 == LEVEL_INFO

    def line(self, timeout: float = 10.0) -> str:
        return self.lines(1, timeout)[0]

    def quiet_for(self, seconds: float) -> list[str]:
        """Whatever arrives within `seconds` (expected: nothing)."""
        got: list[str] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if self.is_session_log(data):
                got.append(data.decode("latin-1"))
        return got
