# Converters (configuration.txt 7.3.1) and maps, the start-up of every sample expression, and
# evaluation: smp_next() for ACLs (every value), smp_one() for actions (one value), formats
# (%[...] in a value). Plain C, nogil; the arguments of each converter sit in carg_t.

cpdef enum sample_conv:
    SC_LOWER = 0
    SC_UPPER = 1
    SC_LENGTH = 2
    SC_MAP = 3           # map*(FILE[,DEFAULT])
    SC_BYTES = 4
    SC_FIELD = 5
    SC_WORD = 6
    SC_REGSUB = 7
    SC_HEX = 8
    SC_BASE64 = 9
    SC_URL_DEC = 10
    SC_JSON = 11
    SC_LTRIM = 12
    SC_RTRIM = 13
    SC_SDBM = 14
    SC_DJB2 = 15
    SC_WT6 = 16
    SC_CRC32 = 17
    SC_ADD = 18
    SC_SUB = 19
    SC_MUL = 20
    SC_DIV = 21
    SC_MOD = 22
    SC_AND = 23
    SC_OR = 24
    SC_XOR = 25
    SC_NEG = 26
    SC_NOT = 27
    SC_BOOL = 28
    SC_ODD = 29
    SC_EVEN = 30
    SC_IPMASK = 31
    SC_TABLE = 32        # in_table(T), table_NAME([idx,]T[,default]): i0 = the table, i1 = data type | op << 8
                         # | array index << 16, i2 = the default (ni 3: there is one)
    SC_B64DEC = 33
    SC_STRCMP = 34       # strcmp(VAR): i0 = the variable
    SC_CONCAT = 35       # concat([START],[VAR],[END]): s0, s1 = START, END; i0 = the variable or -1
    SC_XXH32 = 36        # xxh32/xxh64/xxh3([SEED]): libxxhash, as 2.6 (a signed result)
    SC_XXH64 = 37
    SC_XXH3 = 38
    SC_SET_VAR = 39      # set-var(VAR): i0 = the variable, i1 its conditions; the value goes on unchanged
    SC_URL_ENC = 40      # url_enc([query]): RFC 3986's unreserved characters stay, the rest %XX
    SC_IIF = 41          # iif(TRUE,FALSE): s0 if the boolean input is true, else s1
    SC_SECURE_MEMCMP = 42    # secure_memcmp(VAR): i0 = the variable; equal bytes in constant time


cdef struct carg_t:      # a converter's arguments (conv_arg indexes g_carg)
    long long i0
    long long i1
    long long i2
    int ni
    char *s0
    int s0len
    char *s1
    int s1len
    int ns
    regex_t *re          # regsub
    int glob             # regsub's g flag
    int mapuse           # map*: g_mapuse index


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


cdef carg_t *g_carg = NULL


cdef map_t *g_map = NULL


cdef map_ent_t *g_map_ent = NULL
cdef int g_nmap = 0
cdef int g_nmap_ent = 0
# the tables the previous rebuild replaced: freed at the next one, so that nothing still pointing
# into them from the event being processed when the update came can read freed memory
cdef map_t *g_map_old = NULL
cdef map_ent_t *g_map_ent_old = NULL
cdef int g_nmap_old = 0
cdef int g_nmap_ent_old = 0
# runtime map updates (`add map`, `set map`, `del map`, `clear map` on the stats socket): the
# master publishes the new contents and bumps shm_hdr.maps_gen; the loop sees the change between
# two epoll waits and calls g_maps_refresh(gen) (Python: pyhaproxy/worker.py), a rare event
cdef object g_maps_refresh = None
cdef unsigned int g_maps_gen_seen = 0


cdef mapuse_t *g_mapuse = NULL


cdef const char *LOG_HEX_UP = b"0123456789ABCDEF"


cdef const char *LOG_HEX_LOW = b"0123456789abcdef"



# ---------------------------------------------------------------------------------------------
# start-up (Python)

cdef unsigned int map_hash(const char *s, int n) noexcept nogil:
    cdef unsigned int h = 2166136261u
    cdef int i
    for i in range(n):
        h = (h ^ <unsigned char>s[i]) * 16777619u
    return h


