# ACLs and conditions (`acl NAME CRITERION VALUES`, `if|unless` terms), and backend switching
# (`use_backend`, `default_backend`), evaluated in plain C on the scanned request.
#
# Tables (built once by acl_setup(), Python, from pyhaproxy/worker.py's "acl" entries):
#   g_acl      one acl_t per `acl` line (and per anonymous `{ ... }` condition): fetch, match, flags
#   g_acl_pat  the patterns of every acl_t (strings, compiled regexes, networks, port ranges)
#   g_acl_ref  for each condition term, the indexes of the acl lines sharing the term's name
#              (lines with one name are ORed, as in HAProxy)
#   g_acl_term the terms: negation, and whether an OR (`||`) follows
#   g_acl_cond conditions: unless, first/count of terms, target (backend index or rule index)
# A proxy's switching rules are g_acl_cond[px.swr_first .. + px.nswr].
#
# Matching follows HAProxy 1.3+/2.x (doc/configuration.txt, "7.1 ACL basics" and "7.3 fetching
# samples"): `path` is the URI from its first '/' (after scheme://authority in absolute form) up
# to '?'; `hdr(NAME)` is every value of every NAME header, split on commas and trimmed; `-i`
# compares without case; `dom` wants the pattern delimited by '/', '?', '.', ':' or an end of the
# value, `dir` by '/' or '?'; `src` is the client address against network/prefix; `dst_port` the
# port the client connected to against LO[:HI].

cdef enum:
    AF_PATH = 0
    AF_URL = 1
    AF_HDR = 2
    AF_METHOD = 3
    AF_SRC = 4
    AF_DSTPORT = 5
    AF_TRUE = 6
    AF_FALSE = 7

    AM_STR = 0
    AM_BEG = 1
    AM_END = 2
    AM_SUB = 3
    AM_REG = 4
    AM_DOM = 5
    AM_DIR = 6
    AM_IP = 7
    AM_INT = 8

    ACL_HDR_NAME = 64
    ACL_REG_MAX = 8192


cdef struct acl_pat_t:
    char *s
    int len
    regex_t *re
    int family
    unsigned char net[16]
    int bits
    int lo
    int hi


cdef struct acl_t:
    int fetch
    int match
    int icase
    char hdr[ACL_HDR_NAME]
    int hdr_len
    int pat_first
    int npat


cdef struct acl_term_t:
    int ref_first
    int nref
    int neg
    int or_after


cdef struct acl_cond_t:
    int unless
    int term_first
    int nterm
    int target


cdef acl_t *g_acl = NULL
cdef acl_pat_t *g_acl_pat = NULL
cdef int *g_acl_ref = NULL
cdef acl_term_t *g_acl_term = NULL
cdef acl_cond_t *g_acl_cond = NULL
cdef char g_acl_scratch[ACL_REG_MAX + 1]


# ---------------------------------------------------------------------------------------------
# start-up (Python)

_ACL_FETCH = {"path": AF_PATH, "url": AF_URL, "hdr": AF_HDR, "method": AF_METHOD, "src": AF_SRC,
              "dst_port": AF_DSTPORT, "always_true": AF_TRUE, "always_false": AF_FALSE}
_ACL_MATCH = {"str": AM_STR, "beg": AM_BEG, "end": AM_END, "sub": AM_SUB, "reg": AM_REG,
              "dom": AM_DOM, "dir": AM_DIR, "ip": AM_IP, "int": AM_INT}


