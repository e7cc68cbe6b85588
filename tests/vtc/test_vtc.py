"""Runs every VTest file of this folder with Debian's `varnishtest`, once against pyhaproxy and
once against `/usr/sbin/haproxy` (2.6), so that a behaviour passing on only one of them is seen.

The files are ours, written for this suite in the varnishtest language (`haproxy -conf` with
`bind "fd@${fe1}"` sockets VTest binds itself, `-cli` over the stats socket VTest hands over,
`syslog` receivers). Each run is bounded (`-t`, and a subprocess timeout); a missing
`varnishtest` is a failure (`.ci/run` installs the `varnish` package).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HAPROXY = "/usr/sbin/haproxy"
FILES = sorted(HERE.glob("*.vtc"))

pytestmark = pytest.mark.timeout(120)


def test_the_suite_is_there() -> None:
    assert len(FILES) >= 20, [f.name for f in FILES]


@pytest.fixture(scope="module")
def pyhaproxy_program(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A script that runs this checkout's pyhaproxy with this interpreter (HAPROXY_PROGRAM)."""
    path = tmp_path_factory.mktemp("vtc") / "pyhaproxy"
    path.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m pyhaproxy \"$@\"\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


@pytest.mark.parametrize("binary", ["pyhaproxy", "haproxy-2.6"])
@pytest.mark.parametrize("vtc", FILES, ids=[f.stem for f in FILES])
def test_vtc(vtc: Path, binary: str, pyhaproxy_program: str) -> None:
    varnishtest = shutil.which("varnishtest")
    assert varnishtest is not None, "varnishtest is missing: apt-get install varnish"
    program = pyhaproxy_program if binary == "pyhaproxy" else HAPROXY
    env = dict(os.environ, HAPROXY_PROGRAM=program)
    done = subprocess.run([varnishtest, "-q", "-t", "60", str(vtc)], env=env, capture_output=True,
                          text=True, timeout=100, cwd=HERE)
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-80:])
    assert done.returncode == 0, f"{vtc.name} against {program}:\n{tail}"
