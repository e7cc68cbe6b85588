"""`on-marked-down shutdown-sessions` and `on-marked-up shutdown-backup-sessions` (2.6),
against pyhaproxy and /usr/sbin/haproxy: when its checks put a server down (or the operator puts
it in maintenance) its sessions are cut, logged with the termination cause 'D'; when an active
server comes up, the sessions on the proxy's backup servers are cut, logged 'U'. Without the
keyword a session outlives its server's state."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports, wait_until
from tests.helpers.net import stats_command

pytestmark = pytest.mark.timeout(60)
HOST = "127.0.0.1"

CFG = """
global
    log 127.0.0.1:{logport} local0
    stats socket {sock} level admin
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s
listen l
    bind 127.0.0.1:{port}
    server s1 127.0.0.1:{p1} check inter 200 fall 1 rise 1 {opt1}
    server s2 127.0.0.1:{p2} check inter 200 fall 1 rise 1 backup
"""


class Echo:
    """An echo server whose listener can be closed (its checks then fail) and opened again,
    while the connections it accepted keep echoing."""

    def __init__(self, port: int, listening: bool = True) -> None:
        self.port = port
        self.lsock: socket.socket | None = None
        if listening:
            self.listen()

    def listen(self) -> None:
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((HOST, self.port))
        lsock.listen(16)
        self.lsock = lsock
        threading.Thread(target=self._accept, args=(lsock,), daemon=True).start()

    def close(self) -> None:
        if self.lsock is not None:
            # (shutdown wakes the accepting thread; a close alone would leave it listening)
            self.lsock.shutdown(socket.SHUT_RDWR)
            self.lsock.close()
            self.lsock = None

    def _accept(self, lsock: socket.socket) -> None:
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c: socket.socket) -> None:
        with c:
            try:
                while data := c.recv(4096):
                    c.sendall(data)
            except OSError:
                pass


def _status(sock: Path, name: str) -> str:
    for row in stats_command(sock, "show stat").splitlines():
        f = row.split(",")
        if len(f) > 17 and f[0] == "l" and f[1] == name:
            return f[17]
    return ""


def _echoes(c: socket.socket) -> bool:
    c.sendall(b"ping")
    return c.recv(10) == b"ping"


def _start(proxy: Any, tmp_path: Path, syslog: Any, opt1: str) -> tuple[Path, int, int, int]:
    _log, logport = syslog
    port, p1, p2 = free_ports(3)
    sock = tmp_path / "admin.sock"
    proxy.start(CFG, logport=logport, sock=sock, port=port, p1=p1, p2=p2, opt1=opt1)
    wait_until(sock.exists, 10, message="the stats socket")
    return sock, port, p1, p2


@pytest.mark.parametrize("how", ["check", "maint"])
@pytest.mark.parametrize("opt1", ["on-marked-down shutdown-sessions", ""])
def test_sessions_cut_when_the_server_goes_down(proxy: Any, binary: str, syslog: Any,  # noqa: F811
                                                tmp_path: Path, opt1: str, how: str) -> None:
    log, _ = syslog
    sock, port, p1, p2 = _start(proxy, tmp_path, syslog, opt1)
    s1, s2 = Echo(p1), Echo(p2)
    wait_until(lambda: _status(sock, "s1").startswith("UP"), 10, message="s1 UP")
    c = socket.create_connection((HOST, port), timeout=10)
    assert _echoes(c)
    if how == "check":
        s1.close()          # its next check fails: DOWN
        wait_until(lambda: _status(sock, "s1").startswith("DOWN"), 10, message="s1 DOWN")
    else:
        assert stats_command(sock, "disable server l/s1").strip() == ""
    if opt1:
        assert c.recv(10) == b""
        line = log.wait_for(" l l/s1 ")
        assert line.split(" l l/s1 ", 1)[1].split()[2] == "D-", line     # termination state
    else:
        assert _echoes(c)       # the session outlives its server's state
    c.close()
    s1.close()
    s2.close()


def test_backup_sessions_cut_when_an_active_server_comes_up(proxy: Any, binary: str,  # noqa: F811
                                                           syslog: Any, tmp_path: Path) -> None:
    log, _ = syslog
    sock, port, p1, p2 = _start(proxy, tmp_path, syslog, "on-marked-up shutdown-backup-sessions")
    s1, s2 = Echo(p1, listening=False), Echo(p2)
    wait_until(lambda: _status(sock, "s1").startswith("DOWN") and _status(sock, "s2").startswith("UP"),
               10, message="s1 DOWN, s2 UP")
    c = socket.create_connection((HOST, port), timeout=10)
    assert _echoes(c)           # on the backup
    s1.listen()
    wait_until(lambda: _status(sock, "s1").startswith("UP"), 10, message="s1 UP")
    assert c.recv(10) == b""
    line = log.wait_for(" l l/s2 ")
    assert line.split(" l l/s2 ", 1)[1].split()[2] == "U-", line
    c.close()
    s1.close()
    s2.close()


def test_refusals(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    head = "defaults\n    mode tcp\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
    for opt, message in (("on-marked-down shutdown", "'on-marked-down' expects 'shutdown-sessions' but got "
                                                     "'shutdown'"),
                         ("on-marked-up x", "'on-marked-up' expects 'shutdown-backup-sessions' but got 'x'")):
        out = proxy.refuses(tmp_path / "m.cfg", head + f"backend b\n    server s1 127.0.0.1:80 {opt}\n")
        assert message in out, (opt, out)
