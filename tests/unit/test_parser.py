"""Parser: every HAProxy 1.1/1.2 keyword lands in the model; errors carry file:line."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from pyhaproxy.config import Config, ConfigError, parse_files, parse_text
from pyhaproxy.config.keywords import KEYWORDS
from pyhaproxy.config.model import Proxy
from tests.helpers.cfgwarn import other_warnings

MIN = "listen app 127.0.0.1:8080\n    server s1 127.0.0.2:80\n"


def one(body: str, head: str = "listen app 127.0.0.1:8080\n", tail: str = "") -> Proxy:
    cfg = parse_text(head + body + tail, "t.cfg")
    return cfg.proxies[-1]


def srv_line(opts: str) -> Proxy:
    return one(f"    server s1 127.0.0.2:80 {opts}\n")


# ----------------------------------------------------------------------------- global


def test_global_keywords() -> None:
    cfg = parse_text(
        """\
global
    daemon
    debug
    quiet
    master-worker
    nopoll
    noepoll
    nosepoll
    nokqueue
    maxconn 4000
    nbproc 2
    uid 1000
    gid 1001
    chroot /var/empty
    pidfile /run/h.pid
    ulimit-n 65536
    log 127.0.0.1 local0
    log 127.0.0.2:5140 local3 notice
    tune.maxpollevents 100
    tune.bufsize 32768
    stats socket /run/h.sock mode 600 level admin uid 0 gid 0
    stats timeout 2m
    stats maxconn 5
