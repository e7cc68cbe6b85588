# Server choice: weighted round robin, source hash, backups, dispatch; reads the shared server state.

cdef inline int srv_usable(int g) noexcept nogil:
    cdef shm_srv *st = shm_srv_at(g_shm, g)
    if st.state != SRV_UP or st.admin_down or st.weight == 0:
        return 0             # weight 0 (stats socket `set weight`) drains the server
    if g_srv[g].conf.maxconn and g_srv[g].cur_sess >= g_srv[g].conf.maxconn:
        return 0
    return 1


cdef inline int srv_persist_ok(int g) noexcept nogil:
    """srv_usable() for a request that names its server (cookie, appsession): a NOLB server
    (`http-check disable-on-404`) still takes it, as 2.6 keeps persistent traffic on it."""
    cdef shm_srv *st = shm_srv_at(g_shm, g)
    if st.state == SRV_DOWN or st.admin_down or st.weight == 0:
        return 0
    if g_srv[g].conf.maxconn and g_srv[g].cur_sess >= g_srv[g].conf.maxconn:
        return 0
    return 1


cdef inline int srv_alive(int g) noexcept nogil:
    """Up by the checks (NOLB included: it still takes persistent requests) and not disabled by
    the operator (ignores maxconn)."""
    cdef shm_srv *st = shm_srv_at(g_shm, g)
    return st.state != SRV_DOWN and st.admin_down == 0


cdef int be_usable_servers(int px) noexcept nogil:
    """2.6's nbsrv: the active servers up, else the backups up (one when only the first backup
    would be used, without `option allbackups`)."""
    cdef int g, act = 0, bck = 0
    cdef px_t *p = &g_px[px]
    cdef shm_srv *st
    for g in range(p.srv_first, p.srv_first + p.nsrv):
        st = shm_srv_at(g_shm, g)
        if st.state == SRV_DOWN or st.admin_down or st.weight == 0:
            continue
        if g_srv[g].conf.backup:
            bck += 1
        else:
            act += 1
    if act:
        return act
    if bck and not (p.opts & PO_ALLBACKUPS):
        return 1
    return bck


cdef int be_conn_slots(int px) noexcept nogil:
    """2.6's connslots: over the servers not down, free connection slots plus free queue slots;
    -1 as soon as one has no maxconn or no maxqueue (no limit to count)."""
    cdef int g, n = 0
    cdef px_t *p = &g_px[px]
    for g in range(p.srv_first, p.srv_first + p.nsrv):
        if shm_srv_at(g_shm, g).state == SRV_DOWN:
            continue
        if g_srv[g].conf.maxconn == 0 or g_srv[g].conf.maxqueue == 0:
            return -1
        n += (g_srv[g].conf.maxconn - g_srv[g].cur_sess) + g_srv[g].conf.maxqueue
    return n


cdef int srv_ramp(int g) noexcept nogil:
    """`slowstart`: the share of its weight (out of 256) a server has, ramping up linearly for
    `slowstart` ms after it came back UP (not at start-up, as in HAProxy)."""
    cdef srv_t *sv = &g_srv[g]
    cdef shm_srv *st
    cdef long long el
    if sv.conf.slowstart <= 0:
        return 256
    st = shm_srv_at(g_shm, g)
    if st.down_trans == 0 or st.state != SRV_UP:
        return 256
    el = g_wall - st.last_change_ms
    if el < 0 or el >= sv.conf.slowstart:
        return 256
    el = el * 256 // sv.conf.slowstart
    return <int>el if el > 0 else 1


cdef int pick_seq(int *seq, int n, int *pos) noexcept nogil:
    cdef int k, g, ramp, held = -1
    if n == 0:
        return -1
    for k in range(n):
        g = seq[pos[0]]
        pos[0] += 1
        if pos[0] >= n:
            pos[0] = 0
        if srv_usable(g):
            ramp = srv_ramp(g)
            if ramp < 256:
                # slowstart: the server takes only ramp/256 of its turns
                g_srv[g].ss_acc += ramp
                if g_srv[g].ss_acc < 256:
                    if held < 0:
                        held = g
                    continue
                g_srv[g].ss_acc -= 256
            return g
    return held       # only servers in slowstart are left: they still serve


cdef int pick_hash(int *seq, int n, unsigned int h) noexcept nogil:
    cdef int k, g
    if n == 0:
        return -1
    for k in range(n):
        g = seq[(h + <unsigned int>k) % <unsigned int>n]
        if srv_usable(g):
            return g
    return -1


