"""A proxy's TCP-level tuning (2.6): the keep-alive probes' timing on the client side
(`clitcpka-cnt|idle|intvl`, a frontend's) and the server side (`srvtcpka-...`, a backend's),
applied with `option clitcpka|srvtcpka|tcpka` (ext/loop.pxi, ext/connect.pxi), and a
frontend's `rate-limit sessions N` (ext/loop.pxi: the listeners pause, as for `maxconnrate`).
"""

from __future__ import annotations

import re

from .model import Where
from .state import State
from .values import MAX_TIME_MS, fail

_TIME_RE = re.compile(r"^(\d+)(us|ms|s|m|h|d)?$")
_PER_SECOND = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _c_integer(text: str, where: Where, what: str) -> int:
    """strtol's reading, as 2.6 reads these: decimal, 0x hex or 0 octal, nothing after it."""
    m = re.match(r"^[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", text)
    end = m.end() if m else 0
    if end < len(text) or m is None:
        raise fail(where, f"{what} : unexpected character '{text[end:end + 1]}' in integer value '{text}'")
    digits = m.group(0)
    return int(digits, 8) if re.match(r"^[+-]?0[0-7]+$", digits) else int(digits, 0)


def p_tcpka(st: State, args: list[str], where: Where) -> None:
    """`clitcpka-cnt N`, `clitcpka-idle T`, `clitcpka-intvl T` and their `srvtcpka-` forms:
    TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINTVL on the side's sockets (times in seconds by
    default, kept in seconds as the socket options take them)."""
    kw = args[0]
    if len(args) < 2 or args[1] == "":
        raise fail(where, f"'{kw}' expects an integer value")
    if kw.endswith("-cnt"):
        value = _c_integer(args[1], where, f"'{kw}'")
    else:
        m = _TIME_RE.match(args[1])
        if not m:
            bad = next((c for c in args[1] if not c.isdigit()), args[1][:1])
            raise fail(where, f"unexpected character '{bad}' in argument to <{kw}>.")
        seconds = int(m.group(1)) * _PER_SECOND[m.group(2) or "s"]
        if seconds * 1000 > MAX_TIME_MS:
            raise fail(where, f"timer overflow in argument '{args[1]}' to '{kw}' "
                              f"(maximum value is 2147483647 ms or ~24.8 days)")
        value = int(seconds)
    setattr(st.px(), kw.replace("-", "_"), value)


def p_rate_limit(st: State, args: list[str], where: Where) -> None:
    """`rate-limit sessions N`: sessions per second a frontend accepts (0: no limit)."""
    if len(args) < 2 or args[1] != "sessions":
        got = args[1] if len(args) > 1 else ""
        raise fail(where, f"'{args[0]}' only supports 'sessions' (got '{got}')")
    if len(args) < 3 or args[2] == "":
        raise fail(where, f"'{args[0]} {args[1]}' expects expects an integer value (in sessions/second)")
    st.px().fe_sps_lim = _c_integer(args[2], where, f"'{args[0]} {args[1]}'")