cdef void _maps_free(map_t *maps, int nmap, map_ent_t *ents, int nent) noexcept:
    cdef int i
    for i in range(nent):
        free(ents[i].key)
        free(ents[i].val)
        if ents[i].re != NULL:
            regfree(ents[i].re)
            free(ents[i].re)
    for i in range(nmap):
        free(maps[i].htab)
    free(ents)
    free(maps)


cdef int maps_build(list maps) except -1:
    """maps: (match, [(key bytes, value bytes, (family, packed, bits) or None)]) per map file and
    match kind; replaces g_map/g_map_ent (at start-up, and again on a runtime update)."""
    global g_map, g_map_ent, g_nmap, g_nmap_ent, g_map_old, g_map_ent_old, g_nmap_old, g_nmap_ent_old
    cdef int i, k, n = 0, total, size, h, rc
    cdef map_t *mp
    cdef map_t *new_map
    cdef map_ent_t *new_ent
    cdef map_ent_t *me
    cdef char err[256]
    for match, ents in maps:
        n += len(ents)
    total = n
    new_map = <map_t *>calloc(max(1, len(maps)), sizeof(map_t))
    new_ent = <map_ent_t *>calloc(max(1, total), sizeof(map_ent_t))
    if new_map == NULL or new_ent == NULL:
        free(new_map)
        free(new_ent)
        raise MemoryError()
    n = 0
    try:
        for i, (match, ents) in enumerate(maps):
            mp = &new_map[i]
            mp.match = match
            mp.first = n
            mp.n = len(ents)
            for k, (key, val, net) in enumerate(ents):
                me = &new_ent[n + k]
                me.key = _smp_copy(key)
                me.klen = len(key)
                me.val = _smp_copy(val)
                me.vlen = len(val)
                if net is not None:
                    me.family = net[0]
                    memcpy(me.net, <const char *>net[1], len(net[1]))
                    me.bits = net[2]
                if match == PM_REG:
                    me.re = <regex_t *>calloc(1, sizeof(regex_t))
                    if me.re == NULL:
                        raise MemoryError()
                    rc = regcomp(me.re, me.key, REG_EXTENDED | REG_NOSUB)
                    if rc != 0:
                        regerror(rc, me.re, err, 256)
                        free(me.re)
                        me.re = NULL
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
                    me = &new_ent[n + k]
                    h = map_hash(me.key, me.klen) & mp.hmask
                    while mp.htab[h] != 0:
                        if new_ent[mp.htab[h] - 1].klen == me.klen and \
                                memcmp(new_ent[mp.htab[h] - 1].key, me.key, me.klen) == 0:
                            break           # a duplicate key: the first one wins
                        h = (h + 1) & mp.hmask
                    if mp.htab[h] == 0:
                        mp.htab[h] = n + k + 1
            n += len(ents)
    except BaseException:
        _maps_free(new_map, len(maps), new_ent, total)   # calloc'd: what was not set is NULL
        raise
    if g_map_old != NULL:
        _maps_free(g_map_old, g_nmap_old, g_map_ent_old, g_nmap_ent_old)
    g_map_old, g_map_ent_old, g_nmap_old, g_nmap_ent_old = g_map, g_map_ent, g_nmap, g_nmap_ent
    g_map, g_map_ent, g_nmap, g_nmap_ent = new_map, new_ent, len(maps), n
    return 0


cdef void maps_refresh(unsigned int gen) noexcept with gil:
    """The master published new map contents (generation gen): rebuild the tables from them.
    On any error the previous tables stay (and the error is printed once)."""
    global g_maps_gen_seen
    g_maps_gen_seen = gen
    if g_maps_refresh is None:
        return
    try:
        maps_build(g_maps_refresh(gen))
    except BaseException as exc:
        import sys
        print(f"[ALERT] worker: runtime map update {gen} not applied: {exc!r}", file=sys.stderr)


def set_maps_refresh(object fn) -> None:
    """fn(gen) -> the maps list of maps_build() for published generation gen (the worker sets it
    before run_worker)."""
    global g_maps_refresh
    g_maps_refresh = fn


