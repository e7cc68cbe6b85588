"""`option tcp-check` with `tcp-check` rules, and the protocol checks 2.6 builds on them
(`option redis-check|mysql-check|pgsql-check|ldap-check|smtpchk`), against both binaries.

Real servers started here speak just enough of each protocol: a redis that answers `+PONG` (or
an error), a MySQL server's handshake packet then an OK or an error packet, a PostgreSQL `R`
authentication reply (or an `E` error), an LDAPv3 bindResponse, a mail server's greeting.
What is compared: the texts 2.6 writes on stderr when a server goes DOWN or (with `option
log-health-checks`) when a check's result changes, with its reason, code and info, and `show
stat`'s check_status/check_code.
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers.net import free_port, show_stat, wait_until
from tests.helpers.proxy import base_command

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"

Talk = Callable[[socket.socket], None]


class Speaker:
    """A TCP server running `talk(conn)` on each connection in a thread."""

    def __init__(self, talk: Talk) -> None:
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.talk = talk
        self.received: list[bytes] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        for _ in range(100000):
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            self.talk(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.lsock.close()


def _drain(conn: socket.socket) -> None:
    """Wait for the checker to close (bounded by the socket's timeout)."""
    for _ in range(100):
        if not conn.recv(4096):
            return


def answer(reply: bytes, first: bool = False, keep: bool = False) -> Talk:
    """Send `reply` (after reading the request, or at once when `first`); then close, or wait
    for the checker to close when `keep`."""
    def talk(conn: socket.socket) -> None:
        if not first:
            conn.recv(4096)
        conn.sendall(reply)
        if keep:
            _drain(conn)
    return talk


def redis_master(conn: socket.socket) -> None:
    """A redis master: PING, INFO REPLICATION and QUIT on one connection it keeps open."""
    answers = {b"PING": b"+PONG\r\n", b"info replication": b"$29\r\n# Replication\r\nrole:master\r\n\r\n",
               b"QUIT": b"+OK\r\n"}
    data = b""
    for _ in range(20):
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
        while b"\r\n" in data:
            line, _, data = data.partition(b"\r\n")
            conn.sendall(answers.get(line, b"-ERR\r\n"))


def reset(conn: socket.socket) -> None:
    """Reads the request, then closes with a reset (SO_LINGER 0) instead of answering."""
    conn.recv(4096)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def mysql_packet(seq: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


MYSQL_GREETING = mysql_packet(0, b"\x0a" + b"5.7.99-test\x00" + b"\x01\x00\x00\x00" + b"abcdefgh\x00"
                              + b"\xff\xf7" + b"\x21" + b"\x02\x00" + b"\xff\x81" + b"\x15" + b"\x00" * 10
                              + b"ijklmnopqrst\x00" + b"mysql_native_password\x00")
MYSQL_OK = mysql_packet(2, b"\x00\x00\x00\x02\x00\x00\x00")
MYSQL_DENIED = mysql_packet(2, b"\xff" + (1045).to_bytes(2, "little") + b"#28000Access denied for user 'chk'")


def mysql(after_auth: bytes | None) -> Talk:
    def talk(conn: socket.socket) -> None:
        conn.sendall(MYSQL_GREETING)
        if after_auth is not None:
            conn.recv(4096)
            conn.sendall(after_auth)
        _drain(conn)
    return talk


PG_AUTH_OK = b"R" + (8).to_bytes(4, "big") + (0).to_bytes(4, "big")
PG_ERROR = (b"E" + (40).to_bytes(4, "big") + b"SFATAL\x00C28000\x00Mrole \"chk\" does not exist\x00\x00")
LDAP_BIND_OK = bytes.fromhex("300c02010161070a010004000400")
LDAP_BIND_BAD = bytes.fromhex("300c02010161070a013104000400")


def smtp(greeting: bytes) -> Talk:
    """A mail server: its greeting, a multi-line `250` to the checker's EHLO, `221` to its QUIT
    (2.6.12 says QUIT and waits for the answer)."""
    def talk(conn: socket.socket) -> None:
        conn.sendall(greeting)
        if conn.recv(4096):
            conn.sendall(b"250-mx.test Hello\r\n250 SIZE 1000\r\n")
        if conn.recv(4096).startswith(b"QUIT"):
            conn.sendall(b"221 2.0.0 Bye\r\n")
        _drain(conn)
    return talk


@pytest.fixture
def speakers() -> Iterator[dict[str, Speaker]]:
    made = {
        "tc_ok": Speaker(answer(b"+PONG\r\n", keep=True)),
        "tc_bad": Speaker(answer(b"+NOPE\r\n")),
        "tc_banner": Speaker(answer(b"220 ready\r\n", first=True, keep=True)),
        "tc_reset": Speaker(reset),
        "tc_master": Speaker(redis_master),
        "redis_ok": Speaker(answer(b"+PONG\r\n", keep=True)),
        "redis_err": Speaker(answer(b"-ERR unknown command\r\n")),
        "mysql_ok": Speaker(mysql(None)),
        "mysql_user_ok": Speaker(mysql(MYSQL_OK)),
        "mysql_denied": Speaker(mysql(MYSQL_DENIED)),
        "pg_ok": Speaker(answer(PG_AUTH_OK, keep=True)),
        "pg_err": Speaker(answer(PG_ERROR)),
        "ldap_ok": Speaker(answer(LDAP_BIND_OK, keep=True)),
        "ldap_bad": Speaker(answer(LDAP_BIND_BAD)),
        "smtp_ok": Speaker(smtp(b"220 mx.test ESMTP ready\r\n")),
        "smtp_busy": Speaker(smtp(b"421 mx.test too busy, try later\r\n")),
    }
    yield made
    for s in made.values():
        s.close()


CFG = """
global
    stats socket {sock} level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout check 2s
    option log-health-checks
    default-server inter 300 rise 1 fall 1
backend tc_ok
    option tcp-check
    tcp-check comment ping
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
    server s1 127.0.0.1:{tc_ok} check
backend tc_bad
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect string PONG comment pong
    server s1 127.0.0.1:{tc_bad} check
backend tc_banner
    option tcp-check
    tcp-check expect rstring ^220
    tcp-check send QUIT\\r\\n
    server s1 127.0.0.1:{tc_banner} check
backend tc_master
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
    tcp-check send info\\ replication\\r\\n
    tcp-check expect string role:master
    tcp-check send QUIT\\r\\n
    tcp-check expect string +OK
    server s1 127.0.0.1:{tc_master} check
backend tc_reset
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
    server s1 127.0.0.1:{tc_reset} check
backend tc_refused
    option tcp-check
    tcp-check connect port {dead}
    tcp-check send-binary 50494e470d0a
    server s1 127.0.0.1:{tc_ok} check
backend tc_binary
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect ! binary 2b504f4e47 on-error "bad: %[res.payload(0,0),cut_crlf]"
    server s1 127.0.0.1:{tc_ok} check
backend redis_ok
    option redis-check
    server s1 127.0.0.1:{redis_ok} check
backend redis_err
    option redis-check
    server s1 127.0.0.1:{redis_err} check
backend mysql_ok
    option mysql-check
    server s1 127.0.0.1:{mysql_ok} check
backend mysql_user_ok
    option mysql-check user chk
    server s1 127.0.0.1:{mysql_user_ok} check
backend mysql_denied
    option mysql-check user chk post-41
    server s1 127.0.0.1:{mysql_denied} check
backend pg_ok
    option pgsql-check user chk
    server s1 127.0.0.1:{pg_ok} check
backend pg_err
    option pgsql-check user chk
    server s1 127.0.0.1:{pg_err} check
backend ldap_ok
    option ldap-check
    server s1 127.0.0.1:{ldap_ok} check
backend ldap_bad
    option ldap-check
    server s1 127.0.0.1:{ldap_bad} check
backend smtp_ok
    option smtpchk EHLO checker.test
    server s1 127.0.0.1:{smtp_ok} check
backend smtp_busy
    option smtpchk
    server s1 127.0.0.1:{smtp_busy} check
"""

# backend -> (the check_status show stat settles on, what stderr says of it)
EXPECTED: dict[str, tuple[str, str]] = {
    "tc_ok": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "(tcp-check)"'),
    "tc_bad": ("L7RSP", "failed, reason: Layer7 invalid response, "
                        "info: \"TCPCHK did not match content 'PONG' at step 2 comment: pong\""),
    "tc_banner": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "(tcp-check)"'),
    "tc_master": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "(tcp-check)"'),
    "tc_reset": ("SOCKERR", "failed, reason: Socket error, info: \"Connection reset by peer at step 2 "
                            "of tcp-check (expect string '+PONG')\""),
    "tc_refused": ("L4CON", 'failed, reason: Layer4 connection problem, '
                            'info: "Connection refused at step 1 of tcp-check (connect port {dead})"'),
    "tc_binary": ("L7RSP", 'failed, reason: Layer7 invalid response, info: "bad: +PONG"'),
    "redis_ok": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "Redis server is ok"'),
    "redis_err": ("L7STS", 'failed, reason: Layer7 wrong status, code: 0, info: "-ERR unknown command"'),
    "mysql_ok": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "5.7.99-test"'),
    "mysql_user_ok": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "5.7.99-test"'),
    "mysql_denied": ("L7STS", "failed, reason: Layer7 wrong status, code: 1045, "
                              "info: \"#28000Access denied for user 'chk'\""),
    "pg_ok": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "PostgreSQL server is ok"'),
    "pg_err": ("L7RSP", 'failed, reason: Layer7 invalid response, info: "FATAL"'),
    "ldap_ok": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "Success"'),
    "ldap_bad": ("L7STS", "failed, reason: Layer7 wrong status, code: 49, "
                          'info: "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9"'),
    "smtp_ok": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 221, info: "2.0.0 Bye"'),
    "smtp_busy": ("L7STS", "failed, reason: Layer7 wrong status, code: 421, "
                           'info: "mx.test too busy, try later"'),
}


def test_rules_and_protocol_checks(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                                   speakers: dict[str, Speaker]) -> None:
    sock = tmp_path / "admin.sock"
    dead = free_port()
    ports = {name: s.port for name, s in speakers.items()}
    px = proxy.start(CFG, sock=sock, dead=dead, **ports)

    def settled() -> dict[tuple[str, str], dict[str, str]] | None:
        rows = show_stat(sock)
        done = all(rows.get((be, "s1"), {}).get("check_status") == st for be, (st, _) in EXPECTED.items())
        return rows if done else None

    rows = wait_until(settled, 30, message="every check's status")
    assert rows[("mysql_denied", "s1")]["check_code"] == "1045", (binary, rows[("mysql_denied", "s1")])
    assert rows[("ldap_bad", "s1")]["check_code"] == "49", binary
    assert rows[("redis_ok", "s1")]["check_code"] == "0", binary      # (L7OK: a code, 0)
    assert rows[("pg_err", "s1")]["check_code"] == "", binary         # (L7RSP: none)
    # last_chk: the check's text, as 2.6 keeps it
    assert rows[("redis_ok", "s1")]["last_chk"] == "Redis server is ok", binary
    assert rows[("tc_bad", "s1")]["last_chk"] == \
        "TCPCHK did not match content 'PONG' at step 2 comment: pong", binary
    assert rows[("tc_ok", "s1")]["status"] == "UP", binary
    assert rows[("pg_err", "s1")]["status"] == "DOWN", binary

    def text() -> str:
        return re.sub(r"check duration: \d+ms", "check duration: Nms", px.stderr_text())

    for be, (_, said) in EXPECTED.items():
        said = said.format(dead=dead)
        lines = [f"Health check for server {be}/s1 {said}, check duration: Nms, status: "
                 + ("1/1 UP." if said.startswith("succeeded") else "0/1 DOWN.")]
        if said.startswith("failed"):
            # 2.6: with log-health-checks, the transition itself gives no reason
            lines.append(f"Server {be}/s1 is DOWN. 0 active and 0 backup servers left.")
        for line in lines:
            wait_until(lambda line=line: line in text(), 15, message=f"{binary}: {line}")  # type: ignore[misc]
    assert px.alive(), binary


@pytest.mark.parametrize("line, message", [
    ("tcp-check connect port 0", "expects a valid TCP port (from range 1 to 65535)"),
    ("tcp-check expect", "expects at least a matching pattern as arguments"),
    ("tcp-check expect string", "'string' expects a <pattern> as argument"),
    ("tcp-check expect bogus x", "but got 'bogus' as argument"),
    ("tcp-check expect string x error-status L9XX",
     "'error-status' only supports 'L4CON', 'L6RSP', 'L7RSP' or"),
    ("tcp-check send-binary 4g", "'4g' invalid binary string (an hex digit is expected (found 'g'))"),
    ("tcp-check expect binary 414",
     "'tcp-check expect' : invalid binary string (an even number of hex digit is expected)"),
    ("tcp-check frob", "'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'expect'"),
    ("option pgsql-check", "'option pgsql-check' expects 'user <username>' as argument."),
    ("option mysql-check user chk post-42",
     "keyword 'user' only supports 'post-41' and 'pre-41' (got 'post-42')"),
    ("option redis-check now", "'option redis-check' cannot handle unexpected argument 'now'."),
])
def test_bad_rules(binary: str, tmp_path: Path, line: str, message: str) -> None:  # noqa: F811
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n"
                   "    timeout server 1s\nbackend b\n    option tcp-check\n    tcp-check comment x\n"
                   f"    {line}\n    server s1 127.0.0.1:1 check\n")
    res = subprocess.run([*base_command(), "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 1, (binary, res.stderr)
    assert "[ALERT]" in res.stderr and f"parsing [{cfg}:9]" in res.stderr, (binary, res.stderr)
    assert message in res.stderr, (binary, res.stderr)


def proxy_then_ping(conn: socket.socket) -> None:
    """Answers +PONG when the check opened with a PROXY v1 line, -ERR otherwise."""
    data = b""
    for _ in range(10):
        data += conn.recv(4096)
        if data.count(b"\r\n") >= 2 or not data.startswith(b"PROXY"):
            break
    conn.sendall(b"+PONG\r\n" if data.startswith(b"PROXY TCP4 127.0.0.1 127.0.0.1 ") else b"-ERR\r\n")
    _drain(conn)


CFG2 = """
global
    stats socket {sock} level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout check 500
    option log-health-checks
    default-server inter 300 rise 1 fall 1
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
backend inherited
    server s1 127.0.0.1:{pong} check
backend own
    tcp-check send PING\\r\\n
    tcp-check expect string PONG!
    server s1 127.0.0.1:{pong_close} check
backend tout
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect string PONG tout-status L6TOUT comment waiting
    server s1 127.0.0.1:{nope} check
backend minrecv
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect min-recv 3 rstring ^\\+NO error-status L7STS
    server s1 127.0.0.1:{pong} check
backend pp
    option tcp-check
    tcp-check connect send-proxy
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG on-success "pong after %[res.payload(0,1)]"
    server s1 127.0.0.1:{pp} check
backend addr_port
    option tcp-check
    tcp-check connect addr 127.0.0.1:{pong}
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
    server s1 127.0.0.1:1 check
backend last_send
    option tcp-check
    tcp-check connect
    tcp-check send PING\\r\\n
    server s1 127.0.0.1:{pong} check
"""

EXPECTED2: dict[str, tuple[str, str]] = {
    "inherited": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "(tcp-check)"'),
    "own": ("L7RSP", "failed, reason: Layer7 invalid response, "
                     "info: \"TCPCHK did not match content 'PONG!' at step 2\""),
    "tout": ("L6TOUT", "failed, reason: Layer6 timeout, "
                       "info: \" at step 2 of tcp-check (expect string 'PONG') comment: 'waiting'\""),
    "minrecv": ("L7STS", "failed, reason: Layer7 wrong status, code: 0, "
                         'info: "TCPCHK did not match content (regex) at step 2"'),
    "pp": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "pong after +"'),
    "addr_port": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "(tcp-check)"'),
    "last_send": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "(tcp-check)"'),
}


def test_rules_inherited_timeouts_and_proxy_header(proxy: Any, binary: str,  # noqa: F811
                                                   tmp_path: Path) -> None:
    made = {"pong": Speaker(answer(b"+PONG\r\n", keep=True)),
            "pong_close": Speaker(answer(b"+PONG\r\n")),
            "nope": Speaker(answer(b"+NOPE\r\n", keep=True)),
            "pp": Speaker(proxy_then_ping)}
    try:
        sock = tmp_path / "admin.sock"
        px = proxy.start(CFG2, sock=sock, **{n: s.port for n, s in made.items()})

        def settled() -> bool:
            rows = show_stat(sock)
            return all(rows.get((be, "s1"), {}).get("check_status") == st
                       for be, (st, _) in EXPECTED2.items())

        wait_until(settled, 30, message="every check's status")

        def text() -> str:
            return re.sub(r"check duration: \d+ms", "check duration: Nms", px.stderr_text())

        for be, (_, said) in EXPECTED2.items():
            line = (f"Health check for server {be}/s1 {said}, check duration: Nms, status: "
                    + ("1/1 UP." if said.startswith("succeeded") else "0/1 DOWN."))
            wait_until(lambda line=line: line in text(), 15, message=f"{binary}: {line}")  # type: ignore[misc]
        assert px.alive(), binary
    finally:
        for s in made.values():
            s.close()


CFG3 = """
global
    stats socket {sock} level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout check 2s
    option log-health-checks
    default-server inter 300 rise 1 fall 1
backend tls_rules
    option tcp-check
    tcp-check connect ssl sni localhost
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
    server s1 127.0.0.1:{tls} check verify none
backend tls_only
    option tcp-check
    tcp-check connect ssl
    server s1 127.0.0.1:{tls} check verify none
"""

EXPECTED3: dict[str, tuple[str, str]] = {
    "tls_rules": ("L7OK", 'succeeded, reason: Layer7 check passed, code: 0, info: "(tcp-check)"'),
    "tls_only": ("L6OK", 'succeeded, reason: Layer6 check passed, info: "(tcp-check)"'),
}


def test_connect_ssl(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    """`tcp-check connect ssl`: the rules go over TLS (the server line has no `ssl`)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True, timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def talk(conn: socket.socket) -> None:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            if tls.recv(4096):
                tls.sendall(b"+PONG\r\n")
            for _ in range(100):
                if not tls.recv(4096):
                    return

    server = Speaker(talk)
    try:
        sock = tmp_path / "admin.sock"
        px = proxy.start(CFG3, sock=sock, tls=server.port)

        def settled() -> bool:
            rows = show_stat(sock)
            return all(rows.get((be, "s1"), {}).get("check_status") == st
                       for be, (st, _) in EXPECTED3.items())

        wait_until(settled, 30, message="every check's status")

        def text() -> str:
            return re.sub(r"check duration: \d+ms", "check duration: Nms", px.stderr_text())

        for be, (_, said) in EXPECTED3.items():
            line = f"Health check for server {be}/s1 {said}, check duration: Nms, status: 1/1 UP."
            wait_until(lambda line=line: line in text(), 15, message=f"{binary}: {line}")  # type: ignore[misc]
    finally:
        server.close()
