"""The peers protocol codec: varints at their boundaries, messages as haproxy 2.6 builds them."""

from __future__ import annotations

import pytest

from pyhaproxy.peers import codec as c


@pytest.mark.parametrize(
    "value,size",
    [(0, 1), (239, 1), (240, 2), (2287, 2), (2288, 3), (264431, 3), (264432, 4),
     (33818863, 4), (33818864, 5), (4328786159, 5), (4328786160, 6), (2**64 - 1, 10)],
)  # fmt: skip
def test_varint_boundaries(value: int, size: int) -> None:
    raw = c.encode_varint(value)
    assert len(raw) == size
    assert c.decode_varint(raw, 0) == (value, size)


def test_varint_known_bytes() -> None:
    # 240 -> [0xf0, 0x00]; 300 -> low nibble 0xc | 0xf0, then (300-240)>>4 = 3
    assert c.encode_varint(240) == b"\xf0\x00"
    assert c.encode_varint(300) == b"\xfc\x03"
    with pytest.raises(c.ProtocolError):
        c.decode_varint(b"\xf0\x80", 0)


def test_hello_and_version_check() -> None:
    assert c.hello("hap", "py", 42) == b"HAProxyS 2.1\nhap\npy 42 1\n"
    assert c.check_version_line("HAProxyS 2.1") == c.ST_SUCCESS
    assert c.check_version_line("HAProxyS 2.0") == c.ST_SUCCESS
    assert c.check_version_line("HAProxyS 2.2") == c.ST_ERRVERSION
    assert c.check_version_line("HAProxyS 3.0") == c.ST_ERRVERSION
    assert c.check_version_line("HAProxyS x") == c.ST_ERRVERSION
    assert c.check_version_line("Hello 2.1") == c.ST_ERRPROTO


def test_reader_lines_then_messages() -> None:
    r = c.Reader()
    r.feed(b"200\r\n\x00\x04\x0a\x83\x01")
    assert r.line() == "200"
    m = r.message()
    assert m is not None and (m.cls, m.type) == (c.CLASS_CONTROL, c.CTRL_HEARTBEAT)
    assert r.message() is None  # the switch's length says 1 byte, still missing
    r.feed(b"\x07")
    m = r.message()
    assert m is not None and m.type == c.STKT_SWITCH and c.decode_switch(m.data) == 7


def test_reader_size_limit() -> None:
    r = c.Reader()
    r.feed(b"\x0a\x80" + c.encode_varint(c.MAX_MSG_LEN + 1))
    with pytest.raises(c.SizeError):
        r.message()


def _def() -> c.TableDef:
    # stick-table type ip size 1m expire 10m store conn_cnt,http_req_rate(10s),server_id,gpc(2)
    return c.TableDef(3, "px", "ip", 4, [0, 4, 10, 23], expire=600000,
                      params={10: (1, 10000), 23: (2, 0)})


def test_define_bytes_and_roundtrip() -> None:
    d = _def()
    raw = c.encode_define(d)
    bits = (1 << 0) | (1 << 4) | (1 << 10) | (1 << 23)
    body = (b"\x03" + b"\x02px" + b"\x04" + b"\x04" + c.encode_varint(bits) + c.encode_varint(600000)
            + b"\x0a" + c.encode_varint(10000) + b"\x17\x02")
    assert raw == b"\x0a\x82" + c.encode_varint(len(body)) + body
    got = c.decode_define(body)
    assert got == d


def test_define_without_expire_is_pre_24() -> None:
    body = b"\x01\x01t\x06\x20" + c.encode_varint(1 << 9)
    d = c.decode_define(body)
    assert d is not None and d.key_type == "string" and d.key_len == 32 and d.data_types == [9]
    assert d.expire == 0


def test_define_mismatched_parameters_ignored() -> None:
    bits = 1 << 10
    body = b"\x01\x01t\x04\x04" + c.encode_varint(bits) + b"\x00" + b"\x0b\x10"  # says type 11
    assert c.decode_define(body) is None