cdef int maps_setup(list maps, list uses) except -1:
    """maps: as maps_build(); uses: (map index, default bytes or None) per map* converter
    (start-up)."""
    global g_mapuse
    cdef int i
    maps_build(maps)
    g_mapuse = <mapuse_t *>calloc(max(1, len(uses)), sizeof(mapuse_t))
    if g_mapuse == NULL:
        raise MemoryError()
    for i, (m, dflt) in enumerate(uses):
        g_mapuse[i].map = m
        if dflt is not None:
            g_mapuse[i].has_dflt = 1
            g_mapuse[i].dflt = _smp_copy(dflt)
            g_mapuse[i].dlen = len(dflt)
    return 0


cdef int sample_setup(list exprs, list cargs) except -1:
    """exprs: (fetch, arg bytes, iarg, occ, [(conv, carg index)...]) per expression, as compiled
    by pyhaproxy/worker.py from the model's SampleExpr; referenced by index (acl_t.expr...).
    cargs: ([int...], [bytes...], icase, glob, mapuse) per converter."""
    global g_sexpr, g_nsexpr, g_carg
    cdef carg_t *c
    cdef int flags, rc
    cdef sexpr_t *e
    cdef int i, k
    cdef bytes arg
    g_carg = <carg_t *>calloc(max(1, len(cargs)), sizeof(carg_t))
    if g_carg == NULL:
        raise MemoryError()
    for i, (ints, strs, icase, glob, mapuse) in enumerate(cargs):
        c = &g_carg[i]
        c.ni = len(ints)
        c.i0 = ints[0] if len(ints) > 0 else 0
        c.i1 = ints[1] if len(ints) > 1 else 0
        c.i2 = ints[2] if len(ints) > 2 else 0
        c.ns = len(strs)
        if len(strs) > 0:
            c.s0 = _smp_copy(strs[0])
            c.s0len = len(strs[0])
        if len(strs) > 1:
            c.s1 = _smp_copy(strs[1])
            c.s1len = len(strs[1])
        c.glob = 1 if glob else 0
        c.mapuse = mapuse
    for i, (ints, strs, icase, glob, mapuse) in enumerate(cargs):
        if icase is None:       # not a regsub
            continue
        c = &g_carg[i]
        c.re = <regex_t *>malloc(sizeof(regex_t))
        if c.re == NULL:
            raise MemoryError()
        flags = REG_EXTENDED | (REG_ICASE if icase else 0)
        rc = regcomp(c.re, c.s0, flags)
        if rc != 0:
            raise ValueError(f"bad regular expression '{strs[0].decode('latin-1')}' in regsub")
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
# maps and converters (plain C)

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



cdef unsigned int smp_hash(int c, const unsigned char *k, int n) noexcept nogil:
    """The hashes of HAProxy's hash-type (sdbm, djb2, wt6, crc32): the balancing's own
    (backend.pxi), so a converter and `hash-type` give the same results."""
    cdef const char *b = <const char *>k
    if c == SC_SDBM:
        return hash_sdbm(b, n)
    if c == SC_DJB2:
        return hash_djb2(b, n)
    if c == SC_CRC32:
        return hash_crc32(b, n)
    return hash_wt6(b, n)


cdef int smp_field(carg_t *a, smp_t *v, int words) noexcept nogil:
    """field(index,delims[,count]) and word(): 1-based from the start, negative from the end;
    count 0 takes every remaining one. word() skips empty fields."""
    cdef int idx = <int>a.i0, cnt = <int>a.i1 if a.ni > 1 else 1
    cdef int i, cur = 0, st = -1, en = -1, fs
    cdef int starts[512]
    cdef int ends[512]
    cdef int nf = 0
    i = 0
    while i <= v.len and nf < 512:
        fs = i
        while i < v.len and memchr(a.s0, v.p[i], a.s0len) == NULL:
            i += 1
        if not (words and i == fs):
            starts[nf] = fs
            ends[nf] = i
            nf += 1
        i += 1
    if idx == 0 or nf == 0:
        return 0
    if idx > 0:
        cur = idx - 1
        if cur >= nf:
            return 0
        st = starts[cur]
        en = ends[nf - 1] if cnt == 0 or cur + cnt >= nf else ends[cur + cnt - 1]
    else:
        cur = nf + idx
        if cur < 0:
            return 0
        en = ends[cur]
        st = starts[0] if cnt == 0 or cur - cnt + 1 <= 0 else starts[cur - cnt + 1]
    smp_str(v, v.p + st, en - st)
    return 1


