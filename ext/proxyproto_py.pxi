# Thin Python wrappers around proxyproto.pxi, for the unit tests only (tests/unit/test_proxyproto.py).


cdef object _pp_addr_py(sockaddr_storage *a):
    cdef char ip[64]
    if a.ss_family == AF_INET:
        inet_ntop(AF_INET, &(<sockaddr_in *>a).sin_addr, ip, 64)
        return (ip.decode(), ntohs((<sockaddr_in *>a).sin_port))
    if a.ss_family == AF_INET6:
        inet_ntop(AF_INET6, &(<sockaddr_in6 *>a).sin6_addr, ip, 64)
        return (ip.decode(), ntohs((<sockaddr_in6 *>a).sin6_port))
    return None


cdef int _pp_addr_c(object addr, sockaddr_storage *a) except -1:
    memset(a, 0, sizeof(sockaddr_storage))
    ip = addr[0].encode()
    if b":" in ip:
        a.ss_family = AF_INET6
        if inet_pton(AF_INET6, ip, &(<sockaddr_in6 *>a).sin6_addr) != 1:
            raise ValueError(addr)
        (<sockaddr_in6 *>a).sin6_port = htons(<uint16_t>addr[1])
    else:
        a.ss_family = AF_INET
        if inet_pton(AF_INET, ip, &(<sockaddr_in *>a).sin_addr) != 1:
            raise ValueError(addr)
        (<sockaddr_in *>a).sin_port = htons(<uint16_t>addr[1])
    return 0


def pp_parse_py(bytes data):
    """(result, src, dst): result as pp_parse returns it (length, 0 incomplete, PP_ERR_* < 0),
    src/dst as (ip, port) when the header carried addresses, else None."""
    return pp_parse_full_py(data)[:3]


def pp_parse_full_py(bytes data):
    """(result, src, dst, authority): pp_parse_py's and the AUTHORITY TLV (bytes or None)."""
    cdef sockaddr_storage src, dst
    cdef int has_addr = 0, r, auth_off = 0, auth_len = 0
    cdef char *b = <char *>malloc(len(data) if len(data) > 0 else 1)   # exact: ASan sees an overread
    if b == NULL:
        raise MemoryError()
    memcpy(b, <const char *>data, len(data))
    r = pp_parse(b, <int>len(data), &src, &dst, &has_addr, &auth_off, &auth_len)
    free(b)
    auth = data[auth_off:auth_off + auth_len] if r > 0 and auth_len > 0 else None
    if not has_addr:
        return r, None, None, auth
    return r, _pp_addr_py(&src), _pp_addr_py(&dst), auth


def pp_build_py(int version, int opts, src, dst, bytes authority=b""):
    """The header pp_build writes for src/dst ((ip, port) or None)."""
    cdef sockaddr_storage s, d
    cdef char out[PP_BUILD_MAX]
    cdef int n
    if src is not None:
        _pp_addr_c(src, &s)
    if dst is not None:
        _pp_addr_c(dst, &d)
    n = pp_build(version, opts, &s if src is not None else NULL, &d if dst is not None else NULL,
                 authority, <int>len(authority), NULL, 0, out, PP_BUILD_MAX)
    return out[:n]


def pp_crc32c_py(bytes data):
    return pp_crc32c(<const uint8_t *><const char *>data, <int>len(data))


def pp_error_message(int err):
    return conn_err_str(pp_conn_err(err)).decode()


PP_ERRORS = {"EMPTY": PP_ERR_EMPTY, "ABORT": PP_ERR_ABORT, "TIMEOUT": PP_ERR_TIMEOUT,
             "TRUNCATED": PP_ERR_TRUNCATED, "NOT_HDR": PP_ERR_NOT_HDR, "BAD_HDR": PP_ERR_BAD_HDR,
             "BAD_PROTO": PP_ERR_BAD_PROTO}
