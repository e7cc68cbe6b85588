# `http-request deny|add-header|set-header|del-header|redirect [if|unless COND]` (HAProxy 1.4+/2.x)
# and `http-response deny|add-header|set-header|del-header` (1.5+),
# run in plain C on the scanned request, in declaration order: the frontend's rules, then the
# backend's. deny answers the error page of its status (403 unless `deny_status`); redirect
# answers a 30x with a Location (`location URL`, or `prefix PFX` + the request URI, without its
# query string under `drop-query`), then closes. A header value may hold `%[sample]` parts,
# built per request before the header block is edited (sample.pxi's formats).

cdef enum:
    HR_DENY = 0
    HR_ADD = 1
    HR_SET = 2
    HR_DEL = 3
    HR_REDIR_LOC = 4
    HR_REDIR_PREFIX = 5
    HR_RETURN = 6         # http-request return: name = status line and headers, val = payload
    HR_SET_PATH = 7
    HR_SET_QUERY = 8
    HR_SET_URI = 9
    HR_SET_VAR = 10       # status = the variable's index, fmt_first = the expression's index
    HR_SET_VAR_FMT = 11   # the value is the format
    HR_UNSET_VAR = 12
    HR_REDIR_SCHEME = 13    # tls: Location = SCHEME "://" Host-header path
    HR_USE_SERVICE = 30     # use-service prometheus-exporter: answered by the master (http.pxi)
    HR_TARPIT = 31          # held `timeout tarpit`, then the error page of `status` (rules.pxi)
    HR_TRACK = 32           # track-scN: status = N, drop_query = the table, fmt_first = the key's expression
    HR_SC_INC = 33          # sc-inc-gpc0/1(N), sc-inc-gpc(I,N): status = N, drop_query = the data type (a dtx)
    HR_SC_SET_GPT0 = 34     # sc-set-gpt0(N), sc-set-gpt(I,N): status = N, drop_query = the data type (a dtx),
                            # fmt_first = the value's expression
    HR_ACCEPT = 35          # tcp-request connection|session accept: the rules stop, go on
    HR_REJECT = 36          # tcp-request connection|session reject: closed, not logged (2.6)
    HR_STICK_MATCH = 37     # stick match|on KEY: drop_query = the table, fmt_first = the key
    HR_STICK_STORE = 38     # stick store-request|on KEY: the same
    HR_REPLACE_HDR = 39     # replace-header NAME REGEX FMT: name, val = the regex, the format
    HR_REPLACE_VAL = 40     # replace-value: the same on each comma-separated value
    HR_REPLACE_PATH = 41    # replace-path REGEX FMT (val = the regex)
    HR_REPLACE_PATHQ = 42
    HR_REPLACE_URI = 43
    HR_SET_METHOD = 44      # set-method FMT
    HR_SET_STATUS = 45      # http-response set-status: status, name = the reason ("" standard)
    HR_SET_SRC = 46         # set-src EXPR: fmt_first = the expression
    HR_AUTH = 47            # http-request auth [realm R]: name = the whole 401 answer
    HR_CAPTURE = 48         # capture EXPR len|id N: status = the frontend's capture slot, fmt_first = EXPR
    HR_TCP_CLOSE = 49       # tcp-response content close: the server connection ends
    HR_SET_LOG_LEVEL = 50   # set-log-level: status = the level + 1, or LOG_SILENT
    HR_SET_PATHQ = 51       # set-pathq FMT: the path and the query
    HR_NORMALIZE_URI = 52   # normalize-uri: status = the normalizer (urinorm.pxi), drop_query = its option
    HR_STICK_STORE_RSP = 53 # stick store-response KEY: drop_query = the table, fmt_first = the key
    HR_EARLY_HINT = 54      # early-hint NAME FMT: a 103 answer sent at once (http_early_hint)


cdef struct hrule_t:
    int action
    int cond            # index in g_acl_cond, -1: always
    int status          # deny / redirect status
    int drop_query      # (set-var, set-var-fmt: their conditions, var_cond)
    char *name          # header name, or the redirect location / prefix
    int nlen
    char *val
    int vlen
    int fmt_first       # the value's segments in g_fmt when it has %[...] parts
    int nfmt            # 0: the value is the literal val
    regex_t *re         # replace-*: the compiled val


cdef hrule_t *g_hrule = NULL
cdef const char *REDIR_END = b"\r\ncache-control: no-cache\r\n\r\n"   # (2.6's bytes)
cdef char g_redir[BUFSIZE]
cdef char g_hr_val[BUFSIZE]

_HR_ACTIONS = {"deny": HR_DENY, "add-header": HR_ADD, "set-header": HR_SET, "del-header": HR_DEL,
               "redirect-location": HR_REDIR_LOC, "redirect-prefix": HR_REDIR_PREFIX, "return": HR_RETURN,
               "set-path": HR_SET_PATH, "set-query": HR_SET_QUERY, "set-uri": HR_SET_URI,
               "set-var": HR_SET_VAR, "set-var-fmt": HR_SET_VAR_FMT, "unset-var": HR_UNSET_VAR,
               "redirect-scheme": HR_REDIR_SCHEME,   # tls
               "use-service": HR_USE_SERVICE, "tarpit": HR_TARPIT, "track-sc": HR_TRACK,
               "sc-inc": HR_SC_INC, "sc-set-gpt0": HR_SC_SET_GPT0, "accept": HR_ACCEPT,
               "reject": HR_REJECT, "stick-match": HR_STICK_MATCH, "stick-store": HR_STICK_STORE,
               "replace-header": HR_REPLACE_HDR, "replace-value": HR_REPLACE_VAL,
               "replace-path": HR_REPLACE_PATH, "replace-pathq": HR_REPLACE_PATHQ,
               "replace-uri": HR_REPLACE_URI, "set-method": HR_SET_METHOD,
               "set-status": HR_SET_STATUS, "set-src": HR_SET_SRC, "auth": HR_AUTH,
               "capture": HR_CAPTURE, "close": HR_TCP_CLOSE, "allow": HR_ACCEPT,
               "set-log-level": HR_SET_LOG_LEVEL, "set-pathq": HR_SET_PATHQ,
               "normalize-uri": HR_NORMALIZE_URI, "stick-store-rsp": HR_STICK_STORE_RSP,
               "early-hint": HR_EARLY_HINT}


