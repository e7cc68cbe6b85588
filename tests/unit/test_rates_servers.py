"""stats/rates.py: the servers' sessions per second and their maxima, from the master's samples."""

from __future__ import annotations

from pyhaproxy.stats.rates import RateMeter


def test_server_rates_and_maxima() -> None:
    r = RateMeter()
    src = object()
    r.sample(0.0, src, {}, [0, 0])
    assert (r.srv_rate(0), r.srv_max(0)) == (0, 0)      # one sample: no rate yet
    r.sample(1.0, src, {}, [2, 0])
    r.sample(2.0, src, {}, [3, 5])
    assert [r.srv_rate(i) for i in (0, 1)] == [1, 5]
    assert [r.srv_max(i) for i in (0, 1)] == [2, 5]
    assert (r.srv_rate(7), r.srv_max(7)) == (0, 0)      # (a server the samples do not have)
    r.sample(3.0, src, {}, [3, 5])
    assert [r.srv_rate(i) for i in (0, 1)] == [0, 0] and [r.srv_max(i) for i in (0, 1)] == [2, 5]


def test_a_new_generation_starts_the_servers_again() -> None:
    r = RateMeter()
    old, new = object(), object()
    r.sample(0.0, old, {}, [0])
    r.sample(1.0, old, {}, [4])
    assert r.srv_max(0) == 4
    r.sample(2.0, new, {}, [0, 0])
    assert (r.srv_rate(0), r.srv_max(0)) == (0, 0)
    r.sample(3.0, new, {}, [1, 2])
    assert [r.srv_rate(i) for i in (0, 1)] == [1, 2]
