"""Sample expressions of HAProxy 2.x: `fetch(args),converter(args),...` (configuration.txt 7.3).

Parsed once here into `SampleExpr` (the fetch and converters by name, their arguments checked,
the output type known), which the worker compiles into ext/sample.pxi's sexpr_t. An unknown
fetch or converter, a missing or extra argument, a converter applied to a type it cannot take:
each is refused by name, as 2.6 refuses it, with the caller's [ALERT] location.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field

# name -> (C fetch member, output type, arguments, HTTP only)
# arguments: "" none, "name" a required NAME, "name?" optional NAME, "name,occ" NAME then an
# optional occurrence (both optional for hdr()), "const" the constant of str()/int()/env()
_FETCHES: dict[str, tuple[str, str, str, bool]] = {
    "always_true": ("SF_TRUE", "bool", "", False),
    "wait_end": ("SF_WAIT_END", "bool", "", False),
    "always_false": ("SF_FALSE", "bool", "", False),
    "src": ("SF_SRC", "ip", "", False),
    "src_port": ("SF_SRC_PORT", "int", "", False),
    "dst": ("SF_DST", "ip", "", False),
    "dst_port": ("SF_DST_PORT", "int", "", False),
    "fe_name": ("SF_FE_NAME", "str", "", False),
    "be_name": ("SF_BE_NAME", "str", "", False),
    "nbsrv": ("SF_NBSRV", "int", "name?", False),
    "queue": ("SF_QUEUE", "int", "name?", False),
    "be_conn": ("SF_BE_CONN", "int", "name?", False),
    "connslots": ("SF_CONNSLOTS", "int", "name?", False),
    "srv_is_up": ("SF_SRV_IS_UP", "bool", "name", False),
    "date": ("SF_DATE", "int", "date", False),
    "rand": ("SF_RAND", "int", "int?", False),
    "uuid": ("SF_UUID", "str", "int?", False),
    "srv_name": ("SF_SRV_NAME", "str", "", False),
    "method": ("SF_METHOD", "str", "", True),
    "path": ("SF_PATH", "str", "", True),
    "pathq": ("SF_PATHQ", "str", "", True),
    "url": ("SF_URL", "str", "", True),
    "query": ("SF_QUERY", "str", "", True),
    "base": ("SF_BASE", "str", "", True),
    "req.ver": ("SF_VER", "str", "", True),
    "req.hdr": ("SF_HDR", "str", "name,occ", True),
    "req.fhdr": ("SF_FHDR", "str", "name,occ", True),
    "req.hdr_cnt": ("SF_HDR_CNT", "int", "name?", True),
    "req.fhdr_cnt": ("SF_FHDR_CNT", "int", "name?", True),
    "req.hdr_val": ("SF_HDR_VAL", "int", "name,occ", True),
    "req.cook": ("SF_COOK", "str", "name?", True),
    "req.cook_cnt": ("SF_COOK_CNT", "int", "name?", True),
    "url_param": ("SF_URL_PARAM", "str", "name", True),
    "req.proto_http": ("SF_PROTO_HTTP", "bool", "", True),
    "req.len": ("SF_REQ_LEN", "int", "", False),
    # the request body as far as it is in the buffer (all of it after `option http-buffer-request`)
    "req.body": ("SF_REQ_BODY", "str", "", True),
    "req.body_len": ("SF_REQ_BODY_LEN", "int", "", True),
    "req.body_size": ("SF_REQ_BODY_SIZE", "int", "", True),
    # its first NAME=VALUE named so (no name: the first one), as given (no URL decoding)
    "req.body_param": ("SF_REQ_BODY_PARAM", "str", "name?", True),
    # TCP content inspection (ext/tcpinspect.pxi): what the client sent so far
    "req.payload": ("SF_REQ_PAYLOAD", "str", "int,int", False),
    "req.ssl_sni": ("SF_REQ_SSL_SNI", "str", "", False),
    "req.ssl_hello_type": ("SF_REQ_SSL_HELLO", "int", "", False),
    "req.ssl_ver": ("SF_REQ_SSL_VER", "int", "", False),
    "req.payload_lv": ("SF_REQ_PAYLOAD_LV", "str", "lv", False),
    "res.payload": ("SF_RES_PAYLOAD", "str", "int,int", False),   # tcp-response inspection
    "res.len": ("SF_RES_LEN", "int", "", False),
    "capture.req.hdr": ("SF_CAPTURE_REQ", "str", "slot", False),   # the log's captures
    "capture.res.hdr": ("SF_CAPTURE_RES", "str", "slot", False),
    "req.rdp_cookie": ("SF_REQ_RDP_COOKIE", "str", "name?", False),
    "req.rdp_cookie_cnt": ("SF_REQ_RDP_COOKIE_CNT", "int", "name?", False),
    "ssl_fc": ("SF_SSL_FC", "bool", "", False),            # tls
    "ssl_fc_sni": ("SF_SSL_FC_SNI", "str", "", False),     # tls
    "ssl_fc_protocol": ("SF_SSL_FC_PROTOCOL", "str", "", False),
    "ssl_fc_cipher": ("SF_SSL_FC_CIPHER", "str", "", False),
    "ssl_fc_is_resumed": ("SF_SSL_FC_RESUMED", "bool", "", False),
    "ssl_fc_alpn": ("SF_SSL_FC_ALPN", "str", "", False),
    "ssl_fc_npn": ("SF_SSL_FC_NPN", "str", "", False),
    "ssl_fc_has_sni": ("SF_SSL_FC_HAS_SNI", "bool", "", False),
    "ssl_fc_err": ("SF_SSL_ZERO", "int", "", False),
    "ssl_c_err": ("SF_SSL_C_ERR", "int", "", False),
    "ssl_c_ca_err": ("SF_SSL_C_ERR", "int", "", False),
    "ssl_c_verify": ("SF_SSL_C_ERR", "int", "", False),
    "ssl_c_s_dn": ("SF_SSL_C_S_DN", "str", "name,occ", False),
    "ssl_c_i_dn": ("SF_SSL_C_I_DN", "str", "name,occ", False),
    "ssl_c_serial": ("SF_SSL_C_SERIAL", "str", "", False),
    "ssl_c_sha1": ("SF_SSL_C_SHA1", "str", "", False),
    "ssl_c_version": ("SF_SSL_C_VERSION", "int", "", False),
    "ssl_c_used": ("SF_SSL_C_USED", "bool", "", False),
    "fc_err": ("SF_FC_ERR", "int", "", False),
    "fc_err_str": ("SF_FC_ERR_STR", "str", "", False),
    "ssl_bc": ("SF_SSL_BC", "bool", "", False),
    "status": ("SF_STATUS", "int", "", True),
    "res.hdr": ("SF_HDR", "str", "name,occ", True),
    "res.fhdr": ("SF_FHDR", "str", "name,occ", True),
    "res.hdr_cnt": ("SF_HDR_CNT", "int", "name?", True),
    "res.fhdr_cnt": ("SF_FHDR_CNT", "int", "name?", True),
    "res.hdr_val": ("SF_HDR_VAL", "int", "name,occ", True),
    "res.cook": ("SF_RES_COOK", "str", "name?", True),
    "res.cook_cnt": ("SF_RES_COOK_CNT", "int", "name?", True),
    "str": ("SF_STR", "str", "const", False),
    "int": ("SF_INT", "int", "const", False),
    "env": ("SF_STR", "str", "const", False),
    "var": ("SF_VAR", "str", "var", False),
    "unique-id": ("SF_UNIQUE_ID", "str", "", True),
    "http_auth": ("SF_HTTP_AUTH", "bool", "name", True),
    "http_auth_group": ("SF_HTTP_AUTH_GROUP", "str", "name", True),
}
# The stick-table fetches (2.6's 7.3.3): `sc_NAME(N[,table])`, `scN_NAME([table])`,
# `src_NAME([table])`: NAME -> (data type id, ext/sample.pxi stk_op); the ids are 2.6's
# (ext/stktable.pxi stk_data)
STK_GET, STK_INC, STK_CLR, STK_TRACKED, STK_TRACKERS, STK_KBYTES, STK_TABLE_CNT, STK_TABLE_AVL, \
    STK_IN_TABLE, STK_EXPIRE, STK_IDLE = range(11)
STK_SRC = 3
STK_FETCHES: dict[str, tuple[int, int]] = {
    "get_gpt0": (1, STK_GET), "get_gpc0": (2, STK_GET), "inc_gpc0": (2, STK_INC),
    "clr_gpc0": (2, STK_CLR), "gpc0_rate": (3, STK_GET), "conn_cnt": (4, STK_GET),
    "conn_rate": (5, STK_GET), "conn_cur": (6, STK_GET), "sess_cnt": (7, STK_GET),
    "sess_rate": (8, STK_GET), "http_req_cnt": (9, STK_GET), "http_req_rate": (10, STK_GET),
    "http_err_cnt": (11, STK_GET), "http_err_rate": (12, STK_GET), "kbytes_in": (13, STK_KBYTES),
    "bytes_in_rate": (14, STK_GET), "kbytes_out": (15, STK_KBYTES), "bytes_out_rate": (16, STK_GET),
    "get_gpc1": (17, STK_GET), "inc_gpc1": (17, STK_INC), "clr_gpc1": (17, STK_CLR),
    "gpc1_rate": (18, STK_GET), "http_fail_cnt": (20, STK_GET), "http_fail_rate": (21, STK_GET),
    "tracked": (0, STK_TRACKED), "trackers": (0, STK_TRACKERS),
    # 2.5+'s arrays: `sc_NAME(IDX,N[,table])` and `src_NAME(IDX,table)` only
    "get_gpt": (22, STK_GET), "get_gpc": (23, STK_GET), "inc_gpc": (23, STK_INC),
    "clr_gpc": (23, STK_CLR), "gpc_rate": (24, STK_GET),
}
STK_ARRAYS = {"get_gpt", "get_gpc", "inc_gpc", "clr_gpc", "gpc_rate"}
STK_IDX_MAX = 255       # an index kept past this one is kept as this one (past any array: nothing)
STK_COUNTERS = 3        # sc0..sc2 (2.6's default tune.stick-counters)
_STK_NAME = re.compile(r"^(sc_|sc([0-9])_|src_)([a-z0-9_]+)$")


def stk_fetch(name: str) -> tuple[int | None, str] | None:
    """`sc1_http_req_rate` -> (1, "http_req_rate"); `sc_x` -> (None, "x") (its counter is an
    argument); `src_x` -> (STK_SRC, "x"); None when it is not a stick-table fetch (src_*
    exists only for the data types, not tracked/trackers)."""
    m = _STK_NAME.match(name)
    if not m or m.group(3) not in STK_FETCHES:
        return None
    if m.group(3) in STK_ARRAYS and m.group(2) is not None:
        return None         # no scN_ form
    if m.group(1) == "src_":
        return None if m.group(3) in ("tracked", "trackers") else (STK_SRC, m.group(3))
    if m.group(1) == "sc_":
        return None, m.group(3)
    return int(m.group(2)), m.group(3)


# 2.6's other spellings of the same fetches
_ALIASES = {
    "hdr": "req.hdr", "fhdr": "req.fhdr", "hdr_cnt": "req.hdr_cnt", "fhdr_cnt": "req.fhdr_cnt",
    "hdr_val": "req.hdr_val", "cook": "req.cook", "cook_cnt": "req.cook_cnt", "urlp": "url_param",
    "req_ver": "req.ver", "req_proto_http": "req.proto_http", "req_len": "req.len",
    "rdp_cookie": "req.rdp_cookie", "rdp_cookie_cnt": "req.rdp_cookie_cnt",
    "scook": "res.cook", "scook_cnt": "res.cook_cnt",
    "req_ssl_sni": "req.ssl_sni", "req_ssl_hello_type": "req.ssl_hello_type", "req_ssl_ver": "req.ssl_ver",
}
# name -> (C converter member, input type, output type, arguments); "any" takes every type (cast
# to a string); arguments: "i" integer, "s" string, "r" regex, "f" regsub flags, "m" map file,
# a trailing "?" marks the optional ones
_CONVERTERS: dict[str, tuple[str, str, str, str]] = {
    "lower": ("SC_LOWER", "any", "str", ""),
    "upper": ("SC_UPPER", "any", "str", ""),
    "length": ("SC_LENGTH", "any", "int", ""),
    "bytes": ("SC_BYTES", "any", "str", "i i?"),
    "field": ("SC_FIELD", "any", "str", "i s i?"),
    "word": ("SC_WORD", "any", "str", "i s i?"),
    "regsub": ("SC_REGSUB", "any", "str", "r s f?"),
    "hex": ("SC_HEX", "any", "str", ""),
    "base64": ("SC_BASE64", "any", "str", ""),
    "url_dec": ("SC_URL_DEC", "any", "str", "i?"),
    "url_enc": ("SC_URL_ENC", "any", "str", "s?"),
    "iif": ("SC_IIF", "int", "str", "s s"),
    "json": ("SC_JSON", "any", "str", "s?"),
    "ltrim": ("SC_LTRIM", "any", "str", "s"),
    "rtrim": ("SC_RTRIM", "any", "str", "s"),
    "sdbm": ("SC_SDBM", "any", "int", "i?"),
    "djb2": ("SC_DJB2", "any", "int", "i?"),
    "wt6": ("SC_WT6", "any", "int", "i?"),
    "crc32": ("SC_CRC32", "any", "int", "i?"),
    "add": ("SC_ADD", "int", "int", "i"),
    "sub": ("SC_SUB", "int", "int", "i"),
    "mul": ("SC_MUL", "int", "int", "i"),
    "div": ("SC_DIV", "int", "int", "i"),
    "mod": ("SC_MOD", "int", "int", "i"),
    "and": ("SC_AND", "int", "int", "i"),
    "or": ("SC_OR", "int", "int", "i"),
    "xor": ("SC_XOR", "int", "int", "i"),
    "neg": ("SC_NEG", "int", "int", ""),
    "not": ("SC_NOT", "int", "bool", ""),
    "bool": ("SC_BOOL", "int", "bool", ""),
    "odd": ("SC_ODD", "int", "bool", ""),
    "even": ("SC_EVEN", "int", "bool", ""),
    "ipmask": ("SC_IPMASK", "ip", "ip", "s s?"),
    "in_table": ("SC_TABLE", "any", "bool", "t"),       # stick tables (2.6's table_* converters)
    "b64dec": ("SC_B64DEC", "any", "str", ""),
    "strcmp": ("SC_STRCMP", "any", "int", "v"),
    "secure_memcmp": ("SC_SECURE_MEMCMP", "any", "bool", "v"),
    "concat": ("SC_CONCAT", "any", "str", "s? v? s?"),
    "set-var": ("SC_SET_VAR", "any", "same", "v"),
    "xxh32": ("SC_XXH32", "any", "int", "i?"),
    "xxh64": ("SC_XXH64", "any", "int", "i?"),
    "xxh3": ("SC_XXH3", "any", "int", "i?"),
    "map": ("SC_MAP", "any", "str", "m s?"),
    "map_str": ("SC_MAP", "any", "str", "m s?"),
    "map_beg": ("SC_MAP", "any", "str", "m s?"),
    "map_end": ("SC_MAP", "any", "str", "m s?"),
    "map_sub": ("SC_MAP", "any", "str", "m s?"),
    "map_dir": ("SC_MAP", "any", "str", "m s?"),
    "map_dom": ("SC_MAP", "any", "str", "m s?"),
    "map_reg": ("SC_MAP", "any", "str", "m s?"),
    "map_ip": ("SC_MAP", "any", "str", "m s?"),
}
# table_NAME(T): the stored value of data type NAME for the key (2.6's table_* converters)
_TABLE_CONVS: dict[str, tuple[int, int]] = {
    "table_" + name.removeprefix("get_"): (dt, op) for name, (dt, op) in STK_FETCHES.items()
    if op in (STK_GET, STK_KBYTES)}
_TABLE_CONVS["table_trackers"] = (0, STK_TRACKERS)
_TABLE_CONVS["in_table"] = (0, STK_IN_TABLE)
_TABLE_CONVS["table_server_id"] = (0, STK_GET)     # (no sc_* fetch of its own)
_TABLE_CONVS["table_expire"] = (0, STK_EXPIRE)     # (2.6.12's, added after 2.6.0: `T[,default]`)
_TABLE_CONVS["table_idle"] = (0, STK_IDLE)
TABLE_ARRAY_CONVS = {"table_gpt", "table_gpc", "table_gpc_rate"}    # `IDX,T`
_CONVERTERS.update({name: ("SC_TABLE", "any", "int", "i t" if name in TABLE_ARRAY_CONVS else
                           "t i?" if name in ("table_expire", "table_idle") else "t")
                    for name in _TABLE_CONVS if name != "in_table"})


def table_conv(name: str) -> tuple[int, int]:
    """A table converter's (data type, ext/sample.pxi stk_op)."""
    return _TABLE_CONVS[name]

