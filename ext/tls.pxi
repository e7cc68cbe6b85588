# TLS (OpenSSL 3.0): the contexts of each `bind ... ssl` listener, built once at worker start, and
# a connection's TLS state, found by its fd: tls_recv()/tls_send() read and write a client
# connection in clear whether or not it is TLS (the channel functions call them instead of
# recv()/send()), tls_shut() sends the close_notify, tls_release() frees the state.
#
# A TLS connection is non-blocking like any other: SSL_read/SSL_write/SSL_do_handshake return
# WANT_READ or WANT_WRITE, mapped onto the session's edge-triggered readiness (cli_rd, cli_wr;
# both directions are always registered). tls_recv() reads until OpenSSL asks for more bytes
# from the socket or the buffer is full, so that a short read means, as for recv(), that the
# socket is drained (a TLS record can end before the socket's data does). TLS connections
# never splice (the channel stays on its buffers); plain ones are untouched.
#
# Per listener (g_lst_tls[li], NULL for a plain one): one SSL_CTX per certificate (`crt`, each
# line of a `crt-list`), the first the default; the ClientHello callback switches to the context
# whose name matches exactly, else by wildcard (`*.example.com` matches one label; a crt-list
# `!name` excludes), else keeps the default. A crt-list line may have its own settings (ALPN,
# versions, ciphers, curves, client certificates): what the SSL copied from the default context
# at SSL_new is set again from the chosen one.

cdef extern from *:
    """
    #include <errno.h>
    #include <strings.h>
    static inline void tls_set_errno(int e) { errno = e; }
    """
    void tls_set_errno(int e) nogil
    int strcasecmp(const char *a, const char *b) nogil


cdef enum:
    TLS_HS = 1            # the handshake is done
    TLS_RD_WANT_WR = 2    # SSL_read needs the socket writable (a post-handshake message to send)
    TLS_WR_WANT_RD = 4    # SSL_write needs to read first
    TLS_SHUT = 8          # close_notify sent (or the connection failed: no more SSL calls)
    TLS_GOT_HELLO = 16    # the ClientHello was read (SNI callback called)
    TLS_EOF = 32          # the end of stream came behind data already returned (see tls_recv)
    TLS_VERIFIED = 64     # the client's certificate was verified on this connection (not resumed)
    TLS_MAX_NAMES = 4096
    TLS_VERIFY_NONE = 0
    TLS_VERIFY_OPTIONAL = 1
    TLS_VERIFY_REQUIRED = 2


cdef struct tls_name_t:
    char *name            # lower-case; for a wildcard, the part after "*" (".example.com")
    int len
    int wild
    int ctx
    int neg               # a crt-list `!name`: this context is not chosen for that name


cdef struct tls_ctxopt_t:     # what a context adds that the SSL does not take from it by itself
    unsigned char alpn[256]   # wire format: length-prefixed protocol names
    int alpn_len
    char curves[256]          # "" none given (`curves`, else `ecdhe`)
    unsigned char npn[256]    # `npn`: wire format, as alpn
    int npn_len


cdef struct tls_tkeys_t:     # `tls-ticket-keys FILE`: the last 3 keys of the file, as 2.6 keeps them
    unsigned char key[3][80]  # each: name (16), AES key (16 or 32), HMAC key (16 or 32), 2.6's layout
    int enc                   # the key that encrypts (the file's last but one); all 3 decrypt
    int klen                  # 16 (48-byte keys: AES-128) or 32 (80-byte keys: AES-256)


cdef struct tls_bind_t:
    SSL_CTX **ctx         # one per certificate; ctx[0] is the default
    int nctx
    tls_name_t *names
    int nnames
    tls_ctxopt_t *opt     # per context: its ALPN, curves (a crt-list line may have its own)
    int strict_sni        # `strict-sni`: no handshake without a server name some certificate has
    int verify            # client certificates: TLS_VERIFY_NONE (not asked), _OPTIONAL, _REQUIRED
    unsigned long long ca_ign    # `ca-ignore-err`: X509 error ids (< 64) ignored at depth > 0
    unsigned long long crt_ign   # `crt-ignore-err`: at depth 0
    tls_tkeys_t *tk       # `tls-ticket-keys` (NULL: a random key drawn by the master per bind)
    int luid              # the listener's number in its proxy (log: "fe/1" when the bind has no name)
    char lname[64]        # `bind ... name N`
    int lname_len


cdef void tls_bind_free(tls_bind_t *tb) noexcept nogil:
    """A listener's TLS contexts and settings, given back (tlssrv.pxi TlsContexts.__dealloc__)."""
    cdef int i
    if tb == NULL:
        return
    if tb.ctx != NULL:
        for i in range(tb.nctx):
            if tb.ctx[i] != NULL:
                SSL_CTX_free(tb.ctx[i])
        free(tb.ctx)
    if tb.names != NULL:
        for i in range(tb.nnames):
            free(tb.names[i].name)
        free(tb.names)
    free(tb.opt)
    free(tb.tk)
    free(tb)


cdef struct tls_conn_t:
    SSL *ssl
    int flags
    int srv1              # a server connection (tlssrv.pxi): its server's index + 1; 0 a client's
    tls_bind_t *tb        # a client connection's listener settings
    int c_err             # the first error verifying the client's certificate (ssl_c_err)
    int ca_err            # ... and its chain (ssl_c_ca_err)


cdef tls_conn_t *g_tls_fd = NULL     # indexed by fd; ssl NULL for a plain connection
cdef int g_tls_maxfd = 0
cdef tls_bind_t **g_lst_tls = NULL   # indexed by listener
cdef int g_tls_ex_conn = -1          # SSL ex_data index: the tls_conn_t of an SSL


cdef inline SSL *tls_ssl(int fd) noexcept nogil:
    """The TLS state of a client fd, NULL for a plain connection."""
    if g_tls_fd == NULL or fd < 0 or fd >= g_tls_maxfd:
        return NULL
    return g_tls_fd[fd].ssl


cdef inline int tls_is(int fd) noexcept nogil:
    return tls_ssl(fd) != NULL


cdef inline int cli_copy_only(int fd) noexcept nogil:
    """A side that never splices: TLS, or an HTTP/2 stream's memory."""
    return fd >= VFD_BASE or tls_ssl(fd) != NULL


