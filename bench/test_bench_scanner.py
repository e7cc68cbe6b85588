"""Micro-benchmark of the HTTP/1 scanner (ext/h1.pxi): a typical browser request, 12 headers.

Run with `pytest bench/test_bench_scanner.py -s`; each round parses LOOPS times in a C loop, so the
per-parse figures printed (min / median / mean of the rounds divided by LOOPS) are the scanner's,
not the Python call's.  On a busy 2-core machine, min and median are the meaningful ones.
"""

from __future__ import annotations

import pytest

from pyhaproxy import _h1test

LOOPS = 10_000

REQUEST = (
    b"GET /search?q=haproxy+load+balancer&lang=en&page=2 HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Referer: https://www.example.com/search?q=haproxy\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: JSESSIONID=4F2A1C0E9B7D; SERVERID=s2; theme=dark\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Cache-Control: max-age=0\r\n"
    b"\r\n"
)

CHUNKED = b"".join(b"%x\r\n%s\r\n" % (n, b"x" * n) for n in (100, 2000, 7, 4096)) + b"0\r\n\r\n"


def test_request_shape() -> None:
    r = _h1test.h1_parse_request_py(REQUEST)
    assert r["ret"] == len(REQUEST) and len(r["headers"]) == 12
    assert 450 <= len(REQUEST) <= 600


@pytest.mark.benchmark(group="h1")
def test_bench_parse_request(benchmark) -> None:
    ret = benchmark(_h1test.h1_bench_request_py, REQUEST, LOOPS)
    assert ret == len(REQUEST)
    st = benchmark.stats.stats
    ns = {k: getattr(st, k) / LOOPS * 1e9 for k in ("min", "median", "mean")}
    benchmark.extra_info.update({f"ns_per_parse_{k}": round(v, 1) for k, v in ns.items()})
    print(
        f"\nh1_parse_request, {len(REQUEST)}-byte request, ns per parse: "
        + " / ".join(f"{k} {v:.0f}" for k, v in ns.items())
    )


@pytest.mark.benchmark(group="h1")
def test_bench_chunked(benchmark) -> None:
    ret = benchmark(_h1test.h1_bench_chunk_py, CHUNKED, LOOPS)
    assert ret == len(CHUNKED)
    st = benchmark.stats.stats
    ns = {k: getattr(st, k) / LOOPS * 1e9 for k in ("min", "median", "mean")}
    benchmark.extra_info.update({f"ns_per_body_{k}": round(v, 1) for k, v in ns.items()})
    print(
        f"\nh1_chunk_feed, {len(CHUNKED)}-byte body of 5 chunks, ns: "
        + " / ".join(f"{k} {v:.0f}" for k, v in ns.items())
    )
