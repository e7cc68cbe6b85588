# The TCP fast path's kernel side (ext/sockmap.c, ext/sockmap.h): a BPF sk_skb verdict program
# on a SOCKHASH, loaded with plain bpf(2) syscalls.
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "sockmap.h" nogil:
    cdef struct skm_key:
        uint32_t remote_ip4
        uint32_t local_ip4
        uint32_t remote_port
        uint32_t local_port
    cdef struct skm_counts:
        uint64_t written
        uint64_t received
        uint64_t inq
        uint32_t last_recv_ms
        uint32_t last_sent_ms
        uint32_t state
    cdef struct skm_maps:
        int verdict
        int target
        int hold
        int count
        int seq
        int prog
    int skm_open(unsigned int entries, skm_maps *m, char *err, int errlen)
    void skm_close(skm_maps *m)
    int skm_pair(const skm_maps *m, int a, int b, skm_key *ka, skm_key *kb)
    int skm_redirected(const skm_maps *m, const skm_key *k, uint64_t *out)
    int skm_hold(const skm_maps *m, const skm_key *k)
    void skm_forget(const skm_maps *m, const skm_key *k)
    uint64_t skm_release(const skm_maps *m, const skm_key *k)
    int skm_read(int fd, skm_counts *c)