cdef int smp_regsub(carg_t *a, smp_t *v) noexcept nogil:
    """regsub(regex,subst[,flags]): sed's s/regex/subst/ with \\0..\\9, all matches with g."""
    cdef char *out = smp_other_buf(v)
    cdef char *src = g_map_regbuf
    cdef int n = 0, pos = 0, k, g, eflags = 0
    cdef regmatch_t pm[10]
    if v.len >= <int>sizeof(g_map_regbuf):
        return 0
    memcpy(src, v.p, v.len)
    src[v.len] = 0
    while pos <= v.len:
        if regexec(a.re, src + pos, 10, pm, eflags) != 0:
            break
        if n + pm[0].rm_so > SMP_SCRATCH:
            return 0
        memcpy(out + n, src + pos, pm[0].rm_so)
        n += pm[0].rm_so
        k = 0
        while k < a.s1len:
            if a.s1[k] == b'\\' and k + 1 < a.s1len and a.s1[k + 1] >= b'0' and a.s1[k + 1] <= b'9':
                g = a.s1[k + 1] - 48
                if pm[g].rm_so >= 0:
                    if n + pm[g].rm_eo - pm[g].rm_so > SMP_SCRATCH:
                        return 0
                    memcpy(out + n, src + pos + pm[g].rm_so, pm[g].rm_eo - pm[g].rm_so)
                    n += pm[g].rm_eo - pm[g].rm_so
                k += 2
                continue
            if n >= SMP_SCRATCH:
                return 0
            out[n] = a.s1[k]
            n += 1
            k += 1
        if pm[0].rm_eo == pm[0].rm_so:
            # an empty match: copy one character and go on, or stop at the end
            if pos + pm[0].rm_eo < v.len:
                if n >= SMP_SCRATCH:
                    return 0
                out[n] = src[pos + pm[0].rm_eo]
                n += 1
            pos += pm[0].rm_eo + 1
        else:
            pos += pm[0].rm_eo
        eflags = REG_NOTBOL
        if not a.glob:
            break
    if pos < v.len:
        if n + v.len - pos > SMP_SCRATCH:
            return 0
        memcpy(out + n, src + pos, v.len - pos)
        n += v.len - pos
    smp_str(v, out, n)
    return 1


cdef inline int smp_hexval(unsigned char c) noexcept nogil:
    if c >= b'0' and c <= b'9':
        return c - 48
    if c >= b'a' and c <= b'f':
        return c - 87
    if c >= b'A' and c <= b'F':
        return c - 55
    return -1


cdef int b64_val(unsigned char ch) noexcept nogil:
    if ch >= b'A' and ch <= b'Z':
        return ch - 65
    if ch >= b'a' and ch <= b'z':
        return ch - 71
    if ch >= b'0' and ch <= b'9':
        return ch + 4
    if ch == b'+':
        return 62
    if ch == b'/':
        return 63
    return -1


cdef int b64_decode(const unsigned char *u, int n, char *out, int cap) noexcept nogil:
    """Standard base64 with its padding (2.6's base64dec): the decoded length, -1 if it is not
    base64 (a length that is not a multiple of 4, a stray character, padding inside)."""
    cdef int i, k = 0, pad = 0, q, x, d
    if n % 4 != 0 or n // 4 * 3 > cap:
        return -1
    i = 0
    while i < n:
        q = 0
        for d in range(4):
            if u[i + d] == b'=':
                if i + 4 != n or d < 2:
                    return -1
                pad += 1
                x = 0
            else:
                if pad:
                    return -1
                x = b64_val(u[i + d])
                if x < 0:
                    return -1
            q = (q << 6) | x
        out[k] = <char>(q >> 16)
        out[k + 1] = <char>((q >> 8) & 0xff)
        out[k + 2] = <char>(q & 0xff)
        k += 3
        i += 4
    return k - pad


