"""The master's internal HTTP server for the stats page.

A worker cannot render the page (its loop is C), so for a proxy with `stats enable` it relays a
request whose URI starts with `stats uri` unchanged to this server and relays the answer back.
The address is a Linux abstract unix socket (a name starting with NUL, see `abstract_name`): it
needs no file, so it is reachable from a worker inside its chroot and after it dropped its uid.
The master publishes it before forking the workers in `cfg.global_.tune["__stats_sock"]`, which
pyhaproxy/worker.py copies into the worker's tables as "stats_sock".

Requests (HTTP/1.x, one per connection, answered as HTTP/1.0 with `Connection: close`):

  <uri>                  the HTML page (`;up`: hide DOWN servers, `;norefresh`: no refresh)
  <uri>;csv              CSV (text/plain), the same as `show stat`
  <uri>;prometheus       Prometheus text exposition (HAProxy exporter names)

Which proxy's settings apply: the request does not say which proxy it came through, so the
candidates are the proxies with `stats enable` whose `stats uri` is the longest prefix of the
URI; when several remain, those whose bind port matches the Host header's port are preferred.
Authentication: if a candidate has `stats auth`, the Basic credentials must match one of its
accounts (else 401 with its realm); a candidate without accounts admits anyone. The proxies
listed are the union of the admitted candidates' `stats scope` (`.` = the proxy itself; no
scope = all proxies). A client can thus get at most what one of the candidates publishes.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import selectors
from collections.abc import Callable
from urllib.parse import parse_qsl

from pyhaproxy._core import STATS_ADMIN_HEADER
from pyhaproxy.config.model import Config, Proxy
from pyhaproxy.server_state import proxy_uuids
from pyhaproxy.stats import csv as csv_fmt
from pyhaproxy.stats import html as html_fmt
from pyhaproxy.stats import prometheus as prom_fmt
from pyhaproxy.stats.collect import View, collect, scope_for
from pyhaproxy.stats.socket import MAX_INPUT, CommandHandler, Conn, UnixServer, bind_unix

SUN_PATH_LEN = 108  # sizeof(sockaddr_un.sun_path) on Linux


def abstract_name() -> str:
    """A fresh abstract-namespace name ("\\0pyhaproxy-stats-<pid>-<random>")."""
    return f"\0pyhaproxy-stats-{os.getpid()}-{secrets.token_hex(8)}"


def sockaddr_bytes(name: str) -> bytes:
    """The name as the worker connects to it: the worker passes the whole sun_path (108 bytes,
    NUL padded) with addrlen = sizeof(sockaddr_un), and an abstract name includes every byte up
    to addrlen, so the master binds the same padded 108 bytes. File paths are used as they are."""
    raw = name.encode()
    if raw.startswith(b"\0"):
        return raw[: SUN_PATH_LEN - 1].ljust(SUN_PATH_LEN, b"\0")
    return raw


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


def response(
    status: int,
    body: bytes,
    ctype: str = "text/html",
    extra: list[str] | None = None,
    head_only: bool = False,
) -> bytes:
    lines = [
        f"HTTP/1.0 {status} {_REASONS.get(status, 'OK')}",
        "Cache-Control: no-cache",
        "Connection: close",
        f"Content-Type: {ctype}",
        f"Content-Length: {len(body)}",
    ]
    lines += extra or []
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return head if head_only else head + body


def _error(status: int, text: str, extra: list[str] | None = None, head_only: bool = False) -> bytes:
    body = f"<html><body><h1>{status} {_REASONS.get(status, '')}</h1>\n{text}\n</body></html>\n".encode()
    return response(status, body, extra=extra, head_only=head_only)


def _candidates(cfg: Config, uri: str, host: str | None) -> list[Proxy]:
    found = [
        p
        for p in cfg.proxies
        if p.stats.enabled and p.mode == "http" and not p.disabled and uri.startswith(p.stats.uri)
    ]
    if not found:
        return []
    longest = max(len(p.stats.uri) for p in found)
    found = [p for p in found if len(p.stats.uri) == longest]
    if len(found) > 1 and host:
        port_text = host.rpartition(":")[2] if not host.endswith("]") else ""
        port = int(port_text) if port_text.isdigit() else 80
        by_port = [p for p in found if any(b.port_lo <= port <= b.port_hi for b in p.binds)]
        if by_port:
            found = by_port
    return found


def _credentials(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, pw = base64.b64decode(token.strip(), validate=True).decode("latin-1").partition(":")
    except (binascii.Error, ValueError):
        return None
    return (user, pw) if colon else None


def handle_service(raw: bytes, view: View | None) -> bytes:
    """`http-request use-service prometheus-exporter`: every proxy's metrics, whatever the URI
    (the rule's condition chose the requests), no authentication, as 2.6's exporter."""
    head_only = raw.split(b" ", 1)[0] == b"HEAD"
    if view is None:
        return _error(503, "No statistics available.", head_only=head_only)
    return response(200, prom_fmt.render(collect(view, None)).encode(), "text/plain; version=0.0.4",
                    head_only=head_only)


# `stats admin`: the page's POST actions (2.6's stats_process_http_post) pyhaproxy carries out, as
# the stats socket's commands they are; 2.6's others (drain, health and agent overrides, shutdown)
# count as not done (st=ERRP), and the page does not offer them.
ADMIN_ACTIONS = {"maint": "disable", "disable": "disable", "ready": "enable", "enable": "enable"}
KNOWN_ACTIONS = {*ADMIN_ACTIONS, "drain", "shutdown", "dhlth", "ehlth", "hrunn", "hnolb", "hdown",
                 "dagent", "eagent", "arunn", "adown", "stop", "start"}


def admin_post(body: bytes, view: View, notify: Callable[[str], None] | None) -> str:
    """The form's parameters (`b` the backend by name or `#id`, `action`, one `s` per server) ->
    2.6's status code: DONE (all changed), PART, NONE (no server named), ERRP."""
    try:
        params = parse_qsl(body.decode("latin-1"), keep_blank_values=True, strict_parsing=False)
    except ValueError:
        return "ERRP"
    backend = next((v for k, v in reversed(params) if k == "b"), None)
    action = next((v for k, v in reversed(params) if k == "action"), None)
    servers = [v for k, v in params if k == "s"]
    if action is not None and action not in KNOWN_ACTIONS:
        return "ERRP"
    names = [p.name for p in view.cfg.proxies if p.cap != "frontend"]
    if backend is not None and backend.startswith("#") and backend[1:].isdigit():
        ids = proxy_uuids(view.cfg)         # (the proxy's iid, as the page's forms send it)
        found = [p.name for p, i in zip(view.cfg.proxies, ids, strict=True) if i == int(backend[1:])]
        backend = found[0] if found else None
    if backend is None or names.count(backend) != 1:
        return "ERRP" if servers or backend is not None else "NONE"
    if not servers or action is None:
        return "NONE"
    handler = CommandHandler(lambda: view, "admin", notify)
    altered = 0
    for name in servers:
        if action not in ADMIN_ACTIONS:
            continue
        if handler.execute(f"{ADMIN_ACTIONS[action]} server {backend}/{name}") == "":
            altered += 1
    if altered == 0:
        return "ERRP"
    return "DONE" if altered == len(servers) else "PART"


def _see_other(uri: str, code: str, flags: set[str]) -> bytes:
    """2.6 answers a POST with a redirection to the page, so that a refresh does not post again."""
    location = f"{uri};st={code}" + (";up" if "up" in flags else "") + (
        ";norefresh" if "norefresh" in flags else "")
    return (f"HTTP/1.1 303 See Other\r\nCache-Control: no-cache\r\nContent-Type: text/plain\r\n"
            f"Content-Length: 0\r\nLocation: {location}\r\nConnection: close\r\n\r\n").encode("latin-1")


def handle_request(raw: bytes, view: View | None, admin_key: str = "",
                   notify: Callable[[str], None] | None = None) -> bytes:
    """One complete request (head, and the body of a POST) -> the whole response (unit-testable).
    `admin_key`: the value of the header a worker adds when the proxy's `stats admin` rules allow
    the request; a client's own copy of it does not match."""
    head, _, post_body = raw.partition(b"\r\n\r\n")
    head = head.replace(b"\r\n", b"\n")
    lines = head.decode("latin-1").split("\n")
    parts = lines[0].split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return _error(400, "Your browser (or proxy) sent an invalid request.")
    method, uri, _version = parts
    head_only = method == "HEAD"
    if method not in ("GET", "HEAD", "POST"):
        return _error(405, "Method not allowed.", extra=["Allow: GET, HEAD"], head_only=head_only)
    headers: dict[str, str] = {}
    admin = False
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
            if admin_key and name.strip().lower() == STATS_ADMIN_HEADER:
                admin = admin or secrets.compare_digest(value.strip(), admin_key)
    if view is None:
        return _error(404, "No statistics available.", head_only=head_only)
    cands = _candidates(view.cfg, uri, headers.get("host"))
    if not cands:
        return _error(404, "No statistics at this address.", head_only=head_only)
    creds = _credentials(headers.get("authorization"))
    admitted = [p for p in cands if not p.stats.auth or (creds is not None and creds in p.stats.auth)]
    if not admitted:
        realm = next(p.stats.realm for p in cands if p.stats.auth).replace('"', "'")
        return _error(
            401,
            "You need a valid user and password to access this content.",
            extra=[f'WWW-Authenticate: Basic realm="{realm}"'],
            head_only=head_only,
        )
    scope: set[str] | None = set()
    for p in admitted:
        s = scope_for(p)
        if s is None:
            scope = None
            break
        assert scope is not None
        scope |= s
    first = admitted[0]
    flags = set(uri[len(first.stats.uri) :].split(";")[1:])
    if method == "POST":
        if not any(p.stats.refresh for p in admitted):
            flags.discard("norefresh")      # (2.6 keeps ;norefresh only where there is a refresh)
        return _see_other(first.stats.uri, admin_post(post_body, view, notify) if admin else "DENY", flags)
    snap = collect(view, scope)
    if "csv" in flags:
        text = csv_fmt.render(snap, legends=any(p.stats.show_legends for p in admitted))
        return response(200, text.encode(), "text/plain", head_only=head_only)
    if "prometheus" in flags:
        return response(200, prom_fmt.render(snap).encode(), prom_fmt.CONTENT_TYPE, head_only=head_only)
    refresh = 0 if "norefresh" in flags else max(p.stats.refresh for p in admitted) // 1000
    page = html_fmt.render(
        snap,
        uri=first.stats.uri,
        refresh=refresh,
        hide_version=any(p.stats.hide_version for p in admitted),
        only_up="up" in flags,
        admin=admin,
        status=next((f[3:] for f in flags if f.startswith("st=")), ""),
    )
    extra = [f"Refresh: {refresh}"] if refresh else []
    return response(200, page.encode(), "text/html; charset=utf-8", extra=extra, head_only=head_only)


class InternalHttpServer(UnixServer):
    """Serves the workers' relayed stats requests; one request per connection."""

    def __init__(
        self,
        selector: selectors.BaseSelector,
        get_view: Callable[[], View | None],
        name: str | None = None,
        maxconn: int = 64,
        timeout: float = 10.0,
        service: str = "",
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.service = service  # "prometheus-exporter": every request gets the exporter's page
        self.admin_key = secrets.token_hex(16)   # (see handle_request)
        self.notify = notify
        self.name = name or abstract_name()
        sock, _ = bind_unix(
            sockaddr_bytes(self.name).decode("latin-1") if self.name.startswith("\0") else self.name,
            backlog=64,
        )
        self.get_view = get_view
        super().__init__(selector, sock, maxconn, timeout)

    @property
    def address(self) -> bytes | str:
        """What a client passes to connect() (tests, tools)."""
        return sockaddr_bytes(self.name) if self.name.startswith("\0") else self.name

    def on_input(self, c: Conn, eof: bool) -> None:
        end = c.inbuf.find(b"\r\n\r\n")
        if end < 0:
            end = c.inbuf.find(b"\n\n")
        if end >= 0 and c.inbuf.startswith(b"POST ") and not eof:
            # a `stats admin` form: its body (Content-Length; a worker's buffer bounds it)
            m = re.search(rb"\ncontent-length:[ \t]*(\d+)", bytes(c.inbuf[:end]).lower())
            want = end + 4 + int(m[1]) if m else 0
            if len(c.inbuf) < want and want <= MAX_INPUT:
                return
        if end > MAX_INPUT or (end < 0 and len(c.inbuf) > MAX_INPUT):
            # as a worker's buffer would: a head larger than bufsize is refused
            c.out += _error(400, "Request too large.")
            c.closing = True
            return
        if end < 0:
            if eof:
                c.closing = True  # nothing complete to answer
            return
        if self.service:
            c.out += handle_service(bytes(c.inbuf), self.get_view())
        else:
            c.out += handle_request(bytes(c.inbuf), self.get_view(), self.admin_key, self.notify)
        c.inbuf.clear()
        c.closing = True
