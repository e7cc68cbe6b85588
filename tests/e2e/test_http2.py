"""HTTP/2 on the client side: h2c with prior knowledge (`curl --http2-prior-knowledge`, any HTTP
bind, as 2.6), `bind ... proto h2`, and ALPN h2 over TLS (`curl --http2`); `h2load` for many
concurrent streams on one connection; Python's `h2` for what curl cannot send.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy) with
the same configuration and the same expectations: status, body, what the HTTP/1.1 server
receives (Host from :authority, cookies joined, rules applied), the log's request line
("GET http://host/path HTTP/2.0", absolute form as 2.6 logs an HTTP/2 request).
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import hpack
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
    # idle server connections serve later streams (`http-reuse safe`): far fewer than one each
    assert h2px["a"].accepted + h2px["b"].accepted <= 80, (h2px["a"].accepted, h2px["b"].accepted)


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


def _load_until_reloaded(port: int, reload: Callable[[], None], reloaded: Callable[[], bool],
                         deadline: float) -> dict[str, int]:
    """Batches of 4 concurrent streams on a connection, a new connection after each GOAWAY or
    close; `reload()` once 40 answers came, then go on until `reloaded()` and 40 more. A stream
    is failed if it was reset or lost although the GOAWAY's last stream id covered it (a stream
    above it was never processed: the client retries it, as RFC 9113 6.8 allows)."""
    stats = {"ok": 0, "failed": 0, "retried": 0, "connections": 0}
    reloaded_at = -1
    while time.monotonic() < deadline:
        stats["connections"] += 1
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        with socket.create_connection((LOCALHOST, port), timeout=10) as s:
            ended = False
            while not ended and time.monotonic() < deadline:
                if 0 <= reloaded_at < 10**9 and stats["ok"] >= reloaded_at + 40:
                    return stats
                sids = []
                for _ in range(4):
                    sid = conn.get_next_available_stream_id()
                    conn.send_headers(sid, _req(port, f"/r{sid}"), end_stream=True)
                    sids.append(sid)
                s.sendall(conn.data_to_send())
                done: dict[int, str] = {}
                last = 2**31 - 1
                buf = b""
                while len(done) < len(sids):
                    data = s.recv(65536)
                    if not data:
                        ended = True
                        break
                    # frames are read here (Python's h2 stops at a GOAWAY, the streams it
                    # covers still answer after it); h2 only acknowledges SETTINGS and PINGs
                    buf += data
                    while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
                        n, ftype, flags = int.from_bytes(buf[:3], "big"), buf[3], buf[4]
                        sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                        payload, buf = buf[9:9 + n], buf[9 + n:]
                        if ftype in (0, 1) and flags & 1:
                            done[sid] = "ok"
                        elif ftype == 3:
                            done[sid] = "reset"
                        elif ftype == 7:
                            ended = True
                            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                    if conn.state_machine.state != h2.connection.ConnectionState.CLOSED:
                        # (acknowledgements only) Python's h2 closes at a GOAWAY and refuses the
                        # frames that follow it in the same read: the streams' answers
                        with contextlib.suppress(h2.exceptions.ProtocolError):
                            conn.receive_data(data)
                        with contextlib.suppress(OSError):
                            s.sendall(conn.data_to_send())
                    if ended and all(sid in done or sid > last for sid in sids):
                        break
                for sid in sids:
                    if done.get(sid) == "ok":
                        stats["ok"] += 1
                    elif sid > last:
                        stats["retried"] += 1
                    else:
                        stats["failed"] += 1
                if reloaded_at < 0 and stats["ok"] >= 40:
                    reload()
                    reloaded_at = 10**9
                if reloaded_at == 10**9 and reloaded():
                    reloaded_at = stats["ok"]
    raise AssertionError(f"no end in time: {stats}")


def test_goaway_on_reload_loses_no_stream(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
                                          syslog: Any, http_backend: Callable[..., Any]) -> None:
    port, ph2, ptls = free_ports(3)
    a = http_backend(name="A", response=HttpResponse(body=b"A\n", delay=0.01))
    b = http_backend(name="B")
    px = proxy.start(CFG, port=port, ph2=ph2, ptls=ptls, crt=certs["a"], pa=a.port, pb=b.port,
                     logport=syslog[1], extra_args=["-W"])
    old = set(px.worker_pids())
    stats = _load_until_reloaded(
        port, lambda: px.signal(signal.SIGUSR2),
        lambda: bool(set(px.worker_pids())) and not (set(px.worker_pids()) & old),
        time.monotonic() + 60)
    assert stats["failed"] == 0, stats
    assert stats["connections"] >= 2, stats        # the GOAWAY moved the client to a new connection


# ---- hostile input: each is answered, the worker survives and serves the next client

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def block(port: int, path: str, *extra: tuple[str, str]) -> bytes:
    return bytes(hpack.Encoder().encode(_req(port, path, *extra)))


def read_frames(s: socket.socket, seconds: float) -> tuple[list[tuple[int, int, int, bytes]], bool]:
    """Frames the proxy sends within `seconds` (type, flags, stream, payload), and whether it
    closed the connection."""
    s.settimeout(0.2)
    buf = b""
    closed = False
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = s.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            closed = True
            break
        if not data:
            closed = True
            break
        buf += data
    frames = []
    while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
        n = int.from_bytes(buf[:3], "big")
        frames.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]))
        buf = buf[9 + n:]
    return frames, closed


def still_serves(port: int) -> None:
    got = h2_exchange(port, [_req(port, "/after")])
    assert list(got.values()) == [("response", "200", b"A\n")], got


def send_all(s: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):      # the proxy may cut the connection while it is sent
        s.sendall(data)


def test_rapid_reset_and_ping_and_settings_floods(h2px: dict[str, Any]) -> None:
    port = h2px["port"]
    hb = block(port, "/rr")
    # CVE-2023-44487: streams opened and reset at once, in a loop
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        burst = PREFACE + frame(4, 0, 0)
        for i in range(2000):
            sid = 2 * i + 1
            burst += frame(1, 0x5, sid, hb) + frame(3, 0, sid, (8).to_bytes(4, "big"))
        send_all(s, burst)
        read_frames(s, 1.0)
    still_serves(port)
    # PING and SETTINGS floods from a client that reads nothing
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        send_all(s, PREFACE + frame(4, 0, 0) + frame(6, 0, 0, b"12345678") * 50000)
        send_all(s, frame(4, 0, 0) * 20000)
    still_serves(port)


def test_continuation_flood_and_hpack_bomb(h2px: dict[str, Any]) -> None:
    port = h2px["port"]
    # CVE-2024-27316 class: one header block that never ends, in CONTINUATION frames
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        junk = bytes(hpack.Encoder().encode([("x-junk", "j" * 4000)]))
        opening = PREFACE + frame(4, 0, 0) + frame(1, 0, 1, block(port, "/cf"))
        send_all(s, opening + frame(9, 0, 1, junk) * 1000)
        frames, closed = read_frames(s, 2.0)
        assert closed or any(f[0] == 7 for f in frames), frames     # GOAWAY or closed
    still_serves(port)
    # an HPACK bomb: one 4 KB value in the dynamic table, then referenced 2,000 times (8 MB)
    enc = hpack.Encoder()
    first = bytes(enc.encode(_req(port, "/hb", ("x-big", "b" * 4000))))
    refs = b"\xbe" * 2000          # indexed field 62: the newest dynamic entry, x-big
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        send_all(s, PREFACE + frame(4, 0, 0) + frame(1, 0x5, 1, first + refs))
        frames, closed = read_frames(s, 2.0)
    refused = closed or any(f[0] in (3, 7) for f in frames) or any(
        f[0] == 1 and f[2] == 1 for f in frames)      # reset, GOAWAY, or an error status
    assert refused, frames
    assert all(r.target != "/hb" for r in h2px["a"].requests)
    still_serves(port)


def test_content_length_disagreeing_with_data_is_refused(h2px: dict[str, Any]) -> None:
    port = h2px["port"]
    hb = bytes(hpack.Encoder().encode(
        [(":method", "POST"), (":scheme", "http"), (":authority", f"{LOCALHOST}:{port}"), (":path", "/cl"),
         ("content-length", "10")]))
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        send_all(s, PREFACE + frame(4, 0, 0) + frame(1, 0x4, 1, hb) + frame(0, 0x1, 1, b"short"))
        frames, _closed = read_frames(s, 1.5)
    assert any(f[0] in (3, 7) and (f[2] in (0, 1)) for f in frames), frames   # RST_STREAM or GOAWAY
    assert not any(r.target == "/cl" and len(r.body) == 10 for r in h2px["a"].requests)
    still_serves(port)


SLOW_CFG = """
defaults
    mode http
    timeout client 1s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend ba
