import math

import pytest

from engine.models import OrderBookSnapshot, OrderStatus, Side
from engine.symbols import Symbol, SymbolMap


@pytest.mark.parametrize("text", ["ETH-USDT", "eth-usdt", " ETH/USDT ", "ETH_USDT"])
def test_unified_symbol_spellings(text):
    assert Symbol.parse(text) == Symbol("ETH", "USDT")
    assert str(Symbol.parse(text)) == "ETH-USDT"


@pytest.mark.parametrize("bad", ["ETHUSDT", "-USDT", "ETH-", "A-B-C", ""])
def test_unified_symbol_rejects_ambiguous_text(bad):
    with pytest.raises(ValueError, match="BASE-QUOTE"):
        Symbol.parse(bad)


def test_symbol_map_accepts_both_spellings_and_names_unknowns():
    m = SymbolMap.from_pairs("binance", [(Symbol("ETH", "USDT"), "ETHUSDT"), (Symbol("BTC", "USDT"), "BTCUSDT")])
    assert m.resolve("ETH-USDT") == (Symbol("ETH", "USDT"), "ETHUSDT")
    assert m.resolve("ethusdt") == (Symbol("ETH", "USDT"), "ETHUSDT")
    assert m.native(Symbol("BTC", "USDT")) == "BTCUSDT"
    assert "BTC-USDT" in m and "DOGE-USDT" not in m
    with pytest.raises(ValueError, match="binance"):
        m.resolve("DOGE-USDT")


def test_snapshot_best_prices_and_empty_sides():
    s = OrderBookSnapshot("binance", "ETH-USDT", [(100.0, 1.0), (99.0, 2.0)], [(101.0, 1.5)])
    assert (s.best_bid, s.best_ask, s.mid, s.spread) == (100.0, 101.0, 100.5, 1.0)
    assert math.isnan(OrderBookSnapshot("binance", "X-Y", [], []).best_bid)


def test_final_states():
    assert {s for s in OrderStatus if s.is_final} == {OrderStatus.FILLED, OrderStatus.CANCELED,
                                                      OrderStatus.REJECTED, OrderStatus.EXPIRED}
    assert Side.BUY.sign == 1 and Side.SELL.sign == -1
