"""`http-reuse never|safe|aggressive|always`: how many server connections the same clients open
under each mode, against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy) with the same
configuration. Two clients one after the other (the first closes before the second opens), each
sending its requests one at a time; the HTTP/1.1 test server counts the connections it accepts.

Each expectation is written per binary. Where they differ it is on purpose, and why:

- HTTP/2 clients: none. 2.6 counts every stream of an HTTP/2 connection as a "not first"
  request, so under `safe` and `aggressive` too the first stream of the second client takes the
  idle connection the first client left; pyhaproxy does the same.
- HTTP/1.1 clients: pyhaproxy parks no connection of an HTTP/1.1 client's session (it keeps its
  own for its next requests and closes it when the client leaves), so the second client always
  connects anew; 2.6 under `aggressive` (a connection that carried 2 requests) and `always` gives
  it the first client's connection.
- `never`: both keep one server connection per HTTP/2 client connection (2.6: one session), used
  by its streams one after the other; neither shares it with the other client.

The configuration check is differential too: every mode accepted in defaults, backend and
listen; a bad value refused with exit 1 at its line; a frontend's line warned about and ignored.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers.net import LOCALHOST, free_ports, wait_until

pytestmark = pytest.mark.timeout(120)

CFG = """
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
    {reuse}
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server a 127.0.0.1:{pa}
"""

MODES = ["never", "safe", "aggressive", "always"]

# (streams per client) -> mode -> (pyhaproxy, haproxy 2.6): server connections for two HTTP/2
# clients, one after the other
H2_EXPECTED = {
    3: {"never": (2, 2), "safe": (1, 1), "aggressive": (1, 1), "always": (1, 1)},
    1: {"never": (2, 2), "safe": (1, 1), "aggressive": (1, 1), "always": (1, 1)},
}
# mode -> (pyhaproxy, haproxy 2.6): two HTTP/1.1 clients, two kept-alive requests each
H1_EXPECTED = {"never": (2, 2), "safe": (2, 2), "aggressive": (2, 1), "always": (2, 1)}


def h2_streams_one_by_one(port: int, n: int) -> list[str]:
    """One HTTP/2 (h2c) connection, n GET streams each sent once the previous one has ended;
    the statuses. The connection is closed at the end."""
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                                       header_encoding="utf-8"))
    conn.initiate_connection()
    statuses: list[str] = []
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(conn.data_to_send())
        for i in range(n):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                                    (":path", f"/{i}")], end_stream=True)
            s.sendall(conn.data_to_send())
            ended = False
            for _ in range(1000):
                data = s.recv(65536)
                assert data, "the proxy closed the connection"
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.ResponseReceived):
                        statuses.append(dict(ev.headers)[":status"])
                    elif isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                        ended = True
                s.sendall(conn.data_to_send())
                if ended:
                    break
            assert ended
            time.sleep(0.05)          # (the stream's session has ended and parked its connection)
    return statuses


def h1_requests_kept_alive(port: int, n: int) -> list[int]:
    """One HTTP/1.1 connection, n requests one after the other (curl reuses its connection)."""
    urls = [w for i in range(n) for w in ("-o", "/dev/null", f"http://{LOCALHOST}:{port}/{i}")]
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-w", "%{http_code}\\n", *urls],
                       capture_output=True, text=True, timeout=30, check=True)
    return [int(x) for x in r.stdout.split()]


def _start(proxy: Any, http_backend: Callable[..., Any], mode: str) -> tuple[int, Any]:
    (port,) = free_ports(1)
    srv = http_backend(name="A")
    proxy.start(CFG, port=port, pa=srv.port, reuse=f"http-reuse {mode}")
    return port, srv


@pytest.mark.parametrize("n", [3, 1])
@pytest.mark.parametrize("mode", MODES)
def test_http2_clients_server_connections(proxy: Any, binary: str,  # noqa: F811
                                          http_backend: Callable[..., Any], mode: str, n: int) -> None:
    port, srv = _start(proxy, http_backend, mode)
    for _client in range(2):
        assert h2_streams_one_by_one(port, n) == ["200"] * n
        time.sleep(0.2)           # (the first client gone before the second opens)
    wait_until(lambda: srv.request_count() >= 2 * n, 5, message="every request at the server")
    ours, theirs = H2_EXPECTED[n][mode]
    assert srv.accepted == (ours if binary == "pyhaproxy" else theirs), (binary, mode, n)


@pytest.mark.parametrize("mode", MODES)
def test_http1_clients_server_connections(proxy: Any, binary: str,  # noqa: F811
                                          http_backend: Callable[..., Any], mode: str) -> None:
    port, srv = _start(proxy, http_backend, mode)
    for _client in range(2):
        assert h1_requests_kept_alive(port, 2) == [200, 200]
        time.sleep(0.3)
    ours, theirs = H1_EXPECTED[mode]
    assert srv.accepted == (ours if binary == "pyhaproxy" else theirs), (binary, mode)


def test_never_does_not_share_between_concurrent_clients(proxy: Any, binary: str,  # noqa: F811
                                                         http_backend: Callable[..., Any]) -> None:
    """Two HTTP/2 clients open at once, taking turns: under `never` each keeps its own server
    connection (2), where `always` lets them share one (1). Same on both binaries."""
    for mode, want in (("never", 2), ("always", 1)):
        port, srv = _start(proxy, http_backend, mode)
        conns = []
        for _ in range(2):
            c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                                            header_encoding="utf-8"))
            c.initiate_connection()
            s = socket.create_connection((LOCALHOST, port), timeout=10)
            s.sendall(c.data_to_send())
            conns.append((c, s))
        try:
            for i in range(6):
                c, s = conns[i % 2]
                sid = c.get_next_available_stream_id()
                c.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                                     (":path", f"/{i}")], end_stream=True)
                s.sendall(c.data_to_send())
                ended = False
                for _ in range(1000):
                    data = s.recv(65536)
                    assert data
                    for ev in c.receive_data(data):
                        if isinstance(ev, h2.events.DataReceived):
                            c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                        elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                            ended = True
                    s.sendall(c.data_to_send())
                    if ended:
                        break
                assert ended
                time.sleep(0.05)
        finally:
            for _c, s in conns:
                s.close()
        wait_until(lambda s=srv: s.request_count() >= 6, 5, message="every request at the server")
        assert srv.accepted == want, (binary, mode)


# ---- the configuration check, both binaries

SECTIONS = {
    "defaults": "defaults\n    mode http\n",
    "backend": "backend b\n    mode http\n",
    "listen": "listen l\n    mode http\n    bind 127.0.0.1:{port}\n    server s 127.0.0.1:9\n",
}


@pytest.mark.parametrize("section", list(SECTIONS))
def test_check_accepts_every_mode(proxy: Any, binary: str, section: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    for mode in MODES:
        cfg = proxy.write_config(SECTIONS[section] + f"    http-reuse {mode}\n", port=port)
        r = proxy.run(["-c", "-f", str(cfg)])
        # (2.6 exits 2 for a file without a listener: "will not start", not an error)
        assert r.returncode in (0, 2), (mode, r.stdout, r.stderr)
        assert "ALERT" not in r.stdout + r.stderr


@pytest.mark.parametrize("section", list(SECTIONS) + ["frontend"])
@pytest.mark.parametrize("line, message", [
    ("http-reuse bogus", "'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'."),
    ("http-reuse", "'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'."),
    ("http-reuse safe extra", "'http-reuse safe' cannot handle unexpected argument 'extra'."),
])
def test_check_refuses_bad_values(proxy: Any, binary: str, section: str,  # noqa: F811
                                  line: str, message: str) -> None:
    (port,) = free_ports(1)
    head = SECTIONS.get(section, "frontend f\n    mode http\n    bind 127.0.0.1:{port}\n")
    cfg = proxy.write_config(head + f"    {line}\n", name="r.cfg", port=port)
    r = proxy.run(["-c", "-f", str(cfg)])
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert f"parsing [{cfg}:{head.count(chr(10)) + 1}] : {message}" in out, out


def test_check_warns_in_a_frontend(proxy: Any, binary: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    cfg = proxy.write_config("defaults\n    timeout client 1s\n    timeout server 1s\n"
                             "    timeout connect 1s\n"
                             "frontend f\n    mode http\n    bind 127.0.0.1:{port}\n    http-reuse safe\n",
                             name="f.cfg", port=port)
    r = proxy.run(["-c", "-f", str(cfg)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"parsing [{cfg}:8] : 'http-reuse' ignored because frontend 'f' has no backend capability." \
        in r.stdout + r.stderr


def test_never_closes_what_an_ended_client_left(proxy: Any, binary: str,  # noqa: F811
                                                http_backend: Callable[..., Any]) -> None:
    """Under `never` a connection parked by a client connection that has ended can serve no one:
    both close it when the client connection ends (2.6 with the session)."""
    port, srv = _start(proxy, http_backend, "never")
    for _client in range(2):
        assert h2_streams_one_by_one(port, 2) == ["200"] * 2
        wait_until(lambda: srv.active == 0, 5, message="the client's server connection to close")
    assert srv.accepted == 2
