"""binance-sdk-spot (the official Spot SDK) REST client against the Binance simulator, base_path pointed at it."""
import pytest

spot = pytest.importorskip("binance_sdk_spot.spot", reason="the fidelity extra (binance-sdk-spot) is not installed")

from fidelity_env import shallow, with_trades  # noqa: E402

FAR_BID = 30000.0  # far below the simulated BTCUSDT market (~60000): a BUY there rests


def client(sim):
    cfg = spot.ConfigurationRestAPI(api_key=sim.api_key, api_secret=sim.api_secret, base_path=sim.rest_url,
                                    retries=0, timeout=20_000)
    return spot.Spot(config_rest_api=cfg).rest_api


def data(call):
    try:
        return call().data()
    except Exception as e:
        raise shallow(e) from None


def test_market_data_reads(binance_sim_thread):
    r = client(binance_sim_thread)
    assert data(r.ping) is not None
    assert data(r.time).server_time > 0
    assert "BTCUSDT" in {s.symbol for s in data(r.exchange_info).symbols}
    book = data(lambda: r.depth("BTCUSDT", limit=5))
    assert len(book.bids) == len(book.asks) == 5 and float(book.bids[0][0]) < float(book.asks[0][0])
    assert len(data(lambda: r.klines("BTCUSDT", "1m", limit=3))) == 3
    assert data(lambda: r.ticker24hr(symbol="BTCUSDT")).actual_instance.symbol == "BTCUSDT"
    assert float(data(lambda: r.ticker_price(symbol="BTCUSDT")).actual_instance.price) > 0
    bt = data(lambda: r.ticker_book_ticker(symbol="BTCUSDT")).actual_instance
    assert float(bt.bid_price) < float(bt.ask_price)
    assert float(data(lambda: r.avg_price("BTCUSDT")).price) > 0


def test_account_and_orders(binance_sim_thread):
    r = client(binance_sim_thread)
    assert any(b.asset == "USDT" and float(b.free) > 0 for b in data(r.get_account).balances)
    o = data(lambda: r.new_order("BTCUSDT", "BUY", "LIMIT", time_in_force="GTC", quantity=0.001, price=FAR_BID))
    assert o.status == "NEW"
    assert data(lambda: r.get_order("BTCUSDT", order_id=o.order_id)).status == "NEW"
    assert [x.order_id for x in data(lambda: r.get_open_orders(symbol="BTCUSDT"))] == [o.order_id]
    assert data(lambda: r.delete_order("BTCUSDT", order_id=o.order_id)).status == "CANCELED"
    m = data(lambda: r.new_order("BTCUSDT", "BUY", "MARKET", quantity=0.001))
    assert m.status == "FILLED"
    assert m.order_id in {t.order_id for t in data(lambda: r.my_trades("BTCUSDT"))}
    data(lambda: r.new_order("BTCUSDT", "BUY", "LIMIT", time_in_force="GTC", quantity=0.001, price=FAR_BID))
    assert [x.status for x in data(lambda: r.delete_open_orders("BTCUSDT"))] == ["CANCELED"]
    assert data(lambda: r.get_open_orders(symbol="BTCUSDT")) == []


def test_exchange_info_of_one_symbol(binance_sim_thread):
    r = client(binance_sim_thread)
    assert [s.symbol for s in data(lambda: r.exchange_info(symbol="BTCUSDT")).symbols] == ["BTCUSDT"]


def test_orders_by_quote_qty_cancel_replace_amend_and_my_trades_filters(binance_sim_thread):
    r = client(binance_sim_thread)
    m = data(lambda: r.new_order("BTCUSDT", "BUY", "MARKET", quote_order_qty=100.0))
    assert m.status == "FILLED" and float(m.cummulative_quote_qty) <= 100 and m.orig_quote_order_qty == "100.00000000"
    mine = data(lambda: r.my_trades("BTCUSDT", order_id=m.order_id))
    assert mine and {t.order_id for t in mine} == {m.order_id}
    assert [t.id for t in data(lambda: r.my_trades("BTCUSDT", from_id=mine[0].id, limit=1))] == [mine[0].id]
    assert data(lambda: r.my_trades("BTCUSDT", start_time=mine[0].time, end_time=mine[-1].time))
    o = data(lambda: r.new_order("BTCUSDT", "BUY", "LIMIT", time_in_force="GTC", quantity=0.003, price=FAR_BID))
    amended = data(lambda: r.order_amend_keep_priority("BTCUSDT", 0.002, order_id=o.order_id))
    assert amended.amended_order.order_id == o.order_id and amended.amended_order.qty == "0.00200000"
    cr = data(lambda: r.order_cancel_replace("BTCUSDT", "BUY", "LIMIT", "STOP_ON_FAILURE", time_in_force="GTC",
                                             quantity=0.001, price=FAR_BID, cancel_order_id=o.order_id))
    assert (cr.cancel_result, cr.new_order_result) == ("SUCCESS", "SUCCESS")
    assert data(lambda: r.get_order("BTCUSDT", order_id=o.order_id)).status == "CANCELED"


SERVED = {
    "get_trades": lambda r: data(lambda: r.get_trades("BTCUSDT", limit=5)),
    "agg_trades": lambda r: data(lambda: r.agg_trades("BTCUSDT", limit=5)),
    "ticker24hr_all": lambda r: data(r.ticker24hr),
    "all_orders": lambda r: isinstance(data(lambda: r.all_orders("BTCUSDT")), list),
    "order_test": lambda r: data(lambda: r.order_test("BTCUSDT", "BUY", "MARKET", quantity=0.001)) is not None,
    "rate_limit_order": lambda r: [x.rate_limit_type for x in data(r.rate_limit_order)] == ["ORDERS", "ORDERS"],
    "account_commission": lambda r: data(lambda: r.account_commission("BTCUSDT")).standard_commission.taker
    == "0.00100000",
    "historical_trades": lambda r: len(data(lambda: r.historical_trades("BTCUSDT", limit=1))) == 1,
    "ticker": lambda r: data(lambda: r.ticker(symbol="BTCUSDT", window_size="1h")).actual_instance.symbol
    == "BTCUSDT",
    "ticker_symbols_mini": lambda r: [x.symbol for x in data(lambda: r.ticker(
        symbols=["BTCUSDT", "ETHUSDT"], type="MINI")).actual_instance] == ["BTCUSDT", "ETHUSDT"],
}


@pytest.mark.parametrize("name", sorted(SERVED))
def test_served(binance_sim_thread, name):
    assert SERVED[name](client(with_trades(binance_sim_thread)))
