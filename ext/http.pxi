# HTTP mode: request and response analysis, server choice by cookie, header edits, keep-alive.

cdef h1_msg g_msg      # scratch: one header block is analysed at a time, never across loop turns


cdef int monitor_uri_matches(px_t *p, const char *buf, h1_msg *m) noexcept nogil:
    """The request's URI is `monitor-uri`; one starting with `/` is compared with the path of an
    absolute-form target too (`GET http://host/health`), as HAProxy 2.x does."""
    cdef const char *u = buf + m.uri_off
    cdef const char *q
    cdef int n = m.uri_len, i = 0
    if n == p.mon_uri_len and memcmp(u, p.mon_uri, n) == 0:
        return 1
    if p.mon_uri[0] != b'/' or n == 0 or u[0] == b'/' or u[0] == b'*':
        return 0
    while i + 2 < n and not (u[i] == b':' and u[i + 1] == b'/' and u[i + 2] == b'/'):
        i += 1
    if i + 2 >= n:
        return 0
    q = <const char *>memchr(u + i + 3, b'/', n - i - 3)
    if q == NULL:
        return 0
    i = <int>(q - u)
    return n - i == p.mon_uri_len and memcmp(q, p.mon_uri, p.mon_uri_len) == 0


cdef int cookie_server(sess_t *s, const char *val, int vlen) noexcept nogil:
    """The server named by a persistence cookie value; also records it in s.ck_found_srv.

    Active servers are preferred to backups sharing the cookie (guide 4.2); a server that is down
    is still chosen with `option persist`.
    """
    cdef px_t *p = &g_px[s.be]
    cdef int g, bck, first = -1
    for bck in range(2):
        for g in range(p.srv_first, p.srv_first + p.nsrv):
            if g_srv[g].conf.backup != bck or g_srv[g].cookie_len != vlen or vlen == 0:
                continue
            if memcmp(g_srv[g].cookie, val, vlen) != 0:
                continue
            if first < 0:
                first = g
            if srv_persist_ok(g):
                s.ck_found_srv = g
                return g
    s.ck_found_srv = first
    if first >= 0 and (p.opts & PO_PERSIST) and shm_srv_at(g_shm, first).admin_down == 0:
        return first
    if first >= 0 and s.prst == PRST_FORCE:
        return first        # force-persist: even a server in maintenance (2.6)
    return -1


cdef int http_req_cookie(int idx, char *buf, int *plen, int assign) noexcept nogil:
    """Find the persistence cookie in the request, edit it as the cookie mode says; the server or -1.
    Without `assign` (use-server chose, or ignore-persist) it names no server: logged 'U'."""
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.be]
    cdef h1_msg *m = &g_msg
    cdef int i = 0, po, pl, vo, vl, k, srvlen, g = -1, n
    cdef h1_hdr *h
    s.log_ck_req = 1        # (the log's request cookie state: the backend's, known only here)
    while i < m.nhdr:
        h = &m.hdr[i]
        if not h1_hdr_name_is(buf, h, b"cookie", 6):
            i += 1
            continue
        if not h1_find_cookie(buf + h.v_off, h.v_len, p.ck_name, p.ck_name_len, &po, &pl, &vo, &vl):
            i += 1
            continue
        srvlen = vl
        if p.ck_mode == CK_PREFIX:
            srvlen = -1
            for k in range(vl):
                if buf[h.v_off + vo + k] == b'~':
                    srvlen = k
                    break
            if srvlen < 0:
                return -1          # the application's own cookie, not prefixed by us
        s.log_ck_req = 2
        if assign:
            g = cookie_server(s, buf + h.v_off + vo, srvlen)
        else:
            s.log_ck_req = 3
        if p.ck_mode == CK_PREFIX:
            # Give the server back the value it set: strip "SRV~".
            n = h1_replace(buf, plen[0], BUFSIZE, m, h.v_off + vo, srvlen + 1, b"", 0)
            if n >= 0:
                plen[0] = n
        elif p.ck_mode == CK_INSERT and p.ck_indirect:
            if pl >= h.v_len:
                plen[0] = h1_del_hdr(buf, plen[0], m, i)
            else:
                n = h1_replace(buf, plen[0], BUFSIZE, m, h.v_off + po, pl, b"", 0)
                if n >= 0:
                    plen[0] = n
        return g
    return -1


cdef void http_del_conn_hdrs(char *buf, int *plen) noexcept nogil:
    cdef h1_msg *m = &g_msg
    cdef int i = 0
    while i < m.nhdr:
        if h1_hdr_name_is(buf, &m.hdr[i], b"connection", 10) or h1_hdr_name_is(buf, &m.hdr[i], b"proxy-connection", 16):
            plen[0] = h1_del_hdr(buf, plen[0], m, i)
        else:
            i += 1


cdef int http_body_start(chan_t *ch, int hdr_len, int no_body, int is_req) noexcept nogil:
    """Set up body forwarding after a header block of hdr_len bytes; -1 on a bad chunked body."""
    cdef h1_msg *m = &g_msg
    cdef long long avail = ch.buf_in - hdr_len
    cdef int c
    ch.buf_len = hdr_len
    ch.chunked = 0
    if no_body:
        ch.to_fwd = 0
        ch.phase = CH_DONE
        return 0
    if m.chunked:
        ch.chunked = 1
        ch.to_fwd = 0
        h1_chunk_init(&ch.ck)
        ch.phase = CH_BODY
        if avail > 0:
            c = h1_chunk_feed(&ch.ck, ch.buf + hdr_len, <int>avail)
            if c < 0:
                return -1
            chan_take_ovh(ch)
            ch.buf_len += c
            if ch.ck.done:
                ch.phase = CH_DONE
        return 0
    if m.content_length >= 0:
        if avail > m.content_length:
            avail = m.content_length
        ch.buf_len += <int>avail
        ch.to_fwd = m.content_length - avail
        ch.phase = CH_BODY if ch.to_fwd > 0 else CH_DONE
        return 0
    if is_req:
        ch.to_fwd = 0        # a request without Content-Length or chunked coding has no body
        ch.phase = CH_DONE
        return 0
    ch.to_fwd = -1           # delimited by the end of the connection
    ch.buf_len = ch.buf_in
    ch.phase = CH_BODY
    return 0


cdef inline int stats_uri_matches(px_t *p, const char *buf, h1_msg *m) noexcept nogil:
    return p.stats_uri_len and m.uri_len >= p.stats_uri_len and memcmp(
        buf + m.uri_off, p.stats_uri, p.stats_uri_len) == 0


