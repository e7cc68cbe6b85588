"""Unit tests of the statistics: rows, CSV, Prometheus text, HTML page, the internal HTTP handler,
the CLI commands, and the non-blocking unix servers driven by a real selector.

The shared memory is the real one (pyhaproxy._core.Shm via create_shm); only the per-worker
counters, which only a worker writes, are supplied through a thin wrapper around it.
"""

from __future__ import annotations

import base64
import copy
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyhaproxy._core")

from pyhaproxy._core import srv_state  # noqa: E402
from pyhaproxy.config.model import Bind, Config, Proxy, Server, Stats, StatsSocket  # noqa: E402
from pyhaproxy.shm import create_shm  # noqa: E402
from pyhaproxy.stats import STATS_SOCK_KEY, StatsService  # noqa: E402
from pyhaproxy.stats import csv as csv_fmt  # noqa: E402
from pyhaproxy.stats import html as html_fmt  # noqa: E402
from pyhaproxy.stats import prometheus as prom_fmt  # noqa: E402
from pyhaproxy.stats.collect import FIELDS, View, collect, server_state  # noqa: E402
from pyhaproxy.stats.http import InternalHttpServer, handle_request, sockaddr_bytes  # noqa: E402
from pyhaproxy.stats.socket import CliServer, CommandHandler  # noqa: E402

pytestmark = pytest.mark.timeout(30)

# HAProxy 2.6's `show stat` header, fixed fields only (read from /usr/sbin/haproxy 2.6.12)
HAPROXY_26_HEADER = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,"
    "weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,"
    "rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
    "hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,"
    "lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,"
    "agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,"
    "conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,"
    "srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,"
    "used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,"
)


def _zero() -> dict[str, Any]:
    return {
        "cur_sess": 0, "max_sess": 0, "tot_sess": 0, "bytes_in": 0, "bytes_out": 0, "denied_req": 0,
        "denied_resp": 0, "err_req": 0, "err_conn": 0, "err_resp": 0, "retries": 0, "redispatches": 0,
        "req_tot": 0, "hrsp": [0] * 6,
    }  # fmt: skip


