# The PROXY protocol's bytes (v1 text, v2 binary; /work/ref/proxy-protocol.txt): `pp_parse`
# reads a header received on an `accept-proxy` listener, `pp_build` writes the one a
# `send-proxy` / `send-proxy-v2` server gets. Plain C on bytes and addresses, nothing of the
# worker (pyhaproxy._h1test wraps them for the unit tests); the wait for a header (a session in
# ST_PROXY) is the loop's (loop.pxi), the log line of a refused one logline.pxi's.

cpdef enum pp_opt:
    # server proxy-v2-options (srv_conf_t.pp_opts), bits; the parser's words map onto them
    PP_OPT_CRC32C = 1
    PP_OPT_AUTHORITY = 2   # pass on the AUTHORITY TLV the client's own header carried
    PP_OPT_SSL = 4         # the PP2_TYPE_SSL TLV (the client's TLS: tls.pxi tls_pp2_ssl)
    PP_OPT_SSL_CN = 8      # ... with the client certificate's CN
    PP_OPT_SSL_CIPHER = 16 # ... the cipher
    PP_OPT_SSL_SIG = 32    # ... the signature algorithm of the frontend's certificate
    PP_OPT_SSL_KEY = 64    # ... and its key's ("RSA2048", "EC256")


cdef enum:
    # pp_parse results (< 0), with haproxy 2.6's connection error codes' messages
    PP_ERR_EMPTY = -1      # closed before sending anything
    PP_ERR_ABORT = -2      # error while waiting (reset)
    PP_ERR_TIMEOUT = -3    # `timeout client` passed before a complete header
    PP_ERR_TRUNCATED = -4  # closed inside the header, or a header larger than we can hold
    PP_ERR_NOT_HDR = -5    # neither "PROXY " nor the v2 signature
    PP_ERR_BAD_HDR = -6    # a malformed header
    PP_ERR_BAD_PROTO = -7  # v1 with a protocol other than TCP4, TCP6, UNKNOWN

    PP_V1_MAX = 107        # the longest v1 line, CRLF included
    PP_V2_HDR = 16
    PP_PEEK_MAX = 16384    # a v2 header longer than this is refused (haproxy 2.6: its buffer size)

    PP_AUTHORITY_MAX = 255
    PP_SSL_TLV_MAX = 512   # the SSL TLV and its sub-TLVs (each string cut to fit)
    PP_BUILD_MAX = 16 + 36 + 7 + 3 + 255 + 512   # the longest header pp_build writes

    # v2 TLV types that are checked
    PP2_TYPE_AUTHORITY = 0x02
    PP2_TYPE_CRC32C = 0x03
    PP2_TYPE_UNIQUE_ID = 0x05
    PP2_TYPE_SSL = 0x20
    PP2_SUBTYPE_SSL_VERSION = 0x21
    PP2_SUBTYPE_SSL_CN = 0x22
    PP2_SUBTYPE_SSL_CIPHER = 0x23
    PP2_SUBTYPE_SSL_SIG_ALG = 0x24
    PP2_SUBTYPE_SSL_KEY_ALG = 0x25
    PP2_CLIENT_SSL = 0x01
    PP2_CLIENT_CERT_CONN = 0x02
    PP2_CLIENT_CERT_SESS = 0x04


cdef const char *PP_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"

cdef uint32_t g_crc32c_table[256]
cdef int g_crc32c_ready = 0


cdef int pp_conn_err(int err) noexcept nogil:
    """A pp_parse error as 2.6's connection error code (connerr.pxi: they run in the same order)."""
    if err < PP_ERR_BAD_PROTO or err > PP_ERR_EMPTY:
        return CO_ER_PRX_EMPTY + (PP_ERR_EMPTY - PP_ERR_BAD_HDR)
    return CO_ER_PRX_EMPTY + (PP_ERR_EMPTY - err)


cdef uint32_t pp_crc32c(const uint8_t *p, int n) noexcept nogil:
    """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) as the v2 CRC32C TLV carries it."""
    global g_crc32c_ready
    cdef uint32_t c, k
    cdef int i, j
    if not g_crc32c_ready:
        for i in range(256):
            k = <uint32_t>i
            for j in range(8):
                k = (k >> 1) ^ (<uint32_t>0x82F63B78 if (k & 1) else <uint32_t>0)
            g_crc32c_table[i] = k
        g_crc32c_ready = 1
    c = <uint32_t>0xFFFFFFFF
    for i in range(n):
        c = g_crc32c_table[(c ^ p[i]) & 0xff] ^ (c >> 8)
    return c ^ <uint32_t>0xFFFFFFFF


