# Cython view of ext/stktable.h (stick tables in shared memory: layout, locks, 2.6's counters).
from libc.stdint cimport uint32_t, uint64_t, int32_t, int64_t

cdef extern from "stktable.h" nogil:
    enum:
        ST_MAGIC
        ST_NDATA
        ST_MAX_ARRAY
    ctypedef struct st_freq:
        uint32_t curr_tick
        uint32_t curr_ctr
        uint32_t prev_ctr
    ctypedef struct st_hdr:
        uint32_t magic
        uint32_t key_type
        uint32_t key_size
        uint32_t size
        uint32_t nbuckets
        uint32_t entry_size
        int64_t expire_ms
        uint32_t nopurge
        uint32_t data_off[25]
        uint32_t data_period[25]
        uint32_t data_nelem[25]
        uint32_t used
        uint32_t alloc_lock
        uint32_t free_head
        uint32_t fresh
        uint32_t evict_at
        uint64_t seq
    ctypedef struct st_entry:
        uint32_t next
        uint32_t inuse
        uint32_t ref_cnt
        uint32_t key_len
        int64_t expire
        uint64_t seq
    uint32_t *st_locks(st_hdr *h)
    uint32_t *st_heads(st_hdr *h)
    st_entry *st_entry_at(st_hdr *h, uint32_t i)
    unsigned char *st_key(st_entry *e)
    void *st_data(st_hdr *h, st_entry *e, int type)
    void *st_data_idx(st_hdr *h, st_entry *e, int type, uint32_t idx, uint32_t stride)
    uint64_t st_region_size(uint32_t nbuckets, uint32_t size, uint32_t entry_size)
    void st_lock(uint32_t *l, uint32_t me)
    void st_unlock(uint32_t *l)
    uint64_t st_seq_next(st_hdr *h)
    uint32_t st_evict_next(st_hdr *h, uint32_t n)
    void st_used_add(st_hdr *h, int32_t d)
    void st_freq_add(st_freq *c, uint32_t period, uint32_t now, uint32_t inc)
    uint32_t st_freq_read(const st_freq *c, uint32_t period, uint32_t now)