_MAP_LIMIT = 64 << 20
MATCHES = ("str", "beg", "end", "sub", "reg", "dom", "dir", "len", "found", "int", "ip", "bool")
# the match a fetch gets without -m, by its output type (7.1: "the default matching method")
DEFAULT_MATCH = {"str": "str", "int": "int", "ip": "ip", "bool": "bool"}

# Where a fetch reads (2.6's "extracts information from ..."): the request, the response, or
# the message being analysed (`hdr()` without a prefix); the rest read the session.
_REQUEST_ONLY = {"method", "path", "pathq", "url", "query", "base", "req.ver", "req.hdr", "req.fhdr",
                 "req.hdr_cnt", "req.fhdr_cnt", "req.hdr_val", "req.cook", "req.cook_cnt", "url_param",
                 "req.proto_http", "req.len", "http_auth", "http_auth_group"}
_RESPONSE_ONLY = {"status", "res.hdr", "res.fhdr", "res.hdr_cnt", "res.fhdr_cnt", "res.hdr_val",
                  "res.cook", "res.cook_cnt"}
_BOTH_WAYS = {"hdr", "fhdr", "hdr_cnt", "fhdr_cnt", "hdr_val"}   # the message being analysed

_CALL = re.compile(r"([a-z_][a-z0-9_.-]*)(?:\((.*)\))?$")


