# TLS towards the servers (`server ... ssl [verify required ca-file F] [sni EXPR] [crt F]...`):
# one client SSL_CTX per server, built at worker start; a connection's TLS state lives in the
# same fd-indexed table as a client connection's (tls.pxi), so the channels read and write it
# through tls_recv()/tls_send() like any TLS side, and it never splices.
#
# The handshake is part of the connect, as in haproxy 2.6 (a connection is established once its
# transport layer is): the session stays in ST_CONNECTING under `timeout connect` until it is
# done, and a failed handshake is a failed connect (retries, redispatch, 503 "SC" when none is
# left). The PROXY header, when the server wants one, goes before the ClientHello.
#
# SNI: the server's `sni` expression, evaluated on the request when the connect starts (its head
# is still whole in the request buffer then, and parsed again into a scratch message). With
# `verify required` the certificate must match that name, or `verifyhost` when there is no SNI
# (OpenSSL's host check, wildcards allowed); without either, any name is accepted, as in 2.6.
# Session reuse: the last session a server gave (per worker; haproxy keeps one per thread) is
# offered on the next connection when the SNI is the same, unless `no-ssl-reuse`.

cdef struct tls_srv_t:
    SSL_CTX *ctx
    int sni_expr             # g_sexpr index of `sni EXPR`, -1 without one
    int verify               # `verify required` (the default): the certificate is checked
    int reuse                # session reuse (not `no-ssl-reuse`)
    char verifyhost[256]     # `verifyhost`: the name to check when no SNI was sent
    SSL_SESSION *sess        # the last session this server gave, offered again
    char sess_sni[256]       # the SNI that session was made with ("" none)


cdef tls_srv_t **g_srv_tls = NULL    # indexed by global server index, NULL for a plain server
cdef h1_msg g_sni_msg                # scratch: the request head parsed again for `sni`
cdef char g_sni_name[256]


cdef inline tls_srv_t *tls_srv_of(sess_t *s) noexcept nogil:
    if g_srv_tls == NULL or s.srv < 0:
        return NULL
    return g_srv_tls[s.srv]


cdef int _tls_srv_new_sess(SSL *ssl, SSL_SESSION *sess) noexcept nogil:
    """OpenSSL has a new session from a server (after the handshake, or a TLS 1.3 ticket): keep
    it for the next connection to that server (1: the reference is ours)."""
    cdef tls_conn_t *c = <tls_conn_t *>SSL_get_ex_data(ssl, g_tls_ex_conn)
    cdef tls_srv_t *ts
    cdef const char *sni
    cdef size_t n
    if c == NULL or c.srv1 <= 0 or g_srv_tls == NULL or g_srv_tls[c.srv1 - 1] == NULL:
        return 0
    ts = g_srv_tls[c.srv1 - 1]
    if not ts.reuse:
        return 0
    if ts.sess != NULL:
        SSL_SESSION_free(ts.sess)
    ts.sess = sess
    sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)
    n = strlen(sni) if sni != NULL else 0
    if n > 255:
        n = 255
    if n:
        memcpy(ts.sess_sni, sni, n)
    ts.sess_sni[n] = 0
    return 1


cdef int _tls_srv_sni(sess_t *s, tls_srv_t *ts) noexcept nogil:
    """The name `sni EXPR` gives for this session into g_sni_name: its length, 0 for none."""
    cdef const char *buf = NULL
    cdef h1_msg *m = NULL
    cdef smp_t v
    cdef int n
    if ts.sni_expr < 0:
        return 0
    if g_px[s.px].mode == MODE_HTTP and s.req.buf != NULL and s.req.buf_in > 0 \
            and h1_parse_request(s.req.buf, s.req.buf_in, &g_sni_msg) > 0:
        buf = s.req.buf
        m = &g_sni_msg
    if not smp_one(s, &g_sexpr[ts.sni_expr], buf, m, &v) or not smp_as_str(&v):
        return 0
    n = v.len if v.len < 255 else 255
    memcpy(g_sni_name, v.p, n)
    g_sni_name[n] = 0
    return <int>strlen(g_sni_name)      # (a NUL in the value ends the name)


