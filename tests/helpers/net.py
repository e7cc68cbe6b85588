"""Socket helpers for the tests: free ports, listening checks, bounded waits, client round trips.

Everything here is bounded in time: a test that waits for something that never happens fails
with a clear message instead of hanging until the pytest timeout.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

LOCALHOST = "127.0.0.1"

# Generous default bounds: the machine has 2 cores and the suite may run next to builds.
DEFAULT_WAIT = 15.0


def _port_bindable(host: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _own_port_range() -> range:
    """Listening ports for this pytest process: below the kernel's ephemeral range (outgoing
    connections of the suite's other tests take their local ports from it, and one took a port
    a proxy was about to bind, once, in the parallel run), a slice per pytest-xdist worker so
    that two processes never draw the same one. Empty when there is no room below the range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph_lo = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return range(0)
    lo, hi = 10000, eph_lo
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0) % workers
    width = (hi - lo) // workers
    return range(lo + worker * width, lo + (worker + 1) * width) if width >= 100 else range(0)


def free_ports(n: int, host: str = LOCALHOST, also_free_on: Iterable[str] = ()) -> list[int]:
    """Return `n` distinct TCP ports that are currently free on `host` (and on `also_free_on`).

    Drawn at random from this process's own slice below the ephemeral range (_own_port_range),
    else picked by the kernel (bind to port 0); all sockets are held open until the n ports are
    known so the same port is never returned twice, then released.
    """
    held: list[socket.socket] = []
    ports: list[int] = []
    extra = list(also_free_on)
    own = _own_port_range()
    try:
        attempts = 0
        while len(ports) < n:
            attempts += 1
            if attempts > 50 * n + 50:
                raise RuntimeError(f"could not find {n} free ports on {host} and {extra}")
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((host, random.choice(own) if own else 0))
            except OSError:
                s.close()
                continue
            held.append(s)
            port = s.getsockname()[1]
            if port in ports:
                continue
            if all(_port_bindable(h, port) for h in extra):
                ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports


def free_port(host: str = LOCALHOST, also_free_on: Iterable[str] = ()) -> int:
    """Return one free TCP port on `host` (see free_ports)."""
    return free_ports(1, host, also_free_on)[0]


def wait_until(
    predicate: Callable[[], T],
    timeout: float = DEFAULT_WAIT,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Call `predicate` until it returns a truthy value and return that value.

    Raises AssertionError after `timeout` seconds. Exceptions from the predicate count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - a failing probe just means "not yet"
            last_exc = exc
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {message}{extra}")
        time.sleep(interval)


def _hex_to_ipv4(h: str) -> str:
    # /proc/net/tcp stores the address as a little-endian 32-bit hex number.
    raw = bytes.fromhex(h)
    return socket.inet_ntoa(raw[::-1])


def listening_sockets() -> set[tuple[str, int]]:
    """(address, port) of every IPv4 TCP socket in LISTEN state on this host (/proc/net/tcp).

    Used instead of a connect() probe because connecting to a TCP-mode proxy opens a session
    to a backend, which would disturb tests that count backend connections.
    """
    found: set[tuple[str, int]] = set()
    with contextlib.suppress(OSError), open("/proc/net/tcp") as f:
        next(f, None)
        for line in f:
            parts = line.split()
            if len(parts) < 4 or parts[3] != "0A":  # 0A = TCP_LISTEN
                continue
            addr, port = parts[1].split(":")
            found.add((_hex_to_ipv4(addr), int(port, 16)))
    return found


def listening_inodes(port: int) -> set[int]:
    """Inodes of the IPv4 TCP sockets in LISTEN state on `port` (/proc/net/tcp): one socket
    shared by several processes counts once, sockets bound side by side count each."""
    found: set[int] = set()
    with contextlib.suppress(OSError), open("/proc/net/tcp") as f:
        next(f, None)
        for line in f:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].split(":")[1], 16) == port:
                found.add(int(parts[9]))
    return found


