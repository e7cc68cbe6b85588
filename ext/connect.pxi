# The server side: connect (server choice done), retries (with HAProxy 2.x's turn-around wait)
# and redispatch, the queue's turn.


cdef void set_tcp_keepalive(int fd, int cnt, int idle, int intvl) noexcept nogil:
    """SO_KEEPALIVE (`option clitcpka|srvtcpka`) and the probes' timing of `clitcpka-*` /
    `srvtcpka-*` when given (0 keeps the kernel's), as 2.6 sets them on each connection."""
    cdef int one = 1
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one))
    if cnt > 0:
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt))
    if idle > 0:
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle))
    if intvl > 0:
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl))


cdef int sess_try_connect(int idx) noexcept nogil:
    """Start one connect(); 0 in progress, -1 failed at once (retryable), -2 no resource."""
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.be]
    cdef srv_t *sv
    cdef sockaddr_storage addr
    cdef socklen_t alen
    cdef sockaddr_storage *src = NULL
    cdef socklen_t srclen = 0
    cdef int fd, one = 1, zero = 0
    if s.srv >= 0:
        sv = &g_srv[s.srv]
        addr = sv.addr
        alen = sv.addrlen
        if sv.port_mode:
            (<sockaddr_in *>&addr).sin_port = htons(<uint16_t>(sess_dst_port(s) + sv.conf.port_offset))
        if sv.has_source:
            src = &sv.source
            srclen = sv.source_len
    elif s.srv == SRV_STATS:
        addr = g_stats_addr
        alen = g_stats_addrlen
    elif s.srv == SRV_PROMEX:
        addr = g_promex_addr
        alen = g_promex_addrlen
    else:
        addr = p.dispatch
        alen = p.dispatch_len
    if src == NULL and p.has_source:
        src = &p.source
        srclen = p.source_len
    if s.srv == SRV_STATS or s.srv == SRV_PROMEX:
        src = NULL
    fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
    if fd < 0:
        return -2
    if addr.ss_family != AF_UNIX:
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
    if p.opts & PO_SRVTCPKA:
        set_tcp_keepalive(fd, p.conf.srvtcpka_cnt, p.conf.srvtcpka_idle, p.conf.srvtcpka_intvl)
    if (p.opts & PO_TCP_SMART_CONNECT) and addr.ss_family != AF_UNIX and s.srv >= 0 \
            and g_srv[s.srv].conf.send_proxy:
        # `option tcp-smart-connect`: the PROXY header leaves with the handshake's last ACK
        # instead of after an empty one. Only then, as in 2.6: its "data to send" test looks at
        # the response channel (backend.c do_connect_server), always empty at connect time, so
        # a request alone never turns quick ACKs off (measured: QUICKACK stays 1 in 2.6.12)
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero))
    if s.srv >= 0 and addr.ss_family != AF_UNIX and g_srv[s.srv].conf.tcp_ut > 0:
        # `tcp-ut` (2.6 proto_tcp.c tcp_connect_server). (`tfo` sets nothing: 2.6 only asks for
        # TCP_FASTOPEN_CONNECT when its "data to send" test passes, and that test looks at the
        # response channel (backend.c connect_server), empty at connect time: measured, the
        # SYNs of 2.6.12 never carry the TFO option)
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &g_srv[s.srv].conf.tcp_ut, sizeof(int))
    if src != NULL:
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one))
        if bind(fd, <sockaddr *>src, srclen) < 0:
            close(fd)
            return -2
    if s.srv != SRV_STATS and s.srv != SRV_PROMEX:
        ctr_px(s.be).connect += 1       # (an attempt: `connect` in show stat)
        if s.srv >= 0:
            ctr_srv(s.srv).connect += 1
    if connect(fd, <sockaddr *>&addr, alen) < 0 and errno != EINPROGRESS:
        close(fd)
        return -1
    if ep_add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, ev_data(idx, TAG_SERVER)) < 0:
        close(fd)
        return -2
    s.sfd = fd
    s.sfd_tagged = 0
    srv_conn_used(fd, s.srv)        # (a server's: `used_conn_cur`; none for the stats page)
    s.srv_rd = 0
    s.srv_wr = 0
    s.state = ST_CONNECTING
    s.con_exp = g_now + p.conf.contimeout if p.conf.contimeout > 0 else 0
    sess_arm(s, idx)
    return 0


cdef int sess_abort_on_close(int idx) noexcept nogil:
    """`option abortonclose`: a client that has closed before its server connection is up is not
    worth a server's time; end the session (CC). 1 when it was ended."""
    cdef sess_t *s = &g_sess[idx]
    if s.cli_rd != 2 or not ((g_px[s.px].opts | g_px[s.be].opts) & PO_ABORTONCLOSE):
        return 0
    s.term_cause = TERM_CLI_ABORT
    s.term_phase = PH_CONNECT
    sess_close(idx)
    return 1


