"""`server`, `default-server` and `http-check`: the servers of a backend and their options."""

from __future__ import annotations

import copy
import re

from . import tls_server as TLSS
from .model import (
    HttpCheckSend,
    Server,
    Where,
)
from .state import State, defaults_forbidden
from .values import (
    IN_26,
    fail,
    isnum,
    need,
    not_supported,
    parse_int,
    parse_source_addr,
    parse_time,
    resolve,
    split_host_port,
)


def _apply_server_options(srv: Server, args: list[str], where: Where, n_default: int = 0) -> None:
    """The options of a `server` line (after its address), `default-server` ones first (the
    first n_default words)."""
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
            srv.check_port_set = True
            i += 2
        elif opt in ("on-marked-down", "on-marked-up"):
            want = "shutdown-sessions" if opt == "on-marked-down" else "shutdown-backup-sessions"
            if val(i) != want:
                raise fail(where, f"'{opt}' expects '{want}' but got '{args[i + 1]}'")
            setattr(srv, opt.replace("-", "_"), True)
            i += 2
        elif opt == "init-addr":
            parse_init_addr(srv, val(i), where)
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
        elif opt == "id":
            # 2.6 (srv_parse_id): the server's numeric id (stats, the consistent-hash ring)
            if name == "default-server":
                raise fail(where, "'id' option is not accepted in default-server sections")
            if i + 1 >= len(args) or args[i + 1] == "":
                raise fail(where, f"'server {name}' : 'id' : expects an integer argument.")
            m = re.match(r"^\s*[+-]?[0-9]+", args[i + 1])
            n = int(m.group(0)) if m else 0
            if n <= 0:
                raise fail(where, f"'server {name}' : 'id' : custom id has to be > 0.")
            srv.puid = n
            i += 2
        elif opt == "check":
            srv.check = True
            i += 1
        elif opt in ("agent-check", "no-agent-check"):
            srv.agent_check = opt == "agent-check"
            i += 1
        elif opt in ("agent-port", "agent-inter", "agent-addr", "agent-send"):
            if i + 1 >= len(args) or args[i + 1] == "":
                what = {"agent-port": "a port number", "agent-inter": "a delay",
                        "agent-addr": "an address", "agent-send": "a string"}[opt]
                raise fail(where, f"'server {name}' : '{opt}' expects {what} as argument.")
            arg = args[i + 1]
            if opt == "agent-port":
                if not isnum(arg) or not 1 <= int(arg) <= 65535:
                    raise fail(where, f"'server {name}' : invalid port '{arg}' for 'agent-port'.")
                srv.agent_port = int(arg)
            elif opt == "agent-inter":
                t = parse_time(arg, opt, where)
                if t <= 0:
                    raise fail(where, f"'server {name}' : invalid value {arg} for argument '{opt}' of "
                                      f"server {name}.")
                srv.agent_inter = t
            elif opt == "agent-addr":
                r = resolve(arg)
                if r is None:
                    raise fail(where, f"'server {name}' : parse agent-addr failed ('{arg}').")
                srv.agent_addr = r[0]
            else:
                srv.agent_send = arg.encode("latin-1", "replace")
            i += 2
        elif opt == "track":
            srv.track = val(i)
            i += 2
        elif opt == "enabled":
            srv.disabled = False        # (after a `default-server disabled`)
            i += 1
        elif opt == "non-stick":
            srv.non_stick = 1
            i += 1
        elif opt == "disabled":
            srv.disabled = True
            i += 1
        elif opt == "weight":
            w_text = val(i)
            w = int(w_text) if isnum(w_text) else -1
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
        elif opt == "proto":
            # h1: HTTP/1.1, what a server is spoken to in anyway; h2: HTTP/2 (ext/h2srv.pxi)
            mux = val(i)
            if mux not in ("h1", "h2"):
                raise fail(where, f"'proto' : unknown MUX protocol '{mux}' for server '{name}' "
                                  "(pyhaproxy supports 'h1' and 'h2').")
            srv.proto_h2 = 1 if mux == "h2" else 0
            i += 2
        elif opt in TLSS.SERVER_OPTIONS:  # tls: config/tls_server.py reads them in order
            n = 2 if TLSS.SERVER_OPTIONS[opt] else 1
            if n == 2:
                val(i)
            srv.tls_words.extend(args[i:i + n])
            i += n
        elif opt in _CONN_SERVER_OPTIONS:  # [SERVER-CONN hook 1/2] tfo, tcp-ut
            i += _conn_server_option(srv, args, i, where, srv.name == "default-server" or i < n_default)
        elif opt in _PROXY_PROTOCOL_SERVER_OPTIONS:  # [PROXY-PROTOCOL hook 2/4]
            i += _proxy_protocol_server_option(srv, args, i, where)
        elif opt in LATER_SERVER_OPTIONS:
            raise not_supported(f"server option '{opt}'", LATER_SERVER_OPTIONS[opt], where)
        else:
            raise fail(
                where,
                f"server {name} only supports options 'backup', 'cookie', 'check', "
                "'inter', 'fastinter', 'downinter', 'rise', 'fall', 'port', 'addr', "
                "'source', 'minconn', 'maxconn', 'maxqueue', 'slowstart', "
                "'disabled' and 'weight'.",
            )


