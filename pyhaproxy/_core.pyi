"""Typed view of the compiled extension pyhaproxy._core (ext/_core.pyx), for mypy.

Kept by hand beside the Cython code; tests/unit/test_core_boundary.py checks that every name
here exists in the built module.
"""

from collections.abc import Callable
from enum import IntEnum
from typing import Any

class px_mode(IntEnum):
    MODE_TCP = 0
    MODE_HTTP = 1
    MODE_HEALTH = 2

class balance_algo(IntEnum):
    BAL_ROUNDROBIN = 0
    BAL_SOURCE = 1
    BAL_STATIC_RR = 2
    BAL_LEASTCONN = 3
    BAL_FIRST = 4
    BAL_URI = 5
    BAL_HDR = 6
    BAL_RANDOM = 7
    BAL_URL_PARAM = 8
    BAL_HASH = 9

class http_reuse(IntEnum):
    REUSE_NEVER = 0
    REUSE_SAFE = 1
    REUSE_AGGRESSIVE = 2
    REUSE_ALWAYS = 3

class proxy_option(IntEnum):
    PO_HTTPCLOSE = ...
    PO_FORWARDFOR = ...
    PO_PERSIST = ...
    PO_REDISPATCH = ...
    PO_DONTLOGNULL = ...
    PO_HTTPLOG = ...
    PO_TCPLOG = ...
    PO_LOGASAP = ...
    PO_ALLBACKUPS = ...
    PO_HTTPCHK = ...
    PO_ABORTONCLOSE = ...
    PO_CHECKCACHE = ...
    PO_CLITCPKA = ...
    PO_SRVTCPKA = ...
    PO_NOLINGER = ...
    PO_FORCECLOSE = ...
    PO_HTTP_SERVER_CLOSE = ...
    PO_LOG_SEPARATE_ERRORS = ...
    PO_TCP_FASTPATH = ...
    PO_PREFER_LAST_SERVER = ...
    PO_ORIGINALTO = ...
    PO_DISABLE_H2_UPGRADE = ...
    PO_DONTLOG_NORMAL = ...
    PO_TCP_SMART_CONNECT = ...
    PO_HTTP_IGNORE_PROBES = ...
    PO_HTTP_BUFFER_REQUEST = ...

class cookie_mode(IntEnum):
    CK_NONE = 0
    CK_PASSIVE = 1
    CK_REWRITE = 2
    CK_INSERT = 3
    CK_PREFIX = 4

class srv_state(IntEnum):
    SRV_DOWN = 0
    SRV_UP = 1
    SRV_NOLB = 2

class check_status(IntEnum):
    CHK_UNKNOWN = 0
    CHK_L4OK = 1
    CHK_L4CON = 2
    CHK_L4TOUT = 3
    CHK_L7OK = 4
    CHK_L7STS = 5
    CHK_L7RSP = 6
    CHK_L7TOUT = 7
    CHK_L7OKC = 8
    CHK_L6OK = 9
    CHK_L6TOUT = 10
    CHK_L6RSP = 11
    CHK_CHECKED = 12
    CHK_SOCKERR = 13

class pp_opt(IntEnum):
    PP_OPT_CRC32C = ...
    PP_OPT_AUTHORITY = ...
    PP_OPT_SSL = ...
    PP_OPT_SSL_CN = ...
    PP_OPT_SSL_CIPHER = ...
    PP_OPT_SSL_SIG = ...
    PP_OPT_SSL_KEY = ...

class var_cond(IntEnum):
    VC_IFEXISTS = 1
    VC_IFNOTEXISTS = 2
    VC_IFEMPTY = 4
    VC_IFNOTEMPTY = 8
    VC_IFSET = 16
    VC_IFNOTSET = 32
    VC_IFGT = 64
    VC_IFLT = 128

