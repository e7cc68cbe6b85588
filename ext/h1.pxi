# HTTP/1.x scanner for pyhaproxy's worker hot path (included by ext/_core.pyx).
#
# Everything here is `cdef ... noexcept nogil` over C buffers: no Python object is touched, so the
# loop can call it without the GIL and `cython -a` shows it white.  The scanner is stateless: it
# re-reads the buffer from offset 0 on every call and returns > 0 (header block complete, that many
# bytes), 0 (need more bytes) or -code (the HTTP status to answer).  To avoid rescanning on every
# read of a slow client, the loop can first call h1_hdr_block_end() incrementally and only call the
# full parser once the empty line is there (or the buffer reached H1_MAX_HDR_BLOCK).
#
# Every function is declared `noexcept`: they return negative codes, and without it Cython 3 would
# add an exception check (and a GIL grab) after each call.  m.err_code is the status to answer and
# m.err_pos the offset of the byte that made the input bad: every prefix shorter than err_pos + 1
# parses as incomplete (0), every longer input gives the same error (HAProxy's "show errors" idea).
#
# Strictness follows RFC 9112 and HAProxy's answers.  Decisions:
#  - Bare LF is accepted as a line end in the start line and header fields (RFC 9112 2.2 allows it,
#    HAProxy does it).  A CR not followed by LF is an error.  Chunked framing lines (sizes, CRLF
#    after data, trailers) require CRLF strictly: lenient chunk-line parsing is a known smuggling
#    vector when the backend disagrees.
#  - Empty lines before the request line are skipped (RFC 9112 2.2, HAProxy); m.start points at the
#    request line, the returned length includes them.
#  - Version must be "HTTP/" DIGIT "." DIGIT.  Major 0 (and a request line without a version, the
#    HTTP/0.9 form) -> 400; major >= 2 -> 505 (request) / 502 (response); HTTP/1.2..1.9 are
#    accepted and treated as 1.1.
#  - The request-target may not hold CTL, SP, DEL or bytes >= 0x80 (HAProxy 2.6 answers 400 to raw
#    UTF-8 in the URI too).
#  - Transfer-Encoding: a comma list of tokens (empty elements ignored, no parameters); `chunked`
#    appears once at most.  Requests: `chunked` must be the final coding (else 400); another coding
#    before it is a 422, as haproxy 2.6 answers.  Responses: any coding but `chunked` is a 502.
#  - Transfer-Encoding with Content-Length, or in HTTP/1.0, is accepted as 2.6 does (RFC 9112
#    6.1/6.3): the body is read as chunked, every Content-Length header is dropped (m.cl_drop) and
#    m.te_close says the connection cannot be trusted further: a request's client connection
#    closes after its answer (so bytes smuggled behind the chunked body are never read as a
#    request), a response's server connection is not reused, and an HTTP/1.0 chunked response
#    closes the client's too.
#  - Content-Length: 1*DIGIT, or a list of identical values ("5, 5"), also across several lines.
#  - An HTTP/1.0 GET, HEAD or DELETE with a body (Content-Length > 0 or chunked) is a 413, as 2.6
#    answers, unless `h1-accept-payload-with-any-method` (g_h1_any_payload).
#  - A status line may omit the reason and its SP ("HTTP/1.1 200\r\n"), as servers do.
#  - The whole header block must end within H1_MAX_HDR_BLOCK (bufsize - maxrewrite) bytes; when the
#    buffer holds that much and the block is still open, the parser itself returns -400 (-414 if the
#    request line is the part still open, -502 for a response).

from libc.string cimport memchr, memcmp, memcpy, memmove
from libc.stdint cimport uint64_t

cdef extern from *:
    """
    /* h1_ctab: character classes for the HTTP/1 scanner (bits: 1 tchar, 2 field-value byte
       (VCHAR, obs-text, SP, HTAB), 4 request-target byte (VCHAR), 8 digit, 16 hex digit,
       32 URI scheme byte; bytes >= 0x80 are value bytes only).  h1_lower: ASCII lower-casing. */
    static const unsigned char h1_ctab[256] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 39, 6, 39, 39, 6,
        63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 6, 6, 6, 6, 6, 6,
        6, 55, 55, 55, 55, 55, 55, 39, 39, 39, 39, 39, 39, 39, 39, 39,
        39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 6, 6, 6, 7, 7,
        7, 55, 55, 55, 55, 55, 55, 39, 39, 39, 39, 39, 39, 39, 39, 39,
        39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 39, 6, 7, 6, 7, 0,
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    };
    static const unsigned char h1_lower[256] = {
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
        32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
        48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
        64, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
        112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 91, 92, 93, 94, 95,
        96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
        112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
        128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143,
        144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159,
        160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175,
        176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
        192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207,
        208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
        224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
        240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
    };
    """
    const unsigned char h1_ctab[256]
    const unsigned char h1_lower[256]

