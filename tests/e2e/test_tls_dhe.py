"""DHE key exchange on a TLS bind (issue 20): `tune.ssl.default-dh-param`, `ssl-dh-param-file`
and DH parameters inside the certificate file, each as 2.6 applies them with Debian's OpenSSL 3
(ext/tls.pxi `_tls_dh`). Without any of them there is no DHE (ECDHE only), in both binaries.
Differential: the same configuration and expectations against pyhaproxy and /usr/sbin/haproxy,
read from `openssl s_client` (the cipher and the server's temporary key).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary, certs  # noqa: F401  (fixtures)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(120)

CFG = """
global
{glob}
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind {host}:{port} ssl crt {crt} ciphers DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256
    http-request return status 200 content-type text/plain string ok
"""


def _dh_file(d: Path, group: str) -> Path:
    out = d / f"{group}.pem"
    subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", f"group:{group}",
                    "-out", str(out)], check=True, capture_output=True, timeout=30)
    return out


def _dhe(port: int) -> tuple[str, str]:
    """(cipher, server temp key) of a TLS 1.2 handshake offering DHE-RSA only."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"{LOCALHOST}:{port}", "-tls1_2",
                        "-cipher", "DHE-RSA-AES128-GCM-SHA256"],
                       input=b"", capture_output=True, timeout=20)
    out = r.stdout.decode(errors="replace")
    cipher = next((ln.split("Cipher is ", 1)[1].strip() for ln in out.splitlines() if "Cipher is " in ln), "")
    key = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Server Temp Key" in ln), "")
    return cipher, key


@pytest.mark.parametrize(("case", "cipher", "key"), [
    ("none", "(NONE)", ""),
    ("default-2048", "DHE-RSA-AES128-GCM-SHA256", "DH, 2048 bits"),
    ("default-4096", "DHE-RSA-AES128-GCM-SHA256", "DH, 2048 bits"),    # no larger than the RSA key
    ("param-file", "DHE-RSA-AES128-GCM-SHA256", "DH, 3072 bits"),
    ("in-crt", "DHE-RSA-AES128-GCM-SHA256", "DH, 3072 bits"),
])
def test_dhe(proxy: Any, binary: str, certs: dict[str, Path], tmp_path: Path,  # noqa: F811
             case: str, cipher: str, key: str) -> None:
    (port,) = free_ports(1)
    crt = certs["a"]                                 # RSA 2048
    glob = "    log stdout local0"
    if case.startswith("default-"):
        glob = f"    tune.ssl.default-dh-param {case.split('-')[1]}"
    elif case == "param-file":
        glob = f"    ssl-dh-param-file {_dh_file(tmp_path, 'ffdhe3072')}"
    elif case == "in-crt":
        crt = tmp_path / "with-dh.pem"
        crt.write_text(certs["a"].read_text() + _dh_file(tmp_path, "ffdhe3072").read_text())
    proxy.start(CFG, glob=glob, host=LOCALHOST, port=port, crt=crt)
    assert _dhe(port) == (cipher, key)


def test_bad_dh_param_file_is_refused(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    """A file without "DH PARAMETERS" (X9.42 ones, as `openssl dhparam -dsaparam` writes) is
    2.6's [ALERT] and exit 1."""
    bad = tmp_path / "x942.pem"
    bad.write_text("-----BEGIN X9.42 DH PARAMETERS-----\nAAAA\n-----END X9.42 DH PARAMETERS-----\n")
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(f"global\n    ssl-dh-param-file {bad}\n")
    r = proxy.run(["-c", "-f", str(cfg)])
    assert r.returncode == 1
    assert f"'ssl-dh-param-file': unable to load DH parameters from file <{bad}>." in r.stderr
