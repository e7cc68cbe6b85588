"""TLS termination (`bind ... ssl crt ...`): certificates made by the test (a CA, RSA 2048 and
ECDSA P-256 leaves, a wildcard), real clients (Python's ssl, `curl --cacert`, `openssl
s_client`), backends started by the test.

Differential: every test runs against pyhaproxy and against Debian's haproxy 2.6
(/usr/sbin/haproxy) with the same configuration and the same expectations: negotiated protocol,
cipher, certificate chosen by SNI, ALPN, routing, status, the log line of a failed handshake.
"""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.net import LOCALHOST, free_ports, show_info, wait_until
from tests.helpers.proxy import CMD_VAR

pytestmark = pytest.mark.timeout(120)

HAPROXY = Path("/usr/sbin/haproxy")
OPENSSL = "openssl"


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


def _leaf(d: Path, name: str, key_args: list[str], sans: list[str]) -> Path:
    """A certificate for `sans` (first one as CN) signed by the test CA; PEM = cert + key."""
    _run(OPENSSL, "req", "-new", "-newkey", *key_args, "-nodes", "-keyout", f"{name}.key",
         "-out", f"{name}.csr", "-subj", f"/CN={sans[0]}", cwd=d)
    (d / f"{name}.ext").write_text("subjectAltName=" + ",".join(f"DNS:{s}" for s in sans) + "\n")
    _run(OPENSSL, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)
    pem = d / f"{name}.pem"
    pem.write_text((d / f"{name}.crt").read_text() + (d / f"{name}.key").read_text())
    return pem


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("certs")
    _run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=pyhaproxy test CA", cwd=d)
    rsa = ["rsa:2048"]
    ec = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    out = {
        "ca": d / "ca.pem",
        "a": _leaf(d, "a", rsa, ["a.example"]),                   # RSA 2048, the default
        "b": _leaf(d, "b", ec, ["b.example", "www.b.example"]),  # ECDSA P-256
        "w": _leaf(d, "w", ec, ["*.w.example"]),                  # a wildcard
        "client": _leaf(d, "client", ec, ["client.example"]),     # a client certificate
    }
    _run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "stranger.key", "-out", "stranger.crt", "-days", "2", "-subj", "/CN=stranger", cwd=d)
    out["stranger"] = d / "stranger.pem"      # self-signed: no CA of ours trusts it
    out["stranger"].write_text((d / "stranger.crt").read_text() + (d / "stranger.key").read_text())
    crtdir = d / "dir"
    crtdir.mkdir()
    for k in ("a", "b"):
        (crtdir / f"{k}.pem").write_text(out[k].read_text())
    out["dir"] = crtdir
    return out


