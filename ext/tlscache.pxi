# A TLS session cache shared by the workers (haproxy 2.6's shared session cache): a client that
# resumes by session ID (TLS 1.2 without tickets, TLS 1.3's stateful tickets under
# `no-tls-tickets`, as Debian's default global sets) resumes on whichever worker accepts it.
#
# The master maps it (MAP_SHARED, anonymous) for each generation before forking its workers,
# which inherit the mapping and the pointer. Direct-mapped: a session ID hashes to one entry,
# a new session replaces whatever was there. Each entry has a one-byte lock taken with an
# atomic test-and-set; a worker that finds it taken does not wait: the session is simply not
# stored (or not found), the client then makes a full handshake. Sessions whose encoding does
# not fit an entry (with a large client certificate) are not shared.

cdef extern from *:
    """
    #include <time.h>
    static inline int tlsc_trylock(unsigned char *l) { return __sync_lock_test_and_set(l, 1) == 0; }
    static inline void tlsc_unlock(unsigned char *l) { __sync_lock_release(l); }
    static inline long tlsc_now(void) { return (long)time(NULL); }
    static inline void tlsc_count(unsigned long long *c) { __sync_fetch_and_add(c, 1ULL); }
    """
    int tlsc_trylock(unsigned char *l) nogil
    void tlsc_unlock(unsigned char *l) nogil
    long tlsc_now() nogil
    void tlsc_count(unsigned long long *c) nogil


cdef struct tlsc_head_t:     # the mapping's first entry: show info's SslCacheLookups, SslCacheMisses
    unsigned long long lookups
    unsigned long long misses


cdef enum:
    TLSC_ENTRY = 512
    TLSC_DER_MAX = TLSC_ENTRY - 48


cdef struct tlsc_entry_t:
    unsigned char lock
    unsigned char idlen
    unsigned short derlen    # 0: empty
    int pad
    long expire              # wall clock, seconds
    unsigned char id[32]
    unsigned char der[TLSC_DER_MAX]


cdef tlsc_entry_t *g_tlsc = NULL     # the generation's cache entries (NULL: OpenSSL's own, per worker)
cdef unsigned int g_tlsc_n = 0
cdef tlsc_head_t *g_tlsc_head = NULL # its counters (the entry before the first)


cdef inline unsigned int _tlsc_slot(const unsigned char *id, unsigned int n) noexcept nogil:
    cdef unsigned int h = 2166136261u, i
    for i in range(n):
        h = (h ^ id[i]) * 16777619u
    return h % g_tlsc_n


cdef int tlsc_new_cb(SSL *ssl, SSL_SESSION *sess) noexcept nogil:
    """OpenSSL made a session: share it (0: OpenSSL keeps its reference)."""
    cdef unsigned int idlen = 0
    cdef const unsigned char *id
    cdef int n
    cdef tlsc_entry_t *e
    cdef unsigned char *p
    # A TLS 1.3 session sent as a stateless ticket (the default: two per full handshake) comes
    # back inside the ticket and is never looked up by ID: encoding it here would cost two DER
    # encodings per ticket for nothing (about 5% of a full handshake's CPU in a profile)
    if SSL_SESSION_get_protocol_version(sess) == TLS1_3_VERSION \
            and not (SSL_get_options(ssl) & SSL_OP_NO_TICKET):
        return 0
    id = SSL_SESSION_get_id(sess, &idlen)
    n = i2d_SSL_SESSION(sess, NULL)
    if g_tlsc == NULL or idlen == 0 or idlen > 32 or n <= 0 or n > TLSC_DER_MAX:
        return 0
    e = &g_tlsc[_tlsc_slot(id, idlen)]
    if not tlsc_trylock(&e.lock):
        return 0
    p = e.der
    e.derlen = <unsigned short>i2d_SSL_SESSION(sess, &p)
    e.idlen = <unsigned char>idlen
    memcpy(e.id, id, idlen)
    e.expire = SSL_SESSION_get_time(sess) + SSL_SESSION_get_timeout(sess)
    tlsc_unlock(&e.lock)
    return 0


