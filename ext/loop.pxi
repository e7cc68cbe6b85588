# The worker's event loop: accept, sessions, connect and retries, timers, signals, soft stop.

cdef enum:
    MAX_EVENTS = 256
    ACCEPT_BURST = 64


cdef inline unsigned long long ev_data(int idx, int tag) noexcept nogil:
    return (<unsigned long long>g_sess[idx].gen << 32) | (<unsigned long long>idx << 2) | <unsigned long long>tag


cdef int ep_add(int fd, unsigned int events, unsigned long long data) noexcept nogil:
    cdef epoll_event ev
    ev.events = events
    ev.data.u64 = data
    return epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev)


cdef inline void ep_del(int fd) noexcept nogil:
    cdef epoll_event ev
    epoll_ctl(g_ep, EPOLL_CTL_DEL, fd, &ev)


# ---- listeners

cdef void lst_enable(int li) noexcept nogil:
    cdef lst_t *l = &g_lst[li]
    if l.state == LI_FULL or l.state == LI_READY:
        if ep_add(l.fd, EPOLLIN | EPOLLEXCLUSIVE, <unsigned long long>li << 2 | TAG_LISTENER) == 0:
            l.state = LI_READY


cdef void lst_disable_full(int li) noexcept nogil:
    global g_listeners_full
    cdef lst_t *l = &g_lst[li]
    if l.state == LI_READY:
        ep_del(l.fd)
        l.state = LI_FULL
        g_listeners_full = 1


cdef void lst_close(int li) noexcept nogil:
    cdef lst_t *l = &g_lst[li]
    if l.state == LI_CLOSED:
        return
    if l.state == LI_READY:
        ep_del(l.fd)
    close(l.fd)
    l.state = LI_CLOSED


cdef void lst_pause_all() noexcept nogil:
    cdef int li
    for li in range(g_nlst):
        if g_lst[li].state == LI_READY or g_lst[li].state == LI_FULL:
            if g_lst[li].state == LI_READY:
                ep_del(g_lst[li].fd)
            # Leaving the LISTEN state while staying bound frees the port for a new instance.
            shutdown(g_lst[li].fd, SHUT_WR)
            listen(g_lst[li].fd, g_lst[li].backlog)
            shutdown(g_lst[li].fd, SHUT_RD)
            g_lst[li].state = LI_PAUSED


cdef void lst_resume_all() noexcept nogil:
    cdef int li
    for li in range(g_nlst):
        if g_lst[li].state == LI_PAUSED:
            listen(g_lst[li].fd, g_lst[li].backlog)
            g_lst[li].state = LI_FULL
            lst_enable(li)


cdef void lst_recheck_full() noexcept nogil:
    """Re-enable listeners that were disabled because a limit was reached."""
    global g_listeners_full
    cdef int li
    cdef px_t *p
    if not g_listeners_full or g_actconn >= g_maxconn:
        return
    g_listeners_full = 0
    for li in range(g_nlst):
        if g_lst[li].state == LI_FULL:
            p = &g_px[g_lst[li].px]
            if p.feconn < p.conf.maxconn:
                lst_enable(li)
            else:
                g_listeners_full = 1


cdef int open_listeners() noexcept nogil:
    cdef int li, n = 0
    for li in range(g_nlst):
        if g_lst[li].state != LI_CLOSED:
            n += 1
    return n


# ---- sessions

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


cdef void chan_release(chan_t *ch) noexcept nogil:
    if ch.pipe_r >= 0:
        if ch.in_pipe:
            close(ch.pipe_r)
            close(ch.pipe_w)
            ch.pipe_r = -1
            ch.pipe_w = -1
            ch.in_pipe = 0
        else:
            pipe_put(ch)
    if ch.buf != NULL:
        buf_put(ch.buf)
        ch.buf = NULL