class CountedShm:
    """The real shared memory for server state; counters set by the test (a worker's job)."""

    def __init__(self, cfg: Config) -> None:
        self.shm = create_shm(cfg, 2)
        self.ctr: dict[int, dict[str, Any]] = {}

    def counters_sum(self, slot: int) -> dict[str, Any]:
        return copy.deepcopy(self.ctr.get(slot, _zero()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shm, name)


def make_cfg() -> Config:
    web = Proxy("web", binds=[Bind("127.0.0.1", 8080, 8080)], mode="http")
    web.servers = [
        Server("s1", "10.0.0.1", 80, check=True, rise=2, fall=3, weight=3, cookie="a"),
        Server("s2", "10.0.0.2", 80, check=True, rise=2, fall=3),
        Server("bk", "10.0.0.3", 80, backup=True),
    ]
    web.stats = Stats(enabled=True, uri="/st", realm="My Realm", auth=[("admin", "pw")], refresh=5000)
    db = Proxy("db", binds=[Bind("127.0.0.1", 3306, 3306)], mode="tcp")
    db.servers = [Server("m1", "10.0.1.1", 3306, disabled=True)]
    pub = Proxy("pub", binds=[Bind("127.0.0.1", 8081, 8081)], mode="http")
    pub.stats = Stats(enabled=True, uri="/st", scope=["."], hide_version=True)
    pub.dispatch = ("10.0.2.1", 80)
    return Config(proxies=[web, db, pub])


@pytest.fixture
def view() -> View:
    cfg = make_cfg()
    shm = CountedShm(cfg)
    web = _zero()
    web.update(
        cur_sess=2,
        max_sess=5,
        tot_sess=100,
        bytes_in=1000,
        bytes_out=50000,
        req_tot=120,
        hrsp=[0, 0, 110, 3, 5, 2],
    )  # [other, 1xx..5xx] as the worker writes
    shm.ctr[0] = web
    nproxy = 3
    s1 = _zero()
    s1.update(tot_sess=60, bytes_in=600, bytes_out=30000, hrsp=[0, 0, 60, 0, 0, 0])
    shm.ctr[nproxy + 0] = s1
    s2 = _zero()
    s2.update(tot_sess=40, bytes_in=400, bytes_out=20000, err_conn=1, hrsp=[0, 0, 50, 3, 5, 2])
    shm.ctr[nproxy + 1] = s2
    # s2 down by its checks
    shm.set_srv_state(1, srv_state.SRV_DOWN)
    return View(cfg, shm, [111, 222], master_pid=99, started=time.time() - 3725)


def csv_rows(text: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    names = lines[0][2:].rstrip(",").split(",")
    out = []
    for line in lines[1:]:
        assert line.endswith(",")
        values = line[:-1].split(",")
        assert len(values) == len(names)
        out.append(dict(zip(names, values, strict=True)))
    return out


# --------------------------------------------------------------------------------------------
# rows and CSV
# --------------------------------------------------------------------------------------------
def test_csv_header_is_haproxy_26s() -> None:
    assert csv_fmt.header() == HAPROXY_26_HEADER + "\n"
    assert len(FIELDS) == len(set(FIELDS))


def test_csv_rows(view: View) -> None:
    rows = csv_rows(csv_fmt.render(collect(view)))
    names = [(r["pxname"], r["svname"]) for r in rows]
    assert names == [
        ("web", "FRONTEND"), ("web", "s1"), ("web", "s2"), ("web", "bk"), ("web", "BACKEND"),
        ("db", "FRONTEND"), ("db", "m1"), ("db", "BACKEND"),
        ("pub", "FRONTEND"), ("pub", "BACKEND"),
    ]  # fmt: skip
    by = {(r["pxname"], r["svname"]): r for r in rows}
    fe = by["web", "FRONTEND"]
    assert (fe["scur"], fe["smax"], fe["stot"], fe["bin"], fe["bout"]) == ("2", "5", "100", "1000", "50000")
    assert fe["status"] == "OPEN" and fe["type"] == "0" and fe["req_tot"] == "120" and fe["hrsp_2xx"] == "110"
    s1 = by["web", "s1"]
    assert s1["status"] == "UP" and s1["weight"] == "3" and s1["act"] == "1" and s1["bck"] == "0"
    assert s1["stot"] == "60" and s1["lbtot"] == "60" and s1["type"] == "2" and s1["sid"] == "1"
    assert s1["addr"] == "10.0.0.1:80" and s1["cookie"] == "a" and s1["check_rise"] == "2"
    s2 = by["web", "s2"]
    assert s2["status"] == "DOWN" and s2["econ"] == "1" and s2["chkdown"] == "1"
    assert by["web", "bk"]["status"] == "no check" and by["web", "bk"]["bck"] == "1"
    be = by["web", "BACKEND"]
    # s1 up (weight 3) and the backup up: act 1, bck 1, weight = the active servers' weights
    assert (be["status"], be["act"], be["bck"], be["weight"], be["lbtot"]) == ("UP", "1", "1", "3", "100")
    assert be["algo"] == "roundrobin" and be["type"] == "1"
    assert by["db", "m1"]["status"] == "MAINT"
    assert by["db", "BACKEND"]["status"] == "DOWN"  # only server in maintenance
    assert by["db", "FRONTEND"]["hrsp_2xx"] == ""  # tcp mode: no HTTP columns
    assert by["pub", "BACKEND"]["status"] == "UP"  # dispatch, no servers


def test_server_transition_states() -> None:
    srv = Server("s", "1.2.3.4", 80, check=True, rise=2, fall=3)
    # health runs 0..rise+fall-1 = 0..4; UP at >= rise
    assert server_state({"state": 1, "check_health": 4}, srv) == ("up", "UP")
    assert server_state({"state": 1, "check_health": 3}, srv) == ("going_down", "UP 2/3")
    assert server_state({"state": 1, "check_health": 2}, srv) == ("going_down", "UP 1/3")
    assert server_state({"state": 0, "check_health": 1}, srv) == ("going_up", "DOWN 1/2")
    assert server_state({"state": 0, "check_health": 0}, srv) == ("down", "DOWN")
    assert server_state({"state": 1, "admin_down": 1}, srv) == ("maint", "MAINT")
    nocheck = Server("n", "1.2.3.4", 80)
    assert server_state({"state": 1}, nocheck) == ("nocheck", "no check")


def test_show_stat_filter(view: View) -> None:
    snap = collect(view)
    servers = csv_fmt.select(snap.rows(), -1, 4, -1)
    assert {r.svname for r in servers} == {"s1", "s2", "bk", "m1"}
    one = csv_fmt.select(snap.rows(), 1, 4, 2)
    assert [r.svname for r in one] == ["s2"]
    fe_be = csv_fmt.select(snap.rows(), 2, 3, -1)
    assert [r.svname for r in fe_be] == ["FRONTEND", "BACKEND"]


def test_csv_quotes_commas() -> None:
    assert csv_fmt.field('a,b"c') == '"a,b""c"'


def test_scope_limits_proxies(view: View) -> None:
    snap = collect(view, {"db"})
    assert [p.proxy.name for p in snap.proxies] == ["db"]
    # the process totals still count every proxy
    assert snap.info["CumConns"] == 100


def test_show_info(view: View) -> None:
    info = collect(view).info
    assert info["Pid"] == 99 and info["Nbproc"] == 2
    assert info["Uptime"] == "0d 1h02m05s" and info["Uptime_sec"] == 3725
    assert info["Worker1_Pid"] == 111 and info["Worker2_Pid"] == 222
    assert info["CumReq"] == 120 and info["CurrConns"] == 2


# --------------------------------------------------------------------------------------------
# Prometheus
# --------------------------------------------------------------------------------------------
def test_prometheus_parses_and_uses_haproxy_names(view: View) -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    text = prom_fmt.render(collect(view))
    fams = {f.name: f for f in parser.text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples}

    def val(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert val("haproxy_frontend_bytes_in_total", proxy="web") == 1000
    assert val("haproxy_frontend_bytes_out_total", proxy="web") == 50000
    assert val("haproxy_frontend_sessions_total", proxy="web") == 100
    assert val("haproxy_frontend_http_responses_total", proxy="web", code="2xx") == 110
    assert val("haproxy_frontend_status", proxy="web", state="UP") == 1
    assert val("haproxy_server_status", proxy="web", server="s1", state="UP") == 1
    assert val("haproxy_server_status", proxy="web", server="s2", state="DOWN") == 1
    assert val("haproxy_server_status", proxy="db", server="m1", state="MAINT") == 1
    assert val("haproxy_server_status", proxy="db", server="m1", state="UP") == 0
    assert val("haproxy_server_weight", proxy="web", server="s1") == 3
    assert val("haproxy_backend_active_servers", proxy="web") == 1
    assert val("haproxy_process_nbproc") == 2
    assert fams["haproxy_frontend_bytes_in"].type == "counter"  # the parser strips _total
    assert fams["haproxy_server_status"].type == "gauge"


def test_prometheus_label_escaping() -> None:
    assert prom_fmt._labels(proxy='a"b\\c\nd') == '{proxy="a\\"b\\\\c\\nd"}'


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------
def test_html_page(view: View) -> None:
    page = html_fmt.render(collect(view), uri="/st", refresh=5)
    assert page.count('<table class="tbl" width="100%">') == 3  # one per proxy
    assert '<meta http-equiv="refresh" content="5">' in page
    assert '<tr class="active_up">' in page and '<tr class="active_down">' in page
    assert '<tr class="backup_nocheck">' in page and '<tr class="active_maint">' in page
    assert "pyhaproxy version" in page
    assert 'href="/st;csv"' in page and 'href="/st;prometheus"' in page
    for pid in ("111", "222"):
        assert f"<td>{pid}</td>" in page


def test_time_averages_in_csv_page_and_exporter(view: View) -> None:
    """qtime..ttime from the workers' windows (two workers: 2 and 1 samples), the maxima the
    workers' largest, the page's tooltip, the exporter's seconds (2.6's sum over 512)."""
    nproxy = 3
    s1 = view.shm.ctr[nproxy + 0]
    s1.update(req_tot=3, qtime_max=602, ctime_max=1, dtime_max=301, ttime_max=903)
    s1["time_windows"] = [
        {"req_tot": 2, "tot_sess": 2, "lbconn": 0, "q_time": 300, "c_time": 1, "d_time": 602, "t_time": 903},
        {"req_tot": 1, "tot_sess": 1, "lbconn": 0, "q_time": 601, "c_time": 0, "d_time": 301, "t_time": 903},
    ]
    rows = {(r["pxname"], r["svname"]): r for r in csv_rows(csv_fmt.render(collect(view)))}
    got = {c: rows[("web", "s1")][c] for c in ("qtime", "ctime", "rtime", "ttime", "qtime_max", "rtime_max")}
    assert got == {"qtime": "301", "ctime": "1", "rtime": "301", "ttime": "602", "qtime_max": "602",
                   "rtime_max": "301"}
    assert rows[("web", "s2")]["qtime"] == "0" and rows[("web", "BACKEND")]["ttime"] == "0"
    assert rows[("web", "FRONTEND")]["qtime"] == ""
    page = html_fmt.render(collect(view), uri="/st")
    assert "- Queue time: 602 / 301 ms" in page and "- Responses time: 301 / 301 ms" in page
    prom = prom_fmt.render(collect(view))
    # (two workers with samples: 901 ms over two windows of 512)
    assert 'haproxy_server_queue_time_average_seconds{proxy="web",server="s1"} 0.001000' in prom
    assert 'haproxy_server_max_total_time_seconds{proxy="web",server="s1"} 0.903000' in prom
    assert 'haproxy_backend_total_time_average_seconds{proxy="web"} 0.000000' in prom


def test_html_hide_version_no_refresh_only_up(view: View) -> None:
    page = html_fmt.render(collect(view), uri="/st", hide_version=True, only_up=True)
    assert "version" not in page.split("<h2>")[0]
    assert "http-equiv" not in page
    assert '<tr class="active_down">' not in page and '<tr class="active_maint">' not in page
    assert '<tr class="active_up">' in page


def test_html_escapes_names(view: View) -> None:
    view.cfg.proxies[0].name = "<b>x&y"
    page = html_fmt.render(collect(view))
    assert "<b>x&y" not in page and "&lt;b&gt;x&amp;y" in page


# --------------------------------------------------------------------------------------------
# the internal HTTP handler
# --------------------------------------------------------------------------------------------
def req(uri: str, host: str = "127.0.0.1:8080", auth: str | None = None, method: str = "GET") -> bytes:
    lines = [f"{method} {uri} HTTP/1.1", f"Host: {host}"]
    if auth is not None:
        lines.append("Authorization: Basic " + base64.b64encode(auth.encode()).decode())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def split(resp: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return lines[0], headers, body


def test_http_auth(view: View) -> None:
    status, headers, _ = split(handle_request(req("/st"), view))
    assert status == "HTTP/1.0 401 Unauthorized"
    assert headers["www-authenticate"] == 'Basic realm="My Realm"'
    status, _, _ = split(handle_request(req("/st", auth="admin:bad"), view))
    assert status.startswith("HTTP/1.0 401")
    status, headers, body = split(handle_request(req("/st", auth="admin:pw"), view))
    assert status == "HTTP/1.0 200 OK" and headers["content-type"].startswith("text/html")
    assert headers["connection"] == "close" and int(headers["content-length"]) == len(body)
    assert headers["refresh"] == "5" and b"<table" in body


def test_http_csv_prometheus_and_head(view: View) -> None:
    status, headers, body = split(handle_request(req("/st;csv", auth="admin:pw"), view))
    assert status.endswith("200 OK") and headers["content-type"] == "text/plain"
    assert body.decode().startswith("# pxname,svname,")
    status, headers, body = split(handle_request(req("/st;prometheus", auth="admin:pw"), view))
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    assert b"haproxy_server_status{" in body
    status, headers, body = split(handle_request(req("/st;csv", auth="admin:pw", method="HEAD"), view))
    assert status.endswith("200 OK") and body == b"" and int(headers["content-length"]) > 0


def test_http_host_picks_the_proxy_and_its_scope(view: View) -> None:
    # "pub" (port 8081) has no auth and `stats scope .`: only itself is listed
    status, _, body = split(handle_request(req("/st;csv", host="127.0.0.1:8081"), view))
    assert status.endswith("200 OK")
    assert {r["pxname"] for r in csv_rows(body.decode())} == {"pub"}
    assert b"version" not in split(handle_request(req("/st", host="x:8081"), view))[2].split(b"<h2>")[0]
    # through "web" (8080) the same request needs credentials
    assert split(handle_request(req("/st;csv", host="127.0.0.1:8080"), view))[0].startswith("HTTP/1.0 401")


def test_http_ambiguous_host_serves_what_a_candidate_allows(view: View) -> None:
    # unknown port: both proxies are candidates; without credentials only "pub" admits -> its scope
    _, _, body = split(handle_request(req("/st;csv", host="elsewhere"), view))
    assert {r["pxname"] for r in csv_rows(body.decode())} == {"pub"}
    # with web's credentials both admit: the union of their scopes (web: all)
    _, _, body = split(handle_request(req("/st;csv", host="elsewhere", auth="admin:pw"), view))
    assert {r["pxname"] for r in csv_rows(body.decode())} == {"web", "db", "pub"}


def test_http_errors(view: View) -> None:
    assert split(handle_request(b"garbage\r\n\r\n", view))[0].startswith("HTTP/1.0 400")
    assert split(handle_request(req("/other"), view))[0].startswith("HTTP/1.0 404")
    assert split(handle_request(req("/st", method="DELETE"), view))[0].startswith("HTTP/1.0 405")
    assert split(handle_request(req("/st"), None))[0].startswith("HTTP/1.0 404")


# --------------------------------------------------------------------------------------------
# CLI commands
# --------------------------------------------------------------------------------------------
def test_cli_commands(view: View) -> None:
    admin = CommandHandler(lambda: view, "admin")
    assert admin.execute("show info").startswith("Name: pyhaproxy\n")
    assert admin.execute("show stat").startswith("# pxname,svname,")
    assert "disable server" in admin.execute("help")
    assert admin.execute("frobnicate now") == (
        "Unknown command: 'frobnicate now'. Type 'help' for the list of commands.\n"
    )
    assert admin.execute("disable server web/s1") == ""
    assert view.shm.srv_admin_down(0)
    assert admin.execute("enable server web/s1") == ""
    assert not view.shm.srv_admin_down(0)
    assert admin.execute("disable server web") == "Require 'backend/server'.\n"
    assert admin.execute("disable server nope/s1") == "No such backend.\n"
    assert admin.execute("disable server web/nope") == "No such server.\n"
    assert admin.execute("set weight web/s1 7") == ""
    assert admin.execute("get weight web/s1") == "7 (initial 3)\n"
    assert admin.execute("set weight web/s1 200%") == ""
    assert admin.execute("get weight web/s1") == "6 (initial 3)\n"
    assert (
        admin.execute("set weight web/s1 257") == "Absolute weight can only be between 0 and 256 inclusive.\n"
    )
    assert admin.execute("set weight web/s1 x").startswith("Weight must be")
    assert admin.execute("set weight web/s1") == "Require <weight> or <weight%>.\n"
    assert admin.execute("show stat 1 2").startswith("Require 'show stat'")


def test_cli_user_level_cannot_change_state(view: View) -> None:
    for level in ("user", "operator"):
        h = CommandHandler(lambda: view, level)
        assert h.execute("disable server web/s1") == "Permission denied\n"
        assert h.execute("set weight web/s1 1") == "Permission denied\n"
        assert not view.shm.srv_admin_down(0)
        assert h.execute("show stat").startswith("# pxname")


# --------------------------------------------------------------------------------------------
# the servers, in a real selector loop
# --------------------------------------------------------------------------------------------
class Loop:
    """Runs a selector in a thread the way the master does (key.data(mask)), plus tick()."""

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.ticks: list[Callable[[float], None]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                for key, mask in self.sel.select(0.05):
                    key.data(mask)
                for t in self.ticks:
                    t(time.monotonic())


@pytest.fixture
def loop() -> Iterator[Loop]:
    lp = Loop()
    try:
        yield lp
    finally:
        lp.stop.set()
        if lp.thread.is_alive():
            lp.thread.join(5)
        lp.sel.close()


def unix_exchange(addr: str | bytes, payload: bytes, chunks: int = 1, timeout: float = 5.0) -> bytes:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(timeout)
    try:
        c.connect(addr)
        step = max(1, len(payload) // chunks)
        for i in range(0, len(payload), step):
            c.sendall(payload[i : i + step])
            if chunks > 1:
                time.sleep(0.02)
        data = b""
        while True:
            got = c.recv(65536)
            if not got:
                return data
            data += got
    finally:
        c.close()


def test_internal_http_server(view: View, loop: Loop) -> None:
    srv = InternalHttpServer(loop.sel, lambda: view, timeout=0.3)
    loop.ticks.append(srv.tick)
    loop.thread.start()
    # a request arriving in small pieces
    resp = unix_exchange(srv.address, req("/st;csv", host="x:8081"), chunks=6)
    assert resp.startswith(b"HTTP/1.0 200 OK\r\n") and b"pub,FRONTEND" in resp
    # an oversized request head is refused with 400
    big = b"GET /st HTTP/1.0\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
    assert unix_exchange(srv.address, big).startswith(b"HTTP/1.0 400")
    # an idle client is dropped after the timeout
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect(srv.address)
    t0 = time.monotonic()
    assert c.recv(10) == b""
    assert time.monotonic() - t0 < 3
    c.close()
    with loop.lock:
        srv.close()


def test_internal_name_matches_the_workers_sockaddr() -> None:
    name = "\0pyhaproxy-stats-1-abc"
    raw = sockaddr_bytes(name)
    # the worker copies the name into a zeroed 108-byte sun_path and passes sizeof(sockaddr_un)
    assert len(raw) == 108 and raw.startswith(b"\0pyhaproxy-stats-1-abc\0")


def test_cli_server(view: View, loop: Loop, tmp_path: Path) -> None:
    path = str(tmp_path / "stats.sock")
    Path(path).touch()  # not a socket: refused
    with pytest.raises(Exception, match="not a socket"):
        CliServer(loop.sel, StatsSocket(path, level="admin"), lambda: view)
    Path(path).unlink()
    srv = CliServer(
        loop.sel, StatsSocket(path, mode=0o600, level="admin"), lambda: view, maxconn=2, timeout=2
    )
    assert (Path(path).stat().st_mode & 0o777) == 0o600
    loop.thread.start()
    out = unix_exchange(path, b"show info\n")
    assert out.startswith(b"Name: pyhaproxy\n") and out.endswith(b"\n\n")
    out = unix_exchange(path, b"disable server web/s1; show stat -1 4 -1\n").decode()
    assert out.startswith("\n# pxname") and ",MAINT," in out
    assert (
        unix_exchange(path, b"bogus\n")
        == b"Unknown command: 'bogus'. Type 'help' for the list of commands.\n\n"
    )
    # interactive mode keeps the connection until quit
    out = unix_exchange(path, b"prompt\nhelp\nquit\n").decode()
    assert out.startswith("> ") and "show stat" in out
    with loop.lock:
        srv.close()
    assert not Path(path).exists()


def test_service_publishes_the_address(view: View) -> None:
    sel = selectors.DefaultSelector()
    svc = StatsService(sel, lambda: view)
    try:
        svc.configure(view.cfg)
        name = view.cfg.global_.tune[STATS_SOCK_KEY]
        assert name.startswith("\0pyhaproxy-stats-")
        cfg2 = make_cfg()
        for p in cfg2.proxies:
            p.stats.enabled = False
        svc.configure(cfg2)  # the server stays for old workers; the address is published again
        assert cfg2.global_.tune[STATS_SOCK_KEY] == name
    finally:
        svc.close()
        sel.close()
