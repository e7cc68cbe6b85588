"""HTTP behaviour of a proxy: cookie, appsession, capture, monitor, `option`, errorfile/errorloc."""

from __future__ import annotations

import ipaddress
import re

from .kw_http_errors import read_errorfile
from .kw_rules import parse_condition
from .kw_stats_log import p_no_log
from .kw_tcpcheck import option_check
from .logformat import HTTPLOG_CLF, HTTPSLOG, parse_log_format
from .model import (
    Capture,
    Cookie,
    HttpCheck,
    Proxy,
    Where,
)
from .state import State, defaults_forbidden
from .values import (
    CAPTURE_LEN,
    ERROR_CODES,
    fail,
    isnum,
    need,
    no_extra,
    not_supported,
    parse_int,
    parse_time,
    resolve,
)


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
    defaults_forbidden(st, args, where)
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
        defaults_forbidden(st, args, where, f"capture {kind}")
        if len(args) < 6 or args[4] != "len":
            raise fail(where, f"'capture {kind}' expects 'header' <header_name> 'len' <len>.")
        no_extra(args, 6, where)
        length = parse_int(args[5], f"capture {kind} header len", where, lo=1)
        px.captures.append(Capture(kind=kind, name=args[3], length=length))
    else:
        raise fail(where, "'capture' expects 'cookie' or 'request header' or 'response header'.")


def _prefix_len(mask: str, where: Where) -> int:
    if isnum(mask):
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
    """`monitor fail if|unless COND`: the monitor-uri answer is 503 when the condition holds."""
    defaults_forbidden(st, args, where)
    if len(args) < 2 or args[1] != "fail":
        raise fail(where, "'monitor' only supports 'fail'.")
    if len(args) < 3 or args[2] not in ("if", "unless"):
        raise fail(where, "'monitor fail' requires either 'if' or 'unless' followed by a condition.")
    st.px().monitor_fail.append(parse_condition(st, args[2:], where, "monitor fail"))


# option name -> (handler, since); plain flags are stored as-is in Proxy.options
_FLAG_OPTIONS = {
    "log-health-checks": "1.5",  # checks.py logs each change of a check's result
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
    "log-separate-errors": "1.3.21",
    # a kept-alive client's next requests stay on the server of its connection when that
    # connection is private to it (2.6; here: a `send-proxy` server), else balanced again
    "prefer-last-server": "1.5",
    # pyhaproxy's own: a TCP session's bytes relayed by the kernel (docs/tcp-fastpath.md); a
    # proxy not in `mode tcp` ignores it with a warning (config/parser.py)
    "tcp-fastpath": "pyhaproxy",
    # no HTTP/2 by its connection preface on a clear-text HTTP/1 connection (http.pxi)
    "disable-h2-upgrade": "2.0",
    # what 2.6 does with it, pyhaproxy always does: TCP_NODELAY on every socket and no MSG_MORE
    # (nothing held back to fill packets), so it is accepted and changes nothing
    "http-no-delay": "1.5",
    "dontlog-normal": "1.3.21",     # only the sessions that end in error are logged (logline.pxi)
    # TCP_QUICKACK off on the listeners (the request's ACK waits for the answer); on by default
    # for an HTTP or TLS listener, as in 2.6, unless `no option tcp-smart-accept` (listeners.py)
    "tcp-smart-accept": "1.4",
    # TCP_QUICKACK off on a server socket before connect() when a PROXY header is to be sent
    # (the handshake's last ACK carries it: connect.pxi says why only then, as 2.6)
    "tcp-smart-connect": "1.4",
    # a connection that closes or times out before sending a byte is neither answered, counted
    # nor logged (http.pxi http_req_probe)
    "http-ignore-probes": "1.6",
    # the frontend waits for the request's body (whole, or a full buffer) before its rules
    # (http.pxi http_body_wanted; in a backend section it is refused: kw_http.option)
    "http-buffer-request": "1.6",
}

