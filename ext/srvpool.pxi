# Idle server connections shared by the streams of HTTP/2 connections: each stream is a session
# of its own here (h2.pxi), so without this every stream would connect anew. A stream's session
# that ends with a kept-alive, idle server connection parks it here; a later stream to the same
# server takes it instead of connecting, as the backend's `http-reuse` allows (pool_want):
#   never       only a stream of the HTTP/2 connection that parked it (2.6 shares no connection
#               between sessions, and an HTTP/2 client connection is one session there): such
#               entries are also listed under that connection, looked up there and closed
#               with it (pool_owner_end)
#   safe        (the default), aggressive, always: any. Measured with 2.6: it counts every
#               stream of an HTTP/2 connection as a request that is not a session's first
#               (even the first stream of a new client connection takes an idle connection
#               under `safe`), so the three modes differ only for HTTP/1 clients.
# HTTP/1 clients park here too: a kept-alive client whose next request is balanced to another
# server leaves its idle connection to the previous one here (pool_park_h1), and a request that
# is not its connection's first takes one (pool_take_h1): under `never` (or for a PROXY header's
# connection) only its own, listed under the session as for an HTTP/2 connection; the first
# request of a connection takes none, as 2.6's `safe`.
# A parked connection stays in the epoll set:
# any input on it (the server closed it, or sent something unasked) ends it. So that parking and
# taking cost no epoll_ctl(), a connection's epoll data names its fd the first time it is parked
# (TAG_SIGNAL, index fd + 1, and a registration generation) and an owner table says who has it
# now, the pool or a session; the session that takes it is woken to send its request (no new
# edge will say the socket is writable). The pool is bounded
# (POOL_PER_SRV per server, one slot per possible session in all) and a connection parked for
# longer than POOL_IDLE_MS is not reused. A request on a reused connection that fails before any
# answer is resent once on a fresh one (http_retry_fresh), as for a client's kept connection.

cdef enum:
    POOL_PER_SRV = 4096          # (2.6 has no cap per server, pool-max-conn -1: the slots bound it)
    POOL_IDLE_MS = 5000         # 2.6's pool-purge-delay default
    POOL_ANY = 0                # pool_take: any idle connection to the server
    POOL_OWNER = 1              # only one parked by the same HTTP/2 client connection (never)

cdef struct pool_ent:
    int fd
    int srv
    int next, prev
    int used
    int safe                    # it carried more than one request (taken from the pool before)
    unsigned int gen
    long long since
    int owner                   # the HTTP/2 client connection (session index) that parked it
    unsigned int owner_gen      # and that session's generation
    int olisted                 # `never`: also in its owner's list (g_pool_ohead), by onext/oprev
    int onext, oprev

cdef struct fd_owner:
    int pool                    # >= 0: parked, its pool entry; -1: a session's
    int sess                    # that session and its generation
    unsigned int sess_gen
    unsigned int gen            # the registration naming this fd (epoll data's high bits)

cdef fd_owner *g_fdo = NULL      # indexed by fd (server connections parked at least once)
cdef int g_fdo_n = 0
cdef pool_ent *g_pool = NULL
cdef int *g_pool_free = NULL
cdef int g_pool_nfree = 0
cdef int *g_pool_head = NULL     # per server: its idle connections, newest first (-1: none)
cdef int *g_pool_count = NULL
cdef int *g_pool_ohead = NULL    # per session (an HTTP/2 client connection): what it parked under `never`
cdef int g_pool_nent = 0


