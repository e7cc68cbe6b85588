"""The PROXY protocol's configuration: `bind ... accept-proxy`, the server options
`send-proxy`, `send-proxy-v2`, `proxy-v2-options`, `check-send-proxy` (and their `no-` forms),
`tcp-request connection expect-proxy layer4`; errors worded as haproxy 2.6 words them."""

from __future__ import annotations

import pytest

from pyhaproxy.config import ConfigError
from pyhaproxy.config.parser import parse_text


def test_bind_accept_proxy() -> None:
    cfg = parse_text("frontend f\n    bind :80 accept-proxy name pp\n    bind :81\n", "t.cfg")
    assert [b.options for b in cfg.proxies[0].binds] == [{"accept-proxy": "", "name": "pp"}, {}]


@pytest.mark.parametrize(("opts", "send", "pp_opts", "check"), [
    ("send-proxy", 1, 0, False),
    ("send-proxy-v2", 2, 0, False),
    ("send-proxy-v2 proxy-v2-options crc32c,authority", 2, 3, False),
    ("proxy-v2-options crc32c", 0, 1, False),          # (it does not imply send-proxy-v2, as in 2.6)
    ("send-proxy no-send-proxy", 0, 0, False),
    ("check-send-proxy", 0, 0, True),
    ("check-send-proxy no-check-send-proxy send-proxy-v2", 2, 0, False),
])
def test_server_options(opts: str, send: int, pp_opts: int, check: bool) -> None:
    cfg = parse_text(f"backend b\n    server s 127.0.0.1:80 {opts}\n", "t.cfg")
    s = cfg.proxies[0].servers[0]
    assert (s.send_proxy, s.pp_opts, s.check_send_proxy) == (send, pp_opts, check)


def test_default_server_send_proxy() -> None:
    cfg = parse_text("defaults\n    default-server send-proxy-v2\nbackend b\n    server s 127.0.0.1:80\n"
                     "    server t 127.0.0.1:81 no-send-proxy-v2\n", "t.cfg")
    assert [s.send_proxy for s in cfg.proxies[0].servers] == [2, 0]


def test_ssl_tlv_options() -> None:
    """proxy-v2-options' TLS words and send-proxy-v2-ssl[-cn] as _core's PP_OPT_* bits."""
    cfg = parse_text("backend b\n"
                     "    server s 127.0.0.1:80 send-proxy-v2 proxy-v2-options crc32c,cert-cn,ssl-cipher\n"
                     "    server t 127.0.0.1:81 proxy-v2-options cert-sig,cert-key,ssl\n"
                     "    server u 127.0.0.1:82 send-proxy-v2-ssl\n"
                     "    server v 127.0.0.1:83 send-proxy-v2-ssl-cn\n"
                     "    server w 127.0.0.1:84 send-proxy-v2-ssl-cn no-send-proxy-v2-ssl-cn\n", "t.cfg")
    got = [(s.send_proxy, s.pp_opts) for s in cfg.proxies[0].servers]
    assert got == [(2, 1 | 4 | 8 | 16), (0, 4 | 32 | 64), (2, 4), (2, 4 | 8), (0, 0)]


def test_expect_proxy_rules() -> None:
    cfg = parse_text("frontend f\n    bind :80\n    acl lb src 10.0.0.0/8\n"
                     "    tcp-request connection expect-proxy layer4 if lb\n"
                     "    tcp-request connection expect-proxy layer4\n", "t.cfg")
    first, second = cfg.proxies[0].expect_proxy
    assert first is not None and first.groups == [[(False, "lb")]] and second is None


@pytest.mark.parametrize(("text", "line", "message"), [
    ("backend b\n    server s 127.0.0.1:80 proxy-v2-options crc32c,bogus\n", 2,
     "'proxy-v2-options' : failed to parse 'bogus' (server s)."),
    ("backend b\n    server s 127.0.0.1:80 proxy-v2-options\n", 2,
     "'proxy-v2-options' expects an argument (server s)."),
    ("backend b\n    server s 127.0.0.1:80 proxy-v2-options unique-id\n", 2,
     "'proxy-v2-options unique-id' is not supported yet (it appeared in HAProxy 1.9)."),
    ("backend b\n    tcp-request connection expect-proxy layer4\n", 2,
     "tcp-request connection is not allowed because backend b is not a frontend"),
    ("defaults\n    tcp-request connection expect-proxy layer4\n", 2,
     "tcp-request connection is not allowed in anonymous 'defaults' sections"),
    ("frontend f\n    bind :1\n    tcp-request connection expect-proxy\n", 3,
     "'tcp-request connection expect-proxy' only supports 'layer4' in frontend 'f' (got '')"),
    ("frontend f\n    bind :1\n    tcp-request connection set-mark 1\n", 3,
     "'tcp-request connection set-mark' is not supported (only accept, reject, track-sc0/1/2, "
     "sc-inc-gpc0, sc-inc-gpc1, sc-set-gpt0, sc-inc-gpc, sc-set-gpt, set-var, set-var-fmt, unset-var, "
     "capture are)."),
    ("frontend f\n    bind :1\n    tcp-request content silent-drop\n", 3,
     "'tcp-request content silent-drop' is not supported (only accept, reject, track-sc0/1/2, "
     "sc-inc-gpc0, sc-inc-gpc1, sc-set-gpt0, sc-inc-gpc, sc-set-gpt, set-var, set-var-fmt, unset-var, "
     "capture are)."),
    ("frontend f\n    bind :1\n    tcp-request inspect-delay\n", 3,
     "'tcp-request inspect-delay' expects a timeout value."),
    ("frontend f\n    bind :1\n    acl p path /x\n    tcp-request connection expect-proxy layer4 if p\n", 4,
     "'tcp-request connection' : ACL 'p' uses 'path', which is not known when the connection is "
     "accepted."),
])
def test_errors(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_text(text, "t.cfg")
    assert str(ei.value) == f"[ALERT] parsing [t.cfg:{line}] : {message}"
