# OpenSSL 3.0 (Debian's libssl-dev): the part of the API the worker's TLS layer uses (ext/tls.pxi).
# Several of these are macros in the headers (SSL_CTX_set_mode, SSL_CTX_set_min_proto_version,
# SSL_CTX_set_tlsext_servername_callback...): declared here as the functions they expand to.

cdef extern from "<openssl/ssl.h>" nogil:
    ctypedef struct SSL_CTX:
        pass
    ctypedef struct SSL:
        pass
    ctypedef struct SSL_METHOD:
        pass
    ctypedef struct SSL_CIPHER:
        pass
    ctypedef struct SSL_SESSION:
        pass
    ctypedef struct X509_STORE_CTX:
        pass
    ctypedef struct X509:
        pass
    ctypedef struct X509_NAME:
        pass
    ctypedef struct X509_NAME_ENTRY:
        pass
    ctypedef struct X509_STORE:
        pass
    ctypedef struct ASN1_STRING:
        pass
    ctypedef struct ASN1_OBJECT:
        pass
    ctypedef struct EVP_MD:
        pass
    cdef struct stack_st_X509_NAME:
        pass

    const SSL_METHOD *TLS_server_method()
    const SSL_METHOD *TLS_client_method()
    SSL_CTX *SSL_CTX_new(const SSL_METHOD *meth)
    void SSL_CTX_free(SSL_CTX *ctx)
    int SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx, const char *file)
    int SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file, int type)
    int SSL_CTX_check_private_key(const SSL_CTX *ctx)
    unsigned long long SSL_CTX_set_options(SSL_CTX *ctx, unsigned long long op)
    long SSL_CTX_set_mode(SSL_CTX *ctx, long mode)
    int SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version)
    int SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version)
    int SSL_CTX_set_cipher_list(SSL_CTX *ctx, const char *s)
    int SSL_CTX_set_ciphersuites(SSL_CTX *ctx, const char *s)
    int SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *s)
    int SSL_CTX_set1_curves_list(SSL_CTX *ctx, const char *s)       # `ecdhe` (a macro: the groups)
    int SSL_CTX_set_session_id_context(SSL_CTX *ctx, const unsigned char *sid, unsigned int len)
    long SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode)
    long SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *) noexcept nogil)
    long SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg)
    void SSL_CTX_set_alpn_select_cb(SSL_CTX *ctx,
                                    int (*cb)(SSL *, const unsigned char **, unsigned char *,
                                              const unsigned char *, unsigned int, void *) noexcept nogil,
                                    void *arg)
    # `npn`: the protocols advertised in the ServerHello (TLS 1.2 and below)
    void SSL_CTX_set_next_protos_advertised_cb(SSL_CTX *ctx,
                                               int (*cb)(SSL *, const unsigned char **, unsigned int *,
                                                         void *) noexcept nogil,
                                               void *arg)
    void SSL_get0_next_proto_negotiated(const SSL *s, const unsigned char **data, unsigned int *len)
    int SSL_select_next_proto(unsigned char **out, unsigned char *outlen, const unsigned char *server,
                              unsigned int server_len, const unsigned char *client,
                              unsigned int client_len)
    long SSL_CTX_set_tlsext_ticket_keys(SSL_CTX *ctx, void *keys, long keylen)
    # the server side (tlssrv.pxi): verification, client certificate, session reuse, ALPN
    int SSL_CTX_load_verify_locations(SSL_CTX *ctx, const char *CAfile, const char *CApath)
    int SSL_CTX_set_default_verify_paths(SSL_CTX *ctx)
    void SSL_CTX_set_verify(SSL_CTX *ctx, int mode, int (*cb)(int, X509_STORE_CTX *) noexcept nogil)
    # client certificates on a bind (tls.pxi): CA names sent, CRLs, the verify callback, fetches
    stack_st_X509_NAME *SSL_load_client_CA_file(const char *file)
    int SSL_add_file_cert_subjects_to_stack(stack_st_X509_NAME *stk, const char *file)
    void SSL_CTX_set_client_CA_list(SSL_CTX *ctx, stack_st_X509_NAME *names)
    X509_STORE *SSL_CTX_get_cert_store(const SSL_CTX *ctx)
    int SSL_get_ex_data_X509_STORE_CTX_idx()
    X509 *SSL_get1_peer_certificate(const SSL *ssl)
    # crt-list: what SSL_set_SSL_CTX leaves on the SSL, set again from the chosen context
    int SSL_CTX_get_verify_mode(const SSL_CTX *ctx)
    void SSL_set_verify(SSL *ssl, int mode, int (*cb)(int, X509_STORE_CTX *) noexcept nogil)
    int SSL_CTX_get_min_proto_version(SSL_CTX *ctx)
    int SSL_CTX_get_max_proto_version(SSL_CTX *ctx)
    int SSL_set_min_proto_version(SSL *ssl, int version)
    int SSL_set_max_proto_version(SSL *ssl, int version)
    int SSL_set1_groups_list(SSL *ssl, const char *s)
    void SSL_set_client_CA_list(SSL *ssl, stack_st_X509_NAME *names)
    void SSL_CTX_set_client_hello_cb(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *) noexcept nogil, void *arg)
    int SSL_client_hello_get0_ext(SSL *ssl, unsigned int type, const unsigned char **out, size_t *outlen)
    void SSL_CTX_sess_set_new_cb(SSL_CTX *ctx, int (*cb)(SSL *, SSL_SESSION *) noexcept nogil)
    int SSL_CTX_set_alpn_protos(SSL_CTX *ctx, const unsigned char *protos, unsigned int len)
    void SSL_set_connect_state(SSL *ssl)
    long SSL_set_tlsext_host_name(SSL *ssl, const char *name)
    int SSL_set1_host(SSL *ssl, const char *hostname)
    int SSL_set_session(SSL *ssl, SSL_SESSION *session)
    void SSL_SESSION_free(SSL_SESSION *session)
    # the shared session cache (tlscache.pxi)
    void SSL_CTX_sess_set_get_cb(SSL_CTX *ctx, SSL_SESSION *(*cb)(SSL *, const unsigned char *, int, int *) noexcept nogil)
    void SSL_CTX_sess_set_remove_cb(SSL_CTX *ctx, void (*cb)(SSL_CTX *, SSL_SESSION *) noexcept nogil)
    const unsigned char *SSL_SESSION_get_id(const SSL_SESSION *s, unsigned int *len)
    long SSL_SESSION_get_time(const SSL_SESSION *s)
    long SSL_SESSION_get_timeout(const SSL_SESSION *s)
    int SSL_SESSION_get_protocol_version(const SSL_SESSION *s)
    unsigned long long SSL_get_options(const SSL *ssl)
    int i2d_SSL_SESSION(const SSL_SESSION *s, unsigned char **pp)
    SSL_SESSION *d2i_SSL_SESSION(SSL_SESSION **a, const unsigned char **pp, long length)
    long SSL_get_verify_result(const SSL *ssl)

    SSL *SSL_new(SSL_CTX *ctx)
    void SSL_free(SSL *ssl)
    int SSL_set_fd(SSL *ssl, int fd)
    void SSL_set_accept_state(SSL *ssl)
    SSL_CTX *SSL_set_SSL_CTX(SSL *ssl, SSL_CTX *ctx)
    SSL_CTX *SSL_get_SSL_CTX(const SSL *ssl)
    int SSL_do_handshake(SSL *ssl)
    int SSL_is_init_finished(const SSL *ssl)
    int SSL_read(SSL *ssl, void *buf, int num)
    int SSL_write(SSL *ssl, const void *buf, int num)
    int SSL_get_error(const SSL *ssl, int ret)
    int SSL_shutdown(SSL *ssl)
    void SSL_set_quiet_shutdown(SSL *ssl, int mode)
    const char *SSL_get_servername(const SSL *ssl, int type)
    const char *SSL_get_version(const SSL *ssl)
    const SSL_CIPHER *SSL_get_current_cipher(const SSL *ssl)
    const char *SSL_CIPHER_get_name(const SSL_CIPHER *c)
    void SSL_get0_alpn_selected(const SSL *ssl, const unsigned char **data, unsigned int *len)
    int SSL_session_reused(const SSL *ssl)
    int SSL_get_ex_new_index(long argl, void *argp, void *newf, void *dupf, void *freef)
    int SSL_set_ex_data(SSL *ssl, int idx, void *data)
    void *SSL_get_ex_data(const SSL *ssl, int idx)

    enum:
        SSL_FILETYPE_PEM
        SSL_ERROR_NONE
        SSL_ERROR_SSL
        SSL_ERROR_WANT_READ
        SSL_ERROR_WANT_WRITE
        SSL_ERROR_SYSCALL
        SSL_ERROR_ZERO_RETURN
        SSL_MODE_ENABLE_PARTIAL_WRITE
        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
        SSL_MODE_RELEASE_BUFFERS
        SSL_MODE_NO_AUTO_CHAIN
        SSL_OP_NO_RENEGOTIATION
        SSL_OP_IGNORE_UNEXPECTED_EOF
        SSL_OP_NO_COMPRESSION
        SSL_OP_CIPHER_SERVER_PREFERENCE
        SSL_OP_NO_TICKET
        SSL_SESS_CACHE_SERVER
        SSL_SESS_CACHE_CLIENT
        SSL_SESS_CACHE_NO_INTERNAL_STORE
        SSL_SESS_CACHE_NO_INTERNAL
        SSL_VERIFY_NONE
        SSL_VERIFY_PEER
        SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        SSL_SESS_CACHE_OFF
        TLSEXT_NAMETYPE_host_name
        TLSEXT_TYPE_server_name
        SSL_CLIENT_HELLO_SUCCESS
        SSL_CLIENT_HELLO_ERROR
        SSL_AD_UNRECOGNIZED_NAME
        SSL_TLSEXT_ERR_OK
        SSL_TLSEXT_ERR_NOACK
        SSL_TLSEXT_ERR_ALERT_FATAL
        OPENSSL_NPN_NEGOTIATED
        SSL3_VERSION
        TLS1_VERSION
        TLS1_1_VERSION
        TLS1_2_VERSION
        TLS1_3_VERSION

