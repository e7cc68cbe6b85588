"""End-to-end health checks: real pyhaproxy processes, real backends on 127.0.0.0/8.

The master runs the checks once for every worker and publishes server state in shared memory;
these tests look at it from the outside only:

- state transitions and their messages, as HAProxy 1.2 wrote them (haproxy.c set_server_down /
  process_chk), on stderr (``[WARNING]``/``[ALERT]``, silent with ``quiet``) and to a UDP syslog
  receiver run here (alert for DOWN, emerg for "no server available", notice for UP):
    ``[Backup ]Server PX/SRV is DOWN. A active and B backup servers left.[ Running on backup.]
    N sessions active, 0 requeued, 0 remaining in queue.`` (N: sessions still on the server,
    summed over the workers; there are no queues)
    ``Proxy PX has no server available !``
    ``[Backup ]Server PX/SRV is UP. A active and B backup servers online.[ Running on backup.]
    0 sessions requeued, 0 total in queue.``
  with the detection times (DOWN after `fall` failed checks, UP after `rise` good ones), measured
  and held to generous bounds only;
- `option httpchk` (default ``OPTIONS / HTTP/1.0``, custom forms of the 1.2 manual,
  https://github.com/haproxy/haproxy/blob/v1.2.14/doc/haproxy-en.txt 3.1): 2xx and
  3xx keep a server up, anything else takes it down; `port` and `addr` send checks elsewhere;
- a server marked down gets no request, even on a kept-alive client connection;
- with `nbproc 4` each server still receives one check per interval;
- under a small load, stopping one of four servers: no failure once it is marked down, none at all
  with `redispatch` + `retries 3` (round robin sends a failed request to another server at once);
  without it, a request given to the stopped server before it is marked down fails with a 503 after
  its retries, each made after min(`timeout connect`, 1 s), as in HAProxy 2.x; sessions already on
  a server that goes down are not cut.

Backends are the threaded servers of tests/helpers; a server "stops" by closing its listening
socket (connects are refused) while its established connections go on.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import re
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import (
    HttpResponse,
    HttpServer,
    RecordedRequest,
    TcpServer,
    deterministic_bytes,
    free_port,
    free_ports,
    recv_exactly,
    wait_until,
)
from tests.helpers.syslog import Syslog

pytestmark = pytest.mark.timeout(120)

HOST = "127.0.0.1"
FAC_LOCAL0 = 16
LOG_EMERG, LOG_ALERT, LOG_NOTICE = 0, 1, 5
TIMEOUTS = """
    contimeout 3000
    clitimeout 20000
    srvtimeout 20000"""

STDERR_RE = re.compile(r"^\[(?P<kind>WARNING|ALERT)\] \d{3}/\d{6} \((?P<pid>\d+)\) : (?P<msg>.*)$")

def down_msg(label: str, act: int, bck: int, backup: bool = False, sessions: int = 0) -> str:
    on_backup = " Running on backup." if bck and not act else ""
    return (f"{'Backup ' if backup else ''}Server {label} is DOWN. {act} active and {bck} backup servers "
            f"left.{on_backup} {sessions} sessions active, 0 requeued, 0 remaining in queue.")


def up_msg(label: str, act: int, bck: int, backup: bool = False) -> str:
    on_backup = " Running on backup." if bck and not act else ""
    return (f"{'Backup ' if backup else ''}Server {label} is UP. {act} active and {bck} backup servers "
            f"online.{on_backup} 0 sessions requeued, 0 total in queue.")


def no_server_msg(proxy_name: str, kind: str = "proxy") -> str:
    """(2.6 quotes the name on stderr, not in the syslog line: `without_reason` unquotes it.)"""
    return f"{kind} {proxy_name} has no server available!"


REASON_RE = re.compile(r", reason: .*?, check duration: \d+ms")


def without_reason(msg: str) -> str:
    """A transition message without the check's reason, code, info and duration (2.6 writes
    them after `is DOWN`/`is UP`; test_checks.py and the unit tests check those), and the
    no-server alert with its name unquoted, so that stderr and syslog read alike."""
    msg = REASON_RE.sub("", msg, count=1)
    return re.sub(r"^(\w+) '(.*)' has no server available!$", r"\1 \2 has no server available!", msg)


# ---------------------------------------------------------------------------------------------
# observers


@pytest.fixture
def syslog() -> Iterator[Syslog]:
    r = Syslog()
    r.normalize = without_reason
    r.start()
    try:
        yield r
    finally:
        r.close()


def stderr_messages(px) -> list[tuple[str, int, str]]:
    """(kind, pid, message) of every [WARNING]/[ALERT] line the proxy wrote on stderr."""
    out = []
    for line in px.stderr_text().splitlines():
        m = STDERR_RE.match(line)
        if m:
            out.append((m["kind"], int(m["pid"]), without_reason(m["msg"])))
    return out


def wait_stderr(px, msg: str, timeout: float = 10.0, count: int = 1) -> float:
    """Wait until `msg` appeared `count` times on the proxy's stderr; the time it was seen."""
    def seen() -> bool:
        return sum(1 for _, _, m in stderr_messages(px) if m == msg) >= count
    wait_until(seen, timeout, 0.01, message=f"stderr line {msg!r}")
    return time.monotonic()


