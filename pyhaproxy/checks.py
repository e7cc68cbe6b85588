"""Health checks of the servers, run once by the master for every worker (HAProxy 1.2 semantics).

Each server with `check` gets one non-blocking TCP connect per interval (plus an HTTP request when
the proxy has `option httpchk`); `rise`/`fall` consecutive results move it UP/DOWN, the new state
goes to shared memory for the workers and the transition is logged with HAProxy 1.2.12's texts.

Facts taken from HAProxy 1.2.12 (haproxy.c: process_chk, set_server_down, cfg parsing):
  * a checked server starts UP with health = rise ("up, but will fall down at first failure"):
    health runs 0..rise+fall-1, UP means health >= rise. A success raises health by one and, once
    it reaches rise, pins it to rise+fall-1. A failure lowers it by one while it is above rise;
    at rise or below the server is (or stays) DOWN and health restarts at 0. So a server that has
    never passed a check drops at its first failure; one that passed goes down after `fall`
    consecutive failures; a DOWN server comes back after `rise` consecutive successes.
  * the check's timeout is `inter`; the next check is due `inter` after the previous one started
    (on a timeout that slot has passed, so the next one is a whole interval later).
  * the first check of the n-th checked server of a proxy is due at
    inter + mininter * n / nbchk, so the checks of one proxy do not fire together.
  * HTTP check: `METHOD URI VERSION\\r\\n\\r\\n` (default `OPTIONS / HTTP/1.0`); a reply starting
    with `HTTP/1.x 2xx` or `3xx` passes, anything else fails.
  * `option smtpchk [HELO|EHLO domain]` (default `HELO localhost`): 2.6's rule set (below): the
    greeting must be a 2xx line, then the command is sent and its reply must be 2xx too.
  * `option ssl-hello-chk`: a TLS ClientHello is sent and the reply must be a TLS record of type
    handshake (22) or alert (21), proof that an SSL/TLS stack answered.
    When a proxy names several, ssl-hello-chk is used, else smtpchk, else httpchk.
  * messages, as 2.6 writes them: "[Backup ]Server PX/SRV is DOWN|UP, reason: ..., [code: N, ]
    [info: "...", ]check duration: Nms. ..." counting the proxy's servers still UP (and, for
    DOWN, the sessions the workers still have on the server: they are not cut), then
    "backend 'PX' has no server available!" ("proxy" for a listen; unquoted in the syslog line)
    when none is left; stderr [WARNING] plus syslog at alert (DOWN) / notice (UP), and [ALERT]
    plus emerg for the last one.
  * TLS (`server ... ssl` checked where its traffic goes, or `check-ssl`): the check's connection
    does a TLS handshake first (its PROXY header before it), with the server's `verify`, `ca-file`,
    `crt`, `ciphers`, versions, and `check-sni` as SNI (`verifyhost` names the certificate's
    expected name when there is no check-sni, and is then sent as SNI too: Python's ssl checks
    the name it sends); a plain connect check that completes its handshake is L6OK, a failed
    handshake L6RSP ("SSL handshake failure", or 2.6's words for a certificate with another
    name), a handshake that does not finish in time L6TOUT.
`timeout check` (HAProxy 1.3.15+): when set, the connect phase may last min(timeout connect,
inter) and the reply `timeout check` from the connection; without it the whole check has `inter`.
`fastinter`/`downinter` (HAProxy 1.3) are honoured: downinter while fully down, fastinter while
the health counter is between its ends. A server put down by the operator (shm admin_down) is
not checked until it is enabled again, and does not count among the servers left.

HAProxy 2.6 additions:
  * `option tcp-check` with `tcp-check connect|send|send-binary|expect|comment` rules, and the
    protocol checks 2.6 defines as rule sets (config/kw_tcpcheck.py: `redis-check`, `mysql-check`,
    `pgsql-check`, `ldap-check`, `smtpchk`), run by one engine (the `_tc_*` methods) as 2.6's
    tcpcheck_main(): an implicit connect first, comments given to the rules after them, a send
    clears what was read, an expect waits for data while more could change its verdict (resuming
    at the head of its chain of inverted expects), `min-recv`, `!`, ok/error/tout-status,
    on-success/on-error and status-code over `res.payload(O,L)`, and 2.6's texts ("TCPCHK did not
    match content 'X' at step N", "Connection refused at initial connection step of tcp-check",
    " at step N of tcp-check (expect string 'X')" on a timeout, "(tcp-check)" on success).
  * `spread-checks N`: each next check is moved by a random +/- N % of its interval.
  * a connection reset before any data of a tcp-check is SOCKERR ("Socket error").
  * server `agent-check`: a second target per server (kind tcpcheck, `agent`), rise = fall = 1;
    its line's words change the server's health (up/down/stopped/fail), administrative state
    (ready/drain/maint) and weight (N%), as 2.6's tcpcheck_agent_expect_reply(); only an agent's
    L7STS puts the server DOWN, and it comes UP only when its health check and agent agree.
  * `http-check send [meth M] [uri U] [ver V] [hdr N V]... [body S]`: the request is built as 2.6
    sends it: header names lower-cased, then `content-length` (when there is a body, or on
    HTTP/1.1 for a method other than GET/HEAD), then `connection: close` on HTTP/1.1 unless a
    `hdr connection` was given.
  * `http-check expect [!] string S | rstring RE`: the body (after the headers, up to the
    Content-Length or the end of the connection, at most tune.chksize = 16384 bytes) must contain
    S / match RE; a mismatch waits for more data until then. Failures are L7RSP with 2.6's
    "HTTP content check did not match" / "HTTP check matched unwanted content".
  * `http-check disable-on-404`: a 404 from a server that is not DOWN "conditionally passes"
    (L7OKC): the server goes to NOLB (SRV_NOLB in shared memory): no new load-balanced traffic,
    persistent requests still reach it; "Server PX/SRV is stopping" is logged at notice. A normal
    pass brings it back UP; a failure from NOLB logs DOWN at notice rather than alert.
  * `option log-health-checks`: each check whose status differs from the previous one, or that
    moved the health counter, is logged (stderr warning + the proxy's log at notice) as
    "Health check for [backup ]server PX/SRV [conditionally ]succeeded|failed, reason: ...,
    code: N, info: "...", check duration: Nms, status: A/B UP|DOWN."
"""

from __future__ import annotations

import dataclasses
import errno
import os
import random
import re
import selectors
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyhaproxy._core import check_status, srv_state
from pyhaproxy.config.kw_tcpcheck import smtp_rules
from pyhaproxy.config.model import Config, Proxy, Server, TcpCheckRule
from pyhaproxy.config.tls_server import ServerTLS, checks_tls
from pyhaproxy.logs import LOG_ALERT, LOG_EMERG, LOG_NOTICE
from pyhaproxy.shm import follow_maintenance, server_marked_down, server_marked_up, server_table

# A status line is judged on its first 12 bytes, "HTTP/1.x NNN" (HAProxy 1.2 looked at reply[9]).
_STATUS_LEN = 12
# Anything longer than this without a verdict is not an HTTP reply worth waiting for.
_MAX_REPLY = 4096
# 2.6's tune.chksize default: how much of a reply a body match reads at most.
CHKSIZE = 16384

# check_status -> 2.6's reason text (get_check_status_description)
REASONS: dict[int, str] = {
    check_status.CHK_UNKNOWN: "Unknown",
    check_status.CHK_L4OK: "Layer4 check passed",
    check_status.CHK_L4CON: "Layer4 connection problem",
    check_status.CHK_L4TOUT: "Layer4 timeout",
    check_status.CHK_L7OK: "Layer7 check passed",
    check_status.CHK_L7OKC: "Layer7 check conditionally passed",
    check_status.CHK_L7STS: "Layer7 wrong status",
    check_status.CHK_L7RSP: "Layer7 invalid response",
    check_status.CHK_L7TOUT: "Layer7 timeout",
    check_status.CHK_L6OK: "Layer6 check passed",
    check_status.CHK_L6TOUT: "Layer6 timeout",
    check_status.CHK_L6RSP: "Layer6 invalid response",
    check_status.CHK_CHECKED: "No status change",
    check_status.CHK_SOCKERR: "Socket error",
}
# statuses at or above 2.6's HCHK_STATUS_L57DATA print the reply's code
_WITH_CODE = (check_status.CHK_L7OK, check_status.CHK_L7OKC, check_status.CHK_L7STS)


def _status_text(status: int, code: int, desc: str, duration_ms: int) -> str:
    """What 2.6 appends to a check's messages (srv_append_status): ", reason: ...[, code: N]
    [, info: "..."], check duration: Nms"."""
    text = f", reason: {REASONS.get(status, 'Unknown')}"
    if status in _WITH_CODE:
        text += f", code: {code}"
    if desc:
        text += ', info: "' + desc.replace('"', '\\"') + '"'
    return text + f", check duration: {duration_ms}ms"


