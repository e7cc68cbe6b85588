"""`agent-check` (server `agent-check agent-port N agent-inter T [agent-addr A] [agent-send S]`),
against both binaries: an agent started here answers one line per connection, changed by the
test step by step, and the server's state and weight follow as 2.6 makes them: `down # why`
puts it DOWN ("DOWN (agent)" in show stat, "via agent : down (why)" in the message), `up 50%`
brings it back at half its weight, `maint`/`ready`/`drain` change its administrative state with
2.6's messages, a word it does not know is "agent reports an error", `stopped`/`fail` are down;
`show servers state` carries the drain/maintenance flags and the agent's state and port.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers.net import free_port, show_stat, stats_command, wait_until
from tests.helpers.proxy import base_command

pytestmark = pytest.mark.timeout(120)


class Agent:
    """Answers `self.reply` to each connection (after reading what agent-send sent, if any)."""

    def __init__(self, expect: bytes = b"") -> None:
        self.reply = b"up\n"
        self.expect = expect
        self.got: list[bytes] = []
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        for _ in range(100000):
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            try:
                conn.settimeout(3)
                if self.expect:
                    self.got.append(conn.recv(4096))
                conn.sendall(self.reply)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self.lsock.close()


class Sink:
    """A plain TCP server: says its name to each connection and closes (the health check gets
    it too)."""

    def __init__(self, name: bytes = b"") -> None:
        self.name = name
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        for _ in range(100000):
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            try:
                conn.sendall(self.name)
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.lsock.close()


def served_by(port: int, n: int = 8) -> set[bytes]:
    """Which servers answer n connections through the proxy."""
    names = set()
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            data = b""
            for _ in range(10):
                chunk = c.recv(100)
                if not chunk:
                    break
                data += chunk
            names.add(data)
    return names


CFG = """
global
    stats socket {sock} level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen agents
    bind 127.0.0.1:{port}
    default-server inter 300 rise 1 fall 1 weight 100
    server s1 127.0.0.1:{web} check agent-check agent-port {agent} agent-inter 150 agent-send hello\\n
    server s2 127.0.0.1:{web2}
