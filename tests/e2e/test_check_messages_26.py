"""Health-check transitions as 2.6 words them, on stderr, with both binaries: the check's reason,
info and duration after `is DOWN`, then `backend 'NAME' has no server available!`. The
configuration has no frontend at all, only a stats socket: 2.6 counts that socket as a listener
and runs (checks only); pyhaproxy used to refuse to start ("No enabled listener found")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers.net import free_port, wait_until

pytestmark = pytest.mark.timeout(60)

CFG = """
global
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
backend b
    server s1 127.0.0.1:{dead} check inter 200
"""


def test_down_message_and_no_server_alert(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    sock = tmp_path / "admin.sock"
    px = proxy.start(CFG, sock=sock, dead=free_port())    # (a port nothing listens on)
    wait_until(lambda: "has no server available" in px.stderr_text(), 15, message="the alert")
    text = re.sub(r"check duration: \d+ms", "check duration: Nms", px.stderr_text())
    assert ('Server b/s1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", '
            "check duration: Nms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, "
            "0 remaining in queue.") in text, (binary, text)
    assert "backend 'b' has no server available!" in text, (binary, text)
    assert px.alive(), binary
