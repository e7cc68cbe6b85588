"""End-to-end tests of the worker's log lines: syslog over UDP and a UNIX datagram socket.

A real `python -m pyhaproxy -f CFG -db` sends its lines to receivers opened here; each line is
parsed with a regex that follows HAProxy's documented formats (the 1.2 manual,
https://github.com/haproxy/haproxy/blob/v1.2.14/doc/haproxy-en.txt, section 4.2,
in the 1.3+ form: accept date with milliseconds, `frontend backend/server`, ACT/FE/BE/SRV/RETRIES):

  <PRI>Mon DD HH:MM:SS haproxy[PID]: IP:PORT [DD/Mon/YYYY:HH:MM:SS.mmm] FE BE/SRV
      httplog: Tq/Tw/Tc/Tr/Tt STATUS BYTES CCREQ CCRSP TTTT ACT/FE/BE/SRV/RETRIES SQ/BQ "REQUEST"
      tcplog:  Tw/Tc/Tt BYTES TT ACT/FE/BE/SRV/RETRIES SQ/BQ
  default: "Connect from IP:PORT to IP:PORT (NAME/MODE)" at accept (HAProxy 1.2).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import HttpResponse, free_port, recv_until_closed
from tests.helpers.htx import htx_head_size, htx_size
from tests.helpers.syslog import LEVEL_INFO, Syslog

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"
TIMEOUTS = """
        contimeout 3000
        clitimeout 10000
        srvtimeout 10000"""
FAC_LOCAL0 = 16
FAC_LOCAL3 = 19

SYSLOG_RE = re.compile(
    r"^<(?P<pri>\d{1,3})>(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?P<day>[ 1-3]\d) "
    r"(?P<time>\d{2}:\d{2}:\d{2}) haproxy\[(?P<pid>\d+)\]: (?P<msg>.*)\n$", re.S)
MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
DATE = r"\[(?P<date>\d{2}/(?:" + MONTHS + r")/\d{4}:\d{2}:\d{2}:\d{2}\.\d{3})\]"
COUNTERS = (r"(?P<act>\d+)/(?P<fe_conn>\d+)/(?P<be_conn>\d+)/(?P<srv_conn>\d+)/(?P<retries>\+?\d+) "
            r"(?P<srv_queue>\d+)/(?P<be_queue>\d+)")
HTTPLOG_RE = re.compile(
    r"^(?P<client>[\d.]+):(?P<port>\d+) " + DATE + r" (?P<fe>\S+) (?P<be>[^/\s]+)/(?P<srv>\S+) "
    r"(?P<tq>-1|\d+)/(?P<tw>-1|\d+)/(?P<tc>-1|\d+)/(?P<tr>-1|\d+)/(?P<tt>\+?\d+) "
    r"(?P<status>-1|\d{3}) (?P<bytes>\+?\d+) (?P<cc_req>\S+) (?P<cc_rsp>\S+) "
    r"(?P<term>[-CSPRIcs][-RQCHDLT][-NIDV][-NIPRD]) " + COUNTERS +
    r"(?: \{(?P<req_hdrs>[^}]*)\})?(?: \{(?P<rsp_hdrs>[^}]*)\})? \"(?P<request>[^\"]*)\"$")
TCPLOG_RE = re.compile(
    r"^(?P<client>[\d.]+):(?P<port>\d+) " + DATE + r" (?P<fe>\S+) (?P<be>[^/\s]+)/(?P<srv>\S+) "
    r"(?P<tw>-1|\d+)/(?P<tc>-1|\d+)/(?P<tt>\+?\d+) (?P<bytes>\+?\d+) (?P<term>[-CSPRIcs][-RQCHDL]) "
    + COUNTERS + "$")
CONNECT_RE = re.compile(r"^Connect from (?P<src>[\d.]+):(?P<sport>\d+) to (?P<dst>[\d.]+):(?P<dport>\d+) "
                        r"\((?P<name>[^/]+)/(?P<mode>HTTP|TCP)\)$")


def parse(datagram: str, pri: int = FAC_LOCAL0 * 8 + LEVEL_INFO) -> str:
    """Check the RFC 3164 header (priority, date, `haproxy[pid]: `) and return the message."""
    m = SYSLOG_RE.match(datagram)
    assert m, f"not a syslog line: {datagram!r}"
    assert int(m["pri"]) == pri, datagram
    assert len(datagram.encode("latin-1")) <= 1024
    return m["msg"]


def httplog(datagram: str, pri: int = FAC_LOCAL0 * 8 + LEVEL_INFO) -> re.Match[str]:
    msg = parse(datagram, pri)
    m = HTTPLOG_RE.match(msg)
    assert m, f"not an httplog line: {msg!r}"
    return m


def tcplog(datagram: str) -> re.Match[str]:
    msg = parse(datagram)
    m = TCPLOG_RE.match(msg)
    assert m, f"not a tcplog line: {msg!r}"
    return m


# ---------------------------------------------------------------------------------------------
# clients


def http_get(port: int, request: bytes | None = None, timeout: float = 15.0) -> bytes:
    """Send one request and read until the proxy closes; returns the raw answer."""
    req = request if request is not None else b"GET /x?a=1 HTTP/1.0\r\nHost: t\r\n\r\n"
    with socket.create_connection((HOST, port), timeout=timeout) as c:
        c.sendall(req)
        return recv_until_closed(c, timeout=timeout)


def read_response(c: socket.socket) -> bytes:
    """One Content-Length delimited response from a kept-alive connection."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = c.recv(65536)
        assert chunk, buf
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head)[1])  # type: ignore[index]
    while len(body) < length:
        chunk = c.recv(65536)
        assert chunk
        body += chunk
    return head + b"\r\n\r\n" + body


