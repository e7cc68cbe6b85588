"""`userlist` sections with `http-request auth [realm R]`, `http_auth(L)` and
`http_auth_group(L)`: clear-text (`insecure-password`) and crypt(3) (`password`, a SHA-512
hash) passwords, groups given on the user or on the group line; the 401 answer and its
`WWW-Authenticate`. Differential (the `binary` fixture): the same expectations against
haproxy 2.6. (pyhaproxy adds `connection: close` to the 401, as to every answer it makes.)
"""

from __future__ import annotations

import base64
import socket
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture: pyhaproxy, then haproxy)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(60)

# crypt(3) SHA-512 of "s3cret"
HASH = ("$6$vVva0lNn.DvMCh5o$MxO5l5L.ayRFRnHppGvA94kArAOpYRCxbXwh72tNytgIdi9onRcVHm49RjZOyenv5ygxf8aXq"
        "GEPDTZ79Qay5.")

CFG = r"""
userlist L
    group admins
    group ops users carol
    user bob insecure-password secret groups admins
    user carol password {hash}
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    acl admin http_auth_group(L) admins
    acl ops http_auth_group(L) ops
    http-request auth realm Admin\ area if { path_beg /admin } !{ http_auth(L) }
    http-request auth if { path_beg /plain } !{ http_auth(L) }
    http-request return status 200 content-type text/plain string admin if admin
    http-request return status 200 content-type text/plain string ops if ops
    http-request return status 200 content-type text/plain string other
"""
PAGE = (b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this "
        b"content.\n</body></html>\n")


def ask(port: int, path: str, cred: str | None = None) -> tuple[bytes, dict[str, str], bytes]:
    auth = f"Authorization: Basic {base64.b64encode(cred.encode()).decode()}\r\n" if cred else ""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    hdrs = {k.decode().lower(): v.decode().strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
    return lines[0], hdrs, body


def test_auth_and_groups(proxy: Any, binary: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    proxy.start(CFG.replace("{hash}", HASH), port=port)
    status, hdrs, body = ask(port, "/admin")
    assert status == b"HTTP/1.1 401 Unauthorized" and body == PAGE
    assert hdrs["www-authenticate"] == 'Basic realm="Admin area"'
    assert hdrs["content-type"] == "text/html" and hdrs["cache-control"] == "no-cache"
    assert ask(port, "/plain")[1]["www-authenticate"] == 'Basic realm="fe"'    # the proxy's name
    assert ask(port, "/admin", "bob:secret")[2] == b"admin"
    assert ask(port, "/admin", "bob:wrong")[0] == b"HTTP/1.1 401 Unauthorized"
    assert ask(port, "/admin", "carol:s3cret")[2] == b"ops"                   # crypt(3), group line
    assert ask(port, "/admin", "carol:s3cre")[0] == b"HTTP/1.1 401 Unauthorized"
    assert ask(port, "/admin", "nobody:secret")[0] == b"HTTP/1.1 401 Unauthorized"
    assert ask(port, "/other")[2] == b"other"                                 # no rule asks


def test_an_unknown_userlist_is_refused(proxy: Any, binary: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    cfg = proxy.write_config(CFG.replace("{hash}", HASH).replace("http_auth(L)", "http_auth(M)"), port=port)
    r = proxy.run(["-c", "-f", str(cfg)])
    assert r.returncode == 1
    assert "unable to find userlist 'M'" in r.stderr + r.stdout
