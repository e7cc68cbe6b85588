"""Worker start-up: compile the configuration into plain tables, drop privileges, run the C loop."""

from __future__ import annotations

import contextlib
import grp
import ipaddress
import math
import os
import pwd
import socket
import sys
from typing import Any, NoReturn

from pyhaproxy import _core
from pyhaproxy.config.keywords import ACL_CRITERIA, acl_ip, acl_port_range
from pyhaproxy.config.model import Acl, Condition, Config, Proxy, Server
from pyhaproxy.shm import Shm, server_table

MODES = {"tcp": 0, "http": 1, "health": 2}
BALANCES = {"roundrobin": 0, "source": 1, "static-rr": 2, "leastconn": 3, "first": 4, "uri": 5, "hdr": 6}
COOKIE_MODES = {"passive": 1, "rewrite": 2, "insert": 3, "prefix": 4}
# Bits shared with ext/types.pxi (PO_*).
OPTION_BITS = {
    "httpclose": 1 << 0,
    "forwardfor": 1 << 1,
    "persist": 1 << 2,
    "redispatch": 1 << 3,
    "dontlognull": 1 << 4,
    "httplog": 1 << 5,
    "tcplog": 1 << 6,
    "logasap": 1 << 7,
    "allbackups": 1 << 8,
    "httpchk": 1 << 9,
    "abortonclose": 1 << 10,
    "checkcache": 1 << 11,
    "clitcpka": 1 << 12,
    "srvtcpka": 1 << 13,
    "nolinger": 1 << 14,
    "forceclose": 1 << 15,
    "http-server-close": 1 << 16,
}


def _resolve(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])


def _ip_port(spec: str | None, default_port: int = 0) -> tuple[str, int] | None:
    """'ip', 'ip:port' or '[v6]:port' -> (ip, port)."""
    if not spec:
        return None
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return _resolve(host), int(rest[1:]) if rest.startswith(":") else default_port
    if spec.count(":") == 1:
        host, port = spec.split(":")
        return _resolve(host or "0.0.0.0"), int(port) if port else default_port
    return _resolve(spec), default_port


