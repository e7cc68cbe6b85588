# Start-up of a worker (Python, runs once): fill the C structs from the plan and the model, enter the loop.

cdef tuple _struct_fields(object zero):
    return tuple(zero.keys())


cdef px_conf_t _px_conf_zero


cdef srv_conf_t _srv_conf_zero


memset(&_px_conf_zero, 0, sizeof(px_conf_t))


memset(&_srv_conf_zero, 0, sizeof(srv_conf_t))


PX_CONF_FIELDS = _struct_fields(_px_conf_zero)


SRV_CONF_FIELDS = _struct_fields(_srv_conf_zero)


def px_conf_fields() -> tuple:
    """The names of px_conf_t, each a field of the model's `Proxy` (the boundary test reads it)."""
    return PX_CONF_FIELDS


def srv_conf_fields() -> tuple:
    """The names of srv_conf_t, each a field of the model's `Server`."""
    return SRV_CONF_FIELDS


cdef int setup_proxy(int i, object pp) except -1:
    """Proxy i from its plan (pyhaproxy/worker.py ProxyPlan) and its model (pp.px)."""
    cdef px_t *p = &g_px[i]
    cdef int j
    px = pp.px
    p.conf = {name: getattr(px, name) for name in PX_CONF_FIELDS}
    p.conf.maxconn = max(1, p.conf.maxconn)
    copy_name(p.name, MAX_NAME, px.name, &p.name_len)
    p.mode = pp.mode
    p.balance = pp.balance
    p.balance_set = 1 if px.balance_explicit else 0
    p.reuse = pp.http_reuse
    p.opts = pp.opts
    p.srv_first = pp.srv_first
    p.nsrv = pp.nsrv
    p.slot = i
    p.default_be = i
    p.has_be = 1 if px.cap in ("listen", "backend") else 0
    copy_name(p.ff_hdr, 64, px.forwardfor_header or "X-Forwarded-For", &p.ff_hdr_len)
    copy_name(p.uid_hdr, 64, px.unique_id_header or "", &p.uid_hdr_len)
    if pp.ff_except is not None:
        p.ff_except = 1
        fam, raw, bits = pp.ff_except
        p.ff_exc_family = fam
        memcpy(p.ff_exc_net, <const char *>raw, len(raw))
        p.ff_exc_bits = bits
    copy_name(p.ot_hdr, 64, px.originalto_header or "X-Original-To", &p.ot_hdr_len)
    if pp.ot_except is not None:
        p.ot_except = 1
        fam, raw, bits = pp.ot_except
        p.ot_exc_family = fam
        memcpy(p.ot_exc_net, <const char *>raw, len(raw))
        p.ot_exc_bits = bits
    p.q_head = -1
    p.q_tail = -1
    p.hash_whole = 1 if px.hash_balance_arg == "whole" and p.balance == BAL_URI else 0
    if p.balance == BAL_HDR or p.balance == BAL_URL_PARAM:
        copy_name(p.hash_hdr, 64, px.hash_balance_arg or "", &p.hash_hdr_len)
    p.hash_fn = {"djb2": HFN_DJB2, "wt6": HFN_WT6, "crc32": HFN_CRC32}.get(px.hash_fn, HFN_SDBM)
    p.hash_cons = 1 if px.hash_type == "consistent" or p.balance == BAL_RANDOM else 0
    if not p.hash_cons and p.balance in (BAL_SOURCE, BAL_URI, BAL_HDR, BAL_URL_PARAM, BAL_HASH) and pp.nsrv:
        p.hm_gcd = pp.map_gcd
        p.hm_ws = <int *>calloc(pp.nsrv, sizeof(int))
        if p.hm_ws == NULL:
            raise MemoryError()
    if p.hash_cons:
        p.ch_w = int_array([t[2] for t in pp.ch_servers] or [0])
        p.ch_id = int_array([t[1] for t in pp.ch_servers] or [0])
        if ch_build(p, 0) < 0 or ch_build(p, 1) < 0:
            raise MemoryError()
    p.rr_act = int_array(pp.rr_act)
    p.rr_act_len = len(pp.rr_act)
    p.rr_bck = int_array(pp.rr_bck)
    p.rr_bck_len = len(pp.rr_bck)
    if pp.dispatch is not None:
        p.has_dispatch = 1
        fill_addr(&p.dispatch, &p.dispatch_len, pp.dispatch[0], pp.dispatch[1])
    if pp.source is not None:
        p.has_source = 1
        fill_addr(&p.source, &p.source_len, pp.source[0], pp.source[1])
    p.nmon = min(len(pp.monitor_net), MAX_MONNET)
    for j in range(p.nmon):
        fam, raw, bits = pp.monitor_net[j]
        p.mon_family[j] = fam
        memcpy(p.mon_net[j], <const char *>raw, len(raw))
        p.mon_bits[j] = bits
    ck = px.cookie
    p.ck_mode = pp.cookie_mode
    if ck is not None:
        p.ck_indirect = 1 if ck.indirect else 0
        p.ck_nocache = 1 if ck.nocache else 0
        p.ck_postonly = 1 if ck.postonly else 0
        copy_name(p.ck_name, MAX_COOKIE, ck.name, &p.ck_name_len)
        copy_name(p.ck_domain, MAX_NAME, ck.domain or "", &p.ck_domain_len)
    copy_name(p.mon_uri, 256, px.monitor_uri or "", &p.mon_uri_len)
    copy_name(p.stats_uri, 256, pp.stats_uri, &p.stats_uri_len)
    errors_setup_proxy(i, pp)       # errorfile / errorloc (errors.pxi)
    rules_setup_proxy(i, pp)        # header rules (rules.pxi)
    appsession_setup_proxy(i, px)   # (appsession.pxi)
    return 0


