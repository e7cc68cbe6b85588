# `log-format` (HAProxy 2.x, configuration.txt 8.2.6): a proxy's own log line, formatted in C
# from the items pyhaproxy/config/logformat.py parsed (text, variables with their Q/X/E flags,
# samples of the session). logline.pxi computes the fields once (log_fields_t) and calls
# log_custom() instead of the fixed httplog/tcplog line when the frontend has a format.

cpdef enum log_var:
    LV_TEXT = 0
    LV_SAMPLE = 1
    LV_BYTES_READ = 2
    LV_CAPTURED_REQ_COOKIE = 3
    LV_CAPTURED_RSP_COOKIE = 4
    LV_HOSTNAME = 5
    LV_HTTP_METHOD = 6
    LV_HTTP_PATH = 7
    LV_HTTP_PATH_ONLY = 8
    LV_HTTP_QUERY = 9
    LV_HTTP_URI = 10
    LV_HTTP_VERSION = 11
    LV_STATUS = 12
    LV_DATE_GMT = 13
    LV_TA = 14
    LV_TC = 15
    LV_TD = 16
    LV_DATE_LOCAL = 17
    LV_TH = 18
    LV_TI = 19
    LV_TQ = 20
    LV_TR_REQ = 21
    LV_TR = 22
    LV_TS = 23
    LV_TT = 24
    LV_TU = 25
    LV_TW = 26
    LV_BYTES_UPLOADED = 27
    LV_ACTCONN = 28
    LV_BACKEND = 29
    LV_BECONN = 30
    LV_BACKEND_QUEUE = 31
    LV_CLIENT_IP = 32
    LV_CLIENT_PORT = 33
    LV_FRONTEND = 34
    LV_FECONN = 35
    LV_FRONTEND_IP = 36
    LV_FRONTEND_PORT = 37
    LV_FRONTEND_TRANSPORT = 38
    LV_LOG_COUNTER = 39
    LV_HDR_REQ = 40
    LV_HDR_REQ_LIST = 41
    LV_HDR_RSP = 42
    LV_HDR_RSP_LIST = 43
    LV_MS = 44
    LV_PID = 45
    LV_REQUEST = 46
    LV_RETRIES = 47
    LV_REQ_COUNTER = 48
    LV_SERVER = 49
    LV_SRVCONN = 50
    LV_SERVER_IP = 51
    LV_SERVER_PORT = 52
    LV_SRV_QUEUE = 53
    LV_DATE = 54
    LV_DATE_REQ = 55
    LV_DATE_REQ_GMT = 56
    LV_DATE_REQ_LOCAL = 57
    LV_TERM_STATE = 58
    LV_TERM_STATE_COOKIE = 59
    LV_UNIQUE_ID = 60
    LV_SSL_VERSION = 61     # %sslv (tls.pxi)
    LV_SSL_CIPHER = 62      # %sslc

cdef enum:
    LF_Q = 1        # quote a string
    LF_X = 2        # hexadecimal numbers and addresses
    LF_E = 4        # escape '"', '\' and ']' (RFC 5424 structured data)
    LF_M = 8        # mandatory: an empty value is '-' (log lines; unique-id-format writes nothing)


cdef struct lf_op_t:
    int var
    int flags
    int expr             # LV_SAMPLE: g_sexpr index
    char *text           # LV_TEXT
    int len


cdef struct log_fields_t:   # what a log line says of a session, computed once (logline.pxi)
    long long tq, tw, tc, tr, tt
    long long th                # the TLS handshake (Th)
    int status
    unsigned long long bytes
    unsigned long long bytes_up   # %U (0 in an `option logasap` line, as 2.6 counts them at the end)
    const char *srvname
    int srvname_len
    int srvconn
    int beconn
    int retries
    int redisp
    char tsc[4]


cdef lf_op_t *g_lf = NULL
cdef char g_hostname[256]
cdef int g_hostname_len = 0


