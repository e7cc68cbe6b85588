# Patterns: how a string pattern (an ACL's, a map key) matches a value (str, beg, end, sub,
# dom, dir, reg: configuration.txt 7.1.3), and networks; plain C, shared by acl.pxi and maps.

# How a pattern (an ACL's, a map key) matches a string value (7.1.3 "Matching strings").
cpdef enum pattern_match:
    PM_STR = 0
    PM_BEG = 1
    PM_END = 2
    PM_SUB = 3
    PM_REG = 4
    PM_DOM = 5
    PM_DIR = 6
    PM_IP = 7
    PM_INT = 8
    PM_LEN = 9
    PM_FOUND = 10
    PM_BOOL = 11


cdef inline unsigned char pat_low(unsigned char c) noexcept nogil:
    if c >= b'A' and c <= b'Z':
        return c + 32
    return c


cdef int pat_eq(const char *a, const char *b, int n, int icase) noexcept nogil:
    cdef int i
    if not icase:
        return memcmp(a, b, n) == 0
    for i in range(n):
        if pat_low(<unsigned char>a[i]) != pat_low(<unsigned char>b[i]):
            return 0
    return 1


cdef inline int pat_delim(char c, int dom) noexcept nogil:
    if c == b'/' or c == b'?':
        return 1
    return dom and (c == b'.' or c == b':')


cdef int pat_word(const char *v, int vlen, const char *p, int plen, int icase, int dom) noexcept nogil:
    """dom/dir matching: p occurs in v between delimiters (or ends); delimiters around p ignored."""
    cdef int i
    while plen > 0 and pat_delim(p[0], dom):
        p += 1
        plen -= 1
    while plen > 0 and pat_delim(p[plen - 1], dom):
        plen -= 1
    if plen == 0:
        return 0
    i = 0
    while i + plen <= vlen:
        if (i == 0 or pat_delim(v[i - 1], dom)) and pat_eq(v + i, p, plen, icase):
            if i + plen == vlen or pat_delim(v[i + plen], dom):
                return 1
        i += 1
    return 0


cdef int pat_str_match(int match, int icase, const char *v, int vlen, const char *p, int plen,
                       regex_t *re, char *scratch, int cap) noexcept nogil:
    """One string pattern against a value (str beg end sub dom dir reg); scratch: room for a
    NUL-terminated copy of v for regexec()."""
    cdef int i, n
    if match == PM_STR:
        return vlen == plen and pat_eq(v, p, vlen, icase)
    if match == PM_BEG:
        return vlen >= plen and pat_eq(v, p, plen, icase)
    if match == PM_END:
        return vlen >= plen and pat_eq(v + vlen - plen, p, plen, icase)
    if match == PM_SUB:
        i = 0
        while i + plen <= vlen:
            if pat_eq(v + i, p, plen, icase):
                return 1
            i += 1
        return 0
    if match == PM_DOM or match == PM_DIR:
        return pat_word(v, vlen, p, plen, icase, match == PM_DOM)
    if match == PM_REG and re != NULL:
        n = vlen if vlen < cap - 1 else cap - 1
        memcpy(scratch, v, n)
        scratch[n] = 0
        return regexec(re, scratch, 0, NULL, 0) == 0
    return 0


cdef int pat_ip_match(int family, const unsigned char *ip, int pfamily, const unsigned char *net,
                      int bits) noexcept nogil:
    cdef int nbytes = bits >> 3, rem = bits & 7
    if pfamily != family:
        return 0
    if nbytes and memcmp(ip, net, nbytes) != 0:
        return 0
    if rem and ((ip[nbytes] ^ net[nbytes]) & (0xff << (8 - rem)) & 0xff):
        return 0
    return 1