cdef int pool_setup(int nent, int nsrv) except -1:
    global g_pool, g_pool_free, g_pool_nfree, g_pool_head, g_pool_count, g_fdo, g_fdo_n
    global g_pool_ohead, g_pool_nent
    cdef int i
    g_pool_nent = nent
    g_pool_ohead = <int *>malloc(sizeof(int) * max(1, nent))     # (nent: one per session)
    g_pool = <pool_ent *>calloc(max(1, nent), sizeof(pool_ent))
    g_pool_free = <int *>malloc(sizeof(int) * max(1, nent))
    g_pool_head = <int *>malloc(sizeof(int) * max(1, nsrv))
    g_pool_count = <int *>calloc(max(1, nsrv), sizeof(int))
    g_fdo_n = 4 * nent + 1024          # (a higher fd is simply not parked)
    g_fdo = <fd_owner *>calloc(g_fdo_n, sizeof(fd_owner))
    if g_pool == NULL or g_pool_free == NULL or g_pool_head == NULL or g_pool_count == NULL or g_fdo == NULL \
            or g_pool_ohead == NULL:
        raise MemoryError()
    for i in range(nent):
        g_pool_free[i] = nent - 1 - i
        g_pool_ohead[i] = -1
    g_pool_nfree = nent
    for i in range(nsrv):
        g_pool_head[i] = -1
    return 0


cdef void _pool_unlink(int k) noexcept nogil:
    global g_pool_nfree
    cdef pool_ent *e = &g_pool[k]
    if e.prev >= 0:
        g_pool[e.prev].next = e.next
    else:
        g_pool_head[e.srv] = e.next
    if e.next >= 0:
        g_pool[e.next].prev = e.prev
    g_pool_count[e.srv] -= 1
    if e.olisted:
        if e.oprev >= 0:
            g_pool[e.oprev].onext = e.onext
        else:
            g_pool_ohead[e.owner] = e.onext
        if e.onext >= 0:
            g_pool[e.onext].oprev = e.oprev
        e.olisted = 0
    if e.safe:
        ctr_srv(e.srv).safe_conns -= 1
    else:
        ctr_srv(e.srv).idle_conns -= 1
    e.used = 0
    e.gen += 1
    g_pool_free[g_pool_nfree] = k
    g_pool_nfree += 1


cdef int pool_put(int srv, int fd, int tagged, int owner, unsigned int owner_gen,
                  int own) noexcept nogil:
    """Park an idle kept-alive connection to server srv (tagged: its epoll data names its fd
    already; owner: see pool_ent; own: listed under its owner too, for `never`): 1 if
    parked, 0 if it must be closed."""
    global g_pool_nfree
    cdef epoll_event ev
    cdef pool_ent *e
    cdef int k
    if g_pool == NULL or srv < 0 or g_pool_nfree == 0 or g_pool_count[srv] >= POOL_PER_SRV or fd >= g_fdo_n:
        return 0
    k = g_pool_free[g_pool_nfree - 1]
    e = &g_pool[k]
    if not tagged:
        g_fdo[fd].gen += 1
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET
        ev.data.u64 = (<unsigned long long>g_fdo[fd].gen << 32) | (<unsigned long long>(fd + 1) << 2) | TAG_SIGNAL
        if epoll_ctl(g_ep, EPOLL_CTL_MOD, fd, &ev) < 0:
            return 0
    g_fdo[fd].pool = k
    g_fdo[fd].sess = -1
    g_pool_nfree -= 1
    e.gen += 1
    e.used = 1
    e.fd = fd
    e.srv = srv
    e.since = g_now
    e.owner = owner
    e.owner_gen = owner_gen
    e.olisted = 0
    if own and 0 <= owner < g_pool_nent:
        e.olisted = 1
        e.oprev = -1
        e.onext = g_pool_ohead[owner]
        if e.onext >= 0:
            g_pool[e.onext].oprev = k
        g_pool_ohead[owner] = k
    e.prev = -1
    e.next = g_pool_head[srv]
    if e.next >= 0:
        g_pool[e.next].prev = k
    g_pool_head[srv] = k
    g_pool_count[srv] += 1
    # (a connection parked before was taken by a stream: it carries its second request or more)
    e.safe = 1 if tagged else 0
    if e.safe:
        ctr_srv(srv).safe_conns += 1
    else:
        ctr_srv(srv).idle_conns += 1
    srv_conn_unused(fd)
    return 1