def wait_transition(px, label: str, state: str, timeout: float = 10.0) -> float:
    """Wait for the `Server LABEL is STATE.` message whatever its counts (the tests with HTTP
    checks answered by Python threads do not insist on the exact counts: a busy machine could
    delay one answer past `inter` and make a neighbour flap); the time it was seen."""
    needle = f"Server {label} is {state}."
    wait_until(lambda: any(needle in m for _, _, m in stderr_messages(px)), timeout, 0.01,
               message=f"stderr line {needle!r}")
    return time.monotonic()


# ---------------------------------------------------------------------------------------------
# clients


def get(port: int, path: str = "/", timeout: float = 10.0,
        conn: http.client.HTTPConnection | None = None) -> tuple[int, str]:
    """One GET (a new connection with `Connection: close` unless conn is given): (status, body)."""
    own = conn is None
    c = conn or http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request("GET", path, headers={} if not own else {"Connection": "close"})
        r = c.getresponse()
        return r.status, r.read().decode("latin-1").strip()
    finally:
        if own:
            c.close()


def app_requests(server: HttpServer) -> list[RecordedRequest]:
    """Requests from clients (GET), not health checks."""
    with server.lock:
        return [r for r in server.requests if r.method == "GET"]


def check_requests(server: HttpServer) -> list[RecordedRequest]:
    with server.lock:
        return [r for r in server.requests if r.method != "GET"]


def checks_answer(status: Callable[[], int], name: str) -> Callable[[RecordedRequest], HttpResponse]:
    """Responder: health checks (any non-GET) get `status()`, client GETs get 200 and the name."""
    def responder(req: RecordedRequest) -> HttpResponse:
        if req.method != "GET":
            return HttpResponse(status=status(), version="HTTP/1.0", close=True)
        return HttpResponse(headers=[("X-Server", name)], body=f"{name}\n".encode())
    return responder


# ---------------------------------------------------------------------------------------------
# 1. DOWN after fall*inter, UP after rise*inter, and the messages

INTER, RISE, FALL = 300, 2, 3

TRANSITIONS_CFG = """
global
    log 127.0.0.1:{sport} local0
listen farm 127.0.0.1:{port}
    mode http
    balance roundrobin
    log global
""" + TIMEOUTS + """
    server s1 127.0.0.1:{p1} check inter {inter} rise {rise} fall {fall}
    server s2 127.0.0.1:{p2} check inter {inter} rise {rise} fall {fall}
    server bk 127.0.0.1:{p3} check inter {inter} rise {rise} fall {fall} backup
"""