cdef int smp_conv_more(int c, carg_t *a, smp_t *v) noexcept nogil:
    """Every converter but lower/upper/length/map: 0 if it cannot apply (the value is dropped)."""
    cdef char *out
    cdef const unsigned char *u
    cdef int i, n = 0, x, hi, lo
    cdef unsigned int h
    cdef const char *B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    cdef unsigned char ch
    if c >= SC_ADD and c <= SC_EVEN:
        if not smp_as_int(v):
            return 0
        if c == SC_ADD:
            v.i = v.i + a.i0
        elif c == SC_SUB:
            v.i = v.i - a.i0
        elif c == SC_MUL:
            v.i = v.i * a.i0
        elif c == SC_DIV:
            v.i = v.i // a.i0 if a.i0 != 0 else 9223372036854775807LL
        elif c == SC_MOD:
            v.i = v.i % a.i0 if a.i0 != 0 else 0
        elif c == SC_AND:
            v.i = v.i & a.i0
        elif c == SC_OR:
            v.i = v.i | a.i0
        elif c == SC_XOR:
            v.i = v.i ^ a.i0
        elif c == SC_NEG:
            v.i = -v.i
        else:
            if c == SC_NOT:
                v.i = v.i == 0
            elif c == SC_BOOL:
                v.i = v.i != 0
            elif c == SC_ODD:
                v.i = (v.i & 1) != 0
            else:
                v.i = (v.i & 1) == 0
            v.type = SMP_BOOL
        return 1
    if c == SC_IIF:
        if not smp_as_int(v):
            return 0
        if v.i != 0:
            smp_str(v, a.s0, a.s0len)
        else:
            smp_str(v, a.s1, a.s1len)
        return 1
    if c == SC_IPMASK:
        if v.type != SMP_IP:
            return 0
        x = <int>(a.i0 if v.family == AF_INET else (a.i1 if a.ni > 1 else 128))
        n = 4 if v.family == AF_INET else 16
        for i in range(n):
            if x >= 8:
                x -= 8
            elif x > 0:
                v.ip[i] = v.ip[i] & <unsigned char>(0xff << (8 - x))
                x = 0
            else:
                v.ip[i] = 0
        return 1
    if c == SC_HEX and (v.type == SMP_INT or v.type == SMP_BOOL):
        # 2.6 casts an integer to 8 bytes in network order first: 16 digits
        out = smp_other_buf(v)
        for i in range(16):
            out[i] = LOG_HEX_UP[(<unsigned long long>v.i >> (60 - 4 * i)) & 15]
        smp_str(v, out, 16)
        return 1
    if not smp_as_str(v):
        return 0
    u = <const unsigned char *>v.p
    if c == SC_BYTES:
        if a.i0 < 0 or a.i0 > v.len:
            return 0
        n = v.len - <int>a.i0
        if a.ni > 1 and a.i1 >= 0 and a.i1 < n:
            n = <int>a.i1
        smp_str(v, v.p + a.i0, n)
        return 1
    if c == SC_FIELD or c == SC_WORD:
        return smp_field(a, v, c == SC_WORD)
    if c == SC_REGSUB:
        return smp_regsub(a, v)
    if c == SC_LTRIM:
        i = 0
        while i < v.len and memchr(a.s0, v.p[i], a.s0len) != NULL:
            i += 1
        smp_str(v, v.p + i, v.len - i)
        return 1
    if c == SC_RTRIM:
        n = v.len
        while n > 0 and memchr(a.s0, v.p[n - 1], a.s0len) != NULL:
            n -= 1
        v.len = n
        return 1
    if c >= SC_XXH32 and c <= SC_XXH3:
        if c == SC_XXH32:
            smp_int(v, XXH32(u, v.len, <uint32_t>(a.i0 if a.ni else 0)))
        elif c == SC_XXH64:
            smp_int(v, <long long>XXH64(u, v.len, <uint64_t>(a.i0 if a.ni else 0)))
        else:
            smp_int(v, <long long>XXH3_64bits_withSeed(u, v.len, <uint64_t>(a.i0 if a.ni else 0)))
        return 1
    if c >= SC_SDBM and c <= SC_CRC32:
        h = smp_hash(c, u, v.len)
        if a.ni > 0 and a.i0 == 1:
            h = full_hash(h)      # (`avalanche`: backend.pxi)
        smp_int(v, h)
        return 1
    out = smp_other_buf(v)
    if c == SC_HEX:
        if 2 * v.len > SMP_SCRATCH:
            return 0
        for i in range(v.len):
            out[n] = LOG_HEX_UP[u[i] >> 4]
            out[n + 1] = LOG_HEX_UP[u[i] & 15]
            n += 2
    elif c == SC_BASE64:
        if (v.len + 2) // 3 * 4 > SMP_SCRATCH:
            return 0
        i = 0
        while i + 2 < v.len:
            out[n] = B64[u[i] >> 2]
            out[n + 1] = B64[((u[i] & 3) << 4) | (u[i + 1] >> 4)]
            out[n + 2] = B64[((u[i + 1] & 15) << 2) | (u[i + 2] >> 6)]
            out[n + 3] = B64[u[i + 2] & 63]
            n += 4
            i += 3
        if v.len - i == 1:
            out[n] = B64[u[i] >> 2]
            out[n + 1] = B64[(u[i] & 3) << 4]
            out[n + 2] = b'='
            out[n + 3] = b'='
            n += 4
        elif v.len - i == 2:
            out[n] = B64[u[i] >> 2]
            out[n + 1] = B64[((u[i] & 3) << 4) | (u[i + 1] >> 4)]
            out[n + 2] = B64[(u[i + 1] & 15) << 2]
            out[n + 3] = b'='
            n += 4
    elif c == SC_B64DEC:
        n = b64_decode(u, v.len, out, SMP_SCRATCH)
        if n < 0:
            return 0                # not base64: 2.6 fails too
    elif c == SC_URL_DEC:
        # as 2.6: '+' is a space in form mode (the argument) or once past a '?'; a NUL ends it
        x = <int>(a.ni > 0 and a.i0 != 0)
        i = 0
        while i < v.len and u[i] != 0:
            ch = u[i]
            if ch == b'?':
                x = 1
            if ch == b'%':
                if i + 2 >= v.len:
                    return 0            # a truncated escape: 2.6 fails too
                hi = smp_hexval(u[i + 1])
                lo = smp_hexval(u[i + 2])
                if hi < 0 or lo < 0:
                    return 0            # 2.6 fails on a bad escape
                out[n] = <char>(hi * 16 + lo)
                i += 3
            else:
                out[n] = <char>(b' ' if ch == b'+' and x else ch)
                i += 1
            n += 1
    elif c == SC_URL_ENC:
        for i in range(v.len):
            ch = u[i]
            if n + 3 > SMP_SCRATCH:
                return 0
            if (ch >= b'a' and ch <= b'z') or (ch >= b'A' and ch <= b'Z') or (ch >= b'0' and ch <= b'9') \
                    or ch == b'-' or ch == b'.' or ch == b'_' or ch == b'~':
                out[n] = <char>ch
                n += 1
            else:
                out[n] = b'%'
                out[n + 1] = LOG_HEX_UP[ch >> 4]
                out[n + 2] = LOG_HEX_UP[ch & 15]
                n += 3
    elif c == SC_JSON:
        for i in range(v.len):
            ch = u[i]
            if n + 6 > SMP_SCRATCH:
                return 0
            if ch == b'"' or ch == b'\\' or ch == b'/':
                out[n] = b'\\'
                out[n + 1] = <char>ch
                n += 2
            elif ch == 8 or ch == 9 or ch == 10 or ch == 12 or ch == 13:
                out[n] = b'\\'
                out[n + 1] = b'b' if ch == 8 else b't' if ch == 9 else b'n' if ch == 10 else \
                    b'f' if ch == 12 else b'r'
                n += 2
            elif ch < 32:
                out[n] = b'\\'
                out[n + 1] = b'u'
                out[n + 2] = b'0'
                out[n + 3] = b'0'
                out[n + 4] = LOG_HEX_LOW[ch >> 4]
                out[n + 5] = LOG_HEX_LOW[ch & 15]
                n += 6
            else:
                out[n] = <char>ch
                n += 1
    else:
        return 0
    smp_str(v, out, n)
    return 1


