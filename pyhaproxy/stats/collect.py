"""One statistics snapshot: process figures and one row per frontend, server and backend.

Counters come from shared memory, summed over every worker (`Shm.counters_sum`), so a
multi-process setup shows one set of figures, not one per process as HAProxy's nbproc did.
Server states are the master's own (its health checks and the stats socket write them).
Rows use HAProxy's CSV column names as keys (see `FIELDS`); a missing key renders as an empty
field, as HAProxy leaves the columns that do not apply to a row type empty.

A `listen` section is both a frontend and a backend, as in HAProxy 1.x: its FRONTEND and
BACKEND rows read the same proxy counters, and the BACKEND adds the servers' view (status,
weight, active/backup servers, load-balanced total).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pyhaproxy import __version__
from pyhaproxy._core import check_status
from pyhaproxy.checks import REASONS
from pyhaproxy.config.model import Config, Proxy, Server, server_ids
from pyhaproxy.server_state import proxy_uuids
from pyhaproxy.stats.rates import RateMeter
from pyhaproxy.version import RELEASE_DATE

# HAProxy 2.6's fixed statistics fields, in `show stat` order (read from Debian's haproxy 2.6
# header line). The per-module columns that follow them there (`-`, ssl_*, h2_*, h1_*) are not
# produced.
FIELDS: tuple[str, ...] = tuple(
    "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,"
    "status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,"
    "type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,"
    "hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,"
    "comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,"
    "agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,"
    "agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,"
    "dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,"
    "ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,"
    "agg_server_check_status,agg_check_status".split(",")
)

# Compression and the cache are not in this build (`compression`, `filter` and `cache` are refused
# by the configuration parser): their counters are truthfully 0, as 2.6 prints them for a proxy
# without either, on the FRONTEND and BACKEND rows.
NO_COMPRESSION_NOR_CACHE: dict[str, int] = {
    "comp_in": 0, "comp_out": 0, "comp_byp": 0, "comp_rsp": 0, "cache_lookups": 0, "cache_hits": 0,
}

TYPE_FRONTEND = 0
TYPE_BACKEND = 1
TYPE_SERVER = 2

# shm_srv.check_status (ext/shm.h) -> HAProxy's check_status names and descriptions
# check_status.CHK_L4OK -> "L4OK" (the stats page's names); CHK_UNKNOWN shows nothing
CHECK_NAMES = {int(m): ("" if m is check_status.CHK_UNKNOWN else m.name[4:]) for m in check_status}
CHECK_DESC = dict(REASONS)
del CHECK_DESC[check_status.CHK_UNKNOWN]
_CODE_STATUSES = (check_status.CHK_L7OK, check_status.CHK_L7OKC, check_status.CHK_L7STS)
HRSP = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")
# Index of each HRSP column in shm_ctr.hrsp[6] as the worker writes it (ext/http.pxi:
# hrsp[status // 100] for 1xx..5xx, hrsp[0] for any other status).
HRSP_INDEX = (1, 2, 3, 4, 5, 0)


@dataclass
class View:
    """What the master hands to the stats code: the current generation and its workers."""

    cfg: Config
    shm: Any  # pyhaproxy._core.Shm (or anything with the same methods)
    workers: list[int | None]  # worker pid per slot (None: not running)
    master_pid: int = field(default_factory=os.getpid)
    started: float = field(default_factory=time.time)  # wall clock of the master's start
    stopping: bool = False
    maps: Any = None  # pyhaproxy.runtime_maps.RuntimeMaps of the generation
    peers: list[Any] = field(default_factory=list)  # peers: the master's PeersEngines (`show peers`)
    tls_cache: Any = None  # _core.TlsCache of the generation (its lookup counters), or None
    rates: Any = None  # rates.RateMeter: the master's once-a-second samples, or None (no rates)
    maxsock: int = 0  # the fd budget of a worker (startup.compute_maxsock)
    memmax_mb: int = 0  # -m
    checker: Any = None  # checks.HealthChecker of the generation: the checks' last texts, or None


@dataclass
class Row:
    """One line of `show stat`: keys are CSV column names; `state` drives the HTML colour."""

    pxname: str
    svname: str
    type: int
    values: dict[str, Any]
    state: str = ""  # server: "up", "down", "going_down", "going_up", "maint", "nocheck", "nolb"
    backup: bool = False


@dataclass
class ProxyStats:
    proxy: Proxy
    iid: int
    frontend: Row
    servers: list[Row]
    backend: Row

    @property
    def has_frontend(self) -> bool:
        """A `backend` section has no FRONTEND row, a `frontend` no BACKEND row (HAProxy 1.3+)."""
        return self.proxy.cap != "backend"

    @property
    def has_backend(self) -> bool:
        return self.proxy.cap != "frontend"


@dataclass
class WorkerInfo:
    slot: int
    pid: int | None
    rss: int | None = None  # bytes
    cpu: float | None = None  # user + system seconds


@dataclass
class Snapshot:
    info: dict[str, Any]  # `show info` fields, in order
    proxies: list[ProxyStats]
    workers: list[WorkerInfo]
    now: float  # wall clock

    def rows(self) -> Iterable[Row]:
        for ps in self.proxies:
            if ps.has_frontend:
                yield ps.frontend
            yield from ps.servers
            if ps.has_backend:
                yield ps.backend


def _process_figures(pid: int | None) -> tuple[int | None, float | None]:
    if pid is None:
        return None, None
    try:
        import psutil

        p = psutil.Process(pid)
        with p.oneshot():
            t = p.cpu_times()
            return int(p.memory_info().rss), float(t.user + t.system)
    except Exception:  # gone between the listing and the read, or psutil missing
        return None, None


def server_state(info: dict[str, Any], srv: Server) -> tuple[str, str]:
    """(state key, HAProxy status text) of a server from its shared-memory record."""
    if info.get("admin_down"):
        return "maint", "MAINT (resolution)" if srv.rmaint else "MAINT"
    up = info.get("state", 1) in (1, 2)
    if srv.agent_check and srv.agent_port:
        # 2.6: an agent's drain, and a server its agent put down, say so
        if up and info.get("agent_drain"):
            return "nolb", "DRAIN (agent)"
        if not up and not int(info.get("agent_health", 1)):
            return "down", "DOWN (agent)"
    if info.get("state", 1) == 2:
        # UP by its checks but out of load balancing (http-check disable-on-404): 2.6's NOLB
        health = int(info.get("check_health", 0))
        rise, fall = max(1, srv.rise), max(1, srv.fall)
        if health and health < rise + fall - 1:
            return "nolb", f"NOLB {health - rise + 1}/{fall}"
        return "nolb", "NOLB"
    if srv.track_gi >= 0:
        return ("up", "UP") if up else ("down", "DOWN")     # (the state of the server it tracks)
    if not srv.check:
        return ("nocheck", "no check") if up else ("down", "DOWN")
    health = int(info.get("check_health", 0))
    rise, fall = max(1, srv.rise), max(1, srv.fall)
    if up:
        # health runs rise..rise+fall-1 while UP: below the top, failures are being counted
        if health and health < rise + fall - 1:
            return "going_down", f"UP {health - rise + 1}/{fall}"
        return "up", "UP"
    if 0 < health < rise:
        return "going_up", f"DOWN {health}/{rise}"
    return "down", "DOWN"


def _maint_via(cfg: Config, shm: Any, srv: Server) -> str:
    """`track`: the tracked server's label when it (or one it follows) is in maintenance, as 2.6
    shows `MAINT (via PROXY/SERVER)` (its IMAINT); "" otherwise."""
    label = ""
    table: list[Server] | None = None
    for _ in range(64):
        if srv.track_gi < 0:
            return ""
        if not label:
            label = srv.track_label
        if shm.srv_admin_down(srv.track_gi):
            return label
        if table is None:
            table = [s for p in cfg.proxies for s in p.servers]
        srv = table[srv.track_gi]
    return ""


def _in_scope(scope: set[str] | None, name: str) -> bool:
    return scope is None or name in scope


def collect(view: View, scope: set[str] | None = None, now: float | None = None) -> Snapshot:
    """Gather a snapshot; `scope` (proxy names) limits the proxies listed, None lists all."""
    now = time.time() if now is None else now
    cfg, shm = view.cfg, view.shm
    rates = view.rates if view.rates is not None else RateMeter()
    nproxy = len(cfg.proxies)
    proxies: list[ProxyStats] = []
    gi = 0  # global server index: proxies in config order, servers in order inside each
    cum_conns = cum_req = cur_conns = 0
    ssl = {"ssl_sess": 0, "ssl_reused": 0, "ssl_cur": 0, "srv_ssl_sess": 0, "srv_ssl_cur": 0}
    uuids = proxy_uuids(cfg)
    for pi, px in enumerate(cfg.proxies):
        first = gi
        gi += len(px.servers)
        pc = _sum(shm, pi)
        if px.cap != "backend":     # (a backend's sessions are its frontends' too: counted once)
            cum_conns += pc["tot_sess"]
            cum_req += pc["req_tot"]
            cur_conns += pc["cur_sess"]
        for k in ("ssl_sess", "ssl_reused", "ssl_cur"):
            ssl[k] += pc[k]
        for sgi, sv in enumerate(px.servers, first):
            if sv.tls is not None and sv.tls.use_ssl:     # (only they count: a large farm stays cheap)
                sc = _sum(shm, nproxy + sgi)
                ssl["srv_ssl_sess"] += sc["ssl_sess"]
                ssl["srv_ssl_cur"] += sc["ssl_cur"]
        if not _in_scope(scope, px.name):
            continue
        proxies.append(_proxy_rows(view, px, pi, uuids[pi], first, nproxy, pc, now, rates))
    workers = []
    for slot, pid in enumerate(view.workers):
        rss, cpu = _process_figures(pid)
        workers.append(WorkerInfo(slot + 1, pid, rss, cpu))
    total_out = sum(_sum(shm, pi)["bytes_out"] for pi, px in enumerate(cfg.proxies) if px.cap != "backend")
    cache = tuple(view.tls_cache.counters()) if view.tls_cache is not None else (0, 0)
    uptime = max(0, int(now - view.started))
    g = cfg.global_
    nworkers = max(1, len(view.workers))
    # 2.6's names and order; a field of 2.6 that has no counterpart here (memory pools, tasks,
    # peers, resolvers, dropped logs) is left out rather than shown as a made-up 0
    info: dict[str, Any] = {
        "Name": "pyhaproxy",
        "Version": __version__,
        "Release_date": RELEASE_DATE,
        "Nbthread": g.nbthread,
        "Nbproc": len(view.workers),
        "Process_num": 1,  # (the master answers for every worker; 2.6 numbers its one process 1)
        "Pid": view.master_pid,
        "Uptime": format_uptime(uptime),
        "Uptime_sec": uptime,
        "Memmax_MB": view.memmax_mb,
        "Ulimit-n": _nofile(),
        "Maxsock": view.maxsock,
        "Maxconn": g.maxconn,
        "Hard_maxconn": g.maxconn,
        "CurrConns": cur_conns,
        "CumConns": cum_conns,
        "CumReq": cum_req,
        # TLS endpoints, both sides, as 2.6 counts them (from SSL_new, failed handshakes included)
        "MaxSslConns": 0,
        "CurrSslConns": ssl["ssl_cur"] + ssl["srv_ssl_cur"],
        "CumSslConns": ssl["ssl_sess"] + ssl["srv_ssl_sess"],
        # the last second's rates and their maxima (rates.py; 2.6's order and names)
        "ConnRate": rates.rate("conns"),
        "ConnRateLimit": g.maxconnrate,
        "MaxConnRate": rates.max("conns"),
        "SessRate": rates.rate("conns"),
        "SessRateLimit": 0,
        "MaxSessRate": rates.max("conns"),
        "SslRate": rates.rate("ssl"),
        "SslRateLimit": 0,
        "MaxSslRate": rates.max("ssl"),
        "SslFrontendKeyRate": rates.rate("ssl_full"),
        "SslFrontendMaxKeyRate": rates.max("ssl_full"),
        # (2.6 computes it over the last second's rates; here: over the process's life)
        "SslFrontendSessionReuse_pct": (100 * ssl["ssl_reused"] // ssl["ssl_sess"]) if ssl["ssl_sess"] else 0,
        "SslCacheLookups": cache[0],    # the session cache the workers share (tlscache.pxi)
        "SslCacheMisses": cache[1],
        "CompressBpsIn": 0,         # (no compression in this build: `compression` is refused)
        "CompressBpsOut": 0,
        "CompressBpsRateLim": 0,
        # the workers' idle time over the last second, from their CPU time
        "Idle_pct": max(0, min(100, 100 - rates.rate("cpu_ms") // (10 * nworkers))),
        "node": g.node or socket.gethostname(),     # (`node`; 2.6's default: the host name)
        **({"description": g.description} if g.description else {}),    # (2.6: only when set)
        "Stopping": int(view.stopping),
        # (2.6 counts the stats sockets' listeners too)
        "Listeners": sum(len(p.binds) for p in cfg.proxies if not p.disabled) + len(g.stats_sockets),
        "TotalBytesOut": total_out,
        "BytesOutRate": rates.rate("bytes_out"),
        "Start_time_sec": int(view.started),
    }
    mrss, mcpu = _process_figures(view.master_pid)
    if mrss is not None:
        info["Master_RSS_bytes"] = mrss
        info["Master_CPU_sec"] = round(mcpu or 0.0, 2)
    for w in workers:
        info[f"Worker{w.slot}_Pid"] = w.pid if w.pid is not None else ""
        info[f"Worker{w.slot}_RSS_bytes"] = w.rss if w.rss is not None else ""
        info[f"Worker{w.slot}_CPU_sec"] = round(w.cpu, 2) if w.cpu is not None else ""
    return Snapshot(info, proxies, workers, now)


def _nofile() -> int:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return int(soft) if soft != resource.RLIM_INFINITY else 0


def format_uptime(sec: int) -> str:
    """HAProxy's `0d 0h00m03s`."""
    d, r = divmod(sec, 86400)
    h, r = divmod(r, 3600)
    m, s = divmod(r, 60)
    return f"{d}d {h}h{m:02d}m{s:02d}s"


