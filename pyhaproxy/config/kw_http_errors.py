"""A proxy's own error answers as 2.6 gathers them (4.2 `errorfile`, `errorloc`, `errorfiles`,
`http-error`; 3.8 the `http-errors` section).

Each line is kept in order in `Proxy.error_rules` (the defaults' lines first, as a proxy starts
from a copy of its defaults) and resolved by `resolve()` once the whole configuration is read,
since `errorfiles NAME` may name a section further down: the last line for a status wins, as in
2.6, and the result is the proxy's `errorfile` (raw answers) and `errorloc` (redirections).
"""

from __future__ import annotations

import http
import os

from .lexer import ConfigError
from .model import BUFSIZE, Config, Where
from .state import State
from .values import ERROR_CODES, fail, no_extra, parse_int

HTTP_ERRORS = "http-errors"


def read_errorfile(path: str, where: Where, unreadable: str = "") -> str:
    """A file holding a whole HTTP answer, as 2.6 reads it (one buffer at most). `unreadable`:
    the message when it cannot be opened (else the proxy's errorfile one, with the reason)."""
    try:
        with open(path, "rb") as f:
            data = f.read(BUFSIZE + 1)
    except OSError as e:
        why = unreadable or f"error opening file <{path}> ({os.strerror(e.errno or 0)})."
        raise fail(where, why) from None
    if len(data) > BUFSIZE:
        raise fail(where, f"file <{path}> is larger than the buffer size ({BUFSIZE} bytes).")
    return data.decode("latin-1")


# ---- the `http-errors NAME` section: `errorfile CODE FILE` lines

def open_section(st: State, args: list[str], where: Where) -> None:
    if len(args) < 2 or not args[1]:
        raise fail(where, "'http-errors' expects <name> as argument.")
    if args[1] in st.config.http_errors:
        raise fail(where, f"http-errors section '{args[1]}' has the same name as another "
                          "http-errors section declared before.")
    st.config.http_errors[args[1]] = {}
    st.section, st.proxy = HTTP_ERRORS, None
    st.http_errors_name = args[1]


def section_line(st: State, args: list[str], where: Where) -> None:
    if args[0] != "errorfile":
        raise fail(where, f"unknown keyword '{args[0]}' in '{HTTP_ERRORS}' section")
    if len(args) < 3:
        raise fail(where, "'errorfile' expects <code> and <file> as arguments.")
    no_extra(args, 3, where)
    code = parse_int(args[1], "errorfile", where)
    if code not in ERROR_CODES:
        raise fail(where, f"errorfile : status code '{code}' not handled.")
    st.config.http_errors[st.http_errors_name][code] = read_errorfile(
        args[2], where, f"errorfile : error opening file '{args[2]}'.")


# ---- a proxy's `errorfiles NAME [CODE...]` and `http-error status CODE ...`

def p_errorfiles(st: State, args: list[str], where: Where) -> None:
    if len(args) < 2 or not args[1]:
        raise fail(where, "'errorfiles' expects <name> as argument.")
    codes = [parse_int(a, "errorfiles", where) for a in args[2:]]
    for code in codes:
        if code not in ERROR_CODES:
            raise fail(where, f"errorfiles : status code '{code}' not handled.")
    for code in codes or [0]:
        st.px().error_rules.append(("files", code, (args[1], where)))


def p_http_error(st: State, args: list[str], where: Where) -> None:
    """`http-error status CODE [content-type T] [default-errorfiles | errorfile F | errorfiles N |
    file F | string S] [hdr NAME VALUE]*`: 2.6's reply built once (its log-format forms,
    `lf-string`, `lf-file` and `%[...]` in a header, are refused by name)."""
    if len(args) < 3 or args[1] != "status":
        raise fail(where, "'http-error' expects 'status <code>' as first argument.")
    code = parse_int(args[2], "http-error status", where)
    if code not in ERROR_CODES:
        raise fail(where, f"http-error : Unexpected status code '{code}'")
    ctype, body, hdrs = "", "", []
    kind = ""
    i = 3
    while i < len(args):
        w = args[i]
        if w == "default-errorfiles":
            kind, i = w, i + 1
            continue
        if i + 1 >= len(args):
            raise fail(where, f"'http-error' : '{w}' expects an argument.")
        if w == "content-type":
            ctype = args[i + 1]
        elif w in ("errorfile", "errorfiles", "file", "string"):
            if kind:
                raise fail(where, f"'http-error' : payload already defined ('{kind}').")
            kind = w
            body = args[i + 1]
        elif w in ("lf-string", "lf-file"):
            raise fail(where, f"'http-error {w}' (a log-format payload) is not supported by pyhaproxy.")
        elif w == "hdr":
            if i + 2 >= len(args):
                raise fail(where, "'http-error' : 'hdr' expects a name and a value.")
            if "%" in args[i + 2]:
                raise fail(where, "'http-error' : log-format values in 'hdr' are not supported by "
                                  "pyhaproxy.")
            hdrs.append((args[i + 1], args[i + 2]))
            i += 3
            continue
        else:
            raise fail(where, f"'http-error' : unknown keyword '{w}'.")
        i += 2
    rules = st.px().error_rules
    if kind == "default-errorfiles":
        rules.append(("default", code, None))
    elif kind == "errorfiles":
        rules.append(("files", code, (body, where)))
    elif kind == "errorfile":
        rules.append(("page", code, read_errorfile(body, where)))
    else:
        if kind == "file":
            body = read_errorfile(body, where)
        if body and not ctype:
            raise fail(where, "http-error : a content type must be defined when non-empty payload is "
                              "configured")
        rules.append(("page", code, reply(code, ctype if body else "", body, hdrs)))


def reply(code: int, ctype: str, body: str, hdrs: list[tuple[str, str]]) -> str:
    """2.6's answer for an `http-error` reply: status line, the `hdr` headers (names in lower
    case), content-length, content-type, the payload."""
    head = f"HTTP/1.1 {code} {http.HTTPStatus(code).phrase}\r\n"
    head += "".join(f"{name.lower()}: {value}\r\n" for name, value in hdrs)
    head += f"content-length: {len(body.encode('latin-1'))}\r\n"
    if ctype:
        head += f"content-type: {ctype}\r\n"
    return head + "\r\n" + body


# ---- at the end: every proxy's pages

def resolve(cfg: Config) -> None:
    """Apply each proxy's error lines in order; `errorfiles` names must be sections."""
    for px in cfg.proxies:
        px.errorfile, px.errorloc = {}, {}
        for kind, code, value in px.error_rules:
            if kind == "page":
                px.errorfile[code] = value
                px.errorloc.pop(code, None)
            elif kind == "loc":
                px.errorloc[code] = value
                px.errorfile.pop(code, None)
            elif kind == "default":
                px.errorfile.pop(code, None)
                px.errorloc.pop(code, None)
            else:
                name, where = value
                if name not in cfg.http_errors:
                    raise ConfigError(where.file, where.line, f"proxy '{px.name}': unknown http-errors "
                                      f"section '{name}' (at {where.file}:{where.line}).")
                if code and code not in cfg.http_errors[name]:
                    cfg.warnings.append(f"[WARNING] config: proxy '{px.name}' : status '{code}' not declared "
                                        f"in http-errors section '{name}' (at {where.file}:{where.line}).")
                for c, text in cfg.http_errors[name].items():
                    if code in (0, c):
                        px.errorfile[c] = text
                        px.errorloc.pop(c, None)
