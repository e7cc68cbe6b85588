"""2.5+'s stick-table arrays in 2.6, and the converters table_expire/table_idle (2.6.12's) and
table_server_id: `store gpc(N)`, `gpc_rate(N,P)`, `gpt(N)`; the fetches
`sc_get_gpc/sc_inc_gpc/sc_clr_gpc/sc_gpc_rate/sc_get_gpt(IDX,CTR[,T])` and their `src_*(IDX,T)`
forms, the actions `sc-inc-gpc(IDX,CTR)`/`sc-set-gpt(IDX,CTR) VALUE` (http-request,
http-response, tcp-request), the converters `table_gpc/table_gpc_rate/table_gpt(IDX,T)`, the legacy
gpc0/gpc1/gpt0 names reading the array's elements 0/1 when a table stores the array instead,
`show/set/clear table` on the arrays, and the configuration errors 2.6 gives for them.

Differential: each test runs against pyhaproxy and Debian's haproxy 2.6 (/usr/sbin/haproxy)
with the same configuration and expectations (the `binary` fixture). The rates are read well
within their 10s period, whose first event starts it: they equal the event counts.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_runtime_tables import cli
from tests.e2e.test_tls import binary  # noqa: F401  (fixture: pyhaproxy, then haproxy)
from tests.helpers.net import LOCALHOST, free_ports, wait_until

pytestmark = pytest.mark.timeout(60)

HEAD = """
global
    stats socket {sock} level admin
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
"""

CFG = HEAD + """
backend st
    stick-table type ip size 1k expire 30s store gpc(3),gpc_rate(3,10s),gpt(2)
frontend fe
    bind 127.0.0.1:{port}
    http-request track-sc0 src table st
    http-request sc-inc-gpc(1,0)
    http-request sc-inc-gpc(2,0) if { path /two }
    http-request sc-inc-gpc(7,0)
    http-request sc-set-gpt(1,0) 42 if { path /two }
    http-request sc-set-gpt(0,0) req.hdr(x-gpt) if { req.hdr(x-gpt) -m found }
    http-request set-var(txn.inc) sc_inc_gpc(0,0) if { path /inc }
    http-request set-var(txn.clr) sc_clr_gpc(1,0) if { path /clr }
    http-request return status 200 content-type text/plain lf-string "\
g=%[sc_get_gpc(0,0)]/%[sc_get_gpc(1,0)]/%[sc_get_gpc(2,0)] past=%[sc_get_gpc(3,0)] \
r=%[sc_gpc_rate(0,0)]/%[sc_gpc_rate(1,0)]/%[sc_gpc_rate(2,0)] t=%[sc_get_gpt(0,0)]/%[sc_get_gpt(1,0)] \
src=%[src_get_gpc(1,st)]/%[src_gpc_rate(1,st)]/%[src_get_gpt(1,st)] \
conv=%[src,table_gpc(1,st)]/%[src,table_gpc_rate(1,st)]/%[src,table_gpt(1,st)] \
none=%[str(10.9.9.9),table_gpc(1,st)] untracked=%[sc_get_gpc(1,1)]/%[sc1_http_req_cnt] \
inc=%[var(txn.inc)] clr=%[var(txn.clr)] end"
"""


def _get(port: int, path: str, headers: str = "") -> str:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.partition(b"\r\n\r\n")[2].decode()


def test_array_fetches_actions_converters(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    (port,) = free_ports(1)
    proxy.start(CFG, port=port, sock=tmp_path / "s.sock")
    # sc-inc-gpc(7,0) is past the 3 counters: it does nothing, and gpc(3) gives no value; a
    # counter not tracked (sc1) gives no value either
    assert _get(port, "/") == ("g=0/1/0 past= r=0/1/0 t=0/0 src=1/1/0 conv=1/1/0 none=0 untracked=/ "
                               "inc= clr= end")
    assert _get(port, "/two") == ("g=0/2/1 past= r=0/2/1 t=0/42 src=2/2/42 conv=2/2/42 none=0 "
                                  "untracked=/ inc= clr= end")
    # sc_inc_gpc: +1 on the counter and its rate, then the counter's value
    assert _get(port, "/inc", "x-gpt: 7\r\n") == ("g=1/3/1 past= r=1/3/1 t=7/42 src=3/3/42 conv=3/3/42 "
                                                  "none=0 untracked=/ inc=1 clr= end")
    # sc_clr_gpc: the value before, then 0 (the rate keeps its events)
    assert _get(port, "/clr") == ("g=1/0/1 past= r=1/4/1 t=7/42 src=0/4/42 conv=0/4/42 none=0 "
                                  "untracked=/ inc= clr=4 end")


SRC_CFG = HEAD + """
backend st
    stick-table type ip size 1k expire 30s store gpc(2),gpc_rate(2,10s)
