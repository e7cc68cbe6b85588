"""`tcp-check` rules and the protocol check options built on them (HAProxy 2.6's tcpcheck.c).

`option tcp-check` checks a server with the proxy's `tcp-check connect|send|send-binary|expect|
comment` rules (an implicit `connect` first when they do not start with one; none: a plain
connect). `option redis-check`, `mysql-check [user U [post-41|pre-41]]`, `pgsql-check user U`
and `ldap-check` are 2.6's predefined rule sets: the same bytes sent and expected, the same
messages (checks.py runs them all with one engine). The last check option of a proxy wins.

Not here, refused by name: `send-lf`/`send-binary-lf`/`string-lf`/`binary-lf` with sample
expressions (a log-format without `%` is taken as plain text), `set-var`/`unset-var`,
`connect via-socks4|proto`, `status-code` other than `res.payload(O,L)`, and on-success/on-error
texts with other samples than `res.payload(O,L)` and the converters `cut_crlf`, `ltrim`, `rtrim`,
`lower`, `upper`.
"""

from __future__ import annotations

import re

from .model import Proxy, TcpCheckRule, Where
from .state import State
from .values import IN_26, fail, not_supported, resolve, split_host_port

_OK_ST = {"L7OK": "L7OK", "L7OKC": "L7OKC", "L6OK": "L6OK", "L4OK": "L4OK"}
_ERR_ST = {"L7RSP": "L7RSP", "L7STS": "L7STS", "L7OKC": "L7OKC", "L6RSP": "L6RSP", "L4CON": "L4CON"}
_TOUT_ST = {"L7TOUT": "L7TOUT", "L6TOUT": "L6TOUT", "L4TOUT": "L4TOUT"}
_CONVS = ("cut_crlf", "ltrim", "rtrim", "lower", "upper")

Fmt = list[str | tuple[int, int, list[tuple[str, str]]]]


def _parse_binary(hexstr: str, what: str, where: Where, quote: bool = True) -> bytes:
    """2.6's parse_binary() on a hex string: pairs of hex digits, or its error."""
    why = ""
    if len(hexstr) % 2:
        why = "an even number of hex digit is expected"
    else:
        bad = re.search(r"[^0-9A-Fa-f]", hexstr)
        if bad:
            why = f"an hex digit is expected (found '{bad.group()}')"
    if why:
        raise fail(where, f"'{what}' : {repr(hexstr) + ' ' if quote else ''}invalid binary string ({why}).")
    return bytes.fromhex(hexstr)


def _payload(expr: str, what: str, where: Where) -> tuple[int, int, list[tuple[str, str]]]:
    """`res.payload(O,L)[,CONV[(ARG)]]...` -> (offset, length, converters)."""
    m = re.fullmatch(r"res\.payload\((\d+),(\d+)\)((?:,[a-z_]+(?:\([^()]*\))?)*)", expr)
    if m is None:
        raise not_supported(f"'{what}' with the sample expression '{expr}'", IN_26, where)
    convs: list[tuple[str, str]] = []
    for c in re.findall(r",([a-z_]+)(?:\(([^()]*)\))?", m.group(3)):
        name, arg = c[0], c[1]
        if name not in _CONVS:
            raise not_supported(f"'{what}' with the converter '{name}'", IN_26, where)
        if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "'\"":
            arg = arg[1:-1]
        convs.append((name, arg))
    return int(m.group(1)), int(m.group(2)), convs


def parse_fmt(text: str, what: str, where: Where) -> Fmt:
    """An on-success/on-error log-format: literal text and `%[res.payload(O,L),...]` parts."""
    out: Fmt = []
    pos = 0
    lit = ""
    while pos < len(text):
        c = text[pos]
        if c == "%" and text.startswith("%[", pos):
            end = text.find("]", pos)
            if end < 0:
                raise fail(where, f"'{text}' invalid log-format string (missing ']').")
            if lit:
                out.append(lit)
                lit = ""
            out.append(_payload(text[pos + 2:end], what, where))
            pos = end + 1
        elif c == "%" and text.startswith("%%", pos):
            lit += "%"
            pos += 2
        elif c == "%":
            raise not_supported(f"'{what}' with the log-format variable in '{text}'", IN_26, where)
        else:
            lit += c
            pos += 1
    if lit:
        out.append(lit)
    return out


