"""Micro-benchmarks of the configuration parser (pyhaproxy/config), not part of the test run.

Run with `pytest bench/test_bench_parser.py -s`: the architecture guide's section 1 configuration,
and a generated one with 50 proxies of 20 servers each (what a large farm's file looks like).
Parsing happens once at start-up and at each reload, so these figures bound the start-up cost.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyhaproxy.config import parse_files

SECTION_1 = """\
global
    daemon
    maxconn 10000
    log 127.0.0.1 local0
defaults
    mode http
    contimeout 5000
    clitimeout 50000
    srvtimeout 50000
listen webfarm 127.0.0.1:8000
    mode http
    balance roundrobin
    cookie SERVERID insert indirect
    option httpchk HEAD /index.html HTTP/1.0
    server webA 127.0.0.1:8081 cookie A check
    server webB 127.0.0.1:8082 cookie B check
    server webC 127.0.0.1:8083 cookie C check
    server webD 127.0.0.1:8084 cookie D check
"""


def large_config(proxies: int = 50, servers: int = 20) -> str:
    out = [SECTION_1.split("listen")[0]]
    for p in range(proxies):
        out.append(f"listen farm{p} 127.0.0.1:{10000 + p}\n    balance roundrobin\n"
                   "    cookie SERVERID insert indirect nocache\n    option httpchk\n"
                   "    option forwardfor\n    option httpclose\n")
        for s in range(servers):
            out.append(f"    server s{s} 127.0.{p}.{s + 1}:80 cookie s{s} check inter 2000 rise 2 fall 3\n")
    return "".join(out)


@pytest.mark.benchmark(group="parser")
@pytest.mark.parametrize("name,text", [("section1", SECTION_1), ("50x20", large_config())])
def test_bench_parse(benchmark, tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / f"{name}.cfg"
    path.write_text(text)
    cfg = benchmark(parse_files, [str(path)])
    assert sum(len(p.servers) for p in cfg.proxies) == (4 if name == "section1" else 1000)
    st = benchmark.stats.stats
    print(f"\nparse {name} ({text.count(chr(10))} lines): median {st.median * 1e3:.2f} ms, "
          f"min {st.min * 1e3:.2f} ms")
