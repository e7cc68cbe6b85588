"""Per-second rates of the shared memory's cumulative counters, for `show info` and the CSV.

HAProxy 2.6 keeps frequency counters in each process and shows the events of the last second
(ConnRate, SessRate, SslRate..., the CSV's rate/req_rate/conn_rate) and their maxima since
start. Here the workers keep only totals; the master samples them once a second on its tick
(`StatsService.tick`) and a rate is the growth between the last two samples, scaled to one
second. A new generation (reload) has new counters: the samples start again, the maxima stay
(2.6's are per process too, so after a reload they start again there; ours keep the larger).

The servers' sessions are sampled too, for their `rate` and `rate_max` (2.6 keeps a frequency
counter per server): one call (`Shm.srv_sessions`) sums them in C, in server order, and the
maxima are a list by server index. A farm of 100,000 servers costs the master one pass over that
list a second. A new generation starts the servers' maxima again (its server list may differ; 2.6's
start again after a reload as well).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

SAMPLE_EVERY = 1.0      # seconds between two samples
KEEP = 3                # samples kept (the last two make the rate)


class RateMeter:
    """Samples of named cumulative counters; rate() and max() per name."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=KEEP)
        self.maxima: dict[str, int] = {}
        self.source: object = None
        # per server (by its global index): the sessions so far of the last two samples, maxima
        self.srv_samples: deque[Sequence[int]] = deque(maxlen=2)
        self.srv_maxima: list[int] = []

    def due(self, now: float) -> bool:
        return not self.samples or now - self.samples[-1][0] >= SAMPLE_EVERY

    def sample(self, now: float, source: object, counters: dict[str, int],
               srv_sessions: Sequence[int] = ()) -> None:
        """Record counters read at `now` from `source` (a generation's shared memory: another
        one means new counters, so the samples start again), and the servers' sessions so far."""
        if source is not self.source:
            self.samples.clear()
            self.srv_samples.clear()
            self.srv_maxima = []
            self.source = source
        self.samples.append((now, counters))
        self.srv_samples.append(srv_sessions)
        if len(self.samples) >= 2:
            for key in counters:
                r = self.rate(key)
                if r > self.maxima.get(key, 0):
                    self.maxima[key] = r
            self._srv_maxima()

    def _span(self) -> float:
        (t0, _), (t1, _) = self.samples[-2], self.samples[-1]
        return max(t1 - t0, SAMPLE_EVERY)

    def _srv_maxima(self) -> None:
        if len(self.srv_samples) < 2:
            return
        old, new = self.srv_samples[0], self.srv_samples[-1]
        if len(old) != len(new):
            return
        if len(self.srv_maxima) != len(new):
            self.srv_maxima = [0] * len(new)
        span = self._span()
        mx = self.srv_maxima
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            if b > a:
                r = int(round((b - a) / span))
                if r > mx[i]:
                    mx[i] = r

    def srv_rate(self, gi: int) -> int:
        """Sessions per second of server `gi` (its global index) between the last two samples."""
        if len(self.srv_samples) < 2 or len(self.samples) < 2:
            return 0
        old, new = self.srv_samples[0], self.srv_samples[-1]
        if gi >= len(old) or gi >= len(new) or new[gi] <= old[gi]:
            return 0
        return int(round((new[gi] - old[gi]) / self._span()))

    def srv_max(self, gi: int) -> int:
        return self.srv_maxima[gi] if gi < len(self.srv_maxima) else 0

    def rate(self, key: str) -> int:
        """Events per second between the last two samples (0 before there are two)."""
        if len(self.samples) < 2:
            return 0
        (t0, c0), (t1, c1) = self.samples[-2], self.samples[-1]
        grown = c1.get(key, 0) - c0.get(key, 0)
        if grown <= 0 or t1 <= t0:
            return 0
        return int(round(grown / max(t1 - t0, SAMPLE_EVERY)))

    def max(self, key: str) -> int:
        return self.maxima.get(key, 0)


def counters_of(view: Any, sums: Any) -> dict[str, int]:
    """The counters sampled: per proxy its sessions and requests, and the process's totals
    (sessions, TLS sessions and the full handshakes among them). `sums(shm, slot)` reads a
    proxy's counters summed over the workers (collect.py `_sum`)."""
    out: dict[str, int] = {}
    conns = ssl = ssl_full = bytes_out = 0
    for pi, px in enumerate(view.cfg.proxies):
        pc = sums(view.shm, pi)
        # (connections refused by tcp-request rules are connections, not sessions: collect.py)
        out[f"px{pi}.conn"] = pc["tot_sess"]
        out[f"px{pi}.sess"] = pc["tot_sess"] - pc.get("denied_conn", 0) - pc.get("denied_sess", 0)
        out[f"px{pi}.req"] = pc["req_tot"]
        if px.cap != "backend":
            conns += pc["tot_sess"]
            bytes_out += pc["bytes_out"]
        ssl += pc["ssl_sess"]
        ssl_full += pc["ssl_sess"] - pc["ssl_reused"]
    out["conns"] = conns
    out["ssl"] = ssl
    out["ssl_full"] = ssl_full
    out["bytes_out"] = bytes_out
    out["cpu_ms"] = workers_cpu_ms(view.workers)
    return out


def workers_cpu_ms(pids: Any) -> int:
    """The workers' CPU time so far, in milliseconds (`show info` Idle_pct is its rate)."""
    total = 0.0
    try:
        import psutil
    except ImportError:
        return 0
    for pid in pids:
        if pid is None:
            continue
        try:
            t = psutil.Process(pid).cpu_times()
        except (psutil.Error, OSError):
            continue
        total += t.user + t.system
    return int(total * 1000)


def srv_sessions(shm: Any) -> Sequence[int]:
    """Every server's sessions so far, in server order (empty if the accessor has no such call)."""
    get = getattr(shm, "srv_sessions", None)
    return get() if get is not None else ()
