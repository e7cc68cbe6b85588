"""Prometheus text exposition (format 0.0.4) with the metric names of HAProxy's own exporter.

Names, types and label sets follow HAProxy 2.6's `prometheus-exporter` service
(haproxy_process_*, haproxy_frontend_*, haproxy_backend_*, haproxy_server_*; labels `proxy`,
`server`, `state`, `code`), so existing dashboards and alerts work. Counters are summed over all
workers. Figures HAProxy has no name for (per-worker memory and CPU) use a `pyhaproxy_` prefix.
Served at `<stats uri>;prometheus`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyhaproxy import __version__
from pyhaproxy.stats.collect import HRSP, Row, Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# frontends' and backends' alike: no compression nor cache in this build, so zeros (collect.py)
_COMP_AND_CACHE: list[tuple[str, str, str, str]] = [
    ("http_comp_bytes_in_total", "counter", "Bytes given to the HTTP compressor (none here)", "comp_in"),
    ("http_comp_bytes_out_total", "counter", "Bytes the HTTP compressor gave out (none here)", "comp_out"),
    ("http_comp_bytes_bypassed_total", "counter", "Bytes that went around the HTTP compressor (none here)",
     "comp_byp"),
    ("http_comp_responses_total", "counter", "HTTP responses compressed (none here)", "comp_rsp"),
    ("http_cache_lookups_total", "counter", "HTTP requests looked up in a cache (none here)",
     "cache_lookups"),
    ("http_cache_hits_total", "counter", "HTTP requests a cache answered (none here)", "cache_hits"),
]
# every object's: header rewrites that did not fit, and the internal errors they ended in
_REWRITES_AND_INTERNAL: list[tuple[str, str, str, str]] = [
    ("failed_header_rewriting_total", "counter", "HTTP header rewrites that failed since the start", "wrew"),
    ("internal_errors_total", "counter", "Internal errors since the start", "eint"),
]
_UWEIGHT = ("uweight", "gauge", "A server's user weight; a backend's: the sum its weight counts", "uweight")
# 2.6's time averages and maxima: the columns are in ms, the families in seconds. The averages
# are 2.6's exporter's: the window's sum over 512 however few samples it holds (collect.py)
_TIMES: list[tuple[str, str, str, str]] = [
    ("queue_time_average_seconds", "gauge", "Avg. queue time for last 1024 successful connections.",
     "promex_qtime"),
    ("connect_time_average_seconds", "gauge", "Avg. connect time for last 1024 successful connections.",
     "promex_ctime"),
    ("response_time_average_seconds", "gauge", "Avg. response time for last 1024 successful connections.",
     "promex_rtime"),
    ("total_time_average_seconds", "gauge", "Avg. total time for last 1024 successful connections.",
     "promex_ttime"),
    ("max_queue_time_seconds", "gauge", "Maximum observed time spent in the queue", "qtime_max"),
    ("max_connect_time_seconds", "gauge", "Maximum observed time spent waiting for a connection to complete",
     "ctime_max"),
    ("max_response_time_seconds", "gauge", "Maximum observed time spent waiting for a server response",
     "rtime_max"),
    ("max_total_time_seconds", "gauge",
     "Maximum observed total request+response time (request+queue+connect+response+processing)", "ttime_max"),
]
_IN_SECONDS = {t[0] for t in _TIMES}
_LASTSESS = ("last_session_seconds", "gauge", "Seconds since a session last went to a server (-1: never)",
             "lastsess")

# (suffix, type, help, row field) per object kind; the field is a CSV column name
_FE: list[tuple[str, str, str, str]] = [
    ("current_sessions", "gauge", "Number of current sessions on the frontend, backend or server", "scur"),
    ("max_sessions", "gauge", "Highest value of current sessions encountered since process started", "smax"),
    ("limit_sessions", "gauge", "Frontend/listener/server's maxconn, backend's fullconn", "slim"),
    ("sessions_total", "counter", "Total number of sessions since process started", "stot"),
    ("bytes_in_total", "counter", "Total number of request bytes since process started", "bin"),
    ("bytes_out_total", "counter", "Total number of response bytes since process started", "bout"),
    ("requests_denied_total", "counter", "Total number of denied requests since process started", "dreq"),
    ("responses_denied_total", "counter", "Total number of denied responses since process started", "dresp"),
    ("request_errors_total", "counter", "Total number of invalid requests since process started", "ereq"),
    ("http_requests_total", "counter", "Total number of HTTP requests processed by this object", "req_tot"),
    ("connections_total", "counter", "Total number of new connections accepted", "conn_tot"),
    # the last second's rates (stats/rates.py), 2.6's exporter names
    ("limit_session_rate", "gauge", "Configured limit on new sessions per second", "rate_lim"),
    ("max_session_rate", "gauge",
     "Highest value of sessions per second observed since the worker process started", "rate_max"),
    ("http_requests_rate_max", "gauge", "Maximum observed number of HTTP requests per second.",
     "req_rate_max"),
    ("connections_rate_max", "gauge",
     "Highest value of connections per second observed since the worker process started", "conn_rate_max"),
    ("intercepted_requests_total", "counter",
     "HTTP requests the frontend answered itself (redirects, returns, monitor, stats, services)",
     "intercepted"),
    ("denied_connections_total", "counter", "Connections refused by tcp-request connection rules", "dcon"),
    ("denied_sessions_total", "counter", "Sessions refused by tcp-request session rules", "dses"),
    *_COMP_AND_CACHE,
    *_REWRITES_AND_INTERNAL,
]
# backends' and servers' alike (2.6's B and S fields)
_ABORTS_AND_CONNECTIONS: list[tuple[str, str, str, str]] = [
    ("client_aborts_total", "counter",
     "Total number of requests or connections aborted by the client since the worker process started",
     "cli_abrt"),
    ("server_aborts_total", "counter",
     "Total number of requests or connections aborted by the server since the worker process started",
     "srv_abrt"),
    ("connection_attempts_total", "counter",
     "Total number of outgoing connection attempts on this backend/server since the worker process started",
     "connect"),
    ("connection_reuses_total", "counter",
     "Total number of reused connection on this backend/server since the worker process started", "reuse"),
]
_BE: list[tuple[str, str, str, str]] = [
    ("current_sessions", "gauge", "Number of current sessions on the frontend, backend or server", "scur"),
    ("max_sessions", "gauge", "Highest value of current sessions encountered since process started", "smax"),
    ("limit_sessions", "gauge", "Frontend/listener/server's maxconn, backend's fullconn", "slim"),
    ("sessions_total", "counter", "Total number of sessions since process started", "stot"),
    ("bytes_in_total", "counter", "Total number of request bytes since process started", "bin"),
    ("bytes_out_total", "counter", "Total number of response bytes since process started", "bout"),
    ("requests_denied_total", "counter", "Total number of denied requests since process started", "dreq"),
    ("responses_denied_total", "counter", "Total number of denied responses since process started", "dresp"),
    ("connection_errors_total", "counter", "Total number of failed connections to server", "econ"),
    ("response_errors_total", "counter", "Total number of invalid responses", "eresp"),
    ("retry_warnings_total", "counter", "Total number of server connection retries", "wretr"),
    (
        "redispatch_warnings_total",
        "counter",
        "Total number of server redispatches due to connection failures",
        "wredis",
    ),
    (
        "weight",
        "gauge",
        "Server's effective weight, or sum of active servers' effective weights for a backend",
        "weight",
    ),
    ("active_servers", "gauge", "Total number of active UP servers with a non-zero weight", "act"),
    ("backup_servers", "gauge", "Total number of backup UP servers with a non-zero weight", "bck"),
    (
        "check_up_down_total",
        "counter",
        "Total number of failed checks causing UP to DOWN server transitions",
        "chkdown",
    ),
    (
        "check_last_change_seconds",
        "gauge",
        "How long ago the last server state changed, in seconds",
        "lastchg",
    ),
    ("loadbalanced_total", "counter", "Total number of times a service was selected", "lbtot"),
    ("http_requests_total", "counter", "Total number of HTTP requests processed by this object", "req_tot"),
    ("max_session_rate", "gauge",
     "Highest value of sessions per second observed since the worker process started", "rate_max"),
    *_ABORTS_AND_CONNECTIONS,
    *_COMP_AND_CACHE,
    *_REWRITES_AND_INTERNAL,
    _UWEIGHT,
    _LASTSESS,
    *_TIMES,
]
_SV: list[tuple[str, str, str, str]] = [
    ("current_sessions", "gauge", "Number of current sessions on the frontend, backend or server", "scur"),
    ("max_sessions", "gauge", "Highest value of current sessions encountered since process started", "smax"),
    ("limit_sessions", "gauge", "Frontend/listener/server's maxconn, backend's fullconn", "slim"),
    ("sessions_total", "counter", "Total number of sessions since process started", "stot"),
    ("bytes_in_total", "counter", "Total number of request bytes since process started", "bin"),
    ("bytes_out_total", "counter", "Total number of response bytes since process started", "bout"),
    ("responses_denied_total", "counter", "Total number of denied responses since process started", "dresp"),
    ("connection_errors_total", "counter", "Total number of failed connections to server", "econ"),
    ("response_errors_total", "counter", "Total number of invalid responses", "eresp"),
    ("retry_warnings_total", "counter", "Total number of server connection retries", "wretr"),
    (
        "redispatch_warnings_total",
        "counter",
        "Total number of server redispatches due to connection failures",
        "wredis",
    ),
    (
        "weight",
        "gauge",
        "Server's effective weight, or sum of active servers' effective weights for a backend",
        "weight",
    ),
    (
        "check_failures_total",
        "counter",
        "Total number of failed individual health checks per server/backend",
        "chkfail",
    ),
    (
        "check_up_down_total",
        "counter",
        "Total number of failed checks causing UP to DOWN server transitions",
        "chkdown",
    ),
    (
        "check_last_change_seconds",
        "gauge",
        "How long ago the last server state changed, in seconds",
        "lastchg",
    ),
    (
        "downtime_seconds_total",
        "counter",
        "Total time spent in DOWN state, for server or backend",
        "downtime",
    ),
    ("loadbalanced_total", "counter", "Total number of times a service was selected", "lbtot"),
    ("max_session_rate", "gauge", "The server's highest sessions per second so far", "rate_max"),
    ("idle_connections_current", "gauge", "The server's idle connections, parked for reuse", "srv_icur"),
    ("unsafe_idle_connections_current", "gauge", "Idle connections that carried one request only",
     "idle_conn_cur"),
    ("safe_idle_connections_current", "gauge", "Idle connections that carried more than one request",
     "safe_conn_cur"),
    ("used_connections_current", "gauge", "The server's connections held by sessions now", "used_conn_cur"),
    *_ABORTS_AND_CONNECTIONS,
    *_REWRITES_AND_INTERNAL,
    _UWEIGHT,
    _LASTSESS,
    *_TIMES,
]
_HRSP_HELP = "Total number of HTTP responses with status 100-199 returned by this object"
_SERVER_STATES = ("DOWN", "UP", "MAINT", "DRAIN", "NOLB")


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in kv.items()) + "}"


def _num(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, float):
        return repr(v)
    try:
        return str(int(v))
    except (TypeError, ValueError):
        return None


def _seconds(ms: Any) -> str | None:
    """A value in ms as the exporter's seconds, printed as 2.6 prints them (0.300000)."""
    if ms is None or ms == "":
        return None
    return f"{int(ms) / 1000.0:f}"


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, typ: str, help_: str, samples: list[tuple[str, str]]) -> None:
        """One metric family; families without samples are left out, as HAProxy does."""
        if not samples:
            return
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {typ}")
        self.lines.extend(f"{name}{labels} {value}" for labels, value in samples)


