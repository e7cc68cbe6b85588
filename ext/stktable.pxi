# Stick tables (HAProxy 1.5+, 2.6's semantics) in shared memory: offers the key types and data
# types as C enums, the worker's table list (g_st), lookup/insert/expiry/eviction on keys as bytes,
# a session's tracked counters (track, the counters 2.6 updates, release) and the master's
# `StkTable` accessor (show/clear/set table, purge, the peers store). Layout and locks: stktable.h.
# Samples become keys in sample.pxi; the track-sc and sc-* actions are run by rules.pxi/httpreq.pxi.

from stktable cimport *

cpdef enum stk_key_type:
    STK_IP = 0
    STK_IPV6 = 1
    STK_INTEGER = 2
    STK_STRING = 3
    STK_BINARY = 4


cpdef enum stk_data:          # 2.6's STKTABLE_DT_* ids (the peers protocol's too)
    STD_SERVER_ID = 0
    STD_GPT0 = 1
    STD_GPC0 = 2
    STD_GPC0_RATE = 3
    STD_CONN_CNT = 4
    STD_CONN_RATE = 5
    STD_CONN_CUR = 6
    STD_SESS_CNT = 7
    STD_SESS_RATE = 8
    STD_HTTP_REQ_CNT = 9
    STD_HTTP_REQ_RATE = 10
    STD_HTTP_ERR_CNT = 11
    STD_HTTP_ERR_RATE = 12
    STD_BYTES_IN_CNT = 13
    STD_BYTES_IN_RATE = 14
    STD_BYTES_OUT_CNT = 15
    STD_BYTES_OUT_RATE = 16
    STD_GPC1 = 17
    STD_GPC1_RATE = 18
    STD_SERVER_KEY = 19       # (not stored: refused by the parser)
    STD_HTTP_FAIL_CNT = 20
    STD_HTTP_FAIL_RATE = 21
    STD_GPT = 22              # the arrays of 2.5+: store gpt(N), gpc(N), gpc_rate(N,P)
    STD_GPC = 23
    STD_GPC_RATE = 24


cdef enum:
    STD_IDX_SHIFT = 8         # a "dtx": a data type with an element index, type | idx << 8 (0 but for arrays)
    STK_CTRS = 3              # track-sc0..2 (2.6's MAX_SESS_STKCTR)
    STK_KEYMAX = 1024         # the longest key kept (a `len` beyond it is refused)


cdef inline int std_is_rate(int t) noexcept nogil:
    return t == STD_GPC0_RATE or t == STD_CONN_RATE or t == STD_SESS_RATE or t == STD_HTTP_REQ_RATE \
        or t == STD_HTTP_ERR_RATE or t == STD_BYTES_IN_RATE or t == STD_BYTES_OUT_RATE \
        or t == STD_GPC1_RATE or t == STD_HTTP_FAIL_RATE or t == STD_GPC_RATE


cdef inline int std_is_ull(int t) noexcept nogil:
    return t == STD_BYTES_IN_CNT or t == STD_BYTES_OUT_CNT


cdef st_hdr **g_st = NULL     # the worker's tables, by index (the plan's order)
cdef int g_nst = 0
cdef uint32_t g_st_pid = 0    # this process: the owner word of the locks it takes


cdef inline uint32_t st_tick() noexcept nogil:
    """2.6's now_ms: the monotonic clock in ms, on 32 bits."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <uint32_t>(<long long>ts.tv_sec * 1000 + ts.tv_nsec // 1000000)


cdef inline long long st_now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <long long>ts.tv_sec * 1000 + ts.tv_nsec // 1000000


cdef inline uint32_t st_hash(const unsigned char *k, uint32_t n) noexcept nogil:
    """FNV-1a."""
    cdef uint32_t h = 2166136261u
    cdef uint32_t i
    for i in range(n):
        h = (h ^ k[i]) * 16777619u
    return h


cdef inline uint32_t st_bucket(st_hdr *h, const unsigned char *k, uint32_t n) noexcept nogil:
    return st_hash(k, n) & (h.nbuckets - 1)


cdef inline uint32_t st_entry_bucket(st_hdr *h, st_entry *e) noexcept nogil:
    return st_bucket(h, st_key(e), e.key_len)


cdef inline int st_expired(st_hdr *h, st_entry *e, long long now) noexcept nogil:
    return e.ref_cnt == 0 and e.expire != 0 and e.expire <= now


cdef inline void st_touch(st_hdr *h, st_entry *e, long long now) noexcept nogil:
    """2.6's stktable_touch_local(): the entry lives `expire` more from now, and has changed."""
    if h.expire_ms:
        e.expire = now + h.expire_ms
    e.seq = st_seq_next(h)


