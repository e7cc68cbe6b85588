"""Stick tables in proxies (HAProxy 1.5+, 2.6's syntax): the `stick-table` line, the
`track-scN`/`sc-inc-gpc0`/`sc-inc-gpc1`/`sc-set-gpt0` actions and 2.5's `sc-inc-gpc(IDX,N)`/
`sc-set-gpt(IDX,N)` of `http-request`, `http-response` and `tcp-request`, and the post-parse
check that every table a rule or a fetch names exists (2.6's messages). The tables live in
shared memory (ext/stktable.pxi); a table is named after its proxy.
"""

from __future__ import annotations

import copy
import re

from .kw_peers import parse_table, sync_peers_error
from .lexer import ConfigError
from .model import Condition, Config, HttpRule, PeerTable, Proxy, Where
from .sample import STK_COUNTERS, STK_SRC, SampleError, SampleExpr, Segment, parse_sample
from .state import State, defaults_forbidden
from .values import fail, not_supported

KEY_TYPE_IDS = {"ip": 0, "ipv6": 1, "integer": 2, "string": 3, "binary": 4}   # stktable.pxi stk_key_type
KEY_MAX = 1024          # ext/stktable.pxi STK_KEYMAX
# 2.6's data type ids (ext/stktable.pxi stk_data), by store option name
DATA_IDS = {
    "server_id": 0, "gpt0": 1, "gpc0": 2, "gpc0_rate": 3, "conn_cnt": 4, "conn_rate": 5,
    "conn_cur": 6, "sess_cnt": 7, "sess_rate": 8, "http_req_cnt": 9, "http_req_rate": 10,
    "http_err_cnt": 11, "http_err_rate": 12, "bytes_in_cnt": 13, "bytes_in_rate": 14,
    "bytes_out_cnt": 15, "bytes_out_rate": 16, "gpc1": 17, "gpc1_rate": 18, "server_key": 19,
    "http_fail_cnt": 20, "http_fail_rate": 21, "gpt": 22, "gpc": 23, "gpc_rate": 24,
}
IDX_SHIFT = 8           # ext/stktable.pxi STD_IDX_SHIFT: a data type with an array index
DATA_NAMES = {v: k for k, v in DATA_IDS.items()}

_TRACK = re.compile(r"^track-sc([0-9]+)$")
_SC_ACTION = re.compile(r"^(sc-inc-gpc0|sc-inc-gpc1|sc-set-gpt0)\(([0-9]+)\)$")
_SC_ARRAY = re.compile(r"^(sc-inc-gpc|sc-set-gpt)\(")


def p_stick_table(st: State, args: list[str], where: Where) -> None:
    """`stick-table type T [len N] size S [expire E] [nopurge] [peers P] [store ...]`."""
    defaults_forbidden(st, args, where)
    px = st.px()
    if px.stick_table is not None:
        raise fail(where, f"{args[0]}: only one stick-table per proxy (another one at "
                          f"{px.stick_table.where.file}:{px.stick_table.where.line}).")
    peers: list[str] = []
    t = parse_table(args[0], px.name, args[1:], where, peers)
    t.peers = peers[-1] if peers else ""
    if any(name == "server_key" for name, _ in t.data_types):
        raise not_supported("store option 'server_key' (pyhaproxy's stick rules keep server_id)", "2.0",
                            where)
    array = next((name for name, _ in t.data_types if name in t.data_nelem), None)
    if t.peers and array is not None:
        # (pyhaproxy's peers link does not speak the arrays: a table it shares has none)
        raise not_supported(f"store option '{array}' in a stick-table shared with peers", "2.5", where)
    if t.key_len > KEY_MAX:
        raise fail(where, f"{args[0]}: a key of {t.key_len} bytes is longer than pyhaproxy's "
                          f"{KEY_MAX}.")
    px.stick_table = t


