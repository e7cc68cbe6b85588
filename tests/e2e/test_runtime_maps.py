"""Maps changed at run time on the stats socket (`show map`, `add map`, `set map`, `del map`,
`clear map`), seen by every worker at once: routing by `use_backend %[req.hdr(host),lower,map(F,be1)]`,
a `map_beg` header and a `map_ip` header follow each change.

Differential: each test runs against pyhaproxy and /usr/sbin/haproxy (the `binary` fixture) with
the same configuration, commands and expectations. Entry references (`0x...` in `show map`) are
addresses in haproxy: only their form is compared.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture: pyhaproxy, then haproxy)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(90)

CFG = """
global
    stats socket {sock} level admin
    stats socket {usersock} level user
    nbthread 2
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    use_backend %[req.hdr(host),lower,map({hosts},be1)]
    http-request set-header X-Beg %[req.hdr(host),map_beg({hosts},none)]
    http-request set-header X-Net %[src,map_ip({ips},none)]
backend be1
    server s 127.0.0.1:{p1}
backend be2
    server s 127.0.0.1:{p2}
"""


def cli(sock: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(sock))
        s.sendall(command.encode() + b"\n")
        out = b""
        while got := s.recv(65536):
            out += got
    return out.decode()


def get(port: int, host: str) -> str:
    """The body of the answer (the backend's name) to one request on a new connection."""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.partition(b"\r\n\r\n")[2].decode().strip()


@pytest.fixture
def farm(proxy: Any, binary: str, http_backend: Callable[..., Any],  # noqa: F811
         tmp_path: Path) -> dict[str, Any]:
    (port,) = free_ports(1)
    b1, b2 = http_backend(name="B1"), http_backend(name="B2")
    hosts = tmp_path / "hosts.map"
    hosts.write_text("# host -> backend\na.example be1\nb.example be2\n")
    ips = tmp_path / "ips.map"
    ips.write_text("10.0.0.0/8 ten\n")
    sock, usersock = tmp_path / "admin.sock", tmp_path / "user.sock"
    px = proxy.start(CFG, port=port, sock=sock, usersock=usersock, hosts=hosts, ips=ips,
                     p1=b1.port, p2=b2.port)
    return {"port": port, "sock": sock, "usersock": usersock, "hosts": hosts, "ips": ips,
            "b1": b1, "b2": b2, "px": px}


def seen(backend: Any, header: str) -> str:
    req = backend.requests[-1]
    return next(v for k, v in req.headers if k.lower() == header.lower())


def route(farm: dict[str, Any], host: str, n: int = 6) -> set[str]:
    """The backends n requests for host reach (each on its own connection: both workers)."""
    return {get(farm["port"], host) for _ in range(n)}


def test_show_map_lists_the_files_and_their_entries(farm: dict[str, Any]) -> None:
    listing = cli(farm["sock"], "show map")
    lines = listing.splitlines()
    assert lines[0] == "# id (file) description"
    hosts, ips = str(farm["hosts"]), str(farm["ips"])
    assert re.fullmatch(
        rf"0 \({re.escape(hosts)}\) pattern loaded from file '{re.escape(hosts)}' used by map at file "
        r"'[^']+' line 13, by map at file '[^']+' line 12\. curr_ver=0 next_ver=0 entry_cnt=4", lines[1])
    assert re.fullmatch(
        rf"1 \({re.escape(ips)}\) pattern loaded from file '{re.escape(ips)}' used by map at file "
        r"'[^']+' line 14\. curr_ver=0 next_ver=0 entry_cnt=1", lines[2])
    body = cli(farm["sock"], f"show map {hosts}")
    assert [ln.split(" ", 1)[1] for ln in body.splitlines() if ln] == ["a.example be1", "b.example be2"]
    assert all(re.fullmatch(r"0x[0-9a-f]+ \S+ \S+", ln) for ln in body.splitlines() if ln)
    assert cli(farm["sock"], "show map #0") == body


def test_add_set_del_clear_reach_every_worker(farm: dict[str, Any]) -> None:
    sock, hosts = farm["sock"], str(farm["hosts"])
    assert route(farm, "a.example") == {"B1"} and route(farm, "b.example") == {"B2"}
    assert route(farm, "c.example") == {"B1"}  # the default
    assert cli(sock, f"add map {hosts} c.example be2") == "\n"
    assert route(farm, "c.example") == {"B2"}
    assert seen(farm["b2"], "X-Beg") == "be2"   # the map_beg use of the same file changed too
    assert cli(sock, f"set map {hosts} a.example be2") == "\n"
    assert route(farm, "a.example") == {"B2"}
    assert cli(sock, "del map #0 b.example") == "\n"
    assert route(farm, "b.example") == {"B1"}
    body = cli(sock, "show map #0")
    assert [ln.split(" ", 1)[1] for ln in body.splitlines() if ln] == ["a.example be2", "c.example be2"]
    assert route(farm, "c.example") == {"B2"}
    # an entry by its reference
    ref = body.split()[0]
    assert cli(sock, f"set map #0 #{ref} be1") == "\n"
    assert cli(sock, "show map #0").splitlines()[0] == f"{ref} a.example be1"
    assert cli(sock, "set map #0 #0x1234 be1") == "key or pattern not found.\n\n"
    assert cli(sock, f"del map #0 #{ref}") == "\n"
    assert route(farm, "a.example") == {"B1"}
    assert cli(sock, "clear map #0") == "\n"
    assert cli(sock, "show map #0") == "\n"
    assert route(farm, "a.example") == {"B1"} and route(farm, "c.example") == {"B1"}
    assert seen(farm["b1"], "X-Beg") == "none"


def test_map_ip_entries_added_at_run_time(farm: dict[str, Any]) -> None:
    sock = farm["sock"]
    get(farm["port"], "a.example")
    assert seen(farm["b1"], "X-Net") == "none"
    assert cli(sock, "add map #1 127.0.0.0/8 loopback") == "\n"
    get(farm["port"], "a.example")
    assert seen(farm["b1"], "X-Net") == "loopback"
    assert cli(sock, "add map #1 notanip x") == "'notanip' is not a valid IPv4 or IPv6 address.\n\n"


def test_errors_and_levels(farm: dict[str, Any]) -> None:
    sock, user = farm["sock"], farm["usersock"]
    assert cli(sock, "show map /nope") == "Unknown map identifier. Please use #<id> or <file>.\n\n"
    assert cli(sock, "add map #7 k v") == "Unknown map identifier. Please use #<id> or <file>.\n\n"
    assert cli(sock, "add map #0 k") == ("'add map' expects three parameters (map identifier, key and "
                                         "value) or one parameter (map identifier) and a payload\n\n")
    assert cli(sock, "set map #0 k") == ("'set map' expects three parameters: map identifier, key "
                                         "and value.\n\n")
    assert cli(sock, "set map #0 zz v") == "entry not found.\n\n"
    assert cli(sock, "del map #0") == "This command expects two parameters: map identifier and key.\n\n"
    assert cli(sock, "del map #0 zz") == "Key not found.\n\n"
    assert cli(sock, "clear map") == "Missing map identifier.\n\n"
    # 2.6 takes map changes at every level of the stats socket, `user` included
    assert cli(user, "add map #0 k be2") == "\n"
    assert cli(user, "show map #0").count("\n") == 4
    assert route(farm, "k") == {"B2"}
