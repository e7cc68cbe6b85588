"""Statistics: rows gathered from the configuration, shared memory and psutil, and their renderings.

- collect.py    one snapshot (process info + FRONTEND / server / BACKEND rows per proxy), counters
                summed over every worker
- csv.py        HAProxy's CSV (`show stat`, `<stats uri>;csv`), HAProxy 2.6's column names and order
- html.py       the stats page (one table per proxy, one row per server, colours by state)
- prometheus.py text exposition with the metric names of HAProxy's exporter (`<stats uri>;prometheus`)
- socket.py     `stats socket PATH [mode M] [level L]`: the CLI (show info/stat, enable/disable
                server, get/set weight, help), and the non-blocking unix-server plumbing
- http.py       the master's internal HTTP server: the workers relay `stats uri` requests to it

`StatsService` owns both servers for the master: `configure(cfg)` (before each generation of
workers forks) opens or re-opens them and publishes the internal server's address in
`cfg.global_.tune[STATS_SOCK_KEY]`; `tick(now)` samples the counters for the rates (rates.py)
once a second and expires idle connections; `close()` at exit.
Everything runs inside the master's selector loop, never blocking it.
"""

from __future__ import annotations

import contextlib
import selectors
import time
from collections.abc import Callable

from pyhaproxy.config.model import Config
from pyhaproxy.stats.collect import Snapshot, View, collect, proxy_sums
from pyhaproxy.stats.http import InternalHttpServer
from pyhaproxy.stats.rates import SAMPLE_EVERY, RateMeter, counters_of, srv_sessions
from pyhaproxy.stats.socket import CliServer, StatsSocketError

# The tune key the worker compiler reads (pyhaproxy/worker.py: tables["stats_sock"]).
STATS_SOCK_KEY = "__stats_sock"
STATS_ADMIN_KEY = "__stats_admin_key"   # (pyhaproxy/worker.py reads it as the plan's stats_admin_key)
PROMEX_SOCK_KEY = "__promex_sock"  # `http-request use-service prometheus-exporter` (promex_sock)

__all__ = ["STATS_SOCK_KEY", "Snapshot", "StatsService", "StatsSocketError", "View", "collect"]


class StatsService:
    """The master's stats servers: the `stats socket` CLI and the internal HTTP server."""

    def __init__(
        self,
        selector: selectors.BaseSelector,
        get_view: Callable[[], View | None],
        notify: Callable[[str], None] | None = None,
        exported: Callable[[], list[tuple[int, str, str]]] | None = None,
    ) -> None:
        self.selector = selector
        self.exported = exported  # the master's listening sockets, for `expose-fd listeners`
        self.get_view = get_view
        self.notify = notify
        self.started = time.time()
        self.clis: list[CliServer] = []  # one per `stats socket` line
        self.http: InternalHttpServer | None = None
        self.promex: InternalHttpServer | None = None
        self.rates = RateMeter()    # the last second's rates (rates.py), sampled on tick()
        self._sample_due = 0.0

    def configure(self, cfg: Config) -> None:
        """Before forking workers for `cfg`. Raises StatsSocketError if the socket cannot bind."""
        g = cfg.global_
        timeout = max(0.1, g.stats_timeout / 1000.0)
        keep: list[CliServer] = []
        for conf in g.stats_sockets:
            cli = next((c for c in self.clis if c.same_as(conf) and c not in keep), None)
            if cli is None:
                cli = CliServer(self.selector, conf, self.get_view, maxconn=g.stats_maxconn,
                                timeout=timeout, notify=self.notify, exported=self.exported)
            cli.timeout = timeout
            cli.maxconn = max(1, g.stats_maxconn)
            keep.append(cli)
        for cli in self.clis:
            if cli not in keep:
                cli.close()
        self.clis = keep
        wanted = any(p.stats.enabled and p.mode == "http" and not p.disabled for p in cfg.proxies)
        if wanted and self.http is None:
            self.http = InternalHttpServer(self.selector, self.get_view, notify=self.notify)
        if self.http is not None:
            g.tune[STATS_SOCK_KEY] = self.http.name
            g.tune[STATS_ADMIN_KEY] = self.http.admin_key
        else:
            g.tune.pop(STATS_SOCK_KEY, None)
        promex = any(r.action == "use-service" for p in cfg.proxies for r in p.http_rules)
        if promex and self.promex is None:
            self.promex = InternalHttpServer(self.selector, self.get_view, service="prometheus-exporter")
        if self.promex is not None:
            g.tune[PROMEX_SOCK_KEY] = self.promex.name
        else:
            g.tune.pop(PROMEX_SOCK_KEY, None)

    def next_sample(self) -> float:
        """When the rates want their next sample (monotonic time): the master's loop wakes up for
        it, else a sample could come seconds late and a burst be averaged over the gap."""
        return self._sample_due

    def tick(self, now: float) -> None:
        if now >= self._sample_due and self.rates.due(now):
            self._sample_due = now + SAMPLE_EVERY
            view = self.get_view()
            if view is not None:
                # (a generation being retired may have unmapped its memory: the sample is
                # skipped, never the master's loop)
                with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
                    self.rates.sample(now, view.shm, counters_of(view, proxy_sums), srv_sessions(view.shm))
        for srv in (*self.clis, self.http, self.promex):
            if srv is not None:
                srv.tick(now)

    def close(self) -> None:
        for srv in (*self.clis, self.http, self.promex):
            if srv is not None:
                with contextlib.suppress(Exception):
                    srv.close()
        self.clis = []
        self.http = None
        self.promex = None