cdef int logformat_setup(list ops, list ranges, list uid_ranges, list elf_ranges) except -1:
    """ops: (var, flags, expr, text bytes) of every format; ranges: (first, count) per proxy,
    its log-format; uid_ranges and elf_ranges: the same for its unique-id-format and its
    error-log-format."""
    global g_lf, g_hostname_len
    cdef int i
    cdef bytes b
    g_lf = <lf_op_t *>calloc(max(1, len(ops)), sizeof(lf_op_t))
    if g_lf == NULL:
        raise MemoryError()
    for i, (var, flags, expr, text) in enumerate(ops):
        b = bytes(text)
        g_lf[i].var = var
        g_lf[i].flags = flags
        g_lf[i].expr = expr
        g_lf[i].len = len(b)
        g_lf[i].text = <char *>malloc(len(b) + 1)
        if g_lf[i].text == NULL:
            raise MemoryError()
        memcpy(g_lf[i].text, <const char *>b, len(b))
        g_lf[i].text[len(b)] = 0
    for i, (first, count) in enumerate(ranges):
        if i < g_npx:
            g_px[i].lf_first = first
            g_px[i].nlf = count
    for i, (first, count) in enumerate(uid_ranges):
        if i < g_npx:
            g_px[i].uid_first = first
            g_px[i].nuid = count
    for i, (first, count) in enumerate(elf_ranges):
        if i < g_npx:
            g_px[i].elf_first = first
            g_px[i].nelf = count
    if gethostname(g_hostname, sizeof(g_hostname) - 1) == 0:
        g_hostname[sizeof(g_hostname) - 1] = 0
        g_hostname_len = <int>strlen(g_hostname)
    return 0


# ---------------------------------------------------------------------------------------------
# formatting (plain C)

cdef void lf_str(char *b, int *n, int cap, const char *s, int len, int flags) noexcept nogil:
    """A string value, quoted (Q) and escaped (E) on demand. An empty one is 2.6's lf_text: '""'
    when quoted, else '-' in a log line (M) and nothing in a unique ID."""
    cdef int i
    if s == NULL or len <= 0:
        s = b"-"
        len = 1 if (flags & (LF_M | LF_Q)) == LF_M else 0
    if flags & LF_Q:
        lc(b, n, cap, b'"')
    if flags & LF_E:
        for i in range(len):
            if s[i] == b'"' or s[i] == b'\\' or s[i] == b']':
                lc(b, n, cap, b'\\')
            lc(b, n, cap, s[i])
    else:
        lesc(b, n, cap, s, len, 0)
    if flags & LF_Q:
        lc(b, n, cap, b'"')


cdef void lf_num(char *b, int *n, int cap, long long v, int flags) noexcept nogil:
    if flags & LF_X and v >= 0:
        lhex(b, n, cap, <unsigned int>v, 8)
    else:
        ld(b, n, cap, v)


cdef void lf_ip(char *b, int *n, int cap, sockaddr_storage *a, int port, int flags) noexcept nogil:
    """The address (port 0) or the port of a; '-' for a UNIX socket or none."""
    cdef char ip[64]
    cdef int p
    if a == NULL or (a.ss_family != AF_INET and a.ss_family != AF_INET6):
        lf_str(b, n, cap, NULL, 0, flags)
        return
    if port:
        p = ntohs((<sockaddr_in *>a).sin_port) if a.ss_family == AF_INET else \
            ntohs((<sockaddr_in6 *>a).sin6_port)
        lf_num(b, n, cap, p, flags)
        return
    if flags & LF_X and a.ss_family == AF_INET:
        lhex(b, n, cap, ntohl((<sockaddr_in *>a).sin_addr.s_addr), 8)
        return
    addr_to_str(a, ip, 64)
    lf_str(b, n, cap, ip, <int>strlen(ip), flags & ~LF_E)


