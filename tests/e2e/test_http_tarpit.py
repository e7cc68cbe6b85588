"""`http-request tarpit [deny_status N] [if COND]`: the request is held `timeout tarpit`, never
reaches a server, then gets the error page of its status (500 by default), and the log line says
so. Differential: the same configuration and expectations against /usr/sbin/haproxy (the `binary`
fixture). Timing is only checked from below (the hold happened), never as a speed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture: pyhaproxy, then haproxy)
from tests.helpers.net import LOCALHOST, free_ports
from tests.helpers.pages import page_body

pytestmark = pytest.mark.timeout(60)

CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout connect 5s
    timeout server 5s
    timeout tarpit 1s
frontend fe
    bind 127.0.0.1:{port}
    http-request tarpit deny_status 429 if {{ path /login }}
    http-request tarpit if {{ path /admin }}
    default_backend app
backend app
    server web1 127.0.0.1:{pb}
"""


def ask(port: int, path: str) -> tuple[bytes, float]:
    t0 = time.monotonic()
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data, time.monotonic() - t0


def test_tarpit_holds_then_answers_its_status(proxy: Any, binary: str,  # noqa: F811
                                              http_backend: Callable[..., Any], syslog: Any) -> None:
    (port,) = free_ports(1)
    app = http_backend(name="APP")
    log, logport = syslog
    proxy.start(CFG.replace("{{", "{").replace("}}", "}"), port=port, pb=app.port, logport=logport)
    for path, status, reason in (("/login", 429, "Too Many Requests"),
                                 ("/admin", 500, "Internal Server Error")):
        data, held = ask(port, path)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.split(b"\r\n")[0] == f"HTTP/1.1 {status} {reason}".encode()
        assert body == page_body(status)
        assert held >= 0.9          # the hold happened (timeout tarpit 1s)
        (line,) = log.lines(1)
        after = line.split(" fe fe/<NOSRV> ")[1].split()
        assert after[1] == str(status) and after[5] == "PT--", line
        assert after[6] == "1/1/0/0/0", line
        timers = after[0].split("/")
        assert timers[0] == "-1" and timers[2:4] == ["-1", "-1"] and int(timers[1]) >= 900, line
    data, _ = ask(port, "/")
    assert data.startswith(b"HTTP/1.1 200")
    assert [r.head.split(b" ")[1] for r in app.requests] == [b"/"]   # no tarpitted request got through
