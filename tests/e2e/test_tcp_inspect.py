"""TCP content inspection (`tcp-request inspect-delay`, `tcp-request content ... if COND`) with
payload fetches: TLS passthrough routed on the ClientHello's server name (`req.ssl_sni`,
`req_ssl_hello_type`), plain protocols on their first bytes (`req.payload`), a ClientHello
that comes in pieces, and the delay's end deciding on what came.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary, certs, tls_get  # noqa: F401  (fixtures)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(60)

CFG = """
defaults
    mode tcp
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request inspect-delay {delay}
    tcp-request content accept if {{ req_ssl_hello_type 1 }}
    tcp-request content accept if {{ req.payload(0,3) -m str GET }}
    use_backend ba if {{ req.ssl_sni -i a.example }}
    use_backend bw if {{ req.ssl_sni -m end .w.example }}
    use_backend bp if {{ req.payload(0,3) -m str GET }}
    default_backend bd
backend ba
    server s 127.0.0.1:{pa}
backend bw
    server s 127.0.0.1:{pw}
backend bp
    server s 127.0.0.1:{pp}
backend bd
    server s 127.0.0.1:{pd}
""".replace("{{", "{").replace("}}", "}")


def _ctx(pki: dict[str, Path], name: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki[name]))
    return ctx


@pytest.fixture
def routed(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
           http_backend: Callable[..., Any]) -> dict[str, Any]:
    (port,) = free_ports(1)
    b = {"A": http_backend(name="A", tls=_ctx(certs, "a")), "W": http_backend(name="W", tls=_ctx(certs, "w")),
         "P": http_backend(name="P"), "D": http_backend(name="D", tls=_ctx(certs, "b"))}
    proxy.start(CFG, port=port, delay="5s", pa=b["A"].port, pw=b["W"].port, pp=b["P"].port, pd=b["D"].port)
    return {"port": port, **b}


def test_tls_passthrough_routed_by_sni(routed: dict[str, Any], certs: dict[str, Path]) -> None:  # noqa: F811
    port = routed["port"]
    for sni, cn, body in (("a.example", "a.example", "A\n"), ("x.w.example", "*.w.example", "W\n"),
                          ("b.example", "b.example", "D\n"), (None, "b.example", "D\n")):
        r = tls_get(port, certs["ca"], sni)
        assert (r["cn"], r["status"], r["body"]) == (cn, 200, body), sni
    # the server sees the client's own handshake: its SNI, untouched
    assert routed["A"].tls_info[0]["sni"] == "a.example"


def test_plain_protocol_on_its_first_bytes(routed: dict[str, Any]) -> None:
    with socket.create_connection((LOCALHOST, routed["port"]), timeout=10) as s:
        s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"P\n")
    assert routed["P"].requests[0].target == "/plain"


def test_a_client_hello_in_pieces_is_waited_for(routed: dict[str, Any], certs: dict[str, Path]) -> None:  # noqa: F811
    """The ClientHello comes in three writes 0.2 s apart: the rules wait for all of it."""
    ctx = ssl.create_default_context(cafile=str(certs["ca"]))
    ctx.check_hostname = False
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="a.example")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = out.read()
    with socket.create_connection((LOCALHOST, routed["port"]), timeout=10) as s:
        for part in (hello[:3], hello[3:40], hello[40:]):
            s.sendall(part)
            time.sleep(0.2)
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                if out.pending:
                    s.sendall(out.read())
                data = s.recv(65536)
                assert data, "closed during the handshake"
                inc.write(data)
        if out.pending:
            s.sendall(out.read())
        assert dict(x[0] for x in obj.getpeercert()["subject"])["commonName"] == "a.example"


def test_the_delay_decides_on_what_came(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
                                        http_backend: Callable[..., Any]) -> None:
    """A client that sends a few bytes and waits: when `inspect-delay` ends, the rules decide on
    them (no ClientHello, not GET: the default backend), and what came is forwarded."""
    (port,) = free_ports(1)
    d = http_backend(name="D")
    proxy.start(CFG, port=port, delay="500ms", pa=d.port, pw=d.port, pp=d.port, pd=d.port)
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(b"POS")
        time.sleep(1.0)
        s.sendall(b"T /late HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and d.requests[0].method == "POST"


LV_CFG = """
defaults
    mode tcp
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request inspect-delay 1s
    tcp-request content accept if RDP_COOKIE
    tcp-request content accept if { req.payload_lv(0,2) -m found }
    use_backend b_alice if { req.rdp_cookie(mstshash) -m str alice }
    use_backend b_rdp if { rdp_cookie_cnt gt 0 }
    use_backend b_lv if { req.payload_lv(0,2) -m str hello }
    use_backend b_rel if { req.payload_lv(0,1,+1) -m str abc }
    default_backend b_other
backend b_alice
    server s 127.0.0.1:{p_alice}
backend b_rdp
    server s 127.0.0.1:{p_rdp}
backend b_lv
    server s 127.0.0.1:{p_lv}
backend b_rel
    server s 127.0.0.1:{p_rel}
backend b_other
    server s 127.0.0.1:{p_other}
"""

# An RDP connection request: TPKT (4 bytes) and X.224 (7 bytes) headers, then the cookie line
_TPKT = b"\x03\x00\x00\x2a\x25\xe0\x00\x00\x00\x00\x00"


def _first_reply(port: int, pieces: list[bytes]) -> bytes:
    """Send the pieces (0.3 s apart): the server's banner names the backend chosen."""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(0.3)
            s.sendall(piece)
        return s.recv(64)


@pytest.mark.parametrize("pieces, backend", [
    ([_TPKT + b"Cookie: mstshash=alice\r\n"], b"alice"),
    ([_TPKT + b"cookie:  MSTSHASH=alice\r\n"], b"alice"),      # any case, spaces skipped
    ([_TPKT + b"Cookie: mstshash=bob\r\n"], b"rdp"),
    ([_TPKT + b"Cookie: msts=carol\r\n"], b"rdp"),           # another cookie: counted, not ours
    ([_TPKT[:8], _TPKT[8:] + b"Cookie: mstsh", b"ash=alice\r\n"], b"alice"),   # waited for
    ([b"\x00\x05hello"], b"lv"),                              # 2-byte length, then the block
    ([b"\x00\x05he", b"llo"], b"lv"),                         # the block waited for
    ([b"\x03xabc"], b"rel"),                                  # 1-byte length, block 1 byte later
    ([b"\x00\x03abc"], b"other"),
], ids=["rdp-cookie", "rdp-cookie-case", "rdp-other-user", "rdp-other-cookie", "rdp-pieces",
        "lv", "lv-pieces", "lv-relative", "lv-other"])
def test_rdp_cookie_and_length_prefixed_payload(proxy: Any, binary: str,  # noqa: F811
                                                tcp_backend: Callable[..., Any],
                                                pieces: list[bytes], backend: bytes) -> None:
    ports = {f"p_{name}": tcp_backend(banner=name.encode()).port
             for name in ("alice", "rdp", "lv", "rel", "other")}
    (port,) = free_ports(1)
    proxy.start(LV_CFG, port=port, **ports)
    assert _first_reply(port, pieces).startswith(backend)