class SampleError(ValueError):
    """A sample expression that cannot be used; the message names what is wrong."""


@dataclass
class MapFile:
    """A map file read at start-up: (key, value) lines in file order, and how keys match."""
    path: str
    match: str                          # str beg end sub dir dom reg ip
    entries: list[tuple[str, str]]
    site: tuple[str, int] = ("", 0)     # the configuration line that uses it (`show map`)


# The configuration line being parsed (the parser sets it): load_map() records it, for the
# stats socket's `show map` ("used by map at file F line N").
LOAD_SITE: list[tuple[str, int]] = [("", 0)]


@dataclass
class ConvArg:
    """A converter's arguments, checked: for map*, the file and the default value; for the
    others up to two integers, two strings and regsub's flags."""
    map: MapFile | None = None
    default: str | None = None
    ints: list[int] = field(default_factory=list)
    strs: list[str] = field(default_factory=list)
    icase: bool = False
    glob: bool = False
    table: str | None = None    # in_table / table_*: the stick table's name
    var: str | None = None      # strcmp / concat: the variable read


def load_map(path: str, match: str) -> MapFile:
    """A map file (configuration.txt, `map`): one key and value per line, `#` comments."""
    try:
        with open(path, encoding="latin-1") as f:
            text = f.read(_MAP_LIMIT)
    except OSError as exc:
        raise SampleError(f"unable to load map file '{path}' : {exc.strerror}") from None
    entries = []
    for line in text.splitlines():
        m = re.match(r"[ \t]*(\S+)[ \t]*(.*?)[ \t]*$", line)
        if m is None or m.group(1).startswith("#"):
            continue
        if match == "ip":
            try:
                ipaddress.ip_network(m.group(1), strict=False)
            except ValueError:
                raise SampleError(f"unable to load map file '{path}' : '{m.group(1)}' is not an IP "
                                  "address or network") from None
        entries.append((m.group(1), m.group(2)))
    return MapFile(path=path, match=match, entries=entries, site=LOAD_SITE[0])