cdef enum:
    H1_MAX_HDRS = 101           # HAProxy 1.3's MAX_HTTP_HDR; one more header -> 400
    H1_MAX_HDR_BLOCK = 8192     # bufsize 16384 - maxrewrite 8192
    H1_MAX_REQLINE = 8190       # request line (without its line end) longer than this -> 414

# global `h1-accept-payload-with-any-method` (set once at start-up by setup.pxi)
cdef int g_h1_any_payload = 0

cdef enum:
    H1_C_TCHAR = 1
    H1_C_VAL = 2
    H1_C_URI = 4
    H1_C_DIGIT = 8
    H1_C_HEX = 16
    H1_C_SCHEME = 32

cdef enum:
    H1_M_NONE = 0               # responses
    H1_M_GET = 1
    H1_M_HEAD = 2
    H1_M_POST = 3
    H1_M_PUT = 4
    H1_M_DELETE = 5
    H1_M_OPTIONS = 6
    H1_M_TRACE = 7
    H1_M_CONNECT = 8
    H1_M_OTHER = 9

cdef struct h1_hdr:
    int n_off, n_len            # field name
    int v_off, v_len            # field value, OWS trimmed on both sides
    int line_off, line_len      # whole line including its CRLF (or LF)

cdef struct h1_msg:
    int start                   # offset of the start line (after skipped empty lines)
    int meth_off, meth_len, uri_off, uri_len, ver_off, ver_len
    int status, reason_off, reason_len
    int major, minor
    int meth
    int first_line_len          # start line including its line end
    int hdrs_end                # offset just after the empty line that ends the header block
    int nhdr
    h1_hdr hdr[H1_MAX_HDRS]
    long long content_length    # -1 when absent
    int chunked                 # final transfer coding is chunked
    int has_te                  # a Transfer-Encoding header was present
    int te_other                # a transfer coding other than chunked was named
    int host_off, host_len      # the first Host header's value (host_off -1: none)
    int cl_drop                 # >= 0: chunked overrides Content-Length, every such header is dropped
    int te_close                # Transfer-Encoding framing forces a close: 1 with Content-Length,
                                # 2 in HTTP/1.0 (both bits can be set)
    int conn_close, conn_keepalive
    int conn_upgrade            # `Connection: upgrade`
    int has_upgrade             # an `Upgrade:` header
    int err_pos, err_code

# ---------------------------------------------------------------------------------------------
# small helpers

cdef extern from *:
    """
    /* 8 buffer bytes as a word whose low byte is the first in memory (one unaligned mov on x86),
       so that in the SWAR masks below the first flagged byte is the lowest set bit */
    #include <string.h>
    #include <stdint.h>
    static inline uint64_t h1_load64(const char *p) {
        uint64_t x;
        memcpy(&x, p, 8);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        x = __builtin_bswap64(x);
    #endif
        return x;
    }
    #define h1_first_byte(x) (__builtin_ctzll(x) >> 3)
    """
    uint64_t h1_load64(const char *p) nogil
    int h1_first_byte(uint64_t x) nogil

cdef inline uint64_t _h1_swar_ctl(uint64_t x) noexcept nogil:
    # high bit set in the bytes of x that are < 0x20 or == 0x7f.  Only the first flagged byte (in
    # memory order) is exact -- borrows can flag bytes after it -- which is all the scanners use.
    cdef uint64_t lo = (x - <uint64_t>0x2020202020202020ULL) & ~x
    cdef uint64_t y = x ^ <uint64_t>0x7f7f7f7f7f7f7f7fULL
    cdef uint64_t de = (y - <uint64_t>0x0101010101010101ULL) & ~y
    return (lo | de) & <uint64_t>0x8080808080808080ULL