cdef char *_hr_copy(bytes b) except? NULL:
    cdef char *p = <char *>malloc(len(b) + 1)
    if p == NULL:
        raise MemoryError()
    memcpy(p, <const char *>b, len(b))
    p[len(b)] = 0
    return p


cdef int httpreq_setup(object t) except -1:
    """The http-request rules (AclTables.hrules: (action, cond, status, drop_query, name, value))
    and each proxy's range (AclTables.hreq: (first, count)); start-up, Python."""
    global g_hrule
    cdef list rules = t.hrules
    cdef hrule_t *r
    cdef int i
    g_hrule = <hrule_t *>calloc(max(1, len(rules)), sizeof(hrule_t))
    if g_hrule == NULL:
        raise MemoryError()
    format_setup(t.fmts)
    userlists_setup(t.userlists)    # http_auth (sample.pxi)
    for i, (action, cond, status, drop, name, value, fmt_first, nfmt) in enumerate(rules):
        r = &g_hrule[i]
        r.action = _HR_ACTIONS[action]
        r.cond = cond
        r.status = status
        r.drop_query = drop
        r.name = _hr_copy(bytes(name))
        r.nlen = len(name)
        r.val = _hr_copy(bytes(value))
        r.vlen = len(value)
        r.fmt_first = fmt_first
        r.nfmt = nfmt
        r.re = NULL
        if HR_REPLACE_HDR <= r.action <= HR_REPLACE_URI:
            r.re = <regex_t *>calloc(1, sizeof(regex_t))
            if r.re == NULL or regcomp(r.re, r.val, REG_EXTENDED) != 0:
                raise ValueError(f"cannot compile the regex {value!r}")
        elif r.action == HR_DEL and r.status == 4:     # `del-header REGEX -m reg`: on the name
            r.re = <regex_t *>calloc(1, sizeof(regex_t))
            if r.re == NULL or regcomp(r.re, r.name, REG_EXTENDED | REG_NOSUB) != 0:
                raise ValueError(f"cannot compile the regex {name!r}")
    for i, (first, count) in enumerate(t.hreq):
        if i < g_npx:
            g_px[i].hr_first = first
            g_px[i].nhr = count
    for i, (first, count) in enumerate(t.hres):
        if i < g_npx:
            g_px[i].hs_first = first
            g_px[i].nhs = count
    for i, (first, count) in enumerate(t.hafter):
        if i < g_npx:
            g_px[i].ha_first = first
            g_px[i].nha = count
    global g_after_response
    g_after_response = http_after_generated      # (session.pxi calls it for haproxy's answers)
    for i, (first, count) in enumerate(t.tconn):
        if i < g_npx:
            g_px[i].tc_first = first
            g_px[i].ntc = count
    for i, (first, count) in enumerate(t.tsess):
        if i < g_npx:
            g_px[i].ts_first = first
            g_px[i].nts = count
    for i, (first, count) in enumerate(t.tres):
        if i < g_npx:
            g_px[i].trc_first = first
            g_px[i].ntrc = count
    for i, (first, count) in enumerate(t.tcont):
        if i < g_npx:
            g_px[i].tcc_first = first
            g_px[i].ntcc = count
    for i, (first, count) in enumerate(t.stick):
        if i < g_npx:
            g_px[i].sk_first = first
            g_px[i].nsk = count
            g_px[i].sk_rsp = any(g_hrule[first + k].action == HR_STICK_STORE_RSP for k in range(count))
    return 0


cdef int _hr_put(char *dst, int n, const char *src, int len) noexcept nogil:
    if n + len > BUFSIZE:
        return -1
    memcpy(dst + n, src, len)
    return n + len


cdef void http_early_hint(sess_t *s, const char *name, int nlen, const char *val, int vlen) noexcept nogil:
    """`http-request early-hint NAME FMT`: a `103 Early Hints` answer carrying that header, sent
    at once, one per rule as 2.6.12 sends them (the name in lower case, as its HTX writes it);
    not to an HTTP/1.0 client, as 2.6. It goes out only onto an empty send queue, where a
    small write is never partial: otherwise it is left out (a hint is optional; a half-sent
    one would corrupt the answer that follows). An HTTP/2 stream's goes whole into its answer
    buffer or not at all, and h2.pxi sends it as a non-final HEADERS frame."""
    cdef int q = 0, n = 0, k
    cdef h2s_t *st = NULL
    if s.req_v10 or s.cfd < 0:
        return
    if s.cfd >= VFD_BASE:
        st = &g_h2s[s.cfd - VFD_BASE]
        if s.h2s == 0 or st.rs == NULL:
            return
    elif ioctl(s.cfd, SIOCOUTQ, &q) < 0 or q != 0:
        return
    n = _hr_put(g_redir, n, b"HTTP/1.1 103 Early Hints\r\n", 26)
    k = n
    if n >= 0:
        n = _hr_put(g_redir, n, name, nlen)
    if n >= 0:
        for k in range(k, n):
            if b'A' <= g_redir[k] <= b'Z':
                g_redir[k] = g_redir[k] + 32
        n = _hr_put(g_redir, n, b": ", 2)
    if n >= 0:
        n = _hr_put(g_redir, n, val, vlen)
    if n >= 0:
        n = _hr_put(g_redir, n, b"\r\n\r\n", 4)
    if st != NULL and n > BUFSIZE - (st.rs_len - st.rs_off):
        return                  # (no room for all of it: h2v_send would write a part)
    if n > 0:
        tls_send(s.cfd, g_redir, n)


