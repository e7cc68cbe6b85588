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
    SF_VAR = 29          # var(scope.name): iarg is the variable's index
    SF_SSL_FC = 30       # tls: the client connection is TLS (bool)
    SF_SSL_FC_SNI = 31   # tls: the server name the client sent (SNI)
    SF_UNIQUE_ID = 32    # the request's unique-id-format ID
    SF_STK = 33          # sc_*, scN_*, src_*, table_cnt/avl (stktable.pxi): iarg = counter | type << 8 | op << 16
                         # | array index << 24 | table+1 << 32
    SF_HTTP_AUTH = 34    # http_auth(L): the request's Basic credentials are valid in userlist iarg
    SF_HTTP_AUTH_GROUP = 35   # http_auth_group(L): each group of that user
    SF_SSL_FC_PROTOCOL = 36   # tls: the client connection's protocol ("TLSv1.3")
    SF_SSL_FC_CIPHER = 37     # tls: its cipher ("TLS_AES_256_GCM_SHA384")
    SF_SSL_FC_RESUMED = 38    # tls: its session was resumed (bool; 0 for a plain connection, as 2.6)
    SF_SSL_FC_ALPN = 39       # tls: the protocol ALPN chose
    SF_SSL_FC_HAS_SNI = 40    # tls: the client sent a server name (bool)
    SF_SSL_ZERO = 41          # tls: ssl_fc_err: 0 on a TLS connection (one that is a session had
                              # no error), nothing on a plain one
    SF_SSL_C_USED = 42        # tls: a client certificate was presented (bool)
    SF_FC_ERR = 43            # the front connection's error code (connerr.pxi): set on the line of one
                              # that failed, 0 for a session
    SF_SSL_BC = 44            # tls: the server connection is TLS (bool)
    SF_SSL_C_S_DN = 45        # tls: the client certificate's subject DN, or one entry (iarg: occurrence)
    SF_SSL_C_I_DN = 46        # tls: its issuer DN
    SF_SSL_C_SERIAL = 47      # tls: its serial (binary)
    SF_SSL_C_SHA1 = 48        # tls: its SHA-1 fingerprint (binary)
    SF_SSL_C_VERSION = 49     # tls: its X509 version (int)
    SF_SSL_C_ERR = 50         # tls: iarg 0 ssl_c_err, 1 ssl_c_ca_err, 2 ssl_c_verify
    SF_REQ_PAYLOAD = 51       # req.payload(off,len): iarg = off | len << 32 (len 0: the rest)
    SF_REQ_SSL_SNI = 52       # req.ssl_sni: the server name of a ClientHello in the buffer
    SF_REQ_SSL_HELLO = 53     # req.ssl_hello_type: its handshake type (1: ClientHello)
    SF_REQ_SSL_VER = 54       # req.ssl_ver: its version (0x0303 TLS 1.2's record...)
    SF_REQ_PAYLOAD_LV = 55    # req.payload_lv(off1,size[,off2]): iarg = off1 | size << 20 |
                              # off2's kind << 28 (0 none, 1 absolute, 2 relative) | off2 << 32
    SF_REQ_RDP_COOKIE = 56    # req.rdp_cookie([name]): an RDP connection request's cookie
    SF_REQ_RDP_COOKIE_CNT = 57    # req.rdp_cookie_cnt([name]): 1 when it is there, else 0
    SF_RES_PAYLOAD = 58       # res.payload(off,len): what the server sent so far (tcp-response)
    SF_RES_LEN = 59           # res.len
    SF_CAPTURE_REQ = 60       # capture.req.hdr(N): the request capture slot N (iarg), as logged
    SF_CAPTURE_RES = 61       # capture.res.hdr(N)
    SF_WAIT_END = 62          # wait_end: true, but content rules wait for the delay's end first
    SF_RES_COOK = 63          # res.cook([name]): the response's Set-Cookie values
    SF_RES_COOK_CNT = 64      # res.cook_cnt([name])
    SF_FC_ERR_STR = 65        # fc_err_str: the message of fc_err's code (connerr.pxi)
    SF_NBSRV = 66             # nbsrv([BE]): its usable servers (iarg: the backend, -1 the current one)
    SF_QUEUE = 67             # queue([BE]): the connections waiting in its queue (this worker's)
    SF_BE_CONN = 68           # be_conn([BE]): its current connections (this worker's)
    SF_CONNSLOTS = 69         # connslots([BE]): free connection and queue slots of its servers
    SF_SRV_IS_UP = 70         # srv_is_up([BE/]SRV): iarg = the server
    SF_DATE = 71              # date([OFFSET][,UNIT]): iarg = OFFSET, arg = "ms"/"us" or none
    SF_RAND = 72              # rand([RANGE]): iarg = RANGE, 0 for 2^32
    SF_UUID = 73              # uuid([4]): a random (version 4) UUID
    SF_SSL_FC_NPN = 74        # tls: the protocol NPN chose (`npn`, TLS 1.2)
    SF_REQ_BODY = 75          # req.body: the request body's bytes in the buffer (de-chunked)
    SF_REQ_BODY_LEN = 76      # req.body_len: how many of them
    SF_REQ_BODY_SIZE = 77     # req.body_size: its Content-Length (chunked: req.body_len)
    SF_REQ_BODY_PARAM = 78    # req.body_param([name]): a NAME=VALUE of a url-encoded body's (first)


cpdef enum stk_op:       # what an SF_STK fetch does with its data type
    STK_GET = 0          # the value (a rate read over its period)
    STK_INC = 1          # inc_gpc0/1: +1 (and its rate), then the value
    STK_CLR = 2          # clr_gpc0/1: the value, then 0
    STK_TRACKED = 3      # sc_tracked: a bool
    STK_TRACKERS = 4     # sc_trackers: sessions tracking the entry
    STK_KBYTES = 5       # kbytes_in/out: the byte count / 1024
    STK_TABLE_CNT = 6    # table_cnt: entries in use
    STK_TABLE_AVL = 7    # table_avl: free entries
    STK_IN_TABLE = 8     # the in_table converter: whether the key has an entry (bool)
    STK_EXPIRE = 9       # the table_expire converter: ms before the entry expires
    STK_IDLE = 10        # the table_idle converter: ms since the entry was last touched


