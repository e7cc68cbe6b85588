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

/* Create both maps, load the program, attach it and run the loopback self-test. 0, or -errno
 * with a message in err. */
int skm_open(unsigned int entries, int *verdict_out, int *target_out, int *prog_out, char *err, int errlen);
/* Hand the connected IPv4 TCP sockets a and b to the kernel: each one's bytes go to the other.
 * 0; -1 nothing done (errno); -2 a is in and b could not be added. */
int skm_pair(int verdict, int target, int a, int b);
int skm_read(int fd, struct skm_counts *c);
#endif