cdef const char *conv_var_str(sess_t *s, long long k, char *num, int *n) noexcept nogil:
    """Variable k's value as a string (an integer printed into num, 24 bytes), NULL if unset."""
    cdef smp_t x
    if k < 0 or not var_get(s, <int>k, &x):
        return NULL
    if x.type == SMP_STR:
        n[0] = x.len
        return x.p
    if x.type == SMP_INT or x.type == SMP_BOOL:
        n[0] = snprintf(num, 24, "%lld", x.i)
        return num
    return NULL


cdef int conv_with_var(sess_t *s, int c, carg_t *a, smp_t *v) noexcept nogil:
    """strcmp(VAR) and concat(START,VAR,END) (the value, then START, VAR's value and END), the
    converters that read a variable."""
    cdef char num[24]
    cdef const char *p
    cdef char *out
    cdef int n = 0, r, k
    if not smp_as_str(v):
        return 0
    p = conv_var_str(s, a.i0, num, &n)
    if c == SC_STRCMP:
        if p == NULL:
            return 0
        # 2.6: strncmp over the shorter length, then the difference of the lengths
        r = strncmp(v.p, p, v.len if v.len < n else n)
        smp_int(v, r if r != 0 else v.len - n)
        return 1
    if c == SC_SECURE_MEMCMP:
        if p == NULL:
            return 0
        r = 0
        if n == v.len:
            for k in range(n):
                r = r | (<unsigned char>v.p[k] ^ <unsigned char>p[k])
        smp_int(v, 1 if n == v.len and r == 0 else 0)
        v.type = SMP_BOOL
        return 1
    if p == NULL:
        n = 0
    if a.s0len + v.len + n + a.s1len > SMP_SCRATCH:
        return 0
    out = smp_other_buf(v)
    memcpy(out, v.p, v.len)
    k = v.len
    memcpy(out + k, a.s0, a.s0len)
    k += a.s0len
    if n:
        memcpy(out + k, p, n)
        k += n
    memcpy(out + k, a.s1, a.s1len)
    smp_str(v, out, k + a.s1len)
    return 1


