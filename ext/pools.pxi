# Worker-global state, clocks, the session/buffer/pipe pools and the timer heap; which server
# each server connection counts for (srv_conn_used / srv_conn_unused).

cdef int g_ep = -1
cdef long long g_now = 0          # monotonic milliseconds, updated once per loop turn
cdef long long g_wall = 0         # wall-clock milliseconds, same turn
cdef px_t *g_px = NULL
cdef int g_npx = 0
cdef srv_t *g_srv = NULL
cdef int g_nsrv = 0
cdef lst_t *g_lst = NULL
cdef int g_nlst = 0
cdef sess_t *g_sess = NULL
cdef int g_maxsess = 0
cdef int *g_free_sess = NULL
cdef int g_nfree = 0
cdef int g_actconn = 0
cdef int g_maxconn = 0
cdef shm_hdr *g_shm = NULL
cdef int g_worker = 0
cdef int g_stopping = 0
cdef int g_terminate = 0
cdef int g_sigfd = -1
cdef int g_listeners_full = 0
cdef int g_debug = 0
cdef int g_queue_dirty = 0        # a server slot was freed while sessions wait in a backend queue
cdef sockaddr_storage g_stats_addr   # the master's internal stats server (AF_UNIX), family 0 if none
cdef socklen_t g_stats_addrlen = 0
cdef const char *STATS_ADMIN_HDR = b"x-pyhaproxy-stats-admin"   # (its name, for the master too)
STATS_ADMIN_HEADER = (<bytes>STATS_ADMIN_HDR).decode()
cdef char g_stats_admin_key[64]      # `stats admin`: the header value the master trusts
cdef int g_stats_admin_key_len = 0
cdef sockaddr_storage g_promex_addr  # the master's prometheus-exporter service (AF_UNIX)
cdef socklen_t g_promex_addrlen = 0
cdef long long *g_grace_until = NULL   # per proxy, set by soft stop when the proxy has a grace time

# Accept rates, 2.6's freq_ctr over a 1 s period: the current period's count plus the previous
# one's, weighted by what is left of it. One per limit: `maxconnrate` (connections accepted),
# `maxsessrate` (sessions: connections the tcp-request connection rules kept), `maxsslrate`
# (connections to TLS listeners), each frontend's `rate-limit sessions` (px_t.fe_sps), all per
# worker process as 2.6 counts them per process (freq_t: types.pxi).
cdef int g_cps_lim = 0            # `maxconnrate` (0: no limit)
cdef int g_sps_lim = 0            # `maxsessrate`
cdef int g_ssl_lim = 0            # `maxsslrate`
cdef freq_t g_cps
cdef freq_t g_sps
cdef freq_t g_sslps
cdef long long g_cps_resume_at = 0  # when rate-limited listeners are polled again (0: none limited)

cdef void freq_rotate(freq_t *f) noexcept nogil:
    cdef long long el = g_now - f.tick
    if el >= 1000:
        f.prev = f.curr if el < 2000 else 0
        f.curr = 0
        f.tick = g_now - el % 1000


cdef long long freq_count(freq_t *f) noexcept nogil:
    """The rate as 2.6 computes it (freq_ctr_remain's sum)."""
    freq_rotate(f)
    return f.curr + f.prev * (1000 - (g_now - f.tick)) // 1000


cdef inline void freq_add(freq_t *f) noexcept nogil:
    freq_rotate(f)
    f.curr += 1


cdef long long freq_wait_ms(freq_t *f, long long lim) noexcept nogil:
    """Milliseconds until the rate falls below `lim` again (at least 1)."""
    cdef long long el, w
    freq_rotate(f)
    el = g_now - f.tick
    if f.curr >= lim:
        # this period is full: wait for the next one, then for its weight to decay enough
        w = (1000 - el) + 1000 - 1000 * lim // f.curr + 1
    elif f.prev > 0:
        w = 1000 - el - 1000 * (lim - f.curr) // f.prev + 1
    else:
        w = 1
    return w if w > 0 else 1


cdef inline long long freq_over(freq_t *f, long long lim) noexcept nogil:
    """0 while under `lim` (0: no limit), else the milliseconds to wait."""
    if lim <= 0 or freq_count(f) < lim:
        return 0
    return freq_wait_ms(f, lim)


