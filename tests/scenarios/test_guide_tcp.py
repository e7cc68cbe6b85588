"""The TCP examples of the architecture guide
(https://github.com/haproxy/haproxy/blob/v1.2.14/doc/architecture.txt), run for real with
addresses moved to 127.0.0.0/8 and ports picked at run time:

- 2.2   generic TCP relaying on three ports with a port-less server and `monitor-net`;
- 4.2.1 the port-81 health-check redirector (daemon, quiet, pidfile, dispatch) and `kill`;
- 6     source balancing: one server reached from 8 different source addresses.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.helpers import (
    connect,
    connection_refused,
    echo_roundtrip,
    free_port,
    free_ports,
    recv_exactly,
    recv_until_closed,
    render_config,
    wait_closed_by_peer,
    wait_not_listening,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"


# ---------------------------------------------------------------------------------------------
# 2.2 Generic TCP relaying and external layer 4 load-balancers

GUIDE_2_2 = """
    listen tse-proxy
       bind {host}:{p1},{host}:{p2},{host}:{p3}  # TSE, ICA and VNC at once.
       mode tcp
       balance roundrobin
       server tse-farm 127.0.0.2
       monitor-net 127.0.0.3/32
    """


@pytest.fixture
def tse_setup(proxy, tcp_echo_backend):
    """The proxy on 127.0.0.1:P1..P3 and one echo server per port on 127.0.0.2:same port
    (the server line has no port: each connection goes to the port the client used)."""
    ports = free_ports(3, HOST, also_free_on=["127.0.0.2"])
    backends = [tcp_echo_backend(host="127.0.0.2", port=p, banner=f"port{i}\n".encode())
                for i, p in enumerate(ports, 1)]
    px = proxy.start(GUIDE_2_2, host=HOST, p1=ports[0], p2=ports[1], p3=ports[2])
    return px, ports, backends


def test_2_2_relays_each_port_to_the_same_port_on_the_server(tse_setup):
    _, ports, backends = tse_setup
    for round_ in range(2):
        for i, port in enumerate(ports, 1):
            with connect(HOST, port) as s:
                assert recv_exactly(s, 6) == f"port{i}\n".encode()
                payload = f"data {round_} via {port}\n".encode() * 100
                s.sendall(payload)
                assert recv_exactly(s, len(payload)) == payload
    assert [b.accepted for b in backends] == [2, 2, 2]


def test_2_2_monitor_net_connection_is_closed_without_reaching_a_server(tse_setup):
    _, ports, backends = tse_setup
    for port in ports:
        with connect(HOST, port, source="127.0.0.3") as s:
            wait_closed_by_peer(s, timeout=10)
    # another address still goes through
    with connect(HOST, ports[0], source="127.0.0.4") as s:
        assert recv_exactly(s, 6) == b"port1\n"
    backends[0].wait_accepted(1)
    time.sleep(0.5)  # give a wrongly forwarded monitor connection time to show up
    assert [b.accepted for b in backends] == [1, 0, 0]


def test_2_2_monitor_net_gets_no_data(tse_setup):
    """The monitor sees an accepted connection and a clean close, not a byte of service data."""
    _, ports, _ = tse_setup
    with connect(HOST, ports[1], source="127.0.0.3") as s:
        assert recv_until_closed(s, timeout=10) == b""


# ---------------------------------------------------------------------------------------------
# 4.2.1 Variations for operating systems without any firewall software

GUIDE_4_2_1 = """
    global
        daemon
        quiet
        pidfile {pidfile}
    listen {host}:{port}
        mode tcp
        dispatch 127.0.0.1:{bport}
        contimeout {contimeout}
        clitimeout {clitimeout}
        srvtimeout {srvtimeout}
    """


def test_4_2_1_dispatcher_relays_and_kill_stops_it(proxy, tcp_echo_backend, tmp_path):
    backend = tcp_echo_backend()
    port = free_port()
    pidfile = tmp_path / "haproxy-checks.pid"
    cfg = tmp_path / "haproxy-checks.cfg"
    cfg.write_text(render_config(GUIDE_4_2_1, pidfile=pidfile, host=HOST, port=port, bport=backend.port,
                                 contimeout=1000, clitimeout=10000, srvtimeout=10000))
    # `haproxy -f /etc/haproxy/haproxy-checks.cfg`: the config itself asks for daemon + pidfile.
    px = proxy.start(cfg, daemon=True, pidfile=pidfile, args=[])
    for i in range(5):
        assert echo_roundtrip(HOST, port, f"check {i}\n".encode()) == f"check {i}\n".encode()
    assert backend.accepted == 5
    master = px.master_pid
    done = proxy.run_shell(f"kill $(<{pidfile})")
    assert done.returncode == 0, done.stderr
    wait_not_listening(HOST, port, timeout=15)
    assert connection_refused(HOST, port), "port still answering after kill"
    px.wait_exit(timeout=15)
    assert not px.alive(), f"master {master} still running"


def test_4_2_1_srvtimeout_closes_client_when_server_is_silent(proxy, tcp_backend, tmp_path):
    """A server that accepts and never answers: the session ends after about srvtimeout (1 s)."""
    silent = tcp_backend("silent")
    port = free_port()
    pidfile = tmp_path / "silent.pid"
    proxy.start(GUIDE_4_2_1, host=HOST, port=port, bport=silent.port, pidfile=pidfile,
                contimeout=1000, clitimeout=10000, srvtimeout=1000)
    with connect(HOST, port) as s:
        s.sendall(b"anyone there?\n")
        silent.wait_accepted(1)
        waited = wait_closed_by_peer(s, timeout=15)
    assert waited >= 0.5, f"closed after {waited:.2f}s, too early for a 1 s srvtimeout"
    wait_until(lambda: silent.received >= 14, timeout=5, message="the request to reach the server")
    silent.wait_idle(15)


# ---------------------------------------------------------------------------------------------
# 6. Source balancing

GUIDE_6 = """
    listen {host}:{port}
       mode tcp
       balance roundrobin
       server from1to1 127.0.0.1:{bport} source 127.0.0.11
       server from2to1 127.0.0.1:{bport} source 127.0.0.12
       server from3to1 127.0.0.1:{bport} source 127.0.0.13
       server from4to1 127.0.0.1:{bport} source 127.0.0.14
       server from5to1 127.0.0.1:{bport} source 127.0.0.15
       server from6to1 127.0.0.1:{bport} source 127.0.0.16
       server from7to1 127.0.0.1:{bport} source 127.0.0.17
       server from8to1 127.0.0.1:{bport} source 127.0.0.18
    """


def test_6_source_balancing_uses_the_8_sources_in_turn(proxy, tcp_echo_backend):
    backend = tcp_echo_backend()
    port = free_port()
    proxy.start(GUIDE_6, host=HOST, port=port, bport=backend.port)
    for i in range(16):
        assert echo_roundtrip(HOST, port, f"{i}\n".encode()) == f"{i}\n".encode()
    seen = backend.peer_hosts()
    sources = [f"127.0.0.{n}" for n in range(11, 19)]
    assert len(seen) == 16
    assert sorted(set(seen)) == sources, seen
    assert all(seen.count(src) == 2 for src in sources), seen
    # round robin in configuration order (wherever the rotation starts)
    start = sources.index(seen[0])
    assert seen == [sources[(start + k) % 8] for k in range(16)], seen


def test_6_source_port_is_chosen_by_the_system(proxy, tcp_echo_backend):
    """`source ADDR` without a port: every connection gets its own ephemeral source port."""
    backend = tcp_echo_backend()
    port = free_port()
    proxy.start(GUIDE_6, host=HOST, port=port, bport=backend.port)
    socks: list[socket.socket] = []
    try:
        for _ in range(8):
            s = connect(HOST, port)
            socks.append(s)
            s.sendall(b"x")
            assert recv_exactly(s, 1) == b"x"
    finally:
        for s in socks:
            s.close()
    with backend.lock:
        peers = list(backend.peers)
    assert len(set(peers)) == 8 and all(p[1] > 0 for p in peers), peers