def _connect(args: list[str], rules: list[TcpCheckRule], where: Where) -> TcpCheckRule:
    for r in rules:
        if r.action == "connect":
            break
        if r.action != "comment":
            raise fail(where, "'tcp-check connect' : first step MUST also be a 'connect', optionally "
                              "preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a "
                              "'connect' step in the tcp-check ruleset.")
    rule = TcpCheckRule("connect")
    i = 2
    while i < len(args):
        opt = args[i]
        has = i + 1 < len(args) and args[i + 1] != ""
        if opt == "default":
            rule.default = True
        elif opt == "addr":
            if not has:
                raise fail(where, f"'tcp-check connect' : '{opt}' expects <ipv4|ipv6> as argument.")
            host, aport = split_host_port(args[i + 1])
            res = resolve(host)
            if res is None or (aport not in (None, "") and not (aport.isdigit() and int(aport) <= 65535)):
                raise fail(where, f"'tcp-check connect' : '{opt}' : invalid address: '{args[i + 1]}'.")
            rule.addr = res[0]
            if aport:
                rule.addr_port = int(aport)  # (used when there is no `port`, as 2.6)
            i += 1
        elif opt == "port":
            if not has:
                raise fail(where, f"'tcp-check connect' : '{opt}' expects a port number or a sample "
                                  "expression as argument.")
            val = args[i + 1]
            if not (val.isascii() and val.isdigit()):
                raise not_supported(f"'tcp-check connect port' with a sample expression ('{val}')",
                                    IN_26, where)
            if not 1 <= int(val) <= 65535:
                raise fail(where, "'tcp-check connect' : expects a valid TCP port (from range 1 to 65535) "
                                  f"or a sample expression, got {val}.")
            rule.port = int(val)
            i += 1
        elif opt in ("comment", "sni", "alpn"):
            if not has:
                raise fail(where, f"'tcp-check connect' : '{opt}' expects a string as argument.")
            setattr(rule, opt, args[i + 1])
            i += 1
        elif opt == "send-proxy":
            rule.send_proxy = True
        elif opt == "ssl":
            rule.ssl = True
        elif opt == "linger":
            pass  # (a check's connection is always closed without a reset here)
        elif opt in ("via-socks4", "proto"):
            raise not_supported(f"'tcp-check connect {opt}'", IN_26, where)
        else:
            raise fail(where, "'tcp-check connect' : expects 'comment', 'port', 'addr', 'send-proxy', "
                              "'ssl', 'sni', 'alpn' or 'via-socks4', 'linger', 'default' but got "
                              f"'{opt}' as argument.")
        i += 1
    return rule


def _send(args: list[str], where: Where) -> TcpCheckRule:
    kw = args[1]
    if len(args) < 3 or args[2] == "":
        kind = "binary string" if kw == "send-binary" else "string"
        raise fail(where, f"'tcp-check {kw}' : '{kind}' expects a {kw} as argument.")
    data = args[2]
    rule = TcpCheckRule("send")
    i = 3
    while i < len(args):
        if args[i] == "comment":
            if i + 1 >= len(args) or args[i + 1] == "":
                raise fail(where, f"'tcp-check {kw}' : 'comment' expects a string as argument.")
            rule.comment = args[i + 1]
            i += 2
        else:
            raise fail(where, f"'tcp-check {kw}' : expects 'comment' but got '{args[i]}' as argument.")
    if kw.endswith("-lf"):
        if "%" in data:
            raise not_supported(f"'tcp-check {kw}' with a log-format string", IN_26, where)
        kw = kw[:-3]
    if kw == "send-binary":
        rule.data = _parse_binary(data, f"tcp-check {args[1]}", where)
    else:
        rule.data = data.encode("latin-1", "replace")
    return rule


