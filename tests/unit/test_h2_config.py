"""HTTP/2 settings in the configuration: `bind ... proto h2`, `alpn h2`, `tune.h2.*` (no sockets).

What the worker receives is checked through `plan_worker` (the listener flag is passed by
worker.py); the end-to-end behaviour is tests/e2e/test_http2.py's.
"""

from __future__ import annotations

import pytest

from pyhaproxy.config.lexer import ConfigError
from pyhaproxy.config.parser import parse_text
from pyhaproxy.worker import plan_worker

BASE = """
global
{glob}
frontend fe
    mode http
    bind 127.0.0.1:8 {opts}
    default_backend be
backend be
    mode http
    server s 127.0.0.1:9
"""


def cfg(glob: str = "", opts: str = "") -> str:
    return BASE.replace("{glob}", glob).replace("{opts}", opts)


def test_defaults_are_26s() -> None:
    plan = plan_worker(parse_text(cfg()))
    assert plan.h2 == (100, 65535, 4096)


def test_tune_h2_reach_the_worker_without_a_warning() -> None:
    c = parse_text(cfg("    tune.h2.max-concurrent-streams 7\n    tune.h2.initial-window-size 1048576\n"
                       "    tune.h2.header-table-size 0"))
    assert plan_worker(c).h2 == (7, 1048576, 0)
    assert not any("tune.h2" in w for w in c.warnings)
    # the other tune.* lines still say they have no effect
    c = parse_text(cfg("    tune.bufsize 32768"))
    assert any("'tune.bufsize' has no effect" in w for w in c.warnings)


@pytest.mark.parametrize("line, words", [
    ("tune.h2.max-concurrent-streams 0", "between 1 and"),
    ("tune.h2.header-table-size 70000", "between 0 and 65535"),
    ("tune.h2.initial-window-size x", "expects an integer"),
])
def test_bad_tune_h2_values(line: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_text(cfg("    " + line))


def test_proto_h2_is_the_only_mux_protocol() -> None:
    c = parse_text(cfg(opts="proto h2"))
    assert c.proxies[0].binds[0].options["proto"] == "h2"
    with pytest.raises(ConfigError, match="unknown MUX protocol 'fcgi'"):
        parse_text(cfg(opts="proto fcgi"))
    with pytest.raises(ConfigError, match="expects an argument"):
        parse_text(cfg(opts="proto"))


def test_server_proto() -> None:
    """`server ... proto h2` (HTTP/2 towards the server, ext/h2srv.pxi), `proto h1` (the default);
    another MUX protocol, or h2 in a TCP backend, refused by name as 2.6 refuses it."""
    c = parse_text("backend b\n    mode http\n    server s 127.0.0.1:80 proto h2\n"
                   "    server t 127.0.0.1:81 proto h1\n")
    assert [s.proto_h2 for s in c.proxies[0].servers] == [1, 0]
    with pytest.raises(ConfigError, match="unknown MUX protocol 'fcgi'"):
        parse_text("backend b\n    mode http\n    server s 127.0.0.1:80 proto fcgi\n")
    with pytest.raises(ConfigError, match="MUX protocol 'h2' is not usable for server 's'") as ei:
        parse_text("backend b\n    mode tcp\n    server s 127.0.0.1:80 proto h2\n")
    assert ei.value.line == 3
    t = parse_text("backend b\n    mode http\n    server s 127.0.0.1:443 ssl verify none alpn h2,http/1.1\n")
    assert t.proxies[0].servers[0].tls.alpn == ["h2", "http/1.1"]   # type: ignore[union-attr]