cdef enum:
    BUFSIZE = 16384
    MAXREWRITE = 8192
    PIPE_POOL_MAX = 1024
    BUF_POOL_MAX = 1024

cdef char **g_bufs = NULL
cdef int g_nbufs = 0
cdef int *g_pipes = NULL
cdef int g_npipes = 0

cdef long long *g_heap_exp = NULL
cdef int *g_heap_idx = NULL
cdef int g_heap_n = 0


cdef inline void clock_update() noexcept nogil:
    global g_now, g_wall
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    g_now = <long long>ts.tv_sec * 1000 + ts.tv_nsec // 1000000
    clock_gettime(CLOCK_REALTIME, &ts)
    g_wall = <long long>ts.tv_sec * 1000 + ts.tv_nsec // 1000000


cdef long long _wall_ms() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <long long>ts.tv_sec * 1000 + ts.tv_nsec // 1000000


cdef inline shm_ctr *ctr_px(int px) noexcept nogil:
    return shm_ctr_at(g_shm, g_worker, g_px[px].slot)


cdef inline shm_ctr *ctr_srv(int gidx) noexcept nogil:
    return shm_ctr_at(g_shm, g_worker, g_npx + gidx)


# Which server each open server connection counts for in `used_conn_cur` (index + 1, 0: none),
# by fd: a connection is counted from its socket to its close (sfd_close) or its parking in the
# idle pool (srvpool.pxi), whichever path ends it. Sized to the fd limit (srv_conn_setup).
cdef int *g_sfd_srv = NULL
cdef int g_sfd_srv_n = 0


cdef int srv_conn_setup(int nofile) noexcept nogil:
    """The table for fds below nofile, the worker's fd limit (no fd reaches it); -1: no memory."""
    global g_sfd_srv, g_sfd_srv_n
    g_sfd_srv_n = min(max(nofile, 1024), 1 << 24)
    g_sfd_srv = <int *>calloc(g_sfd_srv_n, sizeof(int))
    return -1 if g_sfd_srv == NULL else 0


cdef inline void srv_conn_unused(int fd) noexcept nogil:
    """Server connection fd no longer counts as used (closed, or parked idle)."""
    cdef int g
    if fd < 0 or fd >= g_sfd_srv_n:
        return
    g = g_sfd_srv[fd] - 1
    if g >= 0:
        g_sfd_srv[fd] = 0
        ctr_srv(g).used_conns -= 1


cdef inline void srv_conn_used(int fd, int g) noexcept nogil:
    """Server connection fd is now held by a session of server g (not the stats page's)."""
    if g < 0 or fd < 0 or fd >= g_sfd_srv_n:
        return
    srv_conn_unused(fd)
    g_sfd_srv[fd] = g + 1
    ctr_srv(g).used_conns += 1


cdef inline void ctr_open(shm_ctr *c) noexcept nogil:
    c.cur_sess += 1
    c.tot_sess += 1
    if c.cur_sess > c.max_sess:
        c.max_sess = c.cur_sess


# ---- buffers: LIFO so that RSS only grows with the peak number of buffers in use

cdef char *buf_get() noexcept nogil:
    global g_nbufs
    if g_nbufs > 0:
        g_nbufs -= 1
        return g_bufs[g_nbufs]
    return <char *>malloc(BUFSIZE)


cdef void buf_put(char *b) noexcept nogil:
    global g_nbufs
    if b == NULL:
        return
    if g_nbufs < BUF_POOL_MAX:
        g_bufs[g_nbufs] = b
        g_nbufs += 1
    else:
        free(b)


# ---- pipes for splice(): taken when data flows, given back once empty

cdef int g_nosplice = 0       # global `nosplice`: no pipe is ever given
cdef int g_maxpipes = 0       # global `maxpipes`: pipes in use at once (0: no limit)
cdef int g_pipes_used = 0


cdef int pipe_get(chan_t *ch) noexcept nogil:
    """A pipe for the channel's splice(), -1 when none may be had (`nosplice`, `maxpipes`
    reached, no fd): the caller copies through its buffer instead, as 2.6 does."""
    global g_npipes, g_pipes_used
    cdef int fds[2]
    if ch.pipe_r >= 0:
        return 0
    if g_nosplice:
        return -1
    if g_npipes > 0:
        g_npipes -= 1
        ch.pipe_r = g_pipes[2 * g_npipes]
        ch.pipe_w = g_pipes[2 * g_npipes + 1]
    else:
        # 2.6's get_pipe(): a new pipe only while the pipes in use, the one asked for and the
        # pooled ones stay under `maxpipes` (so at most maxpipes - 1 exist, as in 2.6)
        if g_maxpipes > 0 and g_pipes_used + 1 + g_npipes >= g_maxpipes:
            return -1
        if pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0:
            return -1
        ch.pipe_r = fds[0]
        ch.pipe_w = fds[1]
    g_pipes_used += 1
    return 0


