# Log lines: formatted in C into a stack buffer and sent with one non-blocking sendmsg() per target
# (writev() for `stdout`/`stderr`/fd@N), each with the header of its `format`.
#
# Formats are HAProxy's (doc/haproxy-en.txt section 4.2, in the 1.3+ form that log tools parse):
#   default  "Connect from IP:PORT to IP:PORT (PROXY/MODE)"            at accept (HAProxy 1.2)
#   tcplog   "IP:PORT [DD/Mon/YYYY:HH:MM:SS.mmm] FE BE/SRV Tw/Tc/Tt BYTES TT ACT/FE/BE/SRV/RETRIES SQ/BQ"
#   httplog  "IP:PORT [date] FE BE/SRV Tq/Tw/Tc/Tr/Tt STATUS BYTES CC CC TTTT ACT/FE/BE/SRV/RETRIES SQ/BQ
#             [{hdrs}] [{hdrs}] "REQUEST""
# each behind the target's header (by default "<PRI>Mon DD HH:MM:SS TAG[PID]: ", see log_header)
# and cut at the target's `len` (1024 by default), as haproxy 2.6 does.
# Nothing here blocks or raises: a lost datagram is a lost log line, as in HAProxy.


cpdef enum log_override:
    LOG_SILENT = 9          # `set-log-level silent`: the transaction is not logged (s.log_level)

cdef int g_log_fd4 = -1


cdef int g_log_fd6 = -1


cdef int g_log_fdu = -1


cdef int g_log_quiet = 0


cdef unsigned int g_log_uid = 0


# The RFC 3164 date "Mon DD HH:MM:SS " and the ISO 8601 one "YYYY-MM-DDTHH:MM:SS.uuuuuu+hh:mm "
# change once a second: cached (the microseconds of the ISO one are written per line).
cdef long long g_log_hdr_sec = -1


cdef char g_log_hdr[64]


cdef int g_log_hdr_len = 0


cdef long long g_log_iso_sec = -1


cdef char g_log_iso[40]


# `log-send-hostname`: the host name of the RFC 3164/5424 headers (empty: none)
cdef char g_log_host[256]


cdef int g_log_host_len = 0


cdef extern from "<unistd.h>" nogil:
    int isatty(int fd)


cdef extern from "<fcntl.h>" nogil:
    enum:
        F_GETFL
        F_SETFL


cdef extern from "<sys/uio.h>" nogil:
    cdef struct log_iovec "iovec":
        void *iov_base
        size_t iov_len
    ssize_t log_writev "writev"(int fd, const log_iovec *iov, int iovcnt)


cdef extern from "<sys/socket.h>" nogil:
    cdef struct log_msghdr "msghdr":
        void *msg_name
        socklen_t msg_namelen
        log_iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    ssize_t log_sendmsg "sendmsg"(int fd, const log_msghdr *msg, int flags)


# Accept dates are formatted from a cached broken-down time of the same second.
cdef long long g_log_acc_sec = -1


cdef log_tm g_log_acc_tm


cdef void log_hdr_update() noexcept nogil:
    """The cached "Mon DD HH:MM:SS " of the current second (local time)."""
    global g_log_hdr_sec, g_log_hdr_len
    cdef long long sec = g_wall // 1000
    cdef log_time_t t = <log_time_t>sec
    cdef log_tm tm
    cdef int n = 0
    if sec == g_log_hdr_sec:
        return
    g_log_hdr_sec = sec
    log_localtime_r(&t, &tm)
    la(g_log_hdr, &n, 64, LOG_MONTHS + 3 * tm.tm_mon, 3)
    lc(g_log_hdr, &n, 64, b' ')
    if tm.tm_mday < 10:
        lc(g_log_hdr, &n, 64, b' ')
    ld(g_log_hdr, &n, 64, tm.tm_mday)
    lc(g_log_hdr, &n, 64, b' ')
    ldw(g_log_hdr, &n, 64, tm.tm_hour, 2)
    lc(g_log_hdr, &n, 64, b':')
    ldw(g_log_hdr, &n, 64, tm.tm_min, 2)
    lc(g_log_hdr, &n, 64, b':')
    ldw(g_log_hdr, &n, 64, tm.tm_sec, 2)
    lc(g_log_hdr, &n, 64, b' ')
    g_log_hdr_len = n


