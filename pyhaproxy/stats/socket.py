"""The stats socket (`stats socket PATH [mode M] [level L]` in `global`), served by the master.

Plumbing shared with http.py: `UnixServer` is a non-blocking AF_UNIX stream listener whose
listening socket and connections are selector keys whose data is a callable(mask), as the
master's loop expects. Every connection has a bounded input buffer, an idle deadline
(`stats timeout`, swept by `tick()`), and the server accepts at most `maxconn` at once (extra
ones are closed at once): a slow or hostile client can never block the master or grow its memory.

The CLI speaks HAProxy's protocol: a line holds one or more commands separated by `;`; each
command's answer ends with an empty line; the connection is closed after the line unless
`prompt` made it interactive. Commands:

  help                       this list
  show info                  process figures (`Name: value` lines)
  show stat [IID TYPE SID]   CSV statistics; -1 = any, TYPE a mask (1 frontends, 2 backends, 4 servers)
  show servers state [BE]    the servers' runtime state, as the server state file holds it
  show tls-keys [ID|*]       the tls-ticket-keys files, or their keys (stats/tlskeys.py)
  disable server PX/SRV      put a server in maintenance (no new sessions)        [admin]
  enable server PX/SRV       end the maintenance                                  [admin]
  set server PX/SRV state ready|maint, set server PX/SRV weight W[%]: the same   [admin]
  get weight PX/SRV          current and initial weight
  set weight PX/SRV W[%]     weight 0..256, or a percentage of the initial weight  [admin]
  prompt / quit              interactive mode / close

Levels: `user` and `operator` may read; only `admin` may change state (HAProxy's rule);
otherwise the answer is `Permission denied`. Errors are one line, with HAProxy's wording where it
has one ("No such backend.", "No such server.", "Require 'backend/server'.").
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import stat
import time
from collections.abc import Callable
from typing import Any

from pyhaproxy import runtime_maps, runtime_tables, sockxfer
from pyhaproxy._core import srv_state
from pyhaproxy.config.model import Proxy, StatsSocket
from pyhaproxy.shm import follow_maintenance, server_marked_down, server_marked_up, server_table
from pyhaproxy.stats import csv as csv_fmt
from pyhaproxy.stats.collect import View, collect

READ_CHUNK = 4096
MAX_INPUT = 16384  # a request (or command line) longer than this is refused
LEVELS = {"user": 0, "operator": 1, "admin": 2}


class Conn:
    """One accepted connection: input bytes, pending output, idle deadline."""

    __slots__ = ("sock", "inbuf", "out", "deadline", "closing", "draining", "interactive", "events")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.out = bytearray()
        self.deadline = deadline
        self.closing = False  # close once `out` is sent
        self.draining = False  # response sent and write side shut: discard input until EOF
        self.interactive = False
        self.events = 0


class UnixServer:
    """A listening AF_UNIX stream socket in the master's selector. Subclasses implement `on_input`."""

    def __init__(
        self, selector: selectors.BaseSelector, sock: socket.socket, maxconn: int, timeout: float
    ) -> None:
        self.selector = selector
        self.sock = sock
        self.maxconn = max(1, maxconn)
        self.timeout = timeout
        self.conns: dict[int, Conn] = {}
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, self._on_accept)

    # -- to implement --------------------------------------------------------------------------
    def on_input(self, c: Conn, eof: bool) -> None:
        """New bytes in c.inbuf (or EOF): append to c.out, set c.closing when done."""
        raise NotImplementedError

    # -- plumbing ------------------------------------------------------------------------------
    def _on_accept(self, mask: int) -> None:
        for _ in range(16):  # bounded: other selector keys get their turn
            try:
                s, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(self.conns) >= self.maxconn:
                s.close()  # over `stats maxconn`: refuse rather than queue
                continue
            s.setblocking(False)
            c = Conn(s, time.monotonic() + self.timeout)
            self.conns[s.fileno()] = c
            self._set_events(c, selectors.EVENT_READ)

    def _set_events(self, c: Conn, events: int) -> None:
        if events == c.events:
            return
        if c.events == 0:
            self.selector.register(c.sock, events, lambda mask, c=c: self._on_event(c, mask))
        else:
            self.selector.modify(c.sock, events, lambda mask, c=c: self._on_event(c, mask))
        c.events = events

    def _on_event(self, c: Conn, mask: int) -> None:
        if mask & selectors.EVENT_WRITE and c.out:
            self._flush(c)
            if c.sock.fileno() < 0:
                return
        if mask & selectors.EVENT_READ:
            self._read(c)
            if c.sock.fileno() < 0:
                return
        self._update(c)

    def _read(self, c: Conn) -> None:
        try:
            data = c.sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close_conn(c)
            return
        c.deadline = time.monotonic() + self.timeout
        if c.draining:
            if not data:
                self.close_conn(c)
            return
        if c.closing:
            if not data:
                c.inbuf.clear()
            return  # answer being sent: further input is ignored
        if data:
            c.inbuf += data
        try:
            self.on_input(c, eof=not data)
        except Exception as e:  # a rendering bug must not take the master down
            c.out += f"Internal error: {e}\n".encode()
            c.closing = True
        if not data and not c.closing:
            c.closing = True

    def _flush(self, c: Conn) -> None:
        try:
            n = c.sock.send(c.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close_conn(c)
            return
        del c.out[:n]
        c.deadline = time.monotonic() + self.timeout

    def _update(self, c: Conn) -> None:
        if c.out:
            self._flush(c)  # usually all fits at once
            if c.sock.fileno() < 0:
                return
        if c.out:
            self._set_events(c, selectors.EVENT_WRITE | (0 if c.closing else selectors.EVENT_READ))
            return
        if c.closing and not c.draining:
            # shut our side and read until the peer closes, so unread input never turns our
            # close into a reset that would destroy the answer in flight
            with contextlib.suppress(OSError):
                c.sock.shutdown(socket.SHUT_WR)
            c.draining = True
        self._set_events(c, selectors.EVENT_READ)

    def close_conn(self, c: Conn) -> None:
        fd = c.sock.fileno()
        if fd >= 0:
            if c.events:
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.unregister(c.sock)
            self.conns.pop(fd, None)
        c.sock.close()

    def tick(self, now: float) -> None:
        for c in list(self.conns.values()):
            if now >= c.deadline:
                self.close_conn(c)

    def close(self) -> None:
        for c in list(self.conns.values()):
            self.close_conn(c)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.sock)
        self.sock.close()