cdef void ctr_add_bytes(sess_t *s) noexcept nogil:
    """Move the session's byte counts into its proxy's and server's counters."""
    cdef shm_ctr *c = ctr_px(s.px)
    c.bytes_in += s.req.bytes
    c.bytes_out += s.rsp.bytes
    if s.be != s.px:
        c = ctr_px(s.be)
        c.bytes_in += s.req.bytes
        c.bytes_out += s.rsp.bytes
    if s.srv >= 0:
        c = ctr_srv(s.srv)
        c.bytes_in += s.req.bytes
        c.bytes_out += s.rsp.bytes
    s.req.bytes = 0
    s.rsp.bytes = 0


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
    sess_log(s)
    if g_px[s.px].opts & PO_NOLINGER and s.cfd >= 0:
        # `option nolinger`: drop unsent data and free the socket at once (a reset).
        lg.l_onoff = 1
        lg.l_linger = 0
        setsockopt(s.cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))
    log_closed(s)
    if s.cfd >= 0:
        close(s.cfd)
    if s.sfd >= 0:
        close(s.sfd)
    chan_release(&s.req)
    chan_release(&s.rsp)
    if s.loginfo != NULL:
        buf_put(s.loginfo)
        s.loginfo = NULL
    ctr_add_bytes(s)
    ctr_px(s.px).cur_sess -= 1
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
    cdef int to = sess_tunnel(s)
    if to == 0:
        to = g_px[s.px].conf.clitimeout
    s.cli_exp = g_now + to if to > 0 else 0


cdef inline void touch_srv(sess_t *s) noexcept nogil:
    cdef int to = sess_tunnel(s)
    if to == 0:
        to = g_px[s.be].conf.srvtimeout
    s.srv_exp = g_now + to if to > 0 else 0


# ---- accepting

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
    s.cli_addr = addr[0]
    s.cli_addrlen = alen
    s.accept_ms = g_now
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
        http_send_raw(idx, MONITOR_OK, 19)


cdef void handle_accept(int li) noexcept nogil:
    cdef lst_t *l = &g_lst[li]
    cdef px_t *p = &g_px[l.px]
    cdef sockaddr_storage addr
    cdef socklen_t alen
    cdef int fd, idx, k, tq, one = 1
    cdef sess_t *s
    for k in range(ACCEPT_BURST):
        if g_actconn >= g_maxconn or p.feconn >= p.conf.maxconn:
            lst_disable_full(li)
            return
        alen = sizeof(addr)
        fd = accept4(l.fd, <sockaddr *>&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC)
        if fd < 0:
            if errno == EMFILE or errno == ENFILE or errno == ENOBUFS or errno == ENOMEM:
                # Out of resources: stop accepting until a session ends.
                lst_disable_full(li)
            return
        if monitor_match(p, &addr) or p.mode == MODE_HEALTH:
            # Answered by the proxy itself, never relayed nor logged.
            handle_monitor(li, fd, &addr, alen)
            continue
        idx = sess_open(li, fd, &addr, alen)
        if idx < 0:
            continue
        s = &g_sess[idx]
        log_accept(s)
        # Small request/response exchanges must not wait on Nagle for the previous ACK.
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
        if p.opts & PO_CLITCPKA:
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one))
        if sess_watch(idx) < 0:
            continue
        if p.mode == MODE_HTTP:
            s.state = ST_REQ
            s.req.buf = NULL
            tq = p.conf.httpreqtimeout if p.conf.httpreqtimeout > 0 else p.conf.clitimeout
            s.cli_exp = g_now + tq if tq > 0 else 0
            sess_arm(s, idx)
        else:
            # TCP: the backend is chosen now, on what is known at accept (src, dst_port)
            sess_set_be(s, acl_switch_backend(s, NULL, NULL))
            s.retries_left = g_px[s.be].conf.retries
            touch_cli(s)
            sess_start_connect(idx)


# ---- connecting to a server, retries, redispatch

cdef int sess_try_connect(int idx) noexcept nogil:
    """Start one connect(); 0 in progress, -1 failed at once (retryable), -2 no resource."""
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.be]
    cdef srv_t *sv
    cdef sockaddr_storage addr
    cdef socklen_t alen
    cdef sockaddr_storage *src = NULL
    cdef socklen_t srclen = 0
    cdef int fd, one = 1
    if s.srv >= 0:
        sv = &g_srv[s.srv]
        addr = sv.addr
        alen = sv.addrlen
        if sv.port_mode:
            (<sockaddr_in *>&addr).sin_port = htons(<uint16_t>(g_lst[s.lst].port + sv.conf.port_offset))
        if sv.has_source:
            src = &sv.source
            srclen = sv.source_len
    elif s.srv == SRV_STATS:
        addr = g_stats_addr
        alen = g_stats_addrlen
    else:
        addr = p.dispatch
        alen = p.dispatch_len
    if src == NULL and p.has_source:
        src = &p.source
        srclen = p.source_len
    if s.srv == SRV_STATS:
        src = NULL
    fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
    if fd < 0:
        return -2
    if addr.ss_family != AF_UNIX:
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
    if p.opts & PO_SRVTCPKA:
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one))
    if src != NULL:
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one))
        if bind(fd, <sockaddr *>src, srclen) < 0:
            close(fd)
            return -2
    if connect(fd, <sockaddr *>&addr, alen) < 0 and errno != EINPROGRESS:
        close(fd)
        return -1
    if ep_add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, ev_data(idx, TAG_SERVER)) < 0:
        close(fd)
        return -2
    s.sfd = fd
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
    if s.t_cstart == 0:
        s.t_cstart = g_now     # the end of Tw (time in the queue), the start of Tc
    while True:
        r = sess_try_connect(idx)
        if r == 0:
            return
        if r == -2:
            sess_fail(idx, TERM_RESOURCE, PH_CONNECT, 503)
            return
        if not sess_retry(idx):
            return


