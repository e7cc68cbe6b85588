"""`bind ... ssl tls-ticket-keys FILE` (issue 20): session tickets sealed with the keys of a file,
in 2.6's format (base64 keys of 48 or 80 bytes, one a line, the last three kept, the last but one
encrypting, all three decrypting).

- The same file on haproxy 2.6 and on pyhaproxy, both running: a session haproxy gave resumes on
  pyhaproxy and the reverse (TLS 1.3 and 1.2, 48- and 80-byte keys), and not on a bind of
  pyhaproxy with another file.
- Rotation (each binary): a key appended to the file (the oldest dropped) and a reload: a ticket
  under a key still in the file resumes; two rotations later, its key gone, it does not.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import HAPROXY, binary, certs, https_close  # noqa: F401  (fixtures)
from tests.helpers.net import free_ports
from tests.helpers.proxy import CMD_VAR

pytestmark = pytest.mark.timeout(120)

CFG = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {b} tls-ticket-keys {keys}
    {other}
    http-request return status 200 content-type text/plain string "{gen}"
"""


def _keys(n: int, size: int = 80) -> list[str]:
    return [base64.b64encode(os.urandom(size)).decode() for _ in range(n)]


def _get(ctx: ssl.SSLContext, port: int, session: Any) -> tuple[bool, Any, str]:
    """One request on a new connection, offering `session`: (resumed, the new session, body)."""
    reused, new, body = https_close(ctx, port, session)
    return reused, new, body.decode()