backend ba
    server a 127.0.0.1:{pa}
"""


def test_a_window_held_at_zero_meets_timeout_client(proxy: Any, binary: str,  # noqa: F811
                                                    http_backend: Callable[..., Any]) -> None:
    (port,) = free_ports(1)
    a = http_backend(name="A", response=HttpResponse(body=b"z" * (4 << 20)))
    proxy.start(SLOW_CFG, port=port, pa=a.port)
    settings = (4).to_bytes(2, "big") + (0).to_bytes(4, "big")      # SETTINGS_INITIAL_WINDOW_SIZE = 0
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        send_all(s, PREFACE + frame(4, 0, 0, settings) + frame(1, 0x5, 1, block(port, "/slow")))
        frames, closed = read_frames(s, 8.0)       # (bounded: 1 s timeouts, 8 s to see it)
    assert closed or any(f[0] == 7 for f in frames), frames      # the connection was ended...
    assert not any(f[0] == 0 and f[3] for f in frames)          # ...without a byte of the body
    still_serves_slow = h2_exchange(port, [_req(port, "/after")])
    assert len(still_serves_slow) == 1 and list(still_serves_slow.values())[0][1] == "200"


def test_trailers_both_ways(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
                            syslog: Any, http_backend: Callable[..., Any]) -> None:
    """A chunked answer's trailer fields reach the HTTP/2 client as a trailing HEADERS frame;
    an HTTP/2 request's trailers reach the server in the last chunk of a chunked body."""
    def answer(req: RecordedRequest) -> HttpResponse:
        return HttpResponse(headers=[("Transfer-Encoding", "chunked")],
                            body=b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 2\r\n\r\n")

    port, ph2, ptls = free_ports(3)
    a = http_backend(name="A", responder=answer)
    b = http_backend(name="B")
    proxy.start(CFG, port=port, ph2=ph2, ptls=ptls, crt=certs["a"], pa=a.port, pb=b.port, logport=syslog[1])
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                                       header_encoding="utf-8"))
    conn.initiate_connection()
    trailers: list[tuple[str, str]] = []
    body = b""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        conn.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":authority", f"{LOCALHOST}:{port}"),
                              (":path", "/t"), ("te", "trailers")])
        conn.send_data(1, b"payload")
        conn.send_headers(1, [("x-req-sum", "42")], end_stream=True)
        s.sendall(conn.data_to_send())
        ended = False
        while not ended:
            data = s.recv(65536)
            assert data, "closed before the end of the stream"
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    trailers = list(ev.headers)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    ended = True
            s.sendall(conn.data_to_send())
    assert body == b"hello"
    assert ("x-checksum", "abc") in trailers and ("x-other", "2") in trailers, trailers
    req = a.wait_requests(1)[0]
    assert req.body == b"payload"
    assert b"x-req-sum: 42\r\n" in req.raw.lower(), req.raw
