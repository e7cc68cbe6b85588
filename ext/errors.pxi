# Error pages, in one place: HAProxy's built-in answers, and each proxy's own (errorfile,
# errorloc, errorloc303: the raw answers built by pyhaproxy/worker.py error_pages()).
# Sending one is session.pxi's http_send_error(); http-request deny/return statuses without a
# page of their own (404, 405, 429...) use the built-in one.
# The built-in pages are 2.6's bytes: the parser's errors (400, 408, 414) in the raw form its H1
# mux sends (`Content-length`, `Connection: close`: they always close), the stream's errors in
# the lower-case form its HTX layer writes, with no connection header: session.pxi's
# answer_frame() adds `connection: close` when the client goes, as 2.6's mux does, and nothing
# when it stays (2.6 keeps an HTTP/1.1 client after a deny, a 503...).

cdef enum:
    ERR_NPAGES = 17         # the statuses a proxy can replace (ERROR_CODES)


cdef struct px_pages_t:
    char *page[ERR_NPAGES]  # errorfile / errorloc answer, NULL: the built-in page
    int page_len[ERR_NPAGES]


cdef px_pages_t *g_pages = NULL
cdef int g_npages_px = 0
# 2.6's: the statuses it can generate, so the ones `errorfile`, `errorfiles` and `http-error`
# accept (pyhaproxy/config reads them from here)
ERROR_CODES = (200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504)
cdef int ERROR_CODE_AT[ERR_NPAGES]
for _k, _code in enumerate(ERROR_CODES):
    ERROR_CODE_AT[_k] = _code

cdef const char *ERR_400 = b"HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n"


cdef const char *ERR_403 = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"


cdef const char *ERR_408 = b"HTTP/1.1 408 Request Time-out\r\nContent-length: 110\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n"


cdef const char *ERR_414 = b"HTTP/1.1 414 Request-URI Too Long\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>414 Request-URI Too Long</h1>\nThe request URI is too long.\n</body></html>\n"


cdef const char *ERR_404 = b"HTTP/1.1 404 Not Found\r\ncontent-length: 83\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>404 Not Found</h1>\nThe resource could not be found.\n</body></html>\n"


cdef const char *ERR_405 = b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 146\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>405 Method Not Allowed</h1>\nA request was made of a resource using a request method not supported by that resource\n</body></html>\n"


cdef const char *ERR_422 = b"HTTP/1.1 422 Unprocessable Content\r\ncontent-length: 116\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>422 Unprocessable Content</h1>\nThe server cannot process the contained instructions.\n</body></html>\n"


# the 422 of 2.6's H1 parser (a request coding other than chunked): the mux's raw form, which
# has no connection header though the connection closes after it
cdef const char *ERR_422_H1 = b"HTTP/1.1 422 Unprocessable Content\r\nContent-length: 116\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>422 Unprocessable Content</h1>\nThe server cannot process the contained instructions.\n</body></html>\n"


# the 413 of 2.6's H1 parser (an HTTP/1.0 GET, HEAD or DELETE with a body), its mux's raw form:
# no connection header though the connection closes after it
cdef const char *ERR_413_H1 = b"HTTP/1.1 413 Payload Too Large\r\nContent-length: 106\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>413 Payload Too Large</h1>\nThe request entity exceeds the maximum allowed.\n</body></html>\n"


cdef const char *ERR_429 = b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 117\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>429 Too Many Requests</h1>\nYou have sent too many requests in a given amount of time.\n</body></html>\n"


cdef const char *ERR_500 = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 97\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n"


cdef const char *ERR_502 = b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 107\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n"


cdef const char *ERR_503 = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n"


cdef const char *ERR_504 = b"HTTP/1.1 504 Gateway Time-out\r\ncontent-length: 92\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n"


cdef const char *MONITOR_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 58\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n"   # monitor-uri (2.6)
cdef const char *MONITOR_NET_OK = b"HTTP/1.0 200 OK\r\n\r\n"   # 1.x monitor-net


cdef const char *error_page(int status) noexcept nogil:
    if status == 400:
        return ERR_400
    if status == 403:
        return ERR_403
    if status == 408:
        return ERR_408
    if status == 414:
        return ERR_414
    if status == 404:
        return ERR_404
    if status == 405:
        return ERR_405
    if status == 422:
        return ERR_422
    if status == 429:
        return ERR_429
    if status == 505 or status == 501:
        return ERR_400
    if status == 502:
        return ERR_502
    if status == 503:
        return ERR_503
    if status == 504:
        return ERR_504
    return ERR_500


cdef int errors_setup_proxy(int px, object pp) except -1:
    """Keep proxy px's custom pages (pp.errpages: {status: the raw answer bytes}; start-up)."""
    global g_pages, g_npages_px
    cdef int k
    cdef bytes text
    if g_pages == NULL:
        g_npages_px = max(1, g_npx)
        g_pages = <px_pages_t *>calloc(g_npages_px, sizeof(px_pages_t))
        if g_pages == NULL:
            raise MemoryError()
    if px >= g_npages_px:
        raise ValueError("proxy index out of range")
    for code, page in pp.errpages.items():
        if code not in ERROR_CODES:
            continue
        k = ERROR_CODES.index(code)
        text = bytes(page)[:BUFSIZE]
        g_pages[px].page[k] = <char *>malloc(max(1, len(text)))
        if g_pages[px].page[k] == NULL:
            raise MemoryError()
        memcpy(g_pages[px].page[k], <const char *>text, len(text))
        g_pages[px].page_len[k] = len(text)
    return 0


cdef const char *px_error_page(int px, int status, int *len) noexcept nogil:
    """Proxy px's errorfile/errorloc/http-error answer for status (len set), or NULL for the
    built-in page. A status 2.6 cannot generate uses its page for 500 (505: the 400 one)."""
    cdef int k
    if g_pages == NULL or px < 0 or px >= g_npages_px:
        return NULL
    if status == 505:
        status = 400
    for k in range(ERR_NPAGES):
        if ERROR_CODE_AT[k] == status:
            break
    else:
        for k in range(ERR_NPAGES):
            if ERROR_CODE_AT[k] == 500:
                break
    if g_pages[px].page[k] == NULL:
        return NULL
    len[0] = g_pages[px].page_len[k]
    return g_pages[px].page[k]
