"""Rules of a proxy: `acl` (parsed by acl.py), conditions, `use_backend`/`default_backend`,
`http-request` and the 1.x header rules (`reqadd`, `rsprep`, `reqideny`...).
"""

from __future__ import annotations

import copy
import http
import re
from collections.abc import Callable

from . import acl as acl_lines
from .kw_stick import is_stick_action, stick_rule
from .lexer import ConfigError
from .model import (
    BUFSIZE,
    Acl,
    Capture,
    Condition,
    HeaderRule,
    HttpRule,
    UseBackend,
    UseServer,
    Where,
)
from .sample import SampleError, Segment, check_var_conditions, check_var_name, parse_format, parse_sample
from .state import BACKEND, Handler, State, defaults_forbidden
from .values import (
    IN_26,
    LOG_LEVELS,
    check_replacement,
    compile_regex,
    fail,
    need,
    no_extra,
    not_supported,
    parse_int,
    parse_time,
)


def header_rule(direction: str, action: str, icase: bool, nargs: int) -> Handler:
    def handler(st: State, args: list[str], where: Where) -> None:
        kw = args[0]
        defaults_forbidden(st, args, where)
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


def parse_acl(name: str, words: list[str], where: Where,
              warn: Callable[[Where, str], None] | None = None) -> Acl:
    """`CRITERION [-i] [-m MATCH] [--] VALUES...` -> Acl (validated): see config/acl.py."""
    return acl_lines.parse_acl(name, words, where, warn)


def p_acl(st: State, args: list[str], where: Where) -> None:
    defaults_forbidden(st, args, where)
    if len(args) < 3:
        raise fail(where, "'acl' expects an ACL name, a criterion and values.")
    name = args[1]
    if not re.match(r"^[A-Za-z0-9_.:-]+$", name):
        raise fail(where, f"'acl' : invalid character in ACL name '{name}'.")
    st.px().acls.append(parse_acl(name, args[2:], where, st.warn))


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
        if w in acl_lines.PREDEFINED and w not in known:
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
    defaults_forbidden(st, args, where)
    need(args, 1, where, "'use_backend' expects a backend name.")
    cond = parse_condition(st, args[2:], where, "use_backend") if len(args) > 2 else None
    fmt = None
    if "%" in args[1]:
        try:
            fmt = parse_format(args[1])
        except SampleError as exc:
            raise fail(where, f"'use_backend' : {exc}.") from None
    st.px().use_backends.append(UseBackend(backend=args[1], cond=cond, where=copy.copy(where), fmt=fmt))


def p_use_server(st: State, args: list[str], where: Where) -> None:
    """`use-server NAME|FMT if|unless COND` (checked against the backend's servers at the end)."""
    if len(args) < 2 or not args[1]:
        raise fail(where, "'use-server' expects a server name.")
    if len(args) < 3 or args[2] not in ("if", "unless"):
        raise fail(where, "'use-server' requires either 'if' or 'unless' followed by a condition.")
    cond = parse_condition(st, args[2:], where, "use-server")
    fmt = None
    if "%" in args[1]:
        try:
            fmt = parse_format(args[1])
        except SampleError as exc:
            raise fail(where, f"'use-server' : {exc}.") from None
    st.px().use_servers.append(UseServer(server=args[1], cond=cond, where=copy.copy(where), fmt=fmt))


def p_persist_rule(st: State, args: list[str], where: Where) -> None:
    """`force-persist|ignore-persist if|unless COND`: the first rule that matches decides."""
    if len(args) < 2 or args[1] not in ("if", "unless"):
        raise fail(where, f"'{args[0]}' requires either 'if' or 'unless' followed by a condition.")
    cond = parse_condition(st, args[1:], where, args[0])
    st.px().persist_rules.append(("force" if args[0] == "force-persist" else "ignore", cond))


DENY_CODES = (400, 403, 404, 405, 408, 429, 500, 502, 503, 504)

_HTTP_REQUEST_ACTIONS = {"deny": 0, "tarpit": 0, "add-header": 2, "set-header": 2, "del-header": 1,
                         "redirect": -1, "return": -1, "set-path": 1, "set-query": 1, "set-uri": 1,
                         "set-pathq": 1, "early-hint": 2}
# actions whose one argument is a format (%[...] allowed), not a header name
_URI_ACTIONS = ("set-path", "set-query", "set-uri", "set-pathq")
# actions on the rules' flow and the log, with no argument but set-log-level's level
_FLOW_ACTIONS = {"http-request": ("allow", "reject", "set-log-level"),
                 "http-response": ("allow", "set-log-level")}

_HTTP_REQUEST_LATER = (
    "set-nice set-tos set-mark capture "
    "track-sc0 track-sc1 track-sc2 sc-inc-gpc0 sc-set-gpt0 lua cache-use "
    "silent-drop wait-for-handshake set-timeout "
    "set-dst set-src-port set-dst-port do-resolve add-acl del-acl set-map "
    "del-map set-priority-class set-priority-offset send-spoe-group set-bandwidth-limit "
    "disable-l7-retry ot-group set-var-fmt strict-mode"
).split()


