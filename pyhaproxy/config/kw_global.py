"""Handlers of the `global` section: process settings (daemon, uid/gid, limits, paths, tune.*).

The `log` and `stats` lines of `global` are in kw_stats_log.
"""

from __future__ import annotations

import grp
import pwd
import re

from . import tls as TLS
from . import tls_server as TLSS  # tls
from .model import (
    Where,
)
from .state import State, once
from .values import MAX_PROCS, fail, need, no_extra, parse_int, parse_time


def g_hard_stop_after(st: State, args: list[str], where: Where) -> None:
    """`hard-stop-after TIME`: a soft stop (or the old workers of a reload) that has not ended
    after TIME becomes a hard stop."""
    need(args, 1, where, "'hard-stop-after' expects <time> as argument.")
    no_extra(args, 2, where)
    st.config.global_.hard_stop_after = parse_time(args[1], "hard-stop-after", where)


def g_spread_checks(st: State, args: list[str], where: Where) -> None:
    """`spread-checks <0..50>`: each check's next interval is `inter` plus a random part of up to
    N % of it, either way (2.6's check.c)."""
    g = st.config.global_
    if len(args) > 2:
        raise fail(where, f"'{args[0]}' cannot handle unexpected argument '{args[2]}'.")
    if g.spread_checks != 0:
        # 2.6: an alert, not fatal: the first value stays
        st.config.warnings.append(f"[ALERT] parsing [{where.file}:{where.line}]: spread-checks already "
                                  "specified. Continuing.")
        return
    if len(args) < 2 or args[1] == "":
        raise fail(where, f"'{args[0]}' expects an integer argument (0..50).")
    m = re.match(r"[-+]?\d+", args[1])     # (atol)
    n = int(m.group()) if m else 0
    if not 0 <= n <= 50:
        raise fail(where, "'spread-checks' needs a positive value in range 0..50.")
    g.spread_checks = n


def g_max_spread_checks(st: State, args: list[str], where: Where) -> None:
    """`max-spread-checks TIME`: the first checks of a proxy are spread over at most this."""
    if len(args) > 2:
        raise fail(where, f"'{args[0]}' cannot handle unexpected argument '{args[2]}'.")
    if len(args) < 2 or args[1] == "":
        raise fail(where, f"'{args[0]}' expects an integer argument (0..50).")
    st.config.global_.max_spread_checks = parse_time(args[1], args[0], where)


def g_flag(st: State, args: list[str], where: Where) -> None:
    no_extra(args, 1, where)
    attr = args[0].replace("-", "_")
    setattr(st.config.global_, attr, True)


def g_int(st: State, args: list[str], where: Where) -> None:
    kw = args[0]
    need(args, 1, where, f"'{kw}' expects an integer argument.")
    no_extra(args, 2, where)
    lo = 1 if kw in ("nbproc", "nbthread", "maxconn", "ulimit-n", "fd-hard-limit") else 0
    value = parse_int(args[1], kw, where, lo=lo)
    if kw in ("nbproc", "nbthread") and value > MAX_PROCS:
        # HAProxy 1.x kept one bit per process in a long; 2.6 caps nbthread at MAX_THREADS=64.
        # A larger value is a typo that would fork without bound: refused before anything starts.
        raise fail(where, f"'{kw}' value must be between 1 and {MAX_PROCS} (was {value})")
    if not once(st, kw, where):
        return
    g = st.config.global_
    if kw == "maxconn":
        g.maxconn = value
    elif kw == "maxconnrate":
        g.maxconnrate = value  # per worker process, as 2.6 counts it per process
    elif kw == "maxsessrate":
        g.maxsessrate = value
    elif kw == "maxsslrate":
        g.maxsslrate = value
    elif kw == "maxpipes":
        g.maxpipes = value
    elif kw == "nbproc":
        g.nbproc = value
    elif kw == "nbthread":
        g.nbthread = value
        g.nbthread_set = True
    elif kw == "fd-hard-limit":
        g.fd_hard_limit = value
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
    if not once(st, kw, where):
        return
    if kw == "chroot":
        st.config.global_.chroot = args[1]
    else:
        st.config.global_.pidfile = args[1]


