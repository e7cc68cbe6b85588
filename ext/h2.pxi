# HTTP/2 client connections (issue 21), framed by nghttp2 (ext/includes/nghttp2.pxd)
# through its memory-buffer API: the connection's bytes go through tls_recv()/tls_send() as any
# client's, nghttp2 turns them into callbacks, and each stream becomes an HTTP/1.1 request.
#
# A stream is served by a session of its own, exactly as a request of an HTTP/1.1 client is:
# the stream's HEADERS are rewritten as an HTTP/1.1 request that the session reads from its
# virtual client fd (VFD_BASE + the stream's slot: tls_recv() -> h2v_recv(), memory, no socket),
# so the request meets the whole analysis (ACLs, use_backend, cookies, http-request/response
# rules, stick tables, logs) with no second code path; the session's HTTP/1.1 answer, written
# with tls_send() -> h2v_send() into the stream's buffer, is parsed with the same h1 parser and
# sent as HEADERS and DATA frames. docs/architecture.md "HTTP/2" says why.
#
# The two sides move each other through a queue of wake-ups run by the event loop after its
# events (h2_run_wakes), never from inside an nghttp2 callback into a session or back.
# Flow control keeps memory bounded both ways: DATA the client sends is given back to its window
# (nghttp2_session_consume) only once the session has read it; the answer is taken from the
# session (BUFSIZE at a time) only as fast as nghttp2 asks for it, so a client that does not
# read leaves the session blocked on its write, and `timeout client` applies to it.

cdef int h2_setup(int nsess, int max_streams, int window, int table) except -1:
    """Stream slots (one per possible session) and nghttp2's callbacks, at worker start."""
    global g_h2s, g_h2s_free, g_h2s_nfree, g_h2c, g_h2_cbs, g_h2_opt, g_h2_wake, g_h2_dirty
    global g_h2_max_streams, g_h2_window, g_h2_hdr_table
    cdef int i
    g_h2_max_streams = max_streams
    g_h2_window = window
    g_h2_hdr_table = table
    g_h2s = <h2s_t *>calloc(nsess, sizeof(h2s_t))
    g_h2s_free = <int *>malloc(sizeof(int) * nsess)
    g_h2c = <h2c_t **>calloc(nsess, sizeof(h2c_t *))
    g_h2_wake = <int *>malloc(sizeof(int) * nsess)
    g_h2_dirty = <int *>malloc(sizeof(int) * nsess)
    if g_h2s == NULL or g_h2s_free == NULL or g_h2c == NULL or g_h2_wake == NULL or g_h2_dirty == NULL:
        raise MemoryError()
    for i in range(nsess):
        g_h2s_free[i] = nsess - 1 - i
    g_h2s_nfree = nsess
    if nghttp2_session_callbacks_new(&g_h2_cbs) != 0 or nghttp2_option_new(&g_h2_opt) != 0:
        raise MemoryError()
    nghttp2_session_callbacks_set_on_begin_headers_callback(g_h2_cbs, _h2_on_begin_headers)
    nghttp2_session_callbacks_set_on_header_callback(g_h2_cbs, _h2_on_header)
    nghttp2_session_callbacks_set_on_frame_recv_callback(g_h2_cbs, _h2_on_frame_recv)
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(g_h2_cbs, _h2_on_data)
    nghttp2_session_callbacks_set_on_stream_close_callback(g_h2_cbs, _h2_on_stream_close)
    # the window is given back by hand once the stream's session has read the bytes
    nghttp2_option_set_no_auto_window_update(g_h2_opt, 1)
    return 0


# ---- the connection

cdef int h2_start(int idx, const char *pre, int n) noexcept nogil:
    """The session's client speaks HTTP/2 (ALPN h2, `proto h2`, or the connection preface seen
    where an HTTP/1.1 request was expected, bytes `pre`): from now on it is a connection whose
    streams are sessions. 0, or -1 after closing it."""
    cdef sess_t *s = &g_sess[idx]
    cdef h2c_t *c = <h2c_t *>calloc(1, sizeof(h2c_t))
    cdef nghttp2_settings_entry iv[3]
    if c == NULL:
        s.logged = 1
        sess_close(idx)
        return -1
    c.out = <char *>malloc(H2_OUT_CAP)
    if c.out == NULL or nghttp2_session_server_new2(&c.ng, g_h2_cbs, c, g_h2_opt) != 0:
        free(c.out)
        free(c)
        s.logged = 1
        sess_close(idx)
        return -1
    c.idx = idx
    c.first = -1
    g_h2c[idx] = c
    s.state = ST_H2
    s.logged = 1                # the connection itself logs nothing; its streams do
    iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS
    iv[0].value = g_h2_max_streams
    iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE
    iv[1].value = g_h2_window
    iv[2].settings_id = NGHTTP2_SETTINGS_HEADER_TABLE_SIZE
    iv[2].value = g_h2_hdr_table
    nghttp2_submit_settings(c.ng, NGHTTP2_FLAG_NONE, iv, 3)
    if n > 0 and nghttp2_session_mem_recv(c.ng, <const uint8_t *>pre, n) < 0:
        h2_conn_close(idx)
        return -1
    if s.cli_rd == 0:
        s.cli_rd = 1            # what followed may be there already: read it (no new edge)
    if g_stopping:
        # accepted while this worker stops (its listener's queue drained): the client is told
        # at once to take its next streams elsewhere, as the connections open at the stop were
        h2_soft_stop(idx)
        return 0
    h2_conn_io(idx)
    return 0


