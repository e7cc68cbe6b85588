/* The TCP fast path's kernel side (docs/tcp-fastpath.md): a BPF sk_skb stream-verdict program on
 * a SOCKHASH that moves a TCP session's bytes from one socket straight to the other's send path,
 * so that user space keeps only the connect, the half-closes and the close.
 *
 * Plain bpf(2) syscalls and raw bytecode: no libbpf, no compiler at run time; the headers are
 * Debian's linux-libc-dev.
 *
 * Two maps. `target` (keyed by the PEER's 4-tuple, as the peer's skbs see it) is what the
 * program redirects through; no program is attached to it, so inserting a socket there changes
 * nothing on that socket. `verdict` carries the program: a socket put in it has its incoming
 * bytes judged by the program. A pair enters `target` first, then `verdict`: by the time either
 * socket's bytes are redirected, its peer is already a valid target (no window in which a byte
 * finds no peer). A byte whose key is not found is left to the socket's own receive path. */

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/tcp.h>           /* (its tcp_info has the byte counters glibc's lacks) */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <linux/sockios.h>

#include "sockmap.h"

static long skm_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* instruction builders (the kernel's filter.h macros, which linux-libc-dev does not ship) */
#define I_RAW(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define I_MOV64_REG(d, s) I_RAW(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define I_MOV64_IMM(d, i) I_RAW(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define I_ADD64_IMM(d, i) I_RAW(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define I_RSH32_IMM(d, i) I_RAW(BPF_ALU | BPF_RSH | BPF_K, d, 0, 0, i)
#define I_LDX_W(d, s, o) I_RAW(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define I_STX_W(d, s, o) I_RAW(BPF_STX | BPF_MEM | BPF_W, d, s, o, 0)
#define I_JNE_IMM(d, i, o) I_RAW(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define I_JEQ_IMM(d, i, o) I_RAW(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define I_JLE_IMM(d, i, o) I_RAW(BPF_JMP | BPF_JLE | BPF_K, d, 0, o, i)
#define I_MOV32_REG(d, s) I_RAW(BPF_ALU | BPF_MOV | BPF_X, d, s, 0, 0)
#define I_SUB32_REG(d, s) I_RAW(BPF_ALU | BPF_SUB | BPF_X, d, s, 0, 0)
#define I_ADD64_REG(d, s) I_RAW(BPF_ALU64 | BPF_ADD | BPF_X, d, s, 0, 0)
#define I_NEG64(d) I_RAW(BPF_ALU64 | BPF_NEG, d, 0, 0, 0)
#define I_LDX_DW(d, s, o) I_RAW(BPF_LDX | BPF_MEM | BPF_DW, d, s, o, 0)
#define I_STX_DW(d, s, o) I_RAW(BPF_STX | BPF_MEM | BPF_DW, d, s, o, 0)
#define I_J32EQ_IMM(d, i, o) I_RAW(BPF_JMP32 | BPF_JEQ | BPF_K, d, 0, o, i)
#define I_J32LE_IMM(d, i, o) I_RAW(BPF_JMP32 | BPF_JLE | BPF_K, d, 0, o, i)
#define I_J32SGT_IMM(d, i, o) I_RAW(BPF_JMP32 | BPF_JSGT | BPF_K, d, 0, o, i)
#define I_JA(o) I_RAW(BPF_JMP | BPF_JA, 0, 0, o, 0)
#define I_CALL(f) I_RAW(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define I_EXIT() I_RAW(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

#define SKB(field) ((short)offsetof(struct __sk_buff, field))

/* A tiny assembler for the program below: forward jumps name a label, patched once it is placed. */
struct skm_asm {
    struct bpf_insn *p;
    int n;
    int at[8];              /* label -> instruction index */
    int fix[128][2];         /* (jump instruction, label) */
    int nfix;
};

static void skm_jump(struct skm_asm *a, struct bpf_insn j, int label)
{
    a->fix[a->nfix][0] = a->n;
    a->fix[a->nfix][1] = label;
    a->nfix++;
    a->p[a->n++] = j;
}

static void skm_lookup(struct skm_asm *a, int map)      /* r0 = map[key at fp-16] */
{
    a->p[a->n++] = I_RAW(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map);
    a->p[a->n++] = I_RAW(0, 0, 0, 0, 0);
    a->p[a->n++] = I_MOV64_REG(BPF_REG_2, BPF_REG_10);
    a->p[a->n++] = I_ADD64_IMM(BPF_REG_2, -16);
    a->p[a->n++] = I_CALL(BPF_FUNC_map_lookup_elem);
}

enum { L_RECORD, L_PARTIAL, L_TRIM, L_TRIMMED, L_HOLD, L_KEEP, L_COUNT };

/* The verdict program. The key is the skb's own 4-tuple (struct skm_key): its addresses as the
 * kernel stores them (network order), the remote port normalised to its network-order 16 bits
 * (on little-endian kernels __sk_buff.remote_port holds them shifted left by 16), the local
 * port in host order. The target socket was stored under exactly that key by skm_pair().
 *
 * First, repeats: the kernel hands the program whole skbs off the receive queue
 * (tcp_read_skb()), and TCP queues a retransmitted segment whole when only its tail is new
 * (tcp_data_queue(), "partial packet"), which tcp_recvmsg() would skip from the copied sequence
 * but this path does not: with loss, bytes came twice (docs/tcp-fastpath.md, "Repeated
 * bytes"). The skb's own sequence numbers are in its control block (TCP_SKB_CB: seq, end_seq,
 * which __sk_buff.cb[0..1] read in an sk_skb program); `seq` keeps, per socket, the end of what
 * was passed on, and the program cuts what an skb repeats from its head (bpf_skb_adjust_room,
 * at most 4095 bytes a call) or drops an skb that is all repeat. The socket's copied sequence
 * then moves by what is left (tcp_eat_skb() counts skb->len).
 *
 * Then: a socket whose key is in `hold` keeps its bytes (the worker takes the session back);
 * else the bytes are counted in `count` (what the target's queue has had) and redirected. */
static int skm_program(struct bpf_insn *p, const struct skm_maps *m)
{
    struct skm_asm as = {.p = p};
    struct skm_asm *a = &as;
    int k;
    p[a->n++] = I_MOV64_REG(BPF_REG_6, BPF_REG_1);              /* r6 = skb */
    /* A bare FIN comes as an empty skb: redirected, the target's worker would try to send it
     * and report EPIPE on the target once its own FIN has gone (user space passes the FIN
     * itself, once the bytes before it are through): drop it, nothing is lost. */
    p[a->n++] = I_LDX_W(BPF_REG_2, BPF_REG_6, SKB(len));
    p[a->n++] = I_JNE_IMM(BPF_REG_2, 0, 2);
    p[a->n++] = I_MOV64_IMM(BPF_REG_0, SK_DROP);
    p[a->n++] = I_EXIT();
    p[a->n++] = I_LDX_W(BPF_REG_2, BPF_REG_6, SKB(remote_ip4));
    p[a->n++] = I_STX_W(BPF_REG_10, BPF_REG_2, -16);
    p[a->n++] = I_LDX_W(BPF_REG_2, BPF_REG_6, SKB(local_ip4));
    p[a->n++] = I_STX_W(BPF_REG_10, BPF_REG_2, -12);
    p[a->n++] = I_LDX_W(BPF_REG_2, BPF_REG_6, SKB(remote_port));
    p[a->n++] = I_JLE_IMM(BPF_REG_2, 0xffff, 1);                /* already 16 bits: keep */
    p[a->n++] = I_RSH32_IMM(BPF_REG_2, 16);
    p[a->n++] = I_STX_W(BPF_REG_10, BPF_REG_2, -8);
    p[a->n++] = I_LDX_W(BPF_REG_2, BPF_REG_6, SKB(local_port));
    p[a->n++] = I_STX_W(BPF_REG_10, BPF_REG_2, -4);

    /* repeats: r7 = the socket's seq entry, r8 = skb seq, r9 = skb end_seq */
    skm_lookup(a, m->seq);
    skm_jump(a, I_JEQ_IMM(BPF_REG_0, 0, 0), L_HOLD);            /* not ours (yet) */
    p[a->n++] = I_MOV64_REG(BPF_REG_7, BPF_REG_0);
    p[a->n++] = I_LDX_W(BPF_REG_8, BPF_REG_6, SKB(cb[0]));
    p[a->n++] = I_LDX_W(BPF_REG_9, BPF_REG_6, SKB(cb[1]));
    p[a->n++] = I_LDX_W(BPF_REG_1, BPF_REG_7, offsetof(struct skm_seq, seen));
    skm_jump(a, I_JEQ_IMM(BPF_REG_1, 0, 0), L_RECORD);          /* its first skb */
    p[a->n++] = I_LDX_W(BPF_REG_2, BPF_REG_7, offsetof(struct skm_seq, next));
    p[a->n++] = I_MOV32_REG(BPF_REG_3, BPF_REG_9);
    p[a->n++] = I_SUB32_REG(BPF_REG_3, BPF_REG_2);              /* end_seq - next */
    skm_jump(a, I_J32SGT_IMM(BPF_REG_3, 0, 0), L_PARTIAL);
    p[a->n++] = I_LDX_W(BPF_REG_8, BPF_REG_6, SKB(len));        /* all of it came before */
    skm_jump(a, I_JA(0), L_TRIM);
    a->at[L_PARTIAL] = a->n;
    p[a->n++] = I_MOV32_REG(BPF_REG_1, BPF_REG_2);
    p[a->n++] = I_SUB32_REG(BPF_REG_1, BPF_REG_8);              /* next - seq */
    p[a->n++] = I_MOV32_REG(BPF_REG_8, BPF_REG_1);
    p[a->n++] = I_STX_W(BPF_REG_7, BPF_REG_9, offsetof(struct skm_seq, next));
    skm_jump(a, I_J32SGT_IMM(BPF_REG_8, 0, 0), L_TRIM);
    skm_jump(a, I_JA(0), L_HOLD);                               /* nothing repeated */
    a->at[L_RECORD] = a->n;
    p[a->n++] = I_STX_W(BPF_REG_7, BPF_REG_9, offsetof(struct skm_seq, next));
    p[a->n++] = I_MOV64_IMM(BPF_REG_1, 1);
    p[a->n++] = I_STX_W(BPF_REG_7, BPF_REG_1, offsetof(struct skm_seq, seen));
    skm_jump(a, I_JA(0), L_HOLD);
    a->at[L_TRIM] = a->n;                                       /* cut r8 bytes off the head */
    p[a->n++] = I_LDX_DW(BPF_REG_1, BPF_REG_7, offsetof(struct skm_seq, repeated));
    p[a->n++] = I_ADD64_REG(BPF_REG_1, BPF_REG_8);
    p[a->n++] = I_STX_DW(BPF_REG_7, BPF_REG_1, offsetof(struct skm_seq, repeated));
    for (k = 0; k < SKM_TRIM_CALLS; k++) {
        skm_jump(a, I_J32EQ_IMM(BPF_REG_8, 0, 0), L_TRIMMED);
        p[a->n++] = I_MOV32_REG(BPF_REG_2, BPF_REG_8);
        p[a->n++] = I_J32LE_IMM(BPF_REG_2, 4095, 1);
        p[a->n++] = I_MOV64_IMM(BPF_REG_2, 4095);
        p[a->n++] = I_SUB32_REG(BPF_REG_8, BPF_REG_2);
        p[a->n++] = I_NEG64(BPF_REG_2);
        p[a->n++] = I_MOV64_REG(BPF_REG_1, BPF_REG_6);
        p[a->n++] = I_MOV64_IMM(BPF_REG_3, 0);                  /* BPF_ADJ_ROOM_NET, */
        p[a->n++] = I_MOV64_IMM(BPF_REG_4, 0);                  /* no flags */
        p[a->n++] = I_CALL(BPF_FUNC_skb_adjust_room);
        skm_jump(a, I_JNE_IMM(BPF_REG_0, 0, 0), L_TRIMMED);     /* (refused: pass what is left) */
    }
    a->at[L_TRIMMED] = a->n;
    p[a->n++] = I_LDX_W(BPF_REG_2, BPF_REG_6, SKB(len));
    p[a->n++] = I_JNE_IMM(BPF_REG_2, 0, 2);
    p[a->n++] = I_MOV64_IMM(BPF_REG_0, SK_DROP);                /* all repeat: nothing to pass */
    p[a->n++] = I_EXIT();

    a->at[L_HOLD] = a->n;
    skm_lookup(a, m->hold);
    skm_jump(a, I_JNE_IMM(BPF_REG_0, 0, 0), L_KEEP);
    skm_lookup(a, m->count);
    skm_jump(a, I_JEQ_IMM(BPF_REG_0, 0, 0), L_KEEP);            /* no entry -> keep */
    p[a->n++] = I_LDX_W(BPF_REG_1, BPF_REG_6, SKB(len));
    p[a->n++] = I_RAW(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD);
    p[a->n++] = I_MOV64_REG(BPF_REG_1, BPF_REG_6);              /* bpf_sk_redirect_hash(skb, */
    p[a->n++] = I_RAW(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_2, BPF_PSEUDO_MAP_FD, 0, m->target); /* map, */
    p[a->n++] = I_RAW(0, 0, 0, 0, 0);
    p[a->n++] = I_MOV64_REG(BPF_REG_3, BPF_REG_10);
    p[a->n++] = I_ADD64_IMM(BPF_REG_3, -16);                    /* &key, */
    p[a->n++] = I_MOV64_IMM(BPF_REG_4, 0);                      /* 0: the target's send path) */
    p[a->n++] = I_CALL(BPF_FUNC_sk_redirect_hash);
    /* keep: SK_PASS either way (redirected when the key was found, else kept by this socket) */
    a->at[L_KEEP] = a->n;
    p[a->n++] = I_MOV64_IMM(BPF_REG_0, SK_PASS);
    p[a->n++] = I_EXIT();
    for (k = 0; k < a->nfix; k++)
        p[a->fix[k][0]].off = (short)(a->at[a->fix[k][1]] - a->fix[k][0] - 1);
    return a->n;
}

static int skm_map(unsigned int type, unsigned int value_size, unsigned int entries)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.map_type = type;
    a.key_size = sizeof(struct skm_key);
    a.value_size = value_size;
    a.max_entries = entries;
    if (type == BPF_MAP_TYPE_HASH)
        a.map_flags = BPF_F_NO_PREALLOC;    /* (sized for maxconn: allocate per session instead) */
    return (int)skm_bpf(BPF_MAP_CREATE, &a);
}

