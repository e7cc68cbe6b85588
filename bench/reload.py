"""Reload benchmark: failed requests while the proxy is reloaded once a second under load.

``python -m bench.reload [--seconds 30] [--only MODE ...]`` runs, one after the other, three modes
against one nginx backend (bench/backends.py: its own prefix in a temp dir, ``daemon off``,
stopped by PID), each under ``wrk -t1 -c20 -H "Connection: close"`` (a new TCP connection per
request) for ``--seconds`` while a reloader thread reloads the proxy every second:

- ``4.3-script``: pyhaproxy reloaded the way architecture.txt section 4.3 does it: SIGTTOU to
  the old master, start a new ``pyhaproxy -D -p pidfile -f cfg``; if it starts, SIGUSR1 to the
  old one, else SIGTTIN.
- ``master-worker``: one ``pyhaproxy -W -db -f cfg``; SIGUSR2 to the master, which re-reads the
  config and starts a new generation of workers on the same (already bound) listening sockets,
  then soft-stops the old generation.
- ``haproxy-sf``: Debian's haproxy 2.6 (``/usr/sbin/haproxy``, full path) with the same proxy
  in 2.6 syntax, each reload a new ``haproxy -D -p pidfile -f cfg -sf OLDPID`` (no ``-x``: the new
  process binds its own sockets, the old one closes its listeners).
- ``haproxy-sf-x``: the same with ``stats socket ... expose-fd listeners`` and ``-x`` (the new
  process takes the old one's sockets).

Every reload writes the config again with the other of two weights on the server, so each
generation really loads a changed file. A failed request is anything wrk counts in its
"Socket errors: connect N, read N, write N, timeout N" line plus "Non-2xx or 3xx responses".
The table goes to docs/reload.md and stdout. Every process started is killed by PID at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.backends import NginxBackends, free_port, http_get
from bench.run import parse_wrk

ROOT = Path(__file__).resolve().parents[1]
HAPROXY = "/usr/sbin/haproxy"  # full path: our own `haproxy` console script may shadow it
WRK = "wrk"
CONNS = 20
MODES = ("4.3-script", "master-worker", "pyhaproxy-sf", "haproxy-W", "haproxy-sf", "haproxy-sf-x")
LOADS = ("close", "keep-alive")  # wrk with `Connection: close` (a connection per request), or not
TAG_VAR = "PYHAPROXY_BENCH_RELOAD_TAG"
RESULTS = ROOT / "docs" / "reload.md"

PY_CONFIG = """\
global
    maxconn 2000
listen bench 127.0.0.1:{port}
    mode http
    balance roundrobin
    contimeout 5000
    clitimeout 30000
    srvtimeout 30000
    server n1 127.0.0.1:{bport} weight {weight}
"""

HA_CONFIG = """\
global
    maxconn 2000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
listen bench
    bind 127.0.0.1:{port}
    balance roundrobin
    server n1 127.0.0.1:{bport} weight {weight}
