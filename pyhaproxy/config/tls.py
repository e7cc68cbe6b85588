"""TLS settings: `bind ... ssl crt FILE|DIR [alpn ...] [ssl-min-ver ...] [ciphers ...]...` and the
global `crt-base`, `ca-base`, `ssl-default-bind-ciphers|ciphersuites|curves|options`.

What is applied is built by the worker (ext/tls.pxi): one OpenSSL context per certificate, the
first the default, the others chosen by SNI on the names of each certificate (its DNS
subjectAltNames and its CN, `*.` wildcards allowed). Certificates are loaded here once, while the
configuration is read, so that a bad file is an alert before anything is bound (as haproxy 2.6
does). The options not handled yet are refused by name.
"""

from __future__ import annotations

import base64
import binascii
import copy
import os
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .lexer import ConfigError
from .model import Where

if TYPE_CHECKING:
    from .tls_server import ServerTLS

VERSIONS = ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_NO_VERSION = {"no-sslv3": "SSLv3", "no-tlsv10": "TLSv1.0", "no-tlsv11": "TLSv1.1",
               "no-tlsv12": "TLSv1.2", "no-tlsv13": "TLSv1.3"}
_FORCE_VERSION = {"force-sslv3": "SSLv3", "force-tlsv10": "TLSv1.0", "force-tlsv11": "TLSv1.1",
                  "force-tlsv12": "TLSv1.2", "force-tlsv13": "TLSv1.3"}
# bind options handled here: value-taking ones map to True
BIND_OPTIONS = {
    "ssl": False, "crt": True, "alpn": True, "ssl-min-ver": True, "ssl-max-ver": True,
    "ciphers": True, "ciphersuites": True, "curves": True, "no-tls-tickets": False,
    "prefer-client-ciphers": False, "ca-file": True, "ca-verify-file": True, "verify": True,
    "crl-file": True, "crt-list": True, "tls-ticket-keys": True,
    "strict-sni": False,
    "ca-ignore-err": True, "crt-ignore-err": True,
    "ecdhe": True, "no-ca-names": False, "npn": True,
    **{k: False for k in _NO_VERSION}, **{k: False for k in _FORCE_VERSION},
}
# the options of a crt-list line (`[...]`) that are applied: 2.6's list, those pyhaproxy has
_CRT_LIST_OPTIONS = {k: BIND_OPTIONS[k] for k in ("alpn", "ca-file", "ca-verify-file", "ciphers",
                                                  "ciphersuites", "crl-file", "curves", "ecdhe",
                                                  "no-ca-names", "npn", "verify",
                                                  "ssl-min-ver", "ssl-max-ver")}
# the options of ssl-default-bind-options that are applied (the others are refused by name)
_DEFAULT_BIND_OPTIONS = {"ssl-min-ver": True, "ssl-max-ver": True, "no-tls-tickets": False,
                         "prefer-client-ciphers": False, **{k: False for k in _NO_VERSION},
                         **{k: False for k in _FORCE_VERSION}}
# not options of 2.6 (Debian's 2.6.12 does not know them, on a bind or a crt-list line)
_LATER_OPTIONS = {"sigalgs": "2.8", "client-sigalgs": "2.8"}
# the global TLS keywords handled here
GLOBAL_KEYWORDS = ("crt-base", "ca-base", "ssl-default-bind-ciphers", "ssl-default-bind-ciphersuites",
                   "ssl-default-bind-curves", "ssl-default-bind-options", "ssl-dh-param-file")
_CRT_SKIP_EXT = (".key", ".ocsp", ".issuer", ".sctl")   # `crt DIR`: files that are not certificates
_CA_EXT = (".pem", ".crt", ".cer", ".crl")   # `ca-file DIR`: the files loaded, as 2.6 does


def _fail(where: Where, message: str) -> ConfigError:
    return ConfigError(where.file, where.line, message)


@dataclass
class Crt:
    """One certificate (PEM with its key and chain) and the names SNI selects it by; from a
    `crt-list` line, the names may be its SNI filters (`excluded`: its `!name` ones) and `opts`
    the bind's settings with the line's own (`[alpn ... ciphers ...]`)."""

    path: str
    names: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    opts: BindTLS | None = None