frontend fe
    bind 127.0.0.1:{port}
    http-request track-sc0 src table st if { path /track }
    http-request set-var(txn.v) src_inc_gpc(1,st) if { path /inc }
    http-request set-var(txn.v) src_clr_gpc(1,st) if { path /clr }
    http-request set-var(txn.v) src_clr_gpc0(legacy) if { path /clr0 }
    http-request return status 200 content-type text/plain lf-string "\
v=%[var(txn.v)] in=%[src,in_table(st)] g=%[src_get_gpc(1,st)]/%[src_gpc_rate(1,st)] \
other=%[src_get_gpc(0,st)] legacy=%[src,in_table(legacy)] end"
backend legacy
    stick-table type ip size 1k expire 30s store gpc0
"""


def test_src_inc_and_clr(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    """src_inc_gpc(IDX,T) creates the client's entry (no track needed), src_clr_gpc(IDX,T) reads
    and zeroes the counter; the other elements are untouched. src_clr_gpc0 creates an entry."""
    (port,) = free_ports(1)
    proxy.start(SRC_CFG, port=port, sock=tmp_path / "s.sock")
    assert _get(port, "/") == "v= in=0 g=0/0 other=0 legacy=0 end"
    # src_clr_gpc0 creates the client's entry too (returning 0)
    assert _get(port, "/clr0") == "v=0 in=0 g=0/0 other=0 legacy=1 end"
    if binary == "haproxy":
        # A difference on purpose: for a client with no entry yet, 2.6.12's src_inc_gpc and
        # src_clr_gpc take their index argument for the table and the process dies (their
        # gpc0 forms do not); there the entry is made by a track first. pyhaproxy creates it
        # (src_inc_gpc) as the manual says.
        _get(port, "/track")
    assert _get(port, "/inc") == "v=1 in=1 g=1/1 other=0 legacy=1 end"
    assert _get(port, "/inc") == "v=2 in=1 g=2/2 other=0 legacy=1 end"
    assert _get(port, "/clr") == "v=2 in=1 g=0/2 other=0 legacy=1 end"


LEGACY = HEAD + """
backend st
    stick-table type ip size 1k expire 30s store gpc(2),gpc_rate(2,10s),gpt(1)
frontend fe
    bind 127.0.0.1:{port}
    tcp-request connection track-sc1 src table st
    tcp-request connection sc-inc-gpc(1,1)
    tcp-request content sc-set-gpt(0,1) 3
    http-request sc-inc-gpc0(1)
    http-request sc-set-gpt0(1) 9 if { path /nine }
    http-response sc-inc-gpc(0,1)
    http-request return status 200 content-type text/plain lf-string "\
gpc0=%[sc1_get_gpc0]/%[sc1_gpc0_rate]/%[src,table_gpc0(st)] \
gpc1=%[sc1_get_gpc1]/%[sc1_gpc1_rate]/%[src,table_gpc1_rate(st)] gpt0=%[sc1_get_gpt0] \
arr=%[sc_get_gpc(0,1)]/%[sc_get_gpc(1,1)]/%[sc_get_gpt(0,1)] end"
    default_backend be