_SIZE_MULT = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def _wfb_err(st: State, where: Where, text: str) -> ConfigError:
    return fail(where, f"error detected in {st.px().cap} '{st.px().name}' while parsing "
                       f"'http-request wait-for-body' rule : {text}.")


def _wait_for_body(st: State, args: list[str], where: Where) -> None:
    """`http-request wait-for-body time T [at-least N]` with 2.6's errors; pyhaproxy honours it
    as the frontend's first http-request rule with no condition (it waits before the rules,
    http.pxi http_body_wanted), and refuses it by name elsewhere."""
    px = st.px()
    rest = args[2:]
    if not rest:
        raise _wfb_err(st, where, "expects time <time> [ at-least <bytes> ]")
    t, n, i = -1, 0, 0
    while i < len(rest) and rest[i] in ("time", "at-least"):
        word = rest[i]
        if i + 1 >= len(rest) or not rest[i + 1]:
            raise _wfb_err(st, where, f"missing argument for '{word}'")
        val = rest[i + 1]
        m = re.match(r"[0-9]*", val)
        digits = m[0] if m else ""
        if word == "time":
            tail = val[len(digits):]
            if tail not in ("", "us", "ms", "s", "m", "h", "d") or not digits:
                bad = tail[:1] if digits else val[:1]
                raise _wfb_err(st, where, f"unexpected character '{bad}'")
            ms = int(digits) * {"us": 0.001, "": 1, "ms": 1, "s": 1000, "m": 60000, "h": 3600000,
                                "d": 86400000}[tail]
            if ms > 2147483647:
                raise _wfb_err(st, where, "time overflow (maximum value is 2147483647 ms or ~24.8 days)")
            t = int(ms) if ms == int(ms) else int(ms) + 1
        else:
            tail = val[len(digits):]
            if not digits or len(tail) > 1 or (tail and tail.lower() not in _SIZE_MULT):
                bad = tail[1:2] if tail and tail.lower() in _SIZE_MULT else (tail[:1] if digits else val[:1])
                raise _wfb_err(st, where, f"unexpected character '{bad}'")
            n = int(digits) * _SIZE_MULT.get(tail.lower(), 1)
        i += 2
    if t < 0:
        raise _wfb_err(st, where, "expects time <time> [ at-least <bytes> ]")
    rest = rest[i:]
    if rest and rest[0] not in ("if", "unless"):
        raise fail(where, "'http-request wait-for-body' expects either 'if' or 'unless' followed by a "
                          f"condition but found '{rest[0]}'.")
    if rest:
        raise fail(where, "'http-request wait-for-body' with a condition is not supported by pyhaproxy "
                          "yet.")
    if px.cap == "backend" or px.http_rules or px.wfbtime >= 0:
        raise fail(where, "'http-request wait-for-body' is supported by pyhaproxy only as the first "
                          "http-request rule of a frontend or listen section.")
    px.wfbtime = t
    px.wfbbytes = n


_VAR_ACTION = re.compile(r"^(set-var|set-var-fmt|unset-var)\((.*)\)$")


def _var_rule(st: State, kw: str, args: list[str], where: Where, side: str,
              rules: list[HttpRule] | None = None) -> bool:
    """`set-var(scope.name) EXPR`, `set-var-fmt(scope.name) FMT`, `unset-var(scope.name)`: the
    rule, added to the proxy; False when args[1] is no variable action."""
    m = _VAR_ACTION.match(args[1])
    if not m:
        return False
    action, name = m.group(1), m.group(2)
    name, *conds = (w.strip() for w in name.split(","))
    rest = args[2:]
    k = next((j for j, w in enumerate(rest) if w in ("if", "unless")), len(rest))
    params, cond_words = rest[:k], rest[k:]
    what = f"{kw} {args[1]}"
    cond = parse_condition(st, cond_words, where, what) if cond_words else None
    want = 0 if action == "unset-var" else 1
    if len(params) != want:
        raise fail(where, f"'{what}' expects {'no argument' if not want else 'one expression'}.")
    fmt = None
    try:
        check_var_name(name)
        if conds and action == "unset-var":
            raise SampleError("unset-var takes no condition")
        check_var_conditions(conds)
        if action == "set-var":
            fmt = [Segment(sample=parse_sample(params[0]))]
        elif action == "set-var-fmt":
            fmt = parse_format(params[0])
    except SampleError as exc:
        raise fail(where, f"'{what}' : {exc}.") from None
    _check_sides(st, cond, fmt, side, what, where)
    if rules is None:
        rules = st.px().http_rules if side == "req" else st.px().http_res_rules
    rules.append(HttpRule(action=action, args=[name, *conds], cond=cond, where=copy.copy(where), fmt=fmt))
    return True


