"""Server keywords on the server connection itself (2.6, 5.2), against pyhaproxy and
/usr/sbin/haproxy (2.6):

- `tfo` (and `no-tfo`) is accepted, with 2.6's warning about `retry-on`, but changes nothing on
  the wire: 2.6 asks for TCP_FASTOPEN_CONNECT only when its "data to send" test passes, and that
  test looks at the response channel (backend.c connect_server), empty at connect time. Seen
  from the test server (TCP_SAVE_SYN): no SYN of 2.6.12 carries the TFO option (kind 34 or 254, which a
  TFO connect puts in every SYN, as a cookie request or with a cookie), with or without `tfo`;
- `tcp-ut <time>`: TCP_USER_TIMEOUT on the server socket, read on the proxy's own socket (a copy
  taken with pidfd_getfd, the tests run as root). 2.6 only keeps it on a `server` line with an
  IPv4/IPv6 address (cfgparse-tcp.c srv_parse_tcp_ut): a `default-server tcp-ut` is ignored;
- the configuration errors 2.6 gives.
"""

from __future__ import annotations

import ctypes
import os
import socket
from typing import Any

import psutil
import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports
from tests.helpers.net import LOCALHOST

TCP_USER_TIMEOUT = 18
TCP_SAVE_SYN = 27
TCP_SAVED_SYN = 28
TFO_OPTION = 34

CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    use_backend b2 if { path_beg /two }
    use_backend b3 if { path_beg /three }
    default_backend b1
backend b1
    server s1 127.0.0.1:{b1} tfo tcp-ut 3500
backend b2
    default-server tcp-ut 7s tfo
    server s2 127.0.0.1:{b2} no-tfo
backend b3
    server s3 127.0.0.1:{b3}
"""


def _listener(port: int) -> socket.socket:
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_TCP, TCP_SAVE_SYN, 1)
    ls.bind((LOCALHOST, port))
    ls.listen(8)
    ls.settimeout(10)
    return ls


def _tcp_options(syn: bytes) -> dict[int, bytes]:
    """The TCP options of a saved SYN (IPv4 header first)."""
    tcp = syn[(syn[0] & 0x0F) * 4:]
    opts, i, end = {}, 20, (tcp[12] >> 4) * 4
    while i < end:
        kind = tcp[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        length = tcp[i + 1]
        opts[kind] = tcp[i + 2:i + length]
        i += max(length, 2)
    return opts


def _tfo(opts: dict[int, bytes]) -> bool:
    """The SYN asks for TCP fast open: option 34, or the experimental 254 with magic 0xF989 (which
    Linux falls back to once a server ignored 34)."""
    return TFO_OPTION in opts or opts.get(254, b"")[:2] == b"\xf9\x89"


def _proxy_socket_user_timeout(proc: Any, backend_port: int) -> int:
    """TCP_USER_TIMEOUT of the proxy's connection to backend_port, on a copy of its socket."""
    procs = [psutil.Process(proc.pid)]
    procs += procs[0].children(recursive=True)
    libc = ctypes.CDLL(None, use_errno=True)
    for p in procs:
        for c in p.net_connections(kind="tcp"):
            if c.raddr and c.raddr.port == backend_port and c.fd >= 0:
                pidfd = os.pidfd_open(p.pid)
                try:
                    fd = libc.syscall(438, pidfd, c.fd, 0)      # pidfd_getfd
                    assert fd >= 0, os.strerror(ctypes.get_errno())
                finally:
                    os.close(pidfd)
                s = socket.socket(fileno=fd)
                try:
                    return s.getsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT)
                finally:
                    s.close()
    raise AssertionError(f"no connection of the proxy to port {backend_port}")


