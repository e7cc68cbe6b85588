"""TLS towards the servers: `server ... ssl [verify none|required] [ca-file F] [sni EXPR]
[verifyhost H] [crt F] [alpn L] [ciphers C] [ciphersuites S] [ssl-min-ver V] [no-ssl-reuse]
[check-ssl] [check-sni S]...`, `default-server` the same, and the global `ssl-server-verify`,
`ssl-default-server-ciphers|ciphersuites|options`.

As haproxy 2.6 does: `verify` is `required` unless `ssl-server-verify none` (or `verify none`),
and a verified server without `ca-file` is a configuration error; `sni` is a sample expression
(evaluated per connection by the worker, ext/tlssrv.pxi); health checks go over TLS when the
server has `ssl` and is checked where its traffic goes (no `port`/`addr` elsewhere), or with
`check-ssl`. The contexts are built once here by the worker's own code to check them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .lexer import ConfigError
from .model import Where
from .sample import SampleError, SampleExpr, parse_sample
from .tls import (
    _FORCE_VERSION,
    _NO_VERSION,
    GlobalTLS,
    ca_files,
    check_version_range,
    narrow_versions,
    set_version,
)

# server options handled here: value-taking ones map to True
SERVER_OPTIONS = {
    "ssl": False, "no-ssl": False, "verify": True, "ca-file": True, "crt": True, "sni": True,
    "verifyhost": True, "no-verifyhost": False, "alpn": True, "ciphers": True, "ciphersuites": True,
    "ssl-min-ver": True, "ssl-max-ver": True, "no-ssl-reuse": False, "ssl-reuse": False,
    "no-tls-tickets": False, "tls-tickets": False, "check-ssl": False, "no-check-ssl": False,
    "check-sni": True, **{k: False for k in _NO_VERSION}, **{k: False for k in _FORCE_VERSION},
}
# the options of ssl-default-server-options that are applied
_DEFAULT_OPTIONS = frozenset({"ssl-min-ver", "ssl-max-ver", "no-tls-tickets", "no-ssl-reuse",
                              *_NO_VERSION, *_FORCE_VERSION})
GLOBAL_KEYWORDS = ("ssl-server-verify", "ssl-default-server-ciphers", "ssl-default-server-ciphersuites",
                   "ssl-default-server-options")


def _fail(where: Where, message: str) -> ConfigError:
    return ConfigError(where.file, where.line, message)


@dataclass
class ServerTLS:
    """The TLS settings of one server (its `default-server` ones first, then its own)."""

    use_ssl: bool = False
    verify: bool = True                 # `verify required` (2.6's default), False: `verify none`
    ca_files: list[str] = field(default_factory=list)
    crt: str | None = None
    sni: str | None = None              # the expression as written
    sni_expr: SampleExpr | None = None
    verifyhost: str | None = None
    alpn: list[str] = field(default_factory=list)
    ciphers: str | None = None
    ciphersuites: str | None = None
    min_ver: str | None = None          # None: TLSv1.2, as 2.6
    max_ver: str | None = None
    reuse: bool = True
    no_tls_tickets: bool = False
    check_ssl: bool | None = None       # None: follows `ssl` (see checks_tls)
    check_sni: str | None = None


def parse_global(g: GlobalTLS, args: list[str], where: Where) -> None:
    """One of GLOBAL_KEYWORDS."""
    kw = args[0]
    if len(args) < 2 or args[1] == "":
        raise _fail(where, f"'{kw}' expects an argument.")
    if kw == "ssl-server-verify":
        if args[1] not in ("none", "required") or len(args) > 2:
            raise _fail(where, f"'{kw}' expects 'none' or 'required' as argument.")
        g.server_verify = args[1] == "required"
    elif kw == "ssl-default-server-options":
        apply(ServerTLS(), args[1:], where, f"'{kw}'", allowed=_DEFAULT_OPTIONS)     # checked now
        g.server_options = list(args[1:])
    elif len(args) > 2:
        raise _fail(where, f"'{kw}' expects exactly one argument.")
    elif kw == "ssl-default-server-ciphers":
        g.server_ciphers = args[1]
    else:
        g.server_ciphersuites = args[1]


def apply(t: ServerTLS, words: list[str], where: Where, label: str, g: GlobalTLS | None = None,
          allowed: frozenset[str] | None = None) -> None:
    """Apply the TLS options among `words` (pairs for the value-taking ones) to t."""
    no_versions: set[str] = set()
    i = 0
    while i < len(words):
        opt = words[i]
        if opt not in SERVER_OPTIONS or (allowed is not None and opt not in allowed):
            raise _fail(where, f"{label} : option '{opt}' is not supported by pyhaproxy yet.")
        val = ""
        if SERVER_OPTIONS.get(opt, False):
            if i + 1 >= len(words) or words[i + 1] == "":
                raise _fail(where, f"{label} : '{opt}' expects an argument.")
            val = words[i + 1]
            i += 2
        else:
            i += 1
        if opt in ("ssl", "no-ssl"):
            t.use_ssl = opt == "ssl"
        elif opt == "verify":
            if val not in ("none", "required"):
                raise _fail(where, f"{label} : 'verify' expects 'none' or 'required' (got '{val}').")
            t.verify = val == "required"
        elif opt == "ca-file":
            t.ca_files = ca_files(g, val, where, label)
        elif opt == "crt":
            base = g.crt_base if g else None
            t.crt = val if os.path.isabs(val) or not base else os.path.join(base, val)
            if not os.path.isfile(t.crt):
                raise _fail(where, f"{label} : unable to stat SSL certificate from file '{t.crt}' : "
                                   "No such file or directory.")
        elif opt == "sni":
            try:
                t.sni_expr = parse_sample(val)
            except SampleError as exc:
                raise _fail(where, f"{label} : 'sni' : failed to parse sample expression '{val}' : "
                                   f"{exc}.") from None
            t.sni = val
        elif opt == "verifyhost":
            t.verifyhost = val
        elif opt == "no-verifyhost":
            t.verifyhost = None
        elif opt == "alpn":
            protos = [p for p in val.split(",") if p]
            for p in protos:
                if p == "h3" or len(p) > 255:
                    raise _fail(where, f"{label} : 'alpn {val}' : protocol '{p}' towards a server is "
                                       "not supported by pyhaproxy (HTTP/1.1 and h2 only).")
            t.alpn = protos
        elif opt in ("ciphers", "ciphersuites"):
            setattr(t, opt, val)
        elif opt in ("ssl-min-ver", "ssl-max-ver"):
            set_version(t, opt, val, where, label)
        elif opt in _NO_VERSION:
            no_versions.add(_NO_VERSION[opt])
        elif opt in _FORCE_VERSION:
            t.min_ver = t.max_ver = _FORCE_VERSION[opt]
        elif opt in ("no-ssl-reuse", "ssl-reuse"):
            t.reuse = opt == "ssl-reuse"
        elif opt in ("no-tls-tickets", "tls-tickets"):
            t.no_tls_tickets = opt == "no-tls-tickets"
        elif opt in ("check-ssl", "no-check-ssl"):
            t.check_ssl = opt == "check-ssl"
        elif opt == "check-sni":
            t.check_sni = val
    if no_versions:
        t.min_ver, t.max_ver = narrow_versions(t.min_ver, t.max_ver, no_versions, where, label)


def build(g: GlobalTLS, words: list[str], where: Where, px_name: str, srv_name: str) -> ServerTLS | None:
    """The TLS settings of a server from its TLS words (default-server's first): None when it
    neither speaks TLS nor checks over TLS. Alerts as haproxy 2.6 does for what it refuses."""
    if not words:
        return None
    label = f"'server {px_name}/{srv_name}'"
    t = ServerTLS(verify=g.server_verify, ciphers=g.server_ciphers, ciphersuites=g.server_ciphersuites)
    if g.server_options:
        apply(t, g.server_options, where, label, g)
    apply(t, words, where, label, g)
    if not t.use_ssl and not t.check_ssl:
        return None
    check_version_range(t, where, label)
    if t.verify and not t.ca_files:
        if g.server_verify:
            raise _fail(where, f"{label} : verify is enabled by default but no CA file specified. If "
                               "you're running on a LAN where you're certain to trust the server's "
                               "certificate, please set an explicit 'verify none' statement on the "
                               "'server' line, or use 'ssl-server-verify none' in the global section "
                               "to disable server-side verifications by default.")
        raise _fail(where, f"{label} : verify is enabled but no CA file specified.")
    from .. import _core

    try:
        _core.tls_srv_check(t)
    except ValueError as exc:
        raise _fail(where, f"{label} : {exc}.") from None
    return t


def checks_tls(t: ServerTLS | None, same_place: bool) -> bool:
    """Whether a server's health checks go over TLS: `check-ssl`/`no-check-ssl` when given,
    else when its traffic does and the check goes where the traffic goes (2.6's rule)."""
    if t is None:
        return False
    if t.check_ssl is not None:
        return t.check_ssl
    return t.use_ssl and same_place
