"""`log` and `stats` in every section: syslog targets, the stats socket and the stats page."""

from __future__ import annotations

import grp
import ipaddress
import pwd
import socket

from .kw_rules import parse_condition
from .logformat import LogFormatError, parse_log_format
from .model import (
    LogTarget,
    Stats,
    StatsSocket,
    Where,
)
from .state import State, once
from .values import (
    LOG_FACILITIES,
    LOG_LEVELS,
    SYSLOG_PORT,
    fail,
    isnum,
    need,
    no_extra,
    not_supported,
    parse_int,
    parse_time,
    resolve,
    split_host_port,
)

LOG_FORMATS = ("local", "rfc3164", "rfc5424", "priority", "short", "timed", "iso", "raw")


def _parse_sample(spec: str, where: Where) -> tuple[list[tuple[int, int]], int]:
    """`sample R[,R...]:N`, each R being `I` or `LOW-HIGH` (1-based), as 2.6 reads them."""
    ranges_s, colon, size_s = spec.partition(":")
    if not colon:
        raise fail(where, "log : Missing sample size")
    ranges: list[tuple[int, int]] = []
    rest = ranges_s
    while rest:
        part, _, tail = rest.partition(",")
        lo_s, dash, hi_s = part.partition("-")
        lo = int(lo_s) if isnum(lo_s) else 0
        hi = (int(hi_s) if isnum(hi_s) else 0) if dash else lo
        if not lo or not hi or hi < lo or (dash and hi == lo):
            raise fail(where, f"log : wrong sample range '{rest}'")
        if any(a <= lo <= b or a <= hi <= b for a, b in ranges):
            raise fail(where, "log : ranges are overlapping")
        ranges.append((lo, hi))
        rest = tail
    if not ranges:
        raise fail(where, "log : no sampling ranges given")
    size = int(size_s) if isnum(size_s) else 0
    if not size:
        raise fail(where, f"log : wrong sample size '{size_s}' for sample range '{ranges_s}'")
    top = max(h for _, h in ranges)
    if size < top:
        raise fail(where, f"log : sample size {size} should be greater or equal to {top} "
                          "the maximum of the high ranges limits")
    return sorted(ranges), size


def parse_log(args: list[str], where: Where) -> LogTarget:
    """`log ADDR [len N] [format F] [sample R:N] FACILITY [LEVEL [MINLEVEL]]` (args[0] is 'log'),
    the options in this order only, as haproxy 2.6 reads them; errors with 2.6's words."""
    addr = args[1]
    if addr == "stdout":
        addr = "fd@1"
    elif addr == "stderr":
        addr = "fd@2"
    a = args + [""] * 12
    i = 2
    length = 1024
    if a[i] == "len":
        n = int(a[i + 1]) if isnum(a[i + 1]) else 0
        if n < 80 or n > 65535:
            raise fail(where, f"log : invalid log length '{a[i + 1]}', must be between 80 and 65535")
        length = n
        i += 2
    fmt = ""
    if a[i] == "format":
        if a[i + 1] not in LOG_FORMATS:
            raise fail(where, f"log : unknown log format '{a[i + 1]}'")
        fmt = a[i + 1]
        i += 2
    sample: list[tuple[int, int]] = []
    size = 0
    if a[i] == "sample":
        sample, size = _parse_sample(a[i + 1], where)
        i += 2
    fac = a[i]
    if fac not in LOG_FACILITIES:
        raise fail(where, f"log : unknown log facility '{fac}'")
    i += 1
    level = "debug"
    if a[i]:
        level = a[i]
        if level not in LOG_LEVELS:
            raise fail(where, f"log : unknown optional log level '{level}'")
        i += 1
    minlevel = "emerg"
    if a[i]:
        minlevel = a[i]
        if minlevel not in LOG_LEVELS:
            raise fail(where, f"log : unknown optional minimum log level '{minlevel}'")
        i += 1
    if a[i]:
        raise fail(where, f"log : cannot handle unexpected argument '{a[i]}'")
    target = LogTarget(address=addr, facility=fac, level=level, where=where, length=length,
                       format=fmt, minlevel=minlevel, sample=sample, sample_size=size)
    if addr == "global":  # `log global FACILITY ...`: read as an address, as 2.6 does
        raise fail(where, "log : invalid address: 'global' in 'global'")
    if addr.startswith("fd@"):
        if not isnum(addr[3:]):
            raise fail(where, f"log : invalid address: '{addr}'")
        return target
    if addr.startswith("unix@"):
        addr = addr[5:]
    if addr.startswith("/"):
        target.address = addr
        return target
    if addr.startswith(("ring@", "tcp@", "abns@")):
        raise fail(where, f"log : '{addr}' : ring buffers and TCP log servers are not supported by "
                          "pyhaproxy (UDP, unix sockets and stdout/stderr are).")
    for pfx in ("udp@", "udp4@", "udp6@", "ipv4@", "ipv6@"):
        if addr.startswith(pfx):
            addr = addr[len(pfx):]
    host, port = split_host_port(addr)
    res = resolve(host) if host else None
    if res is None:
        raise fail(where, f"'log' : invalid address '{addr}'.")
    if port in (None, "", "0"):
        nport = SYSLOG_PORT
    elif isnum(port) and 1 <= int(port) <= 65535:
        nport = int(port)
    else:
        raise fail(where, f"'log' : invalid port in address '{addr}'.")
    ip = res[0] if res[1] == 2 else f"[{res[0]}]"
    target.address = f"{ip}:{nport}"
    return target


