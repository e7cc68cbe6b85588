"""End-to-end tests of TCP mode: data integrity under concurrency, half-close, timeouts,
maxconn queueing, retries/redispatch, weighted round robin, source hashing, health mode.

Every test runs a real pyhaproxy process (foreground, `-db`) against backends started by the test
on 127.0.0.0/8, and only asserts that things happen within generous bounds.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import (
    connect,
    data_exchange,
    deterministic_bytes,
    echo_roundtrip,
    free_port,
    recv_exactly,
    recv_until_closed,
    wait_closed_by_peer,
)

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"

TCP_PROXY = """
    global
        maxconn 1000
    listen tcp-test {host}:{port}
        mode tcp
        balance roundrobin
        contimeout 5000
        clitimeout 30000
        srvtimeout 30000
        server s1 127.0.0.1:{bport}
    """

# `option tcp-fastpath` (docs/tcp-fastpath.md): the same tests with the kernel relaying once a
# session's first bytes went each way (mid-transfer, for the concurrent one)
FASTPATH = pytest.mark.parametrize("fastpath", ["", "option tcp-fastpath"], ids=["epoll", "fastpath"])


@pytest.mark.timeout(180)
@FASTPATH
def test_1mib_both_directions_50_concurrent(proxy, data_backend, fastpath):
    """50 concurrent sessions each move 1 MiB up and 1 MiB down; sha256 matches on both ends."""
    backend = data_backend(down_bytes=1 << 20, up_bytes=1 << 20)
    port = free_port()
    proxy.start(TCP_PROXY.replace("mode tcp\n", f"mode tcp\n        {fastpath}\n"), host=HOST, port=port,
                bport=backend.port)
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda seed: data_exchange(HOST, port, seed, timeout=90), range(1, 51)))
    bad = [detail for ok, detail in results if not ok]
    assert not bad, f"{len(bad)} of 50 downstream transfers corrupted: {bad[:5]}"
    backend.wait_accepted(50)
    with backend.lock:
        seen = list(backend.results)
    assert len(seen) == 50, f"backend saw {len(seen)} complete sessions"
    assert all(r.upstream_ok for r in seen), [r for r in seen if not r.upstream_ok][:5]
    assert sorted(r.seed for r in seen) == list(range(1, 51))


@FASTPATH
def test_half_close_client_still_gets_full_reply(proxy, tcp_backend, fastpath):
    """Client sends, shuts down its write side; the server sees EOF and its full reply arrives."""
    backend = tcp_backend("eof_reply", reply_size=256 * 1024)
    port = free_port()
    proxy.start(TCP_PROXY.replace("mode tcp\n", f"mode tcp\n        {fastpath}\n"), host=HOST, port=port,
                bport=backend.port)
    payload = deterministic_bytes(100 * 1024, 3)
    with connect(HOST, port) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        reply = recv_until_closed(s, timeout=20)
    assert len(reply) == 256 * 1024
    assert reply == deterministic_bytes(256 * 1024, 7)
    with backend.lock:
        assert backend.received == [payload]


@FASTPATH
def test_clitimeout_closes_idle_client(proxy, tcp_echo_backend, fastpath):
    """An idle client is disconnected after about clitimeout (1 s); so is the server side."""
    backend = tcp_echo_backend()
    port = free_port()
    proxy.start("""
        listen idle {host}:{port}
            mode tcp
            {fastpath}
            contimeout 5000
            clitimeout 1000
            srvtimeout 30000
            server s1 127.0.0.1:{bport}
        """, host=HOST, port=port, bport=backend.port, fastpath=fastpath)
    with connect(HOST, port) as s:
        s.sendall(b"hello\n")
        assert recv_exactly(s, 6) == b"hello\n"
        waited = wait_closed_by_peer(s, timeout=20)
    # A lower bound cannot flake under load: it only proves this was a timeout, not a reset.
    assert waited >= 0.5, f"closed after {waited:.2f}s, before clitimeout could expire"
    backend.wait_idle(15)


def test_maxconn_third_connection_waits_then_served(proxy, tcp_echo_backend):
    """maxconn 2: a 3rd client waits (never reaches the backend) until a slot frees."""
    backend = tcp_echo_backend()
    port = free_port()
    proxy.start("""
        listen limited {host}:{port}
            mode tcp
            maxconn 2
            contimeout 5000
            clitimeout 30000
            srvtimeout 30000
            server s1 127.0.0.1:{bport}
        """, host=HOST, port=port, bport=backend.port)
    c1 = connect(HOST, port)
    c2 = connect(HOST, port)
    c3: socket.socket | None = None
    try:
        for c in (c1, c2):
            c.sendall(b"x")
            assert recv_exactly(c, 1) == b"x"
        backend.wait_accepted(2)
        c3 = connect(HOST, port)  # completes in the kernel backlog
        c3.sendall(b"third\n")
        c3.settimeout(1.5)
        with pytest.raises(TimeoutError):
            c3.recv(100)
        assert backend.accepted == 2, "the 3rd connection reached the backend despite maxconn 2"
        c1.close()
        assert recv_exactly(c3, 6, timeout=15) == b"third\n"
        assert backend.accepted == 3
        # the remaining slot holder still works
        c2.sendall(b"y")
        assert recv_exactly(c2, 1) == b"y"
    finally:
        for c in (c1, c2, c3):
            if c is not None:
                c.close()


def test_retries_and_redispatch_hide_a_dead_server(proxy, tcp_echo_backend):
    """One server refuses connections, one works: with retries + redispatch every request works."""
    live = tcp_echo_backend()
    dead_port = free_port()  # nothing listens there
    port = free_port()
    proxy.start("""
        listen redisp {host}:{port}
            mode tcp
            balance roundrobin
            retries 3
            option redispatch
            contimeout 3000
            clitimeout 30000
            srvtimeout 30000
            server dead 127.0.0.1:{dead}
            server live 127.0.0.1:{live}
        """, host=HOST, port=port, dead=dead_port, live=live.port)
    failures = []
    for i in range(20):
        payload = f"req{i}\n".encode()
        try:
            got = echo_roundtrip(HOST, port, payload, timeout=15)
        except (OSError, AssertionError) as exc:
            failures.append((i, repr(exc)))
            continue
        if got != payload:
            failures.append((i, got))
    assert not failures, failures
    assert live.accepted == 20


def test_weighted_roundrobin_ratio(proxy, tcp_echo_backend):
    """weight 3 vs weight 1: over 40 sequential connections (10 full cycles) 30 go to the first."""
    a = tcp_echo_backend(name="a")
    b = tcp_echo_backend(name="b")
    port = free_port()
    proxy.start("""
        listen weighted {host}:{port}
            mode tcp
            balance roundrobin
            contimeout 5000
            clitimeout 30000
            srvtimeout 30000
            server a 127.0.0.1:{pa} weight 3
            server b 127.0.0.1:{pb} weight 1
        """, host=HOST, port=port, pa=a.port, pb=b.port)
    for i in range(40):
        assert echo_roundtrip(HOST, port, f"{i}\n".encode()) == f"{i}\n".encode()
    time.sleep(0.2)  # let the last accept be recorded (it happened before the echo anyway)
    assert (a.accepted, b.accepted) == (30, 10)


def test_balance_source_sticks_per_client_address(proxy, tcp_echo_backend):
    """balance source: a given client address always reaches the same server; several addresses
    spread over both servers."""
    a = tcp_echo_backend(banner=b"A\n")
    b = tcp_echo_backend(banner=b"B\n")
    port = free_port()
    proxy.start("""
        listen by-source {host}:{port}
            mode tcp
            balance source
            contimeout 5000
            clitimeout 30000
            srvtimeout 30000
            server a 127.0.0.1:{pa}
            server b 127.0.0.1:{pb}
        """, host=HOST, port=port, pa=a.port, pb=b.port)
    chosen: dict[str, set[bytes]] = {}
    for last in range(20, 36):
        src = f"127.0.0.{last}"
        for _ in range(3):
            with connect(HOST, port, source=src) as s:
                chosen.setdefault(src, set()).add(recv_exactly(s, 2))
    unstable = {src: got for src, got in chosen.items() if len(got) != 1}
    assert not unstable, f"sources that switched servers: {unstable}"
    used = set().union(*chosen.values())
    assert used == {b"A\n", b"B\n"}, f"16 source addresses all hashed to {used}"


def test_health_mode_answers_ok(proxy):
    """`mode health` answers "OK\\n" and closes (HAProxy 1.2)."""
    port = free_port()
    proxy.start("""
        listen health {host}:{port}
            mode health
            clitimeout 5000
        """, host=HOST, port=port)
    for _ in range(3):
        with connect(HOST, port) as s:
            assert recv_until_closed(s, timeout=10) == b"OK\n"


def test_health_mode_with_httpchk_answers_http_200(proxy):
    """`mode health` + `option httpchk` answers "HTTP/1.0 200 OK\\r\\n\\r\\n" and closes."""
    port = free_port()
    proxy.start("""
        listen health {host}:{port}
            mode health
            option httpchk
            clitimeout 5000
        """, host=HOST, port=port)
    # Nothing is sent: the proxy answers without reading, and unread data could turn its close
    # into a reset that discards the reply.
    with connect(HOST, port) as s:
        assert recv_until_closed(s, timeout=10) == b"HTTP/1.0 200 OK\r\n\r\n"