_LATER_OPTIONS = {
    "http-pretend-keepalive": "1.4",
    "http-use-proxy-header": "1.4",
    "http-use-htx": "1.9",
    "http_proxy": "1.3.21",
    "external-check": "1.6",
    "spop-check": "1.7",
    "socket-stats": "1.4",
    "independent-streams": "1.4",
    "independant-streams": "1.4",
    "contstats": "1.4",
    "httplog-clf": "1.5",
    "h1-case-adjust-bogus-client": "1.9",
    "h1-case-adjust-bogus-server": "1.9",
    "http-restrict-req-hdr-names": "2.5",
    "idle-close-on-response": "2.6",
}


# 2.6 splices only with these options; pyhaproxy splices large transfers whenever it can (HTTP
# and TCP, docs/architecture.md), so they are accepted and change nothing
_SPLICE_OPTIONS = ("splice-auto", "splice-request", "splice-response")


def _forwardfor_args(px: Proxy, args: list[str], where: Where) -> None:
    """`option forwardfor|originalto [except NETWORK] [header NAME]`."""
    i = 2
    kind = args[1]
    while i < len(args):
        opt = args[i]
        if opt in ("except", "header") and i + 1 < len(args) and args[i + 1]:
            if opt == "except":
                try:
                    net = ipaddress.ip_network(args[i + 1], strict=False)
                except ValueError:
                    raise fail(where, f"'option {kind}' : invalid network '{args[i + 1]}'.") from None
                if kind == "forwardfor":
                    px.forwardfor_except = (str(net.network_address), net.prefixlen)
                else:
                    px.originalto_except = (str(net.network_address), net.prefixlen)
            else:
                if not re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", args[i + 1]):
                    raise fail(where, f"'option {kind}' : invalid header name '{args[i + 1]}'.")
                if kind == "forwardfor":
                    px.forwardfor_header = args[i + 1]
                else:
                    px.originalto_header = args[i + 1]
            i += 2
        elif opt == "if-none" and kind == "forwardfor":
            raise not_supported("'option forwardfor if-none'", "1.5", where)
        else:
            allowed = "'except', 'header' and 'if-none'" if kind == "forwardfor" else "'except' and 'header'"
            raise fail(where, f"'option {kind}' only supports optional values: {allowed}.")


def p_option(st: State, args: list[str], where: Where) -> None:
    need(args, 1, where, "'option' expects an option name.")
    px = st.px()
    name = args[1]
    if name in ("forwardfor", "originalto"):
        _forwardfor_args(px, args, where)
        px.options.add(name)
        return
    if name in ("http-server-close", "http-keep-alive", "httpclose"):
        # the last of these three wins, as in HAProxy 1.5+
        no_extra(args, 2, where)
        px.options.difference_update(("http-server-close", "http-keep-alive", "httpclose"))
        px.options.add(name)
        return
    if name == "httpslog":
        # 2.6's 8.2.4: the HTTP format plus the TLS fields, as a log-format (it replaces one
        # given before; a later log-format replaces it)
        no_extra(args, 2, where)
        px.log_format = parse_log_format(HTTPSLOG)
        px.options.add("httplog")
        return
    if name in _SPLICE_OPTIONS:
        no_extra(args, 2, where)
        px.options.add(name)
        return
    if name in ("httplog", "tcplog"):
        # 2.6: each sets the proxy's log format, so the last of these and `log-format` wins
        if name == "httplog" and len(args) > 2:
            if args[2] != "clf":
                raise fail(where, "keyword 'httplog' only supports option 'clf'.")
            no_extra(args, 3, where)
            px.log_format = parse_log_format(HTTPLOG_CLF)
        else:
            no_extra(args, 2, where)
            px.log_format = None
        px.options.add(name)
        return
    if name == "http-buffer-request" and len(args) > 2:
        raise fail(where, f"'option {name}' cannot handle unexpected argument '{args[2]}'.")   # (2.6's words)
    if name == "http-buffer-request" and px.cap == "backend":
        # (pyhaproxy waits for the body in the frontend only, before its rules)
        raise fail(where, "'option http-buffer-request' in a backend section is not supported by "
                          "pyhaproxy yet (put it in the frontend or in defaults).")
    if name in _FLAG_OPTIONS:
        if name == "ssl-hello-chk":
            px.tcpcheck = None
        no_extra(args, 2, where)
        px.options.add(name)
        px.no_options.discard(name)
        return
    if name == "forceclose":
        no_extra(args, 2, where)
        px.options.update(("forceclose", "httpclose"))  # forceclose implies httpclose
        return
    if name == "redispatch":
        no_extra(args, 3, where)
        px.options.add("redispatch")
        px.redispatch = True
        if len(args) > 2 and not re.fullmatch(r"-?[0-9]{1,9}", args[2]):
            raise fail(where, f"'option redispatch' expects an integer (got '{args[2]}').")
        px.redispatch_after = int(args[2]) if len(args) > 2 else -1
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
        px.tcpcheck = None
        px.options.add("httpchk")
        return
    if name in ("tcp-check", "redis-check", "mysql-check", "pgsql-check", "ldap-check"):
        if px.cap == "frontend":
            st.warn(where, f"'{name}' ignored because frontend '{px.name}' has no backend capability.")
        option_check(px, name, args, where)
        return
    if name == "smtpchk":
        rest = args[2:]
        if not rest:
            px.smtpchk = ("HELO", "localhost")
        elif len(rest) == 2 and rest[0] in ("HELO", "EHLO"):
            px.smtpchk = (rest[0], rest[1])
        else:
            raise fail(where, "'option smtpchk' expects [HELO|EHLO <domain>].")
        px.tcpcheck = None
        px.options.add("smtpchk")
        return
    if name in _LATER_OPTIONS:
        raise not_supported(f"'option {name}'", _LATER_OPTIONS[name], where)
    raise fail(where, f"unknown option '{name}'.")