cdef void h2_start_preface(int idx) noexcept nogil:
    """http_client_io() saw the whole connection preface (h2_preface_seen) and left the session
    in ST_H2: the connection becomes HTTP/2, fed with the bytes read so far."""
    cdef sess_t *s = &g_sess[idx]
    cdef char *b = s.req.buf
    cdef int n = s.req.buf_in
    if s.state != ST_H2 or g_h2c[idx] != NULL:
        return
    s.req.buf = NULL
    s.req.buf_in = s.req.buf_len = s.req.buf_off = 0
    h2_start(idx, b, n)
    if b != NULL:
        buf_put(b)


cdef void h2_touch(sess_t *s) noexcept nogil:
    cdef int to = g_px[s.px].conf.clitimeout
    s.cli_exp = g_now + to if to > 0 else 0


cdef void h2_conn_io(int idx) noexcept nogil:
    """Client events of an HTTP/2 connection: feed nghttp2 what came, write what it produced."""
    cdef sess_t *s = &g_sess[idx]
    cdef h2c_t *c = g_h2c[idx]
    cdef char *b
    cdef ssize_t n, r
    cdef int done = 0
    if c == NULL:
        return
    if s.cli_rd:
        b = buf_get()
        if b == NULL:
            h2_conn_close(idx)
            return
        while True:
            n = tls_recv(s.cfd, b, BUFSIZE)
            if n > 0:
                h2_touch(s)
                r = nghttp2_session_mem_recv(c.ng, <const uint8_t *>b, n)
                if r < 0:
                    done = 1            # flood, bad preface: nghttp2 has queued its GOAWAY
                    break
                if g_h2c[idx] == NULL:
                    buf_put(b)
                    return
                continue
            if n < 0 and errno == EAGAIN:
                if s.cli_rd == 1:
                    s.cli_rd = 0
                break
            done = 1                    # end of stream or error: the streams are aborted
            break
        buf_put(b)
    if h2_flush(c) < 0:
        done = 1
    if done or h2_conn_idle_end(c):
        h2_conn_close(idx)
        return
    sess_arm(s, idx)


cdef int h2_conn_idle_end(h2c_t *c) noexcept nogil:
    """1 when the connection has nothing left to do and may be closed now. Stopping, after the
    final GOAWAY and the last stream, the write side is shut first (0 until the client closes)."""
    cdef sess_t *s = &g_sess[c.idx]
    if c.out_off < c.out_len:
        return 0
    if c.goaway == 2 and c.nstreams == 0:
        c.goaway = 3
        tls_shut(s.cfd)
        shutdown(s.cfd, SHUT_WR)
        return 0
    if c.goaway:
        return 0
    return nghttp2_session_want_read(c.ng) == 0 and nghttp2_session_want_write(c.ng) == 0


cdef int h2_flush(h2c_t *c) noexcept nogil:
    """Write nghttp2's frames to the client until done or the socket is full; -1 on error."""
    cdef sess_t *s = &g_sess[c.idx]
    cdef ssize_t n
    cdef int k
    while True:
        while c.out_off < c.out_len:
            # (a short TLS write is one record, not a full socket: only EAGAIN means full)
            n = tls_send(s.cfd, c.out + c.out_off, c.out_len - c.out_off)
            if n < 0:
                if errno == EAGAIN:
                    s.cli_wr = 0
                    return 0
                return -1
            c.out_off += <int>n
            h2_touch(s)
        c.out_off = 0
        c.out_len = 0
        while c.out_len < H2_OUT_CAP:
            if c.pend_len == 0:
                n = nghttp2_session_mem_send(c.ng, &c.pend)
                if n < 0:
                    return -1
                if n == 0:
                    break
                c.pend_len = n
            k = <int>c.pend_len if c.pend_len < H2_OUT_CAP - c.out_len else H2_OUT_CAP - c.out_len
            memcpy(c.out + c.out_len, c.pend, k)
            c.pend += k
            c.pend_len -= k
            c.out_len += k
        if c.out_len == 0:
            return 0


cdef void h2_conn_close(int idx) noexcept nogil:
    """End an HTTP/2 connection: its streams' sessions are aborted, then it is closed."""
    cdef h2c_t *c = g_h2c[idx]
    if c == NULL:
        return
    while c.first >= 0:
        h2s_free(&g_h2s[c.first], 1)
    pool_owner_end(idx)         # (`http-reuse never`: its own idle server connections, srvpool.pxi)
    g_h2c[idx] = NULL
    nghttp2_session_del(c.ng)
    free(c.out)
    free(c)
    g_sess[idx].logged = 1
    sess_close(idx)


