"""The state the keyword handlers share while one configuration is read, and the section names.

`State` carries the model being filled and the "already specified" bookkeeping; `Handler` is
the signature of every keyword handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .model import (
    Config,
    Proxy,
    Server,
    Where,
)
from .values import fail

GLOBAL = "global"

DEFAULTS = "defaults"

LISTEN = "listen"

FRONTEND = "frontend"

BACKEND = "backend"

PROXY_SECTIONS = frozenset({DEFAULTS, LISTEN, FRONTEND, BACKEND})

ALL_SECTIONS = frozenset({GLOBAL, DEFAULTS, LISTEN, FRONTEND, BACKEND})

# Sections of later HAProxy versions: recognised so the error can say "not supported yet".
UNSUPPORTED_SECTIONS = {
    "ruleset": "1.3",
    "resolvers": "1.6",
    "mailers": "1.6",
    "program": "1.9",
    "cache": "1.8",
    "ring": "2.2",
    "log-forward": "2.3",
    "fcgi-app": "2.1",
    "crt-store": "3.0",
    "traces": "3.1",
}


@dataclass
class State:
    """Everything the handlers share while one configuration is being read."""

    config: Config
    section: str | None = None
    proxy: Proxy | None = None  # the `defaults`, `listen`, `frontend` or `backend` being filled
    defaults: Proxy = field(default_factory=lambda: Proxy(name=""))
    seen: set[str] = field(default_factory=set)  # "already specified" tracking, per section
    global_seen: set[str] = field(default_factory=set)
    stats_detached: bool = False  # a listen's first `stats` line drops the inherited settings
    http_errors_name: str = ""  # the `http-errors` section being read
    env: Any = None  # the environment `"${VAR}"` expands from (setenv & co change it); None: os.environ
    anon_acls: int = 0  # numbering of anonymous `{ ... }` ACLs
    server_names: dict[int, dict[str, Server]] = field(default_factory=dict)  # per proxy (by id)

    def warn(self, where: Where, message: str) -> None:
        self.config.warnings.append(f"[WARNING] parsing [{where.file}:{where.line}] : {message}")

    def px(self) -> Proxy:
        assert self.proxy is not None
        return self.proxy

    @property
    def in_defaults(self) -> bool:
        return self.section == DEFAULTS


Handler = Callable[[State, list[str], Where], None]


def once(st: State, key: str, where: Where) -> bool:
    """HAProxy 1.2 keeps the first value of these keywords and alerts (non-fatally) on repeats."""
    seen = st.global_seen if st.section == GLOBAL else st.seen
    if key in seen:
        st.warn(where, f"'{key}' already specified. Continuing.")
        return False
    seen.add(key)
    return True


def defaults_forbidden(st: State, args: list[str], where: Where, label: str | None = None) -> None:
    if st.in_defaults:
        raise fail(where, f"'{label or args[0]}' not allowed in 'defaults' section.")
