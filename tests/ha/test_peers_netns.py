"""Stick tables over the peers protocol between three machines (issue 19's acceptance): two
pyhaproxy and one haproxy 2.6, each in its own network namespace on one LAN, in one `peers`
section, and a client in a fourth namespace.

    client 10.77.0.100 ---- [lan 10.77.0.0/24] ---- py1 .1, py2 .2 (pyhaproxy), hap .3 (haproxy 2.6)

Each instance counts the client's requests in the section's table (`track-sc0 src table mesh/t`)
and refuses it over 6 requests in the rate period. A count made on any instance is seen by the
others within a second; the limit holds for a client going round all three; a pyhaproxy killed
and started again gets the table back from the others (with the entry's count), and goes on
counting from it.
"""

from __future__ import annotations

import re
import signal
import socket
import textwrap
import time
from pathlib import Path

import pytest

from tests.ha.conftest import HaKit, kill_pyhaproxy
from tests.ha.netns import Topology

pytestmark = pytest.mark.timeout(120)

HAPROXY = Path("/usr/sbin/haproxy")
CLIENT = "10.77.0.100"
ADDR = {"py1": "10.77.0.1", "py2": "10.77.0.2", "hap": "10.77.0.3"}

CFG = """
    global
        localpeer {name}
        stats socket {sock} level admin
    defaults
        mode http
        timeout client 5s
        timeout server 5s
        timeout connect 1s
    peers mesh
        peer py1 10.77.0.1:10000
        peer py2 10.77.0.2:10000
        peer hap 10.77.0.3:10000
        table t type ip size 1k expire 1m store http_req_cnt,http_req_rate(60s)
    frontend fe
        bind {addr}:80
        http-request track-sc0 src table mesh/t
        http-request deny deny_status 429 if {{ sc0_http_req_rate gt 6 }}
        http-request return status 200 content-type text/plain lf-string "req=%[sc0_http_req_cnt]\\n"
    """


def cli(sock: Path, cmd: str) -> str:
    with socket.socket(socket.AF_UNIX) as c:       # (a path socket: reachable from any namespace)
        c.connect(str(sock))
        c.sendall(cmd.encode() + b"\n")
        data = b""
        while chunk := c.recv(65536):
            data += chunk
    return data.decode()


def ask(ha: HaKit, name: str) -> tuple[int, str]:
    """One request from the client to instance `name`: (status, the req= count or "")."""
    (r,) = ha.request(ADDR[name], 80)["results"]
    m = re.search(r"req=(\d+)", r.get("body", ""))
    return r.get("status", 0), m.group(1) if m else ""


def start_py(ha: HaKit, tmp_path: Path, name: str) -> Path:
    sock = tmp_path / f"{name}.sock"
    return ha.pyhaproxy(name, CFG.format(name=name, sock=sock, addr=ADDR[name]), [f"{ADDR[name]}:80"],
                        name=name)


def wait_sessions(sock: Path, peers: tuple[str, ...], timeout: float = 20.0) -> None:
    """Until the instance behind `sock` has an established session with each of `peers`."""
    end = time.monotonic() + timeout
    while True:
        out = cli(sock, "show peers")
        if all(re.search(rf"id={p}\(remote,active\).*last_status=ESTA", out) for p in peers):
            return
        assert time.monotonic() < end, out
        time.sleep(0.2)


def test_three_machines_share_the_table(topology: Topology, ha: HaKit, tmp_path: Path) -> None:
    if not HAPROXY.exists():
        pytest.skip("Debian's haproxy is not installed")
    topology.add_segment("lan")
    topology.add_host("client", [("lan", f"{CLIENT}/24")])
    for name, addr in ADDR.items():
        topology.add_host(name, [("lan", f"{addr}/24")])
    pids = {n: start_py(ha, tmp_path, n) for n in ("py1", "py2")}
    hap_sock = tmp_path / "hap.sock"
    cfg = tmp_path / "hap.cfg"
    cfg.write_text(textwrap.dedent(CFG.format(name="hap", sock=hap_sock, addr=ADDR["hap"])).lstrip("\n"))
    hap = topology.spawn("hap", [str(HAPROXY), "-db", "-f", str(cfg)], name="hap")
    ha.wait_listening("hap", [f"{ADDR['hap']}:80"], hap)
    wait_sessions(hap_sock, ("py1", "py2"))

    # a count made on each machine goes on from the others' within a second
    for count, name in enumerate(("py1", "py2", "hap"), 1):
        assert ask(ha, name) == (200, str(count)), name
        time.sleep(1.0)
    assert f"key={CLIENT}" in cli(hap_sock, "show table mesh/t")
    # the limit holds going round the three: the 4th to 6th pass, the 7th and later are refused
    statuses = []
    for name in ("py1", "py2", "hap", "py1", "py2", "hap"):
        statuses.append(ask(ha, name)[0])
        time.sleep(0.6)
    assert statuses == [200, 200, 200, 429, 429, 429], statuses

    # py2 killed and started again: it learns the entry from the others (2.6's resync on
    # connect) and its next request is counted after it
    before = re.search(r"http_req_cnt=(\d+)", cli(hap_sock, "show table mesh/t"))
    assert before is not None
    kill_pyhaproxy(pids["py2"])
    pids["py2"] = start_py(ha, tmp_path, "py2")
    end = time.monotonic() + 10
    learnt = ""
    while time.monotonic() < end:
        learnt = cli(tmp_path / "py2.sock", "show table mesh/t")
        if f"key={CLIENT}" in learnt:
            break
        time.sleep(0.2)
    assert f"http_req_cnt={before.group(1)}" in learnt, learnt
    assert hap.alive()
    topology.kill_tree(hap.pid, signal.SIGTERM)
