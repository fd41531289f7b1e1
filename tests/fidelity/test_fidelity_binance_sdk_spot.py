"""binance-sdk-spot (the official Spot SDK) REST client against the Binance simulator, base_path pointed at it."""
import pytest

spot = pytest.importorskip("binance_sdk_spot.spot", reason="the fidelity extra (binance-sdk-spot) is not installed")

from fidelity_env import shallow  # noqa: E402

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


def lacks(what: str):
    return pytest.mark.xfail(strict=True, reason=f"the simulator lacks {what}")


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


@pytest.mark.xfail(strict=True, reason="simulator bug (engine/sim/binance/rest.py): /api/v3/exchangeInfo ignores "
                   "symbol=, answering every symbol; the venue answers only the one asked for")
def test_exchange_info_one_symbol(binance_sim_thread):
    info = data(lambda: client(binance_sim_thread).exchange_info(symbol="BTCUSDT"))
    assert [s.symbol for s in info.symbols] == ["BTCUSDT"]


@lacks("/api/v3/trades (404)")
def test_get_trades(binance_sim_thread):
    assert data(lambda: client(binance_sim_thread).get_trades("BTCUSDT", limit=5))


@lacks("/api/v3/aggTrades (404)")
def test_agg_trades(binance_sim_thread):
    assert data(lambda: client(binance_sim_thread).agg_trades("BTCUSDT", limit=5))


@lacks("/api/v3/ticker/24hr without a symbol (-1102 'symbol' mandatory)")
def test_ticker24hr_all(binance_sim_thread):
    assert data(lambda: client(binance_sim_thread).ticker24hr())


@lacks("/api/v3/allOrders (404)")
def test_all_orders(binance_sim_thread):
    assert data(lambda: client(binance_sim_thread).all_orders("BTCUSDT")) == []


@lacks("/api/v3/order/test (404)")
def test_order_test(binance_sim_thread):
    data(lambda: client(binance_sim_thread).order_test("BTCUSDT", "BUY", "MARKET", quantity=0.001))


@lacks("/api/v3/rateLimit/order (404)")
def test_rate_limit_order(binance_sim_thread):
    assert data(lambda: client(binance_sim_thread).rate_limit_order())


@lacks("/api/v3/account/commission (404)")
def test_account_commission(binance_sim_thread):
    assert data(lambda: client(binance_sim_thread).account_commission("BTCUSDT"))
