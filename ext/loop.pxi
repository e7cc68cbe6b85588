# The worker's event loop: accept, event dispatch, timers, signals, soft stop.

cdef enum:
    MAX_EVENTS = 256
    ACCEPT_BURST = 64


cdef int monitor_match(px_t *p, sockaddr_storage *a) noexcept nogil:
    cdef int i, bits, nbytes, rem
    cdef unsigned char *addr
    if p.nmon == 0:
        return 0
    for i in range(p.nmon):
        if p.mon_family[i] != a.ss_family:
            continue
        if a.ss_family == AF_INET:
            addr = <unsigned char *>&(<sockaddr_in *>a).sin_addr.s_addr
        else:
            addr = (<sockaddr_in6 *>a).sin6_addr.s6_addr
        bits = p.mon_bits[i]
        nbytes = bits >> 3
        rem = bits & 7
        if nbytes and memcmp(addr, p.mon_net[i], nbytes) != 0:
            continue
        if rem and ((addr[nbytes] ^ p.mon_net[i][nbytes]) & (0xff << (8 - rem)) & 0xff):
            continue
        return 1
    return 0


cdef void handle_monitor(int li, int fd, sockaddr_storage *addr, socklen_t alen) noexcept nogil:
    """A monitor-net client or a `mode health` connection: "200 OK" (HTTP), "OK" or a plain close.

    The answer goes through a session so that the probe's unread request is drained before the
    close (a close with unread input is a reset, which can destroy the answer in flight).
    """
    cdef px_t *p = &g_px[g_lst[li].px]
    cdef int idx
    if p.mode == MODE_TCP:
        close(fd)
        return
    idx = sess_open(li, fd, addr, alen)
    if idx < 0:
        return
    g_sess[idx].logged = 1
    g_sess[idx].status = 200
    if sess_watch(idx) < 0:
        return
    if p.mode == MODE_HEALTH and not (p.opts & PO_HTTPCHK):
        http_send_raw(idx, b"OK\n", 3)
    else:
        http_send_raw(idx, MONITOR_NET_OK, 19)


cdef void handle_accept(int li) noexcept nogil:
    cdef lst_t *l = &g_lst[li]
    cdef px_t *p = &g_px[l.px]
    cdef sockaddr_storage addr
    cdef socklen_t alen
    cdef int fd, idx, k, one = 1
    cdef long long wait
    cdef int tls = 1 if g_lst_tls != NULL and g_lst_tls[li] != NULL else 0
    cdef sess_t *s
    for k in range(ACCEPT_BURST):
        if g_actconn >= g_maxconn or p.feconn >= p.conf.maxconn:
            lst_disable_full(li)
            return
        # `maxconnrate`, `maxsessrate`, `maxsslrate` (a TLS listener), the frontend's `rate-limit
        # sessions`: this second's share is taken; poll again when one is free, as 2.6 does
        wait = freq_over(&g_cps, g_cps_lim)
        if wait == 0:
            wait = freq_over(&g_sps, g_sps_lim)
        if wait == 0 and tls:
            wait = freq_over(&g_sslps, g_ssl_lim)
        if wait == 0:
            wait = freq_over(&p.fe_sps, p.conf.fe_sps_lim)
        if wait > 0:
            lst_limit_rate(li, g_now + wait)
            return
        alen = sizeof(addr)
        fd = accept4(l.fd, <sockaddr *>&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC)
        if fd < 0:
            if errno == EMFILE or errno == ENFILE or errno == ENOBUFS or errno == ENOMEM:
                # Out of resources: stop accepting until a session ends.
                lst_disable_full(li)
            return
        freq_add(&g_cps)
        if tls:
            freq_add(&g_sslps)
        if monitor_match(p, &addr) or p.mode == MODE_HEALTH:
            # Answered by the proxy itself, never relayed nor logged.
            handle_monitor(li, fd, &addr, alen)
            continue
        idx = sess_open(li, fd, &addr, alen)
        if idx < 0:
            continue
        s = &g_sess[idx]
        # Small request/response exchanges must not wait on Nagle for the previous ACK.
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
        if p.opts & PO_CLITCPKA:
            set_tcp_keepalive(fd, p.conf.clitcpka_cnt, p.conf.clitcpka_idle, p.conf.clitcpka_intvl)
        if sess_watch(idx) < 0:
            continue
        if p.ntc > 0 and tcp_rules(idx, p.tc_first, p.ntc):
            ctr_px(l.px).denied_conn += 1       # (`dcon` in show stat)
            continue
        freq_add(&g_sps)        # a session: the connection rules kept it
        freq_add(&p.fe_sps)
        if l.accept_proxy or (p.nxp > 0 and acl_expect_proxy(s)):
            # Nothing else happens before the PROXY header: it may change the client address
            # that logs, ACLs, the source hash and forwardfor see. `timeout client` bounds the
            # wait, as in haproxy 2.6. (On a TLS listener the handshake follows the header.)
            s.state = ST_PROXY
            s.cli_exp = g_now + p.conf.clitimeout if p.conf.clitimeout > 0 else 0
            sess_arm(s, idx)
            pp_client_io(idx)
            continue
        if tls_start(idx):      # tls: a TLS listener: the session begins after the handshake
            continue
        sess_begin(idx)


