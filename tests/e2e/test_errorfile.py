"""End-to-end tests of custom error answers: `errorfile`, `errorloc`, `errorloc302`, `errorloc303`.

An errorfile's bytes are sent exactly as they are in the file (it holds the status line and
headers itself); errorloc answers a redirect to the URL instead of the error (HAProxy 1.x manual,
section 4.6). Codes without a custom answer keep HAProxy's built-in page. Real sockets against a
real `python -m pyhaproxy -f CFG -db`.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.helpers import free_port, recv_until_closed
from tests.helpers.pages import builtin_page

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
TIMEOUTS = """
    contimeout 2000
    clitimeout 30000
    srvtimeout 30000
    retries 1"""
DEBIAN_503 = Path("/etc/haproxy/errors/503.http")
ERR_502 = builtin_page(502)
ERR_503 = builtin_page(503)


def one_shot(port: int, data: bytes = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") -> bytes:
    """Send a request on a new connection; everything the proxy sends until it closes (the
    client asks to close: a page with a content-length would keep a keep-alive client)."""
    with socket.create_connection((HOST, port), timeout=20) as s:
        s.sendall(data)
        return recv_until_closed(s, timeout=20)


def page_503(tmp_path: Path) -> tuple[Path, bytes]:
    """A 503 errorfile: Debian's copy when installed, else one of the same shape."""
    if DEBIAN_503.exists():
        data = DEBIAN_503.read_bytes()
    else:
        data = (b"HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\n"
                b"Connection: close\r\nContent-Type: text/html\r\n\r\n"
                b"<html><body><h1>503 Service Unavailable</h1>\nSorry.\n</body></html>\n\n")
    path = tmp_path / "503.http"
    path.write_bytes(data)
    return path, data


def dead_port() -> int:
    """A port where nothing listens: every connection to it is refused."""
    return free_port()


def test_errorfile_503_sent_as_is_when_no_server_is_available(proxy, tmp_path: Path) -> None:
    path, data = page_503(tmp_path)
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        server dead {host}:{dead}
        errorfile 503 {path}
    """ + TIMEOUTS, host=HOST, port=port, dead=dead_port(), path=path)
    assert one_shot(port) == data


def test_errorfile_byte_exact_even_without_crlf(proxy, tmp_path: Path) -> None:
    """The file is not interpreted: LF line ends and odd content go out unchanged."""
    path = tmp_path / "custom.http"
    data = b"HTTP/1.0 503 Busy\nX-Custom: yes\n\nplease retry \x01\xff later"
    path.write_bytes(data)
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        server dead {host}:{dead}
        errorfile 503 {path}
    """ + TIMEOUTS, host=HOST, port=port, dead=dead_port(), path=path)
    assert one_shot(port) == data
    assert one_shot(port) == data, "the same page for every error"


