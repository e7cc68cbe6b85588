"""`bind ... ca-verify-file FILE` (issue 20): CA certificates that verify the client's chain
without being named in the CertificateRequest, unlike `ca-file`'s.

The test's PKI: a root CA, an intermediate CA signed by it, a client certificate signed by the
intermediate ("leaf") and one signed by the root directly ("direct"). The bind has the
intermediate in `ca-file` and the root in `ca-verify-file`, as 2.6's documentation suggests; a
second bind has the intermediate only, so that a chain ending at the root cannot verify there.
Differential: the same configuration and expectations against pyhaproxy and /usr/sbin/haproxy.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary, certs, tls_get  # noqa: F401  (fixtures)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(120)


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


def _sign(d: Path, name: str, subj: str, ca: str, ext: str) -> None:
    """A P-256 key and certificate `name` signed by the CA `ca` (its .crt and .key) with `ext`."""
    _run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=d)
    (d / f"{name}.ext").write_text(ext)
    _run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
         "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "root.key", "-out", "root.crt", "-days", "2", "-subj", "/CN=Test Root CA", cwd=d)
    _sign(d, "inter", "/CN=Test Intermediate CA", "root",
          "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    _sign(d, "leaf", "/CN=leaf.client", "inter", "basicConstraints=CA:FALSE\n")
    _sign(d, "direct", "/CN=direct.client", "root", "basicConstraints=CA:FALSE\n")
    out = {"root": d / "root.crt", "inter": d / "inter.crt"}
    for name in ("leaf", "direct"):
        out[name] = d / f"{name}.pem"      # certificate, key (and leaf's chain: the intermediate)
        chain = (d / "inter.crt").read_text() if name == "leaf" else ""
        out[name].write_text((d / f"{name}.crt").read_text() + chain + (d / f"{name}.key").read_text())
    return out


CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend both
    bind 127.0.0.1:{pboth} ssl crt {a} ca-file {inter} ca-verify-file {root} verify required
    http-request return status 200 content-type text/plain lf-string "cn=%[ssl_c_s_dn(cn)]"
frontend inter
    bind 127.0.0.1:{pinter} ssl crt {a} ca-file {inter} verify required
    http-request return status 200 content-type text/plain lf-string "cn=%[ssl_c_s_dn(cn)]"
frontend rootonly
    bind 127.0.0.1:{proot} ssl crt {a} ca-verify-file {root} verify optional
    http-request return status 200 content-type text/plain lf-string "cn=%[ssl_c_s_dn(cn)]"
"""


def _ca_names(port: int, cert: Path) -> list[str]:
    """The CA names of the server's CertificateRequest, as `openssl s_client` prints them."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"{LOCALHOST}:{port}", "-servername", "a.example",
                        "-cert", str(cert), "-tls1_2"],
                       input=b"", capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace")
    none = "No client certificate CA names sent"
    assert "Acceptable client certificate CA names" in out or none in out, out
    if none in out:
        return []
    block = out.split("Acceptable client certificate CA names", 1)[1].splitlines()[1:]
    names = []
    for line in block:
        if not line.startswith(("/", "C", "O")) or "=" not in line:
            break
        names.append(line.strip())
    return names


def test_ca_verify_file_verifies_without_naming(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
                                                pki: dict[str, Path]) -> None:
    pboth, pinter, proot = free_ports(3)
    proxy.start(CFG, pboth=pboth, pinter=pinter, proot=proot, a=certs["a"], inter=pki["inter"],
                root=pki["root"])
    ca = certs["ca"]
    # the root of ca-verify-file completes the chains: through the intermediate, or direct
    for name, cn in (("leaf", "leaf.client"), ("direct", "direct.client")):
        r = tls_get(pboth, ca, "a.example", cert=pki[name])
        assert (r["status"], r["body"]) == (200, f"cn={cn}"), name
    # without it, the intermediate alone does not end the chain: refused (TLS 1.2, so that the
    # refusal comes within the handshake)
    for name in ("leaf", "direct"):
        with pytest.raises((ssl.SSLError, OSError)):
            tls_get(pinter, ca, "a.example", cert=pki[name], max_ver=ssl.TLSVersion.TLSv1_2)
    # ca-verify-file alone is enough to verify (2.6 asks for ca-file or ca-verify-file)
    r = tls_get(proot, ca, "a.example", cert=pki["direct"])
    assert (r["status"], r["body"]) == (200, "cn=direct.client")
    # the CertificateRequest names ca-file's CA, never ca-verify-file's
    assert _ca_names(pboth, pki["leaf"]) == ["CN = Test Intermediate CA"]
    assert _ca_names(pinter, pki["leaf"]) == ["CN = Test Intermediate CA"]
    assert _ca_names(proot, pki["direct"]) == []


CHAIN_CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend alone
    bind 127.0.0.1:{palone} ssl crt {alone} ca-file {inter} verify optional
    http-request return status 200
frontend chained
    bind 127.0.0.1:{pchained} ssl crt {chained} ca-file {inter} verify optional
    http-request return status 200
"""


def _served_chain(port: int) -> list[str]:
    """The subjects of the certificates the server sends, as `openssl s_client -showcerts` lists
    them ("0 s:CN = ...")."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"{LOCALHOST}:{port}", "-showcerts"],
                       input=b"", capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace")
    assert "Certificate chain" in out, out
    return [line.split("s:", 1)[1].strip() for line in out.splitlines()
            if line[:1] == " " and line.strip()[:1].isdigit() and " s:" in line]


def test_the_chain_served_is_the_files(proxy: Any, binary: str, pki: dict[str, Path]) -> None:  # noqa: F811
    """A certificate file without its issuer is served alone, even when `ca-file` (the store
    that verifies clients) holds that issuer: 2.6 sets the file's chain, empty or not, so that
    OpenSSL builds none from the verify store (which it would do on every handshake)."""
    d = pki["leaf"].parent
    alone = d / "server-alone.pem"
    chained = d / "server-chained.pem"
    if not alone.exists():
        _sign(d, "server", "/CN=server.example", "inter", "basicConstraints=CA:FALSE\n")
        crt, key = (d / "server.crt").read_text(), (d / "server.key").read_text()
        alone.write_text(crt + key)
        chained.write_text(crt + (d / "inter.crt").read_text() + key)
    palone, pchained = free_ports(2)
    proxy.start(CHAIN_CFG, palone=palone, pchained=pchained, alone=alone, chained=chained,
                inter=pki["inter"])
    assert _served_chain(palone) == ["CN = server.example"]
    assert _served_chain(pchained) == ["CN = server.example", "CN = Test Intermediate CA"]