def listen_cfg(port: int, log: str, opts: str, servers: str, mode: str = "http", glob: str = "") -> str:
    return f"""
    global
        maxconn 100
{glob}
    listen logged {HOST}:{port}
        mode {mode}
        balance roundrobin
{opts}
        {log}
        {TIMEOUTS}
{servers}
    """


# ---------------------------------------------------------------------------------------------
# HTTP


def test_httplog_200(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(keepalive=False)
    port = free_port()
    px = proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "        option httplog",
                                f"        server s1 {HOST}:{be.address[1]}"))
    answer = http_get(port)
    assert answer.startswith(b"HTTP/1.1 200")
    datagram = rx.line()
    m = httplog(datagram)
    assert m["client"] == HOST and m["fe"] == "logged" and m["be"] == "logged" and m["srv"] == "s1"
    assert m["status"] == "200" and m["term"] == "----"
    assert int(m["bytes"]) == htx_size(answer)     # (2.6 counts the HTX form: tests/helpers/htx.py)
    tq, tw, tc, tr, tt = (int(m[k]) for k in ("tq", "tw", "tc", "tr", "tt"))
    assert min(tq, tw, tc, tr) >= 0 and tt >= tq + tw + tc + tr
    assert m["cc_req"] == "-" and m["cc_rsp"] == "-"
    assert m["request"] == "GET /x?a=1 HTTP/1.0"
    assert m["retries"] == "0" and m["srv_queue"] == "0" and m["be_queue"] == "0"
    assert int(m["act"]) >= 1 and int(m["fe_conn"]) >= 1
    # the date is the accept time, in local time, within the last minute
    accepted = time.mktime(time.strptime(m["date"][:-4], "%d/%b/%Y:%H:%M:%S"))
    assert abs(time.time() - accepted) < 60
    header = SYSLOG_RE.match(datagram)
    assert header and int(header["pid"]) in px.worker_pids() + [px.master_pid]


def test_httplog_keepalive_one_line_per_request(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend()
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "        option httplog",
                           f"        server s1 {HOST}:{be.address[1]}"))
    with socket.create_connection((HOST, port), timeout=10) as c:
        for i in range(3):
            c.sendall(f"GET /r{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            assert read_response(c).startswith(b"HTTP/1.1 200")
    lines = [httplog(d) for d in rx.lines(3)]
    assert [m["request"] for m in lines] == ["GET /r0 HTTP/1.1", "GET /r1 HTTP/1.1", "GET /r2 HTTP/1.1"]
    assert all(m["status"] == "200" and m["term"] == "----" for m in lines)
    assert rx.quiet_for(0.5) == []


def test_dead_server_sc_503(proxy, syslog) -> None:
    rx, lport = syslog
    dead = free_port()
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "        option httplog\n        retries 2",
                           f"        server dead {HOST}:{dead}"))
    answer = http_get(port)
    assert answer.startswith(b"HTTP/1.1 503")
    m = httplog(rx.line())
    assert m["status"] == "503" and m["term"] == "SC--" and m["srv"] == "dead"
    assert int(m["tq"]) >= 0 and m["tc"] == "-1" and m["tr"] == "-1"
    assert m["retries"] == "2"