static int fail(char *err, int errlen, const char *what)
{
    int e = errno;
    snprintf(err, errlen, "%s: %s", what, strerror(e));
    return -(e ? e : EINVAL);
}

static int skm_key_of(int fd, struct skm_key *k)
{
    struct sockaddr_in l, r;
    socklen_t ll = sizeof(l), rl = sizeof(r);
    if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0 || getpeername(fd, (struct sockaddr *)&r, &rl) < 0)
        return -1;
    if (l.sin_family != AF_INET || r.sin_family != AF_INET) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    k->remote_ip4 = r.sin_addr.s_addr;
    k->local_ip4 = l.sin_addr.s_addr;
    k->remote_port = r.sin_port;            /* network order, as the program normalises it */
    k->local_port = ntohs(l.sin_port);
    return 0;
}

static int skm_update_value(int map, const struct skm_key *k, const void *v)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.map_fd = map;
    a.key = (uint64_t)(uintptr_t)k;
    a.value = (uint64_t)(uintptr_t)v;
    a.flags = BPF_ANY;
    return (int)skm_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static int skm_update(int map, struct skm_key *k, int fd)
{
    union bpf_attr a;
    uint32_t v = (uint32_t)fd;
    memset(&a, 0, sizeof(a));
    a.map_fd = map;
    a.key = (uint64_t)(uintptr_t)k;
    a.value = (uint64_t)(uintptr_t)&v;
    a.flags = BPF_ANY;
    return (int)skm_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static void skm_delete(int map, const struct skm_key *k)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.map_fd = map;
    a.key = (uint64_t)(uintptr_t)k;
    skm_bpf(BPF_MAP_DELETE_ELEM, &a);
}