# [SERVER-CONN hook 2/2] the options of the server socket itself (ext/connect.pxi sess_try_connect):
# one function, called from _apply_server_options, returning how many words it took.
_CONN_SERVER_OPTIONS = frozenset({"tfo", "no-tfo", "tcp-ut"})
_UT_RE = re.compile(r"^([0-9]+)(us|ms|s|m|h|d)?$")


def _conn_server_option(srv: Server, args: list[str], i: int, where: Where, from_default: bool) -> int:
    opt = args[i]
    if opt in ("tfo", "no-tfo"):
        # 2.6 would ask for TCP_FASTOPEN_CONNECT with data to send, and never has any at connect
        # time (measured: no SYN of 2.6.12 carries the option): accepted, nothing set
        srv.tfo = 1 if opt == "tfo" else 0
        return 1
    # tcp-ut: TCP_USER_TIMEOUT (ms) on the server socket; 2.6 (cfgparse-tcp.c srv_parse_tcp_ut)
    # keeps it only for an IPv4/IPv6 address known when the keyword is read, so never on a
    # `default-server` line (no address) nor a unix socket: it is ignored there, as in 2.6
    if i + 1 >= len(args) or args[i + 1] == "":
        raise fail(where, f"'{opt}' : missing TCP User Timeout value")
    text = args[i + 1]
    m = _UT_RE.match(text)
    if not m:
        raise fail(where, f"'{opt}' : expects a positive delay in milliseconds")
    us = int(m.group(1)) * {"us": 1, "ms": 1000, "s": 10**6, "m": 6 * 10**7, "h": 36 * 10**8,
                            "d": 864 * 10**8}[m.group(2) or "ms"]
    ms = us // 1000 + (1 if us % 1000 else 0)
    if ms > 2**31 - 1:
        raise fail(where, f"timer overflow in argument '{text}' to '{opt}' (maximum value is "
                          "2147483647 ms or ~24.8 days)")
    if not from_default and srv.family != 1:
        srv.tcp_ut = ms
    return 2


# [PROXY-PROTOCOL hook 3/4] the server options of the PROXY protocol (send side): one function,
# called from _apply_server_options, returning how many words it took.
_PROXY_PROTOCOL_SERVER_OPTIONS = frozenset({
    "send-proxy", "send-proxy-v2", "no-send-proxy", "no-send-proxy-v2", "proxy-v2-options",
    "check-send-proxy", "no-check-send-proxy",
    "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn", "no-send-proxy-v2-ssl", "no-send-proxy-v2-ssl-cn",
})
# proxy-v2-options words and their _core.pp_opt bits (ext/proxyproto.pxi): the TLS ones all
# include PP_OPT_SSL, the PP2_TYPE_SSL TLV, as in 2.6
_PP2_WORDS = {"crc32c": ("CRC32C",), "authority": ("AUTHORITY",), "ssl": ("SSL",),
              "cert-cn": ("SSL", "SSL_CN"), "ssl-cipher": ("SSL", "SSL_CIPHER"),
              "cert-sig": ("SSL", "SSL_SIG"), "cert-key": ("SSL", "SSL_KEY")}


