"""Parser: HAProxy 1.3+/2.x configurations (frontend/backend, ACLs, switching, timeouts, TLS lines)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pyhaproxy.config import ConfigError
from pyhaproxy.config.parser import parse_text
from tests.helpers.cfgwarn import other_warnings

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_CFG = Path("/etc/haproxy/haproxy.cfg")

ROUTING = """
defaults
    mode http
    timeout connect 5s
    timeout client 1m
    timeout server 50000
frontend www
    bind 127.0.0.1:8080 name web backlog 100 defer-accept
    acl host_static hdr_dom(host) -i static.example
    acl is_api path_beg /api/ /v2/
    acl is_img path_end .png .jpg
    acl from_lan src 10.0.0.0/8 127.0.0.1
    acl alt_port dst_port 8080:8090
    acl is_post method POST
    use_backend static if host_static || is_img
    use_backend api if is_api !is_post
    use_backend api if { hdr(x-api) -i yes } from_lan alt_port
    default_backend web
defaults
    mode http
    timeout connect 2000
backend static
    server s1 127.0.0.1:9001
backend api
    balance leastconn
    timeout queue 3s
    server a1 127.0.0.1:9002 maxconn 1 weight 3
backend web
    server w1 127.0.0.1:9003
"""


def test_frontend_backend_sections() -> None:
    cfg = parse_text(ROUTING, "r.cfg")
    names = [(p.cap, p.name) for p in cfg.proxies]
    assert names == [("frontend", "www"), ("backend", "static"), ("backend", "api"), ("backend", "web")]
    fe = cfg.proxies[0]
    assert fe.default_backend == "web"
    assert [r.backend for r in fe.use_backends] == ["static", "api", "api"]
    assert fe.use_backends[0].cond is not None
    assert fe.use_backends[0].cond.groups == [[(False, "host_static")], [(False, "is_img")]]
    assert fe.use_backends[1].cond is not None
    assert fe.use_backends[1].cond.groups == [[(False, "is_api"), (True, "is_post")]]
    acl = {a.name: a for a in fe.acls}
    assert acl["host_static"].criterion == "hdr_dom" and acl["host_static"].header == "host"
    assert acl["host_static"].icase
    assert acl["is_api"].patterns == ["/api/", "/v2/"]
    anon = [a for a in fe.acls if a.name.startswith("{")]
    assert len(anon) == 1 and anon[0].criterion == "hdr" and anon[0].header == "x-api"
    b = fe.binds[0]
    assert (b.host, b.port_lo, b.options) == ("127.0.0.1", 8080, {"name": "web", "backlog": "100",
                                                                  "defer-accept": ""})
    # timeouts: units, bare numbers in ms; each `defaults` replaces the previous one
    assert (fe.contimeout, fe.clitimeout, fe.srvtimeout) == (5000, 60000, 50000)
    api = cfg.proxies[2]
    assert (api.contimeout, api.clitimeout, api.queuetimeout) == (2000, 0, 3000)
    assert api.balance == "leastconn" and api.servers[0].maxconn == 1 and api.servers[0].weight == 3


@pytest.mark.parametrize(("text", "attr", "value"), [
    ("timeout connect 3s", "contimeout", 3000),
    ("contimeout 3000", "contimeout", 3000),
    ("timeout client 2m", "clitimeout", 120000),
    ("clitimeout 20", "clitimeout", 20),
    ("timeout server 1h", "srvtimeout", 3600000),
    ("srvtimeout 1500", "srvtimeout", 1500),
    ("timeout queue 1d", "queuetimeout", 86400000),
    ("timeout http-request 10s", "httpreqtimeout", 10000),
    ("timeout http-keep-alive 500ms", "keepalivetimeout", 500),
    ("timeout check 2s", "checktimeout", 2000),
    ("timeout tunnel 1h", "tunneltimeout", 3600000),
])
def test_timeouts_with_units(text: str, attr: str, value: int) -> None:
    cfg = parse_text(f"backend b\n    {text}\n    server s 127.0.0.1:80\n")
    assert getattr(cfg.proxies[0], attr) == value


@pytest.mark.parametrize(("line", "balance", "arg"), [
    ("balance leastconn", "leastconn", ""),
    ("balance first", "first", ""),
    ("balance static-rr", "static-rr", ""),
    ("balance uri", "uri", ""),
    ("balance uri whole", "uri", "whole"),
    ("balance hdr(Host)", "hdr", "Host"),
    ("balance source", "source", ""),
])
def test_balance_algorithms(line: str, balance: str, arg: str) -> None:
    px = parse_text(f"backend b\n    {line}\n    server s 127.0.0.1:80\n").proxies[0]
    assert (px.balance, px.hash_balance_arg) == (balance, arg)


def test_options_and_http_request_rules() -> None:
    px = parse_text(
        "frontend f\n    mode http\n    bind :80\n    option http-server-close\n"
        "    option forwardfor except 127.0.0.0/8 header X-Client\n"
        "    acl adm path_beg /admin\n"
        "    http-request deny if adm\n"
        "    http-request deny deny_status 429 unless adm\n"
        "    http-request add-header X-A 1\n"
        "    http-request set-header X-B two\n"
        "    http-request del-header X-C\n"
        "    http-request redirect location /new code 301 if { path /old }\n"
        "    http-request redirect prefix http://x.example drop-query if { path_beg /p }\n"
        "    default_backend b\nbackend b\n    mode http\n    server s 127.0.0.1:80\n"
    ).proxies[0]
    assert "http-server-close" in px.options and "forwardfor" in px.options
    assert px.forwardfor_except == ("127.0.0.0", 8) and px.forwardfor_header == "X-Client"
    acts = [(r.action, r.args) for r in px.http_rules]
    assert acts == [("deny", []), ("deny", ["429"]), ("add-header", ["X-A", "1"]),
                    ("set-header", ["X-B", "two"]), ("del-header", ["X-C"]),
                    ("redirect", ["location", "/new", "301", "0"]),
                    ("redirect", ["prefix", "http://x.example", "302", "1"])]
    # the last of httpclose / http-server-close / http-keep-alive wins
    px = parse_text("listen a :80\n    option httpclose\n    option http-keep-alive\n"
                    "    server s 127.0.0.1:80\n").proxies[0]
    assert "httpclose" not in px.options and "http-keep-alive" in px.options


def test_same_name_frontend_and_backend() -> None:
    cfg = parse_text("frontend app\n    bind :80\n    default_backend app\nbackend app\n"
                     "    server s 127.0.0.1:80\n")
    assert [p.cap for p in cfg.proxies] == ["frontend", "backend"]


def test_backend_without_server_is_accepted() -> None:
    cfg = parse_text("frontend f\n    bind :80\n    default_backend b\nbackend b\n")
    assert cfg.proxies[1].servers == []


def test_debian_default_with_proxies_parses() -> None:
    if not DEBIAN_CFG.exists():
        pytest.skip("no Debian haproxy.cfg")
    text = DEBIAN_CFG.read_text() + "\nfrontend f\n    bind 127.0.0.1:8080\n    default_backend b\n" \
        "backend b\n    server s 127.0.0.1:9000\n"
    cfg = parse_text(text, "debian.cfg")
    g = cfg.global_
    assert g.chroot == "/var/lib/haproxy" and g.daemon and g.user == "haproxy"
    assert g.stats_socket is not None and g.stats_socket.level == "admin" and g.stats_timeout == 30000
    assert [t.address for t in g.logs] == ["/dev/log", "/dev/log"]
    assert sorted(cfg.proxies[0].errorfile) == [400, 403, 408, 500, 502, 503, 504]
    # the TLS defaults are applied (tls): kept for the `bind ... ssl` lines that follow
    assert g.tls.ca_base == "/etc/ssl/certs" and g.tls.crt_base == "/etc/ssl/private"
    assert g.tls.bind_ciphers and g.tls.bind_ciphersuites
    assert g.tls.bind_options == ["ssl-min-ver", "TLSv1.2", "no-tls-tickets"]
    assert not any("ssl" in w or "base" in w for w in cfg.warnings)


def test_debian_default_check_mode() -> None:
    """`haproxy -c -f /etc/haproxy/haproxy.cfg` is valid, as Debian's haproxy 2.6 says."""
    if not DEBIAN_CFG.exists():
        pytest.skip("no Debian haproxy.cfg")
    r = subprocess.run([sys.executable, "-m", "pyhaproxy", "-c", "-f", str(DEBIAN_CFG)],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "Configuration file is valid" in r.stdout


def test_bind_ssl_names_the_line() -> None:
    # (tls) a missing certificate, and a TLS option not handled yet, name their line
    with pytest.raises(ConfigError) as ei:
        parse_text("frontend f\n    bind :80\n\n    bind :443 ssl crt /nonexistent/x.pem\n", "t.cfg")
    assert ei.value.line == 4 and "/nonexistent/x.pem" in ei.value.message
    with pytest.raises(ConfigError) as ei:
        parse_text("frontend f\n    bind :80\n\n    bind :443 ssl generate-certificates crt /x\n", "t.cfg")
    assert ei.value.line == 4 and "'generate-certificates'" in ei.value.message
    assert "not supported" in ei.value.message


HAPROXY = Path("/usr/sbin/haproxy")


def _haproxy_keywords() -> dict[str, list[str]]:
    """haproxy 2.6's own list of configuration keywords (`haproxy -dKcfg`), by section."""
    out = subprocess.run([str(HAPROXY), "-dKcfg", "-q", "-c", "-f", "/dev/null"],
                         capture_output=True, text=True, timeout=30)
    found: dict[str, list[str]] = {}
    section = ""
    for line in (out.stdout + out.stderr).splitlines():
        if not line.startswith("\t"):
            section = line.strip()
            continue
        found.setdefault(section, []).append(line.strip())
    return found


@pytest.mark.skipif(not HAPROXY.exists(), reason="Debian's haproxy is not installed")
def test_every_haproxy_26_keyword_is_handled_or_refused_by_name() -> None:
    """A keyword haproxy 2.6 knows is never "unknown" here: it works or is refused as unsupported."""
    kws = _haproxy_keywords()
    assert kws.get("global") and kws.get("listen")
    cases: list[tuple[str, str]] = []
    for w in kws["global"]:
        if " " not in w and not w.startswith("tune."):
            cases.append((f"global\n    {w} x\n", "unknown keyword"))
    for w in kws["listen"]:
        parts = w.split()
        if len(parts) == 1:
            cases.append((f"frontend f\n    bind :80\n    {w} x\n", "unknown keyword"))
        elif parts[:2] == ["bind", "<addr>"]:
            opt = parts[3] if parts[2] == "ssl" else parts[2]
            arg = " x" if "+1" in parts else ""     # (haproxy marks options taking a value "+1")
            cases.append((f"frontend f\n    bind :80 {opt}{arg}\n", "unknown option"))
        elif parts[:3] == ["server", "<name>", "<addr>"]:
            arg = " x" if "+1" in parts else ""
            cases.append((f"backend b\n    server s 127.0.0.1:80 {parts[3]}{arg}\n", "only supports options"))
    assert len(cases) > 150
    for text, bad in cases:
        try:
            parse_text(text, "k.cfg")
        except ConfigError as e:
            assert bad not in e.message, (text, e.message)


def test_one_side_keywords_are_warned_about() -> None:
    cfg = parse_text("frontend f\n    bind :80\n    balance leastconn\n    timeout server 3s\n"
                     "    default_backend b\nbackend b\n    timeout client 2s\n    capture cookie c len 9\n"
                     "    server s 127.0.0.1:1\n", "s.cfg")
    assert [w.split(" : ", 1)[1] for w in other_warnings(cfg)] == [
        "'balance' ignored because frontend 'f' has no backend capability.",
        "'timeout server' ignored because frontend 'f' has no backend capability.",
        "'timeout client' ignored because backend 'b' has no frontend capability.",
        "'capture' ignored because backend 'b' has no frontend capability.",
    ]


def test_fd_binds_and_several_stats_sockets() -> None:
    cfg = parse_text(
        "global\n    stats socket /run/a.sock level admin\n    stats socket fd@5 level user\n"
        "frontend fe\n    bind fd@7\n    mode http\n",
        "t.cfg",
    )
    g = cfg.global_
    assert [s.path for s in g.stats_sockets] == ["/run/a.sock", "fd@5"]
    assert g.stats_socket is g.stats_sockets[0]
    assert [(b.host, b.fd) for b in cfg.proxies[0].binds] == [("fd@7", 7)]


@pytest.mark.parametrize(("line", "message"), [
    ("    bind fd@x", "'bind fd@x' : 'fd@' expects a file descriptor number."),
    ("    bind abns@", "'bind abns@' : missing socket path or name."),
    ("    bind unix@/run/x.sock mode 9z", "'bind unix@/run/x.sock' : invalid mode '9z' (octal expected)."),
])
def test_bad_fd_and_unix_binds(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text(f"frontend fe\n{line}\n", "t.cfg")
    assert str(ei.value) == f"[ALERT] parsing [t.cfg:2] : {message}"


def test_redirect_options_in_any_order() -> None:
    cfg = parse_text("frontend fe\n    bind :80\n    mode http\n"
                     "    http-request redirect code 301 location /x\n"
                     "    http-request redirect drop-query prefix /p code 308\n", "t.cfg")
    assert [r.args for r in cfg.proxies[0].http_rules] == [["location", "/x", "301", "0"],
                                                           ["prefix", "/p", "308", "1"]]


@pytest.mark.parametrize(("line", "message"), [
    ("    timeout connect abc", "unexpected character 'a' in 'timeout connect'"),
    ("    contimeout abc", "unexpected character 'a' in time argument 'abc' to 'contimeout'."),
    ("    http-request deny deny_status 403 errorfile /x",
     "'http-request deny' : unsupported argument 'errorfile' (only 'deny_status CODE')."),
])
def test_errors_name_what_was_written(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text(f"frontend fe\n    bind :80\n    mode http\n{line}\n", "t.cfg")
    assert str(ei.value) == f"[ALERT] parsing [t.cfg:4] : {message}"


def test_default_server_options_come_first_and_add_up() -> None:
    cfg = parse_text(
        "defaults\n    default-server inter 3s fall 5\n"
        "backend b\n    server a 127.0.0.1:80\n    default-server check weight 7\n"
        "    server b 127.0.0.1:81\n    server c 127.0.0.1:82 weight 2 fall 1\n", "t.cfg")
    a, b, c = cfg.proxies[0].servers
    assert (a.inter, a.fall, a.check, a.weight) == (3000, 5, False, 1)
    assert (b.inter, b.fall, b.check, b.weight) == (3000, 5, True, 7)
    assert (c.fall, c.check, c.weight) == (1, True, 2)  # its own options win


def test_default_server_options_are_checked_on_their_line() -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text("backend b\n    default-server weight 900\n", "t.cfg")
    assert str(ei.value).startswith("[ALERT] parsing [t.cfg:2] : weight of server default-server")


@pytest.mark.parametrize(("line", "message"), [
    ("    http-check expect status 2x0", "'http-check expect status' : invalid status code or range '2x0'."),
    ("    http-check expect hdr name x", "'http-check expect hdr' is not supported (it is a keyword of "
                                       "HAProxy 2.6)."),
    ("    http-check expect rstring (", "'http-check expect rstring' : invalid regex '(' (missing ), "
                                      "unterminated subpattern at position 0)."),
    ("    http-check send meth", "'http-check send' : 'meth' expects a value as argument."),
    ("    http-check send foo bar", "'http-check send' : expects 'comment', 'meth', 'uri', 'uri-lf', "
                                  "'ver', 'hdr', 'body' or 'body-lf' but got 'foo' as argument."),
    ("    http-check send uri-lf /%[src]", "'http-check send uri-lf' (log-format) is not supported (it is a "
                                         "keyword of HAProxy 2.6)."),
    ("    http-check disable-on-404 x", "'http-check disable-on-404' cannot handle unexpected argument 'x'."),
])
def test_http_check_errors(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text(f"backend b\n    option httpchk\n{line}\n", "t.cfg")
    assert str(ei.value) == f"[ALERT] parsing [t.cfg:3] : {message}"


def test_http_check_26_forms() -> None:
    cfg = parse_text(
        "backend b\n    option httpchk GET /h\n    option log-health-checks\n"
        "    http-check send meth POST ver HTTP/1.1 hdr Host x hdr X-A b body hello\n"
        "    http-check expect ! string down\n    http-check disable-on-404\n", "t.cfg")
    px = cfg.proxies[0]
    assert px.http_check_expect == (True, "string", "down")
    assert px.http_check_disable_404 and "log-health-checks" in px.options
    send = px.http_check_send
    assert send is not None
    assert (send.method, send.uri, send.version, send.headers, send.body) == (
        "POST", None, "HTTP/1.1", [("Host", "x"), ("X-A", "b")], "hello")


def test_a_second_http_check_expect_is_refused() -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text("backend b\n    option httpchk\n    http-check expect status 200\n"
                   "    http-check expect string ok\n", "t.cfg")
    assert "a second 'http-check expect' rule" in str(ei.value)
    # one from `defaults` is replaced by the proxy's own
    cfg = parse_text("defaults\n    http-check expect status 200\nbackend b\n    option httpchk\n"
                     "    http-check expect string ok\n", "t.cfg")
    assert cfg.proxies[0].http_check_expect == (False, "string", "ok")


def test_maxconnrate_reaches_the_worker_plan() -> None:
    from pyhaproxy.worker import plan_worker

    cfg = parse_text("global\n    maxconnrate 250\nfrontend fe\n    bind :80\n", "t.cfg")
    assert cfg.global_.maxconnrate == 250
    assert plan_worker(cfg).maxconnrate == 250


def test_stats_socket_addresses() -> None:
    cfg = parse_text("global\n    stats socket ipv4@127.0.0.1:9999\n    stats socket 127.0.0.2:9998\n"
                     "    stats socket ipv6@[::1]:9997\n    stats socket abns@cli\n"
                     "frontend fe\n    bind :80\n", "t.cfg")
    assert [s.path for s in cfg.global_.stats_sockets] == [
        "ipv4@127.0.0.1:9999", "ipv4@127.0.0.2:9998", "ipv6@[::1]:9997", "abns@cli"]


@pytest.mark.parametrize(("line", "message"), [
    ("stats socket ipv4@127.0.0.1",
     "'stats socket ipv4@127.0.0.1' : missing or invalid port in '127.0.0.1'."),
    ("stats socket ipv4@[::1]:80", "'stats socket ipv4@[::1]:80' : address '::1' is not an IPv4 address."),
    ("stats socket udp@1.2.3.4:5",
     "'stats socket udp@1.2.3.4:5' : only UNIX sockets (path, unix@, abns@), "
     "TCP addresses (ipv4@, ipv6@, ADDR:PORT) and fd@N are supported by pyhaproxy."),
])
def test_stats_socket_bad_addresses(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text(f"global\n    {line}\n", "t.cfg")
    assert str(ei.value) == f"[ALERT] parsing [t.cfg:2] : {message}"


def test_stats_socket_expose_fd() -> None:
    cfg = parse_text("global\n    stats socket /run/a.sock level admin expose-fd listeners\n"
                     "    stats socket /run/b.sock\nfrontend fe\n    bind :80\n", "t.cfg")
    assert [s.expose_fd for s in cfg.global_.stats_sockets] == [True, False]
    with pytest.raises(ConfigError) as ei:
        parse_text("global\n    stats socket /run/a.sock expose-fd all\n", "t.cfg")
    assert str(ei.value) == ("[ALERT] parsing [t.cfg:2] : 'stats socket' : 'expose-fd' only supports "
                             "'listeners' (got 'all')")


def test_unix_binds() -> None:
    cfg = parse_text("frontend fe\n    bind unix@/run/a.sock mode 660 uid 0\n    bind /run/b.sock\n"
                     "    bind abns@name\n    bind :80\n", "t.cfg")
    binds = cfg.proxies[0].binds
    assert [(b.host, b.family) for b in binds] == [("/run/a.sock", 1), ("/run/b.sock", 1),
                                                   ("abns@name", 1), ("", 2)]
    assert binds[0].options == {"mode": "660", "uid": "0"}


def test_stats_admin_keeps_its_conditions() -> None:
    cfg = parse_text("listen st\n    bind :80\n    mode http\n    stats enable\n"
                     "    stats admin if TRUE\n    stats admin unless FALSE\n", "t.cfg")
    assert [c.unless for c in cfg.proxies[0].stats.admin] == [False, True]


@pytest.mark.parametrize(("line", "message"), [
    ("http-request capture path len x", "'http-request capture len' expects an integer"),
    ("http-request capture path id 3", "unable to find capture id '3'"),
    ("http-response capture res.hdr(x) len 4", "expects <expression> 'id' <idx>"),
    ("http-request capture nosuchfetch len 4", "unknown fetch method"),
    ("declare capture request 4", "'declare' expects 'capture' 'request|response' 'len' <length>"),
])
def test_capture_rules_refused(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text(f"frontend f\n    mode http\n    {line}\n", "t.cfg")
    assert message in ei.value.message and ei.value.line == 3


def test_capture_slots_in_order() -> None:
    cfg = parse_text("frontend f\n    mode http\n    bind :80\n    capture request header Host len 5\n"
                     "    declare capture request len 7\n    http-request capture path len 9\n"
                     "    http-request capture src id 1\n", "t.cfg")
    px = cfg.proxies[0]
    assert [(c.kind, c.name, c.length) for c in px.captures] == [
        ("request", "Host", 5), ("request", "", 7), ("request", "", 9)]
    assert [(r.action, r.args) for r in px.http_rules] == [("capture", ["2"]), ("capture", ["1"])]


@pytest.mark.parametrize(("rule", "message"), [
    ("http-request set-header X %[str(a),strcmp()]",
     "converter 'strcmp' : expects 1 argument(s)"),
    ("http-request set-header X %[str(a),strcmp(nope)]", "nope"),
    ("http-request set-header X %[nbsrv(missing)]",
     "unable to find backend 'missing' referenced in arg 1 of sample fetch keyword 'nbsrv' in proxy 'fe'."),
])
def test_converters_and_fetches_with_names_refuse_bad_ones(rule: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text(f"frontend fe\n    bind :80\n    {rule}\n", "t.cfg")
    assert message in str(ei.value)
