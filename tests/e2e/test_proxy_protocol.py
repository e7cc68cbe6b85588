"""The PROXY protocol (issue 19, part 4): `bind ... accept-proxy`, `server ... send-proxy` and
`send-proxy-v2`, between pyhaproxy and Debian's haproxy 2.6 both ways.

- A chain client -> front (send-proxy[-v2]) -> back (accept-proxy) -> HTTP server: the back's log
  line and X-Forwarded-For show the original client (127.0.0.7 here, while both proxies
  connect from 127.0.0.1), for every pairing of pyhaproxy and /usr/sbin/haproxy, v1 and v2.
- The header bytes a `send-proxy` server receives are the same from both binaries (an echo
  server sends them back to the client).
- On an accept-proxy TCP frontend the header's address drives `src` ACLs.
- A hostile set against both binaries: each connection is closed without an answer and logged
  as haproxy 2.6 logs it; afterwards the frontend still serves and holds no session (`scur`).
  One difference is deliberate: pyhaproxy waits for a header that arrives in pieces (the
  specification recommends tolerance) until `timeout client`, so a header sent byte by byte is
  logged "Timeout while waiting...", where 2.6 refuses the first partial read as "Truncated...".
"""

from __future__ import annotations

import http.client
import os
import random
import re
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import free_ports, wait_listening, wait_until
from tests.helpers.proxy import ProxyLauncher, base_command
from tests.helpers.servers import EchoServer, HttpServer
from tests.helpers.syslog import Syslog

pytestmark = pytest.mark.timeout(120)

HOST = "127.0.0.1"
CLIENT = "127.0.0.7"          # the original client: an address no proxy connects from
HAPROXY = Path("/usr/sbin/haproxy")
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
# "ours" is whatever runs the tests (PYHAPROXY_CMD=/usr/sbin/haproxy makes it haproxy too)
OURS = base_command()[0] != str(HAPROXY)
need_haproxy = pytest.mark.skipif(not HAPROXY.exists(), reason="Debian's haproxy is not installed")

Starter = Callable[[str, str], None]


@pytest.fixture
def start(proxy: ProxyLauncher, tmp_path: Path) -> Iterator[Starter]:
    """start(binary, config): "ours" is the proxy under test (python -m pyhaproxy, or
    PYHAPROXY_CMD), "haproxy" is /usr/sbin/haproxy; both are killed by PID in teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def run(binary: str, text: str) -> None:
        if binary == "ours":
            proxy.start(text)
            return
        cfg = proxy.write_config(text)
        out = open(tmp_path / f"{cfg.stem}.haproxy.log", "wb")
        p = subprocess.Popen([str(HAPROXY), "-f", str(cfg), "-db"], stdin=subprocess.DEVNULL,
                             stdout=out, stderr=out, start_new_session=True)
        out.close()
        started.append(p)
        proxy.track_pid(p.pid)
        for port in re.findall(r"bind 127\.0\.0\.1:(\d+)", text):
            wait_listening(HOST, int(port))

    yield run
    for p in started:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(10)


def http_get(port: int, path: str = "/", source: str = CLIENT, header: bytes = b"") -> tuple[int, bytes, int]:
    """One HTTP/1.0 request from `source` (after `header`, raw): (status, whole answer, local port)."""
    with socket.create_connection((HOST, port), timeout=10, source_address=(source, 0)) as s:
        cport = s.getsockname()[1]
        s.sendall(header + f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(m[1]) if m else 0), data, cport


def v1(src: str, dst: str, sport: int, dport: int) -> bytes:
    return f"PROXY TCP4 {src} {dst} {sport} {dport}\r\n".encode()


def v2_tcp4(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport) + tlvs
    return V2_SIG + b"\x21\x11" + struct.pack("!H", len(body)) + body


# ---------------------------------------------------------------- the chain, both ways

CHAIN = """
defaults
    mode http
    timeout client 10s
    timeout server 10s
    timeout connect 5s
frontend front
    bind 127.0.0.1:{fport}
    default_backend to_back
backend to_back
    server back 127.0.0.1:{bport} {send}
"""

BACK = """
global
    stats socket {sock} level admin
defaults
    mode http
    log 127.0.0.1:{logport} local0
    option httplog
    timeout client 10s
    timeout server 10s
    timeout connect 5s
