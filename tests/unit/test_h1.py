"""Unit tests of the HTTP/1.x scanner (ext/h1.pxi) through its test wrappers (ext/h1_py.pxi)."""

from __future__ import annotations

import random

import pytest

from pyhaproxy import _h1test

pytestmark = pytest.mark.timeout(60)

M = _h1test.h1_method_codes()
LIM = _h1test.h1_limits()


def req(data: bytes) -> dict:
    return _h1test.h1_parse_request_py(data)


def rsp(data: bytes) -> dict:
    return _h1test.h1_parse_response_py(data)


BROWSER = (
    b"GET /search?q=haproxy&lang=en HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Referer: https://www.example.com/\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: a=1; SERVERID=s2; b=2\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Cache-Control: max-age=0\r\n"
    b"\r\n"
)


# --------------------------------------------------------------------------------------------
# valid requests


def test_browser_request() -> None:
    r = req(BROWSER)
    assert r["ret"] == len(BROWSER) == r["hdrs_end"]
    assert r["method"] == b"GET" and r["meth"] == M["GET"]
    assert r["uri"] == b"/search?q=haproxy&lang=en"
    assert r["version"] == b"HTTP/1.1" and (r["major"], r["minor"]) == (1, 1)
    assert r["first_line_len"] == BROWSER.index(b"\r\n") + 2
    assert len(r["headers"]) == 12
    assert r["headers"][0] == (b"Host", b"www.example.com")
    assert r["headers"][7] == (b"Cookie", b"a=1; SERVERID=s2; b=2")
    assert r["lines"][0] == b"Host: www.example.com\r\n"
    assert b"".join(r["lines"]) == BROWSER[r["first_line_len"] : -2]
    assert r["content_length"] == -1 and r["chunked"] == 0
    assert r["conn_keepalive"] == 1 and r["conn_close"] == 0


