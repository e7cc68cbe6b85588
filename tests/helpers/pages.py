"""HAProxy 2.6's built-in error pages, byte for byte, for the tests that compare answers.

2.6 sends a parser error (400, 408, and our 414) in the raw form of its H1 mux, with
`Content-length` and `Connection: close`, and a stream error (403, 429, 502, 503, 504 ...) in the
lower-case form of its HTX layer, followed by `connection: close` only when the connection ends
with it (the client asked to close, the request was not read whole, an HTTP/1.0 client without
keep-alive): both binaries keep an HTTP/1.1 client after a stream error. `page_head()` leaves the
connection header out. Debian's /etc/haproxy/errors/*.http are the older 1.x bytes (HTTP/1.0, no
length): `debian_page()`.
"""

from __future__ import annotations

from pathlib import Path

_TEXTS = {
    200: ("OK", "Service ready."),
    400: ("Bad request", "Your browser sent an invalid request."),
    403: ("Forbidden", "Request forbidden by administrative rules."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed",
          "A request was made of a resource using a request method not supported by that resource"),
    408: ("Request Time-out", "Your browser didn't send a complete request in time."),
    414: ("Request-URI Too Long", "The request URI is too long."),
    429: ("Too Many Requests", "You have sent too many requests in a given amount of time."),
    500: ("Internal Server Error", "An internal server error occurred."),
    502: ("Bad Gateway", "The server returned an invalid or incomplete response."),
    503: ("Service Unavailable", "No server is available to handle this request."),
    504: ("Gateway Time-out", "The server didn't respond in time."),
}
_RAW = (400, 408, 414)          # sent by the parser, before any stream exists
DEBIAN_ERRORS = Path("/etc/haproxy/errors")


def page_body(code: int) -> bytes:
    reason, text = _TEXTS[code]
    return f"<html><body><h1>{code} {reason}</h1>\n{text}\n</body></html>\n".encode()


def page_head(code: int) -> bytes:
    """The status line and the headers both binaries send first (no trailing empty line)."""
    reason, _ = _TEXTS[code]
    n = len(page_body(code))
    if code in _RAW:
        return (f"HTTP/1.1 {code} {reason}\r\nContent-length: {n}\r\nCache-Control: no-cache\r\n"
                f"Connection: close\r\nContent-Type: text/html\r\n").encode()
    return (f"HTTP/1.1 {code} {reason}\r\ncontent-length: {n}\r\ncache-control: no-cache\r\n"
            f"content-type: text/html\r\n").encode()


def builtin_page(code: int, closing: bool = True) -> bytes:
    """The whole answer for `code` (2.6's bytes) on a connection that ends with it (closing) or
    stays open (an HTTP/1.1 client's: no connection header on a stream error)."""
    close = b"connection: close\r\n" if closing and code not in _RAW else b""
    return page_head(code) + close + b"\r\n" + page_body(code)


def debian_page(code: int) -> bytes:
    """The 1.x-form page Debian ships for `errorfile`, as HAProxy sends it (one end-of-line)."""
    reason, text = _TEXTS[code]
    page = (f"HTTP/1.0 {code} {reason}\r\nCache-Control: no-cache\r\nConnection: close\r\n"
            f"Content-Type: text/html\r\n\r\n").encode() + page_body(code)
    debian = DEBIAN_ERRORS / f"{code}.http"
    if debian.exists():
        assert debian.read_bytes().rstrip(b"\n") + b"\n" == page, f"{debian} differs"
    return page