cdef void http_redirect(int idx, hrule_t *r, const char *buf, h1_msg *m) noexcept nogil:
    """Answer the redirect of rule r (2.6's bytes)."""
    cdef sess_t *s = &g_sess[idx]
    cdef int n = 0, ulen, k
    cdef const char *reason
    if r.status == 301:
        reason = b"HTTP/1.1 301 Moved Permanently\r\n"
    elif r.status == 303:
        reason = b"HTTP/1.1 303 See Other\r\n"
    elif r.status == 307:
        reason = b"HTTP/1.1 307 Temporary Redirect\r\n"
    elif r.status == 308:
        reason = b"HTTP/1.1 308 Permanent Redirect\r\n"
    else:
        reason = b"HTTP/1.1 302 Found\r\n"
    n = _hr_put(g_redir, n, reason, <int>strlen(reason))
    n = _hr_put(g_redir, n, b"content-length: 0\r\nlocation: ", 29)
    if n >= 0 and (r.action == HR_REDIR_PREFIX or r.action == HR_REDIR_SCHEME):
        if r.action == HR_REDIR_SCHEME:     # tls: scheme "://" host, then the URI as for prefix
            n = _hr_put(g_redir, n, r.name, r.nlen)
            if n >= 0:
                n = _hr_put(g_redir, n, b"://", 3)
            k = h1_find_hdr(buf, m, b"host", 4, 0)
            if k >= 0 and n >= 0:
                n = _hr_put(g_redir, n, buf + m.hdr[k].v_off, m.hdr[k].v_len)
        elif not (r.nlen == 1 and r.name[0] == b'/'):     # a "/" prefix is the URI itself
            n = _hr_put(g_redir, n, r.name, r.nlen)
        ulen = m.uri_len
        if r.drop_query:
            ulen = 0
            while ulen < m.uri_len and buf[m.uri_off + ulen] != b'?':
                ulen += 1
        if n >= 0:
            n = _hr_put(g_redir, n, buf + m.uri_off, ulen)
    elif n >= 0:
        n = _hr_put(g_redir, n, r.name, r.nlen)
    if n >= 0:
        n = _hr_put(g_redir, n, REDIR_END, <int>strlen(REDIR_END))
    if n < 0:
        sess_fail(idx, TERM_PROXY, PH_REQ, 500)
        return
    s.cli_ka = 0
    s.status = r.status
    if s.term_cause == TERM_NONE:
        s.term_cause = TERM_PROXY       # "PR": the proxy answered (HAProxy logs redirects so)
        s.term_phase = PH_REQ
    http_send_raw(idx, g_redir, n)


cdef void http_return(int idx, hrule_t *r, const char *body, int blen) noexcept nogil:
    """http-request return: the status line, content-length, the headers, the payload."""
    cdef sess_t *s = &g_sess[idx]
    cdef int n = 0
    cdef char num[24]
    cdef int k = 0, x = blen
    cdef int sl = 0
    while sl < r.nlen and r.name[sl] != b'\n':
        sl += 1
    sl += 1                     # the status line, then content-length, then the other headers
    n = _hr_put(g_redir, n, r.name, sl)
    if n >= 0:
        n = _hr_put(g_redir, n, b"content-length: ", 16)
    while True:
        num[k] = <char>(48 + x % 10)
        k += 1
        x //= 10
        if x == 0:
            break
    while k > 0 and n >= 0:
        k -= 1
        n = _hr_put(g_redir, n, &num[k], 1)
    if n >= 0:
        n = _hr_put(g_redir, n, b"\r\n", 2)
    if n >= 0 and sl < r.nlen:
        n = _hr_put(g_redir, n, r.name + sl, r.nlen - sl)
    if n >= 0:
        n = _hr_put(g_redir, n, b"\r\n", 2)
    if n >= 0:
        n = _hr_put(g_redir, n, body, blen)
    if n < 0:
        sess_fail(idx, TERM_PROXY, PH_REQ, 500)
        return
    s.cli_ka = 0
    s.status = r.status
    if s.term_cause == TERM_NONE:
        s.term_cause = TERM_LOCAL       # "LR": answered locally, as 2.6 logs a `return`
        s.term_phase = PH_REQ
    http_send_raw(idx, g_redir, n)


cdef int http_set_uri_part(char *buf, int len, h1_msg *m, int action, const char *val, int vlen) noexcept nogil:
    """set-uri (the whole target), set-path (up to '?'), set-pathq (the path and the query),
    set-query (after '?'; one is added when there is none and the value is not empty, as 2.6
    does). The new length, or -1."""
    cdef int off = 0, n = 0, q
    if action == HR_SET_URI:
        return h1_replace(buf, len, BUFSIZE, m, m.uri_off, m.uri_len, val, vlen)
    if action == HR_SET_PATH:
        if not smp_path(buf, m, &off, &n, 0):
            return len
        return h1_replace(buf, len, BUFSIZE, m, off, n, val, vlen)
    if action == HR_SET_PATHQ:      # from the path to the target's end (its query included)
        if not smp_path(buf, m, &off, &n, 0):
            return len
        return h1_replace(buf, len, BUFSIZE, m, off, m.uri_off + m.uri_len - off, val, vlen)
    q = 0
    while q < m.uri_len and buf[m.uri_off + q] != b'?':
        q += 1
    if q < m.uri_len:
        return h1_replace(buf, len, BUFSIZE, m, m.uri_off + q + 1, m.uri_len - q - 1, val, vlen)
    if vlen == 0:
        return len
    len = h1_replace(buf, len, BUFSIZE, m, m.uri_off + m.uri_len, 0, b"?", 1)
    if len < 0:
        return -1
    return h1_replace(buf, len, BUFSIZE, m, m.uri_off + m.uri_len, 0, val, vlen)


