"""Large bodies through TCP and HTTP mode from nginx with sendfile: the splice path never stalls.

nginx with `sendfile on; tcp_nopush on;` fills the proxy's socket with many small buffers, so a
splice() into a pipe returns short while the socket still holds data (a pipe fills by buffer slots);
a relay that took a short splice for "drained" stalled on exactly this.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def nginx_files(tmp_path: Path, free_port):
    root = tmp_path / "www"
    root.mkdir()
    digests = {}
    for name, size in (("1m", 1 << 20), ("8m", 8 << 20)):
        data = (hashlib.sha256(name.encode()).digest() * (size // 32 + 1))[:size]
        (root / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    port = free_port()
    conf = tmp_path / "nginx.conf"
    # As root, nginx's workers would run as nobody and could not read pytest's 0700 tmp dirs.
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/1m")
            c.getresponse().read()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield port, digests
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _fetch_all(port: int, paths: list[str]) -> list[str]:
    """One keep-alive connection fetching every path; the sha256 of each body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    out = []
    for path in paths:
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200
        out.append(hashlib.sha256(resp.read()).hexdigest())
    conn.close()
    return out


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", ["tcp", "http"])
def test_big_bodies_from_sendfile_backend(proxy, free_port, nginx_files, mode):
    nport, digests = nginx_files
    port = free_port()
    proxy.start(f"""
    listen big 127.0.0.1:{port}
        mode {mode}
        contimeout 5000
        clitimeout 20000
        srvtimeout 20000
        server nginx 127.0.0.1:{nport}
    """)
    paths = ["/1m", "/8m", "/1m", "/1m"]
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: _fetch_all(port, paths), range(10)))
    for got in results:
        assert got == [digests[p[1:]] for p in paths]
