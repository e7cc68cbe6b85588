"""TLS towards the servers (`server ... ssl verify required ca-file F sni EXPR crt F ...`, check-ssl):
backends are the test's own HTTP servers speaking TLS (Python's ssl, certificates made by the
test's CA), clients are plain sockets.

Differential: every test runs against pyhaproxy and against Debian's haproxy 2.6
(/usr/sbin/haproxy) with the same configuration and expectations: the SNI the server saw, the
status and termination flags of a failed verification, session reuse, a client certificate,
bodies both ways, TCP mode, and the health checks' results as `option log-health-checks` logs them.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary, certs  # noqa: F401  (fixtures)
from tests.helpers.net import LOCALHOST, free_ports, wait_until
from tests.helpers.servers import HttpResponse, deterministic_bytes

pytestmark = pytest.mark.timeout(120)


def _server_ctx(pki: dict[str, Path], name: str = "s", client_ca: bool = False) -> ssl.SSLContext:
    """A backend's TLS context: the certificate `name` (its SANs), client certificates
    required when client_ca (signed by the test CA)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki[name]))
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(pki["ca"]))
    return ctx


@pytest.fixture(scope="module")
def scerts(certs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # noqa: F811
    """The test CA's certificates plus one of another CA (a server no ca-file trusts)."""
    d = tmp_path_factory.mktemp("othercerts")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", "o.key", "-out", "o.crt", "-days", "2", "-subj", "/CN=b.example",
                    "-addext", "subjectAltName=DNS:b.example"],
                   cwd=d, check=True, capture_output=True, timeout=60)
    other = d / "o.pem"
    other.write_text((d / "o.crt").read_text() + (d / "o.key").read_text())
    return {**certs, "s": certs["b"], "other": other}