int skm_pair(const struct skm_maps *m, int a, int b, struct skm_key *ka, struct skm_key *kb)
{
    uint64_t zero = 0;
    struct skm_seq fresh;       /* (a tuple used before: its old sequence forgotten) */
    int one = 1;
    memset(&fresh, 0, sizeof(fresh));
    if (skm_key_of(a, ka) < 0 || skm_key_of(b, kb) < 0)
        return -1;
    /* each socket under its peer's tuple: a's bytes find b, b's find a; then their counters */
    if (skm_update(m->target, ka, b) < 0)
        return -1;
    if (skm_update(m->target, kb, a) < 0 || skm_update_value(m->count, ka, &zero) < 0
            || skm_update_value(m->count, kb, &zero) < 0
            || skm_update_value(m->seq, ka, &fresh) < 0 || skm_update_value(m->seq, kb, &fresh) < 0)
        goto undo;
    /* the program starts judging their bytes (keyed by their own tuples here: any unique key) */
    if (skm_update(m->verdict, ka, a) < 0)
        goto undo;
    if (skm_update(m->verdict, kb, b) < 0) {
        /* (a's bytes may already have moved: a stays, the caller closes the session) */
        return -2;
    }
    /* Bytes that arrived before a socket entered the map wait in its receive queue, and the
     * program only runs when new bytes arrive. Setting SO_RCVLOWAT makes TCP run the socket's
     * data-ready callback now (tcp_set_rcvlowat -> tcp_data_ready): the queue goes through the
     * program, in order, ahead of anything later. */
    setsockopt(a, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    setsockopt(b, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    return 0;
undo:
    skm_delete(m->target, ka);
    skm_delete(m->target, kb);
    skm_delete(m->count, ka);
    skm_delete(m->count, kb);
    skm_delete(m->seq, ka);
    skm_delete(m->seq, kb);
    return -1;
}

int skm_redirected(const struct skm_maps *m, const struct skm_key *k, uint64_t *out)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.map_fd = m->count;
    a.key = (uint64_t)(uintptr_t)k;
    a.value = (uint64_t)(uintptr_t)out;
    return (int)skm_bpf(BPF_MAP_LOOKUP_ELEM, &a);
}

int skm_hold(const struct skm_maps *m, const struct skm_key *k)
{
    uint32_t one = 1;
    return skm_update_value(m->hold, k, &one);
}

void skm_forget(const struct skm_maps *m, const struct skm_key *k)
{
    skm_delete(m->count, k);
    skm_delete(m->hold, k);
}

uint64_t skm_release(const struct skm_maps *m, const struct skm_key *k)
{
    union bpf_attr a;
    struct skm_seq v;
    memset(&a, 0, sizeof(a));
    memset(&v, 0, sizeof(v));
    a.map_fd = m->seq;
    a.key = (uint64_t)(uintptr_t)k;
    a.value = (uint64_t)(uintptr_t)&v;
    skm_bpf(BPF_MAP_LOOKUP_ELEM, &a);
    skm_delete(m->seq, k);
    return v.repeated;
}

int skm_read(int fd, struct skm_counts *c)
{
    struct tcp_info ti;
    socklen_t tl = sizeof(ti);
    int outq = 0, inq = 0;
    memset(&ti, 0, sizeof(ti));
    /* acked before the send queue: an ACK between the two reads can only make the sum smaller
     * than what was written, never larger (the half-close must not run ahead of the data) */
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0)
        return -1;
    if (ioctl(fd, SIOCOUTQ, &outq) < 0)
        outq = 0;
    if (ioctl(fd, SIOCINQ, &inq) < 0)
        inq = 0;
    c->written = ti.tcpi_bytes_acked + (uint64_t)(outq > 0 ? outq : 0);
    c->received = ti.tcpi_bytes_received;
    c->inq = (uint64_t)(inq > 0 ? inq : 0);
    c->last_recv_ms = ti.tcpi_last_data_recv;
    c->last_sent_ms = ti.tcpi_last_data_sent;
    c->state = ti.tcpi_state;
    return 0;
}

