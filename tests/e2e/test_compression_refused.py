"""HTTP compression is not in this build yet: its keywords are refused by name, never ignored.

Differential on purpose: haproxy 2.6 accepts each of these lines (`haproxy -c` exits 0), while
pyhaproxy stops with `[ALERT] parsing [FILE:LINE] : '<kw>' is not supported yet ...` and exit 1,
so an operator never runs a config whose responses 2.6 would compress, uncompressed, unawares.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

HAPROXY = Path("/usr/sbin/haproxy")

# `-c` only: nothing binds port 8080
PROXY_CFG = """defaults
    mode http
    timeout client 1s
    timeout server 1s
    timeout connect 1s
listen f
    bind 127.0.0.1:8080
    {line}
    server s 127.0.0.1:1
"""

GLOBAL_CFG = "global\n    {line}\n" + PROXY_CFG.replace("    {line}\n", "")

CASES = [
    (PROXY_CFG, "compression algo gzip", "compression", 8),
    (PROXY_CFG, "compression algo gzip deflate raw-deflate identity", "compression", 8),
    (PROXY_CFG, "compression type text/html text/plain", "compression", 8),
    (PROXY_CFG, "compression offload", "compression", 8),
    (PROXY_CFG, "filter compression", "filter", 8),
    (GLOBAL_CFG, "maxcomprate 100", "maxcomprate", 2),
    (GLOBAL_CFG, "maxcompcpuusage 90", "maxcompcpuusage", 2),
    (GLOBAL_CFG, "maxzlibmem 10", "maxzlibmem", 2),
]


def _check(cmd: list[str], cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(("template", "line", "kw", "lineno"), CASES, ids=[c[1] for c in CASES])
def test_compression_keywords_refused_by_name(tmp_path: Path, template: str, line: str, kw: str,
                                              lineno: int) -> None:
    cfg = tmp_path / "comp.cfg"
    cfg.write_text(template.replace("{line}", line))
    if HAPROXY.exists():
        ref = _check([str(HAPROXY)], cfg)
        assert ref.returncode == 0, ref.stderr + ref.stdout   # 2.6 knows and accepts it
    ours = _check([sys.executable, "-m", "pyhaproxy"], cfg)
    assert ours.returncode == 1, ours.stderr + ours.stdout
    assert f"[ALERT] parsing [{cfg}:{lineno}] : '{kw}' is not supported yet" in ours.stderr