cdef void http_to_master(int idx, int total, h1_msg *m, int kind) noexcept nogil:
    """Rare event: the master answers (kind SRV_STATS: the stats page of `stats uri`; SRV_PROMEX:
    `http-request use-service prometheus-exporter`); the request goes there unchanged, then the
    connection closes."""
    cdef sess_t *s = &g_sess[idx]
    if kind == SRV_PROMEX and g_promex_addrlen == 0:
        sess_fail(idx, TERM_PROXY, PH_REQ, 503)
        return
    if kind == SRV_STATS and g_stats_admin_key_len and (
            acl_stats_admin(s, s.px, s.req.buf, m) or (s.be != s.px and acl_stats_admin(s, s.be, s.req.buf, m))):
        # `stats admin`: the master acts on the page's forms only with this header's secret value
        total = h1_add_hdr(s.req.buf, total, BUFSIZE, m, STATS_ADMIN_HDR, <int>strlen(STATS_ADMIN_HDR),
                           g_stats_admin_key, g_stats_admin_key_len)
        if total < 0:
            sess_fail(idx, TERM_PROXY, PH_REQ, 500)
            return
    s.cli_ka = 0
    s.req.buf_in = total
    s.req_unsettled = 0
    s.req.hdr_wire += m.hdrs_end
    if http_body_start(&s.req, m.hdrs_end, 0, 1) < 0:
        sess_fail(idx, TERM_PROXY, PH_REQ, 400)
        return
    chan_reset_msg(&s.rsp)
    s.rsp_no_body = 1 if m.meth == H1_M_HEAD else 0
    s.cli_exp = 0
    if s.sfd >= 0:
        sfd_close(s.sfd)
        s.sfd = -1
    sess_set_srv(s, -1)
    s.srv = kind
    s.retries_left = 0
    s.redispatched = 0
    sess_start_connect(idx)


cdef void lb_hash_expr(sess_t *s, const char *buf, h1_msg *m) noexcept nogil:
    """balance hash EXPR: the expression's value as 2.6 hashes it (as binary: a string as is, an
    integer as 8 bytes big-endian, an address as its 4 or 16 bytes); none: round robin."""
    cdef px_t *p = &g_px[s.be]
    cdef smp_t v
    cdef unsigned char b[8]
    cdef int k
    s.lb_hash_ok = 0
    if not smp_one(s, &g_sexpr[p.lb_expr], buf, m, &v):
        return
    if v.type == SMP_STR:
        s.lb_hash = lb_hash_bytes(p, v.p, v.len)
    elif v.type == SMP_INT or v.type == SMP_BOOL:
        for k in range(8):
            b[k] = <unsigned char>((<unsigned long long>v.i) >> (56 - 8 * k))
        s.lb_hash = lb_hash_bytes(p, <const char *>b, 8)
    elif v.type == SMP_IP:
        s.lb_hash = lb_hash_bytes(p, <const char *>v.ip, 4 if v.family == AF_INET else 16)
    else:
        return
    s.lb_hash_ok = 1


