# Samples (HAProxy 2.x "7.3 Fetching samples"): a fetch reads a value from the session or the
# scanned request, converters transform it; compiled once at start-up into sexpr_t (from
# pyhaproxy/config/sample.py) and evaluated in plain C, no Python, nogil.
#
# A fetch may give several values (every comma-separated value of every `hdr(NAME)` line, every
# cookie of that name): an ACL iterates them until one matches (smp_next), an action argument
# `%[...]` takes one, the last by default or the occurrence asked for (smp_one), as 2.6 does.
# Converted strings live in a scratch buffer that the next value overwrites: a caller uses a
# value before asking for the next.

cpdef enum sample_fetch:
    SF_TRUE = 0          # always_true
    SF_FALSE = 1         # always_false
    SF_SRC = 2           # the client's address (ip)
    SF_SRC_PORT = 3
    SF_DST = 4           # the address the client connected to (ip)
    SF_DST_PORT = 5
    SF_FE_NAME = 6
    SF_BE_NAME = 7
    SF_METHOD = 8
    SF_PATH = 9
    SF_PATHQ = 10
    SF_URL = 11
    SF_QUERY = 12
    SF_BASE = 13         # first Host value + path
    SF_VER = 14          # "1.1"
    SF_HDR = 15          # comma-separated values of a header (all headers without a name)
    SF_FHDR = 16         # full values of a header
    SF_HDR_CNT = 17
    SF_FHDR_CNT = 18
    SF_HDR_VAL = 19      # a header value as an integer
    SF_COOK = 20         # a cookie's value (req.cook)
    SF_COOK_CNT = 21
    SF_URL_PARAM = 22
    SF_PROTO_HTTP = 23   # the request is valid HTTP (bool)
    SF_STR = 24          # a constant string (str("..."), env() read at start-up)
    SF_INT = 25          # a constant integer (int(N))
    SF_SRV_NAME = 26
    SF_STATUS = 27       # the response's status (response rules)
    SF_REQ_LEN = 28      # bytes of the request held in the buffer

cpdef enum sample_conv:
    SC_LOWER = 0
    SC_UPPER = 1
    SC_LENGTH = 2
    SC_MAP = 3           # map*(FILE[,DEFAULT]): conv_arg is a g_mapuse index

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

cpdef enum sample_type:
    SMP_NONE = 0
    SMP_STR = 1
    SMP_INT = 2
    SMP_IP = 3
    SMP_BOOL = 4

cdef enum:
    SMP_MAXCONV = 8
    SMP_SCRATCH = 16384


cdef struct smp_t:
    int type
    const char *p        # SMP_STR (not NUL-terminated)
    int len
    long long i          # SMP_INT, SMP_BOOL
    int family           # SMP_IP
    unsigned char ip[16]


cdef struct sexpr_t:
    int fetch
    char *arg            # NAME argument (NUL-terminated) or the constant of SF_STR; NULL none
    int arg_len
    long long iarg       # SF_INT's constant
    int occ              # 0: every value (ACL) / the last (one value); >0 from the first, <0 from the last
    int nconv
    int conv[SMP_MAXCONV]
    int conv_arg[SMP_MAXCONV]


cdef struct map_ent_t:
    char *key            # NUL-terminated
    int klen
    char *val
    int vlen
    regex_t *re          # map_reg
    int family           # map_ip
    unsigned char net[16]
    int bits


cdef struct map_t:
    int match            # PM_*
    int first            # entries g_map_ent[first .. first + n], in file order
    int n
    int *htab            # map_str: open addressing over the entries (index + 1, 0 empty)
    int hmask


cdef struct mapuse_t:    # one map* converter: its map and default value
    int map
    char *dflt
    int dlen
    int has_dflt


cdef map_t *g_map = NULL
cdef map_ent_t *g_map_ent = NULL
cdef mapuse_t *g_mapuse = NULL
cdef sexpr_t *g_sexpr = NULL
cdef int g_nsexpr = 0
cdef char g_smp_scratch[SMP_SCRATCH]
cdef char g_smp_num[24]


# ---------------------------------------------------------------------------------------------
# start-up (Python)

