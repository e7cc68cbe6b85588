"""Per-second rates of the shared memory's cumulative counters, for `show info` and the CSV.

HAProxy 2.6 keeps frequency counters in each process and shows the events of the last second
(ConnRate, SessRate, SslRate..., the CSV's rate/req_rate/conn_rate) and their maxima since
start. Here the workers keep only totals; the master samples them once a second on its tick
(`StatsService.tick`) and a rate is the growth between the last two samples, scaled to one
second. A new generation (reload) has new counters: the samples start again, the maxima stay
(2.6's are per process too, so after a reload they start again there; ours keep the larger).

Only the process-wide figures and the proxies' are sampled: a farm of 100,000 servers would
cost the master 100,000 sums a second for columns few dashboards read (servers' rate is left
empty).
"""

from __future__ import annotations

from collections import deque
from typing import Any

SAMPLE_EVERY = 1.0      # seconds between two samples
KEEP = 3                # samples kept (the last two make the rate)


class RateMeter:
    """Samples of named cumulative counters; rate() and max() per name."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=KEEP)
        self.maxima: dict[str, int] = {}
        self.source: object = None

    def due(self, now: float) -> bool:
        return not self.samples or now - self.samples[-1][0] >= SAMPLE_EVERY

    def sample(self, now: float, source: object, counters: dict[str, int]) -> None:
        """Record counters read at `now` from `source` (a generation's shared memory: another
        one means new counters, so the samples start again)."""
        if source is not self.source:
            self.samples.clear()
            self.source = source
        self.samples.append((now, counters))
        if len(self.samples) >= 2:
            for key in counters:
                r = self.rate(key)
                if r > self.maxima.get(key, 0):
                    self.maxima[key] = r

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
        out[f"px{pi}.sess"] = pc["tot_sess"]
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
