"""Section 5 of the guide: multi-site load balancing with local preference, with the guide's
addresses, walking through 5.5.

    user 192.168.1.10 -- [office1 192.168.1.0/24] -- OP1 192.168.1.1
                                      |  RO1 .254 (office router)
                         [wan 172.16.0.0/24] RO1 .1, RS1 .11, RS2 .12
          RS1 10.1.1.254 |                                      | RS2 10.2.1.254
    [site1 10.1.1.0/24] SD1 .1, S1L1 .11, S1L2 .12    [site2 10.2.1.0/24] SD2 .1, S2L1 .11, S2L2 .12
              \\__ ISL 10.1.1.253 == dedicated inter-site link == ISL 10.2.1.253 __/
    [site1app 10.1.2.0/24] W11-W14 .1-.4              [site2app 10.2.2.0/24] W21-W24 .1-.4
    (S1Lx have a second leg 10.1.2.11/.12)             (S2Lx: 10.2.2.11/.12)

Routers are namespaces with ip_forward=1; every host has only the routes it needs (no default
route). The configurations of OP1, SD1/SD2 and S1L1/S1L2/S2L1/S2L2 are the guide's, verbatim,
except for **shorter check intervals** (OP1: 30000 -> 1000 and 60000 -> 2000; SD: 4000 -> 1000 and
8000 -> 2000; LB: 2000 -> 500 and 4000 -> 1000) and a `defaults` header with timeouts, which the
guide leaves out. The application servers answer their name and the X-Forwarded-For headers they
received: SD adds the address of its client (OP1), the site LB adds the SD's, so the body shows
which site director the request went through.

5.5: an office-1 user with a session on site 1 keeps it (same W1x server) through SD2 and the
inter-site link when site 1's WAN router loses its WAN leg (`ip link set eth0 down` in RS1); a new
user then goes to site 2 directly; when the link comes back OP1 uses SD1 again for the first user,
and the second one stays on site 2. Finally a soft stop (SIGUSR1) of S1L1 closes its port-81 check
forwarder at once while port 80 keeps serving during the 20 s grace, and SD1 moves the user to
S1L2 (same SITE1 cookie), still on the same application server.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ha.conftest import HaKit, read_pid
from tests.ha.netns import Topology

pytestmark = pytest.mark.timeout(120)

OP1 = "192.168.1.1"
USER = "192.168.1.10"
SD = {1: "10.1.1.1", 2: "10.2.1.1"}

DEFAULTS = """
    global
        maxconn 1000

    defaults
        contimeout 2000
        clitimeout 20000
        srvtimeout 20000
        retries 2
"""

OP1_CFG = DEFAULTS + """
    listen 192.168.1.1:80
       mode http
       balance roundrobin
       redispatch
       cookie SITE
       option httpchk HEAD / HTTP/1.0
       server SD1 10.1.1.1:80 cookie SITE1 check inter 1000
       server SD2 10.2.1.1:80 cookie SITE2 check inter 2000 backup
"""

SD_CFG = {
    1: DEFAULTS + """
    listen 10.1.1.1:80
       mode http
       balance roundrobin
       redispatch
       cookie SITE insert indirect
       option httpchk HEAD / HTTP/1.0
       option forwardfor
       server S1L1 10.1.1.11:80 cookie SITE1 check port 81 inter 1000
       server S1L2 10.1.1.12:80 cookie SITE1 check port 81 inter 1000
       server S2L1 10.2.1.11:80 cookie SITE2 check port 81 inter 2000 backup
       server S2L2 10.2.1.12:80 cookie SITE2 check port 81 inter 2000 backup
""",
    2: DEFAULTS + """
    listen 10.2.1.1:80
       mode http
       balance roundrobin
       redispatch
       cookie SITE insert indirect
       option httpchk HEAD / HTTP/1.0
       option forwardfor
       server S2L1 10.2.1.11:80 cookie SITE2 check port 81 inter 1000
       server S2L2 10.2.1.12:80 cookie SITE2 check port 81 inter 1000
       server S1L1 10.1.1.11:80 cookie SITE1 check port 81 inter 2000 backup
       server S1L2 10.1.1.12:80 cookie SITE1 check port 81 inter 2000 backup