cdef void h2_timeout(int idx) noexcept nogil:
    """`timeout client` of an HTTP/2 connection counts only while no stream is open (a stream's
    own session times its exchange): then a GOAWAY and the close. Stopping, the timer paces the
    GOAWAYs (h2_soft_stop)."""
    cdef sess_t *s = &g_sess[idx]
    cdef h2c_t *c = g_h2c[idx]
    if c != NULL and nghttp2_session_want_write(c.ng):
        h2_conn_after(idx)      # frames queued outside the connection's events (h2s_client_timeout)
        if g_h2c[idx] == NULL:
            return
        if s.cli_exp > g_now:
            sess_arm(s, idx)
            return
    if c != NULL and c.goaway == 1:
        # the final GOAWAY names the last stream processed; later ones the client retries
        c.goaway = 2
        nghttp2_submit_goaway(c.ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c.ng),
                              NGHTTP2_NO_ERROR, NULL, 0)
        s.cli_exp = g_now + STOP_IDLE_MS
        h2_conn_io(idx)
        return
    if c != NULL and c.goaway >= 2 and c.nstreams == 0:
        h2_conn_close(idx)          # the client did not close its side in time
        return
    if c == NULL or c.nstreams > 0:
        h2_touch(s)
        sess_arm(s, idx)
        return
    nghttp2_submit_goaway(c.ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c.ng),
                          NGHTTP2_NO_ERROR, NULL, 0)
    h2_flush(c)
    h2_conn_close(idx)


cdef void h2_soft_stop(int idx) noexcept nogil:
    """Soft stop (reload), in RFC 9113 6.8's two steps: a GOAWAY naming no stream limit tells the
    client to open its next streams on a new connection (while streams it sent meanwhile are
    still served); STOP_IDLE_MS later the final GOAWAY names the last stream processed. Once
    its streams are answered the connection shuts its write side and waits for the client's
    close (a close with unread bytes would be a reset, which can destroy the GOAWAY)."""
    cdef sess_t *s = &g_sess[idx]
    cdef h2c_t *c = g_h2c[idx]
    if c == NULL or c.goaway:
        return
    c.goaway = 1
    nghttp2_submit_shutdown_notice(c.ng)
    s.cli_exp = g_now + STOP_IDLE_MS
    h2_conn_io(idx)


cdef void h2_conn_after(int idx) noexcept nogil:
    """After stream events: push the frames out, end the connection once it has nothing left."""
    cdef h2c_t *c = g_h2c[idx]
    if c == NULL:
        return
    if h2_flush(c) < 0 or h2_conn_idle_end(c):
        h2_conn_close(idx)


# ---- streams

cdef h2s_t *h2s_new(h2c_t *c, int sid) noexcept nogil:
    global g_h2s_nfree
    cdef h2s_t *st
    cdef int k
    if g_h2s_nfree == 0:
        return NULL
    k = g_h2s_free[g_h2s_nfree - 1]
    st = &g_h2s[k]
    st.hd = buf_get()
    st.rs = buf_get()
    if st.hd == NULL or st.rs == NULL:
        if st.hd != NULL:
            buf_put(st.hd)
        if st.rs != NULL:
            buf_put(st.rs)
        st.hd = NULL
        st.rs = NULL
        return NULL
    g_h2s_nfree -= 1
    st.gen += 1
    st.used = 1
    st.conn = c.idx
    st.sid = sid
    st.sess = -1
    st.queued = 0
    st.wake_sess = st.wake_rsp = 0
    st.rs_full = 0
    st.hd_len = 0
    st.ps_len = 0
    st.meth_len = st.path_len = st.auth_len = st.sch_len = 0
    st.nck = 0
    st.has_host = st.has_cl = st.chunked = st.head = st.bad = 0
    st.rq = buf_get()                   # (a pooled buffer; a larger body backlog gets its own)
    st.rq_pooled = st.rq != NULL
    st.rq_cap = BUFSIZE if st.rq != NULL else 0
    st.rq_len = st.rq_off = st.rq_data = 0
    st.rs_len = st.rs_off = 0
    st.body = H2B_HDRS
    st.left = 0
    st.gw_eof = 0
    st.trl = NULL
    st.trl_len = 0
    st.req_trl = 0
    st.deferred = 0
    st.prev = -1
    st.next = c.first
    if c.first >= 0:
        g_h2s[c.first].prev = k
    c.first = k
    c.nstreams += 1
    return st


