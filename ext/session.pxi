# A session's life: allocation, timers, the end (log, close, account), and the fixed answers
# that end one (error pages, monitor and redirect answers, then the lingering close).

cdef int sess_alloc() noexcept nogil:
    global g_nfree
    cdef int idx
    cdef sess_t *s
    cdef unsigned int gen
    if g_nfree == 0:
        return -1
    g_nfree -= 1
    idx = g_free_sess[g_nfree]
    s = &g_sess[idx]
    gen = s.gen + 1
    memset(s, 0, sizeof(sess_t))
    s.gen = gen
    s.cfd = -1
    s.sfd = -1
    s.srv = -1
    s.ck_found_srv = -1
    s.req.pipe_r = -1
    s.req.pipe_w = -1
    s.rsp.pipe_r = -1
    s.rsp.pipe_w = -1
    s.req.to_fwd = -1
    s.rsp.to_fwd = -1
    return idx


cdef void ctr_txn_status(sess_t *s) noexcept nogil:
    """An HTTP transaction's final status in its frontend's and backend's counters, once, as
    2.6 counts them when a stream ends: haproxy's own answers (a 503 without a server, a 403
    deny, a redirect) count in hrsp_* as the servers' do, and the backend counts the request
    (req_tot). A server's counters take its response when it comes (http.pxi)."""
    cdef int klass
    if s.txn_counted or s.status <= 0:
        return
    s.txn_counted = 1
    klass = s.status // 100
    if klass < 1 or klass > 5:
        klass = 0
    ctr_px(s.px).hrsp[klass] += 1
    if s.be != s.px and g_px[s.be].mode == MODE_HTTP:
        ctr_px(s.be).hrsp[klass] += 1
        ctr_px(s.be).req_tot += 1