frontend back
    bind 127.0.0.1:{bport} accept-proxy
    option forwardfor
    default_backend web
backend web
    server s1 127.0.0.1:{wport}
"""

PAIRS = [("ours", "ours"), ("haproxy", "ours"), ("ours", "haproxy"), ("haproxy", "haproxy")]


@pytest.mark.parametrize("send", ["send-proxy", "send-proxy-v2", "send-proxy-v2 proxy-v2-options crc32c"])
@pytest.mark.parametrize(("front", "back"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_chain_shows_the_original_client(start: Starter, http_backend: Callable[..., HttpServer],
                                         syslog: tuple[Syslog, int], tmp_path: Path,
                                         front: str, back: str, send: str) -> None:
    if "haproxy" in (front, back) and not HAPROXY.exists():
        pytest.skip("Debian's haproxy is not installed")
    log, logport = syslog
    web = http_backend()
    fport, bport = free_ports(2)
    start(back, BACK.format(logport=logport, bport=bport, wport=web.port, sock=tmp_path / "back.sock"))
    start(front, CHAIN.format(fport=fport, bport=bport, send=send))
    status, _, cport = http_get(fport, "/hello")
    assert status == 200
    (req,) = web.wait_requests(1)
    assert req.header("X-Forwarded-For") == CLIENT
    line = log.line()
    # the back's log: the client the header named, not the front's connection from 127.0.0.1
    want = rf"\]: {re.escape(CLIENT)}:{cport} \[[^\]]+\] back web/s1 .* 200 .*\"GET /hello HTTP/1.0\""
    assert re.search(want, line), line


@pytest.mark.parametrize(("front", "back"), PAIRS[:3], ids=[f"{a}-to-{b}" for a, b in PAIRS[:3]])
def test_kept_alive_server_connection_has_one_header(
        start: Starter, http_backend: Callable[..., HttpServer], syslog: tuple[Syslog, int],
        tmp_path: Path, front: str, back: str) -> None:
    """Three requests of one kept-alive client: the header opens the server connection once;
    sent again before a later request, the back would read it as a (bad) request."""
    if "haproxy" in (front, back) and not HAPROXY.exists():
        pytest.skip("Debian's haproxy is not installed")
    log, logport = syslog
    web = http_backend()
    fport, bport = free_ports(2)
    sock = tmp_path / "back.sock"
    start(back, BACK.format(logport=logport, bport=bport, wport=web.port, sock=sock))
    start(front, CHAIN.format(fport=fport, bport=bport, send="send-proxy-v2"))
    conn = http.client.HTTPConnection(HOST, fport, timeout=10, source_address=(CLIENT, 0))
    try:
        for i in range(3):
            conn.request("GET", f"/k{i}")
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
        cport = conn.sock.getsockname()[1]
    finally:
        conn.close()
    assert [r.target for r in web.wait_requests(3)] == ["/k0", "/k1", "/k2"]
    for i in range(3):
        assert re.search(rf"\]: {re.escape(CLIENT)}:{cport} \[.* 200 .*\"GET /k{i} ", log.line())
    assert stat_frontend(sock, "back")["stot"] == "1"      # one server connection for the three


# ---------------------------------------------------------------- the bytes a server receives

SENDER = """
defaults
    mode tcp
    timeout client 10s
    timeout server 10s
    timeout connect 5s
listen l
    bind 127.0.0.1:{port}
    server echo 127.0.0.1:{eport} {send}
"""


@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
@pytest.mark.parametrize("send", ["send-proxy", "send-proxy-v2", "send-proxy-v2 proxy-v2-options crc32c"])
def test_header_sent_to_the_server(start: Starter, tcp_echo_backend: Callable[..., EchoServer],
                                   binary: str, send: str) -> None:
    """The echo server sends the header back: exactly the bytes haproxy 2.6 writes."""
    echo = tcp_echo_backend()
    (port,) = free_ports(1)
    start(binary, SENDER.format(port=port, eport=echo.port, send=send))
    with socket.create_connection((HOST, port), timeout=10, source_address=(CLIENT, 0)) as s:
        cport = s.getsockname()[1]
        s.sendall(b"ping\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if send == "send-proxy":
        want = v1(CLIENT, HOST, cport, port)
    elif "crc32c" not in send:
        want = v2_tcp4(CLIENT, HOST, cport, port)
    else:
        # the CRC32C TLV (type 3, 4 bytes), computed over the header with the field zeroed
        want = v2_tcp4(CLIENT, HOST, cport, port, b"\x03\x00\x04" + bytes(4))
        want = want[:-4] + struct.pack("!I", crc32c(want))
    assert data == want + b"ping\n"


RELAY = """
defaults
    mode tcp
    timeout client 10s
    timeout server 10s
    timeout connect 5s
