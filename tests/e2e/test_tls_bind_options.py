"""`bind ... ssl` options `ecdhe`, `no-ca-names` and `npn`, on the bind and on a crt-list line,
checked with `openssl s_client` (the group negotiated, the CA names of the CertificateRequest,
the NPN protocol).

Differential: the same configuration and expectations against pyhaproxy and /usr/sbin/haproxy
(2.6), start-up refusals included (each binary's own message, the same exit code).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary, certs  # noqa: F401  (fixtures)
from tests.helpers.net import free_ports

pytestmark = pytest.mark.timeout(120)


def s_client(port: int, *args: str, sni: str = "a.example", data: str = "") -> str:
    """One `openssl s_client` handshake (and `data` sent, the answer read): its whole output."""
    more = ["-ign_eof"] if data else []
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", sni,
                        *more, *args], input=data, capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def _group(out: str) -> str | None:
    """The key exchange group s_client reports ("Server Temp Key: X25519, 253 bits",
    "Server Temp Key: ECDH, secp384r1, 384 bits")."""
    for line in out.splitlines():
        if line.startswith("Server Temp Key:"):
            parts = [p.strip() for p in line.split(":", 1)[1].split(",")]
            return parts[1] if parts[0] == "ECDH" else parts[0]
    return None


CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{p1} ssl crt {a} ecdhe secp384r1
    bind 127.0.0.1:{p2} ssl crt {a} ecdhe secp384r1 curves X25519
    bind 127.0.0.1:{p3} ssl crt-list {lst}
    bind 127.0.0.1:{p4} ssl crt {a} verify optional ca-file {ca}
    bind 127.0.0.1:{p5} ssl crt {a} verify optional ca-file {ca} no-ca-names
    bind 127.0.0.1:{p6} ssl crt {a} npn http/1.1,foo/2 alpn http/1.1
    bind 127.0.0.1:{p7} ssl crt-list {lst2}
    http-request return status 200 content-type text/plain lf-string "<npn=%[ssl_fc_npn] alpn=%[ssl_fc_alpn]>"
"""


@pytest.fixture
def options_proxy(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
                  tmp_path: Path) -> list[int]:
    ports = free_ports(7)
    lst = tmp_path / "certs.lst"
    # the default line has the bind's settings; b.example's line its own curve, no CA names and NPN
    lst.write_text(f"{certs['a']} [verify optional ca-file {certs['ca']}]\n"
                   f"{certs['b']} [ecdhe P-521 verify optional ca-file {certs['ca']} no-ca-names "
                   f"npn foo/1] b.example\n")
    # the other way round: the default line sends no CA names, b.example's line does
    lst2 = tmp_path / "certs2.lst"
    lst2.write_text(f"{certs['a']} [verify optional ca-file {certs['ca']} no-ca-names]\n"
                    f"{certs['b']} [verify optional ca-file {certs['ca']}] b.example\n")
    proxy.start(CFG, **{f"p{i + 1}": p for i, p in enumerate(ports)}, a=certs["a"], ca=certs["ca"],
                lst=lst, lst2=lst2)
    return ports


def test_ecdhe_sets_the_groups(options_proxy: list[int], binary: str) -> None:  # noqa: F811
    p1, p2, p3 = options_proxy[:3]
    offer = ["-groups", "X25519:P-256:P-384:P-521"]
    for ver in ("-tls1_3", "-tls1_2"):
        out = s_client(p1, ver, *offer)
        assert _group(out) == "secp384r1", out
        # `curves` wins over `ecdhe`
        assert _group(s_client(p2, ver, *offer)) == "X25519"
    # a client that offers only a curve outside the list: no handshake
    out = s_client(p1, "-groups", "X25519:P-256")
    assert _group(out) is None and "alert handshake failure" in out, out
    # a crt-list line's own `ecdhe`, chosen by SNI: pyhaproxy applies it (as its `curves`); 2.6
    # accepts it but its SNI switch (SSL_set_SSL_CTX) leaves the default context's groups on the
    # connection (docs/tls.md); the default line keeps OpenSSL's groups
    own = "secp521r1" if binary == "pyhaproxy" else "X25519"
    for ver in ("-tls1_3", "-tls1_2"):
        assert _group(s_client(p3, ver, *offer, sni="b.example")) == own
        assert _group(s_client(p3, ver, *offer, sni="a.example")) == "X25519"


def test_no_ca_names(options_proxy: list[int]) -> None:
    p3, p4, p5, p7 = *options_proxy[2:5], options_proxy[6]
    for ver in ("-tls1_3", "-tls1_2"):
        out = s_client(p4, ver)
        assert "Acceptable client certificate CA names" in out and "CN = pyhaproxy test CA" in out, out
        out = s_client(p5, ver)
        assert "No client certificate CA names sent" in out, out
        assert "Acceptable client certificate CA names" not in out
    # on a crt-list line: b.example's line sends none, the default line its CA
    assert "No client certificate CA names sent" in s_client(p3, "-tls1_3", sni="b.example")
    assert "Acceptable client certificate CA names" in s_client(p3, "-tls1_3", sni="a.example")
    for ver in ("-tls1_3", "-tls1_2"):
        assert "No client certificate CA names sent" in s_client(p7, ver, sni="a.example")
        assert "Acceptable client certificate CA names" in s_client(p7, ver, sni="b.example")


