"""Micro-benchmarks of the persistence-cookie code (ext/h1.pxi), not part of the test run.

Run with `pytest bench/test_bench_cookie.py -s`. Each round runs LOOPS iterations in a C loop, so
the per-operation figures printed are the C code's, not the Python call's: finding the server
cookie among several pairs of a Cookie header and of a Set-Cookie header, and the whole
`cookie SERVERID indirect` edit of a request (parse, find, cut the pair).
"""

from __future__ import annotations

import pytest

from pyhaproxy import _h1test

from .test_bench_scanner import REQUEST

LOOPS = 10_000
COOKIE = b"JSESSIONID=4F2A1C0E9B7D; _ga=GA1.2.1234567890.1700000000; theme=dark; SERVERID=s2; lang=en"
SET_COOKIE = b"SERVERID=s2; path=/; HttpOnly; SameSite=Lax"


def report(benchmark, what: str) -> None:
    st = benchmark.stats.stats
    ns = {k: getattr(st, k) / LOOPS * 1e9 for k in ("min", "median", "mean")}
    benchmark.extra_info.update({f"ns_{k}": round(v, 1) for k, v in ns.items()})
    print(f"\n{what}, ns: " + " / ".join(f"{k} {v:.0f}" for k, v in ns.items()))


def test_cookie_cut_result() -> None:
    # The benchmark below measures the real edit: check once that it removes exactly the pair.
    r = _h1test.h1_edit_py(REQUEST, [("cut_cookie", 7, b"SERVERID")])
    assert b"SERVERID" not in r["data"] and b"JSESSIONID=4F2A1C0E9B7D" in r["data"]
    assert _h1test.h1_bench_cookie_cut_py(REQUEST, b"SERVERID", 1) == len(r["data"])


@pytest.mark.benchmark(group="cookie")
def test_bench_find_cookie(benchmark) -> None:
    assert benchmark(_h1test.h1_bench_cookie_py, COOKIE, b"SERVERID", LOOPS) == 2
    report(benchmark, f"h1_find_cookie, 5 pairs ({len(COOKIE)} bytes), 4th pair")


@pytest.mark.benchmark(group="cookie")
def test_bench_find_setcookie(benchmark) -> None:
    assert benchmark(_h1test.h1_bench_setcookie_py, SET_COOKIE, b"SERVERID", LOOPS) == 2
    report(benchmark, "h1_find_setcookie")


@pytest.mark.benchmark(group="cookie")
def test_bench_indirect_cut(benchmark) -> None:
    n = benchmark(_h1test.h1_bench_cookie_cut_py, REQUEST, b"SERVERID", LOOPS)
    assert 0 < n < len(REQUEST)
    report(benchmark, f"parse + cut SERVERID from a {len(REQUEST)}-byte request")