def _rows_family(
    out: _Out,
    prefix: str,
    table: list[tuple[str, str, str, str]],
    rows: list[Row],
    labels: Callable[[Row], dict[str, str]],
) -> None:
    for suffix, typ, help_, fld in table:
        samples = []
        for r in rows:
            v = _seconds(r.values.get(fld)) if suffix in _IN_SECONDS else _num(r.values.get(fld))
            if v is not None:
                samples.append((_labels(**labels(r)), v))
        out.family(f"{prefix}_{suffix}", typ, help_, samples)


def _hrsp_family(out: _Out, prefix: str, rows: list[Row], labels: Callable[[Row], dict[str, str]]) -> None:
    samples = []
    for r in rows:
        if "hrsp_1xx" not in r.values:
            continue
        for name in HRSP:
            code = name[5:]
            samples.append((_labels(**labels(r), code=code), str(int(r.values[name]))))
    out.family(f"{prefix}_http_responses_total", "counter", _HRSP_HELP, samples)


def _server_status(r: Row) -> str:
    if r.state == "maint":
        return "MAINT"
    if r.state == "nolb":
        return "NOLB"
    return "DOWN" if r.state in ("down", "going_up") else "UP"


def render(snap: Snapshot) -> str:
    out = _Out()
    info = snap.info
    proc = [
        ("nbthread", "gauge", "Number of started threads (global.nbthread)", info.get("Nbthread")),
        ("nbproc", "gauge", "Number of started worker processes", info.get("Nbproc")),
        (
            "uptime_seconds",
            "gauge",
            "How long ago this process was started (seconds)",
            info.get("Uptime_sec"),
        ),
        ("start_time_seconds", "gauge", "Start time in seconds", info.get("Start_time_sec")),
        ("max_connections", "gauge", "Maximum number of concurrent connections", info.get("Maxconn")),
        (
            "hard_max_connections",
            "gauge",
            "Initial Maximum number of concurrent connections",
            info.get("Hard_maxconn"),
        ),
        ("max_memory_bytes", "gauge",
         "Worker process's hard limit on memory usage in byes (-m on command line)",
         (info.get("Memmax_MB") or 0) * 1048576),
        ("max_fds", "gauge", "Maximum number of open file descriptors; 0=unset", info.get("Ulimit-n")),
        ("max_sockets", "gauge", "Hard limit on the number of per-process sockets", info.get("Maxsock")),
        ("current_connections", "gauge", "Number of active sessions", info.get("CurrConns")),
        ("connections_total", "counter", "Total number of created sessions", info.get("CumConns")),
        ("current_ssl_connections", "gauge", "Number of opened SSL connections", info.get("CurrSslConns")),
        ("ssl_connections_total", "counter", "Total number of opened SSL connections",
         info.get("CumSslConns")),
        ("frontend_ssl_reuse", "gauge", "SSL session reuse ratio (percent)",
         info.get("SslFrontendSessionReuse_pct")),
        ("ssl_cache_lookups_total", "counter", "Total number of SSL session cache lookups",
         info.get("SslCacheLookups")),
        ("ssl_cache_misses_total", "counter", "Total number of SSL session cache misses",
         info.get("SslCacheMisses")),
        ("current_connection_rate", "gauge",
         "Current number of connections per second over last elapsed second", info.get("ConnRate")),
        ("limit_connection_rate", "gauge", "Configured maximum number of connections per second",
         info.get("ConnRateLimit")),
        ("max_connection_rate", "gauge", "Maximum observed number of connections per second",
         info.get("MaxConnRate")),
        ("current_session_rate", "gauge", "Current number of sessions per second over last elapsed second",
         info.get("SessRate")),
        ("limit_session_rate", "gauge", "Configured maximum number of sessions per second",
         info.get("SessRateLimit")),
        ("max_session_rate", "gauge", "Maximum observed number of sessions per second",
         info.get("MaxSessRate")),
        ("current_ssl_rate", "gauge",
         "Current number of SSL sessions per second over last elapsed second", info.get("SslRate")),
        ("limit_ssl_rate", "gauge", "Configured maximum number of SSL sessions per second",
         info.get("SslRateLimit")),
        ("max_ssl_rate", "gauge", "Maximum observed number of SSL sessions per second",
         info.get("MaxSslRate")),
        ("current_frontend_ssl_key_rate", "gauge",
         "Current frontend SSL Key computation per second over last elapsed second",
         info.get("SslFrontendKeyRate")),
        ("max_frontend_ssl_key_rate", "gauge", "Maximum observed frontend SSL Key computation per second",
         info.get("SslFrontendMaxKeyRate")),
        ("requests_total", "counter", "Total number of requests (TCP or HTTP)", info.get("CumReq")),
        ("idle_time_percent", "gauge", "Percentage of last second spent waiting in the current worker thread",
         info.get("Idle_pct")),
        ("stopping", "gauge", "Non zero means stopping in progress", info.get("Stopping")),
        ("listeners", "gauge", "Number of active listeners", info.get("Listeners")),
        ("bytes_out_total", "counter",
         "Total number of bytes emitted by current worker process since started", info.get("TotalBytesOut")),
        ("bytes_out_rate", "gauge", "Number of bytes emitted by current worker process over the last second",
         info.get("BytesOutRate")),
    ]
    for suffix, typ, help_, val in proc:
        v = _num(val)
        out.family(f"haproxy_process_{suffix}", typ, help_, [("", v)] if v is not None else [])
    out.family("haproxy_process_build_info", "gauge", "Build info", [(_labels(version=__version__), "1")])
    rss = [
        (_labels(worker=str(w.slot), pid=str(w.pid)), str(w.rss)) for w in snap.workers if w.rss is not None
    ]
    cpu = [
        (_labels(worker=str(w.slot), pid=str(w.pid)), repr(round(w.cpu, 3)))
        for w in snap.workers
        if w.cpu is not None
    ]
    out.family(
        "pyhaproxy_worker_resident_memory_bytes", "gauge", "Resident memory of each worker process", rss
    )
    out.family(
        "pyhaproxy_worker_cpu_seconds_total", "counter", "User and system CPU time of each worker", cpu
    )

    fes = [p.frontend for p in snap.proxies if p.has_frontend]
    bes = [p.backend for p in snap.proxies if p.has_backend]
    svs = [s for p in snap.proxies for s in p.servers]

    def px(r: Row) -> dict[str, str]:
        return {"proxy": r.pxname}

    def sv(r: Row) -> dict[str, str]:
        return {"proxy": r.pxname, "server": r.svname}

    state_help = "Current status of the service, per state label value."
    out.family(
        "haproxy_frontend_status",
        "gauge",
        state_help,
        [
            (_labels(proxy=r.pxname, state=s), "1" if (r.values["status"] == "OPEN") == (s == "UP") else "0")
            for r in fes
            for s in ("DOWN", "UP")
        ],
    )
    _rows_family(out, "haproxy_frontend", _FE, fes, px)
    _hrsp_family(out, "haproxy_frontend", fes, px)
    out.family(
        "haproxy_backend_status",
        "gauge",
        state_help,
        [
            (_labels(proxy=r.pxname, state=s), "1" if r.values["status"] == s else "0")
            for r in bes
            for s in ("DOWN", "UP")
        ],
    )
    _rows_family(out, "haproxy_backend", _BE, bes, px)
    _hrsp_family(out, "haproxy_backend", bes, px)
    out.family(
        "haproxy_server_status",
        "gauge",
        state_help,
        [
            (_labels(proxy=r.pxname, server=r.svname, state=s), "1" if _server_status(r) == s else "0")
            for r in svs
            for s in _SERVER_STATES
        ],
    )
    _rows_family(out, "haproxy_server", _SV, svs, sv)
    dur = []
    for r in svs:
        v = r.values.get("check_duration")
        if isinstance(v, int):
            dur.append((_labels(**sv(r)), repr(v / 1000.0)))
    out.family(
        "haproxy_server_check_duration_seconds",
        "gauge",
        "Total duration of the latest server health check, in seconds.",
        dur,
    )
    _hrsp_family(out, "haproxy_server", svs, sv)
    return "\n".join(out.lines) + "\n"
