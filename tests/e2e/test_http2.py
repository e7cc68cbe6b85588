"""HTTP/2 on the client side: h2c with prior knowledge (`curl --http2-prior-knowledge`, any HTTP
bind, as 2.6), `bind ... proto h2`, and ALPN h2 over TLS (`curl --http2`); `h2load` for many
concurrent streams on one connection; Python's `h2` for what curl cannot send.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy) with
the same configuration and the same expectations: status, body, what the HTTP/1.1 server
receives (Host from :authority, cookies joined, rules applied), the log's request line
("GET http://host/path HTTP/2.0", absolute form as 2.6 logs an HTTP/2 request).
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest

from tests.e2e.test_tls import binary, certs  # noqa: F401  (fixtures: both binaries; test certificates)
from tests.helpers.net import LOCALHOST, free_ports
from tests.helpers.servers import HttpResponse, RecordedRequest

pytestmark = pytest.mark.timeout(120)

CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    bind 127.0.0.1:{ph2} proto h2
    bind 127.0.0.1:{ptls} ssl crt {crt} alpn h2,http/1.1
    http-request set-header X-Proto https if { ssl_fc }
    http-request set-header X-Sni %[ssl_fc_sni] if { ssl_fc }
    http-request return status 202 content-type text/plain string "returned\\n" if { path /ret }
    use_backend bb if { path_beg /b }
    default_backend ba
backend ba
    server a 127.0.0.1:{pa}
backend bb
    cookie SRV insert indirect nocache
    server b1 127.0.0.1:{pb} cookie b1
"""


def curl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "30", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture
def h2px(proxy: Any, binary: str, certs: dict[str, Path], syslog: Any,  # noqa: F811
         http_backend: Callable[..., Any]) -> dict[str, Any]:
    port, ph2, ptls = free_ports(3)
    a = http_backend(name="A")
    b = http_backend(name="B")
    proxy.start(CFG, port=port, ph2=ph2, ptls=ptls, crt=certs["a"], pa=a.port, pb=b.port,
                logport=syslog[1])
    return {"port": port, "ph2": ph2, "ptls": ptls, "a": a, "b": b, "log": syslog[0], "ca": certs["ca"]}


def test_h2c_prior_knowledge_request_as_http11(h2px: dict[str, Any]) -> None:
    port = h2px["port"]
    r = curl("--http2-prior-knowledge", "-H", "Cookie: a=1", "-H", "Cookie: b=2", "-H", "X-Custom: v",
             "-w", "\n%{http_version} %{http_code}", f"http://{LOCALHOST}:{port}/x?y=1")
    assert r.stdout.endswith("\n2 200"), r
    assert r.stdout.startswith("A\n")
    req: RecordedRequest = h2px["a"].wait_requests(1)[0]
    assert (req.method, req.target, req.version) == ("GET", "/x?y=1", "HTTP/1.1")
    assert req.header("host") == f"{LOCALHOST}:{port}"            # from :authority
    assert req.header_values("cookie") == ["a=1; b=2"]               # one field, as HTTP/1.1 wants
    assert req.header("x-custom") == "v"
    assert req.header("x-proto") is None                             # not TLS
    line = h2px["log"].wait_for("/x?y=1")
    assert f'"GET http://{LOCALHOST}:{port}/x?y=1 HTTP/2.0"' in line, line
    assert " fe ba/a " in line and " 200 " in line, line


def test_proto_h2_bind_and_routing_rules_and_return(h2px: dict[str, Any]) -> None:
    ph2 = h2px["ph2"]
    r = curl("--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}", f"http://{LOCALHOST}:{ph2}/b/1")
    assert r.stdout == "B\n\n2 200", r
    r = curl("--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}", f"http://{LOCALHOST}:{ph2}/ret")
    assert r.stdout == "returned\n\n2 202", r
    line = h2px["log"].wait_for("/ret HTTP/2.0")
    assert " fe fe/<NOSRV> " in line, line           # (answered before any backend is chosen)
    assert " 202 " in line and " LR-- " in line, line
    # the same port does not speak HTTP/1.1: `proto h2` has no fallback
    r = curl("--http1.1", f"http://{LOCALHOST}:{ph2}/b/1")
    assert r.returncode != 0


def test_alpn_h2_over_tls_sees_ssl_fetches(h2px: dict[str, Any]) -> None:
    ptls = h2px["ptls"]
    url = f"https://a.example:{ptls}/tls"
    common = ["--cacert", str(h2px["ca"]), "--resolve", f"a.example:{ptls}:{LOCALHOST}"]
    r = curl("--http2", *common, "-w", "\n%{http_version} %{http_code}", url)
    assert r.stdout == "A\n\n2 200", r
    req = h2px["a"].wait_requests(1)[0]
    assert req.header("x-proto") == "https" and req.header("x-sni") == "a.example"
    line = h2px["log"].wait_for("/tls HTTP/2.0")
    assert f'"GET https://a.example:{ptls}/tls HTTP/2.0"' in line and " fe~ " in line, line
    # a client without ALPN h2 still gets HTTP/1.1 on the same port
    r = curl("--http1.1", *common, "-w", "\n%{http_version} %{http_code}", url)
    assert r.stdout == "A\n\n1.1 200", r


