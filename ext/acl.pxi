# ACLs and conditions (`acl NAME CRITERION VALUES`, `if|unless` terms), and backend switching
# (`use_backend`, `default_backend`), evaluated in plain C on the scanned request.
#
# Tables (built once by acl_setup(), Python, from pyhaproxy/worker.py's AclTables):
#   g_acl      one acl_t per `acl` line (and per anonymous `{ ... }` condition): its sample
#              expression (sample.pxi), match method, flags
#   g_acl_pat  the patterns of every acl_t (strings, compiled regexes, networks, port ranges)
#   g_acl_ref  for each condition term, the indexes of the acl lines sharing the term's name
#              (lines with one name are ORed, as in HAProxy)
#   g_acl_term the terms: negation, and whether an OR (`||`) follows
#   g_acl_cond conditions: unless, first/count of terms, target (backend index or rule index)
# A proxy's switching rules are g_acl_cond[px.swr_first .. + px.nswr].
#
# Matching follows HAProxy 2.x (doc/configuration.txt, "7.1 ACL basics"): every value of the
# sample is tried (every comma-separated value of every `hdr(NAME)` line...) until one matches a
# pattern; `-i` compares without case; `dom` wants the pattern delimited by '/', '?', '.', ':' or
# an end of the value, `dir` by '/' or '?'; `ip` compares an address (or a string holding one)
# with networks; `int` and `len` compare with ranges (`eq|ge|gt|le|lt N`, `N:M` made ranges by
# the parser); `found` matches when there is a value at all, `bool` when it is not zero.

cdef enum:
    ACL_REG_MAX = 8192


cdef struct acl_pat_t:
    char *s
    int len
    regex_t *re
    int family
    unsigned char net[16]
    int bits
    long long lo
    long long hi


cdef struct acl_t:
    int expr             # g_sexpr index (sample.pxi)
    int match
    int icase
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
    int target           # backend index (use_backend), rule index, or -1
    int fmt_first        # use_backend %[...]: the backend's name as a format (sample.pxi)
    int nfmt


cdef acl_t *g_acl = NULL
cdef acl_pat_t *g_acl_pat = NULL
cdef int *g_acl_ref = NULL
cdef acl_term_t *g_acl_term = NULL
cdef acl_cond_t *g_acl_cond = NULL
cdef char g_acl_scratch[ACL_REG_MAX + 1]


# ---------------------------------------------------------------------------------------------
# start-up (Python)

_ACL_MATCH = {"str": PM_STR, "beg": PM_BEG, "end": PM_END, "sub": PM_SUB, "reg": PM_REG,
              "dom": PM_DOM, "dir": PM_DIR, "ip": PM_IP, "int": PM_INT, "len": PM_LEN,
              "found": PM_FOUND, "bool": PM_BOOL}


cdef int acl_setup(object t) except -1:
    """Copy the ACL tables (pyhaproxy/worker.py AclTables: exprs, acls, conds, switch) into the C
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
    vars_setup(t.var_scopes)
    maps_setup(t.maps, t.mapuses)
    sample_setup(t.exprs, t.cargs)
    for item in acls:
        npat += len(item[3])
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
    for i, (expr, match, icase, pats) in enumerate(acls):
        a = &g_acl[i]
        a.expr = expr
        a.match = _ACL_MATCH[match]
        a.icase = 1 if icase else 0
        a.pat_first = npat
        a.npat = len(pats)
        for k in range(len(pats)):
            pt = &g_acl_pat[npat + k]
            pat = pats[k]
            if a.match == PM_IP:
                pt.family = pat[0]
                memcpy(pt.net, <const char *>pat[1], len(pat[1]))
                pt.bits = pat[2]
            elif a.match == PM_INT or a.match == PM_LEN:
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
                if a.match == PM_REG:
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
    for i, (unless, target, terms, fmt_first, nfmt) in enumerate(conds):
        c = &g_acl_cond[i]
        c.unless = 1 if unless else 0
        c.target = target
        c.fmt_first = fmt_first
        c.nfmt = nfmt
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
    for i, (first, count) in enumerate(t.monitor_fail):
        if i < g_npx:
            g_px[i].mf_first = first
            g_px[i].nmf = count
    for i, (first, count) in enumerate(t.use_server):
        if i < g_npx:
            g_px[i].us_first = first
            g_px[i].nus = count
    for i, (first, count) in enumerate(t.persist):
        if i < g_npx:
            g_px[i].pr_first = first
            g_px[i].npr = count
    for i, (first, count) in enumerate(t.stats_admin):
        if i < g_npx:
            g_px[i].sa_first = first
            g_px[i].nsa = count
    return 0


# ---------------------------------------------------------------------------------------------
# matching (plain C)

cdef int acl_match_str(acl_t *a, const char *v, int vlen) noexcept nogil:
    """1 if the sample v matches one of a's patterns (string and regex matches)."""
    cdef int k
    cdef acl_pat_t *pt
    for k in range(a.npat):
        pt = &g_acl_pat[a.pat_first + k]
        if pat_str_match(a.match, a.icase, v, vlen, pt.s, pt.len, pt.re, g_acl_scratch, ACL_REG_MAX + 1):
            return 1
    return 0


