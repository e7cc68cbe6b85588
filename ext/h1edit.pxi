# HTTP/1.x cookies and in-place edits of a parsed header block (the buffer keeps maxrewrite
# bytes free for these).

# ---------------------------------------------------------------------------------------------
# cookies

cdef int h1_find_cookie(const char *v, int vlen, const char *name, int nlen,
                        int *pair_off, int *pair_len, int *val_off, int *val_len) noexcept nogil:
    # In a Cookie value ("a=1; SERVERID=A; b=2") find the pair NAME=value (exact, case-sensitive
    # name).  val_off/val_len: the value (trimmed, quotes kept).  pair_off/pair_len: the bytes to cut
    # so the rest stays well formed: the pair and the separator after it ("SERVERID=A; ") when a
    # pair follows, else the separator before it ("; SERVERID=A"), else the whole value (the
    # caller then drops the header).  Offsets are relative to v.  Returns 1 found, 0 not.
    cdef int i = 0, s, ns, ne, vs, ve, prev_end = -1, e, j
    while i < vlen:
        while i < vlen and (v[i] == b' ' or v[i] == b'\t'):
            i += 1
        s = i
        ns = i
        while i < vlen and v[i] != b'=' and v[i] != b';':
            i += 1
        ne = i
        while ne > ns and (v[ne - 1] == b' ' or v[ne - 1] == b'\t'):
            ne -= 1
        if i < vlen and v[i] == b'=':
            i += 1
            while i < vlen and (v[i] == b' ' or v[i] == b'\t'):
                i += 1
            vs = i
            while i < vlen and v[i] != b';':
                i += 1
            ve = i
            while ve > vs and (v[ve - 1] == b' ' or v[ve - 1] == b'\t'):
                ve -= 1
            e = ve
            if ne - ns == nlen and memcmp(v + ns, name, nlen) == 0:
                val_off[0] = vs
                val_len[0] = ve - vs
                # look for a following non-empty pair
                j = i
                while j < vlen and (v[j] == b';' or v[j] == b' ' or v[j] == b'\t'):
                    j += 1
                if j < vlen:
                    pair_off[0] = s
                    pair_len[0] = j - s
                elif prev_end >= 0:
                    pair_off[0] = prev_end
                    pair_len[0] = vlen - prev_end
                else:
                    pair_off[0] = 0
                    pair_len[0] = vlen
                return 1
        else:
            e = ne
        if e > s:
            prev_end = e
        if i < vlen:
            i += 1            # the ';'
    return 0

cdef int h1_find_setcookie(const char *v, int vlen, const char *name, int nlen,
                           int *pair_off, int *pair_len, int *val_off, int *val_len) noexcept nogil:
    # In a Set-Cookie value ("SERVERID=A; path=/") the cookie is the first NAME=value before ';'.
    # pair_off/pair_len cover that NAME=value (trimmed); val_* its value.  Returns 1 if it is NAME.
    cdef int i = 0, ns, ne, vs, ve
    while i < vlen and (v[i] == b' ' or v[i] == b'\t'):
        i += 1
    ns = i
    while i < vlen and v[i] != b'=' and v[i] != b';':
        i += 1
    if i >= vlen or v[i] != b'=':
        return 0
    ne = i
    while ne > ns and (v[ne - 1] == b' ' or v[ne - 1] == b'\t'):
        ne -= 1
    if ne - ns != nlen or memcmp(v + ns, name, nlen) != 0:
        return 0
    i += 1
    while i < vlen and (v[i] == b' ' or v[i] == b'\t'):
        i += 1
    vs = i
    while i < vlen and v[i] != b';':
        i += 1
    ve = i
    while ve > vs and (v[ve - 1] == b' ' or v[ve - 1] == b'\t'):
        ve -= 1
    pair_off[0] = ns
    pair_len[0] = ve - ns
    val_off[0] = vs
    val_len[0] = ve - vs
    return 1

# ---------------------------------------------------------------------------------------------
# in-place edits of a parsed header block (the buffer keeps maxrewrite bytes free for these)

cdef inline void _h1_span(int *o, int *l, int off, int olen, int delta) noexcept nogil:
    # keep one (offset, length) span valid after bytes [off, off+olen) became olen+delta bytes
    if o[0] >= off + olen and not (olen == 0 and o[0] == off and l[0] > 0):
        o[0] += delta
    elif o[0] <= off and off + olen <= o[0] + l[0]:
        l[0] += delta