cdef extern from "<openssl/err.h>" nogil:
    void ERR_clear_error()
    unsigned long ERR_get_error()
    unsigned long ERR_peek_error()
    void ERR_error_string_n(unsigned long e, char *buf, size_t len)
    int ERR_GET_REASON(unsigned long e)

cdef extern from "<openssl/sslerr.h>" nogil:
    enum:
        SSL_R_HTTP_REQUEST
        SSL_R_UNEXPECTED_EOF_WHILE_READING

cdef extern from "<openssl/ssl.h>" nogil:
    ctypedef enum OSSL_HANDSHAKE_STATE:
        TLS_ST_BEFORE
    OSSL_HANDSHAKE_STATE SSL_get_state(const SSL *ssl)

cdef extern from "<openssl/x509.h>" nogil:
    void *X509_STORE_CTX_get_ex_data(const X509_STORE_CTX *ctx, int idx)
    int X509_STORE_CTX_get_error(const X509_STORE_CTX *ctx)
    int X509_STORE_CTX_get_error_depth(const X509_STORE_CTX *ctx)
    int X509_STORE_load_file(X509_STORE *st, const char *file)
    int X509_STORE_set_flags(X509_STORE *st, unsigned long flags)
    void X509_free(X509 *x)
    X509_NAME *X509_get_subject_name(const X509 *x)
    X509_NAME *X509_get_issuer_name(const X509 *x)
    char *X509_NAME_oneline(const X509_NAME *a, char *buf, int size)
    int X509_NAME_entry_count(const X509_NAME *name)
    X509_NAME_ENTRY *X509_NAME_get_entry(const X509_NAME *name, int loc)
    ASN1_OBJECT *X509_NAME_ENTRY_get_object(const X509_NAME_ENTRY *ne)
    ASN1_STRING *X509_NAME_ENTRY_get_data(const X509_NAME_ENTRY *ne)
    ASN1_STRING *X509_get_serialNumber(X509 *x)
    long X509_get_version(const X509 *x)
    int X509_digest(const X509 *data, const EVP_MD *type, unsigned char *md, unsigned int *len)
    enum:
        X509_V_FLAG_CRL_CHECK
        X509_V_FLAG_CRL_CHECK_ALL

