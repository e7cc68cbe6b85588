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


cdef enum hash_func:
    # `hash-type`'s functions (2.6's gen_hash)
    HFN_SDBM = 0                     # the default
    HFN_DJB2 = 1
    HFN_WT6 = 2
    HFN_CRC32 = 3


cdef unsigned int hash_sdbm(const char *b, int n) noexcept nogil:
    cdef unsigned int h = 0
    cdef int i
    for i in range(n):
        h = <unsigned char>b[i] + (h << 6) + (h << 16) - h
    return h


cdef unsigned int hash_djb2(const char *b, int n) noexcept nogil:
    cdef unsigned int h = 5381
    cdef int i
    for i in range(n):
        h = (h << 5) + h + <unsigned char>b[i]
    return h


cdef unsigned int hash_wt6(const char *b, int n) noexcept nogil:
    cdef unsigned int h0 = 0xa53c965aU, h1 = 0x5ca6953aU, s0 = 6, s1 = 18, t
    cdef int i
    for i in range(n):
        t = <unsigned char>b[i]
        h0 = ~(h0 ^ t)
        h1 = ~(h1 + t)
        t = (h1 << s0) | (h1 >> ((32 - s0) & 31)) if s0 else h1
        h1 = (h0 << s1) | (h0 >> ((32 - s1) & 31)) if s1 else h0
        h0 = t
        t = ((h0 >> 16) ^ h1) & 0xffff
        s0 = t & 0x1f
        s1 = t >> 11
    return h0 ^ h1


cdef unsigned int hash_crc32(const char *b, int n) noexcept nogil:
    cdef unsigned int h = 0xffffffff
    cdef int i, bit
    for i in range(n):
        h ^= <unsigned char>b[i]
        for bit in range(8):
            h = (h >> 1) ^ (0xedb88320U if h & 1 else 0)
    return ~h


cdef unsigned int full_hash(unsigned int a) noexcept nogil:
    """Bob Jenkins' full avalanche on 32 bits, then times a prime near 3/4 of 2^32, as 2.6 spreads
    the ring's nodes and, with `avalanche`, the hashed keys."""
    a = (a + 0x7ed55d16U) + (a << 12)
    a = (a ^ 0xc761c23cU) ^ (a >> 19)
    a = (a + 0x165667b1U) + (a << 5)
    a = (a + 0xd3a2646cU) ^ (a << 9)
    a = (a + 0xfd7046c5U) + (a << 3)
    a = (a ^ 0xb55a4f09U) ^ (a >> 16)
    return a * 3221225473U


cdef unsigned int lb_hash_bytes(px_t *p, const char *b, int n) noexcept nogil:
    """The key as `hash-type` hashes it: its function, then the avalanche if asked."""
    cdef unsigned int h
    if p.hash_fn == HFN_DJB2:
        h = hash_djb2(b, n)
    elif p.hash_fn == HFN_WT6:
        h = hash_wt6(b, n)
    elif p.hash_fn == HFN_CRC32:
        h = hash_crc32(b, n)
    else:
        h = hash_sdbm(b, n)
    if p.conf.hash_aval:
        h = full_hash(h)
    return h


cdef inline int lb_is_token(unsigned char c) noexcept nogil:
    return (c >= b'0' and c <= b'9') or (c >= b'a' and c <= b'z') or (c >= b'A' and c <= b'Z') or (
        c != 0 and memchr(b"!#$%&'*+-.^_`|~", c, 15) != NULL)


cdef void lb_hash_post(sess_t *s, px_t *p, const char *d, int n) noexcept nogil:
    """balance url_param on a POST whose query string lacks the parameter: 2.6's
    get_server_ph_post looks for it in the body received so far (d, n), URL-encoded; a value
    whose first character is neither a token character nor white space means it is no form."""
    cdef int i = 0, en
    while n - i > p.hash_hdr_len:
        if d[i + p.hash_hdr_len] == b'=' and memcmp(d + i, p.hash_hdr, p.hash_hdr_len) == 0:
            i += p.hash_hdr_len + 1
            en = i
            while en < n and d[en] != b'&':
                # (2.6 tests the value's first character each time round, not the current one)
                if not lb_is_token(<unsigned char>d[i]):
                    if d[i] == b' ' or d[i] == b'\t' or d[i] == b'\r' or d[i] == b'\n':
                        break
                    return
                en += 1
            s.lb_hash = lb_hash_bytes(p, d + i, en - i)
            s.lb_hash_ok = 1
            return
        while i < n and d[i] != b'&':
            i += 1
        if i >= n:
            return
        i += 1