def proxy_sums(shm: Any, slot: int) -> dict[str, Any]:
    """A proxy's (or a server's, at nproxy + its index) counters summed over the workers."""
    return _sum(shm, slot)


def _sum(shm: Any, slot: int) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cur_sess": 0, "max_sess": 0, "tot_sess": 0, "bytes_in": 0, "bytes_out": 0,
        "denied_req": 0, "denied_resp": 0, "err_req": 0, "err_conn": 0, "err_resp": 0,
        "retries": 0, "redispatches": 0, "req_tot": 0, "hrsp": [0] * 6,
        "ssl_sess": 0, "ssl_reused": 0, "ssl_fail": 0, "ssl_cur": 0,
        "cli_abrt": 0, "srv_abrt": 0, "connect": 0, "reuse": 0,
        "intercepted": 0, "denied_conn": 0, "denied_sess": 0, "failed_rewrites": 0, "internal_errors": 0,
        "used_conns": 0, "idle_conns": 0, "safe_conns": 0, "last_sess_ms": 0,
    }  # fmt: skip
    try:
        got = shm.counters_sum(slot)
    except Exception:  # a slot the region does not have: show zeros rather than fail the page
        return base
    if got:
        base.update(got)
    return base


def _srv_info(shm: Any, gi: int) -> dict[str, Any]:
    try:
        return dict(shm.srv_info(gi))
    except Exception:
        return {"state": 1}