cdef void pipe_put(chan_t *ch) noexcept nogil:
    global g_npipes, g_pipes_used
    if ch.pipe_r < 0:
        return
    g_pipes_used -= 1
    if ch.in_pipe == 0 and g_npipes < PIPE_POOL_MAX:
        g_pipes[2 * g_npipes] = ch.pipe_r
        g_pipes[2 * g_npipes + 1] = ch.pipe_w
        g_npipes += 1
    else:
        close(ch.pipe_r)
        close(ch.pipe_w)
    ch.pipe_r = -1
    ch.pipe_w = -1
    ch.in_pipe = 0


# ---- timer heap: one entry per session at most; the entry is re-checked lazily when it expires

cdef inline long long sess_next_exp(sess_t *s) noexcept nogil:
    cdef long long e = 0
    if s.cli_exp and (e == 0 or s.cli_exp < e):
        e = s.cli_exp
    if s.srv_exp and (e == 0 or s.srv_exp < e):
        e = s.srv_exp
    if s.con_exp and (e == 0 or s.con_exp < e):
        e = s.con_exp
    return e


cdef void heap_push(long long exp, int idx) noexcept nogil:
    global g_heap_n
    cdef int i = g_heap_n
    cdef int p
    g_heap_n += 1
    while i > 0:
        p = (i - 1) >> 1
        if g_heap_exp[p] <= exp:
            break
        g_heap_exp[i] = g_heap_exp[p]
        g_heap_idx[i] = g_heap_idx[p]
        i = p
    g_heap_exp[i] = exp
    g_heap_idx[i] = idx


cdef void heap_pop() noexcept nogil:
    global g_heap_n
    cdef int i = 0
    cdef int c
    cdef long long exp
    cdef int idx
    g_heap_n -= 1
    if g_heap_n == 0:
        return
    exp = g_heap_exp[g_heap_n]
    idx = g_heap_idx[g_heap_n]
    while True:
        c = 2 * i + 1
        if c >= g_heap_n:
            break
        if c + 1 < g_heap_n and g_heap_exp[c + 1] < g_heap_exp[c]:
            c += 1
        if g_heap_exp[c] >= exp:
            break
        g_heap_exp[i] = g_heap_exp[c]
        g_heap_idx[i] = g_heap_idx[c]
        i = c
    g_heap_exp[i] = exp
    g_heap_idx[i] = idx


cdef int g_heap_cap = 0


cdef void heap_rebuild() noexcept nogil:
    """Drop every entry and push one per live session (used when stale entries fill the heap)."""
    global g_heap_n
    cdef int i
    cdef long long e
    g_heap_n = 0
    for i in range(g_maxsess):
        g_sess[i].heap_at = 0
        if g_sess[i].state != ST_FREE:
            e = sess_next_exp(&g_sess[i])
            if e:
                heap_push(e, i)
                g_sess[i].heap_at = e


# How long an idle kept-alive connection is kept once the process is stopping: long enough for
# a client that is sending its next request to have it served (with `Connection: close`).
cdef enum:
    STOP_IDLE_MS = 1000


cdef inline void stop_idle_deadline(sess_t *s) noexcept nogil:
    """Stopping: an idle kept-alive connection ends within STOP_IDLE_MS."""
    if s.cli_exp == 0 or s.cli_exp > g_now + STOP_IDLE_MS:
        s.cli_exp = g_now + STOP_IDLE_MS


cdef inline void sess_arm(sess_t *s, int idx) noexcept nogil:
    """Make sure the session has a heap entry no later than its earliest timer."""
    cdef long long e = sess_next_exp(s)
    if e == 0 or (s.heap_at != 0 and s.heap_at <= e):
        return
    if g_heap_n >= g_heap_cap:
        heap_rebuild()
        if s.heap_at != 0 and s.heap_at <= e:
            return
    heap_push(e, idx)
    s.heap_at = e
