"""The peers link: sessions with the other peers of one ``peers`` section, on a selector.

It runs in the master, on the master's selector (the shape of checks.py: ``attach(selector)``,
``next_deadline()``, ``tick(now)``), so it needs no thread and no event loop of its own; the
workers never see its sockets (a forked worker closes the master's selector fds).

The rules it follows, each as haproxy 2.6's peers.c does:

- Every remote peer is called (``connect``) and the local peer's address listens; a hello
  from a peer that already has a session replaces it, and the caller retries after a random
  50-2050 ms so that two peers calling each other at once settle.
- After the handshake each side sends, per table, a definition then its updates; updates are
  acknowledged per table. Changes made locally are pushed (polled every PUSH_INTERVAL);
  changes learnt from a peer are applied to the table and not sent on (2.6 never relays).
- A heartbeat goes out when nothing else was sent for HEARTBEAT s; a session silent for
  RECONNECT s is closed; a failed or closed session is called again after a backoff.
- "Teach me": on start, the first peer that comes up is asked for a full resync (resync
  request); its lesson ends with "finished" (or "partial": another peer is asked) which is
  confirmed. After RESYNC_TIMEOUT without a lesson the tables are taken as up to date.
  A resync request from a peer is answered with every entry (timed updates) then "finished".
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyhaproxy.peers import codec as c
from pyhaproxy.peers.store import Entry, TableStore

PUSH_INTERVAL = 0.1  # how often local changes are looked for while a session is up
HEARTBEAT = 3.0  # PEER_HEARTBEAT_TIMEOUT
RECONNECT = 5.0  # PEER_RECONNECT_TIMEOUT: silence that ends a session
RESYNC_TIMEOUT = 5.0  # PEER_RESYNC_TIMEOUT
HANDSHAKE_TIMEOUT = 5.0
BACKOFF_MIN = 0.2
BACKOFF_MAX = 5.0
WBUF_MAX = 64 << 20  # bytes waiting for a peer that does not read: the session is dropped
APPLIED_MAX = 1 << 20  # remote values remembered for the echo filter


@dataclass
class PeerConf:
    name: str
    host: str
    port: int
    local: bool = False


def table_def(idx: int, store: TableStore) -> c.TableDef:
    """The definition we send for ``store`` (sender table id = its index + 1)."""
    types: list[int] = []
    params: dict[int, tuple[int, int]] = {}
    for name, period in store.data_types:
        info = c.DATA_TYPE_BY_NAME.get(name)
        if info is None or info.is_array:
            continue  # a type this store names differently: not shared
        types.append(info.id)
        if info.std == c.STD_FRQP:
            params[info.id] = (1, period)
    expire = int(getattr(store, "expire_ms", 0) or 0)
    return c.TableDef(idx + 1, store.name, store.key_type, store.key_len, sorted(types), expire, params)


@dataclass
class _RemoteTable:
    d: c.TableDef
    store_idx: int
    last_get: int = 0
    last_acked: int = 0


class Session:
    """One TCP connection with a peer, from connect or accept to close."""

    def __init__(self, engine: PeersEngine, sock: socket.socket, outgoing: bool, peer: Peer | None) -> None:
        self.engine = engine
        self.sock = sock
        self.outgoing = outgoing
        self.peer = peer
        self.state = "connecting" if outgoing else "hello"
        self.reader = c.Reader()
        self.wbuf = bytearray()
        self.hello: list[str] = []
        now = engine.clock()
        self.started = now
        self.last_rx = now
        self.last_tx = now
        self.closed = False
        self.remote: dict[int, _RemoteTable] = {}  # remote table id -> table
        self.cur_remote: _RemoteTable | None = None
        self.dict_cache: dict[int, str] = {}
        self.defined: set[int] = set()  # local table indexes already defined
        self.last_local: int | None = None
        self.push_seq: dict[int, int] = {}
        self.update_id: dict[int, int] = {}
        self.learning = False  # asked to teach us (resync request sent)
        self.teaching = False  # teaching the peer, until it confirms
        self.mask = 0
        self.next_push = 0.0

    # -- i/o ------------------------------------------------------------------------------
    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        self.wbuf += data
        self.last_tx = self.engine.clock()
        self.flush()
        if len(self.wbuf) > WBUF_MAX:
            self.close("peer does not read")  # the master's memory is not the peer's buffer

    def flush(self) -> None:
        while self.wbuf and not self.closed:
            try:
                n = self.sock.send(self.wbuf)
            except BlockingIOError:
                break
            except OSError:
                self.close("write error")
                return
            del self.wbuf[:n]
        self._want()

    def _want(self) -> None:
        if self.closed:
            return
        mask = selectors.EVENT_READ
        if self.wbuf or self.state == "connecting":
            mask |= selectors.EVENT_WRITE
        if mask != self.mask and self.engine.selector is not None:
            if self.mask:
                self.engine.selector.modify(self.sock, mask, self.on_event)
            else:
                self.engine.selector.register(self.sock, mask, self.on_event)
            self.mask = mask

    def on_event(self, mask: int) -> None:
        # the master's loop calls this: whatever goes wrong ends this session, never the master
        try:
            self._on_event(mask)
        except Exception as e:  # noqa: BLE001
            self.close(f"internal error: {e!r}")

    def _on_event(self, mask: int) -> None:
        if self.closed:
            return
        if self.state == "connecting" and mask & selectors.EVENT_WRITE:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.close(f"connect: {os.strerror(err)}")
                return
            assert self.peer is not None
            self.state = "status"
            self.peer.statuscode = 110  # PEER_SESS_SC_CONNECTEDCODE: TCP up, handshake running
            self.send(c.hello(self.peer.conf.name, self.engine.local_name, os.getpid()))
        if mask & selectors.EVENT_WRITE:
            self.flush()
        if mask & selectors.EVENT_READ and not self.closed:
            self.on_read()

    def on_read(self) -> None:
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as e:
                self.close(f"read: {e.strerror}")
                return
            if not data:
                self.close("closed by peer")
                return
            self.last_rx = self.engine.clock()
            self.reader.feed(data)
            try:
                self.process()
            except c.SizeError:
                self.send(c.error_msg(c.ERR_SIZELIMIT))
                self.close("message too large")
                return
            except c.ProtocolError as e:
                if self.peer is not None:
                    self.peer.proto_err += 1
                self.send(c.error_msg(c.ERR_PROTOCOL))
                self.close(f"protocol error: {e}")
                return
            if len(data) < 65536:
                break
        self.send_acks()

    def close(self, why: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        if self.mask and self.engine.selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.engine.selector.unregister(self.sock)
        self.mask = 0
        with contextlib.suppress(OSError):
            self.sock.close()
        self.engine.session_closed(self, why)

    # -- protocol ---------------------------------------------------------------------------
    def process(self) -> None:
        while not self.closed:
            if self.state == "hello":
                line = self.reader.line()
                if line is None:
                    return
                self.hello.append(line)
                if not self.accept_line():
                    return
            elif self.state == "status":
                line = self.reader.line()
                if line is None:
                    return
                code = int(line) if line.strip().isdigit() else c.ST_ERRPROTO
                assert self.peer is not None
                self.peer.statuscode = code
                if code != c.ST_SUCCESS:
                    self.close(f"status {code}")
                    return
                self.engine.session_up(self)
            elif self.state == "up":
                msg = self.reader.message()
                if msg is None:
                    return
                self.handle(msg)
            else:
                return

    def accept_line(self) -> bool:
        """One hello line of an accepted session; False when the session has ended."""
        n = len(self.hello)
        line = self.hello[-1]
        if n == 1:
            code = c.check_version_line(line)
            if code != c.ST_SUCCESS:
                return self.refuse(code)
        elif n == 2:
            if line != self.engine.local_name:
                return self.refuse(c.ST_ERRHOST)
        else:
            name, sp, _ = line.partition(" ")
            if not sp:
                return self.refuse(c.ST_ERRPROTO)
            peer = self.engine.peers.get(name)
            if peer is None or peer.conf.local:
                return self.refuse(c.ST_ERRPEER)
            self.peer = peer
            if not self.engine.accepted(self):
                return self.refuse(c.ST_TRYAGAIN)
            self.send(c.status_line(c.ST_SUCCESS))
            peer.statuscode = c.ST_SUCCESS
            self.engine.session_up(self)
        return True

    def refuse(self, code: int) -> bool:
        self.send(c.status_line(code))
        self.close(f"refused: {code}")
        return False

    def handle(self, msg: c.RawMessage) -> None:
        eng = self.engine
        if msg.cls == c.CLASS_CONTROL:
            if msg.type == c.CTRL_RESYNCREQ:
                self.teach()
            elif msg.type in (c.CTRL_RESYNCFINISHED, c.CTRL_RESYNCPARTIAL):
                eng.lesson_ended(self, msg.type == c.CTRL_RESYNCFINISHED)
                self.send(c.control(c.CTRL_RESYNCCONFIRM))
            elif msg.type == c.CTRL_RESYNCCONFIRM:
                self.teaching = False
            elif msg.type == c.CTRL_HEARTBEAT and self.peer is not None:
                self.peer.rx_hbt += 1
        elif msg.cls == c.CLASS_ERROR:
            self.close("error message from peer")
        elif msg.cls == c.CLASS_STICKTABLE:
            if msg.type == c.STKT_DEFINE:
                self.on_define(msg.data)
            elif msg.type == c.STKT_SWITCH:
                self.cur_remote = self.remote.get(c.decode_switch(msg.data))
            elif msg.type in c.UPDATE_TYPES:
                self.on_update(msg.type, msg.data)
            elif msg.type == c.STKT_ACK:
                c.decode_ack(msg.data)  # our ids are per session: nothing to resume from
        elif msg.cls == c.CLASS_RESERVED:
            raise c.ProtocolError("reserved message class")

    def on_define(self, data: bytes) -> None:
        self.cur_remote = None
        d = c.decode_define(data)
        if d is None:
            return
        self.remote.pop(d.table_id, None)
        for idx, store in enumerate(self.engine.tables):
            if store.name == d.name:
                # as 2.6: a table of another key type or size is not ours
                if store.key_type != d.key_type or store.key_len != d.key_len:
                    return
                self.cur_remote = self.remote[d.table_id] = _RemoteTable(d, idx)
                return

    def on_update(self, typ: int, data: bytes) -> None:
        rt = self.cur_remote
        if rt is None:
            return
        u = c.decode_update(rt.d, typ, data, self.dict_cache)
        rt.last_get = u.update_id if u.update_id is not None else (rt.last_get + 1) & 0xFFFFFFFF
        store = self.engine.tables[rt.store_idx]
        values = c.values_to_data(rt.d, u.values)
        expire = u.expire if u.expire is not None else int(getattr(store, "expire_ms", 0) or 0)
        self.engine.apply(rt.store_idx, u.key, values, expire)

    def send_acks(self) -> None:
        for rid, rt in self.remote.items():
            if rt.last_get != rt.last_acked:
                self.send(c.encode_ack(rid, rt.last_get))
                rt.last_acked = rt.last_get

    def _switch_to(self, idx: int) -> c.TableDef:
        d = self.engine.defs[idx]
        if idx not in self.defined:
            self.send(c.encode_define(d))
            self.defined.add(idx)
        elif self.last_local != idx:
            self.send(c.encode_switch(d.table_id))
        self.last_local = idx
        return d

    def _send_entries(self, idx: int, entries: list[Entry], timed: bool) -> None:
        if not entries:
            return
        d = self._switch_to(idx)
        out = bytearray()
        for key, expire, data in entries:
            uid = self.update_id.get(idx, 0) + 1
            self.update_id[idx] = uid
            exp = expire if timed and expire > 0 else None
            out += c.encode_update(d, c.Update(key, c.data_to_values(d, data), uid, exp))
        self.send(bytes(out))

    def teach(self) -> None:
        """A resync request: every entry of every table, then finished (partial while we are
        not up to date ourselves)."""
        self.teaching = True
        for idx, store in enumerate(self.engine.tables):
            self._send_entries(idx, store.entries(), timed=True)
        finished = self.engine.synced
        self.send(c.control(c.CTRL_RESYNCFINISHED if finished else c.CTRL_RESYNCPARTIAL))

    def push(self) -> None:
        """Local changes since the last push (all entries at the session's start)."""
        for idx, store in enumerate(self.engine.tables):
            seq, changes = store.changes_since(self.push_seq.get(idx, 0))
            self.push_seq[idx] = seq
            changes = [e for e in changes if not self.engine.is_echo(idx, e)]
            # timed: the receiver keeps our remaining time rather than restarting its own
            self._send_entries(idx, changes, timed=True)

    def timers(self, now: float) -> None:
        if self.state != "up":
            if now - self.started > HANDSHAKE_TIMEOUT:
                self.close("handshake timeout")
            return
        if now - self.last_rx > RECONNECT:
            if self.peer is not None:
                self.peer.no_hbt += 1
            self.close("no message for 5s")
            return
        if now >= self.next_push:
            self.next_push = now + PUSH_INTERVAL
            self.push()
        if now - self.last_tx >= HEARTBEAT:
            if self.peer is not None:
                self.peer.tx_hbt += 1
            self.send(c.control(c.CTRL_HEARTBEAT))


@dataclass
class Peer:
    conf: PeerConf
    session: Session | None = None
    reconnect_at: float = 0.0
    backoff: float = BACKOFF_MIN
    statuscode: int = 0
    not_up_to_date: bool = False  # its lesson was partial: ask another peer
    sessions: int = 0
    last_hdshk: float | None = None  # clock of the last handshake's end (`show peers`)
    # `show peers`' counters, as 2.6 names them
    new_conn: int = 0
    tx_hbt: int = 0
    rx_hbt: int = 0
    no_hbt: int = 0
    proto_err: int = 0
    coll: int = 0


class PeersEngine:
    """The local peer of one ``peers`` section and its sessions with the others."""

    def __init__(self, section: str, local_name: str, peers: list[PeerConf], tables: list[TableStore],
                 log: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.section = section
        self.local_name = local_name
        self.clock = clock
        self.log = log
        self.tables = list(tables)
        self.defs = [table_def(i, t) for i, t in enumerate(self.tables)]
        self.peers: dict[str, Peer] = {p.name: Peer(p) for p in peers}
        self.local = next((p for p in peers if p.local), None)
        self.selector: selectors.BaseSelector | None = None
        self.listener: socket.socket | None = None
        self.pending: list[Session] = []  # accepted, hello not read yet
        self.synced = False
        self.learner: Session | None = None
        self.resync_deadline = 0.0
        # what each peer last told us per (table, key): a change equal to it is not pushed back
        self._applied: dict[tuple[int, bytes], dict[str, int]] = {}
        self.created = time.time()  # `show peers`' date of the section

    # -- life -------------------------------------------------------------------------------
    def attach(self, selector: selectors.BaseSelector) -> None:
        """Listen on the local peer's address (an OSError when it cannot) and call the others."""
        self.selector = selector
        now = self.clock()
        self.resync_deadline = now + RESYNC_TIMEOUT
        if self.local is not None and self.local.port:
            fam = socket.AF_INET6 if ":" in self.local.host else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((self.local.host or "0.0.0.0", self.local.port))
                s.listen(16)
            except OSError:
                s.close()
                raise
            self.listener = s
            selector.register(s, selectors.EVENT_READ, self._on_accept)
        for p in self.peers.values():
            p.reconnect_at = now  # call every peer at once, as 2.6 does at start

    def close(self) -> None:
        for p in self.peers.values():
            if p.session is not None:
                p.session.close("stopping")
        for s in list(self.pending):
            s.close("stopping")
        if self.listener is not None:
            if self.selector is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.unregister(self.listener)
            self.listener.close()
            self.listener = None
        self.selector = None

    def next_deadline(self) -> float | None:
        if self.selector is None:
            return None
        now = self.clock()
        ds: list[float] = []
        for p in self.peers.values():
            if p.conf.local:
                continue
            if p.session is None:
                ds.append(p.reconnect_at)
            elif p.session.state == "up":
                ds.append(now + PUSH_INTERVAL)
            else:
                ds.append(p.session.started + HANDSHAKE_TIMEOUT)
        for s in self.pending:
            ds.append(s.started + HANDSHAKE_TIMEOUT)
        if not self.synced:
            ds.append(self.resync_deadline)
        return min(ds) if ds else None

    def tick(self, now: float) -> None:
        if self.selector is None:
            return
        if not self.synced and self.learner is None and now >= self.resync_deadline:
            self.synced = True  # nobody taught us in time: as 2.6, consider the tables up to date
        for s in list(self.pending):
            s.timers(now)
        for p in self.peers.values():
            if p.conf.local:
                continue
            try:
                if p.session is None:
                    if now >= p.reconnect_at:
                        self._connect(p)
                else:
                    p.session.timers(now)
            except Exception as e:  # noqa: BLE001 - a store or a socket failing ends the session only
                if p.session is not None:
                    p.session.close(f"internal error: {e!r}")
                else:
                    p.reconnect_at = now + BACKOFF_MAX
        self._assign_learner()

    # -- sessions ---------------------------------------------------------------------------
    def _connect(self, p: Peer) -> None:
        fam = socket.AF_INET6 if ":" in p.conf.host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        p.statuscode = 100  # PEER_SESS_SC_CONNECTCODE
        p.new_conn += 1
        sess = Session(self, s, True, p)
        p.session = sess
        err = s.connect_ex((p.conf.host, p.conf.port))
        if err not in (0, errno.EINPROGRESS):
            sess.close(f"connect: {os.strerror(err)}")
            return
        sess._want()

    def _on_accept(self, mask: int) -> None:
        assert self.listener is not None
        while True:
            try:
                s, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sess = Session(self, s, False, None)
            self.pending.append(sess)
            sess._want()

    def accepted(self, sess: Session) -> bool:
        """A hello naming a known peer: the session becomes that peer's (False: try again)."""
        p = sess.peer
        assert p is not None
        if sess in self.pending:
            self.pending.remove(sess)
        if p.session is not None and p.session is not sess:
            # 2.6 replaces the session, and the loser calls again after a random delay so that
            # two peers calling each other at once do not go on killing each other's sessions
            old = p.session
            p.session = None
            p.coll += 1
            old.close("replaced by an incoming session")
            p.reconnect_at = self.clock() + (50 + random.randrange(2000)) / 1000
        p.session = sess
        return True

    def session_up(self, sess: Session) -> None:
        sess.state = "up"
        p = sess.peer
        assert p is not None
        p.backoff = BACKOFF_MIN
        p.sessions += 1
        p.last_hdshk = self.clock()
        sess.last_rx = sess.last_tx = self.clock()
        self._assign_learner()
        sess.push()  # what we know, at once (2.6 pushes its updates not yet acked)
        sess.flush()

    def _assign_learner(self) -> None:
        if self.synced or self.learner is not None:
            return
        for p in self.peers.values():
            s = p.session
            if s is not None and s.state == "up" and not p.not_up_to_date:
                self.learner = s
                s.learning = True
                s.send(c.control(c.CTRL_RESYNCREQ))
                return

    def lesson_ended(self, sess: Session, finished: bool) -> None:
        if sess is not self.learner:
            return
        self.learner = None
        sess.learning = False
        if finished:
            self.synced = True
        else:
            assert sess.peer is not None
            sess.peer.not_up_to_date = True
            self.resync_deadline = self.clock() + RESYNC_TIMEOUT

    def session_closed(self, sess: Session, why: str) -> None:
        if sess in self.pending:
            self.pending.remove(sess)
        if sess is self.learner:
            self.learner = None
            self.resync_deadline = self.clock() + RESYNC_TIMEOUT
        p = sess.peer
        if p is not None and p.session is sess:
            p.session = None
            if sess.state == "up":
                # as 2.6: 50-2050 ms, so that two peers that lost each other do not call at once
                p.reconnect_at = self.clock() + (50 + random.randrange(2000)) / 1000
            else:
                p.reconnect_at = self.clock() + p.backoff * (0.5 + random.random())
                p.backoff = min(BACKOFF_MAX, p.backoff * 2)
        if self.log is not None and why:
            self.log(f"peers {self.section}: session with {p.conf.name if p else '?'} ended: {why}")

    # -- tables -----------------------------------------------------------------------------
    def apply(self, idx: int, key: bytes, data: dict[str, int], expire_ms: int) -> None:
        if len(self._applied) >= APPLIED_MAX:
            self._applied.clear()  # at worst a few entries are sent back once: harmless
        self._applied[(idx, key)] = dict(data)
        self.tables[idx].update(key, data, expire_ms)

    def is_echo(self, idx: int, e: Entry) -> bool:
        """A change that is only what a peer told us (the store reports our own writes)."""
        key, _, data = e
        got = self._applied.get((idx, key))
        if got is None:
            return False
        # a rate read by the store decays with time: it is ours as long as it did not grow
        if all(_same(k, data.get(k), v) for k, v in got.items()):
            return True
        del self._applied[(idx, key)]  # changed locally since: push it from now on
        return False

    def ports(self) -> tuple[str, int] | None:
        if self.listener is None:
            return None
        h, port = self.listener.getsockname()[:2]
        return h, port


def _same(name: str, now: int | None, told: int) -> bool:
    if now is None:
        return False
    info = c.DATA_TYPE_BY_NAME.get(name)
    if name.endswith("_rate") and (info is None or info.std == c.STD_FRQP):
        return now <= told
    return now == told


def run_engine(engine: PeersEngine, stop: Callable[[], bool]) -> None:
    """A loop of its own for an engine (tests; the master runs it on its selector instead)."""
    sel = selectors.DefaultSelector()
    engine.attach(sel)
    try:
        while not stop():
            now = engine.clock()
            d = engine.next_deadline()
            timeout = 0.05 if d is None else min(0.05, max(0.0, d - now))
            for key, mask in sel.select(timeout):
                key.data(mask)
            engine.tick(engine.clock())
    finally:
        engine.close()
        sel.close()
