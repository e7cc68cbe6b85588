"""The peers protocol against a real haproxy 2.6: it tracks ``src`` in a stick table shared
with a ``peers`` section whose other peer is our engine, run in this test process.

Both directions are checked with decoded values: an entry haproxy learns from a request
reaches our store; an entry we write reaches haproxy's ``show table``; and each side's resync
on start (the one that starts second learns what the other already had).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyhaproxy.peers.engine import PeerConf, PeersEngine, run_engine
from pyhaproxy.peers.store import MemoryStore
from tests.helpers.net import free_ports, wait_listening

HAPROXY = os.environ.get("PEERS_HAPROXY", "/usr/sbin/haproxy")
pytestmark = pytest.mark.skipif(not shutil.which(HAPROXY), reason=f"{HAPROXY} (haproxy 2.6) not installed")

CFG = """\
global
    stats socket {sock} level admin
peers mesh
    peer hap 127.0.0.1:{hap_port}
    peer py 127.0.0.1:{py_port}
backend st
    stick-table type ip size 1k expire 1m store conn_cnt,http_req_cnt,http_req_rate(10s),gpc0 peers mesh
frontend fe
    mode http
    timeout client 5s
    bind 127.0.0.1:{http_port}
    http-request track-sc0 src table st
    http-request return status 200
"""
TYPES = [("conn_cnt", 0), ("http_req_cnt", 0), ("http_req_rate", 10000), ("gpc0", 0)]
LOCAL = b"\x7f\x00\x00\x01"


def _wait(pred: Callable[[], object], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s")


class Setup:
    def __init__(self, tmp: Path, cfg: str = CFG, stores: list[MemoryStore] | None = None) -> None:
        self.hap_port, self.py_port, self.http_port = free_ports(3)
        self.sock = tmp / "stats.sock"
        self.cfg = tmp / "haproxy.cfg"
        self.cfg.write_text(cfg.format(sock=self.sock, hap_port=self.hap_port, py_port=self.py_port,
                                       http_port=self.http_port))
        self.stores = stores or [MemoryStore("st", "ip", 4, TYPES, 60000)]
        self.store = self.stores[0]
        self.proc: subprocess.Popen[bytes] | None = None
        self.stop = False
        self.thread: threading.Thread | None = None

    def start_engine(self) -> None:
        peers = [PeerConf("hap", "127.0.0.1", self.hap_port), PeerConf("py", "127.0.0.1", self.py_port, True)]
        self.engine = PeersEngine("mesh", "py", peers, list(self.stores))
        self.thread = threading.Thread(target=run_engine, args=(self.engine, lambda: self.stop), daemon=True)
        self.thread.start()
        wait_listening("127.0.0.1", self.py_port)

    def start_haproxy(self) -> None:
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(self.cfg), "-L", "hap"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening("127.0.0.1", self.http_port)

    def request(self, headers: dict[str, str] | None = None) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}/", headers=headers or {})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200

    def show_table(self, table: str = "st") -> dict[str, dict[str, str]]:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.sock))
            s.sendall(f"show table {table}\n".encode())
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        rows = {}
        for line in out.decode().splitlines():
            m = re.match(r"0x[0-9a-f]+: key=(\S+) (.*)", line)
            if m:
                rows[m.group(1)] = dict(kv.split("=", 1) for kv in m.group(2).split())
        return rows

    def close(self) -> None:
        self.stop = True
        if self.thread is not None:
            self.thread.join(5)
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    yield s
    s.close()


def test_haproxy_entry_reaches_our_store(setup: Setup) -> None:
    setup.start_engine()
    setup.start_haproxy()
    _wait(lambda: setup.engine.peers["hap"].session is not None
          and setup.engine.peers["hap"].session.state == "up", 5)
    setup.request()
    setup.request()
    _wait(lambda: (setup.store.get(LOCAL) or {}).get("http_req_cnt") == 2, 1.0)
    got = setup.store.get(LOCAL)
    assert got is not None
    assert got["conn_cnt"] == 2 and got["http_req_rate"] == 2 and got["gpc0"] == 0


def test_our_entry_reaches_haproxy(setup: Setup) -> None:
    setup.start_engine()
    setup.start_haproxy()
    _wait(lambda: setup.engine.peers["hap"].session is not None
          and setup.engine.peers["hap"].session.state == "up", 5)
    setup.store.update(b"\x0a\x09\x08\x07", {"gpc0": 42, "http_req_cnt": 7, "http_req_rate": 3}, 20000)
    _wait(lambda: "10.9.8.7" in setup.show_table(), 1.0)
    row = setup.show_table()["10.9.8.7"]
    assert row["gpc0"] == "42" and row["http_req_cnt"] == "7" and row["http_req_rate(10000)"] == "3"
    assert 15000 < int(row["exp"]) <= 20000  # our remaining time, not haproxy's 1m


def test_haproxy_learns_on_start(setup: Setup) -> None:
    setup.store.update(b"\x0a\x01\x02\x03", {"gpc0": 5, "conn_cnt": 4}, 30000)
    setup.start_engine()
    setup.start_haproxy()
    _wait(lambda: "10.1.2.3" in setup.show_table(), 2.0)
    row = setup.show_table()["10.1.2.3"]
    assert row["gpc0"] == "5" and row["conn_cnt"] == "4"


def test_we_learn_on_start(setup: Setup) -> None:
    setup.start_haproxy()
    setup.request()
    assert "127.0.0.1" in setup.show_table()
    setup.start_engine()
    _wait(lambda: setup.store.get(LOCAL) is not None, 3.0)
    got = setup.store.get(LOCAL)
    assert got is not None and got["http_req_cnt"] == 1 and got["conn_cnt"] == 1
    # the lesson ended: "partial" here, as haproxy, just started, is not up to date itself (it
    # says "finished" only once its own resync is over); we confirmed it and asked no one else
    hap = setup.engine.peers["hap"]
    _wait(lambda: setup.engine.learner is None and (setup.engine.synced or hap.not_up_to_date), 2.0)


KEYS_CFG = """\
global
    stats socket {sock} level admin
