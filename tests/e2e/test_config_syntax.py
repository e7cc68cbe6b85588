"""HAProxy 2.x configuration syntax end to end: quotes, `"${VAR}"`, `${VAR-default}`, `.if`
blocks and `-cc`, on a running proxy. Differential: the same file routes the same way under
`PYHAPROXY_CMD=/usr/sbin/haproxy`, and `-cc` answers as haproxy 2.6 does (but `feature()`, where
each binary names its own build)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from tests.helpers import free_ports
from tests.helpers.proxy import base_command
from tests.helpers.servers import HttpServer

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"

# Every value that decides routing comes through a quote or a variable: a quote kept in a word
# (the 1.x reading) sends the request to the wrong backend or the header with quote marks.
CONFIG = """
global
    maxconn 100
defaults
    mode http
    timeout connect "${T_CONNECT-5s}"
    timeout client 30s
    timeout server '30s'
frontend "www"
    bind "${LISTEN_ADDR}:${LISTEN_PORT}"
    acl h_api  hdr(host) -i "api.example"
    acl h_both hdr(host) -i "two words.example" other.example
    acl p_hash path_beg "/#tag"
    http-request set-header X-Quoted "v w"
    http-request set-header X-Env "user=${APP_USER} dflt=${UNSET_VAR-fallback} lit=\\$x"
    http-request set-header X-Single '${APP_USER} \\1'
    use_backend api if h_api || p_hash
    use_backend "${OTHER_BACKEND}" if h_both
.if defined(ROUTE_LEGACY)
    use_backend legacy if { path_beg /old }
.elif streq("$APP_USER",nobody)
    use_backend api if { path_beg /old }
.else
    use_backend web if { path_beg /old }
.endif
.if version_atleast(2.4) && !defined(UNSET_VAR)
    use_backend legacy if { path_beg /new }
.endif
    default_backend web
backend api
    server ap {host}:{api}
backend web
    server wb {host}:{web}
backend legacy
    server lg {host}:{legacy}
"""


def get(port: int, path: str, host: str) -> tuple[int, str]:
    raw = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection((HOST, port), timeout=15) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    server = next((ln.split(":", 1)[1].strip() for ln in head[1:] if ln.lower().startswith("x-server:")), "")
    return int(head[0].split()[1]), server


@pytest.fixture
def farm(http_backend: Callable[..., HttpServer]) -> dict[str, HttpServer]:
    return {name: http_backend(name=name) for name in ("api", "web", "legacy")}


def start(proxy, farm: dict[str, HttpServer], **env: str) -> int:
    (port,) = free_ports(1)
    base = {"LISTEN_ADDR": HOST, "LISTEN_PORT": str(port), "APP_USER": "www", "OTHER_BACKEND": "legacy"}
    proxy.start(CONFIG, wait=[(HOST, port)], env={**base, **env}, host=HOST,
                **{name: srv.port for name, srv in farm.items()})
    return port


def test_quoted_values_and_variables_route_and_rewrite(proxy, farm: dict[str, HttpServer]) -> None:
    port = start(proxy, farm)
    assert get(port, "/", "api.example") == (200, "api")
    assert get(port, "/", "API.example") == (200, "api")
    assert get(port, "/", "two words.example") == (200, "legacy")  # one quoted pattern, blank kept
    assert get(port, "/", "other.example") == (200, "legacy")
    assert get(port, "/", "www.example") == (200, "web")
    assert get(port, "/%23tag", "x") == (200, "web")  # the pattern is "/#tag", not a comment
    assert get(port, "/old", "x") == (200, "web")  # the .else branch
    assert get(port, "/new", "x") == (200, "legacy")
    req = farm["web"].requests[-1]
    assert req.header("X-Quoted") == "v w"
    assert req.header("X-Env") == "user=www dflt=fallback lit=$x"
    assert req.header("X-Single") == "${APP_USER} \\1"


def test_if_branches_follow_the_environment(proxy, farm: dict[str, HttpServer]) -> None:
    port = start(proxy, farm, ROUTE_LEGACY="1", UNSET_VAR="now-set")
    assert get(port, "/old", "x") == (200, "legacy")  # .if defined(ROUTE_LEGACY)
    assert get(port, "/new", "x") == (200, "web")  # the second block is dropped
    assert farm["web"].requests[-1].header("X-Env") == "user=www dflt=now-set lit=$x"


def test_elif_branch(proxy, farm: dict[str, HttpServer]) -> None:
    port = start(proxy, farm, APP_USER="nobody")
    assert get(port, "/old", "x") == (200, "api")


def test_config_errors_are_alerts(proxy, tmp_path) -> None:
    cases = {
        'global\n    maxconn "100\n': "[tcfg:2]",
        "global\n.if defined(X\n.endif\n": "[tcfg:2]",
        "global\n.if 1\n": "[tcfg:2]",
        "global\n.if nosuchpredicate(1)\n.endif\n": "[tcfg:2]",
        'global\n.alert "not supported here"\n': "[tcfg:2]",
    }
    for text, where in cases.items():
        cfg = tmp_path / "tcfg"
        cfg.write_text(text)
        done = proxy.run(["-c", "-f", str(cfg)])
        assert done.returncode == 1, (text, done.stderr)
        alert = [ln for ln in done.stderr.splitlines() if "[ALERT]" in ln]
        assert alert and f"parsing [{cfg}:{where[6:]}" in alert[0], (text, done.stderr)


@pytest.mark.parametrize(
    ("cond", "rc"),
    [("1", 0), ("0", 1), ("defined(HOME)", 0), ("defined(NOPE_NOT_SET)", 1), ('streq("$HOME",/x) || 1', 0),
     ("version_atleast(2.4) && version_before(3.0)", 0), ("!(1 && (0 || 1))", 1), ("junk", 2), ("(1", 2)],
)
def test_cc_evaluates_a_condition(proxy, cond: str, rc: int) -> None:
    done = proxy.run(["-cc", cond])
    assert done.returncode == rc, done.stderr


def test_cc_feature_names_this_build(proxy) -> None:
    # Each binary answers for itself: pyhaproxy has no OpenSSL yet, Debian's haproxy has.
    ours = base_command()[0] != "/usr/sbin/haproxy"
    assert proxy.run(["-cc", "feature(OPENSSL)"]).returncode == (1 if ours else 0)
    assert proxy.run(["-cc", "feature(EPOLL)"]).returncode == 0


def test_a_device_is_not_read_as_a_config(proxy) -> None:
    """`-f /dev/zero` would otherwise be read until memory runs out."""
    done = proxy.run(["-c", "-f", "/dev/zero"], timeout=30)
    assert done.returncode == 1
    ours = base_command()[0] != "/usr/sbin/haproxy"
    if ours:  # haproxy 2.6 reads a NUL and stops on it: a less clear alert, same exit code
        assert "not a regular file" in done.stderr
