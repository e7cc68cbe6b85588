"""Fixtures for the high-availability tests (tests/ha): a namespace topology and the small
programs that run inside it.

- `topology`: a `Topology` (tests/ha/netns.py) torn down after the test (every process killed by
  PID, namespaces deleted). The test is skipped -- the only skip these tests have -- when network
  namespaces cannot be created (not root, or `ip netns add` fails).
- `ha`: an `HaKit` bound to that topology: writes the helper scripts into tmp_path and starts
  web servers, syslog receivers, pyhaproxy and keepalived inside namespaces; `ha.request()` and
  `ha.load()` run HTTP clients inside a client namespace.

The helper programs are plain scripts (stdlib only) written into tmp_path at run time, because
they run in other namespaces through `ip netns exec NS python script.py`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.ha.netns import NetnsUnavailable, Proc, Topology, probe_netns

# ---- programs run inside the namespaces ------------------------------------------------------

WEB_SERVER = r'''
"""HTTP/1.0 application server: answers its name; sets JSESSIONID on a first visit.

argv: LOGFILE NAME ADDR PORT [PORT...]. Every request is logged as one JSON line.
"""
import http.server, itertools, json, sys, threading, time

logfile, name, addr, ports = sys.argv[1], sys.argv[2], sys.argv[3], [int(p) for p in sys.argv[4:]]
lock = threading.Lock()
counter = itertools.count(1)
log = open(logfile, "a", buffering=1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def _answer(self, with_body):
        cookies = self.headers.get_all("Cookie") or []
        jsid = ""
        for c in cookies:
            for part in c.split(";"):
                k, _, v = part.strip().partition("=")
                if k == "JSESSIONID":
                    jsid = v
        xff = self.headers.get_all("X-Forwarded-For") or []
        with lock:
            log.write(json.dumps({"t": time.monotonic(), "server": name, "method": self.command,
                                  "path": self.path,
                                  "peer": self.client_address[0], "port": self.server.server_port,
                                  "xff": xff, "cookie": cookies}) + "\n")
        body = f"server={name}\njsessionid={jsid}\nxff={','.join(xff)}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if not jsid and self.command == "GET":
            self.send_header("Set-Cookie", f"JSESSIONID={name}s{next(counter)}; path=/")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self._answer(True)

    def do_HEAD(self):
        self._answer(False)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


servers = [Server((addr, p), Handler) for p in ports]
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", flush=True)
servers[0].serve_forever()
'''


TCP_ECHO = r'''
"""TCP echo server: argv LOGFILE ADDR PORT [PORT...]; logs one JSON line per connection."""
import json, socket, sys, threading

logfile, addr, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]
log = open(logfile, "a", buffering=1)
lock = threading.Lock()


def serve(conn, peer, port):
    with lock:
        log.write(json.dumps({"peer": peer[0], "port": port}) + "\n")
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)


def accept(ls, port):
    while True:
        conn, peer = ls.accept()
        threading.Thread(target=serve, args=(conn, peer, port), daemon=True).start()


for p in ports:
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, p))
    ls.listen(128)
    threading.Thread(target=accept, args=(ls, p), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
'''

HTTP_CLIENT = r'''
"""HTTP/1.0 client with a cookie jar, run inside a client namespace. argv: one JSON spec.

{"mode": "requests", "host", "port", "n", "cookies": {}, "timeout", "src"}
    n sequential requests sharing the jar; prints one JSON object {"results": [...], "cookies"}.
{"mode": "load", "host", "port", "duration", "cookies", "timeout", "pause", "out"}
    sequential requests (each a new connection) for `duration` seconds, one JSON line per
    request into `out` with monotonic start/end times (the clock is shared by namespaces).
{"mode": "tcp", "host", "port", "payload", "timeout", "src"}
    connect, send payload, half-close, read until EOF; prints {"ok", "data"}.