def _ctx(ca: Path, ver: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = ver
    return ctx


VERSIONS = (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2)


@pytest.mark.parametrize("size", [80, 48])
def test_tickets_resume_across_haproxy_and_pyhaproxy(proxy: Any, certs: dict[str, Path],  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     size: int) -> None:
    if not HAPROXY.exists():
        pytest.skip("Debian's haproxy is not installed")
    keys = tmp_path / "tickets.keys"
    keys.write_text("\n".join(_keys(4, size)) + "\n")
    other = tmp_path / "other.keys"
    other.write_text("\n".join(_keys(3, size)) + "\n")
    ph, pp, po = free_ports(3)
    monkeypatch.setenv(CMD_VAR, str(HAPROXY))
    proxy.start(CFG, name="haproxy", port=ph, b=certs["b"], keys=keys, other="", gen="haproxy")
    monkeypatch.delenv(CMD_VAR)
    proxy.start(CFG, name="pyhaproxy", port=pp, b=certs["b"], keys=keys, gen="pyhaproxy",
                other=f"bind 127.0.0.1:{po} ssl crt {certs['b']} tls-ticket-keys {other}")
    for ver in VERSIONS:
        ctx = _ctx(certs["ca"], ver)
        for first, then in ((ph, pp), (pp, ph)):
            reused, session, body = _get(ctx, first, None)
            assert not reused
            reused, _, body2 = _get(ctx, then, session)
            assert reused, (ver, first, then)
            assert {body, body2} == {"haproxy", "pyhaproxy"}
        # a bind with other keys cannot open haproxy's ticket
        _, session, _ = _get(ctx, ph, None)
        reused, _, _ = _get(ctx, po, session)
        assert not reused, ver


def test_rotation_on_reload(proxy: Any, binary: str, certs: dict[str, Path],  # noqa: F811
                            tmp_path: Path) -> None:
    k = _keys(7)
    keys = tmp_path / "tickets.keys"
    keys.write_text("\n".join(k[0:4]) + "\n")          # k2 (the last but one) encrypts
    (port,) = free_ports(1)
    px = proxy.start(CFG, extra_args=["-W"], port=port, b=certs["b"], keys=keys, other="", gen="gen1")
    sessions = {}
    ctxs = {ver: _ctx(certs["ca"], ver) for ver in VERSIONS}
    for ver in VERSIONS:
        reused, sessions[ver], body = _get(ctxs[ver], port, None)
        assert (reused, body) == (False, "gen1")
        assert _get(ctxs[ver], port, sessions[ver])[0], ver

    def reload(lines: list[str], gen: str) -> None:
        keys.write_text("\n".join(lines) + "\n")
        px.cfg.write_text(px.cfg.read_text().replace(f'"gen{int(gen[3:]) - 1}"', f'"{gen}"'))
        px.signal(signal.SIGUSR2)

    def resumes(ver: ssl.TLSVersion, gen: str) -> bool:
        """Offer the first session until the reloaded worker answers (the old one may still
        accept for a moment; haproxy's master can miss a SIGUSR2 right after its start)."""
        for i in range(200):
            if i == 100:
                px.signal(signal.SIGUSR2)
            reused, _, body = _get(ctxs[ver], port, sessions[ver])
            if body == gen:
                return reused
        raise AssertionError(f"no answer from the reloaded worker ({gen})")

    # one key appended, the oldest dropped: k2 is still among the last three
    reload(k[1:5], "gen2")
    for ver in VERSIONS:
        assert resumes(ver, "gen2"), ver
    # two more: k2 is gone
    reload(k[3:7], "gen3")
    for ver in VERSIONS:
        assert not resumes(ver, "gen3"), ver


def test_bad_key_files_are_refused(proxy: Any, certs: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    """pyhaproxy only: 2.6's refusals, each naming the file."""
    cases = [
        ("\n".join(_keys(2)) + "\n", "please supply at least 3 keys"),
        ("\n".join(_keys(2) + ["not base64!"]) + "\n", "unable to decode base64 key on line 3"),
        ("\n".join(_keys(2) + _keys(1, 48)) + "\n", "wrong sized key on line 3"),
        ("\n".join(_keys(3, 32)) + "\n", "wrong sized key on line 1"),
    ]
    for i, (text, words) in enumerate(cases):
        f = tmp_path / f"bad{i}.keys"
        f.write_text(text)
        cfg = proxy.write_config(f"frontend f\n    mode http\n    bind 127.0.0.1:1 ssl crt {certs['b']} "
                                 f"tls-ticket-keys {f}\n")
        r = proxy.run(["-c", "-f", str(cfg)])
        assert r.returncode != 0 and words in r.stderr and str(f) in r.stderr, (text, r.stderr)
    cfg = proxy.write_config(f"frontend f\n    bind 127.0.0.1:1 ssl crt {certs['b']} "
                             f"tls-ticket-keys {tmp_path}/none.keys\n")
    r = proxy.run(["-c", "-f", str(cfg)])
    assert r.returncode != 0 and "unable to load ssl tickets keys file" in r.stderr, r.stderr


SHOW_CFG = """
global
    stats socket {sock} level user
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{p1} ssl crt {b} tls-ticket-keys {k1}
    bind 127.0.0.1:{p2} ssl crt {b} tls-ticket-keys {k2}
    bind 127.0.0.1:{p3} ssl crt {b} tls-ticket-keys {k1}
    bind 127.0.0.1:{p4} ssl crt {b}
    http-request return status 200
"""


def _cli(sock: Path, cmd: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(sock))
        s.sendall(cmd.encode() + b"\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode()


def test_show_tls_keys(proxy: Any, binary: str, certs: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    """`show tls-keys [id|*]`: one reference per file, numbered from the last file read, and the
    file's last three keys from the oldest (a 4-line and a 5-line file: the rings differ)."""
    k1, k2 = _keys(4), _keys(5, 48)
    f1, f2 = tmp_path / "one.keys", tmp_path / "two.keys"
    f1.write_text("\n".join(k1) + "\n")
    f2.write_text("\n".join(k2) + "\n")
    sock = tmp_path / "stats.sock"
    p1, p2, p3, p4 = free_ports(4)
    proxy.start(SHOW_CFG, sock=sock, p1=p1, p2=p2, p3=p3, p4=p4, b=certs["b"], k1=f1, k2=f2)
    assert _cli(sock, "show tls-keys") == f"# id (file)\n0 ({f2})\n1 ({f1})\n\n"
    dump1 = f"# 1 ({f1})\n" + "".join(f"1.{i} {k}\n" for i, k in enumerate(k1[-3:]))
    dump0 = f"# 0 ({f2})\n" + "".join(f"0.{i} {k}\n" for i, k in enumerate(k2[-3:]))
    assert _cli(sock, "show tls-keys *") == "# id secret\n" + dump0 + dump1 + "\n"
    assert _cli(sock, "show tls-keys #1") == "# id secret\n" + dump1 + "\n"
    assert _cli(sock, f"show tls-keys {f2}") == "# id secret\n" + dump0 + "\n"
    for ref in ("#7", "nothing"):
        answer = _cli(sock, f"show tls-keys {ref}")
        assert answer == "'show tls-keys' unable to locate referenced filename\n\n", ref
