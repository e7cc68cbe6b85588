"""The keyword table of the configuration language: one row per keyword and section kind.

`KEYWORDS` maps a keyword to the sections it is allowed in, the handler that stores its
arguments into the model (in the kw_*.py modules), the HAProxy version that introduced it and
the side of a proxy (frontend or backend) it acts on when it acts on one side only. A handler of
`None` marks a keyword we recognise (HAProxy 1.3 and later) but do not support yet: using it is an
error that says so, never a silent no-op. Messages copy HAProxy 1.2's wording where it had one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from . import tls as TLS  # tls
from . import tls_server as TLSS  # tls
from .kw_bind import p_bind
from .kw_global import (
    GLOBAL_TLS_KEYWORDS,
    g_flag,
    g_hard_stop_after,
    g_int,
    g_max_spread_checks,
    g_path,
    g_spread_checks,
    g_tls,
    g_tls_ignored,
    g_tls_server,
    g_tune,
    g_user,
)
from .kw_http import (
    p_appsession,
    p_capture,
    p_cookie,
    p_errorfile,
    p_errorloc,
    p_monitor,
    p_monitor_net,
    p_monitor_uri,
    p_no,
    p_option,
)
from .kw_http_errors import p_errorfiles, p_http_error
from .kw_peers import g_localpeer  # peers
from .kw_process import (
    g_cpu_map,
    g_node_description,
    g_setenv,
    p_backlog,
    p_bind_process,
    p_description,
    p_id,
)
from .kw_proxy import (
    TIMEOUT_SIDES,
    p_balance,
    p_disabled,
    p_dispatch,
    p_fullconn,
    p_grace,
    p_hash_balance_factor,
    p_hash_type,
    p_http_reuse,
    p_int,
    p_mode,
    p_old_timeout,
    p_redispatch,
    p_source,
    p_timeout,
    p_transparent,
)
from .kw_rules import (
    header_rule,
    p_acl,
    p_declare,
    p_default_backend,
    p_http_after_response,
    p_http_request,
    p_http_response,
    p_persist_rule,
    p_redirect,
    p_tcp_request,
    p_tcp_response,
    p_use_backend,
    p_use_server,
)
from .kw_server import p_default_server, p_http_check, p_server
from .kw_server_state import g_server_state, p_load_server_state, p_server_state_file_name
from .kw_stats_log import (
    g_log,
    g_log_send_hostname,
    g_log_tag,
    g_no,
    g_stats,
    p_error_log_format,
    p_log,
    p_log_format,
    p_log_tag,
    p_stats,
    p_unique_id_format,
    p_unique_id_header,
)
from .kw_stick import p_stick, p_stick_table
from .kw_tcp_tuning import p_rate_limit, p_tcpka
from .kw_tcpcheck import p_tcp_check
from .model import (
    Where,
)
from .state import BACKEND, DEFAULTS, FRONTEND, GLOBAL, LISTEN, PROXY_SECTIONS, Handler
from .values import IN_26, fail, not_supported


class Kw(NamedTuple):
    sections: frozenset[str]
    handler: Handler | None  # None: recognised, not supported yet
    since: str  # HAProxy version that introduced the keyword
    note: str = ""
    # The one side of a proxy the keyword acts on (FRONTEND or BACKEND), None when it acts on
    # both; a mapping when the first argument decides (`timeout client`, `timeout server`). In a
    # `frontend` or `backend` of the other side the keyword is kept but warned about.
    side: str | Mapping[str, str] | None = None

    def side_of(self, args: list[str]) -> tuple[str, str] | None:
        """(the side `args` act on, the keyword as the warning names it), or None for both."""
        if self.side is None or isinstance(self.side, str):
            return None if self.side is None else (self.side, args[0])
        side = self.side.get(args[1]) if len(args) > 1 else None
        return None if side is None else (side, f"{args[0]} {args[1]}")


G = frozenset({GLOBAL})

P = PROXY_SECTIONS

L = frozenset({LISTEN, FRONTEND, BACKEND})  # a proxy, not `defaults`

FE = frozenset({LISTEN, FRONTEND})  # sides that accept clients

BE = frozenset({LISTEN, BACKEND})  # sides that have servers

FED = FE | {DEFAULTS}

KEYWORDS: dict[str, tuple[Kw, ...]] = {
    # global
    "daemon": (Kw(G, g_flag, "1.0"),),
    "debug": (Kw(G, g_flag, "1.0"),),
    "quiet": (Kw(G, g_flag, "1.0"),),
    "h1-accept-payload-with-any-method": (Kw(G, g_flag, "2.5"),),
    "nopoll": (Kw(G, g_flag, "1.2.5", "accepted, epoll is always used"),),
    "noreuseport": (Kw(G, g_flag, "1.8"),),
    "expose-experimental-directives": (Kw(G, g_flag, "2.5"),),
    "hard-stop-after": (Kw(G, g_hard_stop_after, "1.8"),),
    "spread-checks": (Kw(G, g_spread_checks, "1.3.15"),),
    "max-spread-checks": (Kw(G, g_max_spread_checks, "1.5"),),
    "noepoll": (Kw(G, g_flag, "1.2.5", "accepted, epoll is always used"),),
    "nosepoll": (Kw(G, g_flag, "1.3.9", "accepted, epoll is always used"),),
    "nokqueue": (Kw(G, g_flag, "1.3.9", "accepted, epoll is always used"),),
    "master-worker": (Kw(G, g_flag, "1.8"),),
    "uid": (Kw(G, g_int, "1.0"),),
    "gid": (Kw(G, g_int, "1.0"),),
    "nbproc": (Kw(G, g_int, "1.1"),),
    "localpeer": (Kw(G, g_localpeer, "2.0"),),  # peers
    "maxconnrate": (Kw(G, g_int, "1.5"),),
    "maxsessrate": (Kw(G, g_int, "1.5"),),
    "maxsslrate": (Kw(G, g_int, "1.5"),),
    "maxpipes": (Kw(G, g_int, "1.4"),),
    "nosplice": (Kw(G, g_flag, "1.4"),),
    "set-dumpable": (Kw(G, g_flag, "1.8"),),
    "insecure-fork-wanted": (Kw(G, g_flag, "2.2"),),
    "strict-limits": (Kw(G, g_flag, "2.0"),),
    "nbthread": (Kw(G, g_int, "1.8"),),
    "ulimit-n": (Kw(G, g_int, "1.1.32"),),
    "fd-hard-limit": (Kw(G, g_int, "2.5"),),
    "user": (Kw(G, g_user, "1.1.27"),),
    "group": (Kw(G, g_user, "1.1.27"),),
    "chroot": (Kw(G, g_path, "1.0"),),
    "pidfile": (Kw(G, g_path, "1.1.21"),),
    "maxconn": (Kw(G, g_int, "1.0"), Kw(P, p_int, "1.0")),
    "log": (Kw(G, g_log, "1.0"), Kw(P, p_log, "1.0")),
    "log-tag": (Kw(G, g_log_tag, "1.5"), Kw(P, p_log_tag, "1.6")),
    "log-send-hostname": (Kw(G, g_log_send_hostname, "1.4"),),
    "stats": (Kw(G, g_stats, "1.2"), Kw(P, p_stats, "1.2.14")),
    "server-state-base": (Kw(G, g_server_state, "1.6"),),
    "server-state-file": (Kw(G, g_server_state, "1.6"),),
    "load-server-state-from-file": (Kw(P, p_load_server_state, "1.6", side=BACKEND),),
    "server-state-file-name": (Kw(P, p_server_state_file_name, "1.6", side=BACKEND),),
    # proxies
    "bind": (Kw(FE, p_bind, "1.2"),),
    "acl": (Kw(L, p_acl, "1.3.10"),),
    "use_backend": (Kw(FE, p_use_backend, "1.3.10"),),
    "use-server": (Kw(L, p_use_server, "1.5", side=BACKEND),),
    "force-persist": (Kw(L, p_persist_rule, "1.4", side=BACKEND),),
    "ignore-persist": (Kw(L, p_persist_rule, "1.5", side=BACKEND),),
    "tcp-request": (Kw(P, p_tcp_request, "1.3.15"),),  # [PROXY-PROTOCOL hook 4/4]
    "tcp-response": (Kw(P, p_tcp_response, "1.5"),),
    "default_backend": (Kw(FED, p_default_backend, "1.3"),),
    "http-request": (Kw(L, p_http_request, "1.4"),),
    "redirect": (Kw(L, p_redirect, "1.3.14"),),   # tls: redirect scheme https if !{ ssl_fc }
    "http-response": (Kw(L, p_http_response, "1.5"),),
    "http-after-response": (Kw(L, p_http_after_response, "2.2"),),
    "declare": (Kw(L, p_declare, "1.6"),),
    "stick-table": (Kw(P, p_stick_table, "1.5"),),
    "stick": (Kw(P, p_stick, "1.5", side=BACKEND),),
    "log-format": (Kw(P, p_log_format, "1.5"),),           # (ignored in a backend, as 2.6)
    "error-log-format": (Kw(P, p_error_log_format, "2.5"),),
    "unique-id-format": (Kw(FED, p_unique_id_format, "1.5"),),
    "unique-id-header": (Kw(FED, p_unique_id_header, "1.5"),),
    "mode": (Kw(P, p_mode, "1.0"),),
    "disabled": (Kw(P, p_disabled, "1.1"),),
    "enabled": (Kw(P, p_disabled, "1.1.22"),),
    "balance": (Kw(P, p_balance, "1.1", side=BACKEND),),
    "hash-type": (Kw(P, p_hash_type, "1.3.22", side=BACKEND),),
    "hash-balance-factor": (Kw(P, p_hash_balance_factor, "1.7", side=BACKEND),),
    "http-reuse": (Kw(P, p_http_reuse, "1.6", side=BACKEND),),
    "dispatch": (Kw(BE, p_dispatch, "1.0"),),
    "source": (Kw(P, p_source, "1.1.18", side=BACKEND),),
    "cookie": (Kw(P, p_cookie, "1.0", side=BACKEND),),
    "appsession": (Kw(BE, p_appsession, "1.2.4"),),
    "capture": (Kw(P, p_capture, "1.1.23", side=FRONTEND),),
    "contimeout": (Kw(P, p_old_timeout, "1.0", side=BACKEND),),
    "clitimeout": (Kw(P, p_old_timeout, "1.0", side=FRONTEND),),
    "srvtimeout": (Kw(P, p_old_timeout, "1.0", side=BACKEND),),
    "timeout": (Kw(P, p_timeout, "1.3.14", side=TIMEOUT_SIDES),),
    "retries": (Kw(P, p_int, "1.0", side=BACKEND),),
    "grace": (Kw(P, p_grace, "1.1"),),
    "fullconn": (Kw(P, p_fullconn, "1.3.9", side=BACKEND),),
    "redispatch": (Kw(P, p_redispatch, "1.0", side=BACKEND),),
    "redisp": (Kw(P, p_redispatch, "1.0", side=BACKEND),),
    "transparent": (Kw(P, p_transparent, "1.1", side=BACKEND),),
    "monitor-net": (Kw(P, p_monitor_net, "1.2.6", side=FRONTEND),),
    "monitor-uri": (Kw(P, p_monitor_uri, "1.2.15", side=FRONTEND),),
    "monitor": (Kw(P, p_monitor, "1.3.10", side=FRONTEND),),
    "option": (Kw(P, p_option, "1.0"),),
    "no": (Kw(P, p_no, "1.3.15"), Kw(G, g_no, "1.3.15")),
    "server": (Kw(BE, p_server, "1.0"),),
    "default-server": (Kw(P, p_default_server, "1.4"),),
    "http-check": (Kw(P, p_http_check, "1.4"),),
    "tcp-check": (Kw(P, p_tcp_check, "1.5", side=BACKEND),),
    "errorloc": (Kw(P, p_errorloc, "1.1"),),
    "errorloc302": (Kw(P, p_errorloc, "1.2.5"),),
    "errorloc303": (Kw(P, p_errorloc, "1.2.5"),),
    "errorfile": (Kw(P, p_errorfile, "1.2.13"),),
    "errorfiles": (Kw(P, p_errorfiles, "2.2"),),
    "description": (Kw(L, p_description, "1.4"), Kw(G, g_node_description, "1.4")),
    "id": (Kw(L, p_id, "1.3.16"),),
    "backlog": (Kw(P, p_backlog, "1.4", side=FRONTEND),),
    "rate-limit": (Kw(P, p_rate_limit, "1.4", side=FRONTEND),),
    "bind-process": (Kw(P, p_bind_process, "1.4"),),
    "clitcpka-cnt": (Kw(P, p_tcpka, "2.2", side=FRONTEND),),
    "clitcpka-idle": (Kw(P, p_tcpka, "2.2", side=FRONTEND),),
    "clitcpka-intvl": (Kw(P, p_tcpka, "2.2", side=FRONTEND),),
    "srvtcpka-cnt": (Kw(P, p_tcpka, "2.2", side=BACKEND),),
    "srvtcpka-idle": (Kw(P, p_tcpka, "2.2", side=BACKEND),),
    "srvtcpka-intvl": (Kw(P, p_tcpka, "2.2", side=BACKEND),),
    "node": (Kw(G, g_node_description, "1.4"),),
    "cpu-map": (Kw(G, g_cpu_map, "1.5"),),
    "setenv": (Kw(G, g_setenv, "1.7"),),
    "presetenv": (Kw(G, g_setenv, "1.7"),),
    "unsetenv": (Kw(G, g_setenv, "1.7"),),
    "resetenv": (Kw(G, g_setenv, "1.7"),),
    "http-error": (Kw(P, p_http_error, "2.2"),),
    "reqadd": (Kw(L, header_rule("req", "add", False, 1), "1.0"),),
    "rspadd": (Kw(L, header_rule("rsp", "add", False, 1), "1.0"),),
    "reqrep": (Kw(L, header_rule("req", "rep", False, 2), "1.0"),),
    "cliexp": (Kw(L, header_rule("req", "rep", False, 2), "1.0", "old name of reqrep"),),
    "reqirep": (Kw(L, header_rule("req", "rep", True, 2), "1.1"),),
    "rsprep": (Kw(L, header_rule("rsp", "rep", False, 2), "1.0"),),
    "srvexp": (Kw(L, header_rule("rsp", "rep", False, 2), "1.0", "old name of rsprep"),),
    "rspirep": (Kw(L, header_rule("rsp", "rep", True, 2), "1.1"),),
}

for _dir, _acts in (("req", ("del", "deny", "allow", "pass", "tarpit")), ("rsp", ("del", "deny"))):
    for _act in _acts:
        for _icase in (False, True):
            _kw = f"{_dir}{'i' if _icase else ''}{_act}"
            _since = "1.2.10" if _act == "tarpit" else "1.1"
            KEYWORDS[_kw] = (Kw(L, header_rule(_dir, _act, _icase, 1), _since),)

# Recognised keywords of later versions: an error that says "not supported yet".
_LATER_PROXY_KEYWORDS = {
    "block": "1.3.10",
    "http-send-name-header": "1.4",
    "compression": "1.5",
    "filter": "1.7",
    "persist": "1.5",
    "reqsetbe": "1.3",
    "reqisetbe": "1.3",
    "server-template": "1.8",
    "email-alert": "1.6",
    "external-check": "1.6",
    "dynamic-cookie-key": "1.8",
    "max-keep-alive-queue": "1.6",
    "retry-on": "2.0",
    "max-session-srv-conns": "2.0",
}

_LATER_GLOBAL_KEYWORDS = {
    # not keywords of 2.6 (Debian's 2.6.12 does not know them)
    "ssl-default-bind-sigalgs": "2.8",
    "ssl-default-bind-client-sigalgs": "2.8",
    "ssl-default-server-sigalgs": "2.8",
    "lua-load": "1.6",
    "ssl-default-bind-ciphers": "1.5",
    "ssl-default-server-ciphers": "1.5",
    "ssl-default-bind-options": "1.5",
    "ssl-default-server-options": "1.5",
    "ssl-server-verify": "1.5",
    "tune": "1.3",
    "maxsslconn": "1.5",
    "ca-base": "1.5",
    "crt-base": "1.5",
    "localpeer": "2.0",
    "h1-case-adjust": "1.9",
    "external-check": "1.6",
    "ssl-dh-param-file": "1.5",
    "busy-polling": "1.9",
    "profiling.tasks": "2.0",
    "numa-cpu-mapping": "2.4",
    "cluster-secret": "2.1",
    "httpclient.resolvers.prefer": "2.5",
    "default-path": "2.4",
    "stats-file": "3.0",
    # HTTP compression's limits: refused with `compression` and `filter` (proxies, above)
    "maxcomprate": "1.5",
    "maxcompcpuusage": "1.5",
    "maxzlibmem": "1.5",
}

# Keywords haproxy 2.6 lists (`haproxy -dKcfg`) that the tables above do not name yet.
for _kw in (
    "close-spread-time h1-accept-payload-with-any-method h1-case-adjust-file httpclient.resolvers.id "
    "httpclient.ssl.ca-file httpclient.ssl.verify issuers-chain-path lua-load-per-thread "
    "lua-prepend-path mworker-max-reloads no-memory-trimming pp2-never-send-local set-var "
    "set-var-fmt thread-group thread-groups"
).split():
    KEYWORDS.setdefault(_kw, (Kw(G, None, IN_26),))

for _kw in "http-error use-fcgi-app".split():
    KEYWORDS.setdefault(_kw, (Kw(P, None, IN_26),))


for _kw in GLOBAL_TLS_KEYWORDS:
    KEYWORDS[_kw] = (Kw(G, g_tls if _kw in TLS.GLOBAL_KEYWORDS
                        else g_tls_server if _kw in TLSS.GLOBAL_KEYWORDS else g_tls_ignored, "1.5"),)  # tls

for _kw, _since in _LATER_PROXY_KEYWORDS.items():
    KEYWORDS.setdefault(_kw, (Kw(P, None, _since),))

for _kw, _since in _LATER_GLOBAL_KEYWORDS.items():
    KEYWORDS.setdefault(_kw, (Kw(G, None, _since),))


def lookup(keyword: str, section: str, where: Where) -> Kw:
    """The table entry for `keyword` in `section`, or the right error."""
    if keyword.startswith("tune.") and section == GLOBAL:
        return Kw(G, g_tune, "1.3")
    entries = KEYWORDS.get(keyword)
    if entries is None:
        if keyword.startswith("tune."):
            raise fail(where, f"'{keyword}' not allowed in '{section}' section (only in 'global').")
        raise fail(where, f"unknown keyword '{keyword}' in '{section}' section")
    for kw in entries:
        if section in kw.sections:
            if kw.handler is None:
                raise not_supported(f"'{keyword}'", kw.since, where)
            return kw
    order = (GLOBAL, DEFAULTS, LISTEN, FRONTEND, BACKEND)
    allowed = [sec for sec in order if any(sec in k.sections for k in entries)]
    if section == DEFAULTS and (LISTEN in allowed or FRONTEND in allowed or BACKEND in allowed):
        raise fail(where, f"'{keyword}' not allowed in 'defaults' section.")
    where_ok = " or ".join(f"'{s}'" for s in allowed)
    raise fail(where, f"'{keyword}' not allowed in '{section}' section (only in {where_ok}).")