@dataclass
class SampleExpr:
    """A fetch with its arguments and its converters, the output type known."""
    fetch: str                      # canonical name (req.hdr, src, ...)
    arg: str | None = None          # NAME, or the constant of str()/int()/env()
    occ: int = 0                    # 0: all (ACL) / the last (one value)
    convs: list[str] = field(default_factory=list)
    conv_args: list[ConvArg] = field(default_factory=list)
    type: str = "str"
    http: bool = False              # needs an HTTP request
    side: str = "any"               # "req" / "res": usable only while analysing that message
    stk: tuple[int, int, int] | None = None  # sc_*/src_*/table_*: (counter, data type, stk op);
    # `arg` then names the table (None: the tracked one, or the proxy's own for src_*/table_*)

    def check_side(self, side: str) -> None:
        """Refuse a fetch of the other message, as 2.6 does (we do not keep the request's
        headers while the response is analysed)."""
        if self.side != "any" and self.side != side:
            where = "HTTP request headers" if self.side == "req" else "HTTP response headers"
            raise SampleError(f"fetch method '{self.fetch}' extracts information from '{where}', "
                              "none of which is available here")

    @property
    def c_fetch(self) -> str:
        return "SF_STK" if self.stk is not None else _FETCHES[self.fetch][0]


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside parentheses and quotes (quotes and backslashes are kept)."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _unquote(arg: str) -> str:
    """A converter argument: one level of quotes removed, `\\x` -> x outside single quotes."""
    arg = arg.strip()
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(arg):
        ch = arg[i]
        if ch == "\\" and quote != "'" and i + 1 < len(arg):
            out.append(arg[i + 1])
            i += 2
            continue
        if quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote = ch
        else:
            out.append(ch)
        i += 1
    return "".join(out)