cdef void log_iso_update() noexcept nogil:
    """g_log_iso = "YYYY-MM-DDTHH:MM:SS.uuuuuu+hh:mm " of now, local time with its offset
    (2.6's timeofday_as_iso_us: the time of the call, to the microsecond)."""
    global g_log_iso_sec
    cdef timespec ts
    cdef log_time_t t
    cdef log_tm tm
    cdef int n = 0
    cdef long off
    clock_gettime(CLOCK_REALTIME, &ts)
    if ts.tv_sec != g_log_iso_sec:
        g_log_iso_sec = ts.tv_sec
        t = <log_time_t>ts.tv_sec
        log_localtime_r(&t, &tm)
        ldw(g_log_iso, &n, 40, tm.tm_year + 1900, 4)
        lc(g_log_iso, &n, 40, b'-')
        ldw(g_log_iso, &n, 40, tm.tm_mon + 1, 2)
        lc(g_log_iso, &n, 40, b'-')
        ldw(g_log_iso, &n, 40, tm.tm_mday, 2)
        lc(g_log_iso, &n, 40, b'T')
        ldw(g_log_iso, &n, 40, tm.tm_hour, 2)
        lc(g_log_iso, &n, 40, b':')
        ldw(g_log_iso, &n, 40, tm.tm_min, 2)
        lc(g_log_iso, &n, 40, b':')
        ldw(g_log_iso, &n, 40, tm.tm_sec, 2)
        la(g_log_iso, &n, 40, b".000000", 7)
        off = tm.tm_gmtoff
        if off < 0:
            lc(g_log_iso, &n, 40, b'-')
            off = -off
        else:
            lc(g_log_iso, &n, 40, b'+')
        ldw(g_log_iso, &n, 40, off // 3600, 2)
        lc(g_log_iso, &n, 40, b':')
        ldw(g_log_iso, &n, 40, (off // 60) % 60, 2)
        lc(g_log_iso, &n, 40, b' ')
    n = 20
    ldw(g_log_iso, &n, 40, (ts.tv_nsec // 1000) % 1000000, 6)


cdef int log_begin(char *b) noexcept nogil:
    """The write position of a message in b (its header is built per target by log_send)."""
    return LOG_HDR_ROOM


cdef int log_header(logsrv_t *t, px_t *p, int level, char *h, int cap) noexcept nogil:
    """The header of the target's format for one message at `level`, as 2.6's
    build_log_header(); returns its length."""
    cdef int n = 0, f = t.format
    if f == LOG_FMT_LOCAL or f == LOG_FMT_RFC3164 or f == LOG_FMT_RFC5424 or f == LOG_FMT_PRIO:
        lc(h, &n, cap, b'<')
        ld(h, &n, cap, t.facility * 8 + level)
        lc(h, &n, cap, b'>')
    elif f == LOG_FMT_TIMED or f == LOG_FMT_SHORT:
        lc(h, &n, cap, b'<')
        ld(h, &n, cap, level)
        lc(h, &n, cap, b'>')
    if f == LOG_FMT_LOCAL or f == LOG_FMT_RFC3164:
        log_hdr_update()
        la(h, &n, cap, g_log_hdr, g_log_hdr_len)
        if f == LOG_FMT_RFC3164:
            if g_log_host_len:
                la(h, &n, cap, g_log_host, g_log_host_len)
                lc(h, &n, cap, b' ')
            else:
                la(h, &n, cap, b"localhost ", 10)
        la(h, &n, cap, p.log_tag, p.log_tag_len)
        lc(h, &n, cap, b'[')
        ld(h, &n, cap, g_log_pid)
        la(h, &n, cap, b"]: ", 3)
    elif f == LOG_FMT_RFC5424 or f == LOG_FMT_TIMED or f == LOG_FMT_ISO:
        if f == LOG_FMT_RFC5424:
            la(h, &n, cap, b"1 ", 2)
        log_iso_update()
        la(h, &n, cap, g_log_iso, 33)
        if f == LOG_FMT_RFC5424:
            if g_log_host_len:
                la(h, &n, cap, g_log_host, g_log_host_len)
                lc(h, &n, cap, b' ')
            else:
                la(h, &n, cap, b"- ", 2)
            if p.log_tag_len:
                la(h, &n, cap, p.log_tag, p.log_tag_len)
                lc(h, &n, cap, b' ')
            else:
                la(h, &n, cap, b"- ", 2)
            ld(h, &n, cap, g_log_pid)
            la(h, &n, cap, b" - - ", 5)     # no MSGID, no STRUCTURED-DATA
    return n


cdef inline int log_sampled(logsrv_t *t) noexcept nogil:
    """`sample R:N`: is this message one of the ranges? Advances the target's counters as 2.6's
    process_send_log() does."""
    cdef unsigned int rg, sz
    cdef int in_range
    if t.nrg == 0:
        return 1
    rg = t.curr_rg
    in_range = t.curr_idx + 1 >= t.rg_low[rg] and t.curr_idx + 1 <= t.rg_high[rg]
    if in_range:
        sz = t.rg_high[rg] - t.rg_low[rg] + 1
        t.rg_idx[rg] = (t.rg_idx[rg] + 1) % sz
        if t.rg_idx[rg] == 0:
            t.curr_rg = (t.curr_rg + 1) % <unsigned int>t.nrg
    t.curr_idx = (t.curr_idx + 1) % t.smp_sz
    return in_range


cdef void log_send(px_t *p, int level, char *b, int end) noexcept nogil:
    """Send the message b[LOG_HDR_ROOM:end] to each target of the proxy with its own header:
    header + message cut at the target's `len` and a '\n' added (a datagram may so be len + 1
    bytes, as in 2.6; a line written to an fd is len bytes, '\n' included). Never blocks."""
    cdef int i, hl, ml, lvl, room
    cdef char h[512]
    cdef logsrv_t *t
    cdef log_iovec iov[3]
    cdef log_msghdr mh
    cdef char *msg = b + LOG_HDR_ROOM
    ml = end - LOG_HDR_ROOM
    while ml > 0 and (msg[ml - 1] == b'\n' or msg[ml - 1] == 0):
        ml -= 1
    for i in range(p.nlog):
        t = &p.log[i]
        if level > t.level or t.fd < 0:
            continue
        if not log_sampled(t):
            continue
        lvl = level if level > t.minlvl else t.minlvl
        hl = log_header(t, p, lvl, h, 512)
        room = t.maxlen - 1 if t.is_fd else t.maxlen
        if hl > room:
            hl = room
        iov[0].iov_base = h
        iov[0].iov_len = hl
        iov[1].iov_base = msg
        iov[1].iov_len = ml if ml < room - hl else room - hl
        iov[2].iov_base = <void *><const char *>"\n"
        iov[2].iov_len = 1
        if t.is_fd:
            log_writev(t.fd, iov, 3)
        else:
            memset(&mh, 0, sizeof(mh))
            mh.msg_name = <void *>&t.addr
            mh.msg_namelen = t.addrlen
            mh.msg_iov = iov
            mh.msg_iovlen = 3
            log_sendmsg(t.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL)


cdef void log_alert(px_t *p, const char *msg, int len) noexcept nogil:
    """A rare alert from the worker, as HAProxy's Alert() + send_log(LOG_ALERT): to the proxy's
    syslog targets, and unless quiet to stderr as `[ALERT] DDD/HHMMSS (PID) : msg`."""
    cdef char b[LOG_HDR_ROOM + LOG_MAX + 8]
    cdef char e[LOG_MAX + 64]
    cdef int n = log_begin(b), k = 0
    cdef log_time_t t = <log_time_t>(g_wall // 1000)
    cdef log_tm tm
    la(b, &n, LOG_HDR_ROOM + LOG_MAX, msg, len)
    log_end_line(b, &n)
    log_send(p, LOG_ALERT, b, n)
    if g_log_quiet:
        return
    log_localtime_r(&t, &tm)
    la(e, &k, LOG_MAX + 64, b"[ALERT] ", 8)
    ldw(e, &k, LOG_MAX + 64, tm.tm_yday, 3)
    lc(e, &k, LOG_MAX + 64, b'/')
    ldw(e, &k, LOG_MAX + 64, tm.tm_hour, 2)
    ldw(e, &k, LOG_MAX + 64, tm.tm_min, 2)
    ldw(e, &k, LOG_MAX + 64, tm.tm_sec, 2)
    la(e, &k, LOG_MAX + 64, b" (", 2)
    ld(e, &k, LOG_MAX + 64, g_log_pid)
    la(e, &k, LOG_MAX + 64, b") : ", 4)
    la(e, &k, LOG_MAX + 64, msg, len)
    lc(e, &k, LOG_MAX + 64, b'\n')
    write(2, e, k)


cdef inline void log_end_line(char *b, int *n) noexcept nogil:
    # The line ends with '\n' like HAProxy's; the cut at LOG_MAX may drop it, as in HAProxy.
    lc(b, n, LOG_HDR_ROOM + LOG_MAX, b'\n')


# ---- the -d trace on stdout


cdef inline int dbg_on() noexcept nogil:
    return g_debug and not g_log_quiet


cdef int dbg_begin(char *b, int cap, sess_t *s, const char *what, int wlen) noexcept nogil:
    """"%08x:PROXY.what" """
    cdef int n = 0
    cdef px_t *p = &g_px[s.px]
    lhex(b, &n, cap, s.log_uid, 8)
    lc(b, &n, cap, b':')
    la(b, &n, cap, p.name, p.name_len)
    lc(b, &n, cap, b'.')
    la(b, &n, cap, what, wlen)
    return n


cdef void dbg_fds(char *b, int *n, int cap, sess_t *s) noexcept nogil:
    """"[%04x:%04x]" of the client and server fds, as HAProxy prints them (unsigned short)."""
    lc(b, n, cap, b'[')
    lhex(b, n, cap, <unsigned short>s.cfd, 4)
    lc(b, n, cap, b':')
    lhex(b, n, cap, <unsigned short>s.sfd, 4)
    lc(b, n, cap, b']')


cdef void dbg_line(sess_t *s, const char *what, int wlen, const char *txt, int tlen) noexcept nogil:
    """"%08x:PROXY.what[cfd:sfd]: txt\\n" (or without ": txt" when txt is NULL)."""
    cdef char b[1100]
    cdef int n = dbg_begin(b, 1099, s, what, wlen)
    dbg_fds(b, &n, 1099, s)
    if txt != NULL:
        la(b, &n, 1099, b": ", 2)
        while tlen > 0 and (txt[tlen - 1] == b'\n' or txt[tlen - 1] == b'\r'):
            tlen -= 1
        la(b, &n, 1099, txt, tlen)
    lc(b, &n, 1100, b'\n')
    write(1, b, n)


# ---- hooks called by the loop


cdef void log_accept(sess_t *s) noexcept nogil:
    """A session was accepted: -d trace, and HAProxy 1.2's default "Connect from" log line."""
    global g_log_uid
    cdef px_t *p = &g_px[s.px]
    cdef char b[LOG_HDR_ROOM + LOG_MAX + 8]
    cdef int n
    cdef sockaddr_storage local
    s.log_uid = g_log_uid
    g_log_uid += 1
    if dbg_on():
        n = dbg_begin(b, 1000, s, b"accept(", 7)
        lhex(b, &n, 1000, <unsigned short>g_lst[s.lst].fd, 4)
        la(b, &n, 1000, b")=", 2)
        lhex(b, &n, 1000, <unsigned short>s.cfd, 4)
        la(b, &n, 1000, b" from [", 7)
        laddr(b, &n, 1000, sa_of(&s.cli_addr))
        la(b, &n, 1000, b"]\n", 2)
        write(1, b, n)
    if p.nlog == 0 or (p.opts & (PO_HTTPLOG | PO_TCPLOG)):
        return
    sess_local_addr(s, &local)        # (the address a PROXY header said the client reached)
    n = log_begin(b)
    la(b, &n, LOG_HDR_ROOM + LOG_MAX, b"Connect from ", 13)
    laddr(b, &n, LOG_HDR_ROOM + LOG_MAX, sa_of(&s.cli_addr))
    la(b, &n, LOG_HDR_ROOM + LOG_MAX, b" to ", 4)
    laddr(b, &n, LOG_HDR_ROOM + LOG_MAX, &local)
    la(b, &n, LOG_HDR_ROOM + LOG_MAX, b" (", 2)
    la(b, &n, LOG_HDR_ROOM + LOG_MAX, p.name, p.name_len)
    if p.mode == MODE_HTTP:
        la(b, &n, LOG_HDR_ROOM + LOG_MAX, b"/HTTP)", 6)
    else:
        la(b, &n, LOG_HDR_ROOM + LOG_MAX, b"/TCP)", 5)
    log_end_line(b, &n)
    log_send(p, LOG_INFO, b, n)
    s.logged = 1     # this mode logs nothing at the end of the session


cdef void log_connected(sess_t *s) noexcept nogil:
    """The server connection is established: `option logasap` logs TCP sessions now."""
    cdef px_t *p = &g_px[s.px]
    if p.mode != MODE_HTTP and (p.opts & PO_LOGASAP) and (p.opts & (PO_TCPLOG | PO_HTTPLOG)):
        log_session(s, 1, s.rsp.bytes)


cdef void log_closed(sess_t *s) noexcept nogil:
    """The session ends (called before its fds are closed): -d trace."""
    if dbg_on():
        dbg_line(s, b"closed", 6, NULL, 0)


cdef inline int log_wanted(px_t *p) noexcept nogil:
    return p.nlog > 0 and (p.opts & (PO_HTTPLOG | PO_TCPLOG)) != 0


cdef void log_capture_cookie(px_t *p, const char *v, int vlen, int setcookie, char *dst, int *out) noexcept nogil:
    """`capture cookie PREFIX len N`: the first NAME=value whose name starts with PREFIX."""
    cdef int i = 0, st, en, k
    if out[0] > 0:
        return
    while i < vlen:
        while i < vlen and (v[i] == b' ' or v[i] == b'\t' or v[i] == b';' or v[i] == b','):
            i += 1
        st = i
        while i < vlen and v[i] != b';' and not (v[i] == b',' and not setcookie):
            i += 1
        en = i
        while en > st and (v[en - 1] == b' ' or v[en - 1] == b'\t'):
            en -= 1
        if en - st >= p.cap_ck_len and memcmp(v + st, p.cap_ck_name, p.cap_ck_len) == 0:
            k = en - st
            if k > p.cap_ck_max:
                k = p.cap_ck_max
            memcpy(dst, v + st, k)
            out[0] = k
            return
        if setcookie:
            return          # only the first pair of a Set-Cookie is the cookie
        if i < vlen:
            i += 1


cdef void log_capture_headers(char *buf, h1_msg *m, int ncap, int *lens, int *maxs,
                              char (*names)[64], char *dst, short *out) noexcept nogil:
    """`capture request|response header NAME len N`: the last occurrence of each, cut at N."""
    cdef int i, c, k
    cdef h1_hdr *h
    for i in range(m.nhdr):
        h = &m.hdr[i]
        for c in range(ncap):
            if h1_hdr_name_is(buf, h, names[c], lens[c]):
                k = h.v_len
                if k > maxs[c]:
                    k = maxs[c]
                memcpy(dst + c * 256, buf + h.v_off, k)
                out[c] = <short>k


cdef void log_capture_value(sess_t *s, int rsp, int slot, const char *v, int n) noexcept nogil:
    """`http-request|http-response capture`: a value into the frontend's capture slot, cut at its
    length (%hr, %hs show it among the header captures)."""
    cdef px_t *p = &g_px[s.px]
    cdef int ncap = p.ncap_rsp if rsp else p.ncap_req
    cdef int mx
    if slot < 0 or slot >= ncap:
        return
    if s.loginfo == NULL:
        # (TCP mode: no request line was kept; a `tcp-request content capture` starts the store)
        s.loginfo = buf_get()
        if s.loginfo == NULL:
            return
        log_reset_tx(s)
    mx = p.cap_rsp_max[slot] if rsp else p.cap_req_max[slot]
    if n > mx:
        n = mx
    memcpy(s.loginfo + (LOG_HRSP_OFF if rsp else LOG_HREQ_OFF) + slot * 256, v, n)
    if rsp:
        s.log_hrsp_len[slot] = <short>n
    else:
        s.log_hreq_len[slot] = <short>n


cdef int log_capture_get(sess_t *s, int rsp, int slot, const char **out) noexcept nogil:
    """capture.req.hdr(N) / capture.res.hdr(N): the value captured in slot N and its length,
    or -1 when the slot does not exist or holds nothing (2.6 then gives no sample)."""
    cdef px_t *p = &g_px[s.px]
    cdef int ncap = p.ncap_rsp if rsp else p.ncap_req
    cdef int n
    if s.loginfo == NULL or slot < 0 or slot >= ncap:
        return -1
    n = s.log_hrsp_len[slot] if rsp else s.log_hreq_len[slot]
    if n <= 0:
        return -1
    out[0] = s.loginfo + (LOG_HRSP_OFF if rsp else LOG_HREQ_OFF) + slot * 256
    return n


g_capture_get = log_capture_get      # (sample.pxi's capture.*.hdr fetches read them here)


cdef void log_reset_tx(sess_t *s) noexcept nogil:
    cdef int i
    s.loginfo_len = 0
    s.log_ck_req = 0
    s.log_ck_rsp = 0
    s.log_cck_req_len = 0
    s.log_cck_rsp_len = 0
    for i in range(MAX_CAPTURE):
        s.log_hreq_len[i] = 0
        s.log_hrsp_len[i] = 0


cdef void log_keep_request(sess_t *s, h1_msg *m, const char *line, int n) noexcept nogil:
    """A request was parsed (m, in s.req.buf): keep its line and captures for the log."""
    cdef px_t *p = &g_px[s.px]
    cdef char *buf = s.req.buf
    cdef int i, k
    cdef h1_hdr *h
    while n > 0 and (line[n - 1] == b'\n' or line[n - 1] == b'\r'):
        n -= 1
    if dbg_on():
        dbg_line(s, b"clireq", 6, line, n)
        for i in range(m.nhdr):
            dbg_line(s, b"clihdr", 6, buf + m.hdr[i].line_off, m.hdr[i].line_len)
    if not log_wanted(p):
        return
    if s.loginfo == NULL:
        s.loginfo = buf_get()
        if s.loginfo == NULL:
            return
    log_reset_tx(s)
    if n > LOG_REQ_MAX:
        n = LOG_REQ_MAX
    k = h2_log_reqline(s, s.loginfo, LOG_REQ_MAX) if s.h2s else 0    # HTTP/2: as 2.6 shows it
    if k > 0:
        n = k
    else:
        memcpy(s.loginfo, line, n)
    s.loginfo_len = n
    if p.cap_ck_len:
        for i in range(m.nhdr):
            h = &m.hdr[i]
            if h1_hdr_name_is(buf, h, b"cookie", 6):
                log_capture_cookie(p, buf + h.v_off, h.v_len, 0, s.loginfo + LOG_CCK_REQ_OFF, &s.log_cck_req_len)
    if p.ncap_req:
        log_capture_headers(buf, m, p.ncap_req, p.cap_req_len, p.cap_req_max, p.cap_req_name,
                            s.loginfo + LOG_HREQ_OFF, s.log_hreq_len)


cdef void log_response(sess_t *s, h1_msg *m) noexcept nogil:
    """The final response headers were analysed and edited (m describes them, in s.rsp.buf)."""
    cdef px_t *p = &g_px[s.px]
    cdef px_t *be = &g_px[s.be]
    cdef char *buf = s.rsp.buf
    cdef int i, po, pl, vo, vl, seen = 0, ours = 0
    cdef h1_hdr *h
    cdef srv_t *sv = NULL
    if dbg_on():
        dbg_line(s, b"srvrep", 6, buf + m.start, m.first_line_len)
        for i in range(m.nhdr):
            dbg_line(s, b"srvhdr", 6, buf + m.hdr[i].line_off, m.hdr[i].line_len)
    if not log_wanted(p) or s.logged:
        return
    if be.ck_mode != CK_NONE:
        if s.srv >= 0:
            sv = &g_srv[s.srv]
        for i in range(m.nhdr):
            h = &m.hdr[i]
            if h1_hdr_name_is(buf, h, b"set-cookie", 10) and h1_find_setcookie(
                    buf + h.v_off, h.v_len, be.ck_name, be.ck_name_len, &po, &pl, &vo, &vl):
                seen += 1
                if (be.ck_mode == CK_INSERT and sv != NULL and vl == sv.cookie_len
                        and memcmp(buf + h.v_off + vo, sv.cookie, vl) == 0 and i >= m.nhdr - 2):
                    ours = 1     # the Set-Cookie we appended (Cache-control may follow it)
        if be.ck_mode == CK_INSERT and ours:
            s.log_ck_rsp = c'I'
        elif seen and (be.ck_mode == CK_PREFIX or be.ck_mode == CK_REWRITE) and sv != NULL:
            s.log_ck_rsp = c'R'
        elif seen:
            s.log_ck_rsp = c'P'
    if s.loginfo != NULL:
        if p.cap_ck_len:
            for i in range(m.nhdr):
                h = &m.hdr[i]
                if h1_hdr_name_is(buf, h, b"set-cookie", 10):
                    log_capture_cookie(p, buf + h.v_off, h.v_len, 1, s.loginfo + LOG_CCK_RSP_OFF, &s.log_cck_rsp_len)
        if p.ncap_rsp:
            log_capture_headers(buf, m, p.ncap_rsp, p.cap_rsp_len, p.cap_rsp_max, p.cap_rsp_name,
                                s.loginfo + LOG_HRSP_OFF, s.log_hrsp_len)
    if p.opts & PO_LOGASAP:
        # Logged before the body moves; 2.6 counts what its buffer holds of the response (its
        # HTX form): the head and the body bytes read with it.
        log_session(s, 1, chan_count(&s.rsp) + <unsigned long long>(s.rsp.buf_len - m.hdrs_end))


# ---- the session log line


cdef inline int sess_got_data(sess_t *s) noexcept nogil:
    """HAProxy's dontlognull test: did the client send at least one byte?"""
    return s.req.bytes > 0 or s.req.buf_in > 0 or s.req.in_pipe > 0 or s.t_req != 0


cdef void log_release(sess_t *s) noexcept nogil:
    if s.loginfo != NULL:
        buf_put(s.loginfo)
        s.loginfo = NULL
    log_reset_tx(s)


cdef void log_date(char *b, int *n, int cap, long long wall_ms) noexcept nogil:
    """"[DD/Mon/YYYY:HH:MM:SS.mmm]" in local time."""
    global g_log_acc_sec
    cdef long long sec = wall_ms // 1000
    cdef log_time_t t
    if sec != g_log_acc_sec:
        t = <log_time_t>sec
        log_localtime_r(&t, &g_log_acc_tm)
        g_log_acc_sec = sec
    lc(b, n, cap, b'[')
    ldw(b, n, cap, g_log_acc_tm.tm_mday, 2)
    lc(b, n, cap, b'/')
    la(b, n, cap, LOG_MONTHS + 3 * g_log_acc_tm.tm_mon, 3)
    lc(b, n, cap, b'/')
    ldw(b, n, cap, g_log_acc_tm.tm_year + 1900, 4)
    lc(b, n, cap, b':')
    ldw(b, n, cap, g_log_acc_tm.tm_hour, 2)
    lc(b, n, cap, b':')
    ldw(b, n, cap, g_log_acc_tm.tm_min, 2)
    lc(b, n, cap, b':')
    ldw(b, n, cap, g_log_acc_tm.tm_sec, 2)
    lc(b, n, cap, b'.')
    ldw(b, n, cap, wall_ms % 1000, 3)
    lc(b, n, cap, b']')


cdef void log_captures(char *b, int *n, int cap, char *base, int ncap, short *lens) noexcept nogil:
    cdef int c
    la(b, n, cap, b" {", 2)
    for c in range(ncap):
        if c:
            lc(b, n, cap, b'|')
        if base != NULL:
            lesc(b, n, cap, base + c * 256, lens[c], 1)
    lc(b, n, cap, b'}')


cdef long long sess_timers(sess_t *s, int http, long long *tq, long long *tw, long long *tc,
                           long long *tr, long long *tt) noexcept nogil:
    """The stream's timers in ms, -1 for a phase never reached: the request (TR), the queue (Tw),
    the connect (Tc), the response (Tr) and the total (Tt), as the log prints them; Tw counts from
    the request when `http` (2.6's t_queue - t_request), else from the accept. Returns where Tw
    starts. The log and the time averages (session.pxi ctr_time_stats) read them."""
    cdef long long t0 = s.t_req if (http and s.t_req) else s.accept_ms
    tq[0] = s.t_req - s.accept_ms - s.t_hs if s.t_req else -1     # (2.6's TR starts after the handshake)
    if s.t_cstart:
        tw[0] = s.t_cstart - t0        # time in the backend queue (0 when it did not wait)
    elif s.t_conn or (s.term_phase >= PH_CONNECT and s.srv != -1) or (not http and s.term_phase == PH_DATA):
        tw[0] = 0
    else:
        tw[0] = -1
    if s.t_conn:
        tc[0] = s.t_conn - (s.t_cstart if s.t_cstart else t0)
    else:
        tc[0] = -1
    tr[0] = s.t_rsp - s.t_conn if (s.t_rsp and s.t_conn) else -1
    tt[0] = g_now - s.accept_ms
    return t0


cdef void sess_log(sess_t *s) noexcept nogil:
    """Log the session (TCP) or the transaction (HTTP) once; a no-op when already logged."""
    log_session(s, 0, 0)


cdef void log_cookie_state(sess_t *s, px_t *be, char *out) noexcept nogil:
    """The two cookie characters of the termination state (request cookie, response cookie)."""
    if be.ck_mode == CK_NONE:
        out[0] = b'-'
        out[1] = b'-'
        return
    if s.log_ck_req == 3:
        out[0] = b'U'       # a cookie a use-server rule or ignore-persist left unused
    elif s.log_ck_req != 2:
        out[0] = b'N'
    elif s.ck_found_srv < 0:
        out[0] = b'I'
    elif srv_alive(s.ck_found_srv):
        out[0] = b'V'
    else:
        out[0] = b'D'
    out[1] = <char>s.log_ck_rsp if s.log_ck_rsp else b'N'


cdef void log_session(sess_t *s, int asap, unsigned long long asap_bytes) noexcept nogil:
    cdef px_t *p = &g_px[s.px]
    cdef px_t *be = &g_px[s.be]     # the same proxy for a `listen`
    cdef char b[LOG_HDR_ROOM + LOG_MAX + 8]
    cdef int cap = LOG_HDR_ROOM + LOG_MAX
    cdef int n, http, retries, redisp, srvconn, beconn, status, k, level, err
    cdef long long tq, tw, tc, tr, tt, t0
    cdef unsigned long long nbytes
    cdef const char *line
    cdef const char *srvname
    cdef int srvname_len, line_len
    cdef log_fields_t f
    cdef char ck[2]
    if s.logged:
        return
    s.logged = 1
    if s.log_level == LOG_SILENT:
        log_release(s)
        return
    if s.state == ST_ERRPAGE and s.status == 200 and s.term_cause == TERM_NONE:
        # monitor-uri answers are neither forwarded nor logged (HAProxy's rule); an
        # `http-request return` (term_cause PR) is logged
        log_release(s)
        return
    if not log_wanted(p) or (not asap and (p.opts & PO_DONTLOGNULL) and not sess_got_data(s)):
        log_release(s)
        return
    http = p.mode == MODE_HTTP and (p.opts & PO_HTTPLOG) != 0
    # timers; -1 for a phase never reached
    t0 = sess_timers(s, http, &tq, &tw, &tc, &tr, &tt)
    if s.term_phase == PH_TARPIT:
        # 2.6 counts the hold as the wait (Tw) and no request time (TR -1)
        tw = g_now - t0
        tq = -1
    if http and s.t_req == 0:
        tw = -1
    # server
    if s.srv >= 0:
        srvname = g_srv[s.srv].name
        srvname_len = g_srv[s.srv].name_len
        srvconn = g_srv[s.srv].cur_sess
    elif s.srv == SRV_STATS:
        srvname = b"<STATS>"
        srvname_len = 7
        srvconn = 0
    elif s.srv == SRV_PROMEX:
        srvname = b"<PROMEX>"
        srvname_len = 8
        srvconn = 0
    else:
        srvname = b"<NOSRV>"
        srvname_len = 7
        srvconn = 0
    # a `listen` proxy is its own backend; a frontend that has not switched yet has none (0)
    beconn = (p.feconn if p.has_be else 0) if s.be == s.px else be.beconn
    if not asap:
        # 2.6 logs once the stream has left its server and its backend: their counts are the
        # other sessions' (`option logasap` logs while the session still holds them)
        if s.srv >= 0 and srvconn > 0:
            srvconn -= 1
        if beconn > 0:
            beconn -= 1
    retries = 0
    redisp = 0
    # retries count only once a connection was tried: a request answered in the request phase
    # (deny, tarpit, return, auth...) logs 0, as 2.6 does
    if (s.srv != SRV_STATS and s.srv != SRV_PROMEX and be.conf.retries > 0
            and s.term_phase != PH_REQ and s.term_phase != PH_TARPIT):
        retries = be.conf.retries - s.retries_left
        if retries < 0:
            retries = 0
        redisp = s.redispatched
    nbytes = asap_bytes if asap else chan_count(&s.rsp)
    # 2.6's strm_log: a redispatch, an abnormal end (beyond a local answer), a retry or a 5xx is
    # an error: logged at level err under `option log-separate-errors`; the only lines
    # `option dontlog-normal` keeps
    err = redisp or (s.term_cause != TERM_NONE and s.term_cause != TERM_LOCAL) or retries > 0 or (
        p.mode == MODE_HTTP and s.status >= 500)
    if not err and (p.opts & PO_DONTLOG_NORMAL) and not asap:
        log_release(s)
        return
    level = LOG_ERR if err and (p.opts & PO_LOG_SEPARATE_ERRORS) else LOG_INFO
    if s.log_level:
        level = s.log_level - 1     # set-log-level (2.6: over log-separate-errors)

    if p.nlf:
        # the frontend's log-format (logformat.pxi)
        f.tq = tq
        f.th = s.t_hs
        f.tw = tw
        f.tc = tc
        f.tr = tr
        f.tt = tt
        f.status = s.status if s.status else -1
        f.bytes = nbytes
        f.bytes_up = 0 if asap and p.mode == MODE_HTTP else chan_count(&s.req)
        f.srvname = srvname
        f.srvname_len = srvname_len
        f.srvconn = srvconn
        f.beconn = beconn
        f.retries = retries
        f.redisp = redisp
        f.tsc[0] = LOG_TERM_CAUSE[s.term_cause if 0 <= s.term_cause <= TERM_UP else 5]
        f.tsc[1] = LOG_TERM_PHASE[s.term_phase if 0 <= s.term_phase <= 7 else 0]
        log_cookie_state(s, be, f.tsc + 2)
        n = log_begin(b)
        log_custom(s, &f, b, &n, cap)
        log_end_line(b, &n)
        log_send(p, level, b, n)
        log_release(s)
        return

    n = log_begin(b)
    if s.cli_addr.sin6_family == AF_UNIX:
        # 2.6 logs a UNIX-socket client as unix:<the listener's id in its proxy>
        la(b, &n, cap, b"unix:", 5)
        ld(b, &n, cap, g_lst[s.lst].luid)
    else:
        laddr(b, &n, cap, sa_of(&s.cli_addr))
    lc(b, &n, cap, b' ')
    log_date(b, &n, cap, s.accept_wall_ms + (s.t_hs if http else 0))     # httplog: %tr, tcplog: %t
    lc(b, &n, cap, b' ')
    la(b, &n, cap, p.name, p.name_len)
    if tls_is(sess_tls_fd(s)):
        lc(b, &n, cap, b'~')    # tls: haproxy marks a TLS frontend connection "fe~"
    lc(b, &n, cap, b' ')
    la(b, &n, cap, be.name, be.name_len)
    lc(b, &n, cap, b'/')
    la(b, &n, cap, srvname, srvname_len)
    lc(b, &n, cap, b' ')
    if http:
        ld(b, &n, cap, tq)
        lc(b, &n, cap, b'/')
    ld(b, &n, cap, tw)
    lc(b, &n, cap, b'/')
    ld(b, &n, cap, tc)
    lc(b, &n, cap, b'/')
    if http:
        ld(b, &n, cap, tr)
        lc(b, &n, cap, b'/')
    if asap:
        lc(b, &n, cap, b'+')
    ld(b, &n, cap, tt - s.t_hs if http else tt)     # httplog: Ta (active), tcplog: Tt
    lc(b, &n, cap, b' ')
    if http:
        status = s.status if s.status else -1
        ld(b, &n, cap, status)
        lc(b, &n, cap, b' ')
    if asap:
        lc(b, &n, cap, b'+')
    ld(b, &n, cap, <long long>nbytes)
    lc(b, &n, cap, b' ')
    if http:
        # captured request and response cookies
        if s.loginfo != NULL and s.log_cck_req_len > 0:
            lesc(b, &n, cap, s.loginfo + LOG_CCK_REQ_OFF, s.log_cck_req_len, 0)
        else:
            lc(b, &n, cap, b'-')
        lc(b, &n, cap, b' ')
        if s.loginfo != NULL and s.log_cck_rsp_len > 0:
            lesc(b, &n, cap, s.loginfo + LOG_CCK_RSP_OFF, s.log_cck_rsp_len, 0)
        else:
            lc(b, &n, cap, b'-')
        lc(b, &n, cap, b' ')
    lc(b, &n, cap, LOG_TERM_CAUSE[s.term_cause if 0 <= s.term_cause <= TERM_UP else 5])
    lc(b, &n, cap, LOG_TERM_PHASE[s.term_phase if 0 <= s.term_phase <= 7 else 0])
    if http:
        log_cookie_state(s, be, ck)
        la(b, &n, cap, ck, 2)
    lc(b, &n, cap, b' ')
    ld(b, &n, cap, g_actconn)
    lc(b, &n, cap, b'/')
    ld(b, &n, cap, p.feconn)
    lc(b, &n, cap, b'/')
    ld(b, &n, cap, beconn)
    lc(b, &n, cap, b'/')
    ld(b, &n, cap, srvconn)
    lc(b, &n, cap, b'/')
    if redisp:
        lc(b, &n, cap, b'+')
    ld(b, &n, cap, retries)
    la(b, &n, cap, b" 0/", 3)      # position in the server queue (none) / in the backend queue
    ld(b, &n, cap, s.q_pos)       # its place when it entered, itself included (as haproxy 2.6)
    if http:
        if p.ncap_req:
            log_captures(b, &n, cap, s.loginfo + LOG_HREQ_OFF if s.loginfo != NULL else NULL,
                         p.ncap_req, s.log_hreq_len)
        if p.ncap_rsp:
            log_captures(b, &n, cap, s.loginfo + LOG_HRSP_OFF if s.loginfo != NULL else NULL,
                         p.ncap_rsp, s.log_hrsp_len)
        la(b, &n, cap, b" \"", 2)
        if s.loginfo != NULL and s.loginfo_len > 0:
            lesc(b, &n, cap, s.loginfo, s.loginfo_len, 0)
        elif s.req.buf != NULL and s.req.buf_in > 0 and s.term_cause == TERM_PROXY and s.term_phase == PH_REQ:
            # A request rejected by the parser: its first line when complete, as HAProxy does.
            line = s.req.buf
            line_len = s.req.buf_in
            k = 0
            while k < line_len and line[k] != b'\n':
                k += 1
            if k < line_len:
                while k > 0 and line[k - 1] == b'\r':
                    k -= 1
                lesc(b, &n, cap, line, k if k < LOG_REQ_MAX else LOG_REQ_MAX, 0)
            else:
                la(b, &n, cap, b"<BADREQ>", 8)
        else:
            la(b, &n, cap, b"<BADREQ>", 8)
        lc(b, &n, cap, b'"')
    log_end_line(b, &n)
    log_send(p, level, b, n)
    log_release(s)


LOG_FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
                  "auth2", "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2",
                  "local3", "local4", "local5", "local6", "local7")


LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


def log_parse_address(str address):
    """`log` target -> ("unix", path) | (family, host, port); port 514 by default.

    Forms: /path, ip, ip:port, [v6], [v6]:port, bare v6 literal, or a host name (resolved here).
    """
    import socket
    if address.startswith("/"):
        return ("unix", address, 0)
    host, port = address, 514
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        if rest.startswith(":") and rest[1:]:
            port = int(rest[1:])
    elif address.count(":") == 1:
        host, _, ps = address.partition(":")
        if ps:
            port = int(ps)
    host = host or "127.0.0.1"
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, host)
            return (int(fam), host, port)
        except OSError:
            pass
    info = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
    return (int(info[0]), info[4][0], port)


cdef int log_socket(int family):
    global g_log_fd4, g_log_fd6, g_log_fdu
    cdef int *slot = &g_log_fd4
    if family == AF_INET6:
        slot = &g_log_fd6
    elif family == AF_UNIX:
        slot = &g_log_fdu
    if slot[0] < 0:
        slot[0] = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
    return slot[0]


def log_setup(object plan):
    """Fill each proxy's log targets and captures from the plan (pyhaproxy/worker.py WorkerPlan)
    and the model's `captures`; open the datagram sockets."""
    global g_log_pid, g_log_quiet, g_log_hdr_sec, g_log_acc_sec, g_log_iso_sec, g_log_host_len
    cdef int i, j, k, fd, fl
    cdef px_t *p
    cdef logsrv_t *t
    cdef bytes raw
    cdef sockaddr_un *un
    # the pid HAProxy logs: the process that was started (the pidfile's, our master) outside
    # master-worker mode, where each worker logs its own
    g_log_pid = plan.log_pid or getpid()
    g_log_quiet = 1 if plan.quiet else 0
    g_log_hdr_sec = -1
    g_log_acc_sec = -1
    g_log_iso_sec = -1
    raw = str(plan.log_host).encode()[:255]
    memcpy(g_log_host, <const char *>raw, len(raw))
    g_log_host_len = len(raw)
    logformat_setup(plan.acl.lf, plan.acl.lfpx, plan.acl.uidpx, plan.acl.elfpx)     # and error-log-format
    for i, pp in enumerate(plan.proxies):
        captures = pp.px.captures
        p = &g_px[i]
        copy_name(p.log_tag, 64, pp.log_tag, &p.log_tag_len)
        p.nlog = 0
        for target in pp.logs[:MAX_LOGSRV]:
            address, facility, level = target.address, target.facility, target.level
            t = &p.log[p.nlog]
            memset(t, 0, sizeof(logsrv_t))
            if str(address).startswith("fd@"):
                # `stdout`/`stderr`/fd@N: written with writev(), the fd made non-blocking
                # unless it is a terminal, as 2.6 does (a full pipe loses the line)
                fd = int(str(address)[3:])
                t.fd = fd
                t.is_fd = 1
                if not isatty(fd):
                    fl = fcntl(fd, F_GETFL)
                    if fl >= 0:
                        fcntl(fd, F_SETFL, fl | O_NONBLOCK)
            else:
                try:
                    kind, host, port = log_parse_address(str(address))
                except (OSError, ValueError, IndexError):
                    continue        # the parser validated it; a name that stopped resolving is skipped
                if kind == "unix":
                    raw = host.encode()[:107]
                    un = <sockaddr_un *>&t.addr
                    un.sun_family = AF_UNIX
                    memcpy(un.sun_path, <const char *>raw, len(raw))
                    t.addrlen = sizeof(sockaddr_un)
                    t.fd = log_socket(AF_UNIX)
                else:
                    fill_addr(&t.addr, &t.addrlen, host, port)
                    t.fd = log_socket(t.addr.ss_family)
            t.facility = LOG_FACILITIES.index(facility) if facility in LOG_FACILITIES else 1
            t.level = LOG_LEVELS.index(level) if level in LOG_LEVELS else 7
            t.minlvl = LOG_LEVELS.index(target.minlevel) if target.minlevel in LOG_LEVELS else 0
            t.maxlen = int(target.length) if target.length else LOG_DEFAULT_LEN
            t.format = LOG_FORMAT_NAMES.index(target.format) if target.format in LOG_FORMAT_NAMES else 0
            if t.format == LOG_FMT_UNSPEC:
                # 2.6: with a host name an RFC 3164 header, else the local one (no host name)
                t.format = LOG_FMT_RFC3164 if g_log_host_len else LOG_FMT_LOCAL
            t.nrg = 0
            for j, (lo, hi) in enumerate(list(target.sample)[:MAX_LOG_RANGES]):
                t.rg_low[j] = lo
                t.rg_high[j] = hi
                t.nrg += 1
            t.smp_sz = int(target.sample_size) if t.nrg else 1
            p.nlog += 1
        cc = next(((c.name, c.length) for c in captures if c.kind == "cookie"), None)
        p.cap_ck_len = 0
        if cc:
            copy_name(p.cap_ck_name, MAX_COOKIE, cc[0], &p.cap_ck_len)
            p.cap_ck_max = max(0, min(int(cc[1]), LOG_CCK_MAX))
        p.ncap_req = 0
        for name, length in [(c.name, c.length) for c in captures if c.kind == "request"][:MAX_CAPTURE]:
            k = p.ncap_req
            copy_name(p.cap_req_name[k], 64, name, &p.cap_req_len[k])
            p.cap_req_max[k] = max(0, min(int(length), LOG_HDR_MAX))
            p.ncap_req += 1
        p.ncap_rsp = 0
        for name, length in [(c.name, c.length) for c in captures if c.kind == "response"][:MAX_CAPTURE]:
            k = p.ncap_rsp
            copy_name(p.cap_rsp_name[k], 64, name, &p.cap_rsp_len[k])
            p.cap_rsp_max[k] = max(0, min(int(length), LOG_HDR_MAX))
            p.ncap_rsp += 1


# ---- the line of a connection that failed before its session began (a refused PROXY header,
# a failed TLS handshake: proxyproto.pxi and tlssess.pxi)

cdef void log_conn_error(sess_t *s, int code, const char *lname, int lname_len,
                         int luid) noexcept nogil:
    """2.6's session_kill_embryonic: the frontend's `error-log-format`, or else its fixed
    "IP:PORT [date] FRONTEND/LISTENER: message" (LISTENER its `name` or its number), at err
    level with `option log-separate-errors`. `code` is the connection error (connerr.pxi), which
    `fc_err` returns meanwhile. As 2.6, a frontend with neither a traffic log format nor an
    error-log-format logs none (its to_log). The caller applies `option dontlognull`."""
    cdef px_t *p = &g_px[s.px]
    cdef char b[LOG_HDR_ROOM + LOG_MAX + 8]
    cdef int cap = LOG_HDR_ROOM + LOG_MAX
    cdef const char *msg = conn_err_str(code)
    cdef int n, level = LOG_ERR if (p.opts & PO_LOG_SEPARATE_ERRORS) else LOG_INFO
    cdef log_fields_t f
    if p.nlog == 0 or (not log_wanted(p) and p.nelf == 0):
        return
    s.fc_err = code
    n = log_begin(b)
    if p.nelf:
        # what 2.6 logs of a session that never had a stream: no request, no server, its
        # whole life as Tt (and as Th, unless it timed out)
        memset(&f, 0, sizeof(f))
        f.tq = f.tw = f.tc = f.tr = -1
        f.tt = g_now - s.accept_ms
        f.th = -1 if (code == CO_ER_SSL_TIMEOUT or code == CO_ER_PRX_EMPTY + 2) else f.tt
        f.status = 0
        f.srvname = b"<NOSRV>"
        f.srvname_len = 7
        f.beconn = p.feconn if p.has_be else 0
        memcpy(f.tsc, b"PR--", 4)
        p.lf_count += 1
        lf_format(s, &f, p.elf_first, p.nelf, b, &n, cap, NULL, NULL)
    else:
        laddr(b, &n, cap, sa_of(&s.cli_addr))
        lc(b, &n, cap, b' ')
        log_date(b, &n, cap, s.accept_wall_ms)
        lc(b, &n, cap, b' ')
        la(b, &n, cap, p.name, p.name_len)
        lc(b, &n, cap, b'/')
        if lname_len > 0:
            la(b, &n, cap, lname, lname_len)
        else:
            ld(b, &n, cap, luid)
        la(b, &n, cap, b": ", 2)
        la(b, &n, cap, msg, <int>strlen(msg))
    log_end_line(b, &n)
    log_send(p, level, b, n)


cdef void pp_log_refused(sess_t *s, int err, int null_conn) noexcept nogil:
    """A refused PROXY header's line. As in 2.6, `option dontlognull` hides a client that
    closed or failed before a header, or that sent nothing before `timeout client` (null_conn)."""
    cdef px_t *p = &g_px[s.px]
    cdef lst_t *l = &g_lst[s.lst]
    if (p.opts & PO_DONTLOGNULL) and (err == PP_ERR_EMPTY or err == PP_ERR_ABORT or
                                      (err == PP_ERR_TIMEOUT and null_conn)):
        return
    log_conn_error(s, pp_conn_err(err), l.name, l.name_len, l.luid)
