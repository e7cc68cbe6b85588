# Thin Python wrappers around h1.pxi, for the unit tests only (tests/unit/test_h1.py).
# The worker's loop calls the cdef functions directly; nothing here is on the hot path.


cdef dict _h1_msg_dict(bytes data, int ret, h1_msg *m):
    cdef const char *b = data
    cdef int i
    cdef h1_hdr *h
    hdrs = []
    lines = []
    if ret > 0:
        for i in range(m.nhdr):
            h = &m.hdr[i]
            hdrs.append((b[h.n_off:h.n_off + h.n_len], b[h.v_off:h.v_off + h.v_len]))
            lines.append(b[h.line_off:h.line_off + h.line_len])
    return {
        "ret": ret,
        "err_code": m.err_code,
        "err_pos": m.err_pos,
        "start": m.start,
        "method": b[m.meth_off:m.meth_off + m.meth_len],
        "meth": m.meth,
        "uri": b[m.uri_off:m.uri_off + m.uri_len],
        "version": b[m.ver_off:m.ver_off + m.ver_len],
        "major": m.major,
        "minor": m.minor,
        "status": m.status,
        "reason": b[m.reason_off:m.reason_off + m.reason_len],
        "first_line_len": m.first_line_len,
        "hdrs_end": m.hdrs_end,
        "headers": hdrs,
        "lines": lines,
        "content_length": m.content_length,
        "chunked": m.chunked,
        "has_te": m.has_te,
        "te_close": m.te_close,
        "cl_drop": m.cl_drop,
        "conn_close": m.conn_close,
        "conn_keepalive": m.conn_keepalive,
    }


def h1_method_codes() -> dict:
    """The H1_M_* enum as a dict, so tests can name methods."""
    return {"GET": H1_M_GET, "HEAD": H1_M_HEAD, "POST": H1_M_POST, "PUT": H1_M_PUT,
            "DELETE": H1_M_DELETE, "OPTIONS": H1_M_OPTIONS, "TRACE": H1_M_TRACE,
            "CONNECT": H1_M_CONNECT, "OTHER": H1_M_OTHER, "NONE": H1_M_NONE}


def h1_limits() -> dict:
    return {"max_hdrs": H1_MAX_HDRS, "max_hdr_block": H1_MAX_HDR_BLOCK, "max_reqline": H1_MAX_REQLINE}


def h1_parse_request_py(bytes data) -> dict:
    """Parse a request head; the dict mirrors h1_msg ("ret" is the C return value)."""
    cdef h1_msg m
    cdef int ret = h1_parse_request(data, len(data), &m)
    return _h1_msg_dict(data, ret, &m)


def h1_parse_response_py(bytes data) -> dict:
    """Parse a response head; the dict mirrors h1_msg ("ret" is the C return value)."""
    cdef h1_msg m
    cdef int ret = h1_parse_response(data, len(data), &m)
    return _h1_msg_dict(data, ret, &m)


def h1_hdr_block_end_py(bytes data, int frm=0) -> int:
    return h1_hdr_block_end(data, len(data), frm)


def h1_chunk_py(bytes data, int step=0) -> dict:
    """Feed a chunked body in pieces of `step` bytes (0: one piece) as the loop would.

    "consumed" is the number of bytes that belong to the message (what follows is the next
    message), or -1 on a framing error.
    """
    cdef h1_chunk c
    cdef const char *b = data
    cdef int n = len(data), pos = 0, k, r
    h1_chunk_init(&c)
    if step <= 0:
        step = n if n > 0 else 1
    consumed = 0
    while pos < n and not c.done:
        k = step if n - pos > step else n - pos
        r = h1_chunk_feed(&c, b + pos, k)
        if r < 0:
            consumed = -1
            break
        consumed += r
        pos += k
    return {"consumed": consumed, "done": c.done, "err": c.err, "remaining": c.remaining,
            "data_left": h1_chunk_data_left(&c)}


def h1_find_cookie_py(bytes value, bytes name):
    """(pair_off, pair_len, val_off, val_len) of NAME in a Cookie value, or None."""
    cdef int po = 0, pl = 0, vo = 0, vl = 0
    if h1_find_cookie(value, len(value), name, len(name), &po, &pl, &vo, &vl):
        return (po, pl, vo, vl)
    return None


def h1_find_setcookie_py(bytes value, bytes name):
    """(pair_off, pair_len, val_off, val_len) of NAME in a Set-Cookie value, or None."""
    cdef int po = 0, pl = 0, vo = 0, vl = 0
    if h1_find_setcookie(value, len(value), name, len(name), &po, &pl, &vo, &vl):
        return (po, pl, vo, vl)
    return None


def h1_hdr_name_is_py(bytes data, int idx, bytes name) -> bool:
    cdef h1_msg m
    if h1_parse_request(data, len(data), &m) <= 0 or idx >= m.nhdr:
        raise ValueError("no such header")
    return h1_hdr_name_is(data, &m.hdr[idx], name, len(name)) == 1


def h1_find_hdr_py(bytes data, bytes name, int frm=0) -> int:
    cdef h1_msg m
    if h1_parse_request(data, len(data), &m) <= 0:
        raise ValueError("bad request")
    return h1_find_hdr(data, &m, name, len(name), frm)