# options 2.6 refuses to negate ("negation/default is not supported for option 'X'")
_NOT_NEGATABLE = ("httplog", "httpslog", "tcplog", "forwardfor", "httpchk", "smtpchk", "ssl-hello-chk",
                  "tcpka", "originalto", "tcp-check", "mysql-check", "pgsql-check", "redis-check",
                  "ldap-check", "spop-check", "external-check", "http_proxy")


def p_no(st: State, args: list[str], where: Where) -> None:
    """`no log`, and `no option NAME`: an option inherited from `defaults` (or set earlier)
    turned off, as 2.6 allows it for its boolean options."""
    if len(args) > 1 and args[1] == "log":
        p_no_log(st, args[1:], where)
        return
    if len(args) < 2 or args[1] != "option":
        raise fail(where, f"'no' expects 'option' or 'log' (got '{' '.join(args[1:2])}').")
    need(args, 2, where, "'no option' expects an option name.")
    name = args[2]
    no_extra(args, 3, where)
    if name in _NOT_NEGATABLE:
        raise fail(where, f"negation/default is not supported for option '{name}'.")
    px = st.px()
    if name in _FLAG_OPTIONS or name in ("http-server-close", "http-keep-alive", "forceclose",
                                         "redispatch", "transparent", *_SPLICE_OPTIONS):
        px.options.discard(name)
        px.no_options.add(name)
        if name == "redispatch":
            px.redispatch = False
        elif name == "transparent":
            px.transparent = False
        return
    if name in _LATER_OPTIONS:
        return      # (off: what pyhaproxy does without the option)
    raise fail(where, f"unknown option '{name}'.")


def p_errorloc(st: State, args: list[str], where: Where) -> None:
    if len(args) < 3:
        raise fail(where, "<errorloc> expects <error> and <url> as arguments.")
    no_extra(args, 3, where)
    code = parse_int(args[1], args[0], where)
    if code not in ERROR_CODES:
        st.warn(where, f"error {code} relocation will be ignored.")
        return
    kind = "303" if args[0] == "errorloc303" else "302"
    st.px().error_rules.append(("loc", code, (kind, args[2])))


def p_errorfile(st: State, args: list[str], where: Where) -> None:
    if len(args) < 3:
        raise fail(where, "'errorfile' expects <error> and <file> as arguments.")
    no_extra(args, 3, where)
    code = parse_int(args[1], "errorfile", where)
    text = read_errorfile(args[2], where)
    if code not in ERROR_CODES:
        st.warn(where, f"status code {code} cannot be overridden.")
        return
    st.px().error_rules.append(("page", code, text))
