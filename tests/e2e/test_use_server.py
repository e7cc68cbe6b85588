"""`use-server`, `force-persist` and `ignore-persist` (2.6, 4.2), against pyhaproxy and
/usr/sbin/haproxy (2.6):

- use-server rules are tried in order; one naming a server that is down (or in maintenance) is
  passed over unless `option persist` or a force-persist rule holds; they win over the
  persistence cookie, which is still stripped of its prefix and logged `U` (unused), and no
  cookie is inserted for a server they chose; a name may be built per request (`%[...]`);
- in TCP mode too, on what the connection brings (`dst_port`, the inspected payload);
- force-persist sends a cookie's request to its server even in maintenance; ignore-persist
  balances it as if there were no cookie, and inserts none;
- the configuration errors 2.6 gives.
"""

from __future__ import annotations

import re
import socket
from typing import Any

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports, wait_until
from tests.helpers.net import LOCALHOST, stats_command

HTTP_CFG = """
global
    log 127.0.0.1:{logport} local0
    stats socket {sock} level admin
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    cookie SRV prefix
    use-server s3 if { path_beg /three }
    use-server s2 if { path_beg /two } || { path_beg /three }
    use-server %[req.hdr(x-srv)] if { req.hdr(x-srv) -m found }
    force-persist if { req.hdr(x-force) -m found }
    ignore-persist if { path_end .png }
    server s1 127.0.0.1:{b1} cookie c1
    server s2 127.0.0.1:{b2} cookie c2
    server s3 127.0.0.1:{b3} cookie c3
"""


def _get(port: int, path: str, headers: str = "") -> tuple[str, bytes]:
    """(the server that answered, the response head)."""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return body.decode().strip(), head


def _start(proxy: Any, http_backend: Any, syslog: Any, tmp_path: Any) -> tuple[int, Any, list[Any]]:
    _log, logport = syslog
    (port,) = free_ports(1)
    bes = [http_backend(name=f"s{i}") for i in (1, 2, 3)]
    sock = tmp_path / "admin.sock"
    proxy.start(HTTP_CFG, logport=logport, port=port, sock=sock, b1=bes[0].port, b2=bes[1].port,
                b3=bes[2].port)
    wait_until(lambda: sock.exists(), 10, message="the stats socket")
    return port, sock, bes


def _cookie_flags(line: str) -> str:
    m = re.search(r" (\S\S\S\S) \d+/\d+/\d+/\d+/\d+ ", line)
    assert m, line
    return m[1][2:]


def test_use_server_rules_in_order(proxy: Any, binary: str, http_backend: Any, syslog: Any,  # noqa: F811
                                   tmp_path: Any) -> None:
    port, sock, bes = _start(proxy, http_backend, syslog, tmp_path)
    assert _get(port, "/three")[0] == "s3"
    assert _get(port, "/two")[0] == "s2"
    assert _get(port, "/x", "X-Srv: s1\r\n")[0] == "s1"
    assert _get(port, "/x", "X-Srv: s3\r\n")[0] == "s3"
    # s3 in maintenance: its rule is passed over, the next one (s2) matches /three
    assert stats_command(sock, "disable server be/s3") == "\n"
    assert _get(port, "/three")[0] == "s2"
    # ... unless force-persist holds
    assert _get(port, "/three", "X-Force: 1\r\n")[0] == "s3"
    # a built name naming no server ends the rules: balanced
    assert _get(port, "/x", "X-Srv: nosuch\r\n")[0] in ("s1", "s2")


def test_use_server_wins_over_the_cookie(proxy: Any, binary: str, http_backend: Any,  # noqa: F811
                                         syslog: Any, tmp_path: Any) -> None:
    log, _logport = syslog
    port, _sock, bes = _start(proxy, http_backend, syslog, tmp_path)
    name, head = _get(port, "/two", "Cookie: SRV=c1~app\r\n")
    assert name == "s2"
    # the prefix is still stripped, and no cookie is set for the use-server choice
    assert bes[1].requests[-1].header("cookie") == "SRV=app"
    assert b"set-cookie" not in head.lower()
    assert _cookie_flags(log.lines_with("GET /two", 1)[0]) == "UN"
    # without a rule the cookie decides (valid: V)
    assert _get(port, "/x", "Cookie: SRV=c1~app\r\n")[0] == "s1"
    assert _cookie_flags(log.lines_with("GET /x", 1)[0]) == "VN"


def test_force_and_ignore_persist(proxy: Any, binary: str, http_backend: Any, syslog: Any,  # noqa: F811
                                  tmp_path: Any) -> None:
    log, _logport = syslog
    port, sock, bes = _start(proxy, http_backend, syslog, tmp_path)
    assert stats_command(sock, "disable server be/s1") == "\n"
    # the cookie's server is in maintenance: balanced elsewhere (D), unless force-persist
    assert _get(port, "/a", "Cookie: SRV=c1~app\r\n")[0] in ("s2", "s3")
    assert _cookie_flags(log.lines_with("GET /a", 1)[0]) == "DN"
    assert _get(port, "/b", "Cookie: SRV=c1~app\r\nX-Force: 1\r\n")[0] == "s1"
    assert _cookie_flags(log.lines_with("GET /b", 1)[0]) == "DN"
    assert stats_command(sock, "enable server be/s1") == "\n"
    # ignore-persist: the cookie names s1, round robin decides; the cookie is left unused (U)
    names = {_get(port, "/i.png", "Cookie: SRV=c1~app\r\n")[0] for _ in range(6)}
    assert names == {"s1", "s2", "s3"}
    assert {_cookie_flags(ln) for ln in log.lines_with("GET /i.png", 6)} == {"UN"}


TCP_CFG = """
defaults
    mode tcp
    timeout client 5s
    timeout connect 5s
    timeout server 5s
listen li
    bind 127.0.0.1:{p1}
    bind 127.0.0.1:{p2}
    use-server b if { dst_port {p2} }
    server a 127.0.0.1:{ba}
    server b 127.0.0.1:{bb}
"""


def test_use_server_in_tcp_mode(proxy: Any, binary: str, tcp_backend: Any) -> None:  # noqa: F811
    p1, p2 = free_ports(2)
    ba, bb = tcp_backend("echo", banner=b"A"), tcp_backend("echo", banner=b"B")
    proxy.start(TCP_CFG, p1=p1, p2=p2, ba=ba.port, bb=bb.port)

    def banner(port: int) -> bytes:
        with socket.create_connection((LOCALHOST, port), timeout=10) as s:
            return s.recv(1)
    assert {banner(p2) for _ in range(4)} == {b"B"}
    assert {banner(p1) for _ in range(4)} == {b"A", b"B"}


def test_config_errors(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    head = ("defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
            "backend be\n    server s1 127.0.0.1:80\n")
    cases = {
        "    use-server s9 if TRUE\n": "backend 'be' : unable to find server 's9' referenced in a "
                                       "'use-server' rule.",
        "    use-server s1\n": "'use-server' requires either 'if' or 'unless' followed by a condition.",
        "    use-server\n": "'use-server' expects a server name.",
        "    force-persist\n": "'force-persist' requires either 'if' or 'unless' followed by a condition.",
        "    ignore-persist s1\n": "'ignore-persist' requires either 'if' or 'unless' followed by a "
                                  "condition.",
    }
    for line, message in cases.items():
        out = proxy.refuses(tmp_path / "u.cfg", head + line)
        assert message in out, (line, out)
