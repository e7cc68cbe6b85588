"""`http-reuse never|safe|aggressive|always` (2.6) in the configuration (no sockets).

What the worker receives is checked through `plan_worker`; the messages and the sections are
those `/usr/sbin/haproxy -c` (2.6.12) gives for the same lines. The behaviour of each mode is
tests/e2e/test_http_reuse.py's.
"""

from __future__ import annotations

import pytest

from pyhaproxy import _core
from pyhaproxy.config.lexer import ConfigError
from pyhaproxy.config.parser import parse_text
from pyhaproxy.worker import plan_worker

BAD = "'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'."


def _reuse(text: str) -> dict[str, int]:
    plan = plan_worker(parse_text(text))
    return {pp.px.name: pp.http_reuse for pp in plan.proxies}


def test_default_is_safe() -> None:
    safe = _core.http_reuse.REUSE_SAFE
    assert _reuse("backend b\n    mode http\n    server s 127.0.0.1:9\n") == {"b": safe}


@pytest.mark.parametrize("mode", ["never", "safe", "aggressive", "always"])
def test_each_mode_in_backend_and_listen(mode: str) -> None:
    want = int(_core.http_reuse["REUSE_" + mode.upper()])
    assert _reuse(f"backend b\n    mode http\n    http-reuse {mode}\n"
                  "    server s 127.0.0.1:9\n") == {"b": want}
    assert _reuse(f"listen l\n    mode http\n    bind 127.0.0.1:8\n    http-reuse {mode}\n"
                  "    server s 127.0.0.1:9\n") == {"l": want}


def test_defaults_are_inherited_and_overridden() -> None:
    got = _reuse("defaults\n    mode http\n    http-reuse never\n"
                 "backend a\n    server s 127.0.0.1:9\n"
                 "backend b\n    http-reuse always\n    server s 127.0.0.1:9\n")
    assert got == {"a": _core.http_reuse.REUSE_NEVER, "b": _core.http_reuse.REUSE_ALWAYS}


def test_tcp_mode_accepts_it() -> None:
    """2.6 accepts it in a TCP backend (it has no effect there)."""
    assert _reuse("backend b\n    mode tcp\n    http-reuse always\n    server s 127.0.0.1:9\n") == {
        "b": _core.http_reuse.REUSE_ALWAYS}


def test_frontend_warns_and_ignores() -> None:
    """2.6: a warning naming the line, the configuration valid."""
    c = parse_text("frontend f\n    mode http\n    bind 127.0.0.1:8\n    http-reuse safe\n", "f.cfg")
    assert "parsing [f.cfg:4] : 'http-reuse' ignored because frontend 'f' has no backend capability." in \
        "\n".join(c.warnings)


@pytest.mark.parametrize("section", ["defaults\n", "backend b\n", "listen l\n    bind 127.0.0.1:8\n",
                                     "frontend f\n    bind 127.0.0.1:8\n"])
@pytest.mark.parametrize("line, message", [
    ("http-reuse bogus", BAD),
    ("http-reuse", BAD),
    ("http-reuse SAFE", BAD),                 # (case matters, as in 2.6)
    ("http-reuse safe extra", "'http-reuse safe' cannot handle unexpected argument 'extra'."),
])
def test_bad_values_are_alerts_at_their_line(section: str, line: str, message: str) -> None:
    text = section + "    mode http\n    " + line + "\n"
    with pytest.raises(ConfigError) as ei:
        parse_text(text, "r.cfg")
    assert ei.value.line == text.count("\n")
    assert message in str(ei.value)