VAR_SCOPES = {"proc": 0, "sess": 1, "txn": 2, "req": 2, "res": 2}   # ext/sample.pxi VAR_*


def check_var_conditions(conds: list[str]) -> list[str]:
    """set-var's conditions (2.6: `set-var(NAME,ifnotset,...)`), the names of ext/sample.pxi's
    var_cond; SampleError naming an unknown one."""
    from .. import _core

    known = {m[3:].lower() for m in _core.var_cond.__members__}
    for c in conds:
        if c not in known:
            raise SampleError(f"unknown condition '{c}' (expects one of {', '.join(sorted(known))})")
    return conds


def check_var_name(name: str) -> str:
    """`scope.name` of a variable (proc, sess, txn, req, res), as 2.6 checks it."""
    scope, _, rest = name.partition(".")
    if scope not in VAR_SCOPES or not rest or not re.match(r"^[A-Za-z0-9._]+$", rest):
        raise SampleError(f"invalid variable name '{name}'. A variable name must start with its scope "
                          "(proc, sess, txn, req or res), then a dot and letters, digits, '.' or '_'")
    return name


def fetch_name(name: str) -> str | None:
    """The canonical name of a fetch, or None when there is no such fetch."""
    name = _ALIASES.get(name, name)
    if name in ("table_cnt", "table_avl") or stk_fetch(name) is not None:
        return name
    return name if name in _FETCHES else None