cdef inline const char *tls_sni(int fd) noexcept nogil:
    """The server name the client sent (SNI), NULL if none or not TLS."""
    cdef SSL *ssl = tls_ssl(fd)
    if ssl == NULL:
        return NULL
    return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)


cdef char g_tls_alpn[256]      # tls_alpn()'s answer (NUL-terminated)


cdef const char *tls_protocol(int fd) noexcept nogil:
    """The negotiated protocol ("TLSv1.3"), NULL if not TLS: %sslv, ssl_fc_protocol."""
    cdef SSL *ssl = tls_ssl(fd)
    return SSL_get_version(ssl) if ssl != NULL else NULL


cdef const char *tls_cipher(int fd) noexcept nogil:
    """The negotiated cipher ("TLS_AES_256_GCM_SHA384"), NULL if not TLS: %sslc, ssl_fc_cipher."""
    cdef SSL *ssl = tls_ssl(fd)
    cdef const SSL_CIPHER *c
    if ssl == NULL:
        return NULL
    c = SSL_get_current_cipher(ssl)
    return SSL_CIPHER_get_name(c) if c != NULL else NULL


cdef int tls_resumed(int fd) noexcept nogil:
    cdef SSL *ssl = tls_ssl(fd)
    return SSL_session_reused(ssl) if ssl != NULL else 0


cdef const char *tls_alpn(int fd, int npn) noexcept nogil:
    """The protocol ALPN (npn: NPN) chose ("" when none), NULL if not TLS."""
    cdef SSL *ssl = tls_ssl(fd)
    cdef const unsigned char *p = NULL
    cdef unsigned int n = 0
    if ssl == NULL:
        return NULL
    if npn:
        SSL_get0_next_proto_negotiated(ssl, &p, &n)
    else:
        SSL_get0_alpn_selected(ssl, &p, &n)
    if n > 255:
        n = 255
    if n:
        memcpy(g_tls_alpn, p, n)
    g_tls_alpn[n] = 0
    return g_tls_alpn


cdef char g_tls_cert[1024]      # the answers of tls_cert_field() (NUL-terminated)


cdef int tls_cert_errors(int fd, int which) noexcept nogil:
    """ssl_c_err (which 0), ssl_c_ca_err (1), ssl_c_verify (2) of a TLS client connection."""
    if which == 2:
        return <int>SSL_get_verify_result(g_tls_fd[fd].ssl)
    return g_tls_fd[fd].ca_err if which else g_tls_fd[fd].c_err


cdef int _tls_entry_is(X509_NAME_ENTRY *ne, const char *entry) noexcept nogil:
    """A DN entry named `entry` (its short or long name, case-insensitive: CN, commonName)."""
    cdef int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne))
    cdef const char *sn = OBJ_nid2sn(nid)
    cdef const char *ln = OBJ_nid2ln(nid)
    return (sn != NULL and strcasecmp(sn, entry) == 0) or (ln != NULL and strcasecmp(ln, entry) == 0)


cdef int tls_cert_field(int fd, int what, const char *entry, int occ, int *n) noexcept nogil:
    """A field of the client's certificate into g_tls_cert (n: its length): what 0 its subject
    DN, 1 its issuer DN (the whole "/C=FR/O=.../CN=...", or the occ-th value (from 0) of the
    `entry` named, case-insensitive, short or long name), 2 its serial (binary), 3 its SHA-1
    (binary), 4 its version. 0 when there is no certificate (or no such entry)."""
    cdef SSL *ssl = tls_ssl(fd)
    cdef X509 *x
    cdef X509_NAME *nm
    cdef X509_NAME_ENTRY *ne
    cdef ASN1_STRING *a
    cdef unsigned int dl = 0
    cdef int i, k = 0, found = 0
    if ssl == NULL:
        return 0
    x = SSL_get1_peer_certificate(ssl)
    if x == NULL:
        return 0
    n[0] = 0
    if what <= 1:
        nm = X509_get_subject_name(x) if what == 0 else X509_get_issuer_name(x)
        if entry == NULL:
            X509_NAME_oneline(nm, g_tls_cert, sizeof(g_tls_cert))
            n[0] = <int>strlen(g_tls_cert)
            found = 1
        else:
            if occ < 0:             # counted from the end: how many there are first
                for i in range(X509_NAME_entry_count(nm)):
                    if _tls_entry_is(X509_NAME_get_entry(nm, i), entry):
                        k += 1
                occ = k + occ
                k = 0
            for i in range(X509_NAME_entry_count(nm)):
                ne = X509_NAME_get_entry(nm, i)
                if not _tls_entry_is(ne, entry):
                    continue
                if k == occ:
                    a = X509_NAME_ENTRY_get_data(ne)
                    n[0] = min(ASN1_STRING_length(a), <int>sizeof(g_tls_cert) - 1)
                    memcpy(g_tls_cert, ASN1_STRING_get0_data(a), n[0])
                    found = 1
                    break
                k += 1
    elif what == 2:
        a = X509_get_serialNumber(x)
        n[0] = min(ASN1_STRING_length(a), <int>sizeof(g_tls_cert) - 1)
        memcpy(g_tls_cert, ASN1_STRING_get0_data(a), n[0])
        found = 1
    elif what == 3:
        found = X509_digest(x, EVP_sha1(), <unsigned char *>g_tls_cert, &dl) == 1
        n[0] = <int>dl
    else:
        n[0] = snprintf(g_tls_cert, sizeof(g_tls_cert), b"%ld", X509_get_version(x) + 1)
        found = 1
    X509_free(x)
    return found


cdef inline void _pp2_sub(char *out, int *n, int cap, int t, const char *v, int len) noexcept nogil:
    """One sub-TLV of the SSL TLV (a value too long for what is left is cut)."""
    if v == NULL or len <= 0 or n[0] + 3 >= cap:
        return
    if len > cap - n[0] - 3:
        len = cap - n[0] - 3
    out[n[0]] = <char>t
    out[n[0] + 1] = <char>(len >> 8)
    out[n[0] + 2] = <char>(len & 0xff)
    memcpy(out + n[0] + 3, v, len)
    n[0] += 3 + len


