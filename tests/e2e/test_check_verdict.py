"""`-c`'s last words and exit code, through pyhaproxy and haproxy 2.6 alike: "Configuration file
is valid" (exit 0), "Warnings were found." before it when a warning was printed, and exit 2 with
2.6's sentence when nothing would listen (src/haproxy.c, MODE_CHECK); nothing on stdout with -q.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_port, render_config

pytestmark = pytest.mark.timeout(60)

BASE = """
    defaults
        mode tcp
        timeout connect 5s
        timeout client 5s
        timeout server 5s
"""
LISTEN = """
    listen a
        bind 127.0.0.1:{port}
        {extra}
        server s1 127.0.0.1:{bport}
"""
BACKEND_ONLY = """
    backend b
        server s1 127.0.0.1:{bport}
"""


def check(proxy: Any, tmp_path: Path, text: str, *flags: str) -> tuple[int, str]:
    cfg = tmp_path / "check.cfg"
    cfg.write_text(render_config(BASE + text, port=free_port(), bport=free_port(), extra=""))
    done = proxy.run([*flags, "-c", "-f", str(cfg)])
    return done.returncode, done.stdout


def test_valid(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    assert check(proxy, tmp_path, LISTEN) == (0, "Configuration file is valid\n")


def test_warnings_are_announced(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    # (`bind-process` is one warning both print: 2.6's deprecation)
    text = LISTEN.replace("{extra}", "bind-process 1")
    assert check(proxy, tmp_path, text) == (0, "Warnings were found.\nConfiguration file is valid\n")


def test_a_log_format_with_no_log_address_is_a_warning(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    text = LISTEN.replace("{extra}", "option tcplog")
    assert check(proxy, tmp_path, text) == (0, "Warnings were found.\nConfiguration file is valid\n")
    text = LISTEN.replace("{extra}", "option tcplog\n        log 127.0.0.1:514 local0")
    assert check(proxy, tmp_path, text) == (0, "Configuration file is valid\n")


MISSING_TIMEOUTS = [
    # (a listen with none: 2.6 calls it a 'proxy')
    ("listen a\n bind 127.0.0.1:{port}\n mode tcp\n server s1 127.0.0.1:{bport}", ["proxy 'a'"]),
    # (a TCP backend: `timeout tunnel` stands for `timeout server`; an HTTP one needs the latter)
    ("frontend f\n bind 127.0.0.1:{port}\n mode tcp\n default_backend b\n"
     "backend b\n mode tcp\n timeout connect 1s\n timeout tunnel 1s\n server s1 127.0.0.1:{bport}",
     ["frontend 'f'"]),
    ("frontend f\n bind 127.0.0.1:{port}\n mode http\n timeout client 1s\n default_backend b\n"
     "backend b\n mode http\n timeout connect 1s\n timeout tunnel 1s\n server s1 127.0.0.1:{bport}\n"
     "backend unused\n mode http", ["backend 'b'"]),
]


@pytest.mark.parametrize("text, named", MISSING_TIMEOUTS)
def test_missing_timeouts_are_a_warning(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                        text: str, named: list[str]) -> None:
    """2.6's 'missing timeouts for ...' warning: a frontend without `timeout client`, a backend
    with servers without `timeout connect` or `timeout server` (in TCP mode `timeout tunnel`
    will do); a backend with no server needs none."""
    cfg = tmp_path / "check.cfg"
    cfg.write_text(render_config(text + "\n", port=free_port(), bport=free_port()))
    done = proxy.run(["-c", "-f", str(cfg)])
    found = re.findall(r"missing timeouts for (\w+ '\w+')", done.stderr)
    assert (done.returncode, found) == (0, named), done.stderr
    assert done.stdout.startswith("Warnings were found.\n")


def test_no_listener_exits_2(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    assert check(proxy, tmp_path, BACKEND_ONLY) == (
        2, "Configuration file has no error but will not start (no listener) => exit(2).\n")


def test_a_stats_socket_is_a_listener(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    # (Debian's default haproxy.cfg has no proxy, only `stats socket` in `global`: valid)
    sock = tmp_path / "admin.sock"
    text = f"""
    global
        stats socket {sock} mode 600 level admin
""" + BASE + BACKEND_ONLY
    cfg = tmp_path / "check.cfg"
    cfg.write_text(render_config(text, bport=free_port()))
    done = proxy.run(["-c", "-f", str(cfg)])
    assert (done.returncode, done.stdout) == (0, "Configuration file is valid\n")


@pytest.mark.parametrize("text", [LISTEN, LISTEN.replace("{extra}", "bind-process 1"), BACKEND_ONLY],
                         ids=["valid", "warning", "no-listener"])
def test_quiet_says_nothing(proxy: Any, binary: str, tmp_path: Path, text: str) -> None:  # noqa: F811
    code, out = check(proxy, tmp_path, text, "-q")
    assert out == "" and code == (2 if text is BACKEND_ONLY else 0)


@pytest.mark.parametrize("text, line, column", [
    ("defaults\n    mode http\n    timeout client 5s", 3, 22),
    ("defaults", 1, 9),
])
def test_a_last_line_without_lf_is_refused(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                           text: str, line: int, column: int) -> None:
    """2.6 refuses a file whose last line has no LF (it may have been cut short): exit 1 with
    the line and the column after its last byte."""
    cfg = tmp_path / "cut.cfg"
    cfg.write_text(text)
    done = proxy.run(["-c", "-f", str(cfg)])
    assert done.returncode == 1, done.stderr
    assert (f"parsing [{cfg}:{line}]: Missing LF on last line, file might have been truncated at "
            f"position {column}.") in done.stderr, done.stderr
