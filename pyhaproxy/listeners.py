"""Listening sockets: bound once by the master, inherited by the workers; pause and resume.

Each (address, port) of every enabled proxy gets one non-blocking TCP socket with SO_REUSEADDR
and a backlog equal to the proxy's maxconn (HAProxy calls listen(fd, maxconn)).

Pause uses HAProxy's Linux trick: shutdown(SHUT_WR), listen(), shutdown(SHUT_RD) takes the socket
out of the LISTEN state while it stays bound to its address, so a new process using SO_REUSEADDR can
bind the same port; resume() is listen() again, which fails with EADDRINUSE if someone else now
listens there. Since a socket is shared by every process holding it, pausing it in one process
pauses it for all of them.

A socket handed over by the instance being replaced (`-x`, sockxfer.py) is taken instead of
binding a new one when its address and options match.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from dataclasses import dataclass

from pyhaproxy.config.model import Bind, Config, Proxy
from pyhaproxy.sockxfer import SocketPool, v6only_default

# A listener's identity across reloads: a socket is reused when all of these are unchanged.
ListenerKey = tuple[str, int, str, int]  # (proxy name, family, host, port)


class BindError(Exception):
    """A listener could not be set up. ``str()`` is HAProxy's alert text (without the [ALERT] prefix)."""

    def __init__(self, message: str, proxy: str, retryable: bool = True, err: int = 0) -> None:
        super().__init__(message)
        self.proxy = proxy
        self.retryable = retryable
        self.errno = err


