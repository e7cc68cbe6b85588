"""TLS handshakes per proxy CPU-second: pyhaproxy, haproxy 2.6 and nginx (issue 20, first figures).

    python -m bench.tls [--runs 3] [--time 5] [--what handshakes|http|all] [--out FILE]

For each key type (ECDSA P-256, RSA 2048) and each run, pyhaproxy, haproxy then nginx (A B C A B
C), each started fresh on the same configuration (`mode http`, one `bind ... ssl crt`, one worker
/ one thread, no log; nginx: one worker, `listen ... ssl`, `return 200`), pinned to CPU 1 while
`openssl s_time` runs on CPU 0:

- full handshakes: `s_time -new -www /` (a new TCP connection and a full handshake for each
  request, TLS 1.3, no resumption; the proxy answers `GET /` itself: `http-request return`,
  nginx `return 200`);
- resumed handshakes: `s_time -reuse -tls1_2 -www /` (the first session's ticket resumes every
  later one; TLS 1.2 because s_time reads no TLS 1.3 ticket, which comes after the handshake).

With a request per connection, as the issue defines the figure: without one, s_time closes
right after its Finished, and haproxy 2.6, which reads the client's close with the Finished,
gives up before it builds the two TLS 1.3 session tickets, where pyhaproxy and nginx build
both (counted with uprobes); that measured the client's hurry, not the proxies.

The figure is handshakes completed by the client / (user + system CPU seconds of every process of
the proxy over the same interval); the ratio is pyhaproxy / haproxy of the medians.

`--what http` (ECDSA P-256 only): HTTPS through the proxy to an nginx backend (bench/backends.py,
on CPU 0 with the client), `wrk -t1` on CPU 0, A B C A B C as above:

- keep-alive requests per proxy CPU-second: `wrk -c50` on `/` (~20 B body), each client
  connection kept alive (one handshake per connection, then requests);
- 1 MiB bodies: `wrk -c4` on `/1m`: MB/s received by the client, and MB per proxy CPU-second
  (the throughput is bound by CPU 0, shared by the client and the backend).

pyhaproxy and haproxy keep their server connections alive (`http-reuse` default); nginx proxies
with an `upstream { keepalive 32; }` and HTTP/1.1 to the backend, unbuffered with 64 KiB reads
(`proxy_buffering off; proxy_buffer_size 64k`, buffers to match: its default 4 KiB reads would
make it write a TLS record per 4 KiB).

Prints Markdown tables (and writes them to --out). Every process started is stopped by PID; every
wait is bounded.
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

from bench.backends import NginxBackends
from bench.run import HAPROXY, PINNED, _preexec_proxy, run_wrk

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
    http-request return status 200
"""


HTTP_CFG = """global
    maxconn 4000
    nbthread 1
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {crt} alpn http/1.1
    default_backend be
backend be
    server s 127.0.0.1:{bport}
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


NGINX_HTTP_CFG = """daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx-{port}.pid;
error_log {dir}/nginx-{port}.err;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    fastcgi_temp_path {dir}/nginx-fcgi;
    uwsgi_temp_path {dir}/nginx-uwsgi;
    scgi_temp_path {dir}/nginx-scgi;
    upstream be {{ server 127.0.0.1:{bport}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {crt};
        ssl_certificate_key {crt};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_buffer_size 64k;
            proxy_buffers 4 64k;
            proxy_busy_buffers_size 128k;
        }}
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


def _started(which: str, proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-400:]
                raise RuntimeError(f"{which} did not start: {tail}") from None
            time.sleep(0.1)


def measure(which: str, crt: Path, workdir: Path, seconds: int, mode: list[str]) -> float:
    port = _free_port()
    cfg = workdir / f"{which}-{port}.cfg"
    cfg.write_text(NGINX_CFG.format(port=port, crt=crt, dir=workdir) if which == "nginx"
                   else CFG.format(port=port, crt=crt))
    log_path = workdir / f"{which}-{port}.log"
    with running(proxy_cmd(which, cfg, workdir, port), log_path) as (proc, root):
        _started(which, proc, port, log_path)
        time.sleep(0.5)
        c0 = _cpu(root)
        out = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", *mode, "-www", "/",
                              "-time", str(seconds)], capture_output=True, text=True,
                             timeout=seconds + 30, preexec_fn=_client_preexec)
        c1 = _cpu(root)
        m = re.search(r"(\d+) connections in [\d.]+s", out.stdout)
        if m is None:
            raise RuntimeError(f"s_time: {out.stdout[-300:]} {out.stderr[-300:]}")
        n = int(m.group(1))
        return n / max(c1 - c0, 1e-6)