def g_log(st: State, args: list[str], where: Where) -> None:
    if len(args) < 3:
        raise fail(where, "log : expects <address> and <facility>  as arguments")
    target = parse_log(args, where)
    if len(st.config.global_.logs) >= 2:
        raise fail(where, "too many syslog servers")
    st.config.global_.logs.append(target)


def g_no(st: State, args: list[str], where: Where) -> None:
    """`no log` in the global section forgets the global log targets read so far."""
    if len(args) > 1 and args[1] == "log":
        if len(args) > 2:
            raise fail(where, "log : 'no log' does not expect arguments")
        st.config.global_.logs = []
        return
    if len(args) > 1 and args[1] in NEGATABLE_GLOBAL_FLAGS:
        if len(args) > 2:
            raise fail(where, f"'{args[1]}' cannot handle unexpected argument '{args[2]}'.")
        setattr(st.config.global_, args[1].replace("-", "_"), False)
        return
    raise fail(where, "'no' in 'global' : pyhaproxy supports only 'no log' and 'no "
                      f"{'|'.join(NEGATABLE_GLOBAL_FLAGS)}' there.")


# process flags 2.6 lets `no` turn off (pyhaproxy/worker.py, pyhaproxy/startup.py apply them)
NEGATABLE_GLOBAL_FLAGS = ("set-dumpable", "insecure-fork-wanted", "strict-limits")


def g_log_send_hostname(st: State, args: list[str], where: Where) -> None:
    """`log-send-hostname [NAME]`: NAME, else the system's host name, in every syslog header."""
    if not once(st, args[0], where):
        return
    st.config.global_.log_send_hostname = args[1] if len(args) > 1 and args[1] else socket.gethostname()


def g_log_tag(st: State, args: list[str], where: Where) -> None:
    if len(args) > 2:
        raise fail(where, f"'{args[0]}' cannot handle unexpected argument '{args[2]}'.")
    if len(args) < 2 or not args[1]:
        raise fail(where, f"'{args[0]}' expects a tag for use in syslog.")
    st.config.global_.log_tag = args[1]


def p_log_tag(st: State, args: list[str], where: Where) -> None:
    if len(args) < 2 or not args[1]:
        raise fail(where, f"'{args[0]}' expects a tag for use in syslog.")
    st.px().log_tag = args[1]


def p_no_log(st: State, args: list[str], where: Where) -> None:
    """`no log` (args: ['log', ...]): forget the log targets inherited or defined so far
    (`log global` included)."""
    if len(args) > 1:
        raise fail(where, "log : 'no log' does not expect arguments")
    px = st.px()
    px.logs = []
    px.log_global = False