cdef void st_free(st_hdr *h, uint32_t i) noexcept nogil:
    """Give entry i (unlinked already) back to the free list."""
    cdef st_entry *e = st_entry_at(h, i)
    e.inuse = 0
    st_lock(&h.alloc_lock, g_st_pid)
    e.next = h.free_head
    h.free_head = i + 1
    st_unlock(&h.alloc_lock)
    st_used_add(h, -1)


cdef uint32_t *st_find(st_hdr *h, uint32_t b, const unsigned char *k, uint32_t n, long long now) noexcept nogil:
    """In bucket b (locked by the caller): the link that points to the entry of key k, or to the
    end of the chain. Expired entries met on the way are unlinked and freed."""
    cdef uint32_t *link = &st_heads(h)[b]
    cdef uint32_t i
    cdef st_entry *e
    while link[0]:
        i = link[0] - 1
        e = st_entry_at(h, i)
        if st_expired(h, e, now):
            link[0] = e.next
            st_free(h, i)
            continue
        if e.key_len == n and memcmp(st_key(e), k, n) == 0:
            return link
        link = &e.next
    return link


cdef int st_evict_one(st_hdr *h, long long now) noexcept nogil:
    """A full table makes room as 2.6 does (the entries closest to their expiry go first, never
    one in use): among up to 64 entries from a rotating cursor, the one expiring first is
    unlinked and returned (its index), or -1."""
    cdef uint32_t start = st_evict_next(h, 64), k, i, best = 0xffffffffu, b
    cdef long long best_exp = 0
    cdef st_entry *e
    cdef uint32_t *link
    for k in range(64):
        i = (start + k) % h.size
        e = st_entry_at(h, i)
        if not e.inuse or e.ref_cnt:
            continue
        if best == 0xffffffffu or e.expire < best_exp:
            best = i
            best_exp = e.expire
    if best == 0xffffffffu:
        return -1
    e = st_entry_at(h, best)
    b = st_entry_bucket(h, e)
    st_lock(&st_locks(h)[b], g_st_pid)
    if not e.inuse or e.ref_cnt:        # taken meanwhile
        st_unlock(&st_locks(h)[b])
        return -1
    link = &st_heads(h)[b]
    while link[0] and link[0] != best + 1:
        link = &st_entry_at(h, link[0] - 1).next
    if link[0] != best + 1:
        st_unlock(&st_locks(h)[b])
        return -1
    link[0] = e.next
    e.inuse = 0
    st_unlock(&st_locks(h)[b])
    st_used_add(h, -1)
    return <int>best


cdef int st_alloc(st_hdr *h, long long now) noexcept nogil:
    """A free entry's index, or -1 when the table is full and may not (or cannot) evict."""
    cdef int i = -1, tries
    st_lock(&h.alloc_lock, g_st_pid)
    if h.free_head:
        i = <int>h.free_head - 1
        h.free_head = st_entry_at(h, i).next
    elif h.fresh < h.size:
        i = <int>h.fresh
        h.fresh += 1
    st_unlock(&h.alloc_lock)
    if i < 0 and not h.nopurge:
        tries = 0
        while i < 0 and tries < 8:
            i = st_evict_one(h, now)
            tries += 1
    if i >= 0:
        st_used_add(h, 1)
    return i