@dataclass
class BindTLS:
    """The TLS settings of one `bind ... ssl` line (the defaults of `global` applied)."""

    certs: list[Crt] = field(default_factory=list)
    alpn: list[str] = field(default_factory=list)
    min_ver: str | None = None      # None: TLSv1.2, as haproxy 2.6
    max_ver: str | None = None      # None: the highest OpenSSL has
    ciphers: str | None = None
    ciphersuites: str | None = None
    curves: str | None = None
    # `ecdhe CURVE[:...]`: with OpenSSL 3 the groups list when `curves` is not given (it wins), as 2.6
    ecdhe: str | None = None
    npn: list[str] = field(default_factory=list)    # `npn`: protocols advertised by NPN (TLS <= 1.2)
    no_tls_tickets: bool = False
    prefer_client_ciphers: bool = False
    # client certificates: `verify none|optional|required`, `ca-file`, `crl-file`, and the X509
    # errors ignored (bit N: error id N; `all`: every one) at depth > 0 and at depth 0
    verify: str = "none"
    strict_sni: bool = False        # `strict-sni`: no default certificate for unknown names
    ca_files: list[str] = field(default_factory=list)
    no_ca_names: bool = False       # `no-ca-names`: the CertificateRequest names no CA (ca-file's not sent)
    # `ca-verify-file`: CA certificates that verify the client's chain but whose names are not
    # sent in the CertificateRequest (typically the roots, when ca-file has the intermediates)
    ca_verify_files: list[str] = field(default_factory=list)
    crl_file: str | None = None
    ca_ignore_err: int = 0
    crt_ignore_err: int = 0
    # session ticket keys (OpenSSL's 80 bytes: name, HMAC key, AES key), drawn here in the master
    # so that every worker it forks resumes the tickets of the others
    ticket_keys: bytes = field(default_factory=lambda: os.urandom(80))
    # `tls-ticket-keys FILE` (2.6's format and rotation): the file's last 3 keys, key N of the
    # file in slot N % 3, the last but one encrypting (ticket_enc its slot), all 3 decrypting;
    # ticket_klen 16 (48-byte keys, AES-128) or 32 (80-byte keys, AES-256), 0 without a file
    ticket_file: str | None = None
    ticket_ring: list[bytes] = field(default_factory=list)
    ticket_enc: int = 0
    ticket_klen: int = 0
    # DHE (ext/tls.pxi _tls_dh): `ssl-dh-param-file`, `tune.ssl.default-dh-param` (0: not given)
    dh_file: str | None = None
    dh_bits: int = 0


@dataclass
class GlobalTLS:
    crt_base: str | None = None
    ca_base: str | None = None
    bind_ciphers: str | None = None
    bind_ciphersuites: str | None = None
    bind_curves: str | None = None
    bind_options: list[str] = field(default_factory=list)
    # towards the servers (config/tls_server.py)
    server_verify: bool = True          # `ssl-server-verify`: required unless `none`
    server_ciphers: str | None = None
    server_ciphersuites: str | None = None
    server_options: list[str] = field(default_factory=list)
    dh_file: str | None = None          # `ssl-dh-param-file`
    dh_bits: int = 0                    # `tune.ssl.default-dh-param` (config/kw_global.py)


def parse_global(g: GlobalTLS, args: list[str], where: Where) -> None:
    """One of GLOBAL_KEYWORDS."""
    kw = args[0]
    if len(args) < 2 or args[1] == "":
        raise _fail(where, f"'{kw}' expects an argument.")
    if kw == "ssl-default-bind-options":
        _apply_options(BindTLS(), args[1:], where, _DEFAULT_BIND_OPTIONS, f"'{kw}'")
        g.bind_options = list(args[1:])
        return
    if len(args) > 2:
        raise _fail(where, f"'{kw}' expects exactly one argument.")
    if kw == "ssl-dh-param-file":
        # read by each context (ext/tls.pxi _tls_dh); 2.6 takes only "DH PARAMETERS" blocks
        try:
            with open(args[1], encoding="latin-1") as f:
                ok = "-----BEGIN DH PARAMETERS-----" in f.read()
        except OSError:
            ok = False
        if not ok:
            raise _fail(where, f"'{kw}': unable to load DH parameters from file <{args[1]}>.")
        g.dh_file = args[1]
        return
    attr = {"crt-base": "crt_base", "ca-base": "ca_base", "ssl-default-bind-ciphers": "bind_ciphers",
            "ssl-default-bind-ciphersuites": "bind_ciphersuites",
            "ssl-default-bind-curves": "bind_curves"}[kw]
    if kw in ("crt-base", "ca-base") and getattr(g, attr) is not None:
        raise _fail(where, f"'{kw}' already specified.")
    setattr(g, attr, args[1])


