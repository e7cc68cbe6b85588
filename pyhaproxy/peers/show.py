"""`show peers [dict|-] [SECTION]` on the stats socket, in 2.6's layout (peers.c's
peers_dump_head/peers_dump_peer): a header line per section, then per peer its id, role, state,
address, last status and handshake, timers and counters, and its tables. Pointers are our
objects' ids; the fields 2.6 takes from its applet (st0, task calls, xprt) are left out."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pyhaproxy.peers.engine import HEARTBEAT, RECONNECT, Peer, PeersEngine

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
STATUS = {100: "CONN", 110: "HSHK", 200: "ESTA", 300: "RETR", 501: "PROT", 502: "VERS", 503: "NAME",
          504: "UNKN"}


def human_time(ms: float) -> str:
    """2.6's human_time(): at most two units, "0s" for zero."""
    t = int(ms // 1000)
    if t < 0:
        return "?"
    out, cnt = "", 2
    if t >= 86400:
        out += f"{t // 86400}d"
        cnt -= 1
    if cnt and t % 86400 // 3600:
        out += f"{t % 86400 // 3600}h"
        cnt -= 1
    if cnt and t % 3600 // 60:
        out += f"{t % 3600 // 60}m"
        cnt -= 1
    if (cnt and t % 60) or not t:
        out += f"{t % 60}s"
    return out


def _until(when: float | None, now: float) -> str:
    if when is None:
        return "<NEVER>"
    return "<PAST>" if when <= now else human_time((when - now) * 1000)


def _peer(e: PeersEngine, p: Peer, now: float) -> str:
    s = p.session
    active = s is not None and s.state == "up"
    addr = f"{p.conf.host or '0.0.0.0'}:{p.conf.port}"
    hdshk = human_time((now - p.last_hdshk) * 1000) if p.last_hdshk is not None else "<NEVER>"
    out = (f"  0x{id(p):x}: id={p.conf.name}({'local' if p.conf.local else 'remote'},"
           f"{'active' if active else 'inactive'}) addr={addr} last_status={STATUS.get(p.statuscode, 'NONE')}"
           f" last_hdshk={hdshk}\n")
    if p.conf.local:
        reconnect = heartbeat = None
    elif s is not None and s.state == "up":
        reconnect, heartbeat = s.last_rx + RECONNECT, s.last_tx + HEARTBEAT
    else:
        reconnect, heartbeat = (p.reconnect_at if p.statuscode else None), None
    out += (f"        reconnect={_until(reconnect, now)} heartbeat={_until(heartbeat, now)} confirm=0"
            f" tx_hbt={p.tx_hbt} rx_hbt={p.rx_hbt} no_hbt={p.no_hbt} new_conn={p.new_conn}"
            f" proto_err={p.proto_err} coll={p.coll}\n")
    out += "        flags=0x0"
    if s is not None and active:
        try:
            src = s.sock.getsockname()
            dst = s.sock.getpeername()
            out += f" state=EST\n        xprt=RAW src={src[0]}:{src[1]} addr={dst[0]}:{dst[1]}"
        except OSError:
            pass
    if e.tables:
        out += "\n        shared tables:"
        for i, t in enumerate(e.tables):
            remote = 0
            if s is not None:
                remote = next((rid for rid, rt in s.remote.items() if rt.store_idx == i), 0)
            out += f"\n          0x{id(t):x} local_id={i + 1} remote_id={remote} flags=0x0"
            out += f"\n              table:0x{id(t):x} id={t.name}"
    return out + "\n"


def show_peers(engines: Sequence[PeersEngine], args: list[str]) -> str:
    """The answer to `show peers` followed by ``args``."""
    if args and args[0] in ("dict", "-"):
        args = args[1:]
    # 2.6 keeps its sections and peers in lists it prepends to: the last declared comes first
    chosen = list(reversed(engines))
    if args and args[0]:
        chosen = [e for e in chosen if e.section == args[0]]
        if not chosen:
            return "No such peers\n"
    parts = []
    for e in chosen:
        tm = time.localtime(e.created)
        resync = "<NEVER>" if e.synced else _until(e.resync_deadline, e.clock())
        head = (f"0x{id(e):x}: [{tm.tm_mday:02d}/{MONTHS[tm.tm_mon - 1]}/{tm.tm_year:04d}:{tm.tm_hour:02d}:"
                f"{tm.tm_min:02d}:{tm.tm_sec:02d}] id={e.section} disabled=0 flags=0x0"
                f" resync_timeout={resync} task_calls=0\n")
        body = "".join(_peer(e, p, e.clock()) for p in reversed(list(e.peers.values())))
        parts.append(head + body)
    return "\n".join(parts)
