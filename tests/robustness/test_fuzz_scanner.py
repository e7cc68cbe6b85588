"""Property-based fuzzing of the C HTTP/1 scanner (ext/h1.pxi) in-process, with hypothesis.

Inputs are raw bytes, request- and response-shaped byte strings assembled from hostile pieces
(odd separators, bare CR/LF, NUL and control bytes, obs-fold, duplicated framing headers), and
chunked bodies. The properties are the scanner's contract, whatever the input:

- the result is never beyond the input; a negative result is an error code the loop knows;
- a complete head (ret > 0) is incomplete at every shorter cut, and trailing bytes change nothing;
- an error is reported at `err_pos`: before it the input is only incomplete, from it on the error
  stays whatever follows (so an attacker cannot turn a refusal into a pass by adding bytes);
- every header offset lies inside the head, at most H1_MAX_HDRS headers;
- the chunk parser gives the same answer fed whole or one byte at a time.

CI runs ROBUSTNESS_FUZZ_EXAMPLES examples per property (default 500); docs/robustness.md records a
long run (ROBUSTNESS_FUZZ_EXAMPLES=200000).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyhaproxy import _h1test

pytestmark = pytest.mark.timeout(900)

EXAMPLES = int(os.environ.get("ROBUSTNESS_FUZZ_EXAMPLES", "500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(HealthCheck))
LIM = _h1test.h1_limits()
REQ_ERRORS = {400, 414, 505}

req = _h1test.h1_parse_request_py
rsp = _h1test.h1_parse_response_py

# hostile pieces ------------------------------------------------------------------------------
EOL = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b"", b"\r\r\n", b"\n\r"])
SEP = st.sampled_from([b" ", b" ", b"  ", b"\t", b"", b"\x0b", b"\x00"])
METHOD = st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT", b"CONNECT", b"OPTIONS", b"PROPFIND", b"get",
                          b"G(T", b"", b"GE\x00T", b"\xc9"])
TARGET = st.sampled_from([b"/", b"/a?b=c", b"*", b"http://h/x", b"h:443", b"[::1]:80", b"index", b"/a b",
                          b"/\x01", b"/caf\xc3\xa9", b"/" + b"a" * 300, b""])
VERSION = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.9", b"HTTP/2.0", b"HTTP/0.9", b"http/1.1",
                           b"HTTP/1.10", b"HTTP/1.", b"HTTPS/1.1", b""])
NAME = st.sampled_from([b"Host", b"Content-Length", b"Transfer-Encoding", b"Connection", b"Cookie",
                        b"content-length", b"TRANSFER-ENCODING", b"X-A", b"X A", b"X\x00", b"", b" Host",
                        b"Host ", b"\xc3\xa9", b"Transfer-Encoding\t"])
VALUE = st.one_of(
    st.sampled_from([b"chunked", b"gzip, chunked", b"chunked, gzip", b"identity", b'"chunked"',
                     b"5", b"5, 5", b"5, 6", b"-1", b"+5", b"0x5", b"99999999999999999999", b"",
                     b"close", b"keep-alive", b"a=1; SERVERID=s1", b"\x0bchunked", b"chunked\x00"]),
    st.binary(max_size=24),
)


@st.composite
def header_line(draw: st.DrawFn) -> bytes:
    colon = draw(st.sampled_from([b":", b":", b":", b"", b"::", b" :"]))
    fold = draw(st.sampled_from([b"", b"", b"", b"\r\n ", b"\r\n\t"]))
    return draw(NAME) + colon + draw(SEP) + draw(VALUE) + fold + draw(EOL)


@st.composite
def request_like(draw: st.DrawFn) -> bytes:
    lead = draw(st.sampled_from([b"", b"", b"\r\n", b"\n", b"\r"]))
    line = draw(METHOD) + draw(SEP) + draw(TARGET) + draw(SEP) + draw(VERSION) + draw(EOL)
    headers = b"".join(draw(st.lists(header_line(), max_size=12)))
    end = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n", b"", b"\r"]))
    tail = draw(st.binary(max_size=16))
    return lead + line + headers + end + tail


@st.composite
def response_like(draw: st.DrawFn) -> bytes:
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"http/1.1", b"HTTP/1.x", b""]))
    status = draw(st.sampled_from([b"200", b"204", b"304", b"101", b"099", b"2x0", b"20", b"2000", b"600"]))
    reason = draw(st.sampled_from([b"OK", b"", b"O\x00K", b"Not\tFound", b"\xff"]))
    line = version + draw(SEP) + status + draw(SEP) + reason + draw(EOL)
    headers = b"".join(draw(st.lists(header_line(), max_size=10)))
    return line + headers + draw(st.sampled_from([b"\r\n", b"\n", b""])) + draw(st.binary(max_size=8))


CHUNK_PIECES = st.sampled_from([b"0", b"5", b"a", b"A", b"FFFFFFFFFFFFFFFFF", b"-1", b"0x5", b"g", b"",
                                b";ext=1", b";\x00", b" ", b"\r\n", b"\n", b"\r", b"hello", b"T: v",
                                b" folded", b"\x00"])


@st.composite
def chunked_like(draw: st.DrawFn) -> bytes:
    return b"".join(draw(st.lists(CHUNK_PIECES, max_size=24)))


# properties ----------------------------------------------------------------------------------


def check_request(data: bytes) -> None:
    r = req(data)
    ret = r["ret"]
    assert ret <= len(data)
    if ret > 0:
        assert r["hdrs_end"] == ret
        assert 0 <= len(r["headers"]) <= LIM["max_hdrs"]
        for name, value in r["headers"]:
            assert name and b"\r" not in name + value and b"\n" not in name + value and b"\x00" not in value
        assert req(data[:ret - 1])["ret"] == 0
        assert req(data[:ret] + b"\x00junk\r\n\r\n")["ret"] == ret
        assert r["content_length"] >= -1
        assert not (r["chunked"] and r["content_length"] >= 0), "both framings accepted"
    elif ret < 0:
        pos = r["err_pos"]
        assert -ret in REQ_ERRORS and r["err_code"] == -ret
        assert 0 <= pos < len(data)
        assert req(data[:pos])["ret"] == 0
        assert req(data[:pos + 1])["ret"] == ret
        assert req(data + b"\r\n\r\n")["ret"] == ret
    else:
        assert len(data) < LIM["max_hdr_block"]


def check_response(data: bytes) -> None:
    r = rsp(data)
    ret = r["ret"]
    assert ret <= len(data)
    if ret > 0:
        assert 100 <= r["status"] <= 999
        assert rsp(data[:ret - 1])["ret"] == 0
        assert not (r["chunked"] and r["content_length"] >= 0), "both framings accepted"
    elif ret < 0:
        assert ret == -502 and r["err_code"] == 502
        pos = r["err_pos"]
        assert 0 <= pos < len(data)
        assert rsp(data[:pos])["ret"] == 0
        assert rsp(data + b"\r\n\r\n")["ret"] == ret


@FUZZ
@given(st.binary(max_size=512))
def test_request_raw_bytes(data: bytes) -> None:
    check_request(data)


@FUZZ
@given(request_like())
def test_request_shaped(data: bytes) -> None:
    check_request(data)


@FUZZ
@given(response_like())
def test_response_shaped(data: bytes) -> None:
    check_response(data)


@FUZZ
@given(st.binary(max_size=256))
def test_response_raw_bytes(data: bytes) -> None:
    check_response(data)


@FUZZ
@given(chunked_like(), st.integers(min_value=1, max_value=7))
def test_chunked_split_invariant(body: bytes, step: int) -> None:
    whole = _h1test.h1_chunk_py(body)
    assert whole["consumed"] <= len(body)
    assert _h1test.h1_chunk_py(body, 1) == whole
    assert _h1test.h1_chunk_py(body, step) == whole
    if whole["consumed"] < 0:
        assert whole["err"] == 1


@FUZZ
@given(st.binary(max_size=64), st.sampled_from([b"SERVERID", b"JSESSIONID", b"a", b""]))
def test_cookie_finders_stay_inside(value: bytes, name: bytes) -> None:
    for finder in (_h1test.h1_find_cookie_py, _h1test.h1_find_setcookie_py):
        found = finder(value, name)
        if found is not None:
            po, pl, vo, vl = found
            assert 0 <= po and po + pl <= len(value)
            assert 0 <= vo and vo + vl <= len(value)