cdef void _pool_drop(int k) noexcept nogil:
    """Out of the pool and closed."""
    cdef int fd = g_pool[k].fd
    _pool_unlink(k)
    g_fdo[fd].pool = -1
    g_fdo[fd].sess = -1
    sfd_close(fd)


cdef int _pool_grab(int k, int idx) noexcept nogil:
    """Out of the pool, session idx's now: its fd."""
    cdef int fd = g_pool[k].fd
    _pool_unlink(k)
    g_fdo[fd].pool = -1
    g_fdo[fd].sess = idx
    g_fdo[fd].sess_gen = g_sess[idx].gen
    return fd


cdef int pool_take(int srv, int idx, int want) noexcept nogil:
    """An idle connection to server srv that `want` (POOL_*) accepts, now session idx's (its
    events go to it), or -1. Expired connections met on the way are closed. POOL_OWNER looks in
    the list of the stream's HTTP/2 connection (or the HTTP/1 session's own) only."""
    cdef pool_ent *e
    cdef int k, nxt, n, owner
    cdef sess_t *s = &g_sess[idx]
    if g_pool == NULL or srv < 0:
        return -1
    if want == POOL_OWNER:
        owner = s.h2c - 1 if s.h2c else idx     # (an HTTP/2 stream's connection, or the session)
        if owner < 0 or owner >= g_pool_nent:
            return -1
        k = g_pool_ohead[owner]
        n = g_pool_nent - g_pool_nfree      # (bounds the walk: no more are parked)
        while k >= 0 and n > 0:
            n -= 1
            e = &g_pool[k]
            nxt = e.onext
            if g_now - e.since > POOL_IDLE_MS or e.owner_gen != g_sess[owner].gen:
                _pool_drop(k)       # (expired, or parked by an earlier session of that slot)
            elif e.srv == srv:
                return _pool_grab(k, idx)
            k = nxt
        return -1
    k = g_pool_head[srv]
    n = g_pool_count[srv]           # (bounds the walk: the list holds that many)
    while k >= 0 and n > 0:
        n -= 1
        e = &g_pool[k]
        nxt = e.next
        if g_now - e.since > POOL_IDLE_MS:
            _pool_drop(k)
        else:
            return _pool_grab(k, idx)
        k = nxt
    return -1


cdef void pool_owner_end(int owner) noexcept nogil:
    """An HTTP/2 client connection (or an HTTP/1 session) ends: close what it parked as its own
    (no one else may take it), as 2.6 closes a session's connections with it."""
    cdef int n
    if g_pool == NULL or owner < 0 or owner >= g_pool_nent:
        return
    n = g_pool_nent
    while g_pool_ohead[owner] >= 0 and n > 0:
        n -= 1
        _pool_drop(g_pool_ohead[owner])


cdef int pool_want(sess_t *s) noexcept nogil:
    """Which parked connections an HTTP/2 stream's session may take (POOL_*), as the `http-reuse`
    of its server's backend says (every stream counts as a request that is not a session's first,
    as in 2.6)."""
    if g_px[g_srv[s.srv].px].reuse == REUSE_NEVER:
        return POOL_OWNER
    return POOL_ANY