def _status(table: dict[str, str], value: str, opt: str, where: Where, allowed: str) -> str:
    st = table.get(value.upper())
    if st is None:
        raise fail(where, f"'tcp-check expect' : '{opt}' only supports {allowed} status (got '{value}').")
    return st


def _expect(args: list[str], where: Where) -> TcpCheckRule:
    if len(args) < 3 or args[2] == "":
        raise fail(where, "'tcp-check expect' : expects at least a matching pattern as arguments.")
    rule = TcpCheckRule("expect")
    i = 2
    pattern: str | None = None

    def arg(opt: str, what: str = "a string") -> str:
        if i + 1 >= len(args) or args[i + 1] == "":
            raise fail(where, f"'tcp-check expect' : '{opt}' expects {what} as argument.")
        return args[i + 1]

    while i < len(args):
        word = args[i]
        if word.startswith("!"):
            while word.startswith("!"):
                rule.inverse = not rule.inverse
                word = word[1:]
            if not word:
                i += 1
                if i >= len(args):
                    break
                word = args[i]
            if word not in ("string", "rstring", "binary", "rbinary", "string-lf", "binary-lf"):
                raise fail(where, f"'tcp-check expect' : [!] not supported with '{word}'.")
        if word == "min-recv":
            val = arg(word, "a integer")
            try:
                n = int(val)
            except ValueError:
                n = 0
            if n < -1 or n > 2**31 - 1:
                raise fail(where, "'tcp-check expect' : 'min-recv' expects -1 or an integer "
                                  "from 0 to INT_MAX.")
            rule.min_recv = n
            i += 2
        elif word in ("string", "rstring", "binary", "rbinary", "string-lf", "binary-lf"):
            if rule.kind:
                raise fail(where, "'tcp-check expect' : only on pattern expected.")
            pattern = arg(word, "a <pattern>")
            if word.endswith("-lf"):
                if "%" in pattern:
                    raise not_supported(f"'tcp-check expect {word}' with a log-format string", IN_26, where)
                word = word[:-3]
            rule.kind = word
            i += 2
        elif word in ("comment", "on-success", "on-error"):
            val = arg(word)
            if word == "comment":
                rule.comment = val
            elif word == "on-success":
                rule.on_success = parse_fmt(val, "tcp-check expect on-success", where)
            else:
                rule.on_error = parse_fmt(val, "tcp-check expect on-error", where)
            i += 2
        elif word == "ok-status":
            rule.ok_status = _status(_OK_ST, arg(word), word, where, "'L4OK', 'L6OK', 'L7OK' or 'L7OKC'")
            i += 2
        elif word == "error-status":
            rule.err_status = _status(_ERR_ST, arg(word), word, where,
                                      "'L4CON', 'L6RSP', 'L7RSP' or 'L7STS'")
            i += 2
        elif word == "tout-status":
            rule.tout_status = _status(_TOUT_ST, arg(word), word, where, "'L4TOUT', 'L6TOUT' or 'L7TOUT'")
            i += 2
        elif word == "status-code":
            val = arg(word, "an expression")
            m = re.fullmatch(r"res\.payload\((\d+),(\d+)\)", val)
            if m is None:
                raise not_supported(f"'tcp-check expect status-code {val}'", IN_26, where)
            rule.status_code = (int(m.group(1)), int(m.group(2)))
            i += 2
        else:
            raise fail(where, "'tcp-check expect' : 'only supports min-recv, '[!]binary', '[!]string', "
                              "'[!]rstring', '[!]string-lf''[!]rbinary', '[!]binary-lf' or comment but got "
                              f"'{word}' as argument.")
    if not rule.kind or pattern is None:
        raise fail(where, "'tcp-check expect' : expects at least a matching pattern as arguments.")
    if rule.kind == "binary":
        rule.pattern = _parse_binary(pattern, "tcp-check expect", where, quote=False)
    else:
        rule.pattern = pattern.encode("latin-1", "replace")
        if rule.kind in ("rstring", "rbinary"):
            try:
                re.compile(rule.pattern)
            except re.error as e:
                raise fail(where, f"'tcp-check expect' : regex '{pattern}' is invalid ({e}).") from None
    return rule


