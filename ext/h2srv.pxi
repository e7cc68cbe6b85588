# HTTP/2 towards the servers (`server ... proto h2`, or `ssl alpn h2` when the server chose h2):
# a layer on the server connection's fd, above TLS, as TLS is above the socket. The session
# writes and reads its server in HTTP/1.1 as it does for any server (io_send()/io_recv(), which
# the channels call): the request's bytes are parsed (head, then its Content-Length or chunked
# body) and sent as one stream of an nghttp2 client session; the stream's HEADERS and DATA come
# back as HTTP/1.1 response bytes (a status line, the fields, a chunked body when there is no
# content-length, the trailing HEADERS as the chunked body's trailer fields). So the whole
# response analysis, the rules, the cookies and the log apply unchanged.
#
# One stream at a time per connection: the session that holds the connection has one request
# in flight; a kept-alive connection carries the session's next request as a new stream, and
# idle connections parked in the server pool (srvpool.pxi) serve later sessions. Streams of
# several sessions are not multiplexed on one connection at once (2.6 does, `http-reuse`).
#
# I/O: the layer's own bytes go through tls_recv()/tls_send() (plain or TLS). A short read
# still means that the socket is drained: io_recv() reads it until EAGAIN before it returns
# less than asked. What nghttp2 writes and the socket does not take waits in `wout`, sent on
# the next call or on EPOLLOUT (h2o_events). A request body waits in `body` (H2O_BODY_MAX) until
# the server's window lets nghttp2 take it; when it is full io_send() says EAGAIN, and the
# next EPOLLIN (a WINDOW_UPDATE) counts as writable (h2o_events), as TLS does for its reads.

cdef enum:
    H2O_BODY_MAX = 65536
    H2O_HEAD_MAX = 16384
    H2O_RD_CAP = 262144          # response bytes held before the socket is read again
    H2O_TRL_MAX = 4096           # a chunked request's trailer section, passed on as trailers
    H2O_TRL_NV = 64
    RQ_HEAD = 0                  # reading the request's head
    RQ_BODY = 1                  # its body
    RQ_SENT = 2                  # the whole request is in nghttp2's hands


cdef struct h2o_t:
    nghttp2_session *ng
    int fd
    int dead                     # the connection failed or is closing (GOAWAY, EOF): no new stream
    int up                       # the server's SETTINGS came: it speaks HTTP/2
    int want_rd                  # io_send() said EAGAIN: the next EPOLLIN makes it writable
    char *wout                   # wire bytes waiting for the socket
    int wout_len, wout_off, wout_cap
    # the request being sent
    int rq
    char head[H2O_HEAD_MAX]
    int head_len
    int head_req                 # a HEAD request: its answer has no body
    int h2cli                    # the next request is an HTTP/2 client's: 1 over h2c, 2 over TLS
    int rq_chunked
    long long rq_left            # Content-Length bytes still to come
    h1_chunk ck
    int32_t sid                  # the stream, 0 none yet
    char *body                   # the request body nghttp2 has not taken yet
    int body_len, body_off
    int body_end                 # the whole body is in `body`
    int deferred                 # the data provider said DEFERRED (resume when bytes come)
    int st_closed                # the stream is closed (what is still sent of the request is dropped)
    char trl[H2O_TRL_MAX]        # the chunked request's trailer lines ("name: value\r\n"...)
    int trl_len
    # the response being received
    char *rout                   # HTTP/1.1 response bytes for io_recv()
    int rout_len, rout_off, rout_cap
    int rs_final                 # the final (non-1xx) HEADERS came
    int rs_status
    int rs_has_cl
    int rs_chunked
    int rs_done                  # the response's END_STREAM came
    int rs_err                   # the stream was reset (or the connection lost) before its end
    int rs_trl                   # a trailing HEADERS block is being read
    int eof                      # the socket's end came


cdef h2o_t **g_h2o = NULL        # indexed by fd: the HTTP/2 layer of a server connection, or NULL
cdef int g_h2o_max = 0
cdef nghttp2_session_callbacks *g_h2o_cbs = NULL
cdef h1_msg g_h2o_msg            # scratch: the request head parsed


