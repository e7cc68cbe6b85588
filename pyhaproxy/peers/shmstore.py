"""A proxy's stick table in shared memory (ext/stktable.pxi's StkTable) as the peers engine's
``TableStore``: keys converted between the table's form (an integer in host order) and the
wire's (big-endian), data types by name, rates as the values they read.
"""

from __future__ import annotations

import struct

from pyhaproxy._core import StkTable
from pyhaproxy.config.kw_stick import DATA_IDS, DATA_NAMES, table_names
from pyhaproxy.config.model import Config, PeersSection, PeerTable
from pyhaproxy.peers.store import Entry, TableStore

_LOCAL = "conn_cur"     # never taken from a peer (2.6: a local-only data type)


class ShmStore:
    def __init__(self, name: str, table: StkTable, t: PeerTable) -> None:
        self.name = name
        self.key_type = t.key_type
        self.key_len = t.key_len
        self.data_types = list(t.data_types)
        self.table = table

    def _wire(self, key: bytes) -> bytes:
        if self.key_type == "integer":
            return struct.pack(">I", struct.unpack("=I", key)[0])
        return key

    def _local(self, key: bytes) -> bytes:
        if self.key_type == "integer":
            return struct.pack("=I", struct.unpack(">I", key[:4].rjust(4, b"\0"))[0])
        if self.key_type == "string":
            return key.split(b"\0", 1)[0][: self.key_len - 1]
        if self.key_type == "binary":
            return key[: self.key_len].ljust(self.key_len, b"\0")
        return key

    def _row(self, key: bytes, exp: int, data: dict[int, int | list[int]]) -> Entry:
        # (the arrays gpt/gpc/gpc_rate are not shared with peers: pyhaproxy does not speak them)
        return self._wire(key), exp, {DATA_NAMES[t]: v for t, v in data.items()
                                      if t in DATA_NAMES and not isinstance(v, list)}

    def entries(self) -> list[Entry]:
        return [self._row(k, exp, data) for k, exp, _refs, _seq, data in self.table.entries()]

    def changes_since(self, seq: int) -> tuple[int, list[Entry]]:
        now = self.table.seq
        return now, [self._row(k, exp, data) for k, exp, _refs, _seq, data in self.table.entries(since=seq)]

    def update(self, key: bytes, data: dict[str, int], expire_ms: int) -> None:
        values = {DATA_IDS[n]: v for n, v in data.items() if n in DATA_IDS and n != _LOCAL}
        self.table.set(self._local(key), values, expire_ms if expire_ms > 0 else -1)


def proxy_tables(cfg: Config) -> dict[str, list[TableStore]]:
    """peers section name -> the stores of the proxies' tables that name it (`peers NAME`),
    over the master's shared tables for this configuration (made now if need be, the same
    objects the workers of this configuration get)."""
    from pyhaproxy.shm import TABLES

    TABLES.for_config(cfg)
    out: dict[str, list[TableStore]] = {}
    for name, t in table_names(cfg):
        if t.peers and "/" not in name:
            out.setdefault(t.peers, []).append(ShmStore(name, TABLES.by_name[name], t))
    return out


def section_table(sec: PeersSection, t: PeerTable) -> TableStore | None:
    """A peers section's `table` line: the shared table the workers track into, named "/NAME"
    on the wire (what 2.6 sends for it)."""
    from pyhaproxy.shm import TABLES

    table = TABLES.by_name.get(f"{sec.name}/{t.name}")
    return ShmStore("/" + t.name, table, t) if table is not None else None
