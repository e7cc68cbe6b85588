"""The master's own messages: syslog targets of the configuration and the [ALERT]/[WARNING] lines.

Two outputs, as in HAProxy:
- stderr, for alerts and warnings, as ``[ALERT] DDD/HHMMSS (PID) : msg`` (day of year counted from
  0 like C's tm_yday, local time), unless quiet mode is on;
- the ``log`` targets of the global section (or of a proxy), each with the header of its
  ``format`` (by default ``<PRI>Mon DD HH:MM:SS TAG[PID]: msg``, see format_header), cut at its
  ``len`` (1024), filtered by its max level, raised to its min level and sampled, as haproxy 2.6
  does; ``stdout``/``stderr``/``fd@N`` targets are written to the fd without blocking.

Sending never blocks and never raises: a log line that cannot be sent is lost, as in HAProxy.
Traffic logs are not written here (the workers format and send them in C).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from pyhaproxy.config.model import Global, LogTarget, Proxy

FACILITIES: dict[str, int] = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "auth2": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "cron2": 15,
    "local0": 16, "local1": 17, "local2": 18, "local3": 19,
    "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}  # fmt: skip

LEVELS: dict[str, int] = {
    "emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7,
}  # fmt: skip

LOG_EMERG, LOG_ALERT, LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG = range(8)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# RFC 3164 limit, which HAProxy applies to every line it sends.
MAX_SYSLOG_LEN = 1024
SYSLOG_PORT = 514
PROGNAME = "haproxy"


def _iso_time(now: float) -> str:
    """"YYYY-MM-DDTHH:MM:SS.uuuuuu+hh:mm" in local time, as 2.6's timeofday_as_iso_us()."""
    tm = time.localtime(now)
    off = tm.tm_gmtoff
    sign = "-" if off < 0 else "+"
    off = abs(off)
    usec = int(round((now - int(now)) * 1_000_000)) % 1_000_000
    return (f"{time.strftime('%Y-%m-%dT%H:%M:%S', tm)}.{usec:06d}"
            f"{sign}{off // 3600:02d}:{(off // 60) % 60:02d}")


def format_header(fmt: str, facility: int, level: int, pid: int, now: float,
                  tag: str = PROGNAME, host: str = "") -> str:
    """The header of one message in a `log ... format FMT` target (2.6's build_log_header);
    fmt "" is the unspecified format: "rfc3164" with a host name, else "local"."""
    if not fmt:
        fmt = "rfc3164" if host else "local"
    out = ""
    if fmt in ("local", "rfc3164", "rfc5424", "priority"):
        out = f"<{facility * 8 + level}>"
    elif fmt in ("timed", "short"):
        out = f"<{level}>"
    if fmt in ("local", "rfc3164"):
        tm = time.localtime(now)
        out += (f"{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d}"
                f" {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} ")
        if fmt == "rfc3164":
            out += f"{host or 'localhost'} "
        out += f"{tag}[{pid}]: "
    elif fmt in ("rfc5424", "timed", "iso"):
        if fmt == "rfc5424":
            out += "1 "
        out += _iso_time(now) + " "
        if fmt == "rfc5424":
            out += f"{host or '-'} {tag or '-'} {pid} - - "
    return out


def format_syslog(
    pri_facility: int, level: int, pid: int, msg: str, now: float, progname: str = PROGNAME,
    fmt: str = "", host: str = "", maxlen: int = MAX_SYSLOG_LEN, is_fd: bool = False,
) -> bytes:
    """One line: the header of `fmt` and the message, cut at `maxlen` bytes (`maxlen` - 1 for an
    fd), then a newline, as 2.6 sends them (a datagram may so be maxlen + 1 bytes).

    PRI = facility * 8 + level; the day is space-padded ("Nov  4") and the time is local time,
    as in HAProxy.
    """
    header = format_header(fmt, pri_facility, level, pid, now, progname, host)
    data = (header + msg.rstrip("\n")).encode("utf-8", "replace")
    room = maxlen - 1 if is_fd else maxlen
    return data[:room] + b"\n"


