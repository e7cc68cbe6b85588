"""Machine-wide CPU accounting for the benchmarks: every process and the kernel, from /proc/stat.

A proxy's own CPU time (its processes' user + system time) misses work the kernel does for it
outside its process context: softirq network processing, kworkers, and any fast path that moves
relaying into the kernel (a sockmap verdict program runs in softirq). A proxy that pushes work
there would look faster than it is. So each measurement also reads the busy time of *all* CPUs
(user, nice, system, irq, softirq, steal: everything but idle and iowait) before and after the
load run, and:

- requests per machine CPU-second = requests / busy CPU-seconds of the whole machine (proxy,
  backends, load generator, kernel threads, the harness);
- proxy-attributable cost per request = machine CPU per request through the proxy minus machine
  CPU per request of the same load run with no proxy (wrk straight to nginx), measured in the
  same run; its inverse is "requests per proxy-attributable CPU-second".

The targets use the machine-wide figures: they cannot be improved by moving work out of sight.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def busy_jiffies(stat_text: str) -> int:
    """Busy jiffies over all CPUs from the text of /proc/stat (its aggregate `cpu` line).

    Fields: user nice system idle iowait irq softirq steal guest guest_nice. guest and guest_nice
    are already counted in user and nice, so they are left out; idle and iowait are not work.
    """
    first = stat_text.splitlines()[0].split()
    if first[0] != "cpu":
        raise ValueError(f"not a /proc/stat aggregate line: {first[:1]}")
    f = [int(x) for x in first[1:]] + [0] * 10
    user, nice, system, _idle, _iowait, irq, softirq, steal = f[:8]
    return user + nice + system + irq + softirq + steal


def busy_seconds() -> float:
    """Busy CPU-seconds of the whole machine since boot (all CPUs summed)."""
    return busy_jiffies(Path("/proc/stat").read_text()) / CLK_TCK


@dataclass
class Window:
    """Machine busy time over one load run: `with Window() as w: ...; w.seconds`."""

    start: float = 0.0
    seconds: float = 0.0

    def __enter__(self) -> Window:
        self.start = busy_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = busy_seconds() - self.start


def per_cpu_second(units: float, cpu_seconds: float) -> float | None:
    """units / cpu_seconds, or None below 0.1 s (the jiffy counters tick at 10 ms: mostly rounding)."""
    if cpu_seconds < 0.1:
        return None
    return units / cpu_seconds


def attributable_rate(units: float, machine_seconds: float, baseline_cost: float) -> float | None:
    """Units per proxy-attributable machine CPU-second.

    machine_seconds / units is the machine cost per unit through the proxy; baseline_cost is the
    cost per unit of the same load with no proxy. Their difference is what the proxy adds. None if
    the difference is not positive (the proxy's share is within the noise of the baseline).
    """
    if units <= 0:
        return None
    extra = machine_seconds / units - baseline_cost
    if extra <= 0:
        return None
    return 1.0 / extra