cdef void http_request_ready(int idx, int hlen) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.px]
    cdef px_t *be
    cdef px_t *ffp
    cdef h1_msg *m = &g_msg
    cdef char *buf = s.req.buf
    cdef int total = s.req.buf_in
    cdef int g = -1, r, opts, reuse, kept
    cdef char ip[64]
    cdef sockaddr_storage dst
    cdef const char *mon
    cdef int n = 0
    s.meth = m.meth
    s.t_req = g_now
    s.status = 0
    if m.cl_drop >= 0:
        # Transfer-Encoding with Content-Length: chunked wins, the Content-Length goes (2.6's
        # parser drops it: no rule sees it, the server never gets it)
        total = h1_drop_cl(buf, total, m)
        s.req.buf_in = total
    s.req_te_close = m.te_close     # (its client connection closes after the answer: h1.pxi)
    s.req_after_hdr = total - m.hdrs_end    # (the body's bytes for req.body: sample.pxi)
    s.req.adj += htx_head_size(buf, m, 1) + h2_htx_more(s, m.chunked)   # 2.6 counts the head as received, in HTX form
    s.q_pos = 0
    s.ck_found_srv = -1
    s.stk_done = 0
    s.txn_counted = 0
    s.ts_counted = 0
    if p.ntcc and tcp_content_rules(idx, p.tcc_first, p.ntcc, 1):
        return
    # an answer of haproxy's own may keep the client (session.pxi answer_frame()); until the body
    # framing is set up below, http_req_settle() sets it up for the answer
    s.ans_ka = ((m.minor >= 1 and not m.conn_close) or (m.minor == 0 and m.conn_keepalive)) and not (
        p.opts & (PO_HTTPCLOSE | PO_FORCECLOSE)) and not m.te_close
    s.req_unsettled = 1
    s.req_v10 = m.minor == 0
    ctr_px(s.px).req_tot += 1
    stk_new_request(s)          # counters tracked before HTTP count this request
    if p.mon_uri_len and monitor_uri_matches(p, buf, m):
        ctr_px(s.px).intercepted += 1       # (answered by haproxy: `intercepted` in show stat)
        if p.nmf and acl_monitor_fail(s, buf, m):
            s.log_level = LOG_SILENT        # (a monitor request is not logged, failed or not)
            http_send_error(idx, 503)       # `monitor fail`: the proxy's 503 page
            return
        s.status = 200
        mon = px_error_page(s.px, 200, &n)       # (`errorfile 200` replaces the answer, as 2.6)
        if mon == NULL:
            mon = MONITOR_OK
            n = <int>strlen(MONITOR_OK)
        http_send_raw(idx, mon, n)
        return
    log_keep_request(s, m, buf + m.start, m.first_line_len)     # the request line as received
    s.uid_len = 0
    if p.nuid:
        unique_id_build(s, buf, m)  # unique-id-format (logformat.pxi)
        if p.uid_hdr_len:
            r = h1_add_hdr(buf, total, BUFSIZE, m, p.uid_hdr, p.uid_hdr_len, s.uid, s.uid_len)
            if r < 0:
                sess_fail(idx, TERM_PROXY, PH_REQ, 500)
                return
            total = r
    # 2.6's order: the frontend's http-request rules (httpreq.pxi) and 1.x header rules
    # (rules.pxi), then use_backend / default_backend (acl.pxi) on the request they left, then
    # the backend's rules
    if p.nhr:
        r = http_req_rules(idx, s.px, &total, m)
        if r == 2:
            ctr_px(s.px).intercepted += 1   # (the frontend's service answers: as 2.6 counts it)
            http_to_master(idx, total, m, SRV_PROMEX)
        if r:
            return
    if rules_http_request(idx, s.px, &total, m):     # reqadd/reqrep/reqdeny...
        return
    sess_set_be(s, acl_switch_backend(s, buf, m))
    be = &g_px[s.be]
    # force-persist / ignore-persist: decided with the backend, before its rules (2.6)
    s.prst = acl_persist_rules(s, buf, m) if be.npr else 0
    s.srv_direct = 0
    if s.be != s.px and be.nhr:
        r = http_req_rules(idx, s.be, &total, m)
        if r == 2:
            http_to_master(idx, total, m, SRV_PROMEX)
        if r:
            return
    if s.be != s.px and rules_http_request(idx, s.be, &total, m):
        return
    s.lb_hash_ok = 0
    if be.balance == BAL_URI or be.balance == BAL_HDR or be.balance == BAL_URL_PARAM:
        lb_hash_request(s, buf, m, total)
    elif be.balance == BAL_HASH and be.lb_expr >= 0:
        lb_hash_expr(s, buf, m)
    # the stats page: the frontend's `stats uri`, or the backend's (2.6 looks at both proxies)
    # (counted as intercepted by the frontend only when it is the frontend's own page, as 2.6)
    if g_stats_addrlen and stats_uri_matches(p, buf, m):
        ctr_px(s.px).intercepted += 1
        http_to_master(idx, total, m, SRV_STATS)
        return
    if g_stats_addrlen and s.be != s.px and stats_uri_matches(be, buf, m):
        http_to_master(idx, total, m, SRV_STATS)
        return
    s.cli_ka = ((m.minor >= 1 and not m.conn_close) or (m.minor == 0 and m.conn_keepalive)) and not m.te_close
    s.req_v10 = m.minor == 0
    s.req_upgrade = 1 if (m.conn_upgrade and m.has_upgrade) or m.meth == H1_M_CONNECT else 0
    # connection options: either side asks (HAProxy ORs the frontend's and the backend's)
    opts = p.opts | be.opts
    if opts & (PO_HTTPCLOSE | PO_FORCECLOSE):
        s.cli_ka = 0
        s.ans_ka = 0
    if be.nus:
        g = acl_use_server(s, buf, m)      # use-server (acl.pxi): before the cookie, as 2.6
        s.srv_direct = g >= 0
    if be.ck_mode != CK_NONE and be.nsrv > 0:
        # (the cookie is still edited when a use-server rule or ignore-persist decides)
        r = http_req_cookie(idx, buf, &total, g < 0 and s.prst != PRST_IGNORE)
        if g < 0:
            g = r
    if g < 0 and as_used(s.be):
        g = appsession_request(idx, buf, m)
    if g < 0 and be.nsk:
        g = stick_match(idx, buf, m)       # stick match|on (httpreq.pxi)
    if opts & (PO_HTTPCLOSE | PO_HTTP_SERVER_CLOSE):
        http_del_conn_hdrs(buf, &total)
        if s.req_upgrade and m.meth != H1_M_CONNECT:
            # an upgrade is asked for: the connection ends as a tunnel or with this answer anyway
            total = h1_add_hdr(buf, total, BUFSIZE, m, b"Connection", 10, b"upgrade", 7)
        else:
            total = h1_add_hdr(buf, total, BUFSIZE, m, b"Connection", 10, b"close", 5)
    if total >= 0 and (opts & PO_FORWARDFOR):
        # the backend's settings when it asks for the header, else the frontend's
        ffp = be if be.opts & PO_FORWARDFOR else p
        # a client on a UNIX socket has no IP to tell: no header, as 2.6
        if (s.cli_addr.sin6_family == AF_INET or s.cli_addr.sin6_family == AF_INET6) and not (
                ffp.ff_except and ff_excepted(ffp, sa_of(&s.cli_addr))):
            addr_to_str(sa_of(&s.cli_addr), ip, 64)
            total = h1_add_hdr(buf, total, BUFSIZE, m, ffp.ff_hdr, ffp.ff_hdr_len, ip, <int>strlen(ip))
    if total >= 0 and (opts & PO_ORIGINALTO):
        # option originalto: the address the client connected to (the backend's settings when it
        # asks for the header, else the frontend's); `except` is a destination network
        ffp = be if be.opts & PO_ORIGINALTO else p
        if sess_local_addr(s, &dst) == 0 and (dst.ss_family == AF_INET or dst.ss_family == AF_INET6) and not (
                ffp.ot_except and net_contains(dst.ss_family, &dst, ffp.ot_exc_family, ffp.ot_exc_net,
                                               ffp.ot_exc_bits)):
            addr_to_str(&dst, ip, 64)
            total = h1_add_hdr(buf, total, BUFSIZE, m, ffp.ot_hdr, ffp.ot_hdr_len, ip, <int>strlen(ip))
    if total >= 0:
        total = h1_filter_te(buf, total, BUFSIZE, m)     # TE: only "trailers" goes on (h1edit.pxi)
    if total < 0:
        ctr_px(s.px).err_req += 1
        sess_fail(idx, TERM_PROXY, PH_REQ, 400)
        return
    s.req.buf_in = total
    s.req_unsettled = 0
    s.req.hdr_wire += m.hdrs_end         # the head as forwarded (rewritten): counted by htx_head_size
    if http_body_start(&s.req, m.hdrs_end, 0, 1) < 0:
        ctr_px(s.px).err_req += 1
        sess_fail(idx, TERM_PROXY, PH_REQ, 400)
        return
    chan_reset_msg(&s.rsp)
    s.rsp_no_body = 1 if m.meth == H1_M_HEAD else 0
    s.cli_exp = 0
    s.retries_left = be.conf.retries
    s.redispatched = 0
    if g < 0 and s.lb_hash_ok:
        # balance uri / hdr: the hash decides the server of every request (as a cookie would)
        g = select_server(s)
        if g < 0:
            g = -1
    kept = s.srv        # (the server of the connection kept from the last request, if any)
    if g < 0 and s.sfd >= 0 and s.srv >= 0 and not (
            (opts & PO_PREFER_LAST_SERVER) and (g_srv[s.srv].conf.send_proxy
                                                or g_px[g_srv[s.srv].px].reuse == REUSE_NEVER)):
        # 2.6 balances each request of a kept-alive connection again: the kept server connection
        # serves it only if the balancing picks its server again. The slot on it is given back
        # first, as 2.6's stream ended. (`option prefer-last-server` keeps the server only for a
        # connection private to the client: one that began with a PROXY header, or any under
        # `http-reuse never`; 2.6's others go to the server's shared idle pool, where the option
        # does not look.)
        sess_set_srv(s, -1)
        g = select_server(s)
        if g == kept:
            sess_set_srv(s, g)
    # Keep the server of this connection unless the cookie names another one (or another backend
    # serves this request).
    reuse = s.sfd >= 0 and s.srv >= 0 and g_srv[s.srv].px == s.be and (g < 0 or g == s.srv) and srv_alive(s.srv)
    if not reuse:
        if s.sfd >= 0:
            if not pool_park_h1(idx, kept):   # (another server: the kept connection goes idle to its pool)
                sfd_close(s.sfd)
            s.sfd = -1
        sess_set_srv(s, -1)
        if g >= 0:
            sess_set_srv(s, g)
            reuse = pool_take_h1(idx)   # an idle connection to that server, if one is parked
    if reuse:
        s.state = ST_RELAY
        s.t_conn = g_now
        s.t_cstart = g_now
        s.srv_reused = 1
        ctr_reuse(s)
        s.req.hold = 1
        touch_srv(s)
        if be.nsk:
            stick_store(idx, buf, m)
        http_relay_io(idx)
        return
    sess_start_connect(idx)
    if be.nsk:
        stick_store(idx, buf, m)           # (a request still queued stores nothing)