cdef void lb_hash_request(sess_t *s, const char *buf, h1_msg *m, int total) noexcept nogil:
    """balance uri / url_param / hdr(NAME): hash what this request is balanced on (m is the
    request, total the bytes of it in buf); without it (no such parameter or header) lb_hash_ok
    stays 0: round robin."""
    cdef px_t *p = &g_px[s.be]
    cdef const char *u = buf + m.uri_off
    cdef int i, n = m.uri_len, slashes = 0, st, en
    s.lb_hash_ok = 0
    if p.balance == BAL_URI:
        if p.conf.uri_path_only and n > 0 and u[0] != b'/':
            # an absolute URI: what follows its scheme and authority (none: an empty path)
            i = 0
            while i < n and u[i] != b':' and u[i] != b'/':
                i += 1
            if i + 2 < n and u[i] == b':' and u[i + 1] == b'/' and u[i + 2] == b'/':
                i += 3
                while i < n and u[i] != b'/':
                    i += 1
            else:
                i = n
            u += i
            n -= i
        if p.conf.uri_len and n > p.conf.uri_len:
            n = p.conf.uri_len
        i = 0
        while i < n:
            if u[i] == b'/':
                slashes += 1
                if slashes == p.conf.uri_depth:
                    break
            elif u[i] == b'?' and not p.hash_whole:
                break
            i += 1
        s.lb_hash = lb_hash_bytes(p, u, i)
        s.lb_hash_ok = 1
    elif p.balance == BAL_URL_PARAM:
        i = 0
        while i < n and u[i] != b'?':
            i += 1
        i += 1
        while i < n:
            # a parameter: NAME=VALUE up to the next '&'
            if (n - i > p.hash_hdr_len and u[i + p.hash_hdr_len] == b'='
                    and memcmp(u + i, p.hash_hdr, p.hash_hdr_len) == 0):
                st = i + p.hash_hdr_len + 1
                en = st
                while en < n and u[en] != b'&':
                    en += 1
                s.lb_hash = lb_hash_bytes(p, u + st, en - st)
                s.lb_hash_ok = 1
                return
            while i < n and u[i] != b'&':
                i += 1
            i += 1
        if (m.meth == H1_M_POST and not m.chunked and m.content_length > 0
                and total > m.hdrs_end):
            lb_hash_post(s, p, buf + m.hdrs_end,
                         <int>min(<long long>(total - m.hdrs_end), m.content_length))
    elif p.balance == BAL_HDR:
        i = h1_find_hdr(buf, m, p.hash_hdr, p.hash_hdr_len, 0)
        if i >= 0 and m.hdr[i].v_len > 0:
            u = buf + m.hdr[i].v_off
            n = m.hdr[i].v_len
            if p.conf.hdr_domain_only:
                # the word before the last dot ("example" of www.example.com), as 2.6 walks back
                en = n
                st = n
                slashes = 0            # (here: the last dot was seen)
                while st > 0:
                    if slashes:
                        if u[st - 1] == b'.':
                            break
                    elif st < n and u[st] == b'.':
                        en = st
                        slashes = 1
                    st -= 1
                s.lb_hash = lb_hash_bytes(p, u + st, en - st)
            else:
                s.lb_hash = lb_hash_bytes(p, u, n)
            s.lb_hash_ok = 1


cdef inline int map_eweight(px_t *p, int g) noexcept nogil:
    """A server's effective weight in 2.6's map: its weight over the configured weights' GCD,
    rounded up; 0 when it is not usable (down, disabled, drained by weight 0)."""
    cdef shm_srv *st = shm_srv_at(g_shm, g)
    if st.state != SRV_UP or st.admin_down or st.weight <= 0:
        return 0
    return (st.weight + p.hm_gcd - 1) // p.hm_gcd