@pytest.mark.parametrize("meth", ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE"])
def test_methods(meth: str) -> None:
    r = req(meth.encode() + b" / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert r["ret"] > 0 and r["meth"] == M[meth]


def test_other_method_token() -> None:
    r = req(b"PROPFIND /x HTTP/1.1\r\nHost: a\r\n\r\n")
    assert r["ret"] > 0 and r["meth"] == M["OTHER"] and r["method"] == b"PROPFIND"
    # methods are case-sensitive: "get" is a valid token but not GET
    assert req(b"get / HTTP/1.1\r\n\r\n")["meth"] == M["OTHER"]


def test_http10_and_close() -> None:
    r = req(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
    assert r["ret"] > 0 and (r["major"], r["minor"]) == (1, 0) and r["conn_keepalive"] == 1
    r = req(b"GET / HTTP/1.1\r\nConnection: foo, CLOSE ,bar\r\n\r\n")
    assert r["conn_close"] == 1 and r["conn_keepalive"] == 0
    r = req(b"GET / HTTP/1.1\r\nConnection: x\r\nConnection: close\r\n\r\n")
    assert r["conn_close"] == 1


def test_post_content_length() -> None:
    data = b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
    r = req(data)
    assert r["ret"] == len(data) - 11 and r["content_length"] == 11 and r["chunked"] == 0


def test_content_length_identical_duplicates_merged() -> None:
    assert req(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")["content_length"] == 5
    assert req(b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n")["content_length"] == 5
    assert req(b"POST / HTTP/1.1\r\nContent-Length: 007\r\n\r\n")["content_length"] == 7
    assert req(b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n")["content_length"] == 0


def test_post_chunked() -> None:
    r = req(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert r["ret"] > 0 and r["chunked"] == 1 and r["content_length"] == -1
    r = req(b"POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n")
    assert r["ret"] > 0 and r["chunked"] == 1
    # chunked over another coding: the proxy cannot read that body; 422 as haproxy 2.6
    r = req(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n")
    assert r["ret"] == -422 and r["err_code"] == 422
    r = req(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert r["ret"] == -422


def test_ows_trimmed_and_empty_value() -> None:
    r = req(b"GET / HTTP/1.1\r\nX-A:   v a l \t \r\nX-B:\r\nX-C: \t\r\n\r\n")
    assert r["headers"] == [(b"X-A", b"v a l"), (b"X-B", b""), (b"X-C", b"")]


def test_tab_and_obs_text_in_values() -> None:
    r = req(b"GET / HTTP/1.1\r\nX-A: a\tb\r\nX-B: caf\xc3\xa9\r\n\r\n")
    assert r["headers"] == [(b"X-A", b"a\tb"), (b"X-B", b"caf\xc3\xa9")]


def test_bare_lf_accepted() -> None:
    data = b"GET / HTTP/1.1\nHost: a\nX: y\r\n\n"
    r = req(data)
    assert r["ret"] == len(data) and r["headers"] == [(b"Host", b"a"), (b"X", b"y")]
    assert r["lines"] == [b"Host: a\n", b"X: y\r\n"]


def test_leading_empty_lines_skipped() -> None:
    data = b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
    r = req(data)
    assert r["ret"] == len(data) and r["start"] == 3 and r["method"] == b"GET"


def test_request_targets() -> None:
    assert req(b"GET http://www.example.com/x HTTP/1.1\r\n\r\n")["uri"] == b"http://www.example.com/x"
    assert req(b"OPTIONS * HTTP/1.1\r\n\r\n")["uri"] == b"*"
    assert req(b"CONNECT www.example.com:443 HTTP/1.1\r\n\r\n")["meth"] == M["CONNECT"]
    assert req(b"CONNECT [::1]:443 HTTP/1.1\r\n\r\n")["ret"] > 0


def test_http_1_x_minor_accepted() -> None:
    r = req(b"GET / HTTP/1.9\r\n\r\n")
    assert r["ret"] > 0 and r["minor"] == 9


def test_pipelined_request_returns_first_block() -> None:
    first = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
    assert req(first + b"GET /2 HTTP/1.1\r\n\r\n")["ret"] == len(first)


def test_max_headers_accepted() -> None:
    hdrs = b"".join(b"X-%d: v\r\n" % i for i in range(LIM["max_hdrs"]))
    r = req(b"GET / HTTP/1.1\r\n" + hdrs + b"\r\n")
    assert r["ret"] > 0 and len(r["headers"]) == LIM["max_hdrs"] == 101


def test_all_tchars_in_name() -> None:
    name = b"!#$%&'*+-.^_`|~09azAZ"
    assert req(b"GET / HTTP/1.1\r\n" + name + b": v\r\n\r\n")["headers"] == [(name, b"v")]


# --------------------------------------------------------------------------------------------
# incomplete requests: 0 at every cut point of a valid request


def test_every_prefix_is_incomplete() -> None:
    for i in range(len(BROWSER)):
        r = req(BROWSER[:i])
        assert r["ret"] == 0, (i, BROWSER[:i])


def test_block_end_hint() -> None:
    assert _h1test.h1_hdr_block_end_py(BROWSER) == len(BROWSER)
    assert _h1test.h1_hdr_block_end_py(BROWSER[:-1]) == 0
    assert _h1test.h1_hdr_block_end_py(BROWSER, len(BROWSER) - 4) == len(BROWSER)
    assert _h1test.h1_hdr_block_end_py(b"GET / HTTP/1.0\n\n") == 16


# --------------------------------------------------------------------------------------------
# malformed requests and smuggling attempts: (request, expected status)

CL_TE = b"POST / HTTP/1.1\r\nHost: a\r\n"
BAD_REQUESTS: list[tuple[str, bytes, int]] = [
    # framing conflicts
    ("cl-differs", CL_TE + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\n", 400),
    ("cl-list-differs", CL_TE + b"Content-Length: 4, 5\r\n\r\n", 400),
    ("cl-not-digits", CL_TE + b"Content-Length: 4a\r\n\r\n", 400),
    ("cl-plus", CL_TE + b"Content-Length: +4\r\n\r\n", 400),
    ("cl-negative", CL_TE + b"Content-Length: -1\r\n\r\n", 400),
    ("cl-empty", CL_TE + b"Content-Length: \r\n\r\n", 400),
    ("cl-hex", CL_TE + b"Content-Length: 0x10\r\n\r\n", 400),
    ("cl-overflow", CL_TE + b"Content-Length: 99999999999999999999\r\n\r\n", 400),
    ("cl-space-inside", CL_TE + b"Content-Length: 1 2\r\n\r\n", 400),
    # transfer-encoding obfuscations
    ("te-not-final", CL_TE + b"Transfer-Encoding: chunked, identity\r\n\r\n", 400),
    ("te-identity", CL_TE + b"Transfer-Encoding: identity\r\n\r\n", 400),
    ("te-xchunked", CL_TE + b"Transfer-Encoding: xchunked\r\n\r\n", 400),
    ("te-chunkedx", CL_TE + b"Transfer-Encoding: chunkedx\r\n\r\n", 400),
    ("te-twice", CL_TE + b"Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    ("te-twice-lines", CL_TE + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("te-then-gzip", CL_TE + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("te-vtab", CL_TE + b"Transfer-Encoding: \x0bchunked\r\n\r\n", 400),
    ("te-formfeed", CL_TE + b"Transfer-Encoding: chunked\x0c\r\n\r\n", 400),
    ("te-nul", CL_TE + b"Transfer-Encoding: chunked\x00\r\n\r\n", 400),
    ("te-quoted", CL_TE + b'Transfer-Encoding: "chunked"\r\n\r\n', 400),
    ("te-param", CL_TE + b"Transfer-Encoding: chunked;q=1\r\n\r\n", 400),
    ("te-empty", CL_TE + b"Transfer-Encoding: \r\n\r\n", 400),
    ("te-space-before-colon", CL_TE + b"Transfer-Encoding : chunked\r\n\r\n", 400),
    ("te-folded", CL_TE + b"Transfer-Encoding:\r\n chunked\r\n\r\n", 400),
    ("te-gzip-chunked", CL_TE + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 422),
    ("te-gzip-chunked-cl", CL_TE + b"Transfer-Encoding: gzip, chunked\r\nContent-Length: 4\r\n\r\n", 422),
    ("te-chunked-gzip-chunked", CL_TE + b"Transfer-Encoding: chunked, gzip, chunked\r\n\r\n", 400),
    ("te-gzip", CL_TE + b"Transfer-Encoding: gzip\r\n\r\n", 400),
    # an HTTP/1.0 GET, HEAD or DELETE with a body: 413, as 2.6
    ("get-http10-cl", b"GET / HTTP/1.0\r\nContent-Length: 3\r\n\r\n", 413),
    ("head-http10-chunked", b"HEAD / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 413),
    ("delete-http10-cl", b"DELETE / HTTP/1.0\r\nContent-Length: 1\r\n\r\n", 413),
    # field syntax
    ("obs-fold", b"GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400),
    ("obs-fold-tab", b"GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", 400),
    ("ws-before-first-field", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("bare-cr-value", b"GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400),
    ("bare-cr-end", b"GET / HTTP/1.1\r\nX-A: a\r\r\n\r\n", 400),
    ("bare-cr-empty-line", b"GET / HTTP/1.1\r\nX-A: a\r\n\rX\r\n\r\n", 400),
    ("nul-value", b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400),
    ("ctl-value", b"GET / HTTP/1.1\r\nX-A: a\x01b\r\n\r\n", 400),
    ("del-value", b"GET / HTTP/1.1\r\nX-A: a\x7fb\r\n\r\n", 400),
    ("nul-name", b"GET / HTTP/1.1\r\nX\x00A: a\r\n\r\n", 400),
    ("space-in-name", b"GET / HTTP/1.1\r\nX A: a\r\n\r\n", 400),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("tab-before-colon", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
    ("empty-name", b"GET / HTTP/1.1\r\n: a\r\n\r\n", 400),
    ("no-colon", b"GET / HTTP/1.1\r\nHost\r\n\r\n", 400),
    ("8bit-name", b"GET / HTTP/1.1\r\nH\xc3\xa9: a\r\n\r\n", 400),
    (
        "too-many-headers",
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(102)) + b"\r\n",
        400,
    ),
    # request line
    ("bad-method-char", b"G(T / HTTP/1.1\r\n\r\n", 400),
    ("method-nul", b"GE\x00T / HTTP/1.1\r\n\r\n", 400),
    ("empty-method", b" / HTTP/1.1\r\n\r\n", 400),
    ("two-spaces", b"GET  / HTTP/1.1\r\n\r\n", 400),
    ("tab-separator", b"GET\t/ HTTP/1.1\r\n\r\n", 400),
    ("http09", b"GET /\r\n\r\n", 400),
    ("no-version", b"GET / \r\n\r\n", 400),
    ("lower-version", b"GET / http/1.1\r\n\r\n", 400),
    ("version-letters", b"GET / HTTP/1.x\r\n\r\n", 400),
    ("version-two-digits", b"GET / HTTP/1.10\r\n\r\n", 400),
    ("version-trailing-space", b"GET / HTTP/1.1 \r\n\r\n", 400),
    ("version-0", b"GET / HTTP/0.9\r\n\r\n", 400),
    ("version-2", b"GET / HTTP/2.0\r\n\r\n", 505),
    ("version-3", b"GET / HTTP/3.0\r\n\r\n", 505),
    ("space-in-uri", b"GET /a b HTTP/1.1\r\n\r\n", 400),
    ("ctl-in-uri", b"GET /a\x01b HTTP/1.1\r\n\r\n", 400),
    ("nul-in-uri", b"GET /a\x00 HTTP/1.1\r\n\r\n", 400),
    ("del-in-uri", b"GET /a\x7f HTTP/1.1\r\n\r\n", 400),
    ("8bit-in-uri", b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400),
    ("star-not-options", b"GET * HTTP/1.1\r\n\r\n", 400),
    ("star-with-path", b"OPTIONS *x HTTP/1.1\r\n\r\n", 400),
    ("authority-not-connect", b"GET www.example.com:80 HTTP/1.1\r\n\r\n", 400),
    ("connect-origin-form", b"CONNECT / HTTP/1.1\r\n\r\n", 400),
    ("connect-no-port", b"CONNECT www.example.com HTTP/1.1\r\n\r\n", 400),
    ("connect-with-path", b"CONNECT http://a:80/x HTTP/1.1\r\n\r\n", 400),
    ("relative-target", b"GET index.html HTTP/1.1\r\n\r\n", 400),
    ("bare-cr-request-line", b"GET / HTTP/1.1\rX\r\n\r\n", 400),
    ("bare-cr-leading", b"\rGET / HTTP/1.1\r\n\r\n", 400),
    ("uri-too-long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    ("line-just-too-long", b"GET /" + b"a" * (8191 - 14) + b" HTTP/1.1\r\n\r\n", 414),
    ("block-too-large", b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 8200 + b"\r\n\r\n", 400),
]


@pytest.mark.parametrize("name,data,code", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_request(name: str, data: bytes, code: int) -> None:
    r = req(data)
    assert r["ret"] == -code and r["err_code"] == code, r
    assert 0 <= r["err_pos"] <= len(data)


def test_enough_bad_cases() -> None:
    assert len(BAD_REQUESTS) >= 40


def test_errors_found_before_the_block_ends() -> None:
    # a bad byte is reported as soon as it is seen, not when the block completes
    assert req(b"GET / HTTP/1.1\r\nX-A: a\x00")["ret"] == -400
    assert req(b"G(T")["ret"] == -400
    assert req(b"GET / HTTP/2")["ret"] == 0  # "HTTP/2" then ".0" still to come
    assert req(b"GET / HTTQ")["ret"] == -400
    assert req(b"GET /" + b"a" * 8200)["ret"] == -414


def test_request_line_limit_boundary() -> None:
    def line(n: int) -> bytes:
        out = b"GET /" + b"a" * (n - 14) + b" HTTP/1.1"
        assert len(out) == n
        return out

    # the longest request line whose block still fits: line + CRLF + CRLF == 8192
    assert req(line(LIM["max_hdr_block"] - 4) + b"\r\n\r\n")["ret"] == LIM["max_hdr_block"]
    # 8189 and 8190 bytes are legal lines, but the block can no longer fit: 400
    assert req(line(LIM["max_reqline"]) + b"\r\n\r\n")["ret"] == -400
    assert req(line(LIM["max_reqline"] - 1) + b"\r\n")["ret"] == 0  # 8191 bytes: may still end
    assert req(line(LIM["max_reqline"]) + b"\r\n")["ret"] == -400  # 8192 bytes, still open
    # one byte more and the line itself is too long: 414, even before its end arrives
    assert req(line(LIM["max_reqline"] + 1) + b"\r\n\r\n")["ret"] == -414
    assert req(line(LIM["max_reqline"] + 1))["ret"] == -414


def test_header_block_limit() -> None:
    head = b"GET / HTTP/1.1\r\nX: "
    fill = LIM["max_hdr_block"] - len(head) - 4
    ok = head + b"a" * fill + b"\r\n\r\n"
    assert len(ok) == 8192 and req(ok)["ret"] == 8192
    big = head + b"a" * (fill + 1) + b"\r\n\r\n"
    assert req(big)["ret"] == -400
    assert req(big[:8191])["ret"] == 0


# --------------------------------------------------------------------------------------------
# responses


def test_response_ok() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: SERVERID=A; path=/\r\n\r\nok"
    r = rsp(data)
    assert r["ret"] == len(data) - 2 and r["status"] == 200 and r["reason"] == b"OK"
    assert r["content_length"] == 2 and r["meth"] == M["NONE"]


def test_response_variants() -> None:
    r = rsp(b"HTTP/1.0 404 Not Found\r\nConnection: close\r\n\r\n")
    assert (r["status"], r["minor"], r["conn_close"]) == (404, 0, 1)
    r = rsp(b"HTTP/1.1 204 \r\n\r\n")
    assert r["ret"] > 0 and r["reason"] == b""
    r = rsp(b"HTTP/1.1 200\r\n\r\n")
    assert r["ret"] > 0 and r["status"] == 200
    r = rsp(b"HTTP/1.1 200 OK\nX: y\n\n")
    assert r["ret"] > 0 and r["headers"] == [(b"X", b"y")]
    r = rsp(b"HTTP/1.1 500 Internal\tServer Error\r\n\r\n")
    assert r["reason"] == b"Internal\tServer Error"


def test_request_te_with_cl_or_http10_accepted_as_26() -> None:
    # haproxy 2.6: Transfer-Encoding wins over Content-Length (every such header dropped) and the
    # client connection closes after the answer (te_close 1); TE in HTTP/1.0 closes too (2)
    for first, second in ((b"Content-Length: 4", b"Transfer-Encoding: chunked"),
                          (b"Transfer-Encoding: chunked", b"Content-Length: 4")):
        r = req(CL_TE + first + b"\r\n" + second + b"\r\n\r\n")
        assert r["ret"] > 0 and r["chunked"] == 1 and r["content_length"] == -1, r
        assert r["te_close"] == 1 and r["cl_drop"] >= 0, r
    r = req(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert r["ret"] > 0 and r["chunked"] == 1 and r["te_close"] == 2 and r["cl_drop"] == -1, r
    r = req(b"POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert r["ret"] > 0 and r["te_close"] == 3, r
    r = req(CL_TE + b"Transfer-Encoding: chunked\r\n\r\n")
    assert r["ret"] > 0 and r["te_close"] == 0 and r["cl_drop"] == -1, r
    # (a 1.0 GET without a body, or with Content-Length: 0, and a 1.1 GET with one are fine)
    for data in (b"GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n", b"GET / HTTP/1.0\r\n\r\n",
                 b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"):
        assert req(data)["ret"] > 0, data
    # a Content-Length that is bad on its own is still a 400
    r = req(CL_TE + b"Transfer-Encoding: chunked\r\nContent-Length: 4, 5\r\n\r\n")
    assert r["ret"] == -400, r


def test_edit_drop_cl_and_filter_te() -> None:
    data = (CL_TE + b"Content-Length: 4\r\nTE: trailers, gzip\r\nTransfer-Encoding: chunked\r\n"
            b"content-length: 4\r\nte: gzip\r\nTe: trailers;q=0.5\r\nTE: deflate, trailers\r\n"
            b"TE: Trailers\r\nTE: xtrailers\r\nX: y\r\n\r\n")
    res = _h1test.h1_edit_py(data, [("drop_cl",), ("filter_te",)])
    assert res["headers"] == [(b"Host", b"a"), (b"TE", b"trailers"), (b"Transfer-Encoding", b"chunked"),
                              (b"TE", b"trailers"), (b"TE", b"trailers"), (b"X", b"y")], res
    assert res["reparse"]["headers"] == res["headers"]


def test_response_chunked_and_close_delimited() -> None:
    r = rsp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert r["chunked"] == 1
    # as haproxy 2.6: chunked wins over Content-Length, a chunked HTTP/1.0 response is read
    # as chunked, and a coding other than chunked is a 502
    r = rsp(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert r["ret"] > 0 and r["chunked"] == 1 and r["content_length"] == -1 and r["te_close"] == 1
    r = rsp(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert r["ret"] > 0 and r["chunked"] == 1 and r["te_close"] == 2
    r = rsp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    assert r["ret"] == -502
    r = rsp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
    assert r["ret"] == -502


def test_response_prefixes_incomplete() -> None:
    data = b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n"
    for i in range(len(data)):
        assert rsp(data[:i])["ret"] == 0, data[:i]


BAD_RESPONSES: list[tuple[str, bytes]] = [
    ("http2", b"HTTP/2.0 200 OK\r\n\r\n"),
    ("lower", b"http/1.1 200 OK\r\n\r\n"),
    ("junk", b"<html>hello</html>\r\n\r\n"),
    ("two-digit-status", b"HTTP/1.1 20 OK\r\n\r\n"),
    ("four-digit-status", b"HTTP/1.1 2000 OK\r\n\r\n"),
    ("status-letters", b"HTTP/1.1 2x0 OK\r\n\r\n"),
    ("status-below-100", b"HTTP/1.1 099 OK\r\n\r\n"),
    ("no-space", b"HTTP/1.1200 OK\r\n\r\n"),
    ("nul-reason", b"HTTP/1.1 200 O\x00K\r\n\r\n"),
    ("te-gzip-chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
    ("cl-differs", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
    ("cl-bad", b"HTTP/1.1 200 OK\r\nContent-Length: three\r\n\r\n"),
    ("te-chunked-not-last", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
    ("obs-fold", b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
    ("space-before-colon", b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n"),
    ("bare-cr", b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"),
    ("too-many-headers", b"HTTP/1.1 200 OK\r\n" + b"X: v\r\n" * 102 + b"\r\n"),
    ("too-large", b"HTTP/1.1 200 OK\r\nX: " + b"a" * 8200 + b"\r\n\r\n"),
]


@pytest.mark.parametrize("name,data", BAD_RESPONSES, ids=[c[0] for c in BAD_RESPONSES])
def test_bad_response(name: str, data: bytes) -> None:
    r = rsp(data)
    assert r["ret"] == -502 and r["err_code"] == 502, r


# --------------------------------------------------------------------------------------------
# chunked bodies

GOOD_CHUNKED: list[tuple[bytes, bytes]] = [
    (b"0\r\n\r\n", b""),
    (b"5\r\nhello\r\n0\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"),
    (b"5;ext=1;x\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b""),
    (b"A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", b"next"),
    (b"5 \r\nhello\r\n0 ;e\r\n\r\n", b""),
    (b"000005\r\nhello\r\n0\r\nTrailer: x\r\nOther: y z\r\n\r\n", b"XY"),
    (b"1\r\n\r\r\n0\r\n\r\n", b""),  # data bytes are opaque
    (b"3FFFFFFFFFFFFFFF\r\n", b""),  # 2^62 - 1: accepted, still in data
]


@pytest.mark.parametrize("body,after", GOOD_CHUNKED)
def test_chunked_bytewise_equals_whole(body: bytes, after: bytes) -> None:
    whole = _h1test.h1_chunk_py(body + after)
    for step in (1, 2, 3, 7):
        assert _h1test.h1_chunk_py(body + after, step) == whole
    if whole["done"]:
        assert whole["consumed"] == len(body)
    else:
        assert whole["consumed"] == len(body) and whole["data_left"] == 0x3FFFFFFFFFFFFFFF


def test_chunked_incomplete() -> None:
    r = _h1test.h1_chunk_py(b"5\r\nhel")
    assert r == {"consumed": 6, "done": 0, "err": 0, "remaining": 2, "data_left": 2}
    r = _h1test.h1_chunk_py(b"5\r\nhello\r\n0\r\n")
    assert r["done"] == 0 and r["consumed"] == 13


BAD_CHUNKED: list[tuple[str, bytes]] = [
    ("not-hex", b"g\r\n"),
    ("empty-size", b"\r\n"),
    ("negative", b"-1\r\n"),
    ("0x-prefix", b"0x5\r\nhello\r\n"),
    ("overflow", b"4000000000000000\r\n"),
    ("overflow-long", b"FFFFFFFFFFFFFFFFFFFF\r\n"),
    ("bare-lf-size", b"5\nhello\r\n0\r\n\r\n"),
    ("bare-cr-size", b"5\rhello\r\n"),
    ("lf-in-ext", b"5;a\nb\r\nhello\r\n"),
    ("nul-in-ext", b"5;a\x00\r\nhello\r\n"),
    ("junk-after-size", b"5 x\r\nhello\r\n"),
    ("missing-crlf-after-data", b"5\r\nhelloX\r\n0\r\n\r\n"),
    ("lf-only-after-data", b"5\r\nhello\n0\r\n\r\n"),
    ("too-much-data", b"3\r\nhello\r\n"),
    ("bare-lf-final", b"0\r\n\n"),
    ("trailer-fold", b"0\r\nA: b\r\n c\r\n\r\n"),
    ("trailer-nul", b"0\r\nA: \x00\r\n\r\n"),
    ("trailer-bare-lf", b"0\r\nA: b\n\r\n"),
]


@pytest.mark.parametrize("name,body", BAD_CHUNKED, ids=[c[0] for c in BAD_CHUNKED])
def test_bad_chunked(name: str, body: bytes) -> None:
    for step in (0, 1):
        r = _h1test.h1_chunk_py(body, step)
        assert r["consumed"] == -1 and r["err"] == 1, (step, r)


# --------------------------------------------------------------------------------------------
# cookies


def cut(value: bytes, name: bytes) -> bytes | None:
    found = _h1test.h1_find_cookie_py(value, name)
    if found is None:
        return None
    po, pl, vo, vl = found
    return value[:po] + value[po + pl :]


def cookie_value(value: bytes, name: bytes) -> bytes | None:
    found = _h1test.h1_find_cookie_py(value, name)
    return None if found is None else value[found[2] : found[2] + found[3]]


@pytest.mark.parametrize(
    "value,expect_val,expect_rest",
    [
        (b"SERVERID=A; a=1; b=2", b"A", b"a=1; b=2"),
        (b"a=1; SERVERID=A; b=2", b"A", b"a=1; b=2"),
        (b"a=1; b=2; SERVERID=A", b"A", b"a=1; b=2"),
        (b"a=1; b=2; SERVERID=A;", b"A", b"a=1; b=2"),
        (b"SERVERID=A", b"A", b""),
        (b"a=1;SERVERID=A;b=2", b"A", b"a=1;b=2"),
        (b"a=1 ; SERVERID = A ; b=2", b"A", b"a=1 ; b=2"),
        (b"XSERVERID=B; SERVERID=A", b"A", b"XSERVERID=B"),
        (b"SERVERIDX=B; SERVERID=A; c=3", b"A", b"SERVERIDX=B; c=3"),
        (b"a=1;; SERVERID=A", b"A", b"a=1"),
        (b"SERVERID=; a=1", b"", b"a=1"),
        (b'SERVERID="A b"; a=1', b'"A b"', b"a=1"),
        (b"SERVERID=A; SERVERID=B", b"A", b"SERVERID=B"),
    ],
)
def test_cookie_find_and_cut(value: bytes, expect_val: bytes, expect_rest: bytes) -> None:
    assert cookie_value(value, b"SERVERID") == expect_val
    assert cut(value, b"SERVERID") == expect_rest


@pytest.mark.parametrize(
    "value", [b"", b"a=1; b=2", b"XSERVERID=A", b"SERVERIDX=A", b"serverid=A", b"SERVERID", b"a=SERVERID=A"]
)
def test_cookie_not_found(value: bytes) -> None:
    assert _h1test.h1_find_cookie_py(value, b"SERVERID") is None


def test_set_cookie() -> None:
    v = b"SERVERID=A; path=/; HttpOnly"
    assert _h1test.h1_find_setcookie_py(v, b"SERVERID") == (0, 10, 9, 1)
    assert _h1test.h1_find_setcookie_py(b" SERVERID = A ;path=/", b"SERVERID") == (1, 12, 12, 1)
    assert _h1test.h1_find_setcookie_py(b"SERVERID=A", b"SERVERID") == (0, 10, 9, 1)
    assert _h1test.h1_find_setcookie_py(b"JSESSIONID=1; SERVERID=A", b"SERVERID") is None
    assert _h1test.h1_find_setcookie_py(b"XSERVERID=A", b"SERVERID") is None
    assert _h1test.h1_find_setcookie_py(b"path=/; SERVERID=A", b"SERVERID") is None


# --------------------------------------------------------------------------------------------
# header lookup and in-place edits


def test_name_lookup() -> None:
    assert _h1test.h1_hdr_name_is_py(BROWSER, 0, b"HOST")
    assert not _h1test.h1_hdr_name_is_py(BROWSER, 0, b"Hos")
    assert _h1test.h1_find_hdr_py(BROWSER, b"cookie") == 7
    assert _h1test.h1_find_hdr_py(BROWSER, b"cookie", 8) == -1
    # '^' and '~' differ by 0x20 but are not letters
    assert _h1test.h1_find_hdr_py(b"GET / HTTP/1.1\r\nA^: 1\r\n\r\n", b"A~") == -1


def check_consistent(res: dict) -> None:
    # offsets kept by the edits describe the same message a fresh parse finds
    again = res["reparse"]
    assert again["ret"] == len(res["data"]) == res["hdrs_end"]
    for key in ("method", "uri", "version", "headers", "lines", "first_line_len"):
        assert res[key] == again[key], key


def test_edit_cut_cookie_middle_first_last_only() -> None:
    base = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: %s\r\nX: y\r\n\r\n"
    for value, rest in [
        (b"a=1; SERVERID=A; b=2", b"a=1; b=2"),
        (b"SERVERID=A; b=2", b"b=2"),
        (b"a=1; SERVERID=A", b"a=1"),
    ]:
        res = _h1test.h1_edit_py(base % value, [("cut_cookie", 1, b"SERVERID")])
        check_consistent(res)
        assert res["headers"][1] == (b"Cookie", rest)
    res = _h1test.h1_edit_py(base % b"SERVERID=A", [("cut_cookie", 1, b"SERVERID")])
    check_consistent(res)
    assert res["headers"] == [(b"Host", b"a"), (b"X", b"y")]


def test_edit_prefix_value_and_add_header() -> None:
    data = b"GET / HTTP/1.1\r\nCookie: JSESSIONID=abc\r\nX: y\r\n\r\n"
    r = req(data)
    vo = data.index(b"abc")
    res = _h1test.h1_edit_py(data, [("replace", vo, 0, b"s1~"), ("add", b"X-Forwarded-For", b"127.0.0.1")])
    check_consistent(res)
    assert res["headers"] == [
        (b"Cookie", b"JSESSIONID=s1~abc"),
        (b"X", b"y"),
        (b"X-Forwarded-For", b"127.0.0.1"),
    ]
    assert r["ret"] + 3 + len(b"X-Forwarded-For: 127.0.0.1\r\n") == res["hdrs_end"]


def test_edit_replace_uri_and_delete() -> None:
    data = b"GET /old/path HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\n"
    res = _h1test.h1_edit_py(data, [("replace", 4, 4, b"/new/longer"), ("del", 1), ("add", b"D", b"4")])
    check_consistent(res)
    assert res["uri"] == b"/new/longer/path"
    assert res["headers"] == [(b"A", b"1"), (b"C", b"3"), (b"D", b"4")]
    assert res["data"].endswith(b"D: 4\r\n\n")


# --------------------------------------------------------------------------------------------
# mutation fuzzing: invariants that hold for any input


def _mutants(seed: int, base: bytes, count: int) -> list[bytes]:
    rnd = random.Random(seed)
    alphabet = b"\x00\t\n\r \x01\x0b\x7f\x80\xff:;,=/*-_aAzZ09Hh"
    out = []
    for _ in range(count):
        b = bytearray(base)
        for _ in range(rnd.randint(1, 3)):
            op = rnd.randrange(3)
            i = rnd.randrange(len(b) + 1)
            c = alphabet[rnd.randrange(len(alphabet))]
            if op == 0 and i < len(b):
                b[i] = c
            elif op == 1:
                b.insert(i, c)
            elif i < len(b):
                del b[i]
        out.append(bytes(b))
    return out


FUZZ_BASES = [
    BROWSER,
    b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    b"POST /x HTTP/1.0\r\nContent-Length: 12\r\n\r\n",
]


@pytest.mark.parametrize("seed", range(len(FUZZ_BASES)))
def test_fuzz_request_invariants(seed: int) -> None:
    for data in _mutants(seed, FUZZ_BASES[seed], 1500):
        r = req(data)
        ret = r["ret"]
        assert ret <= len(data)
        if ret > 0:
            # a complete block: every shorter prefix is just incomplete, longer input changes nothing
            for cut_at in (ret - 1, ret // 2, r["first_line_len"] + r["start"] - 1):
                assert req(data[:cut_at])["ret"] == 0, (data, cut_at)
            assert req(data + b"XYZ\x00")["ret"] == ret
        elif ret < 0:
            # err_pos is the byte that made the input bad: before it the input is only incomplete,
            # from it on the answer is the same whatever follows
            pos = r["err_pos"]
            assert r["err_code"] == -ret and 0 <= pos < len(data)
            assert req(data[:pos])["ret"] == 0, (data, pos)
            assert req(data[: pos + 1])["ret"] == ret, (data, pos)
            assert req(data + b"\r\n\r\n")["ret"] == ret


def test_fuzz_response_and_chunks() -> None:
    base = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=b\r\n\r\n"
    for data in _mutants(7, base, 1500):
        r = rsp(data)
        assert r["ret"] <= len(data)
        if r["ret"] < 0:
            assert r["ret"] == -502 and rsp(data[: r["err_pos"]])["ret"] == 0
    body = b"5;x=y\r\nhello\r\n1A\r\n" + b"z" * 26 + b"\r\n0\r\nT: 1\r\n\r\n"
    for data in _mutants(8, body, 1500):
        whole = _h1test.h1_chunk_py(data)
        assert whole == _h1test.h1_chunk_py(data, 1), data
        assert whole["consumed"] <= len(data)
