# The Python-facing accessor of the shared-memory region (used by the master: checks, stats, signals).
# The worker reads and writes the same region directly through the C pointers in shm.pxd.

# The server states and check results of ext/shm.h, exported to Python (pyhaproxy._core.srv_state,
# .check_status) for the master and the checks: declared here because a `cpdef enum` in a .pxd
# would belong to that .pxd's module, not to _core.
cdef extern from "shm.h" nogil:
    cpdef enum srv_state:
        SRV_DOWN
        SRV_UP
        SRV_NOLB
    cpdef enum check_status:
        CHK_UNKNOWN
        CHK_L4OK
        CHK_L4CON
        CHK_L4TOUT
        CHK_L7OK
        CHK_L7STS
        CHK_L7RSP
        CHK_L7TOUT
        CHK_L7OKC
        CHK_L6OK
        CHK_L6TOUT
        CHK_L6RSP
        CHK_CHECKED
        CHK_SOCKERR

_CTR_FIELDS = ("cur_sess", "max_sess", "tot_sess", "bytes_in", "bytes_out", "denied_req", "denied_resp",
               "err_req", "err_conn", "err_resp", "retries", "redispatches", "req_tot",
               "ssl_sess", "ssl_reused", "ssl_fail", "ssl_cur", "cli_abrt", "srv_abrt", "connect", "reuse",
               "intercepted", "denied_conn", "denied_sess", "failed_rewrites", "internal_errors",
               "used_conns", "idle_conns", "safe_conns", "last_sess_ms", "lbconn",
               "q_time", "c_time", "d_time", "t_time", "qtime_max", "ctime_max", "dtime_max", "ttime_max")
# taken as the workers' largest, not summed
_CTR_MAXIMA = ("max_sess", "last_sess_ms", "qtime_max", "ctime_max", "dtime_max", "ttime_max")
# a worker's sliding-window sums and sample counters, kept per worker under "time_windows" for
# the master to combine (stats/collect.py time_avg)
_CTR_WINDOW = ("req_tot", "tot_sess", "lbconn", "q_time", "c_time", "d_time", "t_time")


