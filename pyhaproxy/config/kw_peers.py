"""The ``peers`` section (HAProxy 1.5+, 2.6's form) and the global ``localpeer``.

``peers NAME`` opens a section; inside it ``peer NAME ADDR:PORT`` (the local peer's line is its
listening address), or 2.x's ``bind ADDR:PORT`` plus ``server NAME [ADDR:PORT]`` lines (the two
forms cannot be mixed), ``disabled``/``enabled``, and ``table NAME type ... size ... [expire
...] [store ...]``, a stick table of the section, known locally as ``SECTION/NAME`` and on
the wire as ``/NAME`` (what 2.6 sends). The local peer is the one named by ``-L``, else
``localpeer``, else the host name. Messages are 2.6's (cfgparse.c's cfg_parse_peers,
stick_table.c's parse_stick_table).
"""

from __future__ import annotations

import os
import re
import socket

from .model import PeerDef, PeersSection, PeerTable, Where
from .state import State
from .values import fail, is_any, not_supported, parse_time, resolve, split_host_port

PEERS = "peers"

_SIZE_RE = re.compile(r"^([0-9]+)([kKmMgG]?)$")
_SIZE_MULT = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# key types and their default key size (stick_table.c's stktable_types)
_KEY_TYPES = {"integer": 4, "ip": 4, "ipv6": 16, "string": 32, "binary": 32}
# the store options haproxy 2.6 knows: rate types take a period, arrays a size
_RATE = {"gpc0_rate", "conn_rate", "sess_rate", "http_req_rate", "http_err_rate", "bytes_in_rate",
         "bytes_out_rate", "gpc1_rate", "http_fail_rate"}
_PLAIN = {"server_id", "gpt0", "gpc0", "conn_cnt", "conn_cur", "sess_cnt", "http_req_cnt",
          "http_err_cnt", "bytes_in_cnt", "bytes_out_cnt", "gpc1", "server_key", "http_fail_cnt"}
_ARRAYS = {"gpt", "gpc", "gpc_rate"}
_RATE.add("gpc_rate")
ARRAY_MAX = 100     # 2.6's STKTABLE_MAX_DT_ARRAY_SIZE (ext/stktable.h ST_MAX_ARRAY)
# an array replaces the legacy types of the same name (2.6 refuses both in one table)
_OVERRIDES = (("gpt", {"gpt0"}, "'gpt' and 'gpt0'"), ("gpc", {"gpc0", "gpc1"}, "'gpc' and 'gpc[0/1]'"),
              ("gpc_rate", {"gpc0_rate", "gpc1_rate"}, "'gpc_rate' and 'gpc[0/1]_rate'"))


def initial_localpeer(cmdline: str | None) -> str:
    """2.6: ``-L NAME``, else the host name (a ``localpeer`` line may change the latter)."""
    return cmdline if cmdline else socket.gethostname()


def g_localpeer(st: State, args: list[str], where: Where) -> None:
    if len(args) > 2:
        raise fail(where, f"'{args[0]}' cannot handle unexpected argument '{args[2]}'.")
    if len(args) < 2 or not args[1]:
        raise fail(where, f"'{args[0]}' expects a name as an argument.")
    cfg = st.config
    if cfg.localpeer_cmdline:
        st.warn(where, f"'{args[0]}' ignored since it is already set by using the '-L' command line "
                       "argument.")
        return
    if cfg.peers:
        st.warn(where, f"'{args[0]}' ignored since it is used after 'peers' section.")
        return
    cfg.localpeer = args[1]
    os.environ["HAPROXY_LOCALPEER"] = args[1]  # as 2.6's setenv, for "${HAPROXY_LOCALPEER}"


def open_section(st: State, args: list[str], where: Where) -> None:
    if len(args) < 2 or not args[1]:
        raise fail(where, "missing name for peers section.")
    if len(args) > 2:
        raise fail(where, f"'peers' cannot handle unexpected argument '{args[2]}'.")
    bad = next((ch for ch in args[1] if not (ch.isalnum() or ch in "-_.:")), None)
    if bad is not None:
        raise fail(where, f"character '{bad}' is not permitted in 'peers' name '{args[1]}'.")
    for other in st.config.peers:
        if other.name == args[1]:
            # 2.6 capitalises this one message
            raise fail(where, f"peers section '{args[1]}' has the same name as another peers section "
                              f"declared at {other.where.file}:{other.where.line}.")
    sec = PeersSection(name=args[1], where=where)
    st.config.peers.append(sec)
    st.section, st.proxy = PEERS, None


