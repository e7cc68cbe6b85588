"""Value parsers shared by the keyword handlers: times, integers, addresses, regexes.

Also `fail` and `not_supported`, the two ways a handler reports an error, and the limits
HAProxy 1.2 puts on values.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import warnings
from functools import lru_cache

from .. import _core
from .lexer import ConfigError
from .model import (
    Where,
)

LOG_FACILITIES = (
    "kern user mail daemon auth syslog lpr news uucp cron auth2 ftp ntp audit alert cron2 "
    "local0 local1 local2 local3 local4 local5 local6 local7"
).split()

LOG_LEVELS = "emerg alert crit err warning notice info debug".split()

CAPTURE_LEN = 64  # HAProxy 1.2: cookie captures are truncated to CAPTURE_LEN - 1 bytes

# the statuses a proxy's error pages may replace: ext/errors.pxi's (2.6's) list
ERROR_CODES: tuple[int, ...] = tuple(_core.ERROR_CODES)

MAX_TIME_MS = 2**31 - 1

MAX_PROCS = 64  # nbproc / nbthread upper bound (HAProxy: bits of a long; 2.6's MAX_THREADS)

SYSLOG_PORT = 514


def fail(where: Where, message: str) -> ConfigError:
    return ConfigError(where.file, where.line, message)


# `since` for keywords taken from haproxy 2.6's own keyword list (`haproxy -dKcfg`) whose first
# version we did not look up: the message then says that 2.6 has them.
IN_26 = "in-2.6"


def not_supported(what: str, since: str, where: Where) -> ConfigError:
    if since == IN_26:
        return fail(where, f"{what} is not supported (it is a keyword of HAProxy 2.6).")
    return fail(where, f"{what} is not supported yet (it appeared in HAProxy {since}).")


def isnum(s: str) -> bool:
    """ASCII digits only, short enough for any port/count/time (str.isdigit accepts '²')."""
    return s.isascii() and s.isdigit() and len(s) <= 18


_TIME_RE = re.compile(r"^([0-9]+)(us|ms|s|m|h|d)?$")

_TIME_MULT = {"us": 0.001, "ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


def parse_time(text: str, what: str, where: Where, default_unit: str = "ms") -> int:
    """A time in milliseconds from `N[us|ms|s|m|h|d]`; `default_unit` applies to a bare number."""
    m = _TIME_RE.match(text)
    if m and len(m.group(1)) > 15:
        raise fail(
            where, f"timer overflow in argument '{text}' to '{what}' (maximum value is {MAX_TIME_MS} ms)."
        )
    if not m:
        bad = next((c for c in text if not c.isdigit()), text[:1])
        raise fail(where, f"unexpected character '{bad}' in time argument '{text}' to '{what}'.")
    value = int(m.group(1)) * _TIME_MULT[m.group(2) or default_unit]
    ms = int(value) if value == int(value) else int(value) + 1  # round sub-ms times up
    if ms > MAX_TIME_MS:
        raise fail(
            where, f"timer overflow in argument '{text}' to '{what}' (maximum value is {MAX_TIME_MS} ms)."
        )
    return ms


def parse_int(text: str, what: str, where: Where, lo: int = 0, hi: int = 2**31 - 1) -> int:
    if not isnum(text):
        raise fail(where, f"'{what}' expects an integer argument (got '{text}').")
    value = int(text)
    if not lo <= value <= hi:
        raise fail(where, f"'{what}' expects a value between {lo} and {hi} (got '{text}').")
    return value


def need(args: list[str], n: int, where: Where, message: str) -> None:
    """Raise `message` unless args[n] exists (args[0] is the keyword)."""
    if len(args) <= n or args[n] == "":
        raise fail(where, message)


def no_extra(args: list[str], n: int, where: Where) -> None:
    """HAProxy 1.2 silently ignored trailing words; we refuse them so typos are seen."""
    if len(args) > n:
        raise fail(where, f"'{args[0]}' : unexpected extra argument '{args[n]}'.")


@lru_cache(maxsize=256)
def _getaddrinfo(host: str) -> tuple[str, int] | None:
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return None
    # prefer IPv4 as HAProxy 1.x (gethostbyname) did
    infos.sort(key=lambda i: 0 if i[0] == socket.AF_INET else 1)
    for fam, _t, _p, _c, sa in infos:
        if fam in (socket.AF_INET, socket.AF_INET6):
            return str(sa[0]), int(fam)
    return None


def resolve(host: str, numeric_only: bool = False) -> tuple[str, int] | None:
    """Numeric address and family (2 or 10) of `host`, resolving names (unless numeric_only);
    None if unknown."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if numeric_only or not host or "\x00" in host or len(host) > 253:
            return None
        return _getaddrinfo(host)
    return str(ip), 10 if ip.version == 6 else 2