def ca_files(g: GlobalTLS | None, name: str, where: Where, label: str) -> list[str]:
    """`ca-file FILE|DIR|@system-ca` (relative to ca-base): the files OpenSSL loads."""
    if name == "@system-ca":
        return [name]
    base = g.ca_base if g else None
    path = name if os.path.isabs(name) or not base else os.path.join(base, name)
    if os.path.isdir(path):
        files = [os.path.join(path, f) for f in sorted(os.listdir(path))
                 if not f.startswith(".") and f.endswith(_CA_EXT) and os.path.isfile(os.path.join(path, f))]
        if files:
            return files
    elif os.path.isfile(path):
        return [path]
    raise _fail(where, f"{label} : unable to load CA file '{path}'.")


def _cert_names(path: str) -> list[str]:
    """The DNS subjectAltNames and the CN of the first certificate of a PEM file."""
    try:
        info = ssl._ssl._test_decode_cert(path)  # type: ignore[attr-defined]
    except (ssl.SSLError, OSError, ValueError):
        return []
    names = [v for k, v in info.get("subjectAltName", ()) if k == "DNS"]
    for rdn in info.get("subject", ()):
        for k, v in rdn:
            if k == "commonName" and v not in names:
                names.append(v)
    return names


def load_crt(g: GlobalTLS, name: str, where: Where) -> list[Crt]:
    """`crt FILE` (relative to crt-base) or `crt DIR` (each file, in name order)."""
    path = name if os.path.isabs(name) or not g.crt_base else os.path.join(g.crt_base, name)
    if os.path.isdir(path):
        files = [os.path.join(path, f) for f in sorted(os.listdir(path))
                 if not f.startswith(".") and not f.endswith(_CRT_SKIP_EXT)
                 and os.path.isfile(os.path.join(path, f))]
    else:
        files = [path]
    out = []
    for f in files:
        try:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(f)
        except FileNotFoundError:
            raise _fail(where, f"'bind' : unable to stat SSL certificate from file '{f}' : "
                               "No such file or directory.") from None
        except (ssl.SSLError, OSError) as exc:
            raise _fail(where, f"'bind' : unable to load SSL certificate from PEM file '{f}' "
                               f"(a PEM file with the certificate, its chain and its private key is "
                               f"expected): {exc}.") from None
        out.append(Crt(path=f, names=_cert_names(f)))
    return out


def _ignored_errors(val: str, where: Where, label: str, opt: str) -> int:
    """`ca-ignore-err`/`crt-ignore-err all|ID,...`: a mask of X509 error ids (below 64, as 2.6)."""
    if val == "all":
        return (1 << 64) - 1
    mask = 0
    for word in val.split(","):
        if not word.isdigit() or int(word) >= 64:
            raise _fail(where, f"{label} : '{opt}' : '{word}' is not an error id (0 to 63) or 'all'.")
        mask |= 1 << int(word)
    return mask


TICKET_KEYS_NO = 3      # the keys kept from a tls-ticket-keys file (2.6's TLS_TICKETS_NO, its default)


def load_ticket_keys(t: BindTLS, path: str, where: Where, label: str) -> None:
    """`tls-ticket-keys FILE`: one base64 key a line, 48 or 80 bytes (the first line's size for
    all), at least 3; 2.6's messages for what it refuses."""
    try:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
    except OSError:
        raise _fail(where, f"{label} : 'tls-ticket-keys' : '{path}' : unable to load ssl tickets keys "
                           "file.") from None
    if lines and lines[-1] == b"":
        lines.pop()             # (the newline that ends the last line)
    ring: list[bytes] = [b""] * TICKET_KEYS_NO
    size = 0
    for n, line in enumerate(lines):
        try:
            key = base64.b64decode(line.rstrip(b"\r"), validate=True)
        except (binascii.Error, ValueError):
            raise _fail(where, f"{label} : 'tls-ticket-keys' : '{path}' : unable to decode base64 key "
                               f"on line {n + 1}.") from None
        if len(key) not in (48, 80) or (size and len(key) != size):
            raise _fail(where, f"{label} : 'tls-ticket-keys' : '{path}' : wrong sized key on line "
                               f"{n + 1}.")
        size = len(key)
        ring[n % TICKET_KEYS_NO] = key
    if len(lines) < TICKET_KEYS_NO:
        raise _fail(where, f"{label} : 'tls-ticket-keys' : '{path}' : please supply at least "
                           f"{TICKET_KEYS_NO} keys in the tls-tickets-file.")
    t.ticket_file = path
    t.ticket_ring = ring
    t.ticket_enc = (len(lines) - 2) % TICKET_KEYS_NO
    t.ticket_klen = 16 if size == 48 else 32


