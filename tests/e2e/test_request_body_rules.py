"""`option http-buffer-request` and the request body fetches (2.6, 4.2 and 7.3.6), against
pyhaproxy and /usr/sbin/haproxy (2.6):

- the frontend waits for the request's body before its rules, so that `req.body` sees all of it
  (Content-Length or chunked, sent in several writes with pauses);
- `Expect: 100-continue`: the proxy answers the 100 itself when it waits for the body;
- a body larger than the buffer: the rules see what filled it, the server still gets it all;
- the body not coming in time: 408 after `timeout http-request`, logged "cR" as 2.6 does;
- `req.body_len` / `req.body_size` / `req.body_param([name])`;
- the configuration errors 2.6 gives.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from tests.e2e.test_tls import binary  # noqa: F401  (the fixture: both binaries)
from tests.helpers import free_ports
from tests.helpers.net import LOCALHOST

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
    option http-buffer-request
    timeout http-request 1s
    http-request deny if { req.body -m sub secret }
    http-request set-header x-len %[req.body_len]
    http-request set-header x-size %[req.body_size]
    http-request set-header x-first %[req.body_param]
    use_backend b2 if { req.body -m beg route=two }
    use_backend b2 if { req.body_param(go) -m str two }
    default_backend b1
backend b1
    server s1 127.0.0.1:{b1}
backend b2
    server s2 127.0.0.1:{b2}
"""


def _start(proxy: Any, http_backend: Any, syslog: Any) -> tuple[int, list[Any]]:
    _log, logport = syslog
    (port,) = free_ports(1)
    bes = [http_backend(name=f"s{i}") for i in (1, 2)]
    proxy.start(CFG, logport=logport, port=port, b1=bes[0].port, b2=bes[1].port)
    return port, bes


def _read_all(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def _send(port: int, head: bytes, parts: list[bytes]) -> bytes:
    """Send the head, then each part after a pause; the whole answer."""
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(head)
        for p in parts:
            time.sleep(0.1)
            s.sendall(p)
        return _read_all(s)


def _post_cl(port: int, parts: list[bytes]) -> bytes:
    n = sum(len(p) for p in parts)
    head = f"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n".encode()
    return _send(port, head, parts)


def _post_chunked(port: int, parts: list[bytes]) -> bytes:
    head = b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    chunks = [b"%x\r\n%s\r\n" % (len(p), p) for p in parts] + [b"0\r\n\r\n"]
    return _send(port, head, chunks)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _server(answer: bytes) -> str:
    return answer.partition(b"\r\n\r\n")[2].decode().strip()


def test_body_rules_content_length(proxy: Any, binary: str, http_backend: Any,  # noqa: F811
                                   syslog: Any) -> None:
    port, bes = _start(proxy, http_backend, syslog)
    assert _status(_post_cl(port, [b"a=1&", b"b=sec", b"ret&c=3"])) == 403
    ans = _post_cl(port, [b"route=", b"two&x=1"])
    assert _status(ans) == 200 and _server(ans) == "s2"
    assert bes[1].requests[-1].body == b"route=two&x=1"
    assert bes[1].requests[-1].header("x-len") == "13"
    assert bes[1].requests[-1].header("x-size") == "13"
    ans = _post_cl(port, [b"plain", b" body"])
    assert _status(ans) == 200 and _server(ans) == "s1"
    # req.body_param: a url-encoded body's NAME=VALUE (no name: the first one)
    ans = _post_cl(port, [b"a=1&g", b"o=two&c=3"])
    assert _status(ans) == 200 and _server(ans) == "s2"
    assert bes[1].requests[-1].header("x-first") == "1"
    ans = _post_cl(port, [b"a=1&go=twox"])
    assert _status(ans) == 200 and _server(ans) == "s1"


def test_body_rules_chunked(proxy: Any, binary: str, http_backend: Any,  # noqa: F811
                            syslog: Any) -> None:
    port, bes = _start(proxy, http_backend, syslog)
    assert _status(_post_chunked(port, [b"a=1&b=sec", b"ret"])) == 403
    ans = _post_chunked(port, [b"route=", b"two", b"&x=1"])
    assert _status(ans) == 200 and _server(ans) == "s2"
    assert bes[1].requests[-1].body == b"route=two&x=1"
    assert bes[1].requests[-1].header("x-len") == "13"


def test_body_expect_100_continue(proxy: Any, binary: str, http_backend: Any,  # noqa: F811
                                  syslog: Any) -> None:
    port, bes = _start(proxy, http_backend, syslog)
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\nExpect: 100-continue\r\n"
                  b"Connection: close\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first:
            chunk = s.recv(1)
            assert chunk, first
            first += chunk
        assert first == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"route=two")
        ans = _read_all(s)
    assert _status(ans) == 200 and _server(ans) == "s2"
    # the server never sees the Expect header: the proxy answered it
    assert bes[1].requests[-1].header("expect") is None
    assert bes[1].requests[-1].body == b"route=two"
    # a body that came with the head: the 100 still goes first
    ans = _send(port, b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\nExpect: 100-continue\r\n"
                b"Connection: close\r\n\r\nroute=two", [])
    assert ans.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200"), ans
    assert bes[1].requests[-1].header("expect") is None


def test_body_larger_than_the_buffer(proxy: Any, binary: str, http_backend: Any,  # noqa: F811
                                     syslog: Any) -> None:
    port, bes = _start(proxy, http_backend, syslog)
    big = b"x" * 40000
    # the rules see what filled the buffer: the word at the end is not in it
    ans = _post_cl(port, [big[:20000], big[20000:], b"secret"])
    assert _status(ans) == 200 and _server(ans) == "s1"
    assert bes[0].requests[-1].body == big + b"secret"
    assert _status(_post_cl(port, [b"secret", big[:20000], big[20000:]])) == 403


