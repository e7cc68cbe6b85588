"""Words -> model: sections, `defaults` inheritance and the post-parse checks.

Sections are `global`, `defaults`, `listen` (HAProxy 1.x) and `frontend`/`backend` (1.3+). A
`defaults` section resets the defaults and every following proxy section starts as a copy of
them (servers, header rules, ACLs, switching rules and binds are never inherited). After the
whole file: backend names are resolved (`default_backend`, `use_backend`) and checked. The first
error stops parsing, as HAProxy 1.2 does, and is raised as a ConfigError carrying file and line.
Warnings are collected in Config.warnings.
"""

from __future__ import annotations

import copy
import os
import stat

from . import sample
from .keywords import lookup
from .kw_bind import add_binds
from .kw_http_errors import HTTP_ERRORS
from .kw_http_errors import open_section as http_errors_open_section
from .kw_http_errors import resolve as resolve_error_pages
from .kw_http_errors import section_line as http_errors_line
from .kw_peers import PEERS, initial_localpeer, peers_line
from .kw_peers import open_section as peers_open_section
from .kw_stick import check_stick_refs
from .kw_userlist import USERLIST, check_userlists, userlist_line
from .kw_userlist import open_section as userlist_open_section
from .lexer import ConfigError, Context, Line, tokenize
from .logformat import HTTPLOG_CLF, parse_log_format
from .model import Acl, Condition, Config, Proxy, Where
from .state import DEFAULTS, GLOBAL, UNSUPPORTED_SECTIONS, State
from .track import resolve_tracks
from .values import fail, looks_like_bind, not_supported

_SIDES = {"listen": {"fe", "be"}, "frontend": {"fe"}, "backend": {"be"}}


def _new_defaults() -> Proxy:
    return Proxy(name="")


