"""`tcp-check` rules as the parser stores them and as the checker prepares them (2.6's
check_proxy_tcpcheck): step numbers count comments, a comment goes to the rules after it of one
kind, an implicit connect comes first, a proxy's own lines replace its defaults' ones, the last
check option wins, and the protocol options' bytes are 2.6's."""

from __future__ import annotations

import pytest

from pyhaproxy.checks import HealthChecker
from pyhaproxy.config.lexer import ConfigError
from pyhaproxy.config.model import Config
from pyhaproxy.config.parser import parse_text
from pyhaproxy.shm import create_shm
from tests.unit.test_checks import ListLog

HEAD = "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"


def _cfg(body: str) -> Config:
    return parse_text(HEAD + body, allow_empty=True)


def test_rules_steps_and_comments() -> None:
    cfg = _cfg("backend b\n    option tcp-check\n    tcp-check comment first\n    tcp-check send A\n"
               "    tcp-check send B comment mine\n    tcp-check expect string X\n"
               "    server s1 127.0.0.1:1 check\n")
    px = cfg.proxies[0]
    assert [(r.action, r.index) for r in px.tcpcheck_rules] == [
        ("comment", 0), ("send", 1), ("send", 2), ("expect", 3)]
    chk = HealthChecker(cfg, create_shm(cfg, 1), ListLog())
    t = chk._targets[0]
    assert [(r.action, r.implicit, r.comment) for r in t.rules] == [
        ("connect", True, None), ("send", False, "first"), ("send", False, "mine"), ("expect", False, None)]
    assert [chk._step_id(r) for r in t.rules] == [0, 2, 3, 4]
    assert t.rules[1].data == b"A"


def test_defaults_rules_are_replaced_by_the_proxys_own() -> None:
    cfg = _cfg("    option tcp-check\n    tcp-check send D\n"
               "backend inherits\n    server s1 127.0.0.1:1 check\n"
               "backend own\n    tcp-check send O\n    server s1 127.0.0.1:1 check\n")
    inherits, own = cfg.proxies
    assert [r.data for r in inherits.tcpcheck_rules] == [b"D"]
    assert [r.data for r in own.tcpcheck_rules] == [b"O"]
    assert inherits.tcpcheck == own.tcpcheck == "tcp"


def test_the_last_check_option_wins() -> None:
    cfg = _cfg("backend a\n    option httpchk\n    option redis-check\n    server s1 127.0.0.1:1 check\n"
               "backend b\n    option redis-check\n    option httpchk\n    server s1 127.0.0.1:1 check\n")
    a, b = cfg.proxies
    assert a.tcpcheck == "redis" and a.httpchk is None
    assert b.tcpcheck is None and b.httpchk is not None


@pytest.mark.parametrize("option, sent", [
    ("redis-check", b"*1\r\n$4\r\nPING\r\n"),
    ("pgsql-check user bob", b"\x00\x00\x00\x12\x00\x03\x00\x00user\x00bob\x00\x00"),
    ("mysql-check user bob pre-41", b"\x0a\x00\x00\x01\x00\x80\x00\x00\x01bob\x00\x00\x01\x00\x00\x00\x01"),
    ("ldap-check", bytes.fromhex("300C020101600702010304008000")),
])
def test_protocol_bytes(option: str, sent: bytes) -> None:
    cfg = _cfg(f"backend b\n    option {option}\n    server s1 127.0.0.1:1 check\n")
    px = cfg.proxies[0]
    assert [r.data for r in px.tcpcheck_proto if r.action == "send"] == [sent]


def test_mysql_post41_packet() -> None:
    cfg = _cfg("backend b\n    option mysql-check user bob\n    server s1 127.0.0.1:1 check\n")
    data = [r.data for r in cfg.proxies[0].tcpcheck_proto if r.action == "send"][0]
    assert data[:4] == bytes((3 + 7 + 27, 0, 0, 1))
    assert data[4:13] == bytes.fromhex("008200000080000121") and data[13:36] == b"\x00" * 23
    assert data[36:] == b"bob\x00\x00\x01\x00\x00\x00\x01"


@pytest.mark.parametrize("line", [
    "tcp-check send-lf %[src]",
    "tcp-check expect string-lf %[src]",
    "tcp-check set-var(check.x) int(1)",
    "tcp-check connect port src_port",
    "tcp-check expect string x on-error %[req.hdr(host)]",
])
def test_refused_by_name(line: str) -> None:
    with pytest.raises(ConfigError, match="is not supported"):
        _cfg(f"backend b\n    option tcp-check\n    {line}\n    server s1 127.0.0.1:1 check\n")
