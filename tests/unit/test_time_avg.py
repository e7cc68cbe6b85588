"""stats/collect.py time_avg: 2.6's swrate_avg of the time averages, over the workers' windows."""

from __future__ import annotations

from pyhaproxy.stats.collect import TIME_STATS_SAMPLES, time_avg


def test_one_worker_is_2_6s_formula() -> None:
    # fewer samples than the window: the sum over the counter, rounded up
    assert time_avg([(901, 3)]) == 301
    assert time_avg([(900, 3)]) == 300
    # no sample yet: 2.6 divides by the full window (0)
    assert time_avg([(0, 0)]) == 0
    # the window is full: the sum over 512 whatever the counter
    assert time_avg([(512 * 200, 10_000)]) == 200
    assert time_avg([(512 * 200 + 1, 513)]) == 201


def test_workers_weighted_by_their_samples() -> None:
    # 10 samples of 100 ms on one worker, 30 of 300 ms on another: 250 ms
    assert time_avg([(1000, 10), (9000, 30)]) == 250
    # a worker without samples does not dilute the others
    assert time_avg([(1000, 10), (0, 0)]) == 100
    # full windows count 512 samples each
    assert time_avg([(512 * 100, 600), (512 * 300, 9000)]) == 200


def test_the_exporters_full_window() -> None:
    # 2.6's exporter divides by 512 however few samples there are
    assert time_avg([(901, 3)], full=True) == 2
    assert time_avg([(0, 0)], full=True) == 0
    assert time_avg([(512 * 100, 600), (512 * 300, 3)], full=True) == 200
    assert TIME_STATS_SAMPLES == 512
