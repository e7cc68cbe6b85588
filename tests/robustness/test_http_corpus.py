"""The hostile HTTP corpus (tests/robustness/corpus.py) against a real pyhaproxy.

Requests: each case gets its documented answer, the recording backend sees exactly the valid
requests of the case and nothing else (a refused request does not even open a server connection),
and the worker lives: same worker pids, and a valid request is served right after.

Responses: a raw-socket backend answers each case's bytes verbatim; the client gets the 502 page
(or, when the headers were valid, the headers and then a closed connection), and the worker lives.

Differential: the same requests through Debian's haproxy 2.6 (/usr/sbin/haproxy) with the same kind
of recording backend; every request 2.6 refuses must be refused by pyhaproxy too (pyhaproxy may be
stricter, never more lenient).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import HttpServer, ProxyLauncher, ProxyProcess, TcpServer, free_port, wait_listening
from tests.helpers.net import recv_until_closed
from tests.helpers.pages import builtin_page, page_head

from .common import HOST, PAGE_400, send_raw, status_of, workers_of
from .corpus import REQUEST_CASES, RESPONSE_CASES, ReqCase, RspCase

pytestmark = pytest.mark.timeout(120)

PAGE_502 = builtin_page(502)
HEAD_414 = page_head(414)
VALID = b"GET /alive HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
HAPROXY26 = "/usr/sbin/haproxy"

CONFIG = """
listen web {host}:{port}
    mode http
    balance roundrobin
    option forwardfor
    server victim {host}:{bport}
    contimeout 5000
    clitimeout 5000
    srvtimeout 5000
    timeout http-keep-alive 300
listen hostile {host}:{hport}
    mode http
    server evil {host}:{eport}
    contimeout 5000
    clitimeout 5000
    srvtimeout 5000
    timeout http-keep-alive 300