cdef int acl_setup(object t) except -1:
    """Copy the ACL tables (pyhaproxy/worker.py AclTables: acls, conds, switch) into the C
    arrays; set each proxy's switching-rule range."""
    global g_acl, g_acl_pat, g_acl_ref, g_acl_term, g_acl_cond
    cdef list acls = t.acls
    cdef list conds = t.conds
    cdef int npat = 0, nref = 0, nterm = 0, i, k, rc, flags
    cdef acl_t *a
    cdef acl_pat_t *pt
    cdef acl_term_t *tm
    cdef acl_cond_t *c
    cdef bytes b
    cdef char err[256]
    for item in acls:
        npat += len(item[4])
    for item in conds:
        nterm += len(item[2])
        for term in item[2]:
            nref += len(term[2])
    g_acl = <acl_t *>calloc(max(1, len(acls)), sizeof(acl_t))
    g_acl_pat = <acl_pat_t *>calloc(max(1, npat), sizeof(acl_pat_t))
    g_acl_ref = <int *>calloc(max(1, nref), sizeof(int))
    g_acl_term = <acl_term_t *>calloc(max(1, nterm), sizeof(acl_term_t))
    g_acl_cond = <acl_cond_t *>calloc(max(1, len(conds)), sizeof(acl_cond_t))
    if g_acl == NULL or g_acl_pat == NULL or g_acl_ref == NULL or g_acl_term == NULL or g_acl_cond == NULL:
        raise MemoryError()
    npat = 0
    for i, (fetch, match, icase, hdr, pats) in enumerate(acls):
        a = &g_acl[i]
        a.fetch = _ACL_FETCH[fetch]
        a.match = _ACL_MATCH[match]
        a.icase = 1 if icase else 0
        b = bytes(hdr)[:ACL_HDR_NAME - 1]
        memcpy(a.hdr, <const char *>b, len(b))
        a.hdr_len = len(b)
        a.pat_first = npat
        a.npat = len(pats)
        for k in range(len(pats)):
            pt = &g_acl_pat[npat + k]
            pat = pats[k]
            if a.match == AM_IP:
                pt.family = pat[0]
                memcpy(pt.net, <const char *>pat[1], len(pat[1]))
                pt.bits = pat[2]
            elif a.match == AM_INT:
                pt.lo = pat[0]
                pt.hi = pat[1]
            else:
                b = bytes(pat)
                pt.s = <char *>malloc(len(b) + 1)
                if pt.s == NULL:
                    raise MemoryError()
                memcpy(pt.s, <const char *>b, len(b))
                pt.s[len(b)] = 0
                pt.len = len(b)
                if a.match == AM_REG:
                    pt.re = <regex_t *>malloc(sizeof(regex_t))
                    if pt.re == NULL:
                        raise MemoryError()
                    flags = REG_EXTENDED | REG_NOSUB
                    if icase:
                        flags |= REG_ICASE
                    rc = regcomp(pt.re, pt.s, flags)
                    if rc != 0:
                        regerror(rc, pt.re, err, 256)
                        raise ValueError(f"bad regular expression '{b.decode('latin-1')}': "
                                         f"{err[:strlen(err)].decode('latin-1')}")
        npat += len(pats)
    nref = 0
    nterm = 0
    for i, (unless, target, terms) in enumerate(conds):
        c = &g_acl_cond[i]
        c.unless = 1 if unless else 0
        c.target = target
        c.term_first = nterm
        c.nterm = len(terms)
        for neg, or_after, refs in terms:
            tm = &g_acl_term[nterm]
            tm.neg = 1 if neg else 0
            tm.or_after = 1 if or_after else 0
            tm.ref_first = nref
            tm.nref = len(refs)
            for k in range(len(refs)):
                g_acl_ref[nref + k] = refs[k]
            nref += len(refs)
            nterm += 1
    for i, (first, count, default_be) in enumerate(t.switch):
        if i < g_npx:
            g_px[i].swr_first = first
            g_px[i].nswr = count
            g_px[i].default_be = default_be
    for i, (first, count) in enumerate(t.expect):
        if i < g_npx:
            g_px[i].xp_first = first
            g_px[i].nxp = count
    return 0


# ---------------------------------------------------------------------------------------------
# matching (plain C)

cdef inline unsigned char _acl_low(unsigned char c) noexcept nogil:
    if c >= b'A' and c <= b'Z':
        return c + 32
    return c


cdef int _acl_eq(const char *a, const char *b, int n, int icase) noexcept nogil:
    cdef int i
    if not icase:
        return memcmp(a, b, n) == 0
    for i in range(n):
        if _acl_low(<unsigned char>a[i]) != _acl_low(<unsigned char>b[i]):
            return 0
    return 1