cdef void sess_begin(int idx) noexcept nogil:
    """The session starts for real (after its PROXY header and TLS handshake, if any): HTTP waits
    for a request, TCP chooses its backend and connects."""
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.px]
    cdef int tq, pxi = s.px
    if p.nts > 0 and tcp_rules(idx, p.ts_first, p.nts):
        ctr_px(pxi).denied_sess += 1        # (`dses` in show stat)
        return
    log_accept(s)
    if p.mode == MODE_HTTP and (g_lst[s.lst].proto_h2 or tls_alpn_h2(s.cfd)):
        h2_start(idx, NULL, 0)      # HTTP/2: `proto h2` or ALPN h2 (h2.pxi)
        return
    if p.mode == MODE_HTTP:
        s.state = ST_REQ
        s.req.buf = NULL
        tq = p.conf.httpreqtimeout if p.conf.httpreqtimeout > 0 else p.conf.clitimeout
        s.cli_exp = g_now + tq if tq > 0 else 0
        sess_arm(s, idx)
        if tls_is(s.cfd) or s.cli_rd:
            # the request may have come with the handshake's end or with the PROXY header
            http_client_io(idx)
            h2_start_preface(idx)
    else:
        if p.ntcc and p.conf.inspectdelay > 0:
            # content rules that may wait for the client's first bytes (req.ssl_sni...)
            s.state = ST_INSPECT
            s.cli_exp = g_now + p.conf.inspectdelay
            sess_arm(s, idx)
            tcp_inspect_io(idx, 0)
            return
        if p.ntcc and tcp_content_rules(idx, p.tcc_first, p.ntcc, 1):
            return
        tcp_choose_and_connect(idx)


cdef enum:
    ST_INSPECT = 14     # TCP: `tcp-request content` rules waiting for data (`inspect-delay`)


cdef void tcp_inspect_io(int idx, int final) noexcept nogil:
    """TCP content inspection: read what the client sends (not forwarded yet) and run the
    content rules on it each time, until they decide, the buffer is full, the client's data
    ends or `inspect-delay` expires (`final`: they decide on what is there), as 2.6 does."""
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.px]
    cdef int n = 1, r
    while n > 0 and (s.req.buf == NULL or s.req.buf_in < BUFSIZE):
        n = chan_recv(&s.req, s.cfd, &s.cli_rd, BUFSIZE)
    if n == -2:
        s.term_cause = TERM_CLI_ABORT
        s.term_phase = PH_REQ
        sess_close(idx)
        return
    if s.req.eof or (s.req.buf != NULL and s.req.buf_in >= BUFSIZE):
        final = 1
    r = tcp_content_rules(idx, p.tcc_first, p.ntcc, final)
    if r == 1:
        return
    if r == 2:
        sess_arm(s, idx)
        return
    s.cli_exp = 0
    if s.req.buf != NULL:
        s.req.buf_len = s.req.buf_in    # what was read goes to the server first
        s.req.buf_off = 0
    tcp_choose_and_connect(idx)