"""
        + MIN,
        "g.cfg",
    )
    g = cfg.global_
    assert g.daemon and g.debug and g.quiet and g.master_worker
    assert g.nopoll and g.noepoll and g.nosepoll and g.nokqueue
    assert (g.maxconn, g.nbproc, g.uid, g.gid, g.ulimit_n) == (4000, 2, 1000, 1001, 65536)
    assert (g.chroot, g.pidfile) == ("/var/empty", "/run/h.pid")
    assert [(t.address, t.facility, t.level) for t in g.logs] == [
        ("127.0.0.1:514", "local0", "debug"),
        ("127.0.0.2:5140", "local3", "notice"),
    ]
    assert g.tune == {"maxpollevents": "100", "bufsize": "32768"}
    assert g.stats_socket is not None
    assert (g.stats_socket.path, g.stats_socket.mode, g.stats_socket.level) == ("/run/h.sock", 0o600, "admin")
    assert (g.stats_timeout, g.stats_maxconn) == (120000, 5)
    assert [w.split(" : ", 1)[1] for w in other_warnings(cfg)] == [
        "'tune.maxpollevents' has no effect in pyhaproxy (accepted for compatibility).",
        "'tune.bufsize' has no effect in pyhaproxy (accepted for compatibility).",
    ]


def test_global_user_group_resolve() -> None:
    cfg = parse_text("global\n    user root\n    group root\n" + MIN)
    assert (cfg.global_.uid, cfg.global_.gid, cfg.global_.user, cfg.global_.group) == (0, 0, "root", "root")


def test_global_already_specified_warns_and_keeps_first() -> None:
    cfg = parse_text("global\n    maxconn 10\n    maxconn 20\n" + MIN, "w.cfg")
    assert cfg.global_.maxconn == 10
    assert other_warnings(cfg) == ["[WARNING] parsing [w.cfg:3] : 'maxconn' already specified. Continuing."]


def test_several_global_sections_merge() -> None:
    cfg = parse_text("global\n    daemon\n" + MIN + "global\n    quiet\n")
    assert cfg.global_.daemon and cfg.global_.quiet


def test_global_log_unix_path() -> None:
    cfg = parse_text("global\n    log /dev/log local0 info\n" + MIN)
    assert cfg.global_.logs[0].address == "/dev/log"


# ----------------------------------------------------------------------------- listen line / bind


def test_listen_name_and_address_list() -> None:
    px = one("    server s 127.0.0.2:80\n", head="listen smtp 127.0.0.1:25,127.0.0.1:587,:6000-6009\n")
    assert px.name == "smtp"
    assert [(b.host, b.port_lo, b.port_hi, b.family) for b in px.binds] == [
        ("127.0.0.1", 25, 25, 2),
        ("127.0.0.1", 587, 587, 2),
        ("", 6000, 6009, 2),
    ]


def test_bind_lines_add_up_and_any_forms() -> None:
    px = one("    bind :80,*:81\n    bind 0.0.0.0:82\n    server s 127.0.0.2\n", head="listen web\n")
    assert [(b.host, b.port_lo) for b in px.binds] == [("", 80), ("", 81), ("", 82)]
    assert px.binds[0].where.line == 2 and px.binds[2].where.line == 3


def test_bind_ipv6_forms() -> None:
    px = one(
        "    bind :::80\n    bind [::1]:81\n    bind ::1:8000-8001\n    server s 127.0.0.2\n",
        head="listen v6\n",
    )
    assert [(b.host, b.port_lo, b.port_hi, b.family) for b in px.binds] == [
        ("::", 80, 80, 10),
        ("::1", 81, 81, 10),
        ("::1", 8000, 8001, 10),
    ]


def test_bind_hostname_resolves() -> None:
    px = one("    bind localhost:80\n    server s 127.0.0.2\n", head="listen h\n")
    assert px.binds[0].host in ("127.0.0.1", "::1")


def test_nameless_listen_warns() -> None:
    cfg = parse_text("listen 127.0.0.1:8000\n    server s 127.0.0.2:80\n", "n.cfg")
    px = cfg.proxies[0]
    assert px.name == "127.0.0.1:8000"
    assert (px.binds[0].host, px.binds[0].port_lo) == ("127.0.0.1", 8000)
    assert len(other_warnings(cfg)) == 1 and other_warnings(cfg)[0].startswith(
        "[WARNING] parsing [n.cfg:1] : proxy '127.0.0.1:8000'"
    )


# ----------------------------------------------------------------------------- proxy keywords


def test_mode_balance_disabled_enabled() -> None:
    px = one("    mode http\n    balance source\n    disabled\n")
    assert (px.mode, px.balance, px.disabled, px.balance_explicit) == ("http", "source", True, True)
    px = one("    mode health\n    disabled\n    enabled\n")
    assert (px.mode, px.disabled) == ("health", False)
    assert one("    balance\n" + "    server s 127.0.0.2\n").balance == "roundrobin"


def test_dispatch_and_source() -> None:
    px = one("    dispatch 127.0.0.3:80\n    source 127.0.0.9:900\n")
    assert px.dispatch == ("127.0.0.3", 80)
    assert px.source == "127.0.0.9:900"
    assert one("    source *\n    dispatch localhost:80\n").source == "0.0.0.0"


@pytest.mark.parametrize(
    ("line", "mode", "ind", "noc", "post", "dom"),
    [
        ("cookie SERVERID", "passive", False, False, False, None),
        ("cookie SERVERID rewrite", "rewrite", False, False, False, None),
        ("cookie SERVERID insert indirect nocache", "insert", True, True, False, None),
        ("cookie SERVERID postonly insert indirect", "insert", True, False, True, None),
        ("cookie JSESSIONID prefix", "prefix", False, False, False, None),
        ("cookie S insert domain .example.com", "insert", False, False, False, ".example.com"),
    ],
)
def test_cookie(line: str, mode: str, ind: bool, noc: bool, post: bool, dom: str | None) -> None:
    px = one(f"    mode http\n    {line}\n    server s 127.0.0.2:80 cookie a\n")
    assert px.cookie is not None
    assert (px.cookie.mode, px.cookie.indirect, px.cookie.nocache, px.cookie.postonly, px.cookie.domain) == (
        mode,
        ind,
        noc,
        post,
        dom,
    )


def test_server_address_forms() -> None:
    px = one(
        "    server a 127.0.0.2\n    server b 127.0.0.2:\n    server c 127.0.0.2:8080\n"
        "    server d 127.0.0.2:+1000\n    server e 127.0.0.2:-10\n    server f [::1]:80\n"
        "    server g localhost:81\n    server h 127.0.0.2:0\n"
    )
    got = [(s.name, s.port, s.port_offset) for s in px.servers]
    assert got == [
        ("a", None, 0),
        ("b", None, 0),
        ("c", 8080, 0),
        ("d", None, 1000),
        ("e", None, -10),
        ("f", 80, 0),
        ("g", 81, 0),
        ("h", None, 0),
    ]
    assert (px.servers[5].host, px.servers[5].family) == ("::1", 10)
    assert px.servers[6].hostname == "localhost" and px.servers[6].host in ("127.0.0.1", "::1")


def test_server_options() -> None:
    px = srv_line(
        "cookie A check inter 3s fastinter 500 downinter 1m rise 4 fall 5 port 81 addr 127.0.0.7 "
        "backup weight 20 source 127.0.0.9 maxconn 100 minconn 10 maxqueue 50 slowstart 30s disabled"
    )
    s = px.servers[0]
    assert (s.cookie, s.check, s.inter, s.fastinter, s.downinter, s.rise, s.fall) == (
        "A",
        True,
        3000,
        500,
        60000,
        4,
        5,
    )
    assert (s.check_port, s.check_addr, s.backup, s.weight, s.source) == (
        81,
        "127.0.0.7",
        True,
        20,
        "127.0.0.9",
    )
    assert (s.maxconn, s.minconn, s.maxqueue, s.slowstart, s.disabled) == (100, 10, 50, 30000, True)
    assert s.where.line == 2


def test_server_defaults_and_check_port_from_address() -> None:
    s = srv_line("check").servers[0]
    assert (s.inter, s.rise, s.fall, s.weight, s.check_port) == (2000, 2, 3, 1, 80)


def test_server_minconn_alone_becomes_maxconn() -> None:
    s = srv_line("minconn 30").servers[0]
    assert (s.maxconn, s.minconn) == (30, 0)


@pytest.mark.parametrize(
    "opt",
    [
        "httpclose",
        "forwardfor",
        "httplog",
        "tcplog",
        "dontlognull",
        "logasap",
        "persist",
        "checkcache",
        "abortonclose",
        "allbackups",
        "tcpka",
        "clitcpka",
        "srvtcpka",
        "nolinger",
        "ssl-hello-chk",
        "accept-invalid-http-request",
        "accept-invalid-http-response",
        "keepalive",
    ],
)
def test_flag_options(opt: str) -> None:
    px = one(f"    mode http\n    option {opt}\n    server s 127.0.0.2\n")
    assert opt in px.options


def test_option_forceclose_redispatch_transparent() -> None:
    px = one("    mode http\n    option forceclose\n    option redispatch\n    option transparent\n")
    assert {"forceclose", "httpclose", "redispatch", "transparent"} <= px.options
    assert px.redispatch and px.transparent
    px = one("    redispatch\n    redisp\n    transparent\n")
    assert px.redispatch and px.transparent


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", ("OPTIONS", "/", "HTTP/1.0")),
        ("/index.html", ("OPTIONS", "/index.html", "HTTP/1.0")),
        ("HEAD /running", ("HEAD", "/running", "HTTP/1.0")),
        (r"HEAD /index.jsp? HTTP/1.1\r\nHost:\ www", ("HEAD", "/index.jsp?", "HTTP/1.1\r\nHost: www")),
    ],
)
def test_option_httpchk(args: str, expected: tuple[str, str, str]) -> None:
    px2 = one(f"    mode http\n    option httpchk {args}\n    server s 127.0.0.2:80 check\n")
    assert px2.httpchk is not None
    assert (px2.httpchk.method, px2.httpchk.uri, px2.httpchk.version) == expected
    assert "httpchk" in px2.options


def test_option_smtpchk() -> None:
    assert one("    option smtpchk\n    server s 127.0.0.2:25\n").smtpchk == ("HELO", "localhost")
    assert one("    option smtpchk EHLO mail.example.com\n    server s 127.0.0.2:25\n").smtpchk == (
        "EHLO",
        "mail.example.com",
    )


def test_old_and_new_timeouts_with_units() -> None:
    px = one("    contimeout 4000\n    clitimeout 150s\n    srvtimeout 1m\n    server s 127.0.0.2\n")
    assert (px.contimeout, px.clitimeout, px.srvtimeout) == (4000, 150000, 60000)
    px = one(
        "    timeout connect 5s\n    timeout client 1h\n    timeout server 1d\n    timeout queue 10s\n"
        "    timeout http-request 2500ms\n    timeout http-keep-alive 1500us\n    timeout check 3s\n"
        "    timeout tunnel 2m\n    server s 127.0.0.2\n"
    )
    assert (px.contimeout, px.clitimeout, px.srvtimeout, px.queuetimeout) == (5000, 3600000, 86400000, 10000)
    assert (px.httpreqtimeout, px.keepalivetimeout, px.checktimeout, px.tunneltimeout) == (
        2500,
        2,
        3000,
        120000,
    )


def test_retries_grace_maxconn_fullconn() -> None:
    px = one("    retries 5\n    grace 10s\n    maxconn 300\n    fullconn 1000\n    server s 127.0.0.2\n")
    assert (px.retries, px.grace, px.maxconn, px.fullconn) == (5, 10000, 300, 1000)


def test_monitor_net_and_uri() -> None:
    px = one(
        "    mode http\n    monitor-net 127.0.1.253/31\n    monitor-net 127.0.2.0/255.255.255.0\n"
        "    monitor-net 127.0.3.4\n    monitor-uri /haproxy_test\n    server s 127.0.0.2\n"
    )
    assert px.monitor_net == [("127.0.1.252", 31), ("127.0.2.0", 24), ("127.0.3.4", 32)]
    assert px.monitor_uri == "/haproxy_test"


def test_log_2x_forms() -> None:
    cfg = parse_text(
        "global\n    log 127.0.0.9 local1\n    no log\n    log-send-hostname h1\n    log-tag gt\n"
        "    log 127.0.0.1:5140 len 200 format rfc5424 sample 1-2,4:5 local0 info notice\n"
        "defaults\n    log global\n    log 127.0.0.7 local2\n"
        "listen a\n    bind :80\n    no log\n    log stdout format raw local0\n    log-tag pt\n"
        "    log stderr local3\n    server s 127.0.0.2\n"
        "listen b\n    bind :81\n    server s 127.0.0.2\n"
    )
    g = cfg.global_
    assert (g.log_send_hostname, g.log_tag) == ("h1", "gt")
    assert [(t.address, t.length, t.format, t.sample, t.sample_size, t.level, t.minlevel)
            for t in g.logs] == [("127.0.0.1:5140", 200, "rfc5424", [(1, 2), (4, 4)], 5, "info", "notice")]
    a, b = cfg.proxies
    assert (a.log_global, a.log_tag) == (False, "pt")
    assert [(t.address, t.format, t.facility) for t in a.logs] == [("fd@1", "raw", "local0"),
                                                                   ("fd@2", "", "local3")]
    assert (b.log_global, b.log_tag, [t.address for t in b.logs]) == (True, None, ["127.0.0.7:514"])


def test_proxy_logs() -> None:
    px = one(
        "    log global\n    log 127.0.0.5 local3\n    log 127.0.0.6:600 local4 err\n    server s 127.0.0.2\n"
    )
    assert px.log_global
    assert [(t.address, t.facility, t.level) for t in px.logs] == [
        ("127.0.0.5:514", "local3", "debug"),
        ("127.0.0.6:600", "local4", "err"),
    ]


HEADER_RULES = [
    ("reqadd X-Proxy:\\ pyh", ("req", "add", False, None, "X-Proxy: pyh")),
    ("reqdel ^Cookie:", ("req", "del", False, "^Cookie:", None)),
    ("reqidel ^cookie:", ("req", "del", True, "^cookie:", None)),
    (
        "reqrep ^(GET\\ .*)(.free.fr)(.*) \\1.online.fr\\3",
        ("req", "rep", False, "^(GET .*)(.free.fr)(.*)", r"\1.online.fr\3"),
    ),
    (
        "reqirep ^Proxy-Connection:.* Proxy-Connection:\\ close",
        ("req", "rep", True, "^Proxy-Connection:.*", "Proxy-Connection: close"),
    ),
    ("reqdeny ^Host:\\ apache-", ("req", "deny", False, "^Host: apache-", None)),
    (
        "reqideny ^Transfer-Encoding:[\\ ]*chunked",
        ("req", "deny", True, "^Transfer-Encoding:[ ]*chunked", None),
    ),
    ("reqallow ^GET", ("req", "allow", False, "^GET", None)),
    ("reqiallow ^get", ("req", "allow", True, "^get", None)),
    ("reqpass ^X-", ("req", "pass", False, "^X-", None)),
    (
        "reqipass ^(GET|POST|HEAD|OPTIONS)\\ /.*\\ HTTP/1\\.[01]$",
        ("req", "pass", True, "^(GET|POST|HEAD|OPTIONS) /.* HTTP/1\\.[01]$", None),
    ),
    (
        "reqtarpit ^[^:\\ ]*\\ .*\\.php?login=[^0-9]",
        ("req", "tarpit", False, "^[^: ]* .*\\.php?login=[^0-9]", None),
    ),
    ("reqitarpit ^x", ("req", "tarpit", True, "^x", None)),
    ("rspadd Server:\\ Formilux/0.1.8", ("rsp", "add", False, None, "Server: Formilux/0.1.8")),
    ("rspdel ^Server:", ("rsp", "del", False, "^Server:", None)),
    ("rspidel ^Server:\\ ", ("rsp", "del", True, "^Server: ", None)),
    ("rsprep ^(Location:\\ )(.*) \\1\\2", ("rsp", "rep", False, "^(Location: )(.*)", r"\1\2")),
    (
        "rspirep ^(Location:\\ )([^:]*://[^/]*)(.*) \\1\\3",
        ("rsp", "rep", True, "^(Location: )([^:]*://[^/]*)(.*)", r"\1\3"),
    ),
    ("rspdeny ^Set-Cookie:", ("rsp", "deny", False, "^Set-Cookie:", None)),
    ("rspideny ^set-cookie:", ("rsp", "deny", True, "^set-cookie:", None)),
    ("cliexp ^a b", ("req", "rep", False, "^a", "b")),
    ("srvexp ^a b", ("rsp", "rep", False, "^a", "b")),
]


@pytest.mark.parametrize(("line", "expected"), HEADER_RULES, ids=[r[0].split()[0] for r in HEADER_RULES])
def test_header_rules(line: str, expected: tuple[str, str, bool, str | None, str | None]) -> None:
    px = one(f"    mode http\n    {line}\n    server s 127.0.0.2\n")
    r = px.rules[0]
    assert (r.direction, r.action, r.icase, r.regex, r.replacement) == expected
    assert r.where.line == 3


def test_captures() -> None:
    px = one(
        "    mode http\n    capture cookie ASPSESSION len 32\n    capture request header Host len 20\n"
        "    capture response header Location len 20\n    server s 127.0.0.2\n"
    )
    assert [(c.kind, c.name, c.length) for c in px.captures] == [
        ("cookie", "ASPSESSION", 32),
        ("request", "Host", 20),
        ("response", "Location", 20),
    ]


def test_capture_cookie_is_truncated_with_warning() -> None:
    cfg = parse_text("listen a :80\n    capture cookie X len 100\n    server s 127.0.0.2\n", "c.cfg")
    assert cfg.proxies[0].captures[0].length == 63
    assert other_warnings(cfg) == ["[WARNING] parsing [c.cfg:2] : truncating capture length to 63 bytes."]


def test_errorloc_variants() -> None:
    cfg = parse_text(
        "listen a :80\n    errorloc 503 /sorry.html\n    errorloc302 502 http://x/e\n"
        "    errorloc303 504 /late\n    errorloc 409 /nope\n    errorloc 404 /gone\n    server s 127.0.0.2\n",
        "e.cfg",
    )
    px = cfg.proxies[0]
    # (every status 2.6 can generate may be relocated: 404 too, not 409)
    assert px.errorloc == {503: ("302", "/sorry.html"), 502: ("302", "http://x/e"), 504: ("303", "/late"),
                           404: ("302", "/gone")}
    assert other_warnings(cfg) == ["[WARNING] parsing [e.cfg:5] : error 409 relocation will be ignored."]


def test_errorfile_reads_the_file(tmp_path: Path) -> None:
    f = tmp_path / "503.http"
    f.write_bytes(b"HTTP/1.0 503 Service Unavailable\r\n\r\nsorry\n")
    px = one(f"    errorfile 503 {f}\n    server s 127.0.0.2\n")
    assert px.errorfile == {503: "HTTP/1.0 503 Service Unavailable\r\n\r\nsorry\n"}


def test_stats_keywords() -> None:
    px = one(
        "    mode http\n    stats uri /my_stats\n    stats realm Statistics\\ for\\ MyApp\n"
        "    stats auth guest:guest\n    stats auth admin:AdMiN123\n    stats scope .\n"
        "    stats scope app2\n    stats refresh 5\n    stats hide-version\n    server s 127.0.0.2\n"
    )
    s = px.stats
    assert s.enabled and s.uri == "/my_stats" and s.realm == "Statistics for MyApp"
    assert s.auth == [("guest", "guest"), ("admin", "AdMiN123")]
    assert s.scope == [".", "app2"] and s.refresh == 5000 and s.hide_version
    px = one("    mode http\n    stats enable\n    server s 127.0.0.2\n")
    assert px.stats.enabled and px.stats.uri == "/haproxy?stats"


def test_appsession() -> None:
    px = one("    mode http\n    appsession JSESSIONID len 52 timeout 10800000\n    server s 127.0.0.2\n")
    assert (px.appsession, px.appsession_len, px.appsession_timeout) == ("JSESSIONID", 52, 10800000)


# ----------------------------------------------------------------------------- defaults


def test_defaults_are_copied_into_each_listen_and_reset() -> None:
    cfg = parse_text(
        """\