cdef inline h2o_t *h2o_of(int fd) noexcept nogil:
    if g_h2o == NULL or fd < 0 or fd >= g_h2o_max:
        return NULL
    return g_h2o[fd]


cdef int _h2o_grow(char **b, int *cap, int need) noexcept nogil:
    cdef int c = cap[0] if cap[0] else 4096
    cdef char *p
    if need <= cap[0]:
        return 0
    while c < need:
        c *= 2
    p = <char *>realloc(b[0], c)
    if p == NULL:
        return -1
    b[0] = p
    cap[0] = c
    return 0


cdef int _h2o_rout_add(h2o_t *o, const char *p, int n) noexcept nogil:
    if o.rout_off > 0 and o.rout_off == o.rout_len:
        o.rout_off = o.rout_len = 0
    if _h2o_grow(&o.rout, &o.rout_cap, o.rout_len + n) < 0:
        o.rs_err = 1
        return -1
    memcpy(o.rout + o.rout_len, p, n)
    o.rout_len += n
    return 0


cdef inline int _h2o_rout_str(h2o_t *o, const char *p) noexcept nogil:
    return _h2o_rout_add(o, p, <int>strlen(p))


cdef inline int _h2o_is(const char *p, int n, const char *w) noexcept nogil:
    cdef int k = <int>strlen(w), i
    cdef char c
    if n != k:
        return 0
    for i in range(n):
        c = p[i]
        if c >= b'A' and c <= b'Z':
            c = c + 32
        if c != w[i]:
            return 0
    return 1


# ---- nghttp2's callbacks (the response)

cdef int _h2o_on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                        const uint8_t *value, size_t vlen, uint8_t flags, void *ud) noexcept nogil:
    cdef h2o_t *o = <h2o_t *>ud
    cdef char line[64]
    cdef int st = 0, i
    if f.hd.type != NGHTTP2_HEADERS or f.hd.stream_id != o.sid:
        return 0
    if nlen == 7 and memcmp(name, b":status", 7) == 0:
        for i in range(<int>vlen if vlen < 4 else 4):
            st = st * 10 + (value[i] - 48)
        o.rs_status = st
        o.rs_trl = 0
        # (no reason phrase: HTTP/2 has none, and 2.6 writes none: "HTTP/1.1 200 ")
        snprintf(line, sizeof(line), b"HTTP/1.1 %d \r\n", st)
        _h2o_rout_str(o, line)
        return 0
    if nlen > 0 and name[0] == b':':
        return 0
    if o.rs_final and not o.rs_trl:
        o.rs_trl = 1            # a HEADERS block after the final one: the trailers
    if o.rs_trl:
        if not o.rs_chunked:
            return 0            # (a Content-Length body has no trailers in HTTP/1.1)
        _h2o_trailer_start(o)
    else:
        if nlen == 14 and memcmp(name, b"content-length", 14) == 0:
            o.rs_has_cl = 1
        if (nlen == 17 and memcmp(name, b"transfer-encoding", 17) == 0) \
                or (nlen == 10 and memcmp(name, b"connection", 10) == 0) \
                or (nlen == 10 and memcmp(name, b"keep-alive", 10) == 0):
            return 0
    _h2o_rout_add(o, <const char *>name, <int>nlen)
    _h2o_rout_add(o, b": ", 2)
    _h2o_rout_add(o, <const char *>value, <int>vlen)
    _h2o_rout_add(o, b"\r\n", 2)
    return 0


cdef void _h2o_trailer_start(h2o_t *o) noexcept nogil:
    """The last chunk opens before the first trailer field (rs_trl 2: opened)."""
    if o.rs_trl == 1:
        _h2o_rout_add(o, b"0\r\n", 3)
        o.rs_trl = 2


cdef inline int _h2o_bodyless(h2o_t *o) noexcept nogil:
    return o.head_req or o.rs_status == 204 or o.rs_status == 304