cdef int tcp_rsp_inspect_io(int idx, int final) noexcept nogil:
    """TCP response inspection: read what the server sends (not forwarded yet) and run the
    backend's `tcp-response content` rules on it each time, until they decide, the buffer is
    full, the server's data ends or `tcp-response inspect-delay` expires (`final`), as 2.6.
    The client's data goes on to the server meanwhile. 0: decided, relay as usual (what was
    read goes to the client first); 1: still waiting, or the session is gone."""
    cdef sess_t *s = &g_sess[idx]
    cdef int n = 1, r, r1
    cdef int delay = g_px[s.be].conf.rspinspectdelay
    while n > 0 and (s.rsp.buf == NULL or s.rsp.buf_in < BUFSIZE):
        n = chan_recv(&s.rsp, s.sfd, &s.srv_rd, BUFSIZE)
    if n > 0 or s.rsp.buf_in > 0:
        touch_srv(s)
    if delay <= 0 or s.rsp.eof or (s.rsp.buf != NULL and s.rsp.buf_in >= BUFSIZE):
        final = 1
    r = tcp_response_rules(idx, final)
    if r == 1:
        return 1
    if r == 0 and g_px[s.be].sk_rsp and not s.rsp.eof and (s.rsp.buf == NULL or s.rsp.buf_in == 0) \
            and not (final and delay > 0):
        r = 2                   # `stick store-response` reads the first data: it has not come yet
    if r == 2:
        if s.con_exp == 0 and delay > 0:
            s.con_exp = g_now + delay
        r1 = chan_xfer(&s.req, s.cfd, s.sfd, &s.cli_rd, &s.srv_wr)
        if r1 & (XF_SRC_ERR | XF_DST_ERR):
            s.term_cause = TERM_SRV_ABORT if r1 & XF_DST_ERR else TERM_CLI_ABORT
            s.term_phase = PH_DATA
            sess_close(idx)
            return 1
        if r1 & XF_RD:
            touch_cli(s)
        sess_arm(s, idx)
        return 1
    if g_px[s.be].sk_rsp:
        stick_store_response(idx, NULL, NULL)   # (res.payload reads the data held here)
    s.rsp_insp = 0
    s.con_exp = 0
    if s.rsp.buf != NULL:
        s.rsp.buf_len = s.rsp.buf_in    # what was read goes to the client first
        s.rsp.buf_off = 0
    return 0


cdef void tcp_choose_and_connect(int idx) noexcept nogil:
    """TCP: the backend is chosen now, on what is known (src, dst_port, the inspected payload),
    and the connect starts."""
    cdef sess_t *s = &g_sess[idx]
    cdef int tq
    sess_set_be(s, acl_switch_backend(s, NULL, NULL))
    s.retries_left = g_px[s.be].conf.retries
    s.redispatched = 0
    touch_cli(s)
    # 2.6's order: the persist rules with the backend, then use-server, then stick match
    s.prst = acl_persist_rules(s, NULL, NULL) if g_px[s.be].npr else 0
    tq = acl_use_server(s, NULL, NULL) if g_px[s.be].nus else -1
    if tq < 0 and g_px[s.be].nsk:
        tq = stick_match(idx, NULL, NULL)
    if tq >= 0:
        sess_set_srv(s, tq)
    sess_start_connect(idx)
    if g_px[s.be].nsk:
        stick_store(idx, NULL, NULL)


# ---- the PROXY protocol header of an `accept-proxy` listener (parsing: proxyproto.pxi)

