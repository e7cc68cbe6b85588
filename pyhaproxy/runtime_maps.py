"""Maps changed at run time from the stats socket, shared by every worker, as haproxy 2.6's CLI.

`show map`, `show map MAP`, `add map MAP KEY VALUE`, `set map MAP KEY|#REF VALUE`,
`del map MAP KEY|#REF`, `clear map MAP` (MAP: the file name as the configuration gave it, or
`#ID` from `show map`). As in 2.6 there is one reference per file name, whatever the match kinds
of the converters that use it (`map`, `map_beg`...); a change applies to all of them and is lost
on reload (the files are read again).

The master keeps the entries. A change is published as `maps.GEN.json` in a private directory,
then the shared memory's maps_gen is bumped: each worker notices between two epoll waits and
rebuilds its C tables from that file (ext/converters.pxi maps_build), before the events of that
wake-up are processed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from pyhaproxy.config.sample import MapFile

UNKNOWN_MAP = "Unknown map identifier. Please use #<id> or <file>.\n"
# the address-like "reference" printed by `show map` for each entry: unique per entry
_REF_BASE = 0x55C0_0000_0000


@dataclass
class Entry:
    key: str
    value: str
    ref: int


@dataclass
class MapRef:
    """One map file: its entries (file order, then added ones) and the converters using it."""

    ident: int
    path: str
    uses: list[MapFile] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)


def read_published(directory: str, gen: int) -> dict[str, list[tuple[str, str]]]:
    """What the master published as generation gen: entries per map file."""
    with open(os.path.join(directory, f"maps.{gen}.json"), encoding="utf-8") as f:
        data = json.load(f)
    return {path: [(k, v) for k, v in ents] for path, ents in data.items()}


class RuntimeMaps:
    """The master's copy of every map file a configuration uses, and the CLI commands on it."""

    def __init__(self, files: list[MapFile], shm: Any) -> None:
        self.shm = shm
        self.refs: list[MapRef] = []
        by_path: dict[str, MapRef] = {}
        self._next_ref = _REF_BASE
        for mf in sorted(files, key=lambda m: m.site):  # ids in configuration order, as 2.6
            ref = by_path.get(mf.path)
            if ref is None:
                ref = by_path[mf.path] = MapRef(len(self.refs), mf.path)
                self.refs.append(ref)
                for k, v in mf.entries:
                    ref.entries.append(self._entry(k, v))
            ref.uses.append(mf)
        self.directory = tempfile.mkdtemp(prefix="pyhaproxy-maps-") if self.refs else ""

    def _entry(self, key: str, value: str) -> Entry:
        self._next_ref += 0x50
        return Entry(key, value, self._next_ref)

    def close(self) -> None:
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = ""

    # ------------------------------------------------------------------ publication
    def publish(self) -> None:
        """Write the contents for the next generation, then tell the workers."""
        if not self.directory:
            return
        gen = self.shm.maps_gen + 1
        data = {r.path: [[e.key, e.value] for e in r.entries] for r in self.refs}
        tmp = os.path.join(self.directory, f".maps.{gen}.json")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, os.path.join(self.directory, f"maps.{gen}.json"))
        self.shm.bump_maps_gen()
        # a worker reads the generation it saw; keep a few for the slow ones
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.directory, f"maps.{gen - 8}.json"))

    # ------------------------------------------------------------------ CLI
    def find(self, ident: str) -> MapRef | None:
        if ident.startswith("#"):
            try:
                n = int(ident[1:])
            except ValueError:
                return None
            return self.refs[n] if 0 <= n < len(self.refs) else None
        for r in self.refs:
            if r.path == ident:
                return r
        return None

    def show_list(self) -> str:
        out = ["# id (file) description\n"]
        for r in self.refs:
            used = ", ".join(f"by map at file '{u.site[0]}' line {u.site[1]}" for u in reversed(r.uses))
            out.append(f"{r.ident} ({r.path}) pattern loaded from file '{r.path}' used {used}. "
                       f"curr_ver=0 next_ver=0 entry_cnt={len(r.entries) * len(r.uses)}\n")
        return "".join(out)

    def show(self, r: MapRef) -> str:
        return "".join(f"0x{e.ref:x} {e.key} {e.value}\n" for e in r.entries)

    def _check_key(self, r: MapRef, key: str) -> str | None:
        """2.6 refuses a key that one of the converters cannot compile (an IP for map_ip)."""
        for u in r.uses:
            if u.match == "ip":
                try:
                    ipaddress.ip_network(key, strict=False)
                except ValueError:
                    return f"'{key}' is not a valid IPv4 or IPv6 address.\n"
        return None

    @staticmethod
    def _ref(key: str) -> int | None:
        """`#0x...`: an entry's reference as `show map` prints it (None: not that form)."""
        if not key.startswith("#0x"):
            return None
        try:
            return int(key[3:], 16)
        except ValueError:
            return None

    def _select(self, r: MapRef, key: str) -> list[Entry]:
        ref = self._ref(key)
        if ref is not None:
            return [e for e in r.entries if e.ref == ref]
        return [e for e in r.entries if e.key == key]

    def add(self, r: MapRef, key: str, value: str) -> str:
        err = self._check_key(r, key)
        if err:
            return err
        r.entries.append(self._entry(key, value))
        self.publish()
        return ""

    def set(self, r: MapRef, key: str, value: str) -> str:
        found = self._select(r, key)
        if not found:  # (2.6's two texts)
            return "key or pattern not found.\n" if self._ref(key) is not None else "entry not found.\n"
        for e in found:
            e.value = value
        self.publish()
        return ""

    def delete(self, r: MapRef, key: str) -> str:
        found = self._select(r, key)
        if not found:
            return "Key not found.\n"
        r.entries = [e for e in r.entries if e not in found]
        self.publish()
        return ""

    def clear(self, r: MapRef) -> str:
        r.entries.clear()
        self.publish()
        return ""


def execute(maps: RuntimeMaps | None, words: list[str]) -> str:
    """One `show|add|set|del|clear map ...` command -> its answer. (2.6 takes them at every
    level of the stats socket, `user` included.)"""
    verb = words[0]
    args = words[2:]
    if verb == "show" and not args:
        return maps.show_list() if maps is not None else "# id (file) description\n"
    if verb == "add" and len(args) != 3:
        return ("'add map' expects three parameters (map identifier, key and value) or one "
                "parameter (map identifier) and a payload\n")
    if verb == "set" and len(args) != 3:
        return "'set map' expects three parameters: map identifier, key and value.\n"
    if verb == "del" and len(args) != 2:
        return "This command expects two parameters: map identifier and key.\n"
    if verb == "clear" and not args:
        return "Missing map identifier.\n"
    r = maps.find(args[0]) if maps is not None else None
    if maps is None or r is None:
        return UNKNOWN_MAP
    if verb == "show":
        return maps.show(r)
    if verb == "add":
        return maps.add(r, args[1], args[2])
    if verb == "set":
        return maps.set(r, args[1], args[2])
    if verb == "del":
        return maps.delete(r, args[1])
    return maps.clear(r)