"""


class HostileServer(TcpServer):
    """Reads one request head, answers the bytes of the RspCase named by its path, then closes."""

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        conn.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                return
            head += chunk
        target = head.split(b" ", 2)[1].decode()
        case = RSP_BY_NAME[target.rsplit("/", 1)[-1]]
        if case.data:
            conn.sendall(case.data)
        if not case.hold:
            conn.shutdown(socket.SHUT_WR)
        recv_until_closed(conn, timeout=10)


RSP_BY_NAME = {c.name: c for c in RESPONSE_CASES}


class _CountingSocket:
    """A socket whose received byte count goes to its server (every other call is passed on)."""

    def __init__(self, sock: socket.socket, server: CountingHttpServer) -> None:
        self._sock = sock
        self._server = server

    def recv(self, n: int) -> bytes:
        data = self._sock.recv(n)
        with self._server.lock:
            self._server.received_bytes += len(data)
        return data

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


class CountingHttpServer(HttpServer):
    """The recording HTTP server, also counting every byte received, so that bytes forwarded
    outside any complete request (a smuggled tail, junk) show up: they are not in `requests`."""

    received_bytes = 0

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        super().handle(_CountingSocket(conn, self), peer)  # type: ignore[arg-type]

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.received_bytes = 0

    def stray_bytes(self) -> int:
        """Bytes received that belong to no recorded request."""
        with self.lock:
            return self.received_bytes - sum(len(r.raw) for r in self.requests)


@dataclass
class Farm:
    px: ProxyProcess
    port: int
    hport: int
    backend: CountingHttpServer
    worker_pids: list[int]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    backend = CountingHttpServer(HOST, 0, "victim")
    backend.start()
    evil = HostileServer(HOST, 0, "evil")
    evil.start()
    launcher = ProxyLauncher(tmp_path_factory.mktemp("corpus"))
    try:
        port, hport = free_port(), free_port()
        px = launcher.start(CONFIG, host=HOST, port=port, bport=backend.port, hport=hport, eport=evil.port)
        yield Farm(px, port, hport, backend, workers_of(px))
    finally:
        launcher.cleanup()
        backend.stop()
        evil.stop()


def assert_worker_lives(farm: Farm) -> None:
    """Same master and worker pids, and a valid request is served."""
    assert farm.px.alive(), f"the proxy died\n{farm.px.output_text()}"
    assert farm.px.worker_pids() == farm.worker_pids, "a worker was replaced"
    farm.backend.reset()
    answer = send_raw(farm.port, VALID)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
    assert [r.target for r in farm.backend.wait_requests(1)] == ["/alive"]


def split_answers(answer: bytes) -> list[int | None]:
    """Statuses of the successive answers in a byte stream (proxy pages and backend responses)."""
    out: list[int | None] = []
    rest = answer
    while rest:
        out.append(status_of(rest))
        head_end = rest.find(b"\r\n\r\n")
        if head_end < 0:
            break
        head = rest[:head_end].lower()
        body_start = head_end + 4
        length = None
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length is None:       # a proxy page: delimited by the close
            break
        rest = rest[body_start + length:]
    return out


def check_request_case(farm: Farm, case: ReqCase) -> list[str]:
    """Run one request case; return the list of failures (empty when the proxy got it right)."""
    failures: list[str] = []
    farm.backend.reset()
    start = time.monotonic()
    answer = send_raw(farm.port, case.data)
    if time.monotonic() - start > 3:
        failures.append(f"answered after {time.monotonic() - start:.1f}s (a timeout, not the analysis)")
    wire_status = 400 if case.status in (501, 505) else case.status
    statuses = split_answers(answer)
    if not statuses or statuses[0] != wire_status:
        failures.append(f"answer {answer[:120]!r}, want status {wire_status}")
    if case.status == 400 and answer != PAGE_400:
        failures.append(f"not HAProxy's 400 page: {answer[:200]!r}")
    if case.status == 414 and not answer.startswith(HEAD_414):
        failures.append(f"not the 414 page: {answer[:200]!r}")
    if case.name == "bad_request_after_good" and statuses != [200, 400]:
        failures.append(f"want a 200 then a 400, got {statuses}")
    if case.forwarded:
        try:
            farm.backend.wait_requests(len(case.forwarded), timeout=5)
        except AssertionError:
            pass
    time.sleep(0.05)    # anything wrongly forwarded would have arrived by now
    seen = [r.target for r in farm.backend.requests]
    if tuple(seen) != case.forwarded:
        failures.append(f"the backend saw {seen}, want {list(case.forwarded)}")
    if not case.forwarded and farm.backend.accepted:
        failures.append("a connection reached the backend for a refused request")
    if farm.backend.stray_bytes():
        failures.append(f"{farm.backend.stray_bytes()} bytes reached the backend outside valid requests")
    return failures


@pytest.mark.parametrize("case", REQUEST_CASES, ids=[c.name for c in REQUEST_CASES])
def test_hostile_request(farm: Farm, case: ReqCase) -> None:
    failures = check_request_case(farm, case)
    assert not failures, f"{case.name} ({case.family}): " + "; ".join(failures)
    assert_worker_lives(farm)


def test_request_corpus_size() -> None:
    assert len(REQUEST_CASES) >= 60
    assert len({c.name for c in REQUEST_CASES}) == len(REQUEST_CASES)
    assert sum(1 for c in REQUEST_CASES if not c.forwarded) >= 60


@pytest.mark.parametrize("case", REQUEST_CASES[:12], ids=[c.name for c in REQUEST_CASES[:12]])
def test_hostile_request_byte_by_byte(farm: Farm, case: ReqCase) -> None:
    """The smuggling cases again, one byte per segment: the answer does not depend on the split
    (the ones 2.6 accepts, Transfer-Encoding with Content-Length, are answered and closed)."""
    farm.backend.reset()
    with socket.create_connection((HOST, farm.port), timeout=15) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for i in range(len(case.data)):
                s.sendall(case.data[i:i + 1])
        except OSError:
            pass    # answered and closed before the end: fine
        answer = recv_until_closed(s, timeout=15)
    if case.forwarded:
        assert answer.startswith(b"HTTP/1.1 200 ") and b"\r\nconnection: close\r\n" in answer.lower(), answer
        assert tuple(r.target for r in farm.backend.wait_requests(len(case.forwarded))) == case.forwarded
        assert not farm.backend.stray_bytes()
    else:
        assert answer == PAGE_400, answer[:200]
        assert farm.backend.accepted == 0
    assert_worker_lives(farm)


def check_response_case(farm: Farm, case: RspCase) -> list[str]:
    failures: list[str] = []
    start = time.monotonic()
    # (Connection: close: the answer ends with the connection, whatever haproxy makes of it)
    answer = send_raw(farm.hport, b"GET /rsp/" + case.name.encode()
                      + b" HTTP/1.1\r\nHost: evil\r\nConnection: close\r\n\r\n")
    if time.monotonic() - start > 3:
        failures.append(f"answered after {time.monotonic() - start:.1f}s (a timeout, not the analysis)")
    if case.status == 502:
        if answer != PAGE_502:
            failures.append(f"want the 502 page, got {answer[:200]!r}")
    else:
        head_end = answer.find(b"\r\n\r\n")
        if status_of(answer) != case.status or head_end < 0:
            failures.append(f"want the {case.status} headers, got {answer[:200]!r}")
        elif case.cut:
            sent_body = case.data[case.data.index(b"\r\n\r\n") + 4:]
            body = answer[head_end + 4:]
            if body != sent_body:
                failures.append(f"want the partial body {sent_body!r} then a close, got {body!r}")
    return failures


@pytest.mark.parametrize("case", RESPONSE_CASES, ids=[c.name for c in RESPONSE_CASES])
def test_hostile_response(farm: Farm, case: RspCase) -> None:
    failures = check_response_case(farm, case)
    assert not failures, f"{case.name}: " + "; ".join(failures)
    assert_worker_lives(farm)


# ---------------------------------------------------------------------------------------------
# differential: haproxy 2.6 refuses => pyhaproxy refuses

HAPROXY26_CONFIG = """
global
    maxconn 200
