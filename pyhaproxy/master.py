"""The master process: after start-up, forks the workers, then only handles signals and children.

Start-up (bind, pidfile, RLIMIT_NOFILE, daemonize) is startup.py; `Master.run` calls it, then
creates the shared memory, forks ``nbproc`` workers, starts the health checks, writes the pidfile,
sends SIGUSR1 (-sf) or SIGTERM (-st) to the old pids and enters its loop.

The loop (gunicorn's arbiter shape) is one selector: a wakeup fd for signals, the health-check
sockets, and timers. Signals:

- SIGUSR1: soft stop. Forwarded to the workers (they stop accepting and finish their sessions);
  the master closes its copies of the listening sockets, stops respawning, and exits 0 once the
  last worker is gone.
- SIGTTOU / SIGTTIN: forwarded; the workers pause / resume the (shared) listening sockets.
- SIGTERM / SIGINT: SIGTERM forwarded, stragglers SIGKILLed after 5 s, then exit.
- SIGHUP: server states logged; SIGQUIT: per-proxy counters logged.
- SIGCHLD: workers reaped; one that died abnormally while not stopping is respawned, so that
  nbproc workers keep running.
- SIGUSR2 with -W / ``master-worker``: the configuration is read again; if it parses, a new
  generation of workers starts with the new configuration (reusing the sockets of unchanged
  listeners) and, once it has run SETTLE_TIME, the old generation gets SIGUSR1. If the config does
  not parse, or a new worker dies while settling, the alert is logged and the old workers go on.

The pidfile holds the master's pid only (see startup.py).

chroot, uid and gid are applied by each worker, not here; the master never touches traffic.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import selectors
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from pyhaproxy import server_state
from pyhaproxy._core import srv_state
from pyhaproxy.config.model import Config, Proxy
from pyhaproxy.listeners import BindError, Listener, ListenerKey, bind_all, iter_binds
from pyhaproxy.logs import LOG_NOTICE, LOG_WARNING, MasterLog
from pyhaproxy.sdnotify import Notifier
from pyhaproxy.sockxfer import ListenerExport
from pyhaproxy.startup import (
    Options,
    Startup,
    StartupFailed,
    apply_options,
    compute_maxsock,
    devnull_on,
    load_config,
    nothing_listens,
    progname,
)

HealthChecker: Any
try:
    from pyhaproxy.checks import HealthChecker
except ImportError:  # checks are optional for the master to run
    HealthChecker = None

KILL_TIMEOUT = 5.0  # SIGTERM -> SIGKILL for workers that do not exit
SETTLE_TIME = 0.2  # a worker dying this soon after start fails the start-up
RESPAWN_MIN_LIFE = 1.0  # a worker that lived less than this is respawned after RESPAWN_DELAY
RESPAWN_DELAY = 1.0
MAX_WAIT = 5.0  # longest selector sleep; children are also reaped at every wake-up


HANDLED_SIGNALS = (
    signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTOU, signal.SIGTTIN, signal.SIGTERM,
    signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD,
)  # fmt: skip
# The worker takes these through its signalfd: they stay blocked across fork so none is lost.
WORKER_SIGNALS = (signal.SIGUSR1, signal.SIGTTOU, signal.SIGTTIN, signal.SIGTERM, signal.SIGINT)
PR_SET_PDEATHSIG = 1


def tls_session_cache(cfg: Config) -> Any:
    """The TLS session cache a generation's workers share (2.6's shared cache, `tune.ssl.cachesize`
    entries, 0 none), when one of its binds has TLS; None otherwise."""
    from pyhaproxy import _core
    from pyhaproxy.config.kw_global import SSL_CACHESIZE

    if not any(getattr(b, "tls", None) is not None for px in cfg.proxies for b in px.binds):
        return None
    n = int(cfg.global_.tune.get("ssl.cachesize", SSL_CACHESIZE))
    return _core.TlsCache(n) if n > 0 else None


def tcp_fastpath(cfg: Config, warn: Callable[[str], None]) -> Any:
    """The kernel side of `option tcp-fastpath` a generation's workers share (ext/sockmap.pxi):
    loaded once, here, before fork (the workers inherit its fds and may have dropped the
    privileges it needs). None when no proxy asks for it, or when the kernel refuses: then one
    warning, and those proxies relay through the epoll loop as without the option."""
    from pyhaproxy import _core

    if not any("tcp-fastpath" in px.options and not px.disabled for px in cfg.proxies):
        return None
    entries = min(1 << 20, 2 * max(1, cfg.global_.maxconn) * max(1, cfg.global_.nbproc))
    try:
        if os.environ.get("PYHAPROXY_TEST_SOCKMAP_FAIL"):    # tests/e2e/test_tcp_fastpath.py
            raise OSError(errno.EPERM, "refused for the test (PYHAPROXY_TEST_SOCKMAP_FAIL)")
        return _core.Sockmap(entries)
    except OSError as e:
        warn(f"'option tcp-fastpath': the kernel's sockmap is not available ({e.strerror}); "
             "TCP sessions are relayed by the worker.")
        return None


@dataclass
class Generation:
    """One set of workers sharing a configuration and a shared-memory region."""

    number: int
    cfg: Config
    listeners: list[Listener]
    shm: Any
    slots: list[int | None]
    started: list[float]
    checker: Any = None
    maps: Any = None  # pyhaproxy.runtime_maps.RuntimeMaps: `add map`... on the stats socket
    stopping: bool = False
    # readiness: each worker writes one byte once its tables are built, just before its loop
    ready_r: int = -1
    ready_w: int = -1
    ready: int = 0
    tls_cache: Any = None  # _core.TlsCache: the TLS session cache its workers share
    tls_contexts: Any = None  # _core.TlsContexts: its TLS contexts, built here before fork
    sockmap: Any = None  # _core.Sockmap: `option tcp-fastpath`'s SOCKHASH and program

    def all_ready(self) -> bool:
        return self.ready >= len(self.slots)

    def live(self) -> list[int]:
        return [p for p in self.slots if p is not None]


@dataclass
class _Respawn:
    due: float
    gen: Generation
    idx: int


@dataclass
class _PendingReload:
    """A -W reload whose new generation is still settling (SETTLE_TIME).

    The old generation is only told to stop once the new one has run that long, so that a
    configuration which parses but whose workers cannot start (a missing chroot directory, an
    unknown user...) leaves the running workers serving instead of taking the service down.
    """

    gen: Generation
    old: list[Generation]
    new_bound: dict[ListenerKey, Listener]
    prev_cfg: Config
    due: float


@dataclass
class _State:
    stopping: str = ""  # "", "soft" or "hard"
    kill_deadline: float | None = None
    ready: bool = False  # start-up completed (parent notified)
    startup_failed: bool = False
    respawns: list[_Respawn] = field(default_factory=list)
    pending: _PendingReload | None = None
    reload_again: bool = False  # SIGUSR2 received while a reload was settling
    hard_stops: list[tuple[float, Generation]] = field(default_factory=list)  # hard-stop-after


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by signal {sig} ({name})" + (", core dumped" if os.WCOREDUMP(status) else "")
    if os.WIFEXITED(status):
        return f"exit status {os.WEXITSTATUS(status)}"
    return f"status {status}"


def _abnormal(status: int) -> bool:
    return os.WIFSIGNALED(status) or (os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0)


class Master:
    """The arbiter. ``Master(cfg, opts).run()`` returns the process exit code."""

    def __init__(self, cfg: Config, opts: Options) -> None:
        self.cfg = cfg
        self.opts = opts
        self.name = progname()
        g = cfg.global_
        # during start-up alerts always show (HAProxy's MODE_STARTING); warnings follow quiet
        self.quiet = bool(g.quiet) and not opts.verbose
        self.log = MasterLog(g, quiet=self.quiet, verbose=opts.verbose)
        self.log.starting = True
        self.startup = Startup(cfg, opts, self.log)
        self._run_worker: Any = None
        self.bound: dict[ListenerKey, Listener] = {}
        self.gens: list[Generation] = []
        self.pids: dict[int, tuple[Generation, int]] = {}
        self.st = _State()
        self.selector: selectors.BaseSelector | None = None
        self._wake_r = -1
        self._wake_w = -1
        self._gen_counter = 0
        self._stats: Any = None  # stats hook: pyhaproxy.stats.StatsService, made with the first generation
        self.notifier = Notifier(opts.sd_notify)  # -Ws: systemd's READY=1 / RELOADING=1 / STOPPING=1
        self._mcli: list[Any] = []  # -S: pyhaproxy.master_cli.MasterCliServer
        self.peers: Any = None  # peers: pyhaproxy.peers.service.PeersService, with `peers` sections
        self._purge_due = 0.0   # stick tables: the next purge of expired entries
        self._peers_tables: object = None  # the proxies' tables the peers links serve
        self._started_at = time.time()
        self._reloads = 0
        self._export: ListenerExport | None = None  # `_getsocks` for plain `-sf` (sockxfer.py)

    # ------------------------------------------------------------------------------------------
    # start-up
    # ------------------------------------------------------------------------------------------
    def run(self) -> int:
        rc, listeners = self.startup.begin()
        if rc is not None:
            return rc
        if self.startup.daemon:
            self.quiet = True
        for lst in listeners:
            self.bound[lst.key] = lst
        return self._serve(listeners)

    # ------------------------------------------------------------------------------------------
    # the loop
    # ------------------------------------------------------------------------------------------
    def _serve(self, listeners: list[Listener]) -> int:
        self.log.update_pid()
        self.selector = selectors.DefaultSelector()
        self._setup_signals()
        try:
            self._start_master_cli()  # before the workers, as haproxy: usable as soon as they serve
            self._start_export()
            self._start_peers()
            gen = self._new_generation(self.cfg, listeners)
        except StartupFailed:
            return self._startup_failed()
        # let the workers drop privileges and start: one dying now fails the whole start-up
        settle_end = time.monotonic() + SETTLE_TIME
        while not self.st.startup_failed and not self.st.stopping:
            now = time.monotonic()
            if now >= settle_end and gen.all_ready():
                break
            wait = self._timeout(now) if now >= settle_end else min(settle_end - now, self._timeout(now))
            self._loop_once(wait)
        if self.st.startup_failed:
            return self._startup_failed()
        try:
            self.startup.write_pidfile()
        except StartupFailed:
            return self._startup_failed()
        if self.opts.oldpids:
            self.startup.tell_old_pids(self.opts.oldpids_sig)
        # (HAProxy up to 2.2 logged "Proxy NAME started." here; 2.3 dropped it, and 2.6 says nothing)
        self.st.ready = True
        self.notifier.ready()
        if self.startup.daemon:
            sys.stdout.flush()
            sys.stderr.flush()
            devnull_on((1, 2))
        self.startup.notify_parent(True)
        self.log.quiet = self.quiet
        self.log.starting = False  # from now on quiet mode silences alerts too
        self._reload_again()  # a SIGUSR2 that came while the first workers were settling
        while True:
            if not self.pids and (self.st.stopping or not self.st.respawns):
                break
            self._loop_once(self._timeout(time.monotonic()))
        self._shutdown()
        return 0

    def _startup_failed(self) -> int:
        self._hard_stop(log=False)
        while self.pids:
            self._loop_once(self._timeout(time.monotonic()))
        self.startup.remove_unwritten_pidfile()
        if self.opts.oldpids:
            self.startup.tell_old_pids(signal.SIGTTIN)
        self.startup.notify_parent(False)
        self._shutdown()
        return 1

    def _start_master_cli(self) -> None:
        """-S SOCKET: the master CLI (master_cli.py), bound once the workers serve."""
        from pyhaproxy.master_cli import MasterCliServer, parse_master_cli
        from pyhaproxy.stats import StatsSocketError

        assert self.selector is not None
        for spec in self.opts.master_cli:
            try:
                self._mcli.append(MasterCliServer(self.selector, parse_master_cli(spec), self._processes,
                                                  self._cli_reload, self._stats_view, self.log.notice))
            except (StatsSocketError, ValueError) as e:
                self.log.alert(f"Master CLI: {e}", syslog=False)
                raise StartupFailed from None

    def _start_peers(self) -> None:
        """peers: the stick-table links of the `peers` sections, on this loop (docs: Peers)."""
        if not self.cfg.peers:
            return
        from pyhaproxy.peers.service import PeersService
        from pyhaproxy.peers.shmstore import proxy_tables, section_table

        assert self.selector is not None
        extra = proxy_tables(self.cfg)
        self.peers = PeersService(self.cfg, extra=extra, section_table=section_table)
        self._peers_tables = _tables_signature(extra)
        for eng in self.peers.engines:
            try:
                eng.attach(self.selector)
            except OSError as e:
                loc = eng.local
                addr = f"{loc.host}:{loc.port}" if loc is not None else "?"
                self.log.alert(f"Starting peers {eng.section}: cannot bind socket ({e.strerror}) [{addr}]",
                               syslog=False)
                raise StartupFailed from None

    def _reload_peers(self, cfg: Config) -> None:
        """peers: a reload that changes the peers sections restarts their links; the tables
        of the same section, name and shape keep their entries (the master outlives reloads,
        so 2.6's hand-over from the old process to the new one is not needed)."""
        from pyhaproxy.peers.service import PeersService
        from pyhaproxy.peers.shmstore import proxy_tables, section_table

        old = self.peers
        extra = proxy_tables(cfg)
        if old is not None and old.signature == PeersService.signature_of(cfg) and \
                self._peers_tables == _tables_signature(extra):
            return
        if old is not None:
            old.close()
        self.peers = None
        if not cfg.peers:
            return
        self.peers = PeersService(cfg, keep=old.stores if old is not None else None, extra=extra,
                                  section_table=section_table)
        self._peers_tables = _tables_signature(extra)
        assert self.selector is not None
        for eng in self.peers.engines:
            try:
                eng.attach(self.selector)
            except OSError as e:
                self.log.alert(f"Starting peers {eng.section}: cannot bind socket ({e.strerror})")

    def _processes(self) -> tuple[Any, list[Any], list[Any]]:
        """For `show proc`: the master, the current generation's workers, the leaving ones."""
        from pyhaproxy.master_cli import ProcInfo

        master = ProcInfo(os.getpid(), "master", self._reloads, self._started_at)
        cur = self._current()
        last = cur.number if cur is not None else 0

        def infos(gens: list[Generation]) -> list[ProcInfo]:
            out = []
            for g in gens:
                for pid in g.live():
                    try:
                        t = psutil.Process(pid).create_time()
                    except psutil.Error:
                        t = time.time()
                    out.append(ProcInfo(pid, "worker", last - g.number, t))
            return out

        current = [g for g in self.gens if not g.stopping]
        return master, infos(current), infos([g for g in self.gens if g.stopping])

    def _cli_reload(self) -> None:
        """The master CLI's `reload`: what SIGUSR2 does."""
        if self.cfg.global_.master_worker:
            self._reload()

    def _shutdown(self) -> None:
        for srv in self._mcli:
            srv.close()
        self._mcli.clear()
        if self.peers is not None:  # peers
            self.peers.close()
            self.peers = None
        for gen in self.gens:
            self._retire(gen)
        self.gens.clear()
        if self._stats is not None:  # stats hook
            self._stats.close()
            self._stats = None
        self._close_listeners()
        signal.set_wakeup_fd(-1)
        if self.selector is not None:
            self.selector.close()
            self.selector = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        self.log.close()

    def _setup_signals(self) -> None:
        assert self.selector is not None
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in HANDLED_SIGNALS:
            # the Python handler does nothing: the C-level handler writes the signal number into
            # the wakeup fd, which the selector reads
            signal.signal(sig, lambda s, f: None)
        self.selector.register(self._wake_r, selectors.EVENT_READ, self._on_wakeup)

    def _timeout(self, now: float) -> float:
        deadlines: list[float] = [now + MAX_WAIT]
        for gen in self.gens:
            if gen.checker is not None:
                d = gen.checker.next_deadline()
                if d is not None:
                    deadlines.append(d)
        deadlines.extend(r.due for r in self.st.respawns)
        from pyhaproxy.shm import TABLES
        if TABLES.by_name:
            deadlines.append(max(now, self._purge_due))
        if self.peers is not None:  # peers
            d = self.peers.next_deadline()
            if d is not None:
                deadlines.append(d)
        if self._stats is not None:  # the rates' once-a-second sample (a rate over a longer gap
            deadlines.append(self._stats.next_sample())     # would be averaged down to nothing)
        if self.st.pending is not None and self.st.pending.due > now:
            deadlines.append(self.st.pending.due)  # past it, the readiness pipe wakes us
        if self.st.kill_deadline is not None:
            deadlines.append(self.st.kill_deadline)
        deadlines.extend(d for d, _ in self.st.hard_stops)
        return max(0.0, min(deadlines) - now)

    def _loop_once(self, timeout: float) -> None:
        assert self.selector is not None
        try:
            events = self.selector.select(timeout)
        except InterruptedError:
            events = []
        for key, mask in events:
            key.data(mask)
        self._reap()
        now = time.monotonic()
        if self.st.pending is not None and now >= self.st.pending.due and self.st.pending.gen.all_ready():
            # the old generation stops only once every new worker serves (a farm of 100,000
            # servers takes seconds to build; the old workers serve meanwhile)
            self._commit_reload(self.st.pending)
        if self._stats is not None:  # stats hook: expire idle stats connections
            self._stats.tick(now)
        if self.peers is not None:  # peers: connects, pushes, heartbeats
            self.peers.tick(now)
        if now >= self._purge_due:  # stick tables: expired entries freed once a second
            from pyhaproxy.shm import TABLES
            TABLES.purge()
            self._purge_due = now + 1.0
        if self.st.hard_stops:
            self._run_hard_stops(now)
        for gen in list(self.gens):
            if gen.checker is not None:
                d = gen.checker.next_deadline()
                if d is not None and d <= now:
                    gen.checker.tick(now)
        if self.st.respawns:
            due = [r for r in self.st.respawns if r.due <= now]
            self.st.respawns = [r for r in self.st.respawns if r.due > now]
            for r in due:
                if not self.st.stopping and not r.gen.stopping and r.gen.slots[r.idx] is None:
                    self._spawn(r.gen, r.idx)
        if self.st.kill_deadline is not None and now >= self.st.kill_deadline:
            self.st.kill_deadline = None
            for pid in list(self.pids):
                self.log.warning(f"worker {pid} still running after {KILL_TIMEOUT:.0f}s, killing it.")
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def _on_wakeup(self, mask: int) -> None:
        while True:
            try:
                data = os.read(self._wake_r, 256)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            for sig in data:
                self._handle_signal(sig)

    def _handle_signal(self, sig: int) -> None:
        if sig == signal.SIGCHLD:
            self._reap()
        elif sig == signal.SIGUSR1:
            self._soft_stop()
        elif sig in (signal.SIGTERM, signal.SIGINT):
            self._hard_stop()
        elif sig == signal.SIGTTOU:
            self._proxies_message("Pausing proxy {}.")
            self._signal_workers(signal.SIGTTOU)
        elif sig == signal.SIGTTIN:
            self._proxies_message("Enabling proxy {}.")
            self._signal_workers(signal.SIGTTIN)
        elif sig == signal.SIGHUP:
            self._dump_states()
        elif sig == signal.SIGQUIT:
            self._dump_counters()
        elif sig == signal.SIGUSR2:
            if self.cfg.global_.master_worker:
                self._reload()

    def _current(self) -> Generation | None:
        return self.gens[-1] if self.gens else None

    def _proxies_message(self, fmt: str, *args: object) -> None:
        gen = self._current()
        if gen is None:
            return
        for p in gen.cfg.proxies:
            if p.disabled:
                continue
            msg = fmt.format(p.name, *args)
            self.log.warning(msg, syslog=False)
            self.log.proxy_log(p, LOG_WARNING, msg)

    def _signal_workers(self, sig: int, gens: list[Generation] | None = None) -> None:
        for gen in gens if gens is not None else self.gens:
            for pid in gen.live():
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)

    def _soft_stop(self) -> None:
        if self.st.stopping:
            return
        self.notifier.stopping()
        self.st.stopping = "soft"
        self.st.respawns.clear()
        for gen in self.gens:
            gen.stopping = True
        cur = self._current()
        if cur is not None:
            for p in cur.cfg.proxies:
                if not p.disabled:
                    msg = f"Stopping proxy {p.name} in {p.grace} ms."
                    self.log.warning(msg, syslog=False)
                    self.log.proxy_log(p, LOG_WARNING, msg)
        self._signal_workers(signal.SIGUSR1)
        for gen in self.gens:
            self._arm_hard_stop(gen)
        self._forget_pending()
        # the workers hold the sockets; the master's copies would keep the ports bound after them
        self._close_listeners()

    def _arm_hard_stop(self, gen: Generation) -> None:
        """`hard-stop-after`: the soft-stopping generation gets SIGTERM once that time is up."""
        t = gen.cfg.global_.hard_stop_after
        if t > 0:
            self.st.hard_stops.append((time.monotonic() + t / 1000.0, gen))

    def _run_hard_stops(self, now: float) -> None:
        due = [(d, g) for d, g in self.st.hard_stops if d <= now]
        if not due:
            return
        self.st.hard_stops = [(d, g) for d, g in self.st.hard_stops if d > now]
        for _, gen in due:
            if gen.live():
                self.log.warning(f"soft-stop still running after hard-stop-after: stopping generation "
                                 f"{gen.number}'s workers now (SIGTERM).")
                self._signal_workers(signal.SIGTERM, [gen])

    def _hard_stop(self, log: bool = True) -> None:
        if self.st.stopping == "hard":
            return
        self.notifier.stopping()
        self.st.stopping = "hard"
        self.st.respawns.clear()
        for gen in self.gens:
            gen.stopping = True
        if log:
            self.log.notice("Stopping all workers (SIGTERM).")
        self._signal_workers(signal.SIGTERM)
        self.st.kill_deadline = time.monotonic() + KILL_TIMEOUT
        self._forget_pending()
        self._close_listeners()

    # --- handing the listening sockets to the instance replacing this one (sockxfer.py) -------
    def _start_export(self) -> None:
        assert self.selector is not None
        try:
            self._export = ListenerExport(self.selector, self._exported_sockets)
        except OSError as e:  # e.g. a stale name in this network namespace: plain `-sf` binds beside
            self.log.warning(f"cannot offer the listening sockets to a next instance ({e.strerror}).",
                             syslog=False)

    def _exported_sockets(self) -> list[tuple[int, str, str]]:
        """(fd, netns, interface) of every listening socket this master bound itself, as 2.6
        exports (not the `fd@` ones it inherited, nor paused ones)."""
        out = []
        for lst in self.bound.values():
            fd = lst.sock.fileno()
            if fd >= 0 and lst.bind.fd < 0 and not lst.paused:
                out.append((fd, "", lst.bind.options.get("interface", "")))
        return out

    def _close_listeners(self) -> None:
        for lst in self.bound.values():
            lst.close()
        self.bound.clear()

    # ------------------------------------------------------------------------------------------
    # workers
    # ------------------------------------------------------------------------------------------
    def _new_generation(self, cfg: Config, listeners: list[Listener]) -> Generation:
        try:
            from pyhaproxy.runtime_maps import RuntimeMaps
            from pyhaproxy.shm import create_shm
            from pyhaproxy.worker import compile_acls, tls_contexts
            from pyhaproxy.worker import run as run_worker
        except ImportError as e:
            # imported here, before fork, so that the workers start at once and an error shows
            self.log.alert(f"[{self.name}.main()] Cannot load the worker: {e}.")
            raise StartupFailed() from None
        self._run_worker = run_worker
        self._stats_configure(cfg)  # stats hook: before fork, the workers read the address from cfg
        tls_cache = tls_session_cache(cfg)
        if tls_cache is not None:
            tls_cache.activate()     # the contexts attach to it as they are built
        try:
            # every certificate, key, CA, CRL, DH file read once, here, before fork: the workers
            # inherit the contexts, so one re-forked later does not depend on the files (issue 20)
            contexts = tls_contexts(cfg, listeners)
        except ValueError as e:   # a file changed since the configuration was read
            self.log.alert(f"[{self.name}.main()] {e}")
            raise StartupFailed() from None
        n = max(1, cfg.global_.nbproc)
        shm = create_shm(cfg, n)
        # the servers' state saved with `show servers state`, before the workers see the servers
        restores = server_state.load(cfg, self.log.warning)
        server_state.apply(restores, shm, cfg, self.log.warning)
        self._gen_counter += 1
        gen = Generation(self._gen_counter, cfg, listeners, shm, [None] * n, [0.0] * n)
        gen.maps = RuntimeMaps(compile_acls(cfg).map_files, shm)
        gen.ready_r, gen.ready_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.selector is not None
        self.selector.register(gen.ready_r, selectors.EVENT_READ, lambda mask, g=gen: self._on_ready(g))
        self.gens.append(gen)
        gen.tls_cache = tls_cache
        gen.tls_contexts = contexts
        gen.sockmap = tcp_fastpath(cfg, self.log.warning)
        for i in range(n):
            self._spawn(gen, i)
        if HealthChecker is not None:
            try:
                gen.checker = HealthChecker(cfg, shm, self.log, frozenset(r.gi for r in restores))
                assert self.selector is not None
                gen.checker.attach(self.selector)
            except Exception as e:  # checks failing must not take the service down
                self.log.alert(f"health checks could not start: {e}")
                gen.checker = None
        return gen

    def _on_ready(self, gen: Generation) -> None:
        """Workers of `gen` have built their tables and are entering their loops."""
        try:
            data = os.read(gen.ready_r, 4096)
        except BlockingIOError:
            return
        gen.ready += len(data)
        if not data and self.selector is not None:  # every writer gone
            self.selector.unregister(gen.ready_r)

    # --- stats hook (pyhaproxy/stats): the stats socket and the internal stats-page server ----
    def _stats_configure(self, cfg: Config) -> None:
        from pyhaproxy.stats import StatsService, StatsSocketError

        assert self.selector is not None
        if self._stats is None:
            self._stats = StatsService(self.selector, self._stats_view, self.log.notice,
                                       exported=self._exported_sockets)
        try:
            self._stats.configure(cfg)
        except StatsSocketError as e:
            self.log.alert(f"[{self.name}.main()] Starting frontend GLOBAL: {e}")
            raise StartupFailed() from None

    def _stats_view(self) -> Any:
        from pyhaproxy.stats import View

        gen = self._current()
        if gen is None:
            return None
        return View(
            gen.cfg, gen.shm, list(gen.slots), started=self._stats.started, stopping=bool(self.st.stopping),
            maps=gen.maps,
            peers=list(self.peers.engines) if self.peers is not None else [],  # peers
            tls_cache=gen.tls_cache,
            rates=self._stats.rates,
            maxsock=compute_maxsock(gen.cfg, len(iter_binds(gen.cfg))),
            memmax_mb=self.opts.memmax,
            checker=gen.checker,
        )

    def _spawn(self, gen: Generation, idx: int) -> int | None:
        sys.stdout.flush()
        sys.stderr.flush()
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
        master_pid = os.getpid()
        if gen.tls_cache is not None:
            gen.tls_cache.activate()     # the worker inherits the generation's TLS session cache
        if gen.sockmap is not None:
            gen.sockmap.activate()       # ...and its fast path's maps
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            self.log.alert(f"[{self.name}.main()] Cannot fork.")
            return None
        if pid == 0:  # pragma: no cover - runs in the child
            # First thing: soft-stop if the master dies (kill -9)... and if it died already,
            # between fork() and here, no signal will ever come: leave at once.
            with contextlib.suppress(Exception):
                ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGUSR1), 0, 0, 0)
            if os.getppid() != master_pid:
                os._exit(0)
            code = 1
            try:
                self._child_setup(gen, old_mask)
                self._cpu_map(gen, idx)
                self._run_worker(gen.cfg, gen.listeners, gen.shm, idx, debug=bool(gen.cfg.global_.debug),
                                 ready_fd=gen.ready_w, maps_dir=gen.maps.directory if gen.maps else "",
                                 contexts=gen.tls_contexts)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:
                with contextlib.suppress(Exception):
                    traceback.print_exc()
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        gen.slots[idx] = pid
        gen.started[idx] = time.monotonic()
        self.pids[pid] = (gen, idx)
        return pid

    def _cpu_map(self, gen: Generation, idx: int) -> None:  # pragma: no cover - in the worker
        """`cpu-map 1/N CPUS`: worker N (2.6's thread N) binds itself before it serves."""
        cpus = gen.cfg.global_.cpu_map.get(idx + 1)
        if cpus:
            try:
                os.sched_setaffinity(0, set(cpus))
            except OSError as e:
                self.log.warning(f"[{self.name}.main()] cpu-map: cannot bind worker {idx + 1} to "
                                 f"CPUs {','.join(map(str, cpus))}: {e.strerror}.")

    def _child_setup(self, gen: Generation, old_mask: set[Any]) -> None:  # pragma: no cover
        """In the forked worker: drop everything of the master's before entering the worker."""
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR2):
            signal.signal(sig, signal.SIG_IGN)  # the master's business: a worker must not die of them
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for sig in WORKER_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        # worker signals stay blocked for the worker's signalfd; the others get their old mask
        signal.pthread_sigmask(signal.SIG_SETMASK, set(old_mask) | set(WORKER_SIGNALS))
        if self.selector is not None:
            for key in list(self.selector.get_map().values()):
                fobj = key.fileobj
                if hasattr(fobj, "detach") and fobj is not None:
                    with contextlib.suppress(OSError):
                        os.close(fobj.detach())  # type: ignore[union-attr]
                else:
                    with contextlib.suppress(OSError):
                        os.close(key.fd)
            self.selector.close()
            self.selector = None
        for fd in (self._wake_r, self._wake_w, self.startup.pidfile_fd, self.startup.notify_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        mine = {lst.sock.fileno() for lst in gen.listeners}
        for lst in self.bound.values():
            fd = lst.sock.fileno()
            if fd >= 0 and fd not in mine:
                with contextlib.suppress(OSError):
                    os.close(lst.sock.detach())
        if self.startup.daemon:
            devnull_on((0, 1, 2))
        if self.opts.memmax > 0:
            limit = self.opts.memmax * 1048576 // max(1, gen.cfg.global_.nbproc)
            try:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            except (OSError, ValueError):
                self.log.warning(f"[{self.name}.main()] Cannot fix MEM limit to {self.opts.memmax} megs.")
        self.log.update_pid()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            self._worker_exited(pid, status)

    def _worker_exited(self, pid: int, status: int) -> None:
        entry = self.pids.pop(pid, None)
        if entry is None:
            return
        gen, idx = entry
        gen.slots[idx] = None
        lived = time.monotonic() - gen.started[idx]
        pending = self.st.pending
        if pending is not None and gen is pending.gen and _abnormal(status) and not self.st.stopping:
            self.log.alert(f"worker {pid} of the new configuration died ({_status_text(status)}).")
            self._abort_reload(pending)  # marks gen stopping: cleaned up below like any old one
        if self.st.stopping or gen.stopping:
            if _abnormal(status) and self.st.stopping != "hard":
                self.log.warning(f"worker {pid} exited ({_status_text(status)}).")
        elif _abnormal(status):
            if not self.st.ready:
                self.log.alert(f"worker {pid} died ({_status_text(status)}) during start-up.")
                self.st.startup_failed = True
            else:
                self.log.alert(f"worker {pid} died ({_status_text(status)}), respawning")
                delay = RESPAWN_DELAY if lived < RESPAWN_MIN_LIFE else 0.0
                self.st.respawns.append(_Respawn(time.monotonic() + delay, gen, idx))
        else:
            # a clean exit while the master did not ask for it: the worker was stopped directly
            # (e.g. SIGUSR1 sent to its own pid); it is not replaced
            self.log.notice(f"worker {pid} exited ({_status_text(status)}).")
        if not gen.live() and not any(r.gen is gen for r in self.st.respawns):
            if gen.stopping or self.st.stopping:
                if gen is self._current() and self.st.stopping == "soft":
                    for p in gen.cfg.proxies:
                        if not p.disabled:
                            self.log.proxy_log(p, LOG_WARNING, f"Proxy {p.name} stopped.")
                self._retire(gen)
                self.gens.remove(gen)

    def _retire(self, gen: Generation) -> None:
        """A generation without workers: stop its checks and drop its shared memory."""
        if gen.checker is not None:
            with contextlib.suppress(Exception):
                gen.checker.close()
            gen.checker = None
        for fd in (gen.ready_r, gen.ready_w):
            if fd >= 0:
                if self.selector is not None and fd == gen.ready_r:
                    with contextlib.suppress(KeyError, ValueError):
                        self.selector.unregister(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)
        gen.ready_r = gen.ready_w = -1
        if gen.maps is not None:
            gen.maps.close()
        if gen.sockmap is not None:
            gen.sockmap.close()     # (its workers are gone: the kernel frees maps and program)
            gen.sockmap = None
        close = getattr(gen.shm, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()

    # ------------------------------------------------------------------------------------------
    # SIGUSR2: reload (master-worker mode)
    # ------------------------------------------------------------------------------------------
    def _reload(self) -> None:
        if self.st.stopping:
            return
        if self.st.pending is not None or not self.st.ready:
            # done once the settling generation (or the first one, at start-up) is kept or dropped
            self.st.reload_again = True
            return
        self.notifier.reloading()
        self._reloads += 1
        try:
            self._start_reload()
        finally:
            if self.st.pending is None:  # refused at once: back to the running configuration
                self.notifier.ready()

    def _start_reload(self) -> None:
        from pyhaproxy.config import ConfigError

        self.log.warning("SIGUSR2 received, reloading the configuration.")
        try:
            cfg = load_config(self.opts)
        except ConfigError as e:
            self.log.alert(_bare(str(e), "[ALERT]"))
            self.log.alert("Configuration not reloaded, the running workers are kept.")
            return
        except OSError as e:
            self.log.alert(f"Could not read the configuration : {e}")
            return
        for w in cfg.warnings:
            self.log.warning(_bare(w, "[WARNING]"))
        for w in apply_options(cfg, self.opts):
            self.log.warning(w)
        try:
            listeners = bind_all(cfg, reuse=self.bound)
        except BindError as e:
            self.log.alert(str(e))
            self.log.alert("Configuration not reloaded, the running workers are kept.")
            return
        if nothing_listens(cfg, listeners):
            self.log.alert("No enabled listener found in the new configuration, not reloaded.")
            return
        new_bound: dict[ListenerKey, Listener] = {}
        for lst in listeners:
            new_bound[lst.key] = self.bound.get(lst.key, lst)
        old = [g for g in self.gens if not g.stopping]
        prev_cfg = self.cfg
        self.startup.raise_limits(self.cfg, len(listeners))
        self.log.set_global(cfg.global_)
        self.cfg = cfg
        self.quiet = self.quiet or bool(cfg.global_.quiet)
        try:
            gen = self._new_generation(cfg, listeners)
        except StartupFailed:
            for key, lst in new_bound.items():
                if key not in self.bound:
                    lst.close()
            self.cfg = prev_cfg
            self.log.set_global(prev_cfg.global_)
            return
        # Both generations now accept on the shared sockets; the old one is told to stop once the
        # new one has lived SETTLE_TIME (_commit_reload), or keeps serving if it dies (_abort_reload).
        self.st.pending = _PendingReload(gen, old, new_bound, prev_cfg, time.monotonic() + SETTLE_TIME)

    def _commit_reload(self, p: _PendingReload) -> None:
        """The new generation settled: soft-stop the old one, drop the listeners it alone used."""
        self.st.pending = None
        if len(p.gen.live()) < len(p.gen.slots):  # a fork failed
            self.log.alert("Not every worker of the new configuration started.")
            self._abort_reload(p)
            if not p.gen.live() and p.gen in self.gens:
                self._retire(p.gen)
                self.gens.remove(p.gen)
            return
        for g in p.old:
            g.stopping = True
        self.st.respawns = [r for r in self.st.respawns if not r.gen.stopping]
        # An old worker only closes its own copy of each listening fd: the sockets the new
        # generation shares stay open (master + new workers), so their accept queues survive.
        self._signal_workers(signal.SIGUSR1, p.old)
        for g in p.old:
            self._arm_hard_stop(g)
        for key, lst in self.bound.items():
            if key not in p.new_bound:
                lst.close()  # the old workers close theirs when they finish
        self.bound = p.new_bound
        for g in p.old:
            if not g.live() and g in self.gens:
                self._retire(g)
                self.gens.remove(g)
        self._reload_peers(p.gen.cfg)
        self.log.notice(f"Configuration reloaded, generation {p.gen.number} started.")
        self.notifier.ready()
        self._reload_again()

    def _abort_reload(self, p: _PendingReload) -> None:
        """A worker of the settling generation died: keep the old generation, stop the new one."""
        self.st.pending = None
        gen = p.gen
        gen.stopping = True
        self.st.respawns = [r for r in self.st.respawns if r.gen is not gen]
        self._signal_workers(signal.SIGUSR1, [gen])  # may have accepted a few sessions already
        for key, lst in p.new_bound.items():
            if key not in self.bound:
                lst.close()
        # the kept generation must stay _current() (the last one) for dumps and stats
        if gen in self.gens:
            self.gens.remove(gen)
            self.gens.insert(0, gen)
        self.cfg = p.prev_cfg
        self.log.set_global(p.prev_cfg.global_)
        with contextlib.suppress(Exception):
            self._stats_configure(p.prev_cfg)
        self.log.alert("Configuration not reloaded, the running workers are kept.")
        self.notifier.ready()
        self._reload_again()

    def _reload_again(self) -> None:
        if self.st.reload_again:
            self.st.reload_again = False
            self._reload()

    def _forget_pending(self) -> None:
        """Stopping: the master's copies of the settling generation's new sockets close too."""
        p = self.st.pending
        if p is not None:
            self.st.pending = None
            for key, lst in p.new_bound.items():
                self.bound.setdefault(key, lst)

    # ------------------------------------------------------------------------------------------
    # SIGHUP / SIGQUIT dumps
    # ------------------------------------------------------------------------------------------
    def _dump_states(self) -> None:
        gen = self._current()
        if gen is None:
            return
        try:
            from pyhaproxy.shm import server_table
        except ImportError:
            return
        cfg = gen.cfg
        nproxy = len(cfg.proxies)
        table = server_table(cfg)
        self.log.warning("SIGHUP received, dumping servers states.", syslog=False)
        for pi, p in enumerate(cfg.proxies):
            self.log.proxy_log(p, LOG_NOTICE, f"SIGHUP received, dumping servers states for proxy {p.name}.")
            act = bck = 0
            nsrv = 0
            for gi, ppi, srv in table:
                if ppi != pi:
                    continue
                nsrv += 1
                up = _state_of(gen.shm, gi) == srv_state.SRV_UP
                if up:
                    if srv.backup:
                        bck += 1
                    else:
                        act += 1
                c = _counters(gen.shm, nproxy + gi)
                line = (
                    f"SIGHUP: Server {p.name}/{srv.name} is {'UP' if up else 'DOWN'}."
                    f" Conn: {c.get('cur_sess', 0)} act, 0 pend, {c.get('tot_sess', 0)} tot."
                )
                self._emit(p, line)
            pc = _counters(gen.shm, pi)
            conn = (
                f"Conn: act(FE+BE): {pc.get('cur_sess', 0)}+{pc.get('cur_sess', 0)}, 0 pend (0 unass),"
                f" tot(FE+BE): {pc.get('tot_sess', 0)}+{pc.get('tot_sess', 0)}."
            )
            if nsrv == 0:
                line = f"SIGHUP: Proxy {p.name} has no servers. {conn}"
            elif act == 0:
                what = "is running on backup servers" if bck else "has no server available"
                line = f"SIGHUP: Proxy {p.name} {what} ! {conn}"
            else:
                line = (
                    f"SIGHUP: Proxy {p.name} has {act} active servers and {bck} backup servers available."
                    f" {conn}"
                )
            self._emit(p, line)

    def _dump_counters(self) -> None:
        gen = self._current()
        if gen is None:
            return
        self.log.warning("SIGQUIT received, dumping proxies counters.", syslog=False)
        for pi, p in enumerate(gen.cfg.proxies):
            c = _counters(gen.shm, pi)
            parts: list[str] = []
            for k, v in c.items():
                if isinstance(v, (list, tuple)):  # hrsp: [0] other, [1..5] 1xx..5xx (ext/shm.h)
                    names = [f"{k}_other"] + [f"{k}_{i}xx" for i in range(1, len(v))]
                    parts.extend(f"{n}={x}" for n, x in zip(names, v, strict=False))
                else:
                    parts.append(f"{k}={v}")
            fields = " ".join(parts)
            self._emit(p, f"SIGQUIT: Proxy {p.name} : {fields}")

    def _emit(self, p: Proxy, line: str) -> None:
        self.log.warning(line, syslog=False)
        self.log.proxy_log(p, LOG_NOTICE, line)


def _bare(line: str, prefix: str) -> str:
    line = line.rstrip("\n")
    return line[len(prefix) :].lstrip() if line.startswith(prefix) else line


def _tables_signature(extra: dict[str, list[Any]]) -> object:
    """Which shared tables the peers links hold: a reload that replaces one restarts them."""
    return sorted((sec, s.name, id(getattr(s, "table", s))) for sec, stores in extra.items() for s in stores)


def _state_of(shm: Any, i: int) -> int:
    try:
        st = shm.srv_state(i)
    except Exception:
        return -1
    if isinstance(st, int):
        return st
    if isinstance(st, dict):
        return int(st.get("state", -1))
    return int(getattr(st, "state", -1))


def _counters(shm: Any, slot: int) -> dict[str, Any]:
    try:
        c = shm.counters_sum(slot)
    except Exception:
        return {}
    return dict(c) if c else {}