"""


@dataclass
class Result:
    mode: str
    load: str = "close"
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    detail: str = ""
    reloads: int = 0
    reload_failures: int = 0
    notes: list[str] = field(default_factory=list)


class Reloadable:
    """A proxy under test: start(), reload() -> True on success, stop() kills everything by PID."""

    def __init__(self, workdir: Path, port: int, bport: int) -> None:
        self.workdir = workdir
        self.port = port
        self.bport = bport
        self.cfg = workdir / "proxy.cfg"
        self.pidfile = workdir / "proxy.pid"
        self.tag = uuid.uuid4().hex
        self.pids: set[int] = set()  # every pid we learnt of, killed in stop()
        self.weight = 1
        self.popens: list[subprocess.Popen[bytes]] = []

    template = PY_CONFIG

    def write_config(self) -> None:
        self.weight = 2 if self.weight == 1 else 1
        self.cfg.write_text(self.template.format(port=self.port, bport=self.bport, weight=self.weight))

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
        env[TAG_VAR] = self.tag
        return env

    def spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"{name}.log", "ab") as log:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 env=self.env(), start_new_session=True)
        self.popens.append(p)
        self.pids.add(p.pid)
        return p

    def read_pid(self) -> int | None:
        try:
            first = self.pidfile.read_text().split()
        except OSError:
            return None
        return int(first[0]) if first and first[0].isdigit() else None

    def wait_serving(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if http_get(self.port, "/", timeout=1.0)[0] == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"proxy not serving on {self.port}: {self.log_tail()}")

    def log_tail(self, n: int = 800) -> str:
        out = ""
        for f in sorted(self.workdir.glob("*.log")):
            out += f"[{f.name}] " + f.read_text(errors="replace")[-n:]
        return out

    def start(self) -> None:
        raise NotImplementedError

    def reload(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        """SIGTERM then SIGKILL to every process we started or learnt of, and their children."""
        victims: dict[int, psutil.Process] = {}
        for pid in list(self.pids):
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                victims[pid] = p
                for c in p.children(recursive=True):
                    victims[c.pid] = c
        # daemons reparented away from our tree still carry our tag
        for p in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if p.pid != os.getpid() and p.environ().get(TAG_VAR) == self.tag:
                    victims.setdefault(p.pid, p)
        for p in victims.values():
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(list(victims.values()), timeout=5)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(alive, timeout=5)
        for p in self.popens:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)


class Script43(Reloadable):
    """pyhaproxy daemons, reloaded with the section 4.3 sequence (TTOU, start, USR1 / TTIN)."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "pyhaproxy", "-D", "-p", str(self.pidfile), "-f", str(self.cfg)]

    def start(self) -> None:
        self.write_config()
        p = self.spawn(self.command(), "start")
        if p.wait(30) != 0:
            raise RuntimeError(f"pyhaproxy did not start: {self.log_tail()}")
        pid = self.read_pid()
        if pid is None:
            raise RuntimeError("no pidfile")
        self.pids.add(pid)
        self.wait_serving()

    def reload(self) -> bool:
        old = self.read_pid()
        if old is None:
            return False
        self.write_config()
        with contextlib.suppress(OSError):
            os.kill(old, signal.SIGTTOU)
        p = self.spawn(self.command(), "reload")
        try:
            ok = p.wait(30) == 0
        except subprocess.TimeoutExpired:
            p.kill()
            ok = False
        new = self.read_pid()
        if ok and new is not None and new != old:
            self.pids.add(new)
            with contextlib.suppress(OSError):
                os.kill(old, signal.SIGUSR1)
            return True
        with contextlib.suppress(OSError):
            os.kill(old, signal.SIGTTIN)
        self.pidfile.write_text(f"{old}\n")
        return False


class MasterWorker(Reloadable):
    """One pyhaproxy master in master-worker mode, SIGUSR2 for each reload."""

    master: subprocess.Popen[bytes] | None = None

    def master_argv(self) -> list[str]:
        return [sys.executable, "-m", "pyhaproxy", "-W", "-db", "-f", str(self.cfg)]

    def workers(self) -> set[int]:
        if self.master is None:
            return set()
        with contextlib.suppress(psutil.Error):
            return {c.pid for c in psutil.Process(self.master.pid).children()
                    if c.status() != psutil.STATUS_ZOMBIE}
        return set()

    def start(self) -> None:
        self.write_config()
        self.master = self.spawn(self.master_argv(), "master")
        self.wait_serving()

    def reload(self) -> bool:
        assert self.master is not None
        if self.master.poll() is not None:
            return False
        before = self.workers()
        self.write_config()
        os.kill(self.master.pid, signal.SIGUSR2)
        # success = a worker that did not exist before shows up
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            now = self.workers()
            if now - before:
                self.pids.update(now)
                return True
            time.sleep(0.02)
        return False


class HaproxySf(Reloadable):
    """Debian's haproxy 2.6, each reload a new process with -sf OLDPID."""

    template = HA_CONFIG

    def command(self, old: int | None) -> list[str]:
        argv = [HAPROXY, "-D", "-p", str(self.pidfile), "-f", str(self.cfg)]
        if old is not None:
            argv += ["-sf", str(old)]
        return argv

    def start(self) -> None:
        self.write_config()
        p = self.spawn(self.command(None), "start")
        if p.wait(30) != 0:
            raise RuntimeError(f"haproxy did not start: {self.log_tail()}")
        pid = self.read_pid()
        if pid is None:
            raise RuntimeError("no pidfile")
        self.pids.add(pid)
        self.wait_serving()

    def reload(self) -> bool:
        old = self.read_pid()
        self.write_config()
        p = self.spawn(self.command(old), "reload")
        try:
            ok = p.wait(30) == 0
        except subprocess.TimeoutExpired:
            p.kill()
            ok = False
        new = self.read_pid()
        if new is not None:
            self.pids.add(new)
        return ok and new is not None and new != old