cdef inline int http_req_probe(sess_t *s) noexcept nogil:
    """1 when a connection that ends before a request (closed, timed out) is nothing to report:
    a kept-alive one between requests, or with `option http-ignore-probes` a new one that sent
    nothing (a browser's pre-connection), as 2.6's H1 multiplexer skips them."""
    if s.req.buf_in > 0:
        return 0
    return 1 if s.http_ka or (g_px[s.px].opts & PO_HTTP_IGNORE_PROBES) else 0


cdef inline void http_req_failed(sess_t *s) noexcept nogil:
    """A request the H1 layer refuses (bad, cut, timed out): 2.6 counts it among the frontend's
    requests (`req_tot`) and failed ones (`ereq`); the status is counted with the answer."""
    ctr_px(s.px).err_req += 1
    ctr_px(s.px).req_tot += 1


cdef enum:
    # `option http-buffer-request`: 2.6 stops waiting when its buffer is full, less its reserve
    # (tune.maxrewrite 1024)
    BODY_WAIT_LIMIT = BUFSIZE - 1024

cdef const char *CONTINUE_100 = "HTTP/1.1 100 Continue\r\n\r\n"


cdef int http_body_wanted(int idx, h1_msg *m) noexcept nogil:
    """`option http-buffer-request` (2.6's http_wait_for_request_body, before the frontend's
    rules), or `http-request wait-for-body` as their first (2.6's http_action_wait_for_body,
    `at-least` bytes are enough; its own time): 1 while the request's body is neither whole in
    the buffer nor filling it, 0 to analyse the request now (a bad chunked body is the
    forwarding's 400), 2 to parse its head again (its Expect header went), -1 when the session
    ended."""
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.px]
    cdef int have, h, tq, opt = p.opts & PO_HTTP_BUFFER_REQUEST
    cdef h1_chunk ck
    if m.meth == H1_M_CONNECT or (not m.chunked and m.content_length <= 0):
        return 0
    if not s.body_wait:
        if m.minor >= 1:
            # 2.6 answers `Expect: 100-continue` itself and takes the header out
            h = h1_find_hdr(s.req.buf, m, "expect", 6, 0)
            if h >= 0 and m.hdr[h].v_len == 12 and _h1_ieq(s.req.buf + m.hdr[h].v_off, "100-continue", 12):
                s.req.buf_in = h1_del_hdr(s.req.buf, s.req.buf_in, m, h)
                if io_send(s.cfd, CONTINUE_100, 25) != 25:
                    pass        # (the client that waits for it times out, as on a lost packet)
                return 2        # (the head changed: parsed again)
        s.body_wait = 1
        log_keep_request(s, m, s.req.buf + m.start, m.first_line_len)     # (for a 408's log)
        # its own timer: `timeout http-request` (wait-for-body: its time) from now, else the client's
        tq = p.conf.httpreqtimeout if opt else p.conf.wfbtime
        if tq <= 0:
            tq = p.conf.clitimeout
        s.cli_exp = g_now + tq if tq > 0 else 0
    elif (p.conf.httpreqtimeout if opt else p.conf.wfbtime) <= 0 and p.conf.clitimeout > 0:
        s.cli_exp = g_now + p.conf.clitimeout       # (an inactivity timeout)
    have = s.req.buf_in - m.hdrs_end
    if not opt and p.conf.wfbbytes > 0 and have >= p.conf.wfbbytes:
        return 0        # (chunked: its framing counts too)
    if m.chunked:
        h1_chunk_init(&ck)
        if h1_chunk_feed(&ck, s.req.buf + m.hdrs_end, have) < 0 or ck.done:
            return 0
    elif have >= m.content_length:
        return 0
    if s.req.buf_in >= BODY_WAIT_LIMIT:
        return 0        # the buffer is full: 2.6 goes on with what it has
    return 1


