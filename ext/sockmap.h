/* The TCP fast path's kernel side: SOCKHASH maps and the sk_skb verdict program (sockmap.c). */
#ifndef PYHAPROXY_SOCKMAP_H
#define PYHAPROXY_SOCKMAP_H
#include <stdint.h>

struct skm_key {            /* a socket's 4-tuple as its own skbs show it to the program */
    uint32_t remote_ip4;    /* network order */
    uint32_t local_ip4;     /* network order */
    uint32_t remote_port;   /* network-order 16 bits */
    uint32_t local_port;    /* host order */
};

struct skm_counts {         /* one socket's TCP counters (TCP_INFO, SIOCOUTQ, SIOCINQ) */
    uint64_t written;       /* bytes put in its send queue since the connect (+1 SYN, +1 FIN) */
    uint64_t received;      /* bytes received in sequence (+1 FIN) */
    uint64_t inq;           /* received and not yet consumed */
    uint32_t last_recv_ms;  /* ms since data last came in */
    uint32_t last_sent_ms;  /* ms since data last went out */
    uint32_t state;         /* TCP state */
};

struct skm_seq {            /* one socket's sequence as the program passed it on */
    uint32_t next;          /* end_seq of the last skb passed on */
    uint32_t seen;          /* next is set */
    uint64_t repeated;      /* bytes cut because they came before */
};

#define SKM_TRIM_CALLS 34   /* bpf_skb_adjust_room() calls, 4095 bytes each: two loopback skbs */
#define SKM_PROG_MAX 640    /* instructions */

struct skm_maps {            /* a generation's fast path: fds, -1 when absent */
    int verdict;            /* SOCKHASH carrying the program: its sockets' bytes are judged */
    int target;             /* SOCKHASH the program redirects through (each socket under its peer's key) */
    int hold;               /* HASH key -> u32: that socket keeps its bytes (the worker takes over) */
    int count;              /* HASH key -> u64: bytes the program redirected from that socket */
    int seq;                /* HASH key -> struct skm_seq, from the pairing to the session's end */
    int prog;
};

/* Create the maps, load the program, attach it and run the loopback self-test. 0, or -errno
 * with a message in err (everything closed). */
int skm_open(unsigned int entries, struct skm_maps *m, char *err, int errlen);
void skm_close(struct skm_maps *m);
/* Hand the connected IPv4 TCP sockets a and b to the kernel: each one's bytes go to the other;
 * their keys in ka, kb. 0; -1 nothing done (errno); -2 a is in and b could not be added. */
int skm_pair(const struct skm_maps *m, int a, int b, struct skm_key *ka, struct skm_key *kb);
int skm_redirected(const struct skm_maps *m, const struct skm_key *k, uint64_t *out);
int skm_hold(const struct skm_maps *m, const struct skm_key *k);
void skm_forget(const struct skm_maps *m, const struct skm_key *k);
/* The session is over: forget the socket's sequence; the bytes the program cut as repeats. */
uint64_t skm_release(const struct skm_maps *m, const struct skm_key *k);
int skm_read(int fd, struct skm_counts *c);
#endif