cdef void h2s_free(h2s_t *st, int abort) noexcept nogil:
    """The stream is over (closed by nghttp2, or its connection ends): its session goes with it,
    logged as a client abort if its exchange was not complete."""
    global g_h2s_nfree
    cdef h2c_t *c = g_h2c[st.conn]
    cdef int k = <int>(st - g_h2s)
    cdef sess_t *s
    cdef int si
    if not st.used:
        return
    if st.sess >= 0:
        si = st.sess
        st.sess = -1            # (its close must not come back to this stream)
        s = &g_sess[si]
        if s.state != ST_FREE and s.gen == st.sess_gen:
            if s.state == ST_REQ and s.req.buf_in == 0 and (s.http_ka or s.logged):
                s.logged = 1        # the answer was complete: nothing more to log
            elif s.term_cause == TERM_NONE:
                s.term_cause = TERM_CLI_ABORT
                s.term_phase = PH_DATA if s.state == ST_RELAY else PH_REQ
            sess_close(si)
    if st.hd != NULL:
        buf_put(st.hd)
        st.hd = NULL
    if st.rs != NULL:
        buf_put(st.rs)
        st.rs = NULL
    if st.trl != NULL:
        buf_put(st.trl)
        st.trl = NULL
    if st.rq_pooled:
        buf_put(st.rq)
    else:
        free(st.rq)
    st.rq = NULL
    if c != NULL:
        if abort:
            nghttp2_session_set_stream_user_data(c.ng, st.sid, NULL)
        if st.prev >= 0:
            g_h2s[st.prev].next = st.next
        else:
            c.first = st.next
        if st.next >= 0:
            g_h2s[st.next].prev = st.prev
        c.nstreams -= 1
    st.used = 0
    st.gen += 1
    g_h2s_free[g_h2s_nfree] = k
    g_h2s_nfree += 1


cdef int _h2_rq_put(h2s_t *st, const char *p, int n) noexcept nogil:
    """Queue request bytes for the stream's session (h2v_recv); -1 when out of memory."""
    cdef int need = st.rq_len + n
    cdef char *nb
    if need > st.rq_cap:
        if st.rq_off > 0:
            memmove(st.rq, st.rq + st.rq_off, st.rq_len - st.rq_off)
            st.rq_len -= st.rq_off
            st.rq_off = 0
            need = st.rq_len + n
        if need > st.rq_cap:
            if st.rq_pooled:
                nb = <char *>malloc(need + 4096)
                if nb == NULL:
                    return -1
                memcpy(nb, st.rq, st.rq_len)
                buf_put(st.rq)
                st.rq_pooled = 0
            else:
                nb = <char *>realloc(st.rq, need + 4096)
                if nb == NULL:
                    return -1
            st.rq = nb
            st.rq_cap = need + 4096
    memcpy(st.rq + st.rq_len, p, n)
    st.rq_len += n
    return 0


cdef void h2_sess_io(int idx) noexcept nogil:
    """What sess_io() (loop.pxi) does, for the states in which a stream's session waits for its
    stream: the request to come, room for its answer."""
    cdef sess_t *s = &g_sess[idx]
    if s.state == ST_REQ or s.state == ST_ERRPAGE or s.state == ST_LINGER:
        http_client_io(idx)
    elif s.state == ST_RELAY:
        http_relay_io(idx)


cdef void h2_run_wakes() noexcept nogil:
    """Run the queued wake-ups, then write each connection they touched once (a burst of
    answers leaves in one write, not one per stream); what that queues runs again (bounded)."""
    global g_h2_ndirty
    cdef int rounds = 0, i, idx
    cdef h2c_t *c
    while (g_h2_nwake or g_h2_ndirty) and rounds < 64:
        rounds += 1
        _h2_run_queue()
        i = 0
        while i < g_h2_ndirty:
            idx = g_h2_dirty[i]
            i += 1
            c = g_h2c[idx]
            if c != NULL and c.dirty:
                c.dirty = 0
                h2_conn_after(idx)
        g_h2_ndirty = 0


cdef void _h2_mark_dirty(int conn) noexcept nogil:
    global g_h2_ndirty
    cdef h2c_t *c = g_h2c[conn]
    if c != NULL and not c.dirty:
        c.dirty = 1
        g_h2_dirty[g_h2_ndirty] = conn
        g_h2_ndirty += 1


cdef void _h2_run_queue() noexcept nogil:
    global g_h2_nwake
    cdef h2s_t *st
    cdef sess_t *s
    cdef int i = 0, conn, k, rounds = 0
    while i < g_h2_nwake and rounds < 1000000:
        rounds += 1
        st = &g_h2s[g_h2_wake[i]]
        i += 1
        st.queued = 0
        if not st.used:
            continue
        conn = st.conn
        if st.wake_sess:
            st.wake_sess = 0
            if st.sess >= 0:
                s = &g_sess[st.sess]
                if s.state != ST_FREE and s.gen == st.sess_gen:
                    h2_sess_io(st.sess)
        if st.used and st.wake_rsp:
            st.wake_rsp = 0
            h2s_rsp_io(st)
        _h2_mark_dirty(conn)
        if i == g_h2_nwake or i > 4096:
            # compact what is left so the queue never outgrows the slots
            k = g_h2_nwake - i
            memmove(g_h2_wake, g_h2_wake + i, k * sizeof(int))
            g_h2_nwake = k
            i = 0
    g_h2_nwake = 0


