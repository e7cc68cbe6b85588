"""Retries after a refused connect, as HAProxy 2.x makes them (issue 15, item 11).
Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too.

- A connect refused by the server (asynchronously, after EINPROGRESS: the usual case, loopback
  included) is retried only after a "turn-around" wait of min(`timeout connect`, 1 s), the
  first retry included; with `retries 3` the request ends `503 SC--` with the retries field 3.
- `option abortonclose`: a client that closes while its request waits to be retried ends it
  there, logged status -1, `CC--` (the retries made so far in the retries field). pyhaproxy
  used to retry at once, so the 503 was sent before the client could close.
- `option redispatch` with round robin and more than one server: the first retry goes to
  another server at once (`+1`); with a single server the redispatch happens on the last retry,
  to the same server, so no `+`, and Tw counts up to that redispatched attempt.

The tests wait on events (the server's retry counter on the stats socket, the log line), never
on elapsed times.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.helpers import free_ports, wait_until

pytestmark = pytest.mark.timeout(60)

CONFIG = """
    global
        stats socket {sock} mode 600 level admin
    defaults
        mode http
        log 127.0.0.1:{logport} local0
        option httplog
        timeout connect {tconnect}
        timeout client 30s
        timeout server 30s
        {defaults}
    frontend fe
        bind 127.0.0.1:{port}
        default_backend be
    backend be
        balance roundrobin
        retries 3
        {options}
        server dead 127.0.0.1:{dead}
        {live}
    """

LINE = re.compile(r" (?P<srv>\S+) (?P<tq>-?\d+)/(?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tr>-?\d+)/(?P<tt>\+?\d+) "
                  r"(?P<status>-?\d+) (?P<bytes>\d+) \S+ \S+ (?P<flags>\S{4}) "
                  r"\d+/\d+/\d+/\d+/(?P<retries>\+?\d+) \d+/\d+ \"GET (?P<url>\S+)")


class LiveServer:
    """Answers every request with 200 and closes."""

    def __init__(self) -> None:
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
            with conn:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(4096)
                    if not data:
                        break
                    buf += data
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlive")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def live() -> Iterator[LiveServer]:
    s = LiveServer()
    try:
        yield s
    finally:
        s.close()


def refused_port() -> int:
    """A port nothing listens on (connects are refused)."""
    (port,) = free_ports(1)
    return port


def start(proxy, syslog, tmp_path, options: str = "", live: LiveServer | None = None,
          tconnect: str = "5s", defaults: str = "") -> tuple[int, str]:
    (port,) = free_ports(1)
    sock = str(tmp_path / "stats.sock")
    proxy.start(CONFIG, port=port, logport=syslog[1], sock=sock, options=options, tconnect=tconnect,
                defaults=defaults, dead=refused_port(),
                live=f"server live 127.0.0.1:{live.port}" if live else "")
    return port, sock


def cli(sock: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sock)
        s.sendall(command.encode() + b"\n")
        out = b""
        while data := s.recv(65536):
            out += data
    return out.decode()


def server_retries(sock: str, server: str) -> int:
    lines = cli(sock, "show stat").splitlines()
    head = lines[0].lstrip("# ").split(",")
    for row in lines[1:]:
        f = row.split(",")
        if f[:2] == ["be", server]:
            return int(f[head.index("wretr")] or 0)
    raise AssertionError(f"no stats row for be/{server}")


def get(port: int, url: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while data := c.recv(65536):
            out += data
    return out


def log_line(syslog) -> re.Match[str]:
    line = syslog[0].line(timeout=20)
    m = LINE.search(line)
    assert m, line
    return m


def test_refused_server_is_retried_then_503(proxy, syslog, tmp_path) -> None:
    port, _ = start(proxy, syslog, tmp_path, tconnect="200ms")
    assert get(port, "/r").split(b" ", 2)[1] == b"503"
    m = log_line(syslog)
    assert (m["srv"], m["tw"], m["tc"], m["status"], m["flags"], m["retries"]) == \
        ("be/dead", "0", "-1", "503", "SC--", "3"), m.string


def test_abortonclose_ends_a_request_waiting_to_be_retried(proxy, syslog, tmp_path) -> None:
    # timeout connect 5s: each retry waits 1 s, time enough to see the first one counted.
    # (In `defaults`: haproxy 2.6 keeps reading the client only when the frontend has the
    # option too; with it in the backend alone 2.6 goes on retrying, pyhaproxy aborts.)
    port, sock = start(proxy, syslog, tmp_path, defaults="option abortonclose")
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.sendall(b"GET /abort HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: server_retries(sock, "dead") >= 1, 10, 0.01, message="a first retry")
    m = log_line(syslog)
    assert (m["srv"], m["tc"], m["status"], m["bytes"], m["flags"], m["url"]) == \
        ("be/dead", "-1", "-1", "0", "CC--", "/abort"), m.string
    assert 1 <= int(m["retries"]) <= 3, m.string


def test_without_abortonclose_the_retries_go_on_after_the_client_left(proxy, syslog, tmp_path) -> None:
    port, sock = start(proxy, syslog, tmp_path, tconnect="300ms")
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.sendall(b"GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: server_retries(sock, "dead") >= 1, 10, 0.01, message="a first retry")
    m = log_line(syslog)
    assert (m["srv"], m["tc"], m["status"], m["flags"], m["retries"]) == \
        ("be/dead", "-1", "503", "SC--", "3"), m.string


def test_redispatch_with_round_robin_goes_to_another_server_at_once(proxy, syslog, tmp_path, live) -> None:
    port, _ = start(proxy, syslog, tmp_path, options="option redispatch", live=live)
    # round robin starts with the first server, `dead`: the first retry goes to `live`
    assert get(port, "/first").endswith(b"live")
    m = log_line(syslog)
    assert (m["srv"], m["status"], m["flags"], m["retries"], m["url"]) == \
        ("be/live", "200", "----", "+1", "/first"), m.string


def test_redispatch_with_one_server_happens_on_the_last_retry(proxy, syslog, tmp_path) -> None:
    port, _ = start(proxy, syslog, tmp_path, options="option redispatch", tconnect="200ms")
    assert get(port, "/one").split(b" ", 2)[1] == b"503"
    m = log_line(syslog)
    # the last attempt is a redispatch to the same server: no '+', and Tw runs until it began
    # (after the turn-around waits), so it is not 0
    assert (m["srv"], m["tc"], m["status"], m["flags"], m["retries"]) == \
        ("be/dead", "-1", "503", "SC--", "3"), m.string
    assert int(m["tw"]) > 0, m.string
