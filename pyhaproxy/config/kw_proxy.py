"""Scalar settings of a proxy: mode, balance, dispatch, source, timeouts, retries, maxconn..."""

from __future__ import annotations

import re

from .lexer import ConfigError
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


def _balance_fail(where: Where, msg: str) -> ConfigError:
    return fail(where, f"balance {msg}")


def p_balance(st: State, args: list[str], where: Where) -> None:
    """`balance ALGO [ARGS]` as 2.6's backend_parse_balance reads it (its messages too)."""
    px = st.px()
    algo = args[1] if len(args) > 1 else "roundrobin"
    rest = args[2:]
    if algo in ("roundrobin", "source", "static-rr", "leastconn", "first"):
        no_extra(args, 2, where)
        px.balance = algo
    elif algo.startswith("random"):
        # 2.6 reads any word that begins with "random"; `random(N)` sets the number of draws
        draws = 2
        if algo[6:7] == "(" and algo[7:8] != ")":
            m = re.match(r"^([+-]?(?:0[xX][0-9a-fA-F]+|[0-9]+))(.*)$", algo[7:])
            num, tail = (m.group(1), m.group(2)) if m else ("0", algo[7:])
            if not tail.startswith(")"):
                if not tail:
                    raise _balance_fail(where, "random : missing closing parenthesis.")
                raise _balance_fail(where, f"random : unexpected character '{tail[0]}' after argument.")
            draws = int(num, 0) if not re.match(r"^[+-]?0[0-7]+$", num) else int(num, 8)
            if draws < 1:
                raise _balance_fail(where, "random : number of draws must be at least 1.")
        px.balance = "random"
        px.rnd_draws = draws
    elif algo == "uri":
        whole = path_only = False
        ulen = depth = 0
        i = 0
        while i < len(rest):
            opt = rest[i]
            if opt in ("len", "depth"):
                v = rest[i + 1] if i + 1 < len(rest) else ""
                n = _atoi(v)
                if n <= 0:
                    raise _balance_fail(where, f"uri : '{opt}' expects a positive integer (got '{v}').")
                if opt == "len":
                    ulen = n
                else:
                    depth = n + 1
                i += 2
            elif opt == "whole":
                whole = True
                i += 1
            elif opt == "path-only":
                path_only = True
                i += 1
            else:
                raise _balance_fail(where, "uri only accepts parameters 'len', 'depth', 'path-only', and "
                                           f"'whole' (got '{opt}').")
        px.balance = "uri"
        px.hash_balance_arg = "whole" if whole else ""
        px.uri_len, px.uri_depth, px.uri_path_only = ulen, depth, path_only
    elif algo == "url_param":
        if not rest:
            raise _balance_fail(where, "url_param requires an URL parameter name.")
        if len(rest) > 1 and rest[1] != "check_post":
            raise _balance_fail(where, f"url_param only accepts 'check_post' modifier (got '{rest[1]}').")
        # (`check_post`: 2.6 looks into a POST's body whatever it says, so does backend.pxi)
        px.balance = "url_param"
        px.hash_balance_arg = rest[0]
    elif algo.startswith("hdr("):
        m = re.match(r"^hdr\(([^)]+)\)", algo)
        if not m:
            raise _balance_fail(where, "hdr requires an http header field name.")
        if rest and rest[0] != "use_domain_only":
            raise _balance_fail(where, f"{algo} only accepts 'use_domain_only' modifier (got '{rest[0]}').")
        px.balance = "hdr"
        px.hash_balance_arg = m.group(1)
        px.hdr_domain_only = bool(rest)
    elif algo == "hash":
        if not rest:
            raise _balance_fail(where, "hash requires a sample expression.")
        if len(rest) > 1:
            raise _balance_fail(where, f"hash takes no other argument (got '{rest[1]}').")
        px.balance = "hash"
        px.balance_expr_text = rest[0]          # parsed with the proxy's checks (parser.py)
    elif algo.startswith("rdp-cookie"):
        raise not_supported(f"'balance {algo}'", "1.3.22", where)
    else:
        raise _balance_fail(where, "only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', "
                                   "'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.")
    px.balance_explicit = True