def http_check_request(px: Proxy) -> bytes:
    """The request an `option httpchk` check sends, `http-check send` applied (2.6's form)."""
    hc = px.httpchk
    send = px.http_check_send
    method = (send.method if send and send.method else None) or (hc.method if hc else "OPTIONS")
    uri = (send.uri if send and send.uri else None) or (hc.uri if hc else "/")
    version = (send.version if send and send.version else None) or (hc.version if hc else "HTTP/1.0")
    if send is None:
        return f"{method} {uri} {version}\r\n\r\n".encode("latin-1")
    lines = [f"{method} {uri} {version}"]
    has_conn = False
    for name, value in send.headers:
        lname = name.lower()
        if lname == "connection":
            has_conn = True
        if lname == "content-length":
            continue  # 2.6 computes it
        lines.append(f"{lname}: {value}")
    body = send.body or ""
    v11 = version.upper() == "HTTP/1.1"
    if body or (v11 and method.upper() not in ("GET", "HEAD")):
        lines.append(f"content-length: {len(body.encode('latin-1'))}")
    if v11 and not has_conn:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("latin-1")


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


def _status_expected(expect: tuple[bool, str, str], status: str) -> bool:
    """`http-check expect [!] status CODES|RANGES` or `rstatus REGEX` against a reply's status."""
    neg, kind, pattern = expect
    if kind == "rstatus":
        hit = re.search(pattern, status) is not None
    else:
        code = int(status)
        hit = False
        for part in pattern.split(","):
            lo, _, hi = part.partition("-")
            if int(lo) <= code <= int(hi or lo):
                hit = True
    return hit != neg


def _client_hello() -> bytes:
    """A TLS 1.2 ClientHello without extensions, with common RSA and ECDHE suites: any TLS stack
    answers it with a handshake record (a ServerHello) or an alert (21)."""
    suites = bytes.fromhex("c02f c030 009c 009d 002f 0035 000a 00ff".replace(" ", ""))
    body = (b"\x03\x03" + bytes(range(32)) + b"\x00" + len(suites).to_bytes(2, "big") + suites
            + b"\x01\x00")
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


_SSL_HELLO = _client_hello()

# tcp-check status names -> check_status (2.6's L7OKD/L7OKCD are L7OK/L7OKC in its output)
_TC_STATUS: dict[str, int] = {
    "L4OK": check_status.CHK_L4OK, "L4CON": check_status.CHK_L4CON, "L4TOUT": check_status.CHK_L4TOUT,
    "L6OK": check_status.CHK_L6OK, "L6RSP": check_status.CHK_L6RSP, "L6TOUT": check_status.CHK_L6TOUT,
    "L7OK": check_status.CHK_L7OK, "L7OKC": check_status.CHK_L7OKC, "L7RSP": check_status.CHK_L7RSP,
    "L7STS": check_status.CHK_L7STS, "L7TOUT": check_status.CHK_L7TOUT,
}
# 2.6's HCHK_DESC_LEN - 1: how much of a check's text it keeps
_DESC_LEN = 127


class ShmLike(Protocol):
    """The part of pyhaproxy._core.Shm the checker uses."""

    def srv_state(self, i: int) -> int: ...
    def set_srv_state(self, i: int, state: int, now_ms: int) -> None: ...
    def kill_srv_sessions(self, i: int, backup_left: bool) -> None: ...
    def srv_weight(self, i: int) -> int: ...
    def set_srv_check(self, i: int, status: int, duration_ms: int, health: int, code: int = 0) -> None: ...
    def srv_admin_down(self, i: int) -> bool: ...
    def srv_info(self, i: int) -> dict[str, Any]: ...
    def set_srv_agent(self, i: int, status: int, duration_ms: int, health: int, code: int,
                      drain: int = -1) -> None: ...
    def set_srv_admin_down(self, i: int, down: bool) -> None: ...
    def set_srv_weight(self, i: int, w: int) -> None: ...