def _capture_rule(st: State, kw: str, args: list[str], where: Where, side: str,
                  rules: list[HttpRule] | None = None) -> None:
    """`http-request capture SAMPLE len N` (a new slot of the frontend's request captures) or
    `http-request|http-response capture SAMPLE id N` (slot N, declared before by `capture ...
    header`, `declare capture` or a `len` rule): the sample goes to the log's %hr/%hs, cut at
    the slot's length."""
    px = st.px()
    kind = "request" if side == "req" else "response"
    rest = args[2:]
    k = next((j for j, w in enumerate(rest) if w in ("if", "unless")), len(rest))
    params, cond_words = rest[:k], rest[k:]
    what = f"{kw} capture"
    if px.cap == "backend":
        raise fail(where, f"'{what}' : captures belong to a frontend; not supported in a backend "
                          "by pyhaproxy.")
    if len(params) != 3 or params[1] not in ("len", "id") or (side == "res" and params[1] == "len"):
        raise fail(where, f"'{what}' expects <expression> " + ("'len' <length> or " if side == "req" else "")
                          + "'id' <idx>.")
    try:
        fmt = [Segment(sample=parse_sample(params[0]))]
    except SampleError as exc:
        raise fail(where, f"'{what}' : {exc}.") from None
    slots = [c for c in px.captures if c.kind == kind]
    if params[1] == "len":
        length = parse_int(params[2], f"{what} len", where, lo=1)
        px.captures.append(Capture(kind=kind, name="", length=length))
        slot = len(slots)
    else:
        slot = parse_int(params[2], f"{what} id", where, lo=0)
        if slot >= len(slots):
            raise fail(where, f"'{what}' : unable to find capture id '{slot}' (declare it before).")
    cond = parse_condition(st, cond_words, where, what) if cond_words else None
    _check_sides(st, cond, fmt, side, what, where)
    if rules is None:
        rules = px.http_rules if side == "req" else px.http_res_rules
    rules.append(HttpRule(action="capture", args=[str(slot)], cond=cond, where=copy.copy(where), fmt=fmt))


def p_declare(st: State, args: list[str], where: Where) -> None:
    """`declare capture request|response len N`: a capture slot for `capture ... id N` rules."""
    defaults_forbidden(st, args, where)
    if len(args) != 5 or args[1] != "capture" or args[2] not in ("request", "response") or args[3] != "len":
        raise fail(where, "'declare' expects 'capture' 'request|response' 'len' <length>.")
    if st.px().cap == "backend":
        raise fail(where, "'declare capture' : captures belong to a frontend (not allowed in a backend).")
    st.px().captures.append(Capture(kind=args[2], name="", length=parse_int(args[4], "declare capture len",
                                                                             where, lo=1)))


def p_redirect(st: State, args: list[str], where: Where) -> None:
    """tls: `redirect location|prefix|scheme TO [code N] [drop-query] [if|unless COND]`: an
    http-request redirect run after the proxy's http-request rules, as haproxy runs them (args[4]
    "kw" marks it; pyhaproxy/worker.py orders them)."""
    defaults_forbidden(st, args, where)
    rest = args[1:]
    k = next((j for j, w in enumerate(rest) if w in ("if", "unless")), len(rest))
    params, cond_words = rest[:k], rest[k:]
    cond = parse_condition(st, cond_words, where, "redirect") if cond_words else None
    _check_sides(st, cond, None, "req", "redirect", where)
    st.px().http_rules.append(HttpRule(action="redirect", args=[*_parse_redirect(params, where), "kw"],
                                       cond=cond, where=copy.copy(where)))


SERVICES = ("prometheus-exporter",)


def _service_rule(st: State, args: list[str], where: Where) -> None:
    """`http-request use-service prometheus-exporter [if|unless COND]`: the request is answered by
    the exporter (the master renders it, pyhaproxy/stats/http.py), a final action as in 2.6."""
    rest = args[2:]
    k = next((j for j, w in enumerate(rest) if w in ("if", "unless")), len(rest))
    params, cond_words = rest[:k], rest[k:]
    if not params:
        raise fail(where, f"error detected in {st.px().cap} '{st.px().name}' while parsing "
                          "'http-request use-service' rule : expects a service name.")
    if params[0] not in SERVICES or len(params) > 1:
        raise fail(where, f"error detected in {st.px().cap} '{st.px().name}' while parsing "
                          f"'http-request use-service' rule : '{params[0]}' unknown service name.")
    cond = parse_condition(st, cond_words, where, "http-request use-service") if cond_words else None
    _check_sides(st, cond, None, "req", "http-request use-service", where)
    st.px().http_rules.append(HttpRule(action="use-service", args=params[:1], cond=cond,
                                       where=copy.copy(where)))


def _flow_rule(st: State, args: list[str], where: Where) -> bool:
    """`allow` (the rest of this section's rules of that direction is skipped), `reject`
    (http-request: the connection is closed with no answer) and `set-log-level LEVEL|silent`
    (this transaction's log line at that level, or none). True when args was one of them."""
    kw, action = args[0], args[1]
    if action not in _FLOW_ACTIONS.get(kw, ()):
        return False
    rest = args[2:]
    params: list[str] = []
    if action == "set-log-level":
        if not rest or rest[0] in ("if", "unless"):
            raise fail(where, f"'{kw} set-log-level' expects a level (one of {', '.join(LOG_LEVELS)} "
                              "or silent).")
        if rest[0] not in (*LOG_LEVELS, "silent"):
            raise fail(where, f"'{kw} set-log-level' : unknown level '{rest[0]}'.")
        params, rest = [rest[0]], rest[1:]
    if rest and rest[0] not in ("if", "unless"):
        raise fail(where, f"'{kw} {action}' : unexpected argument '{rest[0]}'.")
    cond = parse_condition(st, rest, where, f"{kw} {action}") if rest else None
    side = "req" if kw == "http-request" else "res"
    _check_sides(st, cond, None, side, f"{kw} {action}", where)
    rules = st.px().http_rules if side == "req" else st.px().http_res_rules
    rules.append(HttpRule(action=action, args=params, cond=cond, where=copy.copy(where)))
    return True


