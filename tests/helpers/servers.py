"""Backend servers run by the tests themselves, in threads, on 127.0.0.0/8 addresses.

All servers share one base (`TcpServer`): a listening socket, an accept thread, one thread per
connection, a record of every peer address in accept order, and `stop()` / `start()` that can be
called repeatedly (the port is kept, so a stopped server can be started again on the same port).

- `EchoServer`        echoes bytes back (optionally after a banner), half-close aware.
- `SilentServer`      accepts, reads and discards, never answers (srvtimeout tests).
- `EofReplyServer`    reads until the client's FIN, then sends a reply and closes (half-close).
- `DataServer`        exchanges N deterministic bytes each way, checked with sha256.
- `HttpServer`        a small raw-socket HTTP/1.1 server recording every request byte for byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import http
import random
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .net import LOCALHOST, recv_exactly, recv_until_closed, wait_until


def deterministic_bytes(n: int, seed: int) -> bytes:
    """n pseudo-random bytes that depend only on `seed` (same on both ends of a transfer)."""
    return random.Random(seed).randbytes(n)


def _note_sni(sock: Any, name: str | None, _ctx: ssl.SSLContext) -> None:
    """A TLS backend's SNI callback: the name the client sent, kept on its connection."""
    sock.sni_seen = name


class TcpServer:
    """Threaded TCP server base class. Subclasses implement `handle(conn, peer)`.

    Attributes readable by tests (guarded by `lock` while servers run):
      peers     list of (ip, port) of every accepted connection, in accept order
      active    number of connections currently open on the server side
    """

    def __init__(self, host: str = LOCALHOST, port: int = 0, name: str | None = None,
                 backlog: int = 256, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        # tls: a server-side context; each connection's handshake is done before handle(), and
        # what it negotiated is kept in `tls_info` (sni, reused, version, peer certificate)
        self.tls = tls
        self.tls_info: list[dict[str, Any]] = []
        self.port = port
        self.name = name or f"{type(self).__name__}@{host}:{port}"
        self.backlog = backlog
        self.lock = threading.Lock()
        self.peers: list[tuple[str, int]] = []
        self.active = 0
        self.errors: list[BaseException] = []
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._accept_thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        # conn_id (accept index) of the connection the current handler thread serves
        self._tls = threading.local()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> TcpServer:
        """Bind and start accepting (on the same port as before if it was started once)."""
        if self._listener is not None:
            return self
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(self.backlog)
        self.port = s.getsockname()[1]
        if self.name.endswith(":0"):
            self.name = f"{type(self).__name__}@{self.host}:{self.port}"
        self._listener = s
        self._stop.clear()
        self._accept_thread = threading.Thread(target=self._accept_loop, args=(s,),
                                               name=f"accept-{self.name}", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self, close_connections: bool = True) -> None:
        """Stop accepting (the port is released) and, by default, drop every open connection."""
        self._stop.set()
        if self._accept_thread is not None:
            self._accept_thread.join(5)
            self._accept_thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if close_connections:
            with self.lock:
                conns = list(self._conns)
            for c in conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
            for t in list(self._threads):
                t.join(5)
            self._threads = [t for t in self._threads if t.is_alive()]

    def __enter__(self) -> TcpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- accounting ------------------------------------------------------------------------

    @property
    def accepted(self) -> int:
        """Number of connections accepted since creation (or the last `reset()`)."""
        with self.lock:
            return len(self.peers)

    def peer_hosts(self) -> list[str]:
        """Source IP of each accepted connection, in accept order."""
        with self.lock:
            return [p[0] for p in self.peers]

    def reset(self) -> None:
        """Forget recorded peers (and subclass records)."""
        with self.lock:
            self.peers.clear()

    def wait_accepted(self, n: int, timeout: float = 15.0) -> None:
        """Wait until at least n connections have been accepted."""
        wait_until(lambda: self.accepted >= n, timeout, message=f"{self.name} to accept {n} connections")

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Wait until no connection is open on the server side."""
        wait_until(lambda: self.active == 0, timeout, message=f"{self.name} connections to close")

    # -- internals -------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([listener], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                conn, peer = listener.accept()
            except OSError:
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                conn_id = len(self.peers)
                self.peers.append(peer)
                self._conns.add(conn)
                self.active += 1
            t = threading.Thread(target=self._run_handler, args=(conn, peer, conn_id),
                                 name=f"conn-{self.name}", daemon=True)
            self._threads.append(t)
            self._threads = [x for x in self._threads if x.is_alive() or x is t]
            t.start()

    def _tls_accept(self, conn: socket.socket) -> socket.socket:
        """The TLS handshake of an accepted connection (blocking, bounded); what it negotiated
        goes to tls_info."""
        assert self.tls is not None
        if self.tls.sni_callback is None:
            self.tls.sni_callback = _note_sni
        conn.settimeout(10)
        tconn = self.tls.wrap_socket(conn, server_side=True)
        tconn.settimeout(None)
        seen = {"sni": getattr(tconn, "sni_seen", None), "reused": tconn.session_reused,
                "version": tconn.version(), "peer_cert": tconn.getpeercert(),
                "alpn": tconn.selected_alpn_protocol()}
        with self.lock:
            self.tls_info.append(seen)
        return tconn

    def _run_handler(self, conn: socket.socket, peer: tuple[str, int], conn_id: int) -> None:
        self._tls.conn_id = conn_id
        try:
            if self.tls is not None:
                raw = conn
                conn = self._tls_accept(conn)
                with self.lock:
                    self._conns.discard(raw)
                    self._conns.add(conn)
            self.handle(conn, peer)
        except OSError:
            pass  # peers (the proxy) may reset connections; that is not a server bug
        except BaseException as exc:  # noqa: BLE001 - recorded for the test to inspect
            self.errors.append(exc)
        finally:
            with self.lock:
                self._conns.discard(conn)
                self.active -= 1
            with contextlib.suppress(OSError):
                conn.close()

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:  # pragma: no cover
        raise NotImplementedError


class EchoServer(TcpServer):
    """Sends `banner` (if any) on connect, then echoes every byte; on the client's FIN it
    finishes echoing, shuts down its write side and closes."""

    def __init__(self, host: str = LOCALHOST, port: int = 0, name: str | None = None,
                 banner: bytes = b"") -> None:
        super().__init__(host, port, name)
        self.banner = banner

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        if self.banner:
            conn.sendall(self.banner)
        while not self._stop.is_set():
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)


class SilentServer(TcpServer):
    """Accepts and reads, never sends anything; keeps the connection until the peer closes it.

    `received` counts bytes read over all connections.
    """

    def __init__(self, host: str = LOCALHOST, port: int = 0, name: str | None = None) -> None:
        super().__init__(host, port, name)
        self.received = 0

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        while not self._stop.is_set():
            data = conn.recv(65536)
            if not data:
                return
            with self.lock:
                self.received += len(data)


class EofReplyServer(TcpServer):
    """Reads until the client half-closes (FIN), then sends a reply and closes.

    The reply is `reply_for(received_bytes)`; by default `reply_size` deterministic bytes
    (seed 7) so a large reply checks that the client->proxy->server shutdown did not also close
    the way back. `received` holds what each connection read, in order.
    """

    def __init__(self, host: str = LOCALHOST, port: int = 0, name: str | None = None,
                 reply_size: int = 256 * 1024,
                 reply_for: Callable[[bytes], bytes] | None = None) -> None:
        super().__init__(host, port, name)
        self.reply_size = reply_size
        self.reply_for = reply_for or (lambda _data: deterministic_bytes(self.reply_size, 7))
        self.received: list[bytes] = []

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        data = recv_until_closed(conn, timeout=30)
        with self.lock:
            self.received.append(data)
        conn.sendall(self.reply_for(data))
        conn.shutdown(socket.SHUT_WR)


@dataclass
class DataResult:
    """What a DataServer saw on one connection."""

    seed: int
    upstream_ok: bool
    upstream_len: int


class DataServer(TcpServer):
    """Exchanges deterministic data with `data_exchange()` clients, both directions at once.

    Protocol (per connection): the client sends an 8-byte big-endian seed, then `up_bytes`
    bytes of deterministic_bytes(up_bytes, 2*seed+1); the server, as soon as it has the seed,
    sends `down_bytes` bytes of deterministic_bytes(down_bytes, 2*seed) while reading the
    client's bytes, checks their sha256, records a DataResult, then closes.
    """

    def __init__(self, host: str = LOCALHOST, port: int = 0, name: str | None = None,
                 down_bytes: int = 1 << 20, up_bytes: int = 1 << 20) -> None:
        super().__init__(host, port, name)
        self.down_bytes = down_bytes
        self.up_bytes = up_bytes
        self.results: list[DataResult] = []

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        (seed,) = struct.unpack("!Q", recv_exactly(conn, 8, timeout=30))
        payload = deterministic_bytes(self.down_bytes, 2 * seed)
        send_error: list[BaseException] = []

        def sender() -> None:
            try:
                conn.sendall(payload)
            except OSError as exc:
                send_error.append(exc)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        h = hashlib.sha256()
        got = 0
        conn.settimeout(60)
        while got < self.up_bytes:
            chunk = conn.recv(min(65536, self.up_bytes - got))
            if not chunk:
                break
            h.update(chunk)
            got += len(chunk)
        expected = hashlib.sha256(deterministic_bytes(self.up_bytes, 2 * seed + 1)).digest()
        with self.lock:
            self.results.append(DataResult(seed, got == self.up_bytes and h.digest() == expected, got))
        t.join(60)
        if not send_error:
            conn.shutdown(socket.SHUT_WR)
            # Wait for the client's close so our FIN is not turned into a RST by unread data.
            with contextlib.suppress(OSError):
                recv_until_closed(conn, timeout=30)


def data_exchange(host: str, port: int, seed: int, down_bytes: int = 1 << 20,
                  up_bytes: int = 1 << 20, timeout: float = 60.0) -> tuple[bool, str]:
    """Client side of the DataServer protocol. Returns (ok, detail) about the downstream data."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        upstream = struct.pack("!Q", seed) + deterministic_bytes(up_bytes, 2 * seed + 1)
        send_error: list[BaseException] = []

        def sender() -> None:
            try:
                s.sendall(upstream)
            except OSError as exc:
                send_error.append(exc)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        data = recv_until_closed(s, timeout=timeout, limit=down_bytes + 1)
        t.join(timeout)
        expected = hashlib.sha256(deterministic_bytes(down_bytes, 2 * seed)).hexdigest()
        got = hashlib.sha256(data).hexdigest()
        if send_error:
            return False, f"seed {seed}: send failed: {send_error[0]!r}"
        if len(data) != down_bytes or got != expected:
            return False, (f"seed {seed}: got {len(data)} bytes sha {got[:12]}, "
                           f"want {down_bytes} {expected[:12]}")
        return True, "ok"
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass
class HttpResponse:
    """A response an HttpServer sends.

    `headers` are sent in order, verbatim (several Set-Cookie lines are fine). Content-Length is
    added unless `content_length` is False or a Content-Length / Transfer-Encoding header is
    given. `raw`, if set, is sent byte for byte instead of building a response. `delay` sleeps
    before answering. `close` forces `Connection: close` and closes after the response.
    """

    status: int = 200
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    version: str = "HTTP/1.1"
    content_length: bool = True
    close: bool = False
    delay: float = 0.0
    raw: bytes | None = None


@dataclass
class RecordedRequest:
    """One request as the backend received it.

    raw       exact bytes: request line + headers + CRLF CRLF + body as framed on the wire
    head      the request line and header lines, without the final empty line
    headers   (name, value) pairs in order, names as sent
    body      the body after de-chunking (equal to the raw body when Content-Length is used)
    peer      (ip, port) of the connection it came on
    conn_id   index of that connection on this server (0-based, accept order)
    index_in_conn  0 for the first request of a connection, 1 for the next (keep-alive) ...
    """

    raw: bytes
    head: bytes
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    peer: tuple[str, int]
    conn_id: int
    index_in_conn: int

    def header(self, name: str) -> str | None:
        """First value of header `name` (case-insensitive), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_values(self, name: str) -> list[str]:
        """All values of header `name`, in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def request_line(self) -> str:
        return f"{self.method} {self.target} {self.version}"


class _ConnReader:
    """Buffered reader over a socket for the HTTP server."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buf = b""

    def fill(self) -> bool:
        chunk = self.conn.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_until(self, sep: bytes, limit: int = 1 << 20) -> bytes | None:
        while sep not in self.buf:
            if len(self.buf) > limit or not self.fill():
                return None
        idx = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:idx], self.buf[idx:]
        return out

    def read_exactly(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self.fill():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


class HttpServer(TcpServer):
    """Threaded raw-socket HTTP/1.1 server for tests.

    - Records every request in `requests` (see RecordedRequest), byte for byte.
    - Answers `responder(request)` if set, else `response` (default: 200, body "<name>\\n",
      header `X-Server: <name>`). Use `set_response(...)` to change it.
    - Keep-alive: HTTP/1.1 requests keep the connection unless `Connection: close`; HTTP/1.0
      only with `Connection: keep-alive`. `keepalive=False` closes after every response.
    - `stop()` / `start()` to take it down and bring it back on the same port.
    """

    def __init__(self, host: str = LOCALHOST, port: int = 0, name: str | None = None,
                 keepalive: bool = True, response: HttpResponse | None = None,
                 responder: Callable[[RecordedRequest], HttpResponse] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        super().__init__(host, port, name, tls=tls)
        self.keepalive = keepalive
        self._response = response
        self.responder = responder
        self.requests: list[RecordedRequest] = []

    @property
    def response(self) -> HttpResponse:
        if self._response is not None:
            return self._response
        return HttpResponse(headers=[("Content-Type", "text/plain"), ("X-Server", self.name)],
                            body=f"{self.name}\n".encode())

    def set_response(self, status: int = 200, headers: list[tuple[str, str]] | None = None,
                     body: bytes = b"", **kw: object) -> None:
        """Answer every following request with this response."""
        self._response = HttpResponse(status=status, headers=list(headers or []), body=body, **kw)  # type: ignore[arg-type]

    def reset(self) -> None:
        with self.lock:
            self.peers.clear()
            self.requests.clear()

    def request_count(self) -> int:
        with self.lock:
            return len(self.requests)

    def wait_requests(self, n: int, timeout: float = 15.0) -> list[RecordedRequest]:
        """Wait until at least n requests were received; return the list."""
        wait_until(lambda: self.request_count() >= n, timeout, message=f"{self.name} to get {n} requests")
        with self.lock:
            return list(self.requests)

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        conn_id: int = self._tls.conn_id
        reader = _ConnReader(conn)
        index = 0
        while not self._stop.is_set():
            req = self._read_request(reader, peer, conn_id, index)
            if req is None:
                return
            with self.lock:
                self.requests.append(req)
            resp = self.responder(req) if self.responder else self.response
            keep = self._send_response(conn, req, resp)
            if not keep:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_WR)
                    # Drain until the peer closes so unread bytes do not turn our FIN into a RST.
                    recv_until_closed(conn, timeout=10)
                return
            index += 1

    @staticmethod
    def _read_request(reader: _ConnReader, peer: tuple[str, int], conn_id: int,
                      index: int) -> RecordedRequest | None:
        head_raw = reader.read_until(b"\r\n\r\n")
        if head_raw is None:
            return None
        head = head_raw[:-4]
        lines = head.split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ", 2)
        while len(parts) < 3:
            parts.append("")
        method, target, version = parts
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name, value.strip()))
        lower = {k.lower(): v for k, v in headers}
        body_raw = b""
        body = b""
        if "chunked" in lower.get("transfer-encoding", "").lower():
            parts_b: list[bytes] = []
            raw_parts: list[bytes] = []
            while True:
                size_line = reader.read_until(b"\r\n")
                if size_line is None:
                    return None
                raw_parts.append(size_line)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers up to the empty line
                    while True:
                        trailer = reader.read_until(b"\r\n")
                        if trailer is None:
                            return None
                        raw_parts.append(trailer)
                        if trailer == b"\r\n":
                            break
                    break
                chunk = reader.read_exactly(size + 2)
                if chunk is None:
                    return None
                raw_parts.append(chunk)
                parts_b.append(chunk[:-2])
            body_raw = b"".join(raw_parts)
            body = b"".join(parts_b)
        elif "content-length" in lower:
            n = int(lower["content-length"])
            got = reader.read_exactly(n)
            if got is None:
                return None
            body_raw = body = got
        return RecordedRequest(raw=head_raw + body_raw, head=head, method=method, target=target,
                               version=version, headers=headers, body=body, peer=peer,
                               conn_id=conn_id, index_in_conn=index)

    def _send_response(self, conn: socket.socket, req: RecordedRequest, resp: HttpResponse) -> bool:
        """Send resp; return True if the connection stays open for another request."""
        if resp.delay:
            time.sleep(resp.delay)
        conn_hdr = (req.header("Connection") or "").lower()
        if req.version == "HTTP/1.1":
            keep = "close" not in conn_hdr
        else:
            keep = "keep-alive" in conn_hdr
        keep = keep and self.keepalive and not resp.close
        if resp.raw is not None:
            conn.sendall(resp.raw)
            return keep
        reason = resp.reason
        if reason is None:
            try:
                reason = http.HTTPStatus(resp.status).phrase
            except ValueError:
                reason = "Unknown"
        lines = [f"{resp.version} {resp.status} {reason}"]
        names = {k.lower() for k, _ in resp.headers}
        lines += [f"{k}: {v}" for k, v in resp.headers]
        if resp.content_length and "content-length" not in names and "transfer-encoding" not in names:
            lines.append(f"Content-Length: {len(resp.body)}")
        if "connection" not in names:
            if not keep:
                lines.append("Connection: close")
            elif req.version != "HTTP/1.1":
                lines.append("Connection: keep-alive")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if req.method != "HEAD":
            payload += resp.body
        conn.sendall(payload)
        return keep