cdef int pool_reuse(int idx) noexcept nogil:
    """A stream's session with its server chosen: send its request over a parked connection to
    that server if there is one (1), else 0 (connect as usual)."""
    cdef sess_t *s = &g_sess[idx]
    cdef int fd
    if s.h2c == 0 or s.h2s == 0 or s.srv < 0 or s.sfd >= 0 or g_srv[s.srv].conf.maxconn:
        return 0
    if g_srv[s.srv].conf.send_proxy:
        return 0                # (a PROXY header names one client: its connection is its own)
    fd = pool_take(s.srv, idx, pool_want(s))     # (`http-reuse`)
    if fd < 0:
        return 0
    s.sfd = fd
    s.sfd_tagged = 1
    srv_conn_used(fd, s.srv)
    s.srv_wr = 1
    s.srv_rd = 0
    s.state = ST_RELAY
    s.t_conn = g_now
    if s.t_cstart == 0:
        s.t_cstart = g_now
    s.srv_reused = 1
    ctr_reuse(s)
    s.req.hold = 1
    touch_srv(s)
    sess_arm(s, idx)
    h2s_wake(&g_h2s[s.h2s - 1], 1, 0)    # the request goes now (no new edge will say writable)
    return 1


cdef void sess_start_connect(int idx) noexcept nogil:
    """Choose a server if none is set yet, then connect, retrying as `retries`/`redispatch` say."""
    global g_queue_dirty
    cdef sess_t *s = &g_sess[idx]
    cdef int g, r
    if sess_abort_on_close(idx):
        return
    if s.srv == -1:
        if g_px[s.be].nq > 0:
            # Others wait already: behind them (FIFO), even when a slot has just been freed,
            # since the queue is served at the end of this turn and its head comes first.
            queue_add(idx)
            g_queue_dirty = 1      # (a server may have come back since: look at the queue again)
            return
        g = select_server(s)
        if g == -1:
            if be_can_queue(&g_px[s.be]):
                queue_add(idx)     # every server that could take it is at its maxconn
                return
            sess_fail(idx, TERM_SRV_ABORT, PH_CONNECT, 503)
            return
        if g >= 0:
            sess_set_srv(s, g)
        else:
            s.srv = -2
    if pool_reuse(idx):
        return              # an HTTP/2 stream: an idle connection to that server (srvpool.pxi)
    while True:
        if s.t_cstart == 0:
            s.t_cstart = g_now     # the end of Tw (time in the queue), the start of Tc
        r = sess_try_connect(idx)
        if r == 0:
            return
        if r == -2:
            sess_fail(idx, TERM_RESOURCE, PH_CONNECT, 503)
            return
        if sess_retry(idx, 0) == 0:
            return


cdef int be_srv_act(px_t *p) noexcept nogil:
    """The backend's active (not backup) servers that are up and take traffic: HAProxy's srv_act."""
    cdef int g, n = 0
    cdef shm_srv *st
    for g in range(p.srv_first, p.srv_first + p.nsrv):
        st = shm_srv_at(g_shm, g)
        if not g_srv[g].conf.backup and st.state == SRV_UP and not st.admin_down and st.weight != 0:
            n += 1
    return n


cdef inline int redispatch_due(px_t *p, int left) noexcept nogil:
    """`option redispatch N` on this retry (`left` retries remain after it): every Nth retry, or
    for N < 0 the -Nth retry before the last (the default -1: the last); 0 never (2.6's formula)."""
    cdef int n = p.conf.redispatch_after, done = p.conf.retries - left, k
    if n > 0:
        return done % n == 0
    k = p.conf.retries + 1 + n
    return n < 0 and k > 0 and done % k == 0