cdef SSL_SESSION *tlsc_get_cb(SSL *ssl, const unsigned char *id, int idlen, int *copy) noexcept nogil:
    """A client offers a session ID: the shared session, or NULL (full handshake)."""
    cdef tlsc_entry_t *e
    cdef unsigned char der[TLSC_DER_MAX]
    cdef const unsigned char *p = der
    cdef int n = 0
    copy[0] = 0
    if g_tlsc == NULL or idlen <= 0 or idlen > 32:
        return NULL
    tlsc_count(&g_tlsc_head.lookups)
    e = &g_tlsc[_tlsc_slot(id, <unsigned int>idlen)]
    if tlsc_trylock(&e.lock):
        if e.derlen and e.idlen == idlen and memcmp(e.id, id, idlen) == 0 and e.expire > tlsc_now():
            n = e.derlen
            memcpy(der, e.der, n)
        tlsc_unlock(&e.lock)
    if n == 0:
        tlsc_count(&g_tlsc_head.misses)
        return NULL
    return d2i_SSL_SESSION(NULL, &p, n)


cdef void tlsc_remove_cb(SSL_CTX *ctx, SSL_SESSION *sess) noexcept nogil:
    """OpenSSL gives up a session (expired, or its connection failed): forget it."""
    cdef unsigned int idlen = 0
    cdef const unsigned char *id = SSL_SESSION_get_id(sess, &idlen)
    cdef tlsc_entry_t *e
    if g_tlsc == NULL or idlen == 0 or idlen > 32:
        return
    e = &g_tlsc[_tlsc_slot(id, idlen)]
    if not tlsc_trylock(&e.lock):
        return
    if e.idlen == idlen and memcmp(e.id, id, idlen) == 0:
        e.derlen = 0
    tlsc_unlock(&e.lock)


cdef int tlsc_attach(SSL_CTX *ctx) noexcept nogil:
    """A TLS listener's context uses the shared cache when the master made one."""
    if g_tlsc == NULL:
        return 0
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL)
    SSL_CTX_sess_set_new_cb(ctx, tlsc_new_cb)
    SSL_CTX_sess_set_get_cb(ctx, tlsc_get_cb)
    SSL_CTX_sess_set_remove_cb(ctx, tlsc_remove_cb)
    return 1


cdef class TlsCache:
    """The shared session cache of one generation of workers (`tune.ssl.cachesize` entries of
    512 bytes), made by the master; activate() before forking makes the workers use it."""

    cdef tlsc_entry_t *mem
    cdef unsigned int n

    def __cinit__(self, unsigned int entries):
        cdef void *p
        self.n = max(1, entries)
        # (one more entry first: the counters)
        p = mmap(NULL, <size_t>(self.n + 1) * sizeof(tlsc_entry_t), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        if p == MAP_FAILED:
            raise MemoryError("cannot map the TLS session cache")
        self.mem = <tlsc_entry_t *>p

    def activate(self) -> None:
        global g_tlsc, g_tlsc_n, g_tlsc_head
        g_tlsc_head = <tlsc_head_t *>self.mem
        g_tlsc = self.mem + 1
        g_tlsc_n = self.n

    def counters(self) -> tuple:
        """(lookups, misses) of every worker of the generation: show info's SslCacheLookups,
        SslCacheMisses."""
        cdef tlsc_head_t *h = <tlsc_head_t *>self.mem
        return (h.lookups, h.misses)

    def __dealloc__(self):
        global g_tlsc, g_tlsc_n, g_tlsc_head
        if self.mem != NULL:
            if g_tlsc == self.mem + 1:
                g_tlsc = NULL
                g_tlsc_head = NULL
                g_tlsc_n = 0
            munmap(self.mem, <size_t>(self.n + 1) * sizeof(tlsc_entry_t))
            self.mem = NULL