def format_stderr(kind: str, msg: str, pid: int, now: float) -> str:
    """``[ALERT] DDD/HHMMSS (PID) : msg\\n`` where DDD is C's tm_yday (0 = January 1st)."""
    tm = time.localtime(now)
    yday = tm.tm_yday - 1  # Python counts from 1, C's tm_yday (what HAProxy prints) from 0
    return (
        f"[{kind}] {yday:03d}/{tm.tm_hour:02d}{tm.tm_min:02d}{tm.tm_sec:02d} ({pid}) : "
        f"{msg.rstrip(chr(10))}\n"
    )


def _write_nonblocking(fd: int, data: bytes) -> None:
    """One write() that never waits: the fd is made non-blocking unless it is a terminal, as
    2.6 does for its stdout/stderr log targets; a full pipe loses the line."""
    if not os.isatty(fd) and os.get_blocking(fd):
        os.set_blocking(fd, False)
    os.write(fd, data)


class _Target:
    """A resolved syslog destination (or an fd) with its facility, levels, format and sampling."""

    def __init__(self, family: int, addr: Any, facility: int, maxlevel: int, key: tuple[str, ...],
                 t: LogTarget | None = None, fd: int = -1):
        self.family = family
        self.addr = addr
        self.facility = facility
        self.maxlevel = maxlevel
        self.key = key
        self.fd = fd
        self.format = t.format if t is not None else ""
        self.maxlen = t.length if t is not None else MAX_SYSLOG_LEN
        self.minlevel = LEVELS.get(t.minlevel, LOG_EMERG) if t is not None else LOG_EMERG
        self.ranges = list(t.sample) if t is not None else []
        self.sample_size = t.sample_size if t is not None else 0
        self.idx = 0

    def sampled(self) -> bool:
        """`sample R:N`: is this message one of the ranges (1-based) of each N?"""
        if not self.ranges:
            return True
        pos = self.idx + 1
        self.idx = (self.idx + 1) % self.sample_size
        return any(lo <= pos <= hi for lo, hi in self.ranges)


def _resolve(t: LogTarget) -> _Target | None:
    """Turns a LogTarget into a destination; None if it cannot be used (never fatal here)."""
    facility = FACILITIES.get(t.facility.lower(), FACILITIES["local0"])
    maxlevel = LEVELS.get(t.level.lower(), LOG_DEBUG) if t.level else LOG_DEBUG
    key = (t.address, t.facility, t.level, t.format, str(t.length))
    address = t.address
    if address.startswith("fd@") and address[3:].isdigit():
        return _Target(0, None, facility, maxlevel, key, t, fd=int(address[3:]))
    if address.startswith("/"):
        return _Target(socket.AF_UNIX, address, facility, maxlevel, key, t)
    host, port = address, SYSLOG_PORT
    if address.startswith("["):  # [v6]:port
        end = address.find("]")
        host = address[1:end]
        rest = address[end + 1 :]
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif address.count(":") == 1:
        host, _, p = address.partition(":")
        if p.isdigit():
            port = int(p)
    try:
        infos = socket.getaddrinfo(host or "127.0.0.1", port, 0, socket.SOCK_DGRAM)
    except OSError:
        return None
    if not infos:
        return None
    family, _, _, _, sockaddr = infos[0]
    return _Target(family, sockaddr, facility, maxlevel, key, t)