cdef int sess_retry(int idx, int async_err) noexcept nogil:
    """After a failed connect: 0 if the session was failed, 1 if another attempt should be made
    now, 2 if it should be made after the turn-around wait (`sess_turnaround`).

    As HAProxy 2.6 does (backend.c, back_handle_st_cer and stream_choose_redispatch): with
    `redispatch`, a retry goes to another server when the server is not up, on the last retry, or
    at once when round robin has more than one active server to choose from and no cookie chose
    this one. A connect refused asynchronously (`async_err`: refused after EINPROGRESS, the usual
    case) waits min(`timeout connect`, 1 s) before the next attempt unless it is redispatched by
    round robin among several servers; a synchronous failure or a connect timeout retries at once.
    """
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.be]
    cdef int g, failed, redisp = 0, rr, act
    if s.retries_left <= 0:
        # (2.6 counts a connection error once, when the retries are spent: on the server and
        # the backend; each failed attempt before is a retry, wretr)
        if s.srv >= 0:
            ctr_srv(s.srv).err_conn += 1
        ctr_px(s.be).err_conn += 1
        sess_fail(idx, TERM_SRV_ABORT, PH_CONNECT, 503)
        return 0
    s.retries_left -= 1
    ctr_px(s.be).retries += 1
    if s.srv >= 0:
        ctr_srv(s.srv).retries += 1
    rr = p.balance == BAL_ROUNDROBIN or p.balance == BAL_STATIC_RR
    act = be_srv_act(p)
    if (p.opts & PO_REDISPATCH) and p.nsrv > 0 and s.prst != PRST_FORCE:
        redisp = redispatch_due(p, s.retries_left) or (s.srv >= 0 and (
            not srv_alive(s.srv) or (s.ck_found_srv != s.srv and act > 1 and rr)))
    if redisp:
        # Another server than the one that failed.
        failed = s.srv
        sess_set_srv(s, -1)
        g = select_server(s)
        if g == failed and g >= 0:
            g = select_server(s)
        if g == -1:
            sess_fail(idx, TERM_SRV_ABORT, PH_CONNECT, 503)
            return 0
        if g >= 0:
            sess_set_srv(s, g)
        else:
            s.srv = -2
        ctr_px(s.be).redispatches += 1
        if g != failed:
            s.redispatched = 1     # (2.6 marks it only when the server changed)
        s.t_cstart = 0             # Tw ends when the redispatched attempt starts, as in 2.6
    if async_err and (not redisp or not rr or act <= 1):
        return 2
    return 1


cdef void sess_turnaround(int idx) noexcept nogil:
    """Wait min(`timeout connect`, 1 s) before the next connect (HAProxy 2.x's turn-around); the
    session stops counting as its server's meanwhile, and `abortonclose` may end it (CC)."""
    cdef sess_t *s = &g_sess[idx]
    cdef int d = 1000
    cdef int to = g_px[s.be].conf.contimeout
    if 0 < to < d:
        d = to
    s.state = ST_TURNAROUND
    s.con_exp = g_now + d
    if s.srv >= 0:
        ctr_srv(s.srv).cur_sess -= 1
    sess_arm(s, idx)
    sess_abort_on_close(idx)


cdef void turnaround_end(int idx) noexcept nogil:
    """The turn-around wait is over: connect again."""
    cdef sess_t *s = &g_sess[idx]
    s.state = ST_CONNECTING
    if s.srv >= 0:
        ctr_srv(s.srv).cur_sess += 1
    sess_start_connect(idx)


cdef void conn_established(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    s.state = ST_RELAY
    s.srv_reused = 0
    s.con_exp = 0
    # TCP: the backend's `tcp-response content` rules hold what the server sends until they
    # decide (loop.pxi tcp_rsp_inspect_io)
    s.rsp_insp = 1 if (g_px[s.be].ntrc > 0 or g_px[s.be].sk_rsp) and g_px[s.px].mode != MODE_HTTP else 0
    s.t_conn = g_now
    touch_srv(s)
    if sess_tunnel(s):
        touch_cli(s)
    sess_arm(s, idx)
    log_connected(s)


cdef void conn_failed(int idx) noexcept nogil:
    """The connect failed after EINPROGRESS (refused, unreachable): retry, maybe after a wait."""
    cdef sess_t *s = &g_sess[idx]
    cdef int r
    if s.sfd >= 0:
        sfd_close(s.sfd)
        s.sfd = -1
    s.con_exp = 0
    r = sess_retry(idx, 1)
    if r == 1:
        sess_start_connect(idx)
    elif r == 2:
        sess_turnaround(idx)


cdef void process_queues() noexcept nogil:
    """Server slots were freed: start the sessions at the head of each backend queue that can go."""
    global g_queue_dirty
    cdef int b, idx, g
    cdef px_t *p
    cdef sess_t *s
    while g_queue_dirty:
        g_queue_dirty = 0
        for b in range(g_npx):
            p = &g_px[b]
            while p.nq > 0:
                idx = p.q_head
                s = &g_sess[idx]
                g = select_server(s)
                if g == -1:
                    if be_can_queue(p):
                        break              # still full: wait for the next freed slot
                    queue_del(idx)         # no server can take it any more
                    sess_fail(idx, TERM_SRV_ABORT, PH_QUEUE, 503)
                    continue
                queue_del(idx)
                if g >= 0:
                    sess_set_srv(s, g)
                else:
                    s.srv = -2
                s.state = ST_CONNECTING
                sess_start_connect(idx)