cdef void http_client_io(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef int r, n, end, w, lim
    if s.state == ST_ERRPAGE or s.state == ST_LINGER:
        answer_io(idx)
        return
    # ST_REQ: gather and analyse the request headers
    while True:
        chan_compact(&s.req)
        r = 0
        lim = H1_MAX_HDR_BLOCK
        if (s.req.buf != NULL and s.req.buf_in > 0 and not s.http_ka and s.h2c == 0 and s.req.buf[0] == b'P'
                and not (g_px[s.px].opts & PO_DISABLE_H2_UPGRADE)):
            r = h2_preface_seen(s)      # HTTP/2 with prior knowledge (h2stream.pxi)
            if r == 1:
                s.state = ST_H2         # (loop.pxi starts the connection: h2_start_preface)
                return
        if s.req.buf != NULL and s.req.buf_in > 0 and r == 0:
            end = h1_hdr_block_end(s.req.buf, s.req.buf_in, s.req.scan_from)
            if end > 0 or s.req.buf_in >= H1_MAX_HDR_BLOCK:
                r = h1_parse_request(s.req.buf, s.req.buf_in, &g_msg)
                if r > 0:
                    w = http_body_wanted(idx, &g_msg) if (g_px[s.px].opts & PO_HTTP_BUFFER_REQUEST
                                                          or g_px[s.px].conf.wfbtime >= 0) else 0
                    if w == 0:
                        s.body_wait = 0
                        http_request_ready(idx, r)
                        g_sess[idx].req_unsettled = 0
                        return
                    if w < 0:
                        return
                    if w == 2:
                        continue
                    lim = BODY_WAIT_LIMIT     # the head stays where it is: read on for its body
                elif r < 0 or s.req.buf_in >= H1_MAX_HDR_BLOCK:
                    http_req_failed(s)
                    sess_fail(idx, TERM_PROXY, PH_REQ, g_msg.err_code if r < 0 and g_msg.err_code else 400)
                    return
            elif h1_parse_request(s.req.buf, s.req.buf_in, &g_msg) < 0:
                # A bad byte before the block ends (binary junk, an HTTP/0.9 line): refuse it now
                # instead of holding the connection until a timeout.
                http_req_failed(s)
                sess_fail(idx, TERM_PROXY, PH_REQ, g_msg.err_code if g_msg.err_code else 400)
                return
            if lim == H1_MAX_HDR_BLOCK:
                s.req.scan_from = s.req.buf_in - 3 if s.req.buf_in > 3 else 0
        n = chan_recv(&s.req, s.cfd, &s.cli_rd, lim)
        if n > 0:
            if s.http_ka and s.req.buf_in == n:
                # A new request on a kept-alive connection: the request timer starts now. The
                # wait is kept for the total time of the time averages (2.6 counts it there).
                s.t_idle = g_now - s.accept_ms
                s.accept_ms = g_now
                s.accept_wall_ms = g_wall
                s.t_hs = 0          # (the handshake belongs to the connection's first request)
            continue
        if n == -1:
            break
        # EOF or error before a complete request: an idle keep-alive end, a probe, or an
        # aborted request
        if http_req_probe(s):
            s.logged = 1         # nothing to log, nothing counted
            sess_close(idx)
            return
        # 2.6's H1 multiplexer: a 400 (its page if the client still reads), logged "CR",
        # counted as a failed request
        http_req_failed(s)
        sess_fail(idx, TERM_CLI_ABORT, PH_REQ, 400)
        return
    sess_arm(s, idx)


cdef int http_forward(chan_t *ch, int src, int dst, int *src_ready, int *dst_ready) noexcept nogil:
    """Forward the body of the current message (XF_* flags); sets ch.phase = CH_DONE at its end."""
    cdef int r = 0, c, n
    while True:
        if ch.in_pipe > 0:
            r |= chan_xfer(ch, src, dst, src_ready, dst_ready) & ~XF_RD
            if ch.in_pipe > 0 or (r & (XF_DST_ERR | XF_SRC_ERR)):
                return r
        r |= chan_flush_buf(ch, dst, dst_ready)
        if r & XF_DST_ERR or ch.buf_off < ch.buf_len:
            return r
        if ch.phase != CH_BODY:
            return r
        if ch.chunked:
            chan_compact(ch)
            if ch.buf_in > ch.buf_len:
                c = h1_chunk_feed(&ch.ck, ch.buf + ch.buf_len, ch.buf_in - ch.buf_len)
                if c < 0:
                    ch.err = 1
                    return r | XF_SRC_ERR
                chan_take_ovh(ch)
                ch.buf_len += c
                if ch.ck.done:
                    ch.phase = CH_DONE
                continue
            n = chan_recv(ch, src, src_ready, BUFSIZE)
            if n > 0:
                r |= XF_RD
                continue
            if n == -1:
                return r
            return r | XF_SRC_ERR     # the message was cut short
        # Content-Length or close-delimited: bytes already buffered were counted by http_body_start.
        chan_compact(ch)
        if ch.to_fwd == 0:
            ch.phase = CH_DONE
            return r
        if ch.to_fwd < 0 and ch.buf_in > ch.buf_len:
            ch.buf_len = ch.buf_in
            continue
        r |= chan_xfer(ch, src, dst, src_ready, dst_ready)
        if ch.to_fwd == 0 and ch.in_pipe == 0:
            ch.phase = CH_DONE
            return r
        if ch.eof and ch.in_pipe == 0:
            if ch.to_fwd < 0:
                ch.phase = CH_DONE
                return r
            return r | XF_SRC_ERR     # Content-Length not reached
        if ch.in_pipe > 0 or not src_ready[0]:
            return r


cdef inline int _tok_is(const char *t, int n, const char *w) noexcept nogil:
    cdef int k = <int>strlen(w)
    return n == k and _h1_ieq(t, w, k)


cdef int rsp_cacheable_cookie(const char *buf, h1_msg *m) noexcept nogil:
    """`option checkcache`: 1 when the response sets a cookie and a shared cache may store it.

    HAProxy's rules: statuses 200, 203, 206, 300, 301 and 410 are cacheable by default;
    `Cache-control: public` makes a response cacheable, `private`, `no-cache`, `no-store`,
    `max-age=0` and `s-maxage=0` (and `Pragma: no-cache`) make it not; `no-cache="set-cookie"`
    only keeps the cookie from being cached.
    """
    cdef int cacheable = 0, cook_ok = 1, has_cookie = 0, i, p, e, pragma
    cdef const char *v
    cdef h1_hdr *h
    cdef int st = m.status
    if st == 200 or st == 203 or st == 206 or st == 300 or st == 301 or st == 410:
        cacheable = 1
    for i in range(m.nhdr):
        h = &m.hdr[i]
        if h1_hdr_name_is(buf, h, b"set-cookie", 10) or h1_hdr_name_is(buf, h, b"set-cookie2", 11):
            has_cookie = 1
            continue
        pragma = h1_hdr_name_is(buf, h, b"pragma", 6)
        if not pragma and not h1_hdr_name_is(buf, h, b"cache-control", 13):
            continue
        v = buf + h.v_off
        p = 0
        while p < h.v_len:
            while p < h.v_len and (v[p] == b' ' or v[p] == b'\t' or v[p] == b','):
                p += 1
            e = p
            while e < h.v_len and v[e] != b',':
                e += 1
            while e > p and (v[e - 1] == b' ' or v[e - 1] == b'\t'):
                e -= 1
            if _tok_is(v + p, e - p, b"no-cache"):
                cacheable = 0
            elif pragma:
                pass
            elif _tok_is(v + p, e - p, b"public"):
                cacheable = 1
            elif (_tok_is(v + p, e - p, b"private") or _tok_is(v + p, e - p, b"no-store")
                    or _tok_is(v + p, e - p, b"max-age=0") or _tok_is(v + p, e - p, b"s-maxage=0")):
                cacheable = 0
            elif (_tok_is(v + p, e - p, b"no-cache=\"set-cookie\"")
                    or _tok_is(v + p, e - p, b"no-cache=\"set-cookie,")):
                cook_ok = 0
            p = e + 1
    return has_cookie and cacheable and cook_ok


cdef int http_response_ready(int idx, int hlen) noexcept nogil:
    """Edit the response headers (cookies, Connection) and set up its body; -1 if it cannot be done."""
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.be]
    cdef int opts = g_px[s.px].opts | g_px[s.be].opts
    cdef h1_msg *m = &g_msg
    cdef char *buf = s.rsp.buf
    cdef int total = s.rsp.buf_in
    cdef int i, po, pl, vo, vl, n, no_body, klass, rsp_ka
    cdef srv_t *sv = NULL
    cdef char val[512]
    cdef h1_hdr *h
    cdef long long body_seen
    if m.cl_drop >= 0:
        total = h1_drop_cl(buf, total, m)       # chunked wins over Content-Length (as 2.6's parser)
        s.rsp.buf_in = total
    body_seen = total - m.hdrs_end              # body bytes read with the head
    if m.chunked:
        body_seen = 0           # (their framing not parsed yet: not counted)
    elif m.content_length >= 0 and body_seen > m.content_length:
        body_seen = m.content_length
    # as received, 1xx included (2.6); with the body read along until the rules let it through
    # (a refused response counts so, its 502 logged before this returns)
    s.rsp.adj += htx_head_size(buf, m, 0) + body_seen
    if g_px[s.be].nsk:
        stick_store_response(idx, buf, m)           # stick store-response (httpreq.pxi)
    if rules_http_response(idx, &total, &g_msg):    # rspadd/rsprep/rspdeny... (rules.pxi)
        return -2
    if g_px[s.be].nhs and http_rsp_rules(idx, s.be, &total, m):        # http-response (httpreq.pxi)
        return -2
    if s.be != s.px and g_px[s.px].nhs and http_rsp_rules(idx, s.px, &total, m):
        return -2
    if (p.opts & PO_CHECKCACHE) and rsp_cacheable_cookie(buf, m):
        # A cookie that a shared cache could hand to other users: refused as HAProxy does (502, PH).
        n = 0
        la(val, &n, 512, b"Blocking cacheable cookie in response from instance ", 52)
        la(val, &n, 512, p.name, p.name_len)
        la(val, &n, 512, b", server ", 9)
        if s.srv >= 0:
            la(val, &n, 512, g_srv[s.srv].name, g_srv[s.srv].name_len)
        lc(val, &n, 512, b'.')
        log_alert(p, val, n)
        http_refuse_response(idx)
        return -2
    s.rsp.adj -= body_seen      # (let through: counted as sent)
    s.status = m.status
    s.t_rsp = g_now
    if as_used(s.be):
        appsession_response(idx, buf, &g_msg)
    klass = m.status // 100
    if klass < 1 or klass > 5:
        klass = 0
    if s.srv >= 0:     # (the frontend and backend count the transaction's final status at its end)
        sv = &g_srv[s.srv]
        ctr_srv(s.srv).hrsp[klass] += 1
        ctr_srv(s.srv).req_tot += 1
    no_body = s.rsp_no_body or klass == 1 or m.status == 204 or m.status == 304
    # (Transfer-Encoding with Content-Length or in HTTP/1.0: the server connection is not reused)
    rsp_ka = ((m.minor >= 1 and not m.conn_close) or (m.minor == 0 and m.conn_keepalive)) and not m.te_close
    if s.prst == PRST_IGNORE:
        sv = NULL           # ignore-persist: the response's cookie is neither rewritten nor inserted
    if sv != NULL and p.ck_mode == CK_PREFIX or (sv != NULL and p.ck_mode == CK_REWRITE):
        i = 0
        while i < m.nhdr:
            h = &m.hdr[i]
            if h1_hdr_name_is(buf, h, b"set-cookie", 10) and h1_find_setcookie(buf + h.v_off, h.v_len, p.ck_name, p.ck_name_len, &po, &pl, &vo, &vl):
                if p.ck_mode == CK_PREFIX:
                    memcpy(val, sv.cookie, sv.cookie_len)
                    val[sv.cookie_len] = b'~'
                    n = h1_replace(buf, total, BUFSIZE, m, h.v_off + vo, 0, val, sv.cookie_len + 1)
                else:
                    n = h1_replace(buf, total, BUFSIZE, m, h.v_off + vo, vl, sv.cookie, sv.cookie_len)
                if n < 0:
                    return -1
                total = n
            i += 1
    if sv != NULL and p.ck_mode == CK_INSERT and sv.cookie_len > 0 and klass != 1 and not s.srv_direct:
        if (s.ck_found_srv < 0 or g_srv[s.ck_found_srv].cookie_len != sv.cookie_len
                or memcmp(g_srv[s.ck_found_srv].cookie, sv.cookie, sv.cookie_len) != 0) and (
                not p.ck_postonly or s.meth == H1_M_POST):
            n = 0
            memcpy(val, p.ck_name, p.ck_name_len)
            n = p.ck_name_len
            val[n] = b'='
            n += 1
            memcpy(val + n, sv.cookie, sv.cookie_len)
            n += sv.cookie_len
            memcpy(val + n, b"; path=/", 8)
            n += 8
            if p.ck_domain_len:
                memcpy(val + n, b"; domain=", 9)
                n += 9
                memcpy(val + n, p.ck_domain, p.ck_domain_len)
                n += p.ck_domain_len
            total = h1_add_hdr(buf, total, BUFSIZE, m, b"Set-Cookie", 10, val, n)
            if total >= 0 and p.ck_nocache:
                total = h1_add_hdr(buf, total, BUFSIZE, m, b"Cache-control", 13, b"private", 7)
            if total < 0:
                return -1
    if klass != 1 and (g_px[s.be].nha or g_px[s.px].nha):
        if http_after_rules(idx, buf, &total, m) < 0:      # http-after-response (httpreq.pxi)
            return -1
        s.status = m.status
    if (m.status == 101 and s.req_upgrade and s.meth != H1_M_CONNECT) or (
            klass == 2 and s.meth == H1_M_CONNECT):
        s.rsp.hdr_wire += m.hdrs_end
        http_switch_to_tunnel(s, total)
        return 0
    if m.status == 101:
        return -1      # a switch nobody asked for: a broken server (haproxy 2.6: 502 too)
    if klass == 1:
        s.rsp.hdr_wire += m.hdrs_end
        s.rsp.buf_len = m.hdrs_end
        s.rsp.phase = CH_HDR
        s.rsp.buf_in = total
        return 0
    if (opts & PO_HTTPCLOSE) or (s.req_te_close and m.minor >= 1):
        # (a request framed by Transfer-Encoding with Content-Length or in HTTP/1.0: its client
        # connection closes after this answer, which says so as 2.6's does)
        http_del_conn_hdrs(buf, &total)
        total = h1_add_hdr(buf, total, BUFSIZE, m, b"Connection", 10, b"close", 5)
        if total < 0:
            return -1
    elif (m.te_close & 2) and m.conn_keepalive:
        http_del_conn_hdrs(buf, &total)     # a chunked HTTP/1.0 response: its keep-alive is void
    elif (opts & PO_HTTP_SERVER_CLOSE) and s.cli_ka:
        # http-server-close: the server was asked to close; the client keeps its connection
        http_del_conn_hdrs(buf, &total)
        if s.req_v10:
            total = h1_add_hdr(buf, total, BUFSIZE, m, b"Connection", 10, b"keep-alive", 10)
            if total < 0:
                return -1
    if g_stopping and s.cli_ka:
        # Stopping (soft stop, reload): this is the connection's last answer and it says so, so
        # the client opens its next request's connection to the new process instead of losing
        # it on this one's close.
        http_del_conn_hdrs(buf, &total)
        total = h1_add_hdr(buf, total, BUFSIZE, m, b"Connection", 10, b"close", 5)
        if total < 0:
            return -1
        s.cli_ka = 0
    total = h1_filter_te(buf, total, BUFSIZE, m)     # TE: only "trailers" goes on (h1edit.pxi)
    if total < 0:
        return -1
    s.rsp.buf_in = total
    s.rsp.hdr_wire += m.hdrs_end
    if http_body_start(&s.rsp, m.hdrs_end, no_body, 0) < 0:
        return -1
    s.srv_ka = rsp_ka and s.rsp.to_fwd >= 0 and not (opts & (PO_HTTPCLOSE | PO_HTTP_SERVER_CLOSE))
    if s.rsp.to_fwd < 0 or (m.conn_close and not (opts & PO_HTTP_SERVER_CLOSE)) or (m.te_close & 2):
        s.cli_ka = 0        # (te_close 2: a chunked HTTP/1.0 response closes the client, as 2.6)
    if (opts & PO_HTTP_SERVER_CLOSE) and s.cli_ka:
        return http_response_done(s)
    if s.cli_ka and m.minor == 0 and not m.conn_keepalive:
        s.cli_ka = 0
    log_response(s, &g_msg)
    return 0


