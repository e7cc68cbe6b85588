"""Logging cost: the same HTTP load with no `log`, with logs to a syslog receiver, and to a dead port.

``python -m bench.log_overhead [--seconds 5] [--runs 3]``. One pyhaproxy (`-db`, one worker) per
variant on the nginx backends of bench/backends.py, `option httplog`, wrk -t1 -c50 keep-alive on
`/`; variants alternate run by run. "dead" sends every line to a UDP port nobody listens on (the
kernel answers with ICMP port unreachable): the loop must neither block nor slow down. Reports
requests/s, requests per proxy CPU-second and wrk errors; writes docs/log-overhead.md.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.backends import NginxBackends, free_port, http_get
from bench.run import run_wrk

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "log-overhead.md"
CONFIG = """\
global
    maxconn 2000
{glog}
listen web 127.0.0.1:{port}
    mode http
    option httplog
{plog}
    contimeout 5000
    clitimeout 50000
    srvtimeout 50000
    server s1 127.0.0.1:{backend}
"""


def tree_cpu(pid: int) -> float:
    total = 0.0
    for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def receiver(stop: threading.Event, sock: socket.socket, count: list[int]) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            sock.recv(4096)
            count[0] += 1
        except OSError:
            pass


def one(variant: str, backend: int, seconds: float, workdir: Path) -> dict[str, float]:
    port = free_port()
    glog = plog = ""
    if variant == "receiver":
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        plog = f"    log 127.0.0.1:{rx.getsockname()[1]} local0"
    elif variant == "dead":
        plog = f"    log 127.0.0.1:{free_port()} local0"
    cfg = workdir / f"{variant}.cfg"
    cfg.write_text(CONFIG.format(glog=glog, plog=plog, port=port, backend=backend))
    proc = subprocess.Popen([sys.executable, "-m", "pyhaproxy", "-db", "-q", "-f", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    count = [0]
    thread = None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if http_get(port, "/")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        if variant == "receiver":
            thread = threading.Thread(target=receiver, args=(stop, rx, count), daemon=True)
            thread.start()
        cpu0 = tree_cpu(proc.pid)
        w = run_wrk(f"http://127.0.0.1:{port}/", 50, seconds, close=False)
        cpu = tree_cpu(proc.pid) - cpu0
        return {"rps": w["requests"] / w["seconds"], "per_cpu": w["requests"] / max(cpu, 1e-6),
                "errors": w["errors"], "lines": float(count[0])}
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if variant == "receiver":
            rx.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    variants = ("none", "receiver", "dead")
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    with NginxBackends() as nginx, tempfile.TemporaryDirectory(prefix="pyhaproxy-logbench-") as tmp:
        for _ in range(args.runs):
            for v in variants:
                results[v].append(one(v, nginx.ports[0], args.seconds, Path(tmp)))
    lines = ["# Logging overhead (pyhaproxy, option httplog)", "",
             f"`python -m bench.log_overhead --seconds {args.seconds:g} --runs {args.runs}`: wrk -t1 -c50 "
             "keep-alive on `/`, one worker; medians over the runs (min-max).", "",
             "| log target | requests/s | requests per CPU-second | wrk errors | lines received |",
             "|---|---|---|---|---|"]
    for v in variants:
        rs = [r["rps"] for r in results[v]]
        cs = [r["per_cpu"] for r in results[v]]
        errs = sum(r["errors"] for r in results[v])
        got = sum(r["lines"] for r in results[v])
        label = {"none": "no log line", "receiver": "UDP syslog receiver",
                 "dead": "UDP port with no listener"}[v]
        lines.append(f"| {label} | {statistics.median(rs):,.0f} ({min(rs):,.0f}-{max(rs):,.0f}) | "
                     f"{statistics.median(cs):,.0f} ({min(cs):,.0f}-{max(cs):,.0f}) | {errs:.0f} | "
                     f"{got:,.0f} |")
    text = "\n".join(lines) + "\n"
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