"""

# agent's line -> (show stat's status, weight, agent_status, agent_health), the stderr line
STEPS: list[tuple[bytes, tuple[str, str, str, str], str]] = [
    (b"up\n", ("UP", "100", "L7OK", "1"), ""),
    (b"down # disk full\n", ("DOWN (agent)", "100", "L7STS", "0"),
     'Server agents/s1 is DOWN, reason: Layer7 wrong status, code: 0, info: "via agent : down (disk full)", '
     "check duration: Nms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, "
     "0 remaining in queue."),
    (b"up 50%\n", ("UP", "50", "L7OK", "1"),
     'Server agents/s1 is UP, reason: Layer7 check passed, code: 0, info: "via agent : up", '
     "check duration: Nms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."),
    (b"maint\n", ("MAINT", "50", "CHECKED", "1"),
     "Server agents/s1 is going DOWN for maintenance. 1 active and 0 backup servers left. "
     "0 sessions active, 0 requeued, 0 remaining in queue."),
    (b"ready\n", ("UP", "50", "CHECKED", "1"), "Server agents/s1 is UP/READY (leaving forced maintenance)."),
    (b"drain\n", ("DRAIN (agent)", "50", "CHECKED", "1"),
     "Server agents/s1 enters drain state. 1 active and 0 backup servers online. 0 sessions requeued, "
     "0 total in queue."),
    (b"ready 30%\n", ("UP", "30", "CHECKED", "1"), "Server agents/s1 is UP (leaving forced drain)."),
    (b"stopped\n", ("DOWN (agent)", "30", "L7STS", "0"),
     'Server agents/s1 is DOWN, reason: Layer7 wrong status, code: 0, info: "via agent : stopped", '),
    (b"up\n", ("UP", "30", "L7OK", "1"), 'info: "via agent : up"'),
    (b"fail\n", ("DOWN (agent)", "30", "L7STS", "0"), 'info: "via agent : fail"'),
]


def test_agent_replies_drive_the_server(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    agent, web, web2 = Agent(expect=b"hello\n"), Sink(b"s1"), Sink(b"s2")
    port = free_port()
    try:
        sock = tmp_path / "admin.sock"
        px = proxy.start(CFG, sock=sock, web=web.port, web2=web2.port, agent=agent.port, port=port)
        for reply, (status, weight, agent_status, health), said in STEPS:
            agent.reply = reply

            def row(status: str = status, weight: str = weight, agent_status: str = agent_status,
                    health: str = health) -> dict[str, str] | None:
                r = show_stat(sock)[("agents", "s1")]
                got = (r["status"], r["weight"], r["agent_status"], r["agent_health"])
                return r if got == (status, weight, agent_status, health) else None

            r = wait_until(row, 15, message=f"{binary}: after {reply!r}: {status} {weight} {agent_status}")
            # last_agt: the agent's text ("via agent : down (disk full)"), none for admin words
            text = reply.decode().strip()
            word, _, why = text.partition(" # ")
            last = "" if word.split()[0] in ("maint", "ready", "drain") else \
                f"via agent : {word.split()[0]}" + (f" ({why})" if why else "")
            wait_until(lambda last=last: show_stat(sock)[("agents", "s1")]["last_agt"] == last, 15,
                       message=f"{binary}: last_agt {last!r}")
            assert (r["agent_rise"], r["agent_fall"]) == ("1", "1"), binary
            assert r["agent_code"] == ("0" if agent_status.startswith("L7") else ""), (binary, r)
            if said:
                def seen(said: str = said) -> bool:
                    text = re.sub(r"check duration: \d+ms", "check duration: Nms", px.stderr_text())
                    return said in text
                wait_until(seen, 15, message=f"{binary}: {said}")
            # show servers state: the admin state (FDRAIN for the agent's drain, FMAINT), the
            # weight it keeps, the agent's state (configured, enabled, agent) and port
            # the traffic: s1 takes none while its agent holds it down, drained or in maintenance
            # (20 connections: whatever the workers or threads, s1's turn comes at its weight)
            if status in ("UP", "DOWN (agent)", "DRAIN (agent)", "MAINT"):
                assert served_by(port, 20) == ({b"s1", b"s2"} if status == "UP" else {b"s2"}), (binary, reply)
            f = stats_command(sock, "show servers state agents").splitlines()[2].split()
            admin = {b"maint\n": "1", b"drain\n": "8"}.get(reply, "0")
            assert (f[3], f[6], f[7], f[14], f[-1]) == ("s1", admin, weight, "22", str(agent.port)), \
                (binary, reply, f)
        assert agent.got and agent.got[0] == b"hello\n", (binary, agent.got[:1])
        assert px.alive(), binary
    finally:
        agent.close()
        web.close()
        web2.close()


@pytest.mark.parametrize("options, message", [
    ("agent-check", "server s1 does not have agent port. Agent check has been disabled."),
    ("agent-check agent-port 9999 agent-inter 0", "invalid value 0 for argument 'agent-inter' of server s1."),
    ("agent-check agent-port 9999 agent-send", "'agent-send' expects a string as argument."),
    ("agent-port 9999 agent-addr", "'agent-addr' expects an address as argument."),
])
def test_bad_agent_options(binary: str, tmp_path: Path, options: str, message: str) -> None:  # noqa: F811
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n"
                   f"    timeout server 1s\nbackend b\n    server s1 127.0.0.1:8080 check {options}\n")
    res = subprocess.run([*base_command(), "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 1, (binary, res.stderr)
    assert "[ALERT]" in res.stderr and f"{cfg}:7]" in res.stderr, (binary, res.stderr)
    assert message in res.stderr, (binary, res.stderr)