def _exchange(proc: Any, port: int, ls: socket.socket, backend_port: int,
              path: str) -> tuple[dict[int, bytes], int]:
    """A request for `path`; (the TCP options of the SYN the server got, the proxy socket's
    TCP_USER_TIMEOUT), then the answer goes back."""
    with socket.create_connection((LOCALHOST, port), timeout=10) as c:
        c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        conn, _ = ls.accept()
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                assert chunk, data
                data += chunk
            opts = _tcp_options(conn.getsockopt(socket.IPPROTO_TCP, TCP_SAVED_SYN, 512))
            ut = _proxy_socket_user_timeout(proc, backend_port)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        answer = b""
        while chunk := c.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok"), answer
    return opts, ut


def test_tfo_and_tcp_ut(proxy: Any, binary: str) -> None:  # noqa: F811
    if open("/proc/sys/net/ipv4/tcp_fastopen").read().strip() in ("0", "2"):
        pytest.fail("net.ipv4.tcp_fastopen has the client side off: TFO cannot be seen")
    port, b1, b2, b3 = free_ports(4)
    listeners = {b: _listener(b) for b in (b1, b2, b3)}
    try:
        # the probe itself: a TFO connect (TCP_FASTOPEN_CONNECT, 30) shows in the saved SYN
        with socket.socket() as c:
            c.setsockopt(socket.IPPROTO_TCP, 30, 1)
            c.connect((LOCALHOST, b3))
            c.sendall(b"x")
            conn, _ = listeners[b3].accept()
            with conn:
                assert _tfo(_tcp_options(conn.getsockopt(socket.IPPROTO_TCP, TCP_SAVED_SYN, 512)))
        proc = proxy.start(CFG, port=port, b1=b1, b2=b2, b3=b3)
        for _ in range(2):
            opts, ut = _exchange(proc, port, listeners[b1], b1, "/")
            assert not _tfo(opts), opts              # tfo: no TFO connect (see above)
            assert ut == 3500
            opts, ut = _exchange(proc, port, listeners[b2], b2, "/two")
            assert not _tfo(opts), opts              # no-tfo after default-server tfo
            assert ut == 0                                   # default-server tcp-ut: ignored (2.6)
            opts, ut = _exchange(proc, port, listeners[b3], b3, "/three")
            assert not _tfo(opts) and ut == 0, (opts, ut)
    finally:
        for ls in listeners.values():
            ls.close()


def test_config_errors(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    head = ("defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
            "backend be\n")
    cases = {
        "    server s1 127.0.0.1:80 tcp-ut\n": "'tcp-ut' : missing TCP User Timeout value",
        "    server s1 127.0.0.1:80 tcp-ut abc\n": "'tcp-ut' : expects a positive delay in milliseconds",
        "    server s1 127.0.0.1:80 tcp-ut 1x\n": "'tcp-ut' : expects a positive delay in milliseconds",
        "    server s1 127.0.0.1:80 tcp-ut 30d\n": "timer overflow in argument '30d' to 'tcp-ut' (maximum "
                                                  "value is 2147483647 ms or ~24.8 days)",
        "    default-server tcp-ut -1\n": "'tcp-ut' : expects a positive delay in milliseconds",
    }
    for line, message in cases.items():
        out = proxy.refuses(tmp_path / "c.cfg", head + line)
        assert "[ALERT]" in out and message in out, (line, out)
        assert ":7]" in out, (line, out)


def test_tfo_warning(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    cfg = tmp_path / "w.cfg"
    cfg.write_text("defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n"
                   "    timeout connect 1s\nbackend be\n    server s1 127.0.0.1:80 tfo tcp-ut 1us\n"
                   "    server s2 127.0.0.1:81 tfo no-tfo\n")
    r = proxy.run(["-c", "-f", str(cfg)])
    assert r.returncode in (0, 2), r.stdout + r.stderr     # (2: 2.6 has no listener to start)
    out = r.stdout + r.stderr
    assert out.count("server has tfo activated") == 1, out
    assert "s1' : server has tfo activated, the backend should be configured with at least " \
           "'conn-failure', 'empty-response' and 'response-timeout'" in out, out