class Parser:
    """Feeds tokenized lines through the keyword table into one Config."""

    def __init__(self, ctx: Context | None = None) -> None:
        self.config = Config()
        self.st = State(config=self.config, defaults=_new_defaults())
        self.ctx = ctx or Context()
        self.st.env = self.ctx.env
        self.config.localpeer = initial_localpeer(self.ctx.localpeer)  # peers
        self.config.localpeer_cmdline = bool(self.ctx.localpeer)

    def feed_text(self, text: str, file: str) -> None:
        """Tokenize and feed one file's text; `${.SECTION}` follows the sections as they open."""
        for line in tokenize(text, file, self.ctx):
            self.feed(line)
            if line.words[0] in ("global", "defaults", "listen", "frontend", "backend"):
                self.ctx.section = line.words[1] if len(line.words) > 1 and line.words[0] != "global" \
                    else line.words[0]
        self.ctx.section = ""  # each file starts before any section, as in 2.6
        self.config.warnings.extend(self.ctx.messages)
        self.ctx.messages.clear()

    # ------------------------------------------------------------------ sections
    def feed(self, line: Line) -> None:
        where = Where(line.file, line.line)
        sample.LOAD_SITE[0] = (line.file, line.line)
        args = line.words
        kw = args[0]
        st = self.st
        if kw == "global":
            if len(args) > 1:
                raise fail(where, "'global' expects no argument.")
            st.section, st.proxy = GLOBAL, None
            return
        if kw == "defaults":
            # "The 'defaults' keyword ignores everything on its command line"
            st.defaults = _new_defaults()
            st.defaults.where = where
            st.section, st.proxy = DEFAULTS, st.defaults
            st.seen = set()
            return
        if kw in ("listen", "frontend", "backend"):
            self._listen(args, where)
            return
        if kw == PEERS:
            peers_open_section(st, args, where)
            return
        if kw == USERLIST:
            userlist_open_section(st, args, where)
            return
        if kw == HTTP_ERRORS:
            http_errors_open_section(st, args, where)
            return
        if kw in UNSUPPORTED_SECTIONS:
            raise not_supported(f"section '{kw}'", UNSUPPORTED_SECTIONS[kw], where)
        if st.section == PEERS:
            peers_line(st, args, where)
            return
        if st.section == USERLIST:
            userlist_line(st, args, where)
            return
        if st.section == HTTP_ERRORS:
            http_errors_line(st, args, where)
            return
        if st.section is None:
            raise fail(where, f"unknown keyword '{kw}' out of section.")
        spec = lookup(kw, st.section, where)
        assert spec.handler is not None
        spec.handler(st, args, where)
        one_side = spec.side_of(args)
        if one_side is not None and st.section in ("frontend", "backend") and one_side[0] != st.section:
            # HAProxy says the same: the keyword is kept but has no effect on this side
            side, name = one_side
            st.warn(where, f"'{name}' ignored because {st.section} '{st.px().name}' has no {side} "
                           "capability.")

    def _listen(self, args: list[str], where: Where) -> None:
        st = self.st
        cap = args[0]
        if len(args) < 2 or args[1] == "":
            raise fail(
                where,
                f"'{cap}' expects an <id> argument and optionnally supports "
                "[addr1]:port1[-end1]{,[addr]:port[-end]}...",
            )
        if len(args) > 2 and args[2] == "from":
            what = f"'{cap} {args[1]} from' (inheriting a named defaults section)"
            raise not_supported(what, "2.5", where)
        if cap == "backend" and len(args) > 2:
            raise fail(
                where, f"'backend' : unexpected extra argument '{args[2]}' (a backend has no address)."
            )
        for other in self.config.proxies:
            # a frontend and a backend may share a name (HAProxy 1.3+), two of one side may not
            if other.name != args[1]:
                continue
            if _SIDES[other.cap] & _SIDES[cap]:
                raise fail(
                    where,
                    f"{cap} '{args[1]}' has the same name as {other.cap} '{other.name}' declared at "
                    f"{other.where.file}:{other.where.line}.",
                )
        if len(args) > 3:
            raise fail(
                where,
                f"'listen' : unexpected extra argument '{args[3]}' (expects <id> "
                "and optionally [addr1]:port1[-end1]{,[addr]:port[-end]}...).",
            )
        px = copy.deepcopy(st.defaults)
        px.name = args[1]
        px.cap = cap
        px.where = where
        px.binds, px.servers, px.rules = [], [], []
        px.acls, px.use_backends, px.http_rules = [], [], []
        if cap == "backend":
            px.default_backend = None
        px.dispatch = None
        px.tcpcheck_inherited = bool(px.tcpcheck_rules)  # a proxy's own `tcp-check` lines replace them
        px.appsession, px.appsession_len, px.appsession_timeout = None, 0, 0
        # header captures are not inherited in 1.2 (only the cookie capture is)
        px.captures = [c for c in px.captures if c.kind == "cookie"]
        if len(args) == 3:
            add_binds(px, args[2], where)
        elif looks_like_bind(args[1]):
            # `listen ADDR:PORT` with no name: the guide's form, which real 1.2.x rejected.
            add_binds(px, args[1], where)
            st.warn(
                where,
                f"proxy '{args[1]}' has no name: using its address as both the name "
                "and the listening address (HAProxy 1.2 expects 'listen <id> [addr]').",
            )
        self.config.proxies.append(px)
        st.section, st.proxy = cap, px
        st.seen = set()
        st.stats_detached = False

    # ------------------------------------------------------------------ validation
    def finish(self, files: list[str], allow_empty: bool = False) -> Config:
        """Post-parse checks. `allow_empty`: a file without proxies is valid (`-c`, as HAProxy 2.x
        says of Debian's default configuration); running one is still an error."""
        cfg = self.config
        cfg.files = list(files)
        for sec in cfg.peers:  # peers: as 2.6, a section without the local peer is dropped
            if not sec.disabled and sec.local() is None:
                cfg.warnings.append(f"[WARNING] Removing incomplete section 'peers {sec.name}' "
                                    f"(no peer named '{cfg.localpeer}').")
        if not cfg.proxies and allow_empty:
            return cfg
        if not cfg.proxies:
            raise ConfigError(files[-1] if files else "<string>", 0, "no <listen> line. Nothing to do !")
        for px in cfg.proxies:
            self._check_proxy(px)
            if px.tcpcheck_rules and not px.tcpcheck_inherited and px.tcpcheck != "tcp":
                cfg.warnings.append(f"[WARNING] {px.cap} '{px.name}' uses tcp-check rules without "
                                    "'option tcp-check', so the rules are ignored.")
            if (px.cap != "frontend" and px.load_server_state == "global"
                    and not cfg.global_.server_state_file):
                cfg.warnings.append(
                    f"[WARNING] backend '{px.name}' configured to load server state file from global section "
                    "'server-state-file' directive. Unfortunately, 'server-state-file' is not set!")
        self._check_switching(cfg)
        resolve_error_pages(cfg)
        check_stick_refs(cfg)
        resolve_tracks(cfg)
        check_userlists(cfg.userlists)
        return cfg

    def _check_switching(self, cfg: Config) -> None:
        """Resolve backend names: they must exist, have servers' side and the frontend's mode."""
        backends = {p.name: p for p in cfg.proxies if p.cap in ("backend", "listen")}
        for px in cfg.proxies:
            for u in px.use_servers if px.cap != "frontend" else []:
                if u.fmt is None and not any(sv.name == u.server for sv in px.servers):
                    kind = "listener" if px.cap == "listen" else px.cap
                    raise ConfigError(u.where.file, u.where.line, f"{kind} '{px.name}' : unable to find "
                                      f"server '{u.server}' referenced in a 'use-server' rule.")
            if px.cap == "backend":
                continue
            targets = [(r.backend, r.where) for r in px.use_backends if r.fmt is None]
            if px.default_backend is not None:
                targets.append((px.default_backend, px.where))
            for name, where in targets:
                be = backends.get(name)
                if be is None:
                    raise ConfigError(
                        where.file, where.line,
                        f"Proxy '{px.name}': unable to find required backend '{name}'.",
                    )
                if px.disabled or be.disabled:
                    continue
                if be.mode != px.mode and not (px.mode == "health" or be.mode == "health"):
                    raise ConfigError(
                        where.file, where.line,
                        f"{px.cap} '{px.name}' in {px.mode} mode cannot use backend '{name}' in "
                        f"{be.mode} mode (switching between modes is not supported).",
                    )
            if px.mode == "tcp":
                for r in px.use_backends:
                    for acl in self._cond_acls(px, r.cond):
                        if acl.expr is not None and acl.expr.http:
                            raise ConfigError(
                                r.where.file, r.where.line,
                                f"'use_backend' in {px.cap} '{px.name}' (mode tcp) uses ACL '{acl.name}' "
                                f"with the HTTP criterion '{acl.criterion}'; the request is not "
                                "analysed in mode tcp.",
                            )
            if px.http_rules and px.mode != "http":
                w = px.http_rules[0].where
                self.st.warn(w, f"'http-request' rules ignored for {px.cap} '{px.name}' (needs 'mode http').")
            if px.tcp_res_rules and px.mode == "http":
                # 2.6 runs them on the HTTP response before its analysis; pyhaproxy's HTTP
                # responses go straight to the HTTP analyser
                w = px.tcp_res_rules[0].where
                raise ConfigError(w.file, w.line, f"'tcp-response content' in {px.cap} '{px.name}' "
                                  "(mode http) is not supported by pyhaproxy (only in mode tcp).")
            if px.tcp_res_rules and px.cap == "frontend":
                w = px.tcp_res_rules[0].where
                self.st.warn(w, f"'tcp-response content' rules of frontend '{px.name}' are never "
                             "evaluated (a backend's rules apply to its responses).")

    @staticmethod
    def _cond_acls(px: Proxy, cond: Condition | None) -> list[Acl]:
        if cond is None:
            return []
        names = {n for g in cond.groups for _neg, n in g}
        return [a for a in px.acls if a.name in names]

    def _check_proxy(self, px: Proxy) -> None:
        where = px.where

        def err(msg: str) -> ConfigError:
            return ConfigError(where.file, where.line, msg)

        def config_warn(msg: str) -> None:      # (2.6's warnings of the whole proxy: no line)
            self.st.config.warnings.append(f"[WARNING] config : {msg}")

        # how 2.6's messages name it (proxy_type_str): a listen is a 'proxy'
        kind = {"frontend": "frontend", "backend": "backend"}.get(px.cap, "proxy")

        if px.balance == "hash" and px.cap != "frontend":
            # 2.6 parses the expression once the proxy is read, and names the proxy's line
            try:
                px.balance_expr = sample.parse_sample(px.balance_expr_text)
                px.balance_expr.check_side("req")
            except sample.SampleError as e:
                raise err(f"proxy '{px.name}': failed to parse 'balance hash' expression "
                          f"'{px.balance_expr_text}' in : {e}.") from None
            if px.mode != "http":
                raise err(f"proxy '{px.name}': 'balance hash' outside 'mode http' is not supported "
                          "(it is a keyword of HAProxy 2.6).")

        def warn(msg: str) -> None:
            self.st.warn(where, msg)

        for srv in px.servers:
            if srv.proto_h2 and px.mode != "http" and not px.disabled:
                raise ConfigError(srv.where.file, srv.where.line,
                                  f"{px.cap} '{px.name}' : MUX protocol 'h2' is not usable for server "
                                  f"'{srv.name}' (needs 'mode http').")
            # HAProxy 1.2: "if only <minconn> is specified, it has the same effect as <maxconn>"
            if srv.minconn and srv.minconn >= srv.maxconn:
                srv.maxconn, srv.minconn = srv.minconn, 0
        if px.disabled:
            return
        if px.cap == "frontend" or px.cap == "backend":
            if px.cap == "frontend" and not px.binds:
                raise err(f"frontend '{px.name}' has no 'bind' directive. Please declare it as a backend "
                          "if this was intended.")
            no_route = px.default_backend is None and not px.use_backends
            if px.cap == "frontend" and px.mode != "health" and no_route:
                warn(f"frontend '{px.name}' has no default_backend nor use_backend rule: every request "
                     "will get a 503.")
        elif not px.binds:
            raise err(
                f"listener {px.name} has no listen address. Please either specify a valid "
                "address on the <listen> line, or use the <bind> keyword."
            )
        elif (px.mode != "health" and not px.servers and px.dispatch is None and not px.transparent
              and not (px.mode == "http" and px.stats.enabled) and px.default_backend is None
              and not px.use_backends
              and any(b.where.line == where.line and b.where.file == where.file for b in px.binds)):
            # (a `listen` serving only the stats page, or switching to backends, is valid in 1.3+;
            # a 2.x one, its addresses on `bind` lines, needs no server at all: 2.6 accepts it and
            # answers 503 to what its rules do not answer themselves)
            raise err(
                f"listener {px.name} has no dispatch address and is not in transparent or balance mode."
            )
        if px.mode != "health" and px.servers and px.dispatch is not None and px.balance_explicit:
            warn(f"dispatch address of listener {px.name} will be ignored in balance mode.")
        if px.cap != "backend" and px.mode in ("tcp", "http") and not px.logs \
                and not (px.log_global and self.st.config.global_.logs) \
                and (px.log_format is not None or px.options & {"httplog", "tcplog"}):
            # 2.6 (cfgparse.c): a frontend with a log format and nowhere to send it
            config_warn(f"log format ignored for {kind} '{px.name}' since it has no log address.")
        if px.mode in ("tcp", "http") and (
                (px.cap != "backend" and not px.clitimeout)
                or (px.cap != "frontend" and px.servers and (
                    not px.contimeout
                    or (not px.srvtimeout and (px.mode == "http" or not px.tunneltimeout))))):
            # 2.6 (cfgparse.c), at start-up and with -c
            config_warn(
                f"missing timeouts for {kind} '{px.name}'.\n"
                "   | While not properly invalid, you will certainly encounter various problems\n"
                "   | with such a configuration. To fix this, please ensure that all following\n"
                "   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.")
        if "tcp-fastpath" in px.options and px.mode != "tcp":
            # (2.6 ignores an option of the other mode the same way: "'option httpclose' ignored
            # for proxy 'x' as it requires HTTP mode.")
            warn(f"'option tcp-fastpath' ignored for proxy '{px.name}' as it requires TCP mode.")
            px.options.discard("tcp-fastpath")
        if "http-buffer-request" in px.options and px.mode != "http":
            warn(f"'option http-buffer-request' ignored for {kind} '{px.name}' as it requires HTTP mode.")
            px.options.discard("http-buffer-request")
        if px.mode in ("tcp", "health"):
            if px.cookie is not None:
                warn(f"cookie will be ignored for listener {px.name}.")
            if any(r.direction == "rsp" for r in px.rules):
                warn(f"server regular expressions will be ignored for listener {px.name}.")
            if any(r.direction == "req" for r in px.rules):
                warn(f"client regular expressions will be ignored for listener {px.name}.")
            if px.monitor_uri is not None:
                warn(f"'monitor-uri' will be ignored for listener {px.name} (needs 'mode http').")
            if "httplog" in px.options:
                warn(
                    f"'option httplog' not usable with listener {px.name} (needs 'mode http'). "
                    "Falling back to 'option tcplog'."
                )
                px.options.discard("httplog")
                px.options.add("tcplog")
                if px.log_format == parse_log_format(HTTPLOG_CLF):
                    px.log_format = None        # (`option httplog clf` falls back the same way)
            if px.appsession is not None:
                warn(f"'appsession' will be ignored for listener {px.name} (needs 'mode http').")
        elif px.mode == "http" and px.cap == "listen":
            if px.cookie is not None and not px.servers:
                raise err(f"HTTP proxy {px.name} has a cookie but no server list !")