def _parse_stk(raw: str, args: list[str], args_text: str | None) -> SampleExpr:
    """sc_NAME(N[,table]), scN_NAME([table]), src_NAME([table]), table_cnt/table_avl([table])."""
    if raw in ("table_cnt", "table_avl"):
        if len(args) > 1:
            raise SampleError(f"fetch method '{raw}' : end of arguments expected at '{args[1]}'")
        op = STK_TABLE_CNT if raw == "table_cnt" else STK_TABLE_AVL
        return SampleExpr(fetch=raw, arg=args[0] if args and args[0] else None, type="int",
                          stk=(0, 0, op))
    found = stk_fetch(raw)
    assert found is not None
    ctr, what = found
    idx = 0
    if what in STK_ARRAYS:
        need = 2 if ctr is None or ctr == STK_SRC else 1
        if len(args) < need or not all(args[:need]):
            got = len([a for a in args[:need] if a])
            kind = "table" if ctr == STK_SRC else "integer"
            raise SampleError(f"fetch method '{raw}' : missing arguments (got {got}/{need}), type '{kind}' "
                              "expected")
        if not re.fullmatch(r"[+-]?[0-9]+", args[0]):
            raise SampleError(f"fetch method '{raw}' : failed to parse '{args[0]}' as type signed "
                              "integer")
        idx = int(args[0])
        idx = idx if 0 <= idx <= STK_IDX_MAX else STK_IDX_MAX
        args = args[1:]
    if ctr is None:
        if not args or not args[0]:
            raise SampleError(f"fetch method '{raw}' : expects a stick counter number as its "
                              "first argument")
        if not args[0].isdigit():
            raise SampleError(f"fetch method '{raw}' : failed to parse '{args[0]}' as type "
                              "signed integer")
        ctr = int(args[0])
        args = args[1:]
    if ctr != STK_SRC and ctr >= STK_COUNTERS:
        raise SampleError(f"fetch method '{raw}' : invalid stick counter {ctr} (only "
                          f"0 to {STK_COUNTERS - 1} are)")
    if len(args) > 1:
        raise SampleError(f"fetch method '{raw}' : end of arguments expected at '{args[1]}'")
    dtype, op = STK_FETCHES[what]
    typ = "bool" if op == STK_TRACKED else "int"
    return SampleExpr(fetch=raw, arg=args[0] if args and args[0] else None, type=typ,
                      stk=(ctr, dtype | idx << 8, op))


def _payload_lv_args(raw: str, args: list[str]) -> str:
    """`req.payload_lv(<offset1>,<length>[,<offset2>])`'s checks (2.6's words): "off1,size,kind,off2"
    with kind 0 (no offset2), 1 (absolute), 2 (relative: a leading sign)."""
    if len(args) not in (2, 3):
        raise SampleError(f"fetch method '{raw}' expects <offset1>,<length>[,<offset2>]")
    try:
        off1, size = int(args[0]), int(args[1])
    except ValueError:
        raise SampleError(f"fetch method '{raw}' expects <offset1>,<length> (integers)") from None
    if off1 < 0:
        raise SampleError(f"fetch method '{raw}' : payload offset1 must be positive")
    if size <= 0:
        raise SampleError(f"fetch method '{raw}' : payload length must be > 0")
    if off1 >= 1 << 20 or size > 4:
        raise SampleError(f"fetch method '{raw}' : offset1 below 1048576 and a length of 1 to 4 "
                          "bytes are supported")
    if len(args) == 2 or not args[2]:
        return f"{off1},{size},0,0"
    try:
        off2 = int(args[2])
    except ValueError:
        raise SampleError(f"fetch method '{raw}' : payload offset2 is not a number") from None
    if off1 + size + off2 < 0:
        raise SampleError(f"fetch method '{raw}' : payload offset2 too negative")
    return f"{off1},{size},{2 if args[2][0] in '+-' else 1},{off2}"