cdef void lf_date(char *b, int *n, int cap, long long wall_ms, int gmt, int with_ms) noexcept nogil:
    """dd/Mon/yyyy:HH:MM:SS[.mmm] local (%t, %tr), or with the zone for %T (GMT) and %Tl."""
    cdef log_time_t t = <log_time_t>(wall_ms // 1000)
    cdef log_tm tm
    cdef long off
    if gmt:
        log_gmtime_r(&t, &tm)
    else:
        log_localtime_r(&t, &tm)
    ldw(b, n, cap, tm.tm_mday, 2)
    lc(b, n, cap, b'/')
    la(b, n, cap, LOG_MONTHS + 3 * tm.tm_mon, 3)
    lc(b, n, cap, b'/')
    ldw(b, n, cap, tm.tm_year + 1900, 4)
    lc(b, n, cap, b':')
    ldw(b, n, cap, tm.tm_hour, 2)
    lc(b, n, cap, b':')
    ldw(b, n, cap, tm.tm_min, 2)
    lc(b, n, cap, b':')
    ldw(b, n, cap, tm.tm_sec, 2)
    if with_ms:
        lc(b, n, cap, b'.')
        ldw(b, n, cap, wall_ms % 1000, 3)
        return
    off = 0 if gmt else tm.tm_gmtoff // 60
    lc(b, n, cap, b' ')
    lc(b, n, cap, b'-' if off < 0 else b'+')
    if off < 0:
        off = -off
    ldw(b, n, cap, off // 60, 2)
    ldw(b, n, cap, off % 60, 2)


cdef void lf_reqpart(char *b, int *n, int cap, sess_t *s, int part, int flags) noexcept nogil:
    """A part of the request line kept for the log: method, URI, path, path only, query, version."""
    cdef const char *l = s.loginfo
    cdef int len = s.loginfo_len, i = 0, us, ue, j, k
    if l == NULL or len <= 0:
        lf_str(b, n, cap, NULL, 0, flags)
        return
    while i < len and l[i] != b' ':
        i += 1
    if part == LV_HTTP_METHOD:
        lf_str(b, n, cap, l, i, flags)
        return
    us = i + 1 if i < len else len
    ue = us
    while ue < len and l[ue] != b' ':
        ue += 1
    if part == LV_HTTP_VERSION:
        lf_str(b, n, cap, l + ue + 1 if ue < len else NULL, len - ue - 1 if ue < len else 0, flags)
        return
    if part == LV_HTTP_URI:
        lf_str(b, n, cap, l + us, ue - us, flags)
        return
    j = us
    while j < ue and l[j] != b'?':
        j += 1
    if part == LV_HTTP_QUERY:
        lf_str(b, n, cap, l + j, ue - j, flags)      # with its '?', as 2.6 logs it
        return
    k = us
    if part == LV_HTTP_PATH_ONLY and k + 1 < j and l[k] != b'/':
        # absolute form: skip scheme://authority
        while k + 2 < j and not (l[k] == b':' and l[k + 1] == b'/' and l[k + 2] == b'/'):
            k += 1
        k += 3
        while k < j and l[k] != b'/':
            k += 1
        if k >= j:
            k = us
    lf_str(b, n, cap, l + k, j - k, flags)


cdef int lf_headers(char *b, int *n, int cap, sess_t *s, int rsp, int clf, int flags) noexcept nogil:
    """Captured headers: {a|b} (%hr, %hs), or each one quoted and space-separated (%hrl, %hsl);
    nothing at all when the frontend captures none (0 returned, as 2.6 writes nothing then)."""
    cdef px_t *p = &g_px[s.px]
    cdef int ncap = p.ncap_rsp if rsp else p.ncap_req
    cdef short *lens = &s.log_hreq_len[0]
    cdef char *base = NULL
    cdef int c
    if rsp:
        lens = &s.log_hrsp_len[0]
    if s.loginfo != NULL:
        base = s.loginfo + (LOG_HRSP_OFF if rsp else LOG_HREQ_OFF)
    if ncap == 0:
        return 0
    if not clf:
        lc(b, n, cap, b'{')
    for c in range(ncap):
        if c:
            lc(b, n, cap, b' ' if clf else b'|')
        if clf:
            lf_str(b, n, cap, base + c * 256 if base != NULL and lens[c] else NULL, lens[c], flags)
        elif base != NULL:
            lesc(b, n, cap, base + c * 256, lens[c], 1)
    if not clf:
        lc(b, n, cap, b'}')
    return 1


cdef void log_custom(sess_t *s, log_fields_t *f, char *b, int *n, int cap) noexcept nogil:
    """The frontend's log-format items, in order, after the syslog header."""
    cdef px_t *p = &g_px[s.px]
    p.lf_count += 1
    lf_format(s, f, p.lf_first, p.nlf, b, n, cap, NULL, NULL)


cdef void unique_id_build(sess_t *s, const char *buf, h1_msg *m) noexcept nogil:
    """`unique-id-format`: the request's ID, built once when its analysis starts (%ID, the
    unique-id fetch and unique-id-header use it)."""
    cdef px_t *p = &g_px[s.px]
    cdef log_fields_t f
    cdef int n = 0
    memset(&f, 0, sizeof(f))
    f.tq = f.tw = f.tc = f.tr = f.tt = -1
    f.th = s.t_hs
    f.status = -1
    f.srvname = b"<NOSRV>"
    f.srvname_len = 7
    f.beconn = (p.feconn if p.has_be else 0) if s.be == s.px else g_px[s.be].beconn
    f.tsc[0] = b'-'
    f.tsc[1] = b'-'
    f.tsc[2] = b'-'
    f.tsc[3] = b'-'
    lf_format(s, &f, p.uid_first, p.nuid, s.uid, &n, UID_MAX - 1, buf, m)
    s.uid_len = n


cdef void lf_text_merged(char *b, int *n, int cap, const char *t, int len, int *last_sp) noexcept nogil:
    """A format's literal text, each run of spaces one separator (written after something else)."""
    cdef int i
    for i in range(len):
        if t[i] == b' ':
            if not last_sp[0]:
                lc(b, n, cap, b' ')
                last_sp[0] = 1
        else:
            lc(b, n, cap, t[i])
            last_sp[0] = 0


cdef void lf_format(sess_t *s, log_fields_t *f, int first, int count, char *b, int *n, int cap,
                    const char *buf, h1_msg *m) noexcept nogil:
    """Log items g_lf[first .. first + count] into b (log-format and unique-id-format). buf/m:
    the request being analysed (unique-id-format), NULL when the line is logged."""
    cdef px_t *p = &g_px[s.px]
    cdef px_t *be = &g_px[s.be]
    cdef lf_op_t *op
    cdef int k, fl
    cdef long long td
    cdef smp_t v
    cdef sockaddr_storage a
    cdef const char *tp
    # 2.6 parses these formats with spaces merged into separators: a separator is written only
    # after something that is not one (so none at the start, one for a run of spaces, none after
    # a field that wrote nothing: %hr without captures)
    cdef int last_sp = 1
    cdef int mand = LF_M if buf == NULL else 0      # (a unique ID leaves an empty value empty)
    cdef int n0
    for k in range(count):
        op = &g_lf[first + k]
        fl = op.flags | mand
        if op.var == LV_TEXT:
            lf_text_merged(b, n, cap, op.text, op.len, &last_sp)
            continue
        n0 = n[0]
        if op.var == LV_SAMPLE:
            if buf != NULL:
                fl &= ~LF_Q      # (2.6 writes a unique ID's samples unquoted, whatever the flags)
            if smp_one(s, &g_sexpr[op.expr], buf, m, &v) and smp_as_str(&v):
                lf_str(b, n, cap, v.p, v.len, fl)
            else:
                lf_str(b, n, cap, NULL, 0, fl)
        elif op.var == LV_CLIENT_IP or op.var == LV_CLIENT_PORT:
            lf_ip(b, n, cap, sa_of(&s.cli_addr), op.var == LV_CLIENT_PORT, fl)
        elif op.var == LV_FRONTEND_IP or op.var == LV_FRONTEND_PORT:
            if sess_local_addr(s, &a) == 0:      # (a PROXY header's destination, if any)
                lf_ip(b, n, cap, &a, op.var == LV_FRONTEND_PORT, fl)
            else:
                lf_str(b, n, cap, NULL, 0, fl)
        elif op.var == LV_SERVER_IP or op.var == LV_SERVER_PORT:
            if s.srv >= 0:
                lf_ip(b, n, cap, &g_srv[s.srv].addr, op.var == LV_SERVER_PORT, fl)
            elif s.srv == -2 and be.has_dispatch:
                lf_ip(b, n, cap, &be.dispatch, op.var == LV_SERVER_PORT, fl)
            else:
                lf_str(b, n, cap, NULL, 0, fl)
        elif op.var == LV_FRONTEND or op.var == LV_FRONTEND_TRANSPORT:
            lf_str(b, n, cap, p.name, p.name_len, fl)
            if op.var == LV_FRONTEND_TRANSPORT and tls_is(sess_tls_fd(s)):
                la(b, n, cap, b"~", 1)          # %ft: "fe~" over TLS, as %ft in 2.6
        elif op.var == LV_SSL_VERSION or op.var == LV_SSL_CIPHER:
            tp = tls_protocol(sess_tls_fd(s)) if op.var == LV_SSL_VERSION else tls_cipher(sess_tls_fd(s))
            lf_str(b, n, cap, tp, <int>strlen(tp) if tp != NULL else 0, fl)
        elif op.var == LV_BACKEND:
            lf_str(b, n, cap, be.name, be.name_len, fl)
        elif op.var == LV_SERVER:
            lf_str(b, n, cap, f.srvname, f.srvname_len, fl)
        elif op.var == LV_HOSTNAME:
            lf_str(b, n, cap, g_hostname, g_hostname_len, fl)
        elif op.var == LV_DATE or op.var == LV_DATE_REQ:
            # (%tr, the request's date, is after the TLS handshake: 2.6's accept + Th)
            lf_date(b, n, cap, s.accept_wall_ms + (f.th if op.var == LV_DATE_REQ else 0), 0, 1)
        elif op.var == LV_DATE_GMT or op.var == LV_DATE_REQ_GMT:
            lf_date(b, n, cap, s.accept_wall_ms + (f.th if op.var == LV_DATE_REQ_GMT else 0), 1, 0)
        elif op.var == LV_DATE_LOCAL or op.var == LV_DATE_REQ_LOCAL:
            lf_date(b, n, cap, s.accept_wall_ms + (f.th if op.var == LV_DATE_REQ_LOCAL else 0), 0, 0)
        elif op.var == LV_TS:
            lf_num(b, n, cap, s.accept_wall_ms // 1000, fl)
        elif op.var == LV_MS:
            ldw(b, n, cap, s.accept_wall_ms % 1000, 3)
        elif op.var == LV_TQ or op.var == LV_TR_REQ:
            ld(b, n, cap, f.tq)
        elif op.var == LV_TW:
            ld(b, n, cap, f.tw)
        elif op.var == LV_TC:
            ld(b, n, cap, f.tc)
        elif op.var == LV_TR:
            ld(b, n, cap, f.tr)
        elif op.var == LV_TT or op.var == LV_TU:
            ld(b, n, cap, f.tt)
        elif op.var == LV_TA:
            ld(b, n, cap, f.tt - f.th if f.tt >= 0 else f.tt)    # the active time: no handshake
        elif op.var == LV_TH:
            ld(b, n, cap, f.th)
        elif op.var == LV_TI:
            ld(b, n, cap, 0)                 # (idle time is not in Tt)
        elif op.var == LV_TD:
            td = -1
            if f.tr >= 0 and f.tc >= 0 and f.tw >= 0:
                td = f.tt - (f.tq if f.tq > 0 else 0) - f.tw - f.tc - f.tr
            ld(b, n, cap, td)
        elif op.var == LV_STATUS:
            ld(b, n, cap, f.status)
        elif op.var == LV_BYTES_READ:
            if g_px[s.px].opts & PO_LOGASAP:
                lc(b, n, cap, b'+')     # (2.6: the count is not final)
            lf_num(b, n, cap, <long long>f.bytes, fl)
        elif op.var == LV_BYTES_UPLOADED:
            lf_num(b, n, cap, <long long>f.bytes_up, fl)
        elif op.var == LV_CAPTURED_REQ_COOKIE:
            lf_str(b, n, cap, s.loginfo + LOG_CCK_REQ_OFF if s.loginfo != NULL and s.log_cck_req_len > 0
                   else NULL, s.log_cck_req_len, fl)
        elif op.var == LV_CAPTURED_RSP_COOKIE:
            lf_str(b, n, cap, s.loginfo + LOG_CCK_RSP_OFF if s.loginfo != NULL and s.log_cck_rsp_len > 0
                   else NULL, s.log_cck_rsp_len, fl)
        elif op.var == LV_TERM_STATE:
            la(b, n, cap, f.tsc, 2)
        elif op.var == LV_TERM_STATE_COOKIE:
            la(b, n, cap, f.tsc, 4)
        elif op.var == LV_ACTCONN:
            ld(b, n, cap, g_actconn)
        elif op.var == LV_FECONN:
            ld(b, n, cap, p.feconn)
        elif op.var == LV_BECONN:
            ld(b, n, cap, f.beconn)
        elif op.var == LV_SRVCONN:
            ld(b, n, cap, f.srvconn)
        elif op.var == LV_RETRIES:
            if f.redisp:
                lc(b, n, cap, b'+')
            ld(b, n, cap, f.retries)
        elif op.var == LV_SRV_QUEUE:
            ld(b, n, cap, 0)
        elif op.var == LV_BACKEND_QUEUE:
            ld(b, n, cap, s.q_pos)
        elif op.var == LV_LOG_COUNTER:
            lf_num(b, n, cap, p.lf_count, fl)
        elif op.var == LV_REQ_COUNTER:
            lf_num(b, n, cap, s.log_uid, fl)
        elif op.var == LV_PID:
            lf_num(b, n, cap, g_log_pid, fl)
        elif op.var == LV_REQUEST:
            if s.loginfo != NULL and s.loginfo_len > 0:
                lf_str(b, n, cap, s.loginfo, s.loginfo_len, fl)
            else:
                lf_str(b, n, cap, b"<BADREQ>", 8, fl)
        elif op.var >= LV_HTTP_METHOD and op.var <= LV_HTTP_VERSION:
            lf_reqpart(b, n, cap, s, op.var, fl)
        elif op.var == LV_HDR_REQ or op.var == LV_HDR_REQ_LIST:
            lf_headers(b, n, cap, s, 0, op.var == LV_HDR_REQ_LIST, fl)
        elif op.var == LV_UNIQUE_ID:
            lf_str(b, n, cap, s.uid if s.uid_len > 0 else NULL, s.uid_len, fl)
        elif op.var == LV_HDR_RSP or op.var == LV_HDR_RSP_LIST:
            lf_headers(b, n, cap, s, 1, op.var == LV_HDR_RSP_LIST, fl)
        if n[0] != n0:
            last_sp = 0
