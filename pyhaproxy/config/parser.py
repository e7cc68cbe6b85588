"""Words -> model: sections, `defaults` inheritance and HAProxy 1.2's post-parse checks.

Sections are `global`, `defaults` and `listen`, as in HAProxy 1.x. A `defaults` section resets
the defaults and every following `listen` starts as a copy of them (servers, header rules and
binds are never inherited). The first error stops parsing, as HAProxy 1.2 does, and is raised as
a ConfigError carrying file and line. Warnings are collected in Config.warnings.
"""

from __future__ import annotations

import copy
import os

from . import keywords as K
from .lexer import ConfigError, Line, tokenize
from .model import Config, Proxy, Where


def _new_defaults() -> Proxy:
    return Proxy(name="")


class Parser:
    """Feeds tokenized lines through the keyword table into one Config."""

    def __init__(self) -> None:
        self.config = Config()
        self.st = K.State(config=self.config, defaults=_new_defaults())

    # ------------------------------------------------------------------ sections
    def feed(self, line: Line) -> None:
        where = Where(line.file, line.line)
        args = line.words
        kw = args[0]
        st = self.st
        if kw == "global":
            if len(args) > 1:
                raise K.fail(where, "'global' expects no argument.")
            st.section, st.proxy = K.GLOBAL, None
            return
        if kw == "defaults":
            # "The 'defaults' keyword ignores everything on its command line"
            st.defaults = _new_defaults()
            st.defaults.where = where
            st.section, st.proxy = K.DEFAULTS, st.defaults
            st.seen = set()
            return
        if kw == "listen":
            self._listen(args, where)
            return
        if kw in K.UNSUPPORTED_SECTIONS:
            raise K.not_supported(f"section '{kw}'", K.UNSUPPORTED_SECTIONS[kw], where)
        if st.section is None:
            raise K.fail(where, f"unknown keyword '{kw}' out of section.")
        spec = K.lookup(kw, st.section, where)
        assert spec.handler is not None
        spec.handler(st, args, where)

    def _listen(self, args: list[str], where: Where) -> None:
        st = self.st
        if len(args) < 2 or args[1] == "":
            raise K.fail(
                where,
                "'listen' expects an <id> argument and optionnally supports "
                "[addr1]:port1[-end1]{,[addr]:port[-end]}...",
            )
        if len(args) > 3:
            raise K.fail(
                where,
                f"'listen' : unexpected extra argument '{args[3]}' (expects <id> "
                "and optionally [addr1]:port1[-end1]{,[addr]:port[-end]}...).",
            )
        px = copy.deepcopy(st.defaults)
        px.name = args[1]
        px.where = where
        px.binds, px.servers, px.rules = [], [], []
        px.dispatch = None
        px.appsession, px.appsession_len, px.appsession_timeout = None, 0, 0
        # header captures are not inherited in 1.2 (only the cookie capture is)
        px.captures = [c for c in px.captures if c.kind == "cookie"]
        if len(args) == 3:
            K.add_binds(px, args[2], where)
        elif K.looks_like_bind(args[1]):
            # `listen ADDR:PORT` with no name: the guide's form, which real 1.2.x rejected.
            K.add_binds(px, args[1], where)
            st.warn(
                where,
                f"proxy '{args[1]}' has no name: using its address as both the name "
                "and the listening address (HAProxy 1.2 expects 'listen <id> [addr]').",
            )
        self.config.proxies.append(px)
        st.section, st.proxy = K.LISTEN, px
        st.seen = set()
        st.stats_detached = False

    # ------------------------------------------------------------------ validation
    def finish(self, files: list[str]) -> Config:
        cfg = self.config
        cfg.files = list(files)
        if not cfg.proxies:
            raise ConfigError(files[-1] if files else "<string>", 0, "no <listen> line. Nothing to do !")
        for px in cfg.proxies:
            self._check_proxy(px)
        return cfg

    def _check_proxy(self, px: Proxy) -> None:
        where = px.where

        def err(msg: str) -> ConfigError:
            return ConfigError(where.file, where.line, msg)

        def warn(msg: str) -> None:
            self.st.warn(where, msg)

        for srv in px.servers:
            # HAProxy 1.2: "if only <minconn> is specified, it has the same effect as <maxconn>"
            if srv.minconn and srv.minconn >= srv.maxconn:
                srv.maxconn, srv.minconn = srv.minconn, 0
        if px.disabled:
            return
        if not px.binds:
            raise err(
                f"listener {px.name} has no listen address. Please either specify a valid "
                "address on the <listen> line, or use the <bind> keyword."
            )
        if px.mode != "health" and not px.servers and px.dispatch is None and not px.transparent:
            raise err(
                f"listener {px.name} has no dispatch address and is not in transparent or balance mode."
            )
        if px.mode != "health" and px.servers and px.dispatch is not None and px.balance_explicit:
            warn(f"dispatch address of listener {px.name} will be ignored in balance mode.")
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
            if px.appsession is not None:
                warn(f"'appsession' will be ignored for listener {px.name} (needs 'mode http').")
        elif px.mode == "http":
            if px.cookie is not None and not px.servers:
                raise err(f"HTTP proxy {px.name} has a cookie but no server list !")


def parse_text(text: str, filename: str = "<string>") -> Config:
    """Parse configuration text; raise ConfigError on the first error."""
    p = Parser()
    for line in tokenize(text, filename):
        p.feed(line)
    return p.finish([filename])


def parse_files(paths: list[str]) -> Config:
    """Parse the files in order as one concatenated configuration (several `-f`)."""
    if not paths:
        raise ConfigError(None, 0, "no configuration file specified.")
    p = Parser()
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            raise ConfigError(
                path,
                0,
                f"could not open configuration file '{path}': {reason}",
                alert=f"[ALERT] could not open configuration file '{path}': {reason}",
            ) from None
        for line in tokenize(data.decode("latin-1"), path):
            p.feed(line)
    return p.finish(list(paths))
