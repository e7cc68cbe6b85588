/* Stick tables in shared memory: the layout and the concurrency primitives (ext/stktable.pxi
 * builds the table operations on them; docs/architecture.md "Stick tables" explains the design).
 *
 * One anonymous MAP_SHARED region per table, made by the master before it forks the workers
 * (and kept across reloads while the table keeps its shape):
 *   [st_hdr][uint32 lock x nbuckets][uint32 head x nbuckets][entry x size]
 * An entry is [st_entry][key: key_size bytes][data], every part 8-byte aligned; the data of a
 * stored type sits at hdr.data_off[type] (0: not stored); an array type (gpt, gpc, gpc_rate)
 * holds hdr.data_nelem[type] elements there, one after the other, each the size of one value.
 *
 * Locks are per bucket: a lookup, an update of an entry's data and a chain edit take only the
 * lock of the entry's bucket. Taking an entry from the free list takes the table's alloc lock,
 * never while holding a bucket lock (eviction takes the victim's bucket lock after it). A lock
 * word holds the owner's pid, so a waiter that has spun for long checks that the owner still
 * lives and frees the lock of a process that died holding it (a worker killed by SIGKILL).
 */
#ifndef PYHAPROXY_STKTABLE_H
#define PYHAPROXY_STKTABLE_H

#include <stdint.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/types.h>

#define ST_MAGIC 0x53544b32u
#define ST_NDATA 25            /* 2.6's STKTABLE_DT_* ids 0..24 (22..24: the arrays gpt, gpc, gpc_rate) */
#define ST_MAX_ARRAY 100       /* 2.6's STKTABLE_MAX_DT_ARRAY_SIZE: elements of an array type at most */

/* 2.6's frequency counter: events of the current period and of the previous one */
typedef struct st_freq {
    uint32_t curr_tick;
    uint32_t curr_ctr;
    uint32_t prev_ctr;
} st_freq;

typedef struct st_hdr {
    uint32_t magic;
    uint32_t key_type;         /* pyhaproxy._core.stk_key_type */
    uint32_t key_size;         /* bytes kept for a key (2.6's key size: `len` + 1 for a string) */
    uint32_t size;             /* entries at most */
    uint32_t nbuckets;         /* a power of two */
    uint32_t entry_size;
    int64_t expire_ms;         /* 0: entries never expire */
    uint32_t nopurge;          /* full: refuse new entries instead of evicting the oldest */
    uint32_t data_off[ST_NDATA];
    uint32_t data_period[ST_NDATA];
    uint32_t data_nelem[ST_NDATA]; /* elements of a stored type (1 but for the arrays) */
    volatile uint32_t used;        /* live entries */
    volatile uint32_t alloc_lock;
    uint32_t free_head;            /* freed entries: index + 1, chained through st_entry.next */
    uint32_t fresh;                /* entries never used start here */
    volatile uint32_t evict_at;    /* where the next eviction scan starts */
    uint32_t pad;
    volatile uint64_t seq;         /* bumped by every change; an entry keeps the value of its last */
} st_hdr;

typedef struct st_entry {
    uint32_t next;             /* bucket chain: index + 1, 0 ends it */
    uint32_t inuse;
    uint32_t ref_cnt;          /* sessions tracking it: neither expired nor evicted while > 0 */
    uint32_t key_len;
    int64_t expire;            /* monotonic ms; 0 never */
    uint64_t seq;
} st_entry;

static inline uint32_t *st_locks(st_hdr *h) { return (uint32_t *)(h + 1); }
static inline uint32_t *st_heads(st_hdr *h) { return st_locks(h) + h->nbuckets; }
static inline st_entry *st_entry_at(st_hdr *h, uint32_t i)
{
    char *base = (char *)(st_heads(h) + h->nbuckets);
    base += ((uintptr_t)base & 7) ? 8 - ((uintptr_t)base & 7) : 0;
    return (st_entry *)(base + (uint64_t)i * h->entry_size);
}
static inline unsigned char *st_key(st_entry *e) { return (unsigned char *)(e + 1); }
static inline void *st_data(st_hdr *h, st_entry *e, int type)
{
    return h->data_off[type] ? (char *)e + h->data_off[type] : (void *)0;
}
/* element idx of a stored type whose values take `stride` bytes; NULL past its last one */
static inline void *st_data_idx(st_hdr *h, st_entry *e, int type, uint32_t idx, uint32_t stride)
{
    if (!h->data_off[type] || idx >= h->data_nelem[type])
        return (void *)0;
    return (char *)e + h->data_off[type] + (uint64_t)idx * stride;
}

static inline uint64_t st_region_size(uint32_t nbuckets, uint32_t size, uint32_t entry_size)
{
    return sizeof(st_hdr) + 8 * (uint64_t)nbuckets + 8 + (uint64_t)size * entry_size;
}

/* a pid-owned spin lock; see the top of this file */
static inline void st_lock(volatile uint32_t *l, uint32_t me)
{
    uint32_t spins = 0, seen;
    for (;;) {
        seen = 0;
        if (__atomic_compare_exchange_n(l, &seen, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
        if ((++spins & 255) != 0) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            continue;
        }
        sched_yield();          /* the owner may be preempted on the same CPU */
        if ((spins & 0xffff) == 0 && seen != 0 && seen != me &&
            kill((pid_t)seen, 0) < 0 && errno == ESRCH)
            __atomic_compare_exchange_n(l, &seen, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    }
}

static inline void st_unlock(volatile uint32_t *l)
{
    __atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

static inline uint64_t st_seq_next(st_hdr *h)
{
    return __atomic_add_fetch(&h->seq, 1, __ATOMIC_RELAXED);
}

static inline uint32_t st_evict_next(st_hdr *h, uint32_t n)
{
    return __atomic_fetch_add(&h->evict_at, n, __ATOMIC_RELAXED);
}

static inline void st_used_add(st_hdr *h, int32_t d)
{
    __atomic_add_fetch(&h->used, (uint32_t)d, __ATOMIC_RELAXED);
}

/* 2.6's update_freq_ctr_period() and freq_ctr_total(), under the entry's bucket lock (so with
 * no atomics of their own); `now` is the monotonic clock in ms cut to 32 bits, as 2.6's ticks */
static inline void st_freq_add(st_freq *c, uint32_t period, uint32_t now, uint32_t inc)
{
    if (now - c->curr_tick < period) {
        c->curr_ctr += inc;
        return;
    }
    c->prev_ctr = c->curr_ctr;
    c->curr_ctr = inc;
    c->curr_tick += period;
    if (now - c->curr_tick >= period) {     /* at least two periods missed */
        c->prev_ctr = 0;
        c->curr_tick = now;
    }
}

static inline uint32_t st_freq_read(const st_freq *c, uint32_t period, uint32_t now)
{
    uint64_t curr = c->curr_ctr, past = c->prev_ctr;
    int32_t remain;
    if (period == 0)
        return 0;
    remain = (int32_t)(c->curr_tick + period - now);
    if (remain < 0) {
        remain += (int32_t)period;
        past = remain >= 0 ? curr : 0;
        curr = 0;
    }
    if (curr == 0 && past <= 1)             /* 2.6's flapping correction at very low rates */
        return (uint32_t)past;
    return (uint32_t)((past * (uint64_t)(remain < 0 ? 0 : remain) + curr * period) / period);
}

#endif