cdef inline uint32_t swrate_add_dynamic(uint32_t *sum, uint32_t n, uint32_t v) noexcept nogil:
    """2.6's sliding-window sum (freq_ctr.h): the window's share of the sum leaves, the sample
    comes in; n = 0 (fewer samples than the window so far) only adds. One writer per block."""
    sum[0] = sum[0] - ((sum[0] + n - 1) // n if n else 0) + v
    return sum[0]


cdef inline void ctr_time_add(shm_ctr *c, uint64_t count, uint32_t q, uint32_t ct, uint32_t d,
                              uint32_t tt) noexcept nogil:
    """One stream's times into a server's or a backend's averages; `count` is 2.6's sample
    counter (requests in HTTP, sessions in TCP): the window slides once it passed the size."""
    cdef uint32_t n = SHM_TIME_SAMPLES if count > SHM_TIME_SAMPLES else 0
    swrate_add_dynamic(&c.q_time, n, q)
    swrate_add_dynamic(&c.c_time, n, ct)
    swrate_add_dynamic(&c.d_time, n, d)
    swrate_add_dynamic(&c.t_time, n, tt)
    if q > c.qtime_max:
        c.qtime_max = q
    if ct > c.ctime_max:
        c.ctime_max = ct
    if d > c.dtime_max:
        c.dtime_max = d
    if tt > c.ttime_max:
        c.ttime_max = tt


cdef void ctr_time_stats(sess_t *s) noexcept nogil:
    """A stream that reached a server at its end: its queue, connect, response and total times
    into its server's and backend's averages and maxima (2.6's stream_update_time_stats), once
    per transaction. A stream that never connected, or an HTTP one without a response, counts
    nothing; a TCP one's response time is 0; the total time of a kept-alive connection's next
    request counts from the previous one's end (the log's Tt counts from the request)."""
    cdef long long tq, tw, tc, tr, tt
    cdef int http = g_px[s.be].mode == MODE_HTTP
    cdef shm_ctr *c
    if s.ts_counted:
        return
    s.ts_counted = 1
    sess_timers(s, http, &tq, &tw, &tc, &tr, &tt)
    if tc < 0 or (http and tr < 0):
        return
    if not http:
        tr = 0
    tt += s.t_idle          # 2.6's total time counts a kept-alive request's idle wait (Ti)
    if tw < 0:
        tw = 0
    if s.srv >= 0:
        c = ctr_srv(s.srv)
        ctr_time_add(c, c.req_tot if http else c.tot_sess, <uint32_t>tw, <uint32_t>tc, <uint32_t>tr,
                     <uint32_t>tt)
    c = ctr_px(s.be)
    ctr_time_add(c, c.req_tot if http else c.lbconn, <uint32_t>tw, <uint32_t>tc, <uint32_t>tr,
                 <uint32_t>tt)


cdef void ctr_reuse(sess_t *s) noexcept nogil:
    """A request goes on an idle server connection (`reuse` in show stat)."""
    ctr_px(s.be).reuse += 1
    if s.srv >= 0:
        ctr_srv(s.srv).reuse += 1


cdef void ctr_aborts(sess_t *s) noexcept nogil:
    """An HTTP transfer cut by the client or the server, in the backend's and server's
    cli_abrt/srv_abrt (2.6 counts them in its HTTP analysers: not in TCP mode)."""
    if g_px[s.px].mode != MODE_HTTP or s.be == s.px and not g_px[s.px].has_be:
        return
    if s.term_cause == TERM_CLI_ABORT and (s.term_phase == PH_DATA or s.term_phase == PH_HDRS):
        ctr_px(s.be).cli_abrt += 1
        if s.srv >= 0:
            ctr_srv(s.srv).cli_abrt += 1
    elif s.term_cause == TERM_SRV_ABORT and s.term_phase == PH_DATA:
        ctr_px(s.be).srv_abrt += 1
        if s.srv >= 0:
            ctr_srv(s.srv).srv_abrt += 1


cdef void ctr_add_bytes(sess_t *s) noexcept nogil:
    """Move the session's byte counts into its proxy's and server's counters (and the stick
    table entries it tracks)."""
    cdef shm_ctr *c = ctr_px(s.px)
    cdef unsigned long long bin = chan_count(&s.req), bout = chan_count(&s.rsp)
    stk_bytes(s, bin, bout)
    c.bytes_in += bin
    c.bytes_out += bout
    if s.be != s.px:
        c = ctr_px(s.be)
        c.bytes_in += bin
        c.bytes_out += bout
    if s.srv >= 0:
        c = ctr_srv(s.srv)
        c.bytes_in += bin
        c.bytes_out += bout
    s.req.bytes = 0
    s.rsp.bytes = 0
    s.req.adj = s.req.hdr_wire = 0
    s.rsp.adj = s.rsp.hdr_wire = 0


cdef void fp_release(sess_t *s) noexcept nogil:
    """At a session's end, if it was ever handed to the kernel: forget its sockets' sequences
    (the program's record of what it passed on, kept through a take-back); `-d` says how many
    repeated bytes the program cut (docs/tcp-fastpath.md, "Repeated bytes")."""
    cdef unsigned long long cut
    cdef char b[64]
    cdef int n = 0
    if s.fast == 0 or g_skm.verdict < 0:
        return
    cut = skm_release(&g_skm, &s.fp_key_c) + skm_release(&g_skm, &s.fp_key_s)
    if cut and dbg_on():
        la(b, &n, 60, b"repeated bytes cut: ", 20)
        ld(b, &n, 60, <long long>cut)
        dbg_line(s, b"fastpath", 8, b, n)


cdef void sess_close(int idx) noexcept nogil:
    """End a session: log it, close both sides, give back every resource, account for it."""
    global g_actconn, g_nfree
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.px]
    cdef linger lg
    if s.state == ST_FREE:
        return
    if s.state == ST_QUEUED:
        queue_del(idx)
    if s.fast & 1:
        fp_settle(s)        # what the kernel relayed, counted before the log line (sockmap.pxi)
    fp_release(s)
    sess_log(s)
    if s.h2s:
        if s.term_cause == TERM_CLI_TO:
            h2s_client_timeout(s)   # an HTTP/2 stream's client did not read or send: reset it
        h2s_sess_closed(s)          # its answer is complete (or cut short)
    if g_px[s.px].opts & PO_NOLINGER and s.cfd >= 0 and s.cfd < VFD_BASE:
        # `option nolinger`: drop unsent data and free the socket at once (a reset).
        lg.l_onoff = 1
        lg.l_linger = 0
        setsockopt(s.cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))
    log_closed(s)
    if s.cfd >= 0 and s.cfd < VFD_BASE:     # (an HTTP/2 stream's virtual fd is no socket)
        if tls_is(s.cfd):
            ctr_px(s.px).ssl_cur -= 1
        tls_release(s.cfd)      # tls: close_notify, free the TLS state
        close(s.cfd)
    if s.sfd >= 0 and not pool_park(s):    # an HTTP/2 stream's idle server connection is kept
        sfd_close(s.sfd)
    if s.h2c == 0:
        pool_owner_end(idx)         # (the idle connections private to it: srvpool.pxi)
    chan_release(&s.req)
    chan_release(&s.rsp)
    if s.loginfo != NULL:
        buf_put(s.loginfo)
        s.loginfo = NULL
    if s.pp_auth != NULL:
        free(s.pp_auth)
        s.pp_auth = NULL
    if s.vars != NULL:
        buf_put(s.vars)
        s.vars = NULL
    ctr_add_bytes(s)
    if g_px[s.px].mode == MODE_HTTP and s.status > 0:
        stk_txn_status(s, s.term_phase == PH_TARPIT)
        ctr_txn_status(s)
    ctr_time_stats(s)
    ctr_aborts(s)
    stk_release(s, 0)
    ctr_px(s.px).cur_sess -= 1
    if s.state == ST_TURNAROUND and s.srv >= 0:
        ctr_srv(s.srv).cur_sess += 1     # given back while waiting to retry: even it up
    sess_set_srv(s, -1)
    sess_set_be(s, s.px)
    s.state = ST_FREE
    s.gen += 1
    p.feconn -= 1
    g_actconn -= 1
    g_free_sess[g_nfree] = idx
    g_nfree += 1
    lst_recheck_full()