listen l
    bind 127.0.0.1:{port} accept-proxy
    server echo 127.0.0.1:{eport} send-proxy-v2 proxy-v2-options authority
"""


@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
def test_authority_is_passed_on(start: Starter, tcp_echo_backend: Callable[..., EchoServer],
                                binary: str) -> None:
    """`proxy-v2-options authority`: the AUTHORITY TLV of the client's header goes on to the
    server, with the header's addresses (other TLVs are not passed on)."""
    echo = tcp_echo_backend()
    (port,) = free_ports(1)
    start(binary, RELAY.format(port=port, eport=echo.port))
    sent = v2_tcp4("192.0.2.7", "198.51.100.1", 5000, 443, b"\x04\x00\x01z\x02\x00\x0bexample.com")
    for header, want in ((sent, v2_tcp4("192.0.2.7", "198.51.100.1", 5000, 443, b"\x02\x00\x0bexample.com")),
                         (v1("192.0.2.7", "198.51.100.1", 5000, 443),
                          v2_tcp4("192.0.2.7", "198.51.100.1", 5000, 443))):
        with socket.create_connection((HOST, port), timeout=10) as s:
            s.sendall(header + b"ping\n")
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert data == want + b"ping\n"


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------- the header's address drives src

SRC_SWITCH = """
defaults
    mode tcp
    timeout client 10s
    timeout server 10s
    timeout connect 5s
frontend f
    bind 127.0.0.1:{port} accept-proxy
    acl from_lan src 10.1.0.0/16
    use_backend lan if from_lan
    default_backend other
backend lan
    server e1 127.0.0.1:{lan}
backend other
    server e2 127.0.0.1:{other}
"""


@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_src_acl_sees_the_header_address(start: Starter, tcp_echo_backend: Callable[..., EchoServer],
                                         binary: str, version: str) -> None:
    lan = tcp_echo_backend(banner=b"lan\n")
    other = tcp_echo_backend(banner=b"other\n")
    (port,) = free_ports(1)
    start(binary, SRC_SWITCH.format(port=port, lan=lan.port, other=other.port))
    make = v1 if version == "v1" else v2_tcp4
    for src, want in (("10.1.2.3", b"lan\n"), ("192.0.2.9", b"other\n")):
        with socket.create_connection((HOST, port), timeout=10) as s:
            s.sendall(make(src, "10.0.0.1", 40000, 443))   # type: ignore[operator]
            # Read the server's banner line without half-closing first: a FIN sent at once races
            # the banner through haproxy 2.6 (it may close both sides before the banner comes).
            data = b""
            while not data.endswith(b"\n") and (chunk := s.recv(65536)):
                data += chunk
        assert data == want


BY_SOURCE = """
defaults
    mode tcp
    timeout client 10s
    timeout server 10s
    timeout connect 5s
listen l
    bind 127.0.0.1:{port} accept-proxy
    balance source
    server a 127.0.0.1:{pa}
    server b 127.0.0.1:{pb}
"""


@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
def test_balance_source_hashes_the_header_address(start: Starter, tcp_echo_backend: Callable[..., EchoServer],
                                                  binary: str) -> None:
    """Every connection comes from 127.0.0.1; only the header's source varies. Each source
    keeps its server, and the sources spread over both (the socket's address would send all
    of them to one)."""
    a = tcp_echo_backend(banner=b"A\n")
    b = tcp_echo_backend(banner=b"B\n")
    (port,) = free_ports(1)
    start(binary, BY_SOURCE.format(port=port, pa=a.port, pb=b.port))
    chosen: dict[str, set[bytes]] = {}
    for last in range(20, 36):
        src = f"10.0.0.{last}"
        for sport in (1000, 2000, 3000):
            with socket.create_connection((HOST, port), timeout=10) as s:
                s.sendall(v1(src, "10.0.0.1", sport, 80))
                got = b""
                while len(got) < 2 and (chunk := s.recv(2 - len(got))):
                    got += chunk
            chosen.setdefault(src, set()).add(got)
    assert all(len(g) == 1 for g in chosen.values()), chosen
    assert set().union(*chosen.values()) == {b"A\n", b"B\n"}


