# Log lines: formatted in C into a stack buffer and sent with one non-blocking sendto() per target.

cdef void sess_log(sess_t *s) noexcept nogil:
    pass


def log_setup(dict tables):
    pass
