"""Lighter order-book frames through the compiled book: the captured CRV chain equals the oracle; a broken
chain is a GAP that leaves the book untouched."""
import json
import pathlib

import pytest

from engine.book import DepthOutcome, OrderBook
from engine.errors import FrameError
from reference.lighter_book_ref import RefLighterBook

CHAIN = pathlib.Path(__file__).parents[1] / "data/lighter/captured/ws_order_book_CRV36_mainnet_20260729.jsonl"
FRAMES = [line.strip().encode() for line in CHAIN.read_text().splitlines() if line.strip()]
PD, SD = 5, 1  # CRV: price decimals 5, size decimals 1 (the market's own)


def book():
    return OrderBook("CRV", price_decimals=PD, qty_decimals=SD)


def test_captured_chain_replays_to_the_oracle_book():
    b, ref = book(), RefLighterBook()
    for f in FRAMES:
        assert b.apply_lighter(f) == ref.apply(f) == DepthOutcome.APPLIED
        assert (b.bids_scaled(), b.asks_scaled()) == ref.levels(PD, SD)
    assert b.last_update_id == json.loads(FRAMES[-1])["order_book"]["nonce"]
    assert b.gaps == 0 and not b.crossed
    (bp, _), (ap, _) = b.top_exact(1)[0][0], b.top_exact(1)[1][0]
    assert bp < ap


@pytest.mark.parametrize("drop", range(1, len(FRAMES) - 1))
def test_a_missing_update_breaks_the_chain(drop):
    b = book()
    for f in FRAMES[:drop]:
        b.apply_lighter(f)
    before = (b.bids_scaled(), b.asks_scaled(), b.last_update_id)
    assert b.apply_lighter(FRAMES[drop + 1]) == DepthOutcome.GAP
    assert (b.bids_scaled(), b.asks_scaled(), b.last_update_id) == before
    assert not b.synced and b.gaps == 1
    # a fresh snapshot re-seeds the book
    assert b.apply_lighter(FRAMES[0]) == DepthOutcome.APPLIED and b.synced


def test_updates_before_the_snapshot_are_refused():
    b = book()
    assert b.apply_lighter(FRAMES[1]) == DepthOutcome.GAP
    assert b.bid_count == b.ask_count == 0


@pytest.mark.parametrize("mutate,needle", [
    (lambda f: f.replace(b'"update/order_book"', b'"update/trade"'), "event type"),
    (lambda f: f.replace(b',"begin_nonce":', b',"begin_noncx":'), "begin_nonce"),
    (lambda f: f.replace(b'"size":"0.0"', b'"size":"0.05"'), "decimals"),
    (lambda f: f.replace(b'"price":"0.20421"', b'"price":0.20421'), "string"),
    (lambda f: f[:-10], "truncated"),
])
def test_bad_frames_raise_and_change_nothing(mutate, needle):
    b = book()
    b.apply_lighter(FRAMES[0])
    bad = mutate(FRAMES[1])
    assert bad != FRAMES[1]
    before = (b.bids_scaled(), b.asks_scaled(), b.last_update_id)
    with pytest.raises(FrameError, match=needle):
        b.apply_lighter(bad)
    assert (b.bids_scaled(), b.asks_scaled(), b.last_update_id) == before
