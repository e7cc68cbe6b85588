"""Listening sockets handed from a running instance to the one replacing it (HAProxy 1.8+'s `-x`).

Why: with `-sf`, the new instance binds its own sockets beside the old ones (SO_REUSEPORT). A
connection the kernel queued on an old socket after the old instance's last accept() is reset
when that socket closes, so a reload under load could lose a few. Handed over, the old and new
instances share one socket and one queue: closing the old copy loses nothing.

The exchange is HAProxy 2.6's, so either side may be haproxy (management guide, `-x`):
the new instance connects to the old one's stats socket (`expose-fd listeners`) and sends
`_getsocks`; the old one answers a native int (how many sockets), then batches of at most 253
descriptors (SCM_RIGHTS), each described by `<ns len><ns><iface len><iface><4 zero bytes>`, and
waits for a 4-byte ack after each full batch. The new instance matches each of its binds to a
received socket of the same address (a UNIX path may differ by its `.PID.tmp` suffix), the same
interface, and the same v6only and transparent settings; what no bind takes is closed.

pyhaproxy extension: a master also answers `_getsocks` on the abstract socket
`pyhaproxy-listeners-<its pid>` for processes of its own user (or root), and a new instance
started with `-sf`/`-st` and no `-x` asks the old pids there. Plain `-sf` reloads therefore
lose nothing either, with no configuration change; an old haproxy simply has no such socket.
"""

from __future__ import annotations

import array
import contextlib
import os
import re
import selectors
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MAX_SEND_FD = 253  # descriptors per message (Linux's SCM_MAX_FD is 253)
TIMEOUT = 1.0  # seconds per step of the exchange, as HAProxy's SO_RCVTIMEO
_INT = struct.Struct("=i")
_TMP_SUFFIX = re.compile(r"\.[0-9]+\.tmp$")
_MAX_DESC = 1 + 4096 + 1 + 16 + 4  # ns name (up to MAXPATHLEN), iface name (IFNAMSIZ), options


class TransferError(Exception):
    """The old instance's sockets could not be fetched (message in HAProxy's words)."""


def export_name(pid: int) -> bytes:
    """The abstract address a master `pid` answers `_getsocks` on."""
    return b"\0pyhaproxy-listeners-" + str(pid).encode()


