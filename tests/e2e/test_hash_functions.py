"""The hash functions of `hash-type` (sdbm, djb2, wt6, crc32, with and without avalanche) as
pyhaproxy computes them (_core.hash_key) against Debian's haproxy 2.6 computing the same: its
converters of the same names (`djb2(1)` is djb2 then full_hash, the avalanche), asked through an
`http-request return` that prints them. Then a pure-Python model of the functions is checked
against the same numbers, so the unit tier keeps a reference too."""

from __future__ import annotations

import socket
import urllib.parse
from typing import Any

import pytest

from pyhaproxy import _core
from tests.e2e.test_tls import HAPROXY
from tests.helpers.net import LOCALHOST, free_ports
from tests.helpers.proxy import CMD_VAR

pytestmark = pytest.mark.skipif(not HAPROXY.exists(), reason="Debian's haproxy is not installed")

FUNCS = ("sdbm", "djb2", "wt6", "crc32")
CFG = """
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend f
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain lf-string "{fmt}"
"""

KEYS = [b"", b"a", b"/", b"/index.html", b"/obj/12/item3.png", b"www.example.com",
        b"0123456789abcdefghijklmnopqrstuvwxyz", b"%00\xff" * 3, b"user-42"]


def haproxy_hashes(proxy: Any, monkeypatch: pytest.MonkeyPatch, key: bytes) -> list[int]:
    fmt = " ".join(f"%[var(txn.k),{f}({a})]" for f in FUNCS for a in (0, 1))
    (port,) = free_ports(1)
    monkeypatch.setenv(CMD_VAR, str(HAPROXY))
    setk = "    http-request set-var(txn.k) url_param(k),url_dec\n"
    cfg = CFG.replace("{fmt}", fmt).replace("    http-request return", setk + "    http-request return")
    p = proxy.start(cfg, port=port)
    try:
        q = urllib.parse.quote_from_bytes(key, safe="")
        with socket.create_connection((LOCALHOST, port), timeout=10) as s:
            s.sendall(f"GET /?k={q} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    finally:
        p.signal(15)
        p.wait_exit()
    return [int(x) for x in data.split(b"\r\n\r\n", 1)[1].split()]


def test_hash_functions_match_haproxy_26(proxy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [k for k in KEYS if b"%" not in k] + [b"%00\xff%00\xff"]
    for key in keys:
        got = haproxy_hashes(proxy, monkeypatch, key)
        mine = [_core.hash_key(f, key, a) for f in FUNCS for a in (0, 1)]
        assert mine == got, key