cdef void _h2o_rs_end(h2o_t *o) noexcept nogil:
    """The response's END_STREAM: the end of its chunked body (with its trailers)."""
    if o.rs_done:
        return
    o.rs_done = 1
    if o.rs_chunked:
        if o.rs_trl == 2:
            _h2o_rout_add(o, b"\r\n", 2)
        else:
            _h2o_rout_add(o, b"0\r\n\r\n", 5)


cdef int _h2o_on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *ud) noexcept nogil:
    cdef h2o_t *o = <h2o_t *>ud
    if f.hd.type == NGHTTP2_SETTINGS:
        o.up = 1
        return 0
    if f.hd.type == NGHTTP2_GOAWAY:
        o.dead = 1               # no new stream on it; the streams it refused are closed by nghttp2
        return 0
    if f.hd.stream_id != o.sid or o.sid == 0:
        return 0
    if f.hd.type == NGHTTP2_HEADERS:
        if not o.rs_final and o.rs_status >= 100 and o.rs_status < 200:
            _h2o_rout_add(o, b"\r\n", 2)          # an interim answer, another HEADERS follows
            o.rs_status = 0
        elif not o.rs_final and o.rs_status:
            o.rs_final = 1
            if not o.rs_has_cl and not _h2o_bodyless(o):
                _h2o_rout_add(o, b"transfer-encoding: chunked\r\n", 28)
                o.rs_chunked = 1
            _h2o_rout_add(o, b"\r\n", 2)
        if f.hd.flags & NGHTTP2_FLAG_END_STREAM:
            _h2o_rs_end(o)
    elif f.hd.type == NGHTTP2_DATA and f.hd.flags & NGHTTP2_FLAG_END_STREAM:
        _h2o_rs_end(o)
    return 0


cdef int _h2o_on_data(nghttp2_session *ng, uint8_t flags, int32_t sid, const uint8_t *data, size_t n,
                      void *ud) noexcept nogil:
    cdef h2o_t *o = <h2o_t *>ud
    cdef char line[32]
    if sid != o.sid or not o.rs_final or _h2o_bodyless(o) or n == 0:
        return 0
    if o.rs_chunked:
        snprintf(line, sizeof(line), b"%zX\r\n", n)     # (upper case, as 2.6)
        _h2o_rout_str(o, line)
    _h2o_rout_add(o, <const char *>data, <int>n)
    if o.rs_chunked:
        _h2o_rout_add(o, b"\r\n", 2)
    return 0


cdef int _h2o_on_close(nghttp2_session *ng, int32_t sid, uint32_t err, void *ud) noexcept nogil:
    cdef h2o_t *o = <h2o_t *>ud
    if sid != o.sid:
        return 0
    o.st_closed = 1
    if not o.rs_done:
        o.rs_err = 1            # RST_STREAM, or refused by a GOAWAY: the session sees a reset
    return 0


cdef void _h2o_body_eof(h2o_t *o, uint32_t *flags) noexcept nogil:
    """The request body's end: END_STREAM on this DATA frame, or a trailing HEADERS frame with
    the chunked request's trailer fields (names in lower case; framing fields left out)."""
    cdef nghttp2_nv nv[H2O_TRL_NV]
    cdef int n = 0, p = 0, e, c, v, k
    flags[0] |= NGHTTP2_DATA_FLAG_EOF
    while p < o.trl_len and n < H2O_TRL_NV:
        e = p
        while e < o.trl_len and o.trl[e] != b'\n':
            e += 1
        c = p
        while c < e and o.trl[c] != b':':
            if o.trl[c] >= b'A' and o.trl[c] <= b'Z':
                o.trl[c] = o.trl[c] + 32
            c += 1
        v = c + 1
        while v < e and (o.trl[v] == b' ' or o.trl[v] == b'\t'):
            v += 1
        k = e
        while k > v and (o.trl[k - 1] == b'\r' or o.trl[k - 1] == b' ' or o.trl[k - 1] == b'\t'):
            k -= 1
        if c < e and c > p and not (_h2o_is(o.trl + p, c - p, b"content-length")
                                    or _h2o_is(o.trl + p, c - p, b"transfer-encoding")
                                    or _h2o_is(o.trl + p, c - p, b"connection")
                                    or _h2o_is(o.trl + p, c - p, b"host")):
            nv[n].name = <uint8_t *>(o.trl + p)
            nv[n].namelen = c - p
            nv[n].value = <uint8_t *>(o.trl + v)
            nv[n].valuelen = k - v if k > v else 0
            nv[n].flags = NGHTTP2_NV_FLAG_NONE
            n += 1
        p = e + 1
    o.trl_len = 0
    if n and nghttp2_submit_trailer(o.ng, o.sid, nv, n) == 0:
        flags[0] |= NGHTTP2_DATA_FLAG_NO_END_STREAM