def p_tcp_check(st: State, args: list[str], where: Where) -> None:
    """`tcp-check connect|send|send-binary|send-lf|send-binary-lf|expect|comment ...`."""
    px = st.px()
    if px.tcpcheck_inherited:
        px.tcpcheck_rules = []
        px.tcpcheck_inherited = False
    rules = px.tcpcheck_rules
    sub = args[1] if len(args) > 1 else ""
    if sub == "connect":
        rule = _connect(args, rules, where)
    elif sub in ("send", "send-binary", "send-lf", "send-binary-lf"):
        rule = _send(args, where)
    elif sub == "expect":
        rule = _expect(args, where)
    elif sub == "comment":
        if len(args) < 3 or args[2] == "":
            raise fail(where, "'tcp-check comment' : expects a string as argument.")
        if len(args) > 3:
            raise fail(where, f"'tcp-check comment' : unexpected extra argument '{args[3]}'.")
        rule = TcpCheckRule("comment", comment=args[2])
    elif sub.startswith(("set-var(", "set-var-fmt(", "unset-var(")):
        raise not_supported(f"'tcp-check {sub}'", IN_26, where)
    else:
        raise fail(where, "'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'expect', "
                          f"'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got '{sub}'")
    rule.index = len(rules)
    rules.append(rule)


# ---- the protocol checks: 2.6's predefined rule sets ------------------------------------------


def _set_option(px: Proxy, kind: str, rules: list[TcpCheckRule]) -> None:
    """A check option: it replaces the proxy's other check options (2.6: the last one wins)."""
    px.httpchk = None
    px.smtpchk = None
    px.options.difference_update(("httpchk", "smtpchk", "ssl-hello-chk"))
    px.tcpcheck = kind
    px.tcpcheck_proto = rules


def _rx(kind: str, pattern: str, **kw: object) -> TcpCheckRule:
    rule = TcpCheckRule("expect", kind=kind, pattern=pattern.encode("latin-1"))
    for k, v in kw.items():
        setattr(rule, k, v)
    return rule


def _indexed(rules: list[TcpCheckRule]) -> list[TcpCheckRule]:
    for n, r in enumerate(rules):
        r.index = n
    return rules


def redis_rules() -> list[TcpCheckRule]:
    return _indexed([
        TcpCheckRule("send", data=b"*1\r\n$4\r\nPING\r\n"),
        _rx("string", "+PONG\r\n", err_status="L7STS", on_error=[(0, 0, [("cut_crlf", "")])],
            on_success=["Redis server is ok"]),
    ])


def mysql_rules(user: str | None, post41: bool) -> list[TcpCheckRule]:
    rules = [TcpCheckRule("connect", default=True)]
    if user is None:
        rules.append(TcpCheckRule("expect", kind="mysql-iniths"))
        return _indexed(rules)
    name = user.encode("latin-1")
    if post41:
        plen = len(name) + 7 + 27
        body = (bytes.fromhex("00820000" "00800001" "21") + b"\x00" * 23 + name + b"\x00" + b"\x00"
                + bytes.fromhex("010000" "00" "01"))
    else:
        plen = len(name) + 7
        body = bytes.fromhex("0080" "000001") + name + b"\x00" + b"\x00" + bytes.fromhex("010000" "00" "01")
    header = bytes((plen & 0xFF, (plen >> 8) & 0xFF, (plen >> 16) & 0xFF, 1))
    rules.append(TcpCheckRule("send", data=header + body))
    rules.append(TcpCheckRule("expect", kind="mysql-iniths"))
    rules.append(TcpCheckRule("expect", kind="mysql-ok"))
    return _indexed(rules)