def parse_sample(text: str) -> SampleExpr:
    """`req.hdr(host,1),lower` -> SampleExpr; SampleError names what is wrong."""
    parts = _split_top(text, ",")
    m = _CALL.match(parts[0])
    if not m:
        raise SampleError(f"unknown fetch method '{parts[0]}'")
    raw, args_text = m.group(1), m.group(2)
    name = fetch_name(raw)
    if name is None:
        raise SampleError(f"unknown fetch method '{raw}'")
    # 2.6 strips no space from an argument: str()'s own spaces are part of the string
    args = [a if name == "str" else a.strip() for a in args_text.split(",")] \
        if args_text not in (None, "") else []
    if name not in _FETCHES:
        return _with_converters(_parse_stk(name, args, args_text), parts[1:])
    cfetch, typ, spec, http = _FETCHES[name]
    side = "any" if raw in _BOTH_WAYS else "req" if name in _REQUEST_ONLY else \
        "res" if name in _RESPONSE_ONLY else "any"
    expr = SampleExpr(fetch=name, type=typ, http=http, side=side)
    if spec == "":
        if args:
            raise SampleError(f"fetch method '{raw}' : no argument supported, but got '{args_text}'")
    elif spec == "name":
        if len(args) != 1 or not args[0]:
            raise SampleError(f"fetch method '{raw}' : expects a name as its argument")
        expr.arg = args[0]
    elif spec == "name?":
        if len(args) > 1:
            raise SampleError(f"fetch method '{raw}' : end of arguments expected at '{args[1]}'")
        expr.arg = args[0] if args and args[0] else None
    elif spec == "name,occ":
        if len(args) > 2:
            raise SampleError(f"fetch method '{raw}' : end of arguments expected at '{args[2]}'")
        expr.arg = args[0] if args and args[0] else None
        if len(args) == 2:
            try:
                expr.occ = int(args[1])
            except ValueError:
                raise SampleError(f"fetch method '{raw}' : failed to parse '{args[1]}' as type "
                                  "signed integer") from None
    elif spec == "int,int":
        try:
            if len(args) != 2 or int(args[0]) < 0 or int(args[1]) < 0:
                raise ValueError
        except ValueError:
            raise SampleError(f"fetch method '{raw}' expects <offset>,<length> (integers)") from None
        expr.arg = f"{int(args[0])},{int(args[1])}"
    elif spec == "int?":
        if len(args) > 1 or (args and not re.fullmatch(r"[0-9]+", args[0])):
            raise SampleError(f"fetch method '{raw}' : expects an optional positive integer")
        expr.arg = args[0] if args and args[0] else None
        if raw == "uuid" and expr.arg not in (None, "4"):
            raise SampleError(f"fetch method 'uuid' : Unsupported UUID version: '{expr.arg}'")
    elif spec == "date":
        if len(args) > 2:
            raise SampleError(f"fetch method '{raw}' : end of arguments expected at '{args[2]}'")
        try:
            offset = int(args[0]) if args and args[0] else 0
        except ValueError:
            raise SampleError(f"fetch method '{raw}' : failed to parse '{args[0]}' as type signed "
                              "integer") from None
        unit = args[1] if len(args) > 1 else "s"
        if unit not in ("s", "ms", "us"):
            raise SampleError(f"fetch method '{raw}' : expects 's', 'ms' or 'us', got '{unit}'")
        expr.arg = f"{offset},{unit}"
    elif spec == "slot":
        if len(args) != 1 or not args[0].isdigit():
            raise SampleError(f"fetch method '{raw}' expects a capture slot number as its argument")
        expr.arg = args[0]
    elif spec == "lv":
        expr.arg = _payload_lv_args(raw, args)
    elif spec == "var":
        if len(args) != 1:
            raise SampleError(f"fetch method '{raw}' : expects a variable name as its argument")
        expr.arg = check_var_name(args[0])
    elif spec == "const":
        if len(args) != 1:
            raise SampleError(f"fetch method '{raw}' : expects one argument")
        if raw == "env":
            expr.arg = os.environ.get(args[0], "")
        elif raw == "int":
            try:
                expr.arg = str(int(args[0]))
            except ValueError:
                raise SampleError(f"fetch method 'int' : failed to parse '{args[0]}' as type "
                                  "signed integer") from None
        else:
            expr.arg = args[0]
    return _with_converters(expr, parts[1:])


def _with_converters(expr: SampleExpr, parts: list[str]) -> SampleExpr:
    for conv_text in parts:
        cm = _CALL.match(conv_text.strip())
        cname = cm.group(1) if cm else conv_text
        if cm is None or cname not in _CONVERTERS:
            raise SampleError(f"unknown converter '{cname}'")
        carg = _conv_args(cname, cm.group(2))
        _cc, tin, tout, _spec = _CONVERTERS[cname]
        if tin == "int" and expr.type == "bool":
            pass                          # a boolean is an integer to the arithmetic converters
        elif tin != "any" and tin != expr.type and not (tin == "int" and expr.type == "str"):
            raise SampleError(f"converter '{cname}' cannot be applied to a {expr.type}")
        expr.convs.append(cname)
        expr.conv_args.append(carg)
        expr.type = tout if tout != "same" else expr.type     # (set-var passes the value on)
    return expr


