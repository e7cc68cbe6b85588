"""Sections 2.1 and 2.2 of the guide: LB1/LB2 behind an external layer-4 load balancer, with
`monitor-net` so that the balancer's health checks are answered by the proxies but neither relayed
to the servers nor logged.

Front end. The guide uses an Alteon; IPVS (`ipvsadm`) inside a namespace would be the natural
stand-in, but it needs the ip_vs kernel module: `probe_ipvs()` tries `ipvsadm -A -t VIP:80 -s rr` in
a namespace and the result is printed. On kernels without it (this machine: "Can't initialize
ipvs: Protocol not available") pyhaproxy itself, in TCP mode, stands in for the Alteon. Only that
stand-in is implemented: an IPVS path could not be run here, so it is not shipped untested.

Like the Alteon of 2.2 (`/c/l3/if 1 addr 192.168.1.252`), the stand-in sends its health checks from
192.168.1.252, inside the LBs' `monitor-net 192.168.1.252/31`. A real Alteon relays clients with
their own source address; a proxy cannot, and if its relayed connections also came from .252 the
LBs would (rightly) drop them. So the stand-in relays from 192.168.1.250 instead: its worker runs as
uid 65534 (`uid`/`gid` in its global section) while checks run in the root master, and an
`ip rule uidrange 65534-65534` in the Alteon namespace routes the worker's connections through a
table whose route prefers source 192.168.1.250. No firewall tool is needed.

    client 172.16.1.100 --[front]-- Alteon stand-in VIP 172.16.1.1 (.252 checks, .250 relays)
                                         |
       --[lan 192.168.1.0/24]-- LB1 .1, LB2 .2, TSE farm .10 (echo), webA-D .11-14, admin .50

LB1/LB2 run the guide's 2.1 `listen webfarm 0.0.0.0:80` (plus `monitor-net 192.168.1.252/31`,
which 2.1 says an HTTP health check requires) and the 2.2 `listen tse-proxy` verbatim, logging to a
UDP syslog receiver inside each LB namespace.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ha.conftest import HaKit, kill_pyhaproxy, read_jsonl
from tests.ha.netns import Topology

pytestmark = pytest.mark.timeout(120)

VIP = "172.16.1.1"
CLIENT = "172.16.1.100"
ALTEON_CHECK = "192.168.1.252"
ALTEON_RELAY = "192.168.1.250"
LBS = {"lb1": "192.168.1.1", "lb2": "192.168.1.2"}
WEBS = {"A": "192.168.1.11", "B": "192.168.1.12", "C": "192.168.1.13", "D": "192.168.1.14"}
TSE = "192.168.1.10"
ADMIN = "192.168.1.50"
TSE_PORTS = (3389, 1494, 5900)

LB_CFG = """
    global
        maxconn 1000
        log 127.0.0.1:514 local0

    defaults
        log global
        contimeout 3000
        clitimeout 20000
        srvtimeout 20000
        retries 2

    listen webfarm 0.0.0.0:80
       mode http
       balance roundrobin
       cookie JSESSIONID prefix
       option httpclose
       option forwardfor
       option httplog
       option dontlognull
       option httpchk HEAD /index.html HTTP/1.0
       monitor-net 192.168.1.252/31
       server webA 192.168.1.11:80 cookie A check inter 1000
       server webB 192.168.1.12:80 cookie B check inter 1000
       server webC 192.168.1.13:80 cookie C check inter 1000
       server webD 192.168.1.14:80 cookie D check inter 1000

    listen tse-proxy
       bind :3389,:1494,:5900  # TSE, ICA and VNC at once.
       mode tcp
       balance roundrobin
       server tse-farm 192.168.1.10
       monitor-net 192.168.1.252/31