def _pp2_bits(word: str) -> int:
    from .. import _core
    bits = 0
    for name in _PP2_WORDS[word]:
        bits |= int(_core.pp_opt["PP_OPT_" + name])
    return bits


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
    elif opt in ("send-proxy-v2-ssl", "send-proxy-v2-ssl-cn"):
        srv.send_proxy = 2
        srv.pp_opts |= _pp2_bits("cert-cn" if opt.endswith("-cn") else "ssl")
    elif opt in ("no-send-proxy-v2-ssl", "no-send-proxy-v2-ssl-cn"):
        if srv.send_proxy == 2:
            srv.send_proxy = 0
        srv.pp_opts &= ~_pp2_bits("cert-cn" if opt.endswith("-cn") else "ssl")
    else:  # proxy-v2-options LIST: used by send-proxy-v2 (it does not imply it, as in 2.6)
        if i + 1 >= len(args) or args[i + 1] == "":
            raise fail(where, f"'{opt}' expects an argument (server {srv.name}).")
        for word in args[i + 1].split(","):
            if word in _PP2_WORDS:   # (authority: the one a client's own PROXY header carried)
                srv.pp_opts |= _pp2_bits(word)
            elif word == "unique-id":
                raise not_supported(f"'proxy-v2-options {word}'", "1.9", where)
            else:
                raise fail(where, f"'{opt}' : failed to parse '{word}' (server {srv.name}).")
        return 2
    return 1


_SEND_LATER = ("uri-lf", "body-lf")


def _http_check_send(st: State, args: list[str], where: Where) -> None:
    """`http-check send [meth M] [uri U] [ver V] [hdr NAME VALUE]... [body S] [comment C]`."""
    send = HttpCheckSend()
    i = 2
    while i < len(args):
        word = args[i]
        if word in _SEND_LATER:
            raise not_supported(f"'http-check send {word}' (log-format)", IN_26, where)
        nval = 2 if word == "hdr" else 1
        if word not in ("meth", "uri", "ver", "hdr", "body", "comment") or i + nval >= len(args):
            if word in ("meth", "uri", "ver", "hdr", "body", "comment"):
                raise fail(where, f"'http-check send' : '{word}' expects "
                                  f"{'<name> and <value>' if word == 'hdr' else 'a value'} as argument.")
            raise fail(where, f"'http-check send' : expects 'comment', 'meth', 'uri', 'uri-lf', "
                              f"'ver', 'hdr', 'body' or 'body-lf' but got '{word}' as argument.")
        val = args[i + 1]
        if word == "meth":
            send.method = val
        elif word == "uri":
            send.uri = val
        elif word == "ver":
            send.version = val
        elif word == "hdr":
            send.headers.append((val, args[i + 2]))
        elif word == "body":
            send.body = val
        i += 1 + nval
    st.px().http_check_send = send


def p_http_check(st: State, args: list[str], where: Where) -> None:
    """`http-check expect [!] status|rstatus|string|rstring PATTERN`: what an `option httpchk`
    reply must be (2xx/3xx without it); `status` takes codes and ranges separated by commas
    (200-399,404), `string`/`rstring` look in the body. `http-check send ...` shapes the request,
    `http-check disable-on-404` turns a 404 from an UP server into NOLB (out of load balancing)."""
    sub = args[1] if len(args) > 1 else ""
    if sub == "send":
        _http_check_send(st, args, where)
        return
    if sub == "disable-on-404":
        if len(args) > 2:
            raise fail(where, "'http-check disable-on-404' cannot handle unexpected argument "
                              f"'{args[2]}'.")
        st.px().http_check_disable_404 = True
        return
    if sub != "expect":
        raise not_supported(f"'http-check {sub}'", "1.4", where)
    rest = args[2:]
    neg = bool(rest) and rest[0] == "!"
    if neg:
        rest = rest[1:]
    if len(rest) != 2 or rest[0] not in ("status", "rstatus", "string", "rstring"):
        what = rest[0] if rest else ""
        if what in ("hdr", "fhdr", "min-recv", "comment", "ok-status", "error-status", "tout-status",
                    "on-success", "on-error", "status-code", "string-lf", "binary", "rbinary"):
            raise not_supported(f"'http-check expect {what}'", IN_26, where)
        raise fail(where, "'http-check expect' expects '[!] status <codes>', '[!] rstatus <regex>', "
                          "'[!] string <text>' or '[!] rstring <regex>'.")
    if "http-check expect" in st.seen:
        raise not_supported("a second 'http-check expect' rule (one rule per proxy)", IN_26, where)
    kind, pattern = rest
    if kind == "status":
        for part in pattern.split(","):
            lo, _, hi = part.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()):
                raise fail(where, f"'http-check expect status' : invalid status code or range '{part}'.")
    elif kind in ("rstatus", "rstring"):
        try:
            re.compile(pattern)
        except re.error as e:
            raise fail(where, f"'http-check expect {kind}' : invalid regex '{pattern}' ({e}).") from None
    st.seen.add("http-check expect")
    st.px().http_check_expect = (neg, kind, pattern)