backend be
    server s 127.0.0.1:{dead}
"""


def test_legacy_names_read_the_arrays(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    port, dead = free_ports(2)
    sock = tmp_path / "s.sock"
    proxy.start(LEGACY, port=port, dead=dead, sock=sock)
    # gpc0/gpc1/gpt0 are gpc[0]/gpc[1]/gpt[0] of a table that stores the arrays; tcp-request
    # connection counted gpc[1] once, content set gpt[0] to 3 before the http-request rules
    assert _get(port, "/") == "gpc0=1/1/1 gpc1=1/1/1 gpt0=3 arr=1/1/3 end"
    assert _get(port, "/nine") == "gpc0=2/2/2 gpc1=2/2/2 gpt0=9 arr=2/2/9 end"
    # http-response counts on the answers (`return` is one); not visible to the requests' own rules
    wait_until(lambda: " use=0 " in cli(sock, "show table st"), 10, 0.05, message="the sessions to end")
    assert re.sub(r"exp=E ", "", cli(sock, "show table st")) == (
        "# table: st, type: ip, size:1024, used:1\n"
        "0xP: key=127.0.0.1 use=0 gpt0=9 gpc0=2 gpc1=2 gpc0_rate(10000)=2 gpc1_rate(10000)=2\n\n")


def test_show_set_clear_arrays(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    (port,) = free_ports(1)
    sock = tmp_path / "s.sock"
    proxy.start(CFG, port=port, sock=sock)
    _get(port, "/two")
    wait_until(lambda: " use=0 " in cli(sock, "show table st"), 10, 0.05, message="the session to end")
    head = "# table: st, type: ip, size:1024, used:1\n"
    # each element named as 2.6 names it: the index after the name's first word
    assert cli(sock, "show table st") == head + (
        "0xP: key=127.0.0.1 use=0 exp=E gpt0=0 gpt1=42 gpc0=0 gpc1=1 gpc2=1 gpc0_rate(10000)=0 "
        "gpc1_rate(10000)=1 gpc2_rate(10000)=1\n\n")
    # data.gpc (no index) is element 0, for `set table` and the filters; data.gpc(N) is no type
    assert cli(sock, "set table st key 127.0.0.1 data.gpc 7 data.gpt 3 data.gpc_rate 9") == "\n"
    row = ("0xP: key=127.0.0.1 use=0 exp=E gpt0=3 gpt1=42 gpc0=7 gpc1=1 gpc2=1 gpc0_rate(10000)=9 "
           "gpc1_rate(10000)=1 gpc2_rate(10000)=1\n")
    assert cli(sock, "show table st key 127.0.0.1") == head + row + "\n"
    assert cli(sock, "show table st data.gpc eq 7") == head + row + "\n"
    assert cli(sock, "show table st data.gpc_rate gt 9") == head + "\n"
    assert cli(sock, "set table st key 127.0.0.1 data.gpc(1) 5") == "Unknown data type\n\n"
    assert cli(sock, "show table st data.gpt(1) eq 42") == "Filter entry #1: Unknown data type\n\n"
    # the legacy names are not the arrays for the socket
    assert cli(sock, "set table st key 127.0.0.1 data.gpc0 5") == "Data type not stored in this table\n\n"
    # what the socket set is what the rules see next
    assert _get(port, "/").startswith("g=7/2/1 past= r=9/2/1 t=3/42 ")
    wait_until(lambda: " use=0 " in cli(sock, "show table st"), 10, 0.05, message="the session to end")
    assert cli(sock, "clear table st data.gpc gt 6") == "\n"
    assert cli(sock, "show table st") == "# table: st, type: ip, size:1024, used:0\n\n"


@pytest.mark.parametrize(("line", "message"), [
    ("stick-table type ip size 10 store gpc(101)",
     "stick-table: array size is out of allowed range (1-100) for store option 'gpc'."),
    ("stick-table type ip size 10 store gpt(0)",
     "stick-table: array size is out of allowed range (1-100) for store option 'gpt'."),
    ("stick-table type ip size 10 store gpc_rate(x,1s)",
     "stick-table: array size is out of allowed range (1-100) for store option 'gpc_rate'."),
    ("stick-table type ip size 10 store gpc", "stick-table: missing argument to store option 'gpc'."),
    ("stick-table type ip size 10 store gpc_rate(3)",
     "stick-table: missing argument to store option 'gpc_rate'."),
    ("stick-table type ip size 10 store gpt(2,5s)",
     "stick-table: unexpected argument to store option 'gpt'."),
    ("stick-table type ip size 10 store gpc(2),gpc1",
     "stick-table: simultaneous usage of 'gpc' and 'gpc[0/1]' in a same table is not permitted as 'gpc' "
     "overrides 'gpc[0/1]'."),
    ("stick-table type ip size 10 store gpt(2),gpt0",
     "stick-table: simultaneous usage of 'gpt' and 'gpt0' in a same table is not permitted as 'gpt' "
     "overrides 'gpt0'."),
    ("stick-table type ip size 10 store gpc0_rate(1s),gpc_rate(2,1s)",
     "stick-table: simultaneous usage of 'gpc_rate' and 'gpc[0/1]_rate' in a same table is not permitted "
     "as 'gpc_rate' overrides 'gpc[0/1]_rate'."),
    ("http-request sc-inc-gpc(1,5)",
     "error detected in frontend 'fe' while parsing 'http-request sc-inc-gpc(1,5)' rule : invalid stick "
     "table track ID 'sc-inc-gpc(1,5)'. The max allowed ID is 2."),
    ("http-request sc-inc-gpc(x,0)",
     "error detected in frontend 'fe' while parsing 'http-request sc-inc-gpc(x,0)' rule : Missing gpc ID "
     "'sc-inc-gpc(x,0)'. Expects sc-inc-gpc(<GPC ID>,<Track ID>)."),
    ("http-response sc-set-gpt(1) 3",
     "error detected in frontend 'fe' while parsing 'http-response sc-set-gpt(1)' rule : Missing gpt ID "
     "'sc-set-gpt(1)'. Expects sc-set-gpt(<GPT ID>,<Track ID>)."),
    ("tcp-request connection sc-inc-gpc(1,4)",
     "invalid stick table track ID 'sc-inc-gpc(1,4)'. The max allowed ID is 2"),
])
def test_config_errors(proxy: Any, binary: str, line: str, message: str) -> None:  # noqa: F811
    (port,) = free_ports(1)
    cfg = proxy.write_config(f"""
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    {line}
    http-request return status 200