cdef void pp_refuse(int idx, int err) noexcept nogil:
    """A missing, malformed or late header: log it as haproxy 2.6 does, close (unread bytes
    make that a reset, as in 2.6). The session never began: no session log line."""
    cdef sess_t *s = &g_sess[idx]
    cdef char c
    cdef int null_conn = 0
    if err == PP_ERR_TIMEOUT:
        null_conn = recv(s.cfd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0     # nothing came at all
    pp_log_refused(s, err, null_conn)
    ctr_px(s.px).tot_sess -= 1      # (2.6 counts no session, nor connection, for it: stot)
    s.logged = 1
    s.term_cause = TERM_CLI_ABORT
    sess_close(idx)


cdef void pp_client_io(int idx) noexcept nogil:
    """Look at what the client sent so far (MSG_PEEK: nothing is consumed until the whole
    header is there and valid, so a header split over several reads waits for the rest, until
    `timeout client`); then take exactly the header off the socket and begin the session."""
    cdef sess_t *s = &g_sess[idx]
    cdef char *b
    cdef ssize_t n
    cdef int r, has_addr = 0, auth_off = 0, auth_len = 0
    cdef sockaddr_storage src, dst
    b = buf_get()
    if b == NULL:
        s.logged = 1
        sess_close(idx)
        return
    while True:
        n = recv(s.cfd, b, PP_PEEK_MAX if PP_PEEK_MAX <= BUFSIZE else BUFSIZE, MSG_PEEK | MSG_DONTWAIT)
        if n < 0 and errno == EINTR:
            continue
        break
    if n < 0:
        buf_put(b)
        if errno == EAGAIN:
            if s.cli_rd == 2:
                pp_refuse(idx, PP_ERR_EMPTY)
            return
        pp_refuse(idx, PP_ERR_ABORT)
        return
    if n == 0:
        buf_put(b)
        pp_refuse(idx, PP_ERR_EMPTY)
        return
    r = pp_parse(b, <int>n, &src, &dst, &has_addr, &auth_off, &auth_len)
    if r == 0:
        buf_put(b)
        if s.cli_rd == 2:
            pp_refuse(idx, PP_ERR_TRUNCATED)    # the client closed inside the header
        return
    if r > 0:
        n = recv(s.cfd, b, r, MSG_DONTWAIT)
        if n != r:
            r = PP_ERR_ABORT
        elif auth_len > 0:
            # kept for `proxy-v2-options authority` (the copy read now is the peeked one)
            s.pp_auth = <char *>malloc(auth_len)
            if s.pp_auth != NULL:
                memcpy(s.pp_auth, b + auth_off, auth_len)
                s.pp_auth_len = auth_len
    buf_put(b)
    if has_addr:
        sess_addr_set(&s.cli_addr, &src)
        s.cli_addrlen = sizeof(sockaddr_in) if src.ss_family == AF_INET else sizeof(sockaddr_in6)
        sess_addr_set(&s.pp_dst, &dst)
        s.pp_dst_set = 1
    if r < 0:
        pp_refuse(idx, r)
        return
    s.cli_exp = 0
    if s.cli_rd != 2:
        s.cli_rd = 1          # what followed the header may be there already: read it
    if tls_start(idx):          # tls: the handshake follows the header
        sess_io(idx)            # (the ClientHello may have come with it: no new edge)
        return
    sess_begin(idx)


cdef int pp_send_header(int idx) noexcept nogil:
    """`send-proxy`/`send-proxy-v2`: the header goes first on a connection just established,
    in one write (it is far smaller than an empty socket buffer). -1 if it could not be sent."""
    cdef sess_t *s = &g_sess[idx]
    cdef srv_t *sv
    cdef char out[PP_BUILD_MAX]
    cdef char tlv[PP_SSL_TLV_MAX]
    cdef sockaddr_storage local
    cdef sockaddr_storage *dst = sa_of(&s.pp_dst)
    cdef int n, ssl_len = 0
    if s.srv < 0:
        return 0
    sv = &g_srv[s.srv]
    if sv.conf.send_proxy == 0:
        return 0
    if not s.pp_dst_set:
        if sess_local_addr(s, &local) < 0:
            return -1
        dst = &local
    if sv.conf.send_proxy == 2 and (sv.conf.pp_opts & PP_OPT_SSL):
        ssl_len = tls_pp2_ssl(sess_tls_fd(s), sv.conf.pp_opts, tlv, PP_SSL_TLV_MAX)
    n = pp_build(sv.conf.send_proxy, sv.conf.pp_opts, sa_of(&s.cli_addr), dst, s.pp_auth, s.pp_auth_len,
                 tlv, ssl_len, out, PP_BUILD_MAX)
    if n <= 0 or send(s.sfd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT) != n:
        return -1
    return 0


# ---- server connection events

cdef void handle_server_connecting(int idx, unsigned int events) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef int err = 0, hs = tls_srv_pending(s)
    cdef socklen_t elen = sizeof(err)
    if events & (EPOLLOUT | EPOLLERR | EPOLLHUP) or hs:
        # Writable without an error flag means connected; only an error needs SO_ERROR.
        # (tls: during the server handshake any event may move it on, a read as well.)
        if events & (EPOLLERR | EPOLLHUP):
            getsockopt(s.sfd, SOL_SOCKET, SO_ERROR, &err, &elen)
            if err == 0:
                err = ECONNREFUSED
        if err == 0 and not hs and pp_send_header(idx) < 0:
            err = EPIPE
        if err == 0:
            hs = tls_srv_step(idx)      # tls: the handshake is part of the connect
            if hs == 0:
                return
            if hs < 0:
                err = ECONNRESET
        if err == 0 and ((s.srv >= 0 and g_srv[s.srv].conf.proto_h2) or tls_alpn_h2(s.sfd)):
            # HTTP/2 to the server: `proto h2`, or ALPN chose h2; the request is kept until the
            # server's SETTINGS say it speaks HTTP/2 (else a failed connect, http_read_response)
            if h2o_new(s.sfd) < 0:
                err = ENOMEM
            else:
                s.req.hold = 1
        if err == 0:
            s.srv_wr = 1
            if events & (EPOLLRDHUP | EPOLLHUP):
                s.srv_rd = 2
            elif events & EPOLLIN or tls_is(s.sfd):
                s.srv_rd = 1        # (tls: the handshake may have taken the read edge)
            conn_established(idx)
            sess_io(idx)
            return
        conn_failed(idx)


# ---- data phase

cdef void sess_io(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    if s.state == ST_PROXY:
        pp_client_io(idx)
        return
    if s.state == ST_TLS_HS:    # tls
        if tls_hs_io(idx) > 0:
            sess_begin(idx)
        return
    if s.state == ST_INSPECT:
        tcp_inspect_io(idx, 0)
        return
    if s.state == ST_H2:
        h2_conn_io(idx)
        return
    if s.state == ST_REQ or s.state == ST_ERRPAGE or s.state == ST_LINGER:
        http_client_io(idx)
        h2_start_preface(idx)       # (the HTTP/2 preface came instead of a request)
        return
    if (s.state == ST_CONNECTING or s.state == ST_TURNAROUND) and sess_abort_on_close(idx):
        return
    if s.state == ST_QUEUED:
        if s.cli_rd == 2 and (g_px[s.px].opts | g_px[s.be].opts) & PO_ABORTONCLOSE:
            # abortonclose: the client left while waiting for a slot; the queue shrinks at once
            # (CQ, <NOSRV>) instead of when its turn comes
            s.term_cause = TERM_CLI_ABORT
            s.term_phase = PH_QUEUE
            sess_close(idx)
        return
    if s.state != ST_RELAY:
        return
    if s.fast & 1:
        fp_io(idx)          # the kernel relays it: an end or an error (tcp.pxi)
        return
    if g_px[s.px].mode == MODE_HTTP:
        http_relay_io(idx)
    elif not s.rsp_insp or tcp_rsp_inspect_io(idx, 0) == 0:
        tcp_relay_io(idx)


# ---- timers

cdef void sess_timeout(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    if s.fast & 1:
        fp_timeout(idx)     # (tcp.pxi)
        return
    if s.state == ST_PROXY:
        if s.cli_exp and s.cli_exp <= g_now:
            pp_refuse(idx, PP_ERR_TIMEOUT)
        else:
            sess_arm(s, idx)
        return
    if s.state == ST_TLS_HS:    # tls: `timeout client` during the handshake
        if s.cli_exp and s.cli_exp <= g_now:
            tls_hs_timeout(idx)
        else:
            sess_arm(s, idx)
        return
    if s.state == ST_RELAY and s.rsp_insp and s.con_exp and s.con_exp <= g_now:
        # `tcp-response inspect-delay` over: the response rules decide on what came
        s.con_exp = 0
        if tcp_rsp_inspect_io(idx, 1) == 0:
            tcp_relay_io(idx)
        return
    if (s.state == ST_RELAY and s.fast == 0 and s.fast_tried == 0 and s.con_exp and s.con_exp <= g_now
            and g_px[s.px].mode == MODE_TCP):
        s.con_exp = 0       # the fast path's hand-over, tried again (tcp.pxi fp_try)
        tcp_relay_io(idx)
        return
    if s.state == ST_INSPECT:   # `inspect-delay` over: the content rules decide on what came
        if s.cli_exp and s.cli_exp <= g_now:
            tcp_inspect_io(idx, 1)
        else:
            sess_arm(s, idx)
        return
    if s.state == ST_H2:
        if s.cli_exp and s.cli_exp <= g_now:
            h2_timeout(idx)
        else:
            sess_arm(s, idx)
        return
    if s.state == ST_QUEUED and s.con_exp and s.con_exp <= g_now:
        # `timeout queue` expired: 503, logged "sQ"
        queue_del(idx)
        ctr_px(s.be).err_conn += 1
        sess_fail(idx, TERM_SRV_TO, PH_QUEUE, 503)
        return
    if s.state == ST_TARPIT:
        # A tarpitted request is held on cli_exp alone; its end is the 500 page.
        if s.cli_exp and s.cli_exp <= g_now:
            s.cli_exp = 0
            rules_tarpit_expired(idx)
        return
    if s.state == ST_TURNAROUND and s.con_exp and s.con_exp <= g_now:
        s.con_exp = 0
        turnaround_end(idx)
        return
    if s.con_exp and s.con_exp <= g_now and s.state == ST_CONNECTING:
        s.con_exp = 0
        if s.srv >= 0:
            pass
        if s.sfd >= 0:
            sfd_close(s.sfd)
            s.sfd = -1
        if s.retries_left <= 0:
            s.term_cause = TERM_SRV_TO
            s.term_phase = PH_CONNECT
            if s.srv >= 0:
                ctr_srv(s.srv).err_conn += 1
            ctr_px(s.be).err_conn += 1
            sess_fail(idx, TERM_SRV_TO, PH_CONNECT, 503)
            return
        if sess_retry(idx, 0) == 1:
            sess_start_connect(idx)
        return
    if s.cli_exp and s.cli_exp <= g_now:
        if s.state == ST_REQ:
            s.cli_exp = 0
            if http_req_probe(s):
                # An idle kept-alive connection (or an ignored probe) simply ends.
                s.logged = 1
                sess_close(idx)
            else:
                # (also a body that `option http-buffer-request` waits for: 2.6 logs it "cR" too)
                http_req_failed(s)
                sess_fail(idx, TERM_CLI_TO, PH_REQ, 408)
            return
        if tcp_timeout_applies(s):
            tcp_timeout(idx, 1)
            return
        s.term_cause = TERM_CLI_TO
        s.term_phase = PH_DATA
        sess_close(idx)
        return
    if s.srv_exp and s.srv_exp <= g_now:
        s.srv_exp = 0
        if g_px[s.px].mode == MODE_HTTP and s.rsp.bytes == 0 and s.t_rsp == 0:
            sess_fail(idx, TERM_SRV_TO, PH_HDRS, 504)
            return
        if tcp_timeout_applies(s):
            tcp_timeout(idx, 0)
            return
        s.term_cause = TERM_SRV_TO
        s.term_phase = PH_DATA
        sess_close(idx)
        return
    sess_arm(s, idx)


cdef inline int tcp_timeout_applies(sess_t *s) noexcept nogil:
    """A relayed TCP session or tunnel on the loop's relay: its timeouts are tcp_timeout's."""
    return s.state == ST_RELAY and s.fast == 0 and not s.rsp_insp \
        and (g_px[s.px].mode == MODE_TCP or s.tunnel)


cdef void run_timers() noexcept nogil:
    cdef int idx
    cdef long long at
    cdef sess_t *s
    while g_heap_n > 0 and g_heap_exp[0] <= g_now:
        at = g_heap_exp[0]
        idx = g_heap_idx[0]
        heap_pop()
        s = &g_sess[idx]
        if s.state == ST_FREE or s.heap_at != at:
            continue
        s.heap_at = 0
        if sess_next_exp(s) <= g_now:
            sess_timeout(idx)
        else:
            sess_arm(s, idx)


cdef int next_timeout_ms() noexcept nogil:
    cdef long long t = -1
    cdef long long d
    cdef int i
    if g_h2_nwake:
        return 0
    if g_heap_n > 0:
        t = g_heap_exp[0]
    if g_cps_resume_at and (t < 0 or g_cps_resume_at < t):
        t = g_cps_resume_at
    if g_stopping:
        for i in range(g_npx):
            if g_grace_until[i] and (t < 0 or g_grace_until[i] < t):
                t = g_grace_until[i]
    if t < 0:
        return 1000
    d = t - g_now
    if d < 0:
        return 0
    if d > 1000:
        return 1000
    return <int>d


# ---- signals and soft stop


cdef void soft_stop() noexcept nogil:
    """SIGUSR1: stop listening (after `grace` for proxies that have one); exit once sessions end.

    Idle kept-alive HTTP connections end within STOP_IDLE_MS: a request already on its way
    is still served, with `Connection: close`, rather than met by a close (which loses it).
    """
    global g_stopping
    cdef int li, px, i
    g_stopping = 1
    for i in range(g_maxsess):
        if g_sess[i].state == ST_REQ and g_sess[i].http_ka and g_sess[i].req.buf_in == 0:
            stop_idle_deadline(&g_sess[i])
            sess_arm(&g_sess[i], i)
        elif g_sess[i].state == ST_H2:
            h2_soft_stop(i)
    for li in range(g_nlst):
        px = g_lst[li].px
        if g_px[px].conf.grace > 0:
            if g_grace_until[px] == 0:
                g_grace_until[px] = g_now + g_px[px].conf.grace
        else:
            lst_drain_close(li)


cdef void lst_drain_close(int li) noexcept nogil:
    """Stopping: accept what already waits in the listener's queue, then close this process's
    copy. Usually the socket lives on in the processes replacing this one (`-W` reloads, and
    `-sf`/`-x`, which hand the sockets over: pyhaproxy/sockxfer.py), queue included; when it does
    not (a successor that bound its own), draining first leaves fewer queued connections to be
    reset by the close. The socket's backlog is never touched here: it is shared, and a smaller
    one would be every later generation's (a listen(fd, 0) here once left -W reloads with a
    queue of one, and SYNs dropped)."""
    cdef int k
    if g_lst[li].state == LI_READY:
        for k in range(64):       # bounded: at most 64 bursts (4,096 connections)
            handle_accept(li)
    lst_close(li)


cdef void check_grace() noexcept nogil:
    cdef int li, px
    if not g_stopping:
        return
    for li in range(g_nlst):
        px = g_lst[li].px
        if g_lst[li].state != LI_CLOSED and g_grace_until[px] and g_grace_until[px] <= g_now:
            lst_drain_close(li)


cdef void handle_signals() noexcept nogil:
    global g_terminate
    cdef signalfd_siginfo si
    while read(g_sigfd, &si, sizeof(si)) == sizeof(si):
        if si.ssi_signo == SIGUSR1:
            soft_stop()
        elif si.ssi_signo == SIGTTOU:
            lst_pause_all()
        elif si.ssi_signo == SIGTTIN:
            lst_resume_all()
        elif si.ssi_signo == SIGTERM or si.ssi_signo == SIGINT:
            g_terminate = 1


# ---- the loop


cdef void dispatch_event(unsigned long long data, unsigned int events) noexcept nogil:
    cdef int tag = <int>(data & 3)
    cdef int idx = <int>((data >> 2) & 0x3fffffff)
    cdef unsigned int gen = <unsigned int>(data >> 32)
    cdef sess_t *s
    if tag == TAG_LISTENER:
        if g_lst[idx].state == LI_READY:
            handle_accept(idx)
        return
    if tag == TAG_SIGNAL:
        if idx > 0:
            # a server connection once parked (srvpool.pxi): the pool's, or a session's again
            idx = pool_fd_event(idx - 1, gen, events)
            if idx >= 0:
                server_event(idx, events)
        else:
            handle_signals()
        return
    s = &g_sess[idx]
    if s.state == ST_FREE or s.gen != gen:
        return
    if tag == TAG_CLIENT:
        events = tls_fd_events(s.cfd, events)     # tls
        if events & EPOLLERR and s.fast & 1:
            s.fast_err |= 1
        if events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR):
            s.cli_rd = 2
        elif events & EPOLLIN and s.cli_rd == 0:
            s.cli_rd = 1
        if events & (EPOLLOUT | EPOLLHUP | EPOLLERR):
            s.cli_wr = 1
        sess_io(idx)
    else:
        server_event(idx, events)


cdef void server_event(int idx, unsigned int events) noexcept nogil:
    """Events on a session's server side."""
    cdef sess_t *s = &g_sess[idx]
    events = h2o_events(s.sfd, events) if s.sfd >= 0 else events     # tls (server ... ssl), h2 (h2srv.pxi)
    if s.state == ST_CONNECTING:
        handle_server_connecting(idx, events)
        return
    if s.state == ST_REQ or s.state == ST_ERRPAGE or s.state == ST_LINGER:
        http_idle_server_event(idx)
        return
    if events & EPOLLERR and s.fast & 1:
        s.fast_err |= 2
    if events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR):
        s.srv_rd = 2
    elif events & EPOLLIN and s.srv_rd == 0:
        s.srv_rd = 1
    if events & (EPOLLOUT | EPOLLHUP | EPOLLERR):
        s.srv_wr = 1
    sess_io(idx)


cdef unsigned int g_kill_gen_seen = 0


cdef void kill_refresh() noexcept nogil:
    """Cut the sessions of the servers whose shm kill_gen moved (`on-marked-down
    shutdown-sessions`, `on-marked-up shutdown-backup-sessions`): those connected or connecting
    to it, as 2.6's srv_shutdown_streams(); queued ones are left to the queue. HTTP/2 streams
    (their server connections are shared) are left alone."""
    global g_kill_gen_seen
    cdef int i, idx
    cdef shm_srv *sr
    cdef sess_t *s
    g_kill_gen_seen = g_shm.kill_gen
    for i in range(g_nsrv):
        sr = shm_srv_at(g_shm, i)
        if sr.kill_gen == g_srv[i].kill_seen:
            continue
        g_srv[i].kill_seen = sr.kill_gen
        for idx in range(g_maxsess):
            s = &g_sess[idx]
            if s.state == ST_FREE or s.srv != i or s.sfd < 0 or s.h2s != 0:
                continue
            s.term_cause = sr.kill_cause
            s.term_phase = PH_NONE      # (2.6 logs "D-" / "U-": its stream is shut, no phase set)
            sess_close(idx)


cdef int event_loop() noexcept nogil:
    cdef epoll_event events[MAX_EVENTS]
    cdef int n, i, timeout
    while True:
        timeout = next_timeout_ms()
        n = epoll_wait(g_ep, events, MAX_EVENTS, timeout)
        clock_update()
        if g_shm.maps_gen != g_maps_gen_seen:
            maps_refresh(g_shm.maps_gen)    # `add map`... on the stats socket: a rare event
        if g_shm.kill_gen != g_kill_gen_seen:
            kill_refresh()                  # on-marked-down / on-marked-up: a rare event
        if n > 0:
            for i in range(n):
                dispatch_event(events[i].data.u64, events[i].events)
        if g_h2_nwake:
            h2_run_wakes()      # HTTP/2 streams and their sessions moved by each other (h2.pxi)
        run_timers()
        if g_cps_resume_at and g_cps_resume_at <= g_now and not g_stopping:
            lst_resume_rate()
        if g_queue_dirty:
            process_queues()
        if g_stopping:
            check_grace()
        if g_terminate:
            return 0
        if g_stopping and g_actconn == 0 and open_listeners() == 0:
            return 0
