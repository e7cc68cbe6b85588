"""Section 5 of the architecture guide (multi-site load balancing with local preference) on
loopback: office proxies, site directors and local load balancers chained, 8 pyhaproxy instances.

Every box of the guide's diagram gets its own loopback address, the guide's last octets kept,
and the same two ports everywhere standing for 80 and 81:

    office users 192.168.1.10 / .3.10   -> 127.168.1.10 / 127.168.3.10
    OP1 192.168.1.1, OP3 192.168.3.1    -> 127.168.1.1, 127.168.3.1
    SD1 10.1.1.1, SD2 10.2.1.1          -> 127.1.1.1, 127.2.1.1     (site-1 local user 127.1.1.100)
    S1L1/S1L2 10.1.1.11/.12, S2Lx       -> 127.1.1.11/.12, 127.2.1.11/.12
    W11-W14 10.1.2.1-4, W21-W24         -> 127.1.2.1-4, 127.2.2.1-4

The configurations are the guide's (5.4.2-5.4.4: cookie names and modes, backup lines, `redispatch`,
`option forwardfor`, `option httpclose`, `grace`, the port-81 tcp forwarder of each load balancer),
with three adaptations, all for the loopback test bed:
  - check intervals divided so that failures show in seconds: by 5 for the load balancers
    (2000/4000 -> 400/800) and the site directors (4000/8000 -> 800/1600), by 10 for the office
    proxies (30000/60000 -> 3000/6000); rise/fall stay the defaults (2/3). The order of the guide
    is kept: a site director notices a dead load balancer (3 x 800 ms) well before an office
    proxy could count three failed checks of that site director (3 x 3000 ms) while the director
    answers 503 for a moment, which would otherwise take a healthy site away from the office;
  - a `source <own address>` line in each instance: on a real network each box's packets carry
    its own address, on loopback the kernel would give 127.0.0.1 to all, and the X-Forwarded-For
    headers the guide relies on ("so that the application server knows which local user or
    remote site accesses it") would say nothing;
  - a `defaults` section with timeouts and retries, which the guide leaves out.
Each application server answers on "port 80" and has a "port 81" that answers only while its
port 80 does, which is what the guide's redirection of port 81 to port 80 does (section 4.2). The
application issues its own JSESSIONID for a session it does not know (the load balancers prefix it
with the server's name) and reports its name, the X-Forwarded-For headers it received and the
address of the load balancer that connected to it, so each answer shows the whole path:
  via SD1 to S1L1:  X-Forwarded-For = [OP1, SD1], load balancer = S1L1.

Flows (5.2, 5.4, 5.5): a new user gets a site (SITE cookie) and a server (prefixed JSESSIONID) and
keeps both; the second LB of a site only gets new users; an LB dying moves its users to the other
LB of the site, same server; when both LBs of a site are down the site director sends users to the
other site (SITE2), the office then goes straight to SD2, and users stay there when the site comes
back; when OP1 cannot reach SD1 it uses SD2, which honours SITE1 and reaches site 1's LBs, so the
session survives; when a server dies its users are sent to another server of the same site.
"""

from __future__ import annotations

import itertools
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.helpers import HttpResponse, RecordedRequest, free_ports, recv_until_closed, wait_until

pytestmark = pytest.mark.timeout(150)

OP = {1: "127.168.1.1", 3: "127.168.3.1"}
USER = {1: "127.168.1.10", 3: "127.168.3.10"}
LOCAL_USER_SITE1 = "127.1.1.100"
SD = {1: "127.1.1.1", 2: "127.2.1.1"}
LB = {(s, n): f"127.{s}.1.1{n}" for s in (1, 2) for n in (1, 2)}
WEB = {(s, w): f"127.{s}.2.{w}" for s in (1, 2) for w in (1, 2, 3, 4)}
ALL_ADDRESSES = [*OP.values(), *SD.values(), *LB.values(), *WEB.values()]

DEFAULTS = """
    defaults
        contimeout 3000
        clitimeout 20000
        srvtimeout 20000
        retries 3
"""

