"""The servers' runtime state: `show servers state [<backend>]` and the server state file.

The dump is 2.6's format 1 (doc/management.txt, "show servers state"): a version line, a header
line naming the fields, then one line per server of every backend, in configuration order. The
master reads the same lines back at start-up and reload (`server-state-file` in `global`,
`load-server-state-from-file global|local|none` and `server-state-file-name` in the backends),
with 2.6's rules (src/server_state.c): lines match a backend by name (and, for a local file, by
id when the name changed and the id was forced), a server by name; a line with a bad value is not
applied and warned about; a file whose version line is not `1`, or with a truncated line or a
wrong number of fields, is not applied past that point.

What we hold, and so dump and restore: the admin state (maint forced on the CLI, `disabled` in the
configuration), the operational state and the health of checked servers, the check status, the
weight set on the CLI (restored only while the configured weight is the one of the file, as 2.6).
Fields we have no runtime value for are dumped as 2.6 dumps a server without them: no agent, no
FQDN set from the CLI, no SRV record.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyhaproxy.config.model import Config, Proxy, Server
from pyhaproxy.config.values import resolve

VERSION = 1
FIELDS = (
    "be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
    "srv_check_port srv_check_addr srv_agent_addr srv_agent_port"
)
MIN_FIELDS, MAX_FIELDS = 20, 25
LINE_MAXLEN = 2000  # 2.6's SRV_STATE_LINE_MAXLEN: longer lines are read in pieces (so "truncated")

# 2.6's values (include/haproxy/server-t.h, check-t.h)
ST_STOPPED, ST_STARTING, ST_RUNNING, ST_STOPPING = 0, 1, 2, 3
ADMF_FMAINT, ADMF_IMAINT, ADMF_CMAINT, ADMF_FDRAIN = 0x01, 0x02, 0x04, 0x08
ADMF_IDRAIN, ADMF_RMAINT, ADMF_HMAINT = 0x10, 0x20, 0x40
CHK_ST_INPROGRESS, CHK_ST_CONFIGURED, CHK_ST_ENABLED, CHK_ST_PAUSED, CHK_ST_AGENT = 1, 2, 4, 8, 16
RES_UNKNOWN, RES_NEUTRAL, RES_FAILED, RES_PASSED, RES_CONDPASS = 0, 1, 2, 3, 4
HCHK_STATUS_SIZE = 21
UWGHT_MAX = 256

# our check_status (pyhaproxy._core) -> 2.6's HCHK_STATUS_* and CHK_RES_*
_HCHK = {
    0: (1, RES_UNKNOWN),  # not checked yet: HCHK_STATUS_INI
    1: (6, RES_PASSED),  # L4OK
    2: (8, RES_FAILED),  # L4CON
    3: (7, RES_FAILED),  # L4TOUT
    4: (15, RES_PASSED),  # L7OK (L7OKD)
    5: (17, RES_FAILED),  # L7STS
    6: (13, RES_FAILED),  # L7RSP
    7: (12, RES_FAILED),  # L7TOUT
    8: (16, RES_CONDPASS),  # L7OKC (L7OKCD)
    9: (9, RES_PASSED),  # L6OK
    10: (10, RES_FAILED),  # L6TOUT
    11: (11, RES_FAILED),  # L6RSP
    12: (3, RES_NEUTRAL),  # CHECKED (an agent's reply without a health word)
    13: (5, RES_FAILED),  # SOCKERR
}
_FROM_HCHK = {h: ours for ours, (h, _r) in _HCHK.items()}


def proxy_uuids(cfg: Config) -> list[int]:
    """Each proxy's id (`iid`) as 2.6 numbers them: `id N` where given; the others in order, the
    `GLOBAL` proxy a `stats socket` line creates coming first (measured: with one, the first
    proxy is #2), each taking the first free number from a counter that every proxy advances
    (2.6's next_pxid: after `id 7` on the first proxy, the second is #3, not #2)."""
    used = {px.id for px in cfg.proxies if px.id}
    nxt = 1
    if cfg.global_.stats_sockets or cfg.global_.stats_socket is not None:
        while nxt in used:
            nxt += 1
        used.add(nxt)
        nxt += 1
    ids = []
    for px in cfg.proxies:
        if px.id:
            ids.append(px.id)
        else:
            while nxt in used:
                nxt += 1
            used.add(nxt)
            ids.append(nxt)
        nxt += 1
    return ids


def _has_servers_side(px: Proxy) -> bool:
    return px.cap in ("backend", "listen")


def admin_state(sv: Server, admin_down: bool) -> int:
    """2.6's srv_admin_state: `disabled` in the configuration stays CMAINT for good (even after
    `enable server`, as 2.6 shows it); maintenance forced at run time is FMAINT."""
    return ((ADMF_CMAINT if sv.disabled else 0) | (ADMF_RMAINT if sv.rmaint else 0)
            | (ADMF_FMAINT if admin_down and not sv.rmaint else 0))


def server_line(uuid: int, px: Proxy, si: int, sv: Server, info: dict[str, Any], now: float,
                started: float) -> str:
    admin_down = bool(info.get("admin_down"))
    state = int(info.get("state", 1))
    if admin_down:
        op = ST_STOPPED
    elif state == 1:
        op = ST_RUNNING
    elif state == 2:
        op = ST_STOPPING
    else:
        op = ST_STOPPED
    if sv.check:
        health = 0 if admin_down else int(info.get("check_health", 0))
        status, result = _HCHK.get(int(info.get("check_status", 0)), (1, RES_UNKNOWN))
        chk_state = CHK_ST_CONFIGURED | CHK_ST_ENABLED | (CHK_ST_PAUSED if admin_down else 0)
    else:
        health = 0 if admin_down else int(info.get("check_health", 0))
        status, result = 1, RES_UNKNOWN
        # 2.6 pauses the (absent) checks of a server `disabled` in the configuration only
        chk_state = CHK_ST_PAUSED if sv.disabled else 0
    agent = sv.agent_check and sv.agent_port > 0
    drained = int(info.get("agent_drain", 0)) if agent else 0     # (an agent's `drain`: FDRAIN)
    agent_state = CHK_ST_CONFIGURED | CHK_ST_ENABLED | CHK_ST_AGENT if agent else 0
    last = int(info.get("last_change_ms", 0)) / 1000.0 or started
    since = max(0, int(now) - int(last))
    use_ssl = 1 if sv.tls is not None and getattr(sv.tls, "use_ssl", False) else 0
    return (
        f"{uuid} {px.name} {si + 1} {sv.name} {sv.host or '-'} "
        f"{op} {admin_state(sv, admin_down) | (ADMF_FDRAIN if drained else 0)} "
        f"{int(info.get('weight', sv.weight)) or drained} {sv.weight} {since} "
        f"{status} {result} {health} {chk_state} {agent_state} "
        f"0 0 {sv.hostname or '-'} {sv.port or 0} "
        f"- {use_ssl} {sv.check_port if sv.check_port_set else 0} "
        f"{sv.check_addr or '-'} {(sv.agent_addr or '-') if agent else '-'} {sv.agent_port if agent else 0}\n"
    )


def dump(cfg: Config, shm: Any, backend: str | None = None, started: float | None = None,
         now: float | None = None) -> str:
    """`show servers state [<backend>]`'s answer (2.6: "Can't find backend." for an unknown name
    or a proxy without a servers' side)."""
    now = time.time() if now is None else now
    started = now if started is None else started
    uuids = proxy_uuids(cfg)
    selected = None
    if backend is not None:
        for pi, px in enumerate(cfg.proxies):
            if px.name == backend and _has_servers_side(px):
                selected = pi
                break
        else:
            return "Can't find backend.\n"
    out = [f"{VERSION}\n# {FIELDS}\n"]
    gi = 0
    for pi, px in enumerate(cfg.proxies):
        first = gi
        gi += len(px.servers)
        if not _has_servers_side(px) or (selected is not None and pi != selected):
            continue
        for si, sv in enumerate(px.servers):
            out.append(server_line(uuids[pi], px, si, sv, shm.srv_info(first + si), now, started))
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------
_VERSION_LINE = re.compile(r"[ \t\n\r\f\v]*[+-]?[0-9]+\n\Z")


def _read_lines(path: str) -> list[str]:
    """The file as 2.6's fgets() loop sees it: pieces of at most LINE_MAXLEN-1 characters."""
    with open(path, encoding="latin-1", newline="") as f:
        data = f.read()
    out: list[str] = []
    pos = 0
    while pos < len(data):
        nl = data.find("\n", pos)
        end = len(data) if nl < 0 else nl + 1
        end = min(end, pos + LINE_MAXLEN - 1)
        out.append(data[pos:end])
        pos = end
    return out


def _version(first: str | None) -> int:
    if first is None or not _VERSION_LINE.match(first):
        return 0
    v = int(first.strip())
    return v if v == VERSION else 0


def _parse_line(line: str) -> list[str] | None | int:
    """The fields of a line; 0 for a line to ignore (blank, comment), -1 for a corrupted one."""
    if not line or not line.endswith("\n"):
        return -1
    body = line[:-1].lstrip(" \t")
    if not body or body.startswith("#"):
        return 0
    fields = [f for f in re.split(r"[ \t]+", body) if f != ""][:MAX_FIELDS]
    if not MIN_FIELDS <= len(fields) <= MAX_FIELDS:
        return -1
    return fields


def _c_int(text: str) -> int | None:
    """strtol() as 2.6 validates with it: leading digits; None when there are none."""
    m = re.match(r"[ \t\n\r\f\v]*([+-]?[0-9]+)", text)
    return int(m.group(1)) if m else None


@dataclass
class Restore:
    """What a state line gives back to one server (applied by `apply`)."""

    gi: int
    op: int
    health: int
    maint: bool | None  # True/False: put in / take out of maintenance; None: as configured
    weight: int | None
    check_status: int
    check_result: int
    port: int  # the service port of the file (0: keep the configured one)
    addr: tuple[str, int] | None = None  # `init-addr last`: the file's address and family


def _validate(fields: list[str]) -> tuple[dict[str, int], str]:
    p = fields[4:]
    msg = ""
    v: dict[str, int] = {}

    def num(i: int, name: str, ok: Callable[[int], bool]) -> None:
        nonlocal msg
        n = _c_int(p[i])
        if n is None or not ok(n):
            msg += f", invalid {name} value '{p[i]}'"
        v[name] = n or 0

    num(1, "srv_op_state", lambda n: n in (0, 1, 2, 3))
    num(2, "srv_admin_state", lambda n: (n & ~(ADMF_IDRAIN | ADMF_IMAINT | ADMF_HMAINT | ADMF_RMAINT)) in (
        0, ADMF_FMAINT, ADMF_CMAINT, ADMF_CMAINT | ADMF_FMAINT, ADMF_CMAINT | ADMF_FDRAIN, ADMF_FDRAIN))
    v["srv_admin_state"] &= ~(ADMF_IDRAIN | ADMF_IMAINT | ADMF_HMAINT | ADMF_RMAINT)
    num(3, "srv_uweight", lambda n: 0 <= n <= UWGHT_MAX)
    num(4, "srv_iweight", lambda n: 0 <= n <= UWGHT_MAX)
    num(5, "srv_last_time_change", lambda n: True)
    num(6, "srv_check_status", lambda n: n < HCHK_STATUS_SIZE)
    num(7, "srv_check_result", lambda n: n in (0, 1, 2, 3, 4))
    num(8, "srv_check_health", lambda n: True)
    allowed = CHK_ST_INPROGRESS | CHK_ST_CONFIGURED | CHK_ST_ENABLED | CHK_ST_PAUSED | CHK_ST_AGENT
    num(9, "srv_check_state", lambda n: not n & ~allowed)
    num(10, "srv_agent_state", lambda n: not n & ~allowed)
    num(11, "bk_f_forced_id", lambda n: n in (0, 1))
    num(12, "srv_f_forced_id", lambda n: n in (0, 1))
    port = p[14]
    digits = re.match(r"[0-9]*", port)
    if digits and digits.group(0) and int(digits.group(0)) > 65535:
        msg += f", invalid srv_port value '{port}'"
    fqdn = p[13]
    if fqdn != "-" and not fqdn.startswith("-") and (
            len(fqdn) > 255 or re.search(r"[^A-Za-z0-9._-]", fqdn)):
        msg += f", invalid srv_fqdn value '{fqdn}'"
    return v, msg


def _restore(px: Proxy, sv: Server, gi: int, fields: list[str], warn: Callable[[str], None]
             ) -> Restore | None:
    v, msg = _validate(fields)
    if msg:
        warn(f"server-state application failed for server '{px.name}/{sv.name}'{msg}")
        return None
    op, health = v["srv_op_state"], v["srv_check_health"]
    rise, fall = max(1, sv.rise), max(1, sv.fall)
    if op == ST_STARTING:
        # 2.6 keeps STARTING (up, slow-starting) when rise > 1; we have no such state: RUNNING
        op = ST_RUNNING
    if op == ST_STOPPING and fall == 1:
        op = ST_STOPPED
    if op == ST_STOPPED:
        health = 0
    elif op == ST_STOPPING:
        if health < rise or health > rise + fall - 2:
            health = rise
    else:
        health = rise + fall - 1
    adm = v["srv_admin_state"]
    maint: bool | None = None
    if bool(adm & ADMF_CMAINT) != sv.disabled:
        maint = sv.disabled  # the configuration changed: it wins
    elif adm & ADMF_FMAINT and not sv.disabled:
        maint = True
    elif not adm & ADMF_FMAINT and sv.disabled:
        maint = False
    weight = v["srv_uweight"] if v["srv_iweight"] == sv.weight else None
    port = _c_int(fields[18]) or 0
    addr = resolve(fields[4], numeric_only=True) if sv.init_last else None
    return Restore(gi, op, health, maint, weight, _FROM_HCHK.get(v["srv_check_status"], 0),
                   v["srv_check_result"], port if 0 < port <= 65535 else 0, addr)


def _proxy_of(cfg: Config, gi: int) -> int:
    for pi, px in enumerate(cfg.proxies):
        if gi < len(px.servers):
            return pi
        gi -= len(px.servers)
    raise IndexError(gi)


def _path(cfg: Config, name: str) -> str:
    base = cfg.global_.server_state_base
    if name.startswith("/") or not base:
        return name
    return base + ("" if base.endswith("/") else "/") + name


def load(cfg: Config, warn: Callable[[str], None]) -> list[Restore]:
    """Read the state files the configuration names; what to restore, server by server.
    `warn` receives 2.6's warnings (without the "[WARNING]" prefix)."""
    out: list[Restore] = []
    uuids = proxy_uuids(cfg)
    global_vsn = 0
    global_tree: dict[tuple[str, str], list[str]] = {}
    if cfg.global_.server_state_file:
        path = _path(cfg, cfg.global_.server_state_file)
        try:
            lines = _read_lines(path)
        except OSError as e:
            warn(f"config: Can't open global server state file '{path}': {os.strerror(e.errno or 0)}")
            lines = None
        if lines is not None:
            global_vsn = _version(lines[0] if lines else None)
            if not global_vsn:
                warn(f"config: Can't get version of the global server state file '{path}'.")
            for linenum, line in enumerate(lines[1:] if global_vsn else [], 1):
                r = _parse_line(line)
                if r == -1:
                    warn(f"config: corrupted global server state file '{path}' at line {linenum}.")
                    global_vsn = 0
                    break
                if isinstance(r, list):
                    global_tree.setdefault((r[1], r[3]), r)  # a duplicate is dropped
    gi = 0
    for pi, px in enumerate(cfg.proxies):
        first = gi
        gi += len(px.servers)
        mode = px.load_server_state or "none"
        if not _has_servers_side(px) or px.disabled or not px.servers or mode == "none":
            continue
        if mode == "global":
            if global_vsn:
                for si, sv in enumerate(px.servers):
                    fields = global_tree.get((px.name, sv.name))
                    if fields is not None:
                        rs = _restore(px, sv, first + si, fields, warn)
                        if rs is not None:
                            out.append(rs)
            continue
        path = _path(cfg, px.server_state_file_name or px.name)
        try:
            lines = _read_lines(path)
        except OSError as e:
            warn(f"Proxy '{px.name}': Can't open server state file '{path}': {os.strerror(e.errno or 0)}.")
            continue
        vsn = _version(lines[0] if lines else None)
        if not vsn:
            warn(f"Proxy '{px.name}': Can't get version of the server state file '{path}'.")
            continue
        tree: dict[str, list[str]] = {}
        for linenum, line in enumerate(lines[1:], 1):
            r = _parse_line(line)
            if r == -1:
                warn(f"Proxy '{px.name}': corrupted server state file '{path}' at line {linenum}.")
                vsn = 0
                break
            if not isinstance(r, list):
                continue
            check_id = (_c_int(r[0]) or 0) == uuids[pi]
            check_name = r[1] == px.name
            if not check_id and not check_name:
                continue
            if not check_id:
                warn(f"Proxy '{px.name}': backend ID mismatch: from server state file: '{r[0]}', "
                     f"from running config '{uuids[pi]}'")
            elif not check_name:
                warn(f"Proxy '{px.name}': backend name mismatch: from server state file: '{r[1]}', "
                     f"from running config '{px.name}'")
                if not (_c_int(r[15]) or 0) & 1:
                    continue
            tree.setdefault(r[3], r)
        if vsn:
            for si, sv in enumerate(px.servers):
                fields = tree.pop(sv.name, None)
                if fields is not None:
                    rs = _restore(px, sv, first + si, fields, warn)
                    if rs is not None:
                        out.append(rs)
            for fields in tree.values():
                warn(f"Proxy '{px.name}': can't find server '{fields[3]}' in backend '{px.name}'")
    return out


def apply(restores: list[Restore], shm: Any, cfg: Config, warn: Callable[[str], None] | None = None) -> None:
    """Give the servers of a new generation their saved state, before its workers start.

    The operational state and health are restored for checked servers only: a server without
    checks is UP unless in maintenance (2.6 would leave one saved STOPPED stopped for good; it can
    only have been saved so while in maintenance, which is restored). A failed check status is
    not restored (it would count as a failed check in `show stat`'s chkfail): the next check
    sets it again."""
    from pyhaproxy._core import srv_state

    servers = [sv for px in cfg.proxies for sv in px.servers]
    owner: list[tuple[int, int]] = []  # gi -> (first gi of its proxy, number of servers)
    for px in cfg.proxies:
        first = len(owner)
        owner.extend((first, len(px.servers)) for _ in px.servers)
    for r in restores:
        sv = servers[r.gi]
        if r.addr is not None:
            # `init-addr last` (2.6's default for a server written with a name): the address the
            # previous process had wins over the methods after it
            sv.host, sv.family = r.addr
            if sv.rmaint:
                sv.rmaint = False
                shm.set_srv_admin_down(r.gi, sv.disabled)
        if r.port and sv.port_offset == 0:
            # 2.6 takes the service port of the file (a port changed in the configuration too)
            if not sv.check_port_set and sv.check_port == sv.port:
                sv.check_port = r.port
            sv.port = r.port
        was_up = not shm.srv_admin_down(r.gi) and shm.srv_state(r.gi) != srv_state.SRV_DOWN
        if warn is not None and r.op == ST_STOPPED and was_up and (sv.check or r.maint):
            first, n = owner[r.gi]
            left = [servers[g] for g in range(first, first + n) if g != r.gi
                    and not shm.srv_admin_down(g) and shm.srv_state(g) != srv_state.SRV_DOWN]
            act = sum(1 for o in left if not o.backup)
            warn(f"Server {cfg.proxies[_proxy_of(cfg, r.gi)].name}/{sv.name} is DOWN, changed from "
                 f"server-state after a reload. {act} active and {len(left) - act} backup servers left. "
                 "0 sessions active, 0 requeued, 0 remaining in queue.")
        if r.maint is not None:
            shm.set_srv_admin_down(r.gi, r.maint)
        if r.weight is not None:
            shm.set_srv_weight(r.gi, r.weight)
        if not sv.check:
            shm.set_srv_check(r.gi, 0, 0, r.health)
            continue
        state = {ST_STOPPED: srv_state.SRV_DOWN, ST_STOPPING: srv_state.SRV_NOLB}.get(r.op, srv_state.SRV_UP)
        shm.set_srv_state(r.gi, int(state))
        status = r.check_status if r.check_result != RES_FAILED else 0
        shm.set_srv_check(r.gi, status, 0, r.health)