cdef inline int _acl_delim(char c, int dom) noexcept nogil:
    if c == b'/' or c == b'?':
        return 1
    return dom and (c == b'.' or c == b':')


cdef int _acl_word(const char *v, int vlen, const char *p, int plen, int icase, int dom) noexcept nogil:
    """dom/dir matching: p occurs in v between delimiters (or ends); delimiters around p ignored."""
    cdef int i
    while plen > 0 and _acl_delim(p[0], dom):
        p += 1
        plen -= 1
    while plen > 0 and _acl_delim(p[plen - 1], dom):
        plen -= 1
    if plen == 0:
        return 0
    i = 0
    while i + plen <= vlen:
        if (i == 0 or _acl_delim(v[i - 1], dom)) and _acl_eq(v + i, p, plen, icase):
            if i + plen == vlen or _acl_delim(v[i + plen], dom):
                return 1
        i += 1
    return 0


cdef int acl_match_str(acl_t *a, const char *v, int vlen) noexcept nogil:
    """1 if the sample v matches one of a's patterns (string and regex matches)."""
    cdef int k, i, n
    cdef acl_pat_t *pt
    for k in range(a.npat):
        pt = &g_acl_pat[a.pat_first + k]
        if a.match == AM_STR:
            if vlen == pt.len and _acl_eq(v, pt.s, vlen, a.icase):
                return 1
        elif a.match == AM_BEG:
            if vlen >= pt.len and _acl_eq(v, pt.s, pt.len, a.icase):
                return 1
        elif a.match == AM_END:
            if vlen >= pt.len and _acl_eq(v + vlen - pt.len, pt.s, pt.len, a.icase):
                return 1
        elif a.match == AM_SUB:
            i = 0
            while i + pt.len <= vlen:
                if _acl_eq(v + i, pt.s, pt.len, a.icase):
                    return 1
                i += 1
        elif a.match == AM_DOM or a.match == AM_DIR:
            if _acl_word(v, vlen, pt.s, pt.len, a.icase, a.match == AM_DOM):
                return 1
        elif a.match == AM_REG:
            n = vlen if vlen < ACL_REG_MAX else ACL_REG_MAX
            memcpy(g_acl_scratch, v, n)
            g_acl_scratch[n] = 0
            if regexec(pt.re, g_acl_scratch, 0, NULL, 0) == 0:
                return 1
    return 0


cdef int acl_match_src(acl_t *a, sockaddr_storage *addr) noexcept nogil:
    cdef int k, nbytes, rem
    cdef acl_pat_t *pt
    cdef unsigned char *ip
    if addr.ss_family == AF_INET:
        ip = <unsigned char *>&(<sockaddr_in *>addr).sin_addr.s_addr
    elif addr.ss_family == AF_INET6:
        ip = (<sockaddr_in6 *>addr).sin6_addr.s6_addr
    else:
        return 0
    for k in range(a.npat):
        pt = &g_acl_pat[a.pat_first + k]
        if pt.family != addr.ss_family:
            continue
        nbytes = pt.bits >> 3
        rem = pt.bits & 7
        if nbytes and memcmp(ip, pt.net, nbytes) != 0:
            continue
        if rem and ((ip[nbytes] ^ pt.net[nbytes]) & (0xff << (8 - rem)) & 0xff):
            continue
        return 1
    return 0


cdef int acl_path(const char *buf, h1_msg *m, int *off, int *plen) noexcept nogil:
    """The path of the request URI (from its first '/', without the query): 1 if there is one."""
    cdef const char *u = buf + m.uri_off
    cdef int n = m.uri_len, i = 0, j
    if n > 0 and u[0] != b'/':
        # absolute form: skip "scheme://authority"
        while i + 2 < n and not (u[i] == b':' and u[i + 1] == b'/' and u[i + 2] == b'/'):
            i += 1
        if i + 2 >= n:
            return 0
        i += 3
        while i < n and u[i] != b'/':
            i += 1
        if i >= n:
            return 0
    j = i
    while j < n and u[j] != b'?':
        j += 1
    off[0] = m.uri_off + i
    plen[0] = j - i
    return 1