"""

# The Alteon's /c/slb settings as a pyhaproxy config: group LB1-2, roundrobin; "health http" on
# the web service (allowed because the LBs declare monitor-net), "health tcp" on the TSE ports.
ALTEON_CFG = """
    global
        maxconn 1000
        uid 65534
        gid 65534

    defaults
        contimeout 2000
        clitimeout 20000
        srvtimeout 20000
        retries 1
        redispatch

    listen alteon-http 172.16.1.1:80
        mode tcp
        balance roundrobin
        option httpchk HEAD /index.html HTTP/1.0
        server LB1 192.168.1.1:80 check inter 500 fall 2 rise 2
        server LB2 192.168.1.2:80 check inter 500 fall 2 rise 2

    listen alteon-tse
        bind 172.16.1.1:3389,172.16.1.1:1494,172.16.1.1:5900
        mode tcp
        balance roundrobin
        server LB1 192.168.1.1 check port 3389 inter 500 fall 2 rise 2
        server LB2 192.168.1.2 check port 3389 inter 500 fall 2 rise 2
"""


def probe_ipvs(topology: Topology) -> str:
    """Whether IPVS works inside a namespace here (printed; the stand-in is used otherwise)."""
    res = subprocess.run(["ip", "netns", "exec", topology.hosts["alteon"].ns, "ipvsadm", "-A", "-t",
                          f"{VIP}:80", "-s", "rr"], capture_output=True, text=True)
    if res.returncode == 0:
        subprocess.run(["ip", "netns", "exec", topology.hosts["alteon"].ns, "ipvsadm", "-C"],
                       capture_output=True)
        return "IPVS available in namespaces (stand-in used anyway: see module docstring)"
    return f"IPVS unavailable ({res.stderr.strip().splitlines()[0] if res.stderr else res.returncode})"


def build(topology: Topology, ha: HaKit) -> dict[str, Any]:
    topology.add_host("client", [("front", f"{CLIENT}/24")])
    alteon = topology.add_host("alteon", [("front", f"{VIP}/24"), ("lan", f"{ALTEON_CHECK}/24")])
    ns = alteon.ns
    # Relay source for the unprivileged worker (see the module docstring).
    for cmd in (["addr", "add", f"{ALTEON_RELAY}/24", "dev", "eth1"],
                ["route", "add", "192.168.1.0/24", "dev", "eth1", "src", ALTEON_RELAY, "table", "100"],
                ["rule", "add", "uidrange", "65534-65534", "lookup", "100", "pref", "100"]):
        subprocess.run(["ip", "-n", ns, *cmd], check=True, capture_output=True)
    for lb, addr in LBS.items():
        # With a proxy in front, the LBs only ever talk to the stand-in's LAN addresses.
        topology.add_host(lb, [("lan", f"{addr}/24")])
    topology.add_host("tse", [("lan", f"{TSE}/24")])
    topology.add_host("admin", [("lan", f"{ADMIN}/24")])
    for name, addr in WEBS.items():
        topology.add_host(f"web{name}", [("lan", f"{addr}/24")])

    web_logs = {n: ha.web(f"web{n}", f"web{n}") for n in WEBS}
    echo_log = ha.echo("tse", TSE_PORTS)
    syslogs = {lb: ha.syslog(lb) for lb in LBS}
    pidfiles = {lb: ha.pyhaproxy(lb, LB_CFG, ["0.0.0.0:80", *(f"0.0.0.0:{p}" for p in TSE_PORTS)])
                for lb in LBS}
    ha.pyhaproxy("alteon", ALTEON_CFG, [f"{VIP}:80", *(f"{VIP}:{p}" for p in TSE_PORTS)])
    return {"web_logs": web_logs, "echo_log": echo_log, "syslogs": syslogs, "pidfiles": pidfiles}


def web_requests(web_logs: dict[str, Path]) -> list[dict[str, Any]]:
    return [r for log in web_logs.values() for r in read_jsonl(log)]


def test_monitor_net_checks_are_answered_not_relayed_nor_logged(topology: Topology, ha: HaKit) -> None:
    env = build(topology, ha)
    print(f"\n[l4 front end] {probe_ipvs(topology)}; using the pyhaproxy TCP stand-in")
    web_logs, syslogs = env["web_logs"], env["syslogs"]
    assert isinstance(web_logs, dict) and isinstance(syslogs, dict)

    # Let the stand-in run a few check rounds (every 500 ms, HTTP on :80 and TCP on :3389).
    time.sleep(2.5)

    # Ordinary clients through the VIP: spread over both LBs, relayed to the web servers.
    res = ha.request(VIP, n=8)
    assert all(r["ok"] for r in res["results"]), res
    relayed = [r for r in web_requests(web_logs) if r["method"] == "GET"]
    assert len(relayed) == 8, relayed
    assert {r["peer"] for r in relayed} == set(LBS.values()), relayed  # both LBs seen as up
    assert all(r["xff"] == [ALTEON_RELAY] for r in relayed), relayed

    # TCP (2.2) through the VIP: echoed by the TSE farm behind the LBs.
    for port in TSE_PORTS:
        out = ha.tcp(VIP, port, f"hello {port}")
        assert out == {"ok": True, "data": f"hello {port}"}, out

    # Probes sent by hand from the monitor address get the proxies' own answers: on the HTTP
    # port "HTTP/1.0 200 OK" and a clean close, even for a probe that sends its request at once
    # and keeps its side open (the proxy drains it rather than resetting); on the TCP port an
    # immediate close.
    http_probe = ha.tcp(LBS["lb1"], 80, "GET / HTTP/1.0\r\n\r\n", ns="alteon", src=ALTEON_CHECK,
                        keep_open=True)
    assert http_probe == {"ok": True, "data": "HTTP/1.0 200 OK\r\n\r\n"}, http_probe
    tcp_probe = ha.tcp(LBS["lb1"], 5900, "", ns="alteon", src=ALTEON_CHECK)
    assert tcp_probe == {"ok": True, "data": ""}, tcp_probe
    # An ordinary host on the LAN talking to LB1 directly is relayed.
    direct = ha.tcp(LBS["lb1"], 5900, "admin", ns="admin")
    assert direct == {"ok": True, "data": "admin"}, direct

    time.sleep(0.5)  # let the last syslog datagrams arrive
    # Nothing coming from the monitor network ever reached a server...
    everything = web_requests(web_logs)
    assert not [r for r in everything if ALTEON_CHECK in r["xff"]], everything
    echo_peers = read_jsonl(env["echo_log"])  # type: ignore[arg-type]
    assert len(echo_peers) == len(TSE_PORTS) + 1, echo_peers  # the 3 VIP clients + the admin
    # ...nor was logged, while every relayed session was.
    lines = [ln for log in syslogs.values() for ln in log.read_text().splitlines()]
    assert not [ln for ln in lines if ALTEON_CHECK in ln], lines
    http_lines = [ln for ln in lines if "webfarm" in ln and f"{ALTEON_RELAY}:" in ln]
    assert len(http_lines) == 8, lines
    tcp_lines = [ln for ln in lines if "tse-proxy" in ln and "Connect from" in ln]
    assert len(tcp_lines) == len(TSE_PORTS) + 1, lines
    assert any(f"{ADMIN}:" in ln for ln in tcp_lines), tcp_lines
    print(f"[l4 front end] {len(lines)} log lines, none from {ALTEON_CHECK}; "
          f"{len(relayed)} HTTP requests relayed over both LBs")


def test_l4_front_end_drops_a_dead_lb(topology: Topology, ha: HaKit) -> None:
    """LB1's pyhaproxy dies: the stand-in's checks fail (fall 2 x 500 ms) and every new client
    goes to LB2; failed requests during the detection are counted and printed."""
    env = build(topology, ha)
    pidfiles = env["pidfiles"]
    assert isinstance(pidfiles, dict)
    time.sleep(1.5)
    proc, out = ha.load(VIP, duration=4.0, cookies={}, timeout=1.0)
    time.sleep(0.5)
    t_kill = time.monotonic()
    kill_pyhaproxy(pidfiles["lb1"])
    proc.popen.wait(20)
    samples = read_jsonl(out)
    failed = [s for s in samples if not s["ok"]]
    late = [s for s in samples if s["t0"] > t_kill + 2.0]
    print(f"\n[l4 front end] LB1 killed: {len(failed)} failed of {len(samples)} requests "
          f"(stand-in retries 1 + redispatch)")
    assert late and all(s["ok"] for s in late), failed
    peers = {r["peer"] for r in web_requests(env["web_logs"])  # type: ignore[arg-type]
             if r["method"] == "GET" and r["t"] > t_kill + 2.0}
    assert peers == {LBS["lb2"]}, peers