def test_npn(options_proxy: list[int]) -> None:
    p3, p6 = options_proxy[2], options_proxy[5]
    out = s_client(p6, "-tls1_2", "-nextprotoneg", "foo/2,http/1.1")
    assert "Protocols advertised by server: http/1.1, foo/2" in out, out
    assert "Next protocol: (1) http/1.1" in out, out     # the server's order first
    assert "Next protocol: (1) foo/2" in s_client(p6, "-tls1_2", "-nextprotoneg", "foo/2")
    # ssl_fc_npn: the protocol NPN chose (none over TLS 1.3, which has no NPN)
    req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert "<npn=foo/2 alpn=>" in s_client(p6, "-tls1_2", "-nextprotoneg", "foo/2", data=req)
    assert "<npn= alpn=http/1.1>" in s_client(p6, "-tls1_3", "-alpn", "http/1.1", data=req)
    out = s_client(p6, "-tls1_2", "-nextprotoneg", "bar")
    assert "Next protocol: (2) bar" in out, out          # no overlap: the client's first (RFC draft)
    assert "Next protocol: (1) foo/1" in s_client(p3, "-tls1_2", "-nextprotoneg", "foo/1",
                                                  sni="b.example")
    # no NPN on a bind without `npn`
    assert "Next protocol" not in s_client(p3, "-tls1_2", "-nextprotoneg", "foo/1", sni="a.example")


@pytest.mark.parametrize("opts, crtlist", [
    ("ecdhe bogus", None),
    ("ecdhe X25519:bogus", None),
    ("", "[ecdhe bogus]"),
])
def test_bad_ecdhe_is_refused_at_start(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
                                       tmp_path: Path, opts: str, crtlist: str | None) -> None:
    """2.6: "unable to set elliptic named curve to 'bogus' ..." [ALERT], exit 1; ours names the
    bind's line and the curve list, exit 1 too."""
    if crtlist:
        lst = tmp_path / "l.lst"
        lst.write_text(f"{certs['a']} {crtlist}\n")
        crt = f"crt-list {lst}"
    else:
        crt = f"crt {certs['a']}"
    cfg = proxy.write_config(f"frontend f\n    mode http\n    bind 127.0.0.1:1 ssl {crt} {opts}\n")
    r = proxy.run(["-c", "-f", str(cfg)])
    assert r.returncode == 1, r.stderr
    assert "[ALERT]" in r.stderr and "unable to set elliptic named curve to '" in r.stderr, r.stderr
    if binary == "pyhaproxy":
        assert f"parsing [{cfg}:3]" in r.stderr, r.stderr


@pytest.mark.parametrize("opts", [
    "curves X25519 ecdhe bogus",            # `curves` wins: `ecdhe` is not even set
    "ecdhe X25519:P-256",
    "verify optional ca-file {ca} no-ca-names",
    "no-ca-names",
    "npn h2,http/1.1",
])
def test_accepted(proxy: Any, binary: str, certs: dict[str, Path], opts: str) -> None:  # noqa: F811
    cfg = proxy.write_config("frontend f\n    mode http\n    bind 127.0.0.1:1 ssl crt {a} " + opts + "\n",
                             a=certs["a"], ca=certs["ca"])
    r = proxy.run(["-c", "-f", str(cfg)])
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("line, words", [
    ("bind 127.0.0.1:1 ssl crt {a} ecdhe", "expects an argument"),
    ("bind 127.0.0.1:1 ssl crt {a} npn", "expects an argument"),
    ("bind 127.0.0.1:1 ssl crt {a} sigalgs RSA+SHA256", "'sigalgs'"),
    ("bind 127.0.0.1:1 ssl crt {a} client-sigalgs RSA+SHA256", "'client-sigalgs'"),
])
def test_refused(proxy: Any, binary: str, certs: dict[str, Path], line: str,  # noqa: F811
                 words: str) -> None:
    """A missing value, and `sigalgs`/`client-sigalgs`, which 2.6 does not know."""
    cfg = proxy.write_config("frontend f\n    mode http\n    " + line + "\n", a=certs["a"])
    r = proxy.run(["-c", "-f", str(cfg)])
    assert r.returncode == 1 and "[ALERT]" in r.stderr, r.stderr
    if binary == "pyhaproxy":
        assert words in r.stderr, r.stderr


@pytest.mark.parametrize("kw", ["ssl-default-bind-sigalgs", "ssl-default-bind-client-sigalgs",
                                "ssl-default-server-sigalgs"])
def test_global_sigalgs_are_not_26_keywords(proxy: Any, binary: str, kw: str) -> None:  # noqa: F811
    cfg = proxy.write_config(f"global\n    {kw} RSA+SHA256\n")
    r = proxy.run(["-c", "-f", str(cfg)])
    assert r.returncode == 1 and "[ALERT]" in r.stderr and kw in r.stderr, r.stderr