cdef unsigned int map_hash(const char *s, int n) noexcept nogil:
    cdef unsigned int h = 2166136261u
    cdef int i
    for i in range(n):
        h = (h ^ <unsigned char>s[i]) * 16777619u
    return h


cdef char *_smp_copy(bytes b) except NULL:
    cdef char *p = <char *>malloc(len(b) + 1)
    if p == NULL:
        raise MemoryError()
    memcpy(p, <const char *>b, len(b))
    p[len(b)] = 0
    return p


cdef int maps_setup(list maps, list uses) except -1:
    """maps: (match, [(key bytes, value bytes, (family, packed, bits) or None)]) per map file;
    uses: (map index, default bytes or None) per map* converter (start-up)."""
    global g_map, g_map_ent, g_mapuse
    cdef int i, k, n = 0, size, h, rc
    cdef map_t *mp
    cdef map_ent_t *me
    cdef char err[256]
    for match, ents in maps:
        n += len(ents)
    g_map = <map_t *>calloc(max(1, len(maps)), sizeof(map_t))
    g_map_ent = <map_ent_t *>calloc(max(1, n), sizeof(map_ent_t))
    g_mapuse = <mapuse_t *>calloc(max(1, len(uses)), sizeof(mapuse_t))
    if g_map == NULL or g_map_ent == NULL or g_mapuse == NULL:
        raise MemoryError()
    n = 0
    for i, (match, ents) in enumerate(maps):
        mp = &g_map[i]
        mp.match = match
        mp.first = n
        mp.n = len(ents)
        for k, (key, val, net) in enumerate(ents):
            me = &g_map_ent[n + k]
            me.key = _smp_copy(key)
            me.klen = len(key)
            me.val = _smp_copy(val)
            me.vlen = len(val)
            if net is not None:
                me.family = net[0]
                memcpy(me.net, <const char *>net[1], len(net[1]))
                me.bits = net[2]
            if match == PM_REG:
                me.re = <regex_t *>malloc(sizeof(regex_t))
                if me.re == NULL:
                    raise MemoryError()
                rc = regcomp(me.re, me.key, REG_EXTENDED | REG_NOSUB)
                if rc != 0:
                    regerror(rc, me.re, err, 256)
                    raise ValueError(f"bad regular expression '{key.decode('latin-1')}' in a map")
        if match == PM_STR:
            size = 16
            while size < 2 * len(ents) + 2:
                size *= 2
            mp.htab = <int *>calloc(size, sizeof(int))
            if mp.htab == NULL:
                raise MemoryError()
            mp.hmask = size - 1
            for k in range(len(ents)):
                me = &g_map_ent[n + k]
                h = map_hash(me.key, me.klen) & mp.hmask
                while mp.htab[h] != 0:
                    if g_map_ent[mp.htab[h] - 1].klen == me.klen and \
                            memcmp(g_map_ent[mp.htab[h] - 1].key, me.key, me.klen) == 0:
                        break           # a duplicate key: the first one wins
                    h = (h + 1) & mp.hmask
                if mp.htab[h] == 0:
                    mp.htab[h] = n + k + 1
        n += len(ents)
    for i, (m, dflt) in enumerate(uses):
        g_mapuse[i].map = m
        if dflt is not None:
            g_mapuse[i].has_dflt = 1
            g_mapuse[i].dflt = _smp_copy(dflt)
            g_mapuse[i].dlen = len(dflt)
    return 0


cdef int sample_setup(list exprs) except -1:
    """exprs: (fetch, arg bytes, iarg, occ, [(conv, conv arg)...]) per expression, as compiled
    by pyhaproxy/worker.py from the model's SampleExpr; referenced by index (acl_t.expr...)."""
    global g_sexpr, g_nsexpr
    cdef sexpr_t *e
    cdef int i, k
    cdef bytes arg
    g_nsexpr = len(exprs)
    g_sexpr = <sexpr_t *>calloc(max(1, g_nsexpr), sizeof(sexpr_t))
    if g_sexpr == NULL:
        raise MemoryError()
    for i, (fetch, arg, iarg, occ, convs) in enumerate(exprs):
        e = &g_sexpr[i]
        e.fetch = fetch
        e.iarg = iarg
        e.occ = occ
        if arg is not None:
            e.arg_len = len(arg)
            e.arg = <char *>malloc(e.arg_len + 1)
            if e.arg == NULL:
                raise MemoryError()
            memcpy(e.arg, <const char *>arg, e.arg_len)
            e.arg[e.arg_len] = 0
        if len(convs) > SMP_MAXCONV:
            raise ValueError("too many converters")
        e.nconv = len(convs)
        for k in range(e.nconv):
            e.conv[k] = convs[k][0]
            e.conv_arg[k] = convs[k][1]
    return 0


