# C structs of the worker: proxies, servers, listeners, sessions, channels. No Python objects here.
#
# The `cpdef enum`s are the constants Python needs too (pyhaproxy._core.px_mode, .balance_algo,
# .proxy_option, .cookie_mode): the member name is derived from the configuration word
# (`static-rr` -> BAL_STATIC_RR, `http-server-close` -> PO_HTTP_SERVER_CLOSE), so there is no
# Python copy to keep in step.

cpdef enum px_mode:
    MODE_TCP = 0
    MODE_HTTP = 1
    MODE_HEALTH = 2

cpdef enum balance_algo:
    BAL_ROUNDROBIN = 0
    BAL_SOURCE = 1
    BAL_STATIC_RR = 2
    BAL_LEASTCONN = 3
    BAL_FIRST = 4
    BAL_URI = 5
    BAL_HDR = 6
    BAL_RANDOM = 7                   # `balance random[(draws)]` (on the consistent ring)
    BAL_URL_PARAM = 8                # `balance url_param NAME`
    BAL_HASH = 9                     # `balance hash EXPR` (HTTP mode)

cpdef enum http_reuse:
    # `http-reuse`: which idle server connections a session may take (srvpool.pxi)
    REUSE_NEVER = 0
    REUSE_SAFE = 1                   # 2.6's default
    REUSE_AGGRESSIVE = 2
    REUSE_ALWAYS = 3

cpdef enum proxy_option:
    PO_HTTPCLOSE = 1 << 0
    PO_FORWARDFOR = 1 << 1
    PO_PERSIST = 1 << 2
    PO_REDISPATCH = 1 << 3
    PO_DONTLOGNULL = 1 << 4
    PO_HTTPLOG = 1 << 5
    PO_TCPLOG = 1 << 6
    PO_LOGASAP = 1 << 7
    PO_ALLBACKUPS = 1 << 8
    PO_HTTPCHK = 1 << 9
    PO_ABORTONCLOSE = 1 << 10
    PO_CHECKCACHE = 1 << 11
    PO_CLITCPKA = 1 << 12
    PO_SRVTCPKA = 1 << 13
    PO_NOLINGER = 1 << 14
    PO_FORCECLOSE = 1 << 15
    PO_HTTP_SERVER_CLOSE = 1 << 16   # close the server side after each response
    PO_LOG_SEPARATE_ERRORS = 1 << 17 # a session ending in error is logged at level err
    PO_TCP_FASTPATH = 1 << 18        # pyhaproxy's `option tcp-fastpath`: TCP relayed by the kernel (sockmap.pxi)
    PO_PREFER_LAST_SERVER = 1 << 19  # a kept-alive client's requests stay on its server (http.pxi)
    PO_ORIGINALTO = 1 << 20          # the request's destination address in X-Original-To (http.pxi)
    PO_DISABLE_H2_UPGRADE = 1 << 21  # no HTTP/2 by its preface on an HTTP/1 connection (http.pxi)
    PO_DONTLOG_NORMAL = 1 << 22      # only the sessions that end in error are logged (logline.pxi)
    PO_TCP_SMART_CONNECT = 1 << 23   # no quick ACK on a server socket when the request is waiting (connect.pxi)
    PO_HTTP_IGNORE_PROBES = 1 << 24  # a connection that sends nothing is neither answered nor logged (http.pxi)
    PO_HTTP_BUFFER_REQUEST = 1 << 25 # the request's body is waited for before its rules (http.pxi http_body_wanted)

cpdef enum cookie_mode:
    CK_NONE = 0
    CK_PASSIVE = 1
    CK_REWRITE = 2
    CK_INSERT = 3
    CK_PREFIX = 4

cdef enum:
    # the backend's force-persist / ignore-persist rule that matched a request (sess_t.prst)
    PRST_FORCE = 1
    PRST_IGNORE = 2

