"""`stats socket` on a TCP address (`ipv4@ADDR:PORT`, `ipv6@[ADDR]:PORT`, a bare `ADDR:PORT`)
and in the abstract namespace (`abns@NAME`), several at once, each with its own level.
Differential: passes with PYHAPROXY_CMD=/usr/sbin/haproxy too."""

from __future__ import annotations

import os
import socket

import pytest

from tests.helpers import free_ports

pytestmark = pytest.mark.timeout(60)


def ask(family: int, addr: object, command: str) -> str:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(addr)
        s.sendall(command.encode() + b"\n")
        out = b""
        while got := s.recv(65536):
            out += got
    return out.decode()


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_tcp_and_abstract_stats_sockets(proxy) -> None:
    port, p4, p4b = free_ports(3)
    name = f"pyhaproxy-test-{os.getpid()}-{p4}"
    proxy.start("""
    global
        stats socket ipv4@127.0.0.1:{p4} level admin
        stats socket 127.0.0.1:{p4b} level user
        stats socket abns@{abns} level operator
    defaults
        mode http
        timeout connect 2s
        timeout client 10s
        timeout server 10s
    backend be
        server s1 127.0.0.1:9 disabled
    frontend fe
        bind 127.0.0.1:{port}
        default_backend be
    """, port=port, p4=p4, p4b=p4b, abns=name)
    stat = ask(socket.AF_INET, ("127.0.0.1", p4), "show stat")
    assert stat.startswith("# pxname,svname,")
    assert any(line.startswith("be,s1,") for line in stat.splitlines())
    # the admin socket may change a server's state, the user-level one may not
    assert ask(socket.AF_INET, ("127.0.0.1", p4), "enable server be/s1").strip() == ""
    denied = ask(socket.AF_INET, ("127.0.0.1", p4b), "disable server be/s1")
    assert "Permission denied" in denied
    # 2.6 binds an abns@ name padded with NULs to the whole sun_path: clients do the same
    info = ask(socket.AF_UNIX, (b"\0" + name.encode()).ljust(108, b"\0"), "show info")
    assert "Name: " in info and "Pid: " in info


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_stats_socket(proxy) -> None:
    port, p6 = free_ports(2)
    proxy.start("""
    global
        stats socket ipv6@[::1]:{p6} level admin
    defaults
        mode http
        timeout connect 2s
        timeout client 10s
        timeout server 10s
    frontend fe
        bind 127.0.0.1:{port}
    """, port=port, p6=p6)
    assert "\nPid: " in ask(socket.AF_INET6, ("::1", p6), "show info")