cdef int http_req_rules(int idx, int px, int *plen, h1_msg *m) noexcept nogil:
    """Proxy px's http-request rules on the request m. 1: the session was taken over
    (deny, redirect, or an edit that does not fit), 2: `use-service` (the caller routes the
    request to the service), 0: go on."""
    return _http_rules(idx, px, g_px[px].hr_first, g_px[px].nhr, g_sess[idx].req.buf, plen, m, 0)


cdef int http_rsp_rules(int idx, int px, int *plen, h1_msg *m) noexcept nogil:
    """Proxy px's http-response rules on the response m (the backend's, then the frontend's, as
    2.6 runs them). 1: the response was refused (deny: the error page instead), 0: go on."""
    return _http_rules(idx, px, g_px[px].hs_first, g_px[px].nhs, g_sess[idx].rsp.buf, plen, m, 1)


cdef int http_after_rules(int idx, char *buf, int *plen, h1_msg *m) noexcept nogil:
    """The http-after-response rules (the backend's, then the frontend's, as 2.6) on a response
    about to be sent: the server's, after everything else, or one haproxy made. 0, or -1 when an
    edit did not fit (the response then goes as it was)."""
    cdef sess_t *s = &g_sess[idx]
    cdef int n = plen[0]
    if g_px[s.be].nha and _http_rules(idx, s.be, g_px[s.be].ha_first, g_px[s.be].nha, buf, &n, m, 2):
        return -1
    if s.be != s.px and g_px[s.px].nha and \
            _http_rules(idx, s.px, g_px[s.px].ha_first, g_px[s.px].nha, buf, &n, m, 2):
        return -1
    plen[0] = n
    return 0


cdef h1_msg g_after_msg     # scratch: haproxy's own answer parsed for the after-response rules


cdef void http_after_generated(int idx) noexcept nogil:
    """An answer haproxy made (an error page, `return`, a redirect, 401...) is in the session's
    response buffer: its http-after-response rules, if any, as 2.6 applies them."""
    cdef sess_t *s = &g_sess[idx]
    cdef int n = s.rsp.buf_len, hl
    if not (g_px[s.be].nha or g_px[s.px].nha) or g_px[s.px].mode != MODE_HTTP:
        return
    hl = h1_parse_response(s.rsp.buf, n, &g_after_msg)
    if hl <= 0 or http_after_rules(idx, s.rsp.buf, &n, &g_after_msg) < 0:
        return
    s.rsp.buf_len = n
    s.rsp.buf_in = n
    if g_after_msg.status > 0:
        s.status = g_after_msg.status       # (set-status)


cdef inline void _http_rsp_replaced(sess_t *s, int rsp) noexcept nogil:
    """http-response return|redirect: the server's answer is replaced, logged `LH` as in 2.6."""
    if rsp and s.term_cause == TERM_NONE:
        s.term_cause = TERM_LOCAL
        s.term_phase = PH_HDRS
        s.srv_ka = 0


cdef inline void _ctr_intercepted(sess_t *s, int px, int rsp) noexcept nogil:
    """A request answered by haproxy itself: `intercepted` in show stat counts it as 2.6 does,
    for the frontend's own request rules only (not a backend's, not the response rules)."""
    if not rsp and px == s.px:
        ctr_px(px).intercepted += 1


