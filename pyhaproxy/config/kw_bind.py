"""`bind` and the addresses of a `listen` line: listening sockets and their options."""

from __future__ import annotations

import copy
import grp
import pwd
import socket

from . import tls as TLS  # tls
from .model import (
    Bind,
    Proxy,
    Where,
)
from .state import State, defaults_forbidden
from .values import IN_26, fail, not_supported, parse_binds, parse_int

# `bind` options we apply (value-taking ones map to True), those that need TLS, and later ones.
_BIND_OPTIONS = {
    "name": True, "backlog": True, "interface": True, "mss": True, "id": True,
    # UNIX socket file options (ignored on TCP addresses, as 2.6 does)
    "mode": True, "user": True, "group": True, "uid": True, "gid": True,
    "defer-accept": False, "v6only": False, "v4v6": False, "transparent": False, "tfo": False,
    "accept-proxy": False,  # [PROXY-PROTOCOL hook 1/4] a PROXY header opens each connection
    "proto": True,          # `proto h2`: HTTP/2 from the first byte (ext/h2.pxi)
}

_BIND_TLS_OPTIONS = frozenset({
    "ssl", "crt", "crt-list", "ca-file", "crl-file", "verify", "alpn", "npn", "ciphers",
    "ciphersuites", "curves", "ecdhe", "ssl-min-ver", "ssl-max-ver", "no-sslv3", "no-tlsv10",
    "no-tlsv11", "no-tlsv12", "no-tlsv13", "force-sslv3", "force-tlsv10", "force-tlsv11",
    "force-tlsv12", "force-tlsv13", "strict-sni", "generate-certificates", "ca-sign-file",
    "ca-sign-pass", "no-tls-tickets", "prefer-client-ciphers", "allow-0rtt", "ssl-ignore-err",
    "ca-ignore-err", "crt-ignore-err", "no-ca-names", "quic-cc-algo",
})

BIND_LATER_OPTIONS = {
    "accept-netscaler-cip": "1.6", "process": "1.5", "thread": "1.8",
    "level": "1.5", "severity-output": "1.9", "expose-fd": "1.8",
    "nice": "1.5", "namespace": "1.6",
    "nbconn": "1.5", "shards": "2.5", "label": "2.6", "maxconn": "1.4",
    # not keywords of 2.6 (Debian's 2.6.12 does not know them): refused as a later version's
    "sigalgs": "2.8", "client-sigalgs": "2.8",
}
BIND_LATER_OPTIONS.setdefault("tcp-ut", IN_26)  # listed by haproxy 2.6 too


def p_bind(st: State, args: list[str], where: Where) -> None:
    defaults_forbidden(st, args, where)
    if len(args) < 2 or (":" not in args[1] and not args[1].startswith(("fd@", "unix@", "abns@", "/"))):
        raise fail(where, "'bind' expects [addr1]:port1[-end1]{,[addr]:port[-end]}... as arguments.")
    opts: dict[str, str] = {}
    tls_words: list[str] = []   # tls: handled by config/tls.py
    i = 2
    while i < len(args):
        opt = args[i]
        if opt in TLS.BIND_OPTIONS:   # tls
            n = 2 if TLS.BIND_OPTIONS[opt] else 1
            tls_words.extend(args[i:i + n])
            i += n
            continue
        if opt in _BIND_TLS_OPTIONS:
            raise fail(where, f"'bind {args[1]}' : TLS option '{opt}' is not supported by pyhaproxy yet.")
        if opt in BIND_LATER_OPTIONS:
            raise not_supported(f"'bind' option '{opt}'", BIND_LATER_OPTIONS[opt], where)
        if opt not in _BIND_OPTIONS:
            raise fail(where, f"'bind {args[1]}' : unknown option '{opt}'.")
        if _BIND_OPTIONS[opt]:
            if i + 1 >= len(args) or args[i + 1] == "":
                raise fail(where, f"'bind {args[1]}' : option '{opt}' expects an argument.")
            val = args[i + 1]
            if opt in ("backlog", "mss", "maxconn", "id"):
                parse_int(val, f"bind {opt}", where, lo=1)
            elif opt == "proto" and val != "h2":
                raise fail(where, f"'bind {args[1]}' : 'proto' : unknown MUX protocol '{val}' "
                                  "(pyhaproxy knows 'h2').")
            elif opt in ("uid", "gid"):
                parse_int(val, f"bind {opt}", where)
            elif opt == "mode":
                try:
                    int(val, 8)
                except ValueError:
                    raise fail(where, f"'bind {args[1]}' : invalid mode '{val}' (octal expected).") from None
            elif opt == "user":
                try:
                    val = str(pwd.getpwnam(val).pw_uid)
                except KeyError:
                    raise fail(where, f"'bind {args[1]}' : unknown user '{val}'.") from None
                opt = "uid"
            elif opt == "group":
                try:
                    val = str(grp.getgrnam(val).gr_gid)
                except KeyError:
                    raise fail(where, f"'bind {args[1]}' : unknown group '{val}'.") from None
                opt = "gid"
            opts[opt] = val
            i += 2
        else:
            opts[opt] = ""
            i += 1
    tls = TLS.parse_bind(st.config.global_.tls, args[1], tls_words, where) if tls_words else None
    n0 = len(st.px().binds)
    add_binds(st.px(), args[1], where, opts)
    for b in st.px().binds[n0:]:   # tls
        b.tls = tls


def add_binds(px: Proxy, text: str, where: Where, opts: dict[str, str] | None = None) -> None:
    if text.startswith("fd@"):
        # a listening socket inherited from whoever started us (systemd, VTest, a wrapper)
        if not text[3:].isdigit():
            raise fail(where, f"'bind {text}' : 'fd@' expects a file descriptor number.")
        px.binds.append(Bind(host=text, port_lo=0, port_hi=0, fd=int(text[3:]), where=copy.copy(where),
                             options=dict(opts or {})))
        return
    if text.startswith(("unix@", "abns@", "/")):
        # a UNIX stream socket: a file path (unix@/path or /path) or an abstract name (abns@name)
        host = text[5:] if text.startswith("unix@") else text
        if host in ("", "abns@"):
            raise fail(where, f"'bind {text}' : missing socket path or name.")
        if len(host.encode()) > 107:
            raise fail(where, f"'bind {text}' : socket path too long (107 bytes at most).")
        px.binds.append(Bind(host=host, port_lo=0, port_hi=0, family=socket.AF_UNIX,
                             where=copy.copy(where), options=dict(opts or {})))
        return
    if text.startswith(("sockpair@", "udp@", "quic4@", "quic6@")):
        raise not_supported(f"'bind {text}' (only TCP addresses)", "1.5", where)
    for pre in ("ipv4@", "ipv6@"):
        if text.startswith(pre):
            text = text[len(pre):]
    for host, lo, hi, fam in parse_binds(text, where):
        px.binds.append(Bind(host=host, port_lo=lo, port_hi=hi, family=fam, where=copy.copy(where),
                             options=dict(opts or {})))
