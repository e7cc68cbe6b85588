"""Differential: `hash-type` and the hashing balances (uri and its options, url_param, hdr with
use_domain_only, source) and `balance random`, on pyhaproxy and on Debian's haproxy 2.6 with the
same configuration. Each test runs both binaries one after the other against the same test
servers and asserts they send the same requests to the same servers, request by request
(random: the spread and the accepted syntax only)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import HAPROXY
from tests.helpers.net import LOCALHOST, free_ports
from tests.helpers.proxy import CMD_VAR

pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(not HAPROXY.exists(), reason="Debian's haproxy is not installed")]

CFG = """
global
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    {dflt}
listen l
    bind 127.0.0.1:{port}
    {balance}
    {hash_type}
    server s1 127.0.0.1:{p1} id 7 weight 10
    server s2 127.0.0.1:{p2} weight 25
    server s3 127.0.0.1:{p3} id 3 weight 1
    server s4 127.0.0.1:{p4} weight 60
"""


def ask(port: int, path: str, headers: dict[str, str] | None = None) -> str:
    """One GET on its own connection: the X-Server of the answer ('-' for no 200). A `body`
    header makes it a POST of that body (sent with the head, in one write)."""
    hdrs = dict(headers or {})
    body = hdrs.pop("body", None)
    meth = "GET" if body is None else "POST"
    if body is not None:
        hdrs["Content-Length"] = str(len(body))
    head = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    with socket.create_connection((LOCALHOST, port), timeout=30) as s:
        s.sendall(f"{meth} {path} HTTP/1.1\r\nHost: x\r\n{head}Connection: close\r\n\r\n{body or ''}"
                  .encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    if not head.startswith("HTTP/1.1 200"):
        return "-"
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "x-server":
            return value.strip()
    return "?"


def cli(sock: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(sock))
        s.sendall(command.encode() + b"\n")
        out = b""
        while got := s.recv(65536):
            out += got
    return out.decode()


Request = tuple[str, dict[str, str]]


def run_both(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
             http_backend: Callable[..., Any], requests: list[Request], balance: str,
             hash_type: str = "", dflt: str = "", down: str | None = None, cmd: str | None = None
             ) -> dict[str, tuple[list[str], list[str]]]:
    """{binary: (picks, picks after `disable server l/<down>` or the CLI command `cmd`)} for
    pyhaproxy and haproxy 2.6."""
    names = ["s1", "s2", "s3", "s4"]
    backends = [http_backend(name=n) for n in names]
    out: dict[str, tuple[list[str], list[str]]] = {}
    for which in ("haproxy", "pyhaproxy"):
        if which == "haproxy":
            monkeypatch.setenv(CMD_VAR, str(HAPROXY))
        else:
            monkeypatch.delenv(CMD_VAR, raising=False)
        (port,) = free_ports(1)
        sock = tmp_path / f"{which}.sock"
        p = proxy.start(CFG, port=port, sock=sock, balance=balance, hash_type=hash_type, dflt=dflt,
                        p1=backends[0].port, p2=backends[1].port, p3=backends[2].port,
                        p4=backends[3].port, name=which)
        first = [ask(port, path, hdrs) for path, hdrs in requests]
        after: list[str] = []
        if down or cmd:
            answer = cli(sock, cmd or f"disable server l/{down}").strip()
            assert answer == "" or cmd
            after = [ask(port, path, hdrs) for path, hdrs in requests]
            if cmd:
                after.append(f"cli: {answer}")     # (compared too)
        out[which] = (first, after)
        p.signal(15)
        p.wait_exit()
    return out


URIS = [(f"/obj/{i * 7919 % 1000}/item{i}.png?v={i % 3}", {}) for i in range(50)]


@pytest.mark.parametrize("hash_type", [
    "hash-type consistent",
    "hash-type consistent sdbm",
    "hash-type consistent djb2",
    "hash-type consistent wt6 avalanche",
    "hash-type consistent crc32",
    "hash-type map-based",
    "hash-type map-based djb2 avalanche",
    "hash-type map-based wt6",
    "hash-type map-based crc32 avalanche",
])
def test_uri_hash_types(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                        http_backend: Callable[..., Any], hash_type: str) -> None:
    got = run_both(proxy, monkeypatch, tmp_path, http_backend, URIS, "balance uri", hash_type)
    assert got["pyhaproxy"][0] == got["haproxy"][0]
    assert len(set(got["haproxy"][0])) >= 3          # (the keys do spread)


@pytest.mark.parametrize("hash_type", ["hash-type consistent", "hash-type consistent djb2"])
def test_consistent_keeps_keys_when_a_server_goes(proxy: Any, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path, http_backend: Callable[..., Any],
                                                  hash_type: str) -> None:
    got = run_both(proxy, monkeypatch, tmp_path, http_backend, URIS, "balance uri", hash_type,
                   down="s2")
    assert got["pyhaproxy"] == got["haproxy"]
    before, after = got["pyhaproxy"]
    assert "s2" in before and "s2" not in after
    for b, a in zip(before, after, strict=True):
        if b != "s2":
            assert a == b                              # only s2's keys moved


def test_hash_balance_factor_without_load(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          http_backend: Callable[..., Any]) -> None:
    """`hash-balance-factor`: with one request at a time every server is under its bound, the
    picks are the ring's own, on both."""
    got = run_both(proxy, monkeypatch, tmp_path, http_backend, URIS, "balance uri",
                   "hash-type consistent\n    hash-balance-factor 150")
    assert got["pyhaproxy"][0] == got["haproxy"][0]