cdef enum:
    # session states
    ST_FREE = 0
    ST_REQ = 1          # HTTP: waiting for the request headers
    ST_CONNECTING = 2   # connect() in progress
    ST_RELAY = 3        # connected, data moving both ways
    ST_ERRPAGE = 4      # sending an error page / monitor answer, then close
    ST_LINGER = 8       # answer sent and write side shut: read what the client still sends, then close
                        # (closing with unread input would turn the answer into a reset)
    ST_QUEUED = 9       # waiting in its backend's queue for a server slot (server maxconn)
    ST_TURNAROUND = 10  # a connect failed: waiting min(`timeout connect`, 1 s) before the retry
                        # (not counted as a session of its server meanwhile, as in HAProxy 2.x)
    ST_PROXY = 11       # `accept-proxy`: waiting for the PROXY protocol header (proxyproto.pxi)
    ST_H2 = 13          # an HTTP/2 client connection: its streams are sessions of their own (h2.pxi)
                        # (elsewhere: ST_TARPIT = 7 in rules.pxi, ST_TLS_HS = 12 in tlssess.pxi)

    # epoll tags (low 2 bits of data.u64)
    TAG_LISTENER = 0
    TAG_CLIENT = 1
    TAG_SERVER = 2
    TAG_SIGNAL = 3      # index 0: the signalfd; k > 0: the server connection on fd k - 1 (srvpool.pxi)

    # listener states
    LI_READY = 0
    LI_FULL = 1
    LI_PAUSED = 2
    LI_CLOSED = 3
    LI_LIMITED = 4   # `maxconnrate` reached: not polled until the rate allows it again

    # termination cause (first letter of HAProxy's termination state)
    TERM_NONE = 0      # '-'
    TERM_CLI_ABORT = 1 # 'C'
    TERM_SRV_ABORT = 2 # 'S'
    TERM_PROXY = 3     # 'P'
    TERM_RESOURCE = 4  # 'R'
    TERM_INTERNAL = 5  # 'I'
    TERM_CLI_TO = 6    # 'c'
    TERM_SRV_TO = 7    # 's'
    TERM_LOCAL = 8     # 'L': answered by the proxy itself (http-request return, auth)
    TERM_DOWN = 9      # 'D': cut because its server went down (`on-marked-down shutdown-sessions`)
    TERM_UP = 10       # 'U': cut from a backup server when an active one came up (`on-marked-up`)
    # session phase at termination (second letter)
    PH_NONE = 0        # '-'
    PH_REQ = 1         # 'R'
    PH_QUEUE = 2       # 'Q'
    PH_CONNECT = 3     # 'C'
    PH_HDRS = 4        # 'H'
    PH_DATA = 5        # 'D'
    PH_LAST = 6        # 'L'
    PH_TARPIT = 7      # 'T': held by a tarpit (reqtarpit, http-request tarpit)

    MAX_MONNET = 16
    MAX_NAME = 128
    MAX_COOKIE = 64
    MAX_LOGSRV = 4
    MAX_LOG_RANGES = 8
    MAX_CAPTURE = 8
    UID_MAX = 128       # the longest unique ID kept (2.6 caps it at 128 too)
    SRV_STATS = -3      # sess_t.srv: the request goes to the master's stats server
    SRV_PROMEX = -4     # sess_t.srv: `use-service prometheus-exporter`, also answered by the master


cdef struct logsrv_t:
    sockaddr_storage addr
    socklen_t addrlen
    int fd
    int is_fd           # an inherited fd (`stdout`, `stderr`, fd@N): written, not sent
    int facility
    int level
    int minlvl          # the level sent is at least this one (2.6's MINLEVEL)
    int format          # LOG_FMT_* of logbuf.pxi, the unspecified one already resolved
    int maxlen          # `len N`: header and message are cut there
    int nrg             # `sample`: ranges [rg_low, rg_high] (1-based) of each smp_sz messages
    unsigned int rg_low[MAX_LOG_RANGES]
    unsigned int rg_high[MAX_LOG_RANGES]
    unsigned int rg_idx[MAX_LOG_RANGES]
    unsigned int smp_sz
    unsigned int curr_idx
    unsigned int curr_rg


