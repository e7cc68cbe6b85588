"""`http-request early-hint NAME FMT [if|unless COND]`: a `103 Early Hints` answer before the
final one, one per rule (2.6.12 sends them so), the header name in lower case, none to an
HTTP/1.0 client; a format value; the final answer unchanged after them. Over HTTP/2 (h2c with
prior knowledge, Python's `h2`), each is a non-final HEADERS frame with `:status 103`.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(60)

CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request early-hint Link "</style.css>; rel=preload; as=style"
    http-request early-hint Link "</script.js>; rel=preload; as=script" if { path /two }
    http-request set-header X-A 1
    http-request early-hint X-Path "%[path]" if { path /two }
    default_backend web
backend web
    server s 127.0.0.1:{pw}
"""

STYLE = b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n"
SCRIPT = b"HTTP/1.1 103 Early Hints\r\nlink: </script.js>; rel=preload; as=script\r\n\r\n"
PATH = b"HTTP/1.1 103 Early Hints\r\nx-path: /two\r\n\r\n"


def _exchange(port: int, path: str, version: str) -> bytes:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/{version}\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize("path, version, hints", [
    ("/one", "1.1", STYLE),
    ("/two", "1.1", STYLE + SCRIPT + PATH),
    ("/one", "1.0", b""),
], ids=["one-hint", "three-hints", "http10-none"])
def test_early_hints(proxy: Any, binary: str, http_backend: Callable[..., Any],  # noqa: F811
                     path: str, version: str, hints: bytes) -> None:
    (port,) = free_ports(1)
    web = http_backend(name="W")
    web.set_response(body=b"final")
    proxy.start(CFG, port=port, pw=web.port)
    data = _exchange(port, path, version)
    assert data.startswith(hints), data
    final = data[len(hints):]
    assert final.startswith(b"HTTP/1.1 200 ") and final.endswith(b"\r\n\r\nfinal"), data
    (req,) = web.wait_requests(1)
    assert req.header("x-a") == "1"


def _h2_exchange(port: int, path: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """One HTTP/2 stream (prior knowledge): [(kind, headers)] of its informational answers
    ("103") and its final one ("final"), then ("body", [(body, "")])."""
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                                       header_encoding="utf-8"))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":path", path), (":scheme", "http"),
                          (":authority", "x")], end_stream=True)
    out: list[tuple[str, list[tuple[str, str]]]] = []
    body = b""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(conn.data_to_send())
        done = False
        while not done:
            data = s.recv(65536)
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.InformationalResponseReceived):
                    out.append(("103", [(k, v) for k, v in ev.headers if k != ":status"]))
                    assert dict(ev.headers)[":status"] == "103"
                elif isinstance(ev, h2.events.ResponseReceived):
                    out.append(("final", [(k, v) for k, v in ev.headers if k == ":status"]))
                elif isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    done = True
            s.sendall(conn.data_to_send())
    out.append(("body", [(body.decode(), "")]))
    return out


def test_early_hints_over_http2(proxy: Any, binary: str, http_backend: Callable[..., Any]) -> None:  # noqa: F811
    (port,) = free_ports(1)
    web = http_backend(name="W")
    web.set_response(body=b"final")
    proxy.start(CFG, port=port, pw=web.port)
    assert _h2_exchange(port, "/two") == [
        ("103", [("link", "</style.css>; rel=preload; as=style")]),
        ("103", [("link", "</script.js>; rel=preload; as=script")]),
        ("103", [("x-path", "/two")]),
        ("final", [(":status", "200")]),
        ("body", [("final", "")]),
    ]