cdef int acl_match_ip(acl_t *a, int family, const unsigned char *ip) noexcept nogil:
    cdef int k
    cdef acl_pat_t *pt
    for k in range(a.npat):
        pt = &g_acl_pat[a.pat_first + k]
        if pat_ip_match(family, ip, pt.family, pt.net, pt.bits):
            return 1
    return 0


cdef int acl_match_range(acl_t *a, long long x) noexcept nogil:
    cdef int k
    for k in range(a.npat):
        if g_acl_pat[a.pat_first + k].lo <= x <= g_acl_pat[a.pat_first + k].hi:
            return 1
    return 0


cdef int acl_match_value(acl_t *a, smp_t *v) noexcept nogil:
    """One value of the sample against a's patterns, cast as the match method needs."""
    cdef unsigned char ip[16]
    cdef long long x
    cdef int k, neg, n
    if a.match == PM_FOUND:
        return 1
    if a.match == PM_BOOL:
        if v.type == SMP_INT or v.type == SMP_BOOL:
            return v.i != 0
        return v.type != SMP_NONE
    if a.match == PM_IP:
        if v.type == SMP_IP:
            return acl_match_ip(a, v.family, v.ip)
        if v.type != SMP_STR or v.len >= 64:
            return 0
        memcpy(g_acl_scratch, v.p, v.len)
        g_acl_scratch[v.len] = 0
        if inet_pton(AF_INET, g_acl_scratch, ip) == 1:
            return acl_match_ip(a, AF_INET, ip)
        if inet_pton(AF_INET6, g_acl_scratch, ip) == 1:
            return acl_match_ip(a, AF_INET6, ip)
        return 0
    if a.match == PM_INT:
        if v.type == SMP_INT or v.type == SMP_BOOL:
            return acl_match_range(a, v.i)
        if v.type != SMP_STR:
            return 0
        k = 0
        neg = 0
        if k < v.len and (v.p[k] == b'-' or v.p[k] == b'+'):
            neg = v.p[k] == b'-'
            k += 1
        if k >= v.len:
            return 0
        x = 0
        while k < v.len:
            if v.p[k] < b'0' or v.p[k] > b'9' or x > 100000000000000000LL:
                return 0
            x = x * 10 + (<int>v.p[k] - 48)
            k += 1
        return acl_match_range(a, -x if neg else x)
    if not smp_as_str(v):
        return 0
    if a.match == PM_LEN:
        return acl_match_range(a, v.len)
    return acl_match_str(a, v.p, v.len)


cdef int acl_match(sess_t *s, acl_t *a, const char *buf, h1_msg *m) noexcept nogil:
    """One acl line against the session (buf/m: the scanned request, NULL in TCP): 1 if a value
    of its sample matches one of its patterns."""
    cdef int it = 0
    cdef smp_t v
    cdef sexpr_t *e = &g_sexpr[a.expr]
    while smp_next(s, e, buf, m, &it, &v):
        if acl_match_value(a, &v):
            return 1
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


cdef char g_be_name[MAX_NAME]


cdef int backend_by_name(const char *name, int n) noexcept nogil:
    """The backend (or listen) proxy called name, or -1."""
    cdef int i
    for i in range(g_npx):
        if g_px[i].has_be and g_px[i].name_len == n and memcmp(g_px[i].name, name, n) == 0:
            return i
    return -1


