"""The hostile HTTP corpus: requests a client may send and responses a broken server may send.

A self-contained data table (tests/e2e/test_http_malformed.py has its own, smaller one). Every
request case says what the client must get back and exactly which requests the backend may see:

- `status`   the status of the first answer the client reads (400, 414, ... for refusals; 200 when
             the request is valid and reaches the server);
- `forwarded` the request targets the backend must receive, in order; () for a refused request,
             which must not even open a connection to the backend.

The answers follow HAProxy: the 400 page for anything malformed (smuggling attempts included;
Transfer-Encoding with Content-Length is accepted as 2.6 does, and the connection then closes),
414 for an over-long request line, 505 (sent with the 400 page, as HAProxy 1.x has no 505 page) for
HTTP/2+ in an HTTP/1 request line. Where Debian's haproxy 2.6 is more lenient (it accepts bare LF
and some odd tokens), pyhaproxy is at least as strict; the differential test checks that every
request 2.6 refuses is refused here too (tests/robustness/test_http_corpus.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

H = b"Host: test\r\n"
END = b"0\r\n\r\n"                 # the last chunk of a chunked body
OK = b"HTTP/1.1 200 OK\r\n"
BIG_LINE = 8190   # the longest request line accepted (ext/h1.pxi, H1_MAX_REQLINE)


@dataclass(frozen=True)
class ReqCase:
    """One hostile (or control) request."""

    name: str
    data: bytes
    status: int
    forwarded: tuple[str, ...] = ()
    note: str = ""
    family: str = field(default="", compare=False)


def _post(extra: bytes, body: bytes = b"", target: bytes = b"/p") -> bytes:
    return b"POST " + target + b" HTTP/1.1\r\n" + H + extra + b"\r\n" + body


def _get(extra: bytes = b"", line: bytes = b"GET /g HTTP/1.1") -> bytes:
    return line + b"\r\n" + H + extra + b"\r\n"


def _chunked(body: bytes) -> bytes:
    return _post(b"Transfer-Encoding: chunked\r\n", body)


SMUGGLED = b"GET /admin HTTP/1.1\r\nHost: test\r\n\r\n"

_REQUESTS: list[tuple[str, list[ReqCase]]] = [
    # as haproxy 2.6: chunked wins, the Content-Length is dropped and the connection closes after
    # the answer, so whatever follows the chunked body is never read as a request
    ("CL.TE and TE.CL", [
        ReqCase("cl_te", _post(b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\nG"), 200,
                ("/p",)),
        ReqCase("te_cl", _post(b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                               b"8\r\nSMUGGLED\r\n0\r\n\r\n"), 200, ("/p",)),
        ReqCase("cl_te_smuggled_request",
                _post(b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % (5 + len(SMUGGLED)),
                      b"0\r\n\r\n" + SMUGGLED), 200, ("/p",), "/admin is never read: the connection closes"),
        ReqCase("te_cl_lowercase_names", _post(b"transfer-encoding: chunked\r\ncontent-length: 4\r\n",
                                               b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n"),
                200, ("/p",), "the smuggled request is the chunk's data"),
        ReqCase("cl_zero_te", _post(b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
                                    b"0\r\n\r\n"), 200, ("/p",)),
    ]),
    ("TE.TE obfuscations", [
        ReqCase("te_xchunked", _post(b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_chunkedx", _post(b"Transfer-Encoding: chunkedx\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_space_before_colon", _post(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_tab_before_colon", _post(b"Transfer-Encoding\t: chunked\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_double_colon", _post(b"Transfer-Encoding:: chunked\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_chunked_not_last", _post(b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_chunked_twice_list", _post(b"Transfer-Encoding: chunked, chunked\r\n", END), 400),
        ReqCase("te_chunked_twice_lines",
                _post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", END), 400),
        ReqCase("te_chunked_then_identity",
                _post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", END), 400),
        ReqCase("te_identity", _post(b"Transfer-Encoding: identity\r\n", b"0\r\n\r\n"), 400),
        # chunked last over another coding: a body the proxy cannot read, 422 as haproxy 2.6
        ReqCase("te_identity_chunked", _post(b"Transfer-Encoding: identity, chunked\r\n", END), 422),
        ReqCase("te_gzip_chunked", _post(b"Transfer-Encoding: gzip, chunked\r\n", END), 422),
        ReqCase("te_gzip_line_chunked_line",
                _post(b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", END), 422),
        ReqCase("te_quoted", _post(b'Transfer-Encoding: "chunked"\r\n', b"0\r\n\r\n"), 400),
        ReqCase("te_vertical_tab", _post(b"Transfer-Encoding:\x0bchunked\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_form_feed", _post(b"Transfer-Encoding: chunked\x0c\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_nul", _post(b"Transfer-Encoding: chunked\x00\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_obs_fold", _post(b"Transfer-Encoding:\r\n chunked\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_param", _post(b"Transfer-Encoding: chunked;q=1\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_empty", _post(b"Transfer-Encoding: \r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_8bit_lookalike", _post(b"Transfer-Encoding: chun\xc4\xb8ed\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_name_lf_split", _post(b"Transfer-Encoding\n: chunked\r\n", b"0\r\n\r\n"), 400),
        ReqCase("te_in_http10", b"POST /p HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                200, ("/p",), "accepted as 2.6 does, the connection closes after the answer"),
    ]),
    ("Content-Length values", [
        ReqCase("cl_duplicate_differing", _post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hi!!!!"),
                400),
        ReqCase("cl_list_differing", _post(b"Content-Length: 5, 6\r\n", b"hello!"), 400),
        ReqCase("cl_line_and_list_differing", _post(b"Content-Length: 5\r\nContent-Length: 5, 6\r\n",
                                                    b"hello!"), 400),
        ReqCase("cl_negative", _post(b"Content-Length: -1\r\n"), 400),
        ReqCase("cl_plus_sign", _post(b"Content-Length: +5\r\n", b"hello"), 400),
        ReqCase("cl_hex", _post(b"Content-Length: 0x5\r\n", b"hello"), 400),
        ReqCase("cl_inner_space", _post(b"Content-Length: 1 0\r\n", b"0123456789"), 400),
        ReqCase("cl_letters", _post(b"Content-Length: 5a\r\n", b"hello"), 400),
        ReqCase("cl_overflow", _post(b"Content-Length: 184467440737095516160\r\n", b"x"), 400),
        ReqCase("cl_empty", _post(b"Content-Length: \r\n"), 400),
        ReqCase("cl_space_before_colon", _post(b"Content-Length : 5\r\n", b"hello"), 400),
        ReqCase("cl_identical_duplicates_ok", _post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
                200, ("/p",), "identical values are one value (RFC 9110 8.6)"),
    ]),
    ("chunked body framing", [
        ReqCase("chunk_size_not_hex", _chunked(b"zz\r\nhello\r\n0\r\n\r\n"), 400),
        ReqCase("chunk_size_overflow", _chunked(b"FFFFFFFFFFFFFFFFFFFF1\r\nx\r\n0\r\n\r\n"), 400),
        ReqCase("chunk_size_2p62", _chunked(b"4000000000000000\r\nx\r\n0\r\n\r\n"), 400),
        ReqCase("chunk_size_negative", _chunked(b"-1\r\nx\r\n0\r\n\r\n"), 400),
        ReqCase("chunk_size_0x", _chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400),
        ReqCase("chunk_size_empty", _chunked(b"\r\nhello\r\n0\r\n\r\n"), 400),
        ReqCase("chunk_size_bare_lf", _chunked(b"5\nhello\r\n0\r\n\r\n"), 400),
        ReqCase("chunk_size_junk", _chunked(b"5 x\r\nhello\r\n0\r\n\r\n"), 400),
        ReqCase("chunk_ext_nul", _chunked(b"5;a\x00\r\nhello\r\n0\r\n\r\n"), 400),
        ReqCase("chunk_data_missing_crlf", _chunked(b"5\r\nhelloXX0\r\n\r\n"), 400),
        ReqCase("chunk_data_too_long", _chunked(b"3\r\nhello\r\n0\r\n\r\n"), 400),
        ReqCase("chunk_trailer_fold", _chunked(b"0\r\nA: b\r\n c\r\n\r\n"), 400),
        ReqCase("chunked_valid", _chunked(b"5;ext=1\r\nhello\r\n0\r\nT: v\r\n\r\n"), 200, ("/p",)),
    ]),
    ("header syntax: obs-fold, bare CR/LF, NUL and controls", [
        ReqCase("obs_fold_space", _get(b"X-Foo: a\r\n  b\r\n"), 400),
        ReqCase("obs_fold_tab", _get(b"X-Foo: a\r\n\tb\r\n"), 400),
        ReqCase("ws_before_first_header", b"GET /g HTTP/1.1\r\n X-Foo: a\r\n" + H + b"\r\n", 400),
        ReqCase("bare_cr_in_value", _get(b"X-Foo: a\rb\r\n"), 400),
        ReqCase("bare_cr_line_end", _get(b"X-Foo: a\r\r\n"), 400),
        ReqCase("bare_cr_request_line", b"GET /g HTTP/1.1\r" + H + b"\r\n", 400),
        ReqCase("bare_cr_before_request", b"\rGET /g HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("bare_cr_empty_line", _get(b"X-Foo: a\r\n\rX\r\n"), 400),
        ReqCase("bare_lf_inside_value", _get(b"X-Foo: a\nb\r\n"), 400,
                note="the LF ends the field; 'b' is a line without a colon"),
        ReqCase("bare_lf_line_end_ok", b"GET /lf HTTP/1.1\nHost: test\r\n\r\n", 200, ("/lf",),
                "bare LF line ends are tolerated (RFC 9112 2.2) and forwarded as they came, like 1.x"),
        ReqCase("nul_in_name", _get(b"X-F\x00oo: a\r\n"), 400),
        ReqCase("nul_in_value", _get(b"X-Foo: a\x00b\r\n"), 400),
        ReqCase("nul_line", _get(b"\x00\r\n"), 400),
        ReqCase("ctl_in_value", _get(b"X-Foo: a\x01b\r\n"), 400),
        ReqCase("esc_in_value", _get(b"X-Foo: \x1b[31m\r\n"), 400),
        ReqCase("del_in_name", _get(b"X-F\x7foo: a\r\n"), 400),
        ReqCase("del_in_value", _get(b"X-Foo: a\x7f\r\n"), 400),
        ReqCase("8bit_in_name", _get(b"X-F\xc3\xa9: a\r\n"), 400),
        ReqCase("space_in_name", _get(b"X Foo: a\r\n"), 400),
        ReqCase("space_before_colon", b"GET /g HTTP/1.1\r\nHost : test\r\n\r\n", 400),
        ReqCase("empty_name", _get(b": value\r\n"), 400),
        ReqCase("no_colon", _get(b"NoColonHere\r\n"), 400),
        ReqCase("8bit_value_ok", _get(b"X-Name: caf\xc3\xa9\r\n"), 200, ("/g",),
                "obs-text is allowed in values"),
    ]),
    ("sizes", [
        ReqCase("request_line_too_long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
        ReqCase("request_line_one_too_long",
                b"GET /" + b"a" * (BIG_LINE + 1 - 14) + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
        ReqCase("request_line_unterminated", b"GET /" + b"a" * 20000, 414),
        ReqCase("header_block_over_8k", _get(b"X-Big: " + b"b" * 9000 + b"\r\n"), 400),
        ReqCase("header_block_over_8k_many_lines",
                _get(b"".join(b"X-Big%d: %s\r\n" % (i, b"b" * 3000) for i in range(3))), 400),
        ReqCase("too_many_headers", _get(b"".join(b"X-H%d: v\r\n" % i for i in range(200))), 400),
        ReqCase("too_many_empty_values", _get(b"X:\r\n" * 150), 400),
        ReqCase("headers_7k_ok", _get(b"X-Big: " + b"b" * 7000 + b"\r\n"), 200, ("/g",)),
    ]),
    ("methods and versions", [
        ReqCase("method_bad_char", b"G(T /g HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("method_slash", b"GE/T /g HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("method_ctl", b"GE\x01T /g HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("method_nul", b"GE\x00T /g HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("method_empty", b" /g HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("method_8bit", b"G\xc9T /g HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("method_extension_ok", b"PROPFIND /g HTTP/1.1\r\n" + H + b"\r\n", 200, ("/g",),
                "any token is a method (RFC 9110 9.1)"),
        ReqCase("tab_separator", b"GET\t/g HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("double_space", b"GET  /g HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("version_lowercase", b"GET /g http/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("version_letters", b"GET /g HTTP/1.x\r\n" + H + b"\r\n", 400),
        ReqCase("version_two_digit_major", b"GET /g HTTP/11.1\r\n" + H + b"\r\n", 400),
        ReqCase("version_two_digit_minor", b"GET /g HTTP/1.10\r\n" + H + b"\r\n", 400),
        ReqCase("version_trailing_space", b"GET /g HTTP/1.1 \r\n" + H + b"\r\n", 400),
        ReqCase("version_https", b"GET /g HTTPS/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("version_missing", b"GET /g \r\n" + H + b"\r\n", 400),
        ReqCase("version_0_9_spelled", b"GET /g HTTP/0.9\r\n" + H + b"\r\n", 400),
        ReqCase("version_2", b"GET /g HTTP/2.0\r\n" + H + b"\r\n", 505,
                note="answered with the 400 page; the status 505 is what is logged"),
        ReqCase("http09", b"GET /g\r\n\r\n", 400),
        ReqCase("http09_single_line", b"GET /g\r\n", 400),
        ReqCase("not_http_at_all", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, 400,
                note="a TLS ClientHello sent to a plain HTTP port"),
    ]),
    ("request targets", [
        ReqCase("absolute_form_ok", b"GET http://test/abs HTTP/1.1\r\n" + H + b"\r\n", 200,
                ("http://test/abs",)),
        ReqCase("absolute_form_other_host", b"GET http://evil.example/abs HTTP/1.1\r\n" + H + b"\r\n", 400,
                note="the authority and Host disagree (RFC 9112 3.2.2)"),
        ReqCase("two_host_headers", _get(b"Host: other\r\n"), 400),
        ReqCase("two_equal_host_headers", _get(b"Host: test\r\n"), 200, ("/g",)),
        ReqCase("fragment_in_target", b"GET /g#frag HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("options_star_ok", b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n", 200, ("*",)),
        ReqCase("authority_form_on_get", b"GET test:80 HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("star_on_get", b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("star_with_suffix", b"OPTIONS *x HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("connect_origin_form", b"CONNECT /g HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("connect_no_port", b"CONNECT test HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("connect_with_path", b"CONNECT http://test:80/x HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("relative_target", b"GET index.html HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("space_in_target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("ctl_in_target", b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("nul_in_target", b"GET /a\x00 HTTP/1.1\r\n" + H + b"\r\n", 400),
        ReqCase("8bit_in_target", b"GET /caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ]),
    ("pipelining and connection end", [
        ReqCase("request_after_connection_close",
                b"GET /one HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n" + SMUGGLED, 200, ("/one",),
                "bytes after a Connection: close request are never forwarded"),
        ReqCase("request_after_http10",
                b"GET /one HTTP/1.0\r\n\r\n" + SMUGGLED, 200, ("/one",)),
        ReqCase("bad_request_after_good",
                b"GET /one HTTP/1.1\r\n" + H + b"\r\n" + b"GET /two HTTP/1.1\r\nBad Header\r\n\r\n",
                200, ("/one",), "the first answer is a 200, the second a 400; /two never reaches the server"),
        ReqCase("smuggle_in_second_request",
                b"GET /one HTTP/1.1\r\n" + H + b"\r\n"
                + _post(b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + SMUGGLED),
                200, ("/one", "/p"), "/admin is never read: the connection closes after /p's answer"),
        ReqCase("body_then_next_request_ok",
                _post(b"Content-Length: 5\r\n", b"hello") + b"GET /two HTTP/1.1\r\n" + H
                + b"Connection: close\r\n\r\n", 200, ("/p", "/two")),
    ]),
]

REQUEST_CASES: list[ReqCase] = [
    ReqCase(c.name, c.data, c.status, c.forwarded, c.note, fam) for fam, cases in _REQUESTS for c in cases
]


@dataclass(frozen=True)
class RspCase:
    """One broken response a hostile server sends (then closes), and what the client must see.

    `status` 502: the proxy's 502 page. `status` 200 with `cut`: the headers were fine, the client
    gets them and then the connection closes before the announced body is complete. `hold`: the
    server keeps its connection open after sending (the proxy must not wait for srvtimeout).
    """

    name: str
    data: bytes
    status: int = 502
    cut: bool = False
    hold: bool = False


RESPONSE_CASES: list[RspCase] = [
    RspCase("empty", b""),
    RspCase("closed_mid_status_line", b"HTTP/1.1 20"),
    RspCase("closed_mid_headers", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Half"),
    RspCase("http2_version", b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
    RspCase("lowercase_version", b"http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    RspCase("html_no_status_line", b"<html><body>hello</body></html>\r\n\r\n"),
    RspCase("ssh_banner", b"SSH-2.0-OpenSSH_9.2\r\n\r\n"),
    RspCase("ssh_banner_held_open", b"SSH-2.0-OpenSSH_9.2\r\n", hold=True),
    RspCase("binary_junk_held_open", b"\x00\x01\x02\xff" * 8, hold=True),
    RspCase("bad_header_held_open", b"HTTP/1.1 200 OK\r\nX\x00: y\r\n", hold=True),
    RspCase("status_two_digits", b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"),
    RspCase("status_letters", b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"),
    RspCase("status_below_100", b"HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n"),
    RspCase("no_space_after_version", b"HTTP/1.1200 OK\r\nContent-Length: 0\r\n\r\n"),
    RspCase("nul_in_reason", b"HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n"),
    # chunked wins over Content-Length (removed), as haproxy 2.6: stricter only breaks servers
    RspCase("cl_and_te", OK + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200),
    RspCase("cl_differing", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
    RspCase("cl_not_number", b"HTTP/1.1 200 OK\r\nContent-Length: three\r\n\r\nabc"),
    RspCase("te_chunked_not_last", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
    RspCase("te_in_http10", b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200),
    RspCase("te_gzip_alone", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello"),
    RspCase("te_gzip_chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
    RspCase("obs_fold", b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"),
    RspCase("space_before_colon", b"HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 0\r\n\r\n"),
    RspCase("bare_cr", b"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n"),
    RspCase("ctl_in_value", b"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n"),
    RspCase("too_many_headers", b"HTTP/1.1 200 OK\r\n" + b"X: v\r\n" * 150 + b"Content-Length: 0\r\n\r\n"),
    RspCase("header_block_too_large", OK + b"X: " + b"a" * 9000 + b"\r\nContent-Length: 0\r\n\r\n"),
    RspCase("endless_header_line", b"HTTP/1.1 200 OK\r\nX: " + b"a" * 40000),
    RspCase("body_shorter_than_cl", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", 200, True),
    RspCase("bad_chunk_size_with_headers",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"),
    RspCase("chunked_cut_short", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 200, True),
]