cdef int _http_rules(int idx, int px, int first, int count, char *buf, int *plen, h1_msg *m,
                     int rsp) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef hrule_t *r
    cdef int i, k, n, vlen
    cdef const char *val
    cdef smp_t sv
    for i in range(count):
        r = &g_hrule[first + i]
        if r.cond >= 0 and not acl_cond_match(s, &g_acl_cond[r.cond], buf, m):
            continue
        if r.action == HR_ACCEPT:
            return 0            # allow: this section's other rules of the direction are skipped
        if r.action == HR_SET_LOG_LEVEL:
            s.log_level = r.status
            continue
        if r.action == HR_NORMALIZE_URI and not rsp:
            n = uri_normalize(buf, plen[0], m, r.status, r.drop_query)
            if n == NU_INVALID:
                # a `strict` normalizer met a bad %-sequence: 400, as 2.6's invalid action
                ctr_px(s.px).err_req += 1
                sess_fail(idx, TERM_PROXY, PH_REQ, 400)
                return 1
            if n < 0:
                return _http_rules_fail(idx, px, rsp)
            plen[0] = n
            continue
        if r.action == HR_REJECT and not rsp:
            # http-request reject: closed with no answer, logged PR with no status (2.6)
            ctr_px(s.px).denied_req += 1
            if px != s.px:
                ctr_px(px).denied_req += 1
            s.cli_ka = 0
            s.status = 0
            if s.term_cause == TERM_NONE:
                s.term_cause = TERM_PROXY
                s.term_phase = PH_REQ
            sess_close(idx)
            return 1
        if r.action == HR_DENY:
            s.cli_ka = 0
            if rsp:
                s.srv_ka = 0
                ctr_px(px).denied_resp += 1
                sess_fail(idx, TERM_PROXY, PH_HDRS, r.status)
            else:
                ctr_px(px).denied_req += 1
                sess_fail(idx, TERM_PROXY, PH_REQ, r.status)
            return 1
        if r.action == HR_REDIR_LOC or r.action == HR_REDIR_PREFIX or r.action == HR_REDIR_SCHEME:
            _http_rsp_replaced(s, rsp)
            _ctr_intercepted(s, px, rsp)
            http_redirect(idx, r, buf, m)
            return 1
        if r.action == HR_TARPIT and not rsp:
            s.cli_ka = 0
            rules_tarpit_start(idx, r.status)
            return 1
        if r.action == HR_USE_SERVICE:
            if not rsp:
                return 2        # a final action: http.pxi hands the request to the service
            continue
        if r.action == HR_SET_VAR:
            if smp_one(s, &g_sexpr[r.fmt_first], buf, m, &sv):
                var_set_if(s, r.status, &sv, r.drop_query)
            continue
        if r.action == HR_UNSET_VAR:
            var_unset(s, r.status)
            continue
        if r.action == HR_TRACK or r.action == HR_SC_INC or r.action == HR_SC_SET_GPT0:
            rules_stk(s, r, buf, m, 1)      # (either direction: counts the request, ends with it)
            continue
        if r.action == HR_AUTH:
            if rsp:
                continue
            s.cli_ka = 0
            s.status = 401
            if s.term_cause == TERM_NONE:
                s.term_cause = TERM_LOCAL       # "LR", as 2.6 logs it
                s.term_phase = PH_REQ
            _ctr_intercepted(s, px, rsp)
            http_send_raw(idx, r.name, r.nlen)
            return 1
        if r.action == HR_CAPTURE:
            if smp_one(s, &g_sexpr[r.fmt_first], buf, m, &sv) and smp_as_str(&sv):
                log_capture_value(s, rsp, r.status, sv.p, sv.len)
            continue
        if r.action == HR_SET_SRC:
            if not rsp and smp_one(s, &g_sexpr[r.fmt_first], buf, m, &sv):
                rules_set_src(s, &sv)
            continue
        if r.action == HR_SET_STATUS:
            if rsp:
                n = http_set_status(buf, plen[0], m, r)
                if n < 0:
                    return _http_rules_fail(idx, px, rsp)
                plen[0] = n
            continue
        val = r.val
        vlen = r.vlen
        if r.nfmt:
            # built before the edits below: a sample may read the header being replaced
            vlen = format_build(s, r.fmt_first, r.nfmt, buf, m, g_hr_val, BUFSIZE)
            val = g_hr_val
            if vlen < 0:
                return _http_rules_fail(idx, px, rsp)
        if r.action == HR_SET_VAR_FMT:
            smp_str(&sv, val, vlen)
            var_set_if(s, r.status, &sv, r.drop_query)
            continue
        if r.action == HR_EARLY_HINT:
            if not rsp:
                http_early_hint(s, r.name, r.nlen, val, vlen)
            continue
        if r.action == HR_RETURN:
            _http_rsp_replaced(s, rsp)
            _ctr_intercepted(s, px, rsp)
            http_return(idx, r, val, vlen)
            return 1
        if HR_REPLACE_HDR <= r.action <= HR_REPLACE_URI:
            if r.nfmt == 0:
                vlen = 0        # an empty replacement
            n = http_replace(buf, plen[0], m, r, val, vlen)
            if n < 0:
                return _http_rules_fail(idx, px, rsp)
            plen[0] = n
            continue
        if r.action == HR_SET_METHOD:
            n = h1_replace(buf, plen[0], BUFSIZE, m, m.meth_off, m.meth_len, val, vlen)
            if n < 0:
                return _http_rules_fail(idx, px, rsp)
            plen[0] = n
            m.meth = _h1_method(buf + m.meth_off, m.meth_len)
            s.meth = m.meth
            continue
        if (r.action == HR_SET_PATH or r.action == HR_SET_QUERY or r.action == HR_SET_URI
                or r.action == HR_SET_PATHQ):
            n = http_set_uri_part(buf, plen[0], m, r.action, val, vlen)
            if n < 0:
                return _http_rules_fail(idx, px, rsp)
            plen[0] = n
            continue
        if r.action == HR_SET or r.action == HR_DEL:
            k = 0
            while k < m.nhdr:
                if (hr_del_match(buf, &m.hdr[k], r) if r.action == HR_DEL
                        else h1_hdr_name_is(buf, &m.hdr[k], r.name, r.nlen)):
                    plen[0] = h1_del_hdr(buf, plen[0], m, k)
                else:
                    k += 1
        if r.action == HR_SET or r.action == HR_ADD:
            n = h1_add_hdr(buf, plen[0], BUFSIZE, m, r.name, r.nlen, val, vlen)
            if n < 0:
                return _http_rules_fail(idx, px, rsp)
            plen[0] = n
    return 0


cdef int hr_del_match(const char *buf, h1_hdr *h, hrule_t *r) noexcept nogil:
    """`del-header NAME [-m METH]`: 1 when header h's name matches (r.status: 0 str, 1 beg, 2 end,
    3 sub, case-insensitive; 4 reg, the regex r.re against the name in lower case, as 2.6 holds
    header names)."""
    cdef char low[256]
    cdef int i, n = h.n_len
    if r.status == 0:
        return h1_hdr_name_is(buf, h, r.name, r.nlen)
    if r.status == 4:
        if r.re == NULL or n >= 256:
            return 0
        for i in range(n):
            low[i] = buf[h.n_off + i]
            if b'A' <= low[i] <= b'Z':
                low[i] = <char>(low[i] + 32)
        low[n] = 0
        return regexec(r.re, low, 0, NULL, 0) == 0
    if r.nlen > n:
        return 0
    if r.status == 1:
        return _h1_ieq(buf + h.n_off, r.name, r.nlen)
    if r.status == 2:
        return _h1_ieq(buf + h.n_off + n - r.nlen, r.name, r.nlen)
    for i in range(n - r.nlen + 1):
        if _h1_ieq(buf + h.n_off + i, r.name, r.nlen):
            return 1
    return 0


