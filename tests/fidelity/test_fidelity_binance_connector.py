"""binance-connector (the older official connector) Spot REST client against the Binance simulator, base_url
pointed at it.

It is not in the fidelity extra: it installs its own binance/__init__.py over python-binance's (both packages
own that file), after which `from binance import AsyncClient` fails. Installed alone, in an environment without
python-binance, this module runs.
"""
import pytest

pytest.importorskip("binance.spot", reason="binance-connector is not installed (not in the fidelity extra: it "
                                           "overwrites python-binance's binance/__init__.py)")
from binance.spot import Spot  # noqa: E402

from fidelity_env import gap, lacks, shallow, with_trades  # noqa: E402

FAR_BID = 30000.0  # far below the simulated BTCUSDT market (~60000): a BUY there rests


def client(sim):
    return Spot(api_key=sim.api_key, api_secret=sim.api_secret, base_url=sim.rest_url, timeout=20)


def run(call):
    try:
        return call()
    except Exception as e:
        raise shallow(e) from None


def test_market_data_reads(binance_sim_thread):
    c = client(binance_sim_thread)
    assert run(c.ping) == {}
    assert run(c.time)["serverTime"] > 0
    assert "BTCUSDT" in {s["symbol"] for s in run(c.exchange_info)["symbols"]}
    book = run(lambda: c.depth("BTCUSDT", limit=5))
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert len(run(lambda: c.klines("BTCUSDT", "1m", limit=3))) == 3
    assert run(lambda: c.ticker_24hr("BTCUSDT"))["symbol"] == "BTCUSDT"
    assert float(run(lambda: c.ticker_price("BTCUSDT"))["price"]) > 0
    bt = run(lambda: c.book_ticker("BTCUSDT"))
    assert float(bt["bidPrice"]) < float(bt["askPrice"])
    assert float(run(lambda: c.avg_price("BTCUSDT"))["price"]) > 0


def test_account_and_orders(binance_sim_thread):
    c = client(binance_sim_thread)
    assert any(b["asset"] == "USDT" and float(b["free"]) > 0 for b in run(c.account)["balances"])
    o = run(lambda: c.new_order("BTCUSDT", "BUY", "LIMIT", timeInForce="GTC", quantity=0.001, price=FAR_BID))
    assert o["status"] == "NEW"
    assert run(lambda: c.get_order("BTCUSDT", orderId=o["orderId"]))["status"] == "NEW"
    assert [x["orderId"] for x in run(lambda: c.get_open_orders("BTCUSDT"))] == [o["orderId"]]
    assert run(lambda: c.cancel_order("BTCUSDT", orderId=o["orderId"]))["status"] == "CANCELED"
    m = run(lambda: c.new_order("BTCUSDT", "BUY", "MARKET", quantity=0.001))
    assert m["status"] == "FILLED"
    assert m["orderId"] in {t["orderId"] for t in run(lambda: c.my_trades("BTCUSDT"))}
    run(lambda: c.new_order("BTCUSDT", "BUY", "LIMIT", timeInForce="GTC", quantity=0.001, price=FAR_BID))
    assert [x["status"] for x in run(lambda: c.cancel_open_orders("BTCUSDT"))] == ["CANCELED"]


def test_exchange_info_of_one_symbol(binance_sim_thread):
    c = client(binance_sim_thread)
    assert [s["symbol"] for s in run(lambda: c.exchange_info(symbol="BTCUSDT"))["symbols"]] == ["BTCUSDT"]


SERVED = {
    "trades": lambda c: run(lambda: c.trades("BTCUSDT", limit=5)),
    "agg_trades": lambda c: run(lambda: c.agg_trades("BTCUSDT", limit=5)),
    "ticker_24hr_all": lambda c: run(c.ticker_24hr),
    "get_orders": lambda c: isinstance(run(lambda: c.get_orders("BTCUSDT")), list),
    "new_order_test": lambda c: run(lambda: c.new_order_test("BTCUSDT", "BUY", "MARKET", quantity=0.001)) == {},
}


@pytest.mark.parametrize("name", sorted(SERVED))
def test_served(binance_sim_thread, name):
    assert SERVED[name](client(with_trades(binance_sim_thread)))


@pytest.mark.parametrize("call", [
])
def test_unserved(binance_sim_thread, call):
    assert call(client(binance_sim_thread))