""",
}

LB_CFG = DEFAULTS + """
    listen 10.{s}.1.1{n}:80 # 10.{s}.1.12:80 for S{s}L2
       grace 20000  # don't kill us until 20 seconds have elapsed
       mode http
       balance roundrobin
       cookie JSESSIONID prefix
       option httpclose
       option forwardfor
       option httpchk HEAD / HTTP/1.0
       server W{s}1 10.{s}.2.1:80 cookie W{s}1 check port 81 inter 500
       server W{s}2 10.{s}.2.2:80 cookie W{s}2 check port 81 inter 500
       server W{s}3 10.{s}.2.3:80 cookie W{s}3 check port 81 inter 500
       server W{s}4 10.{s}.2.4:80 cookie W{s}4 check port 81 inter 500

       server B{s}1 10.{s}.2.1:80 cookie W{s}1 check port 80 inter 1000 backup
       server B{s}2 10.{s}.2.2:80 cookie W{s}2 check port 80 inter 1000 backup
       server B{s}3 10.{s}.2.3:80 cookie W{s}3 check port 80 inter 1000 backup
       server B{s}4 10.{s}.2.4:80 cookie W{s}4 check port 80 inter 1000 backup

    listen 10.{s}.1.1{n}:81 # 10.{s}.1.12:81 for S{s}L2
       mode tcp
       dispatch 10.{s}.1.1{n}:80  # 10.{s}.1.12:80 for S{s}L2