def listen_backlogs(port: int) -> list[int]:
    """The accept-queue sizes (backlogs) of the TCP sockets listening on `port`, from `ss`
    (its Send-Q column for a listening socket)."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout
    return [int(line.split()[2]) for line in out.splitlines() if line.strip()]


def is_listening(host: str, port: int) -> bool:
    """True if some socket listens on host:port (or on the wildcard address with that port)."""
    wanted = {"0.0.0.0", host or "0.0.0.0"}
    if host in ("", "*", "0.0.0.0"):
        return any(p == port for _, p in listening_sockets())
    return any(p == port and a in wanted for a, p in listening_sockets())


def wait_listening(host: str, port: int, timeout: float = DEFAULT_WAIT) -> None:
    """Wait until host:port is in LISTEN state."""
    wait_until(lambda: is_listening(host, port), timeout, message=f"{host}:{port} to listen")


def wait_not_listening(host: str, port: int, timeout: float = DEFAULT_WAIT) -> None:
    """Wait until nothing listens on host:port any more."""
    wait_until(lambda: not is_listening(host, port), timeout, message=f"{host}:{port} to stop listening")


def connect(
    host: str,
    port: int,
    timeout: float = 10.0,
    source: str | None = None,
) -> socket.socket:
    """Open a blocking TCP client socket to host:port, optionally from source address `source`."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        if source is not None:
            s.bind((source, 0))
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def can_connect(host: str, port: int, timeout: float = 2.0) -> bool:
    """True if a TCP connect to host:port succeeds (the socket is closed at once)."""
    try:
        connect(host, port, timeout).close()
        return True
    except OSError:
        return False


def connection_refused(host: str, port: int, timeout: float = 2.0) -> bool:
    """True if connecting to host:port is actively refused (RST), i.e. nothing accepts there."""
    try:
        connect(host, port, timeout).close()
    except ConnectionRefusedError:
        return True
    except OSError as exc:
        return exc.errno == errno.ECONNREFUSED
    return False


def recv_exactly(sock: socket.socket, n: int, timeout: float = 10.0) -> bytes:
    """Read exactly n bytes; raise AssertionError on early EOF or timeout."""
    sock.settimeout(timeout)
    chunks: list[bytes] = []
    got = 0
    while got < n:
        chunk = sock.recv(min(65536, n - got))
        if not chunk:
            raise AssertionError(f"EOF after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_until_closed(sock: socket.socket, timeout: float = 10.0, limit: int = 1 << 30) -> bytes:
    """Read until the peer closes (EOF or reset) and return everything read.

    Raises socket.timeout if the peer neither sends nor closes for `timeout` seconds.
    """
    sock.settimeout(timeout)
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def wait_closed_by_peer(sock: socket.socket, timeout: float) -> float:
    """Wait until the peer closes `sock` (data read meanwhile is discarded); return seconds waited.

    Raises AssertionError if it is still open after `timeout` seconds.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"connection still open after {timeout:.1f}s")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return time.monotonic() - start
        except TimeoutError:
            raise AssertionError(f"connection still open after {timeout:.1f}s") from None
        if not chunk:
            return time.monotonic() - start


def echo_roundtrip(host: str, port: int, payload: bytes = b"ping\n", timeout: float = 10.0,
                   source: str | None = None) -> bytes:
    """Connect, send payload, read len(payload) bytes back (an echo backend), close; return them."""
    with connect(host, port, timeout, source) as s:
        s.sendall(payload)
        return recv_exactly(s, len(payload), timeout)


def try_echo_roundtrip(host: str, port: int, payload: bytes = b"ping\n", timeout: float = 3.0) -> bool:
    """True if an echo round trip through host:port works (for wait_until)."""
    try:
        return echo_roundtrip(host, port, payload, timeout) == payload
    except (OSError, AssertionError):
        return False


def stats_command(path: str | Path, command: str, timeout: float = 10.0) -> str:
    """One command on a stats (CLI) socket; its whole answer (the proxy closes after it)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(command.encode() + b"\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode()


def show_stat(path: str | Path) -> dict[tuple[str, str], dict[str, str]]:
    """`show stat` on a stats socket: each CSV row by (pxname, svname)."""
    rows = csv.DictReader(io.StringIO(stats_command(path, "show stat").lstrip("# ")))
    return {(r["pxname"], r["svname"]): r for r in rows}


def show_info(path: str | Path) -> dict[str, str]:
    """`show info` on a stats socket, as a dict."""
    return dict(line.split(": ", 1) for line in stats_command(path, "show info").splitlines() if ": " in line)
