# HTTP/2 streams as their sessions see them (the connection side is h2.pxi): the stream table,
# the virtual client fd a stream's session reads its request from and writes its answer to
# (h2v_recv/h2v_send, reached through tls_recv()/tls_send()), the queue of wake-ups between a
# stream and its session, and what the rest of a session asks of its stream (its connection's
# TLS state, its log line, whether it may reuse a parked server connection).

cdef enum:
    H2_OUT_CAP = 65536          # frames waiting for the client socket
    H2_PS_OFF = 8192            # hd: header lines below, pseudo-header values from here
    H2_MAX_COOKIES = 32

cdef enum:                      # how the answer's body is delimited (h2s_t.body)
    H2B_HDRS = 0                # the answer's header block is not complete yet
    H2B_NONE = 1
    H2B_LEN = 2
    H2B_CHUNKED = 3
    H2B_EOF = 4                 # until the stream session closes its side
    H2B_DONE = 5

cdef struct h2c_t:
    nghttp2_session *ng
    int idx                     # the connection's own session (state ST_H2)
    char *out                   # frames produced, not yet written
    int out_len, out_off
    const uint8_t *pend         # the rest of nghttp2's last output (valid until its next mem_send)
    ssize_t pend_len
    int first                   # its streams: a list of slots, -1 ends it
    int nstreams
    int goaway                  # soft stop: 1 first GOAWAY sent, 2 the final one, 3 write side shut
    int dirty                   # in g_h2_dirty

cdef struct h2s_t:
    unsigned int gen
    int used
    int conn                    # the connection's session index
    int sid                     # HTTP/2 stream id
    int sess                    # the stream's session (-1 none, or ended), and its generation
    int queued                  # in the wake-up queue
    int wake_sess, wake_rsp     # what to run then: the session (it may read or write more), the answer
    unsigned int sess_gen
    int next, prev
    # the request
    char *hd                    # "name: value\r\n" lines, then pseudo-header values at H2_PS_OFF
    int hd_len, ps_len
    int meth_off, meth_len, path_off, path_len, auth_off, auth_len, sch_off, sch_len
    int ck_off[H2_MAX_COOKIES]
    int ck_len[H2_MAX_COOKIES]
    int nck
    int has_host, has_cl, chunked, head, bad
    char *rq                    # request bytes its session has not read yet
    int rq_len, rq_off, rq_cap
    int rq_pooled               # rq is a pooled buffer (else malloc'ed)
    int rq_data                 # DATA payload bytes among them (window given back once written)
    # the answer
    char *rs                    # what the session wrote, not yet sent (BUFSIZE at most)
    int rs_len, rs_off
    int rs_full                 # the session was told to wait (EAGAIN): wake it once rs empties
    int body
    long long left
    h1_chunk ck
    int gw_eof                  # the session has ended: nothing more will be written
    char *trl                   # the answer's chunked trailer section as received (pooled), or NULL
    int trl_len
    int req_trl                 # the request's trailer fields are being gathered in hd (below H2_PS_OFF)
    int deferred

cdef enum:
    # An HTTP/2 stream's session has a virtual client fd, VFD_BASE + its stream slot: no socket,
    # tls_recv()/tls_send() read and write the stream's memory (h2v_recv/h2v_send), and the
    # syscalls a session makes on it (shutdown, close, setsockopt) fail harmlessly (EBADF).
    VFD_BASE = 1 << 28


cdef h2s_t *g_h2s = NULL
cdef int *g_h2s_free = NULL
cdef int g_h2s_nfree = 0
cdef h2c_t **g_h2c = NULL               # indexed by the connection's session index
cdef nghttp2_session_callbacks *g_h2_cbs = NULL
cdef nghttp2_option *g_h2_opt = NULL
cdef int g_h2_max_streams = 100         # tune.h2.max-concurrent-streams (2.6's default)
cdef int g_h2_window = 65535            # tune.h2.initial-window-size
cdef int g_h2_hdr_table = 4096          # tune.h2.header-table-size
cdef int *g_h2_wake = NULL              # stream slots to run (h2_run_wakes)
cdef int g_h2_nwake = 0
cdef int *g_h2_dirty = NULL             # connections to write once the wake-ups have run
cdef int g_h2_ndirty = 0


cdef inline int sess_tls_fd(sess_t *s) noexcept nogil:
    """The fd whose TLS state describes this session's client: an HTTP/2 stream's connection."""
    if s.h2c:
        return g_sess[s.h2c - 1].cfd
    return s.cfd


cdef void h2s_wake(h2s_t *st, int sess, int rsp) noexcept nogil:
    """Have the event loop run the stream's session (it can read or write more) and/or its
    answer (there is more to send) after the current events."""
    global g_h2_nwake
    if sess:
        st.wake_sess = 1
    if rsp:
        st.wake_rsp = 1
    if not st.queued:
        st.queued = 1
        g_h2_wake[g_h2_nwake] = <int>(st - g_h2s)
        g_h2_nwake += 1


cdef ssize_t h2v_recv(int slot, char *buf, size_t n) noexcept nogil:
    """recv() of a stream session's virtual client: the HTTP/1.1 form of the request."""
    cdef h2s_t *st = &g_h2s[slot]
    cdef int k
    cdef h2c_t *c
    if not st.used:
        return 0
    k = st.rq_len - st.rq_off
    if k == 0:
        tls_set_errno(EAGAIN)
        return -1
    if <size_t>k > n:
        k = <int>n
    memcpy(buf, st.rq + st.rq_off, k)
    st.rq_off += k
    if st.rq_off == st.rq_len:
        st.rq_off = 0
        st.rq_len = 0
        c = g_h2c[st.conn]
        if st.rq_data > 0 and c != NULL:
            # all of it read: the client may send that much more (WINDOW_UPDATE, sent by the wake-up)
            nghttp2_session_consume(c.ng, st.sid, st.rq_data)
            st.rq_data = 0
            h2s_wake(st, 0, 0)
    return k