def load_crt_list(g: GlobalTLS, t: BindTLS, path: str, where: Where, label: str) -> list[Crt]:
    """`crt-list FILE`: one certificate per line, `<crtfile> [[<sslbindconf> ...]] [[!]<snifilter> ...]`
    (blank lines and `#` comments skipped); crtfile relative to crt-base. The line's settings
    start from the bind's (applied by the time the certificates are loaded)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise _fail(where, f"{label} : unable to read crt-list file '{path}' : {exc.strerror}.") from None
    out: list[Crt] = []
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        lw = Where(path, lineno)
        crt, _, rest = line.partition(" ")
        opts_text = ""
        rest = rest.strip()
        if rest.startswith("["):
            if "]" not in rest:
                raise _fail(lw, f"{label} : crt-list : missing ']' in '{line}'.")
            opts_text, _, rest = rest[1:].partition("]")
        filters = rest.split()
        found = load_crt(g, crt, lw)
        for c in found:
            if opts_text.split():
                c.opts = copy.deepcopy(t)
                c.opts.certs = []
                _apply_options(c.opts, opts_text.split(), lw, _CRT_LIST_OPTIONS, f"{label} crt-list", g)
                if c.opts.verify != "none" and not c.opts.ca_files and not c.opts.ca_verify_files:
                    raise _fail(lw, f"{label} crt-list : verify is enabled but no CA file specified.")
            positive = [n.lower() for n in filters if not n.startswith("!")]
            c.excluded = [n[1:].lower() for n in filters if n.startswith("!")]
            if positive:
                c.names = positive
            if "*" in c.excluded:           # `!*`: its own names are not looked up
                c.names = positive
                c.excluded.remove("*")
        out.extend(found)
    if not out:
        raise _fail(where, f"{label} : no certificate in crt-list file '{path}'.")
    return out


def set_version(t: BindTLS | ServerTLS, opt: str, val: str, where: Where, label: str) -> None:
    """`ssl-min-ver|ssl-max-ver VERSION` of a bind or a server."""
    if val not in VERSIONS:
        raise _fail(where, f"{label} : option '{opt}' expects one of {', '.join(VERSIONS)} "
                           f"(got '{val}').")
    if opt == "ssl-min-ver":
        t.min_ver = val
    else:
        t.max_ver = val


def check_version_range(t: BindTLS | ServerTLS, where: Where, label: str) -> None:
    """The range of a bind or a server, once its options are all read, is not empty."""
    if t.min_ver and t.max_ver and VERSIONS.index(t.min_ver) > VERSIONS.index(t.max_ver):
        raise _fail(where, f"{label} : 'ssl-min-ver {t.min_ver}' is above 'ssl-max-ver {t.max_ver}'.")


def _apply_options(t: BindTLS, words: list[str], where: Where, table: dict[str, bool], label: str,
                   g: GlobalTLS | None = None, crts: list[str] | None = None) -> bool:
    """Apply the TLS options among `words` to t; returns whether `ssl` was given."""
    has_ssl = False
    no_versions: set[str] = set()
    i = 0
    while i < len(words):
        opt = words[i]
        if opt in _LATER_OPTIONS:
            raise _fail(where, f"{label} : TLS option '{opt}' is not supported yet (it appeared in "
                               f"HAProxy {_LATER_OPTIONS[opt]}).")
        if opt not in table:
            raise _fail(where, f"{label} : TLS option '{opt}' is not supported by pyhaproxy yet.")
        val = ""
        if table[opt]:
            if i + 1 >= len(words) or words[i + 1] == "":
                raise _fail(where, f"{label} : option '{opt}' expects an argument.")
            val = words[i + 1]
            i += 2
        else:
            i += 1
        if opt == "ssl":
            has_ssl = True
        elif opt in ("crt", "crt-list"):
            assert crts is not None
            crts.append(val if opt == "crt" else "\0" + val)     # (a crt-list marked, order kept)
        elif opt == "alpn":
            protos = [p for p in val.split(",") if p]
            for p in protos:
                if p == "h3":
                    raise _fail(where, f"{label} : 'alpn {val}' : protocol 'h3' (HTTP/3, QUIC) "
                                       "is not supported by pyhaproxy; use 'alpn h2,http/1.1'.")
                if len(p) > 255:
                    raise _fail(where, f"{label} : 'alpn' : protocol name too long.")
            t.alpn = protos
        elif opt == "npn":
            protos = [p for p in val.split(",") if p]
            if any(len(p) > 255 for p in protos):
                raise _fail(where, f"{label} : 'npn' : protocol name too long.")
            t.npn = protos
        elif opt == "ecdhe":
            t.ecdhe = val
        elif opt == "no-ca-names":
            t.no_ca_names = True
        elif opt in ("ssl-min-ver", "ssl-max-ver"):
            set_version(t, opt, val, where, label)
        elif opt in _NO_VERSION:
            no_versions.add(_NO_VERSION[opt])
        elif opt in _FORCE_VERSION:
            t.min_ver = t.max_ver = _FORCE_VERSION[opt]
        elif opt == "ciphers":
            t.ciphers = val
        elif opt == "ciphersuites":
            t.ciphersuites = val
        elif opt == "curves":
            t.curves = val
        elif opt == "no-tls-tickets":
            t.no_tls_tickets = True
        elif opt == "prefer-client-ciphers":
            t.prefer_client_ciphers = True
        elif opt == "strict-sni":
            t.strict_sni = True
        elif opt == "verify":
            if val not in ("none", "optional", "required"):
                raise _fail(where, f"{label} : 'verify' expects 'none', 'optional' or 'required' "
                                   f"(got '{val}').")
            t.verify = val
        elif opt == "ca-file":
            t.ca_files = ca_files(g, val, where, label)
        elif opt == "ca-verify-file":
            t.ca_verify_files = ca_files(g, val, where, label)
        elif opt == "crl-file":
            base = g.ca_base if g else None
            t.crl_file = val if os.path.isabs(val) or not base else os.path.join(base, val)
        elif opt == "tls-ticket-keys":
            load_ticket_keys(t, val, where, label)
        elif opt in ("ca-ignore-err", "crt-ignore-err"):
            setattr(t, opt.replace("-", "_"), _ignored_errors(val, where, label, opt))
    if no_versions:
        t.min_ver, t.max_ver = narrow_versions(t.min_ver, t.max_ver, no_versions, where, label)
    return has_ssl


def narrow_versions(min_ver: str | None, max_ver: str | None, no_versions: set[str], where: Where,
                    label: str) -> tuple[str, str]:
    """The no-* options narrow the range from each end (as haproxy does with a gap-free range);
    None ends are TLSv1.2 and the highest."""
    lo = VERSIONS.index(min_ver) if min_ver else VERSIONS.index("TLSv1.2")
    hi = VERSIONS.index(max_ver) if max_ver else len(VERSIONS) - 1
    while lo <= hi and VERSIONS[lo] in no_versions:
        lo += 1
    while hi >= lo and VERSIONS[hi] in no_versions:
        hi -= 1
    if lo > hi:
        raise _fail(where, f"{label} : every TLS version is disabled.")
    return VERSIONS[lo], VERSIONS[hi]


def parse_bind(g: GlobalTLS, bind_text: str, words: list[str], where: Where) -> BindTLS | None:
    """The TLS options of one `bind` line (already separated from the others): its BindTLS, or
    None when the line has no `ssl` (certificates named without `ssl` are not used, as in 2.6)."""
    label = f"'bind {bind_text}'"
    t = BindTLS(ciphers=g.bind_ciphers, ciphersuites=g.bind_ciphersuites, curves=g.bind_curves,
                dh_file=g.dh_file, dh_bits=g.dh_bits)
    if g.bind_options:
        _apply_options(t, g.bind_options, where, _DEFAULT_BIND_OPTIONS, label)
    crts: list[str] = []
    if not _apply_options(t, words, where, BIND_OPTIONS, label, g, crts):
        return None
    if not crts:
        raise _fail(where, f"{label} : 'ssl' needs at least one certificate (use 'crt').")
    for c in crts:
        t.certs.extend(load_crt_list(g, t, c[1:], where, label) if c[0] == "\0" else load_crt(g, c, where))
    if not t.certs:
        raise _fail(where, f"{label} : no certificate found in '{crts[0]}'.")
    check_version_range(t, where, label)
    if t.verify != "none" and not t.ca_files and not t.ca_verify_files:
        raise _fail(where, f"{label} : verify is enabled but no CA file specified.")
    # the worker's own code builds the contexts once, here, to check them
    from .. import _core

    try:
        _core.tls_check(t)
    except ValueError as exc:
        raise _fail(where, f"{label} : {exc}.") from None
    return t