# The scalar settings of a proxy and of a server: copied at start-up from the model's dataclass
# (pyhaproxy/config/model.py `Proxy`, `Server`) field by field BY NAME (setup.pxi), so a field
# here must exist there under the same name (tests/unit/test_core_boundary.py checks it).
# A new scalar keyword adds its field in both and its use; nothing in between.
cdef struct px_conf_t:
    int maxconn
    int contimeout
    int clitimeout
    int srvtimeout
    int httpreqtimeout
    int wfbtime            # `http-request wait-for-body time T`: T ms (-1: none, 0: no limit; http.pxi)
    int wfbbytes           # ... `at-least N`: N bytes (0: the whole body)
    int keepalivetimeout   # idle time allowed between two requests (`timeout http-keep-alive`)
    int inspectdelay       # `tcp-request inspect-delay`: TCP content rules wait for data (tcpinspect.pxi)
    int rspinspectdelay    # `tcp-response inspect-delay`: the response rules wait for the server's data
    int queuetimeout       # `timeout queue` (0: `timeout connect`, as HAProxy does)
    int tunneltimeout      # `timeout tunnel`: TCP sessions once connected (both directions)
    int clientfintimeout   # `timeout client-fin`: the client side once its FIN was sent to it
    int serverfintimeout   # `timeout server-fin`: the server side once its FIN was sent to it
    int tarpittimeout      # `timeout tarpit`: how long a tarpitted request is held (0: contimeout)
    int grace
    int retries
    int redispatch_after   # `option redispatch N`: every Nth retry (N < 0: the -Nth before the last)
    int uri_len            # `balance uri len N`: at most N characters of the URI are hashed (0: all)
    int uri_depth          # `balance uri depth N`, stored as N + 1: hashing stops at that '/'
    int uri_path_only      # `balance uri path-only`: an absolute URI's scheme and authority are skipped
    int hdr_domain_only    # `balance hdr(NAME) use_domain_only`: the domain's middle word only
    int rnd_draws          # `balance random(N)`: servers drawn, the least loaded wins (2.6: 2)
    int hash_aval          # `hash-type ... avalanche`: the hash goes through full_hash() first
    int hash_balance_factor  # `hash-balance-factor N`: consistent hashing with bounded loads (0: off)
    int fe_sps_lim       # `rate-limit sessions N`: the frontend's sessions per second (0: none)
    int clitcpka_cnt     # keep-alive probes on client sockets (option clitcpka): TCP_KEEPCNT,
    int clitcpka_idle    # TCP_KEEPIDLE (s), TCP_KEEPINTVL (s); 0: the kernel's
    int clitcpka_intvl
    int srvtcpka_cnt     # the same on server sockets (option srvtcpka)
    int srvtcpka_idle
    int srvtcpka_intvl

cdef struct srv_conf_t:
    int weight
    int maxconn
    int slowstart        # ms over which the weight ramps up after the server came back UP
    int backup
    int port_offset      # "+N"/"-N" port syntax: the client's port plus this offset
    int send_proxy       # `send-proxy` 1, `send-proxy-v2` 2: the PROXY header opens each connection
    int pp_opts          # `proxy-v2-options`: PP_OPT_* (proxyproto.pxi)
    int maxqueue         # `maxqueue`: read by connslots (the queue itself is the backend's)
    int proto_h2         # `proto h2`: HTTP/2 with prior knowledge on the connection (h2srv.pxi)
    int non_stick        # `non-stick`: no stick rule stores this server (httpreq.pxi _stick_store)
    int tcp_ut           # `tcp-ut`: TCP_USER_TIMEOUT (ms) on the server socket, 0 not set


cdef struct freq_t:
    # an event rate as 2.6's freq_ctr keeps it over 1 s periods (pools.pxi freq_count)
    long long tick      # start of the current period (g_now ms)
    long long curr      # events in the current period
    long long prev      # events in the previous one