# normalize-uri's normalizers (2.6's names) and the option each takes
NORMALIZERS = {"fragment-encode": None, "fragment-strip": None, "path-merge-slashes": None,
               "path-strip-dot": None, "path-strip-dotdot": "full", "percent-decode-unreserved": "strict",
               "percent-to-uppercase": "strict", "query-sort-by-name": None}


def _normalize_rule(st: State, args: list[str], where: Where) -> None:
    """`http-request normalize-uri NORMALIZER [full|strict] [if|unless COND]` (experimental in
    2.6: only with the global `expose-experimental-directives`); args = [normalizer, option]."""
    px = st.px()
    what = f"error detected in {px.cap} '{px.name}' while parsing 'http-request normalize-uri' rule"
    if not st.config.global_.expose_experimental_directives:
        raise fail(where, "'normalize-uri' action is experimental, must be allowed via a global "
                          "'expose-experimental-directives'")
    rest = args[2:]
    if not rest or rest[0] in ("if", "unless"):
        raise fail(where, f"{what} : missing argument <normalizer>.")
    name, rest = rest[0], rest[1:]
    if name not in NORMALIZERS:
        raise fail(where, f"{what} : unknown normalizer '{name}'.")
    opt = ""
    if rest and rest[0] not in ("if", "unless"):
        if rest[0] != NORMALIZERS[name]:
            raise fail(where, f"{what} : unknown argument '{rest[0]}' for '{name}' normalizer.")
        opt, rest = rest[0], rest[1:]
    cond = parse_condition(st, rest, where, "http-request normalize-uri") if rest else None
    _check_sides(st, cond, None, "req", "http-request normalize-uri", where)
    px.http_rules.append(HttpRule(action="normalize-uri", args=[name, opt], cond=cond,
                                  where=copy.copy(where)))


def p_http_request(st: State, args: list[str], where: Where) -> None:
    defaults_forbidden(st, args, where)
    need(args, 1, where, "'http-request' expects an action.")
    action = args[1]
    if _var_rule(st, "http-request", args, where, "req"):
        return
    if _flow_rule(st, args, where):
        return
    if action == "normalize-uri":
        _normalize_rule(st, args, where)
        return
    if action == "use-service":
        _service_rule(st, args, where)
        return
    if action == "capture":
        _capture_rule(st, "http-request", args, where, "req")
        return
    if action in REWRITES_REQ:
        _rewrite_rule(st, "http-request", args, where, "req")
        return
    if action == "auth":
        rest = args[2:]
        realm = ""
        if rest[:1] == ["realm"]:
            if len(rest) < 2 or rest[1] in ("if", "unless"):
                raise fail(where, "'http-request auth' : missing realm value.")
            realm, rest = rest[1], rest[2:]
        if rest and rest[0] not in ("if", "unless"):
            raise fail(where, f"'http-request auth' : unexpected argument '{rest[0]}'.")
        cond = parse_condition(st, rest, where, "http-request auth") if rest else None
        _check_sides(st, cond, None, "req", "http-request auth", where)
        st.px().http_rules.append(HttpRule(action="auth", args=[realm], cond=cond, where=copy.copy(where)))
        return
    if is_stick_action(action):
        rule = stick_rule(st, "http-request", args[1:], where)
        _check_sides(st, rule.cond, rule.fmt, "req", f"http-request {action}", where)
        st.px().http_rules.append(rule)
        return
    if action == "wait-for-body":
        _wait_for_body(st, args, where)
        return
    if action not in _HTTP_REQUEST_ACTIONS:
        base = action.split("(", 1)[0]
        if base in _HTTP_REQUEST_LATER or base.startswith(("track-sc", "sc-", "lua.")):
            raise fail(where, f"'http-request {action}' is not supported (only allow, deny, reject, "
                              "tarpit, add-header, set-header, del-header, redirect, return, set-path, "
                              "set-pathq, set-query, set-uri, set-log-level, normalize-uri, early-hint, "
                              "set-var, "
                              "set-var-fmt, "
                              "unset-var, track-sc0/1/2, sc-inc-gpc0, sc-inc-gpc1, sc-set-gpt0, "
                              "sc-inc-gpc, sc-set-gpt, "
                              "set-method, set-src, replace-header, replace-value, replace-path, "
                              "replace-pathq, replace-uri and auth are).")
        raise fail(where, f"'http-request' : unknown action '{action}'.")
    rest = args[2:]
    k = next((j for j, w in enumerate(rest) if w in ("if", "unless")), len(rest))
    params, cond_words = rest[:k], rest[k:]
    cond = parse_condition(st, cond_words, where, f"http-request {action}") if cond_words else None
    fmt = None
    if action in ("deny", "tarpit"):
        # (`status` is 2.6's other name of deny_status)
        if params[:1] in (["deny_status"], ["status"]) and len(params) == 2:
            code = parse_int(params[1], params[0], where, lo=200, hi=599)
            if code not in DENY_CODES:
                raise fail(where, f"'http-request {action}' : status {code} is not supported (only "
                                  f"{', '.join(map(str, DENY_CODES))}).")
            params = [str(code)]
        elif params:
            named = params[:1] in (["deny_status"], ["status"])
            extra = params[2] if named and len(params) > 2 else params[0]
            raise fail(where, f"'http-request {action}' : unsupported argument '{extra}' "
                              "(only 'deny_status CODE').")
    elif action == "redirect":
        params = _parse_redirect(params, where)
    elif action == "return":
        params, fmt = _parse_return(params, where)
    elif action in _URI_ACTIONS:
        if len(params) != 1:
            raise fail(where, f"'http-request {action}' expects exactly 1 argument.")
        try:
            fmt = parse_format(params[0])
        except SampleError as exc:
            raise fail(where, f"'http-request {action}' : {exc}.") from None
    else:
        nargs = _HTTP_REQUEST_ACTIONS[action]
        if action == "del-header":
            params = _del_header_params("http-request", params, where)
            nargs = len(params)
        if len(params) != nargs:
            raise fail(where, f"'http-request {action}' expects {nargs} argument(s) "
                              f"({'<name>' if nargs == 1 else '<name> <value>'}).")
        fmt = None
        if "%" in "".join(params[1:]):
            try:
                fmt = parse_format(params[1])
            except SampleError as exc:
                raise fail(where, f"'http-request {action}' : {exc}.") from None
            if any(s.sample is not None and s.sample.http and st.px().mode != "http" for s in fmt):
                raise fail(where, f"'http-request {action}' : an HTTP sample in a {st.px().mode} proxy.")
        if params[1:] in ([], ["str"]) and not re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", params[0]):
            raise fail(where, f"'http-request {action}' : invalid header name '{params[0]}'.")
    _check_sides(st, cond, fmt, "req", f"http-request {action}", where)
    no_fmt = action in ("deny", "tarpit", "redirect", "del-header")
    st.px().http_rules.append(HttpRule(action=action, args=params, cond=cond, where=copy.copy(where),
                                       fmt=None if no_fmt else fmt))


