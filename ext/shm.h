/* Shared-memory layout between the master and the workers: the single definition.
 *
 * One anonymous MAP_SHARED region made by the master before fork:
 *   [shm_hdr][shm_srv x nsrv][shm_ctr x nworkers x (nproxy + nsrv)]
 * Server state is written by the master (checks, stats socket) and read by every worker.
 * Each worker writes only its own counter blocks, so the hot path takes no lock.
 */
#ifndef PYHAPROXY_SHM_H
#define PYHAPROXY_SHM_H

#include <stdint.h>

#define SHM_MAGIC 0x50594858u

/* shm_srv.state (exported to Python as pyhaproxy._core.srv_state) */
/* SRV_NOLB: UP by its checks but out of load balancing (`http-check disable-on-404` got a 404):
 * no new traffic, persistent (cookie) requests still go to it, as 2.6's "NOLB"/stopping state. */
enum srv_state { SRV_DOWN = 0, SRV_UP = 1, SRV_NOLB = 2 };

/* shm_srv.check_status: HAProxy's check result codes, a subset (pyhaproxy._core.check_status) */
enum check_status {
    CHK_UNKNOWN = 0, CHK_L4OK = 1, CHK_L4CON = 2, CHK_L4TOUT = 3,
    CHK_L7OK = 4, CHK_L7STS = 5, CHK_L7RSP = 6, CHK_L7TOUT = 7,
    CHK_L7OKC = 8, /* "conditionally passed": a 404 under disable-on-404 */
    CHK_L6OK = 9, CHK_L6TOUT = 10, CHK_L6RSP = 11,  /* check-ssl: the TLS layer passed, timed out, failed */
    CHK_CHECKED = 12, /* an agent's reply without a health word: "No status change" */
    CHK_SOCKERR = 13, /* the connection broke before any data (a reset): "Socket error" */
};

typedef struct shm_hdr {
    uint32_t magic;
    uint32_t nproxy;
    uint32_t nsrv;
    uint32_t nworkers;
    int64_t start_ms;      /* wall clock at master start */
    volatile uint32_t generation;
    volatile uint32_t maps_gen; /* runtime map updates published by the master (converters.pxi) */
    volatile uint32_t kill_gen; /* bumped with a server's kill_gen: its sessions are to be cut */
} shm_hdr;

typedef struct shm_srv {
    volatile int32_t state;       /* SRV_UP / SRV_DOWN / SRV_NOLB as seen by health checks */
    volatile int32_t admin_down;  /* disabled by the operator (stats socket / "disabled") */
    volatile int32_t weight;      /* current effective weight */
    volatile int32_t check_status;
    volatile int32_t check_duration_ms;
    volatile int32_t check_health; /* rise/fall counter */
    volatile int32_t check_code;   /* the reply's code (HTTP status, MySQL error...), as 2.6's check.code */
    volatile int32_t agent_status; /* `agent-check`: its last result (a check_status), duration, */
    volatile int32_t agent_duration_ms;
    volatile int32_t agent_health; /* health (0 or 1: 2.6's agent rise and fall are 1) */
    volatile int32_t agent_code;   /* and code */
    volatile int32_t agent_drain;  /* an agent's `drain`: the weight it took away (0: none) */
    volatile int64_t last_change_ms;
    volatile int64_t downtime_ms;
    volatile uint64_t chk_fail;
    volatile uint64_t down_trans;
    /* `on-marked-down shutdown-sessions`, `on-marked-up shutdown-backup-sessions`: the master
     * bumps kill_gen (and the header's) to have each worker cut the server's sessions, logged
     * with kill_cause (a TERM_* of types.pxi: 'D' or 'U') */
    volatile uint32_t kill_gen;
    volatile int32_t kill_cause;
} shm_srv;

/* HTTP response classes: hrsp[0] other, hrsp[1..5] 1xx..5xx (indexed by status / 100) */
#define SHM_NHRSP 6