# ---------------------------------------------------------------- the hostile set

HOSTILE = """
global
    stats socket {sock} level admin
defaults
    mode http
    log 127.0.0.1:{logport} local0
    option httplog
    option dontlognull
    timeout client 1s
    timeout server 10s
    timeout connect 5s
frontend f
    bind 127.0.0.1:{port} accept-proxy
    default_backend web
backend web
    server s1 127.0.0.1:{wport}
"""

NOT_HDR = "Received something which does not look like a PROXY protocol header"
BAD_HDR = "Received an invalid PROXY protocol header"
TRUNCATED = "Truncated PROXY protocol header received"
TIMEOUT = "Timeout while waiting for PROXY protocol header"
EMPTY = "Connection closed while waiting for PROXY protocol header"

# name, what is sent (b"" nothing; a list: one piece at a time), close after sending, the log
# line's message (None: none, `option dontlognull` hides a client that sent nothing)
HOSTILE_CASES: list[tuple[str, bytes | list[bytes], bool, dict[str, str | None]]] = [
    ("nothing", b"", False, {"ours": None, "haproxy": None}),
    ("closed-at-once", b"", True, {"ours": None, "haproxy": None}),
    ("bad-signature", b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c" + bytes(12), False,
     {"ours": NOT_HDR, "haproxy": NOT_HDR}),
    ("truncated", V2_SIG + b"\x21\x11\x00\x0c\x7f\x00", True, {"ours": TRUNCATED, "haproxy": TRUNCATED}),
    ("wrong-length", V2_SIG + b"\x21\x11\x00\x04" + bytes(4), False, {"ours": BAD_HDR, "haproxy": BAD_HDR}),
    ("tlv-past-the-end", v2_tcp4("10.0.0.1", "10.0.0.2", 1, 2, b"\x04\x00\x09abc"), False,
     {"ours": BAD_HDR, "haproxy": BAD_HDR}),
    ("v1-over-107-bytes", b"PROXY TCP6 " + b"1" * 120 + b" ::1 1 2\r\nGET / HTTP/1.0\r\n\r\n", False,
     {"ours": BAD_HDR, "haproxy": BAD_HDR}),
    ("plain-http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False, {"ours": NOT_HDR, "haproxy": NOT_HDR}),

    # 2.6 refuses a partial header at once; we wait for the rest, until timeout client (1s)
    ("byte-by-byte", [bytes([c]) for c in v1("10.0.0.1", "10.0.0.2", 1, 2)], False,
     {"ours": TIMEOUT, "haproxy": TRUNCATED}),
]


def stat_frontend(sock: Path, px: str) -> dict[str, str]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(sock))
        s.sendall(b"show stat\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    lines = out.decode().splitlines()
    names = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(names, line.split(","), strict=False))
        if row.get("pxname") == px and row.get("svname") == "FRONTEND":
            return row
    raise AssertionError(f"no FRONTEND row for {px}: {out!r}")


def _one_line(log: Syslog, name: str) -> str:
    try:
        return log.line(timeout=5)
    except AssertionError:
        raise AssertionError(f"{name}: no log line") from None


def send_hostile(port: int, data: bytes | list[bytes], close: bool) -> tuple[int, bytes]:
    """Send, then read until the proxy closes: (our local port, what came back)."""
    s = socket.create_connection((HOST, port), timeout=10)
    cport = s.getsockname()[1]
    got = b""
    try:
        if isinstance(data, list):
            for piece in data:
                s.sendall(piece)
                time.sleep(0.3)       # the pieces outlast `timeout client`: the proxy closes
        elif data:
            s.sendall(data)
        if close:
            s.shutdown(socket.SHUT_WR)
        while chunk := s.recv(65536):
            got += chunk
    except TimeoutError:
        raise
    except OSError:
        pass              # reset (unread bytes at the close), or closed before our shutdown
    finally:
        s.close()
    return cport, got


