"""ConnectionPacer (engine/connectors/binance/limits.py) on a fake clock: a burst, then a steady rate, so any
window starts at most burst + per_window connection attempts; a cancelled wait gives its attempt back."""
import asyncio

import pytest

from engine.connectors.binance.limits import ConnectionPacer


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def pacer(burst=3, per_window=6, window_s=60.0):
    clock = FakeClock()
    return ConnectionPacer(burst, per_window, window_s, clock=clock), clock


def test_the_burst_goes_at_once_then_each_attempt_waits_one_interval_more():
    p, clock = pacer(burst=3, per_window=6, window_s=60.0)  # one attempt per 10 s after the burst
    assert [p.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [p.reserve() for _ in range(3)] == pytest.approx([10.0, 20.0, 30.0])
    assert p.status() == {"attempts": 6, "delayed": 3, "waiting": 0}
    clock.t += 30.0  # the queue has drained: the next attempt waits one interval
    assert p.reserve() == pytest.approx(10.0)


def test_time_refills_the_burst_but_never_past_it():
    p, clock = pacer(burst=3, per_window=6, window_s=60.0)
    for _ in range(3):
        p.reserve()
    clock.t += 10_000.0  # long idle: the bucket is full again, not fuller
    assert [p.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert p.reserve() > 0


@pytest.mark.parametrize("gap", [0.0, 1.0, 7.0, 10.0, 25.0])
def test_any_window_holds_at_most_burst_plus_per_window_attempts(gap):
    burst, per_window, window_s = 5, 12, 60.0
    p, clock = pacer(burst, per_window, window_s)
    starts = []  # when each attempt may be made: its reserve() time plus the delay it was told
    for _ in range(200):
        starts.append(clock.t + p.reserve())
        clock.t += gap  # callers arrive as fast as they like (gap 0: all at once)
    starts.sort()
    j = 0
    busiest = 0
    for i, s in enumerate(starts):
        while starts[j] <= s - window_s:
            j += 1
        busiest = max(busiest, i - j + 1)
    assert busiest <= burst + per_window
    if gap == 0.0:
        # all at once: the window is (nearly) full, so the bound is tight, not just respected
        assert busiest >= burst + per_window - 1


async def test_a_cancelled_wait_gives_its_attempt_back():
    p, clock = pacer(burst=1, per_window=1, window_s=3600.0)
    assert p.reserve() == 0.0
    delay = p.reserve()
    assert delay == pytest.approx(3600.0)
    waiter = asyncio.create_task(p.wait(delay))
    await asyncio.sleep(0)
    assert p.status()["waiting"] == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert p.status()["waiting"] == 0
    # the cancelled attempt's token came back: the next one waits as the cancelled one would have
    assert p.reserve() == pytest.approx(3600.0)


async def test_a_wait_that_completes_keeps_its_attempt():
    p, clock = pacer(burst=1, per_window=1, window_s=0.01)
    p.reserve()
    delay = p.reserve()
    assert delay > 0
    await p.wait(delay)
    assert p.status() == {"attempts": 2, "delayed": 1, "waiting": 0}
    assert p.reserve() == pytest.approx(2 * 0.01)  # nothing was given back: two attempts still ahead


async def test_a_zero_delay_waits_for_nothing_and_is_not_counted_waiting():
    p, _ = pacer()
    await p.wait(p.reserve())
    await p.acquire()
    assert p.status() == {"attempts": 2, "delayed": 0, "waiting": 0}


def test_refund_never_fills_past_the_burst():
    p, _ = pacer(burst=2)
    for _ in range(5):
        p.refund()
    assert [p.reserve() for _ in range(2)] == [0.0, 0.0]
    assert p.reserve() > 0


@pytest.mark.parametrize("burst,per_window,window_s", [(0, 10, 60.0), (-1, 10, 60.0), (1, 0, 60.0),
                                                       (1, -5, 60.0), (1, 10, 0.0), (1, 10, -1.0)])
def test_bad_arguments_are_refused(burst, per_window, window_s):
    with pytest.raises(ValueError, match="ConnectionPacer needs"):
        ConnectionPacer(burst, per_window, window_s)


def test_the_defaults_stay_within_the_venues_300_attempts_per_5_minutes():
    p, clock = pacer(burst=50, per_window=240, window_s=300.0)
    assert ConnectionPacer().burst == 50 and ConnectionPacer().rate == pytest.approx(240 / 300.0)
    starts = sorted(clock.t + p.reserve() for _ in range(1000))
    assert all(b - a > 300.0 for a, b in zip(starts, starts[290:]))  # attempt i and i+290 never in one window
