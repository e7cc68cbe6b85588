"""Stick tables shared between instances over the peers protocol: a pyhaproxy and a real
haproxy 2.6 in one `peers` section, each tracking clients into the same table (a proxy's
`stick-table ... peers NAME`, and a peers section's `table` tracked as `table SECTION/NAME`).
A count made on one instance is seen by the other, both ways, and a rate limit holds for a
client that alternates between them. Differential: under `PYHAPROXY_CMD=/usr/sbin/haproxy`
both instances are haproxy and the test passes the same.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_stick_tables import fields, get
from tests.helpers.net import free_ports, wait_listening
from tests.helpers.proxy import ProxyLauncher

HAPROXY = "/usr/sbin/haproxy"
pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not shutil.which(HAPROXY), reason="haproxy 2.6 not installed")]

CFG = """
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
peers mesh
    peer py 127.0.0.1:{pp}
    peer hap 127.0.0.1:{ph}
    table t type ip size 1k expire 1m store http_req_rate(10s)
backend limits
    stick-table type ip size 1k expire 1m store http_req_cnt,gpc0 peers mesh
frontend fe
    bind 127.0.0.1:{http}
    http-request track-sc0 src table limits
    http-request track-sc1 src table mesh/t
    http-request deny deny_status 429 if {{ sc1_http_req_rate gt 5 }}
    http-request return status 200 content-type text/plain lf-string "{body}\\n"
""".replace("{body}", "req=%[sc0_http_req_cnt] rate=%[sc1_http_req_rate]")


@pytest.fixture
def haproxy_side() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.terminate()
        p.wait(5)


def cli(sock: Path, cmd: str) -> str:
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(str(sock))
        c.sendall(cmd.encode() + b"\n")
        data = b""
        while chunk := c.recv(65536):
            data += chunk
    return data.decode()


def start_haproxy(procs: list[subprocess.Popen[bytes]], tmp_path: Path, pp: int, ph: int,
                  http: int) -> Path:
    """The haproxy peer, once its session with the pyhaproxy peer is up (2.6 first waits for a
    resync from an older local process, a few seconds): its stats socket."""
    sock = tmp_path / "hap.sock"
    cfg = tmp_path / "hap.cfg"
    cfg.write_text(f"global\n    stats socket {sock} level admin\n" + CFG.format(pp=pp, ph=ph, http=http))
    procs.append(subprocess.Popen([HAPROXY, "-db", "-f", str(cfg), "-L", "hap"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_listening("127.0.0.1", http)
    end = time.monotonic() + 15
    while not re.search(r"id=py\(remote,active\).*last_status=ESTA", cli(sock, "show peers")):
        assert time.monotonic() < end, cli(sock, "show peers")
        time.sleep(0.2)
    return sock


def wait_for(port: int, field: str, want: str, timeout: float = 3.0) -> tuple[dict[str, str], int]:
    """Ask the instance until `field` reads `want` or the time is up: the last answer's fields
    and how many requests that took (each one counts)."""
    end = time.monotonic() + timeout
    asked = 0
    while True:
        status, body = get(port)
        asked += 1
        f = fields(body) if status == 200 else {"status": str(status)}
        if f.get(field) == want or time.monotonic() > end:
            return f, asked
        time.sleep(0.2)


def test_a_table_shared_with_haproxy_both_ways(proxy: ProxyLauncher, tmp_path: Path,
                                               haproxy_side: list[subprocess.Popen[bytes]]) -> None:
    pp, ph, http_py, http_hap = free_ports(4)
    proxy.start(CFG.format(pp=pp, ph=ph, http=http_py), extra_args=["-L", "py"])
    start_haproxy(haproxy_side, tmp_path, pp, ph, http_hap)
    # two requests on pyhaproxy: haproxy's next one is the third of this client
    assert [fields(get(http_py)[1])["req"] for _ in range(2)] == ["1", "2"]
    time.sleep(2.0)     # (pushed within 100 ms by pyhaproxy; haproxy may take longer)
    f, n1 = wait_for(http_hap, "req", "3")
    assert f.get("req") == "3" and n1 == 1, (f, n1)   # taught before its first request
    # and back: pyhaproxy counts on from what haproxy taught it
    time.sleep(2.0)
    f, n2 = wait_for(http_py, "req", "4")
    assert f.get("req") == "4" and n2 == 1, (f, n2)
    # the rate limit (section table mesh/t, more than 5 requests in 10 s) holds across the
    # two: the client has made 4; alternating, it is refused from the 6th on
    statuses = []
    for port in (http_hap, http_py, http_hap, http_py):
        time.sleep(0.6)     # (each update travels in a few ms; leave it the time)
        statuses.append(get(port)[0])
    assert statuses == [200, 429, 429, 429], statuses


def test_show_table_lists_the_shared_entry(proxy: ProxyLauncher, tmp_path: Path,
                                           haproxy_side: list[subprocess.Popen[bytes]]) -> None:
    """haproxy's own `show table` has the entry pyhaproxy's workers made."""
    pp, ph, http_py, http_hap = free_ports(4)
    proxy.start(CFG.format(pp=pp, ph=ph, http=http_py), extra_args=["-L", "py"])
    sock = start_haproxy(haproxy_side, tmp_path, pp, ph, http_hap)
    for _ in range(3):
        get(http_py)
    end = time.monotonic() + 3
    out = ""
    while time.monotonic() < end:
        out = cli(sock, "show table limits")
        if "http_req_cnt=3" in out:
            break
        time.sleep(0.2)
    assert re.search(r"key=127\.0\.0\.1 .*gpc0=0 http_req_cnt=3", out), out


def test_a_restarted_instance_gets_the_table_back(proxy: ProxyLauncher, tmp_path: Path,
                                                  haproxy_side: list[subprocess.Popen[bytes]]) -> None:
    """pyhaproxy counts a client, stops, starts again: the haproxy peer teaches it the table
    (a resync on start), and its count goes on."""
    pp, ph, http_py, http_hap = free_ports(4)
    px = proxy.start(CFG.format(pp=pp, ph=ph, http=http_py), extra_args=["-L", "py"])
    start_haproxy(haproxy_side, tmp_path, pp, ph, http_hap)
    for _ in range(3):
        get(http_py)
    sock = tmp_path / "hap.sock"
    end = time.monotonic() + 5
    while "http_req_cnt=3" not in cli(sock, "show table limits"):
        assert time.monotonic() < end, cli(sock, "show table limits")
        time.sleep(0.2)
    px.signal(signal.SIGTERM)
    assert px.wait_exit() is not None
    proxy.start(CFG.format(pp=pp, ph=ph, http=http_py), extra_args=["-L", "py"])
    end = time.monotonic() + 10
    while not re.search(r"id=py\(remote,active\).*last_status=ESTA", cli(sock, "show peers")):
        assert time.monotonic() < end, cli(sock, "show peers")
        time.sleep(0.2)
    time.sleep(1.0)     # (the resync: every entry, then "finished")
    assert fields(get(http_py)[1])["req"] == "4"


MESH = """
global
    stats socket {sock} level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