cdef inline uint64_t _h1_swar_bad_uri(uint64_t x) noexcept nogil:
    # high bit set in the bytes of x that are <= 0x20, == 0x7f or >= 0x80 (first one exact)
    cdef uint64_t lo = (x - <uint64_t>0x2121212121212121ULL) & ~x
    cdef uint64_t y = x ^ <uint64_t>0x7f7f7f7f7f7f7f7fULL
    cdef uint64_t de = (y - <uint64_t>0x0101010101010101ULL) & ~y
    return ((lo | de) & <uint64_t>0x8080808080808080ULL) | (x & <uint64_t>0x8080808080808080ULL)

cdef inline int _h1_scan_value(const char *buf, int p, int lim) noexcept nogil:
    # advance over field-value bytes (VCHAR, obs-text, SP, HTAB), 8 at a time: the first CTL of a
    # word is located with ctz; HTAB is stepped over, anything else ends the scan
    cdef uint64_t x, mk
    while p + 8 <= lim:
        x = h1_load64(buf + p)
        mk = _h1_swar_ctl(x)
        if mk == 0:
            p += 8
            continue
        p += h1_first_byte(mk)
        if buf[p] != b'\t':
            return p
        p += 1
    while p < lim and (h1_ctab[<unsigned char>buf[p]] & H1_C_VAL):
        p += 1
    return p

cdef inline int _h1_scan_uri(const char *buf, int p, int lim) noexcept nogil:
    cdef uint64_t x, mk
    while p + 8 <= lim:
        x = h1_load64(buf + p)
        mk = _h1_swar_bad_uri(x)
        if mk == 0:
            p += 8
            continue
        return p + (h1_first_byte(mk))
    while p < lim and (h1_ctab[<unsigned char>buf[p]] & H1_C_URI):
        p += 1
    return p

cdef inline int _h1_scan_token(const char *buf, int p, int lim) noexcept nogil:
    # advance over tchar bytes, four table lookups per step while they all pass
    while p + 4 <= lim and (h1_ctab[<unsigned char>buf[p]] & h1_ctab[<unsigned char>buf[p + 1]]
                            & h1_ctab[<unsigned char>buf[p + 2]]
                            & h1_ctab[<unsigned char>buf[p + 3]] & H1_C_TCHAR):
        p += 4
    while p < lim and (h1_ctab[<unsigned char>buf[p]] & H1_C_TCHAR):
        p += 1
    return p

cdef inline int _h1_ieq(const char *a, const char *b, int n) noexcept nogil:
    # case-insensitive equality of n bytes
    cdef int i
    for i in range(n):
        if h1_lower[<unsigned char>a[i]] != h1_lower[<unsigned char>b[i]]:
            return 0
    return 1

cdef inline int _h1_eol(const char *buf, int p, int lim) noexcept nogil:
    # at buf[p] (p < lim) expect a line end: returns its length (1 or 2), 0 if incomplete, -1 if
    # buf[p] is bad, -2 if buf[p+1] is (a bare CR); so the bad byte is at p - r - 1
    cdef char c = buf[p]
    if c == b'\n':
        return 1
    if c == b'\r':
        if p + 1 >= lim:
            return 0
        if buf[p + 1] == b'\n':
            return 2
        return -2
    return -1

cdef inline int _h1_fail(h1_msg *m, int pos, int code) noexcept nogil:
    m.err_pos = pos
    m.err_code = code
    return -code

cdef inline int _h1_version(const char *buf, int p, int lim, h1_msg *m) noexcept nogil:
    # "HTTP/" DIGIT "." DIGIT at p: 1 ok (major/minor set), 0 incomplete, -1 bad (err_pos set)
    cdef const char *pat = b"HTTP/"
    cdef int i
    cdef char c
    for i in range(8):
        if p + i >= lim:
            return 0
        c = buf[p + i]
        if i < 5:
            if c != pat[i]:
                m.err_pos = p + i
                return -1
        elif i == 6:
            if c != b'.':
                m.err_pos = p + i
                return -1
        elif not (h1_ctab[<unsigned char>c] & H1_C_DIGIT):
            m.err_pos = p + i
            return -1
    m.major = buf[p + 5] - 48
    m.minor = buf[p + 7] - 48
    return 1