# ---- reading a header

cdef int pp_uint(const char *s, int n, int maxv) noexcept nogil:
    """A decimal number of 1 to 5 digits, at most maxv, without a leading zero (the v1 ports
    and IPv4 bytes); -1 otherwise."""
    cdef int v = 0, i
    if n < 1 or n > 5 or (n > 1 and s[0] == c'0'):
        return -1
    for i in range(n):
        if s[i] < c'0' or s[i] > c'9':
            return -1
        v = v * 10 + (s[i] - c'0')
    return v if v <= maxv else -1


cdef int pp_v1_addr(int fam, const char *s, int n, int port, sockaddr_storage *out) noexcept nogil:
    """Fill `out` from a v1 address field (TCP4 dotted quad, TCP6 inet_pton form); -1 if invalid."""
    cdef char tmp[48]
    cdef int i, start = 0, nb = 0, v
    cdef uint8_t q[4]
    memset(out, 0, sizeof(sockaddr_storage))
    if fam == AF_INET:
        for i in range(n + 1):
            if i == n or s[i] == b'.':
                if nb >= 4:
                    return -1
                v = pp_uint(s + start, i - start, 255)
                if v < 0:
                    return -1
                q[nb] = <uint8_t>v
                nb += 1
                start = i + 1
        if nb != 4:
            return -1
        (<sockaddr_in *>out).sin_family = AF_INET
        memcpy(&(<sockaddr_in *>out).sin_addr.s_addr, q, 4)
        (<sockaddr_in *>out).sin_port = htons(<uint16_t>port)
        return 0
    if n < 2 or n > 45:
        return -1
    memcpy(tmp, s, n)
    tmp[n] = 0
    if inet_pton(AF_INET6, tmp, &(<sockaddr_in6 *>out).sin6_addr) != 1:
        return -1
    (<sockaddr_in6 *>out).sin6_family = AF_INET6
    (<sockaddr_in6 *>out).sin6_port = htons(<uint16_t>port)
    return 0


cdef int pp_parse_v1(const char *b, int n, sockaddr_storage *src, sockaddr_storage *dst,
                     int *has_addr) noexcept nogil:
    """A v1 line ("PROXY " already matched): its length with CRLF, 0 incomplete, or PP_ERR_*."""
    cdef int end = -1, i, fam, k, nf = 0, sp, dp
    cdef int fs[5]
    cdef int fe[5]
    for i in range(6, n if n < PP_V1_MAX - 1 else PP_V1_MAX - 1):   # CR at 105 at the latest
        if b[i] == b'\r':
            if i + 1 >= n:
                return 0
            if b[i + 1] != b'\n':
                return PP_ERR_BAD_HDR
            end = i
            break
        if b[i] == b'\n':
            return PP_ERR_BAD_HDR
    if end < 0:
        # no CRLF in the first 107 bytes: not a v1 line (the spec's limit)
        return PP_ERR_BAD_HDR if n >= PP_V1_MAX - 1 else 0
    if end - 6 >= 7 and memcmp(b + 6, b"UNKNOWN", 7) == 0 and (end - 6 == 7 or b[13] == b' '):
        # UNKNOWN: the connection's own addresses stay; the rest of the line is ignored
        return end + 2
    if end - 6 >= 5 and b[10] == b' ' and memcmp(b + 6, b"TCP4", 4) == 0:
        fam = AF_INET
    elif end - 6 >= 5 and b[10] == b' ' and memcmp(b + 6, b"TCP6", 4) == 0:
        fam = AF_INET6
    else:
        return PP_ERR_BAD_PROTO
    # four fields separated by single spaces: src dst sport dport
    k = 11
    while nf < 4:
        fs[nf] = k
        while k < end and b[k] != b' ':
            k += 1
        fe[nf] = k
        if fe[nf] == fs[nf]:
            return PP_ERR_BAD_HDR
        nf += 1
        if k == end:
            break
        k += 1
    if nf != 4 or fe[3] != end:
        return PP_ERR_BAD_HDR
    sp = pp_uint(b + fs[2], fe[2] - fs[2], 65535)
    dp = pp_uint(b + fs[3], fe[3] - fs[3], 65535)
    if sp < 0 or dp < 0:
        return PP_ERR_BAD_HDR
    if pp_v1_addr(fam, b + fs[0], fe[0] - fs[0], sp, src) < 0:
        return PP_ERR_BAD_HDR
    if pp_v1_addr(fam, b + fs[1], fe[1] - fs[1], dp, dst) < 0:
        return PP_ERR_BAD_HDR
    has_addr[0] = 1
    return end + 2