def _tcp_stats_address(text: str, where: Where) -> str:
    """`ipv4@ADDR:PORT`, `ipv6@ADDR:PORT` or a bare `ADDR:PORT` -> `ipv4@ADDR:PORT` / `ipv6@...`
    (the family from the prefix, else from the address, as 2.6's str2sa_range)."""
    prefix = ""
    for pre in ("ipv4@", "ipv6@"):
        if text.startswith(pre):
            prefix, text = pre, text[len(pre):]
    host, port = split_host_port(text)
    if port is None or not port.isdigit() or not 0 < int(port) <= 65535:
        raise fail(where, f"'stats socket {prefix}{text}' : missing or invalid port in '{text}'.")
    host = host or ("::" if prefix == "ipv6@" else "0.0.0.0")
    try:
        fam = ipaddress.ip_address(host).version
    except ValueError:
        res = resolve(host)
        if res is None:
            raise fail(where, f"'stats socket {prefix}{text}' : could not resolve address "
                              f"'{host}'.") from None
        host = res[0]
        fam = ipaddress.ip_address(host).version
    if prefix and prefix != f"ipv{fam}@":
        raise fail(where, f"'stats socket {prefix}{text}' : address '{host}' is not an "
                          f"IPv{prefix[3]} address.")
    return f"ipv{fam}@{'[' + host + ']' if fam == 6 else host}:{port}"


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
            elif opt == "expose-fd":
                if val != "listeners":
                    raise fail(where, f"'stats socket' : 'expose-fd' only supports 'listeners' (got '{val}')")
                sock.expose_fd = True
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
        if sock.path.startswith(("udp@", "udp4@", "udp6@", "sockpair@", "quic4@", "quic6@")):
            raise fail(where, f"'stats socket {sock.path}' : only UNIX sockets (path, unix@, abns@), "
                              "TCP addresses (ipv4@, ipv6@, ADDR:PORT) and fd@N are supported by pyhaproxy.")
        if sock.path.startswith(("ipv4@", "ipv6@")) or (
                ":" in sock.path and not sock.path.startswith(("/", "fd@", "unix@", "abns@"))):
            sock.path = _tcp_stats_address(sock.path, where)
        if sock.path.startswith("abns@") and len(sock.path) == 5:
            raise fail(where, f"'stats socket {sock.path}' : an abstract socket needs a name.")
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


def p_log(st: State, args: list[str], where: Where) -> None:
    px = st.px()
    if len(args) == 2 and args[1] == "global":
        px.log_global = True
        return
    if len(args) < 3:
        raise fail(where, "log : expects <address> and <facility> or global as arguments")
    target = parse_log(args, where)
    if len(px.logs) >= 2:
        raise fail(where, "too many syslog servers")
    px.logs.append(target)


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
    elif sub == "show-legends":
        no_extra(args, 2, where)
        s.show_legends = True
    elif sub == "enable":
        no_extra(args, 2, where)
    elif sub == "admin":
        # `stats admin if|unless COND`: the page's admin forms (evaluated by the worker that
        # relays the request, pyhaproxy/stats/http.py applies them)
        if st.in_defaults:
            raise fail(where, "'stats admin' not allowed in 'defaults' section.")
        if len(args) < 3 or args[2] not in ("if", "unless"):
            raise fail(where, "'stats admin' requires either 'if' or 'unless' followed by a condition.")
        s.admin.append(parse_condition(st, args[2:], where, "stats admin"))
    elif sub in (
        "show-desc",
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


def _ignored_in_backend(st: State, args: list[str], where: Where) -> bool:
    """2.6 warns about a frontend's log format in a backend section and goes on without it."""
    if st.section != "backend":
        return False
    st.warn(where, f"backend '{st.px().name}' : '{args[0]}' directive is ignored in backends.")
    return True


def p_log_format(st: State, args: list[str], where: Where) -> None:
    """`log-format STRING`: the words are joined by one space (2.6 merges unescaped spaces)."""
    need(args, 1, where, "'log-format' expects a log format string.")
    if _ignored_in_backend(st, args, where):
        return
    try:
        st.px().log_format = parse_log_format(" ".join(args[1:]))
    except LogFormatError as exc:
        raise fail(where, f"'log-format' : {exc}.") from None


def p_error_log_format(st: State, args: list[str], where: Where) -> None:
    """`error-log-format STRING` (2.5+): the line of a connection that failed before its session
    began (TLS handshake, PROXY header), in place of 2.6's fixed one (configuration 8.2.5)."""
    need(args, 1, where, "'error-log-format' expects a log format string.")
    if _ignored_in_backend(st, args, where):
        return
    try:
        st.px().error_log_format = parse_log_format(" ".join(args[1:]))
    except LogFormatError as exc:
        raise fail(where, f"'error-log-format' : {exc}.") from None


def p_unique_id_format(st: State, args: list[str], where: Where) -> None:
    """`unique-id-format STRING`: a log-format built once per request (%ID, unique-id)."""
    need(args, 1, where, "'unique-id-format' expects an argument.")
    try:
        st.px().unique_id_format = parse_log_format(" ".join(args[1:]), request_samples=True)
    except LogFormatError as exc:
        raise fail(where, f"'unique-id-format' : {exc}.") from None


def p_unique_id_header(st: State, args: list[str], where: Where) -> None:
    """`unique-id-header NAME`: the ID is sent to the server in that header."""
    need(args, 1, where, "'unique-id-header' expects an argument.")
    no_extra(args, 2, where)
    st.px().unique_id_header = args[1]