peers mesh
    peer hap 127.0.0.1:{hap_port}
    peer py 127.0.0.1:{py_port}
backend st
    stick-table type string len 32 size 1k expire 1m store http_req_cnt,server_id peers mesh
backend si
    stick-table type integer size 1k expire 1m store gpc0 peers mesh
frontend fe
    mode http
    timeout client 5s
    bind 127.0.0.1:{http_port}
    http-request track-sc0 req.hdr(host) table st
    http-request track-sc1 req.fhdr(x-n),add(0) table si
    http-request sc-inc-gpc0(1)
    http-request return status 200
"""


def test_string_and_integer_keys(tmp_path: Path) -> None:
    # a string table's key size is its len + 1 (the NUL), as 2.6's definition says
    st = MemoryStore("st", "string", 33, [("http_req_cnt", 0), ("server_id", 0)], 60000)
    si = MemoryStore("si", "integer", 4, [("gpc0", 0)], 60000)
    st.update(b"pushed.example", {"http_req_cnt": 9, "server_id": -2}, 30000)
    si.update((123456).to_bytes(4, "big"), {"gpc0": 77}, 30000)
    s = Setup(tmp_path, KEYS_CFG, [st, si])
    try:
        s.start_engine()
        s.start_haproxy()
        s.request({"Host": "hello.example", "X-N": "5"})
        _wait(lambda: st.get(b"hello.example") is not None and si.get(b"\x00\x00\x00\x05") is not None, 2.0)
        assert st.get(b"hello.example") == {"http_req_cnt": 1, "server_id": 0}
        assert si.get(b"\x00\x00\x00\x05") == {"gpc0": 1}
        _wait(lambda: "pushed.example" in s.show_table("st") and "123456" in s.show_table("si"), 2.0)
        row = s.show_table("st")["pushed.example"]
        assert row["http_req_cnt"] == "9" and row["server_id"] == "-2"
        assert s.show_table("si")["123456"]["gpc0"] == "77"
    finally:
        s.close()
