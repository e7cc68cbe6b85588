# The TLS handshake of a session accepted on a `bind ... ssl` listener (state ST_TLS_HS), before
# the session begins as a plain one would (HTTP request, or TCP connect): driven by the session's
# client events, bounded by `timeout client`; a failure (not TLS, closed, stalled) ends the
# connection with haproxy 2.6's log line ("127.0.0.1:4242 [date] fe/1: SSL handshake failure")
# and no session log, as haproxy does for a connection that never became a session.

cdef enum:
    ST_TLS_HS = 12      # TLS handshake in progress (sess_t.state; the others: types.pxi, rules.pxi)


cdef void tls_log_fail(sess_t *s, int code) noexcept nogil:
    """A failed handshake's line (logline.pxi log_conn_error): with `option dontlognull`, one
    that received nothing is not logged, as in 2.6."""
    cdef px_t *p = &g_px[s.px]
    cdef tls_bind_t *tb = g_lst_tls[s.lst]
    if (p.opts & PO_DONTLOGNULL) and (code == CO_ER_SSL_EMPTY or code == CO_ER_SSL_ABORT):
        return
    log_conn_error(s, code, tb.lname, tb.lname_len, tb.luid)


cdef void tls_hs_end(int idx, int code) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef char junk[4096]
    cdef int k
    tls_log_fail(s, code)
    s.logged = 1
    # what the client sent and OpenSSL did not read (a plain request) is read first: a close
    # with unread input would be a reset, haproxy's is a FIN
    for k in range(16):
        if recv(s.cfd, junk, sizeof(junk), MSG_DONTWAIT) <= 0:
            break
    sess_close(idx)


cdef int tls_start(int idx) noexcept nogil:
    """Just accepted and watched: 0 for a plain listener (the session begins now), else 1 with the
    handshake under way (or the session closed if no TLS state could be had)."""
    cdef sess_t *s = &g_sess[idx]
    cdef int to
    if g_lst_tls == NULL or g_lst_tls[s.lst] == NULL:
        return 0
    if tls_new(s.lst, s.cfd) < 0:
        s.logged = 1
        sess_close(idx)
        return 1
    ctr_px(s.px).ssl_sess += 1      # a TLS endpoint (show info: CumSslConns, CurrSslConns, as 2.6)
    ctr_px(s.px).ssl_cur += 1
    s.state = ST_TLS_HS
    to = g_px[s.px].conf.clitimeout
    s.cli_exp = g_now + to if to > 0 else 0
    sess_arm(s, idx)
    return 1


cdef int tls_hs_io(int idx) noexcept nogil:
    """A client event during the handshake: 1 done (the session may begin), 0 waiting, -1 ended."""
    cdef sess_t *s = &g_sess[idx]
    cdef int r
    r = tls_handshake(s.cfd)
    if r > 0:
        s.cli_exp = 0
        s.t_hs = <int>(g_now - s.accept_ms)     # 2.6's Th: TR, Ta and %tr leave it out
        if tls_resumed(s.cfd):
            ctr_px(s.px).ssl_reused += 1
        return 1
    if r == 0:
        return 0
    ctr_px(s.px).ssl_fail += 1
    tls_hs_end(idx, tls_hs_error(s.cfd))
    return -1


cdef void tls_hs_timeout(int idx) noexcept nogil:
    tls_hs_end(idx, CO_ER_SSL_TIMEOUT)
