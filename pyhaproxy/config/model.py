"""Typed model of a parsed HAProxy configuration (global, defaults, listen, frontend, backend).

The parser fills these dataclasses; the master and the worker compiler only read them.
Times are milliseconds; 0 means "no timeout" as in HAProxy 1.x.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .logformat import LogItem
from .sample import SampleExpr, Segment

if TYPE_CHECKING:  # tls
    from .tls import BindTLS, GlobalTLS
    from .tls_server import ServerTLS

# HAProxy 1.2 compile-time defaults (include/common/defaults.h); maxconn's is 2.6's:
# a global maxconn left unset is computed from the fd limit (startup.ideal_maxconn), never
# below this (its DEFAULT_MAXCONN); a proxy's unset maxconn (0) is the global one.
MIN_AUTO_MAXCONN = 100
DEFAULT_RETRIES = 3
DEFAULT_INTER = 2000
DEFAULT_RISE = 2
DEFAULT_FALL = 3
BUFSIZE = 16384
MAXREWRITE = 8192


@dataclass
class Where:
    """A place in a configuration file, for error messages."""

    file: str = ""
    line: int = 0


@dataclass
class LogTarget:
    """`log ADDRESS [len N] [format F] [sample R:N] FACILITY [LEVEL [MINLEVEL]]` (2.6's order).

    address is 'host:port' (port 514 by default), a unix socket path, or 'fd@N' (`stdout` is
    'fd@1', `stderr` 'fd@2'). format "" is 2.6's unspecified format: RFC 3164 without the
    hostname ("local"), with it when `log-send-hostname` is set. sample: the ranges (low, high)
    of the messages logged out of each `sample_size` consecutive ones."""

    address: str
    facility: str
    level: str = "debug"
    where: Where = field(default_factory=Where)
    length: int = 1024
    format: str = ""
    minlevel: str = "emerg"
    sample: list[tuple[int, int]] = field(default_factory=list)
    sample_size: int = 0


@dataclass
class StatsSocket:
    path: str
    mode: int | None = None
    level: str = "user"
    uid: int | None = None
    gid: int | None = None
    expose_fd: bool = False  # `expose-fd listeners`: answers `_getsocks` (pyhaproxy/sockxfer.py)


@dataclass
class Global:
    node: str = ""  # `node NAME` (show info; 2.6's default: the host name)
    description: str = ""  # `description TEXT` (show info)
    cpu_map: dict[int, list[int]] = field(default_factory=dict)  # `cpu-map`: worker (thread) -> CPUs
    daemon: bool = False
    debug: bool = False
    quiet: bool = False
    master_worker: bool = False
    maxconn: int = 0  # 0: automatic, from the fd limit as 2.6 computes it (startup.apply_options)
    fd_hard_limit: int = 0  # `fd-hard-limit N`: the fd limit the automatic maxconn and ulimit-n stay under
    nbthread_set: bool = False  # `nbthread` was given (2.6's default is the number of CPUs)
    maxconnrate: int = 0  # `maxconnrate N`: connections accepted per second by each worker (0: none)
    maxsessrate: int = 0  # `maxsessrate N`: sessions (connections the rules kept) per second, per worker
    maxsslrate: int = 0  # `maxsslrate N`: connections to TLS listeners per second, per worker
    maxpipes: int = 0  # `maxpipes N`: pipes in use for splice() at once, per worker (0: no limit)
    nosplice: bool = False  # `nosplice`: never splice(), every byte through the buffers
    set_dumpable: bool = False  # `set-dumpable`: workers may dump core (limits raised, dumpable again)
    insecure_fork_wanted: bool = False  # else workers cannot fork (RLIMIT_NPROC 0), as in 2.6
    # `strict-limits`: a resource limit that cannot be set is fatal. 2.6 has it on by default;
    # pyhaproxy keeps 1.2's default (a warning) so that 1.x configurations start as they did
    strict_limits: bool = False
    # `h1-accept-payload-with-any-method`: an HTTP/1.0 GET/HEAD/DELETE with a body is not a 413
    h1_accept_payload_with_any_method: bool = False
    nbproc: int = 1
    hard_stop_after: int = 0  # ms; 0: a soft stop waits for every session
    spread_checks: int = 0  # `spread-checks N`: each check interval moved by a random +/- N %
    max_spread_checks: int = 0  # `max-spread-checks T` (ms): at most this between a proxy's first checks
    expose_experimental_directives: bool = False  # 2.5+: experimental keywords are allowed
    noreuseport: bool = False  # listeners are bound with SO_REUSEPORT unless this is set (2.x)
    nbthread: int = 1  # worker processes too (pyhaproxy has no threads): see cli.apply_command_line
    uid: int | None = None
    gid: int | None = None
    user: str | None = None
    group: str | None = None
    chroot: str | None = None
    pidfile: str | None = None
    ulimit_n: int | None = None
    logs: list[LogTarget] = field(default_factory=list)
    log_send_hostname: str | None = None  # `log-send-hostname [NAME]`: the host name in headers
    log_tag: str = "haproxy"  # `log-tag`: the program name of the syslog header
    server_state_base: str | None = None  # `server-state-base DIR`: where relative state files are
    server_state_file: str | None = None  # `server-state-file FILE`: the global server state file
    stats_socket: StatsSocket | None = None  # the first `stats socket` line
    stats_sockets: list[StatsSocket] = field(default_factory=list)  # every one, in order
    stats_timeout: int = 10000
    stats_maxconn: int = 10  # `stats maxconn N`: connections accepted on the stats socket
    # polling-method switches, accepted for compatibility: the worker always uses epoll.
    nopoll: bool = False
    noepoll: bool = False
    nokqueue: bool = False
    nosepoll: bool = False
    tune: dict[str, str] = field(default_factory=dict)
    tls: GlobalTLS = field(default_factory=lambda: _global_tls())  # tls: crt-base, ssl-default-bind-*


@dataclass
class Bind:
    """One address of a `listen`/`bind` line; host '' means any address (IPv4 0.0.0.0 or '*')."""

    host: str
    port_lo: int
    port_hi: int
    family: int = 2  # socket.AF_INET; 10 = AF_INET6; 1 = AF_UNIX (host: a path or "abns@NAME")
    where: Where = field(default_factory=Where)
    # options of a 1.3+ `bind` line: name, backlog, defer-accept, v6only, v4v6, transparent,
    # interface, mss (value "" for flags)
    options: dict[str, str] = field(default_factory=dict)
    fd: int = -1  # `bind fd@N`: an inherited listening socket (host is then "fd@N")
    tls: BindTLS | None = None  # tls: `bind ... ssl crt ...` (config/tls.py)


@dataclass
class Server:
    name: str
    host: str
    port: int | None = None  # None: the port the client connected to (HAProxy 1.x behaviour)
    port_offset: int = 0  # "+N"/"-N" port syntax: client's port plus offset
    cookie: str | None = None
    check: bool = False
    inter: int = DEFAULT_INTER
    fastinter: int | None = None
    downinter: int | None = None
    rise: int = DEFAULT_RISE
    fall: int = DEFAULT_FALL
    check_port: int | None = None
    check_port_set: bool = False  # `port` given (check_port is else the server's port)
    check_addr: str | None = None
    backup: bool = False
    weight: int = 1
    puid: int = 0  # `id N`: its numeric id (0: numbered automatically, as 2.6 does)
    source: str | None = None  # "ip[:port]"
    maxconn: int = 0
    minconn: int = 0
    maxqueue: int = 0
    slowstart: int = 0
    disabled: bool = False
    where: Where = field(default_factory=Where)
    family: int = 2  # socket.AF_INET; 10 = AF_INET6 (host is always a numeric address)
    hostname: str | None = None  # the name as written when it had to be resolved
    # `init-addr METHOD,...` (2.6): how the start-up address is found; empty: 2.6's "last,libc"
    init_addr: list[str] = field(default_factory=list)
    init_last: bool = False  # a state file's address would come first (`last`: server_state.load)
    rmaint: bool = False  # started without an address (`init-addr none`): MAINT (resolution)
    track: str | None = None  # `track [PROXY/]SERVER`: takes that server's check state (checks.py)
    track_gi: int = -1  # the tracked server's global index, once resolved (config/track.py)
    track_label: str = ""  # "PROXY/SERVER" of the tracked server, for logs and `MAINT (via ...)`
    non_stick: int = 0  # `non-stick`: stick rules never store this server (stktable via httpreq.pxi)
    on_marked_down: bool = False  # `on-marked-down shutdown-sessions`: its sessions cut when it goes down
    on_marked_up: bool = False  # `on-marked-up shutdown-backup-sessions`: backups' cut when it comes up
    send_proxy: int = 0  # `send-proxy` 1, `send-proxy-v2` 2: PROXY header on each connection
    pp_opts: int = 0  # `proxy-v2-options`: _core.pp_opt bits
    check_send_proxy: bool = False  # `check-send-proxy`: health checks send the header too
    # `agent-check` (checks.py): an agent on agent-addr:agent-port (the server's address by
    # default) asked every agent-inter (default inter) after sending agent-send
    agent_check: bool = False
    agent_port: int = 0
    agent_inter: int = 0
    agent_addr: str | None = None
    agent_send: bytes = b""
    tfo: int = 0  # `tfo`: accepted, sets nothing, as 2.6.12 sends no fast open (ext/connect.pxi says why)
    tcp_ut: int = 0  # `tcp-ut`: TCP_USER_TIMEOUT (ms) on its connections, 0 the kernel's
    proto_h2: int = 0  # `proto h2`: HTTP/2 with prior knowledge towards this server (ext/h2srv.pxi)
    tls_words: list[str] = field(default_factory=list)  # its TLS options as written (config/tls_server.py)
    tls: ServerTLS | None = None  # TLS towards it (or for its checks only), else None


@dataclass
class Cookie:
    """`cookie NAME [rewrite|insert|prefix] [indirect] [nocache] [postonly] [domain D]`."""

    name: str
    mode: str = "passive"  # passive | rewrite | insert | prefix
    indirect: bool = False
    nocache: bool = False
    postonly: bool = False
    domain: str | None = None


@dataclass
class HeaderRule:
    """A req*/rsp* rule, e.g. reqirep. `action` is one of add, del, rep, deny, allow, pass, tarpit, setbe."""

    direction: str  # "req" | "rsp"
    action: str
    icase: bool
    regex: str | None
    replacement: str | None = None
    where: Where = field(default_factory=Where)


@dataclass
class Capture:
    """`capture cookie NAME len N` | `capture request|response header NAME len N`."""

    kind: str  # "cookie" | "request" | "response"
    name: str
    length: int


@dataclass
class HttpCheck:
    method: str = "OPTIONS"
    uri: str = "/"
    version: str = "HTTP/1.0"


@dataclass
class HttpCheckSend:
    """`http-check send`: what it names overrides `option httpchk`'s method, URI and version."""

    method: str | None = None
    uri: str | None = None
    version: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str | None = None


@dataclass
class TcpCheckRule:
    """One `tcp-check` rule (2.6's struct tcpcheck_rule), or one of the rules an `option
    redis-check|mysql-check|pgsql-check|ldap-check` stands for (checks.py runs them)."""

    action: str  # connect | send | expect | comment
    index: int = 0  # its place in the proxy's list (comments count): step = index + 1
    comment: str | None = None
    # connect
    port: int = 0
    addr: str | None = None
    addr_port: int = 0  # a port given with `addr`
    send_proxy: bool = False
    ssl: bool = False
    sni: str | None = None
    alpn: str | None = None
    default: bool = False  # the server's check settings (its PROXY header, TLS)
    implicit: bool = False  # the connect 2.6 adds before rules that do not start with one
    # send: the bytes
    data: bytes = b""
    # expect: string | rstring | binary | rbinary | mysql-iniths | mysql-ok | ldap-bindrsp
    kind: str = ""
    pattern: bytes = b""  # the string or the binary; a regex's source for rstring/rbinary
    inverse: bool = False
    min_recv: int = -1
    ok_status: str | None = None  # L7OK, L7OKC, L6OK, L4OK
    err_status: str | None = None  # L7RSP, L7STS, L7OKC, L6RSP, L4CON
    tout_status: str | None = None  # L7TOUT, L6TOUT, L4TOUT
    # on-success / on-error: text with `%[res.payload(O,L),CONV...]` parts: a list of literal
    # strings and (offset, length, converters) triples
    on_success: list[str | tuple[int, int, list[tuple[str, str]]]] | None = None
    on_error: list[str | tuple[int, int, list[tuple[str, str]]]] | None = None
    status_code: tuple[int, int] | None = None  # `status-code res.payload(O,L)`


@dataclass
class Stats:
    enabled: bool = False
    uri: str = "/haproxy?stats"
    realm: str = "HAProxy Statistics"
    auth: list[tuple[str, str]] = field(default_factory=list)
    scope: list[str] = field(default_factory=list)
    refresh: int = 0
    hide_version: bool = False
    show_legends: bool = False  # `stats show-legends`: addresses, cookies, algorithms on the page
    admin: list[Condition] = field(default_factory=list)  # `stats admin if|unless COND`


@dataclass
class Acl:
    """One `acl NAME CRITERION [FLAGS] VALUES...` line (or an anonymous `{ ... }` condition).

    `criterion` is the match form (path, path_beg, hdr_dom, src, dst_port...); `header` is the
    NAME of hdr*(NAME). Several lines with the same name are ORed, as in HAProxy.
    """

    name: str
    criterion: str
    header: str | None
    icase: bool
    patterns: list[str]
    where: Where = field(default_factory=Where)
    expr: SampleExpr | None = None  # the sample (config/sample.py), parsed once
    match: str = "str"  # str beg end sub reg dom dir len found int ip bool
    # the patterns as the worker copies them: bytes (string matches), (family, packed, bits)
    # (ip), (lo, hi) (int, len)
    values: list[Any] = field(default_factory=list)


@dataclass
class Condition:
    """`if|unless TERMS`: OR (`||`, `or`) of groups of ANDed terms; a term is (negated, acl name)."""

    unless: bool
    groups: list[list[tuple[bool, str]]]


@dataclass
class UseServer:
    """`use-server NAME if|unless COND` (NAME may be a log-format: `fmt`, resolved per request)."""

    server: str
    cond: Condition
    where: Where = field(default_factory=Where)
    fmt: list[Segment] | None = None


@dataclass
class UseBackend:
    """`use_backend NAME [if|unless COND]` (a missing condition always matches)."""

    backend: str
    cond: Condition | None
    where: Where = field(default_factory=Where)
    fmt: list[Segment] | None = None  # a name with %[...] parts: resolved per request


@dataclass
class HttpRule:
    """`http-request ACTION ARGS [if|unless COND]` (deny, add-header, set-header, del-header, redirect)."""

    action: str
    args: list[str]
    cond: Condition | None
    where: Where = field(default_factory=Where)
    fmt: list[Segment] | None = None  # a header value with %[...] parts, parsed


@dataclass
class Proxy:
    """A `listen`, `frontend` or `backend` section (or the `defaults` it inherits from)."""

    name: str
    # "listen" (both sides), "frontend" (listeners, switching rules) or "backend" (servers)
    cap: str = "listen"
    binds: list[Bind] = field(default_factory=list)
    mode: str = "tcp"  # tcp | http | health
    balance: str = "roundrobin"  # roundrobin | source
    # `http-reuse` never | safe | aggressive | always: which idle server connections a session
    # may take (ext/srvpool.pxi; 2.6's default is safe)
    http_reuse: str = "safe"
    disabled: bool = False
    servers: list[Server] = field(default_factory=list)
    dispatch: tuple[str, int] | None = None
    transparent: bool = False
    source: str | None = None
    cookie: Cookie | None = None
    appsession: str | None = None
    options: set[str] = field(default_factory=set)  # httpclose, forwardfor, persist, ...
    no_options: set[str] = field(default_factory=set)  # `no option NAME` (overrides a mode's default)
    httpchk: HttpCheck | None = None
    contimeout: int = 0
    clitimeout: int = 0
    srvtimeout: int = 0
    queuetimeout: int = 0
    httpreqtimeout: int = 0
    # `http-request wait-for-body time T [at-least N]` (its first rule, kw_rules.py): T in ms
    # (-1: no such rule, 0: no time limit), N bytes (0: the whole body); http.pxi http_body_wanted
    wfbtime: int = -1
    wfbbytes: int = 0
    keepalivetimeout: int = 0
    inspectdelay: int = 0  # `tcp-request inspect-delay`: TCP content rules may wait this long for data
    rspinspectdelay: int = 0  # `tcp-response inspect-delay`: the response rules wait for the server
    retries: int = DEFAULT_RETRIES
    redispatch_after: int = -1  # `option redispatch [N]`: 2.6's default, the last retry
    redispatch: bool = False
    grace: int = 0
    maxconn: int = 0  # 0: the global maxconn (2.6), set by startup.apply_options
    fullconn: int = 0
    monitor_net: list[tuple[str, int]] = field(default_factory=list)  # (network, prefixlen)
    monitor_uri: str | None = None
    monitor_fail: list[Condition] = field(default_factory=list)  # `monitor fail if|unless COND`
    logs: list[LogTarget] = field(default_factory=list)
    log_global: bool = False
    log_tag: str | None = None  # `log-tag` of the proxy; else the global one
    # `load-server-state-from-file global|local|none` (None: not said, which is `none`) and
    # `server-state-file-name`: the file of `local` ("" = the backend's name, `use-backend-name`)
    load_server_state: str | None = None
    server_state_file_name: str | None = None
    rules: list[HeaderRule] = field(default_factory=list)
    captures: list[Capture] = field(default_factory=list)
    errorloc: dict[int, tuple[str, str]] = field(default_factory=dict)  # code -> (kind, value)
    errorfile: dict[int, str] = field(default_factory=dict)  # code -> file contents
    # errorfile/errorloc/errorfiles/http-error lines in order (defaults' first), resolved into
    # errorfile/errorloc once every http-errors section is known (kw_http_errors.resolve):
    # ("page", code, raw answer) | ("loc", code, (kind, url)) | ("files", code or 0, (name, where))
    # | ("default", code, None)
    error_rules: list[tuple[str, int, Any]] = field(default_factory=list)
    description: str = ""  # `description TEXT` (the stats page)
    id: int = 0  # `id N`: the proxy's iid; 0: numbered as 2.6 does (server_state.proxy_uuids)
    backlog: int = 0  # `backlog N`: its listeners' listen() backlog when a bind line gives none
    fe_sps_lim: int = 0  # `rate-limit sessions N`: sessions per second the frontend accepts (0: none)
    # `clitcpka-cnt|idle|intvl`, `srvtcpka-...`: keep-alive probes (count; idle and interval in
    # seconds), set on the side's sockets when its keep-alive option is on (0: the kernel's)
    clitcpka_cnt: int = 0
    clitcpka_idle: int = 0
    clitcpka_intvl: int = 0
    srvtcpka_cnt: int = 0
    srvtcpka_idle: int = 0
    srvtcpka_intvl: int = 0
    stats: Stats = field(default_factory=Stats)
    where: Where = field(default_factory=Where)
    # True when a `balance` line was given (directly or through defaults). HAProxy 1.2 without
    # it used servers only for cookie persistence and sent new clients to `dispatch`.
    balance_explicit: bool = False
    default_server: list[str] = field(default_factory=list)  # `default-server` options, in order
    # (negated, "status"|"rstatus"|"string"|"rstring", pattern)
    http_check_expect: tuple[bool, str, str] | None = None
    http_check_send: HttpCheckSend | None = None
    http_check_disable_404: bool = False  # `http-check disable-on-404`
    appsession_len: int = 0
    appsession_timeout: int = 0
    checktimeout: int = 0  # `timeout check`
    tunneltimeout: int = 0  # `timeout tunnel`
    # `timeout client-fin` / `server-fin`: a side's inactivity timeout once the proxy has passed
    # the other side's end (FIN) on to it (tcp.pxi; 0: its usual timeout)
    clientfintimeout: int = 0
    serverfintimeout: int = 0
    tarpittimeout: int = 0  # `timeout tarpit` (0: `timeout connect`, as HAProxy does)
    smtpchk: tuple[str, str] | None = None  # `option smtpchk [HELO|EHLO domain]`
    # `option tcp-check|redis-check|mysql-check|pgsql-check|ldap-check`: "tcp", "redis"...
    # (the last check option of a proxy wins, as in 2.6)
    tcpcheck: str | None = None
    tcpcheck_rules: list[TcpCheckRule] = field(default_factory=list)  # the `tcp-check` lines
    tcpcheck_inherited: bool = False  # those rules are the defaults' (a proxy's own replace them)
    tcpcheck_proto: list[TcpCheckRule] = field(default_factory=list)  # the option's own rules
    default_backend: str | None = None
    use_backends: list[UseBackend] = field(default_factory=list)
    use_servers: list[UseServer] = field(default_factory=list)
    # `force-persist` / `ignore-persist` rules, in order: ("force" | "ignore", condition)
    persist_rules: list[tuple[str, Condition]] = field(default_factory=list)
    # `tcp-request connection expect-proxy layer4 [if|unless COND]`: None = always
    expect_proxy: list[Condition | None] = field(default_factory=list)
    acls: list[Acl] = field(default_factory=list)
    http_rules: list[HttpRule] = field(default_factory=list)
    http_res_rules: list[HttpRule] = field(default_factory=list)  # http-response
    http_after_rules: list[HttpRule] = field(default_factory=list)  # http-after-response (2.2+)
    stick_table: PeerTable | None = None  # `stick-table type ... size ...` (named as the proxy)
    tcp_conn_rules: list[HttpRule] = field(default_factory=list)  # tcp-request connection
    tcp_sess_rules: list[HttpRule] = field(default_factory=list)  # tcp-request session
    tcp_content_rules: list[HttpRule] = field(default_factory=list)  # tcp-request content
    tcp_res_rules: list[HttpRule] = field(default_factory=list)  # tcp-response content
    stick_rules: list[HttpRule] = field(default_factory=list)  # stick match|on|store-request|-response
    log_format: list[LogItem] | None = None  # `log-format`, parsed (replaces option httplog/tcplog)
    unique_id_format: list[LogItem] | None = None  # `unique-id-format`, parsed
    error_log_format: list[LogItem] | None = None  # `error-log-format`: failed connections' line
    unique_id_header: str | None = None  # `unique-id-header NAME`
    forwardfor_header: str = "X-Forwarded-For"
    forwardfor_except: tuple[str, int] | None = None  # (network, prefixlen)
    originalto_header: str = "X-Original-To"  # `option originalto [except NET] [header NAME]`
    originalto_except: tuple[str, int] | None = None  # (a destination network, prefixlen)
    hash_balance_arg: str = ""  # the NAME of `balance hdr(NAME)` / `url_param NAME`, `whole` of uri
    hash_type: str = "map-based"  # `hash-type map-based|consistent`
    hash_fn: str = "sdbm"  # `hash-type`'s function: sdbm, djb2, wt6, crc32
    hash_aval: bool = False  # `hash-type ... avalanche` (implied by a bare `hash-type consistent`)
    uri_len: int = 0  # `balance uri len N`
    uri_depth: int = 0  # `balance uri depth N`, stored as N + 1 (as 2.6 does)
    uri_path_only: bool = False  # `balance uri path-only`
    hdr_domain_only: bool = False  # `balance hdr(NAME) use_domain_only`
    rnd_draws: int = 2  # `balance random(N)`
    hash_balance_factor: int = 0  # `hash-balance-factor N` (0 or > 100): bounded loads on the ring
    balance_expr_text: str = ""  # `balance hash EXPR` as written
    balance_expr: SampleExpr | None = None  # and parsed (the proxy's checks)


@dataclass
class Config:
    global_: Global = field(default_factory=Global)
    proxies: list[Proxy] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    peers: list[PeersSection] = field(default_factory=list)  # peers: the `peers` sections
    userlists: list[Userlist] = field(default_factory=list)  # `userlist` sections
    http_errors: dict[str, dict[int, str]] = field(default_factory=dict)  # `http-errors` sections
    localpeer: str = ""  # peers: this process's peer name (-L, `localpeer`, the host name)
    localpeer_cmdline: bool = False  # peers: -L given (a `localpeer` line is then ignored)


@dataclass
class PeerDef:
    """A `peer NAME ADDR:PORT` (or 2.x `server NAME [ADDR:PORT]`) line of a peers section."""

    name: str
    host: str
    port: int
    local: bool
    where: Where


@dataclass
class PeerTable:
    """A `table NAME type ... size ...` line of a peers section (2.0+): a stick table the
    section owns, named "/NAME" on the wire (as 2.6 sends it). `key_len` is haproxy's key size
    (a string's `len` + 1)."""

    name: str
    where: Where
    key_type: str = ""
    key_len: int = 0
    size: int = 0
    expire_ms: int = 0
    nopurge: bool = False
    data_types: list[tuple[str, int]] = field(default_factory=list)  # (store option, period ms)
    data_nelem: dict[str, int] = field(default_factory=dict)  # gpt/gpc/gpc_rate: their array's size
    peers: str = ""     # a proxy's `stick-table ... peers NAME`: the section that shares it


@dataclass
class UserlistUser:
    name: str
    secret: str = ""
    crypted: bool = False       # `password HASH` (crypt(3)) rather than `insecure-password`
    groups: list[str] = field(default_factory=list)


@dataclass
class Userlist:
    """A `userlist` section (1.4+): users with their password and groups."""

    name: str
    where: Where
    users: list[UserlistUser] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    group_users: dict[str, list[str]] = field(default_factory=dict)   # `group G users a,b`

    def groups_of(self, user: UserlistUser) -> list[str]:
        out = list(user.groups)
        out += [g for g, members in self.group_users.items() if user.name in members and g not in out]
        return out


@dataclass
class PeersSection:
    name: str
    where: Where
    peers: list[PeerDef] = field(default_factory=list)
    tables: list[PeerTable] = field(default_factory=list)
    bind: tuple[str, int] | None = None  # the local peer's listening address
    bind_where: Where = field(default_factory=lambda: Where("", 0))
    disabled: bool = False
    peer_line: bool = False  # `peer` and `bind` lines cannot be mixed
    bind_line: bool = False

    def local(self) -> PeerDef | None:
        return next((p for p in self.peers if p.local), None)


def _global_tls() -> Any:  # tls: (config/tls.py imports this module)
    from .tls import GlobalTLS
    return GlobalTLS()


def server_ids(servers: list[Server]) -> list[int]:
    """The servers' numeric ids as 2.6 numbers them: `id N` when given, else the first id not
    taken from a counter that moves on by one at every server (explicit ones included)."""
    used = {sv.puid for sv in servers if sv.puid}
    out: list[int] = []
    nxt = 1
    for sv in servers:
        if sv.puid:
            out.append(sv.puid)
        else:
            while nxt in used:
                nxt += 1
            used.add(nxt)
            out.append(nxt)
        nxt += 1
    return out
