"""HAProxy's CSV statistics format (`show stat` on the stats socket, `<stats uri>;csv`).

The header line starts with `# `, every line (header included) ends with a comma, and the
columns are HAProxy 2.6's fixed fields in their order (collect.FIELDS), so tools that parse
HAProxy's CSV by column name read ours unchanged. A field holding a comma or a quote is quoted
(CSV rules, as HAProxy does for such free-text fields).
"""

from __future__ import annotations

from collections.abc import Iterable

from pyhaproxy.stats.collect import FIELDS, TYPE_BACKEND, TYPE_FRONTEND, TYPE_SERVER, Row, Snapshot

# `show stat <iid> <type> <sid>`: the type argument is a bit mask
TYPE_BITS = {TYPE_FRONTEND: 1, TYPE_BACKEND: 2, TYPE_SERVER: 4}


def header() -> str:
    return "# " + ",".join(FIELDS) + ",\n"


def field(v: object) -> str:
    if v is None:
        return ""
    s = str(v)
    if any(c in s for c in ',"\n\r'):
        return '"' + s.replace('"', '""').replace("\n", " ").replace("\r", " ") + '"'
    return s


# shown only to whom 2.6 shows them: a stats page with `stats show-legends`, a stats socket at
# level operator or admin (a server's address and cookie, a backend's cookie name and algorithm)
LEGEND_FIELDS = frozenset(("addr", "cookie", "algo"))


def row_line(row: Row, legends: bool = True) -> str:
    vals = row.values
    out = [field(row.pxname), field(row.svname)]
    out += [field("" if not legends and name in LEGEND_FIELDS else vals.get(name, "")) for name in FIELDS[2:]]
    return ",".join(out) + ",\n"


def select(rows: Iterable[Row], iid: int = -1, types: int = -1, sid: int = -1) -> list[Row]:
    """HAProxy's `show stat [iid type sid]` filter: -1 means any."""
    out = []
    for r in rows:
        if iid != -1 and r.values.get("iid") != iid:
            continue
        if types != -1 and not (types & TYPE_BITS[r.type]):
            continue
        if sid != -1 and r.type == TYPE_SERVER and r.values.get("sid") != sid:
            continue
        out.append(r)
    return out


def render(snap: Snapshot, rows: Iterable[Row] | None = None, legends: bool = True) -> str:
    lines = [header()]
    lines += [row_line(r, legends) for r in (snap.rows() if rows is None else rows)]
    return "".join(lines)