# ---------------------------------------------------------------------------------------------
# fetching (plain C)

cdef inline void smp_str(smp_t *v, const char *p, int n) noexcept nogil:
    v.type = SMP_STR
    v.p = p
    v.len = n


cdef inline void smp_int(smp_t *v, long long i) noexcept nogil:
    v.type = SMP_INT
    v.i = i


cdef void smp_addr(smp_t *v, sockaddr_storage *a, int want_port) noexcept nogil:
    if want_port:
        v.type = SMP_INT
        if a.ss_family == AF_INET:
            v.i = ntohs((<sockaddr_in *>a).sin_port)
        elif a.ss_family == AF_INET6:
            v.i = ntohs((<sockaddr_in6 *>a).sin6_port)
        else:
            v.i = 0
        return
    v.type = SMP_IP
    v.family = a.ss_family
    if a.ss_family == AF_INET:
        memcpy(v.ip, &(<sockaddr_in *>a).sin_addr.s_addr, 4)
    elif a.ss_family == AF_INET6:
        memcpy(v.ip, (<sockaddr_in6 *>a).sin6_addr.s6_addr, 16)
    else:
        v.type = SMP_NONE


cdef int smp_path(const char *buf, h1_msg *m, int *off, int *plen, int with_query) noexcept nogil:
    """The path of the request URI (from its first '/', to '?' unless with_query): 1 if one."""
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
    while not with_query and j < n and u[j] != b'?':
        j += 1
    if with_query:
        j = n
    off[0] = m.uri_off + i
    plen[0] = j - i
    return 1


cdef int _smp_hdr_next(sexpr_t *e, const char *buf, h1_msg *m, int *it, int split, smp_t *v) noexcept nogil:
    """The next value of header e.arg (every header without a name) from iterator it: header
    index * 65536 + offset in its value; split on commas unless `split` is 0, trimmed."""
    cdef int hi = it[0] >> 16, off = it[0] & 0xffff, st, en, vend
    cdef const char *val
    cdef h1_hdr *h
    while hi < m.nhdr:
        h = &m.hdr[hi]
        if e.arg != NULL and not h1_hdr_name_is(buf, h, e.arg, e.arg_len):
            hi += 1
            off = 0
            continue
        val = buf + h.v_off
        vend = h.v_len
        if off > vend:
            hi += 1
            off = 0
            continue
        st = off
        en = st
        if split:
            while en < vend and val[en] != b',':
                en += 1
        else:
            en = vend
        it[0] = (hi << 16) | (en + 1) if en < vend else ((hi + 1) << 16)
        while st < en and (val[st] == b' ' or val[st] == b'\t'):
            st += 1
        while en > st and (val[en - 1] == b' ' or val[en - 1] == b'\t'):
            en -= 1
        smp_str(v, val + st, en - st)
        return 1
    it[0] = hi << 16
    return 0