peers mesh
    peer py1 127.0.0.1:{p1}
    peer py2 127.0.0.1:{p2}
    peer hap 127.0.0.1:{ph}
    table t type ip size 1k expire 1m store http_req_cnt,http_req_rate(60s)
frontend fe
    bind 127.0.0.1:{http}
    http-request track-sc0 src table mesh/t
    http-request deny deny_status 429 if {{ sc0_http_req_rate gt 6 }}
    http-request return status 200 content-type text/plain lf-string "req=%[sc0_http_req_cnt]\\n"
"""


# pyhaproxy passes on a change within 100 ms. (Under PYHAPROXY_CMD=/usr/sbin/haproxy, three
# haproxy 2.6, this test does not pass reliably: 2.6 was seen to pass on a local update of an
# entry it had learnt from another peer more than 3 s late. The two-instance tests above pass
# either way.)
WAIT = 1.0


def test_three_instances_two_pyhaproxy_one_haproxy(proxy: ProxyLauncher, tmp_path: Path,
                                                   haproxy_side: list[subprocess.Popen[bytes]]) -> None:
    """A full mesh of two pyhaproxy and one haproxy 2.6: a count made on any one is seen by the
    two others within a second, and the rate limit holds for a client going round all three."""
    p1, p2, ph, h1, h2, hh = free_ports(6)
    socks = {n: tmp_path / f"{n}.sock" for n in ("py1", "py2", "hap")}
    vals = dict(p1=p1, p2=p2, ph=ph)
    proxy.start(MESH.format(sock=socks["py1"], http=h1, **vals), extra_args=["-L", "py1"], name="py1")
    proxy.start(MESH.format(sock=socks["py2"], http=h2, **vals), extra_args=["-L", "py2"], name="py2")
    cfg = tmp_path / "hap.cfg"
    cfg.write_text(MESH.format(sock=socks["hap"], http=hh, **vals))
    haproxy_side.append(subprocess.Popen([HAPROXY, "-db", "-f", str(cfg), "-L", "hap"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_listening("127.0.0.1", hh)
    end = time.monotonic() + 15
    while not all(re.search(rf"id={n}\(remote,active\).*last_status=ESTA", cli(socks["hap"], "show peers"))
                  for n in ("py1", "py2")):
        assert time.monotonic() < end, cli(socks["hap"], "show peers")
        time.sleep(0.2)
    # each instance's count goes on from the others' (each waits a second: "within a second")
    for count, port in enumerate((h1, h2, hh), 1):
        assert fields(get(port)[1])["req"] == str(count)
        time.sleep(WAIT)
        if port == h1:      # and haproxy's own view of what py1 made
            assert "http_req_cnt=1" in cli(socks["hap"], "show table mesh/t")
    # round the three again: requests 4, 5, 6 pass, the 7th and later are refused everywhere
    statuses = []
    for port in (h1, h2, hh, h1, h2, hh):
        statuses.append(get(port)[0])
        time.sleep(WAIT * 0.6)
    assert statuses == [200, 200, 200, 429, 429, 429], statuses