@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
def test_hostile_headers_are_refused(start: Starter, http_backend: Callable[..., HttpServer],
                                     syslog: tuple[Syslog, int], tmp_path: Path, binary: str) -> None:
    log, logport = syslog
    web = http_backend()
    (port,) = free_ports(1)
    sock = tmp_path / "stats.sock"
    start(binary, HOSTILE.format(port=port, logport=logport, wport=web.port, sock=sock))
    for name, data, close, expected in HOSTILE_CASES:
        cport, got = send_hostile(port, data, close)
        assert got == b"", f"{name}: the proxy answered {got!r}"
        want = expected["ours" if binary == "ours" and OURS else "haproxy"]
        if want is None:
            continue      # (no line: the next case's line must come next, with its own port)
        line = _one_line(log, name)
        m = re.search(r"\]: (\S+):(\d+) \[[^\]]+\] f/1: (.*?)\n?$", line)
        assert m, f"{name}: {line!r}"
        # 2.6 has taken the addresses of a v2 header before it finds a bad TLV, and logs them
        addr = ("10.0.0.1", 1) if name == "tlv-past-the-end" else (HOST, cport)
        assert (m[1], int(m[2]), m[3]) == (*addr, want), f"{name}: {line!r}"
    assert web.request_count() == 0
    # still serving: a valid header, then a request
    for header in (v1("10.9.8.7", "10.0.0.1", 1234, 80), v2_tcp4("10.9.8.7", "10.0.0.1", 1234, 80)):
        status, _, _ = http_get(port, "/ok", source=HOST, header=header)
        assert status == 200
        assert re.search(r"\]: 10\.9\.8\.7:1234 \[.* 200 ", log.line())
    # and no session was left behind by the refused ones, nor counted (stot: the two served)
    wait_until(lambda: stat_frontend(sock, "f")["scur"] == "0", 10, message="frontend scur back to 0")
    assert stat_frontend(sock, "f")["stot"] == "2"



@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
def test_random_headers_leave_the_frontend_serving(start: Starter, http_backend: Callable[..., HttpServer],
                                                   syslog: tuple[Syslog, int], tmp_path: Path,
                                                   binary: str) -> None:
    """300 connections opening with mutated headers (seeded), each closed after sending: the
    frontend still serves afterwards and holds no session."""
    _, logport = syslog
    web = http_backend()
    (port,) = free_ports(1)
    sock = tmp_path / "stats.sock"
    start(binary, HOSTILE.format(port=port, logport=logport, wport=web.port, sock=sock))
    rng = random.Random(19)
    seeds = [v1("10.0.0.1", "10.0.0.2", 1, 2), v2_tcp4("10.0.0.1", "10.0.0.2", 1, 2, b"\x02\x00\x02ab"),
             b"PROXY TCP6 ::1 ::2 1 2\r\n", b"PROXY UNKNOWN\r\n", V2_SIG + b"\x20\x00\x00\x00"]
    for _ in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            what = rng.random()
            pos = rng.randrange(len(data) + 1)
            if what < 0.4 and pos < len(data):
                data[pos] = rng.randrange(256)
            elif what < 0.6:
                del data[pos:pos + rng.randint(1, 8)]
            elif what < 0.8:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            else:
                data = data[:pos]
        data += b"GET / HTTP/1.0\r\n\r\n"
        send_hostile(port, bytes(data), True)
    status, _, _ = http_get(port, "/after", source=HOST, header=v1("10.9.9.9", "10.0.0.1", 9, 80))
    assert status == 200
    wait_until(lambda: stat_frontend(sock, "f")["scur"] == "0", 15, message="frontend scur back to 0")


@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
@pytest.mark.parametrize("dontlognull", [False, True])
def test_silent_clients_and_dontlognull(start: Starter, http_backend: Callable[..., HttpServer],
                                        syslog: tuple[Syslog, int], tmp_path: Path, binary: str,
                                        dontlognull: bool) -> None:
    """A client that sends nothing (then times out, or closes) is logged, unless `option
    dontlognull`; a bad header after them is logged either way (and its line comes next)."""
    log, logport = syslog
    web = http_backend()
    (port,) = free_ports(1)
    cfg = HOSTILE.format(port=port, logport=logport, wport=web.port, sock=tmp_path / "s.sock")
    if not dontlognull:
        cfg = cfg.replace("    option dontlognull\n", "")
    start(binary, cfg)
    cases = [("nothing", b"", False, TIMEOUT), ("closed-at-once", b"", True, EMPTY),
             ("plain-http", b"GET / HTTP/1.0\r\n\r\n", False, NOT_HDR)]
    for name, data, close, message in cases:
        cport, got = send_hostile(port, data, close)
        assert got == b""
        if dontlognull and message != NOT_HDR:
            continue
        line = _one_line(log, name)
        assert re.search(rf"\]: 127\.0\.0\.1:{cport} \[[^\]]+\] f/1: {message}", line), f"{name}: {line!r}"