cdef unsigned int addr_hash(sockaddr_storage *a) noexcept nogil:
    """HAProxy's source hash: the address words XORed together, host order."""
    cdef unsigned int h = 0
    cdef int i
    cdef unsigned int w
    cdef unsigned char *b
    if a.ss_family == AF_INET:
        return ntohl((<sockaddr_in *>a).sin_addr.s_addr)
    b = (<sockaddr_in6 *>a).sin6_addr.s6_addr
    for i in range(4):
        w = (<unsigned int>b[4 * i] << 24) | (<unsigned int>b[4 * i + 1] << 16) | (<unsigned int>b[4 * i + 2] << 8) | b[4 * i + 3]
        h ^= w
    return h


cdef int first_backup(px_t *p) noexcept nogil:
    cdef int g
    for g in range(p.srv_first, p.srv_first + p.nsrv):
        if g_srv[g].conf.backup and srv_usable(g):
            return g
    return -1


cdef long long srv_conns(int g) noexcept nogil:
    """Connections a server serves now, summed over every worker (the shared counters)."""
    cdef long long n = 0
    cdef unsigned int w
    for w in range(g_shm.nworkers):
        n += <long long>shm_ctr_at(g_shm, w, g_npx + g).cur_sess
    return n


cdef int pick_leastconn(px_t *p, int bck) noexcept nogil:
    """balance leastconn: the usable server with the fewest connections for its weight; servers
    that tie take turns (the scan starts after the last one chosen)."""
    cdef int k, g, best = -1, w, bw = 1
    cdef long long c, bc = 0
    for k in range(p.nsrv):
        g = p.srv_first + (p.lc_pos + k) % p.nsrv
        if g_srv[g].conf.backup != bck or not srv_usable(g):
            continue
        c = srv_conns(g)
        w = g_srv[g].conf.weight if g_srv[g].conf.weight > 0 else 1
        w = w * srv_ramp(g)          # (out of 256: slowstart ramps it up)
        if best < 0 or c * bw < bc * w:
            best = g
            bc = c
            bw = w
    if best >= 0:
        p.lc_pos = (best - p.srv_first + 1) % p.nsrv
    return best


cdef int pick_first(px_t *p, int bck) noexcept nogil:
    """balance first: the first server in declaration order that has a free slot (maxconn)."""
    cdef int g
    for g in range(p.srv_first, p.srv_first + p.nsrv):
        if g_srv[g].conf.backup == bck and srv_usable(g):
            return g
    return -1


cdef unsigned int lb_hash_bytes(const char *b, int n) noexcept nogil:
    """sdbm, the hash HAProxy uses by default for `balance uri` and `hdr()`."""
    cdef unsigned int h = 0
    cdef int i
    for i in range(n):
        h = <unsigned char>b[i] + (h << 6) + (h << 16) - h
    return h


cdef void lb_hash_request(sess_t *s, const char *buf, h1_msg *m) noexcept nogil:
    """balance uri / hdr(NAME): hash what this request is balanced on (m is the request)."""
    cdef px_t *p = &g_px[s.be]
    cdef int i, n
    s.lb_hash_ok = 0
    if p.balance == BAL_URI:
        n = m.uri_len
        if not p.hash_whole:
            i = 0
            while i < n and buf[m.uri_off + i] != b'?':
                i += 1
            n = i
        s.lb_hash = lb_hash_bytes(buf + m.uri_off, n)
        s.lb_hash_ok = 1
    elif p.balance == BAL_HDR:
        i = h1_find_hdr(buf, m, p.hash_hdr, p.hash_hdr_len, 0)
        if i >= 0 and m.hdr[i].v_len > 0:
            s.lb_hash = lb_hash_bytes(buf + m.hdr[i].v_off, m.hdr[i].v_len)
            s.lb_hash_ok = 1


