"""ACL lines of HAProxy 2.x: `acl NAME FETCH[,CONV...] [FLAGS] [OPERATOR] [VALUES...]` (7.1).

Parsed once into the model's `Acl`: the sample expression (sample.py), the match method, and the
patterns in the form the worker copies into C (bytes, networks, integer ranges). Also the
predefined ACLs of 2.6 (7.4) and the derived ACL keywords (`path_beg`, `hdr_dom(host)`...).
"""

from __future__ import annotations

import copy
import ipaddress
import re
import warnings
from collections.abc import Callable
from typing import Any

from .lexer import ConfigError
from .model import Acl, Where
from .sample import MATCHES, SampleError, SampleExpr, fetch_name, parse_sample

# derived keywords: FETCH_SUFFIX = FETCH with that match ("hdr_beg(host)" = "hdr(host) -m beg")
_SUFFIXES = ("beg", "end", "sub", "reg", "dom", "dir", "len", "ip", "cnt", "val")
# 7.4: the predefined ACLs, as the words of an `acl` line
PREDEFINED: dict[str, list[str]] = {
    "FALSE": ["always_false"],
    "TRUE": ["always_true"],
    "HTTP": ["req.proto_http"],
    "HTTP_1.0": ["req.ver", "1.0"],
    "HTTP_1.1": ["req.ver", "1.1"],
    "HTTP_2.0": ["req.ver", "2.0"],
    "HTTP_CONTENT": ["req.hdr_val(content-length)", "gt", "0"],
    "HTTP_URL_ABS": ["url_reg", "^[^/:]*://"],
    "HTTP_URL_SLASH": ["url_beg", "/"],
    "HTTP_URL_STAR": ["url", "*"],
    "LOCALHOST": ["src", "127.0.0.1/8", "::1"],
    "METH_CONNECT": ["method", "CONNECT"],
    "METH_DELETE": ["method", "DELETE"],
    "METH_GET": ["method", "GET", "HEAD"],
    "METH_HEAD": ["method", "HEAD"],
    "METH_OPTIONS": ["method", "OPTIONS"],
    "METH_POST": ["method", "POST"],
    "METH_PUT": ["method", "PUT"],
    "METH_TRACE": ["method", "TRACE"],
    "REQ_CONTENT": ["req.len", "gt", "0"],
    "RDP_COOKIE": ["req.rdp_cookie_cnt", "gt", "0"],
    "WAIT_END": ["wait_end"],
}
_INT_OPS = {"eq", "ge", "gt", "le", "lt"}
_INT_MAX = (1 << 63) - 1


def _fail(where: Where, message: str) -> ConfigError:
    return ConfigError(where.file, where.line, message)


def _criterion(name_of_acl: str, text: str, where: Where) -> tuple[SampleExpr, str | None]:
    """The sample of an ACL and the match its keyword implies (hdr_beg -> beg), if any."""
    head = text.split(",", 1)[0]
    name = head.split("(", 1)[0]
    derived = None
    if fetch_name(name) is None and "_" in name:
        base, _, suffix = name.rpartition("_")
        if suffix in _SUFFIXES and fetch_name(base) is not None:
            if suffix in ("cnt", "val"):
                text = base + "_" + suffix + text[len(name):]   # hdr_cnt is a fetch of its own
            else:
                derived = suffix
                text = base + text[len(name):]
    try:
        return parse_sample(text), derived
    except SampleError as exc:
        what = str(exc)
        if what.startswith("unknown fetch method"):
            what += f" in ACL expression '{text}'"
        else:
            what = f"ACL keyword '{name}' : {what}"
        raise _fail(where, f"error detected while parsing ACL '{name_of_acl}' : {what}.") from None


def _network(pat: str, where: Where) -> tuple[int, bytes, int]:
    try:
        net = ipaddress.ip_network(pat, strict=False)
    except ValueError:
        raise _fail(where, f"'acl' : '{pat}' is not a valid IPv4 or IPv6 address[/mask].") from None
    return (2 if net.version == 4 else 10), net.network_address.packed, net.prefixlen


def network(pat: str) -> tuple[int, bytes, int]:
    """`addr[/bits]` -> (family, packed network, prefix length) (addresses already checked)."""
    return _network(pat, Where())


