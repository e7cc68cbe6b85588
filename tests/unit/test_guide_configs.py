"""Every configuration of the architecture guide
(https://github.com/haproxy/haproxy/blob/v1.2.14/doc/architecture.txt) parses.

The configurations are copied from the guide with addresses moved into 127.0.0.0/8:
192.168.A.B -> 127.0.A.B and 10.A.B.C -> 127.A.B.C.
"""

from __future__ import annotations

import re

import pytest

from pyhaproxy.config import parse_text
from tests.configs.guide import GUIDE_CONFIGS


@pytest.mark.parametrize("text", GUIDE_CONFIGS, ids=[f"cfg{i}" for i in range(len(GUIDE_CONFIGS))])
def test_guide_config_parses(text: str) -> None:
    cfg = parse_text(text, "guide.cfg")
    assert cfg.proxies
    for px in cfg.proxies:
        assert px.binds
        assert px.servers or px.dispatch
    nameless = [px for px in cfg.proxies if px.name[:1].isdigit()]
    assert len([w for w in cfg.warnings if "has no name" in w]) == len(nameless)


def test_guide_has_eighteen_listen_sections_fourteen_nameless() -> None:
    proxies = [px for text in GUIDE_CONFIGS for px in parse_text(text, "guide.cfg").proxies]
    assert len(proxies) == 18
    nameless = [px for px in proxies if px.name[:1].isdigit()]
    assert len(nameless) == 14
    for px in nameless:
        b = px.binds[0]
        assert px.name.endswith(f":{b.port_lo}")


def test_cookie_insert_config_values() -> None:
    px = parse_text(GUIDE_CONFIGS[0], "g.cfg").proxies[0]
    assert px.name == "webfarm" and px.mode == "http" and px.balance == "roundrobin"
    assert (px.binds[0].host, px.binds[0].port_lo) == ("127.0.1.1", 80)
    assert px.cookie is not None and px.cookie.mode == "insert" and px.cookie.indirect
    assert px.httpchk is not None
    assert (px.httpchk.method, px.httpchk.uri, px.httpchk.version) == ("HEAD", "/index.html", "HTTP/1.0")
    assert [(s.name, s.host, s.port, s.cookie, s.check, s.check_port) for s in px.servers][0] == (
        "webA",
        "127.0.1.11",
        80,
        "A",
        True,
        80,
    )
    assert len(px.servers) == 4


def test_tse_proxy_three_binds_and_monitor_net() -> None:
    px = parse_text(GUIDE_CONFIGS[3], "g.cfg").proxies[0]
    assert px.name == "tse-proxy"
    assert [(b.host, b.port_lo, b.port_hi) for b in px.binds] == [
        ("", 3389, 3389),
        ("", 1494, 1494),
        ("", 5900, 5900),
    ]
    assert px.servers[0].port is None  # same port as the client's
    assert px.monitor_net == [("127.0.1.252", 31)]


def test_backup_servers_and_check_ports() -> None:
    text = next(t for t in GUIDE_CONFIGS if "bkpA" in t)
    px = parse_text(text, "g.cfg").proxies[0]
    assert [s.backup for s in px.servers] == [False] * 4 + [True] * 4
    assert {s.check_port for s in px.servers[:4]} == {81}
    assert {s.check_port for s in px.servers[4:]} == {80}
    assert px.redispatch


def test_global_and_dispatch_config() -> None:
    text = next(t for t in GUIDE_CONFIGS if t.startswith("global"))
    cfg = parse_text(text, "g.cfg")
    g = cfg.global_
    assert g.daemon and g.quiet and g.pidfile == "/var/run/haproxy-checks.pid"
    px = cfg.proxies[0]
    assert px.dispatch == ("127.0.0.1", 80)
    assert (px.contimeout, px.clitimeout, px.srvtimeout) == (1000, 10000, 10000)


def test_grace_and_two_listens() -> None:
    text = next(t for t in GUIDE_CONFIGS if "W11" in t)
    cfg = parse_text(text, "g.cfg")
    assert len(cfg.proxies) == 2
    assert cfg.proxies[0].grace == 20000
    assert len(cfg.proxies[0].servers) == 8
    assert cfg.proxies[1].dispatch == ("127.1.1.11", 80)


def test_source_balancing() -> None:
    px = parse_text(GUIDE_CONFIGS[-1], "g.cfg").proxies[0]
    assert [s.source for s in px.servers] == [f"127.1.2.{i}" for i in range(1, 9)]


def test_all_guide_configs_concatenated() -> None:
    # the guide reuses names (`webfarm`) across its examples; one file needs distinct ones
    # (two proxies of one name are refused, as haproxy 2.6 does)
    count: dict[str, int] = {}

    def rename(m: re.Match[str]) -> str:
        name = m[2]
        count[name] = n = count.get(name, 0) + 1
        if n == 1:
            return m[0]
        # `listen ADDR` (the guide's 1.x shorthand) gets a name in front of its address
        return f"{m[1]} dup{n} {name}" if ":" in name else f"{m[1]} {name}_{n}"

    text = re.sub(r"(?m)^(listen|frontend|backend) +(\S+)", rename, "\n".join(GUIDE_CONFIGS))
    cfg = parse_text(text, "all.cfg")
    assert len(cfg.proxies) == 18