def test_down_after_fall_checks_up_after_rise_with_messages(proxy, http_backend, syslog) -> None:
    s1, s2, bk = (http_backend(name=n) for n in ("s1", "s2", "bk"))
    port = free_port()
    px = proxy.start(TRANSITIONS_CFG, port=port, sport=syslog.port, p1=s1.port, p2=s2.port, p3=bk.port,
                     inter=INTER, rise=RISE, fall=FALL)
    # a checked server starts "up, but falls at the first failure": let each pass a check first
    wait_until(lambda: all(s.accepted >= 2 for s in (s1, s2, bk)), 10, message="first checks")
    assert stderr_messages(px) == [] and syslog.messages() == []   # 2.6 logs nothing at start-up
    inter_s = INTER / 1000

    t0 = time.monotonic()
    s1.stop()
    msg = down_msg("farm/s1", 1, 1)
    seen = wait_stderr(px, msg)
    down_after = seen - t0
    print(f"\n[checks] s1 DOWN seen {down_after:.2f}s after its stop (inter {INTER} ms, fall {FALL})")
    assert (FALL - 1) * inter_s <= down_after <= FALL * inter_s + 2.0
    # syslog: alert level, the master's pid, the same text
    at, pri, pid, _ = syslog.wait(msg)
    assert pri == FAC_LOCAL0 * 8 + LOG_ALERT and pid == px.master_pid
    assert at - t0 >= (FALL - 1) * inter_s
    assert stderr_messages(px) == [("WARNING", px.master_pid, msg)]
    for _ in range(4):
        assert get(port) == (200, "s2")

    s2.stop()
    msg2 = down_msg("farm/s2", 0, 1)
    assert "Running on backup." in msg2
    wait_stderr(px, msg2)
    syslog.wait(msg2)
    for _ in range(3):
        assert get(port) == (200, "bk")

    bk.stop()
    msg3 = down_msg("farm/bk", 0, 0, backup=True)
    wait_stderr(px, msg3)
    last = no_server_msg("farm")
    wait_stderr(px, last)
    assert stderr_messages(px)[-2:] == [("WARNING", px.master_pid, msg3), ("ALERT", px.master_pid, last)]
    assert syslog.wait(msg3)[1] == FAC_LOCAL0 * 8 + LOG_ALERT
    assert syslog.wait(last)[1] == FAC_LOCAL0 * 8 + LOG_EMERG
    status, body = get(port)
    assert status == 503 and "No server is available" in body

    t2 = time.monotonic()
    s1.start()  # same port
    up = up_msg("farm/s1", 1, 0)
    seen = wait_stderr(px, up)
    up_after = seen - t2
    print(f"[checks] s1 UP seen {up_after:.2f}s after its restart (inter {INTER} ms, rise {RISE})")
    assert (RISE - 1) * inter_s <= up_after <= RISE * inter_s + 2.0
    at, pri, pid, _ = syslog.wait(up)
    assert pri == FAC_LOCAL0 * 8 + LOG_NOTICE and pid == px.master_pid
    assert ("WARNING", px.master_pid, up) in stderr_messages(px)
    for _ in range(3):
        assert get(port) == (200, "s1")

    bk.start()
    up_bk = up_msg("farm/bk", 1, 1, backup=True)
    wait_stderr(px, up_bk)
    syslog.wait(up_bk)
    # each transition was said exactly once, on both outputs
    expected = [msg, msg2, msg3, last, up, up_bk]
    assert [m for _, _, m in stderr_messages(px)] == expected
    assert [m for m in syslog.messages() if "is DOWN" in m or "is UP" in m or "available" in m] == expected


def test_quiet_keeps_transitions_off_stderr_but_in_syslog(proxy, http_backend, syslog) -> None:
    """`-q` silences stderr; the syslog lines stay. (`quiet` in the config would not do here:
    as in HAProxy 1.2, the command line's -db cancels the configuration's daemon and quiet.)"""
    s1 = http_backend(name="s1")
    port = free_port()
    cfg = "\n".join(ln for ln in TRANSITIONS_CFG.splitlines() if "{p2}" not in ln and "{p3}" not in ln)
    px = proxy.start(cfg, extra_args=["-q"], port=port, sport=syslog.port, p1=s1.port, inter=200, rise=1,
                     fall=1)
    s1.wait_accepted(1)
    s1.stop()
    syslog.wait(down_msg("farm/s1", 0, 0))
    syslog.wait(no_server_msg("farm"))
    s1.start()
    syslog.wait(up_msg("farm/s1", 1, 0))
    assert stderr_messages(px) == []


# ---------------------------------------------------------------------------------------------
# 2. option httpchk


HTTPCHK_CFG = """
listen farm 127.0.0.1:{port}
    mode http
    balance roundrobin
    {httpchk}
""" + TIMEOUTS + """
{servers}
"""


def servers_cfg(servers: dict[str, int], extra: str = "check inter 400 rise 1 fall 2") -> str:
    return "\n".join(f"    server {n} 127.0.0.1:{p} {extra}" for n, p in servers.items())


def test_httpchk_default_request_and_status_classes(proxy, http_backend) -> None:
    """`option httpchk` sends `OPTIONS / HTTP/1.0`; 2xx/3xx replies pass, 4xx/5xx/garbage fail."""
    statuses = {"ok200": 200, "ok204": 204, "ok301": 301, "ok302": 302,
                "bad400": 400, "bad404": 404, "bad500": 500, "bad503": 503}
    web = {n: http_backend(name=n, responder=checks_answer(lambda s=s: s, n)) for n, s in statuses.items()}
    garbage = http_backend(name="garbage", response=HttpResponse(raw=b"hello\r\n\r\n", close=True))
    web["garbage"] = garbage
    port = free_port()
    px = proxy.start(HTTPCHK_CFG, port=port, httpchk="option httpchk",
                     servers=servers_cfg({n: s.port for n, s in web.items()}))
    bad = [n for n in web if not n.startswith("ok")]
    for n in bad:  # a server that never passed a check falls at its first failure
        wait_transition(px, f"farm/{n}", "DOWN")
    # the bad servers go down in some order; each message counts the active servers left
    downs = [re.fullmatch(r"Server farm/(\w+) is DOWN\. (\d+) active and 0 backup servers left\. "
                          r"0 sessions active, 0 requeued, 0 remaining in queue\.", m)
             for _, _, m in stderr_messages(px)]
    assert all(downs), stderr_messages(px)
    assert sorted(d[1] for d in downs if d) == sorted(bad)
    assert [int(d[2]) for d in downs if d] == list(range(len(web) - 1, len(web) - 1 - len(bad), -1))
    # a few more intervals: the good ones stay up
    wait_until(lambda: all(len(check_requests(web[n])) >= 4 for n in web if n.startswith("ok")), 10,
               message="more checks")
    assert not any(f"farm/{n} is DOWN" in m for _, _, m in stderr_messages(px) for n in web
                   if n.startswith("ok"))
    for s in web.values():
        reqs = check_requests(s) if s is not garbage else list(s.requests)
        assert reqs, s.name
        assert {r.raw for r in reqs} == {b"OPTIONS / HTTP/1.0\r\n\r\n"}, s.name
    got = [get(port) for _ in range(12)]
    assert all(st == 200 for st, _ in got)
    assert sorted(body for _, body in got) == sorted(["ok200", "ok204", "ok301", "ok302"] * 3)


