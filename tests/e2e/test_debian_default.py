"""End-to-end: Debian's default /etc/haproxy/haproxy.cfg, verbatim, with a frontend and backends
appended, runs: daemon, chroot /var/lib/haproxy, user/group haproxy, `stats socket ... level
admin`, Debian's error files (its 503 page when a backend has no server left)."""

from __future__ import annotations

import os
import pwd
import socket
from pathlib import Path

import pytest

from tests.e2e.test_tls import certs, tls_get  # noqa: F401  (fixture)
from tests.helpers import free_ports, recv_until_closed

pytestmark = pytest.mark.timeout(60)

DEBIAN_CFG = Path("/etc/haproxy/haproxy.cfg")
ADMIN_SOCK = "/run/haproxy/admin.sock"


def _usable() -> str | None:
    if not DEBIAN_CFG.exists() or not Path("/etc/haproxy/errors/503.http").exists():
        return "Debian's haproxy configuration is not installed"
    if os.geteuid() != 0:
        return "needs root (chroot, user haproxy)"
    try:
        pwd.getpwnam("haproxy")
    except KeyError:
        return "no haproxy user"
    if not Path("/var/lib/haproxy").is_dir() or not Path("/run/haproxy").is_dir():
        return "no /var/lib/haproxy or /run/haproxy"
    if Path(ADMIN_SOCK).exists():
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(ADMIN_SOCK)
                return "a haproxy already serves /run/haproxy/admin.sock"
            except OSError:
                pass
    return None


@pytest.mark.skipif(_usable() is not None, reason=str(_usable()))
def test_debian_default_runs_with_frontend_and_backends(proxy, http_backend, tmp_path: Path,
                                                       certs: dict[str, Path]) -> None:  # noqa: F811
    import ssl

    web = http_backend(name="web")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(certs["b"]))
    tlsweb = http_backend(name="tlsweb", tls=ctx)
    port, dead, tport = free_ports(3)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(DEBIAN_CFG.read_text() + f"""
frontend www
\tbind 127.0.0.1:{port}
\tacl dead path_beg /dead
\tuse_backend nobody if dead
\tdefault_backend web

backend web
\tserver w1 127.0.0.1:{web.port}

backend nobody
\tserver gone 127.0.0.1:{dead}

# TLS both ways, with certificates outside the chroot: read before privileges are dropped
frontend tls
\tbind 127.0.0.1:{tport} ssl crt {certs["a"]}
\tdefault_backend tlsweb

backend tlsweb
\tserver t 127.0.0.1:{tlsweb.port} ssl verify required ca-file {certs["ca"]}
""")
    px = proxy.start(cfg, daemon=True)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert recv_until_closed(c, timeout=10).startswith(b"HTTP/1.1 200")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"GET /dead HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert recv_until_closed(c, timeout=20) == Path("/etc/haproxy/errors/503.http").read_bytes()
    r = tls_get(tport, certs["ca"], "a.example")
    assert (r["status"], r["body"]) == (200, "tlsweb\n")
    # workers dropped to the haproxy user; the admin socket answers
    uid = pwd.getpwnam("haproxy").pw_uid
    workers = px.worker_pids()
    assert workers and all(os.stat(f"/proc/{w}").st_uid == uid for w in workers)
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(ADMIN_SOCK)
        s.sendall(b"show info\n")
        assert b"Name:" in recv_until_closed(s, timeout=10)
