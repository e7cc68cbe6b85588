"""The HAProxy 1.2 architecture guide's configurations and its section 4.3 reload script
(https://github.com/haproxy/haproxy/blob/v1.2.14/doc/architecture.txt), written once here.

GUIDE: every configuration of the guide by the line it starts at, with addresses moved into
127.0.0.0/8: 192.168.A.B -> 127.0.A.B and 10.A.B.C -> 127.A.B.C; GUIDE_CONFIGS: the same, in order.
`template(line, ...)` turns one into a template for the tests that run it on free ports.
HOT_RECONF_SCRIPT: section 4.3's hot-reconfiguration script, verbatim but for its paths
(`hot_reconf_script(etc, run)` moves /etc/haproxy/ and /var/run/ under the test's directories).
"""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = {
    53: """\
listen webfarm 127.0.1.1:80
   mode http
   balance roundrobin
   cookie SERVERID insert indirect
   option httpchk HEAD /index.html HTTP/1.0
   server webA 127.0.1.11:80 cookie A check
   server webB 127.0.1.12:80 cookie B check
   server webC 127.0.1.13:80 cookie C check
   server webD 127.0.1.14:80 cookie D check
""",
    174: """\
listen webfarm 127.0.1.1:80
   mode http
   balance roundrobin
   cookie JSESSIONID prefix
   option httpclose
   option forwardfor
   option httpchk HEAD /index.html HTTP/1.0
   server webA 127.0.1.11:80 cookie A check
   server webB 127.0.1.12:80 cookie B check
   server webC 127.0.1.13:80 cookie C check
   server webD 127.0.1.14:80 cookie D check
""",
    270: """\
listen webfarm 0.0.0.0:80
   mode http
   balance roundrobin
   cookie JSESSIONID prefix
   option httpclose
   option forwardfor
   option httplog
   option dontlognull
   option httpchk HEAD /index.html HTTP/1.0
   server webA 127.0.1.11:80 cookie A check
   server webB 127.0.1.12:80 cookie B check
   server webC 127.0.1.13:80 cookie C check
   server webD 127.0.1.14:80 cookie D check
""",
    351: """\
listen tse-proxy
   bind :3389,:1494,:5900  # TSE, ICA and VNC at once.
   mode tcp
   balance roundrobin
   server tse-farm 127.0.1.10
   monitor-net 127.0.1.252/31
""",
    438: """\
listen 127.0.0.1:8000
   mode http
   balance roundrobin
   cookie SERVERID insert indirect nocache
   option httpchk HEAD /index.html HTTP/1.0
   server webA 127.0.1.11:80 cookie A check
   server webB 127.0.1.12:80 cookie B check
   server webC 127.0.1.13:80 cookie C check
   server webD 127.0.1.14:80 cookie D check
""",
    524: """\
listen 127.0.1.1:80
   mode http
   balance roundrobin
   cookie SERVERID insert indirect
   option httpchk HEAD /running HTTP/1.0
   server webA 127.0.1.11:80 cookie A check inter 2000 rise 2 fall 2
   server webB 127.0.1.12:80 cookie B check inter 2000 rise 2 fall 2
   server webC 127.0.1.13:80 cookie C check inter 2000 rise 2 fall 2
   server webD 127.0.1.14:80 cookie D check inter 2000 rise 2 fall 2
   option persist
   redispatch
   contimeout 5000
""",
    583: """\
listen 127.0.1.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SERVERID insert indirect
   option httpchk HEAD / HTTP/1.0
   server webA 127.0.1.11:80 cookie A check port 81 inter 2000
   server webB 127.0.1.12:80 cookie B check port 81 inter 2000
   server webC 127.0.1.13:80 cookie C check port 81 inter 2000
   server webD 127.0.1.14:80 cookie D check port 81 inter 2000

   server bkpA 127.0.1.11:80 cookie A check port 80 inter 2000 backup
   server bkpB 127.0.1.12:80 cookie B check port 80 inter 2000 backup
   server bkpC 127.0.1.13:80 cookie C check port 80 inter 2000 backup
   server bkpD 127.0.1.14:80 cookie D check port 80 inter 2000 backup
""",
    655: """\
global
    daemon
    quiet
    pidfile /var/run/haproxy-checks.pid
listen 0.0.0.0:81
    mode tcp
    dispatch 127.0.0.1:80
    contimeout 1000
    clitimeout 10000
    srvtimeout 10000
""",
    899: """\
listen 127.0.1.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SITE
   option httpchk HEAD / HTTP/1.0
   server SD1 127.1.1.1:80 cookie SITE1 check inter 30000
   server SD2 127.2.1.1:80 cookie SITE2 check inter 60000 backup
""",
    912: """\
listen 127.0.2.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SITE
   option httpchk HEAD / HTTP/1.0
   server SD1 127.1.1.1:80 cookie SITE1 check inter 30000
   server SD2 127.2.1.1:80 cookie SITE2 check inter 60000 backup
""",
    925: """\
listen 127.0.3.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SITE
   option httpchk HEAD / HTTP/1.0
   server SD2 127.2.1.1:80 cookie SITE2 check inter 30000
   server SD1 127.1.1.1:80 cookie SITE1 check inter 60000 backup
""",
    961: """\
listen 127.1.1.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SITE insert indirect
   option httpchk HEAD / HTTP/1.0
   option forwardfor
   server S1L1 127.1.1.11:80 cookie SITE1 check port 81 inter 4000
   server S1L2 127.1.1.12:80 cookie SITE1 check port 81 inter 4000
   server S2L1 127.2.1.11:80 cookie SITE2 check port 81 inter 8000 backup
   server S2L2 127.2.1.12:80 cookie SITE2 check port 81 inter 8000 backup
""",
    976: """\
listen 127.2.1.1:80
   mode http
   balance roundrobin
   redispatch
   cookie SITE insert indirect
   option httpchk HEAD / HTTP/1.0
   option forwardfor
   server S2L1 127.2.1.11:80 cookie SITE2 check port 81 inter 4000
   server S2L2 127.2.1.12:80 cookie SITE2 check port 81 inter 4000
   server S1L1 127.1.1.11:80 cookie SITE1 check port 81 inter 8000 backup
   server S1L2 127.1.1.12:80 cookie SITE1 check port 81 inter 8000 backup
""",
    1016: """\
listen 127.1.1.11:80 # 127.1.1.12:80 for S1L2
   grace 20000  # don't kill us until 20 seconds have elapsed
   mode http
   balance roundrobin
   cookie JSESSIONID prefix
   option httpclose
   option forwardfor
   option httpchk HEAD / HTTP/1.0
   server W11 127.1.2.1:80 cookie W11 check port 81 inter 2000
   server W12 127.1.2.2:80 cookie W12 check port 81 inter 2000
   server W13 127.1.2.3:80 cookie W13 check port 81 inter 2000
   server W14 127.1.2.4:80 cookie W14 check port 81 inter 2000

   server B11 127.1.2.1:80 cookie W11 check port 80 inter 4000 backup
   server B12 127.1.2.2:80 cookie W12 check port 80 inter 4000 backup
   server B13 127.1.2.3:80 cookie W13 check port 80 inter 4000 backup
   server B14 127.1.2.4:80 cookie W14 check port 80 inter 4000 backup

listen 127.1.1.11:81 # 127.1.1.12:81 for S1L2
   mode tcp
   dispatch 127.1.1.11:80  # 127.1.1.12:80 for S1L2
""",
    1042: """\
listen 127.2.1.11:80 # 127.2.1.12:80 for S2L2
   grace 20000  # don't kill us until 20 seconds have elapsed
   mode http
   balance roundrobin
   cookie JSESSIONID prefix
   option httpclose
   option forwardfor
   option httpchk HEAD / HTTP/1.0
   server W21 127.2.2.1:80 cookie W21 check port 81 inter 2000
   server W22 127.2.2.2:80 cookie W22 check port 81 inter 2000
   server W23 127.2.2.3:80 cookie W23 check port 81 inter 2000
   server W24 127.2.2.4:80 cookie W24 check port 81 inter 2000

   server B21 127.2.2.1:80 cookie W21 check port 80 inter 4000 backup
   server B22 127.2.2.2:80 cookie W22 check port 80 inter 4000 backup
   server B23 127.2.2.3:80 cookie W23 check port 80 inter 4000 backup
   server B24 127.2.2.4:80 cookie W24 check port 80 inter 4000 backup

listen 127.2.1.11:81 # 127.2.1.12:81 for S2L2
   mode tcp
   dispatch 127.2.1.11:80  # 127.2.1.12:80 for S2L2
""",
    1115: """\
listen 0.0.0.0:80
   mode tcp
   balance roundrobin
   server from1to1 127.1.1.1:80 source 127.1.2.1
   server from2to1 127.1.1.1:80 source 127.1.2.2
   server from3to1 127.1.1.1:80 source 127.1.2.3
   server from4to1 127.1.1.1:80 source 127.1.2.4
   server from5to1 127.1.1.1:80 source 127.1.2.5
   server from6to1 127.1.1.1:80 source 127.1.2.6
   server from7to1 127.1.1.1:80 source 127.1.2.7
   server from8to1 127.1.1.1:80 source 127.1.2.8
""",
}
GUIDE_CONFIGS = list(GUIDE.values())