cdef int tls_pp2_ssl(int fd, int opts, char *out, int cap) noexcept nogil:
    """The PROXY v2 PP2_TYPE_SSL TLV for a client on fd (`proxy-v2-options ssl,cert-cn,...`,
    `send-proxy-v2-ssl[-cn]`) as 2.6 writes it: client flags, verify result (only when the
    session has a client certificate), then the version, CN, key and signature algorithms of
    the frontend's certificate, cipher. A plain client: the flags and verify at 0, no sub-TLV."""
    cdef SSL *ssl = tls_ssl(fd)
    cdef X509 *x
    cdef EVP_PKEY *pk
    cdef const char *v
    cdef char alg[32]
    cdef int n = 8, k, kind
    cdef unsigned int vr
    cdef uint8_t client = 0
    if cap < 8:
        return 0
    memset(out, 0, 8)
    out[0] = <char>PP2_TYPE_SSL
    if ssl != NULL:
        client = PP2_CLIENT_SSL
        v = SSL_get_version(ssl)
        _pp2_sub(out, &n, cap, PP2_SUBTYPE_SSL_VERSION, v, <int>strlen(v) if v != NULL else 0)
        x = SSL_get1_peer_certificate(ssl)
        if x != NULL:
            client |= PP2_CLIENT_CERT_SESS
            vr = <unsigned int>SSL_get_verify_result(ssl)
            out[4] = <char>(vr >> 24)
            out[5] = <char>(vr >> 16)
            out[6] = <char>(vr >> 8)
            out[7] = <char>vr
            if g_tls_fd[fd].flags & TLS_VERIFIED:
                client |= PP2_CLIENT_CERT_CONN
            X509_free(x)
            if (opts & PP_OPT_SSL_CN) and tls_cert_field(fd, 0, b"CN", 0, &k):
                _pp2_sub(out, &n, cap, PP2_SUBTYPE_SSL_CN, g_tls_cert, k)
        x = SSL_get_certificate(ssl)        # the frontend's own certificate
        if (opts & PP_OPT_SSL_KEY) and x != NULL:
            pk = X509_get0_pubkey(x)
            kind = EVP_PKEY_get_base_id(pk) if pk != NULL else 0
            k = 0
            if kind == EVP_PKEY_RSA:
                k = snprintf(alg, sizeof(alg), b"RSA%d", EVP_PKEY_get_bits(pk))
            elif kind == EVP_PKEY_EC:
                k = snprintf(alg, sizeof(alg), b"EC%d", EVP_PKEY_get_bits(pk))
            elif kind == EVP_PKEY_DSA:
                k = snprintf(alg, sizeof(alg), b"DSA%d", EVP_PKEY_get_bits(pk))
            _pp2_sub(out, &n, cap, PP2_SUBTYPE_SSL_KEY_ALG, alg, k)
        if (opts & PP_OPT_SSL_SIG) and x != NULL:
            v = OBJ_nid2sn(X509_get_signature_nid(x))
            _pp2_sub(out, &n, cap, PP2_SUBTYPE_SSL_SIG_ALG, v, <int>strlen(v) if v != NULL else 0)
        if opts & PP_OPT_SSL_CIPHER:
            v = tls_cipher(fd)
            _pp2_sub(out, &n, cap, PP2_SUBTYPE_SSL_CIPHER, v, <int>strlen(v) if v != NULL else 0)
    out[3] = <char>client
    out[1] = <char>((n - 3) >> 8)
    out[2] = <char>((n - 3) & 0xff)
    return n


# ---- callbacks (called by OpenSSL during the handshake)

cdef int tls_alpn_h2(int fd) noexcept nogil:
    """1 when the client's TLS handshake chose HTTP/2 by ALPN, else by NPN, as 2.6 looks (h2.pxi
    takes the connection)."""
    cdef SSL *ssl = tls_ssl(fd)
    cdef const unsigned char *p = NULL
    cdef unsigned int n = 0
    if ssl == NULL:
        return 0
    SSL_get0_alpn_selected(ssl, &p, &n)
    if n == 0:
        SSL_get0_next_proto_negotiated(ssl, &p, &n)
    return n == 2 and p[0] == b'h' and p[1] == b'2'


cdef inline unsigned char _tls_low(unsigned char c) noexcept nogil:
    if c >= b'A' and c <= b'Z':
        return c + 32
    return c


cdef int _tls_name_eq(const char *a, const char *b, int n) noexcept nogil:
    cdef int i
    for i in range(n):
        if _tls_low(<unsigned char>a[i]) != <unsigned char>b[i]:
            return 0
    return 1


cdef int _tls_excluded(tls_bind_t *tb, int k, const char *sni, int n) noexcept nogil:
    """A crt-list `!name` of context k names sni."""
    cdef int i
    for i in range(tb.nnames):
        if tb.names[i].neg and tb.names[i].ctx == k and tb.names[i].len == n \
                and _tls_name_eq(sni, tb.names[i].name, n):
            return 1
    return 0


cdef int tls_pick_ctx(tls_bind_t *tb, const char *sni) noexcept nogil:
    """The context for this server name: exact name first, then a wildcard, else -1."""
    cdef int n = <int>strlen(sni), i, dot = 0
    for i in range(tb.nnames):
        if not tb.names[i].wild and not tb.names[i].neg and tb.names[i].len == n \
                and _tls_name_eq(sni, tb.names[i].name, n) and not _tls_excluded(tb, tb.names[i].ctx, sni, n):
            return tb.names[i].ctx
    while dot < n and sni[dot] != b'.':
        dot += 1
    if dot == 0 or dot >= n:
        return -1
    for i in range(tb.nnames):
        if tb.names[i].wild and not tb.names[i].neg and tb.names[i].len == n - dot \
                and _tls_name_eq(sni + dot, tb.names[i].name, n - dot) \
                and not _tls_excluded(tb, tb.names[i].ctx, sni, n):
            return tb.names[i].ctx
    return -1


cdef int _tls_sni_cb(SSL *ssl, int *al, void *arg) noexcept nogil:
    """The server name extension was read (the context was chosen already, _tls_hello_cb)."""
    cdef tls_conn_t *c = <tls_conn_t *>SSL_get_ex_data(ssl, g_tls_ex_conn)
    if c != NULL:
        c.flags |= TLS_GOT_HELLO
    return SSL_TLSEXT_ERR_OK


