"""Process limits of 2.6's `global` section, against pyhaproxy and /usr/sbin/haproxy, read from
the running workers' /proc/PID/limits (pyhaproxy's worker processes stand for 2.6's process):
a worker cannot fork (RLIMIT_NPROC 0) unless `insecure-fork-wanted`; `set-dumpable` lifts the
core and file size limits; `strict-limits` makes an FD limit that cannot be raised fatal (exit
1 and 2.6's alert), `no strict-limits` a warning (pyhaproxy's default, 1.2's, differs from 2.6's
on purpose: 1.x configurations start as they did)."""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports, wait_until

CFG = """
global
    {line}
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200
"""


def _limits(pid: int) -> dict[str, tuple[str, str]]:
    out = {}
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]:
        name = line[:26].strip()
        soft, hard = line[26:].split()[:2]
        out[name] = (soft, hard)
    return out


def _own(res: int) -> tuple[str, str]:
    soft, hard = resource.getrlimit(res)
    return tuple("unlimited" if v == resource.RLIM_INFINITY else str(v) for v in (soft, hard))  # type: ignore


@pytest.mark.parametrize("line", ["", "insecure-fork-wanted", "set-dumpable",
                                  "set-dumpable\n    no set-dumpable"])
def test_worker_limits(proxy: Any, binary: str, line: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    px = proxy.start(CFG, port=port, line=line)
    pid = px.wait_workers(1)[0] if binary == "pyhaproxy" else px.pid
    dumpable = line == "set-dumpable"
    want = {
        "Max processes": None if line == "insecure-fork-wanted" else ("0", "0"),
        "Max core file size": ("unlimited", "unlimited") if dumpable else _own(resource.RLIMIT_CORE),
        "Max file size": ("unlimited", "unlimited") if dumpable else _own(resource.RLIMIT_FSIZE),
    }

    def matches() -> bool:
        lim = _limits(pid)
        return all(lim[k] == v if v is not None else lim[k] != ("0", "0") for k, v in want.items())

    # (a pyhaproxy worker sets them once its tables are built, after the master listens)
    wait_until(matches, 10, message=f"the worker's limits {want}")


def test_strict_limits(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    """An FD limit above the kernel's nr_open cannot be set, even by root: fatal with
    `strict-limits`, a warning with `no strict-limits`."""
    (port,) = free_ports(1)
    cfg = tmp_path / "s.cfg"
    cfg.write_text(CFG.format(line="ulimit-n 2000000000\n    strict-limits", port=port))
    out = proxy.run(["-f", str(cfg), "-db"], timeout=20)
    assert out.returncode == 1
    assert "Cannot raise FD limit to 2000000000, limit is" in out.stdout + out.stderr
    px = proxy.start(CFG, port=port, line="ulimit-n 2000000000\n    no strict-limits")
    wait_until(lambda: "Cannot raise FD limit to 2000000000, limit is" in px.output_text(), 10,
               message="the warning")
