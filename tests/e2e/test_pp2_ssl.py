"""The PROXY v2 header's PP2_TYPE_SSL TLV (proxy-protocol.txt 2.2.6) towards a server:
`proxy-v2-options ssl,cert-cn,ssl-cipher,cert-sig,cert-key` and `send-proxy-v2-ssl-cn` (issue 20).

A TCP frontend terminates TLS and relays to an echo server started by the test, which sends back
what it received, the PROXY header first: the client reads the header through its own TLS
connection and takes the SSL TLV out of it. Each case expects the exact bytes, built from what the
client itself negotiated (version, cipher), the same against pyhaproxy and /usr/sbin/haproxy:
a client certificate (flags SSL, CERT_CONN, CERT_SESS, its CN), none, a plain connection, a
resumed session (CERT_SESS without CERT_CONN), an untrusted certificate let through by
crt-ignore-err (its verify result in the TLV).
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary, certs  # noqa: F401  (fixtures)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(120)

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"

CFG = """
defaults
    mode tcp
    timeout client 10s
    timeout connect 5s
    timeout server 10s
listen all
    bind 127.0.0.1:{pall} ssl crt {a} ca-file {ca} verify optional
    bind 127.0.0.1:{plain}
    server echo 127.0.0.1:{eport} send-proxy-v2 proxy-v2-options ssl,cert-cn,ssl-cipher,cert-sig,cert-key
listen cn
    bind 127.0.0.1:{pcn} ssl crt {b} ca-file {ca} verify optional crt-ignore-err all
    server echo 127.0.0.1:{eport} send-proxy-v2-ssl-cn
"""


def _sub(t: int, v: str) -> bytes:
    return struct.pack("!BH", t, len(v)) + v.encode()


def _tlv(client: int, verify: int, subs: bytes) -> bytes:
    body = struct.pack("!BI", client, verify) + subs
    return struct.pack("!BH", 0x20, len(body)) + body


def _ssl_tlv(header: bytes) -> bytes | None:
    """The PP2_TYPE_SSL TLV (type, length, value) of a v2 TCP4 header, None if it has none."""
    assert header[:12] == V2_SIG and header[12:14] == b"\x21\x11", header
    end = 16 + struct.unpack("!H", header[14:16])[0]
    i = 16 + 12
    while i < end:
        t, n = header[i], struct.unpack("!H", header[i + 1:i + 3])[0]
        if t == 0x20:
            return header[i:i + 3 + n]
        i += 3 + n
    return None


def _exchange(s: socket.socket) -> bytes:
    """Send a line and read the echo: the PROXY header the server got, then the line."""
    s.sendall(b"ping\n")
    data = b""
    while len(data) < 16 or len(data) < 16 + struct.unpack("!H", data[14:16])[0] + 5:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    assert data.endswith(b"ping\n"), data
    return data[:-5]


def _tls(port: int, ctx: ssl.SSLContext, session: Any = None) -> tuple[bytes, str, str, Any, bool]:
    with socket.create_connection((LOCALHOST, port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="a.example", session=session) as s:
        header = _exchange(s)
        cipher = s.cipher()
        version = s.version()
        assert cipher is not None and version is not None
        return header, version, cipher[0], s.session, s.session_reused


def _ctx(ca: Path, cert: Path | None, ver: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = ver
    if cert:
        ctx.load_cert_chain(str(cert))
    return ctx


def test_ssl_tlv(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
                 tcp_echo_backend: Callable[..., Any]) -> None:
    echo = tcp_echo_backend()
    pall, plain, pcn = free_ports(3)
    proxy.start(CFG, pall=pall, plain=plain, pcn=pcn, eport=echo.port, a=certs["a"], b=certs["b"],
                ca=certs["ca"])
    # the frontend's certificate "a": RSA 2048 signed by the test's ECDSA CA
    frontend = _sub(0x25, "RSA2048") + _sub(0x24, "ecdsa-with-SHA256")
    # a client certificate, TLS 1.3: everything
    h, ver, cipher, _, _ = _tls(pall, _ctx(certs["ca"], certs["client"], ssl.TLSVersion.TLSv1_3))
    assert _ssl_tlv(h) == _tlv(0x07, 0, _sub(0x21, ver) + _sub(0x22, "client.example") + frontend
                               + _sub(0x23, cipher))
    # none, TLS 1.2: SSL only, no CN
    h, ver, cipher, _, _ = _tls(pall, _ctx(certs["ca"], None, ssl.TLSVersion.TLSv1_2))
    assert ver == "TLSv1.2"
    assert _ssl_tlv(h) == _tlv(0x01, 0, _sub(0x21, ver) + frontend + _sub(0x23, cipher))
    # a plain connection: the TLV is there, empty
    with socket.create_connection((LOCALHOST, plain), timeout=10) as s:
        assert _ssl_tlv(_exchange(s)) == _tlv(0, 0, b"")
    # a resumed TLS 1.2 session: the certificate is the session's, not this connection's
    ctx = _ctx(certs["ca"], certs["client"], ssl.TLSVersion.TLSv1_2)
    _, _, _, session, _ = _tls(pall, ctx)
    h, ver, cipher, _, reused = _tls(pall, ctx, session)
    assert reused
    assert _ssl_tlv(h) == _tlv(0x05, 0, _sub(0x21, ver) + _sub(0x22, "client.example") + frontend
                               + _sub(0x23, cipher))
    # send-proxy-v2-ssl-cn: the version and the CN only; an untrusted certificate let through
    # by crt-ignore-err has its verify result (18: self-signed) in the TLV
    h, ver, _, _, _ = _tls(pcn, _ctx(certs["ca"], certs["client"], ssl.TLSVersion.TLSv1_3))
    assert _ssl_tlv(h) == _tlv(0x07, 0, _sub(0x21, ver) + _sub(0x22, "client.example"))
    h, ver, _, _, _ = _tls(pcn, _ctx(certs["ca"], certs["stranger"], ssl.TLSVersion.TLSv1_3))
    assert _ssl_tlv(h) == _tlv(0x07, 18, _sub(0x21, ver) + _sub(0x22, "stranger"))
