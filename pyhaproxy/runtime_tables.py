"""The stats socket's stick-table commands, with HAProxy 2.6's syntax, texts and levels:
`show table [NAME [data.TYPE OP VALUE]... | [key KEY]]`, `clear table NAME [data... | key KEY]`,
`set table NAME key KEY [data.TYPE VALUE]...` (2.6's stick_table.c, cli_parse_table_req and
table_dump_*_to_buffer). The master reads and writes the workers' shared tables directly
(ext/stktable.pxi StkTable); a table is named after its proxy, or SECTION/NAME.
"""

from __future__ import annotations

import ipaddress
import operator
import socket
import struct
from collections.abc import Callable
from typing import Any

from pyhaproxy.config.kw_stick import DATA_IDS, DATA_NAMES, table_names
from pyhaproxy.config.model import PeerTable

OPER = 1            # pyhaproxy/stats/socket.py LEVELS["operator"]
FILTERS = 4         # 2.6's STKTABLE_FILTER_LEN
_OPS: dict[str, Callable[[int, int], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "le": operator.le, "ge": operator.ge,
    "lt": operator.lt, "gt": operator.gt,
}
_ARGS_ERR = {
    "show": ("Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key "
             "<key>\n"),
    "clear": ("Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key "
              "<key>\n"),
    "set": "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n",
}
_KEY_ERR = {
    "show": "Showing keys from tables of type other than ip, ipv6, string and integer is not supported\n",
    "clear": "Removing keys from tables of type other than ip, ipv6, string and integer is not supported\n",
    "set": "Inserting keys into tables of type other than ip, ipv6, string and integer is not supported\n",
}


def _tables(view: Any) -> list[tuple[str, PeerTable, Any]]:
    shared = list(getattr(view.shm, "tables", []) or [])
    return [(name, t, st) for (name, t), st in zip(table_names(view.cfg), shared, strict=False)]


def _head(name: str, t: PeerTable, st: Any) -> str:
    return f"# table: {name}, type: {t.key_type}, size:{t.size}, used:{st.used}\n"


def _key_text(t: PeerTable, key: bytes) -> str:
    if t.key_type == "ip":
        return socket.inet_ntop(socket.AF_INET, key)
    if t.key_type == "ipv6":
        return socket.inet_ntop(socket.AF_INET6, key)
    if t.key_type == "integer":
        return str(struct.unpack("=I", key)[0])
    if t.key_type == "string":
        out = []
        for c in key.split(b"\0", 1)[0]:
            ch = chr(c)
            if 32 < c < 127 and ch not in "\\=":
                out.append(ch)
            elif ch in "\t\n\r\x1b\\ =":
                out.append("\\" + {"\t": "t", "\n": "n", "\r": "r", "\x1b": "e"}.get(ch, ch))
            else:
                out.append(f"\\x{c:02X}")
        return "".join(out)
    return key.ljust(t.key_len, b"\0").hex().upper()


def _entry_line(t: PeerTable, key: bytes, exp: int, refs: int, data: dict[int, int | list[int]]) -> str:
    # (2.6 prints the entry's address; pyhaproxy an offset-free stand-in of the same form)
    line = f"0x{id(key) & 0xffffffffffff:x}: key={_key_text(t, key)} use={refs} exp={exp}"
    periods = dict(t.data_types)
    for dt in sorted(data):
        name = DATA_NAMES[dt]
        period = periods.get(name, 0)
        value = data[dt]
        # an array's elements as 2.6 names them: its index after the name's first word
        # (gpc_rate's element 3 is gpc3_rate)
        items = [(name, value)] if not isinstance(value, list) else \
            [(name.replace("_", f"{k}_", 1) if "_" in name else f"{name}{k}", v) for k, v in enumerate(value)]
        for label, v in items:
            line += f" {label}({period})={v}" if name.endswith("_rate") else f" {label}={v}"
    return line + "\n"


def _first(v: int | list[int]) -> int:
    """A value as `show table`'s filters and `set table` see it: an array's element 0 (2.6)."""
    return v[0] if isinstance(v, list) else v


def parse_key(t: PeerTable, text: str) -> bytes | None:
    """A key typed on the CLI in the table's form (2.6's rules); None when it is not one."""
    if t.key_type == "ip":
        try:
            return ipaddress.IPv4Address(text).packed
        except ValueError:
            return socket.inet_aton("0.0.0.0")      # 2.6's inetaddr_host(): 0 for garbage
    if t.key_type == "ipv6":
        try:
            return ipaddress.IPv6Address(text).packed
        except ValueError:
            return None
    if t.key_type == "integer":
        if not text.isdigit() or int(text) > 0xFFFFFFFF:
            return None
        return struct.pack("=I", int(text))
    return text.encode("latin-1")[: t.key_len - 1]


def _filters(t: PeerTable, args: list[str]) -> list[tuple[int, Callable[[int, int], bool], int]] | str:
    """`data.TYPE OP VALUE` (up to 4): [(type id, op, value)], or 2.6's error text."""
    out = []
    stored = {n for n, _p in t.data_types}
    i = 0
    while i < FILTERS and 3 * i < len(args):
        word = args[3 * i]
        n = i + 1
        dt = DATA_IDS.get(word[5:]) if word.startswith("data.") else None
        if dt is None:
            return f"Filter entry #{n}: Unknown data type\n"
        if DATA_NAMES[dt] not in stored:
            return f"Filter entry #{n}: Data type not stored in this table\n"
        op = _OPS.get(args[3 * i + 1] if 3 * i + 1 < len(args) else "")
        if op is None:
            return (f"Filter entry #{n}: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", "
                    "\"lt\", \"gt\"\n")
        try:
            value = int(args[3 * i + 2])
        except (IndexError, ValueError):
            return f"Filter entry #{n}: Require a valid integer value to compare against\n"
        out.append((dt, op, value))
        i += 1
    if 3 * i < len(args):
        return (f"Detected extra data in filter, {3 + 3 * i + 1}th word of input, after "
                f"'{args[3 * i - 1]}'\n")
    return out


def execute(view: Any, words: list[str], level: int) -> str:
    """One `show|clear|set table ...` command -> its answer."""
    verb, args = words[0], words[2:]
    tables = _tables(view)
    if not args:
        if verb != "show":
            return _ARGS_ERR[verb]
        # (2.6 lists the tables last declared first)
        return "".join(_head(name, t, st) for name, t, st in reversed(tables))
    found = next(((name, t, st) for name, t, st in tables if name == args[0]), None)
    if found is None:
        return "No such table\n"
    name, t, st = found
    if args[1:2] == ["key"]:
        return _per_key(verb, name, t, st, args, level)
    flt: list[tuple[int, Callable[[int, int], bool], int]] = []
    if len(args) > 1:
        if not args[1].startswith("data."):
            return _ARGS_ERR[verb]
        if verb == "set":
            return "content-based lookup is only supported with the \"show\" and \"clear\" actions\n"
        parsed = _filters(t, args[1:])
        if isinstance(parsed, str):
            return parsed
        flt = parsed
    elif verb == "set":
        return _ARGS_ERR[verb]
    out = _head(name, t, st) if verb == "show" else ""
    if level < OPER:
        return out + "# contents not dumped due to insufficient privileges\n" if verb == "show" else out
    rows = sorted(st.entries(), key=lambda r: r[0])
    for key, exp, refs, _seq, data in rows:
        if any(not op(_first(data.get(dt, 0)), value) for dt, op, value in flt):
            continue
        if verb == "show":
            out += _entry_line(t, key, exp, refs, data)
        elif refs == 0:
            st.clear(key)
    return out


def _per_key(verb: str, name: str, t: PeerTable, st: Any, args: list[str], level: int) -> str:
    if len(args) < 3 or not args[2]:
        return "Key value expected\n"
    if t.key_type == "binary":
        return _KEY_ERR[verb]
    key = parse_key(t, args[2])
    if key is None:
        return "Invalid key\n"
    if level < OPER:
        return "Permission denied\n"
    if verb == "show":
        row = st.lookup(key)
        if row is None:
            return ""
        exp, refs, data = row
        return _head(name, t, st) + _entry_line(t, key, exp, refs, data)
    if verb == "clear":
        row = st.lookup(key)
        if row is None:
            return ""
        if row[1] > 0:
            return "Entry currently in use, cannot remove\n"
        st.clear(key)
        return ""
    values: dict[int, int] = {}
    stored = {n for n, _p in t.data_types}
    rest = args[3:]
    err = ""
    for i in range(0, len(rest), 2):
        word = rest[i]
        if not word.startswith("data."):
            err = "\"data.<type>\" followed by a value expected\n"
            break
        dt = DATA_IDS.get(word[5:])
        if dt is None:
            err = "Unknown data type\n"
            break
        if word[5:] not in stored:
            err = "Data type not stored in this table\n"
            break
        try:
            values[dt] = int(rest[i + 1])
        except (IndexError, ValueError):
            err = "Require a valid integer value to store\n"
            break
    # (2.6 creates the entry and keeps the values set before an error)
    if not st.set(key, values):
        return "Unable to allocate a new entry\n"
    return err