class HaproxyMasterWorker(MasterWorker):
    """Debian's haproxy 2.6 in master-worker mode, SIGUSR2 for each reload."""

    template = HA_CONFIG

    def master_argv(self) -> list[str]:
        return [HAPROXY, "-W", "-db", "-f", str(self.cfg)]


class PyhaproxySf(HaproxySf):
    """pyhaproxy reloaded as haproxy is with -sf: a new `-D -p pidfile -sf OLDPID` each time."""

    template = PY_CONFIG

    def command(self, old: int | None) -> list[str]:
        argv = [sys.executable, "-m", "pyhaproxy", "-D", "-p", str(self.pidfile), "-f", str(self.cfg)]
        if old is not None:
            argv += ["-sf", str(old)]
        return argv


class HaproxySfX(HaproxySf):
    """haproxy 2.6's seamless reload: `-x` takes the old process's sockets over its stats socket."""

    template = HA_CONFIG.replace(
        "    maxconn 2000\n", "    maxconn 2000\n    stats socket {sock} level admin expose-fd listeners\n")

    def write_config(self) -> None:
        self.weight = 2 if self.weight == 1 else 1
        self.cfg.write_text(self.template.format(port=self.port, bport=self.bport, weight=self.weight,
                                                 sock=self.workdir / "admin.sock"))

    def command(self, old: int | None) -> list[str]:
        argv = super().command(old)
        if old is not None:
            argv += ["-x", str(self.workdir / "admin.sock")]
        return argv


KINDS: dict[str, type[Reloadable]] = {"4.3-script": Script43, "master-worker": MasterWorker,
                                      "pyhaproxy-sf": PyhaproxySf, "haproxy-W": HaproxyMasterWorker,
                                      "haproxy-sf": HaproxySf, "haproxy-sf-x": HaproxySfX}


def run_mode(mode: str, seconds: float, bport: int, load: str = "close") -> Result:
    res = Result(mode, load)
    workdir = Path(tempfile.mkdtemp(prefix=f"pyhaproxy-reload-{mode}-"))
    port = free_port()
    proxy = KINDS[mode](workdir, port, bport)
    stop = threading.Event()

    def reloader() -> None:
        next_at = time.monotonic() + 1.0
        end = time.monotonic() + seconds - 0.5  # the last reload still lands inside the load
        while not stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            if time.monotonic() >= end:
                return
            ok = proxy.reload()
            res.reloads += 1
            if not ok:
                res.reload_failures += 1
            next_at += 1.0

    try:
        proxy.start()
        t = threading.Thread(target=reloader, daemon=True)
        close = ["-H", "Connection: close"] if load == "close" else []
        cmd = [WRK, "-t1", f"-c{CONNS}", f"-d{seconds:g}s", "--timeout", "5s", *close,
               f"http://127.0.0.1:{port}/"]
        t.start()
        try:
            cp = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
        finally:
            stop.set()
            t.join(40)
        if cp.returncode != 0:
            raise RuntimeError(f"wrk exited {cp.returncode}: {cp.stderr.strip()[-300:]}")
        w = parse_wrk(cp.stdout)
        res.requests = int(w["requests"])
        res.seconds = w["seconds"]
        res.errors = int(w["errors"])
        details = [line.strip() for line in cp.stdout.splitlines()
                   if "Socket errors" in line or "Non-2xx" in line]
        res.detail = "; ".join(details) if details else "none"
    except Exception as e:  # a mode failing must not lose the others' figures
        res.notes.append(f"failed: {e}")
    finally:
        proxy.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return res


def _version(argv: list[str]) -> str:
    with contextlib.suppress(Exception):
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (cp.stdout or cp.stderr).splitlines()[0].strip()
    return "?"


