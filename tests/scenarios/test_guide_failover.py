"""The soft-stop examples of the architecture guide
(https://github.com/haproxy/haproxy/blob/v1.2.14/doc/architecture.txt, section 4) with
real health checks, at small intervals (`inter 300`) so state changes show within a second.

- 4.2  active servers checked on a second port ("port 81", here a small TCP forwarder to the real
       port, as the guide's iptables REDIRECT / haproxy-checks instance does), backups sharing their
       cookies checked on the real port. Stopping the forwarder takes webA out for new users while
       cookie-A users keep reaching the same server process through bkpA; stopping the server too
       redispatches them with a new cookie.
- 4.1  `option httpchk HEAD /running`: when /running answers 404 the server leaves the farm;
       `option persist` keeps sending it the users holding its cookie while it accepts
       connections; once it is stopped they are redispatched.
- backup servers take traffic only when every active server is down.

Servers are four HTTP servers on 127.0.1.11-14 (same port on each address); each answers its
own name as the body, so the client knows which server process answered.
"""

from __future__ import annotations

import contextlib
import select
import socket

import pytest

from tests.configs.guide import template
from tests.helpers import (
    HttpResponse,
    HttpServer,
    RecordedRequest,
    TcpServer,
    free_ports,
    recv_until_closed,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)

HOST = "127.0.0.1"
ADDRS = {"A": "127.0.1.11", "B": "127.0.1.12", "C": "127.0.1.13", "D": "127.0.1.14"}
TIMEOUTS = """
       contimeout 5000
       clitimeout 30000
       srvtimeout 30000"""


class Forwarder(TcpServer):
    """A TCP port forwarder (the guide's "port 81 redirected to local port 80")."""

    def __init__(self, host: str, port: int, target: tuple[str, int]) -> None:
        super().__init__(host, port, f"fwd-{host}:{port}")
        self.target = target

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        with socket.create_connection(self.target, timeout=10) as up:
            open_ends = {conn: up, up: conn}
            while open_ends and not self._stop.is_set():
                ready, _, _ = select.select(list(open_ends), [], [], 0.2)
                for src in ready:
                    data = src.recv(65536)
                    dst = open_ends[src]
                    if data:
                        dst.sendall(data)
                    else:
                        with contextlib.suppress(OSError):
                            dst.shutdown(socket.SHUT_WR)
                        del open_ends[src]


@pytest.fixture
def servers(http_backend):
    """HTTP servers A..D on 127.0.1.11-14 (port p80) and forwarders p81 -> p80 on each address."""
    p80, p81 = free_ports(2, ADDRS["A"], also_free_on=list(ADDRS.values())[1:])
    web = {n: http_backend(host=a, port=p80, name=n) for n, a in ADDRS.items()}
    fwd = {n: Forwarder(a, p81, (a, p80)) for n, a in ADDRS.items()}
    for f in fwd.values():
        f.start()
    try:
        yield web, fwd, p80, p81
    finally:
        for f in fwd.values():
            f.stop()


def request(port: int, cookie: str | None = None, path: str = "/app") -> tuple[int, str, list[str]]:
    """One HTTP/1.0 GET; returns (status, body, Set-Cookie values)."""
    hdrs = f"Cookie: {cookie}\r\n" if cookie else ""
    with socket.create_connection((HOST, port), timeout=20) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: farm\r\n{hdrs}\r\n".encode())
        raw = recv_until_closed(s, timeout=20)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    cookies = [ln.split(":", 1)[1].strip() for ln in lines[1:] if ln.lower().startswith("set-cookie:")]
    return status, body.decode("latin-1").strip(), cookies


def new_users(port: int, n: int) -> list[str]:
    """Which server process answered each of n cookie-less requests (all must succeed)."""
    out = []
    for _ in range(n):
        status, body, cookies = request(port)
        assert status == 200, f"new user got {status}: {body}"
        assert cookies == [f"SERVERID={body}; path=/"]
        out.append(body)
    return out


def app_requests(server: HttpServer) -> list[RecordedRequest]:
    """Requests from clients (GET), not the proxy's health checks (HEAD)."""
    with server.lock:
        return [r for r in server.requests if r.method != "HEAD"]


# ---------------------------------------------------------------------------------------------
# 4.2 Soft-stop using backup servers

GUIDE_4_2 = template(583, "p80", "inter 300 rise 1 fall 1") + TIMEOUTS


def start(proxy, cfg: str, p80: int, p81: int = 0) -> int:
    port = free_ports(1)[0]
    proxy.start(cfg, host=HOST, port=port, p80=p80, p81=p81, a=ADDRS["A"], b=ADDRS["B"],
                c=ADDRS["C"], d=ADDRS["D"])
    return port