cdef int smp_convert(sess_t *s, sexpr_t *e, smp_t *v) noexcept nogil:
    """Apply e's converters to v: 0 if one cannot (the value is then dropped, as in 2.6)."""
    cdef int k, i, c
    cdef carg_t *ca
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
            if not map_lookup(&g_mapuse[g_carg[e.conv_arg[k]].mapuse], v):
                return 0
        elif c == SC_TABLE:
            ca = &g_carg[e.conv_arg[k]]
            if not smp_table_conv(ca.i0, <int>(ca.i1 & 0xff) | <int>((ca.i1 >> 16) & 0xff) << STD_IDX_SHIFT,
                                  <int>((ca.i1 >> 8) & 0xff), ca.ni > 2, ca.i2, v):
                return 0
        elif c == SC_SET_VAR:
            var_set_if(s, <int>g_carg[e.conv_arg[k]].i0, v, <int>g_carg[e.conv_arg[k]].i1)
        elif c == SC_STRCMP or c == SC_CONCAT or c == SC_SECURE_MEMCMP:
            if not conv_with_var(s, c, &g_carg[e.conv_arg[k]], v):
                return 0
        elif not smp_conv_more(c, &g_carg[e.conv_arg[k]], v):
            return 0
    return 1


# ---------------------------------------------------------------------------------------------
# evaluation

cdef int smp_next(sess_t *s, sexpr_t *e, const char *buf, h1_msg *m, int *it, smp_t *v) noexcept nogil:
    """The next converted value of e (ACL iteration): 1 and v set, 0 when there is no more."""
    while smp_fetch(s, e, buf, m, it, v):
        if smp_convert(s, e, v):
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
            return smp_convert(s, e, v)
        last = v[0]
    if want > 0 or last.type == SMP_NONE:
        return 0
    v[0] = last
    return smp_convert(s, e, v)



# ---------------------------------------------------------------------------------------------
# formats: a value with %[...] parts, built per request

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