"""
import json, socket, sys, time


def one(host, port, cookies, timeout, src=None, path="/"):
    t0 = time.monotonic()
    res = {"t0": t0, "ok": False}
    try:
        s = socket.socket()
        s.settimeout(timeout)
        if src:
            s.bind((src, 0))
        s.connect((host, port))
        hdr = f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: ha-test\r\n"
        if cookies:
            hdr += "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()) + "\r\n"
        s.sendall((hdr + "\r\n").encode())
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        s.close()
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        setc = [ln.split(":", 1)[1].strip() for ln in lines[1:] if ln.lower().startswith("set-cookie:")]
        for c in setc:
            k, _, v = c.split(";")[0].strip().partition("=")
            cookies[k] = v
        fields = dict(ln.split("=", 1) for ln in body.decode(errors="replace").splitlines() if "=" in ln)
        # a 200 whose body was cut (the proxy killed mid-answer, HTTP/1.0 ends at EOF) is a failed
        # request: the servers' bodies always name the server
        res.update(ok=status == 200 and "server" in fields, status=status, setcookie=setc,
                   server=fields.get("server"),
                   jsessionid=fields.get("jsessionid"), xff=fields.get("xff"),
                   body=body.decode(errors="replace"))
    except OSError as exc:
        res["err"] = f"{type(exc).__name__}: {exc}"
    res["t1"] = time.monotonic()
    return res


spec = json.loads(sys.argv[1])
mode = spec["mode"]
cookies = dict(spec.get("cookies") or {})
timeout = spec.get("timeout", 2.0)
if mode == "requests":
    out = [one(spec["host"], spec["port"], cookies, timeout, spec.get("src"), spec.get("path", "/"))
           for _ in range(spec.get("n", 1))]
    print(json.dumps({"results": out, "cookies": cookies}))
elif mode == "load":
    end = time.monotonic() + spec["duration"]
    with open(spec["out"], "a", buffering=1) as f:
        print("ready", flush=True)
        while time.monotonic() < end:
            r = one(spec["host"], spec["port"], cookies, timeout)
            r.pop("body", None)
            f.write(json.dumps(r) + "\n")
            if not r["ok"]:
                time.sleep(spec.get("pause", 0.05))
elif mode == "tcp":
    res = {"ok": False, "data": ""}
    try:
        s = socket.socket()
        s.settimeout(timeout)
        if spec.get("src"):
            s.bind((spec["src"], 0))
        s.connect((spec["host"], spec["port"]))
        s.sendall(spec.get("payload", "").encode())
        if spec.get("keep_open"):
            time.sleep(0.3)  # like a health checker: no half-close, the answer is read later
        else:
            s.shutdown(socket.SHUT_WR)
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        res = {"ok": True, "data": buf.decode(errors="replace")}
    except OSError as exc:
        res["err"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(res))
'''

PORT_CHECK = r'''
"""argv: HOST:PORT...; exit 0 once every one is listening in this namespace (ss), 1 after 20 s."""
import subprocess, sys, time

want = sys.argv[1:]
deadline = time.monotonic() + float(20)
while time.monotonic() < deadline:
    out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
    local = {line.split()[3] for line in out.splitlines() if len(line.split()) > 3}
    if all(w in local or ("0.0.0.0:" + w.split(":")[1]) in local for w in want):
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
'''

# The syslog receiver is the tests' own (tests/helpers/syslog.py), run as a script in a namespace.
SYSLOG_RECEIVER = (Path(__file__).resolve().parent.parent / "helpers" / "syslog.py").read_text()

SCRIPTS = {"web.py": WEB_SERVER, "syslog.py": SYSLOG_RECEIVER, "echo.py": TCP_ECHO,
           "client.py": HTTP_CLIENT, "ports.py": PORT_CHECK}


class HaKit:
    """Starts the programs of the HA tests inside a `Topology` and runs clients there."""

    def __init__(self, topo: Topology, tmp_path: Path) -> None:
        self.topo = topo
        self.tmp = tmp_path
        self.bin = tmp_path / "bin"
        self.bin.mkdir(exist_ok=True)
        for name, text in SCRIPTS.items():
            (self.bin / name).write_text(text.lstrip("\n"))
        self.client_ns = "client"

    def script(self, name: str) -> str:
        return str(self.bin / name)

    def wait_listening(self, host: str, addrs: Sequence[str], proc: Proc | None = None) -> None:
        res = self.topo.run(host, [sys.executable, self.script("ports.py"), *addrs], check=False,
                            timeout=30)
        if res.returncode != 0:
            extra = proc.output() if proc is not None else ""
            raise AssertionError(f"{host}: {addrs} not listening after 20 s\n{extra}")

    # -- servers ----------------------------------------------------------------------------

    def web(self, host: str, name: str, ports: Sequence[int] = (80,)) -> Path:
        """Start the application server `name` on the host's first address; return its log."""
        log = self.tmp / f"web-{name}.jsonl"
        log.touch()
        addr = self.topo.hosts[host].ip()
        proc = self.topo.spawn(host, [sys.executable, self.script("web.py"), str(log), name, addr,
                                      *map(str, ports)], name=f"web-{name}")
        self.wait_listening(host, [f"{addr}:{p}" for p in ports], proc)
        return log

    def syslog(self, host: str, addr: str = "127.0.0.1", port: int = 514) -> Path:
        log = self.tmp / f"syslog-{host}.log"
        log.touch()
        proc = self.topo.spawn(host, [sys.executable, self.script("syslog.py"), addr, str(port), str(log)],
                               name=f"syslog-{host}")
        _wait_output(proc, "ready")
        return log

    def echo(self, host: str, ports: Sequence[int]) -> Path:
        log = self.tmp / f"echo-{host}.jsonl"
        log.touch()
        addr = self.topo.hosts[host].ip()
        proc = self.topo.spawn(host, [sys.executable, self.script("echo.py"), str(log), addr,
                                      *map(str, ports)], name=f"echo-{host}")
        self.wait_listening(host, [f"{addr}:{p}" for p in ports], proc)
        return log

    def pyhaproxy(self, host: str, config: str, listen: Sequence[str], name: str | None = None) -> Path:
        """Start `python -m pyhaproxy -f cfg -D -p pidfile` in `host`; wait for `listen`;
        return the pidfile."""
        name = name or f"px-{host}"
        cfg = self.tmp / f"{name}.cfg"
        cfg.write_text(textwrap.dedent(config).lstrip("\n"))
        pidfile = self.tmp / f"{name}.pid"
        proc = self.topo.spawn(host, [sys.executable, "-m", "pyhaproxy", "-f", str(cfg), "-D", "-p",
                                      str(pidfile)], name=name)
        try:
            rc = proc.popen.wait(20)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name}: -D did not return\n{proc.output()}") from None
        assert rc == 0, f"{name}: exited {rc}\n{proc.output()}"
        self.wait_listening(host, listen, proc)
        return pidfile

    def keepalived(self, host: str, config: str) -> Proc:
        """Start keepalived (VRRP only, foreground, its own pid files) inside `host`."""
        name = f"keepalived-{host}"
        cfg = self.tmp / f"{name}.conf"
        cfg.write_text(textwrap.dedent(config).lstrip("\n"))
        run = self.tmp / name
        run.mkdir(exist_ok=True)
        return self.topo.spawn(host, ["keepalived", "--dont-fork", "--log-console", "--vrrp",
                                      "--use-file", str(cfg),
                                      "--pid", str(run / "keepalived.pid"),
                                      "--vrrp_pid", str(run / "vrrp.pid")], name=name)

    # -- clients ----------------------------------------------------------------------------

    def request(self, host: str, port: int = 80, n: int = 1, cookies: dict[str, str] | None = None,
                timeout: float = 3.0, ns: str | None = None, src: str | None = None) -> dict[str, Any]:
        spec = {"mode": "requests", "host": host, "port": port, "n": n, "cookies": cookies or {},
                "timeout": timeout, "src": src}
        out = self.topo.python(ns or self.client_ns, self.bin / "client.py", json.dumps(spec),
                               timeout=timeout * n + 20)
        return json.loads(out)

    def tcp(self, host: str, port: int, payload: str, ns: str | None = None, src: str | None = None,
            timeout: float = 3.0, keep_open: bool = False) -> dict[str, Any]:
        spec = {"mode": "tcp", "host": host, "port": port, "payload": payload, "timeout": timeout,
                "src": src, "keep_open": keep_open}
        return json.loads(self.topo.python(ns or self.client_ns, self.bin / "client.py", json.dumps(spec),
                                           timeout=timeout + 20))

    def load(self, host: str, duration: float, cookies: dict[str, str], port: int = 80,
             timeout: float = 1.0, ns: str | None = None) -> tuple[Proc, Path]:
        """Start a background sequential-request client; return it and its JSON-lines file."""
        out = self.tmp / f"load-{time.monotonic_ns()}.jsonl"
        spec = {"mode": "load", "host": host, "port": port, "duration": duration, "cookies": cookies,
                "timeout": timeout, "out": str(out)}
        proc = self.topo.spawn(ns or self.client_ns, [sys.executable, str(self.bin / "client.py"),
                                                       json.dumps(spec)], name=f"load-{out.stem}")
        _wait_output(proc, "ready")
        return proc, out


def _wait_output(proc: Proc, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.stdout.exists() and text in proc.stdout.read_text(errors="replace"):
            return
        if not proc.alive():
            break
        time.sleep(0.05)
    raise AssertionError(f"{proc.name} did not print {text!r}\n{proc.output()}")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_pid(pidfile: Path) -> int:
    return int(pidfile.read_text().split()[0])


def kill_pyhaproxy(pidfile: Path) -> list[int]:
    """SIGKILL a pyhaproxy master and its workers (a crash); return the PIDs killed."""
    master = psutil.Process(read_pid(pidfile))
    victims = [master, *master.children(recursive=True)]
    for p in victims:
        p.send_signal(signal.SIGKILL)
    return [p.pid for p in victims]


@pytest.fixture
def topology(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Topology]:
    reason = probe_netns()
    if reason is not None:
        pytest.skip(reason)
    try:
        topo = Topology(tmp_path)
    except NetnsUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield topo
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(topo.report())
        topo.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep the call-phase report on the item so teardown can dump process outputs on failure."""
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]


@pytest.fixture
def ha(topology: Topology, tmp_path: Path) -> HaKit:
    return HaKit(topology, tmp_path)