cdef enum:
    STK_SRC = 3          # an SF_STK fetch's counter field for src_*: the client address is the key


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


cdef enum:
    VAR_MAX = 32         # variables of a configuration (every scope)
    VAR_LEN = 256        # the longest string a variable keeps (longer ones are cut)
    VAR_PROC = 0         # scopes
    VAR_SESS = 1
    VAR_TXN = 2          # txn, req and res: forgotten when the transaction ends


cdef struct var_t:      # one slot of a session's variables (and of the process's)
    int type             # SMP_NONE: unset
    int len
    long long i
    int family
    unsigned char ip[16]
    char data[VAR_LEN]


cdef int g_var_scope[VAR_MAX]
cdef var_t g_proc_vars[VAR_MAX]
cdef sexpr_t *g_sexpr = NULL


cdef int g_nsexpr = 0


cdef char g_smp_scratch[SMP_SCRATCH]


cdef char g_smp_scratch2[SMP_SCRATCH]


cdef char g_smp_num[24]
cdef char g_smp_uuid[40]       # uuid's value


# ---------------------------------------------------------------------------------------------
# start-up helper, then fetching (plain C)

cdef char *_smp_copy(bytes b) except NULL:
    cdef char *p = <char *>malloc(len(b) + 1)
    if p == NULL:
        raise MemoryError()
    memcpy(p, <const char *>b, len(b))
    p[len(b)] = 0
    return p


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
    """The next cookie named e.arg (any cookie without a name) on the request's Cookie lines, or
    (res.cook) the response's Set-Cookie lines, whose attributes (Path=/...) count as pairs too,
    as 2.6 reads them."""
    cdef int hi = it[0] >> 16, off = it[0] & 0xffff, st, en, eq, ns, ne, vend
    cdef int rsp = e.fetch == SF_RES_COOK or e.fetch == SF_RES_COOK_CNT
    cdef const char *val
    cdef h1_hdr *h
    while hi < m.nhdr:
        h = &m.hdr[hi]
        if off > h.v_len or not (h1_hdr_name_is(buf, h, b"set-cookie", 10) if rsp
                                 else h1_hdr_name_is(buf, h, b"cookie", 6)):
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


cdef int _smp_body_param(sexpr_t *e, const char *b, int n, smp_t *v) noexcept nogil:
    """req.body_param([NAME]): the value of the body's first `&`-separated NAME=VALUE named
    e.arg (no name: the first one)."""
    cdef int i = 0, st, eq
    while i < n:
        st = i
        while i < n and b[i] != b'&':
            i += 1
        eq = st
        while eq < i and b[eq] != b'=':
            eq += 1
        if e.arg_len == 0 or (eq - st == e.arg_len and memcmp(b + st, e.arg, e.arg_len) == 0):
            if eq < i:
                smp_str(v, b + eq + 1, i - eq - 1)
            else:
                smp_str(v, b + i, 0)
            return 1
        i += 1
    return 0


cdef int _smp_count(sexpr_t *e, const char *buf, h1_msg *m, int split) noexcept nogil:
    cdef int it = 0, n = 0
    cdef smp_t v
    while _smp_hdr_next(e, buf, m, &it, split, &v):
        n += 1
    return n


cdef int sess_local_addr(sess_t *s, sockaddr_storage *out) noexcept nogil:
    """The address the client connected to (dst, %fi): what its PROXY header said, else the
    socket's own; -1 if unknown."""
    cdef socklen_t alen = sizeof(sockaddr_storage)
    if s.pp_dst_set:
        sess_addr_get(out, &s.pp_dst)
        return 0
    memset(out, 0, sizeof(sockaddr_storage))
    if s.cfd < 0 or getsockname(s.cfd, <sockaddr *>out, &alen) != 0:
        return -1
    return 0


cdef inline int sess_dst_port(sess_t *s) noexcept nogil:
    """The port the client connected to: the listener's, or the one a PROXY header gave."""
    if s.pp_dst_set:
        if s.pp_dst.sin6_family == AF_INET:
            return ntohs((<sockaddr_in *>&s.pp_dst).sin_port)
        return ntohs((<sockaddr_in6 *>&s.pp_dst).sin6_port)
    return g_lst[s.lst].port


cdef int smp_local_addr(sess_t *s, smp_t *v) noexcept nogil:
    cdef sockaddr_storage a
    if sess_local_addr(s, &a) < 0:
        return 0
    smp_addr(v, &a, 0)
    return v.type != SMP_NONE



cdef int vars_setup(list scopes) except -1:
    """scopes: each variable's scope (VAR_PROC, VAR_SESS, VAR_TXN), by index (start-up)."""
    cdef int k
    if len(scopes) > VAR_MAX:
        raise ValueError(f"more than {VAR_MAX} variables")
    for k in range(len(scopes)):
        g_var_scope[k] = scopes[k]
    memset(g_proc_vars, 0, sizeof(g_proc_vars))
    return 0


cdef var_t *var_slot(sess_t *s, int k, int create) noexcept nogil:
    """Variable k of the session (or of the process for proc.*); NULL when it has no storage."""
    if k < 0 or k >= VAR_MAX:
        return NULL
    if g_var_scope[k] == VAR_PROC:
        return &g_proc_vars[k]
    if s.vars == NULL:
        if not create:
            return NULL
        s.vars = buf_get()
        if s.vars == NULL:
            return NULL
        memset(s.vars, 0, sizeof(var_t) * VAR_MAX)
    return &(<var_t *>s.vars)[k]


cdef int var_get(sess_t *s, int k, smp_t *v) noexcept nogil:
    cdef var_t *x = var_slot(s, k, 0)
    if x == NULL or x.type == SMP_NONE:
        return 0
    v.type = x.type
    v.i = x.i
    v.p = x.data
    v.len = x.len
    v.family = x.family
    memcpy(v.ip, x.ip, 16)
    return 1