def _atoi(s: str) -> int:
    """C's atoi: optional sign and leading digits, 0 when there are none."""
    m = re.match(r"^\s*([+-]?[0-9]+)", s)
    return int(m.group(1)) if m else 0


def p_hash_balance_factor(st: State, args: list[str], where: Where) -> None:
    """`hash-balance-factor N` (1.7): under consistent hashing a server takes no more than N% of
    the average load for its weight; the key goes on to the next node (0: no bound)."""
    if len(args) < 2 or args[1] == "":
        raise fail(where, "'hash-balance-factor' expects an integer argument.")
    m = re.match(r"^\s*([+-]?[0-9]+)", args[1])
    n = int(m.group(1)) if m else 0
    if n != 0 and n <= 100:
        raise fail(where, "'hash-balance-factor' must be 0 or greater than 100.")
    st.px().hash_balance_factor = n


HASH_FUNCTIONS = ("sdbm", "djb2", "wt6", "crc32")


def p_hash_type(st: State, args: list[str], where: Where) -> None:
    """`hash-type map-based|consistent [<function> [avalanche]]` (2.6): how hashing balances pick.
    Without a function: sdbm, with avalanche when consistent."""
    px = st.px()
    kind = args[1] if len(args) > 1 else ""
    if kind == "avalanche":
        raise fail(where, "experimental feature 'hash-type avalanche' is not supported anymore, please "
                          "use 'hash-type map-based sdbm avalanche' instead.")
    if kind not in ("consistent", "map-based"):
        raise fail(where, "'hash-type' only supports 'consistent' and 'map-based'.")
    fn = args[2] if len(args) > 2 else ""
    aval = False
    if not fn:
        fn = "sdbm"
        aval = kind == "consistent"
    else:
        if fn not in HASH_FUNCTIONS:
            raise fail(where, "'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.")
        mod = args[3] if len(args) > 3 else ""
        if mod == "avalanche":
            aval = True
        elif mod:
            raise fail(where, "'hash-type' only supports 'avalanche' as a modifier for hash functions.")
    px.hash_type, px.hash_fn, px.hash_aval = kind, fn, aval


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


_TIME_PREFIX = re.compile(r"([0-9]*)(us|ms|s|m|h|d)?")

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
    "client-fin": "clientfintimeout",
    "server-fin": "serverfintimeout",
}
# the side of a proxy each `timeout` acts on (the table's side column); the others act on both
TIMEOUT_SIDES = {
    **dict.fromkeys(("connect", "server", "queue", "tunnel", "check", "server-fin"), BACKEND),
    **dict.fromkeys(("client", "http-request", "client-fin"), FRONTEND),
}

# the 1.2 keyword each `timeout` form shares its "already specified" state with
_TIMEOUT_KEYS = {"connect": "contimeout", "client": "clitimeout", "server": "srvtimeout"}


def p_timeout(st: State, args: list[str], where: Where) -> None:
    name = args[1] if len(args) > 1 else ""
    if name == "appsession":
        raise not_supported(f"'timeout {name}'", "1.5", where)
    if name not in TIMEOUTS:
        raise fail(
            where,
            "'timeout' supports 'client', 'server', 'connect', 'check', 'queue', "
            "'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' "
            "(got '" + name + "')",
        )
    need(args, 2, where, f"'timeout {name}' expects an integer value (in milliseconds).")
    if len(args) > 3:       # (2.6's wording for `timeout`)
        raise fail(where, f"'timeout {name}' : unexpected extra argument '{args[3]}' after value "
                          f"'{args[2]}'.")
    text = args[2]
    ok = _TIME_PREFIX.match(text)
    if ok and text and not ok.group(1):    # (no number: the first character is the unexpected one)
        raise fail(where, f"unexpected character '{text[0]}' in 'timeout {name}'")
    if ok and ok.end() < len(text):         # (the first character 2.6's time parser stops at)
        if not ok.group(2):
            raise fail(where, f"unexpected character '{text[ok.end()]}' in 'timeout {name}'")
        # a unit followed by more: 2.6 warns and takes the number with its unit
        st.config.warnings.append(
            f"[WARNING] unexpected character '{text[ok.end()]}' after the timer value '{text}', only "
            "(us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are "
            "supported. This will be reported as an error in next versions.")
        args = args[:2] + [text[:ok.end()]]
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