cdef void rules_stk(sess_t *s, hrule_t *r, const char *buf, h1_msg *m, int http_req) noexcept nogil:
    """track-scN KEY (an HTTP request counted when an http-request rule tracks), sc-inc-gpc0/1,
    sc-set-gpt0: nothing when the key cannot be built or the counter is not tracked."""
    cdef smp_t sv
    cdef unsigned char key[STK_KEYMAX]
    cdef uint32_t klen = 0
    cdef int c = r.status
    if r.action == HR_TRACK:
        if s.stk_tab[c] or r.drop_query < 0 or r.drop_query >= g_nst:
            return
        if smp_one(s, &g_sexpr[r.fmt_first], buf, m, &sv) and stk_key_of(g_st[r.drop_query], &sv, key, &klen):
            stk_track(s, c, r.drop_query, key, klen, http_req)
        return
    if not s.stk_tab[c]:
        return
    if r.action == HR_SC_INC:
        st_count(g_st[s.stk_tab[c] - 1], s.stk_ent[c], r.drop_query, r.drop_query + 1, 1)
    elif smp_one(s, &g_sexpr[r.fmt_first], buf, m, &sv) and smp_as_int(&sv):
        st_set_value(g_st[s.stk_tab[c] - 1], s.stk_ent[c], r.drop_query, sv.i)


cdef int tcp_content_rules(int idx, int first, int count, int final) noexcept nogil:
    """`tcp-request content` rules of an HTTP frontend, on each request before it is counted
    and before the http-request rules (2.6's analyser order), or of a TCP one on what the
    client sent so far (tcpinspect.pxi): a track lasts the request; a reject closes the
    connection without an answer, logged `PR--` with `<BADREQ>` as 2.6 logs it (1: rejected).
    Unless `final`, a condition whose payload fetch lacked data that may still come stops the
    rules for now (2: wait, as 2.6 waits for more until `inspect-delay`)."""
    global g_smp_may_change, g_smp_may_grow
    cdef sess_t *s = &g_sess[idx]
    cdef hrule_t *r
    cdef int i, ok
    for i in range(count):
        r = &g_hrule[first + i]
        if r.cond >= 0:
            g_smp_may_change = 0
            g_smp_may_grow = 0
            ok = acl_cond_match(s, &g_acl_cond[r.cond], NULL, NULL)
            if not final and (g_smp_may_change or (g_smp_may_grow and not ok)):
                return 2
            if not ok:
                continue
        if r.action == HR_ACCEPT:
            return 0
        if r.action == HR_REJECT:
            s.cli_ka = 0
            s.t_req = 0
            s.status = 0
            s.term_cause = TERM_PROXY
            s.term_phase = PH_REQ
            if s.req.buf != NULL:       # (the request was not read yet, for the log)
                buf_put(s.req.buf)
                s.req.buf = NULL
                s.req.buf_in = 0
            s.state = ST_RELAY
            sess_close(idx)
            return 1
        tcp_rule_action(s, r, 2)
    return 0


cdef void tcp_rule_action(sess_t *s, hrule_t *r, int track) noexcept nogil:
    """The actions a `tcp-request connection|session|content` rule may take besides accept and
    reject: set-var, set-var-fmt, unset-var, capture (no HTTP message: its fetches give
    nothing), and the stick counters' (rules_stk, `track` its kind: 2 content, 0 otherwise)."""
    cdef smp_t sv
    cdef int n
    if r.action == HR_SET_VAR:
        if smp_one(s, &g_sexpr[r.fmt_first], NULL, NULL, &sv):
            var_set_if(s, r.status, &sv, r.drop_query)
    elif r.action == HR_SET_VAR_FMT:
        n = format_build(s, r.fmt_first, r.nfmt, NULL, NULL, g_hr_val, BUFSIZE)
        if n >= 0:
            smp_str(&sv, g_hr_val, n)
            var_set_if(s, r.status, &sv, r.drop_query)
    elif r.action == HR_UNSET_VAR:
        var_unset(s, r.status)
    elif r.action == HR_CAPTURE:
        if smp_one(s, &g_sexpr[r.fmt_first], NULL, NULL, &sv) and smp_as_str(&sv):
            log_capture_value(s, 0, r.status, sv.p, sv.len)
    else:
        rules_stk(s, r, NULL, NULL, track)


cdef int tcp_response_rules(int idx, int final) noexcept nogil:
    """The backend's `tcp-response content` rules on what the server sent so far (s.rsp, not
    forwarded yet), as 2.6's tcp_inspect_response(): 0 accepted (also when no rule matches),
    1 rejected (the session is closed, logged `PD`, counted as a denied response), 2 wait (a
    payload fetch lacked data that may still come, and not `final`). `close` closes the server
    connection, then lets what it sent go to the client."""
    global g_smp_may_change, g_smp_may_grow
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *b = &g_px[s.be]
    cdef hrule_t *r
    cdef int i, ok
    for i in range(b.ntrc):
        r = &g_hrule[b.trc_first + i]
        if r.cond >= 0:
            g_smp_may_change = 0
            g_smp_may_grow = 0
            ok = acl_cond_match(s, &g_acl_cond[r.cond], NULL, NULL)
            if not final and (g_smp_may_change or (g_smp_may_grow and not ok)):
                return 2
            if not ok:
                continue
        if r.action == HR_ACCEPT:
            return 0
        if r.action == HR_REJECT:
            if s.rsp.buf != NULL:
                s.rsp.bytes += s.rsp.buf_in     # (logged as read from the server, as 2.6 does)
            ctr_px(s.px).denied_resp += 1
            if s.be != s.px:
                ctr_px(s.be).denied_resp += 1
            if s.srv >= 0:
                ctr_srv(s.srv).denied_resp += 1
            if s.term_cause == TERM_NONE:
                s.term_cause = TERM_PROXY
                s.term_phase = PH_DATA
            sess_close(idx)
            return 1
        if r.action == HR_TCP_CLOSE:
            # the server's side ends now (no lingering): its data so far still goes to the
            # client, then the client's side is closed after it
            shutdown(s.sfd, SHUT_RDWR)
            s.rsp.eof = 1
            s.srv_rd = 0
            s.req.eof = 1
            s.req.shut = 1
            return 0
    return 0


