"""End-to-end tests of reloading a running pyhaproxy without losing traffic.

- master-worker mode (`-W`): SIGUSR2 under a continuous light client load loses nothing and the
  new configuration takes effect; a broken configuration leaves the running workers serving and
  the master logs the ALERT;
- a 100 MiB download in flight during a `-W` reload and during the architecture guide's
  section 4.3 script (SIGTTOU, start, SIGUSR1) completes intact (sha256 checked);
- `-sf OLDPID`: the new instance serves, the old one exits once its sessions end;
- a worker killed with SIGKILL in `-W` mode with `nbproc 2` is replaced: two workers again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import threading
import time

import psutil
import pytest

from tests.configs.guide import hot_reconf_script
from tests.helpers import (
    connect,
    deterministic_bytes,
    free_port,
    read_pidfile,
    recv_exactly,
    render_config,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"

HTTP_PROXY = """
    global
        maxconn 200
    listen reload {host}:{port}
        mode http
        balance roundrobin
        contimeout 5000
        clitimeout 30000
        srvtimeout 30000
        server s1 127.0.0.1:{bport}
    """

MW_NBPROC2 = """
    global
        maxconn 200
        nbproc 2
    listen reload {host}:{port}
        mode tcp
        contimeout 5000
        clitimeout 30000
        srvtimeout 30000
        server s1 127.0.0.1:{bport}
    """


def http_get(port: int, timeout: float = 5.0) -> tuple[int, bytes]:
    """One `GET /` on a new connection (HTTP/1.0, the server closes): (status, body)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: t\r\n\r\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _which(port: int) -> bytes:
    status, body = http_get(port)
    assert status == 200
    return body


class LoadThread(threading.Thread):
    """Sequential HTTP requests, each on a new connection, until stopped; records every outcome."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop_event = threading.Event()
        self.bodies: list[bytes] = []
        self.times: list[float] = []  # when each body arrived (monotonic)
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                status, body = http_get(self.port)
                if status != 200:
                    self.failures.append(f"status {status}")
                else:
                    self.bodies.append(body)
                    self.times.append(time.monotonic())
            except (OSError, ValueError, IndexError) as e:
                self.failures.append(repr(e))

    def stop(self) -> None:
        self.stop_event.set()
        self.join(15)


def _new_workers(px, before: set[int], timeout: float = 15.0) -> set[int]:
    """Waits until the master has a worker that was not in `before`; returns the new ones."""
    return wait_until(lambda: set(px.worker_pids()) - before, timeout,
                      message="a new generation of workers")


# ---------------------------------------------------------------------------------------------
# master-worker reloads


def test_master_worker_reload_under_load(proxy, http_backend):
    """5 SIGUSR2 reloads while a client loops on requests: no request fails, and the first
    reload's config change (another backend server) is what the later requests reach."""
    old_backend = http_backend(name="old")
    new_backend = http_backend(name="new")
    port = free_port()
    px = proxy.start(HTTP_PROXY, extra_args=["-W"], host=HOST, port=port, bport=old_backend.port)
    assert _which(port) == b"old\n"
    load = LoadThread(port)
    load.start()
    try:
        time.sleep(0.5)
        px.cfg.write_text(render_config(HTTP_PROXY, host=HOST, port=port, bport=new_backend.port))
        for _ in range(5):
            before = set(px.worker_pids())
            px.signal(signal.SIGUSR2)
            _new_workers(px, before)
            time.sleep(0.8)
    finally:
        load.stop()
    assert not load.failures, f"{len(load.failures)} failed requests: {load.failures[:5]}"
    assert len(load.bodies) > 20, "the load thread barely ran"
    assert load.bodies[0] == b"old\n"
    assert load.bodies[-1] == b"new\n"
    # Both generations accept while the new one settles (0.2 s); after that, and through the
    # four later reloads, every request reaches the new server.
    first_new = load.times[load.bodies.index(b"new\n")]
    late_old = [t - first_new for t, b in zip(load.times, load.bodies, strict=True)
                if b == b"old\n" and t > first_new + 1.0]
    assert not late_old, f"requests reached the old server {late_old} s after the new one"
    assert new_backend.request_count() > 0
    assert px.alive()
    # the old generations finish: one worker left
    wait_until(lambda: len(px.worker_pids()) == 1, timeout=15, message="old generations to exit")


