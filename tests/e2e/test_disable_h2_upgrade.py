"""`option disable-h2-upgrade` (2.6, 4.2), and `option http-no-delay`, against pyhaproxy and
/usr/sbin/haproxy (2.6): without the option a clear-text connection that starts with HTTP/2's
preface speaks HTTP/2; with it the preface is an HTTP/1 request, refused with a 400 and a close.
(2.6 answers it with its stream-level 400 page, header names in lower case; pyhaproxy with its
parser's, which is 2.6's for other malformed requests: only the status is compared.)
`option http-no-delay` is what pyhaproxy always does (TCP_NODELAY, no MSG_MORE): accepted.
"""

from __future__ import annotations

import socket
import subprocess
from typing import Any

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports
from tests.helpers.net import LOCALHOST

CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend off
    bind 127.0.0.1:{p1}
    option disable-h2-upgrade
    option http-no-delay
    http-request return status 200 content-type text/plain string ok
frontend on
    bind 127.0.0.1:{p2}
    http-request return status 200 content-type text/plain string ok
"""


def _curl_h2(port: int) -> str:
    r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                        "%{http_code} %{http_version}", f"http://127.0.0.1:{port}/"],
                       capture_output=True, text=True, timeout=20)
    return r.stdout


def test_disable_h2_upgrade(proxy: Any, binary: str) -> None:  # noqa: F811
    p1, p2 = free_ports(2)
    proxy.start(CFG, p1=p1, p2=p2)
    assert _curl_h2(p2) == "200 2"
    with socket.create_connection((LOCALHOST, p1), timeout=10) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 Bad request\r\n"), data[:100]
    # (HTTP/1 still works there)
    with socket.create_connection((LOCALHOST, p1), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