def _parse_return(params: list[str], where: Where) -> tuple[list[str], list[Segment] | None]:
    """`[status N] [content-type T] [string S | lf-string FMT | file F] [hdr NAME VALUE]...` ->
    ([status, content-type, body, name, value, ...], the body's format for lf-string)."""
    status, ctype, body = "200", "", ""
    fmt = None
    hdrs: list[str] = []
    i = 0
    while i < len(params):
        w = params[i]
        if i + 1 >= len(params) and w != "default-errorfiles":
            raise fail(where, f"'http-request return' : '{w}' expects an argument.")
        if w == "status":
            status = str(parse_int(params[i + 1], "status", where, lo=200, hi=599))
        elif w == "content-type":
            ctype = params[i + 1]
        elif w == "string":
            body = params[i + 1]
        elif w == "lf-string":
            try:
                fmt = parse_format(params[i + 1])
            except SampleError as exc:
                raise fail(where, f"'http-request return' : {exc}.") from None
        elif w == "file":
            try:
                with open(params[i + 1], encoding="latin-1") as f:
                    body = f.read(BUFSIZE)
            except OSError as exc:
                raise fail(where, f"'http-request return' : failed to open file '{params[i + 1]}' "
                                  f"({exc.strerror}).") from None
        elif w == "hdr":
            if i + 2 >= len(params):
                raise fail(where, "'http-request return' : 'hdr' expects a name and a value.")
            if "%" in params[i + 2]:
                raise fail(where, "'http-request return' : log-format values in 'hdr' are not supported.")
            hdrs += [params[i + 1], params[i + 2]]
            i += 3
            continue
        else:
            raise fail(where, f"'http-request return' : option '{w}' is not supported "
                              "(status, content-type, string, lf-string, file and hdr are).")
        i += 2
    if (body or fmt) and not ctype:
        raise fail(where, "'http-request return' : a 'content-type' must be set for a payload.")
    return [status, ctype, body, *hdrs], fmt


_HTTP_RESPONSE_ACTIONS = {"add-header": 2, "set-header": 2, "del-header": 1, "deny": 0}


def _check_sides(st: State, cond: Condition | None, fmt: list[Segment] | None, side: str, what: str,
                 where: Where) -> None:
    """Every sample of a rule (its value's %[...], its condition's ACLs) reads this message."""
    samples = [s.sample for s in fmt or [] if s.sample is not None]
    names = {n for g in (cond.groups if cond else []) for _neg, n in g}
    samples += [a.expr for a in st.px().acls if a.name in names and a.expr is not None]
    for smp in samples:
        try:
            smp.check_side(side)
        except SampleError as exc:
            raise fail(where, f"'{what}' : {exc}.") from None


# http-request/http-response rewrites: action -> its parameters before the format
REWRITES_REQ = {"set-method": 0, "set-src": 0, "replace-header": 2, "replace-value": 2,
                "replace-path": 1, "replace-pathq": 1, "replace-uri": 1}