cdef int st_get(st_hdr *h, const unsigned char *k, uint32_t n, int create, int ref) noexcept nogil:
    """The index of key k's entry, created when `create` (-1: none, or the table is full); with
    `ref` the entry is referenced (ref_cnt + 1) before its bucket is unlocked."""
    cdef long long now = st_now()
    cdef uint32_t b = st_bucket(h, k, n), *link
    cdef int i, fresh
    cdef st_entry *e
    st_lock(&st_locks(h)[b], g_st_pid)
    link = st_find(h, b, k, n, now)
    if link[0]:
        i = <int>link[0] - 1
        if ref:
            st_entry_at(h, i).ref_cnt += 1
        st_unlock(&st_locks(h)[b])
        return i
    st_unlock(&st_locks(h)[b])
    if not create:
        return -1
    fresh = st_alloc(h, now)
    if fresh < 0:
        return -1
    e = st_entry_at(h, fresh)
    memset(e, 0, h.entry_size)
    e.key_len = n
    memcpy(st_key(e), k, n)
    st_lock(&st_locks(h)[b], g_st_pid)
    link = st_find(h, b, k, n, now)      # another process may have added it meanwhile
    if link[0]:
        i = <int>link[0] - 1
        if ref:
            st_entry_at(h, i).ref_cnt += 1
        st_unlock(&st_locks(h)[b])
        st_free(h, fresh)
        return i
    e.inuse = 1
    e.ref_cnt = 1 if ref else 0
    if h.expire_ms:
        e.expire = now + h.expire_ms
    e.seq = st_seq_next(h)
    e.next = 0
    link[0] = fresh + 1
    st_unlock(&st_locks(h)[b])
    return fresh


cdef inline void st_elock(st_hdr *h, st_entry *e) noexcept nogil:
    st_lock(&st_locks(h)[st_entry_bucket(h, e)], g_st_pid)


cdef inline void st_eunlock(st_hdr *h, st_entry *e) noexcept nogil:
    st_unlock(&st_locks(h)[st_entry_bucket(h, e)])


cdef inline void *st_slot(st_hdr *h, st_entry *e, int *t) noexcept nogil:
    """The value of dtx t[0] (type | idx << 8) in entry e, or NULL: not stored (an index past
    the array). As 2.6, the legacy gpt0, gpc0/gpc1 and gpc0_rate/gpc1_rate are element 0/1 of
    the array a table stores instead of them. t[0] becomes the type of the value found."""
    cdef int dt = t[0] & 0xff
    cdef uint32_t idx = <uint32_t>t[0] >> STD_IDX_SHIFT
    if not h.data_off[dt]:
        if dt == STD_GPT0 or dt == STD_GPC0 or dt == STD_GPC1:
            idx = 1 if dt == STD_GPC1 else 0
            dt = STD_GPT if dt == STD_GPT0 else STD_GPC
        elif dt == STD_GPC0_RATE or dt == STD_GPC1_RATE:
            idx = 1 if dt == STD_GPC1_RATE else 0
            dt = STD_GPC_RATE
        else:
            return NULL
    t[0] = dt
    return st_data_idx(h, e, dt, idx, 16 if std_is_rate(dt) else 8)


cdef inline void st_add_locked(st_hdr *h, st_entry *e, int t, long long n, uint32_t tick) noexcept nogil:
    """Dtx t += n (a rate counts n events), the entry's bucket locked."""
    cdef void *p = st_slot(h, e, &t)
    if p == NULL:
        return
    if std_is_rate(t):
        st_freq_add(<st_freq *>p, h.data_period[t], tick, <uint32_t>n)
    elif std_is_ull(t):
        (<uint64_t *>p)[0] += <uint64_t>n
    elif t == STD_SERVER_ID:
        (<int32_t *>p)[0] += <int32_t>n
    else:
        (<uint32_t *>p)[0] += <uint32_t>n


cdef inline long long st_get_locked(st_hdr *h, st_entry *e, int t, uint32_t tick) noexcept nogil:
    """Dtx t's value (a rate read over its period); -1 when the table does not store it."""
    cdef void *p = st_slot(h, e, &t)
    if p == NULL:
        return -1
    if std_is_rate(t):
        return st_freq_read(<st_freq *>p, h.data_period[t], tick)
    if std_is_ull(t):
        return <long long>(<uint64_t *>p)[0]
    if t == STD_SERVER_ID:
        return (<int32_t *>p)[0]
    return (<uint32_t *>p)[0]


cdef inline void st_set_locked(st_hdr *h, st_entry *e, int t, long long v, uint32_t tick) noexcept nogil:
    """Dtx t = v (a rate: its current period counts v events, as `set table` does)."""
    cdef void *p = st_slot(h, e, &t)
    cdef st_freq *f
    if p == NULL:
        return
    if std_is_rate(t):
        f = <st_freq *>p
        f.curr_tick = tick
        f.curr_ctr = <uint32_t>v
        f.prev_ctr = 0
    elif std_is_ull(t):
        (<uint64_t *>p)[0] = <uint64_t>v
    elif t == STD_SERVER_ID:
        (<int32_t *>p)[0] = <int32_t>v
    else:
        (<uint32_t *>p)[0] = <uint32_t>v


