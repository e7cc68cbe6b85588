"""End-to-end tests of the protocol health checks `option smtpchk` and `option ssl-hello-chk`.

smtpchk (HAProxy 1.2; 2.6.12's rule set): the greeting must be a 2xx line, then `HELO localhost`
(or the configured `HELO|EHLO domain`) is sent and must get a 2xx, then QUIT. ssl-hello-chk: a TLS
ClientHello is sent, and a TLS handshake or alert record in reply proves an SSL/TLS stack
answered. Real servers started here: a small SMTP speaker, Python's TLS server with a
certificate made by openssl, and plain TCP servers that answer something else.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port, wait_until

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"


class LineServer:
    """Accepts connections and runs `talk(conn, record)` on each in a thread; records what came."""

    def __init__(self, talk: Callable[[socket.socket, list[bytes]], None]) -> None:
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.received: list[bytes] = []
        self.talk = talk
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            self.talk(conn, self.received)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stopped = True
        self.lsock.close()


def smtp(greeting: bytes) -> Callable[[socket.socket, list[bytes]], None]:
    def talk(conn: socket.socket, received: list[bytes]) -> None:
        conn.sendall(greeting)
        data = b""
        while b"\n" not in data:
            chunk = conn.recv(1024)
            if not chunk:
                break
            data += chunk
        received.append(data)
        if data:
            conn.sendall(b"250 mx.test\r\n")
            # 2.6.12 then says QUIT and wants a 2xx to it
            if conn.recv(1024).startswith(b"QUIT"):
                conn.sendall(b"221 bye\r\n")
    return talk


def http_only(conn: socket.socket, received: list[bytes]) -> None:
    received.append(conn.recv(4096))
    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")


@pytest.fixture
def servers() -> Iterator[list[LineServer]]:
    made: list[LineServer] = []
    yield made
    for s in made:
        s.close()


def start(proxy, option: str, good: int, bad: int):
    port = free_port()
    h = proxy.start(f"""
    listen farm {HOST}:{port}
        mode tcp
        {option}
        contimeout 2000
        clitimeout 30000
        srvtimeout 30000
        server good {HOST}:{good} check inter 200 rise 1 fall 1
        server bad {HOST}:{bad} check inter 200 rise 1 fall 1
    """)
    return h


@pytest.mark.parametrize("option,command", [
    ("option smtpchk", b"HELO localhost\r\n"),
    ("option smtpchk EHLO mail.example.com", b"EHLO mail.example.com\r\n"),
])
def test_smtpchk(proxy, servers, option: str, command: bytes) -> None:
    good = LineServer(smtp(b"220 mx.test ESMTP ready\r\n"))
    busy = LineServer(smtp(b"421 mx.test too busy, try later\r\n"))
    servers += [good, busy]
    h = start(proxy, option, good.port, busy.port)
    wait_until(lambda: "Server farm/bad is DOWN" in h.stderr_text(), 10, message="bad marked down")
    wait_until(lambda: len(good.received) >= 4, 10, message="good checked")
    assert set(good.received) == {command}
    assert "Server farm/good is DOWN" not in h.stderr_text()


def test_smtpchk_fails_on_a_web_server(proxy, servers) -> None:
    good = LineServer(smtp(b"220 mx.test ESMTP\r\n"))
    web = LineServer(http_only)
    servers += [good, web]
    h = start(proxy, "option smtpchk", good.port, web.port)
    wait_until(lambda: "Server farm/bad is DOWN" in h.stderr_text(), 10, message="web server marked down")


@pytest.fixture
def tls_server(tmp_path: Path, servers) -> LineServer:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True, timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def talk(conn: socket.socket, received: list[bytes]) -> None:
        received.append(b"hello")
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)    # the check goes away after the server's answer; that ends it

    s = LineServer(talk)
    servers.append(s)
    return s


def test_ssl_hello_chk(proxy, servers, tls_server: LineServer) -> None:
    web = LineServer(http_only)
    servers.append(web)
    h = start(proxy, "option ssl-hello-chk", tls_server.port, web.port)
    wait_until(lambda: "Server farm/bad is DOWN" in h.stderr_text(), 10, message="plain server down")
    wait_until(lambda: len(tls_server.received) >= 4, 10, message="TLS server checked")
    assert "Server farm/good is DOWN" not in h.stderr_text()
    # what the plain server received is a TLS record: a handshake, ClientHello
    assert web.received and web.received[0][:1] == b"\x16" and web.received[0][5:6] == b"\x01"
