"""TLS handshakes per proxy CPU-second: pyhaproxy, haproxy 2.6 and nginx (issue 20, first figures).

    python -m bench.tls [--runs 3] [--time 5]

For each key type (ECDSA P-256, RSA 2048) and each run, pyhaproxy, haproxy then nginx (A B C A B
C), each started fresh on the same configuration (`mode http`, one `bind ... ssl crt`, one worker
/ one thread, no log; nginx: one worker, `listen ... ssl`, `return 200`), pinned to CPU 1 while
`openssl s_time` runs on CPU 0:

- full handshakes: `s_time -new` (a new TCP connection and a full handshake each time, TLS 1.3,
  no resumption, no request: the connection ends after the handshake);
- resumed handshakes: `s_time -reuse -tls1_2` (the first session's ticket resumes every later
  one; TLS 1.2 because s_time reads no TLS 1.3 ticket, which comes after the handshake).

The figure is handshakes completed by the client / (user + system CPU seconds of every process of
the proxy over the same interval); the ratio is pyhaproxy / haproxy of the medians. Prints a
Markdown table. Every process started is stopped by PID; every wait is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from bench.run import HAPROXY, PINNED, _preexec_proxy

CLIENT_CPU = 0
PROXIES = ("pyhaproxy", "haproxy", "nginx")

CFG = """global
    maxconn 4000
    nbthread 1
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {crt}
    default_backend be
backend be
    server s 127.0.0.1:9
"""


NGINX = "/usr/sbin/nginx"
NGINX_CFG = """daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx-{port}.pid;
error_log {dir}/nginx-{port}.err;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    fastcgi_temp_path {dir}/nginx-fcgi;
    uwsgi_temp_path {dir}/nginx-uwsgi;
    scgi_temp_path {dir}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {crt};
        ssl_certificate_key {crt};
        ssl_protocols TLSv1.2 TLSv1.3;
        return 200;
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_cert(d: Path, name: str, key: list[str]) -> Path:
    subprocess.run(["openssl", "req", "-x509", "-newkey", *key, "-nodes", "-keyout", f"{name}.key",
                    "-out", f"{name}.crt", "-days", "2", "-subj", "/CN=bench.example"],
                   cwd=d, check=True, capture_output=True, timeout=60)
    pem = d / f"{name}.pem"
    pem.write_text((d / f"{name}.crt").read_text() + (d / f"{name}.key").read_text())
    return pem


def _cpu(root: psutil.Process) -> float:
    total = 0.0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _client_preexec() -> None:
    if PINNED:
        os.sched_setaffinity(0, {CLIENT_CPU})


def proxy_cmd(which: str, cfg: Path, workdir: Path, port: int) -> list[str]:
    """The command line of `which` (pyhaproxy, haproxy or nginx) on configuration `cfg`."""
    if which == "nginx":
        return [NGINX, "-p", str(workdir), "-e", str(workdir / f"nginx-{port}.err"), "-c", str(cfg)]
    if which == "pyhaproxy":
        return [sys.executable, "-m", "pyhaproxy", "-db", "-f", str(cfg)]
    return [HAPROXY, "-db", "-f", str(cfg)]


@contextlib.contextmanager
def running(cmd: list[str], log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], psutil.Process]]:
    """Start a proxy pinned to the proxy CPU, output to `log_path`; on the way out stop it and
    every process it started, by PID (SIGTERM, then SIGKILL after 5 s)."""
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=_preexec_proxy, start_new_session=True)
    root = psutil.Process(proc.pid)
    try:
        yield proc, root
    finally:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = [root]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for p in procs:
            try:
                p.kill()
            except psutil.Error:
                pass
        proc.wait(5)
        log.close()


def measure(which: str, crt: Path, workdir: Path, seconds: int, mode: list[str]) -> float:
    port = _free_port()
    cfg = workdir / f"{which}-{port}.cfg"
    cfg.write_text(NGINX_CFG.format(port=port, crt=crt, dir=workdir) if which == "nginx"
                   else CFG.format(port=port, crt=crt))
    log_path = workdir / f"{which}-{port}.log"
    with running(proxy_cmd(which, cfg, workdir, port), log_path) as (proc, root):
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-400:]
                    raise RuntimeError(f"{which} did not start: {tail}") from None
                time.sleep(0.1)
        time.sleep(0.5)
        c0 = _cpu(root)
        out = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", *mode,
                              "-time", str(seconds)], capture_output=True, text=True,
                             timeout=seconds + 30, preexec_fn=_client_preexec)
        c1 = _cpu(root)
        m = re.search(r"(\d+) connections in [\d.]+s", out.stdout)
        if m is None:
            raise RuntimeError(f"s_time: {out.stdout[-300:]} {out.stderr[-300:]}")
        n = int(m.group(1))
        return n / max(c1 - c0, 1e-6)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--time", type=int, default=5, help="seconds per measurement")
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        d = Path(tmp)
        keys = {"ECDSA P-256": make_cert(d, "ec", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                "RSA 2048": make_cert(d, "rsa", ["rsa:2048"])}
        for kname, crt in keys.items():
            for label, mode in (("full handshakes (TLS 1.3)", ["-new"]),
                                ("resumed handshakes (TLS 1.2 tickets)", ["-reuse", "-tls1_2"])):
                vals: dict[str, list[float]] = {w: [] for w in PROXIES}
                for _ in range(a.runs):
                    for which in PROXIES:
                        vals[which].append(measure(which, crt, d, a.time, mode))
                med = {w: statistics.median(v) for w, v in vals.items()}
                rows.append((f"{label} per proxy CPU-second, {kname}", med, vals))
    print("| figure | pyhaproxy | haproxy 2.6 | nginx | pyhaproxy / haproxy | pyhaproxy / nginx |")
    print("|---|---|---|---|---|---|")
    for name, med, _vals in rows:
        py, hp, ng = med["pyhaproxy"], med["haproxy"], med["nginx"]
        print(f"| {name} | {py:,.0f} | {hp:,.0f} | {ng:,.0f} | {py / hp:.2f}x | {py / ng:.2f}x |")
    print()
    for name, _med, vals in rows:
        print(f"{name}: " + "; ".join(f"{k} " + ", ".join(f"{v:,.0f}" for v in vs) for k, vs in vals.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
