"""Where the worker's cycles go: `perf record` on one proxy process under a wrk load.

    python -m bench.profile [--proxy pyhaproxy|haproxy] [--mode http|tcp] [--close] [--seconds N]

Starts the benchmark's nginx backends and one proxy (bench/configs.py, same configs as
bench.run), runs wrk for N seconds while `perf record` samples the busiest process of the proxy
(pyhaproxy's worker, or haproxy), then prints perf's flat profile (self time by symbol, kernel
and user space), with the split between the kernel and user-space objects. Everything started is stopped by
PID at the end; the load stops by itself. Used for docs/profiling.md.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.backends import NginxBackends
from bench.run import PROXIES, Proxy, _kill_all_live, run_wrk


def busiest(proxy: Proxy) -> int:
    """The pid of the process of the tree that burns the CPU (the worker, not the master)."""
    tree = proxy.tree()
    if len(tree) == 1:
        return tree[0].pid
    return tree[-1].pid  # pyhaproxy: master first, its worker last


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy", choices=PROXIES, default="pyhaproxy")
    ap.add_argument("--mode", choices=("http", "tcp"), default="http")
    ap.add_argument("--close", action="store_true", help="Connection: close instead of keep-alive")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pyhaproxy-prof-") as tmp, NginxBackends() as be:
        work = Path(tmp)
        p = Proxy(args.proxy, args.mode, work, be.ports)
        try:
            err = p.start()
            if err:
                print(f"{args.proxy} failed to start: {err}")
                return 1
            pid = busiest(p)
            data = work / "perf.data"
            result: dict[str, dict[str, float]] = {}

            def load() -> None:
                result["wrk"] = run_wrk(f"http://127.0.0.1:{p.port}/", 50, args.seconds, args.close)

            t = threading.Thread(target=load)
            t.start()
            time.sleep(0.5)
            rec_s = max(1.0, args.seconds - 1.5)
            subprocess.run(["perf", "record", "-q", "-F", "2000", "-o", str(data), "-p", str(pid),
                            "--", "sleep", str(rec_s)], check=False, capture_output=True,
                           timeout=rec_s + 30)
            t.join(timeout=args.seconds + 30)
            by_dso = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                                     "--sort", "dso", "--percent-limit", "0.5"],
                                    capture_output=True, text=True, timeout=120)
            rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                                  "--sort", "dso,symbol", "--percent-limit", "0.7"],
                                 capture_output=True, text=True, timeout=120)
            mode = f"{args.mode} {'close' if args.close else 'keep-alive'}"
            print(f"## {args.proxy}, {mode}, pid {pid}, wrk: {result.get('wrk')}")
            for out in (by_dso.stdout, rep.stdout):
                lines = [" ".join(ln.split()) for ln in out.splitlines()
                         if ln.strip() and not ln.startswith("#")]
                print("\n".join(lines[: args.top]))
                print()
        finally:
            p.stop()
            _kill_all_live()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