REWRITES_RES = {"set-status": 0, "replace-header": 2, "replace-value": 2}


def _rewrite_rule(st: State, kw: str, args: list[str], where: Where, side: str) -> None:
    """`set-method FMT`, `set-src EXPR`, `replace-header|replace-value NAME REGEX FMT`,
    `replace-path|replace-pathq|replace-uri REGEX FMT`, `set-status CODE [reason TEXT]`; the
    regex is POSIX extended (2.6 is built with PCRE2: the common syntax is the same)."""
    action = args[1]
    rest = args[2:]
    k = next((j for j, w in enumerate(rest) if w in ("if", "unless")), len(rest))
    params, cond_words = rest[:k], rest[k:]
    what = f"{kw} {action}"
    cond = parse_condition(st, cond_words, where, what) if cond_words else None
    fmt = None
    if action == "set-status":
        if not params:
            raise fail(where, f"'{what}' expects a status code.")
        code = parse_int(params[0], "set-status", where, lo=100, hi=999)
        reason = ""
        if params[1:2] == ["reason"] and len(params) == 3:
            reason = params[2]
        elif len(params) > 1:
            raise fail(where, f"'{what}' : unexpected argument '{params[1]}' (only 'reason TEXT').")
        if not reason:
            try:
                reason = http.HTTPStatus(code).phrase
            except ValueError:
                reason = "Other"
        _check_sides(st, cond, None, side, what, where)
        st.px().http_res_rules.append(HttpRule(action=action, args=[str(code), reason], cond=cond,
                                               where=copy.copy(where)))
        return
    nbefore = (REWRITES_REQ if side == "req" else REWRITES_RES)[action]
    if len(params) != nbefore + 1:
        raise fail(where, f"'{what}' expects exactly {nbefore + 1} argument(s).")
    if action.startswith("replace-header") or action == "replace-value":
        if not re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", params[0]):
            raise fail(where, f"'{what}' : invalid header name '{params[0]}'.")
    if nbefore:
        compile_regex(params[nbefore - 1], False, where)
    try:
        if action == "set-src":
            fmt = [Segment(sample=parse_sample(params[0]))]
        else:
            fmt = parse_format(params[-1])
    except SampleError as exc:
        raise fail(where, f"'{what}' : {exc}.") from None
    _check_sides(st, cond, fmt, side, what, where)
    rules = st.px().http_rules if side == "req" else st.px().http_res_rules
    rules.append(HttpRule(action=action, args=params[:-1], cond=cond, where=copy.copy(where), fmt=fmt))


def p_http_response(st: State, args: list[str], where: Where) -> None:
    """`http-response set-header|add-header|del-header|deny [if|unless COND]`."""
    defaults_forbidden(st, args, where)
    kw = args[0]
    need(args, 1, where, f"'{kw}' expects an action.")
    action = args[1]
    if _var_rule(st, kw, args, where, "res"):
        return
    if _flow_rule(st, args, where):
        return
    if action == "capture" and kw == "http-response":
        _capture_rule(st, kw, args, where, "res")
        return
    if action in ("return", "redirect") and kw == "http-response":
        _response_answer(st, action, args, where)
        return
    if action in REWRITES_RES:
        _rewrite_rule(st, kw, args, where, "res")
        return
    if kw == "http-response" and is_stick_action(action):
        # track-scN KEY (the response's headers may be the key), sc-inc-gpc0/1, sc-set-gpt0
        rule = stick_rule(st, kw, args[1:], where)
        _check_sides(st, rule.cond, rule.fmt, "res", f"{kw} {action}", where)
        st.px().http_res_rules.append(rule)
        return
    allowed = (*_HTTP_RESPONSE_ACTIONS, *REWRITES_RES)
    if action not in allowed:
        raise fail(where, f"'{kw} {action}' is not supported (only {', '.join(allowed)} are).")
    rest = args[2:]
    k = next((j for j, w in enumerate(rest) if w in ("if", "unless")), len(rest))
    params, cond_words = rest[:k], rest[k:]
    cond = parse_condition(st, cond_words, where, f"{kw} {action}") if cond_words else None
    fmt = None
    if action == "deny":
        status = "502"
        if params[:1] == ["deny_status"] and len(params) == 2:
            code = parse_int(params[1], "deny_status", where, lo=200, hi=599)
            if code not in DENY_CODES:
                raise fail(where, f"'{kw} deny' : status {code} is not supported (only "
                                  f"{', '.join(map(str, DENY_CODES))}).")
            status = str(code)
        elif params:
            raise fail(where, f"'{kw} deny' : unsupported argument '{params[0]}' (only 'deny_status CODE').")
        params = [status]
    else:
        nargs = _HTTP_RESPONSE_ACTIONS[action]
        if action == "del-header":
            params = _del_header_params(kw, params, where)
            nargs = len(params)
        if len(params) != nargs:
            raise fail(where, f"'{kw} {action}' expects {nargs} argument(s) "
                              f"({'<name>' if nargs == 1 else '<name> <value>'}).")
        if params[1:] in ([], ["str"]) and not re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", params[0]):
            raise fail(where, f"'{kw} {action}' : invalid header name '{params[0]}'.")
        if nargs == 2 and "%" in params[1]:
            try:
                fmt = parse_format(params[1])
            except SampleError as exc:
                raise fail(where, f"'{kw} {action}' : {exc}.") from None
    _check_sides(st, cond, fmt, "res", f"{kw} {action}", where)
    st.px().http_res_rules.append(HttpRule(action=action, args=params, cond=cond, where=copy.copy(where),
                                           fmt=fmt))


