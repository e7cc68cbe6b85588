# HTTP mode: request analysis, server choice by cookie, header edits, response analysis, error pages.

cdef const char *ERR_400 = b"HTTP/1.0 400 Bad request\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n"
cdef const char *ERR_403 = b"HTTP/1.0 403 Forbidden\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"
cdef const char *ERR_408 = b"HTTP/1.0 408 Request Time-out\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n"
cdef const char *ERR_500 = b"HTTP/1.0 500 Internal Server Error\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n"
cdef const char *ERR_502 = b"HTTP/1.0 502 Bad Gateway\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n"
cdef const char *ERR_503 = b"HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n"
cdef const char *ERR_504 = b"HTTP/1.0 504 Gateway Time-out\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n"


cdef const char *error_page(int status) noexcept nogil:
    if status == 400:
        return ERR_400
    if status == 403:
        return ERR_403
    if status == 408:
        return ERR_408
    if status == 502:
        return ERR_502
    if status == 503:
        return ERR_503
    if status == 504:
        return ERR_504
    return ERR_500


cdef void http_send_error(int idx, int status) noexcept nogil:
    """Answer with HAProxy's error page, then close the connection."""
    cdef sess_t *s = &g_sess[idx]
    cdef const char *page = error_page(status)
    cdef int n = <int>strlen(page)
    if s.sfd >= 0:
        close(s.sfd)
        s.sfd = -1
    chan_release(&s.rsp)
    s.rsp.buf = buf_get()
    if s.rsp.buf == NULL:
        sess_close(idx)
        return
    memcpy(s.rsp.buf, page, n)
    s.rsp.buf_len = n
    s.rsp.buf_off = 0
    s.status = status
    s.state = ST_ERRPAGE
    s.srv_exp = 0
    s.con_exp = 0
    touch_cli(s)
    http_client_io(idx)


cdef void http_client_io(int idx) noexcept nogil:
    cdef sess_t *s = &g_sess[idx]
    cdef int r
    if s.state == ST_ERRPAGE:
        r = chan_flush_buf(&s.rsp, s.cfd, &s.cli_wr)
        if (r & XF_DST_ERR) or s.rsp.buf_len == 0:
            shutdown(s.cfd, SHUT_WR)
            sess_close(idx)
        else:
            sess_arm(s, idx)
        return
    # Placeholder until the HTTP analyser lands: relay as TCP.
    touch_cli(s)
    sess_start_connect(idx)


cdef void http_relay_io(int idx) noexcept nogil:
    tcp_relay_io(idx)
