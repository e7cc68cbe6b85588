"""Configuration files for the two proxies under test, equivalent to each other.

pyhaproxy gets HAProxy 1.x syntax (architecture.txt section 1 for HTTP, section 2.2 style for
TCP); Debian's haproxy 2.6 gets the same setup in the syntax 2.6 accepts (`bind`, `timeout ...`,
`nbthread 1` instead of `nbproc 1`). Neither side logs. maxconn 20000 on both so that the 10,000
idle connections of the memory figure fit; ulimit-n is set explicitly (each client connection in
TCP mode costs two descriptors, and haproxy 2.6 refuses to start unless ulimit-n >= 2 * maxconn).

Where the descriptor hard limit cannot be raised (a container without CAP_SYS_RESOURCE, e.g. a hard
limit of 20000), maxconn is lowered to what fits, (limit - 100) / 2, on both sides alike, and the
harness opens correspondingly fewer idle connections; the report says so.
"""

from __future__ import annotations

import resource
from pathlib import Path

WANTED_MAXCONN = 20000
WANTED_ULIMIT_N = 65536


def _limits() -> tuple[int, int]:
    """(maxconn, ulimit-n) that both proxies can actually get on this machine."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    ulimit_n = min(WANTED_ULIMIT_N, hard)
    return min(WANTED_MAXCONN, (ulimit_n - 100) // 2), ulimit_n


MAXCONN, ULIMIT_N = _limits()
PROXIES = ("pyhaproxy", "haproxy")
MODES = ("http", "tcp", "stick", "rules", "map")
# the `stick` group: the HTTP setup plus per-client rate limiting in a stick table (issue 19's
# bench): every request is tracked and its rate read; the limit is never reached
STICK_LINES = """    stick-table type ip size 100k expire 30s store http_req_rate(10s)
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 1000000000 }
"""
# the `rules` group: the HTTP setup with the rule engine at work (issue 18's bench): 10 ACLs,
# 5 http-request rules and a log-format line sent to a UDP port nobody reads (both proxies do
# the same work; the discard port answers nothing)
RULE_LINES = """    log 127.0.0.1:9 local0
    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc \
%{+Q}r %[var(txn.host)]"
    acl h_www req.hdr(host) -i www.example.com
    acl h_api req.hdr(host) -i api.example.com
    acl p_static path -m beg /static /images /css
    acl p_admin path -m beg /admin
    acl m_post method POST
    acl m_get method GET
    acl x_debug req.hdr(x-debug) -m found
    acl ua_bot req.hdr(user-agent) -m sub -i bot
    acl src_bad src 10.99.0.0/16
    acl q_token url_param(token) -m found
    http-request set-var(txn.host) req.hdr(host),lower
    http-request deny if src_bad
    http-request deny if p_admin !x_debug
    http-request set-header X-Forwarded-Proto http if !x_debug
    http-request add-header X-Bench yes if m_get !ua_bot !h_www !h_api !p_static !m_post !q_token
"""
# the `map` group: issue 18's pipeline benchmark, the HTTP setup plus the many-hosts pattern on a
# 10,000-entry map (the Host wrk sends is one of its keys) and a log-format line printing the
# result; against the `http` group, the per-request cost of that pipeline
MAP_ENTRIES = 10_000
MAP_LINES = """    log 127.0.0.1:9 local0
    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %{{+Q}}r %[var(txn.site)]"
    http-request set-var(txn.site) req.hdr(host),lower,map({map},unknown)
    http-request set-header X-Site %[var(txn.site)]
