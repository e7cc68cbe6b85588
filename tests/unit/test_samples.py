"""Sample expressions and ACL lines as the parser reads them (config/sample.py, config/acl.py).

The run-time behaviour is in tests/vtc/samples_fetches_converters.vtc and acl_match_methods.vtc,
against pyhaproxy and haproxy 2.6; here, what is refused at parse time and what is stored."""

from __future__ import annotations

import pytest

from pyhaproxy.config.acl import PREDEFINED, parse_acl, predefined
from pyhaproxy.config.lexer import ConfigError
from pyhaproxy.config.model import Where
from pyhaproxy.config.sample import SampleError, parse_format, parse_sample


def test_fetch_arguments_occurrence_and_converters() -> None:
    e = parse_sample("req.hdr(X-List,-2),lower,length")
    assert (e.fetch, e.arg, e.occ, e.convs, e.type, e.http) == ("req.hdr", "X-List", -2, ["lower", "length"],
                                                                "int", True)
    assert parse_sample("hdr(host)").fetch == "req.hdr"          # 2.6's other spelling
    assert parse_sample("src").type == "ip" and not parse_sample("src").http


@pytest.mark.parametrize(("text", "message"), [
    ("nosuch", "unknown fetch method 'nosuch'"),
    ("path(1)", "fetch method 'path' : no argument supported, but got '1'"),
    ("url_param", "fetch method 'url_param' : expects a name as its argument"),
    ("req.hdr(a,x)", "fetch method 'req.hdr' : failed to parse 'x' as type signed integer"),
    ("src,nosuch", "unknown converter 'nosuch'"),
    ("src,lower(1)", "converter 'lower' : end of arguments expected at '1'"),
    ("src,field(x,_)", "converter 'field' : failed to parse 'x' as type signed integer"),
    ("src,regsub(a)", "converter 'regsub' : expects 2 argument(s)"),
])
def test_bad_samples_are_named(text: str, message: str) -> None:
    with pytest.raises(SampleError) as exc:
        parse_sample(text)
    assert str(exc.value) == message


def test_formats() -> None:
    segs = parse_format("a-%[method]-%%-%[req.ver]")
    assert [(s.text, s.sample.fetch if s.sample else None) for s in segs] == \
        [("a-", None), ("", "method"), ("-%-", None), ("", "req.ver")]
    with pytest.raises(SampleError, match="log-format variable '%ci' is not supported"):
        parse_format("%ci")
    with pytest.raises(SampleError, match="missing"):
        parse_format("%[src")


def test_acl_patterns_are_parsed_once_in_the_model() -> None:
    a = parse_acl("x", ["req.hdr_val(x-num)", "gt", "5", "1:3", "eq", "9"], Where())
    assert a.match == "int" and a.values == [(6, (1 << 63) - 1), (1, 3), (9, 9)]
    assert parse_acl("y", ["src", "10.0.0.0/8"], Where()).values == [(2, bytes([10, 0, 0, 0]), 8)]
    d = parse_acl("z", ["hdr_dom(host)", "-i", "example.com"], Where())
    assert (d.match, d.icase, d.values) == ("dom", True, [b"example.com"])
    assert d.expr is not None and d.expr.arg == "host"
    assert parse_acl("f", ["hdr(x)", "-m", "found", "ignored"], Where()).values == []


def test_acl_pattern_file(tmp_path: pytest.TempPathFactory) -> None:
    f = tmp_path / "nets"  # type: ignore[operator]
    f.write_text("# comment\n10.0.0.0/8\n\n192.168.1.1\n")
    assert len(parse_acl("n", ["src", "-f", str(f)], Where()).values) == 2
    with pytest.raises(ConfigError, match="failed to open pattern file"):
        parse_acl("n", ["src", "-f", str(f) + ".missing"], Where())


def test_every_predefined_acl_parses() -> None:
    for name in PREDEFINED:
        assert predefined(name) is not None, name
    assert predefined("NOPE") is None


@pytest.mark.parametrize("text, arg", [
    ("req.payload_lv(0,2)", "0,2,0,0"),
    ("req.payload_lv(4,1,10)", "4,1,1,10"),
    ("req.payload_lv(4,1,+3)", "4,1,2,3"),
    ("req.payload_lv(4,2,-2)", "4,2,2,-2"),
])
def test_payload_lv_arguments(text: str, arg: str) -> None:
    assert parse_sample(text).arg == arg


@pytest.mark.parametrize("text, message", [
    ("req.payload_lv(0)", "<offset1>,<length>"),
    ("req.payload_lv(-1,2)", "offset1 must be positive"),
    ("req.payload_lv(0,0)", "length must be > 0"),
    ("req.payload_lv(0,2,x)", "offset2 is not a number"),
    ("req.payload_lv(0,1,-5)", "offset2 too negative"),
])
def test_payload_lv_bad_arguments(text: str, message: str) -> None:
    with pytest.raises(SampleError, match=message):
        parse_sample(text)


def test_rdp_cookie_spellings() -> None:
    assert parse_sample("rdp_cookie(mstshash)").fetch == "req.rdp_cookie"
    assert parse_sample("req.rdp_cookie").arg is None
    assert parse_sample("rdp_cookie_cnt").type == "int"
