"""Benchmark harness: pyhaproxy against Debian's haproxy 2.6, with wrk and nginx backends.

    python -m bench.run [--quick] [--runs N] [--only http|tcp|mem]

Per run, and for each group (http, tcp, mem), pyhaproxy then haproxy (A B A B ...) are started
fresh on the same four nginx backends and measured with the same wrk commands. On a 2-core
machine the proxy under test (all its processes) is pinned to CPU 1, and wrk, nginx and this
harness to CPU 0. Results go to docs/bench-results.md and docs/bench.png (see bench/README.md).

Every process started here is stopped by PID in a finally block (and at exit); every wait is
bounded; a proxy that does not start is reported as "failed" with its reason.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench import machine, report
from bench.backends import NginxBackends, free_port, http_get
from bench.configs import MAXCONN, ULIMIT_N, WANTED_MAXCONN, write_config

REPO = Path(__file__).resolve().parent.parent
HAPROXY = "/usr/sbin/haproxy"  # always by full path: our own `haproxy` console script may shadow it
WRK = "wrk"
# 10,000 unless the descriptor hard limit forced a lower maxconn (see bench/configs.py)
IDLE_CONNS = min(10_000, MAXCONN - 50)
CLIENT_NOFILE = 30_000
PROXIES = ("pyhaproxy", "haproxy")
GROUPS = ("http", "tcp", "mem", "stick", "rules", "map")

NCPU = os.cpu_count() or 1
PINNED = NCPU >= 2
CLIENT_CPU = 0
PROXY_CPU = 1


def _preexec_proxy() -> None:
    """In the proxy's child before exec: pin to the proxy CPU, allow many descriptors."""
    if PINNED:
        os.sched_setaffinity(0, {PROXY_CPU})
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = max(ULIMIT_N, soft)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        pass  # not root: the proxy's own ulimit-n handling decides


class Proxy:
    """One proxy process tree under test (pyhaproxy: master + worker; haproxy: one process)."""

    live: list[Proxy] = []

    def __init__(self, name: str, mode: str, workdir: Path, backends: list[int]) -> None:
        self.name = name
        self.mode = mode
        self.port = free_port()
        self.cfg = write_config(workdir, name, mode, self.port, backends)
        self.log = workdir / f"{name}-{mode}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.root: psutil.Process | None = None
        self.known: dict[int, psutil.Process] = {}
        self.notes: list[str] = []

    def command(self) -> list[str]:
        if self.name == "pyhaproxy":
            return [sys.executable, "-m", "pyhaproxy", "-db", "-f", str(self.cfg)]
        return [HAPROXY, "-db", "-f", str(self.cfg)]

    def start(self, timeout: float = 10.0) -> str | None:
        """Start and wait until an HTTP GET through the proxy answers 200. None, or the failure reason."""
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_preexec_proxy,
                start_new_session=True,
            )
        Proxy.live.append(self)
        try:
            self.root = psutil.Process(self.proc.pid)
        except psutil.Error:
            pass
        deadline = time.monotonic() + timeout
        last_err = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exit {self.proc.returncode} at start: {self.tail(lines=2)}"
            try:
                status, raw = http_get(self.port, "/", timeout=1.0)
                if status == 200:
                    if self.mode in ("http", "stick", "rules", "map") and b"SERVERID=" not in raw:
                        self.notes.append(f"{self.name}: no SERVERID cookie in the first HTTP response")
                    self.tree()
                    time.sleep(0.3)  # let the health checks and first allocations settle
                    return None
                last_err = f"HTTP status {status}"
            except OSError as e:
                last_err = f"{type(e).__name__}: {e}"
            time.sleep(0.1)
        return f"no answer on port {self.port} within {timeout:.0f}s ({last_err}): {self.tail()}"

    def tail(self, lines: int = 3, n: int = 400) -> str:
        """The last lines of the proxy's output (where the error usually is), on one line."""
        try:
            text = self.log.read_text(errors="replace").strip()
        except OSError:
            return ""
        last = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
        return " / ".join(last)[-n:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tree(self) -> list[psutil.Process]:
        """The root process and all its descendants (remembered for stop())."""
        if self.root is None:
            return []
        procs = [self.root]
        try:
            procs += self.root.children(recursive=True)
        except psutil.Error:
            pass
        for p in procs:
            self.known.setdefault(p.pid, p)
        return procs

    def cpu(self) -> dict[int, float]:
        """user+system CPU seconds of each process of the tree (threads included)."""
        out = {}
        for p in self.tree():
            try:
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        return out

    def rss(self) -> int:
        total = 0
        for p in self.tree():
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def nfds(self) -> int:
        total = 0
        for p in self.tree():
            try:
                total += p.num_fds()
            except psutil.Error:
                pass
        return total

    def stop(self) -> None:
        """SIGTERM the root, then SIGKILL whatever of the tree is left, all by PID."""
        self.tree()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=3)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        for p in self.known.values():
            try:
                p.kill()  # psutil checks the PID was not reused
            except psutil.Error:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        if self in Proxy.live:
            Proxy.live.remove(self)