def test_many_concurrent_streams_on_one_connection(h2px: dict[str, Any]) -> None:
    port = h2px["port"]
    r = subprocess.run(["h2load", "-c", "1", "-m", "32", "-n", "320",
                        f"http://{LOCALHOST}:{port}/a", f"http://{LOCALHOST}:{port}/b"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert "320 succeeded, 0 failed, 0 errored" in r.stdout, r.stdout
    assert "status codes: 320 2xx" in r.stdout, r.stdout
    got = len(h2px["a"].wait_requests(160)) + len(h2px["b"].wait_requests(160))
    assert got == 320


def test_cookie_inserted_in_each_stream_of_a_connection(h2px: dict[str, Any]) -> None:
    port = h2px["port"]
    got = h2_exchange(port, [_req(port, "/b/c"), _req(port, "/b/d"), _req(port, "/b/e")], headers=True)
    assert len(got) == 3, got
    for kind, status, body, hdrs in got.values():
        assert (kind, status, body) == ("response", "200", b"B\n")
        assert ("set-cookie", "SRV=b1; path=/") in hdrs, hdrs
    assert len(h2px["b"].wait_requests(3)) == 3


def test_ten_mib_request_and_response_bodies(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
                                             syslog: Any, http_backend: Callable[..., Any],
                                             tmp_path: Path) -> None:
    big = hashlib.sha256(b"seed").digest() * (10 * 1024 * 1024 // 32)

    def answer(req: RecordedRequest) -> HttpResponse:
        if req.method == "POST":
            return HttpResponse(body=f"{len(req.body)} {hashlib.sha256(req.body).hexdigest()}\n".encode())
        if req.target == "/chunked":
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 100000]), big[i:i + 100000])
                              for i in range(0, len(big), 100000)) + b"0\r\n\r\n"
            return HttpResponse(headers=[("Transfer-Encoding", "chunked")], body=chunks)
        return HttpResponse(body=big)

    port, ph2, ptls = free_ports(3)
    a = http_backend(name="A", responder=answer)
    b = http_backend(name="B")
    proxy.start(CFG, port=port, ph2=ph2, ptls=ptls, crt=certs["a"], pa=a.port, pb=b.port, logport=syslog[1])
    src = tmp_path / "up.bin"
    src.write_bytes(big)
    want = f"{len(big)} {hashlib.sha256(big).hexdigest()}\n"
    for extra in ([], ["-H", "Transfer-Encoding:"]):
        r = curl("--http2-prior-knowledge", "--data-binary", f"@{src}", *extra, f"http://{LOCALHOST}:{port}/up")
        assert r.stdout == want, r
    tls = ["--http2", "--cacert", str(certs["ca"]), "--resolve", f"a.example:{ptls}:{LOCALHOST}"]
    r = curl(*tls, "--data-binary", f"@{src}", f"https://a.example:{ptls}/up")
    assert r.stdout == want, r
    for path in ("/down", "/chunked"):
        out = tmp_path / "down.bin"
        r = curl("--http2-prior-knowledge", "-o", str(out), "-w", "%{http_version} %{http_code}",
                 f"http://{LOCALHOST}:{port}{path}")
        assert r.stdout == "2 200", r
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(big).digest()
        r = curl(*tls, "-o", str(out), "-w", "%{http_version} %{http_code}", f"https://a.example:{ptls}{path}")
        assert r.stdout == "2 200", r
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(big).digest()


# ---- raw HTTP/2 with Python's h2 (what curl will not send)

def h2_exchange(port: int, streams: list[list[tuple[str, str]]], validate: bool = True,
                headers: bool = False) -> dict[int, Any]:
    """Open one connection, send each header list as a stream (END_STREAM), and collect per
    stream id: ("response", status, body[, headers]) or ("reset", error code); at -1 ("goaway",
    error code) if the connection was ended."""
    cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                    validate_outbound_headers=validate, normalize_outbound_headers=validate)
    conn = h2.connection.H2Connection(config=cfg)
    conn.initiate_connection()
    out: dict[int, Any] = {}
    bodies: dict[int, bytes] = {}
    status: dict[int, str] = {}
    hdrs: dict[int, list[tuple[str, str]]] = {}
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        sids = []
        for fields in streams:
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, fields, end_stream=True)
            sids.append(sid)
        s.sendall(conn.data_to_send())
        while len(out) < len(sids):
            data = s.recv(65536)
            if not data:
                out.setdefault(-1, "closed")
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    status[ev.stream_id] = dict(ev.headers)[":status"]
                    hdrs[ev.stream_id] = list(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] = bodies.get(ev.stream_id, b"") + ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    out[ev.stream_id] = ("response", status.get(ev.stream_id), bodies.get(ev.stream_id, b""))
                    if headers:
                        out[ev.stream_id] += (hdrs.get(ev.stream_id, []),)
                elif isinstance(ev, h2.events.StreamReset):
                    out[ev.stream_id] = ("reset", int(ev.error_code))
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    out[-1] = ("goaway", int(ev.error_code))
                    return out
            s.sendall(conn.data_to_send())
    return out


def _req(port: int, path: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [(":method", "GET"), (":scheme", "http"), (":authority", f"{LOCALHOST}:{port}"), (":path", path),
            *extra]


def test_malformed_streams_are_refused_and_the_connection_goes_on(h2px: dict[str, Any]) -> None:
    port = h2px["port"]
    bad = [
        _req(port, "/bad1", ("X-Upper", "v")),               # upper-case field name
        _req(port, "/bad2", ("connection", "keep-alive")),   # connection-specific field
        [(":method", "GET"), (":scheme", "http"), (":path", "/bad3"), (":bogus", "x")],  # unknown pseudo
        [(":method", "GET"), (":scheme", "http"), (":authority", "x")],                   # no :path
    ]
    got = h2_exchange(port, [*bad, _req(port, "/good")], validate=False)
    assert -1 not in got, got
    sids = sorted(got)
    for sid in sids[:-1]:
        assert got[sid][0] == "reset" or got[sid][1] == "400", (sid, got)
    assert got[sids[-1]] == ("response", "200", b"A\n"), got
    assert all(r.target not in ("/bad1", "/bad2", "/bad3") for r in h2px["a"].requests)