cdef ssize_t _h2o_read_body(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *ud) noexcept nogil:
    """nghttp2 takes request body bytes for DATA frames as the server's window allows."""
    cdef h2o_t *o = <h2o_t *>ud
    cdef int avail = o.body_len - o.body_off
    cdef int k
    if avail == 0:
        if o.body_end:
            _h2o_body_eof(o, flags)
            return 0
        o.deferred = 1
        return NGHTTP2_ERR_DEFERRED
    k = avail if <size_t>avail < length else <int>length
    memcpy(buf, o.body + o.body_off, k)
    o.body_off += k
    if o.body_off == o.body_len:
        o.body_off = o.body_len = 0
        if o.body_end:
            _h2o_body_eof(o, flags)
    return k


# ---- the connection's bytes

cdef int _h2o_out(h2o_t *o) noexcept nogil:
    """Send what nghttp2 has to send: 0 (all sent, or the rest waits in wout), -1 failed."""
    cdef const uint8_t *p
    cdef ssize_t k, r
    while True:
        while o.wout_off < o.wout_len:
            r = tls_send(o.fd, o.wout + o.wout_off, o.wout_len - o.wout_off)
            if r > 0:
                o.wout_off += r
                continue
            if r < 0 and (errno == EAGAIN or errno == EINTR):
                return 0
            o.dead = 1
            return -1
        o.wout_off = o.wout_len = 0
        k = nghttp2_session_mem_send(o.ng, &p)
        if k < 0:
            o.dead = 1
            return -1
        if k == 0:
            return 0
        r = tls_send(o.fd, <const char *>p, k)
        if r < 0:
            if errno != EAGAIN and errno != EINTR:
                o.dead = 1
                return -1
            r = 0
        if r < k:
            if _h2o_grow(&o.wout, &o.wout_cap, <int>(k - r)) < 0:
                o.dead = 1
                return -1
            memcpy(o.wout, p + r, k - r)
            o.wout_len = <int>(k - r)
            return 0


cdef int _h2o_in(h2o_t *o) noexcept nogil:
    """Read the socket until it is drained (or response bytes wait): 1 read, 0 its end,
    -1 nothing (EAGAIN), -2 failed."""
    cdef char b[16384]
    cdef ssize_t n, r
    cdef int got = 0
    while o.rout_len - o.rout_off < H2O_RD_CAP:
        n = tls_recv(o.fd, b, sizeof(b))
        if n == 0:
            o.eof = 1
            o.dead = 1
            if not o.rs_done:
                o.rs_err = 1
            return 0
        if n < 0:
            if errno == EINTR:
                continue
            if errno == EAGAIN:
                break
            o.dead = 1
            if not o.rs_done:
                o.rs_err = 1
            return -2
        got = 1
        r = nghttp2_session_mem_recv(o.ng, <const uint8_t *>b, n)
        if r < 0:
            o.dead = 1
            if not o.rs_done:
                o.rs_err = 1
            _h2o_out(o)          # (the GOAWAY nghttp2 wrote about it)
            return -2
    _h2o_out(o)
    return 1 if got else -1


# ---- the request (HTTP/1.1 bytes from the session)

