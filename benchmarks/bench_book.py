"""Raw depth diff bytes -> book updated -> best bid/ask read, ours vs the peers, same stream, same run."""
import pytest

from engine.book import DepthOutcome, OrderBook
from peers import BOOK_PEERS

# more rounds for the fast rows: a noisy-neighbour burst then lands in fewer of them (the median is
# taken per row); every row still runs at least 5 full passes
def rounds(name: str) -> int:
    return 31 if name.startswith("engine") else 5 if "cryptofeed" in name else 9


class Ours:
    def __init__(self, snapshot):
        self.book = OrderBook("BTCUSDT")
        self.book.apply_snapshot(snapshot)
        self.apply = self.book.apply_depth
        self.bbo = self.book.bbo
        self.top = self.book.top


IMPLS = {"engine OrderBook (compiled)": Ours, **BOOK_PEERS}


def check(impl, stream):
    """Before anything is timed: the implementation must end on the generator's ground truth."""
    bids, asks = impl.top(20)
    want_b, want_a = stream.top_floats(20)
    assert [(round(p, 8), round(q, 8)) for p, q in bids] == want_b
    assert [(round(p, 8), round(q, 8)) for p, q in asks] == want_a


@pytest.mark.benchmark(group="depth diff -> book + bbo")
@pytest.mark.parametrize("name", list(IMPLS))
def test_diff_apply_and_bbo(benchmark, stream, name):
    cls = IMPLS[name]
    diffs = stream.diffs

    def run(impl):
        apply, bbo = impl.apply, impl.bbo
        for d in diffs:
            apply(d)
            bbo()
        return impl

    impl = benchmark.pedantic(run, setup=lambda: ((cls(stream.snapshot),), {}), rounds=rounds(name), iterations=1)
    benchmark.extra_info["ops"] = len(diffs)
    check(impl, stream)


@pytest.mark.benchmark(group="depth diff -> book + top-20 read")
@pytest.mark.parametrize("name", list(IMPLS))
def test_top20_after_each_write(benchmark, stream, name):
    """apply + top(20) after every diff, per diff: the read-after-write cost is this minus the bbo group."""
    cls = IMPLS[name]
    diffs = stream.diffs[:400]

    def run(impl):
        apply, top = impl.apply, impl.top
        for d in diffs:
            apply(d)
            top(20)
        return impl

    impl = benchmark.pedantic(run, setup=lambda: ((cls(stream.snapshot),), {}), rounds=rounds(name), iterations=1)
    benchmark.extra_info["ops"] = len(diffs)
    assert impl.top(20)[0]


@pytest.mark.benchmark(group="top-20 both sides, static book")
@pytest.mark.parametrize("name", list(IMPLS))
def test_top20_static(benchmark, stream, name):
    impl = IMPLS[name](stream.snapshot)
    for d in stream.diffs[:50]:
        impl.apply(d)
    top = impl.top
    n = 2000

    def run():
        for _ in range(n):
            top(20)
        return top(20)

    bids, asks = benchmark.pedantic(run, rounds=7, iterations=1)
    benchmark.extra_info["ops"] = n
    assert len(bids) == len(asks) == 20 and bids[0][0] < asks[0][0]


def test_ours_reports_every_diff_applied(stream):
    book = OrderBook("BTCUSDT")
    book.apply_snapshot(stream.snapshot)
    assert all(book.apply_depth(d) == DepthOutcome.APPLIED for d in stream.diffs)
    assert book.bids_scaled(3) == [(p * 10**6, q) for p, q in stream.final_bids[:3]]