def chash_key(unsigned int a) -> int:
    """full_hash() (backend.pxi), for the tests."""
    return full_hash(a)


def hash_key(str fn, bytes key, int avalanche=0) -> int:
    """A key as `hash-type ... fn [avalanche]` hashes it (backend.pxi), for the tests."""
    cdef px_t p
    memset(&p, 0, sizeof(px_t))
    p.hash_fn = {"djb2": HFN_DJB2, "wt6": HFN_WT6, "crc32": HFN_CRC32}.get(fn, HFN_SDBM)
    p.conf.hash_aval = avalanche
    return lb_hash_bytes(&p, key, len(key))


cdef int setup_server(int i, object sp) except -1:
    """Server i from its plan (pyhaproxy/worker.py ServerPlan) and its model (sp.sv)."""
    cdef srv_t *sv = &g_srv[i]
    model = sp.sv
    sv.conf = {name: getattr(model, name) for name in SRV_CONF_FIELDS}
    copy_name(sv.name, MAX_NAME, model.name, &sv.name_len)
    sv.px = sp.px
    sv.gidx = i
    fill_addr(&sv.addr, &sv.addrlen, sp.host, sp.port)
    sv.port_mode = sp.port_mode
    if sp.source is not None:
        sv.has_source = 1
        fill_addr(&sv.source, &sv.source_len, sp.source[0], sp.source[1])
    copy_name(sv.cookie, MAX_COOKIE, model.cookie or "", &sv.cookie_len)
    return 0


