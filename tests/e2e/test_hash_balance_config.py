"""Differential `-c`: the `balance` and `hash-type` lines haproxy 2.6 refuses are refused by
pyhaproxy with the same message (exit 1), and the ones it accepts are accepted. What pyhaproxy
does not build (`balance hash`, `rdp-cookie`, `url_param ... check_post`) is refused by name."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_tls import HAPROXY

ROOT = Path(__file__).resolve().parents[2]
CFG = """defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
listen b
    bind 127.0.0.1:65001
    {line}
    server s1 127.0.0.1:8001
    server s2 127.0.0.1:8002 id 9
"""


def check(cmd: list[str], cfg: Path) -> tuple[int, list[str]]:
    r = subprocess.run([*cmd, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=60,
                       cwd=ROOT)
    alerts = [re.sub(r".*?(parsing \[)", r"\1", line) for line in (r.stdout + r.stderr).splitlines()
              if "[ALERT]" in line and "parsing [" in line]
    return r.returncode, alerts


BAD = [
    "balance url_param",
    "balance url_param user bogus",
    "balance uri len",
    "balance uri len 0",
    "balance uri depth -1",
    "balance uri bogus",
    "balance hdr()",
    "balance hdr(Host) bogus",
    "balance random(0)",
    "balance hash",
    "balance hash path lower",
    "balance random(2",
    "balance random(2x)",
    "balance bogus",
    "hash-type",
    "hash-type bogus",
    "hash-type avalanche",
    "hash-type consistent md5",
    "hash-type map-based sdbm bogus",
    "hash-balance-factor",
    "hash-balance-factor 100",
    "hash-balance-factor 50",
]
GOOD = [
    "balance url_param user",
    "balance url_param user check_post",
    "balance uri len 10 depth 3 whole path-only",
    "balance hdr(Host) use_domain_only",
    "balance random",
    "balance hash path,lower",
    "balance hash req.hdr(host)",
    "balance random(5)",
    "balance randomly",
    "hash-type consistent",
    "hash-type consistent wt6 avalanche",
    "hash-type map-based crc32",
    "hash-type consistent\n    hash-balance-factor 150",
    "hash-balance-factor 0",
    "balance source\n    hash-type consistent djb2",
]


@pytest.mark.skipif(not HAPROXY.exists(), reason="Debian's haproxy is not installed")
@pytest.mark.parametrize("line", BAD)
def test_refused_as_26_refuses(tmp_path: Path, line: str) -> None:
    cfg = tmp_path / "h.cfg"
    cfg.write_text(CFG.format(line=line))
    rc26, alerts26 = check([str(HAPROXY)], cfg)
    rc, alerts = check([sys.executable, "-m", "pyhaproxy"], cfg)
    assert rc26 != 0 and rc == 1
    assert alerts and alerts[0] == alerts26[0]


@pytest.mark.skipif(not HAPROXY.exists(), reason="Debian's haproxy is not installed")
@pytest.mark.parametrize("line", GOOD)
def test_accepted_as_26_accepts(tmp_path: Path, line: str) -> None:
    cfg = tmp_path / "h.cfg"
    cfg.write_text(CFG.format(line=line))
    assert check([str(HAPROXY)], cfg)[0] == 0
    assert check([sys.executable, "-m", "pyhaproxy"], cfg) == (0, [])


@pytest.mark.parametrize("line, words", [
    ("balance rdp-cookie", "'balance rdp-cookie'"),
])
def test_not_built_is_refused_by_name(tmp_path: Path, line: str, words: str) -> None:
    cfg = tmp_path / "h.cfg"
    cfg.write_text(CFG.format(line=line))
    rc, alerts = check([sys.executable, "-m", "pyhaproxy"], cfg)
    assert rc == 1 and words in alerts[0] and "not supported" in alerts[0]


@pytest.mark.skipif(not HAPROXY.exists(), reason="Debian's haproxy is not installed")
@pytest.mark.parametrize("expr", ["bogus_fetch", "res.hdr(x)"])
def test_bad_hash_expression_refused_at_the_proxy_line(tmp_path: Path, expr: str) -> None:
    cfg = tmp_path / "h.cfg"
    cfg.write_text(CFG.format(line=f"balance hash {expr}"))
    rc26 = subprocess.run([str(HAPROXY), "-c", "-f", str(cfg)], capture_output=True, timeout=60).returncode
    rc, alerts = check([sys.executable, "-m", "pyhaproxy"], cfg)
    assert rc26 != 0 and rc == 1
    assert "h.cfg:6]" in alerts[0] and f"'balance hash' expression '{expr}'" in alerts[0]


def test_balance_hash_outside_http_is_refused_by_name(tmp_path: Path) -> None:
    cfg = tmp_path / "h.cfg"
    cfg.write_text(CFG.format(line="balance hash src").replace("mode http", "mode tcp"))
    rc, alerts = check([sys.executable, "-m", "pyhaproxy"], cfg)
    assert rc == 1 and "'balance hash' outside 'mode http' is not supported" in alerts[0]