# 2.6's http-after-response actions that pyhaproxy has (allow, capture, set-map... are not)
_AFTER_RESPONSE_ACTIONS = ("add-header", "set-header", "del-header", "replace-header", "replace-value",
                           "set-status", "set-var", "set-var-fmt", "unset-var")


def _response_answer(st: State, action: str, args: list[str], where: Where) -> None:
    """`http-response return ...` and `http-response redirect location URL [code N]`: the server's
    answer is replaced by one haproxy makes (logged `LH`, as 2.6). A redirect `prefix` or
    `scheme` would need the request's parts, which the response rules do not keep: refused."""
    rest = args[2:]
    k = next((j for j, w in enumerate(rest) if w in ("if", "unless")), len(rest))
    params, cond_words = rest[:k], rest[k:]
    what = f"http-response {action}"
    cond = parse_condition(st, cond_words, where, what) if cond_words else None
    fmt = None
    if action == "redirect":
        params = _parse_redirect(params, where)
        if params[0] != "location":
            raise fail(where, f"'{what} {params[0]}' is not supported by pyhaproxy (only 'location').")
    else:
        params, fmt = _parse_return(params, where)
    _check_sides(st, cond, fmt, "res", what, where)
    st.px().http_res_rules.append(HttpRule(action=action, args=params, cond=cond, where=copy.copy(where),
                                           fmt=fmt))


def p_http_after_response(st: State, args: list[str], where: Where) -> None:
    """`http-after-response ACTION ... [if|unless COND]` (2.2+): rules on every response sent,
    the server's after `http-response` and haproxy's own (errors, `return`, redirects,
    `deny` pages); read as an http-response rule, then kept apart (ext/httpreq.pxi)."""
    defaults_forbidden(st, args, where)
    need(args, 1, where, "'http-after-response' expects an action.")
    if args[1] not in _AFTER_RESPONSE_ACTIONS:
        raise fail(where, f"'http-after-response {args[1]}' is not supported (only "
                          f"{', '.join(_AFTER_RESPONSE_ACTIONS)} are).")
    px = st.px()
    n = len(px.http_res_rules)
    p_http_response(st, args, where)
    px.http_after_rules.extend(px.http_res_rules[n:])
    del px.http_res_rules[n:]


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
    if "%" in url:
        raise fail(where, "'http-request redirect' : log-format values ('%...') are not supported.")
    return [kind, url, code, drop]


# `del-header NAME -m METH` (2.6): how NAME matches the header names, in the rule's status field
DEL_HEADER_METHODS = ("str", "beg", "end", "sub", "reg")


def _del_header_params(kw: str, params: list[str], where: Where) -> list[str]:
    """`del-header NAME [-m str|beg|end|sub|reg]` -> [NAME] or [NAME, METH]."""
    if len(params) >= 2 and params[1] == "-m":
        if len(params) < 3:
            raise fail(where, f"'{kw} del-header' : -m expects a matching method.")
        if params[2] not in DEL_HEADER_METHODS:
            raise fail(where, f"'{kw} del-header' : -m with unsupported matching method '{params[2]}'.")
        if len(params) > 3:
            raise fail(where, f"'{kw} del-header' expects exactly 1 argument (<name>) and an "
                              "optional '-m <method>'.")
        if params[2] == "reg":
            try:
                re.compile(params[0])
            except re.error as exc:
                raise fail(where, f"'{kw} del-header' : invalid regex '{params[0]}' ({exc}).") from None
        return [params[0], params[2]]
    if len(params) != 1:
        raise fail(where, f"'{kw} del-header' expects exactly 1 argument (<name>) and an optional "
                          "'-m <method>'.")
    return params


_TCP_ACTIONS = ("accept, reject, track-sc0/1/2, sc-inc-gpc0, sc-inc-gpc1, sc-set-gpt0, sc-inc-gpc, "
                "sc-set-gpt, set-var, "
                "set-var-fmt, unset-var, capture")