def _get(port: int, path: str = "/", host: str = "x", body: bytes = b"", close: bool = True) -> bytes:
    """One request on a new connection; the whole answer (the proxy closes after it)."""
    with socket.create_connection((LOCALHOST, port), timeout=15) as s:
        method = "POST" if body else "GET"
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        s.sendall((head + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body)
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
    return data


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0


BASE = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout connect 2s
    timeout server 5s
    retries 1
frontend fe
    bind 127.0.0.1:{port}
    use_backend %[path,field(2,/)]
"""


def test_verified_server_sees_the_sni_and_gets_the_request(
        proxy: Any, binary: str, scerts: dict[str, Path],  # noqa: F811
        http_backend: Callable[..., Any], syslog: Any) -> None:
    (port,) = free_ports(1)
    ok = http_backend(name="OK", tls=_server_ctx(scerts))
    host = http_backend(name="HOST", tls=_server_ctx(scerts))
    proxy.start(BASE + """
backend ok
    server s 127.0.0.1:{pok} ssl verify required ca-file {ca} sni str(b.example)
backend host
    server s 127.0.0.1:{phost} ssl verify required ca-file {ca} sni req.hdr(host)
""", port=port, logport=syslog[1], pok=ok.port, phost=host.port, ca=scerts["ca"])
    r = _get(port, "/ok/x")
    assert _status(r) == 200 and r.endswith(b"OK\n")
    assert ok.tls_info[0]["sni"] == "b.example" and ok.requests[0].target == "/ok/x"
    # the name comes from the request: each host its own SNI, checked against the certificate
    assert _status(_get(port, "/host/1", host="b.example")) == 200
    assert _status(_get(port, "/host/2", host="www.b.example")) == 200
    assert [i["sni"] for i in host.tls_info] == ["b.example", "www.b.example"]
    log = syslog[0]
    lines = log.lines(3)
    assert all(" ---- " in line and " 200 " in line for line in lines), lines


def test_failed_verification_is_a_failed_connect(
        proxy: Any, binary: str, scerts: dict[str, Path],  # noqa: F811
        http_backend: Callable[..., Any], tcp_backend: Callable[..., Any], syslog: Any) -> None:
    """A certificate with another name, one of an unknown CA, a server that does not speak TLS
    (an echo: its answer to the ClientHello is no TLS server's): 503 with "SC" (the handshake is
    part of the connect), and the worker serves on."""
    (port,) = free_ports(1)
    good = http_backend(name="GOOD", tls=_server_ctx(scerts))
    other = http_backend(name="OTHER", tls=_server_ctx(scerts, "other"))
    plain = tcp_backend("echo")
    proxy.start(BASE + """
backend badname
    server s 127.0.0.1:{pgood} ssl verify required ca-file {ca} sni str(a.example)
backend verifyhost
    server s 127.0.0.1:{pgood} ssl verify required ca-file {ca} verifyhost nope.example
backend unknownca
    server s 127.0.0.1:{pother} ssl verify required ca-file {ca} sni str(b.example)
backend plain
    server s 127.0.0.1:{pplain} ssl verify none
backend none
    server s 127.0.0.1:{pother} ssl verify none sni str(a.example)
backend ok
    server s 127.0.0.1:{pgood} ssl verify required ca-file {ca}
""", port=port, logport=syslog[1], pgood=good.port, pother=other.port, pplain=plain.port, ca=scerts["ca"])
    log = syslog[0]
    for name in ("badname", "verifyhost", "unknownca", "plain"):
        r = _get(port, f"/{name}/")
        assert _status(r) == 503, (name, r[:200])
        (line,) = log.lines(1)
        assert f" {name}/s " in line and " 503 " in line and " SC-- " in line, line
    assert not good.requests and not other.requests and plain.accepted == 2   # (retries 1)
    # `verify none`: any certificate, any name
    assert _status(_get(port, "/none/")) == 200
    # without SNI or verifyhost the name is not checked, only the chain
    assert _status(_get(port, "/ok/")) == 200
    assert good.tls_info[-1]["sni"] is None


def test_sessions_are_resumed_unless_no_ssl_reuse(
        proxy: Any, binary: str, scerts: dict[str, Path],  # noqa: F811
        http_backend: Callable[..., Any], syslog: Any) -> None:
    """TLS 1.2 servers: a TLS 1.3 ticket arrives after the handshake and may or may not be read
    before the connection closes, which makes the next resumption a matter of timing (for 2.6
    as for us); a TLS 1.2 session is known once the handshake is done."""
    (port,) = free_ports(1)
    ctxs = [_server_ctx(scerts), _server_ctx(scerts)]
    for ctx in ctxs:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    reuse = http_backend(name="R", tls=ctxs[0])
    fresh = http_backend(name="F", tls=ctxs[1])
    # the proxy closes each server connection, cleanly (2.6 forgets a session whose connection
    # the server cut without a close_notify)
    proxy.start(BASE.replace("    retries 1\n", "    retries 1\n    option http-server-close\n") + """
backend reuse
    server s 127.0.0.1:{pr} ssl verify required ca-file {ca} sni str(b.example)
backend fresh
    server s 127.0.0.1:{pf} ssl verify required ca-file {ca} sni str(b.example) no-ssl-reuse
""", port=port, logport=syslog[1], pr=reuse.port, pf=fresh.port, ca=scerts["ca"])
    for _ in range(4):
        assert _status(_get(port, "/reuse/")) == 200
        assert _status(_get(port, "/fresh/")) == 200
    wait_until(lambda: len(reuse.tls_info) == 4 and len(fresh.tls_info) == 4, 10)
    reused = [i["reused"] for i in reuse.tls_info]
    if binary == "pyhaproxy":
        assert reused == [False, True, True, True]
    else:
        # 2.6 now and then makes a full handshake after a resumed one (seen as [F, T, F, T]:
        # a matter of when it stores the renewed session); never the first, some of the others
        assert reused[0] is False and any(reused[1:]), reused
    assert [i["reused"] for i in fresh.tls_info] == [False, False, False, False]


def test_client_certificate_and_large_bodies(
        proxy: Any, binary: str, scerts: dict[str, Path],  # noqa: F811
        http_backend: Callable[..., Any], syslog: Any) -> None:
    """`crt` presents a client certificate; 1 MiB each way crosses the TLS side intact (it never
    splices), on a kept-alive client connection."""
    (port,) = free_ports(1)
    big = deterministic_bytes(1 << 20, 7)
    srv = http_backend(name="C", tls=_server_ctx(scerts, client_ca=True),
                       responder=lambda req: HttpResponse(body=big if req.target == "/c/big" else req.body))
    proxy.start(BASE + """
backend c
    server s 127.0.0.1:{pc} ssl verify required ca-file {ca} sni str(b.example) crt {crt}
""", port=port, logport=syslog[1], pc=srv.port, ca=scerts["ca"], crt=scerts["a"])
    up = deterministic_bytes(1 << 20, 8)
    r = _get(port, "/c/echo", body=up)
    assert _status(r) == 200 and r.partition(b"\r\n\r\n")[2] == up
    r = _get(port, "/c/big")
    assert _status(r) == 200 and r.partition(b"\r\n\r\n")[2] == big
    subject = dict(x[0] for x in srv.tls_info[0]["peer_cert"]["subject"])
    assert subject["commonName"] == "a.example"


def test_tcp_mode_originates_tls(
        proxy: Any, binary: str, scerts: dict[str, Path],  # noqa: F811
        http_backend: Callable[..., Any]) -> None:
    (port,) = free_ports(1)
    srv = http_backend(name="T", tls=_server_ctx(scerts))
    proxy.start("""
defaults
    mode tcp
    timeout client 5s
    timeout connect 2s
    timeout server 5s
listen t
    bind 127.0.0.1:{port}
    server s 127.0.0.1:{pt} ssl verify required ca-file {ca} sni str(www.b.example)
""", port=port, pt=srv.port, ca=scerts["ca"])
    r = _get(port, "/tcp")
    assert _status(r) == 200 and r.endswith(b"T\n")
    assert srv.tls_info[0]["sni"] == "www.b.example" and srv.requests[0].target == "/tcp"


def test_health_checks_over_tls(
        proxy: Any, binary: str, scerts: dict[str, Path],  # noqa: F811
        http_backend: Callable[..., Any], syslog: Any) -> None:
    """A server with `ssl` is checked over TLS (an HTTP check here: L7OK, the request seen by the
    server in TLS); a connect check with `check-ssl` passes at L6 (L6OK); a certificate with
    another name than `verifyhost` fails at L6 with 2.6's words."""
    (port,) = free_ports(1)
    srv = http_backend(name="H", tls=_server_ctx(scerts))
    proxy.start("""
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option log-health-checks
    timeout client 5s
    timeout connect 2s
    timeout server 5s
backend http
    option httpchk GET /health
    server s 127.0.0.1:{ph} ssl verify required ca-file {ca} verifyhost b.example check inter 300
backend l6
    server s 127.0.0.1:{ph} check-ssl verify none check inter 300
backend bad
    server s 127.0.0.1:{ph} ssl verify required ca-file {ca} verifyhost nope.example check inter 300
frontend fe
    bind 127.0.0.1:{port}
    use_backend %[path,field(2,/)]
""", port=port, logport=syslog[1], ph=srv.port, ca=scerts["ca"])
    log = syslog[0]
    got = {}
    for line in log.lines_with("Health check for server", 3):
        name = line.split("Health check for server ", 1)[1].split(" ", 1)[0]
        got[name] = line.split(", check duration")[0].split(" succeeded, " if " succeeded, " in line
                                                              else " failed, ", 1)[1]
    assert got == {
        "http/s": "reason: Layer7 check passed, code: 200",
        "l6/s": "reason: Layer6 check passed",
        "bad/s": 'reason: Layer6 invalid response, info: "Server presented an SSL certificate different '
                 'from the configured one"',
    }
    health = [r for r in srv.requests if r.target == "/health"]
    assert health and all(i["version"] for i in srv.tls_info)


def test_http2_streams_to_a_tls_server(
        proxy: Any, binary: str, scerts: dict[str, Path],  # noqa: F811
        http_backend: Callable[..., Any], syslog: Any) -> None:
    """HTTP/2 in front (h2c), TLS behind: every stream answered, the server connections shared
    by later streams (http-reuse safe) still in TLS."""
    (port,) = free_ports(1)
    srv = http_backend(name="S2", tls=_server_ctx(scerts))
    proxy.start("""
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} proto h2
    default_backend b
backend b
    server s 127.0.0.1:{ps} ssl verify required ca-file {ca} sni str(b.example)
""", port=port, ps=srv.port, ca=scerts["ca"])
    urls = [f"http://127.0.0.1:{port}/{i}" for i in range(6)]
    # (h2load: curl 7.88 cannot reuse an h2c prior-knowledge connection)
    r = subprocess.run(["h2load", "-c", "1", "-m", "6", "-n", "60", *urls],
                       capture_output=True, text=True, timeout=60, check=False)
    assert "60 succeeded, 0 failed, 0 errored" in r.stdout, r.stdout
    assert "status codes: 60 2xx" in r.stdout, r.stdout
    assert sorted({q.target for q in srv.wait_requests(60)}) == [f"/{i}" for i in range(6)]
    # later streams took idle TLS server connections: fewer handshakes than streams
    assert 0 < len(srv.tls_info) < 60 and all(i["sni"] == "b.example" for i in srv.tls_info)