cdef class Shm:
    """One anonymous MAP_SHARED mapping made before fork; every process sees the same bytes."""

    cdef shm_hdr *hdr
    cdef uint64_t size
    cdef public list tables     # the stick tables (stktable.pxi StkTable), by index, for the workers

    def __cinit__(self, int nproxy, int nsrv, int nworkers):
        cdef void *p
        self.size = shm_size(nproxy, nsrv, nworkers)
        p = mmap(NULL, self.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        if p == MAP_FAILED:
            raise OSError("cannot map shared memory")
        self.hdr = <shm_hdr *>p
        memset(p, 0, self.size)
        self.hdr.magic = SHM_MAGIC
        self.hdr.nproxy = nproxy
        self.hdr.nsrv = nsrv
        self.hdr.nworkers = nworkers
        self.hdr.start_ms = _wall_ms()
        self.tables = []
        cdef int i
        for i in range(nsrv):
            shm_srv_at(self.hdr, i).state = SRV_UP
            shm_srv_at(self.hdr, i).weight = 1
            shm_srv_at(self.hdr, i).last_change_ms = self.hdr.start_ms

    def __dealloc__(self):
        if self.hdr != NULL:
            munmap(self.hdr, self.size)
            self.hdr = NULL

    @property
    def nproxy(self) -> int:
        return self.hdr.nproxy

    @property
    def nsrv(self) -> int:
        return self.hdr.nsrv

    @property
    def nworkers(self) -> int:
        return self.hdr.nworkers

    @property
    def start_ms(self) -> int:
        return self.hdr.start_ms

    @property
    def maps_gen(self) -> int:
        """The generation of the runtime map contents the master published last."""
        return self.hdr.maps_gen

    def bump_maps_gen(self) -> int:
        """Tell the workers new map contents are published (after they are): the new generation."""
        self.hdr.maps_gen += 1     # one writer (the master); volatile in shm.h, read by the loop
        return self.hdr.maps_gen

    cdef shm_srv *_srv(self, int i) except NULL:
        if i < 0 or i >= <int>self.hdr.nsrv:
            raise IndexError("server index out of range")
        return shm_srv_at(self.hdr, i)

    def srv_state(self, int i) -> int:
        return self._srv(i).state

    def set_srv_state(self, int i, int state, long long now_ms=0):
        cdef shm_srv *s = self._srv(i)
        if now_ms == 0:
            now_ms = _wall_ms()
        if s.state != state:
            if state == SRV_DOWN:
                s.down_trans += 1
            elif s.state == SRV_DOWN and s.last_change_ms:  # leaving DOWN (UP <-> NOLB is not)
                s.downtime_ms += now_ms - s.last_change_ms
            s.last_change_ms = now_ms
        s.state = state

    def kill_srv_sessions(self, int i, bint backup_left):
        """Have every worker cut server i's sessions, logged 'D' (it went down) or, backup_left,
        'U' (a backup server's, an active one came up)."""
        self._srv(i).kill_cause = TERM_UP if backup_left else TERM_DOWN
        self._srv(i).kill_gen += 1
        self.hdr.kill_gen += 1     # one writer (the master); read by the loop between two waits

    def srv_admin_down(self, int i) -> bool:
        return self._srv(i).admin_down != 0

    def set_srv_admin_down(self, int i, bint down):
        self._srv(i).admin_down = 1 if down else 0

    def srv_weight(self, int i) -> int:
        return self._srv(i).weight

    def set_srv_weight(self, int i, int w):
        self._srv(i).weight = w

    def set_srv_check(self, int i, int status, int duration_ms, int health, int code=0):
        cdef shm_srv *s = self._srv(i)
        s.check_code = code
        s.check_status = status
        s.check_duration_ms = duration_ms
        s.check_health = health
        if status in (2, 3, 5, 6, 7, 13):
            s.chk_fail += 1

    def set_srv_agent(self, int i, int status, int duration_ms, int health, int code, int drain=-1):
        cdef shm_srv *s = self._srv(i)
        if drain >= 0:
            s.agent_drain = drain
        s.agent_status = status
        s.agent_duration_ms = duration_ms
        s.agent_health = health
        s.agent_code = code

    def srv_info(self, int i) -> dict:
        cdef shm_srv *s = self._srv(i)
        return dict(state=s.state, admin_down=s.admin_down, weight=s.weight, check_status=s.check_status,
                    check_duration_ms=s.check_duration_ms, check_health=s.check_health,
                    check_code=s.check_code, agent_status=s.agent_status,
                    agent_duration_ms=s.agent_duration_ms, agent_health=s.agent_health,
                    agent_code=s.agent_code, agent_drain=s.agent_drain,
                    last_change_ms=s.last_change_ms, downtime_ms=s.downtime_ms, chk_fail=s.chk_fail,
                    down_trans=s.down_trans)

    def counters(self, int worker, int slot) -> dict:
        if worker < 0 or worker >= <int>self.hdr.nworkers or slot < 0 or slot >= <int>(self.hdr.nproxy + self.hdr.nsrv):
            raise IndexError("counter block out of range")
        cdef shm_ctr *c = shm_ctr_at(self.hdr, worker, slot)
        d = dict(cur_sess=c.cur_sess, max_sess=c.max_sess, tot_sess=c.tot_sess, bytes_in=c.bytes_in,
                 bytes_out=c.bytes_out, denied_req=c.denied_req, denied_resp=c.denied_resp, err_req=c.err_req,
                 err_conn=c.err_conn, err_resp=c.err_resp, retries=c.retries, redispatches=c.redispatches,
                 req_tot=c.req_tot, ssl_sess=c.ssl_sess, ssl_reused=c.ssl_reused, ssl_fail=c.ssl_fail,
                 ssl_cur=c.ssl_cur, cli_abrt=c.cli_abrt, srv_abrt=c.srv_abrt, connect=c.connect,
                 reuse=c.reuse, intercepted=c.intercepted, denied_conn=c.denied_conn,
                 denied_sess=c.denied_sess, failed_rewrites=c.failed_rewrites,
                 internal_errors=c.internal_errors, used_conns=c.used_conns, idle_conns=c.idle_conns,
                 safe_conns=c.safe_conns, last_sess_ms=c.last_sess_ms, lbconn=c.lbconn,
                 q_time=c.q_time, c_time=c.c_time, d_time=c.d_time, t_time=c.t_time,
                 qtime_max=c.qtime_max, ctime_max=c.ctime_max, dtime_max=c.dtime_max,
                 ttime_max=c.ttime_max)
        d["hrsp"] = [c.hrsp[k] for k in range(SHM_NHRSP)]
        return d

    def counters_sum(self, int slot) -> dict:
        total = None
        for w in range(self.hdr.nworkers):
            d = self.counters(w, slot)
            win = {k: d[k] for k in _CTR_WINDOW}
            if total is None:
                total = d
                total["time_windows"] = [win]
            else:
                total["time_windows"].append(win)
                for k in _CTR_FIELDS:
                    if k in _CTR_MAXIMA:
                        total[k] = max(total[k], d[k])
                    else:
                        total[k] += d[k]
                total["hrsp"] = [a + b for a, b in zip(total["hrsp"], d["hrsp"])]
        return total

    def srv_sessions(self) -> list:
        """Each server's sessions so far (tot_sess summed over the workers), in server order: the
        master samples them once a second for the servers' `rate` (stats/rates.py)."""
        cdef uint32_t i, w
        cdef uint64_t t
        out = []
        for i in range(self.hdr.nsrv):
            t = 0
            for w in range(self.hdr.nworkers):
                t += shm_ctr_at(self.hdr, w, self.hdr.nproxy + i).tot_sess
            out.append(t)
        return out

    def reset_worker(self, int worker):
        """Zero the current-session gauges of a worker slot before a respawned worker reuses it."""
        cdef int s
        for s in range(self.hdr.nproxy + self.hdr.nsrv):
            shm_ctr_at(self.hdr, worker, s).cur_sess = 0
            shm_ctr_at(self.hdr, worker, s).ssl_cur = 0
            shm_ctr_at(self.hdr, worker, s).used_conns = 0
            shm_ctr_at(self.hdr, worker, s).idle_conns = 0
            shm_ctr_at(self.hdr, worker, s).safe_conns = 0