# ---------------------------------------------------------------- tcp-request connection expect-proxy

EXPECT = """
defaults
    mode http
    log 127.0.0.1:{logport} local0
    option httplog
    timeout client 5s
    timeout server 10s
    timeout connect 5s
frontend f
    bind 127.0.0.1:{port}
    tcp-request connection expect-proxy layer4 if {{ src 127.0.0.7 }}
    default_backend web
backend web
    server s1 127.0.0.1:{wport}
"""


@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
def test_expect_proxy_for_some_sources(start: Starter, http_backend: Callable[..., HttpServer],
                                       syslog: tuple[Syslog, int], binary: str) -> None:
    """Only the connections the condition matches must open with a header."""
    log, logport = syslog
    web = http_backend()
    (port,) = free_ports(1)
    start(binary, EXPECT.format(port=port, logport=logport, wport=web.port))
    status, _, _ = http_get(port, "/a", source=CLIENT, header=v1("10.2.3.4", "10.0.0.1", 5555, 80))
    assert status == 200
    assert re.search(r"\]: 10\.2\.3\.4:5555 \[.* 200 .*\"GET /a ", log.line())
    status, _, cport = http_get(port, "/b", source=HOST)
    assert status == 200
    assert re.search(rf"\]: 127\.0\.0\.1:{cport} \[.* 200 .*\"GET /b ", log.line())
    cport, got = send_hostile_from(CLIENT, port, b"GET /c HTTP/1.0\r\n\r\n")
    assert got == b""
    assert re.search(rf"\]: {re.escape(CLIENT)}:{cport} \[[^\]]+\] f/1: {NOT_HDR}", log.line())
    assert [r.target for r in web.requests] == ["/a", "/b"]


def send_hostile_from(source: str, port: int, data: bytes) -> tuple[int, bytes]:
    s = socket.create_connection((HOST, port), timeout=10, source_address=(source, 0))
    cport = s.getsockname()[1]
    got = b""
    try:
        s.sendall(data)
        while chunk := s.recv(65536):
            got += chunk
    except TimeoutError:
        raise
    except OSError:
        pass
    finally:
        s.close()
    return cport, got


# ---------------------------------------------------------------- IPv6 addresses, headers in pieces

V6_BACK = """
defaults
    mode http
    log 127.0.0.1:{logport} local0
    option httplog
    option forwardfor
    timeout client 5s
    timeout server 10s
    timeout connect 5s
frontend f
    bind 127.0.0.1:{port} accept-proxy
    default_backend web
backend web
    server s1 127.0.0.1:{wport}
"""


@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_ipv6_client_from_the_header(start: Starter, http_backend: Callable[..., HttpServer],
                                     syslog: tuple[Syslog, int], binary: str, version: str) -> None:
    log, logport = syslog
    web = http_backend()
    (port,) = free_ports(1)
    start(binary, V6_BACK.format(port=port, logport=logport, wport=web.port))
    if version == "v1":
        header = b"PROXY TCP6 2001:db8::17 2001:db8::1 40001 443\r\n"
    else:
        body = (socket.inet_pton(socket.AF_INET6, "2001:db8::17")
                + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
                + struct.pack("!HH", 40001, 443) + b"\x05\x00\x03abc")      # a UNIQUE_ID TLV, ignored
        header = V2_SIG + b"\x21\x21" + struct.pack("!H", len(body)) + body
    status, _, _ = http_get(port, "/v6", source=HOST, header=header)
    assert status == 200
    (req,) = web.wait_requests(1)
    assert req.header("X-Forwarded-For") == "2001:db8::17"
    assert re.search(r"\]: 2001:db8::17:40001 \[.* 200 ", log.line())