def test_master_worker_broken_config_keeps_serving(proxy, http_backend):
    """A config that does not parse: the master logs the ALERT, keeps its workers, still serves;
    a fixed config then reloads normally."""
    backend = http_backend(name="a")
    other = http_backend(name="b")
    port = free_port()
    px = proxy.start(HTTP_PROXY, extra_args=["-W"], host=HOST, port=port, bport=backend.port)
    workers = set(px.worker_pids())
    assert workers
    good = px.cfg.read_text()
    px.cfg.write_text(good.replace("mode http", "mode http\n    this-is-not-a-keyword 42"))
    px.signal(signal.SIGUSR2)
    wait_until(lambda: "[ALERT]" in px.stderr_text(), timeout=10, message="the ALERT on stderr")
    assert "this-is-not-a-keyword" in px.stderr_text() or "not reloaded" in px.stderr_text()
    time.sleep(0.5)
    assert set(px.worker_pids()) == workers, "the running workers were replaced"
    for _ in range(5):
        assert _which(port) == b"a\n"
    assert px.alive()
    # fixed: the next SIGUSR2 works
    px.cfg.write_text(render_config(HTTP_PROXY, host=HOST, port=port, bport=other.port))
    px.signal(signal.SIGUSR2)
    _new_workers(px, workers)
    wait_until(lambda: _which(port) == b"b\n", timeout=10, message="the fixed config to serve")


def test_master_worker_new_workers_failing_keep_old_generation(proxy, http_backend, tmp_path):
    """A config that parses but whose workers cannot start (chroot to a missing directory): the
    new generation dies while settling, the old one is never stopped and keeps serving; two
    SIGUSR2 in a row are both handled (the second once the first is settled)."""
    backend = http_backend(name="a")
    other = http_backend(name="b")
    port = free_port()
    px = proxy.start(HTTP_PROXY, extra_args=["-W"], host=HOST, port=port, bport=backend.port)
    workers = set(px.worker_pids())
    bad = render_config(HTTP_PROXY, host=HOST, port=port, bport=other.port)
    missing = tmp_path / "no-such-dir"
    px.cfg.write_text(bad.replace("maxconn 200", f"maxconn 200\n    chroot {missing}"))
    load = LoadThread(port)
    load.start()
    try:
        px.signal(signal.SIGUSR2)
        wait_until(lambda: "Configuration not reloaded" in px.stderr_text(), timeout=10,
                   message="the reload to be abandoned")
        time.sleep(1.0)
    finally:
        load.stop()
    assert not load.failures, f"{len(load.failures)} failed requests: {load.failures[:5]}"
    assert set(load.bodies) == {b"a\n"}
    wait_until(lambda: set(px.worker_pids()) == workers, timeout=10, message="only the old workers")
    # now a good config, reloaded twice in a row
    px.cfg.write_text(bad)
    px.signal(signal.SIGUSR2)
    # the second one while the first generation settles (signals sent at once would merge)
    wait_until(lambda: px.stderr_text().count("SIGUSR2 received") >= 2, timeout=10, interval=0.01,
               message="the first SIGUSR2 to be handled")
    px.signal(signal.SIGUSR2)
    wait_until(lambda: _which(port) == b"b\n", timeout=10, message="the good config to serve")
    wait_until(lambda: px.stderr_text().count("SIGUSR2 received") >= 3, timeout=10,
               message="the second SIGUSR2 to be handled")
    wait_until(lambda: len(px.worker_pids()) == 1 and not (workers & set(px.worker_pids())),
               timeout=15, message="one worker of the last generation")


# ---------------------------------------------------------------------------------------------
# a 100 MiB download across a reload

DOWNLOAD_SIZE = 100 << 20
BLOCK = 1 << 20


def _blocks(seed: int):
    """The download's content: 100 blocks of 1 MiB, each the seed block rotated by its index
    (so a lost, repeated or reordered block changes the hash)."""
    base = deterministic_bytes(BLOCK, seed)
    for i in range(DOWNLOAD_SIZE // BLOCK):
        k = (i * 7919) % BLOCK
        yield base[k:] + base[:k]


def _expected_sha256(seed: int) -> str:
    h = hashlib.sha256()
    for b in _blocks(seed):
        h.update(b)
    return h.hexdigest()


class StreamingBackend:
    """HTTP backend answering every request with 100 MiB of deterministic bytes."""

    def __init__(self, seed: int = 7) -> None:
        self.seed = seed
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % DOWNLOAD_SIZE)
            for block in _blocks(self.seed):
                conn.sendall(block)
            conn.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        for c in self._conns:
            with contextlib.suppress(OSError):
                c.close()