cdef int _smp_cook_next(sexpr_t *e, const char *buf, h1_msg *m, int *it, smp_t *v) noexcept nogil:
    """The next cookie named e.arg (any cookie without a name) on the request's Cookie lines."""
    cdef int hi = it[0] >> 16, off = it[0] & 0xffff, st, en, eq, ns, ne, vend
    cdef const char *val
    cdef h1_hdr *h
    while hi < m.nhdr:
        h = &m.hdr[hi]
        if not h1_hdr_name_is(buf, h, b"cookie", 6) or off > h.v_len:
            hi += 1
            off = 0
            continue
        val = buf + h.v_off
        vend = h.v_len
        st = off
        en = st
        while en < vend and val[en] != b';':
            en += 1
        off = en + 1
        it[0] = (hi << 16) | off if en < vend else ((hi + 1) << 16)
        eq = st
        while eq < en and val[eq] != b'=':
            eq += 1
        ns = st
        while ns < eq and (val[ns] == b' ' or val[ns] == b'\t'):
            ns += 1
        ne = eq
        while ne > ns and (val[ne - 1] == b' ' or val[ne - 1] == b'\t'):
            ne -= 1
        if eq >= en or ne == ns:
            if en >= vend:
                hi += 1
                off = 0
            continue
        if e.arg != NULL and (ne - ns != e.arg_len or memcmp(val + ns, e.arg, e.arg_len) != 0):
            if en >= vend:
                hi += 1
                off = 0
            continue
        st = eq + 1
        while st < en and (val[st] == b' ' or val[st] == b'\t'):
            st += 1
        while en > st and (val[en - 1] == b' ' or val[en - 1] == b'\t'):
            en -= 1
        smp_str(v, val + st, en - st)
        return 1
    it[0] = hi << 16
    return 0


cdef int _smp_url_param(sexpr_t *e, const char *buf, h1_msg *m, smp_t *v) noexcept nogil:
    """The first parameter e.arg of the query string (`&`-separated NAME=VALUE)."""
    cdef const char *u = buf + m.uri_off
    cdef int n = m.uri_len, i = 0, st, eq
    while i < n and u[i] != b'?':
        i += 1
    i += 1
    while i < n:
        st = i
        while i < n and u[i] != b'&' and u[i] != b'#':
            i += 1
        eq = st
        while eq < i and u[eq] != b'=':
            eq += 1
        if eq - st == e.arg_len and memcmp(u + st, e.arg, e.arg_len) == 0:
            if eq < i:
                smp_str(v, u + eq + 1, i - eq - 1)
            else:
                smp_str(v, u + i, 0)
            return 1
        if i < n and u[i] == b'#':
            break
        i += 1
    return 0


cdef int _smp_count(sexpr_t *e, const char *buf, h1_msg *m, int split) noexcept nogil:
    cdef int it = 0, n = 0
    cdef smp_t v
    while _smp_hdr_next(e, buf, m, &it, split, &v):
        n += 1
    return n