# ---------------------------------------------------------------------------------------------
# the old instance's side
# ---------------------------------------------------------------------------------------------
def send_sockets(conn: socket.socket, exported: Iterable[tuple[int, str, str]]) -> None:
    """Answers `_getsocks` on `conn`: exported is (fd, netns name, interface name) per socket.

    Blocking, each step bounded by TIMEOUT, as HAProxy's CLI does it; errors end the exchange."""
    items = list(exported)
    conn.setblocking(True)
    conn.settimeout(TIMEOUT)
    conn.sendall(_INT.pack(len(items)))
    for start in range(0, len(items), MAX_SEND_FD):
        batch = items[start:start + MAX_SEND_FD]
        desc = bytearray()
        for _fd, ns, iface in batch:
            for name in (ns.encode()[:255], iface.encode()[:255]):
                desc.append(len(name))
                desc += name
            desc += b"\0\0\0\0"  # listener options before 2.3, zero since
        fds = array.array("i", [fd for fd, _ns, _if in batch])
        sent = conn.sendmsg([bytes(desc)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        if sent != len(desc):
            raise OSError("short write of a socket batch")
        if len(batch) == MAX_SEND_FD:
            conn.recv(_INT.size)  # the receiver's ack before the next batch


def is_trusted_peer(conn: socket.socket) -> bool:
    """The abstract socket answers only processes of this user, or root (SO_PEERCRED)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid in (0, os.getuid())


class ListenerExport:
    """The master's abstract `_getsocks` socket (module docstring), in its selector."""

    def __init__(self, selector: selectors.BaseSelector,
                 exported: Callable[[], list[tuple[int, str, str]]]) -> None:
        self.selector = selector
        self.exported = exported
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            self.sock.bind(export_name(os.getpid()))
            self.sock.listen(4)
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise
        selector.register(self.sock, selectors.EVENT_READ, self._on_accept)

    def _on_accept(self, mask: int) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn, contextlib.suppress(OSError):
            if not is_trusted_peer(conn):
                return
            conn.settimeout(TIMEOUT)
            line = b""
            while b"\n" not in line and len(line) < 64:
                chunk = conn.recv(64)
                if not chunk:
                    break
                line += chunk
            if line.split(b"\n", 1)[0].strip() == b"_getsocks":
                send_sockets(conn, self.exported())

    def close(self) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.sock)
        self.sock.close()


# ---------------------------------------------------------------------------------------------
# the new instance's side
# ---------------------------------------------------------------------------------------------
@dataclass
class Received:
    """One socket from the old instance, with what a bind must match to take it."""

    sock: socket.socket
    address: object  # getsockname(), the UNIX path without its .PID.tmp suffix
    netns: str
    iface: str
    v6only: bool
    transparent: bool


def _connect(address: str | bytes) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    s.settimeout(TIMEOUT)
    try:
        s.connect(address)
    except OSError:
        s.close()
        raise
    return s


def fetch_sockets(address: str | bytes) -> list[Received]:
    """Asks the old instance at `address` (a path, or an abstract name as bytes) for its
    listening sockets. Raises TransferError with HAProxy's warning text."""
    shown = address if isinstance(address, str) else address[1:].decode(errors="replace")
    try:
        s = _connect(address)
    except OSError:
        raise TransferError(f"Failed to connect to the old process socket '{shown}'") from None
    fds: list[int] = []
    try:
        with s:
            try:
                s.sendall(b"_getsocks\n")
                head = s.recv(_INT.size, socket.MSG_WAITALL)
            except OSError:
                head = b""
            if len(head) != _INT.size:
                raise TransferError("Failed to get the number of sockets to be transferred !")
            (total,) = _INT.unpack(head)
            desc = bytearray()
            while len(fds) < total:
                try:
                    data, anc, _flags, _addr = s.recvmsg(MAX_SEND_FD * _MAX_DESC,
                                                         socket.CMSG_SPACE(MAX_SEND_FD * 4))
                except OSError:
                    break
                if not data:
                    break
                for level, kind, payload in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        got = array.array("i")
                        got.frombytes(payload[:len(payload) - len(payload) % 4])
                        fds.extend(got)
                with contextlib.suppress(OSError):
                    s.sendall(_INT.pack(len(fds)))  # the ack the sender waits for
                desc += data
                if len(fds) > total:
                    raise TransferError("Got to many sockets !")
            if len(fds) != total:
                raise TransferError(f"We didn't get the expected number of sockets (expecting "
                                    f"{total} got {len(fds)})")
            return _describe(fds, bytes(desc))
    except BaseException:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise


def _describe(fds: list[int], desc: bytes) -> list[Received]:
    out: list[Received] = []
    off = 0
    try:
        for fd in fds:
            names = []
            for _ in range(2):
                if off >= len(desc) or off + 1 + desc[off] > len(desc):
                    raise TransferError("Inconsistency while transferring sockets")
                n = desc[off]
                names.append(desc[off + 1:off + 1 + n].decode(errors="replace"))
                off += 1 + n
            off += 4
            sock = socket.socket(fileno=fd)
            out.append(_received(sock, names[0], names[1]))
    except BaseException:
        for r in out:
            r.sock.close()
        raise
    return out


def _received(sock: socket.socket, netns: str, iface: str) -> Received:
    address: object = sock.getsockname()
    v6only = transparent = False
    if sock.family == socket.AF_UNIX:
        if isinstance(address, str):
            address = _TMP_SUFFIX.sub("", address)
    else:
        if sock.family == socket.AF_INET6:
            v6only = bool(sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
        # (one flag for both families in Linux; listeners.py sets it at SOL_IP for both)
        transparent = bool(sock.getsockopt(socket.SOL_IP, socket.IP_TRANSPARENT))
    return Received(sock, address, netns, iface, v6only, transparent)


class SocketPool:
    """The sockets received from the old instance, each taken by at most one bind."""

    def __init__(self, received: list[Received]) -> None:
        self.left = list(received)
        self.taken = 0

    def take(self, family: int, address: object, iface: str = "", v6only: bool = False,
             transparent: bool = False) -> socket.socket | None:
        """A listening stream socket bound to `address` (as getsockname() gives it; for INET6
        the (host, port) pair is compared) with the same interface and options, or None."""
        for r in self.left:
            s = r.sock
            if s.family != family or s.type != socket.SOCK_STREAM or r.netns or r.iface != iface:
                continue
            if family == socket.AF_INET6:
                if not isinstance(r.address, tuple) or not isinstance(address, tuple):
                    continue
                same = _inet6_key(r.address) == _inet6_key(address)
            else:
                same = r.address == address
            if not same or r.v6only != v6only or r.transparent != transparent:
                continue
            if not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                continue
            self.left.remove(r)
            self.taken += 1
            return s
        return None

    def close_rest(self) -> None:
        """The sockets no bind took (a listener the new configuration dropped, or the old
        instance's stats socket): our copies only; the old instance keeps its own."""
        for r in self.left:
            r.sock.close()
        self.left = []


def _inet6_key(addr: tuple) -> tuple[bytes, int]:
    return socket.inet_pton(socket.AF_INET6, addr[0].split("%", 1)[0]), addr[1]


def v6only_default() -> bool:
    """`net.ipv6.bindv6only`: what an INET6 socket does when the bind line says neither."""
    try:
        with open("/proc/sys/net/ipv6/bindv6only") as f:
            return f.read().strip() == "1"
    except OSError:
        return False