cdef int select_server(sess_t *s) noexcept nogil:
    """Global index of the chosen server, -2 for the dispatch address, -1 when none is available."""
    cdef px_t *p = &g_px[s.be]
    cdef int g
    cdef unsigned int h
    if p.nsrv == 0 or (p.has_dispatch and not p.balance_set):
        # HAProxy 1.2 (2.7, 2.10, 3.2): without `balance`, servers only serve their cookie's
        # clients (chosen before this); every new client goes to the dispatch address
        return -2 if p.has_dispatch else -1
    if ((p.balance == BAL_SOURCE and (s.cli_addr.ss_family == AF_INET or s.cli_addr.ss_family == AF_INET6))
            or ((p.balance == BAL_URI or p.balance == BAL_HDR) and s.lb_hash_ok)):
        # a UNIX-socket client has no address to hash: round robin, as 2.6 falls back
        h = addr_hash(&s.cli_addr) if p.balance == BAL_SOURCE else s.lb_hash
        g = pick_hash(p.rr_act, p.rr_act_len, h)
        if g < 0:
            if p.opts & PO_ALLBACKUPS:
                g = pick_hash(p.rr_bck, p.rr_bck_len, h)
            else:
                g = first_backup(p)
    elif p.balance == BAL_LEASTCONN or p.balance == BAL_FIRST:
        g = pick_leastconn(p, 0) if p.balance == BAL_LEASTCONN else pick_first(p, 0)
        if g < 0:
            if p.opts & PO_ALLBACKUPS:
                g = pick_leastconn(p, 1) if p.balance == BAL_LEASTCONN else pick_first(p, 1)
            else:
                g = first_backup(p)
    else:
        # roundrobin and static-rr (weights only change through the stats socket, read live)
        g = pick_seq(p.rr_act, p.rr_act_len, &p.rr_act_pos)
        if g < 0:
            if p.opts & PO_ALLBACKUPS:
                g = pick_seq(p.rr_bck, p.rr_bck_len, &p.rr_bck_pos)
            else:
                g = first_backup(p)
    if g < 0 and p.has_dispatch:
        return -2
    return g


cdef int be_can_queue(px_t *p) noexcept nogil:
    """1 if a request that found no free server should wait: an alive server is at its maxconn."""
    cdef int g
    cdef shm_srv *st
    for g in range(p.srv_first, p.srv_first + p.nsrv):
        st = shm_srv_at(g_shm, g)
        if (g_srv[g].conf.maxconn and g_srv[g].cur_sess >= g_srv[g].conf.maxconn and st.state == SRV_UP
                and not st.admin_down and st.weight != 0):
            return 1
    return 0


cdef void queue_add(int idx) noexcept nogil:
    """Append session idx to its backend's queue; `timeout queue` (else `timeout connect`) runs."""
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.be]
    cdef int to = p.conf.queuetimeout if p.conf.queuetimeout > 0 else p.conf.contimeout
    s.q_next = -1
    s.q_prev = p.q_tail
    if p.q_tail >= 0:
        g_sess[p.q_tail].q_next = idx
    else:
        p.q_head = idx
    p.q_tail = idx
    p.nq += 1
    s.q_pos = p.nq
    s.state = ST_QUEUED
    s.con_exp = g_now + to if to > 0 else 0
    sess_arm(s, idx)


cdef void queue_del(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.be]
    if s.q_prev >= 0:
        g_sess[s.q_prev].q_next = s.q_next
    else:
        p.q_head = s.q_next
    if s.q_next >= 0:
        g_sess[s.q_next].q_prev = s.q_prev
    else:
        p.q_tail = s.q_prev
    p.nq -= 1
    s.q_next = -1
    s.q_prev = -1
    s.con_exp = 0


cdef inline void sess_set_be(sess_t *s, int be) noexcept nogil:
    """Route the session to backend be (its own proxy for a `listen`); counts backend sessions."""
    if be == s.be:
        return
    if s.be != s.px:
        g_px[s.be].beconn -= 1
        ctr_px(s.be).cur_sess -= 1
    s.be = be
    if be != s.px:
        g_px[be].beconn += 1
        ctr_open(ctr_px(be))


cdef inline void sess_set_srv(sess_t *s, int g) noexcept nogil:
    global g_queue_dirty
    if s.srv >= 0:
        g_srv[s.srv].cur_sess -= 1
        shm_ctr_at(g_shm, g_worker, g_npx + s.srv).cur_sess -= 1
        if g_srv[s.srv].conf.maxconn and g_px[g_srv[s.srv].px].nq > 0:
            g_queue_dirty = 1      # a slot was freed: the queue is served at the end of this turn
    s.srv = g
    if g >= 0:
        g_srv[g].cur_sess += 1
        ctr_open(shm_ctr_at(g_shm, g_worker, g_npx + g))
        shm_ctr_at(g_shm, g_worker, g_npx + g).last_sess_ms = g_wall     # (`lastsess` in show stat)
        ctr_px(s.be).last_sess_ms = g_wall
        ctr_px(s.be).lbconn += 1       # (the sum of its servers' tot_sess: 2.6's cum_lbconn)

