"""A running proxy's socket options, read from outside: the test finds the proxy's socket by
its ports in /proc/net/tcp*, duplicates it with pidfd_getfd(2) (Linux 5.6+; root or ptrace
rights over the process) and calls getsockopt() on the copy. It sees what a keyword set on a
listener, a client connection or a server connection, in pyhaproxy's workers and in haproxy
alike."""

from __future__ import annotations

import ctypes
import os
import socket
import struct
from collections.abc import Iterable, Iterator

import psutil

_SYS_PIDFD_OPEN = 434
_SYS_PIDFD_GETFD = 438
_libc = ctypes.CDLL(None, use_errno=True)
_LISTEN = "0A"


def _inodes(local_port: int, remote_port: int | None) -> set[str]:
    """Socket inodes of TCP sockets with this local port and this remote port (None: listening)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                lport = int(fields[1].rsplit(":", 1)[1], 16)
                rport = int(fields[2].rsplit(":", 1)[1], 16)
                if lport != local_port:
                    continue
                if (remote_port is None and fields[3] == _LISTEN) or rport == remote_port:
                    found.add(fields[9])
    return found


def _steal(pid: int, fd: int) -> int:
    pidfd = _libc.syscall(_SYS_PIDFD_OPEN, pid, 0)
    if pidfd < 0:
        raise OSError(ctypes.get_errno(), "pidfd_open")
    try:
        copy = _libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
        if copy < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        return int(copy)
    finally:
        os.close(pidfd)


def _fd_links(procs: Iterable[psutil.Process]) -> Iterator[tuple[int, int, str]]:
    """(pid, fd, link target) of every open fd of these processes (gone ones skipped)."""
    for proc in procs:
        try:
            names = os.listdir(f"/proc/{proc.pid}/fd")
        except OSError:
            continue
        for name in names:
            try:
                yield proc.pid, int(name), os.readlink(f"/proc/{proc.pid}/fd/{name}")
            except OSError:
                continue


def proxy_socket(pid: int, local_port: int, remote_port: int | None = None) -> socket.socket:
    """A copy of the socket of process `pid` or its descendants whose local port is `local_port`
    and remote port `remote_port` (None: the listener). Close it when done: the proxy's own fd
    stays open."""
    inodes = _inodes(local_port, remote_port)
    assert inodes, f"no TCP socket with local port {local_port} and remote port {remote_port}"
    root = psutil.Process(pid)
    for owner, fd, link in _fd_links([root, *root.children(recursive=True)]):
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return socket.socket(fileno=_steal(owner, fd))
    raise AssertionError(f"no process under {pid} holds the socket {local_port} -> {remote_port}")


def int_option(sock: socket.socket, level: int, option: int) -> int:
    return int(struct.unpack("i", sock.getsockopt(level, option, 4))[0])


def int_options(sock: socket.socket, options: Iterable[tuple[int, int]]) -> list[int]:
    return [int_option(sock, level, option) for level, option in options]


def pipe_fds(pid: int) -> int:
    """Pipe fds held by the processes that relay traffic: `pid`'s descendants (pyhaproxy's
    workers; its master's own pipes come and go with its workers' start-up), else `pid`
    itself (haproxy -db). splice() pipes among others."""
    root = psutil.Process(pid)
    return sum(1 for _, _, link in _fd_links(root.children(recursive=True) or [root])
               if link.startswith("pipe:"))
