"""`error-log-format` (2.5+) and the `fc_err`/`fc_err_str` fetches: the line of a connection that
failed before its session began (a refused PROXY header, a failed TLS handshake) in the
frontend's own format instead of 2.6's fixed "IP:PORT [date] FE/LISTENER: message" line, at err
level with `option log-separate-errors`. Each case runs against pyhaproxy and haproxy 2.6 with
the same configuration; the fields compared are those 2.6 fills for a connection with no stream
(no request, no server, status 0, termination state PR--).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary, certs  # noqa: F401  (fixtures: both binaries; test certificates)
from tests.helpers import free_ports

pytestmark = pytest.mark.timeout(60)

FORMAT = ("E %ci %ft %b/%s %[fc_err]/%[fc_err_str] ST=%ST B=%B U=%U Tw=%Tw Tc=%Tc Tr=%Tr ts=%ts "
          "tsc=%tsc r=%{+Q}r")

CFG = """
    global
        log 127.0.0.1:{logport} local0
    defaults
        mode http
        log global
        timeout connect 5s
        timeout client 1s
        timeout server 5s
        error-log-format "{fmt}"
    frontend pp
        bind 127.0.0.1:{pport} accept-proxy
        default_backend b
    frontend tls
        bind 127.0.0.1:{tport} ssl crt {crt}
        option log-separate-errors
        default_backend b
    backend b
        server s1 127.0.0.1:9
    defaults
        mode http
        log global
        timeout connect 5s
        timeout client 1s
        timeout server 5s
    frontend nolog
        bind 127.0.0.1:{nport} accept-proxy
        default_backend b
    frontend legacy
        bind 127.0.0.1:{lport} accept-proxy
        option httplog
        default_backend b
    """


def _send(port: int, data: bytes, linger: float = 0.2) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        if data:
            s.sendall(data)
        time.sleep(linger)


def _msg(line: str) -> str:
    return line.split("]: ", 1)[1].strip()


def test_failed_connections_in_the_error_log_format(proxy: Any, binary: str,  # noqa: F811
                                                    certs: dict[str, Path], syslog: Any) -> None:  # noqa: F811
    log, logport = syslog
    pport, tport, nport, lport = free_ports(4)
    proxy.start(CFG, logport=logport, pport=pport, tport=tport, nport=nport, lport=lport, crt=certs["a"],
                fmt=FORMAT)
    cases = [
        (pport, b"PROXY TCP4 1.2.3.4", 0.2,
         "E 127.0.0.1 pp pp/<NOSRV> 14/Truncated PROXY protocol header received"),
        (pport, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0.2,
         "E 127.0.0.1 pp pp/<NOSRV> 15/Received something which does not look like a PROXY "
         "protocol header"),
        (pport, b"", 0.2, "E 127.0.0.1 pp pp/<NOSRV> 11/Connection closed while waiting for PROXY "
                          "protocol header"),
        (tport, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0.2,
         "E 127.0.0.1 tls~ tls/<NOSRV> 34/SSL handshake failure"),
        (tport, b"", 0.2, "E 127.0.0.1 tls~ tls/<NOSRV> 24/Connection closed during SSL handshake"),
        (tport, bytes.fromhex("16030100a0010000"), 1.5,
         "E 127.0.0.1 tls~ tls/<NOSRV> 26/Timeout during SSL handshake"),
    ]
    rest = " ST=0 B=0 U=0 Tw=-1 Tc=-1 Tr=-1 ts=PR tsc=PR-- r=\"<BADREQ>\""
    for port, data, linger, want in cases:
        _send(port, data, linger)
        line = log.wait_for(want.split(" ", 4)[-1], timeout=5)
        assert _msg(line) == want + rest, line
        # <134>: local0.info; <131>: local0.err with log-separate-errors (the TLS frontend)
        assert line.startswith("<131>" if port == tport else "<134>"), line
    # frontends without one (a `defaults` section without one before them): 2.6's fixed line,
    # only where a traffic log format is set (`nolog` has none: 2.6 logs nothing for it)
    _send(nport, b"PROXY TCP4 1.2.3.4")
    _send(lport, b"PROXY TCP4 1.2.3.4")
    line = log.wait_for("legacy/", timeout=5)
    assert _msg(line).split("] ", 1)[1] == "legacy/1: Truncated PROXY protocol header received", line
    assert not [seen for seen in log.seen if "nolog" in seen]


def test_in_a_backend_it_is_ignored_with_a_warning(proxy: Any, binary: str) -> None:  # noqa: F811
    cfg = proxy.write_config("""
        defaults
            timeout connect 5s
            timeout client 5s
            timeout server 5s
        backend b
            error-log-format "%ci"
            log-format "%ci"
            server s1 127.0.0.1:9
        frontend f
            bind 127.0.0.1:{port}
            default_backend b
        """, port=free_ports(1)[0])
    done = proxy.run(["-c", "-f", str(cfg)])
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    for kw in ("error-log-format", "log-format"):
        assert f"backend 'b' : '{kw}' directive is ignored in backends." in out