def _kill_all_live() -> None:
    for p in list(Proxy.live):
        p.stop()


# ---------------------------------------------------------------- wrk

_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_UNIT_B = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_wrk(out: str) -> dict[str, float]:
    """requests, seconds, bytes, p99 (s, if --latency), errors (socket errors + non-2xx/3xx)."""
    res: dict[str, float] = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)(B|KB|MB|GB|TB) read", out)
    if not m:
        raise ValueError(f"cannot parse wrk output: {' '.join(out.split())[-300:]}")
    res["requests"] = float(m.group(1))
    res["seconds"] = float(m.group(2)) * _UNIT_S[m.group(3)]
    res["bytes"] = float(m.group(4)) * _UNIT_B[m.group(5)]
    m = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
    if m:
        res["p99"] = float(m.group(1)) * _UNIT_S[m.group(2)]
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    res["errors"] = float(errors)
    return res


def run_wrk(url: str, conns: int, duration: float, close: bool) -> dict[str, float]:
    """One bounded wrk run (inherits the harness's CPU pinning)."""
    cmd = [WRK, "-t1", f"-c{conns}", f"-d{duration:g}s", "--timeout", "5s", "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(url)
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 20)
    if cp.returncode != 0:
        raise RuntimeError(f"wrk exited {cp.returncode}: {cp.stderr.strip()[-300:]}")
    return parse_wrk(cp.stdout)


# ---------------------------------------------------------------- the benchmark