cdef int pp_parse_v2(uint8_t *b, int n, sockaddr_storage *src, sockaddr_storage *dst,
                     int *has_addr, int *auth_off, int *auth_len) noexcept nogil:
    """A v2 header (signature already matched, n >= 16): its length, 0 incomplete, or PP_ERR_*.
    Every TLV is bounds-checked; CRC32C is verified, AUTHORITY and UNIQUE_ID lengths checked.
    *has_addr is set as soon as the address block is read: as in haproxy 2.6, a bad TLV is
    logged with the address the header gave."""
    cdef int ver_cmd = b[12], fam = b[13]
    cdef int dlen = (b[14] << 8) | b[15]
    cdef int total = PP_V2_HDR + dlen
    cdef int off, tlen, ttype
    cdef uint32_t crc, want
    if (ver_cmd & 0xF0) != 0x20:
        return PP_ERR_NOT_HDR
    if total > PP_PEEK_MAX:
        return PP_ERR_TRUNCATED
    if n < total:
        return 0
    if (ver_cmd & 0x0F) == 0x00:
        # LOCAL (a health check, the sender's own connection): the socket's addresses stay
        return total
    if (ver_cmd & 0x0F) != 0x01:
        return PP_ERR_BAD_HDR
    off = PP_V2_HDR
    memset(src, 0, sizeof(sockaddr_storage))
    memset(dst, 0, sizeof(sockaddr_storage))
    if fam == 0x11:            # TCP over IPv4
        if dlen < 12:
            return PP_ERR_BAD_HDR
        (<sockaddr_in *>src).sin_family = AF_INET
        memcpy(&(<sockaddr_in *>src).sin_addr.s_addr, b + 16, 4)
        memcpy(&(<sockaddr_in *>src).sin_port, b + 24, 2)
        (<sockaddr_in *>dst).sin_family = AF_INET
        memcpy(&(<sockaddr_in *>dst).sin_addr.s_addr, b + 20, 4)
        memcpy(&(<sockaddr_in *>dst).sin_port, b + 26, 2)
        off += 12
        has_addr[0] = 1
    elif fam == 0x21:          # TCP over IPv6
        if dlen < 36:
            return PP_ERR_BAD_HDR
        (<sockaddr_in6 *>src).sin6_family = AF_INET6
        memcpy(&(<sockaddr_in6 *>src).sin6_addr, b + 16, 16)
        memcpy(&(<sockaddr_in6 *>src).sin6_port, b + 48, 2)
        (<sockaddr_in6 *>dst).sin6_family = AF_INET6
        memcpy(&(<sockaddr_in6 *>dst).sin6_addr, b + 32, 16)
        memcpy(&(<sockaddr_in6 *>dst).sin6_port, b + 50, 2)
        off += 36
        has_addr[0] = 1
    elif fam == 0x12 or fam == 0x22:   # UDP: addresses of a protocol we do not relay
        off += 12 if fam == 0x12 else 36
        if off > total:
            return PP_ERR_BAD_HDR
    elif fam == 0x31 or fam == 0x32:   # UNIX stream/dgram: 2 x 108 bytes of paths
        off += 216
        if off > total:
            return PP_ERR_BAD_HDR
    elif fam != 0x00:                  # (UNSPEC: no address block, TLVs follow at once)
        return PP_ERR_BAD_HDR
    while off < total:
        if off + 3 > total:
            return PP_ERR_BAD_HDR
        ttype = b[off]
        tlen = (b[off + 1] << 8) | b[off + 2]
        if off + 3 + tlen > total:
            return PP_ERR_BAD_HDR
        if ttype == PP2_TYPE_CRC32C:
            if tlen != 4:
                return PP_ERR_BAD_HDR
            want = (<uint32_t>b[off + 3] << 24) | (<uint32_t>b[off + 4] << 16) | \
                   (<uint32_t>b[off + 5] << 8) | <uint32_t>b[off + 6]
            memset(b + off + 3, 0, 4)    # (our own peeked copy: computed with the field zeroed)
            crc = pp_crc32c(b, total)
            if crc != want:
                return PP_ERR_BAD_HDR
        elif ttype == PP2_TYPE_AUTHORITY:
            if tlen > PP_AUTHORITY_MAX:
                return PP_ERR_BAD_HDR
            auth_off[0] = off + 3
            auth_len[0] = tlen
        elif ttype == PP2_TYPE_UNIQUE_ID and tlen > 128:
            return PP_ERR_BAD_HDR
        off += 3 + tlen
    return total


