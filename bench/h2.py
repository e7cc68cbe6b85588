"""HTTP/2 over TLS (ALPN h2) per proxy CPU-second: pyhaproxy, haproxy 2.6 and nginx (issue 21).

    python -m bench.h2 [--runs 3] [--requests 40000]

Each run starts pyhaproxy, haproxy then nginx (A B C A B C), each fresh, one worker / one
thread, no log, pinned to CPU 1, while `h2load -c 10 -m 10` (10 connections, 10 concurrent
streams each, TLS 1.3 with ALPN h2, ECDSA P-256) runs on CPU 0 for a fixed number of requests:

- "answered by the proxy": `http-request return status 200` (nginx: `return 200`), the HTTP/2
  front side alone;
- "proxied": each request goes on to an nginx backend over HTTP/1.1 kept alive (nginx proxy:
  `proxy_pass` with an upstream `keepalive` pool), the backend on CPU 0 beside the client.

The figures are requests completed / (user + system CPU seconds of every process of the proxy
over the same interval), and / (busy CPU-seconds of the whole machine from /proc/stat: client,
backend, proxy and kernel); p99 comes from h2load's per-request log (`--log-file`). Medians of the runs;
the ratio is pyhaproxy / the other. Prints a Markdown table. Every process started is stopped by
PID; every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.backends import NginxBackends
from bench.run import _cpu_ticks
from bench.tls import _client_preexec, _cpu, _free_port, make_cert, proxy_cmd, running

PROXIES = ("pyhaproxy", "haproxy", "nginx")

CFG = """global
    maxconn 4000
    nbthread 1
defaults
    mode http
    timeout client 10s
    timeout connect 5s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port} ssl crt {crt} alpn h2,http/1.1
    {answer}
backend be
    server s 127.0.0.1:{backend}
"""

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
    keepalive_requests 1000000;
    upstream be {{ server 127.0.0.1:{backend}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {crt};
        ssl_certificate_key {crt};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            {answer}
        }}
    }}
}}
"""

MODES = {
    "answered by the proxy": ("http-request return status 200 content-type text/plain string ok",
                              "return 200 ok;"),
    "proxied to an HTTP/1.1 backend": ("default_backend be",
                                       "proxy_pass http://be; proxy_http_version 1.1; "
                                       "proxy_set_header Connection \"\";"),
}


def _p99_ms(log: Path) -> float:
    """h2load --log-file lines: start (s), status, duration (us)."""
    d = sorted(int(ln.split()[2]) for ln in log.read_text().splitlines() if ln.strip())
    return d[min(len(d) - 1, int(len(d) * 0.99))] / 1000.0 if d else float("nan")


def measure(which: str, mode: str, crt: Path, backend: int, workdir: Path,
            requests: int) -> tuple[float, float, float]:
    port = _free_port()
    cfg = workdir / f"{which}-{port}.cfg"
    hap_answer, ngx_answer = MODES[mode]
    if which == "nginx":
        cfg.write_text(NGINX_CFG.format(port=port, crt=crt, dir=workdir, backend=backend, answer=ngx_answer))
    else:
        cfg.write_text(CFG.format(port=port, crt=crt, backend=backend, answer=hap_answer))
    url = f"https://127.0.0.1:{port}/"
    reqlog = workdir / f"h2load-{which}-{port}.log"
    log_path = workdir / f"{which}-{port}.log"
    with running(proxy_cmd(which, cfg, workdir, port), log_path) as (proc, root):
        deadline = time.monotonic() + 10
        while b"1 succeeded" not in subprocess.run(["h2load", "-n", "1", url], capture_output=True,
                                                   timeout=10).stdout:
            if time.monotonic() > deadline or proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-400:]
                raise RuntimeError(f"{which} did not answer: {tail}")
            time.sleep(0.2)
        c0 = _cpu(root)
        m0 = _cpu_ticks()[0]
        r = subprocess.run(["h2load", "-c", "10", "-m", "10", "-n", str(requests), "--log-file", str(reqlog),
                            url], capture_output=True, text=True, timeout=300, preexec_fn=_client_preexec)
        c1 = _cpu(root)
        m1 = _cpu_ticks()[0]
        if f"{requests} succeeded" not in r.stdout or f"status codes: {requests} 2xx" not in r.stdout:
            raise RuntimeError(f"{which}: h2load: {r.stdout[-600:]}")
        machine_s = (m1 - m0) / os.sysconf("SC_CLK_TCK")
        return requests / max(c1 - c0, 1e-6), _p99_ms(reqlog), requests / max(machine_s, 1e-6)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=40000)
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-h2-") as tmp, NginxBackends(preexec=_client_preexec) as be:
        d = Path(tmp)
        crt = make_cert(d, "ec", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        for mode in MODES:
            vals: dict[str, list[tuple[float, float, float]]] = {w: [] for w in PROXIES}
            for _ in range(a.runs):
                for which in PROXIES:
                    vals[which].append(measure(which, mode, crt, be.ports[0], d, a.requests))
            rows.append((mode, vals))
    print("| h2load -c 10 -m 10, TLS 1.3 + ALPN h2 | pyhaproxy | haproxy 2.6 | nginx | "
          "pyhaproxy / haproxy | pyhaproxy / nginx |")
    print("|---|---|---|---|---|---|")
    for mode, vals in rows:
        rps = {w: statistics.median(x[0] for x in v) for w, v in vals.items()}
        p99 = {w: statistics.median(x[1] for x in v) for w, v in vals.items()}
        py, hp, ng = rps["pyhaproxy"], rps["haproxy"], rps["nginx"]
        print(f"| {mode}: requests per proxy CPU-second | {py:,.0f} | {hp:,.0f} | {ng:,.0f} | "
              f"{py / hp:.2f}x | {py / ng:.2f}x |")
        mach = {w: statistics.median(x[2] for x in v) for w, v in vals.items()}
        mp, mh, mn = mach["pyhaproxy"], mach["haproxy"], mach["nginx"]
        print(f"| {mode}: requests per machine CPU-second | {mp:,.0f} | {mh:,.0f} | {mn:,.0f} | "
              f"{mp / mh:.2f}x | {mp / mn:.2f}x |")
        print(f"| {mode}: p99 (ms) | {p99['pyhaproxy']:.2f} | {p99['haproxy']:.2f} | "
              f"{p99['nginx']:.2f} | | |")
    print()
    for mode, vals in rows:
        print(f"{mode}: " + "; ".join(f"{k} " + ", ".join(f"{x[0]:,.0f}/{x[1]:.1f}ms" for x in v)
                                      for k, v in vals.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