def test_4_2_soft_stop_through_backup_servers(proxy, servers):
    web, fwd, p80, p81 = servers
    port = start(proxy, GUIDE_4_2, p80, p81)
    # the checks on port 81 reach the real servers through the forwarders
    wait_until(lambda: all(f.accepted > 0 for f in fwd.values()), 15, message="checks on port 81")
    assert sorted(new_users(port, 8)) == sorted("ABCD" * 2)

    # "stop it from responding on port 81": webA fails its check, bkpA stays up
    fwd["A"].stop()
    wait_until(lambda: "A" not in new_users(port, 4), 15, 0.2, message="webA to leave the farm")
    later = new_users(port, 12)
    assert "A" not in later and sorted(set(later)) == ["B", "C", "D"]
    # existing users with the A cookie still reach server A, through bkpA, without noticing
    before = len(app_requests(web["A"]))
    for _ in range(5):
        status, body, cookies = request(port, "SERVERID=A; lang=en", "/mine")
        assert (status, body, cookies) == (200, "A", [])
    mine = app_requests(web["A"])[before:]
    assert [r.target for r in mine] == ["/mine"] * 5
    assert all(r.header_values("Cookie") == ["lang=en"] for r in mine)

    # "once you see that the server does not receive any traffic, simply stop it": bkpA fails too
    # and the remaining A users are redispatched to a live server with a new cookie
    web["A"].stop()

    def redispatched() -> bool:
        status, body, cookies = request(port, "SERVERID=A", "/moved")
        return status == 200 and body != "A" and cookies == [f"SERVERID={body}; path=/"]

    wait_until(redispatched, 15, 0.2, message="cookie-A users to be redispatched")
    for _ in range(6):
        status, body, cookies = request(port, "SERVERID=A", "/moved")
        assert status == 200 and body in "BCD", (status, body)
        assert cookies == [f"SERVERID={body}; path=/"]
    # other users are not disturbed
    for name in "BCD":
        assert request(port, f"SERVERID={name}")[:3] == (200, name, [])

    # the server comes back on both ports: new users reach it again
    web["A"].start()
    fwd["A"].start()
    wait_until(lambda: "A" in new_users(port, 4), 15, 0.2, message="webA to come back")


def test_backup_used_only_when_all_active_servers_are_down(proxy, servers):
    web, _, p80, _ = servers
    cfg = """
    listen {host}:{port}
       mode http
       balance roundrobin
       cookie SERVERID insert indirect
       option httpchk HEAD / HTTP/1.0
       server webA {a}:{p80} cookie A check inter 300 rise 1 fall 1
       server webB {b}:{p80} cookie B check inter 300 rise 1 fall 1
       server bkpC {c}:{p80} cookie C check inter 300 rise 1 fall 1 backup
       server bkpD {d}:{p80} cookie D check inter 300 rise 1 fall 1 backup
    """ + TIMEOUTS
    port = start(proxy, cfg, p80)
    wait_until(lambda: all(s.request_count() > 0 for s in web.values()), 15,
               message="first checks of all four servers")
    assert sorted(new_users(port, 10)) == sorted("AB" * 5)

    web["A"].stop()
    wait_until(lambda: set(new_users(port, 4)) == {"B"}, 15, 0.2, message="webA down")
    assert set(new_users(port, 8)) == {"B"}, "a backup was used while webB was up"

    web["B"].stop()
    # all active servers down: the first backup takes the traffic (no `allbackups`)
    wait_until(lambda: set(new_users(port, 4)) == {"C"}, 15, 0.2, message="backup in use")
    assert set(new_users(port, 8)) == {"C"}

    web["A"].start()
    wait_until(lambda: set(new_users(port, 4)) == {"A"}, 15, 0.2, message="webA back")
    assert set(new_users(port, 6)) == {"A"}, "backup still used while an active server is up"
    assert app_requests(web["D"]) == []


# ---------------------------------------------------------------------------------------------
# 4.1 Soft-stop using a file on the servers

GUIDE_4_1 = """
    listen {host}:{port}
       mode http
       balance roundrobin
       cookie SERVERID insert indirect
       option httpchk HEAD /running HTTP/1.0
       server webA {a}:{p80} cookie A check inter 300 rise 2 fall 2
       server webB {b}:{p80} cookie B check inter 300 rise 2 fall 2
       server webC {c}:{p80} cookie C check inter 300 rise 2 fall 2
       server webD {d}:{p80} cookie D check inter 300 rise 2 fall 2
       option persist
       redispatch
       contimeout 5000
       clitimeout 30000
       srvtimeout 30000
"""


def test_4_1_soft_stop_with_running_file_and_persist(proxy, servers):
    web, _, p80, _ = servers
    running = {n: True for n in web}

    for name, srv in web.items():
        def responder(req: RecordedRequest, name: str = name) -> HttpResponse:
            if req.target == "/running" and not running[name]:
                return HttpResponse(status=404, body=b"no such file\n")
            return HttpResponse(headers=[("X-Server", name)], body=f"{name}\n".encode())
        srv.responder = responder

    port = start(proxy, GUIDE_4_1, p80)
    wait_until(lambda: all(s.request_count() >= 2 for s in web.values()), 15,
               message="checks of /running")
    assert sorted(new_users(port, 8)) == sorted("ABCD" * 2)

    # rm -f /home/httpd/www/running on webA: it fails its checks and gets no new user
    running["A"] = False
    wait_until(lambda: "A" not in new_users(port, 4), 15, 0.2, message="webA to leave the farm")
    later = new_users(port, 12)
    assert "A" not in later and sorted(set(later)) == ["B", "C", "D"]
    # ... but "persist": users holding its cookie still reach it while it accepts connections
    before = len(app_requests(web["A"]))
    for _ in range(5):
        assert request(port, "SERVERID=A", "/finish") == (200, "A", [])
    assert [r.target for r in app_requests(web["A"])[before:]] == ["/finish"] * 5

    # /etc/init.d/httpd stop: the connection fails and "redispatch" rebalances the user
    web["A"].stop()
    for _ in range(4):
        status, body, cookies = request(port, "SERVERID=A", "/after-stop")
        assert status == 200 and body in "BCD", (status, body)
        assert cookies == [f"SERVERID={body}; path=/"]

    # touch /home/httpd/www/running after a restart: webA is used again
    running["A"] = True
    web["A"].start()
    wait_until(lambda: "A" in new_users(port, 4), 15, 0.2, message="webA back in the farm")