# 5.4.2, office proxies (OP1 and OP2 have the same configuration; OP3 prefers site 2)
OP_CFG = {
    1: DEFAULTS + """
    listen {op1}:{p80}
       mode http
       balance roundrobin
       redispatch
       cookie SITE
       option httpchk HEAD / HTTP/1.0
       server SD1 {sd1}:{p80} cookie SITE1 check inter 3000
       server SD2 {sd2}:{p80} cookie SITE2 check inter 6000 backup
       source {op1}
    """,
    3: DEFAULTS + """
    listen {op3}:{p80}
       mode http
       balance roundrobin
       redispatch
       cookie SITE
       option httpchk HEAD / HTTP/1.0
       server SD2 {sd2}:{p80} cookie SITE2 check inter 3000
       server SD1 {sd1}:{p80} cookie SITE1 check inter 6000 backup
       source {op3}
    """,
}

# 5.4.3, site directors
SD_CFG = {
    1: DEFAULTS + """
    listen {sd1}:{p80}
       mode http
       balance roundrobin
       redispatch
       cookie SITE insert indirect
       option httpchk HEAD / HTTP/1.0
       option forwardfor
       server S1L1 {s1l1}:{p80} cookie SITE1 check port {p81} inter 800
       server S1L2 {s1l2}:{p80} cookie SITE1 check port {p81} inter 800
       server S2L1 {s2l1}:{p80} cookie SITE2 check port {p81} inter 1600 backup
       server S2L2 {s2l2}:{p80} cookie SITE2 check port {p81} inter 1600 backup
       source {sd1}
    """,
    2: DEFAULTS + """
    listen {sd2}:{p80}
       mode http
       balance roundrobin
       redispatch
       cookie SITE insert indirect
       option httpchk HEAD / HTTP/1.0
       option forwardfor
       server S2L1 {s2l1}:{p80} cookie SITE2 check port {p81} inter 800
       server S2L2 {s2l2}:{p80} cookie SITE2 check port {p81} inter 800
       server S1L1 {s1l1}:{p80} cookie SITE1 check port {p81} inter 1600 backup
       server S1L2 {s1l2}:{p80} cookie SITE1 check port {p81} inter 1600 backup
       source {sd2}
    """,
}

# 5.4.4, local load balancers S{s}L{n}
LB_CFG = DEFAULTS + """
    listen {lb}:{p80}
       grace 20000  # don't kill us until 20 seconds have elapsed
       mode http
       balance roundrobin
       cookie JSESSIONID prefix
       option httpclose
       option forwardfor
       option httpchk HEAD / HTTP/1.0
       server W{s}1 {w1}:{p80} cookie W{s}1 check port {p81} inter 400
       server W{s}2 {w2}:{p80} cookie W{s}2 check port {p81} inter 400
       server W{s}3 {w3}:{p80} cookie W{s}3 check port {p81} inter 400
       server W{s}4 {w4}:{p80} cookie W{s}4 check port {p81} inter 400

       server B{s}1 {w1}:{p80} cookie W{s}1 check port {p80} inter 800 backup
       server B{s}2 {w2}:{p80} cookie W{s}2 check port {p80} inter 800 backup
       server B{s}3 {w3}:{p80} cookie W{s}3 check port {p80} inter 800 backup
       server B{s}4 {w4}:{p80} cookie W{s}4 check port {p80} inter 800 backup
       source {lb}

    listen {lb}:{p81}
       mode tcp
       dispatch {lb}:{p80}
       source {lb}
"""