cdef inline int _tls_no_name(tls_bind_t *tb, int *al) noexcept nogil:
    """No certificate for the client's server name (or none sent): the default one, unless
    `strict-sni` (then the handshake ends with an unrecognized_name alert, as in 2.6)."""
    if tb.strict_sni:
        al[0] = SSL_AD_UNRECOGNIZED_NAME
        return SSL_CLIENT_HELLO_ERROR
    return SSL_CLIENT_HELLO_SUCCESS


cdef int _tls_hello_cb(SSL *ssl, int *al, void *arg) noexcept nogil:
    """The ClientHello came: choose the context by its server name now, before OpenSSL picks the
    version (a crt-list line's ssl-min-ver must count), as haproxy 2.6 does."""
    cdef tls_bind_t *tb = <tls_bind_t *>arg
    cdef const unsigned char *p = NULL
    cdef size_t plen = 0, n
    cdef char sni[256]
    cdef int k
    if (tb.nctx < 2 and not tb.strict_sni) \
            or SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &plen) != 1:
        return _tls_no_name(tb, al)
    # server_name_list: a 2-byte length, then (type 0 host_name, 2-byte length, name)
    if plen < 5 or p[2] != 0:
        return _tls_no_name(tb, al)
    n = (<size_t>p[3] << 8) | p[4]
    if n == 0 or n > 255 or n + 5 > plen or memchr(p + 5, 0, n) != NULL:
        return _tls_no_name(tb, al)
    memcpy(sni, p + 5, n)
    sni[n] = 0
    k = tls_pick_ctx(tb, sni)
    if k < 0:
        return _tls_no_name(tb, al)
    if k > 0:
        SSL_set_SSL_CTX(ssl, tb.ctx[k])
        # (the ciphers and the CA names follow the context; these were copied at SSL_new)
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(tb.ctx[k]), _tls_verify_cb)
        SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(tb.ctx[k]))
        SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(tb.ctx[k]))
        if tb.opt[k].curves[0]:
            SSL_set1_groups_list(ssl, tb.opt[k].curves)
        # the CA names of the CertificateRequest: the chosen context's (none with `no-ca-names`),
        # not those SSL_new copied from the default one
        SSL_set_client_CA_list(ssl, NULL)
    return SSL_CLIENT_HELLO_SUCCESS


cdef int _tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                      const unsigned char *inp, unsigned int inlen, void *arg) noexcept nogil:
    cdef tls_ctxopt_t *o = <tls_ctxopt_t *>arg      # (the chosen context's: its own callback)
    if o.alpn_len == 0:
        return SSL_TLSEXT_ERR_NOACK
    if SSL_select_next_proto(<unsigned char **>out, outlen, o.alpn, o.alpn_len, inp, inlen) \
            != OPENSSL_NPN_NEGOTIATED:
        return SSL_TLSEXT_ERR_NOACK        # (haproxy 2.6 goes on without ALPN too)
    return SSL_TLSEXT_ERR_OK


cdef int _tls_npn_cb(SSL *ssl, const unsigned char **out, unsigned int *outlen, void *arg) noexcept nogil:
    """`npn`: the chosen context's protocols, advertised in a TLS 1.2 ServerHello."""
    cdef tls_ctxopt_t *o = <tls_ctxopt_t *>arg
    if o.npn_len == 0:
        return SSL_TLSEXT_ERR_NOACK
    out[0] = o.npn
    outlen[0] = <unsigned int>o.npn_len
    return SSL_TLSEXT_ERR_OK


cdef int _tls_mac_key(EVP_MAC_CTX *h, unsigned char *key, int klen) noexcept nogil:
    cdef OSSL_PARAM prm[3]
    prm[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, <size_t>klen)
    prm[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, <char *>EVP_MD_get0_name(EVP_sha256()), 0)
    prm[2] = OSSL_PARAM_construct_end()
    return EVP_MAC_CTX_set_params(h, prm)


cdef int _tls_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
                        EVP_MAC_CTX *hctx, int enc) noexcept nogil:
    """Session tickets sealed with the keys of `tls-ticket-keys` as 2.6 seals them (the same
    cipher, MAC and key layout), so that haproxy and pyhaproxy with the same file resume each
    other's tickets: the encrypting key's name, a random IV, AES-CBC, HMAC-SHA256. A ticket
    under one of the other two keys is accepted and renewed (2), an unknown name is a full
    handshake (0)."""
    cdef tls_conn_t *c = <tls_conn_t *>SSL_get_ex_data(ssl, g_tls_ex_conn)
    cdef tls_tkeys_t *tk
    cdef unsigned char *k
    cdef const EVP_CIPHER *ciph
    cdef int i
    if c == NULL or c.tb == NULL or c.tb.tk == NULL:
        return -1
    tk = c.tb.tk
    ciph = EVP_aes_128_cbc() if tk.klen == 16 else EVP_aes_256_cbc()
    if enc:
        k = tk.key[tk.enc]
        memcpy(name, k, 16)
        if RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 \
                or EVP_EncryptInit_ex(ectx, ciph, NULL, k + 16, iv) != 1 \
                or _tls_mac_key(hctx, k + 16 + tk.klen, tk.klen) != 1:
            return -1
        return 1
    for i in range(3):
        k = tk.key[(tk.enc + i) % 3]
        if memcmp(name, k, 16) == 0:
            if _tls_mac_key(hctx, k + 16 + tk.klen, tk.klen) != 1 \
                    or EVP_DecryptInit_ex(ectx, ciph, NULL, k + 16, iv) != 1:
                return -1
            return 2 if i else 1
    return 0


cdef int _tls_verify_cb(int ok, X509_STORE_CTX *x) noexcept nogil:
    """A client certificate (or one of its chain) failed verification: remember the first error
    of each kind (ssl_c_err, ssl_c_ca_err, the log line) and go on only if it is ignored
    (`ca-ignore-err`, `crt-ignore-err`), as haproxy 2.6 does."""
    cdef SSL *ssl
    cdef tls_conn_t *c
    cdef int err, depth
    cdef unsigned long long ign
    ssl = <SSL *>X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx())
    c = <tls_conn_t *>SSL_get_ex_data(ssl, g_tls_ex_conn) if ssl != NULL else NULL
    if c != NULL:
        c.flags |= TLS_VERIFIED     # (PP2_CLIENT_CERT_CONN, as 2.6 marks it in its callback)
    if ok:
        return 1
    if c == NULL or c.tb == NULL:
        return 0
    err = X509_STORE_CTX_get_error(x)
    depth = X509_STORE_CTX_get_error_depth(x)
    if depth > 0:
        if not c.ca_err:
            c.ca_err = err
        ign = c.tb.ca_ign
    else:
        if not c.c_err:
            c.c_err = err
        ign = c.tb.crt_ign
    if 0 <= err < 64 and ign & (1ULL << err):
        ERR_clear_error()
        return 1
    return 0


