"""The master CLI of `-S SOCKET` (HAProxy 2.x management guide 9.4): supervision of the master
and its workers on a unix socket.

`show proc` lists the master and its workers (current and leaving), `reload` does what SIGUSR2
does, `show version` and `help` answer as on HAProxy. A command prefixed with `@N` (N-th current
worker), `@!PID` (any worker) or sent after a lone `@N` is executed by the stats command handler:
pyhaproxy's workers have no CLI of their own, the master answers for them from the shared
memory (the summed view a `stats socket` gives). `prompt` and `quit` work as on the stats socket.
"""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyhaproxy.stats.collect import View
from pyhaproxy.stats.socket import MAX_INPUT, CommandHandler, Conn, UnixServer, _split_commands, bind_unix
from pyhaproxy.version import HAPROXY_VERSION

MASTER_HELP = (
    "The following commands are valid at this level:\n"
    "  @<relative pid>                         : send a command to the <relative pid> process\n"
    "  @!<pid>                                 : send a command to the <pid> process\n"
    "  @master                                 : send a command to the master process\n"
    "  help                                    : this message\n"
    "  prompt                                  : toggle interactive mode with prompt\n"
    "  quit                                    : disconnect\n"
    "  reload                                  : reload haproxy\n"
    "  show proc                               : show processes status\n"
    "  show version                            : show version of the current process\n"
)


@dataclass
class MasterCliConf:
    """`-S path[,mode,M][,uid,U][,gid,G][,level,L]` from the command line."""

    path: str
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    level: str = "admin"


def parse_master_cli(spec: str) -> MasterCliConf:
    """The argument of -S; ValueError naming what is not supported."""
    parts = spec.split(",")
    path = parts[0]
    if path.startswith("unix@"):
        path = path[5:]
    if not path.startswith("/"):
        raise ValueError(f"-S '{parts[0]}': only a unix socket path is supported for the master CLI")
    conf = MasterCliConf(path)
    opts = parts[1:]
    if len(opts) % 2:
        raise ValueError(f"-S '{spec}': option '{opts[-1]}' expects a value")
    for key, value in zip(opts[::2], opts[1::2], strict=True):
        try:
            if key == "mode":
                conf.mode = int(value, 8)
            elif key in ("uid", "user"):
                conf.uid = int(value) if value.isdigit() else __import__("pwd").getpwnam(value).pw_uid
            elif key in ("gid", "group"):
                conf.gid = int(value) if value.isdigit() else __import__("grp").getgrnam(value).gr_gid
            elif key == "level" and value in ("user", "operator", "admin"):
                conf.level = value
            else:
                raise ValueError(f"-S: option '{key} {value}' is not supported")
        except KeyError:
            raise ValueError(f"-S: unknown user or group '{value}'") from None
    return conf


@dataclass
class ProcInfo:
    pid: int
    kind: str  # "master" or "worker"
    reloads: int
    started: float  # time.time()


def _uptime(started: float) -> str:
    s = max(0, int(time.time() - started))
    return f"{s // 86400}d{s % 86400 // 3600:02d}h{s % 3600 // 60:02d}m{s % 60:02d}s"


