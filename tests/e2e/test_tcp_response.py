"""`tcp-response inspect-delay` and `tcp-response content accept|reject|close [if|unless COND]`
in a TCP backend: the server's first bytes are held (`res.payload`, `res.len`) until a rule
decides, the delay expires or the server's data ends; a reject closes both sides (logged `PD`),
`close` ends the server connection and lets what it sent reach the client.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(60)

CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode tcp
    log global
    option tcplog
    timeout client 5s
    timeout connect 2s
    timeout server 5s
listen sniff
    bind 127.0.0.1:{port}
    tcp-response inspect-delay 1s
    tcp-response content accept if { res.payload(0,4) -m str SSH- }
    tcp-response content reject
    server s 127.0.0.1:{srv}
listen closer
    bind 127.0.0.1:{port2}
    tcp-response content close if { res.len gt 0 }
    server s 127.0.0.1:{srv}
"""


@pytest.fixture
def scripted() -> Iterator[Callable[[list[tuple[float, bytes]]], int]]:
    """scripted([(delay, bytes), ...]) -> port: a server that, on each connection, sends each
    piece after its delay, then echoes what it receives until the client ends."""
    stops: list[threading.Event] = []
    socks: list[socket.socket] = []

    def start(script: list[tuple[float, bytes]]) -> int:
        ls = socket.create_server((LOCALHOST, 0))
        ls.settimeout(0.2)
        stop = threading.Event()
        stops.append(stop)
        socks.append(ls)

        def handle(c: socket.socket) -> None:
            with c:
                try:
                    for delay, data in script:
                        time.sleep(delay)
                        c.sendall(data)
                    c.settimeout(10)
                    while data := c.recv(65536):
                        c.sendall(data)
                except OSError:
                    pass

        def serve() -> None:
            while not stop.is_set():
                try:
                    c, _ = ls.accept()
                except OSError:
                    continue
                threading.Thread(target=handle, args=(c,), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return int(ls.getsockname()[1])

    yield start
    for stop in stops:
        stop.set()
    time.sleep(0.3)
    for ls in socks:
        ls.close()


def _talk(port: int, send: bytes = b"", wait: float = 3.0) -> bytes:
    """Connect, send `send`, read until the proxy closes or `wait` seconds pass."""
    got = b""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        if send:
            s.sendall(send)
        s.settimeout(0.2)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                return got + b"<EOF>"
            got += chunk
    return got


@pytest.mark.parametrize("script, expected, flags", [
    ([(0, b"SSH-2.0-test\r\n")], b"SSH-2.0-test\r\nping", "--"),
    ([(0, b"SS"), (0.3, b"H-2.0-late\r\n")], b"SSH-2.0-late\r\nping", "--"),
    ([(0, b"HTTP/1.0 200 OK\r\n\r\n")], b"<EOF>", "PD"),
], ids=["accepted", "accepted-in-pieces", "rejected"])
def test_server_banner_inspected(proxy: Any, binary: str, syslog: Any,  # noqa: F811
                                 scripted: Callable[..., int], script: list[tuple[float, bytes]],
                                 expected: bytes, flags: str) -> None:
    port, port2 = free_ports(2)
    proxy.start(CFG, port=port, port2=port2, srv=scripted(script), logport=syslog[1])
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        got = b""
        s.settimeout(5)
        try:
            while len(got) < len(expected) - 4:
                chunk = s.recv(65536)
                if not chunk:
                    got += b"<EOF>"
                    break
                got += chunk
            if not got.endswith(b"<EOF>"):
                s.sendall(b"ping")
                got += s.recv(65536)
        except ConnectionResetError:
            got += b"<EOF>"
    assert got == expected
    line = syslog[0].line()
    # tcplog's two state characters; the bytes are what the server sent, forwarded or not (2.6)
    sent = len(b"".join(d for _, d in script)) + (4 if flags == "--" else 0)    # (+ the echoed ping)
    assert f" {sent} {flags} " in line, line


def test_silent_server_decided_when_the_delay_ends(proxy: Any, binary: str, syslog: Any,  # noqa: F811
                                                   scripted: Callable[..., int]) -> None:
    """The server says nothing: at the delay's end the accept rule lacks its data, the reject
    rule applies; the client's own bytes went to the server meanwhile (and the echo of them
    was not forwarded: it is what the rules judged)."""
    port, port2 = free_ports(2)
    proxy.start(CFG, port=port, port2=port2, srv=scripted([]), logport=syslog[1])
    start = time.monotonic()
    assert _talk(port, send=b"hi") == b"<EOF>"
    assert time.monotonic() - start >= 0.5     # (held by the 1 s delay, not refused at once)
    line = syslog[0].line()
    assert " 2 PD " in line, line       # (the echo of "hi": read from the server, judged, dropped)


def test_close_lets_the_first_bytes_through(proxy: Any, binary: str, syslog: Any,  # noqa: F811
                                            scripted: Callable[..., int]) -> None:
    """`close` ends the server's connection; what it sent before still reaches the client (the
    client's side then waits for its own timeout in 2.6 as here: not asserted)."""
    port, port2 = free_ports(2)
    proxy.start(CFG, port=port, port2=port2, srv=scripted([(0, b"220 ready\r\n")]),
                logport=syslog[1])
    assert _talk(port2, wait=1.0).startswith(b"220 ready\r\n")


@pytest.mark.parametrize("line, message", [
    ("tcp-response inspect-delay 1s", "only allowed in 'backend' sections"),
    ("tcp-response something", "expects 'inspect-delay' or 'content'"),
])
def test_bad_lines_are_refused(proxy: Any, binary: str, line: str, message: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    cfg = proxy.write_config(f"""
defaults
    mode tcp
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    {line}
    default_backend be
backend be
    server s 127.0.0.1:1
""")
    result = proxy.run(["-c", "-f", str(cfg)])
    assert result.returncode == 1 and message in result.stderr + result.stdout, result


def test_http_mode_is_refused_by_name(proxy: Any) -> None:
    """pyhaproxy only, on purpose: 2.6 runs these rules on an HTTP response before analysing it;
    pyhaproxy's HTTP responses go straight to the HTTP analyser, so the line is an alert rather
    than a rule silently never applied."""
    (port,) = free_ports(1)
    cfg = proxy.write_config(f"""
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
listen web
    bind 127.0.0.1:{port}
    tcp-response content reject if {{ res.len gt 100 }}
    server s 127.0.0.1:1
""")
    result = proxy.run(["-c", "-f", str(cfg)])
    assert result.returncode == 1 and "[ALERT]" in result.stderr, result
    assert "'tcp-response content' in listen 'web' (mode http) is not supported" in result.stderr