cdef int _h2_ps(h2s_t *st, const uint8_t *v, size_t vlen, int *off, int *ln) noexcept nogil:
    if H2_PS_OFF + st.ps_len + <int>vlen > BUFSIZE:
        return -1
    off[0] = H2_PS_OFF + st.ps_len
    ln[0] = <int>vlen
    memcpy(st.hd + off[0], v, vlen)
    st.ps_len += <int>vlen
    return 0


cdef inline int _h2_name_is(const uint8_t *n, size_t nl, const char *w, int wl) noexcept nogil:
    return <int>nl == wl and memcmp(n, w, wl) == 0


cdef int _h2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *fr, void *ud) noexcept nogil:
    cdef h2c_t *c = <h2c_t *>ud
    cdef h2s_t *st
    if fr.hd.type != NGHTTP2_HEADERS or fr.headers.cat != NGHTTP2_HCAT_REQUEST:
        return 0
    st = h2s_new(c, fr.hd.stream_id)
    if st == NULL:
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, fr.hd.stream_id, NGHTTP2_REFUSED_STREAM)
        return 0
    nghttp2_session_set_stream_user_data(ng, fr.hd.stream_id, st)
    return 0


cdef int _h2_hd_line(h2s_t *st, const uint8_t *name, size_t nl, const uint8_t *val, size_t vl) noexcept nogil:
    """Append "name: value\\r\\n" to the header lines below H2_PS_OFF; -1 if it does not fit."""
    if st.hd_len + <int>(nl + vl) + 4 > H2_PS_OFF:
        return -1
    memcpy(st.hd + st.hd_len, name, nl)
    st.hd_len += <int>nl
    st.hd[st.hd_len] = b':'
    st.hd[st.hd_len + 1] = b' '
    st.hd_len += 2
    memcpy(st.hd + st.hd_len, val, vl)
    st.hd_len += <int>vl
    st.hd[st.hd_len] = b'\r'
    st.hd[st.hd_len + 1] = b'\n'
    st.hd_len += 2
    return 0


cdef int _h2_on_header(nghttp2_session *ng, const nghttp2_frame *fr, const uint8_t *name, size_t nl,
                       const uint8_t *val, size_t vl, uint8_t flags, void *ud) noexcept nogil:
    cdef h2s_t *st
    if fr.hd.type != NGHTTP2_HEADERS:
        return 0
    st = <h2s_t *>nghttp2_session_get_stream_user_data(ng, fr.hd.stream_id)
    if st == NULL or st.bad:
        return 0
    if fr.headers.cat != NGHTTP2_HCAT_REQUEST:
        # the request's trailer fields: kept (below H2_PS_OFF, free once the request is
        # written) for the last chunk of a chunked request body
        if not st.req_trl:
            st.req_trl = 1
            st.hd_len = 0
        _h2_hd_line(st, name, nl, val, vl)     # (a trailer that does not fit is dropped)
        return 0
    if nl > 0 and name[0] == b':':
        if _h2_name_is(name, nl, b":method", 7):
            st.bad = _h2_ps(st, val, vl, &st.meth_off, &st.meth_len)
            st.head = vl == 4 and memcmp(val, b"HEAD", 4) == 0
        elif _h2_name_is(name, nl, b":path", 5):
            st.bad = _h2_ps(st, val, vl, &st.path_off, &st.path_len)
        elif _h2_name_is(name, nl, b":authority", 10):
            st.bad = _h2_ps(st, val, vl, &st.auth_off, &st.auth_len)
        elif _h2_name_is(name, nl, b":scheme", 7):
            st.bad = _h2_ps(st, val, vl, &st.sch_off, &st.sch_len)
        return 0
    if _h2_name_is(name, nl, b"cookie", 6):
        # HTTP/2 splits cookies into several fields; HTTP/1.1 wants them in one (RFC 9113 8.2.3)
        if st.nck >= H2_MAX_COOKIES:
            st.bad = 1
            return 0
        st.bad = _h2_ps(st, val, vl, &st.ck_off[st.nck], &st.ck_len[st.nck])
        st.nck += 1
        return 0
    if _h2_name_is(name, nl, b"te", 2) and (vl != 8 or memcmp(val, b"trailers", 8) != 0):
        st.bad = 1                  # only "te: trailers" in HTTP/2 (RFC 9113 8.2.2), forwarded
        return 0                    # as it is; 2.6 refuses any other value, case included
    if _h2_name_is(name, nl, b"host", 4):
        st.has_host = 1
    elif _h2_name_is(name, nl, b"content-length", 14):
        st.has_cl = 1
    if _h2_hd_line(st, name, nl, val, vl) < 0:
        st.bad = 1                  # a header block over 8 KB: the stream is refused
    return 0


