"""2.x error pages, against pyhaproxy and /usr/sbin/haproxy (2.6): the `http-errors` section and
`errorfiles NAME [CODE...]` (declared before or after it), `http-error status CODE ...` (string,
file, errorfile, errorfiles, default-errorfiles, headers), `errorfile` for every status 2.6 can
generate (429 of a deny, 404, 200 of monitor-uri...), the last line for a status winning with the
defaults' lines first; answers compared byte for byte between the two binaries.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports
from tests.helpers.net import LOCALHOST


def _page(status: int, text: str) -> str:
    return (f"HTTP/1.1 {status} Custom\r\ncontent-type: text/plain\r\ncontent-length: {len(text)}\r\n"
            f"\r\n{text}")


CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
    retries 0
    errorfiles site 503
    errorfile 404 {d}/404-defaults.http
frontend fe
    bind 127.0.0.1:{port}
    monitor-uri /alive
    errorfile 200 {d}/200.http
    http-request deny deny_status 429 if { path /limited }
    http-request deny deny_status 404 if { path /gone }
    http-request deny if { path /forbidden }
    use_backend b_files if { path_beg /files }
    use_backend b_error if { path_beg /error }
    use_backend b_default if { path_beg /default }
    default_backend b_plain
backend b_plain
    server s1 127.0.0.1:{dead}
backend b_files
    errorfiles site
    server s1 127.0.0.1:{dead}
backend b_error
    http-error status 503 content-type text/plain string "down for now" hdr X-Why maintenance
    errorfiles site 403
    server s1 127.0.0.1:{dead}
backend b_default
    http-error status 503 default-errorfiles
    server s1 127.0.0.1:{dead}
http-errors site
    errorfile 503 {d}/503-site.http
    errorfile 403 {d}/403-site.http
"""


def _get(port: int, path: str) -> bytes:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def _length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n")[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":")[1])
    return 0


def test_error_pages(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    for name, status, text in (("404-defaults", 404, "d404"), ("200", 200, "alive"),
                               ("503-site", 503, "site503"), ("403-site", 403, "site403")):
        (tmp_path / f"{name}.http").write_text(_page(status, text))
    port, dead = free_ports(2)
    proxy.start(CFG, port=port, dead=dead, d=tmp_path)
    # the defaults' errorfiles (a section further down) and errorfile
    assert _get(port, "/x").startswith(_page(503, "site503").encode())
    assert _get(port, "/gone").startswith(_page(404, "d404").encode())
    # monitor-uri's 200 and a 429 without a page of its own: 2.6's built-in one
    assert _get(port, "/alive").startswith(_page(200, "alive").encode())
    limited = _get(port, "/limited")
    assert limited.startswith(b"HTTP/1.1 429 Too Many Requests\r\n"), limited
    # the frontend's 403 (a deny) comes from the frontend's pages: the built-in one
    assert _get(port, "/forbidden").startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert _get(port, "/files").startswith(_page(503, "site503").encode())
    assert _get(port, "/error") == (b"HTTP/1.1 503 Service Unavailable\r\nx-why: maintenance\r\n"
                                    b"content-length: 12\r\ncontent-type: text/plain\r\n\r\ndown for now")
    # default-errorfiles in a backend: the frontend's page (here the defaults' errorfiles)
    assert _get(port, "/default").startswith(_page(503, "site503").encode())


def test_error_page_refusals(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    head = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
    cases = {
        "frontend fe\n    bind 127.0.0.1:80\n    errorfiles nosuch\n":
            "proxy 'fe': unknown http-errors section 'nosuch' (at {cfg}:8).",
        "frontend fe\n    bind 127.0.0.1:80\n    errorfiles e 409\nhttp-errors e\n":
            "parsing [{cfg}:8] : errorfiles : status code '409' not handled.",
        "frontend fe\n    bind 127.0.0.1:80\n    http-error status 503 string oops\n":
            "parsing [{cfg}:8] : http-error : a content type must be defined when non-empty payload is "
            "configured",
        "frontend fe\n    bind 127.0.0.1:80\n    http-error status 999 content-type t/p string x\n":
            "parsing [{cfg}:8] : http-error : Unexpected status code '999'",
        "http-errors e\n    errorfile 503 /nonexistent/503.http\n":
            "parsing [{cfg}:7] : errorfile : error opening file '/nonexistent/503.http'.",
        "http-errors e\n    errorfile 509 /nonexistent/503.http\n":
            "parsing [{cfg}:7] : errorfile : status code '509' not handled.",
    }
    cfg = tmp_path / "e.cfg"
    for body, message in cases.items():
        out = proxy.refuses(cfg, head + body)
        assert message.format(cfg=cfg) in out, (body, out)