cdef void st_count(st_hdr *h, int i, int cnt, int rate, long long n) noexcept nogil:
    """One event (n of them) on the counter pair cnt/rate of entry i (-1: no such type), touched."""
    cdef st_entry *e = st_entry_at(h, i)
    cdef uint32_t tick = st_tick()
    cdef int tc = cnt, tr = rate
    if st_slot(h, e, &tc) == NULL and (rate < 0 or st_slot(h, e, &tr) == NULL):
        return
    st_elock(h, e)
    st_add_locked(h, e, cnt, n, tick)
    if rate >= 0:
        st_add_locked(h, e, rate, n, tick)
    st_touch(h, e, st_now())
    st_eunlock(h, e)


cdef long long st_inc(st_hdr *h, int i, int cnt, int rate) noexcept nogil:
    """inc_gpc*: +1 on the counter and its rate (dtxs) of entry i, touched; 2.6's answer: the
    counter's new value, else (only the rate stored) the rate's events of its current period,
    else -1 (neither stored)."""
    cdef st_entry *e = st_entry_at(h, i)
    cdef uint32_t tick = st_tick()
    cdef int tc = cnt, tr = rate
    cdef void *pc = st_slot(h, e, &tc)
    cdef void *pr = st_slot(h, e, &tr)
    cdef long long v
    if pc == NULL and pr == NULL:
        return -1
    st_elock(h, e)
    st_add_locked(h, e, rate, 1, tick)
    st_add_locked(h, e, cnt, 1, tick)
    v = (<uint32_t *>pc)[0] if pc != NULL else (<st_freq *>pr).curr_ctr
    st_touch(h, e, st_now())
    st_eunlock(h, e)
    return v


cdef long long st_value(st_hdr *h, int i, int t) noexcept nogil:
    cdef st_entry *e = st_entry_at(h, i)
    cdef long long v
    cdef int tt = t
    if st_slot(h, e, &tt) == NULL:
        return -1
    st_elock(h, e)
    v = st_get_locked(h, e, t, st_tick())
    st_eunlock(h, e)
    return v


cdef long long st_value_clear(st_hdr *h, int i, int t) noexcept nogil:
    """clr_gpc0/clr_gpc1: the value before it is set to 0."""
    cdef st_entry *e = st_entry_at(h, i)
    cdef long long v
    cdef uint32_t tick = st_tick()
    cdef int tt = t
    if st_slot(h, e, &tt) == NULL:
        return -1
    st_elock(h, e)
    v = st_get_locked(h, e, t, tick)
    st_set_locked(h, e, t, 0, tick)
    st_touch(h, e, st_now())
    st_eunlock(h, e)
    return v


cdef void st_set_value(st_hdr *h, int i, int t, long long v) noexcept nogil:
    cdef st_entry *e = st_entry_at(h, i)
    cdef int tt = t
    if st_slot(h, e, &tt) == NULL:
        return
    st_elock(h, e)
    st_set_locked(h, e, t, v, st_tick())
    st_touch(h, e, st_now())
    st_eunlock(h, e)


cdef void st_unref(st_hdr *h, int i, int conn_cur) noexcept nogil:
    """A session stops tracking entry i (2.6's stream_store_counters): conn_cur - 1 when asked,
    touched, and no longer held."""
    cdef st_entry *e = st_entry_at(h, i)
    cdef uint32_t *p
    st_elock(h, e)
    p = <uint32_t *>st_data(h, e, STD_CONN_CUR)
    if conn_cur and p != NULL and p[0] > 0:
        p[0] -= 1
    if e.ref_cnt > 0:
        e.ref_cnt -= 1
    st_touch(h, e, st_now())
    st_eunlock(h, e)


# ---------------------------------------------------------------------------------------------
# a session's tracked counters (sess_t.stk_tab/stk_ent/stk_http)