class sample_fetch(IntEnum):
    SF_TRUE = 0
    SF_FALSE = 1
    SF_SRC = 2
    SF_SRC_PORT = 3
    SF_DST = 4
    SF_DST_PORT = 5
    SF_FE_NAME = 6
    SF_BE_NAME = 7
    SF_METHOD = 8
    SF_PATH = 9
    SF_PATHQ = 10
    SF_URL = 11
    SF_QUERY = 12
    SF_BASE = 13
    SF_VER = 14
    SF_HDR = 15
    SF_FHDR = 16
    SF_HDR_CNT = 17
    SF_FHDR_CNT = 18
    SF_HDR_VAL = 19
    SF_COOK = 20
    SF_COOK_CNT = 21
    SF_URL_PARAM = 22
    SF_PROTO_HTTP = 23
    SF_STR = 24
    SF_INT = 25
    SF_SRV_NAME = 26
    SF_STATUS = 27
    SF_REQ_LEN = 28
    SF_VAR = 29
    SF_SSL_FC = 30  # tls
    SF_SSL_FC_SNI = 31  # tls
    SF_UNIQUE_ID = 32
    SF_STK = 33
    SF_HTTP_AUTH = 34
    SF_HTTP_AUTH_GROUP = 35
    SF_SSL_FC_PROTOCOL = 36
    SF_SSL_FC_CIPHER = 37
    SF_SSL_FC_RESUMED = 38
    SF_SSL_FC_ALPN = 39
    SF_SSL_FC_HAS_SNI = 40
    SF_SSL_ZERO = 41
    SF_SSL_C_USED = 42
    SF_FC_ERR = 43
    SF_SSL_BC = 44
    SF_SSL_C_S_DN = 45
    SF_SSL_C_I_DN = 46
    SF_SSL_C_SERIAL = 47
    SF_SSL_C_SHA1 = 48
    SF_SSL_C_VERSION = 49
    SF_SSL_C_ERR = 50
    SF_REQ_PAYLOAD = 51
    SF_REQ_SSL_SNI = 52
    SF_REQ_SSL_HELLO = 53
    SF_REQ_SSL_VER = 54
    SF_REQ_PAYLOAD_LV = 55
    SF_REQ_RDP_COOKIE = 56
    SF_REQ_RDP_COOKIE_CNT = 57
    SF_RES_PAYLOAD = 58
    SF_RES_LEN = 59
    SF_CAPTURE_REQ = 60
    SF_CAPTURE_RES = 61
    SF_WAIT_END = 62
    SF_RES_COOK = 63
    SF_RES_COOK_CNT = 64
    SF_FC_ERR_STR = 65
    SF_NBSRV = 66
    SF_QUEUE = 67
    SF_BE_CONN = 68
    SF_CONNSLOTS = 69
    SF_SRV_IS_UP = 70
    SF_DATE = 71
    SF_RAND = 72
    SF_UUID = 73
    SF_SSL_FC_NPN = 74
    SF_REQ_BODY = 75
    SF_REQ_BODY_LEN = 76
    SF_REQ_BODY_SIZE = 77
    SF_REQ_BODY_PARAM = 78

class stk_op(IntEnum):
    STK_GET = 0
    STK_INC = 1
    STK_CLR = 2
    STK_TRACKED = 3
    STK_TRACKERS = 4
    STK_KBYTES = 5
    STK_TABLE_CNT = 6
    STK_TABLE_AVL = 7
    STK_IN_TABLE = 8
    STK_EXPIRE = 9
    STK_IDLE = 10

class stk_key_type(IntEnum):
    STK_IP = 0
    STK_IPV6 = 1
    STK_INTEGER = 2
    STK_STRING = 3
    STK_BINARY = 4

class stk_data(IntEnum):
    STD_SERVER_ID = 0
    STD_GPT0 = 1
    STD_GPC0 = 2
    STD_GPC0_RATE = 3
    STD_CONN_CNT = 4
    STD_CONN_RATE = 5
    STD_CONN_CUR = 6
    STD_SESS_CNT = 7
    STD_SESS_RATE = 8
    STD_HTTP_REQ_CNT = 9
    STD_HTTP_REQ_RATE = 10
    STD_HTTP_ERR_CNT = 11
    STD_HTTP_ERR_RATE = 12
    STD_BYTES_IN_CNT = 13
    STD_BYTES_IN_RATE = 14
    STD_BYTES_OUT_CNT = 15
    STD_BYTES_OUT_RATE = 16
    STD_GPC1 = 17
    STD_GPC1_RATE = 18
    STD_SERVER_KEY = 19
    STD_HTTP_FAIL_CNT = 20
    STD_HTTP_FAIL_RATE = 21
    STD_GPT = 22
    STD_GPC = 23
    STD_GPC_RATE = 24

