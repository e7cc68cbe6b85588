"""The stats page in a real browser: Debian's headless Chromium renders the page that a real
pyhaproxy serves, after a backend has been stopped and its health check has failed.

The DOM Chromium built (`--dump-dom`, i.e. after parsing and layout) must show every proxy and
every server with its state, the stopped one DOWN and the others UP; a screenshot must come out
as a PNG of the window size (`--screenshot`). `.ci/run` installs the `chromium` package.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.helpers import free_port, wait_until

pytestmark = pytest.mark.timeout(120)

HOST = "127.0.0.1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-extensions"]

CONFIG = """
global
    nbproc 2
listen web {host}:{port}
    mode http
    balance roundrobin
    contimeout 2000
    clitimeout 30000
    srvtimeout 30000
    server s1 {host}:{b1} check inter 200 rise 1 fall 1
    server s2 {host}:{b2} check inter 200 rise 1 fall 1
    stats enable
    stats uri /stats
listen api {host}:{port2}
    mode http
    contimeout 2000
    clitimeout 30000
    srvtimeout 30000
    server a1 {host}:{b3} check inter 200 rise 1 fall 1
    server a2 {host}:{b3} check inter 200 rise 1 fall 1 backup
"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=90)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_stats_page_renders_in_chromium(proxy, http_backend, tmp_path: Path) -> None:
    b1, b2, b3 = (http_backend(name=n) for n in ("s1", "s2", "a"))
    port, port2 = free_port(), free_port()
    h = proxy.start(CONFIG, host=HOST, port=port, port2=port2, b1=b1.port, b2=b2.port, b3=b3.port)
    b2.stop()
    wait_until(lambda: "Server web/s2 is DOWN" in h.stderr_text(), 15, message="s2 marked down")
    url = f"http://{HOST}:{port}/stats"

    dom = chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<html" in html and "Statistics Report" in html, html[:500]
    # One table per proxy, a row per server with the class of its state.
    assert re.search(r'<th class="pxname"[^>]*>.*?web</th>', html) and re.search(
        r'<th class="pxname"[^>]*>.*?api</th>', html)
    row = r'<tr class="([a-z_]+)"><td class="al">([^<]+)</td>'
    states = {name: cls for cls, name in re.findall(row, html)}
    assert states["s1"] == "active_up" and states["a1"] == "active_up"
    assert states["s2"] == "active_down"
    assert states["a2"] == "backup_up"
    assert {"Frontend", "Backend"} <= set(states)

    shot = tmp_path / "stats.png"
    out = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,900", url)
    assert out.returncode == 0 and shot.exists(), out.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 900)
    assert len(data) > 20_000      # a rendered page, not a blank window