@pytest.mark.parametrize("option, expected", [
    ("option httpchk /health", b"OPTIONS /health HTTP/1.0\r\n\r\n"),
    ("option httpchk HEAD /running", b"HEAD /running HTTP/1.0\r\n\r\n"),
    ("option httpchk GET /status HTTP/1.1", b"GET /status HTTP/1.1\r\n\r\n"),
    # the manual's "dirty trick" to send headers
    (r"option httpchk HEAD /index.jsp? HTTP/1.1\r\nHost:\ www",
     b"HEAD /index.jsp? HTTP/1.1\r\nHost: www\r\n\r\n"),
])
def test_httpchk_custom_request(proxy, http_backend, option: str, expected: bytes) -> None:
    s1 = http_backend(name="s1", keepalive=False)
    port = free_port()
    proxy.start(HTTPCHK_CFG, port=port, httpchk=option, servers=servers_cfg({"s1": s1.port}))
    reqs = s1.wait_requests(2)
    assert [r.raw for r in reqs[:2]] == [expected, expected]
    assert get(port) == (200, "s1")


def test_httpchk_status_flip_takes_server_out_and_back(proxy, http_backend) -> None:
    state = {"status": 200}
    web = {n: http_backend(name=n, responder=checks_answer(
        (lambda: state["status"]) if n == "s2" else (lambda: 200), n)) for n in ("s1", "s2")}
    port = free_port()
    px = proxy.start(HTTPCHK_CFG, port=port, httpchk="option httpchk HEAD /running",
                     servers=servers_cfg({n: s.port for n, s in web.items()},
                                         "check inter 300 rise 2 fall 3"))
    wait_until(lambda: len(check_requests(web["s2"])) >= 2, 10, message="s2 checked")
    state["status"] = 404  # "rm -f running"
    wait_transition(px, "farm/s2", "DOWN")
    assert {get(port)[1] for _ in range(6)} == {"s1"}
    state["status"] = 302
    wait_transition(px, "farm/s2", "UP")
    assert sorted(get(port)[1] for _ in range(6)) == ["s1"] * 3 + ["s2"] * 3


def test_check_port_and_addr_send_checks_elsewhere(proxy, http_backend) -> None:
    """`port` and `addr` move the checks; traffic still goes to the server's own address."""
    pa, pc, pb = free_ports(3, HOST, also_free_on=["127.0.0.2"])
    traffic_a = http_backend(port=pa, name="A")
    check_a = http_backend(port=pc, name="checkA")                  # check port pc
    traffic_b = http_backend(port=pb, name="B")
    check_b = http_backend(host="127.0.0.2", port=pb, name="checkB")  # check addr, same port
    check_c = http_backend(host="127.0.0.2", port=pc, name="checkC")  # check addr + port
    port = free_port()
    servers = (f"    server A 127.0.0.1:{pa} check port {pc} inter 300 rise 1 fall 2\n"
               f"    server B 127.0.0.1:{pb} check addr 127.0.0.2 inter 300 rise 1 fall 2\n"
               f"    server C 127.0.0.1:{pa} check addr 127.0.0.2 port {pc} inter 300 rise 1 fall 2")
    px = proxy.start(HTTPCHK_CFG, port=port, httpchk="option httpchk", servers=servers)
    for s in (check_a, check_b, check_c):
        s.wait_requests(2)
        assert {r.raw for r in s.requests} == {b"OPTIONS / HTTP/1.0\r\n\r\n"}
    for s in (traffic_a, traffic_b):
        assert s.requests == [], f"{s.name} got a check"
    got = sorted(get(port)[1] for _ in range(6))
    assert got == ["A", "A", "A", "A", "B", "B"]  # C's traffic goes to A's address too
    assert all(r.method == "GET" for s in (traffic_a, traffic_b) for r in s.requests)

    # the check target fails: the server leaves the farm though its own port still answers
    check_a.stop()
    wait_transition(px, "farm/A", "DOWN")
    check_b.stop()
    wait_transition(px, "farm/B", "DOWN")
    before = len(app_requests(traffic_b))
    got = [get(port)[1] for _ in range(4)]
    assert got == ["A"] * 4  # only C (traffic at A's address, check at checkC) is left
    assert len(app_requests(traffic_b)) == before