cdef int smp_fetch(sess_t *s, sexpr_t *e, const char *buf, h1_msg *m, int *it, smp_t *v) noexcept nogil:
    """The next raw value of fetch e (it starts at 0): 1 and v set, 0 when there is no more.
    buf/m: the scanned request, NULL outside HTTP (HTTP fetches then give nothing)."""
    cdef int off = 0, n = 0, k
    cdef long long x
    cdef const char *p
    v.type = SMP_NONE
    if e.fetch == SF_HDR or e.fetch == SF_FHDR:
        if buf == NULL or m == NULL:
            return 0
        return _smp_hdr_next(e, buf, m, it, e.fetch == SF_HDR, v)
    if e.fetch == SF_COOK:
        if buf == NULL or m == NULL:
            return 0
        return _smp_cook_next(e, buf, m, it, v)
    if e.fetch == SF_HDR_VAL:
        if buf == NULL or m == NULL or not _smp_hdr_next(e, buf, m, it, 1, v):
            return 0
        x = 0
        k = 0
        while k < v.len and v.p[k] >= b'0' and v.p[k] <= b'9' and x < 100000000000000000LL:
            x = x * 10 + (<int>v.p[k] - 48)
            k += 1
        smp_int(v, x)
        return 1
    if it[0]:
        return 0              # every other fetch has one value
    it[0] = 1
    if e.fetch == SF_TRUE or e.fetch == SF_FALSE:
        v.type = SMP_BOOL
        v.i = 1 if e.fetch == SF_TRUE else 0
        return 1
    if e.fetch == SF_SRC or e.fetch == SF_SRC_PORT:
        smp_addr(v, &s.cli_addr, e.fetch == SF_SRC_PORT)
        return v.type != SMP_NONE
    if e.fetch == SF_DST or e.fetch == SF_DST_PORT:
        if e.fetch == SF_DST_PORT:
            smp_int(v, sess_dst_port(s))
            return 1
        return smp_local_addr(s, v)
    if e.fetch == SF_FE_NAME:
        smp_str(v, g_px[s.px].name, g_px[s.px].name_len)
        return 1
    if e.fetch == SF_BE_NAME:
        smp_str(v, g_px[s.be].name, g_px[s.be].name_len)
        return 1
    if e.fetch == SF_SRV_NAME:
        if s.srv < 0:
            return 0
        smp_str(v, g_srv[s.srv].name, g_srv[s.srv].name_len)
        return 1
    if e.fetch == SF_STR:
        smp_str(v, e.arg, e.arg_len)
        return 1
    if e.fetch == SF_INT:
        smp_int(v, e.iarg)
        return 1
    if e.fetch == SF_STATUS:
        if m != NULL and m.status > 0:
            smp_int(v, m.status)        # the response being analysed
            return 1
        if s.status <= 0:
            return 0
        smp_int(v, s.status)
        return 1
    if buf == NULL or m == NULL:
        return 0              # an HTTP fetch outside HTTP gives nothing
    if e.fetch == SF_PROTO_HTTP:
        v.type = SMP_BOOL
        v.i = 1
        return 1
    if e.fetch == SF_METHOD:
        smp_str(v, buf + m.meth_off, m.meth_len)
        return 1
    if e.fetch == SF_PATH or e.fetch == SF_PATHQ:
        if not smp_path(buf, m, &off, &n, e.fetch == SF_PATHQ):
            return 0
        smp_str(v, buf + off, n)
        return 1
    if e.fetch == SF_URL:
        smp_str(v, buf + m.uri_off, m.uri_len)
        return 1
    if e.fetch == SF_QUERY:
        p = <const char *>memchr(buf + m.uri_off, b'?', m.uri_len)
        if p == NULL:
            return 0
        off = <int>(p - buf) + 1
        n = m.uri_off + m.uri_len - off
        p = <const char *>memchr(buf + off, b'#', n)
        if p != NULL:
            n = <int>(p - buf) - off
        smp_str(v, buf + off, n)
        return 1
    if e.fetch == SF_BASE:
        if m.host_off < 0 or not smp_path(buf, m, &off, &n, 0):
            return 0
        if m.host_len + n > SMP_SCRATCH:
            return 0
        memcpy(g_smp_scratch, buf + m.host_off, m.host_len)
        memcpy(g_smp_scratch + m.host_len, buf + off, n)
        smp_str(v, g_smp_scratch, m.host_len + n)
        return 1
    if e.fetch == SF_VER:
        if m.ver_len > 5:
            smp_str(v, buf + m.ver_off + 5, m.ver_len - 5)      # "HTTP/1.1" -> "1.1"
            return 1
        return 0
    if e.fetch == SF_HDR_CNT or e.fetch == SF_FHDR_CNT:
        smp_int(v, _smp_count(e, buf, m, e.fetch == SF_HDR_CNT))
        return 1
    if e.fetch == SF_COOK_CNT:
        k = 0
        n = 0
        while _smp_cook_next(e, buf, m, &k, v):
            n += 1
        smp_int(v, n)
        return 1
    if e.fetch == SF_URL_PARAM:
        return _smp_url_param(e, buf, m, v)
    if e.fetch == SF_REQ_LEN:
        smp_int(v, m.hdrs_end - m.start)
        return 1
    return 0


cdef int smp_local_addr(sess_t *s, smp_t *v) noexcept nogil:
    cdef sockaddr_storage a
    if sess_local_addr(s, &a) < 0:
        return 0
    smp_addr(v, &a, 0)
    return v.type != SMP_NONE


# ---------------------------------------------------------------------------------------------
# string patterns (ACLs and map keys)

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


cdef char g_map_regbuf[8193]


