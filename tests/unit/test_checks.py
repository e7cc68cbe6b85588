"""Health checks (pyhaproxy.checks) against real servers on 127.0.0.0/8, driven by a real selector loop.

Each test builds a config model, runs the checker in the same loop shape as the master
(select -> key.data(mask) -> tick) for a bounded time, and looks at what the servers saw, the
server state in shared memory and the log lines.
"""

from __future__ import annotations

import io
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import pytest

from pyhaproxy._core import check_status, srv_state
from pyhaproxy.checks import HealthChecker, http_check_request
from pyhaproxy.config.model import Config, Global, HttpCheck, HttpCheckSend, LogTarget, Proxy, Server
from pyhaproxy.logs import MasterLog
from pyhaproxy.shm import create_shm
from tests.helpers.net import LOCALHOST, free_port
from tests.helpers.servers import TcpServer
from tests.helpers.syslog import Syslog

pytestmark = pytest.mark.timeout(60)

def make_shm(cfg: Config) -> Any:
    return create_shm(cfg, max(1, cfg.global_.nbproc))


class ListLog:
    """Log sink: remembers (monotonic time, level, message)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str, str]] = []

    def _add(self, level: str, msg: str) -> None:
        self.lines.append((time.monotonic(), level, msg))

    def alert(self, msg: str) -> None:
        self._add("alert", msg)

    def warning(self, msg: str) -> None:
        self._add("warning", msg)

    def notice(self, msg: str) -> None:
        self._add("notice", msg)

    def info(self, msg: str) -> None:
        self._add("info", msg)

    def messages(self, level: str | None = None) -> list[str]:
        return [m for _, lv, m in self.lines if level is None or lv == level]

    def first(self, needle: str) -> tuple[float, str, str] | None:
        return next((entry for entry in self.lines if needle in entry[2]), None)


class CheckTarget(TcpServer):
    """A checked server: records (arrival time, peer, request bytes) of every connection.

    read_request: read up to the empty line first (HTTP checks); reply: bytes sent back, None to
    close without a word; hold: keep the connection open, never answer (timeout tests).
    """

    def __init__(self, host: str = LOCALHOST, port: int = 0, reply: bytes | None = None,
                 read_request: bool = False, hold: bool = False) -> None:
        super().__init__(host, port)
        self.reply = reply
        self.read_request = read_request
        self.hold = hold
        self.hits: list[tuple[float, tuple[str, int], bytes]] = []

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        arrived = time.monotonic()
        req = b""
        conn.settimeout(5)
        if self.read_request or self.hold:
            while b"\r\n\r\n" not in req:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                req += chunk
        with self.lock:
            self.hits.append((arrived, peer, req))
        if self.hold:
            while not self._stop.is_set() and conn.recv(4096):
                pass
        elif self.reply is not None:
            conn.sendall(self.reply)

    def times(self) -> list[float]:
        with self.lock:
            return [h[0] for h in self.hits]


class Loop:
    """The master's loop shape around one HealthChecker."""

    def __init__(self, hc: HealthChecker) -> None:
        self.hc = hc
        self.sel = selectors.DefaultSelector()
        hc.attach(self.sel)
        self.started = time.monotonic()

    def run(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Run for at most `seconds`; return True if `until` became true."""
        end = time.monotonic() + seconds
        while True:
            if until is not None and until():
                return True
            now = time.monotonic()
            if now >= end:
                return False
            deadline = self.hc.next_deadline()
            wake = end if deadline is None else min(deadline, end)
            # wake at least every 10 ms so `until` sees what the servers (threads) record
            for key, mask in self.sel.select(min(0.01, max(0.0, wake - now))):
                key.data(mask)
            self.hc.tick(time.monotonic())

    def close(self) -> None:
        self.hc.close()
        self.sel.close()


@pytest.fixture
def servers() -> Iterator[list[TcpServer]]:
    started: list[TcpServer] = []
    yield started
    for s in started:
        s.stop()


@pytest.fixture
def loops() -> Iterator[list[Loop]]:
    made: list[Loop] = []
    yield made
    for lp in made:
        lp.close()


def start(servers: list[TcpServer], srv: CheckTarget) -> CheckTarget:
    srv.start()
    servers.append(srv)
    return srv


def refused_port() -> int:
    """A port nothing listens on (connect gets RST)."""
    return free_port()


def srv(name: str, port: int, host: str = LOCALHOST, inter: int = 100, rise: int = 2, fall: int = 2,
        **kw: Any) -> Server:
    return Server(name=name, host=host, port=port, check=True, inter=inter, rise=rise, fall=fall, **kw)


def build(loops: list[Loop], *proxies: Proxy, nbproc: int = 1) -> tuple[Loop, Any, ListLog]:
    cfg = Config(global_=Global(nbproc=nbproc), proxies=list(proxies))
    shm = make_shm(cfg)
    log = ListLog()
    loop = Loop(HealthChecker(cfg, shm, log))
    loops.append(loop)
    return loop, shm, log


def status(shm: Any, i: int) -> int:
    return int(shm.srv_info(i)["check_status"])


# ---- TCP checks ------------------------------------------------------------------------------


def test_accepting_server_stays_up(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget())
    loop, shm, log = build(loops, Proxy(name="px", servers=[srv("s1", target.port)]))
    loop.run(0.55)
    assert len(target.times()) >= 3
    assert shm.srv_state(0) == 1
    assert status(shm, 0) == check_status.CHK_L4OK
    assert shm.srv_info(0)["check_health"] == 3  # rise + fall - 1: fully up
    assert log.lines == []


def timeless(msgs: list[str]) -> list[str]:
    """Messages with their check duration written as Nms (it varies with the machine)."""
    return [re.sub(r"check duration: \d+ms", "check duration: Nms", m) for m in msgs]


def test_unreachable_server_goes_down_at_first_check(loops: list[Loop]) -> None:
    # HAProxy 1.2 starts a checked server UP with health = rise: it falls at its first failure.
    loop, shm, log = build(loops, Proxy(name="px", servers=[srv("s1", refused_port(), inter=100)]))
    t0 = loop.started
    assert shm.srv_state(0) == 1
    assert loop.run(2.0, until=lambda: shm.srv_state(0) == 0)
    down = log.first("is DOWN")
    assert down is not None
    # first check after one interval (HAProxy schedules the first check at now + inter)
    assert 0.08 <= down[0] - t0 <= 0.4
    assert timeless(log.messages()) == [
        'Server px/s1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", '
        "check duration: Nms. 0 active and 0 backup servers left. "
        "0 sessions active, 0 requeued, 0 remaining in queue.",
        "proxy 'px' has no server available!",
    ]
    assert log.messages("alert") == log.messages()
    assert status(shm, 0) == check_status.CHK_L4CON
    assert shm.srv_info(0)["check_health"] == 0


def test_up_server_falls_after_fall_failures_and_rises_after_rise(
        servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget())
    inter, rise, fall = 100, 2, 3
    loop, shm, log = build(loops, Proxy(name="px", servers=[srv("s1", target.port, inter=inter,
                                                                 rise=rise, fall=fall)]))
    assert loop.run(2.0, until=lambda: status(shm, 0) == check_status.CHK_L4OK)
    target.stop()
    stopped = time.monotonic()
    assert loop.run(3.0, until=lambda: shm.srv_state(0) == 0)
    down = log.first("is DOWN")
    assert down is not None
    # `fall` failed checks, one per interval, the first within one interval of the stop
    assert (fall - 1) * inter / 1000 - 0.03 <= down[0] - stopped <= fall * inter / 1000 + 0.25
    assert down[1] == "alert"

    target.start()  # same port
    restarted = time.monotonic()
    assert loop.run(3.0, until=lambda: shm.srv_state(0) == 1)
    up = log.first("is UP")
    assert up is not None
    assert (rise - 1) * inter / 1000 - 0.03 <= up[0] - restarted <= rise * inter / 1000 + 0.25
    assert (up[1], timeless([up[2]])) == ("notice", [
        "Server px/s1 is UP, reason: Layer4 check passed, check duration: Nms. 1 active and 0 backup "
        "servers online. 0 sessions requeued, 0 total in queue."])
    assert status(shm, 0) == check_status.CHK_L4OK


def test_counts_active_backup_and_unchecked_servers(servers: list[TcpServer], loops: list[Loop]) -> None:
    backup = start(servers, CheckTarget())
    dead = refused_port()
    px1 = Proxy(name="web", servers=[srv("a1", dead), srv("b1", backup.port, backup=True)])
    # an unchecked server is always up and counts as one left
    px2 = Proxy(name="app", servers=[srv("c1", dead), Server(name="c2", host=LOCALHOST, port=dead)])
    loop, shm, log = build(loops, px1, px2)
    assert loop.run(2.0, until=lambda: shm.srv_state(0) == 0 and shm.srv_state(2) == 0)
    loop.run(0.3)
    msgs = timeless(log.messages())
    why = 'reason: Layer4 connection problem, info: "Connection refused", check duration: Nms'
    assert (f"Server web/a1 is DOWN, {why}. 0 active and 1 backup servers left. Running on backup. "
            "0 sessions active, 0 requeued, 0 remaining in queue.") in msgs
    assert (f"Server app/c1 is DOWN, {why}. 1 active and 0 backup servers left. "
            "0 sessions active, 0 requeued, 0 remaining in queue.") in msgs
    assert not any("no server available" in m for m in msgs)
    assert shm.srv_state(1) == 1 and shm.srv_state(3) == 1
    assert len(msgs) == 2


def test_backup_server_messages(loops: list[Loop]) -> None:
    loop, shm, log = build(loops, Proxy(name="px", servers=[
        srv("bk", refused_port(), backup=True)]))
    assert loop.run(2.0, until=lambda: len(log.lines) >= 2)
    assert timeless(log.messages()) == [
        'Backup Server px/bk is DOWN, reason: Layer4 connection problem, info: "Connection refused", '
        "check duration: Nms. 0 active and 0 backup servers left. "
        "0 sessions active, 0 requeued, 0 remaining in queue.",
        "proxy 'px' has no server available!",
    ]


def test_connect_timeout_is_inter(loops: list[Loop]) -> None:
    # A connect that never completes: a listener that never accepts and whose accept queue is
    # full makes Linux drop further SYNs, so the check's connect hangs until its timeout.
    lst = socket.socket()
    lst.bind((LOCALHOST, 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    try:
        # fill the accept queue so further SYNs are dropped
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex((LOCALHOST, port))
            fillers.append(c)
        time.sleep(0.05)
        loop, shm, log = build(loops, Proxy(name="px", servers=[srv("s1", port, inter=150)]))
        t0 = loop.started
        assert loop.run(2.0, until=lambda: shm.srv_state(0) == 0)
        down = log.first("is DOWN")
        assert down is not None
        # first check at +inter, declared failed at +2*inter
        assert 0.28 <= down[0] - t0 <= 0.6
        assert status(shm, 0) == check_status.CHK_L4TOUT
    finally:
        for c in fillers:
            c.close()
        lst.close()


# ---- HTTP checks -----------------------------------------------------------------------------


@pytest.mark.parametrize("reply, up, code", [
    (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", True, check_status.CHK_L7OK),
    (b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n", True, check_status.CHK_L7OK),
    (b"HTTP/1.0 500 Internal Server Error\r\n\r\n", False, check_status.CHK_L7STS),
    (b"HTTP/1.1 404 Not Found\r\n\r\n", False, check_status.CHK_L7STS),
    (b"SSH-2.0-OpenSSH_9.6\r\n", False, check_status.CHK_L7RSP),
    (b"HTTP/1.0 2", False, check_status.CHK_L7RSP),  # truncated status line, then close
    (None, False, check_status.CHK_L7RSP),  # closes without a word
])
def test_httpchk_replies(servers: list[TcpServer], loops: list[Loop], reply: bytes | None,
                         up: bool, code: int) -> None:
    target = start(servers, CheckTarget(reply=reply, read_request=True))
    loop, shm, log = build(loops, Proxy(name="px", httpchk=HttpCheck(),
                                        servers=[srv("s1", target.port)]))
    loop.run(1.0, until=lambda: len(target.times()) >= 3 and status(shm, 0) != 0)
    loop.run(0.05)
    assert status(shm, 0) == code
    assert shm.srv_state(0) == (1 if up else 0)
    assert (log.first("is DOWN") is None) == up
    with target.lock:
        assert target.hits[0][2] == b"OPTIONS / HTTP/1.0\r\n\r\n"  # HAProxy's default check


def test_httpchk_request_line_is_exact(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget(reply=b"HTTP/1.0 200 OK\r\n\r\n", read_request=True))
    hc = HttpCheck(method="HEAD", uri="/index.html", version="HTTP/1.0")
    loop, shm, log = build(loops, Proxy(name="px", httpchk=hc, servers=[srv("s1", target.port)]))
    assert loop.run(2.0, until=lambda: len(target.times()) >= 2)
    with target.lock:
        assert [h[2] for h in target.hits[:2]] == [b"HEAD /index.html HTTP/1.0\r\n\r\n"] * 2
    assert shm.srv_state(0) == 1


def test_httpchk_silent_server_times_out(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget(hold=True))
    loop, shm, log = build(loops, Proxy(name="px", httpchk=HttpCheck(),
                                        servers=[srv("s1", target.port, inter=150)]))
    t0 = loop.started
    assert loop.run(2.0, until=lambda: shm.srv_state(0) == 0)
    down = log.first("is DOWN")
    assert down is not None
    assert 0.28 <= down[0] - t0 <= 0.6  # connected at +inter, no answer within inter
    assert status(shm, 0) == check_status.CHK_L7TOUT


def test_httpchk_brings_server_back(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget(reply=b"HTTP/1.0 503 Service Unavailable\r\n\r\n",
                                        read_request=True))
    loop, shm, log = build(loops, Proxy(name="px", httpchk=HttpCheck(method="HEAD", uri="/running"),
                                        servers=[srv("s1", target.port, rise=2)]))
    assert loop.run(2.0, until=lambda: shm.srv_state(0) == 0)
    target.reply = b"HTTP/1.0 200 OK\r\n\r\n"
    assert loop.run(2.0, until=lambda: shm.srv_state(0) == 1)
    assert timeless(log.messages("notice")) == [
        "Server px/s1 is UP, reason: Layer7 check passed, code: 200, check duration: Nms. "
        "1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."]


# ---- where the check goes, where it comes from -----------------------------------------------


def test_check_port_is_used(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget())
    loop, shm, log = build(loops, Proxy(name="px", servers=[
        srv("s1", refused_port(), check_port=target.port)]))
    assert loop.run(2.0, until=lambda: len(target.times()) >= 2)
    assert shm.srv_state(0) == 1 and status(shm, 0) == check_status.CHK_L4OK
    assert log.lines == []


def test_check_addr_is_used(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget(host="127.0.0.3"))
    # nothing listens on 127.0.0.1 at that port: only a check sent to 127.0.0.3 succeeds
    loop, shm, log = build(loops, Proxy(name="px", servers=[
        srv("s1", target.port, host=LOCALHOST, check_addr="127.0.0.3")]))
    assert loop.run(2.0, until=lambda: len(target.times()) >= 2)
    assert shm.srv_state(0) == 1 and status(shm, 0) == check_status.CHK_L4OK


def test_check_addr_and_port_together(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget(host="127.0.0.3", reply=b"HTTP/1.0 200 OK\r\n\r\n",
                                        read_request=True))
    loop, shm, log = build(loops, Proxy(name="px", httpchk=HttpCheck(), servers=[
        srv("s1", refused_port(), check_addr="127.0.0.3", check_port=target.port)]))
    assert loop.run(2.0, until=lambda: len(target.times()) >= 2)
    assert shm.srv_state(0) == 1 and status(shm, 0) == check_status.CHK_L7OK


def test_server_source_is_bound(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget())
    loop, shm, log = build(loops, Proxy(name="px", source="127.0.0.4", servers=[
        srv("s1", target.port, source="127.0.0.2")]))
    assert loop.run(2.0, until=lambda: len(target.times()) >= 2)
    assert set(target.peer_hosts()) == {"127.0.0.2"}  # the server's source wins over the proxy's


def test_proxy_source_with_port_is_bound(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget())
    sport = free_port("127.0.0.2")
    loop, shm, log = build(loops, Proxy(name="px", source=f"127.0.0.2:{sport}", servers=[
        srv("s1", target.port)]))
    assert loop.run(2.0, until=lambda: len(target.times()) >= 1)
    with target.lock:
        assert target.peers[0] == ("127.0.0.2", sport)


def test_unbindable_source_fails_the_check(loops: list[Loop], servers: list[TcpServer]) -> None:
    target = start(servers, CheckTarget())
    loop, shm, log = build(loops, Proxy(name="px", servers=[
        srv("s1", target.port, source="192.0.2.1")]))  # TEST-NET address, not local
    assert loop.run(2.0, until=lambda: shm.srv_state(0) == 0)
    assert target.times() == []
    assert ("Cannot bind to source address before connect() for server px/s1. Aborting."
            in log.messages("alert"))
    assert status(shm, 0) == check_status.CHK_L4CON


# ---- scheduling --------------------------------------------------------------------------------


def test_first_checks_are_spread(servers: list[TcpServer], loops: list[Loop]) -> None:
    targets = [start(servers, CheckTarget()) for _ in range(4)]
    loop, shm, log = build(loops, Proxy(name="px", servers=[
        srv(f"s{i}", t.port, inter=1000) for i, t in enumerate(targets)]))
    t0 = loop.started
    assert loop.run(2.5, until=lambda: all(t.times() for t in targets))
    firsts = [t.times()[0] - t0 for t in targets]
    assert max(firsts) - min(firsts) > 0.05
    # HAProxy: first check at inter + mininter * pos / nbchk -> 1.0, 1.25, 1.5, 1.75 s
    for pos, first in enumerate(firsts):
        assert abs(first - (1.0 + 0.25 * pos)) < 0.15, firsts


def test_one_check_per_interval_whatever_nbproc(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget())
    loop, shm, log = build(loops, Proxy(name="px", servers=[srv("s1", target.port, inter=100)]),
                           nbproc=4)
    loop.run(1.05)
    n = len(target.times())
    # first check at +0.1 then every 0.1 s: 10 checks in 1.05 s, whatever the number of workers
    assert 8 <= n <= 11, n
    gaps = [b - a for a, b in pairwise(target.times())]
    assert min(gaps) > 0.06, gaps


def test_downinter_used_while_down(loops: list[Loop]) -> None:
    port = refused_port()
    loop, shm, log = build(loops, Proxy(name="px", servers=[
        srv("s1", port, inter=100, downinter=400)]))
    assert loop.run(2.0, until=lambda: shm.srv_state(0) == 0)
    # while fully down, the next check is due downinter after the previous one
    down_at = time.monotonic()
    nd = loop.hc.next_deadline()
    assert nd is not None
    assert 0.3 <= nd - down_at <= 0.45


def test_admin_down_server_is_not_checked(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget())
    loop, shm, log = build(loops, Proxy(name="px", servers=[srv("s1", target.port)]))
    shm.set_srv_admin_down(0, True)
    loop.run(0.5)
    assert target.times() == []
    shm.set_srv_admin_down(0, False)
    assert loop.run(1.0, until=lambda: bool(target.times()))


def test_unchecked_and_disabled_are_not_checked(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget())
    loop, shm, log = build(
        loops,
        Proxy(name="plain", servers=[Server(name="s1", host=LOCALHOST, port=target.port)]),
        Proxy(name="off", disabled=True, servers=[srv("s2", target.port)]),
    )
    assert loop.hc.next_deadline() is None
    loop.run(0.4)
    assert target.times() == []
    assert shm.srv_state(0) == 1 and shm.srv_state(1) == 1


def test_no_port_means_no_check(loops: list[Loop]) -> None:
    loop, shm, log = build(loops, Proxy(name="px", servers=[
        Server(name="s1", host=LOCALHOST, port=None, check=True, inter=100)]))
    assert loop.hc.next_deadline() is None
    assert any("server s1 has neither service port nor check port. Check has been disabled." in m
               for m in log.messages("alert"))


def test_close_releases_sockets(servers: list[TcpServer], loops: list[Loop]) -> None:
    target = start(servers, CheckTarget(hold=True))
    loop, shm, log = build(loops, Proxy(name="px", httpchk=HttpCheck(),
                                        servers=[srv("s1", target.port, inter=300)]))
    assert loop.run(2.0, until=lambda: bool(target.times()))
    loop.run(0.05)
    assert len(loop.sel.get_map()) == 1  # the check in flight
    loop.hc.close()
    assert len(loop.sel.get_map()) == 0
    assert loop.hc.next_deadline() is None
    loop.hc.tick(time.monotonic() + 10)
    assert len(loop.sel.get_map()) == 0


def test_checks_do_not_block_the_loop(servers: list[TcpServer], loops: list[Loop]) -> None:
    """A check waiting for its answer leaves the loop free: a timer-like wakeup keeps its pace."""
    target = start(servers, CheckTarget(hold=True))
    loop, shm, log = build(loops, Proxy(name="px", httpchk=HttpCheck(),
                                        servers=[srv("s1", target.port, inter=200)]))
    r, w = socket.socketpair()
    seen: list[float] = []
    stop = threading.Event()

    def pinger() -> None:
        while not stop.wait(0.02):
            w.send(b"x")

    def on_ping(mask: int) -> None:
        r.recv(100)
        seen.append(time.monotonic())

    loop.sel.register(r, selectors.EVENT_READ, on_ping)
    th = threading.Thread(target=pinger, daemon=True)
    th.start()
    try:
        loop.run(0.8)
    finally:
        stop.set()
        th.join(2)
        loop.sel.unregister(r)
        r.close()
        w.close()
    gaps = [b - a for a, b in pairwise(seen)]
    assert gaps and max(gaps) < 0.15, max(gaps)
    assert target.times()  # a check did run meanwhile


# ---- with the master's real log ------------------------------------------------------------------


def test_master_log_routing_is_haproxy_12s(servers: list[TcpServer], loops: list[Loop]) -> None:
    """With MasterLog: stderr [WARNING]/[ALERT] lines, syslog to the proxy's own targets at
    alert (DOWN), notice (UP) and emerg (no server left), as HAProxy 1.2's send_log(proxy, ...)."""
    rx_proxy = Syslog(host=LOCALHOST)
    rx_global = Syslog(host=LOCALHOST)
    target = start(servers, CheckTarget())
    port = target.port
    target.stop()
    err = io.StringIO()
    try:
        glob = Global(logs=[LogTarget(address=f"{LOCALHOST}:{rx_global.port}",
                                      facility="local1")])
        px = Proxy(name="px", logs=[LogTarget(address=f"{LOCALHOST}:{rx_proxy.port}",
                                              facility="local0")],
                   servers=[srv("s1", port, rise=1)])
        cfg = Config(global_=glob, proxies=[px])
        log = MasterLog(glob, stderr=err)
        loop = Loop(HealthChecker(cfg, create_shm(cfg, 1), log))
        loops.append(loop)
        assert loop.run(2.0, until=lambda: "no server available" in err.getvalue())
        target.start()
        assert loop.run(2.0, until=lambda: "is UP" in err.getvalue())
        got = [rx_proxy.datagram(2) for _ in range(3)]
        assert rx_global.pending() == []  # the proxy has its own targets and no `log global`
        log.close()
    finally:
        rx_proxy.close()
        rx_global.close()
    # local0 = 16: PRI = 16 * 8 + level
    assert got[0].startswith(b"<129>") and b"Server px/s1 is DOWN, reason: " in got[0]
    assert b"ms. 0 active and 0 backup" in got[0]
    # (2.6 quotes the name on stderr only)
    assert got[1].startswith(b"<128>") and got[1].endswith(b"proxy px has no server available!\n")
    assert got[2].startswith(b"<133>") and b"Server px/s1 is UP, reason: " in got[2]
    lines = timeless(err.getvalue().splitlines())
    assert lines[0].startswith("[WARNING] ") and lines[0].endswith(
        ' : Server px/s1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", '
        "check duration: Nms. 0 active and 0 backup servers left. "
        "0 sessions active, 0 requeued, 0 remaining in queue.")
    assert lines[1].startswith("[ALERT] ") and lines[1].endswith(" : proxy 'px' has no server available!")
    assert lines[2].startswith("[WARNING] ") and "Server px/s1 is UP, reason: Layer4 check passed" in lines[2]
    assert len(lines) == 3


@pytest.mark.parametrize(("httpchk", "send", "wire"), [
    # what haproxy 2.6 sent in each case (observed with /usr/sbin/haproxy)
    (HttpCheck(), None, b"OPTIONS / HTTP/1.0\r\n\r\n"),
    (HttpCheck("GET", "/x"), HttpCheckSend(headers=[("Host", "h")], body="zz"),
     b"GET /x HTTP/1.0\r\nhost: h\r\ncontent-length: 2\r\n\r\nzz"),
    (HttpCheck("HEAD", "/y", "HTTP/1.1"), HttpCheckSend(method="POST"),
     b"POST /y HTTP/1.1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
    (HttpCheck(), HttpCheckSend(method="GET", uri="/a", version="HTTP/1.1"),
     b"GET /a HTTP/1.1\r\nconnection: close\r\n\r\n"),
    (HttpCheck(), HttpCheckSend(method="GET", uri="/b", headers=[("Connection", "keep-alive")]),
     b"GET /b HTTP/1.0\r\nconnection: keep-alive\r\n\r\n"),
])
def test_http_check_send_request(httpchk: HttpCheck, send: HttpCheckSend | None, wire: bytes) -> None:
    px = Proxy(name="b", httpchk=httpchk, http_check_send=send)
    assert http_check_request(px) == wire


def test_server_restored_down_comes_back_up(servers: list[TcpServer], loops: list[Loop]) -> None:
    """A checked server the server state file restored DOWN (health 0, server_state.py) is
    brought UP by its checks once they pass `rise` times, with the UP message; before 5945cbf
    its checker still took it for UP and never said so, and the server stayed DOWN."""
    target = start(servers, CheckTarget())
    cfg = Config(global_=Global(nbproc=1), proxies=[Proxy(name="px", servers=[
        srv("s1", target.port, inter=100, rise=2)])])
    shm = make_shm(cfg)
    shm.set_srv_state(0, srv_state.SRV_DOWN, 0)
    shm.set_srv_check(0, check_status.CHK_L4CON, 0, 0)
    log = ListLog()
    loop = Loop(HealthChecker(cfg, shm, log, restored=frozenset({0})))
    loops.append(loop)
    assert shm.srv_state(0) == srv_state.SRV_DOWN          # (not reset to UP at start)
    assert loop.run(3.0, until=lambda: shm.srv_state(0) == srv_state.SRV_UP)
    assert [m for m in log.messages() if "is UP" in m], log.messages()
