# Header rules (reqadd/reqrep/reqdel/reqdeny/reqallow/reqpass/reqtarpit, rspadd/rsprep/rspdel/
# rspdeny and their case-insensitive forms). The proxy's custom error pages are in errors.pxi.
#
# Semantics follow HAProxy 1.2 (doc/haproxy-en.txt section 4.3, and 1.2's engine):
#  - every line of the header block is a "header": the request/status line first, then each
#    "Name: value" line as it is in the buffer, without its line end;
#  - for each line, the rules of the direction are tried in declaration order and the FIRST one
#    whose POSIX extended regex matches is applied, then the next line is taken (so `reqpass`
#    shields a line from the deny rules after it, as the manual's production example relies on);
#  - rep replaces the whole line by the replacement, where \0..\9 are the regex groups;
#  - del removes the header line (the start line cannot be removed);
#  - allow marks the request allowed: later deny/tarpit matches no longer count;
#  - deny (request -> 403, response -> 502) and tarpit stop the analysis at once;
#  - once every line was seen and nothing denied, the add lines are appended in order.
# Edits go through the h1 helpers, then the block is parsed again so that every offset and the
# framing fields (Content-Length, Transfer-Encoding, Connection) describe what is forwarded; a
# block the edits made invalid, or larger than bufsize - maxrewrite, is answered with 400 (502).
#
# Regexes (POSIX, <regex.h> declared in includes/linux.pxd) are compiled once at start-up (rules_setup_proxy, Python); the per-request functions are
# plain C.  regexec() wants a NUL-terminated string: each line is copied to a stack buffer.

cdef enum:
    RA_ADD = 0
    RA_DEL = 1
    RA_REP = 2
    RA_DENY = 3
    RA_ALLOW = 4
    RA_PASS = 5
    RA_TARPIT = 6

    RF_ALLOW = 1
    RF_DENY = 2
    RF_TARPIT = 4

    RULES_TARPIT = 1        # rules_req: the request is tarpitted
    RULES_MAXLINE = 8192    # a header line (a block never exceeds H1_MAX_HDR_BLOCK)
    RULES_NMATCH = 10       # \0 .. \9

    ST_TARPIT = 7           # sess_t.state: held until contimeout, then 500 (no other state uses 7)


cdef struct rule_t:
    regex_t *re             # NULL for add
    int action
    char *str               # add: the line; rep: the replacement template
    int str_len


cdef struct px_rules_t:
    rule_t *req
    int nreq
    rule_t *rsp
    int nrsp


cdef px_rules_t *g_rules = NULL
cdef int g_nrules_px = 0


# ---------------------------------------------------------------------------------------------
# start-up (Python objects allowed here only)

_RULE_ACTIONS = {"add": RA_ADD, "del": RA_DEL, "rep": RA_REP, "deny": RA_DENY,
                 "allow": RA_ALLOW, "pass": RA_PASS, "tarpit": RA_TARPIT}


cdef int rules_setup_proxy(int px, object pp) except -1:
    """Compile proxy px's rules (pp.rules: (direction "req"|"rsp", action, icase, regex bytes,
    string bytes); pp: pyhaproxy/worker.py ProxyPlan)."""
    global g_rules, g_nrules_px
    cdef px_rules_t *pr
    cdef rule_t *r
    cdef int i, nreq = 0, nrsp = 0, flags, rc, k
    cdef char err[256]
    cdef bytes rx, text
    if g_rules == NULL:
        g_nrules_px = max(1, g_npx)
        g_rules = <px_rules_t *>calloc(g_nrules_px, sizeof(px_rules_t))
        if g_rules == NULL:
            raise MemoryError()
    if px >= g_nrules_px:
        raise ValueError("proxy index out of range")
    pr = &g_rules[px]
    rules = pp.rules
    for item in rules:
        if item[0] == "req":
            nreq += 1
        else:
            nrsp += 1
    if nreq:
        pr.req = <rule_t *>calloc(nreq, sizeof(rule_t))
    if nrsp:
        pr.rsp = <rule_t *>calloc(nrsp, sizeof(rule_t))
    if (nreq and pr.req == NULL) or (nrsp and pr.rsp == NULL):
        raise MemoryError()
    for direction, action, icase, rx, text in rules:
        if direction == "req":
            r = &pr.req[pr.nreq]
            pr.nreq += 1
        else:
            r = &pr.rsp[pr.nrsp]
            pr.nrsp += 1
        r.action = _RULE_ACTIONS[action]
        r.str_len = len(text)
        r.str = <char *>malloc(r.str_len + 1)
        if r.str == NULL:
            raise MemoryError()
        memcpy(r.str, <const char *>text, r.str_len)
        r.str[r.str_len] = 0
        if r.action == RA_ADD:
            continue
        r.re = <regex_t *>malloc(sizeof(regex_t))
        if r.re == NULL:
            raise MemoryError()
        flags = REG_EXTENDED
        if icase:
            flags |= REG_ICASE
        if r.action != RA_REP:
            flags |= REG_NOSUB      # only rep needs the groups
        rc = regcomp(r.re, <const char *>rx, flags)
        if rc != 0:
            regerror(rc, r.re, err, 256)
            free(r.re)
            r.re = NULL
            raise ValueError(f"bad regular expression '{rx.decode('latin-1')}': "
                             f"{err[:strlen(err)].decode('latin-1')}")
    return 0