cdef inline void _h1_reset(h1_msg *m) noexcept nogil:
    m.start = 0
    m.meth_off = m.meth_len = m.uri_off = m.uri_len = m.ver_off = m.ver_len = 0
    m.status = m.reason_off = m.reason_len = 0
    m.major = m.minor = 0
    m.meth = H1_M_NONE
    m.first_line_len = m.hdrs_end = m.nhdr = 0
    m.content_length = -1
    m.chunked = m.has_te = m.te_other = m.conn_close = m.conn_keepalive = 0
    m.conn_upgrade = m.has_upgrade = 0
    m.host_off = -1
    m.host_len = 0
    m.cl_drop = -1
    m.te_close = 0
    m.err_pos = -1
    m.err_code = 0

cdef inline int _h1_method(const char *p, int n) noexcept nogil:
    # methods are case-sensitive (RFC 9110 9.1)
    if n == 3:
        if memcmp(p, b"GET", 3) == 0:
            return H1_M_GET
        if memcmp(p, b"PUT", 3) == 0:
            return H1_M_PUT
    elif n == 4:
        if memcmp(p, b"POST", 4) == 0:
            return H1_M_POST
        if memcmp(p, b"HEAD", 4) == 0:
            return H1_M_HEAD
    elif n == 5:
        if memcmp(p, b"TRACE", 5) == 0:
            return H1_M_TRACE
    elif n == 6:
        if memcmp(p, b"DELETE", 6) == 0:
            return H1_M_DELETE
    elif n == 7:
        if memcmp(p, b"OPTIONS", 7) == 0:
            return H1_M_OPTIONS
        if memcmp(p, b"CONNECT", 7) == 0:
            return H1_M_CONNECT
    return H1_M_OTHER

# ---------------------------------------------------------------------------------------------
# list-valued headers

cdef int _h1_cl_value(const char *v, int n, long long *out) noexcept nogil:
    # Content-Length value: 1*DIGIT, or a comma list of equal values. 0 ok, -1 bad.
    cdef int i = 0
    cdef int nd
    cdef long long val, prev = -1
    cdef unsigned char c
    while True:
        while i < n and (v[i] == b' ' or v[i] == b'\t'):
            i += 1
        val = 0
        nd = 0
        while i < n:
            c = <unsigned char>v[i]
            if not (h1_ctab[c] & H1_C_DIGIT):
                break
            if val > (<long long>0x7fffffffffffffffLL - 9) // 10:
                return -1
            val = val * 10 + (c - 48)
            nd += 1
            i += 1
        if nd == 0:
            return -1
        if prev >= 0 and val != prev:
            return -1
        prev = val
        while i < n and (v[i] == b' ' or v[i] == b'\t'):
            i += 1
        if i == n:
            break
        if v[i] != b',':
            return -1
        i += 1
    out[0] = prev
    return 0

cdef int _h1_te_value(const char *v, int n, int *seen_chunked, int *last_chunked,
                      int *other) noexcept nogil:
    # Transfer-Encoding value: comma list of tokens; `chunked` at most once and only last (checked
    # by the caller over all TE lines through last_chunked); `other` set when another coding is
    # named (a request with one is refused with 422, as haproxy 2.6 does).  0 ok, -1 bad.
    cdef int i = 0, s
    while i <= n:
        while i < n and (v[i] == b' ' or v[i] == b'\t'):
            i += 1
        s = i
        while i < n and (h1_ctab[<unsigned char>v[i]] & H1_C_TCHAR):
            i += 1
        if i > s:
            if i - s == 7 and _h1_ieq(v + s, b"chunked", 7):
                if seen_chunked[0]:
                    return -1
                seen_chunked[0] = 1
                last_chunked[0] = 1
            else:
                if seen_chunked[0]:
                    return -1     # a coding after chunked: the length cannot be known
                last_chunked[0] = 0
                other[0] = 1
        while i < n and (v[i] == b' ' or v[i] == b'\t'):
            i += 1
        if i == n:
            return 0
        if v[i] != b',':
            return -1             # parameters, quotes, stray bytes: not a plain token list
        i += 1
    return 0