defaults
    mode http
    timeout connect 2s
    timeout client 2s
    timeout server 1s
    timeout http-keep-alive 300
listen web
    bind {host}:{port}
    server victim {host}:{bport}
"""


def haproxy26_outcomes(tmp_path: Path, cases: list[ReqCase]) -> dict[str, tuple[int | None, tuple[str, ...]]]:
    """(first status, targets forwarded) of each case through haproxy 2.6."""
    backend = HttpServer(HOST, 0, "victim26")
    backend.start()
    port = free_port()
    cfg = tmp_path / "haproxy26.cfg"
    cfg.write_text(HAPROXY26_CONFIG.format(host=HOST, port=port, bport=backend.port))
    proc = subprocess.Popen([HAPROXY26, "-f", str(cfg), "-db"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    out: dict[str, tuple[int | None, tuple[str, ...]]] = {}
    try:
        wait_listening(HOST, port, timeout=10)
        for case in cases:
            backend.reset()
            answer = send_raw(port, case.data)
            time.sleep(0.05)
            out[case.name] = (status_of(answer), tuple(r.target for r in backend.requests))
    finally:
        proc.kill()
        proc.wait(10)
        backend.stop()
    return out


@pytest.mark.skipif(not os.access(HAPROXY26, os.X_OK) or shutil.which("true") is None,
                    reason="Debian's haproxy is not installed at /usr/sbin/haproxy")
def test_never_more_lenient_than_haproxy26(farm: Farm, tmp_path: Path) -> None:
    theirs = haproxy26_outcomes(tmp_path, REQUEST_CASES)
    lenient = []
    for case in REQUEST_CASES:
        status26, fwd26 = theirs[case.name]
        if fwd26 == ():
            farm.backend.reset()
            send_raw(farm.port, case.data)
            time.sleep(0.05)
            if farm.backend.accepted or farm.backend.requests:
                lenient.append(f"{case.name}: haproxy 2.6 answered {status26} and forwarded nothing")
    assert not lenient, "\n".join(lenient)
    assert_worker_lives(farm)