cdef int map_refresh(px_t *p) noexcept nogil:
    """hash-type map-based: the map of the active servers up, as 2.6's recalc_server_map lays it
    out (each slot: every server gains its weight, the first with the highest score // total
    wins and loses the total); rebuilt when a state or weight changed. Its length (0: none)."""
    cdef unsigned long long sig = 1469598103934665603ULL
    cdef int g, k, w, tot = 0, o, best, v, mx, num
    cdef int *nm
    # (the signature is taken on every call: a cache by loop time let a request in the same
    # millisecond as a weight change read the old map, and fall on a server no longer in it)
    for g in range(p.srv_first, p.srv_first + p.nsrv):
        if g_srv[g].conf.backup:
            continue
        w = map_eweight(p, g)
        tot += w
        sig = (sig ^ <unsigned long long>(g * 4099 + w)) * 1099511628211ULL
    if sig == p.hm_sig:
        return p.hm_len
    p.hm_sig = sig
    if tot > p.hm_cap:
        nm = <int *>realloc(p.hm, sizeof(int) * tot)
        if nm == NULL:
            return p.hm_len
        p.hm = nm
        p.hm_cap = tot
    p.hm_len = tot
    for k in range(p.nsrv):
        p.hm_ws[k] = 0
    for o in range(tot):
        best = -1
        mx = 0
        for k in range(p.nsrv):
            g = p.srv_first + k
            if g_srv[g].conf.backup:
                continue
            w = map_eweight(p, g)
            if w == 0:
                continue
            if tot == 1:
                best = k
                break
            p.hm_ws[k] += w
            num = p.hm_ws[k] + tot
            v = num // tot if num >= 0 else -((-num) // tot)      # (C's division)
            if best < 0 or v > mx:
                mx = v
                best = k
        p.hm[o] = p.srv_first + best
        if best >= 0 and tot != 1:
            p.hm_ws[best] -= tot
    return tot


cdef int pick_map(px_t *p, unsigned int h) noexcept nogil:
    """hash-type map-based: 2.6's map_get_server_hash (-1: no active server, or it is full)."""
    cdef int n = map_refresh(p), g
    if n == 0:
        return -1
    g = p.hm[h % <unsigned int>n]
    return g if srv_usable(g) else -1


cdef int pick_map_rr(px_t *p) noexcept nogil:
    """2.6's map_get_server_rr: a hashing balance with nothing to hash walks the map's slots in
    turn, full servers skipped."""
    cdef int n = map_refresh(p), k, g
    if n == 0:
        return first_backup(p)
    if p.hm_rr < 0 or p.hm_rr >= n:
        p.hm_rr = 0
    for k in range(n):
        g = p.hm[p.hm_rr]
        p.hm_rr += 1
        if p.hm_rr == n:
            p.hm_rr = 0
        if srv_usable(g):
            return g
    return -1


cdef inline int ch_in_ring(int g, int node) noexcept nogil:
    """A ring node is in use: its server is up, enabled, and the node under its weight * 16."""
    cdef shm_srv *st = shm_srv_at(g_shm, g)
    return st.state == SRV_UP and st.admin_down == 0 and node < st.weight * 16


cdef int ch_lookup(px_t *p, int r, unsigned int h) noexcept nogil:
    """2.6's chash_get_server_hash on ring r: the node in use nearest to h (the one before on a
    tie), as a node index; -1 when no node is in use."""
    cdef unsigned int *key = p.ch_key[r]
    cdef int n = p.ch_n[r], lo = 0, hi = n, mid, k, ni = -1, pi = -1, i
    if n == 0:
        return -1
    while lo < hi:
        mid = (lo + hi) >> 1
        if key[mid] < h:
            lo = mid + 1
        else:
            hi = mid
    for k in range(n):
        i = (lo + k) % n
        if ch_in_ring(p.ch_srv[r][i], p.ch_node[r][i]):
            ni = i
            break
    if ni < 0:
        return -1
    for k in range(1, n + 1):
        i = (ni - k + n) % n
        if ch_in_ring(p.ch_srv[r][i], p.ch_node[r][i]):
            pi = i
            break
    if <unsigned int>(h - key[pi]) <= <unsigned int>(key[ni] - h):
        return pi
    return ni


cdef struct ch_ent:
    unsigned int key
    int order
    int node
    int g


cdef int ch_cmp(const void *a, const void *b) noexcept nogil:
    cdef const ch_ent *x = <const ch_ent *>a
    cdef const ch_ent *y = <const ch_ent *>b
    if x.key != y.key:
        return -1 if x.key < y.key else 1
    if x.order != y.order:
        return -1 if x.order < y.order else 1
    return x.node - y.node