"""


def write_map(directory: Path, port: int) -> Path:
    """MAP_ENTRIES hosts, `127.0.0.1:PORT` (wrk's Host header) among them, each to a site name."""
    path = directory / f"hosts-{port}.map"
    lines = [f"site{i}.example.com site{i % 97}" for i in range(MAP_ENTRIES - 1)]
    lines.insert(MAP_ENTRIES // 2, f"127.0.0.1:{port} bench")
    path.write_text("\n".join(lines) + "\n")
    return path


def _extra_lines(mode: str, map_path: Path | None) -> str:
    """The lines a group adds to the HTTP setup (after `balance`)."""
    if mode == "stick":
        return STICK_LINES
    if mode == "rules":
        return RULE_LINES
    assert map_path is not None
    return MAP_LINES.format(map=map_path)


def _servers(ports: list[int], http: bool) -> str:
    lines = []
    for i, port in enumerate(ports):
        letter = "ABCD"[i]
        if http:
            lines.append(f"    server web{letter} 127.0.0.1:{port} cookie {letter} check")
        else:
            lines.append(f"    server srv{letter} 127.0.0.1:{port}")
    return "\n".join(lines)


def pyhaproxy_config(mode: str, port: int, backends: list[int], map_path: Path | None = None) -> str:
    """HAProxy 1.x syntax, as the pyhaproxy drop-in reads it (2.x lines for the stick group)."""
    if mode in ("stick", "rules", "map"):
        lines = _extra_lines(mode, map_path)
        return pyhaproxy_config("http", port, backends).replace("    balance roundrobin\n",
                                                                "    balance roundrobin\n" + lines)
    if mode == "http":
        body = f"""listen webfarm 127.0.0.1:{port}
    mode http
    maxconn {MAXCONN}
    contimeout 5000
    clitimeout 50000
    srvtimeout 50000
    balance roundrobin
    cookie SERVERID insert indirect
    option httpchk HEAD /index.html HTTP/1.0
{_servers(backends, http=True)}
"""
    else:
        body = f"""listen tcpfarm 127.0.0.1:{port}
    mode tcp
    maxconn {MAXCONN}
    contimeout 5000
    clitimeout 50000
    srvtimeout 50000
    balance roundrobin
{_servers(backends, http=False)}
"""
    return f"""# generated by bench/configs.py (HAProxy 1.x syntax)
global
    maxconn {MAXCONN}
    ulimit-n {ULIMIT_N}
    nbproc 1

{body}"""


def haproxy_config(mode: str, port: int, backends: list[int], map_path: Path | None = None) -> str:
    """The same setup for haproxy 2.6 (keep-alive on both sides is 2.6's default)."""
    if mode in ("stick", "rules", "map"):
        lines = _extra_lines(mode, map_path)
        return haproxy_config("http", port, backends).replace("    balance roundrobin\n",
                                                              "    balance roundrobin\n" + lines)
    if mode == "http":
        body = f"""listen webfarm
    bind 127.0.0.1:{port}
    mode http
    maxconn {MAXCONN}
    timeout connect 5000
    timeout client 50000
    timeout server 50000
    balance roundrobin
    cookie SERVERID insert indirect
    option httpchk HEAD /index.html
{_servers(backends, http=True)}
"""
    else:
        body = f"""listen tcpfarm
    bind 127.0.0.1:{port}
    mode tcp
    maxconn {MAXCONN}
    timeout connect 5000
    timeout client 50000
    timeout server 50000
    balance roundrobin
{_servers(backends, http=False)}
"""
    return f"""# generated by bench/configs.py (haproxy 2.6 syntax)
global
    maxconn {MAXCONN}
    ulimit-n {ULIMIT_N}
    nbthread 1

{body}"""


def write_config(directory: Path, proxy: str, mode: str, port: int, backends: list[int]) -> Path:
    """Write the config of `proxy` ("pyhaproxy"|"haproxy") for `mode` ("http"|"tcp"); return its path."""
    if proxy not in PROXIES or mode not in MODES:
        raise ValueError(f"unknown proxy/mode {proxy}/{mode}")
    map_path = write_map(directory, port) if mode == "map" else None
    text = (pyhaproxy_config if proxy == "pyhaproxy" else haproxy_config)(mode, port, backends, map_path)
    path = directory / f"{proxy}-{mode}-{port}.cfg"
    path.write_text(text)
    return path
