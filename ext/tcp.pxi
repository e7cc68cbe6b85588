# TCP mode's data phase (and HTTP tunnels): relay both ways, forward half-closes.

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
            tls_shut(s.cfd)     # tls: close_notify first
            shutdown(s.cfd, SHUT_WR)
        s.rsp.shut = 1
    if s.req.shut and s.rsp.shut:
        sess_close(idx)
        return
    # A side that has finished both ways has no timeout of its own any more.
    if s.req.eof and s.rsp.shut:
        s.cli_exp = 0
    sess_arm(s, idx)