cdef int map_lookup(mapuse_t *u, smp_t *v) noexcept nogil:
    """map*: the value of the first matching key (the longest network for map_ip; a hash for
    map_str), else the default; 0 when neither (the sample then gives nothing)."""
    cdef map_t *mp = &g_map[u.map]
    cdef map_ent_t *me
    cdef int k, h, best = -1, bestbits = -1
    cdef unsigned char ip[16]
    cdef int fam = 0
    if mp.match == PM_IP:
        if v.type == SMP_IP:
            fam = v.family
            memcpy(ip, v.ip, 16)
        elif smp_as_str(v) and v.len < 64:
            memcpy(g_map_regbuf, v.p, v.len)
            g_map_regbuf[v.len] = 0
            if inet_pton(AF_INET, g_map_regbuf, ip) == 1:
                fam = AF_INET
            elif inet_pton(AF_INET6, g_map_regbuf, ip) == 1:
                fam = AF_INET6
        if fam:
            for k in range(mp.n):
                me = &g_map_ent[mp.first + k]
                if me.bits > bestbits and pat_ip_match(fam, ip, me.family, me.net, me.bits):
                    best = k
                    bestbits = me.bits
    elif smp_as_str(v):
        if mp.match == PM_STR:
            h = map_hash(v.p, v.len) & mp.hmask
            while mp.htab[h] != 0:
                me = &g_map_ent[mp.htab[h] - 1]
                if me.klen == v.len and memcmp(me.key, v.p, v.len) == 0:
                    best = mp.htab[h] - 1 - mp.first
                    break
                h = (h + 1) & mp.hmask
        else:
            for k in range(mp.n):
                me = &g_map_ent[mp.first + k]
                if pat_str_match(mp.match, 0, v.p, v.len, me.key, me.klen, me.re, g_map_regbuf,
                                 sizeof(g_map_regbuf)):
                    best = k
                    break
    if best >= 0:
        me = &g_map_ent[mp.first + best]
        smp_str(v, me.val, me.vlen)
        return 1
    if u.has_dflt:
        smp_str(v, u.dflt, u.dlen)
        return 1
    return 0


# ---------------------------------------------------------------------------------------------
# converters (plain C)

cdef int smp_as_str(smp_t *v) noexcept nogil:
    """Cast v to a string in place (an integer is printed into g_smp_num): 1 if it is one."""
    cdef long long x
    cdef int n = 0, neg, k
    cdef char tmp[24]
    if v.type == SMP_STR:
        return 1
    if v.type == SMP_INT or v.type == SMP_BOOL:
        x = v.i
        neg = x < 0
        if neg:
            x = -x
        while True:
            tmp[n] = <char>(48 + x % 10)
            n += 1
            x //= 10
            if x == 0 or n >= 20:
                break
        k = 0
        if neg:
            g_smp_num[0] = b'-'
            k = 1
        while n > 0:
            n -= 1
            g_smp_num[k] = tmp[n]
            k += 1
        smp_str(v, g_smp_num, k)
        return 1
    if v.type == SMP_IP:
        if inet_ntop(v.family, v.ip, g_smp_num, sizeof(g_smp_num)) == NULL:
            return 0
        smp_str(v, g_smp_num, <int>strlen(g_smp_num))
        return 1
    return 0


cdef int smp_convert(sexpr_t *e, smp_t *v) noexcept nogil:
    """Apply e's converters to v: 0 if one cannot (the value is then dropped, as in 2.6)."""
    cdef int k, i, c
    for k in range(e.nconv):
        c = e.conv[k]
        if c == SC_LOWER or c == SC_UPPER:
            if not smp_as_str(v) or v.len > SMP_SCRATCH:
                return 0
            if v.p != g_smp_scratch:
                memcpy(g_smp_scratch, v.p, v.len)
                v.p = g_smp_scratch
            for i in range(v.len):
                if c == SC_LOWER and g_smp_scratch[i] >= b'A' and g_smp_scratch[i] <= b'Z':
                    g_smp_scratch[i] = g_smp_scratch[i] + 32
                elif c == SC_UPPER and g_smp_scratch[i] >= b'a' and g_smp_scratch[i] <= b'z':
                    g_smp_scratch[i] = g_smp_scratch[i] - 32
        elif c == SC_LENGTH:
            if not smp_as_str(v):
                return 0
            smp_int(v, v.len)
        elif c == SC_MAP:
            if not map_lookup(&g_mapuse[e.conv_arg[k]], v):
                return 0
        else:
            return 0
    return 1


