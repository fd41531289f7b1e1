import random

import pytest

from engine.metrics import LatencyHistogram


def exact(xs, p):
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, round(p / 100 * len(xs)) - 1))]


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_within_one_percent(seed):
    rng = random.Random(seed)
    xs = [int(rng.lognormvariate(8, 1.5)) for _ in range(20000)]
    h = LatencyHistogram()
    for x in xs:
        h.add(x)
    for p in (50, 90, 99, 99.9):
        assert h.percentile(p) == pytest.approx(exact(xs, p), rel=0.01, abs=1)
    assert (h.count, h.min, h.max) == (len(xs), min(xs), max(xs))
    assert h.mean == pytest.approx(sum(xs) / len(xs))


def test_small_values_are_exact_and_merge_reset_clamp():
    a, b = LatencyHistogram(), LatencyHistogram()
    for v in range(100):
        a.add(v)
    b.add(-5)  # clamped to 0
    b.add(10**15)  # clamped to the top bucket and counted
    a.merge(b)
    assert a.count == 102 and a.clamped == 1 and a.min == 0
    assert a.percentile(50) == 49
    snap = a.snapshot()
    assert set(snap) == {"count", "min", "mean", "p50", "p90", "p99", "p99.9", "max"}
    a.reset()
    assert a.count == 0 and a.percentile(99) == 0
    with pytest.raises(ValueError):
        a.percentile(101)


def test_percentiles_at_the_largest_count():
    top, low = LatencyHistogram(), LatencyHistogram()
    top.add(10**9)
    for _ in range(63):
        top.merge(top)  # 2**63 values of 1 s
    low.add(5)
    for _ in range(62):
        low.merge(low)
        low.add(5)  # 2**63 - 1 values of 5 ns
    top.merge(low)
    assert top.count == 2**64 - 1
    # p / 100 * count rounds to 2**64 as a double, which has no uint64 value: the rank must be clamped first
    assert top.percentile(100) == top.max == 10**9
    assert top.percentile(0) == 5 and top.percentile(25) == 5
