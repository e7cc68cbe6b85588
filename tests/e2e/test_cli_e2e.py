"""End-to-end tests of the command line: `-c` exit codes and `[ALERT] parsing [file:line]`
messages, `-D` failing cleanly on a busy port, and `-D` returning only once the port accepts.
"""

from __future__ import annotations

import os
import re
import signal
import socket

import pytest

from tests.helpers import echo_roundtrip, free_port, read_pidfile, render_config, wait_until

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"

VALID = """
    # a comment line
    global
        maxconn 100
        quiet

    defaults
        mode tcp
        contimeout 5000
        clitimeout 30000
        srvtimeout 30000

    listen ok {host}:{port}
        balance roundrobin
        server s1 127.0.0.1:{bport} check inter 2000
        server s2 127.0.0.2:{bport} backup
    """

# Each broken config: text with `@@` on the line that must be reported (1-based after dedent).
BROKEN = {
    "unknown-listen-keyword": """
        global
            maxconn 100

        # comments and blank lines count
        listen web 127.0.0.1:{port}
            mode tcp

            no-such-keyword on   @@
            server s1 127.0.0.1:9
        """,
    "unknown-global-keyword": """
        global
            maxconn 100
            frobnicate yes   @@
        listen web 127.0.0.1:{port}
            server s1 127.0.0.1:9
        """,
    "keyword-out-of-section": """
        # nothing opened yet

        mode tcp   @@
        listen web 127.0.0.1:{port}
            server s1 127.0.0.1:9
        """,
    "listen-without-name": """
        global
            maxconn 100
        listen   @@
            mode tcp
        """,
    "contimeout-without-value": """
        listen web 127.0.0.1:{port}
            mode tcp
            contimeout   @@
            server s1 127.0.0.1:9
        """,
    "unknown-mode": """
        listen web 127.0.0.1:{port}
            clitimeout 1000
            mode carrier-pigeon   @@
            server s1 127.0.0.1:9
        """,
    "unknown-balance": """
        listen web 127.0.0.1:{port}
            mode tcp
            balance fanciest   @@
            server s1 127.0.0.1:9
        """,
    "server-without-address": """
        listen web 127.0.0.1:{port}
            mode tcp
            balance roundrobin
            server s1   @@
        """,
    "cookie-without-name": """
        listen web 127.0.0.1:{port}
            mode http
            cookie   @@
            server s1 127.0.0.1:9
        """,
    "unknown-log-facility": """
        global
            log 127.0.0.1 notafacility   @@
        listen web 127.0.0.1:{port}
            server s1 127.0.0.1:9
        """,
}


def _broken_config(text: str, port: int) -> tuple[str, int]:
    rendered = render_config(text, port=port)
    lines = rendered.splitlines()
    line_no = next(i for i, line in enumerate(lines, 1) if "@@" in line)
    return "\n".join(line.replace("@@", "").rstrip() for line in lines) + "\n", line_no


def test_check_valid_config_exits_0(proxy, tmp_path):
    cfg = tmp_path / "valid.cfg"
    cfg.write_text(render_config(VALID, host=HOST, port=free_port(), bport=free_port()))
    done = proxy.run(["-c", "-f", str(cfg)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[ALERT]" not in done.stderr


def test_check_does_not_bind(proxy, tmp_path):
    """-c only parses: it succeeds even when the configured port is taken."""
    port = free_port()
    busy = socket.socket()
    busy.bind((HOST, port))
    busy.listen(1)
    try:
        cfg = tmp_path / "valid.cfg"
        cfg.write_text(render_config(VALID, host=HOST, port=port, bport=free_port()))
        done = proxy.run(["-c", "-f", str(cfg)])
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        busy.close()


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_check_broken_config_names_the_line(proxy, tmp_path, case):
    text, line_no = _broken_config(BROKEN[case], free_port())
    cfg = tmp_path / f"{case}.cfg"
    cfg.write_text(text)
    done = proxy.run(["-c", "-f", str(cfg)])
    assert done.returncode == 1, f"rc={done.returncode}\n{done.stdout}{done.stderr}"
    found = re.findall(r"\[ALERT\].*?parsing \[([^\]]+):(\d+)\]", done.stderr)
    assert found, f"no '[ALERT] ... parsing [file:line]' on stderr:\n{done.stderr}"
    files_lines = {(os.path.basename(f), int(n)) for f, n in found}
    assert (cfg.name, line_no) in files_lines, f"expected line {line_no}, got:\n{done.stderr}"


def test_daemon_start_on_busy_port_fails_without_pidfile(proxy, tmp_path, tcp_echo_backend):
    backend = tcp_echo_backend()
    port = free_port()
    busy = socket.socket()
    busy.bind((HOST, port))
    busy.listen(1)
    pidfile = tmp_path / "busy.pid"
    try:
        cfg = tmp_path / "busy.cfg"
        cfg.write_text(render_config(VALID, host=HOST, port=port, bport=backend.port))
        done = proxy.run(["-D", "-p", str(pidfile), "-f", str(cfg)], timeout=30)
        assert done.returncode == 1, f"rc={done.returncode}\n{done.stdout}{done.stderr}"
        assert not pidfile.exists(), "a pidfile was left although the start failed"
        # nothing of the failed start keeps running
        wait_until(lambda: not proxy.tagged_processes(), timeout=10,
                   message="every process of the failed start to exit")
    finally:
        busy.close()


def test_daemon_returns_only_once_port_accepts(proxy, tmp_path, tcp_echo_backend):
    """`-D` exits 0 only when the service is up: a connect right after it returns succeeds."""
    backend = tcp_echo_backend()
    for round_ in range(3):
        port = free_port()
        pidfile = tmp_path / f"d{round_}.pid"
        cfg = tmp_path / f"d{round_}.cfg"
        cfg.write_text(render_config(VALID, host=HOST, port=port, bport=backend.port))
        done = proxy.run(["-D", "-p", str(pidfile), "-f", str(cfg)], timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        # no wait at all between the command returning and this connect
        assert echo_roundtrip(HOST, port, b"up?\n") == b"up?\n"
        pid = read_pidfile(pidfile)
        assert pid is not None, "no pid in the pidfile"
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda p=pid: not _running(p), timeout=15, message=f"master {pid} to stop")


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1].split()[0] != "Z"
    except OSError:
        return False