cdef int pool_fd_event(int fd, unsigned int gen, unsigned int events) noexcept nogil:
    """An event on a server connection whose epoll data names its fd: handled here if it is
    parked (input or a close ends it), else the session that has it, to dispatch, or -1."""
    cdef fd_owner *o
    cdef int k
    if fd < 0 or fd >= g_fdo_n or g_fdo[fd].gen != gen:
        return -1
    o = &g_fdo[fd]
    if o.pool >= 0:
        if events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR) and not (
                h2o_of(fd) != NULL and not (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                and h2o_idle_event(fd) == 0):   # (h2: frames between streams keep it)
            k = o.pool
            o.pool = -1
            _pool_unlink(k)
            sfd_close(fd)
        return -1
    if o.sess < 0 or g_sess[o.sess].gen != o.sess_gen or g_sess[o.sess].state == ST_FREE \
            or g_sess[o.sess].sfd != fd:
        return -1
    return o.sess


cdef inline int pool_h1_want(sess_t *s, int srv) noexcept nogil:
    """Which parked connections to server srv an HTTP/1 client's session may leave and take
    (POOL_*): its own only (POOL_OWNER) where 2.6 makes the connection private to the client
    (`http-reuse never`, a PROXY header: its session's list), else any; -1: none, for a server
    with `maxconn` (its slot is given back between requests) or a stream of an HTTP/2 client."""
    if s.h2c != 0 or srv < 0 or g_srv[srv].conf.maxconn:
        return -1
    if g_srv[srv].conf.send_proxy or g_px[g_srv[srv].px].reuse == REUSE_NEVER:
        return POOL_OWNER
    return POOL_ANY


cdef int pool_park_h1(int idx, int srv) noexcept nogil:
    """An HTTP/1 client's next request goes to another server: park the idle connection it kept
    to the previous one, srv (1), as 2.6's H1 multiplexer gives a connection to its server's idle
    list (or, private, to the session's) when a stream ends; 0: it must be closed. (The same
    server again keeps it without this: http.pxi.)"""
    cdef sess_t *s = &g_sess[idx]
    cdef int want = pool_h1_want(s, srv)
    if s.sfd < 0 or s.srv_rd == 2 or s.rsp.buf_in or want < 0 or h2o_of(s.sfd) != NULL:
        return 0
    if pool_put(srv, s.sfd, s.sfd_tagged, idx, s.gen, want == POOL_OWNER):
        s.sfd = -1
        return 1
    return 0


cdef int pool_take_h1(int idx) noexcept nogil:
    """An HTTP/1 client's request that is not its connection's first, its server chosen and no
    connection to it: an idle one from the pool (1), now the session's, as 2.6 takes an idle or
    safe connection for such a request under `http-reuse safe|aggressive|always` (under `never`,
    one of its own); else 0."""
    cdef sess_t *s = &g_sess[idx]
    cdef int fd, want = pool_h1_want(s, s.srv)
    if not s.http_ka or s.sfd >= 0 or want < 0:
        return 0
    fd = pool_take(s.srv, idx, want)
    if fd < 0:
        return 0
    s.sfd = fd
    s.sfd_tagged = 1
    srv_conn_used(fd, s.srv)
    s.srv_wr = 1
    s.srv_rd = 0
    return 1


cdef int pool_park(sess_t *s) noexcept nogil:
    """A session ends: park its server connection if it is idle and kept alive (1): an HTTP/2
    stream's, or an HTTP/1 client's gone between requests when the connection is not private to
    it (2.6's H1 multiplexer gives it to the server's idle list; a private one ends with the
    session)."""
    if s.sfd < 0 or s.srv < 0 or s.state != ST_REQ or not s.http_ka:
        return 0
    if s.req.buf_in or s.rsp.buf_in or s.srv_rd == 2 or s.term_cause != TERM_NONE:
        return 0
    if s.h2c == 0:     # (a private one is not parked: it would be closed with the session)
        return pool_h1_want(s, s.srv) == POOL_ANY and pool_park_h1(<int>(s - g_sess), s.srv)
    if g_srv[s.srv].conf.maxconn or g_srv[s.srv].conf.send_proxy:
        return 0
    # (owner: for `http-reuse never`)
    if pool_put(s.srv, s.sfd, s.sfd_tagged, s.h2c - 1, g_sess[s.h2c - 1].gen,
                g_px[g_srv[s.srv].px].reuse == REUSE_NEVER):
        s.sfd = -1
        return 1
    return 0