cdef int acl_match_hdr(acl_t *a, const char *buf, h1_msg *m) noexcept nogil:
    """Every value of every header named a.hdr, split on commas and trimmed, against a's patterns."""
    cdef int i, st, en, e, vend
    cdef const char *v
    cdef h1_hdr *h
    for i in range(m.nhdr):
        h = &m.hdr[i]
        if not h1_hdr_name_is(buf, h, a.hdr, a.hdr_len):
            continue
        v = buf + h.v_off
        vend = h.v_len
        st = 0
        while st <= vend:
            en = st
            while en < vend and v[en] != b',':
                en += 1
            # trim blanks around this value
            while st < en and (v[st] == b' ' or v[st] == b'\t'):
                st += 1
            e = en
            while e > st and (v[e - 1] == b' ' or v[e - 1] == b'\t'):
                e -= 1
            if acl_match_str(a, v + st, e - st):
                return 1
            st = en + 1
    return 0


cdef int acl_match(sess_t *s, acl_t *a, const char *buf, h1_msg *m) noexcept nogil:
    """One acl line against the session (buf/m: the scanned request, NULL in TCP)."""
    cdef int off = 0, n = 0, k, port
    if a.fetch == AF_TRUE:
        return 1
    if a.fetch == AF_FALSE:
        return 0
    if a.fetch == AF_SRC:
        return acl_match_src(a, &s.cli_addr)
    if a.fetch == AF_DSTPORT:
        port = sess_dst_port(s)
        for k in range(a.npat):
            if g_acl_pat[a.pat_first + k].lo <= port <= g_acl_pat[a.pat_first + k].hi:
                return 1
        return 0
    if buf == NULL or m == NULL:
        return 0         # an HTTP criterion outside HTTP never matches
    if a.fetch == AF_PATH:
        if not acl_path(buf, m, &off, &n):
            return 0
        return acl_match_str(a, buf + off, n)
    if a.fetch == AF_URL:
        return acl_match_str(a, buf + m.uri_off, m.uri_len)
    if a.fetch == AF_METHOD:
        return acl_match_str(a, buf + m.meth_off, m.meth_len)
    if a.fetch == AF_HDR:
        # the header is absent or no value matches
        return acl_match_hdr(a, buf, m)
    return 0


cdef int acl_cond_match(sess_t *s, acl_cond_t *c, const char *buf, h1_msg *m) noexcept nogil:
    """A condition: OR of groups of ANDed (possibly negated) terms; `unless` inverts it."""
    cdef int t, r, v, group_ok = 1, res = 0
    cdef acl_term_t *tm
    for t in range(c.nterm):
        tm = &g_acl_term[c.term_first + t]
        if group_ok:
            v = 0
            for r in range(tm.nref):
                if acl_match(s, &g_acl[g_acl_ref[tm.ref_first + r]], buf, m):
                    v = 1
                    break
            if tm.neg:
                v = not v
            if not v:
                group_ok = 0
        if tm.or_after or t == c.nterm - 1:
            if group_ok:
                res = 1
                break
            group_ok = 1
    if c.unless:
        res = not res
    return res


cdef int acl_switch_backend(sess_t *s, const char *buf, h1_msg *m) noexcept nogil:
    """The backend of this request: the first use_backend whose condition matches, else default."""
    cdef px_t *p = &g_px[s.px]
    cdef int i
    cdef acl_cond_t *c
    for i in range(p.nswr):
        c = &g_acl_cond[p.swr_first + i]
        if c.nterm == 0 or acl_cond_match(s, c, buf, m):
            return c.target
    return p.default_be


cdef int acl_expect_proxy(sess_t *s) noexcept nogil:
    """`tcp-request connection expect-proxy layer4`: 1 when one of the proxy's rules matches
    the connection just accepted (the action does not end the rules, so any one will do)."""
    cdef px_t *p = &g_px[s.px]
    cdef int i
    cdef acl_cond_t *c
    for i in range(p.nxp):
        c = &g_acl_cond[p.xp_first + i]
        if c.nterm == 0 or acl_cond_match(s, c, NULL, NULL):
            return 1
    return 0
