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
    acl h_list hdr(host) -i "${API_HOSTS[*]}"
    .notice "frontend ${.SECTION} at ${.FILE}:${.LINE}"
    http-request set-header X-Quoted "v w"
    http-request set-header X-Env "user=${APP_USER} dflt=${UNSET_VAR-fallback} lit=\\$x"
    http-request set-header X-Unset "[${NEVER_SET_VAR}]"
    http-request set-header X-Single '${APP_USER} \\1'
    use_backend api if h_api || p_hash || h_list
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
    base = {"LISTEN_ADDR": HOST, "LISTEN_PORT": str(port), "APP_USER": "www", "OTHER_BACKEND": "legacy",
            "API_HOSTS": "a.example  b.example"}
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
    assert get(port, "/", "a.example") == (200, "api")  # "${API_HOSTS[*]}": one pattern per word
    assert get(port, "/", "b.example") == (200, "api")
    assert get(port, "/%23tag", "x") == (200, "web")  # the pattern is "/#tag", not a comment
    assert get(port, "/old", "x") == (200, "web")  # the .else branch
    assert get(port, "/new", "x") == (200, "legacy")
    req = farm["web"].requests[-1]
    assert req.header("X-Quoted") == "v w"
    assert req.header("X-Env") == "user=www dflt=fallback lit=$x"
    assert req.header("X-Single") == "${APP_USER} \\1"
    assert req.header("X-Unset") == "[]"  # an undefined variable is empty, no alert


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
        "global\n.if 1\n.else\n.elif 1\n.endif\n": "[tcfg:4]",
        "global\n    maxconn 10\0 x\n": "[tcfg:2]",
    }
    for text, where in cases.items():
        cfg = tmp_path / "tcfg"
        cfg.write_text(text)
        done = proxy.run(["-c", "-f", str(cfg)])
        assert done.returncode == 1, (text, done.stderr)
        alert = [ln for ln in done.stderr.splitlines() if "[ALERT]" in ln]
        assert alert and f"parsing [{cfg}:{where[6:]}" in alert[0], (text, done.stderr)
        if "\0" in text and base_command()[0] != "/usr/sbin/haproxy":
            assert "Stray NUL character at position 15" in alert[0]  # 2.6 says "Missing LF" here


@pytest.mark.parametrize(
    ("cond", "rc"),
    [("1", 0), ("0", 1), ("defined(HOME)", 0), ("defined(NOPE_NOT_SET)", 1), ('streq("$HOME",/x) || 1', 0),
     ("version_atleast(2.4) && version_before(3.0)", 0), ("!(1 && (0 || 1))", 1), ("junk", 2), ("(1", 2),
     # the corners, as 2.6 answers them: a bare predicate has one empty argument, blanks in an
     # argument count, an unreadable version is older, `#` is no comment, an unset variable is empty
     ("defined", 1), ("streq( a ,a)", 1), ("streq( a , a )", 0), ("version_atleast(x)", 0),
     ("streq(a,b,c)", 2), ("streq(a)", 2), ("1 # c", 2), ('"${NOPE_NOT_SET}"', 1),
     ('streq("${NOPE_NOT_SET-d}",d)', 0), ('"abc', 2), ("1 ||", 2), ("", 1)],
)
def test_cc_evaluates_a_condition(proxy, cond: str, rc: int) -> None:
    done = proxy.run(["-cc", cond])
    assert done.returncode == rc, done.stderr


def test_cc_feature_names_this_build(proxy) -> None:
    # Each binary answers for itself: both have OpenSSL; Lua only Debian's haproxy.
    ours = base_command()[0] != "/usr/sbin/haproxy"
    assert proxy.run(["-cc", "feature(OPENSSL)"]).returncode == 0
    assert proxy.run(["-cc", "feature(LUA)"]).returncode == (1 if ours else 0)
    assert proxy.run(["-cc", "feature(EPOLL)"]).returncode == 0


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_not_read_as_a_config(proxy, device: str) -> None:
    """`-f /dev/zero` once read until memory ran out; now refused at once. proxy.run kills the
    process (by its pid) if it has not exited after 30 s."""
    done = proxy.run(["-c", "-f", device], timeout=30)
    assert done.returncode == 1
    ours = base_command()[0] != "/usr/sbin/haproxy"
    if ours:  # haproxy 2.6 reads /dev/zero until the first NUL, /dev/urandom until 50 errors
        assert f"'{device}' is a device or socket, not a regular file" in done.stderr


def test_an_endless_pipe_is_cut(proxy) -> None:
    """`-f /dev/stdin` from a pipe is read (as 2.6 reads it), but not without bound: 200 MB of
    zeros are refused (ours: past 64 MiB; 2.6: at the first NUL)."""
    done = proxy.run_shell("head -c 200000000 /dev/zero | haproxy -c -f /dev/stdin", timeout=60)
    assert done.returncode == 1, done.stderr
    assert "[ALERT]" in done.stderr


def test_stdin_pipe_and_directory_are_read(proxy, tmp_path) -> None:
    (port,) = free_ports(1)
    text = (f"defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n"
            f"listen web\n    bind {HOST}:{port}\n    server s {HOST}:9\n")
    cfg = tmp_path / "web.cfg"
    cfg.write_text(text)
    done = proxy.run_shell(f"haproxy -c -f /dev/stdin < <(cat {cfg})", timeout=60)
    assert done.returncode == 0, done.stderr
    # -f DIR: its *.cfg files in name order, hidden and other files left out
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "20-web.cfg").write_text(text.split("listen")[0].replace("defaults", "defaults"))
    (d / "30-listen.cfg").write_text("listen" + text.split("listen")[1])
    (d / "10-global.cfg").write_text("global\n    maxconn 50\n")
    (d / ".hidden.cfg").write_text("junk\n")
    (d / "README").write_text("junk\n")
    done = proxy.run(["-c", "-f", str(d)])
    assert done.returncode == 0, done.stderr
