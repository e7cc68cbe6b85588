"""End-to-end tests of the signals a running pyhaproxy obeys (sent to the master, which forwards
them to its workers): SIGUSR1 soft stop with and without `grace`, SIGTTOU/SIGTTIN pause and
resume of the listeners, worker respawn after SIGKILL, and the hot-reconfiguration script of
architecture guide section 4.3 run verbatim through bash.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from tests.configs.guide import hot_reconf_script
from tests.helpers import (
    connect,
    connection_refused,
    echo_roundtrip,
    free_port,
    is_listening,
    read_pidfile,
    recv_exactly,
    render_config,
    try_echo_roundtrip,
    wait_closed_by_peer,
    wait_listening,
    wait_not_listening,
    wait_until,
)

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"

ECHO_PROXY = """
    global
        maxconn 100
    listen sig-test {host}:{port}
        mode tcp
        contimeout 5000
        clitimeout 30000
        srvtimeout 30000
        grace {grace}
        server s1 127.0.0.1:{bport}
    """


def _exchange(s: socket.socket, data: bytes) -> bytes:
    s.sendall(data)
    return recv_exactly(s, len(data), timeout=10)


def test_soft_stop_without_grace(proxy, tcp_echo_backend):
    """SIGUSR1, grace 0: the listener closes at once, the open session still works to its end,
    then the process exits (status 0)."""
    backend = tcp_echo_backend()
    port = free_port()
    px = proxy.start(ECHO_PROXY, host=HOST, port=port, bport=backend.port, grace=0)
    with connect(HOST, port) as session:
        assert _exchange(session, b"before\n") == b"before\n"
        px.signal(signal.SIGUSR1)
        wait_not_listening(HOST, port, timeout=10)
        assert connection_refused(HOST, port), "a new connection was accepted after SIGUSR1"
        assert px.alive(), "exited while a session was still open"
        assert _exchange(session, b"after\n") == b"after\n"
        assert _exchange(session, b"x" * 100_000) == b"x" * 100_000
    rc = px.wait_exit(timeout=20)
    assert rc == 0, px.output_text()


def test_soft_stop_with_grace_keeps_accepting_then_exits(proxy, tcp_echo_backend):
    """SIGUSR1 with `grace 3000`: new connections are still served during the grace period,
    then the process exits by itself."""
    backend = tcp_echo_backend()
    port = free_port()
    px = proxy.start(ECHO_PROXY, host=HOST, port=port, bport=backend.port, grace=3000)
    assert echo_roundtrip(HOST, port, b"pre\n") == b"pre\n"
    px.signal(signal.SIGUSR1)
    # Right after the signal, well inside the 3 s grace: still accepted and relayed.
    assert echo_roundtrip(HOST, port, b"during grace\n") == b"during grace\n"
    assert is_listening(HOST, port)
    rc = px.wait_exit(timeout=30)
    assert rc == 0, px.output_text()
    assert connection_refused(HOST, port)


def test_pause_lets_another_socket_bind_then_resume(proxy, tcp_echo_backend):
    """SIGTTOU releases the port (a plain SO_REUSEADDR socket can bind and accept on it, and an
    open session survives); SIGTTIN, once that socket is gone, makes the proxy serve again."""
    backend = tcp_echo_backend()
    port = free_port()
    px = proxy.start(ECHO_PROXY, host=HOST, port=port, bport=backend.port, grace=0)
    with connect(HOST, port) as session:
        assert _exchange(session, b"one\n") == b"one\n"
        px.signal(signal.SIGTTOU)

        def bind_other() -> socket.socket | None:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((HOST, port))
                s.listen(8)
                return s
            except OSError:
                s.close()
                return None

        other = wait_until(bind_other, timeout=10, message="the paused port to be bindable")
        try:
            with connect(HOST, port):
                other.settimeout(10)
                accepted, _ = other.accept()
                accepted.close()
            assert backend.accepted == 1, "a connection went through the paused proxy"
        finally:
            other.close()
        assert _exchange(session, b"still here\n") == b"still here\n"
        assert px.alive()
    px.signal(signal.SIGTTIN)
    wait_until(lambda: try_echo_roundtrip(HOST, port), timeout=15, message="service back after SIGTTIN")
    assert px.alive()


def test_pause_lets_second_instance_take_port_then_resume(proxy, tcp_echo_backend):
    """SIGTTOU on instance A; instance B (another backend) starts on the same port and serves;
    B is stopped; SIGTTIN on A: A serves again."""
    backend_a = tcp_echo_backend(banner=b"A\n")
    backend_b = tcp_echo_backend(banner=b"B\n")
    port = free_port()
    px_a = proxy.start(ECHO_PROXY, host=HOST, port=port, bport=backend_a.port, grace=0, name="a")

    def banner() -> bytes:
        with connect(HOST, port) as s:
            return recv_exactly(s, 2)

    assert banner() == b"A\n"
    px_a.signal(signal.SIGTTOU)
    wait_not_listening(HOST, port, timeout=10)
    px_b = proxy.start(ECHO_PROXY, host=HOST, port=port, bport=backend_b.port, grace=0, name="b")
    assert banner() == b"B\n"
    px_b.signal(signal.SIGTERM)
    px_b.wait_exit(timeout=15)
    wait_not_listening(HOST, port, timeout=10)
    px_a.signal(signal.SIGTTIN)
    wait_listening(HOST, port, timeout=10)
    assert banner() == b"A\n"


def test_master_respawns_killed_worker(proxy, tcp_echo_backend):
    """SIGKILL on a worker: the master survives, forks a new one and the service answers again."""
    backend = tcp_echo_backend()
    port = free_port()
    px = proxy.start(ECHO_PROXY, daemon=True, host=HOST, port=port, bport=backend.port, grace=0)
    assert echo_roundtrip(HOST, port) == b"ping\n"
    workers = wait_until(px.worker_pids, timeout=10, message="a worker process")
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: px.worker_pids() and victim not in px.worker_pids(), timeout=20,
               message=f"a new worker replacing {victim}")
    assert px.alive(), "the master died with its worker"
    wait_until(lambda: try_echo_roundtrip(HOST, port), timeout=20, message="service after respawn")
    assert len(px.worker_pids()) == len(workers)


# ---------------------------------------------------------------------------------------------
# Architecture guide, section 4.3: the hot-reconfiguration script, verbatim but for its paths.


RELOAD_CONFIG = """
    global
        daemon
        quiet
        maxconn 100
    listen reload {host}:{port}
        mode tcp
        contimeout 5000
        clitimeout 30000
        srvtimeout 30000
        server s1 127.0.0.1:{bport}
    """


def _hot_reconf_setup(proxy, tmp_path: Path, port: int, old_backend: int, new_config: str):
    etc = tmp_path / "etc" / "haproxy"
    run = tmp_path / "var" / "run"
    etc.mkdir(parents=True)
    run.mkdir(parents=True)
    config = etc / "config"
    config.write_text(render_config(RELOAD_CONFIG, host=HOST, port=port, bport=old_backend))
    (etc / "config.new").write_text(new_config)
    pidfile = run / "haproxy.pid"
    # Start the old instance the way an init script would: `haproxy -f config -p pidfile`.
    old = proxy.start(config, daemon=True, pidfile=pidfile, args=["-p", str(pidfile)], name="old")
    script = hot_reconf_script(etc, run)
    assert "/etc/" not in script.replace(str(etc), "") and "/var/run/" not in script.replace(str(run), "")
    return old, script, etc, run


def _banner(port: int) -> bytes:
    with connect(HOST, port) as s:
        return recv_exactly(s, 2, timeout=10)


@pytest.mark.timeout(120)
def test_hot_reconfiguration_script_valid_new_config(proxy, tcp_echo_backend, tmp_path):
    """Section 4.3 with a valid new config: the new instance serves, the old one finishes its
    open session and then exits."""
    old_backend = tcp_echo_backend(banner=b"O\n")
    new_backend = tcp_echo_backend(banner=b"N\n")
    port = free_port()
    new_config = render_config(RELOAD_CONFIG, host=HOST, port=port, bport=new_backend.port)
    old, script, etc, run = _hot_reconf_setup(proxy, tmp_path, port, old_backend.port, new_config)
    old_pid = old.master_pid
    assert _banner(port) == b"O\n"
    with connect(HOST, port) as session:
        assert recv_exactly(session, 2) == b"O\n"
        done = proxy.run_shell(script, timeout=60)
        assert "New instance successfully loaded" in done.stdout, done.stdout + done.stderr
        assert done.returncode == 1  # the guide's script ends its success branch with `exit 1`
        new_pid = read_pidfile(run / "haproxy.pid")
        assert new_pid is not None and new_pid != old_pid
        proxy.track_pid(new_pid)
        assert not (run / "haproxy.pid.old").exists()
        wait_until(lambda: _banner(port) == b"N\n", timeout=15, message="the new instance to serve")
        # The old instance keeps its established session alive until it ends.
        assert _exchange(session, b"old session\n") == b"old session\n"
    wait_until(lambda: old.alive() is False, timeout=20, message=f"old master {old_pid} to exit")
    for _ in range(5):
        assert _banner(port) == b"N\n"
    assert (etc / "config.old").exists() and not (etc / "config.new").exists()


@pytest.mark.timeout(120)
def test_hot_reconfiguration_script_invalid_new_config(proxy, tcp_echo_backend, tmp_path):
    """Section 4.3 with a broken new config: the new instance exits 1, the old one is resumed by
    SIGTTIN and serves again; pidfile and config files are put back."""
    old_backend = tcp_echo_backend(banner=b"O\n")
    port = free_port()
    new_config = render_config(RELOAD_CONFIG, host=HOST, port=port, bport=old_backend.port)
    new_config = new_config.replace("mode tcp", "mode tcp\n        this-is-not-a-keyword 42")
    old, script, etc, run = _hot_reconf_setup(proxy, tmp_path, port, old_backend.port, new_config)
    old_pid = old.master_pid
    assert _banner(port) == b"O\n"
    done = proxy.run_shell(script, timeout=60)
    assert "New instance failed to start" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 0
    assert "[ALERT]" in done.stderr, done.stderr
    assert read_pidfile(run / "haproxy.pid") == old_pid
    assert (etc / "config.new").read_text() == new_config
    assert not (etc / "config.old").exists()
    # the backend sends a banner first, so probe with the banner rather than an echo
    wait_until(lambda: _banner(port) == b"O\n", timeout=15, message="old instance resumed")
    assert old.alive()
    # and the resumed instance still obeys a soft stop
    with connect(HOST, port) as s:
        assert recv_exactly(s, 2) == b"O\n"
        old.signal(signal.SIGUSR1)
        wait_not_listening(HOST, port, timeout=10)
        s.shutdown(socket.SHUT_WR)
        wait_closed_by_peer(s, timeout=15)
    wait_until(lambda: not old.alive(), timeout=20, message="old instance to exit after SIGUSR1")