def run_worker(object plan, Shm shm, int worker_idx, list listeners, int debug=0, list tls=None,
               object privileged_done=None, TlsContexts contexts=None) -> int:
    """Build the C tables from `plan` (pyhaproxy/worker.py WorkerPlan) and run the loop until stopped.

    listeners: list of (fd, proxy_index, port, backlog, flags, luid, name) (flags: 1 accept-proxy,
    2 proto h2); tls: per
    listener, None or its TLS settings (tls.pxi tls_setup); contexts: the generation's TLS
    contexts the master built before fork (tlssrv.pxi TlsContexts): given, the worker reads no
    certificate file and `tls` is not used; privileged_done: called once the
    files the worker reads (certificates, CA files) are loaded, to drop privileges (chroot) before
    anything else. Returns the exit status.
    """
    global g_ep, g_px, g_npx, g_srv, g_nsrv, g_lst, g_nlst, g_sess, g_maxsess, g_free_sess, g_nfree
    global g_maxconn, g_cps_lim, g_shm, g_worker, g_sigfd, g_bufs, g_pipes, g_heap_exp, g_heap_idx, g_heap_cap
    global g_debug, g_grace_until, g_stats_addrlen, g_promex_addrlen, g_stats_admin_key_len
    cdef int i
    cdef sigset_t mask
    cdef epoll_event ev
    g_shm = shm.hdr
    g_worker = worker_idx
    g_debug = debug
    g_npx = len(plan.proxies)
    g_px = <px_t *>calloc(max(1, g_npx), sizeof(px_t))
    g_grace_until = <long long *>calloc(max(1, g_npx), sizeof(long long))
    g_nsrv = len(plan.servers)
    g_srv = <srv_t *>calloc(max(1, g_nsrv), sizeof(srv_t))
    if g_px == NULL or g_grace_until == NULL or g_srv == NULL:
        raise MemoryError()
    for i, pp in enumerate(plan.proxies):
        setup_proxy(i, pp)
    for i, sp in enumerate(plan.servers):
        setup_server(i, sp)
        g_srv[i].kill_seen = shm_srv_at(g_shm, i).kill_gen     # (only later kills concern us)
    global g_kill_gen_seen
    g_kill_gen_seen = g_shm.kill_gen
    acl_setup(plan.acl)             # ACLs and use_backend rules (acl.pxi)
    httpreq_setup(plan.acl)         # http-request rules (httpreq.pxi)
    for i, e in enumerate(plan.acl.lbexpr):
        g_px[i].lb_expr = e             # balance hash EXPR (http.pxi)
    global g_req_settle, g_answer_kept
    g_req_settle = http_req_settle  # keep-alive after haproxy's own answers (session.pxi, http.pxi)
    g_answer_kept = http_answer_kept
    stk_tables_setup(shm.tables)    # stick tables (stktable.pxi)
    g_nlst = len(listeners)
    g_lst = <lst_t *>calloc(max(1, g_nlst), sizeof(lst_t))
    for i, (fd, px, port, backlog, accept_proxy, luid, lname) in enumerate(listeners):
        g_lst[i].fd = fd
        g_lst[i].px = px
        g_lst[i].port = port
        g_lst[i].backlog = backlog
        g_lst[i].accept_proxy = accept_proxy & 1           # bit 0: accept-proxy
        g_lst[i].proto_h2 = 1 if accept_proxy & 2 else 0   # bit 1: proto h2
        g_lst[i].luid = luid
        copy_name(g_lst[i].name, 64, lname, &g_lst[i].name_len)
        g_lst[i].state = LI_FULL
    if contexts is not None:
        contexts.install(plan.acl.srv_sni)      # tls: inherited from the master (tlssrv.pxi)
    else:
        tls_setup(tls or [])    # tls: contexts (tls.pxi)
        tls_srv_setup([sp.sv.tls if sp.sv.tls is not None and sp.sv.tls.use_ssl else None
                       for sp in plan.servers], plan.acl.srv_sni)    # tls: towards servers (tlssrv.pxi)
    if any(sp.sv.proto_h2 or (sp.sv.tls is not None and sp.sv.tls.use_ssl and "h2" in sp.sv.tls.alpn)
           for sp in plan.servers):
        h2o_setup()         # HTTP/2 towards servers (h2srv.pxi)
    if privileged_done is not None:
        privileged_done()       # (certificates are read outside the chroot, as haproxy does)
    g_maxconn = plan.maxconn
    g_cps_lim = plan.maxconnrate
    global g_sps_lim, g_ssl_lim
    g_sps_lim = plan.maxsessrate
    global g_nosplice, g_maxpipes
    g_nosplice = 1 if plan.nosplice else 0
    g_maxpipes = plan.maxpipes
    g_ssl_lim = plan.maxsslrate
    global g_h1_any_payload
    g_h1_any_payload = 1 if plan.h1_any_payload else 0     # (h1.pxi: the 413 of a 1.0 GET with a body)
    g_maxsess = g_maxconn
    g_sess = <sess_t *>calloc(g_maxsess, sizeof(sess_t))
    g_free_sess = <int *>malloc(sizeof(int) * g_maxsess)
    for i in range(g_maxsess):
        g_free_sess[i] = g_maxsess - 1 - i
    g_nfree = g_maxsess
    g_heap_cap = 4 * g_maxsess + 64
    g_heap_exp = <long long *>malloc(sizeof(long long) * g_heap_cap)
    g_heap_idx = <int *>malloc(sizeof(int) * g_heap_cap)
    g_bufs = <char **>malloc(sizeof(char *) * BUF_POOL_MAX)
    g_pipes = <int *>malloc(sizeof(int) * 2 * PIPE_POOL_MAX)
    if g_sess == NULL or g_free_sess == NULL or g_heap_exp == NULL or g_heap_idx == NULL:
        raise MemoryError("cannot allocate the session table")
    h2_setup(g_maxsess, plan.h2[0], plan.h2[1], plan.h2[2])    # HTTP/2 streams (h2.pxi)
    pool_setup(g_maxsess, g_nsrv)       # their idle server connections (srvpool.pxi)
    import resource
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if srv_conn_setup(nofile if 0 < nofile < (1 << 24) else (1 << 24)) < 0:   # servers' connections in use
        raise MemoryError("cannot allocate the server connections' table")
    memset(&g_stats_addr, 0, sizeof(g_stats_addr))
    if plan.stats_sock:
        path = plan.stats_sock.encode()[:107]
        (<sockaddr_un *>&g_stats_addr).sun_family = AF_UNIX
        memcpy((<sockaddr_un *>&g_stats_addr).sun_path, <const char *>path, len(path))
        g_stats_addrlen = sizeof(sockaddr_un)
    key = plan.stats_admin_key.encode()[:63]
    memcpy(g_stats_admin_key, <const char *>key, len(key))
    g_stats_admin_key_len = len(key)
    memset(&g_promex_addr, 0, sizeof(g_promex_addr))
    if plan.promex_sock:
        path = plan.promex_sock.encode()[:107]
        (<sockaddr_un *>&g_promex_addr).sun_family = AF_UNIX
        memcpy((<sockaddr_un *>&g_promex_addr).sun_path, <const char *>path, len(path))
        g_promex_addrlen = sizeof(sockaddr_un)
    log_setup(plan)

    # The worker soft-stops when its master dies; its signals arrive through a signalfd in the epoll set.
    prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0)
    g_ep = epoll_create1(EPOLL_CLOEXEC)
    sigemptyset(&mask)
    for sig in (SIGUSR1, SIGUSR2, SIGTTOU, SIGTTIN, SIGTERM, SIGINT, SIGHUP, SIGQUIT):
        sigaddset(&mask, sig)
    sigprocmask(SIG_BLOCK, &mask, NULL)
    g_sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)
    ev.events = EPOLLIN
    ev.data.u64 = TAG_SIGNAL
    epoll_ctl(g_ep, EPOLL_CTL_ADD, g_sigfd, &ev)
    clock_update()
    for i in range(g_nlst):
        lst_enable(i)
    with nogil:
        rc = event_loop()
    return rc