def _addr(args: list[str], where: Where, text: str, local: str = "") -> tuple[str, int]:
    """ADDR:PORT -> (numeric address, port): names are resolved here, as 2.6 resolves them at
    start-up, so that the master's loop never waits on DNS."""
    host, port = split_host_port(text)
    if port is None or port == "":
        raise fail(where, f"'{args[0]} {args[1]}' : missing port specification in '{text}'")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise fail(where, f"'{args[0]} {args[1]}' : invalid port '{port}'")
    if is_any(host):
        return "0.0.0.0", int(port)
    found = resolve(host)
    if found is None:
        # 2.6: "[F:L] : 'server LOCAL/NAME' : invalid address: ..." (it names the peers frontend
        # after the local peer)
        raise fail(where, f"'server {local}/{args[1]}' : invalid address: '{host}' in '{text}'")
    return found[0], int(port)


def peers_line(st: State, args: list[str], where: Where) -> None:
    """One line inside a ``peers`` section."""
    sec = st.config.peers[-1]
    kw = args[0]
    local = st.config.localpeer
    if kw in ("bind", "default-bind"):
        if sec.peer_line:
            raise fail(where, 'mixing "peer" and "bind" line is forbidden')
        if kw == "default-bind":
            return  # options of the bind line: none is used by the peers link
        if len(args) < 2 or not args[1]:
            raise fail(where, "'bind' expects [addr1]:port1[-end1]{,[addr]:port[-end]}... as arguments.")
        if sec.bind is not None:
            raise fail(where, f"One listener per \"peers\" section is authorized but another is already "
                              f"configured at [{sec.bind_where.file}:{sec.bind_where.line}].")
        if len(args) > 2:
            raise not_supported(f"'bind' option '{args[2]}' in a peers section", "2.0", where)
        sec.bind = _addr(["bind", args[1]], where, args[1])
        sec.bind_where = where
        sec.bind_line = True
        return
    if kw in ("peer", "server"):
        if kw == "peer":
            if sec.bind_line:
                raise fail(where, 'mixing "peer" and "bind" line is forbidden')
            sec.peer_line = True
        if len(args) < 2 or not args[1]:
            raise fail(where, f"'{kw}' expects <name> [<addr>:<port>] as arguments.")
        name = args[1]
        is_local = name == local
        if is_local:
            prev = next((p for p in sec.peers if p.local), None)
            if prev is not None:
                raise fail(where, f"'{kw} {name}' : local peer name already referenced at "
                                  f"{prev.where.file}:{prev.where.line}. {name}")
        host, port = "", 0
        if len(args) > 2 and args[2]:
            if not (kw == "server" and is_local):  # a local `server` line takes no address
                host, port = _addr(args, where, args[2], local)
        if len(args) > 3:
            raise not_supported(f"'{kw}' option '{args[3]}' in a peers section", "2.0", where)
        sec.peers.append(PeerDef(name=name, host=host, port=port, local=is_local, where=where))
        if is_local and kw == "peer" and port:
            sec.bind, sec.bind_where = (host, port), where
        return
    if kw == "table":
        _table(st, sec, args, where)
        return
    if kw == "disabled":
        sec.disabled = True
        return
    if kw == "enabled":
        sec.disabled = False
        return
    if kw in ("log", "default-server"):
        raise not_supported(f"'{kw}' in a peers section", "2.0", where)
    raise fail(where, f"unknown keyword '{kw}' in 'peers' section")


def _table(st: State, sec: PeersSection, args: list[str], where: Where) -> None:
    if len(args) < 2 or not args[1]:
        raise fail(where, "table: ID not provided.")
    name = args[1]
    for other_sec in st.config.peers:
        for t in other_sec.tables:
            if t.name == name:
                raise fail(where, f"stick-table name '{name}' conflicts with table declared in peers "
                                  f"'{other_sec.name}' at {t.where.file}:{t.where.line}.")
    sec.tables.append(parse_table(args[0], name, args[2:], where))