cdef int stk_track(sess_t *s, int ctr, int t, const unsigned char *k, uint32_t n, int http) noexcept nogil:
    """track-scN on key k of table t (2.6's stream_track_stkctr + stream_start_counters, and an
    HTTP request counted when an http-request rule tracks: http 1; http 2, a tcp-request
    content rule, lets stk_new_request() count it): nothing if the counter is already tracked.
    1 when tracking started."""
    cdef st_hdr *h
    cdef int i
    if ctr < 0 or ctr >= STK_CTRS or t < 0 or t >= g_nst or s.stk_tab[ctr]:
        return 0
    h = g_st[t]
    i = st_get(h, k, n, 1, 1)
    if i < 0:
        return 0
    s.stk_tab[ctr] = t + 1
    s.stk_ent[ctr] = i
    s.stk_http[ctr] = http
    cdef st_entry *e = st_entry_at(h, i)
    cdef uint32_t tick = st_tick()
    st_elock(h, e)
    st_add_locked(h, e, STD_CONN_CUR, 1, tick)
    st_add_locked(h, e, STD_CONN_CNT, 1, tick)
    st_add_locked(h, e, STD_CONN_RATE, 1, tick)
    if http == 1:
        st_add_locked(h, e, STD_HTTP_REQ_CNT, 1, tick)
        st_add_locked(h, e, STD_HTTP_REQ_RATE, 1, tick)
    st_touch(h, e, st_now())
    st_eunlock(h, e)
    return 1


cdef void stk_count_all(sess_t *s, int cnt, int rate, long long n) noexcept nogil:
    """An event on every counter the session tracks (2.6's stream_inc_*_ctr)."""
    cdef int c
    for c in range(STK_CTRS):
        if s.stk_tab[c]:
            st_count(g_st[s.stk_tab[c] - 1], s.stk_ent[c], cnt, rate, n)


cdef void stk_new_request(sess_t *s) noexcept nogil:
    """A request arrives (2.6's stream_inc_http_req_ctr): the counters tracked before the
    http-request rules (tcp-request connection, session, content) count it."""
    cdef int c
    for c in range(STK_CTRS):
        if s.stk_tab[c] and s.stk_http[c] != 1:
            st_count(g_st[s.stk_tab[c] - 1], s.stk_ent[c], STD_HTTP_REQ_CNT, STD_HTTP_REQ_RATE, 1)


cdef void stk_http_status(sess_t *s, int status) noexcept nogil:
    """The answer's status: a 4xx counts an HTTP error, a 5xx but 501/505 a failure (2.6)."""
    if 400 <= status < 500:
        stk_count_all(s, STD_HTTP_ERR_CNT, STD_HTTP_ERR_RATE, 1)
    elif 500 <= status < 600 and status != 501 and status != 505:
        stk_count_all(s, STD_HTTP_FAIL_CNT, STD_HTTP_FAIL_RATE, 1)


cdef void stk_txn_status(sess_t *s, int tarpit) noexcept nogil:
    """Count the request's answer once (2.6 counts a tarpit as an HTTP error)."""
    if s.stk_done:
        return
    s.stk_done = 1
    if tarpit:
        stk_count_all(s, STD_HTTP_ERR_CNT, STD_HTTP_ERR_RATE, 1)
    else:
        stk_http_status(s, s.status)


cdef void stk_bytes(sess_t *s, long long bin, long long bout) noexcept nogil:
    if bin:
        stk_count_all(s, STD_BYTES_IN_CNT, STD_BYTES_IN_RATE, bin)
    if bout:
        stk_count_all(s, STD_BYTES_OUT_CNT, STD_BYTES_OUT_RATE, bout)


cdef void stk_release(sess_t *s, int http_only) noexcept nogil:
    """The end of a request (http_only: the counters its http-request rules tracked, as 2.6 ends
    a stream) or of the session (every counter)."""
    cdef int c
    for c in range(STK_CTRS):
        if s.stk_tab[c] and (s.stk_http[c] or not http_only):
            st_unref(g_st[s.stk_tab[c] - 1], s.stk_ent[c], 1)
            s.stk_tab[c] = 0


cdef int stk_tables_setup(list tables) except -1:
    """The worker's tables: each a StkTable the master mapped before the fork (start-up)."""
    global g_st, g_nst, g_st_pid
    cdef int i
    g_st_pid = <uint32_t>getpid()
    g_nst = len(tables)
    g_st = <st_hdr **>calloc(max(1, g_nst), sizeof(st_hdr *))
    if g_st == NULL:
        raise MemoryError()
    for i in range(g_nst):
        g_st[i] = (<StkTable>tables[i]).h
    return 0


# ---------------------------------------------------------------------------------------------
# the master's accessor