def test_hash_type_in_defaults(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                               http_backend: Callable[..., Any]) -> None:
    got = run_both(proxy, monkeypatch, tmp_path, http_backend, URIS, "balance uri whole",
                   dflt="hash-type consistent crc32 avalanche")
    assert got["pyhaproxy"][0] == got["haproxy"][0]


@pytest.mark.parametrize("balance", [
    "balance uri len 8", "balance uri depth 2", "balance uri depth 1 whole", "balance uri whole len 20",
    "balance uri path-only", "balance uri path-only whole",
])
@pytest.mark.parametrize("hash_type", ["", "hash-type consistent"])
def test_uri_options(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                     http_backend: Callable[..., Any], balance: str, hash_type: str) -> None:
    reqs = URIS[:20] + [(f"http://h{i}.example/a/b{i}/c?q={i}", {}) for i in range(20)]
    got = run_both(proxy, monkeypatch, tmp_path, http_backend, reqs, balance, hash_type)
    assert got["pyhaproxy"][0] == got["haproxy"][0]


@pytest.mark.parametrize("hash_type", ["", "hash-type consistent", "hash-type map-based djb2"])
def test_url_param(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                   http_backend: Callable[..., Any], hash_type: str) -> None:
    reqs = [(f"/p?a=1&user=u{i * 31}&b=2", {}) for i in range(30)]
    reqs += [(f"/p?user=x{i}", {}) for i in range(10)] + [("/p?useri=1&user=", {}), ("/p?user", {})]
    # without the parameter: round robin (the map's, or the ring's), the same on both
    reqs += [("/nothing", {}) for _ in range(12)]
    # a POST without it in the query string: 2.6 looks for it in the body (a form)
    reqs += [("/form", {"body": f"a=1&user=p{i * 17}&z=2"}) for i in range(12)]
    reqs += [("/form?user=q", {"body": "user=other"}), ("/form", {"body": "user= spaced"}),
             ("/form", {"body": "user=\x01bin"}), ("/form", {"body": "nouser=1"})]
    got = run_both(proxy, monkeypatch, tmp_path, http_backend, reqs, "balance url_param user check_post",
                   hash_type)
    assert got["pyhaproxy"][0] == got["haproxy"][0]


@pytest.mark.parametrize("hash_type", ["", "hash-type consistent"])
def test_hdr_use_domain_only(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                             http_backend: Callable[..., Any], hash_type: str) -> None:
    hosts = [f"www{i % 4}.site{i}.example.com" for i in range(25)] + [f"site{i}.org" for i in range(15)]
    hosts += ["plain", ".lead", "trail."]
    reqs = [("/", {"X-Site": h}) for h in hosts]
    got = run_both(proxy, monkeypatch, tmp_path, http_backend, reqs,
                   "balance hdr(X-Site) use_domain_only", hash_type)
    assert got["pyhaproxy"][0] == got["haproxy"][0]


def test_source_consistent(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                           http_backend: Callable[..., Any]) -> None:
    got = run_both(proxy, monkeypatch, tmp_path, http_backend, URIS[:10], "balance source",
                   "hash-type consistent")
    assert got["pyhaproxy"][0] == got["haproxy"][0]


@pytest.mark.parametrize("balance", ["balance random", "balance random(3)", "balance random(1)"])
def test_random_spreads(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                        http_backend: Callable[..., Any], balance: str) -> None:
    reqs = [("/", {}) for _ in range(120)]
    got = run_both(proxy, monkeypatch, tmp_path, http_backend, reqs, balance, down="s4")
    for which, (first, after) in got.items():
        assert set(first) == {"s1", "s2", "s3", "s4"} or set(first) >= {"s1", "s2", "s4"}, which
        assert "-" not in first and "s4" not in after and "-" not in after, which


@pytest.mark.parametrize("expr", ["path", "req.hdr(x-key),lower", "url_param(user)", "src",
                                  "req.hdr_cnt(x-key)"])
@pytest.mark.parametrize("hash_type", ["", "hash-type consistent"])
def test_balance_hash_expression(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                 http_backend: Callable[..., Any], expr: str, hash_type: str) -> None:
    reqs = [(f"/k/{i}?user=u{i % 7}", {"X-Key": f"Key-{i * 13}"}) for i in range(30)]
    reqs += [("/k/none", {}) for _ in range(6)]          # (no header: round robin)
    got = run_both(proxy, monkeypatch, tmp_path, http_backend, reqs, f"balance hash {expr}", hash_type)
    assert got["pyhaproxy"][0] == got["haproxy"][0]