@pytest.fixture
def streaming_backend():
    b = StreamingBackend()
    try:
        yield b
    finally:
        b.close()


class Download:
    """A client GET of the 100 MiB body through the proxy: reads `first` bytes of body, then
    waits for `go` before reading the rest; sha256 of the whole body."""

    def __init__(self, port: int, first: int = 4 << 20) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=20)
        self.sock.sendall(b"GET /big HTTP/1.0\r\nHost: t\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.sock.recv(4096)
            assert data, "connection closed before the response headers"
            head += data
        head, _, rest = head.partition(b"\r\n\r\n")
        assert head.split(b" ", 2)[1] == b"200", head
        self.h = hashlib.sha256(rest)
        self.got = len(rest)
        while self.got < first:
            data = self.sock.recv(min(1 << 20, first - self.got))
            assert data, f"closed after {self.got} bytes"
            self.h.update(data)
            self.got += len(data)

    def finish(self) -> str:
        with self.sock:
            while True:
                data = self.sock.recv(1 << 20)
                if not data:
                    break
                self.h.update(data)
                self.got += len(data)
        assert self.got == DOWNLOAD_SIZE, f"got {self.got} of {DOWNLOAD_SIZE} bytes"
        return self.h.hexdigest()


def test_download_survives_master_worker_reload(proxy, streaming_backend, http_backend):
    """100 MiB in flight while SIGUSR2 replaces the workers: the old worker keeps relaying it to
    the end (intact), new requests are served by the new generation meanwhile."""
    expected = _expected_sha256(streaming_backend.seed)
    port = free_port()
    px = proxy.start(HTTP_PROXY, extra_args=["-W"], host=HOST, port=port, bport=streaming_backend.port)
    dl = Download(port)
    old_workers = set(px.worker_pids())
    small = http_backend(name="small")
    px.cfg.write_text(render_config(HTTP_PROXY, host=HOST, port=port, bport=small.port))
    px.signal(signal.SIGUSR2)
    _new_workers(px, old_workers)
    wait_until(lambda: _which(port) == b"small\n", timeout=10, message="the new generation to serve")
    assert old_workers <= set(px.worker_pids()), "the old worker exited with a download in flight"
    assert dl.finish() == expected
    wait_until(lambda: not (old_workers & set(px.worker_pids())), timeout=15,
               message="the old worker to exit after its session")



DAEMON_HTTP_PROXY = HTTP_PROXY.replace("maxconn 200", "maxconn 200\n        daemon\n        quiet")


def test_download_survives_hot_reconfiguration_script(proxy, streaming_backend, http_backend, tmp_path):
    """Section 4.3 run while 100 MiB flow through the old instance: the download completes intact,
    the new instance serves, the old one exits after the download."""
    expected = _expected_sha256(streaming_backend.seed)
    port = free_port()
    small = http_backend(name="small")
    etc = tmp_path / "etc" / "haproxy"
    run = tmp_path / "var" / "run"
    etc.mkdir(parents=True)
    run.mkdir(parents=True)
    config = etc / "config"
    config.write_text(render_config(DAEMON_HTTP_PROXY, host=HOST, port=port, bport=streaming_backend.port))
    (etc / "config.new").write_text(render_config(DAEMON_HTTP_PROXY, host=HOST, port=port, bport=small.port))
    pidfile = run / "haproxy.pid"
    old = proxy.start(config, daemon=True, pidfile=pidfile, args=["-p", str(pidfile)], name="old")
    old_pid = old.master_pid
    dl = Download(port)
    script = hot_reconf_script(etc, run)
    done = proxy.run_shell(script, timeout=40)
    assert "New instance successfully loaded" in done.stdout, done.stdout + done.stderr
    new_pid = read_pidfile(pidfile)
    assert new_pid is not None and new_pid != old_pid
    proxy.track_pid(new_pid)
    wait_until(lambda: _which(port) == b"small\n", timeout=15, message="the new instance to serve")
    assert old.alive(), "the old instance exited with a download in flight"
    assert dl.finish() == expected
    wait_until(lambda: not old.alive(), timeout=15, message=f"old master {old_pid} to exit")
    assert _which(port) == b"small\n"


# ---------------------------------------------------------------------------------------------
# -sf and respawn

TCP_PROXY = """
    global
        maxconn 100
    listen sf {host}:{port}
        mode tcp
        contimeout 5000
        clitimeout 30000
        srvtimeout 30000
        server s1 127.0.0.1:{bport}
    """


def _banner(port: int) -> bytes:
    with connect(HOST, port) as s:
        return recv_exactly(s, 2, timeout=10)


def test_sf_new_instance_serves_old_exits_after_sessions(proxy, tcp_echo_backend):
    """`-sf OLDPID`: the new instance takes the port at once; the old master and workers stay
    while their session is open, and exit right after it ends."""
    a = tcp_echo_backend(banner=b"A\n")
    b = tcp_echo_backend(banner=b"B\n")
    port = free_port()
    old = proxy.start(TCP_PROXY, daemon=True, host=HOST, port=port, bport=a.port, name="old")
    old_pid = old.master_pid
    old_tree = [psutil.Process(old_pid), *psutil.Process(old_pid).children()]
    with connect(HOST, port) as session:
        assert recv_exactly(session, 2) == b"A\n"
        new = proxy.start(TCP_PROXY, daemon=True, host=HOST, port=port, bport=b.port, name="new",
                          extra_args=["-sf", str(old_pid)])
        assert new.master_pid != old_pid
        for _ in range(5):
            assert _banner(port) == b"B\n"
        time.sleep(0.5)
        assert old.alive(), "the old instance exited with a session open"
        session.sendall(b"still old\n")
        assert recv_exactly(session, 10) == b"still old\n"
    wait_until(lambda: not old.alive(), timeout=15, message=f"old master {old_pid} to exit")
    _, alive = psutil.wait_procs(old_tree, timeout=10)
    assert not alive, f"old processes left: {alive}"
    assert new.alive()
    assert _banner(port) == b"B\n"


def test_master_worker_nbproc2_respawn_keeps_count(proxy, tcp_echo_backend):
    """`-W`, nbproc 2: a worker killed with SIGKILL is replaced, two workers run again and stay
    two; after a reload, two workers too once the old generation is gone."""
    backend = tcp_echo_backend(banner=b"E\n")
    port = free_port()
    px = proxy.start(MW_NBPROC2, daemon=True, extra_args=["-W"], host=HOST, port=port, bport=backend.port)
    workers = wait_until(lambda: len(px.worker_pids()) == 2 and px.worker_pids(), timeout=10,
                         message="two workers")
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in px.worker_pids() and len(px.worker_pids()) == 2, timeout=15,
               message=f"a worker replacing {victim}")
    time.sleep(1.5)  # nothing else dies or multiplies
    assert len(px.worker_pids()) == 2
    assert workers[1] in px.worker_pids()
    assert px.alive()
    for _ in range(4):
        assert _banner(port) == b"E\n"
    before = set(px.worker_pids())
    px.signal(signal.SIGUSR2)
    wait_until(lambda: not (before & set(px.worker_pids())) and len(px.worker_pids()) == 2,
               timeout=15, message="the new generation of two workers alone")
    assert _banner(port) == b"E\n"


