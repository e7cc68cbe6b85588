"""The master's side of the peers: one engine per usable ``peers`` section, on its selector.

A section is used when it names the local peer and is not ``disabled`` (2.6 drops the others
at start-up). Its tables are the section's own ``table`` lines (kept in a MemoryStore here,
named on the wire "/NAME", as 2.6 names them) and whatever ``extra`` stores the caller adds for the
section (the stick tables of proxies saying ``peers NAME``).
"""

from __future__ import annotations

import selectors
from collections.abc import Callable, Mapping

from pyhaproxy.config.model import Config, PeersSection, PeerTable
from pyhaproxy.peers.engine import PeerConf, PeersEngine
from pyhaproxy.peers.store import MemoryStore, TableStore


def section_engine(sec: PeersSection, local_name: str, tables: list[TableStore],
                   log: Callable[[str], None] | None = None) -> PeersEngine:
    peers: list[PeerConf] = []
    for p in sec.peers:
        if p.local:
            host, port = sec.bind if sec.bind is not None else (p.host, p.port)
            peers.append(PeerConf(p.name, host, port, True))
        elif p.port:
            peers.append(PeerConf(p.name, p.host, p.port))
    return PeersEngine(sec.name, local_name, peers, tables, log=log)


class PeersService:
    def __init__(self, cfg: Config, log: Callable[[str], None] | None = None,
                 extra: Mapping[str, list[TableStore]] | None = None,
                 keep: Mapping[str, MemoryStore] | None = None,
                 section_table: Callable[[PeersSection, PeerTable], TableStore | None] | None = None) -> None:
        """``keep``: stores of a previous service (a reload) reused when a table's shape is
        the same. ``section_table``: the store of a section's ``table`` line when the workers
        hold it (shared memory); None (or no callable) keeps it in a MemoryStore here."""
        self.signature = self.signature_of(cfg)
        self.engines: list[PeersEngine] = []
        self.stores: dict[str, MemoryStore] = {}  # "SECTION/NAME" -> the section table's store
        for sec in cfg.peers:
            if sec.disabled or sec.local() is None:
                continue
            tables: list[TableStore] = []
            for t in sec.tables:
                shared = section_table(sec, t) if section_table is not None else None
                if shared is not None:
                    tables.append(shared)  # its name must be "/NAME" on the wire, as below
                    continue
                # 2.6 names such a table "/NAME" on the wire (the part of "SECTION/NAME" after
                # the section: cfgparse.c passes id + strlen(section) as the network id)
                st = MemoryStore("/" + t.name, t.key_type, t.key_len, list(t.data_types), t.expire_ms)
                prev = (keep or {}).get(f"{sec.name}/{t.name}")
                if prev is not None and (prev.key_type, prev.key_len, prev.data_types) == \
                        (st.key_type, st.key_len, st.data_types):
                    prev.expire_ms = st.expire_ms
                    st = prev
                self.stores[f"{sec.name}/{t.name}"] = st
                tables.append(st)
            tables.extend((extra or {}).get(sec.name, []))
            self.engines.append(section_engine(sec, cfg.localpeer, tables, log))

    @staticmethod
    def signature_of(cfg: Config) -> object:
        """What the links depend on: a reload that changes it restarts them."""
        return (cfg.localpeer, repr(cfg.peers))

    def attach(self, selector: selectors.BaseSelector) -> None:
        """Listen and start calling; OSError when a local peer's address cannot be bound."""
        for e in self.engines:
            e.attach(selector)

    def next_deadline(self) -> float | None:
        ds = [d for d in (e.next_deadline() for e in self.engines) if d is not None]
        return min(ds) if ds else None

    def tick(self, now: float) -> None:
        for e in self.engines:
            e.tick(now)

    def close(self) -> None:
        for e in self.engines:
            e.close()