cdef int _tls_srv_new(sess_t *s, tls_srv_t *ts) noexcept nogil:
    """A TLS state for the session's new server connection: 0, or -1."""
    cdef SSL *ssl
    cdef int fd = s.sfd, n
    if fd >= g_tls_maxfd:
        return -1
    ssl = SSL_new(ts.ctx)
    if ssl == NULL:
        ERR_clear_error()
        return -1
    SSL_set_fd(ssl, fd)
    SSL_set_connect_state(ssl)
    g_tls_fd[fd].ssl = ssl
    g_tls_fd[fd].flags = 0
    g_tls_fd[fd].srv1 = s.srv + 1
    SSL_set_ex_data(ssl, g_tls_ex_conn, &g_tls_fd[fd])
    ctr_srv(s.srv).ssl_sess += 1        # a TLS endpoint (its ssl_cur goes down in tls_release)
    ctr_srv(s.srv).ssl_cur += 1
    n = _tls_srv_sni(s, ts)
    if n:
        SSL_set_tlsext_host_name(ssl, g_sni_name)
    if ts.verify:
        if n:
            SSL_set1_host(ssl, g_sni_name)
        elif ts.verifyhost[0]:
            SSL_set1_host(ssl, ts.verifyhost)
    if not n:
        g_sni_name[0] = 0
    if ts.reuse and ts.sess != NULL and strcmp(ts.sess_sni, g_sni_name) == 0:
        SSL_set_session(ssl, ts.sess)
    ERR_clear_error()
    return 0


cdef int tls_srv_step(int idx) noexcept nogil:
    """The TCP connection to the server is up (or a handshake event came): 1 when the connection
    is established (plain, or its handshake done), 0 while the handshake goes on, -1 failed."""
    cdef sess_t *s = &g_sess[idx]
    cdef tls_srv_t *ts = tls_srv_of(s)
    cdef int r
    if ts == NULL:
        return 1
    if tls_ssl(s.sfd) == NULL and _tls_srv_new(s, ts) < 0:
        return -1
    r = tls_handshake(s.sfd)
    if r > 0:
        if tls_resumed(s.sfd):
            ctr_srv(s.srv).ssl_reused += 1
    if r < 0:
        ctr_srv(s.srv).ssl_fail += 1
        ERR_clear_error()
        if ts.sess != NULL:
            SSL_SESSION_free(ts.sess)       # (2.6 forgets the session after a failure too)
            ts.sess = NULL
    return r


cdef inline int tls_srv_pending(sess_t *s) noexcept nogil:
    """The session's server connection is in its TLS handshake (its PROXY header went already)."""
    return s.sfd >= 0 and tls_ssl(s.sfd) != NULL and not (g_tls_fd[s.sfd].flags & TLS_HS)


# ---- start-up (Python)

cdef tls_srv_t *_tls_srv_build(object cfg, int sni_expr) except NULL:
    """One server's context from its settings (pyhaproxy/config/tls_server.py ServerTLS)."""
    cdef tls_srv_t *ts = <tls_srv_t *>calloc(1, sizeof(tls_srv_t))
    cdef SSL_CTX *ctx
    cdef bytes b
    if ts == NULL:
        raise MemoryError()
    ctx = SSL_CTX_new(TLS_client_method())
    if ctx == NULL:
        free(ts)
        raise MemoryError()
    ts.ctx = ctx
    ts.sni_expr = sni_expr
    ts.verify = 1 if cfg.verify else 0
    ts.reuse = 1 if cfg.reuse else 0
    try:
        tls_ctx_protocol(ctx, cfg)      # (tls.pxi: as a bind's contexts)
        if cfg.no_tls_tickets:
            SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET)
        if cfg.crt:
            b = str(cfg.crt).encode()
            if SSL_CTX_use_certificate_chain_file(ctx, b) != 1 \
                    or SSL_CTX_use_PrivateKey_file(ctx, b, SSL_FILETYPE_PEM) != 1 \
                    or SSL_CTX_check_private_key(ctx) != 1:
                raise ValueError(f"unable to load SSL certificate and key from PEM file '{cfg.crt}': "
                                 f"{_tls_errors()}")
        if cfg.verify:
            for f in cfg.ca_files:
                if f == "@system-ca":
                    ok = SSL_CTX_set_default_verify_paths(ctx)
                else:
                    b = str(f).encode()
                    ok = SSL_CTX_load_verify_locations(ctx, b, NULL)
                if ok != 1:
                    raise ValueError(f"unable to set CA file '{f}': {_tls_errors()}")
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL)
        else:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL)
        if cfg.alpn:
            b = b"".join(bytes([len(p)]) + p.encode() for p in cfg.alpn)[:255]
            SSL_CTX_set_alpn_protos(ctx, <const unsigned char *><char *>b, len(b))
        b = (cfg.verifyhost or "").encode()[:255]
        memcpy(ts.verifyhost, <const char *>b, len(b))
        ts.verifyhost[len(b)] = 0
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE)
        SSL_CTX_sess_set_new_cb(ctx, _tls_srv_new_sess)
    except BaseException:
        SSL_CTX_free(ctx)
        free(ts)
        ERR_clear_error()
        raise
    return ts