class Bench:
    """Collects results and failures across runs."""

    def __init__(self, duration: float, runs: int) -> None:
        self.duration = duration
        self.runs = runs
        self.results: report.Results = {}
        self.failures: report.Failures = {}
        self.notes: list[str] = []
        self.cpu_use: dict[tuple[str, str], list[float]] = {}
        self.start_failed: dict[tuple[str, str], str] = {}
        # machine CPU-seconds per request (per MB for /1m) with no proxy, per (run, test)
        self.baseline_cost: dict[tuple[int, str], float] = {}
        self.baseline_rate: dict[str, list[float]] = {}

    def baseline(self, port: int, run: int) -> None:
        """The same wrk runs straight to one nginx backend: the machine's cost without a proxy."""
        runs = (("ka", "/", 50, False), ("close", "/", 50, True), ("1m", "/1m", 10, False))
        for test, path, conns, close in runs:
            try:
                with machine.Window() as mw:
                    w = run_wrk(f"http://127.0.0.1:{port}{path}", conns, self.duration, close)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                self.notes.append(f"- run {run + 1}, no-proxy baseline {test}: {e}")
                continue
            units = w["bytes"] / 2**20 if test == "1m" else w["requests"]
            if units > 0 and mw.seconds >= 0.1:
                self.baseline_cost[(run, test)] = mw.seconds / units
                self.baseline_rate.setdefault(test, []).append(units / mw.seconds)
                print(f"  {'no proxy':9s} {test:5s}: {units / mw.seconds:9.0f} per machine CPU-s", flush=True)

    def ok(self, key: str, proxy: str, value: float) -> None:
        self.results.setdefault(key, {}).setdefault(proxy, []).append(value)

    def fail(self, keys: list[str], proxy: str, reason: str) -> None:
        for key in keys:
            self.failures.setdefault(key, {}).setdefault(proxy, []).append(reason)

    def started(self, name: str, mode: str, workdir: Path, backends: list[int]) -> Proxy | str:
        """A running Proxy, or the reason it could not start (not retried in later runs)."""
        prev = self.start_failed.get((name, mode))
        if prev is not None:
            return prev
        proxy = Proxy(name, mode, workdir, backends)
        err = proxy.start()
        if err is not None:
            proxy.stop()
            reason = f"{mode} config: {err}"
            self.start_failed[(name, mode)] = reason
            return reason
        return proxy

    def wrk_group(self, name: str, mode: str, workdir: Path, backends: list[int], run: int) -> None:
        """keep-alive, close and /1m through the `mode` config of proxy `name`."""
        tests: list[tuple[str, str, int, bool, list[str]]] = [
            ("ka", "/", 50, False, [f"{mode}_ka_rps", f"{mode}_ka_p99", f"{mode}_ka_rpmcpu",
                                    f"{mode}_ka_rpacpu", f"{mode}_ka_rpcpu"]),
            ("close", "/", 50, True, [f"{mode}_close_rps", f"{mode}_close_p99", f"{mode}_close_rpmcpu",
                                      f"{mode}_close_rpacpu", f"{mode}_close_rpcpu"]),
            ("1m", "/1m", 10, False, [f"{mode}_1m_mbs", f"{mode}_1m_mbmcpu", f"{mode}_1m_mbacpu",
                                      f"{mode}_1m_mbcpu"]),
        ]
        proxy = self.started(name, mode, workdir, backends)
        if isinstance(proxy, str):
            for _, _, _, _, keys in tests:
                self.fail(keys, name, proxy)
            print(f"  {name:9s} {mode}: FAILED {proxy[:200]}", flush=True)
            return
        self.notes.extend(f"- {n}" for n in proxy.notes)
        try:
            for test, path, conns, close, keys in tests:
                if not proxy.alive():
                    self.fail(keys, name, f"process exited before {mode}/{test}: {proxy.tail()}")
                    continue
                url = f"http://127.0.0.1:{proxy.port}{path}"
                before = proxy.cpu()
                t0 = time.monotonic()
                try:
                    with machine.Window() as mw:
                        w = run_wrk(url, conns, self.duration, close)
                except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                    self.fail(keys, name, f"{mode}/{test}: {e}")
                    continue
                wall = time.monotonic() - t0
                after = proxy.cpu()
                cpu = sum(v - before.get(pid, 0.0) for pid, v in after.items())
                if not proxy.alive():
                    self.fail(keys, name, f"process died during {mode}/{test}: {proxy.tail()}")
                    continue
                if w["requests"] < conns:
                    # fewer completed requests than connections over the whole run: transfers stalled
                    # (wrk counts no error for a response that never completes)
                    msg = (
                        f"{mode}/{test}: stalled, {w['requests']:.0f} requests completed in "
                        f"{w['seconds']:.1f}s on {conns} connections ({w['bytes'] / 2**20:.1f} MiB read)"
                    )
                    self.fail(keys, name, msg)
                    continue
                if w["errors"] > 0.01 * w["requests"]:
                    msg = f"{mode}/{test}: {w['errors']:.0f} errors for {w['requests']:.0f} requests"
                    self.fail(keys, name, msg)
                    continue
                if w["errors"]:
                    self.notes.append(
                        f"- run {run + 1}, {name} {mode}/{test}: {w['errors']:.0f} wrk errors "
                        f"in {w['requests']:.0f} requests"
                    )
                self.cpu_use.setdefault((name, f"{mode}/{test}"), []).append(100.0 * cpu / wall)
                if cpu < 0.05 * wall:
                    self.notes.append(
                        f"- run {run + 1}, {name} {mode}/{test}: proxy nearly idle ({cpu:.2f} CPU-s in "
                        f"{wall:.1f} s): it was waiting, not working"
                    )
                # /proc CPU times tick at 10 ms: below 0.1 s a per-CPU figure is mostly rounding
                cpu_ok = cpu >= 0.1
                if not cpu_ok:
                    self.fail([keys[-1]], name, f"{mode}/{test}: too little proxy CPU time ({cpu:.2f}s)")
                rps = w["requests"] / w["seconds"]
                per_cpu = w["requests"] / cpu if cpu > 0 else float("nan")
                units = w["bytes"] / 2**20 if test == "1m" else w["requests"]
                # machine-wide: every process and the kernel; then minus the no-proxy run
                mkeys = keys[-3:-1]
                per_mcpu = machine.per_cpu_second(units, mw.seconds)
                if per_mcpu is None:
                    self.fail(mkeys, name, f"{mode}/{test}: too little machine CPU time ({mw.seconds:.2f}s)")
                else:
                    self.ok(mkeys[0], name, per_mcpu)
                    base = self.baseline_cost.get((run, test))
                    attr = machine.attributable_rate(units, mw.seconds, base) if base is not None else None
                    if attr is None:
                        why = "no baseline" if base is None else "proxy cost within the baseline's noise"
                        self.fail([mkeys[1]], name, f"{mode}/{test}: {why}")
                    else:
                        self.ok(mkeys[1], name, attr)
                if test == "1m":
                    mbs = w["bytes"] / w["seconds"] / 2**20
                    self.ok(keys[0], name, mbs)
                    if cpu_ok:
                        self.ok(keys[-1], name, w["bytes"] / 2**20 / cpu)
                    print(f"  {name:9s} {mode}/{test:5s}: {mbs:9.1f} MB/s  cpu {cpu:5.2f}s"
                          f"  machine {mw.seconds:5.2f}s", flush=True)
                else:
                    self.ok(keys[0], name, rps)
                    if "p99" in w:
                        self.ok(keys[1], name, w["p99"] * 1000)
                    if cpu_ok:
                        self.ok(keys[-1], name, per_cpu)
                    print(
                        f"  {name:9s} {mode}/{test:5s}: {rps:9.0f} req/s"
                        f"  p99 {w.get('p99', 0) * 1000:6.2f} ms"
                        f"  {per_cpu:9.0f} req/CPU-s  {per_mcpu or 0:9.0f} req/machine-CPU-s"
                        f"  cpu {cpu:5.2f}s machine {mw.seconds:5.2f}s",
                        flush=True,
                    )
                time.sleep(0.3)
        finally:
            proxy.stop()

    def mem_group(self, name: str, workdir: Path, backends: list[int], run: int) -> None:
        """RSS growth of the proxy tree per idle client connection, in HTTP then TCP mode."""
        for mode in ("http", "tcp"):
            key = f"mem_{mode}_bpc"
            proxy = self.started(name, mode, workdir, backends)
            if isinstance(proxy, str):
                self.fail([key], name, proxy)
                print(f"  {name:9s} mem/{mode}: FAILED {proxy[:200]}", flush=True)
                continue
            socks: list[socket.socket] = []
            try:
                base_rss, base_fds = proxy.rss(), proxy.nfds()
                socks, err = open_idle(proxy.port, IDLE_CONNS, deadline=time.monotonic() + 30)
                n = len(socks)
                # wait until the proxy has taken them all (+1 fd each, +2 in TCP mode: it connects
                # to a server at once), or its descriptor count stops moving
                want = base_fds + n * (2 if mode == "tcp" else 1)
                last, still_since = -1, time.monotonic()
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    fds = proxy.nfds()
                    if fds >= want:
                        break
                    if fds != last:
                        last, still_since = fds, time.monotonic()
                    elif time.monotonic() - still_since > 2.0:
                        break
                    time.sleep(0.1)
                time.sleep(0.5)
                fds = proxy.nfds()
                rss = proxy.rss()
                if not proxy.alive():
                    self.fail([key], name, f"process died with {n} idle connections: {proxy.tail()}")
                    continue
                if n == 0:
                    self.fail([key], name, f"no idle connection could be opened: {err}")
                    continue
                if n < IDLE_CONNS:
                    self.notes.append(
                        f"- run {run + 1}, {name} mem/{mode}: only {n} idle connections ({err})"
                    )
                if fds < want:
                    self.notes.append(
                        f"- run {run + 1}, {name} mem/{mode}: proxy holds {fds - base_fds} new descriptors "
                        f"for {n} idle connections (expected {want - base_fds})"
                    )
                bpc = (rss - base_rss) / n
                self.ok(key, name, bpc)
                print(
                    f"  {name:9s} mem/{mode:4s} : {bpc:9.0f} bytes/conn  ({n} conns, rss "
                    f"{base_rss / 2**20:.1f} -> {rss / 2**20:.1f} MiB)",
                    flush=True,
                )
            finally:
                for s in socks:
                    s.close()
                proxy.stop()


