"""bench/machine.py: machine-wide CPU accounting from /proc/stat, and the proxy-attributable cost."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from bench import machine

STAT = (
    "cpu  100 20 30 5000 40 5 6 7 8 9\n"
    "cpu0 50 10 15 2500 20 2 3 3 4 4\n"
    "intr 12345\n"
)


def test_busy_jiffies_counts_work_not_idle_nor_guest() -> None:
    # user+nice+system+irq+softirq+steal; idle, iowait and guest (inside user already) left out
    assert machine.busy_jiffies(STAT) == 100 + 20 + 30 + 5 + 6 + 7


def test_busy_jiffies_old_kernels_with_fewer_fields() -> None:
    assert machine.busy_jiffies("cpu 1 2 3 4\n") == 6


def test_busy_jiffies_refuses_other_text() -> None:
    with pytest.raises(ValueError):
        machine.busy_jiffies("intr 1 2 3\n")


def test_window_sees_another_process_burning_cpu() -> None:
    """A child's CPU time is machine busy time: the window must cover at least what it burnt."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with machine.Window() as w:
        subprocess.run([sys.executable, "-c", burn], check=True, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert child >= 0.4
    # jiffies tick at 1/CLK_TCK: allow two ticks of rounding
    assert w.seconds >= child - 2.0 / machine.CLK_TCK


def test_per_cpu_second_refuses_rounding_noise() -> None:
    assert machine.per_cpu_second(1000, 0.05) is None
    assert machine.per_cpu_second(1000, 0.5) == 2000


def test_attributable_rate_subtracts_the_no_proxy_cost() -> None:
    # 10,000 requests for 2 machine CPU-s through the proxy; 1.5e-4 s per request with no proxy
    # -> the proxy adds 0.5e-4 s per request: 20,000 requests per attributable CPU-second
    assert machine.attributable_rate(10_000, 2.0, 1.5e-4) == pytest.approx(20_000)
    assert machine.attributable_rate(10_000, 1.0, 1.5e-4) is None  # cheaper than no proxy: noise
    assert machine.attributable_rate(0, 1.0, 1e-4) is None
