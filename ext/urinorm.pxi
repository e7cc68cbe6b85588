# `http-request normalize-uri NORMALIZER [full|strict]` (2.4+, experimental in 2.6): the request
# target's path (and query) rewritten in place as 2.6's uri_normalizer.c does, each normalizer
# one pass over the bytes into a scratch buffer, then one h1_replace(). Offers
# uri_normalize(); httpreq.pxi runs it as the HR_NORMALIZE_URI action.

cpdef enum uri_normalizer:
    NU_FRAGMENT_ENCODE = 0      # '#' -> "%23" (path, query and fragment)
    NU_FRAGMENT_STRIP = 1       # the fragment removed
    NU_MERGE_SLASHES = 2        # "//" -> "/" in the path
    NU_STRIP_DOT = 3            # "/./" segments removed from the path
    NU_STRIP_DOTDOT = 4         # "/x/../" -> "/" in the path (opt: `full`, leading "/.." dropped)
    NU_PERCENT_DECODE = 5       # %XX of an unreserved character decoded (opt: `strict`)
    NU_PERCENT_UPPER = 6        # %xx -> %XX (opt: `strict`)
    NU_QUERY_SORT = 7           # the query's parameters sorted by name, stably

cdef enum:
    NU_INVALID = -2             # uri_normalize(): a `strict` normalizer met a bad %-sequence
    NU_MAXPRM = (BUFSIZE >> 1) + 1      # query parameters a buffer can hold

cdef char g_nu[BUFSIZE]                     # the rewritten part
cdef int g_nu_prm[NU_MAXPRM]               # query-sort: each parameter's offset...
cdef int g_nu_len[NU_MAXPRM]               # ...and length
cdef int g_nu_tmp[2 * NU_MAXPRM]           # the merge sort's order, and its other half


cdef inline int _nu_hex(char c) noexcept nogil:
    if b'0' <= c <= b'9':
        return c - 48
    if b'a' <= c <= b'f':
        return c - 87
    if b'A' <= c <= b'F':
        return c - 55
    return -1


cdef inline int _nu_unreserved(int c) noexcept nogil:
    return ((b'a' <= c <= b'z') or (b'A' <= c <= b'Z') or (b'0' <= c <= b'9')
            or c == b'-' or c == b'.' or c == b'_' or c == b'~')


cdef int _nu_percent(const char *p, int n, int decode, int strict) noexcept nogil:
    """percent-decode-unreserved (decode) / percent-to-uppercase over p[0:n] into g_nu: the
    length, or NU_INVALID for a bad sequence under `strict`."""
    cdef int i = 0, o = 0, h1, h2, c
    while i < n:
        if p[i] != b'%':
            g_nu[o] = p[i]
            o += 1
            i += 1
            continue
        h1 = _nu_hex(p[i + 1]) if i + 1 < n else -1
        h2 = _nu_hex(p[i + 2]) if i + 2 < n else -1
        if h1 >= 0 and h2 >= 0:
            c = (h1 << 4) + h2
            if decode and _nu_unreserved(c):
                g_nu[o] = <char>c
                o += 1
            else:
                g_nu[o] = b'%'
                g_nu[o + 1] = p[i + 1] if decode or p[i + 1] < b'a' else <char>(p[i + 1] - 32)
                g_nu[o + 2] = p[i + 2] if decode or p[i + 2] < b'a' else <char>(p[i + 2] - 32)
                o += 3
            i += 3
            continue
        if strict:
            return NU_INVALID
        g_nu[o] = b'%'
        o += 1
        i += 1
    return o


cdef int _nu_dotdot(const char *p, int n, int full) noexcept nogil:
    """path-strip-dotdot over the path p[0:n], scanning back from its end as 2.6 does: the
    result is g_nu[BUFSIZE - length:], the length returned."""
    cdef int head = BUFSIZE, off = n - 1, up = 0
    if off >= 2 and p[off - 2] == b'/' and p[off - 1] == b'.' and p[off] == b'.':
        up += 1                 # a final "/.." without its slash
        off -= 2
    while off >= 0:
        if off >= 3 and p[off - 3] == b'/' and p[off - 2] == b'.' and p[off - 1] == b'.' and p[off] == b'/':
            up += 1
            off -= 3
            continue
        if up > 0:
            off -= 1            # the slash
            if off >= 0:
                up -= 1         # the segment before it goes with one "/../"
                while off >= 0 and p[off] != b'/':
                    off -= 1
        else:
            head -= 1
            g_nu[head] = p[off]
            off -= 1
            while off >= 0 and p[off] != b'/':
                head -= 1
                g_nu[head] = p[off]
                off -= 1
    if up > 0:
        head -= 1
        g_nu[head] = b'/'
        while not full and up > 0:      # the "/.." that had nothing before them stay
            head -= 3
            g_nu[head] = b'/'
            g_nu[head + 1] = b'.'
            g_nu[head + 2] = b'.'
            up -= 1
    return BUFSIZE - head


