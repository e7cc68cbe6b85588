"""`log` in its 2.x forms: `log stdout format raw` (the containers' line), `log stderr format
short`, `sample R:N`, `no log`. The proxy runs in the foreground (-db) and the test reads what it
wrote on its stdout/stderr. Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too."""

from __future__ import annotations

import re
import socket

import pytest

from tests.helpers import free_ports, wait_until

pytestmark = pytest.mark.timeout(60)

HTTPLOG = re.compile(r"^127\.0\.0\.1:\d+ \[\d\d/\w{3}/\d{4}:[\d:.]+\] fe be/b [-\d/]+ 200 \d+ - - ---- "
                     r"[\d/]+ 0/0 \"GET (/\S*) HTTP/1\.1\"$")

CONFIG = """
    defaults
        mode http
        option httplog
        timeout connect 5s
        timeout client 10s
        timeout server 10s
    frontend fe
        bind 127.0.0.1:{port}
        log stdout format raw local0
        log stderr format short local0 info
        default_backend be
    backend be
        server b 127.0.0.1:{bport}
    """


def _get(port: int, path: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        while s.recv(4096):
            pass


def _lines(path, n: int) -> list[str]:
    def enough() -> list[str] | None:
        got = [ln for ln in path.read_text(errors="replace").splitlines() if " fe be/b " in ln]
        return got if len(got) >= n else None
    return wait_until(enough, 10, message=f"{n} log lines in {path}")


def test_log_stdout_raw_and_stderr_short(proxy, http_backend) -> None:
    backend = http_backend(name="b")
    (port,) = free_ports(1)
    px = proxy.start(CONFIG, port=port, bport=backend.port)
    for i in range(3):
        _get(port, f"/r{i}")
    out = _lines(px.stdout_path, 3)
    # raw: the message alone, one line each, no "<PRI>" and no date/tag header
    assert [m[1] for m in map(HTTPLOG.match, out) if m] == ["/r0", "/r1", "/r2"], out
    err = _lines(px.stderr_path, 3)
    # short: "<LEVEL>" (info = 6, the facility left out) then the message
    assert all(ln.startswith("<6>") and HTTPLOG.match(ln[3:]) for ln in err), err


SAMPLED = """
    defaults
        mode http
        option httplog
        log 127.0.0.1:{logport} local0
        timeout connect 5s
        timeout client 10s
        timeout server 10s
    frontend fe
        bind 127.0.0.1:{port}
        log stdout format raw sample 1,3:4 local0
        default_backend be
    frontend quiet
        bind 127.0.0.1:{port2}
        no log
        log stdout format raw local0
        default_backend be
    backend be
        server b 127.0.0.1:{bport}
    """


def test_sample_and_no_log(proxy, http_backend, syslog) -> None:
    backend = http_backend(name="b")
    port, port2 = free_ports(2)
    px = proxy.start(SAMPLED, port=port, port2=port2, bport=backend.port, logport=syslog[1])
    for i in range(1, 9):
        _get(port, f"/s{i}")
    # the defaults' syslog target logs all eight, the sampled one the 1st and 3rd of each four
    assert len(syslog[0].lines(8)) == 8
    out = _lines(px.stdout_path, 4)
    assert [m[1] for m in map(HTTPLOG.match, out) if m] == ["/s1", "/s3", "/s5", "/s7"], out
    # `no log` dropped the inherited syslog target: the quiet frontend only writes to stdout
    _get(port2, "/q")
    wait_until(lambda: "/q HTTP" in px.stdout_path.read_text(errors="replace"), 10,
               message="the quiet frontend's line on stdout")
    syslog[0].sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        syslog[0].sock.recv(65536)
