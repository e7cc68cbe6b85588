"""The rule engine against haproxy 2.6, rule for rule (issue 18's differential suite).

One configuration holds some eighty rules: sample fetches, converter chains, match methods,
the predefined ACLs, maps and variables, each writing what it computed into a request header
(`http-request set-header X-NAME %[EXPR]`, or `... 1 if ACL`) and, on the way back, response
fetches into response headers. The same requests go through pyhaproxy and through
/usr/sbin/haproxy, each started on that configuration with the same backend; every header a
rule wrote must be the same, byte for byte, and absent in both where a rule did not fire.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import HAPROXY
from tests.helpers import free_port, recv_until_closed
from tests.helpers.proxy import CMD_VAR

pytestmark = pytest.mark.timeout(90)

# (header suffix, sample expression): `http-request set-header X-<suffix> %[<expr>]`
SAMPLES = [
    ("dst", "dst"), ("dport", "dst_port"), ("src", "src"), ("fe", "fe_name"),
    ("meth", "method"), ("path", "path"), ("base", "base"), ("url", "url"), ("query", "query"),
    ("param", "url_param(a)"), ("param2", "url_param(b)"), ("hdr", "req.hdr(x-in)"),
    ("hdr2", "req.hdr(x-list,2)"), ("hdrlast", "req.hdr(x-list,-1)"), ("hcnt", "req.hdr_cnt(x-list)"),
    ("fhdr", "req.fhdr(x-date)"), ("cook", "req.cook(c1)"), ("cookcnt", "req.cook_cnt(c1)"),
    ("host", "hdr(host)"), ("nbsrv", "nbsrv(app)"), ("queue", "queue(app)"), ("var", "var(txn.v)"),
    ("lower", "req.hdr(x-in),lower"), ("upper", "req.hdr(x-in),upper"),
    ("map", "req.hdr(x-site),lower,map({maps}/hosts.map,none)"),
    ("mapbeg", "path,map_beg({maps}/paths.map,none)"),
    ("mapsub", "path,map_sub({maps}/paths.map,none)"),
    ("mapreg", "path,map_reg({maps}/regex.map,none)"),
    ("mapip", "src,map_ip({maps}/nets.map,none)"),
    ("mapstr", "req.hdr(x-site),map_str({maps}/hosts.map)"),
    ("ipmask", "src,ipmask(24)"), ("regsub", "path,regsub(/,_,g)"),
    ("regsub1", "path,regsub(^/[a-z]+,X)"),
    ("field", "path,field(2,/)"), ("fieldn", "path,field(-1,/)"), ("word", "path,word(2,/)"),
    ("bytes", "req.hdr(x-in),bytes(1,3)"), ("length", "req.hdr(x-in),length"),
    ("hex", "req.hdr(x-in),hex"), ("b64", "req.hdr(x-in),base64"), ("b64d", "req.hdr(x-b64),b64dec"),
    ("urldec", "url_param(enc),url_dec"), ("json", "req.hdr(x-json),json(utf8s)"),
    ("add", "req.hdr(x-num),add(3)"), ("sub", "req.hdr(x-num),sub(50)"),
    ("mul", "req.hdr(x-num),mul(-2)"), ("div", "req.hdr(x-num),div(7)"),
    ("mod", "req.hdr(x-num),mod(7)"), ("neg", "req.hdr(x-num),neg"),
    ("and", "req.hdr(x-num),and(6)"), ("or", "req.hdr(x-num),or(1)"), ("xor", "req.hdr(x-num),xor(5)"),
    ("strcmp", "req.hdr(x-in),strcmp(txn.v)"), ("concat", "req.hdr(x-in),concat(-,txn.v,-)"),
    ("sdbm", "req.hdr(x-in),sdbm"), ("djb2", "req.hdr(x-in),djb2"), ("crc32", "req.hdr(x-in),crc32"),
    ("wt6", "req.hdr(x-in),wt6"), ("xxh3", "req.hdr(x-in),xxh3"), ("xxh3s", "req.hdr(x-in),xxh3(7)"),
    ("xxh32", "req.hdr(x-in),xxh32"), ("xxh64", "req.hdr(x-in),xxh64(-1)"),
    ("ltrim", "req.hdr(x-pad),ltrim(.)"), ("rtrim", "req.hdr(x-pad),rtrim(.)"),
    ("chain", "req.hdr(host),lower,field(1,:),upper,length"),
    # (be_conn is not compared: 2.6 may still count the previous request's stream when the
    # next one comes, a race in either binary)
    ("slots", "connslots(app)"), ("slots2", "connslots(limited)"),
    ("srvup", "srv_is_up(app/s1)"), ("srvup2", "srv_is_up(limited/up2)"),
    ("nbsrv3", "nbsrv(limited)"), ("setvar", "req.hdr(x-in),set-var(txn.sv),upper"),
    ("setvar2", "var(txn.sv)"),
    # set-var's conditions (2.6): the rules at the top of the frontend
    ("vc1", "var(txn.c1)"), ("vc2", "var(txn.c2)"), ("vc3", "var(txn.c3)"), ("vc4", "var(txn.c4)"),
    ("vc5", "var(txn.c5),length"), ("vc6", "var(txn.c6)"), ("vc7", "var(txn.c7)"), ("vc8", "var(txn.c8)"),
]

# (header suffix, condition): `http-request set-header X-<suffix> 1 if <condition>`
CONDITIONS = [
    ("m_str", "{ req.hdr(x-in) -m str Hello }"), ("m_stri", "{ req.hdr(x-in) -i -m str hello }"),
    ("m_beg", "{ path -m beg /api }"), ("m_end", "{ path -m end .css }"),
    ("m_sub", "{ req.hdr(x-in) -m sub ell }"), ("m_reg", "{ path -m reg ^/[a-z]+/v[0-9]$ }"),
    ("m_dom", "{ req.hdr(x-site) -m dom example }"), ("m_dir", "{ path -m dir v1 }"),
    ("m_len", "{ req.hdr(x-in) -m len 5 }"), ("m_found", "{ req.hdr(x-opt) -m found }"),
    ("m_int", "{ req.hdr(x-num),add(0) -m int gt 40 }"), ("m_ip", "{ src 127.0.0.0/8 }"),
    ("m_bool", "{ req.hdr_cnt(x-list) -m bool }"), ("m_file", "{ path -f {maps}/paths.lst }"),
    ("m_neg", "!{ path -m beg /api }"), ("m_or", "{ path -m end .css } || { path -m beg /api }"),
    ("HTTP", "HTTP"), ("HTTP_1_1", "HTTP_1.1"), ("HTTP_1_0", "HTTP_1.0"), ("METH_GET", "METH_GET"),
    ("METH_POST", "METH_POST"), ("LOCALHOST", "LOCALHOST"), ("URL_SLASH", "HTTP_URL_SLASH"),
    ("URL_ABS", "HTTP_URL_ABS"), ("URL_STAR", "HTTP_URL_STAR"), ("CONTENT", "HTTP_CONTENT"),
    ("REQ_CONTENT", "REQ_CONTENT"), ("TRUE", "TRUE"), ("FALSE", "FALSE"), ("WAIT_END", "WAIT_END"),
    ("varcond", "{ var(txn.v) -m str hello }"),
]

# in the backend (2.6 refuses be_name where the backend is not known yet)
BACKEND = [("be", "be_name"), ("nbsrv2", "nbsrv"), ("concat2", "str(x),concat(,txn.none,)")]

# response side: `http-response set-header X-<suffix> %[<expr>]`
RESPONSE = [("st", "status"), ("rhdr", "res.hdr(x-back)"), ("rhcnt", "res.hdr_cnt(x-back)"),
            ("rlen", "res.hdr(x-back),length"), ("rvar", "var(txn.v),upper")]

MAPS = {
    "hosts.map": "www.example.com site-www\napi.example.com site-api\n# a comment\n\nshop.example.org shop\n",
    "paths.map": "/api api-prefix\n/static static-prefix\nv1 has-v1\n",
    "regex.map": "^/api/v[0-9]+$ api-versioned\n\\.css$ stylesheet\n",
    "nets.map": "127.0.0.0/8 loopback\n10.0.0.0/8 private\n",
    "paths.lst": "/api/v1\n/index.html\n",
}

REQUESTS = [
    b"GET /api/v1?a=1&b=two&enc=%41%20b HTTP/1.1\r\nHost: Proxy.Test:80\r\nX-In: Hello\r\n"
    b"X-List: one, two\r\nX-List: three\r\nX-Date: Tue, 01 Dec 2026 10:00:00 GMT\r\n"
    b"Cookie: c0=x; c1=first; c1=second\r\nX-Site: WWW.Example.COM\r\nX-Num: 45\r\n"
    b"X-B64: aGVsbG8gd29ybGQ=\r\nX-Json: a\"b\\c\r\nX-Pad: ..pad..\r\nX-Opt: \r\n\r\n",
    b"GET /static/site.css HTTP/1.0\r\nHost: other\r\nX-In: hello\r\nX-Num: -12\r\n"
    b"X-Site: shop.example.org\r\n\r\n",
    b"POST http://proxy.test/form HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 4\r\n"
    b"Content-Type: text/plain\r\nX-Num: 7\r\n\r\nbody",
    b"OPTIONS * HTTP/1.1\r\nHost: proxy.test\r\n\r\n",
]

# A difference on purpose (second request): pyhaproxy's and haproxy 2.6's values.
# sub(50) of -12: 2.6's arith_add() checks for an overflow with LLONG_MAX - a, which itself
# overflows for a negative a, and answers LLONG_MAX for the sum of two negative numbers;
# pyhaproxy computes -62.
KNOWN_SUB = ("sub=-62", "sub=9223372036854775807")

CFG = """
    global
        maxconn 100
    defaults
        mode http
        timeout connect 5s
        timeout client 10s
        timeout server 10s
    frontend fe
        bind 127.0.0.1:{port}
        http-request set-var(txn.v) str(hello)
        http-request set-var(txn.c1,ifnotset) str(first)
        http-request set-var(txn.c1,ifnotset) str(second)
        http-request set-var(txn.c2,ifset) str(x)
        http-request set-var(txn.c3) int(5)
        http-request set-var(txn.c3,ifgt) int(3)
        http-request set-var(txn.c3,iflt) int(1)
        http-request set-var(txn.c4,ifnotempty) req.hdr(x-opt)
        http-request set-var(txn.c5,ifempty,ifnotexists) req.hdr(x-opt)
        http-request set-var(txn.c6) str(abc),set-var(txn.c7,ifnotset),upper
        http-request set-var-fmt(txn.c8,ifnotexists) "%[path]-%[var(txn.c1)]"
{rules}
        default_backend app
    backend limited
        server up 127.0.0.1:{bport} maxconn 10 maxqueue 5
        server up2 127.0.0.1:{bport} maxconn 3 maxqueue 2
    backend app
        http-response set-header X-Back first
        http-response add-header X-Back second
{response}
        server s1 127.0.0.1:{bport}
    """


def _config(maps: Path) -> str:
    # four samples per header: pyhaproxy's parsed request holds at most 101 header lines
    # (tune.http.maxhdr's default), where 2.6 adds as many as its buffer takes
    rules = []
    for k in range(0, len(SAMPLES), 4):
        value = ";".join(f"{n}=%[{e.replace('{maps}', str(maps))}]" for n, e in SAMPLES[k:k + 4])
        rules.append(f"        http-request set-header X-G{k // 4} \"{value}\"")
    rules += [f"        http-request set-header X-C-{n} 1 if {c.replace('{maps}', str(maps))}"
              for n, c in CONDITIONS]
    response = [f"        http-request set-header X-B-{n} %[{e}]" for n, e in BACKEND]
    response += [f"        http-response set-header X-R-{n} %[{e}]" for n, e in RESPONSE]
    # (render_config then substitutes only {port} and {bport}: the ACLs' braces stay)
    return CFG.replace("{rules}", "\n".join(rules)).replace("{response}", "\n".join(response))


def _exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw if b"Connection:" in raw else raw.replace(b"\r\n", b"\r\nConnection: close\r\n", 1))
        return recv_until_closed(s, 10)


def _x_headers(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        if k.lower().startswith("x-"):
            out.setdefault(k.lower(), []).append(v)
    return out


def _run(proxy: Any, http_backend: Any, maps: Path, port: int, cmd: str | None,
         monkeypatch: Any) -> list[Any]:
    if cmd is None:
        monkeypatch.delenv(CMD_VAR, raising=False)
    else:
        monkeypatch.setenv(CMD_VAR, cmd)
    backend = http_backend(name="back")
    px = proxy.start(_config(maps), port=port, bport=backend.port, name=f"rules-{cmd is None}")
    seen = []
    for raw in REQUESTS:
        before = len(backend.requests)
        answer = _exchange(port, raw)
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        rsp = [tuple(h.split(": ", 1)) for h in head[1:] if ": " in h]
        assert len(backend.requests) == before + 1, answer[:300]
        seen.append((head[0].split(" ", 2)[1], _x_headers(backend.requests[-1].headers), _x_headers(rsp)))
    px.signal(15)
    px.wait_exit(10)
    return seen


def test_every_rule_computes_what_haproxy_computes(proxy: Any, http_backend: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if not HAPROXY.exists():
        pytest.skip("Debian's haproxy is not installed")
    maps = tmp_path / "maps"
    maps.mkdir()
    for name, text in MAPS.items():
        (maps / name).write_text(text)
    port = free_port()      # the same for both, one after the other (dst_port is compared too)
    ours = _run(proxy, http_backend, maps, port, None, monkeypatch)
    theirs = _run(proxy, http_backend, maps, port, str(HAPROXY), monkeypatch)
    # the rules really ran (a proxy ignoring them all would agree with one that did the same)
    written = {h for _, req, _ in ours for h in req}
    assert len(written) >= 0.9 * (len(SAMPLES) // 4 + len(CONDITIONS) - 1), sorted(written)
    assert all("=;" not in v[0] and not v[0].endswith("=") for _, req, _ in ours[:1]
               for h, v in req.items() if h in ("x-g0", "x-g1", "x-g2")), "samples gave nothing"
    first = ";" + ";".join(v[0] for v in ours[0][1].values()) + ";"
    for want in ("vc1=first", "vc2=", "vc3=3", "vc4=", "vc5=0", "vc6=ABC", "vc7=abc", "vc8=/api/v1-first"):
        assert f";{want};" in first, (want, first)
    for i, (raw, (st_o, req_o, rsp_o), (st_t, req_t, rsp_t)) in enumerate(
            zip(REQUESTS, ours, theirs, strict=True)):
        where = raw.split(b"\r\n", 1)[0].decode()
        assert st_o == st_t, where
        if i == 1:
            for req, want in ((req_o, KNOWN_SUB[0]), (req_t, KNOWN_SUB[1])):
                group = next(h for h, v in req.items() if ";sub=" in ";" + v[0])
                assert f";{want};" in f";{req[group][0]};", (where, req[group])
                req[group] = [f";{req[group][0]};".replace(f";{want};", ";sub=?;")]
        diff = {k: (req_o.get(k), req_t.get(k)) for k in sorted(set(req_o) | set(req_t))
                if req_o.get(k) != req_t.get(k)}
        assert not diff, f"{where}: request headers (pyhaproxy, haproxy) differ: {diff}"
        rdiff = {k: (rsp_o.get(k), rsp_t.get(k)) for k in sorted(set(rsp_o) | set(rsp_t))
                 if rsp_o.get(k) != rsp_t.get(k)}
        assert not rdiff, f"{where}: response headers (pyhaproxy, haproxy) differ: {rdiff}"


UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def test_date_rand_uuid(proxy: Any, http_backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fetches whose values cannot be compared across two runs: what each must be."""
    if not HAPROXY.exists():
        pytest.skip("Debian's haproxy is not installed")
    cfg = """
        defaults
            mode http
            timeout connect 5s
            timeout client 10s
            timeout server 10s
        frontend fe
            bind 127.0.0.1:{port}
            http-request set-header X-Date %[date]
            http-request set-header X-Date-Ms %[date(-1000,ms)]
            http-request set-header X-Date-Us %[date(0,us)]
            http-request set-header X-Date-Hour %[date(3600)]
            http-request set-header X-Rand %[rand(6)]
            http-request set-header X-Rand-Full %[rand]
            http-request set-header X-Uuid %[uuid]
            http-request set-header X-Uuid4 %[uuid(4)]
            default_backend app
        backend app
            server s1 127.0.0.1:{bport}
        """
    for cmd in (None, str(HAPROXY)):
        if cmd is None:
            monkeypatch.delenv(CMD_VAR, raising=False)
        else:
            monkeypatch.setenv(CMD_VAR, cmd)
        backend = http_backend(name="b")
        port = free_port()
        px = proxy.start(cfg, port=port, bport=backend.port)
        rands = set()
        uuids = set()
        for _ in range(30):
            before = time.time()
            _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            after = time.time()
            req = backend.requests[-1]
            assert int(before) - 1 <= int(req.header("x-date")) <= after + 1
            assert (before - 2) * 1000 - 1000 <= int(req.header("x-date-ms")) <= after * 1000
            assert (before - 2) * 1e6 <= int(req.header("x-date-us")) <= (after + 1) * 1e6
            assert int(req.header("x-date-hour")) - int(req.header("x-date")) in (3600, 3601)
            rands.add(int(req.header("x-rand")))
            assert 0 <= int(req.header("x-rand-full")) < 2 ** 32
            for name in ("x-uuid", "x-uuid4"):
                u = req.header(name)
                assert re.fullmatch(UUID4, u), u
                uuids.add(u)
        assert rands <= set(range(6)) and len(rands) >= 3, rands
        assert len(uuids) == 60
        px.signal(15)
        px.wait_exit(10)