def p_default_server(st: State, args: list[str], where: Where) -> None:
    """`default-server OPTIONS`: options every later `server` line of the section (and of the
    proxies after a `defaults` section) starts with; its own options come after and win."""
    need(args, 1, where, "'default-server' expects at least one option.")
    dflt = Server(name="default-server", host="")
    _apply_server_options(dflt, args[1:], where)  # validated now
    TLSS.apply(TLSS.ServerTLS(), dflt.tls_words, where, "'default-server'", st.config.global_.tls)
    st.px().default_server = [*st.px().default_server, *args[1:]]


def p_server(st: State, args: list[str], where: Where) -> None:
    defaults_forbidden(st, args, where)
    if len(args) < 3 or args[2] == "":
        raise fail(where, "'server' expects <name> and <addr>[:<port>] as arguments.")
    name = args[1]
    srv = Server(name=name, host="", where=copy.copy(where))
    host, port = split_host_port(args[2])
    res = resolve(host, numeric_only=True)
    if res is None:
        srv.hostname = host         # resolved below, by the init-addr methods
    else:
        srv.host, srv.family = res
    # IP => port of the client connection ; IP:N => N ; IP:+N / IP:-N => client's port +/- N
    fixed_port: int | None = None
    if port not in (None, ""):
        assert port is not None
        if port[0] in "+-" and isnum(port[1:]):
            off = int(port[1:])
            if off > 65535:
                raise fail(where, f"server {name} : invalid port offset '{port}'.")
            srv.port_offset = off if port[0] == "+" else -off
        elif isnum(port) and int(port) <= 65535:
            fixed_port = int(port) or None  # ':0' means "same port as the client"
        else:
            raise fail(where, f"server {name} : invalid port '{port}'.")
    srv.port = fixed_port

    _apply_server_options(srv, [*st.px().default_server, *args[3:]], where,
                          n_default=len(st.px().default_server))
    if srv.tfo:  # (2.6: unless `retry-on` has conn-failure, empty-response, response-timeout)
        st.warn(where, f"'server {st.px().name}/{name}' : server has tfo activated, the backend should be "
                       "configured with at least 'conn-failure', 'empty-response' and 'response-timeout' "
                       "or we wouldn't be able to retry the connection on failure.")
    init_address(st, srv, where)
    srv.tls = TLSS.build(st.config.global_.tls, srv.tls_words, where, st.px().name, name)  # tls
    if srv.check:
        if srv.check_port is None and srv.port is not None:
            srv.check_port = srv.port
        if srv.check_port is None:
            raise fail(
                where, f"server {name} has neither service port nor check port. Check has been disabled."
            )
    if srv.check and srv.track:
        raise fail(where, f"'server {st.px().name}/{name}' : unable to enable checks and tracking at the "
                          "same time!")
    if srv.agent_check and not srv.agent_port:
        raise fail(where, f"'server {st.px().name}/{name}' : server {name} does not have agent port. "
                          "Agent check has been disabled.")
    seen = st.server_names.setdefault(id(st.px()), {})  # a dict: a farm of 100,000 stays linear
    other = seen.get(srv.name)
    if other is not None:
        raise fail(where, f"{st.px().cap} '{st.px().name}', another server named '{srv.name}' was "
                          f"already defined at line {other.where.line}, please use distinct names.")
    seen[srv.name] = srv
    if srv.puid:
        for o in st.px().servers:
            if o.puid == srv.puid:
                raise fail(where, f"'server {srv.name}' : 'id' : custom id {srv.puid} already used at "
                                  f"{o.where.file}:{o.where.line} ('server {o.name}').")
    st.px().servers.append(srv)