cdef int tcp_rules(int idx, int first, int count) noexcept nogil:
    """`tcp-request connection` rules (at accept, before any PROXY header) or `tcp-request
    session` rules (once the PROXY header and TLS handshake are done), in order: accept stops
    them, reject closes the connection unlogged, as 2.6 (1: rejected, the session is gone)."""
    cdef sess_t *s = &g_sess[idx]
    cdef hrule_t *r
    cdef int i
    for i in range(count):
        r = &g_hrule[first + i]
        if r.cond >= 0 and not acl_cond_match(s, &g_acl_cond[r.cond], NULL, NULL):
            continue
        if r.action == HR_ACCEPT:
            return 0
        if r.action == HR_REJECT:
            s.logged = 1            # "not logged either" (2.6)
            s.state = ST_RELAY      # (a session not begun yet is still ST_FREE to sess_close)
            sess_close(idx)
            return 1
        tcp_rule_action(s, r, 0)
    return 0


cdef int _stick_key(sess_t *s, hrule_t *r, const char *buf, h1_msg *m, unsigned char *key,
                    uint32_t *klen) noexcept nogil:
    cdef smp_t sv
    if r.drop_query < 0 or r.drop_query >= g_nst:
        return 0
    if r.cond >= 0 and not acl_cond_match(s, &g_acl_cond[r.cond], buf, m):
        return 0
    return smp_one(s, &g_sexpr[r.fmt_first], buf, m, &sv) and stk_key_of(g_st[r.drop_query], &sv, key, klen)


cdef int stick_match(int idx, const char *buf, h1_msg *m) noexcept nogil:
    """`stick match|on` rules of the backend, in order: the server a table remembers for the
    key (2.6 names servers by their id: their place in the backend, from 1), if it can take the
    request (or is merely down under `option persist`); -1 when no rule gives one."""
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.be]
    cdef hrule_t *r
    cdef unsigned char key[STK_KEYMAX]
    cdef uint32_t klen = 0
    cdef int k, i, g
    cdef long long sid
    for k in range(p.nsk):
        r = &g_hrule[p.sk_first + k]
        if r.action != HR_STICK_MATCH or not _stick_key(s, r, buf, m, key, &klen):
            continue
        i = st_get(g_st[r.drop_query], key, klen, 0, 0)
        if i < 0:
            continue
        sid = st_value(g_st[r.drop_query], i, STD_SERVER_ID)
        if sid <= 0 or sid > p.nsrv:
            continue
        g = p.srv_first + <int>sid - 1
        if srv_persist_ok(g) or ((p.opts & PO_PERSIST) and shm_srv_at(g_shm, g).admin_down == 0) or (
                s.prst == PRST_FORCE):
            return g
    return -1


cdef void stick_store(int idx, const char *buf, h1_msg *m) noexcept nogil:
    """`stick store-request|on` rules, once the server is chosen: the key now leads to it (the
    first matching rule of each table stores, as 2.6)."""
    _stick_store(idx, buf, m, HR_STICK_STORE)


cdef void stick_store_response(int idx, const char *buf, h1_msg *m) noexcept nogil:
    """`stick store-response` rules on the server's response (buf/m), before the http-response
    rules edit it (2.6's analyser order): its key now leads to the server that answered."""
    _stick_store(idx, buf, m, HR_STICK_STORE_RSP)


cdef void _stick_store(int idx, const char *buf, h1_msg *m, int action) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef px_t *p = &g_px[s.be]
    cdef hrule_t *r
    cdef unsigned char key[STK_KEYMAX]
    cdef uint32_t klen = 0
    cdef int k, i
    cdef unsigned long long done = 0
    if s.state == ST_FREE or s.srv < p.srv_first or s.srv >= p.srv_first + p.nsrv:
        return
    if g_srv[s.srv].conf.non_stick:
        return          # (2.6 drops the entries it would have stored)
    for k in range(p.nsk):
        r = &g_hrule[p.sk_first + k]
        if r.action != action or (done >> (r.drop_query & 63)) & 1:
            continue
        if not _stick_key(s, r, buf, m, key, &klen):
            continue
        i = st_get(g_st[r.drop_query], key, klen, 1, 0)
        if i >= 0:
            st_set_value(g_st[r.drop_query], i, STD_SERVER_ID, s.srv - p.srv_first + 1)
        done |= 1ULL << (r.drop_query & 63)


cdef void rules_set_src(sess_t *s, smp_t *v) noexcept nogil:
    """set-src: the client address becomes the sample's (a string is read as an address); the
    port is kept, as 2.6 keeps it."""
    cdef int port = 0
    cdef char txt[64]
    cdef sockaddr_in *a4
    cdef sockaddr_in6 *a6
    if v.type == SMP_STR:
        if v.len <= 0 or v.len >= 64:
            return
        memcpy(txt, v.p, v.len)
        txt[v.len] = 0
        if inet_pton(AF_INET, txt, v.ip) == 1:
            v.family = AF_INET
        elif inet_pton(AF_INET6, txt, v.ip) == 1:
            v.family = AF_INET6
        else:
            return
        v.type = SMP_IP
    if v.type != SMP_IP:
        return
    if s.cli_addr.sin6_family == AF_INET:
        port = (<sockaddr_in *>&s.cli_addr).sin_port
    elif s.cli_addr.sin6_family == AF_INET6:
        port = (<sockaddr_in6 *>&s.cli_addr).sin6_port
    memset(&s.cli_addr, 0, sizeof(sess_addr_t))
    if v.family == AF_INET:
        a4 = <sockaddr_in *>&s.cli_addr
        a4.sin_family = AF_INET
        memcpy(&a4.sin_addr.s_addr, v.ip, 4)
        a4.sin_port = port
        s.cli_addrlen = sizeof(sockaddr_in)
    else:
        a6 = <sockaddr_in6 *>&s.cli_addr
        a6.sin6_family = AF_INET6
        memcpy(a6.sin6_addr.s6_addr, v.ip, 16)
        a6.sin6_port = port
        s.cli_addrlen = sizeof(sockaddr_in6)


