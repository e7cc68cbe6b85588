"""`make demo`: four small web servers on loopback behind pyhaproxy with the guide's section 1 setup."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

BACKENDS = [("webA", "A", "127.0.1.11"), ("webB", "B", "127.0.1.12"), ("webC", "C", "127.0.1.13"),
            ("webD", "D", "127.0.1.14")]
BACKEND_PORT = 8080
FRONT = "127.0.0.1:8000"

CONFIG = """\
global
    maxconn 2000
listen webfarm {front}
    mode http
    balance roundrobin
    cookie SERVERID insert indirect
    option httpchk HEAD /index.html HTTP/1.0
    contimeout 5000
    clitimeout 50000
    srvtimeout 50000
{servers}
"""


def _handler(name: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, with_body: bool) -> None:
            body = (f"Hello from {name}. You sent Cookie: {self.headers.get('Cookie')!r}\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._answer(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(False)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


def main() -> int:
    servers = []
    for name, _cookie, addr in BACKENDS:
        srv = http.server.ThreadingHTTPServer((addr, BACKEND_PORT), _handler(name))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    lines = "\n".join(f"    server {n} {a}:{BACKEND_PORT} cookie {c} check" for n, c, a in BACKENDS)
    cfg_dir = tempfile.mkdtemp(prefix="pyhaproxy-demo-")
    cfg = os.path.join(cfg_dir, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(front=FRONT, servers=lines))
    proc = subprocess.Popen([sys.executable, "-m", "pyhaproxy", "-db", "-f", cfg])
    time.sleep(1.0)
    if proc.poll() is not None:
        print("pyhaproxy failed to start", file=sys.stderr)
        return 1
    print(f"""
pyhaproxy is running (pid {proc.pid}) with the architecture guide's section 1 configuration:
  {cfg}
Four web servers answer on {', '.join(a for _, _, a in BACKENDS)} port {BACKEND_PORT}.

Try:
  curl -i http://{FRONT}/                         # a Set-Cookie: SERVERID=X; path=/ comes back
  curl -i -H 'Cookie: SERVERID=C' http://{FRONT}/ # always webC, and webC never sees the cookie
  for i in 1 2 3 4; do curl -s http://{FRONT}/; done   # round robin over the four
  kill -USR1 {proc.pid}                            # soft stop

Ctrl-C stops everything.
""", flush=True)
    try:
        while proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        for srv in servers:
            srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
