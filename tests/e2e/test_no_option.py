"""`no option NAME` (an option from `defaults` turned off) and the splice options, checked with
`-c` on both binaries, and one behaviour end to end: `no option http-server-close` after a
`defaults` that set it keeps the server connection alive again (the server sees two requests on
one connection)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports

pytestmark = pytest.mark.timeout(60)

HEAD = """defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
    option {opt}
listen x
    bind 127.0.0.1:1
    {line}
    server s 127.0.0.1:2
"""

ACCEPTED = ["redispatch", "http-server-close", "httpclose", "http-keep-alive", "dontlognull",
            "log-health-checks", "abortonclose", "allbackups", "persist", "splice-auto", "checkcache",
            "transparent", "nolinger", "clitcpka", "srvtcpka", "splice-request", "splice-response"]
REFUSED = ["httplog", "forwardfor", "httpchk", "tcplog", "smtpchk", "ssl-hello-chk", "tcpka"]


def _check(proxy: Any, tmp_path: Path, text: str) -> tuple[int, str]:
    cfg = tmp_path / "c.cfg"
    cfg.write_text(text)
    r = proxy.run(["-c", "-f", str(cfg)])
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize("opt", ACCEPTED)
def test_no_option_turns_off_an_inherited_option(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                                 opt: str) -> None:
    rc, out = _check(proxy, tmp_path, HEAD.format(opt=opt, line=f"no option {opt}"))
    assert rc == 0 and "[ALERT]" not in out, (binary, out)


@pytest.mark.parametrize("opt", REFUSED)
def test_no_option_refused_where_26_refuses_it(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                               opt: str) -> None:
    rc, out = _check(proxy, tmp_path, HEAD.format(opt=opt, line=f"no option {opt}"))
    assert rc == 1 and f"negation/default is not supported for option '{opt}'" in out, (binary, out)
    assert ":9]" in out, (binary, out)


def test_no_option_http_server_close_keeps_the_server_connection(proxy: Any, binary: str,  # noqa: F811
                                                                 http_backend: Any) -> None:
    srv = http_backend(name="s")
    (port,) = free_ports(1)
    proxy.start(HEAD.replace("127.0.0.1:1", "127.0.0.1:{port}").replace("127.0.0.1:2", "127.0.0.1:{sp}"),
                opt="http-server-close", line="no option http-server-close", port=port, sp=srv.port)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        f = c.makefile("rb")
        for i in range(2):
            c.sendall(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert f.readline().startswith(b"HTTP/1.1 200"), binary
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            f.read(length)
    srv.wait_requests(2)
    assert srv.accepted == 1, (binary, srv.accepted)
