"""The backend queue in the log, and `option abortonclose` while queued (issue 15, items 3-4).
Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too.

- The wait in the queue is logged in Tw (it was logged in Tc, Tw always 0), and the backend
  queue field is the request's place in the queue, itself included (it was one lower).
- A queued client that closes is dropped from the queue at once, logged `CQ` with `<NOSRV>`
  (it was noticed only when its turn came, `CC`)."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from tests.helpers import free_ports

pytestmark = pytest.mark.timeout(60)

CONFIG = """
    global
        maxconn 100
    defaults
        mode http
        log 127.0.0.1:{logport} local0
        option httplog
        {abort}
        timeout connect 5s
        timeout client 30s
        timeout server 30s
        timeout queue 30s
    frontend fe
        bind 127.0.0.1:{port}
        default_backend be
    backend be
        server slow 127.0.0.1:{bport} maxconn 1
    """

LINE = re.compile(r" (?P<srv>\S+) (?P<tq>-?\d+)/(?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tr>-?\d+)/(?P<tt>\+?\d+) "
                  r"(?P<status>-?\d+) .* (?P<flags>\S{4}) \S+ (?P<sq>\d+)/(?P<bq>\d+) \"GET (?P<url>\S+)")


class SlowServer:
    """Answers each request `delay` seconds after it arrives; one connection at a time is enough
    (the proxy sends one at a time: maxconn 1)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                time.sleep(self.delay)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            except OSError:
                pass


def send(port: int, url: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    return s


def finish(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    s.close()
    return data


def parsed(line: str) -> dict[str, str]:
    m = LINE.search(line)
    assert m, line
    return m.groupdict()


def test_queue_wait_is_logged_in_tw_with_the_queue_position(proxy, syslog) -> None:
    server = SlowServer(0.6)
    (port,) = free_ports(1)
    proxy.start(CONFIG, port=port, bport=server.port, logport=syslog[1], abort="")
    clients = []
    for i in range(3):
        clients.append(send(port, f"/r{i}"))
        time.sleep(0.15)  # keep the arrival order
    for c in clients:
        assert finish(c).startswith(b"HTTP/1.1 200")
    lines = {p["url"]: p for p in (parsed(ln) for ln in syslog[0].lines(3, timeout=20))}
    assert lines["/r0"]["bq"] == "0" and int(lines["/r0"]["tw"]) < 300
    for url, place in (("/r1", "1"), ("/r2", "2")):
        p = lines[url]
        assert p["bq"] == place, p
        assert int(p["tw"]) >= 300, p  # it waited for the request(s) ahead (0.6 s each)
        assert int(p["tc"]) < int(p["tw"]), p  # the wait is not counted as connecting


def test_abortonclose_drops_a_queued_client_at_once(proxy, syslog) -> None:
    server = SlowServer(3.0)
    (port,) = free_ports(1)
    proxy.start(CONFIG, port=port, bport=server.port, logport=syslog[1], abort="option abortonclose")
    first = send(port, "/first")
    time.sleep(0.3)
    queued = send(port, "/queued")
    time.sleep(0.3)
    queued.close()  # leaves while waiting for the slot /first holds
    line = syslog[0].line(timeout=10)  # the queued one's line comes first, before /first ends
    p = parsed(line)
    assert p["url"] == "/queued", line
    assert p["srv"] == "be/<NOSRV>" and p["flags"].startswith("CQ"), line
    assert finish(first).startswith(b"HTTP/1.1 200")
