"""The HTML statistics page, laid out like HAProxy's.

A header with the process figures (master pid, uptime, limits, and each worker's pid, memory
and CPU) and the colour legend, then one table per proxy: a FRONTEND row, one row per server,
a BACKEND row, with the column groups Queue, Sessions, Bytes, Denied, Errors, Warnings, Server.
Server rows are coloured by state with HAProxy's palette (green up, yellow/orange in
transition, red down, blue for backups). `stats refresh` adds a refresh meta tag (the `;norefresh`
suffix drops it), `;up` hides servers that are down, `stats hide-version` drops the version.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

from pyhaproxy import __version__
from pyhaproxy.stats.collect import ProxyStats, Row, Snapshot

# HAProxy's colours (by state; backups get the blue/purple family)
_CSS = """
body { font-family: arial, helvetica, sans-serif; font-size: 12px; font-weight: normal;
       color: black; background: white; }
th, td { font-size: 10px; }
h1 { font-size: x-large; margin-bottom: 0.5em; }
h2 { font-family: helvetica, arial; font-size: x-large; font-weight: bold; font-style: italic;
     color: #6020a0; margin-top: 0em; margin-bottom: 0em; }
h3 { font-family: helvetica, arial; font-size: 16px; font-weight: bold; color: #b00040;
     background: #e8e8d0; margin-top: 0em; margin-bottom: 0em; }
a { text-decoration: none; }
table.tbl { border-collapse: collapse; border-style: none; margin-bottom: 1em; }
table.tbl td, table.tbl th { text-align: right; border: 1px solid #808080; white-space: nowrap;
                             padding: 2px 3px; }
table.tbl th.pxname { background: #b00040; color: #ffff40; font-weight: bold; text-align: left;
                      border-style: solid solid none solid; padding: 2px 3px; }
table.tbl th.empty { border-style: none; background: white; }
table.tbl td.ac { text-align: center; }
table.tbl td.al, table.tbl th.al { text-align: left; }
tr.titre { background: #20D0D0; color: #000000; font-weight: bold; text-align: center; }
tr.titre th { text-align: center; }
table.lgd { border-collapse: collapse; border-width: 1px; border-style: none none none solid;
            border-color: black; }
table.lgd td { border: 1px solid gray; padding: 2px; }
table.lgd td.noborder { border-style: none; padding: 2px; white-space: nowrap; }
table.info td { vertical-align: top; padding: 0 1em 0 0; }
.frontend { background: #e8e8d0; }
.backend { background: #e8e8d0; }
.active_down, .backup_down { background: #ff9090; }
.active_going_up { background: #ffd020; }
.active_going_down { background: #ffffa0; }
.active_up { background: #c0ffc0; }
.active_nocheck, .backup_nocheck { background: #e0e0e0; }
.backup_going_up { background: #ff80ff; }
.backup_going_down { background: #c060ff; }
.backup_up { background: #b0d0ff; }
.active_nolb, .backup_nolb { background: #20a0ff; }
.active_maint, .backup_maint { background: #c0c0c0; }
.stopped { background: #ff9090; }
"""

_LEGEND = [
    ("active_up", "active UP"), ("backup_up", "backup UP"),
    ("active_going_down", "active UP, going down"), ("backup_going_down", "backup UP, going down"),
    ("active_going_up", "active DOWN, going up"), ("backup_going_up", "backup DOWN, going up"),
    ("active_down", "active or backup DOWN"), ("active_nocheck", "not checked"),
    ("active_maint", "active or backup DOWN for maintenance (MAINT)"),
]  # fmt: skip

_GROUPS = [
    ("", 1), ("Queue", 2), ("Sessions", 5), ("Bytes", 2), ("Denied", 2), ("Errors", 3),
    ("Warnings", 2), ("Server", 8),
]  # fmt: skip
_COLS = [
    ("Cur", "qcur"), ("Max", "qmax"),
    ("Cur", "scur"), ("Max", "smax"), ("Limit", "slim"), ("Total", "stot"), ("LbTot", "lbtot"),
    ("In", "bin"), ("Out", "bout"),
    ("Req", "dreq"), ("Resp", "dresp"),
    ("Req", "ereq"), ("Conn", "econ"), ("Resp", "eresp"),
    ("Retr", "wretr"), ("Redis", "wredis"),
    ("Status", "status"), ("LastChk", "check_status"), ("Wght", "weight"), ("Act", "act"),
    ("Bck", "bck"), ("Chk", "chkfail"), ("Dwn", "chkdown"), ("Dwntme", "downtime"),
]  # fmt: skip


def _fmt(key: str, v: Any, row: Row) -> str:
    if v is None or v == "":
        return ""
    if (key == "act" or key == "bck") and row.type == 2:
        return "Y" if v else "-"
    if key == "downtime":
        return _human_secs(int(v))
    if key == "check_status":
        dur = row.values.get("check_duration")
        return f"{v} in {dur}ms" if isinstance(dur, int) else str(v)
    if key == "status" and row.type == 2 and "lastchg" in row.values:
        return f"{_human_secs(int(row.values['lastchg']))} {v}"
    return str(v)


def _human_secs(s: int) -> str:
    d, r = divmod(s, 86400)
    h, r = divmod(r, 3600)
    m, sec = divmod(r, 60)
    if d:
        return f"{d}d{h}h"
    if h:
        return f"{h}h{m}m"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 10240 or unit == "GB":
            return f"{n} {unit}"
        n //= 1024
    return f"{n} GB"


# `stats admin`: the message 2.6 shows for the `;st=` code of the redirection after a POST
_STATUS_TEXT = {
    "DONE": "Action processed successfully.",
    "NONE": "Nothing has changed.",
    "PART": "Action not processed for all requested servers.",
    "ERRP": "Action not processed because of invalid parameters.",
    "EXCD": "Action not processed : the buffer couldn't store all the data.",
    "DENY": "Action denied.",
    "IVAL": "Invalid requests (unsupported method or chunked encoded request).",
}


def _row_html(row: Row, admin: bool = False) -> str:
    if row.type == 0:
        cls, name = ("frontend" if row.state == "up" else "stopped"), "Frontend"
    elif row.type == 1:
        cls, name = ("backend" if row.state == "up" else "stopped"), "Backend"
    else:
        cls = ("backup_" if row.backup else "active_") + (row.state or "up")
        name = row.svname
    box = f'<input type="checkbox" name="s" value="{escape(name)}"> ' if admin and row.type == 2 else ""
    cells = [f'<td class="al">{box}{escape(name)}</td>']
    for key, _ in ((k, t) for t, k in _COLS):
        tip = f' title="{escape(_times_tip(row))}"' if key == "stot" and row.type != 0 else ""
        cells.append(f"<td{tip}>{escape(_fmt(key, row.values.get(key), row))}</td>")
    return f'<tr class="{cls}">' + "".join(cells) + "</tr>"


def _times_tip(row: Row) -> str:
    """A server's or backend's time maxima and averages, the lines of 2.6's tooltip on the
    session total (the response time in HTTP only), as the cell's title."""
    v = row.values
    lines = ["Max / Avg over last 1024 success. conn."]
    for label, col in (("Queue time", "qtime"), ("Connect time", "ctime"), ("Responses time", "rtime"),
                       ("Total time", "ttime")):
        if col == "rtime" and v.get("mode") != "http":
            continue
        lines.append(f"- {label}: {v.get(col + '_max', 0)} / {v.get(col, 0)} ms")
    return "\n".join(lines)


def _group_th(title: str, n: int) -> str:
    # the first, untitled, group is the name column spanning both header rows
    return f'<th colspan="{n}">{title}</th>' if title else '<th rowspan="2" width="10%"></th>'


def _proxy_table(ps: ProxyStats, only_up: bool, admin: bool = False, uri: str = "") -> str:
    px = ps.proxy
    ncols = 1 + len(_COLS)
    admin = admin and bool(ps.servers)
    out = [f'<form method="post" action="{escape(uri)}">'] if admin else []
    out += [
        '<table class="tbl" width="100%">',
        f'<tr><th class="pxname" width="10%"><a name="{escape(px.name)}"></a>{escape(px.name)}</th>'
        f'<th class="{"desc" if px.description else "empty"}" colspan="{ncols - 1}">'
        f'{escape(px.description)}</th></tr>',
        '<tr class="titre">' + "".join(_group_th(g, n) for g, n in _GROUPS) + "</tr>",
        '<tr class="titre">' + "".join(f"<th>{t}</th>" for t, _ in _COLS) + "</tr>",
    ]  # fmt: skip
    if ps.has_frontend:
        out.append(_row_html(ps.frontend))
    for r in ps.servers:
        if only_up and r.state in ("down", "going_up", "maint"):
            continue
        out.append(_row_html(r, admin))
    if ps.has_backend:
        out.append(_row_html(ps.backend))
    out.append("</table>")
    if admin:
        # the actions pyhaproxy carries out (pyhaproxy/stats/http.py ADMIN_ACTIONS), 2.6's names
        out.append('Choose the action to perform on the checked servers : <select name="action">'
                   '<option value="">...</option><option value="ready">Set state to READY</option>'
                   '<option value="maint">Set state to MAINT</option></select>'
                   f'<input type="hidden" name="b" value="#{ps.iid}"><input type="submit" value="Apply">'
                   "</form>")
    return "\n".join(out)


def render(
    snap: Snapshot,
    *,
    uri: str = "/haproxy?stats",
    refresh: int = 0,
    hide_version: bool = False,
    only_up: bool = False,
    show_refresh_link: bool = True,
    admin: bool = False,
    status: str = "",
) -> str:
    """The whole page. `refresh` is in seconds (0: none); `admin`: the servers' forms (`stats
    admin`); `status`: the `;st=` code of the redirection after a POST."""
    info = snap.info
    title = "Statistics Report for pyhaproxy"
    head = [
        "<!DOCTYPE html>",
        "<html><head>",
        '<meta charset="utf-8">',
        f"<title>{title}</title>",
    ]
    if refresh > 0:
        head.append(f'<meta http-equiv="refresh" content="{refresh}">')
    head.append(f"<style>{_CSS}</style></head><body>")
    version = "" if hide_version else f" version {escape(__version__)}"
    body = [
        f"<h1>pyhaproxy{version}</h1>",
        f"<h2>Statistics Report for pid {info.get('Pid')}</h2>",
        "<hr><h3>&gt; General process information</h3>",
        '<table class="info"><tr><td>',
        f"<p><b>pid = </b> {info.get('Pid')} (master, {info.get('Nbproc')} worker(s))<br>",
        f"<b>uptime = </b> {escape(str(info.get('Uptime')))}<br>",
        f"<b>system limits :</b> ulimit-n = {info.get('Ulimit-n')} ; maxconn = {info.get('Maxconn')}<br>",
        f"current conns = {info.get('CurrConns')} ; total conns = {info.get('CumConns')} ;"
        f" total requests = {info.get('CumReq')}</p>",
        '<table class="tbl"><tr class="titre"><th>Worker</th><th>pid</th><th>RSS</th><th>CPU</th></tr>',
    ]
    for w in snap.workers:
        cpu = "-" if w.cpu is None else f"{w.cpu:.2f} s"
        body.append(
            f"<tr><td>{w.slot}</td><td>{w.pid if w.pid is not None else '-'}</td>"
            f"<td>{_size(w.rss)}</td><td>{cpu}</td></tr>"
        )
    body.append("</table></td><td>")
    body.append('<table class="lgd">')
    for i in range(0, len(_LEGEND), 2):
        cells = "".join(
            f'<td class="{c}">&nbsp;</td><td class="noborder">{escape(t)}</td>' for c, t in _LEGEND[i : i + 2]
        )
        body.append(f"<tr>{cells}</tr>")
    body.append("</table></td><td>")
    base = escape(uri)
    links = [f'<a href="{base};csv">CSV export</a>', f'<a href="{base};prometheus">Prometheus metrics</a>']
    links.append(
        f'<a href="{base}{";up" if not only_up else ""}">'
        f"{'Hide' if not only_up else 'Show all'} DOWN servers</a>"
    )
    if show_refresh_link and refresh > 0:
        links.append(f'<a href="{base};norefresh">Disable refresh</a>')
    body.append("<b>Display option:</b><ul>" + "".join(f"<li>{x}</li>" for x in links) + "</ul>")
    body.append("</td></tr></table>")
    body.append(f"<p>Generated {escape(time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(snap.now)))}</p>")
    if status:
        ok = status in ("DONE", "NONE")
        body.append(f'<p class="{"active_up" if ok else "active_down"}"><b>'
                    f'{escape(_STATUS_TEXT.get(status, "Unexpected result."))}</b> '
                    f'[<a href="{escape(uri)}">X</a>]</p>')
    for ps in snap.proxies:
        body.append(_proxy_table(ps, only_up, admin, uri))
    body.append("</body></html>")
    return "\n".join(head + body) + "\n"
