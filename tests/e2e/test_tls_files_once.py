"""Certificates are read once per generation, by the master, before it forks (issue 20): a
worker the master forks again later (after one died) serves the certificate the generation was
loaded with, even when the file has since been replaced by garbage or removed.

pyhaproxy only: haproxy 2.6 never forks a worker again once its generation started (in `-W`
mode a dead worker is not replaced: the master stops everything, or, with `no-exit-on-failure`,
runs on with fewer workers), so the scenario does not exist there; it too reads the
certificates once, at configuration load, which is what is checked here.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import certs  # noqa: F401  (fixture)
from tests.helpers.net import LOCALHOST, free_ports, wait_until

pytestmark = pytest.mark.timeout(120)

CFG = """
global
    nbthread 2
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {crt}
    default_backend bd
backend bd
    server s 127.0.0.1:{pd}
"""

GARBAGE = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"


def _fingerprint_of_file(pem: Path) -> str:
    first = pem.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


def _served(port: int, ca: Path) -> tuple[str, bytes]:
    """The sha256 of the certificate served, and the answer's status line."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    with socket.create_connection((LOCALHOST, port), timeout=10) as raw, ctx.wrap_socket(raw) as s:
        der = s.getpeercert(binary_form=True)
        assert der is not None
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return hashlib.sha256(der).hexdigest(), data.split(b"\r\n")[0]


def test_a_reforked_worker_does_not_read_the_certificate_again(
        proxy: Any, certs: dict[str, Path], http_backend: Callable[..., Any],  # noqa: F811
        tmp_path: Path) -> None:
    (port,) = free_ports(1)
    bd = http_backend(name="D")
    crt = tmp_path / "site.pem"
    crt.write_text(certs["a"].read_text())
    original = _fingerprint_of_file(crt)
    px = proxy.start(CFG, port=port, crt=crt, pd=bd.port)
    first = px.wait_workers(2)
    assert _served(port, certs["ca"]) == (original, b"HTTP/1.1 200 OK")
    seen = set(first)
    # garbage in the file, then no file at all: each time one worker killed, the master forks
    # its replacement, which must serve the original certificate
    for damage in ("garbage", "removed"):
        if damage == "garbage":
            crt.write_text(GARBAGE)
        else:
            crt.unlink()
        time.sleep(1.5)     # past start-up (a worker dying in it fails the start) and RESPAWN_MIN_LIFE
        victim = sorted(set(px.worker_pids()) & set(first))[0]
        os.kill(victim, signal.SIGKILL)
        now = wait_until(lambda v=victim: p if len(p := px.worker_pids()) == 2 and v not in p else [],
                         20, message=f"the replacement of worker {victim}")
        new = set(now) - seen
        assert len(new) == 1, (now, seen)
        seen |= new
        # (a connection lands on either worker; after the second round both are replacements)
        for _ in range(20):
            assert _served(port, certs["ca"]) == (original, b"HTTP/1.1 200 OK")
        assert set(px.worker_pids()) == set(now), px.output_text()[-2000:]
    alerts = [line for line in px.stderr_text().splitlines() if "ALERT" in line]
    assert len(alerts) == 2 and all("respawning" in a for a in alerts), alerts   # the two kills only
    assert not (set(first) & set(px.worker_pids()))   # both workers are replacements now
