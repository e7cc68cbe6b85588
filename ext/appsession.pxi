# `appsession NAME len N timeout T`: stickiness on the application's own session cookie.
#
# A server's `Set-Cookie: NAME=value` teaches the worker "value -> this server"; a later request
# that carries NAME=value (in a Cookie header, or as ";NAME=value" in the URI for clients without
# cookies) goes back to that server while it is usable. Only the first N characters of a value are
# kept and compared, and an entry not used for T is forgotten. As in HAProxy, where each process
# kept its own table, the table belongs to the worker: with nbproc > 1 a client whose connections
# land on different workers is only sticky within each of them.
#
# The table is a fixed array allocated at start-up when a proxy uses appsession (no allocation
# per request): open addressing over AS_PROBE slots, the entry that expires first making room.

cdef enum:
    AS_SLOTS = 16384        # a power of two
    AS_PROBE = 8
    AS_MAXLEN = 128         # longest value kept (HAProxy kept `len`; longer `len` are cut here)

ctypedef struct as_px_t:
    char name[MAX_COOKIE]
    int name_len
    int len
    long long timeout

ctypedef struct as_entry_t:
    long long exp
    int px
    int srv
    int len
    char val[AS_MAXLEN]

cdef as_px_t *g_as_px = NULL
cdef as_entry_t *g_as = NULL


cdef int appsession_setup_proxy(int i, object px) except -1:
    """Start-up: the proxy's `appsession NAME len N timeout T` (model fields of `Proxy`)."""
    global g_as_px, g_as
    if g_as_px == NULL:
        g_as_px = <as_px_t *>calloc(max(1, g_npx), sizeof(as_px_t))
        if g_as_px == NULL:
            raise MemoryError()
    if not px.appsession or px.mode != "http":
        return 0
    name, length, timeout = px.appsession, px.appsession_len, px.appsession_timeout
    copy_name(g_as_px[i].name, MAX_COOKIE, name, &g_as_px[i].name_len)
    g_as_px[i].len = min(max(1, length), AS_MAXLEN)
    # A timeout of 0 would forget every entry at once: keep them instead (until evicted).
    g_as_px[i].timeout = timeout if timeout > 0 else (1LL << 50)
    if g_as == NULL:
        g_as = <as_entry_t *>calloc(AS_SLOTS, sizeof(as_entry_t))
        if g_as == NULL:
            raise MemoryError()
    return 0


cdef inline unsigned int as_hash(int px, const char *v, int n) noexcept nogil:
    cdef unsigned int h = 2166136261u ^ <unsigned int>px
    cdef int i
    for i in range(n):
        h = (h ^ <unsigned char>v[i]) * 16777619u
    return h


cdef inline int as_used(int px) noexcept nogil:
    return g_as != NULL and g_as_px != NULL and g_as_px[px].name_len > 0


cdef int as_find(int px, const char *v, int n) noexcept nogil:
    """The server that set value v, or -1; a hit is remembered for another timeout."""
    cdef as_px_t *a = &g_as_px[px]
    cdef as_entry_t *e
    cdef unsigned int h
    cdef int k
    if n > a.len:
        n = a.len
    if n <= 0:
        return -1
    h = as_hash(px, v, n)
    for k in range(AS_PROBE):
        e = &g_as[(h + <unsigned int>k) & (AS_SLOTS - 1)]
        if e.exp > g_now and e.px == px and e.len == n and memcmp(e.val, v, n) == 0:
            e.exp = g_now + a.timeout
            return e.srv
    return -1


cdef void as_learn(int px, int srv, const char *v, int n) noexcept nogil:
    """Remember that server srv set value v (replacing an older owner of the same value)."""
    cdef as_px_t *a = &g_as_px[px]
    cdef as_entry_t *e
    cdef as_entry_t *victim = NULL
    cdef unsigned int h
    cdef int k
    if n > a.len:
        n = a.len
    if n <= 0:
        return
    h = as_hash(px, v, n)
    for k in range(AS_PROBE):
        e = &g_as[(h + <unsigned int>k) & (AS_SLOTS - 1)]
        if e.exp > g_now and e.px == px and e.len == n and memcmp(e.val, v, n) == 0:
            victim = e
            break
        if victim == NULL or e.exp < victim.exp:
            victim = e
    victim.px = px
    victim.srv = srv
    victim.len = n
    memcpy(victim.val, v, n)
    victim.exp = g_now + a.timeout


cdef int as_uri_value(const char *u, int n, const char *name, int nlen, int *voff) noexcept nogil:
    """The length of the value of ";NAME=" in a request URI (name case-insensitive), -1 if none."""
    cdef int i, j, end
    for i in range(n - nlen - 1):
        if u[i] == b'?':
            return -1       # only the path carries the session parameter
        if u[i] != b';' or u[i + 1 + nlen] != b'=' or not _h1_ieq(u + i + 1, name, nlen):
            continue
        j = i + 2 + nlen
        end = j
        while end < n and u[end] != b'?' and u[end] != b';' and u[end] != b'&' and u[end] != b'#':
            end += 1
        voff[0] = j
        return end - j
    return -1


cdef int appsession_request(int idx, const char *buf, h1_msg *m) noexcept nogil:
    """The server a request's application session belongs to, or -1 (unknown, or not usable)."""
    cdef sess_t *s = &g_sess[idx]
    cdef as_px_t *a = &g_as_px[s.be]
    cdef h1_hdr *h
    cdef int i, po = 0, pl = 0, vo = 0, vl = 0, g = -1
    for i in range(m.nhdr):
        h = &m.hdr[i]
        if h1_hdr_name_is(buf, h, b"cookie", 6) and h1_find_cookie(
                buf + h.v_off, h.v_len, a.name, a.name_len, &po, &pl, &vo, &vl):
            g = as_find(s.be, buf + h.v_off + vo, vl)
            break
    if g < 0:
        vl = as_uri_value(buf + m.uri_off, m.uri_len, a.name, a.name_len, &vo)
        if vl > 0:
            g = as_find(s.be, buf + m.uri_off + vo, vl)
    if g >= 0 and srv_persist_ok(g):
        return g
    return -1


cdef void appsession_response(int idx, const char *buf, h1_msg *m) noexcept nogil:
    """Learn the session values a server sets in its response."""
    cdef sess_t *s = &g_sess[idx]
    cdef as_px_t *a = &g_as_px[s.be]
    cdef h1_hdr *h
    cdef int i, po = 0, pl = 0, vo = 0, vl = 0
    if s.srv < 0:
        return
    for i in range(m.nhdr):
        h = &m.hdr[i]
        if h1_hdr_name_is(buf, h, b"set-cookie", 10) and h1_find_setcookie(
                buf + h.v_off, h.v_len, a.name, a.name_len, &po, &pl, &vo, &vl):
            as_learn(s.be, s.srv, buf + h.v_off + vo, vl)
