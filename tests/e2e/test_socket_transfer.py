"""Listening sockets handed from the running instance to the one replacing it (`-x SOCKET` with
`stats socket ... expose-fd listeners`, HAProxy 1.8+; pyhaproxy/sockxfer.py).

What an operator sees: during and after a `-x ... -sf OLDPID` reload the port has one listening
socket, the old instance's (same inode), where binding beside it would make two; so no
connection queued on the old socket can be reset when the old instance lets it go. The exchange
is HAProxy's own, so the tests also hand sockets across the two binaries both ways, and run the
failures (`-x` to a socket without `expose-fd`, or to no socket) against both.
"""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path

import pytest

from tests.e2e.test_tls import (
    HAPROXY,
    binary,  # noqa: F401  (fixture: each test runs against both binaries)
)
from tests.helpers import free_port, listen_backlogs, listening_inodes, recv_exactly, wait_until
from tests.helpers.proxy import CMD_VAR

pytestmark = pytest.mark.timeout(90)

CFG = """
    global
        stats socket {sock} level admin{expose}
    defaults
        mode tcp
        timeout connect 5s
        timeout client 30s
        timeout server 30s
    listen echo
        bind 127.0.0.1:{port} backlog {BACKLOG}
        server s1 127.0.0.1:{bport}
    """

EXPOSE = " expose-fd listeners"
BACKLOG = 1000


def _echo(s: socket.socket, data: bytes) -> bool:
    s.sendall(data)
    return recv_exactly(s, len(data), 5) == data


def _start(proxy, tmp_path: Path, name: str, port: int, bport: int, expose: str = EXPOSE,
           extra: list[str] | None = None):
    return proxy.start(CFG, daemon=True, name=name, sock=tmp_path / f"{name}.sock", expose=expose,
                       port=port, bport=bport, BACKLOG=BACKLOG, extra_args=extra or [])


def _one_socket(port: int) -> int:
    inodes = listening_inodes(port)
    assert len(inodes) == 1, f"listening sockets on {port}: {inodes}"
    return inodes.pop()