def test_client_abort_cr(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend()
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "        option httplog",
                           f"        server s1 {HOST}:{be.address[1]}"))
    with socket.create_connection((HOST, port), timeout=10) as c:
        c.sendall(b"GET /never-fin")
        time.sleep(0.2)
    m = httplog(rx.line())
    assert m["term"] == "CR--" and m["srv"] == "<NOSRV>"
    assert (m["tq"], m["tw"], m["tc"], m["tr"]) == ("-1", "-1", "-1", "-1")
    assert m["request"] == "<BADREQ>"
    assert be.request_count() == 0


def test_server_timeout_sh_504(proxy, tcp_backend, syslog) -> None:
    rx, lport = syslog
    silent = tcp_backend("silent")
    port = free_port()
    cfg = f"""
    listen logged {HOST}:{port}
        mode http
        option httplog
        log {HOST}:{lport} local0
        contimeout 3000
        clitimeout 10000
        srvtimeout 400
        server mute {HOST}:{silent.address[1]}
    """
    proxy.start(cfg)
    answer = http_get(port)
    assert answer.startswith(b"HTTP/1.1 504")
    m = httplog(rx.line())
    assert m["status"] == "504" and m["term"] == "sH--" and m["srv"] == "mute"
    assert int(m["tc"]) >= 0 and m["tr"] == "-1" and int(m["tt"]) >= 400


def test_bad_request_pr_400(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend()
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "        option httplog",
                           f"        server s1 {HOST}:{be.address[1]}"))
    answer = http_get(port, b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    m = httplog(rx.line())
    assert m["status"] == "400" and m["term"] == "PR--" and m["srv"] == "<NOSRV>"
    assert m["tq"] == "-1"
    assert m["request"] == "GET / HTTP/1.1"


def test_request_line_escaping(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(keepalive=False)
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "        option httplog",
                           f"        server s1 {HOST}:{be.address[1]}"))
    http_get(port, b'GET /a#b"c HTTP/1.0\r\n\r\n')
    m = httplog(rx.line())
    assert m["request"] == "GET /a#23b#22c HTTP/1.0"


def test_long_line_cut_at_1024(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(keepalive=False)
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "        option httplog",
                           f"        server s1 {HOST}:{be.address[1]}"))
    uri = "/" + "a" * 3000
    assert http_get(port, f"GET {uri} HTTP/1.0\r\n\r\n".encode()).startswith(b"HTTP/1.1 200")
    datagram = rx.line()
    # header + message cut at 1024 bytes, then the newline: haproxy 2.6 sends 1025 bytes
    assert len(datagram) == 1025 and datagram.endswith("a\n")
    assert SYSLOG_RE.match(datagram) and f'"GET /{"a" * 100}' in datagram


def test_monitor_uri_not_logged(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(keepalive=False)
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0",
                           "        option httplog\n        monitor-uri /alive",
                           f"        server s1 {HOST}:{be.address[1]}"))
    assert http_get(port, b"GET /alive HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200")
    http_get(port)
    assert httplog(rx.line())["request"].startswith("GET /x")
    assert rx.quiet_for(0.3) == []


def test_dontlognull(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(keepalive=False)
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0",
                           "        option httplog\n        option dontlognull",
                           f"        server s1 {HOST}:{be.address[1]}"))
    for _ in range(3):
        socket.create_connection((HOST, port), timeout=5).close()
    time.sleep(0.3)
    http_get(port)
    m = httplog(rx.line())
    assert m["status"] == "200" and m["request"].startswith("GET /x")
    assert rx.quiet_for(0.5) == []


def test_null_connection_logged_without_dontlognull(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend()
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "        option httplog",
                           f"        server s1 {HOST}:{be.address[1]}"))
    socket.create_connection((HOST, port), timeout=5).close()
    m = httplog(rx.line())
    assert m["term"] in ("CR--", "----")   # HAProxy: CR--; see the note in the report
    assert m["request"] == "<BADREQ>"


def test_logasap_http(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(keepalive=False, response=HttpResponse(body=b"x" * 50000, delay=0.0))
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0",
                           "        option httplog\n        option logasap",
                           f"        server s1 {HOST}:{be.address[1]}"))
    answer = http_get(port)
    assert answer.endswith(b"x" * 50000)
    m = httplog(rx.line())
    assert m["tt"].startswith("+") and m["bytes"].startswith("+")
    # 2.6 logs what its buffer holds of the response then (HTX form): the head and the part of
    # the body read with it
    head = answer[:answer.index(b"\r\n\r\n")]
    assert htx_head_size(head) <= int(m["bytes"][1:]) <= htx_size(answer)
    assert rx.quiet_for(0.5) == []