cdef void var_set(sess_t *s, int k, smp_t *v) noexcept nogil:
    """set-var: the value is copied (a string is cut at VAR_LEN bytes)."""
    cdef var_t *x = var_slot(s, k, 1)
    if x == NULL:
        return
    x.type = v.type
    x.i = v.i
    x.family = v.family
    memcpy(x.ip, v.ip, 16)
    x.len = 0
    if v.type == SMP_STR:
        x.len = v.len if v.len < VAR_LEN else VAR_LEN
        memcpy(x.data, v.p, x.len)


cpdef enum var_cond:     # set-var(NAME,COND...) (2.6): every one given must hold for the value to be set
    VC_IFEXISTS = 1      # the variable exists (here: is set; unset-var removes it, as in 2.6)
    VC_IFNOTEXISTS = 2
    VC_IFEMPTY = 4       # the new value is an empty string (a number is never empty)
    VC_IFNOTEMPTY = 8
    VC_IFSET = 16
    VC_IFNOTSET = 32
    VC_IFGT = 64         # the variable is greater than the new value (true unless both are integers)
    VC_IFLT = 128


cdef void var_set_if(sess_t *s, int k, smp_t *v, int conds) noexcept nogil:
    """set-var with its conditions (var_cond): var_set only when all of them hold."""
    cdef var_t *x
    cdef int is_set, empty, both_int
    if conds:
        x = var_slot(s, k, 0)
        is_set = x != NULL and x.type != SMP_NONE
        empty = v.type == SMP_STR and v.len == 0
        both_int = is_set and x.type == SMP_INT and v.type == SMP_INT
        if (conds & (VC_IFEXISTS | VC_IFSET)) and not is_set:
            return
        if (conds & (VC_IFNOTEXISTS | VC_IFNOTSET)) and is_set:
            return
        if ((conds & VC_IFEMPTY) and not empty) or ((conds & VC_IFNOTEMPTY) and empty):
            return
        if both_int and (((conds & VC_IFGT) and not x.i > v.i) or ((conds & VC_IFLT) and not x.i < v.i)):
            return
    var_set(s, k, v)


cdef void var_unset(sess_t *s, int k) noexcept nogil:
    cdef var_t *x = var_slot(s, k, 0)
    if x != NULL:
        x.type = SMP_NONE


cdef void vars_end_txn(sess_t *s) noexcept nogil:
    """The transaction ended: its txn/req/res variables are forgotten, sess ones kept."""
    cdef int k
    if s.vars == NULL:
        return
    for k in range(VAR_MAX):
        if g_var_scope[k] == VAR_TXN:
            (<var_t *>s.vars)[k].type = SMP_NONE


# ---------------------------------------------------------------------------------------------
# userlists (`userlist` sections): http_auth, http_auth_group

cdef struct ul_user_t:
    char *name
    int nlen
    char *secret
    int crypted          # `password HASH`: checked with crypt(3)
    int gfirst           # its groups: g_ul_gname[gfirst .. gfirst + ngroups]
    int ngroups


cdef ul_user_t *g_ul_user = NULL
cdef char **g_ul_gname = NULL
cdef int *g_ul_first = NULL      # per userlist: its first user in g_ul_user, and how many
cdef int *g_ul_count = NULL
cdef int g_nul = 0
cdef crypt_data g_crypt


cdef int userlists_setup(list lists) except -1:
    """lists: per userlist, [(name, secret, crypted, [group...])] (start-up)."""
    global g_ul_user, g_ul_gname, g_ul_first, g_ul_count, g_nul
    cdef int i, k, nu = 0, ng = 0, gi = 0
    cdef ul_user_t *u
    g_nul = len(lists)
    for users in lists:
        nu += len(users)
        for _n, _s, _c, groups in users:
            ng += len(groups)
    g_ul_user = <ul_user_t *>calloc(max(1, nu), sizeof(ul_user_t))
    g_ul_gname = <char **>calloc(max(1, ng), sizeof(char *))
    g_ul_first = <int *>calloc(max(1, g_nul), sizeof(int))
    g_ul_count = <int *>calloc(max(1, g_nul), sizeof(int))
    if g_ul_user == NULL or g_ul_gname == NULL or g_ul_first == NULL or g_ul_count == NULL:
        raise MemoryError()
    memset(&g_crypt, 0, sizeof(crypt_data))
    k = 0
    for i, users in enumerate(lists):
        g_ul_first[i] = k
        g_ul_count[i] = len(users)
        for name, secret, crypted, groups in users:
            u = &g_ul_user[k]
            u.name = _smp_copy(name)
            u.nlen = len(name)
            u.secret = _smp_copy(secret)
            u.crypted = 1 if crypted else 0
            u.gfirst = gi
            u.ngroups = len(groups)
            for g in groups:
                g_ul_gname[gi] = _smp_copy(g)
                gi += 1
            k += 1
    return 0


cdef inline int _b64(char c) noexcept nogil:
    if b'A' <= c <= b'Z':
        return c - 65
    if b'a' <= c <= b'z':
        return c - 71
    if b'0' <= c <= b'9':
        return c + 4
    if c == b'+':
        return 62
    if c == b'/':
        return 63
    return -1