cdef int h2s_open(h2c_t *c, h2s_t *st, int end_stream) noexcept nogil:
    """The stream's header block is complete: its HTTP/1.1 form is queued for a new session
    whose client is the stream's virtual fd. -1: refuse the stream."""
    cdef sess_t *cs = &g_sess[c.idx]
    cdef sess_t *s
    cdef int idx, i, tq
    cdef socklen_t alen
    cdef char num[24]
    if st.bad or st.meth_len == 0 or st.path_len == 0:
        return -1
    _h2_rq_put(st, st.hd + st.meth_off, st.meth_len)
    _h2_rq_put(st, b" ", 1)
    _h2_rq_put(st, st.hd + st.path_off, st.path_len)
    _h2_rq_put(st, b" HTTP/1.1\r\n", 11)
    if not st.has_host and st.auth_len > 0:
        _h2_rq_put(st, b"host: ", 6)
        _h2_rq_put(st, st.hd + st.auth_off, st.auth_len)
        _h2_rq_put(st, b"\r\n", 2)
    _h2_rq_put(st, st.hd, st.hd_len)
    if st.nck > 0:
        _h2_rq_put(st, b"cookie: ", 8)
        for i in range(st.nck):
            if i > 0:
                _h2_rq_put(st, b"; ", 2)
            _h2_rq_put(st, st.hd + st.ck_off[i], st.ck_len[i])
        _h2_rq_put(st, b"\r\n", 2)
    if not end_stream and not st.has_cl:
        _h2_rq_put(st, b"transfer-encoding: chunked\r\n", 28)
        st.chunked = 1
    if _h2_rq_put(st, b"\r\n", 2) < 0:
        return -1
    idx = sess_open(cs.lst, VFD_BASE + <int>(st - g_h2s), sa_of(&cs.cli_addr), cs.cli_addrlen)
    if idx < 0:
        return -1
    ctr_px(cs.px).tot_sess -= 1     # one session for the connection, as 2.6 counts (req_tot per stream)
    s = &g_sess[idx]
    s.h2c = c.idx + 1
    s.h2s = <int>(st - g_h2s) + 1
    # what the client reached: the connection's local address (dst, dst_port, the log)
    if not cs.pp_dst_set:
        alen = sizeof(cs.pp_dst)        # (once per connection)
        getsockname(cs.cfd, <sockaddr *>&cs.pp_dst, &alen)
        cs.pp_dst_set = 1
    s.pp_dst = cs.pp_dst
    s.pp_dst_set = 1
    st.sess = idx
    st.sess_gen = s.gen
    # as sess_begin() for HTTP, without the connection's rules (they ran for the connection)
    s.state = ST_REQ
    tq = g_px[s.px].conf.httpreqtimeout if g_px[s.px].conf.httpreqtimeout > 0 else g_px[s.px].conf.clitimeout
    s.cli_exp = g_now + tq if tq > 0 else 0
    sess_arm(s, idx)
    s.cli_rd = 1
    s.cli_wr = 1
    h2s_wake(st, 1, 0)
    return 0


cdef void _h2s_rq_ready(h2s_t *st) noexcept nogil:
    """More of the request for the stream's session: it may read."""
    if st.sess >= 0:
        g_sess[st.sess].cli_rd = 1
        h2s_wake(st, 1, 0)


cdef void _h2_req_end(h2s_t *st) noexcept nogil:
    """The client's END_STREAM: the last chunk of a chunked request body."""
    if st.chunked:
        st.chunked = 0
        if st.req_trl and st.hd_len > 0:
            _h2_rq_put(st, b"0\r\n", 3)
            _h2_rq_put(st, st.hd, st.hd_len)     # the trailer fields (RFC 9112 7.1.2)
            _h2_rq_put(st, b"\r\n", 2)
        else:
            _h2_rq_put(st, b"0\r\n\r\n", 5)
        _h2s_rq_ready(st)


cdef int _h2_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *fr, void *ud) noexcept nogil:
    cdef h2c_t *c = <h2c_t *>ud
    cdef h2s_t *st
    if fr.hd.type != NGHTTP2_HEADERS and fr.hd.type != NGHTTP2_DATA:
        return 0
    st = <h2s_t *>nghttp2_session_get_stream_user_data(ng, fr.hd.stream_id)
    if st == NULL:
        return 0
    if fr.hd.type == NGHTTP2_HEADERS and fr.headers.cat == NGHTTP2_HCAT_REQUEST:
        if h2s_open(c, st, fr.hd.flags & NGHTTP2_FLAG_END_STREAM) < 0:
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st.sid, NGHTTP2_REFUSED_STREAM
                                      if not st.bad else NGHTTP2_PROTOCOL_ERROR)
            h2s_free(st, 1)
        return 0
    if fr.hd.flags & NGHTTP2_FLAG_END_STREAM:
        _h2_req_end(st)
    return 0


cdef int _h2_on_data(nghttp2_session *ng, uint8_t flags, int32_t sid, const uint8_t *data, size_t n,
                     void *ud) noexcept nogil:
    cdef h2s_t *st = <h2s_t *>nghttp2_session_get_stream_user_data(ng, sid)
    cdef char num[24]
    cdef int k
    if st == NULL or st.sess < 0:
        nghttp2_session_consume(ng, sid, n)     # nobody to give it to: keep the window open
        return 0
    if st.chunked:
        k = snprintf(num, sizeof(num), b"%zx\r\n", n)
        _h2_rq_put(st, num, k)
    if _h2_rq_put(st, <const char *>data, <int>n) < 0:
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE
    if st.chunked:
        _h2_rq_put(st, b"\r\n", 2)
    st.rq_data += <int>n
    _h2s_rq_ready(st)
    return 0