def test_cookie_flags_and_capture(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(keepalive=False)
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0",
                           "        option httplog\n        cookie SERVERID insert indirect\n"
                           "        capture cookie SERVERID len 32",
                           f"        server s1 {HOST}:{be.address[1]} cookie A"))
    http_get(port)
    m = httplog(rx.line())
    assert m["term"] == "--NI", m.string
    assert m["cc_req"] == "-" and m["cc_rsp"] == "SERVERID=A"
    http_get(port, b"GET / HTTP/1.0\r\nCookie: SERVERID=A\r\n\r\n")
    m = httplog(rx.line())
    assert m["term"] == "--VN", m.string
    assert m["cc_req"] == "SERVERID=A"
    http_get(port, b"GET / HTTP/1.0\r\nCookie: SERVERID=zz\r\n\r\n")
    m = httplog(rx.line())
    assert m["term"] == "--II", m.string


def test_cookie_flags_of_a_backend_behind_a_frontend(proxy, binary, http_backend, syslog) -> None:  # noqa: F811
    """The request cookie's state (3rd character) is the backend's, known once the frontend has
    chosen it: `--II` for a cookie naming no server, as 2.6 logs it (it was `--NI` when the
    cookie mode was looked up on the frontend, which has none). Both binaries."""
    rx, lport = syslog
    be = http_backend(keepalive=False)
    port = free_port()
    proxy.start(f"""
    defaults
        mode http
        timeout connect 5s
        timeout client 10s
        timeout server 10s
    frontend fe
        bind {HOST}:{port}
        log {HOST}:{lport} local0
        option httplog
        default_backend be
    backend be
        cookie SERVERID insert indirect
        server s1 {HOST}:{be.address[1]} cookie A
    """)
    for cookie, term in (("", "--NI"), ("Cookie: SERVERID=A\r\n", "--VN"),
                         ("Cookie: SERVERID=zz\r\n", "--II")):
        http_get(port, f"GET / HTTP/1.0\r\n{cookie}\r\n".encode())
        m = httplog(rx.line())
        assert m["term"] == term, (binary, m.string)


# ---------------------------------------------------------------------------------------------
# TCP and the default format


def test_tcplog(proxy, tcp_echo_backend, syslog) -> None:
    rx, lport = syslog
    echo = tcp_echo_backend()
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "        option tcplog",
                           f"        server e1 {HOST}:{echo.address[1]}", mode="tcp"))
    with socket.create_connection((HOST, port), timeout=10) as c:
        c.sendall(b"hello world")
        got = b""
        while len(got) < 11:
            chunk = c.recv(100)
            assert chunk
            got += chunk
        c.shutdown(socket.SHUT_WR)
        recv_until_closed(c, timeout=10)
    m = tcplog(rx.line())
    assert m["srv"] == "e1" and m["term"] == "--" and m["bytes"] == "11"
    assert int(m["tw"]) >= 0 and int(m["tc"]) >= 0 and int(m["tt"]) >= int(m["tc"])


def test_tcplog_refused_sc(proxy, syslog) -> None:
    rx, lport = syslog
    dead = free_port()
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "        option tcplog\n        retries 1",
                           f"        server dead {HOST}:{dead}", mode="tcp"))
    with socket.create_connection((HOST, port), timeout=10) as c:
        c.sendall(b"x")
        recv_until_closed(c, timeout=10)
    m = tcplog(rx.line())
    assert m["term"] == "SC" and m["tc"] == "-1" and m["retries"] == "1"


def test_tcplog_logasap(proxy, tcp_echo_backend, syslog) -> None:
    rx, lport = syslog
    echo = tcp_echo_backend()
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0",
                           "        option tcplog\n        option logasap",
                           f"        server e1 {HOST}:{echo.address[1]}", mode="tcp"))
    with socket.create_connection((HOST, port), timeout=10) as c:
        m = tcplog(rx.line())      # logged at connect, before any data
        assert m["tt"].startswith("+") and m["bytes"].startswith("+")
        c.sendall(b"abc")
        assert c.recv(10) == b"abc"
    assert rx.quiet_for(0.5) == []


