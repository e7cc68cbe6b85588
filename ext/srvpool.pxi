# Idle server connections shared by the streams of HTTP/2 connections (2.6's `http-reuse safe`,
# its default, as it applies to HTTP/2 clients): each stream is a session of its own here
# (h2.pxi), so without this every stream would connect anew. A stream's session that ends with
# a kept-alive, idle server connection parks it here; a later stream (never the first of its
# HTTP/2 connection, as `safe` wants: a client's first request goes over its own connection)
# to the same server takes it instead of connecting. A parked connection stays in the epoll set:
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

cdef struct pool_ent:
    int fd
    int srv
    int next, prev
    int used
    int safe                    # it carried more than one request (taken from the pool before)
    unsigned int gen
    long long since

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


cdef int pool_setup(int nent, int nsrv) except -1:
    global g_pool, g_pool_free, g_pool_nfree, g_pool_head, g_pool_count, g_fdo, g_fdo_n
    cdef int i
    g_pool = <pool_ent *>calloc(max(1, nent), sizeof(pool_ent))
    g_pool_free = <int *>malloc(sizeof(int) * max(1, nent))
    g_pool_head = <int *>malloc(sizeof(int) * max(1, nsrv))
    g_pool_count = <int *>calloc(max(1, nsrv), sizeof(int))
    g_fdo_n = 4 * nent + 1024          # (a higher fd is simply not parked)
    g_fdo = <fd_owner *>calloc(g_fdo_n, sizeof(fd_owner))
    if g_pool == NULL or g_pool_free == NULL or g_pool_head == NULL or g_pool_count == NULL or g_fdo == NULL:
        raise MemoryError()
    for i in range(nent):
        g_pool_free[i] = nent - 1 - i
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
    if e.safe:
        ctr_srv(e.srv).safe_conns -= 1
    else:
        ctr_srv(e.srv).idle_conns -= 1
    e.used = 0
    e.gen += 1
    g_pool_free[g_pool_nfree] = k
    g_pool_nfree += 1


cdef int pool_put(int srv, int fd, int tagged) noexcept nogil:
    """Park an idle kept-alive connection to server srv (tagged: its epoll data names its fd
    already): 1 if parked, 0 if it must be closed."""
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


cdef int pool_take(int srv, int idx) noexcept nogil:
    """An idle connection to server srv, now session idx's (its events go to it), or -1."""
    cdef pool_ent *e
    cdef int k, fd
    if g_pool == NULL or srv < 0:
        return -1
    while g_pool_head[srv] >= 0:
        k = g_pool_head[srv]
        e = &g_pool[k]
        fd = e.fd
        _pool_unlink(k)
        g_fdo[fd].pool = -1
        g_fdo[fd].sess = -1
        if g_now - e.since > POOL_IDLE_MS:
            sfd_close(fd)
            continue
        g_fdo[fd].sess = idx
        g_fdo[fd].sess_gen = g_sess[idx].gen
        return fd
    return -1


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


cdef int pool_park(sess_t *s) noexcept nogil:
    """A stream's session ends: park its server connection if it is idle and kept alive (1)."""
    if s.h2c == 0 or s.sfd < 0 or s.srv < 0 or s.state != ST_REQ or not s.http_ka:
        return 0
    if s.req.buf_in or s.rsp.buf_in or s.srv_rd == 2 or s.term_cause != TERM_NONE:
        return 0
    if g_srv[s.srv].conf.maxconn or g_srv[s.srv].conf.send_proxy:
        return 0
    if pool_put(s.srv, s.sfd, s.sfd_tagged):
        s.sfd = -1
        return 1
    return 0