cdef int _h2o_submit(h2o_t *o, int hlen) noexcept nogil:
    """The request's head is whole in o.head: submit its HEADERS (the pseudo-header fields as
    2.6 writes them: an origin-form target goes with `:scheme https` and the Host field, an
    absolute one gives :scheme and :authority and drops Host; an HTTP/2 client's request, which
    2.6 holds in absolute form, gives its connection's scheme and its Host as :authority). 0, or -1."""
    cdef h1_msg *m = &g_h2o_msg
    cdef nghttp2_nv nv[H1_MAX_HDRS + 4]
    cdef nghttp2_data_provider prd
    cdef char *h = o.head
    cdef char *u
    cdef char *hn
    cdef int nn = 0, i, k, hl, ul, sl = 0, al = 0, a0 = 0
    cdef int32_t sid
    cdef int h2cli = o.h2cli
    o.h2cli = 0
    if h1_parse_request(h, hlen, m) <= 0:
        return -1
    u = h + m.uri_off
    ul = m.uri_len
    o.head_req = _h2o_is(h + m.meth_off, m.meth_len, b"head")
    nv[nn].name = <uint8_t *>b":method"
    nv[nn].namelen = 7
    nv[nn].value = <uint8_t *>(h + m.meth_off)
    nv[nn].valuelen = m.meth_len
    nn += 1
    if ul > 0 and u[0] != b'/' and u[0] != b'*':
        while sl < ul and u[sl] != b':':
            sl += 1
        if sl + 2 < ul and u[sl + 1] == b'/' and u[sl + 2] == b'/':
            a0 = sl + 3
            al = 0
            while a0 + al < ul and u[a0 + al] != b'/':
                al += 1
        else:
            sl = 0
    nv[nn].name = <uint8_t *>b":scheme"
    nv[nn].namelen = 7
    if al or sl:
        nv[nn].value = <uint8_t *>u
        nv[nn].valuelen = sl
    elif h2cli == 1:
        nv[nn].value = <uint8_t *>b"http"
        nv[nn].valuelen = 4
    else:
        nv[nn].value = <uint8_t *>b"https"
        nv[nn].valuelen = 5
    nn += 1
    if h2cli and not (al or sl) and m.host_off >= 0:
        nv[nn].name = <uint8_t *>b":authority"
        nv[nn].namelen = 10
        nv[nn].value = <uint8_t *>(h + m.host_off)
        nv[nn].valuelen = m.host_len
        nn += 1
        al = -1                 # (Host goes as :authority, not as a field)
    if al > 0:
        nv[nn].name = <uint8_t *>b":authority"
        nv[nn].namelen = 10
        nv[nn].value = <uint8_t *>(u + a0)
        nv[nn].valuelen = al
        nn += 1
        u += a0 + al
        ul -= a0 + al
    elif sl:
        u += sl + 3
        ul -= sl + 3
    nv[nn].name = <uint8_t *>b":path"
    nv[nn].namelen = 5
    nv[nn].value = <uint8_t *>u if ul > 0 else <uint8_t *>b"/"
    nv[nn].valuelen = ul if ul > 0 else 1
    nn += 1
    for i in range(nn):
        nv[i].flags = NGHTTP2_NV_FLAG_NONE
    for i in range(m.nhdr):
        hn = h + m.hdr[i].n_off
        hl = m.hdr[i].n_len
        if _h2o_is(hn, hl, b"connection") or _h2o_is(hn, hl, b"proxy-connection") \
                or _h2o_is(hn, hl, b"keep-alive") or _h2o_is(hn, hl, b"upgrade") \
                or _h2o_is(hn, hl, b"transfer-encoding") or (al != 0 and _h2o_is(hn, hl, b"host")):
            continue
        for k in range(hl):                   # (HTTP/2 field names are in lower case)
            if hn[k] >= b'A' and hn[k] <= b'Z':
                hn[k] = hn[k] + 32
        nv[nn].name = <uint8_t *>hn
        nv[nn].namelen = hl
        nv[nn].value = <uint8_t *>(h + m.hdr[i].v_off)
        nv[nn].valuelen = m.hdr[i].v_len
        nv[nn].flags = NGHTTP2_NV_FLAG_NONE
        if _h2o_is(hn, hl, b"te"):
            if not _h1_te_trailers(h + m.hdr[i].v_off, m.hdr[i].v_len):
                continue        # (only "trailers" goes on, as 2.6's H1 output: h1edit.pxi)
            nv[nn].value = <uint8_t *>b"trailers"
            nv[nn].valuelen = 8
        nn += 1
    o.rq_chunked = m.chunked
    o.rq_left = m.content_length if m.content_length > 0 and not m.chunked else 0
    h1_chunk_init(&o.ck)
    o.body_len = o.body_off = 0
    o.body_end = 0
    o.deferred = 0
    o.st_closed = 0
    o.trl_len = 0
    o.rs_final = o.rs_status = o.rs_has_cl = o.rs_chunked = o.rs_done = o.rs_err = o.rs_trl = 0
    prd.source.ptr = o
    prd.read_callback = _h2o_read_body
    if o.rq_chunked or o.rq_left > 0:
        sid = nghttp2_submit_request(o.ng, NULL, nv, nn, &prd, NULL)
        o.rq = RQ_BODY
    else:
        sid = nghttp2_submit_request(o.ng, NULL, nv, nn, NULL, NULL)
        o.rq = RQ_SENT
    if sid <= 0:
        o.dead = 1
        return -1
    o.sid = sid
    return 0