cdef struct px_t:
    px_conf_t conf
    char name[MAX_NAME]
    int name_len
    int mode
    int feconn
    int beconn
    int balance
    int opts
    int srv_first       # index of the first server in the worker's server table
    int nsrv
    int nactive
    int *rr_act         # weighted round-robin sequence of active servers (global indexes)
    int rr_act_len
    int rr_act_pos
    int *rr_bck         # same for backup servers
    int rr_bck_len
    int rr_bck_pos
    int has_dispatch
    int balance_set      # a `balance` line: without one, `dispatch` takes every new client (1.2 2.7)
    int reuse            # `http-reuse`: REUSE_* (srvpool.pxi)
    sockaddr_storage dispatch
    socklen_t dispatch_len
    int has_source
    sockaddr_storage source
    socklen_t source_len
    int nmon
    int mon_family[MAX_MONNET]
    unsigned char mon_net[MAX_MONNET][16]
    int mon_bits[MAX_MONNET]
    int ck_mode
    int ck_indirect
    int ck_nocache
    int ck_postonly
    char ck_name[MAX_COOKIE]
    int ck_name_len
    char ck_domain[MAX_NAME]
    int ck_domain_len
    char mon_uri[256]
    int mon_uri_len
    char stats_uri[256]   # `stats enable`: requests under this URI go to the master's stats server
    int stats_uri_len
    int nlog
    logsrv_t log[MAX_LOGSRV]
    char log_tag[64]    # `log-tag` (the proxy's, else the global one): the syslog program name
    int log_tag_len
    int slot            # shm counter slot
    # --- frontend/backend (acl.pxi): a `listen` is its own backend, a frontend switches
    int default_be      # backend when no use_backend matches (the proxy itself: no server, 503)
    int has_be          # a backend or listen: `use_backend %[...]` may name it
    int swr_first       # its use_backend rules: g_acl_cond[swr_first .. swr_first + nswr]
    int nswr
    int hr_first        # its http-request rules: g_hrule[hr_first .. hr_first + nhr] (httpreq.pxi)
    int nhr
    int hs_first        # its http-response rules, in the same table
    int nhs
    int ha_first        # its http-after-response rules (every response sent, haproxy's own too)
    int nha
    int xp_first        # its `tcp-request connection expect-proxy` conditions (acl.pxi)
    int nxp
    int mf_first        # its `monitor fail` conditions (acl.pxi)
    int nmf
    int us_first        # its `use-server` rules (acl.pxi)
    int nus
    int pr_first        # its `force-persist` / `ignore-persist` rules (acl.pxi)
    int npr
    int sa_first        # its `stats admin` rules (acl.pxi)
    int nsa
    int tc_first        # its other `tcp-request connection` rules, in g_hrule (httpreq.pxi)
    int ntc
    int tcc_first       # its `tcp-request content` rules, in g_hrule
    int ntcc
    int trc_first       # its `tcp-response content` rules (a backend's), in g_hrule
    int ntrc
    int ts_first        # its `tcp-request session` rules, in g_hrule
    int nts
    int sk_first        # its `stick match|on|store-request` rules, in g_hrule
    int nsk
    int sk_rsp          # some of them are `stick store-response` (TCP: the response is inspected)
    char ff_hdr[64]     # option forwardfor header NAME (X-Forwarded-For)
    int ff_hdr_len
    int ff_except       # option forwardfor except NET: no header for clients in it
    int ff_exc_family
    unsigned char ff_exc_net[16]
    int ff_exc_bits
    char ot_hdr[64]     # option originalto header NAME (X-Original-To)
    int ot_hdr_len
    int ot_except       # option originalto except NET: no header for destinations in it
    int ot_exc_family
    unsigned char ot_exc_net[16]
    int ot_exc_bits
    # --- balance leastconn / uri / hdr(NAME) (backend.pxi)
    int lc_pos          # leastconn: where the next scan starts, so equal servers take turns
    int hash_whole      # balance uri whole: the query string is hashed too
    char hash_hdr[64]   # balance hdr(NAME), balance url_param NAME
    int hash_hdr_len
    int hash_fn         # `hash-type`'s function: HFN_* (backend.pxi)
    int hash_cons       # `hash-type consistent` (or balance random): picks go by the ring below
    # the consistent-hash ring (2.6's chash trees), active and backup servers apart: every node
    # sorted by key, with its server (global index) and rank among that server's nodes; a node
    # is in use while its server is usable and its rank is under weight * 16
    unsigned int *ch_key[2]
    int *ch_srv[2]
    int *ch_node[2]
    int ch_n[2]
    int ch_last         # the ring's round robin (no key to hash): the last node given
    int *ch_w           # per server of the proxy: the weight its nodes were laid out for
    int *ch_id          # per server of the proxy: its id (`id N` or 2.6's number)
    int lb_expr         # balance hash EXPR: its sample expression (g_sexpr index), -1 none
    # hash-type map-based: 2.6's server map (lb_map.c), rebuilt when the active servers' states
    # or weights change: hm[hash % hm_len]
    int *hm
    int hm_len
    int hm_cap
    int hm_gcd          # the configured weights' greatest common divisor (2.6's wmult)
    int *hm_ws          # a score per server while the map is built
    unsigned long long hm_sig   # the states and weights it was built for
    int hm_rr           # the map's round robin (no key to hash): the next slot
    freq_t fe_sps       # sessions per second accepted (`rate-limit sessions`, conf.fe_sps_lim)
    # --- queue of sessions waiting for a server slot (server maxconn), FIFO, per worker
    int q_head          # session indexes, -1 when empty
    int q_tail
    int nq
    # --- logging (logline.pxi)
    int lf_first                        # `log-format`: g_lf[lf_first .. + nlf] (logformat.pxi), 0: none
    int nlf
    long long lf_count                  # lines logged (%lc)
    int uid_first                       # `unique-id-format`: g_lf[uid_first .. + nuid], 0: none
    int nuid
    int elf_first                       # `error-log-format`: g_lf[elf_first .. + nelf], 0: none
    int nelf
    char uid_hdr[64]                    # `unique-id-header NAME`, "" none
    int uid_hdr_len
    int cap_ck_len                      # `capture cookie NAME len N`: prefix length, 0 none
    int cap_ck_max
    char cap_ck_name[MAX_COOKIE]
    int ncap_req                        # `capture request header NAME len N`
    int cap_req_len[MAX_CAPTURE]
    int cap_req_max[MAX_CAPTURE]
    char cap_req_name[MAX_CAPTURE][64]
    int ncap_rsp                        # `capture response header NAME len N`
    int cap_rsp_len[MAX_CAPTURE]
    int cap_rsp_max[MAX_CAPTURE]
    char cap_rsp_name[MAX_CAPTURE][64]


