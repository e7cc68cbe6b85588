"""What the peers engine needs from a stick table (``TableStore``), and an in-memory one.

Keys are in the peers wire form: ``ip`` 4 bytes, ``ipv6`` 16, ``integer`` 4 bytes big-endian,
``string`` the bytes without NUL, ``binary`` ``key_len`` bytes. ``key_len`` is haproxy's key
size, the number a table definition carries (4, 16, 32 for a string without ``len``, ``len``+1
for a string with one, ``len`` for binary). ``data_types`` lists (name, period in ms or 0).
``expire`` values are remaining milliseconds (0: never).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

Entry = tuple[bytes, int, dict[str, int]]  # (key, remaining expire ms, data)


class TableStore(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def key_type(self) -> str: ...
    @property
    def key_len(self) -> int: ...
    @property
    def data_types(self) -> list[tuple[str, int]]: ...
    def entries(self) -> list[Entry]: ...
    def changes_since(self, seq: int) -> tuple[int, list[Entry]]: ...
    def update(self, key: bytes, data: dict[str, int], expire_ms: int) -> None: ...


class MemoryStore:
    """A stick table in a dict, safe to share between threads (tests drive it from theirs)."""

    def __init__(self, name: str, key_type: str, key_len: int, data_types: list[tuple[str, int]],
                 expire_ms: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.key_type = key_type
        self.key_len = key_len
        self.data_types = data_types
        self.expire_ms = expire_ms
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self._rows: dict[bytes, tuple[float | None, dict[str, int], int]] = {}  # key -> (deadline, data, seq)

    def _alive(self, now: float) -> list[tuple[bytes, float | None, dict[str, int], int]]:
        out = []
        for k, (dl, data, seq) in list(self._rows.items()):
            if dl is not None and dl <= now:
                del self._rows[k]
                continue
            out.append((k, dl, data, seq))
        return out

    @staticmethod
    def _remain(dl: float | None, now: float) -> int:
        return 0 if dl is None else max(1, int((dl - now) * 1000))

    def entries(self) -> list[Entry]:
        with self._lock:
            now = self._clock()
            return [(k, self._remain(dl, now), dict(d)) for k, dl, d, _ in self._alive(now)]

    def changes_since(self, seq: int) -> tuple[int, list[Entry]]:
        with self._lock:
            now = self._clock()
            rows = sorted((s, k, dl, d) for k, dl, d, s in self._alive(now) if s > seq)
            return self._seq, [(k, self._remain(dl, now), dict(d)) for _, k, dl, d in rows]

    def update(self, key: bytes, data: dict[str, int], expire_ms: int) -> None:
        with self._lock:
            self._seq += 1
            exp = expire_ms if expire_ms > 0 else self.expire_ms
            dl = self._clock() + exp / 1000 if exp > 0 else None
            old = self._rows.get(key)
            merged = dict(old[1]) if old else {}
            merged.update(data)
            self._rows[key] = (dl, merged, self._seq)

    def get(self, key: bytes) -> dict[str, int] | None:
        with self._lock:
            row = self._rows.get(key)
            if row is None or (row[0] is not None and row[0] <= self._clock()):
                return None
            return dict(row[1])