def p_stick(st: State, args: list[str], where: Where) -> None:
    """`stick on|match|store-request|store-response KEY [table T] [if|unless COND]` (a backend
    keyword): persistence on a key; `stick on` is a match and a store-request; store-response
    takes its key from the server's response (in TCP mode its first data, which the response
    inspection holds: ext/loop.pxi)."""
    from .kw_rules import parse_condition  # (kw_rules imports this module)
    defaults_forbidden(st, args, where)
    px = st.px()
    kind = args[1] if len(args) > 1 else ""
    kinds = {"store": ["stick-store"], "store-request": ["stick-store"], "match": ["stick-match"],
             "on": ["stick-match", "stick-store"], "store-response": ["stick-store-rsp"]}
    if kind not in kinds:
        raise fail(where, f"'{args[0]}' expects 'on', 'match', 'store-request' or 'store-response'.")
    if len(args) < 3 or not args[2]:
        raise fail(where, f"'{args[0]}' expects a fetch method.")
    try:
        expr = parse_sample(args[2])
    except SampleError as exc:
        raise fail(where, f"'{args[0]}': {exc}") from None
    rest = args[3:]
    table = ""
    if rest[:1] == ["table"]:
        if len(rest) < 2:
            raise fail(where, f"'{args[0]}': missing table name after 'table'.")
        table, rest = rest[1], rest[2:]
    if rest and rest[0] not in ("if", "unless"):
        raise fail(where, f"'{args[0]}': unknown keyword '{rest[0]}'.")
    cond = parse_condition(st, rest, where, args[0]) if rest else None
    if expr.http and px.mode != "http":
        raise fail(where, f"'{args[0]}': fetch method '{expr.fetch}' needs an HTTP request "
                          f"({px.cap} '{px.name}' is in {px.mode} mode).")
    for action in kinds[kind]:
        px.stick_rules.append(HttpRule(action=action, args=[table], cond=cond, where=copy.copy(where),
                                       fmt=[Segment(sample=expr)]))


def is_stick_action(action: str) -> bool:
    return bool(_TRACK.match(action) or _SC_ACTION.match(action) or _SC_ARRAY.match(action))


def _c_ulong(text: str) -> tuple[int, str]:
    """C's strtoul on text: the number read (0 when none) and what follows it."""
    m = re.match(r"[ \t]*([+-]?)([0-9]*)", text)
    assert m is not None
    if not m.group(2):
        return 0, text
    return (-1 if m.group(1) == "-" else 1) * int(m.group(2)), text[m.end():]


def _array_action(st: State, kw: str, action: str, where: Where) -> tuple[int, int]:
    """`sc-inc-gpc(IDX,N)`/`sc-set-gpt(IDX,N)` -> (IDX, N), with 2.6's checks and messages (2.6
    checks N, not IDX: an index past the table's array makes the action do nothing)."""
    base = "sc-inc-gpc" if action.startswith("sc-inc-gpc") else "sc-set-gpt"
    what = "gpc" if base == "sc-inc-gpc" else "gpt"
    usage = f"Expects {base}(<{what.upper()} ID>,<Track ID>)"
    idx, rest = _c_ulong(action[len(base) + 1:])
    if not rest.startswith(","):
        err = f"Missing {what} ID '{action}'. {usage}"
    else:
        ctr, rest = _c_ulong(rest[1:])
        if rest[:1] != ")":
            err = f"invalid stick table track ID '{action}'. {usage}"
        elif ctr >= STK_COUNTERS:
            err = f"invalid stick table track ID '{action}'. The max allowed ID is {STK_COUNTERS - 1}"
        else:
            return idx, ctr
    if kw.startswith("http-"):
        px = st.px()
        raise fail(where, f"error detected in {px.cap} '{px.name}' while parsing '{kw} {action}' rule : "
                          f"{err}.")
    raise fail(where, err)