cdef inline int sess_tunnel(sess_t *s) noexcept nogil:
    """`timeout tunnel` of a connected TCP session or HTTP tunnel (it replaces client and server
    timeouts), or 0."""
    if s.state == ST_RELAY and (g_px[s.px].mode == MODE_TCP or s.tunnel):
        return g_px[s.be].conf.tunneltimeout
    return 0


cdef inline void touch_cli(sess_t *s) noexcept nogil:
    cdef int to = g_px[s.px].conf.clientfintimeout if s.rsp.shut else 0
    if to == 0:
        to = sess_tunnel(s)     # (`timeout client-fin` overrides the tunnel's, as in 2.6)
    if to == 0:
        to = g_px[s.px].conf.clitimeout
    s.cli_exp = g_now + to if to > 0 else 0


cdef inline void touch_srv(sess_t *s) noexcept nogil:
    cdef int to = g_px[s.be].conf.serverfintimeout if s.req.shut else 0
    if to == 0:
        to = sess_tunnel(s)     # (`timeout server-fin` overrides the tunnel's, as in 2.6)
    if to == 0:
        to = g_px[s.be].conf.srvtimeout
    s.srv_exp = g_now + to if to > 0 else 0


# ---- a session for an accepted connection


cdef int sess_open(int li, int fd, sockaddr_storage *addr, socklen_t alen) noexcept nogil:
    """A counted session for a connection just accepted on listener li (not yet watched by
    epoll); -1, with fd closed, when the session table is full."""
    global g_actconn
    cdef int idx = sess_alloc()
    cdef sess_t *s
    if idx < 0:
        close(fd)
        return -1
    s = &g_sess[idx]
    s.cfd = fd
    s.px = g_lst[li].px
    s.be = s.px
    s.lst = li
    sess_addr_set(&s.cli_addr, addr)
    s.cli_addrlen = alen
    s.accept_ms = g_now
    s.t_hs = 0
    s.accept_wall_ms = g_wall
    s.cli_wr = 1
    g_actconn += 1
    g_px[s.px].feconn += 1
    ctr_open(ctr_px(s.px))
    return idx


cdef int sess_watch(int idx) noexcept nogil:
    """Have epoll report the client side (edge-triggered); -1 after ending the session if it cannot."""
    cdef sess_t *s = &g_sess[idx]
    if ep_add(s.cfd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, ev_data(idx, TAG_CLIENT)) < 0:
        s.state = ST_RELAY
        sess_close(idx)
        return -1
    return 0


cdef enum:
    LINGER_MS = 1000              # longest wait for a client's FIN after an error page
    LINGER_MAX_BYTES = 262144     # a client still sending this much per wake-up is cut (reset)