# ---------------------------------------------------------------------------------------------
# 3. no request reaches a down server


def test_no_request_reaches_a_down_server(proxy, http_backend) -> None:
    health = {"s1": 200, "s2": 200, "s3": 200}
    web = {n: http_backend(name=n, responder=checks_answer(lambda n=n: health[n], n)) for n in health}
    port = free_port()
    px = proxy.start(HTTPCHK_CFG, port=port, httpchk="option httpchk",
                     servers=servers_cfg({n: s.port for n, s in web.items()},
                                         "check inter 300 rise 2 fall 3"))
    wait_until(lambda: all(len(check_requests(s)) >= 2 for s in web.values()), 10, message="checks")

    # a kept-alive client connection whose first request went to s2 (its next requests are
    # balanced again, as 2.6 does: the kept server connection serves only if s2 is picked)
    kept: http.client.HTTPConnection | None = None
    for _ in range(6):
        c = http.client.HTTPConnection(HOST, port, timeout=10)
        if get(port, conn=c) == (200, "s2"):
            kept = c
            break
        c.close()
    assert kept is not None, "no connection landed on s2"
    try:
        # s2 still accepts connections and would answer, but fails its checks
        health["s2"] = 500
        wait_transition(px, "farm/s2", "DOWN")
        before = {n: len(app_requests(s)) for n, s in web.items()}
        bodies = [get(port)[1] for _ in range(30)]
        bodies += [get(port, conn=kept)[1] for _ in range(4)]
        after = {n: len(app_requests(s)) for n, s in web.items()}
        assert after["s2"] == before["s2"], "a request reached the down server"
        assert set(bodies) == {"s1", "s3"}
        assert after["s1"] - before["s1"] + after["s3"] - before["s3"] == 34
    finally:
        kept.close()

    health["s2"] = 200
    wait_transition(px, "farm/s2", "UP")
    assert sorted(get(port)[1] for _ in range(9)) == sorted(["s1", "s2", "s3"] * 3)


# ---------------------------------------------------------------------------------------------
# 4. nbproc 4: one check per interval


def test_nbproc_4_checks_once_per_interval_and_all_workers_see_the_state(proxy, tcp_echo_backend,
                                                                        syslog) -> None:
    inter = 200
    # the banner tells the client which server it reached
    s1 = tcp_echo_backend(name="s1", banner=b"s1\n")
    s2 = tcp_echo_backend(name="s2", banner=b"s2\n")
    port = free_port()
    cfg = """
    global
        daemon
        nbproc 4
        log 127.0.0.1:{sport} local0
    listen tcpfarm 127.0.0.1:{port}
        mode tcp
        balance roundrobin
        log global
        option tcplog
    """ + TIMEOUTS + """
        server s1 127.0.0.1:{p1} check inter {inter}
        server s2 127.0.0.1:{p2} check inter {inter}
    """
    px = proxy.start(cfg, daemon=True, port=port, sport=syslog.port, p1=s1.port, p2=s2.port, inter=inter)
    wait_until(lambda: len(px.worker_pids()) == 4, 10, message="4 workers")
    s1.wait_accepted(2)
    window = 3.0
    a1, a2 = s1.accepted, s2.accepted
    time.sleep(window)
    n1, n2 = s1.accepted - a1, s2.accepted - a2
    expected = window * 1000 / inter
    print(f"\n[checks] nbproc 4: {n1} and {n2} checks in {window:.0f}s per server "
          f"(one per {inter} ms would be {expected:.0f}; four checking processes: {4 * expected:.0f})")
    for n in (n1, n2):
        assert 0.6 * expected <= n <= 1.25 * expected + 1

    def session() -> tuple[socket.socket, bytes]:
        c = socket.create_connection((HOST, port), timeout=10)
        return c, recv_exactly(c, 3)

    # two sessions held on s2 (possibly in two workers) while it goes down
    held: list[socket.socket] = []
    for _ in range(20):
        c, banner = session()
        (held if banner == b"s2\n" else []).append(c)
        if banner != b"s2\n":
            c.close()
        if len(held) == 2:
            break
    assert len(held) == 2
    try:
        # the master's view reaches every worker: once s2 is down no worker connects to it; the
        # message counts the sessions of all the workers on it
        s2.stop(close_connections=False)
        syslog.wait(down_msg("tcpfarm/s2", 1, 0, sessions=2))
        ports = set()
        for i in range(40):
            c, banner = session()
            with c:
                ports.add(c.getsockname()[1])
                assert banner == b"s1\n"
                c.sendall(b"ping %d\n" % i)
                assert recv_exactly(c, len(b"ping %d\n" % i)) == b"ping %d\n" % i
    finally:
        for c in held:
            c.close()

    # the traffic log lines (tcplog, at the end of each session) carry the relaying worker's pid
    def logged() -> list[tuple[int, str]]:
        with syslog.lock:
            return [(e[2], e[3]) for e in syslog.entries
                    if (m := re.match(r"127\.0\.0\.1:(\d+) \[", e[3])) and int(m[1]) in ports]
    wait_until(lambda: len(logged()) >= 40, 10, message="40 traffic log lines")
    assert all(" tcpfarm tcpfarm/s1 " in line for _, line in logged()), logged()[:3]
    workers = {pid for pid, _ in logged()}
    print(f"[checks] nbproc 4: 40 sessions relayed by {len(workers)} workers, none to the down server")
    assert workers <= set(px.worker_pids())
    assert len(workers) >= 2, "the kernel gave every connection to one worker; nothing learnt"