def test_update_roundtrip_all_forms() -> None:
    d = _def()
    values: dict[int, c.Value] = {0: 3, 4: 17, 10: c.FreqCtr(1500, 5, 9), 23: [1, 2]}
    for uid, exp, typ in [(7, None, c.STKT_UPDATE), (None, None, c.STKT_INCUPDATE),
                          (7, 5000, c.STKT_UPDATE_TIMED), (None, 5000, c.STKT_INCUPDATE_TIMED)]:
        raw = c.encode_update(d, c.Update(b"\x7f\x00\x00\x01", values, uid, exp))
        r = c.Reader()
        r.feed(raw)
        m = r.message()
        assert m is not None and m.type == typ
        u = c.decode_update(d, m.type, m.data)
        assert (u.key, u.values, u.update_id, u.expire) == (b"\x7f\x00\x00\x01", values, uid, exp)


def test_update_bytes_timed() -> None:
    d = c.TableDef(1, "t", "integer", 4, [9])
    raw = c.encode_update(d, c.Update((258).to_bytes(4, "big"), {9: 300}, 1, 2000))
    body = b"\x00\x00\x00\x01" + b"\x00\x00\x07\xd0" + b"\x00\x00\x01\x02" + b"\xfc\x03"
    assert raw == b"\x0a\x85" + bytes((len(body),)) + body


def test_string_key_truncated_to_key_size() -> None:
    d = c.TableDef(1, "t", "string", 4, [])  # "len 3": key size 4 with the NUL
    raw = c.encode_update(d, c.Update(b"abcdef", {}, 1))
    assert raw.endswith(b"\x03abc")
    u = c.decode_update(d, c.STKT_UPDATE, b"\x00\x00\x00\x01\x06abcdef")
    assert u.key == b"abc"


def test_server_key_dictionary_cache() -> None:
    d = c.TableDef(1, "t", "ip", 4, [19])
    cache: dict[int, str] = {}
    raw = c.encode_update(d, c.Update(b"\x01\x02\x03\x04", {19: "srv1"}, 1))
    u = c.decode_update(d, c.STKT_UPDATE, raw[3:], cache)
    assert u.values[19] == "srv1" and cache == {1: "srv1"}
    # the short form: only the cache id
    u = c.decode_update(d, c.STKT_INCUPDATE, b"\x01\x02\x03\x04" + b"\x01\x01", cache)
    assert u.values[19] == "srv1"


def test_truncated_update_is_protocol_error() -> None:
    d = _def()
    raw = c.encode_update(d, c.Update(b"\x01\x02\x03\x04", {4: 1000}, 1))
    with pytest.raises(c.ProtocolError):
        c.decode_update(d, c.STKT_UPDATE, raw[3:-1])


def test_freq_ctr_reads_as_haproxy() -> None:
    assert c.FreqCtr(0, 5, 0).rate(10000) == 5
    assert c.FreqCtr(2500, 5, 8).rate(10000) == 5 + 8 * 7500 // 10000
    assert c.FreqCtr(12500, 5, 8).rate(10000) == 5 * 7500 // 10000  # one period later
    assert c.FreqCtr(20000, 5, 8).rate(10000) == 0


def test_values_to_store_data_and_back() -> None:
    d = c.TableDef(1, "t", "ip", 4, [6, 10, 19, 23, 24], params={10: (1, 10000), 23: (2, 0), 24: (2, 1000)})
    vals: dict[int, c.Value] = {6: 1, 10: c.FreqCtr(0, 3, 0), 19: "s1", 23: [5, 6],
                                24: [c.FreqCtr(0, 1, 0), c.FreqCtr(0, 2, 0)]}
    data = c.values_to_data(d, vals)
    assert data == {"http_req_rate": 3, "gpc0": 5, "gpc1": 6, "gpc0_rate": 1, "gpc1_rate": 2}
    back = c.data_to_values(d, data)
    assert back[10] == c.FreqCtr(0, 3, 0) and back[23] == [5, 6] and back[6] == 0
