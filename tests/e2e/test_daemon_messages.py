"""Start-up messages under `-D` (issue 15, item 10): warnings and alerts are printed before the
process detaches, as haproxy 2.x does; HAProxy 1.x's `-D` implied `-q` and a daemon that capped
itself at the fd limit said nothing. Differential: with PYHAPROXY_CMD=/usr/sbin/haproxy the same
message reaches the terminal (2.6's default `strict-limits` makes it an alert and exit 1; pyhaproxy
warns and runs at the limit)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess

import psutil
import pytest

from tests.helpers import free_ports, read_pidfile, wait_until
from tests.helpers.proxy import base_command

pytestmark = pytest.mark.timeout(60)

CONFIG = """\
global
    maxconn 100000
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{port}
"""


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def test_fd_limit_message_is_printed_before_detaching(proxy, tmp_path) -> None:
    (port,) = free_ports(1)
    cfg = tmp_path / "d.cfg"
    cfg.write_text(CONFIG.format(port=port))
    pidfile = tmp_path / "d.pid"
    proxy.tracked_pidfiles.add(pidfile)
    done = subprocess.run([*base_command(), "-D", "-p", str(pidfile), "-f", str(cfg)],
                          preexec_fn=_low_fd_limit, env=proxy.env(), capture_output=True, text=True,
                          timeout=30, cwd=tmp_path)
    pid = read_pidfile(pidfile)
    if pid is not None:
        proxy.tracked_pids.add(pid)
    assert "FD limit" in done.stderr, done.stderr
    assert "1024" in done.stderr, done.stderr  # names the limit it runs at


def test_workers_leave_when_the_master_is_killed(proxy) -> None:
    """PR_SET_PDEATHSIG, set first thing in the child (and a check that the master is still its
    parent): a master killed with SIGKILL leaves no worker serving on its own."""
    (port,) = free_ports(1)
    px = proxy.start(CONFIG.replace("maxconn 100000", "maxconn 100\n    nbthread 2").format(port=port),
                     extra_args=["-W"])
    # pyhaproxy: two worker processes; haproxy 2.6: one worker with two threads
    wait_until(lambda: len(px.worker_pids()) >= 1, 15, message="the workers")
    workers = [psutil.Process(p) for p in px.worker_pids()]
    os.kill(px.master_pid, signal.SIGKILL)
    gone, alive = psutil.wait_procs(workers, timeout=20)
    assert not alive, f"workers still running: {alive}"
    wait_until(lambda: not px.alive(), 10, message="the master to be gone")