@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
@pytest.mark.parametrize("header", [b"PROXY UNKNOWN\r\n", V2_SIG + b"\x20\x00\x00\x00"],
                         ids=["v1-unknown", "v2-local"])
def test_header_without_addresses_keeps_the_socket_address(
        start: Starter, http_backend: Callable[..., HttpServer], syslog: tuple[Syslog, int],
        binary: str, header: bytes) -> None:
    log, logport = syslog
    web = http_backend()
    (port,) = free_ports(1)
    start(binary, V6_BACK.format(port=port, logport=logport, wport=web.port))
    status, _, cport = http_get(port, "/x", source=CLIENT, header=header)
    assert status == 200
    assert re.search(rf"\]: {re.escape(CLIENT)}:{cport} \[.* 200 ", log.line())


@pytest.mark.skipif(not OURS, reason="haproxy 2.6 refuses a header that does not come in one read")
def test_header_in_two_pieces_is_awaited(start: Starter, http_backend: Callable[..., HttpServer],
                                         syslog: tuple[Syslog, int]) -> None:
    """pyhaproxy waits for the rest of a header (within `timeout client`), as the specification
    recommends; the client address is the header's once it is complete."""
    log, logport = syslog
    web = http_backend()
    (port,) = free_ports(1)
    start("ours", V6_BACK.format(port=port, logport=logport, wport=web.port))
    header = v2_tcp4("10.4.4.4", "10.0.0.1", 4444, 80)
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(header[:10])
        time.sleep(0.3)
        s.sendall(header[10:] + b"GET /p HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.")
    assert re.search(r"\]: 10\.4\.4\.4:4444 \[.* 200 ", log.line())


# ---------------------------------------------------------------- health checks

CHECKS = """
defaults
    mode tcp
    timeout client 5s
    timeout server 5s
    timeout connect 5s
listen l
    bind 127.0.0.1:{port}
    server s1 127.0.0.1:{sport} {opts} check inter 300
"""


@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
@pytest.mark.parametrize("opts", ["send-proxy", "send-proxy-v2", "check-send-proxy",
                                  "send-proxy-v2 check-send-proxy"])
def test_check_send_proxy(start: Starter, binary: str, opts: str) -> None:
    """A check opens with the header: v2 a LOCAL command, v1 the check connection's addresses."""
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((HOST, 0))
    lst.listen(8)
    lst.settimeout(15)
    sport = lst.getsockname()[1]
    (port,) = free_ports(1)
    try:
        start(binary, CHECKS.format(port=port, sport=sport, opts=opts))
        conn, peer = lst.accept()
        with conn:
            conn.settimeout(10)
            data = b""
            while len(data) < 16 and (chunk := conn.recv(256)):
                data += chunk
                if data.startswith(b"PROXY") and b"\r\n" in data:
                    break
    finally:
        lst.close()
    if "v2" in opts:
        assert data == V2_SIG + b"\x20\x00\x00\x00"
    else:
        assert data == v1(peer[0], HOST, peer[1], sport)


# ---------------------------------------------------------------- the header's addresses in log-format

LOGFORMAT = """
defaults
    mode http
    log 127.0.0.1:{logport} local0
    timeout client 5s
    timeout server 10s
    timeout connect 5s
frontend f
    bind 127.0.0.1:{port} accept-proxy
    log-format pp\\ %ci:%cp\\ %fi:%fp\\ %[src]\\ %[src_port]\\ %[dst]\\ %[dst_port]
    default_backend web
backend web
    server s1 127.0.0.1:{wport}
"""


@pytest.mark.parametrize("binary", ["ours", pytest.param("haproxy", marks=need_haproxy)])
def test_log_format_and_samples_see_the_header(start: Starter, http_backend: Callable[..., HttpServer],
                                               syslog: tuple[Syslog, int], binary: str) -> None:
    log, logport = syslog
    web = http_backend()
    (port,) = free_ports(1)
    start(binary, LOGFORMAT.format(port=port, logport=logport, wport=web.port))
    status, _, _ = http_get(port, "/", source=HOST, header=v1("10.1.1.1", "10.2.2.2", 1111, 8443))
    assert status == 200
    line = log.line()
    assert line.rstrip("\n").endswith(": pp 10.1.1.1:1111 10.2.2.2:8443 10.1.1.1 1111 10.2.2.2 8443"), line