class StkTable:
    shape: tuple[Any, ...]
    def __init__(self, key_type: int, key_size: int, size: int, expire_ms: int, nopurge: bool,
                 data: list[tuple[int, int] | tuple[int, int, int]]) -> None: ...
    @property
    def used(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def seq(self) -> int: ...
    def entries(self, since: int = 0) -> list[tuple[bytes, int, int, int, dict[int, int | list[int]]]]: ...
    def lookup(self, key: bytes) -> tuple[int, int, dict[int, int | list[int]]] | None: ...
    def set(self, key: bytes, values: dict[int, int], expire_ms: int = -1) -> bool: ...
    def count(self, key: bytes, t: int, n: int = 1) -> bool: ...
    def track_many(self, key: bytes, t: int, loops: int) -> int: ...
    def clear(self, key: bytes | None = None) -> int: ...
    def purge(self) -> int: ...

class sample_conv(IntEnum):
    SC_LOWER = 0
    SC_UPPER = 1
    SC_LENGTH = 2
    SC_MAP = 3
    SC_BYTES = 4
    SC_FIELD = 5
    SC_WORD = 6
    SC_REGSUB = 7
    SC_HEX = 8
    SC_BASE64 = 9
    SC_URL_DEC = 10
    SC_JSON = 11
    SC_LTRIM = 12
    SC_RTRIM = 13
    SC_SDBM = 14
    SC_DJB2 = 15
    SC_WT6 = 16
    SC_CRC32 = 17
    SC_ADD = 18
    SC_SUB = 19
    SC_MUL = 20
    SC_DIV = 21
    SC_MOD = 22
    SC_AND = 23
    SC_OR = 24
    SC_XOR = 25
    SC_NEG = 26
    SC_NOT = 27
    SC_BOOL = 28
    SC_ODD = 29
    SC_EVEN = 30
    SC_IPMASK = 31
    SC_TABLE = 32
    SC_B64DEC = 33
    SC_STRCMP = 34
    SC_CONCAT = 35
    SC_XXH32 = 36
    SC_XXH64 = 37
    SC_XXH3 = 38
    SC_SET_VAR = 39
    SC_URL_ENC = 40
    SC_IIF = 41
    SC_SECURE_MEMCMP = 42

class pattern_match(IntEnum):
    PM_STR = 0
    PM_BEG = 1
    PM_END = 2
    PM_SUB = 3
    PM_REG = 4
    PM_DOM = 5
    PM_DIR = 6
    PM_IP = 7
    PM_INT = 8
    PM_LEN = 9
    PM_FOUND = 10
    PM_BOOL = 11

class sample_type(IntEnum):
    SMP_NONE = 0
    SMP_STR = 1
    SMP_INT = 2
    SMP_IP = 3
    SMP_BOOL = 4

class uri_normalizer(IntEnum):
    NU_FRAGMENT_ENCODE = 0
    NU_FRAGMENT_STRIP = 1
    NU_MERGE_SLASHES = 2
    NU_STRIP_DOT = 3
    NU_STRIP_DOTDOT = 4
    NU_PERCENT_DECODE = 5
    NU_PERCENT_UPPER = 6
    NU_QUERY_SORT = 7

class log_override(IntEnum):
    LOG_SILENT = 9

class log_var(IntEnum):
    LV_TEXT = 0
    LV_SAMPLE = 1
    LV_BYTES_READ = 2
    LV_CAPTURED_REQ_COOKIE = 3
    LV_CAPTURED_RSP_COOKIE = 4
    LV_HOSTNAME = 5
    LV_HTTP_METHOD = 6
    LV_HTTP_PATH = 7
    LV_HTTP_PATH_ONLY = 8
    LV_HTTP_QUERY = 9
    LV_HTTP_URI = 10
    LV_HTTP_VERSION = 11
    LV_STATUS = 12
    LV_DATE_GMT = 13
    LV_TA = 14
    LV_TC = 15
    LV_TD = 16
    LV_DATE_LOCAL = 17
    LV_TH = 18
    LV_TI = 19
    LV_TQ = 20
    LV_TR_REQ = 21
    LV_TR = 22
    LV_TS = 23
    LV_TT = 24
    LV_TU = 25
    LV_TW = 26
    LV_BYTES_UPLOADED = 27
    LV_ACTCONN = 28
    LV_BACKEND = 29
    LV_BECONN = 30
    LV_BACKEND_QUEUE = 31
    LV_CLIENT_IP = 32
    LV_CLIENT_PORT = 33
    LV_FRONTEND = 34
    LV_FECONN = 35
    LV_FRONTEND_IP = 36
    LV_FRONTEND_PORT = 37
    LV_FRONTEND_TRANSPORT = 38
    LV_LOG_COUNTER = 39
    LV_HDR_REQ = 40
    LV_HDR_REQ_LIST = 41
    LV_HDR_RSP = 42
    LV_HDR_RSP_LIST = 43
    LV_MS = 44
    LV_PID = 45
    LV_REQUEST = 46
    LV_RETRIES = 47
    LV_REQ_COUNTER = 48
    LV_SERVER = 49
    LV_SRVCONN = 50
    LV_SERVER_IP = 51
    LV_SERVER_PORT = 52
    LV_SRV_QUEUE = 53
    LV_DATE = 54
    LV_DATE_REQ = 55
    LV_DATE_REQ_GMT = 56
    LV_DATE_REQ_LOCAL = 57
    LV_TERM_STATE = 58
    LV_TERM_STATE_COOKIE = 59
    LV_UNIQUE_ID = 60
    LV_SSL_VERSION = 61
    LV_SSL_CIPHER = 62

LOG_FACILITIES: list[str]
LOG_LEVELS: list[str]
ERROR_CODES: tuple[int, ...]  # the statuses a proxy's error pages may replace (2.6's)
STATS_ADMIN_HEADER: str  # the header a worker adds to a stats request `stats admin` allows

class Shm:
    tables: list[StkTable]
    def __init__(self, nproxy: int, nsrv: int, nworkers: int) -> None: ...
    @property
    def nproxy(self) -> int: ...
    @property
    def nsrv(self) -> int: ...
    @property
    def nworkers(self) -> int: ...
    @property
    def start_ms(self) -> int: ...
    @property
    def maps_gen(self) -> int: ...
    def bump_maps_gen(self) -> int: ...
    def kill_srv_sessions(self, i: int, backup_left: bool) -> None: ...
    def srv_state(self, i: int) -> int: ...
    def set_srv_state(self, i: int, state: int, now_ms: int = 0) -> None: ...
    def srv_admin_down(self, i: int) -> bool: ...
    def set_srv_admin_down(self, i: int, down: bool) -> None: ...
    def srv_weight(self, i: int) -> int: ...
    def set_srv_weight(self, i: int, w: int) -> None: ...
    def set_srv_check(self, i: int, status: int, duration_ms: int, health: int, code: int = 0) -> None: ...
    def set_srv_agent(self, i: int, status: int, duration_ms: int, health: int, code: int,
                      drain: int = -1) -> None: ...
    def srv_info(self, i: int) -> dict[str, Any]: ...
    def counters(self, worker: int, slot: int) -> dict[str, Any]: ...
    def counters_sum(self, slot: int) -> dict[str, Any]: ...
    def srv_sessions(self) -> list[int]: ...
    def reset_worker(self, worker: int) -> None: ...

def chash_key(a: int) -> int: ...
def hash_key(fn: str, key: bytes, avalanche: int = 0) -> int: ...
def px_conf_fields() -> tuple[str, ...]: ...
def srv_conf_fields() -> tuple[str, ...]: ...
def log_parse_address(address: str) -> tuple[str, str, int]: ...
def log_setup(plan: Any) -> None: ...
def tls_check(cfg: Any) -> None: ...  # tls
def tls_srv_check(cfg: Any) -> None: ...  # tls: server ... ssl

class TlsCache:  # tls: the session cache the workers share (ext/tlscache.pxi)
    def __init__(self, entries: int) -> None: ...
    def activate(self) -> None: ...
    def counters(self) -> tuple[int, int]: ...
class TlsContexts:  # tls: a generation's contexts, built by the master before fork (ext/tlssrv.pxi)
    def __init__(self, tls: list[Any], servers: list[Any]) -> None: ...
class Sockmap:  # `option tcp-fastpath`: the generation's SOCKHASH maps and program (ext/sockmap.pxi)
    def __init__(self, entries: int) -> None: ...
    def activate(self) -> None: ...
    def close(self) -> None: ...
def set_maps_refresh(fn: Callable[[int], list[Any]]) -> None: ...
def run_worker(plan: Any, shm: Shm, worker_idx: int,
               listeners: list[tuple[int, int, int, int, int, int, str]], debug: int = 0,
               tls: list[Any] | None = None, privileged_done: Callable[[], None] | None = None,
               contexts: TlsContexts | None = None) -> int: ...
