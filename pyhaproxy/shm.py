"""The master's view of shared memory: creation before fork and the global server index."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from pyhaproxy._core import Shm, StkTable, srv_state
from pyhaproxy.config.kw_stick import DATA_IDS, KEY_TYPE_IDS, table_names
from pyhaproxy.config.model import Config, PeerTable, Server

__all__ = ["Shm", "StickTables", "create_shm", "follow_maintenance", "server_marked_down", "server_marked_up",
           "server_table"]


def table_shape(t: PeerTable) -> tuple[int, int, int, int, bool, tuple[tuple[int, int, int], ...]]:
    """A table's shape as StkTable takes it (and compares it across reloads): the data types
    as (id, period, elements)."""
    return (KEY_TYPE_IDS[t.key_type], t.key_len, t.size, t.expire_ms, t.nopurge,
            tuple((DATA_IDS[name], period, t.data_nelem.get(name, 1)) for name, period in t.data_types))


class StickTables:
    """The master's stick tables, by name. A reload keeps a table (and its entries) whose name
    and shape are unchanged, as 2.6 hands a table over to its new process; others start empty."""

    def __init__(self) -> None:
        self.by_name: dict[str, StkTable] = {}

    def for_config(self, cfg: Config) -> list[StkTable]:
        kept: dict[str, StkTable] = {}
        for name, t in table_names(cfg):
            shape = table_shape(t)
            old = self.by_name.get(name)
            if old is not None and old.shape == shape:
                kept[name] = old
            else:
                kept[name] = StkTable(*shape[:5], list(shape[5]))
        self.by_name = kept
        return list(kept.values())

    def purge(self) -> None:
        """Free expired entries (the master's once-a-second task)."""
        for t in self.by_name.values():
            t.purge()


TABLES = StickTables()      # the master's (a module global: it outlives the generations)


def server_table(cfg: Config) -> list[tuple[int, int, Server]]:
    """(global index, proxy index, server): proxies in config order, servers in order inside each."""
    table: list[tuple[int, int, Server]] = []
    for pi, px in enumerate(cfg.proxies):
        for sv in px.servers:
            table.append((len(table), pi, sv))
    return table


def create_shm(cfg: Config, nworkers: int) -> Shm:
    """Map the region for `nworkers` workers; servers start up except those declared `disabled`."""
    table = server_table(cfg)
    shm = Shm(max(1, len(cfg.proxies)), len(table), max(1, nworkers))
    shm.tables = TABLES.for_config(cfg)
    for gi, _pi, sv in table:
        shm.set_srv_weight(gi, sv.weight)
        if not sv.check and not sv.disabled:
            shm.set_srv_check(gi, 0, 0, sv.rise)  # 2.6's health of an unchecked server that is up
        if sv.disabled or sv.rmaint:
            # (`init-addr none` without an address: 2.6's RMAINT, maintenance until it has one)
            shm.set_srv_admin_down(gi, True)
    return shm


class ServerKiller(Protocol):
    """What the two functions below need of a Shm."""

    def srv_weight(self, i: int) -> int: ...
    def kill_srv_sessions(self, i: int, backup_left: bool) -> None: ...


def server_marked_down(shm: ServerKiller, gi: int, sv: Server) -> None:
    """A server went down (checks) or into maintenance: with `on-marked-down
    shutdown-sessions` the workers cut its sessions, as 2.6's srv_shutdown_streams()."""
    if sv.on_marked_down:
        shm.kill_srv_sessions(gi, False)


def server_marked_up(shm: ServerKiller, gi: int, sv: Server, members: Iterable[tuple[int, bool]]) -> None:
    """A server came up (checks) or left maintenance: with `on-marked-up
    shutdown-backup-sessions`, an active server with a weight has the workers cut the sessions
    of its proxy's backup servers (`members`: (global index, backup) of each server), as 2.6."""
    if sv.on_marked_up and not sv.backup and shm.srv_weight(gi) > 0:
        for gj, backup in members:
            if backup:
                shm.kill_srv_sessions(gj, True)


def follow_maintenance(shm: Shm, cfg: Config, gi: int, now_ms: int) -> None:
    """`track`: server gi entered or left maintenance; the servers following it (and theirs)
    are DOWN for the workers while it is in maintenance (the stats show them `MAINT (via ...)`,
    2.6's IMAINT), then take its state again."""
    servers = [sv for px in cfg.proxies for sv in px.servers]
    todo = [gi]
    for _ in range(len(servers)):       # (chains are loop-free: config/track.py)
        if not todo:
            return
        g = todo.pop()
        state = srv_state.SRV_DOWN if shm.srv_admin_down(g) else shm.srv_state(g)
        for t, sv in enumerate(servers):
            if sv.track_gi == g:
                if shm.srv_state(t) != state:
                    shm.set_srv_state(t, state, now_ms)
                todo.append(t)