cdef int sess_retry(int idx) noexcept nogil:
    """After a failed connect: 1 if another attempt should be made now, 0 if the session was failed."""
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.be]
    cdef int g, failed
    if s.srv >= 0:
        ctr_srv(s.srv).err_conn += 1
    if s.retries_left <= 0:
        ctr_px(s.be).err_conn += 1
        sess_fail(idx, TERM_SRV_ABORT, PH_CONNECT, 503)
        return 0
    s.retries_left -= 1
    ctr_px(s.be).retries += 1
    if s.srv >= 0:
        ctr_srv(s.srv).retries += 1
    if s.retries_left == 0 and (p.opts & PO_REDISPATCH) and p.nsrv > 0:
        # The last attempt goes to another server (HAProxy's redispatch), not the one that failed.
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
    return 1


cdef void conn_established(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    s.state = ST_RELAY
    s.srv_reused = 0
    s.con_exp = 0
    s.t_conn = g_now
    touch_srv(s)
    if sess_tunnel(s):
        touch_cli(s)
    sess_arm(s, idx)
    log_connected(s)


cdef void handle_server_connecting(int idx, unsigned int events) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef int err = 0
    cdef socklen_t elen = sizeof(err)
    if events & (EPOLLOUT | EPOLLERR | EPOLLHUP):
        # Writable without an error flag means connected; only an error needs SO_ERROR.
        if events & (EPOLLERR | EPOLLHUP):
            getsockopt(s.sfd, SOL_SOCKET, SO_ERROR, &err, &elen)
            if err == 0:
                err = ECONNREFUSED
        if err == 0:
            s.srv_wr = 1
            if events & (EPOLLRDHUP | EPOLLHUP):
                s.srv_rd = 2
            elif events & EPOLLIN:
                s.srv_rd = 1
            conn_established(idx)
            sess_io(idx)
            return
        conn_failed(idx)


cdef void conn_failed(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    if s.sfd >= 0:
        close(s.sfd)
        s.sfd = -1
    s.con_exp = 0
    if sess_retry(idx):
        sess_start_connect(idx)


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


# ---- data phase

cdef void sess_io(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    if s.state == ST_REQ or s.state == ST_ERRPAGE or s.state == ST_LINGER:
        http_client_io(idx)
        return
    if s.state == ST_CONNECTING and sess_abort_on_close(idx):
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
    if g_px[s.px].mode == MODE_HTTP:
        http_relay_io(idx)
    else:
        tcp_relay_io(idx)


cdef void tcp_relay_io(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef int r1, r2
    r1 = chan_xfer(&s.req, s.cfd, s.sfd, &s.cli_rd, &s.srv_wr)
    r2 = chan_xfer(&s.rsp, s.sfd, s.cfd, &s.srv_rd, &s.cli_wr)
    if (r1 & XF_DST_ERR) or (r2 & XF_SRC_ERR):
        s.term_cause = TERM_SRV_ABORT
        s.term_phase = PH_DATA
        sess_close(idx)
        return
    if (r2 & XF_DST_ERR) or (r1 & XF_SRC_ERR):
        s.term_cause = TERM_CLI_ABORT
        s.term_phase = PH_DATA
        sess_close(idx)
        return
    if (r1 & XF_RD) or (r2 & XF_WR):
        touch_cli(s)
    if (r1 & XF_WR) or (r2 & XF_RD):
        touch_srv(s)
    tcp_shut_check(idx)


cdef void tcp_shut_check(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    # Half-closes are passed on with shutdown(); the last one is left to close(), which sends
    # the same FIN (both receive queues are empty by then, so it is not a reset): one syscall less.
    if s.req.eof and not s.req.shut and s.req.in_pipe == 0 and s.req.buf_len == 0:
        if not s.rsp.shut:
            shutdown(s.sfd, SHUT_WR)
        s.req.shut = 1
    if s.rsp.eof and not s.rsp.shut and s.rsp.in_pipe == 0 and s.rsp.buf_len == 0:
        if not s.req.shut:
            shutdown(s.cfd, SHUT_WR)
        s.rsp.shut = 1
    if s.req.shut and s.rsp.shut:
        sess_close(idx)
        return
    # A side that has finished both ways has no timeout of its own any more.
    if s.req.eof and s.rsp.shut:
        s.cli_exp = 0
    sess_arm(s, idx)


# ---- timers

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


cdef void sess_timeout(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
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
    if s.con_exp and s.con_exp <= g_now and s.state == ST_CONNECTING:
        s.con_exp = 0
        if s.srv >= 0:
            pass
        if s.sfd >= 0:
            close(s.sfd)
            s.sfd = -1
        if s.retries_left <= 0:
            s.term_cause = TERM_SRV_TO
            s.term_phase = PH_CONNECT
            if s.srv >= 0:
                ctr_srv(s.srv).err_conn += 1
            ctr_px(s.be).err_conn += 1
            sess_fail(idx, TERM_SRV_TO, PH_CONNECT, 503)
            return
        if sess_retry(idx):
            sess_start_connect(idx)
        return
    if s.cli_exp and s.cli_exp <= g_now:
        if s.state == ST_REQ:
            s.cli_exp = 0
            if s.http_ka and s.req.buf_in == 0:
                # An idle kept-alive connection simply ends.
                s.logged = 1
                sess_close(idx)
            else:
                sess_fail(idx, TERM_CLI_TO, PH_REQ, 408)
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
        s.term_cause = TERM_SRV_TO
        s.term_phase = PH_DATA
        sess_close(idx)
        return
    sess_arm(s, idx)


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
    if g_heap_n > 0:
        t = g_heap_exp[0]
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
    for li in range(g_nlst):
        px = g_lst[li].px
        if g_px[px].conf.grace > 0:
            if g_grace_until[px] == 0:
                g_grace_until[px] = g_now + g_px[px].conf.grace
        else:
            lst_drain_close(li)


cdef void lst_drain_close(int li) noexcept nogil:
    """Stopping: accept what already waits in the listener's queue, then close it. With -sf the
    socket is this process's own (SO_REUSEPORT), and closing it resets every connection still
    queued in it; the new process's socket takes the next ones."""
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
        handle_signals()
        return
    s = &g_sess[idx]
    if s.state == ST_FREE or s.gen != gen:
        return
    if tag == TAG_CLIENT:
        if events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR):
            s.cli_rd = 2
        elif events & EPOLLIN and s.cli_rd == 0:
            s.cli_rd = 1
        if events & (EPOLLOUT | EPOLLHUP | EPOLLERR):
            s.cli_wr = 1
        sess_io(idx)
    else:
        if s.state == ST_CONNECTING:
            handle_server_connecting(idx, events)
            return
        if s.state == ST_REQ or s.state == ST_ERRPAGE or s.state == ST_LINGER:
            http_idle_server_event(idx)
            return
        if events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR):
            s.srv_rd = 2
        elif events & EPOLLIN and s.srv_rd == 0:
            s.srv_rd = 1
        if events & (EPOLLOUT | EPOLLHUP | EPOLLERR):
            s.srv_wr = 1
        sess_io(idx)


cdef int event_loop() noexcept nogil:
    cdef epoll_event events[MAX_EVENTS]
    cdef int n, i, timeout
    while True:
        timeout = next_timeout_ms()
        n = epoll_wait(g_ep, events, MAX_EVENTS, timeout)
        clock_update()
        if n > 0:
            for i in range(n):
                dispatch_event(events[i].data.u64, events[i].events)
        run_timers()
        if g_queue_dirty:
            process_queues()
        if g_stopping:
            check_grace()
        if g_terminate:
            return 0
        if g_stopping and g_actconn == 0 and open_listeners() == 0:
            return 0
