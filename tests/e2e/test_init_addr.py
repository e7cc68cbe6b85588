"""`init-addr` (2.6): how a server written with a name gets its start-up address, against
pyhaproxy and /usr/sbin/haproxy (2.6). The methods are tried in order: `last` (the address of a
server-state file), `libc` (the resolver), an IP address, `none` (no address: the server starts
in maintenance, `MAINT (resolution)`, admin state RMAINT 32); 2.6's default is "last,libc".
`show servers state` names the server's FQDN."""

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
BAD = "nonexistent.invalid"     # (.invalid never resolves: RFC 6761)

CFG = """
global
    stats socket {sock} level admin
    {state_file}
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    {load_state}
frontend fe
    bind 127.0.0.1:{port}
    default_backend b
backend b
    {default_server}
    server s1 {s1}
"""


class Answering:
    """An HTTP server answering every request with its own address in the body."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.host = host
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.recv(65536)
                body = self.host.encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                          % (len(body), body))


def _get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := c.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].split(b" ")[1] + b" " + body


def _server_row(sock: Path) -> tuple[list[str], list[str]]:
    stat = [r.split(",") for r in stats_command(sock, "show stat").splitlines() if r.startswith("b,s1,")][0]
    state = [ln.split() for ln in stats_command(sock, "show servers state b").splitlines()
             if ln.startswith("3 b ")][0]
    return stat, state


def _start(proxy: Any, tmp_path: Path, port: int, s1: str, default_server: str = "",
           state: str | None = None) -> Path:
    sock = tmp_path / "admin.sock"
    state_file = load_state = ""
    if state is not None:
        (tmp_path / "state").write_text(state)
        state_file = f"server-state-file {tmp_path / 'state'}"
        load_state = "load-server-state-from-file global"
    proxy.start(CFG, sock=sock, port=port, s1=s1, default_server=default_server, state_file=state_file,
                load_state=load_state)
    wait_until(sock.exists, 10, message="the stats socket")
    return sock


@pytest.mark.parametrize("where", ["server", "default-server"])
def test_none_starts_in_resolution_maintenance(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                               where: str) -> None:
    (port, sport) = free_ports(2)
    opt = "init-addr last,libc,none"
    sock = _start(proxy, tmp_path, port, f"{BAD}:{sport} {opt if where == 'server' else ''}",
                  default_server=f"default-server {opt}" if where == "default-server" else "")
    stat, state = _server_row(sock)
    assert stat[17] == "MAINT (resolution)" and stat[73] == ""        # status, addr
    # srv_addr, srv_op_state, srv_admin_state (RMAINT), srv_fqdn, srv_port
    assert (state[4], state[5], state[6], state[17], state[18]) == ("-", "0", "32", BAD, str(sport))
    assert _get(port).startswith(b"503 ")


def test_an_address_as_the_fallback(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    (port, sport) = free_ports(2)
    srv = Answering("127.0.0.3", sport)
    sock = _start(proxy, tmp_path, port, f"{BAD}:{sport} init-addr libc,127.0.0.3")
    assert _get(port) == b"200 127.0.0.3"
    stat, state = _server_row(sock)
    assert stat[73] == f"127.0.0.3:{sport}" and (state[4], state[6], state[17]) == ("127.0.0.3", "0", BAD)
    srv.sock.close()


def test_a_name_that_resolves_shows_its_fqdn(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    (port, sport) = free_ports(2)
    srv = Answering("127.0.0.1", sport)
    sock = _start(proxy, tmp_path, port, f"localhost:{sport} init-addr none,libc")
    # `none` first: no address at all, whatever the resolver says
    assert _server_row(sock)[0][17] == "MAINT (resolution)"
    (port2,) = free_ports(1)
    sock2 = tmp_path / "b" / "admin.sock"
    sock2.parent.mkdir()
    _start(proxy, tmp_path / "b", port2, f"localhost:{sport}")
    assert _get(port2) == b"200 127.0.0.1"
    state = _server_row(sock2)[1]
    assert (state[4], state[17]) == ("127.0.0.1", "localhost")
    srv.sock.close()


STATE = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight \
srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state \
srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl \
srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 b 1 s1 127.0.0.4 2 0 1 1 10 1 0 0 0 0 0 0 {fqdn} {port} - 0 0 - - 0
"""


@pytest.mark.parametrize("s1_name, methods", [("localhost", ""), (BAD, "init-addr last,none"),
                                              ("localhost", "init-addr libc,last")])
def test_last_takes_the_state_files_address(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                            s1_name: str, methods: str) -> None:
    """2.6's default "last,libc": a server-state file's address wins over the resolver; after
    `libc` it is only a fallback."""
    (port, sport) = free_ports(2)
    servers = [Answering("127.0.0.4", sport), Answering("127.0.0.1", sport)]
    _start(proxy, tmp_path, port, f"{s1_name}:{sport} {methods}",
           state=STATE.format(fqdn=s1_name, port=sport))
    want = b"200 127.0.0.1" if methods.startswith("init-addr libc") else b"200 127.0.0.4"
    assert _get(port) == want
    for s in servers:
        s.sock.close()


ERRORS = {
    f"{BAD}:80": f"could not resolve address '{BAD}'",
    f"{BAD}:80 init-addr last": f"no method found to resolve address '{BAD}'",
    "127.0.0.1:80 init-addr dns": "'init-addr' : unknown init-addr method 'dns', supported methods are "
                                  "'libc', 'last', 'none'.",
    "127.0.0.1:80 init-addr " + ",".join(["libc"] * 11):
        "'init-addr' : too many init-addr methods when trying to add 'libc'",
    "127.0.0.1:80 init-addr 10.0.0.1,10.0.0.2": "'init-addr' : initial address already specified, "
                                                "cannot add '10.0.0.2'.",
}


def test_refusals(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    head = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
    for line, message in ERRORS.items():
        out = proxy.refuses(tmp_path / "i.cfg", head + f"backend b\n    server s1 {line}\n")
        assert message in out, (line, out)
