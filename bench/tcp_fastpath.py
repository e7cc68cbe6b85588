"""TCP keep-alive through `option tcp-fastpath` (docs/tcp-fastpath.md) against the same config
without it and against haproxy 2.6, in one run.

    python -m bench.tcp_fastpath [--runs 3] [--duration 5]

The section 2 TCP config of bench/run.py (four nginx backends, wrk with 50 keep-alive
connections, proxy pinned to CPU 1, wrk and nginx to CPU 0), three proxies alternated in each
run (fast, epoll, haproxy), plus wrk straight to nginx for the machine's cost without a proxy.
Per proxy: requests per second, per proxy CPU-second (its processes' user + system time: the
fast path's relaying is kernel work outside them, so this figure flatters it), per machine
CPU-second (every CPU's busy time, bench/machine.py) and per proxy-attributable machine
CPU-second (minus the no-proxy run's cost). Medians over the runs. Every process is stopped by
PID; every run is bounded by --duration.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import machine
from bench.backends import NginxBackends
from bench.run import CLIENT_CPU, PINNED, Proxy, run_wrk

VARIANTS = ("fast", "epoll", "haproxy", "none")


def make_proxy(variant: str, workdir: Path, backends: list[int]) -> Proxy:
    p = Proxy("haproxy" if variant == "haproxy" else "pyhaproxy", "tcp", workdir, backends)
    if variant == "fast":
        text = p.cfg.read_text()
        assert "    mode tcp\n" in text
        p.cfg.write_text(text.replace("    mode tcp\n", "    mode tcp\n    option tcp-fastpath\n", 1))
    return p


def measure(variant: str, workdir: Path, backends: list[int], duration: float) -> dict[str, float] | str:
    if variant == "none":
        with machine.Window() as mw:
            w = run_wrk(f"http://127.0.0.1:{backends[0]}/", 50, duration, False)
        return {"rps": w["requests"] / w["seconds"], "req": w["requests"], "machine": mw.seconds, "cpu": 0.0}
    p = make_proxy(variant, workdir, backends)
    try:
        err = p.start()
        if err is not None:
            return err
        if variant == "fast" and "tcp-fastpath" in p.tail(lines=20, n=2000):
            return f"fast path not available: {p.tail()}"
        before = p.cpu()
        with machine.Window() as mw:
            w = run_wrk(f"http://127.0.0.1:{p.port}/", 50, duration, False)
        after = p.cpu()
        cpu = sum(v - before.get(pid, 0.0) for pid, v in after.items())
        return {"rps": w["requests"] / w["seconds"], "req": w["requests"], "machine": mw.seconds, "cpu": cpu}
    finally:
        p.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0)
    args = ap.parse_args(argv)
    if PINNED:
        os.sched_setaffinity(0, {CLIENT_CPU})  # wrk and nginx inherit it
    nginx = NginxBackends()
    rows: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="bench-fp-") as tmp:
        try:
            nginx.start()
            for run in range(args.runs):
                for variant in VARIANTS:
                    try:
                        r = measure(variant, Path(tmp), nginx.ports, args.duration)
                    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                        r = str(e)
                    if isinstance(r, str):
                        print(f"run {run + 1} {variant:8s} FAILED {r[:200]}", flush=True)
                        continue
                    rows[variant].append(r)
                    print(f"run {run + 1} {variant:8s} {r['rps']:9.0f} req/s  proxy cpu {r['cpu']:5.2f}s  "
                          f"machine {r['machine']:5.2f}s  {r['req'] / r['machine']:9.0f} req/machine-CPU-s",
                          flush=True)
        finally:
            nginx.stop()
    base = [r["machine"] / r["req"] for r in rows["none"] if r["req"]]
    base_cost = statistics.median(base) if base else None
    print("\n| proxy | req/s | req per proxy CPU-s | req per machine CPU-s | req per attributable CPU-s |")
    print("|---|---|---|---|---|")
    for variant in VARIANTS[:3]:
        rs = rows[variant]
        if not rs:
            print(f"| {variant} | failed | | | |")
            continue
        rps = statistics.median(r["rps"] for r in rs)
        pcpu = statistics.median(r["req"] / r["cpu"] if r["cpu"] >= 0.05 else float("inf") for r in rs)
        mcpu = statistics.median(r["req"] / r["machine"] for r in rs)
        attrs = [machine.attributable_rate(r["req"], r["machine"], base_cost)
                 for r in rs] if base_cost else []
        attr = [a for a in attrs if a is not None]
        at = f"{statistics.median(attr):.0f}" if attr else "n/a"
        print(f"| {variant} | {rps:.0f} | {pcpu:.0f} | {mcpu:.0f} | {at} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