cdef extern from "<openssl/objects.h>" nogil:
    int OBJ_obj2nid(const ASN1_OBJECT *o)
    const char *OBJ_nid2sn(int n)
    const char *OBJ_nid2ln(int n)

cdef extern from "<openssl/asn1.h>" nogil:
    const unsigned char *ASN1_STRING_get0_data(const ASN1_STRING *x)
    int ASN1_STRING_length(const ASN1_STRING *x)

cdef extern from "<openssl/evp.h>" nogil:
    const EVP_MD *EVP_sha1()

# `tls-ticket-keys FILE` (tls.pxi): the ticket key callback, 2.6's key layout (AES-CBC, HMAC-SHA256)
cdef extern from "<openssl/evp.h>" nogil:
    ctypedef struct EVP_CIPHER_CTX:
        pass
    ctypedef struct EVP_CIPHER:
        pass
    ctypedef struct EVP_MAC_CTX:
        pass
    ctypedef struct ENGINE:
        pass
    const EVP_MD *EVP_sha256()
    const char *EVP_MD_get0_name(const EVP_MD *md)
    const EVP_CIPHER *EVP_aes_128_cbc()
    const EVP_CIPHER *EVP_aes_256_cbc()
    int EVP_EncryptInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *t, ENGINE *impl, const unsigned char *key,
                           const unsigned char *iv)
    int EVP_DecryptInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *t, ENGINE *impl, const unsigned char *key,
                           const unsigned char *iv)
    enum:
        EVP_MAX_IV_LENGTH

