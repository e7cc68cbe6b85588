"""Large farms: building the round-robin tables is linear in the servers (8,000 servers took 6 s,
100,000 never finished), and a -W reload stops the old workers only once the new ones serve.
Every server of these farms is the same real backend under another name, so every request
must succeed. Not differential: the point is pyhaproxy's own table build."""

from __future__ import annotations

import signal
import socket
import threading

import pytest

from tests.helpers import free_ports, wait_until
from tests.helpers.servers import HttpServer

pytestmark = pytest.mark.timeout(240)


def farm_config(n: int, port: int, bport: int) -> str:
    lines = ["global", "    maxconn 200", "defaults", "    mode http", "    timeout connect 5s",
             "    timeout client 30s", "    timeout server 30s", "frontend fe", f"    bind 127.0.0.1:{port}",
             "    default_backend farm", "backend farm", "    balance roundrobin"]
    lines += [f"    server s{i} 127.0.0.1:{bport} weight {1 + i % 7}" for i in range(n)]
    return "\n".join(lines) + "\n"


def get(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return int(s.recv(64).split(b" ")[1])


def test_hundred_thousand_servers_start_and_serve(proxy, http_backend, tmp_path) -> None:
    backend: HttpServer = http_backend(name="b")
    (port,) = free_ports(1)
    cfg = tmp_path / "farm.cfg"
    cfg.write_text(farm_config(100_000, port, backend.port))
    proxy.start(cfg, wait=[("127.0.0.1", port)], timeout=180)
    assert [get(port) for _ in range(5)] == [200] * 5


def test_master_worker_reload_of_8000_servers_fails_no_request(proxy, http_backend, tmp_path) -> None:
    backend: HttpServer = http_backend(name="b")
    (port,) = free_ports(1)
    cfg = tmp_path / "farm.cfg"
    cfg.write_text(farm_config(8000, port, backend.port))
    px = proxy.start(cfg, extra_args=["-W"], wait=[("127.0.0.1", port)], timeout=120)
    stop = threading.Event()
    results: list[object] = []

    def load() -> None:
        while not stop.is_set() and len(results) < 100_000:  # bounded
            try:
                results.append(get(port))
            except OSError as e:
                results.append(repr(e))

    t = threading.Thread(target=load, daemon=True)
    t.start()
    try:
        for _ in range(3):
            before = set(px.worker_pids())
            px.signal(signal.SIGUSR2)
            # the old worker leaves only once the new one serves
            wait_until(lambda before=before: not (set(px.worker_pids()) & before), 90,
                       message="the old worker to leave")
    finally:
        stop.set()
        t.join(60)
    failures = [r for r in results if r != 200]
    assert len(results) > 20 and not failures, (len(results), failures[:5])