def parse_init_addr(srv: Server, text: str, where: Where) -> None:
    """`init-addr {last|libc|none|IP},...`: the methods in order (2.6's parser and messages)."""
    methods: list[str] = []
    for word in text.split(","):
        if word in ("libc", "last", "none"):
            kind = word
        elif resolve(word, numeric_only=True) is not None:
            if any(m not in ("libc", "last", "none") for m in methods):
                raise fail(where, f"'init-addr' : initial address already specified, cannot add '{word}'.")
            kind = word
        else:
            raise fail(where, f"'init-addr' : unknown init-addr method '{word}', supported methods are "
                              "'libc', 'last', 'none'.")
        if len(methods) >= 10:      # (2.6 packs them in 3 bits each of an int: 10 at most)
            raise fail(where, f"'init-addr' : too many init-addr methods when trying to add '{word}'")
        methods.append(kind)
    srv.init_addr = methods


def init_address(st: State, srv: Server, where: Where) -> None:
    """2.6's srv_iterate_initaddr() for a server written with a name: the first method that
    gives an address wins (default "last,libc"; `-dr` adds "none"). `last` (a server-state
    file's address) is known only once the files are read: the server is marked and
    server_state.load() applies it; the methods after it give the address meanwhile (so
    `init-addr last` alone, which 2.6 accepts when the state file has the address, is refused
    here: noted in docs/architecture.md)."""
    if srv.hostname is None:
        return              # a numeric address: nothing to resolve (2.6 skips libc and last)
    methods = list(srv.init_addr or ["last", "libc"])
    failed = False
    for m in methods:
        if m == "last":
            srv.init_last = True
        elif m == "libc":
            res = resolve(srv.hostname)
            if res is not None:
                srv.host, srv.family = res
                return
            failed = True
        elif m == "none":
            srv.rmaint = True
            if failed:
                st.warn(where, f"could not resolve address '{srv.hostname}', disabling server.")
            return
        else:
            res = resolve(m, numeric_only=True)
            assert res is not None
            srv.host, srv.family = res
            if failed:
                st.warn(where, f"could not resolve address '{srv.hostname}', falling back to configured "
                                "address.")
            return
    if not failed:
        raise fail(where, f"server {srv.name} : no method found to resolve address '{srv.hostname}'.")
    raise fail(where, f"server {srv.name} : could not resolve address '{srv.hostname}'.")


LATER_SERVER_OPTIONS = {
    "redir": "1.3.20",
    "observe": "1.4",
    "error-limit": "1.4",
    "on-error": "1.4",
    "resolvers": "1.6",
    "resolve-prefer": "1.6",
    "namespace": "1.6",
    "usesrc": "1.3.10",
    "init-state": "3.1",
}
# Server options haproxy 2.6 lists (`haproxy -dKcfg`) that the table above does not name yet.
for _kw in (
    "allow-0rtt check-alpn check-proto check-sni check-via-socks4 ciphers "
    "ciphersuites crl-file force-sslv3 force-tlsv10 force-tlsv11 force-tlsv12 force-tlsv13 "
    "log-proto max-reuse no-backup no-check no-check-ssl "
    "no-ssl "
    "no-ssl-reuse no-sslv3 no-tls-tickets no-tlsv10 no-tlsv11 no-tlsv12 no-tlsv13 npn "
    "pool-low-conn pool-max-conn pool-purge-delay resolve-net resolve-opts "
    "socks4 ssl-max-ver ssl-min-ver ssl-reuse stick "
    "tls-tickets verifyhost ws"
).split():
    LATER_SERVER_OPTIONS.setdefault(_kw, IN_26)

