"""Malformed and request-smuggling requests against pyhaproxy's HTTP mode.

Each request of the table must get HAProxy's 400 page (414 for an over-long request line), must
not reach the backend at all (no connection, no bytes), and must not hurt the worker: right after
it, a valid request through the same proxy works and the worker's pid is unchanged.

One proxy and one recording backend serve the whole table (module fixture, killed by PID).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import HttpServer, ProxyLauncher, ProxyProcess, free_port, recv_until_closed
from tests.helpers.pages import builtin_page, page_head

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"

PAGE_400 = builtin_page(400)
HEAD_414 = page_head(414)

H = b"Host: test\r\n"


def post_chunked(body: bytes) -> bytes:
    return b"POST /c HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" + body


def with_header(line: bytes, method: bytes = b"GET", body: bytes = b"") -> bytes:
    return method + b" /h HTTP/1.1\r\n" + H + line + b"\r\n\r\n" + body


CASES: dict[str, tuple[bytes, int]] = {
    # --- Transfer-Encoding (TE with Content-Length, or in HTTP/1.0, is accepted as 2.6 does and
    #     closes the connection: tests/e2e/test_transfer_encoding_26.py) ---
    "te_xchunked": (with_header(b"Transfer-Encoding: xchunked", b"POST", b"0\r\n\r\n"), 400),
    "te_space_before_colon": (with_header(b"Transfer-Encoding : chunked", b"POST", b"0\r\n\r\n"), 400),
    "te_chunked_not_last": (with_header(b"Transfer-Encoding: chunked, gzip", b"POST", b"0\r\n\r\n"), 400),
    "te_chunked_twice": (with_header(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
                                     b"POST", b"0\r\n\r\n"), 400),
    "te_quoted": (with_header(b'Transfer-Encoding: "chunked"', b"POST", b"0\r\n\r\n"), 400),
    "te_vertical_tab": (with_header(b"Transfer-Encoding:\x0bchunked", b"POST", b"0\r\n\r\n"), 400),
    "te_obs_fold": (with_header(b"Transfer-Encoding:\r\n chunked", b"POST", b"0\r\n\r\n"), 400),
    "te_nul": (with_header(b"Transfer-Encoding: chunked\x00", b"POST", b"0\r\n\r\n"), 400),
    # --- Content-Length values ---
    "cl_duplicate_differing": (with_header(b"Content-Length: 5\r\nContent-Length: 6", b"POST",
                                           b"hello!"), 400),
    "cl_list_differing": (with_header(b"Content-Length: 5, 6", b"POST", b"hello!"), 400),
    "cl_negative": (with_header(b"Content-Length: -1", b"POST"), 400),
    "cl_plus_sign": (with_header(b"Content-Length: +5", b"POST", b"hello"), 400),
    "cl_hex": (with_header(b"Content-Length: 0x5", b"POST", b"hello"), 400),
    "cl_inner_space": (with_header(b"Content-Length: 1 0", b"POST", b"0123456789"), 400),
    "cl_overflow": (with_header(b"Content-Length: 184467440737095516160", b"POST", b"x"), 400),
    "cl_empty": (with_header(b"Content-Length: ", b"POST"), 400),
    # --- header syntax ---
    "obs_fold": (with_header(b"X-Foo: a\r\n  b"), 400),
    "bare_cr_in_value": (with_header(b"X-Foo: a\rb"), 400),
    "bare_cr_line_end": (b"GET / HTTP/1.1\r" + H + b"\r\n", 400),
    "nul_in_name": (with_header(b"X-F\x00oo: a"), 400),
    "nul_in_value": (with_header(b"X-Foo: a\x00b"), 400),
    "ctl_in_value": (with_header(b"X-Foo: a\x01b"), 400),
    "del_in_name": (with_header(b"X-F\x7foo: a"), 400),
    "space_before_colon": (b"GET / HTTP/1.1\r\nHost : test\r\n\r\n", 400),
    "space_in_name": (with_header(b"X Foo: a"), 400),
    "empty_name": (with_header(b": value"), 400),
    "no_colon": (with_header(b"NoColonHere"), 400),
    "leading_ws_first_header": (b"GET / HTTP/1.1\r\n X-Foo: a\r\n" + H + b"\r\n", 400),
    # --- request line ---
    "bad_method_token": (b"G(T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    "method_with_ctl": (b"GE\x01T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    "bad_version_letter": (b"GET / HTTP/1.A\r\n" + H + b"\r\n", 400),
    "bad_version_proto": (b"GET / HTTPS/1.1\r\n" + H + b"\r\n", 400),
    "bad_version_case": (b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    "bad_version_digits": (b"GET / HTTP/11.1\r\n" + H + b"\r\n", 400),
    "http09": (b"GET /\r\n\r\n", 400),
    "double_space_target": (b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    "space_in_target": (b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    "ctl_in_target": (b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
    "request_line_too_long": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    # --- sizes ---
    "too_many_headers": (b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-H%d: v\r\n" % i for i in range(200))
                         + b"\r\n", 400),
    "headers_over_8k": (with_header(b"X-Big: " + b"b" * 9000), 400),
    "headers_over_8k_split": (with_header(b"\r\n".join(b"X-Big%d: " % i + b"b" * 3000
                                                      for i in range(3))), 400),
    # --- chunked body framing ---
    "bad_chunk_size": (post_chunked(b"zz\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk_size_overflow": (post_chunked(b"FFFFFFFFFFFFFFFFFFFF1\r\nx\r\n0\r\n\r\n"), 400),
    "chunk_size_negative": (post_chunked(b"-1\r\nx\r\n0\r\n\r\n"), 400),
    "chunk_missing_crlf": (post_chunked(b"5\r\nhelloXX0\r\n\r\n"), 400),
    "chunk_size_bare_lf": (post_chunked(b"5\nhello\r\n0\r\n\r\n"), 400),
    "chunk_size_empty": (post_chunked(b"\r\nhello\r\n0\r\n\r\n"), 400),
}

VALID = b"GET /ok HTTP/1.0\r\nHost: test\r\n\r\n"


@dataclass
class Farm:
    px: ProxyProcess
    port: int
    backend: HttpServer
    worker_pids: list[int]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    backend = HttpServer(HOST, 0, "victim")
    backend.start()
    launcher = ProxyLauncher(tmp_path_factory.mktemp("malformed"))
    try:
        port = free_port()
        px = launcher.start("""
        listen web {host}:{port}
            mode http
            balance roundrobin
            option forwardfor
            server victim {host}:{bport}
            contimeout 5000
            clitimeout 5000
            srvtimeout 5000
        """, host=HOST, port=port, bport=backend.port)
        yield Farm(px, port, backend, px.worker_pids())
    finally:
        launcher.cleanup()
        backend.stop()


def send_raw(port: int, data: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=15) as s:
        s.sendall(data)
        return recv_until_closed(s, timeout=15)


def check_still_serving(farm: Farm) -> None:
    """A valid request works; it is the only thing the backend ever saw; same worker pids."""
    assert farm.px.alive(), f"the proxy died\n{farm.px.output_text()}"
    assert farm.px.worker_pids() == farm.worker_pids, "a worker was replaced"
    answer = send_raw(farm.port, VALID)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
    reqs = farm.backend.wait_requests(1)
    assert [r.target for r in reqs] == ["/ok"], f"the backend saw {[r.raw[:200] for r in reqs]}"
    assert farm.backend.accepted == 1, "a connection reached the backend for the bad request"


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_request_is_refused(farm: Farm, name: str) -> None:
    data, code = CASES[name]
    farm.backend.reset()
    answer = send_raw(farm.port, data)
    if code == 400:
        assert answer == PAGE_400, f"{name}: got {answer[:300]!r}"
    else:
        assert answer.startswith(HEAD_414) and answer.endswith(b"</body></html>\n"), (
            f"{name}: got {answer[:300]!r}")
    check_still_serving(farm)


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_split_bad_request_is_refused(farm: Farm) -> None:
    """A bad Transfer-Encoding request, sent one byte at a time: still refused before any connect."""
    data = CASES["te_chunked_not_last"][0]
    farm.backend.reset()
    with socket.create_connection((HOST, farm.port), timeout=15) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head_len = data.index(b"\r\n\r\n") + 4
        for i in range(head_len):
            s.sendall(data[i:i + 1])
        try:
            s.sendall(data[head_len:])
        except OSError:
            pass  # the proxy may already have answered and closed
        assert recv_until_closed(s, timeout=15) == PAGE_400
    check_still_serving(farm)


def test_large_but_valid_headers_pass(farm: Farm) -> None:
    """Control: 7 KiB of headers and 100 headers are fine (the limits are not too tight)."""
    farm.backend.reset()
    big = b"GET /big HTTP/1.0\r\n" + H + b"X-Big: " + b"b" * 7000 + b"\r\n\r\n"
    assert send_raw(farm.port, big).startswith(b"HTTP/1.1 200 OK\r\n")
    many = b"GET /many HTTP/1.0\r\n" + H + b"".join(b"X-H%d: v\r\n" % i for i in range(90)) + b"\r\n"
    assert send_raw(farm.port, many).startswith(b"HTTP/1.1 200 OK\r\n")
    reqs = farm.backend.wait_requests(2)
    assert [r.target for r in reqs] == ["/big", "/many"]
    assert reqs[0].header("X-Big") == "b" * 7000