def p_tcp_request(st: State, args: list[str], where: Where) -> None:
    """`tcp-request connection|session accept|reject|track-scN|sc-inc-gpc0/1|sc-set-gpt0
    [if|unless COND]` (connection rules run at accept, on the socket's addresses; session rules
    once the PROXY header and the TLS handshake are done) and [PROXY-PROTOCOL hook 4/4]
    `tcp-request connection expect-proxy layer4 [if|unless COND]`: the connections the
    condition matches start with a PROXY header, as on an `accept-proxy` bind. `tcp-request
    content` rules run on each HTTP request before it is analysed (in TCP mode once, as the
    session begins, waiting up to `inspect-delay` for the data a payload fetch needs)."""
    kind = args[1] if len(args) > 1 else ""
    if kind == "inspect-delay":
        # TCP mode: the content rules wait up to this long for the data their payload fetches
        # (req.ssl_sni, req.payload...) need (ext/tcpinspect.pxi); HTTP mode has the request
        if len(args) != 3:
            raise fail(where, "'tcp-request inspect-delay' expects a timeout value.")
        st.px().inspectdelay = parse_time(args[2], "tcp-request inspect-delay", where)
        return
    if kind in ("connection", "session", "content") and len(args) > 2 and args[2] != "expect-proxy":
        _tcp_rule(st, kind, args, where)
        return
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
        for acl in px.acls:
            if acl.name in names and acl.expr is not None and acl.expr.http:
                raise fail(where, f"'tcp-request connection' : ACL '{acl.name}' uses '{acl.criterion}', "
                                  "which is not known when the connection is accepted.")
    px.expect_proxy.append(cond)


_TCP_RES_ACTIONS = ("accept", "reject", "close")


def p_tcp_response(st: State, args: list[str], where: Where) -> None:
    """`tcp-response inspect-delay TIME` and `tcp-response content accept|reject|close [if|unless
    COND]` (a backend's, TCP mode): the server's first bytes are held until a rule decides, the
    delay expires or the buffer is full (res.payload, res.len; ext/loop.pxi tcp_rsp_inspect_io)."""
    px = st.px()
    what = px.cap if not st.in_defaults else "defaults"
    if len(args) < 2:
        raise fail(where, f"missing argument for 'tcp-response' in {what} '{px.name}'")
    if args[1] == "inspect-delay":
        if (st.in_defaults and not px.name) or px.cap == "frontend":
            raise fail(where, "tcp-response inspect-delay is only allowed in 'backend' sections or "
                              "'defaults' section with a name")
        if len(args) != 3:
            raise fail(where, f"'tcp-response inspect-delay' expects a positive delay in milliseconds, "
                              f"in {what} '{px.name}'")
        px.rspinspectdelay = parse_time(args[2], "tcp-response inspect-delay", where)
        return
    if args[1] != "content":
        raise fail(where, f"'tcp-response' expects 'inspect-delay' or 'content' in {what} '{px.name}' "
                          f"(got '{args[1]}')")
    if st.in_defaults:
        raise not_supported("'tcp-response content' in a 'defaults' section", IN_26, where)
    action = args[2] if len(args) > 2 else ""
    if action not in _TCP_RES_ACTIONS:
        raise fail(where, f"'tcp-response content {action}' is not supported by pyhaproxy (only "
                          f"{', '.join(_TCP_RES_ACTIONS)} are).")
    rest = args[3:]
    if rest and rest[0] not in ("if", "unless"):
        raise fail(where, f"'tcp-response content {action}' : unexpected argument '{rest[0]}'.")
    cond = parse_condition(st, rest, where, "tcp-response content") if rest else None
    px.tcp_res_rules.append(HttpRule(action=action, args=[], cond=cond, where=copy.copy(where)))


def _tcp_rule(st: State, kind: str, args: list[str], where: Where) -> None:
    px = st.px()
    if st.in_defaults and px.name:
        raise not_supported(f"'tcp-request {kind}' in a named 'defaults' section", IN_26, where)
    if st.in_defaults:
        raise fail(where, f"tcp-request {kind} is not allowed in anonymous 'defaults' sections")
    if px.cap == BACKEND:
        raise fail(where, f"tcp-request {kind} is not allowed because backend {px.name} is not a "
                          "frontend")
    action = args[2]
    if action in ("accept", "reject"):
        rest = args[3:]
        if rest and rest[0] not in ("if", "unless"):
            raise fail(where, f"'tcp-request {kind} {action}' : unexpected argument '{rest[0]}'.")
        cond = parse_condition(st, rest, where, f"tcp-request {kind}") if rest else None
        rule = HttpRule(action=action, args=[], cond=cond, where=copy.copy(where))
    elif is_stick_action(action):
        rule = stick_rule(st, f"tcp-request {kind}", args[2:], where)
    elif _VAR_ACTION.match(action) or action == "capture":
        found: list[HttpRule] = []
        sub_args = [f"tcp-request {kind}", *args[2:]]
        if action == "capture":
            _capture_rule(st, sub_args[0], sub_args, where, "req", found)
        else:
            _var_rule(st, sub_args[0], sub_args, where, "req", found)
        rule = found[0]
    else:
        raise fail(where, f"'tcp-request {kind} {action}' is not supported (only {_TCP_ACTIONS} "
                          "are).")
    names = {n for g in (rule.cond.groups if rule.cond else []) for _neg, n in g}
    samples = [a for a in px.acls if a.name in names and a.expr is not None and a.expr.http]
    if samples or any(s.sample is not None and s.sample.http for s in rule.fmt or []):
        what = f"ACL '{samples[0].name}' uses '{samples[0].criterion}'" if samples else "its key is HTTP"
        raise fail(where, f"'tcp-request {kind}' : {what}, which is not known before the request.")
    {"connection": px.tcp_conn_rules, "session": px.tcp_sess_rules,
     "content": px.tcp_content_rules}[kind].append(rule)