def weighted_sequence(items: list[tuple[int, int]]) -> list[int]:
    """Smooth weighted round robin over (global index, weight): each appears `weight` times, spread out.

    The order is nginx's smooth weighted round robin (each turn every server gains its weight, the
    highest, first in the list on a tie, is chosen and loses the total). Computed per class of
    equal weight, not per server: within a class the members are chosen in list order, so a turn
    costs the number of distinct weights, not the number of servers (8,000 servers of weight 1
    took 6 s the naive way, 100,000 never finished). Weights are first divided by their GCD,
    which gives the same sequence repeated.
    """
    items = [(gi, w) for gi, w in items if w > 0]
    if not items:
        return []
    g = 0
    for _, w in items:
        g = math.gcd(g, w)
    classes: dict[int, list[int]] = {}  # reduced weight -> positions in `items`, in order
    for pos, (_, w) in enumerate(items):
        classes.setdefault(w // g, []).append(pos)
    weights = list(classes)
    members = [classes[w] for w in weights]
    sizes = [len(m) for m in members]
    chosen = [0] * len(weights)  # selections so far per class
    total = sum(w * n for w, n in zip(weights, sizes, strict=True))
    seq: list[int] = []
    for t in range(1, total + 1):
        best = -1
        best_val = 0
        best_pos = 0
        for j, w in enumerate(weights):
            s = chosen[j]
            val = t * w - total * (s // sizes[j])  # the class's next member (fewest selections)
            pos = members[j][s % sizes[j]]
            if best < 0 or val > best_val or (val == best_val and pos < best_pos):
                best, best_val, best_pos = j, val, pos
        chosen[best] += 1
        seq.append(items[best_pos][0])
    return seq * g


def _monitor_nets(px: Proxy) -> list[tuple[int, bytes, int]]:
    nets = []
    for net, bits in px.monitor_net:
        addr = ipaddress.ip_address(net)
        fam = socket.AF_INET if addr.version == 4 else socket.AF_INET6
        nets.append((int(fam), addr.packed, int(bits)))
    return nets


RULE_ACTIONS = ("add", "del", "rep", "deny", "allow", "pass", "tarpit")
ERRORLOC_STATUS = {"302": "302 Found", "303": "303 See Other"}


def error_pages(px: Proxy) -> dict[int, bytes]:
    """The proxy's custom answers by status: errorfile contents as they are, errorloc redirects."""
    pages = {code: text.encode("latin-1") for code, text in px.errorfile.items()}
    for code, (kind, url) in px.errorloc.items():
        status = ERRORLOC_STATUS.get(kind, ERRORLOC_STATUS["302"])
        pages[code] = (f"HTTP/1.0 {status}\r\nCache-Control: no-cache\r\nConnection: close\r\n"
                       f"Location: {url}\r\n\r\n").encode("latin-1")
    return pages


def _acl_patterns(acl: Acl) -> list[Any]:
    match = ACL_CRITERIA[acl.criterion][1]
    if match == "ip":
        return [acl_ip(p) for p in acl.patterns]
    if match == "int":
        return [acl_port_range(p) for p in acl.patterns]
    return [p.encode("latin-1") for p in acl.patterns]


def compile_acls(cfg: Config) -> dict[str, Any]:
    """ACL lines, conditions and each proxy's use_backend range, for ext/acl.pxi.

    A condition term names an ACL; every line with that name is one acl entry and the term keeps
    the list of them (ORed). Backend names become proxy indexes (the first proxy of that name
    that has servers' side); a `listen` is its own default backend, a frontend without
    default_backend uses itself (no server: 503).
    """
    acls: list[tuple[str, str, int, bytes, list[Any]]] = []
    conds: list[tuple[int, int, list[tuple[int, int, list[int]]]]] = []
    switch: list[tuple[int, int, int]] = []
    hrules: list[tuple[str, int, int, int, bytes, bytes]] = []
    hreq: list[tuple[int, int]] = []
    backends: dict[str, int] = {}
    for pi, px in enumerate(cfg.proxies):
        if px.cap in ("listen", "backend"):
            backends.setdefault(px.name, pi)

    def add_cond(px: Proxy, local: dict[str, list[int]], cond: Condition | None, target: int) -> None:
        terms: list[tuple[int, int, list[int]]] = []
        if cond is not None:
            for gi, group in enumerate(cond.groups):
                for ti, (neg, name) in enumerate(group):
                    last = ti == len(group) - 1 and gi < len(cond.groups) - 1
                    if name in ("TRUE", "FALSE"):
                        refs = [len(acls)]
                        acls.append(("always_true" if name == "TRUE" else "always_false", "str", 0, b"", []))
                    else:
                        refs = local[name]
                    terms.append((int(neg), int(last), refs))
        conds.append((int(cond.unless) if cond is not None else 0, target, terms))

    for pi, px in enumerate(cfg.proxies):
        local: dict[str, list[int]] = {}
        for acl in px.acls:
            fetch, match = ACL_CRITERIA[acl.criterion]
            local.setdefault(acl.name, []).append(len(acls))
            acls.append((fetch, match, int(acl.icase), (acl.header or "").encode("latin-1"),
                         _acl_patterns(acl)))
        first = len(conds)
        if px.cap != "backend":
            for rule in px.use_backends:
                add_cond(px, local, rule.cond, backends[rule.backend])
        default_be = pi
        if px.cap != "backend" and px.default_backend is not None:
            default_be = backends[px.default_backend]
        switch.append((first, len(conds) - first, default_be))
        hfirst = len(hrules)
        for hr in px.http_rules if px.mode == "http" else []:
            cond = -1
            if hr.cond is not None:
                cond = len(conds)
                add_cond(px, local, hr.cond, -1)
            a = hr.args
            if hr.action == "deny":
                hrules.append(("deny", cond, int(a[0]) if a else 403, 0, b"", b""))
            elif hr.action == "redirect":
                hrules.append((f"redirect-{a[0]}", cond, int(a[2]), int(a[3]), a[1].encode("latin-1"), b""))
            else:
                value = a[1] if len(a) > 1 else ""
                hrules.append((hr.action, cond, 0, 0, a[0].encode("latin-1"), value.encode("latin-1")))
        hreq.append((hfirst, len(hrules) - hfirst))
    return {"acls": acls, "conds": conds, "switch": switch, "hrules": hrules, "hreq": hreq}


def compile_tables(cfg: Config) -> dict[str, Any]:
    """The configuration as plain dicts and lists that ext/setup.pxi copies into C structs."""
    proxies: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    table = server_table(cfg)
    by_proxy: dict[int, list[tuple[int, Server]]] = {}
    for gi, pi, sv in table:
        by_proxy.setdefault(pi, []).append((gi, sv))
    for pi, px in enumerate(cfg.proxies):
        mine = by_proxy.get(pi, [])
        opts = 0
        for name in px.options:
            opts |= OPTION_BITS.get(name, 0)
        if px.redispatch:
            opts |= OPTION_BITS["redispatch"]
        if px.httpchk is not None:
            opts |= OPTION_BITS["httpchk"]
        if "tcpka" in px.options:
            opts |= OPTION_BITS["clitcpka"] | OPTION_BITS["srvtcpka"]
        ck = px.cookie
        proxies.append({
            "name": px.name,
            "mode": MODES.get(px.mode, 0),
            "maxconn": max(1, px.maxconn),
            "contimeout": px.contimeout,
            "clitimeout": px.clitimeout,
            "srvtimeout": px.srvtimeout,
            "httpreqtimeout": px.httpreqtimeout,
            "queuetimeout": px.queuetimeout,
            "tunneltimeout": px.tunneltimeout,
            "ff_header": px.forwardfor_header,
            "ff_except": acl_ip(f"{px.forwardfor_except[0]}/{px.forwardfor_except[1]}")
            if px.forwardfor_except else None,
            "keepalivetimeout": px.keepalivetimeout,
            "grace": px.grace,
            "retries": px.retries,
            "balance": BALANCES[px.balance],
            "balance_set": 1 if px.balance_explicit else 0,
            "hash_arg": px.hash_balance_arg,
            "opts": opts,
            "srv_first": mine[0][0] if mine else 0,
            "nsrv": len(mine),
            "rr_act": weighted_sequence([(gi, sv.weight) for gi, sv in mine if not sv.backup and sv.weight]),
            "rr_bck": weighted_sequence([(gi, sv.weight) for gi, sv in mine if sv.backup and sv.weight]),
            "dispatch": (_resolve(px.dispatch[0]), px.dispatch[1]) if px.dispatch else None,
            "source": _ip_port(px.source),
            "monitor_net": _monitor_nets(px),
            "ck_mode": COOKIE_MODES.get(ck.mode, 0) if ck else 0,
            "ck_indirect": int(bool(ck and ck.indirect)),
            "ck_nocache": int(bool(ck and ck.nocache)),
            "ck_postonly": int(bool(ck and ck.postonly)),
            "ck_name": ck.name if ck else "",
            "ck_domain": (ck.domain or "") if ck else "",
            "monitor_uri": px.monitor_uri or "",
            "stats_uri": px.stats.uri if px.stats.enabled and px.mode == "http" else "",
            "capture_cookie": next(((c.name, c.length) for c in px.captures if c.kind == "cookie"), None),
            "capture_req": [(c.name, c.length) for c in px.captures if c.kind == "request"],
            "capture_rsp": [(c.name, c.length) for c in px.captures if c.kind == "response"],
            "log": [(t.address, t.facility, t.level) for t in (cfg.global_.logs if px.log_global else [])]
            + [(t.address, t.facility, t.level) for t in px.logs],
            # --- rules (ext/rules.pxi): header rules apply in HTTP mode only (the parser warns)
            "rules": [(r.direction, r.action, int(r.icase), (r.regex or "").encode("latin-1"),
                       (r.replacement or "").encode("latin-1"))
                      for r in px.rules if px.mode == "http" and r.action in RULE_ACTIONS],
            "errpages": error_pages(px),
            "appsession": ((px.appsession, px.appsession_len, px.appsession_timeout)
                           if px.appsession and px.mode == "http" else None),
        })
    for _gi, pi, sv in table:
        port_mode = 1 if sv.port is None or sv.port_offset else 0
        servers.append({
            "name": sv.name,
            "px": pi,
            "host": _resolve(sv.host),
            "port": sv.port or 0,
            "port_mode": port_mode,
            "port_offset": sv.port_offset,
            "source": _ip_port(sv.source),
            "cookie": sv.cookie or "",
            "backup": int(sv.backup),
            "weight": sv.weight,
            "maxconn": sv.maxconn,
            "slowstart": sv.slowstart,
        })
    return {"proxies": proxies, "servers": servers, "maxconn": max(1, cfg.global_.maxconn),
            "acl": compile_acls(cfg),
            "quiet": cfg.global_.quiet, "stats_sock": cfg.global_.tune.get("__stats_sock")}


def drop_privileges(cfg: Config) -> None:
    """chroot, then group and user, as HAProxy does after binding."""
    g = cfg.global_
    gid = g.gid
    uid = g.uid
    if g.group:
        gid = grp.getgrnam(g.group).gr_gid
    if g.user:
        pw = pwd.getpwnam(g.user)
        uid = pw.pw_uid
    if g.chroot:
        os.chroot(g.chroot)
        os.chdir("/")
    if gid is not None:
        os.setgroups([])
        os.setgid(gid)
    if uid is not None:
        os.setuid(uid)


def run(cfg: Config, listeners: list[Any], shm: Shm, worker_idx: int, debug: bool = False,
        ready_fd: int = -1) -> NoReturn:
    """Body of a forked worker: never returns. One byte on `ready_fd` tells the master that the
    tables are built (the C copy that follows is linear and short)."""
    code = 0
    try:
        tables = compile_tables(cfg)
        # HAProxy logs the pid of a process it started: with one worker outside master-worker
        # mode that is our master (the pidfile's pid); with nbproc > 1 each 1.x process logged
        # its own (all were in the pidfile), as 2.x workers do
        single = not cfg.global_.master_worker and cfg.global_.nbproc <= 1
        tables["log_pid"] = os.getppid() if single else 0
        fds = [
            (lst.sock.fileno(), lst.proxy_index, lst.port, max(1, cfg.proxies[lst.proxy_index].maxconn))
            for lst in listeners
        ]
        drop_privileges(cfg)
        if ready_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(ready_fd, b"r")
                os.close(ready_fd)
        code = _core.run_worker(tables, shm, worker_idx, fds, 1 if debug else 0)
    except BaseException as exc:  # a worker must never unwind into the master's code
        print(f"[ALERT] worker {os.getpid()}: {exc!r}", file=sys.stderr)
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