@dataclass
class Listener:
    sock: socket.socket
    proxy_index: int
    bind: Bind
    port: int
    proxy_name: str = ""
    backlog: int = 0
    paused: bool = False

    @property
    def key(self) -> ListenerKey:
        return listener_key(self.proxy_name, self.bind, self.port)

    def fileno(self) -> int:
        return self.sock.fileno()

    def pause(self) -> bool:
        """Leaves the LISTEN state but stays bound (Linux). False if the kernel refused."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.listen(self.backlog)
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            return False
        self.paused = True
        return True

    def resume(self) -> bool:
        """listen() again; False (EADDRINUSE) if another socket took the port meanwhile."""
        try:
            self.sock.listen(self.backlog)
        except OSError:
            return False
        self.paused = False
        return True

    def close(self) -> None:
        self.sock.close()


def listen_host(bind: Bind) -> str:
    """The address to bind: '' and '*' mean any address of the bind's family ("fd@N" for an
    inherited socket, a name only)."""
    if bind.host in ("", "*"):
        return "::" if bind.family == socket.AF_INET6 else "0.0.0.0"
    return bind.host


def listener_key(proxy_name: str, bind: Bind, port: int) -> ListenerKey:
    return (proxy_name, bind.family, listen_host(bind), port)


def iter_binds(cfg: Config) -> list[tuple[int, Proxy, Bind, int]]:
    """(proxy index, proxy, bind, port) for every port of every enabled proxy, in config order."""
    out: list[tuple[int, Proxy, Bind, int]] = []
    for pi, proxy in enumerate(cfg.proxies):
        if proxy.disabled:
            continue
        for b in proxy.binds:
            for port in range(b.port_lo, max(b.port_lo, b.port_hi) + 1):
                out.append((pi, proxy, b, port))
    return out


def _smart_accept(sock: socket.socket, bind: Bind, proxy: Proxy) -> None:
    """`option tcp-smart-accept`, 2.6's default for HTTP and TLS listeners: no quick ACK of a
    request, so the answer carries it. Set after listen(), which resets it."""
    if bind.family in (socket.AF_INET, socket.AF_INET6):
        smart = "tcp-smart-accept" in proxy.options or (
            (proxy.mode == "http" or bind.tls is not None) and "tcp-smart-accept" not in proxy.no_options)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0 if smart else 1)


def _bind_options(sock: socket.socket, bind: Bind, proxy: Proxy) -> None:
    """The socket options of a 1.3+/2.x `bind` line (set before bind()); name/id are labels."""
    opts = bind.options
    try:
        if "v6only" in opts or "v4v6" in opts:
            if bind.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if "v6only" in opts else 0)
        if "defer-accept" in opts:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
        if "mss" in opts:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, int(opts["mss"]))
        if "tfo" in opts:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 128)
        if "transparent" in opts:
            sock.setsockopt(socket.SOL_IP, socket.IP_TRANSPARENT, 1)
        if "interface" in opts:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, opts["interface"].encode() + b"\0")
    except OSError as e:
        raise BindError(
            f"cannot set the 'bind' options {sorted(opts)} for proxy {proxy.name} ({e.strerror}). Aborting.",
            proxy.name, False, e.errno or 0,
        ) from e


def adopt_fd(proxy_index: int, proxy: Proxy, bind: Bind) -> Listener:
    """`bind fd@N`: take over a listening TCP socket inherited from our parent (a dup of it, so
    that it survives as N for reloads); its address and port are read back from the socket."""
    try:
        sock = socket.socket(fileno=os.dup(bind.fd))
    except OSError as e:
        raise BindError(f"cannot use inherited fd@{bind.fd} for proxy {proxy.name}: {e.strerror}. "
                        "Aborting.", proxy.name, False, e.errno or 0) from e
    try:
        if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
            raise BindError(f"fd@{bind.fd} of proxy {proxy.name} is not a TCP socket. Aborting.",
                            proxy.name, False)
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise BindError(f"fd@{bind.fd} of proxy {proxy.name} is not a listening socket. Aborting.",
                            proxy.name, False)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bind.family = sock.family
        port = sock.getsockname()[1]
    except OSError as e:
        sock.close()
        raise BindError(f"cannot use inherited fd@{bind.fd} for proxy {proxy.name}: {e.strerror}. "
                        "Aborting.", proxy.name, False, e.errno or 0) from e
    except BaseException:
        sock.close()
        raise
    return Listener(sock, proxy_index, bind, port, proxy_name=proxy.name, backlog=socket.SOMAXCONN)


def abns_address(name: str) -> bytes:
    """`abns@NAME` as 2.6 binds it: NUL, the name, NULs up to the whole sun_path (108 bytes)."""
    raw = (b"\0" + name.encode())[:108]
    return raw.ljust(108, b"\0")


def bind_unix_listener(proxy_index: int, proxy: Proxy, bind: Bind) -> Listener:
    """`bind /path`, `unix@/path`, `abns@NAME`: a listening UNIX stream socket. A path is bound
    under a temporary name, given its mode/owner, then renamed over the final one, as 2.6 does,
    so a socket file left by a previous instance is replaced and never missing."""
    opts = bind.options
    backlog = _backlog(proxy, bind)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    tmp = ""
    try:
        sock.setblocking(False)
        if bind.host.startswith("abns@"):
            try:
                sock.bind(abns_address(bind.host[5:]))
            except OSError as e:
                raise BindError(f"cannot bind UNIX socket (abstract) [{bind.host}] for proxy "
                                f"{proxy.name}. Aborting.", proxy.name, True, e.errno or 0) from e
        else:
            path = bind.host
            tmp = f"{path}.{os.getpid()}.tmp"
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                sock.bind(tmp)
                if "mode" in opts:
                    os.chmod(tmp, int(opts["mode"], 8))
                if "uid" in opts or "gid" in opts:
                    os.chown(tmp, int(opts.get("uid", -1)), int(opts.get("gid", -1)))
            except OSError as e:
                raise BindError(f"cannot bind UNIX socket [{path}] for proxy {proxy.name} "
                                f"({e.strerror}). Aborting.", proxy.name, False, e.errno or 0) from e
        try:
            sock.listen(backlog)
        except OSError as e:
            raise BindError(f"cannot listen to UNIX socket [{bind.host}] for proxy {proxy.name}. "
                            "Aborting.", proxy.name, True, e.errno or 0) from e
        if tmp:
            try:
                os.rename(tmp, bind.host)
            except OSError as e:
                raise BindError(f"cannot switch final and temporary UNIX sockets [{bind.host}] for "
                                f"proxy {proxy.name} ({e.strerror}). Aborting.", proxy.name, False,
                                e.errno or 0) from e
            tmp = ""
    except BaseException:
        sock.close()
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    return Listener(sock, proxy_index, bind, 0, proxy_name=proxy.name, backlog=backlog)


def _backlog(proxy: Proxy, bind: Bind) -> int:
    if "backlog" in bind.options:
        return int(bind.options["backlog"])
    if proxy.backlog > 0:
        return proxy.backlog        # the proxy's `backlog N` (2.6: after the bind's, before maxconn)
    return proxy.maxconn if proxy.maxconn > 0 else socket.SOMAXCONN


def _bind_address(bind: Bind, port: int) -> tuple[int, object]:
    """(family, the address getsockname() would give) of a bind line's port, to match it with
    a socket handed over by the old instance."""
    if bind.family == socket.AF_UNIX:
        return socket.AF_UNIX, abns_address(bind.host[5:]) if bind.host.startswith("abns@") else bind.host
    family = socket.AF_INET6 if bind.family == socket.AF_INET6 else socket.AF_INET
    host = listen_host(bind)
    try:
        host = socket.inet_ntop(family, socket.inet_pton(family, host))
    except OSError:
        with contextlib.suppress(OSError, IndexError):
            host = str(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0,
                                          socket.AI_PASSIVE)[0][4][0])
    return family, (host, port)


def take_from_pool(pool: SocketPool, proxy_index: int, proxy: Proxy, bind: Bind,
                   port: int) -> Listener | None:
    """The old instance's socket for this bind and port (sockxfer.py), listening again with
    this configuration's backlog; None when it handed over no such socket."""
    family, address = _bind_address(bind, port)
    opts = bind.options
    v6only = family == socket.AF_INET6 and (
        "v6only" in opts or (v6only_default() and "v4v6" not in opts))
    sock = pool.take(family, address, opts.get("interface", ""), v6only, "transparent" in opts)
    if sock is None:
        return None
    backlog = _backlog(proxy, bind)
    try:
        sock.setblocking(False)
        if family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.listen(backlog)  # on a listening socket: only the backlog changes
    except OSError as e:
        sock.close()
        raise BindError(f"cannot use the socket of the old process for proxy {proxy.name} "
                        f"({e.strerror}). Aborting.", proxy.name, False, e.errno or 0) from e
    return Listener(sock, proxy_index, bind, port, proxy_name=proxy.name, backlog=backlog)