# ---- I/O on a client connection, TLS or not

cdef inline void _tls_fail(tls_conn_t *c) noexcept nogil:
    c.flags |= TLS_SHUT           # after a fatal error OpenSSL must not be called again


cdef ssize_t tls_recv(int fd, char *buf, size_t n) noexcept nogil:
    """recv(fd, buf, n, MSG_DONTWAIT) in clear: >0 bytes, 0 end of stream (close_notify or FIN),
    -1 with errno (EAGAIN: nothing now; ECONNRESET: the connection failed)."""
    cdef tls_conn_t *c
    cdef int r, e
    cdef size_t got = 0
    if fd >= VFD_BASE:
        return h2v_recv(fd - VFD_BASE, buf, n)
    if g_tls_fd == NULL or fd < 0 or fd >= g_tls_maxfd or g_tls_fd[fd].ssl == NULL:
        return recv(fd, buf, n, MSG_DONTWAIT)
    c = &g_tls_fd[fd]
    if c.flags & TLS_SHUT:
        return 0
    c.flags &= ~TLS_RD_WANT_WR
    while got < n:
        ERR_clear_error()
        r = SSL_read(c.ssl, buf + got, <int>(n - got) if n - got < 0x40000000 else 0x40000000)
        if r > 0:
            got += r
            continue
        e = SSL_get_error(c.ssl, r)
        if got > 0:
            if e == SSL_ERROR_WANT_WRITE:
                c.flags |= TLS_RD_WANT_WR
            elif e != SSL_ERROR_WANT_READ:
                # an end of stream (or a failure) behind the data: the next call says it, and
                # tls_eof_pending() tells the caller to make that call although the socket,
                # drained by OpenSSL, will raise no new edge
                c.flags |= TLS_EOF
                if e != SSL_ERROR_ZERO_RETURN:
                    _tls_fail(c)
            return <ssize_t>got
        if e == SSL_ERROR_WANT_READ:
            tls_set_errno(EAGAIN)
            return -1
        if e == SSL_ERROR_WANT_WRITE:
            c.flags |= TLS_RD_WANT_WR
            tls_set_errno(EAGAIN)
            return -1
        if e == SSL_ERROR_ZERO_RETURN:
            return 0
        _tls_fail(c)
        if e == SSL_ERROR_SYSCALL and errno == 0:
            return 0                  # a FIN without close_notify: an end of stream all the same
        if e == SSL_ERROR_SSL and ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING:
            return 0
        tls_set_errno(ECONNRESET)
        return -1
    return <ssize_t>got


cdef inline int tls_eof_pending(int fd) noexcept nogil:
    """The last tls_recv() returned data with the end of stream behind it (read it now)."""
    return fd < VFD_BASE and tls_ssl(fd) != NULL and (g_tls_fd[fd].flags & TLS_EOF) != 0


cdef ssize_t tls_send(int fd, const char *buf, size_t n) noexcept nogil:
    """send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) in clear. After EAGAIN the same bytes must
    be offered again (they are: the channel keeps them in its buffer)."""
    cdef tls_conn_t *c
    cdef int r, e
    if fd >= VFD_BASE:
        return h2v_send(fd - VFD_BASE, buf, n)
    if g_tls_fd == NULL or fd < 0 or fd >= g_tls_maxfd or g_tls_fd[fd].ssl == NULL:
        return send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT)
    c = &g_tls_fd[fd]
    if c.flags & TLS_SHUT:
        tls_set_errno(EPIPE)
        return -1
    c.flags &= ~TLS_WR_WANT_RD
    if n == 0:
        return 0
    ERR_clear_error()
    r = SSL_write(c.ssl, buf, <int>n if n < 0x40000000 else 0x40000000)
    if r > 0:
        return r
    e = SSL_get_error(c.ssl, r)
    if e == SSL_ERROR_WANT_WRITE:
        tls_set_errno(EAGAIN)
        return -1
    if e == SSL_ERROR_WANT_READ:
        c.flags |= TLS_WR_WANT_RD
        tls_set_errno(EAGAIN)
        return -1
    _tls_fail(c)
    tls_set_errno(EPIPE)
    return -1


cdef inline int tls_fd_events(int fd, int events) noexcept nogil:
    """epoll events of a client fd as its TLS layer sees them: a read that waited for the socket
    to become writable (or a write that waited for input) may go on."""
    cdef SSL *ssl = tls_ssl(fd)
    if ssl == NULL:
        return events
    if (g_tls_fd[fd].flags & TLS_RD_WANT_WR) and (events & EPOLLOUT):
        events |= EPOLLIN
    if (g_tls_fd[fd].flags & TLS_WR_WANT_RD) and (events & EPOLLIN):
        events |= EPOLLOUT
    return events


cdef void tls_shut(int fd) noexcept nogil:
    """Send the close_notify (once, best effort) before the write side is shut or closed."""
    cdef tls_conn_t *c
    if tls_ssl(fd) == NULL:
        return
    c = &g_tls_fd[fd]
    if c.flags & TLS_SHUT or not (c.flags & TLS_HS):
        return
    c.flags |= TLS_SHUT
    ERR_clear_error()
    SSL_shutdown(c.ssl)
    ERR_clear_error()


cdef void tls_release(int fd) noexcept nogil:
    """The connection is being closed: close_notify if still possible, then free its TLS state."""
    if tls_ssl(fd) == NULL:
        return
    tls_shut(fd)
    if g_tls_fd[fd].srv1:
        ctr_srv(g_tls_fd[fd].srv1 - 1).ssl_cur -= 1      # (a client's: sess_close counts it)
    SSL_free(g_tls_fd[fd].ssl)
    g_tls_fd[fd].ssl = NULL
    g_tls_fd[fd].flags = 0
    g_tls_fd[fd].srv1 = 0
    g_tls_fd[fd].tb = NULL


