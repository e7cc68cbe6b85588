"""TLS input a well-behaved client never sends, and a reload with a broken certificate.

Each case runs against pyhaproxy and Debian's haproxy 2.6 with the same configuration and the
same expectations (the `binary` fixture of test_tls.py): a renegotiation attempt is refused and
the worker keeps serving; a full 16 KiB TLS record sent one byte at a time is read to the end and
answered; a `-W` reload that finds a certificate it cannot load keeps the old workers serving
with the old certificate, and the master says why on its standard error.
"""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary, certs, tls_get  # noqa: F401  (fixtures)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(120)

CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {crt}
    default_backend bd
backend bd
    server s 127.0.0.1:{pd}
"""


def _renegotiate(port: int, ca: Path) -> str:
    """openssl s_client over TLS 1.2, its `R` command (renegotiate), then a request.

    (s_client reads its commands only without -ign_eof, and an end of its input ends the
    connection: so the input is written in steps and closed last.)"""
    p = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"{LOCALHOST}:{port}", "-servername", "a.example",
         "-CAfile", str(ca), "-tls1_2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    assert p.stdin is not None
    try:
        time.sleep(1.0)
        p.stdin.write(b"R\n")
        p.stdin.flush()
        time.sleep(1.0)
        p.stdin.write(b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
        p.stdin.flush()
        time.sleep(1.0)
        p.stdin.close()
    except BrokenPipeError:
        pass  # s_client ended already: the proxy closed the connection
    out, _ = p.communicate(timeout=30)
    return out.decode("latin-1")


def test_renegotiation_is_refused_and_the_worker_serves_on(
        proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
        http_backend: Callable[..., Any]) -> None:
    (port,) = free_ports(1)
    bd = http_backend(name="D")
    proxy.start(CFG, port=port, crt=certs["a"], pd=bd.port)
    out = _renegotiate(port, certs["ca"])
    # the handshake happened; the renegotiation did not: OpenSSL's server (SSL_OP_NO_RENEGOTIATION
    # on both proxies) answers the new ClientHello with a no_renegotiation alert
    assert "RENEGOTIATING" in out
    assert "no renegotiation" in out and "HTTP/1.1 200" not in out
    for _ in range(3):
        r = tls_get(port, certs["ca"], "a.example")
        assert (r["status"], r["body"]) == (200, "D\n")


def test_a_full_record_one_byte_at_a_time(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
                                          http_backend: Callable[..., Any]) -> None:
    """A request (headers + body) of exactly one 16 KiB TLS record, written one byte per send()."""
    (port,) = free_ports(1)
    bd = http_backend(name="D")
    proxy.start(CFG, port=port, crt=certs["a"], pd=bd.port)
    ctx = ssl.create_default_context(cafile=str(certs["ca"]))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # one record = exactly the plaintext given
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="a.example")
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:  # the handshake, driven by hand over the socket
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                s.sendall(out.read())
                data = s.recv(65536)
                assert data, "the proxy closed during the handshake"
                inc.write(data)
        s.sendall(out.read())
        head = b"POST /upload HTTP/1.1\r\nHost: a.example\r\nContent-Length: %d\r\n\r\n"
        body_len = 16384 - len(head % 10000)
        request = (head % body_len) + b"b" * body_len
        assert len(request) == 16384
        obj.write(request)
        record = out.read()
        assert record[:3] == b"\x17\x03\x03" and int.from_bytes(record[3:5], "big") > 16384
        for i in range(len(record)):
            s.send(record[i:i + 1])
        answer = b""
        deadline = time.monotonic() + 20
        while b"D\n" not in answer and time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                break
            inc.write(data)
            try:
                while True:
                    answer += obj.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                pass
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert answer.endswith(b"D\n")
    assert bd.requests and bd.requests[-1].body == b"b" * body_len


def test_reload_with_a_bad_certificate_keeps_the_old_workers(
        proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
        http_backend: Callable[..., Any], tmp_path: Path) -> None:
    (port,) = free_ports(1)
    bd = http_backend(name="D")
    crt = tmp_path / "site.pem"
    crt.write_text(certs["a"].read_text())
    px = proxy.start(CFG, extra_args=["-W"], port=port, crt=crt, pd=bd.port)
    assert tls_get(port, certs["ca"], None)["cn"] == "a.example"
    crt.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    px.signal(signal.SIGUSR2)
    deadline = time.monotonic() + 15
    while "site.pem" not in px.stderr_text() and time.monotonic() < deadline:
        r = tls_get(port, certs["ca"], None)
        assert (r["cn"], r["status"]) == ("a.example", 200)
        time.sleep(0.1)
    err = px.stderr_text()
    assert "[ALERT]" in err and "site.pem" in err, err[-2000:]
    # the failed reload changed nothing for clients: the old workers still serve the old certificate
    for _ in range(5):
        r = tls_get(port, certs["ca"], None)
        assert (r["cn"], r["status"], r["body"]) == ("a.example", 200, "D\n")
    assert px.proc.poll() is None