cdef int acl_switch_backend(sess_t *s, const char *buf, h1_msg *m) noexcept nogil:
    """The backend of this request: the first use_backend whose condition matches, else default.
    A name built from samples (`use_backend be_%[...]`) that names no backend stops the search
    at the default backend, as 2.6 does."""
    cdef px_t *p = &g_px[s.px]
    cdef int i, n, be
    cdef acl_cond_t *c
    for i in range(p.nswr):
        c = &g_acl_cond[p.swr_first + i]
        if c.nterm == 0 or acl_cond_match(s, c, buf, m):
            if c.nfmt == 0:
                return c.target
            n = format_build(s, c.fmt_first, c.nfmt, buf, m, g_be_name, MAX_NAME - 1)
            be = backend_by_name(g_be_name, n) if n > 0 else -1
            return be if be >= 0 else p.default_be
    return p.default_be


cdef int acl_first_match(sess_t *s, int first, int count, const char *buf, h1_msg *m) noexcept nogil:
    """The first of the conditions g_acl_cond[first .. first + count] that holds (one without
    terms always does), or -1: a proxy's list of `if|unless` rules where the first match decides."""
    cdef int i
    cdef acl_cond_t *c
    for i in range(first, first + count):
        c = &g_acl_cond[i]
        if c.nterm == 0 or acl_cond_match(s, c, buf, m):
            return i
    return -1


cdef int acl_persist_rules(sess_t *s, const char *buf, h1_msg *m) noexcept nogil:
    """The backend's `force-persist` / `ignore-persist` rules: the first that matches decides
    (PRST_FORCE or PRST_IGNORE), 0 when none does (2.6's process_switching_rules)."""
    cdef px_t *p = &g_px[s.be]
    cdef int i = acl_first_match(s, p.pr_first, p.npr, buf, m)
    if i < 0:
        return 0
    return PRST_FORCE if g_acl_cond[i].target == 0 else PRST_IGNORE


cdef int acl_use_server(sess_t *s, const char *buf, h1_msg *m) noexcept nogil:
    """The backend's `use-server` rules, in order (2.6's process_server_rules): the server of the
    first one that matches and whose server is not down (or is, under `option persist` or a
    force-persist rule); -1 when none gives one. A name built per request that names no server of
    the backend ends the rules."""
    cdef px_t *p = &g_px[s.be]
    cdef int i, n, g
    cdef acl_cond_t *c
    for i in range(p.nus):
        c = &g_acl_cond[p.us_first + i]
        if not acl_cond_match(s, c, buf, m):
            continue
        g = c.target
        if c.nfmt:
            n = format_build(s, c.fmt_first, c.nfmt, buf, m, g_be_name, MAX_NAME - 1)
            g = server_by_name(p, g_be_name, n) if n > 0 else -1
            if g < 0:
                return -1
        if srv_alive(g) or (p.opts & PO_PERSIST) or s.prst == PRST_FORCE:
            return g
    return -1


cdef int server_by_name(px_t *p, const char *name, int n) noexcept nogil:
    cdef int g
    for g in range(p.srv_first, p.srv_first + p.nsrv):
        if g_srv[g].name_len == n and memcmp(g_srv[g].name, name, n) == 0:
            return g
    return -1


cdef int acl_stats_admin(sess_t *s, int px, const char *buf, h1_msg *m) noexcept nogil:
    """`stats admin if|unless COND` of proxy px: 1 when one of its rules matches the request."""
    return acl_first_match(s, g_px[px].sa_first, g_px[px].nsa, buf, m) >= 0


cdef int acl_monitor_fail(sess_t *s, const char *buf, h1_msg *m) noexcept nogil:
    """`monitor fail if|unless COND`: 1 when one of the frontend's conditions holds."""
    return acl_first_match(s, g_px[s.px].mf_first, g_px[s.px].nmf, buf, m) >= 0


cdef int acl_expect_proxy(sess_t *s) noexcept nogil:
    """`tcp-request connection expect-proxy layer4`: 1 when one of the proxy's rules matches
    the connection just accepted (the action does not end the rules, so any one will do)."""
    return acl_first_match(s, g_px[s.px].xp_first, g_px[s.px].nxp, NULL, NULL) >= 0