cdef int _h2o_body_add(h2o_t *o, const char *p, int n) noexcept nogil:
    """Request body bytes (decoded) for the data provider: how many fitted."""
    cdef int k
    if o.st_closed:
        return n               # (the server ended the stream: what is left is dropped)
    if o.body_off > 0:
        memmove(o.body, o.body + o.body_off, o.body_len - o.body_off)
        o.body_len -= o.body_off
        o.body_off = 0
    k = H2O_BODY_MAX - o.body_len
    if k > n:
        k = n
    if k > 0:
        memcpy(o.body + o.body_len, p, k)
        o.body_len += k
    return k


cdef ssize_t h2o_send(int fd, const char *buf, size_t n) noexcept nogil:
    """send() for an HTTP/2 server connection: the session's HTTP/1.1 request bytes."""
    cdef h2o_t *o = g_h2o[fd]
    cdef size_t used = 0
    cdef int k, e, take, hl, st
    cdef long long left
    if o.want_rd:
        o.want_rd = 0
        if _h2o_in(o) == -2:
            tls_set_errno(EPIPE)
            return -1
    if _h2o_out(o) < 0:
        tls_set_errno(EPIPE)
        return -1
    if o.wout_len > o.wout_off:
        tls_set_errno(EAGAIN)
        return -1
    while used < n:
        if o.rq == RQ_SENT:
            if not o.rs_done and not o.rs_err:
                break
            if o.dead:
                tls_set_errno(EPIPE)
                return -1
            o.rq = RQ_HEAD          # the session's next request: a new stream
            o.head_len = 0
            o.sid = 0
        if o.rq == RQ_HEAD:
            if o.dead:
                tls_set_errno(EPIPE)
                return -1
            take = <int>(n - used)
            if take > H2O_HEAD_MAX - o.head_len:
                take = H2O_HEAD_MAX - o.head_len
            memcpy(o.head + o.head_len, buf + used, take)
            hl = h1_hdr_block_end(o.head, o.head_len + take, o.head_len - 3 if o.head_len > 3 else 0)
            if hl <= 0:
                if o.head_len + take >= H2O_HEAD_MAX:
                    tls_set_errno(EPIPE)
                    return -1
                o.head_len += take
                used += take
                continue
            used += hl - o.head_len
            o.head_len = hl
            if _h2o_submit(o, hl) < 0:
                tls_set_errno(EPIPE)
                return -1
            continue
        # RQ_BODY
        if o.rq_chunked:
            if h1_chunk_data_left(&o.ck) > 0:
                left = h1_chunk_data_left(&o.ck)
                take = <int>(n - used) if <long long>(n - used) < left else <int>left
                k = _h2o_body_add(o, buf + used, take)
                if k == 0:
                    break
                h1_chunk_skip_data(&o.ck, k)
                used += k
            else:
                # framing bytes (sizes, CRLFs), and the trailer lines kept for a trailing HEADERS
                st = o.ck.state
                k = h1_chunk_feed(&o.ck, buf + used, 1)
                if k < 0:
                    tls_set_errno(EPIPE)
                    return -1
                if (st == H1_CK_TRL_LINE or st == H1_CK_TRL_LF
                        or (st == H1_CK_TRL_START and o.ck.state == H1_CK_TRL_LINE)) \
                        and o.trl_len < H2O_TRL_MAX:
                    o.trl[o.trl_len] = buf[used]
                    o.trl_len += 1
                used += 1
                if o.ck.done:
                    o.body_end = 1
                    o.rq = RQ_SENT
        else:
            take = <int>(n - used) if <long long>(n - used) < o.rq_left else <int>o.rq_left
            k = _h2o_body_add(o, buf + used, take)
            if k == 0:
                break
            o.rq_left -= k
            used += k
            if o.rq_left == 0:
                o.body_end = 1
                o.rq = RQ_SENT
    if o.deferred and o.sid and not o.st_closed and (o.body_len > o.body_off or o.body_end):
        o.deferred = 0
        nghttp2_session_resume_data(o.ng, o.sid)
    e = _h2o_out(o)
    if e < 0 and used == 0:
        tls_set_errno(EPIPE)
        return -1
    if used == 0 and n > 0:
        o.want_rd = 1               # the body waits for the server's window
        tls_set_errno(EAGAIN)
        return -1
    return <ssize_t>used