""")
    result = proxy.run(["-c", "-f", str(cfg)])
    assert result.returncode == 1
    assert f"parsing [{cfg}:8] : {message}\n" in result.stderr + result.stdout


def test_indexes_past_the_array_are_accepted(proxy: Any, binary: str) -> None:  # noqa: F811
    # 2.6 checks no element index at parse time (only the counter): such a rule, fetch or
    # converter finds nothing at run time (the first test shows sc-inc-gpc(7,0) and gpc(3))
    (port,) = free_ports(1)
    cfg = proxy.write_config(f"""
defaults
    mode http
    timeout client 5s
    timeout connect 2s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 10 store gpc(2),gpt(1)
    http-request track-sc0 src
    http-request sc-inc-gpc(200,0)
    http-request sc-set-gpt(300,0) 1
    http-request deny if {{ sc_get_gpc(1000,0) gt 1 }} || {{ src_get_gpc(-1,fe) gt 1 }}
    http-request deny if {{ src,table_gpc(200,fe) gt 1 }}
    http-request return status 200
""")
    result = proxy.run(["-c", "-f", str(cfg)])
    assert result.returncode == 0, result.stderr


IDLE_CFG = HEAD + """
backend st
    stick-table type ip size 1k expire 30s store gpc0
backend noexp
    stick-table type ip size 1k store gpc0