cdef int _replace_span(char *buf, int len, h1_msg *m, hrule_t *r, int off, int n, const char *fmt,
                       int flen) noexcept nogil:
    """buf[off:off+n] replaced by fmt (its \\N are the regex's groups) when the regex matches
    it whole or in part, as 2.6's exp_replace (the result is the expansion alone): the new
    length, len when it does not match, -1 when it does not fit."""
    cdef char subject[RULES_MAXLINE + 1]
    cdef char out[RULES_MAXLINE]
    cdef regmatch_t pm[RULES_NMATCH]
    cdef int k
    if n > RULES_MAXLINE:
        return -1
    memcpy(subject, buf + off, n)
    subject[n] = 0
    if regexec(r.re, subject, RULES_NMATCH, pm, 0) != 0:
        return len
    k = _rules_expand(fmt, flen, subject, pm, out, RULES_MAXLINE)
    if k < 0:
        return -1
    return h1_replace(buf, len, BUFSIZE, m, off, n, out, k)


cdef int http_replace(char *buf, int len, h1_msg *m, hrule_t *r, const char *fmt, int flen) noexcept nogil:
    """replace-header / replace-value / replace-path / replace-pathq / replace-uri."""
    cdef int k, off = 0, n = 0, st, en, vend
    cdef h1_hdr *h
    if r.action == HR_REPLACE_URI:
        return _replace_span(buf, len, m, r, m.uri_off, m.uri_len, fmt, flen)
    if r.action == HR_REPLACE_PATH or r.action == HR_REPLACE_PATHQ:
        if not smp_path(buf, m, &off, &n, r.action == HR_REPLACE_PATHQ):
            return len
        return _replace_span(buf, len, m, r, off, n, fmt, flen)
    for k in range(m.nhdr):
        h = &m.hdr[k]
        if not h1_hdr_name_is(buf, h, r.name, r.nlen):
            continue
        if r.action == HR_REPLACE_HDR:
            len = _replace_span(buf, len, m, r, h.v_off, h.v_len, fmt, flen)
            if len < 0:
                return -1
            continue
        # replace-value: each comma-separated value, trimmed (h moves as the edits go)
        st = 0
        while st <= h.v_len:
            en = st
            while en < h.v_len and buf[h.v_off + en] != b',':
                en += 1
            vend = en
            while st < vend and (buf[h.v_off + st] == b' ' or buf[h.v_off + st] == b'\t'):
                st += 1
            while vend > st and (buf[h.v_off + vend - 1] == b' ' or buf[h.v_off + vend - 1] == b'\t'):
                vend -= 1
            n = h.v_len
            len = _replace_span(buf, len, m, r, h.v_off + st, vend - st, fmt, flen)
            if len < 0:
                return -1
            st = en + (h.v_len - n) + 1
    return len


cdef int http_set_status(char *buf, int len, h1_msg *m, hrule_t *r) noexcept nogil:
    """http-response set-status N [reason R]: the status line says N and R (the standard
    reason, set at start-up, when none is given)."""
    cdef char line[256]
    cdef int n = 0
    cdef const char *reason = r.name
    cdef int rlen = r.nlen
    if m.ver_len + 6 + rlen > 255:
        return -1
    memcpy(line, buf + m.ver_off, m.ver_len)
    n = m.ver_len
    line[n] = b' '
    line[n + 1] = <char>(48 + r.status // 100)
    line[n + 2] = <char>(48 + r.status // 10 % 10)
    line[n + 3] = <char>(48 + r.status % 10)
    line[n + 4] = b' '
    n += 5
    memcpy(line + n, reason, rlen)
    n += rlen
    len = h1_replace(buf, len, BUFSIZE, m, m.start, _rules_content_len(buf, m.start, m.first_line_len),
                     line, n)
    if len < 0:
        return -1
    # (the one span now covers the whole line: its parts are set again)
    m.ver_off = m.start
    m.reason_off = m.start + m.ver_len + 5
    m.reason_len = rlen
    m.status = r.status
    return len


cdef int _http_rules_fail(int idx, int px, int rsp) noexcept nogil:
    """A rewrite that does not fit: HAProxy 2.x answers 500 (a request) or 502 (a response)."""
    cdef sess_t *s = &g_sess[idx]
    s.cli_ka = 0
    # 2.6 counts a failed rewrite (wrew) and the internal error it ends in (eint) on the
    # frontend, the backend once chosen and the server of a response
    ctr_px(s.px).failed_rewrites += 1
    ctr_px(s.px).internal_errors += 1
    if s.be != s.px:
        ctr_px(s.be).failed_rewrites += 1
        ctr_px(s.be).internal_errors += 1
    if rsp and s.srv >= 0:
        ctr_srv(s.srv).failed_rewrites += 1
        ctr_srv(s.srv).internal_errors += 1
    if rsp:
        s.srv_ka = 0
        ctr_px(px).err_resp += 1
        sess_fail(idx, TERM_PROXY, PH_HDRS, 502)
    else:
        ctr_px(px).err_req += 1
        sess_fail(idx, TERM_PROXY, PH_REQ, 500)
    return 1