def bind_one(proxy_index: int, proxy: Proxy, bind: Bind, port: int, reuseport: bool = True,
             pool: SocketPool | None = None) -> Listener:
    """Creates, binds and listens one socket; raises BindError with HAProxy's message.

    With `pool` (the sockets the old instance handed over), a matching one is taken instead.
    Otherwise SO_REUSEPORT (HAProxy 2.x's default on Linux, `noreuseport` turns it off) lets a
    new process started with `-sf` bind beside the old one before the old one is told to stop,
    so the port never refuses a connection during the start-up."""
    if bind.fd >= 0:
        return adopt_fd(proxy_index, proxy, bind)
    if pool is not None:
        lst = take_from_pool(pool, proxy_index, proxy, bind, port)
        if lst is not None:
            return lst
    if bind.family == socket.AF_UNIX:
        return bind_unix_listener(proxy_index, proxy, bind)
    family = socket.AF_INET6 if bind.family == socket.AF_INET6 else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as e:
        msg = f"cannot create listening socket for proxy {proxy.name}. Aborting."
        raise BindError(msg, proxy.name, True, e.errno or 0) from e
    try:
        try:
            sock.setblocking(False)
            # set on the listener so that accepted sockets inherit it, as HAProxy does
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            raise BindError(
                f"cannot make socket non-blocking for proxy {proxy.name}. Aborting.", proxy.name, False
            ) from e
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        except OSError:
            pass  # HAProxy only warns ("Continuing.")
        if reuseport:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            except OSError:
                pass
        _bind_options(sock, bind, proxy)
        try:
            sock.bind((listen_host(bind), port))
        except OSError as e:
            raise BindError(
                f"cannot bind socket for proxy {proxy.name}. Aborting.", proxy.name, True, e.errno or 0
            ) from e
        backlog = _backlog(proxy, bind)
        try:
            sock.listen(backlog)
        except OSError as e:
            raise BindError(
                f"cannot listen to socket for proxy {proxy.name}. Aborting.", proxy.name, True, e.errno or 0
            ) from e
        _smart_accept(sock, bind, proxy)
    except BaseException:
        sock.close()
        raise
    return Listener(sock, proxy_index, bind, port, proxy_name=proxy.name, backlog=backlog)


def bind_all(cfg: Config, reuse: dict[ListenerKey, Listener] | None = None) -> list[Listener]:
    """One listening socket per (bind, port) of every enabled proxy.

    With ``reuse`` (the master's table of sockets already bound), an identical
    (proxy name, family, address, port) takes the existing socket instead of binding again; the
    returned Listener then carries the new proxy index. On error every socket this call created is
    closed (reused ones are left alone) and the BindError propagates.
    """
    out: list[Listener] = []
    created: list[Listener] = []
    try:
        for pi, proxy, b, port in iter_binds(cfg):
            key = listener_key(proxy.name, b, port)
            old = reuse.get(key) if reuse else None
            if old is not None:
                backlog = _backlog(proxy, b)
                if not old.paused:
                    try:
                        # only sets the backlog of a listening socket: the configured one, even
                        # if a process sharing the socket changed it
                        old.sock.listen(backlog)
                    except OSError:
                        pass
                out.append(Listener(old.sock, pi, b, port, proxy_name=proxy.name, backlog=backlog,
                                    paused=old.paused))
                continue
            lst = bind_one(pi, proxy, b, port, reuseport=not cfg.global_.noreuseport)
            created.append(lst)
            out.append(lst)
    except BaseException:
        for lst in created:
            lst.close()
        raise
    return out


def is_addr_in_use(err: BindError) -> bool:
    return err.errno == errno.EADDRINUSE