cdef void http_switch_to_tunnel(sess_t *s, int total) noexcept nogil:
    """A 101 to a request that asked for an upgrade (WebSocket...), or a 2xx to CONNECT: from now
    on the session relays bytes both ways as TCP mode does, under `timeout tunnel` when set. What
    either side sent after its headers (the server's first frames, the client's early ones) goes
    first."""
    s.tunnel = 1
    s.cli_ka = 0
    s.srv_ka = 0
    s.rsp.buf_in = total
    s.rsp.buf_len = total
    s.rsp.chunked = 0
    s.rsp.to_fwd = -1
    s.rsp.phase = CH_BODY
    s.req.buf_len = s.req.buf_in
    s.req.chunked = 0
    s.req.to_fwd = -1
    s.req.phase = CH_BODY
    s.req.hold = 0
    s.rsp.hold = 0
    log_response(s, &g_msg)


cdef int http_response_done(sess_t *s) noexcept nogil:
    """http-server-close: the client's keep-alive does not depend on the server's answer."""
    log_response(s, &g_msg)
    return 0


cdef int ff_excepted(px_t *p, sockaddr_storage *a) noexcept nogil:
    """option forwardfor except NET: 1 if the client address is inside NET."""
    return net_contains(a.ss_family, a, p.ff_exc_family, p.ff_exc_net, p.ff_exc_bits)


