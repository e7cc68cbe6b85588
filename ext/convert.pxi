# Start-up conversions of Python values into C fields (each part's setup uses them).

cdef int fill_addr(sockaddr_storage *ss, socklen_t *slen, str host, int port) except -1:
    """IPv4/IPv6 literal + port -> sockaddr; the parser already resolved names."""
    cdef bytes h = host.encode()
    cdef sockaddr_in *a4 = <sockaddr_in *>ss
    cdef sockaddr_in6 *a6 = <sockaddr_in6 *>ss
    memset(ss, 0, sizeof(sockaddr_storage))
    if inet_pton(AF_INET, h, &a4.sin_addr) == 1:
        a4.sin_family = AF_INET
        a4.sin_port = htons(<uint16_t>port)
        slen[0] = sizeof(sockaddr_in)
        return 0
    if inet_pton(AF_INET6, h, &a6.sin6_addr) == 1:
        a6.sin6_family = AF_INET6
        a6.sin6_port = htons(<uint16_t>port)
        slen[0] = sizeof(sockaddr_in6)
        return 0
    raise ValueError(f"not an IP address: {host!r}")


cdef void copy_name(char *dst, int cap, str value, int *out_len):
    cdef bytes b = value.encode()[:cap - 1]
    memcpy(dst, <const char *>b, len(b))
    dst[len(b)] = 0
    if out_len != NULL:
        out_len[0] = len(b)


cdef int *int_array(list values) except? NULL:
    cdef int *arr
    cdef int i
    if not values:
        return NULL
    arr = <int *>malloc(sizeof(int) * len(values))
    if arr == NULL:
        raise MemoryError()
    for i in range(len(values)):
        arr[i] = values[i]
    return arr
