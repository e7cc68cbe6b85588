"""ext/stktable.pxi's tables through the master's accessor (StkTable): keys, data, expiry,
eviction when full, clear, and the sharing the workers rely on: a region mapped before fork
written by several processes at once loses no update.
"""

from __future__ import annotations

import os
import time

from pyhaproxy._core import StkTable, stk_data, stk_key_type

D = stk_data
IP = bytes([10, 0, 0, 1])


def table(size: int = 8, expire_ms: int = 0, nopurge: bool = False,
          data: list[tuple[int, int]] | None = None, key_type: int = stk_key_type.STK_IP,
          key_size: int = 4) -> StkTable:
    return StkTable(key_type, key_size, size, expire_ms, nopurge,
                    data if data is not None else [(D.STD_GPC0, 0), (D.STD_HTTP_REQ_RATE, 10_000),
                                                   (D.STD_BYTES_IN_CNT, 0), (D.STD_SERVER_ID, 0)])


def test_set_lookup_and_entries() -> None:
    t = table()
    assert t.lookup(IP) is None
    assert t.set(IP, {D.STD_GPC0: 7, D.STD_BYTES_IN_CNT: 1 << 40, D.STD_SERVER_ID: -3})
    exp, refs, data = t.lookup(IP)  # type: ignore[misc]
    assert (exp, refs) == (0, 0)
    assert data == {D.STD_GPC0: 7, D.STD_HTTP_REQ_RATE: 0, D.STD_BYTES_IN_CNT: 1 << 40, D.STD_SERVER_ID: -3}
    # a rate set by hand counts its events in the current period (as `set table` does)
    t.set(IP, {D.STD_HTTP_REQ_RATE: 5})
    assert t.lookup(IP)[2][D.STD_HTTP_REQ_RATE] == 5  # type: ignore[index]
    (row,) = t.entries()
    assert row[0] == IP and row[4][D.STD_GPC0] == 7
    assert t.used == 1
    seq = t.seq
    assert t.entries(since=seq) == []
    t.set(IP, {D.STD_GPC0: 8})
    assert [r[0] for r in t.entries(since=seq)] == [IP]     # what changed since: the peers' push


def test_string_keys_are_their_bytes_and_binary_keys_are_padded_by_the_caller() -> None:
    t = table(key_type=stk_key_type.STK_STRING, key_size=33)
    t.set(b"alice", {D.STD_GPC0: 1})
    t.set(b"alice2", {D.STD_GPC0: 2})
    assert t.lookup(b"alice")[2][D.STD_GPC0] == 1  # type: ignore[index]
    assert t.lookup(b"alic") is None
    try:
        t.set(b"x" * 34, {})
    except ValueError:
        pass
    else:
        raise AssertionError("a key longer than the table's was accepted")


def test_expiry_hides_then_purge_frees() -> None:
    t = table(expire_ms=200)
    t.set(IP, {D.STD_GPC0: 1})
    exp = t.lookup(IP)[0]  # type: ignore[index]
    assert 0 < exp <= 200
    time.sleep(0.3)
    assert t.lookup(IP) is None          # expired: a lookup frees it on the way
    t.set(IP, {D.STD_GPC0: 1})
    t.set(bytes([10, 0, 0, 2]), {D.STD_GPC0: 1})
    time.sleep(0.3)
    assert t.used == 2
    assert t.purge() == 2
    assert t.used == 0 and t.entries() == []


def test_a_full_table_evicts_the_entry_closest_to_expiry_unless_nopurge() -> None:
    t = table(size=4, expire_ms=60_000)
    keys = [bytes([10, 0, 0, i]) for i in range(1, 5)]
    for k in keys:
        t.set(k, {D.STD_GPC0: 1})
        time.sleep(0.01)
    t.set(keys[0], {D.STD_GPC0: 2})      # touched: now the newest
    assert t.set(bytes([10, 0, 0, 9]), {D.STD_GPC0: 1})
    assert t.used == 4
    assert t.lookup(keys[1]) is None     # the oldest went
    assert t.lookup(keys[0]) is not None
    p = table(size=2, nopurge=True)
    assert p.set(keys[0], {}) and p.set(keys[1], {})
    assert not p.set(keys[2], {})        # nopurge: a full table refuses new keys
    assert p.used == 2


def test_clear_one_key_or_all() -> None:
    t = table()
    for i in range(5):
        t.set(bytes([10, 0, 0, i]), {})
    assert t.clear(bytes([10, 0, 0, 3])) == 1
    assert t.lookup(bytes([10, 0, 0, 3])) is None
    assert t.clear() == 4
    assert t.used == 0


def test_processes_share_the_table_and_lose_no_update() -> None:
    """Four forked writers bump the same few keys' rates concurrently (every update takes its
    bucket lock): the totals are exact."""
    t = table(size=64, data=[(D.STD_GPC0, 0), (D.STD_HTTP_REQ_RATE, 60_000)])
    keys = [bytes([10, 0, 1, i]) for i in range(3)]
    for k in keys:
        t.set(k, {D.STD_GPC0: 0})
    per_proc = 2000
    pids = []
    for w in range(4):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for n in range(per_proc):
                    t.count(keys[(n + w) % len(keys)], D.STD_HTTP_REQ_RATE, 1)
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert status == 0
    total = sum(t.lookup(k)[2][D.STD_HTTP_REQ_RATE] for k in keys)  # type: ignore[index]
    assert total == 4 * per_proc