def stick_rule(st: State, kw: str, args: list[str], where: Where) -> HttpRule:
    """`track-scN KEY [table T]`, `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`, `sc-set-gpt0(N) VALUE`
    (args[0] is the action) followed by `[if|unless COND]`: the rule. `kw` names the ruleset
    in messages (`http-request`, `tcp-request connection`)."""
    from .kw_rules import parse_condition  # (kw_rules imports this module)
    action = args[0]
    rest = args[1:]
    k = next((j for j, w in enumerate(rest) if w in ("if", "unless")), len(rest))
    params, cond_words = rest[:k], rest[k:]
    what = f"{kw} {action}"
    cond = parse_condition(st, cond_words, where, what) if cond_words else None
    m = _TRACK.match(action)
    if m:
        ctr = int(m.group(1))
        if ctr >= STK_COUNTERS:
            raise fail(where, f"'{kw}' : invalid stick counter '{action}' (only track-sc0 to "
                              f"track-sc{STK_COUNTERS - 1} are, 2.6's default tune.stick-counters).")
        if not params:
            raise fail(where, f"'{what}' : missing fetch method.")
        try:
            expr = parse_sample(params[0])
        except SampleError as exc:
            raise fail(where, f"'{what}' : {exc}.") from None
        table = ""
        extra = params[1:]
        if extra[:1] == ["table"]:
            if len(extra) < 2:
                raise fail(where, f"'{what}' : missing table name after 'table'.")
            table, extra = extra[1], extra[2:]
        if extra:
            raise fail(where, f"'{what}' : unexpected argument '{extra[0]}'.")
        return HttpRule(action="track-sc", args=[str(ctr), table], cond=cond, where=copy.copy(where),
                        fmt=[Segment(sample=expr)])
    if _SC_ARRAY.match(action):
        idx, ctr = _array_action(st, kw, action, where)
        # an index past 255 is past any array (2.6's at most 100): it finds nothing, as in 2.6
        idx = idx if 0 <= idx < 256 else 255
        if action.startswith("sc-inc-gpc"):
            if params:
                raise fail(where, f"'{what}' : unexpected argument '{params[0]}'.")
            dtype = DATA_IDS["gpc"] | idx << IDX_SHIFT
            return HttpRule(action="sc-inc", args=[str(ctr), str(dtype)], cond=cond, where=copy.copy(where))
        return _set_gpt(what, params, ctr, DATA_IDS["gpt"] | idx << IDX_SHIFT, cond, where)
    m = _SC_ACTION.match(action)
    assert m is not None
    name, ctr = m.group(1), int(m.group(2))
    if ctr >= STK_COUNTERS:
        raise fail(where, f"'{kw} {name}' : invalid stick counter {ctr} (only 0 to "
                          f"{STK_COUNTERS - 1} are).")
    if name == "sc-set-gpt0":
        return _set_gpt(what, params, ctr, DATA_IDS["gpt0"], cond, where)
    if params:
        raise fail(where, f"'{what}' : unexpected argument '{params[0]}'.")
    dtype = DATA_IDS["gpc0"] if name == "sc-inc-gpc0" else DATA_IDS["gpc1"]
    return HttpRule(action="sc-inc", args=[str(ctr), str(dtype)], cond=cond, where=copy.copy(where))


def _set_gpt(what: str, params: list[str], ctr: int, dtype: int, cond: Condition | None,
             where: Where) -> HttpRule:
    """sc-set-gpt0(N)/sc-set-gpt(IDX,N) VALUE: args = [counter, the data type (with its index)]."""
    if len(params) != 1:
        raise fail(where, f"'{what}' expects an integer or an expression.")
    text = params[0]
    try:
        expr = parse_sample(f"int({text})" if re.fullmatch(r"-?[0-9]+", text) else text)
    except SampleError as exc:
        raise fail(where, f"'{what}' : {exc}.") from None
    return HttpRule(action="sc-set-gpt0", args=[str(ctr), str(dtype)], cond=cond,
                    where=copy.copy(where), fmt=[Segment(sample=expr)])


def table_names(cfg: Config) -> list[tuple[str, PeerTable]]:
    """Every stick table in index order (ext/stktable.pxi's g_st): the proxies' (named by their
    proxy), then the `table` lines of the peers sections (named SECTION/NAME, as 2.6 names them
    in `track-sc0 src table SECTION/NAME`)."""
    out = [(px.name, px.stick_table) for px in cfg.proxies if px.stick_table is not None]
    out += [(f"{sec.name}/{t.name}", t) for sec in cfg.peers for t in sec.tables]
    return out