cdef int h1_replace(char *buf, int len, int cap, h1_msg *m, int off, int olen,
                    const char *data, int dlen) noexcept nogil:
    # replace buf[off:off+olen] by data[:dlen] inside the header block and fix every offset in m.
    # The edited range must sit inside one field (start-line part, name or value).  A span that
    # contains the range grows or shrinks; spans after it move.  An insertion (olen 0) at the start
    # or end of a non-empty span extends it, so never insert between two lines with this (use
    # h1_add_hdr).  Returns the new length, or -1 when cap would be exceeded.
    cdef int delta = dlen - olen, i
    cdef h1_hdr *h
    if len + delta > cap:
        return -1
    if delta != 0:
        memmove(buf + off + dlen, buf + off + olen, len - off - olen)
    if dlen > 0:
        memcpy(buf + off, data, dlen)
    _h1_span(&m.meth_off, &m.meth_len, off, olen, delta)
    _h1_span(&m.uri_off, &m.uri_len, off, olen, delta)
    _h1_span(&m.ver_off, &m.ver_len, off, olen, delta)
    _h1_span(&m.reason_off, &m.reason_len, off, olen, delta)
    _h1_span(&m.start, &m.first_line_len, off, olen, delta)
    for i in range(m.nhdr):
        h = &m.hdr[i]
        _h1_span(&h.n_off, &h.n_len, off, olen, delta)
        _h1_span(&h.v_off, &h.v_len, off, olen, delta)
        _h1_span(&h.line_off, &h.line_len, off, olen, delta)
    m.hdrs_end += delta
    return len + delta

cdef int h1_del_hdr(char *buf, int len, h1_msg *m, int idx) noexcept nogil:
    # remove header line idx; returns the new buffer length
    cdef int off = m.hdr[idx].line_off, n = m.hdr[idx].line_len, i
    memmove(buf + off, buf + off + n, len - off - n)
    for i in range(idx, m.nhdr - 1):
        m.hdr[i] = m.hdr[i + 1]
        m.hdr[i].n_off -= n
        m.hdr[i].v_off -= n
        m.hdr[i].line_off -= n
    m.nhdr -= 1
    m.hdrs_end -= n
    return len - n

cdef int h1_add_hdr(char *buf, int len, int cap, h1_msg *m, const char *name, int nlen,
                    const char *val, int vlen) noexcept nogil:
    # append "name: value\r\n" as the last header line; returns the new length, -1 when it does not
    # fit in cap or the header table is full
    cdef int at, n = nlen + 2 + vlen + 2
    cdef h1_hdr *h
    if len + n > cap or m.nhdr >= H1_MAX_HDRS:
        return -1
    # the final empty line is CRLF or a bare LF
    at = m.hdrs_end - 2 if (m.hdrs_end >= 2 and buf[m.hdrs_end - 2] == b'\r') else m.hdrs_end - 1
    memmove(buf + at + n, buf + at, len - at)
    memcpy(buf + at, name, nlen)
    buf[at + nlen] = b':'
    buf[at + nlen + 1] = b' '
    memcpy(buf + at + nlen + 2, val, vlen)
    buf[at + n - 2] = b'\r'
    buf[at + n - 1] = b'\n'
    h = &m.hdr[m.nhdr]
    m.nhdr += 1
    h.n_off = at
    h.n_len = nlen
    h.v_off = at + nlen + 2
    h.v_len = vlen
    h.line_off = at
    h.line_len = n
    m.hdrs_end += n
    return len + n

cdef int h1_drop_cl(char *buf, int len, h1_msg *m) noexcept nogil:
    # remove every Content-Length header (chunked framing wins, m.cl_drop); returns the new length
    cdef int i = 0
    while i < m.nhdr:
        if m.hdr[i].n_len == 14 and _h1_ieq(buf + m.hdr[i].n_off, b"content-length", 14):
            len = h1_del_hdr(buf, len, m, i)
        else:
            i += 1
    m.cl_drop = -1
    return len

cdef inline int _h1_te_trailers(const char *v, int n) noexcept nogil:
    # 1 when a TE value names "trailers" as haproxy 2.6's H1 and H2 output sees it: its first
    # occurrence (case-sensitive, as a substring) ends the value or is followed by a comma
    cdef int k
    for k in range(n - 7):
        if memcmp(v + k, b"trailers", 8) == 0:
            return k + 8 == n or v[k + 8] == b','
    return 0

cdef int h1_filter_te(char *buf, int len, int cap, h1_msg *m) noexcept nogil:
    # the TE request header is hop-by-hop and only "trailers" may be forwarded (RFC 9110 10.1.4):
    # as haproxy 2.6 writes an HTTP/1 message, a TE header naming trailers becomes "TE: trailers",
    # any other is removed.  Returns the new length, -1 when it does not fit in cap.
    cdef int i = 0
    cdef h1_hdr *h
    while i < m.nhdr:
        h = &m.hdr[i]
        if h.n_len != 2 or not _h1_ieq(buf + h.n_off, b"te", 2):
            i += 1
            continue
        if not _h1_te_trailers(buf + h.v_off, h.v_len):
            len = h1_del_hdr(buf, len, m, i)
            continue
        if h.v_len != 8:
            len = h1_replace(buf, len, cap, m, h.v_off, h.v_len, b"trailers", 8)
            if len < 0:
                return -1
        i += 1
    return len
