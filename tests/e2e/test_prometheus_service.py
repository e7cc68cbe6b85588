"""`http-request use-service prometheus-exporter if { path /metrics }`: the exporter answers the
requests the condition picks, every other request goes to the backend as usual.

Differential: the same configuration and checks against pyhaproxy and /usr/sbin/haproxy (the
`binary` fixture): status, content type, the exporter's metric names with the proxies' labels, and
the log line (`fe fe/<PROMEX>`, status 200). Where we differ on purpose: haproxy answers in
HTTP/1.1 with a chunked body and keeps the connection; pyhaproxy's exporter is rendered by the
master (as the stats page is) and answers with a Content-Length, then closes. Both are what a
Prometheus scraper reads. The log line's timers and termination flags differ too (haproxy's
applet logs 0/0/0/0/0 and LR--; pyhaproxy's relay to the master logs its real times and ----).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_tls import binary  # noqa: F401  (fixture: pyhaproxy, then haproxy)
from tests.helpers.net import LOCALHOST, free_ports

pytestmark = pytest.mark.timeout(60)

CFG = """
global
    log 127.0.0.1:{logport} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request use-service prometheus-exporter if { path /metrics }
    default_backend app
backend app
    server web1 127.0.0.1:{pb}
"""


def fetch(port: int, path: str) -> tuple[int, dict[str, str], str]:
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while rest:
            size_text, _, rest = rest.partition(b"\r\n")
            size = int(size_text, 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return int(lines[0].split()[1]), headers, body.decode()


def test_the_exporter_answers_what_the_rule_picks(proxy: Any, binary: str,  # noqa: F811
                                                  http_backend: Callable[..., Any],
                                                  syslog: Any) -> None:
    (port,) = free_ports(1)
    app = http_backend(name="APP")
    log, logport = syslog
    proxy.start(CFG, port=port, pb=app.port, logport=logport)
    status, _, body = fetch(port, "/")
    assert (status, body.strip()) == (200, "APP")
    log.lines(1)
    status, headers, body = fetch(port, "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4"
    assert headers["cache-control"] == "no-cache"
    assert "# TYPE haproxy_process_uptime_seconds gauge" in body
    assert 'haproxy_frontend_http_requests_total{proxy="fe"}' in body
    assert any(ln.startswith('haproxy_server_status{proxy="app",server="web1"') for ln in body.splitlines())
    assert 'haproxy_backend_http_requests_total{proxy="app"}' in body
    (line,) = log.lines(1)
    assert " fe fe/<PROMEX> " in line and '"GET /metrics HTTP/1.1"' in line
    assert line.split(" fe/<PROMEX> ")[1].split()[1] == "200"
    # the backend never saw the scrape
    assert [r.head.split(b" ")[1] for r in app.requests] == [b"/"]


def test_an_unknown_service_is_refused(proxy: Any, binary: str) -> None:  # noqa: F811
    cfg = proxy.write_config(CFG.replace("prometheus-exporter", "cache-exporter"), logport=1, port=1, pb=1)
    r = proxy.run(["-c", "-f", str(cfg)])
    assert r.returncode == 1
    assert ("parsing [" in r.stderr and ":12] : error detected in frontend 'fe' while parsing "
            "'http-request use-service' rule : 'cache-exporter' unknown service name." in r.stderr)
