"""`track [PROXY/]SERVER` (2.6's srv_apply_track): once every proxy is read, each tracking
server is tied to the server it follows, with 2.6's checks and messages. The state itself is
carried by the master's checker (pyhaproxy/checks.py) and shown by the stats (collect.py)."""

from __future__ import annotations

from .lexer import ConfigError
from .model import Config, Proxy, Server


def _target(backends: dict[str, Proxy], owner: Proxy, sv: Server) -> tuple[Proxy | None, Server | None]:
    """The proxy and server that `sv` (a server of `owner`) names in its `track`."""
    assert sv.track is not None
    pname, slash, sname = sv.track.rpartition("/")
    px = backends.get(pname) if slash else owner
    if px is None:
        return None, None
    return px, next((o for o in px.servers if o.name == sname), None)


def resolve_tracks(cfg: Config) -> None:
    index: dict[int, tuple[int, Proxy]] = {}
    for px in cfg.proxies:
        for sv in px.servers:
            index[id(sv)] = (len(index), px)
    backends = {p.name: p for p in cfg.proxies if p.cap in ("backend", "listen")}
    for px in cfg.proxies:
        for sv in px.servers:
            if not sv.track:
                continue
            where = f"'server {px.name}/{sv.name}' : "
            tpx, target = _target(backends, px, sv)
            if tpx is None:
                raise ConfigError(sv.where.file, sv.where.line,
                                  where + f"unable to find required proxy '{sv.track.rpartition('/')[0]}' "
                                  "for tracking.")
            if target is None:
                raise ConfigError(sv.where.file, sv.where.line, where + "unable to find required server "
                                  f"'{sv.track.rpartition('/')[2]}' for tracking.")
            if not target.check and not (target.agent_check and target.agent_port) and not target.track:
                raise ConfigError(sv.where.file, sv.where.line, where + f"unable to use {tpx.name}/"
                                  f"{target.name} for tracking as it does not have any check nor agent "
                                  "enabled.")
            # a chain looping back to sv (2.6 names sv, or the target when sv tracks itself)
            loop: Server | None = target
            for _ in range(len(index)):
                if loop is None or loop is sv or not loop.track:
                    break
                loop = _target(backends, index[id(loop)][1], loop)[1]
            if loop is sv:
                raise ConfigError(sv.where.file, sv.where.line, where + f"unable to track {tpx.name}/"
                                  f"{target.name} as it belongs to a tracking chain looping back to "
                                  f"{tpx.name}/{sv.name}.")
            sv.track_gi = index[id(target)][0]
            sv.track_label = f"{tpx.name}/{target.name}"