cdef int sess_local_addr(sess_t *s, sockaddr_storage *out) noexcept nogil:
    """The address the client connected to (dst, %fi): what its PROXY header said, else the
    socket's own; -1 if unknown."""
    cdef socklen_t alen = sizeof(sockaddr_storage)
    if s.pp_dst_set:
        out[0] = s.pp_dst
        return 0
    memset(out, 0, sizeof(sockaddr_storage))
    if s.cfd < 0 or getsockname(s.cfd, <sockaddr *>out, &alen) != 0:
        return -1
    return 0


cdef inline int sess_dst_port(sess_t *s) noexcept nogil:
    """The port the client connected to: the listener's, or the one a PROXY header gave."""
    if s.pp_dst_set:
        if s.pp_dst.ss_family == AF_INET:
            return ntohs((<sockaddr_in *>&s.pp_dst).sin_port)
        return ntohs((<sockaddr_in6 *>&s.pp_dst).sin6_port)
    return g_lst[s.lst].port


cdef int smp_next(sess_t *s, sexpr_t *e, const char *buf, h1_msg *m, int *it, smp_t *v) noexcept nogil:
    """The next converted value of e (ACL iteration): 1 and v set, 0 when there is no more."""
    while smp_fetch(s, e, buf, m, it, v):
        if smp_convert(e, v):
            return 1
    return 0


cdef int smp_one(sess_t *s, sexpr_t *e, const char *buf, h1_msg *m, smp_t *v) noexcept nogil:
    """The one value of e for an action argument: the occurrence e.occ asks for (the last when
    0 or negative -1, counted from the first when positive), converted. 1 if there is one."""
    cdef int it = 0, n = 0, want, total = 0
    cdef smp_t last
    if e.occ < 0:
        while smp_fetch(s, e, buf, m, &it, v):
            total += 1
        want = total + 1 + e.occ
        if want <= 0:
            return 0
        it = 0
    else:
        want = e.occ
    last.type = SMP_NONE
    while smp_fetch(s, e, buf, m, &it, v):
        n += 1
        if want > 0 and n == want:
            return smp_convert(e, v)
        last = v[0]
    if want > 0 or last.type == SMP_NONE:
        return 0
    v[0] = last
    return smp_convert(e, v)


# ---------------------------------------------------------------------------------------------
# formats: a value with %[...] parts (http-request set-header/add-header), built per request

cdef struct fmt_seg_t:
    int expr             # g_sexpr index, -1: literal text
    char *text
    int len


cdef fmt_seg_t *g_fmt = NULL
cdef int g_nfmt = 0


cdef int format_setup(list segs) except -1:
    """segs: (expr index or -1, literal bytes) for every format of every rule (start-up)."""
    global g_fmt, g_nfmt
    cdef int i
    cdef bytes b
    g_nfmt = len(segs)
    g_fmt = <fmt_seg_t *>calloc(max(1, g_nfmt), sizeof(fmt_seg_t))
    if g_fmt == NULL:
        raise MemoryError()
    for i, (expr, text) in enumerate(segs):
        b = bytes(text)
        g_fmt[i].expr = expr
        g_fmt[i].len = len(b)
        g_fmt[i].text = <char *>malloc(len(b) + 1)
        if g_fmt[i].text == NULL:
            raise MemoryError()
        memcpy(g_fmt[i].text, <const char *>b, len(b))
        g_fmt[i].text[len(b)] = 0
    return 0


cdef int format_build(sess_t *s, int first, int n, const char *buf, h1_msg *m, char *out, int cap) noexcept nogil:
    """Segments g_fmt[first .. first + n] into out: the length, or -1 when it does not fit.
    A sample that gives nothing adds nothing (2.6 leaves it empty)."""
    cdef int k, len = 0
    cdef fmt_seg_t *g
    cdef smp_t v
    for k in range(n):
        g = &g_fmt[first + k]
        if g.expr < 0:
            if len + g.len > cap:
                return -1
            memcpy(out + len, g.text, g.len)
            len += g.len
            continue
        if not smp_one(s, &g_sexpr[g.expr], buf, m, &v) or not smp_as_str(&v):
            continue
        if len + v.len > cap:
            return -1
        memcpy(out + len, v.p, v.len)
        len += v.len
    return len