cdef int _nu_name_cmp(const char *q, int a, int b) noexcept nogil:
    """Two query parameters (indexes into g_nu_prm/g_nu_len) by name, the part before '='."""
    cdef int la = 0, lb = 0, k
    while la < g_nu_len[a] and q[g_nu_prm[a] + la] != b'=':
        la += 1
    while lb < g_nu_len[b] and q[g_nu_prm[b] + lb] != b'=':
        lb += 1
    k = memcmp(q + g_nu_prm[a], q + g_nu_prm[b], la if la < lb else lb)
    return k if k != 0 else la - lb


cdef int _nu_query_sort(const char *q, int n) noexcept nogil:
    """query-sort-by-name over the query q[0:n] (its '?' first): the parameters split on '&',
    sorted by name with equal names kept in order (a bottom-up merge sort, as bounded as the
    buffer), joined into g_nu. The length."""
    cdef int cnt = 0, i = 1, j, o, w, lo, mid, hi, a, b, k
    cdef int *src = g_nu_tmp
    cdef int *dst = g_nu_tmp + NU_MAXPRM
    cdef int *t
    while i < n:
        j = i
        while j < n and q[j] != b'&':
            j += 1
        g_nu_prm[cnt] = i
        g_nu_len[cnt] = j - i
        src[cnt] = cnt
        cnt += 1
        i = j + 1
    # (a trailing '&' ends the scan with nothing after it: 2.6 drops it too)
    w = 1
    while w < cnt:
        lo = 0
        while lo < cnt:
            mid = lo + w if lo + w < cnt else cnt
            hi = lo + 2 * w if lo + 2 * w < cnt else cnt
            a = lo
            b = mid
            k = lo
            while a < mid and b < hi:
                if _nu_name_cmp(q, src[b], src[a]) < 0:
                    dst[k] = src[b]
                    b += 1
                else:
                    dst[k] = src[a]
                    a += 1
                k += 1
            while a < mid:
                dst[k] = src[a]
                a += 1
                k += 1
            while b < hi:
                dst[k] = src[b]
                b += 1
                k += 1
            lo = hi
        t = src
        src = dst
        dst = t
        w *= 2
    g_nu[0] = b'?'
    o = 1
    for i in range(cnt):
        if i > 0:
            g_nu[o] = b'&'
            o += 1
        memcpy(g_nu + o, q + g_nu_prm[src[i]], g_nu_len[src[i]])
        o += g_nu_len[src[i]]
    return o


cdef int uri_normalize(char *buf, int len, h1_msg *m, int kind, int opt) noexcept nogil:
    """Apply normalizer `kind` (opt: `full` / `strict`) to the request target in buf: the new
    message length, -1 when it does not fit, NU_INVALID for a bad %-sequence under `strict`.
    A target without a path (`*`, authority form) is left alone, as 2.6 leaves it."""
    cdef int off = 0, n = 0, end, plen, o, i, q
    cdef const char *p
    if not smp_path(buf, m, &off, &n, 0):
        return len
    end = m.uri_off + m.uri_len
    p = buf + off
    plen = end - off                # path, query and fragment
    if kind == NU_MERGE_SLASHES:
        o = 0
        i = 0
        while i < n:
            g_nu[o] = p[i]
            o += 1
            i += 1
            if p[i - 1] == b'/':
                while i < n and p[i] == b'/':
                    i += 1
        return h1_replace(buf, len, BUFSIZE, m, off, n, g_nu, o)
    if kind == NU_STRIP_DOT:
        o = 0
        i = 0
        while i < n:
            q = i
            while q < n and p[q] != b'/':
                q += 1
            if not (q - i == 1 and p[i] == b'.'):
                memcpy(g_nu + o, p + i, q - i)
                o += q - i
                if q < n:
                    g_nu[o] = b'/'
                    o += 1
            i = q + 1
        return h1_replace(buf, len, BUFSIZE, m, off, n, g_nu, o)
    if kind == NU_STRIP_DOTDOT:
        o = _nu_dotdot(p, n, opt)
        return h1_replace(buf, len, BUFSIZE, m, off, n, g_nu + BUFSIZE - o, o)
    if kind == NU_PERCENT_DECODE or kind == NU_PERCENT_UPPER:
        o = _nu_percent(p, plen, kind == NU_PERCENT_DECODE, opt)
        if o < 0:
            return o
        return h1_replace(buf, len, BUFSIZE, m, off, plen, g_nu, o)
    if kind == NU_FRAGMENT_STRIP:
        q = 0
        while q < plen and p[q] != b'#':
            q += 1
        return h1_replace(buf, len, BUFSIZE, m, off + q, plen - q, b"", 0)
    if kind == NU_FRAGMENT_ENCODE:
        o = 0
        for i in range(plen):
            if o + 3 > BUFSIZE:
                return -1
            if p[i] == b'#':
                memcpy(g_nu + o, b"%23", 3)
                o += 3
            else:
                g_nu[o] = p[i]
                o += 1
        return h1_replace(buf, len, BUFSIZE, m, off, plen, g_nu, o)
    if kind == NU_QUERY_SORT:
        if n >= plen:
            return len          # no query
        o = _nu_query_sort(p + n, plen - n)
        return h1_replace(buf, len, BUFSIZE, m, off + n, plen - n, g_nu, o)
    return len