def measure_http(which: str, crt: Path, workdir: Path, seconds: int, bport: int, path: str,
                 conns: int) -> tuple[float, float, float]:
    """wrk over HTTPS through `which` to the backend: (requests per proxy CPU-second, MB/s,
    MB per proxy CPU-second)."""
    port = _free_port()
    cfg = workdir / f"{which}-{port}.cfg"
    cfg.write_text(NGINX_HTTP_CFG.format(port=port, crt=crt, dir=workdir, bport=bport) if which == "nginx"
                   else HTTP_CFG.format(port=port, crt=crt, bport=bport))
    log_path = workdir / f"{which}-{port}.log"
    with running(proxy_cmd(which, cfg, workdir, port), log_path) as (proc, root):
        _started(which, proc, port, log_path)
        time.sleep(0.5)
        c0 = _cpu(root)
        w = run_wrk(f"https://127.0.0.1:{port}{path}", conns, seconds, close=False)
        c1 = _cpu(root)
        if w["errors"]:
            raise RuntimeError(f"{which}: {w['errors']:.0f} wrk errors on {path}")
        cpu = max(c1 - c0, 1e-6)
        return w["requests"] / cpu, w["bytes"] / w["seconds"] / 1e6, w["bytes"] / 1e6 / cpu


def http_rows(crt: Path, d: Path, runs: int, seconds: int) -> list[tuple[str, dict[str, float],
                                                                        dict[str, list[float]]]]:
    rows = []
    with NginxBackends(preexec=_client_preexec) as nginx:
        bport = nginx.ports[0]
        for path, conns, labels in (
                ("/", 50, {0: "HTTPS keep-alive requests (~20 B) per proxy CPU-second"}),
                ("/1m", 4, {1: "HTTPS 1 MiB responses, MB/s received",
                            2: "HTTPS 1 MiB responses, MB per proxy CPU-second"})):
            vals: dict[int, dict[str, list[float]]] = {i: {w: [] for w in PROXIES} for i in labels}
            for _ in range(runs):
                for which in PROXIES:
                    got = measure_http(which, crt, d, seconds, bport, path, conns)
                    for i in labels:
                        vals[i][which].append(got[i])
            for i, label in labels.items():
                rows.append((f"{label}, ECDSA P-256", {w: statistics.median(v) for w, v in vals[i].items()},
                             vals[i]))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--time", type=int, default=5, help="seconds per measurement")
    ap.add_argument("--what", choices=("handshakes", "http", "all"), default="handshakes")
    ap.add_argument("--out", type=Path, default=None, help="also write the tables to this file")
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        d = Path(tmp)
        os.chmod(d, 0o755)      # (nginx's worker runs as nobody and reads the certificate)
        keys = {"ECDSA P-256": make_cert(d, "ec", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                "RSA 2048": make_cert(d, "rsa", ["rsa:2048"])}
        for pem in keys.values():
            os.chmod(pem, 0o644)
        if a.what in ("http", "all"):
            rows += http_rows(keys["ECDSA P-256"], d, a.runs, a.time)
        for kname, crt in keys.items():
            if a.what == "http":
                break
            for label, mode in (("full handshakes (TLS 1.3)", ["-new"]),
                                ("resumed handshakes (TLS 1.2 tickets)", ["-reuse", "-tls1_2"])):
                vals: dict[str, list[float]] = {w: [] for w in PROXIES}
                for _ in range(a.runs):
                    for which in PROXIES:
                        vals[which].append(measure(which, crt, d, a.time, mode))
                med = {w: statistics.median(v) for w, v in vals.items()}
                rows.append((f"{label} per proxy CPU-second, {kname}", med, vals))
    out = ["| figure | pyhaproxy | haproxy 2.6 | nginx | pyhaproxy / haproxy | pyhaproxy / nginx |",
           "|---|---|---|---|---|---|"]
    for name, med, _vals in rows:
        py, hp, ng = med["pyhaproxy"], med["haproxy"], med["nginx"]
        out.append(f"| {name} | {py:,.0f} | {hp:,.0f} | {ng:,.0f} | {py / hp:.2f}x | {py / ng:.2f}x |")
    out.append("")
    for name, _med, vals in rows:
        out.append(f"{name}: " + "; ".join(f"{k} " + ", ".join(f"{v:,.0f}" for v in vs)
                                           for k, vs in vals.items()))
    print("\n".join(out))
    if a.out is not None:
        a.out.write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
