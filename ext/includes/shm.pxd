# Cython view of ext/shm.h (the single definition of the shared-memory layout).
from libc.stdint cimport uint32_t, uint64_t, int32_t, int64_t

cdef extern from "shm.h" nogil:
    enum:
        SHM_MAGIC
        SHM_NHRSP
        SHM_TIME_SAMPLES
    ctypedef struct shm_hdr:
        uint32_t magic
        uint32_t nproxy
        uint32_t nsrv
        uint32_t nworkers
        int64_t start_ms
        uint32_t generation
        uint32_t maps_gen
        uint32_t kill_gen
    ctypedef struct shm_srv:
        int32_t state
        int32_t admin_down
        int32_t weight
        int32_t check_status
        int32_t check_duration_ms
        int32_t check_health
        int32_t check_code
        int32_t agent_status
        int32_t agent_duration_ms
        int32_t agent_health
        int32_t agent_code
        int32_t agent_drain
        int64_t last_change_ms
        int64_t downtime_ms
        uint64_t chk_fail
        uint64_t down_trans
        uint32_t kill_gen
        int32_t kill_cause
    ctypedef struct shm_ctr:
        uint64_t cur_sess
        uint64_t max_sess
        uint64_t tot_sess
        uint64_t bytes_in
        uint64_t bytes_out
        uint64_t denied_req
        uint64_t denied_resp
        uint64_t err_req
        uint64_t err_conn
        uint64_t err_resp
        uint64_t retries
        uint64_t redispatches
        uint64_t req_tot
        uint64_t hrsp[6]
        uint64_t ssl_sess
        uint64_t ssl_reused
        uint64_t ssl_fail
        uint64_t ssl_cur
        uint64_t cli_abrt
        uint64_t srv_abrt
        uint64_t connect
        uint64_t reuse
        uint64_t intercepted
        uint64_t denied_conn
        uint64_t denied_sess
        uint64_t failed_rewrites
        uint64_t internal_errors
        uint64_t used_conns
        uint64_t idle_conns
        uint64_t safe_conns
        int64_t last_sess_ms
        uint64_t lbconn
        uint32_t q_time
        uint32_t c_time
        uint32_t d_time
        uint32_t t_time
        uint32_t qtime_max
        uint32_t ctime_max
        uint32_t dtime_max
        uint32_t ttime_max
    shm_srv *shm_srv_at(shm_hdr *h, uint32_t i)
    shm_ctr *shm_ctr_at(shm_hdr *h, uint32_t w, uint32_t s)
    uint64_t shm_size(uint32_t nproxy, uint32_t nsrv, uint32_t nworkers)