/* ---- loading, with a self-test on loopback */

static int skm_loopback_pair(int lfd, struct sockaddr_in *at, int *cli, int *acc)
{
    *cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*cli < 0)
        return -1;
    if (connect(*cli, (struct sockaddr *)at, sizeof(*at)) < 0)
        return -1;
    *acc = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    return *acc < 0 ? -1 : 0;
}

/* Two connections c1-p1 and p2-s2; p1 and p2 paired: what c1 writes must come out at s2 and
 * what s2 writes at c1 (checks the program, the attach and the key's byte orders at once). */
static int skm_selftest(const struct skm_maps *m, char *err, int errlen)
{
    int lfd = -1, c1 = -1, p1 = -1, p2 = -1, s2 = -1, r = -1, one = 1;
    struct skm_key k1, k2;
    uint64_t moved = 0;
    struct sockaddr_in at;
    socklen_t al = sizeof(at);
    struct pollfd pf;
    char buf[8];
    memset(&at, 0, sizeof(at));
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0
            || bind(lfd, (struct sockaddr *)&at, sizeof(at)) < 0 || listen(lfd, 4) < 0
            || getsockname(lfd, (struct sockaddr *)&at, &al) < 0
            || skm_loopback_pair(lfd, &at, &c1, &p1) < 0 || skm_loopback_pair(lfd, &at, &p2, &s2) < 0) {
        r = fail(err, errlen, "self-test sockets");
        goto out;
    }
    if (send(c1, "x", 1, MSG_NOSIGNAL) != 1) {      /* queued before the pair: the kick's case */
        r = fail(err, errlen, "self-test send");
        goto out;
    }
    usleep(1000);
    if (skm_pair(m, p1, p2, &k1, &k2) < 0) {
        r = fail(err, errlen, "adding sockets to the SOCKHASH");
        goto out;
    }
    if (send(s2, "y", 1, MSG_NOSIGNAL) != 1) {
        r = fail(err, errlen, "self-test send");
        goto out;
    }
    pf.fd = s2;
    pf.events = POLLIN;
    if (poll(&pf, 1, 1000) != 1 || recv(s2, buf, sizeof(buf), MSG_DONTWAIT) != 1 || buf[0] != 'x') {
        errno = EPROTO;
        r = fail(err, errlen, "self-test: bytes not redirected");
        goto out;
    }
    pf.fd = c1;
    if (poll(&pf, 1, 1000) != 1 || recv(c1, buf, sizeof(buf), MSG_DONTWAIT) != 1 || buf[0] != 'y') {
        errno = EPROTO;
        r = fail(err, errlen, "self-test: bytes not redirected back");
        goto out;
    }
    if (skm_redirected(m, &k1, &moved) < 0 || moved != 1) {
        errno = EPROTO;
        r = fail(err, errlen, "self-test: redirected bytes not counted");
        goto out;
    }
    r = 0;
