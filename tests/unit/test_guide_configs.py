"""Every configuration of the architecture guide
(https://github.com/haproxy/haproxy/blob/v1.2.14/doc/architecture.txt) parses.

The configurations are copied from the guide with addresses moved into 127.0.0.0/8:
192.168.A.B -> 127.0.A.B and 10.A.B.C -> 127.A.B.C.
"""

from __future__ import annotations

import re

import pytest

from pyhaproxy.config import parse_text

GUIDE_CONFIGS = [
    # architecture.txt line 53
    """\
listen webfarm 127.0.1.1:80
   mode http
   balance roundrobin
   cookie SERVERID insert indirect
   option httpchk HEAD /index.html HTTP/1.0
   server webA 127.0.1.11:80 cookie A check
   server webB 127.0.1.12:80 cookie B check
   server webC 127.0.1.13:80 cookie C check
   server webD 127.0.1.14:80 cookie D check
""",
    # architecture.txt line 174
    """\
listen webfarm 127.0.1.1:80
   mode http
   balance roundrobin
   cookie JSESSIONID prefix
   option httpclose
   option forwardfor
   option httpchk HEAD /index.html HTTP/1.0
   server webA 127.0.1.11:80 cookie A check
   server webB 127.0.1.12:80 cookie B check
   server webC 127.0.1.13:80 cookie C check
   server webD 127.0.1.14:80 cookie D check
""",
    # architecture.txt line 270
    """\
listen webfarm 0.0.0.0:80
   mode http
   balance roundrobin
   cookie JSESSIONID prefix
   option httpclose
   option forwardfor
   option httplog
   option dontlognull
   option httpchk HEAD /index.html HTTP/1.0
   server webA 127.0.1.11:80 cookie A check
   server webB 127.0.1.12:80 cookie B check
   server webC 127.0.1.13:80 cookie C check
   server webD 127.0.1.14:80 cookie D check
""",
    # architecture.txt line 351
    """\
listen tse-proxy
   bind :3389,:1494,:5900  # TSE, ICA and VNC at once.
   mode tcp
   balance roundrobin
   server tse-farm 127.0.1.10
   monitor-net 127.0.1.252/31
""",
    # architecture.txt line 438
    """\
listen 127.0.0.1:8000
   mode http
   balance roundrobin
   cookie SERVERID insert indirect nocache
   option httpchk HEAD /index.html HTTP/1.0
   server webA 127.0.1.11:80 cookie A check
   server webB 127.0.1.12:80 cookie B check
   server webC 127.0.1.13:80 cookie C check
   server webD 127.0.1.14:80 cookie D check
""",
    # architecture.txt line 524
    """\
listen 127.0.1.1:80
   mode http
   balance roundrobin
   cookie SERVERID insert indirect
   option httpchk HEAD /running HTTP/1.0
   server webA 127.0.1.11:80 cookie A check inter 2000 rise 2 fall 2
   server webB 127.0.1.12:80 cookie B check inter 2000 rise 2 fall 2
   server webC 127.0.1.13:80 cookie C check inter 2000 rise 2 fall 2
   server webD 127.0.1.14:80 cookie D check inter 2000 rise 2 fall 2
   option persist
   redispatch
   contimeout 5000
""",
    # architecture.txt line 583
    """\
listen 127.0.1.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SERVERID insert indirect
   option httpchk HEAD / HTTP/1.0
   server webA 127.0.1.11:80 cookie A check port 81 inter 2000
   server webB 127.0.1.12:80 cookie B check port 81 inter 2000
   server webC 127.0.1.13:80 cookie C check port 81 inter 2000
   server webD 127.0.1.14:80 cookie D check port 81 inter 2000

   server bkpA 127.0.1.11:80 cookie A check port 80 inter 2000 backup
   server bkpB 127.0.1.12:80 cookie B check port 80 inter 2000 backup
   server bkpC 127.0.1.13:80 cookie C check port 80 inter 2000 backup
   server bkpD 127.0.1.14:80 cookie D check port 80 inter 2000 backup
""",
    # architecture.txt line 655
    """\
global
    daemon
    quiet
    pidfile /var/run/haproxy-checks.pid
listen 0.0.0.0:81
    mode tcp
    dispatch 127.0.0.1:80
    contimeout 1000
    clitimeout 10000
    srvtimeout 10000
""",
    # architecture.txt line 899
    """\
listen 127.0.1.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SITE
   option httpchk HEAD / HTTP/1.0
   server SD1 127.1.1.1:80 cookie SITE1 check inter 30000
   server SD2 127.2.1.1:80 cookie SITE2 check inter 60000 backup
""",
    # architecture.txt line 912
    """\
listen 127.0.2.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SITE
   option httpchk HEAD / HTTP/1.0
   server SD1 127.1.1.1:80 cookie SITE1 check inter 30000
   server SD2 127.2.1.1:80 cookie SITE2 check inter 60000 backup
""",
    # architecture.txt line 925
    """\
listen 127.0.3.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SITE
   option httpchk HEAD / HTTP/1.0
   server SD2 127.2.1.1:80 cookie SITE2 check inter 30000
   server SD1 127.1.1.1:80 cookie SITE1 check inter 60000 backup
""",
    # architecture.txt line 961
    """\
listen 127.1.1.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SITE insert indirect
   option httpchk HEAD / HTTP/1.0
   option forwardfor
   server S1L1 127.1.1.11:80 cookie SITE1 check port 81 inter 4000
   server S1L2 127.1.1.12:80 cookie SITE1 check port 81 inter 4000
   server S2L1 127.2.1.11:80 cookie SITE2 check port 81 inter 8000 backup
   server S2L2 127.2.1.12:80 cookie SITE2 check port 81 inter 8000 backup
""",
    # architecture.txt line 976
    """\
listen 127.2.1.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SITE insert indirect
   option httpchk HEAD / HTTP/1.0
   option forwardfor
   server S2L1 127.2.1.11:80 cookie SITE2 check port 81 inter 4000
   server S2L2 127.2.1.12:80 cookie SITE2 check port 81 inter 4000
   server S1L1 127.1.1.11:80 cookie SITE1 check port 81 inter 8000 backup
   server S1L2 127.1.1.12:80 cookie SITE1 check port 81 inter 8000 backup
""",
    # architecture.txt line 1016
    """\
listen 127.1.1.11:80 # 127.1.1.12:80 for S1L2
   grace 20000  # don't kill us until 20 seconds have elapsed
   mode http
   balance roundrobin
   cookie JSESSIONID prefix
   option httpclose
   option forwardfor
   option httpchk HEAD / HTTP/1.0
   server W11 127.1.2.1:80 cookie W11 check port 81 inter 2000
   server W12 127.1.2.2:80 cookie W12 check port 81 inter 2000
   server W13 127.1.2.3:80 cookie W13 check port 81 inter 2000
   server W14 127.1.2.4:80 cookie W14 check port 81 inter 2000

   server B11 127.1.2.1:80 cookie W11 check port 80 inter 4000 backup
   server B12 127.1.2.2:80 cookie W12 check port 80 inter 4000 backup
   server B13 127.1.2.3:80 cookie W13 check port 80 inter 4000 backup
   server B14 127.1.2.4:80 cookie W14 check port 80 inter 4000 backup

listen 127.1.1.11:81 # 127.1.1.12:81 for S1L2
   mode tcp
   dispatch 127.1.1.11:80  # 127.1.1.12:80 for S1L2
""",
    # architecture.txt line 1042
    """\
listen 127.2.1.11:80 # 127.2.1.12:80 for S2L2
   grace 20000  # don't kill us until 20 seconds have elapsed
   mode http
   balance roundrobin
   cookie JSESSIONID prefix
   option httpclose
   option forwardfor
   option httpchk HEAD / HTTP/1.0
   server W21 127.2.2.1:80 cookie W21 check port 81 inter 2000
   server W22 127.2.2.2:80 cookie W22 check port 81 inter 2000
   server W23 127.2.2.3:80 cookie W23 check port 81 inter 2000
   server W24 127.2.2.4:80 cookie W24 check port 81 inter 2000

   server B21 127.2.2.1:80 cookie W21 check port 80 inter 4000 backup
   server B22 127.2.2.2:80 cookie W22 check port 80 inter 4000 backup
   server B23 127.2.2.3:80 cookie W23 check port 80 inter 4000 backup
   server B24 127.2.2.4:80 cookie W24 check port 80 inter 4000 backup

listen 127.2.1.11:81 # 127.2.1.12:81 for S2L2
   mode tcp
   dispatch 127.2.1.11:80  # 127.2.1.12:80 for S2L2
""",
    # architecture.txt line 1115
    """\
listen 0.0.0.0:80
   mode tcp
   balance roundrobin
   server from1to1 127.1.1.1:80 source 127.1.2.1
   server from2to1 127.1.1.1:80 source 127.1.2.2
   server from3to1 127.1.1.1:80 source 127.1.2.3
   server from4to1 127.1.1.1:80 source 127.1.2.4
   server from5to1 127.1.1.1:80 source 127.1.2.5
   server from6to1 127.1.1.1:80 source 127.1.2.6
   server from7to1 127.1.1.1:80 source 127.1.2.7
   server from8to1 127.1.1.1:80 source 127.1.2.8
""",
]


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
