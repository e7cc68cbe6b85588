"""Start-up, in the process the user started, so that every error reaches the terminal and exit 1.

The command line's `Options`, reading the configuration (`load_config`, `apply_options`: the
command line over the global section, in HAProxy's order) and `Startup`: bind every listener
(taking over the old instance's sockets where it hands them over: `-x`, sockxfer.py; with
-sf/-st, on failure send SIGTTOU to the old pids and retry for up to 1 s, as HAProxy does),
open the pidfile, raise RLIMIT_NOFILE. Then, in daemon mode, fork: the parent waits on a pipe
until the master reports that its workers run, and exits 0 (or 1). The master (master.py) then
creates the shared memory, forks the workers, writes the pidfile through `Startup`, sends SIGUSR1
(-sf) or SIGTERM (-st) to the old pids and enters its loop.

The pidfile holds the master's pid only, one line. HAProxy 1.2 wrote one line per process; here
the master forwards every signal to its workers, so ``kill -USR1 $(cat pidfile)``, ``kill -TTOU``,
``-TTIN``, ``-sf $(cat pidfile)`` and the hot-reconfiguration script reach every worker through it.
It is written once the workers run and, as HAProxy does, never removed by the master.

This module imports neither cli.py nor master.py: both build on it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass, field

from pyhaproxy.config.model import MIN_AUTO_MAXCONN, Config, Global
from pyhaproxy.listeners import BindError, Listener, bind_one, iter_binds
from pyhaproxy.logs import MasterLog
from pyhaproxy.sockxfer import SocketPool, TransferError, export_name, fetch_sockets

# HAProxy: up to 100 bind attempts 10 ms apart while the old processes release the ports.
MAX_START_RETRIES = 100
RETRY_DELAY = 0.010
# HAProxy 1.2 only warns when RLIMIT_NOFILE cannot be raised; True makes it fatal.
STRICT_LIMITS = False
# RLIMIT_NOFILE as the process found it: 2.6 computes an unset maxconn from the larger of the two
# (not from what start-up raised it to), so a reload computes the same value again.
BOOT_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)
NR_OPEN_DEFAULT = 1 << 20   # an unlimited rlimit counts as Linux's default fs.nr_open


def nothing_listens(cfg: Config, listeners: list[Listener]) -> bool:
    """No proxy listener and no stats socket (2.6 counts a stats socket as a listener: a
    checks-only configuration runs): start-up and reload refuse such a configuration."""
    return not listeners and not cfg.global_.stats_sockets


@dataclass
class Options:
    files: list[str] = field(default_factory=list)
    pidfile: str | None = None
    daemon: bool = False  # -D
    debug: bool = False  # -d
    foreground: bool = False  # -db
    quiet: bool = False  # -q
    verbose: bool = False  # -V
    check: bool = False  # -c
    maxconn: int = 0  # -n (0 = not given)
    maxpconn: int = 0  # -N (0 = not given)
    memmax: int = 0  # -m, in megabytes
    oldpids: list[int] = field(default_factory=list)
    oldpids_sig: int = signal.SIGUSR1  # -sf: SIGUSR1, -st: SIGTERM
    master_worker: bool = False  # -W
    version: int = 0  # 1 for -v, 2 for -vv
    condition: str | None = None  # -cc EXPR: evaluate a .if condition and exit
    sd_notify: bool = False  # -Ws: master-worker with systemd's readiness notifications
    master_cli: list[str] = field(default_factory=list)  # -S SOCKET[,opts]: the master CLI
    expose_fd: str | None = None  # -x SOCKET: take the old instance's listening sockets (sockxfer.py)
    localpeer: str | None = None  # -L NAME
    zero_warning: bool = False  # -dW: a warning at start-up is fatal
    diag: bool = False  # -dD: diagnostic messages (.diag)
    accepted_debug: set[str] = field(default_factory=set)  # -dV -dM...: accepted, no effect here
    nopoll: set[str] = field(default_factory=set)  # -de -dp -dk -ds: accepted, epoll is always used


def progname(argv0: str | None = None) -> str:
    name = os.path.basename(argv0 if argv0 is not None else (sys.argv[0] if sys.argv else "haproxy"))
    if name in ("__main__.py", "", "-c", "-m"):
        return "pyhaproxy"
    return name





def load_config(opts: Options) -> Config:
    """Parses the files and applies the command line over the global section (HAProxy's order).

    Raises pyhaproxy.config.ConfigError (or OSError for an unreadable file).
    """
    from pyhaproxy.config import parse_files
    from pyhaproxy.config.lexer import Context

    cfg = parse_files(list(opts.files), ctx=Context(localpeer=opts.localpeer))
    apply_options(cfg, opts)
    return cfg


def apply_options(cfg: Config, opts: Options) -> list[str]:
    """Command line over configuration; returns the warnings to print (bare messages)."""
    g = cfg.global_
    warnings: list[str] = []
    if opts.maxconn > 0:
        g.maxconn = opts.maxconn
    if g.maxconn <= 0:
        g.maxconn = ideal_maxconn(cfg)
    for p in cfg.proxies:
        if p.maxconn <= 0:
            # 2.6: a proxy without its own maxconn takes -N, else the global maxconn
            p.maxconn = opts.maxpconn if opts.maxpconn > 0 else g.maxconn
    default_fullconn(cfg)
    if opts.pidfile:
        g.pidfile = opts.pidfile
    if opts.master_worker:
        g.master_worker = True
    if opts.debug or opts.foreground:
        # the command line's debug/foreground mode cancels the configuration's daemon and quiet
        g.daemon = False
        g.quiet = False
    if opts.daemon:
        g.daemon = True
    if opts.quiet:
        g.quiet = True
    if opts.debug:
        g.debug = True
    if g.debug and (g.daemon or g.quiet):
        warnings.append("<debug> mode incompatible with <quiet> and <daemon>. Keeping <debug> only.")
        g.daemon = False
        g.quiet = False
    if opts.foreground:
        g.nbproc = 1
    elif g.nbproc > 1 and not g.daemon and not g.master_worker:
        if not g.debug:
            warnings.append("<nbproc> is only meaningful in daemon mode. Setting limit to 1 process.")
        g.nbproc = 1
    if g.nbproc < 1:
        g.nbproc = 1
    if g.nbthread > 1:
        # 2.x configurations ask for threads; pyhaproxy's unit of parallelism is the worker process
        # (in every mode, as 2.x threads are), each with its own sessions, queues and counters.
        if g.nbproc > 1:
            warnings.append(f"'nbthread {g.nbthread}' ignored: 'nbproc {g.nbproc}' already sets the "
                            "number of worker processes.")
        else:
            g.nbproc = g.nbthread
            warnings.append(f"'nbthread {g.nbthread}': pyhaproxy starts {g.nbthread} worker processes "
                            "instead of threads (each has its own queues; stats are summed).")
    return warnings


class StartupFailed(Exception):
    """Start-up cannot complete; the alert has been printed."""


def default_fullconn(cfg: Config) -> None:
    """A backend without `fullconn`: 10% of the maxconns of the frontends that may reach it (their
    default_backend and static use_backend targets, each frontend once; a `listen` without a
    default backend counts for itself), at least 1, as 2.6 sets it (proxy.c); `show stat` shows
    it as the backend's slim."""
    by_name = {p.name: p for p in cfg.proxies if not p.disabled}
    total = dict.fromkeys(by_name, 0)
    for p in by_name.values():
        if p.cap == "backend":
            continue
        targets = {p.default_backend or (p.name if p.cap == "listen" else "")}
        targets.update(u.backend for u in p.use_backends if u.fmt is None)
        for name in targets:
            if name in total:
                total[name] += p.maxconn
    for name, p in by_name.items():
        if p.cap != "frontend" and p.fullconn <= 0:
            p.fullconn = max(1, (total[name] + 9) // 10)


def nthreads(g: Global) -> int:
    """2.6's thread count in its fd arithmetic: `nbthread`, else the CPUs it may run on."""
    return g.nbthread if g.nbthread_set else max(1, len(os.sched_getaffinity(0)))


def reserved_fds(cfg: Config, nlisteners: int | None = None) -> int:
    """2.6's global.maxsock before connections count: 10 in reserve, one per listener, one per
    checked server, and for the stats sockets one each plus their `stats maxconn`."""
    g = cfg.global_
    if nlisteners is None:
        nlisteners = len(iter_binds(cfg))
    checks = sum(1 for p in cfg.proxies if not p.disabled for s in p.servers if s.check)
    stats = len(g.stats_sockets) + (g.stats_maxconn if g.stats_sockets else 0)
    return 10 + nlisteners + checks + stats


def ideal_maxconn(cfg: Config) -> int:
    """An unset global maxconn, as 2.6 computes it (haproxy.c compute_ideal_maxconn, without
    splice pipes or async engines): what the fd limit leaves after the reserve and three fds per
    thread, two per connection; at least MIN_AUTO_MAXCONN. The same ulimit gives the same value
    as /usr/sbin/haproxy (`show info` Maxconn, tests/e2e/test_auto_maxconn.py)."""
    g = cfg.global_
    remain = max(lim if lim != resource.RLIM_INFINITY else NR_OPEN_DEFAULT for lim in BOOT_NOFILE)
    if g.fd_hard_limit and remain > g.fd_hard_limit:
        remain = g.fd_hard_limit
    remain -= reserved_fds(cfg) + 3 * nthreads(g)
    return max(MIN_AUTO_MAXCONN, remain // 2)


def compute_maxsock(cfg: Config, nlisteners: int) -> int:
    """File descriptors one worker needs, counted as 2.6 counts them: the reserve, two sockets
    per connection, three per thread. A splice pipe is taken only while data is in flight and
    is not counted, as 2.6 does not count them unless told to splice: where none can be had,
    the channel copies through its buffer instead (ext/channel.pxi)."""
    g = cfg.global_
    return reserved_fds(cfg, nlisteners) + 2 * g.maxconn + 3 * nthreads(g)


class Startup:
    """The start-up steps, and the resources they leave to the master (pidfile, parent pipe)."""

    def __init__(self, cfg: Config, opts: Options, log: MasterLog) -> None:
        self.cfg = cfg
        self.opts = opts
        self.log = log
        self.name = progname()
        self.pidfile_fd = -1
        self.notify_fd = -1  # daemon mode: the pipe to the waiting parent
        self.daemon = False  # this process is the daemon's master (stdio go to /dev/null)

    def begin(self) -> tuple[int | None, list[Listener]]:
        """Bind, open the pidfile, raise the fd limit and, in daemon mode, fork.

        Returns (exit code, []) when this process is done (start-up failed, or the daemon's
        parent once the master reported), or (None, listeners) in the process that goes on as
        the master.
        """
        g = self.cfg.global_
        try:
            listeners = self.bind_initial()
        except StartupFailed:
            return 1, []
        if nothing_listens(self.cfg, listeners):
            self.log.alert(
                f"[{self.name}.main()] No enabled listener found (check the <listen> keywords) ! Exiting.",
                syslog=False,
            )
            return 1, []
        try:
            self.open_pidfile()
            self.raise_limits(self.cfg, len(listeners))
        except StartupFailed:
            for lst in listeners:
                lst.close()
            self.tell_old_pids(signal.SIGTTIN)
            return 1, []

        if g.daemon and not (self.opts.debug or self.opts.foreground):
            rc = self.daemonize(listeners)
            if rc is not None:
                return rc, []  # the parent, once the master reported
        return None, listeners

    def old_sockets(self) -> SocketPool | None:
        """The old instance's listening sockets: from `-x SOCKET` (its stats socket with
        `expose-fd listeners`; failing is fatal, as 2.6, except in master-worker mode), else
        from the first old pid of `-sf`/`-st` that is a pyhaproxy master (sockxfer.py)."""
        path = self.opts.expose_fd
        if path is not None and path != "/dev/null":
            try:
                return SocketPool(fetch_sockets(path))
            except TransferError as e:
                self.log.warning(str(e), syslog=False)
                self.log.alert("Failed to get the sockets from the old process!", syslog=False)
                if not (self.opts.master_worker or self.cfg.global_.master_worker):
                    raise StartupFailed() from None
                return None
        if path is None:
            for pid in self.opts.oldpids:
                with contextlib.suppress(TransferError):
                    return SocketPool(fetch_sockets(export_name(pid)))
        return None

    def bind_initial(self) -> list[Listener]:
        """Binds everything, taking the old instance's sockets where it hands them over; with
        old pids still holding a port, pauses them (SIGTTOU) and retries for up to ~1 s."""
        pool = self.old_sockets()
        try:
            return self._bind_all(pool)
        finally:
            if pool is not None:
                pool.close_rest()

    def _bind_all(self, pool: SocketPool | None) -> list[Listener]:
        binds = iter_binds(self.cfg)
        done: dict[int, Listener] = {}
        # (a pause would shut the sockets just taken over down in every process sharing them)
        nold = len(self.opts.oldpids) if pool is None or pool.taken == 0 else 0
        retry = MAX_START_RETRIES
        failed = False
        while retry >= 0:
            verbose = retry == 0 or nold == 0
            failed = False
            fatal = False
            for i, (pi, proxy, b, port) in enumerate(binds):
                if i in done:
                    continue
                try:
                    done[i] = bind_one(pi, proxy, b, port, reuseport=not self.cfg.global_.noreuseport,
                                       pool=pool)
                except BindError as e:
                    failed = True
                    if not e.retryable:
                        self.log.alert(str(e), syslog=False)
                        fatal = True
                        break
                    if verbose:
                        self.log.alert(str(e), syslog=False)
            if not failed or fatal or nold == 0 or retry == 0:
                break
            if self.tell_old_pids(signal.SIGTTOU) == 0:
                retry = 0  # nobody to wait for: one last, verbose, attempt
                continue
            time.sleep(RETRY_DELAY)
            retry -= 1
        if failed:
            for lst in done.values():
                lst.close()
            if retry != MAX_START_RETRIES and nold:
                self.tell_old_pids(signal.SIGTTIN)
            raise StartupFailed()
        return [done[i] for i in sorted(done)]

    def tell_old_pids(self, sig: int) -> int:
        n = 0
        for pid in self.opts.oldpids:
            try:
                os.kill(pid, sig)
                n += 1
            except OSError:
                pass
        return n

    def open_pidfile(self) -> None:
        path = self.cfg.global_.pidfile
        if not path:
            return
        # like HAProxy: removed then created 0644, before any privilege change, outside the chroot
        # (an unlink failure of any kind, e.g. EBUSY on a mount point, is left to open() to judge)
        with contextlib.suppress(OSError):
            os.unlink(path)
        try:
            self.pidfile_fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        except OSError:
            self.log.alert(f"[{self.name}.main()] Cannot create pidfile {path}", syslog=False)
            raise StartupFailed() from None

    def write_pidfile(self) -> None:
        """Writes the master's pid; StartupFailed if it cannot be stored (e.g. ENOSPC).

        HAProxy ignores a failed write and runs with an empty pidfile, which later breaks
        `kill $(cat pidfile)` and `-sf $(cat pidfile)`; here the start-up fails instead.
        """
        if self.pidfile_fd < 0:
            return
        data = f"{os.getpid()}\n".encode()
        try:
            if os.write(self.pidfile_fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as e:
            reason = e.strerror or str(e)
            path = self.cfg.global_.pidfile
            self.log.alert(f"[{self.name}.main()] Cannot write pidfile {path} : {reason}", syslog=False)
            raise StartupFailed() from None
        os.close(self.pidfile_fd)
        self.pidfile_fd = -1

    def remove_unwritten_pidfile(self) -> None:
        """Start-up failed after the (empty) pidfile was created: do not leave it behind."""
        if self.pidfile_fd >= 0:
            os.close(self.pidfile_fd)
            self.pidfile_fd = -1
            path = self.cfg.global_.pidfile
            if path:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def raise_limits(self, cfg: Config, nlisteners: int) -> None:
        """RLIMIT_NOFILE for `cfg` (the running configuration: a reload calls this too)."""
        g = cfg.global_
        maxsock = compute_maxsock(cfg, nlisteners)
        want = g.ulimit_n if g.ulimit_n else maxsock
        if g.fd_hard_limit and want > g.fd_hard_limit:
            want = g.fd_hard_limit
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != want and (g.ulimit_n or soft < want):
            new_hard = hard if hard == resource.RLIM_INFINITY or hard >= want else want
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, new_hard))
            except (OSError, ValueError):
                if STRICT_LIMITS or g.strict_limits:
                    self.log.alert(f"[{self.name}.main()] Cannot raise FD limit to {want}, limit is {soft}.",
                                   syslog=False)
                    raise StartupFailed() from None
                if soft < hard:  # at least up to the hard limit
                    with contextlib.suppress(OSError, ValueError):
                        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
                now, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
                self.log.warning(f"[{self.name}.main()] Cannot raise FD limit to {want}, limit is {now}.",
                                 syslog=False)
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < maxsock:
            self.log.warning(
                f"[{self.name}.main()] FD limit ({soft}) too low for maxconn={g.maxconn}/maxsock={maxsock}."
                f" Please raise 'ulimit-n' to {maxsock} or more to avoid any trouble.",
                syslog=False,
            )

    def daemonize(self, listeners: list[Listener]) -> int | None:
        """Forks; returns the parent's exit code in the parent, None in the child (the master)."""
        sys.stdout.flush()
        sys.stderr.flush()
        r, w = os.pipe()
        pid = os.fork()
        if pid > 0:
            os.close(w)
            for lst in listeners:  # the parent's copies only; the master keeps its own
                lst.close()
            if self.pidfile_fd >= 0:
                os.close(self.pidfile_fd)
                self.pidfile_fd = -1
            data = b""
            while True:
                try:
                    chunk = os.read(r, 16)
                except InterruptedError:
                    continue
                if not chunk:
                    break
                data += chunk
            os.close(r)
            return 0 if data.startswith(b"1") else 1
        os.close(r)
        self.notify_fd = w
        os.setsid()
        # stdin now; stdout/stderr once start-up is over, so that its alerts still reach the
        # terminal (the workers get /dev/null from the start, see _child_setup)
        devnull_on((0,))
        self.daemon = True
        self.log.update_pid()
        return None

    def notify_parent(self, ok: bool) -> None:
        if self.notify_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self.notify_fd, b"1" if ok else b"0")
            os.close(self.notify_fd)
            self.notify_fd = -1


def devnull_on(fds: tuple[int, ...]) -> None:
    fd = os.open(os.devnull, os.O_RDWR)
    for target in fds:
        os.dup2(fd, target)
    if fd not in fds:
        os.close(fd)