"""


def build(topology: Topology, ha: HaKit) -> dict[str, Any]:
    t = topology
    t.add_host("user", [("office1", f"{USER}/24")])
    t.add_host("op1", [("office1", f"{OP1}/24")])
    t.add_router("ro1", [("office1", "192.168.1.254/24"), ("wan", "172.16.0.1/24")])
    t.add_router("rs1", [("wan", "172.16.0.11/24"), ("site1", "10.1.1.254/24")])
    t.add_router("rs2", [("wan", "172.16.0.12/24"), ("site2", "10.2.1.254/24")])
    t.add_router("isl", [("site1", "10.1.1.253/24"), ("site2", "10.2.1.253/24")])
    t.add_route("op1", "10.0.0.0/8", "192.168.1.254")
    t.add_route("ro1", "10.1.0.0/16", "172.16.0.11")
    t.add_route("ro1", "10.2.0.0/16", "172.16.0.12")
    for s, other in ((1, 2), (2, 1)):
        t.add_route(f"rs{s}", "192.168.0.0/16", "172.16.0.1")
        t.add_host(f"sd{s}", [(f"site{s}", f"{SD[s]}/24")])
        t.add_route(f"sd{s}", "192.168.0.0/16", f"10.{s}.1.254")
        # The other site through the dedicated link, never through the WAN.
        t.add_route(f"sd{s}", f"10.{other}.0.0/16", f"10.{s}.1.253")
        for n in (1, 2):
            lb = f"s{s}l{n}"
            t.add_host(lb, [(f"site{s}", f"10.{s}.1.1{n}/24"), (f"site{s}app", f"10.{s}.2.1{n}/24")])
            t.add_route(lb, f"10.{other}.0.0/16", f"10.{s}.1.253")
        for w in range(1, 5):
            t.add_host(f"w{s}{w}", [(f"site{s}app", f"10.{s}.2.{w}/24")])

    for s in (1, 2):
        for w in range(1, 5):
            ha.web(f"w{s}{w}", f"W{s}{w}", ports=(80, 81))
    pidfiles = {}
    for s in (1, 2):
        for n in (1, 2):
            lb = f"s{s}l{n}"
            cfg = LB_CFG.replace("{s}", str(s)).replace("{n}", str(n))
            pidfiles[lb] = ha.pyhaproxy(lb, cfg, [f"10.{s}.1.1{n}:80", f"10.{s}.1.1{n}:81"])
        pidfiles[f"sd{s}"] = ha.pyhaproxy(f"sd{s}", SD_CFG[s], [f"{SD[s]}:80"])
    pidfiles["op1"] = ha.pyhaproxy("op1", OP1_CFG, [f"{OP1}:80"])
    return pidfiles


def via(result: dict[str, Any]) -> str | None:
    """The site director a request went through, from the X-Forwarded-For chain."""
    chain = (result.get("xff") or "").split(",")
    return {SD[1]: "SD1", SD[2]: "SD2"}.get(chain[-1]) if len(chain) == 2 else None


def visit(ha: HaKit, cookies: dict[str, str], timeout: float = 10.0) -> dict[str, Any]:
    """One request from the office-1 user with its cookie jar (updated in place)."""
    res = ha.request(OP1, cookies=cookies, timeout=timeout, ns="user")
    cookies.clear()
    cookies.update(res["cookies"])
    return res["results"][0]


def wait_for(ha: HaKit, cookies: dict[str, str], pred: Any, budget: float, what: str) -> tuple[
        dict[str, Any], float, list[dict[str, Any]]]:
    """Visit until pred(result) holds; return the result, the time it took and every result."""
    t0 = time.monotonic()
    seen: list[dict[str, Any]] = []
    while time.monotonic() - t0 < budget:
        r = visit(ha, cookies)
        seen.append(r)
        if pred(r):
            return r, time.monotonic() - t0, seen
        time.sleep(0.2)
    last = [(x.get("status"), x.get("server"), x.get("xff"), x.get("err")) for x in seen[-5:]]
    raise AssertionError(f"{what}: not within {budget}s; last results {last}")


def test_wan_failure_walkthrough(topology: Topology, ha: HaKit) -> None:
    pidfiles = build(topology, ha)
    time.sleep(1.5)  # a couple of check rounds everywhere

    # An office-1 user opens a session: site 1, through SD1, SITE and prefixed JSESSIONID cookies.
    old: dict[str, str] = {}
    first = visit(ha, old)
    assert first["ok"] and first["server"].startswith("W1") and via(first) == "SD1", first
    server = first["server"]
    assert old["SITE"] == "SITE1" and old["JSESSIONID"].startswith(f"{server}~"), old
    for _ in range(3):
        r = visit(ha, old)
        assert r["ok"] and r["server"] == server and via(r) == "SD1", r

    # Site 1's router loses its WAN leg: OP1 no longer sees SD1.
    t_down = time.monotonic()
    topology.link_down("rs1", "wan")
    r, took, seen = wait_for(ha, old, lambda x: x["ok"], 30, "old user served again")
    failed = sum(1 for x in seen if not x["ok"])
    print(f"\n[multisite] WAN of site 1 down: old user served again after {took:.2f} s "
          f"({failed} failed requests), via {via(r)} to {r['server']}")
    # Through SD2, which honours SITE=SITE1 and reaches S1L1 over the inter-site link:
    # the same application server, the session survives.
    assert via(r) == "SD2" and r["server"] == server, r
    assert old["SITE"] == "SITE1", old
    for _ in range(2):
        r = visit(ha, old)
        assert r["ok"] and r["server"] == server and via(r) == "SD2", r

    # A new office-1 user during the failure goes to site 2 directly (no inter-site traffic).
    new: dict[str, str] = {}
    n1 = visit(ha, new)
    assert n1["ok"] and n1["server"].startswith("W2") and via(n1) == "SD2", n1
    assert new["SITE"] == "SITE2" and new["JSESSIONID"].startswith(f"{n1['server']}~"), new

    # The WAN link comes back: once OP1's checks see SD1 again the old user goes through SD1.
    topology.link_up("rs1", "wan")
    t_up = time.monotonic()
    r, took, seen = wait_for(ha, old, lambda x: x["ok"] and via(x) == "SD1", 30, "OP1 uses SD1 again")
    print(f"[multisite] WAN back: OP1 uses SD1 again after {took:.2f} s "
          f"(outage lasted {t_up - t_down:.1f} s)")
    assert all(x["server"] == server for x in seen if x["ok"]), seen
    assert r["server"] == server and old["SITE"] == "SITE1", (r, old)
    # ...and the new user does not switch again: it stays on site 2.
    n2 = visit(ha, new)
    assert n2["ok"] and n2["server"] == n1["server"] and via(n2) == "SD2", n2

    # Soft stop of S1L1 (section 5.4.4): SIGUSR1 closes the port-81 forwarder at once, port 80
    # keeps serving during the 20 s grace, SD1 stops using S1L1 and sends the user to S1L2.
    os.kill(read_pid(pidfiles["s1l1"]), signal.SIGUSR1)
    time.sleep(0.3)
    probe81 = ha.tcp("10.1.1.11", 81, "", ns="sd1")
    assert not probe81["ok"], probe81
    direct80 = ha.request("10.1.1.11", ns="sd1", cookies={"JSESSIONID": old["JSESSIONID"]})
    assert direct80["results"][0]["server"] == server, direct80
    r, took, _ = wait_for(ha, old, lambda x: x["ok"] and x["xff"].endswith(SD[1]) and _via_lb(ha, x) == 2,
                          15, "SD1 moves the user to S1L2")
    print(f"[multisite] S1L1 soft-stopped: user moved to S1L2 after {took:.2f} s, same server")
    assert r["server"] == server, r
    assert _alive(pidfiles["s1l1"])  # still inside its grace period


def _via_lb(ha: HaKit, result: dict[str, Any]) -> int | None:
    """Which site-1 LB relayed the last request to its server (from the server's request log)."""
    log = ha.tmp / f"web-{result['server']}.jsonl"
    lines = [ln for ln in log.read_text().splitlines() if '"GET"' in ln]
    if not lines:
        return None
    last = lines[-1]
    for n in (1, 2):
        if f'"peer": "10.1.2.1{n}"' in last:
            return n
    return None


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(read_pid(pidfile), 0)
        return True
    except OSError:
        return False