cdef struct srv_t:
    srv_conf_t conf
    char name[MAX_NAME]
    int name_len
    int px
    int gidx            # global index = shm slot (servers) and counter slot nproxy + gidx
    unsigned int kill_seen  # the shm kill_gen last acted on (loop.pxi kill_refresh)
    sockaddr_storage addr
    socklen_t addrlen
    int port_mode       # 0 fixed port, 1 client's port + offset
    int has_source
    sockaddr_storage source
    socklen_t source_len
    char cookie[MAX_COOKIE]
    int cookie_len
    int cur_sess
    int ss_acc           # slowstart: round-robin credit (a turn is taken once it reaches 256)


cdef struct lst_t:
    int fd
    int px
    int port
    int state
    int backlog
    int accept_proxy    # `bind ... accept-proxy`: a PROXY header comes before anything else
    int proto_h2        # `bind ... proto h2`: HTTP/2 from the first byte (h2c prior knowledge)
    int luid            # its number in its proxy (`id`, else 1, 2...), and its `name`: the log
    char name[64]       # of a refused PROXY header names it
    int name_len


cdef struct chan_t:
    int pipe_r
    int pipe_w
    int in_pipe          # bytes held in the pipe
    char *buf            # user-space buffer (headers, error pages); NULL when not needed
    int buf_len          # bytes in buf
    int buf_off          # bytes of buf already sent
    long long to_fwd     # bytes still to forward in this message; -1: until close
    int eof              # the reading side reached end of stream
    int shut             # the writing side was shut down
    int err
    unsigned long long bytes
    long long adj        # HTTP: what 2.6 counts of the messages' HTX form but their bodies' bytes (chan_count)
    long long hdr_wire   # HTTP: the heads forwarded, as sent (the rest of `bytes` is their bodies)
    int buf_in           # HTTP: bytes received into buf; [buf_len, buf_in) is not yet analysed
    int phase            # HTTP: CH_HDR, CH_BODY, CH_DONE
    int chunked
    int scan_from        # where to resume looking for the end of the header block
    int big              # large transfers seen: move data with splice() instead of recv()/send()
    int hold             # keep sent bytes in buf (a request that may have to be sent again)
    int nosplice         # never splice: the source is a socket the fast path gave back (its bytes
                         # wait in its sockmap queue, which splice() does not read; tcp.pxi)
    h1_chunk ck