def parse_table(kw: str, name: str, args: list[str], where: Where,
                peers: list[str] | None = None) -> PeerTable:
    """The options of a `table` line of a peers section or of a proxy's `stick-table` (kw names
    it in 2.6's messages); `peers NAME` is accepted only when `peers` collects it."""
    t = PeerTable(name=name, where=where)
    i = 0
    key_type: str | None = None
    size = 0

    def arg_after(i: int) -> str:
        if i + 1 >= len(args) or not args[i + 1]:
            raise fail(where, f"{kw}: missing argument after '{args[i]}'.")
        return args[i + 1]

    while i < len(args):
        w = args[i]
        if w == "size":
            v = arg_after(i)
            m = _SIZE_RE.match(v)
            if not m:
                bad = next((ch for ch in v if not ch.isdigit()), v[:1])
                raise fail(where, f"{kw}: unexpected character '{bad}' in argument of 'size'.")
            size = int(m.group(1)) * _SIZE_MULT[m.group(2).lower()]
            i += 2
        elif w == "expire":
            t.expire_ms = parse_time(arg_after(i), "expire", where)
            i += 2
        elif w == "nopurge":
            t.nopurge = True
            i += 1
        elif w == "peers" and peers is not None:
            peers.append(arg_after(i))
            i += 2
        elif w == "type":
            kt = args[i + 1] if i + 1 < len(args) else ""
            if kt not in _KEY_TYPES:
                raise fail(where, f"{kw}: unknown type '{kt}'.")
            key_type, t.key_len = kt, _KEY_TYPES[kt]
            i += 2
            if kt in ("string", "binary") and i < len(args) and args[i] == "len":
                n = args[i + 1] if i + 1 < len(args) else ""
                if not n.isdigit() or int(n) == 0:
                    raise fail(where, f"{kw}: unknown type '{kt}'.")
                t.key_len = int(n) + (1 if kt == "string" else 0)  # room for the NUL, as 2.6
                i += 2
        elif w == "store":
            for opt in _split_store(arg_after(i), where):
                _store_option(kw, t, opt, where)
            _check_overrides(kw, t, where)
            i += 2
        elif w == "srvkey":
            v = args[i + 1] if i + 1 < len(args) else ""
            if v not in ("name", "addr"):
                raise fail(where, f"{kw} : unknown server key type '{v}'.")
            i += 2
        else:
            raise fail(where, f"{kw}: unknown argument '{w}'.")
    if not size:
        raise fail(where, f"{kw}: missing size.")
    if key_type is None:
        raise fail(where, f"{kw}: missing type.")
    t.key_type, t.size = key_type, size
    return t


def _split_store(text: str, where: Where) -> list[tuple[str, str | None]]:
    """``a,b(10s),c`` -> [(a, None), (b, "10s"), (c, None)]; commas inside parentheses stay."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    out: list[tuple[str, str | None]] = []
    for part in parts:
        if "(" not in part:
            out.append((part, None))
            continue
        name, rest = part.split("(", 1)
        if not rest.endswith(")"):
            raise fail(where, f"table: missing closing parenthesis after store option '{name}'.")
        out.append((name, rest[:-1]))
    return out


def _store_option(kw: str, t: PeerTable, opt: tuple[str, str | None], where: Where) -> None:
    name, arg = opt
    if name not in _RATE and name not in _PLAIN and name not in _ARRAYS:
        raise fail(where, f"{kw}: unknown store option '{name}'.")
    nelem = 1
    if name in _ARRAYS and kw == "table":
        # (pyhaproxy's peers link does not speak the arrays: a table it shares has none)
        raise not_supported(f"store option '{name}' in a peers section's table", "2.5", where)
    if name in _ARRAYS:
        # 2.5+: the element count first (C's atoi, 1 to 100), then gpc_rate's period
        if arg is None:
            raise fail(where, f"{kw}: missing argument to store option '{name}'.")
        count, _sep, arg2 = arg.partition(",")
        m = re.match(r"[ \t]*([+-]?[0-9]+)", count)
        nelem = int(m.group(1)) if m else 0
        if not 1 <= nelem <= ARRAY_MAX:
            raise fail(where, f"{kw}: array size is out of allowed range (1-{ARRAY_MAX}) for store option "
                              f"'{name}'.")
        arg = arg2 if _sep else None
    if name in _RATE:
        if not arg:
            raise fail(where, f"{kw}: missing argument to store option '{name}'.")
        period = parse_time(arg, name, where)
    else:
        if arg is not None:
            raise fail(where, f"{kw}: unexpected argument to store option '{name}'.")
        period = 0
    if any(n == name for n, _ in t.data_types):
        return  # 2.6 warns "already enabled, ignored"
    t.data_types.append((name, period))
    if name in _ARRAYS:
        t.data_nelem[name] = nelem


def _check_overrides(kw: str, t: PeerTable, where: Where) -> None:
    """After a `store` word: an array and the legacy types it replaces are refused together."""
    stored = {n for n, _p in t.data_types}
    for array, legacy, text in _OVERRIDES:
        if array in stored and stored & legacy:
            first, second = text.split(" and ")
            raise fail(where, f"{kw}: simultaneous usage of {text} in a same table is not permitted as "
                              f"{first} overrides {second}.")


def sync_peers_error(cfg_peers: list[PeersSection], localpeer: str, proxy: str, name: str) -> str | None:
    """For a proxy's ``stick-table ... peers NAME``: 2.6's post-parse alert (without its
    ``[ALERT]`` prefix), or None when the section exists (the table is shared only if the
    section names the local peer and is not disabled)."""
    sec = next((s for s in cfg_peers if s.name == name), None)
    if sec is None:
        return f"Proxy '{proxy}': unable to find sync peers '{name}'."
    if sec.disabled:
        return None
    if sec.local() is None and not (sec.peers or sec.tables or sec.bind_line):
        # 2.6 says this only of an empty section; one with other peers is dropped with its
        # "Removing incomplete section" warning and the table is not shared
        return f"Proxy '{proxy}': unable to find local peer '{localpeer}' in peers section '{name}'."
    return None
