"""`bind ... ssl crt-list FILE` as the parser reads it (pyhaproxy/config/tls.py load_crt_list):
comments, SNI filters and `!name` exclusions, per-line settings over the bind's, refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pyhaproxy.config import ConfigError
from pyhaproxy.config.parser import parse_text


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("crtlist")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-days", "2", "-subj", "/CN=one.example",
                    "-addext", "subjectAltName=DNS:one.example,DNS:two.example"],
                   cwd=d, check=True, capture_output=True, timeout=60)
    out = d / "both.pem"
    out.write_text((d / "c.pem").read_text() + (d / "k.pem").read_text())
    return out


def _bind_tls(text: str) -> object:
    cfg = parse_text(text, "t.cfg")
    return cfg.proxies[0].binds[0].tls


def test_filters_and_options(pem: Path, tmp_path: Path) -> None:
    lst = tmp_path / "l.lst"
    lst.write_text(f"# comment\n\n{pem}\n"
                   f"{pem} [alpn h2,http/1.1 ssl-min-ver TLSv1.3] *.x.example !no.x.example\n"
                   f"{pem} !*\n{pem} !two.example\n")
    t = _bind_tls(f"frontend f\n    mode http\n    bind :443 ssl crt-list {lst} alpn http/1.1 ciphers HIGH\n")
    a, b, c, d = t.certs   # type: ignore[attr-defined]
    assert (a.names, a.opts) == (["one.example", "two.example"], None)
    assert (b.names, b.excluded) == (["*.x.example"], ["no.x.example"])
    assert (b.opts.alpn, b.opts.min_ver, b.opts.ciphers) == (["h2", "http/1.1"], "TLSv1.3", "HIGH")
    assert (c.names, c.excluded) == ([], [])          # `!*`: never chosen by name
    assert (d.names, d.excluded) == (["one.example", "two.example"], ["two.example"])


@pytest.mark.parametrize(("line", "message"), [
    ("{pem} [allow-0rtt] a.example", "TLS option 'allow-0rtt' is not supported"),
    ("{pem} [sigalgs RSA+SHA256] a.example", "TLS option 'sigalgs' is not supported yet (it appeared in"),
    ("{pem} [alpn h2 a.example", "missing ']'"),
    ("{pem} [verify required]", "verify is enabled but no CA file specified"),
    ("/nonexistent.pem", "unable to stat SSL certificate"),
])
def test_refused(pem: Path, tmp_path: Path, line: str, message: str) -> None:
    lst = tmp_path / "bad.lst"
    lst.write_text("\n" + line.format(pem=pem) + "\n")
    with pytest.raises(ConfigError) as ei:
        _bind_tls(f"frontend f\n    mode http\n    bind :443 ssl crt-list {lst}\n")
    assert message in str(ei.value)
    assert ei.value.file == str(lst) and ei.value.line == 2     # the crt-list's own line