cdef int http_auth_user(int ul, const char *buf, h1_msg *m) noexcept nogil:
    """The user of userlist ul whose `Authorization: Basic` credentials the request carries and
    match (the index in g_ul_user), or -1."""
    cdef char dec[512]
    cdef int k, i = 0, n, d = 0, acc = 0, bits = 0, x, colon = -1, u, plen
    cdef const char *v
    cdef const char *res
    cdef ul_user_t *usr
    if ul < 0 or ul >= g_nul or buf == NULL or m == NULL:
        return -1
    k = h1_find_hdr(buf, m, b"authorization", 13, 0)
    if k < 0:
        return -1
    v = buf + m.hdr[k].v_off
    n = m.hdr[k].v_len
    if n < 6 or (v[0] | 32) != b'b' or (v[1] | 32) != b'a' or (v[2] | 32) != b's' \
            or (v[3] | 32) != b'i' or (v[4] | 32) != b'c' or v[5] != b' ':
        return -1
    i = 6
    while i < n and v[i] == b' ':
        i += 1
    while i < n and v[i] != b'=' and v[i] != b' ':
        x = _b64(v[i])
        if x < 0 or d >= 511:
            return -1
        acc = (acc << 6) | x
        bits += 6
        if bits >= 8:
            bits -= 8
            dec[d] = <char>((acc >> bits) & 0xff)
            d += 1
        i += 1
    dec[d] = 0
    for k in range(d):
        if dec[k] == b':':
            colon = k
            break
    if colon < 0:
        return -1
    plen = d - colon - 1
    for u in range(g_ul_first[ul], g_ul_first[ul] + g_ul_count[ul]):
        usr = &g_ul_user[u]
        if usr.nlen != colon or memcmp(usr.name, dec, colon) != 0:
            continue
        if usr.crypted:
            res = crypt_r(dec + colon + 1, usr.secret, &g_crypt)
            return u if res != NULL and strcmp(res, usr.secret) == 0 else -1
        return u if <int>strlen(usr.secret) == plen and memcmp(usr.secret, dec + colon + 1, plen) == 0 else -1
    return -1