def test_body_timeout(proxy: Any, binary: str, http_backend: Any, syslog: Any) -> None:  # noqa: F811
    log, _logport = syslog
    port, _bes = _start(proxy, http_backend, syslog)
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\nabc")
        ans = _read_all(s)
    assert _status(ans) == 408
    line = log.lines_with("/slow", 1)[0]
    assert " fe fe/<NOSRV> " in line, line
    # (2.6 logs it as a request that timed out, "cR", with no Tr)
    assert " -1/-1/-1/-1/" in line and " 408 " in line and " cR-- " in line, line


def test_body_config_errors(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    out = proxy.refuses(tmp_path / "x.cfg", """
defaults
    mode http
frontend fe
    bind 127.0.0.1:8080
    option http-buffer-request x
""")
    assert "'option http-buffer-request' cannot handle unexpected argument 'x'" in out


def test_body_backend_option_refused(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    """pyhaproxy waits for the body in the frontend only: the option in a backend section is
    refused by name rather than half-honoured (2.6 accepts it)."""
    cfg = """
defaults
    mode http
    timeout client 5s
    timeout connect 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:8080
    default_backend be
backend be
    option http-buffer-request
    server s1 127.0.0.1:8081
"""
    if binary == "haproxy":
        (tmp_path / "b.cfg").write_text(cfg)
        r = proxy.run(["-c", "-f", str(tmp_path / "b.cfg")])
        assert r.returncode == 0, r.stdout + r.stderr
        return
    out = proxy.refuses(tmp_path / "b.cfg", cfg)
    assert "'option http-buffer-request' in a backend section is not supported by pyhaproxy" in out


WFB_CFG = """
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
    http-request wait-for-body time 1s at-least {atleast}
    http-request deny if { req.body -m sub secret }
    default_backend b1
backend b1
    server s1 127.0.0.1:{b1}
"""


def _start_wfb(proxy: Any, http_backend: Any, syslog: Any, atleast: str) -> tuple[int, Any]:
    _log, logport = syslog
    (port,) = free_ports(1)
    be = http_backend(name="s1")
    proxy.start(WFB_CFG, logport=logport, port=port, b1=be.port, atleast=atleast)
    return port, be


def test_wait_for_body_whole(proxy: Any, binary: str, http_backend: Any, syslog: Any) -> None:  # noqa: F811
    port, be = _start_wfb(proxy, http_backend, syslog, "0")
    assert _status(_post_cl(port, [b"0123456789ab", b"cdsecret"])) == 403
    assert _status(_post_chunked(port, [b"0123456789ab", b"cdsecret"])) == 403
    ans = _post_cl(port, [b"0123456789ab", b"cd"])
    assert _status(ans) == 200 and be.requests[-1].body == b"0123456789abcd"


def test_wait_for_body_at_least(proxy: Any, binary: str, http_backend: Any, syslog: Any) -> None:  # noqa: F811
    port, be = _start_wfb(proxy, http_backend, syslog, "10")
    # the first 12 bytes are enough: the rules never see the word that comes after them
    ans = _post_cl(port, [b"0123456789ab", b"cdsecret"])
    assert _status(ans) == 200 and be.requests[-1].body == b"0123456789abcdsecret"
    assert _status(_post_cl(port, [b"secret789ab", b"cd"])) == 403


def test_wait_for_body_timeout(proxy: Any, binary: str, http_backend: Any, syslog: Any) -> None:  # noqa: F811
    log, _logport = syslog
    port, _be = _start_wfb(proxy, http_backend, syslog, "0")
    with socket.create_connection((LOCALHOST, port), timeout=10) as s:
        s.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\nabc")
        ans = _read_all(s)
    assert _status(ans) == 408
    line = log.lines_with("/slow", 1)[0]
    assert " fe fe/<NOSRV> " in line and " 408 " in line and " cR-- " in line, line


def test_wait_for_body_config_errors(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    cases = {
        "": "expects time <time> [ at-least <bytes> ]",
        "time": "missing argument for 'time'",
        "time abc": "unexpected character 'a'",
        "time 10s at-least": "missing argument for 'at-least'",
        "time 10s at-least 1x": "unexpected character 'x'",
        "at-least 10": "expects time <time> [ at-least <bytes> ]",
        "time 99999999999": "time overflow (maximum value is 2147483647 ms or ~24.8 days)",
    }
    for i, (value, msg) in enumerate(cases.items()):
        out = proxy.refuses(tmp_path / f"w{i}.cfg", f"""
defaults
    mode http
frontend fe
    bind 127.0.0.1:8080
    http-request wait-for-body {value}
""")
        assert ("error detected in frontend 'fe' while parsing 'http-request wait-for-body' rule : "
                f"{msg}.") in out, (value, out)
    out = proxy.refuses(tmp_path / "f.cfg", """
defaults
    mode http
frontend fe
    bind 127.0.0.1:8080
    http-request wait-for-body time 1s foo
""")
    assert ("'http-request wait-for-body' expects either 'if' or 'unless' followed by a condition "
            "but found 'foo'.") in out


def test_body_option_needs_http_mode(proxy: Any, binary: str, tmp_path: Any) -> None:  # noqa: F811
    path = tmp_path / "t.cfg"
    path.write_text("""
defaults
    mode tcp
    timeout client 1s
    timeout server 1s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:8080
    option http-buffer-request
    default_backend be
backend be
    server s 127.0.0.1:8081
""")
    r = proxy.run(["-c", "-f", str(path)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("'option http-buffer-request' ignored for frontend 'fe' as it requires HTTP mode."
            in r.stdout + r.stderr)