cdef int _h2_on_stream_close(nghttp2_session *ng, int32_t sid, uint32_t err, void *ud) noexcept nogil:
    cdef h2s_t *st = <h2s_t *>nghttp2_session_get_stream_user_data(ng, sid)
    if st != NULL:
        h2s_free(st, 0)
    return 0


# ---- the answer, as the stream's session wrote it

cdef void h2s_rsp_io(h2s_t *st) noexcept nogil:
    """The session wrote (or ended): send the answer's headers once complete, resume its body."""
    cdef h2c_t *c = g_h2c[st.conn]
    if c == NULL:
        return
    if st.body == H2B_HDRS:
        if h2s_rsp_headers(c, st) != 0:
            return
        if st.body == H2B_HDRS:
            if st.gw_eof or st.rs_len - st.rs_off >= BUFSIZE:
                # the session ended (or sent a header block too large) without an answer
                st.body = H2B_DONE
                nghttp2_submit_rst_stream(c.ng, NGHTTP2_FLAG_NONE, st.sid, NGHTTP2_INTERNAL_ERROR)
            return
        _h2s_rs_taken(st)
    if st.deferred:
        st.deferred = 0
        nghttp2_session_resume_data(c.ng, st.sid)


cdef int h2s_head_nv(char *b, h1_msg *m, nghttp2_nv *nv, char *status) noexcept nogil:
    """An HTTP/1.1 answer's head as HTTP/2 fields: :status, then its header fields with their
    names in lower case, the connection-specific ones left out. Returns how many."""
    cdef int i, j, k
    cdef h1_hdr *h
    status[0] = <char>(48 + (m.status // 100) % 10)
    status[1] = <char>(48 + (m.status // 10) % 10)
    status[2] = <char>(48 + m.status % 10)
    status[3] = 0
    nv[0].name = <uint8_t *>b":status"
    nv[0].namelen = 7
    nv[0].value = <uint8_t *>status
    nv[0].valuelen = 3
    nv[0].flags = NGHTTP2_NV_FLAG_NONE
    k = 1
    for i in range(m.nhdr):
        h = &m.hdr[i]
        if (h1_hdr_name_is(b, h, b"connection", 10) or h1_hdr_name_is(b, h, b"keep-alive", 10)
                or h1_hdr_name_is(b, h, b"proxy-connection", 16)
                or h1_hdr_name_is(b, h, b"transfer-encoding", 17) or h1_hdr_name_is(b, h, b"upgrade", 7)
                or h1_hdr_name_is(b, h, b"te", 2)):
            continue                # connection-specific: not in HTTP/2 (RFC 9113 8.2.2)
        for j in range(h.n_len):
            b[h.n_off + j] = <char>h1_lower[<unsigned char>b[h.n_off + j]]
        nv[k].name = <uint8_t *>(b + h.n_off)
        nv[k].namelen = h.n_len
        nv[k].value = <uint8_t *>(b + h.v_off)
        nv[k].valuelen = h.v_len
        nv[k].flags = NGHTTP2_NV_FLAG_NONE
        k += 1
    return k


cdef int h2s_rsp_headers(h2c_t *c, h2s_t *st) noexcept nogil:
    """A complete HTTP/1.1 header block in rs becomes the stream's HEADERS: 0 (done or wait),
    -1 when the stream was reset. A 103 (early hints) goes out as a non-final HEADERS frame."""
    cdef h1_msg *m = &g_msg
    cdef nghttp2_nv nv[H1_MAX_HDRS + 1]
    cdef nghttp2_data_provider prd
    cdef char status[4]
    cdef char *b = st.rs + st.rs_off
    cdef int avail = st.rs_len - st.rs_off, r, k = 0
    while True:
        if avail <= 0 or h1_hdr_block_end(b, avail, 0) <= 0:
            return 0
        r = h1_parse_response(b, avail, m)
        if r == 0:
            return 0
        if r < 0:
            nghttp2_submit_rst_stream(c.ng, NGHTTP2_FLAG_NONE, st.sid, NGHTTP2_INTERNAL_ERROR)
            return -1
        if m.status >= 100 and m.status < 200 and m.status != 101:
            if m.status == 103:
                k = h2s_head_nv(b, m, nv, status)
                nghttp2_submit_headers(c.ng, NGHTTP2_FLAG_NONE, st.sid, NULL, nv, k, NULL)
            st.rs_off += r          # another interim answer (100 Continue): not forwarded
            b += r
            avail -= r
            continue
        break
    k = h2s_head_nv(b, m, nv, status)
    if st.head or m.status == 204 or m.status == 304:
        st.body = H2B_NONE
    elif m.chunked:
        st.body = H2B_CHUNKED
        h1_chunk_init(&st.ck)
    elif m.content_length >= 0:
        st.body = H2B_LEN if m.content_length > 0 else H2B_NONE
        st.left = m.content_length
    else:
        st.body = H2B_EOF
    prd.source.ptr = st
    prd.read_callback = _h2_body_read
    if nghttp2_submit_response(c.ng, st.sid, nv, k, &prd if st.body != H2B_NONE else NULL) != 0:
        nghttp2_submit_rst_stream(c.ng, NGHTTP2_FLAG_NONE, st.sid, NGHTTP2_INTERNAL_ERROR)
        return -1
    st.rs_off += r
    if st.body == H2B_NONE:
        st.body = H2B_DONE
    return 0


cdef int h2s_submit_trailers(nghttp2_session *ng, h2s_t *st) noexcept nogil:
    """The answer's chunked trailer section ("name: value" lines) as a trailing HEADERS frame:
    names in lower case, connection-specific and framing fields left out. 0 if submitted."""
    cdef nghttp2_nv nv[32]
    cdef char *b = st.trl
    cdef int n = st.trl_len, i = 0, k = 0, ls, le, c, ve, j
    while i < n and k < 32:
        ls = i
        while i < n and b[i] != b'\n':
            i += 1
        le = i
        i += 1
        if le > ls and b[le - 1] == b'\r':
            le -= 1
        c = ls
        while c < le and b[c] != b':':
            c += 1
        if c == ls or c >= le:
            continue                # the final empty line, or not a field
        for j in range(ls, c):
            b[j] = <char>h1_lower[<unsigned char>b[j]]
        if ((c - ls == 14 and memcmp(b + ls, b"content-length", 14) == 0)
                or (c - ls == 17 and memcmp(b + ls, b"transfer-encoding", 17) == 0)
                or (c - ls == 10 and memcmp(b + ls, b"connection", 10) == 0)
                or (c - ls == 4 and memcmp(b + ls, b"host", 4) == 0)):
            continue
        ve = c + 1
        while ve < le and (b[ve] == b' ' or b[ve] == b'\t'):
            ve += 1
        nv[k].name = <uint8_t *>(b + ls)
        nv[k].namelen = c - ls
        nv[k].value = <uint8_t *>(b + ve)
        nv[k].valuelen = le - ve
        nv[k].flags = NGHTTP2_NV_FLAG_NONE
        k += 1
    if k == 0:
        return -1
    return 0 if nghttp2_submit_trailer(ng, st.sid, nv, k) == 0 else -1


cdef ssize_t _h2_body_read(nghttp2_session *ng, int32_t sid, uint8_t *out, size_t length,
                           uint32_t *flags, nghttp2_data_source *src, void *ud) noexcept nogil:
    """nghttp2 asks for up to `length` bytes of the answer's body (as the client's windows
    allow): taken from rs, which the stream's session refills (h2v_send) once woken."""
    cdef h2s_t *st = <h2s_t *>src.ptr
    cdef size_t total = 0
    cdef long long take
    cdef int avail
    while total < length and st.body != H2B_DONE:
        avail = st.rs_len - st.rs_off
        if avail == 0:
            if not st.gw_eof:
                break                   # the session will write more (and wake the stream)
            if st.body == H2B_EOF:
                st.body = H2B_DONE
                break
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE     # cut short: the stream is reset
        if st.body == H2B_CHUNKED and st.ck.state != H1_CK_DATA:
            # framing bytes: one at a time through the chunk parser (they are few); those of
            # the trailer section are kept for a trailing HEADERS frame
            if st.ck.state >= H1_CK_TRL_START and st.ck.state <= H1_CK_END_LF:
                if st.trl == NULL:
                    st.trl = buf_get()
                if st.trl != NULL and st.trl_len < H1_MAX_HDR_BLOCK:
                    st.trl[st.trl_len] = st.rs[st.rs_off]
                    st.trl_len += 1
            if h1_chunk_feed(&st.ck, st.rs + st.rs_off, 1) < 0:
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE
            st.rs_off += 1
            if st.ck.done:
                st.body = H2B_DONE
            continue
        take = avail
        if <long long>(length - total) < take:
            take = <long long>(length - total)
        if st.body == H2B_LEN and st.left < take:
            take = st.left
        if st.body == H2B_CHUNKED and st.ck.remaining < take:
            take = st.ck.remaining
        memcpy(out + total, st.rs + st.rs_off, <size_t>take)
        if st.body == H2B_CHUNKED:
            h1_chunk_feed(&st.ck, st.rs + st.rs_off, <int>take)
        st.rs_off += <int>take
        total += <size_t>take
        if st.body == H2B_LEN:
            st.left -= take
            if st.left == 0:
                st.body = H2B_DONE
    if total > 0:
        _h2s_rs_taken(st)
    if st.body == H2B_DONE:
        flags[0] |= NGHTTP2_DATA_FLAG_EOF
        if st.trl_len > 2 and h2s_submit_trailers(ng, st) == 0:
            flags[0] |= NGHTTP2_DATA_FLAG_NO_END_STREAM   # the trailers end the stream
        return <ssize_t>total
    if total == 0:
        st.deferred = 1
        return NGHTTP2_ERR_DEFERRED
    return <ssize_t>total