# A configuration is text an operator wrote: far below these. They bound what a mistaken
# `-f /dev/zero` or a runaway generator can make the master read into memory.
MAX_CONFIG_BYTES = 64 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024


def parse_text(text: str, filename: str = "<string>", allow_empty: bool = False,
               ctx: Context | None = None) -> Config:
    """Parse configuration text; raise ConfigError on the first error."""
    p = Parser(ctx)
    p.feed_text(text, filename)
    return p.finish([filename], allow_empty)


def read_config_file(path: str) -> str:
    """The text of one configuration file: a regular file, a FIFO (`-f /dev/stdin` from a pipe), a
    terminal (`-f /dev/stdin` typed in) or /dev/null; read with a bound on the file's and each
    line's size. Any other device (`/dev/zero`, `/dev/urandom`) would be read without end."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        raise ConfigError(
            path,
            0,
            f"could not open configuration file '{path}': {reason}",
            alert=f"[ALERT] could not open configuration file '{path}': {reason}",
        ) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        readable = stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode) or os.isatty(fd)
        if not (readable or os.path.realpath(path) == "/dev/null"):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a device or socket"
            raise ConfigError(path, 0, f"'{path}' is {kind}, not a regular file: refusing to read it.")
        data = f.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(path, 0, f"configuration file larger than {MAX_CONFIG_BYTES} bytes: "
                          "refusing to read it.")
    start = num = 0
    for num, end in enumerate(_line_ends(data), start=1):
        if end - start > MAX_LINE_BYTES:
            raise ConfigError(path, num, f"line longer than {MAX_LINE_BYTES} bytes.")
        start = end + 1
    if data and not data.endswith(b"\n"):
        # 2.6 refuses a last line without its LF: the file may have been cut short (written
        # half by a deploy, a full disk). The position is the column after its last byte.
        column = len(data) - data.rfind(b"\n")
        why = f"Missing LF on last line, file might have been truncated at position {column}."
        raise ConfigError(path, num, why, alert=f"[ALERT] parsing [{path}:{num}]: {why}")
    return data.decode("latin-1")


def _line_ends(data: bytes) -> list[int]:
    ends = []
    i = data.find(b"\n")
    while i >= 0:
        ends.append(i)
        i = data.find(b"\n", i + 1)
    ends.append(len(data))
    return ends


def parse_files(paths: list[str], allow_empty: bool = False, ctx: Context | None = None) -> Config:
    """Parse the files in order as one concatenated configuration (several `-f`)."""
    if not paths:
        raise ConfigError(None, 0, "no configuration file specified.")
    files = expand_directories(paths)
    p = Parser(ctx)
    for path in files:
        p.feed_text(read_config_file(path), path)
    return p.finish(files, allow_empty)


def expand_directories(paths: list[str]) -> list[str]:
    """`-f DIR` stands for the regular files of DIR named `*.cfg`, hidden ones excepted, in name
    order (HAProxy 1.7+, management guide section 3): an `a.cfg.cfg` is skipped as 2.6 skips it."""
    out: list[str] = []
    for path in paths:
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except OSError:
            is_dir = False  # read_config_file names the error
        if not is_dir:
            out.append(path)
            continue
        try:
            names = sorted(os.listdir(path))
        except OSError as e:
            why = f"Cannot open configuration directory {path} : {os.strerror(e.errno or 0)}"
            raise ConfigError(path, 0, why, alert=f"[ALERT] {why}") from None
        for name in names:
            if name.startswith(".") or name.find(".cfg") != len(name) - 4:
                continue
            full = os.path.join(path, name)
            try:
                if stat.S_ISREG(os.stat(full).st_mode):
                    out.append(full)
            except OSError:
                continue
    return out