global
    log 127.0.0.1 local0
defaults applications HTTP
    log global
    mode http
    option httplog
    option forwardfor
    balance source
    clitimeout 20000
    srvtimeout 20s
    contimeout 4000
    retries 2
    maxconn 500
    grace 100
    redispatch
    cookie SERVERID insert
    capture cookie userid= len 10
    errorloc 503 /x
    stats uri /st
    monitor-net 127.0.9.0/24
    source 127.0.0.8
listen one 127.0.0.1:80-81
    server srv1 127.0.1.1:+8000 cookie srv1 check port 8080 inter 1000
listen two 127.0.0.2:80
    clitimeout 1000
    stats realm R
    server srv2 127.0.1.2:80 cookie s2
defaults
listen three 127.0.0.3:80
    server srv3 127.0.1.3
""",
        "d.cfg",
    )
    one_, two, three = cfg.proxies
    for px in (one_, two):
        assert px.log_global and px.mode == "http" and px.balance == "source" and px.balance_explicit
        assert {"httplog", "forwardfor", "redispatch"} <= px.options and px.redispatch
        assert (px.srvtimeout, px.contimeout, px.retries, px.maxconn, px.grace) == (20000, 4000, 2, 500, 100)
        assert px.cookie is not None and px.cookie.mode == "insert"
        assert [c.name for c in px.captures] == ["userid="]
        assert px.errorloc == {503: ("302", "/x")}
        assert px.monitor_net == [("127.0.9.0", 24)] and px.source == "127.0.0.8"
    assert one_.clitimeout == 20000 and two.clitimeout == 1000
    assert one_.stats.enabled and one_.stats.uri == "/st"
    # a listen that sets any stats parameter does not use the defaults' ones
    assert two.stats.uri == "/haproxy?stats" and two.stats.realm == "R"
    assert [s.name for s in one_.servers] == ["srv1"] and [s.name for s in two.servers] == ["srv2"]
    assert (three.mode, three.clitimeout, three.options, three.cookie, three.log_global) == (
        "tcp",
        0,
        set(),
        None,
        False,
    )
    assert three.balance_explicit is False and three.retries == 3
    assert other_warnings(cfg) == []


def test_defaults_disabled_and_enabled() -> None:
    cfg = parse_text(
        "defaults\n    disabled\nlisten a :80\nlisten b :81\n    enabled\n    server s 127.0.0.2\n"
    )
    assert [p.disabled for p in cfg.proxies] == [True, False]


# ----------------------------------------------------------------------------- validation warnings


def test_tcp_mode_warnings() -> None:
    cfg = parse_text(
        "listen a 127.0.0.1:80\n    cookie SRV\n    option httplog\n    monitor-uri /x\n"
        "    reqadd X:\\ y\n    rspdel ^Server\n    server s 127.0.0.2\n",
        "w.cfg",
    )
    w = cfg.warnings
    assert "[WARNING] parsing [w.cfg:1] : cookie will be ignored for listener a." in w
    assert "[WARNING] parsing [w.cfg:1] : server regular expressions will be ignored for listener a." in w
    assert "[WARNING] parsing [w.cfg:1] : client regular expressions will be ignored for listener a." in w
    assert any("'monitor-uri' will be ignored" in x for x in w)
    assert any("'option httplog' not usable" in x for x in w)
    assert "tcplog" in cfg.proxies[0].options


def test_dispatch_ignored_in_balance_mode_warns() -> None:
    cfg = parse_text(
        "listen a :80\n    balance roundrobin\n    dispatch 127.0.0.3:80\n    server s 127.0.0.2\n", "w.cfg"
    )
    assert other_warnings(cfg) == [
        "[WARNING] parsing [w.cfg:1] : dispatch address of listener a will be ignored in balance mode."
    ]


def test_health_mode_needs_no_server() -> None:
    assert parse_text("listen h :60000\n    mode health\n").proxies[0].mode == "health"


def test_transparent_needs_no_server() -> None:
    assert parse_text("listen t :65000\n    mode http\n    transparent\n").proxies[0].transparent


def test_disabled_proxy_is_not_validated() -> None:
    assert parse_text("listen a\n    disabled\nlisten b :80\n    mode health\n").proxies[0].disabled


# ----------------------------------------------------------------------------- files


def test_parse_files_concatenates(tmp_path: Path) -> None:
    a = tmp_path / "a.cfg"
    b = tmp_path / "b.cfg"
    a.write_text("global\n    daemon\nlisten a :80\n")
    b.write_text("    server s 127.0.0.2\nlisten b :81\n    server s 127.0.0.3\n")
    cfg = parse_files([str(a), str(b)])
    assert cfg.files == [str(a), str(b)]
    assert [p.name for p in cfg.proxies] == ["a", "b"]
    assert cfg.proxies[0].servers[0].where.file == str(b)


def test_parse_files_missing_file(tmp_path: Path) -> None:
    p = str(tmp_path / "nope.cfg")
    with pytest.raises(ConfigError) as ei:
        parse_files([p])
    assert str(ei.value) == f"[ALERT] could not open configuration file '{p}': No such file or directory"
    assert ei.value.file == p


def test_parse_files_error_carries_real_file_and_line(tmp_path: Path) -> None:
    a = tmp_path / "x.cfg"
    a.write_text("listen a :80\n\n    bogus 1\n")
    with pytest.raises(ConfigError) as ei:
        parse_files([str(a)])
    assert (ei.value.file, ei.value.line) == (str(a), 3)
    assert str(ei.value) == f"[ALERT] parsing [{a}:3] : unknown keyword 'bogus' in 'listen' section"


def test_parse_text_records_file_name() -> None:
    cfg = parse_text(MIN, "inline.cfg")
    assert isinstance(cfg, Config) and cfg.files == ["inline.cfg"]


# ----------------------------------------------------------------------------- broken configs

BROKEN: list[tuple[str, int, str]] = [
    ("listen a :80\n    bogus\n", 2, "unknown keyword 'bogus' in 'listen' section"),
    ("global\n    bogus\n", 2, "unknown keyword 'bogus' in 'global' section"),
    ("defaults\n    bogus 1\n", 2, "unknown keyword 'bogus' in 'defaults' section"),
    ("bogus\n", 1, "unknown keyword 'bogus' out of section."),
    ("listen a :80\n    server s\n", 2, "'server' expects <name> and <addr>[:<port>] as arguments."),
    ("listen a :80\n    mode ftp\n", 2, "unknown proxy mode 'ftp'."),
    ("listen a :80\n    balance url_param\n", 2, "balance url_param requires an URL parameter name."),
    (
        "listen a :80\n    balance round-ish\n",
        2,
        "balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', "
        "'hdr(name)' and 'rdp-cookie(name)' options.",
    ),
    (
        "# c\n\nlisten a :80\n    server s 127.0.0.2 weight 300\n",
        4,
        "weight of server s is not within 1 and 256 (300).",
    ),
    (
        "listen a :80\n    server s 127.0.0.2 check\n",
        2,
        "server s has neither service port nor check port. Check has been disabled.",
    ),
    (
        "listen a :80\n    server s 127.0.0.2:+1 check\n",
        2,
        "server s has neither service port nor check port. Check has been disabled.",
    ),
    (
        "listen a :80\n    server s 127.0.0.2 foo\n",
        2,
        "server s only supports options 'backup', 'cookie', 'check', 'inter', 'fastinter', "
        "'downinter', 'rise', 'fall', 'port', 'addr', 'source', 'minconn', 'maxconn', 'maxqueue', "
        "'slowstart', 'disabled' and 'weight'.",
    ),
    (
        "listen a :80\n    server s 127.0.0.2 ssl\n",
        2,
        "'server a/s' : verify is enabled by default but no CA file specified. If you're running on a "
        "LAN where you're certain to trust the server's certificate, please set an explicit 'verify "
        "none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section "
        "to disable server-side verifications by default.",
    ),
    (
        "listen a :80\n    server s 127.0.0.2:80 check inter 2x\n",
        2,
        "unexpected character 'x' in time argument '2x' to 'inter'.",
    ),
    (
        "listen a :80\n    server s no-such-host.invalid:80\n",
        2,
        "server s : could not resolve address 'no-such-host.invalid'.",
    ),
    ("listen a :80\n    option bogus\n", 2, "unknown option 'bogus'."),
    ("listen a :80\n    option\n", 2, "'option' expects an option name."),
    (
        "listen a :80\n    option http-pretend-keepalive\n",
        2,
        "'option http-pretend-keepalive' is not supported yet (it appeared in HAProxy 1.4).",
    ),
    (
        "listen a :80\n    acl local src 127.0.0.1:80\n",
        2,
        "'acl' : '127.0.0.1:80' is not a valid IPv4 or IPv6 address[/mask].",
    ),
    (
        "listen a :80\n    http-request set-nice 5\n",
        2,
        "'http-request set-nice' is not supported (only allow, deny, reject, tarpit, add-header, "
        "set-header, del-header, redirect, return, set-path, set-pathq, set-query, set-uri, "
        "set-log-level, normalize-uri, early-hint, set-var, set-var-fmt, unset-var, track-sc0/1/2, "
        "sc-inc-gpc0, "
        "sc-inc-gpc1, "
        "sc-set-gpt0, sc-inc-gpc, sc-set-gpt, set-method, set-src, replace-header, replace-value, "
        "replace-path, "
        "replace-pathq, replace-uri and auth are).",
    ),
    (
        "listen a :80\n    mode http\n    http-request return status 200 string x\n",
        3,
        "'http-request return' : a 'content-type' must be set for a payload.",
    ),
    (
        "listen a :80\n    mode http\n    http-request return errorfile /x.http\n",
        3,
        "'http-request return' : option 'errorfile' is not supported (status, content-type, string, "
        "lf-string, file and hdr are).",
    ),
    (
        "listen a :80\n    use_backend b if nope\n",
        2,
        "'use_backend' : no such ACL : 'nope'.",
    ),
    (
        "listen a :80\n    server s 127.0.0.2:80\n    use_backend b\n",
        3,
        "Proxy 'a': unable to find required backend 'b'.",
    ),
    (
        "frontend f\n    mode http\n    bind :80\n    default_backend b\nbackend b\n    mode tcp\n",
        1,
        "frontend 'f' in http mode cannot use backend 'b' in tcp mode (switching between modes is not "
        "supported).",
    ),
    ("frontend f\n", 1, "frontend 'f' has no 'bind' directive. Please declare it as a backend if this was "
     "intended."),
    ("backend b\n    bind :80\n", 2,
     "'bind' not allowed in 'backend' section (only in 'listen' or 'frontend')."),
    ("frontend f\n    server s 127.0.0.1:80\n", 2,
     "'server' not allowed in 'frontend' section (only in 'listen' or 'backend')."),
    ("backend b :80\n", 1, "'backend' : unexpected extra argument ':80' (a backend has no address)."),
    ("defaults d\nbackend b from d\n", 2, "'backend b from' (inheriting a named defaults section) is not "
     "supported yet (it appeared in HAProxy 2.5)."),
    ("backend b\nbackend b\n", 2, "backend 'b' has the same name as backend 'b' declared at bad.cfg:1."),
    (
        "frontend f\n    mode tcp\n    bind :80\n    acl p path /x\n    use_backend b if p\nbackend b\n",
        5,
        "'use_backend' in frontend 'f' (mode tcp) uses ACL 'p' with the HTTP criterion 'path'; the "
        "request is not analysed in mode tcp.",
    ),
    ("frontend f\n    bind :80\n    acl w path(1) x\n", 3,
     "error detected while parsing ACL 'w' : ACL keyword 'path' : fetch method 'path' : no argument "
     "supported, but got '1'."),
    ("frontend f\n    bind :80\n    acl x foo_bar 1\n", 3,
     "error detected while parsing ACL 'x' : unknown fetch method 'foo_bar' in ACL expression 'foo_bar'."),
    ("frontend f\n    bind :80\n    acl z hdr(host),foo x\n", 3,
     "error detected while parsing ACL 'z' : ACL keyword 'hdr' : unknown converter 'foo'."),
    ("frontend f\n    bind :80\n    acl x path_reg (\n", 3, "bad regular expression '('."),
    (
        "listen a\n    bind :443 ssl crt-list /x.lst\n",
        2,
        "'bind :443' : unable to read crt-list file '/x.lst' : No such file or directory.",
    ),
    ("listen a\n    bind :443 accept-netscaler-cip 1234\n", 2,
     "'bind' option 'accept-netscaler-cip' is not supported yet (it appeared in HAProxy 1.6)."),
    ("listen a\n    bind :443 bogus\n", 2, "'bind :443' : unknown option 'bogus'."),
    ("listen a :80\n    mode http\n    http-request add-header X-A %ci\n", 3,
     "'http-request add-header' : log-format variable '%ci' is not supported (only %[...] samples are)."),
    ("listen a :80\n    mode http\n    http-request add-header X-A %[src,bogus]\n", 3,
     "'http-request add-header' : unknown converter 'bogus'."),
    ("listen a :80\n    mode http\n    http-request set-header X %[status]\n", 3,
     "'http-request set-header' : fetch method 'status' extracts information from 'HTTP response "
     "headers', none of which is available here."),
    # 2.6 keeps the request for http-response rules; pyhaproxy does not (refused, not ignored)
    ("listen a :80\n    mode http\n    http-response set-header X %[path]\n", 3,
     "'http-response set-header' : fetch method 'path' extracts information from 'HTTP request "
     "headers', none of which is available here."),
    ("listen a :80\n    mode http\n    http-request set-var(foo.x) str(1)\n", 3,
     "'http-request set-var(foo.x)' : invalid variable name 'foo.x'. A variable name must start with "
     "its scope (proc, sess, txn, req or res), then a dot and letters, digits, '.' or '_'."),
    ("listen a :80\n    mode http\n    http-response set-nice 5\n", 3,
     "'http-response set-nice' is not supported (only add-header, set-header, del-header, deny, "
     "set-status, replace-header, replace-value are)."),
    ("listen a :80\n    stick-table type ip size 1m store gpc(101)\n", 2,
     "stick-table: array size is out of allowed range (1-100) for store option 'gpc'."),
    ("peers p\n    peer a 127.0.0.1:1\n    table t type ip size 10 store gpc(2)\n", 3,
     "store option 'gpc' in a peers section's table is not supported yet (it appeared in HAProxy 2.5)."),
    ("listen a :80\n    stick-table type ip size 1m store gpt(1),gpt0\n", 2,
     "stick-table: simultaneous usage of 'gpt' and 'gpt0' in a same table is not permitted as 'gpt' "
     "overrides 'gpt0'."),
    ("global\n    lua-load /x.lua\n", 2, "'lua-load' is not supported yet (it appeared in HAProxy 1.6)."),
    (
        "listen a\n    bind 127.0.0.1\n",
        2,
        "'bind' expects [addr1]:port1[-end1]{,[addr]:port[-end]}... as arguments.",
    ),
    ("listen a 127.0.0.1:99999\n", 1, "Invalid port '99999' specified for address '127.0.0.1'."),
    ("listen a 127.0.0.1:0\n", 1, "Invalid port '0' specified for address '127.0.0.1'."),
    ("listen a :80\n    daemon\n", 2, "'daemon' not allowed in 'listen' section (only in 'global')."),
    (
        "global\n    mode http\n",
        2,
        "'mode' not allowed in 'global' section (only in 'defaults' or 'listen' or 'frontend' or "
        "'backend').",
    ),
    ("defaults\n    server s 127.0.0.2:80\n", 2, "'server' not allowed in 'defaults' section."),
    ("defaults\n    bind :80\n", 2, "'bind' not allowed in 'defaults' section."),
    ("defaults\n    reqdeny ^x\n", 2, "'reqdeny' not allowed in 'defaults' section."),
    (
        "defaults\n    capture request header Host len 10\n",
        2,
        "'capture request' not allowed in 'defaults' section.",
    ),
    ("listen a :80\n    contimeout\n", 2, "'contimeout' expects an integer <time_in_ms> as argument."),
    ("listen a :80\n    retries\n", 2, "'retries' expects an integer argument (dispatch counts for one)."),
    ("listen a :80\n    maxconn lots\n", 2, "'maxconn' expects an integer argument (got 'lots')."),
    ("listen a :80\n    reqrep ^x\n", 2, "'reqrep' expects <search> and <replace> as arguments."),
    ("listen a :80\n    reqdeny\n", 2, "'reqdeny' expects <regex> as an argument."),
    ("listen a :80\n    rspdel\n", 2, "'rspdel' expects <search> as an argument."),
    ("listen a :80\n    reqideny ^(unclosed\n", 2, "bad regular expression '^(unclosed'."),
    (
        "listen a :80\n    reqrep ^(x) \\1\\q\n",
        2,
        "invalid character or unterminated sequence in replacement string near 'q'.",
    ),
    ("listen a :80\n    cookie\n", 2, "'cookie' expects <cookie_name> as argument."),
    (
        "listen a :80\n    cookie S rewrite indirect\n",
        2,
        "cookie 'rewrite' and 'indirect' modes are incompatible.",
    ),
    (
        "listen a :80\n    cookie S insert prefix\n",
        2,
        "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.",
    ),
    (
        "listen a :80\n    cookie S sticky\n",
        2,
        "'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly' and "
        "'domain' options.",
    ),
    ("listen a :80\n    capture cookie X\n", 2, "'capture' expects 'cookie' <cookie_name> 'len' <len>."),
    (
        "listen a :80\n    capture request header Host\n",
        2,
        "'capture request' expects 'header' <header_name> 'len' <len>.",
    ),
    (
        "listen a :80\n    capture something\n",
        2,
        "'capture' expects 'cookie' or 'request header' or 'response header'.",
    ),
    ("listen a :80\n    dispatch 127.0.0.2\n", 2, "'dispatch' expects <addr:port> as argument."),
    ("listen a :80\n    monitor-net 127.0.0.1/40\n", 2, "'monitor-net' expects address[/mask]."),
    ("listen a :80\n    log 127.0.0.1 local9\n", 2, "log : unknown log facility 'local9'"),
    ("listen a :80\n    log 127.0.0.1 local0 loud\n", 2, "log : unknown optional log level 'loud'"),
    ("listen a :80\n    log global extra\n", 2, "log : unknown log facility 'extra'"),
    # the 2.x forms, with haproxy 2.6's words (`haproxy -c` prints the same after its prefix)
    ("listen a :80\n    log 127.0.0.1 local0 info loud\n", 2,
     "log : unknown optional minimum log level 'loud'"),
    ("listen a :80\n    log 127.0.0.1 len 50 local0\n", 2,
     "log : invalid log length '50', must be between 80 and 65535"),
    ("listen a :80\n    log 127.0.0.1 format foo local0\n", 2, "log : unknown log format 'foo'"),
    ("listen a :80\n    log 127.0.0.1 format rfc5424 len 100 local0\n", 2,
     "log : unknown log facility 'len'"),
    ("listen a :80\n    log 127.0.0.1 sample 1 local0\n", 2, "log : Missing sample size"),
    ("listen a :80\n    log 127.0.0.1 sample 0:2 local0\n", 2, "log : wrong sample range '0'"),
    ("listen a :80\n    log 127.0.0.1 sample 3:2 local0\n", 2,
     "log : sample size 2 should be greater or equal to 3 the maximum of the high ranges limits"),
    ("listen a :80\n    log 127.0.0.1 sample 1-2,2-3:4 local0\n", 2, "log : ranges are overlapping"),
    ("listen a :80\n    log 127.0.0.1 local0 info err x\n", 2, "log : cannot handle unexpected argument 'x'"),
    ("listen a :80\n    no log x\n", 2, "log : 'no log' does not expect arguments"),
    ("listen a :80\n    log-tag\n", 2, "'log-tag' expects a tag for use in syslog."),
    ("global\n    log-tag a b\n", 2, "'log-tag' cannot handle unexpected argument 'b'."),
    ("global\n    log global local0\n", 2, "log : invalid address: 'global' in 'global'"),
    ("global\n    log global local9\n", 2, "log : unknown log facility 'local9'"),
    ("global\n    no log x\n", 2, "log : 'no log' does not expect arguments"),
    ("listen a :80\n    log ring@buf local0\n", 2,
     "log : 'ring@buf' : ring buffers and TCP log servers are not supported by pyhaproxy "
     "(UDP, unix sockets and stdout/stderr are)."),
    (
        "listen a :80\n    log\n",
        2,
        "log : expects <address> and <facility> or global as arguments",
    ),
    ("global\n    log 127.0.0.1\n", 2, "log : expects <address> and <facility>  as arguments"),
    (
        "global\n    log 127.0.0.1 local0\n    log 127.0.0.1 local1\n    log 127.0.0.1 local2\n",
        4,
        "too many syslog servers",
    ),
    ("global\n    maxconn\n", 2, "'maxconn' expects an integer argument."),
    ("global\n    chroot\n", 2, "'chroot' expects a directory as an argument."),
    ("global\n    pidfile\n", 2, "'pidfile' expects a file name as an argument."),
    ("global\n    user no-such-user-xyz\n", 2, "cannot find user id for 'no-such-user-xyz'."),
    ("listen a :80\n    stats\n", 2, "'stats' expects 'uri', 'realm', 'auth', 'scope' or 'enable'."),
    ("listen a :80\n    stats auth nocolon\n", 2, "'auth' needs a user:password account."),
    (
        "listen a :80\n    stats frobnicate\n",
        2,
        "unknown stats parameter 'frobnicate' (expects 'uri', 'realm', 'auth', 'scope' or 'enable').",
    ),
    (
        "listen a :80\n    appsession J len 52\n",
        2,
        "'appsession' expects 'appsession' <cookie_name> 'len' <len> 'timeout' <timeout>.",
    ),
    ("listen a :80\n    errorloc 503\n", 2, "<errorloc> expects <error> and <url> as arguments."),
    (
        "listen a :80\n    errorfile 503 /no/such/file.http\n",
        2,
        "error opening file </no/such/file.http> (No such file or directory).",
    ),
    (
        "listen a :80\n    timeout fortnight 5s\n",
        2,
        "'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', "
        "'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got 'fortnight')",
    ),
    (
        "listen a :80\n    timeout appsession 5s\n",
        2,
        "'timeout appsession' is not supported yet (it appeared in HAProxy 1.5).",
    ),
    ("listen a :80\n    timeout client\n", 2, "'timeout client' expects an integer value (in milliseconds)."),
    (
        "listen\n",
        1,
        "'listen' expects an <id> argument and optionnally supports "
        "[addr1]:port1[-end1]{,[addr]:port[-end]}...",
    ),
    ("listen a :80\n    reqadd X\\x4g\n", 2, "truncated or invalid hexadecimal sequence at position 13."),
    # limits and names refused as haproxy 2.6 refuses them (a bound on nbproc: it forks that many)
    ("global\n    nbproc 65\n", 2, "'nbproc' value must be between 1 and 64 (was 65)"),
    ("global\n    nbproc 100000\n", 2, "'nbproc' value must be between 1 and 64 (was 100000)"),
    ("global\n    nbthread 65\n", 2, "'nbthread' value must be between 1 and 64 (was 65)"),
    ("listen a :80\nlisten a :81\n", 2, "listen 'a' has the same name as listen 'a' declared at bad.cfg:1."),
    (
        "backend b\n    server s 127.0.0.1:80\n    server s 127.0.0.1:81\n",
        3,
        "backend 'b', another server named 's' was already defined at line 2, please use distinct names.",
    ),
    # post-parse validation: reported at the proxy's `listen` line
    (
        "global\n    daemon\nlisten web\n    server s 127.0.0.2\n",
        3,
        "listener web has no listen address. Please either specify a valid address on the <listen> "
        "line, or use the <bind> keyword.",
    ),
    (
        "listen a :80\nlisten b :81\n    mode http\n",
        1,
        "listener a has no dispatch address and is not in transparent or balance mode.",
    ),
    (
        "listen a :80\n    mode http\n    cookie SRV\n    dispatch 127.0.0.2:80\n",
        1,
        "HTTP proxy a has a cookie but no server list !",
    ),
]


@pytest.mark.parametrize(("text", "line", "message"), BROKEN, ids=[f"broken{i}" for i in range(len(BROKEN))])
def test_broken_config(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text(text, "bad.cfg")
    e = ei.value
    assert str(e) == f"[ALERT] parsing [bad.cfg:{line}] : {message}"
    assert (e.file, e.line, e.message) == ("bad.cfg", line, message)


def test_no_listen_is_an_error() -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text("global\n    daemon\n", "g.cfg")
    assert str(ei.value) == "[ALERT] parsing g.cfg : no <listen> line. Nothing to do !"


def test_every_table_keyword_is_either_handled_or_refused() -> None:
    for kw, specs in KEYWORDS.items():
        assert specs, kw
        for spec in specs:
            assert spec.sections and spec.since


# ----------------------------------------------------------------------------- fuzz

_TOKENS = [
    "global",
    "defaults",
    "listen",
    "frontend",
    "server",
    "bind",
    "mode",
    "http",
    "tcp",
    "health",
    "balance",
    "roundrobin",
    "source",
    "cookie",
    "insert",
    "prefix",
    "indirect",
    "check",
    "port",
    "inter",
    "rise",
    "fall",
    "backup",
    "weight",
    "option",
    "httpchk",
    "httplog",
    "redispatch",
    "dispatch",
    "log",
    "global",
    "local0",
    "timeout",
    "client",
    "connect",
    "5s",
    "0",
    "1",
    "65536",
    "-1",
    "+8000",
    "127.0.0.1",
    "127.0.0.1:80",
    ":80",
    "*:81",
    "[::1]:82",
    "::1",
    "127.0.0.2:+1",
    "a",
    "x:y",
    "1-2",
    "reqrep",
    "reqideny",
    "^(a",
    "\\1",
    "\\x4",
    "\\ ",
    "#",
    "capture",
    "len",
    "request",
    "header",
    "stats",
    "uri",
    "auth",
    "u:p",
    "errorloc",
    "503",
    "errorfile",
    "/nonexistent",
    "monitor-net",
    "127.0.0.0/8",
    "/33",
    "maxconn",
    "nbproc",
    "uid",
    "daemon",
    "appsession",
    "acl",
    "tune.x",
    "\t",
    "enabled",
    "disabled",
    "grace",
    "retries",
    "contimeout",
    "monitor-uri",
    "transparent",
    "1000000000000d",
    "\\",
    "é",
    "²",
    "80²",
    "1" * 5000,
    "-" + "9" * 30,
    "server s 127.0.0.1:²",
    "127.0.0.1:١٢",
    "\x00",
]


def test_random_token_soup_only_raises_config_error() -> None:
    rng = random.Random(1234)
    for _ in range(2000):
        lines = []
        for _ in range(rng.randint(1, 8)):
            lines.append(" ".join(rng.choice(_TOKENS) for _ in range(rng.randint(0, 6))))
        text = "\n".join(lines)
        try:
            parse_text(text, "fuzz.cfg")
        except ConfigError as e:
            assert str(e).startswith("[ALERT] ")
            assert e.line >= 0


def test_random_valid_prefix_with_noise_only_raises_config_error() -> None:
    rng = random.Random(99)
    base = MIN.splitlines()
    for _ in range(500):
        lines = list(base)
        pos = rng.randint(1, len(lines))
        lines.insert(pos, "    " + " ".join(rng.choice(_TOKENS) for _ in range(rng.randint(1, 5))))
        try:
            parse_text("\n".join(lines), "fuzz.cfg")
        except ConfigError as e:
            if e.line:
                assert e.line <= len(lines)


def test_errorfile_missing_is_error_not_oserror(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir()
    with pytest.raises(ConfigError):
        parse_text(f"listen a :80\n    errorfile 503 {d}\n    server s 127.0.0.2\n")
    assert os.path.isdir(d)