def test_errorloc_answers_302_with_location(proxy) -> None:
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        server dead {host}:{dead}
        errorloc 503 http://example/
    """ + TIMEOUTS, host=HOST, port=port, dead=dead_port())
    assert one_shot(port) == (b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\n"
                              b"location: http://example/\r\nconnection: close\r\n\r\n")


def test_errorloc_keeps_a_keep_alive_client_and_a_raw_errorfile_closes(proxy, tmp_path: Path) -> None:
    """errorloc's answer has a content-length: the client stays, as after a built-in page (2.6);
    a 1.x errorfile (`Connection: close`, no length) goes out as it is and the connection ends."""
    p_loc, p_file = free_port(), free_port()
    path, data = page_503(tmp_path)
    proxy.start("""
    listen loc {host}:{p_loc}
        mode http
        server dead {host}:{dead}
        errorloc 503 http://example/
    listen file {host}:{p_file}
        mode http
        server dead {host}:{dead}
        errorfile 503 {path}
    """ + TIMEOUTS, host=HOST, p_loc=p_loc, p_file=p_file, dead=dead_port(), path=path)
    page = (b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\n"
            b"location: http://example/\r\n\r\n")
    with socket.create_connection((HOST, p_loc), timeout=20) as s:
        for _ in range(2):
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while len(got) < len(page):
                chunk = s.recv(65536)
                assert chunk, "the connection was closed after an errorloc answer"
                got += chunk
            assert got == page
    assert one_shot(p_file, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == data


def test_errorloc302_and_errorloc303(proxy) -> None:
    p302, p303 = free_port(), free_port()
    dead = dead_port()
    proxy.start("""
    listen a {host}:{p302}
        mode http
        server dead {host}:{dead}
        errorloc302 503 /sorry.html
    """ + TIMEOUTS + """
    listen b {host}:{p303}
        mode http
        server dead {host}:{dead}
        errorloc303 503 http://status.example.com/down
    """ + TIMEOUTS, host=HOST, p302=p302, p303=p303, dead=dead)
    # 2.6's bytes, `connection: close` added (we close after any error answer)
    assert one_shot(p302) == (b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\n"
                              b"location: /sorry.html\r\nconnection: close\r\n\r\n")
    assert one_shot(p303) == (b"HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-length: 0\r\n"
                              b"location: http://status.example.com/down\r\nconnection: close\r\n\r\n")


def test_custom_pages_per_code_and_per_proxy(proxy, http_backend, tmp_path: Path) -> None:
    """errorfile 403 serves denied requests, 400 bad ones; other codes and proxies keep the
    built-in pages."""
    be = http_backend(name="A")
    f403 = tmp_path / "403.http"
    f403.write_bytes(b"HTTP/1.0 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nGo away.\n")
    f400 = tmp_path / "400.http"
    f400.write_bytes(b"HTTP/1.0 400 Bad request\r\nContent-Type: text/plain\r\n\r\nBad.\n")
    port, other = free_port(), free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        server A {host}:{pa}
        errorfile 403 {f403}
        errorfile 400 {f400}
        reqdeny ^GET\\ /admin
    """ + TIMEOUTS + """
    listen other {host}:{other}
        mode http
        server dead {host}:{dead}
        errorfile 403 {f403}
    """ + TIMEOUTS, host=HOST, port=port, other=other, pa=be.port, f403=f403, f400=f400,
                dead=dead_port())
    assert one_shot(port, b"GET /admin HTTP/1.1\r\nHost: x\r\n\r\n") == f403.read_bytes()
    assert one_shot(port, b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n") == f400.read_bytes()
    assert one_shot(other) == ERR_503
    assert be.request_count() == 0


def test_defaults_errorloc_is_inherited_and_errorfile_overrides(proxy, tmp_path: Path) -> None:
    path, data = page_503(tmp_path)
    p1, p2 = free_port(), free_port()
    dead = dead_port()
    proxy.start("""
    defaults
        mode http
        errorloc 503 http://fallback.example/
    """ + TIMEOUTS + """
    listen one {host}:{p1}
        server dead {host}:{dead}
    listen two {host}:{p2}
        server dead {host}:{dead}
        errorfile 503 {path}
    """, host=HOST, p1=p1, p2=p2, dead=dead, path=path)
    assert one_shot(p1).startswith(b"HTTP/1.1 302 Found\r\n")
    assert b"location: http://fallback.example/\r\n" in one_shot(p1)
    assert one_shot(p2) == data


def test_errorfile_502_for_rspdeny(proxy, http_backend, tmp_path: Path) -> None:
    be = http_backend(name="A")
    f502 = tmp_path / "502.http"
    f502.write_bytes(b"HTTP/1.0 502 Bad Gateway\r\nContent-Type: text/plain\r\n\r\nUpstream failed.\n")
    port = free_port()
    proxy.start("""
    listen web {host}:{port}
        mode http
        server A {host}:{pa}
        rspdeny ^X-Server:
        errorfile 502 {f502}
    """ + TIMEOUTS, host=HOST, port=port, pa=be.port, f502=f502)
    assert one_shot(port) == f502.read_bytes()
    assert ERR_502 != f502.read_bytes()