# ---------------------------------------------------------------------------------------------
# per-message work (plain C)

cdef inline int _rules_content_len(const char *buf, int off, int len) noexcept nogil:
    # length of the line at off without its CRLF / LF
    if len > 0 and buf[off + len - 1] == b'\n':
        len -= 1
    if len > 0 and buf[off + len - 1] == b'\r':
        len -= 1
    return len


cdef int _rules_expand(const char *tpl, int tlen, const char *line, regmatch_t *pm,
                       char *out, int cap) noexcept nogil:
    # the replacement: tpl with \N -> group N of the match in line; -1 when it exceeds cap
    cdef int i = 0, n = 0, g, glen
    while i < tlen:
        if tpl[i] == b'\\' and i + 1 < tlen and tpl[i + 1] >= b'0' and tpl[i + 1] <= b'9':
            g = tpl[i + 1] - 48
            i += 2
            if pm[g].rm_so >= 0 and pm[g].rm_eo >= pm[g].rm_so:
                glen = pm[g].rm_eo - pm[g].rm_so
                if n + glen > cap:
                    return -1
                memcpy(out + n, line + pm[g].rm_so, glen)
                n += glen
            continue
        if n >= cap:
            return -1
        out[n] = tpl[i]
        n += 1
        i += 1
    return n


cdef int _rules_add_line(char *buf, int len, h1_msg *m, const char *line, int llen) noexcept nogil:
    # insert "line\r\n" before the empty line ending the block; the new length or -1
    cdef int at, n = llen + 2
    if len + n > BUFSIZE:
        return -1
    at = m.hdrs_end - 2 if (m.hdrs_end >= 2 and buf[m.hdrs_end - 2] == b'\r') else m.hdrs_end - 1
    memmove(buf + at + n, buf + at, len - at)
    memcpy(buf + at, line, llen)
    buf[at + llen] = b'\r'
    buf[at + llen + 1] = b'\n'
    m.hdrs_end += n
    return len + n


cdef int _rules_apply(rule_t *rules, int nrules, char *buf, int *plen, h1_msg *m,
                      int is_req) noexcept nogil:
    """Apply one direction's rules to the parsed block in buf: RF_* flags, or -1 (edit impossible)."""
    cdef char line[RULES_MAXLINE + 1]
    cdef char out[RULES_MAXLINE]
    cdef regmatch_t pm[RULES_NMATCH]
    cdef int i = -1, j, k, off, ll, cl, n, flags = 0, edited = 0, deleted, end
    cdef rule_t *r
    while i < m.nhdr:
        if flags & (RF_DENY | RF_TARPIT):
            break
        if i < 0:
            off = m.start
            ll = m.first_line_len
        else:
            off = m.hdr[i].line_off
            ll = m.hdr[i].line_len
        cl = _rules_content_len(buf, off, ll)
        if cl > RULES_MAXLINE:
            return -1
        memcpy(line, buf + off, cl)
        line[cl] = 0
        deleted = 0
        for j in range(nrules):
            r = &rules[j]
            if r.action == RA_ADD:
                continue
            if regexec(r.re, line, RULES_NMATCH if r.action == RA_REP else 0, pm, 0) != 0:
                continue
            if r.action == RA_REP:
                n = _rules_expand(r.str, r.str_len, line, pm, out, RULES_MAXLINE)
                if n < 0:
                    return -1
                k = h1_replace(buf, plen[0], BUFSIZE, m, off, cl, out, n)
                if k < 0:
                    return -1
                plen[0] = k
                edited = 1
            elif r.action == RA_DEL:
                if i >= 0:
                    plen[0] = h1_del_hdr(buf, plen[0], m, i)
                    deleted = 1
                    edited = 1
            elif r.action == RA_ALLOW:
                if not (flags & RF_DENY):
                    flags |= RF_ALLOW
            elif r.action == RA_DENY:
                if not (flags & RF_ALLOW):
                    flags |= RF_DENY
            elif r.action == RA_TARPIT:
                if not (flags & RF_ALLOW):
                    flags |= RF_TARPIT
            # RA_PASS: the line is left alone and no later rule sees it
            break
        if not deleted:
            i += 1
    if flags & (RF_DENY | RF_TARPIT):
        return flags
    for j in range(nrules):
        r = &rules[j]
        if r.action == RA_ADD:
            k = _rules_add_line(buf, plen[0], m, r.str, r.str_len)
            if k < 0:
                return -1
            plen[0] = k
            edited = 1
    if edited:
        # Parse the edited block again: offsets, framing and Connection must describe it.
        end = m.hdrs_end
        if end > H1_MAX_HDR_BLOCK:
            return -1
        if is_req:
            k = h1_parse_request(buf, end, m)
        else:
            k = h1_parse_response(buf, end, m)
        if k != end:
            return -1
    return flags