class StatsSocketError(Exception):
    """The stats socket cannot be set up (message in HAProxy's style)."""


def bind_unix(
    path: str, mode: int | None = None, uid: int | None = None, gid: int | None = None, backlog: int = 16
) -> tuple[socket.socket, tuple[int, int] | None]:
    """Bind a listening unix socket at `path` (a stale socket file is replaced).

    Returns the socket and (st_dev, st_ino) of the file, to remove only our own file at exit.
    """
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        if not path.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(path)
                if not stat.S_ISSOCK(st.st_mode):
                    raise StatsSocketError(f"cannot bind UNIX socket [{path}]: not a socket")
                os.unlink(path)
        s.bind(path)
        ident = None
        if not path.startswith("\0"):
            if mode is not None:
                os.chmod(path, mode)
            if uid is not None or gid is not None:
                os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
            st = os.stat(path)
            ident = (st.st_dev, st.st_ino)
        s.listen(backlog)
        return s, ident
    except StatsSocketError:
        s.close()
        raise
    except OSError as e:
        s.close()
        raise StatsSocketError(
            f"cannot bind UNIX socket [{path}]: {os.strerror(e.errno or errno.EIO)}"
        ) from None


def abns_address(name: str) -> str:
    """`abns@NAME` as haproxy 2.6 binds it: a NUL, the name, then NULs up to the whole sun_path
    (108 bytes), so a client must connect with the same padded address."""
    raw = ("\0" + name)[:108]
    return raw + "\0" * (108 - len(raw))