cdef void http_linger(int idx) noexcept nogil:
    """The answer is sent: log, shut the write side, and drain the client's input before closing.

    A close() with unread request bytes makes the kernel send a reset, which can destroy the
    answer before the client reads it (error pages on requests with bodies, monitor probes).
    """
    cdef sess_t *s = &g_sess[idx]
    cdef int to = g_px[s.px].conf.clitimeout
    sess_log(s)        # the transaction ends here; the lingering is not part of its timers
    if g_px[s.px].opts & PO_NOLINGER or s.cfd >= VFD_BASE:
        sess_close(idx)         # (an HTTP/2 stream's client has the whole answer: nothing to drain)
        return
    tls_shut(s.cfd)     # tls: close_notify first
    shutdown(s.cfd, SHUT_WR)
    if s.sfd >= 0:
        sfd_close(s.sfd)
        s.sfd = -1
    chan_release(&s.req)
    chan_release(&s.rsp)
    s.state = ST_LINGER
    s.srv_exp = 0
    s.con_exp = 0
    if to <= 0 or to > LINGER_MS:
        to = LINGER_MS
    s.cli_exp = g_now + to
    http_linger_drain(idx)


cdef void http_linger_drain(int idx) noexcept nogil:
    """Discard what the client sends until its FIN, an error, or too much; then close."""
    cdef sess_t *s = &g_sess[idx]
    cdef char junk[4096]
    cdef ssize_t n
    cdef int total = 0
    while total < LINGER_MAX_BYTES:
        n = recv(s.cfd, junk, sizeof(junk), MSG_DONTWAIT)
        if n > 0:
            total += <int>n
            continue
        if n < 0 and errno == EINTR:
            continue
        if n < 0 and errno == EAGAIN:
            sess_arm(s, idx)
            return
        break
    sess_close(idx)


cdef void answer_io(int idx) noexcept nogil:
    """A fixed answer on its way (ST_ERRPAGE), then the lingering close (ST_LINGER)."""
    cdef sess_t *s = &g_sess[idx]
    cdef int r
    if s.state == ST_ERRPAGE:
        r = chan_flush_buf(&s.rsp, s.cfd, &s.cli_wr)
        if r & XF_DST_ERR:
            sess_close(idx)
        elif s.rsp.buf_len == 0:
            if s.cli_ka and g_answer_kept != NULL:
                g_answer_kept(idx)      # 2.6 keeps the client: the next request (http.pxi)
            else:
                http_linger(idx)
        else:
            sess_arm(s, idx)
        return
    if s.state == ST_LINGER:
        http_linger_drain(idx)


cdef void (*g_after_response)(int) noexcept nogil     # httpreq.pxi's http_after_generated, or NULL
cdef void (*g_req_settle)(int) noexcept nogil         # http.pxi's http_req_settle
cdef void (*g_answer_kept)(int) noexcept nogil        # http.pxi's http_answer_kept


cdef int page_has_hdr(const char *buf, int head, const char *name, int nlen) noexcept nogil:
    """The answer's head (head bytes) has a header line named name (lower case given)."""
    cdef int i = 0, k
    while i < head:
        if buf[i] == b'\n' and i + 1 + nlen < head and buf[i + 1 + nlen] == b':':
            k = 0
            while k < nlen and (buf[i + 1 + k] | 0x20) == name[k]:
                k += 1
            if k == nlen:
                return 1
        i += 1
    return 0


cdef void answer_frame(int idx) noexcept nogil:
    """Decide whether the client stays after haproxy's own answer in s.rsp, and say so in it.

    2.6 keeps an HTTP/1.1 client (or a 1.0 one that asked for keep-alive) after a deny, a return,
    a redirect, a 401, a tarpit, monitor-uri and a 502/503/504 page, when the request was read
    whole; its parser's errors (400, 408, 414, 501, 505) close. It writes `connection: close`
    when closing, `connection: keep-alive` when keeping a 1.0 client, nothing otherwise. An
    errorfile with a connection header of its own, or without a content-length, is sent as it is
    and the connection closes after it.
    """
    cdef sess_t *s = &g_sess[idx]
    cdef char *buf = s.rsp.buf
    cdef const char *line
    cdef int head, n, keep
    if s.req_unsettled and g_req_settle != NULL:
        g_req_settle(idx)       # (an answer from the request's analysis: its body framing now)
    keep = (s.ans_ka and s.req.phase == CH_DONE and s.req.in_pipe == 0 and not s.req.eof
            and not g_stopping and s.h2c == 0 and s.status != 400 and s.status != 408
            and s.status != 414 and s.status != 501 and s.status != 505)
    s.cli_ka = 0
    if s.h2c != 0 or buf == NULL:
        return                  # (an HTTP/2 stream ends with its answer; no connection header)
    if s.t_req == 0 and (s.status == 422 or s.status == 413):
        return                  # (the parser's 422/413: closes, 2.6's mux writes no connection header)
    head = h1_hdr_block_end(buf, s.rsp.buf_len, 0)
    if head <= 0:
        return
    head -= 2 if head >= 2 and buf[head - 2] == b'\r' else 1     # where the blank line starts
    if page_has_hdr(buf, head, b"connection", 10) or not page_has_hdr(buf, head, b"content-length", 14):
        return                  # (an errorfile that says how it ends, or ends with the connection)
    if keep and not s.req_v10:
        s.cli_ka = 1
        return
    line = b"connection: keep-alive\r\n" if keep else b"connection: close\r\n"
    n = <int>strlen(line)
    if s.rsp.buf_len + n > BUFSIZE:
        return
    memmove(buf + head + n, buf + head, s.rsp.buf_len - head)
    memcpy(buf + head, line, n)
    s.rsp.buf_len += n
    s.rsp.buf_in += n
    s.cli_ka = keep