cdef ssize_t h2o_recv(int fd, char *buf, size_t n) noexcept nogil:
    """recv() for an HTTP/2 server connection: the stream's response as HTTP/1.1 bytes."""
    cdef h2o_t *o = g_h2o[fd]
    cdef size_t got = 0, k
    cdef int r
    while got < n:
        if o.rout_off < o.rout_len:
            k = <size_t>(o.rout_len - o.rout_off)
            if k > n - got:
                k = n - got
            memcpy(buf + got, o.rout + o.rout_off, k)
            o.rout_off += <int>k
            got += k
            continue
        o.rout_off = o.rout_len = 0
        if o.rs_err or o.eof:
            break
        r = _h2o_in(o)
        if r == -1:
            if got == 0:
                tls_set_errno(EAGAIN)
                return -1
            return <ssize_t>got
        if r == -2 and o.rout_off == o.rout_len:
            break
    if got > 0:
        return <ssize_t>got
    if o.rs_err:
        tls_set_errno(ECONNRESET)     # reset, refused, or the connection lost mid-stream
        return -1
    return 0


cdef int h2o_new(int fd) noexcept nogil:
    """An HTTP/2 layer for a server connection just established: its preface and SETTINGS go
    with the first request. 0, or -1."""
    cdef h2o_t *o
    cdef nghttp2_settings_entry iv[1]
    if g_h2o == NULL or fd < 0 or fd >= g_h2o_max:
        return -1
    o = <h2o_t *>calloc(1, sizeof(h2o_t))
    if o == NULL:
        return -1
    o.body = <char *>malloc(H2O_BODY_MAX)
    if o.body == NULL or nghttp2_session_client_new2(&o.ng, g_h2o_cbs, o, NULL) != 0:
        free(o.body)
        free(o)
        return -1
    o.fd = fd
    o.rq = RQ_HEAD
    iv[0].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH      # (no server push, as 2.6)
    iv[0].value = 0
    nghttp2_submit_settings(o.ng, NGHTTP2_FLAG_NONE, iv, 1)
    g_h2o[fd] = o
    return 0


cdef void h2o_free(int fd) noexcept nogil:
    cdef h2o_t *o = h2o_of(fd)
    if o == NULL:
        return
    g_h2o[fd] = NULL
    nghttp2_session_del(o.ng)
    free(o.body)
    free(o.wout)
    free(o.rout)
    free(o)


