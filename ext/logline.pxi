# Log lines: formatted in C into a stack buffer and sent with one non-blocking sendto() per target.

cdef void sess_log(sess_t *s) noexcept nogil:
    pass


def log_setup(dict tables):
    pass


cdef void log_keep_request(sess_t *s, const char *line, int n) noexcept nogil:
    pass


cdef void addr_to_str(sockaddr_storage *a, char *out, int cap) noexcept nogil:
    if a.ss_family == AF_INET:
        inet_ntop(AF_INET, &(<sockaddr_in *>a).sin_addr, out, cap)
    else:
        inet_ntop(AF_INET6, &(<sockaddr_in6 *>a).sin6_addr, out, cap)