class MasterCliServer(UnixServer):
    """The -S socket, served in the master's selector."""

    def __init__(
        self,
        selector: selectors.BaseSelector,
        conf: MasterCliConf,
        processes: Callable[[], tuple[ProcInfo, list[ProcInfo], list[ProcInfo]]],
        reload: Callable[[], None],
        get_view: Callable[[], View | None],
        notify: Callable[[str], None] | None = None,
    ) -> None:
        sock, self.ident = bind_unix(conf.path, conf.mode, conf.uid, conf.gid)
        self.conf = conf
        self.processes = processes
        self.reload = reload
        self.handler = CommandHandler(get_view, conf.level, notify)
        self.target: dict[int, str] = {}  # per connection: "" (master) or a worker's pid
        super().__init__(selector, sock, 10, 10.0)

    def on_input(self, c: Conn, eof: bool) -> None:
        while True:
            nl = c.inbuf.find(b"\n")
            if nl < 0:
                if len(c.inbuf) > MAX_INPUT:
                    c.out += b"Command line too long.\n\n"
                    c.closing = True
                    return
                if not (eof and c.inbuf):
                    return
                nl = len(c.inbuf)
            line = bytes(c.inbuf[:nl]).decode("utf-8", "replace").rstrip("\r")
            del c.inbuf[: nl + 1]
            self._line(c, line)
            if c.closing:
                return
            if not c.interactive:
                c.closing = True
                return

    def _resolve(self, prefix: str) -> int | None:
        """`@N` / `@!PID` -> a worker pid, None when there is no such process."""
        master, current, old = self.processes()
        if prefix in ("", "master"):
            return master.pid
        if prefix.startswith("!"):
            pid = int(prefix[1:]) if prefix[1:].isdigit() else -1
            return pid if any(p.pid == pid for p in [master, *current, *old]) else None
        if prefix.isdigit() and 1 <= int(prefix) <= len(current):
            return current[int(prefix) - 1].pid
        return None

    def _line(self, c: Conn, line: str) -> None:
        key = c.sock.fileno()
        master = self.processes()[0]
        for cmd in _split_commands(line):
            words = cmd.split()
            if words and words[0].startswith("@"):
                pid = self._resolve(words[0][1:])
                if pid is None:
                    c.out += b"Can't find the target CLI!\n\n"
                    continue
                if len(words) == 1:
                    self.target[key] = "" if pid == master.pid else str(pid)
                    continue
                out = self._run(" ".join(words[1:]), pid != master.pid, c)
            else:
                out = self._run(cmd, bool(self.target.get(key)), c)
            if c.closing:
                return
            c.out += out.encode()
            if out or words:
                c.out += b"\n"
        if c.interactive:
            tgt = self.target.get(key) or "master"
            c.out += f"{tgt}> ".encode()

    def _run(self, cmd: str, on_worker: bool, c: Conn) -> str:
        words = cmd.split()
        if not words:
            return ""
        if words == ["quit"]:
            c.closing = True
            return ""
        if words == ["prompt"]:
            c.interactive = not c.interactive
            return ""
        if on_worker:
            return self.handler.execute(cmd)
        if words == ["help"]:
            return MASTER_HELP
        if words == ["show", "version"]:
            return f"{HAPROXY_VERSION}\n"
        if words == ["show", "proc"]:
            return self._show_proc()
        if words == ["reload"]:
            if self.handler.level < 1:
                return "Permission denied\n"
            self.reload()
            c.closing = True  # as HAProxy: a reload closes the master CLI connection
            return ""
        return f"Unknown command: '{cmd.strip()}'. Type 'help' for the list of commands.\n"

    def _show_proc(self) -> str:
        master, current, old = self.processes()
        row = "{:<16}{:<16}{:<16}{:<16}{}\n"
        out = [row.format("#<PID>", "<type>", "<reloads>", "<uptime>", "<version>")]
        out.append(row.format(master.pid, "master", master.reloads, _uptime(master.started), HAPROXY_VERSION))
        out.append("# workers\n")
        out += [row.format(p.pid, "worker", p.reloads, _uptime(p.started), HAPROXY_VERSION) for p in current]
        out.append("# old workers\n")
        out += [row.format(p.pid, "worker", p.reloads, _uptime(p.started), HAPROXY_VERSION) for p in old]
        return "".join(out)

    def close_conn(self, c: Conn) -> None:
        self.target.pop(c.sock.fileno(), None)
        super().close_conn(c)

    def close(self) -> None:
        super().close()
        if self.ident is not None:
            try:
                st = os.stat(self.conf.path)
                if (st.st_dev, st.st_ino) == self.ident:
                    os.unlink(self.conf.path)
            except OSError:
                pass