cdef int ch_build(px_t *p, int r) noexcept nogil:
    """Lay out ring r (0 active, 1 backup servers) as 2.6's chash_init_server_tree does: a server
    of id ID has one node per unit of weight * 16, node j keyed full_hash(ID * 4096 + j), all
    sorted by key (equal keys in declaration order). -1 when out of memory (the ring is kept)."""
    cdef int k, j, n = 0, i = 0, g
    cdef ch_ent *e
    cdef unsigned int *key
    cdef int *srv
    cdef int *node
    for k in range(p.nsrv):
        if g_srv[p.srv_first + k].conf.backup == r:
            n += p.ch_w[k] * 16
    e = <ch_ent *>malloc(sizeof(ch_ent) * (n if n > 0 else 1))
    key = <unsigned int *>malloc(sizeof(unsigned int) * (n if n > 0 else 1))
    srv = <int *>malloc(sizeof(int) * (n if n > 0 else 1))
    node = <int *>malloc(sizeof(int) * (n if n > 0 else 1))
    if e == NULL or key == NULL or srv == NULL or node == NULL:
        free(e)
        free(key)
        free(srv)
        free(node)
        return -1
    for k in range(p.nsrv):
        g = p.srv_first + k
        if g_srv[g].conf.backup != r:
            continue
        for j in range(p.ch_w[k] * 16):
            e[i].key = full_hash(<unsigned int>p.ch_id[k] * 4096U + <unsigned int>j)
            e[i].order = k
            e[i].node = j
            e[i].g = g
            i += 1
    qsort(e, n, sizeof(ch_ent), ch_cmp)
    for i in range(n):
        key[i] = e[i].key
        srv[i] = e[i].g
        node[i] = e[i].node
    free(e)
    free(p.ch_key[r])
    free(p.ch_srv[r])
    free(p.ch_node[r])
    p.ch_key[r] = key
    p.ch_srv[r] = srv
    p.ch_node[r] = node
    p.ch_n[r] = n
    p.ch_last = -1
    return 0


cdef int ch_ring(px_t *p) noexcept nogil:
    """Which ring serves: the active servers' while one is up, else the backups' (-1: none, or
    only the first backup serves, without `option allbackups`)."""
    cdef int g, k, w
    for k in range(p.nsrv):
        # `set weight` above the weight the ring was laid out for: 2.6 gives the server the
        # nodes it lacks, here the ring is laid out again
        w = shm_srv_at(g_shm, p.srv_first + k).weight
        if w > p.ch_w[k]:
            p.ch_w[k] = w
            ch_build(p, g_srv[p.srv_first + k].conf.backup)
    for g in range(p.srv_first, p.srv_first + p.nsrv):
        if not g_srv[g].conf.backup and ch_in_ring(g, 0):
            return 0
    if p.opts & PO_ALLBACKUPS:
        return 1
    return -1


cdef int ch_eligible(px_t *p, int r, int g) noexcept nogil:
    """`hash-balance-factor` (2.6's chash_server_is_eligible, consistent hashing with bounded
    loads): the slots of the backend's load plus this request, times the factor, shared by
    weight (the remainder by each server's cumulative weight in declaration order); a server
    already serving its share is passed over."""
    cdef long long served = 0, tot = 0, cum = 0, ew = 0, slots, per, rem, tslots
    cdef int k, x, w
    for k in range(p.nsrv):
        x = p.srv_first + k
        served += srv_conns(x)
        if g_srv[x].conf.backup != r or not ch_in_ring(x, 0):
            continue
        w = shm_srv_at(g_shm, x).weight * 16
        if x < g:
            cum += w
        elif x == g:
            ew = w
        tot += w
    if tot == 0:
        return 1
    tslots = ((served + 1) * p.conf.hash_balance_factor + 99) // 100
    per = tslots // tot
    rem = tslots % tot
    slots = ew * per + ((cum + ew) * rem) // tot - (cum * rem) // tot
    if slots == 0:
        slots = 1
    return srv_conns(g) < slots


cdef int pick_chash(px_t *p, unsigned int h) noexcept nogil:
    """hash-type consistent: the server 2.6 picks for hash h (-1: none or it is full)."""
    cdef int r = ch_ring(p), i, g, k, n
    if r < 0:
        return first_backup(p)
    i = ch_lookup(p, r, h)
    if i < 0:
        return -1
    g = p.ch_srv[r][i]
    if p.conf.hash_balance_factor:
        # bounded loads: on along the ring past the servers over their share (a single lap)
        n = p.ch_n[r]
        for k in range(n):
            if ch_in_ring(g, p.ch_node[r][i]) and ch_eligible(p, r, g):
                break
            i = (i + 1) % n
            g = p.ch_srv[r][i]
    return g if srv_usable(g) else -1