cdef void _h1_conn_value(const char *v, int n, h1_msg *m) noexcept nogil:
    # Connection tokens we care about: close, keep-alive (case-insensitive)
    cdef int i = 0, s, e
    while i < n:
        while i < n and (v[i] == b' ' or v[i] == b'\t' or v[i] == b','):
            i += 1
        s = i
        while i < n and v[i] != b',':
            i += 1
        e = i
        while e > s and (v[e - 1] == b' ' or v[e - 1] == b'\t'):
            e -= 1
        if e - s == 5 and _h1_ieq(v + s, b"close", 5):
            m.conn_close = 1
        elif e - s == 10 and _h1_ieq(v + s, b"keep-alive", 10):
            m.conn_keepalive = 1
        elif e - s == 7 and _h1_ieq(v + s, b"upgrade", 7):
            m.conn_upgrade = 1

# ---------------------------------------------------------------------------------------------
# header block (shared by requests and responses)

cdef int _h1_headers(const char *buf, int p, int lim, h1_msg *m, int code) noexcept nogil:
    # parses header lines from p; > 0 end of block, 0 incomplete, < 0 error (-code)
    cdef int ls, ns, ne, vs, ve, r, nl
    cdef int has_cl = 0, seen_chunked = 0, last_chunked = 0
    cdef long long cl = -1
    cdef unsigned char c
    cdef h1_hdr *h
    while True:
        if p >= lim:
            return 0
        ls = p
        c = <unsigned char>buf[p]
        if c == b'\r' or c == b'\n':
            r = _h1_eol(buf, p, lim)
            if r == 0:
                return 0
            if r < 0:
                return _h1_fail(m, p - r - 1, code)
            p += r
            break
        if c == b' ' or c == b'\t':
            return _h1_fail(m, p, code)         # obs-fold (or whitespace before the first field)
        ns = p
        p = _h1_scan_token(buf, p, lim)
        if p >= lim:
            return 0
        if buf[p] != b':' or p == ns:
            return _h1_fail(m, p, code)         # SP before colon, CTL, empty name...
        ne = p
        p += 1
        while p < lim and (buf[p] == b' ' or buf[p] == b'\t'):
            p += 1
        vs = p
        p = _h1_scan_value(buf, p, lim)
        if p >= lim:
            return 0
        r = _h1_eol(buf, p, lim)
        if r == 0:
            return 0
        if r < 0:
            return _h1_fail(m, p - r - 1, code)     # NUL, CTL, bare CR in the value
        ve = p
        while ve > vs and (buf[ve - 1] == b' ' or buf[ve - 1] == b'\t'):
            ve -= 1
        p += r
        if m.nhdr >= H1_MAX_HDRS:
            return _h1_fail(m, ls, code)
        h = &m.hdr[m.nhdr]
        m.nhdr += 1
        h.n_off = ns
        h.n_len = ne - ns
        h.v_off = vs
        h.v_len = ve - vs
        h.line_off = ls
        h.line_len = p - ls
        nl = ne - ns
        # the three framing headers, recognised by length then name
        if nl == 14:
            if _h1_ieq(buf + ns, b"content-length", 14):
                if _h1_cl_value(buf + vs, ve - vs, &cl) < 0:
                    return _h1_fail(m, p - 1, code)
                if has_cl and cl != m.content_length:
                    return _h1_fail(m, p - 1, code)
                has_cl = 1
                m.content_length = cl
                m.cl_drop = m.nhdr - 1
        elif nl == 17:
            if _h1_ieq(buf + ns, b"transfer-encoding", 17):
                if _h1_te_value(buf + vs, ve - vs, &seen_chunked, &last_chunked, &m.te_other) < 0:
                    return _h1_fail(m, p - 1, code)
                m.has_te = 1
        elif nl == 10:
            if _h1_ieq(buf + ns, b"connection", 10):
                _h1_conn_value(buf + vs, ve - vs, m)
        elif nl == 7 and _h1_ieq(buf + ns, b"upgrade", 7):
            m.has_upgrade = 1
        elif nl == 4 and code == 400 and _h1_ieq(buf + ns, b"host", 4):
            if m.host_off < 0:
                m.host_off = vs
                m.host_len = ve - vs
            elif m.host_len != ve - vs or not _h1_ieq(buf + m.host_off, buf + vs, m.host_len):
                return _h1_fail(m, p - 1, code)     # two different Host headers (RFC 9112 3.2)
    m.hdrs_end = p
    # framing errors seen at the end of the block; err_pos: its last byte, the one that decided
    if not m.has_te:
        m.cl_drop = -1
        return p
    if code == 400:
        # requests, as haproxy 2.6: chunked must be the final coding, and a coding before it is
        # one nobody here can undo (422)
        if not last_chunked:
            return _h1_fail(m, p - 1, code)     # the length of the body cannot be known
        if m.te_other:
            return _h1_fail(m, p - 1, 422)
    elif m.te_other or not last_chunked:
        return _h1_fail(m, p - 1, code)         # responses: a coding other than chunked is a 502
    # chunked wins over Content-Length (dropped); TE+CL or TE in HTTP/1.0 closes (m.te_close)
    m.chunked = 1
    m.content_length = -1
    if has_cl:
        m.te_close = 1
    else:
        m.cl_drop = -1
    if m.minor == 0:
        m.te_close |= 2
    return p

