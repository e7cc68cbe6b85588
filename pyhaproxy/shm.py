"""The master's view of shared memory: creation before fork and the global server index."""

from __future__ import annotations

from pyhaproxy._core import Shm
from pyhaproxy.config.model import Config, Server

__all__ = ["Shm", "create_shm", "server_table"]


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
    for gi, _pi, sv in table:
        shm.set_srv_weight(gi, sv.weight)
        if sv.disabled:
            shm.set_srv_admin_down(gi, True)
    return shm