cdef int tls_srv_setup(list servers, list sni) except -1:
    """servers: per global server index, its ServerTLS (traffic in TLS) or None; sni: per server,
    the g_sexpr index of its `sni` expression or -1. Builds every context before the loop."""
    global g_srv_tls
    cdef int i
    if not any(t is not None for t in servers):
        return 0
    tls_fd_table()
    g_srv_tls = <tls_srv_t **>calloc(max(1, len(servers)), sizeof(tls_srv_t *))
    if g_srv_tls == NULL:
        raise MemoryError()
    for i, cfg in enumerate(servers):
        if cfg is not None:
            g_srv_tls[i] = _tls_srv_build(cfg, sni[i] if i < len(sni) else -1)
    return 0


def tls_srv_check(object cfg) -> None:
    """Build (then free) one server's context as the worker will (ServerTLS): the parser calls
    it so that a CA file, a client certificate or a cipher list OpenSSL refuses is an alert."""
    cdef tls_srv_t *ts = _tls_srv_build(cfg, -1)
    SSL_CTX_free(ts.ctx)
    free(ts)


cdef void tls_srv_free(tls_srv_t *ts) noexcept nogil:
    """A server's TLS context and kept session, given back (TlsContexts.__dealloc__)."""
    if ts == NULL:
        return
    if ts.sess != NULL:
        SSL_SESSION_free(ts.sess)
    SSL_CTX_free(ts.ctx)
    free(ts)


cdef class TlsContexts:
    """Every TLS context of one generation, both sides, built by the master before it forks the
    generation's workers (issue 20): the certificate, key, CA, CRL, DH and ticket-key files are
    read once, here, and a worker (started with the generation or re-forked later) inherits the
    contexts through fork and never opens those files. Kept while the generation lives."""
    cdef tls_bind_t **lst       # per listener, NULL for a plain one
    cdef int nlst
    cdef tls_srv_t **srv        # per global server index, NULL for a plain server
    cdef int nsrv
    cdef int installed          # a worker's copy: its loop uses them until it exits

    def __init__(self, list tls, list servers):
        """tls: per listener, None or (BindTLS, luid, name) (worker.py tls_plan); servers: per
        global server index, its ServerTLS when its traffic is TLS, else None. The session cache
        of the generation must be active (TlsCache.activate) first: the contexts attach to it.
        Raises ValueError as the parser's checks do."""
        cdef int i
        self.nlst = len(tls)
        self.nsrv = len(servers)
        self.lst = <tls_bind_t **>calloc(max(1, self.nlst), sizeof(tls_bind_t *))
        self.srv = <tls_srv_t **>calloc(max(1, self.nsrv), sizeof(tls_srv_t *))
        if self.lst == NULL or self.srv == NULL:
            raise MemoryError()
        for i, item in enumerate(tls):
            if item is not None:
                cfg, luid, lname = item
                self.lst[i] = _tls_bind(cfg, luid, lname)
        for i, cfg in enumerate(servers):
            if cfg is not None:
                self.srv[i] = _tls_srv_build(cfg, -1)

    def __dealloc__(self):
        """The master's copy, once the generation is gone (its workers exited): the contexts
        are given back, so reloads do not pile them up. A worker never frees its own."""
        cdef int i
        if self.installed:
            return
        if self.lst != NULL:
            for i in range(self.nlst):
                tls_bind_free(self.lst[i])
            free(self.lst)
        if self.srv != NULL:
            for i in range(self.nsrv):
                tls_srv_free(self.srv[i])
            free(self.srv)

    cdef int install(self, list sni) except -1:
        """In the worker: the inherited contexts become the loop's (sni: per server, the g_sexpr
        index of its `sni` expression or -1)."""
        global g_lst_tls, g_srv_tls
        cdef int i
        self.installed = 1
        if any(self.lst[i] != NULL for i in range(self.nlst)):
            tls_fd_table()
            g_lst_tls = self.lst
        if any(self.srv[i] != NULL for i in range(self.nsrv)):
            tls_fd_table()
            for i in range(self.nsrv):
                if self.srv[i] != NULL:
                    self.srv[i].sni_expr = sni[i] if i < len(sni) else -1
            g_srv_tls = self.srv
        return 0