def test_sighup_dump_shows_the_checked_state_summed_over_workers(proxy, http_backend, syslog) -> None:
    """SIGHUP (doc/haproxy-en.txt 3.1: "the servers status will be dumped into the logs at the
    'notice' level") reports the state the checks gave and the sessions of every worker."""
    s1, s2 = http_backend(name="s1"), http_backend(name="s2")
    port = free_port()
    px = proxy.start("""
    global
        daemon
        nbproc 2
        log 127.0.0.1:{sport} local0
    listen farm 127.0.0.1:{port}
        mode http
        balance roundrobin
        log global
    """ + TIMEOUTS + """
        server s1 127.0.0.1:{p1} check inter 200
        server s2 127.0.0.1:{p2} check inter 200
    """, daemon=True, port=port, sport=syslog.port, p1=s1.port, p2=s2.port)
    wait_until(lambda: len(px.worker_pids()) == 2, 10, message="2 workers")
    s1.wait_accepted(2)
    s1.stop()
    syslog.wait(down_msg("farm/s1", 1, 0))
    for _ in range(6):
        assert get(port) == (200, "s2")
    px.signal(signal.SIGHUP)
    dump = "SIGHUP received, dumping servers states for proxy farm."
    at = syslog.wait(dump)
    syslog.wait("SIGHUP: Server farm/s1 is DOWN. Conn: 0 act, 0 pend, 0 tot.")
    at2, pri, pid, _ = syslog.wait("SIGHUP: Server farm/s2 is UP. Conn: 0 act, 0 pend, 6 tot.")
    assert pri == FAC_LOCAL0 * 8 + LOG_NOTICE and pid == px.master_pid and at2 >= at[0]
    def summary() -> list[str]:
        return [m for m in syslog.messages() if m.startswith("SIGHUP: Proxy farm ")]
    wait_until(summary, 5, message="the proxy's summary")
    assert summary()[0].startswith("SIGHUP: Proxy farm has 1 active servers and 0 backup servers "
                                   "available."), summary()


# ---------------------------------------------------------------------------------------------
# 5. a bounded load while one server goes down


@dataclass
class Result:
    start: float
    end: float
    ok: bool
    server: str
    detail: str