cdef int tls_new(int li, int fd) noexcept nogil:
    """A TLS state for a connection accepted on TLS listener li: 0, or -1 (no memory, fd too high)."""
    cdef tls_bind_t *tb = g_lst_tls[li]
    cdef SSL *ssl
    if fd >= g_tls_maxfd:
        return -1
    ssl = SSL_new(tb.ctx[0])
    if ssl == NULL:
        ERR_clear_error()
        return -1
    SSL_set_fd(ssl, fd)
    SSL_set_accept_state(ssl)
    g_tls_fd[fd].ssl = ssl
    g_tls_fd[fd].flags = 0
    g_tls_fd[fd].srv1 = 0
    g_tls_fd[fd].tb = tb
    g_tls_fd[fd].c_err = 0
    g_tls_fd[fd].ca_err = 0
    SSL_set_ex_data(ssl, g_tls_ex_conn, &g_tls_fd[fd])
    return 0


cdef int tls_handshake(int fd) noexcept nogil:
    """Advance the handshake: 1 done, 0 waiting for the socket, -1 failed (see tls_hs_error)."""
    cdef tls_conn_t *c = &g_tls_fd[fd]
    cdef int r, e
    ERR_clear_error()
    r = SSL_do_handshake(c.ssl)
    if r == 1:
        c.flags |= TLS_HS
        return 1
    e = SSL_get_error(c.ssl, r)
    if e == SSL_ERROR_WANT_READ or e == SSL_ERROR_WANT_WRITE:
        return 0
    _tls_fail(c)
    return -1


cdef int tls_hs_error(int fd) noexcept nogil:
    """After a failed handshake, 2.6's connection error code for it (connerr.pxi): nothing of a
    TLS handshake was received (closed, or an error), or a handshake that went wrong."""
    cdef int code
    if g_tls_fd[fd].c_err:
        code = CO_ER_SSL_CRT_FAIL
    elif g_tls_fd[fd].ca_err:
        code = CO_ER_SSL_CA_FAIL
    elif SSL_get_state(g_tls_fd[fd].ssl) == TLS_ST_BEFORE and not (g_tls_fd[fd].flags & TLS_GOT_HELLO) \
            and ERR_GET_REASON(ERR_peek_error()) != SSL_R_HTTP_REQUEST:
        if errno == 0 or ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING:
            code = CO_ER_SSL_EMPTY
        else:
            code = CO_ER_SSL_ABORT
    else:
        code = CO_ER_SSL_HANDSHAKE
    ERR_clear_error()
    return code


# ---- start-up (Python)

_TLS_VERSIONS = {"SSLv3": SSL3_VERSION, "TLSv1.0": TLS1_VERSION, "TLSv1.1": TLS1_1_VERSION,
                 "TLSv1.2": TLS1_2_VERSION, "TLSv1.3": TLS1_3_VERSION}


cdef str _tls_errors():
    cdef char b[256]
    cdef unsigned long e
    out = []
    while True:
        e = ERR_get_error()
        if e == 0:
            break
        ERR_error_string_n(e, b, 256)
        out.append(b[:strlen(b)].decode("latin-1"))
    return "; ".join(out) or "unknown error"


cdef int tls_ctx_protocol(SSL_CTX *ctx, object cfg) except -1:
    """What a context of either side has: the options and modes every TLS connection here uses,
    the version range (TLSv1.2 up by default, as 2.6), `ciphers`, `ciphersuites` (cfg: a
    BindTLS or a ServerTLS). Raises ValueError; the caller frees ctx."""
    cdef bytes b
    # (a FIN without close_notify is an end of stream, without an alert, as in haproxy)
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF)
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                     | SSL_MODE_RELEASE_BUFFERS)
    SSL_CTX_set_min_proto_version(ctx, _TLS_VERSIONS[cfg.min_ver] if cfg.min_ver else TLS1_2_VERSION)
    SSL_CTX_set_max_proto_version(ctx, _TLS_VERSIONS[cfg.max_ver] if cfg.max_ver else 0)
    if cfg.ciphers:
        b = cfg.ciphers.encode()
        if SSL_CTX_set_cipher_list(ctx, b) != 1:
            raise ValueError(f"unable to set SSL cipher list to '{cfg.ciphers}': {_tls_errors()}")
    if cfg.ciphersuites:
        b = cfg.ciphersuites.encode()
        if SSL_CTX_set_ciphersuites(ctx, b) != 1:
            raise ValueError(f"unable to set TLS 1.3 cipher suites to '{cfg.ciphersuites}': {_tls_errors()}")
    return 0


cdef EVP_PKEY *_tls_dh_file(bytes path) noexcept:
    """The DH parameters of a PEM file, NULL when it has none (the error queue cleared)."""
    cdef BIO *bio = BIO_new_file(path, b"r")
    cdef EVP_PKEY *pk = NULL
    if bio != NULL:
        pk = PEM_read_bio_Parameters(bio, NULL)
        BIO_free(bio)
    if pk == NULL:
        ERR_clear_error()
    return pk