cdef int rules_req(int px, char *buf, int *plen, h1_msg *m) noexcept nogil:
    """Request rules of proxy px on the parsed request in buf (plen: bytes in buf, updated).

    0: go on (possibly edited), 403: denied, RULES_TARPIT: tarpitted, 400: the edits cannot be
    made (buffer full) or made the request invalid.
    """
    cdef int f
    if g_rules == NULL or px < 0 or px >= g_nrules_px or g_rules[px].nreq == 0:
        return 0
    f = _rules_apply(g_rules[px].req, g_rules[px].nreq, buf, plen, m, 1)
    if f < 0:
        return 400
    if f & RF_DENY:
        return 403
    if f & RF_TARPIT:
        return RULES_TARPIT
    return 0


cdef int rules_rsp(int px, char *buf, int *plen, h1_msg *m) noexcept nogil:
    """Response rules of proxy px: 0 go on (possibly edited), 502 denied or impossible edit."""
    cdef int f
    if g_rules == NULL or px < 0 or px >= g_nrules_px or g_rules[px].nrsp == 0:
        return 0
    f = _rules_apply(g_rules[px].rsp, g_rules[px].nrsp, buf, plen, m, 0)
    if f < 0 or (f & RF_DENY):
        return 502
    return 0


# ---------------------------------------------------------------------------------------------
# session-level glue, called from http.pxi

cdef int rules_http_request(int idx, int px, int *plen, h1_msg *m) noexcept nogil:
    """Apply proxy px's request rules to session idx's request (m). 1: the session was taken
    over (403 page, 400 page or tarpit), 0: go on with the (possibly edited) request."""
    cdef sess_t *s = &g_sess[idx]
    cdef int r = rules_req(px, s.req.buf, plen, m)
    if r == 0:
        return 0
    s.cli_ka = 0
    s.ans_ka = 0        # (1.x's reqdeny/reqtarpit close the connection after their page)
    if r == 403:
        ctr_px(s.px).denied_req += 1
        sess_fail(idx, TERM_PROXY, PH_REQ, 403)
        return 1
    if r == RULES_TARPIT:
        rules_tarpit_start(idx, 500)
        return 1
    ctr_px(s.px).err_req += 1
    sess_fail(idx, TERM_PROXY, PH_REQ, 400)
    return 1


cdef int rules_http_response(int idx, int *plen, h1_msg *m) noexcept nogil:
    """Apply the response rules to session idx's response (m), the backend's then the
    frontend's. 1: it was refused and the 502 page is on its way, 0: go on."""
    cdef sess_t *s = &g_sess[idx]
    if rules_rsp(s.be, s.rsp.buf, plen, m) == 0 and (
            s.be == s.px or rules_rsp(s.px, s.rsp.buf, plen, m) == 0):
        return 0
    http_refuse_response(idx)
    return 1


cdef void http_refuse_response(int idx) noexcept nogil:
    """A server's response is not let through (rspdeny, checkcache): counted as denied, the
    connections not kept, HAProxy's 502 page instead (logged PH)."""
    cdef sess_t *s = &g_sess[idx]
    ctr_px(s.px).denied_resp += 1
    if s.srv >= 0:
        ctr_srv(s.srv).denied_resp += 1
    s.cli_ka = 0
    s.ans_ka = 0        # (1.x's rspdeny/checkcache close the connection after their page)
    s.srv_ka = 0
    s.status = 502
    sess_fail(idx, TERM_PROXY, PH_HDRS, 502)


cdef void rules_tarpit_start(int idx, int status) noexcept nogil:
    """Hold a tarpitted request: nothing goes to a server; the error page of status (500 for
    reqtarpit, `deny_status` of `http-request tarpit`) answers it after `timeout tarpit`
    (`timeout connect` when there is none, as HAProxy does).

    The timer end is handled by rules_tarpit_expired(), called by sess_timeout() for ST_TARPIT.
    """
    cdef sess_t *s = &g_sess[idx]
    cdef px_conf_t *c = &g_px[s.px].conf
    cdef int to = c.tarpittimeout if c.tarpittimeout > 0 else c.contimeout
    if s.req_unsettled and g_req_settle != NULL:
        g_req_settle(idx)       # (the answer comes later: the request's framing is set up now)
    ctr_px(s.px).denied_req += 1
    if s.term_cause == TERM_NONE:
        s.term_cause = TERM_PROXY
        s.term_phase = PH_TARPIT
    if s.sfd >= 0:
        sfd_close(s.sfd)
        s.sfd = -1
    sess_set_srv(s, -1)
    s.status = status
    if to <= 0:
        http_send_error(idx, status)
        return
    s.state = ST_TARPIT
    s.srv_exp = 0
    s.con_exp = 0
    s.cli_exp = g_now + to
    sess_arm(s, idx)


cdef void rules_tarpit_expired(int idx) noexcept nogil:
    """The tarpit delay is over: answer its status (set by rules_tarpit_start) and close."""
    http_send_error(idx, g_sess[idx].status)