cdef int net_contains(int family, sockaddr_storage *a, int net_family, const unsigned char *net,
                      int bits) noexcept nogil:
    """1 if address a (of `family`) is inside the network net/bits of net_family."""
    cdef unsigned char *ip
    cdef int nbytes = bits >> 3, rem = bits & 7
    if family != net_family:
        return 0
    if family == AF_INET:
        ip = <unsigned char *>&(<sockaddr_in *>a).sin_addr.s_addr
    else:
        ip = (<sockaddr_in6 *>a).sin6_addr.s6_addr
    if nbytes and memcmp(ip, net, nbytes) != 0:
        return 0
    if rem and ((ip[nbytes] ^ net[nbytes]) & (0xff << (8 - rem)) & 0xff):
        return 0
    return 1


cdef int http_retry_fresh(int idx) noexcept nogil:
    """A kept server connection failed before answering (it was closing): resend on a new one.

    Only possible while the whole request is still in the buffer. Returns 1 if a retry started.
    """
    cdef sess_t *s = &g_sess[idx]
    if not s.srv_reused or s.rsp.bytes or s.rsp.buf_in or s.req.chunked or s.req.in_pipe or s.req.to_fwd:
        return 0
    if s.req.phase != CH_DONE or s.srv < 0:
        return 0
    s.srv_reused = 0
    s.req.hold = 0
    sfd_close(s.sfd)
    s.sfd = -1
    s.req.buf_off = 0
    s.req.err = 0
    chan_reset_msg(&s.rsp)
    s.rsp.err = 0
    sess_start_connect(idx)
    return 1


cdef int http_h2_not_up(int idx) noexcept nogil:
    """`proto h2` (or ALPN h2) towards a server that failed before its SETTINGS: a failed
    connect as in 2.6 (retries, redispatch, then 503 SC), the request sent again from the
    buffer. 1 when handled so."""
    cdef sess_t *s = &g_sess[idx]
    if s.rsp.bytes or s.rsp.buf_in or s.req.chunked or s.req.in_pipe or s.req.to_fwd:
        return 0
    if s.req.phase != CH_DONE or s.srv < 0:
        return 0
    s.req.buf_off = 0
    s.req.err = 0
    chan_reset_msg(&s.rsp)
    s.rsp.err = 0
    s.state = ST_CONNECTING
    s.t_conn = 0
    conn_failed(idx)
    return 1