cdef class StkTable:
    """One stick table's shared mapping (made by the master before fork, kept across reloads
    while its shape is the same). Keys are bytes in the table's form: ip 4 bytes, ipv6 16,
    integer 4 bytes in host order, string the bytes, binary `key_size` bytes."""

    cdef st_hdr *h
    cdef uint64_t nbytes
    cdef readonly tuple shape

    def __cinit__(self, int key_type, int key_size, int size, long long expire_ms, bint nopurge,
                  list data):
        cdef uint32_t nb = 16, off, t, esz
        cdef void *p
        if size <= 0 or key_size <= 0 or key_size > STK_KEYMAX:
            raise ValueError("bad stick table size or key size")
        self.shape = (key_type, key_size, size, expire_ms, bool(nopurge), tuple(map(tuple, data)))
        while nb < <uint32_t>size and nb < (1u << 30):
            nb <<= 1
        off = sizeof(st_entry) + ((key_size + 7) & ~7)
        for item in data:
            off += (16 if std_is_rate(item[0]) else 8) * (item[2] if len(item) > 2 else 1)
        esz = (off + 7) & ~7
        self.nbytes = st_region_size(nb, size, esz)
        p = mmap(NULL, self.nbytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        if p == MAP_FAILED:
            raise MemoryError(f"cannot map a stick table of {self.nbytes} bytes")
        memset(p, 0, self.nbytes)
        self.h = <st_hdr *>p
        self.h.magic = ST_MAGIC
        self.h.key_type = key_type
        self.h.key_size = key_size
        self.h.size = size
        self.h.nbuckets = nb
        self.h.entry_size = esz
        self.h.expire_ms = expire_ms
        self.h.nopurge = 1 if nopurge else 0
        off = sizeof(st_entry) + ((key_size + 7) & ~7)
        for item in data:              # (type, period[, elements])
            t, period = item[0], item[1]
            nelem = item[2] if len(item) > 2 else 1
            if t < 0 or t >= ST_NDATA or not 1 <= nelem <= ST_MAX_ARRAY:
                raise ValueError("bad stick table data type")
            self.h.data_off[t] = off
            self.h.data_period[t] = period
            self.h.data_nelem[t] = nelem
            off += (16 if std_is_rate(t) else 8) * nelem
        global g_st_pid
        g_st_pid = <uint32_t>getpid()

    def __dealloc__(self):
        if self.h != NULL:
            munmap(self.h, self.nbytes)
            self.h = NULL

    @property
    def used(self) -> int:
        return self.h.used

    @property
    def size(self) -> int:
        return self.h.size

    @property
    def seq(self) -> int:
        return self.h.seq

    def _own(self):
        global g_st_pid
        g_st_pid = <uint32_t>getpid()     # the master, or a test's process

    cdef dict _data(self, st_entry *e, uint32_t tick):
        """{data type: value}; an array type's value is the list of its elements."""
        cdef int t
        cdef uint32_t k
        d = {}
        for t in range(ST_NDATA):
            if self.h.data_off[t]:
                if t >= STD_GPT:
                    d[t] = [st_get_locked(self.h, e, t | k << STD_IDX_SHIFT, tick)
                            for k in range(self.h.data_nelem[t])]
                else:
                    d[t] = st_get_locked(self.h, e, t, tick)
        return d

    def entries(self, long long since=0) -> list:
        """[(key, remaining expiry ms or 0, ref_cnt, seq, {data type: value})], the live entries
        changed after `since` (a `seq`), in no order."""
        cdef uint32_t b, i
        cdef st_entry *e
        cdef long long now = st_now()
        cdef uint32_t tick = st_tick()
        self._own()
        out = []
        for b in range(self.h.nbuckets):
            if st_heads(self.h)[b] == 0:
                continue
            st_lock(&st_locks(self.h)[b], g_st_pid)
            i = st_heads(self.h)[b]
            while i:
                e = st_entry_at(self.h, i - 1)
                if not st_expired(self.h, e, now) and e.seq > <uint64_t>since:
                    out.append(((<char *>st_key(e))[:e.key_len], max(1, e.expire - now) if e.expire else 0,
                                e.ref_cnt, e.seq, self._data(e, tick)))
                i = e.next
            st_unlock(&st_locks(self.h)[b])
        return out

    def lookup(self, bytes key):
        """(remaining expiry ms or 0, ref_cnt, {data type: value}) of key, or None."""
        cdef int i
        cdef st_entry *e
        self._own()
        i = st_get(self.h, <const unsigned char *><const char *>key, len(key), 0, 0)
        if i < 0:
            return None
        e = st_entry_at(self.h, i)
        st_elock(self.h, e)
        now = st_now()
        r = (max(1, e.expire - now) if e.expire else 0, e.ref_cnt, self._data(e, st_tick()))
        st_eunlock(self.h, e)
        return r

    def set(self, bytes key, dict values, long long expire_ms=-1) -> bool:
        """Create key if needed and set data types (`set table`, a peer's update; an array type's
        element 0, as 2.6's `set table`); expire_ms >= 0 replaces the expiry (0 never). False
        when the table is full."""
        cdef int i
        cdef st_entry *e
        cdef uint32_t tick = st_tick()
        self._own()
        if len(key) > self.h.key_size:
            raise ValueError("key too long for the table")
        i = st_get(self.h, <const unsigned char *><const char *>key, len(key), 1, 0)
        if i < 0:
            return False
        e = st_entry_at(self.h, i)
        st_elock(self.h, e)
        for t, v in values.items():
            if 0 <= t < ST_NDATA:
                st_set_locked(self.h, e, t, v, tick)
        st_touch(self.h, e, st_now())
        if expire_ms >= 0:
            e.expire = st_now() + expire_ms if expire_ms else 0
        st_eunlock(self.h, e)
        return True

    def count(self, bytes key, int t, long long n=1) -> bool:
        """n events on data type t of key (created if needed), as a worker counts them."""
        cdef int i
        self._own()
        if len(key) > self.h.key_size or t < 0 or t >= ST_NDATA:
            raise ValueError("bad key or data type")
        i = st_get(self.h, <const unsigned char *><const char *>key, len(key), 1, 0)
        if i < 0:
            return False
        st_count(self.h, i, t, -1, n)
        return True

    def track_many(self, bytes key, int t, int loops) -> int:
        """`loops` times what a rate-limited request costs the table (look the key up, count one
        event on type t, read it back), in a C loop: for the micro-benchmarks."""
        cdef int i, k, n = len(key)
        cdef long long v = 0
        cdef const unsigned char *p = <const unsigned char *><const char *>key
        self._own()
        if n > <int>self.h.key_size or t < 0 or t >= ST_NDATA:
            raise ValueError("bad key or data type")
        with nogil:
            for k in range(loops):
                i = st_get(self.h, p, n, 1, 0)
                if i >= 0:
                    st_count(self.h, i, t, -1, 1)
                    v = st_value(self.h, i, t)
        return v

    def clear(self, key=None) -> int:
        """Remove key's entry, or every entry, unless in use (2.6's `clear table`): how many."""
        cdef uint32_t b, *link, i
        cdef st_entry *e
        cdef int n = 0
        cdef bytes k
        self._own()
        for b in range(self.h.nbuckets):
            if st_heads(self.h)[b] == 0:
                continue
            st_lock(&st_locks(self.h)[b], g_st_pid)
            link = &st_heads(self.h)[b]
            while link[0]:
                i = link[0] - 1
                e = st_entry_at(self.h, i)
                if e.ref_cnt == 0 and (key is None or (e.key_len == len(key)
                                                       and memcmp(st_key(e), <const char *><bytes>key, e.key_len) == 0)):
                    link[0] = e.next
                    st_free(self.h, i)
                    n += 1
                    continue
                link = &e.next
            st_unlock(&st_locks(self.h)[b])
        return n

    def purge(self) -> int:
        """Free the expired entries (the master does it every second): how many."""
        cdef uint32_t b, *link, i
        cdef st_entry *e
        cdef int n = 0
        cdef long long now = st_now()
        self._own()
        for b in range(self.h.nbuckets):
            if st_heads(self.h)[b] == 0:
                continue
            st_lock(&st_locks(self.h)[b], g_st_pid)
            link = &st_heads(self.h)[b]
            while link[0]:
                i = link[0] - 1
                e = st_entry_at(self.h, i)
                if st_expired(self.h, e, now):
                    link[0] = e.next
                    st_free(self.h, i)
                    n += 1
                    continue
                link = &e.next
            st_unlock(&st_locks(self.h)[b])
        return n