def _samples(px: Proxy) -> list[tuple[SampleExpr, Where, str]]:
    """Every sample of a proxy with where it was written and 2.6's name for its context."""
    out: list[tuple[SampleExpr, Where, str]] = []
    for acl in px.acls:
        if acl.expr is not None:
            out.append((acl.expr, acl.where, "ACL keyword"))
    for rule in [*px.http_rules, *px.http_res_rules, *px.tcp_conn_rules, *px.tcp_sess_rules,
                 *px.tcp_content_rules, *px.stick_rules]:
        for seg in rule.fmt or []:
            if seg.sample is not None:
                out.append((seg.sample, rule.where, "sample fetch keyword"))
    for ub in px.use_backends:
        for seg in ub.fmt or []:
            if seg.sample is not None:
                out.append((seg.sample, ub.where, "sample fetch keyword"))
    for item in [*(px.log_format or []), *(px.unique_id_format or []), *(px.error_log_format or [])]:
        if item.sample is not None:
            out.append((item.sample, px.where, "sample fetch keyword"))
    return out


def check_stick_refs(cfg: Config) -> None:
    """2.6's post-parse errors: a table named by a track-sc rule or a fetch must exist (src_*
    and table_* default to the proxy's own table; sc_* to the tracked one)."""
    tables = {name: t for name, t in table_names(cfg)}
    for name, t in tables.items():
        if t.peers:
            err = sync_peers_error(cfg.peers, cfg.localpeer, name, t.peers)
            if err is not None:
                raise ConfigError(t.where.file, t.where.line, err)
    for px in cfg.proxies:
        for rule in px.stick_rules:
            name = rule.args[0] or px.name
            target = tables.get(name)
            if target is None:
                w = rule.where
                raise ConfigError(w.file, w.line, f"Proxy '{px.name}': unable to find stick-table '{name}'.")
            if not any(n == "server_id" for n, _p in target.data_types):
                target.data_types.append(("server_id", 0))   # as 2.6, for the stick rules
        for rule in [*px.http_rules, *px.http_res_rules, *px.tcp_conn_rules, *px.tcp_sess_rules,
                     *px.tcp_content_rules]:
            if rule.action == "track-sc":
                name = rule.args[1] or px.name
                if name not in tables:
                    w = rule.where
                    raise ConfigError(w.file, w.line, f"{px.cap} '{px.name}': unable to find table "
                                                      f"'{name}' referenced by track-sc{rule.args[0]}.")
        for expr, w, ctx in _samples(px):
            for cname, carg in zip(expr.convs, expr.conv_args, strict=True):
                if carg.table is not None and carg.table not in tables:
                    raise ConfigError(w.file, w.line, f"unable to find table '{carg.table}' referenced in "
                                                      f"arg 1 of converter '{cname}' in proxy '{px.name}'.")
            if expr.fetch == "srv_is_up" and expr.arg is not None:
                be, _, sv = expr.arg.rpartition("/")
                be = be or px.name
                if not any(p.name == be and p.cap != "frontend" and any(s.name == sv for s in p.servers)
                           for p in cfg.proxies):
                    raise ConfigError(w.file, w.line, f"unable to find server '{sv}' in backend '{be}' "
                                                      f"referenced in arg 1 of sample fetch keyword "
                                                      f"'srv_is_up' in proxy '{px.name}'.")
            if expr.fetch in ("nbsrv", "queue", "be_conn", "connslots") and expr.arg is not None and not any(
                    p.name == expr.arg and p.cap != "frontend" for p in cfg.proxies):
                raise ConfigError(w.file, w.line, f"unable to find backend '{expr.arg}' referenced in "
                                                  f"arg 1 of sample fetch keyword '{expr.fetch}' in "
                                                  f"proxy '{px.name}'.")
            if expr.fetch in ("http_auth", "http_auth_group"):
                if not any(ul.name == expr.arg for ul in cfg.userlists):
                    raise ConfigError(w.file, w.line, f"unable to find userlist '{expr.arg}' referenced in "
                                                      f"arg 1 of {ctx} '{expr.fetch}' in proxy '{px.name}'.")
                continue
            if expr.stk is None:
                continue
            ctr = expr.stk[0]
            if expr.arg is None and ctr != STK_SRC and not expr.fetch.startswith("table_"):
                continue
            name = expr.arg or px.name
            if name not in tables:
                pos = 2 if expr.fetch.startswith("sc_") else 1
                raise ConfigError(w.file, w.line, f"unable to find table '{name}' referenced in arg "
                                                  f"{pos} of {ctx} '{expr.fetch}' in proxy '{px.name}'.")