def _http_fields(px: Proxy, c: dict[str, Any], values: dict[str, Any]) -> None:
    if px.mode == "http":
        hrsp = list(c["hrsp"]) + [0] * 6
        for name, i in zip(HRSP, HRSP_INDEX, strict=True):
            values[name] = hrsp[i]


def _proxy_rows(
    view: View, px: Proxy, pi: int, iid: int, first: int, nproxy: int, pc: dict[str, Any], now: float,
    rates: RateMeter,
) -> ProxyStats:
    shm = view.shm
    mode = px.mode if px.mode in ("tcp", "http") else "tcp"
    # a connection refused by `tcp-request connection|session` rules is one of conn_tot, never a
    # session of stot (2.6, measured); the worker counts it in tot_sess at accept
    stot = max(0, pc["tot_sess"] - pc["denied_conn"] - pc["denied_sess"])
    fe: dict[str, Any] = {
        "qcur": "", "qmax": "", "scur": pc["cur_sess"], "smax": pc["max_sess"], "slim": px.maxconn,
        "stot": stot, "bin": pc["bytes_in"], "bout": pc["bytes_out"],
        "dreq": pc["denied_req"], "dresp": pc["denied_resp"], "ereq": pc["err_req"],
        "status": "STOP" if px.disabled or view.stopping else "OPEN",
        "pid": 1, "iid": iid, "sid": 0, "type": TYPE_FRONTEND, "mode": mode, "conn_tot": pc["tot_sess"],
        "intercepted": pc["intercepted"], "dcon": pc["denied_conn"], "dses": pc["denied_sess"],
        "wrew": pc["failed_rewrites"], "eint": pc["internal_errors"],
    }  # fmt: skip
    fe.update(NO_COMPRESSION_NOR_CACHE)
    _http_fields(px, pc, fe)
    sess_rate, sess_max = rates.rate(f"px{pi}.sess"), rates.max(f"px{pi}.sess")
    conn_rate, conn_max = rates.rate(f"px{pi}.conn"), rates.max(f"px{pi}.conn")
    fe.update({"rate": sess_rate, "rate_lim": 0, "rate_max": sess_max,
               "conn_rate": conn_rate, "conn_rate_max": conn_max})
    if px.mode == "http":
        fe["req_tot"] = pc["req_tot"]
        fe["req_rate"] = rates.rate(f"px{pi}.req")
        fe["req_rate_max"] = rates.max(f"px{pi}.req")
    frontend = Row(px.name, "FRONTEND", TYPE_FRONTEND, fe, "up" if fe["status"] == "OPEN" else "down")

    servers: list[Row] = []
    act = bck = 0
    weight = bck_weight = 0
    lbtot = chkdown = 0
    last_change = 0
    sids = server_ids(px.servers)       # `id N`, else numbered as 2.6 numbers them
    for si, srv in enumerate(px.servers):
        gi = first + si
        info = _srv_info(shm, gi)
        sc = _sum(shm, nproxy + gi)
        state, status = server_state(info, srv)
        via = _maint_via(view.cfg, shm, srv)
        if via and not info.get("admin_down"):
            state, status = "maint", f"MAINT (via {via})"
        usable = state in ("up", "going_down", "nocheck")
        w = int(info.get("weight", srv.weight)) or int(info.get("agent_drain", 0))
        if usable:
            if srv.backup:
                bck += 1
                bck_weight += w
            else:
                act += 1
                weight += w
        lbtot += sc["tot_sess"]
        chkdown += int(info.get("down_trans", 0))
        lc = int(info.get("last_change_ms", 0))
        last_change = max(last_change, lc)
        downtime = int(info.get("downtime_ms", 0))
        if info.get("state", 1) == 0 and lc:
            downtime += max(0, int(now * 1000) - lc)  # the current down period counts too
        v: dict[str, Any] = {
            "qcur": 0, "qmax": 0, "scur": sc["cur_sess"], "smax": sc["max_sess"],
            "slim": srv.maxconn or "", "stot": sc["tot_sess"], "bin": sc["bytes_in"],
            "bout": sc["bytes_out"], "dresp": sc["denied_resp"], "econ": sc["err_conn"],
            "eresp": sc["err_resp"], "wretr": sc["retries"], "wredis": sc["redispatches"],
            "status": status, "weight": w, "act": 0 if srv.backup else 1, "bck": 1 if srv.backup else 0,
            "pid": 1, "iid": iid, "sid": sids[si], "lbtot": sc["tot_sess"], "type": TYPE_SERVER,
            "qlimit": srv.maxqueue or "", "addr": _addr(srv), "cookie": srv.cookie or "", "mode": mode,
            "uweight": w, "cli_abrt": sc["cli_abrt"], "srv_abrt": sc["srv_abrt"],
            "connect": sc["connect"], "reuse": sc["reuse"],
            "wrew": sc["failed_rewrites"], "eint": sc["internal_errors"],
            "rate": rates.srv_rate(gi), "rate_max": rates.srv_max(gi),
            # its connections: held by sessions now (a kept-alive client's stays its own between
            # requests), parked idle for HTTP/2 streams after one request or more (srvpool.pxi)
            "used_conn_cur": sc["used_conns"], "srv_icur": sc["idle_conns"] + sc["safe_conns"],
            "idle_conn_cur": sc["idle_conns"], "safe_conn_cur": sc["safe_conns"],
            "lastsess": _lastsess(sc, now),
            **_time_fields(sc, "req_tot" if px.mode == "http" else "tot_sess"),
        }  # fmt: skip
        if srv.check:
            v.update({"chkfail": int(info.get("chk_fail", 0)), "chkdown": int(info.get("down_trans", 0)),
                      "downtime": downtime // 1000})
        if srv.check and not info.get("admin_down"):
            # (2.6: a server in maintenance has its health check paused: no check fields)
            cs = int(info.get("check_status", 0))
            v.update({
                "check_status": CHECK_NAMES.get(cs, ""), "check_desc": CHECK_DESC.get(cs, ""),
                # 2.6 gives the code of the statuses with layer 5-7 data only
                "check_code": int(info.get("check_code", 0)) if cs in _CODE_STATUSES else "",
                "check_duration": int(info.get("check_duration_ms", 0)) if cs else "",
                "check_rise": srv.rise, "check_fall": srv.fall,
                "check_health": int(info.get("check_health", 0)),
                "downtime": downtime // 1000,
            })  # fmt: skip
        last = view.checker.last_texts(gi) if view.checker is not None else ("", "")
        if srv.check and not info.get("admin_down") and last[0]:
            v["last_chk"] = last[0]
        if srv.agent_check and srv.agent_port:
            if last[1]:
                v["last_agt"] = last[1]
            ag = int(info.get("agent_status", 0))
            v.update({
                "agent_status": CHECK_NAMES.get(ag, ""), "agent_desc": CHECK_DESC.get(ag, ""),
                "agent_code": int(info.get("agent_code", 0)) if ag in _CODE_STATUSES else "",
                "agent_duration": int(info.get("agent_duration_ms", 0)) if ag else "",
                "agent_rise": 1, "agent_fall": 1, "agent_health": int(info.get("agent_health", 0)),
            })  # fmt: skip
        if lc:
            v["lastchg"] = max(0, int(now - lc / 1000))
        _http_fields(px, sc, v)
        if px.mode == "http":
            v["req_tot"] = sc["req_tot"]     # (requests the server answered, as 2.6 counts them)
        servers.append(Row(px.name, srv.name, TYPE_SERVER, v, state, srv.backup))

    up = act > 0 or bck > 0 or (not px.servers and px.dispatch is not None)
    be: dict[str, Any] = {
        "qcur": 0, "qmax": 0, "scur": pc["cur_sess"], "smax": pc["max_sess"],
        "slim": px.fullconn or px.maxconn, "stot": stot, "bin": pc["bytes_in"],
        "bout": pc["bytes_out"], "dreq": pc["denied_req"], "dresp": pc["denied_resp"],
        "econ": pc["err_conn"], "eresp": pc["err_resp"], "wretr": pc["retries"],
        "wredis": pc["redispatches"], "status": "UP" if up else "DOWN",
        # HAProxy: the backups' weight only counts when no active server is left
        "weight": weight if act else bck_weight, "act": act, "bck": bck, "chkdown": chkdown,
        "pid": 1, "iid": iid, "sid": 0, "lbtot": lbtot, "type": TYPE_BACKEND, "mode": mode,
        "algo": px.balance, "cookie": px.cookie.name if px.cookie is not None else "",
        "cli_abrt": pc["cli_abrt"], "srv_abrt": pc["srv_abrt"],
        "connect": pc["connect"], "reuse": pc["reuse"],
        "wrew": pc["failed_rewrites"], "eint": pc["internal_errors"],
        # the servers' user weights, as the weight column sums them (`set weight` changes both)
        "uweight": weight if act else bck_weight,
        # (2.6's CSV prints these three aggregates as 0 whatever its servers' states: measured)
        "agg_server_status": 0, "agg_server_check_status": 0, "agg_check_status": 0,
    }  # fmt: skip
    be.update(NO_COMPRESSION_NOR_CACHE)
    be["lastsess"] = _lastsess(pc, now)
    be.update(_time_fields(pc, "req_tot" if px.mode == "http" else "lbconn"))
    if last_change:
        be["lastchg"] = max(0, int(now - last_change / 1000))
    be["rate"] = sess_rate
    be["rate_max"] = sess_max
    _http_fields(px, pc, be)
    if px.mode == "http":
        be["req_tot"] = pc["req_tot"]
    backend = Row(px.name, "BACKEND", TYPE_BACKEND, be, "up" if up else "down")
    return ProxyStats(px, iid, frontend, servers, backend)


TIME_STATS_SAMPLES = 512  # 2.6's window of the time averages (ext/shm.h SHM_TIME_SAMPLES)


def time_avg(windows: list[tuple[int, int]], full: bool = False) -> int:
    """2.6's swrate_avg over the workers' windows: each worker gives (its sliding-window sum, its
    sample counter: the object's requests in HTTP, sessions in TCP). A worker's window holds
    min(counter, 512) samples; the workers' sums are added and divided by their windows' sizes
    added, rounded up: an average weighted by each worker's sample count. With one worker this is
    2.6's figure exactly (a counter of 0 divides by the full window, which gives 0). `full`: each
    worker that has samples counts a whole window, as 2.6's exporter divides by 512 however few
    samples there are (its averages are low until 512 streams went through)."""
    total = size = 0
    for wsum, count in windows:
        total += wsum
        size += (TIME_STATS_SAMPLES if count else 0) if full else min(count, TIME_STATS_SAMPLES)
    if size == 0:
        size = TIME_STATS_SAMPLES
    return (total + size - 1) // size


def _time_fields(c: dict[str, Any], count: str) -> dict[str, int]:
    """A server's or backend's qtime..ttime (ms, averaged as 2.6's show stat does) and their
    maxima; promex_qtime..promex_ttime, the averages as 2.6's exporter computes them; `count`
    names its sample counter (req_tot, tot_sess or lbconn)."""
    wins = c.get("time_windows") or [c]
    out = {}
    for col, key in (("qtime", "q_time"), ("ctime", "c_time"), ("rtime", "d_time"), ("ttime", "t_time")):
        per_worker = [(int(w.get(key, 0)), int(w.get(count, 0))) for w in wins]
        out[col] = time_avg(per_worker)
        out[f"promex_{col}"] = time_avg(per_worker, full=True)     # (prometheus.py: 2.6's exporter)
    out.update({"qtime_max": int(c.get("qtime_max", 0)), "ctime_max": int(c.get("ctime_max", 0)),
                "rtime_max": int(c.get("dtime_max", 0)), "ttime_max": int(c.get("ttime_max", 0))})
    return out


def _lastsess(c: dict[str, Any], now: float) -> int:
    """Seconds since a session last went to the server (or to one of the backend's): -1 for
    none yet, as 2.6 prints it."""
    ms = int(c["last_sess_ms"])
    return max(0, int(now - ms / 1000)) if ms > 0 else -1


def _addr(srv: Server) -> str:
    if not srv.host:
        return ""           # (no address yet: `init-addr none`)
    host = f"[{srv.host}]" if ":" in srv.host else srv.host
    if srv.port is None:
        return host
    return f"{host}:{srv.port}"


def scope_for(proxy: Proxy) -> set[str] | None:
    """The proxy names a proxy's stats page may list (None: all); `.` is the proxy itself."""
    if not proxy.stats.scope:
        return None
    return {proxy.name if s == "." else s for s in proxy.stats.scope}