# tune.h2.* we apply: (2.6's default, lowest, highest)
H2_TUNES = {
    "tune.h2.max-concurrent-streams": (100, 1, 2147483647),
    "tune.h2.initial-window-size": (65535, 0, 2147483647),
    "tune.h2.header-table-size": (4096, 0, 65535),
}


SSL_CACHESIZE = 20000      # 2.6's tune.ssl.cachesize default (0: no shared cache)


def h2_tune(tune: dict[str, str], kw: str) -> int:
    """An HTTP/2 setting of the `global` section, or 2.6's default."""
    return int(tune.get(kw[len("tune."):], H2_TUNES[kw][0]))


def g_tune(st: State, args: list[str], where: Where) -> None:
    kw = args[0]
    need(args, 1, where, f"'{kw}' expects an argument.")
    no_extra(args, 2, where)
    if kw == "tune.maxpollevents":
        parse_int(args[1], kw, where, lo=1)
    st.config.global_.tune[kw[len("tune.") :]] = args[1]
    if kw in H2_TUNES:
        # applied: the HTTP/2 connections' SETTINGS (ext/h2.pxi)
        parse_int(args[1], kw, where, lo=H2_TUNES[kw][1], hi=H2_TUNES[kw][2])
        return
    if kw == "tune.ssl.default-dh-param":
        # applied: DHE's group (ext/tls.pxi _tls_dh); OpenSSL's default security level refuses
        # DH under 2048 bits, so 1024 gives no DHE, as with 2.6 on the same OpenSSL
        bits = parse_int(args[1], kw, where, lo=1024)
        st.config.global_.tls.dh_bits = bits
        if bits < 2048:
            st.warn(where, f"'{kw} {bits}': DH parameters under 2048 bits are refused by OpenSSL's "
                           "security level: no DHE key exchange.")
        return
    if kw == "tune.ssl.cachesize":
        # applied: the entries of the TLS session cache the workers share (ext/tlscache.pxi)
        parse_int(args[1], kw, where, lo=0, hi=1 << 22)
        return
    # the worker's buffers, polling and TLS are fixed: say so rather than ignore it silently
    st.warn(where, f"'{kw}' has no effect in pyhaproxy (accepted for compatibility).")


def g_tls_ignored(st: State, args: list[str], where: Where) -> None:
    """TLS settings of a global section (Debian's default has them): accepted, with a warning."""
    need(args, 1, where, f"'{args[0]}' expects an argument.")
    st.warn(where, f"'{args[0]}' ignored: not supported by pyhaproxy yet.")


def g_tls(st: State, args: list[str], where: Where) -> None:  # tls: crt-base, ssl-default-bind-*
    TLS.parse_global(st.config.global_.tls, args, where)


def g_tls_server(st: State, args: list[str], where: Where) -> None:  # tls: ssl-server-verify...
    TLSS.parse_global(st.config.global_.tls, args, where)


GLOBAL_TLS_KEYWORDS = (
    "ca-base", "crt-base", "key-base", "ssl-default-bind-ciphers", "ssl-default-bind-ciphersuites",
    "ssl-default-bind-options", "ssl-default-bind-curves", "ssl-default-server-ciphers",
    "ssl-default-server-ciphersuites", "ssl-default-server-options", "ssl-default-server-curves",
    "ssl-server-verify", "ssl-dh-param-file", "ssl-engine",
    "ssl-mode-async", "ssl-load-extra-files", "ssl-load-extra-del-ext", "ssl-skip-self-issued-ca",
    "ssl-propquery", "ssl-provider", "ssl-provider-path", "ssl-security-level",
)