def open_idle(port: int, n: int, deadline: float) -> tuple[list[socket.socket], str]:
    """Open up to n idle connections to 127.0.0.1:port, sending nothing; bounded by deadline."""
    socks: list[socket.socket] = []
    err = ""
    try:
        for _ in range(n):
            if time.monotonic() > deadline:
                err = "deadline reached"
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(3.0)
            try:
                s.connect(("127.0.0.1", port))
            except OSError as e:
                s.close()
                err = f"{type(e).__name__}: {e}"
                break
            socks.append(s)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks, err


def raise_nofile(want: int) -> None:
    """The idle-connection client needs ~10,000 descriptors in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def _first_line(cmd: list[str]) -> str:
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"
    text = (cp.stdout or cp.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def background_busy(seconds: float = 1.0) -> float:
    """Percent of all CPUs busy over `seconds` while we do nothing: other people's load."""
    b0, t0 = _cpu_ticks()
    time.sleep(seconds)
    b1, t1 = _cpu_ticks()
    return 100.0 * (b1 - b0) / max(1, t1 - t0)


def machine_info() -> dict[str, str]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": str(NCPU),
        "cpu": cpu_model,
        "kernel": platform.release(),
        "haproxy": _first_line([HAPROXY, "-v"]),
        "wrk": _first_line([WRK, "-v"]),
        "nginx": _first_line(["/usr/sbin/nginx", "-v"]),
        "python": sys.version.split()[0],
        "load average (1, 5, 15 min) at the end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run, 3 s per measurement")
    ap.add_argument("--runs", type=int, default=None, help="runs per proxy (default 3, --quick 1)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per wrk run (default 8, --quick 3)")
    ap.add_argument("--only", choices=GROUPS, action="append", help="run only this group (repeatable)")
    ap.add_argument("--out", type=Path, default=REPO / "docs", help="where bench-results.md and bench.png go")
    args = ap.parse_args(argv)
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    duration = args.duration if args.duration is not None else (3.0 if args.quick else 8.0)
    groups = args.only or list(GROUPS)
    if runs < 1 or duration <= 0:
        ap.error("--runs and --duration must be positive")

    # SIGTERM must run the finally blocks too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    atexit.register(_kill_all_live)
    if PINNED:
        os.sched_setaffinity(0, {CLIENT_CPU})  # wrk and nginx inherit it
    raise_nofile(CLIENT_NOFILE)

    bench = Bench(duration, runs)
    busy_before = background_busy()
    if busy_before > 10.0:
        bench.notes.append(
            f"- WARNING: the machine was {busy_before:.0f}% busy (all CPUs) with other processes before "
            "the benchmark started: throughput and latency figures are noisy; the per-CPU-second "
            "figures suffer least"
        )
    t_start = time.monotonic()
    pin_note = (
        f"proxy under test (all its processes) pinned to CPU {PROXY_CPU}; wrk, nginx and the harness "
        f"(idle-connection client) pinned to CPU {CLIENT_CPU}"
        if PINNED
        else "no pinning (fewer than 2 CPUs): client, backends and proxy share the CPU"
    )
    print(f"bench: {runs} run(s), {duration:g}s per wrk run, groups {','.join(groups)}", flush=True)
    print(f"bench: {pin_note}", flush=True)
    print(f"bench: background load before start {busy_before:.0f}% of all CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="pyhaproxy-bench-") as tmp:
        workdir = Path(tmp)
        nginx = NginxBackends()
        atexit.register(nginx.stop)
        try:
            nginx.start()
            print(f"nginx backends on ports {nginx.ports}", flush=True)
            for run in range(runs):
                print(f"run {run + 1}/{runs}", flush=True)
                if any(g != "mem" for g in groups):
                    bench.baseline(nginx.ports[0], run)
                for group in groups:
                    for name in PROXIES:  # A B A B: the two proxies alternate within each group
                        if group == "mem":
                            bench.mem_group(name, workdir, nginx.ports, run)
                        else:
                            bench.wrk_group(name, group, workdir, nginx.ports, run)
        finally:
            _kill_all_live()
            nginx.stop()
    elapsed = time.monotonic() - t_start

    # whether the proxy saturated its core tells if req/s measured the proxy or the client side
    cpu_parts = []
    for test in sorted({test for _, test in bench.cpu_use}):
        per = [
            f"{name} {statistics.median(bench.cpu_use[(name, test)]):.0f}%"
            for name in PROXIES
            if (name, test) in bench.cpu_use
        ]
        cpu_parts.append(f"{test} {', '.join(per)}")
    if bench.baseline_rate:
        parts = [f"{t} {statistics.median(v):,.0f} {'MB' if t == '1m' else 'req'}"
                 for t, v in bench.baseline_rate.items()]
        bench.notes.append("- no-proxy baseline (wrk straight to nginx), per machine CPU-second: "
                           + "; ".join(parts))
    if cpu_parts:
        bench.notes.append("- proxy CPU use in the wrk runs (median % of its core): " + "; ".join(cpu_parts))
    params = {
        "runs": f"{runs} per proxy, alternating pyhaproxy, haproxy (A B A B) within each group",
        "wrk": f"`wrk -t1 -c50 -d{duration:g}s --latency` on `/` (~20 B body), keep-alive and with "
        f"`-H 'Connection: close'`; `-c10` on `/1m` (1 MiB)",
        "requests per CPU-second": "requests / (user+system CPU seconds of every process of the proxy's "
        "tree during the wrk run); the fair figure here since client and backends share the other core",
        "machine-wide": "busy CPU-seconds of all CPUs from /proc/stat (every process and the kernel: "
        "softirq, kworkers) over the wrk run; 'proxy-attributable' subtracts the machine cost per "
        "request of the same wrk run straight to nginx (no proxy) in the same run (bench/machine.py)",
        "memory": f"{IDLE_CONNS} idle client connections (nothing sent), (RSS sum over the proxy tree - "
        f"RSS right after start) / connections; fresh proxy per mode",
        "maxconn": (
            f"{MAXCONN} on both proxies, ulimit-n {ULIMIT_N}"
            + (
                ""
                if MAXCONN >= WANTED_MAXCONN
                else f" (lowered from {WANTED_MAXCONN}: the descriptor hard limit here is {ULIMIT_N} and "
                "cannot be raised, and haproxy 2.6 needs ulimit-n >= 2 * maxconn; hence "
                f"{IDLE_CONNS} rather than 10000 idle connections)"
            )
        ),
        "pinning": pin_note,
        "backends": "one nginx (1 worker, access_log off) with four loopback servers",
        "proxy commands": f"`python -m pyhaproxy -db -f cfg` and `{HAPROXY} -db -f cfg` (nbthread 1), "
        "configs from bench/configs.py, no logging",
        "elapsed": f"{elapsed:.0f} s",
        "background load": f"{busy_before:.0f}% of all CPUs busy with other processes just before the start",
    }
    md = report.markdown(bench.results, bench.failures, runs, machine_info(), params, bench.notes)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench-results.md").write_text(md)
    try:
        report.chart(bench.results, bench.failures, args.out / "bench.png")
    except Exception as e:  # the table matters more than the picture
        print(f"chart not written: {e}", file=sys.stderr)
    print()
    print(md)
    print(f"written: {args.out / 'bench-results.md'}, {args.out / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