# A session's addresses (the client, and where it connected per a PROXY header): IPv4 or IPv6,
# or only the family of a UNIX socket's peer (its path is never read: 2.6 logs unix:<listener>).
# 28 bytes where a sockaddr_storage takes 128: an idle connection's memory is its sess_t, and two
# of those made it 200 bytes more than haproxy's. Read through sa_of() as a sockaddr_storage
# (only the family's own bytes are looked at); written with sess_addr_set(), which truncates.
ctypedef sockaddr_in6 sess_addr_t


cdef inline sockaddr_storage *sa_of(sess_addr_t *a) noexcept nogil:
    return <sockaddr_storage *>a


cdef inline void sess_addr_set(sess_addr_t *a, const sockaddr_storage *src) noexcept nogil:
    memcpy(a, src, sizeof(sess_addr_t))


cdef inline void sess_addr_get(sockaddr_storage *out, const sess_addr_t *a) noexcept nogil:
    memset(out, 0, sizeof(sockaddr_storage))
    memcpy(out, a, sizeof(sess_addr_t))


cdef struct sess_t:
    int state
    unsigned int gen
    int cfd
    int sfd
    int px               # the frontend (listener side: client timeouts, logs, captures)
    int be               # the backend (servers, cookie, server timeouts, retries); px for `listen`
    int lst
    int srv              # global server index, -1 none, -2 dispatch
    unsigned int lb_hash # balance uri/hdr: hash of this request's URI or header
    int lb_hash_ok       # lb_hash is set (otherwise hashing balances fall back to round robin)
    int q_next           # backend queue links (ST_QUEUED)
    int q_prev
    int q_pos            # place in the queue when it entered (log: backend queue)
    int req_v10          # the request was HTTP/1.0 (http-server-close answers keep-alive to it)
    int req_te_close     # the request's Transfer-Encoding framing closes the client (h1.pxi te_close)
    int retries_left
    int redispatched     # a retry went to another server (the log's retries field gets a '+')
    int flags
    int term_cause
    int term_phase
    int cli_rd, cli_wr, srv_rd, srv_wr   # edge-triggered readiness
    long long cli_exp
    long long srv_exp
    long long con_exp
    long long heap_at       # time of this session's earliest heap entry, 0 if none
    long long accept_ms
    long long accept_wall_ms
    int t_hs               # ms of the client's TLS handshake (2.6's Th): not part of TR, Ta, %tr
    long long t_req        # request complete (Tq)
    long long t_conn       # connection established (Tc)
    long long t_cstart     # left the queue (or never waited) and began connecting: ends Tw
    long long t_idle       # a kept-alive request's wait since the previous one ended (2.6's Ti)
    long long t_rsp        # response headers received (Tr)
    sess_addr_t cli_addr         # the client: the socket's peer, or what a PROXY header said
    socklen_t cli_addrlen
    sess_addr_t pp_dst           # the address the client reached, when a PROXY header gave it
    int pp_dst_set
    char *pp_auth                # its AUTHORITY TLV (malloc'ed, freed with the session), or NULL
    int pp_auth_len
    int sfd_tagged         # sfd's epoll data names the fd (a parked connection's, srvpool.pxi)
    int h2c                # an HTTP/2 stream's session: its connection's session index + 1, else 0
    int h2s                # ...and its stream slot + 1 (h2.pxi)
    chan_t req
    chan_t rsp
    int status
    int cli_ka             # the client connection stays open after this transaction
    int ans_ka             # ...and after haproxy's own answer to it, as 2.6 (session.pxi answer_frame)
    int req_unsettled      # http_request_ready() runs: s.req's framing is not set up yet
    int req_after_hdr      # bytes after the request's head when it was parsed (body, pipelined)
    int body_wait          # ST_REQ: the head is parsed, its body is waited for (option http-buffer-request)
    int rsp_insp           # TCP: `tcp-response content` rules not decided yet (con_exp: the delay's end)
    int fast               # TCP fast path (sockmap.pxi): 1 the kernel relays, 3 being taken back,
                           # 2 the kernel's bytes counted (closed or relayed by the loop again)
    int fast_tried         # ...it was tried and refused: the epoll relay goes on
    int fp_tries           # ...hand-overs put off as the sockets' counters moved (tcp.pxi fp_try)
    int fast_err           # EPOLLERR seen on the client (1) or server (2) socket while fast
    unsigned long long fp_cons_c   # bytes taken off the client socket by user space before (counts)
    unsigned long long fp_cons_s   # ...and off the server socket
    unsigned long long fp_wr_c     # bytes written to the client socket before the kernel took over
    unsigned long long fp_wr_s     # ...and to the server socket
    skm_key fp_key_c               # the client socket's key in the maps (its own tuple)
    skm_key fp_key_s
    int log_level          # `set-log-level`: this transaction's level + 1, LOG_SILENT none, 0 as usual
    int req_upgrade        # the request asked for a protocol switch (Connection: upgrade + Upgrade)
    int tunnel             # HTTP became a byte tunnel (101 to an upgrade, 2xx to CONNECT)
    int srv_ka             # the server connection may serve the next request
    int srv_reused         # this request went to a kept server connection (retry once on a fresh one)
    int http_ka            # HTTP keep-alive: analyse the next request on this connection
    int req_chunked
    int rsp_chunked
    int meth
    int rsp_no_body
    int ck_found_srv       # server found by cookie (global idx) or -1
    int ck_insert          # insert a Set-Cookie in the response
    int logged
    int fc_err             # 2.6's connection error code (connerr.pxi) of one that failed, else 0
    char *loginfo          # request line kept for the log (allocated from buffer pool when logging)
    char *vars             # set-var storage (sample.pxi), a pooled buffer taken at the first set
    int stk_tab[3]         # track-sc0..2: the tracked table's index + 1, 0 none (stktable.pxi)
    int stk_ent[3]         # the tracked entry
    int stk_http[3]        # 1 tracked by an http-request rule, 2 by a tcp-request content rule
                           # (both released when the request ends), 0 by connection|session
    int stk_done           # this request's status was counted (http_err/http_fail)
    int txn_counted        # ...and in its frontend's and backend's hrsp_* (session.pxi ctr_txn_status)
    int ts_counted         # ...and its times in its server's and backend's averages (ctr_time_stats)
    char uid[UID_MAX]      # `unique-id-format`: this request's ID (logformat.pxi)
    int uid_len
    int loginfo_len
    # --- logging (logline.pxi)
    unsigned int log_uid   # session number shown by the -d trace
    int log_ck_req         # request persistence cookie: 0 n/a, 1 absent, 2 present, 3 unused (3rd state char)
    int prst               # the backend's persist rules for this request: PRST_FORCE, PRST_IGNORE or 0
    int srv_direct         # the server was named by a use-server rule (no cookie is inserted then)
    int log_ck_rsp         # response cookie: 0 none seen, else the 4th state char ('I','P','R','D')
    int log_cck_req_len    # captured cookies (kept in loginfo), 0 none
    int log_cck_rsp_len
    short log_hreq_len[MAX_CAPTURE]   # captured headers (kept in loginfo), 0 absent or empty
    short log_hrsp_len[MAX_CAPTURE]
