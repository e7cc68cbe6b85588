"""End-to-end tests of `option checkcache` and `option abortonclose` (HAProxy 1.2 manual).

checkcache: a response that sets a cookie and that a shared cache could store (status 200, 203,
206, 300, 301 or 410, or `Cache-control: public`; not with `private`, `no-cache`, `no-store`,
`max-age=0`, `s-maxage=0`, `Pragma: no-cache`; `no-cache="set-cookie"` protects the cookie) is
refused with the 502 page and logged `PH--`, so that one user's session cookie never reaches
another through a cache.

abortonclose: a client that closes while its server connection is still being established
ends the session at once (`CC--`) instead of leaving a connection to finish and be dropped.
"""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import pytest

from tests.e2e.test_logging import httplog
from tests.helpers import HttpResponse, free_port, recv_until_closed, wait_until

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"


def get(port: int) -> bytes:
    with socket.create_connection((HOST, port), timeout=15) as c:
        c.sendall(b"GET /page HTTP/1.0\r\nHost: t\r\n\r\n")
        return recv_until_closed(c, timeout=15)


def start_checkcache(proxy, be_port: int, lport: int, checkcache: bool = True) -> tuple[int, Any]:
    port = free_port()
    h = proxy.start(f"""
    listen web {HOST}:{port}
        mode http
        {"option checkcache" if checkcache else ""}
        option httplog
        log {HOST}:{lport} local0
        contimeout 3000
        clitimeout 30000
        srvtimeout 30000
        server s1 {HOST}:{be_port}
    """)
    return port, h


BLOCKED = [
    ("200 without cache headers", 200, []),
    ("301", 301, []),
    ("410", 410, []),
    ("404 made public", 404, [("Cache-Control", "public")]),
    ("private then public", 200, [("Cache-Control", "private, public")]),
]
PASSED = [
    ("302 is not cacheable", 302, []),
    ("404 is not cacheable", 404, []),
    ("private", 200, [("Cache-Control", "private")]),
    ("no-cache", 200, [("cache-control", "No-Cache")]),
    ("no-store", 200, [("Cache-Control", "no-store, max-age=10")]),
    ("max-age=0", 200, [("Cache-Control", "max-age=0")]),
    ("s-maxage=0", 200, [("Cache-Control", "s-maxage=0")]),
    ("pragma", 200, [("Pragma", "no-cache")]),
    ("cookie protected", 200, [("Cache-Control", 'no-cache="set-cookie"')]),
]


@pytest.mark.parametrize("what,status,headers", BLOCKED, ids=[c[0] for c in BLOCKED])
def test_checkcache_blocks_a_cacheable_cookie(proxy, http_backend, syslog, what, status, headers) -> None:
    rx, lport = syslog
    be = http_backend(response=HttpResponse(status=status, body=b"secret\n",
                                            headers=[("Set-Cookie", "JSESSIONID=42"), *headers]))
    port, h = start_checkcache(proxy, be.port, lport)
    answer = get(port)
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), answer[:200]
    assert b"JSESSIONID" not in answer and b"secret" not in answer
    m = httplog(rx.line())
    assert m["status"] == "502" and m["term"].startswith("PH"), m.string
    # HAProxy's alert, on stderr (not quiet) and to syslog at level alert.
    alert = "Blocking cacheable cookie in response from instance web, server s1."
    wait_until(lambda: alert in h.stderr_text(), 10, message="alert on stderr")
    assert re.search(r"\[ALERT\] \d{3}/\d{6} \(\d+\) : " + re.escape(alert), h.stderr_text())


@pytest.mark.parametrize("what,status,headers", PASSED, ids=[c[0] for c in PASSED])
def test_checkcache_lets_uncacheable_cookies_through(proxy, http_backend, syslog, what, status,
                                                     headers) -> None:
    rx, lport = syslog
    be = http_backend(response=HttpResponse(status=status, body=b"secret\n",
                                            headers=[("Set-Cookie", "JSESSIONID=42"), *headers]))
    port, h = start_checkcache(proxy, be.port, lport)
    answer = get(port)
    assert answer.startswith(b"HTTP/1.1 %d" % status), answer[:200]
    assert b"Set-Cookie: JSESSIONID=42\r\n" in answer
    m = httplog(rx.line())
    assert m["status"] == str(status) and m["term"] == "----"


def test_cacheable_response_without_cookie_passes(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(response=HttpResponse(status=200, body=b"public page\n"))
    port, h = start_checkcache(proxy, be.port, lport)
    assert get(port).startswith(b"HTTP/1.1 200")


def test_without_checkcache_the_cookie_passes(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(response=HttpResponse(status=200, headers=[("Set-Cookie", "JSESSIONID=42")]))
    port, h = start_checkcache(proxy, be.port, lport, checkcache=False)
    answer = get(port)
    assert answer.startswith(b"HTTP/1.1 200") and b"JSESSIONID=42" in answer


class Unreachable:
    """A loopback port whose accept queue is full: a connect() to it stays in progress."""

    def __init__(self) -> None:
        self.lsock = socket.socket()
        self.lsock.bind((HOST, 0))
        self.lsock.listen(0)
        self.port = self.lsock.getsockname()[1]
        self.fillers = []
        for _ in range(3):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex((HOST, self.port))
            self.fillers.append(f)

    def close(self) -> None:
        for f in self.fillers:
            f.close()
        self.lsock.close()


@pytest.mark.parametrize("abortonclose,pause", [(True, 0.0), (True, 0.4), (False, 0.0)])
def test_abortonclose_ends_a_connecting_session(proxy, syslog, abortonclose: bool, pause: float) -> None:
    """pause 0: the client's FIN comes with its request, before the connect starts; pause 0.4: it
    comes while the connect is in progress."""
    rx, lport = syslog
    srv = Unreachable()
    try:
        port = free_port()
        proxy.start(f"""
        listen web {HOST}:{port}
            mode http
            {"option abortonclose" if abortonclose else ""}
            option httplog
            log {HOST}:{lport} local0
            contimeout 2000
            clitimeout 30000
            srvtimeout 30000
            retries 0
            server s1 {HOST}:{srv.port}
        """)
        with socket.create_connection((HOST, port), timeout=10) as c:
            c.sendall(b"GET /slow HTTP/1.0\r\nHost: t\r\n\r\n")
            time.sleep(pause)
            c.shutdown(socket.SHUT_WR)          # the client gives up while the connect hangs
            answer = recv_until_closed(c, timeout=15)
        m = httplog(rx.line(timeout=15))
        if abortonclose:
            assert answer == b"", (answer[:40], m.string)
            assert m["term"].startswith("CC"), m.string
        else:
            # The connection attempt runs to contimeout and the 503 page goes to the client.
            assert answer.startswith(b"HTTP/1.1 503"), answer[:100]
            assert m["term"].startswith("sC"), m.string
    finally:
        srv.close()