cdef void http_read_response(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef int r, n, end
    while s.rsp.phase == CH_HDR:
        chan_compact(&s.rsp)
        if s.rsp.buf_off < s.rsp.buf_len:
            return            # an interim (1xx) answer is still being sent
        if s.rsp.buf != NULL and s.rsp.buf_in > 0:
            end = h1_hdr_block_end(s.rsp.buf, s.rsp.buf_in, s.rsp.scan_from)
            if end > 0 or s.rsp.buf_in >= H1_MAX_HDR_BLOCK:
                r = h1_parse_response(s.rsp.buf, s.rsp.buf_in, &g_msg)
                if r > 0:
                    r = http_response_ready(idx, r)
                    if r == -2:
                        return            # refused by rspdeny: the 502 is on its way
                    if r < 0:
                        r = -1
                    else:
                        touch_srv(s)
                        touch_cli(s)
                        if s.rsp.phase == CH_HDR:
                            chan_flush_buf(&s.rsp, s.cfd, &s.cli_wr)
                            continue
                        return
                if r < 0 or s.rsp.buf_in >= H1_MAX_HDR_BLOCK:
                    ctr_px(s.be).err_resp += 1
                    if s.srv >= 0:
                        ctr_srv(s.srv).err_resp += 1
                    sess_fail(idx, TERM_PROXY, PH_HDRS, 502)
                    s.status = 502
                    return
            elif h1_parse_response(s.rsp.buf, s.rsp.buf_in, &g_msg) < 0:
                # Not HTTP from the first bytes on (a banner, junk): 502 now, not 504 at srvtimeout.
                ctr_px(s.px).err_resp += 1
                if s.srv >= 0:
                    ctr_srv(s.srv).err_resp += 1
                sess_fail(idx, TERM_PROXY, PH_HDRS, 502)
                s.status = 502
                return
            s.rsp.scan_from = s.rsp.buf_in - 3 if s.rsp.buf_in > 3 else 0
        n = chan_recv(&s.rsp, s.sfd, &s.srv_rd, H1_MAX_HDR_BLOCK)
        if n > 0:
            continue
        if n == -1:
            return
        # The server closed or failed before a complete response.
        if http_retry_fresh(idx):
            return
        if h2o_never_up(s.sfd) and http_h2_not_up(idx):
            return
        ctr_px(s.be).err_resp += 1
        if s.srv >= 0:
            ctr_srv(s.srv).err_resp += 1
        sess_fail(idx, TERM_SRV_ABORT, PH_HDRS, 502)
        return


cdef void http_req_settle(int idx) noexcept nogil:
    """haproxy answers while http_request_ready() analyses the request (g_msg is still its head,
    moved by the header edits made so far): set up s.req's body framing as forwarding would, so
    that the answer knows whether the request was read whole and where the next one starts."""
    cdef sess_t *s = &g_sess[idx]
    s.req_unsettled = 0
    s.req.buf_in = g_msg.hdrs_end + s.req_after_hdr
    if http_body_start(&s.req, g_msg.hdrs_end, 0, 1) < 0:
        s.ans_ka = 0
    # 2.6 counts the body bytes it read with the head (its HTX form: chunked framing was taken
    # out by http_body_start) though it never forwards them
    s.req.adj += s.req.buf_len - g_msg.hdrs_end


cdef void http_answer_kept(int idx) noexcept nogil:
    """haproxy's own answer is sent and the client stays (answer_frame()): what is left of the
    request is dropped, the transaction ends and the next request is read."""
    cdef sess_t *s = &g_sess[idx]
    s.req.buf_off = s.req.buf_len
    http_end_transaction(idx)


cdef void http_end_transaction(int idx) noexcept nogil:
    """Both messages are complete: log, then close or wait for the next request on this connection."""
    cdef sess_t *s = &g_sess[idx]
    cdef char tmp[256]
    sess_log(s)
    vars_end_txn(s)
    stk_txn_status(s, s.term_phase == PH_TARPIT)
    ctr_txn_status(s)
    ctr_time_stats(s)
    if not s.cli_ka or s.req.eof:
        tls_shut(s.cfd)     # tls: close_notify first
        shutdown(s.cfd, SHUT_WR)
        # Read what is left so close() does not turn into a reset that could eat the response.
        while recv(s.cfd, tmp, 256, MSG_DONTWAIT) > 0:
            pass
        s.logged = 1
        sess_close(idx)
        return
    if (s.sfd < 0 or not s.srv_ka or s.rsp.buf_in > s.rsp.buf_len or s.srv_rd == 2 or s.rsp.eof
            or (s.srv >= 0 and g_srv[s.srv].conf.maxconn)):
        # (sfd < 0: haproxy answered on its own, with no server connection left to keep)
        # (a server with maxconn counts transactions: its slot is given back between requests)
        # (srv_rd == 2: the server's FIN came with the response's edge, it will not serve again)
        if s.sfd >= 0:
            sfd_close(s.sfd)
            s.sfd = -1
        sess_set_srv(s, -1)
    if s.rsp.buf != NULL:
        buf_put(s.rsp.buf)
        s.rsp.buf = NULL
    s.rsp.buf_in = s.rsp.buf_len = s.rsp.buf_off = 0
    chan_reset_msg(&s.rsp)
    chan_reset_msg(&s.req)
    s.state = ST_REQ
    s.http_ka = 1
    s.logged = 0
    s.status = 0
    s.ans_ka = 0
    s.log_level = 0
    s.term_cause = TERM_NONE        # (set by haproxy's own answer to the request before)
    s.term_phase = PH_NONE
    s.t_req = s.t_conn = s.t_rsp = s.t_cstart = 0
    s.req.hold = 0
    ctr_add_bytes(s)
    stk_release(s, 1)           # the counters this request's http-request rules tracked
    s.stk_done = 0
    s.txn_counted = 0
    s.ts_counted = 0
    s.accept_ms = g_now
    s.t_idle = 0
    s.accept_wall_ms = g_wall
    s.t_hs = 0
    s.srv_exp = 0
    s.con_exp = 0
    if g_px[s.px].conf.keepalivetimeout > 0:
        s.cli_exp = g_now + g_px[s.px].conf.keepalivetimeout
    else:
        touch_cli(s)
    if g_stopping:
        # The answer went out before the stop and promised keep-alive: one more request is
        # served (with `Connection: close`) if it comes soon, else the idle connection ends.
        stop_idle_deadline(s)
        sess_arm(s, idx)
    if s.req.buf != NULL and s.req.buf_in == s.req.buf_len:
        buf_put(s.req.buf)
        s.req.buf = NULL
        s.req.buf_in = s.req.buf_len = s.req.buf_off = 0
    http_client_io(idx)


cdef void http_relay_io(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef int r1 = 0, r2 = 0
    cdef char probe
    if s.tunnel:
        tcp_relay_io(idx)
        return
    if s.req.phase != CH_DONE or s.req.buf_off < s.req.buf_len or s.req.in_pipe > 0:
        if s.h2c and s.rsp.phase == CH_HDR:
            h2o_client_h2(s.sfd, tls_is(sess_tls_fd(s)))    # h2 to an h2 server: its pseudo-headers
        r1 = http_forward(&s.req, s.cfd, s.sfd, &s.cli_rd, &s.srv_wr)
        if r1 & XF_SRC_ERR:
            s.term_cause = TERM_CLI_ABORT
            s.term_phase = PH_DATA
            sess_close(idx)
            return
        if r1 & XF_DST_ERR:
            if http_retry_fresh(idx):
                return
            s.term_cause = TERM_SRV_ABORT
            s.term_phase = PH_DATA
            sess_fail(idx, TERM_SRV_ABORT, PH_DATA, 502)
            return
        if r1 & XF_RD:
            touch_cli(s)
        if r1 & XF_WR:
            touch_srv(s)
        if s.req.phase == CH_DONE and s.req.buf_off >= s.req.buf_len and s.req.in_pipe == 0:
            s.cli_exp = 0
            touch_srv(s)
    if s.srv_rd == 0 and io_rd_pending(s.sfd):
        s.srv_rd = 1        # h2: the response came in while the request was being sent
    if s.rsp.phase == CH_HDR:
        http_read_response(idx)
        if s.state != ST_RELAY or g_sess[idx].gen != s.gen:
            return
        if s.tunnel:
            touch_cli(s)
            touch_srv(s)
            tcp_relay_io(idx)
            return
    if s.rsp.phase != CH_HDR:
        r2 = http_forward(&s.rsp, s.sfd, s.cfd, &s.srv_rd, &s.cli_wr)
        if r2 & XF_DST_ERR:
            s.term_cause = TERM_CLI_ABORT
            s.term_phase = PH_DATA
            sess_close(idx)
            return
        if r2 & XF_SRC_ERR:
            s.term_cause = TERM_SRV_ABORT
            s.term_phase = PH_DATA
            sess_close(idx)
            return
        if r2 & XF_RD:
            touch_srv(s)
        if r2 & XF_WR:
            touch_cli(s)
    if (s.req.phase == CH_DONE and s.req.buf_off >= s.req.buf_len and s.req.in_pipe == 0
            and s.rsp.phase == CH_DONE and s.rsp.buf_off >= s.rsp.buf_len and s.rsp.in_pipe == 0):
        http_end_transaction(idx)
        return
    sess_arm(s, idx)


cdef void http_idle_server_event(int idx) noexcept nogil:
    """A kept server connection spoke while no request was pending: it closed, or it is broken."""
    cdef sess_t *s = &g_sess[idx]
    cdef char b
    if s.sfd < 0:
        return
    if h2o_of(s.sfd) != NULL:
        if h2o_idle_event(s.sfd) == 0:
            return              # HTTP/2: SETTINGS, PING, WINDOW_UPDATE between streams
    elif recv(s.sfd, &b, 1, MSG_DONTWAIT | MSG_PEEK) < 0 and errno == EAGAIN:
        return
    sfd_close(s.sfd)
    s.sfd = -1
    sess_set_srv(s, -1)
