"""The peers section's model and the master's service built from it (no sockets)."""

from __future__ import annotations

from pyhaproxy.config.lexer import Context
from pyhaproxy.config.parser import parse_text
from pyhaproxy.peers.service import PeersService

TEXT = """
peers mesh
    peer me 127.0.0.1:10001
    peer other 127.0.0.2:10002
    table t type string len 20 size 10k expire 5m store gpc0,http_req_rate(10s)
    table n type integer size 1k store conn_cnt
peers off
    disabled
    peer me 127.0.0.1:10003
peers elsewhere
    peer x 127.0.0.1:10004
listen l
    bind 127.0.0.1:8
    server s 127.0.0.1:9
"""


def test_model() -> None:
    cfg = parse_text(TEXT, ctx=Context(localpeer="me"))
    assert cfg.localpeer == "me" and cfg.localpeer_cmdline
    mesh = cfg.peers[0]
    assert mesh.bind == ("127.0.0.1", 10001)
    assert [(p.name, p.host, p.port, p.local) for p in mesh.peers] == [
        ("me", "127.0.0.1", 10001, True), ("other", "127.0.0.2", 10002, False)]
    t = mesh.tables[0]
    assert (t.key_type, t.key_len, t.size, t.expire_ms) == ("string", 21, 10240, 300000)
    assert t.data_types == [("gpc0", 0), ("http_req_rate", 10000)]
    assert (mesh.tables[1].key_type, mesh.tables[1].key_len) == ("integer", 4)
    assert cfg.peers[1].disabled
    msg = "Removing incomplete section 'peers elsewhere' (no peer named 'me')."
    assert any(msg in w for w in cfg.warnings)


def test_bind_and_server_lines() -> None:
    text = "peers p\n bind 127.0.0.1:7000\n server me\n server o 127.0.0.1:7001\n"
    cfg = parse_text(text + TEXT[TEXT.index("listen"):], ctx=Context(localpeer="me"))
    sec = cfg.peers[0]
    assert sec.bind == ("127.0.0.1", 7000)
    assert [(p.name, p.local, p.port) for p in sec.peers] == [("me", True, 0), ("o", False, 7001)]
    svc = PeersService(cfg)
    eng = svc.engines[0]
    assert eng.local is not None and (eng.local.host, eng.local.port) == ("127.0.0.1", 7000)


def test_service_tables_and_reload_keeps_entries() -> None:
    cfg = parse_text(TEXT, ctx=Context(localpeer="me"))
    svc = PeersService(cfg)
    assert len(svc.engines) == 1  # "off" is disabled, "elsewhere" has no local peer
    eng = svc.engines[0]
    assert [d.name for d in eng.defs] == ["/t", "/n"]  # 2.6's wire names for a section's tables
    assert eng.defs[0].key_len == 21 and eng.defs[0].params == {10: (1, 10000)}
    svc.stores["mesh/t"].update(b"k", {"gpc0": 3}, 0)
    again = PeersService(parse_text(TEXT, ctx=Context(localpeer="me")), keep=svc.stores)
    assert again.signature == svc.signature
    assert again.stores["mesh/t"].get(b"k") == {"gpc0": 3}
    changed = TEXT.replace("store gpc0,http_req_rate(10s)", "store gpc1")
    other = PeersService(parse_text(changed, ctx=Context(localpeer="me")), keep=svc.stores)
    assert other.signature != svc.signature and other.stores["mesh/t"].get(b"k") is None


def test_sync_peers_error_for_stick_tables() -> None:
    from pyhaproxy.config.kw_peers import sync_peers_error

    cfg = parse_text(TEXT, ctx=Context(localpeer="me"))
    assert sync_peers_error(cfg.peers, "me", "be", "mesh") is None
    assert sync_peers_error(cfg.peers, "me", "be", "off") is None  # disabled: not shared, no alert
    assert sync_peers_error(cfg.peers, "me", "be", "nope") == "Proxy 'be': unable to find sync peers 'nope'."
    assert sync_peers_error(cfg.peers, "me", "be", "elsewhere") is None  # dropped with a warning
    empty = parse_text("peers e\n" + TEXT, ctx=Context(localpeer="me"))
    assert sync_peers_error(empty.peers, "me", "be", "e") == \
        "Proxy 'be': unable to find local peer 'me' in peers section 'e'."