# ---------------------------------------------------------------------------------------------
# public API

cdef inline int h1_too_large(int len) noexcept nogil:
    # an incomplete header block of len bytes will never fit: answer 400
    return len >= H1_MAX_HDR_BLOCK

cdef int h1_hdr_block_end(const char *buf, int len, int frm) noexcept nogil:
    # offset just after the first empty line (LF [CR] LF) found from `frm`, 0 when none yet.  A hint
    # for when to run the full parser: searching from max(0, previous length - 3) keeps a
    # byte-by-byte client linear.  Empty lines before the request line also match; the parser
    # then returns 0 and the search goes on from there.
    cdef const char *q
    cdef int p = frm if frm > 0 else 0
    while p < len:
        q = <const char *>memchr(buf + p, b'\n', len - p)
        if q == NULL:
            return 0
        p = <int>(q - buf) + 1
        if p < len and buf[p] == b'\n':
            return p + 1
        if p + 1 < len and buf[p] == b'\r' and buf[p + 1] == b'\n':
            return p + 2
    return 0

cdef int h1_parse_request(const char *buf, int len, h1_msg *m) noexcept nogil:
    cdef int lim = len if len < H1_MAX_HDR_BLOCK else H1_MAX_HDR_BLOCK
    cdef int p = 0, s, r, e
    cdef unsigned char c
    _h1_reset(m)
    # skip empty lines before the request line
    while p < lim:
        c = <unsigned char>buf[p]
        if c == b'\n':
            p += 1
        elif c == b'\r':
            if p + 1 >= lim:
                return _h1_reqline_need(m, p, lim, len)
            if buf[p + 1] != b'\n':
                return _h1_fail(m, p + 1, 400)
            p += 2
        else:
            break
    s = p
    m.start = s
    m.meth_off = s
    p = _h1_scan_token(buf, p, lim)
    if p >= lim:
        return _h1_reqline_need(m, s, lim, len)
    if buf[p] != b' ' or p == s:
        return _h1_fail(m, p, 400)
    m.meth_len = p - s
    m.meth = _h1_method(buf + s, p - s)
    p += 1
    m.uri_off = p
    p = _h1_scan_uri(buf, p, lim)
    if p >= lim:
        return _h1_reqline_need(m, s, lim, len)
    if buf[p] != b' ' or p == m.uri_off:
        return _h1_fail(m, p, 400)             # HTTP/0.9 form, CTL, 8-bit byte, empty target
    m.uri_len = p - m.uri_off
    if _h1_check_target(buf + m.uri_off, m.uri_len, m.meth) < 0:
        return _h1_fail(m, p, 400)             # known bad once the SP ending it arrived
    p += 1
    m.ver_off = p
    r = _h1_version(buf, p, lim, m)
    if r == 0:
        return _h1_reqline_need(m, s, lim, len)
    if r < 0:
        return _h1_fail(m, m.err_pos, 400)
    if m.major != 1:
        return _h1_fail(m, p + 7, 400 if m.major == 0 else 505)
    m.ver_len = 8
    p += 8
    if p >= lim:
        return _h1_reqline_need(m, s, lim, len)
    r = _h1_eol(buf, p, lim)
    if r == 0:
        return _h1_reqline_need(m, s, lim, len)
    if r < 0:
        return _h1_fail(m, p - r - 1, 400)
    if p - s > H1_MAX_REQLINE:
        return _h1_fail(m, s + H1_MAX_REQLINE, 414)
    p += r
    m.first_line_len = p - s
    e = _h1_headers(buf, p, lim, m, 400)
    if e == 0 and len >= H1_MAX_HDR_BLOCK:
        return _h1_fail(m, lim - 1, 400)
    if (e > 0 and m.minor == 0 and not g_h1_any_payload and (m.content_length > 0 or m.chunked)
            and (m.meth == H1_M_GET or m.meth == H1_M_HEAD or m.meth == H1_M_DELETE)):
        return _h1_fail(m, e - 1, 413)
    if e > 0 and m.host_off >= 0 and _h1_authority_mismatch(buf, m):
        return _h1_fail(m, e - 1, 400)
    return e