cdef ssize_t h2v_send(int slot, const char *buf, size_t n) noexcept nogil:
    """send() of a stream session's virtual client: its HTTP/1.1 answer, into the stream's
    buffer (EAGAIN when full: the session waits, as on a full socket)."""
    cdef h2s_t *st = &g_h2s[slot]
    cdef int k
    if not st.used or st.rs == NULL:
        tls_set_errno(EPIPE)
        return -1
    if st.rs_off > 0 and st.rs_len + <int>n > BUFSIZE:
        memmove(st.rs, st.rs + st.rs_off, st.rs_len - st.rs_off)
        st.rs_len -= st.rs_off
        st.rs_off = 0
    k = BUFSIZE - st.rs_len
    if k == 0:
        st.rs_full = 1
        tls_set_errno(EAGAIN)
        return -1
    if <size_t>k >= n:
        k = <int>n
    else:
        st.rs_full = 1      # a short write: the session may now wait to be told there is room
    memcpy(st.rs + st.rs_len, buf, k)
    st.rs_len += k
    h2s_wake(st, 0, 1)
    return k


cdef void h2s_sess_closed(sess_t *s) noexcept nogil:
    """A stream's session ends (sess_close): whatever it wrote is all there will be."""
    cdef h2s_t *st = &g_h2s[s.h2s - 1]
    if not st.used or st.sess < 0 or &g_sess[st.sess] != s or s.gen != st.sess_gen:
        return
    st.sess = -1
    st.gw_eof = 1
    h2s_wake(st, 0, 1)


cdef void _h2s_rs_taken(h2s_t *st) noexcept nogil:
    """Bytes were taken from rs: a session waiting for room may write again."""
    if st.rs_full and st.sess >= 0:
        st.rs_full = 0
        g_sess[st.sess].cli_wr = 1
        h2s_wake(st, 1, 0)


cdef void h2s_client_timeout(sess_t *s) noexcept nogil:
    """A stream's session ends on `timeout client`: the client did not read its answer (a window
    held at zero) or did not send its body. Its stream is reset (CANCEL) as 2.6 aborts it; the
    connection's timer sends the frame (this runs inside sess_close, never inside nghttp2)."""
    cdef h2s_t *st = &g_h2s[s.h2s - 1]
    cdef h2c_t *c
    cdef sess_t *cs
    if not st.used or st.sess < 0 or &g_sess[st.sess] != s or g_sess[st.sess].gen != st.sess_gen:
        return
    c = g_h2c[st.conn]
    if c == NULL:
        return
    nghttp2_submit_rst_stream(c.ng, NGHTTP2_FLAG_NONE, st.sid, NGHTTP2_CANCEL)
    cs = &g_sess[st.conn]
    cs.cli_exp = g_now
    sess_arm(cs, st.conn)


# ---- the log's request line: 2.6 shows an HTTP/2 request in absolute form, version HTTP/2.0

cdef int h2_log_reqline(sess_t *s, char *out, int cap) noexcept nogil:
    """"METHOD scheme://authority/path HTTP/2.0" for an HTTP/2 stream's session, or 0."""
    cdef h2s_t *st
    cdef int n = 0
    if s.h2s == 0:
        return 0
    st = &g_h2s[s.h2s - 1]
    if not st.used or st.hd == NULL:
        return 0
    if st.meth_len + st.sch_len + st.auth_len + st.path_len + 16 > cap:
        return 0
    memcpy(out, st.hd + st.meth_off, st.meth_len)
    n = st.meth_len
    out[n] = b' '
    n += 1
    if st.sch_len > 0 and st.auth_len > 0:
        memcpy(out + n, st.hd + st.sch_off, st.sch_len)
        n += st.sch_len
        memcpy(out + n, b"://", 3)
        n += 3
        memcpy(out + n, st.hd + st.auth_off, st.auth_len)
        n += st.auth_len
    memcpy(out + n, st.hd + st.path_off, st.path_len)
    n += st.path_len
    memcpy(out + n, b" HTTP/2.0", 9)
    return n + 9


cdef int h2_htx_more(sess_t *s, int chunked) noexcept nogil:
    """What 2.6's HTX form of an HTTP/2 stream's request holds more (or less) than the HTTP/1.1
    one it is read as: its URI in absolute form (scheme://authority) when both were given; not
    the `transfer-encoding: chunked` written for a body without a length (chunked: the head
    says so), nor the end of trailers its chunked framing stands for (a body sent with trailers
    is not checked against 2.6). 0 for a request that is no HTTP/2 stream's."""
    cdef h2s_t *st
    cdef int n = 0
    if s.h2s == 0:
        return 0
    st = &g_h2s[s.h2s - 1]
    if not st.used or st.hd == NULL:
        return 0
    if st.sch_len > 0 and st.auth_len > 0:
        n = st.sch_len + 3 + st.auth_len
    if chunked:
        n -= 17 + 7 + 1
    return n


# ---- HTTP/2 with prior knowledge on an HTTP/1.1 listener

cdef int h2_preface_seen(sess_t *s) noexcept nogil:
    """The first bytes of a connection's first request against the HTTP/2 connection preface:
    1 all 24 of them (2.6 takes HTTP/2 this way on any HTTP bind, `proto h2` or not), 2 a part
    of it so far (wait for the rest), 0 not a preface."""
    cdef const char *pre = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    cdef int n = s.req.buf_in
    if memcmp(s.req.buf, pre, n if n < 24 else 24) != 0:
        return 0
    return 1 if n >= 24 else 2