def h1_edit_py(bytes data, list ops) -> dict:
    """Apply edits to a parsed request and return the re-described message.

    ops: ("replace", abs_off, olen, bytes), ("del", idx), ("add", name, value),
    ("cut_cookie", hdr_idx, cookie_name) -- removes a cookie pair the way the loop will (the
    whole header when it was the only pair), ("drop_cl",) -- every Content-Length header,
    ("filter_te",) -- the TE headers as an HTTP/1 message is written.
    """
    cdef h1_msg m
    cdef int cap = len(data) + 4096, n = len(data), r, po = 0, pl = 0, vo = 0, vl = 0, idx
    cdef bytearray buf = bytearray(data) + bytearray(4096)
    cdef char *b = buf
    cdef bytes d, nm
    if h1_parse_request(b, n, &m) <= 0:
        raise ValueError("bad request")
    for op in ops:
        if op[0] == "replace":
            d = op[3]
            r = h1_replace(b, n, cap, &m, op[1], op[2], d, len(d))
        elif op[0] == "del":
            r = h1_del_hdr(b, n, &m, op[1])
        elif op[0] == "add":
            nm = op[1]
            d = op[2]
            r = h1_add_hdr(b, n, cap, &m, nm, len(nm), d, len(d))
        elif op[0] == "cut_cookie":
            idx = op[1]
            nm = op[2]
            if not h1_find_cookie(b + m.hdr[idx].v_off, m.hdr[idx].v_len, nm, len(nm),
                                  &po, &pl, &vo, &vl):
                continue
            if pl == m.hdr[idx].v_len:
                r = h1_del_hdr(b, n, &m, idx)
            else:
                r = h1_replace(b, n, cap, &m, m.hdr[idx].v_off + po, pl, NULL, 0)
        elif op[0] == "drop_cl":
            r = h1_drop_cl(b, n, &m)
        elif op[0] == "filter_te":
            r = h1_filter_te(b, n, cap, &m)
        else:
            raise ValueError(op[0])
        if r < 0:
            raise ValueError("edit does not fit")
        n = r
    out = bytes(buf[:n])
    res = _h1_msg_dict(out, m.hdrs_end, &m)
    res["data"] = out
    # the edited block must still parse to the same description
    res["reparse"] = h1_parse_request_py(out)
    return res


def h1_bench_request_py(bytes data, int n) -> int:
    """Parse data n times in C without the GIL (for bench/test_bench_scanner.py); last result."""
    cdef h1_msg m
    cdef const char *b = data
    cdef int ln = len(data), r = 0
    with nogil:
        while n > 0:
            r = h1_parse_request(b, ln, &m)
            n -= 1
    return r


def h1_bench_chunk_py(bytes data, int n) -> int:
    """Run the chunk parser over data n times in C (for the micro-benchmark); last result."""
    cdef h1_chunk c
    cdef const char *b = data
    cdef int ln = len(data), r = 0
    with nogil:
        while n > 0:
            h1_chunk_init(&c)
            r = h1_chunk_feed(&c, b, ln)
            n -= 1
    return r


def h1_bench_cookie_py(bytes value, bytes name, int n) -> int:
    """Find NAME in a Cookie value n times in C (for bench/test_bench_cookie.py); its value's length."""
    cdef const char *b = value
    cdef const char *nm = name
    cdef int ln = len(value), nl = len(name), po = 0, pl = 0, vo = 0, vl = 0
    with nogil:
        while n > 0:
            if not h1_find_cookie(b, ln, nm, nl, &po, &pl, &vo, &vl):
                vl = -1
            n -= 1
    return vl


def h1_bench_setcookie_py(bytes value, bytes name, int n) -> int:
    """Find NAME in a Set-Cookie value n times in C (micro-benchmark); its value's length."""
    cdef const char *b = value
    cdef const char *nm = name
    cdef int ln = len(value), nl = len(name), po = 0, pl = 0, vo = 0, vl = 0
    with nogil:
        while n > 0:
            if not h1_find_setcookie(b, ln, nm, nl, &po, &pl, &vo, &vl):
                vl = -1
            n -= 1
    return vl


def h1_bench_cookie_cut_py(bytes data, bytes name, int n) -> int:
    """`cookie NAME indirect` on a request n times in C: copy, parse, find the cookie, cut the pair
    (or the whole header when it was alone). Returns the edited length (micro-benchmark)."""
    cdef h1_msg m
    cdef int ln = len(data), nl = len(name), r = 0, idx, po = 0, pl = 0, vo = 0, vl = 0
    cdef bytearray work = bytearray(ln + 4096)
    cdef char *b = work
    cdef const char *src = data
    cdef const char *nm = name
    with nogil:
        while n > 0:
            n -= 1
            memcpy(b, src, ln)
            r = h1_parse_request(b, ln, &m)
            if r <= 0:
                break
            idx = h1_find_hdr(b, &m, b"cookie", 6, 0)
            if idx < 0 or not h1_find_cookie(b + m.hdr[idx].v_off, m.hdr[idx].v_len, nm, nl,
                                             &po, &pl, &vo, &vl):
                r = ln
                continue
            if pl == m.hdr[idx].v_len:
                r = h1_del_hdr(b, ln, &m, idx)
            else:
                r = h1_replace(b, ln, ln + 4096, &m, m.hdr[idx].v_off + po, pl, NULL, 0)
    return r