def _conv_args(cname: str, text: str | None) -> ConvArg:
    """Check a converter's arguments against its spec (`i s i?`...)."""
    spec = _CONVERTERS[cname][3].split()
    args = [_unquote(a) for a in _split_top(text, ",")] if text not in (None, "") else []
    if cname == "set-var" and len(args) > 1:
        carg = _conv_args(cname, args[0])
        carg.strs = check_var_conditions(args[1:])
        return carg
    need = len([s for s in spec if not s.endswith("?")])
    if len(args) < need:
        raise SampleError(f"converter '{cname}' : expects {need} argument(s)")
    if len(args) > len(spec):
        raise SampleError(f"converter '{cname}' : end of arguments expected at '{args[len(spec)]}'")
    carg = ConvArg()
    for kind, arg in zip((s.rstrip("?") for s in spec), args, strict=False):
        if kind == "i":
            try:
                carg.ints.append(int(arg))
            except ValueError:
                raise SampleError(f"converter '{cname}' : failed to parse '{arg}' as type signed "
                                  "integer") from None
        elif kind == "v":
            if arg:
                carg.var = check_var_name(arg)
            elif cname in ("strcmp", "secure_memcmp", "set-var"):
                raise SampleError(f"converter '{cname}' : expects a variable name as its argument")
        elif kind == "t":
            if not arg:
                raise SampleError(f"converter '{cname}' : expects a stick-table name as its argument")
            carg.table = arg
        elif kind == "m":
            if not arg:
                raise SampleError(f"converter '{cname}' : expects a map file as its argument")
            carg.map = load_map(arg, cname[4:] or "str")
        elif kind == "r":
            try:
                re.compile(arg)
            except re.error:
                raise SampleError(f"converter '{cname}' : bad regular expression '{arg}'") from None
            carg.strs.append(arg)
        elif kind == "f":
            if set(arg) - set("gi"):
                raise SampleError(f"converter '{cname}' : unknown flags '{arg}' (g and i are)")
            carg.glob, carg.icase = "g" in arg, "i" in arg
        elif cname.startswith("map"):
            carg.default = arg
        else:
            carg.strs.append(arg)
    if cname == "url_enc" and carg.strs and carg.strs[0] not in ("", "query"):
        raise SampleError("converter 'url_enc' : Unexpected encode type. Allowed value is 'query'")
    if cname == "ipmask":
        for k, mask in enumerate(carg.strs):
            try:
                bits = int(mask) if mask.isdigit() else \
                    ipaddress.ip_network(f"0.0.0.0/{mask}" if k == 0 else f"::/{mask}").prefixlen
            except ValueError:
                raise SampleError(f"converter 'ipmask' : bad mask '{mask}'") from None
            carg.ints.append(bits)
    return carg


def c_converter(name: str) -> str:
    return _CONVERTERS[name][0]


@dataclass
class Segment:
    """A piece of a log-format string: literal text, or a sample to insert (`%[...]`)."""
    text: str = ""
    sample: SampleExpr | None = None


def closing_bracket(text: str, i: int) -> int:
    """The index of the `]` that closes the `[` at text[i] (brackets nest), or -1."""
    depth = 0
    for j in range(i, len(text)):
        depth += text[j] == "["
        depth -= text[j] == "]"
        if depth == 0:
            return j
    return -1


def parse_format(text: str) -> list[Segment]:
    """A value with `%[expr]` parts (2.x log-format syntax, sample part) -> segments.

    `%%` is a literal percent. Other log-format variables (`%ci`, `%{+Q}[...]`) are refused by
    name, not sent as they are.
    """
    segs: list[Segment] = []
    lit: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "%":
            lit.append(ch)
            i += 1
            continue
        if text.startswith("%%", i):
            lit.append("%")
            i += 2
            continue
        if text.startswith("%[", i):
            j = closing_bracket(text, i + 1)
            if j < 0:
                raise SampleError(f"missing ']' in '{text}'")
            if lit:
                segs.append(Segment(text="".join(lit)))
                lit = []
            segs.append(Segment(sample=parse_sample(text[i + 2:j])))
            i = j + 1
            continue
        end = i + 1
        while end < len(text) and (text[end].isalnum() or text[end] in "{}+-"):
            end += 1
        raise SampleError(f"log-format variable '{text[i:end]}' is not supported (only %[...] samples are)")
    if lit:
        segs.append(Segment(text="".join(lit)))
    return segs
