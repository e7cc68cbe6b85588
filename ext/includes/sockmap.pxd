# The TCP fast path's kernel side (ext/sockmap.c, ext/sockmap.h): a BPF sk_skb verdict program
# on a SOCKHASH, loaded with plain bpf(2) syscalls.
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "sockmap.h" nogil:
    cdef struct skm_counts:
        uint64_t written
        uint64_t received
        uint64_t inq
        uint32_t last_recv_ms
        uint32_t last_sent_ms
        uint32_t state
    int skm_open(unsigned int entries, int *verdict_out, int *target_out, int *prog_out, char *err,
                 int errlen)
    int skm_pair(int verdict, int target, int a, int b)
    int skm_read(int fd, skm_counts *c)
