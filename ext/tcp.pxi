# TCP mode's data phase (and HTTP tunnels): relay both ways, forward half-closes; `option
# tcp-fastpath` hands a TCP session's sockets to the kernel's sockmap (sockmap.pxi, ext/sockmap.c).

cdef void tcp_relay_io(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef int r1, r2
    r1 = chan_xfer(&s.req, s.cfd, s.sfd, &s.cli_rd, &s.srv_wr)
    r2 = chan_xfer(&s.rsp, s.sfd, s.cfd, &s.srv_rd, &s.cli_wr)
    if (r1 & XF_DST_ERR) or (r2 & XF_SRC_ERR) or (r2 & XF_DST_ERR) or (r1 & XF_SRC_ERR):
        if s.term_cause == TERM_NONE:       # (the first cause is logged: a timeout before it)
            s.term_cause = TERM_SRV_ABORT if (r1 & XF_DST_ERR) or (r2 & XF_SRC_ERR) else TERM_CLI_ABORT
            s.term_phase = PH_DATA
        sess_close(idx)
        return
    if (r1 & XF_RD) or (r2 & XF_WR):
        touch_cli(s)
    if (r1 & XF_WR) or (r2 & XF_RD):
        touch_srv(s)
    tcp_shut_check(idx)
    if s.state == ST_RELAY and s.fast == 0 and s.fast_tried == 0 and fp_candidate(idx):
        fp_try(idx)


cdef void tcp_shut_check(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    # Half-closes are passed on with shutdown(); the last one is left to close(), which sends
    # the same FIN (both receive queues are empty by then, so it is not a reset): one syscall less.
    if s.req.eof and not s.req.shut and s.req.in_pipe == 0 and s.req.buf_len == 0:
        if not s.rsp.shut:
            shutdown(s.sfd, SHUT_WR)
        s.req.shut = 1
        if g_px[s.be].conf.serverfintimeout > 0:
            touch_srv(s)        # `timeout server-fin` from now on (2.6 sets it at the shutdown)
    if s.rsp.eof and not s.rsp.shut and s.rsp.in_pipe == 0 and s.rsp.buf_len == 0:
        if not s.req.shut:
            tls_shut(s.cfd)     # tls: close_notify first
            shutdown(s.cfd, SHUT_WR)
        s.rsp.shut = 1
        if s.tunnel and g_px[s.px].mode != MODE_TCP:
            # 2.6: a server that ends an HTTP tunnel (after a 101 or CONNECT) ends the stream at
            # once, its end passed on to the client (no client-fin wait, no termination flag)
            sess_close(idx)
            return
        if g_px[s.px].conf.clientfintimeout > 0:
            touch_cli(s)        # `timeout client-fin`
    if s.req.shut and s.rsp.shut:
        sess_close(idx)
        return
    # A side that sends no more (its end read, or its read timed out) keeps a timeout only while
    # data waits to be written to it: 2.6's write timeout. An idle session whose client has
    # ended lasts until the server ends too, or until `timeout server`, not `timeout client`.
    if s.req.eof:
        if s.rsp.shut or (s.rsp.buf_len == 0 and s.rsp.in_pipe == 0):
            s.cli_exp = 0
        elif s.cli_exp == 0:
            touch_cli(s)
    if s.rsp.eof:
        if s.req.shut or (s.req.buf_len == 0 and s.req.in_pipe == 0):
            s.srv_exp = 0
        elif s.srv_exp == 0:
            touch_srv(s)
    sess_arm(s, idx)


cdef void tcp_timeout(int idx, int cli) noexcept nogil:
    """`timeout client` (cli) or `timeout server` of a TCP session or tunnel, as 2.6 applies
    them: a side idle both ways is read no more and its end is passed on to the other side (a
    FIN), which may still answer until it ends or times out itself; the session is logged with
    the first timeout (cD, sD). A side that does not read what waits for it ends the session."""
    cdef sess_t *s = &g_sess[idx]
    cdef chan_t *ch = &s.req if cli else &s.rsp       # what this side sends
    cdef chan_t *back = &s.rsp if cli else &s.req     # what waits to be written to it
    if s.term_cause == TERM_NONE:
        s.term_cause = TERM_CLI_TO if cli else TERM_SRV_TO
        s.term_phase = PH_DATA
    if ch.eof or back.buf_len or back.in_pipe:
        sess_close(idx)
        return
    ch.eof = 1
    if cli:
        s.cli_exp = 0
    else:
        s.srv_exp = 0
    tcp_shut_check(idx)



# ---- the fast path (docs/tcp-fastpath.md)

cdef int fp_candidate(int idx) noexcept nogil:
    """A session the fast path may still take (the option on, a TCP proxy, the generation's maps
    loaded, plain sockets, both sides open): 1; 0 while `tcp-response` inspection runs. Any
    other: the loop keeps it for good (fast_tried)."""
    cdef sess_t *s = &g_sess[idx]
    if s.rsp_insp:
        return 0
    if (g_skm.verdict < 0 or g_px[s.px].mode != MODE_TCP
            or not ((g_px[s.px].opts | g_px[s.be].opts) & PO_TCP_FASTPATH)):
        s.fast_tried = 1
        return 0
    if s.cfd >= VFD_BASE or s.sfd < 0 or tls_is(s.cfd) or tls_is(s.sfd):
        fp_give_up(idx, b"TLS or not a plain socket", 25, 0)
        return 0
    if s.req.eof or s.rsp.eof or s.req.shut or s.rsp.shut or s.cli_rd == 2 or s.srv_rd == 2:
        fp_give_up(idx, b"a side ended", 12, 0)
        return 0
    return 1


cdef void fp_give_up(int idx, const char *why, int wlen, int err) noexcept nogil:
    """The session stays on the epoll relay for good; `-d` says why."""
    cdef sess_t *s = &g_sess[idx]
    cdef char b[96]
    cdef int n = 0
    s.fast_tried = 1
    if s.con_exp and s.state == ST_RELAY:
        s.con_exp = 0       # (a retry's timer: fp_try)
    if dbg_on():
        la(b, &n, 80, b"stays on the loop: ", 19)
        la(b, &n, 80, why, wlen)
        if err:
            la(b, &n, 90, b" errno ", 7)
            ld(b, &n, 95, err)
        dbg_line(s, b"fastpath", 8, b, n)


cdef void fp_try(int idx) noexcept nogil:
    """Hand a candidate's two sockets to the kernel once a first exchange went each way and
    nothing of the session waits in user space: each socket's bytes then go straight to the
    other's send path, and the loop only hears of their ends and errors.

    Nothing in user space also means that the loop read each socket until it had nothing more
    (it stops reading a socket with bytes left only when the other side is full, and then holds
    some): no byte of the queue is half taken. That matters: the kernel passes a socket's queue
    to the program a whole skb at a time, from its start, bytes already read included (measured
    on 6.18: a hand-over after a 16 KiB read out of a longer skb sent those 16 KiB twice). So a
    session whose loop cannot catch up (a server streaming to a client that is not reading)
    waits on the epoll relay until the loop reads its sockets dry, on a later event.

    A pairing the kernel refuses (IPv6, a full map) leaves the session on the epoll relay for
    good; counters that moved while read (bytes or ACKs arriving) are read again on the next
    event or in FP_DRAIN_MS, up to FP_TRIES times: not given up at the first try."""
    cdef sess_t *s = &g_sess[idx]
    cdef skm_counts cc, cs
    cdef int r, e
    cdef epoll_event ev
    if s.req.bytes == 0 or s.rsp.bytes == 0:
        return
    if s.req.buf_in or s.req.buf_len or s.req.in_pipe or s.rsp.buf_in or s.rsp.buf_len or s.rsp.in_pipe:
        return          # (the destination's EPOLLOUT brings us back)
    if s.cli_rd == 1 or s.srv_rd == 1:
        return          # (not read dry: a read cut short, e.g. no pipe; a later event)
    # what user space took off each socket and wrote to each, before the kernel does any of it
    if fp_counts_stable(s.cfd, &cc) < 0 or fp_counts_stable(s.sfd, &cs) < 0:
        s.fp_tries += 1
        if s.fp_tries >= FP_TRIES:
            fp_give_up(idx, b"counters never still", 20, 0)
            return
        s.con_exp = g_now + FP_DRAIN_MS
        sess_arm(s, idx)
        return
    r = skm_pair(&g_skm, s.cfd, s.sfd, &s.fp_key_c, &s.fp_key_s)
    if r == -1:
        e = errno
        fp_give_up(idx, b"pairing refused", 15, e)
        return
    s.fast = 1
    s.fp_cons_c = cc.received - cc.inq
    s.fp_cons_s = cs.received - cs.inq
    s.fp_wr_c = cc.written
    s.fp_wr_s = cs.written
    chan_release(&s.req)
    chan_release(&s.rsp)
    if r == -2:         # half in: neither the kernel nor the loop can relay it whole
        s.term_cause = TERM_RESOURCE
        s.term_phase = PH_DATA
        sess_close(idx)
        return
    # only the ends and errors now (EPOLLERR and EPOLLHUP are always reported)
    ev.events = EPOLLRDHUP | EPOLLET
    ev.data.u64 = ev_data(idx, TAG_CLIENT)
    epoll_ctl(g_ep, EPOLL_CTL_MOD, s.cfd, &ev)
    ev.data.u64 = ev_data(idx, TAG_SERVER)
    epoll_ctl(g_ep, EPOLL_CTL_MOD, s.sfd, &ev)
    s.con_exp = g_now + FP_CHECK_MS // 10   # (its queues are looked at: fp_check)
    sess_arm(s, idx)
    if dbg_on():
        dbg_line(s, b"fastpath", 8, b"handed to the kernel", 20)


cdef void fp_check(int idx) noexcept nogil:
    """The kernel does not bound what it queues for a socket that does not read: a side with
    more than FP_QUEUE_MAX waiting is held (the program keeps new bytes on their own socket,
    where TCP's window bounds them) and the loop takes the session back once the kernel's
    queues are written (fp_return)."""
    cdef sess_t *s = &g_sess[idx]
    cdef long long q1 = fp_queued(1, s), q0 = fp_queued(0, s)
    cdef char b[96]
    cdef int n = 0
    if q1 > FP_QUEUE_MAX or q0 > FP_QUEUE_MAX:
        skm_hold(&g_skm, &s.fp_key_c)
        skm_hold(&g_skm, &s.fp_key_s)
        s.fast = 3
        s.con_exp = g_now + FP_CHECK_MS // 10
        if dbg_on():
            la(b, &n, 90, b"held: queued to the server ", 27)
            ld(b, &n, 90, q1)
            la(b, &n, 90, b", to the client ", 16)
            ld(b, &n, 90, q0)
            dbg_line(s, b"fastpath", 8, b, n)
    elif q1 > FP_QUEUE_MAX // 16 or q0 > FP_QUEUE_MAX // 16:
        # a queue building up: on loopback a peer can push 2 GB/s, look again soon
        if s.con_exp == 0 or s.con_exp > g_now + FP_CHECK_MS // 10:
            s.con_exp = g_now + FP_CHECK_MS // 10
    elif s.con_exp == 0:
        s.con_exp = g_now + FP_CHECK_MS


cdef void fp_return(int idx) noexcept nogil:
    """A held session whose kernel queues are written: the loop relays it again, with recv()
    and send() (what came meanwhile waits in the sockets' sockmap queues: splice() would not
    see it), its ends and timeouts as any session's."""
    cdef sess_t *s = &g_sess[idx]
    cdef epoll_event ev
    cdef char b[96]
    cdef int n = 0
    fp_settle(s)
    if dbg_on():
        la(b, &n, 90, b"taken back after ", 17)
        ld(b, &n, 90, <long long>s.req.bytes)
        la(b, &n, 90, b" bytes up, ", 11)
        ld(b, &n, 90, <long long>s.rsp.bytes)
        la(b, &n, 90, b" down", 5)
        dbg_line(s, b"fastpath", 8, b, n)
    s.fast_tried = 1
    s.con_exp = 0
    s.req.nosplice = 1
    s.rsp.nosplice = 1
    if s.cli_rd != 2:
        s.cli_rd = 1
    if s.srv_rd != 2:
        s.srv_rd = 1
    s.cli_wr = 1
    s.srv_wr = 1
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET
    ev.data.u64 = ev_data(idx, TAG_CLIENT)
    epoll_ctl(g_ep, EPOLL_CTL_MOD, s.cfd, &ev)
    ev.data.u64 = ev_data(idx, TAG_SERVER)
    epoll_ctl(g_ep, EPOLL_CTL_MOD, s.sfd, &ev)
    tcp_relay_io(idx)


cdef void fp_half_close(int idx) noexcept nogil:
    """Pass a side's FIN on once every byte received from it has been written to the other
    side (the kernel may still hold some: look again in FP_DRAIN_MS); close once both are."""
    cdef sess_t *s = &g_sess[idx]
    cdef long long p
    if s.fast != 1:
        return          # (held: the loop takes the ends once it relays the session again)
    s.con_exp = g_now + FP_CHECK_MS
    if s.cli_rd == 2 and not s.req.shut:
        p = fp_pending(s.cfd, s.sfd, s.fp_cons_c, s.fp_wr_s, 0)
        if p == 0:
            shutdown(s.sfd, SHUT_WR)
            s.req.shut = 1
            s.req.eof = 1
        else:
            s.con_exp = g_now + FP_DRAIN_MS
    if s.srv_rd == 2 and not s.rsp.shut:
        p = fp_pending(s.sfd, s.cfd, s.fp_cons_s, s.fp_wr_c, 0)
        if p == 0:
            shutdown(s.cfd, SHUT_WR)
            s.rsp.shut = 1
            s.rsp.eof = 1
        else:
            s.con_exp = g_now + FP_DRAIN_MS
    if s.req.shut and s.rsp.shut:
        sess_close(idx)
        return
    if s.req.eof and s.rsp.shut:
        s.cli_exp = 0       # (as tcp_shut_check: a side done both ways has no timeout any more)
    sess_arm(s, idx)


cdef void fp_io(int idx) noexcept nogil:
    """An event on a fast session's socket: an end (half-close) or an error."""
    cdef sess_t *s = &g_sess[idx]
    if s.fast_err:
        s.term_cause = TERM_CLI_ABORT if s.fast_err & 1 else TERM_SRV_ABORT
        s.term_phase = PH_DATA
        sess_close(idx)
        return
    fp_half_close(idx)


cdef int fp_idle_ms(int fd) noexcept nogil:
    """Milliseconds since data last went either way on the socket, -1 if unknown."""
    cdef skm_counts c
    if skm_read(fd, &c) < 0:
        return -1
    return <int>(c.last_recv_ms if c.last_recv_ms < c.last_sent_ms else c.last_sent_ms)


cdef void fp_timeout(int idx) noexcept nogil:
    """A fast session's timer: a half-close to look at again, or `timeout client`/`server`
    (`tunnel`) measured from the sockets' last data, which the loop no longer sees."""
    cdef sess_t *s = &g_sess[idx]
    cdef unsigned int gen = s.gen
    cdef int idle, to
    if s.con_exp and s.con_exp <= g_now:
        if s.fast == 3:
            if fp_queued(1, s) == 0 and fp_queued(0, s) == 0:
                fp_return(idx)      # (the loop's relay from here on, timers included)
                return
            s.con_exp = g_now + FP_CHECK_MS // 10
        else:
            fp_half_close(idx)
            if s.state == ST_FREE or s.gen != gen:
                return
            if s.fast == 1:
                fp_check(idx)
    if s.cli_exp and s.cli_exp <= g_now:
        to = sess_tunnel(s) or g_px[s.px].conf.clitimeout
        idle = fp_idle_ms(s.cfd)
        if 0 <= idle < to:
            s.cli_exp = g_now + to - idle
        elif fp_timeout_side(idx, 1) < 0:
            return
    if s.srv_exp and s.srv_exp <= g_now:
        to = sess_tunnel(s) or g_px[s.be].conf.srvtimeout
        idle = fp_idle_ms(s.sfd)
        if 0 <= idle < to:
            s.srv_exp = g_now + to - idle
        elif fp_timeout_side(idx, 0) < 0:
            return
    sess_arm(s, idx)


cdef int fp_timeout_side(int idx, int cli) noexcept nogil:
    """tcp_timeout's rule for a fast session: a side idle both ways with nothing queued either
    way gets no more of its bytes forwarded and its end is passed on (a FIN to the other side);
    otherwise the session ends. -1 when it has ended."""
    cdef sess_t *s = &g_sess[idx]
    cdef chan_t *ch = &s.req if cli else &s.rsp
    if s.term_cause == TERM_NONE:
        s.term_cause = TERM_CLI_TO if cli else TERM_SRV_TO
        s.term_phase = PH_DATA
    if s.fast != 1 or ch.shut or fp_queued(1, s) != 0 or fp_queued(0, s) != 0:
        sess_close(idx)
        return -1
    shutdown(s.sfd if cli else s.cfd, SHUT_WR)
    ch.shut = 1
    ch.eof = 1
    if cli:
        s.cli_exp = 0
    else:
        s.srv_exp = 0
    if s.req.shut and s.rsp.shut:
        sess_close(idx)
        return -1
    return 0