class MasterLog:
    """Alerts, warnings and notices of the master (and of the health checks it runs).

    ``alert``/``warning`` go to stderr (unless quiet) and to the global log targets;
    ``notice``/``info`` only to the log targets. ``proxy_log`` sends to one proxy's targets
    (its own ``log`` lines, plus the global ones with ``log global``), like HAProxy's per-proxy logs.
    """

    def __init__(self, glob: Global | None = None, quiet: bool = False, verbose: bool = False,
                 stderr: IO[str] | None = None) -> None:
        self.quiet = quiet
        self.verbose = verbose
        # while starting, alerts reach stderr even in quiet mode (HAProxy's MODE_STARTING)
        self.starting = False
        self.stderr = stderr
        self.pid = os.getpid()
        self._socks: dict[int, socket.socket] = {}
        self._global: list[_Target] = []
        self._proxy_cache: dict[int, list[_Target]] = {}
        self._global_raw: list[LogTarget] = []
        self.tag = PROGNAME
        self.host = ""
        if glob is not None:
            self.set_global(glob)

    # --- configuration -------------------------------------------------------------------------
    def set_targets(self, targets: Iterable[LogTarget]) -> None:
        """(Re)reads the global log targets, e.g. after a reload."""
        self._global_raw = list(targets)
        self._global = [r for r in (_resolve(t) for t in self._global_raw) if r is not None]
        self._proxy_cache.clear()

    def set_global(self, glob: Global) -> None:
        """(Re)reads the global section's log targets, `log-tag` and `log-send-hostname`."""
        self.tag = glob.log_tag
        self.host = glob.log_send_hostname or ""
        self.set_targets(glob.logs)

    def update_pid(self) -> None:
        """Call after fork (the daemon's master has a new pid)."""
        self.pid = os.getpid()

    def close(self) -> None:
        for s in self._socks.values():
            s.close()
        self._socks.clear()

    # --- sending -------------------------------------------------------------------------------
    def _sock(self, family: int) -> socket.socket | None:
        s = self._socks.get(family)
        if s is None:
            try:
                s = socket.socket(family, socket.SOCK_DGRAM)
                s.setblocking(False)
            except OSError:
                return None
            self._socks[family] = s
        return s

    def _send(self, targets: Iterable[_Target], level: int, msg: str, tag: str | None = None) -> None:
        now = time.time()
        for t in targets:
            if level > t.maxlevel or not t.sampled():
                continue
            line = format_syslog(t.facility, max(level, t.minlevel), self.pid, msg, now,
                                 tag if tag is not None else self.tag, t.format, self.host,
                                 t.maxlen, t.fd >= 0)
            try:
                if t.fd >= 0:
                    _write_nonblocking(t.fd, line)
                    continue
                s = self._sock(t.family)
                if s is not None:
                    s.sendto(line, t.addr)
            except OSError:
                pass  # a full socket buffer or an absent syslogd loses the line, never blocks

    def _stderr(self, kind: str, msg: str) -> None:
        if self.quiet and not self.verbose and not (self.starting and kind == "ALERT"):
            return
        out = self.stderr if self.stderr is not None else sys.stderr
        try:
            out.write(format_stderr(kind, msg, self.pid, time.time()))
            out.flush()
        except (OSError, ValueError):
            pass

    def alert(self, msg: str, syslog: bool = True) -> None:
        self._stderr("ALERT", msg)
        if syslog:
            self._send(self._global, LOG_ALERT, msg)

    def warning(self, msg: str, syslog: bool = True) -> None:
        self._stderr("WARNING", msg)
        if syslog:
            self._send(self._global, LOG_WARNING, msg)

    def notice(self, msg: str) -> None:
        self._send(self._global, LOG_NOTICE, msg)

    def info(self, msg: str) -> None:
        self._send(self._global, LOG_INFO, msg)

    def log(self, level: int, msg: str) -> None:
        """Sends to the global targets only, at any level."""
        self._send(self._global, level, msg)

    def proxy_targets(self, proxy: Proxy) -> list[_Target]:
        cached = self._proxy_cache.get(id(proxy))
        if cached is not None:
            return cached
        out: list[_Target] = []
        seen: set[tuple[str, ...]] = set()
        raw = list(proxy.logs) + (self._global_raw if proxy.log_global else [])
        for t in raw:
            r = _resolve(t)
            if r is not None and r.key not in seen:
                seen.add(r.key)
                out.append(r)
        self._proxy_cache[id(proxy)] = out
        return out

    def proxy_log(self, proxy: Proxy, level: int, msg: str) -> None:
        """Sends to one proxy's log targets (HAProxy's send_log(proxy, ...))."""
        self._send(self.proxy_targets(proxy), level, msg, proxy.log_tag)