cdef int _h1_authority_mismatch(const char *buf, h1_msg *m) noexcept nogil:
    # absolute-form target whose authority is not the Host header's value (RFC 9112 3.2.2: a
    # proxy must not let the two disagree; haproxy 2.6 answers 400)
    cdef const char *u = buf + m.uri_off
    cdef int n = m.uri_len, i = 0, a, e
    if m.meth == H1_M_CONNECT or n == 0 or u[0] == b'/' or u[0] == b'*':
        return 0
    while i < n and u[i] != b':':
        i += 1
    a = i + 3                       # after "scheme://", checked by _h1_check_target
    e = a
    while e < n and u[e] != b'/' and u[e] != b'?':
        e += 1
    return e - a != m.host_len or not _h1_ieq(u + a, buf + m.host_off, m.host_len)

cdef inline int _h1_reqline_need(h1_msg *m, int s, int lim, int len) noexcept nogil:
    # the request line is still open at lim
    if lim - s > H1_MAX_REQLINE:
        return _h1_fail(m, s + H1_MAX_REQLINE, 414)
    if len >= H1_MAX_HDR_BLOCK:
        return _h1_fail(m, lim - 1, 400)
    return 0

cdef int _h1_check_target(const char *u, int n, int meth) noexcept nogil:
    # origin-form, absolute-form, authority-form (CONNECT only), asterisk-form (OPTIONS only);
    # a fragment (`#`) is never sent in a request target (RFC 9112 3.2, haproxy 2.6: 400)
    cdef int i
    if memchr(u, b'#', n) != NULL:
        return -1
    if meth == H1_M_CONNECT:
        # host ":" port, no path
        if u[0] == b'/' or u[0] == b'*':
            return -1
        i = n
        while i > 0 and (h1_ctab[<unsigned char>u[i - 1]] & H1_C_DIGIT):
            i -= 1
        if i == n or i < 2 or u[i - 1] != b':':
            return -1
        if memchr(u, b'/', n) != NULL:
            return -1
        return 0
    if u[0] == b'/':
        return 0
    if u[0] == b'*':
        return 0 if (n == 1 and meth == H1_M_OPTIONS) else -1
    # absolute-form
    if not ((u[0] | 0x20) >= b'a' and (u[0] | 0x20) <= b'z'):
        return -1
    i = 1
    while i < n and (h1_ctab[<unsigned char>u[i]] & H1_C_SCHEME):
        i += 1
    # "scheme://" -- a bare "host:port" would also parse as scheme ":" path, HAProxy refuses it
    if i + 2 >= n or u[i] != b':' or u[i + 1] != b'/' or u[i + 2] != b'/':
        return -1
    return 0

