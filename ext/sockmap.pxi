# The TCP fast path's state (docs/tcp-fastpath.md): the generation's SOCKHASH pair and verdict
# program (made by the master before fork, `Sockmap`), and what a session handed to the kernel
# has moved, read back from its sockets' TCP counters. The session side is tcp.pxi's.

cdef skm_maps g_skm               # the generation's maps and program (verdict -1: no fast path)
g_skm.verdict = g_skm.target = g_skm.hold = g_skm.count = g_skm.seq = g_skm.prog = -1


cdef enum:
    FP_DRAIN_MS = 2       # a half-close waiting for the kernel to pass the last bytes: look again
    FP_CHECK_MS = 100     # how often a fast session's queues are looked at (a client not reading)
    FP_QUEUE_MAX = 4 << 20  # bytes queued by the kernel for a side that does not read: take it back
    FP_TRIES = 64         # hand-overs put off because the counters moved while read (FP_DRAIN_MS apart)
    TCP_STATE_CLOSE = 7


cdef int fp_counts_stable(int fd, skm_counts *c) noexcept nogil:
    """The socket's counters with `received` and `inq` read at one moment (bytes arriving
    between the reads would make received - inq wrong), and `written` too (an ACK between
    TCP_INFO and SIOCOUTQ makes it short: the kernel's part, counted from it, would be long
    and a FIN passed on early): -1 if they cannot be read, or keep moving (the caller tries
    again later)."""
    cdef skm_counts again
    cdef int k
    for k in range(8):
        if skm_read(fd, c) < 0 or skm_read(fd, &again) < 0:
            return -1
        if again.received == c.received and again.inq == c.inq and again.written == c.written:
            return 0
    return -1


cdef inline unsigned long long fp_moved(unsigned long long written_now, unsigned long long written0,
                                        int fin_sent) noexcept nogil:
    """Bytes the kernel wrote to a socket since it took the session over (our FIN, once sent,
    takes one sequence number, as the SYN did before the snapshot)."""
    cdef long long n = <long long>(written_now - written0) - fin_sent
    return <unsigned long long>n if n > 0 else 0


cdef long long fp_pending(int src, int dst, unsigned long long cons0, unsigned long long wr0,
                          int fin_sent) noexcept nogil:
    """Bytes that came in on `src` (its FIN received) and have not all been written to `dst`
    yet; -1 if unknown. Counted from the source's FIN-inclusive `received`, less what user space
    took before the hand-over, less what the kernel wrote to `dst` since: read in that order, so
    an answer of 0 is never early."""
    cdef skm_counts cs, cd
    if skm_read(src, &cs) < 0 or skm_read(dst, &cd) < 0:
        return -1
    return <long long>(cs.received - 1 - cons0) - <long long>fp_moved(cd.written, wr0, fin_sent)


cdef long long fp_queued(int src_key_c, sess_t *s) noexcept nogil:
    """Bytes the program redirected from one side that the kernel has not written to the other
    yet (src_key_c: from the client's socket, else the server's); -1 if unknown."""
    cdef skm_counts c
    cdef unsigned long long red = 0
    if src_key_c:
        if skm_redirected(&g_skm, &s.fp_key_c, &red) < 0 or skm_read(s.sfd, &c) < 0:
            return -1
        return <long long>red - <long long>fp_moved(c.written, s.fp_wr_s, s.req.shut)
    if skm_redirected(&g_skm, &s.fp_key_s, &red) < 0 or skm_read(s.cfd, &c) < 0:
        return -1
    return <long long>red - <long long>fp_moved(c.written, s.fp_wr_c, s.rsp.shut)


cdef void fp_settle(sess_t *s) noexcept nogil:
    """When the kernel stops relaying a session (its end, before the log line, or the loop
    taking it back): add what the kernel moved to the channels' byte counts, so that logs and
    stats count as the epoll relay does (bytes written to the destination), and forget its keys."""
    cdef skm_counts c
    if s.fast != 1 and s.fast != 3:
        return
    s.fast = 2
    if s.sfd >= 0 and skm_read(s.sfd, &c) == 0:
        s.req.bytes += fp_moved(c.written, s.fp_wr_s, s.req.shut)
    if s.cfd >= 0 and skm_read(s.cfd, &c) == 0:
        s.rsp.bytes += fp_moved(c.written, s.fp_wr_c, s.rsp.shut)
    if g_skm.verdict >= 0:
        skm_forget(&g_skm, &s.fp_key_c)
        skm_forget(&g_skm, &s.fp_key_s)


cdef class Sockmap:
    """The fast path of one generation of workers: the maps and the sk_skb verdict program
    (ext/sockmap.c), made by the master; activate() before fork gives the worker them.
    Raises OSError with the reason when the kernel refuses (no privilege, no BPF, seccomp)."""

    cdef skm_maps m

    def __cinit__(self, unsigned int entries):
        cdef char err[256]
        cdef int r
        r = skm_open(max(2, entries), &self.m, err, sizeof(err))
        if r < 0:
            raise OSError(-r, err.decode("utf-8", "replace"))

    def activate(self) -> None:
        global g_skm
        g_skm = self.m

    def close(self) -> None:
        global g_skm
        if g_skm.verdict == self.m.verdict:
            g_skm.verdict = g_skm.target = g_skm.hold = g_skm.count = g_skm.seq = g_skm.prog = -1
        skm_close(&self.m)

    def __dealloc__(self):
        skm_close(&self.m)
