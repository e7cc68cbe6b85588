"""Worker start-up: compile the configuration into plain tables, drop privileges, run the C loop."""

from __future__ import annotations

import contextlib
import ctypes
import grp
import http
import ipaddress
import math
import os
import pwd
import resource
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from pyhaproxy import _core
from pyhaproxy.config.acl import network as acl_ip
from pyhaproxy.config.acl import predefined as predefined_acl
from pyhaproxy.config.kw_global import H2_TUNES, h2_tune
from pyhaproxy.config.kw_rules import DEL_HEADER_METHODS
from pyhaproxy.config.kw_stick import table_names
from pyhaproxy.config.lexer import ConfigError
from pyhaproxy.config.logformat import VARIABLES, LogItem
from pyhaproxy.config.model import (
    Acl,
    Condition,
    Config,
    Global,
    HttpRule,
    LogTarget,
    Proxy,
    Server,
    server_ids,
)
from pyhaproxy.config.sample import (
    STK_IDX_MAX,
    STK_SRC,
    TABLE_ARRAY_CONVS,
    VAR_SCOPES,
    ConvArg,
    MapFile,
    SampleExpr,
    Segment,
    c_converter,
    table_conv,
)
from pyhaproxy.config.values import LOG_LEVELS
from pyhaproxy.runtime_maps import read_published
from pyhaproxy.shm import Shm, server_table


def _resolve(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])


def _ip_port(spec: str | None, default_port: int = 0) -> tuple[str, int] | None:
    """'ip', 'ip:port' or '[v6]:port' -> (ip, port)."""
    if not spec:
        return None
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return _resolve(host), int(rest[1:]) if rest.startswith(":") else default_port
    if spec.count(":") == 1:
        host, port = spec.split(":")
        return _resolve(host or "0.0.0.0"), int(port) if port else default_port
    return _resolve(spec), default_port