def test_default_connect_line(proxy, tcp_echo_backend, syslog) -> None:
    rx, lport = syslog
    echo = tcp_echo_backend()
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "",
                           f"        server e1 {HOST}:{echo.address[1]}", mode="tcp"))
    with socket.create_connection((HOST, port), timeout=10) as c:
        src_port = c.getsockname()[1]
        m = CONNECT_RE.match(parse(rx.line()))
        assert m, "no Connect line"
        assert (m["src"], int(m["sport"]), m["dst"], int(m["dport"])) == (HOST, src_port, HOST, port)
        assert (m["name"], m["mode"]) == ("logged", "TCP")
    assert rx.quiet_for(0.5) == []       # nothing more at the end of the session


# ---------------------------------------------------------------------------------------------
# targets


def test_log_global_and_levels(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(keepalive=False)
    port = free_port()
    glob = f"        log {HOST}:{lport} local3 info"
    proxy.start(listen_cfg(port, "log global", "        option httplog",
                           f"        server s1 {HOST}:{be.address[1]}", glob=glob))
    http_get(port)
    m = httplog(rx.line(), pri=FAC_LOCAL3 * 8 + LEVEL_INFO)
    assert m["status"] == "200"


def test_max_level_filters_connection_logs(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(keepalive=False)
    port = free_port()
    proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0 notice", "        option httplog",
                           f"        server s1 {HOST}:{be.address[1]}"))
    http_get(port)
    assert [d for d in rx.quiet_for(0.7) if "GET /x" in d] == []


def test_unix_datagram_target(proxy, http_backend, tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    try:
        rx = Syslog(s)
        be = http_backend(keepalive=False)
        port = free_port()
        proxy.start(listen_cfg(port, f"log {path} local0", "        option httplog",
                               f"        server s1 {HOST}:{be.address[1]}"))
        http_get(port)
        m = httplog(rx.line())
        assert m["status"] == "200" and m["term"] == "----"
    finally:
        s.close()


def test_ipv6_target(proxy, http_backend) -> None:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.bind(("::1", 0))
    except OSError:
        s.close()
        pytest.skip("no IPv6 loopback")
    try:
        rx = Syslog(s)
        be = http_backend(keepalive=False)
        port = free_port()
        proxy.start(listen_cfg(port, f"log [::1]:{s.getsockname()[1]} local0", "        option httplog",
                               f"        server s1 {HOST}:{be.address[1]}"))
        http_get(port)
        assert httplog(rx.line())["status"] == "200"
    finally:
        s.close()


def test_no_syslog_listener(proxy, http_backend) -> None:
    """Sending to a closed UDP port (ICMP port unreachable) never disturbs the traffic."""
    be = http_backend(keepalive=False)
    port, nolog = free_port(), free_port()
    unix_missing = "/nonexistent-dir/log.sock"
    px = proxy.start(listen_cfg(port, f"log {HOST}:{nolog} local0\n        log {unix_missing} local1",
                                "        option httplog", f"        server s1 {HOST}:{be.address[1]}"))
    for _ in range(30):
        assert http_get(port).startswith(b"HTTP/1.1 200")
    assert px.alive()
    assert be.request_count() == 30


def test_debug_trace(proxy, http_backend, syslog) -> None:
    rx, lport = syslog
    be = http_backend(keepalive=False)
    port = free_port()
    px = proxy.start(listen_cfg(port, f"log {HOST}:{lport} local0", "        option httplog",
                                f"        server s1 {HOST}:{be.address[1]}"), args=["-d"])
    http_get(port)
    rx.line()
    wait: Callable[[], bool] = lambda: ".closed[" in px.stdout_text()  # noqa: E731
    deadline = time.monotonic() + 10
    while not wait() and time.monotonic() < deadline:
        time.sleep(0.05)
    out = px.stdout_text()
    uid, fd = "[0-9a-f]{8}", "[0-9a-f]{4}"
    expected = [
        rf"{uid}:logged\.accept\({fd}\)={fd} from \[127\.0\.0\.1:\d+\]",
        rf"{uid}:logged\.clireq\[{fd}:{fd}\]: GET /x\?a=1 HTTP/1\.0",
        rf"{uid}:logged\.clihdr\[{fd}:{fd}\]: Host: t",
        rf"{uid}:logged\.srvrep\[{fd}:{fd}\]: HTTP/1\.1 200 OK",
        rf"{uid}:logged\.closed\[{fd}:{fd}\]",
    ]
    for pattern in expected:
        assert re.search(f"^{pattern}$", out, re.M), (pattern, out)