cdef int pp_parse(char *b, int n, sockaddr_storage *src, sockaddr_storage *dst,
                  int *has_addr, int *auth_off, int *auth_len) noexcept nogil:
    """The PROXY header at the start of b[0:n] (what has been received so far): its length
    once complete and valid (src/dst filled and *has_addr set when it carries addresses),
    0 when more bytes are needed, PP_ERR_* when it can never be valid (a v2 header whose TLVs
    are bad has *has_addr set: the caller logs that address, as 2.6 does). A v2 AUTHORITY TLV
    is at b[*auth_off:*auth_off + *auth_len] (*auth_len 0: none)."""
    cdef int k = n if n < 12 else 12
    has_addr[0] = 0
    auth_off[0] = 0
    auth_len[0] = 0
    if n <= 0:
        return 0
    if memcmp(b, b"PROXY ", n if n < 6 else 6) == 0:
        if n < 6:
            return 0
        return pp_parse_v1(b, n, src, dst, has_addr)
    if memcmp(b, PP_V2_SIG, k) != 0:
        return PP_ERR_NOT_HDR
    if n < PP_V2_HDR:
        return 0
    return pp_parse_v2(<uint8_t *>b, n, src, dst, has_addr, auth_off, auth_len)


# ---- writing a header (send-proxy, send-proxy-v2)

cdef inline void pp_put(char *out, int *n, const char *s, int len) noexcept nogil:
    memcpy(out + n[0], s, len)
    n[0] += len


cdef void pp_putu(char *out, int *n, unsigned int v) noexcept nogil:
    cdef char tmp[12]
    cdef int k = 0
    while True:
        tmp[k] = <char>(c'0' + v % 10)
        k += 1
        v //= 10
        if v == 0:
            break
    while k > 0:
        k -= 1
        out[n[0]] = tmp[k]
        n[0] += 1


cdef inline void pp_v4tov6(uint8_t *out, sockaddr_storage *a) noexcept nogil:
    """The 16 bytes of a's address, an IPv4 one mapped (::ffff:a.b.c.d)."""
    if a.ss_family == AF_INET6:
        memcpy(out, &(<sockaddr_in6 *>a).sin6_addr, 16)
        return
    memset(out, 0, 10)
    out[10] = 0xff
    out[11] = 0xff
    memcpy(out + 12, &(<sockaddr_in *>a).sin_addr.s_addr, 4)


cdef inline uint16_t pp_port_n(sockaddr_storage *a) noexcept nogil:
    if a.ss_family == AF_INET:
        return (<sockaddr_in *>a).sin_port
    return (<sockaddr_in6 *>a).sin6_port


