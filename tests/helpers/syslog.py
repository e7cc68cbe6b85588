"""The tests' one syslog receiver: a datagram socket (UDP on 127.0.0.1, or a UNIX path) that collects
the lines a pyhaproxy (or haproxy) process sends.

- `Syslog()` binds a UDP socket on 127.0.0.1 (port in `.port`); `Syslog(sock)` takes a bound socket.
- Read on demand: `line()`, `lines(n)`, `quiet_for(s)` see only session lines (level info: the
  master's own notices, "Proxy ... started", server up/down, are skipped); `wait_for(needle)`
  returns the first line containing `needle`, of any level, already seen or arriving in time;
  `lines_with(needle, n)` the next `n` such lines; `datagram()` the next datagram as sent (bytes),
  `pending()` those already queued.
- Or collect in a thread: `start()`, then `entries` holds (arrival time, pri, pid, message) of
  every line; `messages()`, `find(msg)`, `wait(msg, count=)`.
- `python tests/helpers/syslog.py ADDR PORT LOGFILE` (stdlib only) runs it as a process that writes
  one datagram per line to LOGFILE (the HA tests start it inside network namespaces).
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

LEVEL_INFO = 6
LOCALHOST = "127.0.0.1"

# <pri>Mmm dd hh:mm:ss haproxy[pid]: message
SYSLOG_RE = re.compile(r"^<(?P<pri>\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d haproxy\[(?P<pid>\d+)\]: "
                       r"(?P<msg>.*)\n$", re.S)

class Syslog:
    """A datagram socket collecting syslog lines (UDP on 127.0.0.1 unless a socket is given)."""

    def __init__(self, sock: socket.socket | None = None, host: str = LOCALHOST) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((host, 0))
        self.sock = sock
        self.sock.settimeout(0.2)
        name = sock.getsockname()
        self.port: int = name[1] if isinstance(name, tuple) else 0
        self.seen: list[str] = []          # every line read so far by wait_for (any level)
        self.lock = threading.Lock()
        self.entries: list[tuple[float, int, int, str]] = []   # filled by the thread (start())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # applied to each message the thread collects (start()): a test may drop its variable parts
        self.normalize: Callable[[str], str] | None = None

    def __enter__(self) -> Syslog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- on demand ------------------------------------------------------------------------------

    def _recv(self) -> bytes | None:
        try:
            return self.sock.recv(65536)
        except TimeoutError:
            return None

    def lines(self, n: int, timeout: float = 10.0) -> list[str]:
        """The next `n` session lines as text; AssertionError if they do not all come in time."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} log lines, got {got!r}")
            data = self._recv()
            if data is not None and self.is_session_log(data):
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

    def wait_for(self, needle: str, timeout: float = 10.0) -> str:
        """The first line containing `needle` (already seen or arriving within `timeout`), whatever
        its level: the lines before it (a "Proxy ... started" notice...) are kept in `seen`."""
        for line in self.seen:
            if needle in line:
                return line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self._recv()
            if data is None:
                continue
            line = data.decode("latin-1")
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no log line with {needle!r} in {timeout}s; got {self.seen!r}")

    def lines_with(self, needle: str, n: int, timeout: float = 10.0) -> list[str]:
        """The next `n` lines containing `needle` that arrive from now on, within `timeout`; the
        others are kept in `seen`."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} log lines with {needle!r}, got {got!r}")
            data = self._recv()
            if data is None:
                continue
            line = data.decode("latin-1")
            self.seen.append(line)
            if needle in line:
                got.append(line)
        return got

    def datagram(self, timeout: float = 10.0) -> bytes:
        """The next datagram as sent, whatever its level; AssertionError if none comes in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self._recv()
            if data is not None:
                return data
        raise AssertionError(f"no syslog datagram in {timeout}s")

    def pending(self) -> list[bytes]:
        """The datagrams already queued on the socket, without waiting."""
        got: list[bytes] = []
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    got.append(self.sock.recv(65536))
                except BlockingIOError:
                    return got
        finally:
            self.sock.settimeout(0.2)

    def quiet_for(self, seconds: float) -> list[str]:
        """Whatever session lines arrive within `seconds` (expected: nothing)."""
        got: list[str] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            data = self._recv()
            if data is not None and self.is_session_log(data):
                got.append(data.decode("latin-1"))
        return got

    # -- collected by a thread ------------------------------------------------------------------

    def start(self) -> Syslog:
        """Collect every line in a thread from now on, into `entries`."""
        self.sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._run, name="syslog", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            text = data.decode("latin-1")
            m = SYSLOG_RE.match(text)
            msg = m["msg"] if m else text
            if self.normalize is not None:
                msg = self.normalize(msg)
            entry = (time.monotonic(), int(m["pri"]), int(m["pid"]), msg) if m else \
                (time.monotonic(), -1, -1, msg)
            with self.lock:
                self.entries.append(entry)

    def messages(self) -> list[str]:
        with self.lock:
            return [e[3] for e in self.entries]

    def find(self, msg: str) -> list[tuple[float, int, int, str]]:
        with self.lock:
            return [e for e in self.entries if e[3] == msg]

    def wait(self, msg: str, timeout: float = 10.0, count: int = 1) -> tuple[float, int, int, str]:
        """The `count`-th collected line equal to msg (waiting for it)."""
        from tests.helpers.net import wait_until  # here: the file also runs alone (stdlib only)

        found = wait_until(lambda: len(self.find(msg)) >= count and self.find(msg), timeout, 0.01,
                           message=f"syslog line {msg!r}")
        return found[count - 1]

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(2)
        self.sock.close()


def _serve_to_file(argv: list[str]) -> Any:
    """argv: ADDR PORT LOGFILE; one received datagram per line of LOGFILE."""
    addr, port, path = argv[0], int(argv[1]), argv[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    with open(path, "a", buffering=1) as f:
        print("ready", flush=True)
        while True:
            data = s.recv(65536)
            f.write(data.decode(errors="replace").rstrip("\n") + "\n")


if __name__ == "__main__":
    _serve_to_file(sys.argv[1:])
