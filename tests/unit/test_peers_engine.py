"""Two peers engines on 127.0.0.1: handshake, resync on start, pushes both ways, no echo,
the handshake's refusals. (The same against haproxy 2.6 is tests/e2e/test_peers_protocol.py.)"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pyhaproxy.peers import codec as c
from pyhaproxy.peers.engine import PeerConf, PeersEngine, run_engine
from pyhaproxy.peers.store import MemoryStore
from tests.helpers.net import free_ports

TYPES = [("http_req_cnt", 0), ("http_req_rate", 10000), ("gpc0", 0)]


def _wait(pred: Callable[[], object], timeout: float = 8.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


class Running:
    def __init__(self, engine: PeersEngine) -> None:
        self.engine = engine
        self.stop = False
        self.thread = threading.Thread(target=run_engine, args=(engine, lambda: self.stop), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop = True
        self.thread.join(5)


@pytest.fixture
def pair() -> Iterator[tuple[list[int], Callable[[str, MemoryStore], Running]]]:
    ports = free_ports(2)
    started: list[Running] = []

    def start(name: str, store: MemoryStore) -> Running:
        peers = [PeerConf("a", "127.0.0.1", ports[0], name == "a"),
                 PeerConf("b", "127.0.0.1", ports[1], name == "b")]
        r = Running(PeersEngine("sec", name, peers, [store]))
        started.append(r)
        return r

    yield ports, start
    for r in started:
        r.close()


Pair = tuple[list[int], Callable[[str, MemoryStore], Running]]


def test_resync_on_start_and_pushes_both_ways(pair: Pair) -> None:
    _, start = pair
    sa = MemoryStore("t", "ip", 4, TYPES, 60000)
    sb = MemoryStore("t", "ip", 4, TYPES, 60000)
    sa.update(b"\x0a\x00\x00\x01", {"gpc0": 5, "http_req_cnt": 2}, 30000)
    start("a", sa)
    start("b", sb)
    _wait(lambda: sb.get(b"\x0a\x00\x00\x01"))
    got = sb.get(b"\x0a\x00\x00\x01")
    assert got is not None and got["gpc0"] == 5 and got["http_req_cnt"] == 2
    sb.update(b"\x0a\x00\x00\x02", {"gpc0": 9, "http_req_rate": 4}, 30000)
    _wait(lambda: sa.get(b"\x0a\x00\x00\x02"))
    got = sa.get(b"\x0a\x00\x00\x02")
    assert got is not None and got["gpc0"] == 9 and got["http_req_rate"] == 4
    # what a learnt from b is not sent back to b: b's entry keeps b's later local value
    sb.update(b"\x0a\x00\x00\x02", {"gpc0": 10}, 30000)
    _wait(lambda: (sa.get(b"\x0a\x00\x00\x02") or {}).get("gpc0") == 10)
    time.sleep(0.3)
    assert (sb.get(b"\x0a\x00\x00\x02") or {})["gpc0"] == 10


def _handshake(port: int, text: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(text)
        got = b""
        while len(got) < 5:
            data = s.recv(100)
            if not data:
                break
            got += data
        return got


@pytest.mark.parametrize(
    "hello,status",
    [(b"HAProxyS 2.1\nb\nz 1 1\n", b"504\n"),  # unknown peer
     (b"HAProxyS 2.1\nzz\na 1 1\n", b"503\n"),  # not our name
     (b"HAProxyS 3.0\nb\na 1 1\n", b"502\n"),
     (b"HTTP 2.1\nb\na 1 1\n", b"501\n"),
     (b"HAProxyS 2.1\nb\nnopid\n", b"501\n"),
     (b"HAProxyS 2.1\nb\na 1 1\n", b"200\n")],
)  # fmt: skip
def test_handshake_status_codes(pair: tuple[list[int], Callable[[str, MemoryStore], Running]],
                                hello: bytes, status: bytes) -> None:
    ports, start = pair
    start("b", MemoryStore("t", "ip", 4, TYPES))
    _wait(lambda: _listening(ports[1]))
    answer = _handshake(ports[1], hello)
    assert answer.startswith(status)
    if status == b"200\n":
        # then the engine speaks binary: a table definition, or a resync request, or both
        assert answer[4:5] in (bytes((c.CLASS_STICKTABLE,)), bytes((c.CLASS_CONTROL,)))


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class BrokenStore(MemoryStore):
    def update(self, key: bytes, data: dict[str, int], expire_ms: int) -> None:
        raise RuntimeError("store failure")


@pytest.mark.parametrize(
    "payload,error",
    [(b"\xff\x00", b"\x01\x00"),  # the reserved class: a protocol error
     (b"\x0a\x80" + c.encode_varint(c.MAX_MSG_LEN + 1), b"\x01\x01"),  # larger than 2.6's buffer
     # a definition of our table, then an update cut short
     (c.encode_define(c.TableDef(1, "t", "ip", 4, [2])) + b"\x0a\x80\x05\x00\x00\x00\x01\x01", b"\x01\x00"),
     # a store that raises: the session ends, the engine goes on
     (c.encode_define(c.TableDef(1, "t", "ip", 4, [2]))
      + c.encode_update(c.TableDef(1, "t", "ip", 4, [2]), c.Update(b"\x01\x02\x03\x04", {2: 1}, 1)), b"")],
)  # fmt: skip
def test_bad_input_ends_the_session_not_the_engine(pair: Pair, payload: bytes, error: bytes) -> None:
    ports, start = pair
    r = start("b", BrokenStore("t", "ip", 4, [("gpc0", 0)]))
    _wait(lambda: _listening(ports[1]))
    with socket.create_connection(("127.0.0.1", ports[1]), timeout=3) as s:
        s.sendall(b"HAProxyS 2.1\nb\na 1 1\n")
        got = s.recv(4)
        assert got == b"200\n"
        s.sendall(payload)
        data = b""
        while True:  # the engine closes the session (after an error message for a bad message)
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.endswith(error)  # the error message is the last thing sent
    assert r.thread.is_alive()
    assert _handshake(ports[1], b"HAProxyS 2.1\nb\na 1 1\n").startswith(b"200\n")


def test_echo_filter() -> None:
    e = PeersEngine("s", "a", [PeerConf("a", "127.0.0.1", 0, True)], [MemoryStore("t", "ip", 4, TYPES)])
    e.apply(0, b"k", {"gpc0": 3, "http_req_rate": 5}, 0)
    assert e.is_echo(0, (b"k", 0, {"gpc0": 3, "http_req_rate": 5}))
    assert e.is_echo(0, (b"k", 0, {"gpc0": 3, "http_req_rate": 4}))  # the rate decayed: still theirs
    assert not e.is_echo(0, (b"k", 0, {"gpc0": 3, "http_req_rate": 6}))  # grew here: ours to push
    assert not e.is_echo(0, (b"k", 0, {"gpc0": 3, "http_req_rate": 5}))  # and from then on
    assert not e.is_echo(0, (b"other", 0, {}))