def pgsql_rules(user: str) -> list[TcpCheckRule]:
    name = user.encode("latin-1")
    packet = ((15 + len(name)).to_bytes(4, "big") + bytes.fromhex("00030000" "7573657200") + name
              + b"\x00\x00")
    return _indexed([
        TcpCheckRule("connect", default=True),
        TcpCheckRule("send", data=packet),
        _rx("rstring", "^E", inverse=True, min_recv=5, err_status="L7RSP", on_error=[(6, 0, [])]),
        _rx("rbinary", "^52000000(08|0A|0C)000000(00|02|03|04|05|06)", min_recv=9, err_status="L7STS",
            on_success=["PostgreSQL server is ok"], on_error=["PostgreSQL unknown error"]),
    ])


def smtp_rules(command: str) -> list[TcpCheckRule]:
    """`option smtpchk [HELO|EHLO domain]`: 2.6.12 reads the greeting before it sends the command,
    takes the whole (multi-line) reply, then says QUIT and expects a 2xx (2.7's fix for issue
    1812, backported to 2.6.7)."""
    text = [(4, 0, [("ltrim", " "), ("cut_crlf", "")])]
    return _indexed([
        TcpCheckRule("connect", default=True),
        _rx("rstring", "^[0-9]{3}[ \r]", min_recv=4, err_status="L7RSP",
            on_error=[(0, 0, [("cut_crlf", "")])]),
        _rx("rstring", "^2[0-9]{2}[ \r]", min_recv=4, err_status="L7STS", on_error=text, status_code=(0, 3)),
        TcpCheckRule("send", data=command.encode("latin-1") + b"\r\n"),
        _rx("rstring", "^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]", err_status="L7STS", on_error=text,
            on_success=text, status_code=(0, 3)),
        TcpCheckRule("send", data=b"QUIT\r\n"),
        _rx("rstring", "^2[0-9]{2}[- \r]", min_recv=4, err_status="L7STS", on_error=text, on_success=text,
            status_code=(0, 3)),
    ])


def ldap_rules() -> list[TcpCheckRule]:
    return _indexed([
        TcpCheckRule("send", data=bytes.fromhex("300C020101600702010304008000")),
        _rx("rbinary", "^30", min_recv=14, on_error=["Not LDAPv3 protocol"]),
        TcpCheckRule("expect", kind="ldap-bindrsp"),
    ])


def option_check(px: Proxy, name: str, args: list[str], where: Where) -> None:
    """`option tcp-check|redis-check|mysql-check|pgsql-check|ldap-check` (args: the line)."""
    rest = args[2:]
    most = {"pgsql-check": 2, "mysql-check": 3}.get(name, 0)
    if len(rest) > most:
        raise fail(where, f"'{args[0]} {name}' cannot handle unexpected argument '{rest[most]}'.")
    if name in ("tcp-check", "redis-check", "ldap-check"):
        if name == "tcp-check":
            _set_option(px, "tcp", [])
        elif name == "redis-check":
            _set_option(px, "redis", redis_rules())
        else:
            _set_option(px, "ldap", ldap_rules())
        return
    if name == "pgsql-check":
        if len(rest) < 2 or not rest[0] or not rest[1]:
            raise fail(where, f"'{args[0]} {name}' expects 'user <username>' as argument.")
        if rest[0] != "user":
            raise fail(where, f"'{args[0]} {name}' only supports optional values: 'user'.")
        _set_option(px, "pgsql", pgsql_rules(rest[1]))
        return
    # mysql-check [user U [post-41|pre-41]]
    if not rest:
        _set_option(px, "mysql", mysql_rules(None, True))
        return
    if rest[0] != "user":
        raise fail(where, f"'{args[0]} {name}' only supports optional values: 'user' (got '{rest[0]}').")
    if len(rest) < 2 or not rest[1]:
        raise fail(where, f"'{args[0]} {name}' expects 'user <username>' as argument.")
    variant = rest[2] if len(rest) > 2 else "post-41"
    if variant not in ("post-41", "pre-41"):
        raise fail(where, f"keyword 'user' only supports 'post-41' and 'pre-41' (got '{variant}').")
    _set_option(px, "mysql", mysql_rules(rest[1], variant == "post-41"))
