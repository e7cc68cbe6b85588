"""Faults around the proxy: dying, silent and unreachable servers, a killed worker, too few file
descriptors, and a pidfile on a full disk.

- A backend process SIGKILLed in the middle of a response: the client's connection is closed
  before the announced length, the log line carries HAProxy's `SD` termination state, and the
  same worker serves the next request.
- A backend that accepts and never answers: 504 after srvtimeout, logged `sH`.
- A blackholed server address (a listener whose accept queue is full, so SYNs are dropped):
  contimeout expires, `retries` are spent, `option redispatch` sends the request to another
  server; without a working server the client gets 503 (`sC`).
- A worker SIGKILLed while transfers run on both workers (nbproc 2): the master forks a new
  worker, transfers held by the other worker finish intact, new requests are served.
- `ulimit-n` far below what maxconn needs: HAProxy's warning at start-up, then a burst of
  connections that exhausts the descriptors (EMFILE) is absorbed: no crash, every client served.
- A pidfile that cannot be written (ENOSPC: `/dev/full` bind-mounted on the pidfile path, and a
  full tmpfs, each in a private mount namespace): an alert and exit status 1, no pidfile left.
  (`-p /dev/full` itself is not used: like HAProxy, the proxy unlinks the pidfile path first,
  and as root that would delete /dev/full.)
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.helpers import free_port, wait_until
from tests.helpers.pages import page_head
from tests.helpers.proxy import ROOT
from tests.helpers.syslog import Syslog

from .common import HOST, send_raw, status_of, workers_of
from .servers import StreamServer, run_killable_backend

pytestmark = pytest.mark.timeout(120)

GET = b"GET /f HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
PAGE_504_HEAD = page_head(504)
PAGE_503_HEAD = page_head(503)


@pytest.fixture
def syslog() -> Iterator[Syslog]:
    sink = Syslog()
    yield sink
    sink.close()


@pytest.fixture
def streams() -> Iterator[list[StreamServer]]:
    made: list[StreamServer] = []
    yield made
    for s in made:
        s.stop()


def stream_server(streams: list[StreamServer], **kw: object) -> StreamServer:
    s = StreamServer(**kw)  # type: ignore[arg-type]
    streams.append(s)
    s.start()
    return s


def test_backend_killed_mid_response(proxy, syslog) -> None:
    backend, bport = run_killable_backend()
    try:
        port = free_port()
        px = proxy.start("""
        listen web {host}:{port}
            mode http
            log {host}:{lport} local0
            option httplog
            contimeout 3000
            clitimeout 10000
            srvtimeout 10000
            server s1 {host}:{bport}
        """, host=HOST, port=port, bport=bport, lport=syslog.port)
        workers = workers_of(px)
        with socket.create_connection((HOST, port), timeout=10) as c:
            c.sendall(GET)
            got = b""
            while len(got) < 50000:
                chunk = c.recv(65536)
                assert chunk, "closed before the backend was killed"
                got += chunk
            assert got.startswith(b"HTTP/1.1 200 OK\r\n")
            os.kill(backend.pid, signal.SIGKILL)
            backend.wait(10)
            c.settimeout(10)
            while True:
                try:
                    chunk = c.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                got += chunk
        body = got[got.index(b"\r\n\r\n") + 4:]
        assert len(body) == 100000, "the client must get what was sent, then a closed connection"
        line = syslog.wait_for('"GET /f HTTP/1.1"')
        assert re.search(r" 200 \+?\d+ - - SD[-A-Z]{2} ", line), line
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(backend.pid, signal.SIGKILL)
        backend.wait(10)
    assert px.worker_pids() == workers and px.alive()
    # The only server is gone: connection refused, retries spent, 503; the same worker answers.
    assert send_raw(port, GET).startswith(PAGE_503_HEAD)
    assert px.worker_pids() == workers


def test_backend_never_answers_504(proxy, tcp_backend, syslog) -> None:
    silent = tcp_backend("silent")
    port = free_port()
    px = proxy.start("""
    listen web {host}:{port}
        mode http
        log {host}:{lport} local0
        option httplog
        contimeout 3000
        clitimeout 10000
        srvtimeout 1000
        server s1 {host}:{bport}
    """, host=HOST, port=port, bport=silent.port, lport=syslog.port)
    workers = workers_of(px)
    start = time.monotonic()
    answer = send_raw(port, GET)
    took = time.monotonic() - start
    assert answer.startswith(PAGE_504_HEAD), answer[:100]
    assert 0.9 <= took < 4, took
    line = syslog.wait_for('"GET /f HTTP/1.1"')
    assert " 504 " in line and " sH" in line, line
    assert px.worker_pids() == workers and px.alive()


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A port on 127.0.0.1 where connect() hangs: a listener with a full accept queue."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind((HOST, 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):      # fill the queue until a connect times out
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.settimeout(0.3)
            try:
                c.connect((HOST, port))
                fillers.append(c)
            except TimeoutError:
                c.close()
                break
        else:
            raise AssertionError("could not fill the accept queue")
        yield port
    finally:
        for c in fillers:
            c.close()
        lst.close()


def test_blackholed_server_retries_then_redispatch(proxy, http_backend, syslog) -> None:
    good = http_backend(keepalive=False)
    with blackhole() as hole:
        port, port_alone = free_port(), free_port()
        px = proxy.start("""
        listen web {host}:{port}
            mode http
            balance roundrobin
            log {host}:{lport} local0
            option httplog
            option redispatch
            retries 2
            contimeout 400
            clitimeout 10000
            srvtimeout 10000
            server hole {host}:{hole}
            server good {host}:{gport}
        listen alone {host}:{port_alone}
            mode http
            log {host}:{lport} local0
            option httplog
            retries 2
            contimeout 400
            clitimeout 10000
            srvtimeout 10000
            server hole {host}:{hole}
        """, host=HOST, port=port, port_alone=port_alone, hole=hole, gport=good.port, lport=syslog.port)
        workers = workers_of(px)
        # Round robin: one of the first two requests goes to the blackholed server first.
        times = []
        for _ in range(2):
            start = time.monotonic()
            assert status_of(send_raw(port, GET)) == 200
            times.append(time.monotonic() - start)
        slow = max(times)
        # contimeout 400 ms, then redispatched at once: round robin has another active server
        # (HAProxy 2.x; 1.x retried the same server first, redispatching only the last retry)
        assert slow >= 0.35, times
        assert slow < 5, times
        start = time.monotonic()
        answer = send_raw(port_alone, GET)
        took = time.monotonic() - start
        assert answer.startswith(PAGE_503_HEAD), answer[:100]
        assert 1.1 <= took < 5, took        # 3 attempts of 400 ms
        line = syslog.wait_for("alone alone/hole")
        assert " 503 " in line and " sC" in line, line
        assert px.worker_pids() == workers and px.alive()


def conns_of(pid: int) -> set[int]:
    """Remote ports of the TCP connections `pid` holds (the clients' local ports)."""
    try:
        return {c.raddr.port for c in psutil.Process(pid).net_connections("tcp") if c.raddr}
    except psutil.Error:
        return set()


def test_worker_killed_under_load(proxy, streams) -> None:
    """Six long transfers over two workers and short requests meanwhile; one worker is killed
    while every transfer is mid-way (each client has read its first MiB and then waits, so none
    can end before the kill): the master starts a new worker, the transfers on the other worker
    end whole, those on the killed one are cut, and the short requests go on."""
    size = 128 << 20    # far more than the sockets between server and client can hold
    started = 1 << 20
    big = stream_server(streams, size=size)
    port = free_port()
    px = proxy.start("""
    global
        daemon
        nbproc 2
    listen web {host}:{port}
        mode http
        contimeout 3000
        clitimeout 20000
        srvtimeout 20000
        server s1 {host}:{bport}
    """, daemon=True, host=HOST, port=port, bport=big.port)
    workers = workers_of(px, 2)
    results: dict[int, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    release = threading.Event()     # set once the victim is dead: the clients read on

    def transfer(c: socket.socket, flowing: threading.Event) -> None:
        got = 0
        with contextlib.suppress(OSError):
            c.sendall(GET)
            while True:
                chunk = c.recv(1 << 20)
                if not chunk:
                    break
                got += len(chunk)
                if got >= started and not flowing.is_set():
                    flowing.set()           # mid-way: the rest waits in the sockets and the server
                    release.wait(60)
        flowing.set()
        with lock:
            results[c.getsockname()[1]] = got
        c.close()

    # Six long transfers; the kernel decides which worker accepts each one.
    owner: dict[int, int] = {}
    threads = []
    flowing = []
    for _ in range(6):
        c = socket.create_connection((HOST, port), timeout=20)
        ev = threading.Event()
        t = threading.Thread(target=transfer, args=(c, ev), daemon=True)
        t.start()
        threads.append(t)
        flowing.append(ev)
        lport = c.getsockname()[1]
        wait_until(lambda lport=lport: any(lport in conns_of(w) for w in workers), timeout=5,
                   message="the transfer to be accepted")
        owner[lport] = next(w for w in workers if lport in conns_of(w))
    for ev in flowing:
        assert ev.wait(30), "a transfer did not start"
    assert not results, f"a transfer ended before the kill: {results}"

    # Light load of short requests meanwhile, through both workers.
    short = {"ok": 0, "failed": 0}

    def load() -> None:
        for _ in range(400):
            if stop.is_set():
                return
            try:
                answer = send_raw(port, b"GET /small HTTP/1.0\r\n\r\n", timeout=10)
                ok = answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"x" * 100)
            except OSError:
                ok = False
            short["ok" if ok else "failed"] += 1
            time.sleep(0.01)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    # The victim is the worker that does not hold the first transfer (it may hold others, or none).
    survivor = next(iter(owner.values()))
    victim = next(w for w in workers if w != survivor)
    os.kill(victim, signal.SIGKILL)
    new = wait_until(lambda: (lambda p: len(p) == 2 and victim not in p and p)(px.worker_pids()), timeout=20,
                     message="a new worker replacing the killed one")
    assert survivor in new and px.alive()
    release.set()
    for t in threads:
        t.join(60)
    ok_before = short["ok"]
    time.sleep(0.5)
    stop.set()
    loader.join(30)
    assert short["ok"] > ok_before, "the short requests stopped being served after the respawn"
    for lport, w in owner.items():
        if w == survivor:
            assert results.get(lport, 0) >= size, (
                f"a transfer on the surviving worker was hurt: {results.get(lport)} of {size}")
    # transfers held by the killed worker were cut (their clients see a closed connection)
    assert all(results.get(lp, 0) < size for lp, w in owner.items() if w == victim)
    big.size = 1000
    served = 0
    for _ in range(20):
        with contextlib.suppress(OSError):
            served += status_of(send_raw(port, GET, timeout=10)) == 200
    assert served == 20
    assert px.worker_pids() == new


def test_fd_limit_too_low(proxy, streams, syslog) -> None:
    """ulimit-n 40 for maxconn 100: HAProxy's warning at start; under 60 simultaneous requests the
    worker runs out of descriptors (EMFILE): accepts wait in the backlog, a session that cannot get
    a server socket is answered 503 and logged `RC` (resource exhausted while connecting), as
    HAProxy does; nothing crashes and every client gets an answer."""
    backend = stream_server(streams, size=2000, delay=0.3)
    port = free_port()
    px = proxy.start("""
    global
        maxconn 100
        ulimit-n 40
    listen web {host}:{port}
        mode http
        maxconn 100
        log {host}:{lport} local0
        option httplog
        contimeout 3000
        clitimeout 20000
        srvtimeout 20000
        server s1 {host}:{bport}
    """, host=HOST, port=port, bport=backend.port, lport=syslog.port)
    err = px.stderr_text()
    assert "[WARNING]" in err and "FD limit (40) too low for maxconn=100" in err, err
    assert "Please raise 'ulimit-n' to" in err
    workers = workers_of(px)
    assert psutil.Process(workers[0]).rlimit(psutil.RLIMIT_NOFILE)[0] == 40
    results: list[int | None] = []
    lock = threading.Lock()

    def client() -> None:
        try:
            answer = send_raw(port, GET, timeout=30)
        except OSError:
            answer = b""
        with lock:
            results.append(status_of(answer))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert px.alive() and px.worker_pids() == workers, "the worker died of EMFILE"
    assert backend.max_active < 40
    assert set(results) <= {200, 503} and len(results) == 60, f"unanswered or odd answers: {results}"
    assert results.count(200) >= 5, results
    if 503 in results:
        line = syslog.wait_for(" 503 ")
        assert " RC" in line, line
    for _ in range(5):
        assert status_of(send_raw(port, GET)) == 200


def in_private_mount_ns(script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `script` with sh in a new mount namespace; on a timeout its whole group is killed."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PY=sys.executable)
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)     # the group of the session started for it
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def can_mount() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    try:
        done = in_private_mount_ns("mount -t tmpfs -o size=16k tmpfs /mnt", timeout=20)
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot run unshare: {e}"
    return None if done.returncode == 0 else f"no private mount namespace here: {done.stderr.strip()}"


@pytest.mark.parametrize("kind", ["dev_full", "full_tmpfs"])
def test_pidfile_on_a_full_disk(tmp_path: Path, kind: str) -> None:
    reason = can_mount()
    if reason:
        pytest.skip(reason)
    port = free_port()
    cfg = tmp_path / "p.cfg"
    cfg.write_text(f"""
listen web {HOST}:{port}
    mode tcp
    contimeout 1000
    clitimeout 1000
    srvtimeout 1000
    server s1 {HOST}:9
""")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if kind == "dev_full":
        pidfile = tmp_path / "haproxy.pid"
        pidfile.touch()
        prepare = f"mount --bind /dev/full {pidfile}"
    else:
        pidfile = mnt / "haproxy.pid"
        prepare = (f"mount -t tmpfs -o size=64k tmpfs {mnt}; "
                   f"dd if=/dev/zero of={mnt}/fill bs=4k 2>/dev/null || true")
    script = (f"{prepare}\n"
              f'set +e; "$PY" -m pyhaproxy -f {cfg} -D -p {pidfile}; rc=$?; set -e\n'
              f'echo "rc=$rc"; ls -A {mnt} | tr "\\n" " "; echo\n')
    done = in_private_mount_ns(script)
    out = done.stdout.splitlines()
    assert done.returncode == 0, done
    assert out[0] == "rc=1", (out, done.stderr)
    assert "[ALERT]" in done.stderr and f"Cannot write pidfile {pidfile} : No space left on device" \
        in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    if kind == "full_tmpfs":
        assert out[1].split() == ["fill"], "the unwritten pidfile was left behind"
    # No daemon was left running: nothing listens on the port.
    assert not any(c.laddr.port == port for c in psutil.net_connections("tcp") if c.status == "LISTEN")