@pytest.fixture(params=["pyhaproxy", "haproxy"])
def binary(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs against pyhaproxy and against /usr/sbin/haproxy."""
    if request.param == "haproxy":
        if not HAPROXY.exists():
            pytest.skip("Debian's haproxy is not installed")
        monkeypatch.setenv(CMD_VAR, str(HAPROXY))
    else:
        monkeypatch.delenv(CMD_VAR, raising=False)
    return str(request.param)


def tls_get(port: int, ca: Path, sni: str | None, path: str = "/", alpn: list[str] | None = None,
            max_ver: ssl.TLSVersion | None = None, min_ver: ssl.TLSVersion | None = None,
            ciphers: str | None = None, cert: Path | None = None) -> dict[str, Any]:
    """One HTTPS request with Python's ssl: what was negotiated and the answer (cert: a client
    certificate to present, PEM with its key)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(str(cert))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if max_ver:
        ctx.maximum_version = max_ver
    if min_ver:
        ctx.minimum_version = min_ver
    if ciphers:
        ctx.set_ciphers(ciphers)
    with socket.create_connection((LOCALHOST, port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=sni) as s:
        cert: Any = s.getpeercert()
        cipher = s.cipher()
        info = {
            "version": s.version(),
            "cipher": cipher[0] if cipher else None,
            "alpn": s.selected_alpn_protocol(),
            "cn": dict(x[0] for x in cert["subject"])["commonName"] if cert else None,
        }
        host = sni or "nosni"
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    info["status"] = int(head.split(b" ", 2)[1]) if head else None
    info["body"] = body.decode("latin-1")
    return info


SNI_CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {a} crt {b} crt {w} alpn http/1.1
    bind 127.0.0.1:{plain}
    use_backend bplain if !{ ssl_fc }
    use_backend ba if { ssl_fc_sni -i a.example }
    use_backend bw if { ssl_fc_sni -m end .w.example }
    default_backend bd
backend ba
    server s 127.0.0.1:{pa}
backend bw
    server s 127.0.0.1:{pw}
backend bd
    server s 127.0.0.1:{pd}
backend bplain
    server s 127.0.0.1:{pp}
"""


@pytest.fixture
def sni_proxy(proxy: Any, binary: str, certs: dict[str, Path], http_backend: Callable[..., Any],
              syslog: Any) -> Iterator[dict[str, Any]]:
    port, plain = free_ports(2)
    b = {k: http_backend(name=k) for k in ("A", "W", "D", "P")}
    px = proxy.start(SNI_CFG,
                     port=port, plain=plain, logport=syslog[1], a=certs["a"], b=certs["b"], w=certs["w"],
                     pa=b["A"].port, pw=b["W"].port, pd=b["D"].port, pp=b["P"].port)
    yield {"port": port, "plain": plain, "px": px, "syslog": syslog[0]}


@pytest.mark.parametrize("sni, cn, body", [
    ("a.example", "a.example", "A\n"),
    ("b.example", "b.example", "D\n"),          # chosen by name, routed to the default backend
    ("www.b.example", "b.example", "D\n"),      # another name of the same certificate
    ("x.w.example", "*.w.example", "W\n"),      # wildcard
    ("A.EXAMPLE", "a.example", "A\n"),          # names compare without case
    ("other.example", "a.example", "D\n"),      # unknown name: the first certificate
    (None, "a.example", "D\n"),                 # no SNI: the first certificate, no ssl_fc_sni
])
def test_sni_picks_the_certificate_and_routes(sni_proxy: dict[str, Any], certs: dict[str, Path],
                                              sni: str | None, cn: str, body: str) -> None:
    r = tls_get(sni_proxy["port"], certs["ca"], sni, alpn=["h2", "http/1.1"])
    got = (r["cn"], r["status"], r["body"], r["alpn"], r["version"])
    assert got == (cn, 200, body, "http/1.1", "TLSv1.3")


def test_plain_port_of_the_same_frontend_is_not_ssl_fc(sni_proxy: dict[str, Any]) -> None:
    with socket.create_connection((LOCALHOST, sni_proxy["plain"]), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"P\n")


def test_curl_and_s_client(sni_proxy: dict[str, Any], certs: dict[str, Path]) -> None:
    port = sni_proxy["port"]
    curl = ["curl", "-sS", "--cacert", str(certs["ca"])]
    r = subprocess.run([*curl, "--resolve", f"a.example:{port}:127.0.0.1", "-o", "-",
                        "-w", "%{http_code} %{http_version}", f"https://a.example:{port}/x"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "A\n200 1.1"
    r = subprocess.run([*curl, "--resolve", f"q.w.example:{port}:127.0.0.1", "-o", "-",
                        f"https://q.w.example:{port}/"], capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, "W\n"), r.stderr
    s = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "b.example",
                        "-CAfile", str(certs["ca"]), "-alpn", "http/1.1", "-brief"],
                       input="", capture_output=True, text=True, timeout=30)
    out = s.stdout + s.stderr
    assert "Protocol version: TLSv1.3" in out
    assert "Verification: OK" in out
    assert "CN = b.example" in out or "CN=b.example" in out


VERSIONS_CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{p12} ssl crt {a} ssl-max-ver TLSv1.2 ciphers ECDHE-RSA-AES128-GCM-SHA256
    bind 127.0.0.1:{p13} ssl crt {b} ssl-min-ver TLSv1.3 ciphersuites TLS_CHACHA20_POLY1305_SHA256
    bind 127.0.0.1:{pdir} ssl crt {dir}
    default_backend bd
backend bd
    server s 127.0.0.1:{pd}
"""


def test_versions_ciphers_and_crt_dir(proxy: Any, binary: str, certs: dict[str, Path],
                                      http_backend: Callable[..., Any]) -> None:
    p12, p13, pdir = free_ports(3)
    bd = http_backend(name="D")
    proxy.start(VERSIONS_CFG, p12=p12, p13=p13, pdir=pdir, a=certs["a"], b=certs["b"], dir=certs["dir"],
                pd=bd.port)
    r = tls_get(p12, certs["ca"], "a.example")
    assert (r["version"], r["cipher"], r["status"]) == ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 200)
    r = tls_get(p13, certs["ca"], "b.example")
    assert (r["version"], r["cipher"], r["status"]) == ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256", 200)
    with pytest.raises(ssl.SSLError):
        tls_get(p13, certs["ca"], "b.example", max_ver=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ssl.SSLError):
        tls_get(p12, certs["ca"], "a.example", min_ver=ssl.TLSVersion.TLSv1_3)
    # `crt DIR`: every file (a.pem, b.pem in name order: a.example is the default)
    assert tls_get(pdir, certs["ca"], "b.example")["cn"] == "b.example"
    assert tls_get(pdir, certs["ca"], None)["cn"] == "a.example"