cdef int pp_build(int version, int opts, sockaddr_storage *src, sockaddr_storage *dst,
                  const char *auth, int auth_len, const char *ssl_tlv, int ssl_len,
                  char *out, int cap) noexcept nogil:
    """The header for a server connection carrying a client from src to dst (as haproxy 2.6
    writes it: one family, IPv4 mapped into IPv6 when the two differ; UNKNOWN / LOCAL when
    either address is not IP, e.g. NULL for a health check), with the TLVs `opts` asks for:
    CRC32C, then AUTHORITY when auth_len > 0, then the SSL TLV ssl_tlv (built by the caller,
    tls.pxi tls_pp2_ssl) when ssl_len > 0, in 2.6's order. Its length, 0 if cap is short."""
    cdef int n = 0, known, v6, crc_at = -1
    cdef char ip[64]
    cdef uint8_t a6[16]
    cdef uint8_t *u = <uint8_t *>out
    cdef uint32_t crc
    known = (src != NULL and dst != NULL and
             (src.ss_family == AF_INET or src.ss_family == AF_INET6) and
             (dst.ss_family == AF_INET or dst.ss_family == AF_INET6))
    v6 = known and (src.ss_family == AF_INET6 or dst.ss_family == AF_INET6)
    if version == 1:
        if cap < PP_V1_MAX + 1:
            return 0
        if not known:
            memcpy(out, b"PROXY UNKNOWN\r\n", 15)
            return 15
        pp_put(out, &n, b"PROXY TCP6 " if v6 else b"PROXY TCP4 ", 11)
        if v6:
            pp_v4tov6(a6, src)
            inet_ntop(AF_INET6, a6, ip, 64)
        else:
            inet_ntop(AF_INET, &(<sockaddr_in *>src).sin_addr, ip, 64)
        pp_put(out, &n, ip, <int>strlen(ip))
        pp_put(out, &n, b" ", 1)
        if v6:
            pp_v4tov6(a6, dst)
            inet_ntop(AF_INET6, a6, ip, 64)
        else:
            inet_ntop(AF_INET, &(<sockaddr_in *>dst).sin_addr, ip, 64)
        pp_put(out, &n, ip, <int>strlen(ip))
        pp_put(out, &n, b" ", 1)
        pp_putu(out, &n, ntohs(pp_port_n(src)))
        pp_put(out, &n, b" ", 1)
        pp_putu(out, &n, ntohs(pp_port_n(dst)))
        pp_put(out, &n, b"\r\n", 2)
        return n
    if cap < PP_BUILD_MAX or auth_len > PP_AUTHORITY_MAX or ssl_len > PP_SSL_TLV_MAX:
        return 0
    memcpy(out, PP_V2_SIG, 12)
    if not known:
        u[12] = 0x20          # LOCAL
        u[13] = 0x00          # UNSPEC
        n = PP_V2_HDR
    elif not v6:
        u[12] = 0x21
        u[13] = 0x11
        memcpy(out + 16, &(<sockaddr_in *>src).sin_addr.s_addr, 4)
        memcpy(out + 20, &(<sockaddr_in *>dst).sin_addr.s_addr, 4)
        (<uint16_t *>(out + 24))[0] = pp_port_n(src)
        (<uint16_t *>(out + 26))[0] = pp_port_n(dst)
        n = PP_V2_HDR + 12
    else:
        u[12] = 0x21
        u[13] = 0x21
        pp_v4tov6(u + 16, src)
        pp_v4tov6(u + 32, dst)
        (<uint16_t *>(out + 48))[0] = pp_port_n(src)
        (<uint16_t *>(out + 50))[0] = pp_port_n(dst)
        n = PP_V2_HDR + 36
    if opts & PP_OPT_CRC32C:
        u[n] = PP2_TYPE_CRC32C
        u[n + 1] = 0
        u[n + 2] = 4
        memset(out + n + 3, 0, 4)
        crc_at = n + 3
        n += 7
    if (opts & PP_OPT_AUTHORITY) and auth_len > 0:
        u[n] = PP2_TYPE_AUTHORITY
        u[n + 1] = 0
        u[n + 2] = <uint8_t>auth_len
        memcpy(out + n + 3, auth, auth_len)
        n += 3 + auth_len
    if ssl_len > 0:
        memcpy(out + n, ssl_tlv, ssl_len)
        n += ssl_len
    u[14] = <uint8_t>((n - PP_V2_HDR) >> 8)
    u[15] = <uint8_t>((n - PP_V2_HDR) & 0xff)
    if crc_at >= 0:
        crc = pp_crc32c(u, n)
        u[crc_at] = <uint8_t>(crc >> 24)
        u[crc_at + 1] = <uint8_t>(crc >> 16)
        u[crc_at + 2] = <uint8_t>(crc >> 8)
        u[crc_at + 3] = <uint8_t>crc
    return n
