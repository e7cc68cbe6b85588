"""How 2.6 turns a log format into a line, against pyhaproxy and /usr/sbin/haproxy (2.6):

- `option httplog clf` (the Common Log Format order of the same fields, 8.2.3), and 2.6's refusal
  of any other word after `option httplog`;
- the last of `log-format`, `option httplog [clf]` and `option tcplog` wins, defaults included;
- spaces are separators (2.6 parses with LOG_OPT_MERGE_SPACES): a run of them is one space, none
  at the start of the line, none after a field that wrote nothing (`%hr` without captures);
- an empty value is `-` in a log line, `""` when quoted (`%{+Q}`), and nothing at all in a
  unique ID (2.6 parses unique-id-format without LOG_OPT_MANDATORY, and writes its samples
  unquoted).
"""

from __future__ import annotations

import re
import socket
from typing import Any

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers.net import LOCALHOST, free_ports
from tests.helpers.syslog import SYSLOG_RE

HEAD = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    timeout client 5s
    timeout connect 5s
    timeout server 5s
"""


def _message(line: str) -> str:
    m = SYSLOG_RE.match(line)
    assert m, line
    return m["msg"]


def _get(port: int, path: str = "/x?y=1", extra: str = "") -> None:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: h{port}\r\n{extra}Connection: close\r\n\r\n".encode())
        while s.recv(65536):
            pass


def _log_of(proxy: Any, syslog: Any, cfg: str, path: str = "/x?y=1", extra: str = "") -> str:
    log, logport = syslog
    port, dead = free_ports(2)
    proxy.start(HEAD + cfg, logport=logport, port=port, dead=dead, rest=REST)
    _get(port, path, extra)
    return _message(log.lines_with(path.split("?")[0], 1)[0]).replace(str(port), "PORT")


REST = '%[var(txn.none)]  b %{+Q}[var(txn.e)] %HP'  # (the rest of a long log-format line)


def test_option_httplog_clf(proxy: Any, binary: str, syslog: Any) -> None:  # noqa: F811
    line = _log_of(proxy, syslog, """
frontend fe
    bind 127.0.0.1:{port}
    option httplog clf
    capture request header Host len 30
    http-request return status 200
""")
    # (a trailing space: %hsl writes nothing without response captures, its separator stays)
    assert re.fullmatch(
        r'127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
        r'"GET /x\?y=1 HTTP/1\.1" 200 \d+ '
        r'"" "" \d+ \d{3} "fe" "fe" "<NOSRV>" \d+ -1 -1 -1 \d+ LR-- 1 1 0 0 0 0 0 "" "" "hPORT" ',
        line), line


def test_option_httplog_takes_clf_only(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    cfg = tmp_path / "h.cfg"
    out = proxy.refuses(cfg, "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n"
                        "    timeout connect 1s\nfrontend fe\n    bind 127.0.0.1:80\n"
                        "    option httplog foo\n")
    assert f"parsing [{cfg}:8] : keyword 'httplog' only supports option 'clf'." in out


HTTPLOG_RE = (r'127\.0\.0\.1:\d+ \[[^\]]+\] fe fe/<NOSRV> \d+/-1/-1/-1/\d+ 200 \d+ - - LR-- 1/1/0/0/0 0/0 '
              r'"GET /x\?y=1 HTTP/1\.1"')


def test_option_httplog_after_log_format_wins(proxy: Any, binary: str, syslog: Any) -> None:  # noqa: F811
    line = _log_of(proxy, syslog, """
frontend fe
    bind 127.0.0.1:{port}
    log-format "CUSTOM %ci %HP"
    option httplog
    http-request return status 200
""")
    assert re.fullmatch(HTTPLOG_RE, line), line


def test_frontend_httplog_replaces_the_defaults_log_format(proxy: Any, binary: str,  # noqa: F811
                                                           syslog: Any) -> None:
    line = _log_of(proxy, syslog, """
    log-format "CUSTOM %ci %HP"
frontend fe
    bind 127.0.0.1:{port}
    option httplog
    http-request return status 200
""")
    assert re.fullmatch(HTTPLOG_RE, line), line


def test_log_format_after_httplog_clf_wins(proxy: Any, binary: str, syslog: Any) -> None:  # noqa: F811
    line = _log_of(proxy, syslog, """
    option httplog clf
frontend fe
    bind 127.0.0.1:{port}
    log-format "CUSTOM %ci %HP"
    http-request return status 200
""")
    assert line == "CUSTOM 127.0.0.1 /x"


def test_spaces_merge_and_empty_values(proxy: Any, binary: str, syslog: Any) -> None:  # noqa: F811
    line = _log_of(proxy, syslog, """
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.e) req.hdr(x-empty)
    log-format "%{+Q}o   %{-Q}ci    a  %[var(txn.none)] %{-Q}[var(txn.none)] %hr %hs {rest}"
    http-request return status 200
""", extra="X-Empty: \r\n")
    assert line == '127.0.0.1 a "" - "" b "" "/x"'


def test_unique_id_leaves_an_empty_value_empty(proxy: Any, binary: str, syslog: Any) -> None:  # noqa: F811
    line = _log_of(proxy, syslog, """
frontend fe
    bind 127.0.0.1:{port}
    unique-id-format %[req.hdr(x-none)]_%[req.hdr(x-id)]_%{+Q}[req.hdr(x-none)]
    unique-id-header X-Unique-ID
    log-format "ID=%ID %HP"
    default_backend be
backend be
    server s1 127.0.0.1:{dead}
""", extra="X-Id: abc\r\n")
    assert line == "ID=_abc_ /x"
