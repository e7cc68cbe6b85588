"""Fuzzing the configuration parser: any input is a clean alert or a valid configuration.

In-process (hypothesis): random keyword lines, random bytes, and mutations of real configurations
go through `parse_text` and, when they parse, through the command-line merge and the worker's table
compilation. The only exception allowed is ConfigError, whose text is HAProxy's
`[ALERT] parsing [FILE:LINE] : message` (or `[ALERT] parsing FILE : message` for whole-file errors).
Name resolution is pinned to the local host so the fuzzer never waits on DNS.

Out of process: a sample of fuzzed files through `python -m pyhaproxy -c -f FILE`; the exit code is
0 or 1 and stderr never holds a Python traceback.
"""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyhaproxy import worker
from pyhaproxy.cli import Options, apply_options
from pyhaproxy.config import ConfigError, parse_text, values

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("ROBUSTNESS_FUZZ_EXAMPLES", "500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
ALERT_RE = re.compile(r"^\[ALERT\] parsing (\[fuzz\.cfg:\d+\]|fuzz\.cfg) : \S.*", re.S)

REAL_CONFIGS = [
    """\
global
    maxconn 2000
    log 127.0.0.1 local0
    daemon
    nbproc 2
    pidfile /tmp/never-written.pid
    ulimit-n 8192
defaults
    mode http
    retries 3
    option redispatch
    contimeout 5000
    clitimeout 50000
    srvtimeout 50000
listen webfarm 127.0.1.1:80
    balance roundrobin
    cookie SERVERID insert indirect nocache
    option httpchk HEAD /index.html HTTP/1.0
    option forwardfor
    option httplog
    capture cookie SERVERID len 32
    capture request header Host len 64
    reqidel ^Proxy-Connection:.*
    rspirep ^(Location:\\ )http://(.*) \\1https://\\2
    errorloc 503 http://127.0.0.1/sorry.html
    monitor-uri /haproxy_up
    stats uri /stats
    server webA 127.0.1.11:80 cookie A check inter 2000 rise 2 fall 3 weight 10
    server webB 127.0.1.12:80 cookie B check port 81 maxconn 100
    server bkp 127.0.1.13:80 backup
""",
    """\
listen tse-proxy
    bind :3389,:1494,:5900
    mode tcp
    balance source
    monitor-net 127.0.0.0/8
    option tcplog
    option tcpka
    timeout connect 4s
    timeout client 1h
    timeout server 1h
    server s1 127.0.2.1 check port 3389
    server s2 127.0.2.2 check port 3389 source 127.0.0.5
listen health 127.0.0.1:60000
    mode health
""",
    """\
defaults
    mode tcp
    contimeout 5000
listen dispatch 127.0.0.1:8080
    dispatch 127.0.0.2:80
    grace 1000
    maxconn 10
listen disabled 127.0.0.1:8081
    disabled
    server x 127.0.0.3:80
""",
]

KEYWORDS = sorted({"global", "defaults", "listen", "frontend", "backend", "server", "bind", "mode", "balance",
                   "cookie", "option", "timeout", "contimeout", "clitimeout", "srvtimeout", "retries",
                   "maxconn", "ulimit-n", "nbproc", "daemon", "quiet", "debug", "pidfile", "chroot", "uid",
                   "gid", "user", "group", "log", "stats", "capture", "reqadd", "reqrep", "reqirep",
                   "reqdel", "reqdeny", "reqallow", "reqtarpit", "rspadd", "rsprep", "rspdel", "rspdeny",
                   "errorloc", "errorfile", "monitor-net", "monitor-uri", "dispatch", "source", "grace",
                   "disabled", "enabled", "redispatch", "tune.bufsize", "appsession", "acl", "use_backend",
                   "default_backend", "http-request", "block", "fullconn", "transparent", "spread-checks"})
ARGS = ["127.0.0.1:80", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:1-3", ":80", "*:80", "[::1]:80", "::1",
        "0", "1", "-1", "2147483648", "99999999999999999999", "1s", "1m", "5x", "ms", "http", "tcp",
        "health", "roundrobin", "source", "leastconn", "insert", "prefix", "rewrite", "indirect", "nocache",
        "postonly", "check", "inter", "rise", "fall", "port", "addr", "weight", "backup", "cookie",
        "maxconn", "minconn", "httpchk", "httpclose", "forwardfor", "httplog", "tcplog", "dontlognull",
        "^(.*)$", "(", "\\1", "\\", "\\x4", "\\x41", "[a-", "*", "+", "local0", "local9", "info", "bogus",
        "uri", "/x", "len", "request", "response", "header", "Host", "enable", "realm", "auth", "a:b",
        "scope", "refresh", "10s", "hide-version", "503", "400", "999", "/dev/null", "/nonexistent",
        "", "#", "é", "\x00", "\t", "    "]


@pytest.fixture(autouse=True)
def local_names_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Resolve only `localhost`: a fuzzer must not wait on DNS for random host names."""

    def fake_getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        if host in ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::"):
            return real(host, *args, **kw)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    real = socket.getaddrinfo
    monkeypatch.setattr(values.socket, "getaddrinfo", fake_getaddrinfo)
    yield


def check_config(text: str) -> str:
    """Parse `text` the way the command does; return "ok" or the alert. Anything else raises."""
    try:
        cfg = parse_text(text, "fuzz.cfg")
    except ConfigError as e:
        alert = str(e)
        # (a word made with the `\n` escape is echoed as is, newline included, as HAProxy does)
        assert ALERT_RE.match(alert), f"malformed alert {alert!r}"
        return alert
    apply_options(cfg, Options(files=["fuzz.cfg"]))
    try:
        worker.plan_worker(cfg)
    except socket.gaierror:
        pass   # a server name that only DNS could resolve (pinned off here); not a parser question
    return "ok"


@st.composite
def keyword_line(draw: st.DrawFn) -> str:
    indent = draw(st.sampled_from(["", "    ", "\t"]))
    words = [draw(st.sampled_from(KEYWORDS))] + draw(st.lists(st.sampled_from(ARGS), max_size=6))
    return indent + " ".join(words)


@st.composite
def keyword_config(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(["", "global\n", "defaults\n", "listen p 127.0.0.1:8000\n"]))
    return head + "\n".join(draw(st.lists(keyword_line(), min_size=1, max_size=15))) + "\n"


@st.composite
def mutated_real(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(REAL_CONFIGS)).splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        op = draw(st.integers(min_value=0, max_value=4))
        words = lines[i].split()
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, draw(keyword_line()))
        elif op == 2 and words:
            words[draw(st.integers(min_value=0, max_value=len(words) - 1))] = draw(st.sampled_from(ARGS))
            lines[i] = "    " + " ".join(words)
        elif op == 3 and words:
            lines[i] = lines[i] + " " + draw(st.sampled_from(ARGS))
        else:
            lines[i] = lines[i][: draw(st.integers(min_value=0, max_value=len(lines[i])))]
    return "\n".join(lines) + "\n"


@FUZZ
@given(keyword_config())
def test_keyword_lines(text: str) -> None:
    check_config(text)


@FUZZ
@given(mutated_real())
def test_mutated_real_configs(text: str) -> None:
    check_config(text)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    check_config(data.decode("latin-1"))


@FUZZ
@given(st.lists(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=40),
                max_size=10))
def test_random_text_lines(lines: list[str]) -> None:
    check_config("listen p 127.0.0.1:8000\n" + "\n".join(lines) + "\n    server s 127.0.0.1:80\n")


def test_real_configs_are_valid() -> None:
    """Control: the seeds of the mutation fuzzer parse, so mutations start from valid input."""
    for text in REAL_CONFIGS:
        assert check_config(text) == "ok"


def test_check_mode_exit_codes(tmp_path: Path) -> None:
    """`-c -f FILE` on fuzzed files: exit 0, 1 (a clean alert) or 2 (valid, nothing to listen
    on: 2.6's sentence), never a traceback."""
    rnd = random.Random(9)
    samples: list[bytes] = [b"", b"\x00\xff\xfe", b"listen\n", b"global\n\tnbproc -1\n", b"listen a b c d\n",
                            b"\\x", b"listen p 127.0.0.1:99999\n", REAL_CONFIGS[0].encode()]
    for _ in range(16):
        lines = rnd.choice(REAL_CONFIGS).splitlines()
        i = rnd.randrange(len(lines))
        lines[i] = " ".join([rnd.choice(KEYWORDS)] + rnd.sample(ARGS, 3))
        samples.append(("\n".join(lines) + "\n").encode("latin-1"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    outcomes = {0: 0, 1: 0, 2: 0}
    for n, data in enumerate(samples):
        path = tmp_path / f"f{n}.cfg"
        path.write_bytes(data)
        done = subprocess.run([sys.executable, "-m", "pyhaproxy", "-c", "-f", str(path)], capture_output=True,
                              text=True, timeout=60, env=env, cwd=tmp_path)
        assert done.returncode in (0, 1, 2), (data, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr, (data, done.stderr)
        if done.returncode == 1:
            assert "[ALERT]" in done.stderr, (data, done.stderr)
        if done.returncode == 2:
            assert "will not start (no listener) => exit(2)" in done.stdout, (data, done.stdout)
        outcomes[done.returncode] += 1
    assert outcomes[0] >= 1 and outcomes[1] >= 10, outcomes