# Architecture guide, section 4.3: the hot-reconfiguration script, verbatim but for its paths.
HOT_RECONF_SCRIPT = """\
  # save previous state
  mv /etc/haproxy/config /etc/haproxy/config.old
  mv /var/run/haproxy.pid /var/run/haproxy.pid.old

  mv /etc/haproxy/config.new /etc/haproxy/config
  kill -TTOU $(cat /var/run/haproxy.pid.old)
  if haproxy -p /var/run/haproxy.pid -f /etc/haproxy/config; then
    echo "New instance successfully loaded, stopping previous one."
    kill -USR1 $(cat /var/run/haproxy.pid.old)
    rm -f /var/run/haproxy.pid.old
    exit 1
  else
    echo "New instance failed to start, resuming previous one."
    kill -TTIN $(cat /var/run/haproxy.pid.old)
    rm -f /var/run/haproxy.pid
    mv /var/run/haproxy.pid.old /var/run/haproxy.pid
    mv /etc/haproxy/config /etc/haproxy/config.new
    mv /etc/haproxy/config.old /etc/haproxy/config
    exit 0
  fi
"""


def hot_reconf_script(etc: Path | str, run: Path | str) -> str:
    """The section 4.3 script with /etc/haproxy/ -> etc/ and /var/run/ -> run/."""
    return HOT_RECONF_SCRIPT.replace("/etc/haproxy/", f"{etc}/").replace("/var/run/", f"{run}/")


SERVER_NAMES = {"11": "a", "12": "b", "13": "c", "14": "d"}


def template(line: int, server_port: str = "bport", inter: str | None = None) -> str:
    """GUIDE[line] with its listen address as `{host}:{port}`, the webA..D servers 127.0.1.11-14:80
    as `{a}..{d}:{server_port}`, `check port 80/81` as `{p80}/{p81}` and, given `inter`, each
    `inter 2000` replaced by it (the scenarios check faster than the guide)."""
    text = GUIDE[line]
    first, rest = text.split("\n", 1)
    first = re.sub(r"\S+:\d+$", "{host}:{port}", first)
    rest = re.sub(r"\b127\.0\.1\.(1[1-4]):80\b",
                  lambda m: f"{{{SERVER_NAMES[m[1]]}}}:{{{server_port}}}", rest)
    rest = re.sub(r" port (8[01])\b", r" port {p\1}", rest)
    if inter is not None:
        rest = rest.replace("inter 2000", inter)
    return first + "\n" + rest