TCP_CFG = """
defaults
    mode tcp
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {a} crt {b}
    use_backend bb if { ssl_fc_sni b.example }
    default_backend ba
backend ba
    server s 127.0.0.1:{pa}
backend bb
    server s 127.0.0.1:{pb}
"""


def test_tcp_mode_relays_in_clear(proxy: Any, binary: str, certs: dict[str, Path],
                                  tcp_echo_backend: Callable[..., Any]) -> None:
    (port,) = free_ports(1)
    ea = tcp_echo_backend(banner=b"A:")
    eb = tcp_echo_backend(banner=b"B:")
    proxy.start(TCP_CFG, port=port, a=certs["a"], b=certs["b"],
                pa=ea.port, pb=eb.port)
    ctx = ssl.create_default_context(cafile=str(certs["ca"]))
    payload = bytes(range(256)) * 4096   # 1 MiB: many records, both ways
    for sni, banner in (("b.example", b"B:"), ("a.example", b"A:")):
        with socket.create_connection((LOCALHOST, port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname=sni) as s:
            got = b""
            sent = 0
            s.setblocking(False)
            deadline = time.monotonic() + 30
            while len(got) < len(banner) + len(payload) and time.monotonic() < deadline:
                if sent < len(payload):
                    try:
                        sent += s.send(payload[sent:sent + 65536])
                    except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                        pass
                try:
                    got += s.recv(262144)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    time.sleep(0.001)
            assert got == banner + payload


BAD_CFG = """
global
    log 127.0.0.1:{logport} local0
    stats socket {sock} level admin
defaults
    mode http
    log global
    option httplog
    timeout client 2s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {a}
    default_backend bd
backend bd
    server s 127.0.0.1:{pd}
"""


def _closed_by_peer(s: socket.socket, timeout: float = 15.0) -> bytes:
    """Everything the proxy sends before closing (b'' for a close without an answer)."""
    s.settimeout(timeout)
    data = b""
    try:
        while chunk := s.recv(4096):
            data += chunk
    except ConnectionResetError:
        return b"<reset>"
    return data


def test_bad_input_leaves_the_worker_serving(proxy: Any, binary: str, certs: dict[str, Path],
                                            http_backend: Callable[..., Any], syslog: Any,
                                            tmp_path: Path) -> None:
    (port,) = free_ports(1)
    bd = http_backend(name="D")
    sock = tmp_path / "stats.sock"
    proxy.start(BAD_CFG, port=port, logport=syslog[1], sock=sock, a=certs["a"], pd=bd.port)
    log = syslog[0]
    # a plain-text request to the TLS port: closed without an answer
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _closed_by_peer(s) == b""
    # a truncated ClientHello (the record header and a few bytes), then the client closes
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(bytes.fromhex("16030100a0010000"))
        s.shutdown(socket.SHUT_WR)
        assert _closed_by_peer(s) == b""
    # a stalled handshake: the same truncated ClientHello and nothing more, until `timeout client`
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(bytes.fromhex("16030100a0010000"))
        assert _closed_by_peer(s) == b""
    lines = [line.split("]: ", 1)[1].split("] ", 1)[1].strip() for line in log.lines(3)]
    assert lines == ["fe/1: SSL handshake failure", "fe/1: Connection closed during SSL handshake",
                     "fe/1: Timeout during SSL handshake"]
    # the worker still serves, and no session is left behind
    r = tls_get(port, certs["ca"], "a.example")
    assert (r["status"], r["body"]) == (200, "D\n")
    (line,) = log.lines(1)
    assert " fe~ bd/s " in line and " 200 " in line
    deadline = time.monotonic() + 10
    while show_info(sock).get("CurrConns") != "0" and time.monotonic() < deadline:
        time.sleep(0.05)
    info = show_info(sock)
    assert info.get("CurrConns") == "0"
    # four TLS endpoints were made (2.6 counts the failed handshakes too), none is left
    assert (info.get("CumSslConns"), info.get("CurrSslConns")) == ("4", "0")


def test_config_errors_name_the_problem(proxy: Any, certs: dict[str, Path], tmp_path: Path) -> None:
    """pyhaproxy only: what is not handled yet is refused by name; a bad certificate is an alert."""
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    cases = [
        (f"bind 127.0.0.1:1 ssl crt {certs['a']} alpn h3,http/1.1", "protocol 'h3' (HTTP/3, QUIC)"),
        ("bind 127.0.0.1:1 proto h3", "unknown MUX protocol 'h3'"),
        (f"bind 127.0.0.1:1 ssl crt {certs['a']} crt-list /x", "unable to read crt-list file '/x'"),
        (f"bind 127.0.0.1:1 ssl crt {certs['a']} generate-certificates",
         "'generate-certificates' is not supp"),
        (f"bind 127.0.0.1:1 ssl crt {certs['a']} ca-verify-file /nonexistent.pem", "unable to load CA file"),
        (f"bind 127.0.0.1:1 ssl crt {bad}", "unable to load SSL certificate"),
        ("bind 127.0.0.1:1 ssl", "'ssl' needs at least one certificate"),
        (f"bind 127.0.0.1:1 ssl crt {certs['a']} ciphersuites BOGUS", "unable to set TLS 1.3 cipher suites"),
        (f"bind 127.0.0.1:1 ssl crt {certs['a']} ciphers BOGUS", "unable to set SSL cipher list"),
        (f"bind 127.0.0.1:1 ssl crt {certs['a']} verify required", "verify is enabled but no CA file"),
        (f"bind 127.0.0.1:1 ssl crt {certs['a']} ca-file {certs['ca']} verify maybe", "'verify' expects"),
        (f"bind 127.0.0.1:1 ssl crt {certs['a']} ca-file /nonexistent.pem", "unable to load CA file"),
        (f"bind 127.0.0.1:1 ssl crt {certs['a']} crt-ignore-err 99", "is not an error id"),
    ]
    for line, words in cases:
        cfg = proxy.write_config(f"frontend f\n    mode http\n    {line}\n")
        r = proxy.run(["-c", "-f", str(cfg)])
        assert r.returncode != 0 and words in r.stderr, (line, r.stderr)


REDIRECT_CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{plain}
    bind 127.0.0.1:{port} ssl crt {a}
    http-request set-header X-Forwarded-Proto https if { ssl_fc }
    redirect scheme https code 301 if !{ ssl_fc }
    http-request redirect scheme https if { path_beg /old }
    default_backend bd
backend bd
    server s 127.0.0.1:{pd}
"""


def test_redirect_scheme_https(proxy: Any, binary: str, certs: dict[str, Path],
                               http_backend: Callable[..., Any]) -> None:
    port, plain = free_ports(2)
    bd = http_backend(name="D")
    proxy.start(REDIRECT_CFG, port=port, plain=plain, a=certs["a"], pd=bd.port)
    with socket.create_connection((LOCALHOST, plain), timeout=10) as s:
        s.sendall(b"GET /p?q=1 HTTP/1.1\r\nHost: a.example\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 301 Moved Permanently"
    assert b"location: https://a.example/p?q=1" in [h.lower()[:9] + h[9:] for h in lines]
    # over TLS: no redirect, the header tells the server
    r = tls_get(port, certs["ca"], "a.example", path="/x")
    assert (r["status"], r["body"]) == (200, "D\n")
    assert bd.requests[-1].header("x-forwarded-proto") == "https"
    assert tls_get(port, certs["ca"], "a.example", path="/old")["status"] == 302


RESUME_CFG = """
global
    nbthread 2
    stats socket {sock} level admin
    {maxconn}
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {a} crt {b} {tickets}
    default_backend bd
backend bd
    server s 127.0.0.1:{pd}
"""


def https_close(ctx: ssl.SSLContext, port: int, session: Any) -> tuple[bool, Any, bytes]:
    """One request on a new connection (SNI b.example), offering `session`: (resumed, the new
    session, the answer's body); the answer must be a 200."""
    with socket.create_connection((LOCALHOST, port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="b.example", session=session) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data
        return bool(s.session_reused), s.session, data.partition(b"\r\n\r\n")[2]


def _https_close(ctx: ssl.SSLContext, port: int, session: Any) -> tuple[bool, Any]:
    reused, new, _body = https_close(ctx, port, session)
    return reused, new


def _https_keep(ctx: ssl.SSLContext, port: int, session: Any) -> ssl.SSLSocket:
    """A TLS connection that has had one answer and stays open (keep-alive)."""
    raw = socket.create_connection((LOCALHOST, port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="b.example", session=session)
    s.sendall(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    length = int(next(ln.split(b":", 1)[1] for ln in head.split(b"\r\n")
                      if ln.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += s.recv(65536)
    return s


@pytest.mark.parametrize("tickets", ["", "no-tls-tickets"])
def test_ticket_resumption_across_workers(proxy: Any, binary: str, certs: dict[str, Path],
                                          http_backend: Callable[..., Any], syslog: Any,
                                          tickets: str, tmp_path: Path) -> None:
    """Tickets (TLS 1.3 and 1.2) resume on every worker; with `no-tls-tickets` (Debian's default),
    session IDs and TLS 1.3's stateful tickets do too, through the session cache the workers
    share (ext/tlscache.pxi) as 2.6's threads share theirs. pyhaproxy runs `nbthread 2` as two
    worker processes, each with `maxconn 1`: a kept-alive resumed connection fills one worker, so
    the next resumed one must be the other's, and each worker logs its own pid. (Sequential
    connections may all land on one worker: the kernel chooses.) haproxy's threads share one
    pid and one maxconn: there, one resumed connection after another is the check."""
    (port,) = free_ports(1)
    bd = http_backend(name="D")
    ours = binary == "pyhaproxy"
    sock = tmp_path / "stats.sock"
    proxy.start(RESUME_CFG, port=port, logport=syslog[1], a=certs["a"], b=certs["b"], pd=bd.port,
                maxconn="maxconn 1" if ours else "", tickets=tickets, sock=sock)
    log = syslog[0]
    for ver in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = ssl.create_default_context(cafile=str(certs["ca"]))
        ctx.check_hostname = False
        ctx.maximum_version = ver
        reused, session = _https_close(ctx, port, None)
        # (lines_with, not wait_for: wait_for would hand back the first round's line, already
        # seen, and leave this one to be counted among the held connections' lines below)
        log.lines_with("GET / HTTP/1.1", 1)
        assert not reused
        held = [_https_keep(ctx, port, session) for _ in range(2 if ours else 1)]
        try:
            assert all(s.session_reused for s in held), ver
            lines = log.lines_with("GET / HTTP/1.1", len(held))
        finally:
            for s in held:
                s.close()
        pids = {line.split("haproxy[", 1)[1].split("]", 1)[0] for line in lines}
        assert len(pids) == len(held), (ver, lines)
    # the shared cache is looked up only when the sessions are not in tickets (show info)
    lookups = int(show_info(sock)["SslCacheLookups"])
    assert lookups > 0 if tickets else lookups == 0, lookups

BODY_CFG = """
defaults
    mode http
    timeout client 10s
    timeout connect 5s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port} ssl crt {b}
    default_backend bd
backend bd
    server s 127.0.0.1:{pd}
"""


def _read_response(s: ssl.SSLSocket) -> tuple[bytes, bytes]:
    """One response (Content-Length or chunked) on a kept-alive TLS connection: (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    fields = {k.strip().lower(): v.strip() for k, _c, v in
              (line.partition(b":") for line in head.split(b"\r\n")[1:])}
    if b"content-length" in fields:
        n = int(fields[b"content-length"])
        while len(rest) < n:
            chunk = s.recv(65536)
            assert chunk
            rest += chunk
        return head, rest[:n]
    body = b""
    while True:     # chunked
        while b"\r\n" not in rest:
            rest += s.recv(65536)
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            chunk = s.recv(65536)
            assert chunk
            rest += chunk
        body += rest[:size]
        rest = rest[size + 2:]
        if size == 0:
            return head, body


def test_large_bodies_both_ways_on_one_connection(proxy: Any, binary: str, certs: dict[str, Path],
                                                  http_backend: Callable[..., Any]) -> None:
    """1 MiB responses (Content-Length, then chunked) and a 1 MiB request body, kept alive over
    one TLS connection: TLS sessions relay through the buffers, never splice."""
    (port,) = free_ports(1)
    big = bytes(range(251)) * 4178          # 1 MiB and a little, not a multiple of a record
    bd = http_backend(name="D")
    proxy.start(BODY_CFG, port=port, b=certs["b"], pd=bd.port)
    ctx = ssl.create_default_context(cafile=str(certs["ca"]))
    with socket.create_connection((LOCALHOST, port), timeout=20) as raw, \
            ctx.wrap_socket(raw, server_hostname="b.example") as s:
        bd.set_response(body=big)
        s.sendall(b"GET /cl HTTP/1.1\r\nHost: b\r\n\r\n")
        head, body = _read_response(s)
        assert head.startswith(b"HTTP/1.1 200") and body == big
        bd.set_response(headers=[("Transfer-Encoding", "chunked")],
                        body=b"".join(b"%x\r\n" % len(big[i:i + 70000]) + big[i:i + 70000] + b"\r\n"
                                      for i in range(0, len(big), 70000)) + b"0\r\n\r\n")
        s.sendall(b"GET /chunked HTTP/1.1\r\nHost: b\r\n\r\n")
        head, body = _read_response(s)
        assert head.startswith(b"HTTP/1.1 200") and body == big
        bd.set_response(body=b"ok\n")
        s.sendall(b"POST /up HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
        head, body = _read_response(s)
        assert head.startswith(b"HTTP/1.1 200") and body == b"ok\n"
    assert [r.target for r in bd.requests] == ["/cl", "/chunked", "/up"]
    assert bd.requests[2].body == big


RELOAD_CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {crt}
    default_backend bd
backend bd
    server s 127.0.0.1:{pd}
"""


def test_reload_reads_the_new_certificate(proxy: Any, binary: str, certs: dict[str, Path],
                                          http_backend: Callable[..., Any], tmp_path: Path) -> None:
    """Master-worker mode: the certificate file replaced, SIGUSR2, and new connections get the new
    certificate while every request along the way is answered."""
    (port,) = free_ports(1)
    bd = http_backend(name="D")
    crt = tmp_path / "site.pem"
    crt.write_text(certs["a"].read_text())
    px = proxy.start(RELOAD_CFG, extra_args=["-W"], port=port, crt=crt, pd=bd.port)
    r = tls_get(port, certs["ca"], None)
    assert (r["cn"], r["status"]) == ("a.example", 200)
    crt.write_text(certs["b"].read_text())
    px.signal(signal.SIGUSR2)
    cns = []
    start = time.monotonic()
    resent = False
    while time.monotonic() < start + 20:
        if not resent and time.monotonic() > start + 5:
            # (haproxy's master can miss a SIGUSR2 that comes right after its start: once more)
            px.signal(signal.SIGUSR2)
            resent = True
        r = tls_get(port, certs["ca"], None)
        assert r["status"] == 200
        cns.append(r["cn"])
        if r["cn"] == "b.example":
            break
        time.sleep(0.05)
    assert cns[-1] == "b.example" and set(cns) <= {"a.example", "b.example"}


def test_reload_with_a_bad_certificate_keeps_the_old_workers(
        proxy: Any, binary: str, certs: dict[str, Path], http_backend: Callable[..., Any],
        tmp_path: Path) -> None:
    """A certificate file broken before a `-W` reload: the master says why with an [ALERT]
    naming the file, the workers that were running stay and keep serving the old certificate,
    and the next reload with a good file goes through."""
    (port,) = free_ports(1)
    bd = http_backend(name="D")
    crt = tmp_path / "site.pem"
    crt.write_text(certs["a"].read_text())
    px = proxy.start(RELOAD_CFG, extra_args=["-W"], port=port, crt=crt, pd=bd.port)
    workers = set(px.wait_workers(1))
    # (served once first: a worker reads the file when it starts, after the master did)
    assert tls_get(port, certs["ca"], None)["cn"] == "a.example"
    crt.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    px.signal(signal.SIGUSR2)
    wait_until(lambda: "ALERT" in px.stderr_text() and str(crt) in px.stderr_text(), 20,
               message="the reload's alert")
    for _ in range(5):
        r = tls_get(port, certs["ca"], None)
        assert (r["cn"], r["status"]) == ("a.example", 200)
    assert set(px.worker_pids()) == workers
    crt.write_text(certs["b"].read_text())
    px.signal(signal.SIGUSR2)
    wait_until(lambda: tls_get(port, certs["ca"], None)["cn"] == "b.example", 20,
               message="the good certificate after the next reload")


HTTPSLOG_CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httpslog
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {a} alpn http/1.1
    bind 127.0.0.1:{plain}
    http-request set-header X-TLS "{tlshdr}"
    default_backend bd
backend bd
    server s 127.0.0.1:{pd}
"""


def test_httpslog_and_the_tls_fetches(proxy: Any, binary: str, certs: dict[str, Path],
                                      http_backend: Callable[..., Any], syslog: Any) -> None:
    """`option httpslog`: 2.6's line with its TLS fields (fc_err, ssl_fc_err as 16 hex digits,
    client-certificate errors, resumption, SNI, %sslv, %sslc; "-" for what a plain connection
    lacks) and `%ft` as `fe~`; the TLS fetches in a header."""
    port, plain = free_ports(2)
    bd = http_backend(name="D")
    fetches = ("ssl_fc_protocol", "ssl_fc_cipher", "ssl_fc_is_resumed", "ssl_fc_alpn", "ssl_fc_has_sni",
               "ssl_c_used", "ssl_fc_err", "fc_err")
    proxy.start(HTTPSLOG_CFG, port=port, plain=plain, logport=syslog[1], a=certs["a"], pd=bd.port,
                tlshdr="|".join(f"%[{f}]" for f in fetches))
    log = syslog[0]
    r = tls_get(port, certs["ca"], "a.example", path="/t", alpn=["http/1.1"])
    assert r["status"] == 200
    (line,) = log.lines(1)
    assert " fe~ bd/s " in line
    assert line.rstrip("\n").endswith('"GET /t HTTP/1.1" 0/0000000000000000/0/0/0 '
                                      'a.example/TLSv1.3/TLS_AES_256_GCM_SHA384'), line
    r = tls_get(port, certs["ca"], None, path="/t12", max_ver=ssl.TLSVersion.TLSv1_2, alpn=["http/1.1"])
    (line,) = log.lines(1)
    assert line.rstrip("\n").endswith('"GET /t12 HTTP/1.1" 0/0000000000000000/0/0/0 '
                                      '-/TLSv1.2/ECDHE-RSA-AES256-GCM-SHA384'), line
    with socket.create_connection((LOCALHOST, plain), timeout=10) as s:
        s.sendall(b"GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
    (line,) = log.lines(1)
    assert " fe bd/s " in line and line.rstrip("\n").endswith('"GET /p HTTP/1.1" 0/-/-/-/0 -/-/-'), line
    tls_hdr = [dict((k.lower(), v) for k, v in q.headers).get("x-tls") for q in bd.requests]
    assert tls_hdr == ["TLSv1.3|TLS_AES_256_GCM_SHA384|0|http/1.1|1|0|0|0",
                       "TLSv1.2|ECDHE-RSA-AES256-GCM-SHA384|0|http/1.1|0|0|0|0",
                       "||0||0|||0"]


MTLS_CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend req
    bind 127.0.0.1:{preq} ssl crt {a} ca-file {ca} verify required
    http-request return status 200 content-type text/plain lf-string "{show}"
frontend opt
    bind 127.0.0.1:{popt} ssl crt {a} ca-file {ca} verify optional
    http-request return status 200 content-type text/plain lf-string "{show}"
frontend ign
    bind 127.0.0.1:{pign} ssl crt {a} ca-file {ca} verify required crt-ignore-err all
    http-request return status 200 content-type text/plain lf-string "{show}"
"""


def test_client_certificates(proxy: Any, binary: str, certs: dict[str, Path], syslog: Any) -> None:
    """`ca-file` + `verify required|optional` (+ `crt-ignore-err`): who gets in, the
    certificate's fields as fetches, and haproxy's log line for who does not (TLS 1.2 for the
    refusals: in TLS 1.3 the client's certificate comes after the server's Finished, and when
    the refusal reaches the client is a matter of timing)."""
    preq, popt, pign = free_ports(3)
    show = ("used=%[ssl_c_used] verify=%[ssl_c_verify] err=%[ssl_c_err]/%[ssl_c_ca_err] "
            "s_dn=%[ssl_c_s_dn] cn=%[ssl_c_s_dn(cn)] i_dn=%[ssl_c_i_dn] ver=%[ssl_c_version]")
    proxy.start(MTLS_CFG, preq=preq, popt=popt, pign=pign, logport=syslog[1], a=certs["a"],
                ca=certs["ca"], show=show)
    log = syslog[0]
    ok = "err=0/0 s_dn=/CN=client.example cn=client.example i_dn=/CN=pyhaproxy test CA ver=3"
    r = tls_get(preq, certs["ca"], "a.example", cert=certs["client"])
    assert (r["status"], r["body"]) == (200, f"used=1 verify=0 {ok}")
    (line,) = log.lines(1)
    assert " req~ req/<NOSRV> " in line
    tls12 = ssl.TLSVersion.TLSv1_2
    for port, cert, msg in ((preq, None, "req/1: SSL handshake failure"),
                            (preq, certs["stranger"], "req/1: SSL client certificate not trusted"),
                            (popt, certs["stranger"], "opt/1: SSL client certificate not trusted")):
        with pytest.raises((ssl.SSLError, OSError)):
            tls_get(port, certs["ca"], "a.example", cert=cert, max_ver=tls12)
        (line,) = log.lines(1)
        assert line.split("] ", 2)[-1].strip() == msg, line
    r = tls_get(popt, certs["ca"], "a.example")          # optional: no certificate is fine
    assert (r["status"], r["body"]) == (200, "used=0 verify=0 err=0/0 s_dn= cn= i_dn= ver=")
    r = tls_get(pign, certs["ca"], "a.example", cert=certs["stranger"])    # its error ignored
    assert (r["status"], r["body"]) == (200, "used=1 verify=18 err=18/0 s_dn=/CN=stranger cn=stranger "
                                             "i_dn=/CN=stranger ver=3")


def _hello(port: int, ca: Path, sni: str, alpn: list[str],
           max_ver: ssl.TLSVersion | None = None) -> tuple[str, str | None]:
    """A handshake only: the certificate's CN and the protocol ALPN chose."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    ctx.set_alpn_protocols(alpn)
    if max_ver:
        ctx.maximum_version = max_ver
    with socket.create_connection((LOCALHOST, port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=sni) as s:
        cert: Any = s.getpeercert()
        return dict(x[0] for x in cert["subject"])["commonName"], s.selected_alpn_protocol()


def test_crt_list(proxy: Any, binary: str, certs: dict[str, Path], tmp_path: Path,
                  http_backend: Callable[..., Any]) -> None:
    """`crt-list`: SNI filters (only b.example for b, not its other name), a wildcard with a
    `!name` exception, per-line settings (ALPN, a minimum version) applied when SNI picks the
    line; the first certificate is the default."""
    (port,) = free_ports(1)
    bd = http_backend(name="D")
    lst = tmp_path / "certs.lst"
    lst.write_text(f"""# the default first
{certs['a']}

{certs['b']} [alpn h2,http/1.1] b.example
{certs['w']} [ssl-min-ver TLSv1.3] *.w.example !no.w.example
""")
    proxy.start("""
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt-list {lst} alpn http/1.1
    default_backend bd
backend bd
    server s 127.0.0.1:{pd}
""", port=port, lst=lst, pd=bd.port)
    offer = ["h2", "http/1.1"]
    assert _hello(port, certs["ca"], "a.example", offer) == ("a.example", "http/1.1")
    assert _hello(port, certs["ca"], "b.example", offer) == ("b.example", "h2")
    assert _hello(port, certs["ca"], "www.b.example", offer) == ("a.example", "http/1.1")
    assert _hello(port, certs["ca"], "x.w.example", offer) == ("*.w.example", "http/1.1")
    assert _hello(port, certs["ca"], "no.w.example", offer) == ("a.example", "http/1.1")
    with pytest.raises((ssl.SSLError, OSError)):
        _hello(port, certs["ca"], "x.w.example", offer, max_ver=ssl.TLSVersion.TLSv1_2)
    assert _hello(port, certs["ca"], "a.example", offer, max_ver=ssl.TLSVersion.TLSv1_2)[0] == "a.example"
    r = tls_get(port, certs["ca"], "x.w.example", path="/w")
    assert (r["cn"], r["status"], r["body"]) == ("*.w.example", 200, "D\n")


def test_strict_sni(proxy: Any, binary: str, certs: dict[str, Path], http_backend: Callable[..., Any],
                    syslog: Any) -> None:
    """`strict-sni`: a name no certificate has, or no name at all, ends the handshake (logged as
    2.6 logs it); the names of every certificate, the first one's included, are served."""
    (port,) = free_ports(1)
    bd = http_backend(name="D")
    proxy.start("""
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {a} crt {b} strict-sni
    default_backend bd
backend bd
    server s 127.0.0.1:{pd}
""", port=port, a=certs["a"], b=certs["b"], pd=bd.port, logport=syslog[1])
    log = syslog[0]
    for sni, cn in (("a.example", "a.example"), ("www.b.example", "b.example")):
        assert _hello(port, certs["ca"], sni, ["http/1.1"])[0] == cn
    for sni in ("other.example", None):
        with pytest.raises((ssl.SSLError, OSError)):
            tls_get(port, certs["ca"], sni)
        line = log.wait_for("SSL handshake")
        log.seen.remove(line)
        assert line.split("] ", 2)[-1].strip() == "fe/1: SSL handshake failure", line


def test_the_handshake_is_not_request_time(proxy: Any, binary: str, certs: dict[str, Path],
                                           syslog: Any) -> None:
    """2.6's Th: a client that waits 0.5 s before its ClientHello shows it in %Th, not in %TR nor
    %Ta; the request's date (%tr) is after it, the accept date (%t) before."""
    (port,) = free_ports(1)
    proxy.start("""
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {a}
    log-format "%Th %TR %Ta %Ts%ms %tr"
    http-request return status 200 content-type text/plain string ok
""", port=port, a=certs["a"], logport=syslog[1])
    ctx = ssl.create_default_context(cafile=str(certs["ca"]))
    ctx.check_hostname = False
    with socket.create_connection((LOCALHOST, port), timeout=10) as raw:
        time.sleep(0.5)     # (0.4 s asserted below: the loop's clock is read per turn, in ms)
        with ctx.wrap_socket(raw, server_hostname="a.example") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(65536):
                pass
    (line,) = syslog[0].lines(1)
    th, tr, ta, ts_ms, date = line.rstrip("\n").split("]: ", 1)[1].split(" ", 4)
    assert int(th) >= 400 and 0 <= int(tr) < 400 and 0 <= int(ta) < 400, line
    accept = int(ts_ms)                 # %Ts%ms: the accept date in ms
    req = datetime.strptime(date, "%d/%b/%Y:%H:%M:%S.%f")
    req_ms = int(req.replace(tzinfo=datetime.now().astimezone().tzinfo).timestamp() * 1000)
    assert req_ms - accept >= 400, line