out:
    if (p1 >= 0) {
        skm_forget(m, &k1);
        skm_forget(m, &k2);
        skm_release(m, &k1);
        skm_release(m, &k2);
    }
    if (c1 >= 0) close(c1);
    if (p1 >= 0) close(p1);
    if (p2 >= 0) close(p2);
    if (s2 >= 0) close(s2);
    if (lfd >= 0) close(lfd);
    return r;
}

int skm_open(unsigned int entries, struct skm_maps *m, char *err, int errlen)
{
    struct bpf_insn insns[SKM_PROG_MAX];
    char log[4096];
    union bpf_attr a;
    int n, r;
    m->verdict = m->target = m->hold = m->count = m->seq = m->prog = -1;
    err[0] = 0;
    m->verdict = skm_map(BPF_MAP_TYPE_SOCKHASH, sizeof(uint32_t), entries);
    if (m->verdict < 0)
        return fail(err, errlen, "creating the SOCKHASH");
    m->target = skm_map(BPF_MAP_TYPE_SOCKHASH, sizeof(uint32_t), entries);
    m->hold = skm_map(BPF_MAP_TYPE_HASH, sizeof(uint32_t), entries);
    m->count = skm_map(BPF_MAP_TYPE_HASH, sizeof(uint64_t), entries);
    m->seq = skm_map(BPF_MAP_TYPE_HASH, sizeof(struct skm_seq), entries);
    if (m->target < 0 || m->hold < 0 || m->count < 0 || m->seq < 0) {
        r = fail(err, errlen, "creating the maps");
        goto bad;
    }
    n = skm_program(insns, m);
    memset(&a, 0, sizeof(a));
    log[0] = 0;
    a.prog_type = BPF_PROG_TYPE_SK_SKB;
    a.insns = (uint64_t)(uintptr_t)insns;
    a.insn_cnt = (uint32_t)n;
    a.license = (uint64_t)(uintptr_t)"GPL";
    m->prog = (int)skm_bpf(BPF_PROG_LOAD, &a);
    if (m->prog < 0 && getenv("PYHAPROXY_SOCKMAP_LOG")) {   /* the verifier's reasons, to debug */
        a.log_buf = (uint64_t)(uintptr_t)log;
        a.log_size = sizeof(log);
        a.log_level = 1;
        if (skm_bpf(BPF_PROG_LOAD, &a) < 0)
            fprintf(stderr, "%s\n", log + (strlen(log) > 3000 ? strlen(log) - 3000 : 0));
        errno = EINVAL;
    }
    if (m->prog < 0) {
        r = fail(err, errlen, "loading the sk_skb program");
        goto bad;
    }
    memset(&a, 0, sizeof(a));
    a.target_fd = m->verdict;
    a.attach_bpf_fd = m->prog;
    a.attach_type = BPF_SK_SKB_STREAM_VERDICT;
    if (skm_bpf(BPF_PROG_ATTACH, &a) < 0) {
        r = fail(err, errlen, "attaching the stream verdict");
        goto bad;
    }
    r = skm_selftest(m, err, errlen);
    if (r < 0)
        goto bad;
    return 0;
bad:
    skm_close(m);
    return r;
}

void skm_close(struct skm_maps *m)
{
    int *fds[6] = {&m->prog, &m->verdict, &m->target, &m->hold, &m->count, &m->seq};
    for (int i = 0; i < 6; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}