cdef int _tls_dh(SSL_CTX *ctx, object cfg, bytes crtpath) except -1:
    """DHE key exchange as 2.6 enables it: the DH parameters of the certificate file, else those
    of `ssl-dh-param-file`, else RFC 7919's group of `tune.ssl.default-dh-param` bits, no larger
    than an RSA key (2048, 3072 or 4096: 2.6 picks the same ffdhe groups); none of these, no DHE
    (ECDHE only), as 2.6 with OpenSSL 3 does."""
    cdef EVP_PKEY *pk = _tls_dh_file(crtpath)
    cdef EVP_PKEY *key
    cdef EVP_PKEY_CTX *pc
    cdef OSSL_PARAM prm[2]
    cdef int bits
    cdef bytes group
    if pk == NULL and cfg.dh_file:
        pk = _tls_dh_file(cfg.dh_file.encode())
        if pk == NULL:
            raise ValueError(f"unable to load DH parameters from file <{cfg.dh_file}>.")
    if pk == NULL and cfg.dh_bits >= 2048:
        bits = cfg.dh_bits
        key = SSL_CTX_get0_privatekey(ctx)
        if key != NULL and EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA and EVP_PKEY_get_bits(key) < bits:
            bits = EVP_PKEY_get_bits(key)
        group = b"ffdhe4096" if bits >= 4096 else b"ffdhe3072" if bits >= 3072 else b"ffdhe2048"
        pc = EVP_PKEY_CTX_new_from_name(NULL, b"DH", NULL)
        prm[0] = OSSL_PARAM_construct_utf8_string(b"group", <char *>group, 0)
        prm[1] = OSSL_PARAM_construct_end()
        if pc == NULL or EVP_PKEY_paramgen_init(pc) != 1 or EVP_PKEY_CTX_set_params(pc, prm) != 1 \
                or EVP_PKEY_paramgen(pc, &pk) != 1:
            pk = NULL
        EVP_PKEY_CTX_free(pc)
        if pk == NULL:
            raise ValueError(f"unable to set the DH group {group.decode()}: {_tls_errors()}")
    if pk != NULL and SSL_CTX_set0_tmp_dh_pkey(ctx, pk) != 1:
        EVP_PKEY_free(pk)
        raise ValueError(f"unable to set the DH parameters: {_tls_errors()}")
    return 0


cdef SSL_CTX *_tls_ctx(object cfg, object crt, tls_bind_t *tb, tls_ctxopt_t *o) except NULL:
    """One context: the certificate file crt (PEM: certificate, chain, key) with the bind's settings."""
    cdef SSL_CTX *ctx = SSL_CTX_new(TLS_server_method())
    cdef bytes b
    if ctx == NULL:
        raise MemoryError()
    path = str(crt.path).encode()
    if SSL_CTX_use_certificate_chain_file(ctx, path) != 1:
        SSL_CTX_free(ctx)
        raise ValueError(f"unable to load SSL certificate from PEM file '{crt.path}': {_tls_errors()}")
    if SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1 or SSL_CTX_check_private_key(ctx) != 1:
        SSL_CTX_free(ctx)
        raise ValueError(f"unable to load SSL private key from PEM file '{crt.path}': {_tls_errors()}")
    # The chain sent is the file's, never one OpenSSL builds from the verify store (the
    # `ca-file` of client certificates) on every handshake: 2.6 sets an explicit chain, empty
    # when the file has none, "so it does not try to build the chain from the verify store";
    # building it cost an X509_verify_cert() per handshake, ~20 % of a full ECDSA handshake.
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN)
    try:
        tls_ctx_protocol(ctx, cfg)
    except BaseException:
        SSL_CTX_free(ctx)
        raise
    if not cfg.prefer_client_ciphers:
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE)
    try:
        _tls_dh(ctx, cfg, path)
    except BaseException:
        SSL_CTX_free(ctx)
        raise
    if cfg.curves:
        b = cfg.curves.encode()
        if SSL_CTX_set1_groups_list(ctx, b) != 1:
            SSL_CTX_free(ctx)
            raise ValueError(f"unable to set SSL curves list to '{cfg.curves}': {_tls_errors()}")
    elif cfg.ecdhe:
        # `ecdhe`: with OpenSSL >= 1.1.1 the list of groups, as 2.6 sets it (only without `curves`)
        b = cfg.ecdhe.encode()
        if SSL_CTX_set1_curves_list(ctx, b) != 1:
            SSL_CTX_free(ctx)
            raise ValueError(f"unable to set elliptic named curve to '{cfg.ecdhe}': {_tls_errors()}")
    if cfg.no_tls_tickets:
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET)
    elif tb.tk != NULL:
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, _tls_ticket_cb)     # `tls-ticket-keys FILE`
    else:
        # the same ticket keys in every context of the bind and every worker (drawn once by the
        # master while it read the configuration): a ticket resumes on whichever worker accepts
        b = bytes(cfg.ticket_keys)
        if len(b) != 80 or SSL_CTX_set_tlsext_ticket_keys(ctx, <char *>b, 80) != 1:
            SSL_CTX_free(ctx)
            raise ValueError(f"unable to set the TLS ticket keys: {_tls_errors()}")
    # (2.6's session ID context: a session carries it, and one from another context is never
    # resumed; haproxy's tickets, same keys, resume here and ours there)
    SSL_CTX_set_session_id_context(ctx, <const unsigned char *>b"haproxy", 7)
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER)
    tlsc_attach(ctx)        # the workers' shared cache, when the master made one (tlscache.pxi)
    SSL_CTX_set_tlsext_servername_callback(ctx, _tls_sni_cb)
    SSL_CTX_set_tlsext_servername_arg(ctx, tb)
    SSL_CTX_set_alpn_select_cb(ctx, _tls_alpn_cb, o)
    if o.npn_len:
        SSL_CTX_set_next_protos_advertised_cb(ctx, _tls_npn_cb, o)
    SSL_CTX_set_client_hello_cb(ctx, _tls_hello_cb, tb)
    if cfg.verify != "none":
        _tls_client_ca(ctx, cfg)
    return ctx


cdef int _tls_client_ca(SSL_CTX *ctx, object cfg) except -1:
    """`verify optional|required` with `ca-file` (the CA names sent in the request too),
    `ca-verify-file` (not sent) and `crl-file`: client certificates asked and checked."""
    cdef stack_st_X509_NAME *names = NULL
    cdef X509_STORE *st
    cdef bytes b
    for f in cfg.ca_files:
        b = str(f).encode()
        if SSL_CTX_load_verify_locations(ctx, b, NULL) != 1:
            SSL_CTX_free(ctx)
            raise ValueError(f"unable to load CA file '{f}': {_tls_errors()}")
        if cfg.no_ca_names:     # `no-ca-names`: the request names no CA (2.6 sets no list)
            continue
        if names == NULL:
            names = SSL_load_client_CA_file(b)
        else:
            SSL_add_file_cert_subjects_to_stack(names, b)
    if names != NULL:
        SSL_CTX_set_client_CA_list(ctx, names)
    for f in cfg.ca_verify_files:       # `ca-verify-file`: to verify with, their names not sent
        b = str(f).encode()
        if SSL_CTX_load_verify_locations(ctx, b, NULL) != 1:
            SSL_CTX_free(ctx)
            raise ValueError(f"unable to load CA file '{f}': {_tls_errors()}")
    if cfg.crl_file:
        st = SSL_CTX_get_cert_store(ctx)
        b = str(cfg.crl_file).encode()
        if X509_STORE_load_file(st, b) != 1:
            SSL_CTX_free(ctx)
            raise ValueError(f"unable to configure CRL file '{cfg.crl_file}': {_tls_errors()}")
        X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL)
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (SSL_VERIFY_FAIL_IF_NO_PEER_CERT if cfg.verify == "required"
                                               else 0), _tls_verify_cb)
    ERR_clear_error()
    return 0


