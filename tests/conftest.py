"""Shared pytest fixtures for the whole pyhaproxy test suite.

Fixtures (all clean up after themselves):

- `free_port` / `free_ports`: the helper functions themselves (`free_port()`, `free_ports(3)`,
  optional host= and also_free_on=["127.0.0.2"]); also importable from tests.helpers.
- `write_config(text, name=None, **values)`: dedent + substitute `{name}` placeholders, write into
  tmp_path, return the Path.
- Backend factories; each call starts a new server and returns it (already listening):
    `tcp_echo_backend(host="127.0.0.1", port=0, banner=b"")`          -> EchoServer
    `tcp_backend(kind="echo"|"silent"|"eof_reply", host=, port=, **kw)` -> records `.peers`
    `data_backend(down_bytes=1 MiB, up_bytes=1 MiB, host=, port=)`    -> DataServer
    `http_backend(host=, port=, keepalive=True, response=, responder=)` -> HttpServer
  Every server records the (ip, port) of each accepted connection in `.peers`; stop() / start()
  restart it on the same port. All are stopped in teardown.
- `syslog`: (Syslog, port): a UDP syslog receiver on 127.0.0.1 (tests/helpers/syslog.py) collecting
  the session log lines; a module may define its own `syslog` fixture instead.
- `proxy`: a ProxyLauncher (tests/helpers/proxy.py). `proxy.start(cfg_text, daemon=False, **ports)`
  runs `python -m pyhaproxy -f cfg -db` (or `-D -p pidfile`), waits for its listeners, returns a
  ProxyProcess with `.pid`, `.master_pid`, `.signal()`, `.wait_exit()`, `.stderr_text()`,
  `.worker_pids()`. `proxy.run(args)` runs a command to completion; `proxy.run_shell(script)`
  runs bash with a `haproxy` wrapper first on PATH. Teardown kills every process started, by PID
  (tree collected with psutil first; SIGTERM, then SIGKILL after a grace period). When a test
  fails, the outputs of everything it started are attached to its report.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import net
from tests.helpers.proxy import ProxyLauncher, render_config
from tests.helpers.servers import DataServer, EchoServer, EofReplyServer, HttpServer, SilentServer, TcpServer
from tests.helpers.syslog import Syslog

_LAUNCHER_KEY = pytest.StashKey[ProxyLauncher]()

# The tier of a test is the directory it lives in (markers registered in pyproject.toml).
_TIERS = ("unit", "e2e", "scenarios", "robustness", "ha", "vtc")
_TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier, from its path: tests/unit/... -> @pytest.mark.unit."""
    for item in items:
        try:
            rel = item.path.resolve().relative_to(_TESTS_DIR)
        except ValueError:
            continue
        if len(rel.parts) > 1 and rel.parts[0] in _TIERS:
            item.add_marker(getattr(pytest.mark, rel.parts[0]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the output of every pyhaproxy process a failed test started to its report."""
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.when in ("setup", "call") and rep.failed:
        launcher = item.stash.get(_LAUNCHER_KEY, None)
        if launcher is not None:
            for title, text in launcher.report_sections():
                rep.sections.append((f"pyhaproxy: {title}", text))


@pytest.fixture
def free_port() -> Callable[..., int]:
    """The free_port(host="127.0.0.1", also_free_on=()) helper."""
    return net.free_port


@pytest.fixture
def free_ports() -> Callable[..., list[int]]:
    """The free_ports(n, host="127.0.0.1", also_free_on=()) helper."""
    return net.free_ports


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """write_config(text, name=None, **values) -> Path of the written config in tmp_path."""
    counter = [0]

    def write(text: str, name: str | None = None, **values: Any) -> Path:
        counter[0] += 1
        path = tmp_path / (name or f"config{counter[0]}.cfg")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_config(text, **values))
        return path

    return write


@pytest.fixture
def _servers() -> Iterator[list[TcpServer]]:
    """Registry of every backend server started by the factories; all stopped in teardown."""
    servers: list[TcpServer] = []
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture
def tcp_echo_backend(_servers: list[TcpServer]) -> Callable[..., EchoServer]:
    """Factory: tcp_echo_backend(host="127.0.0.1", port=0, banner=b"", name=None) -> EchoServer."""

    def make(host: str = net.LOCALHOST, port: int = 0, banner: bytes = b"",
             name: str | None = None) -> EchoServer:
        s = EchoServer(host, port, name, banner=banner)
        _servers.append(s)
        s.start()
        return s

    return make


@pytest.fixture
def tcp_backend(_servers: list[TcpServer]) -> Callable[..., TcpServer]:
    """Factory: tcp_backend(kind="echo", host="127.0.0.1", port=0, **kw) -> TcpServer.

    kind: "echo" (EchoServer, kw: banner), "silent" (SilentServer: accepts, never answers),
    "eof_reply" (EofReplyServer, kw: reply_size, reply_for). All record `.peers`, e.g. to check
    the source address the proxy used: `server.peer_hosts() == ["127.0.0.11", ...]`.
    """
    kinds: dict[str, type[TcpServer]] = {"echo": EchoServer, "silent": SilentServer,
                                         "eof_reply": EofReplyServer}

    def make(kind: str = "echo", host: str = net.LOCALHOST, port: int = 0, **kw: Any) -> TcpServer:
        s = kinds[kind](host, port, **kw)
        _servers.append(s)
        s.start()
        return s

    return make


@pytest.fixture
def data_backend(_servers: list[TcpServer]) -> Callable[..., DataServer]:
    """Factory: data_backend(down_bytes=1 MiB, up_bytes=1 MiB, host=, port=) -> DataServer.

    Pair with tests.helpers.data_exchange(host, port, seed, down_bytes, up_bytes) on the client.
    """

    def make(down_bytes: int = 1 << 20, up_bytes: int = 1 << 20, host: str = net.LOCALHOST,
             port: int = 0, name: str | None = None) -> DataServer:
        s = DataServer(host, port, name, down_bytes=down_bytes, up_bytes=up_bytes)
        _servers.append(s)
        s.start()
        return s

    return make


@pytest.fixture
def http_backend(_servers: list[TcpServer]) -> Callable[..., HttpServer]:
    """Factory: http_backend(host="127.0.0.1", port=0, name=None, keepalive=True,
    response=HttpResponse(...), responder=callable) -> HttpServer (see tests/helpers/servers.py)."""

    def make(host: str = net.LOCALHOST, port: int = 0, name: str | None = None, **kw: Any) -> HttpServer:
        s = HttpServer(host, port, name, **kw)
        _servers.append(s)
        s.start()
        return s

    return make


@pytest.fixture
def proxy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProxyLauncher]:
    """pyhaproxy launcher; everything it started is killed by PID in teardown."""
    launcher = ProxyLauncher(tmp_path)
    request.node.stash[_LAUNCHER_KEY] = launcher
    try:
        yield launcher
    finally:
        launcher.cleanup()


@pytest.fixture
def syslog() -> Iterator[tuple[Syslog, int]]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((net.LOCALHOST, 0))
    try:
        yield Syslog(s), s.getsockname()[1]
    finally:
        s.close()
