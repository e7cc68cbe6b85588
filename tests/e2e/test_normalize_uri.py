"""`http-request normalize-uri` (experimental in 2.6: the global `expose-experimental-directives`
allows it): each normalizer on the examples of 2.6's configuration manual (and a few more), the
target the server receives compared; `strict` answers 400 to a bad %-sequence.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(60)

NORMALIZERS = ["fragment-encode", "fragment-strip", "path-merge-slashes", "path-strip-dot",
               "path-strip-dotdot", "path-strip-dotdot full", "percent-decode-unreserved",
               "percent-decode-unreserved strict", "percent-to-uppercase",
               "percent-to-uppercase strict", "query-sort-by-name"]

def _config(ports: dict[str, int]) -> str:
    """One listener per normalizer, its rule unconditional. (2.6.0's parser leaves a rule of
    `path-strip-dotdot`, `percent-*` followed by `if` with the action's first value, so a
    condition after them would merge slashes instead: that 2.6 bug is not reproduced, and the
    differential test does not use conditions.)"""
    text = """
global
    expose-experimental-directives
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
"""
    for n in NORMALIZERS:
        text += f"""listen {n.replace(' ', '-')}
    bind 127.0.0.1:{ports[n.replace(' ', '-')]}
    http-request normalize-uri {n}
    server s 127.0.0.1:{{pw}}
"""
    return text


CASES = [
    ("path-merge-slashes", "//", "/"),
    ("path-merge-slashes", "/foo//bar", "/foo/bar"),
    ("path-merge-slashes", "/a//b?x=//y", "/a/b?x=//y"),
    ("path-strip-dot", "/.", "/"),
    ("path-strip-dot", "/./bar/", "/bar/"),
    ("path-strip-dot", "/a/./a", "/a/a"),
    ("path-strip-dot", "/.well-known/", "/.well-known/"),
    ("path-strip-dot", "/a/.", "/a/"),
    ("path-strip-dotdot", "/foo/../", "/"),
    ("path-strip-dotdot", "/foo/../bar/", "/bar/"),
    ("path-strip-dotdot", "/foo/bar/../", "/foo/"),
    ("path-strip-dotdot", "/../bar/", "/../bar/"),
    ("path-strip-dotdot", "/bar/../../", "/../"),
    ("path-strip-dotdot", "/foo//../", "/foo/"),
    ("path-strip-dotdot", "/foo/%2E%2E/", "/foo/%2E%2E/"),
    ("path-strip-dotdot", "/a/b/..?q=/../", "/a/?q=/../"),
    ("path-strip-dotdot-full", "/../bar/", "/bar/"),
    ("path-strip-dotdot-full", "/bar/../../", "/"),
    ("percent-decode-unreserved", "/%61dmin", "/admin"),
    ("percent-decode-unreserved", "/foo%3Fbar=baz", "/foo%3Fbar=baz"),
    ("percent-decode-unreserved", "/%%36%36", "/%66"),
    ("percent-decode-unreserved", "/%ZZ", "/%ZZ"),
    ("percent-decode-unreserved", "/x?%7e=%2d", "/x?~=-"),
    ("percent-decode-unreserved-strict", "/%%36%36", 400),
    ("percent-decode-unreserved-strict", "/%ZZ", 400),
    ("percent-decode-unreserved-strict", "/%41", "/A"),
    ("percent-to-uppercase", "/%6f", "/%6F"),
    ("percent-to-uppercase", "/%zz", "/%zz"),
    ("percent-to-uppercase-strict", "/%zz", 400),
    ("query-sort-by-name", "/?c=3&a=1&b=2", "/?a=1&b=2&c=3"),
    ("query-sort-by-name", "/?aaa=3&a=1&aa=2", "/?a=1&aa=2&aaa=3"),
    ("query-sort-by-name", "/?a=3&b=4&a=1&b=5&a=2", "/?a=3&a=1&a=2&b=4&b=5"),
    ("query-sort-by-name", "/p?b&&a", "/p?&a&b"),
    ("query-sort-by-name", "/nothing", "/nothing"),
    # a '#' never reaches the fragment normalizers: the request parser refuses it first (400),
    # in 2.6 as here
    ("fragment-strip", "/#foo", 400),
    ("fragment-encode", "/#foo", 400),
    ("fragment-strip", "/no-fragment?q", "/no-fragment?q"),
]


@pytest.fixture
def started(proxy: Any, binary: str,  # noqa: F811
            http_backend: Callable[..., Any]) -> tuple[dict[str, int], Any]:
    names = [n.replace(" ", "-") for n in NORMALIZERS]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    web = http_backend(name="W")
    proxy.start(_config(ports), pw=web.port)
    return ports, web


def test_normalizers(started: tuple[dict[str, int], Any]) -> None:
    ports, web = started
    failures = []
    for normalizer, target, expected in CASES:
        with socket.create_connection((LOCALHOST, ports[normalizer]), timeout=10) as s:
            s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        status = int(data.split(b" ", 2)[1])
        if isinstance(expected, int):
            if status != expected:
                failures.append((normalizer, target, status))
            continue
        got = web.wait_requests(1)[-1].target if status == 200 else f"status {status}"
        if got != expected:
            failures.append((normalizer, target, got, expected))
        web.requests.clear()
    assert not failures


def test_experimental_directive_needed(proxy: Any, binary: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    cfg = proxy.write_config(f"""
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request normalize-uri path-merge-slashes
    default_backend web
backend web
    server s 127.0.0.1:1
""")
    result = proxy.run(["-c", "-f", str(cfg)])
    assert result.returncode == 1
    assert ("'normalize-uri' action is experimental, must be allowed via a global "
            "'expose-experimental-directives'") in result.stderr + result.stdout
