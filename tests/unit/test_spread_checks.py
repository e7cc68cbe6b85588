"""`spread-checks N` (2.6's check.c): each next check is `inter` plus a random amount within
+/- N % of it; `max-spread-checks T` caps the spreading of a proxy's first checks. Bounds only,
no clock: the checker's schedule is read, not waited for."""

from __future__ import annotations

import pytest

from pyhaproxy.checks import HealthChecker
from pyhaproxy.config.lexer import ConfigError
from pyhaproxy.config.model import Config, Global, Proxy, Server
from pyhaproxy.config.parser import parse_text
from pyhaproxy.shm import create_shm
from tests.unit.test_checks import ListLog


def _checker(spread: int, max_spread: int = 0, nsrv: int = 1) -> HealthChecker:
    servers = [Server(name=f"s{i}", host="127.0.0.1", port=1 + i, check=True, inter=1000)
               for i in range(nsrv)]
    cfg = Config(global_=Global(spread_checks=spread, max_spread_checks=max_spread),
                 proxies=[Proxy(name="px", servers=servers)])
    return HealthChecker(cfg, create_shm(cfg, 1), ListLog())


def test_no_spread_is_exactly_inter() -> None:
    chk = _checker(0)
    t = chk._targets[0]
    chk._reschedule(t, 100.0, 100.0)
    assert t.next_start == pytest.approx(101.0)


def test_spread_stays_within_n_percent_either_way() -> None:
    chk = _checker(20)
    t = chk._targets[0]
    seen = set()
    for _ in range(300):
        chk._reschedule(t, 100.0, 100.0)
        assert 100.8 - 1e-9 <= t.next_start <= 101.2 + 1e-9
        seen.add(round(t.next_start, 4))
    assert len(seen) > 10 and min(seen) < 100.95 and max(seen) > 101.05


def test_max_spread_checks_caps_the_first_checks() -> None:
    chk = _checker(0, max_spread=200, nsrv=4)
    firsts = sorted(t.next_start for t in chk._targets)
    # inter + min(mininter, max-spread-checks) * pos / n: 0, 50, 100, 150 ms apart
    assert firsts[-1] - firsts[0] == pytest.approx(0.15, abs=0.01)


def test_parsing() -> None:
    cfg = parse_text("global\n    spread-checks 5\n    spread-checks 7\n    max-spread-checks 2s\n",
                     allow_empty=True)
    assert cfg.global_.spread_checks == 5 and cfg.global_.max_spread_checks == 2000
    assert any("spread-checks already specified. Continuing." in w for w in cfg.warnings)
    with pytest.raises(ConfigError, match=r"'spread-checks' needs a positive value in range 0\.\.50\."):
        parse_text("global\n    spread-checks 51\n", allow_empty=True)
    with pytest.raises(ConfigError, match=r"'spread-checks' expects an integer argument \(0\.\.50\)\."):
        parse_text("global\n    spread-checks\n", allow_empty=True)
