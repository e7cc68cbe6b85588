"""Scalar settings of a proxy: mode, balance, dispatch, source, timeouts, retries, maxconn..."""

from __future__ import annotations

import re

from .model import (
    Where,
)
from .state import BACKEND, FRONTEND, State, defaults_forbidden
from .values import (
    fail,
    isnum,
    need,
    no_extra,
    not_supported,
    parse_int,
    parse_source_addr,
    parse_time,
    resolve,
    split_host_port,
)


def p_mode(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'mode' expects 'tcp', 'http' or 'health' as argument.")
    no_extra(args, 2, where)
    if args[1] not in ("tcp", "http", "health"):
        raise fail(where, f"unknown proxy mode '{args[1]}'.")
    st.px().mode = args[1]


HTTP_REUSE_MODES = ("never", "safe", "aggressive", "always")


def p_http_reuse(st: State, args: list[str], where: Where) -> None:
    """`http-reuse never|safe|aggressive|always` (2.6): kept in a frontend, where it does nothing
    (the parser warns, as 2.6 does)."""
    if len(args) < 2 or args[1] not in HTTP_REUSE_MODES:
        raise fail(where, "'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'.")
    if len(args) > 2:
        raise fail(where, f"'http-reuse {args[1]}' cannot handle unexpected argument '{args[2]}'.")
    st.px().http_reuse = args[1]


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
    defaults_forbidden(st, args, where)
    if len(args) < 2 or ":" not in args[1]:
        raise fail(where, "'dispatch' expects <addr:port> as argument.")
    no_extra(args, 2, where)
    host, port = split_host_port(args[1])
    res = resolve(host)
    if res is None or res[0] in ("0.0.0.0", "::"):
        raise fail(where, f"'dispatch' : invalid address '{host}'.")
    if port is None or not isnum(port) or not 1 <= int(port) <= 65535:
        raise fail(where, f"'dispatch' : invalid port '{port or ''}'.")
    st.px().dispatch = (res[0], int(port))


def p_source(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'source' expects <addr>[:<port>] as argument.")
    if len(args) > 2:
        raise not_supported(f"'source' option '{args[2]}'", "1.3.10", where)
    st.px().source = parse_source_addr(args[1], "source", where)


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


TIMEOUTS = {
    "connect": "contimeout",
    "client": "clitimeout",
    "server": "srvtimeout",
    "queue": "queuetimeout",
    "http-request": "httpreqtimeout",
    "http-keep-alive": "keepalivetimeout",
    "check": "checktimeout",
    "tunnel": "tunneltimeout",
    "tarpit": "tarpittimeout",
}
# the side of a proxy each `timeout` acts on (the table's side column); the others act on both
TIMEOUT_SIDES = {
    **dict.fromkeys(("connect", "server", "queue", "tunnel", "check"), BACKEND),
    **dict.fromkeys(("client", "http-request"), FRONTEND),
}

# the 1.2 keyword each `timeout` form shares its "already specified" state with
_TIMEOUT_KEYS = {"connect": "contimeout", "client": "clitimeout", "server": "srvtimeout"}


def p_timeout(st: State, args: list[str], where: Where) -> None:
    name = args[1] if len(args) > 1 else ""
    if name in ("client-fin", "server-fin", "appsession"):
        raise not_supported(f"'timeout {name}'", "1.5", where)
    if name not in TIMEOUTS:
        raise fail(
            where,
            "'timeout' supports 'client', 'server', 'connect', 'check', 'queue', "
            "'http-keep-alive', 'http-request', 'tunnel' or 'tarpit' (got '" + name + "').",
        )
    need(args, 2, where, f"'timeout {name}' expects an integer value (in milliseconds).")
    no_extra(args, 3, where)
    _set_timeout(st, _TIMEOUT_KEYS.get(name, f"timeout {name}"), TIMEOUTS[name], args[2], where,
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


def p_fullconn(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'fullconn' expects an integer argument.")
    no_extra(args, 2, where)
    st.px().fullconn = parse_int(args[1], "fullconn", where)