cdef int h2o_idle_event(int fd) noexcept nogil:
    """An idle HTTP/2 server connection had an event (SETTINGS, PING, WINDOW_UPDATE, GOAWAY, its
    end): 0 it stays usable, -1 it is to be closed."""
    cdef h2o_t *o = h2o_of(fd)
    _h2o_in(o)
    o.rout_off = o.rout_len = 0
    return -1 if o.dead else 0


# ---- what the channels and the loop call: a server fd's I/O with or without the layer

cdef inline ssize_t io_recv(int fd, char *buf, size_t n) noexcept nogil:
    if g_h2o != NULL and 0 <= fd < g_h2o_max and g_h2o[fd] != NULL:
        return h2o_recv(fd, buf, n)
    return tls_recv(fd, buf, n)


cdef inline ssize_t io_send(int fd, const char *buf, size_t n) noexcept nogil:
    if g_h2o != NULL and 0 <= fd < g_h2o_max and g_h2o[fd] != NULL:
        return h2o_send(fd, buf, n)
    return tls_send(fd, buf, n)


cdef inline int io_eof_pending(int fd) noexcept nogil:
    return h2o_of(fd) == NULL and tls_eof_pending(fd)


cdef inline int io_copy_only(int fd) noexcept nogil:
    """A side that never splices: TLS, an HTTP/2 stream's memory, an HTTP/2 server connection."""
    return cli_copy_only(fd) or h2o_of(fd) != NULL


cdef inline int h2o_never_up(int fd) noexcept nogil:
    """An HTTP/2 server connection that failed before the server's SETTINGS came (it does not
    speak HTTP/2): 2.6 counts that as a failed connection (retries, then 503 SC)."""
    cdef h2o_t *o = h2o_of(fd)
    return o != NULL and not o.up


cdef inline void h2o_client_h2(int fd, int tls) noexcept nogil:
    """The request about to be sent on fd is an HTTP/2 client's (tls: over TLS)."""
    cdef h2o_t *o = h2o_of(fd)
    if o != NULL and o.rq != RQ_BODY:
        o.h2cli = 2 if tls else 1


cdef inline int io_rd_pending(int fd) noexcept nogil:
    """Response bytes wait in the layer (read from the socket while sending): readable."""
    cdef h2o_t *o = h2o_of(fd)
    return o != NULL and (o.rout_off < o.rout_len or o.rs_err)


cdef unsigned int h2o_events(int fd, unsigned int events) noexcept nogil:
    """epoll events of a server fd as its layers see them (tls_fd_events first)."""
    cdef h2o_t *o
    events = <unsigned int>tls_fd_events(fd, events)
    o = h2o_of(fd)
    if o == NULL:
        return events
    if events & EPOLLOUT and o.wout_off < o.wout_len:
        _h2o_out(o)
    if o.want_rd and events & EPOLLIN:
        events |= EPOLLOUT
    return events


cdef inline void sfd_close(int fd) noexcept nogil:
    """Close a server connection, TLS (tlssrv.pxi), HTTP/2 or not: the fd-indexed states must go
    with the fd, or the next connection given that number would inherit them."""
    h2o_free(fd)
    tls_release(fd)
    srv_conn_unused(fd)
    close(fd)


# ---- start-up (Python)

cdef int h2o_setup() except -1:
    """The fd-indexed table and nghttp2's callbacks, when some server may speak HTTP/2."""
    global g_h2o, g_h2o_max, g_h2o_cbs
    if g_h2o != NULL:
        return 0
    import resource
    g_h2o_max = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 1 << 24)
    g_h2o = <h2o_t **>calloc(g_h2o_max, sizeof(h2o_t *))
    if g_h2o == NULL or nghttp2_session_callbacks_new(&g_h2o_cbs) != 0:
        raise MemoryError()
    nghttp2_session_callbacks_set_on_header_callback(g_h2o_cbs, _h2o_on_header)
    nghttp2_session_callbacks_set_on_frame_recv_callback(g_h2o_cbs, _h2o_on_frame)
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(g_h2o_cbs, _h2o_on_data)
    nghttp2_session_callbacks_set_on_stream_close_callback(g_h2o_cbs, _h2o_on_close)
    return 0