cdef extern from "<openssl/core.h>" nogil:
    ctypedef struct OSSL_PARAM:
        const char *key

cdef extern from "<openssl/params.h>" nogil:
    OSSL_PARAM OSSL_PARAM_construct_octet_string(const char *key, void *buf, size_t bsize)
    OSSL_PARAM OSSL_PARAM_construct_utf8_string(const char *key, char *buf, size_t bsize)
    OSSL_PARAM OSSL_PARAM_construct_end()

cdef extern from "<openssl/core_names.h>" nogil:
    const char *OSSL_MAC_PARAM_KEY
    const char *OSSL_MAC_PARAM_DIGEST

cdef extern from "<openssl/rand.h>" nogil:
    int RAND_bytes(unsigned char *buf, int num)

cdef extern from "<openssl/ssl.h>" nogil:
    int EVP_MAC_CTX_set_params(EVP_MAC_CTX *ctx, const OSSL_PARAM *params)
    int SSL_CTX_set_tlsext_ticket_key_evp_cb(
        SSL_CTX *ctx, int (*fp)(SSL *, unsigned char *, unsigned char *, EVP_CIPHER_CTX *, EVP_MAC_CTX *,
                                int) noexcept nogil)

# the PROXY v2 SSL TLV (tls.pxi tls_pp2_ssl): the frontend certificate's key and signature
cdef extern from "<openssl/ssl.h>" nogil:
    X509 *SSL_get_certificate(const SSL *ssl)

cdef extern from "<openssl/x509.h>" nogil:
    ctypedef struct EVP_PKEY:
        pass
    EVP_PKEY *X509_get0_pubkey(const X509 *x)
    int X509_get_signature_nid(const X509 *x)

cdef extern from "<openssl/evp.h>" nogil:
    int EVP_PKEY_get_base_id(const EVP_PKEY *pkey)
    int EVP_PKEY_get_bits(const EVP_PKEY *pkey)
    enum:
        EVP_PKEY_RSA
        EVP_PKEY_EC
        EVP_PKEY_DSA

# DHE (tls.pxi _tls_dh): DH parameters from a PEM file, or RFC 7919's named groups
cdef extern from "<openssl/bio.h>" nogil:
    ctypedef struct BIO:
        pass
    BIO *BIO_new_file(const char *filename, const char *mode)
    int BIO_free(BIO *a)

cdef extern from "<openssl/pem.h>" nogil:
    EVP_PKEY *PEM_read_bio_Parameters(BIO *bp, EVP_PKEY **x)

cdef extern from "<openssl/evp.h>" nogil:
    ctypedef struct EVP_PKEY_CTX:
        pass
    ctypedef struct OSSL_LIB_CTX:
        pass
    EVP_PKEY_CTX *EVP_PKEY_CTX_new_from_name(OSSL_LIB_CTX *libctx, const char *name, const char *propquery)
    int EVP_PKEY_paramgen_init(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_CTX_set_params(EVP_PKEY_CTX *ctx, const OSSL_PARAM *params)
    int EVP_PKEY_paramgen(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey)
    void EVP_PKEY_CTX_free(EVP_PKEY_CTX *ctx)
    void EVP_PKEY_free(EVP_PKEY *pkey)

cdef extern from "<openssl/ssl.h>" nogil:
    int SSL_CTX_set0_tmp_dh_pkey(SSL_CTX *ctx, EVP_PKEY *dhpkey)
    EVP_PKEY *SSL_CTX_get0_privatekey(const SSL_CTX *ctx)