def _int_patterns(pats: list[str], where: Where) -> list[tuple[int, int]]:
    """7.1.2: `N`, `LO:HI`, `:HI`, `LO:`, and `eq|ge|gt|le|lt N` (an operator applies to the
    value after it)."""
    out: list[tuple[int, int]] = []
    op = None
    for pat in pats:
        if pat in _INT_OPS:
            op = pat
            continue
        try:
            if op is not None:
                n = int(pat)
                out.append({"eq": (n, n), "ge": (n, _INT_MAX), "gt": (n + 1, _INT_MAX),
                            "le": (-_INT_MAX, n), "lt": (-_INT_MAX, n - 1)}[op])
                op = None
                continue
            lo_t, colon, hi_t = pat.partition(":")
            lo = int(lo_t) if lo_t else -_INT_MAX
            hi = (int(hi_t) if hi_t else _INT_MAX) if colon else lo
        except ValueError:
            raise _fail(where, f"'acl' : '{pat}' is not an integer or a range LO:HI.") from None
        if hi < lo:
            raise _fail(where, f"'acl' : '{pat}' is an empty range.")
        out.append((lo, hi))
    return out


def _check_regex(pattern: str, icase: bool, where: Where) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern, re.IGNORECASE if icase else 0)
    except (re.error, OverflowError, RecursionError, ValueError):
        raise _fail(where, f"bad regular expression '{pattern}'.") from None


def _pattern_file(path: str, where: Where) -> list[str]:
    """`-f FILE`: one pattern per line, blank lines and `#` comments skipped, read at start-up."""
    try:
        with open(path, encoding="latin-1") as f:
            lines = f.read(64 << 20).splitlines()
    except OSError:
        raise _fail(where, f"error detected while parsing ACL : failed to open pattern file <{path}>.") \
            from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def parse_acl(name: str, words: list[str], where: Where,
              warn: Callable[[Where, str], None] | None = None) -> Acl:
    """`FETCH[,CONV...] [-i] [-m MATCH] [-f FILE] [-n] [--] VALUES...` -> Acl, patterns parsed."""
    if not words:
        raise _fail(where, f"'acl {name}' expects a criterion.")
    expr, match = _criterion(name, words[0], where)
    icase = False
    pats: list[str] = []
    i = 1
    while i < len(words) and words[i].startswith("-") and not re.match(r"^-\d", words[i]):
        flag = words[i]
        if flag == "--":
            i += 1
            break
        if flag == "-i":
            icase = True
        elif flag == "-n":
            pass                      # no DNS resolution of patterns: we never resolve them
        elif flag in ("-m", "-f"):
            if i + 1 >= len(words):
                raise _fail(where, f"'acl' : '{flag}' expects an argument.")
            if flag == "-m":
                match = words[i + 1]
                if match not in MATCHES:
                    raise _fail(where, f"error detected while parsing ACL '{name}' : unknown matching "
                                       f"method '{match}' for ACL.")
            else:
                pats.extend(_pattern_file(words[i + 1], where))
            i += 1
        else:
            raise _fail(where, f"error detected while parsing ACL '{name}' : '{flag}' is not supported.")
        i += 1
    pats.extend(words[i:])
    if match is None:
        match = {"ip": "ip", "int": "int", "bool": "bool"}.get(expr.type, "str")
    if match in ("found", "bool"):
        pats = []
    elif not pats and warn is not None:
        warn(where, f"parsing acl keyword '{words[0]}' : no pattern to match against were provided, "
                    "so this ACL will never match.")
    values: list[Any]
    if match == "ip":
        values = [_network(p, where) for p in pats]
    elif match in ("int", "len"):
        values = _int_patterns(pats, where)
    else:
        if match == "reg":
            for p in pats:
                _check_regex(p, icase, where)
        values = [p.encode("latin-1") for p in pats]
    keyword = words[0].split("(", 1)[0].split(",", 1)[0]
    return Acl(name=name, criterion=keyword, header=expr.arg, icase=icase, patterns=list(pats),
               where=copy.copy(where), expr=expr, match=match, values=values)


def predefined(name: str) -> Acl | None:
    """The ACL a predefined name stands for (7.4), or None."""
    words = PREDEFINED.get(name)
    return parse_acl(name, list(words), Where()) if words is not None else None
