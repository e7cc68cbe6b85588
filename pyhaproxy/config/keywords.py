"""The keyword table of the configuration language, and one handler per keyword.

`KEYWORDS` maps a keyword to the sections it is allowed in, the handler that stores its
arguments into the model, and the HAProxy version that introduced it. A handler of `None` marks
a keyword we recognise (HAProxy 1.3 and later) but do not support yet: using it is an error that
says so, never a silent no-op. Messages copy HAProxy 1.2's wording where it had one.
"""

from __future__ import annotations

import copy
import grp
import ipaddress
import os
import pwd
import re
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from .lexer import ConfigError
from .model import (
    BUFSIZE,
    Acl,
    Bind,
    Capture,
    Condition,
    Config,
    Cookie,
    HeaderRule,
    HttpCheck,
    HttpRule,
    LogTarget,
    Proxy,
    Server,
    Stats,
    StatsSocket,
    UseBackend,
    Where,
)

GLOBAL = "global"
DEFAULTS = "defaults"
LISTEN = "listen"
FRONTEND = "frontend"
BACKEND = "backend"
PROXY_SECTIONS = frozenset({DEFAULTS, LISTEN, FRONTEND, BACKEND})
ALL_SECTIONS = frozenset({GLOBAL, DEFAULTS, LISTEN, FRONTEND, BACKEND})

# Sections of later HAProxy versions: recognised so the error can say "not supported yet".
UNSUPPORTED_SECTIONS = {
    "ruleset": "1.3",
    "userlist": "1.4",
    "peers": "1.5",
    "resolvers": "1.6",
    "mailers": "1.6",
    "program": "1.9",
    "cache": "1.8",
    "http-errors": "2.2",
    "ring": "2.2",
    "log-forward": "2.3",
    "fcgi-app": "2.1",
    "crt-store": "3.0",
    "traces": "3.1",
}

LOG_FACILITIES = (
    "kern user mail daemon auth syslog lpr news uucp cron auth2 ftp ntp audit alert cron2 "
    "local0 local1 local2 local3 local4 local5 local6 local7"
).split()
LOG_LEVELS = "emerg alert crit err warning notice info debug".split()
CAPTURE_LEN = 64  # HAProxy 1.2: cookie captures are truncated to CAPTURE_LEN - 1 bytes
ERROR_CODES = (400, 403, 408, 500, 502, 503, 504)
MAX_TIME_MS = 2**31 - 1
MAX_PROCS = 64  # nbproc / nbthread upper bound (HAProxy: bits of a long; 2.6's MAX_THREADS)
SYSLOG_PORT = 514


@dataclass
class State:
    """Everything the handlers share while one configuration is being read."""

    config: Config
    section: str | None = None
    proxy: Proxy | None = None  # the `defaults`, `listen`, `frontend` or `backend` being filled
    defaults: Proxy = field(default_factory=lambda: Proxy(name=""))
    seen: set[str] = field(default_factory=set)  # "already specified" tracking, per section
    global_seen: set[str] = field(default_factory=set)
    stats_detached: bool = False  # a listen's first `stats` line drops the inherited settings
    anon_acls: int = 0  # numbering of anonymous `{ ... }` ACLs
    server_names: dict[int, dict[str, Server]] = field(default_factory=dict)  # per proxy (by id)

    def warn(self, where: Where, message: str) -> None:
        self.config.warnings.append(f"[WARNING] parsing [{where.file}:{where.line}] : {message}")

    def px(self) -> Proxy:
        assert self.proxy is not None
        return self.proxy

    @property
    def in_defaults(self) -> bool:
        return self.section == DEFAULTS


Handler = Callable[[State, list[str], Where], None]


class Kw(NamedTuple):
    sections: frozenset[str]
    handler: Handler | None  # None: recognised, not supported yet
    since: str  # HAProxy version that introduced the keyword
    note: str = ""


def fail(where: Where, message: str) -> ConfigError:
    return ConfigError(where.file, where.line, message)


# `since` for keywords taken from haproxy 2.6's own keyword list (`haproxy -dKcfg`) whose first
# version we did not look up: the message then says that 2.6 has them.
IN_26 = "in-2.6"


def not_supported(what: str, since: str, where: Where) -> ConfigError:
    if since == IN_26:
        return fail(where, f"{what} is not supported (it is a keyword of HAProxy 2.6).")
    return fail(where, f"{what} is not supported yet (it appeared in HAProxy {since}).")


# --------------------------------------------------------------------------- value parsers


def _isnum(s: str) -> bool:
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
    if not _isnum(text):
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