cdef h1_msg g_ans_msg      # scratch: the head of haproxy's own answer, parsed to count it


cdef void answer_count(sess_t *s) noexcept nogil:
    """Count haproxy's own answer in s.rsp as 2.6 does: its HTX size; nothing for the answer to
    a request that never parsed (2.6's H1 multiplexer writes those itself: 400, 408...)."""
    cdef int r
    if s.t_req == 0:
        s.rsp.adj -= s.rsp.buf_len
        return
    r = h1_parse_response(s.rsp.buf, s.rsp.buf_len, &g_ans_msg)
    if r > 0:
        # (its body: the rest of the buffer; a Connection header added for the client is not counted)
        s.rsp.adj += htx_head_size(s.rsp.buf, &g_ans_msg, 0)
        s.rsp.hdr_wire += r


cdef void http_send_raw(int idx, const char *data, int n) noexcept nogil:
    """Queue a fixed answer (monitor-uri, redirect, return, 401): the client stays or goes as
    answer_frame() decides."""
    cdef sess_t *s = &g_sess[idx]
    chan_release(&s.rsp)
    s.rsp.buf = buf_get()
    if s.rsp.buf == NULL:
        sess_close(idx)
        return
    memcpy(s.rsp.buf, data, n)
    s.rsp.buf_len = n
    s.rsp.buf_in = n
    s.rsp.buf_off = 0
    s.state = ST_ERRPAGE
    if g_after_response != NULL:
        g_after_response(idx)       # http-after-response rules
    answer_frame(idx)
    answer_count(s)
    answer_io(idx)


cdef void http_send_error(int idx, int status) noexcept nogil:
    """Answer with HAProxy's error page; the client stays or goes as answer_frame() decides."""
    cdef sess_t *s = &g_sess[idx]
    cdef int n = 0
    cdef const char *page = px_error_page(s.be, status, &n)   # errorfile / errorloc (errors.pxi)
    if page == NULL and s.be != s.px:
        page = px_error_page(s.px, status, &n)
    if page == NULL:
        page = error_page(status)
        if s.t_req == 0 and (status == 422 or status == 413):
            page = ERR_422_H1 if status == 422 else ERR_413_H1     # (the parser's, 2.6's mux form)
        n = <int>strlen(page)
    if s.sfd >= 0:
        sfd_close(s.sfd)
        s.sfd = -1
    chan_release(&s.rsp)
    s.rsp.buf = buf_get()
    if s.rsp.buf == NULL:
        sess_close(idx)
        return
    memcpy(s.rsp.buf, page, n)
    s.rsp.buf_len = n
    s.rsp.buf_in = n         # (a longer response read before would keep the page from completing)
    s.rsp.buf_off = 0
    s.status = status
    s.state = ST_ERRPAGE
    s.srv_exp = 0
    s.con_exp = 0
    touch_cli(s)
    if g_after_response != NULL:
        g_after_response(idx)       # http-after-response rules
    answer_frame(idx)
    answer_count(s)
    answer_io(idx)


cdef void sess_fail(int idx, int cause, int phase, int status) noexcept nogil:
    """Give up on a session: HTTP sessions get the error page, TCP ones are closed."""
    cdef sess_t *s = &g_sess[idx]
    if s.term_cause == TERM_NONE:
        s.term_cause = cause
        s.term_phase = phase
    if g_px[s.px].mode == MODE_HTTP and s.rsp.bytes == 0 and status:
        http_send_error(idx, status)
        return
    sess_close(idx)