cdef int pick_chash_rr(px_t *p) noexcept nogil:
    """2.6's chash_get_next_server: the ring's nodes in turn (a hashing balance with nothing to
    hash), full servers skipped."""
    cdef int r = ch_ring(p), k, i, n, g
    if r < 0:
        return first_backup(p)
    n = p.ch_n[r]
    for k in range(n):
        p.ch_last = (p.ch_last + 1) % n if n else 0
        i = p.ch_last
        g = p.ch_srv[r][i]
        if ch_in_ring(g, p.ch_node[r][i]) and srv_usable(g):
            return g
    return -1


cdef unsigned long long g_lb_prng = 0


cdef unsigned int lb_random() noexcept nogil:
    """balance random's draws: xorshift64*, seeded once per worker from its pid and the clock."""
    global g_lb_prng
    if g_lb_prng == 0:
        g_lb_prng = (<unsigned long long>getpid() << 32) ^ <unsigned long long>g_wall ^ 0x51ED2701A3C9F0BDULL
    g_lb_prng ^= g_lb_prng >> 12
    g_lb_prng ^= g_lb_prng << 25
    g_lb_prng ^= g_lb_prng >> 27
    return <unsigned int>((g_lb_prng * 0x2545F4914F6CDD1DULL) >> 32)


cdef int pick_random(px_t *p) noexcept nogil:
    """balance random(N), 2.6's get_server_rnd: N random points on the consistent ring, the
    server with the fewest connections for its weight wins; a full one means the queue."""
    cdef int r = ch_ring(p), i, d, g = -1, prev
    cdef long long wc, wp
    if r < 0:
        return first_backup(p)
    for d in range(p.conf.rnd_draws if p.conf.rnd_draws > 0 else 1):
        prev = g
        i = ch_lookup(p, r, lb_random())
        if i < 0:
            return -1
        g = p.ch_srv[r][i]
        if prev >= 0 and prev != g:
            wc = srv_conns(g) * shm_srv_at(g_shm, prev).weight
            wp = srv_conns(prev) * shm_srv_at(g_shm, g).weight
            if wc > wp:
                g = prev
    return g if srv_usable(g) else -1


cdef int select_server(sess_t *s) noexcept nogil:
    """Global index of the chosen server, -2 for the dispatch address, -1 when none is available."""
    cdef px_t *p = &g_px[s.be]
    cdef int g
    cdef unsigned int h
    if p.nsrv == 0 or (p.has_dispatch and not p.balance_set):
        # HAProxy 1.2 (2.7, 2.10, 3.2): without `balance`, servers only serve their cookie's
        # clients (chosen before this); every new client goes to the dispatch address
        return -2 if p.has_dispatch else -1
    if ((p.balance == BAL_SOURCE and (s.cli_addr.sin6_family == AF_INET or s.cli_addr.sin6_family == AF_INET6))
            or ((p.balance == BAL_URI or p.balance == BAL_HDR or p.balance == BAL_URL_PARAM
                 or p.balance == BAL_HASH)
                and s.lb_hash_ok)):
        # a UNIX-socket client has no address to hash: round robin, as 2.6 falls back
        if p.balance == BAL_SOURCE:
            h = addr_hash(sa_of(&s.cli_addr))
            if p.conf.hash_aval:
                h = full_hash(h)
        else:
            h = s.lb_hash
        if p.hash_cons:
            g = pick_chash(p, h)
        else:
            g = pick_map(p, h) if p.hm_ws != NULL else pick_hash(p.rr_act, p.rr_act_len, h)
            if g < 0 and p.hm_ws != NULL and map_refresh(p):
                pass                      # an active server is up but full: the queue
            elif g < 0:
                if p.opts & PO_ALLBACKUPS:
                    g = pick_hash(p.rr_bck, p.rr_bck_len, h)
                else:
                    g = first_backup(p)
    elif p.balance == BAL_RANDOM:
        g = pick_random(p)
    elif p.balance == BAL_LEASTCONN or p.balance == BAL_FIRST:
        g = pick_leastconn(p, 0) if p.balance == BAL_LEASTCONN else pick_first(p, 0)
        if g < 0:
            if p.opts & PO_ALLBACKUPS:
                g = pick_leastconn(p, 1) if p.balance == BAL_LEASTCONN else pick_first(p, 1)
            else:
                g = first_backup(p)
    elif p.hash_cons and p.balance != BAL_ROUNDROBIN and p.balance != BAL_STATIC_RR:
        # a hashing balance with nothing to hash on the consistent ring: its round robin
        g = pick_chash_rr(p)
    elif p.hm_ws != NULL:
        g = pick_map_rr(p)
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

