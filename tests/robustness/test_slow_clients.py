"""Slow and flooding clients: slowloris, slow POST bodies, a flood beyond maxconn, a slow reader.

Each test runs a real pyhaproxy and checks that well-behaved clients are still served while the
hostile ones hold connections, that the hostile ones are cut by the documented timeout
(`timeout http-request` for unfinished headers, clitimeout for a stalled body), that a flood larger
than maxconn waits in the listen backlog and is then served with no more than maxconn connections
at the backend, and that a client reading a large response slowly does not make the worker buffer
it (worker RSS stays bounded: bodies go through splice() pipes of fixed size).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.helpers import free_port

from .common import HOST, raise_nofile, rss_kib, send_raw, status_of, workers_of
from .servers import StreamServer

pytestmark = pytest.mark.timeout(120)

NORMAL = b"GET /normal HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"


@pytest.fixture
def stream_server() -> Iterator[list[StreamServer]]:
    made: list[StreamServer] = []
    yield made
    for s in made:
        s.stop()


def timed_request(port: int) -> tuple[int | None, float]:
    start = time.monotonic()
    answer = send_raw(port, NORMAL, timeout=10)
    return status_of(answer), time.monotonic() - start


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        with contextlib.suppress(OSError):
            s.close()


def read_until_closed(socks: list[socket.socket], deadline: float) -> dict[int, bytes]:
    """Read every socket until it is closed by the peer or `deadline`; return fileno -> bytes for
    the closed ones (sockets still open at the deadline are missing from the result)."""
    pending = {s.fileno(): s for s in socks}
    got: dict[int, bytes] = {fd: b"" for fd in pending}
    closed: dict[int, bytes] = {}
    poller = select.epoll()
    try:
        for fd in pending:
            poller.register(fd, select.EPOLLIN | select.EPOLLRDHUP)
        while pending and time.monotonic() < deadline:
            for fd, _ev in poller.poll(0.2):
                s = pending.get(fd)
                if s is None:
                    continue
                try:
                    chunk = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    got[fd] += chunk
                    continue
                closed[fd] = got[fd]
                poller.unregister(fd)
                del pending[fd]
    finally:
        poller.close()
    return closed


def test_slowloris_2000_connections(proxy, http_backend) -> None:
    """2,000 connections that never finish their headers: normal clients are served at once, and
    every slow connection gets the 408 page when `timeout http-request` (4 s) expires."""
    nslow = 2000
    raise_nofile(nslow + 500)
    backend = http_backend(keepalive=False)
    port = free_port()
    px = proxy.start("""
    global
        maxconn 5000
    listen web {host}:{port}
        mode http
        maxconn 5000
        contimeout 3000
        clitimeout 30000
        srvtimeout 10000
        timeout http-request 4000
        server s1 {host}:{bport}
    """, host=HOST, port=port, bport=backend.port)
    workers = workers_of(px)
    slow: list[socket.socket] = []
    try:
        start = time.monotonic()
        for _ in range(nslow):
            s = socket.create_connection((HOST, port), timeout=10)
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: test\r\n")
            slow.append(s)
        opened = time.monotonic() - start
        # Trickle one more header line on every slow connection, as slowloris does.
        for s in slow:
            s.sendall(b"X-Slow: 1\r\n")
        latencies = []
        for _ in range(20):
            status, took = timed_request(port)
            assert status == 200, "a normal client was not served during the slowloris"
            latencies.append(took)
        assert max(latencies) < 1.5, latencies
        rss = rss_kib(workers[0])
        print(f"slowloris: {nslow} opened in {opened:.2f}s, normal requests max"
              f" {max(latencies) * 1000:.0f} ms, worker RSS {rss // 1024} MiB")
        for s in slow:
            s.setblocking(False)
        closed = read_until_closed(slow, start + opened + 4 + 8)
        assert len(closed) == nslow, f"{nslow - len(closed)} slow connections still open after the timeout"
        statuses = {status_of(v) for v in closed.values()}
        assert statuses == {408}, statuses
        print(f"slowloris: all {nslow} answered 408 and closed"
              f" {time.monotonic() - start:.2f}s after the first")
        assert backend.requests and all(r.target == "/normal" for r in backend.requests)
    finally:
        close_all(slow)
    assert px.worker_pids() == workers and px.alive()
    # An unfinished header block holds one 16 KiB buffer: 2,000 of them stay far below 200 MiB.
    assert rss < 200 * 1024, f"worker RSS {rss} KiB with {nslow} slow connections"
    assert timed_request(port)[0] == 200


def test_slow_post_bodies(proxy, http_backend) -> None:
    """100 clients trickling request bodies: normal clients are served meanwhile; once they stall,
    clitimeout (2 s) closes them and no incomplete request is completed at the backend."""
    nslow = 100
    backend = http_backend(keepalive=False)
    port = free_port()
    px = proxy.start("""
    listen web {host}:{port}
        mode http
        maxconn 1000
        contimeout 3000
        clitimeout 2000
        srvtimeout 20000
        server s1 {host}:{bport}
    """, host=HOST, port=port, bport=backend.port)
    workers = workers_of(px)
    slow: list[socket.socket] = []
    try:
        for _ in range(nslow):
            s = socket.create_connection((HOST, port), timeout=10)
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n\r\n")
            slow.append(s)
        for _round in range(4):               # 2 s of trickling, each step within clitimeout
            for s in slow:
                s.sendall(b"0123456789")
            status, took = timed_request(port)
            assert status == 200 and took < 1.5, (status, took)
            time.sleep(0.5)
        stalled = time.monotonic()
        for s in slow:
            s.setblocking(False)
        closed = read_until_closed(slow, stalled + 2 + 6)
        assert len(closed) == nslow, f"{nslow - len(closed)} stalled uploads still open"
        took = time.monotonic() - stalled
        assert took > 1.0, "closed before clitimeout"
        print(f"slow POST: {nslow} stalled uploads closed {took:.2f}s after they stalled")
    finally:
        close_all(slow)
    assert [r.target for r in backend.requests if r.target != "/normal"] == []
    assert px.worker_pids() == workers and px.alive()
    assert timed_request(port)[0] == 200


def test_flood_beyond_maxconn_waits_and_is_served(proxy, stream_server) -> None:
    """150 simultaneous requests against maxconn 25: the extra connections wait (listen backlog,
    SYN retries) and are all served; the backend never sees more than 25 connections at once."""
    maxconn, nclients = 25, 150
    backend = StreamServer(size=2000, delay=0.2)
    stream_server.append(backend)
    backend.start()
    port = free_port()
    px = proxy.start("""
    global
        maxconn 1000
    listen web {host}:{port}
        mode http
        maxconn {maxconn}
        contimeout 3000
        clitimeout 30000
        srvtimeout 30000
        server s1 {host}:{bport}
    """, host=HOST, port=port, bport=backend.port, maxconn=maxconn)
    workers = workers_of(px)
    results: list[int | None] = []
    lock = threading.Lock()

    def client() -> None:
        try:
            answer = send_raw(port, NORMAL, timeout=40)
        except OSError:
            answer = b""
        with lock:
            results.append(status_of(answer) if len(answer) > 2000 else None)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(nclients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    took = time.monotonic() - start
    assert results.count(200) == nclients, f"{results.count(200)} of {nclients} served: {set(results)}"
    assert backend.max_active <= maxconn, f"backend saw {backend.max_active} connections at once"
    assert backend.max_active >= maxconn // 2, "the flood never filled the proxy"
    # (the server counts an answer after its last sendall() returns, which may be after the
    # client has read it all: wait for the count, bounded)
    deadline = time.monotonic() + 10
    while backend.served < nclients and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backend.served == nclients
    print(f"flood: {nclients} clients, maxconn {maxconn}: all served in {took:.2f}s,"
          f" backend peak {backend.max_active} connections")
    # at least nclients / maxconn rounds of 0.2 s: the limit was really applied
    assert took >= (nclients // maxconn) * 0.2 * 0.9, took
    assert px.worker_pids() == workers and px.alive()


def test_slow_reader_does_not_grow_the_worker(proxy, stream_server) -> None:
    """A 512 MiB response read at ~3 MiB/s for 4 s: the worker's RSS stays within 16 MiB of its
    starting size (no user-space buffering of what the client has not taken yet)."""
    backend = StreamServer(size=512 << 20)
    stream_server.append(backend)
    backend.start()
    port = free_port()
    px = proxy.start("""
    listen web {host}:{port}
        mode http
        contimeout 3000
        clitimeout 30000
        srvtimeout 30000
        server s1 {host}:{bport}
    """, host=HOST, port=port, bport=backend.port)
    worker = workers_of(px)[0]
    base = rss_kib(worker)
    samples = []
    got = 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as c:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        c.settimeout(10)
        c.connect((HOST, port))
        c.sendall(b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n")
        end = time.monotonic() + 4
        while time.monotonic() < end:
            chunk = c.recv(65536)
            assert chunk, "the proxy closed the slow reader"
            got += len(chunk)
            time.sleep(0.02)
            if len(samples) < 200:
                samples.append(rss_kib(worker))
    grown = max(samples) - base
    print(f"slow reader: read {got >> 20} MiB in 4 s, worker RSS {base // 1024} MiB at start,"
          f" grew by {grown} KiB at most")
    assert got > 1 << 20, f"only {got} bytes read"
    assert got < 64 << 20, "not a slow reader"
    assert grown < 16 * 1024, f"worker RSS grew by {grown} KiB while a slow reader held a 512 MiB answer"
    assert px.worker_pids() == [worker]
    backend.size = 1000
    assert timed_request(port)[0] == 200
