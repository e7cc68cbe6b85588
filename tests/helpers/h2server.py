"""An HTTP/2 server (h2c with prior knowledge, or h2 over TLS when given a context with ALPN h2)
built on Python's `h2` package, for the tests of HTTP/2 towards the servers: it records every
stream it receives (its header fields in order, pseudo-headers included, its body, its
connection) and answers by path:

  /cl/...        200, content-length, a short text body
  /chunk/...     200, no content-length, the body in three DATA frames
  /echo/...      200, the request body sent back (no content-length)
  /big/N         200, N deterministic bytes (seed 7), no content-length
  /grpc/...      200 `content-type: application/grpc`, one DATA frame, then trailers
                 `grpc-status: 0`, `grpc-message: ok` (a gRPC-like answer)
  /empty/...     204 in one HEADERS frame with END_STREAM
  /rst/...       RST_STREAM (INTERNAL_ERROR) instead of an answer
  /goaway/...    GOAWAY (last stream 0, so the stream is refused), then the connection closes
  /early/...     103 Early Hints (a `link` field), then 200 with a content-length
  /bye/...       the answer, then a graceful GOAWAY (this stream the last) and the close
  /close/...     the answer's HEADERS, part of its body, then the connection closes
  /hang/...      no answer (the proxy's `timeout server`)
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from .servers import TcpServer, deterministic_bytes


@dataclass
class H2Request:
    conn_id: int
    stream_id: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def pseudo(self) -> dict[str, str]:
        return {k: v for k, v in self.headers if k.startswith(":")}

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


class H2Server(TcpServer):
    def __init__(self, name: str = "H2", **kw: Any) -> None:
        super().__init__(name=name, **kw)
        self.requests: list[H2Request] = []

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.requests.clear()

    def handle(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        conn_id = self._tls.conn_id
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        h2c = h2.connection.H2Connection(cfg)
        h2c.initiate_connection()
        conn.sendall(h2c.data_to_send())
        streams: dict[int, H2Request] = {}
        pending: dict[int, tuple[bytes, list[tuple[str, str]] | None]] = {}   # body left, trailers
        conn.settimeout(30)
        while True:
            data = conn.recv(65536)
            if not data:
                return
            try:
                events = h2c.receive_data(data)
            except h2.exceptions.ProtocolError:
                conn.sendall(h2c.data_to_send())
                return
            for ev in events:
                if isinstance(ev, h2.events.RequestReceived):
                    streams[ev.stream_id] = H2Request(conn_id, ev.stream_id, [(k, v) for k, v in ev.headers])
                elif isinstance(ev, h2.events.DataReceived):
                    streams[ev.stream_id].body += ev.data
                    h2c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    streams[ev.stream_id].trailers = [(k, v) for k, v in ev.headers]
                elif isinstance(ev, h2.events.StreamEnded):
                    req = streams[ev.stream_id]
                    with self.lock:
                        self.requests.append(req)
                    if self._answer(conn, h2c, req, pending) == "close":
                        return
            self._send_pending(h2c, pending)
            out = h2c.data_to_send()
            if out:
                conn.sendall(out)

    def _send_pending(self, h2c: Any, pending: dict[int, tuple[bytes, list[tuple[str, str]] | None]]) -> None:
        for sid in list(pending):
            body, trailers = pending[sid]
            while body:
                n = min(len(body), h2c.local_flow_control_window(sid), h2c.max_outbound_frame_size)
                if n <= 0:
                    break
                h2c.send_data(sid, body[:n])
                body = body[n:]
            if body:
                pending[sid] = (body, trailers)
                continue
            del pending[sid]
            if trailers is not None:
                h2c.send_headers(sid, trailers, end_stream=True)
            else:
                h2c.end_stream(sid)

    def _answer(self, conn: socket.socket, h2c: Any, req: H2Request,
                pending: dict[int, tuple[bytes, list[tuple[str, str]] | None]]) -> str:
        path = req.pseudo().get(":path", "/")
        sid = req.stream_id
        kind = path.split("/")[1] if path.count("/") >= 1 else ""
        hdrs = [(":status", "200"), ("x-server", self.name)]
        if kind == "cl":
            body = f"cl from {self.name}\n".encode()
            h2c.send_headers(sid, hdrs + [("content-length", str(len(body))), ("content-type", "text/plain")])
            h2c.send_data(sid, body, end_stream=True)
        elif kind == "chunk":
            h2c.send_headers(sid, hdrs + [("content-type", "text/plain")])
            for part in (b"one,", b"two,", b"three\n"):
                h2c.send_data(sid, part)
            h2c.end_stream(sid)
        elif kind == "echo":
            h2c.send_headers(sid, hdrs)
            pending[sid] = (req.body, None)
        elif kind == "big":
            h2c.send_headers(sid, hdrs)
            pending[sid] = (deterministic_bytes(int(path.split("/")[2]), 7), None)
        elif kind == "grpc":
            h2c.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
            pending[sid] = (b"\x00\x00\x00\x00\x05hello", [("grpc-status", "0"), ("grpc-message", "ok")])
        elif kind == "empty":
            h2c.send_headers(sid, [(":status", "204"), ("x-server", self.name)], end_stream=True)
        elif kind == "early":
            h2c.send_headers(sid, [(":status", "103"), ("link", "</s.css>; rel=preload")])
            body = f"early from {self.name}\n".encode()
            h2c.send_headers(sid, hdrs + [("content-length", str(len(body)))])
            h2c.send_data(sid, body, end_stream=True)
        elif kind == "bye":
            body = f"bye from {self.name}\n".encode()
            h2c.send_headers(sid, hdrs + [("content-length", str(len(body)))])
            h2c.send_data(sid, body, end_stream=True)
            h2c.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR, last_stream_id=sid)
            conn.sendall(h2c.data_to_send())
            return "close"
        elif kind == "rst":
            h2c.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
        elif kind == "goaway":
            h2c.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR, last_stream_id=0)
            conn.sendall(h2c.data_to_send())
            return "close"
        elif kind == "close":
            h2c.send_headers(sid, hdrs + [("content-length", "100")])
            h2c.send_data(sid, b"partial")
            conn.sendall(h2c.data_to_send())
            return "close"
        elif kind == "hang":
            pass
        else:
            h2c.send_headers(sid, [(":status", "404")], end_stream=True)
        return ""


def h2_server(tls: Any = None, name: str = "H2") -> H2Server:
    srv = H2Server(name=name, tls=tls)
    srv.start()
    return srv


__all__ = ["H2Request", "H2Server", "h2_server"]
