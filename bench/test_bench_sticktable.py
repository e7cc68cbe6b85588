"""Micro-benchmark of a stick-table lookup and update (ext/stktable.pxi), not part of the test
run. Run with `pytest bench/test_bench_sticktable.py -s`. Each round runs LOOPS iterations of
what a rate-limited request costs the table (find the client's entry under its bucket lock,
count one event in its http_req_rate, read the rate back) in a C loop, so the figures printed
are the C code's; a table holding 10,000 other clients, as a busy one does.
"""

from __future__ import annotations

import struct

from pyhaproxy._core import StkTable, stk_data, stk_key_type

LOOPS = 100_000


def report(benchmark, what: str) -> None:
    st = benchmark.stats.stats
    ns = {k: getattr(st, k) / LOOPS * 1e9 for k in ("min", "median", "mean")}
    benchmark.extra_info.update({f"ns_{k}": round(v, 1) for k, v in ns.items()})
    print(f"\n{what}, ns: " + " / ".join(f"{k} {v:.0f}" for k, v in ns.items()))


def test_track_and_read_a_rate(benchmark) -> None:
    t = StkTable(stk_key_type.STK_IP, 4, 100_000, 30_000, False, [(stk_data.STD_HTTP_REQ_RATE, 10_000)])
    for i in range(10_000):
        t.count(struct.pack(">I", 0x0A000000 + i), stk_data.STD_HTTP_REQ_RATE, 1)
    key = struct.pack(">I", 0x0A000000 + 4242)
    benchmark(t.track_many, key, stk_data.STD_HTTP_REQ_RATE, LOOPS)
    report(benchmark, "stick table: look up, count, read back")
