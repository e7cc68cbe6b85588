"""haproxy 2.6's byte counts in HTTP mode (`%U`, `%B`, the stats' bin/bout): each message counts
the size of its internal HTX form, not its bytes on the wire (tests/e2e/test_http_log_bytes.py
checks the rule against /usr/sbin/haproxy):

    20 (the start line's block) + its three words + each header's name and value (OWS trimmed;
    Connection's close/keep-alive tokens dropped) + 1 (end of headers) + the body's bytes without
    chunked framing + for a chunked body each trailer's name and value and 1 (end of trailers).
"""

from __future__ import annotations

SL_FIXED = 20


def _conn_value(value: str) -> int:
    kept = [t.strip() for t in value.split(",")]
    kept = [t for t in kept if t and t.lower() not in ("close", "keep-alive")]
    return len(", ".join(kept))


def htx_head_size(head: bytes) -> int:
    """The HTX size of a head (start line and header lines, with or without the blank line)."""
    lines = head.decode("latin-1").replace("\r\n", "\n").rstrip("\n").split("\n")
    words = lines[0].split(" ", 2)
    n = SL_FIXED + 1 + sum(len(w) for w in words)
    for line in lines[1:]:
        name, _, value = line.partition(":")
        value = value.strip(" \t")
        if name.lower() == "connection":
            k = _conn_value(value)
            n += 10 + k if k else 0
        else:
            n += len(name) + len(value)
    return n


def _chunked_size(body: bytes) -> int:
    n, pos = 0, 0
    while True:
        eol = body.index(b"\r\n", pos)
        size = int(body[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            break
        n += size
        pos += size + 2
    while True:               # trailers, then the end of the message
        eol = body.index(b"\r\n", pos)
        line = body[pos:eol].decode("latin-1")
        pos = eol + 2
        if not line:
            return n + 1
        name, _, value = line.partition(":")
        n += len(name) + len(value.strip(" \t"))


def htx_size(message: bytes, no_body: bool = False) -> int:
    """The HTX size of one whole HTTP/1.x message as sent (a response after 1xx answers: each
    counts). no_body: the answer to a HEAD (its Content-Length says nothing of what follows)."""
    head, _, body = message.partition(b"\r\n\r\n")
    n = htx_head_size(head)
    status = head.split(b" ", 2)[1] if head.startswith(b"HTTP/") else b""
    if status.startswith(b"1") and len(status) == 3:
        return n + htx_size(body, no_body)
    if no_body:
        return n
    if any(ln.lower().startswith(b"transfer-encoding:") and b"chunked" in ln.lower()
           for ln in head.split(b"\r\n")[1:]):
        return n + _chunked_size(body)
    return n + len(body)