cdef int stk_key_of(st_hdr *h, smp_t *v, unsigned char *out, uint32_t *n) noexcept nogil:
    """A sample as a key of table h (2.6's casts: an IPv4 into an ipv6 table is v4-mapped, a
    v4-mapped IPv6 fits an ip table, an address is a string as text); 0 when it cannot be one."""
    cdef uint32_t x
    cdef int k
    cdef char txt[64]
    if h.key_type == STK_IP or h.key_type == STK_IPV6:
        if v.type == SMP_STR:
            if v.len >= 64:
                return 0
            memcpy(txt, v.p, v.len)
            txt[v.len] = 0
            if inet_pton(AF_INET, txt, v.ip) == 1:
                v.family = AF_INET
            elif inet_pton(AF_INET6, txt, v.ip) == 1:
                v.family = AF_INET6
            else:
                return 0
            v.type = SMP_IP
        if v.type != SMP_IP:
            return 0
        if h.key_type == STK_IP:
            if v.family == AF_INET:
                memcpy(out, v.ip, 4)
            elif memcmp(v.ip, b"\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0:
                memcpy(out, v.ip + 12, 4)
            else:
                return 0
            n[0] = 4
            return 1
        if v.family == AF_INET:
            memset(out, 0, 10)
            out[10] = 0xff
            out[11] = 0xff
            memcpy(out + 12, v.ip, 4)
        else:
            memcpy(out, v.ip, 16)
        n[0] = 16
        return 1
    if h.key_type == STK_INTEGER:
        if v.type == SMP_IP and v.family == AF_INET:
            memcpy(&x, v.ip, 4)
            x = ntohl(x)
        elif not smp_as_int(v):
            return 0
        else:
            x = <uint32_t>v.i
        memcpy(out, &x, 4)
        n[0] = 4
        return 1
    if not smp_as_str(v):
        return 0
    k = v.len
    if h.key_type == STK_STRING:
        if k > <int>h.key_size - 1:
            k = h.key_size - 1          # 2.6 keeps what fits
        memcpy(out, v.p, k)
        n[0] = k
        return 1
    if k > <int>h.key_size:
        k = h.key_size
    memcpy(out, v.p, k)
    memset(out + k, 0, h.key_size - k)   # binary keys are padded with zeroes
    n[0] = h.key_size
    return 1


cdef int smp_stk(sess_t *s, long long arg, smp_t *v) noexcept nogil:
    """sc_*/scN_*/src_*/table_* (2.6's semantics): a counter not tracked gives nothing (but
    sc_tracked: false), a data type the table does not store gives nothing, a key with no entry
    0; src_* looks the client's address up (inc creates)."""
    cdef int ctr = arg & 0xff, op = (arg >> 16) & 0xff
    cdef int dt = <int>((arg >> 8) & 0xff) | <int>((arg >> 24) & 0xff) << STD_IDX_SHIFT    # a dtx
    cdef int t = <int>(arg >> 32) - 1, i
    cdef st_hdr *h
    cdef smp_t kv
    cdef unsigned char key[STK_KEYMAX]
    cdef uint32_t klen = 0
    cdef st_entry *e
    cdef long long x
    if op == STK_TABLE_CNT or op == STK_TABLE_AVL:
        if t < 0 or t >= g_nst:
            return 0
        smp_int(v, g_st[t].used if op == STK_TABLE_CNT else g_st[t].size - g_st[t].used)
        return 1
    if ctr < STK_SRC:
        if not s.stk_tab[ctr]:
            if op == STK_TRACKED:
                v.type = SMP_BOOL
                v.i = 0
                return 1
            return 0            # 2.6: no value from a counter not tracked
        if op == STK_TRACKED:
            v.type = SMP_BOOL
            v.i = 1
            return 1
        h = g_st[s.stk_tab[ctr] - 1]
        i = s.stk_ent[ctr]
        if t >= 0 and t < g_nst and t != s.stk_tab[ctr] - 1:
            # sc_*(N,table): the tracked key, looked up in another table
            e = st_entry_at(h, i)
            klen = e.key_len
            memcpy(key, st_key(e), klen)
            h = g_st[t]
            i = st_get(h, key, klen, op == STK_INC, 0)
    else:
        if t < 0 or t >= g_nst:
            return 0
        h = g_st[t]
        smp_addr(&kv, sa_of(&s.cli_addr), 0)
        if kv.type == SMP_NONE or not stk_key_of(h, &kv, key, &klen):
            return 0
        i = st_get(h, key, klen, op == STK_INC or op == STK_CLR, 0)     # (2.6: src_inc/clr_* create)
    if i < 0:
        smp_int(v, 0)       # no entry for that key: 0, as 2.6
        return 1
    if op == STK_TRACKERS:
        smp_int(v, st_entry_at(h, i).ref_cnt)
        return 1
    if op == STK_INC:
        x = st_inc(h, i, dt, dt + 1)            # gpc0/gpc1/gpc(N) and their rates (id + 1)
        if x < 0:
            x = 0                               # (2.6: 0 when neither is stored)
    elif op == STK_CLR:
        x = st_value_clear(h, i, dt)
    else:
        x = st_value(h, i, dt)
    if x < 0:
        return 0
    smp_int(v, x >> 10 if op == STK_KBYTES else x)
    return 1


cdef int smp_table_conv(long long t, int dt, int op, int has_def, long long defv, smp_t *v) noexcept nogil:
    """The table_* converters and in_table (2.6's sample_conv_table_*): the value v is a key of
    table t, looked up without being created; a key with no entry gives 0 (in_table: false;
    table_expire/table_idle: their default, else nothing), a data type (dtx dt) the table does
    not store gives nothing."""
    cdef st_hdr *h
    cdef unsigned char key[STK_KEYMAX]
    cdef uint32_t klen = 0
    cdef int i
    cdef long long x
    cdef st_entry *e
    if t < 0 or t >= g_nst:
        return 0
    h = g_st[t]
    if not stk_key_of(h, v, key, &klen):
        return 0
    i = st_get(h, key, klen, 0, 0)
    if op == STK_IN_TABLE:
        v.type = SMP_BOOL
        v.i = 1 if i >= 0 else 0
        return 1
    if op == STK_EXPIRE or op == STK_IDLE:
        if i < 0:
            if not has_def:
                return 0
            smp_int(v, defv)
            return 1
        e = st_entry_at(h, i)
        st_elock(h, e)
        x = e.expire - st_now() if e.expire else 0
        st_eunlock(h, e)
        if x < 0:
            x = 0
        if op == STK_IDLE:      # (the table's expire less what is left of it)
            x = h.expire_ms - x if x < h.expire_ms else 0
        smp_int(v, x)
        return 1
    if i < 0:
        smp_int(v, 0)
        return 1
    if op == STK_TRACKERS:
        smp_int(v, st_entry_at(h, i).ref_cnt)
        return 1
    x = st_value(h, i, dt)
    if x < 0:
        return 0
    smp_int(v, x >> 10 if op == STK_KBYTES else x)
    return 1


cdef int smp_tls(sess_t *s, sexpr_t *e, smp_t *v) noexcept nogil:
    """The TLS fetches of 2.6's `option httpslog`, the client certificate's (tls.pxi reads
    OpenSSL)."""
    cdef int fd = sess_tls_fd(s), fetch = e.fetch, n = 0, occ
    cdef const char *p
    if fetch == SF_FC_ERR:
        smp_int(v, s.fc_err)
        return 1
    if fetch == SF_FC_ERR_STR:
        p = conn_err_str(s.fc_err)
        smp_str(v, p, <int>strlen(p))
        return 1
    if fetch == SF_SSL_BC:
        v.type = SMP_BOOL
        v.i = s.sfd >= 0 and tls_is(s.sfd)
        return 1
    if fetch == SF_SSL_FC_RESUMED or fetch == SF_SSL_FC_HAS_SNI:
        v.type = SMP_BOOL
        v.i = tls_resumed(fd) if fetch == SF_SSL_FC_RESUMED else tls_sni(fd) != NULL
        return 1
    if not tls_is(fd):
        return 0
    if fetch == SF_SSL_ZERO:
        smp_int(v, 0)
        return 1
    if fetch == SF_SSL_C_USED:
        v.type = SMP_BOOL
        v.i = tls_cert_field(fd, 4, NULL, 0, &n)
        return 1
    if fetch == SF_SSL_C_ERR:
        smp_int(v, tls_cert_errors(fd, <int>e.iarg))
        return 1
    if fetch >= SF_SSL_C_S_DN and fetch <= SF_SSL_C_VERSION:
        occ = <int>e.iarg
        if not tls_cert_field(fd, fetch - SF_SSL_C_S_DN, e.arg, occ - 1 if occ > 0 else occ, &n):
            return 0
        if fetch == SF_SSL_C_VERSION:
            smp_int(v, g_tls_cert[0] - 48)
        else:
            smp_str(v, g_tls_cert, n)
        return 1
    p = tls_protocol(fd) if fetch == SF_SSL_FC_PROTOCOL else \
        tls_cipher(fd) if fetch == SF_SSL_FC_CIPHER else tls_alpn(fd, fetch == SF_SSL_FC_NPN)
    if p == NULL or p[0] == 0:
        return 0
    smp_str(v, p, <int>strlen(p))
    return 1


cdef int g_smp_may_change = 0   # a payload fetch lacked data that may still come (tcpinspect.pxi)
cdef int g_smp_may_grow = 0     # req.len/res.len gave a length that may still grow: a condition
                                # that does not hold yet waits (one that holds is final), as 2.6


cdef inline int _smp_more(chan_t *ch) noexcept nogil:
    """The data a payload fetch needs is not there yet: say so when it may still come."""
    global g_smp_may_change
    if not ch.eof and ch.buf_in < BUFSIZE:
        g_smp_may_change = 1
    return 0


cdef int _smp_slice(chan_t *ch, long long iarg, smp_t *v) noexcept nogil:
    """req.payload / res.payload(off,len): iarg = off | len << 32 (len 0: the rest) of what
    channel ch holds so far (not forwarded yet)."""
    cdef int n = ch.buf_in if ch.buf != NULL else 0
    cdef long long off = iarg & 0xffffffffLL, ln = iarg >> 32
    if ln == 0:
        ln = n - off
    if ln <= 0 or off + ln > n:
        return _smp_more(ch)
    smp_str(v, ch.buf + off, <int>ln)
    return 1


# logline.pxi's log_capture_get (the captures live in the log's storage, defined after this file)
cdef int (*g_capture_get)(sess_t *, int, int, const char **) noexcept nogil


cdef int smp_res_payload(sess_t *s, sexpr_t *e, smp_t *v) noexcept nogil:
    """res.payload, res.len: what the server sent so far, held by `tcp-response` inspection."""
    global g_smp_may_grow
    if e.fetch == SF_RES_LEN:
        smp_int(v, s.rsp.buf_in if s.rsp.buf != NULL else 0)
        if not s.rsp.eof and s.rsp.buf_in < BUFSIZE:
            g_smp_may_grow = 1
        return 1
    return _smp_slice(&s.rsp, e.iarg, v)


cdef int _rdp_cookie(const unsigned char *p, int n, const char *name, int nlen, int *voff,
                     int *vlen) noexcept nogil:
    """The cookie of an RDP connection request (an 11-byte TPKT/X.224 header, then `Cookie:
    NAME=VALUE` CRLF): 1 found (value at voff, vlen bytes), 0 not one, -1 not all there yet.
    Only the first cookie is read and the name is case-insensitive, as 2.6 reads it."""
    cdef const char *word = b"cookie:"
    cdef int i = 11, k
    if n - i <= 7:
        return -1
    for k in range(7):
        if (p[i + k] | 0x20) != <unsigned char>word[k]:    # (':' is unchanged by | 0x20)
            return 0
    i += 7
    while i < n and p[i] == b' ':
        i += 1
    if nlen:
        if n - i <= nlen:
            return -1
        if p[i + nlen] != b'=':
            return 0
        for k in range(nlen):
            if (p[i + k] | 0x20) != (<unsigned char>name[k] | 0x20):
                return 0
        i += nlen + 1
    else:
        while i < n and p[i] != b'=':
            if p[i] == b'\r' or p[i] == b'\n':
                return 0
            i += 1
        if i >= n:
            return -1
        i += 1
    voff[0] = i
    while i < n and p[i] != b'\r':
        i += 1
    if n - i < 2:
        return -1
    if p[i + 1] != b'\n':
        return 0
    vlen[0] = i - voff[0]
    return 1


cdef int smp_payload_lv(sess_t *s, sexpr_t *e, smp_t *v) noexcept nogil:
    """req.payload_lv, req.rdp_cookie(_cnt): a length-prefixed block, an RDP cookie, read from
    what the client sent so far (2.6's payload.c semantics; offset2 as documented)."""
    cdef const unsigned char *p = <const unsigned char *>s.req.buf
    cdef int n = s.req.buf_in if s.req.buf != NULL else 0
    cdef long long off1, lsz, kind, boff
    cdef unsigned int size = 0
    cdef int i, r, voff = 0, vlen = 0
    if e.fetch == SF_REQ_PAYLOAD_LV:
        off1 = e.iarg & 0xfffff
        lsz = (e.iarg >> 20) & 0xff
        kind = (e.iarg >> 28) & 3
        if off1 + lsz > n:
            return _smp_more(&s.req)
        for i in range(<int>lsz):
            size = (size << 8) + p[off1 + i]
        boff = off1 + lsz
        if kind == 1:
            boff = e.iarg >> 32
        elif kind == 2:
            boff += e.iarg >> 32
        if size == 0 or size > BUFSIZE or boff < 0 or boff + size > BUFSIZE:
            return 0                # never will
        if boff + size > n:
            return _smp_more(&s.req)
        smp_str(v, <const char *>p + boff, <int>size)
        return 1
    r = _rdp_cookie(p, n, e.arg, e.arg_len if e.arg != NULL else 0, &voff, &vlen)
    if r < 0:
        return _smp_more(&s.req)
    if e.fetch == SF_REQ_RDP_COOKIE_CNT:
        smp_int(v, r)
        return 1
    if r == 0:
        return 0
    smp_str(v, <const char *>p + voff, vlen)
    return 1


cdef int smp_payload(sess_t *s, sexpr_t *e, smp_t *v) noexcept nogil:
    """req.payload, req.ssl_*: read what the client sent so far (s.req.buf), as 2.6's content
    inspection does. A ClientHello is read from its record: type, version, session ID, cipher
    suites, compression methods, then the extensions up to server_name."""
    cdef const unsigned char *p = <const unsigned char *>s.req.buf
    cdef int n = s.req.buf_in if s.req.buf != NULL else 0
    cdef int i, end, ext_end, t, l
    if e.fetch == SF_REQ_PAYLOAD:
        return _smp_slice(&s.req, e.iarg, v)
    if n < 5:
        return _smp_more(&s.req)
    if p[0] != 0x16:                      # not a TLS handshake record: never will be
        return 0
    if e.fetch == SF_REQ_SSL_VER and n >= 11:
        smp_int(v, (<int>p[9] << 8) | p[10])     # the ClientHello's version
        return 1
    if e.fetch == SF_REQ_SSL_HELLO:
        # 2.6: the whole handshake message must be there (its header says how long)
        if n < 9:
            return _smp_more(&s.req)
        if ((<int>p[1] << 16) | (<int>p[2] << 8)) < 0x030000 or ((<int>p[3] << 8) | p[4]) < 4:
            return 0
        if n < 9 + ((<int>p[6] << 16) | (<int>p[7] << 8) | p[8]):
            return _smp_more(&s.req)
        smp_int(v, p[5])
        return 1
    if n < 6:
        return _smp_more(&s.req)
    if e.fetch == SF_REQ_SSL_VER:
        return _smp_more(&s.req)
    # req.ssl_sni: the whole record must be there
    end = 5 + ((<int>p[3] << 8) | p[4])
    if p[5] != 1:
        return 0
    if n < end:
        return _smp_more(&s.req)
    i = 5 + 4 + 2 + 32                    # handshake header, version, random
    if i >= end:
        return 0
    i += 1 + p[i]                          # session id
    if i + 2 > end:
        return 0
    i += 2 + ((<int>p[i] << 8) | p[i + 1])   # cipher suites
    if i >= end:
        return 0
    i += 1 + p[i]                          # compression methods
    if i + 2 > end:
        return 0
    ext_end = i + 2 + ((<int>p[i] << 8) | p[i + 1])
    i += 2
    if ext_end > end:
        return 0
    while i + 4 <= ext_end:
        t = (<int>p[i] << 8) | p[i + 1]
        l = (<int>p[i + 2] << 8) | p[i + 3]
        i += 4
        if i + l > ext_end:
            return 0
        if t == 0 and l >= 5 and p[i + 2] == 0:
            l = (<int>p[i + 3] << 8) | p[i + 4]
            if i + 5 + l > ext_end or l == 0:
                return 0
            smp_str(v, <const char *>p + i + 5, l)
            return 1
        i += l
    return 0


cdef unsigned long long g_prng_state = 0


cdef unsigned long long smp_prng() noexcept nogil:
    """rand and uuid's numbers: xorshift64*, seeded once per worker from its pid and the clock
    (2.6 says of rand: not for security purposes; neither is this)."""
    global g_prng_state
    if g_prng_state == 0:
        g_prng_state = (<unsigned long long>getpid() << 32) ^ <unsigned long long>g_wall ^ 0x9E3779B97F4A7C15ULL
    g_prng_state ^= g_prng_state >> 12
    g_prng_state ^= g_prng_state << 25
    g_prng_state ^= g_prng_state >> 27
    return g_prng_state * 0x2545F4914F6CDD1DULL


cdef void smp_uuid4(smp_t *v) noexcept nogil:
    """A version 4 UUID (RFC 4122), lower-case hex as 2.6 prints it."""
    cdef unsigned long long a = smp_prng(), b = smp_prng()
    cdef const char *HEX = b"0123456789abcdef"
    cdef unsigned char r[16]
    cdef int i, n = 0
    for i in range(8):
        r[i] = <unsigned char>(a >> (8 * i))
        r[8 + i] = <unsigned char>(b >> (8 * i))
    r[6] = (r[6] & 0x0f) | 0x40         # version 4
    r[8] = (r[8] & 0x3f) | 0x80         # the RFC 4122 variant
    for i in range(16):
        if i == 4 or i == 6 or i == 8 or i == 10:
            g_smp_uuid[n] = b'-'
            n += 1
        g_smp_uuid[n] = HEX[r[i] >> 4]
        g_smp_uuid[n + 1] = HEX[r[i] & 15]
        n += 2
    smp_str(v, g_smp_uuid, n)


cdef int smp_fetch(sess_t *s, sexpr_t *e, const char *buf, h1_msg *m, int *it, smp_t *v) noexcept nogil:
    """The next raw value of fetch e (it starts at 0): 1 and v set, 0 when there is no more.
    buf/m: the scanned request, NULL outside HTTP (HTTP fetches then give nothing)."""
    global g_smp_may_change, g_smp_may_grow
    cdef int off = 0, n = 0, k
    cdef long long x
    cdef const char *p
    v.type = SMP_NONE
    if e.fetch == SF_HDR or e.fetch == SF_FHDR:
        if buf == NULL or m == NULL:
            return 0
        return _smp_hdr_next(e, buf, m, it, e.fetch == SF_HDR, v)
    if e.fetch == SF_COOK or e.fetch == SF_RES_COOK:
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
    if e.fetch == SF_HTTP_AUTH_GROUP:
        k = http_auth_user(<int>e.iarg, buf, m)
        if k < 0 or it[0] >= g_ul_user[k].ngroups:
            return 0
        p = g_ul_gname[g_ul_user[k].gfirst + it[0]]
        smp_str(v, p, <int>strlen(p))
        it[0] += 1
        return 1
    if it[0]:
        return 0              # every other fetch has one value
    it[0] = 1
    if e.fetch == SF_TRUE or e.fetch == SF_FALSE:
        v.type = SMP_BOOL
        v.i = 1 if e.fetch == SF_TRUE else 0
        return 1
    if e.fetch == SF_SRC or e.fetch == SF_SRC_PORT:
        smp_addr(v, sa_of(&s.cli_addr), e.fetch == SF_SRC_PORT)
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
    if e.fetch == SF_NBSRV or e.fetch == SF_QUEUE or e.fetch == SF_BE_CONN or e.fetch == SF_CONNSLOTS:
        k = <int>e.iarg if e.iarg >= 0 else s.be
        if e.fetch == SF_NBSRV:
            smp_int(v, be_usable_servers(k))
        elif e.fetch == SF_QUEUE:
            smp_int(v, g_px[k].nq)
        elif e.fetch == SF_BE_CONN:
            smp_int(v, g_px[k].beconn)
        else:
            smp_int(v, be_conn_slots(k))
        return 1
    if e.fetch == SF_SRV_IS_UP:
        v.type = SMP_BOOL
        v.i = srv_alive(<int>e.iarg)
        return 1
    if e.fetch == SF_DATE:
        x = g_wall if (e.arg != NULL and e.arg[0] == b'm') else \
            g_wall * 1000 if (e.arg != NULL and e.arg[0] == b'u') else g_wall // 1000
        smp_int(v, x + e.iarg)
        return 1
    if e.fetch == SF_RAND:
        x = <long long>(smp_prng() & 0xffffffffULL)
        smp_int(v, (x * e.iarg) >> 32 if e.iarg > 0 else x)
        return 1
    if e.fetch == SF_UUID:
        smp_uuid4(v)
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
    if e.fetch == SF_UNIQUE_ID:
        if s.uid_len <= 0:
            return 0
        smp_str(v, s.uid, s.uid_len)
        return 1
    if e.fetch == SF_VAR:
        return var_get(s, <int>e.iarg, v)
    if e.fetch == SF_STK:
        return smp_stk(s, e.iarg, v)
    if e.fetch == SF_HTTP_AUTH:
        v.type = SMP_BOOL
        v.i = 1 if http_auth_user(<int>e.iarg, buf, m) >= 0 else 0
        return 1
    if e.fetch == SF_STATUS:
        if m != NULL and m.status > 0:
            smp_int(v, m.status)        # the response being analysed
            return 1
        if s.status <= 0:
            return 0
        smp_int(v, s.status)
        return 1
    if e.fetch == SF_SSL_FC:     # tls
        v.type = SMP_BOOL
        v.i = tls_is(sess_tls_fd(s))
        return 1
    if e.fetch == SF_SSL_FC_SNI:     # tls
        p = tls_sni(sess_tls_fd(s))
        if p == NULL:
            return 0
        smp_str(v, p, <int>strlen(p))
        return 1
    if (e.fetch >= SF_SSL_FC_PROTOCOL and e.fetch <= SF_SSL_C_ERR) or e.fetch == SF_FC_ERR_STR \
            or e.fetch == SF_SSL_FC_NPN:
        return smp_tls(s, e, v)
    if e.fetch >= SF_REQ_PAYLOAD and e.fetch <= SF_REQ_SSL_VER:
        return smp_payload(s, e, v)
    if e.fetch >= SF_REQ_PAYLOAD_LV and e.fetch <= SF_REQ_RDP_COOKIE_CNT:
        return smp_payload_lv(s, e, v)
    if e.fetch == SF_RES_PAYLOAD or e.fetch == SF_RES_LEN:
        return smp_res_payload(s, e, v)
    if e.fetch == SF_WAIT_END:
        # 2.6: no value until the inspection is over, then true; the content rules wait while a
        # fetch "may change" and decide with what they have once final
        g_smp_may_change = 1
        v.type = SMP_BOOL
        v.i = 1
        return 1
    if e.fetch == SF_CAPTURE_REQ or e.fetch == SF_CAPTURE_RES:
        if g_capture_get == NULL:
            return 0
        n = g_capture_get(s, e.fetch == SF_CAPTURE_RES, <int>e.iarg, &p)
        if n < 0:
            return 0
        smp_str(v, p, n)
        return 1
    if e.fetch == SF_REQ_LEN and m == NULL:
        smp_int(v, s.req.buf_in if s.req.buf != NULL else 0)     # TCP: what the client sent so far
        if not s.req.eof and s.req.buf_in < BUFSIZE:
            g_smp_may_grow = 1
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
        if m.host_off < 0:
            return 0
        if not smp_path(buf, m, &off, &n, 0):
            n = 0               # no path ("*", "http://host"): the host alone, as 2.6
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
    if e.fetch == SF_COOK_CNT or e.fetch == SF_RES_COOK_CNT:
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
    if (e.fetch == SF_REQ_BODY or e.fetch == SF_REQ_BODY_LEN or e.fetch == SF_REQ_BODY_SIZE
            or e.fetch == SF_REQ_BODY_PARAM):
        if buf != s.req.buf:
            return 0            # (HTTP/2: its body is not in s.req.buf)
        n = _smp_req_body(s, buf, m, &p)
        if e.fetch == SF_REQ_BODY_PARAM:
            return _smp_body_param(e, p, n, v)
        if e.fetch == SF_REQ_BODY:
            smp_str(v, p, n)
        elif e.fetch == SF_REQ_BODY_SIZE and not m.chunked and m.content_length > n:
            smp_int(v, m.content_length)     # (2.6: the bytes in the buffer and those announced)
        else:
            smp_int(v, n)
        return 1
    return 0


cdef char g_body_dc[BUFSIZE]     # a chunked request body's data, its framing taken out (req.body)


cdef inline int _hexval(char c) noexcept nogil:
    if b'0' <= c <= b'9':
        return c - 48
    if b'a' <= c <= b'f':
        return c - 87
    if b'A' <= c <= b'F':
        return c - 55
    return -1


cdef int _smp_req_body(sess_t *s, const char *buf, h1_msg *m, const char **out) noexcept nogil:
    """The request body's bytes in the buffer as 2.6's HTX holds them (a chunked one without its
    framing, in g_body_dc): their number, *out their start."""
    cdef const char *p = buf + m.hdrs_end
    cdef int n = s.req_after_hdr, i = 0, o = 0, k, d
    cdef long long sz, take
    out[0] = p
    if n <= 0:
        return 0
    if not m.chunked:
        if m.content_length <= 0:
            return 0
        return n if n < m.content_length else <int>m.content_length
    out[0] = g_body_dc
    while i < n:
        sz = 0
        k = i
        while i < n:
            d = _hexval(p[i])
            if d < 0:
                break
            sz = sz * 16 + d
            i += 1
        if i == k or sz > BUFSIZE:
            break
        while i < n and p[i] != b'\n':     # chunk extensions up to the line end
            i += 1
        i += 1
        if sz == 0 or i >= n:
            break
        take = sz if sz < n - i else n - i
        memcpy(g_body_dc + o, p + i, take)
        o += <int>take
        i += <int>take
        if take < sz:
            break
        if i < n and p[i] == b'\r':
            i += 1
        if i < n and p[i] == b'\n':
            i += 1
    return o


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


cdef inline char *smp_other_buf(smp_t *v) noexcept nogil:
    """The scratch buffer v does not point into (a converter writes its output there)."""
    if v.p == &g_smp_scratch[0]:
        return &g_smp_scratch2[0]
    return &g_smp_scratch[0]


cdef int smp_as_int(smp_t *v) noexcept nogil:
    """Cast v to an integer in place (a string of decimal digits, as 2.6 casts)."""
    cdef long long x = 0
    cdef int k = 0, neg = 0
    if v.type == SMP_INT or v.type == SMP_BOOL:
        v.type = SMP_INT
        return 1
    if v.type != SMP_STR:
        return 0
    if k < v.len and (v.p[k] == b'-' or v.p[k] == b'+'):
        neg = v.p[k] == b'-'
        k += 1
    if k >= v.len or v.p[k] < b'0' or v.p[k] > b'9':
        return 0
    while k < v.len and v.p[k] >= b'0' and v.p[k] <= b'9' and x < 100000000000000000LL:
        x = x * 10 + (<int>v.p[k] - 48)
        k += 1
    if k < v.len:
        return 0                    # not all digits: 2.6's cast fails too
    smp_int(v, -x if neg else x)
    return 1
