"""Small helpers shared by the robustness tests: raw exchanges, a syslog sink, worker checks."""

from __future__ import annotations

import contextlib
import resource
import socket

import psutil

from tests.helpers import ProxyProcess, wait_until
from tests.helpers.pages import builtin_page

HOST = "127.0.0.1"

PAGE_400 = builtin_page(400)


def send_raw(port: int, data: bytes, timeout: float = 15.0, host: str = HOST) -> bytes:
    """Send `data` on a fresh connection and read until the proxy closes; a reset ends the read."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        with contextlib.suppress(OSError):   # the proxy may answer and close before all is sent
            s.sendall(data)
        s.settimeout(timeout)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return out
            if not chunk:
                return out
            out += chunk


def status_of(answer: bytes) -> int | None:
    """The status code of the first status line of `answer`, or None."""
    parts = answer.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def raise_nofile(want: int) -> None:
    """Raise this process's RLIMIT_NOFILE soft limit to at least `want`; the hard limit too when it
    is lower (possible as root). AssertionError, with the limits, if that is not allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    new_hard = hard if hard == resource.RLIM_INFINITY or hard >= want else want
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, new_hard))
    except (OSError, ValueError) as e:
        raise AssertionError(f"need {want} file descriptors, limits are {soft}/{hard}: {e}") from None


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB."""
    return psutil.Process(pid).memory_info().rss // 1024


def workers_of(px: ProxyProcess, n: int = 1) -> list[int]:
    """The worker pids once `n` workers run (they are forked after the listeners are bound)."""
    return wait_until(lambda: len(px.worker_pids()) == n and px.worker_pids(), timeout=10,
                      message=f"{n} worker(s)")