frontend fe
    bind 127.0.0.1:{port}
    http-request track-sc0 src table st
    http-request track-sc1 src table noexp
    http-request return status 200 content-type text/plain lf-string "\
%[src,table_expire(st)] %[src,table_idle(st)] \
def=%[str(10.9.9.9),table_expire(st,-5)]/%[str(10.9.9.9),table_idle(st,77)] \
none=%[str(10.9.9.9),table_expire(st)]/%[str(10.9.9.9),table_idle(st)] \
noexp=%[src,table_expire(noexp)]/%[src,table_idle(noexp)] end"
"""


def test_table_expire_and_idle(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    """table_expire(T[,DEF]): ms before the key's entry expires; table_idle(T[,DEF]): the
    table's expire less that (ms since the entry was last touched); a key with no entry gives
    DEF, else nothing; a table with no expire gives 0 for both (2.6.12's converters)."""
    (port,) = free_ports(1)
    proxy.start(IDLE_CFG, port=port, sock=tmp_path / "s.sock")
    expire, idle, rest = _get(port, "/").split(" ", 2)
    assert rest == "def=-5/77 none=/ noexp=0/0 end"
    # the entry was touched by this very request: both within the table's 30s, adding up to
    # at most 30s (the two converters read the clock one after the other)
    assert 0 < int(expire) <= 30000 and 0 <= int(idle) <= 30000
    assert int(expire) + int(idle) <= 30000


SERVER_ID_CFG = HEAD + """
frontend fe
    bind 127.0.0.1:{port}
    http-request track-sc0 src table st
    http-request return status 200 content-type text/plain lf-string "\
id=%[src,table_server_id(be)] none=%[str(10.9.9.9),table_server_id(be)] \
missing=%[src,table_server_id(st)] end" if { path /id }
    default_backend be
backend st
    stick-table type ip size 1k expire 30s store gpc0
backend be
    stick-table type ip size 1k expire 30s
    stick on src
    server s1 127.0.0.1:{p1}
"""


def test_table_server_id(proxy: Any, binary: str, tmp_path: Path,  # noqa: F811
                         http_backend: Callable[..., Any]) -> None:
    """table_server_id(T): the server a `stick` rule stored for the key (its id, 1 for the first
    server), 0 for a key with no entry, nothing from a table that stores no server_id (the
    client's key is in `st`, tracked)."""
    (port,) = free_ports(1)
    app = http_backend(name="s1")
    proxy.start(SERVER_ID_CFG, port=port, p1=app.port, sock=tmp_path / "s.sock")
    assert _get(port, "/id") == "id=0 none=0 missing= end"
    assert _get(port, "/").strip() == "s1"
    assert _get(port, "/id") == "id=1 none=0 missing= end"


RATE_ONLY_CFG = HEAD + """
backend r
    stick-table type ip size 1k expire 30s store gpc_rate(2,10s)
backend n
    stick-table type ip size 1k expire 30s store http_req_cnt
frontend fe
    bind 127.0.0.1:{port}
    http-request track-sc0 src table r
    http-request track-sc1 src table n
    http-request return status 200 content-type text/plain lf-string "\
a=%[sc_inc_gpc(1,0)] b=%[sc_inc_gpc0(1)] c=%[sc_clr_gpc0(1)] d=%[sc_inc_gpc(5,0)] \
e=%[sc_get_gpc(1,0)] end"
"""


def test_inc_with_only_the_rate_or_nothing_stored(proxy: Any, binary: str, tmp_path: Path) -> None:  # noqa: F811
    """sc_inc_gpc* on a table that stores the rate but not the counter gives the rate's events
    of its current period; with neither stored, 0 (where the get/clr forms give nothing)."""
    (port,) = free_ports(1)
    proxy.start(RATE_ONLY_CFG, port=port, sock=tmp_path / "s.sock")
    assert _get(port, "/") == "a=1 b=0 c= d=0 e= end"
    assert _get(port, "/") == "a=2 b=0 c= d=0 e= end"