def test_sf_binds_beside_the_old_instance_and_loses_nothing(proxy, http_backend):
    """`-sf` takes the old instance's sockets (sockxfer.py) instead of pausing it with SIGTTOU
    first, so the port never refuses during the new one's start-up and no queued connection is
    reset when the old one closes its copy. Three reloads under a sequential new-connection
    load fail no request."""
    backend = http_backend(name="b")
    port = free_port()
    cur = proxy.start(HTTP_PROXY, daemon=True, host=HOST, port=port, bport=backend.port, name="gen0")
    load = LoadThread(port)
    load.start()
    olds = []
    try:
        for i in range(1, 4):
            time.sleep(0.5)
            new = proxy.start(HTTP_PROXY, daemon=True, host=HOST, port=port, bport=backend.port,
                              name=f"gen{i}", extra_args=["-sf", str(cur.master_pid)])
            olds.append(cur)
            cur = new
        for old in olds:
            wait_until(lambda old=old: not old.alive(), timeout=20, message="an old instance to exit")
    finally:
        load.stop()
    assert len(load.bodies) > 20, "the load thread barely ran"
    # (a pause with SIGTTOU, as before, refused every connection during the new start-up)
    assert not load.failures, f"{len(load.failures)} failed requests: {load.failures[:5]}"