class LogLike(Protocol):
    """The master's log as far as the checker needs it (any sink with these four methods).

    When the object also has pyhaproxy.logs.MasterLog's `proxy_log(proxy, level, msg)` and the
    `syslog=False` switch of alert/warning, messages are routed exactly as HAProxy 1.2 did:
    stderr [WARNING]/[ALERT] line plus send_log() to the proxy's own log targets.
    """

    def alert(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def notice(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...


def _check_proxy_header(sock: socket.socket, version: int) -> bytes:
    """The PROXY header of a health check, as haproxy 2.6 sends it: v2 is a LOCAL command
    (the check is the proxy's own connection), v1 names the check connection's own addresses."""
    if version == 2:
        return b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"
    try:
        src, dst = sock.getsockname(), sock.getpeername()
    except OSError:
        return b"PROXY UNKNOWN\r\n"
    if sock.family == socket.AF_INET:
        return f"PROXY TCP4 {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()
    if sock.family == socket.AF_INET6:
        return f"PROXY TCP6 {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()
    return b"PROXY UNKNOWN\r\n"


def _wall_ms() -> int:
    return int(time.time() * 1000)


def _parse_source(spec: str) -> tuple[str, int]:
    """`ip[:port]` (IPv6 as `[ip]:port` or bare) -> (ip, port)."""
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 0
    if spec.count(":") == 1:
        host, _, port = spec.partition(":")
        return host, int(port) if port.isdigit() else 0
    return spec, 0


def _tls_version(name: str) -> ssl.TLSVersion:
    """`TLSv1.2` -> ssl.TLSVersion.TLSv1_2 (`TLSv1.0` is TLSv1 there)."""
    return ssl.TLSVersion[name.replace(".", "_").replace("TLSv1_0", "TLSv1")]


def _check_tls_context(t: ServerTLS) -> tuple[ssl.SSLContext, str | None]:
    """The TLS client context of a server's checks (its settings, as its traffic's), and the
    name it sends and expects: `check-sni`, else `verifyhost`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    name = t.check_sni or t.verifyhost
    ctx.check_hostname = bool(t.verify and name)
    ctx.verify_mode = ssl.CERT_REQUIRED if t.verify else ssl.CERT_NONE
    if t.verify:
        for f in t.ca_files:
            if f == "@system-ca":
                ctx.load_default_certs()
            else:
                ctx.load_verify_locations(cafile=f)
    if t.crt:
        ctx.load_cert_chain(t.crt)
    if t.ciphers:
        ctx.set_ciphers(t.ciphers)
    ctx.minimum_version = _tls_version(t.min_ver or "TLSv1.2")
    if t.max_ver:
        ctx.maximum_version = _tls_version(t.max_ver)
    if t.no_tls_tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx, name


@dataclass(eq=False)
class _Target:
    """One checked server: its static parameters, its health and its check in flight."""

    idx: int
    pidx: int
    proxy: Proxy
    srv: Server
    family: int
    sockaddr: tuple[Any, ...] | None  # None: the name did not resolve
    request: bytes | None
    source: tuple[str, int] | None
    health: int
    kind: str = "tcp"   # tcp, http, smtp or ssl: how the reply is judged
    proxy_version: int = 0  # 1 or 2: a PROXY header opens each check (check-send-proxy)
    up: bool = True     # UP by its health (NOLB included)
    nolb: bool = False  # UP but out of load balancing (disable-on-404)
    prev_status: int = 0  # check_status of the previous check (log-health-checks)
    next_start: float = 0.0
    # the check in flight (sock is None when idle)
    sock: socket.socket | None = None
    started: float = 0.0
    deadline: float = 0.0
    connected: bool = False
    reply: bytearray = field(default_factory=bytearray)
    cb: Callable[[int], None] | None = None
    tls: ssl.SSLContext | None = None   # check over TLS (check-ssl)
    tls_name: str | None = None         # its SNI / expected certificate name
    handshaking: bool = False
    # tcp-check (kind "tcpcheck"): the rules, comments folded in, a connect first
    rules: list[TcpCheckRule] = field(default_factory=list)
    tcp_chk: bool = False    # the proxy's own `tcp-check` rules (2.6's generic messages)
    step: int = 0            # the rule being evaluated
    must_read: bool = False  # an expect must wait for data read after the last send/connect
    eof: bool = False        # the server closed (or the read failed): no more data
    conn_tls: bool = False   # the current connection is TLS (an ending connect is L6OK)
    # per connect rule (by index in rules): where it goes, its TLS, its PROXY header version
    rule_addr: dict[int, tuple[int, tuple[Any, ...] | None]] = field(default_factory=dict)
    rule_tls: dict[int, tuple[ssl.SSLContext, str | None]] = field(default_factory=dict)
    rule_pp: dict[int, int] = field(default_factory=dict)
    agent: bool = False      # the server's `agent-check` (rise 1, fall 1, its own interval)
    agent_status: int = 0    # its last status (kept when a reply announces no health)
    drained_from: int = 0    # the weight an agent's `drain` took away (0: not drained)
    last_desc: str = ""      # the last result's text (show stat's last_chk / last_agt)

    @property
    def label(self) -> str:
        return f"{self.proxy.name}/{self.srv.name}"

    def interval_ms(self) -> int:
        """Time between two checks: HAProxy 1.3's inter / fastinter / downinter choice."""
        s = self.srv
        if self.agent:
            return s.agent_inter or s.inter
        if self.health >= s.rise + s.fall - 1:
            return s.inter
        if not self.up and self.health == 0:
            return s.downinter or s.inter
        return s.fastinter or s.inter


class HealthChecker:
    """All health checks of one configuration, driven by the master's selector loop."""

    def __init__(self, cfg: Config, shm: ShmLike, log: LogLike,
                 restored: frozenset[int] = frozenset()) -> None:
        self._cfg = cfg
        self._shm = shm
        self._log = log
        # servers whose state and health came from the server state file (server_state.py):
        # their checks start from there instead of "UP, health = rise"
        self._restored = restored
        self._sel: selectors.BaseSelector | None = None
        self._closed = False
        self._targets: list[_Target] = []
        # global indexes of every server of each proxy, and whether it is a backup, for counting
        self._members: dict[int, list[tuple[int, bool]]] = {}
        # `track`: the servers that follow each server's state, (index, proxy index, server)
        self._trackers: dict[int, list[tuple[int, int, Server]]] = {}
        self._checks: dict[int, _Target] = {}   # server index -> its health check
        self._agents: dict[int, _Target] = {}   # server index -> its agent check
        self._build(time.monotonic())

    def _say(self, px: Proxy, stderr_kind: str, level: int | None, msg: str,
             syslog_msg: str | None = None) -> None:
        """One message: `stderr_kind` ("warning"/"alert") on stderr, syslog `level` (None: none),
        `syslog_msg` there when it differs.

        HAProxy prints check transitions with ha_warning()/ha_alert() and sends them with
        send_log(proxy, level), i.e. to the proxy's log targets. A plain sink gets the level's method.
        """
        log: Any = self._log
        proxy_log = getattr(log, "proxy_log", None)
        if proxy_log is not None:
            getattr(log, stderr_kind)(msg, syslog=False)
            if level is not None:
                proxy_log(px, level, msg if syslog_msg is None else syslog_msg)
        elif level is None:
            getattr(log, stderr_kind)(msg)
        elif level == LOG_NOTICE:
            log.notice(msg)
        else:
            log.alert(msg)

    # ---- setup -------------------------------------------------------------------------------

    def _build(self, now: float) -> None:
        by_proxy: dict[int, list[tuple[int, Server]]] = {}
        for idx, pidx, srv in server_table(self._cfg):
            self._members.setdefault(pidx, []).append((idx, srv.backup))
            by_proxy.setdefault(pidx, []).append((idx, srv))
            if srv.track_gi >= 0 and not self._cfg.proxies[pidx].disabled:
                self._trackers.setdefault(srv.track_gi, []).append((idx, pidx, srv))
        now_ms = _wall_ms()
        for pidx, entries in by_proxy.items():
            px = self._cfg.proxies[pidx]
            if px.disabled:
                continue
            targets: list[_Target] = []
            for idx, srv in entries:
                if not srv.check:
                    continue
                t = self._make_target(idx, pidx, px, srv)
                if t is not None:
                    targets.append(t)
            if not targets:
                continue
            # HAProxy spreads the first checks of a proxy over its smallest interval.
            mininter = min(t.srv.inter for t in targets)
            cap = self._cfg.global_.max_spread_checks
            if cap and mininter > cap:
                mininter = cap  # 2.6's max-spread-checks
            for pos, t in enumerate(targets):
                first_ms = t.srv.inter + mininter * pos // len(targets)
                t.next_start = now + first_ms / 1000.0
                if t.idx in self._restored:
                    t.health = self._shm.srv_info(t.idx)["check_health"]
                    # (a server restored DOWN comes UP through _set_up once its checks pass)
                    state = self._shm.srv_state(t.idx)
                    t.up = state != srv_state.SRV_DOWN
                    t.nolb = state == srv_state.SRV_NOLB
                    continue
                self._shm.set_srv_state(t.idx, srv_state.SRV_UP, now_ms)
                self._shm.set_srv_check(t.idx, check_status.CHK_UNKNOWN, 0, t.health)
            self._targets.extend(targets)
        for t in self._targets:
            self._checks[t.idx] = t
        for pidx, entries in by_proxy.items():
            px = self._cfg.proxies[pidx]
            if px.disabled:
                continue
            for idx, srv in entries:
                if srv.agent_check and srv.agent_port:
                    a = self._make_agent(idx, pidx, px, srv)
                    a.next_start = now + a.interval_ms() / 1000.0
                    self._agents[idx] = a
                    self._targets.append(a)
                    if idx not in self._checks:
                        self._shm.set_srv_state(idx, srv_state.SRV_UP, now_ms)
                    self._shm.set_srv_agent(idx, check_status.CHK_UNKNOWN, 0, a.health, 0)

    def _make_agent(self, idx: int, pidx: int, px: Proxy, srv: Server) -> _Target:
        """The agent check of a server: 2.6's agent rule set (connect to the agent, send
        agent-send if any, read one line), with rise = fall = 1."""
        host = srv.agent_addr or srv.host
        family: int = socket.AF_INET
        sockaddr: tuple[Any, ...] | None = None
        try:
            info = socket.getaddrinfo(host, srv.agent_port, type=socket.SOCK_STREAM)[0]
            family, sockaddr = info[0], tuple(info[4])
        except (OSError, UnicodeError):
            self._log.alert(f"Cannot resolve address '{host}' of server {px.name}/{srv.name}.")
        source_spec = srv.source or px.source
        t = _Target(idx=idx, pidx=pidx, proxy=px, srv=srv, family=family, sockaddr=sockaddr,
                    request=None, source=_parse_source(source_spec) if source_spec else None,
                    health=1, kind="tcpcheck", agent=True)
        rules = [TcpCheckRule("connect", implicit=True)]
        if srv.agent_send:
            rules.append(TcpCheckRule("send", data=srv.agent_send, index=1))
        rules.append(TcpCheckRule("expect", kind="agent", index=len(rules)))
        t.rules = rules
        t.rule_addr[0] = (family, sockaddr)
        return t

    def _make_target(self, idx: int, pidx: int, px: Proxy, srv: Server) -> _Target | None:
        port = srv.check_port if srv.check_port is not None else srv.port
        if not port:
            # HAProxy's parser rejects this config; should one get here, the server is not checked
            self._log.alert(
                f"parsing [{srv.where.file}:{srv.where.line}] : server {srv.name} has neither "
                "service port nor check port. Check has been disabled."
            )
            return None
        host = srv.check_addr or srv.host
        # resolved once, at startup as HAProxy did, so the loop never blocks on DNS
        family: int = socket.AF_INET
        sockaddr: tuple[Any, ...] | None = None
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            family, sockaddr = info[0], tuple(info[4])
        except (OSError, UnicodeError):
            self._log.alert(f"Cannot resolve address '{host}' of server {px.name}/{srv.name}.")
        request = None
        kind = "tcp"
        if px.tcpcheck is not None:
            kind = "tcpcheck"
        elif "ssl-hello-chk" in px.options:
            request, kind = _SSL_HELLO, "ssl"
        elif px.smtpchk is not None:
            kind = "tcpcheck"    # 2.6: a predefined tcp-check rule set
        elif px.httpchk is not None:
            request = http_check_request(px)
            kind = "http"
        source_spec = srv.source or px.source
        source = _parse_source(source_spec) if source_spec else None
        # haproxy 2.6: the header goes with the checks under `check-send-proxy`, or when the
        # traffic has one and the check goes where the traffic goes (no `port`, no `addr`)
        pp = 0
        if srv.check_send_proxy or (srv.send_proxy and srv.check_addr is None
                                    and srv.check_port in (None, srv.port)):
            pp = 2 if srv.send_proxy == 2 else 1
        target = _Target(idx=idx, pidx=pidx, proxy=px, srv=srv, family=family, sockaddr=sockaddr,
                         request=request, source=source, health=srv.rise, kind=kind, proxy_version=pp)
        same_place = srv.check_addr is None and srv.check_port in (None, srv.port)
        if checks_tls(srv.tls, same_place):
            assert srv.tls is not None
            target.tls, target.tls_name = _check_tls_context(srv.tls)
        if kind == "tcpcheck":
            self._tcpcheck_setup(target, port)
            target.sockaddr = target.rule_addr[0][1]
            target.family = target.rule_addr[0][0]
        return target

    def _tcpcheck_setup(self, t: _Target, port: int) -> None:
        """The rules a tcp-check runs, as 2.6's check_proxy_tcpcheck() leaves them: comments
        given to the rules that follow them (of one kind), an implicit connect first."""
        px, srv = t.proxy, t.srv
        t.tcp_chk = px.tcpcheck == "tcp"
        src = px.tcpcheck_rules if t.tcp_chk else px.tcpcheck_proto
        if px.tcpcheck is None and px.smtpchk is not None:
            src = smtp_rules(f"{px.smtpchk[0]} {px.smtpchk[1]}")
        rules: list[TcpCheckRule] = []
        comment: str | None = None
        prev = "comment"
        for r in src:
            if r.action != prev and prev != "comment":
                comment = None
            prev = r.action
            if r.action == "comment":
                comment = r.comment
                continue
            if r.comment is None and comment is not None:
                r = dataclasses.replace(r, comment=comment)
            if r.action == "connect":
                comment = None
            rules.append(r)
        if not rules or rules[0].action != "connect":
            rules.insert(0, TcpCheckRule("connect", default=True, implicit=True))
        t.rules = rules
        for n, r in enumerate(rules):
            if r.action != "connect":
                continue
            host = r.addr or srv.check_addr or srv.host
            rport = r.port or r.addr_port or port
            try:
                info = socket.getaddrinfo(host, rport, type=socket.SOCK_STREAM)[0]
                t.rule_addr[n] = (info[0], tuple(info[4]))
            except (OSError, UnicodeError):
                t.rule_addr[n] = (socket.AF_INET, None)
            if r.send_proxy:
                t.rule_pp[n] = 2 if srv.send_proxy == 2 else 1
            elif r.default:
                t.rule_pp[n] = t.proxy_version
            if r.ssl:
                if srv.tls is not None:
                    ctx, name = _check_tls_context(srv.tls)
                else:
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    name = None
                if r.alpn:
                    ctx.set_alpn_protocols(r.alpn.split(","))
                t.rule_tls[n] = (ctx, r.sni or name)
            elif r.default and t.tls is not None:
                t.rule_tls[n] = (t.tls, r.sni or t.tls_name)

    # ---- the master's interface --------------------------------------------------------------

    def last_texts(self, idx: int) -> tuple[str, str]:
        """show stat's last_chk and last_agt of a server: its checks' last texts (2.6's
        check->desc), for the tcp-check rule sets and agents (other checks: empty)."""
        c, a = self._checks.get(idx), self._agents.get(idx)
        return (c.last_desc if c is not None and c.kind == "tcpcheck" else "",
                a.last_desc if a is not None else "")

    def attach(self, sel: selectors.BaseSelector) -> None:
        """Use the master's selector; every key registered here has data = callable(mask)."""
        self._sel = sel

    def next_deadline(self) -> float | None:
        """time.monotonic() of the next check start or timeout; None when nothing is checked."""
        if self._closed or not self._targets:
            return None
        return min(t.deadline if t.sock is not None else t.next_start for t in self._targets)

    def tick(self, now: float) -> None:
        """Expire checks past their timeout, then start the checks that are due."""
        if self._closed:
            return
        for t in self._targets:
            if t.sock is not None:
                if now >= t.deadline:
                    tout: int = check_status.CHK_L6TOUT if t.handshaking else \
                        check_status.CHK_L7TOUT if t.connected else check_status.CHK_L4TOUT
                    if t.kind == "tcpcheck":
                        cur = t.rules[min(t.step, len(t.rules) - 1)]
                        if tout == check_status.CHK_L7TOUT and cur.action == "expect" and cur.tout_status:
                            tout = _TC_STATUS[cur.tout_status]
                        self._finish(t, False, tout, now, desc=self._conn_desc(t, ""))
                    else:
                        self._finish(t, False, tout, now)
            if t.sock is None and now >= t.next_start:
                if self._shm.srv_admin_down(t.idx) and not t.agent:
                    # (2.6 pauses the health check only: an agent may say `ready` again)
                    # maintenance: no check while the operator keeps it down (HAProxy 1.4+ too)
                    self._reschedule(t, now, now)
                    continue
                self._start(t, now)

    def close(self) -> None:
        """Abort the checks in flight and stop checking."""
        self._closed = True
        for t in self._targets:
            self._drop_socket(t)

    # ---- one check ---------------------------------------------------------------------------

    def _start(self, t: _Target, now: float) -> None:
        if self._sel is None:
            raise RuntimeError("HealthChecker.attach() was not called")
        t.started = now
        # HAProxy 1.2: a check may last up to inter (an agent: its own interval)
        t.deadline = now + (t.interval_ms() if t.agent else t.srv.inter) / 1000.0
        if t.proxy.checktimeout > 0 and t.proxy.contimeout > 0:
            t.deadline = now + min(t.proxy.contimeout, t.srv.inter) / 1000.0
        t.connected = False
        t.handshaking = False
        t.reply = bytearray()
        t.step = 0
        t.eof = False
        self._open(t, t.family, t.sockaddr, now)

    def _open(self, t: _Target, family: int, sockaddr: tuple[Any, ...] | None, now: float) -> None:
        """A check's connection (a tcp-check may open several, one per `connect` rule)."""
        assert self._sel is not None
        t.connected = t.handshaking = t.conn_tls = False
        t.reply = bytearray()
        t.eof = False
        if t.kind == "tcpcheck":
            t.tls, t.tls_name = t.rule_tls.get(t.step, (None, None))
            t.proxy_version = t.rule_pp.get(t.step, 0)
        if sockaddr is None:
            self._finish(t, False, check_status.CHK_L4CON, now, desc=self._conn_desc(t, ""))
            return
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            self._finish(t, False, check_status.CHK_L4CON, now)
            return
        t.sock = sock
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if t.source is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(t.source)
                except OSError:
                    msg = f"Cannot bind to source address before connect() for server {t.label}. Aborting."
                    self._say(t.proxy, "alert", None, msg)
                    self._finish(t, False, check_status.CHK_L4CON, now)
                    return
            err = sock.connect_ex(sockaddr)
        except OSError:
            self._finish(t, False, check_status.CHK_L4CON, now, desc=self._conn_desc(t, ""))
            return
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
            self._finish(t, False, check_status.CHK_L4CON, now, desc=self._conn_desc(t, os.strerror(err)))
            return
        target = t

        def on_event(mask: int) -> None:
            self._on_event(target, mask)

        t.cb = on_event
        self._sel.register(sock, selectors.EVENT_WRITE, on_event)

    def _on_event(self, t: _Target, mask: int) -> None:
        sock = t.sock
        if sock is None or self._sel is None:
            return
        now = time.monotonic()
        if not t.connected:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._finish(t, False, check_status.CHK_L4CON, now, desc=self._conn_desc(t, os.strerror(err)))
                return
            t.connected = True
            out = _check_proxy_header(sock, t.proxy_version) if t.proxy_version else b""
            if t.tls is not None:
                # the PROXY header goes in clear, first; the handshake is part of the connect
                # (its timeout), as in 2.6
                self._start_tls(t, out, now)
                return
            if t.proxy.checktimeout > 0 and (t.kind != "tcpcheck" or t.step == 0):
                t.deadline = now + t.proxy.checktimeout / 1000.0  # the reply's own timeout
            if t.kind == "tcpcheck":
                if out and not self._tc_write(t, out, now):
                    return
                self._sel.modify(sock, selectors.EVENT_READ, t.cb)
                t.step += 1
                t.must_read = True
                self._tc_run(t, now)
                return
            out += t.request or b""
            try:
                sent = sock.send(out) if out else 0
            except OSError:
                sent = -1
            if t.request is None and sent == len(out):
                self._finish(t, True, check_status.CHK_L4OK, now)
                return
            if sent != len(out):
                # the request is a few bytes on a fresh socket: a short send is a broken peer
                self._finish(t, False, check_status.CHK_L7RSP, now)
                return
            self._sel.modify(sock, selectors.EVENT_READ, t.cb)
            return
        if t.handshaking:
            self._handshake(t, now)
            return
        if t.kind == "tcpcheck":
            self._tc_read(t, now)
            return
        try:
            data = sock.recv(CHKSIZE if t.kind == "http" else _MAX_REPLY)
            while isinstance(sock, ssl.SSLSocket) and data and sock.pending() and len(data) < CHKSIZE:
                data += sock.recv(CHKSIZE - len(data))     # (decrypted bytes no event announces)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            self._judge_reply(t, now, eof=True)
            return
        if not data:
            self._judge_reply(t, now, eof=True)
            return
        t.reply += data
        if t.kind == "http":
            self._judge_http(t, now, eof=len(t.reply) >= CHKSIZE)
        elif len(t.reply) >= _STATUS_LEN or t.kind == "ssl":
            self._judge_reply(t, now, eof=False)

    def _start_tls(self, t: _Target, clear: bytes, now: float) -> None:
        """check-ssl: send what goes in clear (a PROXY header), then begin the handshake."""
        sock = t.sock
        assert sock is not None and self._sel is not None and t.tls is not None
        try:
            if clear and sock.send(clear) != len(clear):
                raise OSError("short send")
            self._sel.unregister(sock)
            t.sock = t.tls.wrap_socket(sock, server_hostname=t.tls_name, do_handshake_on_connect=False)
        except (OSError, ValueError):
            self._finish(t, False, check_status.CHK_L6RSP, now, desc="SSL handshake failure")
            return
        t.handshaking = True
        self._sel.register(t.sock, selectors.EVENT_WRITE, t.cb)
        self._handshake(t, now)

    def _handshake(self, t: _Target, now: float) -> None:
        """One step of a check's TLS handshake; once done, the check goes on in TLS."""
        sock = t.sock
        assert isinstance(sock, ssl.SSLSocket) and self._sel is not None
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._sel.modify(sock, selectors.EVENT_READ, t.cb)
            return
        except ssl.SSLWantWriteError:
            self._sel.modify(sock, selectors.EVENT_WRITE, t.cb)
            return
        except ssl.SSLCertVerificationError as exc:
            desc = "SSL handshake failure"
            if exc.verify_code == 62:       # X509_V_ERR_HOSTNAME_MISMATCH: 2.6's words
                desc = ("Server presented an SSL certificate different from the "
                        + ("expected one" if t.srv.tls and t.srv.tls.check_sni else "configured one"))
            self._finish(t, False, check_status.CHK_L6RSP, now, desc=self._conn_desc(t, desc))
            return
        except (OSError, ValueError):
            self._finish(t, False, check_status.CHK_L6RSP, now,
                         desc=self._conn_desc(t, "SSL handshake failure"))
            return
        t.handshaking = False
        if t.proxy.checktimeout > 0 and (t.kind != "tcpcheck" or t.step == 0):
            t.deadline = now + t.proxy.checktimeout / 1000.0  # the reply's own timeout
        if t.kind == "tcpcheck":
            t.conn_tls = True
            self._sel.modify(sock, selectors.EVENT_READ, t.cb)
            t.step += 1
            t.must_read = True
            self._tc_run(t, now)
            return
        if t.request is None:
            self._finish(t, True, check_status.CHK_L6OK, now)
            return
        try:
            sent = sock.send(t.request)
        except (OSError, ValueError):
            sent = -1
        if sent != len(t.request):
            self._finish(t, False, check_status.CHK_L7RSP, now)
            return
        self._sel.modify(sock, selectors.EVENT_READ, t.cb)

    # ---- tcp-check: 2.6's rule engine (tcpcheck_main) ---------------------------------------

    @staticmethod
    def _step_id(rule: TcpCheckRule) -> int:
        """2.6's tcpcheck_get_step_id(): the rule's place (1-based), 0 for the implicit connect."""
        return 0 if rule.implicit else rule.index + 1

    def _conn_desc(self, t: _Target, base: str) -> str:
        """A connection problem's text: what failed, then (the proxy's own tcp-check rules only)
        where, as 2.6's chk_report_conn_err() writes it."""
        if t.kind != "tcpcheck" or not t.tcp_chk or not t.rules:
            return base
        rule = t.rules[min(t.step, len(t.rules) - 1)]
        step = self._step_id(rule)
        if step == 0:
            return base + " at initial connection step of tcp-check"
        text = f" at step {step} of tcp-check"
        if rule.action == "connect":
            text += f" (connect port {rule.port})" if rule.port else " (connect)"
        elif rule.action == "expect":
            pat = rule.pattern.decode("latin-1")
            text += {"string": f" (expect string '{pat}')", "binary": f" (expect binary '{pat}')",
                     "rstring": " (expect regex)", "rbinary": " (expect binary regex)"}.get(
                         rule.kind, " (expect custom function)")
        elif rule.action == "send":
            text += " (send)"
        if rule.comment:
            text += f" comment: '{rule.comment}'"
        return base + text

    def _tc_write(self, t: _Target, data: bytes, now: float) -> bool:
        sock = t.sock
        assert sock is not None
        try:
            sent = sock.send(data)
        except (OSError, ValueError) as e:
            err = e.errno if isinstance(e, OSError) and e.errno else 0
            self._finish(t, False, check_status.CHK_L7RSP, now,
                         desc=self._conn_desc(t, os.strerror(err) if err else ""))
            return False
        if sent != len(data):  # a few bytes on a fresh socket: a short send is a broken peer
            self._finish(t, False, check_status.CHK_L7RSP, now, desc=self._conn_desc(t, ""))
            return False
        return True

    def _tc_read(self, t: _Target, now: float) -> None:
        sock = t.sock
        assert sock is not None
        room = CHKSIZE - len(t.reply)
        try:
            data = sock.recv(max(1, room)) if room > 0 else b""
            while isinstance(sock, ssl.SSLSocket) and data and sock.pending() and len(data) < room:
                data += sock.recv(room - len(data))
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError as e:
            if not t.reply:
                # 2.6 reports a network error when nothing came: a socket error, not a reply
                err = os.strerror(e.errno) if e.errno else ""
                self._finish(t, False, check_status.CHK_SOCKERR, now, desc=self._conn_desc(t, err))
                return
            data = b""
        if not data:
            t.eof = True
        t.reply += data
        t.must_read = False
        # after a wait, 2.6 resumes at the head of the expect chain (the first inverted one)
        self._tc_run(t, now)

    def _tc_run(self, t: _Target, now: float) -> None:
        """Evaluate the rules from t.step on until one waits (for data, or a connection) or the
        check ends."""
        rules = t.rules
        while t.step < len(rules):
            r = rules[t.step]
            if r.action == "connect":
                self._drop_socket(t)
                family, addr = t.rule_addr[t.step]
                self._open(t, family, addr, now)
                return
            if r.action == "send":
                t.reply = bytearray()
                if not self._tc_write(t, r.data, now):
                    return
                t.must_read = True
                t.step += 1
                continue
            # expect
            if t.must_read and not t.eof:
                return  # wait for the server (the selector has the socket for reading)
            if not t.reply and t.eof:
                desc = f"TCPCHK got an empty response at step {self._step_id(r)}"
                if r.comment:
                    desc += f" comment: '{r.comment}'"
                self._tc_fail(t, r, r.err_status or "L7RSP", desc, now)
                return
            verdict = self._tc_expect(t, r, now)
            if verdict == "stop":
                return
            if verdict == "wait":
                head = t.step
                while head > 0 and rules[head - 1].action == "expect" and rules[head - 1].inverse:
                    head -= 1
                t.step = head
                t.must_read = True
                return
            t.step += 1
        self._tc_success(t, now)

    def _tc_success(self, t: _Target, now: float) -> None:
        """Every rule passed: the last one says how (2.6's end of tcpcheck_main)."""
        last = t.rules[-1]
        if last.action == "expect":
            desc = (self._tc_fmt(t, last.on_success) if last.on_success
                    else "(tcp-check)" if t.tcp_chk else "")
            self._tc_status(t, last.ok_status or "L7OK", desc, now, self._tc_code(t, last))
        elif last.action == "connect":
            status = "L6OK" if t.conn_tls else "L4OK"
            self._tc_status(t, status, "" if last.implicit else "(tcp-check)", now)
        else:
            self._tc_status(t, "L7OK", "(tcp-check)", now)

    def _tc_status(self, t: _Target, name: str, desc: str, now: float, code: int = 0) -> None:
        status = _TC_STATUS[name]
        ok = name in ("L7OK", "L7OKC", "L6OK", "L4OK")
        cut = desc.find("\0")
        if cut >= 0:
            desc = desc[:cut]
        self._finish(t, ok, status, now, code=code, desc=desc[:_DESC_LEN], cond=name == "L7OKC")

    def _tc_code(self, t: _Target, r: TcpCheckRule) -> int:
        if r.status_code is None:
            return 0
        off, length = r.status_code
        data = bytes(t.reply[off:off + length] if length else t.reply[off:])
        m = re.match(rb"\s*[-+]?\d+", data)
        return int(m.group()) if m else 0

    def _tc_fail(self, t: _Target, r: TcpCheckRule, status: str, info: str, now: float,
                 match: bool = False, code: int = 0) -> None:
        """2.6's tcpcheck_expect_onerror_message(): the info given, else the rule's on-error,
        else (own tcp-check rules) the generic text; then the rule's comment."""
        if info:
            msg = info
        elif r.on_error is not None:
            msg = self._tc_fmt(t, r.on_error)
        elif t.tcp_chk:
            msg = "TCPCHK matched unwanted content" if match else "TCPCHK did not match content"
            step = self._step_id(r)
            msg += {"string": f" '{r.pattern.decode('latin-1')}' at step {step}",
                    "binary": f" (binary) at step {step}", "rstring": f" (regex) at step {step}",
                    "rbinary": f" (binary regex) at step {step}"}.get(
                        r.kind, f" (custom function) at step {step}")
        else:
            msg = ""
        if r.comment and not info.startswith("TCPCHK got an empty"):
            msg += " comment: " + r.comment
        if r.status_code is not None:
            code = self._tc_code(t, r)
        self._tc_status(t, status, msg, now, code)

    def _tc_fmt(self, t: _Target, fmt: list[str | tuple[int, int, list[tuple[str, str]]]]) -> str:
        """An on-success/on-error text: its `%[res.payload(O,L),...]` parts on the reply."""
        out = []
        for part in fmt:
            if isinstance(part, str):
                out.append(part)
                continue
            off, length, convs = part
            if off > len(t.reply) or (length and off + length > len(t.reply)):
                out.append("-")  # no sample: log-format's dash
                continue
            val = bytes(t.reply[off:off + length] if length else t.reply[off:]).decode("latin-1")
            for name, arg in convs:
                if name == "cut_crlf":
                    val = re.split("[\r\n]", val, maxsplit=1)[0]
                elif name == "ltrim":
                    val = val.lstrip(arg)
                elif name == "rtrim":
                    val = val.rstrip(arg)
                elif name == "lower":
                    val = val.lower()
                elif name == "upper":
                    val = val.upper()
            out.append(val)
        return "".join(out)

    def _tc_expect(self, t: _Target, r: TcpCheckRule, now: float) -> str:
        """One expect rule on the data read: "next", "wait" (more data could change it) or "stop"
        (the check failed, or a protocol rule ended it)."""
        buf = bytes(t.reply)
        last = t.eof or len(buf) >= CHKSIZE
        if r.kind == "mysql-iniths":
            return self._tc_mysql(t, r, 0, last, now)
        if r.kind == "mysql-ok":
            hslen = 4 + buf[0] + (buf[1] << 8) + (buf[2] << 16) if len(buf) >= 3 else 4
            return self._tc_mysql(t, r, hslen, last, now)
        if r.kind == "ldap-bindrsp":
            return self._tc_ldap(t, r, last, now)
        if r.kind == "agent":
            return self._tc_agent(t, last, now)
        if not last:
            if r.kind in ("string", "binary") and len(buf) < len(r.pattern):
                return "wait"
            if r.min_recv > 0 and len(buf) < r.min_recv:
                return "wait"
        if r.kind in ("string", "binary"):
            match = r.pattern in buf
        elif r.kind == "rstring":
            match = re.search(r.pattern, buf[:CHKSIZE - 1]) is not None
        else:
            match = re.search(r.pattern, buf.hex().upper().encode()) is not None
        if not match and not last and r.min_recv == -1:
            return "wait"
        if match != r.inverse:
            return "next"
        self._tc_fail(t, r, r.err_status or "L7RSP", "", now, match=match)
        return "stop"

    @staticmethod
    def _cstr(data: bytes) -> str:
        return data.split(b"\0", 1)[0].decode("latin-1")

    def _tc_mysql(self, t: _Target, r: TcpCheckRule, off: int, last: bool, now: float) -> str:
        """2.6's tcpcheck_mysql_expect_packet(): a whole packet at `off`; an error packet (0xff)
        is L7STS with its code and text; the last rule passes with the server's version."""
        buf = bytes(t.reply)
        if len(buf) < off + 4:
            if not last:
                return "wait"
            self._tc_fail(t, r, "L7RSP", "", now)
            return "stop"
        plen = buf[off] + (buf[off + 1] << 8) + (buf[off + 2] << 16)
        if len(buf) < off + plen + 4:
            if not last:
                return "wait"
            self._tc_fail(t, r, "L7RSP", "", now)
            return "stop"
        if buf[off + 4] == 0xFF:
            err = buf[off + 5] + (buf[off + 6] << 8) if len(buf) > off + 6 else 0
            self._tc_fail(t, r, "L7STS", self._cstr(buf[off + 7:]), now, code=err)
            return "stop"
        if r is not t.rules[-1]:
            return "next"
        self._tc_status(t, r.ok_status or "L7OK", self._cstr(buf[5:]), now)
        return "stop"

    def _tc_agent(self, t: _Target, last: bool, now: float) -> str:
        """2.6's tcpcheck_agent_expect_reply(): one line of words (health: up, down, stopped,
        fail; admin: ready, drain, maint; a weight `N%`; `maxconn:N`), then `# description`."""
        buf = bytes(t.reply)
        ends = [i for i in (buf.find(b"\r"), buf.find(b"\n"), buf.find(b"\0")) if i >= 0]
        end = min(ends) if ends else -1
        if end < 0 or buf[end:end + 1] == b"\0":
            if not last:
                return "wait"
            self._agent_finish(t, check_status.CHK_CHECKED, now, desc="Ignoring incomplete line from agent",
                               neutral=True)
            return "stop"
        line = buf[:end].decode("latin-1")
        hs = adm = ps = err = wrn = ""
        descr = ""
        pos = 0
        while pos < len(line):
            c = line[pos]
            if c in " \t,":
                pos += 1
                continue
            if c == "#":
                descr = line[pos + 1:].lstrip(" \t")
                break
            m = re.match(r"[^\t ,]*", line[pos:])
            word = m.group() if m else c
            pos += len(word) + 1
            lw = word.lower()
            if lw in ("up", "down", "stopped", "fail"):
                hs = word
            elif lw in ("ready", "drain", "maint"):
                adm = word
            elif word[:1].isdigit() and "%" in word:
                ps = word
            elif lw.startswith("maxconn:"):
                pass    # (no run-time maxconn here: the agent's value is not applied)
            elif not err:
                err = word
        descr = descr.lstrip(" \n")
        if adm:
            self._agent_admin(t, adm.lower())
        if ps:
            wrn = self._agent_weight(t, ps) or ""
        if hs:
            up = hs.lower() == "up"
            t.health = 1 if up else 0
            status = check_status.CHK_L7OK if up else check_status.CHK_L7STS
            msg = descr
            if not msg or up:
                msg = err or wrn or msg
            desc = f"via agent : {hs}" + (f" ({msg})" if msg else "")
            self._agent_finish(t, status, now, desc=desc)
        elif err or wrn:
            desc = f"agent reports an error : {err}" if err else f"agent warns : {wrn}"
            self._agent_finish(t, check_status.CHK_CHECKED, now, desc=desc, neutral=True)
        else:
            self._agent_finish(t, check_status.CHK_CHECKED, now, neutral=True)
        return "stop"

    def _agent_admin(self, t: _Target, word: str) -> None:
        """ready / drain / maint from an agent (2.6: srv_adm_set_ready|drain|maint), with 2.6's
        messages. A drained server keeps its weight for show stat (shm agent_drain) while the
        workers see 0."""
        i = t.idx
        holder = self._checks.get(i, t)
        prefix = "Backup " if t.srv.backup else ""
        if word == "maint":
            if self._shm.srv_admin_down(i):
                return
            self._shm.set_srv_admin_down(i, True)
            follow_maintenance(self._shm, self._cfg, i, _wall_ms())    # type: ignore[arg-type]
            server_marked_down(self._shm, i, t.srv)
            if t.drained_from:     # (2.6: maintenance replaces the drain)
                self._shm.set_srv_weight(i, t.drained_from)
                t.drained_from = 0
                self._shm.set_srv_agent(i, t.agent_status, 0, t.health, 0, drain=0)
            act, bck = self._count(t)
            self._say(t.proxy, "warning", LOG_NOTICE,
                      f"{prefix}Server {t.label} is going DOWN for maintenance. {act} active and {bck} "
                      f"backup servers left. {self._active_sessions(t)} sessions active, 0 requeued, "
                      "0 remaining in queue.")
            if act == 0 and bck == 0 and holder.up:
                self._no_server(t.proxy)
            return
        if word == "drain":
            w = int(self._shm.srv_info(i).get("weight", t.srv.weight))
            if t.drained_from or self._shm.srv_admin_down(i):
                return
            t.drained_from = w or t.srv.weight
            self._shm.set_srv_weight(i, 0)
            self._shm.set_srv_agent(i, t.agent_status, 0, t.health, 0, drain=t.drained_from)
            act, bck = self._count(t)
            self._say(t.proxy, "warning", LOG_NOTICE,
                      f"{prefix}Server {t.label} enters drain state. {act} active and {bck} backup servers "
                      "online. 0 sessions requeued, 0 total in queue.")
            return
        if self._shm.srv_admin_down(i):     # ready
            self._shm.set_srv_admin_down(i, False)
            follow_maintenance(self._shm, self._cfg, i, _wall_ms())    # type: ignore[arg-type]
            self._say(t.proxy, "warning", LOG_NOTICE,
                      f"{prefix}Server {t.label} is UP/READY (leaving forced maintenance).")
        if t.drained_from:
            self._shm.set_srv_weight(i, t.drained_from)
            t.drained_from = 0
            self._shm.set_srv_agent(i, t.agent_status, 0, t.health, 0, drain=0)
            self._say(t.proxy, "warning", LOG_NOTICE,
                      f"{prefix}Server {t.label} is UP (leaving forced drain).")

    def _agent_weight(self, t: _Target, word: str) -> str | None:
        """An agent's `N%` (2.6: server_parse_weight_change_request): N % of the configured weight;
        a warning text when it is refused."""
        m = re.match(r"\d+", word)
        pct = min(int(m.group()) if m else 0, 25600)
        w = min(t.srv.weight * pct // 100, 256)
        px = t.proxy
        static = px.balance == "static-rr" or (
            px.balance in ("source", "uri", "url_param", "hdr", "hash") and px.hash_type == "map-based")
        if w and w != t.srv.weight and static:
            return "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n"
        if t.drained_from:
            t.drained_from = w or t.drained_from
            self._shm.set_srv_agent(t.idx, t.agent_status, 0, t.health, 0, drain=t.drained_from)
        else:
            self._shm.set_srv_weight(t.idx, w)
        return None

    def _agent_finish(self, t: _Target, status: int, now: float, code: int = 0, desc: str = "",
                      neutral: bool = False) -> None:
        """An agent check's result: its own health (rise = fall = 1); the server goes DOWN only
        on an agent's down/stopped/fail (L7STS), and UP again only when its health check (if
        any) agrees, as 2.6's check_notify_failure/success."""
        self._drop_socket(t)
        duration_ms = max(0, int((now - t.started) * 1000))
        ok = status in (check_status.CHK_L7OK, check_status.CHK_L7OKC, check_status.CHK_L6OK,
                        check_status.CHK_L4OK)
        before = t.health
        if not neutral:
            if ok:
                t.health = 1
            elif status in _WITH_CODE and t.health > 0:
                t.health = 0
        report = t.health != before
        if "log-health-checks" in t.proxy.options and (status != t.prev_status or report):
            self._log_check(t, ok, False, status, code, desc, duration_ms)
        t.prev_status = status
        t.agent_status = status
        t.last_desc = desc
        self._shm.set_srv_agent(t.idx, status, duration_ms, t.health, code)
        why = "" if "log-health-checks" in t.proxy.options else _status_text(status, code, desc, duration_ms)
        holder = self._checks.get(t.idx, t)
        if not neutral and status == check_status.CHK_L7STS and t.health == 0 and holder.up:
            self._set_down(holder, why)
        elif not neutral and ok and not holder.up and self._may_rise(t.idx):
            self._set_up(holder, why)
        self._reschedule(t, t.started, now)

    def _may_rise(self, idx: int) -> bool:
        """2.6's check_notify_success(): no maintenance, the health check (if any) and the agent
        (if any) both up."""
        if self._shm.srv_admin_down(idx):
            return False
        c, a = self._checks.get(idx), self._agents.get(idx)
        if c is not None and c.health < c.srv.rise:
            return False
        return a is None or a.health >= 1

    def _tc_ldap(self, t: _Target, r: TcpCheckRule, last: bool, now: float) -> str:
        """2.6's tcpcheck_ldap_expect_bindrsp(): an LDAPv3 bindResponse, resultCode 0."""
        buf = bytes(t.reply)

        def bad(status: str, desc: str, code: int = 0) -> str:
            self._tc_fail(t, r, status, desc, now, code=code)
            return "stop"

        def short() -> str:
            return "wait" if not last else bad("L7RSP", "")

        if len(buf) < 2:
            return short()
        nbytes = 0
        if buf[1] & 0x80:
            nbytes = buf[1] & 0x7F
            if len(buf) < 1 + nbytes:
                return short()
            if nbytes == 4:
                msglen = int.from_bytes(buf[2:6], "big")
            elif nbytes == 2:
                msglen = int.from_bytes(buf[2:4], "big")
            else:
                return bad("L7RSP", "Not LDAPv3 protocol")
        else:
            msglen = buf[1]
        ptr = 2 + nbytes
        if len(buf) < 2 + nbytes + msglen:
            return short()
        if buf[ptr:ptr + 4] != b"\x02\x01\x01\x61":
            return bad("L7RSP", "Not LDAPv3 protocol")
        ptr += 4
        if ptr >= len(buf):
            return bad("L7RSP", "Not LDAPv3 protocol")
        ptr += 1 + ((buf[ptr] & 0x7F) if buf[ptr] & 0x80 else 0)
        if buf[ptr:ptr + 2] != b"\x0a\x01" or ptr + 2 >= len(buf):
            return bad("L7RSP", "Not LDAPv3 protocol")
        code = buf[ptr + 2]
        if code:
            return bad("L7STS", "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9", code)
        self._tc_status(t, r.ok_status or "L7OK", "Success", now)
        return "stop"

    def _judge_http(self, t: _Target, now: float, eof: bool) -> None:
        """An `option httpchk` reply, as 2.6 judges it; returns without a verdict (waits for more)
        while a body match could still change with more data."""
        expect = t.proxy.http_check_expect
        head = bytes(t.reply[:_STATUS_LEN])
        if len(head) < _STATUS_LEN and not eof:
            return
        if not (len(head) == _STATUS_LEN and head.startswith(b"HTTP/1.") and head[8:9] == b" "
                and head[9:12].isdigit()):
            self._finish(t, False, check_status.CHK_L7RSP, now)
            return
        code = int(head[9:12])
        end = t.reply.find(b"\r\n\r\n")
        body_kind = expect is not None and expect[1] in ("string", "rstring")
        if body_kind and end < 0 and not eof:
            return  # the headers are not complete yet
        line_end = t.reply.find(b"\r\n")
        reason = bytes(t.reply[13:line_end]).decode("latin-1") if line_end > 13 else ""
        if t.proxy.http_check_disable_404 and t.up and code == 404:
            # 2.6: "404 may be accepted as 'stopping' only if the server was up"
            self._finish(t, True, check_status.CHK_L7OKC, now, code=code, cond=True)
            return
        if expect is None or not body_kind:
            if expect is not None:
                ok = _status_expected(expect, head[9:12].decode())
            else:
                ok = head[9:10] in (b"2", b"3")
            if ok:
                self._finish(t, True, check_status.CHK_L7OK, now, code=code)
            else:
                self._finish(t, False, check_status.CHK_L7STS, now, code=code, desc=reason)
            return
        neg, kind, pattern = expect
        body = bytes(t.reply[end + 4:]) if end >= 0 else b""
        clen = _content_length(bytes(t.reply[:end])) if end >= 0 else None
        last = eof or (clen is not None and len(body) >= clen)
        if clen is not None:
            body = body[:clen]
        if not body:
            if not last:
                return
            self._finish(t, False, check_status.CHK_L7RSP, now, code=code,
                         desc="HTTP content check could not find a response body")
            return
        if kind == "string":
            pat = pattern.encode("latin-1")
            if not last and len(body) < len(pat):
                return
            match = pat in body
        else:
            match = re.search(pattern, body.decode("latin-1")) is not None
        if not match and not last:
            return  # 2.6 waits for more data on a mismatch
        if match != neg:
            self._finish(t, True, check_status.CHK_L7OK, now, code=code)
        else:
            self._finish(t, False, check_status.CHK_L7RSP, now, code=code,
                         desc="HTTP check matched unwanted content" if neg
                         else "HTTP content check did not match")

    def _judge_reply(self, t: _Target, now: float, eof: bool) -> None:
        if t.kind == "http":
            self._judge_http(t, now, eof=True)
            return
        if t.kind == "ssl":
            ok = t.reply[:1] in (b"\x15", b"\x16")
            self._finish(t, ok, check_status.CHK_L7OK if ok else check_status.CHK_L7RSP, now)
            return
        head = bytes(t.reply[:_STATUS_LEN])
        if (len(head) == _STATUS_LEN and head.startswith(b"HTTP/1.") and head[8:9] == b" "
                and head[9:12].isdigit()):
            if t.proxy.http_check_expect is not None:
                ok = _status_expected(t.proxy.http_check_expect, head[9:12].decode())
                self._finish(t, ok, check_status.CHK_L7OK if ok else check_status.CHK_L7STS, now)
            elif head[9:10] in (b"2", b"3"):
                self._finish(t, True, check_status.CHK_L7OK, now)
            else:
                self._finish(t, False, check_status.CHK_L7STS, now)
        else:
            self._finish(t, False, check_status.CHK_L7RSP, now)

    def _drop_socket(self, t: _Target) -> None:
        sock, t.sock, t.cb = t.sock, None, None
        if sock is None:
            return
        if self._sel is not None:
            try:
                self._sel.unregister(sock)
            except (KeyError, ValueError):
                pass
        sock.close()

    def _reschedule(self, t: _Target, started: float, now: float) -> None:
        step = t.interval_ms() / 1000.0
        nxt = started + step
        spread = self._cfg.global_.spread_checks
        if spread > 0:
            # 2.6: inter + rv, rv drawn in [-inter * N / 100, +inter * N / 100]
            rv = step * spread / 100.0
            nxt += rv - 2 * rv * random.random()
        if nxt <= now:
            # a slot already gone (timeout, or a slow loop): skip to the next one, no burst
            nxt += step * (int((now - nxt) / step) + 1)
        t.next_start = nxt

    # ---- results and transitions ---------------------------------------------------------------

    def _finish(self, t: _Target, ok: bool, status: int, now: float, code: int = 0,
                desc: str = "", cond: bool = False) -> None:
        """One check's result. `cond`: a conditional pass (2.6's L7OKC, disable-on-404)."""
        if t.agent:
            self._agent_finish(t, status, now, code, desc)
            return
        self._drop_socket(t)
        s = t.srv
        duration_ms = max(0, int((now - t.started) * 1000))
        t.last_desc = desc
        before = t.health
        was_up = t.up
        if ok:
            if t.health < s.rise + s.fall - 1:
                t.health += 1
                if t.health >= s.rise:
                    t.health = s.rise + s.fall - 1
        elif t.health > s.rise:
            t.health -= 1
        elif t.health > 0:
            t.health = 0
        if "log-health-checks" in t.proxy.options and (status != t.prev_status or t.health != before):
            self._log_check(t, ok, cond, status, code, desc, duration_ms)
        t.prev_status = status
        # 2.6: with log-health-checks the check's own line said why; the transition does not
        why = "" if "log-health-checks" in t.proxy.options else _status_text(status, code, desc, duration_ms)
        if ok and t.health >= s.rise:
            if cond and not t.nolb:
                self._set_nolb(t, why)
            elif not cond and (not was_up or t.nolb) and self._may_rise(t.idx):
                self._set_up(t, why)
        elif not ok and t.health < s.rise and was_up:
            self._set_down(t, why)
            t.health = 0
        self._shm.set_srv_check(t.idx, status, duration_ms, t.health, code)
        self._reschedule(t, t.started, now)

    def _log_check(self, t: _Target, ok: bool, cond: bool, status: int, code: int, desc: str,
                   duration_ms: int) -> None:
        """2.6's `option log-health-checks` line (check.c set_server_check_status)."""
        s = t.srv
        msg = (f"{'Agent' if t.agent else 'Health'} check for {'backup ' if s.backup else ''}server "
               f"{t.label} {'conditionally ' if cond else ''}{'succeeded' if ok else 'failed'}")
        msg += _status_text(status, code, desc, duration_ms)
        h = t.health
        rise, fall = (1, 1) if t.agent else (s.rise, s.fall)
        if h >= rise:
            msg += f", status: {h - rise + 1}/{fall} {'UP' if s.weight else 'DRAIN'}."
        else:
            msg += f", status: {h}/{rise} DOWN."
        self._say(t.proxy, "warning", LOG_NOTICE, msg)

    def _count(self, t: _Target) -> tuple[int, int]:
        """Servers of t's proxy that are UP and not put down by the operator: (active, backup)."""
        return self._count_pidx(t.pidx)

    def _count_pidx(self, pidx: int) -> tuple[int, int]:
        act = bck = 0
        for idx, backup in self._members.get(pidx, []):
            if self._shm.srv_state(idx) != srv_state.SRV_UP or self._shm.srv_admin_down(idx):
                continue
            agent = self._agents.get(idx)
            if agent is not None and agent.drained_from:
                continue    # (drained by its agent: not usable, as 2.6 counts)
            if backup:
                bck += 1
            else:
                act += 1
        return act, bck

    def _active_sessions(self, t: _Target) -> int:
        return self._cur_sess(t.idx)

    def _cur_sess(self, idx: int) -> int:
        """Sessions the workers have on t's server now (HAProxy printed the server's cur_sess).

        Each worker keeps its own gauge in its counter block (slot nproxy + server index); a
        gauge is read as signed so that a momentary decrement-before-increment cannot show as a
        huge number. A sink without counters (a test double) gives 0.
        """
        shm: Any = self._shm
        try:
            slot = int(shm.nproxy) + idx
            total = 0
            for w in range(int(shm.nworkers)):
                n = int(shm.counters(w, slot)["cur_sess"])
                total += n - (1 << 64) if n >= 1 << 63 else n
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            return 0
        return max(0, total)

    def _no_server(self, px: Proxy) -> None:
        """2.6's set_backend_down(): the proxy's kind and name, quoted on stderr only."""
        kind = "proxy" if px.cap == "listen" else px.cap
        self._say(px, "alert", LOG_EMERG, f"{kind} '{px.name}' has no server available!",
                  f"{kind} {px.name} has no server available!")

    def _set_down(self, t: _Target, why: str = "") -> None:
        was_nolb = t.nolb
        t.up = t.nolb = False
        self._shm.set_srv_state(t.idx, srv_state.SRV_DOWN, _wall_ms())
        server_marked_down(self._shm, t.idx, t.srv)
        act, bck = self._count(t)
        prefix = "Backup " if t.srv.backup else ""
        on_backup = " Running on backup." if bck and not act else ""
        cur = self._active_sessions(t)
        # no queues here: nothing is requeued and nothing remains in a queue
        # 2.6: "we don't send an alert if the server was previously paused" (stopping)
        self._say(t.proxy, "warning", LOG_NOTICE if was_nolb else LOG_ALERT,
                  f"{prefix}Server {t.label} is DOWN{why}. {act} active and {bck} backup servers left."
                  f"{on_backup} {cur} sessions active, 0 requeued, 0 remaining in queue.")
        if act == 0 and bck == 0:
            self._no_server(t.proxy)
        self._propagate(t.idx, srv_state.SRV_DOWN)

    def _set_nolb(self, t: _Target, why: str = "") -> None:
        """disable-on-404: UP but out of load balancing; 2.6 logs it "is stopping" at notice."""
        t.up = t.nolb = True
        self._shm.set_srv_state(t.idx, srv_state.SRV_NOLB, _wall_ms())
        act, bck = self._count(t)
        prefix = "Backup " if t.srv.backup else ""
        on_backup = " Running on backup." if bck and not act else ""
        self._say(t.proxy, "warning", LOG_NOTICE,
                  f"{prefix}Server {t.label} is stopping{why}. {act} active and {bck} backup servers online."
                  f"{on_backup} 0 sessions requeued, 0 total in queue.")
        if act == 0 and bck == 0:
            # 2.6 sets the backend down when its last server stops taking new traffic
            self._no_server(t.proxy)
        self._propagate(t.idx, srv_state.SRV_NOLB)

    def _set_up(self, t: _Target, why: str = "") -> None:
        t.up = True
        t.nolb = False
        self._shm.set_srv_state(t.idx, srv_state.SRV_UP, _wall_ms())
        server_marked_up(self._shm, t.idx, t.srv, self._members.get(t.pidx, []))
        act, bck = self._count(t)
        prefix = "Backup " if t.srv.backup else ""
        on_backup = " Running on backup." if bck and not act else ""
        self._say(t.proxy, "warning", LOG_NOTICE,
                  f"{prefix}Server {t.label} is UP{why}. {act} active and {bck} backup servers online."
                  f"{on_backup} 0 sessions requeued, 0 total in queue.")
        self._propagate(t.idx, srv_state.SRV_UP)

    def _propagate(self, idx: int, state: int) -> None:
        """`track`: the servers following server idx take its state, with 2.6's "via" messages
        (srv_update_status), then their own followers."""
        for tidx, pidx, srv in self._trackers.get(idx, []):
            if self._shm.srv_state(tidx) == state:
                continue
            self._shm.set_srv_state(tidx, state, _wall_ms())
            px = self._cfg.proxies[pidx]
            act, bck = self._count_pidx(pidx)
            head = f"{'Backup ' if srv.backup else ''}Server {px.name}/{srv.name}"
            on_backup = " Running on backup." if bck and not act else ""
            if state == srv_state.SRV_DOWN:
                server_marked_down(self._shm, tidx, srv)
                self._say(px, "warning", LOG_ALERT,
                          f"{head} is DOWN via {srv.track_label}. {act} active and {bck} backup servers left."
                          f"{on_backup} {self._cur_sess(tidx)} sessions active, 0 requeued, 0 remaining in "
                          "queue.")
                if act == 0 and bck == 0:
                    self._no_server(px)
            else:
                if state == srv_state.SRV_UP:
                    server_marked_up(self._shm, tidx, srv, self._members.get(pidx, []))
                what = "UP" if state == srv_state.SRV_UP else "stopping"
                self._say(px, "warning", LOG_NOTICE,
                          f"{head} is {what} via {srv.track_label}. {act} active and {bck} backup servers "
                          f"online.{on_backup} 0 sessions requeued, 0 total in queue.")
            self._propagate(tidx, state)
