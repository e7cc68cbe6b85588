"""`peers` sections, `localpeer` and `-L` under `-c`: what haproxy 2.6 accepts, warns about and
refuses, with its messages. Differential: the same cases pass under
`PYHAPROXY_CMD=/usr/sbin/haproxy`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers.proxy import base_command

pytestmark = pytest.mark.timeout(60)

TAIL = """
defaults
    timeout client 1s
    timeout server 1s
    timeout connect 1s
listen fe
    bind 127.0.0.1:8
    server s 127.0.0.1:9
"""


def _check(tmp_path: Path, text: str, *extra: str) -> tuple[int, str]:
    cfg = tmp_path / "c.cfg"
    cfg.write_text(text + TAIL)
    p = subprocess.run([*base_command(), "-c", "-f", str(cfg), *extra], capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize(
    "lines,message",
    [
        (["peers"], "parsing [{f}:1] : missing name for peers section."),
        (["peers a b"], "parsing [{f}:1] : 'peers' cannot handle unexpected argument 'b'."),
        (["peers a", "peer me 127.0.0.1:1", "bind 127.0.0.1:2"],
         'parsing [{f}:3] : mixing "peer" and "bind" line is forbidden'),
        (["peers a", "bind 127.0.0.1:2", "peer x 127.0.0.1:3"],
         'parsing [{f}:3] : mixing "peer" and "bind" line is forbidden'),
        (["peers a", "peer me 127.0.0.1"], "parsing [{f}:2] : 'peer me' : missing port specification in "
                                          "'127.0.0.1'"),
        (["peers a", "peer me 127.0.0.1:1", "peer me 127.0.0.1:2"],
         "parsing [{f}:3] : 'peer me' : local peer name already referenced at {f}:2. me"),
        (["peers a", "foo"], "parsing [{f}:2] : unknown keyword 'foo' in 'peers' section"),
        # (2.6 leaves out "parsing " in this one)
        (["peers a", "peer me 127.0.0.1:1", "peer x nosuchhost.invalid:1000"],
         "[{f}:3] : 'server me/x' : invalid address: 'nosuchhost.invalid' in 'nosuchhost.invalid:1000'"),
        (["peers a", "peer me 127.0.0.1:1", "table t type ip"], "parsing [{f}:3] : table: missing size."),
        (["peers a", "peer me 127.0.0.1:1", "table t size 1k"], "parsing [{f}:3] : table: missing type."),
        (["peers a", "peer me 127.0.0.1:1", "table t type foo size 1k"],
         "parsing [{f}:3] : table: unknown type 'foo'."),
        (["peers a", "peer me 127.0.0.1:1", "table t type ip size 1k store foo"],
         "parsing [{f}:3] : table: unknown store option 'foo'."),
        (["peers a", "peer me 127.0.0.1:1", "table t type ip size 1k store http_req_rate"],
         "parsing [{f}:3] : table: missing argument to store option 'http_req_rate'."),
        (["peers a", "peer me 127.0.0.1:1", "table t type ip size 1k store gpc0(1)"],
         "parsing [{f}:3] : table: unexpected argument to store option 'gpc0'."),
        (["peers a", "peer me 127.0.0.1:1", "table t type ip size 1k foo"],
         "parsing [{f}:3] : table: unknown argument 'foo'."),
        (["peers a", "peer x 127.0.0.1:1", "peers a"],
         # (2.6 writes this one "Parsing [F:L]: ", pyhaproxy its usual "parsing [F:L] : ")
         "peers section 'a' has the same name as another peers section declared at {f}:1."),
    ],
)  # fmt: skip
def test_refused(tmp_path: Path, lines: list[str], message: str) -> None:
    rc, out = _check(tmp_path, "\n".join(lines), "-L", "me")
    assert rc == 1, out
    assert message.format(f=tmp_path / "c.cfg") in out


@pytest.mark.parametrize(
    "lines",
    [
        ["peers a", "peer me 127.0.0.1:10001", "peer other 127.0.0.2:10001"],
        ["peers a", "bind 127.0.0.1:10001", "server me", "server other 127.0.0.2:10001"],
        ["peers a", "peer me 127.0.0.1:10001", "table t type string len 20 size 10k expire 5m "
         "store gpc0,http_req_rate(10s),conn_cnt nopurge"],
        ["peers a", "disabled", "peer me 127.0.0.1:10001"],
    ],
)  # fmt: skip
def test_accepted(tmp_path: Path, lines: list[str]) -> None:
    rc, out = _check(tmp_path, "\n".join(lines), "-L", "me")
    assert rc == 0, out
    assert "WARNING" not in out, out


def test_no_local_peer_removes_the_section(tmp_path: Path) -> None:
    rc, out = _check(tmp_path, "peers a\npeer x 127.0.0.1:1", "-L", "me")
    assert rc == 0
    assert "Removing incomplete section 'peers a' (no peer named 'me')." in out


def test_localpeer_global_and_command_line(tmp_path: Path) -> None:
    text = "global\n    localpeer me\npeers a\npeer me 127.0.0.1:1"
    rc, out = _check(tmp_path, text)
    assert rc == 0 and "WARNING" not in out, out
    rc, out = _check(tmp_path, text, "-L", "other")
    assert rc == 0
    assert "'localpeer' ignored since it is already set by using the '-L' command line argument." in out
    assert "Removing incomplete section 'peers a' (no peer named 'other')." in out
    rc, out = _check(tmp_path, "peers a\npeer me 127.0.0.1:1\nglobal\n    localpeer me")
    assert "'localpeer' ignored since it is used after 'peers' section." in out