def resolve(host: str) -> tuple[str, int] | None:
    """Numeric address and family (2 or 10) of `host`, resolving names; None if unknown."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if not host or "\x00" in host or len(host) > 253:
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
            if not _isnum(p) or not 1 <= int(p) <= 65535:
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
    if not _isnum(port) or not 1 <= int(port) <= 65535:
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
            if i + 1 >= len(text) or not _isnum(text[i + 1]):
                near = text[i + 1] if i + 1 < len(text) else "\\"
                raise fail(
                    where, f"invalid character or unterminated sequence in replacement string near '{near}'."
                )
            i += 2
            continue
        i += 1


# --------------------------------------------------------------------------- global section


def _once(st: State, key: str, where: Where) -> bool:
    """HAProxy 1.2 keeps the first value of these keywords and alerts (non-fatally) on repeats."""
    seen = st.global_seen if st.section == GLOBAL else st.seen
    if key in seen:
        st.warn(where, f"'{key}' already specified. Continuing.")
        return False
    seen.add(key)
    return True


def g_hard_stop_after(st: State, args: list[str], where: Where) -> None:
    """`hard-stop-after TIME`: a soft stop (or the old workers of a reload) that has not ended
    after TIME becomes a hard stop."""
    need(args, 1, where, "'hard-stop-after' expects <time> as argument.")
    no_extra(args, 2, where)
    st.config.global_.hard_stop_after = parse_time(args[1], "hard-stop-after", where)


def g_flag(st: State, args: list[str], where: Where) -> None:
    no_extra(args, 1, where)
    attr = args[0].replace("-", "_")
    setattr(st.config.global_, attr, True)


def g_int(st: State, args: list[str], where: Where) -> None:
    kw = args[0]
    need(args, 1, where, f"'{kw}' expects an integer argument.")
    no_extra(args, 2, where)
    lo = 1 if kw in ("nbproc", "nbthread", "maxconn", "ulimit-n") else 0
    value = parse_int(args[1], kw, where, lo=lo)
    if kw in ("nbproc", "nbthread") and value > MAX_PROCS:
        # HAProxy 1.x kept one bit per process in a long; 2.6 caps nbthread at MAX_THREADS=64.
        # A larger value is a typo that would fork without bound: refused before anything starts.
        raise fail(where, f"'{kw}' value must be between 1 and {MAX_PROCS} (was {value})")
    if not _once(st, kw, where):
        return
    g = st.config.global_
    if kw == "maxconn":
        g.maxconn = value
    elif kw == "nbproc":
        g.nbproc = value
    elif kw == "nbthread":
        g.nbthread = value
    elif kw == "ulimit-n":
        g.ulimit_n = value
    elif kw == "uid":
        g.uid = value
    elif kw == "gid":
        g.gid = value


def g_user(st: State, args: list[str], where: Where) -> None:
    kw = args[0]
    need(args, 1, where, f"'{kw}' expects a {kw} name as an argument.")
    no_extra(args, 2, where)
    g = st.config.global_
    key = "uid" if kw == "user" else "gid"  # `user` and `uid` set the same thing
    if key in st.global_seen:
        st.warn(where, f"'{kw}' : {key} already specified. Continuing.")
        return
    st.global_seen.add(key)
    try:
        if kw == "user":
            g.uid = pwd.getpwnam(args[1]).pw_uid
            g.user = args[1]
        else:
            g.gid = grp.getgrnam(args[1]).gr_gid
            g.group = args[1]
    except KeyError:
        raise fail(where, f"cannot find {'user' if kw == 'user' else 'group'} id for '{args[1]}'.") from None


def g_path(st: State, args: list[str], where: Where) -> None:
    kw = args[0]
    what = "a directory" if kw == "chroot" else "a file name"
    need(args, 1, where, f"'{kw}' expects {what} as an argument.")
    no_extra(args, 2, where)
    if not _once(st, kw, where):
        return
    if kw == "chroot":
        st.config.global_.chroot = args[1]
    else:
        st.config.global_.pidfile = args[1]


def parse_log(args: list[str], where: Where) -> LogTarget:
    """`log <address> <facility> [max_level]` (args[0] is 'log')."""
    addr, fac = args[1], args[2]
    if fac not in LOG_FACILITIES:
        raise fail(where, f"unknown log facility '{fac}'")
    level = "debug"
    if len(args) > 3:
        level = args[3]
        if level not in LOG_LEVELS:
            raise fail(where, f"unknown optional log level '{level}'")
        no_extra(args, 4, where)
    if addr.startswith("/"):
        return LogTarget(address=addr, facility=fac, level=level, where=where)
    host, port = split_host_port(addr)
    res = resolve(host) if host else None
    if res is None:
        raise fail(where, f"'log' : invalid address '{addr}'.")
    if port in (None, "", "0"):
        nport = SYSLOG_PORT
    elif _isnum(port) and 1 <= int(port) <= 65535:
        nport = int(port)
    else:
        raise fail(where, f"'log' : invalid port in address '{addr}'.")
    ip = res[0] if res[1] == 2 else f"[{res[0]}]"
    return LogTarget(address=f"{ip}:{nport}", facility=fac, level=level, where=where)


def g_log(st: State, args: list[str], where: Where) -> None:
    if len(args) < 3:
        raise fail(where, "'log' expects <address> and <facility> as arguments.")
    target = parse_log(args, where)
    if len(st.config.global_.logs) >= 2:
        raise fail(where, "too many syslog servers")
    st.config.global_.logs.append(target)


def g_tune(st: State, args: list[str], where: Where) -> None:
    kw = args[0]
    need(args, 1, where, f"'{kw}' expects an argument.")
    no_extra(args, 2, where)
    if kw == "tune.maxpollevents":
        parse_int(args[1], kw, where, lo=1)
    st.config.global_.tune[kw[len("tune.") :]] = args[1]
    # the worker's buffers, polling and TLS are fixed: say so rather than ignore it silently
    st.warn(where, f"'{kw}' has no effect in pyhaproxy (accepted for compatibility).")


def g_stats(st: State, args: list[str], where: Where) -> None:
    g = st.config.global_
    if len(args) == 1:
        return  # HAProxy 1.2's bare `stats` (a compile-time statistics switch): no effect here
    sub = args[1]
    if sub == "socket":
        need(args, 2, where, "'stats socket' expects a path to a UNIX socket.")
        sock = StatsSocket(path=args[2])
        i = 3
        while i < len(args):
            opt = args[i]
            if i + 1 >= len(args):
                raise fail(where, f"'stats socket' : '{opt}' expects an argument.")
            val = args[i + 1]
            if opt == "mode":
                try:
                    sock.mode = int(val, 8)
                except ValueError:
                    raise fail(where, f"'stats socket' : invalid mode '{val}' (octal expected).") from None
            elif opt == "level":
                if val not in ("user", "operator", "admin"):
                    raise fail(
                        where, "'stats socket' : 'level' only supports 'user', 'operator', and 'admin'."
                    )
                sock.level = val
            elif opt == "uid":
                sock.uid = parse_int(val, "stats socket uid", where)
            elif opt == "gid":
                sock.gid = parse_int(val, "stats socket gid", where)
            elif opt == "user":
                try:
                    sock.uid = pwd.getpwnam(val).pw_uid
                except KeyError:
                    raise fail(where, f"'stats socket' : unknown user '{val}'.") from None
            elif opt == "group":
                try:
                    sock.gid = grp.getgrnam(val).gr_gid
                except KeyError:
                    raise fail(where, f"'stats socket' : unknown group '{val}'.") from None
            else:
                raise not_supported(f"'stats socket' option '{opt}'", "1.4", where)
            i += 2
        if sock.path.startswith(("ipv4@", "ipv6@", "udp@", "abns@")) or (
                ":" in sock.path and not sock.path.startswith(("/", "fd@", "unix@"))):
            raise fail(where, f"'stats socket {sock.path}' : only UNIX socket paths and fd@N are "
                              "supported by pyhaproxy.")
        if sock.path.startswith("unix@"):
            sock.path = sock.path[5:]
        if sock.path.startswith("fd@") and not sock.path[3:].isdigit():
            raise fail(where, f"'stats socket {sock.path}' : 'fd@' expects a file descriptor number.")
        if g.stats_socket is None:
            g.stats_socket = sock
        g.stats_sockets.append(sock)
    elif sub == "timeout":
        need(args, 2, where, "'stats timeout' expects a timeout argument.")
        no_extra(args, 3, where)
        t = parse_time(args[2], "stats timeout", where)
        if t == 0:
            raise fail(where, "'stats timeout' expects a positive value.")
        g.stats_timeout = t
    elif sub == "maxconn":
        need(args, 2, where, "'stats maxconn' expects an integer argument.")
        no_extra(args, 3, where)
        g.stats_maxconn = parse_int(args[2], "stats maxconn", where, lo=1)
    elif sub in ("bind-process", "bind"):
        raise not_supported(f"'stats {sub}'", "1.4", where)
    else:
        raise fail(where, "'stats' expects 'socket', 'maxconn' or 'timeout' in 'global' section.")


def g_tls_ignored(st: State, args: list[str], where: Where) -> None:
    """TLS settings of a global section (Debian's default has them): accepted, with a warning."""
    need(args, 1, where, f"'{args[0]}' expects an argument.")
    st.warn(where, f"'{args[0]}' ignored: pyhaproxy does not handle TLS ('bind ... ssl' is an error).")


_GLOBAL_TLS_KEYWORDS = (
    "ca-base", "crt-base", "key-base", "ssl-default-bind-ciphers", "ssl-default-bind-ciphersuites",
    "ssl-default-bind-options", "ssl-default-bind-curves", "ssl-default-bind-sigalgs",
    "ssl-default-bind-client-sigalgs", "ssl-default-server-ciphers",
    "ssl-default-server-ciphersuites", "ssl-default-server-options", "ssl-default-server-curves",
    "ssl-default-server-sigalgs", "ssl-server-verify", "ssl-dh-param-file", "ssl-engine",
    "ssl-mode-async", "ssl-load-extra-files", "ssl-load-extra-del-ext", "ssl-skip-self-issued-ca",
    "ssl-propquery", "ssl-provider", "ssl-provider-path", "ssl-security-level",
)


# --------------------------------------------------------------------------- proxy sections


def _defaults_forbidden(st: State, args: list[str], where: Where, label: str | None = None) -> None:
    if st.in_defaults:
        raise fail(where, f"'{label or args[0]}' not allowed in 'defaults' section.")


# `bind` options we apply (value-taking ones map to True), those that need TLS, and later ones.
_BIND_OPTIONS = {
    "name": True, "backlog": True, "interface": True, "mss": True, "id": True,
    "defer-accept": False, "v6only": False, "v4v6": False, "transparent": False, "tfo": False,
    "accept-proxy": False,  # [PROXY-PROTOCOL hook 1/4] a PROXY header opens each connection
}
_BIND_TLS_OPTIONS = frozenset({
    "ca-verify-file", "tls-ticket-keys",
    "ssl", "crt", "crt-list", "ca-file", "crl-file", "verify", "alpn", "npn", "ciphers",
    "ciphersuites", "curves", "ecdhe", "ssl-min-ver", "ssl-max-ver", "no-sslv3", "no-tlsv10",
    "no-tlsv11", "no-tlsv12", "no-tlsv13", "force-sslv3", "force-tlsv10", "force-tlsv11",
    "force-tlsv12", "force-tlsv13", "strict-sni", "generate-certificates", "ca-sign-file",
    "ca-sign-pass", "no-tls-tickets", "prefer-client-ciphers", "allow-0rtt", "ssl-ignore-err",
    "ca-ignore-err", "crt-ignore-err", "no-ca-names", "quic-cc-algo", "sigalgs", "client-sigalgs",
})
_BIND_LATER_OPTIONS = {
    "accept-netscaler-cip": "1.6", "process": "1.5", "thread": "1.8",
    "proto": "1.9", "level": "1.5", "severity-output": "1.9", "expose-fd": "1.8", "mode": "1.5",
    "user": "1.5", "group": "1.5", "uid": "1.5", "gid": "1.5", "nice": "1.5", "namespace": "1.6",
    "nbconn": "1.5", "shards": "2.5", "label": "2.6", "maxconn": "1.4",
}


def p_bind(st: State, args: list[str], where: Where) -> None:
    _defaults_forbidden(st, args, where)
    if len(args) < 2 or (":" not in args[1] and not args[1].startswith(("fd@", "unix@", "abns@", "/"))):
        raise fail(where, "'bind' expects [addr1]:port1[-end1]{,[addr]:port[-end]}... as arguments.")
    opts: dict[str, str] = {}
    i = 2
    while i < len(args):
        opt = args[i]
        if opt in _BIND_TLS_OPTIONS:
            raise fail(
                where,
                f"'bind {args[1]}' : option '{opt}' needs TLS, which pyhaproxy does not handle "
                "(terminate TLS in front of it).",
            )
        if opt in _BIND_LATER_OPTIONS:
            raise not_supported(f"'bind' option '{opt}'", _BIND_LATER_OPTIONS[opt], where)
        if opt not in _BIND_OPTIONS:
            raise fail(where, f"'bind {args[1]}' : unknown option '{opt}'.")
        if _BIND_OPTIONS[opt]:
            if i + 1 >= len(args) or args[i + 1] == "":
                raise fail(where, f"'bind {args[1]}' : option '{opt}' expects an argument.")
            val = args[i + 1]
            if opt in ("backlog", "mss", "maxconn", "id"):
                parse_int(val, f"bind {opt}", where, lo=1)
            opts[opt] = val
            i += 2
        else:
            opts[opt] = ""
            i += 1
    add_binds(st.px(), args[1], where, opts)


def add_binds(px: Proxy, text: str, where: Where, opts: dict[str, str] | None = None) -> None:
    if text.startswith("fd@"):
        # a listening socket inherited from whoever started us (systemd, VTest, a wrapper)
        if not text[3:].isdigit():
            raise fail(where, f"'bind {text}' : 'fd@' expects a file descriptor number.")
        px.binds.append(Bind(host=text, port_lo=0, port_hi=0, fd=int(text[3:]), where=copy.copy(where),
                             options=dict(opts or {})))
        return
    if text.startswith(("unix@", "abns@", "/")):
        raise fail(where, f"'bind {text}' : UNIX sockets are not supported by pyhaproxy yet "
                          "(TCP addresses and fd@N only).")
    if text.startswith(("sockpair@", "udp@", "quic4@", "quic6@")):
        raise not_supported(f"'bind {text}' (only TCP addresses)", "1.5", where)
    for pre in ("ipv4@", "ipv6@"):
        if text.startswith(pre):
            text = text[len(pre):]
    for host, lo, hi, fam in parse_binds(text, where):
        px.binds.append(Bind(host=host, port_lo=lo, port_hi=hi, family=fam, where=copy.copy(where),
                             options=dict(opts or {})))


def p_mode(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'mode' expects 'tcp', 'http' or 'health' as argument.")
    no_extra(args, 2, where)
    if args[1] not in ("tcp", "http", "health"):
        raise fail(where, f"unknown proxy mode '{args[1]}'.")
    st.px().mode = args[1]


def p_disabled(st: State, args: list[str], where: Where) -> None:
    no_extra(args, 1, where)
    st.px().disabled = args[0] == "disabled"


def p_balance(st: State, args: list[str], where: Where) -> None:
    px = st.px()
    algo = args[1] if len(args) > 1 else "roundrobin"
    if algo in ("roundrobin", "source", "static-rr", "leastconn", "first"):
        no_extra(args, 2, where)
        px.balance = algo
        px.balance_explicit = True
        return
    if algo == "uri":
        for opt in args[2:]:
            if opt != "whole":
                raise not_supported(f"'balance uri {opt}'", "1.3.21", where)
        px.balance = "uri"
        px.hash_balance_arg = "whole" if args[2:] else ""
        px.balance_explicit = True
        return
    m = re.match(r"^hdr\(([!#$%&'*+.^_`|~0-9A-Za-z-]+)\)$", algo)
    if m:
        for opt in args[2:]:
            raise not_supported(f"'balance {algo} {opt}'", "1.3.21", where)
        px.balance = "hdr"
        px.hash_balance_arg = m.group(1)
        px.balance_explicit = True
        return
    later = {
        "url_param": "1.3.14",
        "random": "1.9",
        "rdp-cookie": "1.3.22",
        "hash": "2.6",
    }
    if algo in later or algo.startswith("rdp-cookie"):
        raise not_supported(f"'balance {algo}'", later.get(algo, "1.3.22"), where)
    raise fail(where, "'balance' only supports 'roundrobin', 'static-rr', 'leastconn', 'first', "
                      "'source', 'uri' and 'hdr(name)' options.")


def p_dispatch(st: State, args: list[str], where: Where) -> None:
    _defaults_forbidden(st, args, where)
    if len(args) < 2 or ":" not in args[1]:
        raise fail(where, "'dispatch' expects <addr:port> as argument.")
    no_extra(args, 2, where)
    host, port = split_host_port(args[1])
    res = resolve(host)
    if res is None or res[0] in ("0.0.0.0", "::"):
        raise fail(where, f"'dispatch' : invalid address '{host}'.")
    if port is None or not _isnum(port) or not 1 <= int(port) <= 65535:
        raise fail(where, f"'dispatch' : invalid port '{port or ''}'.")
    st.px().dispatch = (res[0], int(port))


def p_source(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'source' expects <addr>[:<port>] as argument.")
    if len(args) > 2:
        raise not_supported(f"'source' option '{args[2]}'", "1.3.10", where)
    st.px().source = parse_source_addr(args[1], "source", where)


def p_cookie(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'cookie' expects <cookie_name> as argument.")
    ck = Cookie(name=args[1])
    modes: list[str] = []
    i = 2
    while i < len(args):
        a = args[i]
        if a in ("rewrite", "insert", "prefix"):
            modes.append(a)
        elif a == "indirect":
            ck.indirect = True
        elif a == "nocache":
            ck.nocache = True
        elif a == "postonly":
            ck.postonly = True
        elif a == "domain":
            if i + 1 >= len(args):
                raise fail(where, "'cookie' 'domain' option expects a domain name.")
            ck.domain = args[i + 1]
            i += 1
        elif a in ("preserve", "httponly", "secure", "maxidle", "maxlife", "dynamic", "attr"):
            raise not_supported(f"'cookie' option '{a}'", "1.4", where)
        else:
            raise fail(
                where,
                "'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', "
                "'nocache', 'postonly' and 'domain' options.",
            )
        i += 1
    if "rewrite" in modes and ck.indirect:
        raise fail(where, "cookie 'rewrite' and 'indirect' modes are incompatible.")
    if len(set(modes)) > 1:
        raise fail(where, "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.")
    if modes:
        ck.mode = modes[0]
    st.px().cookie = ck


def p_appsession(st: State, args: list[str], where: Where) -> None:
    _defaults_forbidden(st, args, where)
    if len(args) < 6 or args[2] != "len" or args[4] != "timeout":
        raise fail(where, "'appsession' expects 'appsession' <cookie_name> 'len' <len> 'timeout' <timeout>.")
    if len(args) > 6:
        raise not_supported(f"'appsession' option '{args[6]}'", "1.4", where)
    px = st.px()
    px.appsession_len = parse_int(args[3], "appsession len", where, lo=1)
    px.appsession_timeout = parse_time(args[5], "appsession timeout", where)
    px.appsession = args[1]


def p_capture(st: State, args: list[str], where: Where) -> None:
    px = st.px()
    kind = args[1] if len(args) > 1 else ""
    if kind == "cookie":
        if len(args) < 5 or args[3] != "len":
            raise fail(where, "'capture' expects 'cookie' <cookie_name> 'len' <len>.")
        no_extra(args, 5, where)
        length = parse_int(args[4], "capture cookie len", where, lo=1)
        if length >= CAPTURE_LEN:
            st.warn(where, f"truncating capture length to {CAPTURE_LEN - 1} bytes.")
            length = CAPTURE_LEN - 1
        # a proxy has one cookie capture in 1.x: a new line replaces the previous one
        px.captures = [c for c in px.captures if c.kind != "cookie"]
        px.captures.append(Capture(kind="cookie", name=args[2], length=length))
    elif kind in ("request", "response") and len(args) > 2 and args[2] == "header":
        _defaults_forbidden(st, args, where, f"capture {kind}")
        if len(args) < 6 or args[4] != "len":
            raise fail(where, f"'capture {kind}' expects 'header' <header_name> 'len' <len>.")
        no_extra(args, 6, where)
        length = parse_int(args[5], f"capture {kind} header len", where, lo=1)
        px.captures.append(Capture(kind=kind, name=args[3], length=length))
    else:
        raise fail(where, "'capture' expects 'cookie' or 'request header' or 'response header'.")


def _set_timeout(st: State, key: str, attr: str, text: str, where: Where, written: str = "") -> None:
    value = parse_time(text, written or key, where)  # errors name the keyword as written
    if key in st.seen and not st.in_defaults:
        st.warn(where, f"'{key}' already specified. Continuing.")
        return
    st.seen.add(key)
    setattr(st.px(), attr, value)


_OLD_TIMEOUTS = {"contimeout": "contimeout", "clitimeout": "clitimeout", "srvtimeout": "srvtimeout"}


def p_old_timeout(st: State, args: list[str], where: Where) -> None:
    kw = args[0]
    need(args, 1, where, f"'{kw}' expects an integer <time_in_ms> as argument.")
    no_extra(args, 2, where)
    _set_timeout(st, kw, _OLD_TIMEOUTS[kw], args[1], where)


_TIMEOUTS = {
    "connect": "contimeout",
    "client": "clitimeout",
    "server": "srvtimeout",
    "queue": "queuetimeout",
    "http-request": "httpreqtimeout",
    "http-keep-alive": "keepalivetimeout",
    "check": "checktimeout",
    "tunnel": "tunneltimeout",
}
# the 1.2 keyword each `timeout` form shares its "already specified" state with
_TIMEOUT_KEYS = {"connect": "contimeout", "client": "clitimeout", "server": "srvtimeout"}


def p_timeout(st: State, args: list[str], where: Where) -> None:
    name = args[1] if len(args) > 1 else ""
    if name in ("tarpit", "client-fin", "server-fin", "appsession"):
        raise not_supported(f"'timeout {name}'", "1.3.15" if name == "tarpit" else "1.5", where)
    if name not in _TIMEOUTS:
        raise fail(
            where,
            "'timeout' supports 'client', 'server', 'connect', 'check', 'queue', "
            "'http-keep-alive', 'http-request' or 'tunnel' (got '" + name + "').",
        )
    need(args, 2, where, f"'timeout {name}' expects an integer value (in milliseconds).")
    no_extra(args, 3, where)
    _set_timeout(st, _TIMEOUT_KEYS.get(name, f"timeout {name}"), _TIMEOUTS[name], args[2], where,
                 written=f"timeout {name}")


def p_int(st: State, args: list[str], where: Where) -> None:
    kw = args[0]
    msg = (
        "'retries' expects an integer argument (dispatch counts for one)."
        if kw == "retries"
        else f"'{kw}' expects an integer argument."
    )
    need(args, 1, where, msg)
    no_extra(args, 2, where)
    value = parse_int(args[1], kw, where, lo=0 if kw != "maxconn" else 1)
    setattr(st.px(), kw, value)


def p_grace(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'grace' expects a time in milliseconds.")
    no_extra(args, 2, where)
    st.px().grace = parse_time(args[1], "grace", where)


def p_redispatch(st: State, args: list[str], where: Where) -> None:
    no_extra(args, 1, where)
    st.px().redispatch = True
    st.px().options.add("redispatch")


def p_transparent(st: State, args: list[str], where: Where) -> None:
    no_extra(args, 1, where)
    st.px().transparent = True
    st.px().options.add("transparent")


def _prefix_len(mask: str, where: Where) -> int:
    if _isnum(mask):
        n = int(mask)
        if n > 32:
            raise fail(where, "'monitor-net' expects address[/mask].")
        return n
    try:
        bits = int(ipaddress.IPv4Address(mask))
    except ValueError:
        raise fail(where, "'monitor-net' expects address[/mask].") from None
    n = bin(bits).count("1")
    if bits != ((1 << 32) - (1 << (32 - n)) if n else 0):
        raise fail(where, f"'monitor-net' : non-contiguous netmask '{mask}'.")
    return n


def p_monitor_net(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'monitor-net' expects address[/mask].")
    no_extra(args, 2, where)
    addr, slash, mask = args[1].partition("/")
    res = resolve(addr)
    if res is None or res[1] != 2:
        raise fail(where, "'monitor-net' expects address[/mask].")
    plen = _prefix_len(mask, where) if slash else 32
    net = ipaddress.IPv4Network(f"{res[0]}/{plen}", strict=False)  # flush useless bits
    st.px().monitor_net.append((str(net.network_address), plen))


def p_monitor_uri(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'monitor-uri' expects an URI.")
    no_extra(args, 2, where)
    st.px().monitor_uri = args[1]


def p_monitor(st: State, args: list[str], where: Where) -> None:
    raise not_supported("'monitor fail'", "1.3.10", where)


def p_log(st: State, args: list[str], where: Where) -> None:
    px = st.px()
    if len(args) == 2 and args[1] == "global":
        px.log_global = True
        return
    if len(args) < 3:
        raise fail(where, "'log' expects either <address[:port]> and <facility> or 'global' as arguments.")
    target = parse_log(args, where)
    if len(px.logs) >= 2:
        raise fail(where, "too many syslog servers")
    px.logs.append(target)


# option name -> (handler, since); plain flags are stored as-is in Proxy.options
_FLAG_OPTIONS = {
    "httpclose": "1.1.28",
    "forwardfor": "1.1.22",
    "httplog": "1.1.22",
    "tcplog": "1.1.22",
    "dontlognull": "1.1.22",
    "logasap": "1.1.28",
    "persist": "1.1.17",
    "checkcache": "1.1.28",
    "abortonclose": "1.2.14",
    "allbackups": "1.2.9",
    "tcpka": "1.2.7",
    "clitcpka": "1.2.7",
    "srvtcpka": "1.2.7",
    "nolinger": "1.2.15",
    "ssl-hello-chk": "1.2.15",
    "keepalive": "1.1",
    "accept-invalid-http-request": "1.3.15",
    "accept-invalid-http-response": "1.3.15",
}
_LATER_OPTIONS = {
    "http-pretend-keepalive": "1.4",
    "http-no-delay": "1.5",
    "http-use-proxy-header": "1.4",
    "http-buffer-request": "1.6",
    "http-ignore-probes": "1.6",
    "http-use-htx": "1.9",
    "http_proxy": "1.3.21",
    "redis-check": "1.5",
    "mysql-check": "1.4",
    "pgsql-check": "1.5",
    "ldap-check": "1.5",
    "tcp-check": "1.5",
    "external-check": "1.6",
    "spop-check": "1.7",
    "log-health-checks": "1.5",
    "splice-auto": "1.4",
    "splice-request": "1.4",
    "splice-response": "1.4",
    "socket-stats": "1.4",
    "tcp-smart-accept": "1.4",
    "tcp-smart-connect": "1.4",
    "independent-streams": "1.4",
    "independant-streams": "1.4",
    "originalto": "1.4",
    "log-separate-errors": "1.3.21",
    "contstats": "1.4",
    "dontlog-normal": "1.3.21",
    "prefer-last-server": "1.5",
    "httplog-clf": "1.5",
    "disable-h2-upgrade": "2.0",
    "h1-case-adjust-bogus-client": "1.9",
    "h1-case-adjust-bogus-server": "1.9",
    "http-restrict-req-hdr-names": "2.5",
    "idle-close-on-response": "2.6",
}


def _forwardfor_args(px: Proxy, args: list[str], where: Where) -> None:
    """`option forwardfor [except NETWORK] [header NAME]`."""
    i = 2
    while i < len(args):
        opt = args[i]
        if opt in ("except", "header") and i + 1 < len(args) and args[i + 1]:
            if opt == "except":
                try:
                    net = ipaddress.ip_network(args[i + 1], strict=False)
                except ValueError:
                    raise fail(where, f"'option forwardfor' : invalid network '{args[i + 1]}'.") from None
                px.forwardfor_except = (str(net.network_address), net.prefixlen)
            else:
                if not re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", args[i + 1]):
                    raise fail(where, f"'option forwardfor' : invalid header name '{args[i + 1]}'.")
                px.forwardfor_header = args[i + 1]
            i += 2
        elif opt == "if-none":
            raise not_supported("'option forwardfor if-none'", "1.5", where)
        else:
            raise fail(where, "'option forwardfor' only supports optional values 'except' and 'header'.")


def p_option(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'option' expects an option name.")
    px = st.px()
    name = args[1]
    if name == "forwardfor" and len(args) > 2:
        _forwardfor_args(px, args, where)
        px.options.add(name)
        return
    if name in ("http-server-close", "http-keep-alive", "httpclose"):
        # the last of these three wins, as in HAProxy 1.5+
        no_extra(args, 2, where)
        px.options.difference_update(("http-server-close", "http-keep-alive", "httpclose"))
        px.options.add(name)
        return
    if name in _FLAG_OPTIONS:
        if name == "httplog" and len(args) > 2:
            raise not_supported(f"'option httplog {args[2]}'", "1.3.21", where)
        no_extra(args, 2, where)
        px.options.add(name)
        return
    if name == "forceclose":
        no_extra(args, 2, where)
        px.options.update(("forceclose", "httpclose"))  # forceclose implies httpclose
        return
    if name == "redispatch":
        no_extra(args, 2, where)
        px.options.add("redispatch")
        px.redispatch = True
        return
    if name == "transparent":
        no_extra(args, 2, where)
        px.options.add("transparent")
        px.transparent = True
        return
    if name == "httpchk":
        # no argument: OPTIONS / HTTP/1.0 ; one: URI ; more: METH URI [VER]
        rest = args[2:]
        if len(rest) > 3:
            raise fail(where, "'option httpchk' expects [<method>] [<uri>] [<version>].")
        if not rest:
            chk = HttpCheck()
        elif len(rest) == 1:
            chk = HttpCheck(uri=rest[0])
        else:
            chk = HttpCheck(method=rest[0], uri=rest[1], version=rest[2] if len(rest) > 2 else "HTTP/1.0")
        px.httpchk = chk
        px.options.add("httpchk")
        return
    if name == "smtpchk":
        rest = args[2:]
        if not rest:
            px.smtpchk = ("HELO", "localhost")
        elif len(rest) == 2 and rest[0] in ("HELO", "EHLO"):
            px.smtpchk = (rest[0], rest[1])
        else:
            raise fail(where, "'option smtpchk' expects [HELO|EHLO <domain>].")
        px.options.add("smtpchk")
        return
    if name in _LATER_OPTIONS:
        raise not_supported(f"'option {name}'", _LATER_OPTIONS[name], where)
    raise fail(where, f"unknown option '{name}'.")


def p_no(st: State, args: list[str], where: Where) -> None:
    raise not_supported("'no option'", "1.3.15", where)


def _rule(direction: str, action: str, icase: bool, nargs: int) -> Handler:
    def handler(st: State, args: list[str], where: Where) -> None:
        kw = args[0]
        _defaults_forbidden(st, args, where)
        if action == "add":
            need(args, 1, where, f"'{kw}' expects <header> as an argument.")
            no_extra(args, 2, where)
            st.px().rules.append(HeaderRule(direction, "add", False, None, args[1], copy.copy(where)))
            return
        what = "<search>" if direction == "rsp" else "<regex>"
        if nargs == 2:
            if len(args) < 3 or args[1] == "" or args[2] == "":
                raise fail(where, f"'{kw}' expects <search> and <replace> as arguments.")
            no_extra(args, 3, where)
        else:
            need(args, 1, where, f"'{kw}' expects {what} as an argument.")
            no_extra(args, 2, where)
        compile_regex(args[1], icase, where)
        repl = args[2] if nargs == 2 else None
        if repl is not None:
            check_replacement(repl, where)
        st.px().rules.append(HeaderRule(direction, action, icase, args[1], repl, copy.copy(where)))

    return handler


def p_errorloc(st: State, args: list[str], where: Where) -> None:
    if len(args) < 3:
        raise fail(where, "<errorloc> expects <error> and <url> as arguments.")
    no_extra(args, 3, where)
    code = parse_int(args[1], args[0], where)
    if code not in ERROR_CODES:
        st.warn(where, f"error {code} relocation will be ignored.")
        return
    kind = "303" if args[0] == "errorloc303" else "302"
    st.px().errorloc[code] = (kind, args[2])
    st.px().errorfile.pop(code, None)


def p_errorfile(st: State, args: list[str], where: Where) -> None:
    if len(args) < 3:
        raise fail(where, "'errorfile' expects <error> and <file> as arguments.")
    no_extra(args, 3, where)
    code = parse_int(args[1], "errorfile", where)
    path = args[2]
    try:
        with open(path, "rb") as f:
            data = f.read(BUFSIZE + 1)
    except OSError as e:
        raise fail(where, f"error opening file <{path}> ({os.strerror(e.errno or 0)}).") from None
    if len(data) > BUFSIZE:
        raise fail(where, f"file <{path}> is larger than the buffer size ({BUFSIZE} bytes).")
    if code not in ERROR_CODES:
        st.warn(where, f"status code {code} cannot be overridden.")
        return
    st.px().errorfile[code] = data.decode("latin-1")
    st.px().errorloc.pop(code, None)


def p_stats(st: State, args: list[str], where: Where) -> None:
    px = st.px()
    if not st.in_defaults and not st.stats_detached:
        # "if an instance redefines any 'stats' parameter, defaults will not be used"
        px.stats = Stats()
        st.stats_detached = True
    sub = args[1] if len(args) > 1 else ""
    s = px.stats
    if sub == "":
        raise fail(where, "'stats' expects 'uri', 'realm', 'auth', 'scope' or 'enable'.")
    if sub == "uri":
        need(args, 2, where, "'uri' needs an URI prefix.")
        no_extra(args, 3, where)
        s.uri = args[2]
    elif sub == "realm":
        need(args, 2, where, "'realm' needs an realm name.")
        no_extra(args, 3, where)
        s.realm = args[2]
    elif sub == "auth":
        need(args, 2, where, "'auth' needs a user:password account.")
        no_extra(args, 3, where)
        user, colon, password = args[2].partition(":")
        if not colon or not user:
            raise fail(where, "'auth' needs a user:password account.")
        s.auth.append((user, password))
    elif sub == "scope":
        need(args, 2, where, "'scope' needs a proxy name.")
        no_extra(args, 3, where)
        s.scope.append(args[2])
    elif sub == "refresh":
        need(args, 2, where, "'refresh' needs a positive interval in seconds.")
        no_extra(args, 3, where)
        s.refresh = parse_time(args[2], "stats refresh", where, default_unit="s")
    elif sub == "hide-version":
        no_extra(args, 2, where)
        s.hide_version = True
    elif sub == "enable":
        no_extra(args, 2, where)
    elif sub in (
        "admin",
        "show-desc",
        "show-legends",
        "show-node",
        "http-request",
        "bind-process",
        "show-modules",
        "socket",
        "timeout",
        "maxconn",
    ):
        raise not_supported(f"'stats {sub}' in a proxy", "1.4", where)
    else:
        raise fail(
            where, f"unknown stats parameter '{sub}' (expects 'uri', 'realm', 'auth', 'scope' or 'enable')."
        )
    s.enabled = True


def _apply_server_options(srv: Server, args: list[str], where: Where) -> None:
    """The options of a `server` line (after its address), `default-server` ones first."""
    name = srv.name

    def val(i: int) -> str:
        if i + 1 >= len(args) or args[i + 1] == "":
            raise fail(where, f"'{args[i]}' expects an argument (server {name}).")
        return args[i + 1]

    i = 0
    while i < len(args):
        opt = args[i]
        if opt == "cookie":
            srv.cookie = val(i)
            i += 2
        elif opt in ("rise", "fall"):
            setattr(srv, opt, parse_int(val(i), opt, where, lo=1))
            i += 2
        elif opt in ("inter", "fastinter", "downinter", "slowstart"):
            t = parse_time(val(i), opt, where)
            if opt != "slowstart" and t == 0:
                raise fail(where, f"server {name} : '{opt}' expects a positive time.")
            setattr(srv, opt, t)
            i += 2
        elif opt == "port":
            srv.check_port = parse_int(val(i), "port", where, lo=1, hi=65535)
            i += 2
        elif opt == "addr":
            r = resolve(val(i))
            if r is None:
                raise fail(where, f"server {name} : invalid check address '{args[i + 1]}'.")
            srv.check_addr = r[0]
            i += 2
        elif opt == "backup":
            srv.backup = True
            i += 1
        elif opt == "check":
            srv.check = True
            i += 1
        elif opt == "disabled":
            srv.disabled = True
            i += 1
        elif opt == "weight":
            w_text = val(i)
            w = int(w_text) if _isnum(w_text) else -1
            if not 1 <= w <= 256:
                raise fail(where, f"weight of server {name} is not within 1 and 256 ({w_text}).")
            srv.weight = w
            i += 2
        elif opt in ("minconn", "maxconn", "maxqueue"):
            setattr(srv, opt, parse_int(val(i), opt, where))
            i += 2
        elif opt == "source":
            if i + 1 >= len(args):
                raise fail(where, "'source' expects <addr>[:<port>] as argument.")
            srv.source = parse_source_addr(args[i + 1], "source", where)
            i += 2
        elif opt in _PROXY_PROTOCOL_SERVER_OPTIONS:  # [PROXY-PROTOCOL hook 2/4]
            i += _proxy_protocol_server_option(srv, args, i, where)
        elif opt in _LATER_SERVER_OPTIONS:
            raise not_supported(f"server option '{opt}'", _LATER_SERVER_OPTIONS[opt], where)
        else:
            raise fail(
                where,
                f"server {name} only supports options 'backup', 'cookie', 'check', "
                "'inter', 'fastinter', 'downinter', 'rise', 'fall', 'port', 'addr', "
                "'source', 'minconn', 'maxconn', 'maxqueue', 'slowstart', "
                "'disabled' and 'weight'.",
            )


# [PROXY-PROTOCOL hook 3/4] the server options of the PROXY protocol (send side): one function,
# called from _apply_server_options, returning how many words it took.
_PROXY_PROTOCOL_SERVER_OPTIONS = frozenset({
    "send-proxy", "send-proxy-v2", "no-send-proxy", "no-send-proxy-v2", "proxy-v2-options",
    "check-send-proxy", "no-check-send-proxy",
})
_PP2_TLS_OPTIONS = frozenset({"ssl", "cert-cn", "ssl-cipher", "cert-sig", "cert-key"})


def _proxy_protocol_server_option(srv: Server, args: list[str], i: int, where: Where) -> int:
    opt = args[i]
    if opt == "send-proxy":
        srv.send_proxy = 1
    elif opt == "send-proxy-v2":
        srv.send_proxy = 2
    elif opt in ("no-send-proxy", "no-send-proxy-v2"):
        srv.send_proxy = 0
    elif opt == "check-send-proxy":
        srv.check_send_proxy = True
    elif opt == "no-check-send-proxy":
        srv.check_send_proxy = False
    else:  # proxy-v2-options LIST: used by send-proxy-v2 (it does not imply it, as in 2.6)
        if i + 1 >= len(args) or args[i + 1] == "":
            raise fail(where, f"'{opt}' expects an argument (server {srv.name}).")
        for word in args[i + 1].split(","):
            if word == "crc32c":
                srv.pp_opts |= 1
            elif word == "authority":  # the AUTHORITY a client's own PROXY header carried
                srv.pp_opts |= 2
            elif word in _PP2_TLS_OPTIONS:
                raise fail(where, f"server {srv.name} : 'proxy-v2-options {word}' needs TLS, which "
                                  "pyhaproxy does not handle.")
            elif word == "unique-id":
                raise not_supported(f"'proxy-v2-options {word}'", "1.9", where)
            else:
                raise fail(where, f"'{opt}' : failed to parse '{word}' (server {srv.name}).")
        return 2
    return 1


def p_http_check(st: State, args: list[str], where: Where) -> None:
    """`http-check expect [!] status|rstatus PATTERN`: what an `option httpchk` reply's status must
    be (2xx/3xx without it). `status` takes codes and ranges separated by commas (200-399,404)."""
    if len(args) < 2 or args[1] != "expect":
        raise not_supported(f"'http-check {args[1] if len(args) > 1 else ''}'", "1.4", where)
    rest = args[2:]
    neg = bool(rest) and rest[0] == "!"
    if neg:
        rest = rest[1:]
    if len(rest) != 2 or rest[0] not in ("status", "rstatus"):
        what = rest[0] if rest else ""
        if what in ("string", "rstring", "hdr", "fhdr"):
            raise not_supported(f"'http-check expect {what}'", "1.4", where)
        raise fail(where, "'http-check expect' expects '[!] status <codes>' or '[!] rstatus <regex>'.")
    kind, pattern = rest
    if kind == "status":
        for part in pattern.split(","):
            lo, _, hi = part.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()):
                raise fail(where, f"'http-check expect status' : invalid status code or range '{part}'.")
    else:
        try:
            re.compile(pattern)
        except re.error as e:
            raise fail(where, f"'http-check expect rstatus' : invalid regex '{pattern}' ({e}).") from None
    st.px().http_check_expect = (neg, kind, pattern)


def p_default_server(st: State, args: list[str], where: Where) -> None:
    """`default-server OPTIONS`: options every later `server` line of the section (and of the
    proxies after a `defaults` section) starts with; its own options come after and win."""
    need(args, 1, where, "'default-server' expects at least one option.")
    _apply_server_options(Server(name="default-server", host=""), args[1:], where)  # validated now
    st.px().default_server = [*st.px().default_server, *args[1:]]


def p_server(st: State, args: list[str], where: Where) -> None:
    _defaults_forbidden(st, args, where)
    if len(args) < 3 or args[2] == "":
        raise fail(where, "'server' expects <name> and <addr>[:<port>] as arguments.")
    name = args[1]
    srv = Server(name=name, host="", where=copy.copy(where))
    host, port = split_host_port(args[2])
    res = resolve(host)
    if res is None:
        raise fail(where, f"server {name} : could not resolve address '{host}'.")
    srv.host, srv.family = res
    if srv.host != host:
        srv.hostname = host
    # IP => port of the client connection ; IP:N => N ; IP:+N / IP:-N => client's port +/- N
    fixed_port: int | None = None
    if port not in (None, ""):
        assert port is not None
        if port[0] in "+-" and _isnum(port[1:]):
            off = int(port[1:])
            if off > 65535:
                raise fail(where, f"server {name} : invalid port offset '{port}'.")
            srv.port_offset = off if port[0] == "+" else -off
        elif _isnum(port) and int(port) <= 65535:
            fixed_port = int(port) or None  # ':0' means "same port as the client"
        else:
            raise fail(where, f"server {name} : invalid port '{port}'.")
    srv.port = fixed_port

    _apply_server_options(srv, [*st.px().default_server, *args[3:]], where)
    if srv.check:
        if srv.check_port is None and srv.port is not None:
            srv.check_port = srv.port
        if srv.check_port is None:
            raise fail(
                where, f"server {name} has neither service port nor check port. Check has been disabled."
            )
    seen = st.server_names.setdefault(id(st.px()), {})  # a dict: a farm of 100,000 stays linear
    other = seen.get(srv.name)
    if other is not None:
        raise fail(where, f"{st.px().cap} '{st.px().name}', another server named '{srv.name}' was "
                          f"already defined at line {other.where.line}, please use distinct names.")
    seen[srv.name] = srv
    st.px().servers.append(srv)


_LATER_SERVER_OPTIONS = {
    "ssl": "1.5",
    "verify": "1.5",
    "ca-file": "1.5",
    "crt": "1.5",
    "sni": "1.5",
    "alpn": "1.5",
    "check-ssl": "1.5",
    "track": "1.3.21",
    "id": "1.3.16",
    "redir": "1.3.20",
    "observe": "1.4",
    "error-limit": "1.4",
    "on-error": "1.4",
    "on-marked-down": "1.5",
    "on-marked-up": "1.5",
    "agent-check": "1.5",
    "agent-port": "1.5",
    "agent-inter": "1.5",
    "resolvers": "1.6",
    "resolve-prefer": "1.6",
    "init-addr": "1.7",
    "namespace": "1.6",
    "proto": "1.9",
    "non-stick": "1.5",
    "tfo": "1.8",
    "usesrc": "1.3.10",
    "init-state": "3.1",
}


# --------------------------------------------------------------------------- ACLs, switching

# criterion -> (fetch, match): what the C evaluator implements (ext/acl.pxi)
ACL_CRITERIA = {
    "path": ("path", "str"), "path_beg": ("path", "beg"), "path_end": ("path", "end"),
    "path_sub": ("path", "sub"), "path_reg": ("path", "reg"), "path_dir": ("path", "dir"),
    "path_dom": ("path", "dom"),
    "url": ("url", "str"), "url_beg": ("url", "beg"), "url_end": ("url", "end"),
    "url_sub": ("url", "sub"), "url_reg": ("url", "reg"),
    "hdr": ("hdr", "str"), "hdr_beg": ("hdr", "beg"), "hdr_end": ("hdr", "end"),
    "hdr_sub": ("hdr", "sub"), "hdr_reg": ("hdr", "reg"), "hdr_dom": ("hdr", "dom"),
    "hdr_dir": ("hdr", "dir"),
    "method": ("method", "str"), "src": ("src", "ip"), "dst_port": ("dst_port", "int"),
}
_MATCH_SUFFIX = {"str": "", "beg": "_beg", "end": "_end", "sub": "_sub", "reg": "_reg", "dom": "_dom",
                 "dir": "_dir"}
_ACL_RE = re.compile(r"^([a-z_.0-9]+)(?:\(([^)]*)\))?$")
_HTTP_FETCHES = frozenset({"path", "url", "hdr", "method"})
_PREDEFINED_ACLS = {"TRUE": ("always_true", ""), "FALSE": ("always_false", "")}


def _acl_criterion(text: str, where: Where) -> tuple[str, str | None]:
    """`hdr_dom(host)` -> ('hdr_dom', 'host'); 2.x spellings `req.hdr(x)`, `hdr(x)` accepted."""
    m = _ACL_RE.match(text)
    if not m:
        raise fail(where, f"'acl' : criterion '{text}' is not supported (converters and sample "
                          "expressions are not handled).")
    crit, arg = m.group(1), m.group(2)
    if crit.startswith("req."):
        crit = crit[4:]
    if crit not in ACL_CRITERIA:
        raise fail(where, f"'acl' : criterion '{crit}' is not supported.")
    fetch = ACL_CRITERIA[crit][0]
    if fetch == "hdr":
        if not arg:
            raise fail(where, f"'acl' : '{crit}' needs a header name, as in {crit}(host).")
        if "," in arg:
            raise fail(where, f"'acl' : '{crit}({arg})' : occurrence numbers are not supported.")
    elif arg is not None:
        raise fail(where, f"'acl' : '{crit}' takes no argument.")
    return crit, arg


def parse_acl(name: str, words: list[str], where: Where) -> Acl:
    """`CRITERION [-i] [-m MATCH] [--] VALUES...` -> Acl (validated)."""
    if not words:
        raise fail(where, f"'acl {name}' expects a criterion.")
    crit, hdr = _acl_criterion(words[0], where)
    icase = False
    i = 1
    while i < len(words) and words[i].startswith("-") and crit != "dst_port":
        flag = words[i]
        if flag == "--":
            i += 1
            break
        if flag == "-i":
            icase = True
        elif flag == "-m":
            if i + 1 >= len(words):
                raise fail(where, "'acl' : '-m' expects a match method.")
            meth = words[i + 1]
            if meth not in _MATCH_SUFFIX or ACL_CRITERIA[crit][1] not in ("str",) + tuple(_MATCH_SUFFIX):
                raise fail(where, f"'acl' : match method '-m {meth}' is not supported for '{crit}'.")
            fetch = ACL_CRITERIA[crit][0]
            crit = fetch + _MATCH_SUFFIX[meth]
            if crit not in ACL_CRITERIA:
                raise fail(where, f"'acl' : match method '-m {meth}' is not supported for '{fetch}'.")
            i += 1
        elif flag == "-f":
            raise fail(where, "'acl' : pattern files ('-f') are not supported.")
        elif flag in ("-n", "-u", "-M"):
            raise fail(where, f"'acl' : flag '{flag}' is not supported.")
        else:
            break
        i += 1
    pats = words[i:]
    if not pats:
        raise fail(where, f"'acl {name}' : no pattern for criterion '{words[0]}' (ACLs that only test "
                          "for the presence of a value are not supported).")
    fetch, match = ACL_CRITERIA[crit]
    for pat in pats:
        if match == "reg":
            compile_regex(pat, icase, where)
        elif match == "ip":
            _acl_ip(pat, where)
        elif match == "int":
            _acl_port_range(pat, where)
    return Acl(name=name, criterion=crit, header=hdr, icase=icase, patterns=list(pats),
               where=copy.copy(where))


def _acl_ip(pat: str, where: Where) -> tuple[int, bytes, int]:
    """`addr[/bits|/mask]` -> (family, packed network, prefix length)."""
    try:
        net = ipaddress.ip_network(pat, strict=False)
    except ValueError:
        raise fail(where, f"'acl' : '{pat}' is not a valid IPv4 or IPv6 address[/mask].") from None
    return (2 if net.version == 4 else 10), net.network_address.packed, net.prefixlen


def _acl_port_range(pat: str, where: Where) -> tuple[int, int]:
    """`N`, `LO:HI`, `:HI`, `LO:` (HAProxy's integer ranges) and `eq|ge|gt|le|lt N`-free forms."""
    lo_t, colon, hi_t = pat.partition(":")
    try:
        lo = int(lo_t) if lo_t else 0
        hi = (int(hi_t) if hi_t else 65535) if colon else lo
    except ValueError:
        raise fail(where, f"'acl' : '{pat}' is not an integer or a range LO:HI.") from None
    if not (0 <= lo <= 65535 and 0 <= hi <= 65535) or hi < lo:
        raise fail(where, f"'acl' : '{pat}' is not a valid port range.")
    return lo, hi


def acl_ip(pat: str) -> tuple[int, bytes, int]:
    return _acl_ip(pat, Where())


def acl_port_range(pat: str) -> tuple[int, int]:
    return _acl_port_range(pat, Where())


def p_acl(st: State, args: list[str], where: Where) -> None:
    _defaults_forbidden(st, args, where)
    if len(args) < 3:
        raise fail(where, "'acl' expects an ACL name, a criterion and values.")
    name = args[1]
    if not re.match(r"^[A-Za-z0-9_.:-]+$", name):
        raise fail(where, f"'acl' : invalid character in ACL name '{name}'.")
    st.px().acls.append(parse_acl(name, args[2:], where))


def parse_condition(st: State, words: list[str], where: Where, what: str) -> Condition:
    """`if|unless TERMS`: terms are ACL names, `!NAME`, `{ anonymous acl }`, joined by `||`/`or`."""
    if not words or words[0] not in ("if", "unless"):
        raise fail(where, f"'{what}' : expects 'if' or 'unless' followed by a condition.")
    px = st.px()
    groups: list[list[tuple[bool, str]]] = [[]]
    i = 1
    known = {a.name for a in px.acls}
    while i < len(words):
        w = words[i]
        if w in ("||", "or", "OR"):
            if not groups[-1]:
                raise fail(where, f"'{what}' : missing ACL before '{w}'.")
            groups.append([])
            i += 1
            continue
        neg = False
        if w == "!":
            neg = True
            i += 1
            if i >= len(words):
                raise fail(where, f"'{what}' : missing ACL after '!'.")
            w = words[i]
        elif w.startswith("!"):
            neg = True
            w = w[1:]
        if w == "{":
            end = i + 1
            while end < len(words) and words[end] != "}":
                end += 1
            if end >= len(words):
                raise fail(where, f"'{what}' : missing closing '}}' in condition.")
            st.anon_acls += 1
            name = f"{{anonymous-{st.anon_acls}}}"
            px.acls.append(parse_acl(name, words[i + 1:end], where))
            groups[-1].append((neg, name))
            i = end + 1
            continue
        if w in _PREDEFINED_ACLS:
            groups[-1].append((neg, w))
            i += 1
            continue
        if w not in known:
            raise fail(where, f"'{what}' : no such ACL : '{w}'.")
        groups[-1].append((neg, w))
        i += 1
    if not groups[-1]:
        raise fail(where, f"'{what}' : missing ACL in condition.")
    return Condition(unless=words[0] == "unless", groups=groups)


def p_default_backend(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'default_backend' expects a backend name.")
    no_extra(args, 2, where)
    if st.px().cap == BACKEND:
        st.warn(where, f"'default_backend' ignored in backend '{st.px().name}'.")
        return
    st.px().default_backend = args[1]


def p_use_backend(st: State, args: list[str], where: Where) -> None:
    _defaults_forbidden(st, args, where)
    need(args, 1, where, "'use_backend' expects a backend name.")
    cond = parse_condition(st, args[2:], where, "use_backend") if len(args) > 2 else None
    st.px().use_backends.append(UseBackend(backend=args[1], cond=cond, where=copy.copy(where)))


def p_tcp_request(st: State, args: list[str], where: Where) -> None:
    """[PROXY-PROTOCOL hook 4/4] `tcp-request connection expect-proxy layer4 [if|unless COND]`:
    the connections the condition matches (src, dst_port: known at accept) start with a PROXY
    header, as on an `accept-proxy` bind. Every other `tcp-request` rule is not supported."""
    if args[1:3] != ["connection", "expect-proxy"]:
        what = " ".join(args[:3]) if len(args) > 2 else " ".join(args)
        raise not_supported(f"'{what}'", "1.3.15", where)
    px = st.px()
    if st.in_defaults and px.name:
        raise not_supported("'tcp-request connection' in a named 'defaults' section", IN_26, where)
    if st.in_defaults:
        raise fail(where, "tcp-request connection is not allowed in anonymous 'defaults' sections")
    if px.cap == BACKEND:
        raise fail(where, "tcp-request connection is not allowed because backend "
                          f"{px.name} is not a frontend")
    if len(args) < 4 or args[3] != "layer4":
        got = args[3] if len(args) > 3 else ""
        raise fail(where, f"'tcp-request connection expect-proxy' only supports 'layer4' in {px.cap} "
                          f"'{px.name}' (got '{got}')")
    cond = parse_condition(st, args[4:], where, "tcp-request connection") if len(args) > 4 else None
    if cond is not None:
        names = {n for g in cond.groups for _neg, n in g}
        for acl in st.px().acls:
            if acl.name in names and ACL_CRITERIA[acl.criterion][0] not in ("src", "dst_port"):
                raise fail(where, f"'tcp-request connection' : ACL '{acl.name}' uses '{acl.criterion}', "
                                  "which is not known when the connection is accepted (src, dst_port).")
    st.px().expect_proxy.append(cond)


DENY_CODES = (400, 403, 404, 405, 408, 429, 500, 502, 503, 504)
_HTTP_REQUEST_ACTIONS = {"deny": 0, "add-header": 2, "set-header": 2, "del-header": 1, "redirect": -1}
_HTTP_REQUEST_LATER = (
    "allow tarpit auth set-path set-uri set-query set-method set-var unset-var set-log-level "
    "set-nice set-tos set-mark replace-header replace-value replace-path replace-uri capture "
    "track-sc0 track-sc1 track-sc2 sc-inc-gpc0 sc-set-gpt0 lua cache-use return reject "
    "silent-drop wait-for-body wait-for-handshake early-hint normalize-uri set-timeout "
    "set-src set-dst set-src-port set-dst-port do-resolve use-service add-acl del-acl set-map "
    "del-map set-priority-class set-priority-offset send-spoe-group set-bandwidth-limit "
    "disable-l7-retry ot-group replace-pathq set-pathq set-var-fmt strict-mode"
).split()


def p_http_request(st: State, args: list[str], where: Where) -> None:
    _defaults_forbidden(st, args, where)
    need(args, 1, where, "'http-request' expects an action.")
    action = args[1]
    if action not in _HTTP_REQUEST_ACTIONS:
        base = action.split("(", 1)[0]
        if base in _HTTP_REQUEST_LATER or base.startswith(("track-sc", "sc-", "lua.")):
            raise fail(where, f"'http-request {action}' is not supported (only deny, add-header, "
                              "set-header, del-header and redirect are).")
        raise fail(where, f"'http-request' : unknown action '{action}'.")
    rest = args[2:]
    k = next((j for j, w in enumerate(rest) if w in ("if", "unless")), len(rest))
    params, cond_words = rest[:k], rest[k:]
    cond = parse_condition(st, cond_words, where, f"http-request {action}") if cond_words else None
    if action == "deny":
        if params[:1] == ["deny_status"] and len(params) == 2:
            code = parse_int(params[1], "deny_status", where, lo=200, hi=599)
            if code not in DENY_CODES:
                raise fail(where, f"'http-request deny' : status {code} is not supported (only "
                                  f"{', '.join(map(str, DENY_CODES))}).")
            params = [str(code)]
        elif params:
            extra = params[2] if params[:1] == ["deny_status"] and len(params) > 2 else params[0]
            raise fail(where, f"'http-request deny' : unsupported argument '{extra}' "
                              "(only 'deny_status CODE').")
    elif action == "redirect":
        params = _parse_redirect(params, where)
    else:
        nargs = _HTTP_REQUEST_ACTIONS[action]
        if len(params) != nargs:
            if action == "del-header" and len(params) == 3 and params[1] == "-m":
                raise fail(where, "'http-request del-header -m' is not supported.")
            raise fail(where, f"'http-request {action}' expects {nargs} argument(s) "
                              f"({'<name>' if nargs == 1 else '<name> <value>'}).")
        if "%" in "".join(params[1:]):
            raise fail(where, f"'http-request {action}' : log-format values ('%...') are not "
                              "supported; use a literal value.")
        if not re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", params[0]):
            raise fail(where, f"'http-request {action}' : invalid header name '{params[0]}'.")
    st.px().http_rules.append(HttpRule(action=action, args=params, cond=cond, where=copy.copy(where)))


def _parse_redirect(params: list[str], where: Where) -> list[str]:
    """`location|prefix|scheme URL`, `code N` and `drop-query` in any order (as 2.x) ->
    [kind, url, code, drop]."""
    kind = url = ""
    code, drop = "302", "0"
    i = 0
    while i < len(params):
        if params[i] in ("location", "prefix", "scheme") and i + 1 < len(params) and not kind:
            kind, url = params[i], params[i + 1]
            i += 2
            continue
        if params[i] == "code" and i + 1 < len(params):
            if params[i + 1] not in ("301", "302", "303", "307", "308"):
                raise fail(where, f"'http-request redirect' : invalid code '{params[i + 1]}'.")
            code = params[i + 1]
            i += 2
        elif params[i] == "drop-query":
            drop = "1"
            i += 1
        else:
            raise fail(where, f"'http-request redirect' : option '{params[i]}' is not supported.")
    if not kind:
        raise fail(where, "'http-request redirect' expects 'location', 'prefix' or 'scheme' <value>.")
    if kind == "scheme":
        raise fail(where, "'http-request redirect scheme' is not supported.")
    if "%" in url:
        raise fail(where, "'http-request redirect' : log-format values ('%...') are not supported.")
    return [kind, url, code, drop]


def p_fullconn(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'fullconn' expects an integer argument.")
    no_extra(args, 2, where)
    st.px().fullconn = parse_int(args[1], "fullconn", where)


# --------------------------------------------------------------------------- the table

G = frozenset({GLOBAL})
P = PROXY_SECTIONS
L = frozenset({LISTEN, FRONTEND, BACKEND})  # a proxy, not `defaults`
FE = frozenset({LISTEN, FRONTEND})  # sides that accept clients
BE = frozenset({LISTEN, BACKEND})  # sides that have servers
FED = FE | {DEFAULTS}

KEYWORDS: dict[str, tuple[Kw, ...]] = {
    # global
    "daemon": (Kw(G, g_flag, "1.0"),),
    "debug": (Kw(G, g_flag, "1.0"),),
    "quiet": (Kw(G, g_flag, "1.0"),),
    "nopoll": (Kw(G, g_flag, "1.2.5", "accepted, epoll is always used"),),
    "noreuseport": (Kw(G, g_flag, "1.8"),),
    "hard-stop-after": (Kw(G, g_hard_stop_after, "1.8"),),
    "noepoll": (Kw(G, g_flag, "1.2.5", "accepted, epoll is always used"),),
    "nosepoll": (Kw(G, g_flag, "1.3.9", "accepted, epoll is always used"),),
    "nokqueue": (Kw(G, g_flag, "1.3.9", "accepted, epoll is always used"),),
    "master-worker": (Kw(G, g_flag, "1.8"),),
    "uid": (Kw(G, g_int, "1.0"),),
    "gid": (Kw(G, g_int, "1.0"),),
    "nbproc": (Kw(G, g_int, "1.1"),),
    "nbthread": (Kw(G, g_int, "1.8"),),
    "ulimit-n": (Kw(G, g_int, "1.1.32"),),
    "user": (Kw(G, g_user, "1.1.27"),),
    "group": (Kw(G, g_user, "1.1.27"),),
    "chroot": (Kw(G, g_path, "1.0"),),
    "pidfile": (Kw(G, g_path, "1.1.21"),),
    "maxconn": (Kw(G, g_int, "1.0"), Kw(P, p_int, "1.0")),
    "log": (Kw(G, g_log, "1.0"), Kw(P, p_log, "1.0")),
    "stats": (Kw(G, g_stats, "1.2"), Kw(P, p_stats, "1.2.14")),
    # proxies
    "bind": (Kw(FE, p_bind, "1.2"),),
    "acl": (Kw(L, p_acl, "1.3.10"),),
    "use_backend": (Kw(FE, p_use_backend, "1.3.10"),),
    "tcp-request": (Kw(P, p_tcp_request, "1.3.15"),),  # [PROXY-PROTOCOL hook 4/4]
    "default_backend": (Kw(FED, p_default_backend, "1.3"),),
    "http-request": (Kw(L, p_http_request, "1.4"),),
    "mode": (Kw(P, p_mode, "1.0"),),
    "disabled": (Kw(P, p_disabled, "1.1"),),
    "enabled": (Kw(P, p_disabled, "1.1.22"),),
    "balance": (Kw(P, p_balance, "1.1"),),
    "dispatch": (Kw(BE, p_dispatch, "1.0"),),
    "source": (Kw(P, p_source, "1.1.18"),),
    "cookie": (Kw(P, p_cookie, "1.0"),),
    "appsession": (Kw(BE, p_appsession, "1.2.4"),),
    "capture": (Kw(P, p_capture, "1.1.23"),),
    "contimeout": (Kw(P, p_old_timeout, "1.0"),),
    "clitimeout": (Kw(P, p_old_timeout, "1.0"),),
    "srvtimeout": (Kw(P, p_old_timeout, "1.0"),),
    "timeout": (Kw(P, p_timeout, "1.3.14"),),
    "retries": (Kw(P, p_int, "1.0"),),
    "grace": (Kw(P, p_grace, "1.1"),),
    "fullconn": (Kw(P, p_fullconn, "1.3.9"),),
    "redispatch": (Kw(P, p_redispatch, "1.0"),),
    "redisp": (Kw(P, p_redispatch, "1.0"),),
    "transparent": (Kw(P, p_transparent, "1.1"),),
    "monitor-net": (Kw(P, p_monitor_net, "1.2.6"),),
    "monitor-uri": (Kw(P, p_monitor_uri, "1.2.15"),),
    "monitor": (Kw(P, p_monitor, "1.3.10"),),
    "option": (Kw(P, p_option, "1.0"),),
    "no": (Kw(P, p_no, "1.3.15"),),
    "server": (Kw(BE, p_server, "1.0"),),
    "default-server": (Kw(P, p_default_server, "1.4"),),
    "http-check": (Kw(P, p_http_check, "1.4"),),
    "errorloc": (Kw(P, p_errorloc, "1.1"),),
    "errorloc302": (Kw(P, p_errorloc, "1.2.5"),),
    "errorloc303": (Kw(P, p_errorloc, "1.2.5"),),
    "errorfile": (Kw(P, p_errorfile, "1.2.13"),),
    "reqadd": (Kw(L, _rule("req", "add", False, 1), "1.0"),),
    "rspadd": (Kw(L, _rule("rsp", "add", False, 1), "1.0"),),
    "reqrep": (Kw(L, _rule("req", "rep", False, 2), "1.0"),),
    "cliexp": (Kw(L, _rule("req", "rep", False, 2), "1.0", "old name of reqrep"),),
    "reqirep": (Kw(L, _rule("req", "rep", True, 2), "1.1"),),
    "rsprep": (Kw(L, _rule("rsp", "rep", False, 2), "1.0"),),
    "srvexp": (Kw(L, _rule("rsp", "rep", False, 2), "1.0", "old name of rsprep"),),
    "rspirep": (Kw(L, _rule("rsp", "rep", True, 2), "1.1"),),
}
for _dir, _acts in (("req", ("del", "deny", "allow", "pass", "tarpit")), ("rsp", ("del", "deny"))):
    for _act in _acts:
        for _icase in (False, True):
            _kw = f"{_dir}{'i' if _icase else ''}{_act}"
            KEYWORDS[_kw] = (Kw(L, _rule(_dir, _act, _icase, 1), "1.2.10" if _act == "tarpit" else "1.1"),)

# Recognised keywords of later versions: an error that says "not supported yet".
_LATER_PROXY_KEYWORDS = {
    "block": "1.3.10",
    "redirect": "1.3.14",
    "http-response": "1.5",
    "http-after-response": "2.2",
    "http-reuse": "1.6",
    "http-send-name-header": "1.4",
    "tcp-response": "1.5",
    "tcp-check": "1.5",
    "stick-table": "1.5",
    "stick": "1.5",
    "hash-type": "1.3.22",
    "hash-balance-factor": "1.7",
    "compression": "1.5",
    "filter": "1.7",
    "unique-id-format": "1.5",
    "unique-id-header": "1.5",
    "log-format": "1.5",
    "log-tag": "1.6",
    "rate-limit": "1.4",
    "persist": "1.5",
    "ignore-persist": "1.5",
    "force-persist": "1.4",
    "description": "1.4",
    "id": "1.3.16",
    "reqsetbe": "1.3",
    "reqisetbe": "1.3",
    "server-template": "1.8",
    "bind-process": "1.4",
    "backlog": "1.4",
    "email-alert": "1.6",
    "external-check": "1.6",
    "use-server": "1.5",
    "dynamic-cookie-key": "1.8",
    "load-server-state-from-file": "1.6",
    "max-keep-alive-queue": "1.6",
    "retry-on": "2.0",
    "srvtcpka-cnt": "2.2",
    "clitcpka-cnt": "2.2",
    "errorfiles": "2.2",
    "declare": "1.6",
    "max-session-srv-conns": "2.0",
}
_LATER_GLOBAL_KEYWORDS = {
    "cpu-map": "1.5",
    "lua-load": "1.6",
    "ssl-default-bind-ciphers": "1.5",
    "ssl-default-server-ciphers": "1.5",
    "ssl-default-bind-options": "1.5",
    "ssl-default-server-options": "1.5",
    "ssl-server-verify": "1.5",
    "tune": "1.3",
    "spread-checks": "1.3.15",
    "node": "1.4",
    "description": "1.4",
    "log-send-hostname": "1.4",
    "log-tag": "1.5",
    "maxsslconn": "1.5",
    "maxconnrate": "1.5",
    "maxsessrate": "1.5",
    "maxpipes": "1.4",
    "ca-base": "1.5",
    "crt-base": "1.5",
    "setenv": "1.7",
    "presetenv": "1.7",
    "unsetenv": "1.7",
    "resetenv": "1.7",
    "expose-experimental-directives": "2.5",
    "insecure-fork-wanted": "2.2",
    "server-state-file": "1.6",
    "server-state-base": "1.6",
    "localpeer": "2.0",
    "h1-case-adjust": "1.9",
    "nosplice": "1.4",
    "set-dumpable": "1.8",
    "external-check": "1.6",
    "strict-limits": "2.0",
    "ssl-dh-param-file": "1.5",
    "busy-polling": "1.9",
    "profiling.tasks": "2.0",
    "numa-cpu-mapping": "2.4",
    "cluster-secret": "2.1",
    "httpclient.resolvers.prefer": "2.5",
    "default-path": "2.4",
    "stats-file": "3.0",
}
# Keywords haproxy 2.6 lists (`haproxy -dKcfg`) that the tables above do not name yet.
for _kw in (
    "close-spread-time h1-accept-payload-with-any-method h1-case-adjust-file httpclient.resolvers.id "
    "httpclient.ssl.ca-file httpclient.ssl.verify issuers-chain-path lua-load-per-thread "
    "lua-prepend-path mworker-max-reloads no-memory-trimming pp2-never-send-local set-var "
    "set-var-fmt thread-group thread-groups"
).split():
    KEYWORDS.setdefault(_kw, (Kw(G, None, IN_26),))
for _kw in "clitcpka-idle clitcpka-intvl http-error srvtcpka-idle srvtcpka-intvl use-fcgi-app".split():
    KEYWORDS.setdefault(_kw, (Kw(P, None, IN_26),))
for _kw in (
    "agent-addr agent-send allow-0rtt check-alpn check-proto check-sni check-via-socks4 ciphers "
    "ciphersuites crl-file enabled force-sslv3 force-tlsv10 force-tlsv11 force-tlsv12 force-tlsv13 "
    "log-proto max-reuse no-agent-check no-backup no-check no-check-ssl "
    "no-send-proxy-v2-ssl no-send-proxy-v2-ssl-cn no-ssl "
    "no-ssl-reuse no-sslv3 no-tfo no-tls-tickets no-tlsv10 no-tlsv11 no-tlsv12 no-tlsv13 npn "
    "pool-low-conn pool-max-conn pool-purge-delay resolve-net resolve-opts "
    "send-proxy-v2-ssl send-proxy-v2-ssl-cn socks4 ssl-max-ver ssl-min-ver ssl-reuse stick tcp-ut "
    "tls-tickets verifyhost ws"
).split():
    _LATER_SERVER_OPTIONS.setdefault(_kw, IN_26)
_BIND_LATER_OPTIONS.setdefault("tcp-ut", IN_26)
for _kw in _GLOBAL_TLS_KEYWORDS:
    KEYWORDS[_kw] = (Kw(G, g_tls_ignored, "1.5"),)
for _kw, _since in _LATER_PROXY_KEYWORDS.items():
    KEYWORDS.setdefault(_kw, (Kw(P, None, _since),))
for _kw, _since in _LATER_GLOBAL_KEYWORDS.items():
    KEYWORDS.setdefault(_kw, (Kw(G, None, _since),))


def lookup(keyword: str, section: str, where: Where) -> Kw:
    """The table entry for `keyword` in `section`, or the right error."""
    if keyword.startswith("tune.") and section == GLOBAL:
        return Kw(G, g_tune, "1.3")
    entries = KEYWORDS.get(keyword)
    if entries is None:
        if keyword.startswith("tune."):
            raise fail(where, f"'{keyword}' not allowed in '{section}' section (only in 'global').")
        raise fail(where, f"unknown keyword '{keyword}' in '{section}' section")
    for kw in entries:
        if section in kw.sections:
            if kw.handler is None:
                raise not_supported(f"'{keyword}'", kw.since, where)
            return kw
    order = (GLOBAL, DEFAULTS, LISTEN, FRONTEND, BACKEND)
    allowed = [sec for sec in order if any(sec in k.sections for k in entries)]
    if section == DEFAULTS and (LISTEN in allowed or FRONTEND in allowed or BACKEND in allowed):
        raise fail(where, f"'{keyword}' not allowed in 'defaults' section.")
    where_ok = " or ".join(f"'{s}'" for s in allowed)
    raise fail(where, f"'{keyword}' not allowed in '{section}' section (only in {where_ok}).")