typedef struct shm_ctr {
    volatile uint64_t cur_sess;
    volatile uint64_t max_sess;
    volatile uint64_t tot_sess;
    volatile uint64_t bytes_in;
    volatile uint64_t bytes_out;
    volatile uint64_t denied_req;
    volatile uint64_t denied_resp;
    volatile uint64_t err_req;
    volatile uint64_t err_conn;
    volatile uint64_t err_resp;
    volatile uint64_t retries;
    volatile uint64_t redispatches;
    volatile uint64_t req_tot;
    volatile uint64_t hrsp[SHM_NHRSP];
    /* TLS (tls.pxi, tlssrv.pxi): handshakes done (a proxy's clients, a server's connections),
     * resumed among them, failed; a proxy's TLS client connections open now */
    volatile uint64_t ssl_sess;
    volatile uint64_t ssl_reused;
    volatile uint64_t ssl_fail;
    volatile uint64_t ssl_cur;
    /* a backend's and a server's: HTTP transfers aborted by the client / the server (2.6 counts
     * them in its HTTP analysers only), connection attempts, reused idle connections */
    volatile uint64_t cli_abrt;
    volatile uint64_t srv_abrt;
    volatile uint64_t connect;
    volatile uint64_t reuse;
    /* a frontend's: requests haproxy answered itself in the frontend (redirect, return, auth,
     * monitor-uri, stats page, use-service), connections refused by `tcp-request connection`
     * rules, sessions refused by `tcp-request session` rules. Any proxy's and server's: header
     * rewrites that did not fit, internal errors (the 500/502 such a failed rewrite gives) */
    volatile uint64_t intercepted;
    volatile uint64_t denied_conn;
    volatile uint64_t denied_sess;
    volatile uint64_t failed_rewrites;
    volatile uint64_t internal_errors;
    /* a server's gauges (each worker its own, the master sums them): its connections a session
     * holds now, and those parked idle for HTTP/2 streams (srvpool.pxi) that carried one
     * request only (idle) or more (safe), as 2.6 splits its idle connections */
    volatile uint64_t used_conns;
    volatile uint64_t idle_conns;
    volatile uint64_t safe_conns;
    /* a server's and a backend's: wall-clock ms of the last session given to one of its servers
     * (0: none yet); the master takes the workers' latest, for `lastsess` */
    volatile int64_t last_sess_ms;
    /* a backend's: sessions given to one of its servers (2.6's cum_lbconn, what a TCP backend's
     * time averages are divided by; a server's is tot_sess) */
    volatile uint64_t lbconn;
    /* a server's and a backend's time averages (`qtime`..`ttime_max`): 2.6's sliding-window sums
     * (swrate_add_dynamic over SHM_TIME_SAMPLES) of the queue, connect, response (data) and
     * total times in ms of the streams that reached a server, and their maxima (session.pxi) */
    volatile uint32_t q_time;
    volatile uint32_t c_time;
    volatile uint32_t d_time;
    volatile uint32_t t_time;
    volatile uint32_t qtime_max;
    volatile uint32_t ctime_max;
    volatile uint32_t dtime_max;
    volatile uint32_t ttime_max;
} shm_ctr;

/* 2.6's TIME_STATS_SAMPLES: the window of the time averages */
#define SHM_TIME_SAMPLES 512

static inline shm_srv *shm_srv_at(shm_hdr *h, uint32_t i) {
    return ((shm_srv *)(h + 1)) + i;
}

/* Counter block of worker w for slot s: slots 0..nproxy-1 are proxies, then servers. */
static inline shm_ctr *shm_ctr_at(shm_hdr *h, uint32_t w, uint32_t s) {
    shm_ctr *base = (shm_ctr *)(shm_srv_at(h, h->nsrv));
    return base + (uint64_t)w * (h->nproxy + h->nsrv) + s;
}

static inline uint64_t shm_size(uint32_t nproxy, uint32_t nsrv, uint32_t nworkers) {
    return sizeof(shm_hdr) + (uint64_t)nsrv * sizeof(shm_srv)
        + (uint64_t)nworkers * (nproxy + nsrv) * sizeof(shm_ctr);
}

#endif
