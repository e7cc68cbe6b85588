"""Unit tests of the PROXY protocol codec (ext/proxyproto.pxi) through its test wrappers
(ext/proxyproto_py.pxi): what each header gives, where the limits are, that every prefix of a
valid header waits for more, that no input reads past what it was given (fuzzed), and that what
pp_build writes reads back."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyhaproxy import _h1test

pytestmark = pytest.mark.timeout(120)

E = _h1test.PP_ERRORS
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def parse(data: bytes) -> tuple[int, object, object]:
    return _h1test.pp_parse_py(data)


def v2(cmd: int, fam: int, body: bytes, length: int | None = None) -> bytes:
    return SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body) if length is None else length) + body


def v2_tcp4(src: str, dst: str, sp: int, dp: int, tlvs: bytes = b"") -> bytes:
    return v2(1, 0x11, socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sp, dp) + tlvs)


def with_crc(header: bytes) -> bytes:
    """header ends with a zeroed CRC32C TLV value: fill it in."""
    return header[:-4] + struct.pack("!I", _h1test.pp_crc32c_py(header))


def test_crc32c_check_value() -> None:
    assert _h1test.pp_crc32c_py(b"123456789") == 0xE3069283


@pytest.mark.parametrize(("data", "want"), [
    (b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", (("192.0.2.1", 56324), ("198.51.100.2", 443))),
    (b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n", (("2001:db8::1", 1), ("::1", 65535))),
    (b"PROXY TCP4 0.0.0.0 255.255.255.255 0 0\r\n", (("0.0.0.0", 0), ("255.255.255.255", 0))),
])
def test_v1_addresses(data: bytes, want: tuple[object, object]) -> None:
    assert parse(data + b"GET /") == (len(data), *want)


@pytest.mark.parametrize("data", [b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"])
def test_v1_unknown_keeps_the_socket_addresses(data: bytes) -> None:
    assert parse(data) == (len(data), None, None)


@pytest.mark.parametrize(("data", "err"), [
    (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "BAD_HDR"),
    (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "BAD_HDR"),
    (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "BAD_HDR"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "BAD_HDR"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", "BAD_HDR"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "BAD_HDR"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "BAD_HDR"),
    (b"PROXY TCP4 ::1 ::1 1 2\r\n", "BAD_HDR"),
    (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "BAD_HDR"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "BAD_HDR"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "BAD_HDR"),
    (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "BAD_PROTO"),
    (b"PROXY UNKNOWNX\r\n", "BAD_PROTO"),
    (b"GET / HTTP/1.1\r\n\r\n", "NOT_HDR"),
    (b"proxy TCP4", "NOT_HDR"),
    (b"\r\n\r\n\x00\r\nQUIX\n!\x11\x00\x0c", "NOT_HDR"),
])
def test_v1_refused(data: bytes, err: str) -> None:
    assert parse(data)[0] == E[err]


def test_v1_length_limit_is_107_bytes() -> None:
    line = b"PROXY UNKNOWN " + b"x" * (107 - 16) + b"\r\n"
    assert len(line) == 107 and parse(line)[0] == 107
    longer = b"PROXY UNKNOWN " + b"x" * (108 - 16) + b"\r\n"
    assert parse(longer)[0] == E["BAD_HDR"]
    # no CRLF within the limit: refused as soon as the limit is reached, not waited for
    assert parse(b"PROXY TCP4 " + b"1" * 95)[0] == E["BAD_HDR"]
    assert parse(b"PROXY TCP4 " + b"1" * 94)[0] == 0


def test_v2_tcp4_tcp6_local_unspec() -> None:
    h = v2_tcp4("10.0.0.1", "10.0.0.2", 1000, 443)
    assert parse(h + b"data") == (28, ("10.0.0.1", 1000), ("10.0.0.2", 443))
    body = (socket.inet_pton(socket.AF_INET6, "2001:db8::5") + socket.inet_pton(socket.AF_INET6, "::1")
            + struct.pack("!HH", 7, 8))
    assert parse(v2(1, 0x21, body)) == (52, ("2001:db8::5", 7), ("::1", 8))
    assert parse(v2(0, 0x11, bytes(12))) == (28, None, None)         # LOCAL: addresses ignored
    assert parse(v2(0, 0x00, b"")) == (16, None, None)
    assert parse(v2(1, 0x00, b"\x04\x00\x00")) == (19, None, None)  # UNSPEC (2.6 refuses it)
    assert parse(v2(1, 0x31, bytes(216))) == (232, None, None)      # UNIX: not ours to use


@pytest.mark.parametrize(("data", "err"), [
    (SIG + b"\x11\x11\x00\x0c" + bytes(12), "NOT_HDR"),               # version 1 in a v2 header
    (v2(2, 0x11, bytes(12)), "BAD_HDR"),                              # command 2
    (v2(1, 0x11, bytes(4)), "BAD_HDR"),                               # too short for TCP4
    (v2(1, 0x21, bytes(12)), "BAD_HDR"),                              # too short for TCP6
    (v2(1, 0x41, bytes(12)), "BAD_HDR"),                              # unknown family
    (v2(1, 0x31, bytes(100)), "BAD_HDR"),                             # UNIX block cut
    (v2_tcp4("1.1.1.1", "2.2.2.2", 1, 2, b"\x04\x00"), "BAD_HDR"),    # TLV header cut
    (v2_tcp4("1.1.1.1", "2.2.2.2", 1, 2, b"\x04\x00\x05ab"), "BAD_HDR"),  # TLV value past the end
    (v2_tcp4("1.1.1.1", "2.2.2.2", 1, 2, b"\x03\x00\x03abc"), "BAD_HDR"),  # CRC32C not 4 bytes
    (v2_tcp4("1.1.1.1", "2.2.2.2", 1, 2, b"\x03\x00\x04abcd"), "BAD_HDR"),  # wrong CRC32C
    (v2_tcp4("1.1.1.1", "2.2.2.2", 1, 2, b"\x02\x01\x00" + b"a" * 256), "BAD_HDR"),  # authority > 255
    (v2_tcp4("1.1.1.1", "2.2.2.2", 1, 2, b"\x05\x00\x81" + b"a" * 129), "BAD_HDR"),  # unique id > 128
    (v2(1, 0x11, b"", length=65535), "TRUNCATED"),                     # more than we can hold
])
def test_v2_refused(data: bytes, err: str) -> None:
    assert parse(data)[0] == E[err]


def test_v2_tlvs_accepted() -> None:
    tlvs = b"\x02\x00\x0bexample.com" + b"\x05\x00\x80" + b"u" * 128 + b"\xe0\x00\x02zz" + b"\x04\x00\x00"
    h = v2_tcp4("1.1.1.1", "2.2.2.2", 1, 2, tlvs)
    assert parse(h)[0] == len(h)
    h = with_crc(v2_tcp4("1.1.1.1", "2.2.2.2", 1, 2, b"\x03\x00\x04" + bytes(4)))
    assert parse(h) == (len(h), ("1.1.1.1", 1), ("2.2.2.2", 2))


def test_a_bad_tlv_still_reports_the_header_address() -> None:
    """haproxy 2.6 logs a header refused for its TLVs with the address it carried."""
    r = parse(v2_tcp4("10.0.0.1", "10.0.0.2", 1, 2, b"\x04\x00\x09abc"))
    assert r == (E["BAD_HDR"], ("10.0.0.1", 1), ("10.0.0.2", 2))


VALID = [
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
    b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n",
    b"PROXY UNKNOWN\r\n",
    v2_tcp4("10.0.0.1", "10.0.0.2", 1000, 443, b"\x02\x00\x03abc"),
    with_crc(v2_tcp4("10.0.0.1", "10.0.0.2", 1000, 443, b"\x03\x00\x04" + bytes(4))),
    v2(0, 0x00, b""),
]


@pytest.mark.parametrize("header", VALID)
def test_every_prefix_waits_for_more(header: bytes) -> None:
    for n in range(1, len(header)):
        assert parse(header[:n])[0] == 0, (n, header[:n])
    assert parse(header)[0] == len(header)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(("src", "dst", "want"), [
    (("192.0.2.1", 1234), ("198.51.100.2", 80), (("192.0.2.1", 1234), ("198.51.100.2", 80))),
    (("2001:db8::1", 1234), ("2001:db8::2", 80), (("2001:db8::1", 1234), ("2001:db8::2", 80))),
    # one of each: both as IPv6, the IPv4 one mapped (as haproxy 2.6 writes them)
    (("192.0.2.1", 1234), ("2001:db8::2", 80), (("::ffff:192.0.2.1", 1234), ("2001:db8::2", 80))),
])
def test_build_reads_back(version: int, src: tuple[str, int], dst: tuple[str, int],
                          want: tuple[object, object]) -> None:
    h = _h1test.pp_build_py(version, 0, src, dst)
    assert parse(h) == (len(h), *want)


def test_build_exact_bytes() -> None:
    a, b = ("10.0.0.1", 5), ("10.0.0.2", 80)
    assert _h1test.pp_build_py(1, 0, a, b) == b"PROXY TCP4 10.0.0.1 10.0.0.2 5 80\r\n"
    assert _h1test.pp_build_py(1, 0, None, None) == b"PROXY UNKNOWN\r\n"
    assert _h1test.pp_build_py(2, 0, None, None) == SIG + b"\x20\x00\x00\x00"
    assert _h1test.pp_build_py(2, 0, a, b) == v2_tcp4("10.0.0.1", "10.0.0.2", 5, 80)
    h = _h1test.pp_build_py(2, 1, a, b)
    assert h == with_crc(v2_tcp4("10.0.0.1", "10.0.0.2", 5, 80, b"\x03\x00\x04" + bytes(4)))
    assert parse(h)[0] == len(h)


def _check_result(data: bytes) -> None:
    r, src, dst = parse(data)
    assert r <= len(data)
    assert r == 0 or r < 0 or len(data) >= 15
    assert min(E.values()) <= r
    assert (src is None) == (dst is None)


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_any_bytes(data: bytes) -> None:
    _check_result(data)


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 255), st.integers(0, 255), st.integers(0, 400))
def test_fuzz_v2(body: bytes, ver_cmd: int, fam: int, length: int) -> None:
    _check_result(SIG + bytes([ver_cmd, fam]) + struct.pack("!H", length) + body)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="PROXYTCUNKW46 .:0123456789abcdef\r\n", max_size=140))
def test_fuzz_v1(text: str) -> None:
    _check_result(b"PROXY " + text.encode())


def test_authority_read_and_passed_on() -> None:
    h = v2_tcp4("10.0.0.1", "10.0.0.2", 1, 2, b"\x04\x00\x01z" + b"\x02\x00\x0bexample.com")
    assert _h1test.pp_parse_full_py(h) == (len(h), ("10.0.0.1", 1), ("10.0.0.2", 2), b"example.com")
    assert _h1test.pp_parse_full_py(v2_tcp4("10.0.0.1", "10.0.0.2", 1, 2))[3] is None
    a, b = ("10.0.0.1", 5), ("10.0.0.2", 80)
    out = _h1test.pp_build_py(2, 2, a, b, b"example.com")
    assert out == v2_tcp4("10.0.0.1", "10.0.0.2", 5, 80, b"\x02\x00\x0bexample.com")
    assert _h1test.pp_build_py(2, 2, a, b, b"") == v2_tcp4("10.0.0.1", "10.0.0.2", 5, 80)
    assert _h1test.pp_build_py(2, 0, a, b, b"example.com") == v2_tcp4("10.0.0.1", "10.0.0.2", 5, 80)
    # CRC32C first, then AUTHORITY, the CRC over the whole
    out = _h1test.pp_build_py(2, 3, a, b, b"x" * 255)
    want = v2_tcp4("10.0.0.1", "10.0.0.2", 5, 80, b"\x03\x00\x04" + bytes(4) + b"\x02\x00\xff" + b"x" * 255)
    crc = _h1test.pp_crc32c_py(want)
    assert out == want[:31] + struct.pack("!I", crc) + want[35:]
    assert _h1test.pp_parse_full_py(out)[0] == len(out)