cdef tls_bind_t *_tls_bind(object cfg, int luid, str lname) except NULL:
    cdef tls_bind_t *tb = <tls_bind_t *>calloc(1, sizeof(tls_bind_t))
    cdef int i, k
    cdef bytes b
    if tb == NULL:
        raise MemoryError()
    crts = list(cfg.certs)
    names = [(name, k) for k, crt in enumerate(crts) for name in crt.names][:TLS_MAX_NAMES]
    names += [("!" + name, k) for k, crt in enumerate(crts) for name in crt.excluded]
    names = names[:TLS_MAX_NAMES]
    tb.ctx = <SSL_CTX **>calloc(max(1, len(crts)), sizeof(SSL_CTX *))
    tb.opt = <tls_ctxopt_t *>calloc(max(1, len(crts)), sizeof(tls_ctxopt_t))
    tb.names = <tls_name_t *>calloc(max(1, len(names)), sizeof(tls_name_t))
    if tb.ctx == NULL or tb.names == NULL or tb.opt == NULL:
        raise MemoryError()
    if cfg.ticket_klen:
        tb.tk = <tls_tkeys_t *>calloc(1, sizeof(tls_tkeys_t))
        if tb.tk == NULL:
            raise MemoryError()
        for k in range(3):
            b = bytes(cfg.ticket_ring[k])
            memcpy(tb.tk.key[k], <const char *>b, min(len(b), 80))
        tb.tk.enc = cfg.ticket_enc
        tb.tk.klen = cfg.ticket_klen
    for k, crt in enumerate(crts):
        own = crt.opts if crt.opts is not None else cfg      # a crt-list line's settings
        b = b"".join(bytes([len(p)]) + p.encode() for p in own.alpn)[:255]
        memcpy(tb.opt[k].alpn, <const char *>b, len(b))
        tb.opt[k].alpn_len = len(b)
        b = (own.curves or own.ecdhe or "").encode()[:255]
        memcpy(tb.opt[k].curves, <const char *>b, len(b))
        b = b"".join(bytes([len(p)]) + p.encode() for p in own.npn)[:255]
        memcpy(tb.opt[k].npn, <const char *>b, len(b))
        tb.opt[k].npn_len = len(b)
        tb.ctx[k] = _tls_ctx(own, crt, tb, &tb.opt[k])
        tb.nctx = k + 1
    for i, (name, k) in enumerate(names):
        name = name.lower()
        neg = name.startswith("!")
        name = name.lstrip("!")
        wild = name.startswith("*.") and not neg
        b = (name[1:] if wild else name).encode("idna" if not name.isascii() else "ascii")
        tb.names[i].name = <char *>malloc(len(b) + 1)
        if tb.names[i].name == NULL:
            raise MemoryError()
        memcpy(tb.names[i].name, <const char *>b, len(b))
        tb.names[i].name[len(b)] = 0
        tb.names[i].len = len(b)
        tb.names[i].wild = 1 if wild else 0
        tb.names[i].neg = 1 if neg else 0
        tb.names[i].ctx = k
        tb.nnames = i + 1
    tb.verify = {"none": TLS_VERIFY_NONE, "optional": TLS_VERIFY_OPTIONAL, "required": TLS_VERIFY_REQUIRED}[cfg.verify]
    tb.strict_sni = 1 if cfg.strict_sni else 0
    tb.ca_ign = cfg.ca_ignore_err
    tb.crt_ign = cfg.crt_ignore_err
    tb.luid = luid
    b = lname.encode()[:63]
    memcpy(tb.lname, <const char *>b, len(b))
    tb.lname_len = len(b)
    return tb


cdef int tls_fd_table() except -1:
    """The fd-indexed TLS states, shared by client (bind ... ssl) and server (server ... ssl)
    connections: allocated once, when either side has TLS."""
    global g_tls_fd, g_tls_maxfd, g_tls_ex_conn
    cdef int maxfd
    if g_tls_fd != NULL:
        return 0
    import resource
    maxfd = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 1 << 24)
    g_tls_fd = <tls_conn_t *>calloc(maxfd, sizeof(tls_conn_t))
    if g_tls_fd == NULL:
        raise MemoryError()
    g_tls_maxfd = maxfd
    g_tls_ex_conn = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL)
    return 0


cdef int tls_setup(list tls) except -1:
    """tls: per listener, its TLS settings (pyhaproxy/config/tls.py BindTLS, with `luid` and
    `lname` of the listener) or None. Builds every context before the loop starts."""
    global g_lst_tls
    cdef int li
    if not any(t is not None for t in tls):
        return 0
    tls_fd_table()
    g_lst_tls = <tls_bind_t **>calloc(max(1, len(tls)), sizeof(tls_bind_t *))
    if g_lst_tls == NULL:
        raise MemoryError()
    for li, item in enumerate(tls):
        if item is not None:
            cfg, luid, lname = item
            g_lst_tls[li] = _tls_bind(cfg, luid, lname)
    return 0


def tls_check(object cfg) -> None:
    """Build (then free) the contexts of one `bind ... ssl` (pyhaproxy/config/tls.py BindTLS), as
    the worker will: the parser calls it so that `-c` and the master refuse what OpenSSL refuses
    (a certificate, a cipher list, cipher suites, curves). Raises ValueError."""
    cdef tls_bind_t *tb = _tls_bind(cfg, 1, "")
    cdef int i
    for i in range(tb.nctx):
        SSL_CTX_free(tb.ctx[i])
    for i in range(tb.nnames):
        free(tb.names[i].name)
    free(tb.ctx)
    free(tb.opt)
    free(tb.names)
    free(tb.tk)
    free(tb)