def split_host_port(text: str) -> tuple[str, str | None]:
    """`[v6]:p`, `v6` (no port), `a.b.c.d:p`, `::1:80` (last colon) -> (host, port text or None)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return text, None
        host, rest = text[1:end], text[end + 1 :]
        if rest.startswith(":"):
            return host, rest[1:]
        return host, None if rest == "" else rest
    if text.count(":") > 1:
        try:
            ipaddress.IPv6Address(text)
            return text, None
        except ValueError:
            host, _, port = text.rpartition(":")
            return host, port
    if ":" in text:
        host, _, port = text.partition(":")
        return host, port
    return text, None


def is_any(host: str) -> bool:
    return host in ("", "*", "0.0.0.0")


_PORT_RANGE_RE = re.compile(r"^[0-9]+(-[0-9]+)?$")


def looks_like_bind(text: str) -> bool:
    """True when every comma-separated part ends in `:PORT[-PORT]` (a `listen ADDR:PORT` line)."""
    parts = text.split(",")
    for part in parts:
        if ":" not in part:
            return False
        if not _PORT_RANGE_RE.match(part.rpartition(":")[2]):
            return False
    return True


def parse_binds(text: str, where: Where) -> list[tuple[str, int, int, int]]:
    """`[addr]:port[-end][,...]` -> [(host, lo, hi, family)]; host '' is the IPv4 any address."""
    out = []
    for part in text.split(","):
        if ":" not in part:
            raise fail(where, f"Missing port number: '{part}'")
        if part.startswith("["):
            host, port_text = split_host_port(part)
            if port_text is None:
                raise fail(where, f"Missing port number: '{part}'")
        else:
            host, _, port_text = part.rpartition(":")  # the last colon, as IPv6 needs
        family = 2
        if ":" in host:
            try:
                host = str(ipaddress.IPv6Address(host))
            except ValueError:
                raise fail(where, f"Invalid server address: '{host}'") from None
            family = 10
        elif is_any(host):
            host = ""
        else:
            res = resolve(host)
            if res is None:
                raise fail(where, f"Invalid server name: '{host}'")
            host, family = res
        lo_text, dash, hi_text = port_text.partition("-")
        for p in (lo_text, hi_text if dash else lo_text):
            if not isnum(p) or not 1 <= int(p) <= 65535:
                raise fail(where, f"Invalid port '{p}' specified for address '{part.rpartition(':')[0]}'.")
        lo = int(lo_text)
        hi = int(hi_text) if dash else lo
        if hi < lo:
            raise fail(
                where, f"Invalid port range '{port_text}' specified for address '{part.rpartition(':')[0]}'."
            )
        out.append((host, lo, hi, family))
    return out


def parse_source_addr(text: str, what: str, where: Where) -> str:
    """`addr[:port]` of a `source` line -> normalized 'ip' or 'ip:port' (port 0 dropped)."""
    host, port = split_host_port(text)
    if is_any(host):
        ip = "0.0.0.0"
    else:
        res = resolve(host)
        if res is None:
            raise fail(where, f"'{what}' : invalid source address '{text}'.")
        ip = res[0] if res[1] == 2 else f"[{res[0]}]"
    if port is None or port in ("", "0"):
        return ip
    if not isnum(port) or not 1 <= int(port) <= 65535:
        raise fail(where, f"'{what}' : invalid source port '{port}'.")
    return f"{ip}:{int(port)}"


def compile_regex(pattern: str, icase: bool, where: Where) -> None:
    """Validate a POSIX extended regex with Python's engine (close enough to reject garbage)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern, re.IGNORECASE if icase else 0)
    except (re.error, OverflowError, RecursionError, ValueError):
        raise fail(where, f"bad regular expression '{pattern}'.") from None


def check_replacement(text: str, where: Where) -> None:
    """A `\\` in a replacement string must introduce a group number, as HAProxy 1.2 checks."""
    i = 0
    while i < len(text):
        if text[i] == "\\":
            if i + 1 >= len(text) or not isnum(text[i + 1]):
                near = text[i + 1] if i + 1 < len(text) else "\\"
                raise fail(
                    where, f"invalid character or unterminated sequence in replacement string near '{near}'."
                )
            i += 2
            continue
        i += 1