def render(results: list[Result], seconds: float) -> str:
    lines = [
        "| mode | load | reloads (failed) | requests | req/s | failed requests | wrk error lines |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if r.notes:
            notes = "; ".join(r.notes)
            lines.append(f"| {r.mode} | {r.load} | {r.reloads} ({r.reload_failures}) | - | - | - | {notes} |")
            continue
        rate = r.requests / r.seconds if r.seconds else 0.0
        lines.append(f"| {r.mode} | {r.load} | {r.reloads} ({r.reload_failures}) | {r.requests} |"
                     f" {rate:.0f} |"
                     f" **{r.errors}** | {r.detail} |")
    return "\n".join(lines) + "\n"


DOC_HEAD = """\
# Reloading without dropping requests

pyhaproxy can be reloaded three ways:

- **`-sf`/`-st` PIDs**, as with HAProxy: the new process takes the old one's listening sockets
  (HAProxy's `-x SOCKET` with `stats socket ... expose-fd listeners`; a pyhaproxy master also
  hands them to a new instance started with plain `-sf`, see pyhaproxy/sockxfer.py), binds
  what the old one did not have (SO_REUSEPORT, as haproxy 2.x; with an old instance bound
  without it, SIGTTOU to the old pids and retries for up to 1 s), starts its workers, waits until
  they serve, then sends SIGUSR1 (`-sf`, finish the sessions then exit) or SIGTERM (`-st`) to the
  old pids. The old workers only close their copies of the shared sockets.
- **The section 4.3 script** (architecture.txt): SIGTTOU to the old instance (its listeners leave
  the LISTEN state but stay bound), start the new one, then SIGUSR1 to the old one, or SIGTTIN to
  resume it if the new one failed to start.
- **Master-worker mode** (`-W` or `master-worker` in `global`): SIGUSR2 to the master re-reads
  the configuration. If it is invalid, the master logs the ALERT and the running workers go on.
  Otherwise the master starts a new generation of workers that inherit the *same* listening
  sockets for every unchanged (proxy, address, port) (new ones are bound, removed ones closed).
  Once the new workers have run for 0.2 s, the old generation gets SIGUSR1; if a new worker
  dies within that time (a config that parses but cannot run, e.g. a missing chroot directory),
  the reload is abandoned with an ALERT and the old generation simply goes on. A SIGUSR2 that
  arrives meanwhile is handled right after. An old worker only closes its own copy of each
  listening fd and finishes its sessions; the socket itself, with its accept queue, stays open
  in the master and the new workers, so no connection waiting in the queue is lost.

With the sockets handed over, and in master-worker mode, there is never a moment where the
port is closed or a listening socket with queued connections is destroyed; the section 4.3
script, and haproxy 2.6's `-sf` without `-x`, lose requests under load, as the figures show.

## Benchmark

`python -m bench.reload` (`--seconds N`, default 30; `--only MODE`; `--load close|keep-alive`) — one
nginx backend on loopback, `{wrk}` for N seconds, once with `Connection: close` (a new connection
for every request) and once with keep-alive (20 connections kept; a request lost on a closing
connection counts as a read error), and a reloader thread that
reloads the proxy every second (about N reloads), each time writing the config again with the
server weight toggled between 1 and 2. A failed request is anything wrk reports as a socket error
(connect, read, write, timeout) or a non-2xx/3xx response.

- `4.3-script`: `pyhaproxy -D -p pidfile -f cfg`, each reload the section 4.3 sequence: `kill -TTOU
  old`, start a new `pyhaproxy -D -p pidfile -f cfg`, `kill -USR1 old` (or `-TTIN` on failure).
- `master-worker`: one `pyhaproxy -W -db -f cfg`, each reload `kill -USR2 master`.
- `pyhaproxy-sf`: each reload a new `pyhaproxy -D -p pidfile -f cfg -sf OLDPID` (no `-x`: the
  old master hands its sockets over by itself).
- `haproxy-W`: Debian's haproxy 2.6 in master-worker mode, `haproxy -W -db -f cfg`, each reload
  `kill -USR2 master`.
- `haproxy-sf`: Debian's `/usr/sbin/haproxy` ({haproxy}) with the same proxy in 2.6 syntax (`bind`,
  `timeout connect/client/server`), each reload `haproxy -D -p pidfile -f cfg -sf OLDPID`
  (plain `-sf`: no `-x`/`expose-fd listeners` socket transfer).
- `haproxy-sf-x`: the same with `stats socket ... expose-fd listeners` and `-x` on each reload
  (2.6's seamless reload).

Results ({seconds:g} s per mode, {when}, {machine}):

"""

DOC_TAIL = """
Why the first and last lose requests: with the 4.3 script, SIGTTOU takes the old sockets out of
the LISTEN state, which resets every connection still in their accept queue, and the port
refuses connections until the new process (a Python start-up, a few hundred ms) has bound it
(wrk reports a refused or reset connection as a write error).
With haproxy's plain `-sf`, both processes listen on the port at once (SO_REUSEPORT, one accept
queue each); when the old one closes its sockets, the connections the kernel had already queued
on them are reset (`net.ipv4.tcp_migrate_req` would move them, but it is off by default). When
the sockets are handed over (`-x`, and pyhaproxy's `-sf`) and in master-worker mode there is
only ever one socket per address, and it never leaves the LISTEN state: some process holds it
throughout, so connections queued while the old workers drop their copies simply wait for the
new workers to accept them.

A lesson from this table: with shared sockets, a stopping process must leave the socket as it
found it. A stopping pyhaproxy worker used to shrink its listener's queue (`listen(fd, 0)`) before
draining it, which was harmless on a socket of its own but, on the shared one of a `-W` reload,
left the new workers a queue of one: SYNs were dropped under load and wrk counted 2 to 9 requests
timed out per run, each a client waiting for its SYN's retransmission (fixed in e8c2281).
haproxy's failed requests with keep-alive are connections it closes on soft stop while the client
sends its next request on them (a read error), not lost queued connections.

The section 4.3 script's keep-alive figure grew since 2026-12-02 (0 then, thousands now)
without a change to what the script does: a pyhaproxy start-up now takes about 1.3 s (more to
load: TLS, HTTP/2, stick tables, peers), longer than the 1 s between reloads, so each reload's
SIGTTOU comes right after the previous one's new instance started and the port stays paused
nearly all the time; clients whose connection the old instance closes meet a closed port and
wrk, retrying at once, counts a write error per attempt. The script pauses before starting, by
design; `-sf` and `-W` do not.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.reload", description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="load duration per mode (default 30)")
    ap.add_argument("--only", action="append", choices=MODES, help="run only this mode (repeatable)")
    ap.add_argument("--load", action="append", choices=LOADS, help="only this load (default: both)")
    ap.add_argument("--no-write", action="store_true", help="print the table, do not write docs/reload.md")
    args = ap.parse_args(argv)
    modes = args.only or list(MODES)
    if not Path(HAPROXY).exists():
        print(f"{HAPROXY} not found: skipping haproxy modes", file=sys.stderr)
        modes = [m for m in modes if not m.startswith("haproxy")]
    results: list[Result] = []
    with NginxBackends() as nginx:
        bport = nginx.ports[0]
        for load in args.load or LOADS:
            for mode in modes:
                print(f"-- {mode}, {load}: {args.seconds:g} s of load, one reload per second", flush=True)
                r = run_mode(mode, args.seconds, bport, load)
                print(f"   {r.reloads} reloads ({r.reload_failures} failed), {r.requests} requests, "
                      f"{r.errors} failed; {r.detail or ''} {' '.join(r.notes)}", flush=True)
                results.append(r)
    table = render(results, args.seconds)
    print()
    print(table)
    if not args.no_write:
        wrk = f'wrk -t1 -c{CONNS} --timeout 5s [-H "Connection: close"]'
        head = DOC_HEAD.format(wrk=wrk, haproxy=_version([HAPROXY, "-v"]), seconds=args.seconds,
                               when=time.strftime("%Y-%m-%d"),
                               machine=f"{os.cpu_count()} CPUs, {platform.platform(terse=True)}")
        RESULTS.write_text(head + table + DOC_TAIL)
        print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
