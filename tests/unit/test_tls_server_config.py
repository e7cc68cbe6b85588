"""`server ... ssl ...` and the global `ssl-server-verify`/`ssl-default-server-*` as the parser
reads them (pyhaproxy/config/tls_server.py): defaults, `default-server` inheritance, what 2.6
refuses and what pyhaproxy refuses by name."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pyhaproxy.config import ConfigError
from pyhaproxy.config.parser import parse_text
from pyhaproxy.config.tls_server import checks_tls


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", "c.key", "-out", "c.crt", "-days", "2", "-subj", "/CN=client"],
                   cwd=d, check=True, capture_output=True, timeout=60)
    pem = d / "c.pem"
    pem.write_text((d / "c.crt").read_text() + (d / "c.key").read_text())
    cadir = d / "cas"
    cadir.mkdir()
    (cadir / "one.pem").write_text((d / "c.crt").read_text())
    (cadir / "notes.txt").write_text("not loaded\n")
    return {"ca": d / "c.crt", "pem": pem, "dir": d, "cadir": cadir}


def _servers(text: str) -> dict[str, object]:
    cfg = parse_text(text, "t.cfg")
    return {s.name: s for px in cfg.proxies for s in px.servers}


def test_defaults_and_inheritance(pki: dict[str, Path]) -> None:
    srv = _servers(f"""
global
    ca-base {pki['dir']}
    ssl-default-server-ciphers ECDHE-ECDSA-AES128-GCM-SHA256
    ssl-default-server-options ssl-min-ver TLSv1.3 no-ssl-reuse
backend b
    default-server ssl verify required ca-file c.crt check
    server a 127.0.0.1:443 sni req.hdr(host),lower crt {pki['pem']}
    server plain 127.0.0.1:80 no-ssl
    server other 127.0.0.1:443 verify none ssl-reuse port 8443
    server dir 127.0.0.1:443 ca-file {pki['cadir']} verifyhost h.example
""")
    a = srv["a"].tls   # type: ignore[attr-defined]
    assert a.use_ssl and a.verify and a.ca_files == [str(pki["ca"])]
    assert a.sni == "req.hdr(host),lower" and a.sni_expr is not None and a.crt == str(pki["pem"])
    assert (a.min_ver, a.ciphers, a.reuse) == ("TLSv1.3", "ECDHE-ECDSA-AES128-GCM-SHA256", False)
    assert srv["plain"].tls is None   # type: ignore[attr-defined]
    other = srv["other"].tls   # type: ignore[attr-defined]
    assert not other.verify and other.reuse
    assert srv["dir"].tls.ca_files == [str(pki["cadir"] / "one.pem")]   # type: ignore[attr-defined]
    assert srv["dir"].tls.verifyhost == "h.example"   # type: ignore[attr-defined]
    # checks go over TLS where the traffic goes; elsewhere (`port`) only with check-ssl
    assert checks_tls(a, same_place=True) and not checks_tls(other, same_place=False)


def test_check_ssl_without_ssl_and_global_verify_none() -> None:
    srv = _servers("""
global
    ssl-server-verify none
backend b
    server c 127.0.0.1:80 check check-ssl
    server s 127.0.0.1:443 ssl
""")
    c = srv["c"].tls   # type: ignore[attr-defined]
    assert c is not None and not c.use_ssl and checks_tls(c, same_place=True)
    assert srv["s"].tls.use_ssl and not srv["s"].tls.verify   # type: ignore[attr-defined]


@pytest.mark.parametrize(("line", "message"), [
    ("server s 127.0.0.1:443 ssl", "verify is enabled by default but no CA file specified"),
    ("server s 127.0.0.1:443 ssl verify required", "verify is enabled by default but no CA file"),
    ("server s 127.0.0.1:443 ssl verify maybe", "'verify' expects 'none' or 'required'"),
    ("server s 127.0.0.1:443 ssl verify none alpn h3", "protocol 'h3' towards a server is not supported"),
    ("server s 127.0.0.1:443 ssl verify none sni nosuchfetch", "'sni' : failed to parse sample expression"),
    ("server s 127.0.0.1:443 ssl ca-file /nonexistent/ca.pem", "unable to load CA file"),
    ("server s 127.0.0.1:443 ssl verify none crt /nonexistent/c.pem", "unable to stat SSL certificate"),
    ("server s 127.0.0.1:443 ssl verify none ciphers BOGUS", "unable to set SSL cipher list"),
    ("server s 127.0.0.1:443 ssl verify none ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2", "is above"),
    ("server s 127.0.0.1:443 ssl verify none crl-file /x", "server option 'crl-file' is not supported"),
])
def test_refused(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text(f"backend b\n    {line}\n", "t.cfg")
    assert message in str(ei.value) and ei.value.line == 2