def bind_tcp(spec: str, backlog: int = 16) -> socket.socket:
    """`stats socket ipv4@ADDR:PORT` / `ipv6@[ADDR]:PORT` (as the parser normalised it)."""
    fam = socket.AF_INET6 if spec.startswith("ipv6@") else socket.AF_INET
    addr = spec[5:]
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    s = socket.socket(fam, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
        s.listen(backlog)
        return s
    except OSError as e:
        s.close()
        raise StatsSocketError(
            f"cannot bind socket (ipv{6 if fam == socket.AF_INET6 else 4}) for [{addr}]: "
            f"{os.strerror(e.errno or errno.EIO)}"
        ) from None


def adopt_unix_fd(fd: int) -> socket.socket:
    """`stats socket fd@N`: a listening socket inherited from whoever started us (VTest's -cli)."""
    try:
        s = socket.socket(fileno=os.dup(fd))
        if not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            s.close()
            raise StatsSocketError(f"cannot use fd@{fd} for the stats socket: not a listening socket")
        return s
    except OSError as e:
        raise StatsSocketError(f"cannot use fd@{fd} for the stats socket: {e.strerror}") from None


HELP = (
    "The following commands are valid at this level:\n"
    "  help                          : this message\n"
    "  prompt                        : toggle interactive mode with prompt\n"
    "  quit                          : disconnect\n"
    "  show info                     : report information about the running process\n"
    "  show stat [iid type sid]      : report counters for each proxy and server (CSV)\n"
    "  show servers state [<backend>]: dump volatile server information (all or for a single backend)\n"
    "  show tls-keys [id|*]          : show tls keys references or dump tls ticket keys when id specified\n"
    "  get weight <px>/<srv>         : report a server's current weight\n"
    "  set weight <px>/<srv> <w>[%]  : change a server's weight (admin)\n"
    "  disable server <px>/<srv>     : put a server in maintenance, no new sessions (admin)\n"
    "  set server <px>/<srv> state ready|maint : change a server's administrative state (admin)\n"
    "  set server <px>/<srv> weight <w>[%]     : change a server's weight (admin)\n"
    "  enable server <px>/<srv>      : end a server's maintenance (admin)\n"
    "  show map [map]                : report available maps or dump a map's contents\n"
    "  add map <map> <key> <value>   : add a map entry\n"
    "  set map <map> <key> <value>   : modify a map entry\n"
    "  del map <map> <key>           : delete a map entry\n"
    "  clear map <map>               : clear the content of a map\n"
    "  clear table <table> [<filter>]*         : remove an entry from a table (filter: data/key)\n"
    "  set table <table> key <k> [data.* <v>]* : update or create a table entry's data\n"
    "  show table <table> [<filter>]*          : report table usage stats or dump this table's contents "
    "(filter: data/key)\n"
)


def _split_commands(line: str) -> list[str]:
    """Commands separated by `;` (a backslash escapes the next character, as in HAProxy)."""
    out: list[str] = []
    cur: list[str] = []
    esc = False
    for ch in line:
        if esc:
            cur.append(ch)
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ";":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


class CommandHandler:
    """Executes CLI commands against the current view; independent of any socket."""

    def __init__(
        self,
        get_view: Callable[[], View | None],
        level: str = "user",
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.get_view = get_view
        self.level = LEVELS.get(level, 0)
        self.notify = notify

    def execute(self, cmd: str) -> str:
        """One command -> its answer (without the empty line that ends it)."""
        words = cmd.split()
        if not words:
            return ""
        view = self.get_view()
        if view is None:
            return "No configuration loaded.\n"
        w0 = words[0]
        w1 = words[1] if len(words) > 1 else ""
        if w0 == "help":
            return HELP
        if w0 == "show" and w1 == "info":
            snap = collect(view)
            # (a value with a comma or a quote is CSV-quoted, as 2.6 writes its fields)
            return "".join(f"{k}: {csv_fmt.field(v)}\n" for k, v in snap.info.items())
        if w0 == "show" and w1 == "peers":  # peers
            from pyhaproxy.peers.show import show_peers

            return show_peers(view.peers, words[2:])
        if w0 == "show" and w1 == "stat":
            return self._show_stat(view, words[2:])
        if w0 == "show" and w1 == "servers" and len(words) > 2 and words[2] == "state":
            from pyhaproxy import server_state

            return server_state.dump(view.cfg, view.shm, words[3] if len(words) > 3 else None,
                                     started=view.started)
        if w0 == "show" and w1 == "tls-keys":
            from pyhaproxy.stats.tlskeys import show_tls_keys

            return show_tls_keys(view.cfg, words[2:])
        if w0 in ("disable", "enable") and w1 == "server":
            return self._admin(view, words, down=w0 == "disable")
        if w0 == "get" and w1 == "weight":
            found = self._find(view, words[2:3])
            if isinstance(found, str):
                return found
            gi, srv = found
            return f"{view.shm.srv_weight(gi)} (initial {srv.weight})\n"
        if w0 == "set" and w1 == "weight":
            return self._set_weight(view, words)
        if w0 == "set" and w1 == "server" and len(words) > 3 and words[3] in ("state", "weight"):
            return self._set_server(view, words)
        if w0 in ("show", "add", "set", "del", "clear") and w1 == "map":
            return runtime_maps.execute(view.maps, words)
        if w0 in ("show", "set", "clear") and w1 == "table":
            return runtime_tables.execute(view, words, self.level)
        return f"Unknown command: '{cmd.strip()}'. Type 'help' for the list of commands.\n"

    def _show_stat(self, view: View, args: list[str]) -> str:
        snap = collect(view)
        flt = [-1, -1, -1]
        if args:
            if len(args) != 3:
                return "Require 'show stat' alone or followed by <iid> <type> <sid>.\n"
            try:
                flt = [int(a) for a in args]
            except ValueError:
                return "Require 'show stat' alone or followed by <iid> <type> <sid>.\n"
        rows = csv_fmt.select(snap.rows(), *flt)
        return csv_fmt.render(snap, rows, legends=self.level >= LEVELS["operator"])

    def _find(self, view: View, args: list[str]) -> tuple[int, Any] | str:
        if not args or "/" not in args[0]:
            return "Require 'backend/server'.\n"
        pname, _, sname = args[0].partition("/")
        gi = 0
        found_px = False
        for px in view.cfg.proxies:
            if px.name == pname:
                found_px = True
                for si, srv in enumerate(px.servers):
                    if srv.name == sname:
                        return gi + si, srv
            gi += len(px.servers)
        return "No such server.\n" if found_px else "No such backend.\n"

    def _admin(self, view: View, words: list[str], down: bool) -> str:
        if self.level < LEVELS["admin"]:
            return "Permission denied\n"
        found = self._find(view, words[2:3])
        if isinstance(found, str):
            return found
        gi, srv = found
        if view.shm.srv_admin_down(gi) != down:
            view.shm.set_srv_admin_down(gi, down)
            if down and not srv.check:
                view.shm.set_srv_check(gi, 0, 0, 0)  # 2.6: health 0, and still 0 once enabled
            follow_maintenance(view.shm, view.cfg, gi, int(time.time() * 1000))
            if down:
                server_marked_down(view.shm, gi, srv)
            elif view.shm.srv_state(gi) == srv_state.SRV_UP:
                table = server_table(view.cfg)
                members = [(g, s.backup) for g, pi, s in table if pi == table[gi][1]]
                server_marked_up(view.shm, gi, srv, members)
            if self.notify is not None:
                what = "is going DOWN for maintenance" if down else "is UP (leaving maintenance)"
                self.notify(f"Server {words[2]} {what}.")
        return ""

    def _set_server(self, view: View, words: list[str]) -> str:
        """`set server PX/SRV state ready|maint` and `set server PX/SRV weight W[%]` (2.6's
        forms of `enable|disable server` and `set weight`). `drain` has no state of its own here
        (a drained server would need a zero effective weight kept apart from its weight)."""
        if self.level < LEVELS["admin"]:
            return "Permission denied\n"
        found = self._find(view, words[2:3])
        if isinstance(found, str):
            return found
        value = words[4] if len(words) > 4 else ""
        if words[3] == "weight":
            return self._set_weight(view, ["set", "weight", words[2], *words[4:5]])
        if value in ("ready", "maint"):
            return self._admin(view, ["set", "server", words[2]], down=value == "maint")
        if value == "drain":
            return "'set server <srv> state drain' is not supported yet.\n"
        return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"

    def _set_weight(self, view: View, words: list[str]) -> str:
        if self.level < LEVELS["admin"]:
            return "Permission denied\n"
        found = self._find(view, words[2:3])
        if isinstance(found, str):
            return found
        gi, srv = found
        if len(words) < 4:
            return "Require <weight> or <weight%>.\n"
        text = words[3]
        relative = text.endswith("%")
        digits = text[:-1] if relative else text
        if not digits.isdigit():
            return "Weight must be a number, optionally followed by '%'.\n"
        w = int(digits)
        if relative:
            # a non-zero percentage never rounds a server down to weight 0 (which would drain it)
            w = max(1, srv.weight * w // 100) if w else 0
        if not 0 <= w <= 256:
            return "Absolute weight can only be between 0 and 256 inclusive.\n"
        px = next((p for p in view.cfg.proxies if p.name == words[2].partition("/")[0]), None)
        if w and w != srv.weight and px is not None and _static_lb(px):
            return "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n"
        view.shm.set_srv_weight(gi, w)
        return ""


def _static_lb(px: Proxy) -> bool:
    """2.6's algorithms without BE_LB_PROP_DYN: static-rr and the map-based hashes, whose weights
    only go to 0 and back to the configured one."""
    if px.balance == "static-rr":
        return True
    return px.balance in ("source", "uri", "url_param", "hdr", "hash") and px.hash_type == "map-based"


class CliServer(UnixServer):
    """The `stats socket` server."""

    def __init__(
        self,
        selector: selectors.BaseSelector,
        conf: StatsSocket,
        get_view: Callable[[], View | None],
        maxconn: int = 10,
        timeout: float = 10.0,
        notify: Callable[[str], None] | None = None,
        exported: Callable[[], list[tuple[int, str, str]]] | None = None,
    ) -> None:
        self.exported = exported  # the master's listening sockets, for `_getsocks`
        if conf.path.startswith("fd@"):
            sock, self.ident = adopt_unix_fd(int(conf.path[3:])), None
        elif conf.path.startswith(("ipv4@", "ipv6@")):
            sock, self.ident = bind_tcp(conf.path), None  # the CLI over TCP, as 2.6 offers it
        elif conf.path.startswith("abns@"):
            sock, self.ident = bind_unix(abns_address(conf.path[5:]))
        else:
            sock, self.ident = bind_unix(conf.path, conf.mode, conf.uid, conf.gid)
        self.conf = conf
        self.handler = CommandHandler(get_view, conf.level, notify)
        super().__init__(selector, sock, maxconn, timeout)

    def same_as(self, conf: StatsSocket | None) -> bool:
        return conf is not None and (conf.path, conf.mode, conf.level, conf.uid, conf.gid,
                                     conf.expose_fd) == (
            self.conf.path,
            self.conf.mode,
            self.conf.level,
            self.conf.uid,
            self.conf.gid,
            self.conf.expose_fd,
        )

    def on_input(self, c: Conn, eof: bool) -> None:
        while True:
            nl = c.inbuf.find(b"\n")
            if nl < 0:
                if len(c.inbuf) > MAX_INPUT:
                    c.out += b"Command line too long.\n\n"
                    c.closing = True
                    return
                if eof and c.inbuf:
                    nl = len(c.inbuf)  # a last line without its newline still counts
                else:
                    return
            line = bytes(c.inbuf[:nl]).decode("utf-8", "replace").rstrip("\r")
            del c.inbuf[: nl + 1]
            self._line(c, line)
            if c.closing:
                return
            if not c.interactive:
                c.closing = True  # HAProxy's non-interactive mode: one line, then close
                return

    def _line(self, c: Conn, line: str) -> None:
        for cmd in _split_commands(line):
            words = cmd.split()
            if words == ["quit"]:
                c.closing = True
                return
            if words == ["prompt"]:
                c.interactive = not c.interactive
                continue
            if words == ["_getsocks"]:
                self._getsocks(c)
                return
            out = self.handler.execute(cmd)
            c.out += out.encode()
            if out or words:
                c.out += b"\n"
        if c.interactive:
            c.out += b"> "

    def _getsocks(self, c: Conn) -> None:
        """The listening sockets, handed to a new instance started with `-x` (sockxfer.py);
        with no `expose-fd listeners` on this socket the connection just ends, as in 2.6."""
        c.closing = True
        c.out.clear()
        if not self.conf.expose_fd or self.exported is None:
            return
        with contextlib.suppress(OSError):
            sockxfer.send_sockets(c.sock, self.exported())
        with contextlib.suppress(OSError):
            c.sock.setblocking(False)

    def close(self) -> None:
        super().close()
        path = self.conf.path
        if self.ident is not None:
            # remove the file only if it is still ours (a new instance may have replaced it)
            with contextlib.suppress(OSError):
                st = os.stat(path)
                if (st.st_dev, st.st_ino) == self.ident:
                    os.unlink(path)
