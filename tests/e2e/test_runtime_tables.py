"""The stats socket's stick-table commands: `show table`, `show table NAME [key K | data.T OP V]`,
`set table NAME key K data.T V`, `clear table NAME key K`, and 2.6's error texts, on entries
the workers made. Differential (the `binary` fixture): the same expectations against
/usr/sbin/haproxy; the entry's address and remaining expiry differ by nature and are masked.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture: pyhaproxy, then haproxy)
from tests.helpers.net import LOCALHOST, free_ports, wait_until

pytestmark = pytest.mark.timeout(60)

CFG = """
global
    nbthread 2
    stats socket {sock} level {level}
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
backend st
    stick-table type ip size 1k expire 30s store gpc0,http_req_rate(10s),conn_cur,http_req_cnt
backend names
    stick-table type string len 16 size 10 expire 30s store gpc0
frontend fe
    bind 127.0.0.1:{port}
    http-request track-sc0 src table st
    http-request track-sc1 req.hdr(x-user) table names
    http-request return status 200
"""


def cli(sock: Path, cmd: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        s.sendall(cmd.encode() + b"\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return re.sub(r"exp=\d+", "exp=E", re.sub(r"^0x[0-9a-f]+:", "0xP:", data.decode(), flags=re.M))


def user(port: int, name: str) -> None:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: x\r\nx-user: {name}\r\nConnection: close\r\n\r\n".encode())
        while s.recv(65536):
            pass


def test_show_set_clear_table(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    (port,) = free_ports(1)
    sock = tmp_path / "admin.sock"
    proxy.start(CFG, port=port, sock=sock, level="admin")
    user(port, "bob smith")
    user(port, "al=1")
    # the client has its answer before the proxy has read its close (the lingering close): the
    # session, and its hold on the entry (use, conn_cur), ends a moment later
    wait_until(lambda: " use=0 " in cli(sock, "show table st"), 10, 0.05, message="the sessions to end")
    assert cli(sock, "show table") == ("# table: names, type: string, size:10, used:2\n"
                                       "# table: st, type: ip, size:1024, used:1\n\n")
    assert cli(sock, "show table st") == (
        "# table: st, type: ip, size:1024, used:1\n"
        "0xP: key=127.0.0.1 use=0 exp=E gpc0=0 conn_cur=0 http_req_cnt=2 http_req_rate(10000)=2\n\n")
    assert cli(sock, "show table names") == ("# table: names, type: string, size:10, used:2\n"
                                             "0xP: key=al\\=1 use=0 exp=E gpc0=0\n"
                                             "0xP: key=bob\\ smith use=0 exp=E gpc0=0\n\n")
    assert cli(sock, "set table st key 10.1.2.3 data.gpc0 5 data.http_req_rate 7") == "\n"
    row = "0xP: key=10.1.2.3 use=0 exp=E gpc0=5 conn_cur=0 http_req_cnt=0 http_req_rate(10000)=7\n"
    head = "# table: st, type: ip, size:1024, used:2\n"
    assert cli(sock, "show table st key 10.1.2.3") == head + row + "\n"
    assert cli(sock, "show table st data.gpc0 gt 1") == head + row + "\n"
    assert cli(sock, "clear table st key 10.1.2.3") == "\n"
    assert "10.1.2.3" not in cli(sock, "show table st")
    # a value set on the socket is what the workers' fetches and rules see next
    assert cli(sock, "set table st key 127.0.0.1 data.gpc0 9") == "\n"
    assert "gpc0=9" in cli(sock, "show table st key 127.0.0.1")
    assert cli(sock, "clear table names") == "\n"
    assert cli(sock, "show table names") == "# table: names, type: string, size:10, used:0\n\n"


@pytest.mark.parametrize(("cmd", "answer"), [
    ("show table nope", "No such table\n"),
    ("show table st data.foo gt 1", "Filter entry #1: Unknown data type\n"),
    ("show table st data.gpc0 zz 1",
     "Filter entry #1: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n"),
    ("show table st data.gpc0 gt x", "Filter entry #1: Require a valid integer value to compare against\n"),
    ("set table st key 1.1.1.1 data.nope 3", "Unknown data type\n"),
    ("clear table",
     "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n"),
    ("show table st key", "Key value expected\n"),
    ("show table st bogus",
     "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n"),
    ("set table st data.gpc0 gt 1",
     "content-based lookup is only supported with the \"show\" and \"clear\" actions\n"),
])
def test_errors(proxy: Any, binary: str, tmp_path: Path, cmd: str, answer: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    sock = tmp_path / "admin.sock"
    proxy.start(CFG, port=port, sock=sock, level="admin")
    assert cli(sock, cmd) == answer + "\n"


def test_user_level_sees_no_entries(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    (port,) = free_ports(1)
    sock = tmp_path / "user.sock"
    proxy.start(CFG, port=port, sock=sock, level="user")
    user(port, "x")
    assert cli(sock, "show table st") == ("# table: st, type: ip, size:1024, used:1\n"
                                          "# contents not dumped due to insufficient privileges\n\n")
    for cmd in ("clear table st key 127.0.0.1", "set table st key 127.0.0.1 data.gpc0 1",
                "show table st key 127.0.0.1"):
        assert cli(sock, cmd) == "Permission denied\n\n", cmd
    assert cli(sock, "clear table st") == "\n"       # (nothing done at this level)
    assert "used:1" in cli(sock, "show table st")