def _reload_keeps_the_socket(proxy, tmp_path: Path, backend, old_cmd: str | None,
                             new_cmd: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Old instance (old_cmd) with a held session; new one (new_cmd) with `-x old.sock -sf`:
    one socket, the old one's, throughout; both sessions served; the old instance leaves."""
    port = free_port()
    for cmd, name in ((old_cmd, "old"), (new_cmd, "new")):
        if cmd is None:
            monkeypatch.delenv(CMD_VAR, raising=False)
        else:
            monkeypatch.setenv(CMD_VAR, cmd)
        if name == "old":
            old = _start(proxy, tmp_path, "old", port, backend.port)
            inode = _one_socket(port)
            assert listen_backlogs(port) == [BACKLOG]
            held = socket.create_connection(("127.0.0.1", port), timeout=5)
            assert _echo(held, b"before")
        else:
            new = _start(proxy, tmp_path, "new", port, backend.port,
                         extra=["-x", str(tmp_path / "old.sock"), "-sf", str(old.master_pid)])
    try:
        assert old.alive(), "the old instance left while it still had a session"
        assert _one_socket(port) == inode
        with socket.create_connection(("127.0.0.1", port), timeout=5) as fresh:
            assert _echo(fresh, b"fresh")
        assert _echo(held, b"still served by the old instance")
    finally:
        held.close()
    old.wait_exit(20)
    assert _one_socket(port) == inode, "the socket went with the old instance"
    # the old instance left the shared socket as it found it (a stopping pyhaproxy worker once
    # shrank its queue to one, for every process after it)
    assert listen_backlogs(port) == [BACKLOG]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as after:
        assert _echo(after, b"after")
    assert new.alive()


def test_x_takes_over_the_old_listening_socket(proxy, tmp_path, tcp_echo_backend, binary,  # noqa: F811
                                               monkeypatch):
    cmd = str(HAPROXY) if binary == "haproxy" else None
    _reload_keeps_the_socket(proxy, tmp_path, tcp_echo_backend(), cmd, cmd, monkeypatch)


@pytest.mark.parametrize("old_new", ["pyhaproxy-to-haproxy", "haproxy-to-pyhaproxy"])
def test_sockets_pass_between_the_two_binaries(proxy, tmp_path, tcp_echo_backend, old_new,
                                               monkeypatch):
    """The exchange is HAProxy's: an operator can swap binaries with a seamless reload."""
    if not HAPROXY.exists():
        pytest.skip("Debian's haproxy is not installed")
    old_cmd, new_cmd = (None, str(HAPROXY)) if old_new.startswith("pyhaproxy") else (str(HAPROXY), None)
    _reload_keeps_the_socket(proxy, tmp_path, tcp_echo_backend(), old_cmd, new_cmd, monkeypatch)


def test_plain_sf_takes_over_too(proxy, tmp_path, tcp_echo_backend):
    """pyhaproxy only, on purpose: without `-x`, 2.6 binds a second socket beside the old one
    (SO_REUSEPORT) and may reset what was queued on the old one when it closes; a pyhaproxy
    master hands its sockets to a new instance started with `-sf` by itself (sockxfer.py)."""
    backend = tcp_echo_backend()
    port = free_port()
    old = _start(proxy, tmp_path, "old", port, backend.port, expose="")
    inode = _one_socket(port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as held:
        assert _echo(held, b"held")
        _start(proxy, tmp_path, "new", port, backend.port, expose="",
               extra=["-sf", str(old.master_pid)])
        assert old.alive()
        assert _one_socket(port) == inode
    old.wait_exit(20)
    assert _one_socket(port) == inode


def test_master_worker_reloads_keep_the_listen_backlog(proxy, tmp_path, tcp_echo_backend,
                                                       binary):  # noqa: F811
    """`-W`: the generations share the master's socket; two SIGUSR2 reloads, and once the old
    workers are gone the socket still has the configured queue."""
    backend = tcp_echo_backend()
    port = free_port()
    px = proxy.start(CFG, name="mw", sock=tmp_path / "mw.sock", expose="", port=port,
                     bport=backend.port, BACKLOG=BACKLOG, extra_args=["-W"])
    assert listen_backlogs(port) == [BACKLOG]
    for _ in range(2):
        before = set(px.worker_pids())
        px.signal(signal.SIGUSR2)
        if binary == "haproxy":
            # 2.6's master re-executes itself on a reload and can miss a SIGUSR2 that arrives
            # before it is set up again (seen under load): asked again after a while. pyhaproxy
            # gets one signal only, so a lost reload of ours still fails here.
            try:
                wait_until(lambda b=before: px.worker_pids() and not set(px.worker_pids()) & b,
                           timeout=8, message="the new generation alone")
                continue
            except AssertionError:
                px.signal(signal.SIGUSR2)
        wait_until(lambda b=before: px.worker_pids() and not set(px.worker_pids()) & b, timeout=20,
                   message="the new generation alone")
    assert listen_backlogs(port) == [BACKLOG]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        assert _echo(c, b"served")


@pytest.mark.parametrize("case", ["no-expose-fd", "no-socket"])
def test_x_failing_is_fatal(proxy, tmp_path, tcp_echo_backend, binary, case):  # noqa: F811
    """2.6: a warning saying what failed, `Failed to get the sockets from the old process!`,
    exit 1, nothing bound."""
    backend = tcp_echo_backend()
    port = free_port()
    if case == "no-expose-fd":
        _start(proxy, tmp_path, "old", port, backend.port, expose="")
        source, warning = tmp_path / "old.sock", "Failed to get the number of sockets to be transferred !"
    else:
        source, warning = tmp_path / "nothing.sock", "Failed to connect to the old process socket"
    port2 = free_port()
    cfg = proxy.write_config(CFG, sock=tmp_path / "new.sock", expose=EXPOSE, port=port2, bport=backend.port,
                             BACKLOG=BACKLOG)
    done = proxy.run(["-f", str(cfg), "-db", "-x", str(source)], timeout=20)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert warning in out
    assert "Failed to get the sockets from the old process!" in out
    assert not listening_inodes(port2)


def test_reloads_under_load_lose_nothing(proxy, tmp_path, tcp_echo_backend, binary):  # noqa: F811
    """Four `-x ... -sf` reloads while two clients open a new connection for every exchange:
    no connection refused or reset, with either binary."""
    backend = tcp_echo_backend()
    port = free_port()
    cur = _start(proxy, tmp_path, "gen0", port, backend.port)
    stop = threading.Event()
    failures: list[str] = []
    done = [0]

    def client() -> None:
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                    if not _echo(c, b"ping"):
                        failures.append("bad echo")
                done[0] += 1
            except OSError as e:
                failures.append(repr(e))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    olds = []
    try:
        for i in range(1, 5):
            wait_until(lambda n=done[0]: done[0] >= n + 20, timeout=20, message="traffic between reloads")
            new = _start(proxy, tmp_path, f"gen{i}", port, backend.port,
                         extra=["-x", str(tmp_path / f"gen{i - 1}.sock"), "-sf", str(cur.master_pid)])
            olds.append(cur)
            cur = new
        for old in olds:
            old.wait_exit(20)
        wait_until(lambda n=done[0]: done[0] >= n + 20, timeout=20, message="traffic after the reloads")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not failures, f"{len(failures)} failed exchanges of {done[0]}: {failures[:5]}"
