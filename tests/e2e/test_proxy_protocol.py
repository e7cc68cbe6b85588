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

import os
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
    start(back, BACK.format(logport=logport, bport=bport, wport=web.port))
    start(front, CHAIN.format(fport=fport, bport=bport, send=send))
    status, _, cport = http_get(fport, "/hello")
    assert status == 200
    (req,) = web.wait_requests(1)
    assert req.header("X-Forwarded-For") == CLIENT
    line = log.line()
    # the back's log: the client the header named, not the front's connection from 127.0.0.1
    want = rf"\]: {re.escape(CLIENT)}:{cport} \[[^\]]+\] back web/s1 .* 200 .*\"GET /hello HTTP/1.0\""
    assert re.search(want, line), line


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
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert data == want


# ---------------------------------------------------------------- the hostile set

HOSTILE = """
global
    stats socket {sock} level admin
defaults
    mode http
    log 127.0.0.1:{logport} local0
    option httplog
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

# name, what is sent (b"" nothing; a list: one piece at a time), close after sending, expected
HOSTILE_CASES: list[tuple[str, bytes | list[bytes], bool, dict[str, str]]] = [
    ("bad-signature", b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c" + bytes(12), False,
     {"ours": NOT_HDR, "haproxy": NOT_HDR}),
    ("truncated", V2_SIG + b"\x21\x11\x00\x0c\x7f\x00", True, {"ours": TRUNCATED, "haproxy": TRUNCATED}),
    ("wrong-length", V2_SIG + b"\x21\x11\x00\x04" + bytes(4), False, {"ours": BAD_HDR, "haproxy": BAD_HDR}),
    ("tlv-past-the-end", v2_tcp4("10.0.0.1", "10.0.0.2", 1, 2, b"\x04\x00\x09abc"), False,
     {"ours": BAD_HDR, "haproxy": BAD_HDR}),
    ("v1-over-107-bytes", b"PROXY TCP6 " + b"1" * 120 + b" ::1 1 2\r\nGET / HTTP/1.0\r\n\r\n", False,
     {"ours": BAD_HDR, "haproxy": BAD_HDR}),
    ("plain-http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False, {"ours": NOT_HDR, "haproxy": NOT_HDR}),
    ("nothing", b"", False, {"ours": TIMEOUT, "haproxy": TIMEOUT}),
    # 2.6 refuses a partial header at once; we wait for the rest, until timeout client (1s)
    ("byte-by-byte", [bytes([c]) for c in v1("10.0.0.1", "10.0.0.2", 1, 2)], False,
     {"ours": TIMEOUT, "haproxy": TRUNCATED}),
]


def stat_scur(sock: Path, px: str) -> int:
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
            return int(row["scur"])
    raise AssertionError(f"no FRONTEND row for {px}: {out!r}")


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
    except (ConnectionResetError, BrokenPipeError):
        pass
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
        line = log.line()
        m = re.search(r"\]: (\S+):(\d+) \[[^\]]+\] f/1: (.*?)\n?$", line)
        assert m, f"{name}: {line!r}"
        want = expected["ours" if binary == "ours" and OURS else "haproxy"]
        # 2.6 has taken the addresses of a v2 header before it finds a bad TLV, and logs them
        addr = ("10.0.0.1", 1) if name == "tlv-past-the-end" else (HOST, cport)
        assert (m[1], int(m[2]), m[3]) == (*addr, want), f"{name}: {line!r}"
    assert web.request_count() == 0
    # still serving: a valid header, then a request
    for header in (v1("10.9.8.7", "10.0.0.1", 1234, 80), v2_tcp4("10.9.8.7", "10.0.0.1", 1234, 80)):
        status, _, _ = http_get(port, "/ok", source=HOST, header=header)
        assert status == 200
        assert re.search(r"\]: 10\.9\.8\.7:1234 \[.* 200 ", log.line())
    # and no session was left behind by the refused ones
    wait_until(lambda: stat_scur(sock, "f") == 0, 10, message="frontend scur back to 0")