def cookie_pairs(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        for part in v.split(";"):
            name, sep, val = part.strip().partition("=")
            if sep:
                out[name] = val
    return out


class App:
    """Application server W{s}{w}: its port 80, and a port 81 that answers only while port 80 does."""

    def __init__(self, http_backend: Callable[..., Any], name: str, host: str, p80: int, p81: int) -> None:
        self.name = name
        self.host = host
        self.sessions: set[str] = set()
        self._ids = itertools.count(1)
        self.web = http_backend(host=host, port=p80, name=name, responder=self.respond)
        self.port81 = http_backend(host=host, port=p81, name=f"{name}:81", responder=self.respond81)

    def respond(self, req: RecordedRequest) -> HttpResponse:
        headers = [("X-Server", self.name), ("X-LB", req.peer[0]),
                   ("X-XFF", ",".join(req.header_values("X-Forwarded-For")))]
        if req.method == "GET":
            sid = cookie_pairs(req.header_values("Cookie")).get("JSESSIONID")
            if sid not in self.sessions:  # a session of another server (or none): a new one
                sid = f"{self.name.lower()}-{next(self._ids)}"
                self.sessions.add(sid)
                headers.append(("Set-Cookie", f"JSESSIONID={sid}; path=/"))
        return HttpResponse(headers=headers, body=f"{self.name}\n".encode(), version="HTTP/1.0")

    def respond81(self, req: RecordedRequest) -> HttpResponse:
        if not self.web.running:
            return HttpResponse(raw=b"", close=True)  # the redirection leads nowhere
        return self.respond(req)

    def app_requests(self) -> list[RecordedRequest]:
        with self.web.lock:
            return [r for r in self.web.requests if r.method == "GET"]

    def stop(self) -> None:
        self.web.stop()

    def start(self) -> None:
        self.web.start()


@dataclass
class Visit:
    """One answer as the user saw it, with the path it took."""

    status: int
    server: str
    xff: list[str]
    lb: str
    set_cookies: dict[str, str] = field(default_factory=dict)

    @property
    def sd(self) -> str | None:
        """The site director the request went through (the last X-Forwarded-For is its address)."""
        return {SD[1]: "SD1", SD[2]: "SD2"}.get(self.xff[-1]) if self.xff else None

    @property
    def via_lb(self) -> str | None:
        return {a: f"S{s}L{n}" for (s, n), a in LB.items()}.get(self.lb)


class User:
    """A browser: a source address, an entry point and a cookie jar."""

    def __init__(self, source: str, entry: str, port: int) -> None:
        self.source = source
        self.entry = entry
        self.port = port
        self.jar: dict[str, str] = {}

    def visit(self, path: str = "/app") -> Visit:
        cookie = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        hdr = f"Cookie: {cookie}\r\n" if cookie else ""
        with socket.create_connection((self.entry, self.port), timeout=20,
                                      source_address=(self.source, 0)) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: app\r\n{hdr}\r\n".encode())
            raw = recv_until_closed(s, timeout=20)
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs: dict[str, str] = {}
        set_cookies: list[str] = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            if k.lower() == "set-cookie":
                set_cookies.append(v.strip().split(";")[0])
            else:
                hdrs[k.lower()] = v.strip()
        new = cookie_pairs(set_cookies)
        self.jar.update(new)
        xff = [x for x in hdrs.get("x-xff", "").split(",") if x]
        return Visit(status, hdrs.get("x-server", body.decode("latin-1").strip()), xff,
                     hdrs.get("x-lb", ""), new)


class MultiSite:
    """The whole section-5 deployment, started and stopped piece by piece."""

    def __init__(self, proxy: Any, http_backend: Callable[..., Any]) -> None:
        self.proxy = proxy
        self.p80, self.p81 = free_ports(2, OP[1], also_free_on=[*ALL_ADDRESSES[1:], *USER.values(),
                                                                LOCAL_USER_SITE1])
        self.values: dict[str, object] = {
            "p80": self.p80, "p81": self.p81, "op1": OP[1], "op3": OP[3], "sd1": SD[1], "sd2": SD[2],
            **{f"s{s}l{n}": a for (s, n), a in LB.items()}}
        self.apps = {f"W{s}{w}": App(http_backend, f"W{s}{w}", a, self.p80, self.p81)
                     for (s, w), a in WEB.items()}
        self.px: dict[str, Any] = {}
        self._starts = itertools.count(1)

    def name(self, box: str) -> str:
        """The proxy's name in its messages: the guide's `listen ADDR:PORT` has no other."""
        addr = {"OP1": OP[1], "OP3": OP[3], "SD1": SD[1], "SD2": SD[2],
                **{f"S{s}L{n}": a for (s, n), a in LB.items()}}[box]
        return f"{addr}:{self.p80}"

    def start_lb(self, s: int, n: int) -> None:
        vals = {**self.values, "s": s, "lb": LB[(s, n)], **{f"w{w}": WEB[(s, w)] for w in range(1, 5)}}
        self.px[f"S{s}L{n}"] = self.proxy.start(LB_CFG, name=f"S{s}L{n}-{next(self._starts)}", **vals)

    def start_sd(self, s: int) -> None:
        self.px[f"SD{s}"] = self.proxy.start(SD_CFG[s], name=f"SD{s}-{next(self._starts)}", **self.values)

    def start_op(self, o: int) -> None:
        self.px[f"OP{o}"] = self.proxy.start(OP_CFG[o], name=f"OP{o}-{next(self._starts)}", **self.values)

    def start_all(self, offices: tuple[int, ...] = (1,)) -> None:
        for s in (1, 2):
            for n in (1, 2):
                self.start_lb(s, n)
        for s in (1, 2):
            self.start_sd(s)
        for o in offices:
            self.start_op(o)
        self.settle(offices)

    def settle(self, offices: tuple[int, ...]) -> None:
        """Wait until every level has passed its first checks (a server's first check comes one
        interval after start; until it passes, a single failure takes the server down): from then
        on DOWN needs `fall` failures, as in a farm that has been running for a while. Seen from
        the application servers: the LBs' checks on port 81 and port 80, the SDs' checks through
        each LB (X-Forwarded-For: the LB itself, its port-81 forwarder being the client), and the
        office proxies' checks of their own site director (X-Forwarded-For: OP, SD)."""
        def heads() -> list[RecordedRequest]:
            out = []
            for a in self.apps.values():
                with a.web.lock:
                    out += [r for r in a.web.requests if r.method == "HEAD"]
            return out

        def settled() -> bool:
            seen = heads()
            chains = {tuple(r.header_values("X-Forwarded-For")) for r in seen}
            return (all(len(a.port81.requests) >= 2 for a in self.apps.values())
                    and all((addr,) in chains for addr in LB.values())
                    and all((OP[o], SD[1 if o == 1 else 2]) in chains for o in offices))
        wait_until(settled, 20, 0.1, message="first checks at every level")

    def kill(self, box: str) -> None:
        """Stop an instance at once (SIGTERM: no grace)."""
        px = self.px.pop(box)
        px.signal(signal.SIGTERM)
        px.wait_exit(15)

    def user(self, office: int) -> User:
        return User(USER[office], OP[office], self.p80)

    def wait_message(self, box: str, text: str, timeout: float = 30.0) -> None:
        """`text` on the box's stderr, read without the checks' reasons (2.6 writes `is DOWN,
        reason: ..., check duration: Nms. N active...`; tests/unit/test_checks.py checks them)."""
        px = self.px[box]
        wait_until(lambda: text in re.sub(r", reason: .*?, check duration: \d+ms", "", px.stderr_text()),
                   timeout, 0.05, message=f"{box}: {text!r}")


@pytest.fixture
def sites(proxy: Any, http_backend: Callable[..., Any]) -> Iterator[MultiSite]:
    yield MultiSite(proxy, http_backend)


def down(px_name: str, srv: str, act: int, bck: int, backup: bool = False) -> str:
    on_backup = " Running on backup." if bck and not act else ""
    return (f"{'Backup ' if backup else ''}Server {px_name}/{srv} is DOWN. {act} active and {bck} backup "
            f"servers left.{on_backup}")


def up(px_name: str, srv: str, act: int, bck: int) -> str:
    return f"Server {px_name}/{srv} is UP. {act} active and {bck} backup servers online."


# ---------------------------------------------------------------------------------------------


def test_new_users_get_a_site_and_a_server_and_keep_both(sites: MultiSite) -> None:
    sites.start_all(offices=(1, 3))

    # office 1: site 1 by default. SD1 names the site, S1Lx prefixes the application's cookie.
    alice = sites.user(1)
    first = alice.visit()
    assert first.status == 200 and first.server.startswith("W1"), first
    assert first.xff == [OP[1], SD[1]] and first.sd == "SD1"
    assert first.set_cookies["SITE"] == "SITE1"
    assert first.set_cookies["JSESSIONID"].startswith(f"{first.server}~")
    server = first.server
    # with its cookies the user keeps site and server; once SITE is set the first LB of the site
    # gets the requests (5.4.4: "it will be the first one to match the cookie")
    for _ in range(4):
        v = alice.visit()
        assert (v.status, v.server, v.sd, v.via_lb, v.set_cookies) == (200, server, "SD1", "S1L1", {}), v
    # the application saw its own session id, the SITE cookie was removed by SD1 (indirect)
    last = sites.apps[server].app_requests()[-1]
    sid = first.set_cookies["JSESSIONID"].split("~", 1)[1]
    assert last.header_values("Cookie") == [f"JSESSIONID={sid}"]

    # new users from office 1 are spread over both LBs and all four servers of site 1
    seen = [sites.user(1).visit() for _ in range(12)]
    assert all(v.status == 200 and v.sd == "SD1" and v.set_cookies["SITE"] == "SITE1" for v in seen)
    assert {v.via_lb for v in seen} == {"S1L1", "S1L2"}
    assert {v.server for v in seen} == {"W11", "W12", "W13", "W14"}

    # office 3 prefers site 2
    carol = sites.user(3)
    c1 = carol.visit()
    assert c1.status == 200 and c1.server.startswith("W2") and c1.xff == [OP[3], SD[2]], c1
    assert c1.set_cookies["SITE"] == "SITE2"
    for _ in range(3):
        v = carol.visit()
        assert (v.server, v.sd, v.via_lb) == (c1.server, "SD2", "S2L1"), v

    # a site-1 local user talks to SD1 directly: the application sees the user's own address
    local = User(LOCAL_USER_SITE1, SD[1], sites.p80)
    lv = local.visit()
    assert lv.status == 200 and lv.server.startswith("W1") and lv.xff == [LOCAL_USER_SITE1, SD[1]], lv


def test_site_without_load_balancers_sends_users_to_the_other_site(sites: MultiSite) -> None:
    sites.start_all()
    sd1 = sites.name("SD1")
    alice = sites.user(1)
    a1 = alice.visit()
    a1 = alice.visit()
    assert (a1.status, a1.sd, a1.via_lb) == (200, "SD1", "S1L1"), a1
    server = a1.server

    # S1L1 dies: SD1 sends the SITE1 users to S1L2 (same cookie), which knows the same servers:
    # the session goes on, first through SD1's redispatch, then because S1L1 is marked down.
    sites.kill("S1L1")
    t0 = time.monotonic()
    visits = []
    while time.monotonic() - t0 < 15:
        visits.append(alice.visit())
        if down(sd1, "S1L1", 1, 2) in sites.px["SD1"].stderr_text():
            break
        time.sleep(0.2)
    sites.wait_message("SD1", down(sd1, "S1L1", 1, 2))
    visits.append(alice.visit())
    assert all((v.status, v.server, v.sd, v.via_lb) == (200, server, "SD1", "S1L2") for v in visits), visits

    # S1L2 dies too: no local LB left, SD1 runs on its backups, the load balancers of site 2
    sites.kill("S1L2")
    sites.wait_message("SD1", down(sd1, "S1L2", 0, 2))
    # a new office-1 user: SD1 sends it to site 2 and says so in the SITE cookie ...
    bob = sites.user(1)
    b1 = bob.visit()
    assert b1.status == 200 and b1.server.startswith("W2") and b1.sd == "SD1", b1
    assert b1.via_lb == "S2L1" and b1.set_cookies["SITE"] == "SITE2"
    # ... so that OP1 then talks to SD2 directly (its backup server, chosen by the cookie)
    for _ in range(3):
        v = bob.visit()
        assert (v.status, v.server, v.xff, v.via_lb) == (200, b1.server, [OP[1], SD[2]], "S2L1"), v
    # the user of site 1 loses its session (no synchronisation between sites) and moves to site 2
    a2 = alice.visit()
    assert a2.status == 200 and a2.server.startswith("W2"), a2
    assert a2.set_cookies["SITE"] == "SITE2" and a2.set_cookies["JSESSIONID"].startswith(f"{a2.server}~")
    a3 = alice.visit()
    assert (a3.server, a3.sd) == (a2.server, "SD2"), a3

    # site 1 comes back: new users go there again, those moved to site 2 stay ("when the server
    # or site comes back, the user must not switch again")
    sites.start_lb(1, 1)
    sites.start_lb(1, 2)
    sites.wait_message("SD1", f"{sd1}/S1L1 is UP.")
    sites.wait_message("SD1", f"{sd1}/S1L2 is UP.")
    c1 = sites.user(1).visit()
    assert c1.status == 200 and c1.server.startswith("W1") and c1.sd == "SD1", c1
    for u, srv in ((alice, a2.server), (bob, b1.server)):
        v = u.visit()
        assert (v.status, v.server, v.sd, v.set_cookies) == (200, srv, "SD2", {}), v


def test_site_director_unreachable_office_uses_the_other_site(sites: MultiSite) -> None:
    """5.5: OP1 cannot reach SD1. It sends everybody to SD2, which honours SITE1 and reaches
    site 1's load balancers itself: a session opened on site 1 goes on on the same server."""
    sites.start_all()
    op1 = sites.name("OP1")
    alice = sites.user(1)
    alice.visit()
    a1 = alice.visit()
    assert (a1.status, a1.sd, a1.via_lb) == (200, "SD1", "S1L1"), a1
    server = a1.server

    sites.kill("SD1")
    t0 = time.monotonic()
    sites.wait_message("OP1", down(op1, "SD1", 0, 1))
    print(f"\n[multisite] OP1 marked SD1 down {time.monotonic() - t0:.2f}s after it stopped")
    for _ in range(3):
        v = alice.visit()
        assert (v.status, v.server, v.xff, v.via_lb, v.set_cookies) == (
            200, server, [OP[1], SD[2]], "S1L1", {}), v
    assert alice.jar["SITE"] == "SITE1"
    # a new user during the failure goes to site 2's own servers: no inter-site traffic
    dave = sites.user(1)
    d1 = dave.visit()
    assert d1.status == 200 and d1.server.startswith("W2") and d1.sd == "SD2", d1
    assert d1.set_cookies["SITE"] == "SITE2"

    # SD1 is back: OP1 uses it again for site-1 users; the new user stays on site 2
    sites.start_sd(1)
    sites.wait_message("OP1", up(op1, "SD1", 1, 1))
    v = alice.visit()
    assert (v.status, v.server, v.sd, v.via_lb) == (200, server, "SD1", "S1L1"), v
    v = dave.visit()
    assert (v.status, v.server, v.sd) == (200, d1.server, "SD2"), v


def test_dead_server_users_are_redispatched_within_the_site(sites: MultiSite) -> None:
    sites.start_all()
    alice = sites.user(1)
    alice.visit()
    a1 = alice.visit()
    assert (a1.status, a1.sd, a1.via_lb) == (200, "SD1", "S1L1"), a1
    server = a1.server
    s = server[1]
    lb = sites.name("S1L1")

    # the server dies: both its instances (W1x checked on port 81, B1x on port 80) go down
    sites.apps[server].stop()
    t0 = time.monotonic()
    # (which of the two goes first depends on the check phases: match the server names only)
    sites.wait_message("S1L1", f"Server {lb}/{server} is DOWN.")
    sites.wait_message("S1L1", f"Backup Server {lb}/B{s}{server[2]} is DOWN.")
    print(f"\n[multisite] S1L1 marked {server} and its backup down {time.monotonic() - t0:.2f}s after "
          "it died")
    # the user stays on site 1 but is given another server, which opens a new session
    a2 = alice.visit()
    assert a2.status == 200 and a2.server != server and a2.server.startswith("W1"), a2
    assert a2.sd == "SD1" and "SITE" not in a2.set_cookies
    assert a2.set_cookies["JSESSIONID"].startswith(f"{a2.server}~")
    for _ in range(3):
        v = alice.visit()
        assert (v.status, v.server, v.set_cookies) == (200, a2.server, {}), v
    # nobody reaches the dead server any more
    others = [sites.user(1).visit() for _ in range(6)]
    assert all(v.status == 200 and v.server != server for v in others), others