cdef int h1_parse_response(const char *buf, int len, h1_msg *m) noexcept nogil:
    cdef int lim = len if len < H1_MAX_HDR_BLOCK else H1_MAX_HDR_BLOCK
    cdef int p = 0, r, e
    cdef unsigned char c
    _h1_reset(m)
    m.ver_off = 0
    r = _h1_version(buf, 0, lim, m)
    if r == 0:
        return _h1_resp_need(m, lim, len)
    if r < 0:
        return _h1_fail(m, m.err_pos, 502)
    m.ver_len = 8
    if m.major != 1:
        return _h1_fail(m, 7, 502)
    p = 8
    if p >= lim:
        return _h1_resp_need(m, lim, len)
    if buf[p] != b' ':
        return _h1_fail(m, p, 502)
    p += 1
    e = p + 3
    while p < e:
        if p >= lim:
            return _h1_resp_need(m, lim, len)
        c = <unsigned char>buf[p]
        if not (h1_ctab[c] & H1_C_DIGIT):
            return _h1_fail(m, p, 502)
        m.status = m.status * 10 + (c - 48)
        p += 1
    if m.status < 100:
        return _h1_fail(m, p - 1, 502)
    if p >= lim:
        return _h1_resp_need(m, lim, len)
    if buf[p] == b' ':
        p += 1
        m.reason_off = p
        p = _h1_scan_value(buf, p, lim)
        if p >= lim:
            return _h1_resp_need(m, lim, len)
        m.reason_len = p - m.reason_off
    else:
        m.reason_off = p
    r = _h1_eol(buf, p, lim)
    if r == 0:
        return _h1_resp_need(m, lim, len)
    if r < 0:
        return _h1_fail(m, p - r - 1, 502)
    p += r
    m.first_line_len = p
    e = _h1_headers(buf, p, lim, m, 502)
    if e == 0 and len >= H1_MAX_HDR_BLOCK:
        return _h1_fail(m, lim - 1, 502)
    return e

cdef inline int _h1_resp_need(h1_msg *m, int lim, int len) noexcept nogil:
    if len >= H1_MAX_HDR_BLOCK:
        return _h1_fail(m, lim - 1, 502)
    return 0

cdef int h1_hdr_name_is(const char *buf, h1_hdr *h, const char *name, int nlen) noexcept nogil:
    # 1 when header h's name equals name (case-insensitive)
    if h.n_len != nlen:
        return 0
    return _h1_ieq(buf + h.n_off, name, nlen)

cdef int h1_find_hdr(const char *buf, h1_msg *m, const char *name, int nlen, int frm) noexcept nogil:
    # index of the first header at or after index frm named name (case-insensitive), -1 if none
    cdef int i
    for i in range(frm if frm > 0 else 0, m.nhdr):
        if m.hdr[i].n_len == nlen and _h1_ieq(buf + m.hdr[i].n_off, name, nlen):
            return i
    return -1


# ---------------------------------------------------------------------------------------------
# haproxy 2.6's byte counts in HTTP mode: the size of a message in its HTX form, not on the wire

cdef enum:
    HTX_SL_FIXED = 20       # a start line's block: flags, info and three lengths before its text


cdef int _htx_conn_value_len(const char *v, int n) noexcept nogil:
    # a Connection header's value once 2.6's H1 parser has dropped its close/keep-alive tokens
    # (what is left is rejoined with ", "; 0: the header is dropped)
    cdef int i = 0, a, b, kept = 0, out = 0
    while i < n:
        while i < n and (v[i] == b' ' or v[i] == b'\t' or v[i] == b','):
            i += 1
        a = i
        while i < n and v[i] != b',':
            i += 1
        b = i
        while b > a and (v[b - 1] == b' ' or v[b - 1] == b'\t'):
            b -= 1
        if b == a or (b - a == 5 and _h1_ieq(v + a, b"close", 5)) or (
                b - a == 10 and _h1_ieq(v + a, b"keep-alive", 10)):
            continue
        out += (b - a) + (2 if kept else 0)
        kept += 1
    return out


cdef long long htx_head_size(const char *buf, h1_msg *m, int is_req) noexcept nogil:
    """The HTX size of a parsed head (what 2.6 counts for it in %U/%B and bin/bout): the start
    line's block (its fixed part and its three words), each header's name and value, and the
    end-of-headers block; Connection's close/keep-alive tokens are not kept."""
    cdef long long n = HTX_SL_FIXED + 1
    cdef int i, k
    cdef h1_hdr *h
    if is_req:
        n += m.meth_len + m.uri_len + m.ver_len
    else:
        n += m.ver_len + 3 + m.reason_len
    for i in range(m.nhdr):
        h = &m.hdr[i]
        if m.cl_drop >= 0 and h.n_len == 14 and _h1_ieq(buf + h.n_off, b"content-length", 14):
            continue            # (dropped by the parser: chunked wins)
        if h.n_len == 10 and _h1_ieq(buf + h.n_off, b"connection", 10):
            k = _htx_conn_value_len(buf + h.v_off, h.v_len)
            if k:
                n += 10 + k
        else:
            n += h.n_len + h.v_len
    return n