def test_server_ids_in_show_stat(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                 http_backend: Callable[..., Any]) -> None:
    """`id N` and the automatic numbering of the others, as `show stat` shows them (sid)."""
    backends = [http_backend(name=n) for n in ("s1", "s2", "s3", "s4")]
    sids: dict[str, list[str]] = {}
    for which in ("haproxy", "pyhaproxy"):
        if which == "haproxy":
            monkeypatch.setenv(CMD_VAR, str(HAPROXY))
        else:
            monkeypatch.delenv(CMD_VAR, raising=False)
        (port,) = free_ports(1)
        sock = tmp_path / f"{which}.sock"
        p = proxy.start(CFG, port=port, sock=sock, balance="balance roundrobin", hash_type="", dflt="",
                        p1=backends[0].port, p2=backends[1].port, p3=backends[2].port,
                        p4=backends[3].port, name=which)
        lines = cli(sock, "show stat").splitlines()
        cols = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(cols, x.split(","), strict=False)) for x in lines[1:] if x]
        sids[which] = [f"{r['svname']}={r['sid']}" for r in rows if r["svname"].startswith("s")]
        p.signal(15)
        p.wait_exit()
    assert sids["pyhaproxy"] == sids["haproxy"] == ["s1=7", "s2=2", "s3=3", "s4=4"]


@pytest.mark.parametrize("hash_type", ["hash-type consistent", "", "hash-type map-based djb2"])
@pytest.mark.parametrize("cmd", ["set weight l/s4 20", "set weight l/s3 50", "disable server l/s2",
                                 "set weight l/s1 0"])
def test_state_and_weight_changes(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                  http_backend: Callable[..., Any], hash_type: str, cmd: str) -> None:
    """The ring (or the map) after a weight change or a server put in maintenance: the same
    picks on both, before and after."""
    if cmd == "set weight l/s4 20" and "consistent" not in hash_type:
        # 2.6: a map is static, its weights only go to 0 and back (the same answer on both)
        cmd = "set weight l/s4 20; set weight l/s4 60"
    got = run_both(proxy, monkeypatch, tmp_path, http_backend, URIS, "balance uri", hash_type, cmd=cmd)
    assert got["pyhaproxy"] == got["haproxy"]


def _slow(name: str) -> Callable[[Any], Any]:
    from tests.helpers.servers import HttpResponse

    def answer(req: Any) -> Any:
        delay = 3.0 if req.target.startswith("/long") else 0.0
        return HttpResponse(headers=[("X-Server", name)], body=name.encode(), delay=delay)
    return answer


@pytest.mark.parametrize("factor", ["hash-balance-factor 101", "hash-balance-factor 0"])
def test_bounded_loads_move_a_busy_key_on(proxy: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          http_backend: Callable[..., Any], factor: str) -> None:
    """Six slow requests for one key, one after the other while the earlier ones are served:
    with `hash-balance-factor 101` a server over its share passes the key on along the ring
    (2.6's consistent hashing with bounded loads), without it they all stay on the key's
    server; the same servers, in the same order, on both binaries."""
    import threading
    import time
    seqs: dict[str, list[str]] = {}
    for which in ("haproxy", "pyhaproxy"):
        backends = [http_backend(name=n, responder=_slow(n)) for n in ("s1", "s2", "s3", "s4")]
        if which == "haproxy":
            monkeypatch.setenv(CMD_VAR, str(HAPROXY))
        else:
            monkeypatch.delenv(CMD_VAR, raising=False)
        (port,) = free_ports(1)
        p = proxy.start(CFG, port=port, sock=tmp_path / f"{which}.sock", balance="balance uri",
                        hash_type=f"hash-type consistent\n    {factor}", dflt="", p1=backends[0].port,
                        p2=backends[1].port, p3=backends[2].port, p4=backends[3].port, name=which)
        seq: list[str] = []
        threads = []
        for i in range(6):
            before = [b.request_count() for b in backends]
            t = threading.Thread(target=ask, args=(port, "/long/key"), daemon=True)
            t.start()
            threads.append(t)
            deadline = time.monotonic() + 10
            while [b.request_count() for b in backends] == before:
                assert time.monotonic() < deadline, i
                time.sleep(0.02)
            after = [b.request_count() for b in backends]
            seq += [b.name for b, x, y in zip(backends, before, after, strict=True) if y > x]
        for t in threads:
            t.join(20)
        seqs[which] = seq
        p.signal(15)
        p.wait_exit()
    assert seqs["pyhaproxy"] == seqs["haproxy"]
    assert len(set(seqs["haproxy"])) == (1 if factor.endswith(" 0") else len(set(seqs["haproxy"])))
    if factor.endswith("101"):
        assert len(set(seqs["haproxy"])) > 1