def weighted_sequence(items: list[tuple[int, int]]) -> list[int]:
    """Smooth weighted round robin over (global index, weight): each appears `weight` times, spread out.

    The order is nginx's smooth weighted round robin (each turn every server gains its weight, the
    highest, first in the list on a tie, is chosen and loses the total). Computed per class of
    equal weight, not per server: within a class the members are chosen in list order, so a turn
    costs the number of distinct weights, not the number of servers (8,000 servers of weight 1
    took 6 s the naive way, 100,000 never finished). Weights are first divided by their GCD,
    which gives the same sequence repeated.
    """
    items = [(gi, w) for gi, w in items if w > 0]
    if not items:
        return []
    g = 0
    for _, w in items:
        g = math.gcd(g, w)
    classes: dict[int, list[int]] = {}  # reduced weight -> positions in `items`, in order
    for pos, (_, w) in enumerate(items):
        classes.setdefault(w // g, []).append(pos)
    weights = list(classes)
    members = [classes[w] for w in weights]
    sizes = [len(m) for m in members]
    chosen = [0] * len(weights)  # selections so far per class
    total = sum(w * n for w, n in zip(weights, sizes, strict=True))
    seq: list[int] = []
    for t in range(1, total + 1):
        best = -1
        best_val = 0
        best_pos = 0
        for j, w in enumerate(weights):
            s = chosen[j]
            val = t * w - total * (s // sizes[j])  # the class's next member (fewest selections)
            pos = members[j][s % sizes[j]]
            if best < 0 or val > best_val or (val == best_val and pos < best_pos):
                best, best_val, best_pos = j, val, pos
        chosen[best] += 1
        seq.append(items[best_pos][0])
    return seq * g


def _monitor_nets(px: Proxy) -> list[tuple[int, bytes, int]]:
    nets = []
    for net, bits in px.monitor_net:
        addr = ipaddress.ip_address(net)
        fam = socket.AF_INET if addr.version == 4 else socket.AF_INET6
        nets.append((int(fam), addr.packed, int(bits)))
    return nets


RULE_ACTIONS = ("add", "del", "rep", "deny", "allow", "pass", "tarpit")
ERRORLOC_STATUS = {"302": "302 Found", "303": "303 See Other"}


def error_pages(px: Proxy) -> dict[int, bytes]:
    """The proxy's custom answers by status: errorfile contents as they are, errorloc redirects.

    An errorloc answer is 2.6's bytes (ext/session.pxi answer_frame() adds the connection header
    when the client goes).
    """
    pages = {code: text.encode("latin-1") for code, text in px.errorfile.items()}
    for code, (kind, url) in px.errorloc.items():
        status = ERRORLOC_STATUS.get(kind, ERRORLOC_STATUS["302"])
        pages[code] = (f"HTTP/1.1 {status}\r\ncache-control: no-cache\r\ncontent-length: 0\r\n"
                       f"location: {url}\r\n\r\n").encode("latin-1")
    return pages


@dataclass
class AclTables:
    """ACLs, conditions and rules of every proxy as ext/acl.pxi and ext/httpreq.pxi copy them.

    exprs: sample expressions (fetch, arg bytes or None, int arg, occurrence, [converter...]);
    acls: (expr index, match, icase, [pattern...]); conds: (unless, target,
    [(neg, or_after, [acl index...])]); switch: (first cond, count, default backend) per proxy;
    hrules: (action, cond, status, drop_query, name, value, fmt first, fmt count); hreq, hres:
    (first, count) per proxy, its http-request and http-response rules; fmts: (expr index or
    -1, literal bytes), the values' segments; lf: log-format items (var, flags, expr, text) and
    lfpx: (first, count) per proxy.
    Patterns: bytes for strings and regexes, (family, packed, bits) for ip, (lo, hi) for int/len.
    """
    exprs: list[tuple[int, bytes | None, int, int, list[tuple[int, int]]]]
    maps: list[tuple[int, list[tuple[bytes, bytes, tuple[int, bytes, int] | None]]]]
    mapuses: list[tuple[int, bytes | None]]
    cargs: list[tuple[list[int], list[bytes], bool | None, bool, int]]
    var_scopes: list[int]
    acls: list[tuple[int, str, int, list[Any]]]
    conds: list[tuple[int, int, list[tuple[int, int, list[int]]], int, int]]
    switch: list[tuple[int, int, int]]
    hrules: list[tuple[str, int, int, int, bytes, bytes, int, int]]
    hreq: list[tuple[int, int]]
    hres: list[tuple[int, int]]
    hafter: list[tuple[int, int]]   # http-after-response rules: (first, count) per proxy
    lf: list[tuple[int, int, int, bytes]]
    lfpx: list[tuple[int, int]]
    uidpx: list[tuple[int, int]]
    elfpx: list[tuple[int, int]]    # error-log-format: (first, count) per proxy
    map_keys: list[tuple[str, str]]     # (file, match) per map index
    map_files: list[MapFile]            # every map* converter's file (runtime_maps.py)
    fmts: list[tuple[int, bytes]]
    expect: list[tuple[int, int]]   # `tcp-request connection expect-proxy`: (first cond, count)
    monitor_fail: list[tuple[int, int]]  # `monitor fail`: (first cond, count)
    use_server: list[tuple[int, int]]    # `use-server`: (first cond, count)
    persist: list[tuple[int, int]]       # `force-persist`/`ignore-persist`: (first cond, count)
    stats_admin: list[tuple[int, int]]   # `stats admin if|unless COND`: (first cond, count)
    tconn: list[tuple[int, int]]    # `tcp-request connection` rules: (first, count) in hrules
    tsess: list[tuple[int, int]]    # `tcp-request session` rules
    tcont: list[tuple[int, int]]    # `tcp-request content` rules
    tres: list[tuple[int, int]]     # `tcp-response content` rules (a TCP backend's)
    userlists: list[list[tuple[bytes, bytes, bool, list[bytes]]]]  # (user, secret, crypted, groups)
    stick: list[tuple[int, int]]    # `stick match|on|store-request` rules
    srv_sni: list[int]              # tls: per global server index, its `sni` expression or -1
    lbexpr: list[int]               # per proxy: its `balance hash EXPR` expression or -1


MapRows = tuple[int, list[tuple[bytes, bytes, tuple[int, bytes, int] | None]]]


def map_rows(match: str, entries: list[tuple[str, str]]) -> MapRows:
    """One map as ext/converters.pxi's maps_build() wants it: the match kind, then (key, value,
    network or None) per entry in order."""
    ip = match == "ip"
    rows = []
    for k, v in entries:
        try:
            net = acl_ip(k) if ip else None
        except ConfigError:
            continue            # 2.6 refuses the file; the parser (or `add map`) checked it already
        rows.append((k.encode("latin-1"), v.encode("latin-1"), net))
    return int(_core.pattern_match["PM_" + match.upper()]), rows


def maps_refresher(keys: list[tuple[str, str]], directory: str) -> Callable[[int], list[MapRows]]:
    """The worker's hook for runtime map updates: generation -> every map rebuilt from what the
    master published (pyhaproxy/runtime_maps.py)."""
    def refresh(gen: int) -> list[MapRows]:
        published = read_published(directory, gen)
        return [map_rows(match, published.get(path, [])) for path, match in keys]
    return refresh


class _Maps:
    """Map files and map* converters as ext/sample.pxi's maps_setup() wants them."""

    def __init__(self) -> None:
        self.maps: list[tuple[int, list[tuple[bytes, bytes, tuple[int, bytes, int] | None]]]] = []
        self.uses: list[tuple[int, bytes | None]] = []
        # every converter's arguments: (ints, strings, regsub icase or None, glob, map use or -1)
        self.cargs: list[tuple[list[int], list[bytes], bool | None, bool, int]] = []
        self.var_names: dict[str, int] = {}     # `scope.name` -> index (ext/sample.pxi's slots)
        self.var_scopes: list[int] = []
        self._index: dict[tuple[str, str], int] = {}
        self.keys: list[tuple[str, str]] = []   # (file, match) of each map, in index order
        self.files: list[MapFile] = []          # every map* converter's file, in compile order
        self.tables: dict[str, int] = {}        # stick table name -> index (ext/stktable.pxi)
        self.proxy = ""                         # the proxy being compiled (src_*'s own table)
        self.userlists: dict[str, int] = {}     # userlist name -> index (ext/sample.pxi)
        self.backends: dict[str, int] = {}      # backend name -> proxy index (nbsrv, queue)
        self.servers: dict[str, int] = {}       # "backend/server" -> global index (srv_is_up)

    def table(self, name: str | None) -> int:
        """A stick table's index, -1 when none (the parser checked the names)."""
        return self.tables.get(name or self.proxy, -1)

    def var(self, name: str) -> int:
        """The index of variable `scope.name` (req and res share txn's storage, as 2.6 ends
        them with the transaction); a name is one variable whatever rule uses it."""
        if name not in self.var_names:
            self.var_names[name] = len(self.var_scopes)
            self.var_scopes.append(VAR_SCOPES[name.partition(".")[0]])
        return self.var_names[name]

    def use(self, arg: ConvArg) -> int:
        assert arg.map is not None
        key = (arg.map.path, arg.map.match)
        self.files.append(arg.map)
        if key not in self._index:
            self._index[key] = len(self.maps)
            self.keys.append(key)
            self.maps.append(map_rows(arg.map.match, arg.map.entries))
        dflt = arg.default.encode("latin-1") if arg.default is not None else None
        self.uses.append((self._index[key], dflt))
        return len(self.uses) - 1


_CERT_ERRORS = ("ssl_c_err", "ssl_c_ca_err", "ssl_c_verify")    # SF_SSL_C_ERR's iarg


def _expr_row(e: SampleExpr, maps: _Maps) -> tuple[int, bytes | None, int, int, list[tuple[int, int]]]:
    """A SampleExpr as ext/sample.pxi's sexpr_t wants it (C enum values by name)."""
    fetch = int(_core.sample_fetch[e.c_fetch])
    iarg = int(e.arg) if e.fetch == "int" and e.arg is not None else 0
    if e.fetch == "var" and e.arg is not None:
        iarg = maps.var(e.arg)
    if e.fetch in ("http_auth", "http_auth_group"):
        iarg = maps.userlists.get(e.arg or "", -1)
    if e.fetch in ("nbsrv", "queue", "be_conn", "connslots"):
        iarg = maps.backends.get(e.arg, -1) if e.arg else -1
    if e.fetch == "srv_is_up" and e.arg is not None:
        iarg = maps.servers.get(e.arg if "/" in e.arg else f"{maps.proxy}/{e.arg}", 0)
    if e.fetch == "rand" and e.arg is not None:
        iarg = int(e.arg)
    if e.fetch == "date" and e.arg is not None:
        offset, unit = e.arg.split(",")
        return fetch, unit.encode() if unit != "s" else None, int(offset), 0, _conv_rows(e, maps)
    if e.fetch in _CERT_ERRORS:
        iarg = _CERT_ERRORS.index(e.fetch)
    if e.fetch in ("req.payload", "res.payload") and e.arg is not None:
        off, length = (int(x) for x in e.arg.split(","))
        iarg = off | length << 32
    if e.fetch == "req.payload_lv" and e.arg is not None:
        off1, size, kind, off2 = (int(x) for x in e.arg.split(","))
        iarg = off1 | size << 20 | kind << 28 | off2 << 32
    if e.fetch in ("capture.req.hdr", "capture.res.hdr") and e.arg is not None:
        iarg = int(e.arg)
    if e.stk is not None:
        ctr, dtype, op = e.stk
        own = e.arg is not None or ctr == STK_SRC or e.fetch.startswith("table_")
        # (dtype: the data type | an array's index << 8, ext/sample.pxi SF_STK)
        iarg = ctr | (dtype & 0xff) << 8 | op << 16 | (dtype >> 8) << 24 \
            | (maps.table(e.arg) + 1 if own else 0) << 32
        return fetch, None, iarg, 0, _conv_rows(e, maps)
    arg = e.arg.encode("latin-1") if e.arg is not None else None
    if e.fetch in ("ssl_c_s_dn", "ssl_c_i_dn"):
        # the entry's occurrence is the fetch's own argument (one value, not a choice among many)
        return fetch, arg, e.occ, 0, _conv_rows(e, maps)
    return fetch, arg, iarg, e.occ, _conv_rows(e, maps)


def var_cond_mask(conds: list[str]) -> int:
    """set-var's condition names (checked by the parser) as ext/sample.pxi's var_cond bits."""
    mask = 0
    for c in conds:
        mask |= int(_core.var_cond[f"VC_{c.upper()}"])
    return mask


def _conv_rows(e: SampleExpr, maps: _Maps) -> list[tuple[int, int]]:
    convs = []
    for c, a in zip(e.convs, e.conv_args, strict=True):
        mapuse = maps.use(a) if a.map is not None else -1
        ints = list(a.ints)
        if a.table is not None:
            dt, op = table_conv(c)
            if c in TABLE_ARRAY_CONVS:      # IDX,T: the index (one past any array when out of range)
                dt |= (a.ints[0] if 0 <= a.ints[0] <= STK_IDX_MAX else STK_IDX_MAX) << 16
                ints = [maps.table(a.table), dt | op << 8]
            else:                           # T[,default] (table_expire/table_idle)
                ints = [maps.table(a.table), dt | op << 8, *a.ints]
        if c in ("strcmp", "concat", "set-var", "secure_memcmp"):
            ints = [maps.var(a.var) if a.var else -1, var_cond_mask(a.strs if c == "set-var" else [])]
        maps.cargs.append((ints, [s.encode("latin-1") for s in a.strs],
                           a.icase if c == "regsub" else None, a.glob, mapuse))
        convs.append((int(_core.sample_conv[c_converter(c)]), len(maps.cargs) - 1))
    return convs


def _return_head(args: list[str]) -> bytes:
    """`http-request return`'s status line and headers, without Content-Length and the blank
    line (ext/httpreq.pxi adds them once the payload is known, content-length first as 2.6)."""
    status, ctype, body, *hdrs = args
    try:
        reason = http.HTTPStatus(int(status)).phrase
    except ValueError:
        # 2.6's http_get_reason() for a code it does not name: its class's word
        reason = {1: "Informational", 2: "Success", 3: "Redirection", 4: "Client Error",
                  5: "Server Error"}.get(int(status) // 100, "Other")
    head = f"HTTP/1.1 {status} {reason}\r\n"
    if ctype:
        head += f"content-type: {ctype}\r\n"
    for name, value in zip(hdrs[::2], hdrs[1::2], strict=True):
        head += f"{name}: {value}\r\n"
    return head.encode("latin-1")


VAR_ACTIONS = ("set-var", "set-var-fmt", "unset-var")
# normalize-uri's normalizers as ext/urinorm.pxi numbers them
NORMALIZER_ENUM = {"fragment-encode": "NU_FRAGMENT_ENCODE", "fragment-strip": "NU_FRAGMENT_STRIP",
                   "path-merge-slashes": "NU_MERGE_SLASHES", "path-strip-dot": "NU_STRIP_DOT",
                   "path-strip-dotdot": "NU_STRIP_DOTDOT", "percent-decode-unreserved": "NU_PERCENT_DECODE",
                   "percent-to-uppercase": "NU_PERCENT_UPPER", "query-sort-by-name": "NU_QUERY_SORT"}
_AUTH_BODY = ("<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access "
              "this content.\n</body></html>\n")


def _auth_answer(realm: str) -> bytes:
    """`http-request auth`'s answer: 2.6's 401 page with its WWW-Authenticate."""
    return (f"HTTP/1.1 401 Unauthorized\r\ncontent-length: {len(_AUTH_BODY)}\r\ncache-control: no-cache\r\n"
            f"content-type: text/html\r\nwww-authenticate: Basic realm=\"{realm}\"\r\n"
            f"\r\n{_AUTH_BODY}").encode("latin-1")
STICK_ACTIONS = ("track-sc", "sc-inc", "sc-set-gpt0")
REWRITES = ("set-method", "set-src", "replace-header", "replace-value", "replace-path", "replace-pathq",
            "replace-uri", "set-status")


def compile_acls(cfg: Config) -> AclTables:
    """ACL lines, conditions and each proxy's use_backend range, for ext/acl.pxi.

    A condition term names an ACL; every line with that name is one acl entry and the term keeps
    the list of them (ORed). Backend names become proxy indexes (the first proxy of that name
    that has servers' side); a `listen` is its own default backend, a frontend without
    default_backend uses itself (no server: 503).
    """
    exprs: list[tuple[int, bytes | None, int, int, list[tuple[int, int]]]] = []
    maps = _Maps()
    maps.tables = {name: i for i, (name, _t) in enumerate(table_names(cfg))}
    maps.backends = {px.name: i for i, px in enumerate(cfg.proxies) if px.cap != "frontend"}
    maps.servers = {f"{cfg.proxies[pi].name}/{sv.name}": gi for gi, pi, sv in server_table(cfg)}
    userlists: list[list[tuple[bytes, bytes, bool, list[bytes]]]] = []
    for ul in cfg.userlists:
        if ul.name in maps.userlists:
            continue            # (a duplicated name: 2.6 keeps the first)
        maps.userlists[ul.name] = len(userlists)
        userlists.append([(u.name.encode("latin-1"), u.secret.encode("latin-1"), u.crypted,
                           [g.encode("latin-1") for g in ul.groups_of(u)]) for u in ul.users])
    expr_index: dict[tuple[Any, ...], int] = {}
    acls: list[tuple[int, str, int, list[Any]]] = []
    fmts: list[tuple[int, bytes]] = []
    conds: list[tuple[int, int, list[tuple[int, int, list[int]]], int, int]] = []
    switch: list[tuple[int, int, int]] = []
    hrules: list[tuple[str, int, int, int, bytes, bytes, int, int]] = []
    hreq: list[tuple[int, int]] = []
    hres: list[tuple[int, int]] = []
    hafter: list[tuple[int, int]] = []
    lf: list[tuple[int, int, int, bytes]] = []
    lfpx: list[tuple[int, int]] = []
    uidpx: list[tuple[int, int]] = []
    elfpx: list[tuple[int, int]] = []

    def add_log_items(items: list[LogItem] | None) -> tuple[int, int]:
        """A log-format (or unique-id-format) as logformat.pxi's ops: (first, count)."""
        first = len(lf)
        for item in items or []:
            if item.sample is not None:
                lf.append((int(_core.log_var.LV_SAMPLE), item.flags, expr_of(item.sample), b""))
            elif item.var:
                lf.append((int(_core.log_var[VARIABLES[item.var]]), item.flags, 0, b""))
            else:
                lf.append((int(_core.log_var.LV_TEXT), 0, 0, item.text.encode("latin-1")))
        return first, len(lf) - first
    expect: list[tuple[int, int]] = []
    monitor_fail: list[tuple[int, int]] = []
    use_server: list[tuple[int, int]] = []
    stats_admin: list[tuple[int, int]] = []
    persist: list[tuple[int, int]] = []
    tconn: list[tuple[int, int]] = []
    tsess: list[tuple[int, int]] = []
    tcont: list[tuple[int, int]] = []
    tres: list[tuple[int, int]] = []
    stick: list[tuple[int, int]] = []
    backends: dict[str, int] = {}
    for pi, px in enumerate(cfg.proxies):
        if px.cap in ("listen", "backend"):
            backends.setdefault(px.name, pi)

    def expr_of(e: SampleExpr) -> int:
        row = _expr_row(e, maps)
        key = (row[0], row[1], row[2], row[3], tuple(row[4]))
        if key not in expr_index:
            expr_index[key] = len(exprs)
            exprs.append(row)
        return expr_index[key]

    def add_acl(acl: Acl) -> int:
        assert acl.expr is not None
        acls.append((expr_of(acl.expr), acl.match, int(acl.icase), acl.values))
        return len(acls) - 1

    predefined: dict[str, int] = {}

    def var_rule(hr: HttpRule, cond: int) -> tuple[str, int, int, int, bytes, bytes, int, int]:
        """set-var: status = the variable, fmt_first = its expression; set-var-fmt: the format."""
        var = maps.var(hr.args[0])
        conds = var_cond_mask(hr.args[1:])          # (in drop_query: ext/httpreq.pxi hrule_t)
        if hr.action == "set-var":
            assert hr.fmt and hr.fmt[0].sample is not None
            return ("set-var", cond, var, conds, b"", b"", expr_of(hr.fmt[0].sample), 0)
        if hr.action == "set-var-fmt":
            first, nfmt = add_fmt(hr.fmt or [])
            return ("set-var-fmt", cond, var, conds, b"", b"", first, nfmt)
        return ("unset-var", cond, var, 0, b"", b"", 0, 0)

    def add_fmt(segs: list[Segment]) -> tuple[int, int]:
        first = len(fmts)
        for seg in segs:
            fmts.append((expr_of(seg.sample), b"") if seg.sample is not None
                        else (-1, seg.text.encode("latin-1")))
        return first, len(fmts) - first

    def add_cond(px: Proxy, local: dict[str, list[int]], cond: Condition | None, target: int,
                 fmt: list[Segment] | None = None) -> None:
        terms: list[tuple[int, int, list[int]]] = []
        if cond is not None:
            for gi, group in enumerate(cond.groups):
                for ti, (neg, name) in enumerate(group):
                    last = ti == len(group) - 1 and gi < len(cond.groups) - 1
                    if name not in local:
                        if name not in predefined:
                            pre = predefined_acl(name)
                            assert pre is not None, name
                            predefined[name] = add_acl(pre)
                        refs = [predefined[name]]
                    else:
                        refs = local[name]
                    terms.append((int(neg), int(last), refs))
        fmt_first, nfmt = add_fmt(fmt) if fmt else (0, 0)
        conds.append((int(cond.unless) if cond is not None else 0, target, terms, fmt_first, nfmt))

    def stick_rule(hr: HttpRule, cond: int) -> tuple[str, int, int, int, bytes, bytes, int, int]:
        """track-sc: status = the counter, drop_query = the table, fmt_first = the key; sc-inc:
        drop_query = the data type (gpc0, gpc1, gpc with its index); sc-set-gpt0 (also gpt(IDX)):
        drop_query = the data type, fmt_first = the value."""
        ctr = int(hr.args[0])
        if hr.action == "track-sc":
            assert hr.fmt and hr.fmt[0].sample is not None
            return ("track-sc", cond, ctr, maps.table(hr.args[1] or None), b"", b"",
                    expr_of(hr.fmt[0].sample), 0)
        if hr.action == "sc-inc":
            return ("sc-inc", cond, ctr, int(hr.args[1]), b"", b"", 0, 0)
        assert hr.fmt and hr.fmt[0].sample is not None
        return ("sc-set-gpt0", cond, ctr, int(hr.args[1]), b"", b"", expr_of(hr.fmt[0].sample), 0)

    def rewrite_rule(hr: HttpRule, cond: int) -> tuple[str, int, int, int, bytes, bytes, int, int]:
        """replace-*: name = the header, value = the regex, the format; set-method: the format;
        set-src: fmt_first = the expression; set-status: status, name = the reason."""
        a = hr.args
        if hr.action == "set-status":
            return ("set-status", cond, int(a[0]), 0, a[1].encode("latin-1"), b"", 0, 0)
        if hr.action == "set-src":
            assert hr.fmt and hr.fmt[0].sample is not None
            return ("set-src", cond, 0, 0, b"", b"", expr_of(hr.fmt[0].sample), 0)
        first, nfmt = add_fmt(hr.fmt or [])
        name = a[0].encode("latin-1") if hr.action in ("replace-header", "replace-value") else b""
        regex = a[-1].encode("latin-1") if a else b""
        return (hr.action, cond, 0, 0, name, regex, first, nfmt)

    def http_rule(hr: HttpRule, cond: int) -> tuple[str, int, int, int, bytes, bytes, int, int]:
        """An http-request, http-response or http-after-response rule whose action both
        directions have (deny, redirect, return, variables, capture, rewrites, header edits)."""
        a = hr.args
        if hr.action == "deny":
            return ("deny", cond, int(a[0]) if a else 403, 0, b"", b"", 0, 0)
        if hr.action == "redirect":
            return (f"redirect-{a[0]}", cond, int(a[2]), int(a[3]), a[1].encode("latin-1"), b"", 0, 0)
        if hr.action == "return":
            first, nfmt = add_fmt(hr.fmt or [])
            return ("return", cond, int(a[0]), 0, _return_head(a), a[2].encode("latin-1"), first, nfmt)
        if hr.action in VAR_ACTIONS:
            return var_rule(hr, cond)
        if hr.action in ("allow", "reject"):
            return (hr.action, cond, 0, 0, b"", b"", 0, 0)
        if hr.action == "set-log-level":
            # the level + 1 (0: unchanged), LOG_SILENT: no log line (ext/logline.pxi)
            level = LOG_LEVELS.index(a[0]) + 1 if a[0] in LOG_LEVELS else int(_core.log_override.LOG_SILENT)
            return ("set-log-level", cond, level, 0, b"", b"", 0, 0)
        if hr.action == "capture":
            assert hr.fmt and hr.fmt[0].sample is not None
            return ("capture", cond, int(a[0]), 0, b"", b"", expr_of(hr.fmt[0].sample), 0)
        if hr.action in REWRITES:
            return rewrite_rule(hr, cond)
        if hr.action == "del-header":
            # how the name matches (`-m`): the rule's status field (ext/httpreq.pxi hr_del_match)
            meth = DEL_HEADER_METHODS.index(a[1]) if len(a) > 1 else 0
            return ("del-header", cond, meth, 0, a[0].encode("latin-1"), b"", 0, 0)
        first, nfmt = add_fmt(hr.fmt or [])
        return (hr.action, cond, 0, 0, a[0].encode("latin-1"), (a[1] if len(a) > 1 else "").encode("latin-1"),
                first, nfmt)

    for pi, px in enumerate(cfg.proxies):
        local: dict[str, list[int]] = {}
        maps.proxy = px.name
        for acl in px.acls:
            local.setdefault(acl.name, []).append(add_acl(acl))
        first = len(conds)
        if px.cap != "backend":
            for rule in px.use_backends:
                if rule.fmt is not None:
                    add_cond(px, local, rule.cond, -1, rule.fmt)
                else:
                    add_cond(px, local, rule.cond, backends[rule.backend])
        default_be = pi
        if px.cap != "backend" and px.default_backend is not None:
            default_be = backends[px.default_backend]
        switch.append((first, len(conds) - first, default_be))
        hfirst = len(hrules)
        # (the `redirect` keyword's rules, args[4] == "kw", run after the http-request rules)
        for hr in sorted(px.http_rules, key=lambda r: r.action == "redirect" and r.args[4:] == ["kw"]) \
                if px.mode == "http" else []:
            cond = -1
            if hr.cond is not None:
                cond = len(conds)
                add_cond(px, local, hr.cond, -1)
            a = hr.args
            if hr.action == "tarpit":
                hrules.append(("tarpit", cond, int(a[0]) if a else 500, 0, b"", b"", 0, 0))
            elif hr.action in STICK_ACTIONS:
                hrules.append(stick_rule(hr, cond))
            elif hr.action == "normalize-uri":
                kind = int(_core.uri_normalizer[NORMALIZER_ENUM[a[0]]])
                hrules.append(("normalize-uri", cond, kind, 1 if a[1] else 0, b"", b"", 0, 0))
            elif hr.action == "auth":
                hrules.append(("auth", cond, 401, 0, _auth_answer(a[0] or px.name), b"", 0, 0))
            elif hr.action in ("set-path", "set-query", "set-uri", "set-pathq"):
                first, nfmt = add_fmt(hr.fmt or [])
                hrules.append((hr.action, cond, 0, 0, b"", b"", first, nfmt))
            else:
                hrules.append(http_rule(hr, cond))
        hreq.append((hfirst, len(hrules) - hfirst))
        for rules, ranges in ((px.http_res_rules, hres), (px.http_after_rules, hafter)):
            hfirst = len(hrules)
            for hr in rules if px.mode == "http" else []:
                cond = -1
                if hr.cond is not None:
                    cond = len(conds)
                    add_cond(px, local, hr.cond, -1)
                hrules.append(stick_rule(hr, cond) if hr.action in STICK_ACTIONS else http_rule(hr, cond))
            ranges.append((hfirst, len(hrules) - hfirst))
        for ruleset, ranges in ((px.tcp_conn_rules, tconn), (px.tcp_sess_rules, tsess),
                                (px.tcp_content_rules, tcont)):
            tfirst = len(hrules)
            for tr in ruleset if px.cap != "backend" else []:
                cond = -1
                if tr.cond is not None:
                    cond = len(conds)
                    add_cond(px, local, tr.cond, -1)
                if tr.action in STICK_ACTIONS:
                    hrules.append(stick_rule(tr, cond))
                elif tr.action in VAR_ACTIONS or tr.action == "capture":
                    hrules.append(http_rule(tr, cond))
                else:
                    hrules.append((tr.action, cond, 0, 0, b"", b"", 0, 0))
            ranges.append((tfirst, len(hrules) - tfirst))
        tfirst = len(hrules)
        for tr in px.tcp_res_rules if px.cap != "frontend" and px.mode != "http" else []:
            cond = -1
            if tr.cond is not None:
                cond = len(conds)
                add_cond(px, local, tr.cond, -1)
            hrules.append((tr.action, cond, 0, 0, b"", b"", 0, 0))
        tres.append((tfirst, len(hrules) - tfirst))
        sfirst = len(hrules)
        for sr in px.stick_rules if px.cap != "frontend" else []:
            cond = -1
            if sr.cond is not None:
                cond = len(conds)
                add_cond(px, local, sr.cond, -1)
            assert sr.fmt and sr.fmt[0].sample is not None
            hrules.append((sr.action, cond, 0, maps.table(sr.args[0] or None), b"", b"",
                           expr_of(sr.fmt[0].sample), 0))
        stick.append((sfirst, len(hrules) - sfirst))
        lfpx.append(add_log_items(px.log_format if px.cap != "backend" else None))
        uid_format = px.unique_id_format if px.cap != "backend" and px.mode == "http" else None
        uidpx.append(add_log_items(uid_format))
        elfpx.append(add_log_items(px.error_log_format if px.cap != "backend" else None))
        xfirst = len(conds)
        for xcond in px.expect_proxy if px.cap != "backend" else []:
            add_cond(px, local, xcond, -1)
        expect.append((xfirst, len(conds) - xfirst))
        # the backend's use-server rules (target: the server's global index, -1 for a name
        # built per request) and force-/ignore-persist rules (target 0 force, 1 ignore)
        ufirst = len(conds)
        for us in px.use_servers if px.cap != "frontend" else []:
            if us.fmt is not None:
                add_cond(px, local, us.cond, -1, us.fmt)
            else:
                add_cond(px, local, us.cond, maps.servers[f"{px.name}/{us.server}"])
        use_server.append((ufirst, len(conds) - ufirst))
        pfirst = len(conds)
        for pkind, pcond in px.persist_rules if px.cap != "frontend" else []:
            add_cond(px, local, pcond, 0 if pkind == "force" else 1)
        persist.append((pfirst, len(conds) - pfirst))
        afirst = len(conds)
        for acond in px.stats.admin if px.stats.enabled and px.mode == "http" else []:
            add_cond(px, local, acond, -1)
        stats_admin.append((afirst, len(conds) - afirst))
        mfirst = len(conds)
        for mcond in px.monitor_fail if px.cap != "backend" and px.mode == "http" else []:
            add_cond(px, local, mcond, -1)
        monitor_fail.append((mfirst, len(conds) - mfirst))
    lbexpr = []
    for px in cfg.proxies:
        maps.proxy = px.name
        lbexpr.append(expr_of(px.balance_expr) if px.balance == "hash" and px.balance_expr else -1)
    srv_sni: list[int] = []
    for _gi, pi, sv in server_table(cfg):     # tls: `server ... ssl sni EXPR`
        maps.proxy = cfg.proxies[pi].name
        t = sv.tls
        srv_sni.append(expr_of(t.sni_expr) if t is not None and t.use_ssl and t.sni_expr else -1)
    return AclTables(exprs=exprs, maps=maps.maps, mapuses=maps.uses, cargs=maps.cargs,
                     var_scopes=maps.var_scopes, acls=acls,
                     conds=conds, switch=switch, hrules=hrules, hreq=hreq, hres=hres, hafter=hafter,
                     lf=lf, lfpx=lfpx, elfpx=elfpx,
                     uidpx=uidpx, fmts=fmts, expect=expect, monitor_fail=monitor_fail, use_server=use_server,
                     persist=persist, stats_admin=stats_admin, map_keys=maps.keys,
                     map_files=maps.files,
                     tconn=tconn, tsess=tsess, tcont=tcont, tres=tres, stick=stick, userlists=userlists,
                     srv_sni=srv_sni, lbexpr=lbexpr)


@dataclass
class ProxyPlan:
    """What the C proxy needs beyond the model's own fields (read by ext/setup.pxi by attribute):
    the configuration words as the C enums, and what is computed from the whole configuration."""
    px: Proxy
    mode: int
    balance: int
    http_reuse: int  # `http-reuse` as _core.http_reuse
    opts: int
    cookie_mode: int
    srv_first: int
    nsrv: int
    rr_act: list[int]
    rr_bck: list[int]
    # the consistent-hash ring's servers (hash-type consistent, balance random):
    # (global index, id, weight, backup) in declaration order
    ch_servers: list[tuple[int, int, int, bool]]
    map_gcd: int  # hash-type map-based: the servers' weights' greatest common divisor (2.6's wmult)
    dispatch: tuple[str, int] | None
    source: tuple[str, int] | None
    monitor_net: list[tuple[int, bytes, int]]
    ff_except: tuple[int, bytes, int] | None
    ot_except: tuple[int, bytes, int] | None
    stats_uri: str
    logs: list[LogTarget]
    log_tag: str  # `log-tag`: the proxy's, else the global one
    # header rules apply in HTTP mode only (the parser warns): (direction, action, icase, regex, text)
    rules: list[tuple[str, str, int, bytes, bytes]]
    errpages: dict[int, bytes]


@dataclass
class ServerPlan:
    """A server as the worker sees it: its model, its proxy's index, its address resolved."""
    sv: Server
    px: int
    host: str
    port: int
    port_mode: int  # 0 fixed port, 1 the client's port (plus sv.port_offset)
    source: tuple[str, int] | None


@dataclass
class WorkerPlan:
    """Everything ext/setup.pxi copies into C structs, in one typed object."""
    proxies: list[ProxyPlan]
    servers: list[ServerPlan]
    acl: AclTables
    maxconn: int
    quiet: bool
    stats_sock: str | None
    promex_sock: str | None = None  # `use-service prometheus-exporter`: the master's service address
    stats_admin_key: str = ""  # `stats admin`: the header value telling the master it may act
    maxconnrate: int = 0  # global `maxconnrate`: accepted connections per second, per process
    maxsessrate: int = 0  # global `maxsessrate`: sessions per second, per process
    maxsslrate: int = 0  # global `maxsslrate`: connections to TLS listeners per second, per process
    maxpipes: int = 0  # global `maxpipes`: pipes in use at once for splice(), per process (0: no limit)
    nosplice: bool = False  # global `nosplice`: no splice() at all
    h1_any_payload: bool = False  # global `h1-accept-payload-with-any-method`
    log_pid: int = 0  # the pid the log lines carry; 0: the worker's own
    log_host: str = ""  # `log-send-hostname`: the host name of the syslog headers
    # tune.h2.max-concurrent-streams, tune.h2.initial-window-size, tune.h2.header-table-size
    h2: tuple[int, int, int] = (100, 65535, 4096)


def _enum_member(enum: Any, prefix: str, word: str) -> int:
    """A configuration word as its C constant: `static-rr` -> balance_algo.BAL_STATIC_RR."""
    return int(enum[prefix + word.upper().replace("-", "_")])


def _option_bits(px: Proxy) -> int:
    """The proxy's options as PO_* bits; an option the C loop does not read has no bit."""
    names = set(px.options)
    if px.redispatch:
        names.add("redispatch")
    if px.httpchk is not None:
        names.add("httpchk")
    if px.log_format is not None:
        # a log-format logs each session (or request) at its end, as option httplog/tcplog do
        names.add("httplog" if px.mode == "http" else "tcplog")
    if "tcpka" in names:
        names.update(("clitcpka", "srvtcpka"))
    bits = 0
    for name in names:
        member = "PO_" + name.upper().replace("-", "_")
        if member in _core.proxy_option.__members__:
            bits |= int(_core.proxy_option[member])
    return bits


def plan_worker(cfg: Config) -> WorkerPlan:
    """The configuration as the worker's C tables need it (ext/setup.pxi reads it)."""
    proxies: list[ProxyPlan] = []
    servers: list[ServerPlan] = []
    table = server_table(cfg)
    by_proxy: dict[int, list[tuple[int, Server]]] = {}
    for gi, pi, sv in table:
        by_proxy.setdefault(pi, []).append((gi, sv))
    for pi, px in enumerate(cfg.proxies):
        mine = by_proxy.get(pi, [])
        ck = px.cookie
        proxies.append(ProxyPlan(
            px=px,
            mode=_enum_member(_core.px_mode, "MODE_", px.mode),
            balance=_enum_member(_core.balance_algo, "BAL_", px.balance),
            http_reuse=_enum_member(_core.http_reuse, "REUSE_", px.http_reuse),
            opts=_option_bits(px),
            cookie_mode=_enum_member(_core.cookie_mode, "CK_", ck.mode) if ck else 0,
            srv_first=mine[0][0] if mine else 0,
            nsrv=len(mine),
            rr_act=weighted_sequence([(gi, sv.weight) for gi, sv in mine if not sv.backup and sv.weight]),
            rr_bck=weighted_sequence([(gi, sv.weight) for gi, sv in mine if sv.backup and sv.weight]),
            map_gcd=math.gcd(*[sv.weight for _, sv in mine if sv.weight]) or 1,
            ch_servers=[(gi, sid, sv.weight, sv.backup)
                        for (gi, sv), sid in zip(mine, server_ids([sv for _, sv in mine]), strict=True)],
            dispatch=(_resolve(px.dispatch[0]), px.dispatch[1]) if px.dispatch else None,
            source=_ip_port(px.source),
            monitor_net=_monitor_nets(px),
            ff_except=acl_ip(f"{px.forwardfor_except[0]}/{px.forwardfor_except[1]}")
            if px.forwardfor_except else None,
            ot_except=acl_ip(f"{px.originalto_except[0]}/{px.originalto_except[1]}")
            if px.originalto_except else None,
            stats_uri=px.stats.uri if px.stats.enabled and px.mode == "http" else "",
            logs=(cfg.global_.logs if px.log_global else []) + px.logs,
            log_tag=px.log_tag if px.log_tag is not None else cfg.global_.log_tag,
            rules=[(r.direction, r.action, int(r.icase), (r.regex or "").encode("latin-1"),
                    (r.replacement or "").encode("latin-1"))
                   for r in px.rules if px.mode == "http" and r.action in RULE_ACTIONS],
            errpages=error_pages(px),
        ))
    for _gi, pi, sv in table:
        if not sv.host:
            # no address (`init-addr none`): kept in maintenance; a connect could only fail
            servers.append(ServerPlan(sv=sv, px=pi, host="0.0.0.0", port=0, port_mode=0, source=None))
            continue
        servers.append(ServerPlan(
            sv=sv, px=pi, host=_resolve(sv.host), port=sv.port or 0,
            port_mode=1 if sv.port is None or sv.port_offset else 0, source=_ip_port(sv.source)))
    return WorkerPlan(proxies=proxies, servers=servers, acl=compile_acls(cfg),
                      maxconn=max(1, cfg.global_.maxconn), quiet=cfg.global_.quiet,
                      maxconnrate=cfg.global_.maxconnrate, maxsessrate=cfg.global_.maxsessrate,
                      maxsslrate=cfg.global_.maxsslrate, maxpipes=cfg.global_.maxpipes,
                      nosplice=cfg.global_.nosplice,
                      h1_any_payload=cfg.global_.h1_accept_payload_with_any_method,
                      stats_sock=cfg.global_.tune.get("__stats_sock"),
                      promex_sock=cfg.global_.tune.get("__promex_sock"),
                      stats_admin_key=cfg.global_.tune.get("__stats_admin_key", ""),
                      log_host=cfg.global_.log_send_hostname or "",
                      h2=tuple(h2_tune(cfg.global_.tune, k) for k in H2_TUNES))  # type: ignore[arg-type]


def tls_contexts(cfg: Config, listeners: list[Any]) -> Any:
    """tls: the master builds every TLS context of a generation (bind and server sides) before
    forking its workers, which inherit them and never read a certificate, key, CA, CRL, DH or
    ticket-key file (issue 20). None without TLS. Raises ValueError (a file changed since the
    configuration was read)."""
    binds = tls_plan(listeners) or []
    servers = [sv.tls if sv.tls is not None and sv.tls.use_ssl else None
               for _gi, _pi, sv in server_table(cfg)]
    if not any(t is not None for t in binds) and not any(t is not None for t in servers):
        return None
    return _core.TlsContexts(binds, servers)


def tls_plan(listeners: list[Any]) -> list[Any] | None:
    """tls: per listener, None or (BindTLS, luid, name): luid numbers a proxy's listeners from 1
    (haproxy's log names a listener `fe/1` unless its bind has a `name`)."""
    out: list[Any] = []
    count: dict[int, int] = {}
    for lst in listeners:
        count[lst.proxy_index] = count.get(lst.proxy_index, 0) + 1
        tls = getattr(lst.bind, "tls", None)
        out.append(None if tls is None else (tls, count[lst.proxy_index], lst.bind.options.get("name", "")))
    return out if any(t is not None for t in out) else None


def _listener_id(cfg: Config, lst: Any) -> tuple[int, str]:
    """(luid, name) of a listener as haproxy 2.6 names it in a refused PROXY header's log
    line: its `bind ... name`, else its `id`, else its rank among its proxy's listeners (one per
    address and port, in configuration order, skipping the ids given explicitly)."""
    px = cfg.proxies[lst.proxy_index]
    name = lst.bind.options.get("name", "")
    if "id" in lst.bind.options:
        return int(lst.bind.options["id"]), name
    used = {int(b.options["id"]) for b in px.binds if "id" in b.options}
    nid = 0
    for b in px.binds:
        if "id" in b.options:
            continue
        for port in range(b.port_lo, b.port_hi + 1):
            nid += 1
            while nid in used:
                nid += 1
            if b is lst.bind and (port == lst.port or b.fd >= 0):
                return nid, name
    return nid or 1, name


_PR_SET_DUMPABLE = 4     # <linux/prctl.h>

def drop_privileges(cfg: Config) -> None:
    """chroot, then group and user, as HAProxy does after binding."""
    g = cfg.global_
    gid = g.gid
    uid = g.uid
    if g.group:
        gid = grp.getgrnam(g.group).gr_gid
    if g.user:
        pw = pwd.getpwnam(g.user)
        uid = pw.pw_uid
    if g.chroot:
        os.chroot(g.chroot)
        os.chdir("/")
    if gid is not None:
        os.setgroups([])
        os.setgid(gid)
    if uid is not None:
        os.setuid(uid)
    process_limits(g)


def process_limits(g: Global) -> None:
    """2.6's last steps before the loop: `set-dumpable` raises the file and core size limits and
    makes the process dumpable again (a user change cleared it); unless `insecure-fork-wanted`,
    a worker may not fork (RLIMIT_NPROC 0: nothing in it has to, and an exploit could not)."""
    if g.set_dumpable:
        for res in (resource.RLIMIT_FSIZE, resource.RLIMIT_CORE):
            try:
                resource.setrlimit(res, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            except (OSError, ValueError):
                what = "file" if res == resource.RLIMIT_FSIZE else "core dump"
                print(f"[WARNING] [haproxy.main()] Failed to set the raise the {what} size.",
                      file=sys.stderr)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0) == -1:
            print("[WARNING] [haproxy.main()] Failed to set the dumpable flag, no core will be dumped.",
                  file=sys.stderr)
    if not g.insecure_fork_wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        except (OSError, ValueError):
            print("[WARNING] Failed to disable forks, please report to developers with detailed "
                  "information about your operating system. You can silence this warning by adding "
                  "'insecure-fork-wanted' in the 'global' section.", file=sys.stderr)


def run(cfg: Config, listeners: list[Any], shm: Shm, worker_idx: int, debug: bool = False,
        ready_fd: int = -1, maps_dir: str = "", contexts: Any = None) -> NoReturn:
    """Body of a forked worker: never returns. One byte on `ready_fd` tells the master that the
    tables are built (the C copy that follows is linear and short). contexts: the
    generation's TLS contexts, built by the master before fork (tls_contexts())."""
    code = 0
    try:
        plan = plan_worker(cfg)
        if maps_dir:
            _core.set_maps_refresh(maps_refresher(plan.acl.map_keys, maps_dir))
        # HAProxy logs the pid of a process it started: with one worker outside master-worker
        # mode that is our master (the pidfile's pid); with nbproc > 1 each 1.x process logged
        # its own (all were in the pidfile), as 2.x workers do
        single = not cfg.global_.master_worker and cfg.global_.nbproc <= 1
        plan.log_pid = os.getppid() if single else 0
        fds = [
            (lst.sock.fileno(), lst.proxy_index, lst.port, max(1, cfg.proxies[lst.proxy_index].maxconn),
             ("accept-proxy" in lst.bind.options) | (2 if lst.bind.options.get("proto") == "h2" else 0),
             *_listener_id(cfg, lst))
            for lst in listeners
        ]

        def privileged_done() -> None:
            # the worker has read its certificates and CA files: chroot, user, group now
            drop_privileges(cfg)
            if ready_fd >= 0:
                with contextlib.suppress(OSError):
                    os.write(ready_fd, b"r")
                    os.close(ready_fd)

        code = _core.run_worker(plan, shm, worker_idx, fds, 1 if debug else 0, tls=tls_plan(listeners),
                                privileged_done=privileged_done, contexts=contexts)
    except BaseException as exc:  # a worker must never unwind into the master's code
        print(f"[ALERT] worker {os.getpid()}: {exc!r}", file=sys.stderr)
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