class LoadClients:
    """`threads` clients, each sending one GET per new connection in a loop until stopped."""

    def __init__(self, port: int, threads: int = 3, pause: float = 0.005) -> None:
        self.port = port
        self.pause = pause
        self.results: list[Result] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> LoadClients:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _run(self, i: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            t0 = time.monotonic()
            try:
                status, body = get(self.port, f"/c{i}/{n}", timeout=10)
                ok, detail = status == 200 and body.startswith("s"), f"{status}"
            except (OSError, http.client.HTTPException) as exc:
                status, body, ok, detail = 0, "", False, repr(exc)
            with self.lock:
                self.results.append(Result(t0, time.monotonic(), ok, body if ok else "", detail))
            time.sleep(self.pause)

    def snapshot(self) -> list[Result]:
        with self.lock:
            return list(self.results)


class FarmServer:
    """A small HTTP server for the load tests: one request per connection, answered after `delay`
    (so that a few responses are always in flight), its name as the body.

    `close_listener()` is a server stopping the clean way: the accept thread takes the connections
    already queued in the backlog, then closes the listening socket at once, so later connects are
    refused (a listener closed with a full backlog would reset connections the proxy believes
    established, which no proxy can retry); the requests accepted are answered. `crash()` also
    cuts every established connection, answered or not.
    """

    def __init__(self, name: str, delay: float = 0.05) -> None:
        self.name = name
        self.delay = delay
        self.lock = threading.Lock()
        self.accepted = 0
        self.served = 0
        self.pending: list[float] = []  # the delay of each request read and not answered yet
        self.conns: set[socket.socket] = set()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((HOST, 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name=f"farm-{name}", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        lst = self._sock
        while True:
            closing = self._closing.is_set()
            if closing:
                lst.setblocking(False)
            elif not select.select([lst], [], [], 0.02)[0]:
                continue
            try:
                conn, _ = lst.accept()
            except OSError:
                if closing:
                    break  # backlog empty: close now
                continue
            with self.lock:
                self.accepted += 1
                self.conns.add(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        lst.close()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = conn.recv(4096)
                if not data:
                    return  # a TCP health check
                buf += data
            delay = self.delay
            with self.lock:
                self.pending.append(delay)
            try:
                time.sleep(delay)
                body = f"{self.name}\n".encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                             % (len(body), body))
            finally:
                with self.lock:
                    self.pending.remove(delay)
            with self.lock:
                self.served += 1
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(4096):
                pass
        except OSError:
            pass
        finally:
            with self.lock:
                self.conns.discard(conn)
            conn.close()

    def wait_mid_response(self, min_delay: float = 0.0, timeout: float = 10.0) -> int:
        """Wait until a request (answered after at least min_delay) is being answered; the number
        of requests being answered (a racy snapshot)."""
        def busy() -> int:
            with self.lock:
                return len(self.pending) if any(d >= min_delay for d in self.pending) else 0
        return wait_until(busy, timeout, 0.001, message=f"{self.name} to be answering a request")

    def close_listener(self) -> None:
        self._closing.set()
        self._thread.join(5)

    def crash(self) -> None:
        self.close_listener()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def farm() -> Iterator[dict[str, FarmServer]]:
    servers = {n: FarmServer(n) for n in ("s1", "s2", "s3", "s4")}
    try:
        yield servers
    finally:
        for s in servers.values():
            s.crash()


LOAD_CFG = """
listen farm 127.0.0.1:{port}
    mode http
    balance roundrobin
    option httpclose
    retries 3
    {redispatch}
""" + TIMEOUTS + """
    server s1 127.0.0.1:{p1} check inter 300 rise 2 fall 2
    server s2 127.0.0.1:{p2} check inter 300 rise 2 fall 2
    server s3 127.0.0.1:{p3} check inter 300 rise 2 fall 2
    server s4 127.0.0.1:{p4} check inter 300 rise 2 fall 2
"""


def start_load_farm(proxy, farm: dict[str, FarmServer], redispatch: bool) -> tuple[int, object]:
    port = free_port()
    px = proxy.start(LOAD_CFG, port=port, redispatch="redispatch" if redispatch else "",
                     **{f"p{i}": farm[f"s{i}"].port for i in range(1, 5)})
    wait_until(lambda: all(s.accepted >= 2 for s in farm.values()), 10, message="first checks")
    return port, px


@pytest.mark.parametrize("redispatch", [False, True], ids=["retries-only", "redispatch"])
def test_stopping_one_of_four_servers_under_load(proxy, farm, redispatch: bool) -> None:
    port, px = start_load_farm(proxy, farm, redispatch)
    s4 = farm["s4"]
    with LoadClients(port) as load:
        time.sleep(1.0)
        in_flight = s4.wait_mid_response()
        t_stop = time.monotonic()
        served_before = s4.served
        s4.close_listener()  # connects refused from now on; the accepted requests are answered
        t_down = wait_stderr(px, down_msg("farm/s4", 3, 0))
        # Requests round robin gave to s4 before it was marked DOWN wait min(timeout connect, 1 s)
        # before each retry (HAProxy 2.x's turn-around; 3 s with `retries 3` and no redispatch,
        # which is also what haproxy 2.6 does), so every client may still be held when the DOWN
        # message comes: wait for requests started after it rather than for a fixed time.
        wait_until(lambda: sum(r.start >= t_down for r in load.snapshot()) >= 10, 15, 0.05,
                   message="10 requests started after the DOWN message")
    results = load.snapshot()
    before = [r for r in results if r.end < t_stop]
    during = [r for r in results if r.end >= t_stop and r.start < t_down]
    after = [r for r in results if r.start >= t_down]
    failed_during = [r for r in during if not r.ok]
    failed_after = [r for r in after if not r.ok]
    print(f"\n[checks] load ({'redispatch, ' if redispatch else ''}retries 3): {len(results)} requests, "
          f"s4 DOWN {t_down - t_stop:.2f}s after its stop; failed while going down: "
          f"{len(failed_during)}/{len(during)}, after DOWN: {len(failed_after)}/{len(after)}; "
          f"s4 was answering {in_flight} request(s) at the stop, answered {s4.served - served_before} after")
    assert all(r.ok for r in before), [r.detail for r in before if not r.ok][:5]
    assert len(after) >= 10
    assert failed_after == [], [r.detail for r in failed_after][:5]
    assert not any(r.server == "s4" for r in after)
    assert s4.served > served_before, "the request s4 was answering when it stopped was cut"
    if redispatch:
        assert failed_during == [], [r.detail for r in failed_during][:5]
    else:
        # without redispatch a request given to s4 before it is marked down fails after its retries
        assert all(r.detail == "503" for r in failed_during), [r.detail for r in failed_during][:5]


def test_server_crash_mid_response_fails_only_the_requests_in_flight(proxy, farm) -> None:
    port, px = start_load_farm(proxy, farm, redispatch=True)
    threads = 3
    with LoadClients(port, threads=threads) as load:
        time.sleep(1.0)
        farm["s4"].delay = 0.5  # its next answer takes long enough to be cut for sure
        farm["s4"].wait_mid_response(min_delay=0.5)
        t_crash = time.monotonic()
        farm["s4"].crash()
        t_crashed = time.monotonic()
        t_down = wait_stderr(px, down_msg("farm/s4", 3, 0))
        time.sleep(1.0)
    results = load.snapshot()
    failed = [r for r in results if not r.ok]
    print(f"\n[checks] s4 crash under load: {len(failed)} failed of {len(results)} "
          f"(clients: {threads}): {[r.detail for r in failed]}; DOWN after {t_down - t_crash:.2f}s")
    # only requests already on s4 when it crashed fail (502, the request was sent): one per client
    # at most, and at least the one it was answering
    assert 1 <= len(failed) <= threads, [r.detail for r in failed]
    assert all(r.start < t_crashed and r.detail == "502" for r in failed), failed
    assert all(r.ok for r in results if r.start >= t_crashed)


# ---------------------------------------------------------------------------------------------
# 6. a session on a server that goes down is not cut


class SlowDownload(TcpServer):
    """Reads a request head, then sends an HTTP response of `size` bytes in `chunks` pieces,
    `pause` seconds apart (so the transfer spans the server's DOWN transition)."""

    def __init__(self, size: int, chunks: int, pause: float) -> None:
        super().__init__(HOST, 0, "slow")
        self.size, self.chunks, self.pause = size, chunks, pause
        self.body = deterministic_bytes(size, 11)
        self.finished = 0

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        buf = b""
        conn.settimeout(10)
        while b"\r\n\r\n" not in buf:
            data = conn.recv(4096)
            if not data:
                return  # a health check: connect and close
            buf += data
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % self.size)
        step = self.size // self.chunks
        for i in range(self.chunks):
            conn.sendall(self.body[i * step: self.size if i == self.chunks - 1 else (i + 1) * step])
            time.sleep(self.pause)
        with self.lock:
            self.finished += 1
        conn.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            while conn.recv(4096):
                pass


@pytest.mark.parametrize("mode", ["http", "tcp"])
def test_session_on_a_server_going_down_is_not_cut(proxy, mode: str) -> None:
    slow = SlowDownload(size=2 << 20, chunks=40, pause=0.06)  # ~2.4 s
    slow.start()
    try:
        port = free_port()
        px = proxy.start("""
        listen farm 127.0.0.1:{port}
            mode {mode}
            balance roundrobin
        """ + TIMEOUTS + """
            server slow 127.0.0.1:{ps} check inter 200 rise 1 fall 2
        """, port=port, mode=mode, ps=slow.port)
        slow.wait_accepted(1)
        with socket.create_connection((HOST, port), timeout=15) as c:
            c.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            c.settimeout(15)
            head = b""
            while b"\r\n\r\n" not in head:
                data = c.recv(65536)
                assert data, "closed before the response head"
                head += data
            _, _, body = head.partition(b"\r\n\r\n")
            # the server goes down: its listener closes, the checks fail, the session goes on
            slow.stop(close_connections=False)
            t_stop = time.monotonic()
            down_seen = None
            h = hashlib.sha256(body)
            got = len(body)
            while got < slow.size:
                data = c.recv(65536)
                assert data, f"session cut after {got} of {slow.size} bytes"
                h.update(data)
                got += len(data)
                if down_seen is None and "farm/slow is DOWN" in px.stderr_text():
                    down_seen = time.monotonic()
            end = time.monotonic()
        assert h.hexdigest() == hashlib.sha256(slow.body).hexdigest()
        assert down_seen is not None, "the download ended before the server was marked down"
        print(f"\n[checks] {mode}: DOWN {down_seen - t_stop:.2f}s after the stop, the download "
              f"went on for {end - down_seen:.2f}s more and completed ({slow.size} bytes)")
        # the message counts the session still running on the server (HAProxy's cur_sess)
        assert [m for _, _, m in stderr_messages(px)] == [down_msg("farm/slow", 0, 0, sessions=1),
                                                          no_server_msg("farm")]
    finally:
        slow.stop()
