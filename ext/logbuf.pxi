# Log lines are built in a bounded buffer: the appenders (never past cap), HAProxy's escaping,
# addresses, and the constants of the log line (facilities, termination codes).

cdef extern from "<time.h>" nogil:
    ctypedef long log_time_t "time_t"
    ctypedef struct log_tm "struct tm":
        int tm_sec
        int tm_min
        int tm_hour
        int tm_mday
        int tm_mon
        int tm_year
        int tm_yday
        long tm_gmtoff
    log_tm *log_localtime_r "localtime_r"(const log_time_t *t, log_tm *out)
    log_tm *log_gmtime_r "gmtime_r"(const log_time_t *t, log_tm *out)


cdef enum:
    LOG_ALERT = 1
    LOG_ERR = 3
    LOG_INFO = 6
    LOG_MAX = 65536           # room for a message; each target cuts header + message at its `len`
    LOG_DEFAULT_LEN = 1024    # a target's `len` by default (RFC 3164's limit)
    LOG_HDR_ROOM = 8          # the message starts there (headers are built per target)
    LOG_REQ_MAX = 1024        # request line kept for the log
    LOG_CCK_REQ_OFF = 1024    # loginfo layout: request line, captured cookies, captured headers
    LOG_CCK_RSP_OFF = 1152
    LOG_CCK_MAX = 127
    LOG_HREQ_OFF = 1280
    LOG_HRSP_OFF = 1280 + 8 * 256
    LOG_HDR_MAX = 255


# The header formats of `log ... format F` (2.6's log_fmt order; 0 is "unspecified", resolved at
# start-up to LOCAL, or RFC3164 when `log-send-hostname` is set, as 2.6 does).
cdef enum:
    LOG_FMT_UNSPEC = 0
    LOG_FMT_LOCAL = 1         # "<PRI>Mon DD HH:MM:SS tag[pid]: "
    LOG_FMT_RFC3164 = 2       # "<PRI>Mon DD HH:MM:SS host tag[pid]: "
    LOG_FMT_RFC5424 = 3       # "<PRI>1 ISO-TIME host tag pid - - "
    LOG_FMT_PRIO = 4          # "<PRI>"
    LOG_FMT_SHORT = 5         # "<LEVEL>"
    LOG_FMT_TIMED = 6         # "<LEVEL>ISO-TIME "
    LOG_FMT_ISO = 7           # "ISO-TIME "
    LOG_FMT_RAW = 8           # nothing


LOG_FORMAT_NAMES = ("", "local", "rfc3164", "rfc5424", "priority", "short", "timed", "iso", "raw")


cdef const char *LOG_MONTHS = b"JanFebMarAprMayJunJulAugSepOctNovDec"


cdef const char *LOG_HEX = b"0123456789ABCDEF"      # the #XX escapes


cdef const char *LOG_HEXL = b"0123456789abcdef"     # the -d trace (printf's %x)


cdef const char *LOG_TERM_CAUSE = b"-CSPRIcsLDU"


cdef const char *LOG_TERM_PHASE = b"-RQCHDLT"


cdef int g_log_pid = 0


cdef inline void la(char *b, int *n, int cap, const char *src, int len) noexcept nogil:
    if len > cap - n[0]:
        len = cap - n[0]
    if len > 0:
        memcpy(b + n[0], src, len)
        n[0] += len


cdef inline void lc(char *b, int *n, int cap, char c) noexcept nogil:
    if n[0] < cap:
        b[n[0]] = c
        n[0] += 1


cdef void ld(char *b, int *n, int cap, long long v) noexcept nogil:
    """Decimal, with a '-' sign for negative values."""
    cdef char tmp[24]
    cdef int i = 24
    cdef unsigned long long u
    if v < 0:
        lc(b, n, cap, b'-')
        u = <unsigned long long>(-v)
    else:
        u = <unsigned long long>v
    while True:
        i -= 1
        tmp[i] = <char>(48 + u % 10)
        u //= 10
        if u == 0:
            break
    la(b, n, cap, tmp + i, 24 - i)


cdef void ldw(char *b, int *n, int cap, long long v, int width) noexcept nogil:
    """Zero-padded decimal of at least `width` digits (v >= 0)."""
    cdef char tmp[24]
    cdef int i = 24
    while True:
        i -= 1
        tmp[i] = <char>(48 + v % 10)
        v //= 10
        if v == 0 and 24 - i >= width:
            break
    la(b, n, cap, tmp + i, 24 - i)


cdef void lhex(char *b, int *n, int cap, unsigned int v, int width) noexcept nogil:
    cdef int k
    for k in range(width - 1, -1, -1):
        lc(b, n, cap, LOG_HEXL[(v >> (4 * k)) & 15])


cdef void lesc(char *b, int *n, int cap, const char *src, int len, int hdr) noexcept nogil:
    """HAProxy's escaping: bytes outside 32..126, '#' and '"' (and '{|}' in headers) become #XX."""
    cdef int i
    cdef unsigned char c
    for i in range(len):
        c = <unsigned char>src[i]
        if c < 32 or c > 126 or c == b'#' or c == b'"' or (hdr and (c == b'{' or c == b'|' or c == b'}')):
            if n[0] + 3 > cap:
                return
            b[n[0]] = b'#'
            b[n[0] + 1] = LOG_HEX[c >> 4]
            b[n[0] + 2] = LOG_HEX[c & 15]
            n[0] += 3
        else:
            if n[0] >= cap:
                return
            b[n[0]] = <char>c
            n[0] += 1


cdef void laddr(char *b, int *n, int cap, sockaddr_storage *a) noexcept nogil:
    """IP:PORT of an IPv4/IPv6 address; "unix" for a UNIX socket."""
    cdef char ip[64]
    cdef int port
    if a.ss_family == AF_INET or a.ss_family == AF_INET6:
        addr_to_str(a, ip, 64)
        la(b, n, cap, ip, <int>strlen(ip))
        lc(b, n, cap, b':')
        if a.ss_family == AF_INET:
            port = ntohs((<sockaddr_in *>a).sin_port)
        else:
            port = ntohs((<sockaddr_in6 *>a).sin6_port)
        ld(b, n, cap, port)
    else:
        la(b, n, cap, b"unix", 4)


# ---- sending


cdef void addr_to_str(sockaddr_storage *a, char *out, int cap) noexcept nogil:
    if a.ss_family == AF_INET:
        inet_ntop(AF_INET, &(<sockaddr_in *>a).sin_addr, out, cap)
    else:
        inet_ntop(AF_INET6, &(<sockaddr_in6 *>a).sin6_addr, out, cap)


# ---- setup (Python, once per worker)
